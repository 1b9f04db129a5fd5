/* SPDX-License-Identifier: MIT */
/*
 * <slabd/kmalloc.h> - the kernel's kmalloc API as static inline wrappers over the
 * exported slabd_ symbols. Define SLABD_NO_KERNEL_NAMES before including <slabd/slabd.h>
 * to keep these names out of your namespace.
 *
 * Size classes follow the kernel's kmalloc_index(): 8, 16, 32, 64, 96, 128, 192, 256,
 * 512, ... powers of two; 65..96 -> 96 and 129..192 -> 192. A size known at compile time
 * resolves its cache at compile time.
 *
 * On x86-64 the fast paths are inline (<slabd/fast.h>): kmalloc of a constant size,
 * kfree, kmem_cache_alloc/free and the bulk calls (any count) pop or push this CPU's
 * stack in the caller and call the library only on a miss. SLABD_NO_INLINE turns that off.
 *
 * Every wrapper that allocates or frees is always inline, at any optimisation level: the
 * library's call is then the caller's own, and its return address (which SLAB_STORE_USER
 * records, see slabd_shm_track) points into the caller's function, not into a copy of the
 * wrapper.
 */
#ifndef SLABD_KMALLOC_H
#define SLABD_KMALLOC_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include <slabd/fast.h>
#include <slabd/slabd.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KMALLOC_SHIFT_LOW 3
#define KMALLOC_MIN_SIZE (1u << KMALLOC_SHIFT_LOW)
/* The largest class compiled into the constant path; the daemon's configured maximum
 * (default 32 KiB, at most 32 MiB) decides at run time. */
#define KMALLOC_SHIFT_MAX 25
#define KMALLOC_MAX_SIZE (1ul << KMALLOC_SHIFT_MAX)

/*
 * kmalloc_index: the kmalloc cache index of @size: 0 for 0, 1 for 65..96, 2 for 129..192,
 * n for 2^(n-1) < size <= 2^n (n >= 3); -1 above KMALLOC_MAX_SIZE.
 */
static inline int kmalloc_index(size_t size)
{
	if (!size)
		return 0;
	if (size <= KMALLOC_MIN_SIZE)
		return KMALLOC_SHIFT_LOW;
	if (size > 64 && size <= 96)
		return 1;
	if (size > 128 && size <= 192)
		return 2;
	if (size > KMALLOC_MAX_SIZE)
		return -1;
	/* smallest n with 2^n >= size */
	return (int)(sizeof(unsigned long) * 8) - __builtin_clzl((unsigned long)(size - 1));
}

/* kmalloc_size: the object size of cache index @i (inverse of kmalloc_index). */
static inline size_t kmalloc_size(int i)
{
	return i == 1 ? 96 : i == 2 ? 192 : i >= KMALLOC_SHIFT_LOW && i <= KMALLOC_SHIFT_MAX ? (size_t)1 << i : 0;
}

/* kmalloc: allocate @size bytes. Never sleeps without __GFP_DIRECT_RECLAIM (GFP_ATOMIC,
 * GFP_NOWAIT: async-signal-safe for slab sizes). NULL with errno ENOMEM or ENOTCONN. */
static inline __attribute__((always_inline)) void *kmalloc(size_t size, gfp_t flags)
{
	if (__builtin_constant_p(size) && __builtin_constant_p(flags) && size && size <= 32768 &&
	    !(flags & (__GFP_DMA | __GFP_ZERO | __GFP_THISNODE))) {
#ifdef SLABD_HAVE_INLINE
		void *p;
		if (__builtin_expect(slabd_fast_pop((unsigned int)kmalloc_index(size), &p) == 0, 1))
			return p;
#endif
		return slabd_kmalloc_cache((unsigned int)kmalloc_index(size), flags);
	}
#ifdef SLABD_HAVE_INLINE
	if (__builtin_constant_p(flags) && !(flags & (__GFP_DMA | __GFP_ZERO))) {
		void *p;
		if (__builtin_expect(slabd_fast_kmalloc(size, &p) == 0, 1))
			return p;
	}
#endif
	return slabd_kmalloc(size, flags);
}

