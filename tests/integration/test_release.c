/* SPDX-License-Identifier: MIT */
/*
 * test_release.c - memory goes back to the kernel: chunks of the zones memfd that stay
 * free for release_delay_ms are punched out (the memfd's allocated blocks fall), and come
 * back when allocations need them again.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "slabd_wire.h"

#include "daemon_helper.h"

static struct test_daemon td;

static void up(void)
{
	static const char *const sets[] = { "zone_size=64M", "release_delay_ms=100", "retain_free=0", "dma_zone_size=0", NULL };
	cr_assert_eq(td_start(&td, sets), 0, "slabd did not start");
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
}

static void down(void)
{
	cr_expect(td_alive(&td), "slabd died during the test");
	cr_expect_eq(td_stop(&td), 0);
}

TestSuite(release, .init = up, .fini = down, .timeout = 60);

/* Bytes the daemon's zones memfd holds (its allocated blocks). */
static long long zones_resident(void)
{
	char dir[64], path[320], link[256];
	struct dirent *e;
	long long bytes = -1;
	DIR *dp;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)td.pid);
	dp = opendir(dir);
	if (!dp)
		return -1;
	while ((e = readdir(dp))) {
		struct stat st;
		ssize_t n;

		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (strstr(link, "memfd:slabd-zones") && stat(path, &st) == 0) {
			bytes = (long long)st.st_blocks * 512;
			break;
		}
	}
	closedir(dp);
	return bytes;
}

/* Wait up to @ms for the resident size to satisfy below ? < limit : >= limit. */
static long long wait_resident(long long limit, int below, int ms)
{
	struct timespec ts = { 0, 20 * 1000000L };
	long long r = zones_resident();
	int i;

	for (i = 0; i < ms / 20 && (below ? r >= limit : r < limit); i++) {
		nanosleep(&ts, NULL);
		r = zones_resident();
	}
	return r;
}

Test(release, free_chunks_go_back_to_the_kernel_and_return_on_demand)
{
	enum { N = 4096 }; /* 4096 x 8 KiB = 32 MiB */
	static void *v[N];
	long long r;
	int i;

	/* pre-faulted at start, then released: nothing is in use yet */
	cr_assert_geq(zones_resident(), 0, "cannot find the daemon's zones memfd");
	r = wait_resident(4 << 20, 1, 3000);
	cr_assert_lt(r, 4 << 20, "an idle 64 MiB zone still holds %lld KiB after the release delay", r >> 10);

	for (i = 0; i < N; i++) {
		v[i] = kmalloc(8192, GFP_KERNEL);
		cr_assert_not_null(v[i], "allocation %d after the release failed", i);
		memset(v[i], i & 0xff, 8192);
	}
	r = zones_resident();
	cr_assert_geq(r, 32ll << 20, "32 MiB live but only %lld KiB resident", r >> 10);
	for (i = 0; i < N; i++)
		cr_assert_eq(((unsigned char *)v[i])[8191], i & 0xff, "object %d lost its contents", i);

	for (i = 0; i < N; i++)
		kfree(v[i]);
	cr_assert_eq(kmem_cache_shrink(kmem_cache_lookup("kmalloc-8k")), 0);
	r = wait_resident(8 << 20, 1, 3000);
	cr_assert_lt(r, 8 << 20, "after freeing 32 MiB, %lld KiB stay resident", r >> 10);
	cr_assert(td_log_contains(&td, "kmalloc-8k shrunk"));

	/* and the memory comes back once more */
	for (i = 0; i < N; i++) {
		v[i] = kmalloc(8192, GFP_KERNEL);
		cr_assert_not_null(v[i]);
		memset(v[i], 0x5a, 8192);
	}
	for (i = 0; i < N; i++)
		kfree(v[i]);
}

/*
 * A cache that has gone quiet is shrunk once; what its clients free after that (full
 * magazines pushed by the freeing CPU, per-CPU stacks drained when idle) lands in an idle
 * cache and must go back too, after the same delay, not at the cache's next demand.
 * With retain_free = 0 the emergency reserve of an idle cache goes as well.
 */
Test(release, frees_after_the_idle_shrink_go_back_too, .timeout = 90)
{
	enum { N = 4096 }; /* 4096 x 8 KiB = 32 MiB */
	static void *v[N];
	struct timespec idle = { 7, 0 };
	long long r;
	int i;

	for (i = 0; i < N; i++) {
		v[i] = kmalloc(8192, GFP_KERNEL);
		cr_assert_not_null(v[i], "allocation %d failed", i);
		memset(v[i], 0x33, 8192);
	}
	/* no demand for longer than the daemon's idle shrink delay (5 s) */
	nanosleep(&idle, NULL);
	for (i = 0; i < N; i++)
		kfree(v[i]);
	r = wait_resident(512 << 10, 1, 30000);
	cr_assert_lt(r, 512 << 10, "32 MiB freed after the cache went idle, but %lld KiB stay resident", r >> 10);
}

