/* SPDX-License-Identifier: MIT */
/*
 * persist.c - a region kept in files (region_dir), and a daemon that finds it again.
 *
 * With region_dir set the three segments are files in that directory instead of memfds
 * (meta, percpu, zones), plus a fourth that only the daemon ever maps:
 *
 *   slabs   the daemon-private slab state that must outlive it: per page of the zones
 *           SLAB_MAP_WORDS_PER_PAGE bitmap words (the struct slab bitmaps point here:
 *           which objects the daemon holds free), the chain-walk journal, and the held-
 *           back tail of each packet-buffer pool. Never sent to a client.
 *
 * Without region_dir the same bitmap lives in anonymous memory and the journal in the
 * heap: the code paths are the same, nothing survives.
 *
 * Restart (persist_restore): everything the daemon keeps in its heap is rebuilt from
 * what it wrote to the files: caches from the cache table, slabs and large allocations
 * from the page table, each slab's free objects from its bitmap words, the buddy
 * allocators from the pages nobody owns. What sits in client-writable memory (per-CPU
 * stacks, depots, magazines, free chains) was never daemon state and stays as it is.
 *
 * Ordering rules that make a SIGKILL at any instant safe (no object owned twice):
 *   1. an object leaves the daemon (bit cleared) before it is published to clients (a
 *      CAS push on a depot stack, a chain push, a reply);
 *   2. an object comes back (bit set) only after it was unpublished (a CAS pop, a chain
 *      taken with a CAS, an rseq pop of a per-CPU stack);
 *   3. a slab's bitmap is written before its pages are marked in the page table; a slab
 *      is unmarked only when every object is free in it; a large allocation's first page
 *      is marked last and unmarked first;
 *   4. a free chain taken from client memory is journaled (taken head, then the cursor
 *      after each object put back), so a restart finishes the walk instead of losing
 *      the rest of the chain.
 * What a kill can leak (never hand out twice): the objects between 1's clear and publish
 * or 2's unpublish and set, i.e. one batch in the hands of each daemon thread: at most a
 * per-CPU stack (127 objects) or a magazine (up to 127, SLABD_MAG_SLOTS) per worker, one
 * pool of remote frees (62), plus the magazine itself, and one large allocation whose reply
 * was not sent.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "debug.h"
#include "log.h"
#include "slabd_daemon.h"
#include "slabd_ops.h"

#define PERSIST_MAGIC	0x534241534c424153ull /* "SABLSABS" */
#define PERSIST_VERSION 1u
#define PERSIST_MAP_OFF (64u << 10) /* the bitmap words start here in the slabs file */

/* One chain walk in progress. W: the daemon thread of the slot (a node's worker, or node
 * 0's worker for the large-free chain), ordered by release stores. */
struct persist_chain {
	uint32_t armed; /* 1 from before the chain is taken until its walk ended */
	uint32_t cache; /* the depot's cache id; 0: ctl->large_free */
	uint32_t node;	/* the depot's node */
	uint32_t pad;
	uint64_t taken;	 /* the head the CAS took (or tries to take) */
	uint64_t cursor; /* the next object to put back, 0: none */
};

struct persist_pool {
	uint32_t head; /* first page of the pool's last slab, whose tail is held back */
	uint32_t from; /* first held-back object index in it */
};

struct persist_hdr {
	uint64_t magic;	    /* PERSIST_MAGIC */
	uint32_t version;   /* PERSIST_VERSION */
	uint32_t nr_pages;  /* pages of the zones: the bitmap has SLAB_MAP_WORDS_PER_PAGE each */
	uint64_t region_id; /* the superblock's */
	uint64_t map_off;   /* PERSIST_MAP_OFF */
	struct persist_chain
	    chain[SLABD_MAX_NODES + 1]; /* [node], [SLABD_MAX_NODES]: large frees */
	struct persist_pool pool[SLABD_MAX_CACHES];
	uint32_t next_client_id; /* kept across restarts: owner tracking's records name
				  * clients by id, and a restarted daemon must not give a
				  * new client the id of an old one still holding objects */
	uint32_t cfg_debug; /* PERSIST_DEBUG_KNOWN | the "debug" key the region last ran
			     * with (0: made by a slabd that did not record it) */
};
#define PERSIST_DEBUG_KNOWN 0x80000000u
_Static_assert(sizeof(struct persist_hdr) <= PERSIST_MAP_OFF, "the journal fits before the bitmap");

#define LARGE_SLOT SLABD_MAX_NODES

static const char *const seg_names[4] = {"meta", "percpu", "zones", "slabs"};

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

static uint64_t slabs_file_size(uint32_t nr_pages, uint64_t unit)
{
	return align_up(PERSIST_MAP_OFF + (uint64_t)nr_pages * SLAB_MAP_WORDS_PER_PAGE * 8, unit);
}

static void persist_hdr_init(struct slabd *d, uint32_t nr_pages)
{
	d->persist->version = PERSIST_VERSION;
	d->persist->nr_pages = nr_pages;
	d->persist->map_off = PERSIST_MAP_OFF;
}

/* ------------------------------------------------------------ without region_dir -- */

