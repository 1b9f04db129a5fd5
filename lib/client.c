/* SPDX-License-Identifier: MIT */
/*
 * client.c - attaching to slabd: socket, region mapping, rseq, fork, socket requests.
 *
 * Owns struct client (client.h). Lock order: 1. client.lock (attach, detach, every
 * request on the socket). Nothing else in libslabclient takes a lock.
 *
 * States: detached (ncpus == 0, base == NULL) -> attached (mapped, socket open) ->
 * mapped (socket closed by slabd_disconnect or inherited across fork: the mapping stays
 * valid, the next slow path reconnects and re-registers as a new client).
 *
 * The library never prints; failures are returned as -errno with a message kept for
 * slabd_last_error().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/rseq.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "client.h"
#include "percpu.h"

/* The inline fast path's view of this process (ABI: <slabd/fast.h>); 0 until attached. */
SLABD_API struct slabd_fast slabd_fast_v2;
/* The inline kfree's guess of the next cache (<slabd/fast.h>); the library never reads it. */
SLABD_API __thread uint64_t slabd_fast_guess_v2 __attribute__((tls_model("initial-exec")));

#include "slabd_ops.h"
#include "slabd_wire.h"

/* What this library announces; a test build overrides it to play a client of another
 * layout version. */
#ifdef SLABD_TEST_LAYOUT_VERSION
#define CLIENT_LAYOUT_VERSION SLABD_TEST_LAYOUT_VERSION
#else
#define CLIENT_LAYOUT_VERSION SLABD_SHM_LAYOUT_VERSION
#endif

/* How long a caller that may not sleep (no __GFP_DIRECT_RECLAIM) waits for each answer
 * of the daemon: the first attach's HELLO and a page-level allocation. */
#define NOWAIT_REPLY_MS 100
#define STR_(x) #x
#define STR(x) STR_(x)

struct client slabd_client = {
	.max_cache_size = 32768, /* until attached: route small sizes to the slab path */
	.sock = -1,
	.client_slot = UINT32_MAX,
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

static __thread char last_error[256];

/* This thread's own rseq area, used only when glibc did not register one. Initial-exec
 * TLS so that its %fs offset is the same in every thread. */
static __thread struct rseq own_rseq __attribute__((tls_model("initial-exec"), aligned(32))) = {
	.cpu_id = (uint32_t)RSEQ_CPU_ID_UNINITIALIZED,
};

void client_set_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
}

const char *slabd_last_error(void)
{
	return last_error;
}

void client_kick(void)
{
	struct slabd_shm_ctl *ctl = slabd_client.ctl;
	__atomic_fetch_add(&ctl->kick, 1, __ATOMIC_RELEASE);
	slabd_futex_wake(&ctl->kick);
}

static long rseq_offset_choose(int *ret_own)
{
	/* glibc >= 2.35 sets __rseq_size to the registered size (20: the original ABI)
	 * and leaves it 0 when it did not register (tunable glibc.pthread.rseq=0). */
	if (__rseq_size > 0) {
		*ret_own = 0;
		return (long)__rseq_offset;
	}
	*ret_own = 1;
	return (long)((char *)&own_rseq - (char *)__builtin_thread_pointer());
}

/* In a fork()ed child. Registered when the library is loaded, not at the first attach:
 * a fork while another thread is in the middle of the first attach (holding client.lock,
 * waiting for the daemon's answer) must give the child a lock it can take. */
static void atfork_child(void)
{
	struct client *c = &slabd_client;
	/* The socket belongs to the parent's registration; the child registers anew on its
	 * first slow path. The mapping stays. So do the parent's id and client table entry:
	 * until it has its own, the child is nobody (an object it allocates meanwhile, say
	 * with GFP_ATOMIC, must not be owner-tracked as the parent's, nor its failures
	 * counted in the parent's entry). */
	pthread_mutex_init(&c->lock, NULL);
	if (c->sock >= 0)
		close(c->sock);
	c->sock = -1;
	c->pid = 0;
	c->abandoned = 0;
	c->client_id = 0;
	c->client_slot = UINT32_MAX;
}

