/* SPDX-License-Identifier: MIT */
/*
 * test_hostile.c - a client plants bad offsets in each shared structure it can write, one
 * structure per test, where the daemon really reads them: per-CPU stack slots, magazine
 * entries and counts, free-chain links (and the large-free chain), depot stack heads,
 * remote-free stacks and their counts. The bad offsets are of every kind: inside an
 * object (misaligned), another cache's live object, the superblock, far outside the
 * region, an object given back twice.
 *
 * Each test asserts that the daemon stays up (fini), that the counter of that kind of
 * damage rose (the VERIFY counters, also in `slabctl stats` and the metrics), that the
 * damaged cache was repaired (it works again) or the damaged magazine quarantined (left
 * as it was, never emptied or reused), that nothing planted was written or handed out,
 * and that other caches keep working in another client (invariant 2).
 *
 * Under valgrind (the `valgrind` suite) the daemon has no rseq: it cannot run the
 * sequences that drain a CPU's stacks, so the three tests that need that drain skip.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "daemon_helper.h"
#include "shm_view.h"
#include "slabd_ops.h"
#include "slabd_shm.h"
#include "slabd_wire.h"

static struct test_daemon td;
static struct shm_view g;

static void up(void)
{
	/* idle per-CPU and remote-free stacks are drained after 200 ms instead of 5 s */
	cr_assert_eq(td_start(&td, (const char *const[]){"idle_drain_ms=200", NULL}), 0,
		     "slabd did not start");
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
	cr_assert_eq(shm_view_get(&g), 0);
}

static void down(void)
{
	cr_expect(td_alive(&td), "slabd died: it followed something a client wrote");
	cr_expect_eq(td_stop(&td), 0, "slabd did not stop cleanly");
}

TestSuite(hostile, .init = up, .fini = down, .timeout = 120);

static int under_valgrind(void)
{
	const char *v = getenv("SLABD_TEST_VALGRIND");
	return v && *v && strcmp(v, "0");
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* The daemon drains a CPU's stacks by running on it: only CPUs this process (and so the
 * daemon it started) may run on get planted offsets that need a drain. */
static int cpu_usable(uint32_t cpu)
{
	cpu_set_t set;
	return cpu < CPU_SETSIZE && sched_getaffinity(0, sizeof(set), &set) == 0 &&
	       CPU_ISSET(cpu, &set);
}

static void counters(struct slabd_wire_verify *ret)
{
	cr_assert_eq(td_verify(&td, 0, ret), 0, "no VERIFY reply (stderr says why)");
}

/* Poll the VERIFY counters (kicking the workers) until @field rose by at least @delta
 * over @before; up to 60 s, so a loaded machine cannot make it fail. The value back. */
#define WAIT_RISE(before, field, delta)                                                            \
	({                                                                                         \
		struct slabd_wire_verify now_;                                                     \
		int tries_;                                                                        \
		for (tries_ = 0; tries_ < 600; tries_++) {                                         \
			counters(&now_);                                                           \
			if (now_.field >= (before).field + (delta))                                \
				break;                                                             \
			shm_kick(&g);                                                              \
			sleep_ms(100);                                                             \
		}                                                                                  \
		cr_assert_geq(now_.field, (before).field + (delta),                                \
			      #field " rose by %llu, not by %llu",                                 \
			      (unsigned long long)(now_.field - (before).field),                   \
			      (unsigned long long)(delta));                                        \
		now_.field;                                                                        \
	})

/* The daemon counts a corruption before it logs it: wait up to 30 s for the log line. */
static int log_has(const char *needle)
{
	int tries;

	for (tries = 0; tries < 300 && !td_log_contains(&td, needle); tries++)
		sleep_ms(100);
	return td_log_contains(&td, needle);
}

/* Poll until *@count is 0 (the daemon drained or reset the stack); 1 when it did. */
static int wait_zero(const uint32_t *count)
{
	int tries;

	for (tries = 0; tries < 600; tries++) {
		if (!__atomic_load_n(count, __ATOMIC_ACQUIRE))
			return 1;
		shm_kick(&g);
		sleep_ms(100);
	}
	return 0;
}

