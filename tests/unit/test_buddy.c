/* SPDX-License-Identifier: MIT */
/*
 * test_buddy.c - daemon/buddy.c, the per-zone page allocator.
 *
 * Invariants checked (buddy.h): free blocks are disjoint, aligned to their size and
 * 2^order long; nr_free == the sum of their sizes; freeing everything merges back to the
 * blocks of a fresh allocator. A shadow bitmap in the test is the reference for which
 * pages are handed out.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "buddy.h"

static struct buddy b;

static void fini(void)
{
	buddy_destroy(&b);
}

TestSuite(buddy, .fini = fini);

/* A small deterministic PRNG, so a failure can be replayed. */
static uint64_t rng_state;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

/* Every page in [page, page + n) is (@free) or is not (!@free) in a free block. */
static void expect_range(uint32_t page, uint32_t n, int free)
{
	uint32_t i;

	for (i = page; i < page + n; i++)
		if (!!buddy_is_free(&b, i) != !!free)
			cr_assert_fail("page %u is %s, expected %s", i, free ? "allocated" : "free",
				       free ? "free" : "allocated");
}

/* Allocate the blocks of a fresh allocator of 1000 pages: 512+256+128+64+32+8. */
static void expect_fresh_1000(void)
{
	static const unsigned int orders[] = {9, 8, 7, 6, 5, 3};
	size_t i;

	for (i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
		cr_assert_eq(buddy_largest_free(&b), (int)orders[i]);
		cr_assert_geq(buddy_alloc(&b, orders[i]), 0, "no block of order %u", orders[i]);
	}
	cr_assert_eq(b.nr_free, 0);
	cr_assert_eq(buddy_largest_free(&b), -1);
}

Test(buddy, order_for_rounds_up_to_a_power_of_two)
{
	cr_assert_eq(buddy_order_for(0), 0);
	cr_assert_eq(buddy_order_for(1), 0);
	cr_assert_eq(buddy_order_for(2), 1);
	cr_assert_eq(buddy_order_for(3), 2);
	cr_assert_eq(buddy_order_for(4), 2);
	cr_assert_eq(buddy_order_for(5), 3);
	cr_assert_eq(buddy_order_for(1000), 10);
	cr_assert_eq(buddy_order_for(1024), 10);
	cr_assert_eq(buddy_order_for(1u << 24), 24);
	cr_assert_eq(buddy_order_for((1u << 24) + 1), 25);
	cr_assert_eq(buddy_order_for(UINT32_MAX), 32);
}

Test(buddy, a_fresh_allocator_of_1000_pages_has_every_page_free)
{
	cr_assert_eq(buddy_init(&b, 1000), 0);
	cr_assert_eq(b.nr_pages, 1000);
	cr_assert_eq(b.nr_free, 1000);
	cr_assert_eq(buddy_largest_free(&b), 9);
	expect_range(0, 1000, 1);
	expect_fresh_1000();
}

Test(buddy, an_empty_allocator_has_nothing_to_give)
{
	cr_assert_eq(buddy_init(&b, 0), 0);
	cr_assert_eq(b.nr_free, 0);
	cr_assert_eq(buddy_largest_free(&b), -1);
	cr_assert_eq(buddy_alloc(&b, 0), -1);
	cr_assert_eq(buddy_alloc_exact(&b, 1), -1);
}

Test(buddy, a_single_page_allocator_gives_its_page_once)
{
	cr_assert_eq(buddy_init(&b, 1), 0);
	cr_assert_eq(buddy_alloc(&b, 1), -1);
	cr_assert_eq(buddy_alloc(&b, 0), 0);
	cr_assert_eq(buddy_alloc(&b, 0), -1);
	buddy_free(&b, 0, 0);
	cr_assert_eq(b.nr_free, 1);
	cr_assert_eq(buddy_largest_free(&b), 0);
}