/* The fast paths read slabd_client.roff, slabd_fast_v2.rseq_off and .handles before any
 * attach: they must be right from the start (a zero offset would make a sequence publish
 * its descriptor over the TCB). */
__attribute__((constructor)) static void client_init(void)
{
	slabd_client.roff = rseq_offset_choose(&slabd_client.own_rseq);
	slabd_fast_v2.rseq_off = slabd_client.roff; /* the inline path's too */
	/* the handle table from the start: with handles NULL a NULL handle (a failed
	 * kmem_cache_create's) passed the inline check and had its stacks read */
	slabd_fast_v2.handles = cache_handles();
	slabd_fast_v2.size_index = slabd_small_index; /* filled by alloc.c's constructor */
	pthread_atfork(NULL, NULL, atfork_child);
}

static void drain_stale_locked(int timeout_ms);

/* At exit: the late answers to requests given up on, as slabd_disconnect takes them
 * (only when there are some, and only if no other thread is in a request). */
__attribute__((destructor)) static void client_fini(void)
{
	struct client *c = &slabd_client;

	if (!__atomic_load_n(&c->abandoned, __ATOMIC_RELAXED) || pthread_mutex_trylock(&c->lock))
		return;
	drain_stale_locked(NOWAIT_REPLY_MS);
	pthread_mutex_unlock(&c->lock);
}

int client_rseq_ready(void)
{
	struct client *c = &slabd_client;

	if (percpu_current_cpu(c->roff) >= 0)
		return 0;
	if (!c->own_rseq)
		return -ENOSYS; /* glibc's registration failed for this thread */
	if (own_rseq.cpu_id == (uint32_t)RSEQ_CPU_ID_REGISTRATION_FAILED)
		return -ENOSYS;
	if (syscall(SYS_rseq, &own_rseq, sizeof(own_rseq), 0, SLABD_RSEQ_SIG) < 0) {
		int err = errno;
		/* EBUSY: this very area, with our signature, is registered already. A signal
		 * handler that allocated between the look at cpu_id above and here registered
		 * it: it is the kernel's now, cpu_id included (read-only to user space; writing
		 * it would leave the thread without its per-CPU path, and a kernel with
		 * CONFIG_DEBUG_RSEQ kills a process that does). */
		if (err == EBUSY)
			return 0;
		own_rseq.cpu_id = (uint32_t)RSEQ_CPU_ID_REGISTRATION_FAILED; /* not registered: ours */
		return -err;
	}
	return 0;
}

static void set_error_parts(const char *a, const char *b, const char *c);

/* A connection to @path. Without @may_block the connect does not wait either: a daemon
 * that is stopped or busy leaves connections queued in its listen backlog (those given up
 * on too, until it accepts them), and once that is full a blocking connect waits for it:
 * -EAGAIN then. The descriptor returned blocks (the requests choose per call). */
