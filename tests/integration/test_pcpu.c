/* SPDX-License-Identifier: MIT */
/*
 * test_pcpu.c - the daemon sizes and empties per-CPU caches: a CPU whose stack keeps
 * both running dry and overflowing gets more capacity, a quiet one goes back to the
 * default, and the stack of a CPU that stopped allocating is drained (by the daemon,
 * running on that CPU) so its objects can serve others.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "daemon_helper.h"
#include "slabd_shm.h"

static struct test_daemon td;

static void up(void)
{
	static const char *const sets[] = { "idle_drain_ms=300", NULL };
	cpu_set_t one;

	cr_assert_eq(td_start(&td, sets), 0, "slabd did not start");
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
}

static void down(void)
{
	cr_expect(td_alive(&td), "slabd died during the test");
	cr_expect_eq(td_stop(&td), 0);
}

TestSuite(pcpu, .init = up, .fini = down, .timeout = 60);

static const struct slabd_shm_pcpu *stack_of(uint32_t cache, uint32_t cpu)
{
	struct slabd_attach_info ai;
	const struct slabd_shm_super *sb;

	cr_assert_eq(slabd_attach_info(&ai), 0);
	sb = (const void *)(uintptr_t)ai.base;
	return (const void *)((const char *)sb + sb->percpu_off + slabd_shm_pcpu_cache_off(sb, cache) +
			      ((uint64_t)cpu << SLABD_PCPU_SHIFT));
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

Test(pcpu, an_idle_cpus_cache_is_drained)
{
	const struct slabd_shm_pcpu *p = stack_of(8, 0); /* kmalloc-256 on CPU 0 */
	void *v[20];
	int i;

	for (i = 0; i < 20; i++)
		cr_assert_not_null(v[i] = kmalloc(256, GFP_KERNEL));
	for (i = 0; i < 20; i++)
		kfree(v[i]);
	cr_assert_geq(p->count, 20, "CPU 0's stack holds %u objects after 20 frees", p->count);
	/* nothing happens on CPU 0 for kmalloc-256 now: within a few periods it is drained */
	for (i = 0; i < 100 && p->count; i++)
		sleep_ms(50);
	cr_assert_eq(p->count, 0, "an idle CPU's stack still holds %u objects after 5 s", p->count);
	cr_assert(td_log_contains(&td, "ready"));
	/* the objects went back, and allocation goes on */
	cr_assert_not_null(v[0] = kmalloc(256, GFP_KERNEL));
	kfree(v[0]);
}

Test(pcpu, a_cpu_that_thrashes_gets_more_capacity_and_gives_it_back_when_quiet)
{
	const struct slabd_shm_pcpu *p = stack_of(12, 0); /* kmalloc-4k: 16 per magazine */
	uint32_t start, grown = 0;
	struct timespec t0, t;
	static void *v[100];
	int i;

	v[0] = kmalloc(4096, GFP_KERNEL); /* make sure the cache is set up */
	kfree(v[0]);
	start = p->capacity;
	cr_assert_eq(start, 64, "default capacity of kmalloc-4k is %u", start);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		/* 100 objects: more than the stack holds, so it runs dry, then overflows */
		for (i = 0; i < 100; i++)
			cr_assert_not_null(v[i] = kmalloc(4096, GFP_KERNEL));
		for (i = 0; i < 100; i++)
			kfree(v[i]);
		if (p->capacity > grown)
			grown = p->capacity;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec < 2);
	cr_assert_gt(grown, start, "the capacity stayed at %u under thrashing", grown);
	cr_assert_leq(grown, SLABD_PCPU_SLOTS);
	/* quiet now: ten looks without a miss take it back down, step by step */
	for (i = 0; i < 200 && p->capacity > start; i++)
		sleep_ms(50);
	cr_assert_eq(p->capacity, start, "the capacity is still %u after 10 quiet seconds", p->capacity);
}

static void pin(int cpu)
{
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
}

/* A handoff's two ends: CPU 0 only allocates, CPU 1 only frees. Each of their misses is
 * one-sided, so each moves three magazines instead of one (lib/alloc.c, EXTRA_MAGS):
 * about a third of the misses of one magazine per miss. Nothing is lost or duplicated. */
Test(pcpu, a_cpu_that_only_allocates_or_only_frees_moves_several_magazines_per_miss)
{
	enum { N = 3100, ROUNDS = 4 };
	static void *v[N];
	struct slabd_attach_info ai;
	const struct slabd_shm_super *sb;
	const struct slabd_shm_pcpu_stat *st;
	const struct slabd_shm_cache *tab;
	uint32_t a0, f1, per, cache = 6; /* kmalloc-64 */
	int i, round;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		cr_skip_test("needs two CPUs");
	cr_assert_eq(slabd_attach_info(&ai), 0);
	sb = (const void *)(uintptr_t)ai.base;
	cr_assert_geq(sb->nr_cpus, 2);
	st = (const void *)((const char *)sb + sb->percpu_off + sb->pcpu_stat_off);
	tab = (const void *)((const char *)sb + sb->cache_table_off);
	for (round = 0; round < ROUNDS; round++) {
		a0 = st[slabd_shm_pcpu_stat_index(sb->max_caches, cache, 0)].alloc_misses;
		f1 = st[slabd_shm_pcpu_stat_index(sb->max_caches, cache, 1)].free_misses;
		pin(0);
		for (i = 0; i < N; i++) {
			cr_assert_not_null(v[i] = kmalloc(64, GFP_KERNEL));
			*(uint64_t *)v[i] = (uint64_t)i;
		}
		pin(1);
		for (i = 0; i < N; i++) {
			cr_assert_eq(*(uint64_t *)v[i], (uint64_t)i, "object %d shared", i);
			kfree(v[i]);
		}
		a0 = st[slabd_shm_pcpu_stat_index(sb->max_caches, cache, 0)].alloc_misses - a0;
		f1 = st[slabd_shm_pcpu_stat_index(sb->max_caches, cache, 1)].free_misses - f1;
	}
	per = tab[cache].mag_objs;
	cr_assert_eq(ksize(v[0]), 64);
	cr_assert_gt(per, 0);
	/* one magazine per miss would be N / per (100); three, 34 */
	cr_assert_lt(a0, N / per * 2 / 3, "CPU 0 missed %u times allocating %d objects (%u per magazine)", a0, N,
		     per);
	cr_assert_lt(f1, N / per * 2 / 3, "CPU 1 missed %u times freeing %d objects (%u per magazine)", f1, N, per);
	pin(0);
}
