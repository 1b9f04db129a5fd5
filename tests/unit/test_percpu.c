/* SPDX-License-Identifier: MIT */
/*
 * test_percpu.c - lib/percpu.h: the per-CPU array stacks driven by restartable sequences.
 *
 * The operations run here on a private buffer laid out like one cache's per-CPU array
 * in the shared segment (struct slabd_shm_pcpu per CPU, 1 << SLABD_PCPU_SHIFT apart),
 * with glibc's rseq registration (glibc >= 2.35 registers every thread). Single-thread
 * tests pin the thread to one CPU so they know which stack is used and check that no
 * other byte of the buffer changed. The concurrency test runs more threads than CPUs,
 * unpinned, with sched_yield and signals to force preemption inside sequences, and
 * accounts for every object.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/rseq.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "percpu.h"
#include "slabd_shm.h"

#define PCPU_SIZE (1u << SLABD_PCPU_SHIFT)
#define FILL	  0xa5

static long roff;
static uint32_t ncpus; /* possible CPUs: every rseq cpu_id is below this */
static char *base;     /* ncpus stacks, then one guard stack full of FILL */
static char *snapshot; /* copy of base to compare against */
static size_t buf_size;
static int cpu; /* the CPU the test thread is pinned to */

static struct slabd_shm_pcpu *stack_of(int c)
{
	return (struct slabd_shm_pcpu *)(base + ((size_t)c << SLABD_PCPU_SHIFT));
}

/* The highest CPU this thread may run on (the last stack in the buffer when all CPUs
 * are allowed, so writing past it hits the guard). */
static int pick_cpu(void)
{
	cpu_set_t set;
	int c;

	cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	for (c = CPU_SETSIZE - 1; c >= 0; c--)
		if (CPU_ISSET(c, &set))
			return c;
	cr_assert_fail("no CPU in this thread's affinity mask");
	return -1;
}

static void pin_to(int c)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(c, &set);
	cr_assert_eq(sched_setaffinity(0, sizeof(set), &set), 0, "sched_setaffinity(%d): %s", c,
		     strerror(errno));
	sched_yield();
}

static void setup(void)
{
	/* glibc sets __rseq_size to 0 when it could not register (old kernel, valgrind,
	 * GLIBC_TUNABLES=glibc.pthread.rseq=0): nothing here can run then. */
	if (__rseq_size < 20)
		cr_skip_test("glibc did not register rseq for this thread (__rseq_size %u)",
			     __rseq_size);
	roff = (long)__rseq_offset;
	ncpus = (uint32_t)get_nprocs_conf();
	cr_assert_gt(ncpus, 0);
	buf_size = ((size_t)ncpus + 1) << SLABD_PCPU_SHIFT;
	base = aligned_alloc(PCPU_SIZE, buf_size);
	snapshot = malloc(buf_size);
	cr_assert_not_null(base);
	cr_assert_not_null(snapshot);
	memset(base, FILL, buf_size);
	cpu = pick_cpu();
	cr_assert_lt((uint32_t)cpu, ncpus);
	pin_to(cpu);
	/* every stack starts empty with room for every slot; the guard stays FILL */
	for (uint32_t c = 0; c < ncpus; c++) {
		stack_of((int)c)->count = 0;
		stack_of((int)c)->capacity = SLABD_PCPU_SLOTS;
	}
}

static void teardown(void)
{
	free(base);
	free(snapshot);
}

TestSuite(percpu, .init = setup, .fini = teardown);

static void take_snapshot(void)
{
	memcpy(snapshot, base, buf_size);
}

/* Nothing outside the pinned CPU's stack changed since the snapshot. */
static void expect_others_unchanged(void)
{
	size_t i, lo = (size_t)cpu << SLABD_PCPU_SHIFT, hi = lo + PCPU_SIZE;

	for (i = 0; i < buf_size; i++)
		if ((i < lo || i >= hi) && base[i] != snapshot[i])
			cr_assert_fail("byte %zu (CPU %zu's stack, offset %zu) changed; the test "
				       "runs on CPU %d",
				       i, i >> SLABD_PCPU_SHIFT, i % PCPU_SIZE, cpu);
}

/* Nothing at all changed since the snapshot. */
static void expect_nothing_changed(void)
{
	cr_assert_arr_eq(base, snapshot, buf_size, "an operation that failed wrote to the stacks");
}

