/* SPDX-License-Identifier: MIT */
/*
 * pool.c - packet-buffer pools: named DMA caches of exactly n buffers, carved at once.
 *
 * A pool is a SLAB_CACHE_DMA cache whose object is [struct slabd_pktbuf header, 128 B]
 * [private area][headroom + data room] (proto/slabd_shm.h). What makes it a pool rather
 * than a cache:
 *   - every slab is carved when the pool is created (on the DMA zone's worker), so the
 *     pool's memory is reserved and creating it is where "out of DMA memory" shows;
 *   - it never grows and never gives a slab back while it lives (slab.c), so a buffer's
 *     IOVA is valid until the pool is freed, which waits for every buffer, and
 *     exhaustion means n buffers are out;
 *   - it has no emergency reserve: every buffer is reachable by every allocator.
 * Freeing a pool (slabd_pktpool_free) is kmem_cache_destroy's path in server.c with two
 * jobs of its own: pool_gather_node takes every buffer back and counts those still out
 * (the held-back tail is no buffer), and only when none is out pool_release_node frees
 * the tail and gives every slab back to the DMA zone. Until then nothing is released: a
 * refused free leaves the pool exactly as it was, n buffers at the same IOVAs.
 * No buffer straddles a hugepage (so in pa mode each is physically contiguous): a slab is
 * at most 256 KiB here and buddy-aligned inside the 2 MiB-aligned zone, so it lies in one
 * hugepage. With 4 KiB shmem backing in pa mode the unit of physical contiguity is the
 * 4 KiB page: buffers then take a power-of-two stride up to 4 KiB, so none crosses a page,
 * and larger buffers are refused with the reason.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include <slabd/gfp.h>

#include "log.h"
#include "slabd_daemon.h"
#include "slabd_wire.h"

struct populate_job {
	struct cache *c;
	uint32_t n;
	int err;
};

static void populate_on_worker(struct slabd *d, uint32_t node, void *arg)
{
	struct populate_job *j = arg;

	j->err = pool_populate(d, j->c, node, j->n);
}

static void noop(struct slabd *d, uint32_t node, void *arg)
{
	(void)d;
	(void)node;
	(void)arg;
}

void pool_gather_node(struct slabd *d, uint32_t node, void *arg)
{
	struct cache_op_result *res = arg;
	struct cache *c = res->c;
	uint64_t out = cache_gather(d, node, c);
	uint64_t tail =
	    c->phantom && d->zone_tab[d->pages[c->phantom_head].zone].node == node ? c->phantom : 0;

	/* the tail is never in the slabs' free maps: it counts as out, and is not */
	res->live += out > tail ? out - tail : 0;
}

void pool_release_node(struct slabd *d, uint32_t node, void *arg)
{
	struct cache_op_result *res = arg;

	res->bytes += (uint64_t)pool_depopulate(d, res->c, node)
		      << (SLABD_PAGE_SHIFT + res->c->order);
}

int pool_create(struct slabd *d, const struct slabd_wire_pool_create *m, const char **ret_why)
{
	uint32_t priv = (m->priv_size + 7) & ~7u, home, size, align = 64, stride;
	struct populate_job job;
	struct slabd_shm_cache *sc;
	struct cache *c;
	int id;

	if (d->dma_zone == SLABD_NO_ZONE) {
		*ret_why = "this slabd has no DMA zone (dma_zone_size = 0)";
		return -ENODEV;
	}
	home = d->zone_tab[d->dma_zone].node;
	if (!m->n || m->n > (1u << 24) || !m->data_room || (uint64_t)m->headroom + m->data_room > SLABD_PKTBUF_MAX_BUF ||
	    m->priv_size > SLABD_PKTBUF_MAX_PRIV) {
		*ret_why = "n must be 1..16777216, data_room at least 1, headroom + data_room at most 65535, "
			   "priv_size at most 65528";
		return -EINVAL;
	}
	if (m->node >= 0 && (uint32_t)m->node != d->nodes[home].os_index) {
		*ret_why = "the DMA zone is on another NUMA node: pass -1 (any) or its node";
		return -EINVAL;
	}
	id = cache_find(d, m->name);
	if (id >= 0) {
		sc = &d->cache_tab[id];
		if (__atomic_load_n(&sc->pool_n, __ATOMIC_ACQUIRE) == m->n && sc->pool_priv == m->priv_size &&
		    sc->pool_headroom == m->headroom && sc->pool_data_room == m->data_room)
			return id;
		*ret_why = "a cache or pool of that name exists with another geometry";
		return -EEXIST;
	}
	size = SLABD_PKTBUF_HDR + priv + m->headroom + m->data_room;
	if (d->sb->iova_mode == SLABD_IOVA_PA && d->backing == SLABD_BACKING_SHMEM_4K) {
		if (size > SLABD_PAGE_SIZE) {
			*ret_why = "without hugepages, iova_mode = pa keeps a buffer physically contiguous only "
				   "inside a 4 KiB page: header (128) + priv + headroom + data room must fit in 4096; "
				   "reserve hugepages or use iova_mode = vfio";
			return -EINVAL;
		}
		for (align = 64; align < size; align <<= 1)
			;
	}
	id = cache_free_id(d);
	if (id < 0) {
		*ret_why = "the cache table is full (max_caches)";
		return id;
	}
	/* Published (ACTIVE in meta) only once it is whole, below: a daemon killed before
	 * left an active plain cache of the pool's name, rebuilt as one at the restart, and
	 * the creation the client sends again was refused (EEXIST) for good. Now it leaves
	 * an entry that is not active (its slabs carved so far stay allocated). */
	c = cache_create_unpublished(d, (uint32_t)id, m->name, size, align,
				     SLAB_CACHE_DMA | SLAB_HWCACHE_ALIGN);
	if (!c) {
		*ret_why = "out of memory";
		return -ENOMEM;
	}
	stride = c->size;
	if (((uint64_t)SLABD_PAGE_SIZE << c->order) > d->sb->hugepage_size) {
		/* cannot happen with the sizes allowed above; refuse rather than straddle */
		*ret_why = "internal: a pool slab would span hugepages";
		job.err = -EINVAL;
		goto undo;
	}
	c->reserve = 0;
	job.c = c;
	job.n = m->n;
	job.err = 0;
	worker_call(d, home, populate_on_worker, &job);
	if (job.err < 0) {
		*ret_why = "not enough free memory in the DMA zone (dma_zone_size)";
		goto undo;
	}
	sc = c->shm;
	sc->pool_priv = m->priv_size;
	sc->pool_headroom = m->headroom;
	sc->pool_data_room = m->data_room;
	__atomic_store_n(&sc->pool_n, m->n, __ATOMIC_RELEASE);
	cache_publish(d, c);
	log_info("pool %s: %u buffers of %u + %u bytes (priv %u), stride %u, %u per %u KiB slab", m->name, m->n,
		 m->headroom, m->data_room, m->priv_size, stride, c->objs, (SLABD_PAGE_SIZE << c->order) >> 10);
	return id;
undo:
	__atomic_store_n(&c->dying, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&c->shm->state, SLABD_CACHE_UNUSED, __ATOMIC_RELEASE);
	__atomic_store_n(&d->caches[id], NULL, __ATOMIC_RELEASE);
	for (home = 0; home < d->sb->nr_nodes; home++)
		worker_call(d, home, noop, NULL); /* no worker round still sees it */
	cache_free(d, c);
	return job.err;
}
