/* SPDX-License-Identifier: MIT */
/*
 * tsan_clients.c - threads of one client process against a live daemon, written for
 * ThreadSanitizer (the `tsan` suite of the -Db_sanitize=thread build in .ci/run), so
 * without Criterion: Criterion's own runner crashes under TSan (its inheritable arena
 * is mapped where TSan's shadow is), so this prints TAP itself.
 *
 * What runs: threads allocating, writing and checking owner patterns and freeing in many
 * size classes and a named cache (single objects and bulk); objects handed between
 * threads through a locked queue and freed by the receiver; threads creating the same
 * named cache at once. In a TSan build the library and the daemon (SLABD_BIN of this
 * build) are both instrumented: a race in either is reported (the daemon's into its log,
 * or TSAN_OPTIONS log_path) and makes it exit 66, which td_stop reports.
 *
 * What TSan cannot see: the per-CPU stacks are popped and pushed inside restartable
 * sequences written in inline asm (lib/percpu.h, <slabd/fast.h>), which TSan does not
 * instrument, so it sees neither those accesses nor the ordering they give (one thread
 * at a time on a CPU's stack). An object freed by one thread and allocated by another
 * on the same CPU then looks like a race on the object's bytes (it did, before the
 * annotations below). So this test tells TSan of that hand-over itself: a release on
 * the object before each free, an acquire after each allocation (what the allocator
 * guarantees). Magazines pass through the daemon (another process) between two threads
 * of this one; proto/slabd_ops.h releases and acquires each on push and pop in TSan
 * builds for the same reason. Nothing else is annotated.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "daemon_helper.h"

#if defined(__SANITIZE_THREAD__)
#define TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN 1
#endif
#endif
#ifdef TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
/* the rseq hand-over of an object, which TSan cannot see (above) */
#define handed_out(p)	((p) ? __tsan_acquire(p) : (void)0)
#define handing_back(p) __tsan_release(p)
#else
#define handed_out(p)	((void)(p))
#define handing_back(p) ((void)(p))
#endif

#define THREADS 4
#define ROUNDS	2000

static struct test_daemon td;
static int test_no, failures;
static char why[256];
static pthread_mutex_t why_lock = PTHREAD_MUTEX_INITIALIZER;

static void fail_with(const char *msg)
{
	pthread_mutex_lock(&why_lock);
	if (!why[0])
		snprintf(why, sizeof(why), "%s", msg);
	pthread_mutex_unlock(&why_lock);
}

static void report(const char *name)
{
	test_no++;
	if (why[0]) {
		printf("not ok %d - %s: %s\n", test_no, name, why);
		failures++;
	} else {
		printf("ok %d - %s\n", test_no, name);
	}
	fflush(stdout);
	why[0] = 0;
}

static void run_threads(void *(*fn)(void *), int n)
{
	pthread_t t[THREADS * 2];
	intptr_t i;

	for (i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, fn, (void *)i) != 0)
			fail_with("pthread_create failed");
	for (i = 0; i < n; i++)
		pthread_join(t[i], NULL);
}

/* ----------------------------------------------------- each thread its own objects -- */

static struct kmem_cache *named;

static void *own_objects(void *arg)
{
	static const size_t sizes[] = {16,   64,   104,	 256,
				       1000, 4096, 20000}; /* two words at least */
	unsigned long tag = ((unsigned long)(intptr_t)arg + 1) << 48, *v[32];
	void *bulk[16];
	int r, k;

	for (r = 0; r < ROUNDS && !why[0]; r++) {
		size_t size = sizes[r % 7];
		for (k = 0; k < 32; k++) {
			if (!(v[k] = kmalloc(size, GFP_KERNEL))) {
				fail_with("kmalloc failed");
				return NULL;
			}
			handed_out(v[k]);
			v[k][0] = tag | (unsigned long)(r * 32 + k);
			v[k][size / sizeof(long) - 1] = ~v[k][0];
		}
		for (k = 0; k < 32; k++) {
			if (v[k][0] != (tag | (unsigned long)(r * 32 + k)) ||
			    v[k][size / sizeof(long) - 1] != ~v[k][0])
				fail_with("an object changed under its owner");
			handing_back(v[k]);
			kfree(v[k]);
		}
		if (kmem_cache_alloc_bulk(named, GFP_KERNEL, 16, bulk) != 16) {
			fail_with("bulk allocation failed");
			return NULL;
		}
		for (k = 0; k < 16; k++) {
			handed_out(bulk[k]);
			memset(bulk[k], (int)(r + k), 200);
			handing_back(bulk[k]);
		}
		kmem_cache_free_bulk(named, 16, bulk);
	}
	return NULL;
}

