/* SPDX-License-Identifier: MIT */
/*
 * server.c - the control thread: the listening socket, client connections, signals.
 *
 * One epoll loop over the listening socket, every client socket and a signalfd
 * (SIGTERM, SIGINT: clean shutdown). Each client message is validated before any field
 * is read and answered with exactly one reply; a malformed one gets an ERROR reply and a
 * log line, never a crash. A client that hangs up (or dies) is forgotten: its socket is
 * closed; objects it allocated stay allocated (another process may free them). An
 * attached client's process is watched through a pidfd too: its exit is its end even when
 * its socket lives on in a process that inherited it without the library's fork handler
 * (a raw clone, a descriptor passed on), so owner tracking gives its objects back then.
 *
 * Clients are kept in a cds_lfht keyed by client id, written only by the control thread;
 * it is the registry that owner tracking (issue 6) will read under RCU. Today only the
 * control thread walks it, at shutdown.
 *
 * Out of file descriptors (EMFILE, ENFILE), accept fails while the listening socket
 * stays readable: a loop that only logged and went back to epoll_wait would spin. A
 * spare descriptor (on /dev/null) is given up for the moment to accept the waiting
 * connection, tell it why in an ERROR and close it; any other accept failure (ENOMEM,
 * ENOBUFS, or no spare) takes the listening socket out of the loop for ACCEPT_PAUSE_MS.
 * Both are logged rate-limited.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>
#include <urcu/rculfhash.h>

#include <slabd/gfp.h>

#include "debug.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "slabd_daemon.h"
#include "slabd_wire.h"

struct conn {
	struct cds_lfht_node node;
	struct rcu_head rcu;
	uint32_t id;
	int fd;
	uint32_t pid;
	int attached;
	int slot; /* entry in the shared client table, -1: none */
	uint32_t bad_msgs;
	int refused; /* not in allowed_users/groups: told so, dropped at its first message */
	int pidfd;   /* the attached peer process, in epoll as conn_exit_tag(c); -1: none */
};

/* SO_PEERPIDFD (Linux 6.5) is newer than Debian 12's headers. */
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

/* A conn's pidfd in epoll: the conn's address with bit 0 set (a conn is malloc'ed, so
 * aligned), apart from its socket's event (the conn itself). */
static void *conn_exit_tag(struct conn *c)
{
	return (void *)((uintptr_t)c | 1);
}

/* Conns dropped while the current epoll batch is handled: a later event of the same
 * batch (its socket's and its pidfd's may come together) must not touch them. */
static struct conn *dropped_now[64];
static unsigned int nr_dropped_now;

#define TAG_LISTEN ((void *)1)
#define TAG_SIGNAL ((void *)2)
#define TAG_WATCHDOG ((void *)3)
#define TAG_METRICS ((void *)4)

static struct cds_lfht *conns;
static uint32_t nr_conns;
/* kept for the moment no descriptor is left: see the top of the file */
static int spare_fd = -1;
#define ACCEPT_PAUSE_MS 100
/* accept failed for want of a resource: the listening sockets are out of epoll until
 * then (CLOCK_MONOTONIC ms; 0: not paused) */
static uint64_t listen_paused_until, metrics_paused_until;
static uint32_t nr_attached; /* connections that sent HELLO (slabctl's do not) */

/* Tell the service manager how many clients there are (a no-op without one). */
static void status_clients(struct slabd *d)
{
	notify_send("STATUS=ready: socket %s, %u client%s attached", d->cfg.socket_path, nr_attached,
		    nr_attached == 1 ? "" : "s");
}

static void conn_free_rcu(struct rcu_head *h)
{
	free(caa_container_of(h, struct conn, rcu));
}

int server_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)], *slash;
	int fd, probe;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_err("socket path %s is too long (at most %zu bytes)", path, sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			log_err("cannot create the socket directory %s: %s", dir, strerror(errno));
			return -errno;
		}
	}
	/* A socket file already there: in use by a live daemon, or stale. */
	probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(probe);
		log_err("another slabd is already listening at %s: stop it or choose another --socket", path);
		return -EADDRINUSE;
	}
	if (probe >= 0)
		close(probe);
	unlink(path);

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* Owner-only until the caller applies socket_owner/group/mode: nobody may connect
	 * through a wider default mode in between. */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 || listen(fd, 128) < 0) {
		int err = errno;
		log_err("cannot listen at %s: %s", path, strerror(err));
		close(fd);
		return -err;
	}
	return fd;
}

