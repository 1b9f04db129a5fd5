/* SPDX-License-Identifier: MIT */
/*
 * alloc.c - kmalloc and kfree in libslabclient: the per-CPU fast path and its slow paths.
 *
 * Where a free object can be, from the client's point of view (counts per cache and
 * node):  objects = in per-CPU caches + in magazines (depot full/reserve stacks or held
 *         by a thread mid-exchange) + on the depot's freelist + held by the daemon in
 *         its slabs + allocated.
 *
 * Fast path: one restartable sequence on the current CPU's array stack (percpu.h).
 * Miss on allocation: pop a full magazine from the depot of the CPU's node (one CAS),
 *   keep one object, move what fits into the per-CPU stack (one sequence), push the
 *   magazine back (full with the rest, or empty).
 * Miss on free (per-CPU stack full): take up to a magazine's worth out of the per-CPU
 *   stack (one sequence), put them in an empty magazine and push it on the depot (one CAS
 *   each); without an empty magazine, link them into a chain and push it on the depot's
 *   freelist (one CAS). Objects of another node's zone go straight to that node's depot.
 * Depot dry: raise depot->want and kick the daemon; GFP_ATOMIC may pop the emergency
 *   reserve; without __GFP_DIRECT_RECLAIM return NULL/ENOMEM; otherwise sleep on
 *   depot->seq until the daemon refilled (with __GFP_NORETRY: for two rounds at most).
 *
 * No path here takes a lock except the large-allocation request (client.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include <slabd/slabd.h>

#include "client.h"
#include "divtest.h"
#include "magcheck.h"
#include "percpu.h"
#include "slabd_ops.h"

#define cl slabd_client

#ifdef SLABD_RSEQ_INJECT
volatile unsigned int slabd_rseq_inject_loops SLABD_HIDDEN;
unsigned long slabd_rseq_inject_aborts SLABD_HIDDEN;
#endif

/* Cache index of sizes 1..1024 in steps of 8: kmalloc_index() without branches for the
 * common sizes; filled from kmalloc_index() itself at load time. */
uint8_t slabd_small_index[128] SLABD_HIDDEN; /* also read by the inline path (slabd_fast_v2) */

__attribute__((constructor)) static void small_index_init(void)
{
	unsigned int i;
	for (i = 0; i < 128; i++)
		slabd_small_index[i] = (uint8_t)kmalloc_index((size_t)i * 8 + 8);
}

static void remote_flush(uint64_t off);

/* A miss on this CPU: first send home what its remote-free stack holds. */
static void remote_flush_if_any(void)
{
	int cpu = percpu_current_cpu(cl.roff);

	if (cpu >= 0 && (uint32_t)cpu < cl.ncpus &&
	    __atomic_load_n(&((struct slabd_shm_pcpu *)(cl.remote + ((uint64_t)cpu << SLABD_PCPU_SHIFT)))->count,
			    __ATOMIC_RELAXED))
		remote_flush(0);
}

static inline unsigned int size_index(size_t size)
{
	if (likely(size <= 1024))
		return slabd_small_index[(size - 1) >> 3];
	return 64u - (unsigned int)__builtin_clzl(size - 1);
}

static inline char *cache_pcpu(uint32_t cache)
{
	return cl.pcpu + cache * cl.cache_stride;
}

static int current_node(void)
{
	int cpu = percpu_current_cpu(cl.roff);
	if (cpu < 0 || (uint32_t)cpu >= cl.ncpus)
		return 0;
	return cl.cpus[cpu].node;
}

static int node_index_of(int os_node)
{
	uint32_t i;
	for (i = 0; i < cl.sb->nr_nodes; i++)
		if ((int)cl.nodes[i].os_index == os_node)
			return (int)i;
	return -1;
}

/* Whether @off names an object of @cache: magazines are written by other processes, so
 * their contents are checked once here, on the slow path, before they can reach a
 * per-CPU stack (one misbehaving client must not hand garbage pointers to the rest). A
 * multiple of the size past the slab's last object is no object (its bytes would run
 * into the next page). */
static int obj_valid(uint32_t cache, uint64_t off)
{
	uint64_t zoff = off - cl.sb->zones_off, size, rel;
	const struct slabd_shm_page *pg;

	if (off < cl.sb->zones_off || zoff >= cl.zones_size)
		return 0;
	pg = &cl.pages[zoff >> SLABD_PAGE_SHIFT];
	if (pg->kind != SLABD_PAGE_SLAB || pg->cache != cache || pg->head >= cl.sb->nr_pages)
		return 0;
	size = cl.caches[cache].size;
	rel = zoff - ((uint64_t)pg->head << SLABD_PAGE_SHIFT);
	return size && rel % size == 0 && rel / size < cl.caches[cache].objs_per_slab;
}

/* Drop the entries of a magazine we own that are not objects of @cache; returns how
 * many are left.
 *
 * obj_valid() for each entry, with what it reads once per magazine: one compare for the
 * zone range (an offset below the zones wraps above their size), the page descriptor's
 * kind and cache in one 64-bit load and compare (kind in byte 0, cache in bytes 2-3, the
 * slab's first page in bytes 4-7), and the object-boundary test without a division: a
 * mask for a power-of-two size, a multiply by the inverse otherwise (divtest.h). The slab's
 * first page comes from the page table, which clients cannot write (meta segment), and is
 * used in arithmetic only, never to index memory. With AVX2, a power-of-two size up to a
 * page first goes through magcheck.h's pass, which only answers whether all pass (the
 * usual case) and leaves the magazine untouched; the filter runs when one does not. */
_Static_assert(offsetof(struct slabd_shm_page, kind) == 0 &&
		   offsetof(struct slabd_shm_page, cache) == 2 &&
		   offsetof(struct slabd_shm_page, head) == 4 && sizeof(struct slabd_shm_page) == 8,
	       "mag_check reads a page descriptor as one word");

