/* SPDX-License-Identifier: MIT */
/*
 * test_scribble.c - untrusted shared memory: a client scribbles random bytes (and
 * plausible lies: offsets of other caches' live objects) over everything of three victim
 * caches it can write in a live region: their per-CPU stacks and miss counters, their
 * depots (full and reserve stack heads, free chains, counters), the magazines on their
 * depot stacks, and the per-CPU remote-free stacks. Meanwhile another client keeps
 * working on other caches, checking an owner pattern in every object.
 *
 * The daemon must stay up, report the damaged structures (log lines naming them, and the
 * counters of the VERIFY reply), repair or quarantine them, never hand out or take back
 * what is not an object of the right cache; the other client must never notice; and
 * once the scribbling stops, the victim caches work again for a new client.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "daemon_helper.h"
#include "slabd_ops.h"
#include "slabd_shm.h"
#include "slabd_wire.h"

static struct test_daemon td;

static void up(void)
{
	cr_assert_eq(td_start(&td, (const char *const[]){"idle_drain_ms=200", NULL}), 0,
		     "slabd did not start");
}

static void down(void)
{
	cr_expect(td_alive(&td), "slabd died: it followed something a client scribbled");
	cr_expect_eq(td_stop(&td), 0, "slabd did not stop cleanly");
}

TestSuite(scribble, .init = up, .fini = down, .timeout = 120);

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

/* kmalloc-<size> cache ids (kmalloc_index): the victims, and the other client's */
#define VICTIMS 3
static const uint32_t victim_ids[VICTIMS] = {6, 7, 8}; /* 64, 128, 256 */
static const size_t victim_sizes[VICTIMS] = {64, 128, 256};
static const size_t other_sizes[] = {512, 1024, 300 /* a named cache */};

/* Allocate, write the owner pattern, check it, free: @rounds rounds of @n objects in
 * each of @sizes (0 rounds: until SIGTERM). Exit 0 when all held, else the failure. */
static void worker_loop(const size_t *sizes, int nsizes, long rounds, int named)
{
	struct kmem_cache *nc = NULL;
	unsigned long *v[64];
	long r;
	int k, s;

	if (slabd_connect(td.sock) < 0)
		_exit(3);
	if (named && !(nc = kmem_cache_create("survivor", 300, 8, 0, NULL)))
		_exit(4);
	for (r = 0; !rounds || r < rounds; r++) {
		for (s = 0; s < nsizes; s++) {
			int use_named = named && sizes[s] == 300;
			size_t words = sizes[s] / sizeof(unsigned long);
			for (k = 0; k < 64; k++) {
				v[k] = use_named ? kmem_cache_alloc(nc, GFP_KERNEL)
						 : kmalloc(sizes[s], GFP_KERNEL);
				if (!v[k])
					_exit(1);
				for (size_t w = 0; w < words; w += 8)
					v[k][w] = ((unsigned long)getpid() << 32) ^
						  (unsigned long)(r * 64 + k) ^ w;
			}
			for (k = 0; k < 64; k++) {
				for (size_t w = 0; w < words; w += 8)
					if (v[k][w] != (((unsigned long)getpid() << 32) ^
							(unsigned long)(r * 64 + k) ^ w))
						_exit(2); /* somebody else had this object */
				if (use_named)
					kmem_cache_free(nc, v[k]);
				else
					kfree(v[k]);
			}
		}
		if (r % 256 == 0 && getppid() == 1)
			_exit(5);
	}
	_exit(0);
}

static pid_t spawn(const size_t *sizes, int nsizes, long rounds, int named)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0)
		worker_loop(sizes, nsizes, rounds, named);
	return pid;
}