Test(percpu, the_current_cpu_is_the_pinned_cpu)
{
	cr_assert_eq(percpu_current_cpu(roff), cpu);
}

Test(percpu, push_fills_the_stack_up_to_its_capacity)
{
	struct slabd_shm_pcpu *s = stack_of(cpu);
	uint64_t i;

	s->capacity = 10;
	take_snapshot();
	for (i = 0; i < 10; i++)
		cr_assert_eq(percpu_push(roff, ncpus, base, 0x1000 + i * 8), 0, "push %lu of 10",
			     i);
	cr_assert_eq(percpu_push(roff, ncpus, base, 0xdead), -1, "push beyond capacity succeeded");
	cr_assert_eq(s->count, 10);
	cr_assert_eq(s->capacity, 10);
	for (i = 0; i < 10; i++)
		cr_assert_eq(s->slots[i], 0x1000 + i * 8, "slot %lu", i);
	for (i = 10; i < SLABD_PCPU_SLOTS; i++)
		cr_assert_eq(s->slots[i], 0xa5a5a5a5a5a5a5a5ull, "slot %lu above count was written",
			     i);
	expect_others_unchanged();
}

/* A CPU table as the daemon writes it: every CPU on node 0 except the pinned one, on 3. */
static struct slabd_shm_cpu *cpu_table(void)
{
	static struct slabd_shm_cpu t[SLABD_MAX_CPUS];
	memset(t, 0, sizeof(t));
	t[cpu].node = 3;
	return t;
}

Test(percpu, home_variants_work_only_on_a_cpu_of_the_objects_node)
{
	struct slabd_shm_pcpu *s = stack_of(cpu);
	struct slabd_shm_cpu *tab = cpu_table();
	uint64_t in[4] = { 0x100, 0x200, 0x300, 0x400 }, out[4];

	s->capacity = 10;
	take_snapshot();
	cr_assert_eq(percpu_push_home(roff, ncpus, base, 0x80, tab, 0), -2, "node 0's object on a node 3 CPU");
	cr_assert_eq(percpu_push_bulk_home(roff, ncpus, base, in, 4, tab, 0), 0);
	expect_nothing_changed();

	cr_assert_eq(percpu_push_home(roff, ncpus, base, 0x80, tab, 3), 0);
	cr_assert_eq(percpu_push_bulk_home(roff, ncpus, base, in, 4, tab, 3), 4);
	cr_assert_eq(s->count, 5);
	cr_assert_eq(percpu_pop_bulk_home(roff, ncpus, base, out, 4, tab, 1), 0, "popped for the wrong node");
	cr_assert_eq(s->count, 5);
	cr_assert_eq(percpu_pop_bulk_home(roff, ncpus, base, out, 4, tab, 3), 4);
	cr_assert_arr_eq(out, in, sizeof(in));
	s->capacity = 1;
	cr_assert_eq(percpu_push_home(roff, ncpus, base, 0x90, tab, 3), -1, "full is -1, not -2");
	expect_others_unchanged();
}

Test(percpu, pop_returns_objects_last_in_first_out)
{
	struct slabd_shm_pcpu *s = stack_of(cpu);
	uint64_t i, off;

	take_snapshot();
	for (i = 1; i <= 5; i++)
		cr_assert_eq(percpu_push(roff, ncpus, base, i * 64), 0);
	for (i = 5; i >= 1; i--) {
		cr_assert_eq(percpu_pop(roff, ncpus, base, &off), 0, "pop of object %lu", i);
		cr_assert_eq(off, i * 64, "popped %#lx, expected %#lx", off, i * 64);
		cr_assert_eq(s->count, i - 1);
	}
	cr_assert_eq(percpu_pop(roff, ncpus, base, &off), -1);
	expect_others_unchanged();
}

Test(percpu, pop_on_an_empty_stack_fails_and_changes_nothing)
{
	uint64_t off = 0x1234;

	take_snapshot();
	cr_assert_eq(percpu_pop(roff, ncpus, base, &off), -1);
	cr_assert_eq(off, 0x1234, "pop on empty wrote its output");
	expect_nothing_changed();
}

