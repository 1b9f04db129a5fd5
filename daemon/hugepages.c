/* SPDX-License-Identifier: MIT */
/*
 * hugepages.c - `slabd --reserve-hugepages`: reserve the hugepages the config's zones
 * need, before the daemon starts (slabd.service runs it as root with ExecStartPre=+, since
 * the sandboxed daemon may not write kernel tunables).
 *
 * Only with hugepages_reserve = yes and hugepages != off. Per NUMA node when the kernel
 * has per-node pools (/sys/devices/system/node/nodeN/hugepages/...) and there is more
 * than one node, so each zone finds its pages on its own node (the DMA zone's on
 * dma_node's); else the global pool. The
 * count is only raised, by what is missing from the free pages: pages other programs
 * reserved stay theirs. A kernel that cannot find enough contiguous memory gives fewer;
 * that is reported, and the daemon then falls back (auto) or refuses (on) as usual.
 *
 * SLABD_TEST_SYSFS, when set, replaces "/sys" (tests point it at files of their own).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "slabd_daemon.h"

long read_long(const char *path)
{
	FILE *f = fopen(path, "re");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "we");
	int r;

	if (!f)
		return -errno;
	r = fprintf(f, "%ld\n", v) > 0 ? 0 : -EIO;
	if (fclose(f) != 0 && !r)
		r = -errno;
	return r;
}

/* Make @need pages free in the pool at @dir; 0, or -errno / -ENOMEM (fewer were given). */
static int reserve_pool(const char *dir, const char *what, long need)
{
	char nr_path[256], free_path[256];
	long nr, fr, want, got;
	int r;

	snprintf(nr_path, sizeof(nr_path), "%s/nr_hugepages", dir);
	snprintf(free_path, sizeof(free_path), "%s/free_hugepages", dir);
	nr = read_long(nr_path);
	fr = read_long(free_path);
	if (nr < 0 || fr < 0) {
		log_err(
		    "reserve hugepages: cannot read %s (no hugetlb support for this page size?)",
		    dir);
		return -ENOENT;
	}
	if (fr >= need) {
		log_info("reserve hugepages: %s has %ld free, %ld needed: nothing to do", what, fr,
			 need);
		return 0;
	}
	want = nr + (need - fr);
	r = write_long(nr_path, want);
	if (r < 0) {
		log_err("reserve hugepages: cannot write %ld to %s: %s (needs root)", want, nr_path,
			strerror(-r));
		return r;
	}
	got = read_long(nr_path);
	if (got < want) {
		log_warn("reserve hugepages: %s: asked the kernel for %ld, it has %ld (not enough "
			 "contiguous "
			 "memory; reserve them at boot with hugepages= on the kernel command line)",
			 what, want, got);
		return -ENOMEM;
	}
	log_notice("reserve hugepages: %s: %ld -> %ld hugepages (%ld needed free)", what, nr, got,
		   need);
	return 0;
}

static const char default_sys[] = "/sys";

/* Hugepages the zone of kernel node @node_os needs (as region.c sizes it: zone_size.N or
 * zone_size, rounded up to the hugepage size). */
static long zone_pages(const struct config *c, int node_os)
{
	uint64_t hp = c->hugepage_size;
	uint64_t size = node_os >= 0 && node_os < SLABD_CONFIG_NODES && c->node_zone_size[node_os]
				? c->node_zone_size[node_os]
				: c->zone_size;

	return (long)((size + hp - 1) / hp);
}

/* Hugepages of the DMA zone (dma.c's dma_zone_bytes: dma_zone_size rounded up), 0 without
 * one. It is the zones segment's last zone, backed as the node zones are, so it needs its
 * pages too: in kernel node dma_node's pool, where dma.c binds it. */
static long dma_pages(const struct config *c)
{
	uint64_t hp = c->hugepage_size;

	return (long)((c->dma_zone_size + hp - 1) / hp);
}

int hugepages_reserve(const struct config *c, const struct topo *t)
{
	uint64_t hp = c->hugepage_size;
	long total = 0;
	const char *sys = getenv("SLABD_TEST_SYSFS");
	char dir[256], what[64];
	uint32_t n;
	int r = 0, k;

	if (!sys || !*sys)
		sys = default_sys;
	if (!c->hugepages_reserve || c->hugepages == HUGEPAGES_OFF) {
		log_info(
		    "reserve hugepages: not asked to (hugepages_reserve = no, or hugepages = off)");
		return 0;
	}
	/* a synthetic topology has no pools of its own, except in a test's fake sysfs */
	if (t->nr_nodes > 1 && (!t->simulated || sys != default_sys)) {
		for (n = 0; n < t->nr_nodes; n++) {
			snprintf(dir, sizeof(dir),
				 "%s/devices/system/node/node%d/hugepages/hugepages-%llukB", sys,
				 t->node_os[n], (unsigned long long)(hp >> 10));
			snprintf(what, sizeof(what), "node %d", t->node_os[n]);
			k = reserve_pool(dir, what,
					 zone_pages(c, t->node_os[n]) + (t->node_os[n] == c->dma_node ? dma_pages(c) : 0));
			if (k < 0 && !r)
				r = k;
		}
		return r;
	}
	snprintf(dir, sizeof(dir), "%s/kernel/mm/hugepages/hugepages-%llukB", sys,
		 (unsigned long long)(hp >> 10));
	for (n = 0; n < t->nr_nodes; n++)
		total += zone_pages(c, t->node_os[n]);
	total += dma_pages(c);
	return reserve_pool(dir, "the system pool", total);
}
