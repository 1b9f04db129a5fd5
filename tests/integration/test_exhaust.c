/* SPDX-License-Identifier: MIT */
/*
 * test_exhaust.c - a small region run dry: GFP_NOWAIT fails at once with ENOMEM,
 * __GFP_NORETRY gives up after the daemon's one attempt, GFP_KERNEL sleeps and wakes
 * up with an object as soon as another process frees some.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "daemon_helper.h"

static struct test_daemon td;
static const char *const small[] = { "zone_size=2M", NULL };

static void up(void)
{
	cr_assert_eq(td_start(&td, small), 0, "slabd did not start");
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
}

static void down(void)
{
	cr_expect(td_alive(&td), "slabd died during the test");
	cr_expect_eq(td_stop(&td), 0);
}

TestSuite(exhaust, .init = up, .fini = down, .timeout = 120);

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum { MAX_OBJS = 1024 };

/* Fill the zone with 4 KiB objects; returns how many. */
static int fill(void **objs)
{
	int n = 0;
	while (n < MAX_OBJS) {
		void *p = kmalloc(4096, GFP_KERNEL | __GFP_NORETRY);
		if (!p) {
			cr_assert_eq(errno, ENOMEM, "errno %d", errno);
			break;
		}
		memset(p, 0x5a, 4096);
		objs[n++] = p;
	}
	return n;
}

