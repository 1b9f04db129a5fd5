/* SPDX-License-Identifier: MIT */
/*
 * test_pktbuf.c - packet-buffer pools against a real daemon: the header a fresh buffer
 * has, the helpers' limits, chains and reference counts (also across processes), bulk
 * all-or-nothing, exhaustion, buffers freed by another process, and the rule that no
 * buffer straddles a hugepage (physically contiguous in pa mode), with and without
 * hugepages.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <slabd/pktbuf.h>

#include "audit_helper.h"
#include "daemon_helper.h"
#include "slabd_shm.h"
#include "slabd_wire.h"

static struct test_daemon td;

static void start(const char *const *sets)
{
	int r = td_start(&td, sets);
	if (r)
		td_dump_log(&td);
	cr_assert_eq(r, 0, "slabd did not start");
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
}

static void up(void)
{
	static const char *const sets[] = { "zone_size=16M", "dma_zone_size=32M", "iova_mode=va", NULL };
	start(sets);
}

static void down(void)
{
	cr_expect(td_alive(&td), "slabd died during the test");
	cr_expect_eq(td_stop(&td), 0);
}

TestSuite(pktbuf, .init = up, .fini = down, .timeout = 60);

static int wait_child(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Test(pktbuf, the_header_is_pinned_at_dpdk_like_offsets)
{
	cr_expect_eq(sizeof(struct slabd_pktbuf), 128);
	cr_expect_eq(offsetof(struct slabd_pktbuf, buf_addr), 0);
	cr_expect_eq(offsetof(struct slabd_pktbuf, buf_iova), 8);
	cr_expect_eq(offsetof(struct slabd_pktbuf, data_off), 16);
	cr_expect_eq(offsetof(struct slabd_pktbuf, refcnt), 18);
	cr_expect_eq(offsetof(struct slabd_pktbuf, nb_segs), 20);
	cr_expect_eq(offsetof(struct slabd_pktbuf, pkt_len), 24);
	cr_expect_eq(offsetof(struct slabd_pktbuf, data_len), 28);
	cr_expect_eq(offsetof(struct slabd_pktbuf, buf_len), 30);
	cr_expect_eq(offsetof(struct slabd_pktbuf, next), 32);
	cr_expect_eq(offsetof(struct slabd_pktbuf, ol_flags), 48);
}

Test(pktbuf, a_fresh_buffer_is_reset_and_knows_its_iova)
{
	struct slabd_pktpool *p = slabd_pktpool_create("rx", 64, 2048, 16, -1);
	struct slabd_pktbuf *m;

	cr_assert_not_null(p, "%s", slabd_last_error());
	cr_expect_eq(slabd_pktpool_size(p), 64);
	m = slabd_pktbuf_alloc(p);
	cr_assert_not_null(m);
	cr_expect_eq(m->data_off, SLABD_PKTBUF_HEADROOM);
	cr_expect_eq(m->buf_len, SLABD_PKTBUF_HEADROOM + 2048);
	cr_expect_eq(m->refcnt, 1);
	cr_expect_eq(m->nb_segs, 1);
	cr_expect_eq(m->data_len, 0);
	cr_expect_eq(m->pkt_len, 0);
	cr_expect_null(m->next);
	cr_expect_eq(m->priv_size, 16);
	cr_expect_eq((char *)m->buf_addr, (char *)m + 128 + 16, "the buffer follows header and private area");
	cr_expect_eq(slabd_pktbuf_priv(m), (void *)((char *)m + 128));
	cr_expect_eq(m->buf_iova, slabd_virt_to_iova(m->buf_addr));
	cr_expect_eq(slabd_pktbuf_data_iova(m), slabd_virt_to_iova(slabd_pktbuf_mtod(m, char *)));
	cr_expect_eq(slabd_pktbuf_headroom(m), 128);
	cr_expect_eq(slabd_pktbuf_tailroom(m), 2048);
	/* dirty it; the next allocation of the same buffer is reset again */
	m->data_off = 7;
	m->data_len = 99;
	m->buf_iova = 0;
	slabd_pktbuf_free(m);
	cr_assert_eq(slabd_pktbuf_alloc(p), m, "the CPU's stack is LIFO: the same buffer comes back");
	cr_assert_not_null(m);
	cr_expect_eq(m->data_off, 128);
	cr_expect_eq(m->data_len, 0);
	cr_expect_eq(m->buf_iova, slabd_virt_to_iova(m->buf_addr));
	slabd_pktbuf_free(m);
}

Test(pktbuf, prepend_append_adj_and_trim_stop_at_their_limits)
{
	struct slabd_pktpool *p = slabd_pktpool_create("limits", 16, 1000, 0, -1);
	struct slabd_pktbuf *m;
	char *d;

	cr_assert_not_null(p, "%s", slabd_last_error());
	m = slabd_pktbuf_alloc(p);
	cr_assert_not_null(m);
	cr_expect_null(slabd_pktbuf_prepend(m, 129), "prepended beyond the headroom");
	cr_expect_eq(m->data_off, 128, "a refused prepend changed the buffer");
	d = slabd_pktbuf_append(m, 1000);
	cr_assert_not_null(d);
	cr_expect_eq(d, slabd_pktbuf_mtod(m, char *));
	memset(d, 'x', 1000);
	cr_expect_null(slabd_pktbuf_append(m, 1), "appended beyond the data room");
	cr_expect_eq(m->data_len, 1000);
	d = slabd_pktbuf_prepend(m, 128);
	cr_assert_not_null(d);
	cr_expect_eq(d, (char *)m->buf_addr);
	cr_expect_eq(m->pkt_len, 1128);
	cr_expect_eq(slabd_pktbuf_headroom(m), 0);
	cr_expect_eq(slabd_pktbuf_tailroom(m), 0);
	cr_expect_null(slabd_pktbuf_adj(m, 1129));
	cr_expect_eq(slabd_pktbuf_adj(m, 28), (char *)m->buf_addr + 28);
	cr_expect_eq(m->data_len, 1100);
	cr_expect_eq(slabd_pktbuf_trim(m, 1101), -1);
	cr_expect_eq(slabd_pktbuf_trim(m, 100), 0);
	cr_expect_eq(m->data_len, 1000);
	cr_expect_eq(m->pkt_len, 1000);
	cr_expect_eq(slabd_pktbuf_tailroom(m), 100);
	slabd_pktbuf_free(m);
}

/* Allocate until the pool says no; returns how many it gave (all freed again). */
static unsigned int drain_count(struct slabd_pktpool *p, unsigned int max)
{
	struct slabd_pktbuf *v[1024];
	unsigned int n = 0;

	cr_assert_leq(max, 1024);
	while (n < max && (v[n] = slabd_pktbuf_alloc(p)))
		n++;
	slabd_pktbuf_free_bulk(v, n);
	return n;
}

Test(pktbuf, a_pool_runs_out_after_exactly_n_buffers)
{
	struct slabd_pktpool *p = slabd_pktpool_create("exact", 100, 512, 0, -1);
	struct slabd_pktbuf *v[100];
	unsigned int i;

	cr_assert_not_null(p, "%s", slabd_last_error());
	for (i = 0; i < 100; i++) {
		v[i] = slabd_pktbuf_alloc(p);
		cr_assert_not_null(v[i], "buffer %u of 100 failed", i);
	}
	errno = 0;
	cr_expect_null(slabd_pktbuf_alloc(p), "a 101st buffer from a pool of 100");
	cr_expect_eq(errno, ENOMEM);
	slabd_pktbuf_free_bulk(v, 100);
	cr_expect_eq(drain_count(p, 101), 100, "the pool did not come back whole");
}

Test(pktbuf, bulk_allocation_is_all_or_nothing)
{
	struct slabd_pktpool *p = slabd_pktpool_create("bulk", 64, 256, 0, -1);
	struct slabd_pktbuf *v[64], *w[8];
	unsigned int i;

	cr_assert_not_null(p, "%s", slabd_last_error());
	cr_assert_eq(slabd_pktbuf_alloc_bulk(p, v, 60), 0);
	for (i = 0; i < 60; i++)
		cr_assert_eq(v[i]->refcnt, 1);
	memset(w, 0, sizeof(w));
	cr_expect_eq(slabd_pktbuf_alloc_bulk(p, w, 8), -ENOMEM, "8 from a pool with 4 left");
	/* the failed bulk took nothing: all four are still there */
	cr_expect_eq(drain_count(p, 64), 4);
	cr_assert_eq(slabd_pktbuf_alloc_bulk(p, w, 4), 0);
	slabd_pktbuf_free_bulk(w, 4);
	slabd_pktbuf_free_bulk(v, 60);
	cr_expect_eq(drain_count(p, 65), 64);
}

