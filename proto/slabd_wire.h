/* SPDX-License-Identifier: MIT */
/*
 * slabd_wire.h - messages on the control socket (AF_UNIX, SOCK_SEQPACKET).
 *
 * One message per packet: a struct slabd_wire_hdr followed by the type's payload. The
 * client sends requests, the daemon answers each with exactly one reply carrying the
 * same seq (or SLABD_MSG_ERROR). The socket carries only rare requests: attach, large
 * allocations, stats; allocation and free never touch it. A client's death shows up as a
 * hangup on its socket.
 *
 * Attach: the client sends HELLO with its layout version; the daemon answers ATTACH with
 * the region's geometry and three file descriptors (SCM_RIGHTS): meta (read-only),
 * percpu and zones. A client of another layout version gets ERROR(-EPROTO) with a message
 * naming both versions; so does any message of another wire version.
 *
 * Everything received is validated by slabd_wire_validate before any field is used.
 *
 * Reserved fields: a request's are 0, and the daemon refuses one with any other value
 * (ERROR(-EINVAL) naming the message and the field, nothing done), so that a later
 * version may give them a meaning. A reply's are 0 as the daemon sends them, and the
 * library ignores them (a later daemon may fill them in).
 */
#ifndef SLABD_PROTO_WIRE_H
#define SLABD_PROTO_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define SLABD_WIRE_MAGIC 0x534c4244u /* "SLBD" */
/* 2: cache create/destroy/shrink; 3: packet-buffer pools; 4: the cache op carries the gen
 * (and cache info reports it and a pool's geometry) */
#define SLABD_WIRE_VERSION 4u
#define SLABD_WIRE_MAX 512u /* no message is larger */
#define SLABD_DEFAULT_SOCKET "/run/slabd/slabd.sock"

#define SLABD_MSG_HELLO 1u        /* client -> daemon: slabd_wire_hello */
#define SLABD_MSG_ATTACH 2u       /* daemon -> client: slabd_wire_attach + 3 fds */
#define SLABD_MSG_ERROR 3u        /* daemon -> client: slabd_wire_error */
#define SLABD_MSG_LARGE_ALLOC 4u  /* client -> daemon: slabd_wire_large_alloc */
#define SLABD_MSG_LARGE_REPLY 5u  /* daemon -> client: slabd_wire_large_reply */
#define SLABD_MSG_CACHE_CREATE 6u /* client -> daemon: slabd_wire_cache_create */
#define SLABD_MSG_CACHE_OP 7u     /* client -> daemon: slabd_wire_cache_op (destroy, shrink) */
#define SLABD_MSG_CACHE_REPLY 8u  /* daemon -> client: slabd_wire_cache_reply */
#define SLABD_MSG_STATS 9u        /* client -> daemon: slabd_wire_stats_req */
#define SLABD_MSG_STATS_REPLY 10u /* daemon -> client: slabd_wire_stats */
/* Inspection for slabctl and metrics (added in wire version 2 without changing any
 * existing message; a daemon that predates them answers ERROR(-EBADMSG)). None needs
 * HELLO. Each request names an index and is answered with the first existing item at
 * or after it (its index in the reply), or err -ENOENT when there is none: a tool walks
 * a table with one request per item. */
#define SLABD_MSG_CACHE_INFO 11u        /* client -> daemon: slabd_wire_info_req (cache id) */
#define SLABD_MSG_CACHE_INFO_REPLY 12u  /* daemon -> client: slabd_wire_cache_info */
#define SLABD_MSG_CPU_INFO 13u          /* client -> daemon: slabd_wire_info_req (CPU number) */
#define SLABD_MSG_CPU_INFO_REPLY 14u    /* daemon -> client: slabd_wire_cpu_info */
#define SLABD_MSG_NODE_INFO 15u         /* client -> daemon: slabd_wire_info_req (node index) */
#define SLABD_MSG_NODE_INFO_REPLY 16u   /* daemon -> client: slabd_wire_node_info */
#define SLABD_MSG_CLIENT_INFO 17u       /* client -> daemon: slabd_wire_info_req (client slot) */
#define SLABD_MSG_CLIENT_INFO_REPLY 18u /* daemon -> client: slabd_wire_client_info */
#define SLABD_MSG_POOL_CREATE 19u /* client -> daemon: slabd_wire_pool_create (reply: CACHE_REPLY) */
/* Health and audit (issue 6, wire version 2, additive): the corruption counters of what
 * the daemon found in client-writable memory, and with SLABD_VERIFY_AUDIT a full audit
 * of where every object is. No HELLO needed. */