/* Another client, on caches no test damages (kmalloc-32, -512, -1024 and -2048):
 * allocates, writes an owner pattern, checks it and frees, 20000 times. Exit status 0
 * when all of it held. */
static int healthy_child(void)
{
	static const size_t sizes[] = {32, 512, 1024, 2048};
	pid_t pid = fork();
	int status;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		unsigned long *v[64];
		int i, k;
		if (slabd_connect(td.sock) < 0)
			_exit(3);
		for (i = 0; i < 20000 / 64; i++) {
			size_t size = sizes[i % 4];
			for (k = 0; k < 64; k++) {
				if (!(v[k] = kmalloc(size, GFP_KERNEL)))
					_exit(1);
				v[k][0] =
				    ((unsigned long)getpid() << 20) ^ (unsigned long)(i * 64 + k);
				v[k][size / sizeof(long) - 1] = ~v[k][0];
			}
			for (k = 0; k < 64; k++) {
				if (v[k][0] != (((unsigned long)getpid() << 20) ^
						(unsigned long)(i * 64 + k)) ||
				    v[k][size / sizeof(long) - 1] != ~v[k][0])
					_exit(2); /* somebody else had this object */
				kfree(v[k]);
			}
		}
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

/* The damaged cache works again: @n objects from it (kmalloc of @size, or of the named
 * cache @c), each with a pattern that must hold until it is freed. */
static void cache_works(struct kmem_cache *c, size_t size, int n)
{
	static unsigned char *v[4096];
	int i;

	cr_assert_leq(n, 4096);
	for (i = 0; i < n; i++) {
		v[i] = c ? kmem_cache_alloc(c, GFP_KERNEL) : kmalloc(size, GFP_KERNEL);
		cr_assert_not_null(v[i], "the damaged cache does not allocate again (object %d)",
				   i);
		memset(v[i], i & 0xff, size);
	}
	for (i = 0; i < n; i++) {
		cr_assert_eq(v[i][0], i & 0xff, "object %d was handed out twice", i);
		cr_assert_eq(v[i][size - 1], i & 0xff, "object %d was handed out twice", i);
		if (c)
			kmem_cache_free(c, v[i]);
		else
			kfree(v[i]);
	}
}

/* A live object of kmalloc-512 filled with 0xa5: planted as a lie, it must be neither
 * taken back nor written. */
static unsigned char *lie_new(void)
{
	unsigned char *p = kmalloc(512, GFP_KERNEL);
	cr_assert_not_null(p);
	memset(p, 0xa5, 512);
	return p;
}

static void lie_check_and_free(unsigned char *p)
{
	int i;
	for (i = 0; i < 512; i++)
		cr_assert_eq(p[i], 0xa5, "the planted live object was written at byte %d", i);
	kfree(p);
}

static uint64_t off_of(const void *p)
{
	return slabd_ptr_to_off(p);
}

/* Offsets that are no object of any cache. */
#define OFF_SUPERBLOCK ((uint64_t)0x40)
#define OFF_FAR	       ((uint64_t)1 << 50)

Test(hostile, bad_offsets_in_per_cpu_stack_slots_are_dropped_and_the_cache_works_again)
{
	struct slabd_wire_verify before;
	unsigned char *lie = lie_new(), *mine[4];
	uint32_t victim, cpu, first = UINT32_MAX, planted = 0;
	int i;

	if (under_valgrind())
		cr_skip_test("valgrind has no rseq: the daemon cannot drain a CPU's stack");
	for (i = 0; i < 4; i++) {
		cr_assert_not_null(mine[i] = kmalloc(128, GFP_KERNEL));
		memset(mine[i], 0x3c, 128);
	}
	victim = shm_cache_of(&g, mine[0]);
	counters(&before);

	/* every CPU's stack of kmalloc-128: an offset inside one of my objects, another
	 * cache's live object, the superblock, far outside; on the first CPU also one of my
	 * objects twice (one free, one double free). Nobody else uses kmalloc-128 here, and
	 * this process allocates none of it until the daemon has drained the stacks. */
	for (cpu = 0; cpu < g.sb->nr_cpus; cpu++) {
		struct slabd_shm_pcpu *p = shm_pcpu(&g, victim, cpu);
		uint32_t n = 0;
		if (!cpu_usable(cpu))
			continue;
		p->slots[n++] = off_of(mine[1]) + 8;
		p->slots[n++] = off_of(lie);
		p->slots[n++] = OFF_SUPERBLOCK;
		p->slots[n++] = OFF_FAR;
		if (first == UINT32_MAX) {
			first = cpu;
			p->slots[n++] = off_of(mine[0]);
			p->slots[n++] = off_of(mine[0]);
		}
		planted += 4;
		__atomic_store_n(&p->count, n, __ATOMIC_RELEASE);
	}
	/* idle for idle_drain_ms: the worker drains each stack from its CPU */
	WAIT_RISE(before, bad_objects, planted);
	WAIT_RISE(before, double_frees, 1);
	cr_assert_gt(planted, 0, "no CPU to run on");
	for (cpu = 0; cpu < g.sb->nr_cpus; cpu++)
		cr_assert(!cpu_usable(cpu) || wait_zero(&shm_pcpu(&g, victim, cpu)->count),
			  "CPU %u was not drained", cpu);
	cr_assert(log_has("from client memory is not one of its objects; dropped"));
	cr_assert(log_has("returned twice (double free); dropped"));

	/* nothing planted was written; the cache and the others work */
	for (i = 0; i < 128; i++)
		cr_assert_eq(mine[1][i], 0x3c,
			     "the object under the misaligned offset was written");
	lie_check_and_free(lie);
	cache_works(NULL, 128, 2000);
	cr_assert_eq(healthy_child(), 0, "another client failed after the damage");
	for (i = 1; i < 4; i++)
		kfree(mine[i]);
}

Test(hostile, an_impossible_per_cpu_count_is_reset_and_the_cache_works_again)
{
	struct slabd_wire_verify before;
	uint32_t victim, cpu;
	void *p = kmalloc(128, GFP_KERNEL);

	cr_assert_not_null(p);
	victim = shm_cache_of(&g, p);
	kfree(p);
	counters(&before);
	for (cpu = 0; cpu < g.sb->nr_cpus; cpu++)
		__atomic_store_n(&shm_pcpu(&g, victim, cpu)->count, 128 + cpu * 1000,
				 __ATOMIC_RELEASE);
	WAIT_RISE(before, bad_pcpu, g.sb->nr_cpus);
	for (cpu = 0; cpu < g.sb->nr_cpus; cpu++)
		cr_assert(wait_zero(&shm_pcpu(&g, victim, cpu)->count), "CPU %u not reset", cpu);
	cr_assert(log_has("per-CPU stack count 128 is corrupt"));
	cache_works(NULL, 128, 2000);
	cr_assert_eq(healthy_child(), 0, "another client failed after the damage");
}

/* The full stack of (@victim, node 0) holds at least one magazine (the daemon's refill). */
static struct slabd_shm_depot *depot_with_magazines(uint32_t victim)
{
	struct slabd_shm_depot *dp = shm_depot(&g, victim, 0);
	int tries;

	for (tries = 0; tries < 600; tries++) {
		if (slabd_stack_count(__atomic_load_n(&dp->full, __ATOMIC_ACQUIRE)))
			return dp;
		shm_kick(&g);
		sleep_ms(100);
	}
	cr_assert_fail("the daemon never refilled the depot");
	return NULL;
}

Test(hostile, foreign_entries_in_a_depots_top_magazine_reset_the_stack_and_leave_it_alone)
{
	struct slabd_wire_verify before;
	struct kmem_cache *c = kmem_cache_create("hostile-mag", 96, 8, 0, NULL);
	struct slabd_shm_depot *dp;
	struct slabd_shm_mag *m;
	unsigned char *lie = lie_new();
	uint64_t planted[4];
	void *p;
	int i;

	cr_assert_not_null(c, "%s", slabd_last_error());
	cr_assert_not_null(p = kmem_cache_alloc(c, GFP_KERNEL));
	dp = depot_with_magazines(shm_cache_of(&g, p));
	counters(&before);

	/* take the top magazine (its objects are then this process's), write foreign
	 * entries with a plausible count, put it back on top */
	m = slabd_stack_pop(&dp->full, g.mags, g.sb->nr_mags);
	cr_assert_not_null(m);
	planted[0] = off_of(lie);
	planted[1] = off_of(p) + 8;
	planted[2] = OFF_SUPERBLOCK;
	planted[3] = OFF_FAR;
	memcpy(m->objs, planted, sizeof(planted));
	m->count = 4;
	slabd_stack_push(&dp->full, g.mags, m);

	WAIT_RISE(before, bad_stacks, 1);
	cr_assert(log_has("depot full stack corrupt (its top magazine holds something "
				       "that is not one of its objects"));
	/* quarantined: not emptied, not recycled */
	cr_assert_eq(m->count, 4, "the quarantined magazine was touched");
	for (i = 0; i < 4; i++)
		cr_assert_eq(m->objs[i], planted[i], "the quarantined magazine was touched");
	lie_check_and_free(lie);
	kmem_cache_free(c, p);
	cache_works(c, 96, 3000); /* the depot is refilled with other magazines */
	cr_assert_eq(healthy_child(), 0, "another client failed after the damage");
}

/* Push on the full stack of @dp a magazine (from the empty stack) with @n entries
 * @objs and count @count; the magazine back. */
static struct slabd_shm_mag *push_mag(struct slabd_shm_depot *dp, const uint64_t *objs, uint32_t n,
				      uint32_t count)
{
	struct slabd_shm_mag *m = slabd_stack_pop(&g.ctl->empty_mags, g.mags, g.sb->nr_mags);

	cr_assert_not_null(m, "no empty magazine");
	memcpy(m->objs, objs, n * sizeof(objs[0]));
	m->count = count;
	slabd_stack_push(&dp->full, g.mags, m);
	return m;
}

Test(hostile, a_bad_magazine_under_a_good_one_is_quarantined_when_the_daemon_empties_the_depot)
{
	struct slabd_wire_verify before, audit;
	struct kmem_cache *c = kmem_cache_create("hostile-deep", 200, 8, 0, NULL);
	struct slabd_shm_depot *dp;
	struct slabd_shm_mag *bad_count, *bad_entries;
	unsigned char *lie = lie_new();
	uint64_t good[8], garbage[4];
	void *p;
	int i;

	if (under_valgrind())
		cr_skip_test("valgrind has no rseq: shrink cannot drain the per-CPU stacks first");
	cr_assert_not_null(c, "%s", slabd_last_error());
	cr_assert_not_null(p = kmem_cache_alloc(c, GFP_KERNEL));
	dp = shm_depot(&g, shm_cache_of(&g, p), 0);
	garbage[0] = off_of(lie);
	garbage[1] = off_of(p) + 4;
	garbage[2] = OFF_SUPERBLOCK;
	garbage[3] = OFF_FAR;

	/* 1. a magazine with an impossible count, under a good one (objects of the cache
	 *    freed by putting them there): the daemon's depot check sees only the good top;
	 *    the shrink pops both */
	counters(&before);
	for (i = 0; i < 8; i++) {
		void *o = kmem_cache_alloc(c, GFP_KERNEL);
		cr_assert_not_null(o);
		good[i] = off_of(o);
	}
	bad_count = push_mag(dp, garbage, 4, 100000);
	push_mag(dp, good, 8, 8);
	cr_assert_eq(kmem_cache_shrink(c), 0, "%s", slabd_last_error());
	WAIT_RISE(before, bad_mags, 1);
	WAIT_RISE(before, quarantined, 1);
	cr_assert(log_has("has count 100000"));
	cr_assert_eq(bad_count->count, 100000, "the quarantined magazine was touched");

	/* 2. a magazine with a possible count but foreign entries, the same way */
	counters(&before);
	for (i = 0; i < 8; i++) {
		void *o = kmem_cache_alloc(c, GFP_KERNEL);
		cr_assert_not_null(o);
		good[i] = off_of(o);
	}
	bad_entries = push_mag(dp, garbage, 4, 4);
	push_mag(dp, good, 8, 8);
	cr_assert_eq(kmem_cache_shrink(c), 0, "%s", slabd_last_error());
	WAIT_RISE(before, bad_objects, 1);
	WAIT_RISE(before, quarantined, 1);
	cr_assert(log_has("which is not one of its objects; quarantined"));
	cr_assert_eq(bad_entries->count, 4, "the quarantined magazine was touched");
	for (i = 0; i < 4; i++)
		cr_assert_eq(bad_entries->objs[i], garbage[i],
			     "the quarantined magazine was touched");

	/* the good magazines' objects went back, the bad ones' nowhere: the audit agrees */
	cr_assert_eq(td_verify(&td, SLABD_VERIFY_AUDIT, &audit), 0);
	cr_assert_eq(audit.problems, 0, "the audit found: %s", audit.first);
	lie_check_and_free(lie);
	kmem_cache_free(c, p);
	cache_works(c, 200, 3000);
	cr_assert_eq(healthy_child(), 0, "another client failed after the damage");
}

/* Put the chain starting at @first (already linked) on the free chain at @head, which
 * must be empty (nothing else frees into this cache's chain here): its tail need not be
 * writable. */
static void plant_chain(uint64_t *head, uint64_t first)
{
	int tries;

	for (tries = 0; tries < 600; tries++) {
		uint64_t zero = 0;
		if (__atomic_compare_exchange_n(head, &zero, first, 0, __ATOMIC_RELEASE,
						__ATOMIC_RELAXED))
			return;
		shm_kick(&g); /* the worker takes the chain each round */
		sleep_ms(100);
	}
	cr_assert_fail("the free chain never emptied");
}

static void link_to(void *obj, uint64_t next)
{
	__atomic_store_n((uint64_t *)obj, next, __ATOMIC_RELAXED);
}

Test(hostile, bad_links_in_free_chains_stop_the_walk_there)
{
	struct slabd_wire_verify before;
	struct kmem_cache *c = kmem_cache_create("hostile-chain", 64, 8, 0, NULL);
	struct slabd_shm_depot *dp;
	unsigned char *lie = lie_new(), *host;
	void *o[8];
	int i;

	cr_assert_not_null(c, "%s", slabd_last_error());
	for (i = 0; i < 8; i++)
		cr_assert_not_null(o[i] = kmem_cache_alloc(c, GFP_KERNEL));
	cr_assert_not_null(host = kmem_cache_alloc(c, GFP_KERNEL));
	memset(host, 0x5e, 64);
	dp = shm_depot(&g, shm_cache_of(&g, o[0]), 0);
	counters(&before);

	/* o0 -> o1 -> (inside host: misaligned): two frees, then a bad link */
	link_to(o[0], off_of(o[1]));
	link_to(o[1], off_of(host) + 8);
	plant_chain(&dp->freelist, off_of(o[0]));
	WAIT_RISE(before, bad_objects, 1);
	/* o2 -> another cache's live object */
	link_to(o[2], off_of(lie));
	plant_chain(&dp->freelist, off_of(o[2]));
	WAIT_RISE(before, bad_objects, 2);
	/* o3 -> the superblock; o4 -> far outside the region */
	link_to(o[3], OFF_SUPERBLOCK);
	plant_chain(&dp->freelist, off_of(o[3]));
	WAIT_RISE(before, bad_objects, 3);
	link_to(o[4], OFF_FAR);
	plant_chain(&dp->freelist, off_of(o[4]));
	WAIT_RISE(before, bad_objects, 4);
	/* o5 -> o6 -> o5: a cycle, met as a double free, where the walk stops */
	link_to(o[5], off_of(o[6]));
	link_to(o[6], off_of(o[5]));
	plant_chain(&dp->freelist, off_of(o[5]));
	WAIT_RISE(before, double_frees, 1);
	cr_assert(log_has("from client memory is not one of its objects; dropped"));

	/* the large-free chain: an offset that is no large allocation (inside host) */
	counters(&before);
	slabd_chain_push(&g.ctl->large_free, g.base, off_of(host) + 16, off_of(host) + 16);
	WAIT_RISE(before, bad_objects, 1);
	cr_assert(log_has("large free of offset"));

	/* nothing planted was taken or written (host's bytes 16..23 are the chain link this
	 * process wrote) */
	for (i = 0; i < 64; i++)
		cr_assert(i >= 16 && i < 24 ? 1 : host[i] == 0x5e, "host byte %d was written", i);
	lie_check_and_free(lie);
	kmem_cache_free(c, host);
	kmem_cache_free(c, o[7]);
	cache_works(c, 64, 3000);
	cr_assert_eq(healthy_child(), 0, "another client failed after the damage");
}

/* A chain head in the zones' last bytes: inside the zones, so the walk's range check
 * passes, but an 8-byte link read there runs past the end of the region. The daemon must
 * not read a link of an offset before it knows it is an object. */
Test(hostile, a_free_chain_head_in_the_last_bytes_of_the_zones_is_dropped_unread)
{
	struct slabd_wire_verify before;
	struct kmem_cache *c = kmem_cache_create("hostile-chain-end", 64, 8, 0, NULL);
	struct slabd_shm_depot *dp;
	void *p;
	uint64_t end = g.sb->zones_off + g.sb->zones_size;

	cr_assert_not_null(c, "%s", slabd_last_error());
	cr_assert_not_null(p = kmem_cache_alloc(c, GFP_KERNEL));
	dp = shm_depot(&g, shm_cache_of(&g, p), 0);
	counters(&before);
	plant_chain(&dp->freelist, end - 4);
	WAIT_RISE(before, bad_objects, 1);
	cr_assert(td_alive(&td), "slabd died reading the link of the zones' last bytes");
	kmem_cache_free(c, p);
	cache_works(c, 64, 3000);
	cr_assert_eq(healthy_child(), 0, "another client failed after the damage");
}

Test(hostile, corrupt_depot_stack_heads_are_reset_and_the_depot_refilled)
{
	struct slabd_wire_verify before;
	struct kmem_cache *c = kmem_cache_create("hostile-head", 128, 8, 0, NULL);
	struct slabd_shm_depot *dp;
	uint64_t full, reserve;
	void *p;
	int tries;

	cr_assert_not_null(c, "%s", slabd_last_error());
	cr_assert_not_null(p = kmem_cache_alloc(c, GFP_KERNEL));
	dp = depot_with_magazines(shm_cache_of(&g, p));
	counters(&before);

	/* full: a top index past the magazine array; reserve: a count but no magazine */
	__atomic_store_n(&dp->full, slabd_stack_make(0, g.sb->nr_mags + 77, 1), __ATOMIC_RELEASE);
	__atomic_store_n(&dp->reserve, slabd_stack_make(0, 0, 5), __ATOMIC_RELEASE);
	WAIT_RISE(before, bad_stacks, 2);
	cr_assert(
	    log_has("depot full stack corrupt (top magazine index out of range"));
	cr_assert(log_has("depot reserve stack corrupt (a count but no magazine"));
	for (tries = 0; tries < 600; tries++) { /* consistent heads again */
		full = __atomic_load_n(&dp->full, __ATOMIC_ACQUIRE);
		reserve = __atomic_load_n(&dp->reserve, __ATOMIC_ACQUIRE);
		if (slabd_stack_top(full) <= g.sb->nr_mags &&
		    slabd_stack_top(reserve) <= g.sb->nr_mags &&
		    !slabd_stack_top(full) == !slabd_stack_count(full) &&
		    !slabd_stack_top(reserve) == !slabd_stack_count(reserve))
			break;
		sleep_ms(100);
	}
	cr_assert_lt(tries, 600, "the heads stayed corrupt: %#llx %#llx", (unsigned long long)full,
		     (unsigned long long)reserve);
	kmem_cache_free(c, p);
	cache_works(c, 128, 3000); /* needs refills through the repaired head */
	cr_assert_eq(healthy_child(), 0, "another client failed after the damage");
}

Test(hostile, bad_offsets_in_remote_free_stacks_are_dropped_and_bad_counts_reset)
{
	struct slabd_wire_verify before;
	unsigned char *host = kmalloc(128, GFP_KERNEL);
	uint32_t cpu, planted = 0;
	int i;

	if (under_valgrind())
		cr_skip_test("valgrind has no rseq: the daemon cannot flush a CPU's remote stack");
	cr_assert_not_null(host);
	memset(host, 0x6d, 128);
	counters(&before);

	/* Objects of any cache go there, and a live object's offset would be a kfree() of
	 * it (nobody can tell), so only offsets that are no object. This process allocates
	 * nothing until the daemon has flushed them (a miss would flush them itself). */
	for (cpu = 0; cpu < g.sb->nr_cpus; cpu++) {
		struct slabd_shm_pcpu *r = shm_remote(&g, cpu);
		if (!cpu_usable(cpu))
			continue;
		planted += 4;
		r->slots[0] = off_of(host) + 8;
		r->slots[1] = g.sb->zones_off + 3;
		r->slots[2] = OFF_SUPERBLOCK;
		r->slots[3] = OFF_FAR;
		__atomic_store_n(&r->count, 4, __ATOMIC_RELEASE);
	}
	/* idle for idle_drain_ms: the worker flushes each from its CPU */
	cr_assert_gt(planted, 0, "no CPU to run on");
	WAIT_RISE(before, bad_objects, planted);
	for (cpu = 0; cpu < g.sb->nr_cpus; cpu++)
		cr_assert(!cpu_usable(cpu) || wait_zero(&shm_remote(&g, cpu)->count),
			  "CPU %u was not flushed", cpu);
	cr_assert(log_has("remote-free stack: offset"));

	/* a count no stack can have */
	counters(&before);
	for (cpu = 0; cpu < g.sb->nr_cpus; cpu++)
		__atomic_store_n(&shm_remote(&g, cpu)->count, 200, __ATOMIC_RELEASE);
	WAIT_RISE(before, bad_pcpu, g.sb->nr_cpus);
	for (cpu = 0; cpu < g.sb->nr_cpus; cpu++)
		cr_assert(wait_zero(&shm_remote(&g, cpu)->count), "CPU %u not reset", cpu);
	cr_assert(log_has("cache (remote frees) CPU"));

	for (i = 0; i < 128; i++)
		cr_assert_eq(host[i], 0x6d, "byte %d under a planted offset was written", i);
	kfree(host);
	cache_works(NULL, 128, 2000);
	cr_assert_eq(healthy_child(), 0, "another client failed after the damage");
}

/* The offset just past the last object of the slab holding @p: a multiple of the object
 * size from the slab's start, on one of its pages, yet no object (its bytes would run
 * into the next page). 0 when that slab has no such tail. */
static uint64_t slab_tail_of(const void *p)
{
	const struct slabd_shm_page *pages = (const void *)(g.base + g.sb->page_table_off);
	const struct slabd_shm_cache *caches = (const void *)(g.base + g.sb->cache_table_off);
	uint64_t off = off_of(p), head, tail;
	const struct slabd_shm_page *pg = &pages[(off - g.sb->zones_off) >> SLABD_PAGE_SHIFT];
	const struct slabd_shm_cache *c = &caches[pg->cache];

	head = g.sb->zones_off + ((uint64_t)pg->head << SLABD_PAGE_SHIFT);
	tail = head + (uint64_t)c->objs_per_slab * c->size;
	return tail < head + ((uint64_t)SLABD_PAGE_SIZE << c->order) ? tail : 0;
}

Test(hostile, the_tail_of_a_slab_in_a_remote_free_stack_is_no_object)
{
	struct slabd_wire_verify before, after;
	static unsigned char *v[3000];
	unsigned char *p = kmalloc(192, GFP_KERNEL);
	uint64_t tail;
	uint32_t cpu;
	int i;

	if (under_valgrind())
		cr_skip_test("valgrind has no rseq: the daemon cannot flush a CPU's remote stack");
	cr_assert_not_null(p);
	tail = slab_tail_of(p); /* kmalloc-192: 21 objects per 4 KiB slab, 64 bytes left */
	cr_assert_neq(tail, 0, "kmalloc-192's slab has no tail");
	for (cpu = 0; cpu < g.sb->nr_cpus && !cpu_usable(cpu); cpu++)
		;
	cr_assert_lt(cpu, g.sb->nr_cpus, "no CPU to run on");
	counters(&before);
	shm_remote(&g, cpu)->slots[0] = tail;
	__atomic_store_n(&shm_remote(&g, cpu)->count, 1, __ATOMIC_RELEASE);
	/* idle for idle_drain_ms: the worker flushes it from its CPU and must drop it */
	cr_assert(wait_zero(&shm_remote(&g, cpu)->count), "CPU %u was not flushed", cpu);
	WAIT_RISE(before, bad_objects, 1);
	counters(&after);
	cr_assert_eq(after.bad_stacks, before.bad_stacks,
		     "a depot stack was reset: the tail reached a magazine on it");
	cr_assert_eq(after.quarantined, before.quarantined);
	for (i = 0; i < 3000; i++) {
		v[i] = kmalloc(192, GFP_KERNEL);
		cr_assert_not_null(v[i]);
		cr_assert_neq(off_of(v[i]), tail, "the slab's tail was handed out as an object");
	}
	for (i = 0; i < 3000; i++)
		kfree(v[i]);
	kfree(p);
	cr_assert_eq(healthy_child(), 0, "another client failed after the damage");
}

/* A flood of bad offsets is cut after 20 lines per 5-minute window. When the daemon stops
 * before the window ends, nobody flushes it later: its stop says how many were not
 * logged. (A clean td_stop removes the log, so it is read through a descriptor opened
 * before.) */
Test(hostile, a_flood_cut_short_by_a_stop_is_counted_at_the_stop)
{
	static char text[1 << 20];
	struct slabd_wire_verify before;
	unsigned char *mine;
	uint32_t victim, cpu, planted = 0, i;
	char needle[160];
	ssize_t n, len = 0;
	int fd;

	if (under_valgrind())
		cr_skip_test("valgrind has no rseq: the daemon cannot drain a CPU's stack");
	cr_assert_not_null(mine = kmalloc(128, GFP_KERNEL));
	victim = shm_cache_of(&g, mine);
	counters(&before);
	/* every usable CPU's stack of kmalloc-128, filled to its capacity with the same
	 * offset inside my object: each is dropped with the same warning */
	for (cpu = 0; cpu < g.sb->nr_cpus; cpu++) {
		struct slabd_shm_pcpu *p = shm_pcpu(&g, victim, cpu);
		uint32_t cap = __atomic_load_n(&p->capacity, __ATOMIC_ACQUIRE);

		if (!cpu_usable(cpu))
			continue;
		for (i = 0; i < cap; i++)
			p->slots[i] = off_of(mine) + 8;
		planted += cap;
		__atomic_store_n(&p->count, cap, __ATOMIC_RELEASE);
	}
	cr_assert_gt(planted, 20, "%u planted: no flood", planted);
	WAIT_RISE(before, bad_objects, planted);
	cr_assert(log_has("from client memory is not one of its objects; dropped"));
	cr_assert(!td_log_contains(&td, "more like this"), "the window ended already?");
	kfree(mine);

	fd = open(td.log, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(td_stop(&td), 0, "slabd did not stop cleanly");
	while (len < (ssize_t)sizeof(text) - 1 &&
	       (n = read(fd, text + len, sizeof(text) - 1 - (size_t)len)) > 0)
		len += n;
	close(fd);
	text[len] = 0;
	snprintf(needle, sizeof(needle),
		 "from client memory is not one of its objects; dropped: %u more like this were "
		 "not logged in the last ",
		 planted - 20);
	cr_expect(strstr(text, needle),
		  "the stop did not say what the window did not log (%s); the log's end:\n%s",
		  needle, len > 2000 ? text + len - 2000 : text);
	cr_expect(strstr(text, "stopped ("), "no stop line");
	/* down() stops it again */
	cr_assert_eq(td_restart(&td, (const char *const[]){"idle_drain_ms=200", NULL}), 0);
}