Test(percpu, push_on_a_stack_of_capacity_zero_fails)
{
	stack_of(cpu)->capacity = 0;
	take_snapshot();
	cr_assert_eq(percpu_push(roff, ncpus, base, 8), -1);
	cr_assert_eq(percpu_push_bulk(roff, ncpus, base, (uint64_t[]){8, 16}, 2), 0);
	expect_nothing_changed();
}

Test(percpu, a_capacity_above_the_slot_count_is_clamped)
{
	struct slabd_shm_pcpu *s = stack_of(cpu);
	uint64_t i;

	s->capacity = 1000;
	take_snapshot();
	for (i = 0; i < SLABD_PCPU_SLOTS; i++)
		cr_assert_eq(percpu_push(roff, ncpus, base, (i + 1) * 8), 0, "push %lu", i);
	cr_assert_eq(percpu_push(roff, ncpus, base, 0xdead), -1,
		     "push past the last slot succeeded");
	cr_assert_eq(s->count, SLABD_PCPU_SLOTS);
	/* the next stack (or the guard after the last) is untouched */
	expect_others_unchanged();

	s->capacity = UINT32_MAX;
	take_snapshot();
	cr_assert_eq(percpu_push(roff, ncpus, base, 0xdead), -1);
	expect_nothing_changed();
}

Test(percpu, push_bulk_clamps_a_capacity_above_the_slot_count)
{
	static uint64_t in[200];
	struct slabd_shm_pcpu *s = stack_of(cpu);
	unsigned int i;

	for (i = 0; i < 200; i++)
		in[i] = (i + 1) * 16;
	s->capacity = 500;
	take_snapshot();
	cr_assert_eq(percpu_push_bulk(roff, ncpus, base, in, 200), SLABD_PCPU_SLOTS);
	cr_assert_eq(s->count, SLABD_PCPU_SLOTS);
	cr_assert_eq(percpu_push_bulk(roff, ncpus, base, in, 1), 0);
	for (i = 0; i < SLABD_PCPU_SLOTS; i++)
		cr_assert_eq(s->slots[i], in[i]);
	expect_others_unchanged();
}

Test(percpu, a_corrupt_count_makes_every_operation_fail_without_touching_memory)
{
	static const uint32_t bad_counts[] = {SLABD_PCPU_SLOTS + 1, 200, 0x10000, UINT32_MAX};
	struct slabd_shm_pcpu *s = stack_of(cpu);
	size_t i;

	for (i = 0; i < sizeof(bad_counts) / sizeof(bad_counts[0]); i++) {
		uint64_t off = 0x77, out[8] = {0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77}, j;

		s->count = bad_counts[i];
		s->capacity = UINT32_MAX; /* so that only the slot bound can stop a push */
		take_snapshot();
		cr_expect_eq(percpu_pop(roff, ncpus, base, &off), -1, "pop with count %u",
			     bad_counts[i]);
		cr_expect_eq(off, 0x77);
		cr_expect_eq(percpu_push(roff, ncpus, base, 8), -1, "push with count %u",
			     bad_counts[i]);
		cr_expect_eq(percpu_pop_bulk(roff, ncpus, base, out, 8), 0,
			     "pop_bulk with count %u", bad_counts[i]);
		for (j = 0; j < 8; j++)
			cr_expect_eq(out[j], 0x77, "pop_bulk with count %u wrote out[%lu]",
				     bad_counts[i], j);
		cr_expect_eq(percpu_push_bulk(roff, ncpus, base, out, 8), 0,
			     "push_bulk with count %u", bad_counts[i]);
		expect_nothing_changed();
	}
}

Test(percpu, a_full_count_pops_the_last_slot)
{
	struct slabd_shm_pcpu *s = stack_of(cpu);
	uint64_t off = 0;

	s->count = SLABD_PCPU_SLOTS;
	s->slots[SLABD_PCPU_SLOTS - 1] = 0xabc0;
	cr_assert_eq(percpu_pop(roff, ncpus, base, &off), 0);
	cr_assert_eq(off, 0xabc0);
	cr_assert_eq(s->count, SLABD_PCPU_SLOTS - 1);
}

