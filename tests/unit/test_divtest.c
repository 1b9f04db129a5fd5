/* SPDX-License-Identifier: MIT */
/*
 * test_divtest.c - lib/divtest.h against the % operator: every object size up to 40000
 * (odd, even, powers of two, the kmalloc classes), the offsets around each multiple, the
 * ends of the 64-bit range and pseudo-random values.
 */
#include <criterion/criterion.h>
#include <stdint.h>

#include "divtest.h"

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void check(const struct divtest *t, uint64_t d, uint64_t x)
{
	cr_assert_eq(divtest_multiple(t, x), x % d == 0, "d %llu x %llu: %d", (unsigned long long)d,
		     (unsigned long long)x, divtest_multiple(t, x));
}

Test(divtest, agrees_with_the_remainder_for_every_size_up_to_40000)
{
	uint64_t d, k, x, seed = 88172645463325252ull;
	struct divtest t;
	int i;

	for (d = 1; d <= 40000; d++) {
		divtest_init(&t, d);
		for (k = 0; k < 40; k++)
			for (x = k * d > 2 ? k * d - 2 : 0; x <= k * d + 2; x++)
				check(&t, d, x);
		check(&t, d, UINT64_MAX);
		check(&t, d, UINT64_MAX - UINT64_MAX % d);
		check(&t, d, (UINT64_MAX - UINT64_MAX % d) - 1);
		for (i = 0; i < 16; i++) {
			check(&t, d, rnd(&seed));
			check(&t, d, (rnd(&seed) >> 20) * d); /* a multiple */
		}
	}
}

Test(divtest, large_and_odd_divisors)
{
	static const uint64_t ds[] = { 1ull << 21, 3ull << 20, 33554432, 33554431, 4294967311ull,
				       (1ull << 63) + 1, UINT64_MAX, 1ull << 63 };
	uint64_t seed = 1, x;
	struct divtest t;
	size_t i;
	int k;

	for (i = 0; i < sizeof(ds) / sizeof(ds[0]); i++) {
		divtest_init(&t, ds[i]);
		check(&t, ds[i], 0);
		check(&t, ds[i], ds[i]);
		check(&t, ds[i], ds[i] - 1);
		check(&t, ds[i], ds[i] + 1);
		for (k = 0; k < 100000; k++) {
			x = rnd(&seed);
			check(&t, ds[i], x);
			check(&t, ds[i], x - x % ds[i]);
		}
	}
}