Test(exhaust, nowait_fails_at_once_and_kernel_sleeps_until_someone_frees)
{
	static void *objs[MAX_OBJS];
	int n = fill(objs), pfd[2], i;
	void *reserve_obj;
	double t0;
	pid_t pid;
	char c;
	struct pollfd pf;

	/* 2 MiB zone = 512 pages: nearly all of it must have been handed out */
	cr_assert_gt(n, 300, "only %d objects of 4 KiB from a 2 MiB zone", n);
	cr_assert_lt(n, 513, "%d objects of 4 KiB cannot fit in 2 MiB", n);

	t0 = now();
	errno = 0;
	cr_assert_null(kmalloc(4096, GFP_NOWAIT));
	cr_assert_eq(errno, ENOMEM);
	/* GFP_ATOMIC may dip into the emergency reserve that the daemon kept aside */
	reserve_obj = kmalloc(4096, GFP_ATOMIC);
	cr_assert_not_null(reserve_obj, "GFP_ATOMIC found no emergency reserve");
	/* "at once": no sleeping for a refill (generous bound for a loaded machine) */
	cr_assert_lt(now() - t0, 0.5, "GFP_NOWAIT took %.3f s", now() - t0);

	cr_assert_eq(pipe(pfd), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char *p = kmalloc(4096, GFP_KERNEL); /* sleeps until the parent frees */
		_exit(p && write(pfd[1], "x", 1) == 1 ? 0 : 1);
	}
	close(pfd[1]);
	pf.fd = pfd[0];
	pf.events = POLLIN;
	/* while nothing is freed the child must still be asleep */
	cr_assert_eq(poll(&pf, 1, 300), 0, "GFP_KERNEL allocation succeeded in a full zone");
	for (i = 0; i < n / 4; i++)
		kfree(objs[i]);
	cr_assert_eq(poll(&pf, 1, 20000), 1, "the sleeping GFP_KERNEL allocation never woke up");
	cr_assert_eq(read(pfd[0], &c, 1), 1);
	{
		int status;
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	for (i = n / 4; i < n; i++)
		kfree(objs[i]);
	kfree(reserve_obj);
}

Test(exhaust, memory_is_reusable_by_other_sizes_after_frees)
{
	static void *objs[MAX_OBJS];
	int n = fill(objs), i, m = 0;
	void *small_objs[4096];

	for (i = 0; i < n; i++)
		kfree(objs[i]);
	/* the pages held by kmalloc-4k must come back for kmalloc-256 */
	for (i = 0; i < 4096; i++) {
		small_objs[i] = kmalloc(256, GFP_KERNEL);
		if (!small_objs[i])
			break;
		m++;
	}
	cr_assert_eq(m, 4096, "only %d objects of 256 B after freeing the zone", m);
	for (i = 0; i < m; i++)
		kfree(small_objs[i]);
}

Test(exhaust, large_allocation_failure_and_recovery)
{
	void *a = kmalloc(1536 << 10, GFP_KERNEL), *b;

	cr_assert_not_null(a, "1.5 MiB from a 2 MiB zone");
	errno = 0;
	b = kmalloc(1 << 20, GFP_NOWAIT);
	cr_assert_null(b);
	cr_assert_eq(errno, ENOMEM);
	kfree(a);
	b = kmalloc(1 << 20, GFP_KERNEL); /* waits for the daemon to collect the free */
	cr_assert_not_null(b);
	kfree(b);
}

/*
 * The pages a busy cache's depot holds come back for a page allocation that needs them.
 * Filling the zone grows kmalloc-4k's refill target beyond the zone: the daemon's
 * reclaim for the large allocation empties the depot, and the worker's next round must
 * not fill it again from the pages just freed before the allocation is retried (nobody
 * asked for objects meanwhile). __GFP_NORETRY: the daemon's one reclaim must do it.
 */
Test(exhaust, a_page_allocation_takes_back_what_a_busy_cache_holds)
{
	static void *objs[MAX_OBJS];
	int n = fill(objs), i;
	void *big;

	cr_assert_gt(n, 300, "only %d objects of 4 KiB from a 2 MiB zone", n);
	for (i = 0; i < n; i++)
		kfree(objs[i]);
	errno = 0;
	big = kmalloc(1536 << 10, GFP_KERNEL | __GFP_NORETRY);
	cr_assert_not_null(big, "1.5 MiB of a free 2 MiB zone: errno %d", errno);
	memset(big, 0x22, 1536 << 10);
	kfree(big);
	/* and the cache still serves (its next miss refills it) */
	for (i = 0; i < 64; i++) {
		objs[i] = kmalloc(4096, GFP_KERNEL);
		cr_assert_not_null(objs[i], "kmalloc-4k after the page allocation, object %d", i);
	}
	for (i = 0; i < 64; i++)
		kfree(objs[i]);
}

/* ------------------------------------------------------- the DMA zone run dry -- */

static const char *const small_dma[] = { "zone_size=2M", "dma_zone_size=2M", "iova_mode=va", NULL };

static void up_dma(void)
{
	cr_assert_eq(td_start(&td, small_dma), 0, "slabd did not start");
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
}

TestSuite(exhaust_dma, .init = up_dma, .fini = down, .timeout = 120);

/*
 * A GFP_DMA page allocation that finds the DMA zone's pages in the dma-kmalloc caches
 * (per-CPU stacks, depots, empty slabs) gets them back, as a normal one does from the
 * node zones: the memory is free, the caller asked only once (__GFP_NORETRY), and an
 * idle cache gives its memory back only seconds later.
 */
Test(exhaust_dma, a_dma_page_allocation_takes_back_what_the_dma_caches_hold)
{
	static void *objs[MAX_OBJS];
	void *big;
	int n = 0, i;

	while (n < MAX_OBJS) {
		void *p = kmalloc(4096, GFP_KERNEL | GFP_DMA | __GFP_NORETRY);
		if (!p) {
			cr_assert_eq(errno, ENOMEM, "errno %d", errno);
			break;
		}
		memset(p, 0x5a, 4096);
		objs[n++] = p;
	}
	cr_assert_gt(n, 300, "only %d objects of 4 KiB from a 2 MiB DMA zone", n);
	for (i = 0; i < n; i++)
		kfree(objs[i]);
	errno = 0;
	big = kmalloc(1536 << 10, GFP_KERNEL | GFP_DMA | __GFP_NORETRY);
	cr_assert_not_null(big, "1.5 MiB of a free 2 MiB DMA zone: errno %d", errno);
	cr_assert_neq(slabd_virt_to_iova(big), SLABD_BAD_IOVA);
	memset(big, 0x11, 1536 << 10);
	kfree(big);
}
