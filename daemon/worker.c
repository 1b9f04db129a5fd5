/* SPDX-License-Identifier: MIT */
/*
 * worker.c - one refill/reclaim worker per NUMA node, kept on that node's CPUs.
 *
 * Each round, for every cache with demand on this node:
 *   1. take the depot's freelist chain and return its objects to their slabs;
 *   2. if a client asked (depot->want) or the depot fell below its low watermark, refill
 *      it to the target with magazines carved from slabs; also top up the emergency
 *      reserve; bump depot->seq and wake sleepers;
 *   3. if the depot holds more than its high watermark, take magazines back down to the
 *      target; a cache idle for a while gives back its whole depot;
 *   4. give empty slabs beyond one per cache back to the zone's page allocator.
 * When a refill fails for want of pages and clients are sleeping on it, the worker
 * releases every empty slab of the node, and if that is not enough it drains the
 * per-CPU stacks of the node's CPUs (running on each CPU in turn, with the same
 * restartable sequences the clients use) so that objects freed there can be reused.
 *
 * The worker sleeps on ctl->kick (a futex clients bump) for at most worker_interval_ms.
 * Node 0's worker also calls log_limited_flush every second, so that a rate-limited
 * warning's window that ends in silence still has its unlogged count printed.
 * Everything it reads from the percpu segment is untrusted (slab_put checks it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <time.h>

#include "log.h"
#include "percpu.h"
#include "slabd_daemon.h"
#include "slabd_ops.h"

#define IDLE_MS_BEFORE_SHRINK 5000 /* a cache without demand for 5 s gives its depot back */
#define IDLE_MS_PER_DECAY 1000     /* halve the depot target each second without demand */
#define RELEASE_SCAN_MS 100           /* look for chunks to give back every 100 ms */
#define IDLE_SLEEP_MAX_MS 1000        /* the longest sleep of a worker with nothing active */
#define LOG_FLUSH_MS 1000             /* node 0's worker tells rate-limited counts every second */

static uint64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct worker_arg {
	struct slabd *d;
	uint32_t node;
};
static struct worker_arg worker_args[SLABD_MAX_NODES];

/* The worker's rseq area when glibc did not register one (glibc.pthread.rseq=0). */
static __thread struct rseq worker_rseq __attribute__((tls_model("initial-exec"), aligned(32))) = {
	.cpu_id = (uint32_t)RSEQ_CPU_ID_UNINITIALIZED,
};
static __thread long worker_roff = -1; /* %fs offset of this thread's rseq area, -1: none */

static void worker_rseq_setup(void)
{
	if (__rseq_size > 0) {
		worker_roff = (long)__rseq_offset;
		return;
	}
	if (syscall(SYS_rseq, &worker_rseq, sizeof(worker_rseq), 0, SLABD_RSEQ_SIG) == 0) {
		worker_roff = (long)((char *)&worker_rseq - (char *)__builtin_thread_pointer());
		return;
	}
	log_warn("no restartable sequences for the worker (%s): it cannot drain per-CPU caches",
		 strerror(errno));
}

static int return_objects(struct slabd *d, struct cache *c, uint32_t node, const uint64_t *objs, uint32_t n)
{
	uint32_t i;
	int bad = 0;

	for (i = 0; i < n; i++)
		if (slab_put(d, c, node, objs[i]) < 0)
			bad = 1;
	return bad;
}

/*
 * Damage found in client-writable memory is reported (log line naming the cache, node or
 * CPU and the structure, and a counter in the VERIFY reply) and then repaired or
 * quarantined, never followed:
 *   - a depot stack head out of range, or whose top magazine is not plausible: the head
 *     is reset to empty; the magazines that were on it are left alone (quarantined);
 *   - a magazine popped with an impossible count or an entry that is not an object of its
 *     cache and node: nothing in it is taken, it is not reused (a corrupt link can hand
 *     us another cache's magazine, or one a client holds), and its stack is reset;
 *   - a per-CPU or remote-free stack count above SLABD_PCPU_SLOTS: reset to 0 with a CAS
 *     (no client sequence commits on such a count: they all check it first);
 *   - single offsets (free chains, per-CPU slots): slab_put drops what is not an object.
 * Quarantined memory is lost until the daemon restarts: the price of not trusting it.
 */
