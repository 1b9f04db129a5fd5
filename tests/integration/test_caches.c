/* SPDX-License-Identifier: MIT */
/*
 * test_caches.c - named caches shared between processes, geometry checks, bulk
 * operations (counts, no duplicates, all or nothing), shrink and destroy giving memory
 * back, destroy refused while objects are live.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "audit_helper.h"
#include "daemon_helper.h"
#include "slabd_ops.h"
#include "slabd_shm.h"
#include "slabd_wire.h"

static struct test_daemon td;

static void start(const char *const *sets)
{
	cr_assert_eq(td_start(&td, sets), 0, "slabd did not start");
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
}

static void up(void)
{
	start(NULL);
}

static void down(void)
{
	cr_expect(td_alive(&td), "slabd died during the test");
	cr_expect_eq(td_stop(&td), 0);
}

TestSuite(caches, .init = up, .fini = down, .timeout = 60);

static const struct slabd_shm_super *super(void)
{
	struct slabd_attach_info ai;
	cr_assert_eq(slabd_attach_info(&ai), 0);
	return (const struct slabd_shm_super *)(uintptr_t)ai.base;
}

/* The id of cache @name in the shared cache table, -1 if it is not active. */
static int cache_id(const char *name)
{
	const struct slabd_shm_super *sb = super();
	const struct slabd_shm_cache *tab = (const void *)((const char *)sb + sb->cache_table_off);
	uint32_t id;

	for (id = 1; id < sb->max_caches; id++)
		if (tab[id].state == SLABD_CACHE_ACTIVE && !strcmp(tab[id].name, name))
			return (int)id;
	return -1;
}

/* Pages of the zones that belong to slabs of cache @id. */
static uint32_t slab_pages(int id)
{
	const struct slabd_shm_super *sb = super();
	const struct slabd_shm_page *pg = (const void *)((const char *)sb + sb->page_table_off);
	uint32_t p, n = 0;

	for (p = 0; p < sb->nr_pages; p++)
		n += pg[p].kind == SLABD_PAGE_SLAB && pg[p].cache == id;
	return n;
}

/* The objects on every CPU's stack of cache @id. */
static uint32_t stacked(int id)
{
	const struct slabd_shm_super *sb = super();
	const char *b = (const char *)sb;
	uint32_t cpu, pc = 0;

	for (cpu = 0; cpu < sb->nr_cpus; cpu++)
		pc += __atomic_load_n(
		    &((const struct slabd_shm_pcpu *)(b + sb->percpu_off +
						      slabd_shm_pcpu_cache_off(sb, (uint32_t)id) +
						      ((uint64_t)cpu << SLABD_PCPU_SHIFT)))
			 ->count,
		    __ATOMIC_RELAXED);
	return pc;
}

/* Where the free objects of cache @id are, for failure messages. */
static const char *where(int id)
{
	static char buf[256];
	const struct slabd_shm_super *sb = super();
	const char *b = (const char *)sb;
	const struct slabd_shm_depot *dp = (const void *)(b + sb->percpu_off + sb->depot_off);
	uint32_t pc = stacked(id);

	dp += slabd_shm_depot_index(sb, (uint32_t)id, 0);
	snprintf(buf, sizeof(buf), " (per-CPU stacks hold %u, depot %u magazines, reserve %u, free chain %s)", pc,
		 slabd_stack_count(dp->full), slabd_stack_count(dp->reserve), dp->freelist ? "non-empty" : "empty");
	return buf;
}

