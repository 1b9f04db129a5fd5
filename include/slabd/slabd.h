/* SPDX-License-Identifier: MIT */
/*
 * <slabd/slabd.h> - libslabclient: the client side of slabd.
 *
 * A process attaches to a running slabd once (slabd_connect, or implicitly on its first
 * allocation), maps the daemon's shared region, and from then on allocates and frees
 * objects directly in shared memory through per-CPU caches and restartable sequences: no
 * lock, no atomic instruction and no system call on the fast path. Any thread may
 * allocate at once; an object allocated in one process may be freed in another.
 *
 * The kernel-style names (kmalloc, kfree, ...) are static inline wrappers in
 * <slabd/kmalloc.h>, included here unless SLABD_NO_KERNEL_NAMES is defined.
 *
 * Errors: functions returning a pointer return NULL and set errno; functions returning
 * int return 0 (or a count) or a negative errno.
 */
#ifndef SLABD_SLABD_H
#define SLABD_SLABD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <slabd/fast.h>
#include <slabd/gfp.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SLABD_API __attribute__((visibility("default")))
#else
#define SLABD_API
#endif

#define SLABD_VERSION_STRING "0.1.0"
#define SLABD_BAD_IOVA (~(uint64_t)0)

/* Returned by kmalloc(0): not NULL, never dereferenceable, accepted by kfree. */
#define ZERO_SIZE_PTR ((void *)16)
#define ZERO_OR_NULL_PTR(x) ((unsigned long)(x) <= (unsigned long)ZERO_SIZE_PTR)

/*
 * slabd_connect: attach this process to the slabd listening at @socket_path (NULL: the
 * environment's SLABD_SOCKET, else /run/slabd/slabd.sock) and map its region.
 * Idempotent: returns 0 at once when already attached. May sleep; thread-safe.
 * Returns 0 or: -ENOENT/-ECONNREFUSED (no daemon there), -EPROTO (the daemon's layout
 * version differs from this library's: rebuild one of them), -ENOMEM, -EBADF (what the
 * daemon sent is not a slabd region). After a failure, slabd_last_error() says what
 * happened and what to do. Without restartable sequences (a kernel before 4.18, or
 * valgrind) allocation still works, through the depots only and several times slower:
 * slabd_attach_info() reports it as fast_path == 0 and slabd_last_error() explains.
 */
SLABD_API int slabd_connect(const char *socket_path);

/* slabd_disconnect: close the socket; the mapping stays so objects remain usable.
 * Objects still allocated stay allocated. Not async-signal-safe. */
SLABD_API void slabd_disconnect(void);

/* slabd_last_error: a message describing this thread's last failed connect or request,
 * or "" when there was none. Never NULL. */
SLABD_API const char *slabd_last_error(void);

/* The client attach state, for tools and tests. */
struct slabd_attach_info {
	uint64_t base;        /* where the region is mapped in this process */
	uint64_t daemon_base; /* where the daemon mapped it */
	uint64_t size;
	uint32_t nr_cpus;
	uint32_t nr_nodes;
	uint32_t backing;     /* 1: shmem-4K, 2: hugetlb-2M, 3: hugetlb-1G */
	uint32_t client_id;
	int at_daemon_base;   /* pointers are valid in every process mapped at the base */
	int rseq_by_library;  /* 1: glibc did not register rseq, libslabclient does per thread */
	int fast_path;        /* 1: the calling thread allocates through its CPU's cache */
};
SLABD_API int slabd_attach_info(struct slabd_attach_info *ret_info);

/* Exported allocation entry points. Use the kernel names from <slabd/kmalloc.h>. */
SLABD_API void *slabd_kmalloc(size_t size, gfp_t flags);
SLABD_API void *slabd_kmalloc_node(size_t size, gfp_t flags, int node);
SLABD_API void *slabd_kmalloc_cache(unsigned int cache_id, gfp_t flags); /* kmalloc-<class>, constant path */
SLABD_API void *slabd_krealloc(const void *p, size_t new_size, gfp_t flags);
SLABD_API void slabd_kfree(const void *p);
/*
 * slabd_ksize (ksize): the usable size of the object at @p: its class or cache size
 * (without a debug trailer), or a large allocation's page-rounded size. A pointer inside
 * an object or a large allocation, not at its start, gives the size of the whole object
 * or allocation (not what is left of it from @p), on any of a large allocation's pages as
 * inside a slab object; the kernel calls that undefined, slabd answers it the same way
 * everywhere. 0 for NULL, ZERO_SIZE_PTR, a pointer out of the zones or on a page that
 * holds no object or allocation. Never sleeps; async-signal-safe; no errno.
 */
