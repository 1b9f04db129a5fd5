/* SPDX-License-Identifier: MIT */
/*
 * slabd_shm.h - the shared-memory layout: the contract between slabd and its clients.
 *
 * This file is the only place the region's structures are declared. The daemon and
 * libslabclient both include it; nothing else defines a shared struct.
 *
 * The region is one virtual window of three segments, each backed by its own memfd:
 *
 *   base + 0            meta    superblock, CPU/node/zone/cache tables, page descriptors.
 *                               Written by the daemon only; mapped read-only in clients
 *                               (the daemon seals the memfd with F_SEAL_FUTURE_WRITE).
 *   base + percpu_off   percpu  control words, depots, per-CPU caches, magazines.
 *                               Read-write for everybody: untrusted input to the daemon.
 *   base + zones_off    zones   the objects themselves, one zone per NUMA node, then the
 *                               DMA zone (pinned, an IOVA for every page) when configured.
 *
 * Rules every field below follows:
 *   - fixed-width integers only, no pointers, no enums: shared by 64-bit processes that
 *     may map the window at different addresses;
 *   - every reference is an offset from the window's base (0 is never a valid object, so
 *     0 means "none" in links);
 *   - each field says who writes it (W:), who reads it (R:) and with what ordering.
 *
 * Lock-free stacks (depot full/reserve stacks, the empty-magazine stack) use a tagged
 * 64-bit head, see SLABD_STACK_*: one compare-and-swap moves a magazine and updates the
 * count and the ABA tag together, so a client that dies between two instructions leaves
 * either the old or the new head, never a half-update (invariant 1).
 *
 * Free chains (depot->freelist, ctl->large_free) are push-only for clients and
 * take-all (exchange with 0) for the daemon; that pattern has no ABA problem, so their
 * heads are plain offsets. Links live in the first 8 bytes of the freed memory and are
 * validated by the daemon before they are followed (invariant 2).
 */
#ifndef SLABD_PROTO_SHM_H
#define SLABD_PROTO_SHM_H

#include <stddef.h>
#include <stdint.h>

/* Bump on any change to a struct or constant in this file (and update tests/unit/test_layout.c). */
#define SLABD_SHM_LAYOUT_VERSION 8u /* 2: client table, per-CPU miss counters; 3: node fallback order,
						 * remote-free stacks, DMA zone, IOVA table, pools;
						 * 4: debug mode (cache debug/trailer/epoch, track
						 * records, debug error counters); 5: miss counters
						 * [cpu][cache], rows padded to a cache line; 6:
						 * 1 KiB magazines of 127 slots (SLABD_MAG_BATCH); 7:
						 * cache generation (pools can be freed); 8: track
						 * records of 48 bytes with the allocation and free
						 * call sites and the freeing pid */
#define SLABD_SHM_MAGIC 0x4745524442414c53ull /* "SLABDREG" little-endian */

#define SLABD_PAGE_SHIFT 12u
#define SLABD_PAGE_SIZE (1u << SLABD_PAGE_SHIFT)

/* One per-CPU cache (struct slabd_shm_pcpu) is exactly 1 << SLABD_PCPU_SHIFT bytes, so the
 * fast path finds CPU c's cache with a shift. */
#define SLABD_PCPU_SHIFT 10u
#define SLABD_PCPU_SLOTS 127u
/* Capacity of a CPU's remote-free stack (objects of other nodes freed on that CPU, sent
 * home in batches): two batches (SLABD_MAG_BATCH). */
#define SLABD_REMOTE_CAP 62u
/* A magazine holds up to SLABD_MAG_SLOTS objects (1 KiB: a whole per-CPU stack's worth), but
 * moves SLABD_MAG_BATCH (a cache's mag_objs, at most this) on an ordinary miss and when the
 * daemon fills it: four batches fit a stack, so a CPU that allocates and frees around its
 * stack's edge does not move objects back and forth on every call. Only a CPU whose
 * misses of a cache are one-sided (a handoff's consumer) fills a magazine with its whole
 * stack, and its producer takes that in one pop (docs/design.md, "Handoffs"). */
#define SLABD_MAG_SLOTS 127u
#define SLABD_MAG_BATCH 31u

