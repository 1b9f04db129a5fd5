/* SPDX-License-Identifier: MIT */
/*
 * test_debug.c - debug mode (SLAB_POISON, SLAB_RED_ZONE, SLAB_STORE_USER, slabctl debug)
 * and owner tracking with reclaim on a client's death, against a real daemon.
 *
 * Each detection (double free, a pointer of no object, a pointer into an object, a red
 * zone overwritten, a write after free) must produce a report naming the object, its
 * cache (and with SLAB_STORE_USER the allocating pid), count it, and never free an
 * object twice: the test then allocates the cache's objects and checks none comes out
 * twice. Switching at run time with slabctl while another process allocates; with debug
 * off the per-CPU stacks hold objects again. Call sites (layout 8): every public
 * allocating and freeing call records the user's function (symbolized in reports of the
 * same process: this binary is linked with -rdynamic), another process's raw, with its
 * pid. Owner tracking: fork()ed clients allocate
 * tracked objects, hand some to the parent, are SIGKILLed; the daemon gives back exactly
 * the others, and the audit is clean.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "daemon_helper.h"
#include "shm_view.h"
#include "slabd_shm.h"
#include "slabd_wire.h"

static struct test_daemon td;

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static struct slabd_wire_debug debug_req(uint32_t cache, uint32_t op, uint32_t flags)
{
	struct slabd_wire_debug r;

	cr_assert_eq(td_debug(&td, cache, op, flags, &r), 0, "no DEBUG_REPLY");
	return r;
}

static struct slabd_wire_cache_info cache_info(uint32_t id)
{
	struct slabd_wire_info_req q;
	struct slabd_wire_cache_info r;

	slabd_wire_init(&q.hdr, SLABD_MSG_CACHE_INFO, sizeof(q), 1);
	q.index = id;
	cr_assert_eq(td_request(&td, &q, sizeof(q), &r, sizeof(r), SLABD_MSG_CACHE_INFO_REPLY), 0, "no CACHE_INFO_REPLY");
	cr_assert_eq(r.err, 0);
	cr_assert_eq(r.cache, id);
	return r;
}

/* Run @fn with stderr going to a file; returns what it printed (static buffer). */
static char captured[8192];
static const char *capture(void (*fn)(void *), void *arg)
{
	char path[256];
	int fd, saved;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/stderr.txt", td.dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	fn(arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	n = read(fd, captured, sizeof(captured) - 1);
	captured[n > 0 ? n : 0] = 0;
	close(fd);
	return captured;
}

static void up(void)
{
	cr_assert_eq(td_start(&td, (const char *const[]){"idle_drain_ms=3600000", "worker_interval_ms=20", NULL}), 0,
		     "slabd did not start");
	cr_assert_eq(slabd_connect(td.sock), 0, "connect: %s", slabd_last_error());
}

static void down(void)
{
	slabd_disconnect();
	cr_expect(td_alive(&td), "slabd died");
	cr_expect_eq(td_stop(&td), 0, "slabd did not stop cleanly");
}

TestSuite(debug, .init = up, .fini = down, .timeout = 120);

static uint32_t cache_id(struct kmem_cache *c)
{
	return *(const uint32_t *)c; /* the handle's first word (<slabd/fast.h>) */
}

/* No object of @c comes out twice in @n allocations (then all are freed). */
static void assert_no_duplicates(struct kmem_cache *c, int n)
{
	void **v = calloc((size_t)n, sizeof(*v));
	int i, j;

	for (i = 0; i < n; i++) {
		v[i] = kmem_cache_alloc(c, GFP_KERNEL);
		cr_assert_not_null(v[i]);
		for (j = 0; j < i; j++)
			cr_assert_neq(v[i], v[j], "object %p handed out twice", v[i]);
	}
	for (i = 0; i < n; i++)
		kmem_cache_free(c, v[i]);
	free(v);
}

struct two {
	struct kmem_cache *c;
	void *p, *q;
};

static void do_double_free(void *arg)
{
	struct two *t = arg;
	kmem_cache_free(t->c, t->p);
	kmem_cache_free(t->c, t->p);
}

Test(debug, a_double_free_is_reported_with_cache_and_pid_and_not_freed_twice)
{
	struct kmem_cache *c = kmem_cache_create("dbg-double", 40, 0, SLAB_POISON | SLAB_RED_ZONE | SLAB_STORE_USER, NULL);
	struct two t = {c, NULL, NULL};
	char want[64];
	const char *out;

	cr_assert_not_null(c, "%s", slabd_last_error());
	cr_assert_eq(ksize(t.p = kmem_cache_alloc(c, GFP_KERNEL)), 40, "ksize is the object, not the red zone");
	out = capture(do_double_free, &t);
	snprintf(want, sizeof(want), " by pid %d (owner pid %d)", (int)getpid(), (int)getpid());
	cr_expect(strstr(out, "double free") && strstr(out, "dbg-double") && strstr(out, want),
		  "report: %s", out);
	cr_expect(strstr(slabd_last_error(), "double free"), "last error: %s", slabd_last_error());
	cr_expect_eq(debug_req(cache_id(c), SLABD_DEBUG_OP_QUERY, 0).errors, 1);
	assert_no_duplicates(c, 300);
}

