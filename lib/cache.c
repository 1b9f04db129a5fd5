/* SPDX-License-Identifier: MIT */
/*
 * cache.c - named caches (kmem_cache_*) and bulk operations in libslabclient.
 *
 * A struct kmem_cache is this process's handle on a cache id; handles live in a static
 * table indexed by id, so every process's handle for "foo" names the same shared cache
 * and a handle never dangles. Creating, destroying and shrinking are requests to the
 * daemon (client.c's socket, under client.lock); lookup reads the read-only cache table.
 * Allocation and free go through the same per-CPU stacks as kmalloc (alloc.c); the bulk
 * calls move up to 64 objects per restartable sequence.
 *
 * Ids are reused: a cache destroyed by any process leaves its id to the next cache
 * created. A handle therefore remembers the id's generation (slabd_shm_cache.gen, bumped
 * by the daemon when a destroy goes ahead) from its last create or lookup here, and every
 * call into this file compares it with the table's. Handle states:
 *
 *   not handed out: id 0, stacks = cache 0's (capacity 0: every inline pop and push
 *                   misses, and the library refuses id 0: no active cache)
 *   live:           id, gen == caches[id].gen, stacks = the id's
 *   stale:          gen != caches[id].gen: the cache it named was destroyed; the first
 *                   call here clears it (stacks = cache 0's again) and fails with EINVAL
 *   cleared:        stale, stacks = cache 0's: the inline paths miss into here
 *
 * create or lookup of a cache that gets the id makes the handle live again, with the new
 * gen (the same pointer then names the new cache, in this process only). The inline code
 * of <slabd/fast.h> reads id and stacks, never gen: a stale handle not cleared yet pushes
 * and pops the id's stacks, which the destroy left empty, so its first inline allocation
 * misses into here; only a handle used for nothing between the destroy and a new cache
 * filling the id's stacks can pop such objects (the caller's use after destroy, as in the
 * kernel; see docs/design.md).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <slabd/slabd.h>

#include "client.h"
#include "percpu.h"
#include "slabd_wire.h"

#define cl slabd_client

/* The layout <slabd/fast.h> reads (struct slabd_fast_handle): the id, then this cache's
 * per-CPU stacks, so the inline kmem_cache_alloc needs no multiply. gen is the fast
 * handle's reserved word, which the inline code never reads. */
struct kmem_cache {
	uint32_t id;
	uint32_t gen; /* caches[id].gen at this process's last create or lookup of the id */
	char *stacks; /* the id's per-CPU stacks; cache 0's when cleared or not handed out */
};

static struct kmem_cache handles[SLABD_MAX_CACHES];

/* The handle of cache @id, made under generation @gen (read before the caller saw the
 * cache ACTIVE: a cache destroyed and made anew in between leaves the handle with the old
 * gen, which its next call refuses, never the new cache's gen for the old one). Written
 * only when it changes (its first create or lookup here, after a destroy, or after an
 * attach at another address): other threads may be reading it in their fast paths at
 * this moment, for instance after their own create of the same name (a plain rewrite of
 * the same value was a data race, found by ThreadSanitizer). Writers that race store the
 * same values, atomically, so no lock is needed: a lock here was a second library lock
 * that a fork() could leave held in the child by a thread it does not have. */
static struct kmem_cache *handle_of(uint32_t id, uint32_t gen)
{
	struct kmem_cache *h = &handles[id];
	char *stacks = cl.pcpu + (uint64_t)id * cl.cache_stride;

	if (__atomic_load_n(&h->id, __ATOMIC_ACQUIRE) != id ||
	    __atomic_load_n(&h->gen, __ATOMIC_RELAXED) != gen ||
	    __atomic_load_n(&h->stacks, __ATOMIC_RELAXED) != stacks) {
		__atomic_store_n(&h->gen, gen, __ATOMIC_RELAXED);
		__atomic_store_n(&h->stacks, stacks, __ATOMIC_RELAXED);
		__atomic_store_n(&h->id, id, __ATOMIC_RELEASE);
	}
	return h;
}

