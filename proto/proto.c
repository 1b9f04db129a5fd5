/* SPDX-License-Identifier: MIT */
/*
 * proto.c - geometry and validation of the shared layout and the wire messages.
 *
 * Both sides call these on what they receive; neither trusts a size, offset or count it
 * did not compute itself.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "slabd_shm.h"
#include "slabd_wire.h"

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

int slabd_shm_geometry(struct slabd_shm_geometry *g)
{
	uint64_t off;

	if (!g->nr_cpus || g->nr_cpus > SLABD_MAX_CPUS || !g->nr_nodes || g->nr_nodes > SLABD_MAX_NODES ||
	    !g->nr_zones || g->nr_zones > SLABD_MAX_ZONES || g->max_caches <= SLABD_KMALLOC_LAST ||
	    g->max_caches > SLABD_MAX_CACHES || !g->nr_pages || !g->nr_mags || g->nr_mags > SLABD_MAX_MAGS ||
	    g->align < SLABD_PAGE_SIZE || (g->align & (g->align - 1)))
		return -EINVAL;

	off = align_up(sizeof(struct slabd_shm_super), 64);
	g->cpu_table_off = off;
	off = align_up(off + (uint64_t)g->nr_cpus * sizeof(struct slabd_shm_cpu), 64);
	g->node_table_off = off;
	off = align_up(off + (uint64_t)g->nr_nodes * sizeof(struct slabd_shm_node), 64);
	g->zone_table_off = off;
	off = align_up(off + (uint64_t)g->nr_zones * sizeof(struct slabd_shm_zone), 64);
	g->cache_table_off = off;
	off = align_up(off + (uint64_t)g->max_caches * sizeof(struct slabd_shm_cache), 64);
	g->page_table_off = off;
	off += (uint64_t)g->nr_pages * sizeof(struct slabd_shm_page);
	g->iova_table_off = align_up(off, 64);
	off = g->iova_table_off + (uint64_t)g->nr_iova * sizeof(uint64_t);
	g->meta_size = align_up(off, g->align);

	off = 0;
	g->ctl_off = off;
	off = align_up(off + sizeof(struct slabd_shm_ctl), 64);
	g->depot_off = off;
	off = align_up(off + (uint64_t)g->max_caches * g->nr_nodes * sizeof(struct slabd_shm_depot),
		       SLABD_PAGE_SIZE);
	g->pcpu_off = off;
	off += ((uint64_t)g->max_caches * g->nr_cpus) << SLABD_PCPU_SHIFT;
	g->mag_off = align_up(off, 64);
	off = g->mag_off + (uint64_t)g->nr_mags * sizeof(struct slabd_shm_mag);
	g->client_off = align_up(off, 64);
	off = g->client_off + (uint64_t)SLABD_MAX_CLIENTS * sizeof(struct slabd_shm_client);
	g->pcpu_stat_off = align_up(off, 64);
	off = g->pcpu_stat_off + slabd_shm_pcpu_stat_row(g->max_caches) * g->nr_cpus *
				     sizeof(struct slabd_shm_pcpu_stat);
	g->remote_off = align_up(off, 1u << SLABD_PCPU_SHIFT);
	off = g->remote_off + ((uint64_t)g->nr_cpus << SLABD_PCPU_SHIFT);
	g->percpu_size = align_up(off, g->align);
	return 0;
}

int slabd_shm_super_validate(const struct slabd_shm_super *sb, uint64_t meta_len)
{
	struct slabd_shm_geometry g;

	if (meta_len < sizeof(*sb))
		return -EINVAL;
	if (sb->magic != SLABD_SHM_MAGIC)
		return -EBADF;
	if (sb->layout_version != SLABD_SHM_LAYOUT_VERSION)
		return -EPROTO;
	if (sb->page_shift != SLABD_PAGE_SHIFT || sb->pcpu_slots != SLABD_PCPU_SLOTS ||
	    sb->mag_slots != SLABD_MAG_SLOTS)
		return -EINVAL;

	memset(&g, 0, sizeof(g));
	g.nr_cpus = sb->nr_cpus;
	g.nr_nodes = sb->nr_nodes;
	g.nr_zones = sb->nr_zones;
	g.max_caches = sb->max_caches;
	g.nr_pages = sb->nr_pages;
	g.nr_mags = sb->nr_mags;
	g.nr_iova = sb->nr_iova;
	g.align = sb->hugepage_size;
	if (slabd_shm_geometry(&g) < 0)
		return -EINVAL;
	/* The tables must be exactly where this build puts them. */
	if (g.cpu_table_off != sb->cpu_table_off || g.node_table_off != sb->node_table_off ||
	    g.zone_table_off != sb->zone_table_off || g.cache_table_off != sb->cache_table_off ||
	    g.page_table_off != sb->page_table_off || g.ctl_off != sb->ctl_off || g.depot_off != sb->depot_off ||
	    g.pcpu_off != sb->pcpu_off || g.mag_off != sb->mag_off || g.client_off != sb->client_off || g.pcpu_stat_off != sb->pcpu_stat_off || g.remote_off != sb->remote_off ||
	    sb->max_clients != SLABD_MAX_CLIENTS || g.iova_table_off != sb->iova_table_off)
		return -EINVAL;
	/* A DMA zone has an IOVA table covering it, in 4 KiB entries; no zone, no table. */
	if (sb->dma_zone == SLABD_NO_ZONE ? (sb->nr_iova || sb->iova_mode != SLABD_IOVA_NONE)
					  : (sb->dma_zone >= sb->nr_zones || !sb->nr_iova ||
					     sb->iova_shift != SLABD_PAGE_SHIFT || sb->nr_iova > sb->nr_pages ||
					     sb->iova_mode < SLABD_IOVA_VFIO || sb->iova_mode > SLABD_IOVA_VA))
		return -EINVAL;
	if (g.meta_size != sb->meta_size || g.meta_size > meta_len || g.percpu_size != sb->percpu_size)
		return -EOVERFLOW;
	if (sb->percpu_off != sb->meta_size || sb->zones_off != sb->percpu_off + sb->percpu_size ||
	    sb->zones_size != (uint64_t)sb->nr_pages << SLABD_PAGE_SHIFT ||
	    sb->region_size != sb->zones_off + sb->zones_size || (sb->zones_size % sb->hugepage_size))
		return -EOVERFLOW;
	if (sb->max_cache_size < 8 || sb->max_cache_size > (32u << 20) ||
	    (sb->max_cache_size & (sb->max_cache_size - 1)))
		return -EINVAL;
	return 0;
}

