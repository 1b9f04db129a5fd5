/* SPDX-License-Identifier: MIT */
/*
 * buddy.h - the per-zone page allocator: a binary buddy system over page indexes
 * 0..nr_pages-1, as the kernel's (mm/page_alloc.c).
 *
 * Daemon-private (never in shared memory). Not thread-safe: the zone lock protects it.
 * Invariant: the free blocks are disjoint, each 2^order pages long and aligned to its
 * size; nr_free == sum of their sizes; two free buddies of the same order never coexist
 * (they are merged on free).
 */
#ifndef SLABD_DAEMON_BUDDY_H
#define SLABD_DAEMON_BUDDY_H

#include <stdint.h>

#include "slabd_shm.h"

#define BUDDY_MAX_ORDER SLABD_LARGE_MAX_ORDER /* 2^24 pages = 64 GiB per block; clients know it */

struct buddy {
	uint32_t nr_pages;
	uint32_t nr_free;
	uint32_t head[BUDDY_MAX_ORDER + 1]; /* first free block of each order, +1 (0: none) */
	uint32_t *next, *prev;              /* free-list links per page, +1 (0: none) */
	uint8_t *state;                     /* order + 1 at the first page of a free block, else 0 */
};

int buddy_init(struct buddy *b, uint32_t nr_pages); /* all pages free; 0 or -ENOMEM */
int buddy_init_used(struct buddy *b, uint32_t nr_pages); /* no page free (a restart frees them) */
void buddy_destroy(struct buddy *b);
/* buddy_alloc: a block of 2^order pages; its first page index, or -1. */
int64_t buddy_alloc(struct buddy *b, unsigned int order);
void buddy_free(struct buddy *b, uint32_t page, unsigned int order);
/* buddy_alloc_exact: @n pages (not rounded to a power of two: the tail of the block is
 * freed again); first page or -1. buddy_free_exact gives them back. */
int64_t buddy_alloc_exact(struct buddy *b, uint32_t n);
void buddy_free_exact(struct buddy *b, uint32_t page, uint32_t n);
/* buddy_is_free: whether @page lies in a free block (O(log n), for checks and tests). */
int buddy_is_free(const struct buddy *b, uint32_t page);
/* buddy_free_order_at: the order of the free block containing @page, -1 if in use. */
int buddy_free_order_at(const struct buddy *b, uint32_t page);
/* buddy_order_for: the smallest order holding @n pages. */
unsigned int buddy_order_for(uint32_t n);
/* buddy_largest_free: order of the largest free block, -1 if none. */
int buddy_largest_free(const struct buddy *b);

#endif