#define SLABD_MAX_NODES 64u
#define SLABD_MAX_ZONES (SLABD_MAX_NODES + 1u)
#define SLABD_MAX_CPUS 4096u
/* The largest page-level allocation, in the daemon's buddy allocator and so for clients,
 * who fail a larger request at once instead of asking: 2^24 pages (64 GiB) per block. A
 * constant both sides agree on, not a field of the layout. */
#define SLABD_LARGE_MAX_ORDER 24u
#define SLABD_MAX_CACHES 1024u
#define SLABD_CACHE_NAME_MAX 32u
#define SLABD_MAX_CLIENTS 1024u

/* Cache ids: 0 is "no cache"; kmalloc-<size> is cache id kmalloc_index(size) (1..25),
 * so a constant size resolves its cache at compile time. */
#define SLABD_KMALLOC_FIRST 1u
#define SLABD_KMALLOC_LAST 25u
#define SLABD_FIRST_NAMED_CACHE 64u
/* dma-kmalloc-<size> is cache id SLABD_DMA_KMALLOC_BASE + kmalloc_index(size) (33..57). */
#define SLABD_DMA_KMALLOC_BASE 32u

/* slabd_shm_super.iova_mode: where the IOVA table's entries come from */
#define SLABD_IOVA_NONE 0u  /* no DMA zone */
#define SLABD_IOVA_VFIO 1u  /* a VFIO type1 container mapping; IOVAs chosen by slabd */
#define SLABD_IOVA_PA 2u    /* physical addresses (from /proc/self/pagemap in the daemon) */
#define SLABD_IOVA_VA 3u    /* the daemon's virtual addresses */
#define SLABD_NO_ZONE 0xffffffffu /* slabd_shm_super.dma_zone when there is none */

/* Packet-buffer pool objects: [header SLABD_PKTBUF_HDR][private area, pool_priv rounded
 * up to 8][headroom + data room]; the header is struct slabd_pktbuf of <slabd/pktbuf.h>. */
#define SLABD_PKTBUF_HDR 128u
#define SLABD_PKTBUF_MAX_BUF 65535u /* headroom + data room fit buf_len (16 bits) */
#define SLABD_PKTBUF_MAX_PRIV 65528u

/* slabd_shm_super.backing */
#define SLABD_BACKING_SHMEM_4K 1u
#define SLABD_BACKING_HUGETLB_2M 2u
#define SLABD_BACKING_HUGETLB_1G 3u

/* slabd_shm_node.flags */
#define SLABD_NODE_BOUND 0x1u     /* zone mbind()-ed to this node and verified */
#define SLABD_NODE_SIMULATED 0x2u /* node from a synthetic topology: zone unbound */

/* slabd_shm_zone.kind */
#define SLABD_ZONE_NODE 1u
#define SLABD_ZONE_DMA 2u

/* slabd_shm_cache.state */
#define SLABD_CACHE_UNUSED 0u
#define SLABD_CACHE_ACTIVE 1u

/* slabd_shm_page.kind */
#define SLABD_PAGE_FREE 0u       /* in the zone's buddy allocator (or never used) */
#define SLABD_PAGE_SLAB 1u       /* part of a slab: .cache is valid, .head is the slab's first page */
#define SLABD_PAGE_LARGE 2u      /* first page of a large allocation: .head is its page count */
#define SLABD_PAGE_LARGE_TAIL 3u /* later page of a large allocation: .head is the first page */

/* slabd_shm_depot.flags */
#define SLABD_DEPOT_EXHAUSTED 0x1u /* daemon could not refill: no pages left in the zone */

/*
 * Tagged stack head: bits 0..23 magazine index + 1 (0: empty), bits 24..43 number of
 * magazines on the stack, bits 44..63 ABA tag incremented by every successful CAS.
 */
#define SLABD_STACK_IDX_BITS 24u
#define SLABD_STACK_CNT_BITS 20u
#define SLABD_STACK_IDX_MASK ((1ull << SLABD_STACK_IDX_BITS) - 1)
#define SLABD_STACK_CNT_MASK ((1ull << SLABD_STACK_CNT_BITS) - 1)
#define SLABD_STACK_CNT_SHIFT SLABD_STACK_IDX_BITS
#define SLABD_STACK_TAG_SHIFT (SLABD_STACK_IDX_BITS + SLABD_STACK_CNT_BITS)
#define SLABD_MAX_MAGS ((uint32_t)SLABD_STACK_CNT_MASK)

