/* SPDX-License-Identifier: MIT */
/*
 * test_verify.c - the audit behind `slabctl verify`: after a workload that frees
 * everything it allocated, every object of every slab is free in exactly one place and
 * the count of allocated objects is what the test still holds; an object put into two
 * free places (a per-CPU stack and a depot magazine, two magazines, a per-CPU stack and a
 * free chain) is reported as a duplicate, and slabctl says INCONSISTENT with exit status 4.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <slabd/pktbuf.h>
#include <slabd/slabd.h>

#include "daemon_helper.h"
#include "slabd_ops.h"
#include "slabd_shm.h"
#include "slabd_wire.h"

#ifndef SLABCTL_BIN
#error "SLABCTL_BIN must name the slabctl binary"
#endif

static struct test_daemon td;

static void up(void)
{
	cr_assert_eq(td_start(&td, NULL), 0, "slabd did not start");
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
}

static void down(void)
{
	cr_expect(td_alive(&td), "slabd died during the test");
	cr_expect_eq(td_stop(&td), 0, "slabd did not stop cleanly");
}

TestSuite(verify, .init = up, .fini = down, .timeout = 120);

static void audit(struct slabd_wire_verify *r)
{
	cr_assert_eq(td_verify(&td, SLABD_VERIFY_AUDIT, r), 0, "no VERIFY reply (stderr says why)");
	cr_assert_eq(r->err, 0);
}

/* Run slabctl verify; its exit status, its output in @out. */
static int slabctl_verify(char *out, size_t len)
{
	char cmd[512];
	FILE *f;
	size_t n;
	int status;

	snprintf(cmd, sizeof(cmd), "%s --socket %s verify 2>&1", SLABCTL_BIN, td.sock);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	n = fread(out, 1, len - 1, f);
	out[n] = 0;
	status = pclose(f);
	cr_assert(WIFEXITED(status), "slabctl died: %s", out);
	return WEXITSTATUS(status);
}

static struct {
	char *base;
	struct slabd_shm_super *sb;
	struct slabd_shm_ctl *ctl;
	struct slabd_shm_depot *depots;
	struct slabd_shm_mag *mags;
} g;

static void map_region(void)
{
	struct slabd_attach_info ai;

	cr_assert_eq(slabd_attach_info(&ai), 0);
	g.base = (char *)(uintptr_t)ai.base;
	g.sb = (struct slabd_shm_super *)g.base;
	g.ctl = (void *)(g.base + g.sb->percpu_off + g.sb->ctl_off);
	g.depots = (void *)(g.base + g.sb->percpu_off + g.sb->depot_off);
	g.mags = (void *)(g.base + g.sb->percpu_off + g.sb->mag_off);
}

/* Put @p, already free, into a magazine of its own on kmalloc-64's depot full stack. */
static void into_a_magazine(void *p)
{
	struct slabd_shm_mag *m = slabd_stack_pop(&g.ctl->empty_mags, g.mags, g.sb->nr_mags);

	cr_assert_not_null(m);
	m->count = 1;
	m->objs[0] = slabd_ptr_to_off(p);
	slabd_stack_push(&g.depots[slabd_shm_depot_index(g.sb, 6, 0)].full, g.mags, m);
}

Test(verify, after_freeing_everything_every_object_is_free_in_exactly_one_place)
{
	struct kmem_cache *nc = kmem_cache_create("verified", 200, 16, 0, NULL);
	static void *v[6000];
	struct slabd_wire_verify r;
	char out[4096];
	int i, kept = 0;

	cr_assert_not_null(nc);
	for (i = 0; i < 6000; i++) {
		v[i] = i % 3 == 0 ? kmem_cache_alloc(nc, GFP_KERNEL)
				  : kmalloc(8 + (size_t)(i * 37 % 4000), GFP_KERNEL);
		cr_assert_not_null(v[i]);
		memset(v[i], 0x11, 8);
	}
	/* free all but 123 kmalloc objects, in a shuffled order */
	for (i = 0; i < 6000; i++) {
		int k = (i * 4099) % 6000;
		if (k % 3 != 0 && kept < 123) {
			kept++;
			continue;
		}
		if (k % 3 == 0)
			kmem_cache_free(nc, v[k]);
		else
			kfree(v[k]);
		v[k] = NULL;
	}
	audit(&r);
	cr_assert_eq(r.problems, 0, "problems with a clean region: %s", r.first);
	cr_assert_gt(r.objects, 5000);
	cr_assert_eq(r.allocated, 123, "%llu objects allocated, the test holds 123",
		     (unsigned long long)r.allocated);
	cr_assert_eq(r.objects, r.free_slabs + r.free_mags + r.allocated);

	/* the rest too: nothing allocated, and slabctl agrees */
	for (i = 0; i < 6000; i++)
		if (v[i])
			kfree(v[i]);
	cr_assert_eq(slabctl_verify(out, sizeof(out)), 0, "slabctl verify: %s", out);
	cr_assert(strstr(out, "allocated:      0\n") != NULL, "%s", out);
	cr_assert(strstr(out, "problems:       0\n") != NULL, "%s", out);
	cr_assert(strstr(out, "consistent") != NULL, "%s", out);
	cr_assert(td_log_contains(&td, "verify: "), "the daemon did not log the audit");
}

