/* SPDX-License-Identifier: MIT */
/*
 * xproc.c - cross-process handoff: one process allocates, another frees.
 *
 * A producer process on the first CPU of --cpus allocates 64-B objects and passes them
 * through a single-producer/single-consumer ring in shared memory (an anonymous
 * MAP_SHARED mapping made before fork) to a consumer process on the second CPU, which
 * frees them. Result: TSC from the producer's start to the consumer's last free, divided
 * by --objects; the median of --reps repetitions after one untimed warm-up repetition of
 * --warmup objects. Output: "xproc <allocator> handoff 64 <cycles_per_object>".
 *
 * One source, two programs:
 *   xproc-slabd  (-DXPROC_SLABD) the producer attaches with slabd_connect() and forks the
 *                consumer, which registers itself as a client of its own (libslabclient
 *                does that for a fork()ed child); objects cross as region offsets, each
 *                side adding its own base (both sides map the region at the daemon's base
 *                here, but offsets are what the API promises). kmalloc(64) / kfree().
 *   xproc-dpdk   (-DXPROC_DPDK) the producer is a DPDK primary process with a mempool of
 *                64-B elements (per-lcore cache 256); the consumer, forked before the
 *                primary's EAL starts, attaches as a secondary process
 *                (--proc-type=secondary, same --file-prefix) and looks the mempool up.
 *                rte_mempool_get() / rte_mempool_put(); objects cross as pointers (a
 *                secondary maps DPDK memory at the primary's addresses).
 *
 * The repetitions run in lockstep through two counters in the shared page: the producer
 * resets the ring, bumps "go", and produces; the consumer waits for "go", consumes, writes
 * its end time and bumps "done".
 *
 * xproc-slabd --fake-cpu N (valgrind only, for instruction counts as kbench's handoff-cg):
 * the producer writes CPU N into its rseq area, the consumer N + 1 (valgrind implements no
 * rseq), and they take turns instead of spinning, which callgrind would count: the
 * producer allocates a ring's worth (256), passes the count through a pipe, the consumer
 * frees them and answers through another; --objects in all, no warm-up, no timing. The
 * instructions of both processes ("Collected" of each) over the objects are the cost of a
 * cross-process handoff, plus two pipe writes and reads per 256 objects.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <x86intrin.h>

#include "bench_util.h"

#if defined(XPROC_SLABD) == defined(XPROC_DPDK)
#error "build with exactly one of -DXPROC_SLABD and -DXPROC_DPDK"
#endif

#ifdef XPROC_SLABD
#include <sys/rseq.h>

#include <slabd/slabd.h>
#define XP_NAME "slabd"
#else
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mempool.h>

#include "eal_util.h"

#define XP_NAME "dpdk"
#endif

#define RING_SLOTS 256

struct shared {
	_Alignas(64) uint64_t head;
	_Alignas(64) uint64_t tail;
	_Alignas(64) uint64_t slot[RING_SLOTS];
	_Alignas(64) uint64_t go;   /* repetition the producer started (1-based) */
	uint64_t n;                 /* objects of that repetition */
	uint64_t t_start;
	_Alignas(64) uint64_t done; /* repetition the consumer finished */
	uint64_t t_end;
	int consumer_ready;         /* 1: set up; -1: set-up failed */
	int primary_ready;          /* DPDK: 1 the primary's EAL and mempool exist, 2 they failed */
	char why[256];              /* the consumer's error */
	_Alignas(64) volatile uint64_t xline; /* xcpu round trips: the consumer answers */
};

static struct {
	uint64_t objects, reps, warmup;
	int cpu[2];
	const char *socket;
	int fake_cpu; /* >= 0: the --fake-cpu lockstep mode (xproc-slabd under valgrind) */
	int huge;     /* xproc-dpdk --huge: EAL memory in hugepages (-m 64), not --no-huge */
} opt = { .objects = 1000000, .reps = 5, .warmup = 65536, .cpu = { 0, 1 }, .fake_cpu = -1 };

static struct shared *sh;

static void wait_for(const uint64_t *v, uint64_t want)
{
	unsigned int spins = 0;

	while (__atomic_load_n(v, __ATOMIC_ACQUIRE) < want)
		spin_wait(&spins);
}

