/* SPDX-License-Identifier: MIT */
/*
 * region.c - creating the shared region: three memfds mapped as one window.
 *
 *   meta    shmem memfd, sealed (F_SEAL_FUTURE_WRITE) after the daemon mapped it
 *           writable; clients get a read-only descriptor of it.
 *   percpu  shmem memfd, read-write for all.
 *   zones   hugetlb memfd when enough hugepages are reserved (hugepages = auto|on),
 *           otherwise 4 KiB shmem, said loudly. Each node zone is mbind()-ed to its node
 *           before it is first touched, then pre-faulted.
 *
 * The window's base is chosen here (config base_address, else the kernel's choice) so
 * that clients can map at the same address and share pointers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <numa.h>
#include <numaif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "log.h"
#include "slabd_daemon.h"
#include "slabd_ops.h"

#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB (21 << 26)
#define MFD_HUGE_1GB (30 << 26)
#endif

const char *region_backing_name(uint32_t backing)
{
	switch (backing) {
	case SLABD_BACKING_HUGETLB_2M:
		return "hugetlb-2M";
	case SLABD_BACKING_HUGETLB_1G:
		return "hugetlb-1G";
	default:
		return "shmem-4K";
	}
}

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

/* Free hugepages of @size: of kernel node @node, or of the whole machine (@node < 0). */
static long free_hugepages_on(uint64_t size, int node)
{
	char path[160];

	if (node < 0)
		snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%llukB/free_hugepages",
			 (unsigned long long)(size >> 10));
	else
		snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/hugepages/hugepages-%llukB/free_hugepages",
			 node, (unsigned long long)(size >> 10));
	return read_long(path);
}

static int memfd_sized(const char *name, unsigned int flags, uint64_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC | flags);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

