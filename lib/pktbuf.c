/* SPDX-License-Identifier: MIT */
/*
 * pktbuf.c - packet-buffer pools and buffers in libslabclient (<slabd/pktbuf.h>).
 *
 * A struct slabd_pktpool is this process's handle on a pool's cache id, kept in a static
 * table indexed by id (as kmem_cache handles are), filled from the read-only cache table:
 * the geometry is the daemon's, never a client's word. Creating a pool is a request to
 * the daemon; everything else is memory operations:
 *   alloc  one restartable-sequence pop from this CPU's stack of the pool's cache, then a
 *          reset of the header's first cache line (buf_addr and buf_iova are recomputed
 *          from the region's tables: a buffer reused from another process, or one whose
 *          header an application overwrote, still gets the right ones);
 *   free   per segment: the last reference (refcnt 1, or an atomic decrement reaching 0)
 *          pushes it on this CPU's stack; bulk frees group consecutive segments of one
 *          pool into one sequence. The pool is found from the page descriptor, as kfree
 *          does, not from the header.
 * A miss on either side goes through alloc.c's slow paths (depot magazines, the daemon).
 *
 * Freeing a pool (slabd_pktpool_free) is a request too; the daemon destroys the pool's
 * cache only when every buffer is back, and then bumps the cache table's generation of
 * the id. Every library path into a pool checks that generation against the handle's
 * (pool_check): a handle of a freed pool, in this process or in another, is refused with
 * EINVAL and cleared (fast.stacks = NULL), so its inline fast path misses into the
 * library from then on instead of popping the stacks of whatever cache takes the id next.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <slabd/pktbuf.h>

#include "client.h"
#include "divtest.h"
#include "percpu.h"
#include "slabd_ops.h"
#include "slabd_wire.h"

#define cl slabd_client

_Static_assert(sizeof(struct slabd_pktbuf) == SLABD_PKTBUF_HDR, "the header is what the daemon lays out");

/* Allocation flags of a pool: may wait for the daemon's refill (it is how buffers freed
 * on other CPUs come back), but not retry past an exhausted round, and never warn. */
#define POOL_GFP (__GFP_DIRECT_RECLAIM | __GFP_NORETRY | __GFP_NOWARN)
#define BULK_CHUNK 64u

/* A handle starts with what the inline fast path of <slabd/pktbuf.h> reads (ABI):
 * stacks, dma, iova, buf_off, id and the reset template (fast.stacks is stored last, with
 * release: a handle with stacks is complete). */
struct slabd_pktpool {
	struct slabd_fast_pktpool fast;
	uint32_t n;
	uint32_t gen;		  /* the cache table's gen of the id when the handle was made */
	struct divtest size_test; /* check_copy's "a multiple of the object size" */
	/* The pool's pages as one verified run, from the read-only page descriptors (see
	 * pool_range_scan): first page | pages << 32, 0 while unknown. Any value ever stored
	 * stays true while the pool lives (a pool's slabs are given back only when it is
	 * freed, and then the cache table's gen is no longer the handle's: range_of), so
	 * readers need only one atomic load of the word; any thread may replace it after a
	 * new scan. */
	uint64_t range;
	uint32_t scans; /* rescans so far (bounded by RANGE_SCANS) */
};

static struct slabd_pktpool pools[SLABD_MAX_CACHES];

SLABD_API const struct slabd_fast_pkt slabd_fast_pkt_v1 = { (const char *)pools, sizeof(pools) };

static int attached(void)
{
	if (__atomic_load_n(&cl.ncpus, __ATOMIC_ACQUIRE))
		return 0;
	return client_attach(1);
}

/* The handle of cache @id if it is an active pool; NULL otherwise. The gen is read
 * before the state: a pool freed and made anew in between leaves the handle with the old
 * gen, which its first miss refuses (never the new pool's gen with the old geometry). */
static struct slabd_pktpool *pool_of(uint32_t id)
{
	const struct slabd_shm_cache *c = &cl.caches[id];
	struct slabd_pktpool *p = &pools[id];
	uint32_t n, gen = __atomic_load_n(&c->gen, __ATOMIC_ACQUIRE);

	if (__atomic_load_n(&c->state, __ATOMIC_ACQUIRE) != SLABD_CACHE_ACTIVE)
		return NULL;
	n = __atomic_load_n(&c->pool_n, __ATOMIC_ACQUIRE);
	if (!n || c->zone_kind != SLABD_ZONE_DMA)
		return NULL;
	p->fast.buf_off = SLABD_PKTBUF_HDR + ((c->pool_priv + 7) & ~7u);
	p->n = n;
	p->fast.dma = cl.base + cl.zone_tab[cl.sb->dma_zone].off;
	p->fast.iova = cl.iova;
	/* little-endian images of the fields at offsets 16..23, 24..31 and 40..47 */
	p->fast.reset16 = (uint64_t)c->pool_headroom | 1ull << 16 | 1ull << 32 | 0xffffull << 48;
	p->fast.reset24 = (uint64_t)(uint16_t)(c->pool_headroom + c->pool_data_room) << 48;
	p->fast.reset40 = (uint64_t)id | (uint64_t)(uint16_t)c->pool_priv << 32;
	p->fast.id = id;
	divtest_init(&p->size_test, c->size);
	__atomic_store_n(&p->range, 0, __ATOMIC_RELAXED); /* rescanned on the first depot miss */
	__atomic_store_n(&p->gen, gen, __ATOMIC_RELAXED);
	__atomic_store_n(&p->fast.stacks, cl.pcpu + id * cl.cache_stride, __ATOMIC_RELEASE);
	return p;
}