static int wait_status(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

Test(caches, a_cache_is_shared_by_name_across_processes)
{
	int pfd[2];
	uint64_t offs[100];
	pid_t a, b;
	int i;

	cr_assert_eq(pipe(pfd), 0);
	a = fork(); /* creates and allocates */
	if (a == 0) {
		struct kmem_cache *s = kmem_cache_create("shared-obj", 72, 0, 0, NULL);
		if (!s)
			_exit(2);
		for (i = 0; i < 100; i++) {
			uint32_t *o = kmem_cache_alloc(s, GFP_KERNEL);
			if (!o)
				_exit(3);
			o[0] = 0xabc00000u + (uint32_t)i;
			offs[i] = slabd_ptr_to_off(o);
		}
		_exit(write(pfd[1], offs, sizeof(offs)) == sizeof(offs) ? 0 : 4);
	}
	cr_assert_eq(wait_status(a), 0);
	cr_assert_eq(read(pfd[0], offs, sizeof(offs)), (ssize_t)sizeof(offs));
	b = fork(); /* looks it up by name, allocates, and frees the first process's objects */
	if (b == 0) {
		struct kmem_cache *s = kmem_cache_lookup("shared-obj");
		void *o;
		if (!s || kmem_cache_size(s) != 72)
			_exit(2);
		o = kmem_cache_alloc(s, GFP_KERNEL);
		if (!o || ksize(o) != 72)
			_exit(3);
		for (i = 0; i < 100; i++) {
			uint32_t *p = slabd_off_to_ptr(offs[i]);
			if (p[0] != 0xabc00000u + (uint32_t)i)
				_exit(4);
			kmem_cache_free(s, p);
		}
		kmem_cache_free(s, o);
		_exit(0);
	}
	cr_assert_eq(wait_status(b), 0, "the second process could not use the shared cache");
	cr_assert(td_log_contains(&td, "cache shared-obj created"));
}

Test(caches, same_geometry_returns_the_cache_another_gives_EEXIST)
{
	struct kmem_cache *a = kmem_cache_create("geo", 100, 16, 0, NULL), *b;

	cr_assert_not_null(a, "%s", slabd_last_error());
	b = kmem_cache_create("geo", 100, 16, 0, NULL);
	cr_assert_eq(b, a, "the same name and geometry must give the same cache");
	errno = 0;
	cr_assert_null(kmem_cache_create("geo", 101, 16, 0, NULL));
	cr_assert_eq(errno, EEXIST);
	cr_assert_null(kmem_cache_create("geo", 100, 32, 0, NULL));
	cr_assert_eq(errno, EEXIST);
	cr_assert_null(kmem_cache_create("geo", 100, 16, SLAB_HWCACHE_ALIGN, NULL));
	cr_assert_eq(errno, EEXIST);
	/* the kmalloc caches are found by name too */
	cr_assert_not_null(kmem_cache_lookup("kmalloc-64"));
	cr_assert_null(kmem_cache_lookup("no-such-cache"));
	cr_assert_eq(errno, ENOENT);
}

/* Hide a count from the optimiser: the bulk calls then take their run-time-count path. */
static size_t runtime(size_t n)
{
	__asm__ volatile("" : "+r"(n));
	return n;
}

static void ctor(void *p)
{
	memset(p, 1, 8);
}

Test(caches, constructors_and_unknown_flags_are_refused_with_a_reason)
{
	errno = 0;
	cr_assert_null(kmem_cache_create("with-ctor", 64, 0, 0, ctor));
	cr_assert_eq(errno, EINVAL);
	cr_assert(strstr(slabd_last_error(), "constructors") != NULL, "%s", slabd_last_error());
	cr_assert_null(kmem_cache_create("unknown-flag", 64, 0, 0x00100000u, NULL)); /* SLAB_* debug flags are known */
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(kmem_cache_create("a-name-that-is-much-too-long-for-slabd", 64, 0, 0, NULL));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(kmem_cache_create("huge", 1 << 20, 0, 0, NULL)); /* > max_cache_size */
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(kmem_cache_create("odd-align", 64, 24, 0, NULL));
	cr_assert_eq(errno, EINVAL);
}

/* A handle that is not one of this process's (a copy of a real one, elsewhere in memory)
 * takes no inline path: alloc, bulk alloc and the frees go to the library, which refuses
 * it with EINVAL and leaves the real cache untouched. */
Test(caches, a_handle_from_outside_the_table_is_refused_inline_too)
{
	struct kmem_cache *real = kmem_cache_create("real-handle", 64, 0, 0, NULL);
	static char copy[64] __attribute__((aligned(16)));
	struct kmem_cache *fake = (struct kmem_cache *)copy;
	void *v[8], *p;

	cr_assert_not_null(real);
	p = kmem_cache_alloc(real, GFP_KERNEL);
	cr_assert_not_null(p);
	memcpy(copy, real, 16); /* id and stacks: what the inline code would read */
	errno = 0;
	cr_assert_null(kmem_cache_alloc(fake, GFP_KERNEL));
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_eq(kmem_cache_alloc_bulk(fake, GFP_KERNEL, 8, v), 0);
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_eq(kmem_cache_alloc_bulk(fake, GFP_KERNEL, runtime(5), v), 0);
	cr_assert_eq(errno, EINVAL);
	kmem_cache_free(real, p);
	errno = 0;
	kmem_cache_destroy(real);
	cr_assert_eq(errno, 0, "objects lost or left live: %s", slabd_last_error());
}

/* kmem_cache_size() is what a user may write to an object. With a debug trailer
 * (SLAB_RED_ZONE, SLAB_STORE_USER) the stride also holds the red zone and the owner
 * record: the size reported is the object's, as ksize() reports it, and writing that
 * many bytes is no red zone overwrite. */
Test(caches, kmem_cache_size_of_a_cache_with_a_debug_trailer_is_the_usable_size)
{
	static const slab_flags_t fl[] = { SLAB_RED_ZONE, SLAB_STORE_USER, SLAB_RED_ZONE | SLAB_STORE_USER };
	static const char *const names[] = { "trailer-rz", "trailer-su", "trailer-both" };
	unsigned int i;

	for (i = 0; i < 3; i++) {
		struct kmem_cache *s = kmem_cache_create(names[i], 100, 0, fl[i], NULL);
		void *p;

		cr_assert_not_null(s, "%s: %s", names[i], slabd_last_error());
		p = kmem_cache_alloc(s, GFP_KERNEL);
		cr_assert_not_null(p);
		cr_assert_eq(kmem_cache_size(s), ksize(p), "%s: kmem_cache_size %u, ksize %zu", names[i],
			     kmem_cache_size(s), ksize(p));
		cr_assert_geq(kmem_cache_size(s), 100);
		memset(p, 0x5a, kmem_cache_size(s));
		kmem_cache_free(s, p);
		cr_assert(strstr(slabd_last_error(), "red zone") == NULL, "%s: %s", names[i], slabd_last_error());
		errno = 0;
		kmem_cache_destroy(s);
		cr_assert_eq(errno, 0, "%s: %s", names[i], slabd_last_error());
	}
}

Test(caches, alignment_and_hwcache_align_are_honoured)
{
	struct kmem_cache *a = kmem_cache_create("al256", 100, 256, 0, NULL);
	struct kmem_cache *h = kmem_cache_create("hw", 24, 0, SLAB_HWCACHE_ALIGN, NULL);
	int i;

	cr_assert_not_null(a);
	cr_assert_not_null(h);
	cr_assert_eq(kmem_cache_size(a), 256);
	cr_assert_eq(kmem_cache_size(h), 64);
	for (i = 0; i < 200; i++) {
		void *p = kmem_cache_alloc(a, GFP_KERNEL), *q = kmem_cache_zalloc(h, GFP_KERNEL);
		cr_assert_not_null(p);
		cr_assert_not_null(q);
		cr_assert_eq((uintptr_t)p % 256, 0, "%p", p);
		cr_assert_eq((uintptr_t)q % 64, 0, "%p", q);
		cr_assert_eq(((char *)q)[63], 0, "zalloc did not zero");
		memset(q, 0xee, 64);
		kmem_cache_free(a, p);
		kmem_cache_free(h, q);
	}
}

Test(caches, bulk_allocation_gives_distinct_objects_and_frees_them)
{
	enum { N = 5000 };
	struct kmem_cache *s = kmem_cache_create("bulk", 48, 0, 0, NULL);
	void **v = calloc(N, sizeof(*v));
	int i, round;

	cr_assert_not_null(s);
	for (round = 0; round < 3; round++) {
		cr_assert_eq(kmem_cache_alloc_bulk(s, GFP_KERNEL, N, v), N);
		for (i = 0; i < N; i++) {
			cr_assert_not_null(v[i]);
			cr_assert_eq(ksize(v[i]), 48);
			*(uint64_t *)v[i] = (uint64_t)i;
		}
		for (i = 0; i < N; i++)
			cr_assert_eq(*(uint64_t *)v[i], (uint64_t)i, "object %d shared with another", i);
		kmem_cache_free_bulk(s, N, v);
	}
	cr_assert_eq(kmem_cache_alloc_bulk(s, GFP_KERNEL, 0, v), 0);
	free(v);
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return x < y ? -1 : x > y;
}

/* @n objects of @v: none NULL, none twice, each of the cache's size; each gets its index. */
static void check_distinct(void **v, int n, size_t size)
{
	void **sorted = calloc((size_t)n, sizeof(*sorted));
	int i;

	cr_assert_not_null(sorted);
	for (i = 0; i < n; i++) {
		cr_assert_not_null(v[i], "object %d of %d is NULL", i, n);
		cr_assert_eq(ksize(v[i]), size, "object %d of %d: ksize %zu", i, n, ksize(v[i]));
		*(uint64_t *)v[i] = (uint64_t)i;
	}
	memcpy(sorted, v, (size_t)n * sizeof(*v));
	qsort(sorted, (size_t)n, sizeof(*sorted), cmp_ptr);
	for (i = 1; i < n; i++)
		cr_assert_neq(sorted[i - 1], sorted[i], "%p handed out twice among %d", sorted[i], n);
	for (i = 0; i < n; i++)
		cr_assert_eq(*(uint64_t *)v[i], (uint64_t)i, "object %d of %d shared", i, n);
	free(sorted);
}

/* Whether @a and @b hold the same @n pointers, in any order. */
static int same_set(void **a, void **b, int n)
{
	void *x[64], *y[64];

	memcpy(x, a, (size_t)n * sizeof(*a));
	memcpy(y, b, (size_t)n * sizeof(*b));
	qsort(x, (size_t)n, sizeof(*x), cmp_ptr);
	qsort(y, (size_t)n, sizeof(*y), cmp_ptr);
	return !memcmp(x, y, (size_t)n * sizeof(*x));
}

/* n objects in bulk, n an int expression: a constant takes the inline, unrolled sequences
 * when optimising, a runtime() count the inline block copies. n distinct objects; freeing
 * them puts exactly them on this CPU's stack, so the next bulk allocation of n gets the
 * same ones back (retried: a migration to another CPU between the two calls legitimately
 * gives others). */
#define BULK_ROUNDS(s, N, size)                                                                    \
	do {                                                                                       \
		void *a_[N], *b_[N];                                                               \
		int try_, same_ = 0;                                                               \
		for (try_ = 0; try_ < 20 && !same_; try_++) {                                      \
			cr_assert_eq(kmem_cache_alloc_bulk(s, GFP_KERNEL, N, a_), (int)(N), "bulk of %d", (int)(N)); \
			check_distinct(a_, (int)(N), size);                                        \
			kmem_cache_free_bulk(s, N, a_);                                            \
			cr_assert_eq(kmem_cache_alloc_bulk(s, GFP_KERNEL, N, b_), (int)(N), "bulk of %d", (int)(N)); \
			check_distinct(b_, (int)(N), size);                                        \
			same_ = same_set(a_, b_, (int)(N));                                        \
			kmem_cache_free_bulk(s, N, b_);                                            \
		}                                                                                  \
		cr_assert(same_, "a bulk free of %d never gave back the same objects in 20 tries", (int)(N)); \
	} while (0)

Test(caches, bulk_of_a_constant_count_moves_exactly_its_objects)
{
	enum { HELD = 320 };
	struct kmem_cache *s = kmem_cache_create("bulk-const", 40, 0, 0, NULL);
	static void *held[HELD];
	int i, rep;

	cr_assert_not_null(s);
	BULK_ROUNDS(s, 2, 40);
	BULK_ROUNDS(s, 7, 40);
	BULK_ROUNDS(s, 8, 40);
	BULK_ROUNDS(s, 31, 40);
	BULK_ROUNDS(s, 32, 40);
	/* More than a per-CPU stack holds, in constant bulks of 32: the inline pops run the
	 * stack dry and the inline pushes fill it, so some of each fall back to the library
	 * (all or nothing); nothing is lost or handed out twice. */
	for (rep = 0; rep < 3; rep++) {
		for (i = 0; i < HELD; i += 32)
			cr_assert_eq(kmem_cache_alloc_bulk(s, GFP_KERNEL, 32, held + i), 32);
		check_distinct(held, HELD, 40);
		for (i = 0; i < HELD; i += 32)
			kmem_cache_free_bulk(s, 32, held + i);
	}
	for (i = 0; i < HELD; i += 8)
		cr_assert_eq(kmem_cache_alloc_bulk(s, GFP_KERNEL, 8, held + i), 8);
	check_distinct(held, HELD, 40);
	for (i = 0; i < HELD; i += 8)
		kmem_cache_free_bulk(s, 8, held + i);
	errno = 0;
	kmem_cache_destroy(s);
	cr_assert_eq(errno, 0, "destroy after the constant bulks: %s (objects lost or still live?)",
		     slabd_last_error());
}

/* A count known only at run time (the inline block copies of any length, the library for
 * what the stack cannot give or take): every n from 1 to 40, and partial takes across the
 * stack's bottom and top, move exactly their objects and lose none. */
Test(caches, bulk_of_a_run_time_count_moves_exactly_its_objects)
{
	enum { HELD = 400 };
	struct kmem_cache *s = kmem_cache_create("bulk-rt", 40, 0, 0, NULL);
	static void *held[HELD];
	size_t n, i, k;
	int rep;

	cr_assert_not_null(s);
	for (n = 1; n <= 40; n++)
		BULK_ROUNDS(s, (int)runtime(n), 40);
	/* odd lengths that straddle the stack's empty bottom and full top */
	for (rep = 0; rep < 3; rep++) {
		for (i = 0, k = 1; i < HELD; i += k, k = k % 37 + 3) {
			size_t m = i + k <= HELD ? k : HELD - i;
			cr_assert_eq(kmem_cache_alloc_bulk(s, GFP_KERNEL, runtime(m), held + i), (int)m);
		}
		check_distinct(held, HELD, 40);
		for (i = 0, k = 5; i < HELD; i += k, k = k % 41 + 2)
			kmem_cache_free_bulk(s, runtime(i + k <= HELD ? k : HELD - i), held + i);
	}
	errno = 0;
	kmem_cache_destroy(s);
	cr_assert_eq(errno, 0, "destroy after the run-time bulks: %s (objects lost or still live?)",
		     slabd_last_error());
}

Test(caches, shrink_gives_the_empty_slabs_back)
{
	enum { N = 20000 };
	struct kmem_cache *s = kmem_cache_create("shrinkme", 128, 0, 0, NULL);
	void **v = calloc(N, sizeof(*v));
	int id = cache_id("shrinkme");
	uint32_t before;

	cr_assert_geq(id, 0);
	cr_assert_eq(kmem_cache_alloc_bulk(s, GFP_KERNEL, N, v), N);
	before = slab_pages(id);
	cr_assert_geq(before, N * 128 / 4096, "%u slab pages for %d objects", before, N);
	kmem_cache_free_bulk(s, N, v);
	cr_assert_eq(kmem_cache_shrink(s), 0);
	cr_assert_eq(slab_pages(id), 0, "%u of %u slab pages left after shrink%s", slab_pages(id), before,
		     where(id));
	/* and the cache still works */
	cr_assert_eq(kmem_cache_alloc_bulk(s, GFP_KERNEL, 10, v), 10);
	kmem_cache_free_bulk(s, 10, v);
	free(v);
}

/* A built-in kmalloc cache belongs to the daemon: destroying it is refused with EPERM, and
 * slabd_last_error() says so rather than keeping the message of an older failure. */
Test(caches, destroying_a_kmalloc_cache_is_refused_and_says_why)
{
	static const char *const names[] = {"kmalloc-64", "kmalloc-8k"};
	unsigned int i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct kmem_cache *k = kmem_cache_lookup(names[i]);
		void *p;

		cr_assert_not_null(k, "%s: %s", names[i], slabd_last_error());
		/* an earlier failure leaves its own message */
		cr_assert_null(kmem_cache_create("with-ctor", 64, 0, 0, (void (*)(void *))abort));
		cr_assert(strstr(slabd_last_error(), "constructors") != NULL, "%s", slabd_last_error());
		errno = 0;
		kmem_cache_destroy(k);
		cr_assert_eq(errno, EPERM, "%s: errno %d", names[i], errno);
		cr_assert(strstr(slabd_last_error(), "constructors") == NULL,
			  "%s: the refusal kept the old message: %s", names[i], slabd_last_error());
		cr_assert(strstr(slabd_last_error(), names[i]) != NULL, "the message does not name %s: %s",
			  names[i], slabd_last_error());
		cr_assert(strstr(slabd_last_error(), "built-in") != NULL, "the message does not say why: %s",
			  slabd_last_error());
		/* and the cache is still there */
		cr_assert_eq(kmem_cache_lookup(names[i]), k);
		p = kmem_cache_alloc(k, GFP_KERNEL);
		cr_assert_not_null(p);
		kmem_cache_free(k, p);
	}
}