#define SLABD_MSG_VERIFY       20u /* client -> daemon: slabd_wire_verify_req */
#define SLABD_MSG_VERIFY_REPLY 21u /* daemon -> client: slabd_wire_verify */
/* Debug mode (issue 6, additive): query or switch a cache's debug checks at run time
 * (slabctl debug). No HELLO needed, like shrink: it changes no object's owner. */
#define SLABD_MSG_DEBUG	       22u /* client -> daemon: slabd_wire_debug_req */
#define SLABD_MSG_DEBUG_REPLY  23u /* daemon -> client: slabd_wire_debug */
#define SLABD_MSG_MAX	       23u

struct slabd_wire_hdr {
	uint32_t magic;   /* SLABD_WIRE_MAGIC */
	uint16_t version; /* SLABD_WIRE_VERSION */
	uint16_t type;    /* SLABD_MSG_* */
	uint32_t len;     /* whole message, header included */
	uint32_t seq;     /* chosen by the client, echoed in the reply */
};

#define SLABD_HELLO_REATTACH 0x1u /* a fork()ed child that already maps the region */

struct slabd_wire_hello {
	struct slabd_wire_hdr hdr;
	uint32_t layout_version; /* the client's SLABD_SHM_LAYOUT_VERSION */
	uint32_t pid;
	uint32_t flags;          /* SLABD_HELLO_*; any other bit: -EINVAL */
	uint32_t reserved;	 /* 0; the daemon rejects anything else with -EINVAL */
};

struct slabd_wire_attach {
	struct slabd_wire_hdr hdr;
	uint32_t layout_version;
	uint32_t client_id;
	uint32_t client_slot; /* this client's entry in the client table */
	uint32_t reserved;    /* 0 from the daemon; clients ignore it */
	uint64_t region_id;
	uint64_t base_addr;
	uint64_t meta_size;
	uint64_t percpu_off;
	uint64_t percpu_size;
	uint64_t zones_off;
	uint64_t zones_size;
};

#define SLABD_WIRE_ERRMSG_MAX 200u

struct slabd_wire_error {
	struct slabd_wire_hdr hdr;
	int32_t err; /* negative errno */
	uint32_t reserved;		 /* 0 from the daemon; clients ignore it */
	char msg[SLABD_WIRE_ERRMSG_MAX]; /* NUL-terminated, says what to do */
};

struct slabd_wire_large_alloc {
	struct slabd_wire_hdr hdr;
	uint64_t size;
	uint32_t gfp;
	int32_t node; /* -1: any */
};

struct slabd_wire_large_reply {
	struct slabd_wire_hdr hdr;
	int32_t err;  /* 0 or negative errno */
	uint32_t reserved; /* 0 from the daemon; clients ignore it */
	uint64_t off; /* from the window's base */
};

/* Create a named cache, or get the existing one of that name and geometry. */
struct slabd_wire_cache_create {
	struct slabd_wire_hdr hdr;
	char name[32]; /* NUL-terminated, 1..31 bytes, 0 after the NUL */
	uint32_t size;
	uint32_t align;
	uint32_t flags; /* slab_flags_t */
	uint32_t reserved; /* 0; the daemon rejects anything else with -EINVAL */
};

/* Create a packet-buffer pool (a DMA cache of exactly n buffers, all carved now), or get
 * the existing one of that name and geometry. */
struct slabd_wire_pool_create {
	struct slabd_wire_hdr hdr;
	char name[32];      /* NUL-terminated, 1..31 bytes, 0 after the NUL */
	uint32_t n;         /* buffers */
	uint32_t data_room; /* bytes after the headroom */
	uint32_t priv_size; /* private area per buffer */
	uint32_t headroom;
	int32_t node;       /* -1: any; else must be the DMA zone's node */
	uint32_t reserved;  /* 0; the daemon rejects anything else with -EINVAL */
};