size_t slabd_wire_size(uint16_t type)
{
	switch (type) {
	case SLABD_MSG_HELLO:
		return sizeof(struct slabd_wire_hello);
	case SLABD_MSG_ATTACH:
		return sizeof(struct slabd_wire_attach);
	case SLABD_MSG_ERROR:
		return sizeof(struct slabd_wire_error);
	case SLABD_MSG_LARGE_ALLOC:
		return sizeof(struct slabd_wire_large_alloc);
	case SLABD_MSG_LARGE_REPLY:
		return sizeof(struct slabd_wire_large_reply);
	case SLABD_MSG_CACHE_CREATE:
		return sizeof(struct slabd_wire_cache_create);
	case SLABD_MSG_CACHE_OP:
		return sizeof(struct slabd_wire_cache_op);
	case SLABD_MSG_CACHE_REPLY:
		return sizeof(struct slabd_wire_cache_reply);
	case SLABD_MSG_STATS:
		return sizeof(struct slabd_wire_stats_req);
	case SLABD_MSG_STATS_REPLY:
		return sizeof(struct slabd_wire_stats);
	case SLABD_MSG_CACHE_INFO:
	case SLABD_MSG_CPU_INFO:
	case SLABD_MSG_NODE_INFO:
	case SLABD_MSG_CLIENT_INFO:
		return sizeof(struct slabd_wire_info_req);
	case SLABD_MSG_CACHE_INFO_REPLY:
		return sizeof(struct slabd_wire_cache_info);
	case SLABD_MSG_CPU_INFO_REPLY:
		return sizeof(struct slabd_wire_cpu_info);
	case SLABD_MSG_NODE_INFO_REPLY:
		return sizeof(struct slabd_wire_node_info);
	case SLABD_MSG_CLIENT_INFO_REPLY:
		return sizeof(struct slabd_wire_client_info);
	case SLABD_MSG_POOL_CREATE:
		return sizeof(struct slabd_wire_pool_create);
	case SLABD_MSG_VERIFY:
		return sizeof(struct slabd_wire_verify_req);
	case SLABD_MSG_VERIFY_REPLY:
		return sizeof(struct slabd_wire_verify);
	case SLABD_MSG_DEBUG:
		return sizeof(struct slabd_wire_debug_req);
	case SLABD_MSG_DEBUG_REPLY:
		return sizeof(struct slabd_wire_debug);
	default:
		return 0;
	}
}