Test(caches, destroy_refuses_while_objects_are_live_then_gives_memory_back)
{
	struct kmem_cache *s = kmem_cache_create("mortal", 200, 0, 0, NULL);
	void *v[300];
	int id = cache_id("mortal"), i;

	cr_assert_eq(kmem_cache_alloc_bulk(s, GFP_KERNEL, 300, v), 300);
	kmem_cache_free_bulk(s, 290, v);
	errno = 0;
	kmem_cache_destroy(s);
	cr_assert_eq(errno, EBUSY);
	cr_assert(strstr(slabd_last_error(), "10 objects") != NULL, "%s", slabd_last_error());
	cr_assert(td_log_contains(&td, "kmem_cache_destroy(mortal)"), "the daemon did not report the live objects");
	/* still there and usable, for us and for lookups */
	cr_assert_eq(kmem_cache_lookup("mortal"), s);
	v[0] = kmem_cache_alloc(s, GFP_KERNEL);
	cr_assert_not_null(v[0]);
	kmem_cache_free(s, v[0]);
	for (i = 290; i < 300; i++)
		kmem_cache_free(s, v[i]);
	errno = 0;
	kmem_cache_destroy(s);
	cr_assert_eq(errno, 0, "destroy failed: %s", slabd_last_error());
	cr_assert_null(kmem_cache_lookup("mortal"));
	cr_assert_eq(slab_pages(id), 0, "the destroyed cache still holds %u pages", slab_pages(id));
	/* the name can be used again, with another geometry */
	s = kmem_cache_create("mortal", 40, 0, 0, NULL);
	cr_assert_not_null(s);
	cr_assert_eq(kmem_cache_size(s), 40);
}