enum mag_check_mode {
	CHECK_POW2_PAGE, /* a power-of-two size up to a page: the offset in the zones decides */
	CHECK_POW2,      /* a larger power of two: the offset in the slab, masked */
	CHECK_DIV,       /* any other size: the offset in the slab, by divtest */
};

/* The loop of mag_check for one @mode (a constant at each call, so each gets its own
 * loop without a per-entry branch on it). */
static inline __attribute__((always_inline)) uint32_t mag_filter(struct slabd_shm_mag *m, uint32_t n,
								 enum mag_check_mode mode, uint64_t want,
								 uint64_t size, const struct divtest *dt, uint64_t used)
{
	uint64_t zones_off = cl.sb->zones_off, zones_size = cl.zones_size, w, off, zoff, rel;
	const char *pages = (const char *)cl.pages;
	uint32_t i, k = 0;

	for (i = 0; i < n; i++) {
		off = m->objs[i];
		zoff = off - zones_off;
		if (zoff >= zones_size)
			continue;
		__builtin_memcpy(&w, pages + (zoff >> SLABD_PAGE_SHIFT) * 8, 8);
		if (mode == CHECK_POW2_PAGE) {
			/* slabs start on a page, so an object's offset in its slab is a multiple
			 * of the size iff its offset in the zones is (zones_off is page-aligned
			 * too); one branch for both tests */
			if (((w & MAGCHECK_WORD_MASK) ^ want) | (zoff & (size - 1)))
				continue;
		} else {
			rel = zoff - ((w >> 32) << SLABD_PAGE_SHIFT);
			/* CHECK_DIV: a stride that is no power of two leaves a slab's end unused, a
			 * multiple of it there is no object (it would run into the next slab) */
			if ((w & MAGCHECK_WORD_MASK) != want ||
			    (mode == CHECK_POW2 ? (rel & (size - 1)) != 0 : rel >= used || !divtest_multiple(dt, rel)))
				continue;
		}
		m->objs[k++] = off;
	}
	return k;
}

#ifdef SLABD_HAVE_MAGCHECK_AVX2
static int have_avx2;

__attribute__((constructor)) static void mag_check_init(void)
{
	__builtin_cpu_init();
	have_avx2 = __builtin_cpu_supports("avx2");
}
#endif

static uint32_t mag_check(struct slabd_shm_mag *m, uint32_t cache)
{
	uint64_t size = cl.caches[cache].size;
	uint64_t want = SLABD_PAGE_SLAB | ((uint64_t)cache << 16);
	uint32_t n = m->count, k;
	struct divtest dt;

	if (n > SLABD_MAG_SLOTS || !size) {
		slabd_mag_set_count(m, 0);
		return 0;
	}
	if (!(size & (size - 1)) && size <= SLABD_PAGE_SIZE) {
#ifdef SLABD_HAVE_MAGCHECK_AVX2
		if (have_avx2 && !(cl.zones_size & (SLABD_PAGE_SIZE - 1)) &&
		    cl.zones_size >> SLABD_PAGE_SHIFT < MAGCHECK_MAX_PAGES &&
		    magcheck_all_valid_avx2(m->objs, n, cl.sb->zones_off, cl.zones_size >> SLABD_PAGE_SHIFT,
					    (const uint64_t *)cl.pages, want, size))
			return n;
#endif
		k = mag_filter(m, n, CHECK_POW2_PAGE, want, size, NULL, 0);
	} else if (!(size & (size - 1))) {
		k = mag_filter(m, n, CHECK_POW2, want, size, NULL, 0);
	} else {
		divtest_init(&dt, size);
		k = mag_filter(m, n, CHECK_DIV, want, size, &dt, size * cl.caches[cache].objs_per_slab);
	}
	slabd_mag_set_count(m, k);
	return k;
}

/* Move the first @n (checked) objects of a magazine we own, of node @node, into the
 * current CPU's stack (only if the CPU is of that node); what did not fit moves to the
 * front and becomes the magazine's count, which is returned (0: the magazine is empty). */
static uint32_t mag_into_stack(struct slabd_shm_mag *m, uint32_t cache, uint32_t node, uint32_t n)
{
	uint32_t done = 0;

	if (n && !cl.multi_node)
		done = percpu_push_bulk(cl.roff, cl.ncpus, cache_pcpu(cache), m->objs, n);
	else if (n)
		done = percpu_push_bulk_home(cl.roff, cl.ncpus, cache_pcpu(cache), m->objs, n, cl.cpus, node);
	if (done < n)
		memmove(m->objs, m->objs + done, (n - done) * sizeof(m->objs[0]));
	slabd_mag_set_count(m, n - done);
	return n - done;
}

/* Take one object out of the magazine @m popped from @full (a depot of node @node). */
static uint64_t mag_take(struct slabd_shm_mag *m, uint32_t cache, uint32_t node, uint64_t *full, int spill)
{
	uint64_t off = 0;
	uint32_t n;

	if (spill) {
		/* everything left goes into the per-CPU stack: check it all once */
		n = mag_check(m, cache);
		if (n)
			off = m->objs[--n];
		n = mag_into_stack(m, cache, node, n);
	} else {
		/* only the object taken leaves the magazine: check just that one */
		n = m->count > SLABD_MAG_SLOTS ? 0 : m->count;
		while (n && !off)
			if (!obj_valid(cache, off = m->objs[--n]))
				off = 0;
		slabd_mag_set_count(m, n);
	}
	slabd_stack_push(n ? full : &cl.ctl->empty_mags, cl.mags, m);
	return off;
}

/* An allocation failed: count it in our client table entry (the daemon reports it),
 * unless the caller said __GFP_NOWARN. errno is set by the caller. */
