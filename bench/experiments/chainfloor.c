/* SPDX-License-Identifier: MIT */
/*
 * chainfloor.c - evidence for bench/RESULTS.md (session 8), not a benchmark of the suite:
 * where the cycles of a bulk get + put of one object go (kmem_cache_alloc_bulk(.., 1, p)
 * then kmem_cache_free_bulk(.., 1, p), against rte_mempool_get_bulk/put_bulk of one),
 * with the object passing through the caller's array and the caller's code between the
 * two calls opaque (bench_util.h's sink, a compiler barrier, as any real use of p is).
 * Nothing here talks to slabd: each variant runs on this program's own stacks.
 *
 * Plain C, no rseq, no checks beyond empty/full, one array stack in ordinary memory:
 *   ptr       the stack holds pointers (as DPDK's cache->objs)
 *   off       it holds offsets from a base (as slabd's per-CPU stacks): an add on the way
 *             out and a subtract on the way in
 *   ptr2      as ptr, the get and put alternating between two stacks (each count is
 *             touched once per pair instead of twice: shows whether the count's
 *             store-to-load chain bounds the loop)
 * The same as restartable sequences built from <slabd/fast.h>'s own pieces, on per-CPU
 * stacks of 1 KiB (2 CPUs), the operands in a struct in memory as slabd_fast_v2 is:
 *   rseq      the two sequences alone: no handle or zone check, no prefetch
 *   rseq-pf   plus the pop's prefetch of the next object
 *   rseq-all  plus what the inline kmem_cache_{alloc,free}_bulk of one add: the handle
 *             check on both halves, the stacks loaded from the handle, the free's zone
 *             bound (the same work as bulkbench's bulk 1, as the instruction count shows)
 * Ablations of the sequences' prologue (unsafe: measurement only):
 *   nocs      no rseq descriptor store
 *   nocpu     the descriptor store, no CPU read: always CPU 0's stack
 *   cpu0      the descriptor store, the CPU read and its bound check, then CPU 0's stack
 *             (so cpu0 - nocpu is the read and check, rseq - cpu0 the address from it)
 *
 * Usage: chainfloor [--iters N] [--batches N] [--cpu N]; prints the median TSC cycles per
 * get + put of each variant, the variants interleaved batch by batch.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include "../bench_util.h"
#include <sys/rseq.h>
#include <slabd/fast.h>

#define CAP 256

struct stack {
	uint32_t len;
	uint32_t cap;
	uint64_t objs[CAP];
};

static struct stack st_a, st_b;
/* reached through pointers in memory, as an allocator's cache is; the barrier makes
 * each call load them again */
static struct stack *volatile volatile_a = &st_a, *volatile volatile_b = &st_b;
static char *obase;

#define BB_NOINLINE __attribute__((noinline))

static inline __attribute__((always_inline)) int get_ptr(struct stack *s, void **p)
{
	uint32_t n = s->len;

	if (__builtin_expect(n == 0, 0))
		return -1;
	p[0] = (void *)(uintptr_t)s->objs[n - 1];
	s->len = n - 1;
	return 0;
}

static inline __attribute__((always_inline)) int put_ptr(struct stack *s, void *const *p)
{
	uint32_t n = s->len;

	if (__builtin_expect(n >= s->cap, 0))
		return -1;
	s->objs[n] = (uint64_t)(uintptr_t)p[0];
	s->len = n + 1;
	return 0;
}

static inline __attribute__((always_inline)) int get_off(struct stack *s, void **p)
{
	uint32_t n = s->len;

	if (__builtin_expect(n == 0, 0))
		return -1;
	p[0] = obase + s->objs[n - 1];
	s->len = n - 1;
	return 0;
}

static inline __attribute__((always_inline)) int put_off(struct stack *s, void *const *p)
{
	uint32_t n = s->len;

	if (__builtin_expect(n >= s->cap, 0))
		return -1;
	s->objs[n] = (uint64_t)((char *)p[0] - obase);
	s->len = n + 1;
	return 0;
}

static BB_NOINLINE void fail(void)
{
	fprintf(stderr, "chainfloor: a stack ran dry or overflowed\n");
	exit(1);
}

/* DEFINE_RUN: a timed loop of @reps get + put of one object through p[0], the caller's
 * code between them opaque (sink); every single-stack variant below is one of these. */
