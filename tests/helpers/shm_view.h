/* SPDX-License-Identifier: MIT */
/*
 * shm_view.h - where the client-writable structures of an attached region are, for the
 * tests that scribble over them (test_hostile, test_slabctl, test_metrics): per-CPU and
 * remote-free stacks, depots, magazines, control words. Offsets as in slabd_shm.h.
 */
#ifndef SLABD_TEST_SHM_VIEW_H
#define SLABD_TEST_SHM_VIEW_H

#include <stdint.h>
#include <string.h>

#include <slabd/slabd.h>

#include "slabd_ops.h"
#include "slabd_shm.h"

struct shm_view {
	char *base;
	struct slabd_shm_super *sb;
	struct slabd_shm_ctl *ctl;
	struct slabd_shm_depot *depots;
	struct slabd_shm_mag *mags;
	char *pcpu, *remote;
};

/* shm_view_get: the view of the region this process is attached to; 0 or -1. */
static inline int shm_view_get(struct shm_view *g)
{
	struct slabd_attach_info ai;

	if (slabd_attach_info(&ai) < 0)
		return -1;
	g->base = (char *)(uintptr_t)ai.base;
	g->sb = (struct slabd_shm_super *)g->base;
	g->ctl = (void *)(g->base + g->sb->percpu_off + g->sb->ctl_off);
	g->depots = (void *)(g->base + g->sb->percpu_off + g->sb->depot_off);
	g->mags = (void *)(g->base + g->sb->percpu_off + g->sb->mag_off);
	g->pcpu = g->base + g->sb->percpu_off + g->sb->pcpu_off;
	g->remote = g->base + g->sb->percpu_off + g->sb->remote_off;
	return 0;
}

/* The per-CPU stack of (@cache, @cpu). */
static inline struct slabd_shm_pcpu *shm_pcpu(const struct shm_view *g, uint32_t cache,
					      uint32_t cpu)
{
	return (void *)(g->pcpu + (((uint64_t)cache * g->sb->nr_cpus + cpu) << SLABD_PCPU_SHIFT));
}

/* The remote-free stack of @cpu. */
static inline struct slabd_shm_pcpu *shm_remote(const struct shm_view *g, uint32_t cpu)
{
	return (void *)(g->remote + ((uint64_t)cpu << SLABD_PCPU_SHIFT));
}

static inline struct slabd_shm_depot *shm_depot(const struct shm_view *g, uint32_t cache,
						uint32_t node)
{
	return &g->depots[slabd_shm_depot_index(g->sb, cache, node)];
}

/* The cache id of the object at @p, from the page table (read-only meta). */
static inline uint32_t shm_cache_of(const struct shm_view *g, const void *p)
{
	const struct slabd_shm_page *pages = (const void *)(g->base + g->sb->page_table_off);
	return pages[(slabd_ptr_to_off(p) - g->sb->zones_off) >> SLABD_PAGE_SHIFT].cache;
}

/* The cache table's entry of @id (read-only meta). */
static inline const struct slabd_shm_cache *shm_cache(const struct shm_view *g, uint32_t id)
{
	return (const struct slabd_shm_cache *)(g->base + g->sb->cache_table_off) + id;
}

/* The id of the active cache named @name, or -1. */
static inline int shm_cache_find(const struct shm_view *g, const char *name)
{
	uint32_t id;

	for (id = 1; id < g->sb->max_caches; id++) {
		const struct slabd_shm_cache *c = shm_cache(g, id);

		if (__atomic_load_n(&c->state, __ATOMIC_ACQUIRE) == SLABD_CACHE_ACTIVE &&
		    !strncmp(c->name, name, sizeof(c->name)))
			return (int)id;
	}
	return -1;
}

/* Wake the daemon's workers now instead of at their next tick. */
static inline void shm_kick(const struct shm_view *g)
{
	__atomic_fetch_add(&g->ctl->kick, 1, __ATOMIC_RELEASE);
	slabd_futex_wake(&g->ctl->kick);
}

#endif