static cold void count_failure(gfp_t flags)
{
	uint32_t slot = cl.client_slot;

	if (!(flags & __GFP_NOWARN) && slot < SLABD_MAX_CLIENTS && cl.clients)
		__atomic_fetch_add(&cl.clients[slot].alloc_failures, 1, __ATOMIC_RELAXED);
}

/* Magazines one refill may take beyond the first on a CPU whose misses of a cache are
 * one-sided (count_miss): four of the daemon's ordinary ones (SLABD_MAG_BATCH objects each)
 * fill a stack; a handoff's consumer sends its whole stack in one (free_slow). */
#define EXTRA_MAGS 3

/* Count a miss of this CPU's stack of @cache (the worker sizes stacks by them). Returns
 * whether this CPU's misses of @cache are one-sided: at least 8 of this kind, and fewer
 * than an eighth as many of the other. */
static int count_miss(uint32_t cache, int on_free)
{
	int cpu = percpu_current_cpu(cl.roff);
	struct slabd_shm_pcpu_stat *st;
	uint32_t mine, other;

	if (cpu < 0 || (uint32_t)cpu >= cl.ncpus || cache >= cl.sb->max_caches)
		return 0;
	st = &cl.pcpu_stats[slabd_shm_pcpu_stat_index(cl.sb->max_caches, cache, (uint32_t)cpu)];
	mine = __atomic_add_fetch(on_free ? &st->free_misses : &st->alloc_misses, 1, __ATOMIC_RELAXED);
	other = __atomic_load_n(on_free ? &st->alloc_misses : &st->free_misses, __ATOMIC_RELAXED);
	return mine >= 8 && other < mine / 8;
}

/* Room left on this CPU's stack of @cache (advisory: the thread may migrate). */
static uint32_t pcpu_room(uint32_t cache)
{
	int cpu = percpu_current_cpu(cl.roff);
	const struct slabd_shm_pcpu *s;
	uint32_t cap, cnt;

	if (cpu < 0 || (uint32_t)cpu >= cl.ncpus)
		return 0;
	s = (const struct slabd_shm_pcpu *)(cache_pcpu(cache) + ((uint64_t)cpu << SLABD_PCPU_SHIFT));
	cap = __atomic_load_n(&s->capacity, __ATOMIC_RELAXED);
	cnt = __atomic_load_n(&s->count, __ATOMIC_RELAXED);
	if (cap > SLABD_PCPU_SLOTS)
		cap = SLABD_PCPU_SLOTS;
	return cnt < cap ? cap - cnt : 0;
}

/*
 * refill_chain: a one-sided allocating CPU missed on @cache: pop full magazines of @d (of
 * its own node @node), 1 + EXTRA_MAGS at most and as many as the room in its stack takes
 * (the first always: it gives the object returned), with one compare-and-swap; check each
 * (mag_check) and move it into the stack; the emptied magazines go to the empty stack
 * with one compare-and-swap, what did not fit back on @d with one. A handoff's consumer
 * sends its whole stack as one magazine, so this usually takes one magazine of ~120
 * objects; the daemon's magazines (SLABD_MAG_BATCH) four at a time. Returns an object's
 * offset, or 0 when @d had no magazine (or nothing valid in them).
 */
static uint64_t refill_chain(uint32_t cache, uint32_t node, struct slabd_shm_depot *d)
{
	struct slabd_shm_mag *ms[1 + EXTRA_MAGS], *empty[1 + EXTRA_MAGS], *left[1 + EXTRA_MAGS];
	uint32_t ne = 0, nl = 0, i, k;
	uint64_t off = 0;

	/* the room and one more: the object returned */
	k = slabd_stack_pop_chain_upto(&d->full, cl.mags, cl.nr_mags, ms, 1 + EXTRA_MAGS, pcpu_room(cache) + 1);
	if (!k)
		return 0;
	/* Ask for every line the checks will read at once: the other CPU wrote them, and
	 * the check alone keeps only a few transfers in flight (bench/RESULTS.md, session 7:
	 * the check's time halved; the handoff 0.77-0.91 x in the far regime, 0.92-0.98 in
	 * the near one). A hint: the count is read again, and checked, by mag_check. */
	for (i = 0; i < k; i++) {
		uint32_t n = __atomic_load_n(&ms[i]->count, __ATOMIC_RELAXED), b;

		n = n > SLABD_MAG_SLOTS ? SLABD_MAG_SLOTS : n;
		for (b = 64; b < offsetof(struct slabd_shm_mag, objs) + n * sizeof(uint64_t); b += 64)
			__builtin_prefetch((const char *)ms[i] + b);
	}
	if (!(__atomic_load_n(&d->full, __ATOMIC_RELAXED) & SLABD_STACK_IDX_MASK))
		client_kick(); /* took the last one: refill before the next miss */
	for (i = 0; i < k; i++) {
		struct slabd_shm_mag *m = ms[i];
		uint32_t n = mag_check(m, cache);

		if (n && !off)
			off = m->objs[--n];
		if (mag_into_stack(m, cache, node, n))
			left[nl++] = m;
		else
			empty[ne++] = m;
	}
	if (ne)
		slabd_stack_push_chain(&cl.ctl->empty_mags, cl.mags, empty, ne);
	if (nl)
		slabd_stack_push_chain(&d->full, cl.mags, left, nl);
	return off;
}

