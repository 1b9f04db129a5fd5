/* SPDX-License-Identifier: MIT */
/*
 * bulkbench.c - cycles per object of bulk allocation and free: slabd's
 * kmem_cache_alloc_bulk/kmem_cache_free_bulk against DPDK's
 * rte_mempool_get_bulk/rte_mempool_put_bulk.
 *
 * One source, two programs:
 *   bulkbench-slabd  (-DBULK_SLABD) attaches with slabd_connect() and creates the cache
 *                    "bench-64" (64-byte objects, default alignment, no flags);
 *   bulkbench-dpdk   (-DBULK_DPDK) starts DPDK's EAL on one lcore without hugepages and
 *                    without PCI, and creates a mempool of 64-byte elements with a
 *                    per-lcore cache.
 *
 * Tests, each for n = 1, 8 and 32 (--counts), single-threaded, pinned to --cpu:
 *   bulk     get n objects with one bulk call, then put them back with one bulk call;
 *            n is a compile-time constant at the call site, as in a receive loop with a
 *            fixed burst size.
 *   bulk-rt  the same with n laundered through an empty asm (unknown to the compiler).
 *   single   n single-object calls (kmem_cache_alloc / rte_mempool_get), then n
 *            single-object frees in allocation order (kmem_cache_free / rte_mempool_put):
 *            the reference the bulk calls should beat; n = 1 is one alloc+free pair.
 * And, not in the default set: handoff (two CPUs, below) and handoff-cg (its instructions
 * under callgrind, below).
 * A timed batch repeats one test until about --objects objects went through; the result is
 * the median over --batches batches of TSC cycles per object (one allocation plus one
 * free), after an untimed warm-up of about --warmup objects.
 *
 * Before timing, every program checks what it is given (check_pool()): each bulk call
 * returns all n objects, non-NULL, distinct, none of them also held by the caller, and
 * writable; bulk and single calls are mixed both ways. A failure stops the program with
 * a message, so the timings never describe an allocator that returned wrong results.
 *
 * Time is the TSC (__rdtsc() between lfences), reported in TSC ticks. The object arrays
 * escape into an empty asm with a memory clobber, so the compiler can neither drop the
 * calls nor move them across the timer reads. Nothing touches the objects in the timed
 * loops (neither allocator needs to: slabd's per-CPU stacks and DPDK's cache hold
 * pointers or offsets, not links inside the objects).
 *
 * Output: comment lines start with '#'; each result is one line
 *   bulkbench <allocator> <test> <n> <cycles_per_object>
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/rseq.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "bench_util.h"

#if defined(BULK_SLABD) == defined(BULK_DPDK)
#error "build with exactly one of -DBULK_SLABD and -DBULK_DPDK"
#endif

#ifdef BULK_SLABD
#include <slabd/slabd.h>
#define BB_DEFAULT_NAME "slabd"
#else
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_version.h>

#include "eal_util.h"

#define BB_DEFAULT_NAME "dpdk"
#endif

#define bb_unlikely(x) __builtin_expect(!!(x), 0)
#define bb_noinline __attribute__((noinline))
/* The allocator wrappers inline into every test, for both allocators alike (the compiler
 * would otherwise call an out-of-line copy where the count is not a constant). */
#define bb_inline inline __attribute__((always_inline))

#define OBJ_SIZE 64
#define MAX_COUNT 64 /* largest n of one call */

/* The counts with a compile-time-constant variant of the bulk test. */
#define BB_COUNTS(X) X(1) X(8) X(32)

enum {
	TEST_BULK = 1 << 0,
	TEST_BULK_RT = 1 << 1,
	TEST_SINGLE = 1 << 2,
	TEST_ALL = TEST_BULK | TEST_BULK_RT | TEST_SINGLE,
	TEST_HANDOFF = 1 << 3, /* not in "all": it needs a second CPU (DPDK: a second lcore) */
	TEST_HANDOFF_CG = 1 << 4, /* not in "all": for callgrind (slabd: with --fake-cpu) */
};