Test(pktbuf, a_chain_is_freed_whole_and_append_grows_its_last_segment)
{
	struct slabd_pktpool *p = slabd_pktpool_create("chain", 8, 100, 0, -1);
	struct slabd_pktbuf *a, *b, *c;

	cr_assert_not_null(p, "%s", slabd_last_error());
	a = slabd_pktbuf_alloc(p);
	b = slabd_pktbuf_alloc(p);
	c = slabd_pktbuf_alloc(p);
	cr_assert(a && b && c);
	cr_assert_not_null(slabd_pktbuf_append(a, 100));
	cr_assert_not_null(slabd_pktbuf_append(b, 100));
	cr_assert_eq(slabd_pktbuf_chain(a, b), 0);
	cr_assert_eq(slabd_pktbuf_chain(a, c), 0);
	cr_expect_eq(a->nb_segs, 3);
	cr_expect_eq(a->pkt_len, 200);
	cr_expect_eq(slabd_pktbuf_lastseg(a), c);
	cr_expect_eq(slabd_pktbuf_append(a, 60), slabd_pktbuf_mtod(c, char *), "append went elsewhere");
	cr_expect_eq(c->data_len, 60);
	cr_expect_eq(a->pkt_len, 260);
	cr_expect_eq(slabd_pktbuf_trim(a, 60), 0);
	cr_expect_eq(slabd_pktbuf_trim(a, 1), -1, "trimmed past the last segment's data");
	cr_expect_eq(drain_count(p, 8), 5);
	slabd_pktbuf_free(a); /* the whole chain */
	cr_expect_eq(drain_count(p, 9), 8, "freeing the head did not free the chain");
}

/* In a child (the unfixed free never returns: SIGALRM ends it): a chain a -> b -> c whose
 * last segment a broken application linked back to b, freed by @bulk or single free. Each
 * segment must go back once: the pool of 8 then hands out 8 distinct buffers, no more. */
static int free_looped_chain(struct slabd_pktpool *p, int bulk)
{
	struct slabd_pktbuf *a, *b, *c, *v[16];
	unsigned int n, i, j;

	alarm(20);
	a = slabd_pktbuf_alloc(p);
	b = slabd_pktbuf_alloc(p);
	c = slabd_pktbuf_alloc(p);
	if (!a || !b || !c || slabd_pktbuf_chain(a, b) || slabd_pktbuf_chain(a, c))
		return 1;
	c->next = b; /* the loop */
	if (bulk) {
		v[0] = a;
		slabd_pktbuf_free_bulk(v, 1);
	} else {
		slabd_pktbuf_free(a);
	}
	for (n = 0; n < 16 && (v[n] = slabd_pktbuf_alloc(p)); n++) {
		v[n]->next = NULL;
		for (j = 0; j < n; j++)
			if (v[j] == v[n])
				return 2; /* handed out twice */
	}
	for (i = 0; i < n; i++)
		slabd_pktbuf_free(v[i]);
	return n == 8 ? 0 : 3;
}

Test(pktbuf, a_chain_looped_back_on_itself_frees_each_segment_once)
{
	struct slabd_pktpool *p = slabd_pktpool_create("looped", 8, 100, 0, -1);
	int bulk, st;
	pid_t pid;

	cr_assert_not_null(p, "%s", slabd_last_error());
	for (bulk = 0; bulk < 2; bulk++) {
		pid = fork();
		if (pid == 0)
			_exit(free_looped_chain(p, bulk));
		st = wait_child(pid);
		cr_expect_eq(st, 0, "%s free of a looped chain: %s", bulk ? "bulk" : "single",
			     st == 128 + SIGALRM ? "never returned" : st == 2 ? "a buffer handed out twice"
							     : "not 8 buffers back");
	}
}

Test(pktbuf, a_shared_segment_survives_until_its_last_reference)
{
	struct slabd_pktpool *p = slabd_pktpool_create("refs", 8, 100, 0, -1);
	struct slabd_pktbuf *a, *shared, *b;
	pid_t pid;

	cr_assert_not_null(p, "%s", slabd_last_error());
	a = slabd_pktbuf_alloc(p);
	shared = slabd_pktbuf_alloc(p);
	b = slabd_pktbuf_alloc(p);
	cr_assert(a && shared && b);
	/* two chains share one segment (as a cloned payload would) */
	cr_expect_eq(slabd_pktbuf_refcnt_update(shared, 1), 2);
	cr_assert_eq(slabd_pktbuf_chain(a, shared), 0);
	slabd_pktbuf_free(a);
	cr_expect_eq(slabd_pktbuf_refcnt_read(shared), 1, "the shared segment lost both references");
	cr_expect_eq(drain_count(p, 8), 6, "a (freed) came back, shared and b did not");
	/* another process takes a reference and drops it; ours is then the last */
	pid = fork();
	if (pid == 0) {
		if (slabd_pktbuf_refcnt_update(shared, 1) != 2)
			_exit(1);
		slabd_pktbuf_free(shared);
		_exit(slabd_pktbuf_refcnt_read(shared) == 1 ? 0 : 2);
	}
	cr_assert_eq(wait_child(pid), 0, "the child's reference did not count");
	slabd_pktbuf_free(shared);
	slabd_pktbuf_free(b);
	cr_expect_eq(drain_count(p, 9), 8);
}

Test(pktbuf, a_pool_freed_from_another_process_comes_back_whole)
{
	struct slabd_pktpool *p = slabd_pktpool_create("xproc", 256, 1500, 8, -1);
	struct slabd_pktbuf *v[256];
	unsigned int i;
	pid_t pid;

	cr_assert_not_null(p, "%s", slabd_last_error());
	cr_assert_eq(slabd_pktbuf_alloc_bulk(p, v, 256), 0);
	for (i = 0; i < 256; i++)
		memset(slabd_pktbuf_append(v[i], 1500), (int)i, 1500);
	cr_expect_null(slabd_pktbuf_alloc(p), "the pool had more than 256");
	pid = fork();
	if (pid == 0) {
		struct slabd_pktpool *q = slabd_pktpool_lookup("xproc");
		if (!q || slabd_pktpool_size(q) != 256)
			_exit(1);
		for (i = 0; i < 256; i++)
			if (slabd_pktbuf_mtod(v[i], unsigned char *)[1499] != (i & 0xff) || v[i]->data_len != 1500)
				_exit(2);
		slabd_pktbuf_free_bulk(v, 128);
		for (i = 128; i < 256; i++)
			slabd_pktbuf_free(v[i]);
		_exit(0);
	}
	cr_assert_eq(wait_child(pid), 0, "the child could not see or free the buffers");
	cr_expect_eq(drain_count(p, 257), 256, "buffers freed by the child did not all come back");
}

/*
 * What the inline fast path hands to the library (built both ways: test-pktbuf runs the
 * inline calls, test-pktbuf-noinline the library's): a bulk free of a count known at
 * compile time that holds a chain, a shared segment, NULL and a buffer of another pool;
 * the library's functions through pointers; handles that are not pools.
 */
Test(pktbuf, bulk_calls_of_a_constant_count_handle_chains_shared_segments_and_mixed_pools)
{
	struct slabd_pktpool *p = slabd_pktpool_create("mixed-a", 16, 256, 0, -1);
	struct slabd_pktpool *q = slabd_pktpool_create("mixed-b", 16, 256, 0, -1);
	void (*free_fn)(struct slabd_pktbuf *) = slabd_pktbuf_free;
	struct slabd_pktbuf *(*alloc_fn)(struct slabd_pktpool *) = slabd_pktbuf_alloc;
	struct slabd_pktbuf *v[8], *w[4], *x;
	struct slabd_pktpool *bogus;
	unsigned int i;

	cr_assert(p && q, "%s", slabd_last_error());
	cr_assert_eq(slabd_pktbuf_alloc_bulk(p, v, 8), 0);
	for (i = 0; i < 8; i++) {
		cr_expect_eq(v[i]->refcnt, 1);
		cr_expect_eq(v[i]->data_off, SLABD_PKTBUF_HEADROOM);
		cr_expect_null(v[i]->next);
		cr_expect_eq(v[i]->buf_iova, slabd_virt_to_iova(v[i]->buf_addr));
	}
	/* v[1] heads a chain of v[1], v[2]; v[3] is shared; v[5] goes; v[6] from pool q */
	cr_assert_eq(slabd_pktbuf_chain(v[1], v[2]), 0);
	slabd_pktbuf_refcnt_update(v[3], 1);
	x = v[3];
	slabd_pktbuf_free(v[5]);
	v[5] = NULL;
	v[2] = slabd_pktbuf_alloc(q);
	cr_assert_not_null(v[2]);
	cr_expect_eq(drain_count(p, 16), 9, "16 less v[0..7], less v[2] of the chain");
	slabd_pktbuf_free_bulk(v, 8); /* v[2] is q's now; v[1] frees its chain */
	cr_expect_eq(slabd_pktbuf_refcnt_read(x), 1, "the shared segment lost both references");
	cr_expect_eq(drain_count(p, 16), 15, "all but the shared segment came back to p");
	cr_expect_eq(drain_count(q, 16), 16, "q's buffer went back to q");
	free_fn(x);
	cr_expect_eq(drain_count(p, 17), 16);

	/* the library's functions by address, and a bulk free of 4 through a full run */
	x = alloc_fn(p);
	cr_assert_not_null(x);
	cr_expect_eq(x->nb_segs, 1);
	free_fn(x);
	cr_assert_eq(slabd_pktbuf_alloc_bulk(q, w, 4), 0);
	slabd_pktbuf_free_bulk(w, 4);
	cr_expect_eq(drain_count(q, 17), 16);

	/* not pools: NULL, a pointer into a buffer, a plain cache's handle */
	errno = 0;
	cr_expect_null(slabd_pktbuf_alloc(NULL));
	cr_expect_eq(errno, EINVAL);
	cr_expect_eq(slabd_pktbuf_alloc_bulk(NULL, w, 4), -EINVAL);
	bogus = (struct slabd_pktpool *)(void *)w;
	__asm__("" : "+r"(bogus)); /* the compiler must not know what it points to */
	cr_expect_eq(slabd_pktbuf_alloc_bulk(bogus, w, 4), -EINVAL, "a pointer to the stack");
	errno = 0;
	cr_expect_null(slabd_pktbuf_alloc((struct slabd_pktpool *)(void *)kmem_cache_lookup("kmalloc-64")));
	cr_expect_eq(errno, EINVAL);
	slabd_pktbuf_free(NULL);
	w[0] = w[1] = w[2] = w[3] = NULL;
	slabd_pktbuf_free_bulk(w, 4);
}