/* Make @p no pool: its inline fast path and pool_ok fail from now on. The stacks are the
 * id's, which the next cache of the id uses; they must not be reached through @p. (A
 * lookup of a new pool of the id by another thread at this moment may find its handle
 * cleared again: its next call fails with EINVAL, never with another pool's buffer.) */
static void pool_clear(struct slabd_pktpool *p)
{
	__atomic_store_n(&p->fast.stacks, NULL, __ATOMIC_RELEASE);
	__atomic_store_n(&p->range, 0, __ATOMIC_RELAXED);
}

/*
 * pool_check: does handle @p (pool_ok) still name a live pool? 0 if so. -EINVAL when the
 * pool was freed (the id's gen moved on: by this process or another), and the handle is
 * cleared; -ENOMEM while the daemon is deciding a free of it (state not ACTIVE, gen
 * unchanged: the free is refused, and the pool is back, or it goes ahead, and the next
 * call gets EINVAL). The library's ways into a pool (the misses) call it; the inline
 * fast path does not, and after a free finds the pool's stacks empty (the free drained
 * them), so it misses into here.
 */
static int pool_check(struct slabd_pktpool *p)
{
	const struct slabd_shm_cache *c = &cl.caches[p->fast.id];

	if (unlikely(__atomic_load_n(&c->gen, __ATOMIC_ACQUIRE) !=
		     __atomic_load_n(&p->gen, __ATOMIC_RELAXED))) {
		pool_clear(p);
		return -EINVAL;
	}
	if (unlikely(__atomic_load_n(&c->state, __ATOMIC_ACQUIRE) != SLABD_CACHE_ACTIVE))
		return -ENOMEM;
	return 0;
}

/* After a miss took @n buffers for @p from the slow path: if the pool was freed meanwhile
 * (its id may hold another cache by now), they are not its; kfree sorts each out by its
 * page descriptor. 0, or -EINVAL when they went back. */
static int pool_recheck(struct slabd_pktpool *p, void **objs, unsigned int n)
{
	unsigned int i;

	if (likely(__atomic_load_n(&cl.caches[p->fast.id].gen, __ATOMIC_ACQUIRE) == p->gen))
		return 0;
	pool_clear(p);
	for (i = 0; i < n; i++)
		slabd_kfree(objs[i]);
	return -EINVAL;
}

struct slabd_pktpool *slabd_pktpool_create(const char *name, unsigned int n, unsigned int data_room,
					   unsigned int priv_size, int node)
{
	struct slabd_wire_pool_create req;
	struct slabd_wire_cache_reply rep;
	struct slabd_pktpool *p;
	int r;

	if (!name || !*name || strlen(name) >= sizeof(req.name)) {
		client_set_error("slabd_pktpool_create: a name of 1..%zu bytes is needed", sizeof(req.name) - 1);
		errno = EINVAL;
		return NULL;
	}
	r = attached();
	if (r < 0) {
		errno = ENOTCONN;
		return NULL;
	}
	slabd_wire_init(&req.hdr, SLABD_MSG_POOL_CREATE, sizeof(req), 0);
	strcpy(req.name, name);
	req.n = n;
	req.data_room = data_room;
	req.priv_size = priv_size;
	req.headroom = SLABD_PKTBUF_HEADROOM;
	req.node = node;
	r = client_request(&req.hdr, SLABD_MSG_CACHE_REPLY, &rep, sizeof(rep));
	if (r == 0)
		r = rep.err;
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	p = rep.cache < cl.sb->max_caches ? pool_of(rep.cache) : NULL;
	if (!p)
		errno = EBADMSG;
	return p;
}

struct slabd_pktpool *slabd_pktpool_lookup(const char *name)
{
	uint32_t id;

	if (!name || attached() < 0) {
		errno = name ? ENOTCONN : EINVAL;
		return NULL;
	}
	for (id = SLABD_FIRST_NAMED_CACHE; id < cl.sb->max_caches; id++) {
		const struct slabd_shm_cache *c = &cl.caches[id];
		struct slabd_pktpool *p;

		if (__atomic_load_n(&c->pool_n, __ATOMIC_ACQUIRE) && !strncmp(c->name, name, sizeof(c->name)) &&
		    (p = pool_of(id)))
			return p;
	}
	errno = ENOENT;
	return NULL;
}

unsigned int slabd_pktpool_size(const struct slabd_pktpool *pool)
{
	return pool ? pool->n : 0;
}

static inline int pool_ok(const struct slabd_pktpool *p)
{
	return (uintptr_t)p - (uintptr_t)pools < sizeof(pools) && __atomic_load_n(&p->fast.stacks, __ATOMIC_ACQUIRE);
}

/* slabd_pktpool_free of a pool freed already, as pool_check saw it or the daemon did (the
 * id's gen moved on after pool_check): the handle cleared, the message set, -EINVAL. */
static noinline int pool_free_stale(struct slabd_pktpool *p, const struct slabd_shm_cache *c)
{
	pool_clear(p);
	client_set_error(
	    "slabd_pktpool_free(%.*s): the pool was freed already (by another process?)",
	    (int)sizeof(c->name), c->name);
	return -EINVAL;
}

