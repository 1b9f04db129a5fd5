/* SPDX-License-Identifier: MIT */
/*
 * lib/magcheck.h - the fast first pass of the magazine check (lib/alloc.c, mag_check):
 * whether every entry of a magazine taken from a depot is an object of the cache, eight
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
 * Each entry: zoff = off - zones_off; page = zoff >> 12, which is below @npages exactly
 * when the offset is in the zones (an offset below zones_off wraps to a page number far
 * above); an out-of-range lane is masked out of the gather: it reads no memory and gets
 * the word 0, which fails the next test as want's kind byte is a slab page's, never 0;
 * then (descriptor & mask) == want and (zoff & (size - 1)) == 0. The page table is in the
 * meta segment, which clients cannot write.
 */
#ifndef SLABD_LIB_MAGCHECK_H
#define SLABD_LIB_MAGCHECK_H

#include <stdint.h>

/* The page-descriptor bits the checks compare: kind (byte 0) and cache (bytes 2-3). */
#define MAGCHECK_WORD_MASK 0x00000000ffff00ffull
/* The pass's gathers take signed 32-bit page numbers: zones of at most 8 TiB. */
#define MAGCHECK_MAX_PAGES (1ull << 31)

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SLABD_HAVE_MAGCHECK_AVX2 1

/*
 * magcheck_all_valid_avx2: 1 when each of the @n offsets in @objs is in the zones (which
 * start at region offset @zones_off, page-aligned, and span @npages pages, fewer than
 * MAGCHECK_MAX_PAGES), on a page whose descriptor in @pages matches @want under MAGCHECK_WORD_MASK, at a
 * multiple of @size (a power of two, at most a page) from the zones' start; 0 when any is
 * not. @want's low byte (the kind) is not 0. Only for CPUs with AVX2 (the caller checks).
 *
 * Eight entries per step and one gather of eight 32-bit words: the bits compared are all
 * in a descriptor's low half, and the page numbers that pass the range test fit a gather's
 * signed 32-bit index. Two 64-bit vectors' page numbers are merged into one index vector,
 * the second's shifted into the high halves, so the lanes come out interleaved; the answer
 * is "all valid?", which does not care about the order. A gather of four 64-bit words per
 * four entries, as before, cost about 2.8 TSC cycles per entry of a 127-entry magazine
 * here (AMD Zen 3), this about 2.3 (bench/RESULTS.md, session 10): the gathers are most
 * of the pass.
 */
__attribute__((target("avx2"))) static inline int magcheck_all_valid_avx2(const uint64_t *objs, uint32_t n,
									 uint64_t zones_off, uint64_t npages,
									 const uint64_t *pages, uint64_t want,
									 uint64_t size)
{
	const __m256i vzo = _mm256_set1_epi64x((long long)zones_off);
	const __m256i vnp = _mm256_set1_epi64x((long long)npages);
	const __m256i vmask = _mm256_set1_epi32((int)(uint32_t)MAGCHECK_WORD_MASK);
	const __m256i vwant = _mm256_set1_epi32((int)(uint32_t)want);
	const __m256i valign = _mm256_set1_epi64x((long long)(size - 1));
	__m256i bad = _mm256_setzero_si256();
	uint64_t tail = 0;
	uint32_t i;

	if (n < 8) {
		for (i = 0; i < n; i++) {
			uint64_t zoff = objs[i] - zones_off, page = zoff >> 12;

			if (page >= npages)
				return 0;
			tail |= ((pages[page] & MAGCHECK_WORD_MASK) ^ want) | (zoff & (size - 1));
		}
		return !tail;
	}
	for (i = 0;; i += 8) {
		__m256i za, zb, pa, pb, in, idx, w;

		if (i > n - 8)
			i = n - 8; /* the last eight, overlapping ones already done */
		za = _mm256_sub_epi64(_mm256_loadu_si256((const __m256i *)(objs + i)), vzo);
		zb = _mm256_sub_epi64(_mm256_loadu_si256((const __m256i *)(objs + i + 4)), vzo);
		pa = _mm256_srli_epi64(za, 12);
		pb = _mm256_srli_epi64(zb, 12);
		/* page < npages on all 64 bits (both below 2^52, so the signed compare is the
		 * unsigned one); a lane's mask is all ones or all zeros, so either half serves */
		in = _mm256_blend_epi32(_mm256_cmpgt_epi64(vnp, pa), _mm256_cmpgt_epi64(vnp, pb), 0xaa);
		/* even dwords: pa's low halves; odd dwords: pb's (shifted up) */
		idx = _mm256_blend_epi32(pa, _mm256_slli_epi64(pb, 32), 0xaa);
		/* masked-off lanes read nothing and get 0, a word that never matches want */
		w = _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), (const int *)pages, idx, in, 8);
		bad = _mm256_or_si256(bad, _mm256_xor_si256(_mm256_and_si256(w, vmask), vwant));
		bad = _mm256_or_si256(bad, _mm256_and_si256(_mm256_or_si256(za, zb), valign));
		if (i == n - 8)
			return _mm256_testz_si256(bad, bad);
	}
}
#endif

#endif /* SLABD_LIB_MAGCHECK_H */
