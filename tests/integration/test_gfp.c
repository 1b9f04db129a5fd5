/* SPDX-License-Identifier: MIT */
/*
 * test_gfp.c - the GFP flags as docs/design.md ("GFP semantics") documents them, against
 * a real slabd:
 *   - with the daemon stopped (SIGSTOP) and the depot dry, GFP_NOWAIT and GFP_ATOMIC
 *     return at once (GFP_ATOMIC from the emergency reserve, then NULL/ENOMEM), also in a
 *     fork()ed child that has not registered yet, and a process's first (attaching)
 *     GFP_NOWAIT/GFP_ATOMIC allocation gives up quickly; GFP_KERNEL sleeps and completes
 *     after SIGCONT; GFP_KERNEL | __GFP_NORETRY gives up when the daemon does not answer;
 *   - with the daemon stopped, page-level GFP_ATOMIC/GFP_NOWAIT allocations (requests to
 *     the daemon) fail with ENOMEM and a message instead of waiting, also in a fork()ed
 *     child that must register first; the late replies do not desynchronise the socket
 *     and their pages come back, also when the client exited before the daemon answered;
 *   - __GFP_NOFAIL never returns NULL, also combined with __GFP_NORETRY, for slab and
 *     page-level sizes: it sleeps (no busy loop) until memory is freed;
 *   - __GFP_NORETRY in an exhausted zone returns NULL/ENOMEM within a bounded time;
 *   - a page-level GFP_KERNEL allocation gets the pages a slab class freed;
 *   - __GFP_ZERO zeroes the whole (ksize) object, proven on reused, dirtied memory;
 *   - krealloc as the kernel's.
 * Async-signal safety of GFP_ATOMIC is in test_threads.c.
 *
 * Tests that need an empty per-CPU stack or a LIFO reuse pin the test thread to the CPU
 * it runs on, so the per-CPU cache it reads is always the same one.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "daemon_helper.h"

static struct test_daemon td;
static int started;
static int daemon_stopped; /* SIGSTOPped by the test: fini sends SIGCONT */
static int guard_fd = -1;  /* write end of the watchdog's pipe (see guard_start) */
static pid_t guard_pid;

/* A bound for "returns at once" on a loaded machine; typical is microseconds. */
#define AT_ONCE_S 0.050

static const char *const small_zone[] = { "zone_size=2M", NULL };

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void start(const char *const *sets)
{
	cr_assert_eq(td_start(&td, sets), 0, "slabd did not start");
	started = 1;
	cr_assert_eq(slabd_connect(td.sock), 0, "connect: %s", slabd_last_error());
}

static void down(void)
{
	if (daemon_stopped) {
		kill(td.pid, SIGCONT);
		daemon_stopped = 0;
	}
	if (started) {
		cr_expect(td_alive(&td), "slabd died during the test");
		cr_expect_eq(td_stop(&td), 0, "slabd did not stop cleanly");
		started = 0;
	}
	if (guard_fd >= 0) {
		/* "done": the watchdog exits without touching the (stopped) daemon */
		if (write(guard_fd, "d", 1) != 1)
			perror("guard");
		close(guard_fd);
		guard_fd = -1;
		waitpid(guard_pid, NULL, 0);
	}
}

TestSuite(gfp, .fini = down, .timeout = 60);

/* Pin the calling thread to the CPU it runs on (threads it creates inherit it). */
static int pin_here(void)
{
	int cpu = sched_getcpu();
	cpu_set_t set;

	cr_assert_geq(cpu, 0, "sched_getcpu: %s", strerror(errno));
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	cr_assert_eq(sched_setaffinity(0, sizeof(set), &set), 0, "sched_setaffinity: %s", strerror(errno));
	cr_assert_eq(sched_getcpu(), cpu);
	return cpu;
}

/*
 * A watchdog for tests that SIGSTOP the daemon: if the test process dies without running
 * its fini (a Criterion timeout kills it), the daemon would stay stopped forever. The
 * watchdog holds the read end of a pipe whose only writer is the test process; EOF
 * without the "done" byte means the test died: continue and terminate the daemon.
 */
static void guard_start(void)
{
	int pfd[2];
	pid_t daemon_pid = td.pid;

	cr_assert_eq(pipe(pfd), 0);
	guard_pid = fork();
	cr_assert_geq(guard_pid, 0);
	if (guard_pid == 0) {
		char c = 0;
		close(pfd[1]);
		while (read(pfd[0], &c, 1) < 0 && errno == EINTR)
			;
		if (c != 'd') {
			kill(daemon_pid, SIGCONT);
			kill(daemon_pid, SIGTERM);
		}
		_exit(0);
	}
	close(pfd[0]);
	guard_fd = pfd[1];
}

/* Children forked by a test must not keep the watchdog's pipe open. */
static void child_drop_guard(void)
{
	if (guard_fd >= 0)
		close(guard_fd);
}

/* SIGSTOP the daemon and wait until all its threads are stopped. */
static void daemon_stop(void)
{
	int st = 0, i;
	pid_t r = 0;

	if (guard_fd < 0)
		guard_start();
	cr_assert_eq(kill(td.pid, SIGSTOP), 0);
	daemon_stopped = 1;
	for (i = 0; i < 5000; i++) {
		r = waitpid(td.pid, &st, WUNTRACED | WNOHANG);
		if (r != 0)
			break;
		sleep_ms(1);
	}
	cr_assert_eq(r, td.pid, "slabd did not report stopped within 5 s");
	cr_assert(WIFSTOPPED(st), "slabd exited instead of stopping (status %#x)", st);
}

static void daemon_continue(void)
{
	cr_assert_eq(kill(td.pid, SIGCONT), 0);
	daemon_stopped = 0;
}

/* ------------------------------------------------------------- allocations in a child -- */

struct child_result {
	int got;      /* the allocation returned an object */
	int err;      /* errno when it did not */
	double secs;  /* how long the call took */
	double t_end; /* CLOCK_MONOTONIC when it returned (comparable across processes) */
};

struct child {
	pid_t pid;
	int fd; /* read end: one struct child_result when the call returned */
};

/* Fork a child that calls kmalloc(@size, @flags) once, reports, and exits (after
 * freeing the object, when @free_after). */
static struct child spawn_alloc(size_t size, gfp_t flags, int free_after)
{
	struct child c;
	int pfd[2];