/* 0, or -errno when the reply could not be queued (the client is gone, or does not read). */
static int send_reply(struct conn *c, const void *msg, size_t len, const int *fds, int nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = { (void *)msg, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *cm;
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	if (sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		int err = errno;
		/* a client can provoke this at will (send, never read): rate-limited */
		log_warn_limited("client %u (pid %u): reply lost: %s", c->id, c->pid, strerror(err));
		return -err;
	}
	return 0;
}

static void send_error(struct conn *c, uint32_t seq, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void send_error(struct conn *c, uint32_t seq, int err, const char *fmt, ...)
{
	struct slabd_wire_error e;
	va_list ap;

	slabd_wire_init(&e.hdr, SLABD_MSG_ERROR, sizeof(e), seq);
	e.err = err;
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	send_reply(c, &e, sizeof(e), NULL, 0);
}

static void handle_hello(struct slabd *d, struct conn *c, const struct slabd_wire_hello *h)
{
	struct slabd_wire_attach a;
	int fds[3] = { d->meta_ro_fd, d->percpu_fd, d->zones_fd };

	if (h->layout_version != SLABD_SHM_LAYOUT_VERSION) {
		log_warn("client pid %u refused: it was built for layout version %u, this slabd has version %u",
			 h->pid, h->layout_version, SLABD_SHM_LAYOUT_VERSION);
		send_error(c, h->hdr.seq, -EPROTO,
			   "slabd refused the client: layout version mismatch (client %u, slabd %u); rebuild the "
			   "client against this slabd's libslabclient or run the matching slabd",
			   h->layout_version, SLABD_SHM_LAYOUT_VERSION);
		return;
	}
	c->pid = h->pid;
	if (!c->attached) {
		uint32_t i;
		for (i = 0; i < SLABD_MAX_CLIENTS && c->slot < 0; i++)
			if (!d->clients[i].id)
				c->slot = (int)i;
		if (c->slot >= 0) {
			struct slabd_shm_client *e = &d->clients[c->slot];
			memset(e, 0, sizeof(*e));
			e->pid = c->pid;
			__atomic_store_n(&e->id, c->id, __ATOMIC_RELEASE);
		}
		log_info("client %u attached (pid %u%s)", c->id, c->pid,
			 h->flags & SLABD_HELLO_REATTACH ? ", forked child re-registering" : "");
		nr_attached++;
		c->attached = 1;
		status_clients(d);
	}
	c->attached = 1;
	slabd_wire_init(&a.hdr, SLABD_MSG_ATTACH, sizeof(a), h->hdr.seq);
	a.layout_version = SLABD_SHM_LAYOUT_VERSION;
	a.client_id = c->id;
	a.client_slot = c->slot >= 0 ? (uint32_t)c->slot : UINT32_MAX;
	a.region_id = d->sb->region_id;
	a.base_addr = d->sb->base_addr;
	a.meta_size = d->sb->meta_size;
	a.percpu_off = d->sb->percpu_off;
	a.percpu_size = d->sb->percpu_size;
	a.zones_off = d->sb->zones_off;
	a.zones_size = d->sb->zones_size;
	send_reply(c, &a, sizeof(a), fds, 3);
}

static void handle_large(struct slabd *d, struct conn *c, const struct slabd_wire_large_alloc *m)
{
	struct slabd_wire_large_reply r;
	uint64_t off = 0;
	int err;

	slabd_wire_init(&r.hdr, SLABD_MSG_LARGE_REPLY, sizeof(r), m->hdr.seq);
	if (!c->attached) {
		send_error(c, m->hdr.seq, -ENOTCONN, "send HELLO before any other request");
		return;
	}
	if (m->gfp & __GFP_DMA)
		err = dma_large_alloc(d, m->size, &off);
	else
		err = m->size > d->sb->zones_size ? -ENOMEM
						   : large_alloc(d, m->size, m->node, !!(m->gfp & __GFP_THISNODE), &off);
	if (err == -ENOMEM && m->size <= d->sb->zones_size) {
		/* Pages may sit in the caches' empty slabs, depots and per-CPU stacks: take
		 * them back on every node, then try once more. The DMA zone's caches are its
		 * home node's, whose reclaim drains them on every CPU: a GFP_DMA request
		 * gets what the dma-kmalloc caches hold as well. */
		uint32_t n;
		for (n = 0; n < d->sb->nr_nodes; n++)
			worker_call(d, n, node_reclaim, NULL);
		err = m->gfp & __GFP_DMA ? dma_large_alloc(d, m->size, &off)
					 : large_alloc(d, m->size, m->node, !!(m->gfp & __GFP_THISNODE), &off);
	}
	r.err = err;
	r.off = off;
	/* Nobody will know of pages whose reply was not delivered (a client that gave up
	 * waiting and went away, or never reads): they go back at once. */
	if (send_reply(c, &r, sizeof(r), NULL, 0) < 0 && err == 0)
		large_free(d, off);
}

static void reply_cache(struct conn *c, uint32_t seq, int err, uint32_t id, uint64_t count)
{
	struct slabd_wire_cache_reply r;

	slabd_wire_init(&r.hdr, SLABD_MSG_CACHE_REPLY, sizeof(r), seq);
	r.err = err;
	r.cache = id;
	r.count = count;
	send_reply(c, &r, sizeof(r), NULL, 0);
}

static void handle_cache_create(struct slabd *d, struct conn *c, const struct slabd_wire_cache_create *m)
{
	uint32_t align = m->align < 8 ? 8 : m->align;
	struct cache *cache;
	int id;

	if (!c->attached) {
		send_error(c, m->hdr.seq, -ENOTCONN, "send HELLO before any other request");
		return;
	}
	if (!m->size || m->size > d->cfg.max_cache_size || (m->align & (m->align - 1)) || m->align > 4096 ||
	    (m->flags & ~(uint32_t)(SLAB_HWCACHE_ALIGN | SLAB_CACHE_DMA | SLABD_DEBUG_ALL))) {
		send_error(c, m->hdr.seq, -EINVAL,
			   "cache %s: size must be 1..%u, align a power of two up to 4096, flags only "
			   "SLAB_HWCACHE_ALIGN, SLAB_CACHE_DMA, SLAB_POISON, SLAB_RED_ZONE and SLAB_STORE_USER",
			   m->name, d->cfg.max_cache_size);
		return;
	}
	if ((m->flags & SLAB_CACHE_DMA) && d->dma_zone == SLABD_NO_ZONE) {
		send_error(c, m->hdr.seq, -ENODEV, "cache %s: SLAB_CACHE_DMA, but this slabd has no DMA zone "
			   "(dma_zone_size = 0)", m->name);
		return;
	}
	if ((m->flags & SLAB_HWCACHE_ALIGN) && align < 64)
		align = 64;
	id = cache_find(d, m->name);
	if (id >= 0) {
		const struct slabd_shm_cache *sc = &d->cache_tab[id];
		if (sc->obj_size == m->size && sc->align == align && sc->flags == m->flags) {
			reply_cache(c, m->hdr.seq, 0, (uint32_t)id, 0);
		} else {
			log_info("client %u: cache %s exists with size %u align %u flags %#x, not %u/%u/%#x", c->id,
				 m->name, sc->obj_size, sc->align, sc->flags, m->size, align, m->flags);
			reply_cache(c, m->hdr.seq, -EEXIST, (uint32_t)id, 0);
		}
		return;
	}
	id = cache_free_id(d);
	cache = id < 0 ? NULL : cache_create(d, (uint32_t)id, m->name, m->size, align, m->flags);
	if (!cache) {
		log_warn("client %u: cannot create cache %s: %s", c->id, m->name,
			 id < 0 ? "the cache table is full (max_caches)" : "out of memory");
		reply_cache(c, m->hdr.seq, id < 0 ? -ENOSPC : -ENOMEM, 0, 0);
		return;
	}
	log_info("cache %s created by client %u: id %d, %u-byte objects, %u per %u KiB slab", m->name, c->id, id,
		 cache->size, cache->objs, (SLABD_PAGE_SIZE << cache->order) >> 10);
	reply_cache(c, m->hdr.seq, 0, (uint32_t)id, 0);
}

static void handle_pool_create(struct slabd *d, struct conn *c, const struct slabd_wire_pool_create *m)
{
	const char *why = "";
	int id;

	if (!c->attached) {
		send_error(c, m->hdr.seq, -ENOTCONN, "send HELLO before any other request");
		return;
	}
	id = pool_create(d, m, &why);
	if (id < 0) {
		log_info("client %u: pool %s not created: %s", c->id, m->name, why);
		send_error(c, m->hdr.seq, id, "pool %s: %s", m->name, why);
		return;
	}
	reply_cache(c, m->hdr.seq, 0, (uint32_t)id, 0);
}

static void noop_job(struct slabd *d, uint32_t node, void *arg)
{
	(void)d;
	(void)node;
	(void)arg;
}

/* For the log: what a CACHE_OP asks, as the client's call (any value). */
static const char *cache_op_name(uint32_t op)
{
	switch (op) {
	case SLABD_CACHE_OP_DESTROY:
		return "kmem_cache_destroy";
	case SLABD_CACHE_OP_SHRINK:
		return "shrink";
	case SLABD_CACHE_OP_POOL_FREE:
		return "slabd_pktpool_free";
	default:
		return "cache op";
	}
}

static void handle_cache_op(struct slabd *d, struct conn *c, const struct slabd_wire_cache_op *m)
{
	struct cache_op_result res = { 0 };
	struct cache *cache;
	const char *what;
	uint32_t n;
	int pool;

	/* Shrink only gives free memory back: slabctl may ask without attaching. */
	if (!c->attached && m->op != SLABD_CACHE_OP_SHRINK) {
		send_error(c, m->hdr.seq, -ENOTCONN, "send HELLO before any other request");
		return;
	}
	/* The sender's handle names one generation of the id: a destroy since (by any
	 * process) bumped the gen, and the id may hold another cache by now, which the op
	 * must not touch. Creates and destroys run on this thread only, so the gen cannot
	 * move between this check and the op. -ESTALE rather than -EINVAL: the library
	 * clears the handle on this answer only, not on every refusal. */
	if (m->cache < d->sb->max_caches && m->gen != d->cache_tab[m->cache].gen) {
		log_warn_limited("client %u (pid %u): %s of cache id %u refused, nothing done: the "
				 "handle is of gen %u, the id is at gen %u (the cache it named was "
				 "destroyed after the client looked)",
				 c->id, c->pid, cache_op_name(m->op), m->cache, m->gen,
				 d->cache_tab[m->cache].gen);
		reply_cache(c, m->hdr.seq, -ESTALE, m->cache, 0);
		return;
	}
	cache = m->cache < d->sb->max_caches ? cache_get(d, m->cache) : NULL;
	if (!cache || cache->dying ||
	    (m->op != SLABD_CACHE_OP_SHRINK && m->op != SLABD_CACHE_OP_DESTROY &&
	     m->op != SLABD_CACHE_OP_POOL_FREE)) {
		reply_cache(c, m->hdr.seq, -EINVAL, m->cache, 0);
		return;
	}
	/* A pool is destroyed only as a pool (slabd_pktpool_free): kmem_cache_destroy of its
	 * cache, found by name, keeps being refused; POOL_FREE of a plain cache is no pool. */
	pool = cache->max_objs != 0;
	if (m->op == SLABD_CACHE_OP_DESTROY && (m->cache < SLABD_FIRST_NAMED_CACHE || pool)) {
		reply_cache(c, m->hdr.seq, -EPERM, m->cache, 0);
		return;
	}
	if (m->op == SLABD_CACHE_OP_POOL_FREE && !pool) {
		reply_cache(c, m->hdr.seq, -EINVAL, m->cache, 0);
		return;
	}
	res.c = cache;
	/* Objects of this cache freed on another node's CPUs may sit in those CPUs'
	 * remote-free stacks: home first, so every node's gather below sees them. */
	for (n = 0; d->sb->nr_nodes > 1 && n < d->sb->nr_nodes; n++)
		worker_call(d, n, remote_flush_node, NULL);
	if (m->op == SLABD_CACHE_OP_SHRINK) {
		for (n = 0; n < d->sb->nr_nodes; n++)
			worker_call(d, n, cache_shrink_node, &res);
		log_info("cache %s shrunk for client %u: %llu KiB back to the zones", cache->shm->name, c->id,
			 (unsigned long long)(res.bytes >> 10));
		reply_cache(c, m->hdr.seq, 0, m->cache, res.bytes);
		return;
	}

	/* Destroy (kmem_cache_destroy, or slabd_pktpool_free of a pool): no more refills, no
	 * new allocations from the slow path; then take everything back and count what is
	 * still out. A client that popped an object before its CPU was drained holds it, so it
	 * counts: a destroy racing with an allocation is refused, or the allocation finds
	 * nothing. A pool gives nothing back unless the destroy goes ahead (its slabs are its
	 * buffers' IOVAs). */
	what = pool ? "slabd_pktpool_free" : "kmem_cache_destroy";
	__atomic_store_n(&cache->dying, 1, __ATOMIC_RELEASE); /* the workers read it */
	__atomic_store_n(&cache->shm->state, SLABD_CACHE_UNUSED, __ATOMIC_RELEASE);
	for (n = 0; n < d->sb->nr_nodes; n++)
		worker_call(d, n, pool ? pool_gather_node : cache_shrink_node, &res);
	if (res.live) {
		log_warn("%s(%s) by client %u refused: %llu %s still allocated", what,
			 cache->shm->name, c->id, (unsigned long long)res.live,
			 pool ? "buffers" : "objects");
		__atomic_store_n(&cache->dying, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&cache->shm->state, SLABD_CACHE_ACTIVE, __ATOMIC_RELEASE);
		reply_cache(c, m->hdr.seq, -EBUSY, m->cache, res.live);
		return;
	}
	/* It goes: handles of it (clients' slow paths) see another generation from now on. */
	__atomic_store_n(&cache->shm->gen, cache->shm->gen + 1, __ATOMIC_RELEASE);
	if (pool)
		worker_call(d, cache_home_node(d, cache, 0), pool_release_node, &res);
	__atomic_store_n(&d->caches[m->cache], NULL, __ATOMIC_RELEASE);
	stats_cache_gone(d, m->cache); /* its misses stay in the CPUs' counters */
	debug_cache_destroyed(d); /* its debug flags no longer count in cache 0's */
	/* once every worker has run a job, none is still in a round that saw the cache */
	for (n = 0; n < d->sb->nr_nodes; n++)
		worker_call(d, n, noop_job, NULL);
	log_info("%s %s destroyed by client %u: %llu KiB back to the zones",
		 pool ? "pool" : "cache", cache->shm->name, c->id,
		 (unsigned long long)(res.bytes >> 10));
	cache_free(d, cache);
	reply_cache(c, m->hdr.seq, 0, m->cache, res.bytes);
}

static void handle_stats(struct slabd *d, struct conn *c, const struct slabd_wire_stats_req *m)
{
	struct slabd_wire_stats st;

	slabd_wire_init(&st.hdr, SLABD_MSG_STATS_REPLY, sizeof(st), m->hdr.seq);
	st.err = stats_fill(d, m->cache, &st);
	send_reply(c, &st, sizeof(st), NULL, 0);
}

/* CACHE_INFO, CPU_INFO, NODE_INFO, CLIENT_INFO: one item per request (stats.c). */
static void handle_info(struct slabd *d, struct conn *c, int type, const struct slabd_wire_info_req *m)
{
	union {
		struct slabd_wire_hdr hdr;
		struct slabd_wire_cache_info cache;
		struct slabd_wire_cpu_info cpu;
		struct slabd_wire_node_info node;
		struct slabd_wire_client_info client;
	} r;
	uint32_t len;

	switch (type) {
	case SLABD_MSG_CACHE_INFO:
		slabd_wire_init(&r.hdr, SLABD_MSG_CACHE_INFO_REPLY, len = sizeof(r.cache), m->hdr.seq);
		r.cache.err = stats_cache_info(d, m->index, &r.cache);
		break;
	case SLABD_MSG_CPU_INFO:
		slabd_wire_init(&r.hdr, SLABD_MSG_CPU_INFO_REPLY, len = sizeof(r.cpu), m->hdr.seq);
		r.cpu.err = stats_cpu_info(d, m->index, &r.cpu);
		break;
	case SLABD_MSG_NODE_INFO:
		slabd_wire_init(&r.hdr, SLABD_MSG_NODE_INFO_REPLY, len = sizeof(r.node), m->hdr.seq);
		r.node.err = stats_node_info(d, m->index, &r.node);
		break;
	default:
		slabd_wire_init(&r.hdr, SLABD_MSG_CLIENT_INFO_REPLY, len = sizeof(r.client), m->hdr.seq);
		r.client.err = stats_client_info(d, m->index, &r.client);
		break;
	}
	send_reply(c, &r, len, NULL, 0);
}

/* VERIFY: corruption counters, and with SLABD_VERIFY_AUDIT the audit (verify.c). */
static void handle_verify(struct slabd *d, struct conn *c, const struct slabd_wire_verify_req *m)
{
	struct slabd_wire_verify r;

	slabd_wire_init(&r.hdr, SLABD_MSG_VERIFY_REPLY, sizeof(r), m->hdr.seq);
	r.flags = m->flags & SLABD_VERIFY_AUDIT;
	if (r.flags)
		log_info("verify: audit asked by client %u (pid %u)", c->id, c->pid);
	verify_fill(d, &r);
	send_reply(c, &r, sizeof(r), NULL, 0);
}

/* DEBUG: query or switch debug checks (debug.c). */
static void handle_debug(struct slabd *d, struct conn *c, const struct slabd_wire_debug_req *m)
{
	struct slabd_wire_debug r;

	slabd_wire_init(&r.hdr, SLABD_MSG_DEBUG_REPLY, sizeof(r), m->hdr.seq);
	debug_request(d, m, &r);
	send_reply(c, &r, sizeof(r), NULL, 0);
}

static void conn_drop(struct slabd *d, struct conn *c, int epfd, const char *why)
{
	uint64_t failures = 0, debug_errors = 0;
	int attached = c->attached;

	if (c->slot >= 0) {
		struct slabd_shm_client *e = &d->clients[c->slot];
		failures = __atomic_load_n(&e->alloc_failures, __ATOMIC_RELAXED);
		debug_errors = __atomic_load_n(&e->debug_errors, __ATOMIC_RELAXED);
		d->stats.failures_of_gone_clients += failures;
		__atomic_store_n(&e->id, 0, __ATOMIC_RELEASE);
	}
	if (failures)
		log_notice("client %u (pid %u) %s; %llu allocations failed for it", c->id, c->pid, why,
			   (unsigned long long)failures);
	else /* a connection that never sent HELLO (slabctl's) was no client */
		log_info("%s %u (pid %u) %s", attached ? "client" : "connection", c->id, c->pid,
			 why);
	if (debug_errors)
		log_notice("client %u (pid %u): its debug checks reported %llu errors (see its stderr)", c->id,
			   c->pid, (unsigned long long)debug_errors);
	if (attached)
		debug_client_gone(d, c->id, c->pid); /* owner tracking: its objects back */
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->pidfd >= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->pidfd, NULL);
		close(c->pidfd);
		c->pidfd = -1;
	}
	if (nr_dropped_now < sizeof(dropped_now) / sizeof(dropped_now[0]))
		dropped_now[nr_dropped_now++] = c;
	urcu_memb_read_lock();
	cds_lfht_del(conns, &c->node);
	urcu_memb_read_unlock();
	/* From here liburcu's thread may free c at any moment: this thread holds no read
	 * lock (reading c->attached after this was a use-after-free ASan caught). */
	urcu_memb_call_rcu(&c->rcu, conn_free_rcu);
	nr_conns--;
	if (attached) {
		nr_attached--;
		status_clients(d);
	}
}

