/* SPDX-License-Identifier: MIT */
/*
 * pktbench.c - packet buffers: slabd's slabd_pktbuf_* against DPDK's rte_pktmbuf_*.
 *
 * One source, two programs:
 *   pktbench-slabd (-DPKT_SLABD) attaches to slabd and creates the pool "pktbench" of
 *                  8191 buffers of 2048 bytes after a 128-byte headroom;
 *   pktbench-dpdk  (-DPKT_DPDK) starts DPDK's EAL without hugepages and without PCI and
 *                  creates the same pool with rte_pktmbuf_pool_create (per-lcore cache
 *                  of 256, RTE_MBUF_DEFAULT_BUF_SIZE).
 *
 * Tests, single-threaded, pinned to --cpu (result: median over --batches batches of TSC
 * cycles per buffer, one allocation plus one free):
 *   single  n alloc calls, then n free calls (n = 1, 32);
 *   bulk    one alloc_bulk and one free_bulk of n (n = 8, 32, a compile-time constant).
 * With --pipe: a producer allocates bursts of 32, writes 64 bytes into each and passes
 * them through a single-producer single-consumer ring to a consumer that checks and
 * frees them in bursts: slabd with two processes (fork, a ring in a shared mapping, region
 * offsets), DPDK with two lcores (rte_ring SP/SC, pointers). Results (TSC cycles per
 * packet, best of --pipe-runs): "pipe", the median over intervals of PIPE_IV packets after
 * a warm-up, and "pipe-run", the whole timed part (see pipe_result).
 *
 * Output: '#' comments; results as "pktbench <allocator> <test> <n> <value>".
 *
 * Instruction counts (pkt.sh --callgrind): --only TEST:N runs one test, --objects and
 * --warmup set its size, --batches 1; slabd under valgrind (which implements no rseq)
 * needs --fake-cpu N to run its real fast paths (see kbench.c's fake_cpu()).
 * --only xfer:32 (under callgrind only) is the pipeline's allocator work without its
 * second thread: one thread allocates a burst of 32 as CPU (lcore) 0, writes them, then
 * checks them and frees them as a variable-count bulk as CPU (lcore) 1, switching by
 * writing the rseq area's cpu_id (slabd, --fake-cpu) or DPDK's per-thread lcore id: so
 * buffers go from the freeing CPU's cache back to the allocating one's through the depot
 * (slabd) or the mempool's ring (DPDK), as in the pipeline.
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
#include <sys/mman.h>
#include <sys/rseq.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"

#if defined(PKT_SLABD) == defined(PKT_DPDK)
#error "build with exactly one of -DPKT_SLABD and -DPKT_DPDK"
#endif

#ifdef PKT_SLABD
#include <slabd/pktbuf.h>
#define NAME "slabd"
typedef struct slabd_pktbuf buf_t;
static struct slabd_pktpool *pool;
#define pb_alloc() slabd_pktbuf_alloc(pool)
#define pb_free(m) slabd_pktbuf_free(m)
#define pb_alloc_bulk(v, n) slabd_pktbuf_alloc_bulk(pool, v, n)
#define pb_free_bulk(v, n) slabd_pktbuf_free_bulk(v, n)
#define pb_append(m, n) slabd_pktbuf_append(m, n)
#define pb_mtod(m) slabd_pktbuf_mtod(m, unsigned char *)
#else
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_version.h>

#include "eal_util.h"

#define NAME "dpdk"
typedef struct rte_mbuf buf_t;
static struct rte_mempool *pool;
#define pb_alloc() rte_pktmbuf_alloc(pool)
#define pb_free(m) rte_pktmbuf_free(m)
#define pb_alloc_bulk(v, n) rte_pktmbuf_alloc_bulk(pool, v, n)
#define pb_free_bulk(v, n) rte_pktmbuf_free_bulk(v, n)
#define pb_append(m, n) rte_pktmbuf_append(m, n)
#define pb_mtod(m) rte_pktmbuf_mtod(m, unsigned char *)
#endif

static void fill(buf_t *m, uint64_t seq);
static int verify(buf_t *m, uint64_t seq);

#define POOL_N 8191
#define DATA_ROOM 2048
#define MAX_N 64
#define BURST 32
#define PKT 64

static struct {
	uint64_t objects, batches, warmup, pipe;
	unsigned int pipe_runs;
	int cpu, cpu2, fake_cpu;
	const char *socket, *only;
} opt = { .objects = 1024, .batches = 301, .warmup = 65536, .pipe = 0, .pipe_runs = 3, .cpu = 0, .cpu2 = 1,
	  .fake_cpu = -1 };

static __attribute__((noreturn, cold)) void die(const char *what)
{
	fprintf(stderr, "pktbench: %s: %s failed\n", NAME, what);
	exit(1);
}

static __attribute__((noinline)) uint64_t single(unsigned int n, uint64_t reps)
{
	buf_t *v[MAX_N];
	uint64_t r, t0 = tsc_read();
	unsigned int i;

	for (r = 0; r < reps; r++) {
		for (i = 0; i < n; i++)
			if (__builtin_expect(!(v[i] = pb_alloc()), 0))
				die("alloc");
		sink(v);
		for (i = 0; i < n; i++)
			pb_free(v[i]);
	}
	return tsc_read() - t0;
}

#define DEFINE_BULK(cnt)                                                                           \
	static __attribute__((noinline)) uint64_t bulk_##cnt(unsigned int n, uint64_t reps)        \
	{                                                                                          \
		buf_t *v[cnt];                                                                     \
		uint64_t r, t0 = tsc_read();                                                       \
		(void)n;                                                                           \
		for (r = 0; r < reps; r++) {                                                       \
			if (__builtin_expect(pb_alloc_bulk(v, cnt) != 0, 0))                       \
				die("alloc_bulk");                                                 \
			sink(v);                                                                   \
			pb_free_bulk(v, cnt);                                                      \
		}                                                                                  \
		return tsc_read() - t0;                                                            \
	}
DEFINE_BULK(8)
DEFINE_BULK(32)

/* Act as CPU (lcore) @c: valgrind only for slabd (see the top comment). */
static void become_cpu(int c)
{
#ifdef PKT_SLABD
	if (opt.fake_cpu >= 0) {
		struct rseq *rs = (struct rseq *)((char *)__builtin_thread_pointer() + slabd_fast_v2.rseq_off);
		rs->cpu_id_start = rs->cpu_id = (uint32_t)c;
	}
#else
	RTE_PER_LCORE(_lcore_id) = (unsigned int)c;
#endif
}

