/* SPDX-License-Identifier: MIT */
/*
 * test_death.c - client death: processes killed with SIGKILL at random instants (often
 * inside a restartable sequence: they link the build of libslabclient that spins just
 * before each commit) while two surviving processes run a workload that writes an owner
 * pattern into every object and checks it before freeing. Afterwards the daemon's audit
 * (what `slabctl verify` asks) finds every object free in exactly one place or
 * allocated, with no duplicate, stray or bad link; the survivors never saw a foreign
 * pattern or a failed allocation, and the daemon noticed every death as a hangup.
 * Objects a killed client held stay allocated without owner tracking: the audit counts
 * them and the test prints how many. The same torture runs again with owner tracking on
 * (the daemon's debug = store_user for the kmalloc caches, SLAB_STORE_USER for the named
 * cache): the daemon gives back what each victim owned, and the audit finds at most what
 * a victim can hold in flight (a magazine it was moving and one object per kill).
 *
 * Bounded by a number of kills, not by time.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "daemon_helper.h"
#include "owner_pattern.h"
#include "slabd_shm.h"
#include "slabd_wire.h"

extern volatile unsigned int slabd_rseq_inject_loops;

#define KILLS	  60
#define SURVIVORS 2

static struct test_daemon td;

struct shared {
	volatile int stop;
	unsigned long verified[SURVIVORS];
	int failed;
	char why[160];
};
static struct shared *sh;

static slab_flags_t named_flags; /* of the named cache "death" */
static long victim_extra_ms;     /* tracked: every call takes the slow path, live longer */

static void up_with(const char *const *sets)
{
	cr_assert_eq(td_start(&td, sets), 0, "slabd did not start");
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(sh, MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
}

static void up(void)
{
	named_flags = 0;
	victim_extra_ms = 0;
	up_with(NULL);
}

static void up_tracked(void)
{
	named_flags = SLAB_STORE_USER;
	victim_extra_ms = 40;
	up_with((const char *const[]){"debug=store_user", NULL});
}

static void down(void)
{
	cr_expect(td_alive(&td), "slabd died while its clients were being killed");
	cr_expect_eq(td_stop(&td), 0, "slabd did not stop cleanly");
	munmap(sh, sizeof(*sh));
}

TestSuite(death, .init = up, .fini = down, .timeout = 300);
TestSuite(death_tracked, .init = up_tracked, .fini = down, .timeout = 300);

static void fail(const char *why)
{
	if (!__atomic_exchange_n(&sh->failed, 1, __ATOMIC_SEQ_CST))
		snprintf(sh->why, sizeof(sh->why), "pid %d: %s", (int)getpid(), why);
	_exit(1);
}

/*
 * The workload: a window of live objects of mixed sizes (kmalloc and a named cache, single
 * and bulk), each stamped with its owner and a sequence number and checked before it is
 * freed. @slot >= 0: a survivor, counting verified objects until told to stop; -1: a
 * victim, running until killed.
 */
static void workload(int slot)
{
	enum { WINDOW = 256 };
	static struct obj win[WINDOW];
	struct kmem_cache *nc;
	uint64_t seq = 0, pid = (uint64_t)getpid() << 40;
	int i;

	rng_state = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	if (slabd_connect(td.sock) < 0)
		fail("connect");
	nc = kmem_cache_create("death", 72, 8, named_flags, NULL);
	if (!nc)
		fail("kmem_cache_create");
	memset(win, 0, sizeof(win));
	while (slot < 0 || !__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE)) {
		for (i = 0; i < WINDOW; i++) {
			struct obj *o = &win[i];
			if (o->p) {
				if (!intact(o))
					fail("an object's owner pattern was overwritten: handed "
					     "out twice");
				if (o->named)
					kmem_cache_free(nc, o->p);
				else
					kfree(o->p);
				if (slot >= 0)
					sh->verified[slot]++;
			}
			o->named = rng() % 3 == 0;
			if (o->named) {
				o->words = 9;
				o->p = kmem_cache_alloc(nc, GFP_KERNEL);
			} else {
				o->words = 3 + rng() % 510; /* three distinct words stamped */
				o->p = kmalloc(o->words * 8, GFP_KERNEL);
			}
			if (!o->p)
				fail("an allocation failed");
			o->tag = pid | ++seq;
			stamp(o);
		}
		/* and a bulk round trip */
		switch (bulk_round_trip(nc, pid)) {
		case -1:
			fail("bulk allocation failed");
			break;
		case -2:
			fail("a bulk object was overwritten");
			break;
		}
		if (slot >= 0)
			sh->verified[slot] += 16;
	}
	for (i = 0; i < WINDOW; i++)
		if (win[i].p) {
			if (!intact(&win[i]))
				fail("an object's owner pattern was overwritten: handed out twice");
			if (win[i].named)
				kmem_cache_free(nc, win[i].p);
			else
				kfree(win[i].p);
			sh->verified[slot]++;
		}
	_exit(0);
}