/*
 * conn_watch_exit: once @c is an attached client, watch its process through a pidfd: the
 * peer's own (SO_PEERPIDFD, the process that connected, with no pid reuse race), else
 * pidfd_open of its SO_PEERCRED pid. Without either (an older kernel, no descriptor left)
 * the socket's hangup is the only sign of its end, as before.
 */
static void conn_watch_exit(struct conn *c, int epfd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = conn_exit_tag(c) };
	socklen_t len = sizeof(c->pidfd);
	struct ucred cred;
	int fd = -1;

	if (c->pidfd >= 0 || !c->attached)
		return;
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) < 0 || len != sizeof(fd))
		fd = -1;
	len = sizeof(cred);
	if (fd < 0 && getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid > 0)
		fd = (int)syscall(SYS_pidfd_open, cred.pid, 0);
	if (fd < 0)
		return;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		return;
	}
	c->pidfd = fd;
}

static int handle_conn(struct slabd *d, struct conn *c, int epfd, uint32_t events);

/*
 * conn_exited: @c's process is gone. Usually its socket went with it: what it sent last
 * is read and the hangup seen as ever ("detached"). A socket still open is held by a
 * process that inherited it without the library's fork handler: the client is gone all
 * the same, so it is dropped (owner tracking gives back what it owned) and the holder,
 * if it ever uses the library on that socket, finds it closed and attaches anew.
 */