static int private_init(struct slabd *d, uint32_t nr_pages)
{
	d->slabmap_len = (uint64_t)nr_pages * SLAB_MAP_WORDS_PER_PAGE * 8;
	d->slabmap = mmap(NULL, d->slabmap_len ? d->slabmap_len : 1, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (d->slabmap == MAP_FAILED) {
		d->slabmap = NULL;
		return -ENOMEM;
	}
	d->persist = calloc(1, sizeof(*d->persist));
	return d->persist ? 0 : -ENOMEM;
}

/* ---------------------------------------------------------- files in region_dir -- */

static int seg_path(const struct slabd *d, int i, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/%s", d->cfg.region_dir, seg_names[i]) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static void what_to_do(const struct slabd *d)
{
	/* nr_adopt before persist_adopt mapped the descriptors, fdstore after */
	if ((d->nr_adopt || d->fdstore) && !d->cfg.region_dir[0])
		log_err("to keep the region, start slabd with the configuration (and machine "
			"topology) that made "
			"it; to start afresh, stop every client of it and stop the service "
			"(systemctl stop slabd "
			"empties its file descriptor store)");
	else
		log_err("to keep the region, start slabd with the configuration (and machine "
			"topology) that made "
			"it; to start afresh, stop every client of it and remove %s/meta, percpu, "
			"zones and slabs",
			d->cfg.region_dir);
}

/* Open (or create, @fresh) the four files; sizes as @want. */
static int open_files(struct slabd *d, int fresh, const uint64_t want[4], int fds[4])
{
	char path[256];
	int i;

	for (i = 0; i < 4; i++)
		fds[i] = -1;
	for (i = 0; i < 4; i++) {
		struct stat st;
		if (seg_path(d, i, path, sizeof(path)) < 0)
			return -ENAMETOOLONG;
		fds[i] = open(path, O_RDWR | O_CLOEXEC | (fresh ? O_CREAT | O_EXCL : 0), 0600);
		if (fds[i] < 0) {
			int err = errno;
			log_err("region_dir: cannot %s %s: %s", fresh ? "create" : "open", path,
				strerror(err));
			if (!fresh && err == ENOENT) {
				log_err("the region in %s is incomplete (meta exists, %s does not)",
					d->cfg.region_dir, seg_names[i]);
				what_to_do(d);
			}
			return -err;
		}
		if (fresh) {
			if (ftruncate(fds[i], (off_t)want[i]) < 0) {
				int err = errno;
				log_err("region_dir: cannot size %s to %llu bytes: %s%s", path,
					(unsigned long long)want[i], strerror(err),
					err == EINVAL || err == ENOMEM
					    ? " (on hugetlbfs: too few free hugepages?)"
					    : "");
				return -err;
			}
			continue;
		}
		if (fstat(fds[i], &st) < 0)
			return -errno;
		if ((uint64_t)st.st_size != want[i]) {
			log_err("the region in %s was made for another geometry: %s is %llu bytes, "
				"this configuration "
				"needs %llu",
				d->cfg.region_dir, seg_names[i], (unsigned long long)st.st_size,
				(unsigned long long)want[i]);
			what_to_do(d);
			return -EINVAL;
		}
	}
	return 0;
}

static void close_fds(int fds[4])
{
	int i;
	for (i = 0; i < 4; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static void remove_files(const struct slabd *d)
{
	char path[256];
	int i;

	for (i = 0; i < 4; i++)
		if (seg_path(d, i, path, sizeof(path)) == 0)
			unlink(path);
}

/* Name the first difference between a found superblock and this configuration's
 * geometry (logged with what to do); 0 when there is none. */
static int geometry_differs(struct slabd *d, const struct slabd_shm_super *sb,
			    const struct slabd_shm_geometry *g, uint64_t zones_size)
{
	char why[160] = "";

	if (0)
		;
#define CMP(field, want, key)                                                                      \
	else if ((uint64_t)(field) != (uint64_t)(want))                                            \
	    snprintf(why, sizeof(why), "%s: %llu there, %llu here", key,                           \
		     (unsigned long long)(field), (unsigned long long)(want))
	CMP(sb->nr_cpus, g->nr_cpus, "CPUs (the topology)");
	CMP(sb->nr_nodes, g->nr_nodes, "NUMA nodes (the topology)");
	CMP(sb->max_caches, g->max_caches, "max_caches");
	CMP(sb->zones_size >> 20, zones_size >> 20,
	    "MiB of zones (zone_size, zone_size.N, dma_zone_size)");
	CMP(sb->nr_mags, g->nr_mags, "magazines");
	CMP(sb->nr_zones, g->nr_zones, "zones (dma_zone_size)");
	CMP(sb->hugepage_size >> 10, g->align >> 10, "hugepage_size in KiB");
	CMP(sb->meta_size, g->meta_size, "bytes of metadata");
	CMP(sb->percpu_size, g->percpu_size, "bytes of per-CPU segment");
	CMP(sb->region_size, d->size, "bytes of region");
#undef CMP
	if (!why[0])
		return 0;
	log_err("the region in %s was made for another geometry: %s",
		d->cfg.region_dir[0] ? d->cfg.region_dir : "the fd store", why);
	what_to_do(d);
	return 1;
}

int persist_segments(struct slabd *d, const struct slabd_shm_geometry *g, uint64_t zones_size)
{
	struct config *c = &d->cfg;
	struct statfs sfs;
	struct slabd_shm_super sb;
	uint64_t want[4], unit = SLABD_PAGE_SIZE;
	char path[256];
	int fds[4] = {-1, -1, -1, -1}, fresh, hugetlbfs, r;
	void *m;

	if (mkdir(c->region_dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		log_err("region_dir %s: cannot create it: %s", c->region_dir, strerror(-r));
		return r;
	}
	/* One daemon per region: the lock goes with the process, also when it is killed. */
	d->region_lock_fd = open(c->region_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->region_lock_fd < 0 || flock(d->region_lock_fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		log_err("region_dir %s: %s", c->region_dir,
			r == -EWOULDBLOCK
			    ? "another slabd serves this region (stop it first, or choose another "
			      "region_dir)"
			    : strerror(-r));
		return r == -EWOULDBLOCK ? -EBUSY : r;
	}
	if (statfs(c->region_dir, &sfs) < 0) {
		r = -errno;
		log_err("region_dir %s: %s", c->region_dir, strerror(-r));
		return r;
	}
	hugetlbfs = sfs.f_type == HUGETLBFS_MAGIC;
	if (hugetlbfs && (uint64_t)sfs.f_bsize != c->hugepage_size) {
		log_err("region_dir %s is a hugetlbfs mount of %llu KiB pages, hugepage_size is "
			"%llu KiB: set "
			"hugepage_size to the mount's page size (or mount it with pagesize=)",
			c->region_dir, (unsigned long long)sfs.f_bsize >> 10,
			(unsigned long long)c->hugepage_size >> 10);
		return -EINVAL;
	}
	if (!hugetlbfs && sfs.f_type != TMPFS_MAGIC)
		log_warn("region_dir %s is neither tmpfs nor hugetlbfs: the region is written back "
			 "to disk "
			 "(slow) and survives a reboot, which it should not",
			 c->region_dir);
	if (hugetlbfs)
		unit = c->hugepage_size;
	want[0] = g->meta_size;
	want[1] = g->percpu_size;
	want[2] = zones_size;
	want[3] = slabs_file_size(g->nr_pages, unit);

	if (seg_path(d, 0, path, sizeof(path)) < 0)
		return -ENAMETOOLONG;
	fresh = access(path, F_OK) < 0;
	memset(&sb, 0, sizeof(sb));
	if (!fresh) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? pread(fd, &sb, sizeof(sb), 0) : -1;
		if (fd >= 0)
			close(fd);
		if (n == (ssize_t)sizeof(sb) && sb.magic == 0) {
			/* never published: no client ever saw it */
			log_notice("region_dir %s: a region whose creation never finished; making "
				   "it afresh",
				   c->region_dir);
			remove_files(d);
			fresh = 1;
		} else if (n != (ssize_t)sizeof(sb) || sb.magic != SLABD_SHM_MAGIC) {
			log_err("%s is not a slabd region (no superblock magic)", path);
			what_to_do(d);
			return -EINVAL;
		} else if (sb.layout_version != SLABD_SHM_LAYOUT_VERSION) {
			log_err("the region in %s has shared-memory layout version %u, this slabd "
				"has %u: run the "
				"slabd that made it until its clients are gone",
				c->region_dir, sb.layout_version, SLABD_SHM_LAYOUT_VERSION);
			what_to_do(d);
			return -EPROTO;
		} else if (geometry_differs(d, &sb, g, zones_size)) {
			return -EINVAL;
		}
	}
	r = open_files(d, fresh, want, fds);
	if (r < 0)
		goto fail;
	if (fresh) {
		d->base = region_reserve_window(c->base_address, d->size);
	} else {
		d->base =
		    mmap((void *)(uintptr_t)sb.base_addr, d->size, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
		if (d->base == MAP_FAILED || (uint64_t)(uintptr_t)d->base != sb.base_addr) {
			if (d->base != MAP_FAILED)
				munmap(d->base, d->size);
			d->base = NULL;
			log_err("cannot map the region of %s at its base %#llx again (its clients "
				"use that "
				"address): something else is mapped there",
				c->region_dir, (unsigned long long)sb.base_addr);
			r = -EADDRINUSE;
			goto fail;
		}
	}
	if (!d->base) {
		log_err("cannot reserve %llu MiB of address space",
			(unsigned long long)(d->size >> 20));
		r = -ENOMEM;
		goto fail;
	}
	if (mmap(d->base, g->meta_size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED | MAP_POPULATE, fds[0], 0) == MAP_FAILED ||
	    mmap(d->base + g->meta_size, g->percpu_size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED | MAP_POPULATE, fds[1], 0) == MAP_FAILED ||
	    mmap(d->base + g->meta_size + g->percpu_size, zones_size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, fds[2], 0) == MAP_FAILED) {
		r = -errno;
		log_err("cannot map the region files of %s: %s", c->region_dir, strerror(-r));
		goto fail;
	}
	m = mmap(NULL, want[3], PROT_READ | PROT_WRITE, MAP_SHARED, fds[3], 0);
	if (m == MAP_FAILED) {
		r = -errno;
		log_err("cannot map %s/slabs: %s", c->region_dir, strerror(-r));
		goto fail;
	}
	close(fds[3]);
	fds[3] = -1;
	d->slabs_file = m;
	d->slabs_file_len = want[3];
	d->persist = m;
	d->slabmap = (uint64_t *)((char *)m + PERSIST_MAP_OFF);
	d->slabmap_len = 0; /* part of slabs_file */
	d->meta_fd = fds[0];
	d->percpu_fd = fds[1];
	d->zones_fd = fds[2];
	d->persisted = 1;
	d->restored = !fresh;
	d->backing = hugetlbfs ? (c->hugepage_size == (1u << 30) ? SLABD_BACKING_HUGETLB_1G
								 : SLABD_BACKING_HUGETLB_2M)
			       : SLABD_BACKING_SHMEM_4K;
	if (fresh) /* region_id and magic once the superblock has its id (persist_publish) */
		persist_hdr_init(d, g->nr_pages);
	log_notice("region kept in %s (%s): %s", c->region_dir, hugetlbfs ? "hugetlbfs" : "files",
		   fresh ? "created" : "found, restarting on it");
	return 0;
fail:
	close_fds(fds);
	d->meta_fd = d->percpu_fd = d->zones_fd = -1;
	if (fresh)
		remove_files(d);
	return r;
}

int persist_private(struct slabd *d, uint32_t nr_pages)
{
	return private_init(d, nr_pages);
}

/* -------------------------------------------------- systemd's fd store (fd_store) -- */

int persist_slabs_memfd(struct slabd *d, uint32_t nr_pages)
{
	uint64_t len = slabs_file_size(nr_pages, SLABD_PAGE_SIZE);
	int fd = memfd_create("slabd-slabs", MFD_CLOEXEC | MFD_ALLOW_SEALING), r;
	void *m = MAP_FAILED;

	if (fd < 0 || ftruncate(fd, (off_t)len) < 0 ||
	    (m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		r = -errno;
		log_err("cannot create the slabs memfd for the fd store: %s", strerror(-r));
		if (fd >= 0)
			close(fd);
		return r;
	}
	fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
	d->slabs_fd = fd;
	d->slabs_file = m;
	d->slabs_file_len = len;
	d->persist = m;
	d->slabmap = (uint64_t *)((char *)m + PERSIST_MAP_OFF);
	d->slabmap_len = 0;
	d->persisted = 1;
	d->fdstore = 1;
	persist_hdr_init(d, nr_pages);
	return 0;
}

int persist_adopt(struct slabd *d, const struct slabd_shm_geometry *g, uint64_t zones_size)
{
	static const char *const what[4] = {"meta", "percpu", "zones", "slabs"};
	uint64_t want[4];
	struct slabd_shm_super sb;
	struct statfs sfs;
	int *fds = d->adopt_fds, i, hugetlb = 0;
	void *m;

	if (d->nr_adopt != 4) {
		log_err("the fd store passed back %d of the region's 4 descriptors (slabd-meta, "
			"slabd-percpu, "
			"slabd-zones, slabd-slabs): cannot restart on it",
			d->nr_adopt);
		what_to_do(d);
		return -EINVAL;
	}
	want[0] = g->meta_size;
	want[1] = g->percpu_size;
	want[2] = zones_size;
	want[3] = slabs_file_size(g->nr_pages, SLABD_PAGE_SIZE);
	for (i = 0; i < 4; i++) {
		struct stat st;
		if (fstat(fds[i], &st) < 0 || (uint64_t)st.st_size != want[i]) {
			log_err("the region in the fd store was made for another geometry: "
				"slabd-%s is %lld bytes, this "
				"configuration needs %llu",
				what[i], (long long)st.st_size, (unsigned long long)want[i]);
			what_to_do(d);
			return -EINVAL;
		}
	}
	if (pread(fds[0], &sb, sizeof(sb), 0) != (ssize_t)sizeof(sb) ||
	    sb.magic != SLABD_SHM_MAGIC) {
		log_err("slabd-meta from the fd store is not a slabd region (no superblock magic)");
		what_to_do(d);
		return -EINVAL;
	}
	if (sb.layout_version != SLABD_SHM_LAYOUT_VERSION) {
		log_err("the region in the fd store has shared-memory layout version %u, this "
			"slabd has %u",
			sb.layout_version, SLABD_SHM_LAYOUT_VERSION);
		what_to_do(d);
		return -EPROTO;
	}
	if (geometry_differs(d, &sb, g, zones_size))
		return -EINVAL;
	if (fstatfs(fds[2], &sfs) == 0 && sfs.f_type == HUGETLBFS_MAGIC)
		hugetlb = 1;
	d->base = mmap((void *)(uintptr_t)sb.base_addr, d->size, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (d->base == MAP_FAILED || (uint64_t)(uintptr_t)d->base != sb.base_addr) {
		if (d->base != MAP_FAILED)
			munmap(d->base, d->size);
		d->base = NULL;
		log_err("cannot map the region from the fd store at its base %#llx again: "
			"something else is there",
			(unsigned long long)sb.base_addr);
		return -EADDRINUSE;
	}
	if (mmap(d->base, g->meta_size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED | MAP_POPULATE, fds[0], 0) == MAP_FAILED ||
	    mmap(d->base + g->meta_size, g->percpu_size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED | MAP_POPULATE, fds[1], 0) == MAP_FAILED ||
	    mmap(d->base + g->meta_size + g->percpu_size, zones_size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, fds[2], 0) == MAP_FAILED ||
	    (m = mmap(NULL, want[3], PROT_READ | PROT_WRITE, MAP_SHARED, fds[3], 0)) ==
		MAP_FAILED) {
		int r = -errno;
		log_err("cannot map the region passed back by the fd store: %s%s", strerror(-r),
			r == -EPERM
			    ? " (slabd-meta was sealed against writing: made by an older slabd?)"
			    : "");
		return r;
	}
	d->meta_fd = fds[0];
	d->percpu_fd = fds[1];
	d->zones_fd = fds[2];
	d->slabs_fd = fds[3];
	d->nr_adopt = 0; /* ours now: closed with the region */
	d->slabs_file = m;
	d->slabs_file_len = want[3];
	d->persist = m;
	d->slabmap = (uint64_t *)((char *)m + PERSIST_MAP_OFF);
	d->slabmap_len = 0;
	d->persisted = 1;
	d->fdstore = 1;
	d->restored = 1;
	d->backing = hugetlb ? (d->cfg.hugepage_size == (1u << 30) ? SLABD_BACKING_HUGETLB_1G
								   : SLABD_BACKING_HUGETLB_2M)
			     : SLABD_BACKING_SHMEM_4K;
	log_notice("region passed back by the service manager's fd store: restarting on it");
	return 0;
}

void persist_publish(struct slabd *d)
{
	if (!d->persisted)
		return;
	d->persist->region_id = d->sb->region_id;
	d->persist->cfg_debug = PERSIST_DEBUG_KNOWN | d->cfg.debug;
	__atomic_store_n(&d->persist->magic, PERSIST_MAGIC, __ATOMIC_RELEASE);
}

void persist_debug_config(struct slabd *d)
{
	uint32_t want = PERSIST_DEBUG_KNOWN | d->cfg.debug;

	if (!d->restored)
		return;
	/* the same key as last time: keep what slabctl debug switched at run time */
	if (d->persist->cfg_debug != want)
		debug_config_restart(d, d->cfg.debug);
	d->persist->cfg_debug = want;
}

void persist_destroy(struct slabd *d)
{
	if (d->region_lock_fd >= 0)
		close(d->region_lock_fd);
	if (d->slabs_fd >= 0)
		close(d->slabs_fd);
	d->region_lock_fd = d->slabs_fd = -1;
	if (d->slabs_file)
		munmap(d->slabs_file, d->slabs_file_len);
	else {
		if (d->slabmap)
			munmap(d->slabmap, d->slabmap_len ? d->slabmap_len : 1);
		free(d->persist);
	}
	d->slabs_file = NULL;
	d->slabmap = NULL;
	d->persist = NULL;
	free(d->id_kept);
	d->id_kept = NULL;
}

/* Does the region found match what this configuration would create? */
int persist_check(struct slabd *d, const struct slabd_shm_geometry *g, const uint64_t *zone_size,
		  uint64_t dma_size)
{
	const struct slabd_shm_super *sb = d->sb;
	const struct persist_hdr *h = d->persist;
	char why[200] = "";
	uint32_t z, i, page;

	if (slabd_shm_super_validate(sb, g->meta_size) < 0)
		snprintf(why, sizeof(why), "its superblock fails validation");
#define CMP(field, want)                                                                           \
	else if ((uint64_t)(field) != (uint64_t)(want))                                            \
	    snprintf(why, sizeof(why), "%s is %llu there, %llu here", #field,                      \
		     (unsigned long long)(field), (unsigned long long)(want))
	CMP(sb->nr_cpus, g->nr_cpus);
	CMP(sb->nr_nodes, g->nr_nodes);
	CMP(sb->nr_zones, g->nr_zones);
	CMP(sb->max_caches, g->max_caches);
	CMP(sb->nr_pages, g->nr_pages);
	CMP(sb->nr_mags, g->nr_mags);
	CMP(sb->meta_size, g->meta_size);
	CMP(sb->percpu_size, g->percpu_size);
	CMP(sb->hugepage_size, g->align);
	CMP(sb->max_cache_size, d->cfg.max_cache_size);
	CMP(sb->backing, d->backing);
	CMP(sb->nr_iova, g->nr_iova);
	CMP(sb->dma_zone, dma_size ? sb->nr_nodes : SLABD_NO_ZONE);
	CMP(h->magic, PERSIST_MAGIC);
	CMP(h->version, PERSIST_VERSION);
	CMP(h->nr_pages, g->nr_pages);
	CMP(h->region_id, sb->region_id);
#undef CMP
	for (z = 0; !why[0] && z < sb->nr_nodes; z++) {
		if (d->zone_tab[z].size != zone_size[z] ||
		    d->nodes[z].os_index != (uint32_t)d->topo.node_os[z])
			snprintf(why, sizeof(why),
				 "zone %u is %llu MiB of node %u there, %llu MiB of node %d here",
				 z, (unsigned long long)(d->zone_tab[z].size >> 20),
				 d->nodes[z].os_index, (unsigned long long)(zone_size[z] >> 20),
				 d->topo.node_os[z]);
	}
	/* The rest of the zone and node tables is read back as it is (region_create, the
	 * rebuild, dma_zone_setup): it must be exactly what fill_meta and dma_zone_layout
	 * lay out for this configuration, or the rebuild walks outside the page table and
	 * indexes the per-node arrays with whatever the file says. */
	for (z = 0, page = 0; !why[0] && z < sb->nr_zones; z++) {
		const struct slabd_shm_zone *zt = &d->zone_tab[z];
		int dma = z == sb->nr_nodes;
		uint32_t node = 0, nr = dma ? g->nr_pages - page : (uint32_t)(zone_size[z] >> SLABD_PAGE_SHIFT);

		if (dma) {
			for (i = 0; i < sb->nr_nodes; i++)
				if (d->nodes[i].os_index == (uint32_t)d->cfg.dma_node)
					node = i;
		} else {
			node = z;
		}
		if (page > g->nr_pages || nr > g->nr_pages - page || zt->first_page != page ||
		    zt->nr_pages != nr || zt->size != (uint64_t)nr << SLABD_PAGE_SHIFT ||
		    zt->off != sb->zones_off + ((uint64_t)page << SLABD_PAGE_SHIFT) ||
		    zt->kind != (dma ? SLABD_ZONE_DMA : SLABD_ZONE_NODE))
			snprintf(why, sizeof(why),
				 "its zone table is damaged: zone %u is pages %u + %u (kind %u) "
				 "there, pages %u + %u (kind %u) here",
				 z, zt->first_page, zt->nr_pages, zt->kind, page, nr,
				 dma ? SLABD_ZONE_DMA : SLABD_ZONE_NODE);
		else if (zt->node != node)
			snprintf(why, sizeof(why),
				 "its zone table puts zone %u on node index %u, %s here",
				 z, zt->node,
				 dma ? "dma_node says another" : "it is its own node's");
		page += nr;
	}
	if (!why[0] && page != g->nr_pages)
		snprintf(why, sizeof(why), "its zone table covers %u of %u pages", page, g->nr_pages);
	for (z = 0; !why[0] && z < sb->nr_nodes; z++) {
		if (d->nodes[z].zone != z)
			snprintf(why, sizeof(why), "its node table gives node %u zone %u", z,
				 d->nodes[z].zone);
		for (i = 0; !why[0] && i < sb->nr_nodes; i++)
			if (d->nodes[z].order[i] >= sb->nr_nodes)
				snprintf(why, sizeof(why),
					 "its node table gives node %u fallback node %u of %u", z,
					 d->nodes[z].order[i], sb->nr_nodes);
	}
	for (i = 0; !why[0] && i < sb->nr_cpus; i++)
		if (d->cpus[i].node != d->topo.cpu_node[i])
			snprintf(why, sizeof(why), "CPU %u is on node index %u there, %u here", i,
				 d->cpus[i].node, d->topo.cpu_node[i]);
	if (why[0]) {
		log_err("the region in %s does not match this configuration: %s",
			d->cfg.region_dir[0] ? d->cfg.region_dir : "the fd store", why);
		what_to_do(d);
		return -EINVAL;
	}
	d->dma_zone = sb->dma_zone;
	d->iova = sb->dma_zone == SLABD_NO_ZONE ? NULL : (uint64_t *)(d->base + sb->iova_table_off);
	return 0;
}

/* ----------------------------------------------------------------- chain journal -- */

uint64_t persist_chain_take(struct slabd *d, uint32_t slot, uint64_t *head, uint32_t cache,
			    uint32_t node)
{
	struct persist_chain *j = &d->persist->chain[slot];
	uint64_t h = __atomic_load_n(head, __ATOMIC_ACQUIRE);

	while (h) {
		j->cache = cache;
		j->node = node;
		j->taken = h;
		j->cursor = h;
		__atomic_store_n(&j->armed, 1, __ATOMIC_RELEASE);
		if (__atomic_compare_exchange_n(head, &h, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return j->taken;
	}
	__atomic_store_n(&j->armed, 0, __ATOMIC_RELEASE);
	return 0;
}

void persist_chain_step(struct slabd *d, uint32_t slot, uint64_t next)
{
	__atomic_store_n(&d->persist->chain[slot].cursor, next, __ATOMIC_RELEASE);
}

void persist_chain_done(struct slabd *d, uint32_t slot)
{
	__atomic_store_n(&d->persist->chain[slot].armed, 0, __ATOMIC_RELEASE);
}

/* Is @want on the chain at @head? Links are followed only inside the zones. */
static int chain_contains(struct slabd *d, uint64_t head, uint64_t want)
{
	uint64_t off = head, limit = (uint64_t)d->sb->nr_pages * (SLABD_PAGE_SIZE / 8) + 1;

	while (off && limit--) {
		if (off == want)
			return 1;
		if (off < d->sb->zones_off || off - d->sb->zones_off >= d->sb->zones_size ||
		    (off & 7))
			return 0;
		off = __atomic_load_n((uint64_t *)(d->base + off), __ATOMIC_RELAXED);
	}
	return 0;
}

/* Finish the walks a killed daemon left half done. */
static void chains_resume(struct slabd *d, uint64_t *ret_objs)
{
	uint32_t slot;

	for (slot = 0; slot <= LARGE_SLOT; slot++) {
		struct persist_chain *j = &d->persist->chain[slot];
		struct cache *c = NULL;
		uint64_t *head, off, limit = (uint64_t)d->sb->nr_pages * (SLABD_PAGE_SIZE / 8) + 1;
		int first = 1;

		if (!j->armed)
			continue;
		if (j->cache) {
			if (j->cache >= d->sb->max_caches || j->node >= d->sb->nr_nodes ||
			    !(c = d->caches[j->cache])) {
				persist_chain_done(d, slot);
				continue;
			}
			head = &daemon_depot(d, j->cache, j->node)->freelist;
		} else {
			head = &d->ctl->large_free;
		}
		if (chain_contains(d, __atomic_load_n(head, __ATOMIC_ACQUIRE), j->taken)) {
			persist_chain_done(d, slot); /* killed before its CAS: still on the depot */
			continue;
		}
		for (off = j->cursor; off && limit--; first = 0) {
			uint64_t next = 0;
			int r;

			if (off < d->sb->zones_off || off - d->sb->zones_off >= d->sb->zones_size ||
			    (off & 7))
				break;
			/* the link is read only from an object (a slab's, or a large allocation's
			 * first page): anywhere else in the zones may be a chunk given back to
			 * the kernel, and on hugetlb reading it can fault the restart dead */
			if (c) {
				r = slab_check(d, c, j->node, off);
				if (r != -EINVAL)
					next = __atomic_load_n((uint64_t *)(d->base + off),
							       __ATOMIC_RELAXED);
				if (r == 0)
					r = slab_put(d, c, j->node, off);
			} else {
				uint32_t page =
				    (uint32_t)((off - d->sb->zones_off) >> SLABD_PAGE_SHIFT);
				int large = d->pages[page].kind == SLABD_PAGE_LARGE;
				/* (the first may be freed already: its pages stayed resident) */
				if ((large || first) && !(off & (SLABD_PAGE_SIZE - 1)))
					next = __atomic_load_n((uint64_t *)(d->base + off),
							       __ATOMIC_RELAXED);
				r = large ? large_free(d, off) : -EALREADY;
			}
			/* the object the walk stood on may be back already: its link still holds */
			if (r == -EALREADY && first) {
				off = next;
				continue;
			}
			if (r < 0)
				break;
			(*ret_objs)++;
			off = next;
		}
		persist_chain_done(d, slot);
	}
}

/* -------------------------------------------------------------------- restore -- */

void persist_pool_note(struct slabd *d, const struct cache *c)
{
	d->persist->pool[c->id].head = c->phantom_head;
	d->persist->pool[c->id].from = c->phantom_from;
}

static void free_run(struct zone *z, uint32_t from, uint32_t to)
{
	if (to > from)
		buddy_free_exact(&z->buddy, from - z->first_page, to - from);
}

static void page_forget(struct slabd *d, uint32_t p)
{
	d->pages[p].cache = 0;
	d->pages[p].head = 0;
	__atomic_store_n(&d->pages[p].kind, SLABD_PAGE_FREE, __ATOMIC_RELEASE);
}

/* Rebuild zone @z's slabs, large allocations and buddy allocator from the page table. */
static void zone_rebuild(struct slabd *d, struct zone *z, uint64_t *ret_slabs, uint64_t *ret_large,
			 uint64_t *ret_leaked)
{
	uint32_t p = z->first_page, end = z->first_page + z->nr_pages, run = p, i, bad = 0;

	/* Each page's zone byte indexes d->zone[] when its objects come back (large_free,
	 * slab_lookup): it is rewritten from the zone table, which persist_check verified. */
	for (i = p; i < end; i++) {
		if (d->pages[i].zone == z->index)
			continue;
		d->pages[i].zone = (uint8_t)z->index;
		bad++;
	}
	if (bad)
		log_warn("zone %u: %u pages of the found page table named another zone; repaired",
			 z->index, bad);
	while (p < end) {
		struct slabd_shm_page *pg = &d->pages[p];
		uint32_t n = 0;
		int ok = 0;

		if (pg->kind == SLABD_PAGE_SLAB && pg->head == p && pg->cache < d->sb->max_caches) {
			struct cache *c = d->caches[pg->cache];
			uint32_t order = c ? c->order : d->cache_tab[pg->cache].order;
			n = order < 24 ? 1u << order : 0;
			ok = n && p + n <= end;
			for (i = 1; ok && i < n; i++)
				ok = d->pages[p + i].kind == SLABD_PAGE_SLAB &&
				     d->pages[p + i].cache == pg->cache &&
				     d->pages[p + i].head == p;
			/* a slab only where its cache carves them: a DMA cache's in the DMA
			 * zone, a node cache's in a node zone (anything else is a damaged page
			 * table: rebuilt, it would hand out memory of the wrong kind and give
			 * its pages to another zone's allocator when it is released) */
			if (ok && d->id_kept && !(c && cache_zone(d, c, z->node) == z->index))
				d->id_kept[pg->cache] = 1; /* kept below: the id stays theirs */
			if (ok && c && cache_zone(d, c, z->node) != z->index) {
				(*ret_leaked)++;
				log_warn(
				    "page %u: a slab of cache %.*s in zone %u, which that cache "
				    "does not use (the page table is damaged); its %u pages "
				    "stay allocated",
				    p, (int)SLABD_CACHE_NAME_MAX, c->shm->name, z->index, n);
			} else if (ok && c && slab_restore(d, c, z->node, p) == 0) {
				(*ret_slabs)++;
			} else if (ok) {
				/* a slab of a cache that is gone or cannot be rebuilt: its objects
				 * may still be in use; keep its pages out of the allocator */
				(*ret_leaked)++;
				log_warn("page %u: a slab of cache id %u that is not active any "
					 "more; its %u pages "
					 "stay allocated",
					 p, pg->cache, n);
			}
		} else if (pg->kind == SLABD_PAGE_LARGE && pg->head && pg->head <= end - p) {
			n = pg->head;
			ok = 1;
			for (i = 1; ok && i < n; i++)
				ok = d->pages[p + i].kind == SLABD_PAGE_LARGE_TAIL &&
				     d->pages[p + i].head == p;
			if (ok)
				(*ret_large)++;
		}
		if (ok) {
			free_run(z, run, p);
			p += n;
			run = p;
			continue;
		}
		/* free, or the remains of a slab or large allocation marked or unmarked halfway
		 * (nothing of it was ever handed out, or all of it was given back) */
		if (pg->kind != SLABD_PAGE_FREE)
			page_forget(d, p);
		p++;
	}
	free_run(z, run, end);
}

/* Pool @c's held-back tail, read back from the journal, against the slabs rebuilt from
 * the page table: the first page of one of its slabs, an index inside it, and exactly
 * pool_n objects. Anything else would stop holding the tail back (a client's wild free
 * of a tail object would be taken and handed out: more than n buffers), hold back
 * buffers that are out, or send verify and stats outside the page table. */
static int pool_tail_check(struct slabd *d, struct cache *c)
{
	uint32_t head = c->phantom_head, from = c->phantom_from, i;
	uint64_t objs = 0;
	char why[120] = "";

	for (i = 0; i < d->sb->nr_nodes; i++)
		objs += (uint64_t)c->nodes[i].nr_slabs * c->objs;
	if (from > c->objs)
		snprintf(why, sizeof(why), "index %u is beyond its %u objects per slab", from, c->objs);
	else if (objs < c->phantom || objs - c->phantom != c->max_objs)
		snprintf(why, sizeof(why), "its %llu objects less %u held back are not the pool's %u",
			 (unsigned long long)objs, c->phantom, c->max_objs);
	else if (c->phantom &&
		 (head >= d->sb->nr_pages || d->pages[head].kind != SLABD_PAGE_SLAB ||
		  d->pages[head].cache != c->id || d->pages[head].head != head || !d->page_slab[head] ||
		  d->page_slab[head]->head != head))
		snprintf(why, sizeof(why), "page %u is not the first page of one of its slabs", head);
	if (!why[0])
		return 0;
	log_err("the region in %s is damaged: pool %.*s: the journal's "
		"held-back tail record (page %u, index %u) is damaged: %s",
		d->cfg.region_dir[0] ? d->cfg.region_dir : "the fd store", (int)SLABD_CACHE_NAME_MAX,
		c->shm->name, head, from, why);
	what_to_do(d);
	return -EINVAL;
}

int persist_restore(struct slabd *d)
{
	uint64_t slabs = 0, large = 0, leaked = 0, chain_objs = 0;
	uint32_t id, zi, caches = 0, i, kept = 0;
	int r;

	d->id_kept = calloc(d->sb->max_caches, 1);
	if (!d->id_kept)
		return -ENOMEM;

	for (id = 1; id < d->sb->max_caches; id++) {
		struct slabd_shm_cache *sc = &d->cache_tab[id];
		struct cache *c;

		if (__atomic_load_n(&sc->state, __ATOMIC_ACQUIRE) != SLABD_CACHE_ACTIVE)
			continue;
		if (sc->zone_kind == SLABD_ZONE_DMA && d->dma_zone == SLABD_NO_ZONE) {
			log_err("cache %.*s lives in a DMA zone this region does not have",
				(int)SLABD_CACHE_NAME_MAX, sc->name);
			return -EINVAL;
		}
		c = cache_restore(d, id);
		if (!c) {
			log_err("cache %.*s (id %u) in the region's cache table has a geometry "
				"this slabd would not "
				"make (size %u, order %u, %u per slab)",
				(int)SLABD_CACHE_NAME_MAX, sc->name, id, sc->size, sc->order,
				sc->objs_per_slab);
			what_to_do(d);
			return -EINVAL;
		}
		if (c->max_objs) {
			uint32_t k = (c->max_objs + c->mag_objs - 1) / c->mag_objs;
			c->phantom_head = d->persist->pool[id].head;
			c->phantom_from = d->persist->pool[id].from;
			c->phantom = c->phantom_from < c->objs ? c->objs - c->phantom_from : 0;
			if (k > d->sb->nr_mags / 8)
				k = d->sb->nr_mags / 8;
			c->target_min = c->target_max = k < 2 ? 2 : k;
			for (i = 0; i < d->sb->nr_nodes; i++)
				c->nodes[i].target = c->target_min;
			c->nodes[cache_home_node(d, c, 0)].active = 1;
		}
		caches++;
	}
	for (zi = 0; zi < d->nr_zones; zi++)
		zone_rebuild(d, &d->zone[zi], &slabs, &large, &leaked);
	for (id = 1; id < d->sb->max_caches; id++)
		if (d->caches[id] && d->caches[id]->max_objs && pool_tail_check(d, d->caches[id]) < 0)
			return -EINVAL;
	for (id = SLABD_FIRST_NAMED_CACHE; id < d->sb->max_caches; id++)
		kept += d->id_kept[id];
	if (kept)
		log_warn("restart: %u cache ids keep slabs no cache owns (a destroy cut short, or "
			 "a damaged page table): they are not given to new caches until the "
			 "region is made afresh",
			 kept);
	chains_resume(d, &chain_objs);
	/* The superblock's magic (and the fd store) has the region before main makes the
	 * kmalloc caches: a daemon stopped in between left it without some or all of them.
	 * Made now, after the rebuild, so a slab of a kmalloc id whose entry is not active
	 * stays allocated above rather than joining a cache it may not fit. */
	r = cache_create_kmalloc(d);
	if (r < 0) {
		log_err("out of memory creating the kmalloc caches");
		return r;
	}
	if (r > 0)
		log_warn("%d kmalloc caches were missing from the region (the daemon that made it "
			 "stopped before it created them): created now",
			 r);
	/* A chunk found entirely free may have been punched out (claimed before use) or
	 * not (released after the delay): release.c keeps it as "unknown". */
	for (zi = 0; zi < d->nr_zones; zi++)
		if (d->zone_tab[zi].kind != SLABD_ZONE_DMA)
			zone_release_restored(&d->zone[zi]);
	/* The old clients' table entries: they register again on their next request. */
	for (i = 0; i < SLABD_MAX_CLIENTS; i++)
		__atomic_store_n(&d->clients[i].id, 0, __ATOMIC_RELEASE);
	log_notice("restart: %u caches, %llu slabs, %llu large allocations found%s; %llu objects "
		   "of interrupted "
		   "free-chain walks put back; %llu slabs of gone caches or in a wrong zone kept "
		   "allocated",
		   caches, (unsigned long long)slabs, (unsigned long long)large, "",
		   (unsigned long long)chain_objs, (unsigned long long)leaked);
	return 0;
}

void persist_announce(struct slabd *d)
{
	if (!d->restored)
		return;
	__atomic_fetch_add(&d->ctl->daemon_epoch, 1, __ATOMIC_RELEASE);
	slabd_futex_wake(&d->ctl->daemon_epoch);
}

uint32_t persist_next_client_id(struct slabd *d)
{
	uint32_t id = d->persist->next_client_id++;

	if (!id) /* 0 is "nobody" in the track records */
		id = d->persist->next_client_id++;
	return id;
}