#define DEFINE_RUN(name, get, put)                                                                 \
	static BB_NOINLINE uint64_t name(uint64_t reps)                                            \
	{                                                                                          \
		void *p[1];                                                                        \
		uint64_t r, t0 = tsc_read();                                                       \
		for (r = 0; r < reps; r++) {                                                       \
			if (get)                                                                   \
				fail();                                                            \
			sink(p);                                                                   \
			if (put)                                                                   \
				fail();                                                            \
		}                                                                                  \
		return tsc_read() - t0;                                                            \
	}
DEFINE_RUN(run_ptr, get_ptr(volatile_a, p), put_ptr(volatile_a, p))
DEFINE_RUN(run_off, get_off(volatile_a, p), put_off(volatile_a, p))

static BB_NOINLINE uint64_t run_ptr2(uint64_t reps)
{
	void *p[1];
	uint64_t r, t0 = tsc_read();

	/* get from a, put on b, then get from b, put on a: every stack's count is touched
	 * once per call pair instead of twice */
	for (r = 0; r < reps; r += 2) {
		if (get_ptr(volatile_a, p))
			fail();
		sink(p);
		if (put_ptr(volatile_b, p))
			fail();
		if (get_ptr(volatile_b, p))
			fail();
		sink(p);
		if (put_ptr(volatile_a, p))
			fail();
	}
	return tsc_read() - t0;
}

/* ----------------------------------------------------------- with rseq -- */

/* The rseq variants (see the top): the operands as slabd_fast_v2 holds them, handles as
 * struct slabd_fast_handle lays them out. */
struct fake_fast {
	uint32_t ncpus;
	long roff;
	char *base;
	char *handles;
	char *zones;
	uint64_t zones_size;
};
struct fake_handle {
	uint32_t id;
	char *stacks;
};
static struct fake_fast ff;
static struct fake_handle fh_table[64];
static struct fake_handle *volatile fh = &fh_table[3];
static char pcpu_area[2 << 10] __attribute__((aligned(64)));

#define F_HANDLE_OK(h) ((uint64_t)((const char *)(h) - ff.handles) < sizeof(fh_table))

static inline __attribute__((always_inline)) int rs_pop(char *stacks, void **ret, int pf)
{
	char *p;
retry:
	if (pf) {
		__asm__ volatile goto(SLABD_RSEQ_PROLOGUE("") SLABD_RSEQ_POP_BODY SLABD_RSEQ_EPILOGUE
				      "addq %[obase], %[val]\n\t"
				      "movq -8(%%rax,%%rcx,8), %%rdx\n\t"
				      "prefetcht0 (%[obase],%%rdx)\n\t"
				      : [val] "=&r"(p)
				      : [roff] "r"(ff.roff), [ncpus] "rm"(ff.ncpus), [base] "r"(stacks),
					[obase] "r"(ff.base)
				      : "rax", "rcx", "rdx", "memory", "cc"
				      : slow, abort);
		SLABD_ASM_GOTO_OUTPUT_FENCE(); /* see <slabd/fast.h> */
	} else {
		__asm__ volatile goto(SLABD_RSEQ_PROLOGUE("") SLABD_RSEQ_POP_BODY SLABD_RSEQ_EPILOGUE
				      "addq %[obase], %[val]\n\t"
				      : [val] "=&r"(p)
				      : [roff] "r"(ff.roff), [ncpus] "rm"(ff.ncpus), [base] "r"(stacks),
					[obase] "r"(ff.base)
				      : "rax", "rcx", "rdx", "memory", "cc"
				      : slow, abort);
		SLABD_ASM_GOTO_OUTPUT_FENCE();
	}
	*ret = p;
	return 0;
abort:
	goto retry;
slow:
	return -1;
}

static inline __attribute__((always_inline)) int rs_push(char *stacks, const void *p)
{
	uint64_t off = (uint64_t)((const char *)p - ff.base);
retry:
	__asm__ volatile goto(SLABD_RSEQ_PROLOGUE("") SLABD_RSEQ_PUSH_BODY SLABD_RSEQ_EPILOGUE
			      :
			      : [roff] "r"(ff.roff), [ncpus] "rm"(ff.ncpus), [base] "r"(stacks), [off] "r"(off)
			      : "rax", "rcx", "memory", "cc"
			      : slow, abort);
	return 0;
abort:
	goto retry;
slow:
	return -1;
}

