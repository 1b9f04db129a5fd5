/* SPDX-License-Identifier: MIT */
/*
 * stats.c - where the memory is, per cache and in total, for slabctl.
 *
 * Read from the control thread without stopping the workers: slab counts and the
 * daemon's held objects are integers the workers update, read here racily (a snapshot
 * may be off by one slab); per-CPU and depot figures come from client-writable memory,
 * bounded before use, and are approximate by nature. Nothing here is followed.
 */
#include <errno.h>
#include <string.h>

#include "slabd_daemon.h"
#include "slabd_ops.h"
#include "slabd_wire.h"

/* Objects in @cpu's remote-free stack (several nodes only; of cache @id, or of any cache
 * when @id is 0) and their bytes: counted with the per-CPU caches, which is where they are
 * on their way home from. */
static uint64_t remote_scan(struct slabd *d, uint32_t cpu, uint32_t id, uint64_t *bytes)
{
	const struct slabd_shm_pcpu *r = (const void *)(d->remote + ((uint64_t)cpu << SLABD_PCPU_SHIFT));
	uint32_t k = __atomic_load_n(&r->count, __ATOMIC_RELAXED), i;
	uint64_t n = 0;

	for (i = 0; d->sb->nr_nodes > 1 && k <= SLABD_PCPU_SLOTS && i < k; i++) {
		uint64_t off = __atomic_load_n(&r->slots[i], __ATOMIC_RELAXED), zoff = off - d->sb->zones_off;
		const struct slabd_shm_page *pg;
		struct cache *c;

		if (off < d->sb->zones_off || zoff >= d->sb->zones_size)
			continue;
		pg = &d->pages[zoff >> SLABD_PAGE_SHIFT];
		c = pg->kind == SLABD_PAGE_SLAB && pg->cache < d->sb->max_caches ? cache_get(d, pg->cache) : NULL;
		if (!c || (id && pg->cache != id))
			continue;
		n++;
		*bytes += c->size;
	}
	return n;
}

/* Objects in the magazines on the depot stack at @head: their counts, read while clients
 * pop and push them, so an estimate. The walk is bounded by the head's count and stops at
 * a link out of range; a count above SLABD_MAG_SLOTS reads as that. (A handoff's
 * magazines hold up to a whole stack, the daemon's SLABD_MAG_BATCH: the number of
 * magazines says little.) Every step spends one of *@walk, which the caller sets to the
 * number of magazines: a client-written loop (a magazine linked to itself under a head
 * count of thousands) then costs one pass over the array per request, not one per
 * stack. */
static uint64_t stack_objects(struct slabd *d, const uint64_t *head, uint32_t *walk)
{
	uint64_t h = __atomic_load_n(head, __ATOMIC_ACQUIRE), n = 0;
	uint32_t idx = slabd_stack_top(h), left = slabd_stack_count(h), k;

	while (idx && idx <= d->sb->nr_mags && left-- && *walk) {
		const struct slabd_shm_mag *m = &d->mags[idx - 1];

		--*walk;
		k = __atomic_load_n(&m->count, __ATOMIC_RELAXED);
		n += k > SLABD_MAG_SLOTS ? SLABD_MAG_SLOTS : k;
		idx = __atomic_load_n(&m->next, __ATOMIC_RELAXED);
	}
	return n;
}

