/* SPDX-License-Identifier: MIT */
/*
 * debug.c - debug mode and owner tracking, the daemon's side.
 *
 * Owns: which caches have their debug checks on (slabd_shm_cache.debug, debug_epoch,
 * trailer in the read-only cache table), the "debug" config key, the DEBUG request
 * (slabctl debug), and owner reclaim: giving back what a dead client still owned.
 *
 * The checks themselves run in the clients (lib/debug.c): a debug cache's per-CPU stacks
 * have capacity 0, so each allocation and free of it misses into the library's slow
 * path. The daemon only switches: on, it bumps the cache's epoch, publishes the flags,
 * sets every per-CPU capacity to 0 and drains the stacks (running on each CPU, like every
 * drain), so no object freed before the switch is handed out by a fast path afterwards;
 * off, it clears the flags and the worker's tuning restores the capacities. Off, nothing
 * of this costs the fast path anything: it is the same code with the same stacks.
 *
 * Geometry: a cache created with SLAB_RED_ZONE or SLAB_STORE_USER (or a kmalloc cache of
 * a daemon configured with "debug = redzone" or "store_user") has a trailer in each slot,
 * [object][red zone gap][struct slabd_shm_track], so a run-time switch can turn on every
 * check for it. A cache created without room cannot grow its slots while objects are out:
 * switching it on at run time gives poisoning with the pointer and double-free checks
 * (SLAB_POISON), whatever was asked; the reply says what is on.
 *
 * Owner reclaim (invariant 3): when an attached client's connection drops, each node's
 * worker gathers every free object of the caches with SLAB_STORE_USER on back into its
 * slabs (as a shrink does), then walks the slabs: an object its own bitmap says is
 * allocated, whose track record (client-writable, so untrusted) says "allocated in this
 * epoch, owned by the dead client", goes back through slab_put, which refuses anything
 * that is not an allocated object. A forged record can therefore make the daemon take
 * back an object of a live client (as that client's own kfree could), never free a free
 * object twice nor crash it.
 *
 * Threads: the control thread runs debug_request and debug_client_gone; the per-node
 * parts run on the node's worker (worker_call).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <slabd/gfp.h>

#include "debug.h"
#include "log.h"
#include "slabd_daemon.h"
#include "slabd_wire.h"

_Static_assert(SLABD_DEBUG_RED_ZONE == SLAB_RED_ZONE && SLABD_DEBUG_POISON == SLAB_POISON &&
		       SLABD_DEBUG_STORE_USER == SLAB_STORE_USER,
	       "slabd_shm_cache.debug holds the public SLAB_* values");

static uint64_t reclaimed_total; /* objects given back from dead clients */

int debug_parse(const char *s, uint32_t *ret_flags)
{
	char buf[128], *tok, *save = NULL;
	uint32_t f = 0;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	for (tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		if (!strcmp(tok, "off") || !strcmp(tok, "none"))
			continue;
		else if (!strcmp(tok, "on") || !strcmp(tok, "all"))
			f |= SLABD_DEBUG_ALL;
		else if (!strcmp(tok, "poison"))
			f |= SLABD_DEBUG_POISON;
		else if (!strcmp(tok, "redzone") || !strcmp(tok, "red_zone"))
			f |= SLABD_DEBUG_RED_ZONE;
		else if (!strcmp(tok, "store_user"))
			f |= SLABD_DEBUG_STORE_USER;
		else
			return -EINVAL;
	}
	*ret_flags = f;
	return 0;
}

void debug_geometry(uint32_t size, uint32_t align, uint32_t flags, uint64_t *ret_stride, uint32_t *ret_trailer)
{
	uint64_t stride = ((uint64_t)size + align - 1) / align * align;
	uint32_t trailer = 0;

	if (flags & (SLABD_DEBUG_RED_ZONE | SLABD_DEBUG_STORE_USER)) {
		/* the red zone is the gap up to the 8-aligned trailer plus its first word */
		trailer = (size + 7u) & ~7u;
		stride = ((uint64_t)trailer + sizeof(struct slabd_shm_track) + align - 1) / align * align;
	}
	*ret_stride = stride;
	*ret_trailer = trailer;
}

