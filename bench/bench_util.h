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