/* Reserve the window: the configured base, a few steps above it, else anywhere. */
char *region_reserve_window(uint64_t want, uint64_t size)
{
	int i;
	char *w;

	for (i = 0; want && i < 8; i++) {
		w = mmap((void *)(uintptr_t)(want + ((uint64_t)i << 36)), size, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
		if (w != MAP_FAILED)
			return w;
	}
	w = mmap(NULL, size + (1u << 30), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (w == MAP_FAILED)
		return NULL;
	/* keep a 1 GiB-aligned window, give back the slack */
	{
		char *a = (char *)align_up((uint64_t)(uintptr_t)w, 1u << 30);
		if (a > w)
			munmap(w, (size_t)(a - w));
		munmap(a + size, (size_t)((w + size + (1u << 30)) - (a + size)));
		return a;
	}
}

static long free_hugepages(uint64_t size)
{
	return free_hugepages_on(size, -1);
}

/* Each real node's zone is bound to its node (zone_place): its hugepages must come from
 * that node's pool, not just from the machine's total. 0, or the first kernel node that
 * has too few (its free count in *ret_have, its need in *ret_need). */
static int node_short_of_hugepages(struct slabd *d, const uint64_t *zone_size, long *ret_have, uint64_t *ret_need)
{
	uint64_t hp = d->cfg.hugepage_size;
	uint32_t z;

	if (d->topo.simulated || d->topo.nr_nodes < 2 || numa_available() < 0)
		return -1;
	for (z = 0; z < d->topo.nr_nodes; z++) {
		int os = d->topo.node_os[z];
		long have = free_hugepages_on(hp, os);
		if (have >= 0 && (uint64_t)have < zone_size[z] / hp) {
			*ret_have = have;
			*ret_need = zone_size[z] / hp;
			return os;
		}
	}
	return -1;
}

/* Map the zones segment: hugetlb if configured and possible, else shmem. */
static int map_zones(struct slabd *d, char *at, uint64_t size, const uint64_t *zone_size)
{
	struct config *c = &d->cfg;
	uint64_t hp = c->hugepage_size;
	long have = c->hugepages == HUGEPAGES_OFF ? -1 : free_hugepages(hp), node_have = 0;
	uint64_t need = size / hp, node_need = 0;
	int fd, short_node = c->hugepages == HUGEPAGES_OFF ? -1 : node_short_of_hugepages(d, zone_size, &node_have, &node_need);

	if (short_node >= 0) {
		log_warn("node %d has %ld free hugepages of %llu KiB, its zone needs %llu: reserve them on that node "
			 "(echo %llu > /sys/devices/system/node/node%d/hugepages/hugepages-%llukB/nr_hugepages)",
			 short_node, node_have, (unsigned long long)(hp >> 10), (unsigned long long)node_need,
			 (unsigned long long)node_need, short_node, (unsigned long long)(hp >> 10));
	}
	/* short_node: not usable as hugetlb, a bound zone would fault with SIGBUS */
	if (c->hugepages != HUGEPAGES_OFF && short_node < 0 && have >= 0 && (uint64_t)have >= need) {
		fd = memfd_sized("slabd-zones", MFD_HUGETLB | MFD_ALLOW_SEALING | (hp == (1u << 30) ? MFD_HUGE_1GB : MFD_HUGE_2MB),
				 size);
		if (fd >= 0 && mmap(at, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) != MAP_FAILED) {
			d->zones_fd = fd;
			d->backing = hp == (1u << 30) ? SLABD_BACKING_HUGETLB_1G : SLABD_BACKING_HUGETLB_2M;
			log_notice("backing: %s, %llu hugepages of %llu KiB (%ld were free)",
				   region_backing_name(d->backing), (unsigned long long)need,
				   (unsigned long long)(hp >> 10), have);
			return 0;
		}
		if (fd >= 0)
			close(fd);
		log_warn("hugetlb mapping of %llu MiB failed (%s)", (unsigned long long)(size >> 20),
			 strerror(errno));
	}
	if (c->hugepages == HUGEPAGES_ON) {
		log_err("hugepages = on, but %llu hugepages of %llu KiB are needed and %ld are free%s: reserve "
			"them (echo %llu > /proc/sys/vm/nr_hugepages) or set hugepages = auto",
			(unsigned long long)need, (unsigned long long)(hp >> 10), have < 0 ? 0 : have,
			short_node >= 0 ? " (not on every node)" : "", (unsigned long long)need);
		return -ENOMEM;
	}
	if (c->hugepages == HUGEPAGES_AUTO)
		log_warn("NO HUGEPAGES: %llu x %llu KiB needed, %ld free; the zones use 4 KiB shared memory "
			 "(more TLB misses). Reserve them with: echo %llu > /proc/sys/vm/nr_hugepages",
			 (unsigned long long)need, (unsigned long long)(hp >> 10), have < 0 ? 0 : have,
			 (unsigned long long)need);
	fd = memfd_sized("slabd-zones", MFD_ALLOW_SEALING, size);
	if (fd < 0)
		return fd;
	if (mmap(at, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
		int err = errno;
		close(fd);
		return -err;
	}
	d->zones_fd = fd;
	d->backing = SLABD_BACKING_SHMEM_4K;
	log_notice("backing: shmem-4K, %llu MiB", (unsigned long long)(size >> 20));
	return 0;
}

/* Where the kernel put the pages of [start, start + size): up to 64 pages spread over the
 * range, asked with move_pages(2) (nodes NULL: query only). Returns the node they all
 * sit on, -2 when they differ, or -errno. */
int zone_pages_node(char *start, uint64_t size)
{
	enum { SAMPLES = 64 };
	void *pages[SAMPLES];
	int status[SAMPLES], node = -1;
	uint64_t step = size / SAMPLES;
	unsigned int i;

	step = step < SLABD_PAGE_SIZE ? SLABD_PAGE_SIZE : step & ~(uint64_t)(SLABD_PAGE_SIZE - 1);
	for (i = 0; i < SAMPLES && (uint64_t)i * step < size; i++)
		pages[i] = start + (uint64_t)i * step;
	if (move_pages(0, i, pages, NULL, status, 0) < 0)
		return -errno;
	while (i--) {
		if (status[i] < 0)
			return status[i];
		if (node >= 0 && status[i] != node)
			return -2;
		node = status[i];
	}
	return node;
}

/* Bind a node zone to its node before first touch, pre-fault it, verify the placement. */
static int zone_place(struct slabd *d, uint32_t z)
{
	struct slabd_shm_zone *zt = &d->zone_tab[z];
	struct slabd_shm_node *n = &d->nodes[zt->node];
	char *start = d->base + zt->off;
	int os = (int)n->os_index, where;

	if (d->topo.simulated || numa_available() < 0 || os > numa_max_node()) {
		n->flags |= SLABD_NODE_SIMULATED;
	} else {
		unsigned long mask[SLABD_MAX_NODES / (8 * sizeof(unsigned long)) + 1] = { 0 };
		mask[os / (8 * sizeof(unsigned long))] = 1ul << (os % (8 * sizeof(unsigned long)));
		if (mbind(start, zt->size, MPOL_BIND, mask, SLABD_MAX_NODES + 1, 0) < 0)
			log_warn("zone %u: mbind to node %d failed: %s", z, os, strerror(errno));
	}
	if (madvise(start, zt->size, MADV_POPULATE_WRITE) < 0) {
		uint64_t i;
		/* Touching a hugetlb page the node cannot supply is SIGBUS: fail instead
		 * (EINVAL: a kernel without MADV_POPULATE_WRITE, touching is safe then). */
		if (d->backing != SLABD_BACKING_SHMEM_4K && errno != EINVAL) {
			int err = errno;
			log_err("zone %u: cannot fault in %llu MiB of hugepages for node %d (%s): reserve them on "
				"that node or set hugepages = off", z, (unsigned long long)(zt->size >> 20), os,
				strerror(err));
			return -ENOMEM;
		}
		for (i = 0; i < zt->size; i += SLABD_PAGE_SIZE)
			((volatile char *)start)[i] = 0;
	}
	if (n->flags & SLABD_NODE_SIMULATED) {
		log_info("zone %u: %llu MiB for simulated node %d (unbound: no such node on this machine)", z,
			 (unsigned long long)(zt->size >> 20), os);
		return 0;
	}
	where = zone_pages_node(start, zt->size);
	if (where == os) {
		n->flags |= SLABD_NODE_BOUND;
		log_info("zone %u: %llu MiB bound to node %d (verified with move_pages)", z,
			 (unsigned long long)(zt->size >> 20), os);
	} else if (where == -2) {
		log_warn("zone %u: pages of node %d's zone are spread over several nodes", z, os);
	} else if (where < 0) {
		log_warn("zone %u: placement on node %d not verified: move_pages: %s", z, os, strerror(-where));
	} else {
		log_warn("zone %u: meant for node %d, the kernel put it on node %d", z, os, where);
	}
	return 0;
}

static void fill_meta(struct slabd *d, const struct slabd_shm_geometry *g, const uint64_t *zone_size)
{
	struct slabd_shm_super *sb = d->sb;
	uint32_t i, z, page;

	sb->page_shift = SLABD_PAGE_SHIFT;
	if (getrandom(&sb->region_id, sizeof(sb->region_id), 0) != sizeof(sb->region_id))
		sb->region_id = (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)d->base;
	sb->base_addr = (uint64_t)(uintptr_t)d->base;
	sb->region_size = d->size;
	sb->meta_size = g->meta_size;
	sb->percpu_off = g->meta_size;
	sb->percpu_size = g->percpu_size;
	sb->zones_off = g->meta_size + g->percpu_size;
	sb->zones_size = (uint64_t)g->nr_pages << SLABD_PAGE_SHIFT;
	sb->hugepage_size = g->align;
	sb->backing = d->backing;
	sb->nr_cpus = g->nr_cpus;
	sb->nr_nodes = g->nr_nodes;
	sb->nr_zones = g->nr_zones;
	sb->max_caches = g->max_caches;
	sb->nr_pages = g->nr_pages;
	sb->nr_mags = g->nr_mags;
	sb->max_cache_size = d->cfg.max_cache_size;
	sb->cpu_table_off = g->cpu_table_off;
	sb->node_table_off = g->node_table_off;
	sb->zone_table_off = g->zone_table_off;
	sb->cache_table_off = g->cache_table_off;
	sb->page_table_off = g->page_table_off;
	sb->ctl_off = g->ctl_off;
	sb->depot_off = g->depot_off;
	sb->pcpu_off = g->pcpu_off;
	sb->mag_off = g->mag_off;
	sb->client_off = g->client_off;
	sb->pcpu_stat_off = g->pcpu_stat_off;
	sb->remote_off = g->remote_off;
	sb->max_clients = SLABD_MAX_CLIENTS;
	sb->pcpu_slots = SLABD_PCPU_SLOTS;
	sb->mag_slots = SLABD_MAG_SLOTS;
	sb->daemon_pid = (uint32_t)getpid();

	for (i = 0; i < g->nr_cpus; i++) {
		d->cpus[i].node = d->topo.cpu_node[i];
		((struct slabd_shm_pcpu *)(d->remote + ((uint64_t)i << SLABD_PCPU_SHIFT)))->capacity = SLABD_REMOTE_CAP;
	}
	page = 0;
	for (z = 0; z < g->nr_nodes; z++) {
		struct slabd_shm_zone *zt = &d->zone_tab[z];
		d->nodes[z].os_index = (uint32_t)d->topo.node_os[z];
		d->nodes[z].zone = z;
		d->nodes[z].nr_cpus = d->topo.node_nr_cpus[z];
		memcpy(d->nodes[z].order, d->topo.order[z], sizeof(d->nodes[z].order));
		zt->off = sb->zones_off + ((uint64_t)page << SLABD_PAGE_SHIFT);
		zt->size = zone_size[z];
		zt->first_page = page;
		zt->nr_pages = (uint32_t)(zone_size[z] >> SLABD_PAGE_SHIFT);
		zt->kind = SLABD_ZONE_NODE;
		zt->node = z;
		for (i = 0; i < zt->nr_pages; i++)
			d->pages[page + i].zone = (uint8_t)z;
		page += zt->nr_pages;
	}
	/* Every magazine starts on the empty stack. */
	for (i = 0; i < g->nr_mags; i++)
		slabd_stack_push(&d->ctl->empty_mags, d->mags, &d->mags[i]);
	d->ctl->daemon_epoch = 1;
}

int region_create(struct slabd *d)
{
	struct config *c = &d->cfg;
	struct slabd_shm_geometry g;
	uint64_t align = c->hugepage_size, zone_size[SLABD_MAX_NODES], zones_size = 0, dma_size = dma_zone_bytes(d);
	uint32_t z;
	int r;

	d->meta_fd = d->meta_ro_fd = d->percpu_fd = d->zones_fd = -1;
	d->vfio_container_fd = d->vfio_group_fd = -1;
	d->region_lock_fd = d->slabs_fd = -1;
	for (z = 0; z < d->topo.nr_nodes; z++) {
		int os = d->topo.node_os[z];
		uint64_t want = os >= 0 && os < SLABD_CONFIG_NODES && c->node_zone_size[os] ? c->node_zone_size[os]
											 : c->zone_size;
		zone_size[z] = align_up(want, align);
		zones_size += zone_size[z];
	}
	for (z = 0; z < SLABD_CONFIG_NODES; z++) {
		uint32_t i;
		for (i = 0; c->node_zone_size[z] && i < d->topo.nr_nodes; i++)
			if (d->topo.node_os[i] == (int)z)
				break;
		if (c->node_zone_size[z] && i == d->topo.nr_nodes)
			log_warn("zone_size.%u: this topology has no node %u; ignored", z, z);
	}
	zones_size += dma_size; /* the DMA zone last (dma.c) */
	if ((zones_size >> SLABD_PAGE_SHIFT) > UINT32_MAX) {
		log_err("zones of %llu MiB exceed the page table's limit", (unsigned long long)(zones_size >> 20));
		return -E2BIG;
	}
	memset(&g, 0, sizeof(g));
	g.nr_cpus = d->topo.nr_cpus;
	g.nr_nodes = d->topo.nr_nodes;
	g.nr_zones = d->topo.nr_nodes + (dma_size ? 1 : 0);
	g.nr_iova = (uint32_t)(dma_size >> SLABD_PAGE_SHIFT);
	g.max_caches = c->max_caches;
	g.nr_pages = (uint32_t)(zones_size >> SLABD_PAGE_SHIFT);
	/* Enough magazines for every depot to hold its high watermark a few times over. */
	g.nr_mags = c->nr_mags ? c->nr_mags : (uint32_t)(4096 + (zones_size >> 16));
	if (g.nr_mags > SLABD_MAX_MAGS)
		g.nr_mags = SLABD_MAX_MAGS;
	g.align = align;
	r = slabd_shm_geometry(&g);
	if (r < 0) {
		log_err("cannot lay out a region for %u CPUs and %u nodes", g.nr_cpus, g.nr_nodes);
		return r;
	}
	d->size = g.meta_size + g.percpu_size + zones_size;
	if (c->region_dir[0]) {
		r = persist_segments(d, &g, zones_size);
		if (r < 0)
			goto fail;
		goto mapped;
	}
	if (d->nr_adopt) {
		/* systemd's fd store passed the region back: a restart */
		r = persist_adopt(d, &g, zones_size);
		if (r < 0)
			goto fail;
		goto mapped;
	}
	d->base = region_reserve_window(c->base_address, d->size);
	if (!d->base) {
		log_err("cannot reserve %llu MiB of address space", (unsigned long long)(d->size >> 20));
		return -ENOMEM;
	}
	if ((uint64_t)(uintptr_t)d->base != c->base_address)
		log_notice("window at %p (base_address %#llx was taken)", (void *)d->base,
			   (unsigned long long)c->base_address);

	r = memfd_sized("slabd-meta", MFD_ALLOW_SEALING, g.meta_size);
	if (r < 0)
		goto fail;
	d->meta_fd = r;
	r = memfd_sized("slabd-percpu", MFD_ALLOW_SEALING, g.percpu_size);
	if (r < 0)
		goto fail;
	d->percpu_fd = r;
	if (mmap(d->base, g.meta_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_POPULATE, d->meta_fd,
		 0) == MAP_FAILED ||
	    mmap(d->base + g.meta_size, g.percpu_size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED | MAP_POPULATE, d->percpu_fd, 0) == MAP_FAILED) {
		r = -errno;
		goto fail;
	}
	r = map_zones(d, d->base + g.meta_size + g.percpu_size, zones_size, zone_size);
	if (r < 0)
		goto fail;
	r = c->fd_store ? persist_slabs_memfd(d, g.nr_pages) : persist_private(d, g.nr_pages);
	if (r < 0)
		goto fail;
mapped:

	d->sb = (struct slabd_shm_super *)d->base;
	d->cpus = (void *)(d->base + g.cpu_table_off);
	d->nodes = (void *)(d->base + g.node_table_off);
	d->zone_tab = (void *)(d->base + g.zone_table_off);
	d->cache_tab = (void *)(d->base + g.cache_table_off);
	d->pages = (void *)(d->base + g.page_table_off);
	d->ctl = (void *)(d->base + g.meta_size + g.ctl_off);
	d->depots = (void *)(d->base + g.meta_size + g.depot_off);
	d->pcpu = d->base + g.meta_size + g.pcpu_off;
	d->mags = (void *)(d->base + g.meta_size + g.mag_off);
	d->clients = (void *)(d->base + g.meta_size + g.client_off);
	d->pcpu_stats = (void *)(d->base + g.meta_size + g.pcpu_stat_off);
	d->remote = d->base + g.meta_size + g.remote_off;
	d->zones = d->base + g.meta_size + g.percpu_size;
	if (d->restored) {
		r = persist_check(d, &g, zone_size, dma_size);
		if (r < 0)
			goto fail;
		d->sb->daemon_pid = (uint32_t)getpid();
	} else {
		fill_meta(d, &g, zone_size);
		dma_zone_layout(d, &g);
	}

	d->nr_zones = g.nr_zones;
	d->page_slab = calloc(g.nr_pages, sizeof(*d->page_slab));
	d->remote_track = calloc(g.nr_cpus, sizeof(*d->remote_track));
	if (!d->page_slab || !d->remote_track) {
		r = -ENOMEM;
		goto fail;
	}
	for (z = 0; z < d->nr_zones; z++) {
		struct zone *zn = &d->zone[z];
		zn->index = z;
		zn->node = d->zone_tab[z].node;
		zn->first_page = d->zone_tab[z].first_page;
		zn->nr_pages = d->zone_tab[z].nr_pages;
		pthread_mutex_init(&zn->lock, NULL);
		/* a restart frees what the page table says is free (persist_restore) */
		r = d->restored ? buddy_init_used(&zn->buddy, zn->nr_pages) : buddy_init(&zn->buddy, zn->nr_pages);
		if (r < 0)
			goto fail;
		r = zone_release_init(d, zn);
		if (r < 0)
			goto fail;
		if (d->zone_tab[z].kind == SLABD_ZONE_DMA) {
			r = dma_zone_setup(d, z);
			if (r < 0)
				goto fail;
		} else if (!d->restored) {
			/* a found zone is placed and faulted in already (and may have chunks
			 * punched out that must not be faulted in now) */
			r = zone_place(d, z);
			if (r < 0)
				goto fail;
		}
	}
	if (d->persisted && !d->fdstore)
		goto sealed; /* files cannot be sealed: see docs/design.md */

	/* Clients must never write meta: seal it, and hand out a read-only descriptor. (A
	 * region for the fd store is not sealed against writing: the restarted daemon must
	 * map it writable again.) */
	if (fcntl(d->meta_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | (d->fdstore ? 0 : F_SEAL_FUTURE_WRITE)) < 0)
		log_warn("cannot seal the metadata memfd (%s): clients could map it writable", strerror(errno));
	/* Clients hold the percpu and zones descriptors too: a client's ftruncate() would
	 * make the daemon's next access fault (SIGBUS). Their sizes are fixed. */
	if (fcntl(d->percpu_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0 ||
	    fcntl(d->zones_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		log_warn(
		    "cannot seal the percpu and zones memfds against resizing (%s): a client could "
		    "truncate them under slabd",
		    strerror(errno));
sealed:
	{
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", d->meta_fd);
		d->meta_ro_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (d->meta_ro_fd < 0) {
			r = -errno;
			log_err("cannot reopen the metadata memfd read-only: %s", strerror(errno));
			goto fail;
		}
	}
	if (!d->restored) {
		d->sb->layout_version = SLABD_SHM_LAYOUT_VERSION;
		__atomic_store_n(&d->sb->magic, SLABD_SHM_MAGIC, __ATOMIC_RELEASE);
		persist_publish(d);
	}
	log_info("region: %llu MiB at %p (meta %llu KiB, percpu %llu KiB, %u magazines, zones %llu MiB)",
		 (unsigned long long)(d->size >> 20), (void *)d->base, (unsigned long long)(g.meta_size >> 10),
		 (unsigned long long)(g.percpu_size >> 10), g.nr_mags, (unsigned long long)(zones_size >> 20));
	return 0;
fail:
	if (r < 0)
		log_err("cannot create the shared region: %s", strerror(-r));
	region_destroy(d);
	return r;
}

void region_destroy(struct slabd *d)
{
	uint32_t z;

	dma_zone_teardown(d);
	for (z = 0; z < d->nr_zones; z++) {
		buddy_destroy(&d->zone[z].buddy);
		zone_release_free(&d->zone[z]);
	}
	d->nr_zones = 0;
	free(d->page_slab);
	free(d->remote_track);
	d->remote_track = NULL;
	d->page_slab = NULL;
	if (d->base)
		munmap(d->base, d->size);
	d->base = NULL;
	persist_destroy(d);
	if (d->meta_fd >= 0)
		close(d->meta_fd);
	if (d->meta_ro_fd >= 0)
		close(d->meta_ro_fd);
	if (d->percpu_fd >= 0)
		close(d->percpu_fd);
	if (d->zones_fd >= 0)
		close(d->zones_fd);
	d->meta_fd = d->meta_ro_fd = d->percpu_fd = d->zones_fd = -1;
}