#define SLABD_CACHE_OP_DESTROY 1u
#define SLABD_CACHE_OP_SHRINK 2u
#define SLABD_CACHE_OP_POOL_FREE 3u /* slabd_pktpool_free: destroy a pool (DESTROY refuses one) */

/* A handle of a cache id names one generation of it (slabd_shm_cache.gen): gen is the one
 * the sender's handle was made under. The daemon compares it with the id's gen under its
 * serialization of creates and destroys, and answers -ESTALE, changing nothing, when the
 * cache it named was destroyed meanwhile (the id may hold another cache by now). */
struct slabd_wire_cache_op {
	struct slabd_wire_hdr hdr;
	uint32_t op;       /* SLABD_CACHE_OP_* */
	uint32_t cache;    /* cache id */
	uint32_t gen;      /* the id's gen the sender saw (wire 4) */
	uint32_t reserved; /* 0; the daemon rejects anything else with -EINVAL */
};

struct slabd_wire_cache_reply {
	struct slabd_wire_hdr hdr;
	int32_t err;    /* 0 or negative errno (-EEXIST: the name has another geometry;
			 * -EBUSY: destroy refused, objects still allocated; -ESTALE: a cache op
			 * whose gen is not the id's, nothing done) */
	uint32_t cache; /* create: the cache id */
	uint64_t count; /* destroy refused: live objects; shrink: bytes given back */
};

/* Stats of one cache (cache != 0) or of the whole daemon (cache == 0). Sizes in bytes;
 * per-CPU and depot figures are read from client-writable memory and approximate. */
struct slabd_wire_stats_req {
	struct slabd_wire_hdr hdr;
	uint32_t cache;
	uint32_t reserved; /* 0; the daemon rejects anything else with -EINVAL */
};

struct slabd_wire_stats {
	struct slabd_wire_hdr hdr;
	int32_t err;
	uint32_t cache;
	char name[32];        /* cache name, or "" for the totals */
	uint64_t object_size; /* cache: its stride */
	uint64_t slabs;       /* slabs of the cache (totals: of every cache) */
	uint64_t in_use;      /* allocated to clients (slab objects and large allocations) */
	uint64_t in_pcpu;     /* free in per-CPU stacks */
	uint64_t in_depot;    /* free in depots and reserves (full magazines) */
	uint64_t in_slabs;    /* free in the daemon's slabs */
	uint64_t zone_free;   /* totals: free pages of the zones, resident */
	uint64_t released;    /* totals: given back to the kernel */
	uint64_t zone_size;   /* totals: all zones */
	uint64_t alloc_failures; /* totals: reported by clients (not __GFP_NOWARN) */
	uint32_t clients;     /* totals: attached now */
	uint32_t caches;      /* totals: active caches */
	uint32_t backing;     /* SLABD_BACKING_* */
	uint32_t reserved;    /* 0 from the daemon; clients ignore it */
};

struct slabd_wire_info_req {
	struct slabd_wire_hdr hdr;
	uint32_t index; /* the first item at or after this index */
	uint32_t reserved; /* 0; the daemon rejects anything else with -EINVAL */
};

/* One cache. Object counts; the per-CPU, depot and miss figures are read from
 * client-writable memory (bounded) and approximate. */