static inline uint32_t slabd_stack_top(uint64_t h) /* index + 1, 0 when empty */
{
	return (uint32_t)(h & SLABD_STACK_IDX_MASK);
}
static inline uint32_t slabd_stack_count(uint64_t h)
{
	return (uint32_t)((h >> SLABD_STACK_CNT_SHIFT) & SLABD_STACK_CNT_MASK);
}
static inline uint64_t slabd_stack_make(uint64_t old, uint32_t top, uint32_t count)
{
	uint64_t tag = (old >> SLABD_STACK_TAG_SHIFT) + 1;
	return (tag << SLABD_STACK_TAG_SHIFT) | ((uint64_t)(count & SLABD_STACK_CNT_MASK) << SLABD_STACK_CNT_SHIFT) |
	       (top & SLABD_STACK_IDX_MASK);
}

/* ---------------------------------------------------------------- meta (read-only) -- */

/* At meta offset 0. W: daemon, once, before the first client attaches. R: clients at
 * attach (validated by slabd_shm_super_validate), then as immutable. */
struct slabd_shm_super {
	uint64_t magic;          /* SLABD_SHM_MAGIC */
	uint32_t layout_version; /* SLABD_SHM_LAYOUT_VERSION */
	uint32_t page_shift;     /* SLABD_PAGE_SHIFT */
	uint64_t region_id;      /* random per region instance: a forked child re-attaching checks it */
	uint64_t base_addr;      /* the daemon's base; clients try to map here */
	uint64_t region_size;    /* whole window */
	uint64_t meta_size;      /* meta segment at offset 0 */
	uint64_t percpu_off;     /* percpu segment */
	uint64_t percpu_size;
	uint64_t zones_off;      /* zones segment: all zones back to back */
	uint64_t zones_size;
	uint64_t hugepage_size;  /* backing page size of the zones segment */
	uint32_t backing;        /* SLABD_BACKING_* */
	uint32_t nr_cpus;        /* entries in the CPU table; rseq cpu_id < nr_cpus */
	uint32_t nr_nodes;       /* entries in the node table */
	uint32_t nr_zones;       /* entries in the zone table */
	uint32_t max_caches;     /* entries in the cache table and depots per node */
	uint32_t nr_pages;       /* entries in the page table (zones_size >> page_shift) */
	uint32_t nr_mags;        /* magazines in the percpu segment */
	uint32_t max_cache_size; /* largest kmalloc slab class; larger sizes are page allocations */
	/* offsets inside the meta segment */
	uint64_t cpu_table_off;
	uint64_t node_table_off;
	uint64_t zone_table_off;
	uint64_t cache_table_off;
	uint64_t page_table_off;
	/* offsets inside the percpu segment */
	uint64_t ctl_off;
	uint64_t depot_off;  /* depots[cache * nr_nodes + node] */
	uint64_t pcpu_off;   /* pcpu[cache << (cpu_shift)] + cpu << SLABD_PCPU_SHIFT */
	uint64_t mag_off;    /* mags[nr_mags] */
	uint32_t pcpu_slots; /* SLABD_PCPU_SLOTS */
	uint32_t mag_slots;  /* SLABD_MAG_SLOTS */
	uint32_t daemon_pid; /* W: daemon at start. R: tools */
	uint32_t max_clients; /* entries in the client table */
	uint64_t client_off;  /* offset inside the percpu segment of the client table */
	uint64_t pcpu_stat_off; /* ... of the per-CPU miss counters, see slabd_shm_pcpu_stat_index() */
	uint64_t remote_off;    /* ... of the per-CPU remote-free stacks, CPU c at + (c << SLABD_PCPU_SHIFT) */
	/* DMA zone (layout 3). W: daemon at creation, before magic is published. */
	uint32_t dma_zone;       /* its index in the zone table, SLABD_NO_ZONE: none */
	uint32_t iova_mode;      /* SLABD_IOVA_* */
	uint64_t iova_table_off; /* meta offset of uint64_t iova[nr_iova] */
	uint32_t nr_iova;        /* entries: one per 1 << iova_shift bytes of the DMA zone */
	uint32_t iova_shift;     /* SLABD_PAGE_SHIFT: the IOVA of byte x of the zone is
				  * iova[x >> iova_shift] + (x & ((1 << iova_shift) - 1)) */
};

