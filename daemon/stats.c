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

static void cache_figures(struct slabd *d, struct cache *c, struct slabd_wire_stats *st)
{
	uint64_t objs = 0, held = 0, slabs = 0, pcpu = 0, depot = 0, total;
	uint32_t n, cpu;

	for (n = 0; n < d->sb->nr_nodes; n++) {
		const struct cache_node *cn = &c->nodes[n];
		const struct slabd_shm_depot *dp = daemon_depot(d, c->id, n);

		slabs += __atomic_load_n(&cn->nr_slabs, __ATOMIC_RELAXED);
		held += __atomic_load_n(&cn->held, __ATOMIC_RELAXED);
		depot += (uint64_t)(slabd_stack_count(__atomic_load_n(&dp->full, __ATOMIC_RELAXED)) +
				    slabd_stack_count(__atomic_load_n(&dp->reserve, __ATOMIC_RELAXED))) *
			 c->mag_objs;
	}
	for (cpu = 0; cpu < d->sb->nr_cpus; cpu++) {
		const struct slabd_shm_pcpu *p =
			(const void *)(d->pcpu + ((uint64_t)c->id * d->sb->nr_cpus << SLABD_PCPU_SHIFT) +
				       ((uint64_t)cpu << SLABD_PCPU_SHIFT));
		uint32_t k = __atomic_load_n(&p->count, __ATOMIC_RELAXED);
		pcpu += k > SLABD_PCPU_SLOTS ? 0 : k;
	}
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
	uint32_t i, z;

	if (id) {
		struct cache *c = id < d->sb->max_caches ? cache_get(d, id) : NULL;
		if (!c)
			return -EINVAL;
		st->cache = id;
		memcpy(st->name, c->shm->name, sizeof(st->name));
		st->name[sizeof(st->name) - 1] = 0;
		st->object_size = c->size;
		cache_figures(d, c, st);
		return 0;
	}
	for (i = 1; i < d->sb->max_caches; i++) {
		struct cache *c = cache_get(d, i);
		if (!c)
			continue;
		st->caches++;
		cache_figures(d, c, st);
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
