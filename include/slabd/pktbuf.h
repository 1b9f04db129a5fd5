/* SPDX-License-Identifier: MIT */
/*
 * <slabd/pktbuf.h> - packet buffers in the DMA zone, modelled on DPDK's rte_mbuf.
 *
 * A pool (struct slabd_pktpool, opaque) is a named cache of exactly n buffers in the
 * daemon's DMA zone, created once by any process and found by name from every process
 * attached to the same daemon. A buffer is one object of the pool:
 *
 *   [struct slabd_pktbuf, 128 B][private area][headroom | data room]
 *                                              ^buf_addr ^buf_addr + data_off
 *
 * buf_iova is the IO virtual address of buf_addr; the buffer (buf_len bytes) never
 * straddles a hugepage, so in iova_mode = pa it is physically contiguous and a device can
 * be given buf_iova + data_off directly. Buffers chain through next (nb_segs and pkt_len
 * are kept in the first segment); refcnt is atomic and valid across processes (the buffer
 * is shared memory), and free releases the whole chain, each segment when its count drops
 * to zero.
 *
 * Pointers (buf_addr, next) are valid in every process that maps the region at the
 * daemon's base (slabd_attach_info().at_daemon_base, the normal case); pass buffers
 * between processes as slabd_ptr_to_off() offsets when in doubt. buf_addr is rewritten by
 * every allocation, so it is always right in the allocating process.
 */
#ifndef SLABD_PKTBUF_H
#define SLABD_PKTBUF_H

#include <stddef.h>
#include <stdint.h>

#include <slabd/fast.h>
#include <slabd/slabd.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SLABD_PKTBUF_HEADROOM 128u /* default headroom: data_off of a fresh buffer */

struct slabd_pktpool;

/* A buffer's metadata, two cache lines; the first holds what alloc and the helpers touch. */
struct slabd_pktbuf {
	void *buf_addr;            /* start of headroom + data room, in this process */
	uint64_t buf_iova;         /* IOVA of buf_addr (slabd_virt_to_iova) */
	uint16_t data_off;         /* data starts at buf_addr + data_off */
	uint16_t refcnt;           /* atomic; the segment is freed when it drops to 0 */
	uint16_t nb_segs;          /* first segment: segments in the chain */
	uint16_t port;             /* free for the application (0xffff after alloc) */
	uint32_t pkt_len;          /* first segment: data bytes in the whole chain */
	uint16_t data_len;         /* data bytes in this segment */
	uint16_t buf_len;          /* headroom + data room */
	struct slabd_pktbuf *next; /* next segment, NULL at the end */
	uint32_t pool_id;          /* the pool's cache id (informational: free trusts the region's
				    * page descriptors, not this) */
	uint16_t priv_size;        /* bytes of private area after this struct */
	uint16_t reserved0;
	uint64_t ol_flags;         /* free for offload flags (0 after alloc) */
	uint64_t udata64;          /* free for the application (untouched by slabd) */
	uint8_t reserved[64];      /* second cache line: room for DPDK-like fields */
};

#ifndef __cplusplus
_Static_assert(sizeof(struct slabd_pktbuf) == 128, "struct slabd_pktbuf is two cache lines");
#endif

/*
 * slabd_pktpool_create: the pool @name (1..31 bytes) of @n buffers with @data_room bytes
 * after a headroom of SLABD_PKTBUF_HEADROOM and @priv_size bytes of private area, in the
 * DMA zone (@node: -1, or the DMA zone's NUMA node). Every buffer is carved now, so the
 * pool holds exactly @n and its memory is reserved. If the name exists with the same
 * geometry, returns that pool. NULL with errno: EINVAL (sizes: headroom + data_room at
 * most 65535, n up to 2^24; in pa mode without hugepages the whole buffer must fit in 4
 * KiB), EEXIST (the name has another geometry), ENODEV (no DMA zone), ENOMEM (not enough
 * DMA memory), ENOSPC (cache table full), ENOTCONN. slabd_last_error() says which. May
 * sleep; thread-safe.
 */
SLABD_API struct slabd_pktpool *slabd_pktpool_create(const char *name, unsigned int n, unsigned int data_room,
						     unsigned int priv_size, int node);
/* slabd_pktpool_lookup: the pool of that name, created by any process; NULL with errno
 * ENOENT (or EINVAL, ENOTCONN). Never sleeps once attached. */
