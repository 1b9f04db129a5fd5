/* SPDX-License-Identifier: MIT */
/*
 * test_hugepages.c - the same work on hugetlb-backed zones. As root the test reserves
 * the 2 MiB pages it needs and puts the previous count back afterwards; without root,
 * or when the kernel cannot find the pages, it says what it skipped.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "daemon_helper.h"

static long prev_hugepages = -1;

/* Put the machine's reservation back even when an assertion ended the test early. */
static void restore(void)
{
	td_hugepages_restore(prev_hugepages);
	prev_hugepages = -1;
}

Test(hugepages, zones_are_hugetlb_backed_and_shared_across_fork, .timeout = 120, .fini = restore)
{
	static const char *const sets[] = { "hugepages=on", "zone_size=32M", "dma_zone_size=0", NULL };
	struct test_daemon td;
	struct slabd_attach_info ai;
	int i, status;
	pid_t pid;
	void *objs[1000];

	prev_hugepages = td_hugepages_reserve(24);
	if (prev_hugepages < 0)
		cr_skip_test("cannot reserve hugepages (not root?): hugetlb backing not tested");
	if (td_hugepages_free() < 16) {
		cr_skip_test("the kernel found only %ld free hugepages: hugetlb backing not tested",
			     td_hugepages_free());
	}
	cr_assert_eq(td_start(&td, sets), 0, "slabd with hugepages=on did not start");
	cr_assert(td_log_contains(&td, "backing: hugetlb-2M"));
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
	cr_assert_eq(slabd_attach_info(&ai), 0);
	cr_assert_eq(ai.backing, 2, "backing %u", ai.backing);
	for (i = 0; i < 1000; i++) {
		objs[i] = kmalloc(200, GFP_KERNEL);
		cr_assert_not_null(objs[i]);
		memset(objs[i], i & 0xff, 200);
	}
	pid = fork();
	if (pid == 0) {
		for (i = 0; i < 1000; i++) {
			if (((unsigned char *)objs[i])[199] != (i & 0xff))
				_exit(1);
			kfree(objs[i]);
		}
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child could not use or free the objects");
	cr_assert_eq(td_stop(&td), 0);
}

Test(hugepages, hugepages_on_without_reservation_fails_with_advice, .timeout = 60)
{
	static const char *const sets[] = { "hugepages=on", "zone_size=64G", NULL };
	struct test_daemon td;

	/* 64 GiB of hugepages are never free here: the daemon must refuse and say why */
	cr_assert_neq(td_start(&td, sets), 0, "slabd started without the hugepages it was told to use");
	cr_assert(td_log_contains(&td, "nr_hugepages"), "no advice on reserving hugepages in the log");
}

/* Free hugepages in the kernel's pool, waiting up to 3 s for @cond to hold. */
static long wait_pool(long limit, int above)
{
	struct timespec ts = { 0, 20 * 1000000L };
	long v = td_hugepages_free();
	int i;

	for (i = 0; i < 150 && (above ? v < limit : v > limit); i++) {
		nanosleep(&ts, NULL);
		v = td_hugepages_free();
	}
	return v;
}

Test(hugepages, released_chunks_return_hugepages_to_the_pool_and_come_back, .timeout = 120, .fini = restore)
{
	static const char *const sets[] = { "hugepages=on", "zone_size=32M", "dma_zone_size=0", "release_delay_ms=100",
					    "retain_free=0", NULL };
	struct test_daemon td;
	long before, idle, busy;
	void *v[1024];
	int i;

	prev_hugepages = td_hugepages_reserve(24);
	if (prev_hugepages < 0)
		cr_skip_test("cannot reserve hugepages (not root?): hugepage release not tested");
	before = td_hugepages_free();
	if (before < 16)
		cr_skip_test("the kernel found only %ld free hugepages: hugepage release not tested", before);
	cr_assert_eq(td_start(&td, sets), 0, "slabd with hugepages=on did not start");
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
	/* the 16 hugepages of the idle zone go back to the pool */
	idle = wait_pool(before - 1, 1);
	cr_assert_geq(idle, before - 1, "free hugepages: %ld before the daemon, %ld with it idle", before, idle);
	/* 8 MiB of objects take hugepages again (fallocate re-reserves them) */
	for (i = 0; i < 1024; i++) {
		v[i] = kmalloc(8192, GFP_KERNEL);
		cr_assert_not_null(v[i], "allocation %d failed", i);
		memset(v[i], 1, 8192);
	}
	busy = td_hugepages_free();
	cr_assert_leq(busy, idle - 4, "8 MiB live, but the pool went from %ld to %ld free hugepages", idle, busy);
	for (i = 0; i < 1024; i++)
		kfree(v[i]);
	cr_assert_eq(kmem_cache_shrink(kmem_cache_lookup("kmalloc-8k")), 0);
	cr_assert_geq(wait_pool(idle - 1, 1), idle - 1, "the hugepages did not come back after the free");
	cr_assert_eq(td_stop(&td), 0);
}