static void stack_reset(struct slabd *d, struct cache *c, uint32_t node, uint64_t *head,
			const char *which, const char *why)
{
	uint64_t old = __atomic_load_n(head, __ATOMIC_ACQUIRE), seen = old;

	while (!__atomic_compare_exchange_n(head, &old, slabd_stack_make(old, 0, 0), 1,
					    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		;
	STAT_INC(d, bad_stacks);
	log_warn_limited("cache %s node %u: depot %s stack corrupt (%s; head %#llx): reset to "
			 "empty, the magazines "
			 "on it quarantined",
			 c->shm->name, node, which, why, (unsigned long long)seen);
}

/* Empty a magazine popped from client-writable memory back into the slabs; 0, or
 * -EBADMSG when it was quarantined instead (the caller resets the stack it came from). */
static int mag_return(struct slabd *d, struct cache *c, uint32_t node, struct slabd_shm_mag *m,
		      const char *which)
{
	uint64_t objs[SLABD_MAG_SLOTS];
	uint32_t n = __atomic_load_n(&m->count, __ATOMIC_RELAXED), i;

	if (n > SLABD_MAG_SLOTS) {
		STAT_INC(d, bad_mags);
		log_warn_limited("cache %s: magazine %ld from the depot's %s stack has count %u (> "
				 "%u); quarantined",
				 c->shm->name, (long)(m - d->mags), which, n, SLABD_MAG_SLOTS);
		goto quarantine;
	}
	memcpy(objs, m->objs, n * sizeof(objs[0])); /* one snapshot: checked is what is used */
	for (i = 0; i < n; i++)
		if (slab_check(d, c, node, objs[i]) == -EINVAL) {
			STAT_INC(d, bad_objects);
			log_warn_limited("cache %s node %u: magazine %ld from the depot's %s stack "
					 "holds %#llx, which "
					 "is not one of its objects; quarantined",
					 c->shm->name, node, (long)(m - d->mags), which,
					 (unsigned long long)objs[i]);
			goto quarantine;
		}
	return_objects(d, c, node, objs, n); /* a double free among them is counted and dropped */
	slabd_mag_set_count(m, 0);
	slabd_stack_push(&d->ctl->empty_mags, d->mags, m);
	return 0;
quarantine:
	STAT_INC(d, quarantined);
	return -EBADMSG;
}

/*
 * depot_check: look at the head of a depot stack and its top magazine (each round, for
 * every cache, before anything is pushed on it). The head must be in range, its count
 * must agree with it being empty or not, and the top magazine must hold a possible count,
 * an in-range link and objects of (c, node) only. The magazine is read while clients may
 * pop it: the verdict counts only if the head (with its ABA tag) did not move meanwhile.
 */
static void depot_check(struct slabd *d, struct cache *c, uint32_t node, uint64_t *head,
			const char *which)
{
	uint64_t h = __atomic_load_n(head, __ATOMIC_ACQUIRE), objs[SLABD_MAG_SLOTS];
	uint32_t top = slabd_stack_top(h), cnt = slabd_stack_count(h), n, i;
	const char *why = NULL;

	if (!top && !cnt)
		return;
	if (top > d->sb->nr_mags)
		why = "top magazine index out of range";
	else if (cnt > d->sb->nr_mags)
		why = "magazine count out of range";
	else if (!top)
		why = "a count but no magazine";
	else if (!cnt)
		why = "a magazine but a count of 0";
	if (!why) {
		struct slabd_shm_mag *m = &d->mags[top - 1];
		n = __atomic_load_n(&m->count, __ATOMIC_RELAXED);
		if (n > SLABD_MAG_SLOTS)
			why = "its top magazine has an impossible count";
		else if (__atomic_load_n(&m->next, __ATOMIC_RELAXED) > d->sb->nr_mags)
			why = "its top magazine links out of range";
		else {
			memcpy(objs, m->objs, n * sizeof(objs[0]));
			for (i = 0; i < n && !why; i++)
				if (slab_check(d, c, node, objs[i]) == -EINVAL)
					why = "its top magazine holds something that is not one of "
					      "its objects";
		}
		if (why && __atomic_load_n(head, __ATOMIC_ACQUIRE) != h)
			return; /* it moved while we looked: look again next round */
	}
	if (why)
		stack_reset(d, c, node, head, which, why);
}

/* Take the free chain at @head (a depot's of @c on @node) and walk it: each link is read
 * only after its object was validated, and the walk stops at the first bad one. The
 * take and each step are journaled (persist.c), so a daemon killed halfway finishes the
 * walk at its restart instead of losing the rest of the chain. */
static void collect_chain(struct slabd *d, struct cache *c, uint32_t node, uint64_t *head)
{
	uint64_t limit = (uint64_t)c->objs * c->nodes[node].nr_slabs + 1;
	uint64_t off = persist_chain_take(d, node, head, c->id, node);

	while (off && limit--) {
		uint64_t next = 0;

		/* The link is read only from an object of this cache: an offset merely inside
		 * the zones may be one whose 8 bytes run past the region's end (a crash), or
		 * a chunk given back to the kernel (hugetlb: a fault with no hugepage left). */
		if (slab_check(d, c, node, off) == 0)
			next = __atomic_load_n((uint64_t *)(d->base + off), __ATOMIC_RELAXED);
		if (slab_put(d, c, node, off) < 0)
			break; /* the rest of the chain cannot be trusted: leave it */
		persist_chain_step(d, node, next);
		off = next;
	}
	persist_chain_done(d, node); /* also after a bad link: the rest is left, as before */
}

/*
 * empty_pop: an empty magazine for the daemon to fill, NULL when none. Everyone pushes
 * magazines on the empty stack with count 0; one with another count was put there by a
 * corrupt link (it may be a magazine in use elsewhere): quarantined, never filled. The
 * stack itself is not reset: every cache depends on it.
 */
static struct slabd_shm_mag *empty_pop(struct slabd *d)
{
	int tries;

	for (tries = 0; tries < 8; tries++) {
		struct slabd_shm_mag *m =
		    slabd_stack_pop(&d->ctl->empty_mags, d->mags, d->sb->nr_mags);
		uint32_t n;

		if (!m)
			return NULL;
		n = __atomic_load_n(&m->count, __ATOMIC_RELAXED);
		if (!n)
			return m;
		STAT_INC(d, bad_stacks);
		STAT_INC(d, quarantined);
		log_warn_limited(
		    "the empty-magazine stack held magazine %ld with count %u: corrupt link; "
		    "that magazine is quarantined",
		    (long)(m - d->mags), n);
	}
	return NULL;
}

/* Fill the tagged stack at @head with magazines until it holds @target. 0, or -ENOMEM
 * when the zone has no pages left, -ENOSPC when no empty magazine is left. */
static int stack_fill(struct slabd *d, struct cache *c, uint32_t node, uint64_t *head, uint32_t target)
{
	uint32_t guard = target + 1;

	while (slabd_stack_count(__atomic_load_n(head, __ATOMIC_ACQUIRE)) < target && guard--) {
		struct slabd_shm_mag *m = empty_pop(d);
		uint32_t n;

		if (!m) {
			log_warn_limited("cache %s node %u: no empty magazine left for a refill "
					 "(%u in all, %llu "
					 "quarantined): the others are on depot stacks, held by "
					 "clients or lost to "
					 "damage; if this persists, restart slabd",
					 c->shm->name, node, d->sb->nr_mags,
					 (unsigned long long)__atomic_load_n(&d->stats.quarantined,
									     __ATOMIC_RELAXED));
			return -ENOSPC;
		}
		n = slab_take(d, c, node, m->objs, c->mag_objs);
		if (!n) {
			slabd_stack_push(&d->ctl->empty_mags, d->mags, m);
			return -ENOMEM;
		}
		slabd_mag_set_count(m, n);
		slabd_stack_push(head, d->mags, m);
	}
	STAT_INC(d, refills);
	return 0;
}

/* Take magazines off the stack at @head (a depot's full or reserve stack) until it
 * holds @target. */
static void stack_trim(struct slabd *d, struct cache *c, uint32_t node, uint64_t *head,
		       uint32_t target, const char *which)
{
	uint32_t guard = d->sb->nr_mags;

	while (slabd_stack_count(__atomic_load_n(head, __ATOMIC_ACQUIRE)) > target && guard--) {
		struct slabd_shm_mag *m = slabd_stack_pop(head, d->mags, d->sb->nr_mags);
		if (!m) {
			uint64_t h = __atomic_load_n(head, __ATOMIC_ACQUIRE);
			if (slabd_stack_top(h) > d->sb->nr_mags ||
			    (!slabd_stack_top(h) && slabd_stack_count(h)))
				stack_reset(d, c, node, head, which,
					    "a count but no magazine to pop");
			break;
		}
		if (mag_return(d, c, node, m, which) < 0) {
			stack_reset(d, c, node, head, which,
				    "a magazine on it was not what it claimed");
			break;
		}
	}
	STAT_INC(d, reclaims);
}

static void depot_trim(struct slabd *d, struct cache *c, uint32_t node, uint32_t target)
{
	stack_trim(d, c, node, &daemon_depot(d, c->id, node)->full, target, "full");
}

static int obj_home(struct slabd *d, uint64_t off, struct cache **ret_c, uint32_t *ret_node);

/* Objects of a DMA cache drained on a CPU of another node than the cache's home: hand
 * them to the home depot (its worker owns the slabs), as a client's remote free would.
 * They came from client-writable memory: only objects of @c are kept. */
static void give_home(struct slabd *d, struct cache *c, uint32_t home, uint64_t *objs, uint32_t n)
{
	struct slabd_shm_depot *dp = daemon_depot(d, c->id, home);
	struct slabd_shm_mag *m;
	uint32_t i, k = 0;

	for (i = 0; i < n; i++) {
		struct cache *oc;
		uint32_t on;

		if (obj_home(d, objs[i], &oc, &on) == 0 && oc == c && on == home)
			objs[k++] = objs[i];
		else
			STAT_INC(d, bad_objects);
	}
	if (!k)
		return;
	m = slabd_stack_pop(&d->ctl->empty_mags, d->mags, d->sb->nr_mags);
	if (m) {
		memcpy(m->objs, objs, k * sizeof(objs[0]));
		slabd_mag_set_count(m, k);
		slabd_stack_push(&dp->full, d->mags, m);
		return;
	}
	for (i = 0; i + 1 < k; i++)
		__atomic_store_n((uint64_t *)(d->base + objs[i]), objs[i + 1], __ATOMIC_RELAXED);
	slabd_chain_push(&dp->freelist, d->base, objs[0], objs[k - 1]);
}

/* Pop everything the stack of (@c, @cpu) holds back into the slabs; the caller runs on
 * @cpu (or the sequences simply pop another CPU's stack, which is harmless). */
static void drain_stack(struct slabd *d, struct cache *c, uint32_t node)
{
	char *base = d->pcpu + ((uint64_t)c->id * d->sb->nr_cpus << SLABD_PCPU_SHIFT);
	uint64_t buf[SLABD_MAG_SLOTS];
	uint32_t home = cache_home_node(d, c, node);
	unsigned int n;

	while ((n = percpu_pop_bulk(worker_roff, d->sb->nr_cpus, base, buf, SLABD_MAG_SLOTS)) > 0) {
		if (home == node)
			return_objects(d, c, node, buf, n);
		else
			give_home(d, c, home, buf, n);
	}
}

/* The cache and zone node of the object at @off, read from the page table; -1 when @off
 * (from client-writable memory) is not the start of an object of a live cache: on an
 * object boundary of its slab and before the slab's tail (a multiple of the size past
 * the last object is no object: its bytes would run into the next page), and not in a
 * pool's held-back tail. Only the page table is read, never another node's slabs (their
 * worker may free them meanwhile). */
static int obj_home(struct slabd *d, uint64_t off, struct cache **ret_c, uint32_t *ret_node)
{
	uint64_t zoff = off - d->sb->zones_off, head, in_slab;
	const struct slabd_shm_page *pg;
	struct cache *c;

	if (off < d->sb->zones_off || zoff >= d->sb->zones_size)
		return -1;
	pg = &d->pages[zoff >> SLABD_PAGE_SHIFT];
	c = pg->kind == SLABD_PAGE_SLAB && pg->cache < d->sb->max_caches ? cache_get(d, pg->cache) : NULL;
	head = __atomic_load_n(&pg->head, __ATOMIC_RELAXED);
	if (!c || pg->zone >= d->nr_zones || head > zoff >> SLABD_PAGE_SHIFT)
		return -1;
	in_slab = zoff - (head << SLABD_PAGE_SHIFT);
	if (in_slab % c->size || in_slab / c->size >= c->objs ||
	    (c->phantom && head == c->phantom_head && in_slab / c->size >= c->phantom_from))
		return -1;
	*ret_c = c;
	*ret_node = d->zone_tab[pg->zone].node;
	return 0;
}

/*
 * remote_flush_here: send home what the remote-free stack of the CPU this thread runs on
 * holds (objects of other nodes freed there): in magazines on their home depots, grouped
 * by cache and node. Without an empty magazine the rest waits for the next flush. The
 * home node's worker or its CPUs' misses take them from the depot; nothing here touches
 * another node's slabs (only that node's worker does).
 */
static void remote_flush_here(struct slabd *d)
{
	uint64_t buf[SLABD_PCPU_SLOTS];
	unsigned int n, i, k, got;

	if (worker_roff == -1)
		return;
	n = percpu_pop_bulk(worker_roff, d->sb->nr_cpus, d->remote, buf, SLABD_PCPU_SLOTS);
	while (n) {
		struct slabd_shm_mag *m = empty_pop(d);
		struct cache *c;
		uint32_t node;

		if (obj_home(d, buf[0], &c, &node) < 0) {
			STAT_INC(d, bad_objects);
			log_warn_limited("remote-free stack: offset %#llx is not an object; dropped",
					 (unsigned long long)buf[0]);
			memmove(buf, buf + 1, --n * sizeof(buf[0]));
			if (m)
				slabd_stack_push(&d->ctl->empty_mags, d->mags, m);
			continue;
		}
		if (!m) {
			/* No magazine: back on the stack for the next flush; what does not fit
			 * (others pushed meanwhile) goes on its home depot's free chain. */
			i = percpu_push_bulk(worker_roff, d->sb->nr_cpus, d->remote, buf, n);
			for (; i < n; i++)
				if (obj_home(d, buf[i], &c, &node) == 0)
					slabd_chain_push(&daemon_depot(d, c->id, node)->freelist, d->base, buf[i],
							 buf[i]);
			return;
		}
		/* this magazine takes the objects of (c, node), as many as fit */
		for (i = 0, k = 0, got = 0; i < n; i++) {
			struct cache *ci;
			uint32_t ni;
			if (got < c->mag_objs && obj_home(d, buf[i], &ci, &ni) == 0 && ci == c && ni == node)
				m->objs[got++] = buf[i];
			else
				buf[k++] = buf[i];
		}
		slabd_mag_set_count(m, got);
		n = k;
		slabd_stack_push(&daemon_depot(d, c->id, node)->full, d->mags, m);
	}
}

static int run_on_cpu(uint32_t cpu);

void remote_flush_node(struct slabd *d, uint32_t node, void *arg)
{
	cpu_set_t old;
	uint32_t cpu;

	(void)arg;
	sched_getaffinity(0, sizeof(old), &old);
	for (cpu = 0; cpu < d->sb->nr_cpus; cpu++)
		if (d->cpus[cpu].node == node && d->topo.cpu_real[cpu] && run_on_cpu(cpu) == 0)
			remote_flush_here(d);
	sched_setaffinity(0, sizeof(old), &old);
}

/* Move this thread onto @cpu; 0, or -1 when the CPU is not ours to run on. */
static int run_on_cpu(uint32_t cpu)
{
	cpu_set_t one;

	if (cpu >= CPU_SETSIZE)
		return -1;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	return sched_setaffinity(0, sizeof(one), &one) < 0 ? -1 : 0;
}

/* Run on each CPU of @node and pop everything its per-CPU stacks hold (of cache @only,
 * or of every cache when @only is NULL). */
static void drain_cpus(struct slabd *d, uint32_t node, struct cache *only)
{
	cpu_set_t old;
	uint32_t cpu, id;

	if (worker_roff == -1)
		return; /* no rseq area: worker_rseq_setup said so */
	sched_getaffinity(0, sizeof(old), &old);
	for (cpu = 0; cpu < d->sb->nr_cpus; cpu++) {
		/* the DMA zone's node also drains its caches on every other node's CPUs: their
		 * objects can be anywhere, and a pool's exhaustion must count them */
		int own = d->cpus[cpu].node == node;
		int dma_home = d->dma_zone != SLABD_NO_ZONE && d->zone_tab[d->dma_zone].node == node;

		if (!(own || dma_home) || !d->topo.cpu_real[cpu] || run_on_cpu(cpu) < 0)
			continue;
		for (id = 0; id < d->sb->max_caches; id++) {
			struct cache *c = cache_get(d, id);
			if (c && (!only || c == only) && (own || c->shm->zone_kind == SLABD_ZONE_DMA))
				drain_stack(d, c, node);
		}
		remote_flush_here(d);
	}
	sched_setaffinity(0, sizeof(old), &old);
	STAT_INC(d, drains);
}

/*
 * tune_cpus: every period_ms, for each per-CPU stack of this node's CPUs:
 *  - misses both ways since the last look (it ran dry and overflowed): one magazine more
 *    capacity, up to pcpu_cap_max;
 *  - ten looks without a miss: one magazine less, down to pcpu_cap_default;
 *  - no visible change (count, top object, misses) for idle_drain_ms: drain it, running
 *    on that CPU, so an idle CPU does not sit on memory.
 */
/* A per-CPU stack's count above SLABD_PCPU_SLOTS: every client sequence checks the count
 * before it commits, so none can commit on this value: a CAS puts it to 0 safely. */
static void pcpu_reset(struct slabd *d, uint32_t *count, uint32_t seen, const char *name,
		       uint32_t cpu)
{
	if (!__atomic_compare_exchange_n(count, &seen, 0, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return; /* changed meanwhile: look again next time */
	STAT_INC(d, bad_pcpu);
	log_warn_limited(
	    "cache %s CPU %u: per-CPU stack count %u is corrupt (> %u): reset to 0, its entries "
	    "dropped",
	    name, cpu, seen, SLABD_PCPU_SLOTS);
}

/* The remote-free stack of @cpu, unchanged for idle_drain_ms, is sent home from that CPU
 * (a busy CPU sends it home itself, on its next allocation miss or when it is full). */
static void tune_remote(struct slabd *d, uint32_t cpu, uint32_t period_ms, cpu_set_t *old, int *moved)
{
	struct slabd_shm_pcpu *r = (void *)(d->remote + ((uint64_t)cpu << SLABD_PCPU_SHIFT));
	struct pcpu_track *t = &d->remote_track[cpu];
	uint32_t count = __atomic_load_n(&r->count, __ATOMIC_RELAXED);
	uint64_t top;

	if (count > SLABD_PCPU_SLOTS) {
		pcpu_reset(d, &r->count, count, "(remote frees)", cpu);
		count = 0;
	}
	top = count ? __atomic_load_n(&r->slots[count - 1], __ATOMIC_RELAXED) : 0;
	t->idle_ms = count && count == t->count && top == t->top ? t->idle_ms + period_ms : 0;
	if (t->idle_ms >= __atomic_load_n(&d->cfg.idle_drain_ms, __ATOMIC_RELAXED) &&
	    worker_roff != -1 && d->topo.cpu_real[cpu]) {
		if (!*moved) {
			sched_getaffinity(0, sizeof(*old), old);
			*moved = 1;
		}
		if (run_on_cpu(cpu) == 0)
			remote_flush_here(d);
		t->idle_ms = 0;
		count = 0;
		top = 0;
	}
	t->count = count;
	t->top = top;
}

static void tune_cpus(struct slabd *d, uint32_t node, uint32_t period_ms)
{
	cpu_set_t old;
	uint32_t cpu, id;
	int moved = 0;

	for (cpu = 0; cpu < d->sb->nr_cpus; cpu++) {
		if (d->cpus[cpu].node != node)
			continue;
		for (id = 1; id < d->sb->max_caches; id++) {
			struct cache *c = cache_get(d, id);
			struct slabd_shm_pcpu *p;
			struct slabd_shm_pcpu_stat *st;
			struct pcpu_track *t;
			uint32_t am, fm, count, cap;
			uint64_t top;
			int debug;

			if (!c || __atomic_load_n(&c->dying, __ATOMIC_ACQUIRE))
				continue;
			p = (void *)(d->pcpu + ((uint64_t)id * d->sb->nr_cpus << SLABD_PCPU_SHIFT) +
				     ((uint64_t)cpu << SLABD_PCPU_SHIFT));
			st = &d->pcpu_stats[slabd_shm_pcpu_stat_index(d->sb->max_caches, id, cpu)];
			t = &c->track[cpu];
			am = __atomic_load_n(&st->alloc_misses, __ATOMIC_RELAXED);
			fm = __atomic_load_n(&st->free_misses, __ATOMIC_RELAXED);
			count = __atomic_load_n(&p->count, __ATOMIC_RELAXED);
			if (count > SLABD_PCPU_SLOTS) {
				/* corrupt: nothing in it can be trusted; reset it */
				pcpu_reset(d, &p->count, count, c->shm->name, cpu);
				count = 0;
			}
			top = count ? __atomic_load_n(&p->slots[count - 1], __ATOMIC_RELAXED) : 0;
			cap = __atomic_load_n(&p->capacity, __ATOMIC_RELAXED);

			if (am != t->alloc_misses && fm != t->free_misses) {
				cap = cap + c->mag_objs > c->pcpu_cap_max ? c->pcpu_cap_max : cap + c->mag_objs;
				t->quiet = 0;
			} else if (am == t->alloc_misses && fm == t->free_misses) {
				if (++t->quiet >= 10 && cap > c->pcpu_cap_default) {
					cap = cap - c->mag_objs < c->pcpu_cap_default ? c->pcpu_cap_default
										      : cap - c->mag_objs;
					t->quiet = 0;
				}
			} else {
				t->quiet = 0;
			}
			if (cap < c->pcpu_cap_default || cap > c->pcpu_cap_max)
				cap = c->pcpu_cap_default; /* a client wrote it: put it right */
			debug = __atomic_load_n(&c->shm->debug, __ATOMIC_RELAXED) != 0;
			if (debug)
				cap = 0; /* debug mode: every call takes the slow path (debug.c) */
			__atomic_store_n(&p->capacity, cap, __ATOMIC_RELAXED);

			if (count && count == t->count && top == t->top && am == t->alloc_misses &&
			    fm == t->free_misses)
				t->idle_ms += period_ms;
			else
				t->idle_ms = 0;
			if ((t->idle_ms >= __atomic_load_n(&d->cfg.idle_drain_ms, __ATOMIC_RELAXED) ||
			     (debug && count)) &&
			    worker_roff != -1 && d->topo.cpu_real[cpu]) {
				if (!moved) {
					sched_getaffinity(0, sizeof(old), &old);
					moved = 1;
				}
				if (run_on_cpu(cpu) == 0) {
					drain_stack(d, c, node);
					STAT_INC(d, drains);
				}
				t->idle_ms = 0;
				count = __atomic_load_n(&p->count, __ATOMIC_RELAXED);
				top = 0;
			}
			t->alloc_misses = am;
			t->free_misses = fm;
			t->count = count;
			t->top = top;
		}
		tune_remote(d, cpu, period_ms, &old, &moved);
	}
	if (moved)
		sched_setaffinity(0, sizeof(old), &old);
}

static void wake_depot(struct slabd_shm_depot *dp)
{
	__atomic_fetch_add(&dp->seq, 1, __ATOMIC_RELEASE);
	if (__atomic_load_n(&dp->waiters, __ATOMIC_RELAXED))
		slabd_futex_wake(&dp->seq);
}

/* Refill (c, node) for a waiting or running-low depot; on failure free up pages. */
static int depot_refill(struct slabd *d, struct cache *c, uint32_t node)
{
	struct slabd_shm_depot *dp = daemon_depot(d, c->id, node);
	uint32_t target = c->nodes[node].target;
	int r = stack_fill(d, c, node, &dp->full, target);
	uint32_t id;

	if (r == -ENOMEM) {
		/* Pages are short: empty slabs of every cache on this node go back first. */
		for (id = 0; id < d->sb->max_caches; id++)
			if (cache_get(d, id))
				slab_release_free(d, cache_get(d, id), node, 0);
		r = stack_fill(d, c, node, &dp->full, target);
	}
	if (r == 0)
		stack_fill(d, c, node, &dp->reserve, c->reserve);
	return r;
}

void node_drain(struct slabd *d, uint32_t node, void *arg)
{
	uint32_t id;

	(void)arg;
	drain_cpus(d, node, NULL);
	for (id = 0; id < d->sb->max_caches; id++) {
		struct cache *c = cache_get(d, id);
		if (!c)
			continue;
		collect_chain(d, c, node, &daemon_depot(d, id, node)->freelist);
	}
}

/* (@c, @node) is idle until its next miss: its next round does not refill the depot just
 * emptied (a stale want, left by an allocation that has failed and returned, goes too). */
static void node_quiet(struct slabd *d, struct cache *c, uint32_t node)
{
	struct cache_node *cn = &c->nodes[node];
	struct slabd_shm_depot *dp = daemon_depot(d, c->id, node);

	cn->target = c->target_min;
	cn->active = 0;
	cn->decays = 0;
	cn->leftover_ms = 0;
	cn->demand_ms = monotonic_ms();
	cn->last_misses = __atomic_load_n(&dp->misses, __ATOMIC_RELAXED);
	if (!__atomic_load_n(&dp->waiters, __ATOMIC_RELAXED))
		__atomic_store_n(&dp->want, 0, __ATOMIC_RELEASE);
}

void node_reclaim(struct slabd *d, uint32_t node, void *arg)
{
	uint32_t id;

	(void)arg;
	drain_cpus(d, node, NULL);
	for (id = 0; id < d->sb->max_caches; id++) {
		struct cache *c = cache_get(d, id);
		struct slabd_shm_depot *dp;
		if (!c)
			continue;
		dp = daemon_depot(d, id, node);
		depot_trim(d, c, node, 0);
		/* A reserve can pin as many slabs as it has objects: the reserves of caches
		 * nobody waits on go back too, and are rebuilt with their next refill. The
		 * starving caches keep theirs (their sleepers may have just left: waiters
		 * alone would not say so). */
		if (!c->nodes[node].starving && !__atomic_load_n(&dp->waiters, __ATOMIC_RELAXED)) {
			stack_trim(d, c, node, &dp->reserve, 0, "reserve");
			/* and its depot stays empty until someone asks: an active cache's
			 * next round would otherwise refill it to its target (which a
			 * burst may have grown to the whole zone) from the very pages this
			 * reclaim is for, before the starving cache or the page
			 * allocation that asked for it gets them */
			if (!c->max_objs)
				node_quiet(d, c, node);
		}
		slab_release_free(d, c, node, 0);
	}
}

/*
 * A cache without demand gives its depot's magazines and its empty slabs back. Its
 * emergency reserve stays (GFP_ATOMIC callers count on it while the daemon is away),
 * unless retain_free = 0 asked to keep nothing free: then it goes too, and is rebuilt by
 * the cache's next refill.
 */
static void idle_shrink(struct slabd *d, struct cache *c, uint32_t node)
{
	struct slabd_shm_depot *dp = daemon_depot(d, c->id, node);

	depot_trim(d, c, node, 0);
	if (!__atomic_load_n(&d->cfg.retain_free, __ATOMIC_RELAXED) &&
	    !__atomic_load_n(&dp->waiters, __ATOMIC_RELAXED))
		stack_trim(d, c, node, &dp->reserve, 0, "reserve");
	slab_release_free(d, c, node, 0);
}

uint32_t depot_target_grown(const struct cache *c, uint32_t target)
{
	if (target >= c->target_max)
		return target;
	return target * 2 > c->target_max ? c->target_max : target * 2;
}

uint32_t depot_target_decayed(const struct cache *c, uint32_t target)
{
	/* Halve, but not below the floor: the target doubles from target_min but is capped
	 * at target_max, which need not be a power of two times it (3, 7, ...), so a plain
	 * halving of such a target went under target_min (3 -> 1). */
	return target / 2 < c->target_min ? c->target_min : target / 2;
}

int worker_round(struct slabd *d, uint32_t node, uint64_t *ret_next_ms)
{
	uint64_t now = monotonic_ms();
	uint32_t id;
	int starving = 0, active = 0;

	for (id = 0; id < d->sb->max_caches; id++) {
		struct cache *c = cache_get(d, id);
		struct cache_node *cn;
		struct slabd_shm_depot *dp;
		uint32_t misses, count;
		int want;

		if (!c || __atomic_load_n(&c->dying, __ATOMIC_ACQUIRE) || cache_home_node(d, c, node) != node)
			continue;
		cn = &c->nodes[node];
		dp = daemon_depot(d, id, node);
		depot_check(d, c, node, &dp->full, "full");
		depot_check(d, c, node, &dp->reserve, "reserve");

		collect_chain(d, c, node, &dp->freelist);

		misses = __atomic_load_n(&dp->misses, __ATOMIC_RELAXED);
		want = __atomic_exchange_n(&dp->want, 0, __ATOMIC_ACQ_REL) != 0;
		count = slabd_stack_count(__atomic_load_n(&dp->full, __ATOMIC_ACQUIRE));
		if (want || misses != cn->last_misses) {
			/* A client found the depot empty: the refills were too small for its
			 * rate. Grow the batch, as the kernel grows a cache's batchcount. */
			if (want && !count)
				cn->target = depot_target_grown(c, cn->target);
			cn->active = 1;
			cn->demand_ms = now;
			cn->decays = 0;
			cn->last_misses = misses;
			cn->leftover_ms = 0;
		} else if (cn->active && now - cn->demand_ms >= (uint64_t)(cn->decays + 1) * IDLE_MS_PER_DECAY &&
			   now - cn->demand_ms <= IDLE_MS_BEFORE_SHRINK) {
			/* a second more without demand: half the batch */
			cn->decays++;
			cn->target = depot_target_decayed(c, cn->target);
		} else if (cn->active && now - cn->demand_ms > IDLE_MS_BEFORE_SHRINK && !c->max_objs) {
			/* Idle: the depot's magazines and the empty slabs go back (a pool keeps
			 * its buffers in the depot: its memory serves nobody else). */
			cn->active = 0;
			cn->target = c->target_min;
			idle_shrink(d, c, node);
			continue;
		}
		if (!cn->active) {
			/* Frees that come after the shrink (full magazines pushed by freeing
			 * CPUs, drained per-CPU stacks, free chains) land in an idle cache:
			 * they go back after the same delay, or they would stay until its
			 * next demand. */
			if (!c->max_objs && (count || cn->free.nr)) {
				if (!cn->leftover_ms) {
					cn->leftover_ms = now;
				} else if (now - cn->leftover_ms > IDLE_MS_BEFORE_SHRINK) {
					idle_shrink(d, c, node);
					cn->leftover_ms = 0;
					continue;
				}
				if (cn->leftover_ms + IDLE_MS_BEFORE_SHRINK + 1 < *ret_next_ms)
					*ret_next_ms = cn->leftover_ms + IDLE_MS_BEFORE_SHRINK + 1;
			}
			continue;
		}
		/* Demand within the last second: watched every worker_interval_ms. Quieter:
		 * only its next decay or its shrink is due (pools never shrink). */
		if (now - cn->demand_ms < IDLE_MS_PER_DECAY) {
			active++;
		} else {
			uint64_t due = cn->demand_ms + (now - cn->demand_ms <= IDLE_MS_BEFORE_SHRINK
								? (uint64_t)(cn->decays + 1) * IDLE_MS_PER_DECAY
								: IDLE_MS_BEFORE_SHRINK + 1);
			if (c->max_objs && now - cn->demand_ms > IDLE_MS_BEFORE_SHRINK)
				due = UINT64_MAX;
			if (due < *ret_next_ms)
				*ret_next_ms = due;
		}

		if (want || count < (cn->target + 1) / 2) {
			int r = depot_refill(d, c, node);
			if (r < 0 && __atomic_load_n(&dp->waiters, __ATOMIC_SEQ_CST)) {
				/* Sleepers are woken after the drain below has had its go: a
				 * __GFP_NORETRY caller's one round includes it. */
				starving = 1;
				cn->starving = 1;
			} else {
				if (r < 0)
					__atomic_or_fetch(&dp->flags, SLABD_DEPOT_EXHAUSTED, __ATOMIC_RELEASE);
				else
					__atomic_and_fetch(&dp->flags, ~SLABD_DEPOT_EXHAUSTED, __ATOMIC_RELEASE);
				wake_depot(dp);
			}
		} else if (count > 3 * cn->target) {
			depot_trim(d, c, node, cn->target);
		}
		slab_release_free(d, c, node, 1);
	}

	if (node == 0) {
		uint64_t off = persist_chain_take(d, SLABD_MAX_NODES, &d->ctl->large_free, 0, 0);
		uint32_t guard = d->sb->nr_pages;
		while (off && guard--) {
			uint64_t next = 0;
			/* (page-aligned: the link of a large allocation's first page; past its
			 * start 8 bytes may run off the end of the region) */
			if (off >= d->sb->zones_off && off - d->sb->zones_off < d->sb->zones_size &&
			    !(off & (SLABD_PAGE_SIZE - 1)) &&
			    __atomic_load_n(
				&d->pages[(off - d->sb->zones_off) >> SLABD_PAGE_SHIFT].kind,
				__ATOMIC_ACQUIRE) == SLABD_PAGE_LARGE)
				next = __atomic_load_n((uint64_t *)(d->base + off), __ATOMIC_RELAXED);
			if (large_free(d, off) < 0)
				break;
			persist_chain_step(d, SLABD_MAX_NODES, next);
			off = next;
		}
		persist_chain_done(d, SLABD_MAX_NODES);
	}

	if (starving) {
		/* Sleepers and no pages: what sits in per-CPU stacks and depots is all there
		 * is. Bring it back and try again. */
		node_reclaim(d, node, NULL);
		for (id = 0; id < d->sb->max_caches; id++) {
			struct cache *c = cache_get(d, id);
			struct slabd_shm_depot *dp;
			if (!c)
				continue;
			dp = daemon_depot(d, id, node);
			if (!c->nodes[node].starving)
				continue;
			c->nodes[node].starving = 0;
			if (depot_refill(d, c, node) == 0)
				__atomic_and_fetch(&dp->flags, ~SLABD_DEPOT_EXHAUSTED, __ATOMIC_RELEASE);
			else
				__atomic_or_fetch(&dp->flags, SLABD_DEPOT_EXHAUSTED, __ATOMIC_RELEASE);
			wake_depot(dp);
		}
	}
	return active + starving;
}

/* Everything of @c on @node back into its slabs: per-CPU stacks, depot stacks, free
 * chain. Returns the objects still allocated (or in magazines held by clients). */
static uint64_t gather(struct slabd *d, uint32_t node, struct cache *c, int drain)
{
	struct slabd_shm_depot *dp = daemon_depot(d, c->id, node);
	struct cache_node *cn = &c->nodes[node];

	if (drain)
		drain_cpus(d, node, c);
	stack_trim(d, c, node, &dp->full, 0, "full");
	stack_trim(d, c, node, &dp->reserve, 0, "reserve");
	collect_chain(d, c, node, &dp->freelist);
	return (uint64_t)cn->nr_slabs * c->objs - cn->held;
}

uint64_t cache_gather(struct slabd *d, uint32_t node, struct cache *c)
{
	return gather(d, node, c, 1);
}

uint64_t cache_gather_depot(struct slabd *d, uint32_t node, struct cache *c)
{
	return gather(d, node, c, 0);
}

void cache_drain_node(struct slabd *d, uint32_t node, void *arg)
{
	struct cache *c = arg;

	/* A tune round of this worker that read the cache's debug word just before the
	 * switch may have stored a capacity after the switch's 0, keeping the fast path on
	 * for a period. This job runs on the same thread after that round: 0 again. */
	if (__atomic_load_n(&c->shm->debug, __ATOMIC_ACQUIRE))
		cache_set_capacity(d, c, 0);
	drain_cpus(d, node, c);
}

void cache_shrink_node(struct slabd *d, uint32_t node, void *arg)
{
	struct cache_op_result *res = arg;
	struct cache *c = res->c;

	res->live += cache_gather(d, node, c);
	res->bytes += (uint64_t)slab_release_free(d, c, node, 0) << (SLABD_PAGE_SHIFT + c->order);
	/* Idle until the next miss: otherwise the next round would refill the depot at once. */
	node_quiet(d, c, node);
}

void worker_call(struct slabd *d, uint32_t node, void (*fn)(struct slabd *d, uint32_t node, void *arg),
		 void *arg)
{
	struct worker_slot *w = &d->wslot[node];
	struct worker_job job = { fn, arg, 0 };

	pthread_mutex_lock(&w->lock);
	while (w->job)
		pthread_cond_wait(&w->cond, &w->lock);
	w->job = &job;
	pthread_mutex_unlock(&w->lock);
	__atomic_fetch_add(&d->ctl->kick, 1, __ATOMIC_RELEASE);
	slabd_futex_wake(&d->ctl->kick);
	pthread_mutex_lock(&w->lock);
	while (!job.done)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

static void run_job(struct slabd *d, uint32_t node)
{
	struct worker_slot *w = &d->wslot[node];

	pthread_mutex_lock(&w->lock);
	if (w->job) {
		w->job->fn(d, node, w->job->arg);
		w->job->done = 1;
		w->job = NULL;
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
}

static void *worker_main(void *arg)
{
	struct worker_arg *wa = arg;
	struct slabd *d = wa->d;
	uint64_t last_tune, next_release, next_flush;
	char name[16];

	snprintf(name, sizeof(name), "slabd-node%u", wa->node);
	pthread_setname_np(pthread_self(), name);
	worker_rseq_setup();
	if (!(d->nodes[wa->node].flags & SLABD_NODE_SIMULATED)) {
		cpu_set_t set;
		uint32_t cpu;
		CPU_ZERO(&set);
		for (cpu = 0; cpu < d->sb->nr_cpus && cpu < CPU_SETSIZE; cpu++)
			if (d->cpus[cpu].node == wa->node && d->topo.cpu_real[cpu])
				CPU_SET(cpu, &set);
		if (CPU_COUNT(&set))
			sched_setaffinity(0, sizeof(set), &set);
	}
	last_tune = next_release = next_flush = monotonic_ms();
	while (!__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE)) {
		uint32_t kick = __atomic_load_n(&d->ctl->kick, __ATOMIC_ACQUIRE), sleep_ms,
			 idle_drain_ms;
		uint64_t now, tune_ms, next_cache = UINT64_MAX;
		int active;

		run_job(d, wa->node);
		active = worker_round(d, wa->node, &next_cache);
		now = monotonic_ms();
		/* Memory to give back: looked for every 100 ms (release.c keeps the delay). */
		if (now >= next_release) {
			zone_release_scan(d, &d->zone[d->nodes[wa->node].zone]);
			next_release = now + RELEASE_SCAN_MS;
		}
		if (wa->node == 0 && now >= next_flush) {
			log_limited_flush();
			next_flush = now + LOG_FLUSH_MS;
		}
		/* The per-CPU stacks: every second, or more often for a short idle_drain_ms
		 * (reloadable: computed each time). */
		idle_drain_ms =
		    __atomic_load_n(&d->cfg.idle_drain_ms, __ATOMIC_RELAXED); /* SIGHUP */
		tune_ms = idle_drain_ms < 2000 ? idle_drain_ms / 2 : 1000;
		if (now - last_tune >= tune_ms) {
			tune_cpus(d, wa->node, (uint32_t)(now - last_tune));
			last_tune = now;
		}
		/*
		 * Sleep until a client kicks, or worker_interval_ms while a cache of this node is
		 * active (its depot is watched and its idle time counted in rounds). With none
		 * active nothing needs a round: sleep until the next release scan or CPU look
		 * is due, at most a second, so an idle daemon wakes a few times a second, not a
		 * hundred.
		 */
		sleep_ms =
		    __atomic_load_n(&d->cfg.worker_interval_ms, __ATOMIC_RELAXED); /* SIGHUP */
		if (!active) {
			uint64_t until = next_release - now, t = last_tune + tune_ms - now;
			if (t < until)
				until = t;
			if (zone_release_idle(&d->zone[d->nodes[wa->node].zone]))
				until = last_tune + tune_ms - now; /* nothing waits to be released */
			if (next_cache <= now)
				until = 0; /* a quiet cache's decay or shrink is due */
			else if (next_cache != UINT64_MAX && next_cache - now < until)
				until = next_cache - now;
			if (until > IDLE_SLEEP_MAX_MS)
				until = IDLE_SLEEP_MAX_MS;
			if (until > sleep_ms)
				sleep_ms = (uint32_t)until;
		}
		slabd_futex_wait(&d->ctl->kick, kick, sleep_ms);
	}
	return NULL;
}

int workers_start(struct slabd *d)
{
	uint32_t n;
	int r;

	for (n = 0; n < d->sb->nr_nodes; n++) {
		pthread_mutex_init(&d->wslot[n].lock, NULL);
		pthread_cond_init(&d->wslot[n].cond, NULL);
		worker_args[n].d = d;
		worker_args[n].node = n;
		r = pthread_create(&d->workers[n], NULL, worker_main, &worker_args[n]);
		if (r) {
			log_err("cannot start the worker for node %u: %s", n, strerror(r));
			workers_stop(d);
			return -r;
		}
		d->nr_workers++;
	}
	return 0;
}

void workers_stop(struct slabd *d)
{
	int i;

	__atomic_store_n(&d->stop, 1, __ATOMIC_RELEASE);
	if (d->ctl) {
		__atomic_fetch_add(&d->ctl->kick, 1, __ATOMIC_RELEASE);
		slabd_futex_wake(&d->ctl->kick);
	}
	for (i = 0; i < d->nr_workers; i++)
		pthread_join(d->workers[i], NULL);
	d->nr_workers = 0;
}
