/* SPDX-License-Identifier: MIT */
/*
 * dma.c - the DMA zone: pinned memory whose every page has an IO virtual address.
 *
 * The DMA zone is the last zone of the zones segment (zone index nr_nodes), so it shares
 * the segment's memfd, backing (hugetlb when hugepages = auto|on finds them, else 4 KiB
 * shmem) and page table: kfree, ksize and the slab machinery work on it unchanged. What
 * differs:
 *   - it is mlock()ed by the daemon and pre-faulted, and never given back to the kernel
 *     (release.c scans node zones only): an IOVA handed to a device stays valid;
 *   - its IOVA table (meta, read-only for clients) has one uint64_t per 4 KiB page,
 *     filled once at start by iova.c; slabd_virt_to_iova() is a lookup plus an offset;
 *   - only DMA caches (dma-kmalloc-<size>, SLAB_CACHE_DMA, packet-buffer pools) and
 *     GFP_DMA page allocations take memory from it, and they are served by the worker of
 *     the zone's node alone (cache_home_node);
 *   - it is bound (mbind before the first touch) to the NUMA node dma_node (default 0),
 *     the node of the devices that will read it, and the placement is verified; a node
 *     this machine does not have stops the start.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "slabd_daemon.h"

uint64_t dma_zone_bytes(const struct slabd *d)
{
	uint64_t a = d->cfg.hugepage_size;

	return (d->cfg.dma_zone_size + a - 1) / a * a;
}

void dma_zone_layout(struct slabd *d, const struct slabd_shm_geometry *g)
{
	struct slabd_shm_super *sb = d->sb;
	struct slabd_shm_zone *zt, *last;
	uint32_t z = sb->nr_nodes, i;

	d->dma_zone = SLABD_NO_ZONE;
	d->iova = NULL;
	sb->dma_zone = SLABD_NO_ZONE;
	sb->iova_mode = SLABD_IOVA_NONE;
	sb->iova_table_off = g->iova_table_off;
	sb->nr_iova = 0;
	sb->iova_shift = 0;
	if (g->nr_zones <= g->nr_nodes)
		return;
	/* right after the last node zone, to the end of the segment */
	last = &d->zone_tab[z - 1];
	zt = &d->zone_tab[z];
	zt->off = last->off + last->size;
	zt->first_page = last->first_page + last->nr_pages;
	zt->nr_pages = g->nr_pages - zt->first_page;
	zt->size = (uint64_t)zt->nr_pages << SLABD_PAGE_SHIFT;
	zt->kind = SLABD_ZONE_DMA;
	zt->node = 0;
	for (i = 0; i < sb->nr_nodes; i++)
		if (d->nodes[i].os_index == (uint32_t)d->cfg.dma_node)
			zt->node = i; /* dma_zone_setup refuses a node that is not there */
	for (i = 0; i < zt->nr_pages; i++)
		d->pages[zt->first_page + i].zone = (uint8_t)z;
	d->dma_zone = z;
	d->iova = (uint64_t *)(d->base + g->iova_table_off);
	sb->dma_zone = z;
	sb->nr_iova = zt->nr_pages;
	sb->iova_shift = SLABD_PAGE_SHIFT;
}

/* Bind the DMA zone to dma_node before it is faulted in: 1 when bound, 0 when there is
 * nothing to bind to (a simulated topology, no NUMA support), -EINVAL for a node this
 * machine does not have. */
static int dma_zone_bind(struct slabd *d, struct slabd_shm_zone *zt, char *start)
{
	int os = d->cfg.dma_node;
	unsigned long mask[SLABD_MAX_NODES / (8 * sizeof(unsigned long)) + 1] = { 0 };

	if (d->nodes[zt->node].os_index != (uint32_t)os) {
		log_err("dma_node = %d: this machine has no NUMA node %d (the DMA zone must be on one of its "
			"nodes: see lscpu or numactl -H, or leave dma_node at 0)", os, os);
		return -EINVAL;
	}
	if (d->topo.simulated || numa_available() < 0 || os > numa_max_node())
		return 0;
	mask[os / (8 * sizeof(unsigned long))] = 1ul << (os % (8 * sizeof(unsigned long)));
	if (mbind(start, zt->size, MPOL_BIND, mask, SLABD_MAX_NODES + 1, 0) < 0) {
		log_warn("DMA zone: mbind to node %d failed: %s", os, strerror(errno));
		return 0;
	}
	return 1;
}

int dma_zone_setup(struct slabd *d, uint32_t z)
{
	struct slabd_shm_zone *zt = &d->zone_tab[z];
	char *start = d->base + zt->off;
	int bound = dma_zone_bind(d, zt, start), where;

	if (bound < 0)
		return bound;

	/* mlock faults every page in (MAP_SHARED memfd: the page cache's pages, which the
	 * clients map too) and keeps them resident; no MADV_POPULATE needed first. */
	/* the system call itself: sanitizer runtimes turn mlock() into a no-op */
	if (syscall(SYS_mlock, start, zt->size) < 0) {
		int err = errno;
		log_err("cannot lock the DMA zone (%llu MiB) in memory: %s; raise the locked-memory limit "
			"(ulimit -l, LimitMEMLOCK=), run slabd with CAP_IPC_LOCK, or set dma_zone_size = 0",
			(unsigned long long)(zt->size >> 20), strerror(err));
		return -err;
	}
	if (madvise(start, zt->size, MADV_POPULATE_WRITE) < 0) {
		uint64_t i;
		for (i = 0; i < zt->size; i += SLABD_PAGE_SIZE)
			((volatile char *)start)[i] = 0;
	}
	log_info("zone %u: DMA zone, %llu MiB, locked and pre-faulted (%s)", z, (unsigned long long)(zt->size >> 20),
		 region_backing_name(d->backing));
	if (bound) {
		where = zone_pages_node(start, zt->size);
		if (where == d->cfg.dma_node)
			log_info("zone %u: DMA zone bound to node %d (verified with move_pages)", z, where);
		else
			log_warn("zone %u: DMA zone meant for node %d, its pages are on %d (-2: several nodes; < -2: "
				 "not verified)", z, d->cfg.dma_node, where);
	} else {
		log_info("zone %u: DMA zone on node %d, unbound (no NUMA binding on this machine)", z, d->cfg.dma_node);
	}
	return iova_setup(d, z);
}

void dma_zone_teardown(struct slabd *d)
{
	iova_teardown(d);
}

int dma_large_alloc(struct slabd *d, uint64_t size, uint64_t *ret_off)
{
	uint64_t npages = (size + SLABD_PAGE_SIZE - 1) >> SLABD_PAGE_SHIFT;

	if (d->dma_zone == SLABD_NO_ZONE)
		return -ENODEV;
	if (!size || npages > d->zone[d->dma_zone].nr_pages)
		return size ? -ENOMEM : -EINVAL;
	return large_alloc_zone(d, &d->zone[d->dma_zone], npages, ret_off);
}
