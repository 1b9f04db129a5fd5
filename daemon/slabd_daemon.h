/* SPDX-License-Identifier: MIT */
/*
 * slabd_daemon.h - the daemon's state (internal to daemon/).
 *
 * Ownership and lock order:
 *   1. zone.lock    the zone's buddy allocator and the page-table entries of its pages
 *                   (taken by the zone's node worker when it carves or frees slabs, and
 *                   by the control thread for large allocations and frees).
 * Everything per (cache, node) — slab lists, struct cache_node, the depot's refill — is
 * touched only by that node's worker thread, so it needs no lock. The cache array is
 * written by the control thread before the workers start (kmalloc caches) and published
 * with release stores afterwards.
 *
 * Where a cache's objects are (per node):
 *   objs_per_slab * nr_slabs == held (bits set in slab maps, daemon-private)
 *                             + in depots (magazines, freelist) + in per-CPU caches
 *                             + in magazines held by clients + allocated.
 */
#ifndef SLABD_DAEMON_H
#define SLABD_DAEMON_H

#include <pthread.h>
#include <stdint.h>

#include "buddy.h"
#include "config.h"
#include "slabd_shm.h"

struct slab {
	struct slab *next, *prev; /* on its cache_node's partial or free list */
	uint32_t head;            /* global page index of the first page */
	uint32_t nfree;           /* objects in the daemon's hands: bits set in map */
	uint8_t list;             /* SLAB_LIST_* */
	uint64_t *map;            /* bit i: object i is free and held by the daemon; the
				   * slab's words of d->slabmap (persist.c), so that they
				   * outlive the daemon when the region is kept in files */
};

/* d->slabmap has this many bitmap words per page of the zones: a slab of 2^k pages has
 * at most 2^k * 512 objects (8 bytes each at least), and its bitmap is the words of its
 * pages, from its first page's on. */
#define SLAB_MAP_WORDS_PER_PAGE (SLABD_PAGE_SIZE / 8 / 64)

#define SLAB_LIST_NONE 0    /* nfree == 0: every object is out */
#define SLAB_LIST_PARTIAL 1 /* 0 < nfree < objs */
#define SLAB_LIST_FREE 2    /* nfree == objs: can go back to the page allocator */

struct slab_list {
	struct slab *first;
	uint32_t nr;
};

struct cache_node {
	struct slab_list partial, free;
	uint32_t nr_slabs;
	uint64_t held;         /* objects in the daemon's hands */
	uint32_t last_misses;  /* depot->misses at the last look */
	uint32_t decays;       /* target halvings since the last demand */
	uint64_t demand_ms;    /* monotonic ms of the last demand (a miss or a want) */
	uint32_t target;       /* depot fill level it refills to, in magazines: doubles each
				* time a client finds the depot empty, halves when demand stops */
	int active;            /* has had demand: keep its depot above the low watermark */
	uint64_t leftover_ms;  /* idle: when freed memory (a magazine, an empty slab) was first
				* seen after the shrink; 0: nothing waiting to go back */
	int starving;          /* this round: a refill failed with sleepers on the depot */
};

/* What the worker last saw of one (cache, CPU) stack. */
struct pcpu_track {
	uint32_t alloc_misses, free_misses; /* the shared counters at the last look */
	uint32_t count;                     /* the stack's count and top at the last look */
	uint64_t top;
	uint32_t quiet;   /* looks without a miss */
	uint32_t idle_ms; /* time the stack has not visibly changed */
};

struct cache {
	uint32_t id;
	uint32_t pcpu_cap_default, pcpu_cap_max; /* bounds of each per-CPU stack's capacity */
	struct pcpu_track *track;                /* [nr_cpus], touched by the CPU's node worker */
	uint32_t size; /* object stride */
	uint32_t objs; /* per slab */
	uint32_t order;
	uint32_t mag_objs;
	uint32_t target_min, target_max; /* bounds of cache_node.target, in magazines; low
					  * watermark = target / 2, high = 3 * target */
	uint32_t reserve;           /* emergency reserve, in magazines */
	struct slabd_shm_cache *shm;
	struct cache_node *nodes; /* [nr_nodes] */
	int dying;                /* being destroyed: no refills */
	/* packet-buffer pool (pool.c): all slabs carved at creation, none added, none
	 * released until the pool is freed (pool_depopulate clears max_objs); the last slab's
	 * objects from phantom_from on are never handed out, so the pool holds exactly
	 * max_objs. max_objs == 0: not a pool. */
	uint32_t max_objs;
	uint32_t phantom;      /* objects of the last slab held back: slabs * objs - max_objs */
	uint32_t phantom_head; /* first page of that slab */
	uint32_t phantom_from; /* first held-back index in it */
};

