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

#endif