struct slabd_wire_cache_info {
	struct slabd_wire_hdr hdr;
	int32_t err;       /* 0, or -ENOENT: no active cache at or after the index */
	uint32_t cache;    /* its id */
	char name[32];
	uint32_t obj_size; /* asked for */
	uint32_t size;     /* stride in the slab */
	uint32_t align;
	uint32_t flags;    /* slab_flags_t */
	uint32_t order;    /* a slab is 2^order pages */
	uint32_t objs_per_slab;
	uint32_t mag_objs; /* objects per magazine */
	uint32_t zone_kind; /* SLABD_ZONE_* */
	uint32_t pcpu_capacity; /* the largest per-CPU stack capacity now */
	uint32_t nr_nodes;
	uint64_t slabs;
	uint64_t active_slabs;  /* slabs not entirely free in the daemon's hands */
	uint64_t objs;          /* objects of all its slabs */
	uint64_t in_use;        /* objects allocated to clients */
	uint64_t in_pcpu;       /* objects free in per-CPU stacks */
	uint64_t in_depot;      /* objects free in depots and reserves (full magazines) */
	uint64_t in_slabs;      /* objects free in the daemon's slabs */
	uint64_t alloc_misses;  /* per-CPU stack empty on allocation, all CPUs */
	uint64_t free_misses;   /* per-CPU stack full on free, all CPUs */
	uint64_t depot_misses;  /* depot empty when a client came for a magazine, all nodes */
	uint32_t gen;           /* the id's gen (wire 4): what a CACHE_OP on this cache sends */
	uint32_t reserved;	/* 0 from the daemon; clients ignore it */
	/* A packet-buffer pool's geometry (wire 4; slabd_shm_cache.pool_*): all 0 for a cache
	 * that is no pool. obj_size is then its element size (header, private area rounded
	 * up, headroom, data room) and size its stride. */
	uint32_t pool_n;         /* buffers in the pool; 0: not a pool */
	uint32_t pool_priv;      /* private area per buffer, as asked for */
	uint32_t pool_headroom;  /* default data_off */
	uint32_t pool_data_room; /* room after the headroom */
	uint32_t pool_node;      /* node index of the DMA zone it lives in (NODE_INFO: os_index) */
	uint32_t pool_iova_mode; /* SLABD_IOVA_*: where its buffers' IOVAs come from */
};

#define SLABD_CPU_ONLINE 0x1u /* a CPU of this machine (not only a table entry) */

/* One CPU: its node and what its per-CPU stacks hold, over every cache. */
struct slabd_wire_cpu_info {
	struct slabd_wire_hdr hdr;
	int32_t err;      /* 0, or -ENOENT: no CPU at or after the index */
	uint32_t cpu;     /* the kernel's CPU number */
	uint32_t node;    /* node index */
	uint32_t flags;   /* SLABD_CPU_* */
	uint32_t nr_cpus; /* entries in the CPU table */
	uint32_t reserved;     /* 0 from the daemon; clients ignore it */
	uint64_t pcpu_bytes;   /* free bytes in its per-CPU stacks */
	uint64_t pcpu_objs;
	uint64_t alloc_misses; /* over every cache */
	uint64_t free_misses;
};

/* One NUMA node and its zone. */
struct slabd_wire_node_info {
	struct slabd_wire_hdr hdr;
	int32_t err;       /* 0, or -ENOENT */
	uint32_t node;     /* node index */
	uint32_t os_index; /* the kernel's node number */
	uint32_t flags;    /* SLABD_NODE_* */
	uint32_t nr_cpus;
	uint32_t nr_nodes;
	uint64_t zone_size;
	uint64_t zone_free;     /* free pages of the zone, resident */
	uint64_t zone_released; /* free pages given back to the kernel */
	uint64_t zone_in_use;   /* pages of slabs and large allocations */
	uint64_t large_bytes;   /* of which large allocations */
};

/* One attached client process. */
struct slabd_wire_client_info {
	struct slabd_wire_hdr hdr;
	int32_t err;   /* 0, or -ENOENT */
	uint32_t slot; /* its entry in the client table */
	uint32_t id;
	uint32_t pid;
	uint64_t alloc_failures;
};

#define SLABD_VERIFY_AUDIT 0x1u /* drain the per-CPU stacks, then audit every object */

struct slabd_wire_verify_req {
	struct slabd_wire_hdr hdr;
	uint32_t flags; /* SLABD_VERIFY_*; any other bit: -EINVAL */
	uint32_t reserved; /* 0; the daemon rejects anything else with -EINVAL */
};