static void conn_exited(struct slabd *d, struct conn *c, int epfd)
{
	if (handle_conn(d, c, epfd, 0))
		return;
	conn_drop(d, c, epfd, "exited (its socket is still open in another process)");
}

/* Handle @c's readable socket (@events from epoll, 0: just read what is there); 1 when
 * @c was dropped (gone, freed after a grace period), else 0. */
static int handle_conn(struct slabd *d, struct conn *c, int epfd, uint32_t events)
{
	union {
		struct slabd_wire_hdr h;
		struct slabd_wire_hello hello;
		struct slabd_wire_large_alloc large;
		struct slabd_wire_cache_create cache_create;
		struct slabd_wire_cache_op cache_op;
		struct slabd_wire_stats_req stats;
		struct slabd_wire_info_req info;
		struct slabd_wire_pool_create pool_create;
		struct slabd_wire_verify_req verify;
		struct slabd_wire_debug_req debug;
		char raw[SLABD_WIRE_MAX + 1];
	} buf;
	char cbuf[CMSG_SPACE(sizeof(int) * 8)];
	int rounds;

	for (rounds = 0; rounds < 16; rounds++) {
		struct iovec iov = { &buf, sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *cm;
		ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		int type;
		uint32_t seq = 0;

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			const char *why = n < 0 ? "lost (socket error)" : "detached";

			if (n == 0 && !c->attached)
				why = "closed (no HELLO)";
			conn_drop(d, c, epfd, why);
			return 1;
		}
		/* Descriptors sent to us are never wanted. */
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
				int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int)), i, f;
				for (i = 0; i < k; i++) {
					memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
					close(f);
				}
			}
		if (c->refused) {
			conn_drop(d, c, epfd, "refused (access control)");
			return 1;
		}
		if ((size_t)n >= sizeof(struct slabd_wire_hdr))
			seq = buf.h.seq;
		type = (mh.msg_flags & MSG_TRUNC)
			   ? -EMSGSIZE
			   : slabd_wire_request(&buf, (size_t)n, c->attached);
		if (type == -EOPNOTSUPP || type == -ENOTCONN || type == -EISCONN) {
			/* well-formed, but not a request, or not one for this state */
			if (c->bad_msgs++ < 10)
				log_warn("client %u (pid %u): message type %u refused (%s)", c->id,
					 c->pid, (unsigned)buf.h.type, strerror(-type));
			if (type == -EOPNOTSUPP)
				send_error(c, seq, type, "message type %u is not a request",
					   (unsigned)buf.h.type);
			else if (type == -ENOTCONN)
				send_error(c, seq, type, "send HELLO before any other request");
			else
				send_error(
				    c, seq, type,
				    "this connection is already attached as client %u: HELLO "
				    "once per connection",
				    c->id);
			continue;
		}
		if (type == -EINVAL) {
			/* well-formed, but a reserved field is not 0 or a flag unknown: refused
			 * before any handler runs, so nothing changes; the field is named for
			 * the author of the sender */
			uint32_t v = 0, known = 0, unknown;
			const char *field = slabd_wire_reserved(&buf, buf.h.type, &v), *what;

			unknown = field ? 0 : slabd_wire_unknown_flags(&buf, buf.h.type, &known);
			if (unknown) {
				if (c->bad_msgs++ < 10)
					log_warn_limited("client %u (pid %u): %s refused: flags 0x%x "
							 "unknown (this slabd knows 0x%x)",
							 c->id, c->pid, slabd_wire_type_name(buf.h.type),
							 (unsigned)unknown, (unsigned)known);
				send_error(c, seq, type, "%s: flags 0x%x unknown to this slabd (it knows 0x%x)",
					   slabd_wire_type_name(buf.h.type), (unsigned)unknown, (unsigned)known);
				continue;
			}
			if (!field)
				field = "reserved";
			what = strcmp(field, "name padding") ? " field" : " (a byte after the name's NUL)";
			if (c->bad_msgs++ < 10)
				log_warn_limited("client %u (pid %u): %s refused: its %s%s is "
						 "0x%x, must be 0",
						 c->id, c->pid, slabd_wire_type_name(buf.h.type),
						 field, what, (unsigned)v);
			send_error(c, seq, type, "%s: %s%s is 0x%x, must be 0",
				   slabd_wire_type_name(buf.h.type), field, what, (unsigned)v);
			continue;
		}
		if (type == -EPROTO) {
			/* a whole header of another version: say both, as a layout mismatch does */
			if (c->bad_msgs++ < 10)
				log_warn("client %u (pid %u) refused: it speaks wire protocol version "
					 "%u, this slabd version %u",
					 c->id, c->pid, (unsigned)buf.h.version, SLABD_WIRE_VERSION);
			send_error(
			    c, seq, type,
			    "slabd refused the message: wire protocol version mismatch (client %u, "
			    "slabd %u); rebuild the client against this slabd's libslabclient or "
			    "run the matching slabd",
			    (unsigned)buf.h.version, SLABD_WIRE_VERSION);
			continue;
		}
		if (type < 0) {
			if (c->bad_msgs++ < 10)
				log_warn("client %u (pid %u): malformed message of %zd bytes rejected (%s)", c->id,
					 c->pid, n, strerror(-type));
			send_error(c, seq, type, "slabd rejected a malformed message (%s): is the client built "
				   "against this slabd's protocol version %u?", strerror(-type), SLABD_WIRE_VERSION);
			continue;
		}
		switch (type) {
		case SLABD_MSG_HELLO:
			handle_hello(d, c, &buf.hello);
			conn_watch_exit(c, epfd);
			break;
		case SLABD_MSG_LARGE_ALLOC:
			handle_large(d, c, &buf.large);
			break;
		case SLABD_MSG_CACHE_CREATE:
			handle_cache_create(d, c, &buf.cache_create);
			break;
		case SLABD_MSG_CACHE_OP:
			handle_cache_op(d, c, &buf.cache_op);
			break;
		case SLABD_MSG_STATS:
			handle_stats(d, c, &buf.stats);
			break;
		case SLABD_MSG_CACHE_INFO:
		case SLABD_MSG_CPU_INFO:
		case SLABD_MSG_NODE_INFO:
		case SLABD_MSG_CLIENT_INFO:
			handle_info(d, c, type, &buf.info);
			break;
		case SLABD_MSG_POOL_CREATE:
			handle_pool_create(d, c, &buf.pool_create);
			break;
		case SLABD_MSG_VERIFY:
			handle_verify(d, c, &buf.verify);
			break;
		case SLABD_MSG_DEBUG:
			handle_debug(d, c, &buf.debug);
			break;
		default:
			send_error(c, seq, -EOPNOTSUPP, "message type %u is not a request", (unsigned)type);
			break;
		}
	}
	if (events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) {
		/* Read what was left above; now the peer is gone. */
		char probe;
		if (recv(c->fd, &probe, 1, MSG_DONTWAIT | MSG_PEEK) <= 0) {
			conn_drop(d, c, epfd, "hung up");
			return 1;
		}
	}
	return 0;
}