const char *cache_handles(void)
{
	uint32_t i;

	_Static_assert(
	    sizeof(struct kmem_cache) == sizeof(struct slabd_fast_handle) &&
		offsetof(struct kmem_cache, id) == offsetof(struct slabd_fast_handle, id) &&
		offsetof(struct kmem_cache, gen) == offsetof(struct slabd_fast_handle, reserved) &&
		offsetof(struct kmem_cache, stacks) == offsetof(struct slabd_fast_handle, stacks),
	    "<slabd/fast.h> reads handles as struct slabd_fast_handle");
	_Static_assert(sizeof(handles) == SLABD_FAST_HANDLES_SIZE, "<slabd/fast.h> knows the table's size");
	/* Entries not handed out yet point at cache 0's stacks, which never hold anything. */
	for (i = 0; i < SLABD_MAX_CACHES; i++)
		if (!handles[i].id)
			handles[i].stacks = cl.pcpu;
	return (const char *)handles;
}

static int valid(const struct kmem_cache *s)
{
	return s && s >= handles && s < handles + SLABD_MAX_CACHES && cl.sb && s->id < cl.sb->max_caches;
}

/* A handle of this process's table: its id was set by create or lookup. */
static inline int handle_ok(const struct kmem_cache *s)
{
	return (uintptr_t)s - (uintptr_t)handles < sizeof(handles) && s->id;
}

/* Whether handle @s (valid, or handle_ok) still names the cache it was made for: no
 * destroy of its id went ahead since (in this process or another). */
static inline int handle_live(const struct kmem_cache *s)
{
	return __atomic_load_n(&cl.caches[s->id].gen, __ATOMIC_ACQUIRE) ==
	       __atomic_load_n(&s->gen, __ATOMIC_RELAXED);
}

/* Make handle @s miss inline: cache 0's stacks, empty and of capacity 0, so that the inline
 * pop and push of <slabd/fast.h> (which read stacks without a check) fail and call the
 * library; never NULL (the inline code would dereference it). The id's own stacks belong
 * to whatever cache is created with it next. (A create or lookup of the id by another
 * thread at this moment may find its handle cleared again: its calls then go to the
 * library, which serves them, the gen being right, until the next create or lookup.) */
static void handle_clear(const struct kmem_cache *s)
{
	__atomic_store_n(&handles[s - handles].stacks, cl.pcpu, __ATOMIC_RELAXED);
}

/* Handle @s (valid) is stale: clear it and say why; -EINVAL. */
static noinline cold int handle_stale(const struct kmem_cache *s, const char *what)
{
	handle_clear(s);
	client_set_error(
	    "%s: the cache this handle named (id %u) was destroyed; a handle names a cache "
	    "again after kmem_cache_create or kmem_cache_lookup",
	    what, s->id);
	return -EINVAL;
}

/* 0 if @s is a live handle; -EINVAL for anything else (a stale one is cleared). */
static inline int handle_check(const struct kmem_cache *s, const char *what)
{
	if (unlikely(!valid(s)))
		return -EINVAL;
	if (unlikely(!handle_live(s)))
		return handle_stale(s, what);
	return 0;
}

/* After a slow path got @n objects for @s: if its cache was destroyed meanwhile (the id
 * may hold another cache by now, whose objects these may be), they go back through kfree,
 * which finds each one's cache by its page descriptor. 0, or -EINVAL when they went. */
static int handle_recheck(const struct kmem_cache *s, void **objs, size_t n, const char *what, const void *caller)
{
	size_t i;

	if (likely(handle_live(s)))
		return 0;
	for (i = 0; i < n; i++)
		client_kfree_at(objs[i], caller);
	return handle_stale(s, what);
}

static int attached(void)
{
	if (__atomic_load_n(&cl.ncpus, __ATOMIC_ACQUIRE))
		return 0;
	return client_attach(1);
}