Test(buddy, every_order_that_fits_allocates_an_aligned_block)
{
	unsigned int order;

	for (order = 0; order <= 9; order++) {
		int64_t p;

		cr_assert_eq(buddy_init(&b, 1000), 0);
		p = buddy_alloc(&b, order);
		cr_assert_geq(p, 0, "order %u", order);
		cr_assert_leq(p + (1 << order), 1000, "order %u block at %ld runs past the zone",
			      order, (long)p);
		cr_assert_eq(p & ((1 << order) - 1), 0, "order %u block at %ld is not aligned",
			     order, (long)p);
		cr_assert_eq(b.nr_free, 1000 - (1u << order), "order %u", order);
		expect_range((uint32_t)p, 1u << order, 0);
		if (p + (1 << order) < 1000)
			cr_assert(buddy_is_free(&b, (uint32_t)p + (1u << order)),
				  "order %u: the page after the block", order);
		buddy_free(&b, (uint32_t)p, order);
		cr_assert_eq(b.nr_free, 1000);
		expect_range(0, 1000, 1);
		buddy_destroy(&b);
	}
	cr_assert_eq(buddy_init(&b, 1000), 0);
	cr_assert_eq(buddy_alloc(&b, 10), -1, "1000 pages hold no 1024-page block");
	cr_assert_eq(buddy_alloc(&b, BUDDY_MAX_ORDER + 1), -1);
	cr_assert_eq(buddy_alloc(&b, 1000), -1);
	cr_assert_eq(b.nr_free, 1000, "a failed allocation changed nr_free");
}

Test(buddy, the_largest_order_is_allocatable_in_a_zone_that_large)
{
	cr_assert_eq(buddy_init(&b, (1u << BUDDY_MAX_ORDER) + 3), 0);
	cr_assert_eq(buddy_largest_free(&b), BUDDY_MAX_ORDER);
	cr_assert_eq(buddy_alloc(&b, BUDDY_MAX_ORDER), 0);
	cr_assert_eq(b.nr_free, 3);
	cr_assert_eq(buddy_largest_free(&b), 1);
	buddy_free(&b, 0, BUDDY_MAX_ORDER);
	cr_assert_eq(b.nr_free, (1u << BUDDY_MAX_ORDER) + 3);
}

Test(buddy, freeing_every_single_page_merges_back_to_the_largest_blocks)
{
	static uint32_t pages[1000];
	uint8_t seen[1000] = {0};
	uint32_t i;

	cr_assert_eq(buddy_init(&b, 1000), 0);
	for (i = 0; i < 1000; i++) {
		int64_t p = buddy_alloc(&b, 0);

		cr_assert_geq(p, 0, "allocation %u of 1000 failed", i);
		cr_assert_lt(p, 1000);
		cr_assert_eq(seen[p]++, 0, "page %ld handed out twice", (long)p);
		pages[i] = (uint32_t)p;
	}
	cr_assert_eq(b.nr_free, 0);
	cr_assert_eq(buddy_largest_free(&b), -1);
	cr_assert_eq(buddy_alloc(&b, 0), -1);

	/* free in a shuffled order so merges happen in every direction */
	rng_state = 0x9e3779b97f4a7c15ull;
	for (i = 999; i > 0; i--) {
		uint32_t j = rng() % (i + 1), t = pages[i];
		pages[i] = pages[j];
		pages[j] = t;
	}
	for (i = 0; i < 1000; i++)
		buddy_free(&b, pages[i], 0);
	cr_assert_eq(b.nr_free, 1000);
	expect_range(0, 1000, 1);
	expect_fresh_1000();
}