Test(percpu, bulk_push_and_pop_move_as_many_as_fit)
{
	uint64_t in[10] = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, out[16];
	struct slabd_shm_pcpu *s = stack_of(cpu);
	unsigned int i;

	s->capacity = 8;
	take_snapshot();
	cr_assert_eq(percpu_push_bulk(roff, ncpus, base, in, 10), 8, "only 8 fit");
	cr_assert_eq(s->count, 8);
	for (i = 0; i < 8; i++)
		cr_assert_eq(s->slots[i], in[i], "in[0] goes to the bottom");
	cr_assert_eq(percpu_push_bulk(roff, ncpus, base, in + 8, 2), 0,
		     "a full stack takes nothing");

	cr_assert_eq(percpu_pop_bulk(roff, ncpus, base, out, 3), 3);
	cr_assert_eq(out[0], 60, "the top three come out in stack order");
	cr_assert_eq(out[1], 70);
	cr_assert_eq(out[2], 80);
	cr_assert_eq(s->count, 5);

	cr_assert_eq(percpu_push_bulk(roff, ncpus, base, in + 8, 2), 2);
	cr_assert_eq(s->count, 7);
	cr_assert_eq(percpu_pop_bulk(roff, ncpus, base, out, 16), 7,
		     "asking for more than there is");
	cr_assert_eq(out[0], 10);
	cr_assert_eq(out[4], 50);
	cr_assert_eq(out[5], 90);
	cr_assert_eq(out[6], 100);
	cr_assert_eq(s->count, 0);
	cr_assert_eq(percpu_pop_bulk(roff, ncpus, base, out, 16), 0, "empty");
	expect_others_unchanged();
}

Test(percpu, bulk_operations_of_zero_objects_do_nothing)
{
	uint64_t in[1] = {8}, out[1] = {0x55};
	struct slabd_shm_pcpu *s = stack_of(cpu);

	s->count = 1;
	s->slots[0] = 0x40;
	take_snapshot();
	cr_assert_eq(percpu_push_bulk(roff, ncpus, base, in, 0), 0);
	cr_assert_eq(percpu_pop_bulk(roff, ncpus, base, out, 0), 0);
	cr_assert_eq(out[0], 0x55);
	expect_nothing_changed();
}

Test(percpu, single_and_bulk_operations_share_one_stack)
{
	uint64_t out[4], off;

	cr_assert_eq(percpu_push(roff, ncpus, base, 8), 0);
	cr_assert_eq(percpu_push_bulk(roff, ncpus, base, (uint64_t[]){16, 24}, 2), 2);
	cr_assert_eq(percpu_pop(roff, ncpus, base, &off), 0);
	cr_assert_eq(off, 24);
	cr_assert_eq(percpu_pop_bulk(roff, ncpus, base, out, 4), 2);
	cr_assert_eq(out[0], 8, "stack order: the deeper one first");
	cr_assert_eq(out[1], 16);
}

Test(percpu, zero_cpus_means_not_attached_and_every_operation_fails)
{
	uint64_t out[4] = {0}, off = 0x99;

	stack_of(cpu)->count = 2;
	take_snapshot();
	cr_assert_eq(percpu_pop(roff, 0, base, &off), -1);
	cr_assert_eq(off, 0x99);
	cr_assert_eq(percpu_push(roff, 0, base, 8), -1);
	cr_assert_eq(percpu_pop_bulk(roff, 0, base, out, 4), 0);
	cr_assert_eq(percpu_push_bulk(roff, 0, base, out, 4), 0);
	expect_nothing_changed();
}

Test(percpu, a_cpu_beyond_the_region_table_fails)
{
	uint64_t off = 0x99;

	/* the region knows cpu CPUs (0..cpu-1): the pinned CPU is not among them */
	stack_of(cpu)->count = 2;
	take_snapshot();
	cr_assert_eq(percpu_pop(roff, (uint32_t)cpu, base, &off), -1);
	cr_assert_eq(percpu_push(roff, (uint32_t)cpu, base, 8), -1);
	expect_nothing_changed();
	/* one more and it is */
	cr_assert_eq(percpu_pop(roff, (uint32_t)cpu + 1, base, &off), 0);
}

/* An rseq area the kernel does not know: cpu_id stays "uninitialized" (-1). */
static __thread struct rseq fake_rseq __attribute__((tls_model("initial-exec"), aligned(32)));