static int id_listed(const struct id_list *l, uint32_t id)
{
	uint32_t i;

	for (i = 0; i < l->n && i < SLABD_CONFIG_IDS; i++)
		if (l->ids[i] == id)
			return 1;
	return 0;
}

/*
 * peer_allowed: SO_PEERCRED of a new connection against allowed_users/allowed_groups
 * (both empty: anyone who could open the socket). Root and slabd's own user always
 * pass: they can read its memory anyway. Groups count the peer's primary group and,
 * where the kernel tells (SO_PEERGROUPS), its supplementary groups. 1 or 0; *ret_cred
 * says who it was.
 */
static int peer_allowed(struct slabd *d, int fd, struct ucred *ret_cred)
{
	socklen_t len = sizeof(*ret_cred);
	gid_t groups[256];
	socklen_t glen = sizeof(groups);
	uint32_t i;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ret_cred, &len) < 0) {
		ret_cred->pid = 0;
		ret_cred->uid = ret_cred->gid = (uint32_t)-1;
		return !d->cfg.allowed_users.n && !d->cfg.allowed_groups.n;
	}
	if (!d->cfg.allowed_users.n && !d->cfg.allowed_groups.n)
		return 1;
	if (ret_cred->uid == 0 || ret_cred->uid == geteuid() ||
	    id_listed(&d->cfg.allowed_users, ret_cred->uid) ||
	    id_listed(&d->cfg.allowed_groups, ret_cred->gid))
		return 1;
	if (d->cfg.allowed_groups.n &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0)
		for (i = 0; i < glen / sizeof(gid_t); i++)
			if (id_listed(&d->cfg.allowed_groups, groups[i]))
				return 1;
	return 0;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * server_raise_nofile: the soft open-file limit up to the hard one (every client holds
 * a connection; nothing in slabd uses select()). Called once at start.
 */