	cr_assert_eq(pipe(pfd), 0);
	c.pid = fork();
	cr_assert_geq(c.pid, 0);
	if (c.pid == 0) {
		struct child_result res = { 0 };
		double t0;
		char *p;

		child_drop_guard();
		close(pfd[0]);
		t0 = now();
		errno = 0;
		p = kmalloc(size, flags);
		res.t_end = now();
		res.secs = res.t_end - t0;
		res.got = p != NULL;
		res.err = errno;
		if (p)
			memset(p, 0x33, ksize(p) ? ksize(p) : size);
		if (write(pfd[1], &res, sizeof(res)) != sizeof(res))
			_exit(2);
		if (p && free_after)
			kfree(p);
		_exit(0);
	}
	close(pfd[1]);
	c.fd = pfd[0];
	return c;
}

/* Wait up to @ms for the child's report: 1 when it came, 0 when the call has not
 * returned yet. */
static int child_report(struct child *c, int ms, struct child_result *res)
{
	struct pollfd pf = { .fd = c->fd, .events = POLLIN };
	int r;

	do
		r = poll(&pf, 1, ms);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return 0;
	return read(c->fd, res, sizeof(*res)) == (ssize_t)sizeof(*res);
}

/* Reap the child (SIGKILL first when @kill_it); returns its CPU time in seconds. */
static double child_reap(struct child *c, int kill_it)
{
	struct rusage ru;
	int st;

	if (kill_it)
		kill(c->pid, SIGKILL);
	close(c->fd);
	if (wait4(c->pid, &st, 0, &ru) != c->pid)
		return -1;
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/* --------------------------------------------------- daemon stopped, depot dry -- */

enum { MAX_HELD = 100000 };
static void *held[MAX_HELD];
static int nheld;

/*
 * With the daemon stopped, empty this CPU's per-CPU stack and the node's depot of
 * @size's class: GFP_NOWAIT never takes from the reserve and nobody refills, so it
 * returns NULL once both are empty. Returns how many objects that took.
 */
static int drain_with_nowait(size_t size)
{
	int n = 0;
	void *p;

	for (;;) {
		cr_assert_lt(nheld, MAX_HELD, "GFP_NOWAIT kept returning objects with the daemon stopped");
		errno = 0;
		p = kmalloc(size, GFP_NOWAIT);
		if (!p)
			break;
		held[nheld++] = p;
		n++;
	}
	cr_assert_eq(errno, ENOMEM, "GFP_NOWAIT on a dry depot: errno %d (%s), expected ENOMEM", errno,
		     strerror(errno));
	return n;
}

static void free_held(void)
{
	while (nheld > 0)
		kfree(held[--nheld]);
}

/* Make the class of @size active with a refilled depot and emergency reserve: a
 * GFP_KERNEL miss makes the worker fill both before it wakes the caller. */
static void warm_up(size_t size)
{
	void *objs[8];
	int i;

	for (i = 0; i < 8; i++) {
		objs[i] = kmalloc(size, GFP_KERNEL);
		cr_assert_not_null(objs[i], "warm-up allocation of %zu: errno %d", size, errno);
	}
	for (i = 0; i < 8; i++)
		kfree(objs[i]);
	sleep_ms(100); /* let the worker finish its rounds */
}

struct blocker {
	size_t size;
	gfp_t flags;
	int fd; /* write end: the thread writes one byte when kmalloc returned */
	void *result;
	int err;
	double secs;
};

static void *blocker_main(void *arg)
{
	struct blocker *b = arg;
	double t0 = now();

	b->result = kmalloc(b->size, b->flags);
	b->err = errno;
	b->secs = now() - t0;
	if (write(b->fd, "x", 1) != 1)
		abort();
	return NULL;
}

Test(gfp, with_the_daemon_stopped_nowait_and_atomic_return_at_once_and_kernel_sleeps_until_it_continues)
{
	const size_t size = 192; /* a class nothing else in this daemon uses */
	double t0, dt, worst = 0;
	int drained, atomic_got = 0, i, pfd[2];
	void *p;
	struct blocker b = { .size = size, .flags = GFP_KERNEL };
	pthread_t th;
	struct pollfd pf;
	char c;

	start(NULL);
	pin_here();
	warm_up(size);
	daemon_stop();

	drained = drain_with_nowait(size);
	cr_assert_gt(drained, 0, "the warmed-up per-CPU stack and depot held nothing");

	/* GFP_NOWAIT on the dry depot: NULL/ENOMEM at once */
	for (i = 0; i < 3; i++) {
		errno = 0;
		t0 = now();
		p = kmalloc(size, GFP_NOWAIT);
		dt = now() - t0;
		cr_assert_null(p, "GFP_NOWAIT returned an object from a dry depot with the daemon stopped");
		cr_assert_eq(errno, ENOMEM, "errno %d (%s)", errno, strerror(errno));
		cr_assert_lt(dt, AT_ONCE_S, "GFP_NOWAIT took %.6f s with the daemon stopped", dt);
	}

	/* GFP_ATOMIC: objects from the emergency reserve, then NULL/ENOMEM, each at once */
	for (i = 0; i < 1000; i++) {
		errno = 0;
		t0 = now();
		p = kmalloc(size, GFP_ATOMIC);
		dt = now() - t0;
		if (dt > worst)
			worst = dt;
		cr_assert_lt(dt, AT_ONCE_S, "GFP_ATOMIC call %d took %.6f s with the daemon stopped", i, dt);
		if (!p)
			break;
		cr_assert_eq(ksize(p), size);
		memset(p, 0x5a, size);
		held[nheld++] = p;
		atomic_got++;
	}
	cr_assert_null(p, "GFP_ATOMIC kept returning objects with the daemon stopped");
	cr_assert_eq(errno, ENOMEM, "GFP_ATOMIC on an exhausted reserve: errno %d (%s)", errno, strerror(errno));
	/* the daemon keeps one magazine (at most 31 objects) in reserve per cache and node */
	cr_assert_geq(atomic_got, 1, "GFP_ATOMIC found no emergency reserve");
	cr_assert_leq(atomic_got, 31, "GFP_ATOMIC took %d objects from a one-magazine reserve", atomic_got);
	cr_log_info("daemon stopped: drained %d objects with GFP_NOWAIT, %d from the reserve with GFP_ATOMIC, "
		    "slowest GFP_ATOMIC call %.1f us",
		    drained, atomic_got, worst * 1e6);
	fprintf(stderr, "gfp: slowest GFP_ATOMIC call with the daemon stopped: %.1f us (%d from the reserve)\n",
		worst * 1e6, atomic_got);

	/* GFP_NOWAIT does not dip into the reserve either way: still NULL */
	errno = 0;
	cr_assert_null(kmalloc(size, GFP_NOWAIT));
	cr_assert_eq(errno, ENOMEM);

	/* GFP_KERNEL sleeps while nobody refills */
	cr_assert_eq(pipe(pfd), 0);
	b.fd = pfd[1];
	cr_assert_eq(pthread_create(&th, NULL, blocker_main, &b), 0);
	pf.fd = pfd[0];
	pf.events = POLLIN;
	cr_assert_eq(poll(&pf, 1, 300), 0, "GFP_KERNEL returned (%p, errno %d) after %.3f s with the daemon stopped",
		     b.result, b.err, b.secs);

	/* ... and completes once the daemon runs again */
	daemon_continue();
	cr_assert_eq(poll(&pf, 1, 10000), 1, "GFP_KERNEL did not complete within 10 s of SIGCONT");
	cr_assert_eq(read(pfd[0], &c, 1), 1);
	cr_assert_eq(pthread_join(th, NULL), 0);
	cr_assert_not_null(b.result, "GFP_KERNEL returned NULL (errno %d) after the daemon continued", b.err);
	cr_assert_eq(ksize(b.result), size);
	memset(b.result, 0x77, size);
	kfree(b.result);
	close(pfd[0]);
	close(pfd[1]);

	/* the daemon refills as before */
	p = kmalloc(size, GFP_KERNEL);
	cr_assert_not_null(p);
	kfree(p);
	free_held();
	cr_assert(td_alive(&td), "slabd died after SIGCONT");
}

Test(gfp, with_the_daemon_stopped_kernel_noretry_gives_up_instead_of_sleeping_forever)
{
	const size_t size = 96;
	double t0, dt;
	void *p;

	start(NULL);
	pin_here();
	warm_up(size);
	daemon_stop();
	drain_with_nowait(size);
	/* empty the reserve too: nothing is left for this CPU but a refill */
	while ((p = kmalloc(size, GFP_ATOMIC)) != NULL && nheld < MAX_HELD)
		held[nheld++] = p;

	errno = 0;
	t0 = now();
	p = kmalloc(size, GFP_KERNEL | __GFP_NORETRY);
	dt = now() - t0;
	cr_assert_null(p, "GFP_KERNEL|__GFP_NORETRY returned an object with the daemon stopped and the depot dry");
	cr_assert_eq(errno, ENOMEM, "errno %d (%s)", errno, strerror(errno));
	cr_assert_lt(dt, 3.0, "GFP_KERNEL|__GFP_NORETRY took %.3f s to give up on a stopped daemon", dt);

	daemon_continue();
	p = kmalloc(size, GFP_KERNEL | __GFP_NORETRY);
	cr_assert_not_null(p, "GFP_KERNEL|__GFP_NORETRY failed with the daemon running: errno %d", errno);
	kfree(p);
	free_held();
}

/*
 * A forked child shares the per-CPU stacks and depots but registers with the daemon as
 * a new client on its first slow path. GFP_NOWAIT and GFP_ATOMIC never sleep, so that
 * registration must not make them wait for a daemon that does not answer.
 */
static void child_nonblocking_while_stopped(gfp_t flags, const char *name)
{
	const size_t size = 512;
	struct child ch;
	struct child_result res;
	int got;

	start(NULL);
	pin_here(); /* the child inherits the CPU, whose stack is drained */
	warm_up(size);
	daemon_stop();
	drain_with_nowait(size);

	ch = spawn_alloc(size, flags, 0);
	got = child_report(&ch, 2000, &res);
	child_reap(&ch, !got);
	cr_assert(got, "%s in a forked child did not return within 2 s while the daemon was stopped", name);
	cr_assert_lt(res.secs, AT_ONCE_S, "%s in a forked child took %.6f s while the daemon was stopped", name,
		     res.secs);
	if (!res.got)
		cr_assert_eq(res.err, ENOMEM, "%s in a forked child: NULL with errno %d (%s)", name, res.err,
			     strerror(res.err));
	daemon_continue();
	free_held();
}

Test(gfp, with_the_daemon_stopped_nowait_in_a_forked_child_returns_at_once)
{
	child_nonblocking_while_stopped(GFP_NOWAIT, "GFP_NOWAIT");
}

Test(gfp, with_the_daemon_stopped_atomic_in_a_forked_child_returns_at_once)
{
	child_nonblocking_while_stopped(GFP_ATOMIC, "GFP_ATOMIC");
}

/* The first allocation of a process that never attached connects to the daemon; one
 * that may not sleep waits at most 100 ms for the daemon's answer (docs/design.md). */
static void first_attach_while_stopped(gfp_t flags, const char *name)
{
	double t0, dt;
	void *p;

	cr_assert_eq(td_start(&td, NULL), 0, "slabd did not start");
	started = 1;
	cr_assert_eq(setenv("SLABD_SOCKET", td.sock, 1), 0);
	daemon_stop();

	errno = 0;
	t0 = now();
	p = kmalloc(64, flags);
	dt = now() - t0;
	cr_assert_null(p, "%s attached to a stopped daemon", name);
	cr_assert(errno == ENOMEM || errno == ENOTCONN, "%s: errno %d (%s), expected ENOMEM or ENOTCONN", name, errno,
		  strerror(errno));
	cr_assert_lt(dt, 1.0, "%s waited %.3f s for a stopped daemon to answer the attach", name, dt);

	/* once the daemon runs, the next allocation attaches */
	daemon_continue();
	p = kmalloc(64, GFP_KERNEL);
	cr_assert_not_null(p, "GFP_KERNEL after SIGCONT: errno %d: %s", errno, slabd_last_error());
	memset(p, 1, 64);
	kfree(p);
}

Test(gfp, with_the_daemon_stopped_a_first_nowait_allocation_does_not_wait_for_the_attach, .timeout = 20)
{
	first_attach_while_stopped(GFP_NOWAIT, "GFP_NOWAIT");
}

Test(gfp, with_the_daemon_stopped_a_first_atomic_allocation_does_not_wait_for_the_attach, .timeout = 20)
{
	first_attach_while_stopped(GFP_ATOMIC, "GFP_ATOMIC");
}

/* The same when the stopped daemon's listen backlog is full, as it gets: every attach
 * given up on leaves its connection queued there until the daemon accepts it, so a
 * program that retries (or 128 processes starting) fills it. connect() itself must then
 * not wait for the daemon either. */
static void first_attach_with_a_full_backlog(gfp_t flags, const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct child_result res;
	struct child ch;
	int fds[512], n = 0, full = 0, got, i;

	cr_assert_eq(td_start(&td, NULL), 0, "slabd did not start");
	started = 1;
	cr_assert_eq(setenv("SLABD_SOCKET", td.sock, 1), 0);
	daemon_stop();
	cr_assert_lt(strlen(td.sock), sizeof(sa.sun_path));
	memcpy(sa.sun_path, td.sock, strlen(td.sock) + 1);
	while (n < 512) {
		int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			cr_assert_eq(errno, EAGAIN, "connect: %s", strerror(errno));
			close(fd);
			full = 1;
			break;
		}
		fds[n++] = fd;
	}
	cr_assert(full, "%d connections did not fill the stopped slabd's backlog: nothing tested", n);
	ch = spawn_alloc(64, flags, 1);
	got = child_report(&ch, 3000, &res);
	child_reap(&ch, !got);
	for (i = 0; i < n; i++)
		close(fds[i]);
	daemon_continue();
	cr_assert(got, "%s blocked for 3 s connecting to a stopped slabd whose backlog is full", name);
	cr_assert(!res.got, "%s attached to a stopped daemon", name);
	cr_assert(res.err == ENOMEM || res.err == ENOTCONN, "%s: errno %d (%s), expected ENOMEM or ENOTCONN", name,
		  res.err, strerror(res.err));
	cr_assert_lt(res.secs, 1.0, "%s waited %.3f s for a stopped daemon", name, res.secs);
}