static inline __attribute__((always_inline)) void *kmalloc_node(size_t size, gfp_t flags, int node)
{
	return slabd_kmalloc_node(size, flags, node);
}

static inline __attribute__((always_inline)) void *kzalloc(size_t size, gfp_t flags)
{
	return slabd_kmalloc(size, flags | __GFP_ZERO);
}

/* kmalloc_array: as the kernel's; NULL with errno EOVERFLOW when n * size overflows. */
static inline __attribute__((always_inline)) void *kmalloc_array(size_t n, size_t size, gfp_t flags)
{
	size_t bytes;
	if (__builtin_mul_overflow(n, size, &bytes)) {
		errno = EOVERFLOW;
		return NULL;
	}
	return slabd_kmalloc(bytes, flags);
}

static inline __attribute__((always_inline)) void *kcalloc(size_t n, size_t size, gfp_t flags)
{
	return kmalloc_array(n, size, flags | __GFP_ZERO);
}

static inline __attribute__((always_inline)) void *krealloc(const void *p, size_t new_size, gfp_t flags)
{
	return slabd_krealloc(p, new_size, flags);
}

/* kfree: free @p, allocated by any process attached to the same daemon. NULL and
 * ZERO_SIZE_PTR are no-ops. Never sleeps; async-signal-safe. */
static inline __attribute__((always_inline)) void kfree(const void *p)
{
#ifdef SLABD_HAVE_INLINE
	if (__builtin_expect(slabd_fast_free(p) == 0, 1))
		return;
#endif
	slabd_kfree(p);
}

/* ksize: the usable size of the object or large allocation holding @p (the whole of it
 * even when @p points inside it); 0 for none. See slabd_ksize in <slabd/slabd.h>. */
static inline size_t ksize(const void *p)
{
	return slabd_ksize(p);
}

static inline struct kmem_cache *kmem_cache_create(const char *name, unsigned int size, unsigned int align,
						  slab_flags_t flags, void (*ctor)(void *))
{
	return slabd_kmem_cache_create(name, size, align, flags, ctor);
}

static inline struct kmem_cache *kmem_cache_lookup(const char *name)
{
	return slabd_kmem_cache_lookup(name);
}

static inline __attribute__((always_inline)) void *kmem_cache_alloc(struct kmem_cache *s, gfp_t flags)
{
#ifdef SLABD_HAVE_INLINE
	if (__builtin_constant_p(flags) && !(flags & __GFP_ZERO)) {
		void *p;
		if (slabd_fast_handle_ok(s) && __builtin_expect(slabd_fast_pop_from(slabd_fast_handle_stacks(s), &p) == 0, 1))
			return p;
	}
#endif
	return slabd_kmem_cache_alloc(s, flags);
}

static inline __attribute__((always_inline)) void *kmem_cache_alloc_node(struct kmem_cache *s, gfp_t flags, int node)
{
	return slabd_kmem_cache_alloc_node(s, flags, node);
}

static inline __attribute__((always_inline)) void *kmem_cache_zalloc(struct kmem_cache *s, gfp_t flags)
{
	return slabd_kmem_cache_alloc(s, flags | __GFP_ZERO);
}

/* kmem_cache_free: @obj must come from @s, as in the kernel (a wrong @s puts it in
 * another cache's per-CPU stack; the daemon drops it when it comes back). */
static inline __attribute__((always_inline)) void kmem_cache_free(struct kmem_cache *s, void *obj)
{
#ifdef SLABD_HAVE_INLINE
	if (__builtin_expect(slabd_fast_cache_free(s, obj) == 0, 1))
		return;
#endif
	slabd_kmem_cache_free(s, obj);
}

/* kmem_cache_alloc_bulk: all @n objects into @p, or none (0, errno ENOMEM). Inline: a
 * count known at compile time takes the single pop (n = 1) or one unrolled block pop (up
 * to 32, when optimising); a count known at run time the single pop for 1, else one block
 * pop that takes what the stack has, and the library only for the rest. */
