/* SPDX-License-Identifier: MIT */
/*
 * test_restart.c - daemon restart on a region kept in files (region_dir).
 *
 * fork()ed clients run a workload that stamps an owner pattern into every object and
 * checks it before freeing, while the daemon is killed with SIGKILL several times and
 * started again on the same region_dir and socket. One client ("cache-only") allocates
 * and frees only small objects: it must go on while the daemon is away. The other
 * ("mixed") also makes large allocations and asks the daemon for a named cache: its slow
 * paths wait for the daemon and reconnect to the restarted one. Afterwards no pattern was
 * ever found overwritten, and the daemon's audit finds every object free in exactly one
 * place or allocated, nothing counted twice, and only a bounded number of objects lost
 * to the kills. A restart against a region of another geometry or layout version
 * refuses with a message that says what to do, and leaves the region as it was.
 *
 * Runs on tmpfs (/dev/shm) and, as root with hugepages to reserve, on a hugetlbfs mount.
 * Bounded by a number of restarts, not by time.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <slabd/pktbuf.h>
#include <slabd/slabd.h>

#include "daemon_helper.h"
#include "owner_pattern.h"
#include "slabd_shm.h"
#include "slabd_wire.h"

#define RESTARTS 10
#define CLIENTS	 2

static struct test_daemon td;
static char region_dir[128];
static char set_dir[160];

struct shared {
	volatile int stop;
	unsigned long ops[CLIENTS];	 /* objects verified and freed */
	unsigned long large[CLIENTS];	 /* large allocations verified */
	unsigned long requests[CLIENTS]; /* cache-create requests answered */
	int failed;
	char why[200];
};
static struct shared *sh;

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* The daemon's log has @needle within 10 s (it logs "ready" just after it listens). */
static int log_has(const char *needle)
{
	int i;

	for (i = 0; i < 1000 && !td_log_contains(&td, needle); i++)
		sleep_ms(10);
	return td_log_contains(&td, needle);
}

static void remove_region(void)
{
	static const char *const names[] = {"meta", "percpu", "zones", "slabs"};
	char p[200];
	unsigned int i;

	if (!region_dir[0])
		return;
	for (i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s/%s", region_dir, names[i]);
		unlink(p);
	}
	rmdir(region_dir);
}

static void fail(const char *why)
{
	if (!__atomic_exchange_n(&sh->failed, 1, __ATOMIC_SEQ_CST))
		snprintf(sh->why, sizeof(sh->why), "pid %d: %s (%s)", (int)getpid(), why,
			 strerror(errno));
	_exit(1);
}

static void release(struct kmem_cache *nc, struct obj *o)
{
	if (!intact(o))
		fail("an object's owner pattern was overwritten: handed out twice");
	if (o->named)
		kmem_cache_free(nc, o->p);
	else
		kfree(o->p);
	o->p = NULL;
}

/* @mixed: also large allocations and cache-create requests, which need the daemon. */
static void workload(int slot, int mixed)
{
	/* the mixed client's window is larger than its per-CPU stacks: its objects go
	 * through the depots, the free chains and the daemon's refills and trims */
	enum { WINDOW_MAX = 1536 };
	static struct obj win[WINDOW_MAX];
	const int WINDOW = mixed ? WINDOW_MAX : 128;
	struct kmem_cache *nc;
	uint64_t seq = 0, pid = (uint64_t)getpid() << 40;
	unsigned long round = 0;
	int i;

	rng_state = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	if (slabd_connect(td.sock) < 0)
		fail("connect");
	nc = kmem_cache_create("restart", 72, 8, 0, NULL);
	if (!nc)
		fail("kmem_cache_create");
	memset(win, 0, sizeof(win));
	(void)WINDOW_MAX;
	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE)) {
		for (i = 0; i < WINDOW; i++) {
			struct obj *o = &win[i];
			if (o->p) {
				release(nc, o);
				sh->ops[slot]++;
			}
			o->named = rng() % 3 == 0;
			if (o->named) {
				o->words = 9;
				o->p = kmem_cache_alloc(nc, GFP_KERNEL);
			} else {
				o->words = 3 + rng() % 254;
				o->p = kmalloc(o->words * 8, GFP_KERNEL);
			}
			if (!o->p)
				fail("an allocation failed");
			o->tag = pid | ++seq;
			stamp(o);
		}
		switch (bulk_round_trip(nc, pid)) {
		case -1:
			fail("bulk allocation failed");
			break;
		case -2:
			fail("a bulk object was overwritten");
			break;
		}
		sh->ops[slot] += 16;
		if (mixed && ++round % 4 == 0) {
			/* a page-level allocation and a request: both need the daemon */
			struct obj big = {.words = (40000 + rng() % 100000) / 8,
					  .tag = pid | ++seq};
			big.p = kmalloc(big.words * 8, GFP_KERNEL);
			if (!big.p)
				fail("a large allocation failed");
			stamp(&big);
			if (kmem_cache_create("restart", 72, 8, 0, NULL) != nc)
				fail("kmem_cache_create of an existing cache gave another one");
			sh->requests[slot]++;
			if (!intact(&big))
				fail("a large allocation was overwritten");
			kfree(big.p);
			sh->large[slot]++;
		}
	}
	for (i = 0; i < WINDOW; i++)
		if (win[i].p) {
			release(nc, &win[i]);
			sh->ops[slot]++;
		}
	_exit(0);
}

static void restart_or_die(const char *const *sets, int i)
{
	if (td_restart(&td, sets) != 0) {
		__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
		cr_assert_fail("slabd did not start again on its region (restart %d)", i);
	}
}