Test(gfp, with_the_daemon_stopped_and_its_backlog_full_a_first_nowait_allocation_does_not_block, .timeout = 30)
{
	first_attach_with_a_full_backlog(GFP_NOWAIT, "GFP_NOWAIT");
}

Test(gfp, with_the_daemon_stopped_and_its_backlog_full_a_first_atomic_allocation_does_not_block, .timeout = 30)
{
	first_attach_with_a_full_backlog(GFP_ATOMIC, "GFP_ATOMIC");
}

/* ------------------------------------- page-level GFP_ATOMIC/NOWAIT, daemon stopped -- */

/* 1.5 MiB: only one fits a fresh 2 MiB zone (a 512-page buddy block), so a second one
 * is served only after the first was given back. */
#define BIG_SIZE ((size_t)1536 << 10)

enum { LARGE_OK = 0, LARGE_ATOMIC_GOT, LARGE_ATOMIC_ERRNO, LARGE_NO_MESSAGE, LARGE_NOWAIT_GOT, LARGE_NOWAIT_ERRNO,
       LARGE_KERNEL_NULL, LARGE_KERNEL_KSIZE, LARGE_SECOND_NULL };

static void sync_read(int fd)
{
	char c;
	while (read(fd, &c, 1) < 0 && errno == EINTR)
		;
}