SLABD_API size_t slabd_ksize(const void *p);

/*
 * Named caches (struct kmem_cache is opaque). A cache is shared by name between every
 * process attached to the same daemon. The kernel names in <slabd/kmalloc.h> wrap these.
 *
 * slabd_kmem_cache_create: the cache @name (1..31 bytes) of objects of @size bytes (at
 * most the daemon's max_cache_size), aligned to @align (0: 8; SLAB_HWCACHE_ALIGN: at least
 * a cache line). If the name exists with the same size, alignment and flags, returns it;
 * otherwise NULL with errno EEXIST. @ctor must be NULL: a constructor cannot run in every
 * address space that may reuse an object, so it is refused (EINVAL) rather than run in
 * some processes only. SLAB_CACHE_DMA puts the objects in the DMA zone (pinned, with
 * IOVAs: slabd_virt_to_iova). Debug mode: SLAB_POISON, SLAB_RED_ZONE, SLAB_STORE_USER
 * turn on the checks of kfree and allocation for this cache (every call then takes the
 * library's slow path; errors are reported on stderr and in slabd_last_error());
 * SLAB_RED_ZONE and SLAB_STORE_USER give each object a trailer (red zone and owner
 * record), so `slabctl debug` can switch every check on and off later. Other flags give
 * EINVAL.
 * Errors: EINVAL, EEXIST, ENOSPC (cache table full), ENOMEM, ENOTCONN, ENODEV
 * (SLAB_CACHE_DMA and the daemon has no DMA zone). May sleep.
 */
struct kmem_cache;
SLABD_API struct kmem_cache *slabd_kmem_cache_create(const char *name, unsigned int size, unsigned int align,
						      slab_flags_t flags, void (*ctor)(void *));
/* slabd_kmem_cache_lookup: the cache of that name (kmalloc-<size> included), created by
 * any process; NULL with errno ENOENT. Never sleeps once attached. */
SLABD_API struct kmem_cache *slabd_kmem_cache_lookup(const char *name);
/* Allocate and free: as kmalloc/kfree, on this cache (never sleep without
 * __GFP_DIRECT_RECLAIM; free is async-signal-safe). @obj must come from @s. */
SLABD_API void *slabd_kmem_cache_alloc(struct kmem_cache *s, gfp_t flags);
SLABD_API void *slabd_kmem_cache_alloc_node(struct kmem_cache *s, gfp_t flags, int node);
SLABD_API void slabd_kmem_cache_free(struct kmem_cache *s, void *obj);
/* slabd_kmem_cache_alloc_bulk: @n objects into @p, many per restartable sequence. All or
 * nothing: returns @n, or 0 (errno ENOMEM) with nothing allocated. */
SLABD_API int slabd_kmem_cache_alloc_bulk(struct kmem_cache *s, gfp_t flags, size_t n, void **p);
/* slabd_kmem_cache_free_bulk: free @n objects of @s; every entry must be one (NULL is not
 * skipped: see kmem_cache_free_bulk in <slabd/kmalloc.h>). */
SLABD_API void slabd_kmem_cache_free_bulk(struct kmem_cache *s, size_t n, void **p);
/* slabd_kmem_cache_shrink: the daemon takes back this cache's objects from every CPU's
 * cache and the depots and returns its empty slabs to the page allocator. 0 or -errno.
 * May sleep. */
SLABD_API int slabd_kmem_cache_shrink(struct kmem_cache *s);
/* slabd_kmem_cache_destroy: remove the cache for every process; its memory goes back to
 * the zone. With objects still allocated the daemon reports them (in its log and in
 * slabd_last_error()) and the cache stays: errno EBUSY. A built-in kmalloc cache or a
 * packet-buffer pool's cache is never destroyed: errno EPERM. slabd_last_error() says
 * why after any refusal. May sleep.
 * Afterwards every process's handle of the cache is stale, even when a new cache gets
 * its id: calls through it fail with EINVAL (allocations NULL, shrink and destroy
 * -EINVAL, the new cache untouched; an object freed through it goes to its own cache, as
 * kfree). A process's handle names a cache of the id again only after that process's
 * own kmem_cache_create or kmem_cache_lookup of it (handles are per id: the same
 * pointer). A stale handle used only inline, and for nothing between the destroy and the
 * new cache's first allocations, may still reach that cache once: using a destroyed
 * cache is the caller's bug, as in the kernel. */
