/* SPDX-License-Identifier: MIT */
/* buddy.c - see buddy.h. */
#include <errno.h>
#include <stdlib.h>

#include "buddy.h"

unsigned int buddy_order_for(uint32_t n)
{
	unsigned int o = 0;
	while (((uint64_t)1 << o) < n)
		o++;
	return o;
}

static void list_add(struct buddy *b, uint32_t page, unsigned int order)
{
	uint32_t h = b->head[order];
	b->next[page] = h;
	b->prev[page] = 0;
	if (h)
		b->prev[h - 1] = page + 1;
	b->head[order] = page + 1;
	b->state[page] = (uint8_t)(order + 1);
}

static void list_del(struct buddy *b, uint32_t page, unsigned int order)
{
	uint32_t n = b->next[page], p = b->prev[page];
	if (p)
		b->next[p - 1] = n;
	else
		b->head[order] = n;
	if (n)
		b->prev[n - 1] = p;
	b->state[page] = 0;
}

void buddy_free(struct buddy *b, uint32_t page, unsigned int order)
{
	b->nr_free += 1u << order;
	while (order < BUDDY_MAX_ORDER) {
		uint32_t buddy = page ^ (1u << order);
		if ((uint64_t)buddy + (1u << order) > b->nr_pages || b->state[buddy] != order + 1)
			break;
		list_del(b, buddy, order);
		if (buddy < page)
			page = buddy;
		order++;
	}
	list_add(b, page, order);
}

void buddy_free_exact(struct buddy *b, uint32_t page, uint32_t n)
{
	while (n) {
		unsigned int o = 0;
		while (o < BUDDY_MAX_ORDER && !(page & (1u << o)) && (2u << o) <= n)
			o++;
		buddy_free(b, page, o);
		page += 1u << o;
		n -= 1u << o;
	}
}

int buddy_init(struct buddy *b, uint32_t nr_pages)
{
	int r = buddy_init_used(b, nr_pages);

	if (r == 0)
		buddy_free_exact(b, 0, nr_pages);
	return r;
}

int buddy_init_used(struct buddy *b, uint32_t nr_pages)
{
	unsigned int i;

	b->nr_pages = nr_pages;
	b->nr_free = 0;
	for (i = 0; i <= BUDDY_MAX_ORDER; i++)
		b->head[i] = 0;
	b->next = calloc(nr_pages ? nr_pages : 1, sizeof(uint32_t));
	b->prev = calloc(nr_pages ? nr_pages : 1, sizeof(uint32_t));
	b->state = calloc(nr_pages ? nr_pages : 1, 1);
	if (!b->next || !b->prev || !b->state) {
		buddy_destroy(b);
		return -ENOMEM;
	}
	return 0;
}

void buddy_destroy(struct buddy *b)
{
	free(b->next);
	free(b->prev);
	free(b->state);
	b->next = b->prev = NULL;
	b->state = NULL;
}

int64_t buddy_alloc(struct buddy *b, unsigned int order)
{
	unsigned int o = order;
	uint32_t page;

	if (order > BUDDY_MAX_ORDER)
		return -1;
	while (o <= BUDDY_MAX_ORDER && !b->head[o])
		o++;
	if (o > BUDDY_MAX_ORDER)
		return -1;
	page = b->head[o] - 1;
	list_del(b, page, o);
	while (o > order) { /* split: keep the lower half, free the upper */
		o--;
		list_add(b, page + (1u << o), o);
	}
	b->nr_free -= 1u << order;
	return page;
}

int64_t buddy_alloc_exact(struct buddy *b, uint32_t n)
{
	unsigned int order = buddy_order_for(n);
	int64_t page;

	if (!n)
		return -1;
	page = buddy_alloc(b, order);
	if (page >= 0 && (1u << order) > n)
		buddy_free_exact(b, (uint32_t)page + n, (1u << order) - n);
	return page;
}

int buddy_free_order_at(const struct buddy *b, uint32_t page)
{
	unsigned int o;

	if (page >= b->nr_pages)
		return -1;
	for (o = 0; o <= BUDDY_MAX_ORDER; o++) {
		uint32_t start = page & ~((1u << o) - 1);
		if (b->state[start] == o + 1)
			return (int)o;
	}
	return -1;
}

int buddy_is_free(const struct buddy *b, uint32_t page)
{
	unsigned int o;

	if (page >= b->nr_pages)
		return 0;
	for (o = 0; o <= BUDDY_MAX_ORDER; o++) {
		uint32_t start = page & ~((1u << o) - 1);
		if (b->state[start] == o + 1)
			return 1;
	}
	return 0;
}

int buddy_largest_free(const struct buddy *b)
{
	int o;
	for (o = BUDDY_MAX_ORDER; o >= 0; o--)
		if (b->head[o])
			return o;
	return -1;
}
