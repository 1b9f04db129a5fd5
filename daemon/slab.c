/* SPDX-License-Identifier: MIT */
/*
 * slab.c - caches and their slabs, as the daemon sees them; large allocations.
 *
 * The daemon is the only one that knows which objects of a slab are free in its own
 * hands (struct slab's bitmap, daemon-private). Objects come back to it from client-
 * writable memory (magazines, freelist chains, per-CPU stacks it drains), so slab_put
 * checks each offset before believing it: inside a zone, on a page of a slab of this
 * cache and node, on an object boundary, and not already free. Anything else is counted,
 * reported and dropped: never followed (invariant 2).
 *
 * Per (cache, node) everything here runs on that node's worker thread. The buddy
 * allocator and page-table writes take the zone lock (lock order in slabd_daemon.h).
 *
 * Slab geometry: a slab is the smallest power-of-two number of pages holding 8 objects,
 * but no larger than 256 KiB unless one object needs more; objects sit at multiples of
 * their size from the slab start, so power-of-two sizes are naturally aligned.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <slabd/gfp.h>

#include "debug.h"
#include "log.h"
#include "slabd_daemon.h"
#include "slabd_ops.h"

static uint32_t kmalloc_class_size(uint32_t idx)
{
	return idx == 1 ? 96 : idx == 2 ? 192 : 1u << idx;
}

/* cache_node.held, .nr_slabs and the slab lists' .nr have one writer, the node's worker,
 * and are read by the control thread for stats: relaxed atomic stores of the new value
 * (a plain mov on x86), so the race is defined and the reads never see a torn value. */
#define OWNED_ADD(field, delta) __atomic_store_n(&(field), (field) + (delta), __ATOMIC_RELAXED)

static void list_add(struct slab_list *l, struct slab *s, uint8_t which)
{
	s->prev = NULL;
	s->next = l->first;
	if (l->first)
		l->first->prev = s;
	l->first = s;
	OWNED_ADD(l->nr, 1); /* read by stats on the control thread */
	s->list = which;
}

static void list_del(struct slab_list *l, struct slab *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		l->first = s->next;
	if (s->next)
		s->next->prev = s->prev;
	OWNED_ADD(l->nr, -1);
	s->list = SLAB_LIST_NONE;
	s->next = s->prev = NULL;
}

static struct slab_list *list_of(struct cache_node *cn, uint8_t which)
{
	return which == SLAB_LIST_PARTIAL ? &cn->partial : which == SLAB_LIST_FREE ? &cn->free : NULL;
}

/* Put @s on the list its nfree calls for. */
static void slab_relist(struct cache *c, struct cache_node *cn, struct slab *s)
{
	uint8_t want = s->nfree == 0 ? SLAB_LIST_NONE : s->nfree == c->objs ? SLAB_LIST_FREE : SLAB_LIST_PARTIAL;

	if (want == s->list)
		return;
	if (s->list != SLAB_LIST_NONE)
		list_del(list_of(cn, s->list), s);
	if (want != SLAB_LIST_NONE)
		list_add(list_of(cn, want), s, want);
}