/* ------------------------------------------------------ the two allocators -- */

#ifdef XPROC_SLABD
static inline uint64_t xp_get(void)
{
	void *p = kmalloc(64, GFP_KERNEL);

	if (!p)
		return UINT64_MAX;
#ifdef SLABD_HAVE_INLINE
	return (uint64_t)((char *)p - slabd_fast_v2.base);
#else
	return slabd_ptr_to_off(p);
#endif
}

static inline void xp_put(uint64_t off)
{
#ifdef SLABD_HAVE_INLINE
	kfree(slabd_fast_v2.base + off);
#else
	kfree(slabd_off_to_ptr(off));
#endif
}

static void producer_setup(char *argv0)
{
	int r = slabd_connect(opt.socket);

	(void)argv0;
	if (r < 0) {
		fprintf(stderr, "xproc: slabd_connect: %s: %s\n", strerror(-r), slabd_last_error());
		exit(1);
	}
}

static int consumer_setup(char *argv0, char *why, size_t len)
{
	void *p;

	(void)argv0;
	/* A fork()ed child of an attached process registers on its first call. */
	p = kmalloc(64, GFP_KERNEL);
	if (!p) {
		snprintf(why, len, "kmalloc in the child: %s", slabd_last_error());
		return -1;
	}
	kfree(p);
	return 0;
}

static void producer_teardown(void)
{
}

/* Write @cpu into this thread's rseq area (see kbench.c's fake_cpu): valgrind only. The
 * consumer (@check 0) inherits the producer's fake number through fork(). */
static void fake_cpu(int cpu, int check)
{
#ifdef SLABD_HAVE_INLINE
	/* the area libslabclient points its sequences at (its own when glibc has none) */
	struct rseq *r =
	    (struct rseq *)((char *)__builtin_thread_pointer() + slabd_fast_v2.rseq_off);

	if (check && (__rseq_size || (int32_t)r->cpu_id >= 0)) {
		fprintf(stderr,
			"xproc: --fake-cpu is for valgrind only: this thread has rseq (cpu %d)\n",
			(int32_t)r->cpu_id);
		exit(2);
	}
	r->cpu_id_start = r->cpu_id = (uint32_t)cpu;
#else
	(void)cpu;
	(void)check;
	fprintf(stderr, "xproc: --fake-cpu needs the inline fast path (<slabd/fast.h>)\n");
	exit(2);
#endif
}

static void xfer(int fd, uint64_t *v, int out)
{
	ssize_t r = out ? write(fd, v, sizeof(*v)) : read(fd, v, sizeof(*v));

	if (r != (ssize_t)sizeof(*v)) {
		fprintf(stderr, "xproc: pipe %s: %s\n", out ? "write" : "read",
			r < 0 ? strerror(errno) : "short");
		exit(1);
	}
}

/* The --fake-cpu mode (see the top of the file). */
static int handoff_cg(void)
{
	int to_c[2], to_p[2], status;
	uint64_t done = 0, k, i;
	pid_t child;

	if (pipe(to_c) || pipe(to_p)) {
		perror("xproc: pipe");
		return 1;
	}
	fake_cpu(opt.fake_cpu, 1);
	fflush(stdout);
	child = fork();
	if (child < 0) {
		perror("xproc: fork");
		return 1;
	}
	if (child == 0) {
		close(to_c[1]);
		close(to_p[0]);
		fake_cpu(opt.fake_cpu + 1, 0);
		for (;;) {
			xfer(to_c[0], &k, 0);
			if (!k)
				_exit(0);
			for (i = 0; i < k; i++)
				xp_put(sh->slot[i]);
			xfer(to_p[1], &k, 1);
		}
	}
	close(to_c[0]);
	close(to_p[1]); /* a consumer that dies is an end of file here, not a hang */
	while (done < opt.objects) {
		k = opt.objects - done < RING_SLOTS ? opt.objects - done : RING_SLOTS;
		for (i = 0; i < k; i++)
			if ((sh->slot[i] = xp_get()) == UINT64_MAX) {
				fprintf(stderr, "xproc: slabd: allocation failed\n");
				exit(1);
			}
		xfer(to_c[1], &k, 1);
		xfer(to_p[0], &k, 0);
		done += k;
	}
	k = 0;
	xfer(to_c[1], &k, 1);
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "xproc: the consumer process failed\n");
		return 1;
	}
	printf("xproc slabd handoff-cg 64 %llu objects\n", (unsigned long long)opt.objects);
	return 0;
}
#else
static struct rte_mempool *pool;
static char prefix[64];