static int wait_refill(struct slabd_shm_depot *d, gfp_t flags, int *waited)
{
	uint32_t seq;
	int r;

	/* Two rounds: the first may have begun before we were a waiter; the second began
	 * after, so it saw us and ran its drain pass before waking us. */
	if ((flags & __GFP_NORETRY) && *waited >= 2)
		return -ENOMEM;
	/* Be a waiter before taking the snapshot: a worker round that bumps seq after it
	 * has seen us (and so ran its drain pass for us) is the round we wait for. */
	__atomic_fetch_add(&d->waiters, 1, __ATOMIC_SEQ_CST);
	seq = __atomic_load_n(&d->seq, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&d->full, __ATOMIC_ACQUIRE) & SLABD_STACK_IDX_MASK) {
		__atomic_fetch_sub(&d->waiters, 1, __ATOMIC_RELAXED);
		return 0;
	}
	__atomic_store_n(&d->want, 1, __ATOMIC_RELEASE);
	client_kick();
	r = slabd_futex_wait(&d->seq, seq, (flags & __GFP_NORETRY) ? 1000 : 100);
	__atomic_fetch_sub(&d->waiters, 1, __ATOMIC_RELAXED);
	/* Woken by a refill attempt (or the word moved on): one round done. A timeout under
	 * NORETRY means the daemon did not answer: give up at once. */
	if (r == 0 || r == -EAGAIN)
		(*waited)++;
	else if (flags & __GFP_NORETRY)
		*waited = 2;
	return 0;
}

/* The depot node of @cache for a CPU of node @n: a DMA cache has one, its zone's node. */
static inline int cache_depot_node(uint32_t cache, int n)
{
	return unlikely(cl.caches[cache].zone_kind == SLABD_ZONE_DMA) ? (int)cl.zone_tab[cl.sb->dma_zone].node : n;
}

/*
 * cache_alloc_slow: the per-CPU stack was empty (or this thread or process is not set up
 * yet). @node < 0: the current CPU's node, refilling its per-CPU stack; otherwise that
 * node index, taking one object straight from its depot. A cache in debug mode goes to
 * debug.c (its stacks have capacity 0: every call comes here), which comes back with
 * @raw set. @caller: the return address of the public call (SLAB_STORE_USER records it).
 */
static noinline cold void *cache_alloc_slow(uint32_t cache, gfp_t flags, int node, int raw, const void *caller)
{
	int pcpu_ok, one_sided = 0, waited = 0, fb = 0, r;
	uint32_t gen;
	uint64_t off;

	if (flags & __GFP_NOFAIL)
		flags &= ~__GFP_NORETRY; /* never failing wins over failing early */
	/* Attach (or, in a fork()ed child, register anew); a caller that may not sleep
	 * does not wait for the daemon's answer: a mapped child allocates without it. */
	if (unlikely(!__atomic_load_n(&cl.ncpus, __ATOMIC_ACQUIRE) ||
		     (cl.sock < 0 && !cl.pid && (flags & __GFP_DIRECT_RECLAIM)))) {
		r = client_attach(!!(flags & __GFP_DIRECT_RECLAIM));
		if (r < 0 && !cl.ncpus) {
			errno = r == -EAGAIN ? ENOMEM : ENOTCONN;
			return NULL;
		}
	}
	if (unlikely(cache >= cl.sb->max_caches)) {
		errno = EINVAL;
		return NULL;
	}
	/* the generation before the state, as handles take it (cache.c): a destroy that goes
	 * ahead while we sleep below moves it on */
	gen = __atomic_load_n(&cl.caches[cache].gen, __ATOMIC_ACQUIRE);
	if (unlikely(__atomic_load_n(&cl.caches[cache].state, __ATOMIC_ACQUIRE) != SLABD_CACHE_ACTIVE)) {
		errno = EINVAL;
		return NULL;
	}
	if (unlikely(__atomic_load_n(&cl.caches[cache].debug, __ATOMIC_ACQUIRE)) && !raw)
		return debug_alloc(cache, flags, node < 0 ? current_node() : node, caller);
	pcpu_ok = client_rseq_ready() == 0;
	if (pcpu_ok && node < 0)
		one_sided = count_miss(cache, 0);
	if (pcpu_ok && cl.multi_node)
		remote_flush_if_any();

	for (;;) {
		struct slabd_shm_depot *d;
		struct slabd_shm_mag *m;
		int n = node;

		if (n < 0) {
			if (fb == 0 && pcpu_ok && !percpu_pop(cl.roff, cl.ncpus, cache_pcpu(cache), &off))
				return cl.base + off;
			n = current_node();
		}
		n = cache_depot_node(cache, n);
		if (fb > 0) {
			/* borrowing: the fb-th node in @n's fallback order, nearest first */
			n = cl.nodes[n].order[fb];
			if ((uint32_t)n >= cl.sb->nr_nodes)
				n = 0;
		}
		d = client_depot(cache, (uint32_t)n);
		if (one_sided && node < 0 && fb == 0 && pcpu_ok) {
			off = refill_chain(cache, (uint32_t)n, d);
			if (off)
				return cl.base + off;
		}
		m = slabd_stack_pop(&d->full, cl.mags, cl.nr_mags);
		if (m) {
			if (!(__atomic_load_n(&d->full, __ATOMIC_RELAXED) & SLABD_STACK_IDX_MASK))
				client_kick(); /* took the last one: refill before the next miss */
			/* only the CPU's own node's objects may go into its stack */
			off = mag_take(m, cache, (uint32_t)n, &d->full,
				       node < 0 && fb == 0 && pcpu_ok);
			if (off)
				return cl.base + off;
			continue;
		}
		__atomic_fetch_add(&d->misses, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&d->want, 1, __ATOMIC_RELEASE);
		if (flags & __GFP_HIGH) {
			m = slabd_stack_pop(&d->reserve, cl.mags, cl.nr_mags);
			if (m) {
				client_kick();
				off = mag_take(m, cache, (uint32_t)n, &d->reserve, 0);
				if (off)
					return cl.base + off;
				continue;
			}
		}
		/* This node is dry. Without __GFP_THISNODE, go on to the next nearest node:
		 * at once when waiting is not allowed, or when the daemon found this node's
		 * zone exhausted (a sleeping caller otherwise gives the refill its chance). A
		 * node lends objects to the caller; they never enter this CPU's stack. */
		if (cl.multi_node && !(flags & __GFP_THISNODE) && (uint32_t)fb + 1 < cl.sb->nr_nodes &&
		    cl.caches[cache].zone_kind != SLABD_ZONE_DMA && /* one DMA zone: nowhere to go */
		    (!(flags & __GFP_DIRECT_RECLAIM) ||
		     (__atomic_load_n(&d->flags, __ATOMIC_ACQUIRE) & SLABD_DEPOT_EXHAUSTED))) {
			client_kick();
			fb++;
			continue;
		}
		if (!(flags & __GFP_DIRECT_RECLAIM)) {
			client_kick();
			count_failure(flags);
			errno = ENOMEM;
			return NULL;
		}
		if (wait_refill(d, flags, &waited) < 0 && !(flags & __GFP_NOFAIL)) {
			count_failure(flags);
			errno = ENOMEM;
			return NULL;
		}
		/* Destroyed meanwhile (by any process): nothing refills it any more, so waiting on
		 * would be for ever, __GFP_NOFAIL included. A refused destroy leaves the gen. */
		if (unlikely(__atomic_load_n(&cl.caches[cache].gen, __ATOMIC_ACQUIRE) != gen)) {
			errno = EINVAL;
			return NULL;
		}
		fb = 0; /* after a refill round, the home node first again */
	}
}