SLABD_API struct slabd_pktpool *slabd_pktpool_lookup(const char *name);
/* slabd_pktpool_size: buffers in the pool (its n); 0 for NULL or a pool this process freed. */
SLABD_API unsigned int slabd_pktpool_size(const struct slabd_pktpool *pool);
/*
 * slabd_pktpool_free: destroy @pool (DPDK's rte_mempool_free), for every process. Only
 * when all its n buffers are free (a device may still DMA into one that is out: its IOVA
 * must stay valid until it is back); then its DMA memory goes back to the zone, and the
 * name and the cache id are free for a new pool. kmem_cache_destroy of a pool's cache is
 * refused (EPERM): this is how a pool goes.
 *
 * Returns 0, or a negative errno with slabd_last_error() saying what to do: -EBUSY while
 * any buffer is allocated, by any process (nothing changed: every buffer is still there,
 * at the same IOVA); -EINVAL for NULL, a pointer that is no pool handle, or a pool freed
 * already; -ENOTCONN (no daemon).
 *
 * After a free, @pool is dead in this process: allocations from it return NULL with errno
 * EINVAL (or -EINVAL), inline or not, and slabd_pktpool_size is 0; lookups of the name
 * fail with ENOENT. Handles are per cache id, like kmem_cache handles: a later create or
 * lookup of a pool that gets the same id returns the same pointer, alive again.
 *
 * Other processes' handles of the freed pool: using them is the caller's bug, as a
 * destroyed kmem_cache is in the kernel, but it fails safely once noticed: their next
 * allocation misses into the library (the free drained every CPU's stack of the pool),
 * which sees the pool's generation gone and fails with EINVAL, and clears the handle so
 * that its inline path never pops again. Only a stale handle that is not used at all
 * between the free and the creation of a new cache with the same id can pop objects of
 * that cache once from its inline path before the library sees it (as any use after
 * free); the daemon is never affected (it checks everything it takes back). An
 * allocation racing with the free either holds a buffer (the free fails with -EBUSY) or
 * fails (ENOMEM while the daemon decides, EINVAL after); it never gets a buffer of the
 * freed pool.
 *
 * May sleep (a request to the daemon, which drains every CPU's stack); thread-safe, but
 * the caller must not be allocating from @pool in another thread at the same time.
 */
SLABD_API int slabd_pktpool_free(struct slabd_pktpool *pool);

/*
 * slabd_pktbuf_alloc: a reset buffer (data_off = headroom, data_len = pkt_len = 0,
 * refcnt = 1, nb_segs = 1, next = NULL), from this CPU's cache of the pool. NULL with
 * errno ENOMEM when all n buffers are out (or while a free of the pool is being
 * decided), EINVAL for a bad or freed pool. Lock-free; when the
 * CPU's cache and the pool's depot are both empty it waits for at most two rounds of the
 * daemon's worker, which gathers buffers freed on other CPUs (so NULL means exhausted,
 * not merely elsewhere). Thread-safe.
 */
SLABD_API struct slabd_pktbuf *slabd_pktbuf_alloc(struct slabd_pktpool *pool);
/* slabd_pktbuf_alloc_bulk: @n reset buffers into @bufs; all or none. 0, or -ENOMEM with
 * nothing allocated, -EINVAL (a bad or freed pool). */
SLABD_API int slabd_pktbuf_alloc_bulk(struct slabd_pktpool *pool, struct slabd_pktbuf **bufs, unsigned int n);
/* slabd_pktbuf_free: release the chain headed by @m: each segment whose refcnt drops to
 * zero goes back to its pool. NULL is a no-op. Any process may free any buffer. Never
 * sleeps; async-signal-safe. */
SLABD_API void slabd_pktbuf_free(struct slabd_pktbuf *m);
/* slabd_pktbuf_free_bulk: slabd_pktbuf_free of each of @bufs (NULL entries skipped). */
SLABD_API void slabd_pktbuf_free_bulk(struct slabd_pktbuf **bufs, unsigned int n);

/* -------------------------------------------------------- inline fast path -- */

/*
 * On x86-64, slabd_pktbuf_alloc/free (and the bulk calls of a count known at compile time,
 * up to 32) run inline in the caller, on top of <slabd/fast.h>'s restartable sequences:
 * pop or push this CPU's stack of the pool's cache, then reset the header from the pool's
 * template. They call into the library (the slabd_pktbuf_*_miss entry points) only for a
 * miss: an empty or full stack, a chain or a shared segment, a bad handle, a process not
 * set up. The four names are function-like macros over static inline slabd_fast_pktbuf_*
 * functions, so a name not followed by a call (&slabd_pktbuf_free, a function pointer)
 * is still the library's function. Define SLABD_NO_INLINE before the include to call the
 * library for everything.
 *
 * ABI, like slabd_fast_v2 and versioned the same way (by the exported name): struct
 * slabd_fast_pktpool is how a struct slabd_pktpool handle starts, and slabd_fast_pkt_v1
 * says where the library's table of handles is, so that a pointer outside it goes to the
 * library (which reports EINVAL).
 */
