/* SPDX-License-Identifier: MIT */
/*
 * test_threads.c - many threads (more than CPUs, pinned and unpinned) allocating and
 * freeing at once, including frees of other threads' objects, with every object's owner
 * recorded in a shadow map: an object handed to two owners at once, or a write that
 * lands in someone else's object, fails the test. Also allocation and free from a
 * signal handler firing at high frequency while the thread allocates, and a signal whose
 * handler allocates landing in a new thread's own rseq registration (glibc's off).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "daemon_helper.h"

static struct test_daemon td;
static struct slabd_attach_info ai;
static uint8_t *owner; /* one byte per 8-byte granule of the region: 0 free, else thread id */
static volatile int failed;
static char failure[256];

static void up(void)
{
	cr_assert_eq(td_start(&td, NULL), 0, "slabd did not start");
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
	cr_assert_eq(slabd_attach_info(&ai), 0);
	owner = calloc(ai.size / 8, 1);
	cr_assert_not_null(owner);
}

static void down(void)
{
	free(owner);
	cr_expect(td_alive(&td), "slabd died during the test");
	cr_expect_eq(td_stop(&td), 0);
}

TestSuite(threads, .init = up, .fini = down, .timeout = 120);

static void fail(const char *msg, const void *p)
{
	if (!__atomic_exchange_n(&failed, 1, __ATOMIC_SEQ_CST))
		snprintf(failure, sizeof(failure), "%s (object %p)", msg, p);
}