/* ------------------------------------------------------------ after a restart -- */

static char restart_dir[128];

static void restart_cleanup(void)
{
	static const char *const names[] = { "meta", "percpu", "zones", "slabs" };
	char p[200];
	unsigned int i;

	if (td.pid > 0)
		td_stop(&td);
	for (i = 0; restart_dir[0] && i < 4; i++) {
		snprintf(p, sizeof(p), "%s/%s", restart_dir, names[i]);
		unlink(p);
	}
	if (restart_dir[0])
		rmdir(restart_dir);
}

TestSuite(release_restart, .fini = restart_cleanup, .timeout = 90);

static long long file_resident(const char *name)
{
	char p[200];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", restart_dir, name);
	return stat(p, &st) == 0 ? (long long)st.st_blocks * 512 : -1;
}

static long long wait_file_resident_below(long long limit, int ms)
{
	struct timespec ts = { 0, 20 * 1000000L };
	long long r = file_resident("zones");
	int i;

	for (i = 0; i < ms / 20 && r >= limit; i++) {
		nanosleep(&ts, NULL);
		r = file_resident("zones");
	}
	return r;
}

static void total_stats(struct slabd_wire_stats *st)
{
	struct slabd_wire_stats_req q;

	memset(&q, 0, sizeof(q));
	memset(st, 0, sizeof(*st));
	slabd_wire_init(&q.hdr, SLABD_MSG_STATS, sizeof(q), 1);
	cr_assert_eq(td_request(&td, &q, sizeof(q), st, sizeof(*st), SLABD_MSG_STATS_REPLY), 0, "no STATS_REPLY");
	cr_assert_eq(st->err, 0);
}

/*
 * A daemon restarted on a region kept in files finds the free chunks of the zones. Those
 * the first daemon never punched out (still inside its release delay) are resident and
 * must go back after the new daemon's delay; the released figure must count what is
 * released and never wrap when those chunks are taken again.
 */
Test(release_restart, free_chunks_found_at_a_restart_go_back_and_stay_counted)
{
	const char *first[] = { "zone_size=64M", "release_delay_ms=600000", "retain_free=0",
				"dma_zone_size=0", NULL, NULL };
	const char *second[] = { "zone_size=64M", "release_delay_ms=100", "retain_free=0",
				 "dma_zone_size=0", NULL, NULL };
	char set_dir[160];
	enum { N = 4096 }; /* 4096 x 8 KiB = 32 MiB */
	static void *v[N];
	struct slabd_wire_stats st;
	long long r;
	int i;

	snprintf(restart_dir, sizeof(restart_dir), "/dev/shm/slabd-release-restart-%d", (int)getpid());
	snprintf(set_dir, sizeof(set_dir), "region_dir=%s", restart_dir);
	first[4] = second[4] = set_dir;

	/* the first daemon keeps its pre-faulted zone: nothing is due within 10 minutes */
	cr_assert_eq(td_start(&td, first), 0, "slabd with region_dir did not start");
	r = file_resident("zones");
	cr_assert_geq(r, 32ll << 20, "the zone was not pre-faulted (%lld KiB)", r >> 10);
	cr_assert_eq(td_stop(&td), 0);

	cr_assert_eq(td_restart(&td, second), 0, "slabd did not start again on its region");
	r = wait_file_resident_below(8 << 20, 10000);
	cr_expect_lt(r, 8 << 20, "after the restart, %lld KiB of free chunks stay resident", r >> 10);
	total_stats(&st);
	cr_assert_leq(st.released, st.zone_size, "released %llu of a %llu-byte region",
		      (unsigned long long)st.released, (unsigned long long)st.zone_size);
	cr_expect_geq(st.released, 32ull << 20, "%llu bytes counted as released after the release",
		      (unsigned long long)st.released);

	/* the chunks come back for allocations, and the figures stay within the region */
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
	for (i = 0; i < N; i++) {
		v[i] = kmalloc(8192, GFP_KERNEL);
		cr_assert_not_null(v[i], "allocation %d after the restart failed", i);
		memset(v[i], 0x77, 8192);
	}
	total_stats(&st);
	cr_assert_leq(st.released, st.zone_size, "released %llu of a %llu-byte region",
		      (unsigned long long)st.released, (unsigned long long)st.zone_size);
	cr_assert_leq(st.zone_free + st.released, st.zone_size, "free %llu + released %llu > zones %llu",
		      (unsigned long long)st.zone_free, (unsigned long long)st.released,
		      (unsigned long long)st.zone_size);
	for (i = 0; i < N; i++)
		kfree(v[i]);
	slabd_disconnect();
}