static void up_small(void)
{
	static const char *const small[] = { "zone_size=2M", NULL };
	start(small);
}

Test(small_zone, bulk_allocation_is_all_or_nothing_when_memory_runs_out, .init = up_small, .fini = down,
     .timeout = 60)
{
	struct kmem_cache *s;
	static void *v[1024];
	int id;

	s = kmem_cache_create("big4k", 4096, 0, 0, NULL);
	cr_assert_not_null(s);
	id = cache_id("big4k");
	/* 2 MiB hold at most 512 such objects */
	errno = 0;
	cr_assert_eq(kmem_cache_alloc_bulk(s, GFP_KERNEL | __GFP_NORETRY, 1000, v), 0);
	cr_assert_eq(errno, ENOMEM);
	/* nothing was kept: everything can be taken back */
	cr_assert_eq(kmem_cache_shrink(s), 0);
	cr_assert_eq(slab_pages(id), 0, "a failed bulk allocation kept %u pages%s", slab_pages(id), where(id));
	cr_assert_eq(kmem_cache_alloc_bulk(s, GFP_KERNEL | __GFP_NORETRY, 300, v), 300);
	kmem_cache_free_bulk(s, 300, v);
}

/* Fill a 4 KiB cache of the 2 MiB zone, free ten onto this CPU's stack, then ask for a bulk
 * of @n32 (32) with __GFP_NORETRY: the inline pop takes the ten, the rest cannot be had, so
 * the call fails and exactly the ten are still there; then @n10 (10) go back and a bulk of
 * @n8 (8) is served from them. Inlined, so constant arguments reach <slabd/kmalloc.h> as
 * constants (the unrolled sequences) and runtime() ones as run-time counts. */