/* CPU table, indexed by the kernel's CPU number (rseq cpu_id). W: daemon at creation. */
struct slabd_shm_cpu {
	uint16_t node;  /* index into the node table */
	uint16_t flags; /* reserved */
};

/* Node table. W: daemon at creation. */
struct slabd_shm_node {
	uint32_t os_index; /* the kernel's node number */
	uint32_t zone;     /* its zone in the zone table */
	uint32_t flags;    /* SLABD_NODE_* */
	uint32_t nr_cpus;
	/* Node indexes nearest first by hwloc distance (ties: lower index): order[0] is this
	 * node, order[1..nr_nodes-1] the fallbacks of an allocation that may leave it. */
	uint8_t order[SLABD_MAX_NODES];
};

/* Zone table. W: daemon at creation. */
struct slabd_shm_zone {
	uint64_t off;        /* from the window's base */
	uint64_t size;
	uint32_t first_page; /* index of its first page in the page table */
	uint32_t nr_pages;
	uint32_t kind;       /* SLABD_ZONE_* */
	uint32_t node;       /* index into the node table */
};

/* Cache table. W: daemon when it creates the cache, before publishing state = ACTIVE
 * with a release store. R: clients (acquire load of state).
 *
 * state goes ACTIVE -> UNUSED while the daemon tries to destroy the cache (kmem_cache_
 * destroy, slabd_pktpool_free): back to ACTIVE, gen unchanged, when objects are still out;
 * gen + 1 when the destroy goes ahead. A handle made under one gen names that cache, not
 * whatever is created with the id later. */
struct slabd_shm_cache {
	char name[SLABD_CACHE_NAME_MAX]; /* NUL-terminated */
	uint32_t state;     /* SLABD_CACHE_* */
	uint32_t size;      /* object stride in the slab (>= obj_size, aligned) */
	uint32_t obj_size;  /* what the user asked for */
	uint32_t align;
	uint32_t flags;     /* slab_flags_t */
	uint32_t order;     /* a slab is 2^order pages */
	uint32_t objs_per_slab;
	uint32_t mag_objs;  /* objects an ordinary miss moves for this cache (<= SLABD_MAG_BATCH) */
	uint32_t zone_kind; /* SLABD_ZONE_NODE or SLABD_ZONE_DMA */
	/* Packet-buffer pools (layout 3): a pool is a DMA cache of exactly pool_n objects,
	 * all carved when it is created. 0 for other caches. */
	uint32_t pool_n;        /* buffers in the pool */
	uint32_t pool_priv;     /* private area per buffer, bytes */
	uint32_t pool_headroom; /* default data_off */
	uint32_t pool_data_room; /* room after the headroom */
	/* Debug mode (layout 4). W: daemon (at creation, and at run time on a slabctl
	 * debug request: debug with a release store after debug_epoch). R: clients on their
	 * slow paths (acquire). Cache id 0's entry (no cache) holds the OR of every cache's
	 * debug flags: the library checks pointers that belong to no cache when it is set. */
	uint32_t debug;       /* SLABD_DEBUG_* active now; 0: off (per-CPU stacks in use) */
	uint32_t trailer;     /* offset in each slot of its struct slabd_shm_track, 0: none
			       * (geometry without room: poison and pointer checks only) */
	uint32_t debug_epoch; /* +1 at every switch on: track states of older epochs are stale */
	/* Generation (layout 7). W: daemon, +1 (release) when a destroy of the cache of this
	 * id goes ahead, before its memory is given back; kept when the id is reused. R:
	 * clients (acquire) on the slow paths of a pool handle, which remembers the gen it
	 * was made under: another one means the pool was freed. */
	uint32_t gen;
	uint32_t reserved0;
};

/* Page table, one entry per 4 KiB page of the zones segment, global page index =
 * (offset - zones_off) >> SLABD_PAGE_SHIFT. W: daemon when it carves or frees a slab or a
 * large allocation, before the memory can reach a client. R: clients in kfree/ksize. */
