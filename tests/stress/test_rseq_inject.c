/* SPDX-License-Identifier: MIT */
/*
 * test_rseq_inject.c - restartable sequences under preemption. Linked with the build of
 * libslabclient that spins inside every sequence just before its commit, so that
 * preemption, migration and signals land inside the critical sections often. Three
 * times more threads than CPUs, signals at high frequency, sched_yield; every object's
 * owner is tracked (none handed out twice), then everything is freed and the zone is
 * filled with another size class, which only works if no object was lost.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <slabd/pktbuf.h>
#include <slabd/slabd.h>

#include "daemon_helper.h"
#include "slabd_shm.h"

extern volatile unsigned int slabd_rseq_inject_loops;
extern unsigned long slabd_rseq_inject_aborts;

static struct test_daemon td;
static struct slabd_attach_info ai;
static uint8_t *owner;
static volatile int failed;
static char failure[200];
static volatile unsigned long signals;

static void note_failure(const char *msg)
{
	if (!__atomic_exchange_n(&failed, 1, __ATOMIC_SEQ_CST))
		snprintf(failure, sizeof(failure), "%s", msg);
}

static volatile int handler_alloc;
static volatile unsigned long handler_frees;

/* With handler_alloc (the bulk test), every signal also allocates and frees a 128-B object
 * (GFP_ATOMIC: async-signal-safe), so an interrupted inline kfree of another cache's object
 * has its cache guess (slabd_fast_guess_v2) changed under it: an object pushed onto the
 * wrong cache's stack would keep the bulk cache from being destroyed. */
static void on_signal(int sig)
{
	int e = errno;
	void *p = handler_alloc ? kmalloc(128, GFP_ATOMIC | __GFP_NOWARN) : NULL;

	(void)sig;
	signals++;
	if (p) {
		if (ksize(p) != 128)
			note_failure("a 128-B allocation in a signal handler got another size");
		kfree(p);
		handler_frees++;
	}
	errno = e;
}

