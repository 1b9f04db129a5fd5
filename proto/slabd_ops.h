/* SPDX-License-Identifier: MIT */
/*
 * slabd_ops.h - the lock-free operations on shared structures that both sides perform.
 *
 * Tagged magazine stacks (depot->full, depot->reserve, ctl->empty_mags): push and pop are
 * one compare-and-swap each on the 64-bit head, which carries the top index, the number
 * of magazines and an ABA tag (see slabd_shm.h). Whoever pops a magazine owns it until it
 * pushes it again.
 *
 * Free chains (depot->freelist, ctl->large_free): clients push (one CAS), the daemon
 * takes the whole chain with one exchange. Push-only plus take-all cannot suffer ABA.
 *
 * Every index read from shared memory is bounds-checked: a corrupt head or link makes the
 * stack look shorter (the rest is leaked and found by an audit), never an out-of-bounds
 * access.
 */
#ifndef SLABD_PROTO_OPS_H
#define SLABD_PROTO_OPS_H

#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "slabd_shm.h"

/*
 * ThreadSanitizer builds only: a magazine changes hands through other processes (a
 * client pushes it on the empty stack, the daemon fills it and pushes it on a depot,
 * another thread of the client pops it), whose compare-and-swaps TSan, which sees one
 * process, cannot see. Whoever pushes a magazine releases it, whoever pops it acquires
 * it: the hand-over that the stack's protocol guarantees. Nothing in other builds.
 */
#if defined(__SANITIZE_THREAD__)
#define SLABD_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SLABD_TSAN 1
#endif
#endif
#ifdef SLABD_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define slabd_tsan_acquire(p) __tsan_acquire(p)
#define slabd_tsan_release(p) __tsan_release(p)
#else
#define slabd_tsan_acquire(p) ((void)(p))
#define slabd_tsan_release(p) ((void)(p))
#endif

/* slabd_stack_pop: pop the top magazine of the stack at @head, NULL when empty. */
static inline struct slabd_shm_mag *slabd_stack_pop(uint64_t *head, struct slabd_shm_mag *mags, uint32_t nr_mags)
{
	uint64_t old = __atomic_load_n(head, __ATOMIC_ACQUIRE);

	for (;;) {
		uint32_t top = slabd_stack_top(old), next, cnt;
		struct slabd_shm_mag *m;

		if (!top || top > nr_mags)
			return NULL;
		m = &mags[top - 1];
		next = __atomic_load_n(&m->next, __ATOMIC_RELAXED);
		if (next > nr_mags)
			next = 0;
		cnt = slabd_stack_count(old);
		if (__atomic_compare_exchange_n(head, &old,
						slabd_stack_make(old, next, cnt ? cnt - 1 : 0), 1,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			slabd_tsan_acquire(m);
			return m;
		}
	}
}

/* slabd_stack_push: push magazine @m (owned by the caller) on the stack at @head. */
static inline void slabd_stack_push(uint64_t *head, struct slabd_shm_mag *mags, struct slabd_shm_mag *m)
{
	uint32_t idx = (uint32_t)(m - mags) + 1;
	uint64_t old = __atomic_load_n(head, __ATOMIC_RELAXED);

	slabd_tsan_release(m);
	do {
		__atomic_store_n(&m->next, slabd_stack_top(old), __ATOMIC_RELAXED);
	} while (!__atomic_compare_exchange_n(head, &old, slabd_stack_make(old, idx, slabd_stack_count(old) + 1), 1,
					      __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

/* slabd_chain_push: push the chain first..last (already linked through the first word of
 * each object, offsets from @base) on the free chain at @head. */
static inline void slabd_chain_push(uint64_t *head, char *base, uint64_t first, uint64_t last)
{
	uint64_t old = __atomic_load_n(head, __ATOMIC_RELAXED);

	do {
		__atomic_store_n((uint64_t *)(base + last), old, __ATOMIC_RELAXED);
	} while (!__atomic_compare_exchange_n(head, &old, first, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

/* slabd_chain_take: take the whole chain at @head (daemon side). */
static inline uint64_t slabd_chain_take(uint64_t *head)
{
	return __atomic_exchange_n(head, 0, __ATOMIC_ACQUIRE);
}

/* Futexes in the region are shared between processes: never FUTEX_PRIVATE_FLAG. */

/* slabd_futex_wait: sleep while *@word == @val, at most @timeout_ms. 0, or -errno
 * (-EAGAIN: the word had changed, -ETIMEDOUT, -EINTR). */
static inline int slabd_futex_wait(uint32_t *word, uint32_t val, long timeout_ms)
{
	struct timespec ts = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000L };
	long r = syscall(SYS_futex, word, FUTEX_WAIT, val, timeout_ms >= 0 ? &ts : NULL, NULL, 0);
	return r < 0 ? -errno : 0;
}

/* slabd_futex_wake: wake every sleeper on @word. Async-signal-safe. */
static inline void slabd_futex_wake(uint32_t *word)
{
	int saved = errno;
	syscall(SYS_futex, word, FUTEX_WAKE, 0x7fffffff, NULL, NULL, 0);
	errno = saved;
}

#endif /* SLABD_PROTO_OPS_H */