/* Kill and restart RESTARTS times under the workload, then the audit. */
static void run_restarts(const char *const *sets, const char *what, const char *backing)
{
	pid_t kids[CLIENTS];
	struct slabd_wire_verify r;
	unsigned long before, large_before;
	int i, status, away_progress = 0;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(sh, MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	rng_state = 4242;
	cr_assert_eq(td_start(&td, sets), 0, "slabd with region_dir did not start");
	cr_assert(td_log_contains(&td, "region kept in"),
		  "the daemon did not say where its region is");
	cr_assert(log_has(backing), "the region is not backed by %s", backing);

	for (i = 0; i < CLIENTS; i++) {
		kids[i] = fork();
		cr_assert_geq(kids[i], 0);
		if (kids[i] == 0)
			workload(i, i == 1);
	}
	for (i = 0; i < RESTARTS; i++) {
		int k;

		/* let the clients work against a live daemon (the mixed one's requests too) */
		large_before = sh->large[1];
		for (k = 0; k < 3000 && sh->large[1] < large_before + 2 && !sh->failed; k++)
			sleep_ms(10);
		cr_assert_gt(sh->large[1], large_before,
			     "the mixed client made no large allocation against a "
			     "live daemon in 30 s (restart %d): %s",
			     i, sh->why);
		sleep_ms((long)(rng() % 40)); /* a random instant of the daemon's work */
		cr_assert_eq(td_kill(&td), 0, "slabd did not die of SIGKILL");
		/* while it is away the cache-only client keeps going on its caches */
		before = sh->ops[0];
		for (k = 0; k < 1000 && sh->ops[0] < before + 1000 && !sh->failed; k++)
			sleep_ms(10);
		if (sh->ops[0] >= before + 1000)
			away_progress++;
		cr_assert_eq(sh->failed, 0, "%s", sh->why);
		restart_or_die(sets, i);
		cr_assert(td_log_contains(&td, "found, restarting on it"),
			  "restart %d did not find the region", i);
	}
	/* the mixed client must get through its slow paths with the last daemon */
	large_before = sh->large[1];
	for (i = 0; i < 3000 && sh->large[1] < large_before + 2 && !sh->failed; i++)
		sleep_ms(10);
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < CLIENTS; i++) {
		cr_assert_eq(waitpid(kids[i], &status, 0), kids[i]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client %d failed: %s", i,
			  sh->why);
	}
	cr_assert_eq(sh->failed, 0, "%s", sh->why);
	cr_assert_geq(sh->large[1], large_before + 2,
		      "the mixed client was not served after the last restart");
	cr_assert_eq(
	    away_progress, RESTARTS,
	    "the cache-only client made no progress while the daemon was away (%d of %d times)",
	    away_progress, RESTARTS);

	cr_assert_eq(td_verify(&td, SLABD_VERIFY_AUDIT, &r), 0,
		     "no VERIFY reply (stderr says why)");
	cr_assert_eq(r.err, 0);
	cr_assert_eq(r.problems, 0, "the audit found %llu problems after %d restarts: %s",
		     (unsigned long long)r.problems, RESTARTS, r.first);
	cr_assert_eq(r.objects, r.free_slabs + r.free_mags + r.allocated);
	cr_assert_eq(r.double_frees, 0, "the restarted daemon saw %llu double frees",
		     (unsigned long long)r.double_frees);
	cr_assert_eq(r.bad_objects, 0, "the restarted daemon saw %llu bad offsets",
		     (unsigned long long)r.bad_objects);
	/* every client freed everything: what is still allocated was lost to the kills,
	 * at most a batch in each daemon thread's hands per kill (docs/design.md) */
	cr_assert_leq(r.allocated, (uint64_t)RESTARTS * (127 + 62 + 2 * SLABD_MAG_SLOTS),
		      "%llu objects allocated after every client freed all of its objects",
		      (unsigned long long)r.allocated);
	fprintf(stderr,
		"# restart (%s): %d SIGKILL restarts; clients verified %lu + %lu objects, %lu "
		"large allocations and "
		"%lu requests answered; audit: %llu objects, %llu lost to the kills, 0 problems\n",
		what, RESTARTS, sh->ops[0], sh->ops[1], sh->large[1], sh->requests[1],
		(unsigned long long)r.objects, (unsigned long long)r.allocated);
	/* a clean stop keeps the region too: the next daemon finds the same objects */
	cr_assert_eq(td_stop(&td), 0, "slabd did not stop cleanly after the restarts");
	{
		struct slabd_wire_verify again;
		restart_or_die(sets, RESTARTS);
		cr_assert_eq(td_verify(&td, SLABD_VERIFY_AUDIT, &again), 0);
		cr_assert_eq(again.problems, 0);
		cr_assert_eq(again.allocated, r.allocated,
			     "a clean stop and start changed the objects allocated from %llu to %llu",
			     (unsigned long long)r.allocated, (unsigned long long)again.allocated);
	}
	cr_expect_eq(td_stop(&td), 0, "slabd did not stop cleanly after the restart that followed a clean stop");
	munmap(sh, sizeof(*sh));
}

static void tmpfs_dir(void)
{
	snprintf(region_dir, sizeof(region_dir), "/dev/shm/slabd-restart-%d", (int)getpid());
	snprintf(set_dir, sizeof(set_dir), "region_dir=%s", region_dir);
}

static void cleanup(void)
{
	if (td.pid > 0)
		td_stop(&td);
	remove_region();
}

TestSuite(restart, .timeout = 300, .fini = cleanup);

Test(restart, clients_survive_sigkill_restarts_on_tmpfs)
{
	const char *sets[] = {NULL, "log_level=info", NULL};

	tmpfs_dir();
	sets[0] = set_dir;
	run_restarts(sets, "tmpfs", "backing shmem-4K");
}

/* Byte offsets in the superblock (struct slabd_shm_super). */
static void patch_meta_u32(size_t off, uint32_t v)
{
	char p[200];
	int fd;

	snprintf(p, sizeof(p), "%s/meta", region_dir);
	fd = open(p, O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, &v, sizeof(v), (off_t)off), (ssize_t)sizeof(v));
	close(fd);
}

Test(restart, another_geometry_or_layout_is_refused_with_advice)
{
	const char *sets[] = {NULL, "log_level=info", "dma_zone_size=0", NULL};
	const char *bigger[] = {NULL, "log_level=info", "dma_zone_size=0", "zone_size=128M", NULL};
	const char *other_caches[] = {NULL, "log_level=info", "dma_zone_size=0", "max_caches=256",
				      NULL};
	void *p;

	tmpfs_dir();
	sets[0] = bigger[0] = other_caches[0] = set_dir;
	cr_assert_eq(td_start(&td, sets), 0);
	{
		/* one daemon per region: a second one on the same directory refuses */
		struct test_daemon second;
		cr_assert_neq(td_start(&second, sets), 0, "a second slabd took a region in use");
		cr_assert(td_log_contains(&second, "another slabd serves this region"),
			  "the second daemon did not say why it refused");
	}
	cr_assert_eq(slabd_connect(td.sock), 0);
	p = kmalloc(100, GFP_KERNEL);
	cr_assert_not_null(p);
	slabd_disconnect();
	cr_assert_eq(td_kill(&td), 0);

	cr_assert_neq(td_restart(&td, bigger), 0,
		      "slabd reformatted a region of another zone size");
	cr_assert(td_log_contains(&td, "was made for another geometry"),
		  "no reason given for the refusal");
	cr_assert(td_log_contains(&td, "to start afresh"), "no advice given with the refusal");
	cr_assert_neq(td_restart(&td, other_caches), 0,
		      "slabd took a region of another cache table size");
	cr_assert(td_log_contains(&td, "max_caches"), "the refusal does not name the difference");

	patch_meta_u32(offsetof(struct slabd_shm_super, layout_version), 99);
	cr_assert_neq(td_restart(&td, sets), 0, "slabd took a region of layout version 99");
	cr_assert(td_log_contains(&td, "layout version 99"),
		  "the refusal does not name the layout version");
	patch_meta_u32(offsetof(struct slabd_shm_super, layout_version), SLABD_SHM_LAYOUT_VERSION);

	/* nothing was touched: the right configuration still finds it, the object with it */
	cr_assert_eq(td_restart(&td, sets), 0, "the region was damaged by the refused restarts");
	cr_assert(td_log_contains(&td, "restart: "),
		  "the restarted daemon did not rebuild its state");
	{
		struct slabd_wire_verify r;
		cr_assert_eq(td_verify(&td, SLABD_VERIFY_AUDIT, &r), 0);
		cr_assert_eq(r.problems, 0);
		cr_assert_geq(r.allocated, 1,
			      "the object allocated before the refused restarts was lost");
	}
	cr_assert_eq(td_stop(&td), 0);
}

