/* SPDX-License-Identifier: MIT */
/*
 * bench_util.h - what kbench and bulkbench share: reading the TSC with fences, keeping
 * the compiler from removing or folding measured work, medians, pinning, and the TSC
 * frequency. Header-only (static inline) so each program takes what it uses.
 */
#ifndef SLABD_BENCH_UTIL_H
#define SLABD_BENCH_UTIL_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

static inline uint64_t tsc_read(void)
{
	uint64_t t;

	_mm_lfence();
	t = __rdtsc();
	_mm_lfence();
	return t;
}

/* The pointer escapes into an asm that may read any memory: the work must happen. */
static inline void sink(void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* median: sorts @v in place. */
static inline double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* spin_wait: a pause, and every 1024th time a yield (both threads of a handoff may share
 * one CPU after all: let the other one run). */
static inline void spin_wait(unsigned int *spins)
{
	if (++*spins < 1024) {
		_mm_pause();
	} else {
		*spins = 0;
		sched_yield();
	}
}

/*
 * The single-producer single-consumer rings of the handoff tests: the producer alone
 * stores head, the consumer alone tail; each keeps a copy of the other's index and reads
 * the shared one again only when its copy says wait. ring_wait_room: until the slot at
 * @head is free. ring_wait_item: until the slot at @tail holds an item.
 */
static inline void ring_wait_room(const uint64_t *shared_tail, uint64_t head, uint64_t *tail, uint64_t slots,
				  unsigned int *spins)
{
	while (head - *tail >= slots) {
		*tail = __atomic_load_n(shared_tail, __ATOMIC_ACQUIRE);
		if (head - *tail >= slots)
			spin_wait(spins);
	}
}

static inline void ring_wait_item(const uint64_t *shared_head, uint64_t *head, uint64_t tail, unsigned int *spins)
{
	while (tail == *head) {
		*head = __atomic_load_n(shared_head, __ATOMIC_ACQUIRE);
		if (tail == *head)
			spin_wait(spins);
	}
}

/* The ring of the in-process handoff tests (kbench, bulkbench): a producer thread passes
 * objects to a consumer thread. head is written only by the producer, tail only by the
 * consumer; a slot is written before the release store of head that publishes it and
 * read before the release store of tail that gives it back. */
#define BENCH_RING_SLOTS 256 /* a power of two */
struct bench_ring {
	_Alignas(64) uint64_t head;
	_Alignas(64) uint64_t tail;
	_Alignas(64) void *slot[BENCH_RING_SLOTS];
	_Alignas(64) unsigned int ready;
	uint64_t t_start, t_end;
	uint64_t n;
};

/* ring_start_together: both threads leave here at about the same time. */
static inline void ring_start_together(struct bench_ring *r)
{
	unsigned int spins = 0;

	__atomic_fetch_add(&r->ready, 1, __ATOMIC_ACQ_REL);
	while (__atomic_load_n(&r->ready, __ATOMIC_ACQUIRE) < 2)
		spin_wait(&spins);
}

/* pin_to: this thread onto @cpu; a warning (prefixed by @prog) when that is refused. */
static inline void pin_to(const char *prog, int cpu)
{
	cpu_set_t set;
	int r;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	r = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (r)
		fprintf(stderr, "%s: warning: cannot pin to CPU %d (%s); running unpinned\n", prog, cpu,
			strerror(r));
}

/* Ticks of the TSC per microsecond, against CLOCK_MONOTONIC over one 50 ms sleep (a single
 * system call, so the instruction count does not vary from run to run). */
static inline double tsc_mhz(void)
{
	struct timespec a, b, d = { 0, 50 * 1000 * 1000 };
	uint64_t t0, t1;
	double us;

	clock_gettime(CLOCK_MONOTONIC, &a);
	t0 = tsc_read();
	nanosleep(&d, NULL);
	t1 = tsc_read();
	clock_gettime(CLOCK_MONOTONIC, &b);
	us = (double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3;
	return (double)(t1 - t0) / us;
}

/*
 * xcpu_rtt: TSC cycles for one cache line to go from the calling thread's CPU to @cpu2 and
 * back (a thread pinned there answers; 20000 round trips, the median of 5 runs). On the
 * VMs this suite runs on it is bimodal over time (a near regime of about 70-250 cycles and
 * a far one of 500-2000, for seconds at a time: where the hypervisor puts the two vCPUs),
 * and every test that moves cache lines between two CPUs follows it. The handoff and
 * pipeline tests measure it around each timed run so that runs are compared with runs of
 * the same regime ("xcpu" columns). @prog names the program in warnings.
 */
#define XCPU_TRIPS 20000u

/* xcpu_answer: the far side's part: if @line holds an odd value (a ping), make it the next
 * even one; whether it did. */
static inline int xcpu_answer(volatile uint64_t *line)
{
	uint64_t v = *line;

	if (!(v & 1))
		return 0;
	*line = v + 1;
	return 1;
}

/* xcpu_spin: a pause, and a yield after 1 << 16 of them in a row: the far side may share
 * this CPU (two CPUs given as one, or an oversubscribed machine), and then each trip needs
 * it to run. Counted per wait, so a normal trip (a few hundred cycles) never yields. */
static inline void xcpu_spin(unsigned int *spins)
{
	if (++*spins < (1u << 16)) {
		_mm_pause();
	} else {
		*spins = 0;
		sched_yield();
	}
}

/* xcpu_trips: the near side's part: XCPU_TRIPS pings on @line (0 on entry) while the far
 * side answers; cycles per round trip (the first trip, which waits for the far side to be
 * there, untimed). Leaves 2 * XCPU_TRIPS in @line. */
static inline double xcpu_trips(volatile uint64_t *line)
{
	unsigned int spins = 0;
	uint64_t i, t0;

	*line = 1;
	while (*line != 2)
		xcpu_spin(&spins);
	t0 = tsc_read();
	for (i = 2; i <= XCPU_TRIPS; i++) {
		*line = 2 * i - 1;
		for (spins = 0; *line != 2 * i;)
			xcpu_spin(&spins);
	}
	return (double)(tsc_read() - t0) / (XCPU_TRIPS - 1);
}

struct xcpu_arg {
	_Alignas(64) volatile uint64_t line;
	int cpu2;
	const char *prog;
};

static void *xcpu_pong(void *arg)
{
	struct xcpu_arg *x = arg;

	unsigned int spins = 0;

	pin_to(x->prog, x->cpu2);
	while (x->line != 2 * XCPU_TRIPS)
		if (xcpu_answer(&x->line))
			spins = 0;
		else
			xcpu_spin(&spins);
	return NULL;
}

/* xcpu_rtt: with a thread of our own pinned to @cpu2 as the far side; the median of 5
 * runs of xcpu_trips. */
static inline double xcpu_rtt(const char *prog, int cpu2)
{
	static struct xcpu_arg x;
	double v[5];
	unsigned int r;

	x.cpu2 = cpu2;
	x.prog = prog;
	for (r = 0; r < 5; r++) {
		pthread_t t;

		x.line = 0;
		if (pthread_create(&t, NULL, xcpu_pong, &x)) {
			fprintf(stderr, "%s: pthread_create failed\n", prog);
			exit(1);
		}
		v[r] = xcpu_trips(&x.line);
		pthread_join(t, NULL);
	}
	return median(v, 5);
}

/*
 * handoff_reps: the repetitions of a two-CPU handoff test: one untimed run of @once(@warmup),
 * then @reps timed runs of @once(@n) (cycles per object), each with xcpu_rtt to @cpu2
 * measured just before and after it. Every run is printed as a result line
 * "<prog> <name> handoff-rep <size> <cycles> <xcpu> <before> <after>" (xcpu: the mean of
 * the two), for bench/report.py to compare runs of one regime (a run whose two sides
 * disagree on it is set apart); returns the median of the cycles. The caller runs on
 * the first CPU.
 */
static inline double handoff_reps(const char *prog, const char *name, unsigned int size, int cpu2,
				  double (*once)(uint64_t), uint64_t n, uint64_t warmup, uint64_t reps)
{
	double *v = calloc(reps ? reps : 1, sizeof(*v)), m = 0, x0, x1;
	uint64_t i;

	if (!v) {
		fprintf(stderr, "%s: out of memory\n", prog);
		exit(1);
	}
	if (warmup)
		once(warmup);
	for (i = 0; i < reps; i++) {
		x0 = xcpu_rtt(prog, cpu2);
		v[i] = once(n);
		x1 = xcpu_rtt(prog, cpu2);
		printf("%s %s handoff-rep %u %.2f %.1f %.1f %.1f\n", prog, name, size, v[i], (x0 + x1) / 2, x0, x1);
	}
	if (reps)
		m = median(v, reps);
	free(v);
	return m;
}

/* bench_parse_count: a non-negative count from the command line, or exit(2) saying so. */
static inline uint64_t bench_parse_count(const char *prog, const char *s, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-') {
		fprintf(stderr, "%s: %s: expected a count, got '%s'\n", prog, what, s);
		exit(2);
	}
	return v;
}

struct bench_test_name {
	const char *name;
	unsigned int bit;
};

/* bench_parse_tests: the OR of the bits of a comma-separated list of test names. */
static inline unsigned int bench_parse_tests(const char *prog, char *list, const struct bench_test_name *names,
					     size_t n)
{
	unsigned int tests = 0;
	char *save, *t;
	size_t i;

	for (t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < n && strcmp(t, names[i].name); i++)
			;
		if (i == n) {
			fprintf(stderr, "%s: unknown test '%s' (see %s --help)\n", prog, t, prog);
			exit(2);
		}
		tests |= names[i].bit;
	}
	return tests;
}

#endif /* SLABD_BENCH_UTIL_H */