int slabd_pktpool_free(struct slabd_pktpool *p)
{
	struct slabd_wire_cache_op req;
	struct slabd_wire_cache_reply rep;
	const struct slabd_shm_cache *c;
	int r;

	if (!pool_ok(p) || (uintptr_t)((char *)p - (char *)pools) % sizeof(*p)) {
		client_set_error("slabd_pktpool_free: %s",
				 p ? "not a pool handle, or the handle of a pool freed already"
				   : "NULL is not a pool");
		return -EINVAL;
	}
	if (attached() < 0)
		return -ENOTCONN; /* the attach said why */
	c = &cl.caches[p->fast.id];
	if (pool_check(p) == -EINVAL)
		return pool_free_stale(p, c);
	slabd_wire_init(&req.hdr, SLABD_MSG_CACHE_OP, sizeof(req), 0);
	req.op = SLABD_CACHE_OP_POOL_FREE;
	req.cache = p->fast.id;
	/* The daemon checks it too: a free of the pool by another process after pool_check
	 * is answered -ESTALE, and whatever has the id now is not touched. */
	req.gen = __atomic_load_n(&p->gen, __ATOMIC_RELAXED);
	r = client_request(&req.hdr, SLABD_MSG_CACHE_REPLY, &rep, sizeof(rep));
	if (r < 0)
		return r; /* a failure to ask, or the daemon's ERROR: described already */
	r = rep.err;
	if (r == -ESTALE)
		return pool_free_stale(p, c);
	if (r == -EBUSY)
		client_set_error(
		    "slabd_pktpool_free(%.*s): %llu of its %u buffers are still allocated (in this "
		    "or another process; a device may still be using them): free every buffer, "
		    "then call again; the pool stays as it was",
		    (int)sizeof(c->name), c->name, (unsigned long long)rep.count, p->n);
	else if (r < 0)
		client_set_error(
		    "slabd_pktpool_free(%.*s): slabd refused: %s (the pool was freed already?)",
		    (int)sizeof(c->name), c->name, strerror(-r));
	if (r == 0 || r == -EINVAL) {
		pool_clear(p);
		__atomic_store_n(&p->n, 0, __ATOMIC_RELAXED);
	}
	return r;
}

_Static_assert(offsetof(struct slabd_pktbuf, data_off) == 16 && offsetof(struct slabd_pktbuf, refcnt) == 18 &&
		       offsetof(struct slabd_pktbuf, nb_segs) == 20 && offsetof(struct slabd_pktbuf, port) == 22 &&
		       offsetof(struct slabd_pktbuf, pkt_len) == 24 && offsetof(struct slabd_pktbuf, data_len) == 28 &&
		       offsetof(struct slabd_pktbuf, buf_len) == 30 && offsetof(struct slabd_pktbuf, next) == 32 &&
		       offsetof(struct slabd_pktbuf, pool_id) == 40 && offsetof(struct slabd_pktbuf, priv_size) == 44 &&
		       offsetof(struct slabd_pktbuf, ol_flags) == 48,
	       "pktbuf_reset writes the header as words");

/* Reset a buffer just taken from the pool: data_off = headroom, refcnt = nb_segs = 1,
 * port = 0xffff, lengths 0, next NULL, ol_flags 0, and buf_addr/buf_iova from the region's
 * tables; the same seven stores as the inline path's slabd_fast_pktbuf_reset. @f is a
 * copy of the pool's fast part, loaded once by the caller: the stores below may alias
 * anything (-fno-strict-aliasing), so nothing is reloaded between them. */
static inline __attribute__((always_inline)) void pktbuf_reset(struct slabd_pktbuf *m, const struct slabd_fast_pktpool *f)
{
	char *buf = (char *)m + f->buf_off;
	uint64_t doff = (uint64_t)(buf - f->dma);
	uint64_t *w = (uint64_t *)m;

	w[0] = (uint64_t)(uintptr_t)buf;
	w[1] = f->iova[doff >> SLABD_PAGE_SHIFT] + (doff & (SLABD_PAGE_SIZE - 1));
	w[2] = f->reset16;
	w[3] = f->reset24;
	w[4] = 0;
	w[5] = f->reset40;
	w[6] = 0;
}

#define PKTBUF_RESET(p, m)                                                                         \
	do {                                                                                       \
		struct slabd_fast_pktpool f_ = (p)->fast;                                          \
		pktbuf_reset(m, &f_);                                                              \
	} while (0)

/* The miss: this CPU's stack was empty (or the thread has no rseq, or @p is no pool).
 * Also the inline path's way into the library. */
struct slabd_pktbuf *slabd_pktbuf_alloc_miss(struct slabd_pktpool *p)
{
	struct slabd_pktbuf *m;
	int r;

	if (!pool_ok(p)) {
		errno = EINVAL;
		return NULL;
	}
	r = pool_check(p);
	if (unlikely(r < 0)) {
		errno = -r;
		return NULL;
	}
	m = client_cache_alloc(p->fast.id, POOL_GFP, -1);
	if (m && unlikely(pool_recheck(p, (void **)&m, 1) < 0)) {
		errno = EINVAL;
		return NULL;
	}
	if (m)
		PKTBUF_RESET(p, m);
	return m;
}