struct slabd_fast_pktpool {
	char *stacks;         /* the pool cache's per-CPU stacks; NULL: not a pool (yet) */
	char *dma;            /* this process's address of the DMA zone */
	const uint64_t *iova; /* the DMA zone's IOVA table, one entry per 4 KiB */
	uint32_t buf_off;     /* buf_addr - header: the header and the private area */
	uint32_t id;          /* the pool's cache id */
	uint64_t reset16;     /* a fresh header's words at offset 16 (data_off .. port), */
	uint64_t reset24;     /* 24 (pkt_len, data_len, buf_len) */
	uint64_t reset40;     /* and 40 (pool_id, priv_size, reserved0) */
};

struct slabd_fast_pkt {
	const char *pools;   /* the library's table of struct slabd_pktpool handles ... */
	uint64_t pools_size; /* ... and its size in bytes */
};

/* Written once by the library (at its load); read-only afterwards. */
extern SLABD_API const struct slabd_fast_pkt slabd_fast_pkt_v1;

/* The library's out-of-line halves of the inline calls (not for direct use):
 * alloc_miss: slabd_pktbuf_alloc after the inline pop failed; alloc_bulk_miss: the rest of
 * a bulk of which the inline pop got @got (already in @bufs, not reset); free_miss and
 * free_bulk_miss: slabd_pktbuf_free and _free_bulk. */
SLABD_API struct slabd_pktbuf *slabd_pktbuf_alloc_miss(struct slabd_pktpool *pool);
SLABD_API int slabd_pktbuf_alloc_bulk_miss(struct slabd_pktpool *pool, struct slabd_pktbuf **bufs, unsigned int n,
					   unsigned int got);
SLABD_API void slabd_pktbuf_free_miss(struct slabd_pktbuf *m);
SLABD_API void slabd_pktbuf_free_bulk_miss(struct slabd_pktbuf **bufs, unsigned int n);

#ifdef SLABD_HAVE_INLINE
#define SLABD_PKTBUF_INLINE static inline __attribute__((always_inline))

/* A uint64_t that may alias the header's fields (the reset writes them as words). */
typedef uint64_t __attribute__((may_alias)) slabd_pktbuf_word;

/* The handle's fast part, or NULL when @pool is not one of the library's live handles. */
static inline __attribute__((always_inline)) const struct slabd_fast_pktpool *
slabd_fast_pktpool_of(const struct slabd_pktpool *pool)
{
	const struct slabd_fast_pktpool *p = (const struct slabd_fast_pktpool *)(const void *)pool;

	if (__builtin_expect((uint64_t)((const char *)pool - slabd_fast_pkt_v1.pools) >= slabd_fast_pkt_v1.pools_size,
			     0))
		return NULL;
	return __builtin_expect(p->stacks != NULL, 1) ? p : NULL;
}

/* Reset @m, just taken from pool @p: seven word stores, buf_addr and buf_iova recomputed
 * (a free buffer's first word is not kept; another process may map elsewhere). */
static inline __attribute__((always_inline)) void slabd_fast_pktbuf_reset(const struct slabd_fast_pktpool *p,
									  struct slabd_pktbuf *m)
{
	slabd_pktbuf_word *w = (slabd_pktbuf_word *)(void *)m;
	char *buf = (char *)m + p->buf_off;
	uint64_t doff = (uint64_t)(buf - p->dma);

	w[0] = (uint64_t)(uintptr_t)buf;
	w[1] = p->iova[doff >> SLABD_FAST_PAGE_SHIFT] + (doff & ((1u << SLABD_FAST_PAGE_SHIFT) - 1));
	w[2] = p->reset16;
	w[3] = p->reset24;
	w[4] = 0; /* next */
	w[5] = p->reset40;
	w[6] = 0; /* ol_flags */
}

SLABD_PKTBUF_INLINE struct slabd_pktbuf *slabd_fast_pktbuf_alloc(struct slabd_pktpool *pool)
{
	const struct slabd_fast_pktpool *p = slabd_fast_pktpool_of(pool);
	void *m;

	if (__builtin_expect(p != NULL, 1) && __builtin_expect(slabd_fast_pop_from(p->stacks, &m) == 0, 1)) {
		slabd_fast_pktbuf_reset(p, (struct slabd_pktbuf *)m);
		return (struct slabd_pktbuf *)m;
	}
	return slabd_pktbuf_alloc_miss(pool);
}