/* exported (the binary is linked with -rdynamic) and noinline, for the report to name */
void site_bad_kfree(void *p);
__attribute__((noinline)) void site_bad_kfree(void *p)
{
	kfree(p);
	__asm__ volatile("" : : "r"(p) : "memory"); /* no tail call */
}

static void do_bad_pointers(void *arg)
{
	struct two *t = arg;
	static long not_slabd;
	kfree((char *)t->p + 8);  /* into the object */
	site_bad_kfree(&not_slabd); /* not from the region */
}

Test(debug, pointers_into_an_object_or_of_no_object_are_reported_and_ignored)
{
	struct kmem_cache *c = kmem_cache_create("dbg-ptr", 64, 0, SLAB_STORE_USER, NULL);
	struct two t = {c, NULL, NULL};
	struct slabd_wire_debug before, after;
	const char *out;
	char want[96];

	cr_assert_not_null(c);
	t.p = kmem_cache_alloc(c, GFP_KERNEL);
	memset(t.p, 0x42, 64);
	before = debug_req(SLABD_DEBUG_ALL_CACHES, SLABD_DEBUG_OP_QUERY, 0);
	out = capture(do_bad_pointers, &t);
	snprintf(want, sizeof(want), "middle of object %p of cache dbg-ptr (+8)", t.p);
	cr_expect(strstr(out, want), "report: %s", out);
	cr_expect(strstr(out, "not a pointer into slabd's object zones"), "report: %s", out);
	cr_expect(strstr(out, ") at site_bad_kfree+0x"), "the report does not name the caller of the bad kfree: %s",
		  out);
	after = debug_req(SLABD_DEBUG_ALL_CACHES, SLABD_DEBUG_OP_QUERY, 0);
	cr_expect_eq(after.errors - before.errors, 2);
	/* the object is still allocated and intact */
	cr_expect_eq(((unsigned char *)t.p)[8], 0x42);
	cr_expect_eq(((unsigned char *)t.p)[63], 0x42);
	kmem_cache_free(c, t.p);
	assert_no_duplicates(c, 200);
}

static void do_overflow(void *arg)
{
	struct two *t = arg;
	((char *)t->p)[21] = 'x'; /* a 21-byte object: one past its end */
	kmem_cache_free(t->c, t->p);
}

Test(debug, a_red_zone_overwrite_is_reported_at_free)
{
	struct kmem_cache *c = kmem_cache_create("dbg-redzone", 21, 0, SLAB_RED_ZONE, NULL);
	struct two t = {c, NULL, NULL};
	const char *out;
	char want[96];

	cr_assert_not_null(c);
	t.p = kmem_cache_alloc(c, GFP_KERNEL);
	out = capture(do_overflow, &t);
	snprintf(want, sizeof(want), "red zone overwritten: object %p of cache dbg-redzone, byte +21", t.p);
	cr_expect(strstr(out, want), "report: %s", out);
	cr_expect_eq(debug_req(cache_id(c), SLABD_DEBUG_OP_QUERY, 0).errors, 1);
	assert_no_duplicates(c, 100);
}

/* Allocate until t->p comes back (t->q: the last one taken), then free them all. */
static void do_until_it_comes_back(void *arg)
{
	struct two *t = arg;
	void *v[64];
	int i, n = 0;

	for (i = 0; i < 64; i++) {
		v[n++] = kmem_cache_alloc(t->c, GFP_KERNEL);
		if (v[n - 1] == t->p)
			break;
	}
	t->q = v[n - 1];
	while (n)
		kmem_cache_free(t->c, v[--n]);
}

static void do_use_after_free(void *arg)
{
	struct two *t = arg;

	kmem_cache_free(t->c, t->p);
	((char *)t->p)[30] = 1; /* write after free */
	do_until_it_comes_back(t);
}

Test(debug, a_write_after_free_is_caught_by_the_poison_at_the_next_allocation)
{
	struct kmem_cache *c = kmem_cache_create("dbg-poison", 48, 0, SLAB_POISON | SLAB_RED_ZONE, NULL);
	struct two t = {c, NULL, NULL};
	const char *out;
	char want[96];

	cr_assert_not_null(c);
	t.p = kmem_cache_alloc(c, GFP_KERNEL);
	out = capture(do_use_after_free, &t);
	cr_assert_eq(t.q, t.p, "the freed object did not come back within 64 allocations");
	snprintf(want, sizeof(want), "write after free: object %p of cache dbg-poison, byte +30", t.p);
	cr_expect(strstr(out, want), "report: %s", out);
}

Test(debug, poison_switched_on_later_does_not_call_objects_freed_before_written_after_free)
{
	struct kmem_cache *c = kmem_cache_create("dbg-addpoison", 48, 0, SLAB_RED_ZONE, NULL);
	struct two t = {c, NULL, NULL};
	const char *out;

	cr_assert_not_null(c);
	t.p = kmem_cache_alloc(c, GFP_KERNEL);
	cr_assert_not_null(t.p);
	memset(t.p, 0x42, 48);
	kmem_cache_free(c, t.p); /* a correct free, with the red zone only: not poisoned */
	cr_assert_eq(debug_req(cache_id(c), SLABD_DEBUG_OP_ON, SLAB_POISON | SLAB_RED_ZONE).flags,
		     SLAB_POISON | SLAB_RED_ZONE);
	out = capture(do_until_it_comes_back, &t);
	cr_assert_eq(t.q, t.p, "the freed object did not come back within 64 allocations");
	cr_expect(!strstr(out, "write after free"), "a correctly freed object was reported: %s", out);
	cr_expect_eq(debug_req(cache_id(c), SLABD_DEBUG_OP_QUERY, 0).errors, 0);
}

