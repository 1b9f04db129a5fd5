/* SPDX-License-Identifier: MIT */
/*
 * client.h - libslabclient's process-wide state (internal).
 *
 * One struct client per process, written under client.lock by attach/detach and read
 * without a lock by the fast path. The fast path is enabled by the release store of
 * client.ncpus (0 while detached: every rseq sequence then fails its CPU check and the
 * caller falls to the slow path, which attaches).
 */
#ifndef SLABD_LIB_CLIENT_H
#define SLABD_LIB_CLIENT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "slabd_shm.h"

#define SLABD_HIDDEN __attribute__((visibility("hidden")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define noinline __attribute__((noinline))
#define cold __attribute__((cold))

struct client {
	/* fast-path fields, first cache line */
	uint32_t ncpus;          /* 0 while detached */
	uint32_t max_cache_size; /* largest slab class */
	long roff;               /* %fs offset of this process's rseq areas */
	char *base;              /* local address of the window */
	char *pcpu;              /* base + percpu_off + pcpu_off: per-CPU arrays */
	uint64_t cache_stride;   /* nr_cpus << SLABD_PCPU_SHIFT */
	char *zones;             /* base + zones_off */
	uint64_t zones_size;
	const struct slabd_shm_page *pages;
	int multi_node;

	/* the rest */
	const struct slabd_shm_super *sb;
	const struct slabd_shm_cpu *cpus;
	const struct slabd_shm_node *nodes;
	const struct slabd_shm_zone *zone_tab;
	const struct slabd_shm_cache *caches;
	struct slabd_shm_ctl *ctl;
	struct slabd_shm_depot *depots;
	struct slabd_shm_mag *mags;
	uint64_t region_size;
	uint64_t region_id;
	uint64_t daemon_base;
	uint32_t nr_mags;
	uint32_t client_id;
	uint32_t client_slot;  /* our entry in the client table, UINT32_MAX: none */
	struct slabd_shm_client *clients;
	struct slabd_shm_pcpu_stat *pcpu_stats; /* slabd_shm_pcpu_stat_index() */
	char *remote;        /* per-CPU remote-free stacks (several nodes only) */
	const uint64_t *iova; /* the DMA zone's IOVA table, [sb->nr_iova] */
	int own_rseq;        /* 1: glibc did not register rseq, we do per thread */
	int sock;            /* -1 when not connected */
	pid_t pid;           /* the process that owns sock */
	uint32_t seq;
	uint32_t abandoned;  /* requests given up on whose replies may still come (client.c) */
	char socket_path[108];
	pthread_mutex_t lock; /* attach, detach, socket requests */
};

extern struct client slabd_client SLABD_HIDDEN;

/* client_attach: connect if needed; 0 or -errno. @may_block false: only trylock. */
int client_attach(int may_block) SLABD_HIDDEN;
/* client_rseq_ready: make sure this thread's rseq area is registered; 0 or -errno. */
int client_rseq_ready(void) SLABD_HIDDEN;
struct slabd_wire_hdr;
/* client_request: send @req (its len set), wait for a reply of type @want, copy @rep_len
 * bytes of it to @rep. 0 or -errno (an ERROR reply's errno; its message is kept for
 * slabd_last_error()). Connects if needed. May sleep. */
int client_request(struct slabd_wire_hdr *req, uint16_t want, void *rep, size_t rep_len) SLABD_HIDDEN;
/* client_cache_alloc_at: one object of cache @cache (@node: the kernel's node number, or -1
 * for the current CPU's), for a public call that returns to @caller (recorded with
 * SLAB_STORE_USER; NULL: unknown); sets errno on failure. client_cache_alloc: the same for
 * callers with no user's call site to record (packet-buffer pools are never debugged). */
void *client_cache_alloc_at(uint32_t cache, unsigned int flags, int node, const void *caller) SLABD_HIDDEN;
static inline void *client_cache_alloc(uint32_t cache, unsigned int flags, int node)
{
	return client_cache_alloc_at(cache, flags, node, NULL);
}
/* client_kfree_at: slabd_kfree for a public call that returns to @caller (an entry point
 * that frees on the user's behalf: kmem_cache_free, the bulk frees, krealloc). */
void client_kfree_at(const void *p, const void *caller) SLABD_HIDDEN;
/* client_large_alloc: page-level allocation through the daemon; offset or -errno. */
int64_t client_large_alloc(uint64_t size, uint32_t gfp, int node) SLABD_HIDDEN;
/* client_set_error: record a message for slabd_last_error(). */
void client_set_error(const char *fmt, ...) SLABD_HIDDEN __attribute__((format(printf, 1, 2)));
/* cache_handles: where this process's struct kmem_cache table is (for slabd_fast_v2). */
const char *cache_handles(void) SLABD_HIDDEN;
/* kmalloc cache of sizes 1..1024 in steps of 8 (alloc.c) */
extern uint8_t slabd_small_index[128] SLABD_HIDDEN;
/* client_kick: wake the daemon's workers. */
void client_kick(void) SLABD_HIDDEN;

/* debug.c: the checks of debug caches (slabd_shm_cache.debug), called from alloc.c's
 * slow paths with the public call's return address (@caller, NULL: unknown); and the
 * allocation and free that bypass them, for debug.c (alloc.c). */
void *debug_alloc(uint32_t cache, unsigned int flags, int node, const void *caller) SLABD_HIDDEN;
void debug_free(uint32_t cache, uint64_t off, uint32_t node, const void *caller) SLABD_HIDDEN;
void debug_bad_pointer(const void *p, const char *why, const void *caller) SLABD_HIDDEN;
/* alloc_depot_take: one object of @cache straight from node index @node's depot (may
 * wait as @flags allow); NULL with errno. alloc_depot_give: @off back to that depot. */
void *alloc_depot_take(uint32_t cache, unsigned int flags, int node) SLABD_HIDDEN;
void alloc_depot_give(uint32_t cache, uint32_t node, uint64_t off) SLABD_HIDDEN;

static inline struct slabd_shm_depot *client_depot(uint32_t cache, uint32_t node)
{
	return &slabd_client.depots[(uint64_t)cache * slabd_client.sb->nr_nodes + node];
}

#endif /* SLABD_LIB_CLIENT_H */