static inline __attribute__((always_inline)) int kmem_cache_alloc_bulk(struct kmem_cache *s, gfp_t flags, size_t n,
								      void **p)
{
#ifdef SLABD_HAVE_INLINE
	if (__builtin_constant_p(flags) && !(flags & __GFP_ZERO)) {
		char *stacks;
		unsigned int got;

		if ((__builtin_constant_p(n) && n > 32) || !slabd_fast_handle_ok(s))
			return slabd_kmem_cache_alloc_bulk(s, flags, n, p);
		stacks = slabd_fast_handle_stacks(s);
		if (n == 1) {
			if (__builtin_expect(slabd_fast_pop_from(stacks, &p[0]) == 0, 1))
				return 1;
			return slabd_kmem_cache_alloc_bulk(s, flags, 1, p);
		}
#ifdef SLABD_HAVE_BULK_N
		if (__builtin_constant_p(n) && n >= 2) {
			/* all n in one unrolled sequence, or none (then the library) */
			if (__builtin_expect(slabd_fast_pop_bulk_n(stacks, p, n) == 0, 1))
				return (int)n;
			return slabd_kmem_cache_alloc_bulk(s, flags, n, p);
		}
#endif
		got = slabd_fast_pop_bulk(stacks, p, n);
		if (__builtin_expect(got == n, 1))
			return (int)n;
		/* the stack ran dry: the library gets the rest, or all go back */
		if (slabd_kmem_cache_alloc_bulk(s, flags, n - got, p + got))
			return (int)n;
		if (got)
			slabd_kmem_cache_free_bulk(s, got, p);
		return 0;
	}
#endif
	return slabd_kmem_cache_alloc_bulk(s, flags, n, p);
}

/* kmem_cache_free_bulk: free @n objects of @s. Inline on a single-node region: one push (n
 * = 1), one unrolled block push (a constant n up to 32, when optimising) or one block push
 * of what fits; the library takes the rest. Every entry must be an object of @s: unlike
 * kmem_cache_free(s, NULL), a NULL entry is not skipped (it would go on the per-CPU stack
 * and come back as a failed allocation); the block push checks no entry, for speed. */
static inline __attribute__((always_inline)) void kmem_cache_free_bulk(struct kmem_cache *s, size_t n, void **p)
{
#ifdef SLABD_HAVE_INLINE
	if (n == 1) {
		if (__builtin_expect(slabd_fast_cache_free(s, p[0]) == 0, 1))
			return;
	} else if (!(__builtin_constant_p(n) && n > 32) && __builtin_expect(slabd_fast_v2.zones_size != 0, 1) &&
		   slabd_fast_handle_ok(s)) {
		unsigned int done;
#ifdef SLABD_HAVE_BULK_N
		if (__builtin_constant_p(n) && n >= 2) {
			if (__builtin_expect(slabd_fast_push_bulk_n(slabd_fast_handle_stacks(s), p, n) == 0, 1))
				return;
			slabd_kmem_cache_free_bulk(s, n, p);
			return;
		}
#endif
		done = slabd_fast_push_bulk(slabd_fast_handle_stacks(s), p, n);
		if (__builtin_expect(done == n, 1))
			return;
		p += done;
		n -= done;
	}
#endif
	slabd_kmem_cache_free_bulk(s, n, p);
}

static inline int kmem_cache_shrink(struct kmem_cache *s)
{
	return slabd_kmem_cache_shrink(s);
}

static inline unsigned int kmem_cache_size(struct kmem_cache *s)
{
	return slabd_kmem_cache_size(s);
}

/* kmem_cache_destroy: see slabd_kmem_cache_destroy (handles of the cache are stale
 * afterwards, in every process: EINVAL). */
static inline void kmem_cache_destroy(struct kmem_cache *s)
{
	slabd_kmem_cache_destroy(s);
}

#ifdef __cplusplus
}
#endif
#endif /* SLABD_KMALLOC_H */