void server_raise_nofile(void)
{
	struct rlimit rl;
	rlim_t old;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	old = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_info("open-file limit stays at %llu (cannot raise it to %llu: %s)",
			 (unsigned long long)old, (unsigned long long)rl.rlim_max, strerror(errno));
	else
		log_info("open-file limit raised from %llu to %llu", (unsigned long long)old,
			 (unsigned long long)rl.rlim_max);
}

static unsigned long long nofile_limit(void)
{
	struct rlimit rl;

	return getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (unsigned long long)rl.rlim_cur : 0;
}

/* Take @fd (with @tag) out of @epfd for ACCEPT_PAUSE_MS: accept fails at once for now. */
static void listen_pause(int epfd, int fd, void *tag, uint64_t *until)
{
	struct epoll_event ev = { .events = 0, .data.ptr = tag };

	*until = mono_ms() + ACCEPT_PAUSE_MS;
	epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
}

static void listen_resume(int epfd, int fd, void *tag, uint64_t *until, uint64_t now)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };

	if (!*until || now < *until)
		return;
	*until = 0;
	epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
}

/*
 * Out of descriptors (@err EMFILE or ENFILE): give up the spare to accept the waiting
 * connection, tell it why, close it, take the spare back. 0 when one was turned away
 * (there may be more), -1 when that could not be done.
 */