struct slabd_shm_page {
	uint8_t kind;   /* SLABD_PAGE_* */
	uint8_t zone;   /* index into the zone table */
	uint16_t cache; /* SLAB: cache id */
	uint32_t head;  /* SLAB, LARGE_TAIL: first page index; LARGE: number of pages */
};

/* ------------------------------------------------------------ percpu (read-write) -- */

/* Control words at percpu offset ctl_off. */
struct slabd_shm_ctl {
	uint32_t kick;        /* futex. W: clients (atomic add, then FUTEX_WAKE) to wake the
			       * workers early. R: workers (FUTEX_WAIT). */
	uint32_t large_seq;   /* futex. W: daemon, +1 after pages were freed. R: clients waiting
			       * for a large allocation. */
	uint32_t daemon_epoch; /* W: daemon, +1 at every start. R: clients, tools. */
	uint32_t reserved0;
	uint64_t empty_mags;  /* tagged stack of empty magazines. W/R: clients and daemon (CAS). */
	uint64_t large_free;  /* chain of freed large allocations (offset of the first page, link
			       * in its first 8 bytes). W: clients (CAS push). R: daemon (exchange). */
	uint64_t reserved[4];
};

/* Depot, one per (cache, node) at depot_off + (cache * nr_nodes + node) * 64. */
struct slabd_shm_depot {
	uint64_t full;     /* tagged stack of full magazines. W/R: clients and daemon (CAS). */
	uint64_t reserve;  /* tagged stack: emergency reserve for GFP_ATOMIC. W: daemon pushes,
			    * clients pop with __GFP_HIGH only. */
	uint64_t freelist; /* chain of freed objects (link in the object's first 8 bytes).
			    * W: clients (CAS push). R: daemon (exchange with 0). */
	uint32_t seq;      /* futex. W: daemon, +1 after each refill attempt. R: sleeping clients. */
	uint32_t waiters;  /* W: clients (atomic inc/dec around a sleep). R: daemon (advisory). */
	uint32_t want;     /* W: clients set 1 when they found the depot dry. R/W: daemon clears. */
	uint32_t flags;    /* SLABD_DEPOT_*. W: daemon. R: tools and tests (clients decide
			    * whether to wait from seq and their flags alone). */
	uint32_t misses;   /* W: clients (relaxed add) per slow-path visit. R: daemon (demand). */
	uint32_t reserved0;
	uint64_t debug_errors; /* layout 4, node 0's depot only: errors the debug checks found in
				* this cache (cache 0: pointers of no cache). W: clients (relaxed
				* add). R: daemon (DEBUG_REPLY), advisory. */
	uint64_t reserved[1];
};

/* Per-CPU cache: an array stack of free object offsets for one (cache, CPU). W: any
 * thread running on that CPU, only inside a restartable sequence whose commit is the
 * store to .count (invariant 1); the daemon drains it the same way from that CPU.
 * .capacity W: daemon (resizing), R: the push sequence. */
struct slabd_shm_pcpu {
	uint32_t count;
	uint32_t capacity; /* <= SLABD_PCPU_SLOTS */
	uint64_t slots[SLABD_PCPU_SLOTS];
};

/* Miss counters of one (cache, CPU), beside its per-CPU stack (which has no room left):
 * W: clients (relaxed atomic add) on their slow paths. R: the node's worker, which grows
 * the stack's capacity when a CPU both runs dry and overflows, and shrinks it when quiet.
 * Laid out [cpu][cache] (layout 5; slabd_shm_pcpu_stat_index), each CPU's row padded to
 * whole cache lines: only threads on that CPU write it, so a miss on one CPU never takes
 * a line from another (in layout 4, [cache][cpu], CPUs 0-7 shared each line of a cache). */
struct slabd_shm_pcpu_stat {
	uint32_t alloc_misses; /* the stack was empty on allocation */
	uint32_t free_misses;  /* the stack was full on free */
};

