/* SPDX-License-Identifier: MIT */
/*
 * lib/divtest.h - whether x is a multiple of a divisor fixed for many x, without a
 * division: the magazine checks (lib/alloc.c, mag_check) test every object's offset in
 * its slab against the object size, and a 64-bit div per object was most of a magazine's
 * cost on the allocation miss path.
 *
 * d = odd << shift. x is a multiple of d iff its low shift bits are 0 and (x >> shift) is
 * a multiple of odd; for odd, x * odd^-1 (mod 2^64) maps the multiples of odd onto
 * 0 .. (2^64 - 1) / odd and everything else above (Granlund and Montgomery, "Division
 * by invariant integers using multiplication", 1994, section 9).
 */
#ifndef SLABD_LIB_DIVTEST_H
#define SLABD_LIB_DIVTEST_H

#include <stdint.h>

struct divtest {
	uint64_t inv;   /* odd^-1 mod 2^64 */
	uint64_t limit; /* (2^64 - 1) / odd */
	uint64_t low;   /* (1 << shift) - 1 */
	unsigned int shift;
};

/* divtest_init: for divisor @d > 0. */
static inline void divtest_init(struct divtest *t, uint64_t d)
{
	uint64_t odd, inv;
	int i;

	t->shift = (unsigned int)__builtin_ctzll(d);
	odd = d >> t->shift;
	/* Newton's iteration: odd * odd == 1 mod 8 (3 bits); each step doubles the bits */
	inv = odd;
	for (i = 0; i < 5; i++)
		inv *= 2 - odd * inv;
	t->inv = inv;
	t->limit = UINT64_MAX / odd;
	t->low = ((uint64_t)1 << t->shift) - 1;
}

static inline int divtest_multiple(const struct divtest *t, uint64_t x)
{
	return !(x & t->low) && (x >> t->shift) * t->inv <= t->limit;
}

#endif /* SLABD_LIB_DIVTEST_H */