void slabd_wire_init(struct slabd_wire_hdr *h, uint16_t type, uint32_t len, uint32_t seq)
{
	memset(h, 0, len);
	h->magic = SLABD_WIRE_MAGIC;
	h->version = SLABD_WIRE_VERSION;
	h->type = type;
	h->len = len;
	h->seq = seq;
}

int slabd_wire_validate(const void *buf, size_t len)
{
	struct slabd_wire_hdr h;
	size_t want;

	if (len > SLABD_WIRE_MAX)
		return -EMSGSIZE;
	if (len < sizeof(h))
		return -EBADMSG;
	memcpy(&h, buf, sizeof(h));
	if (h.magic != SLABD_WIRE_MAGIC)
		return -EBADMSG;
	if (h.version != SLABD_WIRE_VERSION)
		return -EPROTO;
	want = slabd_wire_size(h.type);
	if (!want || h.len != len || len != want)
		return -EBADMSG;
	if (h.type == SLABD_MSG_ERROR) {
		const struct slabd_wire_error *e = buf;
		if (!memchr(e->msg, 0, sizeof(e->msg)))
			return -EBADMSG;
	}
	if (h.type == SLABD_MSG_CACHE_INFO_REPLY) {
		const struct slabd_wire_cache_info *c = buf;
		if (!memchr(c->name, 0, sizeof(c->name)))
			return -EBADMSG;
	}
	if (h.type == SLABD_MSG_POOL_CREATE) {
		const struct slabd_wire_pool_create *p = buf;
		if (!memchr(p->name, 0, sizeof(p->name)) || !p->name[0])
			return -EBADMSG;
	}
	if (h.type == SLABD_MSG_VERIFY_REPLY) {
		const struct slabd_wire_verify *v = buf;
		if (!memchr(v->first, 0, sizeof(v->first)))
			return -EBADMSG;
	}
	if (h.type == SLABD_MSG_CACHE_CREATE) {
		const struct slabd_wire_cache_create *c = buf;
		if (!memchr(c->name, 0, sizeof(c->name)) || !c->name[0])
			return -EBADMSG;
	}
	return h.type;
}

/*
 * The words of requests with bits that must be 0, one row each: every reserved word
 * (@known 0; a reserved array would get a row per 32-bit word) and the flag words whose
 * handlers act on some bits and would ignore the rest (@known: those bits). Any other bit
 * set and the daemon refuses the request with -EINVAL. Only so can a later version give
 * one a meaning without the garbage of some old client taking it. The requests have no
 * implicit padding (the sizes and offsets are pinned in slabd_wire.h and
 * tests/unit/test_layout.c), so the reserved rows are every byte of a request that carries
 * no meaning. Replies are not checked: the daemon writes their reserved words 0
 * (slabd_wire_init) and the library ignores them. (CACHE_CREATE's slab flags and DEBUG's
 * are checked by their handlers, which say which flags the cache or geometry cannot take.)
 */