static int eal_start(char *argv0, const char *type, int cpu)
{
	char lcore[16], ptype[32], *eal[16];
	int n = 0;

	snprintf(lcore, sizeof(lcore), "%d", cpu);
	snprintf(ptype, sizeof(ptype), "--proc-type=%s", type);
	eal[n++] = argv0;
	if (opt.huge) {
		/* a secondary needs the primary's hugepage_data: --no-huge has none */
		eal[n++] = "-m";
		eal[n++] = "64";
	} else {
		eal[n++] = "--no-huge";
	}
	eal[n++] = "--no-pci";
	eal[n++] = "--no-telemetry";
	eal[n++] = "-l";
	eal[n++] = lcore;
	eal[n++] = "--file-prefix";
	eal[n++] = prefix;
	eal[n++] = ptype;
	eal[n++] = "--log-level=lib.eal:error";
	eal[n] = NULL;
	/* the primary removes the runtime directory they share, after the secondary ended */
	if (!strcmp(type, "primary"))
		return eal_init_owned("xproc", n, eal, prefix);
	return rte_eal_init(n, eal);
}

static inline uint64_t xp_get(void)
{
	void *obj;

	return rte_mempool_get(pool, &obj) ? UINT64_MAX : (uint64_t)(uintptr_t)obj;
}

static inline void xp_put(uint64_t v)
{
	rte_mempool_put(pool, (void *)(uintptr_t)v);
}

static void producer_setup(char *argv0)
{
	if (eal_start(argv0, "primary", opt.cpu[0]) < 0) {
		fprintf(stderr, "xproc: rte_eal_init (primary): %s\n", rte_strerror(rte_errno));
		__atomic_store_n(&sh->primary_ready, 2, __ATOMIC_RELEASE); /* the consumer gives up */
		exit(1);
	}
	pool = rte_mempool_create("xproc-64", 65535, 64, 256, 0, NULL, NULL, NULL, NULL, (int)rte_socket_id(), 0);
	if (!pool) {
		fprintf(stderr, "xproc: rte_mempool_create: %s\n", rte_strerror(rte_errno));
		__atomic_store_n(&sh->primary_ready, 2, __ATOMIC_RELEASE);
		exit(1);
	}
	__atomic_store_n(&sh->primary_ready, 1, __ATOMIC_RELEASE);
}

static int consumer_setup(char *argv0, char *why, size_t len)
{
	unsigned int spins = 0;

	while (!__atomic_load_n(&sh->primary_ready, __ATOMIC_ACQUIRE))
		spin_wait(&spins);
	if (__atomic_load_n(&sh->primary_ready, __ATOMIC_ACQUIRE) != 1) {
		snprintf(why, len, "the primary process failed to set up");
		return -1;
	}
	if (eal_start(argv0, "secondary", opt.cpu[1]) < 0) {
		snprintf(why, len, "rte_eal_init --proc-type=secondary %s: %s", opt.huge ? "-m 64" : "--no-huge",
			 rte_strerror(rte_errno));
		return -1;
	}
	pool = rte_mempool_lookup("xproc-64");
	if (!pool) {
		snprintf(why, len, "rte_mempool_lookup in the secondary: %s", rte_strerror(rte_errno));
		return -1;
	}
	return 0;
}

static void producer_teardown(void)
{
	rte_mempool_free(pool);
	eal_end(); /* and the shared runtime directory, with the secondary's socket in it */
}
#endif

/* ---------------------------------------------------------------- the two sides -- */