/*
 * Counters since the daemon started of what it found wrong in client-writable memory
 * (each also logged with the cache, node or CPU and the structure), and, with
 * SLABD_VERIFY_AUDIT, the audit: after the workers drained every per-CPU stack and free
 * chain, each object of each slab must be free in exactly one place (the daemon's slab,
 * one magazine on a depot stack) or allocated. The audit is exact while no client is in
 * its slow path (magazines move between stacks there).
 */
struct slabd_wire_verify {
	struct slabd_wire_hdr hdr;
	int32_t err;
	uint32_t flags; /* the request's */
	/* counters */
	uint64_t bad_objects;  /* offsets that were not objects of the cache/node: dropped */
	uint64_t double_frees; /* objects given back while already free: dropped */
	uint64_t bad_mags;     /* magazines with an impossible count */
	uint64_t
	    bad_stacks; /* depot stack heads found corrupt: reset (magazines on it quarantined) */
	uint64_t bad_pcpu;    /* per-CPU stack counts found corrupt: reset */
	uint64_t quarantined; /* magazines taken out of circulation (their contents untrusted) */
	/* audit (zero without SLABD_VERIFY_AUDIT) */
	uint64_t objects;    /* of every slab of every cache */
	uint64_t free_slabs; /* free in the daemon's slabs */
	uint64_t free_mags;  /* free in magazines on depot full and reserve stacks */
	uint64_t allocated;  /* neither: allocated to clients (or in magazines clients hold) */
	uint64_t duplicates; /* free in two places (found by the audit or by its drain) */
	uint64_t strays;     /* entries in magazines that are not objects of their cache and node */
	uint64_t bad_links;  /* magazine stacks with a link out of range, a cycle, or a
			      * magazine on two stacks */
	uint64_t problems;   /* duplicates + strays + bad_links */
	char first[96];	     /* the first problem found, NUL-terminated ("" if none) */
};
#define SLABD_DEBUG_OP_QUERY 0u /* report only */
#define SLABD_DEBUG_OP_ON 1u    /* switch the flags on (those the geometry allows) */
#define SLABD_DEBUG_OP_OFF 2u   /* switch every check off */
#define SLABD_DEBUG_ALL_CACHES 0xffffffffu

struct slabd_wire_debug_req {
	struct slabd_wire_hdr hdr;
	uint32_t op;    /* SLABD_DEBUG_OP_* */
	uint32_t cache; /* cache id, or SLABD_DEBUG_ALL_CACHES */
	uint32_t flags; /* OP_ON: SLABD_DEBUG_* wanted (0: all the geometry allows) */
	uint32_t reserved; /* 0; the daemon rejects anything else with -EINVAL */
};

/* The state after the request, of the cache (or summed over every cache). */
struct slabd_wire_debug {
	struct slabd_wire_hdr hdr;
	int32_t err;      /* 0, -ENOENT (no such cache), -EINVAL (bad op or flags) */
	uint32_t cache;   /* the request's */
	uint32_t flags;   /* SLABD_DEBUG_* active now (all caches: OR over them) */
	uint32_t caches;  /* caches with debug on now */
	uint64_t errors;  /* errors the clients' checks reported (all caches: summed, plus
			   * pointers of no cache) */
	uint64_t reclaimed; /* objects given back from dead clients by owner tracking */
};
_Static_assert(sizeof(struct slabd_wire_debug_req) == 32, "debug request");
_Static_assert(sizeof(struct slabd_wire_debug) == 48, "debug reply");

_Static_assert(sizeof(struct slabd_wire_verify_req) == 24, "verify request");
_Static_assert(sizeof(struct slabd_wire_verify) == 232, "verify reply");