static void sync_write(int fd)
{
	if (write(fd, "x", 1) != 1)
		_exit(90);
}

/*
 * A child attached before the daemon stops: its page-level GFP_ATOMIC and GFP_NOWAIT
 * allocations are requests to the daemon, which does not answer. They must fail with
 * ENOMEM and a message, not wait (alarm() turns a hang into SIGALRM). After SIGCONT the
 * daemon answers both stale requests before the next one: the next GFP_KERNEL request
 * must get its own reply, and, since only one 1.5 MiB block fits the zone, it is served
 * only if the pages of the late replies were given back.
 */
static int large_child(int to_parent, int from_parent, const char *sock, int leave)
{
	const char *msg;
	void *p;

	if (slabd_connect(sock) < 0)
		return 80;
	sync_write(to_parent); /* attached */
	sync_read(from_parent); /* the daemon is stopped */
	alarm(20);
	errno = 0;
	p = kmalloc(BIG_SIZE, GFP_ATOMIC);
	if (p)
		return LARGE_ATOMIC_GOT;
	if (errno != ENOMEM)
		return LARGE_ATOMIC_ERRNO;
	msg = slabd_last_error();
	if (!msg || !*msg)
		return LARGE_NO_MESSAGE;
	fprintf(stderr, "gfp: page-level GFP_ATOMIC with slabd stopped: %s\n", msg);
	if (leave)
		return LARGE_OK; /* exit with the request unanswered */
	errno = 0;
	p = kmalloc(BIG_SIZE, GFP_NOWAIT);
	if (p)
		return LARGE_NOWAIT_GOT;
	if (errno != ENOMEM)
		return LARGE_NOWAIT_ERRNO;
	sync_write(to_parent); /* both failed */
	sync_read(from_parent); /* the daemon runs again */
	p = kmalloc(BIG_SIZE, GFP_KERNEL);
	if (!p) {
		fprintf(stderr, "gfp: GFP_KERNEL after SIGCONT: errno %d: %s\n", errno, slabd_last_error());
		return LARGE_KERNEL_NULL;
	}
	if (ksize(p) != BIG_SIZE)
		return LARGE_KERNEL_KSIZE;
	memset(p, 0x6b, BIG_SIZE);
	kfree(p);
	/* and once more: the socket stays in step */
	p = kmalloc(BIG_SIZE, GFP_KERNEL);
	if (!p)
		return LARGE_SECOND_NULL;
	memset(p, 0x6c, BIG_SIZE);
	kfree(p);
	return LARGE_OK;
}

static const char *const large_child_fail[] = {
	[LARGE_ATOMIC_GOT] = "GFP_ATOMIC got 1.5 MiB from a stopped daemon",
	[LARGE_ATOMIC_ERRNO] = "GFP_ATOMIC failed with another errno than ENOMEM",
	[LARGE_NO_MESSAGE] = "GFP_ATOMIC failed without a message for slabd_last_error()",
	[LARGE_NOWAIT_GOT] = "GFP_NOWAIT got 1.5 MiB from a stopped daemon",
	[LARGE_NOWAIT_ERRNO] = "GFP_NOWAIT failed with another errno than ENOMEM",
	[LARGE_KERNEL_NULL] = "GFP_KERNEL after SIGCONT returned NULL (a stale reply taken for its own, or "
			      "the pages of a late reply never given back)",
	[LARGE_KERNEL_KSIZE] = "GFP_KERNEL after SIGCONT returned an object of another size",
	[LARGE_SECOND_NULL] = "the second GFP_KERNEL after SIGCONT returned NULL",
};