Test(buddy, allocations_never_overlap_and_nr_free_stays_exact)
{
	enum { NPAGES = 1000, MAXLIVE = 256, STEPS = 20000 };
	static uint8_t shadow[NPAGES];
	static struct {
		uint32_t page, n;
		int exact;
	} live[MAXLIVE];
	unsigned int nlive = 0, step;
	uint32_t used = 0;

	memset(shadow, 0, sizeof(shadow));
	rng_state = 0x243f6a8885a308d3ull;
	cr_assert_eq(buddy_init(&b, NPAGES), 0);
	for (step = 0; step < STEPS; step++) {
		if (nlive < MAXLIVE && (nlive == 0 || rng() % 100 < 55)) {
			int exact = rng() % 3 == 0;
			uint32_t n = exact ? 1 + rng() % 40 : 1u << (rng() % 7);
			int64_t p =
			    exact ? buddy_alloc_exact(&b, n) : buddy_alloc(&b, buddy_order_for(n));
			uint32_t i;

			if (p < 0) {
				cr_assert_eq(b.nr_free, NPAGES - used,
					     "step %u: a failed allocation changed nr_free", step);
				continue;
			}
			cr_assert_leq((uint64_t)p + n, NPAGES,
				      "step %u: block %ld+%u past the zone", step, (long)p, n);
			if (!exact)
				cr_assert_eq(p % n, 0,
					     "step %u: block of %u pages at %ld is not aligned",
					     step, n, (long)p);
			for (i = 0; i < n; i++)
				if (shadow[p + i])
					cr_assert_fail("step %u: page %ld handed out twice", step,
						       (long)(p + i));
			memset(shadow + p, 1, n);
			live[nlive].page = (uint32_t)p;
			live[nlive].n = n;
			live[nlive].exact = exact;
			nlive++;
			used += n;
		} else {
			unsigned int k = rng() % nlive;

			if (live[k].exact)
				buddy_free_exact(&b, live[k].page, live[k].n);
			else
				buddy_free(&b, live[k].page, buddy_order_for(live[k].n));
			memset(shadow + live[k].page, 0, live[k].n);
			used -= live[k].n;
			live[k] = live[--nlive];
		}
		cr_assert_eq(b.nr_free, NPAGES - used, "step %u: nr_free %u, expected %u", step,
			     b.nr_free, NPAGES - used);
		if (step % 97 == 0) {
			uint32_t i;

			for (i = 0; i < NPAGES; i++)
				if (!!buddy_is_free(&b, i) == !!shadow[i])
					cr_assert_fail("step %u: page %u is %s in the allocator "
						       "but %s in the shadow",
						       step, i,
						       buddy_is_free(&b, i) ? "free" : "used",
						       shadow[i] ? "used" : "free");
		}
	}
	while (nlive) {
		nlive--;
		if (live[nlive].exact)
			buddy_free_exact(&b, live[nlive].page, live[nlive].n);
		else
			buddy_free(&b, live[nlive].page, buddy_order_for(live[nlive].n));
	}
	cr_assert_eq(b.nr_free, NPAGES);
	expect_fresh_1000();
}

Test(buddy, a_full_allocator_returns_minus_one)
{
	int i;

	cr_assert_eq(buddy_init(&b, 16), 0);
	for (i = 0; i < 4; i++)
		cr_assert_geq(buddy_alloc(&b, 2), 0, "block %d of 4", i);
	cr_assert_eq(b.nr_free, 0);
	cr_assert_eq(buddy_alloc(&b, 0), -1);
	cr_assert_eq(buddy_alloc(&b, 2), -1);
	cr_assert_eq(buddy_alloc_exact(&b, 1), -1);
	cr_assert_eq(b.nr_free, 0);
}

Test(buddy, a_fragmented_allocator_refuses_a_block_larger_than_any_free_one)
{
	uint32_t i;

	cr_assert_eq(buddy_init(&b, 16), 0);
	for (i = 0; i < 16; i++)
		cr_assert_eq(buddy_alloc(&b, 0), i);
	for (i = 0; i < 16; i += 2)
		buddy_free(&b, i, 0); /* every other page: 8 free, none adjacent to another */
	cr_assert_eq(b.nr_free, 8);
	cr_assert_eq(buddy_largest_free(&b), 0);
	cr_assert_eq(buddy_alloc(&b, 1), -1);
	cr_assert_eq(b.nr_free, 8);
}