static long prev_hugepages = -1;
static char hugetlb_mnt[64];

static void hugetlb_cleanup(void)
{
	cleanup();
	if (hugetlb_mnt[0]) {
		umount2(hugetlb_mnt, MNT_DETACH);
		rmdir(hugetlb_mnt);
		hugetlb_mnt[0] = 0;
	}
	td_hugepages_restore(prev_hugepages);
	prev_hugepages = -1;
}

Test(restart, clients_survive_sigkill_restarts_on_hugetlbfs, .fini = hugetlb_cleanup)
{
	/* meta 2 + percpu 2 + zones 32 + slabs 2 MiB, in 2 MiB pages, and some slack */
	const char *sets[] = {
	    NULL, "log_level=info", "dma_zone_size=0", "zone_size=32M", "hugepage_size=2M", NULL};

	region_dir[0] = 0;
	prev_hugepages = td_hugepages_reserve(24);
	if (prev_hugepages < 0)
		cr_skip_test(
		    "cannot reserve hugepages (not root?): restart on hugetlbfs not tested");
	if (td_hugepages_free() < 20)
		cr_skip_test(
		    "the kernel found only %ld free hugepages: restart on hugetlbfs not tested",
		    td_hugepages_free());
	snprintf(hugetlb_mnt, sizeof(hugetlb_mnt), "/tmp/slabd-hugetlbfs-%d", (int)getpid());
	cr_assert_eq(mkdir(hugetlb_mnt, 0700), 0);
	if (mount("none", hugetlb_mnt, "hugetlbfs", 0, "pagesize=2M") < 0) {
		rmdir(hugetlb_mnt);
		hugetlb_mnt[0] = 0;
		cr_skip_test("cannot mount hugetlbfs (%s): restart on hugetlbfs not tested",
			     strerror(errno));
	}
	snprintf(region_dir, sizeof(region_dir), "%s/region", hugetlb_mnt);
	snprintf(set_dir, sizeof(set_dir), "region_dir=%s", region_dir);
	sets[0] = set_dir;
	run_restarts(sets, "hugetlbfs", "backing hugetlb-2M");
}

/*
 * Owner tracking across a restart. Track records name their owner by client id; a
 * restarted daemon must not hand a new client the id of an old one that still holds
 * tracked objects, or the new client's death would give the old one's objects back
 * while it uses them. Here the test process owns objects under its first-daemon id;
 * after a SIGKILL restart, new clients come and die (each owning one object, so each
 * death runs the reclaim) and the test's objects must stay allocated and intact.
 */
Test(restart, owner_tracking_after_a_restart_never_reclaims_an_old_clients_objects)
{
	enum { MINE = 64, KIDS = 4 };
	const char *sets[] = {NULL, "log_level=info", NULL};
	struct slabd_wire_verify v;
	struct kmem_cache *c;
	unsigned char *mine[MINE];
	void *fresh[256];
	int i, j, k;

	tmpfs_dir();
	sets[0] = set_dir;
	remove_region();
	cr_assert_eq(td_start(&td, sets), 0, "slabd did not start on %s", region_dir);
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
	c = kmem_cache_create("rs-owned", 96, 0, SLAB_STORE_USER, NULL);
	cr_assert_not_null(c, "%s", slabd_last_error());
	for (i = 0; i < MINE; i++) {
		mine[i] = kmem_cache_alloc(c, GFP_KERNEL);
		cr_assert_not_null(mine[i]);
		memset(mine[i], 0x5c, 96);
	}

	cr_assert_eq(td_kill(&td), 0);
	restart_or_die(sets, 0);

	for (k = 0; k < KIDS; k++) {
		char pidtag[64];
		int fds[2], st;
		pid_t kid;

		cr_assert_eq(pipe(fds), 0);
		kid = fork();
		cr_assert(kid >= 0);
		if (kid == 0) {
			void *p;
			close(fds[0]);
			if (slabd_connect(td.sock) != 0 || !(p = kmem_cache_alloc(c, GFP_KERNEL)))
				_exit(2);
			memset(p, 0x11, 96);
			if (write(fds[1], "k", 1) != 1)
				_exit(3);
			pause();
			_exit(0);
		}
		close(fds[1]);
		cr_assert_eq(read(fds[0], pidtag, 1), 1, "client %d did not get going", k);
		close(fds[0]);
		kill(kid, SIGKILL);
		cr_assert_eq(waitpid(kid, &st, 0), kid);
		/* its one object comes back: the reclaim ran for its id */
		snprintf(pidtag, sizeof(pidtag), "(pid %d) is gone; 1 objects", (int)kid);
		cr_assert(log_has(pidtag), "no owner reclaim logged for client %d (pid %d)", k, (int)kid);
	}

	for (i = 0; i < MINE; i++)
		for (j = 0; j < 96; j++)
			cr_assert_eq(mine[i][j], 0x5c, "object %d of the surviving client was given back (+%d: %#x)", i, j,
				     mine[i][j]);
	for (i = 0; i < 256; i++) {
		fresh[i] = kmem_cache_alloc(c, GFP_KERNEL);
		cr_assert_not_null(fresh[i]);
		for (j = 0; j < MINE; j++)
			cr_assert_neq(fresh[i], (void *)mine[j], "a live object of the surviving client was handed out again");
	}
	for (i = 0; i < 256; i++)
		kmem_cache_free(c, fresh[i]);
	for (i = 0; i < MINE; i++)
		kmem_cache_free(c, mine[i]);
	cr_assert_eq(td_verify(&td, SLABD_VERIFY_AUDIT, &v), 0);
	cr_expect_eq(v.problems, 0, "audit: %s", v.first);
	cr_expect_eq(v.double_frees, 0);
}

/* ------------------------------------------ a found region's tables are input -- */

static struct slabd_shm_super read_super(void)
{
	struct slabd_shm_super sb;
	char p[200];
	int fd;

	snprintf(p, sizeof(p), "%s/meta", region_dir);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &sb, sizeof(sb), 0), (ssize_t)sizeof(sb));
	close(fd);
	return sb;
}