/* The depot of a new pool of 124 buffers, once the daemon's worker has moved them into
 * its four magazines (it does so in its next round; polled for up to 30 s): the magazine
 * array in *@ret_mags, the indices + 1 of the depot's top magazine in *@ret_top and of the
 * one below it in *@ret_second; the superblock. */
static struct slabd_shm_super *pool_depot_mags(const struct slabd_fast_pktpool *fp, struct slabd_shm_mag **ret_mags,
					       unsigned int *ret_top, unsigned int *ret_second)
{
	struct slabd_attach_info ai;
	struct slabd_shm_super *sb;
	struct slabd_shm_depot *dp;
	unsigned int i;

	cr_assert_eq(slabd_attach_info(&ai), 0);
	sb = (struct slabd_shm_super *)(uintptr_t)ai.base;
	dp = (struct slabd_shm_depot *)((char *)sb + sb->percpu_off + sb->depot_off) +
	     slabd_shm_depot_index(sb, fp->id, 0);
	*ret_mags = (struct slabd_shm_mag *)((char *)sb + sb->percpu_off + sb->mag_off);
	for (i = 0; i < 3000 && slabd_stack_count(__atomic_load_n(&dp->full, __ATOMIC_ACQUIRE)) < 4; i++)
		usleep(10000);
	*ret_top = slabd_stack_top(__atomic_load_n(&dp->full, __ATOMIC_ACQUIRE));
	cr_assert(*ret_top && *ret_top <= sb->nr_mags, "the new pool has no magazine on its depot after 30 s");
	*ret_second = __atomic_load_n(&(*ret_mags)[*ret_top - 1].next, __ATOMIC_ACQUIRE);
	cr_assert(*ret_second && *ret_second <= sb->nr_mags, "the depot's top magazine links to no second one");
	return sb;
}

/* Everything pool @p hands out, in bulks of 32 and then one by one, into @v (room for
 * 160); how many. */
static unsigned int drain_pool(struct slabd_pktpool *p, struct slabd_pktbuf **v)
{
	unsigned int got = 0;

	for (;;) {
		cr_assert_leq(got + 32, 160);
		if (slabd_pktbuf_alloc_bulk(p, v + got, 32) != 0)
			break;
		got += 32;
	}
	while (got < 160 && (v[got] = slabd_pktbuf_alloc(p)))
		got++;
	return got;
}

/* A bulk allocation that empties depot magazines returns them to the empty-magazine stack
 * with count 0: the daemon quarantines a magazine it pops from there with any other count
 * (a corrupt stack, as far as it can tell), so stale counts cost magazines. The pool is
 * drained (its magazines emptied), then kmalloc traffic makes the worker refill another
 * cache's depot from the empty stack. */
Test(pktbuf, magazines_a_bulk_allocation_empties_go_back_with_count_zero, .timeout = 90)
{
	struct slabd_pktpool *p = slabd_pktpool_create("empties", 124, 256, 0, -1);
	const struct slabd_fast_pktpool *fp = (const struct slabd_fast_pktpool *)(const void *)p;
	struct slabd_wire_verify before, after;
	struct slabd_shm_mag *mags;
	struct slabd_pktbuf *v[160];
	static void *objs[4000];
	unsigned int i, got, top, second;

	cr_assert_not_null(p, "%s", slabd_last_error());
	pool_depot_mags(fp, &mags, &top, &second);
	cr_assert_eq(td_verify(&td, 0, &before), 0, "no VERIFY reply");
	got = drain_pool(p, v);
	cr_expect_eq(got, 124);
	for (i = 0; i < 4000; i++) {
		objs[i] = kmalloc(256, GFP_KERNEL);
		cr_assert_not_null(objs[i]);
	}
	usleep(300000); /* a few worker rounds */
	cr_assert_eq(td_verify(&td, 0, &after), 0, "no VERIFY reply");
	cr_expect_eq(after.quarantined, before.quarantined, "%llu magazines quarantined",
		     (unsigned long long)(after.quarantined - before.quarantined));
	cr_expect_eq(after.bad_stacks, before.bad_stacks);
	for (i = 0; i < 4000; i++)
		kfree(objs[i]);
	slabd_pktbuf_free_bulk(v, got);
}

/* slabd_ptr_to_off/off_to_ptr inline (<slabd/slabd.h>) give what the library's functions
 * give: for every buffer of a pool, and for what is not an object (the superblock, a
 * stack variable, NULL, offsets past the region), which the inline path leaves to them. */
Test(pktbuf, inline_offset_conversions_agree_with_the_library)
{
	uint64_t (*to_off)(const void *) = slabd_ptr_to_off;
	void *(*to_ptr)(uint64_t) = slabd_off_to_ptr;
	struct slabd_pktpool *p = slabd_pktpool_create("conv", 64, 256, 0, -1);
	struct slabd_attach_info ai;
	struct slabd_pktbuf *v[64];
	const struct slabd_shm_super *sb;
	uint64_t odd[6];
	int stack_var = 0;
	unsigned int i;

	cr_assert_not_null(p, "%s", slabd_last_error());
	cr_assert_eq(slabd_attach_info(&ai), 0);
	sb = (const struct slabd_shm_super *)(uintptr_t)ai.base;
	cr_assert_eq(slabd_pktbuf_alloc_bulk(p, v, 64), 0);
	for (i = 0; i < 64; i++) {
		uint64_t off = slabd_ptr_to_off(v[i]);

		cr_expect_eq(off, to_off(v[i]), "buffer %u", i);
		cr_expect_neq(off, UINT64_MAX);
		cr_expect_eq(slabd_off_to_ptr(off), (void *)v[i], "buffer %u", i);
		cr_expect_eq(slabd_ptr_to_off((char *)v[i] + 100), off + 100);
	}
	cr_expect_eq(slabd_ptr_to_off(sb), 0);
	cr_expect_eq(slabd_off_to_ptr(0), (void *)sb);
	cr_expect_eq(slabd_ptr_to_off(&stack_var), UINT64_MAX);
	cr_expect_eq(slabd_ptr_to_off(NULL), to_off(NULL));
	odd[0] = sb->zones_off - 1;
	odd[1] = sb->zones_off;
	odd[2] = sb->zones_off + sb->zones_size - 1;
	odd[3] = sb->zones_off + sb->zones_size;
	odd[4] = UINT64_MAX;
	odd[5] = UINT64_MAX / 2;
	for (i = 0; i < 6; i++) {
		cr_expect_eq(slabd_off_to_ptr(odd[i]), to_ptr(odd[i]), "offset %#llx", (unsigned long long)odd[i]);
		if (to_ptr(odd[i]))
			cr_expect_eq(slabd_ptr_to_off(to_ptr(odd[i])), odd[i]);
	}
	cr_expect_null(slabd_off_to_ptr(UINT64_MAX));
	slabd_pktbuf_free_bulk(v, 64);
}

/* A bulk free of a count known only at run time (the library's walk) whose buffers
 * alternate between two pools, once both pools' page runs are known to this process (a
 * depot miss of each scans them): each buffer goes back to its own pool. */
