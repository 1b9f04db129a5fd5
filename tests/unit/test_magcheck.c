/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of lib/magcheck.h: the AVX2 pass over a magazine says "all valid" exactly
 * when every entry passes the scalar test it stands in for (in the zones, a slab page of
 * the wanted cache, on an object boundary), for every magazine length and with a bad
 * entry of each kind at every position (the last group of four overlaps the one before it).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "magcheck.h"

#define NPAGES 64u
#define ZONES_OFF (1u << 20) /* the zones' region offset: page-aligned */
#define SLOTS 127u /* SLABD_MAG_SLOTS */

static uint64_t pages[NPAGES];

/* page p: a slab page of cache 7 for even p, of cache 9 for odd p; page 5 a free page */
static void fill_pages(void)
{
	uint32_t p;

	for (p = 0; p < NPAGES; p++)
		pages[p] = (uint64_t)(p & ~1u) << 32 | (uint64_t)((p & 1) ? 9 : 7) << 16 | 1u;
	pages[5] = 0;
}

#define WANT (1ull | 7ull << 16)

/* The test the pass stands in for, entry by entry (lib/alloc.c's filter, power-of-two mode). */
static int ref_valid(uint64_t off, uint64_t size)
{
	uint64_t zoff = off - ZONES_OFF;

	if (zoff >= (uint64_t)NPAGES << 12)
		return 0;
	return (pages[zoff >> 12] & MAGCHECK_WORD_MASK) == WANT && !(zoff & (size - 1));
}

/* A valid offset of cache 7 (an even page) for objects of @size. */
static uint64_t good(uint64_t size)
{
	uint64_t page = (uint64_t)(rand() % (NPAGES / 2)) * 2;

	return ZONES_OFF + (page << 12) + (uint64_t)(rand() % (4096 / size)) * size;
}

/* Every kind of bad entry, for objects of @size. */
static uint64_t bad(int kind, uint64_t size)
{
	switch (kind) {
	case 0: return ZONES_OFF - size;                          /* below the zones */
	case 1: return ZONES_OFF + ((uint64_t)NPAGES << 12);      /* just past them */
	case 2: return 0;                                         /* region offset 0 */
	case 3: return UINT64_MAX - 7;                            /* far above */
	case 4: return ZONES_OFF + (3ull << 12);                  /* a page of cache 9 */
	case 5: return ZONES_OFF + (5ull << 12);                  /* a free page */
	default: return good(size) + (size > 8 ? size / 2 : 4);  /* off a boundary */
	}
}

/* Every test: skipped without AVX2; the page table filled; rand() seeded with @seed. */
static void setup(unsigned int seed)
{
	if (!__builtin_cpu_supports("avx2"))
		cr_skip_test("no AVX2 on this CPU");
	fill_pages();
	srand(seed);
}

Test(magcheck, all_valid_magazines_of_every_length_pass)
{
	uint64_t objs[SLOTS], size;
	uint32_t n, i;

	setup(1);
	for (size = 8; size <= 4096; size *= 2)
		for (n = 0; n <= SLOTS; n++) {
			for (i = 0; i < n; i++)
				objs[i] = good(size);
			cr_assert(magcheck_all_valid_avx2(objs, n, ZONES_OFF, NPAGES, pages, WANT, size),
				  "size %llu, %u valid entries refused", (unsigned long long)size, n);
		}
}

Test(magcheck, one_bad_entry_of_any_kind_at_any_position_fails_the_pass)
{
	uint64_t objs[SLOTS], size;
	uint32_t n, i, at;
	int kind;

	setup(2);
	for (size = 8; size <= 4096; size *= 2)
		for (n = 1; n <= SLOTS; n++)
			for (at = 0; at < n; at++)
				for (kind = 0; kind < 7; kind++) {
					for (i = 0; i < n; i++)
						objs[i] = good(size);
					objs[at] = bad(kind, size);
					cr_assert(!ref_valid(objs[at], size), "bad() kind %d is valid", kind);
					cr_assert(!magcheck_all_valid_avx2(objs, n, ZONES_OFF, NPAGES, pages, WANT, size),
						  "size %llu, n %u: bad entry of kind %d at %u passed",
						  (unsigned long long)size, n, kind, at);
				}
}

Test(magcheck, random_magazines_agree_with_the_entry_by_entry_test)
{
	uint64_t objs[SLOTS], size;
	uint32_t round, n, i;
	int all;

	setup(3);
	for (round = 0; round < 20000; round++) {
		size = 8ull << (rand() % 10);
		n = (uint32_t)(rand() % (SLOTS + 1));
		all = 1;
		for (i = 0; i < n; i++) {
			objs[i] = rand() % 16 ? good(size) : bad(rand() % 7, size);
			all &= ref_valid(objs[i], size);
		}
		cr_assert_eq(magcheck_all_valid_avx2(objs, n, ZONES_OFF, NPAGES, pages, WANT, size), all,
			     "round %u: size %llu, n %u", round, (unsigned long long)size, n);
	}
}