Test(percpu, an_unregistered_rseq_area_makes_every_operation_fail)
{
	long fake = (long)((char *)&fake_rseq - (char *)__builtin_thread_pointer());
	uint64_t out[4] = {0}, off = 0x99;

	fake_rseq.cpu_id = (uint32_t)RSEQ_CPU_ID_UNINITIALIZED;
	fake_rseq.cpu_id_start = 0;
	stack_of(cpu)->count = 2;
	stack_of(0)->count = 2;
	take_snapshot();
	cr_assert_eq(percpu_current_cpu(fake), -1);
	cr_assert_eq(percpu_pop(fake, ncpus, base, &off), -1);
	cr_assert_eq(percpu_push(fake, ncpus, base, 8), -1);
	cr_assert_eq(percpu_pop_bulk(fake, ncpus, base, out, 4), 0);
	cr_assert_eq(percpu_push_bulk(fake, ncpus, base, out, 4), 0);
	expect_nothing_changed();
	fake_rseq.cpu_id = (uint32_t)RSEQ_CPU_ID_REGISTRATION_FAILED;
	cr_assert_eq(percpu_pop(fake, ncpus, base, &off), -1);
	expect_nothing_changed();
}

Test(percpu, each_cpu_uses_its_own_stack)
{
	cpu_set_t allowed;
	int c, used = 0;

	/* setup pinned us to one CPU: widen to every configured CPU we may use */
	CPU_ZERO(&allowed);
	for (c = 0; c < (int)ncpus; c++)
		CPU_SET(c, &allowed);
	sched_setaffinity(0, sizeof(allowed), &allowed); /* may fail for offline CPUs: fine */
	cr_assert_eq(sched_getaffinity(0, sizeof(allowed), &allowed), 0);

	for (c = 0; c < (int)ncpus; c++) {
		uint64_t off;

		if (!CPU_ISSET(c, &allowed))
			continue;
		cpu = c;
		pin_to(c);
		take_snapshot();
		cr_assert_eq(percpu_current_cpu(roff), c);
		cr_assert_eq(percpu_push(roff, ncpus, base, 0x1000u * ((uint64_t)c + 1)), 0);
		cr_assert_eq(stack_of(c)->count, 1, "CPU %d", c);
		cr_assert_eq(stack_of(c)->slots[0], 0x1000u * ((uint64_t)c + 1), "CPU %d", c);
		expect_others_unchanged();
		cr_assert_eq(percpu_pop(roff, ncpus, base, &off), 0);
		cr_assert_eq(off, 0x1000u * ((uint64_t)c + 1));
		used++;
	}
	cr_assert_gt(used, 0);
}

/* ------------------------------------------------------------- concurrency -- */

/*
 * N objects (offsets 8..8N) start spread over the CPUs' stacks. THREADS threads (more
 * than the CPUs) pop and push them back at random, singly and in bulk, yielding in
 * between; a signaller thread interrupts them with SIGUSR1 so sequences abort. Each
 * popped object must not be owned already (none handed out twice); at the end every
 * object is on exactly one stack or held by exactly one thread (none lost).
 */
#define THREADS	 4
#define HOLD_MAX 16
#define RUN_NS	 1500000000ll

static uint32_t nr_objs;
static uint8_t *owned; /* owned[i]: object i+1 is held by a thread */
static int dup_errors, bad_values;
static int stop;
static pthread_t workers[THREADS];

struct worker {
	uint64_t held[HOLD_MAX + 16];
	unsigned int nheld;
	unsigned long ops;
	unsigned int seed;
};
static struct worker wstate[THREADS];