static __attribute__((noinline)) uint64_t xfer(unsigned int n, uint64_t reps)
{
	volatile unsigned int vn = n; /* the consumer's count is not a constant */
	uint64_t r, t0 = tsc_read(), bad = 0;
	buf_t *v[BURST];
	unsigned int i;

	for (r = 0; r < reps; r++) {
		become_cpu(opt.cpu);
		if (__builtin_expect(pb_alloc_bulk(v, BURST) != 0, 0))
			die("alloc_bulk (xfer)");
		for (i = 0; i < BURST; i++)
			fill(v[i], r * BURST + i);
		become_cpu(opt.cpu2);
		for (i = 0; i < BURST; i++)
			bad += !verify(v[i], r * BURST + i);
		pb_free_bulk(v, vn);
	}
	become_cpu(opt.cpu);
	if (bad)
		die("xfer: a packet changed");
	return tsc_read() - t0;
}

static double measure(uint64_t (*fn)(unsigned int, uint64_t), unsigned int n)
{
	uint64_t reps = (opt.objects + n - 1) / n, b;
	double *v = calloc(opt.batches, sizeof(*v)), m;

	if (!v)
		die("calloc");
	fn(n, (opt.warmup + n - 1) / n);
	for (b = 0; b < opt.batches; b++)
		v[b] = reps ? (double)fn(n, reps) / (double)(reps * n) : 0;
	m = median(v, opt.batches);
	free(v);
	return m;
}