struct zone {
	uint32_t index, node, first_page, nr_pages;
	struct buddy buddy;
	pthread_mutex_t lock;
	/* release.c: chunks of the backing page size given back to the kernel */
	uint32_t chunk_pages, chunk_order, nr_chunks;
	uint64_t *chunk_free_since; /* ms when first seen entirely free, 0: not free */
	uint8_t *chunk_released;    /* punched out of the memfd (release.c: CHUNK_*) */
	uint64_t released_bytes;
	uint32_t release_pending; /* free resident chunks beyond retain_free at the last scan */
};

struct topo {
	uint32_t nr_cpus;   /* CPU table entries: every possible CPU number */
	uint32_t nr_nodes;
	int simulated;      /* the topology is not this machine's (synthetic or XML) */
	int node_os[SLABD_MAX_NODES];
	uint32_t node_nr_cpus[SLABD_MAX_NODES];
	uint16_t *cpu_node; /* [nr_cpus] node index of each CPU */
	uint8_t *cpu_real;  /* [nr_cpus] CPU exists on this machine */
	int have_distances; /* dist[][] came from hwloc (else: 10 for self, 20 otherwise) */
	uint32_t dist[SLABD_MAX_NODES][SLABD_MAX_NODES]; /* relative latency, by node index */
	uint8_t order[SLABD_MAX_NODES][SLABD_MAX_NODES]; /* order[i]: i first, then nearest */
};

struct stats {
	uint64_t bad_objects;  /* offsets from client memory that were not objects */
	uint64_t double_frees; /* objects returned while already free */
	uint64_t bad_mags;     /* magazines with a corrupt count */
	uint64_t bad_stacks;   /* depot stack heads found corrupt and reset */
	uint64_t bad_pcpu;     /* per-CPU (and remote-free) stack counts found corrupt and reset */
	uint64_t quarantined;  /* magazines with foreign entries: taken out of circulation */
	uint64_t refills, reclaims, slabs_created, slabs_released, drains;
	uint64_t failures_of_gone_clients; /* alloc_failures of clients that detached */
	/* per-CPU misses of destroyed caches, so that a CPU's miss counters never go down */
	uint64_t gone_alloc_misses[SLABD_MAX_CPUS], gone_free_misses[SLABD_MAX_CPUS];
};

struct slabd {
	struct config cfg;
	struct topo topo;

	char *base;
	uint64_t size;
	int meta_fd, meta_ro_fd, percpu_fd, zones_fd;
	uint32_t backing;
	struct slabd_shm_super *sb;
	struct slabd_shm_cpu *cpus;
	struct slabd_shm_node *nodes;
	struct slabd_shm_zone *zone_tab;
	struct slabd_shm_cache *cache_tab;
	struct slabd_shm_page *pages;
	struct slabd_shm_ctl *ctl;
	struct slabd_shm_depot *depots;
	struct slabd_shm_mag *mags;
	struct slabd_shm_client *clients; /* [SLABD_MAX_CLIENTS] */
	struct slabd_shm_pcpu_stat *pcpu_stats; /* slabd_shm_pcpu_stat_index() */
	char *pcpu;
	char *remote;                   /* per-CPU remote-free stacks, CPU c at + (c << SLABD_PCPU_SHIFT) */
	struct pcpu_track *remote_track; /* [nr_cpus], touched by the CPU's node worker */
	char *zones;

	struct zone zone[SLABD_MAX_ZONES];
	uint32_t nr_zones;
	struct cache **caches; /* [max_caches] */
	/* [max_caches] or NULL: ids whose slabs a restart kept allocated without a cache to
	 * own them (persist.c). Their pages still name the id, and clients route a kfree by
	 * it: never given to a new cache (control thread; written before the workers start) */
	uint8_t *id_kept;
	struct slab **page_slab; /* [nr_pages] the slab owning each page, daemon-private */

	pthread_t workers[SLABD_MAX_NODES];
	int nr_workers;
	struct worker_slot {
		pthread_mutex_t lock;
		pthread_cond_t cond;
		struct worker_job *job; /* run by the node's worker between rounds */
	} wslot[SLABD_MAX_NODES];
	volatile int stop;
	struct stats stats; /* updated with relaxed atomics */