static int reap(pid_t pid)
{
	int status;

	cr_assert_eq(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		return 100 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* The VERIFY reply (counters only) over a raw connection. */
static void verify_counters(struct slabd_wire_verify *ret)
{
	cr_assert_eq(td_verify(&td, 0, ret), 0, "no VERIFY reply (stderr says why)");
}

struct region {
	char *base;
	struct slabd_shm_super *sb;
	struct slabd_shm_ctl *ctl;
	struct slabd_shm_depot *depots;
	struct slabd_shm_mag *mags;
	char *pcpu, *remote;
	struct slabd_shm_pcpu_stat *pstats;
};

/* A value to write: random bits, or a plausible lie (an offset of one of @lies, live
 * objects of another cache; an offset inside the zones off an object boundary). */
static uint64_t lie(const struct region *g, void *const *lies, int nlies)
{
	switch (rng() % 4) {
	case 0:
		return rng();
	case 1:
		return slabd_ptr_to_off(lies[rng() % (uint64_t)nlies]);
	case 2:
		return g->sb->zones_off + rng() % g->sb->zones_size;
	default:
		return rng() % 4096;
	}
}

static void scribble_bytes(void *p, size_t len)
{
	unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = (unsigned char)rng();
}

Test(scribble, random_bytes_over_three_caches_are_caught_and_the_others_never_notice)
{
	struct slabd_attach_info ai;
	struct slabd_wire_verify before, after;
	struct region g;
	void *lies[64];
	pid_t other, fresh;
	uint32_t v, cpu, round, n, big_counts = 0, mags_scribbled = 0;
	int i;

	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
	cr_assert_eq(slabd_attach_info(&ai), 0);
	g.base = (char *)(uintptr_t)ai.base;
	g.sb = (struct slabd_shm_super *)g.base;
	g.ctl = (void *)(g.base + g.sb->percpu_off + g.sb->ctl_off);
	g.depots = (void *)(g.base + g.sb->percpu_off + g.sb->depot_off);
	g.mags = (void *)(g.base + g.sb->percpu_off + g.sb->mag_off);
	g.pcpu = g.base + g.sb->percpu_off + g.sb->pcpu_off;
	g.remote = g.base + g.sb->percpu_off + g.sb->remote_off;
	g.pstats = (void *)(g.base + g.sb->percpu_off + g.sb->pcpu_stat_off);

	/* live objects of the other client's cache (kmalloc-512), with a pattern: planted as
	 * lies, they must be neither freed nor handed out */
	for (i = 0; i < 64; i++) {
		lies[i] = kmalloc(512, GFP_KERNEL);
		cr_assert_not_null(lies[i]);
		memset(lies[i], 0xa0 + (i & 15), 512);
	}
	/* the victims in use: depots with magazines, per-CPU stacks with objects */
	{
		pid_t warm = spawn(victim_sizes, VICTIMS, 50, 0);
		cr_assert_eq(reap(warm), 0, "the victims did not work before the scribbling");
	}
	verify_counters(&before);
	other = spawn(other_sizes, 3, 0, 1);
	sleep_ms(100);

	for (round = 0; round < 40; round++) {
		for (v = 0; v < VICTIMS; v++) {
			uint32_t id = victim_ids[v];
			struct slabd_shm_depot *dp = &g.depots[slabd_shm_depot_index(g.sb, id, 0)];
			/* the magazines on its full and reserve stacks: in the first round only,
			 * while the heads are still the daemon's (a scribbled head points at any
			 * magazine: the empty stack's, or the other client's, which are not the
			 * victims' to scribble) */
			for (n = 0; round == 0 && n < 2; n++) {
				uint32_t top = slabd_stack_top(__atomic_load_n(
					     n ? &dp->reserve : &dp->full, __ATOMIC_ACQUIRE)),
					 k;
				for (k = 0; k < 6 && top && top <= g.sb->nr_mags; k++) {
					struct slabd_shm_mag *m = &g.mags[top - 1];
					top = m->next;
					if (rng() % 2) {
						scribble_bytes(m, sizeof(*m));
					} else {
						m->count = (uint32_t)(rng() % 40);
						for (i = 0; i < (int)SLABD_MAG_SLOTS; i++)
							m->objs[i] = lie(&g, lies, 64);
					}
					mags_scribbled++;
				}
			}
			/* the depot: heads, chain, counters */
			switch (rng() % 4) {
			case 0:
				__atomic_store_n(&dp->full, rng(), __ATOMIC_RELEASE);
				break;
			case 1:
				__atomic_store_n(&dp->reserve, rng(), __ATOMIC_RELEASE);
				break;
			case 2:
				__atomic_store_n(&dp->freelist, lie(&g, lies, 64),
						 __ATOMIC_RELEASE);
				break;
			default:
				dp->misses = (uint32_t)rng();
				dp->want = (uint32_t)rng();
				dp->waiters = (uint32_t)rng() % 3;
				break;
			}
			/* its per-CPU stacks and miss counters on every CPU */
			for (cpu = 0; cpu < g.sb->nr_cpus; cpu++) {
				struct slabd_shm_pcpu *p =
				    (void *)(g.pcpu + (((uint64_t)id * g.sb->nr_cpus + cpu)
						       << SLABD_PCPU_SHIFT));
				struct slabd_shm_pcpu_stat *st =
				    &g.pstats[slabd_shm_pcpu_stat_index(g.sb->max_caches, id, cpu)];
				for (i = 0; i < (int)SLABD_PCPU_SLOTS; i++)
					p->slots[i] = lie(&g, lies, 64);
				p->capacity = (uint32_t)rng();
				if (rng() % 3 == 0) {
					p->count = 128 + (uint32_t)(rng() % 100000);
					big_counts++;
				} else {
					p->count = (uint32_t)(rng() % 128);
				}
				st->alloc_misses = (uint32_t)rng();
				st->free_misses = (uint32_t)rng();
			}
		}
		/* the remote-free stacks (single node: nobody else pushes there). They hold
		 * objects of any cache: a live object written there is a kfree() of it, which
		 * nobody can tell from a real one, so only offsets that are no object go there */
		for (cpu = 0; cpu < g.sb->nr_cpus; cpu++) {
			struct slabd_shm_pcpu *r =
			    (void *)(g.remote + ((uint64_t)cpu << SLABD_PCPU_SHIFT));
			for (i = 0; i < 16; i++)
				r->slots[i] =
				    rng() % 2 ? rng()
					      : g.sb->zones_off + (rng() % g.sb->zones_size | 1);
			r->count = rng() % 2 ? 16 : 200;
		}
		__atomic_fetch_add(&g.ctl->kick, 1, __ATOMIC_RELEASE);
		slabd_futex_wake(&g.ctl->kick);
		sleep_ms(25);
		cr_assert(td_alive(&td), "slabd died in scribble round %u", round);
	}
	cr_assert_gt(big_counts, 0);
	cr_assert_gt(mags_scribbled, 0, "the victims had no magazine on their depots to scribble");

	/* let the daemon look at everything (tune period 100 ms, idle drain 200 ms) */
	sleep_ms(1500);
	cr_assert(td_alive(&td), "slabd died after the scribbling");
	verify_counters(&after);
	cr_expect_gt(after.bad_stacks, before.bad_stacks, "no damaged depot stack was reported");
	cr_expect_gt(after.bad_pcpu, before.bad_pcpu,
		     "no damaged per-CPU stack count was reported");
	cr_expect_gt(after.bad_objects, before.bad_objects, "no bad offset was reported");
	cr_expect(td_log_contains(&td, "stack corrupt"), "the log names no damaged depot stack");
	cr_expect(td_log_contains(&td, "per-CPU stack count"),
		  "the log names no damaged per-CPU stack");
	cr_expect(td_log_contains(&td, "is not one of its objects"), "the log names no bad offset");

	fprintf(stderr,
		"# scribble: %u rounds over %u caches: %u magazines, %u depot fields, %u per-CPU "
		"stacks (%u with an "
		"impossible count), %u remote-free stacks scribbled; caught: %llu corrupt depot "
		"stacks reset, %llu "
		"per-CPU counts reset, %llu bad offsets dropped, %llu magazines quarantined, %llu "
		"double frees\n",
		round, VICTIMS, mags_scribbled, round * VICTIMS, round * VICTIMS * g.sb->nr_cpus,
		big_counts, round * g.sb->nr_cpus,
		(unsigned long long)(after.bad_stacks - before.bad_stacks),
		(unsigned long long)(after.bad_pcpu - before.bad_pcpu),
		(unsigned long long)(after.bad_objects - before.bad_objects),
		(unsigned long long)(after.quarantined - before.quarantined),
		(unsigned long long)(after.double_frees - before.double_frees));
	/* the other client never noticed */
	cr_assert_eq(kill(other, SIGTERM), 0, "the other client had already exited");
	cr_assert_eq(reap(other), 100 + SIGTERM,
		     "the other client failed while the victims were scribbled");
	/* the lies were neither freed nor handed out: their patterns are intact */
	for (i = 0; i < 64; i++) {
		unsigned char *b = lies[i];
		for (n = 0; n < 512; n++)
			cr_assert_eq(b[n], 0xa0 + (i & 15), "planted object %d was overwritten", i);
		kfree(lies[i]);
	}
	/* repaired: a new client uses the victim caches again */
	fresh = spawn(victim_sizes, VICTIMS, 200, 0);
	cr_assert_eq(reap(fresh), 0, "the victim caches do not work after the repair");
	cr_assert(td_alive(&td));
}

Test(scribble, a_used_magazine_linked_into_the_empty_stack_is_quarantined_not_filled)
{
	struct slabd_attach_info ai;
	struct slabd_wire_verify before, after;
	struct slabd_shm_super *sb;
	struct slabd_shm_ctl *ctl;
	struct slabd_shm_mag *mags, *x;
	struct kmem_cache *nc;
	static void *v[3000];
	uint64_t saved[SLABD_MAG_SLOTS];
	int i;

	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
	cr_assert_eq(slabd_attach_info(&ai), 0);
	sb = (struct slabd_shm_super *)(uintptr_t)ai.base;
	ctl = (void *)((char *)sb + sb->percpu_off + sb->ctl_off);
	mags = (void *)((char *)sb + sb->percpu_off + sb->mag_off);
	verify_counters(&before);

	/* a magazine that looks in use (a count, contents) put on the empty stack, as a
	 * corrupt link would: whoever fills it next would overwrite somebody's objects */
	x = slabd_stack_pop(&ctl->empty_mags, mags, sb->nr_mags);
	cr_assert_not_null(x);
	x->count = 7;
	for (i = 0; i < (int)SLABD_MAG_SLOTS; i++)
		saved[i] = x->objs[i] = 0x1000 + (uint64_t)i;
	slabd_stack_push(&ctl->empty_mags, mags, x);

	/* a new cache's first refills take magazines from the empty stack */
	nc = kmem_cache_create("refilled", 48, 8, 0, NULL);
	cr_assert_not_null(nc);
	for (i = 0; i < 3000; i++) {
		v[i] = kmem_cache_alloc(nc, GFP_KERNEL);
		cr_assert_not_null(v[i]);
	}
	for (i = 0; i < 3000; i++)
		kmem_cache_free(nc, v[i]);
	verify_counters(&after);
	cr_assert_gt(after.quarantined, before.quarantined, "the magazine was not quarantined");
	cr_assert(td_log_contains(&td, "the empty-magazine stack held magazine"), "not reported");
	/* and it was left as it was */
	cr_assert_eq(x->count, 7, "the daemon filled a magazine that was not empty");
	for (i = 0; i < (int)SLABD_MAG_SLOTS; i++)
		cr_assert_eq(x->objs[i], saved[i]);
}
