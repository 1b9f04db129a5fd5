/* SPDX-License-Identifier: MIT */
/*
 * kbench.c - cycles per kmalloc/kfree, for slabd and for any malloc.
 *
 * One source, two programs:
 *   kbench-slabd   (-DKBENCH_SLABD) calls kmalloc/kfree from <slabd/slabd.h> after
 *                  slabd_connect(); a constant size takes the compile-time cache path
 *                  (slabd_kmalloc_cache), a size hidden from the compiler takes the
 *                  run-time path (slabd_kmalloc).
 *   kbench-malloc  calls malloc/free, so that glibc, jemalloc, tcmalloc or mimalloc can be
 *                  swapped in with LD_PRELOAD (bench/run.sh does).
 *
 * Tests (all single-threaded ones run pinned to the first CPU of --cpus):
 *   pair     alloc then free at once, size a compile-time constant; one line per kmalloc
 *            size class. Each batch times --iters pairs; the result is the median over
 *            --batches batches of cycles per pair.
 *   pair-rt  the same with the size laundered through an empty asm, so the compiler cannot
 *            see it (slabd: the run-time size path; malloc: no difference).
 *   burst64  64 allocations of 64 B, then their 64 frees in allocation order; cycles per
 *            pair, median over batches.
 *   handoff  a producer thread on the first CPU allocates 64-B objects and passes them
 *            through a single-producer/single-consumer ring to a consumer thread on the
 *            second CPU, which frees them. TSC from the producer's start to the consumer's
 *            last free, divided by --objects; median over --reps repetitions.
 *   handoff-cg  kbench-slabd under valgrind with --fake-cpu N only: the handoff in one
 *            thread, for counting its instructions (the two-thread handoff spins, which
 *            callgrind would count): rounds of 256 allocations as CPU N, then the 256 frees
 *            as CPU N + 1 (the rseq area's cpu_id rewritten in between), --objects in all;
 *            every miss and magazine exchange of the real handoff, none of its cache-line
 *            transfers. Not in "all".
 *
 * Time is the TSC (__rdtsc() fenced by lfence on both sides), reported in TSC ticks, which
 * on a CPU with constant_tsc are reference cycles, not core cycles. Allocations are kept
 * alive by an empty asm that takes the pointer and clobbers memory, so the compiler can
 * neither drop a malloc/free pair nor move work across the timer reads.
 *
 * Output: comment lines start with '#'; each result is one line
 *   kbench <allocator> <test> <size> <cycles_per_op>
 *
 * For instruction counting under valgrind (run.sh --callgrind) use --batches 1, a fixed
 * --warmup and --iters N versus --iters 0: everything but the timed loop is identical in
 * both runs, so the difference of the totals divided by N is the cost of one pair.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/rseq.h>
#include <sys/stat.h>
#include <time.h>
#include <x86intrin.h>

#include "bench_util.h"

#ifdef KBENCH_SLABD
#include <slabd/slabd.h>

#define KB_ALLOC(size) kmalloc((size), GFP_KERNEL)
#define KB_FREE(p) kfree(p)
#define KB_DEFAULT_NAME "slabd"
#else
#define KB_ALLOC(size) malloc(size)
#define KB_FREE(p) free(p)
#define KB_DEFAULT_NAME "malloc"
#endif

#define kb_unlikely(x) __builtin_expect(!!(x), 0)
#define kb_noinline __attribute__((noinline))

/* The kmalloc size classes (the kernel's kmalloc_index()). */
#define KB_SIZES(X)                                                                                \
	X(8) X(16) X(32) X(64) X(96) X(128) X(192) X(256) X(512) X(1024) X(2048) X(4096) X(8192)   \
	X(16384) X(32768)

#define BURST 64

enum {
	TEST_PAIR = 1 << 0,
	TEST_PAIR_RT = 1 << 1,
	TEST_BURST = 1 << 2,
	TEST_HANDOFF = 1 << 3,
	TEST_LIVE = 1 << 4,
	TEST_THREADS = 1 << 5,
	TEST_MEMORY = 1 << 6,
	TEST_HANDOFF_CG = 1 << 7,
};