/* Client table, one entry per attached process (the slot is in the attach reply). */
struct slabd_shm_client {
	uint32_t pid;   /* W: daemon at attach. R: tools */
	uint32_t id;    /* W: daemon (client id, 0: free slot). R: tools */
	uint64_t alloc_failures; /* W: the client (atomic add) when an allocation without
				  * __GFP_NOWARN fails. R: daemon (stats, detach report) */
	uint64_t debug_errors;   /* layout 4. W: the client (atomic add) per error its debug
				  * checks found. R: daemon (detach report) */
	uint64_t reserved[1];
};

/*
 * Debug mode (layout 4). slabd_shm_cache.debug holds these (the values of the public
 * SLAB_* cache flags). A debug cache's per-CPU stacks have capacity 0, so every
 * allocation and free misses into the library's slow path, where the checks run.
 */
#define SLABD_DEBUG_RED_ZONE 0x00000400u   /* SLAB_RED_ZONE: needs a trailer */
#define SLABD_DEBUG_POISON 0x00000800u     /* SLAB_POISON */
#define SLABD_DEBUG_STORE_USER 0x00010000u /* SLAB_STORE_USER: needs a trailer */
#define SLABD_DEBUG_ALL (SLABD_DEBUG_RED_ZONE | SLABD_DEBUG_POISON | SLABD_DEBUG_STORE_USER)

/* struct slabd_shm_track.redzone (and the gap bytes between obj_size and the trailer) */
#define SLABD_RED_ACTIVE 0xccccccccccccccccull   /* allocated */
#define SLABD_RED_INACTIVE 0xbbbbbbbbbbbbbbbbull /* free */
/* struct slabd_shm_track.state: (debug_epoch << 2) | SLABD_TRACK_* */
#define SLABD_TRACK_ALLOC 1u
#define SLABD_TRACK_FREE 2u

/*
 * Track record, in the zones at slot + slabd_shm_cache.trailer of caches with a trailer
 * (created with SLAB_RED_ZONE or SLAB_STORE_USER, or kmalloc caches of a daemon with
 * "debug = redzone|store_user"). The slot is [object: obj_size][red zone gap up to the
 * trailer][struct slabd_shm_track][padding to the stride]. W: the library's debug slow
 * path of whichever process allocates or frees the object; slabd_obj_give (owner, pid);
 * the daemon's owner reclaim (as a free). R: the library's checks and reports; the daemon
 * when a client dies (owner reclaim), as untrusted input: a record only ever makes it
 * return an object its own bitmap says is allocated.
 *
 * The call sites (layout 8) are return addresses into the code of the process named by
 * the pid beside them: the instruction after its call of the public allocating or freeing
 * function (kmalloc, kmem_cache_alloc, kfree, ...; the kernel names are inline wrappers, so
 * that is the user's own code). They mean something in that process's address space only:
 * another process prints them raw, with the pid. 0: not known (allocated by the fast path
 * before debug was switched on, freed by the daemon's owner reclaim). alloc_* are written
 * before the release store of state = ALLOC, free_* after the CAS to FREE wins; readers
 * take them as advisory (a racing double free may see the previous free's).
 */
struct slabd_shm_track {
	uint64_t redzone;    /* SLABD_RED_ACTIVE while allocated, SLABD_RED_INACTIVE while free */
	uint32_t state;      /* (debug_epoch << 2) | SLABD_TRACK_ALLOC or SLABD_TRACK_FREE */
	uint32_t owner;      /* client id that owns it (0: nobody: never reclaimed) */
	uint32_t pid;        /* the owner's pid (reports) */
	uint32_t alloc_pid;  /* the process that allocated it */
	uint64_t alloc_addr; /* layout 8: where alloc_pid called the allocation (0: unknown) */
	uint64_t free_addr;  /* layout 8: where free_pid called its last free (0: unknown) */
	uint32_t free_pid;   /* layout 8: the process that last freed it (the daemon's pid: owner
			      * reclaim; 0: never freed in debug mode) */
	uint32_t reserved;
};

/* Magazine: a fixed array of free objects moved as one unit. Owned by whoever popped it
 * from a stack until it is pushed again. */
struct slabd_shm_mag {
	uint32_t next;  /* index + 1 of the next magazine on its stack, 0 at the bottom */
	uint32_t count; /* valid entries in objs[] */
	uint64_t objs[SLABD_MAG_SLOTS];
};