/* ------------------------------------------------- objects handed between threads -- */

#define QLEN 64
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned long *slot[QLEN];
	unsigned head, tail, done;
} q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, 0, 0};

static void *producer(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < ROUNDS * 8 && !why[0]; i++) {
		unsigned long *p = kmalloc(64 + (size_t)(i % 4) * 64, GFP_KERNEL);
		if (!p) {
			fail_with("kmalloc failed");
			break;
		}
		handed_out(p);
		p[0] = (unsigned long)i;
		p[7] = ~(unsigned long)i;
		pthread_mutex_lock(&q.lock);
		while (q.head - q.tail == QLEN)
			pthread_cond_wait(&q.cond, &q.lock);
		q.slot[q.head++ % QLEN] = p;
		pthread_cond_broadcast(&q.cond);
		pthread_mutex_unlock(&q.lock);
	}
	pthread_mutex_lock(&q.lock);
	q.done = 1;
	pthread_cond_broadcast(&q.cond);
	pthread_mutex_unlock(&q.lock);
	return NULL;
}

static void *consumer(void *arg)
{
	(void)arg;
	for (;;) {
		unsigned long *p;
		pthread_mutex_lock(&q.lock);
		while (q.head == q.tail && !q.done)
			pthread_cond_wait(&q.cond, &q.lock);
		if (q.head == q.tail) {
			pthread_mutex_unlock(&q.lock);
			return NULL;
		}
		p = q.slot[q.tail++ % QLEN];
		pthread_cond_broadcast(&q.cond);
		pthread_mutex_unlock(&q.lock);
		if (p[7] != ~p[0])
			fail_with("a handed-over object changed in transit");
		p[1] = p[0]; /* the receiver writes it too before it frees it */
		handing_back(p);
		kfree(p);
	}
}

static void *handover(void *arg)
{
	return (intptr_t)arg % 2 ? consumer(arg) : producer(arg);
}

/* --------------------------------------------- the same named cache created at once -- */

static struct kmem_cache *created[THREADS];

static void *create_same(void *arg)
{
	intptr_t i = (intptr_t)arg;
	void *p;

	created[i] = kmem_cache_create("tsan-same", 72, 8, 0, NULL);
	if (!created[i]) {
		fail_with("kmem_cache_create failed");
		return NULL;
	}
	if (!(p = kmem_cache_alloc(created[i], GFP_KERNEL))) {
		fail_with("allocation from the new cache failed");
		return NULL;
	}
	handed_out(p);
	memset(p, (int)i, 72);
	handing_back(p);
	kmem_cache_free(created[i], p);
	return NULL;
}

int main(void)
{
	int st;

	printf("1..4\n");
	if (td_start(&td, NULL) < 0 || slabd_connect(td.sock) < 0) {
		printf("Bail out! slabd did not start or accept this client (%s)\n",
		       slabd_last_error());
		return 1;
	}
	named = kmem_cache_create("tsan-named", 200, 8, 0, NULL);
	if (!named) {
		printf("Bail out! kmem_cache_create: %s\n", slabd_last_error());
		td_stop(&td);
		return 1;
	}

	run_threads(own_objects, THREADS);
	report("threads allocate, check and free their own objects (kmalloc and bulk)");
	run_threads(handover, 2);
	report("objects handed to another thread are intact and freed by it");
	run_threads(create_same, THREADS);
	for (st = 1; st < THREADS && !why[0]; st++)
		if (created[st] && created[0] &&
		    kmem_cache_size(created[st]) != kmem_cache_size(created[0]))
			fail_with("two threads got different caches of one name");
	report("threads creating the same named cache at once get one cache");

	slabd_disconnect();
	st = td_stop(&td);
	if (st != 0) {
		snprintf(why, sizeof(why),
			 "slabd exit status %d (66: ThreadSanitizer reported; see its log %s or "
			 "TSAN_OPTIONS log_path)",
			 st, td.log);
		td_dump_log(&td);
	}
	report("slabd stops cleanly (no ThreadSanitizer report in a TSan build)");
	return failures ? 1 : 0;
}