static struct {
	const char *name;  /* allocator label in the output */
	unsigned int tests;
	size_t only_size;  /* 0: every class */
	uint64_t iters;    /* pairs per timed batch */
	uint64_t batches;
	uint64_t warmup;   /* untimed pairs before each test */
	uint64_t objects;  /* per handoff repetition */
	uint64_t reps;     /* handoff repetitions */
	int cpu[2];
	const char *socket;
	unsigned int threads;     /* threads test: threads sharing the two CPUs */
	uint64_t mem_objects;     /* memory test: objects kept live at the peak */
	uint64_t mem_size;        /* memory test: object size */
	uint64_t mem_delay_ms;    /* memory test: wait after the free before the last look */
	const char *mem_cmd;      /* memory test: shell command run at each phase ($KBENCH_PHASE) */
	int fake_cpu;             /* >= 0: write this CPU number into the rseq area (callgrind) */
} opt = {
	.name = KB_DEFAULT_NAME,
	.tests = TEST_PAIR | TEST_PAIR_RT | TEST_BURST | TEST_HANDOFF | TEST_LIVE | TEST_THREADS,
	.iters = 1024,
	.batches = 301,
	.warmup = 65536,
	.objects = 1000000,
	.reps = 5,
	.cpu = { 0, 1 },
	.threads = 8,
	.mem_objects = 524288,
	.mem_size = 64,
	.mem_delay_ms = 12000,
	.fake_cpu = -1,
};

/* ---------------------------------------------------------------- helpers -- */

/* Hide a value from the optimiser: after this it is no longer a compile-time constant. */
static inline size_t launder(size_t v)
{
	__asm__("" : "+r"(v));
	return v;
}

static __attribute__((noreturn, cold)) void die_alloc(size_t size)
{
	fprintf(stderr, "kbench: allocation of %zu bytes failed: %s\n", size, strerror(errno));
	exit(1);
}

static inline void check(void *p, size_t size)
{
	if (kb_unlikely(!p))
		die_alloc(size);
}

static void report(const char *test, size_t size, double cycles)
{
	printf("kbench %s %s %zu %.2f\n", opt.name, test, size, cycles);
	fflush(stdout);
}


/* Which allocator libraries this process really maps: proof that LD_PRELOAD took. */
static void print_mapped_allocators(void)
{
	char line[512], last[512] = "";
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *path = strchr(line, '/'), *base;

		if (!path)
			continue;
		base = strrchr(path, '/') + 1;
		if (strncmp(base, "lib", 3))
			continue;
		if (!strstr(base, "malloc") && !strstr(base, "slabclient"))
			continue;
		path[strcspn(path, "\n")] = 0;
		if (strcmp(path, last)) {
			printf("# mapped %s\n", path);
			snprintf(last, sizeof(last), "%s", path);
		}
	}
	fclose(f);
}

/* ------------------------------------------------------------------ tests -- */

/* One timed batch of @n pairs at constant size: pair_const_<size>(). */
#define DEFINE_PAIR_CONST(sz)                                                                      \
	static kb_noinline uint64_t pair_const_##sz(uint64_t n)                                    \
	{                                                                                          \
		uint64_t i, t0 = tsc_read();                                                       \
		for (i = 0; i < n; i++) {                                                          \
			void *p = KB_ALLOC(sz);                                                    \
			check(p, sz);                                                              \
			sink(p);                                                                   \
			KB_FREE(p);                                                                \
		}                                                                                  \
		return tsc_read() - t0;                                                            \
	}
KB_SIZES(DEFINE_PAIR_CONST)

static const struct size_class {
	size_t size;
	uint64_t (*pair_const)(uint64_t n);
} size_classes[] = {
#define SIZE_ENTRY(sz) { sz, pair_const_##sz },
	KB_SIZES(SIZE_ENTRY)
};

#define NR_CLASSES (sizeof(size_classes) / sizeof(size_classes[0]))

