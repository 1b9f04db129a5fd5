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