Test(buddy, alloc_exact_takes_exactly_n_pages_and_frees_the_tail)
{
	int64_t p;

	cr_assert_eq(buddy_init(&b, 16), 0);
	p = buddy_alloc_exact(&b, 5);
	cr_assert_geq(p, 0);
	cr_assert_eq(b.nr_free, 11);
	expect_range((uint32_t)p, 5, 0);
	expect_range(0, (uint32_t)p, 1);
	expect_range((uint32_t)p + 5, 16 - (uint32_t)p - 5, 1);
	/* the tail went back as the aligned blocks 5 (1 page), 6..7 (2) and 8..15 (8) */
	cr_assert_eq(p, 0);
	cr_assert_eq(buddy_alloc(&b, 0), 5);
	cr_assert_eq(buddy_alloc(&b, 1), 6);
	cr_assert_eq(buddy_alloc(&b, 3), 8);
	cr_assert_eq(b.nr_free, 0);
}

Test(buddy, free_exact_gives_back_exactly_n_pages_and_merges)
{
	uint32_t n;

	cr_assert_eq(buddy_init(&b, 1000), 0);
	for (n = 1; n <= 512; n++) {
		int64_t p = buddy_alloc_exact(&b, n);

		cr_assert_geq(p, 0, "alloc_exact(%u)", n);
		cr_assert_eq(b.nr_free, 1000 - n, "alloc_exact(%u): nr_free %u", n, b.nr_free);
		expect_range((uint32_t)p, n, 0);
		buddy_free_exact(&b, (uint32_t)p, n);
		cr_assert_eq(b.nr_free, 1000, "free_exact(%u): nr_free %u", n, b.nr_free);
		cr_assert_eq(buddy_largest_free(&b), 9, "free_exact(%u) did not merge back", n);
	}
	expect_fresh_1000();
}

Test(buddy, alloc_exact_of_zero_pages_fails_without_side_effects)
{
	cr_assert_eq(buddy_init(&b, 64), 0);
	cr_assert_eq(buddy_alloc_exact(&b, 0), -1);
	cr_assert_eq(b.nr_free, 64);
	cr_assert_eq(buddy_largest_free(&b), 6);
}

Test(buddy, alloc_exact_larger_than_the_zone_fails_without_side_effects)
{
	cr_assert_eq(buddy_init(&b, 64), 0);
	cr_assert_eq(buddy_alloc_exact(&b, 65), -1);
	cr_assert_eq(buddy_alloc_exact(&b, UINT32_MAX), -1);
	cr_assert_eq(b.nr_free, 64);
}

Test(buddy, free_exact_of_a_range_at_an_odd_page_frees_only_that_range)
{
	uint32_t i;

	cr_assert_eq(buddy_init(&b, 32), 0);
	cr_assert_eq(buddy_alloc(&b, 5), 0);
	buddy_free_exact(&b, 3, 13); /* pages 3..15 */
	cr_assert_eq(b.nr_free, 13);
	for (i = 0; i < 32; i++)
		cr_assert_eq(!!buddy_is_free(&b, i), i >= 3 && i < 16, "page %u", i);
	buddy_free_exact(&b, 0, 3);
	buddy_free_exact(&b, 16, 16);
	cr_assert_eq(b.nr_free, 32);
	cr_assert_eq(buddy_largest_free(&b), 5);
}

Test(buddy, is_free_tells_allocated_pages_from_free_ones)
{
	int64_t p;

	cr_assert_eq(buddy_init(&b, 100), 0);
	p = buddy_alloc(&b, 0);
	cr_assert_geq(p, 0);
	cr_assert_not(buddy_is_free(&b, (uint32_t)p));
	cr_assert_eq(b.nr_free, 99);
	{
		uint32_t i, nfree = 0;

		for (i = 0; i < 100; i++)
			nfree += buddy_is_free(&b, i) ? 1 : 0;
		cr_assert_eq(nfree, 99);
	}
	buddy_free(&b, (uint32_t)p, 0);
	cr_assert(buddy_is_free(&b, (uint32_t)p));
	expect_range(0, 100, 1);
}