	/* operating (main.c, reload.c): what SIGHUP reads again */
	const char *config_file;     /* NULL: none */
	char **sets;                 /* --set options, split at '=' */
	int nsets;
	const char *socket_override; /* --socket */
	int listen_activated;        /* the listening socket came from socket activation */
	int metrics_fd;              /* with cfg.metrics_port: the endpoint's listening socket */
	/* DMA zone (dma.c, iova.c); dma_zone is SLABD_NO_ZONE without one */
	uint32_t dma_zone;
	uint64_t *iova;       /* the IOVA table in meta, [sb->nr_iova] */
	int vfio_container_fd, vfio_group_fd; /* -1 unless iova_mode = vfio */
	/* persist.c: the slab bitmaps (SLAB_MAP_WORDS_PER_PAGE words per page) and the
	 * chain-walk journal; in region_dir/slabs when the region is kept in files */
	uint64_t *slabmap;
	uint64_t slabmap_len;          /* its anonymous mapping's length (0: in slabs_file) */
	struct persist_hdr *persist;
	void *slabs_file;
	uint64_t slabs_file_len;
	int persisted;                 /* the region is in files in cfg.region_dir */
	int region_lock_fd;            /* that directory, flock()ed while we serve it */
	int fdstore;                   /* fd_store: the region is in memfds kept by systemd */
	int slabs_fd;                  /* ... and the slabs memfd, -1 otherwise */
	int adopt_fds[4];              /* meta, percpu, zones, slabs passed back by the fd
					* store (main.c, from LISTEN_FDS) */
	int nr_adopt;                  /* how many of them were passed */
	int restored;                  /* ... and was found there: a restart */
};

/* topology.c */
int topo_discover(struct topo *t);
void topo_free(struct topo *t);

/* hugepages.c */
/* hugepages_reserve: with hugepages_reserve = yes, raise the kernel's hugepage pools so
 * that the zones' pages are free (per node when there are several). 0 or -errno (logged). */
int hugepages_reserve(const struct config *c, const struct topo *t);
/* read_long: the number in a sysfs or procfs file, -1 when it cannot be read. */
long read_long(const char *path);

/* region.c */
int region_create(struct slabd *d);
void region_destroy(struct slabd *d);
const char *region_backing_name(uint32_t backing);
int zone_pages_node(char *start, uint64_t size); /* the node of a range's pages; -2 mixed, -errno */

/* region_reserve_window: a PROT_NONE window of @size at @want (or a few steps above it,
 * else anywhere 1 GiB-aligned); NULL when none. */
char *region_reserve_window(uint64_t want, uint64_t size);

/* persist.c: the region kept in files (region_dir) and the restart on it */
struct persist_hdr;
/* persist_segments: open or create the region's files in cfg.region_dir, reserve the
 * window (at the found region's base) and map them; sets the fds, backing, slabmap,
 * persisted and restored. 0 or -errno, logged with what to do. */
int persist_segments(struct slabd *d, const struct slabd_shm_geometry *g, uint64_t zones_size);
/* persist_private: the bitmap and journal in anonymous memory (no region_dir). */
int persist_private(struct slabd *d, uint32_t nr_pages);
/* persist_check: a found region against this configuration's geometry; 0 or -EINVAL
 * (logged, naming the first difference). Sets dma_zone and iova. */
int persist_check(struct slabd *d, const struct slabd_shm_geometry *g, const uint64_t *zone_size, uint64_t dma_size);
/* persist_slabs_memfd: fd_store without a region passed back: the bitmap and journal in
 * a memfd (slabs_fd) that goes to the fd store with the segments. */
int persist_slabs_memfd(struct slabd *d, uint32_t nr_pages);
/* persist_adopt: the region in the memfds passed back (adopt_fds): validated as a found
 * region_dir, mapped at its base; sets restored. 0 or -errno (logged). */
int persist_adopt(struct slabd *d, const struct slabd_shm_geometry *g, uint64_t zones_size);
/* persist_next_client_id: a client id never given before on this region, across
 * restarts (owner records name clients by id). Control thread only. */
uint32_t persist_next_client_id(struct slabd *d);
/* persist_publish: a fresh region is complete (after the superblock's magic). */
void persist_publish(struct slabd *d);
void persist_destroy(struct slabd *d);
/* persist_restore: rebuild caches, slabs, large allocations and buddy allocators of a
 * found region, finish interrupted chain walks, forget the old clients. Before the
 * workers start. 0 or -EINVAL (logged). */