Test(pktbuf, a_run_time_bulk_free_of_two_interleaved_pools_returns_each_buffer_home)
{
	struct slabd_pktpool *p = slabd_pktpool_create("ilv-a", 64, 256, 0, -1);
	struct slabd_pktpool *q = slabd_pktpool_create("ilv-b", 64, 300, 0, -1);
	struct slabd_pktbuf *a[32], *b[32], *v[64];
	volatile unsigned int n = 64;
	unsigned int i;

	cr_assert(p && q, "%s", slabd_last_error());
	cr_assert_eq(slabd_pktbuf_alloc_bulk(p, a, 32), 0);
	cr_assert_eq(slabd_pktbuf_alloc_bulk(q, b, 32), 0);
	for (i = 0; i < 16; i++) {
		v[2 * i] = a[i];
		v[2 * i + 1] = b[i];
	}
	/* then a run of each pool: the last 16 of a, then of b */
	for (i = 0; i < 16; i++) {
		v[32 + i] = a[16 + i];
		v[48 + i] = b[16 + i];
	}
	slabd_pktbuf_free_bulk(v, n);
	cr_expect_eq(drain_count(p, 65), 64, "pool a did not come back whole");
	cr_expect_eq(drain_count(q, 65), 64, "pool b did not come back whole");
}

/*
 * Magazines are client-writable: a pool's depot magazine scribbled with lies (an offset
 * off a buffer boundary, a live kmalloc object, a buffer of another pool, offsets outside
 * the zones) must never hand out a lie. The bulk miss path (take_from_depot) checks each
 * offset against the read-only page descriptors and the pool's object size; the lies are
 * dropped (and the buffers they overwrote lost), every buffer handed out is the pool's.
 */
/* Lies planted in a depot magazine of a pool of @data_room-byte buffers (the stride a
 * power of two or not: the check takes another path for each) are never handed out. */
static void scribble(const char *a, const char *b, unsigned int data_room)
{
	struct slabd_pktpool *p = slabd_pktpool_create(a, 124, data_room, 0, -1);
	struct slabd_pktpool *q = slabd_pktpool_create(b, 8, data_room, 0, -1);
	const struct slabd_fast_pktpool *fp = (const struct slabd_fast_pktpool *)(const void *)p;
	struct slabd_shm_super *sb;
	struct slabd_shm_mag *mags, *m;
	struct slabd_pktbuf *v[160], *other;
	void *foreign = kmalloc(512, GFP_KERNEL);
	uint64_t lies[8], good = 0;
	unsigned int i, j, got, lied = 0, top, second;

	cr_assert(p && q && foreign, "%s", slabd_last_error());
	other = slabd_pktbuf_alloc(q);
	cr_assert_not_null(other);
	/* The lies go into the second magazine, not the top one: the daemon's worker checks
	 * each depot's top magazine every round and, finding a lie there, quarantines the
	 * whole stack (stack_reset: all four magazines lost, by design), which raced with
	 * this test's allocations under load. The second is read first by a client's pop
	 * of several magazines (take_from_depot), whose own check is what this tests. */
	sb = pool_depot_mags(fp, &mags, &top, &second);
	m = &mags[second - 1];
	cr_assert(m->count > 8 && m->count <= SLABD_MAG_SLOTS);
	good = m->objs[0];
	lies[0] = good + 8;                      /* inside a buffer */
	lies[1] = good + fp->buf_off;            /* its data room */
	lies[2] = slabd_ptr_to_off(foreign);     /* a live object of kmalloc-512 */
	lies[3] = slabd_ptr_to_off(other);       /* a live buffer of another pool */
	lies[4] = 0;                             /* the superblock */
	lies[5] = sb->zones_off - 64;            /* just below the zones */
	lies[6] = sb->zones_off + sb->zones_size; /* just past them */
	lies[7] = ~0ull;
	for (j = 0; j < 8; j++)
		m->objs[m->count - 1 - j] = lies[j]; /* where the next bulk looks first */
	for (j = 8; j < 16 && j < m->count; j++)
		m->objs[m->count - 1 - j] = lies[j - 8]; /* and again, among the rest */

	got = drain_pool(p, v);
	for (i = 0; i < got; i++) {
		uint64_t off = slabd_ptr_to_off(v[i]);

		for (j = 0; j < 8; j++)
			lied += off == lies[j];
		cr_expect_eq(v[i]->pool_id, fp->id, "buffer %u is not the pool's", i);
		cr_expect_eq(v[i]->buf_iova, slabd_virt_to_iova(v[i]->buf_addr));
		cr_expect_eq(ksize(v[i]), ksize(v[0]), "buffer %u has another size", i);
		for (j = 0; j < i; j++)
			cr_assert_neq(v[i], v[j], "buffer %u handed out twice", i);
	}
	cr_expect_eq(lied, 0, "%u lies handed out as buffers", lied);
	cr_expect_leq(got, 124);
	cr_expect_geq(got, 124 - 16, "more buffers lost than the lies overwrote: %u of 124", got);
	slabd_pktbuf_free_bulk(v, got);
	slabd_pktbuf_free(other);
	kfree(foreign);
}

Test(pktbuf, a_scribbled_depot_magazine_never_hands_out_a_foreign_object)
{
	scribble("scrib-a", "scrib-b", 256); /* 128 + 128 + 256: a stride of 512 */
	cr_expect_eq(slabd_kmem_cache_size((struct kmem_cache *)kmem_cache_lookup("scrib-a")), 512);
}

Test(pktbuf, a_scribbled_magazine_of_a_pool_with_an_odd_stride_hands_out_no_lie)
{
	unsigned int size;

	scribble("scrib-c", "scrib-d", 300); /* 128 + 128 + 300, rounded up: 576 = 9 * 64 */
	size = slabd_kmem_cache_size((struct kmem_cache *)kmem_cache_lookup("scrib-c"));
	cr_expect(size >= 556 && (size & (size - 1)) != 0, "the stride %u is to be no power of two", size);
}

/*
 * A stride that is no power of two leaves the end of each slab unused (576-byte buffers:
 * 14 in an 8 KiB slab, 128 bytes left). An offset there is a multiple of the stride from
 * the slab's start, but no buffer: one handed out would run into the next slab's first
 * buffer. Planted in a depot magazine (every slab's end), none may be handed out.
 */
static void slab_end_lies(const char *name, int bulk)
{
	struct slabd_pktpool *p = slabd_pktpool_create(name, 124, 300, 0, -1);
	const struct slabd_fast_pktpool *fp = (const struct slabd_fast_pktpool *)(const void *)p;
	const struct slabd_shm_cache *sc;
	const struct slabd_shm_page *pages;
	struct slabd_shm_super *sb;
	struct slabd_shm_mag *mags, *m;
	struct slabd_pktbuf *v[160];
	uint64_t lies[16], slab_bytes, end;
	unsigned int i, j, got, nl = 0, lied = 0, top, second;

	cr_assert_not_null(p, "%s", slabd_last_error());
	sb = pool_depot_mags(fp, &mags, &top, &second);
	sc = (const struct slabd_shm_cache *)((const char *)sb + sb->cache_table_off) + fp->id;
	pages = (const struct slabd_shm_page *)((const char *)sb + sb->page_table_off);
	slab_bytes = 4096ull << sc->order;
	end = (uint64_t)sc->objs_per_slab * sc->size;
	cr_assert(slab_bytes - end > 0 && sc->size & (sc->size - 1), "stride %u, %u per slab: no unused end", sc->size,
		  sc->objs_per_slab);
	/* the unused end of every slab of the pool */
	for (i = 0; i < sb->zones_size >> 12 && nl < 16; i++) {
		if (pages[i].kind != SLABD_PAGE_SLAB || pages[i].cache != fp->id || pages[i].head != i)
			continue;
		lies[nl++] = sb->zones_off + ((uint64_t)i << 12) + end;
	}
	cr_assert_geq(nl, 8, "%u slabs", nl);
	m = &mags[second - 1];
	cr_assert(m->count >= nl && m->count <= SLABD_MAG_SLOTS, "count %u", m->count);
	for (j = 0; j < nl; j++)
		m->objs[m->count - 1 - j] = lies[j]; /* where the next bulk looks first */

	if (bulk) {
		got = drain_pool(p, v);
	} else {
		/* one by one: the single allocation's miss (alloc.c's magazine check) */
		for (got = 0; got < 160 && (v[got] = slabd_pktbuf_alloc(p)); got++)
			;
	}
	for (i = 0; i < got; i++) {
		uint64_t off = slabd_ptr_to_off(v[i]);

		for (j = 0; j < nl; j++)
			lied += off == lies[j];
		for (j = 0; j < i; j++)
			cr_assert_neq(v[i], v[j], "buffer %u handed out twice", i);
	}
	cr_expect_eq(lied, 0, "%u offsets past a slab's last buffer handed out as buffers", lied);
	cr_expect_leq(got, 124);
	slabd_pktbuf_free_bulk(v, got);
}

