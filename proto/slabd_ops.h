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

/* slabd_stack_pop: pop the top magazine of the stack at @head, NULL when empty. A link
 * past the array or to the magazine itself (client-writable memory) ends the stack there:
 * a self-link would leave the magazine on top for a second owner. (A longer loop is
 * beyond one pop's sight; slabd_stack_pop_chain ends a walk at one.) */
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
		if (next > nr_mags || next == top)
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

/* slabd_mag_set_count: the owner of magazine @m sets its count. A relaxed atomic store,
 * as the links are written: a chain pop reads the count of a magazine it may then fail to
 * take (slabd_stack_pop_chain_upto), and the daemon reads a depot's top magazine while
 * clients may own it (depot_check); both discard what they read unless the stack's head
 * did not move, but a plain store would still race with them in C11 terms. */
static inline void slabd_mag_set_count(struct slabd_shm_mag *m, uint32_t n)
{
	__atomic_store_n(&m->count, n, __ATOMIC_RELAXED);
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

/*
 * slabd_stack_pop_chain: pop up to @max magazines off the stack at @head with one
 * compare-and-swap, into @ret (top first); returns how many (0 when empty).
 *
 * Why the interior links can be trusted: the walk reads the head h, then the links below
 * its top, then swaps h for a head pointing below the last magazine taken. Every change to
 * the stack (push, pop, chain push or pop, by anybody) is a successful CAS on the head,
 * and each one increments the head's ABA tag, so the CAS succeeds only if no change
 * happened between the read of h and the CAS (up to the tag's wrap: 2^20 changes while
 * this thread is stalled, the same bound as a single pop's). With no change, the
 * magazines from the top down were on the stack the whole time, owned by the stack, and
 * nobody writes the link of a magazine it does not own (a pusher writes only its own
 * magazine's link, before its CAS): the links read are the stack's. They are visible to
 * this thread because every write of the head is a release read-modify-write, so the
 * acquire load of h synchronises with all the pushes before it (one release sequence).
 * If a link changed during the walk (its magazine was popped and pushed elsewhere), the
 * head changed too, the CAS fails and the walk starts again from the new head.
 *
 * Links are client-writable memory: each is bounds-checked, and a link past the array or
 * back to a magazine already taken in this walk (a loop a broken client wrote; also the
 * link of the last magazine a walk of @max takes, which would otherwise become the new
 * top) ends the walk there, as slabd_stack_pop drops a bad link: the rest is leaked to the audit, never
 * handed out twice by one call.
 *
 * slabd_stack_pop_chain_upto stops, too, before a magazine that would take the objects
 * in the magazines taken above @budget (their counts, each read as at most
 * SLABD_MAG_SLOTS); the first is always taken. Counts are read as the links are, under the
 * same argument: a magazine on the stack is the stack's, and nobody writes its count.
 */
static inline unsigned int slabd_stack_pop_chain_upto(uint64_t *head, struct slabd_shm_mag *mags,
						      uint32_t nr_mags, struct slabd_shm_mag **ret,
						      unsigned int max, uint32_t budget)
{
	uint64_t old = __atomic_load_n(head, __ATOMIC_ACQUIRE);

	for (;;) {
		uint32_t idx = slabd_stack_top(old), cnt = slabd_stack_count(old), sum = 0, c;
		unsigned int k = 0, j;
		int cut, stopped = 0;

		while (k < max && idx && idx <= nr_mags) {
			for (j = 0; j < k && ret[j] != &mags[idx - 1]; j++)
				;
			if (j < k)
				break; /* a loop: end the stack here */
			/* the count is read on the link's line; a scribbled one counts as full */
			c = __atomic_load_n(&mags[idx - 1].count, __ATOMIC_RELAXED);
			c = c > SLABD_MAG_SLOTS ? SLABD_MAG_SLOTS : c;
			if (k && (sum >= budget || c > budget - sum)) {
				stopped = 1; /* the budget is spent: idx stays the new top */
				break;
			}
			sum += c;
			ret[k++] = &mags[idx - 1];
			idx = __atomic_load_n(&mags[idx - 1].next, __ATOMIC_RELAXED);
		}
		if (!k)
			return 0;
		/* the new top: 0 at the bottom or after a bad link (past the array, a loop). A
		 * walk that took max magazines or stopped at its budget has not taken the
		 * magazine idx names, which may close a loop too: it must not make a magazine
		 * taken here the new top. */
		cut = (k < max && !stopped) || idx > nr_mags;
		for (j = 0; !cut && idx && j < k; j++)
			cut = ret[j] == &mags[idx - 1];
		if (cut)
			idx = 0;
		if (__atomic_compare_exchange_n(head, &old,
						slabd_stack_make(old, idx, cnt > k ? cnt - k : 0),
						1, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			for (j = 0; j < k; j++)
				slabd_tsan_acquire(ret[j]);
			return k;
		}
	}
}

static inline unsigned int slabd_stack_pop_chain(uint64_t *head, struct slabd_shm_mag *mags,
						 uint32_t nr_mags, struct slabd_shm_mag **ret,
						 unsigned int max)
{
	return slabd_stack_pop_chain_upto(head, mags, nr_mags, ret, max, UINT32_MAX);
}

/* slabd_stack_push_chain: push the @k magazines @ms (owned by the caller; k >= 1) on the
 * stack at @head with one compare-and-swap, ms[0] on top. Their links are written before
 * the CAS publishes them (release), as in slabd_stack_push. */
static inline void slabd_stack_push_chain(uint64_t *head, struct slabd_shm_mag *mags,
					  struct slabd_shm_mag *const *ms, unsigned int k)
{
	struct slabd_shm_mag *last = ms[k - 1];
	uint64_t old = __atomic_load_n(head, __ATOMIC_RELAXED);
	unsigned int i;

	for (i = 0; i + 1 < k; i++) {
		slabd_tsan_release(ms[i]);
		__atomic_store_n(&ms[i]->next, (uint32_t)(ms[i + 1] - mags) + 1, __ATOMIC_RELAXED);
	}
	slabd_tsan_release(last);
	do {
		__atomic_store_n(&last->next, slabd_stack_top(old), __ATOMIC_RELAXED);
	} while (!__atomic_compare_exchange_n(
	    head, &old,
	    slabd_stack_make(old, (uint32_t)(ms[0] - mags) + 1, slabd_stack_count(old) + k), 1,
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