static inline __attribute__((always_inline)) void bulk_all_or_nothing(const char *name, size_t n32, size_t n10,
								       size_t n8)
{
	struct kmem_cache *s;
	static void *v[1024], *w[32];
	int n = 0, i, again = 0;

	s = kmem_cache_create(name, 4096, 0, 0, NULL);
	cr_assert_not_null(s);
	while (n < 1024 && (v[n] = kmem_cache_alloc(s, GFP_KERNEL | __GFP_NORETRY)))
		n++;
	cr_assert(n > 20 && n < 1024, "filled %d", n);
	for (i = 0; i < 10; i++)
		kmem_cache_free(s, v[--n]); /* ten on this CPU's stack, nothing else left */
	errno = 0;
	cr_assert_eq(kmem_cache_alloc_bulk(s, GFP_KERNEL | __GFP_NORETRY, n32, w), 0);
	cr_assert_eq(errno, ENOMEM);
	/* exactly the ten are still there to be had */
	while (again < 32 && (w[again] = kmem_cache_alloc(s, GFP_KERNEL | __GFP_NORETRY)))
		again++;
	cr_assert_eq(again, 10, "after a failed bulk of 32, %d objects were left instead of 10", again);
	kmem_cache_free_bulk(s, n10, w);
	cr_assert_eq(kmem_cache_alloc_bulk(s, GFP_KERNEL | __GFP_NORETRY, n8, w), 8, "inline bulk of 8 from the ten");
	kmem_cache_free_bulk(s, n8, w);
	while (n)
		kmem_cache_free(s, v[--n]);
}

/* The same with a count known at compile time, which <slabd/fast.h> tries inline first:
 * what the inline pop got must go back when the rest cannot be had. */
Test(small_zone, an_inline_bulk_of_a_constant_count_is_all_or_nothing_too, .init = up_small, .fini = down,
     .timeout = 60)
{
	bulk_all_or_nothing("big4k-inline", 32, 10, 8);
}

/* And with a count known only at run time: the inline block pop takes the ten, the library
 * cannot get the rest, and the ten go back. */
Test(small_zone, an_inline_bulk_of_a_run_time_count_is_all_or_nothing_too, .init = up_small, .fini = down,
     .timeout = 60)
{
	bulk_all_or_nothing("big4k-rt", runtime(32), runtime(10), runtime(7) + 1);
}

/* Pin the calling thread to @cpu. */
static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	cr_assert_eq(sched_setaffinity(0, sizeof(set), &set), 0, "pin to CPU %d", cpu);
}

/* The allocation misses, or the free misses, of (@id, @cpu) so far. */
static uint32_t misses(int id, int cpu, int on_free)
{
	const struct slabd_shm_super *sb = super();
	const struct slabd_shm_pcpu_stat *st =
	    (const void *)((const char *)sb + sb->percpu_off + sb->pcpu_stat_off);
	const struct slabd_shm_pcpu_stat *e =
	    &st[slabd_shm_pcpu_stat_index(sb->max_caches, (uint32_t)id, (uint32_t)cpu)];

	return __atomic_load_n(on_free ? &e->free_misses : &e->alloc_misses, __ATOMIC_RELAXED);
}

/* The objects in the magazines on depot @d's full stack (walked from its top, each index
 * checked); the largest count into *@biggest. */
static uint64_t depot_objects(const struct slabd_shm_super *sb, struct slabd_shm_depot *d,
			      const struct slabd_shm_mag *mags, uint32_t *biggest)
{
	uint32_t top = slabd_stack_top(__atomic_load_n(&d->full, __ATOMIC_ACQUIRE)), k;
	uint64_t n = 0;

	for (k = 0; top && top <= sb->nr_mags && k < sb->nr_mags; k++, top = mags[top - 1].next) {
		n += mags[top - 1].count;
		if (mags[top - 1].count > *biggest)
			*biggest = mags[top - 1].count;
	}
	return n;
}

/* The objects the daemon's STATS reply counts in cache @id's depots. */
static uint64_t depot_objects_said(uint32_t id)
{
	struct slabd_wire_stats_req q;
	struct slabd_wire_stats st;

	memset(&q, 0, sizeof(q));
	slabd_wire_init(&q.hdr, SLABD_MSG_STATS, sizeof(q), 1);
	q.cache = id;
	cr_assert_eq(td_request(&td, &q, sizeof(q), &st, sizeof(st), SLABD_MSG_STATS_REPLY), 0, "no STATS_REPLY");
	cr_assert_eq(st.err, 0);
	cr_assert_gt(st.object_size, 0);
	return st.in_depot / st.object_size;
}