SLABD_PKTBUF_INLINE int slabd_fast_pktbuf_alloc_bulk(struct slabd_pktpool *pool, struct slabd_pktbuf **bufs, unsigned int n)
{
	if (__builtin_constant_p(n) && n >= 1 && n <= 32) {
		const struct slabd_fast_pktpool *p = slabd_fast_pktpool_of(pool);
		unsigned int got = 0, i;

		if (__builtin_expect(p != NULL, 1)) {
			got = slabd_fast_pop_bulk(p->stacks, (void **)(void *)bufs, n);
			if (__builtin_expect(got == n, 1)) {
				/* a copy: the resets' stores may alias the handle */
				const struct slabd_fast_pktpool f = *p;

				for (i = 0; i < n; i++)
					slabd_fast_pktbuf_reset(&f, bufs[i]);
				return 0;
			}
		}
		return slabd_pktbuf_alloc_bulk_miss(pool, bufs, n, got);
	}
	return slabd_pktbuf_alloc_bulk_miss(pool, bufs, n, 0);
}

/* The last reference to a single segment: refcnt 1 (read without an atomic RMW, as DPDK
 * does: nobody else holds it) and no next; anything else is the library's. */
static inline __attribute__((always_inline)) int slabd_fast_pktbuf_simple(const struct slabd_pktbuf *m)
{
	return m->next == NULL && __atomic_load_n(&m->refcnt, __ATOMIC_RELAXED) == 1;
}

SLABD_PKTBUF_INLINE void slabd_fast_pktbuf_free(struct slabd_pktbuf *m)
{
	if (__builtin_expect(m != NULL && slabd_fast_pktbuf_simple(m), 1) &&
	    __builtin_expect(slabd_fast_free(m) == 0, 1))
		return;
	slabd_pktbuf_free_miss(m);
}

SLABD_PKTBUF_INLINE void slabd_fast_pktbuf_free_bulk(struct slabd_pktbuf **bufs, unsigned int n)
{
	/* A count known at compile time: when every buffer is a simple last reference of one
	 * pool (one page-descriptor word: slab pages of one cache), one inline block push. */
	if (__builtin_constant_p(n) && n >= 1 && n <= 32 && __builtin_expect(slabd_fast_v2.zones_size != 0, 1)) {
		const struct slabd_fast *f = &slabd_fast_v2;
		uint32_t desc = 0;
		unsigned int i, done;

		for (i = 0; i < n; i++) {
			uint64_t zoff = (uint64_t)((char *)bufs[i] - f->zones);
			uint32_t d;

			if (__builtin_expect(zoff >= f->zones_size, 0)) /* NULL too */
				break;
			d = (uint32_t)f->pages[zoff >> SLABD_FAST_PAGE_SHIFT];
			if (i == 0)
				desc = d;
			if (__builtin_expect(d != desc || !slabd_fast_pktbuf_simple(bufs[i]), 0))
				break;
		}
		if (__builtin_expect(i == n && (uint8_t)desc == SLABD_FAST_PAGE_SLAB, 1)) {
			done = slabd_fast_push_bulk(f->pcpu + (uint64_t)(desc >> 16) * f->cache_stride,
						    (void *const *)(void *)bufs, n);
			if (__builtin_expect(done == n, 1))
				return;
			bufs += done;
			n -= done;
		}
	}
	slabd_pktbuf_free_bulk_miss(bufs, n);
}

/* Calls go inline; the names without a call (&slabd_pktbuf_free) are the library's. */
#define slabd_pktbuf_alloc(pool) slabd_fast_pktbuf_alloc(pool)
#define slabd_pktbuf_alloc_bulk(pool, bufs, n) slabd_fast_pktbuf_alloc_bulk(pool, bufs, n)
#define slabd_pktbuf_free(m) slabd_fast_pktbuf_free(m)
#define slabd_pktbuf_free_bulk(bufs, n) slabd_fast_pktbuf_free_bulk(bufs, n)
#endif /* SLABD_HAVE_INLINE */

/* ------------------------------------------------------------------ helpers -- */

/* Data pointer of @m as @t (DPDK's rte_pktmbuf_mtod). */
#define slabd_pktbuf_mtod(m, t) ((t)((char *)(m)->buf_addr + (m)->data_off))
#define slabd_pktbuf_mtod_offset(m, t, o) ((t)((char *)(m)->buf_addr + (m)->data_off + (o)))