static int sock_connect(const char *path, int may_block)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		client_set_error("socket path '%s' is longer than %zu bytes", path, sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | (may_block ? 0 : SOCK_NONBLOCK), 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;

		close(fd);
		if (err == EAGAIN && !may_block) {
			set_error_parts("slabd at ", path,
					" does not accept connections (stopped or busy: its backlog is full): a "
					"caller that may not sleep does not wait for it; try again later or allow "
					"sleeping (GFP_KERNEL)");
			return -EAGAIN;
		}
		client_set_error("cannot connect to slabd at %s: %s; is slabd running there? (set SLABD_SOCKET "
				 "or pass the path to slabd_connect)",
				 path, strerror(err));
		return -err;
	}
	if (!may_block && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

/* A message for slabd_last_error() made of @a, @b and @c without printf: the failures of
 * a caller that may not sleep, which may be a signal handler. */
static void set_error_parts(const char *a, const char *b, const char *c)
{
	const char *part[3] = { a, b, c };
	size_t n = 0, k, i;

	for (i = 0; i < 3; i++) {
		k = strlen(part[i]);
		if (k > sizeof(last_error) - 1 - n)
			k = sizeof(last_error) - 1 - n;
		memcpy(last_error + n, part[i], k);
		n += k;
	}
	last_error[n] = '\0';
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_fds(int *fds, int n);

/*
 * Receive one message into @rep (its descriptors, up to @max_fds, in @fds), waiting until
 * @deadline (mono_ms; -1: for ever). Its validated type (SLABD_MSG_ERROR included; the
 * caller checks the seq first), -ETIMEDOUT when nothing came in time, or -errno.
 * poll and recvmsg only: async-signal-safe.
 */
static int sock_recv(int fd, void *rep, size_t rep_cap, int *fds, int max_fds, int *ret_nfds, int64_t deadline)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = { rep, rep_cap };
	struct msghdr mh;
	struct cmsghdr *cm;
	ssize_t n;
	int type;

	*ret_nfds = 0;
	for (;;) {
		if (deadline >= 0) {
			struct pollfd pf = { .fd = fd, .events = POLLIN };
			int64_t left = deadline - mono_ms();

			if (left < 0)
				left = 0;
			n = poll(&pf, 1, (int)left);
			if (n < 0 && errno == EINTR)
				continue;
			if (n == 0)
				return -ETIMEDOUT;
		}
		mh = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				      .msg_controllen = sizeof(cbuf) };
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | (deadline >= 0 ? MSG_DONTWAIT : 0));
		if (n < 0 && (errno == EINTR || (deadline >= 0 && (errno == EAGAIN || errno == EWOULDBLOCK))))
			continue;
		break;
	}
	if (n < 0 && errno == ECONNRESET) {
		/* reset by a peer that closed with our request unread (a daemon out of
		 * descriptors turning the connection away): what it said before that is
		 * still there */
		mh = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				      .msg_controllen = sizeof(cbuf) };
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0)
			errno = ECONNRESET;
	}
	if (n < 0) {
		int err = errno;
		client_set_error("no answer from slabd at %s: %s", slabd_client.socket_path, strerror(err));
		return -err;
	}
	if (n == 0) {
		client_set_error("the peer at %s closed the connection without answering: slabd stopped, "
				 "or this is not slabd's socket (check the path, SLABD_SOCKET)",
				 slabd_client.socket_path);
		return -ECONNRESET;
	}
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int)), i;
			for (i = 0; i < k; i++) {
				int f;
				memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				if (*ret_nfds < max_fds)
					fds[(*ret_nfds)++] = f;
				else
					close(f);
			}
		}
	}
	type = slabd_wire_validate(rep, (size_t)n);
	if (type < 0) {
		const struct slabd_wire_hdr *h = rep;

		close_fds(fds, *ret_nfds);
		*ret_nfds = 0;
		/* a slabd of another wire version: its answer (an ERROR naming both versions)
		 * comes in a header this library cannot read; say it here */
		if (type == -EPROTO)
			client_set_error("slabd at %s speaks wire protocol version %u, this libslabclient "
					 "version %u: rebuild the client against this slabd's libslabclient "
					 "or run the matching slabd",
					 slabd_client.socket_path, (unsigned)h->version, SLABD_WIRE_VERSION);
		else
			client_set_error("malformed reply from slabd (%s)", strerror(-type));
	}
	return type;
}

/*
 * A reply to a request this client gave up waiting for (client.abandoned): nobody takes
 * it, so what it carries goes back. The pages of a late LARGE_REPLY are freed as kfree
 * frees them (a push on ctl->large_free: lock-free, async-signal-safe).
 */
static void stale_reply(const void *rep, int type)
{
	struct client *c = &slabd_client;

	if (type == SLABD_MSG_LARGE_REPLY) {
		const struct slabd_wire_large_reply *r = rep;

		if (r->err == 0 && c->sb && r->off >= c->sb->zones_off && r->off < c->region_size)
			slabd_kfree(c->base + r->off);
	}
	if (c->abandoned)
		c->abandoned--;
}