struct slabd_pktbuf *slabd_pktbuf_alloc(struct slabd_pktpool *p)
{
	uint64_t off;

	if (likely(pool_ok(p) && !percpu_pop(cl.roff, cl.ncpus, p->fast.stacks, &off))) {
		struct slabd_pktbuf *m = (struct slabd_pktbuf *)(cl.base + off);
		PKTBUF_RESET(p, m);
		return m;
	}
	return slabd_pktbuf_alloc_miss(p);
}

static void free_run(struct slabd_pktbuf **segs, unsigned int n, uint32_t id);

/* An offset from a magazine (client-writable memory) names an object of pool cache @id
 * (whose handle this process has). Its offset in its slab must be a multiple of the
 * object size: divtest.h's multiply, where a division took 20-40 cycles per buffer taken
 * from the depot (the same test as mag_check's in alloc.c). */
struct obj_check {
	uint64_t zones_off, zones_size;
	struct divtest size_test;
	const uint64_t *pages; /* the page descriptors as words (see PAGE_WORD) */
	uint32_t want;         /* the first word of a slab page of the cache, zone byte masked */
	uint32_t outside;      /* offsets that passed the full check outside the range */
	uint64_t lo, span;     /* the pool's verified run of pages, in bytes of the zones */
	uint64_t slab_mask;    /* slab size - 1: where in its slab an offset of the run lies */
	uint64_t used;         /* objects per slab * stride: a slab's end beyond is no object's */
};

/* A page descriptor as one little-endian word: kind | zone << 8 | cache << 16 | head << 32
 * (the word fast.h reads too). */
_Static_assert(sizeof(struct slabd_shm_page) == 8 && offsetof(struct slabd_shm_page, kind) == 0 &&
		       offsetof(struct slabd_shm_page, cache) == 2 && offsetof(struct slabd_shm_page, head) == 4,
	       "check_copy reads a page descriptor as one word");
#define PAGE_WORD_MASK 0xffff00ffu /* kind and cache; not the zone */

/* This process's verified page run of pool cache @id (see struct slabd_pktpool), 0 when
 * it has none or its handle is of a pool freed since: the run's pages may be anyone's
 * now. */
static inline uint64_t range_of(uint32_t id)
{
	uint64_t r = __atomic_load_n(&pools[id].range, __ATOMIC_RELAXED);

	if (r && unlikely(__atomic_load_n(&cl.caches[id].gen, __ATOMIC_ACQUIRE) !=
			  __atomic_load_n(&pools[id].gen, __ATOMIC_RELAXED)))
		return 0;
	return r;
}

/* What check_copy reads, loaded once per miss: the loops around it store through
 * pointers, which (-fno-strict-aliasing) would make the compiler reload slabd_client. */
static inline struct obj_check obj_check_of(uint32_t id)
{
	uint64_t r = range_of(id);
	struct obj_check k = { cl.sb->zones_off, cl.zones_size, pools[id].size_test, (const uint64_t *)cl.pages,
			       SLABD_PAGE_SLAB | id << 16, 0, (r & 0xffffffffu) << SLABD_PAGE_SHIFT,
			       (r >> 32) << SLABD_PAGE_SHIFT,
			       ((uint64_t)SLABD_PAGE_SIZE << cl.caches[id].order) - 1,
			       (uint64_t)cl.caches[id].objs_per_slab * cl.caches[id].size };
	return k;
}

/* The full test of one offset: in the zones, on a slab page of the cache (its page
 * descriptor word; read-only meta), and its distance from the slab's head page (also the
 * daemon's word, so it is below the slab size) a multiple of the stride before the slab's
 * unused end (a stride that is no power of two leaves one: an "object" there would run
 * into the next slab). */
static noinline int obj_valid_slow(struct obj_check *k, uint64_t off)
{
	uint64_t zoff = off - k->zones_off, w, x;

	if (zoff >= k->zones_size) /* below the zones too: zoff wraps */
		return 0;
	w = k->pages[zoff >> SLABD_PAGE_SHIFT];
	x = zoff - ((w >> 32) << SLABD_PAGE_SHIFT);
	if (((uint32_t)w & PAGE_WORD_MASK) != k->want || x >= k->used || !divtest_multiple(&k->size_test, x))
		return 0;
	k->outside++;
	return 1;
}

/*
 * check_copy: copy the @cnt offsets at @src (a magazine: client-writable) that name
 * objects of the pool's cache to @dst + @n; returns the new @n. An offset inside the
 * pool's verified run of pages (pool_range_scan: slab pages of this cache only, slabs of
 * one size back to back) passes when its distance from its slab's start is a multiple of
 * the stride and below its slab's last object's end, without reading a page descriptor;
 * anything else takes obj_valid_slow's full test (the same verdict, with a descriptor
 * lookup). With @pow2 (a power-of-two stride: the divisor's odd part is 1)
 * divtest_multiple's multiply is left out, only the low bits are tested. Each offset is stored, and @n advances only when it passed; each
 * is read once, so what is checked is what is kept, whatever another process writes
 * meanwhile.
 */
