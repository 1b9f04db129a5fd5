/* SPDX-License-Identifier: MIT */
/*
 * fastvar.c - evidence for tuning <slabd/fast.h>, not a benchmark of the suite: cycles and
 * instructions of kmalloc(64)+kfree as <slabd/fast.h> does it, against variants of the
 * kfree half built here from the header's own sequences (slabd_fast_push_to):
 *   header   kmalloc(64) + kfree() as the header does it now: the stacks from the
 *            thread's guess (slabd_fast_guess_v2, the library's initial-exec TLS), the
 *            descriptor compared with it
 *   descr    kfree as the header did it before the guess: the page descriptor gives the
 *            cache, its stacks are pcpu + cache * cache_stride (an imul on the chain)
 *   shift    the same, the multiply replaced by a shift (cache_stride is ncpus << 10: a
 *            power of two whenever ncpus is, as here; a layout that rounded it up would
 *            make it one always)
 *   guess    the experiment that led to the header's guess: the same as descr, but the
 *            stacks of the previous kfree's cache (the program's own thread-local)
 *            are used when the descriptor names the same cache: a predicted branch instead
 *            of a data dependency on the descriptor load (see free_guess)
 *   known    kmalloc(64) + a push onto the known cache's stacks (kmem_cache_free of a known
 *            cache): no page descriptor at all; the floor of the per-CPU stack design
 * Rounds interleave the variants; each result is the median over batches of TSC cycles per
 * pair. Under valgrind run with --fake-cpu 0 (see kbench) and --batches 1 to count.
 * Usage: fastvar [--socket PATH] [--iters N] [--batches N] [--fake-cpu N] [--only V]
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/rseq.h>

#include "../bench_util.h"
#include <slabd/slabd.h>

#ifndef SLABD_HAVE_INLINE
#error "needs the inline fast path of <slabd/fast.h>"
#endif

static unsigned int stride_shift;

static inline __attribute__((always_inline)) void free_shift(void *p)
{
	const struct slabd_fast *f = &slabd_fast_v2;
	uint64_t zoff = (uint64_t)((const char *)p - f->zones);
	uint32_t head;

	if (__builtin_expect(zoff < f->zones_size, 1)) {
		head = (uint32_t)f->pages[zoff >> SLABD_FAST_PAGE_SHIFT];
		if (__builtin_expect((uint8_t)head == SLABD_FAST_PAGE_SLAB, 1) &&
		    !slabd_fast_push_to(f->pcpu + ((uint64_t)(head >> 16) << stride_shift), p))
			return;
	}
	kfree(p);
}

static char *stacks64;

/* guess: the cache of the previous kfree on this thread is remembered (thread-local), and a
 * compare of the page descriptor's cache with it picks the stacks: the push's address no
 * longer waits for the descriptor load, only the (predicted) branch does. */
static __thread uint32_t last_cache;
static __thread char *last_stacks;

static inline __attribute__((always_inline)) void free_guess(void *p)
{
	const struct slabd_fast *f = &slabd_fast_v2;
	uint64_t zoff = (uint64_t)((const char *)p - f->zones);
	uint32_t head;

	if (__builtin_expect(zoff < f->zones_size, 1)) {
		char *st = last_stacks;

		head = (uint32_t)f->pages[zoff >> SLABD_FAST_PAGE_SHIFT];
		if (__builtin_expect((uint8_t)head == SLABD_FAST_PAGE_SLAB, 1)) {
			if (__builtin_expect((head >> 16) != last_cache, 0)) {
				st = f->pcpu + (uint64_t)(head >> 16) * f->cache_stride;
				last_cache = head >> 16;
				last_stacks = st;
			}
			if (!slabd_fast_push_to(st, p))
				return;
		}
	}
	kfree(p);
}

/* descr: kfree as <slabd/fast.h> did it before the guess (slabd_fast_last_head): the page
 * descriptor gives the cache, its stacks are pcpu + cache * cache_stride. */
static inline __attribute__((always_inline)) void free_descr(void *p)
{
	const struct slabd_fast *f = &slabd_fast_v2;
	uint64_t zoff = (uint64_t)((const char *)p - f->zones);
	uint32_t head;

	if (__builtin_expect(zoff < f->zones_size, 1)) {
		head = (uint32_t)f->pages[zoff >> SLABD_FAST_PAGE_SHIFT];
		if (__builtin_expect((uint8_t)head == SLABD_FAST_PAGE_SLAB, 1) &&
		    !slabd_fast_push_to(f->pcpu + (uint64_t)(head >> 16) * f->cache_stride, p))
			return;
	}
	kfree(p);
}