static void on_sigusr1(int sig)
{
	(void)sig;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static unsigned int next_rand(struct worker *w)
{
	w->seed = w->seed * 1103515245u + 12345u;
	return w->seed >> 16;
}

static void take(uint64_t off)
{
	uint64_t i = off / 8;

	if (off % 8 || i < 1 || i > nr_objs) {
		__atomic_fetch_add(&bad_values, 1, __ATOMIC_RELAXED);
		return;
	}
	if (__atomic_exchange_n(&owned[i - 1], 1, __ATOMIC_ACQ_REL))
		__atomic_fetch_add(&dup_errors, 1, __ATOMIC_RELAXED);
}

static void release(uint64_t off)
{
	uint64_t i = off / 8;

	if (i >= 1 && i <= nr_objs)
		__atomic_store_n(&owned[i - 1], 0, __ATOMIC_RELEASE);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		unsigned int r = next_rand(w), k;

		if (r % 4 == 0)
			sched_yield();
		if ((r >> 2) % 2 == 0 && w->nheld < HOLD_MAX) {
			/* pop */
			if ((r >> 3) % 2) {
				uint64_t off;

				if (percpu_pop(roff, ncpus, base, &off) == 0) {
					take(off);
					w->held[w->nheld++] = off;
				}
			} else {
				uint64_t out[8];
				unsigned int n =
				    percpu_pop_bulk(roff, ncpus, base, out, 1 + (r >> 4) % 8);

				for (k = 0; k < n; k++) {
					take(out[k]);
					w->held[w->nheld++] = out[k];
				}
			}
		} else if (w->nheld) {
			/* push back what we hold; what does not fit stays held */
			if ((r >> 3) % 2) {
				uint64_t off = w->held[w->nheld - 1];

				release(off);
				if (percpu_push(roff, ncpus, base, off) == 0)
					w->nheld--;
				else
					take(off); /* still ours */
			} else {
				unsigned int n = 1 + (r >> 4) % 8, done;

				if (n > w->nheld)
					n = w->nheld;
				for (k = 0; k < n; k++)
					release(w->held[w->nheld - n + k]);
				done =
				    percpu_push_bulk(roff, ncpus, base, &w->held[w->nheld - n], n);
				/* the first @done of the n went to the stack; re-own the rest and
				 * keep them at the end of held[] */
				for (k = done; k < n; k++)
					take(w->held[w->nheld - n + k]);
				memmove(&w->held[w->nheld - n], &w->held[w->nheld - n + done],
					(n - done) * sizeof(uint64_t));
				w->nheld -= done;
			}
		}
		w->ops++;
	}
	return NULL;
}