static inline __attribute__((always_inline)) unsigned int check_copy(struct obj_check *k, int pow2,
								      const uint64_t *src, unsigned int cnt,
								      uint64_t *dst, unsigned int n)
{
	uint64_t base = k->zones_off + k->lo, span = k->span, mask = k->slab_mask, low = k->size_test.low;
	uint64_t used = k->used;
	unsigned int i;

	for (i = 0; i < cnt; i++) {
		uint64_t off = __atomic_load_n(&src[i], __ATOMIC_RELAXED), r = off - base, x = r & mask;
		unsigned int ok;

		if (likely(r < span)) {
			ok = !(x & low);
			/* a power-of-two stride fills its power-of-two slab: no unused end */
			if (!pow2)
				ok &= (x < used) &
				      ((x >> k->size_test.shift) * k->size_test.inv <= k->size_test.limit);
		} else {
			ok = obj_valid_slow(k, off);
		}
		dst[n] = off;
		n += ok;
	}
	return n;
}

#define RANGE_SCANS 8u

/*
 * pool_range_scan: find pool cache @id's pages as one run in the page descriptors (the
 * daemon's, read-only meta): from the first to the last slab page of the cache, every
 * page must be one, and each page's head must be the run's start plus a whole number of
 * slabs (slabs of 2^order pages back to back, as the DMA zone's worker carves a new
 * pool). Stores first | pages << 32 in the handle, or nothing when the pages are not
 * such a run (then every offset takes the full test). Scanned on a depot miss while the
 * range is unknown or an offset of the pool was found outside it, at most RANGE_SCANS
 * times per handle: the worker may carve a pool's slabs after its creation.
 */
static noinline void pool_range_scan(uint32_t id)
{
	const uint64_t *pages = (const uint64_t *)cl.pages;
	const struct slabd_shm_zone *z = &cl.zone_tab[cl.sb->dma_zone];
	uint64_t np = (uint64_t)z->first_page + z->nr_pages, first = np, last = 0, i, slab;
	uint32_t want = SLABD_PAGE_SLAB | id << 16;
	struct slabd_pktpool *p = &pools[id];

	if (__atomic_fetch_add(&p->scans, 1, __ATOMIC_RELAXED) >= RANGE_SCANS)
		return;
	if (np > cl.zones_size >> SLABD_PAGE_SHIFT)
		return;
	slab = (uint64_t)1 << cl.caches[id].order;
	for (i = z->first_page; i < np; i++) { /* a pool lies in the DMA zone */
		if (((uint32_t)pages[i] & PAGE_WORD_MASK) != want)
			continue;
		if (first == np)
			first = i;
		last = i;
	}
	if (first == np || last - first >= UINT32_MAX || first > UINT32_MAX || (last + 1 - first) % slab)
		return;
	for (i = first; i <= last; i++) {
		uint64_t w = pages[i];

		if (((uint32_t)w & PAGE_WORD_MASK) != want || (w >> 32) != first + ((i - first) & ~(slab - 1)))
			return;
	}
	__atomic_store_n(&p->range, first | (last + 1 - first) << 32, __ATOMIC_RELAXED);
}

/* The depot of a pool's cache: its home node's (the DMA zone's). */
static inline struct slabd_shm_depot *pool_depot(uint32_t id)
{
	return client_depot(id, cl.zone_tab[cl.sb->dma_zone].node);
}

#define MAGS_AT_ONCE 4u

/*
 * take_from_depot: @n (or fewer) buffers of pool cache @id from full magazines of its
 * depot into @out (pointers), checking each. A bulk that found this CPU's stack empty
 * takes them directly instead of spilling magazines into the stack and popping them
 * again; it takes one magazine more than it needs, up to MAGS_AT_ONCE, with one
 * compare-and-swap, and the rest (checked) goes into this CPU's stack, so the next calls
 * pop inline; only what does not fit goes back on the depot. The emptied magazines go
 * back in one compare-and-swap. (One magazine per miss, with the rest pushed back on the
 * depot, cost four compare-and-swaps on lines the freeing side of a pipeline writes too
 * for every burst of 32.) Returns how many; 0 when the depot is empty (the caller's slow
 * path then asks the daemon).
 */