static int accept_refuse(int lfd, int err)
{
	struct conn tmp = { .fd = -1, .slot = -1 };

	if (spare_fd < 0)
		return -1;
	close(spare_fd);
	spare_fd = -1;
	tmp.fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (tmp.fd >= 0) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		if (getsockopt(tmp.fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
			cred.pid = 0;
		tmp.pid = (uint32_t)cred.pid;
		if (err == EMFILE)
			send_error(&tmp, 0, -EMFILE,
				   "slabd is out of file descriptors (open-file limit %llu, %u "
				   "connections): try again later, or raise its limit "
				   "(LimitNOFILE= in slabd.service)",
				   nofile_limit(), nr_conns);
		else
			send_error(&tmp, 0, -ENFILE,
				   "slabd cannot take the connection: the system is out of file "
				   "descriptors (fs.file-max); try again later");
		/* No more requests (the client's send fails with EPIPE), and none left
		 * unread: closing with unread data would reset the connection, and the
		 * client's recv would get ECONNRESET before the ERROR. */
		shutdown(tmp.fd, SHUT_RD);
		while (recv(tmp.fd, &len, sizeof(len), MSG_DONTWAIT | MSG_TRUNC) > 0)
			;
		close(tmp.fd);
		log_warn_limited("connection from pid %d turned away: %s (open-file limit %llu, %u "
				 "connections); raise LimitNOFILE= or fs.file-max",
				 (int)tmp.pid, strerror(err), nofile_limit(), nr_conns);
	}
	spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return tmp.fd >= 0 ? 0 : -1;
}

static void accept_all(struct slabd *d, int lfd, int epfd)
{
	if (spare_fd < 0)
		spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (;;) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
		struct conn *c;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), err;

		if (fd < 0) {
			err = errno;
			if (err == EAGAIN || err == EWOULDBLOCK)
				return;
			if (err == EINTR || err == ECONNABORTED)
				continue;
			if ((err == EMFILE || err == ENFILE) && accept_refuse(lfd, err) == 0)
				continue;
			/* ENOMEM, ENOBUFS, no spare...: the socket stays readable, so the loop
			 * would come straight back; leave it alone for a while */
			log_warn_limited("cannot accept connections: %s; not trying again for %d ms",
					 strerror(err), ACCEPT_PAUSE_MS);
			listen_pause(epfd, lfd, TAG_LISTEN, &listen_paused_until);
			return;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->pidfd = -1;
		c->id = persist_next_client_id(d);
		c->slot = -1;
		{
			struct ucred cred;
			int allowed = peer_allowed(d, fd, &cred);

			/* the log names it before any HELLO (slabctl sends none) */
			c->pid = (uint32_t)cred.pid;
			if (!allowed) {
				/* Said at once (a client reads it as the answer to its HELLO);
				 * the connection goes at its first message or hangup, so the
				 * client's send does not fail before it can read why. */
				c->refused = 1;
				log_warn_limited("connection from pid %d (uid %u, gid %u) refused: "
						 "not in allowed_users "
						 "or allowed_groups; add the user or one of its "
						 "groups to the config",
						 (int)cred.pid, (unsigned)cred.uid,
						 (unsigned)cred.gid);
				send_error(c, 0, -EACCES,
					   "slabd refused this process (uid %u, gid %u): it is not "
					   "in slabd's "
					   "allowed_users or allowed_groups; ask the administrator "
					   "to add it",
					   (unsigned)cred.uid, (unsigned)cred.gid);
			}
		}
		cds_lfht_node_init(&c->node);
		urcu_memb_read_lock();
		cds_lfht_add(conns, c->id, &c->node);
		urcu_memb_read_unlock();
		nr_conns++;
		ev.data.ptr = c;
		epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
	}
}