/* What switching @want on gives a cache of this geometry (0: all it allows). */
static uint32_t debug_allowed(const struct slabd_shm_cache *sc, uint32_t want)
{
	want = want ? want & SLABD_DEBUG_ALL : SLABD_DEBUG_ALL;
	if (!sc->trailer)
		want = SLABD_DEBUG_POISON; /* its double-free check rests on the poison */
	return want;
}

/* OR of every cache's flags into cache 0's entry (the library's "check pointers of no
 * cache" switch). */
static void debug_publish_any(struct slabd *d)
{
	uint32_t id, any = 0;

	for (id = 1; id < d->sb->max_caches; id++)
		if (cache_get(d, id))
			any |= __atomic_load_n(&d->cache_tab[id].debug, __ATOMIC_RELAXED);
	__atomic_store_n(&d->cache_tab[0].debug, any, __ATOMIC_RELEASE);
}

void debug_cache_created(struct slabd *d, struct cache *c)
{
	if (c->shm->debug)
		__atomic_fetch_or(&d->cache_tab[0].debug, c->shm->debug, __ATOMIC_RELEASE);
}

void debug_cache_destroyed(struct slabd *d)
{
	debug_publish_any(d);
}

void cache_set_capacity(struct slabd *d, struct cache *c, uint32_t cap)
{
	uint32_t cpu;

	for (cpu = 0; cpu < d->sb->nr_cpus; cpu++) {
		struct slabd_shm_pcpu *p = (void *)(d->pcpu + ((uint64_t)c->id * d->sb->nr_cpus << SLABD_PCPU_SHIFT) +
						    ((uint64_t)cpu << SLABD_PCPU_SHIFT));
		__atomic_store_n(&p->capacity, cap, __ATOMIC_RELAXED);
	}
}

/* Switch @c to @flags (0: off). Control thread. */
static void debug_switch(struct slabd *d, struct cache *c, uint32_t flags)
{
	struct slabd_shm_cache *sc = c->shm;
	uint32_t old = __atomic_load_n(&sc->debug, __ATOMIC_RELAXED), n;

	if (flags == old)
		return;
	if (!flags) {
		__atomic_store_n(&sc->debug, 0, __ATOMIC_RELEASE);
		cache_set_capacity(d, c, c->pcpu_cap_default);
		log_notice("debug: cache %s: checks off, per-CPU stacks in use again", sc->name);
		return;
	}
	if (!old) {
		/* a new epoch: track states written before (or while off) are stale */
		__atomic_store_n(&sc->debug_epoch, sc->debug_epoch + 1, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&sc->debug, flags, __ATOMIC_RELEASE);
	cache_set_capacity(d, c, 0);
	for (n = 0; n < d->sb->nr_nodes; n++)
		worker_call(d, n, cache_drain_node, c);
	log_notice("debug: cache %s: checks on (%s%s%s), every allocation and free takes the slow path",
		   sc->name, flags & SLABD_DEBUG_POISON ? "poison " : "",
		   flags & SLABD_DEBUG_RED_ZONE ? "redzone " : "", flags & SLABD_DEBUG_STORE_USER ? "store_user" : "");
}

static uint64_t cache_errors(struct slabd *d, uint32_t id)
{
	return __atomic_load_n(&daemon_depot(d, id, 0)->debug_errors, __ATOMIC_RELAXED);
}

void debug_request(struct slabd *d, const struct slabd_wire_debug_req *m, struct slabd_wire_debug *r)
{
	uint32_t id, first, last;

	r->cache = m->cache;
	if (m->op > SLABD_DEBUG_OP_OFF || (m->flags & ~SLABD_DEBUG_ALL)) {
		r->err = -EINVAL;
		return;
	}
	if (m->cache == SLABD_DEBUG_ALL_CACHES) {
		first = 1;
		last = d->sb->max_caches - 1;
	} else {
		struct cache *c = m->cache && m->cache < d->sb->max_caches ? cache_get(d, m->cache) : NULL;
		if (!c || c->dying) {
			r->err = -ENOENT;
			return;
		}
		if (c->max_objs && m->op == SLABD_DEBUG_OP_ON) {
			r->err = -EINVAL; /* packet-buffer pools: the headers are the library's */
			return;
		}
		first = last = m->cache;
	}
	for (id = first; id <= last; id++) {
		struct cache *c = cache_get(d, id);
		if (!c || c->dying || c->max_objs)
			continue;
		if (m->op == SLABD_DEBUG_OP_ON)
			debug_switch(d, c, debug_allowed(c->shm, m->flags));
		else if (m->op == SLABD_DEBUG_OP_OFF)
			debug_switch(d, c, 0);
		r->flags |= __atomic_load_n(&c->shm->debug, __ATOMIC_RELAXED);
		r->caches += !!c->shm->debug;
		r->errors += cache_errors(d, id);
	}
	if (m->cache == SLABD_DEBUG_ALL_CACHES)
		r->errors += cache_errors(d, 0);
	r->reclaimed = __atomic_load_n(&reclaimed_total, __ATOMIC_RELAXED);
	if (m->op != SLABD_DEBUG_OP_QUERY)
		debug_publish_any(d);
	r->err = 0;
}

/* The flags as a log line's words ("poison redzone store_user", "off"). */
static const char *debug_names(uint32_t f, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s", f & SLABD_DEBUG_POISON ? "poison " : "",
		 f & SLABD_DEBUG_RED_ZONE ? "redzone " : "", f & SLABD_DEBUG_STORE_USER ? "store_user " : "",
		 f ? "" : "off ");
	buf[strlen(buf) - 1] = 0;
	return buf;
}