static void *churn(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg;
	uint8_t id = (uint8_t)((uintptr_t)arg + 1);
	void *held[64] = { 0 };
	int i, k;

	for (i = 0; i < 200000 && !failed; i++) {
		k = rand_r(&seed) % 64;
		if (held[k]) {
			uint64_t g = slabd_ptr_to_off(held[k]) / 8;
			if (*(uint8_t *)held[k] != id)
				note_failure("object contents changed under its owner");
			if (!__atomic_compare_exchange_n(&owner[g], &id, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
				note_failure("owner map disagrees");
			id = (uint8_t)((uintptr_t)arg + 1);
			kfree(held[k]);
			held[k] = NULL;
		} else {
			uint8_t zero = 0;
			void *p = kmalloc(64, GFP_KERNEL);
			if (!p) {
				note_failure("allocation failed");
				break;
			}
			if (!__atomic_compare_exchange_n(&owner[slabd_ptr_to_off(p) / 8], &zero, id, 0,
							 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
				note_failure("an object was handed to two owners");
			if (ksize(p) != 64)
				note_failure("a 64-B allocation got an object of another cache");
			memset(p, id, 64);
			held[k] = p;
		}
		if (!(rand_r(&seed) % 500))
			sched_yield();
	}
	for (k = 0; k < 64; k++)
		if (held[k]) {
			owner[slabd_ptr_to_off(held[k]) / 8] = 0;
			kfree(held[k]);
		}
	return NULL;
}

static char state[2048];

/* Where the objects are, for a failure message (into state[]). */
static void dump_state(void)
{
	size_t len = 0;
	const struct slabd_shm_super *sb = (const void *)(uintptr_t)ai.base;
	const char *base = (const char *)(uintptr_t)ai.base;
	const struct slabd_shm_depot *dp = (const void *)(base + sb->percpu_off + sb->depot_off);
	uint32_t cache, cpu, p, kinds[4] = { 0 };
	const struct slabd_shm_page *pages = (const void *)(base + sb->page_table_off);
	uint32_t per_cache[64] = { 0 };

	for (cache = 1; cache < 26; cache++) {
		const struct slabd_shm_depot *d = &dp[slabd_shm_depot_index(sb, cache, 0)];
		uint32_t pc = 0;
		for (cpu = 0; cpu < sb->nr_cpus; cpu++)
			pc += ((const struct slabd_shm_pcpu *)(base + sb->percpu_off + slabd_shm_pcpu_cache_off(sb, cache) +
							      ((uint64_t)cpu << SLABD_PCPU_SHIFT)))->count;
		if (pc || d->full || d->reserve || d->freelist)
			len += (size_t)snprintf(state + len, sizeof(state) - len,
						"\ncache %u: per-CPU %u, depot %u mags, reserve %u mags, freelist %s", cache,
						pc, slabd_stack_count(d->full), slabd_stack_count(d->reserve),
						d->freelist ? "yes" : "no");
	}
	for (p = 0; p < sb->nr_pages; p++) {
		kinds[pages[p].kind & 3]++;
		if (pages[p].kind == SLABD_PAGE_SLAB && pages[p].cache < 64)
			per_cache[pages[p].cache]++;
	}
	snprintf(state + len, sizeof(state) - len,
		 "\npages: %u free, %u slab, %u large, %u tail; slab pages of kmalloc-64: %u, -4k: %u", kinds[0],
		 kinds[1], kinds[2], kinds[3], per_cache[6], per_cache[12]);
}

/* Six threads (three per CPU) running @fn with SIGALRM every 200 us and the injected
 * delay inside every sequence. */
static void run_under_signals(void *(*fn)(void *))
{
	struct itimerval it = { { 0, 200 }, { 0, 200 } };
	struct sigaction sa;
	pthread_t th[6];
	int i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	slabd_rseq_inject_loops = 2000;
	setitimer(ITIMER_REAL, &it, NULL);
	for (i = 0; i < 6; i++)
		pthread_create(&th[i], NULL, fn, (void *)(uintptr_t)i);
	for (i = 0; i < 6; i++)
		pthread_join(th[i], NULL);
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	slabd_rseq_inject_loops = 0;
}

static struct kmem_cache *bulk_cache;

/* Bulk allocations and frees of 1..40 objects, each object claimed in the owner map. A
 * third of the rounds use a count of 7 or 32 known at compile time: the inline unrolled
 * sequences of <slabd/fast.h>, built here with the same spin before their commit; a sixth
 * free their objects one by one with kfree. */
static void *bulk_churn(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg * 31u;
	uint8_t id = (uint8_t)(100 + (uintptr_t)arg);
	void *v[40];
	int round, i, got, mode;

	for (round = 0; round < 20000 && !failed; round++) {
		size_t n = 1 + (size_t)rand_r(&seed) % 40;
		mode = rand_r(&seed) % 6;
		if (mode == 0) {
			n = 7;
			got = kmem_cache_alloc_bulk(bulk_cache, GFP_KERNEL, 7, v);
		} else if (mode == 1) {
			n = 32;
			got = kmem_cache_alloc_bulk(bulk_cache, GFP_KERNEL, 32, v);
		} else {
			got = kmem_cache_alloc_bulk(bulk_cache, GFP_KERNEL, n, v);
		}
		if (got != (int)n) {
			note_failure("bulk allocation failed");
			break;
		}
		for (i = 0; i < (int)n; i++) {
			uint8_t zero = 0;
			if (!__atomic_compare_exchange_n(&owner[slabd_ptr_to_off(v[i]) / 8], &zero, id, 0,
							 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
				note_failure("a bulk allocation handed out an object someone owned");
			*(uint8_t *)v[i] = id;
		}
		for (i = 0; i < (int)n; i++) {
			if (*(uint8_t *)v[i] != id)
				note_failure("object contents changed under its bulk owner");
			__atomic_store_n(&owner[slabd_ptr_to_off(v[i]) / 8], 0, __ATOMIC_SEQ_CST);
		}
		if (mode == 0)
			kmem_cache_free_bulk(bulk_cache, 7, v);
		else if (mode == 1)
			kmem_cache_free_bulk(bulk_cache, 32, v);
		else if (mode == 2)
			for (i = 0; i < (int)n; i++)
				kfree(v[i]); /* the inline kfree, its guess raced by the handler's */
		else
			kmem_cache_free_bulk(bulk_cache, n, v);
		if (!(rand_r(&seed) % 200))
			sched_yield();
	}
	return NULL;
}

/* Fill the zone with 4 KiB objects into @big (at most @max): how many came. A
 * __GFP_NORETRY allocation gives up when its one worker round found no pages; the round
 * reclaims the other caches' depots for it only if it saw the caller waiting, which is a
 * race a loaded machine can lose. So a failure is tried a few times more: pages pinned by
 * lost objects never come, however often one asks. */
static int fill_4k(void **big, int max)
{
	int n = 0, tries = 0;

	while (n < max) {
		big[n] = kmalloc(4096, GFP_KERNEL | __GFP_NORETRY);
		if (big[n]) {
			n++;
			tries = 0;
		} else if (++tries > 4) {
			break;
		}
	}
	return n;
}

Test(rseq, preempted_bulk_sequences_lose_and_duplicate_nothing, .timeout = 300)
{
	unsigned long aborts;

	cr_assert_eq(td_start(&td, NULL), 0);
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
	cr_assert_eq(slabd_attach_info(&ai), 0);
	owner = calloc(ai.size / 8, 1);
	bulk_cache = kmem_cache_create("stress-bulk", 40, 0, 0, NULL);
	cr_assert_not_null(bulk_cache, "%s", slabd_last_error());
	aborts = slabd_rseq_inject_aborts;
	handler_alloc = 1;
	run_under_signals(bulk_churn);
	handler_alloc = 0;
	cr_assert_not(failed, "%s", failure);
	cr_assert_gt(handler_frees, 10, "the signal handler freed only %lu objects", handler_frees);
	cr_assert_gt(slabd_rseq_inject_aborts - aborts, 100, "only %lu aborted sequences",
		     slabd_rseq_inject_aborts - aborts);
	/* every object came back: the cache can be destroyed */
	errno = 0;
	kmem_cache_destroy(bulk_cache);
	cr_assert_eq(errno, 0, "destroy after the bulk churn: %s", slabd_last_error());
	free(owner);
	cr_expect(td_alive(&td));
	cr_expect_eq(td_stop(&td), 0);
}

Test(rseq, preempted_sequences_lose_and_duplicate_nothing, .timeout = 300)
{
	static const char *const sets[] = { "zone_size=4M", NULL };
	int i, n = 0;
	static void *big[1100];

	cr_assert_eq(td_start(&td, sets), 0);
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
	cr_assert_eq(slabd_attach_info(&ai), 0);
	owner = calloc(ai.size / 8, 1);
	run_under_signals(churn);
	cr_assert_not(failed, "%s", failure);
	cr_assert_gt(signals, 10);
	/* the point of the exercise: the kernel did abort sequences, and nothing broke */
	cr_assert_gt(slabd_rseq_inject_aborts, 100, "only %lu aborted sequences", slabd_rseq_inject_aborts);

	/* Every kmalloc-64 object is free again. A 4 MiB zone is 1024 pages; filling it with
	 * 4 KiB objects needs the daemon to take back every kmalloc-64 slab, from per-CPU
	 * stacks and depots alike: a lost object would pin its page. Allowed apart: the two
	 * caches' emergency reserves (one 64-byte magazine, one of 16 x 4 KiB = 2 slabs). */
	n = fill_4k(big, 1100);
	if (n < 1024 - 16 - 8 - 2)
		dump_state();
	cr_assert_geq(n, 1024 - 16 - 8 - 2, "only %d pages of 1024 came back: objects were lost%s", n, state);
	for (i = 0; i < n; i++)
		kfree(big[i]);
	free(owner);
	cr_expect(td_alive(&td));
	cr_expect_eq(td_stop(&td), 0);
}

static struct slabd_pktpool *pkt_pool;
static unsigned long pkt_empty; /* allocations that found the pool (momentarily) empty */

/* Packet buffers: bulk and single allocations, pairs chained, freed as chains singly or in
 * bulk; each buffer claimed in the owner map while held. */
static void *pkt_churn(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg * 17u + 5u;
	uint8_t id = (uint8_t)(150 + (uintptr_t)arg);
	struct slabd_pktbuf *v[32];
	int round, i, n;

	for (round = 0; round < 20000 && !failed; round++) {
		n = 1 + rand_r(&seed) % 32;
		if (!(round % 4)) {
			/* a count known at compile time: the inline bulk paths of <slabd/pktbuf.h> */
			n = 32;
			if (slabd_pktbuf_alloc_bulk(pkt_pool, v, 32) < 0) {
				__atomic_fetch_add(&pkt_empty, 1, __ATOMIC_RELAXED);
				continue;
			}
		} else if (rand_r(&seed) & 1) {
			if (slabd_pktbuf_alloc_bulk(pkt_pool, v, (unsigned int)n) < 0) {
				__atomic_fetch_add(&pkt_empty, 1, __ATOMIC_RELAXED);
				continue;
			}
		} else {
			for (i = 0; i < n; i++)
				if (!(v[i] = slabd_pktbuf_alloc(pkt_pool)))
					break;
			if (i < n)
				__atomic_fetch_add(&pkt_empty, 1, __ATOMIC_RELAXED);
			n = i;
		}
		for (i = 0; i < n; i++) {
			uint8_t zero = 0;
			if (!__atomic_compare_exchange_n(&owner[slabd_ptr_to_off(v[i]) / 8], &zero, id, 0,
							 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
				note_failure("a pool handed out a buffer someone owned");
			if (v[i]->refcnt != 1 || v[i]->next || v[i]->data_len)
				note_failure("a buffer came out of the pool not reset");
			*slabd_pktbuf_append(v[i], 1) = (char)id;
		}
		for (i = 0; i < n; i++) {
			if (*slabd_pktbuf_mtod(v[i], uint8_t *) != id)
				note_failure("buffer contents changed under its owner");
			__atomic_store_n(&owner[slabd_ptr_to_off(v[i]) / 8], 0, __ATOMIC_SEQ_CST);
		}
		if (!(round % 8)) {
			slabd_pktbuf_free_bulk(v, 32); /* inline: single segments of one pool */
			continue;
		}
		for (i = 0; i + 1 < n; i += 2)
			slabd_pktbuf_chain(v[i], v[i + 1]);
		if (rand_r(&seed) & 1) {
			for (i = 0; i < n; i += 2)
				slabd_pktbuf_free(v[i]);
		} else {
			struct slabd_pktbuf *heads[16];
			int k = 0;
			for (i = 0; i < n; i += 2)
				heads[k++] = v[i];
			slabd_pktbuf_free_bulk(heads, (unsigned int)k);
		}
		if (!(rand_r(&seed) % 200))
			sched_yield();
	}
	return NULL;
}

Test(rseq, preempted_pktbuf_sequences_lose_and_duplicate_no_buffer, .timeout = 300)
{
	static struct slabd_pktbuf *all[514];
	unsigned long aborts;
	int n = 0, tries;

	cr_assert_eq(td_start(&td, NULL), 0);
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
	cr_assert_eq(slabd_attach_info(&ai), 0);
	owner = calloc(ai.size / 8, 1);
	pkt_pool = slabd_pktpool_create("stress-pkt", 512, 256, 0, -1);
	cr_assert_not_null(pkt_pool, "%s", slabd_last_error());
	aborts = slabd_rseq_inject_aborts;
	run_under_signals(pkt_churn);
	cr_assert_not(failed, "%s", failure);
	cr_assert_gt(slabd_rseq_inject_aborts - aborts, 100, "only %lu aborted sequences",
		     slabd_rseq_inject_aborts - aborts);
	cr_expect_lt(pkt_empty, 6 * 20000 / 10, "the pool looked empty %lu times", pkt_empty);
	/* every buffer came back: all 512 can be taken, and not one more. A NULL may only
	 * mean the daemon has not yet drained the other CPU's stack (an allocation gives up
	 * after its rounds; on a loaded machine those can pass first): ask again for a few
	 * seconds; a lost buffer never comes back. */
	for (tries = 0; n < 512 && tries < 50; tries++) {
		while (n < 513 && (all[n] = slabd_pktbuf_alloc(pkt_pool)))
			n++;
		if (n < 512)
			usleep(100 * 1000);
	}
	all[n] = slabd_pktbuf_alloc(pkt_pool);
	cr_assert_null(all[n], "a 513th buffer from a pool of 512");
	cr_assert_eq(n, 512, "%d buffers of 512 after the churn", n);
	slabd_pktbuf_free_bulk(all, (unsigned int)n);
	free(owner);
	cr_expect(td_alive(&td));
	cr_expect_eq(td_stop(&td), 0);
}

/* The handoff: producers pinned to CPU 0 allocate kmalloc(64) objects, claim them in the
 * owner map, stamp them and queue them; consumers pinned to CPU 1 check the stamp, release
 * the claim and kfree them. CPU 0 only misses on allocation and CPU 1 only on free, so
 * their misses are one-sided and move chains of magazines with one compare-and-swap each
 * way (lib/alloc.c refill_chain, give_chain), under the injected delay and signals. */
#define HQ_SLOTS	4096
#define HQ_PER_PRODUCER 150000

static struct {
	pthread_mutex_t lock;
	pthread_cond_t not_full, not_empty;
	void *q[HQ_SLOTS];
	unsigned int head, tail, producers_left;
} hq = {
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, 0, 0};

static void pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set))
		note_failure("cannot pin a thread");
}

static void *handoff_producer(void *arg)
{
	uint8_t id = (uint8_t)(200 + (uintptr_t)arg);
	int i;

	pin_self(0);
	for (i = 0; i < HQ_PER_PRODUCER && !failed; i++) {
		uint8_t zero = 0;
		void *p = kmalloc(64, GFP_KERNEL);

		if (!p) {
			note_failure("handoff allocation failed");
			break;
		}
		if (!__atomic_compare_exchange_n(&owner[slabd_ptr_to_off(p) / 8], &zero, id, 0,
						 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			note_failure("the handoff's allocating side got an object someone owned");
		memset(p, id, 64);
		pthread_mutex_lock(&hq.lock);
		while (hq.tail - hq.head == HQ_SLOTS)
			pthread_cond_wait(&hq.not_full, &hq.lock);
		hq.q[hq.tail++ % HQ_SLOTS] = p;
		pthread_cond_signal(&hq.not_empty);
		pthread_mutex_unlock(&hq.lock);
	}
	pthread_mutex_lock(&hq.lock);
	hq.producers_left--;
	pthread_cond_broadcast(&hq.not_empty);
	pthread_mutex_unlock(&hq.lock);
	return NULL;
}

static unsigned long handoff_freed;

static void *handoff_consumer(void *arg)
{
	(void)arg;
	pin_self(1);
	for (;;) {
		uint8_t *p, id;

		pthread_mutex_lock(&hq.lock);
		while (hq.tail == hq.head && hq.producers_left)
			pthread_cond_wait(&hq.not_empty, &hq.lock);
		if (hq.tail == hq.head) {
			pthread_mutex_unlock(&hq.lock);
			return NULL;
		}
		p = hq.q[hq.head++ % HQ_SLOTS];
		pthread_cond_signal(&hq.not_full);
		pthread_mutex_unlock(&hq.lock);
		id = p[0];
		if (id < 200 || p[63] != id)
			note_failure("a handed-off object changed on its way");
		if (!__atomic_compare_exchange_n(&owner[slabd_ptr_to_off(p) / 8], &id, 0, 0,
						 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			note_failure("owner map disagrees on a handed-off object");
		kfree(p);
		__atomic_fetch_add(&handoff_freed, 1, __ATOMIC_RELAXED);
	}
}

Test(rseq, preempted_handoff_chains_lose_and_duplicate_nothing, .timeout = 300)
{
	static const char *const sets[] = {"zone_size=4M", NULL};
	struct itimerval it = {{0, 200}, {0, 200}};
	const struct slabd_shm_super *sb;
	const struct slabd_shm_pcpu_stat *st;
	uint32_t a0, f1, a0_free, f1_alloc;
	struct sigaction sa;
	static void *big[1100];
	pthread_t th[6];
	unsigned long aborts;
	int i, n = 0;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		cr_skip_test("the handoff needs two CPUs");
	cr_assert_eq(td_start(&td, sets), 0);
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
	cr_assert_eq(slabd_attach_info(&ai), 0);
	owner = calloc(ai.size / 8, 1);
	sb = (const void *)(uintptr_t)ai.base;
	st = (const void *)((const char *)sb + sb->percpu_off + sb->pcpu_stat_off);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	aborts = slabd_rseq_inject_aborts;
	slabd_rseq_inject_loops = 2000;
	setitimer(ITIMER_REAL, &it, NULL);
	hq.producers_left = 3;
	for (i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, handoff_producer, (void *)(uintptr_t)i);
	for (i = 3; i < 6; i++)
		pthread_create(&th[i], NULL, handoff_consumer, NULL);
	for (i = 0; i < 6; i++)
		pthread_join(th[i], NULL);
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	slabd_rseq_inject_loops = 0;

	cr_assert_not(failed, "%s", failure);
	cr_assert_eq(handoff_freed, 3ul * HQ_PER_PRODUCER, "%lu objects of %lu came through",
		     handoff_freed, 3ul * HQ_PER_PRODUCER);
	cr_assert_gt(slabd_rseq_inject_aborts - aborts, 100, "only %lu aborted sequences",
		     slabd_rseq_inject_aborts - aborts);
	/* the misses were one-sided, and a miss moved more than one magazine (31 objects) on
	 * average: the chain paths ran */
	a0 = st[slabd_shm_pcpu_stat_index(sb->max_caches, 6, 0)].alloc_misses;
	a0_free = st[slabd_shm_pcpu_stat_index(sb->max_caches, 6, 0)].free_misses;
	f1 = st[slabd_shm_pcpu_stat_index(sb->max_caches, 6, 1)].free_misses;
	f1_alloc = st[slabd_shm_pcpu_stat_index(sb->max_caches, 6, 1)].alloc_misses;
	cr_assert_gt(a0, 8u, "CPU 0 missed %u times on allocation", a0);
	cr_assert_gt(f1, 8u, "CPU 1 missed %u times on free", f1);
	cr_assert_lt(a0_free, a0 / 8, "CPU 0: %u free misses against %u allocation misses", a0_free,
		     a0);
	cr_assert_lt(f1_alloc, f1 / 8, "CPU 1: %u allocation misses against %u free misses",
		     f1_alloc, f1);
	cr_assert_gt(3ul * HQ_PER_PRODUCER / a0, 40,
		     "%u allocation misses for %lu objects: one magazine each?", a0,
		     3ul * HQ_PER_PRODUCER);
	cr_assert_gt(3ul * HQ_PER_PRODUCER / f1, 40,
		     "%u free misses for %lu objects: one magazine each?", f1,
		     3ul * HQ_PER_PRODUCER);

	/* Nothing lost: the zone fills with 4 KiB objects again (see the test above). */
	n = fill_4k(big, 1100);
	if (n < 1024 - 16 - 8 - 2)
		dump_state();
	cr_assert_geq(n, 1024 - 16 - 8 - 2, "only %d pages of 1024 came back: objects were lost%s",
		      n, state);
	for (i = 0; i < n; i++)
		kfree(big[i]);
	free(owner);
	cr_expect(td_alive(&td));
	cr_expect_eq(td_stop(&td), 0);
}