/*
 * One request, one reply; the reply may carry up to @max_fds descriptors. Replies with
 * another seq than the request's answer requests given up on before: they are skipped
 * (stale_reply). @timeout_ms: how long to wait for the reply (-1: for ever); when it
 * expires, -ETIMEDOUT (the request was sent: its reply may still come). A bounded call
 * does not wait to send either (-EAGAIN).
 */
static int sock_call(int fd, const void *req, size_t req_len, void *rep, size_t rep_cap, int *fds, int max_fds,
		     int *ret_nfds, int timeout_ms)
{
	uint32_t seq = ((const struct slabd_wire_hdr *)req)->seq;
	int64_t deadline = timeout_ms < 0 ? -1 : mono_ms() + timeout_ms;
	ssize_t n;
	int type;

	*ret_nfds = 0;
	do
		n = send(fd, req, req_len, MSG_NOSIGNAL | (timeout_ms >= 0 ? MSG_DONTWAIT : 0));
	while (n < 0 && errno == EINTR);
	if (n < 0 && timeout_ms >= 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		set_error_parts("slabd at ", slabd_client.socket_path,
				" does not take requests (stopped or busy): a caller that may not sleep does "
				"not wait for it; try again later or allow sleeping (GFP_KERNEL)");
		return -EAGAIN;
	}
	if (n < 0) {
		int err = errno;
		/* A daemon that turned the connection away (out of descriptors, say) may have
		 * hung up before the request went out: its ERROR is waiting all the same. */
		n = recv(fd, rep, rep_cap, MSG_DONTWAIT);
		if (n > 0 && slabd_wire_validate(rep, (size_t)n) == SLABD_MSG_ERROR) {
			const struct slabd_wire_error *e = rep;
			client_set_error("%s", e->msg);
			return e->err < 0 ? e->err : -EPROTO;
		}
		client_set_error("cannot send a request to slabd at %s: %s", slabd_client.socket_path, strerror(err));
		return -err;
	}
	for (;;) {
		type = sock_recv(fd, rep, rep_cap, fds, max_fds, ret_nfds, deadline);
		/* an ERROR of seq 0 answers whatever comes: the daemon refused the connection
		 * before it read a request (access control, out of descriptors) */
		if (type < 0 || ((const struct slabd_wire_hdr *)rep)->seq == seq ||
		    (type == SLABD_MSG_ERROR && ((const struct slabd_wire_hdr *)rep)->seq == 0))
			break;
		close_fds(fds, *ret_nfds);
		*ret_nfds = 0;
		stale_reply(rep, type);
	}
	if (type == -ETIMEDOUT) {
		set_error_parts("slabd at ", slabd_client.socket_path,
				" did not answer in time (stopped or busy): a caller that may not sleep waits "
				"at most " STR(NOWAIT_REPLY_MS) " ms; try again later or allow sleeping (GFP_KERNEL)");
		return -ETIMEDOUT;
	}
	if (type == SLABD_MSG_ERROR) {
		const struct slabd_wire_error *e = rep;
		client_set_error("%s", e->msg);
		return e->err < 0 ? e->err : -EPROTO;
	}
	return type;
}

/* Take the replies to requests given up on that arrived by now, or within @timeout_ms:
 * their memory goes back (stale_reply). Under client.lock. */
static void drain_stale_locked(int timeout_ms)
{
	struct client *c = &slabd_client;
	int64_t deadline = mono_ms() + timeout_ms;
	union {
		struct slabd_wire_hdr h;
		char raw[SLABD_WIRE_MAX];
	} buf;
	int fds[3], nfds, type;

	while (c->abandoned && c->sock >= 0 && c->pid == getpid()) {
		type = sock_recv(c->sock, &buf, sizeof(buf), fds, 3, &nfds, deadline);
		close_fds(fds, nfds);
		if (type == -ETIMEDOUT)
			break;
		if (type < 0) {
			/* the daemon is gone (or talks nonsense): so are its answers */
			if (type == -ECONNRESET) {
				close(c->sock);
				c->sock = -1;
			}
			c->abandoned = 0;
			break;
		}
		stale_reply(&buf, type);
	}
}

static void close_fds(int *fds, int n)
{
	while (n-- > 0)
		close(fds[n]);
}