int server_run(struct slabd *d, int lfd)
{
	struct epoll_event ev;
	sigset_t mask;
	int epfd, sfd, wdfd = -1, running = 1;
	uint64_t wd_usec = notify_watchdog_usec();

	urcu_memb_register_thread();
	conns = cds_lfht_new_flavor(64, 64, 0, CDS_LFHT_AUTO_RESIZE, &urcu_memb_flavor, NULL);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!conns || sfd < 0 || epfd < 0) {
		log_err("cannot set up the event loop: %s", strerror(errno));
		return -ENOMEM;
	}
	ev.events = EPOLLIN;
	ev.data.ptr = TAG_LISTEN;
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
	ev.data.ptr = TAG_SIGNAL;
	epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev);
	if (d->cfg.metrics_port) {
		ev.data.ptr = TAG_METRICS;
		epoll_ctl(epfd, EPOLL_CTL_ADD, d->metrics_fd, &ev);
	}
	if (wd_usec) {
		/* WATCHDOG=1 at half the service manager's interval, from this loop: a control
		 * thread stuck anywhere stops the pings. */
		struct itimerspec its = { { 0, 0 }, { 0, 0 } };
		uint64_t half = wd_usec / 2 ? wd_usec / 2 : 1;
		its.it_interval.tv_sec = (time_t)(half / 1000000);
		its.it_interval.tv_nsec = (long)(half % 1000000) * 1000;
		its.it_value = its.it_interval;
		wdfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (wdfd < 0 || timerfd_settime(wdfd, 0, &its, NULL) < 0) {
			log_err("cannot start the watchdog timer: %s", strerror(errno));
			return -errno;
		}
		ev.data.ptr = TAG_WATCHDOG;
		epoll_ctl(epfd, EPOLL_CTL_ADD, wdfd, &ev);
		notify_send("WATCHDOG=1");
		log_info("watchdog: pinging every %llu ms", (unsigned long long)(half / 1000));
	}

	spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	while (running) {
		struct epoll_event evs[32];
		int timeout = -1, n, i;

		if (listen_paused_until || metrics_paused_until) {
			uint64_t now = mono_ms();
			listen_resume(epfd, lfd, TAG_LISTEN, &listen_paused_until, now);
			if (d->cfg.metrics_port)
				listen_resume(epfd, d->metrics_fd, TAG_METRICS, &metrics_paused_until, now);
			if (listen_paused_until || metrics_paused_until)
				timeout = ACCEPT_PAUSE_MS;
		}
		n = epoll_wait(epfd, evs, 32, timeout);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_err("epoll_wait: %s", strerror(errno));
			break;
		}
		nr_dropped_now = 0;
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == TAG_LISTEN) {
				accept_all(d, lfd, epfd);
			} else if (evs[i].data.ptr == TAG_SIGNAL) {
				struct signalfd_siginfo si;
				while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGHUP) {
						daemon_reload(d);
						continue;
					}
					log_notice("%s received: shutting down (%u clients attached)",
						   strsignal((int)si.ssi_signo), nr_conns);
					notify_send("STOPPING=1\nSTATUS=stopping");
					running = 0;
				}
			} else if (evs[i].data.ptr == TAG_METRICS) {
				if (metrics_accept(d->metrics_fd, epfd) < 0)
					listen_pause(epfd, d->metrics_fd, TAG_METRICS,
						     &metrics_paused_until);
			} else if (metrics_owns(evs[i].data.ptr)) {
				metrics_handle(d, evs[i].data.ptr, evs[i].events, epfd);
			} else if (evs[i].data.ptr == TAG_WATCHDOG) {
				uint64_t ticks;
				if (read(wdfd, &ticks, sizeof(ticks)) == sizeof(ticks))
					notify_send("WATCHDOG=1");
			} else {
				struct conn *c = (struct conn *)((uintptr_t)evs[i].data.ptr & ~(uintptr_t)1);
				unsigned int k;

				for (k = 0; k < nr_dropped_now && dropped_now[k] != c; k++)
					;
				if (k < nr_dropped_now)
					continue; /* dropped by an earlier event of this batch */
				if ((uintptr_t)evs[i].data.ptr & 1)
					conn_exited(d, c, epfd);
				else
					handle_conn(d, c, epfd, evs[i].events);
			}
		}
	}

	{
		struct cds_lfht_iter it;
		struct conn *c;
		urcu_memb_read_lock();
		cds_lfht_for_each_entry(conns, &it, c, node) {
			cds_lfht_del(conns, &c->node);
			close(c->fd);
			if (c->pidfd >= 0)
				close(c->pidfd);
			urcu_memb_call_rcu(&c->rcu, conn_free_rcu);
		}
		urcu_memb_read_unlock();
	}
	urcu_memb_barrier();
	cds_lfht_destroy(conns, NULL);
	conns = NULL;
	metrics_close_all(epfd);
	close(epfd);
	close(sfd);
	if (wdfd >= 0)
		close(wdfd);
	if (spare_fd >= 0)
		close(spare_fd);
	spare_fd = -1;
	urcu_memb_unregister_thread();
	return 0;
}