static void *signaller_main(void *arg)
{
	unsigned int i = 0;

	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		struct timespec ts = {0, 50000};

		pthread_kill(workers[i++ % THREADS], SIGUSR1);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

Test(percpu, concurrent_threads_lose_and_duplicate_no_object, .timeout = 30)
{
	struct sigaction sa;
	cpu_set_t all;
	pthread_t signaller;
	uint32_t c, i, per_cpu = 100;
	uint32_t *seen;
	unsigned long total_ops = 0;
	int64_t end;
	int t;

	/* undo setup's pinning: the threads inherit this mask */
	CPU_ZERO(&all);
	for (c = 0; c < ncpus; c++)
		CPU_SET(c, &all);
	sched_setaffinity(0, sizeof(all), &all);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigusr1;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);

	nr_objs = ncpus * per_cpu;
	owned = calloc(nr_objs, 1);
	seen = calloc(nr_objs, sizeof(*seen));
	cr_assert_not_null(owned);
	cr_assert_not_null(seen);
	for (c = 0; c < ncpus; c++) {
		struct slabd_shm_pcpu *s = stack_of((int)c);

		s->capacity = SLABD_PCPU_SLOTS;
		s->count = per_cpu;
		for (i = 0; i < per_cpu; i++)
			s->slots[i] = ((uint64_t)c * per_cpu + i + 1) * 8;
	}
	memcpy(snapshot + buf_size - PCPU_SIZE, base + buf_size - PCPU_SIZE, PCPU_SIZE);

	for (t = 0; t < THREADS; t++) {
		wstate[t].seed = 0x1234u * ((unsigned int)t + 1);
		cr_assert_eq(pthread_create(&workers[t], NULL, worker_main, &wstate[t]), 0);
	}
	cr_assert_eq(pthread_create(&signaller, NULL, signaller_main, NULL), 0);
	end = now_ns() + RUN_NS;
	while (now_ns() < end) {
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	pthread_join(signaller, NULL);
	for (t = 0; t < THREADS; t++) {
		pthread_join(workers[t], NULL);
		total_ops += wstate[t].ops;
	}

	cr_assert_eq(bad_values, 0, "%d popped values were never pushed (torn or stale slots)",
		     bad_values);
	cr_assert_eq(dup_errors, 0, "%d objects were handed to two threads at once", dup_errors);
	cr_assert_gt(total_ops, 1000, "the threads hardly ran (%lu operations)", total_ops);

	/* account for every object: on the stacks or held, exactly once */
	for (c = 0; c < ncpus; c++) {
		struct slabd_shm_pcpu *s = stack_of((int)c);

		cr_assert_leq(s->count, s->capacity, "CPU %u: count %u above capacity", c,
			      s->count);
		for (i = 0; i < s->count; i++) {
			uint64_t off = s->slots[i];

			cr_assert(off % 8 == 0 && off / 8 >= 1 && off / 8 <= nr_objs,
				  "CPU %u slot %u holds %#lx", c, i, off);
			seen[off / 8 - 1]++;
		}
	}
	for (t = 0; t < THREADS; t++)
		for (i = 0; i < wstate[t].nheld; i++)
			seen[wstate[t].held[i] / 8 - 1]++;
	for (i = 0; i < nr_objs; i++)
		if (seen[i] != 1)
			cr_assert_fail("object %#lx is %s (found %u times)", (uint64_t)(i + 1) * 8,
				       seen[i] ? "duplicated" : "lost", seen[i]);
	/* and the guard past the last stack is intact */
	cr_assert_arr_eq(base + buf_size - PCPU_SIZE, snapshot + buf_size - PCPU_SIZE, PCPU_SIZE);
	free(owned);
	free(seen);
}

/* The block copies, for every stack count and every request up to past the slot count: a
 * pop takes exactly min(count, n) from the top in stack order, each + delta, writes nothing
 * past out[got] and commits count - got; a push stores exactly min(n, room) at slots[count]
 * on, each - delta, and nothing above. Covers the odd one, the pair and the four-object
 * loop of the copies at every parity and length. */
Test(percpu, block_copies_are_exact_for_every_count_and_length)
{
	struct slabd_shm_pcpu *s = stack_of(cpu);
	const uint64_t delta = 0x7f0000001000ull;
	uint64_t in[SLABD_PCPU_SLOTS + 8], out[SLABD_PCPU_SLOTS + 8];
	unsigned int count, n, i, cap;

	for (count = 0; count <= SLABD_PCPU_SLOTS; count++) {
		for (n = 0; n <= SLABD_PCPU_SLOTS + 3; n++) {
			unsigned int want = n < count ? n : count;

			s->count = count;
			s->capacity = SLABD_PCPU_SLOTS;
			for (i = 0; i < SLABD_PCPU_SLOTS; i++)
				s->slots[i] = 8ull * (i + 1);
			memset(out, 0x5a, sizeof(out));
			cr_assert_eq(percpu_pop_bulk_delta(roff, ncpus, base, out, n, delta), want,
				     "pop %u of %u", n, count);
			cr_assert_eq(s->count, count - want);
			for (i = 0; i < want; i++)
				cr_assert_eq(out[i], 8ull * (count - want + i + 1) + delta,
					     "pop %u of %u: out[%u]", n, count, i);
			for (; i < SLABD_PCPU_SLOTS + 8; i++)
				cr_assert_eq(out[i], 0x5a5a5a5a5a5a5a5aull, "pop %u of %u wrote out[%u]", n,
					     count, i);
		}
	}
	for (cap = 0; cap <= SLABD_PCPU_SLOTS + 1; cap += 3) {
		for (count = 0; count <= SLABD_PCPU_SLOTS; count++) {
			unsigned int limit = cap < SLABD_PCPU_SLOTS ? cap : SLABD_PCPU_SLOTS;

			for (n = 0; n <= SLABD_PCPU_SLOTS + 3; n++) {
				unsigned int room = count < limit ? limit - count : 0;
				unsigned int want = n < room ? n : room;

				s->count = count;
				s->capacity = cap;
				for (i = 0; i < SLABD_PCPU_SLOTS; i++)
					s->slots[i] = 0x3c3c;
				for (i = 0; i < n; i++)
					in[i] = delta + 16ull * (i + 1);
				cr_assert_eq(percpu_push_bulk_delta(roff, ncpus, base, in, n, delta), want,
					     "push %u onto %u (capacity %u)", n, count, cap);
				cr_assert_eq(s->count, count + want);
				for (i = 0; i < SLABD_PCPU_SLOTS; i++) {
					uint64_t exp = i >= count && i < count + want ? 16ull * (i - count + 1)
										      : 0x3c3c;
					cr_assert_eq(s->slots[i], exp, "push %u onto %u (capacity %u): slot %u",
						     n, count, cap, i);
				}
			}
		}
	}
	s->count = 0;
	s->capacity = SLABD_PCPU_SLOTS;
}