SLABD_API void slabd_kmem_cache_destroy(struct kmem_cache *s);
/* slabd_kmem_cache_size: the usable object size, as ksize() reports it: the stride in the
 * slab, or for a cache with a debug trailer (SLAB_RED_ZONE, SLAB_STORE_USER) the size
 * asked for (the red zone and owner record take the rest of the stride); 0 for NULL. */
SLABD_API unsigned int slabd_kmem_cache_size(const struct kmem_cache *s);

/*
 * slabd_obj_give: hand the object at @p to the attached process @to (0: to nobody), for
 * owner tracking (SLAB_STORE_USER): when a process dies the daemon gives back the objects
 * it still owns, so an object passed to another process must be given to it (or to
 * nobody) first (a fork()ed child is a process of its own; slabd_disconnect counts as
 * the end of the process). A no-op (0) for objects of caches without owner tracking. Returns 0,
 * -EINVAL (@p is not the start of an allocated object), -ESRCH (no attached process
 * @to). Never sleeps; thread-safe.
 */
SLABD_API int slabd_obj_give(const void *p, pid_t to);

/* slabd_ptr_to_off/off_to_ptr: convert between this process's pointers into the region
 * and region offsets, valid in every process. ptr_to_off returns UINT64_MAX for a pointer
 * outside the region; off_to_ptr returns NULL for an offset outside it. */
SLABD_API uint64_t slabd_ptr_to_off(const void *p);
SLABD_API void *slabd_off_to_ptr(uint64_t off);

#ifdef SLABD_HAVE_INLINE
/* Inline for the objects of a single-node region (as kfree is): a pipeline converts every
 * packet. Anything outside the object zones (metadata, a foreign pointer), a multi-node
 * region or a process not attached (zones_size 0) is the library's; the same results.
 * The names without a call (&slabd_ptr_to_off) are the library's functions. */
static inline __attribute__((always_inline)) uint64_t slabd_fast_ptr_to_off(const void *p)
{
	const struct slabd_fast *f = &slabd_fast_v2;

	if (__builtin_expect((uint64_t)((const char *)p - f->zones) < f->zones_size, 1))
		return (uint64_t)((const char *)p - f->base);
	return slabd_ptr_to_off(p);
}

static inline __attribute__((always_inline)) void *slabd_fast_off_to_ptr(uint64_t off)
{
	const struct slabd_fast *f = &slabd_fast_v2;

	if (__builtin_expect(off - (uint64_t)(f->zones - f->base) < f->zones_size, 1))
		return f->base + off;
	return slabd_off_to_ptr(off);
}
#define slabd_ptr_to_off(p) slabd_fast_ptr_to_off(p)
#define slabd_off_to_ptr(off) slabd_fast_off_to_ptr(off)
#endif

/* slabd_virt_to_node: NUMA node (the kernel's number) of the zone holding @p, -1 if
 * @p is not in the region. */
SLABD_API int slabd_virt_to_node(const void *p);

/* slabd_virt_to_iova: the IO virtual address of @p, which must lie in the DMA zone
 * (GFP_DMA, SLAB_CACHE_DMA and packet-buffer memory): what a device is given to reach
 * that byte. Its meaning follows the daemon's iova_mode: an address in slabd's VFIO
 * container, a physical address, or the daemon's virtual address. Returns
 * SLABD_BAD_IOVA for a pointer outside the DMA zone (or when the daemon has none). A
 * table lookup; never sleeps, async-signal-safe, thread-safe. */
SLABD_API uint64_t slabd_virt_to_iova(const void *p);

#ifdef __cplusplus
}
#endif

#ifndef SLABD_NO_KERNEL_NAMES
#include <slabd/kmalloc.h>
#endif

#endif /* SLABD_SLABD_H */