/* run_rseq, run_rseq_pf: the sequences alone, without and with the prefetch */
DEFINE_RUN(run_rseq, rs_pop(fh->stacks, &p[0], 0), rs_push(fh->stacks, p[0]))
DEFINE_RUN(run_rseq_pf, rs_pop(fh->stacks, &p[0], 1), rs_push(fh->stacks, p[0]))

static BB_NOINLINE uint64_t run_rseq_all(uint64_t reps)
{
	void *p[1];
	uint64_t r, t0 = tsc_read();

	for (r = 0; r < reps; r++) {
		struct fake_handle *h = fh;

		if (!F_HANDLE_OK(h) || rs_pop(h->stacks, &p[0], 1))
			fail();
		sink(p);
		h = fh;
		if (!F_HANDLE_OK(h) || (uint64_t)((char *)p[0] - ff.zones) >= ff.zones_size ||
		    rs_push(h->stacks, p[0]))
			fail();
	}
	return tsc_read() - t0;
}

/* The ablations (see the top): prologues without parts of SLABD_RSEQ_PROLOGUE. */
#define ABL_PROLOGUE_NOCS                                                                          \
	"movl %%fs:4(%[roff]), %%eax\n\t"                                                          \
	"cmpl %[ncpus], %%eax\n\t"                                                                 \
	"jae %l[slow]\n\t"                                                                         \
	"shlq $10, %%rax\n\t"                                                                      \
	"addq %[base], %%rax\n\t"
#define ABL_PROLOGUE_NOCPU                                                                         \
	".pushsection __rseq_cs, \"aw\"\n\t"                                                       \
	".balign 32\n\t"                                                                           \
	"3:\n\t"                                                                                   \
	".long 0x0, 0x0\n\t"                                                                       \
	".quad 1f, (2f - 1f), 4f\n\t"                                                              \
	".popsection\n\t"                                                                          \
	"leaq 3b(%%rip), %%rax\n\t"                                                                \
	"movq %%rax, %%fs:8(%[roff])\n\t"                                                          \
	"1:\n\t"                                                                                   \
	"movq %[base], %%rax\n\t"
#define ABL_PROLOGUE_CPU0                                                                          \
	".pushsection __rseq_cs, \"aw\"\n\t"                                                       \
	".balign 32\n\t"                                                                           \
	"3:\n\t"                                                                                   \
	".long 0x0, 0x0\n\t"                                                                       \
	".quad 1f, (2f - 1f), 4f\n\t"                                                              \
	".popsection\n\t"                                                                          \
	"leaq 3b(%%rip), %%rax\n\t"                                                                \
	"movq %%rax, %%fs:8(%[roff])\n\t"                                                          \
	"1:\n\t"                                                                                   \
	"movl %%fs:4(%[roff]), %%eax\n\t"                                                          \
	"cmpl %[ncpus], %%eax\n\t"                                                                 \
	"jae %l[slow]\n\t"                                                                         \
	"movq %[base], %%rax\n\t"