static void cache_figures(struct slabd *d, struct cache *c, struct slabd_wire_stats *st, uint32_t *walk)
{
	uint64_t objs = 0, held = 0, slabs = 0, pcpu = 0, depot = 0, total, unused = 0;
	uint32_t n, cpu;

	for (n = 0; n < d->sb->nr_nodes; n++) {
		const struct cache_node *cn = &c->nodes[n];
		const struct slabd_shm_depot *dp = daemon_depot(d, c->id, n);

		slabs += __atomic_load_n(&cn->nr_slabs, __ATOMIC_RELAXED);
		held += __atomic_load_n(&cn->held, __ATOMIC_RELAXED);
		depot += stack_objects(d, &dp->full, walk) + stack_objects(d, &dp->reserve, walk);
	}
	for (cpu = 0; cpu < d->sb->nr_cpus; cpu++) {
		const struct slabd_shm_pcpu *p =
			(const void *)(d->pcpu + ((uint64_t)c->id * d->sb->nr_cpus << SLABD_PCPU_SHIFT) +
				       ((uint64_t)cpu << SLABD_PCPU_SHIFT));
		uint32_t k = __atomic_load_n(&p->count, __ATOMIC_RELAXED);
		pcpu += k > SLABD_PCPU_SLOTS ? 0 : k;
	}
	for (cpu = 0; cpu < d->sb->nr_cpus; cpu++)
		pcpu += remote_scan(d, cpu, c->id, &unused);
	objs = slabs * c->objs - c->phantom; /* a pool's held-back tail is not an object */
	total = held + pcpu + depot;
	if (total > objs) /* the snapshot raced with a refill or a drain */
		depot = objs > held + pcpu ? objs - held - pcpu : 0, total = objs;
	st->slabs += slabs;
	st->in_use += (objs - total) * c->size;
	st->in_pcpu += pcpu * c->size;
	st->in_depot += depot * c->size;
	st->in_slabs += held * c->size;
}

int stats_fill(struct slabd *d, uint32_t id, struct slabd_wire_stats *st)
{
	uint32_t i, z, walk = d->sb->nr_mags;

	if (id) {
		struct cache *c = id < d->sb->max_caches ? cache_get(d, id) : NULL;
		if (!c)
			return -EINVAL;
		st->cache = id;
		memcpy(st->name, c->shm->name, sizeof(st->name));
		st->name[sizeof(st->name) - 1] = 0;
		st->object_size = c->size;
		cache_figures(d, c, st, &walk);
		return 0;
	}
	for (i = 1; i < d->sb->max_caches; i++) {
		struct cache *c = cache_get(d, i);
		if (!c)
			continue;
		st->caches++;
		cache_figures(d, c, st, &walk);
	}
	for (z = 0; z < d->nr_zones; z++) {
		struct zone *zn = &d->zone[z];
		uint32_t p, large = 0;

		pthread_mutex_lock(&zn->lock);
		for (p = zn->first_page; p < zn->first_page + zn->nr_pages; p++)
			large += d->pages[p].kind == SLABD_PAGE_LARGE || d->pages[p].kind == SLABD_PAGE_LARGE_TAIL;
		st->zone_free += ((uint64_t)zn->buddy.nr_free << SLABD_PAGE_SHIFT) - zn->released_bytes;
		st->released += zn->released_bytes;
		st->zone_size += (uint64_t)zn->nr_pages << SLABD_PAGE_SHIFT;
		pthread_mutex_unlock(&zn->lock);
		st->in_use += (uint64_t)large << SLABD_PAGE_SHIFT;
	}
	for (i = 0; i < SLABD_MAX_CLIENTS; i++) {
		if (!__atomic_load_n(&d->clients[i].id, __ATOMIC_RELAXED))
			continue;
		st->clients++;
		st->alloc_failures += __atomic_load_n(&d->clients[i].alloc_failures, __ATOMIC_RELAXED);
	}
	st->alloc_failures += d->stats.failures_of_gone_clients;
	st->backing = d->backing;
	return 0;
}

/* ---------------------------------------------------------------- per item, for slabctl and metrics -- */

static const struct slabd_shm_pcpu *pcpu_of(struct slabd *d, uint32_t cache, uint32_t cpu)
{
	return (const void *)(d->pcpu + ((uint64_t)cache * d->sb->nr_cpus << SLABD_PCPU_SHIFT) +
			      ((uint64_t)cpu << SLABD_PCPU_SHIFT));
}