/* The daemon-private part of a cache of this geometry (nothing shared is written). */
static struct cache *cache_alloc(struct slabd *d, uint32_t id, uint32_t size, uint32_t *align_io,
				 uint32_t flags, uint32_t *ret_trailer)
{
	struct cache *c;
	uint64_t stride, slab_bytes;
	uint32_t order = 0, n, align = *align_io;

	if (align < 8)
		align = 8;
	if (flags & SLAB_HWCACHE_ALIGN && align < 64)
		align = 64;
	*align_io = align;
	debug_geometry(size, align, flags, &stride, ret_trailer);
	slab_bytes = stride * 8 < (256u << 10) ? stride * 8 : stride > (256u << 10) ? stride : (256u << 10);
	while (((uint64_t)SLABD_PAGE_SIZE << order) < slab_bytes)
		order++;

	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->nodes = calloc(d->sb->nr_nodes, sizeof(*c->nodes));
	c->track = calloc(d->sb->nr_cpus, sizeof(*c->track));
	if (!c->nodes || !c->track) {
		free(c->nodes);
		free(c->track);
		free(c);
		return NULL;
	}
	for (n = 0; n < d->sb->nr_nodes; n++)
		c->nodes[n].target = 2;
	c->id = id;
	c->size = (uint32_t)stride;
	c->order = order;
	c->objs = (uint32_t)(((uint64_t)SLABD_PAGE_SIZE << order) / stride);
	/* A miss moves about 64 KiB or SLABD_MAG_BATCH objects, whichever is fewer (at least
	 * 2); a handoff's magazines may hold more (up to SLABD_MAG_SLOTS). */
	n = (uint32_t)((64u << 10) / stride);
	c->mag_objs = n > SLABD_MAG_BATCH ? SLABD_MAG_BATCH : n < 2 ? 2 : n;
	/* A streaming allocator may hold the depot at up to 4 MiB (or 512 magazines). */
	c->target_min = 2;
	n = (uint32_t)((4u << 20) / ((uint64_t)c->mag_objs * stride));
	c->target_max = n > 512 ? 512 : n < c->target_min ? c->target_min : n;
	c->reserve = 1;
	/* Per-CPU stacks start at four magazines (a 64-object burst of small objects fits
	 * at once) and may grow to eight, at most 127 objects, on CPUs that keep both
	 * running dry and overflowing. */
	c->pcpu_cap_default =
	    4 * c->mag_objs > SLABD_PCPU_SLOTS ? SLABD_PCPU_SLOTS : 4 * c->mag_objs;
	c->pcpu_cap_max = 8 * c->mag_objs > SLABD_PCPU_SLOTS ? SLABD_PCPU_SLOTS : 8 * c->mag_objs;
	c->shm = &d->cache_tab[id];
	return c;
}