static const struct wire_word {
	uint16_t type;
	uint16_t off;
	uint32_t known;
	const char *field;
} wire_words[] = {
    {SLABD_MSG_HELLO, offsetof(struct slabd_wire_hello, reserved), 0, "reserved"},
    {SLABD_MSG_CACHE_CREATE, offsetof(struct slabd_wire_cache_create, reserved), 0, "reserved"},
    {SLABD_MSG_CACHE_OP, offsetof(struct slabd_wire_cache_op, reserved), 0, "reserved"},
    {SLABD_MSG_STATS, offsetof(struct slabd_wire_stats_req, reserved), 0, "reserved"},
    {SLABD_MSG_CACHE_INFO, offsetof(struct slabd_wire_info_req, reserved), 0, "reserved"},
    {SLABD_MSG_CPU_INFO, offsetof(struct slabd_wire_info_req, reserved), 0, "reserved"},
    {SLABD_MSG_NODE_INFO, offsetof(struct slabd_wire_info_req, reserved), 0, "reserved"},
    {SLABD_MSG_CLIENT_INFO, offsetof(struct slabd_wire_info_req, reserved), 0, "reserved"},
    {SLABD_MSG_POOL_CREATE, offsetof(struct slabd_wire_pool_create, reserved), 0, "reserved"},
    {SLABD_MSG_VERIFY, offsetof(struct slabd_wire_verify_req, reserved), 0, "reserved"},
    {SLABD_MSG_DEBUG, offsetof(struct slabd_wire_debug_req, reserved), 0, "reserved"},
    /* LARGE_ALLOC has none */
    {SLABD_MSG_HELLO, offsetof(struct slabd_wire_hello, flags), SLABD_HELLO_REATTACH, "flags"},
    {SLABD_MSG_VERIFY, offsetof(struct slabd_wire_verify_req, flags), SLABD_VERIFY_AUDIT, "flags"},
};

/* The first row of @type, a flag word or not (@flags), with a bit set it does not know;
 * those bits in *ret_bits. NULL: none. */
static const struct wire_word *wire_word_bad(const void *buf, uint16_t type, int flags, uint32_t *ret_bits)
{
	size_t i;

	for (i = 0; i < sizeof(wire_words) / sizeof(wire_words[0]); i++) {
		uint32_t v;

		if (wire_words[i].type != type || !wire_words[i].known != !flags)
			continue;
		memcpy(&v, (const char *)buf + wire_words[i].off, sizeof(v));
		if (v & ~wire_words[i].known) {
			*ret_bits = v & ~wire_words[i].known;
			return &wire_words[i];
		}
	}
	return NULL;
}

/* The name of a CACHE_CREATE or POOL_CREATE request @buf of @type, and its size; NULL for
 * any other type. */
static const char *wire_name(const void *buf, uint16_t type, size_t *ret_size)
{
	if (type == SLABD_MSG_CACHE_CREATE) {
		*ret_size = sizeof(((const struct slabd_wire_cache_create *)buf)->name);
		return ((const struct slabd_wire_cache_create *)buf)->name;
	}
	if (type == SLABD_MSG_POOL_CREATE) {
		*ret_size = sizeof(((const struct slabd_wire_pool_create *)buf)->name);
		return ((const struct slabd_wire_pool_create *)buf)->name;
	}
	return NULL;
}

const char *slabd_wire_reserved(const void *buf, uint16_t type, uint32_t *ret_value)
{
	const struct wire_word *w = wire_word_bad(buf, type, 0, ret_value);
	size_t size = 0, i;
	const char *name;

	if (w)
		return w->field;
	/* a name's bytes after its NUL (validated: there is one) are padding, 0 as
	 * slabd_wire_init left them; anything else is refused as a reserved word is */
	name = wire_name(buf, type, &size);
	if (!name)
		return NULL;
	for (i = strnlen(name, size); i < size; i++)
		if (name[i]) {
			*ret_value = (unsigned char)name[i];
			return "name padding";
		}
	return NULL;
}