int persist_restore(struct slabd *d);
/* persist_debug_config: a restarted daemon whose "debug" key is not the one the region
 * last ran with applies it to the kmalloc caches (debug_config_restart); after the
 * workers started. */
void persist_debug_config(struct slabd *d);
/* persist_announce: tell waiting clients a restarted daemon serves (daemon_epoch + 1). */
void persist_announce(struct slabd *d);
/* Journaled take of the free chain at @head for a walk in slot @slot (a node index, or
 * SLABD_MAX_NODES for the large-free chain, both on the node's worker): the chain's
 * head or 0. _step records the next object after each one put back, _done ends it. */
uint64_t persist_chain_take(struct slabd *d, uint32_t slot, uint64_t *head, uint32_t cache, uint32_t node);
void persist_chain_step(struct slabd *d, uint32_t slot, uint64_t next);
void persist_chain_done(struct slabd *d, uint32_t slot);
struct cache;
/* persist_pool_note: record pool @c's held-back tail (pool_populate). */
void persist_pool_note(struct slabd *d, const struct cache *c);

/* release.c */
int zone_release_init(struct slabd *d, struct zone *z);
void zone_release_free(struct zone *z);
/* zone_release_restored: after a restart rebuilt the buddy allocator, its entirely free
 * chunks may or may not have been punched out: claimed as released, scanned as resident. */
void zone_release_restored(struct zone *z);
/* zone_release_scan: punch out chunks free for release_delay_ms beyond retain_free. */
void zone_release_scan(struct slabd *d, struct zone *z);
/* zone_release_idle: the last scan found no free chunk waiting out its release delay. */
int zone_release_idle(struct zone *z);
/* zone_claim_locked: make pages [page, page + n) of @z (zone-relative) usable again;
 * 0 or -ENOMEM (hugetlb: no hugepage to back a released chunk). Zone lock held. */
int zone_claim_locked(struct slabd *d, struct zone *z, uint32_t page, uint32_t n);

/* dma.c: the DMA zone, the last zone of the zones segment */
/* dma_zone_bytes: the DMA zone's size for this config (0: none), hugepage-aligned. */
uint64_t dma_zone_bytes(const struct slabd *d);
/* dma_zone_layout: its zone-table entry, page-table zone ids and superblock fields,
 * after the node zones; before the magic is published. */
void dma_zone_layout(struct slabd *d, const struct slabd_shm_geometry *g);
/* dma_zone_setup: lock and pre-fault zone @z, fill its IOVA table (iova.c). 0 or -errno,
 * logged with the reason. */
int dma_zone_setup(struct slabd *d, uint32_t z);
void dma_zone_teardown(struct slabd *d);
/* dma_large_alloc: a page-level GFP_DMA allocation. 0 or -ENOMEM/-ENODEV/-EINVAL. */
int dma_large_alloc(struct slabd *d, uint64_t size, uint64_t *ret_off);
/* cache_home_node: the node whose worker and depot serve cache @c: a DMA cache lives
 * on its zone's node only; any other cache on every node (returns @node). */
static inline uint32_t cache_home_node(const struct slabd *d, const struct cache *c, uint32_t node)
{
	return c->shm->zone_kind == SLABD_ZONE_DMA ? d->zone_tab[d->dma_zone].node : node;
}
/* cache_zone: the zone cache @c carves its slabs from for @node. */
static inline uint32_t cache_zone(const struct slabd *d, const struct cache *c, uint32_t node)
{
	return c->shm->zone_kind == SLABD_ZONE_DMA ? d->dma_zone : d->nodes[node].zone;
}

/* iova.c */
/* iova_setup: fill d->iova for the DMA zone @z as cfg.iova_mode says; sets
 * sb->iova_mode. 0, or -errno after logging why the mode is impossible. */
int iova_setup(struct slabd *d, uint32_t z);
void iova_teardown(struct slabd *d);
const char *iova_mode_name(uint32_t mode);

/* slab.c */
int cache_create_kmalloc(struct slabd *d);
int cache_find(struct slabd *d, const char *name);       /* id or -ENOENT */
int cache_free_id(struct slabd *d);                      /* a free named-cache id or -ENOSPC */
void cache_free(struct slabd *d, struct cache *c);       /* private state only */
struct cache *cache_create(struct slabd *d, uint32_t id, const char *name, uint32_t size, uint32_t align,
			   uint32_t flags);