struct cache *cache_create_unpublished(struct slabd *d, uint32_t id, const char *name,
				       uint32_t size, uint32_t align, uint32_t flags)
{
	struct cache *c;
	struct slabd_shm_cache *sc;
	uint32_t cpu, trailer, n, gen;

	if (id >= d->sb->max_caches || d->caches[id] || !size)
		return NULL;
	/* the generation outlives the entry: a handle of the cache destroyed before must not
	 * take this one for its own */
	gen = d->cache_tab[id].gen;
	memset(&d->cache_tab[id], 0, sizeof(d->cache_tab[id]));
	d->cache_tab[id].gen = gen;
	c = cache_alloc(d, id, size, &align, flags, &trailer);
	if (!c)
		return NULL;
	sc = c->shm;
	snprintf(sc->name, sizeof(sc->name), "%s", name);
	sc->size = c->size;
	sc->obj_size = size;
	sc->align = align;
	sc->flags = flags;
	sc->order = c->order;
	sc->objs_per_slab = c->objs;
	sc->mag_objs = c->mag_objs;
	sc->zone_kind = flags & SLAB_CACHE_DMA ? SLABD_ZONE_DMA : SLABD_ZONE_NODE;
	sc->trailer = trailer;
	sc->debug = flags & SLABD_DEBUG_ALL;
	sc->debug_epoch = 1;
	for (cpu = 0; cpu < d->sb->nr_cpus; cpu++) {
		struct slabd_shm_pcpu *p =
			(void *)(d->pcpu + ((uint64_t)id * d->sb->nr_cpus << SLABD_PCPU_SHIFT) +
				 ((uint64_t)cpu << SLABD_PCPU_SHIFT));
		struct slabd_shm_pcpu_stat *st =
		    &d->pcpu_stats[slabd_shm_pcpu_stat_index(d->sb->max_caches, id, cpu)];
		p->count = 0;
		p->capacity = sc->debug ? 0 : c->pcpu_cap_default; /* debug: every call misses */
		st->alloc_misses = st->free_misses = 0;
	}
	/* A destroyed cache of this id left its counters in its depots (its stacks are empty:
	 * destroy gathered them). The futex word and its waiters stay: a sleeper of the old
	 * cache wakes on the next change and finds its cache gone. */
	for (n = 0; n < d->sb->nr_nodes; n++) {
		struct slabd_shm_depot *dp = daemon_depot(d, id, n);

		__atomic_store_n(&dp->want, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&dp->flags, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&dp->misses, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&dp->debug_errors, 0, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&d->caches[id], c, __ATOMIC_RELEASE);
	return c;
}

void cache_publish(struct slabd *d, struct cache *c)
{
	debug_cache_created(d, c);
	__atomic_store_n(&c->shm->state, SLABD_CACHE_ACTIVE, __ATOMIC_RELEASE);
}

struct cache *cache_create(struct slabd *d, uint32_t id, const char *name, uint32_t size,
			   uint32_t align, uint32_t flags)
{
	struct cache *c = cache_create_unpublished(d, id, name, size, align, flags);

	if (c)
		cache_publish(d, c);
	return c;
}

struct cache *cache_restore(struct slabd *d, uint32_t id)
{
	struct slabd_shm_cache *sc = &d->cache_tab[id];
	uint32_t align = sc->align, trailer, max_size, max_align;
	struct cache *c;

	if (id >= d->sb->max_caches || d->caches[id] || !sc->obj_size)
		return NULL;
	/* Read back from a previous run: within what cache_create is ever asked for (a
	 * kmalloc class, a CACHE_CREATE, a pool), so that the stride fits its 32 bits. */
	max_size = SLABD_PKTBUF_HDR + SLABD_PKTBUF_MAX_PRIV + SLABD_PKTBUF_MAX_BUF;
	if (max_size < d->sb->max_cache_size)
		max_size = d->sb->max_cache_size;
	max_align = d->sb->max_cache_size > 4096 ? d->sb->max_cache_size : 4096;
	if (sc->obj_size > max_size || (align & (align - 1)) || align > max_align)
		return NULL;
	c = cache_alloc(d, id, sc->obj_size, &align, sc->flags, &trailer);
	if (!c)
		return NULL;
	if (align != sc->align || trailer != sc->trailer || c->size != sc->size || c->order != sc->order ||
	    c->objs != sc->objs_per_slab || c->mag_objs != sc->mag_objs ||
	    sc->zone_kind != (sc->flags & SLAB_CACHE_DMA ? SLABD_ZONE_DMA : SLABD_ZONE_NODE)) {
		cache_free(d, c);
		return NULL;
	}
	if (sc->pool_n) {
		c->reserve = 0;
		c->max_objs = sc->pool_n;
	}
	__atomic_store_n(&d->caches[id], c, __ATOMIC_RELEASE);
	return c;
}

int cache_find(struct slabd *d, const char *name)
{
	uint32_t id;

	for (id = 1; id < d->sb->max_caches; id++)
		if (d->caches[id] && d->cache_tab[id].state == SLABD_CACHE_ACTIVE &&
		    !strncmp(d->cache_tab[id].name, name, SLABD_CACHE_NAME_MAX))
			return (int)id;
	return -ENOENT;
}

int cache_free_id(struct slabd *d)
{
	uint32_t id;

	for (id = SLABD_FIRST_NAMED_CACHE; id < d->sb->max_caches; id++)
		if (!d->caches[id] && !(d->id_kept && d->id_kept[id]))
			return (int)id;
	return -ENOSPC;
}

void cache_free(struct slabd *d, struct cache *c)
{
	(void)d;
	free(c->track);
	free(c->nodes);
	free(c);
}

int cache_create_kmalloc(struct slabd *d)
{
	uint32_t idx;
	char name[SLABD_CACHE_NAME_MAX];
	int made = 0;

	/* A restart on a region whose first daemon stopped before it made them all
	 * (persist_restore) makes only those missing: the others are restored already. */
	for (idx = SLABD_KMALLOC_FIRST; idx <= SLABD_KMALLOC_LAST; idx++) {
		uint32_t size = kmalloc_class_size(idx);

		if (size > d->cfg.max_cache_size)
			continue;
		snprintf(name, sizeof(name), "kmalloc-%u%s", size >= 1024 ? size >> 10 : size,
			 size >= 1024 ? "k" : "");
		if (!d->caches[idx]) {
			if (!cache_create(d, idx, name, size, size & (size - 1) ? 32 : size, d->cfg.debug))
				return -ENOMEM;
			made++;
		}
		if (d->dma_zone == SLABD_NO_ZONE || d->caches[SLABD_DMA_KMALLOC_BASE + idx])
			continue;
		/* GFP_DMA's classes: the same sizes in the DMA zone, ids offset by 32 */
		snprintf(name, sizeof(name), "dma-kmalloc-%u%s", size >= 1024 ? size >> 10 : size,
			 size >= 1024 ? "k" : "");
		if (!cache_create(d, SLABD_DMA_KMALLOC_BASE + idx, name, size, size & (size - 1) ? 32 : size,
				  SLAB_CACHE_DMA | d->cfg.debug))
			return -ENOMEM;
		made++;
	}
	return made;
}

void cache_destroy_all(struct slabd *d)
{
	uint32_t id, p, i;

	if (!d->caches)
		return;
	/* Slabs first: each is freed once, at its first page, after its pages forget it. */
	for (p = 0; d->page_slab && p < d->sb->nr_pages; p++) {
		struct slab *s = d->page_slab[p];
		struct cache *c;

		if (!s)
			continue;
		c = d->caches[d->pages[s->head].cache];
		for (i = 0; i < (c ? 1u << c->order : 1u) && s->head + i < d->sb->nr_pages; i++)
			d->page_slab[s->head + i] = NULL;
		free(s);
	}
	for (id = 0; id < d->sb->max_caches; id++) {
		struct cache *c = d->caches[id];
		if (!c)
			continue;
		cache_free(d, c);
		d->caches[id] = NULL;
	}
}

/* Carve a new slab for (c, node): pages from the zone, page table, daemon bitmap. */
static struct slab *slab_new(struct slabd *d, struct cache *c, uint32_t node)
{
	struct zone *z = &d->zone[cache_zone(d, c, node)];
	uint32_t words = (c->objs + 63) / 64, i, page;
	struct slab *s;
	int64_t p;

	if (c->max_objs)
		return NULL; /* a pool is carved once, at creation (pool_populate) */
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	pthread_mutex_lock(&z->lock);
	p = buddy_alloc(&z->buddy, c->order);
	if (p >= 0 && zone_claim_locked(d, z, (uint32_t)p, 1u << c->order) < 0) {
		buddy_free(&z->buddy, (uint32_t)p, c->order);
		p = -1;
	}
	if (p < 0) {
		pthread_mutex_unlock(&z->lock);
		free(s);
		return NULL;
	}
	page = z->first_page + (uint32_t)p;
	/* The bitmap first, the page table after (release stores): a daemon killed between
	 * the two leaves pages that are free in the page table, whatever the words say;
	 * one killed while marking leaves a partly marked slab, which a restart frees (no
	 * object of it was handed out yet). */
	s->map = d->slabmap + (uint64_t)page * SLAB_MAP_WORDS_PER_PAGE;
	memset(s->map, 0, (size_t)words * sizeof(uint64_t));
	for (i = 0; i < c->objs; i++)
		s->map[i / 64] |= 1ull << (i % 64);
	for (i = 0; i < (1u << c->order); i++) {
		struct slabd_shm_page *pg = &d->pages[page + i];
		pg->cache = (uint16_t)c->id;
		pg->head = page;
		d->page_slab[page + i] = s;
		__atomic_store_n(&pg->kind, SLABD_PAGE_SLAB, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&z->lock);

	s->head = page;
	s->nfree = c->objs;
	OWNED_ADD(c->nodes[node].nr_slabs, 1);
	OWNED_ADD(c->nodes[node].held, c->objs);
	s->list = SLAB_LIST_NONE;
	slab_relist(c, &c->nodes[node], s);
	STAT_INC(d, slabs_created);
	return s;
}

int slab_restore(struct slabd *d, struct cache *c, uint32_t node, uint32_t head)
{
	struct cache_node *cn = &c->nodes[node];
	uint32_t words = (c->objs + 63) / 64, w, i;
	struct slab *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->head = head;
	s->map = d->slabmap + (uint64_t)head * SLAB_MAP_WORDS_PER_PAGE;
	/* no bit beyond the objects, none for a pool's held-back tail */
	if (c->objs % 64)
		s->map[words - 1] &= (1ull << (c->objs % 64)) - 1;
	if (c->phantom && head == c->phantom_head)
		for (i = c->phantom_from; i < c->objs; i++)
			s->map[i / 64] &= ~(1ull << (i % 64));
	for (w = 0; w < words; w++)
		s->nfree += (uint32_t)__builtin_popcountll(s->map[w]);
	for (i = 0; i < (1u << c->order); i++)
		d->page_slab[head + i] = s;
	OWNED_ADD(cn->nr_slabs, 1);
	OWNED_ADD(cn->held, s->nfree);
	s->list = SLAB_LIST_NONE;
	slab_relist(c, cn, s);
	return 0;
}

static uint64_t slab_obj_off(struct slabd *d, struct cache *c, struct slab *s, uint32_t i)
{
	return d->sb->zones_off + ((uint64_t)s->head << SLABD_PAGE_SHIFT) + (uint64_t)i * c->size;
}

int pool_populate(struct slabd *d, struct cache *c, uint32_t node, uint32_t n)
{
	struct cache_node *cn = &c->nodes[node];
	uint32_t slabs = (n + c->objs - 1) / c->objs, i, k;
	struct slab *last = NULL;

	for (i = 0; i < slabs; i++) {
		last = slab_new(d, c, node);
		if (!last) {
			slab_release_free(d, c, node, 0);
			return -ENOMEM;
		}
	}
	/* the tail of the last slab carved is held back for good */
	c->phantom = slabs * c->objs - n;
	c->phantom_head = last->head;
	c->phantom_from = c->objs - c->phantom;
	persist_pool_note(d, c);
	for (k = c->phantom_from; k < c->objs; k++) {
		last->map[k / 64] &= ~(1ull << (k % 64));
		last->nfree--;
		OWNED_ADD(cn->held, -1);
	}
	slab_relist(c, cn, last);
	c->max_objs = n;
	/* The depot's target is the whole pool (within a share of the magazines): every free
	 * buffer sits in magazines where clients take it, so an allocation waits for the
	 * worker only when the pool is truly exhausted, and nothing is ever trimmed back. */
	k = (n + c->mag_objs - 1) / c->mag_objs;
	if (k > d->sb->nr_mags / 8)
		k = d->sb->nr_mags / 8;
	c->target_min = c->target_max = cn->target = k < 2 ? 2 : k;
	cn->active = 1; /* the next worker round fills it */
	return 0;
}

uint32_t pool_depopulate(struct slabd *d, struct cache *c, uint32_t node)
{
	struct cache_node *cn = &c->nodes[node];
	struct slab *s = NULL;
	uint32_t k;

	if (c->phantom && c->phantom_head < d->sb->nr_pages)
		s = d->page_slab[c->phantom_head];
	if (s && s->head == c->phantom_head && d->zone_tab[d->pages[s->head].zone].node == node) {
		/* the held-back tail is free too: the last slab is whole again */
		for (k = c->phantom_from; k < c->objs; k++) {
			if (s->map[k / 64] & (1ull << (k % 64)))
				continue;
			s->map[k / 64] |= 1ull << (k % 64);
			s->nfree++;
			OWNED_ADD(cn->held, 1);
		}
		slab_relist(c, cn, s);
		c->phantom = 0;
	}
	c->max_objs = 0; /* no longer a pool: slab_release_free gives its slabs back */
	return slab_release_free(d, c, node, 0);
}

uint32_t slab_take(struct slabd *d, struct cache *c, uint32_t node, uint64_t *out, uint32_t n)
{
	struct cache_node *cn = &c->nodes[node];
	uint32_t got = 0;

	while (got < n) {
		struct slab *s = cn->partial.first ? cn->partial.first : cn->free.first;
		uint32_t w;

		if (!s)
			s = slab_new(d, c, node);
		if (!s)
			break;
		for (w = 0; w < (c->objs + 63) / 64 && got < n; w++) {
			while (s->map[w] && got < n) {
				uint32_t bit = (uint32_t)__builtin_ctzll(s->map[w]);
				s->map[w] &= s->map[w] - 1;
				out[got++] = slab_obj_off(d, c, s, w * 64 + bit);
				s->nfree--;
				OWNED_ADD(cn->held, -1);
			}
		}
		slab_relist(c, cn, s);
	}
	return got;
}

/* The slab of (@c, @node) holding the object at @off (from client memory), and its
 * index; NULL when @off is not the start of one of its objects. */
static struct slab *slab_lookup(struct slabd *d, struct cache *c, uint32_t node, uint64_t off,
				uint32_t *ret_idx)
{
	const struct slabd_shm_page *pg;
	struct slab *s;
	uint64_t zoff, in_slab;
	uint32_t page;

	zoff = off - d->sb->zones_off;
	if (off < d->sb->zones_off || zoff >= d->sb->zones_size)
		return NULL;
	page = (uint32_t)(zoff >> SLABD_PAGE_SHIFT);
	pg = &d->pages[page];
	s = d->page_slab[page];
	if (pg->kind != SLABD_PAGE_SLAB || !s || pg->cache != c->id || d->zone_tab[pg->zone].node != node)
		return NULL;
	in_slab = zoff - ((uint64_t)s->head << SLABD_PAGE_SHIFT);
	if (in_slab % c->size || in_slab / c->size >= c->objs)
		return NULL;
	*ret_idx = (uint32_t)(in_slab / c->size);
	if (c->phantom && s->head == c->phantom_head && *ret_idx >= c->phantom_from)
		return NULL; /* beyond a pool's n: never handed out */
	return s;
}

int slab_check(struct slabd *d, struct cache *c, uint32_t node, uint64_t off)
{
	uint32_t idx;
	struct slab *s = slab_lookup(d, c, node, off, &idx);

	if (!s)
		return -EINVAL;
	return s->map[idx / 64] & (1ull << (idx % 64)) ? -EALREADY : 0;
}

int slab_put(struct slabd *d, struct cache *c, uint32_t node, uint64_t off)
{
	uint32_t idx;
	struct slab *s = slab_lookup(d, c, node, off, &idx);

	if (!s) {
		STAT_INC(d, bad_objects);
		log_warn_limited(
		    "cache %s node %u: offset %#llx from client memory is not one of its objects; "
		    "dropped",
		    c->shm->name, node, (unsigned long long)off);
		return -EINVAL;
	}
	if (s->map[idx / 64] & (1ull << (idx % 64))) {
		STAT_INC(d, double_frees);
		log_warn_limited("cache %s: object at offset %#llx returned twice (double free); dropped",
			 c->shm->name, (unsigned long long)off);
		return -EALREADY;
	}
	s->map[idx / 64] |= 1ull << (idx % 64);
	s->nfree++;
	OWNED_ADD(c->nodes[node].held, 1);
	slab_relist(c, &c->nodes[node], s);
	return 0;
}

uint32_t slab_release_free(struct slabd *d, struct cache *c, uint32_t node, uint32_t keep)
{
	struct cache_node *cn = &c->nodes[node];
	struct zone *z = &d->zone[cache_zone(d, c, node)];
	uint32_t released = 0, i;

	if (c->max_objs)
		return 0; /* a pool keeps its memory: its buffers' IOVAs stay valid */
	while (cn->free.nr > keep) {
		struct slab *s = cn->free.first;
		list_del(&cn->free, s);
		pthread_mutex_lock(&z->lock);
		for (i = 0; i < (1u << c->order); i++) {
			__atomic_store_n(&d->pages[s->head + i].kind, SLABD_PAGE_FREE, __ATOMIC_RELEASE);
			d->pages[s->head + i].cache = 0;
			d->page_slab[s->head + i] = NULL;
		}
		buddy_free(&z->buddy, s->head - z->first_page, c->order);
		pthread_mutex_unlock(&z->lock);
		OWNED_ADD(cn->held, -(uint64_t)c->objs);
		OWNED_ADD(cn->nr_slabs, -1);
		free(s);
		released++;
		STAT_INC(d, slabs_released);
	}
	if (released) {
		__atomic_fetch_add(&d->ctl->large_seq, 1, __ATOMIC_RELEASE);
		slabd_futex_wake(&d->ctl->large_seq);
	}
	return released;
}

int large_alloc_zone(struct slabd *d, struct zone *z, uint64_t npages, uint64_t *ret_off)
{
	uint32_t i, page;
	int64_t p;

	pthread_mutex_lock(&z->lock);
	p = buddy_alloc_exact(&z->buddy, (uint32_t)npages);
	if (p >= 0 && zone_claim_locked(d, z, (uint32_t)p, (uint32_t)npages) < 0) {
		buddy_free_exact(&z->buddy, (uint32_t)p, (uint32_t)npages);
		p = -1;
	}
	if (p < 0) {
		pthread_mutex_unlock(&z->lock);
		return -ENOMEM;
	}
	page = z->first_page + (uint32_t)p;
	for (i = 1; i < npages; i++) {
		d->pages[page + i].head = page;
		d->pages[page + i].kind = SLABD_PAGE_LARGE_TAIL;
	}
	d->pages[page].head = (uint32_t)npages;
	__atomic_store_n(&d->pages[page].kind, SLABD_PAGE_LARGE, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&z->lock);
	*ret_off = d->sb->zones_off + ((uint64_t)page << SLABD_PAGE_SHIFT);
	return 0;
}

int large_alloc(struct slabd *d, uint64_t size, int node_os, int thisnode, uint64_t *ret_off)
{
	uint64_t npages = (size + SLABD_PAGE_SIZE - 1) >> SLABD_PAGE_SHIFT;
	uint32_t n, first = 0, tries;

	if (!size || npages > UINT32_MAX)
		return -EINVAL;
	if (node_os >= 0) {
		for (n = 0; n < d->sb->nr_nodes; n++)
			if ((int)d->nodes[n].os_index == node_os)
				break;
		if (n == d->sb->nr_nodes)
			return -EINVAL;
		first = n;
	}
	/* Node zones only (the DMA zone serves GFP_DMA alone: dma_large_alloc): the node asked
	 * for (or node 0), then the others nearest first; __GFP_THISNODE: that node only. */
	for (tries = 0; tries < (thisnode ? 1u : d->sb->nr_nodes); tries++) {
		uint32_t ni = d->nodes[first].order[tries];

		if (ni < d->sb->nr_nodes && large_alloc_zone(d, &d->zone[d->nodes[ni].zone], npages, ret_off) == 0)
			return 0;
	}
	return -ENOMEM;
}

int large_free(struct slabd *d, uint64_t off)
{
	uint64_t zoff = off - d->sb->zones_off;
	uint32_t page, n, i;
	struct zone *z;

	if (off < d->sb->zones_off || zoff >= d->sb->zones_size || (zoff & (SLABD_PAGE_SIZE - 1)))
		goto bad;
	page = (uint32_t)(zoff >> SLABD_PAGE_SHIFT);
	if (d->pages[page].zone >= d->nr_zones)
		goto bad;
	z = &d->zone[d->pages[page].zone];
	pthread_mutex_lock(&z->lock);
	n = d->pages[page].head;
	if (d->pages[page].kind != SLABD_PAGE_LARGE || !n || page + (uint64_t)n > z->first_page + z->nr_pages) {
		pthread_mutex_unlock(&z->lock);
		goto bad;
	}
	for (i = 0; i < n; i++) {
		d->pages[page + i].kind = SLABD_PAGE_FREE;
		d->pages[page + i].head = 0;
	}
	buddy_free_exact(&z->buddy, page - z->first_page, n);
	pthread_mutex_unlock(&z->lock);
	__atomic_fetch_add(&d->ctl->large_seq, 1, __ATOMIC_RELEASE);
	slabd_futex_wake(&d->ctl->large_seq);
	return 0;
bad:
	STAT_INC(d, bad_objects);
	log_warn_limited("large free of offset %#llx: not the start of a large allocation; dropped",
		 (unsigned long long)off);
	return -EINVAL;
}