#define MANY 1000

/* Allocate until t->p comes back (at most 2 * MANY, all held), then free them all. */
static void do_many_until_it_comes_back(void *arg)
{
	struct two *t = arg;
	static void *v[2 * MANY];
	int n = 0;

	t->q = NULL;
	while (n < 2 * MANY && t->q != t->p) {
		v[n] = kmem_cache_alloc(t->c, GFP_KERNEL);
		t->q = v[n++];
	}
	while (n)
		kmem_cache_free(t->c, v[--n]);
}

Test(debug, the_poison_mark_of_an_earlier_epoch_is_not_believed)
{
	/* no trailer: debug mode is the poison and its mark in the last word */
	struct kmem_cache *c = kmem_cache_create("dbg-mark", 64, 0, SLAB_POISON, NULL);
	static void *v[MANY];
	struct two t = {c, NULL, NULL};
	const char *out;
	int i, found = 0;

	cr_assert_not_null(c);
	t.p = kmem_cache_alloc(c, GFP_KERNEL);
	cr_assert_not_null(t.p);
	kmem_cache_free(c, t.p); /* poisoned, and marked, in epoch 1 */
	cr_assert_eq(debug_req(cache_id(c), SLABD_DEBUG_OP_OFF, 0).flags, 0);
	/* debug off: the object is used again, as a user of its first 32 bytes uses it (the
	 * fast paths touch nothing else), and freed */
	for (i = 0; i < MANY; i++) {
		v[i] = kmem_cache_alloc(c, GFP_KERNEL);
		cr_assert_not_null(v[i]);
		memset(v[i], 0x42, 32);
		found |= v[i] == t.p;
	}
	cr_assert(found, "the object did not come back with debug off");
	/* its neighbours stay allocated: its slab is not given back to the zone */
	for (i = 0; i < MANY; i++)
		if (v[i] == t.p || ((uintptr_t)v[i] ^ (uintptr_t)t.p) >= 4096) {
			kmem_cache_free(c, v[i]);
			v[i] = NULL;
		}
	cr_assert_eq(debug_req(cache_id(c), SLABD_DEBUG_OP_ON, SLAB_POISON).flags, SLAB_POISON);
	/* everything free back in the slabs, the empty ones gone: the object is the one free
	 * object of the one partial slab, taken at the depot's next refill */
	cr_assert_eq(kmem_cache_shrink(c), 0);
	out = capture(do_many_until_it_comes_back, &t);
	cr_assert_eq(t.q, t.p, "the object did not come back with debug on");
	cr_expect(!strstr(out, "write after free"), "the mark of epoch 1 was believed in epoch 2: %s", out);
	cr_expect_eq(debug_req(cache_id(c), SLABD_DEBUG_OP_QUERY, 0).errors, 0);
	for (i = 0; i < MANY; i++)
		kmem_cache_free(c, v[i]);
}

Test(debug, a_destroyed_cache_s_counters_do_not_pass_to_the_next_cache_of_its_id)
{
	struct kmem_cache *c = kmem_cache_create("dbg-gone", 40, 0, SLAB_POISON, NULL), *n;
	struct two t = {c, NULL, NULL};
	uint32_t id;

	cr_assert_not_null(c);
	id = cache_id(c);
	t.p = kmem_cache_alloc(c, GFP_KERNEL);
	cr_assert_not_null(t.p);
	capture(do_double_free, &t);
	cr_assert_eq(debug_req(id, SLABD_DEBUG_OP_QUERY, 0).errors, 1);
	cr_assert_gt(cache_info(id).depot_misses, 0);
	errno = 0;
	kmem_cache_destroy(c);
	cr_assert_eq(errno, 0, "destroy: %s", slabd_last_error());
	n = kmem_cache_create("dbg-next", 40, 0, 0, NULL);
	cr_assert_not_null(n);
	cr_assert_eq(cache_id(n), id, "the id was not reused (the test needs it)");
	cr_expect_eq(debug_req(id, SLABD_DEBUG_OP_QUERY, 0).errors, 0, "a new cache starts with the old one's errors");
	cr_expect_eq(cache_info(id).depot_misses, 0, "a new cache starts with the old one's depot misses");
}

static void do_free_a_foreign_pointer(void *arg)
{
	kfree(arg);
}

Test(debug, with_the_last_debug_cache_destroyed_foreign_pointers_are_not_reported)
{
	struct kmem_cache *c = kmem_cache_create("dbg-last", 40, 0, SLAB_POISON, NULL);
	static long local;
	const char *out;

	cr_assert_not_null(c);
	out = capture(do_free_a_foreign_pointer, &local);
	cr_assert(strstr(out, "not a pointer into slabd's object zones"), "debug mode on: %s", out);
	errno = 0;
	kmem_cache_destroy(c);
	cr_assert_eq(errno, 0, "destroy: %s", slabd_last_error());
	cr_expect_eq(debug_req(SLABD_DEBUG_ALL_CACHES, SLABD_DEBUG_OP_QUERY, 0).caches, 0);
	out = capture(do_free_a_foreign_pointer, &local);
	cr_expect(!strstr(out, "slabd debug"), "no cache is in debug mode, yet: %s", out);
}