/* Reserve the window (at the daemon's base if possible) and map the three segments. */
/* The cache_stride of this process's first attach (see map_region). */
static uint64_t first_stride;

static int map_region(const struct slabd_wire_attach *a, const int *fds)
{
	struct client *c = &slabd_client;
	char *w;
	const struct slabd_shm_super *sb;
	int r;

	if (!a->meta_size || a->percpu_off != a->meta_size || a->zones_off != a->percpu_off + a->percpu_size ||
	    !a->zones_size) {
		client_set_error("slabd sent an inconsistent region geometry");
		return -EBADMSG;
	}
	w = mmap((void *)(uintptr_t)a->base_addr, a->zones_off + a->zones_size, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (w == MAP_FAILED)
		w = mmap(NULL, a->zones_off + a->zones_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			 -1, 0);
	if (w == MAP_FAILED)
		return -errno;
	if (mmap(w, a->meta_size, PROT_READ, MAP_SHARED | MAP_FIXED, fds[0], 0) == MAP_FAILED ||
	    mmap(w + a->percpu_off, a->percpu_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fds[1], 0) ==
		    MAP_FAILED ||
	    mmap(w + a->zones_off, a->zones_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fds[2], 0) ==
		    MAP_FAILED) {
		r = -errno;
		client_set_error("cannot map slabd's region: %s", strerror(-r));
		munmap(w, a->zones_off + a->zones_size);
		return r;
	}
	sb = (const struct slabd_shm_super *)w;
	r = slabd_shm_super_validate(sb, a->meta_size);
	if (r == 0 && (sb->region_id != a->region_id || sb->zones_size != a->zones_size ||
		       sb->percpu_size != a->percpu_size))
		r = -EBADF;
	if (r < 0) {
		client_set_error("the region slabd sent fails validation (%s): layout version %u, this library "
				 "expects %u",
				 strerror(-r), sb->layout_version, SLABD_SHM_LAYOUT_VERSION);
		munmap(w, a->zones_off + a->zones_size);
		return r;
	}

	c->base = w;
	c->sb = sb;
	c->region_size = sb->region_size;
	c->region_id = sb->region_id;
	c->daemon_base = sb->base_addr;
	c->cpus = (const void *)(w + sb->cpu_table_off);
	c->nodes = (const void *)(w + sb->node_table_off);
	c->zone_tab = (const void *)(w + sb->zone_table_off);
	c->iova = (const void *)(w + sb->iova_table_off);
	c->caches = (const void *)(w + sb->cache_table_off);
	c->pages = (const void *)(w + sb->page_table_off);
	c->ctl = (void *)(w + sb->percpu_off + sb->ctl_off);
	c->depots = (void *)(w + sb->percpu_off + sb->depot_off);
	c->mags = (void *)(w + sb->percpu_off + sb->mag_off);
	c->clients = (void *)(w + sb->percpu_off + sb->client_off);
	c->pcpu_stats = (void *)(w + sb->percpu_off + sb->pcpu_stat_off);
	c->nr_mags = sb->nr_mags;
	c->pcpu = w + sb->percpu_off + sb->pcpu_off;
	c->remote = w + sb->percpu_off + sb->remote_off;
	c->cache_stride = (uint64_t)sb->nr_cpus << SLABD_PCPU_SHIFT;
	c->zones = w + sb->zones_off;
	c->zones_size = sb->zones_size;
	c->multi_node = sb->nr_nodes > 1;
	c->max_cache_size = sb->max_cache_size;
	c->roff = rseq_offset_choose(&c->own_rseq);
	/* What the inline fast path in <slabd/fast.h> reads, the same values. */
	slabd_fast_v2.rseq_off = c->roff;
	slabd_fast_v2.base = c->base;
	slabd_fast_v2.pcpu = c->pcpu;
	slabd_fast_v2.cache_stride = c->cache_stride;
	for (unsigned int k = 0; k < SLABD_FAST_KSTACKS; k++)
		slabd_fast_v2.kstacks[k] = c->pcpu + k * c->cache_stride;
	slabd_fast_v2.zones = c->zones;
	/* kfree in the library on several nodes, and after an attach with another stride than
	 * the first: the inline kfree's thread-local guesses (slabd_fast_guess_v2) hold
	 * cache * cache_stride of the first, and other threads' cannot be reset from here. */
	if (!first_stride)
		first_stride = c->cache_stride;
	slabd_fast_v2.zones_size = c->multi_node || c->cache_stride != first_stride ? 0 : c->zones_size;
	slabd_fast_v2.pages = (const uint64_t *)c->pages;
	slabd_fast_v2.handles = cache_handles();
	/* Publish: from here the fast paths run. */
	__atomic_store_n(&c->ncpus, sb->nr_cpus, __ATOMIC_RELEASE);
	__atomic_store_n(&slabd_fast_v2.ncpus, sb->nr_cpus, __ATOMIC_RELEASE);
	return 0;
}

static int hello(int fd, int reattach, int may_block)
{
	struct client *c = &slabd_client;
	struct slabd_wire_hello h;
	union {
		struct slabd_wire_attach a;
		struct slabd_wire_error e;
	} rep;
	int fds[3], nfds, type, r;

	slabd_wire_init(&h.hdr, SLABD_MSG_HELLO, sizeof(h), ++c->seq);
	h.layout_version = CLIENT_LAYOUT_VERSION;
	h.pid = (uint32_t)getpid();
	h.flags = reattach ? SLABD_HELLO_REATTACH : 0;
	type = sock_call(fd, &h, sizeof(h), &rep, sizeof(rep), fds, 3, &nfds, may_block ? -1 : NOWAIT_REPLY_MS);
	if (type < 0) {
		close_fds(fds, nfds);
		return type;
	}
	if (type != SLABD_MSG_ATTACH || nfds != 3) {
		close_fds(fds, nfds);
		client_set_error("slabd answered the attach request with message type %d and %d descriptors", type,
				 nfds);
		return -EBADMSG;
	}
	if (reattach) {
		/* A fork()ed child: it maps the region already, it only needs its own identity. */
		r = rep.a.region_id == c->region_id ? 0 : -ESTALE;
		if (r)
			client_set_error("slabd now serves another region (it was restarted without its files); "
					 "objects of the old region stay usable, new ones cannot be shared with it");
	} else {
		r = map_region(&rep.a, fds);
	}
	close_fds(fds, 3);
	if (r == 0) {
		c->client_id = rep.a.client_id;
		c->client_slot = rep.a.client_slot < SLABD_MAX_CLIENTS ? rep.a.client_slot : UINT32_MAX;
	}
	return r;
}

/* The socket path to use into @out (@len bytes): @path, else $SLABD_SOCKET, else the
 * default. 0, or -ENAMETOOLONG (@out untouched) for a path a Unix socket address cannot
 * hold: cut short, it would name another socket, maybe another daemon's. */
static int resolve_path(const char *path, char *out, size_t len)
{
	if (!path || !*path)
		path = getenv("SLABD_SOCKET");
	if (!path || !*path)
		path = SLABD_DEFAULT_SOCKET;
	if (strlen(path) >= len) {
		client_set_error("socket path '%s' is longer than %zu bytes, the most a Unix socket address "
				 "holds; use a shorter path (a symlink to the socket will do)",
				 path, len - 1);
		return -ENAMETOOLONG;
	}
	memcpy(out, path, strlen(path) + 1);
	return 0;
}

static int attach_locked(const char *path, int may_block)
{
	struct client *c = &slabd_client;
	int fd, r;

	if (c->sock >= 0 && c->pid == getpid())
		return 0;
	if (path || !c->socket_path[0]) {
		r = resolve_path(path, c->socket_path, sizeof(c->socket_path));
		if (r < 0)
			return r;
	}
	fd = sock_connect(c->socket_path, may_block);
	if (fd < 0)
		return fd;
	/* GFP_ATOMIC/NOWAIT: a stopped or busy daemon must not hold us for long */
	r = hello(fd, c->base != NULL, may_block);
	if (r < 0) {
		close(fd);
		return r == -ETIMEDOUT ? -EAGAIN : r;
	}
	c->sock = fd;
	c->pid = getpid();
	c->abandoned = 0;
	return 0;
}

int client_attach(int may_block)
{
	struct client *c = &slabd_client;
	int r;

	if (may_block)
		pthread_mutex_lock(&c->lock);
	else if (pthread_mutex_trylock(&c->lock))
		return -EAGAIN;
	r = attach_locked(NULL, may_block);
	pthread_mutex_unlock(&c->lock);
	return r;
}

int slabd_connect(const char *socket_path)
{
	struct client *c = &slabd_client;
	int r;

	pthread_mutex_lock(&c->lock);
	r = attach_locked(socket_path, 1);
	pthread_mutex_unlock(&c->lock);
	if (r == 0 && client_rseq_ready() < 0)
		client_set_error("attached, but restartable sequences are not available to this thread "
				 "(kernel >= 4.18 needed; valgrind does not support them): allocation uses "
				 "the slower depot path");
	return r;
}

void slabd_disconnect(void)
{
	struct client *c = &slabd_client;

	pthread_mutex_lock(&c->lock);
	/* Late answers to requests given up on carry memory: take them, briefly; what comes
	 * after the hangup the daemon cannot deliver and gives back itself. */
	drain_stale_locked(NOWAIT_REPLY_MS);
	if (c->sock >= 0)
		close(c->sock);
	c->sock = -1;
	c->abandoned = 0;
	/* The daemon takes the hangup for the end of this registration (owner tracking gives
	 * back what it owned, whenever the daemon gets to it): what this process allocates
	 * from now on is nobody's until it registers again, not the old id's. */
	c->client_id = 0;
	c->client_slot = UINT32_MAX;
	pthread_mutex_unlock(&c->lock);
}

int slabd_attach_info(struct slabd_attach_info *ret_info)
{
	struct client *c = &slabd_client;

	if (!c->base)
		return -ENOTCONN;
	memset(ret_info, 0, sizeof(*ret_info));
	ret_info->base = (uint64_t)(uintptr_t)c->base;
	ret_info->daemon_base = c->daemon_base;
	ret_info->size = c->region_size;
	ret_info->nr_cpus = c->sb->nr_cpus;
	ret_info->nr_nodes = c->sb->nr_nodes;
	ret_info->backing = c->sb->backing;
	ret_info->client_id = c->client_id;
	ret_info->at_daemon_base = (uint64_t)(uintptr_t)c->base == c->daemon_base;
	ret_info->rseq_by_library = c->own_rseq;
	ret_info->fast_path = client_rseq_ready() == 0;
	return 0;
}

/* The daemon is away: stopped, killed or restarting (no socket file, nobody listening,
 * or the connection hung up). */
static int daemon_away(int r)
{
	return r == -ECONNREFUSED || r == -ENOENT || r == -ECONNRESET || r == -EPIPE;
}

/* How long a request that may sleep waits for an away daemon to come back:
 * $SLABD_DAEMON_WAIT_MS (-1: for ever), else 60 s. */
static long daemon_wait_ms(void)
{
	const char *e = getenv("SLABD_DAEMON_WAIT_MS");
	return e && *e ? strtol(e, NULL, 10) : 60000;
}

/* One request and its reply under the socket lock, connecting first if needed. A mapped
 * client whose daemon is away waits for it (@may_wait) and re-registers with the daemon
 * that comes back on the same socket path and region (a restart on region_dir): the
 * request is sent again. Without @may_wait it fails at once, and a daemon that is there
 * but does not answer (stopped, busy) is waited for NOWAIT_REPLY_MS for the attach and
 * as long for the reply: then -ETIMEDOUT, the request counts as given up on
 * (client.abandoned) and its late reply is skipped and given back by whoever reads the
 * socket next. While one is outstanding, a caller that may not sleep fails at once
 * (-EAGAIN) rather than queue more requests to a daemon that does not answer. */
static int request_locked(struct slabd_wire_hdr *req, uint16_t want, void *rep, size_t rep_len,
			  int may_wait)
{
	struct client *c = &slabd_client;
	union {
		struct slabd_wire_error e;
		char raw[SLABD_WIRE_MAX];
	} buf;
	int fds[1], nfds, type, r;
	long limit = -2, waited = 0;

	for (;;) {
		uint32_t epoch =
		    c->ctl ? __atomic_load_n(&c->ctl->daemon_epoch, __ATOMIC_ACQUIRE) : 0;

		r = attach_locked(NULL, may_wait);
		if (r == 0 && !may_wait && c->abandoned) {
			drain_stale_locked(0);
			if (c->abandoned) {
				set_error_parts("slabd at ", c->socket_path,
						" has not answered an earlier request yet (stopped or busy): a "
						"caller that may not sleep does not wait for it");
				return -EAGAIN;
			}
			r = c->sock >= 0 ? 0 : attach_locked(NULL, 0);
		}
		if (r == 0) {
			req->seq = ++c->seq;
			type = sock_call(c->sock, req, req->len, &buf, sizeof(buf), fds, 1, &nfds,
					 may_wait ? -1 : NOWAIT_REPLY_MS);
			close_fds(fds, nfds);
			if (type == -ECONNRESET || type == -EPIPE) {
				close(c->sock);
				c->sock = -1;
			}
			if (type == -ETIMEDOUT)
				c->abandoned++;
			r = type;
		}
		if (!(may_wait && c->ctl && daemon_away(r)))
			break;
		if (limit == -2)
			limit = daemon_wait_ms();
		if (limit >= 0 && waited >= limit)
			break;
		/* a restarted daemon bumps daemon_epoch once it serves */
		slabd_futex_wait(&c->ctl->daemon_epoch, epoch, 100);
		waited += 100;
	}
	if (r < 0) {
		if (daemon_away(r) && c->ctl)
			client_set_error("slabd is away (%s) and did not come back%s", strerror(-r),
					 may_wait ? " in time ($SLABD_DAEMON_WAIT_MS)" : "");
		return r;
	}
	type = r;
	if (type != want || ((struct slabd_wire_hdr *)&buf)->seq != c->seq)
		return -EBADMSG;
	memcpy(rep, &buf, rep_len);
	return 0;
}

int client_request(struct slabd_wire_hdr *req, uint16_t want, void *rep, size_t rep_len)
{
	struct client *c = &slabd_client;
	int r;

	pthread_mutex_lock(&c->lock);
	r = request_locked(req, want, rep, rep_len, 1);
	pthread_mutex_unlock(&c->lock);
	return r;
}

int64_t client_large_alloc(uint64_t size, uint32_t gfp, int node)
{
	struct client *c = &slabd_client;
	struct slabd_wire_large_alloc req;
	struct slabd_wire_large_reply rep;
	int64_t r;

	if (gfp & __GFP_DIRECT_RECLAIM) {
		pthread_mutex_lock(&c->lock);
	} else if (pthread_mutex_trylock(&c->lock)) {
		set_error_parts("another thread of this process is talking to slabd at ", c->socket_path,
				": a caller that may not sleep does not wait for it");
		return -EAGAIN;
	}
	slabd_wire_init(&req.hdr, SLABD_MSG_LARGE_ALLOC, sizeof(req), 0);
	req.size = size;
	req.gfp = gfp;
	req.node = node;
	r = request_locked(&req.hdr, SLABD_MSG_LARGE_REPLY, &rep, sizeof(rep),
			   !!(gfp & __GFP_DIRECT_RECLAIM));
	if (r == 0 && rep.err < 0)
		r = rep.err;
	else if (r == 0 && (rep.off < c->sb->zones_off || rep.off + size > c->region_size))
		r = -EBADMSG;
	else if (r == 0)
		r = (int64_t)rep.off;
	else if (r == -ETIMEDOUT)
		r = -EAGAIN; /* the caller's ENOMEM, as for a busy lock */
	pthread_mutex_unlock(&c->lock);
	return r;
}