static unsigned int take_from_depot(uint32_t id, struct slabd_pktbuf **out, unsigned int n)
{
	struct slabd_shm_mag *ms[MAGS_AT_ONCE];
	uint64_t offs[MAGS_AT_ONCE * SLABD_MAG_SLOTS];
	unsigned int got, k = 0, nm, j, i, pushed, kept = 0;
	struct slabd_shm_depot *d;
	struct obj_check chk;
	char *base;
	int pow2;

	if (cl.multi_node)
		return 0; /* keep the one path that handles nodes */
	d = pool_depot(id);
	nm = MAGS_AT_ONCE; /* the stack is empty: fill it (its default capacity is 4 magazines) */
	nm = slabd_stack_pop_chain(&d->full, cl.mags, cl.nr_mags, ms, nm);
	if (!nm)
		return 0;
	if (unlikely(!__atomic_load_n(&pools[id].range, __ATOMIC_RELAXED)))
		pool_range_scan(id);
	chk = obj_check_of(id);
	pow2 = chk.size_test.inv == 1; /* odd part 1: the stride is a power of two */
	for (j = 0; j < nm; j++) {
		struct slabd_shm_mag *m = ms[j];
		unsigned int cnt = __atomic_load_n(&m->count, __ATOMIC_RELAXED);

		if (cnt > SLABD_MAG_SLOTS)
			cnt = 0; /* a scribbled count: the magazine's objects are lost, not trusted */
		k = pow2 ? check_copy(&chk, 1, m->objs, cnt, offs, k) : check_copy(&chk, 0, m->objs, cnt, offs, k);
	}
	if (unlikely(chk.outside))
		pool_range_scan(id); /* the pool's pages grew since the scan */
	/* the call gets the last ones copied (the top of the last magazine: the most recently
	 * freed), this CPU's stack the rest */
	got = k < n ? k : n;
	k -= got;
	base = cl.base;
	for (i = 0; i < got; i++)
		out[i] = (struct slabd_pktbuf *)(base + offs[k + i]);
	pushed = k ? percpu_push_bulk_delta(cl.roff, cl.ncpus, cl.pcpu + id * cl.cache_stride, offs, k, 0) : 0;
	/* what did not fit goes back in the first magazines, and those back on the depot */
	for (i = pushed; i < k; kept++) {
		unsigned int c = 0;

		while (c < SLABD_MAG_SLOTS && i < k)
			ms[kept]->objs[c++] = offs[i++];
		slabd_mag_set_count(ms[kept], c);
	}
	if (kept)
		slabd_stack_push_chain(&d->full, cl.mags, ms, kept);
	if (kept < nm) {
		/* an empty magazine says so: the daemon quarantines one whose count is not 0
		 * (empty_pop), and everyone who fills one from that stack starts from it */
		for (j = kept; j < nm; j++)
			__atomic_store_n(&ms[j]->count, 0, __ATOMIC_RELAXED);
		slabd_stack_push_chain(&cl.ctl->empty_mags, cl.mags, ms + kept, nm - kept);
		if (!(__atomic_load_n(&d->full, __ATOMIC_RELAXED) & SLABD_STACK_IDX_MASK))
			client_kick(); /* took the last one: refill before the next miss */
	}
	return got;
}

/*
 * give_to_depot: @n offsets (@offs, private memory) of buffers of pool cache @id that do
 * not fit this CPU's stack go to its depot in magazines, a magazine's worth at a time (a
 * copy of offsets: no conversion), up to MAGS_AT_ONCE magazines per compare-and-swap on
 * each stack. Returns how many it placed, from the start of @offs (fewer when no empty
 * magazine is left: the caller frees the rest otherwise).
 */
static unsigned int give_to_depot(uint32_t id, const uint64_t *offs, unsigned int n)
{
	uint32_t per = cl.caches[id].mag_objs;
	struct slabd_shm_mag *ms[MAGS_AT_ONCE];
	struct slabd_shm_depot *d;
	unsigned int done = 0, j, nm;

	if (cl.multi_node || !per || per > SLABD_MAG_BATCH)
		return 0;
	d = pool_depot(id);
	while (n - done >= per) {
		nm = (n - done) / per < MAGS_AT_ONCE ? (n - done) / per : MAGS_AT_ONCE;
		nm = slabd_stack_pop_chain(&cl.ctl->empty_mags, cl.mags, cl.nr_mags, ms, nm);
		if (!nm)
			break;
		for (j = 0; j < nm; j++) {
			memcpy(ms[j]->objs, offs + done, per * sizeof(*offs));
			slabd_mag_set_count(ms[j], per);
			done += per;
		}
		slabd_stack_push_chain(&d->full, cl.mags, ms, nm);
	}
	return done;
}

/* The rest of a bulk whose first @got buffers (not reset) are in @bufs already: this
 * CPU's stack ran empty. Also the inline path's way into the library. */
int slabd_pktbuf_alloc_bulk_miss(struct slabd_pktpool *p, struct slabd_pktbuf **bufs, unsigned int n,
				 unsigned int got)
{
	unsigned int i;
	int r;

	if (!pool_ok(p))
		return -EINVAL;
	if (got > n)
		return -EINVAL;
	r = pool_check(p);
	if (unlikely(r < 0)) {
		free_run(bufs, got, 0); /* popped inline from stacks of a pool being freed */
		return r;
	}
	while (got < n) {
		got += percpu_pop_bulk_delta(cl.roff, cl.ncpus, p->fast.stacks, (uint64_t *)(bufs + got), n - got,
					     (uint64_t)(uintptr_t)cl.base);
		if (got == n)
			break;
		/* this CPU's stack is empty: straight from a depot magazine (its rest goes into
		 * the stack, where the next round finds it), else the slow path (which refills
		 * the stack, and may wait) */
		i = take_from_depot(p->fast.id, bufs + got, n - got);
		if (i) {
			got += i;
			continue;
		}
		bufs[got] = client_cache_alloc(p->fast.id, POOL_GFP, -1);
		if (!bufs[got]) {
			free_run(bufs, got, p->fast.id); /* all or nothing: not reset, so no chain walk */
			return -ENOMEM;
		}
		got++;
	}
	if (unlikely(pool_recheck(p, (void **)bufs, n) < 0))
		return -EINVAL;
	{
		struct slabd_fast_pktpool f = p->fast;

		for (i = 0; i < n; i++)
			pktbuf_reset(bufs[i], &f);
	}
	return 0;
}