/*
 * A handoff: CPU 0 allocates, CPU 1 frees. CPU 1's misses are one-sided, so after the
 * first few it sends its whole stack in one magazine, more than an ordinary miss's
 * SLABD_MAG_BATCH objects; CPU 0's one-sided misses take such a magazine with one pop,
 * so it misses about once per stackful. Nothing is lost or handed out twice, and the
 * audit agrees.
 */
Test(caches, a_handoffs_freeing_cpu_sends_whole_stacks_and_its_allocating_cpu_takes_them)
{
	enum { N = 6000 };
	static void *v[N], *w[N];
	struct kmem_cache *s;
	struct slabd_shm_depot *d;
	const struct slabd_shm_super *sb;
	struct slabd_shm_mag *mags;
	struct slabd_wire_verify r;
	uint64_t walked[2], depot_stats;
	uint32_t biggest = 0, fm0, am0, fm, am;
	int id, i;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		cr_skip_test("needs two CPUs");
	s = kmem_cache_create("handoff-64", 64, 0, 0, NULL);
	cr_assert_not_null(s, "%s", slabd_last_error());
	id = cache_id("handoff-64");
	cr_assert_gt(id, 0);
	sb = super();
	d = (void *)((char *)sb + sb->percpu_off + sb->depot_off +
		     slabd_shm_depot_index(sb, (uint32_t)id, 0) * sizeof(*d));
	mags = (void *)((char *)sb + sb->percpu_off + sb->mag_off);

	pin(0);
	for (i = 0; i < N; i++)
		cr_assert_not_null(v[i] = kmem_cache_alloc(s, GFP_KERNEL));
	pin(1);
	fm0 = misses(id, 1, 1);
	for (i = 0; i < N; i++)
		kmem_cache_free(s, v[i]);
	fm = misses(id, 1, 1) - fm0;
	/* the magazines now on the depot, top first: the freeing CPU's; and what the daemon
	 * says is there (the magazines' counts, not their number times a batch) */
	walked[0] = depot_objects(sb, d, mags, &biggest);
	depot_stats = depot_objects_said((uint32_t)id);
	walked[1] = depot_objects(sb, d, mags, &biggest);
	cr_assert_gt(biggest, SLABD_MAG_BATCH,
		     "the freeing CPU's magazines hold at most %u objects (%u free misses for %d frees)",
		     biggest, fm, N);
	cr_assert_leq(biggest, SLABD_MAG_SLOTS);
	cr_assert_geq(depot_stats * 4, (walked[0] < walked[1] ? walked[0] : walked[1]) * 3,
		      "the stats say %llu objects in the depot, its magazines hold %llu-%llu",
		      (unsigned long long)depot_stats, (unsigned long long)walked[0],
		      (unsigned long long)walked[1]);
	/* eight ordinary misses make the CPU one-sided; then about one per stack's capacity
	 * (4 x SLABD_MAG_BATCH): with three batches per miss it would be 66 */
	cr_assert_leq(fm, 8 + N / 100, "%u free misses for %d frees", fm, N);

	pin(0);
	am0 = misses(id, 0, 0);
	for (i = 0; i < N; i++)
		cr_assert_not_null(w[i] = kmem_cache_alloc(s, GFP_KERNEL));
	am = misses(id, 0, 0) - am0;
	cr_assert_leq(am, 8 + N / 100, "%u allocation misses for %d objects", am, N);
	fprintf(stderr, "# handoff of %d: %u free misses (largest magazine %u), %u allocation misses\n", N, fm,
		biggest, am);
	memcpy(v, w, sizeof(w));
	qsort(v, N, sizeof(v[0]), cmp_ptr);
	for (i = 1; i < N; i++)
		cr_assert_neq(v[i], v[i - 1], "%p handed out twice", v[i]);
	for (i = 0; i < N; i++)
		kmem_cache_free(s, w[i]);
	cr_assert_eq(td_verify(&td, SLABD_VERIFY_AUDIT, &r), 0);
	cr_assert_eq(r.problems, 0, "the audit found problems: %s", r.first);
	cr_assert_eq(r.double_frees + r.bad_objects + r.bad_mags, 0);
}

/* The daemon's full audit (tests/helpers/audit_helper.h). */
static void audit_clean(void)
{
	td_audit_clean(&td);
}

/* Put objects of @s on the stack of every CPU (this process's affinity is left pinned). */
static void fill_every_cpu(struct kmem_cache *s)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	void *v[16];
	int cpu;

	for (cpu = 0; cpu < cpus && cpu < 64; cpu++) {
		pin(cpu);
		cr_assert_eq(kmem_cache_alloc_bulk(s, GFP_KERNEL, 16, v), 16);
		kmem_cache_free_bulk(s, 16, v);
	}
}

/* A stale handle's calls that must fail cleanly, as bits of a child's exit status (0: all
 * did): the cache @h named was destroyed and cache @id (@name) has its id now. Objects of
 * kmalloc-64 freed through @h go to kmalloc-64, never onto the stacks of the cache that
 * has the id (which the caller left empty: @stacks_empty). */