Test(pktbuf, a_magazine_offset_in_a_slabs_unused_end_is_never_handed_out)
{
	slab_end_lies("slab-end-a", 1);
}

Test(pktbuf, a_magazine_offset_in_a_slabs_unused_end_is_never_handed_out_one_by_one)
{
	slab_end_lies("slab-end-b", 0);
}

/* A depot magazine whose link a broken client pointed back at itself (or at the
 * magazine above it): a client's pop of several magazines (take_from_depot) ends the walk
 * at the loop instead of taking that magazine again, so no buffer is handed out twice
 * (the magazines cut off below are lost to the audit). */
static void looped_depot(const char *name, int to_top)
{
	struct slabd_pktpool *p = slabd_pktpool_create(name, 124, 256, 0, -1);
	const struct slabd_fast_pktpool *fp = (const struct slabd_fast_pktpool *)(const void *)p;
	struct slabd_shm_mag *mags;
	struct slabd_pktbuf *v[160];
	unsigned int top, second, i, j, got;

	cr_assert(p, "%s", slabd_last_error());
	pool_depot_mags(fp, &mags, &top, &second);
	/* below the top, where the daemon's per-round check of the top magazine does not look */
	__atomic_store_n(&mags[second - 1].next, to_top ? top : second, __ATOMIC_RELEASE);

	got = drain_pool(p, v);
	for (i = 0; i < got; i++) {
		cr_expect_eq(v[i]->pool_id, fp->id, "buffer %u is not the pool's", i);
		for (j = 0; j < i; j++)
			cr_assert_neq(v[i], v[j], "buffer %u handed out twice (%u of them)", i, got);
	}
	cr_expect_leq(got, 124);
	cr_expect_geq(got, 62, "the two magazines above the loop were not handed out: %u", got);
	slabd_pktbuf_free_bulk(v, got);
}

Test(pktbuf, a_depot_magazine_linked_to_itself_hands_out_nothing_twice)
{
	looped_depot("loop-a", 0);
}

Test(pktbuf, a_depot_magazine_linked_back_to_the_top_hands_out_nothing_twice)
{
	looped_depot("loop-b", 1);
}

Test(pktbuf, lookup_by_name_and_geometry_conflicts)
{
	struct slabd_pktpool *p = slabd_pktpool_create("named", 32, 256, 0, -1);
	pid_t pid;

	cr_assert_not_null(p, "%s", slabd_last_error());
	cr_expect_eq(slabd_pktpool_create("named", 32, 256, 0, -1), p, "same geometry is the same pool");
	errno = 0;
	cr_expect_null(slabd_pktpool_create("named", 64, 256, 0, -1));
	cr_expect_eq(errno, EEXIST);
	errno = 0;
	cr_expect_null(slabd_pktpool_lookup("no-such-pool"));
	cr_expect_eq(errno, ENOENT);
	cr_expect_null(slabd_pktpool_lookup("kmalloc-64"), "a plain cache is not a pool");
	errno = 0;
	cr_expect_null(slabd_pktpool_create("huge", 8, 65536, 0, -1));
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_null(slabd_pktpool_create("far", 8, 256, 0, 7));
	cr_expect_eq(errno, EINVAL, "a pool on a node the DMA zone is not on");
	errno = 0;
	cr_expect_null(slabd_pktpool_create("toobig", 1u << 20, 2048, 0, -1));
	cr_expect_eq(errno, ENOMEM, "a pool larger than the DMA zone: errno %d", errno);
	cr_expect_not_null(slabd_pktpool_create("after", 8, 256, 0, -1), "a failed create left the zone unusable");
	/* a pool is not destroyed through the cache API: its buffers' IOVAs stay valid */
	errno = 0;
	kmem_cache_destroy(kmem_cache_lookup("named"));
	cr_expect_eq(errno, EPERM, "destroying a pool: errno %d", errno);
	cr_expect(strstr(slabd_last_error(), "named") && strstr(slabd_last_error(), "slabd_pktpool"),
		  "the refusal does not say why: %s", slabd_last_error());
	cr_expect_eq(slabd_pktpool_lookup("named"), p, "the pool went away");
	pid = fork();
	if (pid == 0) {
		struct slabd_pktpool *q = slabd_pktpool_lookup("named");
		struct slabd_pktbuf *m = q ? slabd_pktbuf_alloc(q) : NULL;
		_exit(m && m->buf_len == 128 + 256 ? 0 : 1);
	}
	cr_expect_eq(wait_child(pid), 0);
}

/* Every buffer of pool @p: inside one @unit-aligned block, and (pa mode) physically
 * contiguous according to the IOVA table. */
static void check_no_straddle(struct slabd_pktpool *p, uint64_t unit, int pa)
{
	unsigned int n = slabd_pktpool_size(p), i;
	struct slabd_pktbuf *v[1024];

	cr_assert_leq(n, 1024);
	cr_assert_eq(slabd_pktbuf_alloc_bulk(p, v, n), 0);
	for (i = 0; i < n; i++) {
		uint64_t a = (uint64_t)(uintptr_t)v[i]->buf_addr, z = a + v[i]->buf_len - 1;
		cr_assert_eq(a / unit, z / unit, "buffer %u [%#llx, %#llx] straddles a %llu KiB boundary", i,
			     (unsigned long long)a, (unsigned long long)z, (unsigned long long)(unit >> 10));
		cr_assert_eq(slabd_virt_to_iova((void *)(uintptr_t)z) - v[i]->buf_iova, (uint64_t)v[i]->buf_len - 1,
			     "buffer %u is not contiguous in IOVA space", i);
		if (pa) {
			uint64_t e = 0;
			int fd = open("/proc/self/pagemap", O_RDONLY);
			cr_assert_geq(fd, 0);
			cr_assert_eq(pread(fd, &e, 8, (off_t)(a / 4096 * 8)), 8);
			close(fd);
			cr_assert_eq(((e & ((1ull << 55) - 1)) << 12) | (a & 4095), v[i]->buf_iova,
				     "buffer %u: buf_iova is not its physical address", i);
		}
	}
	slabd_pktbuf_free_bulk(v, n);
}

Test(pktbuf_layout, no_buffer_straddles_a_page_in_pa_mode_without_hugepages, .timeout = 60)
{
	static const char *const sets[] = { "zone_size=16M", "dma_zone_size=16M", "iova_mode=pa",
					    "hugepages=off", NULL };
	struct slabd_pktpool *p;

	if (geteuid() != 0)
		cr_skip_test("not root: pa mode needs CAP_SYS_ADMIN");
	start(sets);
	p = slabd_pktpool_create("pa4k", 1000, 2048, 0, -1);
	cr_assert_not_null(p, "%s", slabd_last_error());
	check_no_straddle(p, 4096, 1);
	/* a buffer larger than a page cannot be contiguous here: refused, with the reason */
	errno = 0;
	cr_expect_null(slabd_pktpool_create("pa-big", 8, 4000, 0, -1));
	cr_expect_eq(errno, EINVAL);
	cr_expect(strstr(slabd_last_error(), "4 KiB") != NULL, "error: %s", slabd_last_error());
	td_stop(&td);
}

Test(pktbuf_layout, no_buffer_straddles_a_hugepage_in_va_mode, .timeout = 60)
{
	static const char *const sets[] = { "zone_size=16M", "dma_zone_size=16M", "iova_mode=va", NULL };
	struct slabd_pktpool *p;

	start(sets);
	/* odd sizes: 9000-byte jumbo frames with a private area */
	p = slabd_pktpool_create("jumbo", 1000, 9000, 24, -1);
	cr_assert_not_null(p, "%s", slabd_last_error());
	check_no_straddle(p, 2u << 20, 0);
	td_stop(&td);
}

static long prev_hugepages = -1;

static void restore(void)
{
	td_hugepages_restore(prev_hugepages);
	prev_hugepages = -1;
}

Test(pktbuf_layout, no_buffer_straddles_a_hugepage_and_each_is_physically_contiguous, .timeout = 120,
     .fini = restore)
{
	static const char *const sets[] = { "hugepages=on", "zone_size=8M", "dma_zone_size=32M", "iova_mode=pa",
					    NULL };
	struct slabd_pktpool *p;

	prev_hugepages = td_hugepages_reserve(28);
	if (prev_hugepages < 0 || geteuid() != 0)
		cr_skip_test("cannot reserve hugepages (not root?): hugetlb pools not tested");
	if (td_hugepages_free() < 24)
		cr_skip_test("only %ld free hugepages: hugetlb pools not tested", td_hugepages_free());
	start(sets);
	cr_assert(td_log_contains(&td, "backing: hugetlb-2M"));
	p = slabd_pktpool_create("jumbo-pa", 1000, 9000, 24, -1);
	cr_assert_not_null(p, "%s", slabd_last_error());
	check_no_straddle(p, 2u << 20, 1);
	p = slabd_pktpool_create("std-pa", 1024, 2048, 0, -1);
	cr_assert_not_null(p, "%s", slabd_last_error());
	check_no_straddle(p, 2u << 20, 1);
	td_stop(&td);
}