static struct {
	const char *name;     /* allocator label in the output */
	unsigned int tests;
	unsigned int counts[8];
	unsigned int nr_counts;
	uint64_t objects;     /* objects per timed batch */
	uint64_t batches;
	uint64_t warmup;      /* untimed objects before each measurement */
	int cpu;
	int cpu2;             /* handoff: the consumer's CPU */
	uint64_t handoff_objects;
	uint64_t reps;        /* handoff repetitions */
	int fake_cpu;         /* slabd under valgrind: >= 0 runs the fast paths (kbench.c) */
	const char *socket;   /* slabd only */
	unsigned int pool_size;  /* DPDK only: mempool elements */
	unsigned int cache_size; /* DPDK only: per-lcore cache */
	int no_shconf;           /* DPDK only: pass --no-shconf to the EAL */
	int eal_argc;            /* DPDK only: extra EAL arguments after -- */
	char **eal_argv;
} opt = {
	.name = BB_DEFAULT_NAME,
	.tests = TEST_ALL,
	.counts = { 1, 8, 32 },
	.nr_counts = 3,
	.objects = 1024,
	.batches = 301,
	.warmup = 65536,
	.cpu = 0,
	.cpu2 = 1,
	.handoff_objects = 1000000,
	.reps = 5,
	.fake_cpu = -1,
	.pool_size = 65535,
	.cache_size = 256,
	.no_shconf = 1,
};

/* ------------------------------------------------------ the two allocators -- */

#ifdef BULK_SLABD
static struct kmem_cache *cache;

/* 1 when all @n objects were allocated into @p, 0 when none was. */
static bb_inline int bb_get_bulk(void **p, unsigned int n)
{
	return kmem_cache_alloc_bulk(cache, GFP_KERNEL, n, p) == (int)n;
}

static bb_inline void bb_put_bulk(void **p, unsigned int n)
{
	kmem_cache_free_bulk(cache, n, p);
}

static bb_inline void *bb_get(void)
{
	return kmem_cache_alloc(cache, GFP_KERNEL);
}

static bb_inline void bb_put(void *obj)
{
	kmem_cache_free(cache, obj);
}
#else
static struct rte_mempool *pool;

static bb_inline int bb_get_bulk(void **p, unsigned int n)
{
	return rte_mempool_get_bulk(pool, p, n) == 0;
}

static bb_inline void bb_put_bulk(void **p, unsigned int n)
{
	rte_mempool_put_bulk(pool, p, n);
}

static bb_inline void *bb_get(void)
{
	void *obj;

	return rte_mempool_get(pool, &obj) ? NULL : obj;
}

static bb_inline void bb_put(void *obj)
{
	rte_mempool_put(pool, obj);
}
#endif

/* ---------------------------------------------------------------- helpers -- */

/* Hide a value from the optimiser: after this it is no longer a compile-time constant. */
static inline unsigned int launder(unsigned int v)
{
	__asm__("" : "+r"(v));
	return v;
}

static __attribute__((noreturn, cold)) void die_alloc(const char *what, unsigned int n)
{
	fprintf(stderr, "bulkbench: %s: %s of %u object(s) failed", opt.name, what, n);
#ifdef BULK_SLABD
	fprintf(stderr, ": %s (%s)", strerror(errno), slabd_last_error());
#endif
	fputc('\n', stderr);
	exit(1);
}

static void report(const char *test, unsigned int n, double cycles)
{
	printf("bulkbench %s %s %u %.2f\n", opt.name, test, n, cycles);
	fflush(stdout);
}


/* ------------------------------------------------------------ correctness -- */