/* Read (or @write) @len bytes at @off of the stopped daemon's region file @name. */
static void region_rw(const char *name, off_t off, void *buf, size_t len, int write)
{
	char p[200];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", region_dir, name);
	fd = open(p, O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	if (write)
		cr_assert_eq(pwrite(fd, buf, len, off), (ssize_t)len);
	else
		cr_assert_eq(pread(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static void meta_rw(off_t off, void *buf, size_t len, int write)
{
	region_rw("meta", off, buf, len, write);
}

/* Where cache table entry @id is in meta (for meta_rw). */
static off_t entry_at(const struct slabd_shm_super *sb, uint32_t id)
{
	return (off_t)(sb->cache_table_off + (uint64_t)id * sizeof(struct slabd_shm_cache));
}

/* The cache table entry named @name in the stopped or running daemon's meta: its id, or 0
 * when there is none (*@ret: the entry). */
static uint32_t entry_named(const struct slabd_shm_super *sb, const char *name,
			    struct slabd_shm_cache *ret)
{
	uint32_t id;

	for (id = 1; id < sb->max_caches; id++) {
		meta_rw(entry_at(sb, id), ret, sizeof(*ret), 0);
		if (!strncmp(ret->name, name, sizeof(ret->name)))
			return id;
	}
	return 0;
}

/*
 * The zone and node tables of a found region are read back from a file anyone with the
 * daemon's uid can write: an entry that is not what this configuration lays out (a zone
 * on a node that does not exist, a zone that starts elsewhere or is longer, a node whose
 * zone is out of range) would send the rebuild outside the page table and the per-node
 * arrays. Each is refused with the table named, and the region then restarts as it was.
 */
Test(restart, a_found_regions_zone_and_node_tables_are_checked)
{
	const char *sets[] = {NULL, "log_level=info", NULL};
	struct {
		const char *what;
		size_t field; /* offset in the entry */
		int node;     /* in the node table, else the zone table */
		uint32_t value;
	} bad[] = {
	    {"zone 0 on node 7", offsetof(struct slabd_shm_zone, node), 0, 7},
	    {"zone 0 starting at page 64", offsetof(struct slabd_shm_zone, first_page), 0, 64},
	    {"zone 0 of 2^31 pages", offsetof(struct slabd_shm_zone, nr_pages), 0, 1u << 31},
	    {"zone 0 of kind 9", offsetof(struct slabd_shm_zone, kind), 0, 9},
	    {"node 0's zone 40", offsetof(struct slabd_shm_node, zone), 1, 40},
	};
	struct slabd_shm_super sb;
	struct slabd_wire_verify r;
	unsigned int i;
	void *p;

	tmpfs_dir();
	sets[0] = set_dir;
	remove_region();
	cr_assert_eq(td_start(&td, sets), 0);
	cr_assert_eq(slabd_connect(td.sock), 0);
	p = kmalloc(100, GFP_KERNEL);
	cr_assert_not_null(p);
	memset(p, 0x3c, 100);
	cr_assert_eq(td_kill(&td), 0);
	sb = read_super();

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		off_t at = (off_t)(bad[i].node ? sb.node_table_off : sb.zone_table_off) + (off_t)bad[i].field;
		uint32_t old;

		meta_rw(at, &old, sizeof(old), 0);
		meta_rw(at, &bad[i].value, sizeof(bad[i].value), 1);
		if (td_restart(&td, sets) == 0) {
			td_dump_log(&td);
			cr_assert_fail("slabd restarted on a region with %s", bad[i].what);
		}
		cr_assert(td_log_contains(&td, bad[i].node ? "its node table" : "its zone table"),
			  "the refusal of %s does not name the table", bad[i].what);
		meta_rw(at, &old, sizeof(old), 1);
	}
	cr_assert_eq(td_restart(&td, sets), 0, "the region was damaged by the refused restarts");
	cr_assert_eq(((unsigned char *)p)[99], 0x3c);
	kfree(p);
	cr_assert_eq(td_verify(&td, SLABD_VERIFY_AUDIT, &r), 0);
	cr_assert_eq(r.problems, 0, "audit: %s", r.first);
	slabd_disconnect();
	cr_assert_eq(td_stop(&td), 0);
}

/*
 * Each page's zone byte in the page table of a found region is rewritten from the zone
 * table at the rebuild: one scribbled (here those of a large allocation and of a slab in
 * use) would otherwise index the daemon's zone array when the objects come back.
 */
Test(restart, a_found_regions_page_zones_are_repaired)
{
	const char *sets[] = {NULL, "log_level=info", "dma_zone_size=0", NULL};
	struct slabd_shm_super sb;
	struct slabd_wire_verify r;
	struct slabd_shm_page pg;
	unsigned char *big, *small;
	uint64_t pages[2];
	unsigned int i;

	tmpfs_dir();
	sets[0] = set_dir;
	remove_region();
	cr_assert_eq(td_start(&td, sets), 0);
	cr_assert_eq(slabd_connect(td.sock), 0);
	big = kmalloc(100000, GFP_KERNEL);
	small = kmalloc(1000, GFP_KERNEL);
	cr_assert(big && small);
	memset(big, 0x5e, 100000);
	memset(small, 0x5f, 1000);
	cr_assert_eq(td_kill(&td), 0);
	sb = read_super();
	pages[0] = (slabd_ptr_to_off(big) - sb.zones_off) >> SLABD_PAGE_SHIFT;
	pages[1] = (slabd_ptr_to_off(small) - sb.zones_off) >> SLABD_PAGE_SHIFT;
	for (i = 0; i < 2; i++) {
		off_t at = (off_t)(sb.page_table_off + pages[i] * sizeof(pg));
		meta_rw(at, &pg, sizeof(pg), 0);
		pg.zone = 200;
		meta_rw(at, &pg, sizeof(pg), 1);
	}
	cr_assert_eq(td_restart(&td, sets), 0, "slabd did not restart");
	cr_assert_eq(big[99999], 0x5e);
	cr_assert_eq(small[999], 0x5f);
	kfree(big);
	kfree(small);
	big = kmalloc(100000, GFP_KERNEL);
	cr_assert_not_null(big, "a large allocation after the restart failed: %s", slabd_last_error());
	kfree(big);
	cr_assert(td_alive(&td), "slabd died");
	for (i = 0; i < 2; i++) {
		meta_rw((off_t)(sb.page_table_off + pages[i] * sizeof(pg)), &pg, sizeof(pg), 0);
		cr_assert_eq(pg.zone, 0, "the zone of page %llu was left at %u",
			     (unsigned long long)pages[i], pg.zone);
	}
	cr_assert_eq(td_verify(&td, SLABD_VERIFY_AUDIT, &r), 0);
	cr_assert_eq(r.problems, 0, "audit: %s", r.first);
	cr_assert_eq(r.bad_objects, 0, "%llu objects refused", (unsigned long long)r.bad_objects);
	slabd_disconnect();
	cr_assert_eq(td_stop(&td), 0);
}

/*
 * A found cache table entry is rebuilt only when this slabd would make exactly that
 * geometry; sizes and alignments beyond what any request can ask for are refused too.
 * Here a named cache's entry is rewritten, self-consistently, to a 2 GiB alignment: its
 * 4 GiB stride truncates to a size of 0 in the 32-bit field, which the daemon then
 * divides by (CACHE_INFO, slab lookups).
 */
Test(restart, a_found_cache_entry_beyond_any_requestable_geometry_is_refused)
{
	const char *sets[] = {NULL, "log_level=info", "dma_zone_size=0", NULL};
	struct slabd_shm_super sb;
	struct slabd_shm_cache sc, keep;
	off_t at = 0;
	uint32_t id;

	tmpfs_dir();
	sets[0] = set_dir;
	remove_region();
	cr_assert_eq(td_start(&td, sets), 0);
	cr_assert_eq(slabd_connect(td.sock), 0);
	cr_assert_not_null(kmem_cache_create("forged", 100, 8, 0, NULL));
	slabd_disconnect();
	cr_assert_eq(td_kill(&td), 0);
	sb = read_super();
	id = entry_named(&sb, "forged", &sc);
	cr_assert_neq(id, 0, "the named cache is not in the cache table");
	at = entry_at(&sb, id);
	keep = sc;
	sc.obj_size = 0x80000001u;
	sc.align = 0x80000000u;
	sc.size = 0; /* (uint32_t)4 GiB */
	sc.order = 20;
	sc.objs_per_slab = 1;
	sc.mag_objs = 2;
	sc.trailer = 0;
	meta_rw(at, &sc, sizeof(sc), 1);
	if (td_restart(&td, sets) == 0) {
		td_dump_log(&td);
		cr_assert_fail("slabd restarted on a cache entry of 2 GiB alignment and size 0");
	}
	cr_assert(td_log_contains(&td, "a geometry this slabd would not make"),
		  "the refusal does not name the cache entry");
	meta_rw(at, &keep, sizeof(keep), 1);
	cr_assert_eq(td_restart(&td, sets), 0, "the region was damaged by the refused restart");
	cr_assert_eq(td_stop(&td), 0);
}

/* ------------------------------------------------- the "debug" key at a restart -- */

/* slabctl debug all [on FLAGS|off] */
static struct slabd_wire_debug debug_all(uint32_t op, uint32_t flags)
{
	struct slabd_wire_debug r;

	cr_assert_eq(td_debug(&td, SLABD_DEBUG_ALL_CACHES, op, flags, &r), 0, "no DEBUG_REPLY");
	return r;
}

/*
 * A restart with another value of the "debug" key behaves as a fresh start with it would:
 * the kmalloc caches are switched on (as far as their slots allow, which the log says)
 * or off. A restart with the value the region last ran with keeps what slabctl debug
 * switched at run time. The region was made once with debug off and once with it on.
 */
Test(restart, a_changed_debug_key_is_applied_at_a_restart)
{
	const char *sets[] = {NULL, "log_level=info", "dma_zone_size=0", NULL, NULL};
	struct slabd_wire_debug r;
	uint32_t nr_kmalloc;
	void *p;

	tmpfs_dir();
	sets[0] = set_dir;
	remove_region();
	cr_assert_eq(td_start(&td, sets), 0);
	r = debug_all(SLABD_DEBUG_OP_QUERY, 0);
	cr_assert_eq(r.caches, 0);
	cr_assert_eq(slabd_connect(td.sock), 0);
	p = kmalloc(100, GFP_KERNEL);
	cr_assert_not_null(p);
	memset(p, 0x4d, 100);
	slabd_disconnect();

	/* made with debug off, restarted with debug = poison */
	cr_assert_eq(td_kill(&td), 0);
	sets[3] = "debug=poison";
	cr_assert_eq(td_restart(&td, sets), 0);
	r = debug_all(SLABD_DEBUG_OP_QUERY, 0);
	nr_kmalloc = r.caches;
	cr_assert_gt(r.caches, 0, "restarted with debug=poison, no cache has its checks on");
	cr_assert_eq(r.flags, SLABD_DEBUG_POISON);
	cr_assert(td_log_contains(&td, "the \"debug\" key is poison"),
		  "the log does not name the debug key");

	/* the same value again: unchanged */
	cr_assert_eq(td_kill(&td), 0);
	cr_assert_eq(td_restart(&td, sets), 0);
	r = debug_all(SLABD_DEBUG_OP_QUERY, 0);
	cr_assert_eq(r.caches, nr_kmalloc);

	/* and off again */
	cr_assert_eq(td_kill(&td), 0);
	sets[3] = NULL;
	cr_assert_eq(td_restart(&td, sets), 0);
	r = debug_all(SLABD_DEBUG_OP_QUERY, 0);
	cr_assert_eq(r.caches, 0, "restarted with debug off, %u caches keep their checks on",
		     r.caches);

	/* switched on at run time, restarted with the key unchanged: stays on */
	r = debug_all(SLABD_DEBUG_OP_ON, SLABD_DEBUG_POISON);
	cr_assert_gt(r.caches, 0);
	cr_assert_eq(td_kill(&td), 0);
	cr_assert_eq(td_restart(&td, sets), 0);
	r = debug_all(SLABD_DEBUG_OP_QUERY, 0);
	cr_assert_gt(r.caches, 0, "a restart with the same debug key undid slabctl debug");
	debug_all(SLABD_DEBUG_OP_OFF, 0);

	/* a red zone needs room in the slots, which these caches were made without */
	cr_assert_eq(td_kill(&td), 0);
	sets[3] = "debug=redzone";
	cr_assert_eq(td_restart(&td, sets), 0);
	r = debug_all(SLABD_DEBUG_OP_QUERY, 0);
	cr_assert_eq(r.flags, SLABD_DEBUG_POISON, "flags %#x", r.flags);
	cr_assert(td_log_contains(&td, "a fresh region"), "the log does not say what redzone needs");
	cr_assert_eq(slabd_connect(td.sock), 0);
	cr_assert_eq(((unsigned char *)p)[99], 0x4d);
	kfree(p);
	slabd_disconnect();
	cr_assert_eq(td_stop(&td), 0);

	/* made with debug on, restarted with it off */
	remove_region();
	sets[3] = "debug=poison";
	cr_assert_eq(td_start(&td, sets), 0);
	r = debug_all(SLABD_DEBUG_OP_QUERY, 0);
	cr_assert_gt(r.caches, 0);
	cr_assert_eq(td_kill(&td), 0);
	sets[3] = NULL;
	cr_assert_eq(td_restart(&td, sets), 0);
	r = debug_all(SLABD_DEBUG_OP_QUERY, 0);
	cr_assert_eq(r.caches, 0, "made with debug on, restarted with it off: %u caches on",
		     r.caches);
	cr_assert_eq(td_stop(&td), 0);
}

/* ---------------------------------------- a pool's held-back tail at a restart -- */

/* Where the journal in the slabs file keeps pool @id's {head, from} (struct persist_hdr
 * in daemon/persist.c: 32 bytes of header, SLABD_MAX_NODES + 1 chain slots of 32). */
static off_t pool_record_off(uint32_t id)
{
	return (off_t)(32 + 32 * (SLABD_MAX_NODES + 1) + 8 * id);
}

static void slabs_rw(off_t off, void *buf, size_t len, int write)
{
	region_rw("slabs", off, buf, len, write);
}

/*
 * A pool holds exactly n buffers: the tail of its last slab beyond n is held back, and
 * the journal records where ({first page of that slab, first held-back index}). Read
 * back at a restart, a damaged record (a page beyond the page table, one that is not the
 * first page of a slab of the pool, an index beyond the slab, or one that gives the pool
 * another number of buffers) is refused with the record named, as the region's other
 * damaged tables are; the right record then restarts the pool with exactly n buffers.
 */
Test(restart, a_damaged_pool_tail_record_is_refused)
{
	const char *sets[] = {NULL, "log_level=info", NULL};
	struct slabd_pktbuf *v[101];
	struct slabd_pktpool *pool;
	struct slabd_shm_super sb;
	struct slabd_shm_cache sc;
	struct slabd_wire_verify r;
	uint32_t rec[2], bad[2], id, objs, i, n = 100;
	char needle[96];
	struct {
		const char *what;
		uint32_t head, from; /* deltas unless absolute */
		int absolute_head, absolute_from;
	} cases[] = {
	    {"a page beyond the page table", 0xfffffff0u, 0, 1, 0},
	    {"a page inside the slab, not its first", 1, 0, 0, 0},
	    {"page 0 (not the pool's)", 0, 0, 1, 0},
	    {"an index beyond the slab", 0, 1000, 0, 1},
	    {"one buffer fewer than n", 0, (uint32_t)-1, 0, 0},
	    {"one buffer more than n", 0, 1, 0, 0},
	};

	tmpfs_dir();
	sets[0] = set_dir;
	remove_region();
	cr_assert_eq(td_start(&td, sets), 0);
	cr_assert_eq(slabd_connect(td.sock), 0);
	pool = slabd_pktpool_create("tailrec", n, 2048, 0, -1);
	cr_assert_not_null(pool, "%s", slabd_last_error());
	for (i = 0; i < 10; i++) {
		v[i] = slabd_pktbuf_alloc(pool);
		cr_assert_not_null(v[i]);
	}
	cr_assert_eq(td_kill(&td), 0);
	sb = read_super();
	id = entry_named(&sb, "tailrec", &sc);
	cr_assert_neq(id, 0, "the pool is not in the cache table");
	objs = sc.objs_per_slab;
	cr_assert_neq(n % objs, 0, "this geometry holds nothing back (%u per slab)", objs);
	cr_assert_gt(sc.order, 0);
	slabs_rw(pool_record_off(id), rec, sizeof(rec), 0);
	cr_assert_eq(rec[1], n % objs, "the record {%u, %u} is not this pool's", rec[0], rec[1]);

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bad[0] = cases[i].absolute_head ? cases[i].head : rec[0] + cases[i].head;
		bad[1] = cases[i].absolute_from ? cases[i].from : rec[1] + cases[i].from;
		slabs_rw(pool_record_off(id), bad, sizeof(bad), 1);
		if (td_restart(&td, sets) == 0) {
			int ok = td_verify(&td, SLABD_VERIFY_AUDIT, &r);
			cr_assert_fail("slabd restarted on a pool tail record with %s ({%u, %u}): "
				       "audit %s, %llu objects allocated, slabd %s",
				       cases[i].what, bad[0], bad[1], ok ? "failed" : "made",
				       ok ? 0ull : (unsigned long long)r.allocated,
				       td_alive(&td) ? "alive" : "died");
		}
		/* the log is appended to: each refusal is told apart by its reason */
		if (i < 3)
			snprintf(needle, sizeof(needle), "page %u is not the first page", bad[0]);
		else if (i == 3)
			snprintf(needle, sizeof(needle), "index %u is beyond", bad[1]);
		else
			snprintf(needle, sizeof(needle), "less %u held back are not the pool's %u",
				 objs - bad[1], n);
		cr_assert(td_log_contains(&td, "held-back tail record") && td_log_contains(&td, needle),
			  "the refusal of %s does not name the record (%s)", cases[i].what, needle);
	}
	slabs_rw(pool_record_off(id), rec, sizeof(rec), 1);
	cr_assert_eq(td_restart(&td, sets), 0, "the region was damaged by the refused restarts");
	for (i = 10; i < n; i++) {
		v[i] = slabd_pktbuf_alloc(pool);
		cr_assert_not_null(v[i], "buffer %u of %u failed after the restart", i, n);
	}
	cr_assert_null(slabd_pktbuf_alloc(pool), "a buffer beyond n after the restart");
	slabd_pktbuf_free_bulk(v, n);
	cr_assert_eq(td_verify(&td, SLABD_VERIFY_AUDIT, &r), 0);
	cr_assert_eq(r.problems, 0, "audit: %s", r.first);
	cr_assert_eq(r.allocated, 0, "%llu objects allocated", (unsigned long long)r.allocated);
	slabd_disconnect();
	cr_assert_eq(td_stop(&td), 0);
}

/* ------------------------------------ a slab found in a zone not of its cache -- */

/*
 * A slab's page table entries name its cache; the cache names its kind of zone. A found
 * page table whose entries put a slab of a DMA cache in a node zone (or of a node cache
 * in the DMA zone) is damaged: rebuilt as it says, the DMA cache hands out memory that has
 * no IOVA, and a release gives the slab's pages to the other zone's page allocator at an
 * index outside it. Here a free page of node 0's zone is marked, with a full bitmap, as a
 * slab of dma-kmalloc-64: the restart keeps it out of the allocators, names it, and every
 * GFP_DMA object handed out afterwards is DMA memory.
 */
Test(restart, a_found_slab_in_a_zone_its_cache_does_not_use_is_not_rebuilt)
{
	const char *sets[] = {NULL, "log_level=info", NULL};
	struct slabd_shm_super sb;
	struct slabd_shm_zone zt;
	struct slabd_shm_cache sc;
	struct slabd_shm_page pg;
	struct slabd_wire_verify r;
	uint64_t map[SLABD_PAGE_SIZE / 8 / 64];
	void *v[256];
	uint32_t id, page;
	unsigned int i;

	tmpfs_dir();
	sets[0] = set_dir;
	remove_region();
	cr_assert_eq(td_start(&td, sets), 0);
	cr_assert_eq(slabd_connect(td.sock), 0);
	cr_assert_eq(td_kill(&td), 0);
	sb = read_super();
	cr_assert_neq(sb.dma_zone, SLABD_NO_ZONE, "no DMA zone");
	id = entry_named(&sb, "dma-kmalloc-64", &sc);
	cr_assert_neq(id, 0, "dma-kmalloc-64 is not in the cache table");
	cr_assert_eq(sc.order, 0);
	cr_assert_eq(sc.objs_per_slab, 64);
	/* the last free page of node 0's zone */
	meta_rw((off_t)sb.zone_table_off, &zt, sizeof(zt), 0);
	cr_assert_eq(zt.kind, SLABD_ZONE_NODE);
	for (page = zt.first_page + zt.nr_pages - 1; page > zt.first_page; page--) {
		meta_rw((off_t)(sb.page_table_off + (uint64_t)page * sizeof(pg)), &pg, sizeof(pg),
			0);
		if (pg.kind == SLABD_PAGE_FREE)
			break;
	}
	cr_assert_eq(pg.kind, SLABD_PAGE_FREE);
	pg.kind = SLABD_PAGE_SLAB;
	pg.cache = (uint16_t)id;
	pg.head = page;
	meta_rw((off_t)(sb.page_table_off + (uint64_t)page * sizeof(pg)), &pg, sizeof(pg), 1);
	memset(map, 0, sizeof(map));
	map[0] = ~0ull; /* 64 objects free in the daemon's hands */
	slabs_rw((off_t)(64u << 10) + (off_t)page * (off_t)sizeof(map), map, sizeof(map), 1);

	cr_assert_eq(td_restart(&td, sets), 0, "slabd did not restart");
	cr_assert(td_log_contains(&td, "that cache does not use"),
		  "the restart does not name the misplaced slab");
	for (i = 0; i < 256; i++) {
		v[i] = kmalloc(64, GFP_KERNEL | GFP_DMA);
		cr_assert_not_null(v[i], "GFP_DMA allocation %u failed: %s", i, slabd_last_error());
		cr_assert_neq(slabd_virt_to_iova(v[i]), SLABD_BAD_IOVA,
			      "GFP_DMA object %u at offset %#llx is not DMA memory (page %u was "
			      "planted)",
			      i, (unsigned long long)slabd_ptr_to_off(v[i]), page);
	}
	for (i = 0; i < 256; i++)
		kfree(v[i]);
	cr_assert(td_alive(&td), "slabd died");
	cr_assert_eq(td_verify(&td, SLABD_VERIFY_AUDIT, &r), 0);
	cr_assert_eq(r.problems, 0, "audit: %s", r.first);
	slabd_disconnect();
	cr_assert_eq(td_stop(&td), 0);
}

/* ---------------------------------- a destroy cut short by a kill, then a create -- */

/*
 * kmem_cache_destroy marks the cache's entry UNUSED in meta before it gathers the
 * objects (and puts it back when some are still out): a daemon killed in between leaves
 * an entry that is not active, whose slabs the restart keeps allocated because clients
 * may still hold their objects. Their pages still name the id. When a new cache was
 * given that id, a kfree of such an object went to the new cache's per-CPU stack (the
 * library finds the cache in the page table) and the new cache handed the 64-byte object
 * out as one of its 2048-byte ones. Here the state the kill leaves is made by marking the
 * entry UNUSED in the stopped daemon's meta.
 */
Test(restart, a_cache_id_with_slabs_kept_by_a_restart_is_not_given_to_a_new_cache)
{
	const char *sets[] = {NULL, "log_level=info", "dma_zone_size=0", NULL};
	struct slabd_shm_super sb;
	struct slabd_shm_cache sc;
	struct kmem_cache *doomed, *reborn;
	struct slabd_wire_verify r;
	unsigned char *old[16];
	void *got[64];
	cpu_set_t one, all;
	uint32_t id, unused = SLABD_CACHE_UNUSED;
	unsigned int i, k;

	tmpfs_dir();
	sets[0] = set_dir;
	remove_region();
	cr_assert_eq(td_start(&td, sets), 0);
	cr_assert_eq(slabd_connect(td.sock), 0);
	doomed = kmem_cache_create("doomed", 64, 8, 0, NULL);
	cr_assert_not_null(doomed, "%s", slabd_last_error());
	for (i = 0; i < 16; i++) {
		old[i] = kmem_cache_alloc(doomed, GFP_KERNEL);
		cr_assert_not_null(old[i]);
		memset(old[i], 0x42, 64);
	}
	cr_assert_eq(td_kill(&td), 0);
	sb = read_super();
	id = entry_named(&sb, "doomed", &sc);
	cr_assert_neq(id, 0, "the named cache is not in the cache table");
	meta_rw(entry_at(&sb, id) + (off_t)offsetof(struct slabd_shm_cache, state), &unused, sizeof(unused), 1);
	cr_assert_eq(td_restart(&td, sets), 0, "slabd did not restart");
	cr_assert(td_log_contains(&td, "that is not active any more"),
		  "the restart did not keep the slab of the cache it could not restore");

	/* one CPU: the frees and the allocations meet in one per-CPU stack */
	cr_assert_eq(sched_getaffinity(0, sizeof(all), &all), 0);
	for (k = 0; k < CPU_SETSIZE && !CPU_ISSET(k, &all); k++)
		;
	CPU_ZERO(&one);
	CPU_SET(k, &one);
	cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
	reborn = kmem_cache_create("reborn", 2048, 8, 0, NULL);
	cr_assert_not_null(reborn, "%s", slabd_last_error());
	for (i = 0; i < 16; i++) {
		cr_assert_eq(old[i][63], 0x42,
			     "an object of the cut-short destroy was overwritten");
		kfree(old[i]);
	}
	for (i = 0; i < 64; i++) {
		got[i] = kmem_cache_alloc(reborn, GFP_KERNEL);
		cr_assert_not_null(got[i], "%s", slabd_last_error());
		for (k = 0; k < 16; k++)
			cr_assert_neq(
			    got[i], (void *)old[k],
			    "a 64-byte object of the cache killed in its destroy was handed "
			    "out as a 2048-byte object of the cache created after the "
			    "restart");
		memset(got[i], 0x17, 2048);
	}
	cr_assert_eq(sched_setaffinity(0, sizeof(all), &all), 0);
	for (i = 0; i < 64; i++)
		kmem_cache_free(reborn, got[i]);
	cr_assert(td_alive(&td), "slabd died");
	cr_assert_eq(td_verify(&td, SLABD_VERIFY_AUDIT, &r), 0);
	cr_assert_eq(r.problems, 0, "audit: %s", r.first);
	slabd_disconnect();
	cr_assert_eq(td_stop(&td), 0);
}

/* ------------------------------------------------ a pool creation cut short -- */

/* The thread id of the daemon's thread named @comm, or -1. */
static pid_t daemon_thread(const char *comm)
{
	char path[320], name[32];
	struct dirent *e;
	pid_t tid = -1;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)td.pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while (tid < 0 && (e = readdir(dir))) {
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", (int)td.pid, e->d_name);
		f = fopen(path, "re");
		if (f && fgets(name, sizeof(name), f) && !strncmp(name, comm, strlen(comm)) &&
		    name[strlen(comm)] == '\n')
			tid = (pid_t)atoi(e->d_name);
		if (f)
			fclose(f);
	}
	closedir(dir);
	return tid;
}

static char create_pool_why[300];

static void *create_pool(void *arg)
{
	struct slabd_pktpool *pool = slabd_pktpool_create("cutshort", 1000, 2048, 0, -1);

	(void)arg;
	if (!pool) /* errno and the library's message are this thread's */
		snprintf(create_pool_why, sizeof(create_pool_why), "%s (%s)", strerror(errno),
			 slabd_last_error());
	return pool;
}

/*
 * A pool is a cache made whole at creation: its entry was published ACTIVE by
 * cache_create before the DMA zone's worker carved its buffers and before pool_n said it
 * was a pool. A daemon killed in between left an active plain cache of the pool's name:
 * the restart rebuilt it as one, and the creation the client sends again (its request
 * waits for the daemon) was refused with EEXIST ("another geometry") for the life of the
 * region. Here the DMA zone's worker is held (ptrace) so the kill comes after the entry
 * was written and before the buffers exist; the restarted daemon must make the pool.
 */
Test(restart, a_pool_creation_cut_short_by_a_kill_is_made_at_the_retry)
{
	const char *sets[] = {NULL, "log_level=info", NULL};
	struct slabd_pktbuf *b[1000];
	struct slabd_shm_super sb;
	struct slabd_shm_cache sc;
	struct slabd_wire_verify r;
	struct slabd_pktpool *pool;
	pthread_t th;
	void *ret;
	pid_t worker;
	int status, tries;
	unsigned int i;

	tmpfs_dir();
	sets[0] = set_dir;
	remove_region();
	cr_assert_eq(td_start(&td, sets), 0);
	cr_assert_eq(slabd_connect(td.sock), 0);
	sb = read_super();
	cr_assert_neq(sb.dma_zone, SLABD_NO_ZONE, "no DMA zone");
	/* one node: the DMA zone's worker (started just after the socket is listening) */
	for (tries = 0; tries < 1000 && (worker = daemon_thread("slabd-node0")) <= 0; tries++)
		sleep_ms(10);
	cr_assert_gt(worker, 0, "no worker thread found");
	if (ptrace(PTRACE_SEIZE, worker, NULL, NULL) < 0)
		cr_skip_test("cannot ptrace slabd's worker (%s)", strerror(errno));
	cr_assert_eq(ptrace(PTRACE_INTERRUPT, worker, NULL, NULL), 0);
	cr_assert_eq(waitpid(worker, &status, __WALL), worker);
	cr_assert(WIFSTOPPED(status), "the worker did not stop");

	cr_assert_eq(pthread_create(&th, NULL, create_pool, NULL), 0);
	for (tries = 0; tries < 1000 && !entry_named(&sb, "cutshort", &sc); tries++)
		sleep_ms(10);
	cr_assert_lt(tries, 1000, "the pool's entry was never written");
	sleep_ms(50); /* the control thread now waits for the held worker */
	cr_assert_eq(sc.pool_n, 0, "the pool was made although its worker was held");
	cr_assert_eq(kill(td.pid, SIGKILL), 0);
	waitpid(worker, &status, __WALL); /* the traced thread's end is told to us first */
	cr_assert_eq(td_kill(&td), 0);

	cr_assert_eq(td_restart(&td, sets), 0, "slabd did not restart");
	cr_assert_eq(pthread_join(th, &ret), 0);
	pool = ret;
	cr_assert_not_null(pool, "the pool creation sent again after the restart failed: %s",
			   create_pool_why);
	for (i = 0; i < 1000; i++) {
		b[i] = slabd_pktbuf_alloc(pool);
		cr_assert_not_null(b[i], "buffer %u of 1000", i);
	}
	cr_assert_null(slabd_pktbuf_alloc(pool), "a buffer beyond n");
	slabd_pktbuf_free_bulk(b, 1000);
	cr_assert(td_alive(&td), "slabd died");
	cr_assert_eq(td_verify(&td, SLABD_VERIFY_AUDIT, &r), 0);
	cr_assert_eq(r.problems, 0, "audit: %s", r.first);
	slabd_disconnect();
	cr_assert_eq(td_stop(&td), 0);
}

/* ------------------------------ a region published before its kmalloc caches -- */

/*
 * region_create publishes the superblock's magic (and the fd store has the region) before
 * main creates the kmalloc caches: a daemon killed, or out of memory, in between leaves a
 * complete-looking region without them (or with some). Here that state is made from a
 * fresh region by emptying the kmalloc entries of its cache table. A restart creates the
 * missing caches (and says so) instead of serving a region where every kmalloc fails.
 */
Test(restart, a_region_without_its_kmalloc_caches_gets_them_at_a_restart)
{
	const char *sets[] = {NULL, "log_level=info", NULL};
	struct slabd_shm_super sb;
	struct slabd_shm_cache sc;
	struct slabd_wire_verify r;
	uint32_t id, emptied = 0;
	void *p;

	tmpfs_dir();
	sets[0] = set_dir;
	remove_region();
	cr_assert_eq(td_start(&td, sets), 0);
	cr_assert_eq(td_kill(&td), 0);
	sb = read_super();
	for (id = SLABD_KMALLOC_FIRST; id < SLABD_FIRST_NAMED_CACHE; id++) {
		off_t at = (off_t)(sb.cache_table_off + (uint64_t)id * sizeof(sc));

		meta_rw(at, &sc, sizeof(sc), 0);
		/* the later half of the classes only: killed in the middle of creating them */
		if (sc.state != SLABD_CACHE_ACTIVE || (id < SLABD_DMA_KMALLOC_BASE && id < 8))
			continue;
		memset(&sc, 0, sizeof(sc));
		meta_rw(at, &sc, sizeof(sc), 1);
		emptied++;
	}
	cr_assert_gt(emptied, 10);
	cr_assert_eq(td_restart(&td, sets), 0);
	cr_assert_eq(slabd_connect(td.sock), 0);
	p = kmalloc(1000, GFP_KERNEL);
	cr_assert_not_null(p, "kmalloc(1000) after the restart: %s (%s)", slabd_last_error(), strerror(errno));
	memset(p, 0x21, 1000);
	kfree(p);
	p = kmalloc(4000, GFP_KERNEL | GFP_DMA);
	cr_assert_not_null(p, "kmalloc(4000, GFP_DMA) after the restart: %s", slabd_last_error());
	kfree(p);
	cr_assert(td_log_contains(&td, "kmalloc caches were missing"), "the log does not say so");
	cr_assert_eq(td_verify(&td, SLABD_VERIFY_AUDIT, &r), 0);
	cr_assert_eq(r.problems, 0, "audit: %s", r.first);
	slabd_disconnect();
	/* and the region they are in now restarts as any other */
	cr_assert_eq(td_kill(&td), 0);
	cr_assert_eq(td_restart(&td, sets), 0);
	cr_assert_eq(slabd_connect(td.sock), 0);
	p = kmalloc(1000, GFP_KERNEL);
	cr_assert_not_null(p, "kmalloc(1000) after the second restart: %s", slabd_last_error());
	kfree(p);
	slabd_disconnect();
	cr_assert_eq(td_stop(&td), 0);
}