struct kmem_cache *slabd_kmem_cache_create(const char *name, unsigned int size, unsigned int align,
					   slab_flags_t flags, void (*ctor)(void *))
{
	struct slabd_wire_cache_create req;
	struct slabd_wire_cache_reply rep;
	uint32_t gen = 0;
	int r;

	if (ctor) {
		client_set_error("kmem_cache_create(%s): constructors are not supported: an object may be "
				 "reused by any process, and no other process can run this one's ctor",
				 name ? name : "");
		errno = EINVAL;
		return NULL;
	}
	if (!name || !*name || strlen(name) >= sizeof(req.name) || !size ||
	    (flags & ~(slab_flags_t)(SLAB_HWCACHE_ALIGN | SLAB_CACHE_DMA | SLAB_POISON | SLAB_RED_ZONE |
				      SLAB_STORE_USER)) ||
	    (align & (align - 1))) {
		client_set_error("kmem_cache_create: a name of 1..%zu bytes, a size, a power-of-two alignment "
				 "and only SLAB_HWCACHE_ALIGN, SLAB_CACHE_DMA, SLAB_POISON, SLAB_RED_ZONE and "
				 "SLAB_STORE_USER among the flags are supported",
				 sizeof(req.name) - 1);
		errno = EINVAL;
		return NULL;
	}
	r = attached();
	if (r < 0) {
		errno = ENOTCONN;
		return NULL;
	}
	if (size > cl.max_cache_size) {
		client_set_error("kmem_cache_create(%s): objects of %u bytes exceed the daemon's max_cache_size %u",
				 name, size, cl.max_cache_size);
		errno = EINVAL;
		return NULL;
	}
	slabd_wire_init(&req.hdr, SLABD_MSG_CACHE_CREATE, sizeof(req), 0);
	strcpy(req.name, name);
	req.size = size;
	req.align = align;
	req.flags = flags;
	r = client_request(&req.hdr, SLABD_MSG_CACHE_REPLY, &rep, sizeof(rep));
	if (r == 0)
		r = rep.err;
	if (r == 0 && rep.cache >= cl.sb->max_caches)
		r = -EBADMSG;
	if (r == 0) {
		gen = __atomic_load_n(&cl.caches[rep.cache].gen, __ATOMIC_ACQUIRE);
		if (__atomic_load_n(&cl.caches[rep.cache].state, __ATOMIC_ACQUIRE) !=
		    SLABD_CACHE_ACTIVE)
			r = -EBADMSG;
	}
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	return handle_of(rep.cache, gen);
}

struct kmem_cache *slabd_kmem_cache_lookup(const char *name)
{
	uint32_t id;

	if (!name || attached() < 0) {
		errno = name ? ENOTCONN : EINVAL;
		return NULL;
	}
	for (id = 1; id < cl.sb->max_caches; id++) {
		const struct slabd_shm_cache *c = &cl.caches[id];
		uint32_t gen = __atomic_load_n(&c->gen, __ATOMIC_ACQUIRE); /* before the state */

		if (__atomic_load_n(&c->state, __ATOMIC_ACQUIRE) == SLABD_CACHE_ACTIVE &&
		    !strncmp(c->name, name, sizeof(c->name)))
			return handle_of(id, gen);
	}
	errno = ENOENT;
	return NULL;
}

unsigned int slabd_kmem_cache_size(const struct kmem_cache *s)
{
	const struct slabd_shm_cache *c;

	if (handle_check(s, "kmem_cache_size") < 0)
		return 0;
	/* as ksize(): with a debug trailer only the object, the red zone and owner record
	 * follow it in the stride */
	c = &cl.caches[s->id];
	return c->trailer ? c->obj_size : c->size;
}

/* handle_alloc's ways out when @s is no live handle, or stopped being one while the
 * object @p was taken (NULL: none): errno EINVAL, NULL. */
static noinline cold void *handle_alloc_refused(struct kmem_cache *s, void *p, const char *what)
{
	if (p && handle_recheck(s, &p, 1, what, NULL) == 0)
		return p; /* (not reached: the caller saw another gen) */
	if (!p)
		(void)handle_check(s, what); /* a stale one is cleared and said so */
	errno = EINVAL;
	return NULL;
}

/* The inline kmem_cache_alloc's miss, and every call without it: a stale handle fails
 * with EINVAL (and is cleared) before it can take an object of the id's next cache, and
 * an object taken while its cache went (the allocation may have slept) goes back. The
 * checks are handle_ok's and the gen's, a few loads: this is also SLABD_NO_INLINE's
 * every allocation. @caller: the public call's return address (SLAB_STORE_USER), for the
 * allocation only (kept alive across the call, it cost the path a saved register). */
static inline __attribute__((always_inline)) void *handle_alloc(struct kmem_cache *s, gfp_t flags,
								int node, const char *what, const void *caller)
{
	void *p;

	if (unlikely(!handle_ok(s) || !handle_live(s)))
		return handle_alloc_refused(s, NULL, what);
	p = client_cache_alloc_at(s->id, flags, node, caller);
	if (unlikely(!handle_live(s)) && p)
		return handle_alloc_refused(s, p, what);
	if (p && (flags & __GFP_ZERO))
		memset(p, 0, slabd_ksize(p));
	return p;
}