static void audit(struct slabd_wire_verify *r)
{
	cr_assert_eq(td_verify(&td, SLABD_VERIFY_AUDIT, r), 0, "no VERIFY reply (stderr says why)");
	cr_assert_eq(r->err, 0);
}

/* The torture itself: survivors, KILLS victims killed at random instants, the survivors
 * stopped and checked; returns the kills and fills @r with the audit. */
static int torture(struct slabd_wire_verify *r, int *ret_in_seq)
{
	pid_t survivors[SURVIVORS];
	int i, status, killed = 0, in_seq = 0;

	rng_state = 12345;
	for (i = 0; i < SURVIVORS; i++) {
		survivors[i] = fork();
		cr_assert_geq(survivors[i], 0);
		if (survivors[i] == 0)
			workload(i);
	}
	for (i = 0; i < KILLS; i++) {
		pid_t victim = fork();
		struct timespec ts = {0, (long)(1 + rng() % 25 + victim_extra_ms) * 1000000L};

		cr_assert_geq(victim, 0);
		if (victim == 0) {
			/* half of them spin inside every sequence: killed there more often */
			slabd_rseq_inject_loops = i % 2 ? 2000 : 0;
			workload(-1);
		}
		in_seq += i % 2;
		nanosleep(&ts, NULL);
		cr_assert_eq(kill(victim, SIGKILL), 0);
		cr_assert_eq(waitpid(victim, &status, 0), victim);
		cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			  "victim %d ended before it was killed: %s", i, sh->why);
		killed++;
		cr_assert(td_alive(&td), "slabd died after kill %d", i);
	}
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < SURVIVORS; i++) {
		cr_assert_eq(waitpid(survivors[i], &status, 0), survivors[i]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "survivor %d failed: %s",
			  i, sh->why);
	}
	cr_assert_eq(sh->failed, 0, "%s", sh->why);
	for (i = 0; i < SURVIVORS; i++)
		cr_assert_gt(sh->verified[i], 0, "survivor %d verified nothing", i);

	audit(r);
	cr_assert_eq(r->problems, 0, "the audit found %llu problems after the kills: %s",
		     (unsigned long long)r->problems, r->first);
	cr_assert_eq(r->objects, r->free_slabs + r->free_mags + r->allocated);
	cr_assert(td_log_contains(&td, "hung up") || td_log_contains(&td, "detached"),
		  "the daemon did not notice the deaths");
	*ret_in_seq = in_seq;
	return killed;
}

Test(death, clients_killed_at_random_instants_leave_nothing_inconsistent)
{
	struct slabd_wire_verify r;
	int in_seq, killed = torture(&r, &in_seq);

	fprintf(
	    stderr,
	    "# death: %d clients killed (%d spinning inside their sequences), %lu + %lu objects "
	    "verified by "
	    "the survivors; audit: %llu objects, %llu allocated (held by the killed), 0 problems\n",
	    killed, in_seq, sh->verified[0], sh->verified[1], (unsigned long long)r.objects,
	    (unsigned long long)r.allocated);
}

/* DEBUG request: the objects reclaimed from dead clients so far. */
static uint64_t reclaimed(void)
{
	struct slabd_wire_debug rep;

	cr_assert_eq(td_debug(&td, SLABD_DEBUG_ALL_CACHES, SLABD_DEBUG_OP_QUERY, 0, &rep), 0, "no DEBUG_REPLY");
	return rep.reclaimed;
}

Test(death_tracked, with_owner_tracking_the_daemon_gives_back_what_the_killed_owned)
{
	struct slabd_wire_verify r;
	int in_seq, killed = torture(&r, &in_seq);
	uint64_t back = reclaimed();

	/* without tracking what the victims held stays allocated; with it only what a victim
	 * had in flight may (a magazine it was moving between stacks, an object between the
	 * depot and its record) */
	cr_assert_gt(back, 0, "nothing reclaimed from %d victims", killed);
	cr_assert_leq(r.allocated, (uint64_t)killed * (SLABD_MAG_SLOTS + 1),
		      "%llu objects still allocated after every client is gone", (unsigned long long)r.allocated);
	cr_assert_eq(r.double_frees, 0, "the reclaim freed an object that was free");
	cr_assert(td_log_contains(&td, "objects it still owned are given back"));
	fprintf(stderr,
		"# death with owner tracking: %d clients killed (%d spinning inside their sequences), "
		"%lu + %lu objects verified by the survivors; %llu objects given back from the killed; "
		"audit: %llu objects, %llu allocated (in flight when killed), 0 problems\n",
		killed, in_seq, sh->verified[0], sh->verified[1], (unsigned long long)back,
		(unsigned long long)r.objects, (unsigned long long)r.allocated);
}