static __attribute__((noreturn, cold, format(printf, 1, 2))) void check_failed(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bulkbench: %s: check failed: ", opt.name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Objects @p[0..n) are non-NULL and distinct among themselves and from @held[0..nh). */
static void check_distinct(void **p, unsigned int n, void **held, unsigned int nh)
{
	unsigned int i, j;

	for (i = 0; i < n; i++) {
		if (!p[i])
			check_failed("call for %u objects returned NULL at index %u", n, i);
		for (j = 0; j < i; j++)
			if (p[i] == p[j])
				check_failed("call for %u objects returned the same object at "
					     "indices %u and %u", n, j, i);
		for (j = 0; j < nh; j++)
			if (p[i] == held[j])
				check_failed("call for %u objects returned at index %u an object "
					     "still held (held index %u)", n, i, j);
	}
}

#define CHECK_ROUNDS 2000
#define CHECK_HELD 96

/*
 * check_pool: untimed sanity checks of the allocator's answers. Bulk calls of every size
 * 1..MAX_COUNT (and of the configured counts) while up to CHECK_HELD other objects are
 * held; every object is written in full and its pattern checked before it goes back;
 * bulk-allocated objects are freed one by one and single-allocated ones in bulk.
 */
static void check_pool(void)
{
	void *held[CHECK_HELD], *p[MAX_COUNT];
	unsigned int nh = 0, r, i, n;

	for (r = 0; r < CHECK_ROUNDS; r++) {
		n = r < MAX_COUNT ? r + 1 : opt.counts[r % opt.nr_counts];
		if (r % 3 == 2) {
			for (i = 0; i < n; i++) {
				p[i] = bb_get();
				if (!p[i])
					die_alloc("single allocation (check)", 1);
			}
		} else if (!bb_get_bulk(p, n)) {
			die_alloc("bulk allocation (check)", n);
		}
		check_distinct(p, n, held, nh);
		for (i = 0; i < n; i++)
			memset(p[i], (int)((r + i) & 0xff), OBJ_SIZE);
		for (i = 0; i < n; i++) {
			const unsigned char *c = p[i];
			unsigned int k;

			for (k = 0; k < OBJ_SIZE; k++)
				if (c[k] != ((r + i) & 0xff))
					check_failed("object %u of %u: a byte changed under us (at "
						     "offset %u)", i, n, k);
		}
		/* Keep a few objects across rounds so that reuse would show as a duplicate. */
		if (nh < CHECK_HELD && n > 1)
			held[nh++] = p[--n];
		if (r % 3 == 1)
			for (i = 0; i < n; i++)
				bb_put(p[i]);
		else
			bb_put_bulk(p, n);
		if (r % 500 == 499) {
			bb_put_bulk(held, nh);
			nh = 0;
		}
	}
	if (nh)
		bb_put_bulk(held, nh);
	printf("# check: %u rounds of bulk/single alloc and free, 1..%u objects: ok\n",
	       CHECK_ROUNDS, MAX_COUNT);
}

/* ------------------------------------------------------------------ tests -- */

/* One timed batch of @reps rounds of bulk get + bulk put of a constant @n objects. */
#define DEFINE_BULK_CONST(cnt)                                                                     \
	static bb_noinline uint64_t bulk_const_##cnt(uint64_t reps)                                \
	{                                                                                          \
		void *p[cnt];                                                                      \
		uint64_t r, t0 = tsc_read();                                                       \
		for (r = 0; r < reps; r++) {                                                       \
			if (bb_unlikely(!bb_get_bulk(p, cnt)))                                     \
				die_alloc("bulk allocation", cnt);                                 \
			sink(p);                                                                   \
			bb_put_bulk(p, cnt);                                                       \
		}                                                                                  \
		return tsc_read() - t0;                                                            \
	}
BB_COUNTS(DEFINE_BULK_CONST)

static uint64_t bulk_const(unsigned int n, uint64_t reps)
{
	switch (n) {
#define BULK_CASE(cnt)                                                                             \
	case cnt:                                                                                  \
		return bulk_const_##cnt(reps);
		BB_COUNTS(BULK_CASE)
	}
	return 0;
}

static int has_const_variant(unsigned int n)
{
#define CONST_CASE(cnt) if (n == cnt) return 1;
	BB_COUNTS(CONST_CASE)
	return 0;
}

/* One timed batch, n unknown to the compiler. */
static bb_noinline uint64_t bulk_rt(unsigned int n, uint64_t reps)
{
	void *p[MAX_COUNT];
	uint64_t r, t0 = tsc_read();

	for (r = 0; r < reps; r++) {
		unsigned int k = launder(n);

		if (bb_unlikely(!bb_get_bulk(p, k)))
			die_alloc("bulk allocation", k);
		sink(p);
		bb_put_bulk(p, k);
	}
	return tsc_read() - t0;
}

/* One timed batch of n single allocations then n single frees, @reps times. */
static bb_noinline uint64_t single(unsigned int n, uint64_t reps)
{
	void *p[MAX_COUNT];
	uint64_t r, t0 = tsc_read();
	unsigned int i;

	for (r = 0; r < reps; r++) {
		for (i = 0; i < n; i++) {
			p[i] = bb_get();
			if (bb_unlikely(!p[i]))
				die_alloc("single allocation", 1);
		}
		sink(p);
		for (i = 0; i < n; i++)
			bb_put(p[i]);
	}
	return tsc_read() - t0;
}

typedef uint64_t (*batch_fn)(unsigned int n, uint64_t reps);

/* measure: median over opt.batches batches of cycles per object of @batch with @n. */
static double measure(batch_fn batch, unsigned int n)
{
	uint64_t reps = (opt.objects + n - 1) / n, b;
	double *v, m = 0;

	if (opt.warmup)
		batch(n, (opt.warmup + n - 1) / n);
	v = calloc(opt.batches, sizeof(*v));
	if (!v) {
		fprintf(stderr, "bulkbench: out of memory\n");
		exit(1);
	}
	for (b = 0; b < opt.batches; b++) {
		uint64_t t = batch(n, reps);

		v[b] = reps ? (double)t / (double)(reps * n) : 0;
	}
	if (opt.batches)
		m = median(v, opt.batches);
	free(v);
	return m;
}

/* ---------------------------------------------------------------- handoff -- */

/*
 * handoff: a producer on --cpu allocates single objects (kmem_cache_alloc /
 * rte_mempool_get) and passes them through a 256-slot single-producer/single-consumer
 * ring to a consumer on --cpu2, which frees them (kmem_cache_free / rte_mempool_put).
 * For DPDK the consumer is an EAL lcore (it has a mempool cache of its own, as a
 * forwarding core would); for slabd a plain thread. TSC from the producer's start to the
 * consumer's last free, divided by the objects; the median of --reps repetitions.
 */

static void produce(struct bench_ring *r)
{
	uint64_t head = 0, tail = 0, i;
	unsigned int spins = 0;

	ring_start_together(r);
	r->t_start = tsc_read();
	for (i = 0; i < r->n; i++) {
		void *p = bb_get();

		if (bb_unlikely(!p))
			die_alloc("single allocation (handoff)", 1);
		ring_wait_room(&r->tail, head, &tail, BENCH_RING_SLOTS, &spins);
		r->slot[head % BENCH_RING_SLOTS] = p;
		__atomic_store_n(&r->head, ++head, __ATOMIC_RELEASE);
	}
}

static int consume(void *arg)
{
	struct bench_ring *r = arg;
	uint64_t head = 0, tail = 0;
	unsigned int spins = 0;

	ring_start_together(r);
	while (tail < r->n) {
		void *p;

		ring_wait_item(&r->head, &head, tail, &spins);
		p = r->slot[tail % BENCH_RING_SLOTS];
		__atomic_store_n(&r->tail, ++tail, __ATOMIC_RELEASE);
		bb_put(p);
	}
	r->t_end = tsc_read();
	return 0;
}

#ifdef BULK_SLABD
static void *consume_thread(void *arg)
{
	pin_to("bulkbench", opt.cpu2);
	consume(arg);
	return NULL;
}
#endif

static double handoff_once(uint64_t n)
{
	struct bench_ring *r;
	double c;

	if (posix_memalign((void **)&r, 64, sizeof(*r))) {
		fprintf(stderr, "bulkbench: out of memory\n");
		exit(1);
	}
	memset(r, 0, sizeof(*r));
	r->n = n;
#ifdef BULK_SLABD
	{
		pthread_t tc;
		int e = pthread_create(&tc, NULL, consume_thread, r);

		if (e) {
			fprintf(stderr, "bulkbench: pthread_create: %s\n", strerror(e));
			exit(1);
		}
		produce(r);
		pthread_join(tc, NULL);
	}
#else
	{
		unsigned int lc = rte_get_next_lcore(rte_lcore_id(), 1, 0);

		if (lc >= RTE_MAX_LCORE || rte_eal_remote_launch(consume, r, lc)) {
			fprintf(stderr, "bulkbench: no second lcore to run the consumer on\n");
			exit(1);
		}
		produce(r);
		rte_eal_wait_lcore(lc);
	}
#endif
	c = n ? (double)(r->t_end - r->t_start) / (double)n : 0;
	free(r);
	return c;
}

static double handoff(void)
{
	return handoff_reps("bulkbench", opt.name, 1, opt.cpu2, handoff_once, opt.handoff_objects, opt.warmup,
			    opt.reps);
}

/*
 * handoff-cg: the handoff in one thread, for counting its instructions under callgrind
 * (the two-thread handoff spins on its ring, which callgrind would count): rounds of 256
 * single allocations as one CPU, then their 256 single frees as the next one,
 * --handoff-objects in all. For slabd the rseq area's cpu_id is rewritten between the
 * halves, as in kbench's handoff-cg (valgrind with --fake-cpu only); for DPDK the thread's
 * lcore id, so that rte_mempool_put takes the next lcore's cache (a mempool with a cache
 * has one for every possible lcore). The same calls, misses and ring or depot exchanges
 * as the real handoff, none of its cache-line transfers. Cycles per object are printed
 * but mean nothing under valgrind.
 */
static void handoff_cg_as(int next)
{
#ifdef BULK_SLABD
	struct rseq *r = (struct rseq *)((char *)__builtin_thread_pointer() + slabd_fast_v2.rseq_off);

	r->cpu_id_start = r->cpu_id = (uint32_t)(opt.fake_cpu + next);
#else
	static unsigned int main_lcore = RTE_MAX_LCORE;

	if (main_lcore == RTE_MAX_LCORE)
		main_lcore = rte_lcore_id();
	RTE_PER_LCORE(_lcore_id) = main_lcore + (unsigned int)next;
#endif
}

static double handoff_cg(void)
{
	static void *v[BENCH_RING_SLOTS];
	uint64_t done = 0, t0, i, k;

#ifdef BULK_SLABD
	if (opt.fake_cpu < 0) {
		fprintf(stderr, "bulkbench: handoff-cg needs --fake-cpu (valgrind)\n");
		exit(2);
	}
#else
	if (rte_lcore_id() + 1 >= RTE_MAX_LCORE) {
		fprintf(stderr, "bulkbench: handoff-cg needs an lcore id below %d\n", RTE_MAX_LCORE - 1);
		exit(2);
	}
#endif
	t0 = tsc_read();
	while (done < opt.handoff_objects) {
		k = opt.handoff_objects - done < BENCH_RING_SLOTS ? opt.handoff_objects - done : BENCH_RING_SLOTS;
		for (i = 0; i < k; i++) {
			v[i] = bb_get();
			if (bb_unlikely(!v[i]))
				die_alloc("single allocation (handoff-cg)", 1);
		}
		__asm__ volatile("" : : "r"(v) : "memory");
		handoff_cg_as(1);
		for (i = 0; i < k; i++)
			bb_put(v[i]);
		handoff_cg_as(0);
		done += k;
	}
	return opt.handoff_objects ? (double)(tsc_read() - t0) / (double)opt.handoff_objects : 0;
}

/* -------------------------------------------------------------- set-up -- */

#ifdef BULK_SLABD
static void setup(int argc, char **argv)
{
	static const char *const backing[] = { "?", "shmem-4K", "hugetlb-2M", "hugetlb-1G" };
	struct slabd_attach_info info;
	int r = slabd_connect(opt.socket);

	if (r < 0) {
		fprintf(stderr, "bulkbench: slabd_connect: %s: %s\n", strerror(-r),
			slabd_last_error());
		exit(1);
	}
	pin_to("bulkbench", opt.cpu);
	if (opt.fake_cpu >= 0) {
		/* valgrind only: see kbench.c's fake_cpu() */
		struct rseq *rs = (struct rseq *)((char *)__builtin_thread_pointer() + slabd_fast_v2.rseq_off);

		if (__rseq_size || (int32_t)rs->cpu_id >= 0) {
			fprintf(stderr, "bulkbench: --fake-cpu is for valgrind only: this thread has rseq\n");
			exit(2);
		}
		rs->cpu_id_start = rs->cpu_id = (uint32_t)opt.fake_cpu;
		printf("# fake rseq cpu %d (valgrind): the per-CPU fast paths run\n", opt.fake_cpu);
	}
	if (slabd_attach_info(&info) == 0)
		printf("# slabd backing %s, %u cpus, %u nodes, fast path (rseq): %s\n",
		       backing[info.backing < 4 ? info.backing : 0], info.nr_cpus, info.nr_nodes,
		       info.fast_path ? "yes" : "no");
	if (__rseq_size)
		printf("# rseq registered by glibc: yes (__rseq_size %u)\n", __rseq_size);
	else
		printf("# rseq registered by glibc: no\n");
	cache = kmem_cache_create("bench-64", OBJ_SIZE, 0, 0, NULL);
	if (!cache) {
		fprintf(stderr, "bulkbench: kmem_cache_create(\"bench-64\", %d): %s: %s\n", OBJ_SIZE,
			strerror(errno), slabd_last_error());
		exit(1);
	}
	printf("# slabd cache bench-64: object stride %u bytes\n", slabd_kmem_cache_size(cache));
}

static void teardown(void)
{
	/* The cache stays in the daemon for the next run (create returns it again). */
}
#else
static char eal_prefix[64];

static void setup(int argc, char **argv)
{
	char *eal[32], cpu[32];
	int n = 0, i, r;

	if (opt.tests & TEST_HANDOFF)
		snprintf(cpu, sizeof(cpu), "%d,%d", opt.cpu, opt.cpu2);
	else
		snprintf(cpu, sizeof(cpu), "%d", opt.cpu);
	snprintf(eal_prefix, sizeof(eal_prefix), "bulkbench-%d", (int)getpid());
	eal[n++] = argv[0];
	eal[n++] = "--no-huge";
	eal[n++] = "--no-pci";
	if (opt.no_shconf)
		eal[n++] = "--no-shconf";
	eal[n++] = "--no-telemetry";
	eal[n++] = "-l";
	eal[n++] = cpu;
	eal[n++] = "--file-prefix";
	eal[n++] = eal_prefix;
	eal[n++] = "--log-level=lib.eal:error";
	for (i = 0; i < opt.eal_argc && n < (int)(sizeof(eal) / sizeof(eal[0])) - 1; i++)
		eal[n++] = opt.eal_argv[i];
	eal[n] = NULL;

	printf("# dpdk %s, EAL:", rte_version());
	for (i = 1; i < n; i++)
		printf(" %s", eal[i]);
	printf("\n");
	fflush(stdout);
	r = eal_init_owned("bulkbench", n, eal, eal_prefix);
	if (r < 0) {
		fprintf(stderr, "bulkbench: rte_eal_init: %s\n", rte_strerror(rte_errno));
		exit(1);
	}
	pin_to("bulkbench", opt.cpu); /* the EAL pinned the main lcore already; be explicit */
	pool = rte_mempool_create("bulkbench-64", opt.pool_size, OBJ_SIZE, opt.cache_size, 0,
				  NULL, NULL, NULL, NULL, (int)rte_socket_id(), 0);
	if (!pool) {
		fprintf(stderr, "bulkbench: rte_mempool_create(%u x %d B, cache %u): %s\n",
			opt.pool_size, OBJ_SIZE, opt.cache_size, rte_strerror(rte_errno));
		exit(1);
	}
	printf("# dpdk mempool: %u elements of %d B (stride %u with header and trailer), "
	       "ops %s, lcore %u cache %u (flush threshold %u)\n",
	       pool->size, OBJ_SIZE, pool->header_size + pool->elt_size + pool->trailer_size,
	       rte_mempool_get_ops(pool->ops_index)->name, rte_lcore_id(), pool->cache_size,
	       rte_mempool_default_cache(pool, rte_lcore_id()) ?
		       rte_mempool_default_cache(pool, rte_lcore_id())->flushthresh :
		       0);
}

static void teardown(void)
{
	rte_mempool_free(pool);
	eal_end();
}
#endif

/* ------------------------------------------------------------------- main -- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: bulkbench-%s [OPTIONS]%s\n"
		"Cycles per object of bulk alloc+free (see the header of bench/bulkbench.c).\n\n"
		"  -t, --test LIST     comma-separated: bulk,bulk-rt,single,handoff,handoff-cg\n"
		"                      (default all: the first three; handoff-cg: under valgrind,\n"
		"                      slabd with --fake-cpu)\n"
		"  -k, --counts LIST   objects per call, comma-separated, 1..%d (default 1,8,32;\n"
		"                      bulk has a constant-count variant for 1, 8 and 32 only)\n"
		"  -n, --objects N     objects per timed batch (default %llu)\n"
		"  -b, --batches N     timed batches; the median is reported (default %llu)\n"
		"  -w, --warmup N      untimed objects before each measurement (default %llu)\n"
		"  -c, --cpu N         CPU to run on (default 0)\n"
		"      --cpu2 N        handoff: the consumer's CPU (default 1)\n"
		"      --handoff-objects N  handoff: objects per repetition (default 1000000)\n"
		"      --reps N        handoff: repetitions, the median is reported (default 5)\n"
		"  -a, --name NAME     allocator label in the output (default %s)\n"
#ifdef BULK_SLABD
		"  -S, --socket PATH   slabd's socket (default $SLABD_SOCKET, else the system one)\n"
		"      --fake-cpu N    valgrind only: run the per-CPU fast paths (see kbench)\n"
#else
		"  -p, --pool N        mempool elements (default %u)\n"
		"  -C, --cache N       per-lcore mempool cache size (default %u)\n"
		"      --shconf        let the EAL keep its shared config files (no --no-shconf)\n"
#endif
		"  -h, --help          this text\n"
#ifdef BULK_DPDK
		"EAL_ARGS after -- are appended to the EAL's arguments.\n"
#endif
		,
		BB_DEFAULT_NAME,
#ifdef BULK_SLABD
		"",
#else
		" [-- EAL_ARGS...]",
#endif
		MAX_COUNT, (unsigned long long)opt.objects, (unsigned long long)opt.batches,
		(unsigned long long)opt.warmup, BB_DEFAULT_NAME
#ifdef BULK_DPDK
		, opt.pool_size, opt.cache_size
#endif
		);
}

static uint64_t parse_count(const char *s, const char *what)
{
	return bench_parse_count("bulkbench", s, what);
}

static unsigned int parse_tests(char *list)
{
	static const struct bench_test_name names[] = {
		{ "bulk", TEST_BULK }, { "bulk-rt", TEST_BULK_RT },
		{ "single", TEST_SINGLE }, { "handoff", TEST_HANDOFF },
		{ "handoff-cg", TEST_HANDOFF_CG }, { "all", TEST_ALL },
	};
	return bench_parse_tests("bulkbench", list, names, sizeof(names) / sizeof(names[0]));
}

static void parse_counts(char *list)
{
	char *save, *t;

	opt.nr_counts = 0;
	for (t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		uint64_t v = parse_count(t, "--counts");

		if (v < 1 || v > MAX_COUNT ||
		    opt.nr_counts == sizeof(opt.counts) / sizeof(opt.counts[0])) {
			fprintf(stderr, "bulkbench: --counts: at most %zu counts of 1..%d\n",
				sizeof(opt.counts) / sizeof(opt.counts[0]), MAX_COUNT);
			exit(2);
		}
		opt.counts[opt.nr_counts++] = (unsigned int)v;
	}
	if (!opt.nr_counts) {
		fprintf(stderr, "bulkbench: --counts: empty list\n");
		exit(2);
	}
}

static void parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "test", required_argument, NULL, 't' },
		{ "counts", required_argument, NULL, 'k' },
		{ "objects", required_argument, NULL, 'n' },
		{ "batches", required_argument, NULL, 'b' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "name", required_argument, NULL, 'a' },
		{ "socket", required_argument, NULL, 'S' },
		{ "pool", required_argument, NULL, 'p' },
		{ "cache", required_argument, NULL, 'C' },
		{ "shconf", no_argument, NULL, 'H' },
		{ "cpu2", required_argument, NULL, 1 },
		{ "handoff-objects", required_argument, NULL, 2 },
		{ "reps", required_argument, NULL, 3 },
		{ "fake-cpu", required_argument, NULL, 4 },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "t:k:n:b:w:c:a:S:p:C:h", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			opt.tests = parse_tests(optarg);
			break;
		case 'k':
			parse_counts(optarg);
			break;
		case 'n':
			opt.objects = parse_count(optarg, "--objects");
			break;
		case 'b':
			opt.batches = parse_count(optarg, "--batches");
			break;
		case 'w':
			opt.warmup = parse_count(optarg, "--warmup");
			break;
		case 'c':
			v = parse_count(optarg, "--cpu");
			if (v >= CPU_SETSIZE) {
				fprintf(stderr, "bulkbench: --cpu %s: out of range\n", optarg);
				exit(2);
			}
			opt.cpu = (int)v;
			break;
		case 'a':
			opt.name = optarg;
			break;
		case 'S':
			opt.socket = optarg;
			break;
		case 'p':
			opt.pool_size = (unsigned int)parse_count(optarg, "--pool");
			break;
		case 'C':
			opt.cache_size = (unsigned int)parse_count(optarg, "--cache");
			break;
		case 'H':
			opt.no_shconf = 0;
			break;
		case 1:
			v = parse_count(optarg, "--cpu2");
			if (v >= CPU_SETSIZE) {
				fprintf(stderr, "bulkbench: --cpu2 %s: out of range\n", optarg);
				exit(2);
			}
			opt.cpu2 = (int)v;
			break;
		case 2:
			opt.handoff_objects = parse_count(optarg, "--handoff-objects");
			break;
		case 3:
			opt.reps = parse_count(optarg, "--reps");
			break;
		case 4:
			opt.fake_cpu = (int)parse_count(optarg, "--fake-cpu");
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
#ifdef BULK_DPDK
	opt.eal_argc = argc - optind;
	opt.eal_argv = argv + optind;
#else
	if (optind < argc) {
		fprintf(stderr, "bulkbench: unexpected argument '%s' (see --help)\n", argv[optind]);
		exit(2);
	}
#endif
}

int main(int argc, char **argv)
{
	unsigned int i;

	parse_args(argc, argv);
	setup(argc, argv);
	printf("# tsc_mhz %.1f, cpu %d\n", tsc_mhz(), opt.cpu);
	check_pool();

	for (i = 0; i < opt.nr_counts; i++) {
		unsigned int n = opt.counts[i];

		if ((opt.tests & TEST_BULK) && has_const_variant(n))
			report("bulk", n, measure(bulk_const, n));
		if (opt.tests & TEST_BULK_RT)
			report("bulk-rt", n, measure(bulk_rt, n));
		if (opt.tests & TEST_SINGLE)
			report("single", n, measure(single, n));
	}
	if (opt.tests & TEST_HANDOFF)
		report("handoff", 1, handoff());
	if (opt.tests & TEST_HANDOFF_CG)
		report("handoff-cg", 1, handoff_cg());
	teardown();
	return 0;
}