int stats_cache_info(struct slabd *d, uint32_t from, struct slabd_wire_cache_info *ci)
{
	struct slabd_wire_stats st;
	struct cache *c = NULL;
	uint32_t id, n, cpu, pool_n, walk = d->sb->nr_mags;

	for (id = from ? from : 1; id < d->sb->max_caches; id++)
		if ((c = cache_get(d, id)))
			break;
	if (!c)
		return -ENOENT;
	memset(&st, 0, sizeof(st));
	cache_figures(d, c, &st, &walk);
	ci->cache = id;
	memcpy(ci->name, c->shm->name, sizeof(ci->name));
	ci->name[sizeof(ci->name) - 1] = 0;
	ci->obj_size = c->shm->obj_size;
	ci->size = c->size;
	ci->align = c->shm->align;
	ci->flags = c->shm->flags;
	ci->order = c->order;
	ci->objs_per_slab = c->objs;
	ci->mag_objs = c->mag_objs;
	ci->zone_kind = c->shm->zone_kind;
	ci->gen = __atomic_load_n(&c->shm->gen, __ATOMIC_RELAXED);
	pool_n = __atomic_load_n(&c->shm->pool_n, __ATOMIC_ACQUIRE); /* published last */
	if (pool_n && d->dma_zone != SLABD_NO_ZONE) { /* a pool lives in the DMA zone */
		ci->pool_n = pool_n;
		ci->pool_priv = c->shm->pool_priv;
		ci->pool_headroom = c->shm->pool_headroom;
		ci->pool_data_room = c->shm->pool_data_room;
		ci->pool_node = d->zone_tab[d->dma_zone].node;
		ci->pool_iova_mode = d->sb->iova_mode;
	}
	ci->nr_nodes = d->sb->nr_nodes;
	ci->slabs = st.slabs;
	ci->objs = st.slabs * c->objs;
	ci->in_use = st.in_use / c->size;
	ci->in_pcpu = st.in_pcpu / c->size;
	ci->in_depot = st.in_depot / c->size;
	ci->in_slabs = st.in_slabs / c->size;
	ci->active_slabs = st.slabs;
	for (n = 0; n < d->sb->nr_nodes; n++) {
		uint32_t empty = __atomic_load_n(&c->nodes[n].free.nr, __ATOMIC_RELAXED);
		ci->active_slabs -= empty < ci->active_slabs ? empty : ci->active_slabs;
		ci->depot_misses += __atomic_load_n(&daemon_depot(d, id, n)->misses, __ATOMIC_RELAXED);
	}
	for (cpu = 0; cpu < d->sb->nr_cpus; cpu++) {
		const struct slabd_shm_pcpu_stat *ps =
		    &d->pcpu_stats[slabd_shm_pcpu_stat_index(d->sb->max_caches, id, cpu)];
		uint32_t cap = __atomic_load_n(&pcpu_of(d, id, cpu)->capacity, __ATOMIC_RELAXED);

		if (cap <= SLABD_PCPU_SLOTS && cap > ci->pcpu_capacity)
			ci->pcpu_capacity = cap;
		ci->alloc_misses += __atomic_load_n(&ps->alloc_misses, __ATOMIC_RELAXED);
		ci->free_misses += __atomic_load_n(&ps->free_misses, __ATOMIC_RELAXED);
	}
	return 0;
}