Test(pktbuf_layout, pools_need_a_dma_zone, .timeout = 60)
{
	static const char *const sets[] = { "zone_size=16M", "dma_zone_size=0", NULL };

	start(sets);
	errno = 0;
	cr_expect_null(slabd_pktpool_create("nodma", 8, 256, 0, -1));
	cr_expect_eq(errno, ENODEV);
	cr_expect(strstr(slabd_last_error(), "no DMA zone") != NULL, "error: %s", slabd_last_error());
	td_stop(&td);
}

Test(pktbuf_example, the_two_process_pipeline_delivers_every_packet_intact, .timeout = 120)
{
	static const char *const sets[] = { "zone_size=16M", "dma_zone_size=32M", NULL };
	char cmd[512], out[512] = "";
	FILE *f;
	int st;

	start(sets);
	snprintf(cmd, sizeof(cmd), "%s --socket %s --packets 300000 --burst 32 --size 128 2>&1", PKTPIPE_BIN,
		 td.sock);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	while (fgets(out + strlen(out), (int)(sizeof(out) - strlen(out)), f))
		;
	st = pclose(f);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "pktpipe failed: %s", out);
	cr_expect(strstr(out, "300000 received, 0 bad") != NULL, "pktpipe said: %s", out);
	/* and a burst of one, buffers of the largest size */
	snprintf(cmd, sizeof(cmd), "%s --socket %s --packets 20000 --burst 1 --size 2048 >/dev/null 2>&1",
		 PKTPIPE_BIN, td.sock);
	st = system(cmd);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "pktpipe --burst 1 --size 2048 failed");
	td_stop(&td);
}

static void pin_cpu(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	cr_assert_eq(sched_setaffinity(0, sizeof(s), &s), 0, "cannot run on CPU %d", cpu);
}

/* Two (simulated) nodes, one CPU each: the DMA zone and its caches live on node 0, and a
 * CPU of node 1 allocates, frees and drains them through node 0's depot. */
Test(pktbuf_numa, buffers_and_gfp_dma_work_from_a_cpu_of_another_node, .timeout = 90)
{
	static const char *const sets[] = { "zone_size=16M", "dma_zone_size=16M", "idle_drain_ms=100", NULL };
	struct slabd_pktpool *p;
	struct slabd_pktbuf *v[200];
	void *k[100];
	unsigned int i, round;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		cr_skip_test("one CPU: no second node to run on");
	setenv("HWLOC_SYNTHETIC", "numa:2 pu:1", 1);
	start(sets);
	unsetenv("HWLOC_SYNTHETIC");
	cr_assert(td_log_contains(&td, "2 NUMA nodes"));
	p = slabd_pktpool_create("numa", 200, 1024, 0, -1);
	cr_assert_not_null(p, "%s", slabd_last_error());
	for (round = 0; round < 6; round++) {
		pin_cpu((int)(round & 1)); /* node 0, node 1, ... */
		for (i = 0; i < 200; i++) {
			v[i] = slabd_pktbuf_alloc(p);
			cr_assert_not_null(v[i], "round %u: buffer %u of 200 on CPU %u", round, i, round & 1);
		}
		cr_expect_null(slabd_pktbuf_alloc(p), "round %u: more than 200 buffers", round);
		pin_cpu((int)((round + 1) & 1)); /* freed on the other node */
		slabd_pktbuf_free_bulk(v, 100);
		for (i = 100; i < 200; i++)
			slabd_pktbuf_free(v[i]);
		for (i = 0; i < 100; i++) {
			k[i] = kmalloc(200, GFP_KERNEL | GFP_DMA);
			cr_assert_not_null(k[i]);
			cr_assert_neq(slabd_virt_to_iova(k[i]), SLABD_BAD_IOVA);
		}
		for (i = 0; i < 100; i++)
			kfree(k[i]);
	}
	/* a miss on node 1 spills a magazine into node 1's CPU stack; node 0 then needs all
	 * 200 and gets them only if the home worker drains node 1's CPU too */
	pin_cpu(1);
	v[0] = slabd_pktbuf_alloc(p);
	cr_assert_not_null(v[0]);
	pin_cpu(0);
	cr_expect_eq(drain_count(p, 200), 199, "buffers on another node's CPU were out of reach");
	slabd_pktbuf_free(v[0]);
	/* idle per-CPU stacks of node 1 are drained by node 1's worker into node 0's depot */
	pin_cpu(1);
	v[0] = slabd_pktbuf_alloc(p);
	slabd_pktbuf_free(v[0]);
	usleep(600 * 1000);
	pin_cpu(0);
	cr_expect_eq(drain_count(p, 201), 200, "the pool did not come back whole after the drains");
	/* a SLAB_CACHE_DMA cache used on node 1 can be destroyed once all is freed: what
	 * node 1's CPU held is found although it reaches home after the home node's look */
	{
		struct kmem_cache *c = kmem_cache_create("numa-dma", 300, 0, SLAB_CACHE_DMA, NULL);
		cr_assert_not_null(c, "%s", slabd_last_error());
		pin_cpu(1);
		for (i = 0; i < 100; i++)
			cr_assert_not_null(k[i] = kmem_cache_alloc(c, GFP_KERNEL));
		for (i = 0; i < 100; i++)
			kmem_cache_free(c, k[i]);
		k[0] = kmem_cache_alloc(c, GFP_KERNEL); /* a miss that spills into CPU 1's stack */
		kmem_cache_free(c, k[0]);
		pin_cpu(0);
		errno = 0;
		kmem_cache_destroy(c);
		cr_expect_eq(errno, 0, "destroy failed: %s (%s)", strerror(errno), slabd_last_error());
		cr_expect_null(kmem_cache_lookup("numa-dma"), "the cache is still there");
	}
	cr_expect(!td_log_contains(&td, "dropped"), "the daemon rejected objects it was given back");
	cr_expect(td_alive(&td));
	cr_expect_eq(td_stop(&td), 0);
}

/* ------------------------------------------------------------- concurrency -- */

struct churn_arg {
	struct slabd_pktpool *pool;
	unsigned int seed, rounds;
	int bad;
	unsigned long got; /* buffers allocated */
};

/* Bulk and single allocations, chains of up to 4, frees of whole chains; every buffer
 * checked for a reset header and stamped while held. */
static void *churn(void *p)
{
	struct churn_arg *a = p;
	struct slabd_pktbuf *v[16];
	unsigned int r, i, n, s = a->seed;

	for (r = 0; r < a->rounds; r++) {
		s = s * 1103515245u + 12345u;
		n = 1 + (s >> 16) % 16;
		if (s & 1) {
			if (slabd_pktbuf_alloc_bulk(a->pool, v, n) < 0)
				continue; /* the pool is shared: all out right now is fine */
		} else {
			for (i = 0; i < n; i++)
				if (!(v[i] = slabd_pktbuf_alloc(a->pool)))
					break;
			n = i;
		}
		a->got += n;
		for (i = 0; i < n; i++) {
			if (v[i]->refcnt != 1 || v[i]->data_len || v[i]->next || v[i]->nb_segs != 1)
				a->bad++;
			memset(slabd_pktbuf_append(v[i], 64), (int)(s & 0xff), 64);
		}
		for (i = 0; i + 1 < n; i += 2) /* chain pairs: free must take both */
			slabd_pktbuf_chain(v[i], v[i + 1]);
		for (i = 0; i < n; i += 2)
			if (slabd_pktbuf_mtod(v[i], unsigned char *)[63] != (s & 0xff))
				a->bad++;
		if (s & 2) {
			for (i = 0; i < n; i += 2)
				slabd_pktbuf_free(v[i]);
		} else {
			struct slabd_pktbuf *heads[8];
			unsigned int k = 0;
			for (i = 0; i < n; i += 2)
				heads[k++] = v[i];
			slabd_pktbuf_free_bulk(heads, k);
		}
	}
	return NULL;
}

/* Two processes of three threads each (more threads than CPUs) share one small pool; then
 * the pool is whole again, and one buffer's count survived 2 x 100000 concurrent updates. */