_Static_assert(sizeof(struct slabd_wire_info_req) == 24, "info request");
_Static_assert(sizeof(struct slabd_wire_cache_info) == 208, "cache info");
_Static_assert(sizeof(struct slabd_wire_cpu_info) == 72, "cpu info");
_Static_assert(sizeof(struct slabd_wire_node_info) == 80, "node info");
_Static_assert(sizeof(struct slabd_wire_client_info) == 40, "client info");
_Static_assert(sizeof(struct slabd_wire_hdr) == 16, "wire header");
_Static_assert(sizeof(struct slabd_wire_stats_req) == 24, "stats request");
_Static_assert(sizeof(struct slabd_wire_stats) == 152, "stats reply");
_Static_assert(sizeof(struct slabd_wire_cache_create) == 64, "cache create");
_Static_assert(sizeof(struct slabd_wire_cache_op) == 32, "cache op");
_Static_assert(sizeof(struct slabd_wire_pool_create) == 72, "pool create");
_Static_assert(sizeof(struct slabd_wire_cache_reply) == 32, "cache reply");
_Static_assert(sizeof(struct slabd_wire_hello) == 32, "hello");
_Static_assert(sizeof(struct slabd_wire_attach) == 88, "attach");
_Static_assert(sizeof(struct slabd_wire_error) == 224, "error");
_Static_assert(sizeof(struct slabd_wire_large_alloc) == 32, "large alloc");
_Static_assert(sizeof(struct slabd_wire_large_reply) == 32, "large reply");

/* slabd_utf8_len: length of the valid UTF-8 sequence at @s (NUL-terminated), or 0: cache
 * names are bytes a client chose, and the metrics and slabctl --json must say them in
 * UTF-8 (RFC 3629: no overlong forms, surrogates, nor code points past U+10FFFF). */
size_t slabd_utf8_len(const unsigned char *s);

/*
 * slabd_wire_validate: check @len received bytes at @buf as one message. Returns its type
 * (> 0), or -EBADMSG (truncated, bad magic, length mismatch, unknown type, unterminated
 * string), -EPROTO (another wire version), -EMSGSIZE (larger than SLABD_WIRE_MAX).
 */
int slabd_wire_validate(const void *buf, size_t len);

/*
 * slabd_wire_request: what the daemon does with @len received bytes at @buf from a
 * connection that has (@attached != 0) or has not yet sent HELLO. Runs
 * slabd_wire_validate, then the request rules: returns the request's type (> 0), the
 * validation's error, or -EINVAL (a reserved field of the request is not 0:
 * slabd_wire_reserved names it; or its flags have a bit this version does not know:
 * slabd_wire_unknown_flags), -EOPNOTSUPP (a reply type sent as a request), -ENOTCONN
 * (a request that needs HELLO first: LARGE_ALLOC, CACHE_CREATE, POOL_CREATE, a CACHE_OP
 * other than SHRINK), -EISCONN (a second HELLO on an attached connection). Pure: no
 * state, no allocation, safe on any input (the fuzz target in tests/fuzz drives it).
 */
int slabd_wire_request(const void *buf, size_t len, int attached);

/*
 * slabd_wire_reserved: the first reserved field of the request @buf, of @type (a message
 * slabd_wire_validate accepted), that is not 0: its name, with its value in *ret_value;
 * NULL when every one is 0, or @type is no request or has none. A CACHE_CREATE's or
 * POOL_CREATE's name bytes after its NUL count as one ("name padding", the first such
 * byte that is not 0 in *ret_value). Requests only: replies' reserved fields are the
 * library's to ignore.
 */
const char *slabd_wire_reserved(const void *buf, uint16_t type, uint32_t *ret_value);

/*
 * slabd_wire_unknown_flags: the bits of the request @buf's flags word (HELLO, VERIFY) that
 * this version does not know, with the ones it knows in *ret_known (left alone when it
 * returns 0); 0 when there are none, or @type has no such word. slabd_wire_request refuses a request with any
 * (-EINVAL), as it does a reserved field that is not 0.
 */
uint32_t slabd_wire_unknown_flags(const void *buf, uint16_t type, uint32_t *ret_known);

/* slabd_wire_type_name: "HELLO", "CACHE_OP", ... for the logs and error messages; never
 * NULL. */
const char *slabd_wire_type_name(uint16_t type);

/* slabd_wire_init: fill a header for a message of @type and @len bytes. */
void slabd_wire_init(struct slabd_wire_hdr *h, uint16_t type, uint32_t len, uint32_t seq);

/* Expected size of each message type (0 for unknown types). */
size_t slabd_wire_size(uint16_t type);

#endif /* SLABD_PROTO_WIRE_H */