static void large_while_stopped(int leave)
{
	int up[2], down_[2], st = 0, failed_both = 0;
	pid_t pid;
	void *p;

	start(small_zone);
	cr_assert_eq(pipe(up), 0);
	cr_assert_eq(pipe(down_), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		child_drop_guard();
		close(up[0]);
		close(down_[1]);
		_exit(large_child(up[1], down_[0], td.sock, leave));
	}
	close(up[1]);
	close(down_[0]);
	sync_read(up[0]); /* attached */
	daemon_stop();
	sync_write(down_[1]);
	if (!leave) {
		char c;
		if (read(up[0], &c, 1) == 1) {
			failed_both = 1;
			daemon_continue();
			sync_write(down_[1]);
		}
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	if (daemon_stopped)
		daemon_continue();
	close(up[0]);
	close(down_[1]);
	cr_assert(!WIFSIGNALED(st) || WTERMSIG(st) != SIGALRM || failed_both,
		  "a page-level GFP_ATOMIC/GFP_NOWAIT allocation waited 20 s for a stopped slabd");
	cr_assert(!WIFSIGNALED(st) || WTERMSIG(st) != SIGALRM,
		  "page-level GFP_KERNEL allocations after SIGCONT did not complete in 20 s: the pages of "
		  "the late replies to the given-up requests were never given back");
	cr_assert(WIFEXITED(st), "the child died of signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	cr_assert(WEXITSTATUS(st) == LARGE_OK, "%s (child exit %d)",
		  (size_t)WEXITSTATUS(st) < sizeof(large_child_fail) / sizeof(large_child_fail[0]) &&
			  large_child_fail[WEXITSTATUS(st)]
		      ? large_child_fail[WEXITSTATUS(st)]
		      : "the child failed",
		  WEXITSTATUS(st));
	if (leave) {
		/* The child exited before the daemon answered: the daemon cannot deliver the
		 * reply and must give the pages back, or this waits for ever. */
		struct child ch = spawn_alloc(BIG_SIZE, GFP_KERNEL, 1);
		struct child_result res;
		int got = child_report(&ch, 15000, &res);

		child_reap(&ch, !got);
		cr_assert(got, "1.5 MiB with GFP_KERNEL still waits 15 s after the only client that asked "
			  "for the zone's one 1.5 MiB block exited: its unanswered request's pages were never "
			  "given back");
		cr_assert(res.got, "errno %d", res.err);
	}
	p = kmalloc(BIG_SIZE, GFP_KERNEL | __GFP_NORETRY);
	if (!p) {
		/* large frees are collected asynchronously: give the daemon a moment */
		sleep_ms(500);
		p = kmalloc(BIG_SIZE, GFP_KERNEL | __GFP_NORETRY);
	}
	cr_assert_not_null(p, "the zone's 1.5 MiB block did not come back: errno %d: %s", errno, slabd_last_error());
	kfree(p);
}

Test(gfp, with_the_daemon_stopped_page_level_atomic_and_nowait_fail_and_late_replies_are_given_back)
{
	large_while_stopped(0);
}

Test(gfp, with_the_daemon_stopped_a_page_level_atomic_request_of_a_client_that_exits_is_given_back)
{
	large_while_stopped(1);
}

/* A fork()ed child registers before its first request: without __GFP_DIRECT_RECLAIM that
 * must not wait for a stopped daemon either. */
Test(gfp, with_the_daemon_stopped_page_level_atomic_in_an_unregistered_forked_child_fails_at_once)
{
	struct child ch;
	struct child_result res;
	int got;

	start(small_zone);
	daemon_stop();
	ch = spawn_alloc(BIG_SIZE, GFP_ATOMIC, 1);
	got = child_report(&ch, 5000, &res);
	child_reap(&ch, !got);
	daemon_continue();
	cr_assert(got, "a page-level GFP_ATOMIC allocation in a forked child waited 5 s for a stopped slabd");
	cr_assert(!res.got, "1.5 MiB with GFP_ATOMIC from a stopped slabd");
	cr_assert_eq(res.err, ENOMEM, "errno %d (%s)", res.err, strerror(res.err));
	/* nothing of it stays allocated: the zone's one 1.5 MiB block is still there */
	ch = spawn_alloc(BIG_SIZE, GFP_KERNEL, 1);
	got = child_report(&ch, 15000, &res);
	child_reap(&ch, !got);
	cr_assert(got && res.got, "1.5 MiB with GFP_KERNEL after SIGCONT: %s", got ? strerror(res.err) : "waits");
}

/* ------------------------------------------------------------ exhausted zone -- */

enum { MAX_OBJS = 1024 };

/*
 * Fill the 2 MiB zone with 4 KiB objects, the emergency reserve included; returns how
 * many. Pinned to one CPU (children forked later inherit it): unpinned, the objects the
 * process left in another CPU's per-CPU stack would let a child's first allocation there
 * succeed at once. A pass ends with __GFP_NORETRY's NULL and empties the reserve with
 * GFP_ATOMIC; passes repeat until one finds nothing, because a NULL from __GFP_NORETRY
 * does not prove the zone empty: the daemon may hand back memory just after (see
 * noretry_failure_is_final_and_the_reserve_stays_for_atomic).
 */
static int fill_pass(void **objs, int n, gfp_t flags)
{
	while (n < MAX_OBJS) {
		void *p = kmalloc(4096, flags);
		if (!p) {
			cr_assert_eq(errno, ENOMEM, "errno %d", errno);
			break;
		}
		memset(p, 0x5a, 4096);
		objs[n++] = p;
	}
	return n;
}

static int fill(void **objs)
{
	int n = 0, pass, before;

	pin_here();
	for (pass = 0; pass < 20; pass++) {
		before = n;
		n = fill_pass(objs, n, GFP_KERNEL | __GFP_NORETRY);
		n = fill_pass(objs, n, GFP_ATOMIC);
		if (pass && n == before)
			break;
		sleep_ms(50); /* a few worker rounds */
	}
	cr_assert_lt(pass, 20, "the zone never stayed exhausted");
	cr_assert_gt(n, 300, "only %d objects of 4 KiB from a 2 MiB zone", n);
	cr_assert_lt(n, 513, "%d objects of 4 KiB cannot fit in 2 MiB", n);
	return n;
}

/*
 * What the kernel's __GFP_NORETRY caller gets: one full attempt. docs/design.md: sleepers
 * are woken only after the drain pass, so the single round includes it. A NULL must
 * therefore be final while nothing is freed, and the cache's emergency reserve must still
 * be there for GFP_ATOMIC afterwards rather than handed to ordinary callers. (One round
 * per daemon: the reserve is rebuilt only by a successful refill.)
 */
Test(gfp, noretry_failure_is_final_and_the_reserve_stays_for_atomic)
{
	static void *objs[MAX_OBJS];
	int n, later, reserve;

	start(small_zone);
	pin_here();
	n = fill_pass(objs, 0, GFP_KERNEL | __GFP_NORETRY);
	cr_assert_gt(n, 300, "only %d objects of 4 KiB from a 2 MiB zone", n);
	sleep_ms(50);
	later = fill_pass(objs, n, GFP_KERNEL | __GFP_NORETRY) - n;
	reserve = fill_pass(objs, n + later, GFP_ATOMIC) - n - later;
	cr_assert_eq(later, 0,
		     "__GFP_NORETRY failed after %d objects, yet %d more came 50 ms later without any free "
		     "(and GFP_ATOMIC then found %d in the reserve)",
		     n, later, reserve);
	cr_assert_gt(reserve, 0, "GFP_ATOMIC found no emergency reserve after __GFP_NORETRY failed");
}

Test(gfp, noretry_in_an_exhausted_zone_returns_enomem_within_a_bounded_time)
{
	static void *objs[MAX_OBJS];
	double t0, dt;
	int n, i;
	void *p;

	start(small_zone);
	t0 = now();
	n = fill(objs); /* itself ends with a __GFP_NORETRY failure */
	cr_assert_lt(now() - t0, 10.0, "filling 2 MiB took %.3f s", now() - t0);

	for (i = 0; i < 3; i++) {
		errno = 0;
		t0 = now();
		p = kmalloc(4096, GFP_KERNEL | __GFP_NORETRY);
		dt = now() - t0;
		cr_assert_null(p, "a 4 KiB object from an exhausted zone (round %d)", i);
		cr_assert_eq(errno, ENOMEM, "errno %d (%s)", errno, strerror(errno));
		cr_assert_lt(dt, 3.0, "GFP_KERNEL|__GFP_NORETRY took %.3f s in an exhausted zone", dt);
	}

	/* another class, which needs a fresh slab: it may get the pages of a reserve the
	 * worker gives back, or nothing, but it must not sleep for long */
	errno = 0;
	t0 = now();
	p = kmalloc(64, GFP_KERNEL | __GFP_NORETRY);
	dt = now() - t0;
	cr_assert_lt(dt, 3.0, "kmalloc(64, GFP_KERNEL|__GFP_NORETRY) took %.3f s in an exhausted zone", dt);
	if (!p)
		cr_assert_eq(errno, ENOMEM, "errno %d (%s)", errno, strerror(errno));
	kfree(p);

	/* a page-level allocation */
	errno = 0;
	t0 = now();
	p = kmalloc(1 << 20, GFP_KERNEL | __GFP_NORETRY);
	dt = now() - t0;
	cr_assert_null(p, "1 MiB from an exhausted 2 MiB zone");
	cr_assert_eq(errno, ENOMEM, "errno %d (%s)", errno, strerror(errno));
	cr_assert_lt(dt, 3.0, "kmalloc(1 MiB, GFP_KERNEL|__GFP_NORETRY) took %.3f s", dt);

	for (i = 0; i < n; i++)
		kfree(objs[i]);
	/* with memory back, __GFP_NORETRY succeeds again, also for a class whose pages the
	 * 4 KiB objects held (the daemon takes them back within its one round) */
	p = kmalloc(4096, GFP_KERNEL | __GFP_NORETRY);
	cr_assert_not_null(p, "4 KiB with the zone free again: errno %d", errno);
	kfree(p);
	for (i = 0; i < 1000; i++) {
		objs[i] = kmalloc(512, GFP_KERNEL | __GFP_NORETRY);
		cr_assert_not_null(objs[i], "512-byte object %d with the zone free again: errno %d", i, errno);
	}
	for (i = 0; i < 1000; i++)
		kfree(objs[i]);
}

/*
 * GFP_KERNEL "repeats while the zone is exhausted": once a slab class gave its objects
 * back, a page-level allocation that fits the zone must get them in the end (the daemon
 * reclaims what the caches no longer need), not sleep forever.
 */
Test(gfp, page_level_kernel_allocation_gets_the_pages_a_slab_class_freed)
{
	static void *objs[MAX_OBJS];
	struct child ch;
	struct child_result res;
	int n, i, got;

	start(small_zone);
	n = fill(objs);
	for (i = 0; i < n; i++)
		kfree(objs[i]);
	ch = spawn_alloc(1 << 20, GFP_KERNEL, 1);
	got = child_report(&ch, 15000, &res);
	child_reap(&ch, !got);
	cr_assert(got, "kmalloc(1 MiB, GFP_KERNEL) in a 2 MiB zone still sleeps 15 s after all %d 4 KiB objects "
		  "were freed", n);
	cr_assert(res.got, "kmalloc(1 MiB, GFP_KERNEL) returned NULL (errno %d)", res.err);
}

/* Start children allocating with @flags in an exhausted zone; they must wait, not fail,
 * and get their object once the parent freed memory. */
static void nofail_waits(size_t size, gfp_t flags, const char *name, int check_cpu)
{
	static void *objs[MAX_OBJS];
	struct child ch;
	struct child_result res;
	double cpu, t_free;
	int n = 0, i, got;
	void *big = NULL;

	start(small_zone);
	if (size > 32768) {
		big = kmalloc(1536 << 10, GFP_KERNEL);
		cr_assert_not_null(big, "1.5 MiB from a 2 MiB zone");
	} else {
		n = fill(objs);
	}

	ch = spawn_alloc(size, flags, 1);
	got = child_report(&ch, 500, &res);
	if (got) {
		child_reap(&ch, 0);
		cr_assert(res.got, "%s returned NULL (errno %d, %s) after %.3f s in an exhausted zone", name, res.err,
			  strerror(res.err), res.secs);
		cr_assert_fail("%s returned an object from an exhausted zone", name);
	}

	/* free memory: the waiting child gets its object */
	t_free = now();
	if (big)
		kfree(big);
	for (i = 0; i < n / 4; i++)
		kfree(objs[i]);
	got = child_report(&ch, 20000, &res);
	cpu = child_reap(&ch, !got);
	cr_assert(got, "%s did not complete within 20 s of memory being freed", name);
	cr_assert(res.got, "%s returned NULL (errno %d, %s) after %.3f s", name, res.err, strerror(res.err), res.secs);
	cr_assert_geq(res.t_end, t_free, "%s returned %.3f s before memory was freed", name, t_free - res.t_end);
	/* "wait as long as it takes" is a sleep: not a CPU burnt on a retry loop */
	if (check_cpu)
		cr_assert_lt(cpu, 0.2 * res.secs, "%s used %.3f s of CPU while waiting %.3f s", name, cpu, res.secs);
	for (i = n / 4; i < n; i++)
		kfree(objs[i]);
}

Test(gfp, kernel_nofail_waits_in_an_exhausted_zone_and_succeeds_once_memory_is_freed)
{
	nofail_waits(4096, GFP_KERNEL | __GFP_NOFAIL, "kmalloc(4096, GFP_KERNEL|__GFP_NOFAIL)", 1);
}

Test(gfp, nofail_overrides_noretry_in_an_exhausted_zone)
{
	nofail_waits(4096, GFP_KERNEL | __GFP_NORETRY | __GFP_NOFAIL,
		     "kmalloc(4096, GFP_KERNEL|__GFP_NORETRY|__GFP_NOFAIL)", 0);
}

Test(gfp, nofail_with_noretry_sleeps_while_it_waits_instead_of_spinning)
{
	nofail_waits(4096, GFP_KERNEL | __GFP_NORETRY | __GFP_NOFAIL,
		     "kmalloc(4096, GFP_KERNEL|__GFP_NORETRY|__GFP_NOFAIL)", 1);
}

Test(gfp, large_kernel_nofail_waits_until_pages_are_freed)
{
	nofail_waits(1 << 20, GFP_KERNEL | __GFP_NOFAIL, "kmalloc(1 MiB, GFP_KERNEL|__GFP_NOFAIL)", 1);
}

Test(gfp, large_nofail_overrides_noretry)
{
	nofail_waits(1 << 20, GFP_KERNEL | __GFP_NORETRY | __GFP_NOFAIL,
		     "kmalloc(1 MiB, GFP_KERNEL|__GFP_NORETRY|__GFP_NOFAIL)", 1);
}

/* ------------------------------------------------------------------ __GFP_ZERO -- */

static int all_bytes(const void *p, size_t n, unsigned char v, size_t *ret_first_bad)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (c[i] != v) {
			*ret_first_bad = i;
			return 0;
		}
	return 1;
}