Test(pktbuf, threads_in_two_processes_share_a_pool_and_its_refcounts, .timeout = 120)
{
	struct slabd_pktpool *p = slabd_pktpool_create("churn", 128, 256, 0, -1);
	struct slabd_pktbuf *shared;
	pid_t pid;
	int proc;

	cr_assert_not_null(p, "%s", slabd_last_error());
	shared = slabd_pktbuf_alloc(p);
	cr_assert_not_null(shared);
	pid = fork();
	proc = pid == 0;
	{
		pthread_t t[3];
		struct churn_arg a[3];
		int i, bad = 0;

		for (i = 0; i < 3; i++) {
			a[i] = (struct churn_arg){ p, (unsigned int)(proc * 3 + i + 1), 20000, 0, 0 };
			pthread_create(&t[i], NULL, churn, &a[i]);
		}
		for (i = 0; i < 100000; i++) {
			slabd_pktbuf_refcnt_update(shared, 1);
			slabd_pktbuf_refcnt_update(shared, -1);
		}
		for (i = 0; i < 3; i++) {
			pthread_join(t[i], NULL);
			bad += a[i].bad;
			if (a[i].got < 20000 * 4) /* most rounds got their 1..16 buffers */
				bad += 1000000;
		}
		if (proc)
			_exit(bad ? 1 : 0);
		cr_expect_eq(bad, 0, "the parent saw %d bad buffers", bad);
	}
	cr_assert_eq(wait_child(pid), 0, "the child saw bad buffers");
	cr_expect_eq(slabd_pktbuf_refcnt_read(shared), 1, "concurrent updates from two processes lost some");
	slabd_pktbuf_free(shared);
	{
		unsigned int n = drain_count(p, 129);

		cr_expect_eq(n, 128, "the pool is not whole after the churn: %u of 128", n);
	}
}

/* ------------------------------------------------------------ freeing a pool -- */

/* The daemon's full audit (tests/helpers/audit_helper.h). */
static void audit_clean(void)
{
	td_audit_clean(&td);
}

/* Free pages of the DMA zone, from the region's page table. */
static uint32_t dma_free_pages(void)
{
	struct slabd_attach_info ai;
	const struct slabd_shm_super *sb;
	const struct slabd_shm_zone *z;
	const struct slabd_shm_page *pg;
	uint32_t i, n = 0;

	cr_assert_eq(slabd_attach_info(&ai), 0);
	sb = (const void *)(uintptr_t)ai.base;
	cr_assert_neq(sb->dma_zone, SLABD_NO_ZONE);
	z = (const void *)((const char *)sb + sb->zone_table_off);
	z += sb->dma_zone;
	pg = (const void *)((const char *)sb + sb->page_table_off);
	for (i = z->first_page; i < z->first_page + z->nr_pages; i++)
		n += pg[i].kind == SLABD_PAGE_FREE;
	return n;
}

static unsigned int pool_id(struct slabd_pktpool *p)
{
	return ((const struct slabd_fast_pktpool *)(const void *)p)->id;
}

Test(pktbuf, a_freed_pool_is_gone_and_its_name_makes_a_new_pool)
{
	struct slabd_pktpool *p = slabd_pktpool_create("mortal", 100, 512, 0, -1), *q;
	struct slabd_pktbuf *v[100];

	cr_assert_not_null(p, "%s", slabd_last_error());
	cr_assert_eq(slabd_pktbuf_alloc_bulk(p, v, 100), 0);
	slabd_pktbuf_free_bulk(v, 100);
	cr_assert_eq(slabd_pktpool_free(p), 0, "%s", slabd_last_error());
	errno = 0;
	cr_expect_null(slabd_pktpool_lookup("mortal"), "a freed pool is still found by name");
	cr_expect_eq(errno, ENOENT);
	cr_expect_null(kmem_cache_lookup("mortal"), "its cache is still there");
	/* the name again, another n and geometry */
	q = slabd_pktpool_create("mortal", 300, 1024, 8, -1);
	cr_assert_not_null(q, "%s", slabd_last_error());
	cr_expect_eq(slabd_pktpool_size(q), 300);
	cr_expect_eq(slabd_pktpool_lookup("mortal"), q);
	cr_expect_eq(drain_count(q, 301), 300, "the new pool does not hold exactly its 300");
	cr_assert_eq(slabd_pktbuf_alloc_bulk(q, v, 100), 0);
	cr_expect_eq(v[0]->buf_len, 128 + 1024, "a buffer of the new pool has the old geometry");
	cr_expect_eq(v[0]->priv_size, 8);
	slabd_pktbuf_free_bulk(v, 100);
	cr_expect_eq(slabd_pktpool_free(q), 0, "%s", slabd_last_error());
	audit_clean();
}

Test(pktbuf, a_pool_is_not_freed_while_a_buffer_is_out_in_any_process)
{
	struct slabd_pktpool *p = slabd_pktpool_create("held", 64, 256, 0, -1);
	struct slabd_pktbuf *m;
	int to_child[2], to_parent[2];
	char c;
	pid_t pid;

	cr_assert_not_null(p, "%s", slabd_last_error());
	m = slabd_pktbuf_alloc(p);
	cr_assert_not_null(m);
	cr_expect_eq(slabd_pktpool_free(p), -EBUSY, "freed with a buffer out");
	cr_expect(strstr(slabd_last_error(), "held") && strstr(slabd_last_error(), "1 of its 64") &&
		      strstr(slabd_last_error(), "free every buffer"),
		  "the refusal does not say what to do: %s", slabd_last_error());
	cr_expect_eq(slabd_pktpool_lookup("held"), p, "a refused free lost the pool's name");
	slabd_pktbuf_free(m);

	/* a buffer held by another process */
	cr_assert_eq(pipe(to_child), 0);
	cr_assert_eq(pipe(to_parent), 0);
	pid = fork();
	if (pid == 0) {
		struct slabd_pktpool *q = slabd_pktpool_lookup("held");
		struct slabd_pktbuf *b = q ? slabd_pktbuf_alloc(q) : NULL;

		c = b ? 'y' : 'n';
		if (write(to_parent[1], &c, 1) != 1 || read(to_child[0], &c, 1) != 1)
			_exit(3);
		slabd_pktbuf_free(b);
		_exit(b ? 0 : 1);
	}
	cr_assert_eq(read(to_parent[0], &c, 1), 1);
	cr_assert_eq(c, 'y', "the child got no buffer");
	cr_expect_eq(slabd_pktpool_free(p), -EBUSY, "freed while the child holds a buffer");
	cr_expect_eq(slabd_pktpool_lookup("held"), p);
	cr_assert_eq(write(to_child[1], "g", 1), 1);
	cr_assert_eq(wait_child(pid), 0);
	/* two refusals lost nothing: all 64 are there, for this process's handle */
	cr_expect_eq(drain_count(p, 65), 64, "a refused free lost buffers");
	cr_expect_eq(slabd_pktpool_free(p), 0, "%s", slabd_last_error());
	audit_clean();
}

Test(pktbuf, a_freed_handle_fails_cleanly_even_when_a_new_cache_takes_its_id)
{
	struct slabd_pktpool *p = slabd_pktpool_create("gone", 32, 256, 0, -1);
	struct slabd_pktbuf *v[4], *m;
	struct kmem_cache *s;
	void *objs[16];
	unsigned int id, n = 4, i;
	int local;

	cr_assert_not_null(p, "%s", slabd_last_error());
	id = pool_id(p);
	m = slabd_pktbuf_alloc(p); /* this CPU's stack of the pool filled */
	cr_assert_not_null(m);
	slabd_pktbuf_free(m);
	cr_assert_eq(slabd_pktpool_free(p), 0, "%s", slabd_last_error());
	errno = 0;
	cr_expect_null(slabd_pktbuf_alloc(p), "a freed pool handed out a buffer");
	cr_expect_eq(errno, EINVAL);
	cr_expect_eq(slabd_pktbuf_alloc_bulk(p, v, 4), -EINVAL);
	cr_expect_eq(slabd_pktbuf_alloc_bulk(p, v, n), -EINVAL);
	cr_expect_eq(slabd_pktpool_size(p), 0);
	cr_expect_eq(slabd_pktpool_free(p), -EINVAL, "freed twice");
	cr_expect(strstr(slabd_last_error(), "freed already") != NULL, "%s", slabd_last_error());
	cr_expect_eq(slabd_pktpool_free(NULL), -EINVAL);
	cr_expect_eq(slabd_pktpool_free((struct slabd_pktpool *)(void *)&local), -EINVAL);

	/* a plain cache takes the id, and its objects sit in this CPU's stack of it: the dead
	 * handle still must not reach them */
	s = kmem_cache_create("squatter", 200, 0, 0, NULL);
	cr_assert_not_null(s);
	cr_assert_eq(kmem_cache_alloc_bulk(s, GFP_KERNEL, 16, objs), 16);
	kmem_cache_free_bulk(s, 16, objs);
	cr_assert_eq(((const struct slabd_fast_handle *)(const void *)s)->id, id,
		     "the new cache did not take the freed pool's id: nothing tested");
	for (i = 0; i < 4; i++) {
		errno = 0;
		cr_expect_null(slabd_pktbuf_alloc(p),
			       "a freed pool's handle popped the new cache's object");
		cr_expect_eq(errno, EINVAL);
	}
	cr_expect_eq(slabd_pktbuf_alloc_bulk(p, v, 4), -EINVAL);
	errno = 0;
	kmem_cache_destroy(s); /* refused if the dead handle had taken one of its objects */
	cr_expect_eq(errno, 0, "the new cache's objects were taken: %s", slabd_last_error());
	audit_clean();
}