/* One timed batch of @n pairs, the size unknown to the compiler. */
static kb_noinline uint64_t pair_rt(size_t size, uint64_t n)
{
	uint64_t i, t0 = tsc_read();

	for (i = 0; i < n; i++) {
		void *p = KB_ALLOC(launder(size));
		check(p, size);
		sink(p);
		KB_FREE(p);
	}
	return tsc_read() - t0;
}

/* One timed batch of @rounds rounds of 64 allocations then 64 frees, 64 B each. */
static kb_noinline uint64_t burst64(uint64_t rounds)
{
	void *p[BURST];
	uint64_t r, t0 = tsc_read();
	int i;

	for (r = 0; r < rounds; r++) {
		for (i = 0; i < BURST; i++) {
			p[i] = KB_ALLOC(64);
			check(p[i], 64);
			sink(p[i]);
		}
		for (i = 0; i < BURST; i++)
			KB_FREE(p[i]);
	}
	return tsc_read() - t0;
}

/* A timed batch: @n units of work of one test at one size; returns TSC ticks. */
typedef uint64_t (*batch_fn)(const struct size_class *sc, uint64_t n);

static uint64_t batch_pair(const struct size_class *sc, uint64_t n)
{
	return sc->pair_const(n);
}

static uint64_t batch_pair_rt(const struct size_class *sc, uint64_t n)
{
	return pair_rt(sc->size, n);
}

static uint64_t batch_burst(const struct size_class *sc, uint64_t n)
{
	return burst64(n);
}

/*
 * measure: median cycles per pair of @batch at @sc. One unit of @batch's work is @pairs
 * pairs; opt.iters pairs make a batch (rounded up to whole units). An untimed warm-up of
 * about opt.warmup pairs comes first.
 */
static double measure(batch_fn batch, const struct size_class *sc, uint64_t pairs)
{
	uint64_t n = (opt.iters + pairs - 1) / pairs, b;
	double *v, m = 0;

	if (opt.warmup)
		batch(sc, (opt.warmup + pairs - 1) / pairs);
	v = calloc(opt.batches, sizeof(*v));
	if (!v)
		die_alloc(opt.batches * sizeof(*v));
	for (b = 0; b < opt.batches; b++) {
		uint64_t t = batch(sc, n);

		v[b] = n ? (double)t / (double)(n * pairs) : 0;
	}
	if (opt.batches)
		m = median(v, opt.batches);
	free(v);
	return m;
}

/* ------------------------------------------------------------------- live -- */

#define LIVE_OBJECTS 100000
#define LIVE_REPS 5

/*
 * live: allocate LIVE_OBJECTS objects of 64 B, all alive at once, then free them all;
 * cycles per object (allocation + free). The first repetition runs in a process that has
 * allocated nothing yet ("fresh": the allocator must get memory from its backing store,
 * for slabd from the daemon's refills); the others reuse it ("live", the median). Run
 * before every other test so that "fresh" is really the first.
 */
static void live(void)
{
	void **v = calloc(LIVE_OBJECTS, sizeof(*v));
	double cyc[LIVE_REPS];
	int rep, i;

	if (!v)
		die_alloc(LIVE_OBJECTS * sizeof(*v));
	for (rep = 0; rep < LIVE_REPS; rep++) {
		uint64_t t0 = tsc_read();

		for (i = 0; i < LIVE_OBJECTS; i++) {
			v[i] = KB_ALLOC(64);
			check(v[i], 64);
			sink(v[i]);
		}
		for (i = 0; i < LIVE_OBJECTS; i++)
			KB_FREE(v[i]);
		cyc[rep] = (double)(tsc_read() - t0) / LIVE_OBJECTS;
	}
	free(v);
	report("fresh", 64, cyc[0]);
	report("live", 64, median(cyc + 1, LIVE_REPS - 1));
}

/* ---------------------------------------------------------------- handoff -- */