int slabd_pktbuf_alloc_bulk(struct slabd_pktpool *p, struct slabd_pktbuf **bufs, unsigned int n)
{
	unsigned int got = 0, i;

	_Static_assert(sizeof(void *) == sizeof(uint64_t), "pointers are converted in place");
	if (likely(pool_ok(p)))
		got = percpu_pop_bulk_delta(cl.roff, cl.ncpus, p->fast.stacks, (uint64_t *)bufs, n,
					    (uint64_t)(uintptr_t)cl.base);
	if (unlikely(got != n))
		return slabd_pktbuf_alloc_bulk_miss(p, bufs, n, got);
	{
		struct slabd_fast_pktpool f = p->fast;

		for (i = 0; i < n; i++)
			pktbuf_reset(bufs[i], &f);
	}
	return 0;
}

/* The last reference to segment @m is going: 1 if it is to be freed now. */
static inline int pktbuf_prefree(struct slabd_pktbuf *m)
{
	if (likely(__atomic_load_n(&m->refcnt, __ATOMIC_RELAXED) == 1))
		return 1;
	if (__atomic_sub_fetch(&m->refcnt, 1, __ATOMIC_ACQ_REL) == 0) {
		m->refcnt = 1; /* as a fresh buffer, should anyone look */
		return 1;
	}
	return 0;
}

/* Cache id of a buffer, from the read-only page descriptors; 0 if it is not one. */
static inline uint32_t pktbuf_cache(const struct slabd_pktbuf *m)
{
	uint64_t zoff = (uint64_t)((const char *)m - cl.zones);
	const struct slabd_shm_page *pg;

	if (unlikely(zoff >= cl.zones_size))
		return 0;
	pg = &cl.pages[zoff >> SLABD_PAGE_SHIFT];
	return pg->kind == SLABD_PAGE_SLAB ? pg->cache : 0;
}

#define FLUSH_MAGS 4u

/*
 * flush_to_depot: this CPU's stack of pool cache @id (@stacks) is full and @r buffers of
 * @segs are left. They and enough of the stack's top to fill one magazine more than they
 * need go to the depot as whole magazines (DPDK's mempool cache flushes below its size
 * the same way), so the next bursts fit the stack again. The stack's top is popped as
 * offsets, after the leftovers converted once, and copied into the magazines as they
 * are (before, it was popped as pointers and converted back). What finds no empty
 * magazine goes back on the stack, else through kfree. Returns how many of @segs it
 * took: all, unless no empty magazine is left for a burst larger than FLUSH_MAGS - 1
 * magazines.
 */
static unsigned int flush_to_depot(uint32_t id, char *stacks, struct slabd_pktbuf **segs, unsigned int r)
{
	uint32_t per = cl.caches[id].mag_objs;
	uint64_t offs[FLUSH_MAGS * SLABD_MAG_SLOTS];
	char *base = cl.base;
	unsigned int want, m, placed, pushed, i, done = 0;

	if (!per || per > SLABD_MAG_BATCH)
		return 0;
	if (r / per + 1 > FLUSH_MAGS) {
		/* a large burst: whole magazines of it, a chunk at a time; its tail (less than a
		 * magazine) and what finds no empty magazine are the caller's */
		while (r - done >= per) {
			m = (r - done) / per < FLUSH_MAGS ? (r - done) / per * per : FLUSH_MAGS * per;
			for (i = 0; i < m; i++)
				offs[i] = (uint64_t)((char *)segs[done + i] - base);
			placed = give_to_depot(id, offs, m);
			done += placed;
			if (placed < m)
				break;
		}
		return done;
	}
	want = (r / per + 3 < FLUSH_MAGS ? r / per + 3 : FLUSH_MAGS) * per;
	for (i = 0; i < r; i++)
		offs[i] = (uint64_t)((char *)segs[i] - base);
	m = r + percpu_pop_bulk_delta(cl.roff, cl.ncpus, stacks, offs + r, want - r, 0);
	placed = give_to_depot(id, offs, m);
	if (placed < m) {
		pushed = percpu_push_bulk_delta(cl.roff, cl.ncpus, stacks, offs + placed, m - placed, 0);
		for (i = placed + pushed; i < m; i++)
			slabd_kfree(base + offs[i]);
	}
	return r;
}

/* Give @n segments of cache @id (0: not all known buffers of one pool) to this CPU's
 * stack in one sequence, flushing it to the depot when full; what kfree must sort out
 * (several nodes: remote frees go home; not a pool's buffer) goes through kfree. */
static noinline void free_run(struct slabd_pktbuf **segs, unsigned int n, uint32_t id)
{
	unsigned int done = 0;

	if (likely(id && !cl.multi_node)) {
		char *stacks = cl.pcpu + id * cl.cache_stride;

		done = percpu_push_bulk_delta(cl.roff, cl.ncpus, stacks, (const uint64_t *)segs, n,
					      (uint64_t)(uintptr_t)cl.base);
		if (done < n)
			done += flush_to_depot(id, stacks, segs + done, n - done);
	}
	for (; done < n; done++)
		slabd_kfree(segs[done]);
}

/* Free one segment whose last reference is gone: onto this CPU's stack of its pool. */
static inline void pktbuf_free_seg(struct slabd_pktbuf *m)
{
	uint32_t id = pktbuf_cache(m);

	if (likely(id && !cl.multi_node) &&
	    likely(!percpu_push(cl.roff, cl.ncpus, cl.pcpu + id * cl.cache_stride, (uint64_t)((char *)m - cl.base))))
		return;
	slabd_kfree(m); /* stack full, several nodes, or not a buffer: kfree sorts it out */
}