/*
 * The call site SLAB_STORE_USER records (@caller of the functions here, NULL: unknown) is
 * the return address of the exported function the user called: __builtin_return_address(0)
 * there. Read at the top of the function, that is a load on every call, fast path or not
 * (the compiler does not move it past the rseq asm, which clobbers memory). So an exported
 * function that reaches a slow path only through the always-inline helpers below passes
 * CALLER_HERE instead, and the helper reads the return address (of the function it is
 * inlined into) in its miss branch only: the fast path is the same code as before.
 */
#define CALLER_HERE ((const void *)1)
#define caller_resolve(c) ((c) == CALLER_HERE ? __builtin_return_address(0) : (c))

/* An object of @cache from this CPU's stack, else the slow path (@caller passed on). */
static inline __attribute__((always_inline)) void *cache_alloc(uint32_t cache, gfp_t flags, const void *caller)
{
	uint64_t off;

	if (likely(!percpu_pop(cl.roff, cl.ncpus, cache_pcpu(cache), &off)))
		return cl.base + off;
	return cache_alloc_slow(cache, flags, -1, 0, caller_resolve(caller));
}

void *alloc_depot_take(uint32_t cache, unsigned int flags, int node)
{
	return cache_alloc_slow(cache, flags, node, 1, NULL);
}

void *client_cache_alloc_at(uint32_t cache, unsigned int flags, int node, const void *caller)
{
	int ni;

	if (node < 0)
		return cache_alloc(cache, flags, caller);
	if (!cl.ncpus && client_attach(!!(flags & __GFP_DIRECT_RECLAIM)) < 0 && !cl.ncpus) {
		errno = ENOTCONN;
		return NULL;
	}
	ni = node_index_of(node);
	if (ni < 0) {
		errno = EINVAL;
		return NULL;
	}
	if (ni == current_node())
		return cache_alloc(cache, flags, caller);
	return cache_alloc_slow(cache, flags, ni, 0, caller);
}

/* The daemon's buddy allocator hands out a page-level allocation as one block of a power
 * of two of pages (buddy_alloc_exact), at most 2^SLABD_LARGE_MAX_ORDER pages, from one
 * zone: the zones of @flags (the DMA zone; else the node zones, only node @node's with
 * __GFP_THISNODE). The largest such block in pages, 0 when there is none. */

static uint64_t large_max_pages(gfp_t flags, int node)
{
	uint64_t best = 0, n;
	uint32_t i;

	for (i = 0; i < cl.sb->nr_zones; i++) {
		const struct slabd_shm_zone *z = &cl.zone_tab[i];

		if (z->kind != ((flags & __GFP_DMA) ? SLABD_ZONE_DMA : SLABD_ZONE_NODE) || !z->nr_pages)
			continue;
		if (!(flags & __GFP_DMA) && (flags & __GFP_THISNODE) && node >= 0 &&
		    (z->node >= cl.sb->nr_nodes || (int)cl.nodes[z->node].os_index != node))
			continue;
		n = (uint64_t)1 << (63 - __builtin_clzll(z->nr_pages));
		if (n > (1ull << SLABD_LARGE_MAX_ORDER))
			n = 1ull << SLABD_LARGE_MAX_ORDER;
		if (n > best)
			best = n;
	}
	return best;
}

static noinline cold void *large_alloc(size_t size, gfp_t flags, int node)
{
	int64_t r;
	int waited = 0;

	/* A request no zone can ever hold fails at once, __GFP_NOFAIL too (as the kernel
	 * fails an order above MAX_ORDER): waiting for frees could never make room. */
	if (size > large_max_pages(flags, node) << SLABD_PAGE_SHIFT) {
		count_failure(flags);
		errno = ENOMEM;
		return NULL;
	}
	for (;;) {
		uint32_t seq = cl.ctl ? __atomic_load_n(&cl.ctl->large_seq, __ATOMIC_ACQUIRE) : 0;

		r = client_large_alloc(size, flags, node);
		if (r >= 0)
			return cl.base + r;
		if (!(flags & __GFP_DIRECT_RECLAIM))
			break;
		if (!(flags & __GFP_NOFAIL) && (r != -ENOMEM || ((flags & __GFP_NORETRY) && waited)))
			break;
		/* Sleep until the daemon freed pages, then ask again. */
		slabd_futex_wait(&cl.ctl->large_seq, seq, 100);
		waited = 1;
	}
	errno = r == -ENOMEM || r == -EAGAIN ? ENOMEM : r == -EINVAL ? EINVAL : ENOTCONN;
	if (errno == ENOMEM)
		count_failure(flags);
	return NULL;
}