void *slabd_kmem_cache_alloc(struct kmem_cache *s, gfp_t flags)
{
	return handle_alloc(s, flags, -1, "kmem_cache_alloc", __builtin_return_address(0));
}

void *slabd_kmem_cache_alloc_node(struct kmem_cache *s, gfp_t flags, int node)
{
	return handle_alloc(s, flags, node, "kmem_cache_alloc_node", __builtin_return_address(0));
}

/* The object goes where its page descriptor says, whatever @s: through a stale handle
 * too (no object of a destroyed cache is out: its destroy was refused otherwise; so this
 * is an object of another cache, freed with the wrong handle, and kfree puts it on its
 * own cache's stack, never on the stack of the cache that now has the handle's id). A
 * stale handle is cleared so that its inline path misses from now on. */
void slabd_kmem_cache_free(struct kmem_cache *s, void *obj)
{
	if (handle_ok(s) && unlikely(!handle_live(s)))
		handle_clear(s);
	client_kfree_at(obj, __builtin_return_address(0));
}

static void free_bulk_slow(struct kmem_cache *s, size_t n, void **p, size_t done, const void *caller);

/* alloc_bulk_slow: @got objects are in p[] already; get the rest, or give all back.
 * @caller: the public call's return address. */
static noinline cold int alloc_bulk_slow(struct kmem_cache *s, gfp_t flags, size_t n, void **p, size_t got,
					 const void *caller)
{
	size_t i;
	int r = handle_check(s, "kmem_cache_alloc_bulk");

	if (r < 0) {
		/* the first try took objects under a gen that moved on since: kfree's */
		for (i = 0; i < got; i++)
			client_kfree_at(p[i], caller);
		errno = -r;
		return 0;
	}
	while (got < n) {
		got += percpu_pop_bulk_delta(cl.roff, cl.ncpus, cl.pcpu + s->id * cl.cache_stride,
					     (uint64_t *)(p + got), n - got, (uint64_t)(uintptr_t)cl.base);
		if (got == n)
			break;
		/* This CPU's stack is empty: the slow path refills it (and may sleep). */
		p[got] = client_cache_alloc_at(s->id, flags, -1, caller);
		if (!p[got]) {
			free_bulk_slow(s, got, p, 0, caller); /* all or nothing */
			/* the cache went while we slept (EINVAL, as a single allocation) */
			errno = handle_live(s) ? ENOMEM : -handle_stale(s, "kmem_cache_alloc_bulk");
			return 0;
		}
		got++;
	}
	if (handle_recheck(s, p, n, "kmem_cache_alloc_bulk", caller) < 0) {
		errno = EINVAL;
		return 0;
	}
	if (flags & __GFP_ZERO)
		for (i = 0; i < n; i++)
			memset(p[i], 0, slabd_ksize(p[i]));
	return (int)n;
}

int slabd_kmem_cache_alloc_bulk(struct kmem_cache *s, gfp_t flags, size_t n, void **p)
{
	size_t got = 0;

	_Static_assert(sizeof(void *) == sizeof(uint64_t), "pointers are converted in place");
	/* First try: all @n from this CPU's stack in one sequence. */
	if (likely(handle_ok(s) && handle_live(s) && !(flags & __GFP_ZERO)))
		got = percpu_pop_bulk_delta(cl.roff, cl.ncpus, cl.pcpu + s->id * cl.cache_stride, (uint64_t *)p, n,
					    (uint64_t)(uintptr_t)cl.base);
	if (likely(got == n))
		return (int)n;
	return alloc_bulk_slow(s, flags, n, p, got, __builtin_return_address(0));
}

/* free_bulk_slow: p[0..done) are freed already. */
static noinline cold void free_bulk_slow(struct kmem_cache *s, size_t n, void **p, size_t done, const void *caller)
{
	int stale = valid(s) && !handle_live(s);

	if (stale)
		handle_clear(s); /* as slabd_kmem_cache_free: kfree finds each object's cache */
	if (!valid(s) || stale || cl.multi_node) {
		/* remote objects must go home one by one: kfree sorts them out */
		while (done < n)
			client_kfree_at(p[done++], caller);
		return;
	}
	while (done < n) {
		unsigned int k = percpu_push_bulk_delta(cl.roff, cl.ncpus, cl.pcpu + s->id * cl.cache_stride,
							(const uint64_t *)(p + done), n - done,
							(uint64_t)(uintptr_t)cl.base);
		done += k;
		if (!k) /* full (or no rseq): one through kfree's slow path makes room */
			client_kfree_at(p[done++], caller);
	}
}