static void consumer(char *argv0)
{
	uint64_t rep;

	pin_to("xproc", opt.cpu[1]);
	if (consumer_setup(argv0, sh->why, sizeof(sh->why)) < 0) {
		__atomic_store_n(&sh->consumer_ready, -1, __ATOMIC_RELEASE);
		_exit(1);
	}
	__atomic_store_n(&sh->consumer_ready, 1, __ATOMIC_RELEASE);
	for (rep = 1;; rep++) {
		uint64_t head = 0, tail = 0, n;
		unsigned int spins = 0;

		/* waiting for the repetition (go = reps + 2: no more), answer the producer's
		 * xcpu pings */
		while (__atomic_load_n(&sh->go, __ATOMIC_ACQUIRE) < rep)
			if (xcpu_answer(&sh->xline))
				spins = 0;
			else
				spin_wait(&spins);
		if (rep > opt.reps + 1)
			break;
		n = sh->n;
		while (tail < n) {
			uint64_t v;

			ring_wait_item(&sh->head, &head, tail, &spins);
			v = sh->slot[tail % RING_SLOTS];
			__atomic_store_n(&sh->tail, ++tail, __ATOMIC_RELEASE);
			xp_put(v);
		}
		sh->t_end = tsc_read();
		__atomic_store_n(&sh->done, rep, __ATOMIC_RELEASE);
	}
	_exit(0);
}

/* The cross-CPU round trip (bench_util.h, xcpu_rtt) between the two processes: the
 * consumer answers while it waits for a repetition; the median of 5 runs. */
static double xproc_xcpu(void)
{
	double v[5];
	unsigned int r;

	for (r = 0; r < 5; r++) {
		sh->xline = 0;
		v[r] = xcpu_trips(&sh->xline);
	}
	sh->xline = 0;
	return median(v, 5);
}