void debug_config_restart(struct slabd *d, uint32_t want)
{
	char wbuf[48], gbuf[48];
	uint32_t id, n = 0, got = 0, lacking = 0;

	for (id = SLABD_KMALLOC_FIRST; id < SLABD_FIRST_NAMED_CACHE; id++) {
		struct cache *c = cache_get(d, id);
		uint32_t f;

		if (!c || c->dying || c->max_objs)
			continue;
		f = want ? debug_allowed(c->shm, want) : 0;
		n += f != __atomic_load_n(&c->shm->debug, __ATOMIC_RELAXED);
		debug_switch(d, c, f);
		got |= f;
		lacking += want && f != want;
	}
	debug_publish_any(d);
	if (n)
		log_notice("debug: the \"debug\" key is %s, not what the region last ran with: "
			   "%u kmalloc caches switched as a fresh start would",
			   debug_names(want, wbuf, sizeof(wbuf)), n);
	if (lacking)
		log_warn("debug = %s: %u kmalloc caches were made without room for a red zone "
			 "and track record, so they check %s only; for every check stop the "
			 "region's clients and start on a fresh region",
			 debug_names(want, wbuf, sizeof(wbuf)), lacking, debug_names(got, gbuf, sizeof(gbuf)));
}

struct reclaim_job {
	uint32_t owner;
	uint64_t objects;
};

/* The cache of @id if it tracks owners now on @node (home there), else NULL. */
static struct cache *tracked(struct slabd *d, uint32_t id, uint32_t node)
{
	struct cache *c = id < d->sb->max_caches ? cache_get(d, id) : NULL;
	const struct slabd_shm_cache *sc;

	if (!c || c->dying || c->max_objs || cache_home_node(d, c, node) != node)
		return NULL;
	sc = c->shm;
	if (!(__atomic_load_n(&sc->debug, __ATOMIC_ACQUIRE) & SLABD_DEBUG_STORE_USER) || !sc->trailer ||
	    sc->trailer + sizeof(struct slabd_shm_track) > c->size)
		return NULL;
	return c;
}