int stats_cpu_info(struct slabd *d, uint32_t cpu, struct slabd_wire_cpu_info *pi)
{
	uint32_t id;

	if (cpu >= d->sb->nr_cpus)
		return -ENOENT;
	pi->cpu = cpu;
	pi->node = d->cpus[cpu].node;
	pi->flags = d->topo.cpu_real[cpu] ? SLABD_CPU_ONLINE : 0;
	pi->nr_cpus = d->sb->nr_cpus;
	for (id = 1; id < d->sb->max_caches; id++) {
		const struct slabd_shm_pcpu_stat *ps =
		    &d->pcpu_stats[slabd_shm_pcpu_stat_index(d->sb->max_caches, id, cpu)];
		struct cache *c = cache_get(d, id);
		uint32_t k;

		if (!c)
			continue;
		k = __atomic_load_n(&pcpu_of(d, id, cpu)->count, __ATOMIC_RELAXED);
		if (k <= SLABD_PCPU_SLOTS) {
			pi->pcpu_objs += k;
			pi->pcpu_bytes += (uint64_t)k * c->size;
		}
		pi->alloc_misses += __atomic_load_n(&ps->alloc_misses, __ATOMIC_RELAXED);
		pi->free_misses += __atomic_load_n(&ps->free_misses, __ATOMIC_RELAXED);
	}
	pi->alloc_misses += __atomic_load_n(&d->stats.gone_alloc_misses[cpu], __ATOMIC_RELAXED);
	pi->free_misses += __atomic_load_n(&d->stats.gone_free_misses[cpu], __ATOMIC_RELAXED);
	pi->pcpu_objs += remote_scan(d, cpu, 0, &pi->pcpu_bytes);
	return 0;
}

void stats_cache_gone(struct slabd *d, uint32_t id)
{
	uint32_t cpu;

	for (cpu = 0; cpu < d->sb->nr_cpus && cpu < SLABD_MAX_CPUS; cpu++) {
		const struct slabd_shm_pcpu_stat *ps =
		    &d->pcpu_stats[slabd_shm_pcpu_stat_index(d->sb->max_caches, id, cpu)];

		__atomic_fetch_add(&d->stats.gone_alloc_misses[cpu],
				   __atomic_load_n(&ps->alloc_misses, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
		__atomic_fetch_add(&d->stats.gone_free_misses[cpu],
				   __atomic_load_n(&ps->free_misses, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
	}
}

int stats_node_info(struct slabd *d, uint32_t node, struct slabd_wire_node_info *ni)
{
	struct zone *zn;
	uint32_t p, large = 0;

	if (node >= d->sb->nr_nodes || d->nodes[node].zone >= d->nr_zones)
		return -ENOENT;
	zn = &d->zone[d->nodes[node].zone];
	ni->node = node;
	ni->os_index = d->nodes[node].os_index;
	ni->flags = d->nodes[node].flags;
	ni->nr_cpus = d->nodes[node].nr_cpus;
	ni->nr_nodes = d->sb->nr_nodes;
	pthread_mutex_lock(&zn->lock);
	for (p = zn->first_page; p < zn->first_page + zn->nr_pages; p++)
		large += d->pages[p].kind == SLABD_PAGE_LARGE || d->pages[p].kind == SLABD_PAGE_LARGE_TAIL;
	ni->zone_size = (uint64_t)zn->nr_pages << SLABD_PAGE_SHIFT;
	ni->zone_free = ((uint64_t)zn->buddy.nr_free << SLABD_PAGE_SHIFT) - zn->released_bytes;
	ni->zone_released = zn->released_bytes;
	ni->zone_in_use = (uint64_t)(zn->nr_pages - zn->buddy.nr_free) << SLABD_PAGE_SHIFT;
	pthread_mutex_unlock(&zn->lock);
	ni->large_bytes = (uint64_t)large << SLABD_PAGE_SHIFT;
	return 0;
}

int stats_client_info(struct slabd *d, uint32_t from, struct slabd_wire_client_info *ci)
{
	uint32_t i;

	for (i = from; i < SLABD_MAX_CLIENTS; i++) {
		uint32_t id = __atomic_load_n(&d->clients[i].id, __ATOMIC_ACQUIRE);
		if (!id)
			continue;
		ci->slot = i;
		ci->id = id;
		ci->pid = d->clients[i].pid;
		ci->alloc_failures = __atomic_load_n(&d->clients[i].alloc_failures, __ATOMIC_RELAXED);
		return 0;
	}
	return -ENOENT;
}