static void do_kmalloc_double_free(void *arg)
{
	void *p = kmalloc(64, GFP_KERNEL);
	*(void **)arg = p;
	kfree(p);
	kfree(p);
}

static int slabctl(const char *args)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s --socket %s %s > %s/slabctl.out 2>&1", SLABCTL_BIN, td.sock, args, td.dir);
	return system(cmd);
}

Test(debug, slabctl_switches_a_kmalloc_cache_at_run_time_while_another_process_allocates)
{
	struct slabd_wire_cache_info ci;
	void *p, *v[20];
	pid_t busy;
	int i, st, k;
	const char *out;

	busy = fork();
	cr_assert(busy >= 0);
	if (busy == 0) {
		/* another client: allocates and frees kmalloc-64 objects, checking a pattern */
		for (;;) {
			for (i = 0; i < 20; i++) {
				v[i] = kmalloc(64, GFP_KERNEL);
				if (!v[i])
					_exit(2);
				memset(v[i], i + 1, 64);
			}
			for (i = 0; i < 20; i++) {
				for (k = 0; k < 64; k++)
					if (((unsigned char *)v[i])[k] != i + 1)
						_exit(3);
				kfree(v[i]);
			}
		}
	}
	sleep_ms(100);
	cr_assert_eq(slabctl("debug kmalloc-64 on"), 0);
	cr_expect_eq(debug_req(6, SLABD_DEBUG_OP_QUERY, 0).flags, SLAB_POISON,
		     "a cache without a trailer gets poison and the pointer checks");
	ci = cache_info(6);
	cr_expect_eq(ci.pcpu_capacity, 0, "debug caches have no per-CPU stack capacity");
	sleep_ms(200);
	/* The other client is stopped around the double free: between the two kfrees it could
	 * take the object again, and the second kfree would then free its live object (a
	 * double free after the object was handed out again is not detectable without a
	 * quarantine; seen once in CI under load: no report, and the other client's pattern
	 * broken). */
	kill(busy, SIGSTOP);
	out = capture(do_kmalloc_double_free, &p);
	kill(busy, SIGCONT);
	cr_expect(strstr(out, "double free") && strstr(out, "kmalloc-64"), "report: %s", out);
	sleep_ms(200);
	cr_expect_eq(cache_info(6).in_pcpu, 0, "nothing enters the per-CPU stacks of a debug cache");

	cr_assert_eq(slabctl("debug kmalloc-64 off"), 0);
	cr_expect_eq(debug_req(6, SLABD_DEBUG_OP_QUERY, 0).flags, 0);
	cr_expect_gt(cache_info(6).pcpu_capacity, 0);
	sleep_ms(100);
	kill(busy, SIGKILL); /* before counting what the stacks hold: it pops them too */
	cr_assert_eq(waitpid(busy, &st, 0), busy);
	cr_expect(WIFSIGNALED(st), "the other client failed (exit %d) while debug was switched",
		  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	for (i = 0; i < 20; i++)
		v[i] = kmalloc(64, GFP_KERNEL);
	for (i = 0; i < 20; i++)
		kfree(v[i]);
	cr_expect_gt(cache_info(6).in_pcpu, 0, "with debug off, frees go to the per-CPU stacks again");
	cr_assert_eq(slabctl("debug"), 0);
}

#define KIDS 3
#define PER_KID 50
#define GIVEN 10

Test(debug, owner_tracking_gives_back_what_killed_clients_owned_but_not_what_they_gave_away)
{
	struct kmem_cache *c = kmem_cache_create("dbg-owned", 100, 0, SLAB_STORE_USER, NULL);
	uint64_t given[KIDS][GIVEN + 1];
	struct slabd_wire_debug r;
	struct slabd_wire_verify v;
	pid_t kids[KIDS];
	int i, k, fds[2], st, waited;

	cr_assert_not_null(c);
	cr_assert_eq(pipe(fds), 0);
	for (k = 0; k < KIDS; k++) {
		kids[k] = fork();
		cr_assert(kids[k] >= 0);
		if (kids[k] == 0) {
			uint64_t out[GIVEN + 1];
			close(fds[0]);
			out[GIVEN] = (uint64_t)k; /* which child: they arrive in any order */
			for (i = 0; i < PER_KID; i++) {
				unsigned char *p = kmem_cache_alloc(c, GFP_KERNEL);
				if (!p)
					_exit(2);
				memset(p, 0x10 + k, 100);
				if (i < GIVEN) {
					if (slabd_obj_give(p, getppid()) != 0)
						_exit(3);
					out[i] = slabd_ptr_to_off(p);
				}
			}
			if (write(fds[1], out, sizeof(out)) != (ssize_t)sizeof(out))
				_exit(4);
			pause();
			_exit(0);
		}
	}
	close(fds[1]);
	for (k = 0; k < KIDS; k++)
		cr_assert_eq(read(fds[0], given[k], sizeof(given[k])), (ssize_t)sizeof(given[k]));
	close(fds[0]);
	for (k = 0; k < KIDS; k++) {
		kill(kids[k], SIGKILL);
		cr_assert_eq(waitpid(kids[k], &st, 0), kids[k]);
		cr_assert(WIFSIGNALED(st), "child %d exited with %d", k, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	/* the daemon notices the hangups and reclaims: poll generously */
	for (waited = 0; waited < 30000; waited += 50) {
		r = debug_req(SLABD_DEBUG_ALL_CACHES, SLABD_DEBUG_OP_QUERY, 0);
		if (r.reclaimed >= (uint64_t)KIDS * (PER_KID - GIVEN))
			break;
		sleep_ms(50);
	}
	sleep_ms(200); /* a late reclaim beyond the count would show below */
	r = debug_req(SLABD_DEBUG_ALL_CACHES, SLABD_DEBUG_OP_QUERY, 0);
	cr_expect_eq(r.reclaimed, (uint64_t)KIDS * (PER_KID - GIVEN), "reclaimed %llu",
		     (unsigned long long)r.reclaimed);
	cr_expect(td_log_contains(&td, "objects it still owned are given back"));
	cr_expect_eq(cache_info(cache_id(c)).in_use, (uint64_t)KIDS * GIVEN, "only the handed objects are out");
	/* the handed objects are intact and still ours: new allocations never return them */
	assert_no_duplicates(c, 200);
	for (k = 0; k < KIDS; k++)
		for (i = 0; i < GIVEN; i++) {
			unsigned char *p = slabd_off_to_ptr(given[k][i]);
			int j, kid = (int)given[k][GIVEN];
			for (j = 0; j < 100; j++)
				cr_assert_eq(p[j], 0x10 + kid, "handed object %p of child %d damaged at +%d: %#x", (void *)p, kid, j, p[j]);
			kmem_cache_free(c, p);
		}
	cr_assert_eq(td_verify(&td, SLABD_VERIFY_AUDIT, &v), 0);
	cr_expect_eq(v.problems, 0, "audit: %s", v.first);
	cr_expect_eq(v.double_frees, 0);
	cr_expect_eq(cache_info(cache_id(c)).in_use, 0);
}

struct reclaimed {
	struct kmem_cache *c;
	uint64_t offs[5];
	int hit; /* a reclaimed object came out again */
};

static void do_after_reclaim(void *arg)
{
	struct reclaimed *r = arg;
	static void *v[2000];
	int i, n, j;

	/* hold objects until a reclaimed one comes out (its slab may have gone back to the
	 * zone meanwhile: then none does) */
	for (n = 0; n < 2000 && !r->hit; n++) {
		v[n] = kmem_cache_alloc(r->c, GFP_KERNEL);
		for (j = 0; j < 5; j++)
			r->hit |= slabd_ptr_to_off(v[n]) == r->offs[j];
	}
	for (i = 0; i < n; i++)
		kmem_cache_free(r->c, v[i]);
	kmem_cache_free(r->c, slabd_off_to_ptr(r->offs[4])); /* the dead child's pointer, kept */
}

Test(debug, a_reclaimed_object_looks_freed_to_the_checks)
{
	struct reclaimed rc = {kmem_cache_create("dbg-reclaim", 56, 0, SLAB_POISON | SLAB_STORE_USER, NULL), {0}, 0};
	struct slabd_wire_debug r;
	int fds[2], st, waited, i;
	const char *out;
	pid_t kid;

	cr_assert_not_null(rc.c);
	cr_assert_eq(pipe(fds), 0);
	kid = fork();
	cr_assert(kid >= 0);
	if (kid == 0) {
		for (i = 0; i < 5; i++) {
			void *p = kmem_cache_alloc(rc.c, GFP_KERNEL);
			if (!p)
				_exit(2);
			memset(p, 0x77, 56);
			rc.offs[i] = slabd_ptr_to_off(p);
		}
		if (write(fds[1], rc.offs, sizeof(rc.offs)) != (ssize_t)sizeof(rc.offs))
			_exit(3);
		pause();
		_exit(0);
	}
	cr_assert_eq(read(fds[0], rc.offs, sizeof(rc.offs)), (ssize_t)sizeof(rc.offs));
	kill(kid, SIGKILL);
	cr_assert_eq(waitpid(kid, &st, 0), kid);
	for (waited = 0; waited < 30000; waited += 50) {
		r = debug_req(SLABD_DEBUG_ALL_CACHES, SLABD_DEBUG_OP_QUERY, 0);
		if (r.reclaimed >= 5)
			break;
		sleep_ms(50);
	}
	cr_assert_eq(r.reclaimed, 5);
	out = capture(do_after_reclaim, &rc);
	/* the daemon poisons what it reclaims: no false "write after free" when it comes out */
	cr_expect(!strstr(out, "write after free"), "a reclaimed object (out again: %d) failed the poison check: %s",
		  rc.hit, out);
	cr_expect(strstr(out, "double free") && strstr(out, "dbg-reclaim"),
		  "a kfree of a reclaimed object went through: %s", out);
	cr_expect(strstr(out, "given back by slabd's owner reclaim"), "the report does not say who freed it: %s", out);
	cr_expect_eq(debug_req(cache_id(rc.c), SLABD_DEBUG_OP_QUERY, 0).errors, 1);
	close(fds[0]);
	close(fds[1]);
}

Test(debug, giving_an_object_to_a_process_that_is_not_attached_fails)
{
	struct kmem_cache *c = kmem_cache_create("dbg-give", 32, 0, SLAB_STORE_USER, NULL);
	void *p;
	static long local;

	cr_assert_not_null(c);
	p = kmem_cache_alloc(c, GFP_KERNEL);
	cr_expect_eq(slabd_obj_give(p, 999999), -ESRCH);
	cr_expect_eq(slabd_obj_give((char *)p + 1, 0), -EINVAL);
	cr_expect_eq(slabd_obj_give(&local, 0), -EINVAL);
	cr_expect_eq(slabd_obj_give(p, 0), 0, "to nobody");
	kmem_cache_free(c, p);
	cr_expect_eq(slabd_obj_give(p, 0), -EINVAL, "a free object has no owner");
}

/* ------------------------------------------------------------- call sites (layout 8) -- */

/* The track record of object @p (its cache has a trailer), through the region's view. */
static const struct slabd_shm_track *track_of(const void *p)
{
	struct shm_view g;
	const struct slabd_shm_cache *sc;

	cr_assert_eq(shm_view_get(&g), 0);
	sc = shm_cache(&g, shm_cache_of(&g, p));
	cr_assert_gt(sc->trailer, 0, "cache %s has no track record", sc->name);
	return (const void *)((const char *)p + sc->trailer);
}

/* The exported function @addr is in, as dladdr() names it ("?" for none). */
static const char *fn_at(uint64_t addr)
{
	Dl_info di;

	if (!addr || !dladdr((void *)(uintptr_t)addr, &di) || !di.dli_sname)
		return "?";
	return di.dli_sname;
}

/*
 * The call sites the tests know: exported (not static; the binary is linked with
 * -rdynamic) and noinline, and never ending in a tail call (the empty asm uses the result
 * after the call): a tail call returns straight to the caller's caller, which the record
 * would then name, as the kernel's would.
 */
#define KEEP(p) __asm__ volatile("" : : "r"(p) : "memory")
void *site_cache_alloc(struct kmem_cache *c);
void site_free_twice(struct two *t);
__attribute__((noinline)) void *site_cache_alloc(struct kmem_cache *c)
{
	void *p = kmem_cache_alloc(c, GFP_KERNEL);
	KEEP(p);
	return p;
}

__attribute__((noinline)) void site_free_twice(struct two *t)
{
	kmem_cache_free(t->c, t->p);
	KEEP(t);
	kmem_cache_free(t->c, t->p);
	KEEP(t);
}

static void do_site_double_free(void *arg)
{
	site_free_twice(arg);
}

Test(debug, a_double_free_report_names_the_functions_that_allocated_and_freed_the_object)
{
	struct kmem_cache *c = kmem_cache_create("dbg-site", 40, 0, SLAB_RED_ZONE | SLAB_STORE_USER, NULL);
	struct two t = {c, NULL, NULL};
	const struct slabd_shm_track *tr;
	const char *out;
	char want[128];

	cr_assert_not_null(c, "%s", slabd_last_error());
	t.p = site_cache_alloc(c);
	cr_assert_not_null(t.p);
	/* the record, read directly: this process, an address inside site_cache_alloc */
	tr = track_of(t.p);
	cr_expect_eq(tr->alloc_pid, (uint32_t)getpid());
	cr_expect_str_eq(fn_at(tr->alloc_addr), "site_cache_alloc", "alloc_addr %#llx",
			 (unsigned long long)tr->alloc_addr);
	cr_expect_eq(tr->free_pid, 0, "a new object was freed by pid %u", tr->free_pid);
	out = capture(do_site_double_free, &t);
	cr_expect(strstr(out, "double free") && strstr(out, "dbg-site"), "report: %s", out);
	snprintf(want, sizeof(want), ", allocated at site_cache_alloc+0x");
	cr_expect(strstr(out, want), "the report does not name the allocating function: %s", out);
	snprintf(want, sizeof(want), ", freed at site_free_twice+0x");
	cr_expect(strstr(out, want), "the report does not name the function of the first free: %s", out);
	cr_expect(strstr(out, "dbg-site at site_free_twice+0x"), "the report does not name this free's caller: %s",
		  out);
	cr_expect_str_eq(fn_at(tr->free_addr), "site_free_twice");
	cr_expect_eq(tr->free_pid, (uint32_t)getpid());
	cr_expect_eq(debug_req(cache_id(c), SLABD_DEBUG_OP_QUERY, 0).errors, 1);
}

void *site_child_alloc(struct kmem_cache *c);
__attribute__((noinline)) void *site_child_alloc(struct kmem_cache *c)
{
	void *p = kmem_cache_alloc(c, GFP_KERNEL);
	KEEP(p);
	return p;
}

void site_kfree_twice(void *p);
__attribute__((noinline)) void site_kfree_twice(void *p)
{
	kfree(p);
	KEEP(p);
	kfree(p);
	KEEP(p);
}

static void do_free_twice(void *arg)
{
	site_kfree_twice(arg);
}

Test(debug, another_process_s_call_site_is_reported_raw_with_its_pid)
{
	struct kmem_cache *c = kmem_cache_create("dbg-xsite", 64, 0, SLAB_STORE_USER, NULL);
	const struct slabd_shm_track *tr;
	uint64_t off;
	int fds[2], st;
	const char *out;
	char want[128];
	void *p;
	pid_t kid;

	cr_assert_not_null(c);
	cr_assert_eq(pipe(fds), 0);
	kid = fork();
	cr_assert(kid >= 0);
	if (kid == 0) {
		void *q = site_child_alloc(c);
		uint64_t o = q ? slabd_ptr_to_off(q) : 0;

		if (write(fds[1], &o, sizeof(o)) != (ssize_t)sizeof(o))
			_exit(3);
		pause(); /* alive: its exit would have the daemon reclaim what it owns */
		_exit(0);
	}
	cr_assert_eq(read(fds[0], &off, sizeof(off)), (ssize_t)sizeof(off));
	cr_assert_neq(off, 0, "the child could not allocate");
	p = slabd_off_to_ptr(off);
	tr = track_of(p);
	cr_expect_eq(tr->alloc_pid, (uint32_t)kid, "alloc_pid %u, the child is %d", tr->alloc_pid, (int)kid);
	cr_expect_neq(tr->alloc_addr, 0, "the child's call site was not recorded");
	/* the same image (fork): the child's address is in its site_child_alloc here too */
	cr_expect_str_eq(fn_at(tr->alloc_addr), "site_child_alloc", "alloc_addr %#llx",
			 (unsigned long long)tr->alloc_addr);
	out = capture(do_free_twice, p);
	/* but in another process's report it is only a number (with the pid it means
	 * something in) */
	snprintf(want, sizeof(want), ", allocated at %#llx by pid %d (owner pid %d)",
		 (unsigned long long)tr->alloc_addr, (int)kid, (int)kid);
	cr_expect(strstr(out, "double free") && strstr(out, want), "report: %s\nwanted: %s", out, want);
	cr_expect(!strstr(out, "site_child_alloc"), "another process's address was symbolized here: %s", out);
	/* the first free was this process's: symbolized */
	snprintf(want, sizeof(want), ", freed at site_kfree_twice+0x");
	cr_expect(strstr(out, want) && strstr(out, " (owner pid "), "report: %s", out);
	snprintf(want, sizeof(want), " by pid %d: not freed again", (int)getpid());
	cr_expect(strstr(out, want), "report: %s", out);
	cr_expect_eq(tr->free_pid, (uint32_t)getpid());
	kill(kid, SIGKILL);
	cr_assert_eq(waitpid(kid, &st, 0), kid);
	close(fds[0]);
	close(fds[1]);
}

/* ------------------------------------------- the whole daemon: debug = ... in the config -- */

static void up_kmalloc_debug(void)
{
	cr_assert_eq(td_start(&td, (const char *const[]){"debug=poison,redzone,store_user", NULL}), 0,
		     "slabd did not start");
	cr_assert_eq(slabd_connect(td.sock), 0, "connect: %s", slabd_last_error());
}

TestSuite(debug_config, .init = up_kmalloc_debug, .fini = down, .timeout = 120);

static void do_kmalloc_errors(void *arg)
{
	char *p = arg;
	p[64] = 1; /* past the end of a kmalloc-64 object */
	kfree(p);
	kfree(p);
}

Test(debug_config, the_kmalloc_caches_get_every_check_and_keep_natural_alignment)
{
	struct slabd_wire_debug r = debug_req(6, SLABD_DEBUG_OP_QUERY, 0);
	char *p = kmalloc(50, GFP_KERNEL), want[64];
	const char *out;

	cr_expect_eq(r.flags, SLAB_POISON | SLAB_RED_ZONE | SLAB_STORE_USER);
	cr_assert_not_null(p);
	cr_expect_eq((uintptr_t)p % 64, 0, "kmalloc-64 objects stay 64-byte aligned");
	cr_expect_eq(ksize(p), 64);
	out = capture(do_kmalloc_errors, p);
	snprintf(want, sizeof(want), " by pid %d (owner pid %d)", (int)getpid(), (int)getpid());
	cr_expect(strstr(out, "red zone overwritten") && strstr(out, "kmalloc-64"), "report: %s", out);
	cr_expect(strstr(out, "double free") && strstr(out, want), "report: %s", out);
	cr_expect_eq(debug_req(6, SLABD_DEBUG_OP_QUERY, 0).errors, 2);
}

Test(debug_config, a_killed_client_s_kmalloc_objects_come_back)
{
	struct slabd_wire_debug r;
	int fds[2], st, waited;
	pid_t kid;
	char c;

	cr_assert_eq(pipe(fds), 0);
	kid = fork();
	cr_assert(kid >= 0);
	if (kid == 0) {
		int i;
		for (i = 0; i < 25; i++)
			if (!kmalloc(200, GFP_KERNEL))
				_exit(2);
		if (write(fds[1], "x", 1) != 1)
			_exit(3);
		pause();
		_exit(0);
	}
	cr_assert_eq(read(fds[0], &c, 1), 1);
	kill(kid, SIGKILL);
	cr_assert_eq(waitpid(kid, &st, 0), kid);
	for (waited = 0; waited < 30000; waited += 50) {
		r = debug_req(SLABD_DEBUG_ALL_CACHES, SLABD_DEBUG_OP_QUERY, 0);
		if (r.reclaimed >= 25)
			break;
		sleep_ms(50);
	}
	cr_expect_eq(r.reclaimed, 25);
	cr_expect_eq(cache_info(8).in_use, 0, "kmalloc-256 has nothing out");
	close(fds[0]);
	close(fds[1]);
}

/* Each public call that allocates or frees, from a function of its own: the record names
 * that function (the kernel names are inline wrappers; an exported function that calls
 * another, as krealloc does, passes its caller's site on). */
#define SITE(name, type, expr)                                                                     \
	type name(struct kmem_cache *c, void **v);                                                 \
	__attribute__((noinline)) type name(struct kmem_cache *c, void **v)                        \
	{                                                                                          \
		type r_ = (expr);                                                                  \
		KEEP(v);                                                                           \
		return r_;                                                                         \
	}
static volatile size_t runtime_64 = 64, runtime_2000 = 2000; /* sizes not known at compile time */
SITE(at_kmalloc_const, void *, kmalloc(64, GFP_KERNEL))
SITE(at_kmalloc_runtime, void *, kmalloc(runtime_64, GFP_KERNEL))
SITE(at_kmalloc_big, void *, kmalloc(runtime_2000, GFP_KERNEL))
SITE(at_kzalloc, void *, kzalloc(64, GFP_KERNEL))
SITE(at_kcalloc, void *, kcalloc(4, 16, GFP_KERNEL))
SITE(at_kmalloc_array, void *, kmalloc_array(4, 16, GFP_KERNEL))
SITE(at_kmalloc_node, void *, kmalloc_node(64, GFP_KERNEL, slabd_virt_to_node(v[0])))
SITE(at_krealloc, void *, krealloc(v[0], 200, GFP_KERNEL))
SITE(at_cache_alloc, void *, kmem_cache_alloc(c, GFP_KERNEL))
SITE(at_cache_zalloc, void *, kmem_cache_zalloc(c, GFP_KERNEL))
SITE(at_cache_alloc_node, void *, kmem_cache_alloc_node(c, GFP_KERNEL, slabd_virt_to_node(v[0])))
SITE(at_cache_alloc_bulk, int, kmem_cache_alloc_bulk(c, GFP_KERNEL, 3, v))
SITE(at_kfree, int, (kfree(v[0]), 0))
SITE(at_cache_free, int, (kmem_cache_free(c, v[0]), 0))
SITE(at_cache_free_bulk, int, (kmem_cache_free_bulk(c, 3, v), 0))

static void expect_alloc_site(const void *p, const char *fn)
{
	const struct slabd_shm_track *t;

	cr_assert_not_null(p, "%s: no object", fn);
	t = track_of(p);
	cr_expect_str_eq(fn_at(t->alloc_addr), fn, "%p: alloc_addr %#llx is not in %s", p,
			 (unsigned long long)t->alloc_addr, fn);
	cr_expect_eq(t->alloc_pid, (uint32_t)getpid());
}

static void expect_free_site(const void *p, const char *fn)
{
	const struct slabd_shm_track *t = track_of(p);

	cr_expect_str_eq(fn_at(t->free_addr), fn, "%p: free_addr %#llx is not in %s", p,
			 (unsigned long long)t->free_addr, fn);
	cr_expect_eq(t->free_pid, (uint32_t)getpid());
}

Test(debug_config, every_allocating_and_freeing_call_records_the_caller_s_function)
{
	struct kmem_cache *c = kmem_cache_create("dbg-sites", 48, 0, SLAB_RED_ZONE | SLAB_STORE_USER, NULL);
	void *anchor = kmalloc(64, GFP_KERNEL), *v[3], *p, *q;
	int i;

	cr_assert_not_null(c);
	cr_assert_not_null(anchor);
	v[0] = anchor; /* for the _node calls: its node */
#define ALLOC_FREE(fn)                                                                              \
	do {                                                                                       \
		p = fn(c, v);                                                                      \
		expect_alloc_site(p, #fn);                                                         \
		v[0] = p;                                                                          \
		at_kfree(c, v);                                                                    \
		expect_free_site(p, "at_kfree");                                                   \
		v[0] = anchor;                                                                     \
	} while (0)
	ALLOC_FREE(at_kmalloc_const);
	ALLOC_FREE(at_kmalloc_runtime);
	ALLOC_FREE(at_kmalloc_big);
	ALLOC_FREE(at_kzalloc);
	ALLOC_FREE(at_kcalloc);
	ALLOC_FREE(at_kmalloc_array);
	ALLOC_FREE(at_kmalloc_node);
	ALLOC_FREE(at_cache_alloc);
	ALLOC_FREE(at_cache_zalloc);
	ALLOC_FREE(at_cache_alloc_node);

	/* krealloc: the new object allocated there, the old one freed there */
	p = at_kmalloc_const(c, v);
	v[0] = p;
	q = at_krealloc(c, v);
	cr_assert_neq(q, p, "krealloc to a larger class did not move the object");
	expect_alloc_site(q, "at_krealloc");
	expect_free_site(p, "at_krealloc");
	v[0] = q;
	at_kfree(c, v);

	/* kmem_cache_free, and the bulk calls */
	v[0] = at_cache_alloc(c, v);
	p = v[0];
	at_cache_free(c, v);
	expect_free_site(p, "at_cache_free");
	cr_assert_eq(at_cache_alloc_bulk(c, v), 3);
	for (i = 0; i < 3; i++)
		expect_alloc_site(v[i], "at_cache_alloc_bulk");
	{
		void *w[3] = {v[0], v[1], v[2]};
		at_cache_free_bulk(c, v);
		for (i = 0; i < 3; i++)
			expect_free_site(w[i], "at_cache_free_bulk");
	}
	kfree(anchor);
	cr_expect_eq(debug_req(SLABD_DEBUG_ALL_CACHES, SLABD_DEBUG_OP_QUERY, 0).errors, 0, "a report on correct calls");
}
