/* SPDX-License-Identifier: MIT */
/*
 * verify.c - what slabctl verify asks: the corruption counters, and the audit.
 *
 * The audit checks invariant 3 as far as the daemon can see it: every object of every
 * slab is free in exactly one place (the daemon's slab bitmap, or one magazine on a depot
 * stack) or allocated. It runs node by node on each node's worker (which owns that node's
 * slabs, so nothing moves under it there), once every node's CPUs have sent their
 * remote-free stacks home (a node drained later would push objects onto the depot of a
 * node counted already): first the per-CPU stacks, remote-free stacks
 * and free chains are drained into the slabs (a double free met there is a duplicate),
 * then every depot stack is walked without taking anything: each magazine must be in
 * range and on one stack only, each entry an object of its cache and node that is free
 * nowhere else; then, still in the same job (so the node's worker cannot have moved
 * them), the empty-magazine stack: none of its magazines may be on this node's depot
 * stacks too. (Another node's worker may move magazines between its depots and the
 * empty stack meanwhile: a magazine met on another node's stack earlier is not a fault.)
 *
 * Clients move magazines between stacks in their slow paths while this runs: the audit
 * is exact when no client is in one (slabctl verify says so), a snapshot otherwise. It
 * reports and repairs nothing: the workers' own checks do that (worker.c).
 *
 * State: struct audit lives for one request, written by one node job at a time
 * (worker_call waits for each), so it needs no lock.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "slabd_daemon.h"
#include "slabd_wire.h"

struct audit {
	struct slabd_wire_verify *r;
	uint8_t *seen;	   /* one bit per 8 bytes of the zones: free in a magazine already */
	uint8_t *mag_seen; /* [nr_mags]: node + 1 of the depot stack it was met on */
};