/* Untimed: each call hands out distinct, reset, writable buffers. */
static void check(void)
{
	buf_t *a[MAX_N], *b[MAX_N];
	unsigned int i, j, r;

	for (r = 0; r < 200; r++) {
		if (pb_alloc_bulk(a, 32) != 0)
			die("alloc_bulk (check)");
		for (i = 0; i < 32; i++) {
			b[i] = pb_alloc();
			if (!b[i] || b[i]->data_len || b[i]->pkt_len || b[i]->nb_segs != 1)
				die("alloc (check): not a reset buffer");
			memset(pb_append(b[i], PKT), (int)r, PKT);
		}
		for (i = 0; i < 32; i++)
			for (j = 0; j < 32; j++)
				if (a[i] == b[j] || (i != j && (a[i] == a[j] || b[i] == b[j])))
					die("check: a buffer handed out twice");
		pb_free_bulk(b, 32);
		for (i = 0; i < 32; i++)
			pb_free(a[i]);
	}
	printf("# check: 200 rounds of 32 bulk + 32 single allocations, distinct and reset: ok\n");
}

/* ------------------------------------------------------------- pipeline -- */

static void fill(buf_t *m, uint64_t seq)
{
	unsigned char *d = (unsigned char *)pb_append(m, PKT);

	memcpy(d, &seq, 8);
	d[PKT - 1] = (unsigned char)seq;
}

static int verify(buf_t *m, uint64_t seq)
{
	const unsigned char *d = pb_mtod(m);
	uint64_t s;

	memcpy(&s, d, 8);
	return s == seq && d[PKT - 1] == (unsigned char)seq && m->data_len == PKT;
}

/*
 * The timing, the same for both: the consumer (process or lcore) is started and the
 * pipeline runs PIPE_WARM packets untimed (the consumer's first touches of the pool: page
 * faults in a forked process, cold caches); then the producer stamps the TSC every
 * PIPE_IV packets. "pipe" is the median over those intervals of cycles per packet (in
 * steady state the producer waits for ring space, so its rate is the pipeline's): an
 * interval in which the hypervisor or another process took a vCPU counts as one of many,
 * not into the whole. "pipe-run" is the whole timed part, from the first stamp until the
 * consumer freed the last packet. Starting and stopping the consumer (fork, exit, lcore
 * launch and join) is in neither. Both sides pause in their spin loops.
 */
#define PIPE_WARM 262144u
#define PIPE_IV 16384u
_Static_assert(PIPE_WARM % PIPE_IV == 0 && PIPE_IV % BURST == 0, "stamps fall on burst boundaries");

struct pipe_result {
	double median, whole;
};

static struct pipe_result pipe_result(uint64_t *stamps, unsigned int k, uint64_t t_end, uint64_t total)
{
	struct pipe_result res = { 0, (double)(t_end - stamps[0]) / (double)total };
	double *v = calloc(k ? k : 1, sizeof(*v));
	unsigned int i;

	if (!v)
		die("calloc");
	for (i = 0; i + 1 < k; i++)
		v[i] = (double)(stamps[i + 1] - stamps[i]) / PIPE_IV;
	res.median = k > 1 ? median(v, k - 1) : res.whole;
	if (k > 1) /* sorted by median(): is a run bimodal in itself, or only against others? */
		printf("# pipe intervals: %u, cycles per packet min %.1f p10 %.1f p50 %.1f p90 %.1f max %.1f; "
		       "whole %.1f\n",
		       k - 1, v[0], v[(k - 1) / 10], res.median, v[(k - 1) * 9 / 10], v[k - 2], res.whole);
	free(v);
	return res;
}

#ifdef PKT_SLABD
#define RING 1024u
struct ring {
	_Alignas(64) uint64_t head;
	_Alignas(64) uint64_t tail;
	_Alignas(64) uint64_t slot[RING];
	_Alignas(64) uint64_t bad;
	_Alignas(64) uint64_t done; /* the consumer's last free_bulk returned */
};