static void *producer(void *arg)
{
	struct bench_ring *r = arg;
	uint64_t head = 0, tail = 0, i;
	unsigned int spins = 0;

	pin_to("kbench", opt.cpu[0]);
	ring_start_together(r);
	r->t_start = tsc_read();
	for (i = 0; i < r->n; i++) {
		void *p = KB_ALLOC(64);

		check(p, 64);
		ring_wait_room(&r->tail, head, &tail, BENCH_RING_SLOTS, &spins);
		r->slot[head % BENCH_RING_SLOTS] = p;
		__atomic_store_n(&r->head, ++head, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct bench_ring *r = arg;
	uint64_t head = 0, tail = 0;
	unsigned int spins = 0;

	pin_to("kbench", opt.cpu[1]);
	ring_start_together(r);
	while (tail < r->n) {
		void *p;

		ring_wait_item(&r->head, &head, tail, &spins);
		p = r->slot[tail % BENCH_RING_SLOTS];
		__atomic_store_n(&r->tail, ++tail, __ATOMIC_RELEASE);
		KB_FREE(p);
	}
	r->t_end = tsc_read();
	return NULL;
}

/* One repetition: cycles per object, wall-clock TSC over the whole handoff. */
static double handoff_once(uint64_t n)
{
	struct bench_ring *r;
	pthread_t tp, tc;
	double c;
	int e;

	if (posix_memalign((void **)&r, 64, sizeof(*r)))
		die_alloc(sizeof(*r));
	memset(r, 0, sizeof(*r));
	r->n = n;
	e = pthread_create(&tc, NULL, consumer, r);
	if (!e)
		e = pthread_create(&tp, NULL, producer, r);
	if (e) {
		fprintf(stderr, "kbench: pthread_create: %s\n", strerror(e));
		exit(1);
	}
	pthread_join(tp, NULL);
	pthread_join(tc, NULL);
	c = n ? (double)(r->t_end - r->t_start) / (double)n : 0;
	free(r);
	return c;
}

static double handoff(void)
{
	return handoff_reps("kbench", opt.name, 64, opt.cpu[1], handoff_once, opt.objects, opt.warmup, opt.reps);
}

/* ---------------------------------------------------------------- threads -- */

/*
 * threads: opt.threads threads, all allowed on both CPUs of --cpus (more threads than
 * CPUs: they are preempted, and slabd's restartable sequences abort and retry), each
 * doing opt.objects pairs of 64 B. Result: wall-clock TSC from the release of the start
 * barrier to the last thread's end, divided by all the pairs; with two CPUs busy the
 * ideal is half the cost of one pair.
 */
struct thr_arg {
	pthread_barrier_t *start;
	uint64_t n;
	uint64_t t_end;
};

static void *pair_thread(void *arg)
{
	struct thr_arg *a = arg;
	cpu_set_t set;
	uint64_t i;

	CPU_ZERO(&set);
	CPU_SET(opt.cpu[0], &set);
	CPU_SET(opt.cpu[1], &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	pthread_barrier_wait(a->start);
	for (i = 0; i < a->n; i++) {
		void *p = KB_ALLOC(64);

		check(p, 64);
		sink(p);
		KB_FREE(p);
	}
	a->t_end = tsc_read();
	return NULL;
}

static double threads_once(uint64_t per_thread)
{
	pthread_barrier_t start;
	pthread_t *tid = calloc(opt.threads, sizeof(*tid));
	struct thr_arg *a = calloc(opt.threads, sizeof(*a));
	uint64_t t0, t_end = 0;
	unsigned int i;
	int e;

	if (!tid || !a)
		die_alloc(opt.threads * sizeof(*a));
	pthread_barrier_init(&start, NULL, opt.threads + 1);
	for (i = 0; i < opt.threads; i++) {
		a[i].start = &start;
		a[i].n = per_thread;
		e = pthread_create(&tid[i], NULL, pair_thread, &a[i]);
		if (e) {
			fprintf(stderr, "kbench: pthread_create: %s\n", strerror(e));
			exit(1);
		}
	}
	t0 = tsc_read();
	pthread_barrier_wait(&start);
	for (i = 0; i < opt.threads; i++) {
		pthread_join(tid[i], NULL);
		if (a[i].t_end > t_end)
			t_end = a[i].t_end;
	}
	pthread_barrier_destroy(&start);
	free(tid);
	free(a);
	return per_thread ? (double)(t_end - t0) / (double)(per_thread * opt.threads) : 0;
}

static double threads_test(void)
{
	double *v, m = 0;
	uint64_t i;

	if (opt.warmup)
		threads_once(opt.warmup / opt.threads + 1);
	v = calloc(opt.reps, sizeof(*v));
	if (!v)
		die_alloc(opt.reps * sizeof(*v));
	for (i = 0; i < opt.reps; i++)
		v[i] = threads_once(opt.objects);
	if (opt.reps)
		m = median(v, opt.reps);
	free(v);
	return m;
}

/* ----------------------------------------------------------------- memory -- */

/* A "Key:   N kB" line of /proc/self/status, in bytes; -1 when missing. */
static long long status_bytes(const char *key)
{
	char line[256];
	size_t k = strlen(key);
	long long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, k) && line[k] == ':') {
			v = strtoll(line + k + 1, NULL, 10) * 1024;
			break;
		}
	fclose(f);
	return v;
}

/*
 * region_bytes: the allocated bytes (st_blocks * 512) of the slabd memfds this process
 * maps (each file once): what the region really holds in memory, whoever touched it.
 * @zones_only: only "slabd-zones" (the objects), not the metadata and per-CPU stacks.
 * -1 when there is none or /proc/self/map_files cannot be read (it needs root).
 */
static long long region_bytes(int zones_only)
{
	char line[512], path[128];
	unsigned long ino[16];
	unsigned int nino = 0, i;
	long long sum = -1;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, inode;
		struct stat st;
		char *name = strstr(line, "/memfd:slabd-");

		if (!name || (zones_only && strncmp(name, "/memfd:slabd-zones", 18)))
			continue;
		if (sscanf(line, "%lx-%lx %*s %*s %*s %lu", &lo, &hi, &inode) != 3)
			continue;
		for (i = 0; i < nino && ino[i] != inode; i++)
			;
		if (i < nino || nino == sizeof(ino) / sizeof(ino[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", lo, hi);
		if (stat(path, &st) < 0)
			continue;
		ino[nino++] = inode;
		sum = (sum < 0 ? 0 : sum) + (long long)st.st_blocks * 512;
	}
	fclose(f);
	return sum;
}

static void mem_phase(const char *phase, uint64_t live)
{
	char cmd[4096];

	printf("kmem %s %s live %llu rss %lld rss_anon %lld rss_shmem %lld region %lld zones %lld\n",
	       opt.name, phase, (unsigned long long)live, status_bytes("VmRSS"), status_bytes("RssAnon"),
	       status_bytes("RssShmem"), region_bytes(0), region_bytes(1));
	fflush(stdout);
	if (opt.mem_cmd) {
		snprintf(cmd, sizeof(cmd), "KBENCH_PHASE=%s; %s", phase, opt.mem_cmd);
		if (system(cmd) != 0)
			fprintf(stderr, "kbench: --mem-cmd failed in phase %s\n", phase);
	}
}

/*
 * memory: keep opt.mem_objects objects of opt.mem_size bytes live (each written in full,
 * as a user would), free them all, look again at once and after opt.mem_delay_ms. Each
 * look prints one "kmem" line (the process's RSS; for slabd also the region's allocated
 * bytes) and runs --mem-cmd with KBENCH_PHASE set (start, peak, freed, later).
 */
static void memory_test(void)
{
	void **v = calloc(opt.mem_objects, sizeof(*v));
	struct timespec d = { (time_t)(opt.mem_delay_ms / 1000), (long)(opt.mem_delay_ms % 1000) * 1000000 };
	uint64_t i;

	if (!v)
		die_alloc(opt.mem_objects * sizeof(*v));
	memset(v, 0, opt.mem_objects * sizeof(*v)); /* the array's pages count in "start" */
	mem_phase("start", 0);
	for (i = 0; i < opt.mem_objects; i++) {
		v[i] = KB_ALLOC(opt.mem_size);
		check(v[i], opt.mem_size);
		memset(v[i], (int)(i & 0xff), opt.mem_size);
	}
	mem_phase("peak", opt.mem_objects * opt.mem_size);
	for (i = 0; i < opt.mem_objects; i++)
		KB_FREE(v[i]);
	mem_phase("freed", 0);
	while (nanosleep(&d, &d) < 0 && errno == EINTR)
		;
	mem_phase("later", 0);
	free(v);
}

/* ------------------------------------------------------------------- main -- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: kbench [OPTIONS]\n"
		"Cycles per allocation/free pair (see the header of bench/kbench.c).\n\n"
		"  -t, --test LIST    comma-separated: pair,pair-rt,burst64,handoff,live,threads,\n"
		"                     memory, handoff-cg (default all but memory and\n"
		"                     handoff-cg; handoff-cg: valgrind with --fake-cpu only)\n"
		"  -s, --size N       pair and pair-rt only at this kmalloc size class\n"
		"  -n, --iters N      pairs per timed batch (default %llu; burst64: whole rounds)\n"
		"  -b, --batches N    timed batches; the median is reported (default %llu)\n"
		"  -w, --warmup N     untimed pairs before each test (default %llu)\n"
		"  -o, --objects N    objects per handoff repetition, pairs per thread of the\n"
		"                     threads test (default %llu)\n"
		"  -r, --reps N       handoff and threads repetitions; the median is reported\n"
		"                     (default %llu)\n"
		"  -c, --cpus A,B     CPUs for the first and second thread (default 0,1)\n"
		"  -T, --threads N    threads of the threads test, all on the two CPUs (default %u)\n"
		"      --mem-objects N  memory test: objects live at the peak (default %llu)\n"
		"      --mem-size N     memory test: object size (default %llu)\n"
		"      --mem-delay-ms N memory test: wait after the frees before the last look\n"
		"                       (default %llu)\n"
		"      --mem-cmd CMD    memory test: shell command run at each look, with\n"
		"                       KBENCH_PHASE=start|peak|freed|later\n"
		"  -a, --name NAME    allocator label in the output (default %s)\n"
#ifdef KBENCH_SLABD
		"  -S, --socket PATH  slabd's socket (default $SLABD_SOCKET, else the system one)\n"
		"      --fake-cpu N   valgrind only (no rseq there): write N into this thread's\n"
		"                     rseq area so that the fast paths run; single-threaded tests\n"
#endif
		"  -h, --help         this text\n",
		(unsigned long long)opt.iters, (unsigned long long)opt.batches,
		(unsigned long long)opt.warmup, (unsigned long long)opt.objects,
		(unsigned long long)opt.reps, opt.threads, (unsigned long long)opt.mem_objects,
		(unsigned long long)opt.mem_size, (unsigned long long)opt.mem_delay_ms, KB_DEFAULT_NAME);
}

static uint64_t parse_count(const char *s, const char *what)
{
	return bench_parse_count("kbench", s, what);
}

static unsigned int parse_tests(char *list)
{
	static const struct bench_test_name names[] = {
		{ "pair", TEST_PAIR },       { "pair-rt", TEST_PAIR_RT },
		{ "burst64", TEST_BURST },   { "handoff", TEST_HANDOFF },
		{ "live", TEST_LIVE },       { "threads", TEST_THREADS },
		{ "memory", TEST_MEMORY },   { "handoff-cg", TEST_HANDOFF_CG },
		{ "all", TEST_PAIR | TEST_PAIR_RT | TEST_BURST | TEST_HANDOFF | TEST_LIVE | TEST_THREADS },
	};
	return bench_parse_tests("kbench", list, names, sizeof(names) / sizeof(names[0]));
}

static void parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "test", required_argument, NULL, 't' },
		{ "size", required_argument, NULL, 's' },
		{ "iters", required_argument, NULL, 'n' },
		{ "batches", required_argument, NULL, 'b' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "objects", required_argument, NULL, 'o' },
		{ "reps", required_argument, NULL, 'r' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "name", required_argument, NULL, 'a' },
		{ "socket", required_argument, NULL, 'S' },
		{ "threads", required_argument, NULL, 'T' },
		{ "mem-objects", required_argument, NULL, 1 },
		{ "mem-size", required_argument, NULL, 2 },
		{ "mem-delay-ms", required_argument, NULL, 3 },
		{ "mem-cmd", required_argument, NULL, 4 },
		{ "fake-cpu", required_argument, NULL, 5 },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	size_t i;
	int c;

	while ((c = getopt_long(argc, argv, "t:s:n:b:w:o:r:c:a:S:T:h", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			opt.tests = parse_tests(optarg);
			break;
		case 's':
			opt.only_size = parse_count(optarg, "--size");
			for (i = 0; i < NR_CLASSES; i++)
				if (size_classes[i].size == opt.only_size)
					break;
			if (i == NR_CLASSES) {
				fprintf(stderr, "kbench: --size %s is not a kmalloc size class\n",
					optarg);
				exit(2);
			}
			break;
		case 'n':
			opt.iters = parse_count(optarg, "--iters");
			break;
		case 'b':
			opt.batches = parse_count(optarg, "--batches");
			break;
		case 'w':
			opt.warmup = parse_count(optarg, "--warmup");
			break;
		case 'o':
			opt.objects = parse_count(optarg, "--objects");
			break;
		case 'r':
			opt.reps = parse_count(optarg, "--reps");
			break;
		case 'c':
			if (sscanf(optarg, "%d,%d", &opt.cpu[0], &opt.cpu[1]) != 2 ||
			    opt.cpu[0] < 0 || opt.cpu[0] >= CPU_SETSIZE || opt.cpu[1] < 0 ||
			    opt.cpu[1] >= CPU_SETSIZE) {
				fprintf(stderr, "kbench: --cpus: expected A,B, got '%s'\n", optarg);
				exit(2);
			}
			break;
		case 'a':
			opt.name = optarg;
			break;
		case 'S':
			opt.socket = optarg;
			break;
		case 'T':
			opt.threads = (unsigned int)parse_count(optarg, "--threads");
			if (opt.threads < 1 || opt.threads > 1024) {
				fprintf(stderr, "kbench: --threads: 1 to 1024\n");
				exit(2);
			}
			break;
		case 1:
			opt.mem_objects = parse_count(optarg, "--mem-objects");
			break;
		case 2:
			opt.mem_size = parse_count(optarg, "--mem-size");
			if (opt.mem_size < 1 || opt.mem_size > 32768) {
				fprintf(stderr, "kbench: --mem-size: 1 to 32768\n");
				exit(2);
			}
			break;
		case 3:
			opt.mem_delay_ms = parse_count(optarg, "--mem-delay-ms");
			break;
		case 4:
			opt.mem_cmd = optarg;
			break;
		case 5:
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
	if (optind < argc) {
		fprintf(stderr, "kbench: unexpected argument '%s' (see kbench --help)\n",
			argv[optind]);
		exit(2);
	}
}

#ifdef KBENCH_SLABD
static void attach(void)
{
	static const char *const backing[] = { "?", "shmem-4K", "hugetlb-2M", "hugetlb-1G" };
	struct slabd_attach_info info;
	int r = slabd_connect(opt.socket);

	if (r < 0) {
		fprintf(stderr, "kbench: slabd_connect: %s: %s\n", strerror(-r),
			slabd_last_error());
		exit(1);
	}
	if (slabd_attach_info(&info) == 0)
		printf("# slabd backing %s, %u cpus, %u nodes, mapped at the daemon's base: %s\n",
		       backing[info.backing < 4 ? info.backing : 0], info.nr_cpus, info.nr_nodes,
		       info.at_daemon_base ? "yes" : "no");
}

/*
 * fake_cpu: for counting instructions under valgrind, which implements no rseq (neither
 * glibc nor libslabclient can register an area, so every slabd call would take its
 * no-rseq slow path). Writing a CPU number into the thread's rseq area, which
 * libslabclient still points its sequences at, makes the real fast paths run: valgrind
 * runs one thread at a time and never delivers the preemption an rseq abort stands for.
 * Refused on a thread with real rseq, where the kernel owns these fields.
 */
static void fake_cpu(void)
{
	struct rseq *r = (struct rseq *)((char *)__builtin_thread_pointer() + slabd_fast_v2.rseq_off);

	if (__rseq_size || (int32_t)r->cpu_id >= 0) {
		fprintf(stderr, "kbench: --fake-cpu is for valgrind only: this thread has rseq "
				"(cpu %d)\n", (int32_t)r->cpu_id);
		exit(2);
	}
	r->cpu_id_start = r->cpu_id = (uint32_t)opt.fake_cpu;
	printf("# fake rseq cpu %d (valgrind): the per-CPU fast paths run\n", opt.fake_cpu);
}

/* handoff-cg: see the top of the file. Cycles per object (meaningless under valgrind). */
static double handoff_cg(void)
{
	struct rseq *r = (struct rseq *)((char *)__builtin_thread_pointer() + slabd_fast_v2.rseq_off);
	static void *v[BENCH_RING_SLOTS];
	uint64_t done = 0, t0, i, k;

	if (opt.fake_cpu < 0) {
		fprintf(stderr, "kbench: handoff-cg needs --fake-cpu (valgrind)\n");
		exit(2);
	}
	t0 = tsc_read();
	while (done < opt.objects) {
		k = opt.objects - done < BENCH_RING_SLOTS ? opt.objects - done : BENCH_RING_SLOTS;
		for (i = 0; i < k; i++) {
			v[i] = KB_ALLOC(64);
			check(v[i], 64);
		}
		r->cpu_id_start = r->cpu_id = (uint32_t)opt.fake_cpu + 1;
		for (i = 0; i < k; i++)
			KB_FREE(v[i]);
		r->cpu_id_start = r->cpu_id = (uint32_t)opt.fake_cpu;
		done += k;
	}
	return opt.objects ? (double)(tsc_read() - t0) / (double)opt.objects : 0;
}
#else
static void fake_cpu(void)
{
}

static double handoff_cg(void)
{
	fprintf(stderr, "kbench: handoff-cg is kbench-slabd's only\n");
	exit(2);
}
#endif

int main(int argc, char **argv)
{
	size_t i;

	parse_args(argc, argv);
#ifdef KBENCH_SLABD
	attach();
#endif
	/* Whether glibc registered rseq for its threads (and with what size) decides how
	 * libslabclient finds its rseq area; without rseq at all (valgrind, old kernels)
	 * slabd can only use its slow paths. */
	if (__rseq_size)
		printf("# rseq registered by glibc: yes (__rseq_size %u, __rseq_offset %td)\n",
		       __rseq_size, __rseq_offset);
	else
		printf("# rseq registered by glibc: no\n");
	printf("# tsc_mhz %.1f\n", tsc_mhz());
	print_mapped_allocators();
	pin_to("kbench", opt.cpu[0]);
	if (opt.fake_cpu >= 0)
		fake_cpu();
	if (opt.tests & TEST_MEMORY)
		memory_test();

	if (opt.tests & TEST_LIVE)
		live();
	for (i = 0; i < NR_CLASSES; i++) {
		const struct size_class *sc = &size_classes[i];

		if (opt.only_size && sc->size != opt.only_size)
			continue;
		if (opt.tests & TEST_PAIR)
			report("pair", sc->size, measure(batch_pair, sc, 1));
		if (opt.tests & TEST_PAIR_RT)
			report("pair-rt", sc->size, measure(batch_pair_rt, sc, 1));
	}
	if (opt.tests & TEST_BURST) {
		static const struct size_class sc64 = { 64, NULL };

		report("burst64", 64, measure(batch_burst, &sc64, BURST));
	}
	if (opt.tests & TEST_HANDOFF)
		report("handoff", 64, handoff());
	if (opt.tests & TEST_HANDOFF_CG)
		report("handoff-cg", 64, handoff_cg());
	if (opt.tests & TEST_THREADS) {
		char name[32];

		snprintf(name, sizeof(name), "threads%u", opt.threads);
		report(name, 64, threads_test());
	}
	return 0;
}