enum { Z_KMALLOC, Z_KZALLOC, Z_KCALLOC };

static void *zalloc(int how, size_t size)
{
	switch (how) {
	case Z_KZALLOC:
		return kzalloc(size, GFP_KERNEL);
	case Z_KCALLOC:
		return kcalloc(1, size, GFP_KERNEL);
	default:
		return kmalloc(size, GFP_KERNEL | __GFP_ZERO);
	}
}

Test(gfp, zero_flag_zeroes_reused_dirty_slab_objects_over_their_whole_ksize)
{
	/* 65 and 130 land in the 96 and 192 classes: all ksize bytes must be zeroed */
	static const size_t sizes[] = { 8, 64, 65, 96, 130, 192, 256, 1000, 4096, 8192, 32768 };
	static const char *const how_name[] = { "kmalloc(__GFP_ZERO)", "kzalloc", "kcalloc" };
	size_t s, bad = 0;
	int how;

	start(NULL);
	pin_here(); /* one per-CPU stack: what was freed last comes back first */
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (how = Z_KMALLOC; how <= Z_KCALLOC; how++) {
			size_t size = sizes[s], ks;
			unsigned char *p = kmalloc(size, GFP_KERNEL), *q;

			cr_assert_not_null(p, "kmalloc(%zu)", size);
			ks = ksize(p);
			cr_assert_geq(ks, size);
			memset(p, 0xff, ks);
			kfree(p);
			q = zalloc(how, size);
			cr_assert_not_null(q, "%s(%zu): errno %d", how_name[how], size, errno);
			cr_assert_eq(q, p, "%s(%zu) did not reuse the object just freed on this CPU (%p, freed %p)",
				     how_name[how], size, q, p);
			cr_assert_eq(ksize(q), ks);
			cr_assert(all_bytes(q, ks, 0, &bad), "%s(%zu): byte %zu of %zu is %#x, not zero", how_name[how],
				  size, bad, ks, q[bad]);
			kfree(q);
		}
	}
}

