/* SPDX-License-Identifier: MIT */
/*
 * magcheck_gather.c - evidence for lib/magcheck.h's eight-lane pass, not a benchmark of the
 * suite. Talks to no daemon. Times three ways of answering "is every entry of a 127-entry
 * magazine a kmalloc-64 object?" on the same magazine, already in the cache (the miss
 * path's compute, not the cross-CPU transfer), round-robin so that load on the machine
 * falls on all three alike:
 *   gather8  lib/magcheck.h as it is: one gather of eight 32-bit descriptor words per
 *            eight entries;
 *   gather4  the pass before session 10: one gather of four 64-bit words per four;
 *   scalar   a load, a compare and an or per entry, no branch but the range test.
 * Each result is TSC cycles per magazine: the median and minimum of --rounds rounds of
 * 1000 checks. --pages N spreads the entries over N pages (a handoff's magazine holds
 * objects of a few dozen slabs).
 * Usage: magcheck_gather [--rounds N] [--pages N] [--cpu N]
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <x86intrin.h>

#include "../bench_util.h"
#include "magcheck.h"

#define NPAGES 4096u
#define ZONES_OFF (1ull << 20)
#define ENTRIES 127u
#define CACHE 7ull
#define WANT (1ull | CACHE << 16)

typedef int (*pass_fn)(const uint64_t *, uint32_t, uint64_t, uint64_t, const uint64_t *, uint64_t, uint64_t);

/* gather4: four entries per step, four 64-bit words per gather (the old pass) */
__attribute__((target("avx2"))) static int gather4(const uint64_t *objs, uint32_t n, uint64_t zones_off,
						   uint64_t npages, const uint64_t *pages, uint64_t want,
						   uint64_t size)
{
	const __m256i vzo = _mm256_set1_epi64x((long long)zones_off), vnp = _mm256_set1_epi64x((long long)npages);
	const __m256i vmask = _mm256_set1_epi64x((long long)MAGCHECK_WORD_MASK);
	const __m256i vwant = _mm256_set1_epi64x((long long)want), valign = _mm256_set1_epi64x((long long)(size - 1));
	__m256i bad = _mm256_setzero_si256(), zoff, page, w;
	uint32_t i;

	for (i = 0;; i += 4) {
		if (i > n - 4)
			i = n - 4;
		zoff = _mm256_sub_epi64(_mm256_loadu_si256((const __m256i *)(objs + i)), vzo);
		page = _mm256_srli_epi64(zoff, 12);
		w = _mm256_mask_i64gather_epi64(_mm256_setzero_si256(), (const long long *)pages, page,
						_mm256_cmpgt_epi64(vnp, page), 8);
		bad = _mm256_or_si256(bad, _mm256_xor_si256(_mm256_and_si256(w, vmask), vwant));
		bad = _mm256_or_si256(bad, _mm256_and_si256(zoff, valign));
		if (i == n - 4)
			return _mm256_testz_si256(bad, bad);
	}
}

static int scalar(const uint64_t *objs, uint32_t n, uint64_t zones_off, uint64_t npages, const uint64_t *pages,
		  uint64_t want, uint64_t size)
{
	uint64_t bad = 0, zoff;
	uint32_t i;

	for (i = 0; i < n; i++) {
		zoff = objs[i] - zones_off;
		if (zoff >> 12 >= npages)
			return 0;
		bad |= ((pages[zoff >> 12] & MAGCHECK_WORD_MASK) ^ want) | (zoff & (size - 1));
	}
	return !bad;
}

static uint64_t pages[NPAGES];
static uint64_t objs[ENTRIES];

int main(int argc, char **argv)
{
	static const struct option lo[] = { { "rounds", required_argument, NULL, 'r' },
					    { "pages", required_argument, NULL, 'p' },
					    { "cpu", required_argument, NULL, 'c' },
					    { NULL, 0, NULL, 0 } };
	static const char *const name[] = { "gather8", "gather4", "scalar" };
	const pass_fn fn[] = { magcheck_all_valid_avx2, gather4, scalar };
	uint64_t rounds = 101, spread = 32, r, k, t0;
	double *v[3];
	int c, f, cpu = -1;

	while ((c = getopt_long(argc, argv, "r:p:c:", lo, NULL)) != -1) {
		if (c == 'r')
			rounds = bench_parse_count("magcheck_gather", optarg, "--rounds");
		else if (c == 'p')
			spread = bench_parse_count("magcheck_gather", optarg, "--pages");
		else if (c == 'c')
			cpu = (int)bench_parse_count("magcheck_gather", optarg, "--cpu");
		else
			return 2;
	}
	if (!__builtin_cpu_supports("avx2") || !rounds || !spread || spread > NPAGES) {
		fprintf(stderr, "magcheck_gather: needs AVX2, --rounds >= 1, 1 <= --pages <= %u\n", NPAGES);
		return 2;
	}
	if (cpu >= 0)
		pin_to("magcheck_gather", cpu);
	for (k = 0; k < NPAGES; k++)
		pages[k] = k << 32 | CACHE << 16 | 1;
	srand(1);
	for (k = 0; k < ENTRIES; k++)
		objs[k] = ZONES_OFF + ((uint64_t)(rand() % (int)spread) << 12) + (uint64_t)(rand() % 64) * 64;
	/* all three must agree, on a valid magazine and on one with an entry off a boundary */
	for (f = 0; f < 3; f++) {
		int ok = fn[f](objs, ENTRIES, ZONES_OFF, NPAGES, pages, WANT, 64);

		objs[ENTRIES / 2] += 8;
		if (!ok || fn[f](objs, ENTRIES, ZONES_OFF, NPAGES, pages, WANT, 64)) {
			fprintf(stderr, "magcheck_gather: %s gives a wrong answer\n", name[f]);
			return 1;
		}
		objs[ENTRIES / 2] -= 8;
		v[f] = calloc(rounds, sizeof(double));
		if (!v[f])
			return 1;
	}
	for (r = 0; r < rounds; r++)
		for (f = 0; f < 3; f++) {
			int s = 0;

			t0 = __rdtsc();
			for (k = 0; k < 1000; k++) {
				s += fn[f](objs, ENTRIES, ZONES_OFF, NPAGES, pages, WANT, 64);
				__asm__ volatile("" : "+r"(s)::"memory");
			}
			v[f][r] = (double)(__rdtsc() - t0) / 1000;
		}
	for (f = 0; f < 3; f++) {
		double med = median(v[f], rounds);

		printf("magcheck_gather %-7s %u entries over %llu pages: median %.0f min %.0f TSC cycles "
		       "(%.2f per entry)\n", name[f], ENTRIES, (unsigned long long)spread, med, v[f][0],
		       med / ENTRIES);
	}
	return 0;
}
