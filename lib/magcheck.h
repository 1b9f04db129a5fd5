/* SPDX-License-Identifier: MIT */
/*
 * lib/magcheck.h - the fast first pass of the magazine check (lib/alloc.c, mag_check):
 * whether every entry of a magazine taken from a depot is an object of the cache, four
 * entries at a time with AVX2, without a branch or a store per entry.
 *
 * A magazine in a depot is client-writable memory, so the client that takes one checks
 * each entry before it trusts it: the offset lies in the zones, its page descriptor says
 * "slab page of this cache", and it sits on an object boundary. Almost always every entry
 * passes, and the scalar filter (a compare and branch per test, a store per kept entry)
 * spent about 6 cycles per entry on it even with the magazine already in the cache: most
 * of a cross-CPU handoff's allocation misses. This pass answers "all valid?" for the
 * common layout, a power-of-two object size up to a page (the offset in the zones decides
 * the boundary, as slabs start on a page); the filter runs only when it says no.
 *
 * Each lane: zoff = off - zones_off; page = zoff >> 12, which is below @npages exactly when
 * the offset is in the zones (an offset below zones_off wraps to a page number far above);
 * an out-of-range lane is masked out of the gather: it reads no memory and gets the word
 * 0, which fails the next test as want's kind byte is a slab page's, never 0; then
 * (descriptor & mask) == want and (zoff & (size - 1)) == 0. The page table is in the meta
 * segment, which clients cannot write.
 */
#ifndef SLABD_LIB_MAGCHECK_H
#define SLABD_LIB_MAGCHECK_H

#include <stdint.h>

/* The page-descriptor bits the checks compare: kind (byte 0) and cache (bytes 2-3). */
#define MAGCHECK_WORD_MASK 0x00000000ffff00ffull

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SLABD_HAVE_MAGCHECK_AVX2 1

/*
 * magcheck_all_valid_avx2: 1 when each of the @n offsets in @objs is in the zones (which
 * start at region offset @zones_off, page-aligned, and span @npages pages), on a page whose
 * descriptor in @pages matches @want under MAGCHECK_WORD_MASK, at a multiple of @size (a
 * power of two, at most a page) from the zones' start; 0 when any is not. @want's low byte
 * (the kind) is not 0. Only for CPUs with AVX2 (the caller checks).
 */
__attribute__((target("avx2"))) static inline int magcheck_all_valid_avx2(const uint64_t *objs, uint32_t n,
									 uint64_t zones_off, uint64_t npages,
									 const uint64_t *pages, uint64_t want,
									 uint64_t size)
{
	const __m256i vzo = _mm256_set1_epi64x((long long)zones_off);
	const __m256i vnp = _mm256_set1_epi64x((long long)npages);
	const __m256i vmask = _mm256_set1_epi64x((long long)MAGCHECK_WORD_MASK);
	const __m256i vwant = _mm256_set1_epi64x((long long)want);
	const __m256i valign = _mm256_set1_epi64x((long long)(size - 1));
	__m256i bad = _mm256_setzero_si256();
	uint64_t tail = 0;
	uint32_t i;

	if (n < 4) {
		for (i = 0; i < n; i++) {
			uint64_t zoff = objs[i] - zones_off, page = zoff >> 12;

			if (page >= npages)
				return 0;
			tail |= ((pages[page] & MAGCHECK_WORD_MASK) ^ want) | (zoff & (size - 1));
		}
		return !tail;
	}
	for (i = 0;; i += 4) {
		__m256i zoff, page, in, w;

		if (i > n - 4)
			i = n - 4; /* the last four, overlapping ones already done */
		zoff = _mm256_sub_epi64(_mm256_loadu_si256((const __m256i *)(objs + i)), vzo);
		page = _mm256_srli_epi64(zoff, 12);
		/* page < npages: both below 2^52, so the signed compare is the unsigned one */
		in = _mm256_cmpgt_epi64(vnp, page);
		/* masked-off lanes read nothing and get 0, a word that never matches want */
		w = _mm256_mask_i64gather_epi64(_mm256_setzero_si256(), (const long long *)pages, page, in, 8);
		bad = _mm256_or_si256(bad, _mm256_xor_si256(_mm256_and_si256(w, vmask), vwant));
		bad = _mm256_or_si256(bad, _mm256_and_si256(zoff, valign));
		if (i == n - 4)
			return _mm256_testz_si256(bad, bad);
	}
}
#endif

#endif /* SLABD_LIB_MAGCHECK_H */
