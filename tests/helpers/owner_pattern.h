/* SPDX-License-Identifier: MIT */
/*
 * owner_pattern.h - the owner pattern the torture tests (tests/stress/test_death.c,
 * tests/integration/test_restart.c) stamp into every object they hold and check before
 * they free it: an object handed out twice, or given back while held, breaks it.
 * Header-only; each test process has its own generator state.
 */
#ifndef SLABD_TEST_OWNER_PATTERN_H
#define SLABD_TEST_OWNER_PATTERN_H

#include <stddef.h>
#include <stdint.h>

#include <slabd/slabd.h>

static uint64_t rng_state;

/* xorshift64*: cheap, and different per process once seeded with its pid */
static inline uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

struct obj {
	uint64_t *p;
	size_t words; /* at least 3: three distinct words are stamped */
	uint64_t tag; /* owner and sequence number */
	int named;    /* from the named cache, else kmalloc */
};

static inline void stamp(struct obj *o)
{
	o->p[0] = o->tag;
	o->p[o->words / 2] = ~o->tag;
	o->p[o->words - 1] = o->tag ^ 0x5555;
}

static inline int intact(const struct obj *o)
{
	return o->p[0] == o->tag && o->p[o->words / 2] == ~o->tag && o->p[o->words - 1] == (o->tag ^ 0x5555);
}

/* A bulk round trip of 16 objects of @nc, each stamped with @pid and its index and
 * checked before the bulk free: 0, -1 (the allocation failed) or -2 (one was overwritten:
 * handed out twice). */
static inline int bulk_round_trip(struct kmem_cache *nc, uint64_t pid)
{
	void *bulk[16];
	int k;

	if (kmem_cache_alloc_bulk(nc, GFP_KERNEL, 16, bulk) != 16)
		return -1;
	for (k = 0; k < 16; k++)
		*(uint64_t *)bulk[k] = pid | (uint64_t)k;
	for (k = 0; k < 16; k++)
		if (*(uint64_t *)bulk[k] != (pid | (uint64_t)k))
			return -2;
	kmem_cache_free_bulk(nc, 16, bulk);
	return 0;
}

#endif
