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
/* slabd_pktpool_size: buffers in the pool (its n); 0 for NULL. */
SLABD_API unsigned int slabd_pktpool_size(const struct slabd_pktpool *pool);

/*
 * slabd_pktbuf_alloc: a reset buffer (data_off = headroom, data_len = pkt_len = 0,
 * refcnt = 1, nb_segs = 1, next = NULL), from this CPU's cache of the pool. NULL with
 * errno ENOMEM when all n buffers are out (or EINVAL for a bad pool). Lock-free; when the
 * CPU's cache and the pool's depot are both empty it waits for at most two rounds of the
 * daemon's worker, which gathers buffers freed on other CPUs (so NULL means exhausted,
 * not merely elsewhere). Thread-safe.
 */
SLABD_API struct slabd_pktbuf *slabd_pktbuf_alloc(struct slabd_pktpool *pool);
/* slabd_pktbuf_alloc_bulk: @n reset buffers into @bufs; all or none. 0, or -ENOMEM with
 * nothing allocated, -EINVAL. */
SLABD_API int slabd_pktbuf_alloc_bulk(struct slabd_pktpool *pool, struct slabd_pktbuf **bufs, unsigned int n);
/* slabd_pktbuf_free: release the chain headed by @m: each segment whose refcnt drops to
 * zero goes back to its pool. NULL is a no-op. Any process may free any buffer. Never
 * sleeps; async-signal-safe. */
SLABD_API void slabd_pktbuf_free(struct slabd_pktbuf *m);
/* slabd_pktbuf_free_bulk: slabd_pktbuf_free of each of @bufs (NULL entries skipped). */
SLABD_API void slabd_pktbuf_free_bulk(struct slabd_pktbuf **bufs, unsigned int n);

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