static int stale_calls_fail(struct kmem_cache *h, int id, const char *name, int stacks_empty)
{
	void *v[8], *k[4];
	int bad = 0, i;

	errno = 0;
	bad |= (kmem_cache_alloc(h, GFP_KERNEL) != NULL || errno != EINVAL) << 0;
	bad |= (strstr(slabd_last_error(), "destroyed") == NULL) << 1;
	errno = 0;
	bad |= (kmem_cache_alloc_bulk(h, GFP_KERNEL, 8, v) != 0 || errno != EINVAL) << 2;
	errno = 0;
	bad |= (kmem_cache_alloc_bulk(h, GFP_KERNEL, runtime(5), v) != 0 || errno != EINVAL) << 2;
	errno = 0;
	bad |= (kmem_cache_alloc_node(h, GFP_KERNEL, 0) != NULL || errno != EINVAL) << 2;
	if (stacks_empty) {
		for (i = 0; i < 4; i++)
			if (!(k[i] = kmalloc(64, GFP_KERNEL)))
				return 1 << 7; /* no kmalloc */
		kmem_cache_free(h, k[0]);
		kmem_cache_free_bulk(h, runtime(3), k + 1);
		bad |= (stacked(id) != 0) << 3;
	}
	bad |= (kmem_cache_size(h) != 0) << 4;
	bad |= (kmem_cache_shrink(h) != -EINVAL) << 5;
	errno = 0;
	kmem_cache_destroy(h);
	bad |= (errno != EINVAL || cache_id(name) != id) << 6;
	return bad;
}

/*
 * Another process destroys "stale-foo" and creates "stale-bar", which gets its id. This
 * process's handle of "stale-foo" is the same pointer as its handle of the id: before
 * the generation it allocated "stale-bar"'s objects (of another size) and freed onto its
 * stacks. Now every call through it fails with EINVAL, also once the new cache's stacks
 * are full on every CPU; objects freed through it go to their own cache; and its own
 * create of "stale-bar" makes it a handle of that cache.
 */
Test(caches, a_stale_handle_in_another_process_fails_cleanly_until_it_creates_the_cache)
{
	struct kmem_cache *foo = kmem_cache_create("stale-foo", 64, 0, 0, NULL), *bar;
	int to_child[2], to_parent[2], id = cache_id("stale-foo"), st;
	char c;
	pid_t pid;

	cr_assert_not_null(foo, "%s", slabd_last_error());
	cr_assert_eq(pipe(to_child), 0);
	cr_assert_eq(pipe(to_parent), 0);
	pid = fork();
	if (pid == 0) {
		struct kmem_cache *h = kmem_cache_lookup("stale-foo"), *h2;
		void *x;
		int bad;

		x = h ? kmem_cache_alloc(h, GFP_KERNEL) : NULL;
		if (!x)
			_exit(1);
		kmem_cache_free(h, x); /* its CPU's stack of the cache holds objects */
		if (write(to_parent[1], "r", 1) != 1 || read(to_child[0], &c, 1) != 1)
			_exit(2);
		/* foo is destroyed, bar has its id, nothing on bar's stacks yet */
		bad = stale_calls_fail(h, id, "stale-bar", 1);
		if (write(to_parent[1], "s", 1) != 1 || read(to_child[0], &c, 1) != 1)
			_exit(2);
		/* bar's objects on every CPU's stack: the cleared handle still misses */
		bad |= stale_calls_fail(h, id, "stale-bar", 0) << 10;
		/* the child's own create of the name makes the handle (per id) live again */
		h2 = kmem_cache_create("stale-bar", 200, 0, 0, NULL);
		bad |= (h2 != h) << 20;
		/* This shape is also a compiler regression test: GCC 12.2 -O2 compiled it into
		 * code that dropped the inline pop's asm goto output (the object) and read x from
		 * a stack slot never written on that path, so the popped object was lost and a
		 * stale value checked and freed (bit 22 set, "1 objects are still allocated" at
		 * the destroy below). GCC bug 113921; <slabd/fast.h>'s
		 * SLABD_ASM_GOTO_OUTPUT_FENCE keeps it from happening. */
		x = h2 ? kmem_cache_alloc(h2, GFP_KERNEL) : NULL;
		bad |= (!x) << 21;
		bad |= (ksize(x) != 200 || kmem_cache_size(h) != 200) << 22;
		kmem_cache_free(h, x);
		_exit(write(to_parent[1], &bad, sizeof(bad)) == sizeof(bad) ? 0 : 2);
	}
	cr_assert_eq(read(to_parent[0], &c, 1), 1);
	errno = 0;
	kmem_cache_destroy(foo);
	cr_assert_eq(errno, 0, "%s", slabd_last_error());
	bar = kmem_cache_create("stale-bar", 200, 0, 0, NULL);
	cr_assert_not_null(bar, "%s", slabd_last_error());
	cr_assert_eq(cache_id("stale-bar"), id,
		     "the new cache did not take the destroyed one's id: nothing tested");
	cr_assert_eq(stacked(id), 0);
	cr_assert_eq(write(to_child[1], "g", 1), 1);
	cr_assert_eq(read(to_parent[0], &c, 1), 1);
	fill_every_cpu(bar);
	cr_assert_eq(write(to_child[1], "g", 1), 1);
	cr_assert_eq(wait_status(pid), 0, "the child could not run its test");
	cr_assert_eq(read(to_parent[0], &st, sizeof(st)), (ssize_t)sizeof(st));
	cr_expect_eq(
	    st, 0,
	    "the child's stale handle misbehaved: %#x (bits 0-7 and 10-17: the stale calls; "
	    "20-22: the handle after its own create)",
	    st);
	cr_expect(td_alive(&td));
	audit_clean();
	/* nothing of bar's went astray: all back, so it can go */
	errno = 0;
	kmem_cache_destroy(bar);
	cr_expect_eq(errno, 0, "%s", slabd_last_error());
}

/*
 * The process that destroys a cache: its handle fails at once (the destroy cleared it),
 * and still after another process created a cache with the id; it names the new cache
 * (the same pointer: handles are per id) only after this process's own lookup.
 */