static void consume(struct ring *r, uint64_t total)
{
	uint64_t seen = 0, head = 0;
	buf_t *v[BURST];

	pin_to("pktbench", opt.cpu2);
	while (seen < total) {
		uint64_t t = r->tail, n, i;

		if (head == t) {
			head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
			if (head == t)
				_mm_pause();
		}
		n = head - t < BURST ? head - t : BURST;
		for (i = 0; i < n; i++) {
			v[i] = slabd_off_to_ptr(r->slot[(t + i) & (RING - 1)]);
			r->bad += !verify(v[i], seen + i);
		}
		__atomic_store_n(&r->tail, t + n, __ATOMIC_RELEASE);
		pb_free_bulk(v, (unsigned int)n);
		seen += n;
	}
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
}

static struct pipe_result pipe_once(uint64_t total)
{
	struct ring *r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t all = PIPE_WARM + total, seq = 0, tail = 0, t_end, *stamps;
	unsigned int k = 0;
	int status;
	pid_t pid;

	stamps = calloc(total / PIPE_IV + 2, sizeof(*stamps));
	if (r == MAP_FAILED || !stamps)
		die("mmap");
	pid = fork();
	if (pid == 0) {
		consume(r, all);
		_exit(r->bad ? 3 : 0);
	}
	while (seq < all) {
		buf_t *v[BURST];
		uint64_t h = r->head, i;

		while (h + BURST - tail > RING) {
			tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
			if (h + BURST - tail > RING)
				_mm_pause();
		}
		if (pb_alloc_bulk(v, BURST) != 0)
			continue;
		for (i = 0; i < BURST; i++) {
			fill(v[i], seq + i);
			r->slot[(h + i) & (RING - 1)] = slabd_ptr_to_off(v[i]);
		}
		__atomic_store_n(&r->head, h + BURST, __ATOMIC_RELEASE);
		seq += BURST;
		if (seq >= PIPE_WARM && (seq - PIPE_WARM) % PIPE_IV == 0)
			stamps[k++] = tsc_read();
	}
	while (!__atomic_load_n(&r->done, __ATOMIC_ACQUIRE))
		_mm_pause();
	t_end = tsc_read();
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		die("pipeline consumer (bad packets or crash)");
	munmap(r, sizeof(*r));
	{
		struct pipe_result res = pipe_result(stamps, k, t_end, total);

		free(stamps);
		return res;
	}
}
#else
static struct rte_ring *ring;
static volatile uint64_t pipe_bad, pipe_done;

static int consume(void *arg)
{
	uint64_t total = *(uint64_t *)arg, seen = 0;
	buf_t *v[BURST];

	while (seen < total) {
		unsigned int n = rte_ring_sc_dequeue_burst(ring, (void **)v, BURST, NULL), i;

		if (!n) {
			rte_pause();
			continue;
		}
		for (i = 0; i < n; i++)
			pipe_bad += !verify(v[i], seen + i);
		rte_pktmbuf_free_bulk(v, n);
		seen += n;
	}
	__atomic_store_n(&pipe_done, seen, __ATOMIC_RELEASE);
	return 0;
}

static struct pipe_result pipe_once(uint64_t total)
{
	unsigned int lcore = rte_get_next_lcore(rte_lcore_id(), 1, 0), k = 0;
	uint64_t all = PIPE_WARM + total, seq = 0, t_end, *stamps;
	struct pipe_result res;