/* cache_create_unpublished: cache_create without its last step, cache_publish (the entry
 * goes ACTIVE, for clients and for a restart): a pool is published once it is whole. */
struct cache *cache_create_unpublished(struct slabd *d, uint32_t id, const char *name,
				       uint32_t size, uint32_t align, uint32_t flags);
void cache_publish(struct slabd *d, struct cache *c);
void cache_destroy_all(struct slabd *d);
/* cache_restore: the private part of the cache at @id of a found region's cache table,
 * checked against the geometry this slabd computes; NULL when it differs. */
struct cache *cache_restore(struct slabd *d, uint32_t id);
/* slab_restore: the slab of @c at page @head found in the page table, its free objects
 * from its bitmap words; 0 or -ENOMEM. */
int slab_restore(struct slabd *d, struct cache *c, uint32_t node, uint32_t head);
uint32_t slab_take(struct slabd *d, struct cache *c, uint32_t node, uint64_t *out, uint32_t n);
int slab_put(struct slabd *d, struct cache *c, uint32_t node, uint64_t off);
/* slab_check: would slab_put take @off? 0, -EALREADY (free in its slab already) or
 * -EINVAL (not an object of @c on @node); changes nothing and logs nothing. */
int slab_check(struct slabd *d, struct cache *c, uint32_t node, uint64_t off);
uint32_t slab_release_free(struct slabd *d, struct cache *c, uint32_t node, uint32_t keep);
/* large_alloc: @size bytes of whole pages on node @node_os (-1: node 0), falling back to
 * the nearest nodes unless @thisnode. 0 with *ret_off, -EINVAL, -ENOMEM. */
int large_alloc(struct slabd *d, uint64_t size, int node_os, int thisnode, uint64_t *ret_off);
/* large_alloc_zone: @npages pages of zone @z; 0 or -ENOMEM. */
int large_alloc_zone(struct slabd *d, struct zone *z, uint64_t npages, uint64_t *ret_off);
int large_free(struct slabd *d, uint64_t off);

/* pool_populate: carve every slab of pool @c on @node (its home) and hold back what
 * exceeds @n objects. 0, or -ENOMEM with nothing carved. Runs on the node's worker. */
int pool_populate(struct slabd *d, struct cache *c, uint32_t node, uint32_t n);
/* pool_depopulate: pool @c (dying, every buffer back in its slabs) on @node stops being a
 * pool: the held-back tail is freed and every slab goes back to the zone; returns how
 * many. Node's worker. */
uint32_t pool_depopulate(struct slabd *d, struct cache *c, uint32_t node);

/* pool.c */
struct slabd_wire_pool_create;
/* pool_create: the packet-buffer pool of @m (or the existing one of that name and
 * geometry); cache id, or -errno with *ret_why saying why. Control thread. */
int pool_create(struct slabd *d, const struct slabd_wire_pool_create *m, const char **ret_why);
/* Jobs of a pool's free (server.c's destroy path; arg: struct cache_op_result, run on each
 * node's worker). pool_gather_node: every buffer of res->c on @node back into its slabs,
 * those still out added to res->live; nothing is released. pool_release_node: after a
 * gather found none out, pool_depopulate, the bytes added to res->bytes. */
void pool_gather_node(struct slabd *d, uint32_t node, void *arg);
void pool_release_node(struct slabd *d, uint32_t node, void *arg);

/* stats.c */
struct slabd_wire_stats;
/* stats_fill: figures of cache @id (0: the totals) into @st; 0 or -EINVAL. */
int stats_fill(struct slabd *d, uint32_t id, struct slabd_wire_stats *st);
/* The first cache (id >= @from), CPU (== @cpu), node or client (slot >= @from) into the
 * reply; 0 or -ENOENT. Control thread (the node figures take the zone lock). */
struct slabd_wire_cache_info;
struct slabd_wire_cpu_info;
struct slabd_wire_node_info;
struct slabd_wire_client_info;
int stats_cache_info(struct slabd *d, uint32_t from, struct slabd_wire_cache_info *ci);
int stats_cpu_info(struct slabd *d, uint32_t cpu, struct slabd_wire_cpu_info *pi);
/* stats_cache_gone: cache @id is being destroyed: keep its per-CPU misses in the CPUs'. */
void stats_cache_gone(struct slabd *d, uint32_t id);
int stats_node_info(struct slabd *d, uint32_t node, struct slabd_wire_node_info *ni);
int stats_client_info(struct slabd *d, uint32_t from, struct slabd_wire_client_info *ci);