Test(gfp, zero_flag_zeroes_reused_dirty_page_level_allocations)
{
	static const size_t sizes[] = { 32768 + 1, 65536 + 100, 200000 };
	enum { MAX_TRIES = 400 };
	static void *kept[MAX_TRIES];
	size_t s, bad = 0;
	int i, k, reused;

	start(NULL);
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t size = sizes[s], ks;
		unsigned char *p = kmalloc(size, GFP_KERNEL), *q = NULL;

		cr_assert_not_null(p, "kmalloc(%zu): errno %d", size, errno);
		ks = ksize(p);
		cr_assert_eq(ks, (size + 4095) & ~(size_t)4095, "ksize %zu of a %zu-byte large allocation", ks, size);
		memset(p, 0xff, ks);
		kfree(p);
		/* Large frees are collected by the daemon asynchronously and the buddy allocator
		 * picks the block: keep allocating (and keeping) same-size blocks until one
		 * overlaps the dirtied pages. Every one must be zero. */
		reused = 0;
		for (k = 0; k < MAX_TRIES && !reused; k++) {
			q = kmalloc(size, GFP_KERNEL | __GFP_ZERO);
			cr_assert_not_null(q, "kmalloc(%zu, __GFP_ZERO) try %d: errno %d", size, k, errno);
			cr_assert_eq(ksize(q), ks);
			cr_assert(all_bytes(q, ks, 0, &bad), "kmalloc(%zu, __GFP_ZERO) (try %d, %p, dirtied %p): byte %zu "
				  "of %zu is %#x",
				  size, k, q, p, bad, ks, q[bad]);
			kept[k] = q;
			reused = q < p + ks && p < q + ks;
		}
		cr_assert(reused, "no allocation of %zu bytes reused the freed pages in %d tries", size, MAX_TRIES);
		cr_log_info("size %zu: the dirtied pages came back on try %d (%s)", size, k,
			    q == p ? "same address" : "overlapping");
		for (i = 0; i < k; i++)
			kfree(kept[i]);
	}
}

/* ---------------------------------------------------------------------- krealloc -- */