/* IOVA of the first data byte. */
static inline uint64_t slabd_pktbuf_data_iova(const struct slabd_pktbuf *m)
{
	return m->buf_iova + m->data_off;
}

/* The private area after the header. */
static inline void *slabd_pktbuf_priv(struct slabd_pktbuf *m)
{
	return m + 1;
}

static inline uint16_t slabd_pktbuf_headroom(const struct slabd_pktbuf *m)
{
	return m->data_off;
}

static inline uint16_t slabd_pktbuf_tailroom(const struct slabd_pktbuf *m)
{
	return (uint16_t)(m->buf_len - m->data_off - m->data_len);
}

static inline struct slabd_pktbuf *slabd_pktbuf_lastseg(struct slabd_pktbuf *m)
{
	while (m->next)
		m = m->next;
	return m;
}

/* slabd_pktbuf_prepend: grow the data @len bytes into the headroom of @m (the first
 * segment); the new start, or NULL (nothing changed) when the headroom is too small. */
static inline char *slabd_pktbuf_prepend(struct slabd_pktbuf *m, uint16_t len)
{
	if (len > m->data_off)
		return NULL;
	m->data_off = (uint16_t)(m->data_off - len);
	m->data_len = (uint16_t)(m->data_len + len);
	m->pkt_len += len;
	return (char *)m->buf_addr + m->data_off;
}

/* slabd_pktbuf_append: grow the data @len bytes at the end of the chain's last segment;
 * the old end (where to write), or NULL (nothing changed) when its tailroom is too small. */
static inline char *slabd_pktbuf_append(struct slabd_pktbuf *m, uint16_t len)
{
	struct slabd_pktbuf *last = slabd_pktbuf_lastseg(m);
	char *tail;

	if (len > slabd_pktbuf_tailroom(last))
		return NULL;
	tail = (char *)last->buf_addr + last->data_off + last->data_len;
	last->data_len = (uint16_t)(last->data_len + len);
	m->pkt_len += len;
	return tail;
}

/* slabd_pktbuf_adj: drop @len bytes at the start of the first segment; the new start, or
 * NULL (nothing changed) when the segment holds fewer. */
static inline char *slabd_pktbuf_adj(struct slabd_pktbuf *m, uint16_t len)
{
	if (len > m->data_len)
		return NULL;
	m->data_off = (uint16_t)(m->data_off + len);
	m->data_len = (uint16_t)(m->data_len - len);
	m->pkt_len -= len;
	return (char *)m->buf_addr + m->data_off;
}

/* slabd_pktbuf_trim: drop @len bytes at the end of the last segment; 0, or -1 (nothing
 * changed) when it holds fewer. */
static inline int slabd_pktbuf_trim(struct slabd_pktbuf *m, uint16_t len)
{
	struct slabd_pktbuf *last = slabd_pktbuf_lastseg(m);

	if (len > last->data_len)
		return -1;
	last->data_len = (uint16_t)(last->data_len - len);
	m->pkt_len -= len;
	return 0;
}

/* slabd_pktbuf_chain: append chain @tail to chain @head; 0, or -1 (nothing changed) when
 * the segment count would overflow. @tail's head fields move into @head. */
static inline int slabd_pktbuf_chain(struct slabd_pktbuf *head, struct slabd_pktbuf *tail)
{
	if ((uint32_t)head->nb_segs + tail->nb_segs > 0xffff)
		return -1;
	slabd_pktbuf_lastseg(head)->next = tail;
	head->nb_segs = (uint16_t)(head->nb_segs + tail->nb_segs);
	head->pkt_len += tail->pkt_len;
	tail->pkt_len = tail->data_len;
	tail->nb_segs = 1;
	return 0;
}

static inline uint16_t slabd_pktbuf_refcnt_read(const struct slabd_pktbuf *m)
{
	return __atomic_load_n(&m->refcnt, __ATOMIC_ACQUIRE);
}

static inline void slabd_pktbuf_refcnt_set(struct slabd_pktbuf *m, uint16_t v)
{
	__atomic_store_n(&m->refcnt, v, __ATOMIC_RELEASE);
}

/* slabd_pktbuf_refcnt_update: add @delta (may be negative) atomically, in any process;
 * returns the new count. Dropping it to 0 this way does not free the segment: use
 * slabd_pktbuf_free for that. */
static inline uint16_t slabd_pktbuf_refcnt_update(struct slabd_pktbuf *m, int16_t delta)
{
	return __atomic_add_fetch(&m->refcnt, (uint16_t)delta, __ATOMIC_ACQ_REL);
}

#ifdef __cplusplus
}
#endif
#endif /* SLABD_PKTBUF_H */
