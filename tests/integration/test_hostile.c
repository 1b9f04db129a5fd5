/* SPDX-License-Identifier: MIT */
/*
 * test_hostile.c - a client that writes garbage into the shared structures it can write
 * (depot freelists, magazines, stack heads, large-free chain, per-CPU stacks). The
 * daemon must check everything it reads there: it reports and drops what is wrong, keeps
 * running, and other clients keep allocating (invariant 2).
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
#include "slabd_ops.h"
#include "slabd_shm.h"

static struct test_daemon td;

static void up(void)
{
	cr_assert_eq(td_start(&td, NULL), 0, "slabd did not start");
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
}

static void down(void)
{
	cr_expect(td_alive(&td), "slabd died: it followed something a client wrote");
	cr_expect_eq(td_stop(&td), 0, "slabd did not stop cleanly");
}

TestSuite(hostile, .init = up, .fini = down, .timeout = 60);

static void settle(void)
{
	struct timespec ts = { 0, 200 * 1000000L };
	nanosleep(&ts, NULL);
}

static int healthy_child(void)
{
	pid_t pid = fork();
	int status, i;

	if (pid == 0) {
		void *v[256];
		if (slabd_connect(td.sock) < 0)
			_exit(3);
		for (i = 0; i < 20000; i++) {
			v[i % 256] = kmalloc(8 + (size_t)(i % 2000), GFP_KERNEL);
			if (!v[i % 256])
				_exit(1);
			memset(v[i % 256], 0x77, 8);
			if (i % 256 == 255)
				for (int k = 0; k < 256; k++)
					kfree(v[k]);
		}
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

Test(hostile, garbage_in_shared_structures_is_reported_and_dropped)
{
	struct slabd_attach_info ai;
	struct slabd_shm_super *sb;
	struct slabd_shm_ctl *ctl;
	struct slabd_shm_depot *dp;
	struct slabd_shm_mag *mags;
	char *base;
	uint64_t bogus[4];
	uint32_t cache = 6; /* kmalloc-64 */
	void *p;
	int i;

	cr_assert_eq(slabd_attach_info(&ai), 0);
	base = (char *)(uintptr_t)ai.base;
	sb = (struct slabd_shm_super *)base;
	ctl = (void *)(base + sb->percpu_off + sb->ctl_off);
	dp = (void *)(base + sb->percpu_off + sb->depot_off);
	dp += slabd_shm_depot_index(sb, cache, 0);
	mags = (void *)(base + sb->percpu_off + sb->mag_off);

	/* make the cache active so the daemon looks at its depot */
	p = kmalloc(64, GFP_KERNEL);
	kfree(p);

	/* 1. a freelist chain of lies: an object of kmalloc-64, then a misaligned offset
	 *    inside the zone, then the superblock, then far outside the region */
	p = kmalloc(64, GFP_KERNEL);
	bogus[0] = slabd_ptr_to_off(p);
	bogus[1] = sb->zones_off + 4096 * 100 + 3;
	bogus[2] = 0x40;
	bogus[3] = 1ull << 50;
	*(uint64_t *)(base + bogus[0]) = bogus[1];
	slabd_chain_push(&dp->freelist, base, bogus[0], bogus[0]);

	/* 2. magazines with impossible counts and offsets, above the high watermark */
	for (i = 0; i < 12; i++) {
		struct slabd_shm_mag *m = slabd_stack_pop(&ctl->empty_mags, mags, sb->nr_mags);
		cr_assert_not_null(m);
		m->count = i % 2 ? 100000u : 5;
		for (int k = 0; k < 5; k++)
			m->objs[k] = (uint64_t)k * 12345 + 1;
		slabd_stack_push(&dp->full, mags, m);
	}

	/* 3. a large free of something that is no large allocation */
	slabd_chain_push(&ctl->large_free, base, sb->zones_off + 8192, sb->zones_off + 8192);
	*(uint64_t *)(base + sb->zones_off + 8192) = 0xdeadbeef;

	/* 4. a reserve stack head pointing past the magazine array */
	__atomic_store_n(&dp->reserve, (uint64_t)sb->nr_mags + 77, __ATOMIC_RELEASE);

	__atomic_fetch_add(&ctl->kick, 1, __ATOMIC_RELEASE);
	slabd_futex_wake(&ctl->kick);
	settle();
	settle();

	cr_assert(td_alive(&td), "the daemon crashed on client garbage");
	/* the magazines' bad offsets, or (since the daemon checks a depot's top magazine each
	 * round) the stack they were on, reset as corrupt */
	cr_assert(td_log_contains(&td, "is not one of its objects") ||
		      td_log_contains(&td, "depot full stack corrupt"),
		  "bad offsets were not reported");
	cr_assert(td_log_contains(&td, "large free of offset"), "the bad large free was not reported");
	cr_assert(td_log_contains(&td, "has count") ||
		      td_log_contains(&td, "has an impossible count"),
		  "the impossible magazine count was not reported");

	/* everybody else carries on */
	cr_assert_eq(healthy_child(), 0, "a well-behaved client failed after the garbage");
	for (i = 0; i < 5000; i++) {
		void *q = kmalloc(64, GFP_ATOMIC);
		if (q)
			kfree(q);
	}
	p = kmalloc(64, GFP_KERNEL);
	cr_assert_not_null(p);
	kfree(p);
}