	if (lcore >= RTE_MAX_LCORE)
		die("a second lcore for the pipeline (-l with two CPUs)");
	stamps = calloc(total / PIPE_IV + 2, sizeof(*stamps));
	if (!stamps)
		die("calloc");
	pipe_bad = 0;
	pipe_done = 0;
	rte_eal_remote_launch(consume, &all, lcore);
	while (seq < all) {
		buf_t *v[BURST];
		unsigned int i, sent = 0;

		if (rte_pktmbuf_alloc_bulk(pool, v, BURST) != 0)
			continue;
		for (i = 0; i < BURST; i++)
			fill(v[i], seq + i);
		while (sent < BURST) {
			unsigned int s = rte_ring_sp_enqueue_burst(ring, (void **)v + sent, BURST - sent, NULL);

			if (!s)
				rte_pause();
			sent += s;
		}
		seq += BURST;
		if (seq >= PIPE_WARM && (seq - PIPE_WARM) % PIPE_IV == 0)
			stamps[k++] = tsc_read();
	}
	while (__atomic_load_n(&pipe_done, __ATOMIC_ACQUIRE) != all)
		rte_pause();
	t_end = tsc_read();
	rte_eal_wait_lcore(lcore);
	if (pipe_bad)
		die("pipeline consumer (bad packets)");
	res = pipe_result(stamps, k, t_end, total);
	free(stamps);
	return res;
}
#endif

/* ---------------------------------------------------------------- set-up -- */

#ifdef PKT_SLABD
static void setup(const char *argv0)
{
	int r = slabd_connect(opt.socket);

	(void)argv0;
	if (r < 0) {
		fprintf(stderr, "pktbench: slabd_connect: %s: %s\n", strerror(-r), slabd_last_error());
		exit(1);
	}
	pool = slabd_pktpool_create("pktbench", POOL_N, DATA_ROOM, 0, -1);
	if (!pool) {
		fprintf(stderr, "pktbench: slabd_pktpool_create: %s: %s\n", strerror(errno), slabd_last_error());
		exit(1);
	}
	pin_to("pktbench", opt.cpu);
	if (opt.fake_cpu >= 0) {
		/* valgrind only: see kbench.c's fake_cpu() */
		struct rseq *rs = (struct rseq *)((char *)__builtin_thread_pointer() + slabd_fast_v2.rseq_off);

		if (__rseq_size || (int32_t)rs->cpu_id >= 0) {
			fprintf(stderr, "pktbench: --fake-cpu is for valgrind only: this thread has rseq\n");
			exit(2);
		}
		rs->cpu_id_start = rs->cpu_id = (uint32_t)opt.fake_cpu;
		printf("# fake rseq cpu %d (valgrind): the per-CPU fast paths run\n", opt.fake_cpu);
	}
	printf("# slabd pool of %u buffers, %u + %u bytes, pktbuf calls %s\n", POOL_N, SLABD_PKTBUF_HEADROOM, DATA_ROOM,
#ifdef SLABD_HAVE_INLINE
	       "inline"
#else
	       "in the library"
#endif
	);
}