Test(pktbuf, a_freed_pool_gives_its_dma_pages_back)
{
	uint32_t before = dma_free_pages(), during;
	struct slabd_pktpool *p = slabd_pktpool_create("pages", 1000, 2048, 0, -1);
	static struct slabd_pktbuf *v[1000];

	cr_assert_not_null(p, "%s", slabd_last_error());
	during = dma_free_pages();
	cr_assert_lt(during, before, "the pool took no DMA pages");
	cr_assert_eq(slabd_pktbuf_alloc_bulk(p, v, 1000), 0);
	slabd_pktbuf_free_bulk(v, 1000);
	cr_assert_eq(slabd_pktpool_free(p), 0, "%s", slabd_last_error());
	cr_expect_eq(dma_free_pages(), before, "%u of the pool's %u pages were not given back",
		     before - dma_free_pages(), before - during);
	/* and a pool as large again fits */
	p = slabd_pktpool_create("pages-again", 1000, 2048, 0, -1);
	cr_expect_not_null(p, "%s", slabd_last_error());
	cr_expect_eq(drain_count(p, 1001), 1000);
	audit_clean();
}

/* Another process's handle of a freed pool: its allocations fail with EINVAL, also after a
 * new pool took the id and filled its stacks; the daemon keeps running. */
Test(pktbuf, a_stale_handle_in_another_process_fails_cleanly)
{
	struct slabd_pktpool *p = slabd_pktpool_create("stale", 64, 256, 0, -1), *q;
	struct slabd_pktbuf *v[64];
	int to_child[2], to_parent[2];
	char c;
	pid_t pid;

	cr_assert_not_null(p, "%s", slabd_last_error());
	cr_assert_eq(pipe(to_child), 0);
	cr_assert_eq(pipe(to_parent), 0);
	pid = fork();
	if (pid == 0) {
		struct slabd_pktpool *h = slabd_pktpool_lookup("stale"), *h2;
		struct slabd_pktbuf *b[4], *x;
		int bad = 0;

		x = h ? slabd_pktbuf_alloc(h) : NULL;
		if (!x)
			_exit(1);
		slabd_pktbuf_free(x); /* its CPU's stack of the pool holds a buffer */
		if (write(to_parent[1], "r", 1) != 1 || read(to_child[0], &c, 1) != 1)
			_exit(3);
		/* the pool is freed */
		errno = 0;
		bad += slabd_pktbuf_alloc(h) != NULL || errno != EINVAL;
		bad += slabd_pktbuf_alloc_bulk(h, b, 4) != -EINVAL;
		if (write(to_parent[1], "s", 1) != 1 || read(to_child[0], &c, 1) != 1)
			_exit(3);
		/* a new pool has the id, its stacks are full: still nothing for the old handle */
		errno = 0;
		bad += (slabd_pktbuf_alloc(h) != NULL || errno != EINVAL) << 2;
		h2 = slabd_pktpool_lookup("stale-2");
		x = h2 ? slabd_pktbuf_alloc(h2) : NULL;
		bad += (!x || x->buf_len != 128 + 512) << 4;
		slabd_pktbuf_free(x);
		_exit(bad);
	}
	cr_assert_eq(read(to_parent[0], &c, 1), 1);
	cr_assert_eq(slabd_pktpool_free(p), 0, "%s", slabd_last_error());
	cr_assert_eq(write(to_child[1], "g", 1), 1);
	cr_assert_eq(read(to_parent[0], &c, 1), 1);
	q = slabd_pktpool_create("stale-2", 64, 512, 0, -1);
	cr_assert_not_null(q, "%s", slabd_last_error());
	cr_expect_eq(pool_id(q), pool_id(p), "the new pool did not take the id: less tested");
	cr_assert_eq(slabd_pktbuf_alloc_bulk(q, v, 64), 0);
	slabd_pktbuf_free_bulk(v, 64);
	cr_assert_eq(write(to_child[1], "g", 1), 1);
	cr_expect_eq(wait_child(pid), 0,
		     "the child's stale handle misbehaved (bits of the exit status)");
	cr_expect(td_alive(&td));
	cr_expect_eq(drain_count(q, 65), 64, "the new pool lost buffers");
	audit_clean();
}

/* A free racing with another process's allocations ends refused or with the allocations
 * failing; a buffer is never handed out once the free has succeeded. */
Test(pktbuf, a_free_racing_with_allocations_never_hands_out_a_buffer_of_a_freed_pool,
     .timeout = 120)
{
	struct slabd_pktpool *p = slabd_pktpool_create("race", 256, 256, 0, -1);
	volatile int *freed;
	unsigned int busy = 0, tries = 0;
	int to_parent[2], r;
	char c;
	pid_t pid;

	cr_assert_not_null(p, "%s", slabd_last_error());
	freed = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq((void *)freed, MAP_FAILED);
	*freed = 0;
	cr_assert_eq(pipe(to_parent), 0);
	pid = fork();
	if (pid == 0) {
		struct slabd_pktpool *h = slabd_pktpool_lookup("race");
		struct slabd_pktbuf *b[8];
		unsigned long rounds = 0;

		alarm(100); /* a child that never sees the pool go does not outlive the test */
		if (!h || write(to_parent[1], "r", 1) != 1)
			_exit(1);
		for (;;) {
			int was_freed = __atomic_load_n(freed, __ATOMIC_ACQUIRE);
			struct slabd_pktbuf *x = slabd_pktbuf_alloc(h);
			int e = errno;

			if (x && was_freed)
				_exit(2); /* a buffer of a freed pool */
			if (x) {
				x->data_len = 1;
				slabd_pktbuf_free(x);
			} else if (e == EINVAL) {
				break;
			} else if (e != ENOMEM) {
				_exit(3);
			}
			if (++rounds % 16 == 0) {
				was_freed = __atomic_load_n(freed, __ATOMIC_ACQUIRE);
				r = slabd_pktbuf_alloc_bulk(h, b, 8);
				if (r == 0 && was_freed)
					_exit(4);
				if (r == 0)
					slabd_pktbuf_free_bulk(b, 8);
				else if (r != -ENOMEM && r != -EINVAL)
					_exit(5);
			}
		}
		/* EINVAL only for a freed pool: the parent's free succeeds (it may not have
		 * returned yet) */
		for (rounds = 0; rounds < 10000 && !__atomic_load_n(freed, __ATOMIC_ACQUIRE);
		     rounds++)
			usleep(1000);
		_exit(__atomic_load_n(freed, __ATOMIC_ACQUIRE) ? 0 : 6);
	}
	cr_assert_eq(read(to_parent[0], &c, 1), 1);
	usleep(20000);
	while ((r = slabd_pktpool_free(p)) == -EBUSY && ++tries < 100000) {
		busy++;
		sched_yield();
	}
	cr_assert_eq(r, 0, "after %u tries: %s", tries, slabd_last_error());
	__atomic_store_n(freed, 1, __ATOMIC_RELEASE);
	r = wait_child(pid);
	cr_expect_eq(r, 0,
		     "the allocating child failed with %d (2, 4: a buffer of the freed pool; 3, 5: "
		     "another errno; 6: EINVAL before the free)",
		     r);
	cr_log_info("the free was refused %u times while the child allocated", busy);
	cr_expect(td_alive(&td));
	audit_clean();
	munmap((void *)freed, 4096);
}

/* slabctl's list of caches (pools are caches) forgets a freed pool. */
Test(pktbuf, slabctl_no_longer_lists_a_freed_pool)
{
	struct slabd_pktpool *p = slabd_pktpool_create("listed-pool", 16, 256, 0, -1);
	char cmd[512], out[16384];
	size_t n;
	FILE *f;

	cr_assert_not_null(p, "%s", slabd_last_error());
	snprintf(cmd, sizeof(cmd), "%s --socket %s caches 2>&1", SLABCTL_BIN, td.sock);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = 0;
	pclose(f);
	cr_assert(strstr(out, "listed-pool") != NULL, "slabctl caches does not list pools: %s",
		  out);
	cr_assert_eq(slabd_pktpool_free(p), 0, "%s", slabd_last_error());
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = 0;
	pclose(f);
	cr_expect(strstr(out, "listed-pool") == NULL, "slabctl still lists the freed pool: %s",
		  out);
}
