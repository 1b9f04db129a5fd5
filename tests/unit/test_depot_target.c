/* SPDX-License-Identifier: MIT */
/*
 * test_depot_target.c - daemon/worker.c: a depot's refill target grows on empty-depot
 * misses and decays when idle, and never leaves [target_min, target_max], whatever
 * target_max the cache's object size gave (odd ones included: 4 MiB / (2 x 640 KiB) = 3).
 */
#include <stdint.h>

#include <criterion/criterion.h>

#include "slabd_daemon.h"

/* The geometry cache_create gives a cache of @stride bytes (slab.c). */
static void geometry(struct cache *c, uint32_t stride)
{
	uint32_t n = (64u << 10) / stride, mag_objs = n > SLABD_MAG_BATCH ? SLABD_MAG_BATCH : n < 2 ? 2 : n;

	c->target_min = 2;
	n = (uint32_t)((4u << 20) / ((uint64_t)mag_objs * stride));
	c->target_max = n > 512 ? 512 : n < c->target_min ? c->target_min : n;
}

Test(depot_target, a_target_of_3_decays_to_its_minimum_of_2_not_1)
{
	struct cache c = {0};

	geometry(&c, 640u << 10);
	cr_assert_eq(c.target_max, 3, "the case in point: target_max %u", c.target_max);
	cr_assert_eq(depot_target_grown(&c, 2), 3);
	cr_expect_eq(depot_target_decayed(&c, 3), 2, "3 halved to %u, under target_min 2",
		     depot_target_decayed(&c, 3));
	cr_expect_eq(depot_target_decayed(&c, 2), 2);
}

/* Every target_max from 2 to 512: grow to the top, decay to the bottom, and every step
 * stays within the bounds and ends at each. */
Test(depot_target, grow_and_decay_stay_within_the_bounds_for_every_maximum)
{
	struct cache c = {0};
	uint32_t max, t, steps;

	c.target_min = 2;
	for (max = 2; max <= 512; max++) {
		c.target_max = max;
		for (t = c.target_min, steps = 0; t < max && steps < 64; steps++) {
			t = depot_target_grown(&c, t);
			cr_assert(t >= c.target_min && t <= max, "max %u: grew to %u", max, t);
		}
		cr_assert_eq(t, max, "max %u: growth stopped at %u", max, t);
		cr_assert_eq(depot_target_grown(&c, t), max);
		for (steps = 0; t > c.target_min && steps < 64; steps++) {
			t = depot_target_decayed(&c, t);
			cr_assert(t >= c.target_min && t <= max, "max %u: decayed to %u", max, t);
		}
		cr_assert_eq(t, c.target_min, "max %u: decay stopped at %u", max, t);
	}
}

/* A pool's cache has target_min == target_max (the whole pool): it neither grows nor
 * decays. */
Test(depot_target, a_pool_target_stays_put)
{
	struct cache c = {0};

	c.target_min = c.target_max = 7;
	cr_expect_eq(depot_target_grown(&c, 7), 7);
	cr_expect_eq(depot_target_decayed(&c, 7), 7);
}