/* Objects of slab @s (first page @page) of tracked cache @c owned by the dead client. */
static void reclaim_slab(struct slabd *d, struct cache *c, uint32_t node, struct slab *s, uint32_t page,
			 struct reclaim_job *job)
{
	uint32_t epoch = __atomic_load_n(&c->shm->debug_epoch, __ATOMIC_RELAXED), i;
	uint32_t alloc_state = (epoch << 2) | SLABD_TRACK_ALLOC, trailer = c->shm->trailer;

	for (i = 0; i < c->objs; i++) {
		uint64_t off = d->sb->zones_off + ((uint64_t)page << SLABD_PAGE_SHIFT) + (uint64_t)i * c->size;
		struct slabd_shm_track *t = (void *)(d->base + off + trailer);

		if (s->map[i / 64] & (1ull << (i % 64)))
			continue; /* free in our hands */
		if (__atomic_load_n(&t->state, __ATOMIC_RELAXED) != alloc_state ||
		    __atomic_load_n(&t->owner, __ATOMIC_RELAXED) != job->owner)
			continue;
		if (slab_check(d, c, node, off) != 0)
			continue;
		/* it is ours now: make it look as a debug free leaves it, so the next
		 * allocation's checks pass and a late kfree of it is a double free */
		memset(d->base + off, 0x6b, c->shm->obj_size); /* as lib/debug.c: whatever the flags */
		memset(d->base + off + c->shm->obj_size, 0xbb, trailer - c->shm->obj_size);
		__atomic_store_n(&t->redzone, SLABD_RED_INACTIVE, __ATOMIC_RELAXED);
		__atomic_store_n(&t->owner, 0, __ATOMIC_RELAXED);
		/* freed by us, at no call site: the library's reports say "owner reclaim" */
		__atomic_store_n(&t->free_addr, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&t->free_pid, d->sb->daemon_pid, __ATOMIC_RELAXED);
		__atomic_store_n(&t->state, (epoch << 2) | SLABD_TRACK_FREE, __ATOMIC_RELEASE);
		if (slab_put(d, c, node, off) == 0)
			job->objects++;
	}
}

/* Give back the objects of tracked caches on @node that the dead client owned: every
 * free object home first (what the bitmap then calls allocated is out), then one walk
 * over the zones' slabs. Node's worker. */
static void reclaim_node(struct slabd *d, uint32_t node, void *arg)
{
	struct reclaim_job *job = arg;
	uint32_t id, zones[2], nz = 0, k, page;

	for (id = 1; id < d->sb->max_caches; id++) {
		struct cache *c = tracked(d, id, node);
		if (c)
			cache_gather_depot(d, node, c);
	}
	zones[nz++] = d->nodes[node].zone;
	if (d->dma_zone != SLABD_NO_ZONE && d->zone_tab[d->dma_zone].node == node)
		zones[nz++] = d->dma_zone;
	for (k = 0; k < nz; k++) {
		struct zone *z = &d->zone[zones[k]];
		for (page = z->first_page; page < z->first_page + z->nr_pages; page++) {
			struct slab *s = d->page_slab[page];
			const struct slabd_shm_page *pg = &d->pages[page];
			struct cache *c;

			if (!s || s->head != page || pg->kind != SLABD_PAGE_SLAB ||
			    !(c = tracked(d, pg->cache, node)) || cache_zone(d, c, node) != zones[k])
				continue;
			reclaim_slab(d, c, node, s, page, job);
		}
	}
}

void debug_client_gone(struct slabd *d, uint32_t client_id, uint32_t pid)
{
	struct reclaim_job job = { client_id, 0 };
	uint32_t n;

	if (!client_id || !(__atomic_load_n(&d->cache_tab[0].debug, __ATOMIC_ACQUIRE) & SLABD_DEBUG_STORE_USER))
		return;
	for (n = 0; n < d->sb->nr_nodes; n++)
		worker_call(d, n, reclaim_node, &job);
	__atomic_fetch_add(&reclaimed_total, job.objects, __ATOMIC_RELAXED);
	if (job.objects)
		log_notice("owner tracking: client %u (pid %u) is gone; %llu objects it still owned are given back",
			   client_id, pid, (unsigned long long)job.objects);
}