/* GFP_DMA: dma-kmalloc-<size>, or a page allocation in the DMA zone. The zone has no
 * node choice; ENODEV when the daemon runs without one (dma_zone_size = 0). */
static noinline cold void *kmalloc_dma(size_t size, gfp_t flags, const void *caller)
{
	void *p;

	if (cl.sb->dma_zone == SLABD_NO_ZONE) {
		errno = ENODEV;
		return NULL;
	}
	if (size > cl.max_cache_size)
		p = large_alloc(size, flags, -1);
	else
		p = cache_alloc(SLABD_DMA_KMALLOC_BASE + size_index(size), flags, caller);
	if (p && (flags & __GFP_ZERO))
		memset(p, 0, slabd_ksize(p));
	return p;
}

static noinline cold void *kmalloc_general(size_t size, gfp_t flags, int node, const void *caller)
{
	void *p;
	int ni = -1;

	if (!size)
		return ZERO_SIZE_PTR;
	if (!cl.ncpus) {
		int r = client_attach(!!(flags & __GFP_DIRECT_RECLAIM));
		if (r < 0 && !cl.ncpus) {
			errno = r == -EAGAIN ? ENOMEM : ENOTCONN;
			return NULL;
		}
	}
	if (flags & __GFP_DMA)
		return kmalloc_dma(size, flags, caller);
	if (node >= 0) {
		ni = node_index_of(node);
		if (ni < 0) {
			errno = EINVAL;
			return NULL;
		}
		if (ni == current_node())
			ni = -1; /* the per-CPU stacks hold this node's objects */
	}
	if (size > cl.max_cache_size)
		p = large_alloc(size, flags, (int)cl.nodes[ni >= 0 ? ni : current_node()].os_index);
	else if (ni >= 0)
		p = cache_alloc_slow(size_index(size), flags, ni, 0, caller);
	else
		p = cache_alloc(size_index(size), flags, caller);
	if (p && (flags & __GFP_ZERO))
		memset(p, 0, slabd_ksize(p));
	return p;
}

/*
 * The exported entry points pass their return address down as @caller (CALLER_HERE, see
 * above): the call's return address in the user's code (the kernel names are
 * always-inline wrappers in <slabd/kmalloc.h>, so their call is the user's). An entry
 * point that allocates or frees through another one (krealloc) passes its own caller on,
 * never calls the exported function, whose return address would be the library's.
 */
static inline __attribute__((always_inline)) void *kmalloc_at(size_t size, gfp_t flags, const void *caller)
{
	if (likely(size - 1 < cl.max_cache_size && !(flags & (__GFP_DMA | __GFP_ZERO))))
		return cache_alloc(size_index(size), flags, caller);
	return kmalloc_general(size, flags, -1, caller_resolve(caller));
}

void *slabd_kmalloc(size_t size, gfp_t flags)
{
	return kmalloc_at(size, flags, CALLER_HERE);
}

void *slabd_kmalloc_cache(unsigned int cache_id, gfp_t flags)
{
	return cache_alloc(cache_id, flags, CALLER_HERE);
}

void *slabd_kmalloc_node(size_t size, gfp_t flags, int node)
{
	if (node < 0)
		return kmalloc_at(size, flags, CALLER_HERE);
	return kmalloc_general(size, flags, node, __builtin_return_address(0));
}

/* ------------------------------------------------------------------------ free -- */

/* Hand @n objects (offsets, all of @cache and zone node @node) to the depot: a batch in
 * an empty magazine; a single object (a remote free, or a thread without rseq) added to
 * the depot's top magazine when it has room, so that single frees do not spend a
 * magazine each; without a magazine, on the free chain (the daemon collects it). */
static void depot_give(uint32_t cache, uint32_t node, const uint64_t *objs, uint32_t n)
{
	struct slabd_shm_depot *d = client_depot(cache, node);
	struct slabd_shm_mag *m;
	uint32_t i;

	if (n == 1) {
		m = slabd_stack_pop(&d->full, cl.mags, cl.nr_mags);
		if (m) {
			uint32_t c = m->count;

			if (c < cl.caches[cache].mag_objs && c < SLABD_MAG_SLOTS) {
				m->objs[c] = objs[0];
				slabd_mag_set_count(m, c + 1);
				slabd_stack_push(&d->full, cl.mags, m);
				return;
			}
			slabd_stack_push(&d->full, cl.mags, m);
		}
	}
	m = slabd_stack_pop(&cl.ctl->empty_mags, cl.mags, cl.nr_mags);
	if (m) {
		memcpy(m->objs, objs, n * sizeof(objs[0]));
		slabd_mag_set_count(m, n);
		slabd_stack_push(&d->full, cl.mags, m);
		return;
	}
	/* No empty magazine: chain the objects through their first word. */
	for (i = 0; i + 1 < n; i++)
		*(uint64_t *)(cl.base + objs[i]) = objs[i + 1];
	slabd_chain_push(&d->freelist, cl.base, objs[0], objs[n - 1]);
	client_kick();
}

void alloc_depot_give(uint32_t cache, uint32_t node, uint64_t off)
{
	depot_give(cache, node, &off, 1);
}

/* Push on this CPU's stack; with several nodes only onto a CPU of the object's @node
 * (-2 otherwise). */
static inline int push_local(uint32_t cache, uint64_t off, uint32_t node)
{
	if (!cl.multi_node)
		return percpu_push(cl.roff, cl.ncpus, cache_pcpu(cache), off);
	return percpu_push_home(cl.roff, cl.ncpus, cache_pcpu(cache), off, cl.cpus, node);
}

/* Up to @max objects off this CPU's stack of @cache (of a CPU of @node) into @out. */
static inline uint32_t pcpu_take(uint32_t cache, uint32_t node, uint64_t *out, uint32_t max)
{
	return cl.multi_node ? percpu_pop_bulk_home(cl.roff, cl.ncpus, cache_pcpu(cache), out, max,
						    cl.cpus, node)
			     : percpu_pop_bulk(cl.roff, cl.ncpus, cache_pcpu(cache), out, max);
}