/* worker.c */
struct worker_job {
	void (*fn)(struct slabd *d, uint32_t node, void *arg);
	void *arg;
	int done;
};
/* worker_call: run @fn on @node's worker thread between two rounds and wait for it. */
void worker_call(struct slabd *d, uint32_t node, void (*fn)(struct slabd *d, uint32_t node, void *arg),
		 void *arg);
/* cache_shrink_node: take every object of res->c on @node back (per-CPU stacks, depot,
 * free chain), give its empty slabs back, add the objects still allocated to res->live
 * and the bytes released to res->bytes. Runs on the node's worker (worker_call). */
struct cache_op_result {
	struct cache *c;
	uint64_t live;  /* objects still allocated */
	uint64_t bytes; /* given back to the page allocator */
};
void cache_shrink_node(struct slabd *d, uint32_t node, void *arg);
/* cache_gather: everything free of @c on @node back into its slabs (per-CPU stacks,
 * depot stacks, free chain); returns the objects still out. Node's worker. */
uint64_t cache_gather(struct slabd *d, uint32_t node, struct cache *c);
/* cache_gather_depot: the same without draining the per-CPU stacks (a debug cache's have
 * capacity 0: no migration to every CPU needed). */
uint64_t cache_gather_depot(struct slabd *d, uint32_t node, struct cache *c);
/* cache_drain_node: the per-CPU stacks of cache @arg (a struct cache) on @node's CPUs
 * back into the slabs, their capacity 0 again first (debug mode switched on). Node's
 * worker. */
void cache_drain_node(struct slabd *d, uint32_t node, void *arg);
/* cache_set_capacity: every CPU's stack capacity of @c to @cap (debug.c). */
void cache_set_capacity(struct slabd *d, struct cache *c, uint32_t cap);
/* node_reclaim: every cache's objects on @node back from per-CPU stacks and depots, and
 * every empty slab back to the zone (when pages ran out). Runs on the node's worker. */
void node_reclaim(struct slabd *d, uint32_t node, void *arg);
/* node_drain: the per-CPU and remote-free stacks of @node's CPUs (run on each CPU) and
 * every depot free chain of @node back into the slabs; depot stacks stay. Node worker. */
void node_drain(struct slabd *d, uint32_t node, void *arg);
/* remote_flush_node: send home what the remote-free stacks of @node's CPUs hold (run on
 * the node's worker, before a shrink or destroy gathers a cache's objects). */
void remote_flush_node(struct slabd *d, uint32_t node, void *arg);
int workers_start(struct slabd *d);
void workers_stop(struct slabd *d);
/* worker_round: one pass of the refill/reclaim loop; returns how many caches of the node
 * are active (their depots are watched every worker_interval_ms). */
int worker_round(struct slabd *d, uint32_t node, uint64_t *ret_next_ms);
/* A depot's target after a miss found it empty (doubled, up to target_max) and after a
 * second without demand (halved, down to target_min). */
uint32_t depot_target_grown(const struct cache *c, uint32_t target);
uint32_t depot_target_decayed(const struct cache *c, uint32_t target);

/* verify.c */
struct slabd_wire_verify;
/* verify_fill: the corruption counters into @r; with SLABD_VERIFY_AUDIT in r->flags also
 * the audit (drains every node through its worker first). Control thread. */
void verify_fill(struct slabd *d, struct slabd_wire_verify *r);

/* reload.c */
/* daemon_reload: SIGHUP. Apply the reloadable keys, log the ones that need a restart. */
int daemon_reload(struct slabd *d);

/* server.c */
int server_run(struct slabd *d, int listen_fd);
int server_listen(const char *path);
void server_raise_nofile(void);

static inline struct cache *cache_get(struct slabd *d, uint32_t id)
{
	return __atomic_load_n(&d->caches[id], __ATOMIC_ACQUIRE);
}

static inline struct slabd_shm_depot *daemon_depot(struct slabd *d, uint32_t cache, uint32_t node)
{
	return &d->depots[(uint64_t)cache * d->sb->nr_nodes + node];
}

#define STAT_INC(d, field) __atomic_fetch_add(&(d)->stats.field, 1, __ATOMIC_RELAXED)

#endif /* SLABD_DAEMON_H */