static inline __attribute__((always_inline)) void free_known(void *p)
{
	if (slabd_fast_push_to(stacks64, p))
		kfree(p);
}

#define VARIANT(name, FREE)                                                                        \
	static __attribute__((noinline)) uint64_t run_##name(uint64_t n)                           \
	{                                                                                          \
		uint64_t i, t0 = tsc_read();                                                       \
		for (i = 0; i < n; i++) {                                                          \
			void *p = kmalloc(64, GFP_KERNEL);                                         \
			if (__builtin_expect(!p, 0))                                               \
				abort();                                                           \
			sink(p);                                                                   \
			FREE(p);                                                                   \
		}                                                                                  \
		return tsc_read() - t0;                                                            \
	}
VARIANT(header, kfree)
VARIANT(descr, free_descr)
VARIANT(shift, free_shift)
VARIANT(known, free_known)
VARIANT(guess, free_guess)

static const struct {
	const char *name;
	uint64_t (*run)(uint64_t);
} variants[] = { { "header", run_header }, { "descr", run_descr }, { "shift", run_shift }, { "known", run_known }, { "guess", run_guess } };
#define NV (sizeof(variants) / sizeof(variants[0]))

int main(int argc, char **argv)
{
	static const struct option lo[] = { { "socket", 1, NULL, 'S' }, { "iters", 1, NULL, 'n' },
					     { "batches", 1, NULL, 'b' }, { "fake-cpu", 1, NULL, 'f' },
					     { "only", 1, NULL, 'o' },    { NULL, 0, NULL, 0 } };
	uint64_t iters = 1024, batches = 301, b;
	const char *sock = NULL, *only = NULL;
	int c, fake = -1;
	size_t v;
	double *res[NV];

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'S': sock = optarg; break;
		case 'n': iters = bench_parse_count("fastvar", optarg, "--iters"); break;
		case 'b': batches = bench_parse_count("fastvar", optarg, "--batches"); break;
		case 'f': fake = atoi(optarg); break;
		case 'o': only = optarg; break;
		default: return 2;
		}
	}
	if (slabd_connect(sock) < 0) {
		fprintf(stderr, "fastvar: slabd_connect: %s\n", slabd_last_error());
		return 1;
	}
	pin_to("fastvar", 0);
	if (fake >= 0) {
		struct rseq *r = (struct rseq *)((char *)__builtin_thread_pointer() + slabd_fast_v2.rseq_off);

		if (__rseq_size || (int32_t)r->cpu_id >= 0) {
			fprintf(stderr, "fastvar: --fake-cpu is for valgrind only\n");
			return 2;
		}
		r->cpu_id_start = r->cpu_id = (uint32_t)fake;
	}
	if (slabd_fast_v2.cache_stride & (slabd_fast_v2.cache_stride - 1)) {
		fprintf(stderr, "fastvar: cache_stride %llu is not a power of two here (ncpus %u)\n",
			(unsigned long long)slabd_fast_v2.cache_stride, slabd_fast_v2.ncpus);
		return 1;
	}
	stride_shift = (unsigned int)__builtin_ctzll(slabd_fast_v2.cache_stride);
	{
		void *p = kmalloc(64, GFP_KERNEL);
		uint64_t zoff = (uint64_t)((char *)p - slabd_fast_v2.zones);

		stacks64 = slabd_fast_v2.pcpu +
			   (uint64_t)((uint32_t)slabd_fast_v2.pages[zoff >> SLABD_FAST_PAGE_SHIFT] >> 16) *
				   slabd_fast_v2.cache_stride;
		kfree(p);
	}
	for (v = 0; v < NV; v++) {
		res[v] = calloc(batches ? batches : 1, sizeof(double));
		if (!only || !strcmp(only, variants[v].name))
			variants[v].run(65536);
	}
	/* batch b runs the variants in an order rotated by b */
	for (b = 0; b < batches; b++)
		for (v = 0; v < NV; v++) {
			size_t w = (v + b) % NV;

			if (!only || !strcmp(only, variants[w].name))
				res[w][b] = (double)variants[w].run(iters) / (double)(iters ? iters : 1);
		}
	for (v = 0; v < NV; v++)
		if (!only || !strcmp(only, variants[v].name))
			printf("fastvar %s pair 64 %.2f\n", variants[v].name, batches ? median(res[v], batches) : 0.0);
	return 0;
}