uint32_t slabd_wire_unknown_flags(const void *buf, uint16_t type, uint32_t *ret_known)
{
	uint32_t bits = 0;
	const struct wire_word *w = wire_word_bad(buf, type, 1, &bits);

	if (!w)
		return 0;
	*ret_known = w->known;
	return bits;
}

const char *slabd_wire_type_name(uint16_t type)
{
	static const char *const names[SLABD_MSG_MAX + 1] = {
	    [SLABD_MSG_HELLO] = "HELLO",
	    [SLABD_MSG_ATTACH] = "ATTACH",
	    [SLABD_MSG_ERROR] = "ERROR",
	    [SLABD_MSG_LARGE_ALLOC] = "LARGE_ALLOC",
	    [SLABD_MSG_LARGE_REPLY] = "LARGE_REPLY",
	    [SLABD_MSG_CACHE_CREATE] = "CACHE_CREATE",
	    [SLABD_MSG_CACHE_OP] = "CACHE_OP",
	    [SLABD_MSG_CACHE_REPLY] = "CACHE_REPLY",
	    [SLABD_MSG_STATS] = "STATS",
	    [SLABD_MSG_STATS_REPLY] = "STATS_REPLY",
	    [SLABD_MSG_CACHE_INFO] = "CACHE_INFO",
	    [SLABD_MSG_CACHE_INFO_REPLY] = "CACHE_INFO_REPLY",
	    [SLABD_MSG_CPU_INFO] = "CPU_INFO",
	    [SLABD_MSG_CPU_INFO_REPLY] = "CPU_INFO_REPLY",
	    [SLABD_MSG_NODE_INFO] = "NODE_INFO",
	    [SLABD_MSG_NODE_INFO_REPLY] = "NODE_INFO_REPLY",
	    [SLABD_MSG_CLIENT_INFO] = "CLIENT_INFO",
	    [SLABD_MSG_CLIENT_INFO_REPLY] = "CLIENT_INFO_REPLY",
	    [SLABD_MSG_POOL_CREATE] = "POOL_CREATE",
	    [SLABD_MSG_VERIFY] = "VERIFY",
	    [SLABD_MSG_VERIFY_REPLY] = "VERIFY_REPLY",
	    [SLABD_MSG_DEBUG] = "DEBUG",
	    [SLABD_MSG_DEBUG_REPLY] = "DEBUG_REPLY",
	};

	return type <= SLABD_MSG_MAX && names[type] ? names[type] : "unknown message type";
}

int slabd_wire_request(const void *buf, size_t len, int attached)
{
	int type = slabd_wire_validate(buf, len);
	uint32_t v;

	if (type < 0)
		return type;
	/* before the rules of the connection's state: the message itself is wrong */
	if (slabd_wire_reserved(buf, (uint16_t)type, &v) || slabd_wire_unknown_flags(buf, (uint16_t)type, &v))
		return -EINVAL;
	switch (type) {
	case SLABD_MSG_HELLO:
		return attached ? -EISCONN : type;
	case SLABD_MSG_LARGE_ALLOC:
	case SLABD_MSG_CACHE_CREATE:
	case SLABD_MSG_POOL_CREATE:
		return attached ? type : -ENOTCONN;
	case SLABD_MSG_CACHE_OP: {
		const struct slabd_wire_cache_op *m = buf;
		/* shrink only gives free memory back: slabctl may ask without attaching */
		return attached || m->op == SLABD_CACHE_OP_SHRINK ? type : -ENOTCONN;
	}
	case SLABD_MSG_STATS:
	case SLABD_MSG_CACHE_INFO:
	case SLABD_MSG_CPU_INFO:
	case SLABD_MSG_NODE_INFO:
	case SLABD_MSG_CLIENT_INFO:
	case SLABD_MSG_VERIFY:
	case SLABD_MSG_DEBUG:
		return type;
	default:
		return -EOPNOTSUPP;
	}
}

/* Length of the valid UTF-8 sequence at @s (NUL-terminated), or 0 (RFC 3629: no
 * overlong forms, surrogates, nor code points past U+10FFFF). */
size_t slabd_utf8_len(const unsigned char *s)
{
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0;
	return n;
}