static void problem(struct audit *a, uint64_t *counter, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem(struct audit *a, uint64_t *counter, const char *fmt, ...)
{
	char text[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	(*counter)++;
	if (!a->r->first[0]) /* up to its NUL only: the rest of text is not initialised */
		snprintf(a->r->first, sizeof(a->r->first), "%.*s", (int)sizeof(a->r->first) - 1,
			 text);
	log_warn_limited("verify: %s", text);
}

/* Walk one depot stack of (c, node) from its head; nothing is taken. */
static void audit_stack(struct slabd *d, struct audit *a, struct cache *c, uint32_t node,
			uint64_t *head, const char *which)
{
	uint32_t top = slabd_stack_top(__atomic_load_n(head, __ATOMIC_ACQUIRE)),
		 guard = d->sb->nr_mags + 1;

	while (top && guard--) {
		struct slabd_shm_mag *m;
		uint32_t n, i;

		if (top > d->sb->nr_mags) {
			problem(a, &a->r->bad_links,
				"cache %s node %u: depot %s stack links to magazine %u of %u",
				c->shm->name, node, which, top, d->sb->nr_mags);
			return;
		}
		if (a->mag_seen[top - 1] == node + 1) {
			problem(
			    a, &a->r->bad_links,
			    "cache %s node %u: magazine %u met twice (on two stacks, or %s cycles)",
			    c->shm->name, node, top - 1, which);
			return;
		}
		a->mag_seen[top - 1] = (uint8_t)(node + 1);
		m = &d->mags[top - 1];
		n = __atomic_load_n(&m->count, __ATOMIC_RELAXED);
		if (n > SLABD_MAG_SLOTS) {
			problem(a, &a->r->strays,
				"cache %s node %u: magazine %u on the %s stack has count %u",
				c->shm->name, node, top - 1, which, n);
			n = 0;
		}
		for (i = 0; i < n; i++) {
			uint64_t off = __atomic_load_n(&m->objs[i], __ATOMIC_RELAXED), bit;
			int r = slab_check(d, c, node, off);

			if (r == -EINVAL) {
				problem(a, &a->r->strays,
					"cache %s node %u: magazine %u on the %s stack holds "
					"%#llx, not one "
					"of its objects",
					c->shm->name, node, top - 1, which,
					(unsigned long long)off);
				continue;
			}
			if (r == -EALREADY) {
				problem(
				    a, &a->r->duplicates,
				    "cache %s: object %#llx is free in its slab and in magazine %u",
				    c->shm->name, (unsigned long long)off, top - 1);
				continue;
			}
			bit = (off - d->sb->zones_off) >> 3;
			if (a->seen[bit >> 3] & (1u << (bit & 7))) {
				problem(a, &a->r->duplicates,
					"cache %s: object %#llx is in two magazines (one is %u)",
					c->shm->name, (unsigned long long)off, top - 1);
				continue;
			}
			a->seen[bit >> 3] |= (uint8_t)(1u << (bit & 7));
			a->r->free_mags++;
		}
		top = __atomic_load_n(&m->next, __ATOMIC_RELAXED);
	}
}

/* The magazines on the empty stack must be on none of @node's depot stacks. */
static void audit_empty_stack(struct slabd *d, struct audit *a, uint32_t node)
{
	uint32_t top = slabd_stack_top(__atomic_load_n(&d->ctl->empty_mags, __ATOMIC_ACQUIRE));
	uint32_t guard = d->sb->nr_mags + 1;

	while (top && guard--) {
		if (top > d->sb->nr_mags) {
			problem(a, &a->r->bad_links,
				"the empty-magazine stack links to magazine %u of %u", top,
				d->sb->nr_mags);
			return;
		}
		if (a->mag_seen[top - 1] == node + 1) {
			problem(a, &a->r->bad_links,
				"magazine %u is on the empty stack and on a depot stack of node %u",
				top - 1, node);
			return;
		}
		top = __atomic_load_n(&d->mags[top - 1].next, __ATOMIC_RELAXED);
	}
	if (top)
		problem(a, &a->r->bad_links,
			"the empty-magazine stack is longer than the %u magazines (a cycle)",
			d->sb->nr_mags);
}

static void audit_node(struct slabd *d, uint32_t node, void *arg)
{
	struct audit *a = arg;
	uint32_t id;

	node_drain(d, node, NULL);
	for (id = 0; id < d->sb->max_caches; id++) {
		struct cache *c = cache_get(d, id);
		struct slabd_shm_depot *dp;

		if (!c)
			continue;
		dp = daemon_depot(d, id, node);
		audit_stack(d, a, c, node, &dp->full, "full");
		audit_stack(d, a, c, node, &dp->reserve, "reserve");
		a->r->objects += (uint64_t)c->nodes[node].nr_slabs * c->objs;
		/* a pool's held-back tail (in its last slab, on its node) is not an object:
		 * never handed out, never free in the bitmap, so not "allocated" either */
		if (c->phantom && d->zone_tab[d->pages[c->phantom_head].zone].node == node)
			a->r->objects -= c->phantom;
		a->r->free_slabs += c->nodes[node].held;
	}
	audit_empty_stack(d, a, node);
}

static void audit(struct slabd *d, struct slabd_wire_verify *r)
{
	struct audit a = {r, NULL, NULL};
	uint64_t doubles = __atomic_load_n(&d->stats.double_frees, __ATOMIC_RELAXED), nfree;
	uint32_t node;

	a.seen = calloc((d->sb->zones_size >> 6) + 1, 1);
	a.mag_seen = calloc(d->sb->nr_mags, 1);
	if (!a.seen || !a.mag_seen) {
		r->err = -ENOMEM;
		goto out;
	}
	/* Objects freed on another node's CPUs wait in those CPUs' remote-free stacks: home
	 * first, on every node, or a later node's drain would push them onto the depot of
	 * a node already counted (as allocated). */
	for (node = 0; d->sb->nr_nodes > 1 && node < d->sb->nr_nodes; node++)
		worker_call(d, node, remote_flush_node, NULL);
	for (node = 0; node < d->sb->nr_nodes; node++)
		worker_call(d, node, audit_node, &a);
	/* double frees the drain met: objects that were free in two places */
	r->duplicates += __atomic_load_n(&d->stats.double_frees, __ATOMIC_RELAXED) - doubles;
	if (r->duplicates && !r->first[0])
		snprintf(r->first, sizeof(r->first),
			 "an object was free in two places (found while draining)");
	nfree = r->free_slabs + r->free_mags;
	r->allocated = r->objects > nfree ? r->objects - nfree : 0;
	r->problems = r->duplicates + r->strays + r->bad_links;
	log_notice("verify: %llu objects: %llu free in slabs, %llu in depot magazines, %llu "
		   "allocated; %llu "
		   "problems (%llu duplicates, %llu strays, %llu bad links)",
		   (unsigned long long)r->objects, (unsigned long long)r->free_slabs,
		   (unsigned long long)r->free_mags, (unsigned long long)r->allocated,
		   (unsigned long long)r->problems, (unsigned long long)r->duplicates,
		   (unsigned long long)r->strays, (unsigned long long)r->bad_links);
out:
	free(a.seen);
	free(a.mag_seen);
}

void verify_fill(struct slabd *d, struct slabd_wire_verify *r)
{
	if (r->flags & SLABD_VERIFY_AUDIT)
		audit(d, r);
	r->bad_objects = __atomic_load_n(&d->stats.bad_objects, __ATOMIC_RELAXED);
	r->double_frees = __atomic_load_n(&d->stats.double_frees, __ATOMIC_RELAXED);
	r->bad_mags = __atomic_load_n(&d->stats.bad_mags, __ATOMIC_RELAXED);
	r->bad_stacks = __atomic_load_n(&d->stats.bad_stacks, __ATOMIC_RELAXED);
	r->bad_pcpu = __atomic_load_n(&d->stats.bad_pcpu, __ATOMIC_RELAXED);
	r->quarantined = __atomic_load_n(&d->stats.quarantined, __ATOMIC_RELAXED);
}