static noinline cold void free_slow(uint32_t cache, uint64_t off, uint32_t node, const void *caller)
{
	uint64_t buf[SLABD_MAG_SLOTS];
	struct slabd_shm_mag *m;
	uint32_t n = 1, want = 1;
	int r;

	if (unlikely(cache < cl.sb->max_caches && __atomic_load_n(&cl.caches[cache].debug, __ATOMIC_ACQUIRE))) {
		debug_free(cache, off, node, caller); /* capacity 0: every free of a debug cache comes here */
		return;
	}
	buf[0] = off;
	if (client_rseq_ready() == 0) {
		want = cache < cl.sb->max_caches ? cl.caches[cache].mag_objs : 1;
		if (want > SLABD_MAG_BATCH || !want)
			want = SLABD_MAG_BATCH;
		/* Make room: move a magazine's worth out of the full per-CPU stack (of a CPU
		 * of @node: another node's objects go home below, one at a time). A CPU whose
		 * misses of @cache are one-sided (a handoff's consumer, which never takes them
		 * back) sends its whole stack in one magazine: one miss per stackful, and its
		 * producer takes them with one pop (refill_chain). */
		r = push_local(cache, off, node);
		if (r == 0)
			return;
		if (r == -1) {
			if (count_miss(cache, 1))
				want = SLABD_MAG_SLOTS;
			/* straight into an empty magazine when there is one: the stack's objects
			 * are copied once, not into buf and then into the magazine */
			m = slabd_stack_pop(&cl.ctl->empty_mags, cl.mags, cl.nr_mags);
			if (m) {
				m->objs[0] = off;
				n += pcpu_take(cache, node, m->objs + 1, want - 1);
				slabd_mag_set_count(m, n);
				slabd_stack_push(&client_depot(cache, node)->full, cl.mags, m);
				return;
			}
			n += pcpu_take(cache, node, buf + 1, want - 1);
		}
	}
	depot_give(cache, node, buf, n);
}

/* The cache of the object at @off and its zone's node, from the page table; -1 when @off
 * (read from client-writable memory) is not an object. */
static int obj_home(uint64_t off, uint32_t *ret_cache, uint32_t *ret_node)
{
	uint64_t zoff = off - cl.sb->zones_off;
	const struct slabd_shm_page *pg;

	if (off < cl.sb->zones_off || zoff >= cl.zones_size)
		return -1;
	pg = &cl.pages[zoff >> SLABD_PAGE_SHIFT];
	if (!obj_valid(pg->cache, off) || pg->zone >= cl.sb->nr_zones)
		return -1;
	*ret_cache = pg->cache;
	*ret_node = cl.zone_tab[pg->zone].node;
	return 0;
}

/*
 * remote_flush: send home everything in this CPU's remote-free stack (objects of other
 * nodes freed here), plus @off when not 0: grouped by cache and home node (read from the
 * page table), a magazine's worth at a time, into the home depots. Runs when the stack is full
 * and on this CPU's allocation misses; the daemon flushes the stacks of idle CPUs.
 */
static noinline cold void remote_flush(uint64_t off)
{
	uint64_t buf[SLABD_PCPU_SLOTS + 1], grp[SLABD_MAG_SLOTS];
	uint32_t n, i, k, c0, n0, ci, want;

	n = percpu_pop_bulk(cl.roff, cl.ncpus, cl.remote, buf, SLABD_PCPU_SLOTS);
	if (off)
		buf[n++] = off;
	while (n) {
		if (obj_home(buf[0], &c0, &n0) < 0) {
			memmove(buf, buf + 1, --n * sizeof(buf[0])); /* not an object: never hand it on */
			continue;
		}
		want = cl.caches[c0].mag_objs;
		if (!want || want > SLABD_MAG_BATCH)
			want = SLABD_MAG_BATCH;
		for (i = 0, k = 0, ci = 0; i < n; i++) {
			uint32_t cc, nn;
			if (ci < want && obj_home(buf[i], &cc, &nn) == 0 && cc == c0 && nn == n0)
				grp[ci++] = buf[i];
			else
				buf[k++] = buf[i]; /* another group's, or not an object (dropped above) */
		}
		n = k;
		depot_give(c0, n0, grp, ci);
	}
}

/* kfree with several nodes: onto this CPU's stack when the CPU is of the object's node
 * (checked inside the sequence); else onto this CPU's remote-free stack, sent home in
 * batches (remote_flush). */
static noinline void free_home(uint32_t cache, uint64_t off, uint32_t node, const void *caller)
{
	int r = percpu_push_home(cl.roff, cl.ncpus, cache_pcpu(cache), off, cl.cpus, node);

	if (likely(r == 0))
		return;
	if (r == -2 && likely(!__atomic_load_n(&cl.caches[cache].debug, __ATOMIC_RELAXED))) {
		/* rseq works here (the sequence above ran): the remote stack is full */
		if (likely(percpu_push(cl.roff, cl.ncpus, cl.remote, off) == 0))
			return;
		remote_flush(off);
		return;
	}
	free_slow(cache, off, node, caller);
}

static noinline cold void free_large_or_bad(const void *p, const struct slabd_shm_page *pg, const void *caller)
{
	uint64_t off = (uint64_t)((const char *)p - cl.base);
	uint64_t pgoff = off - cl.sb->zones_off;

	if (pg->kind == SLABD_PAGE_LARGE && !(pgoff & (SLABD_PAGE_SIZE - 1))) {
		slabd_chain_push(&cl.ctl->large_free, cl.base, off, off);
		client_kick(); /* pages are worth collecting at once */
		return;
	}
	/* Not the start of anything we handed out: ignore (debug mode reports it); never
	 * corrupt a shared structure with it. */
	if (__atomic_load_n(&cl.caches[0].debug, __ATOMIC_RELAXED))
		debug_bad_pointer(p,
				  pg->kind == SLABD_PAGE_FREE ? "no object there (a free page of the region)"
							      : "not the start of a large allocation",
				  caller);
	errno = EINVAL;
}