_Static_assert(sizeof(struct slabd_shm_super) == 256, "superblock size is part of the ABI");
_Static_assert(sizeof(struct slabd_shm_cpu) == 4, "cpu entry");
_Static_assert(sizeof(struct slabd_shm_node) == 80, "node entry");
_Static_assert(sizeof(struct slabd_shm_zone) == 32, "zone entry");
_Static_assert(sizeof(struct slabd_shm_cache) == 104, "cache entry");
_Static_assert(sizeof(struct slabd_shm_page) == 8, "page entry");
_Static_assert(sizeof(struct slabd_shm_ctl) == 64, "ctl block");
_Static_assert(sizeof(struct slabd_shm_depot) == 64, "depot is one cache line");
_Static_assert(sizeof(struct slabd_shm_pcpu) == (1u << SLABD_PCPU_SHIFT), "pcpu is 1<<PCPU_SHIFT");
_Static_assert(offsetof(struct slabd_shm_pcpu, count) == 0, "the rseq code relies on count at 0");
_Static_assert(offsetof(struct slabd_shm_pcpu, capacity) == 4, "the rseq code relies on capacity at 4");
_Static_assert(offsetof(struct slabd_shm_pcpu, slots) == 8, "the rseq code relies on slots at 8");
_Static_assert(sizeof(struct slabd_shm_mag) == 1024, "magazine size");
_Static_assert(sizeof(struct slabd_shm_client) == 32, "client entry");
_Static_assert(sizeof(struct slabd_shm_pcpu_stat) == 8, "per-CPU miss counters");
_Static_assert(sizeof(struct slabd_shm_track) == 48, "track record");

/*
 * slabd_shm_super_validate: check a superblock read from a mapping of @meta_len bytes
 * against this build's layout and against itself (every table inside the segment,
 * segments inside the window). Returns 0, or -EBADF (not slabd: magic), -EPROTO (another
 * layout version), -EINVAL (counts, constants or table offsets other than this build
 * computes), -EOVERFLOW (segment sizes that do not add up or exceed @meta_len).
 */
int slabd_shm_super_validate(const struct slabd_shm_super *sb, uint64_t meta_len);

/* Segment sizes of a region with these parameters; what the daemon creates and what the
 * validation above expects. @align is the hugepage size (every segment is aligned to it). */
struct slabd_shm_geometry {
	uint32_t nr_cpus, nr_nodes, nr_zones, max_caches, nr_pages, nr_mags;
	uint32_t nr_iova; /* IOVA table entries (0: no DMA zone) */
	uint64_t align;
	/* computed */
	uint64_t cpu_table_off, node_table_off, zone_table_off, cache_table_off, page_table_off;
	uint64_t iova_table_off;
	uint64_t meta_size;
	uint64_t ctl_off, depot_off, pcpu_off, mag_off, client_off, pcpu_stat_off, remote_off;
	uint64_t percpu_size;
};
int slabd_shm_geometry(struct slabd_shm_geometry *g);

static inline uint64_t slabd_shm_depot_index(const struct slabd_shm_super *sb, uint32_t cache, uint32_t node)
{
	return (uint64_t)cache * sb->nr_nodes + node;
}

/* Offset (inside percpu) of cache @cache's per-CPU array: CPU c is at + (c << SLABD_PCPU_SHIFT). */
static inline uint64_t slabd_shm_pcpu_cache_off(const struct slabd_shm_super *sb, uint32_t cache)
{
	return sb->pcpu_off + ((uint64_t)cache * sb->nr_cpus << SLABD_PCPU_SHIFT);
}

/* Entries per CPU row of the miss counters: max_caches rounded up to a cache line's worth. */
static inline uint64_t slabd_shm_pcpu_stat_row(uint32_t max_caches)
{
	return ((uint64_t)max_caches + 7) & ~7ull;
}

/* Index of (cache, cpu)'s miss counters in the array at pcpu_stat_off. */
static inline uint64_t slabd_shm_pcpu_stat_index(uint32_t max_caches, uint32_t cache, uint32_t cpu)
{
	return (uint64_t)cpu * slabd_shm_pcpu_stat_row(max_caches) + cache;
}
_Static_assert(8 * sizeof(struct slabd_shm_pcpu_stat) == 64, "a row of the miss counters is whole cache lines");

#endif /* SLABD_PROTO_SHM_H */