static double produce(uint64_t rep, uint64_t n)
{
	uint64_t head = 0, tail = 0, i;
	unsigned int spins = 0;

	sh->head = sh->tail = 0;
	sh->n = n;
	sh->t_start = tsc_read();
	__atomic_store_n(&sh->go, rep, __ATOMIC_RELEASE);
	for (i = 0; i < n; i++) {
		uint64_t v = xp_get();

		if (v == UINT64_MAX) {
			fprintf(stderr, "xproc: %s: allocation failed\n", XP_NAME);
			exit(1);
		}
		ring_wait_room(&sh->tail, head, &tail, RING_SLOTS, &spins);
		sh->slot[head % RING_SLOTS] = v;
		__atomic_store_n(&sh->head, ++head, __ATOMIC_RELEASE);
	}
	wait_for(&sh->done, rep);
	return n ? (double)(sh->t_end - sh->t_start) / (double)n : 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: xproc-%s [OPTIONS]\n"
		"Cross-process handoff (see the header of bench/xproc.c).\n\n"
		"  -o, --objects N    objects per repetition (default %llu)\n"
		"  -r, --reps N       repetitions; the median is reported (default %llu)\n"
		"  -w, --warmup N     objects of the untimed first repetition (default %llu)\n"
		"  -c, --cpus A,B     CPUs of the producer and the consumer (default 0,1)\n"
#ifdef XPROC_SLABD
		"  -S, --socket PATH  slabd's socket (default $SLABD_SOCKET, else the system one)\n"
		"  -f, --fake-cpu N   valgrind only: producer as CPU N, consumer as N + 1, in turns,\n"
		"                     for callgrind (see the top of bench/xproc.c)\n"
#else
		"  -H, --huge         EAL memory in hugepages (-m 64: 32 free 2 MiB pages), instead of\n"
		"                     --no-huge, whose memory a secondary process cannot attach to\n"
#endif
		"  -h, --help         this text\n",
		XP_NAME, (unsigned long long)opt.objects, (unsigned long long)opt.reps,
		(unsigned long long)opt.warmup);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "objects", required_argument, NULL, 'o' }, { "reps", required_argument, NULL, 'r' },
		{ "warmup", required_argument, NULL, 'w' },  { "cpus", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 'S' },  { "help", no_argument, NULL, 'h' },
		{ "fake-cpu", required_argument, NULL, 'f' }, { "huge", no_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	double *v;
	uint64_t rep;
	pid_t child;
	int c, status;

	while ((c = getopt_long(argc, argv, "o:r:w:c:S:f:Hh", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			opt.objects = bench_parse_count("xproc", optarg, "--objects");
			break;
		case 'r':
			opt.reps = bench_parse_count("xproc", optarg, "--reps");
			break;
		case 'w':
			opt.warmup = bench_parse_count("xproc", optarg, "--warmup");
			break;
		case 'c':
			if (sscanf(optarg, "%d,%d", &opt.cpu[0], &opt.cpu[1]) != 2 || opt.cpu[0] < 0 ||
			    opt.cpu[0] >= CPU_SETSIZE || opt.cpu[1] < 0 || opt.cpu[1] >= CPU_SETSIZE) {
				fprintf(stderr, "xproc: --cpus: expected A,B, got '%s'\n", optarg);
				exit(2);
			}
			break;
		case 'S':
			opt.socket = optarg;
			break;
		case 'f':
#ifdef XPROC_SLABD
			opt.fake_cpu = (int)bench_parse_count("xproc", optarg, "--fake-cpu");
			break;
#else
			fprintf(stderr, "xproc: --fake-cpu is xproc-slabd's only\n");
			exit(2);
#endif
		case 'H':
#ifdef XPROC_SLABD
			fprintf(stderr, "xproc: --huge is xproc-dpdk's only (slabd's daemon decides its pages)\n");
			exit(2);
#else
			opt.huge = 1;
			break;
#endif
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc || !opt.reps) {
		fprintf(stderr, "xproc: unexpected argument or --reps 0 (see --help)\n");
		exit(2);
	}
	v = calloc(opt.reps, sizeof(*v));
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!v || sh == MAP_FAILED) {
		fprintf(stderr, "xproc: out of memory\n");
		exit(1);
	}
#ifdef XPROC_SLABD
	producer_setup(argv[0]); /* the child inherits the attachment and registers itself */
	if (opt.fake_cpu >= 0)
		return handoff_cg();
#else
	snprintf(prefix, sizeof(prefix), "xproc-%d", (int)getpid());
#endif
	fflush(stdout);
	child = fork();
	if (child < 0) {
		perror("xproc: fork");
		exit(1);
	}
	if (child == 0)
		consumer(argv[0]);
#ifdef XPROC_DPDK
	producer_setup(argv[0]); /* the EAL starts after the fork: DPDK processes may not fork */
#endif
	pin_to("xproc", opt.cpu[0]);
	{
		unsigned int spins = 0;

		while (!__atomic_load_n(&sh->consumer_ready, __ATOMIC_ACQUIRE)) {
			if (waitpid(child, &status, WNOHANG) == child) {
				fprintf(stderr, "xproc: %s: the consumer process exited during set-up%s%s\n", XP_NAME,
					sh->why[0] ? ": " : "", sh->why);
				exit(1);
			}
			spin_wait(&spins);
		}
		if (sh->consumer_ready < 0) {
			fprintf(stderr, "xproc: %s: consumer set-up failed: %s\n", XP_NAME, sh->why);
			waitpid(child, &status, 0);
			producer_teardown();
			exit(1);
		}
	}
	printf("# xproc %s: producer pid %d on CPU %d, consumer pid %d on CPU %d, tsc_mhz %.1f\n", XP_NAME,
	       (int)getpid(), opt.cpu[0], (int)child, opt.cpu[1], tsc_mhz());
	produce(1, opt.warmup);
	for (rep = 0; rep < opt.reps; rep++) {
		double x0 = xproc_xcpu(), x1;

		v[rep] = produce(rep + 2, opt.objects);
		x1 = xproc_xcpu();
		printf("xproc %s handoff-rep 64 %.2f %.1f %.1f %.1f\n", XP_NAME, v[rep], (x0 + x1) / 2, x0, x1);
	}
	__atomic_store_n(&sh->go, opt.reps + 2, __ATOMIC_RELEASE); /* the consumer may leave */
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "xproc: the consumer process failed\n");
		exit(1);
	}
	printf("xproc %s handoff 64 %.2f\n", XP_NAME, median(v, opt.reps));
	producer_teardown();
	free(v);
	munmap(sh, sizeof(*sh));
	return 0;
}