Test(verify, an_object_free_in_a_per_cpu_stack_and_a_magazine_is_reported)
{
	struct slabd_wire_verify r;
	char out[4096];
	void *p;

	map_region();
	p = kmalloc(64, GFP_KERNEL);
	cr_assert_not_null(p);
	audit(&r);
	cr_assert_eq(r.problems, 0, "%s", r.first);
	kfree(p);	    /* free in this CPU's stack */
	into_a_magazine(p); /* and in a depot magazine */
	cr_assert_eq(slabctl_verify(out, sizeof(out)), 4, "slabctl verify did not fail: %s", out);
	cr_assert(strstr(out, "INCONSISTENT") != NULL, "%s", out);
	cr_assert(strstr(out, "duplicates:     1 ") != NULL, "%s", out);
	cr_assert(td_log_contains(&td, "is free in its slab and in magazine") ||
		      td_log_contains(&td, "returned twice"),
		  "the duplicate is not in the log");
}

Test(verify, an_object_in_two_magazines_is_reported)
{
	struct slabd_wire_verify r;
	void *p;

	map_region();
	p = kmalloc(64, GFP_KERNEL);
	cr_assert_not_null(p);
	/* allocated, yet in two free magazines: one is a free the other a duplicate */
	into_a_magazine(p);
	into_a_magazine(p);
	audit(&r);
	cr_assert_eq(r.duplicates, 1, "duplicates %llu: %s", (unsigned long long)r.duplicates,
		     r.first);
	cr_assert(strstr(r.first, "two magazines") != NULL, "%s", r.first);
	cr_assert_eq(r.problems, 1);
}

Test(verify, an_object_in_a_per_cpu_stack_and_a_free_chain_is_reported)
{
	struct slabd_wire_verify r;
	uint64_t off;
	void *p;

	map_region();
	p = kmalloc(64, GFP_KERNEL);
	cr_assert_not_null(p);
	kfree(p);
	off = slabd_ptr_to_off(p);
	slabd_chain_push(&g.depots[slabd_shm_depot_index(g.sb, 6, 0)].freelist, g.base, off, off);
	audit(&r);
	cr_assert_eq(r.duplicates, 1, "duplicates %llu: %s", (unsigned long long)r.duplicates,
		     r.first);
	cr_assert_eq(r.problems, 1);
}

Test(verify, a_packet_pool_s_held_back_tail_is_not_counted_as_allocated)
{
	/* 100 buffers: the last slab carved has room for more, which are never objects */
	struct slabd_pktpool *p = slabd_pktpool_create("verified-pool", 100, 512, 0, -1);
	struct slabd_pktbuf *b[3];
	struct slabd_wire_verify r;
	int i;

	cr_assert_not_null(p, "%s", slabd_last_error());
	for (i = 0; i < 3; i++)
		cr_assert_not_null(b[i] = slabd_pktbuf_alloc(p));
	slabd_pktbuf_free(b[2]);
	audit(&r);
	cr_assert_eq(r.problems, 0, "%s", r.first);
	cr_expect_eq(r.allocated, 2, "%llu objects allocated, the test holds 2 buffers",
		     (unsigned long long)r.allocated);
	cr_expect_eq(r.objects, r.free_slabs + r.free_mags + r.allocated);
	slabd_pktbuf_free(b[0]);
	slabd_pktbuf_free(b[1]);
	audit(&r);
	cr_expect_eq(r.allocated, 0, "%llu objects allocated, the test holds none",
		     (unsigned long long)r.allocated);
}