/*
 * chain_segs: the distinct segments of the chain headed by @m (not NULL). A chain is
 * client-writable memory: one whose last segment a broken application linked back into
 * it has no end, and walking it would push the same buffers again and again (into the
 * stacks every process of the pool allocates from) without ever returning. Brent's cycle
 * detection over the next pointers gives the length of the part before the loop plus the
 * loop, so each segment is freed once; a chain with an end costs one walk more, of
 * headers the free walk reads next anyway. A single segment costs one test.
 */
static noinline unsigned long chain_segs(const struct slabd_pktbuf *m)
{
	const struct slabd_pktbuf *t = m, *h = m->next;
	unsigned long power = 1, lam = 1, n = 1, mu = 0, i;

	while (h && h != t) {
		n++;
		if (power == lam) {
			t = h;
			power <<= 1;
			lam = 0;
		}
		h = h->next;
		lam++;
	}
	if (!h)
		return n;
	/* a loop of lam segments: find where it starts (mu segments before it) */
	t = h = m;
	for (i = 0; i < lam; i++)
		h = h->next;
	while (t != h) {
		t = t->next;
		h = h->next;
		mu++;
	}
	return mu + lam;
}

void slabd_pktbuf_free(struct slabd_pktbuf *m)
{
	unsigned long segs;

	if (!m)
		return;
	segs = m->next ? chain_segs(m) : 1;
	while (segs--) {
		struct slabd_pktbuf *next = m->next;

		if (pktbuf_prefree(m))
			pktbuf_free_seg(m);
		m = next;
	}
}

/* The common case of a bulk free: the first buffers of @bufs (up to @n) that are single
 * segments with refcnt 1 in slab pages of one cache; how many, and that cache in *@ret_id
 * (the page-descriptor walk of pktbuf_cache for the first, with slabd_client's fields
 * loaded once; the others are compared with its pool's page range, the descriptor read
 * only outside it). */
static inline unsigned int simple_run(struct slabd_pktbuf *const *bufs, unsigned int n, uint32_t *ret_id)
{
	const char *zones = cl.zones, *lo;
	uint64_t zones_size = cl.zones_size, span, r;
	const uint64_t *pages = (const uint64_t *)cl.pages;
	const struct slabd_pktbuf *m;
	uint32_t first, w;
	unsigned int i;
	uint64_t zoff;

	*ret_id = 0;
	if (!n)
		return 0;
	m = bufs[0];
	zoff = (uint64_t)((const char *)m - zones);
	if (zoff >= zones_size || m->next || __atomic_load_n(&m->refcnt, __ATOMIC_RELAXED) != 1)
		return 0;
	first = (uint32_t)pages[zoff >> SLABD_PAGE_SHIFT] & PAGE_WORD_MASK;
	if ((uint8_t)first != SLABD_PAGE_SLAB)
		return 0;
	/* inside the pool's verified run of pages (pool_range_scan; 0 when this process never
	 * scanned it), a buffer is on a slab page of the pool without a descriptor load */
	r = first >> 16 < SLABD_MAX_CACHES ? range_of(first >> 16) : 0;
	lo = zones + ((r & 0xffffffffu) << SLABD_PAGE_SHIFT);
	span = (r >> 32) << SLABD_PAGE_SHIFT;
	for (i = 1; i < n; i++) {
		m = bufs[i];
		if (unlikely((uint64_t)((const char *)m - lo) >= span)) {
			zoff = (uint64_t)((const char *)m - zones);
			if (zoff >= zones_size)
				break;
			w = (uint32_t)pages[zoff >> SLABD_PAGE_SHIFT] & PAGE_WORD_MASK;
			if (w != first)
				break;
		}
		if (m->next || __atomic_load_n(&m->refcnt, __ATOMIC_RELAXED) != 1)
			break;
	}
	*ret_id = first >> 16;
	return i;
}

void slabd_pktbuf_free_bulk(struct slabd_pktbuf **bufs, unsigned int n)
{
	struct slabd_pktbuf *segs[BULK_CHUNK];
	unsigned int i, k = 0;
	uint32_t run = 0; /* cache id of segs[0..k), 0 when it mixes or k == 0 */

	/* A burst of single-segment last references of one pool goes to the stack as it is,
	 * without copying; the rest takes the general walk below. */
	i = simple_run(bufs, n, &run);
	if (i && run) {
		free_run(bufs, i, run);
		bufs += i;
		n -= i;
	}
	run = 0;
	for (i = 0; i < n; i++) {
		struct slabd_pktbuf *m = bufs[i];
		unsigned long left = !m ? 0 : m->next ? chain_segs(m) : 1;

		while (left--) {
			struct slabd_pktbuf *next = m->next;

			if (pktbuf_prefree(m)) {
				uint32_t id = pktbuf_cache(m);

				if (k && (id != run || k == BULK_CHUNK)) {
					free_run(segs, k, run);
					k = 0;
				}
				run = id;
				segs[k++] = m;
			}
			m = next;
		}
	}
	if (k)
		free_run(segs, k, run);
}

/* The inline path's way into the library for what it does not handle (chains, shared
 * segments, full stacks, several nodes): the library's own calls. */
void slabd_pktbuf_free_miss(struct slabd_pktbuf *m) __attribute__((alias("slabd_pktbuf_free")));
void slabd_pktbuf_free_bulk_miss(struct slabd_pktbuf **bufs, unsigned int n) __attribute__((alias("slabd_pktbuf_free_bulk")));