Test(gfp, krealloc_behaves_as_the_kernels)
{
	unsigned char *p, *q, *r, *dirty;
	size_t i, bad = 0;

	start(NULL);
	pin_here();

	/* krealloc(NULL, n) and krealloc(ZERO_SIZE_PTR, n) are kmalloc(n) */
	p = krealloc(NULL, 100, GFP_KERNEL);
	cr_assert_not_null(p);
	cr_assert_eq(ksize(p), 128);
	memset(p, 1, 128);
	q = krealloc(ZERO_SIZE_PTR, 50, GFP_KERNEL);
	cr_assert_not_null(q);
	cr_assert_neq(q, ZERO_SIZE_PTR);
	cr_assert_eq(ksize(q), 64);
	kfree(q);
	cr_assert_eq(krealloc(NULL, 0, GFP_KERNEL), ZERO_SIZE_PTR, "krealloc(NULL, 0) is kmalloc(0)");
	/* __GFP_ZERO through krealloc(NULL, ...) zeroes like kzalloc (the object just freed
	 * on this CPU is the dirty one) */
	kfree(p);
	q = krealloc(NULL, 100, GFP_KERNEL | __GFP_ZERO);
	cr_assert_eq(q, p, "did not reuse the dirty object");
	cr_assert(all_bytes(q, 128, 0, &bad), "krealloc(NULL, 100, __GFP_ZERO): byte %zu is %#x", bad, q[bad]);
	kfree(q);

	/* shrinking stays in place and keeps the contents */
	p = kmalloc(4096, GFP_KERNEL);
	cr_assert_not_null(p);
	for (i = 0; i < 4096; i++)
		p[i] = (unsigned char)(i * 7);
	q = krealloc(p, 100, GFP_KERNEL);
	cr_assert_eq(q, p, "shrinking 4096 -> 100 moved the object");
	cr_assert_eq(ksize(q), 4096, "the object keeps its class");
	for (i = 0; i < 4096; i++)
		cr_assert_eq(q[i], (unsigned char)(i * 7), "byte %zu changed by a shrink without __GFP_ZERO", i);
	/* growing back within ksize also stays in place */
	r = krealloc(q, 4000, GFP_KERNEL);
	cr_assert_eq(r, p, "growing within ksize moved the object");
	/* shrinking with __GFP_ZERO zeroes the tail beyond the new size (kernel >= 6.13) */
	q = krealloc(p, 1000, GFP_KERNEL | __GFP_ZERO);
	cr_assert_eq(q, p);
	for (i = 0; i < 1000; i++)
		cr_assert_eq(q[i], (unsigned char)(i * 7), "byte %zu of the kept part changed", i);
	cr_assert(all_bytes(q + 1000, 4096 - 1000, 0, &bad), "byte %zu after a __GFP_ZERO shrink to 1000 is %#x",
		  1000 + bad, q[1000 + bad]);
	kfree(q);

	/* growing keeps all ksize bytes of the old object, not just the requested size */
	p = kmalloc(20, GFP_KERNEL);
	cr_assert_not_null(p);
	cr_assert_eq(ksize(p), 32);
	for (i = 0; i < 32; i++)
		p[i] = (unsigned char)(0xa0 + i);
	q = krealloc(p, 200, GFP_KERNEL);
	cr_assert_not_null(q);
	cr_assert_neq(q, p);
	cr_assert_eq(ksize(q), 256);
	for (i = 0; i < 32; i++)
		cr_assert_eq(q[i], (unsigned char)(0xa0 + i), "byte %zu lost growing 32 -> 256", i);
	/* the old object was freed: it is what this CPU hands out next */
	r = kmalloc(32, GFP_KERNEL);
	cr_assert_eq(r, p, "the old object was not freed by krealloc (got %p, old %p)", r, p);
	kfree(r);
	kfree(q);

	/* growing with __GFP_ZERO zeroes the new tail of a reused, dirty object */
	dirty = kmalloc(1024, GFP_KERNEL);
	cr_assert_not_null(dirty);
	memset(dirty, 0xff, 1024);
	p = kmalloc(300, GFP_KERNEL); /* class 512 */
	cr_assert_not_null(p);
	for (i = 0; i < 512; i++)
		p[i] = (unsigned char)(i ^ 0x5a);
	kfree(dirty); /* the next 1024-byte object on this CPU */
	q = krealloc(p, 700, GFP_KERNEL | __GFP_ZERO);
	cr_assert_eq(q, dirty, "krealloc did not reuse the dirty 1024-byte object (%p, dirty %p)", q, dirty);
	for (i = 0; i < 512; i++)
		cr_assert_eq(q[i], (unsigned char)(i ^ 0x5a), "byte %zu lost growing 512 -> 1024", i);
	cr_assert(all_bytes(q + 512, 1024 - 512, 0, &bad), "byte %zu of the grown tail is %#x, not zero", 512 + bad,
		  q[512 + bad]);

	/* into a page-level allocation, with __GFP_ZERO: old contents, zero tail */
	r = krealloc(q, 100000, GFP_KERNEL | __GFP_ZERO);
	cr_assert_not_null(r, "errno %d", errno);
	cr_assert_eq(ksize(r), 102400);
	for (i = 0; i < 512; i++)
		cr_assert_eq(r[i], (unsigned char)(i ^ 0x5a), "byte %zu lost growing into a large allocation", i);
	cr_assert(all_bytes(r + 1024, 102400 - 1024, 0, &bad), "byte %zu of the large tail is %#x", 1024 + bad,
		  r[1024 + bad]);
	/* shrinking a large allocation stays in place */
	q = krealloc(r, 5000, GFP_KERNEL);
	cr_assert_eq(q, r, "shrinking a large allocation moved it");
	cr_assert_eq(ksize(q), 102400);

	/* a failed krealloc leaves the object allocated and intact */
	errno = 0;
	p = krealloc(q, (size_t)1 << 41, GFP_KERNEL);
	cr_assert_null(p);
	cr_assert_eq(errno, ENOMEM, "errno %d", errno);
	cr_assert_eq(ksize(q), 102400, "the object was freed by a failed krealloc");
	for (i = 0; i < 512; i++)
		cr_assert_eq(q[i], (unsigned char)(i ^ 0x5a), "byte %zu changed by a failed krealloc", i);

	/* size 0 frees and returns ZERO_SIZE_PTR */
	cr_assert_eq(krealloc(q, 0, GFP_KERNEL), ZERO_SIZE_PTR);
	p = kmalloc(64, GFP_KERNEL);
	cr_assert_not_null(p);
	cr_assert_eq(krealloc(p, 0, GFP_KERNEL), ZERO_SIZE_PTR);
	q = kmalloc(64, GFP_KERNEL);
	cr_assert_eq(q, p, "krealloc(p, 0) did not free p (next object %p, p %p)", q, p);
	kfree(q);
	/* ZERO_SIZE_PTR itself reallocated to 0 stays ZERO_SIZE_PTR */
	cr_assert_eq(krealloc(ZERO_SIZE_PTR, 0, GFP_KERNEL), ZERO_SIZE_PTR);
}