Test(caches, the_destroying_process_handle_stays_stale_until_its_own_lookup)
{
	struct kmem_cache *s = kmem_cache_create("solo-foo", 64, 0, 0, NULL), *t;
	int id = cache_id("solo-foo"), bad;
	void *p, *k[4];
	pid_t pid;

	cr_assert_not_null(s, "%s", slabd_last_error());
	p = kmem_cache_alloc(s, GFP_KERNEL);
	cr_assert_not_null(p);
	kmem_cache_free(s, p);
	errno = 0;
	kmem_cache_destroy(s);
	cr_assert_eq(errno, 0, "%s", slabd_last_error());
	errno = 0;
	cr_expect_null(kmem_cache_alloc(s, GFP_KERNEL), "a destroyed cache's handle allocated");
	cr_expect_eq(errno, EINVAL);
	cr_expect(strstr(slabd_last_error(), "destroyed") != NULL, "%s", slabd_last_error());

	pid = fork();
	if (pid == 0)
		_exit(kmem_cache_create("solo-bar", 200, 0, 0, NULL) ? 0 : 1);
	cr_assert_eq(wait_status(pid), 0);
	cr_assert_eq(cache_id("solo-bar"), id,
		     "the new cache did not take the destroyed one's id: nothing tested");
	bad = stale_calls_fail(s, id, "solo-bar", 1);
	cr_expect_eq(bad, 0, "the stale handle misbehaved: %#x", bad);
	t = kmem_cache_lookup("solo-bar");
	cr_expect_eq(t, s, "handles are per id: the new cache's is the same pointer");
	cr_assert_not_null(t);
	p = kmem_cache_alloc(s, GFP_KERNEL);
	cr_assert_not_null(p, "%s", slabd_last_error());
	cr_expect_eq(ksize(p), 200);
	cr_expect_eq(kmem_cache_size(s), 200);
	cr_assert_eq(kmem_cache_alloc_bulk(s, GFP_KERNEL, 4, k), 4);
	kmem_cache_free_bulk(s, 4, k);
	kmem_cache_free(s, p);
	audit_clean();
	errno = 0;
	kmem_cache_destroy(t);
	cr_expect_eq(errno, 0, "%s", slabd_last_error());
}

/* Whether @fd becomes readable within @ms milliseconds. */
static int readable_within(int fd, int ms)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };

	return poll(&pf, 1, ms) == 1;
}

/* In a child: @bulk ? a bulk of 4 : one object of @s with GFP_KERNEL; what came of it
 * (got, errno) written to @fd. */
static pid_t spawn_alloc(struct kmem_cache *s, int bulk, int fd)
{
	pid_t pid = fork();

	if (pid == 0) {
		int res[2];
		void *v[4] = { NULL };

		if (bulk)
			res[0] = kmem_cache_alloc_bulk(s, GFP_KERNEL, 4, v);
		else
			res[0] = (v[0] = kmem_cache_alloc(s, GFP_KERNEL)) != NULL;
		res[1] = errno;
		_exit(write(fd, res, sizeof(res)) == sizeof(res) ? 0 : 1);
	}
	cr_assert_gt(pid, 0);
	close(fd);
	return pid;
}

/*
 * A GFP_KERNEL allocation (single or bulk) asleep on a cache's empty depot (the zone
 * exhausted) when another process destroys the cache: a destroyed cache is never
 * refilled, so the sleeper must wake and fail with EINVAL, as any call through the stale
 * handle does, not sleep for ever, also once the memory is back.
 */
Test(small_zone, an_allocation_asleep_on_a_cache_another_process_destroys_fails_instead_of_sleeping_forever,
     .init = up_small, .fini = down, .timeout = 60)
{
	static void *objs[1024];
	struct kmem_cache *s = kmem_cache_create("sleepy", 32768, 0, 0, NULL);
	int n = 0, pass, before, fds[2][2], done[2], res[2], i, k;
	pid_t pid[2];

	cr_assert_not_null(s, "%s", slabd_last_error());
	pin(sched_getcpu()); /* the children inherit it: no other CPU's stack to find objects on */
	/* exhaust the zone with 4 KiB objects, the emergency reserve included */
	for (pass = 0; pass < 20; pass++) {
		before = n;
		while (n < 1024 && (objs[n] = kmalloc(4096, GFP_KERNEL | __GFP_NORETRY)))
			n++;
		while (n < 1024 && (objs[n] = kmalloc(4096, GFP_ATOMIC)))
			n++;
		if (pass && n == before)
			break;
		usleep(50000);
	}
	cr_assert_gt(n, 300, "only %d objects of 4 KiB from a 2 MiB zone", n);
	for (k = 0; k < 2; k++) {
		cr_assert_eq(pipe(fds[k]), 0);
		pid[k] = spawn_alloc(s, k, fds[k][1]);
	}
	for (k = 0; k < 2; k++)
		if (readable_within(fds[k][0], 1000)) {
			cr_assert_eq(read(fds[k][0], res, sizeof(res)), (ssize_t)sizeof(res));
			cr_assert_fail("the child's %s allocation did not sleep (got %d, errno %d): the zone was "
				       "not exhausted, nothing tested",
				       k ? "bulk" : "single", res[0], res[1]);
		}
	errno = 0;
	kmem_cache_destroy(s);
	cr_assert_eq(errno, 0, "the destroy failed: %s", slabd_last_error());
	for (i = 0; i < n; i++)
		kfree(objs[i]);
	for (k = 0; k < 2; k++) {
		done[k] = readable_within(fds[k][0], 10000);
		if (!done[k])
			kill(pid[k], SIGKILL);
		wait_status(pid[k]);
	}
	for (k = 0; k < 2; k++) {
		cr_assert(done[k], "a GFP_KERNEL %s allocation asleep on a destroyed cache still sleeps 10 s after "
			  "the destroy", k ? "bulk" : "single");
		cr_assert_eq(read(fds[k][0], res, sizeof(res)), (ssize_t)sizeof(res));
		cr_assert_eq(res[0], 0, "objects of a destroyed cache (%s)", k ? "bulk" : "single");
		cr_assert_eq(res[1], EINVAL, "%s: errno %d (%s)", k ? "bulk" : "single", res[1], strerror(res[1]));
		close(fds[k][0]);
	}
}