static void teardown(void)
{
}
#else
static void setup(const char *argv0)
{
	char cpus[32], prefix[64];
	char *eal[16];
	int n = 0;

	snprintf(cpus, sizeof(cpus), "%d,%d", opt.cpu, opt.cpu2);
	snprintf(prefix, sizeof(prefix), "pktbench-%d", (int)getpid());
	eal[n++] = (char *)argv0;
	eal[n++] = "--no-huge";
	eal[n++] = "--no-pci";
	eal[n++] = "--no-shconf";
	eal[n++] = "--no-telemetry";
	eal[n++] = "-m";
	eal[n++] = "256";
	eal[n++] = "-l";
	eal[n++] = cpus;
	eal[n++] = "--file-prefix";
	eal[n++] = prefix;
	eal[n++] = "--log-level=lib.eal:error";
	eal[n] = NULL;
	if (eal_init_owned("pktbench", n, eal, prefix) < 0) {
		fprintf(stderr, "pktbench: rte_eal_init: %s\n", rte_strerror(rte_errno));
		exit(1);
	}
	pool = rte_pktmbuf_pool_create("pktbench", POOL_N, 256, 0, RTE_PKTMBUF_HEADROOM + DATA_ROOM,
				       (int)rte_socket_id());
	ring = rte_ring_create("pktbench", 1024, (int)rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (!pool || !ring) {
		fprintf(stderr, "pktbench: pool or ring: %s\n", rte_strerror(rte_errno));
		exit(1);
	}
	printf("# dpdk %s, EAL --no-huge --no-pci -l %s, mempool ops %s, cache 256, headroom %u\n", rte_version(),
	       cpus, rte_mempool_get_ops(pool->ops_index)->name, RTE_PKTMBUF_HEADROOM);
}

static void teardown(void)
{
	rte_ring_free(ring);
	rte_mempool_free(pool);
	eal_end();
}
#endif

int main(int argc, char **argv)
{
	static const struct option lo[] = { { "socket", 1, 0, 's' }, { "batches", 1, 0, 'b' },
					    { "cpu", 1, 0, 'c' },    { "cpu2", 1, 0, 'C' },
					    { "pipe", 1, 0, 'p' },   { "pipe-runs", 1, 0, 'r' },
					    { "fake-cpu", 1, 0, 'F' }, { "only", 1, 0, 'o' },
					    { "objects", 1, 0, 'n' }, { "warmup", 1, 0, 'w' },
					    { 0, 0, 0, 0 } };
	static const struct {
		const char *name;
		uint64_t (*fn)(unsigned int, uint64_t);
		unsigned int n;
	} tests[] = { { "single:1", single, 1 }, { "single:32", single, 32 }, { "bulk:8", bulk_8, 8 },
		      { "bulk:32", bulk_32, 32 }, { "xfer:32", xfer, BURST } };
	unsigned int k;
	int o;

	while ((o = getopt_long(argc, argv, "s:b:c:C:p:r:", lo, NULL)) != -1) {
		switch (o) {
		case 's': opt.socket = optarg; break;
		case 'b': opt.batches = strtoull(optarg, NULL, 10); break;
		case 'c': opt.cpu = atoi(optarg); break;
		case 'C': opt.cpu2 = atoi(optarg); break;
		case 'p': opt.pipe = strtoull(optarg, NULL, 10) / BURST * BURST; break;
		case 'r': opt.pipe_runs = (unsigned int)atoi(optarg); break;
		case 'F': opt.fake_cpu = atoi(optarg); break;
		case 'o': opt.only = optarg; break;
		case 'n': opt.objects = strtoull(optarg, NULL, 10); break;
		case 'w': opt.warmup = strtoull(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: %s [--socket PATH] [--batches N] [--cpu C] [--cpu2 C2] [--pipe PACKETS] "
				"[--pipe-runs N] [--only single:1|single:32|bulk:8|bulk:32] [--objects N] [--warmup N] "
				"[--fake-cpu N (slabd under valgrind)]\n", argv[0]);
			return 2;
		}
	}
	if (!opt.batches)
		opt.batches = 1;
	setup(argv[0]);
	printf("# TSC %.0f MHz\n", tsc_mhz());
	check();
	for (k = 0; k < sizeof(tests) / sizeof(tests[0]); k++) {
		char name[16];

		if (opt.only ? strcmp(opt.only, tests[k].name) != 0 : tests[k].fn == xfer)
			continue; /* xfer only when asked for (it needs valgrind for slabd) */
		snprintf(name, sizeof(name), "%s", tests[k].name);
		*strchr(name, ':') = ' ';
		printf("pktbench %s %s %.2f\n", NAME, name, measure(tests[k].fn, tests[k].n));
	}
	fflush(stdout);
	if (opt.pipe) {
		struct pipe_result best = { 0, 0 };
		double x0 = xcpu_rtt("pktbench", opt.cpu2), x1;

		for (k = 0; k < opt.pipe_runs; k++) {
			struct pipe_result c = pipe_once(opt.pipe);
			if (!k || c.median < best.median)
				best.median = c.median;
			if (!k || c.whole < best.whole)
				best.whole = c.whole;
		}
		x1 = xcpu_rtt("pktbench", opt.cpu2);
		printf("# xcpu round trip before and after the pipeline: %.0f, %.0f cycles\n", x0, x1);
		printf("pktbench %s pipe %d %.2f\n", NAME, BURST, best.median);
		printf("pktbench %s pipe-run %d %.2f\n", NAME, BURST, best.whole);
		printf("pktbench %s xcpu 1 %.2f\n", NAME, (x0 + x1) / 2);
	}
	teardown();
	return 0;
}