void slabd_kmem_cache_free_bulk(struct kmem_cache *s, size_t n, void **p)
{
	size_t done = 0;

	/* First try: all @n onto this CPU's stack in one sequence. */
	if (likely(handle_ok(s) && handle_live(s) && !cl.multi_node))
		done = percpu_push_bulk_delta(cl.roff, cl.ncpus, cl.pcpu + s->id * cl.cache_stride,
					      (const uint64_t *)p, n, (uint64_t)(uintptr_t)cl.base);
	if (likely(done == n))
		return;
	free_bulk_slow(s, n, p, done, __builtin_return_address(0));
}

/* 0 or -errno; *ret_refused is set when the daemon answered with a refusal (the errno
 * is its reply's, and no message was set yet), not on a failure to ask. A stale handle,
 * seen here or by the daemon (-ESTALE: the id's gen moved on after this check), is
 * cleared and gives -EINVAL with its message set, not a refusal. */
static int cache_op(struct kmem_cache *s, uint32_t op, uint64_t *ret_count, int *ret_refused)
{
	const char *what =
	    op == SLABD_CACHE_OP_DESTROY ? "kmem_cache_destroy" : "kmem_cache_shrink";
	struct slabd_wire_cache_op req;
	struct slabd_wire_cache_reply rep;
	int r;

	*ret_refused = 0;
	if (!valid(s)) {
		client_set_error("not a kmem_cache handle");
		return -EINVAL;
	}
	if (!handle_live(s)) /* never destroy or shrink the cache that has the id now */
		return handle_stale(s, what);
	slabd_wire_init(&req.hdr, SLABD_MSG_CACHE_OP, sizeof(req), 0);
	req.op = op;
	req.cache = s->id;
	/* The daemon checks it too: a destroy of the id by another process after the check
	 * above is answered -ESTALE, and the cache that has the id now is not touched. */
	req.gen = __atomic_load_n(&s->gen, __ATOMIC_RELAXED);
	r = client_request(&req.hdr, SLABD_MSG_CACHE_REPLY, &rep, sizeof(rep));
	if (r == 0 && rep.err == -ESTALE)
		return handle_stale(s, what);
	if (r == 0) {
		r = rep.err;
		*ret_count = rep.count;
		*ret_refused = r < 0;
	}
	return r;
}

int slabd_kmem_cache_shrink(struct kmem_cache *s)
{
	uint64_t bytes = 0;
	int refused, r = cache_op(s, SLABD_CACHE_OP_SHRINK, &bytes, &refused);

	if (refused)
		client_set_error("kmem_cache_shrink: slabd refused: %s (the cache is gone?)", strerror(-r));
	return r;
}

void slabd_kmem_cache_destroy(struct kmem_cache *s)
{
	uint64_t live = 0;
	int r, refused;

	if (!s)
		return;
	r = cache_op(s, SLABD_CACHE_OP_DESTROY, &live, &refused);
	/* Every refusal replaces the message: a caller that finds errno set reads
	 * slabd_last_error(), and an older failure's text there would explain the wrong
	 * thing. A failure to ask (or an ERROR from the daemon) was described already. */
	if (refused) {
		const char *name = cl.caches[s->id].name;
		int len = (int)sizeof(cl.caches[s->id].name);

		if (r == -EBUSY)
			client_set_error("kmem_cache_destroy(%.*s): %llu objects are still allocated; the "
					 "cache stays",
					 len, name, (unsigned long long)live);
		else if (r == -EPERM && s->id < SLABD_FIRST_NAMED_CACHE)
			client_set_error("kmem_cache_destroy(%.*s): a built-in kmalloc cache belongs to the "
					 "daemon and is never destroyed",
					 len, name);
		else if (r == -EPERM)
			client_set_error(
			    "kmem_cache_destroy(%.*s): the cache of a slabd_pktpool; a pool "
			    "goes with slabd_pktpool_free, once all its buffers are back",
			    len, name);
		else
			client_set_error("kmem_cache_destroy(%.*s): slabd refused: %s (the cache is gone?)",
					 len, name, strerror(-r));
	}
	if (r < 0)
		errno = -r;
	else
		handle_clear(s); /* its inline path misses into the library, which says EINVAL */
}