/* kfree of @p called at @caller (CALLER_HERE: the return address of the function this is
 * inlined into), which only the slow paths take. */
static inline __attribute__((always_inline)) void kfree_at(const void *p, const void *caller)
{
	uint64_t zoff = (uint64_t)((const char *)p - cl.zones);
	const struct slabd_shm_page *pg;
	uint32_t cache, head;

	if (unlikely(zoff >= cl.zones_size)) {
		/* NULL, ZERO_SIZE_PTR, or not ours: debug mode says so for the last */
		if (unlikely(!ZERO_OR_NULL_PTR(p) && cl.caches && __atomic_load_n(&cl.caches[0].debug, __ATOMIC_RELAXED)))
			debug_bad_pointer(p, "not a pointer into slabd's object zones", caller_resolve(caller));
		return;
	}
	pg = &cl.pages[zoff >> SLABD_PAGE_SHIFT];
	/* kind (byte 0) and cache (bytes 2-3) in one load */
	__builtin_memcpy(&head, pg, sizeof(head));
	if (unlikely((uint8_t)head != SLABD_PAGE_SLAB)) {
		free_large_or_bad(p, pg, caller_resolve(caller));
		return;
	}
	cache = head >> 16;
	if (unlikely(cl.multi_node)) {
		free_home(cache, (uint64_t)((const char *)p - cl.base), cl.zone_tab[pg->zone].node,
			  caller_resolve(caller));
		return;
	}
	if (likely(!percpu_push(cl.roff, cl.ncpus, cache_pcpu(cache), (uint64_t)((const char *)p - cl.base))))
		return;
	free_slow(cache, (uint64_t)((const char *)p - cl.base), cl.zone_tab[pg->zone].node, caller_resolve(caller));
}

void slabd_kfree(const void *p)
{
	kfree_at(p, CALLER_HERE);
}

void client_kfree_at(const void *p, const void *caller)
{
	kfree_at(p, caller);
}

size_t slabd_ksize(const void *p)
{
	uint64_t zoff = (uint64_t)((const char *)p - cl.zones);
	const struct slabd_shm_page *pg;

	if (zoff >= cl.zones_size)
		return 0;
	pg = &cl.pages[zoff >> SLABD_PAGE_SHIFT];
	if (pg->kind == SLABD_PAGE_SLAB && pg->cache < cl.sb->max_caches)
		/* with a debug trailer, only the object: the red zone follows it */
		return cl.caches[pg->cache].trailer ? cl.caches[pg->cache].obj_size : cl.caches[pg->cache].size;
	if (pg->kind == SLABD_PAGE_LARGE_TAIL) {
		/* Inside a large allocation past its first page: the size is on the first
		 * page, as a slab's interior gives the object's size. The first page comes
		 * before this one and still covers it, or the allocation changed under us. */
		uint64_t page = zoff >> SLABD_PAGE_SHIFT, first = pg->head;

		if (first >= page)
			return 0;
		pg = &cl.pages[first];
		if (pg->kind != SLABD_PAGE_LARGE || page - first >= pg->head)
			return 0;
	}
	if (pg->kind == SLABD_PAGE_LARGE)
		return (size_t)pg->head << SLABD_PAGE_SHIFT;
	return 0;
}

void *slabd_krealloc(const void *p, size_t new_size, gfp_t flags)
{
	const void *caller = __builtin_return_address(0);
	size_t old;
	void *q;

	if (ZERO_OR_NULL_PTR(p))
		return kmalloc_at(new_size, flags, caller);
	if (!new_size) {
		client_kfree_at(p, caller);
		return ZERO_SIZE_PTR;
	}
	old = slabd_ksize(p);
	if (!old) {
		errno = EINVAL;
		return NULL;
	}
	if (new_size <= old) {
		if (flags & __GFP_ZERO)
			memset((char *)p + new_size, 0, old - new_size);
		return (void *)p;
	}
	q = kmalloc_at(new_size, flags & ~__GFP_ZERO, caller);
	if (!q)
		return NULL;
	memcpy(q, p, old);
	if (flags & __GFP_ZERO)
		memset((char *)q + old, 0, slabd_ksize(q) - old);
	client_kfree_at(p, caller);
	return q;
}

uint64_t slabd_ptr_to_off(const void *p)
{
	uint64_t off = (uint64_t)((const char *)p - cl.base);
	return cl.base && off < cl.region_size ? off : UINT64_MAX;
}

void *slabd_off_to_ptr(uint64_t off)
{
	return cl.base && off < cl.region_size ? cl.base + off : NULL;
}

uint64_t slabd_virt_to_iova(const void *p)
{
	uint64_t zoff = (uint64_t)((const char *)p - cl.zones), doff;
	const struct slabd_shm_zone *z;

	if (zoff >= cl.zones_size || cl.sb->dma_zone == SLABD_NO_ZONE)
		return SLABD_BAD_IOVA;
	z = &cl.zone_tab[cl.sb->dma_zone];
	doff = (uint64_t)((const char *)p - cl.base) - z->off;
	if (doff >= z->size)
		return SLABD_BAD_IOVA;
	return cl.iova[doff >> SLABD_PAGE_SHIFT] + (doff & (SLABD_PAGE_SIZE - 1));
}

int slabd_virt_to_node(const void *p)
{
	uint64_t zoff = (uint64_t)((const char *)p - cl.zones);

	if (zoff >= cl.zones_size)
		return -1;
	return (int)cl.nodes[cl.zone_tab[cl.pages[zoff >> SLABD_PAGE_SHIFT].zone].node].os_index;
}