#define DEFINE_ABL(name, PRO, EPI)                                                                 \
	static inline __attribute__((always_inline)) int name##_pop(char *stacks, void **ret)      \
	{                                                                                          \
		char *p;                                                                           \
	retry:                                                                                     \
		__asm__ volatile goto(PRO SLABD_RSEQ_POP_BODY EPI "addq %[obase], %[val]\n\t"      \
				      : [val] "=&r"(p)                                             \
				      : [roff] "r"(ff.roff), [ncpus] "rm"(ff.ncpus),               \
					[base] "r"(stacks), [obase] "r"(ff.base)                   \
				      : "rax", "rcx", "rdx", "memory", "cc"                        \
				      : slow, abort);                                              \
		SLABD_ASM_GOTO_OUTPUT_FENCE();                                                     \
		*ret = p;                                                                          \
		return 0;                                                                          \
	abort:                                                                                     \
		goto retry;                                                                        \
	slow:                                                                                      \
		return -1;                                                                         \
	}                                                                                          \
	static inline __attribute__((always_inline)) int name##_push(char *stacks, const void *p)  \
	{                                                                                          \
		uint64_t off = (uint64_t)((const char *)p - ff.base);                              \
	retry:                                                                                     \
		__asm__ volatile goto(PRO SLABD_RSEQ_PUSH_BODY EPI                                 \
				      :                                                            \
				      : [roff] "r"(ff.roff), [ncpus] "rm"(ff.ncpus),               \
					[base] "r"(stacks), [off] "r"(off)                         \
				      : "rax", "rcx", "memory", "cc"                               \
				      : slow, abort);                                              \
		return 0;                                                                          \
	abort:                                                                                     \
		goto retry;                                                                        \
	slow:                                                                                      \
		return -1;                                                                         \
	}                                                                                          \
	DEFINE_RUN(run_##name, name##_pop(fh->stacks, &p[0]), name##_push(fh->stacks, p[0]))
#define ABL_EPI_NONE "2:\n\t"
DEFINE_ABL(nocs, ABL_PROLOGUE_NOCS, ABL_EPI_NONE)
DEFINE_ABL(nocpu, ABL_PROLOGUE_NOCPU, SLABD_RSEQ_EPILOGUE)
DEFINE_ABL(cpu0, ABL_PROLOGUE_CPU0, SLABD_RSEQ_EPILOGUE)

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "iters", required_argument, NULL, 'i' },
					       { "batches", required_argument, NULL, 'b' },
					       { "cpu", required_argument, NULL, 'c' },
					       { NULL, 0, NULL, 0 } };
	#define NV 9
	static const char *const names[NV] = { "ptr", "off", "ptr2", "rseq", "rseq-pf", "rseq-all", "nocs", "nocpu", "cpu0" };
	uint64_t (*const fns[NV])(uint64_t) = { run_ptr, run_off, run_ptr2, run_rseq, run_rseq_pf, run_rseq_all, run_nocs, run_nocpu, run_cpu0 };
	uint64_t iters = 20000;
	unsigned int batches = 301, cpu = 0, i, b, v;
	double *res[NV];
	static char arena[CAP * 64];
	cpu_set_t set;
	int c;

	while ((c = getopt_long(argc, argv, "i:b:c:", opts, NULL)) != -1) {
		if (c == 'i')
			iters = strtoull(optarg, NULL, 0);
		else if (c == 'b')
			batches = (unsigned int)strtoul(optarg, NULL, 0);
		else if (c == 'c')
			cpu = (unsigned int)strtoul(optarg, NULL, 0);
		else
			return 2;
	}
	if (iters < 2 || batches < 1)
		return 2;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		perror("chainfloor: sched_setaffinity (running unpinned)");
	obase = arena;
	/* both stacks half full of distinct objects of the arena */
	for (i = 0; i < CAP / 2; i++) {
		st_a.objs[i] = (uintptr_t)(arena + i * 64);
		st_b.objs[i] = (uintptr_t)(arena + (i + CAP / 2) * 64);
	}
	st_a.len = st_b.len = CAP / 2;
	st_a.cap = st_b.cap = CAP;
	/* the rseq variants: glibc's rseq area, two CPUs' stacks of 64 offsets each */
	if (__rseq_size == 0) {
		fprintf(stderr, "chainfloor: glibc did not register rseq\n");
		return 1;
	}
	ff.ncpus = 2;
	ff.roff = (long)__rseq_offset;
	ff.base = arena;
	ff.handles = (char *)fh_table;
	ff.zones = arena;
	ff.zones_size = sizeof(arena);
	fh_table[3].id = 3;
	fh_table[3].stacks = pcpu_area;
	for (c = 0; c < 2; c++) {
		struct slabd_shm_like {
			uint32_t count, capacity;
			uint64_t slots[127];
		} *ps = (void *)(pcpu_area + ((size_t)c << 10));

		ps->count = 64;
		ps->capacity = 127;
		for (i = 0; i < 64; i++)
			ps->slots[i] = (uint64_t)i * 64;
	}
	for (v = 0; v < NV; v++) {
		res[v] = calloc(batches, sizeof(double));
		if (!res[v])
			return 1;
	}
	for (b = 0; b < batches; b++)
		for (v = 0; v < NV; v++) {
			if (v == 1) /* offsets: the stack holds arena offsets while "off" runs */
				for (i = 0; i < st_a.len; i++)
					st_a.objs[i] -= (uintptr_t)arena;
			res[v][b] = (double)fns[v](iters) / (double)iters;
			if (v == 1)
				for (i = 0; i < st_a.len; i++)
					st_a.objs[i] += (uintptr_t)arena;
		}
	for (v = 0; v < NV; v++)
		printf("chainfloor %s %.2f\n", names[v], median(res[v], batches));
	return 0;
}