/* Claim the object's first granule for @id; it must have been free. */
static void claim(const void *p, uint8_t id)
{
	uint64_t g = slabd_ptr_to_off(p) / 8;
	uint8_t expect = 0;
	if (!__atomic_compare_exchange_n(&owner[g], &expect, id, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		fail("object handed out while another thread owned it", p);
}

static void release(const void *p, uint8_t id)
{
	uint64_t g = slabd_ptr_to_off(p) / 8;
	uint8_t expect = id;
	if (!__atomic_compare_exchange_n(&owner[g], &expect, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		fail("object released by a thread that did not own it", p);
}

struct handoff {
	void *slot[1024];
	unsigned int head, tail; /* single producer, single consumer */
};
static struct handoff ring[8];

struct targ {
	int id;
	int cpu; /* -1: unpinned */
	int iters;
};

static void *worker(void *arg)
{
	struct targ *t = arg;
	unsigned int seed = (unsigned int)t->id * 7919u;
	void *held[128] = { 0 };
	uint8_t id = (uint8_t)(t->id + 1);
	struct handoff *out = &ring[t->id], *in = &ring[(t->id + 1) % 8];
	int i, k;

	if (t->cpu >= 0) {
		cpu_set_t s;
		CPU_ZERO(&s);
		CPU_SET(t->cpu, &s);
		pthread_setaffinity_np(pthread_self(), sizeof(s), &s);
	}
	for (i = 0; i < t->iters && !failed; i++) {
		k = rand_r(&seed) % 128;
		if (held[k]) {
			uint8_t *p = held[k];
			size_t n = ksize(p), j;
			for (j = 0; j < n; j++)
				if (p[j] != id) {
					fail("object contents changed under its owner", p);
					break;
				}
			release(p, id);
			/* every fourth object goes to the next thread to free */
			if (!(i & 3) && out->head - __atomic_load_n(&out->tail, __ATOMIC_ACQUIRE) < 1024) {
				out->slot[out->head % 1024] = p;
				__atomic_store_n(&out->head, out->head + 1, __ATOMIC_RELEASE);
			} else {
				kfree(p);
			}
			held[k] = NULL;
		} else {
			size_t sz = 1 + (size_t)rand_r(&seed) % 1024;
			uint8_t *p = kmalloc(sz, (i & 1) ? GFP_KERNEL : GFP_ATOMIC);
			if (!p)
				p = kmalloc(sz, GFP_KERNEL); /* atomic may fail transiently; kernel may not */
			if (!p) {
				fail("GFP_KERNEL allocation failed", NULL);
				break;
			}
			claim(p, id);
			memset(p, id, ksize(p));
			held[k] = p;
		}
		if (!(i % 1000))
			sched_yield();
		while (__atomic_load_n(&in->head, __ATOMIC_ACQUIRE) != in->tail) {
			kfree(in->slot[in->tail % 1024]);
			__atomic_store_n(&in->tail, in->tail + 1, __ATOMIC_RELEASE);
		}
	}
	for (k = 0; k < 128; k++)
		if (held[k]) {
			release(held[k], id);
			kfree(held[k]);
		}
	return NULL;
}

Test(threads, eight_threads_on_two_cpus_never_share_an_object)
{
	pthread_t th[8];
	struct targ a[8];
	int i;

	for (i = 0; i < 8; i++) {
		a[i].id = i;
		a[i].cpu = i < 4 ? i % 2 : -1; /* four pinned to CPU 0 and 1, four free */
		if (a[i].cpu >= (int)sysconf(_SC_NPROCESSORS_ONLN))
			a[i].cpu = -1;
		a[i].iters = 300000;
		cr_assert_eq(pthread_create(&th[i], NULL, worker, &a[i]), 0);
	}
	for (i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	/* drain what is left in the rings */
	for (i = 0; i < 8; i++)
		while (ring[i].head != ring[i].tail)
			kfree(ring[i].slot[ring[i].tail++ % 1024]);
	cr_assert_not(failed, "%s", failure);
}

/* ---- signal handler ---- */

static void *volatile sig_slots[64];
static volatile unsigned long sig_allocs, sig_frees;

static void on_alarm(int sig)
{
	int saved = errno;
	unsigned int k = (unsigned int)(sig_allocs * 13 + sig_frees) % 64;
	void *p = sig_slots[k];

	(void)sig;
	if (p) {
		if (*(volatile uint64_t *)p != (uint64_t)(uintptr_t)p)
			fail("object changed while the signal handler owned it", p);
		release(p, 200);
		kfree(p);
		sig_slots[k] = NULL;
		sig_frees++;
	} else {
		p = kmalloc(48, GFP_ATOMIC); /* never sleeps: safe here */
		if (p) {
			claim(p, 200);
			*(volatile uint64_t *)p = (uint64_t)(uintptr_t)p;
			sig_slots[k] = p;
			sig_allocs++;
		}
	}
	errno = saved;
}

Test(threads, signal_handlers_allocate_and_free_while_the_thread_does)
{
	struct sigaction sa;
	struct itimerval it = { { 0, 50 }, { 0, 50 } };
	void *held[64] = { 0 };
	int i, k;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	for (i = 0; i < 2000000 && !failed; i++) {
		k = i % 64;
		if (held[k]) {
			if (*(uint64_t *)held[k] != ~(uint64_t)(uintptr_t)held[k])
				fail("object changed under the thread", held[k]);
			release(held[k], 100);
			kfree(held[k]);
			held[k] = NULL;
		} else {
			uint64_t *p = kmalloc(48, GFP_KERNEL);
			if (!p) {
				fail("allocation failed", NULL);
				break;
			}
			claim(p, 100);
			*p = ~(uint64_t)(uintptr_t)p;
			held[k] = p;
		}
	}
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	for (k = 0; k < 64; k++) {
		if (held[k]) {
			release(held[k], 100);
			kfree(held[k]);
		}
		if (sig_slots[k]) {
			release(sig_slots[k], 200);
			kfree(sig_slots[k]);
		}
	}
	cr_assert_not(failed, "%s", failure);
	cr_assert_gt(sig_allocs, 100, "the handler ran only %lu allocations", sig_allocs);
}

/* ---- a signal in the middle of a thread's own rseq registration ---- */

/* libslabclient registers a thread's own rseq area (glibc.pthread.rseq=0) on its first slow
 * path: it looks at the area's cpu_id, sees it unregistered, and calls rseq(2). A signal
 * landing in between whose handler allocates registers the same area first, so the
 * thread's rseq(2) fails with EBUSY. The area is registered and the kernel's from then on:
 * the thread must take its per-CPU path, and nobody may write its cpu_id (the kernel's,
 * read-only to user space; a kernel with CONFIG_DEBUG_RSEQ kills a process that does).
 * The window is a few instructions wide: this test opens it every time by interposing on
 * the library's syscall(), raising the signal right before a thread's first rseq(2) goes
 * through. */
static __thread int rseq_race_armed;
static void *volatile race_obj;
static volatile unsigned long race_handled;

/* glibc's syscall(), which this file replaces for the whole process: the kernel's
 * return, -errno mapped to -1 and errno. */
static long raw_syscall(long nr, const long a[6])
{
	register long r10 __asm__("r10") = a[3], r8 __asm__("r8") = a[4], r9 __asm__("r9") = a[5];
	long r;

	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "0"(nr), "D"(a[0]), "S"(a[1]), "d"(a[2]), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

long syscall(long nr, ...)
{
	long a[6];
	va_list ap;
	int i;

	va_start(ap, nr);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (nr == SYS_rseq && rseq_race_armed) {
		rseq_race_armed = 0;
		raise(SIGUSR2); /* delivered before raise() returns: the handler registers */
	}
	return raw_syscall(nr, a);
}

static void on_usr2(int sig)
{
	int saved = errno;

	(void)sig;
	race_obj = kmalloc(64, GFP_ATOMIC); /* may fail (the depot not refilled yet): it has
					    * registered the area by then */
	race_handled++;
	errno = saved;
}

static volatile unsigned long race_lost, race_failed_cpu;

static void *race_thread(void *arg)
{
	struct slabd_attach_info me;
	void *p, *q;
	uint32_t cpu;

	(void)arg;
	rseq_race_armed = 1;
	p = kmalloc(64, GFP_KERNEL); /* the first slow path of this thread: registration */
	q = race_obj;
	race_obj = NULL;
	cpu = *(volatile uint32_t *)((char *)__builtin_thread_pointer() + slabd_fast_v2.rseq_off + 4);
	if (cpu == (uint32_t)-2)
		race_failed_cpu++; /* a registered area's cpu_id overwritten by the library */
	if (!p || slabd_attach_info(&me) || !me.fast_path)
		race_lost++;
	kfree(p);
	kfree(q);
	return NULL;
}

Test(threads, a_signal_in_a_threads_own_rseq_registration_leaves_it_registered)
{
	struct sigaction sa;
	int i;

	if (!ai.rseq_by_library)
		cr_skip_test("glibc registers rseq here (run as threads-own-rseq)");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2;
	sigaction(SIGUSR2, &sa, NULL);
	alarm(60);
	for (i = 0; i < 20; i++) {
		pthread_t th;
		cr_assert_eq(pthread_create(&th, NULL, race_thread, NULL), 0);
		pthread_join(th, NULL);
	}
	alarm(0);
	cr_assert_eq(race_handled, 20, "the signal came %lu times in 20 registrations", race_handled);
	cr_assert_eq(race_failed_cpu, 0, "%lu of 20 threads had their registered area's cpu_id overwritten "
		     "with RSEQ_CPU_ID_REGISTRATION_FAILED (%lu lost their per-CPU path)", race_failed_cpu, race_lost);
	cr_assert_eq(race_lost, 0, "%lu of 20 threads lost their per-CPU path", race_lost);
}
