/* SPDX-License-Identifier: MIT */
/*
 * test_procs.c - several processes on one region: objects allocated in one process and
 * freed in another (offsets through a pipe), fork() inheritance, a client killed with
 * SIGKILL in the middle of its work while others go on.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "daemon_helper.h"
#include "slabd_wire.h"

static struct test_daemon td;

static void up(void)
{
	cr_assert_eq(td_start(&td, NULL), 0, "slabd did not start");
}

static void down(void)
{
	cr_expect(td_alive(&td), "slabd died during the test");
	cr_expect_eq(td_stop(&td), 0, "slabd did not stop cleanly");
}

TestSuite(procs, .init = up, .fini = down, .timeout = 120);

static int full_read(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int full_write(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int wait_child(pid_t pid)
{
	int status;
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static uint64_t pattern(uint64_t off, int i)
{
	return off * 0x9e3779b97f4a7c15ull ^ (uint64_t)i;
}

/* Child: a fresh process (exec-like: it connects on its own), receives offsets, checks
 * the pattern the parent wrote, frees the objects, answers with the count. */
static int free_side(const char *sock, int rfd, int wfd)
{
	uint64_t off;
	uint32_t done = 0;

	if (slabd_connect(sock) < 0)
		return 10;
	while (full_read(rfd, &off, sizeof(off)) == 0 && off != 0) {
		uint64_t *p = slabd_off_to_ptr(off);
		size_t i, n;
		if (!p)
			return 11;
		n = ksize(p) / sizeof(uint64_t);
		if (!n)
			return 12;
		for (i = 0; i < n; i++)
			if (p[i] != pattern(off, (int)i))
				return 13;
		kfree(p);
		done++;
	}
	return full_write(wfd, &done, sizeof(done)) == 0 ? 0 : 14;
}

Test(procs, objects_allocated_in_one_process_are_freed_in_another)
{
	int to_child[2], from_child[2], round;
	pid_t pid;
	uint32_t done = 0;
	enum { N = 5000 };

	cr_assert_eq(pipe(to_child), 0);
	cr_assert_eq(pipe(from_child), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(to_child[1]);
		close(from_child[0]);
		_exit(free_side(td.sock, to_child[0], from_child[1]));
	}
	close(to_child[0]);
	close(from_child[1]);
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
	for (round = 0; round < N; round++) {
		size_t sz = (size_t)8 << (round % 12), i;
		uint64_t *p = kmalloc(sz, GFP_KERNEL), off;
		cr_assert_not_null(p, "kmalloc(%zu) failed", sz);
		off = slabd_ptr_to_off(p);
		for (i = 0; i < ksize(p) / sizeof(uint64_t); i++)
			p[i] = pattern(off, (int)i);
		cr_assert_eq(full_write(to_child[1], &off, sizeof(off)), 0);
	}
	{
		uint64_t end = 0;
		cr_assert_eq(full_write(to_child[1], &end, sizeof(end)), 0);
	}
	cr_assert_eq(full_read(from_child[0], &done, sizeof(done)), 0, "child died (status %d)", wait_child(pid));
	cr_assert_eq(wait_child(pid), 0);
	cr_assert_eq(done, N, "child freed %u of %d objects", done, N);
	/* The parent keeps allocating: the freed objects are reusable here. */
	for (round = 0; round < N; round++) {
		void *p = kmalloc(64, GFP_KERNEL);
		cr_assert_not_null(p);
		kfree(p);
	}
}

Test(procs, child_allocates_parent_frees)
{
	int fds[2];
	pid_t pid;
	uint64_t offs[1000];
	int i;

	cr_assert_eq(slabd_connect(td.sock), 0);
	cr_assert_eq(pipe(fds), 0);
	pid = fork(); /* the child inherits the mapping and registers anew */
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		for (i = 0; i < 1000; i++) {
			uint32_t *p = kmalloc(100, GFP_KERNEL);
			if (!p)
				_exit(2);
			p[0] = 0xc0ffee00u + (uint32_t)i;
			offs[i] = slabd_ptr_to_off(p);
		}
		_exit(full_write(fds[1], offs, sizeof(offs)) == 0 ? 0 : 3);
	}
	close(fds[1]);
	cr_assert_eq(full_read(fds[0], offs, sizeof(offs)), 0);
	cr_assert_eq(wait_child(pid), 0);
	for (i = 0; i < 1000; i++) {
		uint32_t *p = slabd_off_to_ptr(offs[i]);
		cr_assert_not_null(p);
		cr_assert_eq(p[0], 0xc0ffee00u + (uint32_t)i, "object %d lost its contents after its owner exited", i);
		cr_assert_eq(ksize(p), 128);
		kfree(p);
	}
	cr_assert(td_log_contains(&td, "forked child re-registering"), "the child did not register itself");
}

/* A worker that allocates, stamps, verifies and frees forever; exits 1 on corruption. */
static void churn(unsigned int seed)
{
	void *held[256] = { 0 };
	uint32_t stamp[256];

	if (slabd_connect(td.sock) < 0)
		_exit(20);
	for (;;) {
		unsigned int k = (unsigned int)rand_r(&seed) % 256;
		if (held[k]) {
			uint32_t *p = held[k];
			size_t i, n = ksize(p) / 4;
			for (i = 0; i < n; i++)
				if (p[i] != stamp[k])
					_exit(1);
			kfree(p);
			held[k] = NULL;
		} else {
			size_t sz = 8 + (size_t)rand_r(&seed) % 3000, i;
			uint32_t *p = kmalloc(sz, GFP_KERNEL);
			if (!p)
				_exit(2);
			stamp[k] = (uint32_t)rand_r(&seed);
			for (i = 0; i < ksize(p) / 4; i++)
				p[i] = stamp[k];
			held[k] = p;
		}
	}
}

Test(procs, a_client_killed_mid_work_disturbs_nobody)
{
	pid_t pids[3];
	int i, status;
	struct timespec ts = { 0, 300 * 1000000L };

	for (i = 0; i < 3; i++) {
		pids[i] = fork();
		cr_assert_geq(pids[i], 0);
		if (pids[i] == 0)
			churn(1234u + (unsigned int)i);
	}
	nanosleep(&ts, NULL);
	kill(pids[0], SIGKILL);
	cr_assert_eq(wait_child(pids[0]), 128 + SIGKILL);
	nanosleep(&ts, NULL);
	nanosleep(&ts, NULL);
	/* The survivors are still running (they exit only on corruption or failure). */
	for (i = 1; i < 3; i++)
		cr_assert_eq(waitpid(pids[i], &status, WNOHANG), 0, "survivor %d exited with %d", i,
			     WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status));
	cr_assert(td_alive(&td));
	/* A new client still gets served. */
	cr_assert_eq(slabd_connect(td.sock), 0);
	for (i = 0; i < 10000; i++) {
		void *p = kmalloc(512, GFP_KERNEL);
		cr_assert_not_null(p);
		kfree(p);
	}
	for (i = 1; i < 3; i++) {
		kill(pids[i], SIGKILL);
		wait_child(pids[i]);
	}
	cr_assert(td_log_contains(&td, "detached") || td_log_contains(&td, "hung up"),
		  "the daemon did not notice the dead client");
}

/* A listening socket that accepts and never answers: a slabd that hangs. */
static int mute_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_lt(strlen(path), sizeof(sa.sun_path));
	strcpy(sa.sun_path, path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 4), 0);
	return fd;
}

static void *connect_thread(void *path)
{
	return (void *)(intptr_t)slabd_connect(path);
}

/* The first attach of a process is under way in one thread (it holds the library's lock
 * while it waits for the daemon's answer) when another thread forks: the child must not
 * inherit that lock held by a thread it does not have. */
Test(procs, a_fork_during_another_threads_first_attach_leaves_the_child_usable)
{
	char path[sizeof(td.dir) + 16], hello[SLABD_WIRE_MAX];
	pthread_t t;
	void *ret;
	int lfd, afd, st;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/mute.sock", td.dir);
	lfd = mute_listen(path);
	cr_assert_eq(pthread_create(&t, NULL, connect_thread, path), 0);
	afd = accept(lfd, NULL, NULL);
	cr_assert_geq(afd, 0);
	/* its HELLO is here: the thread now waits for the answer, holding the lock */
	cr_assert_gt(recv(afd, hello, sizeof(hello), 0), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		void *p;
		alarm(20); /* a deadlock shows as SIGALRM */
		if (slabd_connect(td.sock) != 0)
			_exit(2);
		p = kmalloc(100, GFP_KERNEL);
		if (!p)
			_exit(3);
		kfree(p);
		_exit(0);
	}
	st = wait_child(pid);
	close(afd); /* the hanging attach ends: the connection is reset */
	cr_assert_eq(pthread_join(t, &ret), 0);
	close(lfd);
	cr_assert_eq(st, 0, "the child exited with %d (%d: stuck on the library's lock)", st, 128 + SIGALRM);
	cr_assert_lt((intptr_t)ret, 0, "the attach to a mute socket succeeded");
}

/* DEBUG query on a connection of its own: the daemon's owner-tracking counters. */
static struct slabd_wire_debug debug_query(void)
{
	struct slabd_wire_debug r;

	cr_assert_eq(td_debug(&td, SLABD_DEBUG_ALL_CACHES, SLABD_DEBUG_OP_QUERY, 0, &r), 0, "no DEBUG_REPLY");
	return r;
}

/* The daemon's count of objects owner reclaim took back, once it is at least 1 (the
 * daemon deals with a hangup whenever it gets to it; a reclaim takes back all of an
 * owner's objects at once), or after 30 s. */
static uint64_t reclaimed_once_any(void)
{
	struct slabd_wire_debug r;
	int waited;

	for (waited = 0; waited < 30000; waited += 50) {
		r = debug_query();
		if (r.reclaimed >= 1)
			break;
		nanosleep(&(struct timespec){ 0, 50 * 1000000L }, NULL);
	}
	return r.reclaimed;
}

/* With owner tracking, an object a forked child allocates before it registered (a
 * GFP_ATOMIC allocation does not wait for the daemon) is the child's, not its parent's:
 * the parent's exit must not take it back while the child still uses it. */
Test(procs, a_forked_childs_objects_stay_its_own_when_the_parent_exits)
{
	struct kmem_cache *c;
	uint64_t reclaimed;
	int ready[2];
	pid_t parent;

	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
	c = kmem_cache_create("fork-owned", 100, 0, SLAB_STORE_USER, NULL);
	cr_assert_not_null(c, "%s", slabd_last_error());
	cr_assert_eq(pipe(ready), 0);
	parent = fork();
	cr_assert_geq(parent, 0);
	if (parent == 0) {
		/* the parent: a client of its own that holds one object and exits once its
		 * child holds one too */
		pid_t child;
		int held[2];
		char x;
		close(ready[0]);
		if (!kmem_cache_alloc(c, GFP_KERNEL) || pipe(held) < 0)
			_exit(2);
		child = fork();
		if (child < 0)
			_exit(3);
		if (child == 0) {
			unsigned char *o = kmem_cache_alloc(c, GFP_ATOMIC);
			if (!o)
				_exit(4);
			memset(o, 0x5c, 100);
			_exit(write(held[1], "c", 1) == 1 ? 0 : 5);
		}
		if (read(held[0], &x, 1) != 1 || x != 'c')
			_exit(6);
		_exit(write(ready[1], "p", 1) == 1 ? 0 : 7);
	}
	close(ready[1]);
	{
		char x;
		cr_assert_eq(read(ready[0], &x, 1), 1);
		cr_assert_eq(x, 'p');
		cr_assert_eq(wait_child(parent), 0);
		/* the parent's own object comes back: then the daemon has dealt with its exit */
		reclaimed = reclaimed_once_any();
		cr_assert_eq(reclaimed, 1,
			     "%llu objects taken back at the parent's exit, expected its own one: its "
			     "child's object was counted as the parent's",
			     (unsigned long long)reclaimed);
	}
	close(ready[0]);
}

/* slabd_disconnect ends the registration (owner tracking gives back what the process
 * owned then), but the mapping stays and the process may go on allocating: what it
 * allocates afterwards is not the old registration's and must not be taken back with it
 * (the daemon deals with the hangup whenever it gets to it). The daemon is stopped
 * around the disconnect so that it surely deals with it after that allocation. */
Test(procs, objects_allocated_after_a_disconnect_are_not_taken_back_with_the_old_registration)
{
	struct kmem_cache *c;
	uint64_t reclaimed;
	unsigned char *p;
	void *v[32];
	int i;

	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
	c = kmem_cache_create("disc-owned", 100, 0, SLAB_STORE_USER, NULL);
	cr_assert_not_null(c, "%s", slabd_last_error());
	cr_assert_not_null(kmem_cache_alloc(c, GFP_KERNEL)); /* owned at the disconnect */
	/* objects in the depot: the allocation below needs nothing from the daemon */
	for (i = 0; i < 32; i++)
		cr_assert_not_null(v[i] = kmem_cache_alloc(c, GFP_KERNEL));
	for (i = 0; i < 32; i++)
		kmem_cache_free(c, v[i]);
	cr_assert_eq(kill(td.pid, SIGSTOP), 0);
	slabd_disconnect();
	p = kmem_cache_alloc(c, GFP_ATOMIC);
	cr_assert_eq(kill(td.pid, SIGCONT), 0);
	cr_assert_not_null(p);
	memset(p, 0x5c, 100);
	reclaimed = reclaimed_once_any();
	cr_assert_eq(reclaimed, 1,
		     "%llu objects taken back at the disconnect, expected the one held then: one "
		     "allocated after it went too",
		     (unsigned long long)reclaimed);
	for (i = 0; i < 100; i++)
		cr_assert_eq(p[i], 0x5c);
	kmem_cache_free(c, p);
}

/*
 * A client's end is its process's exit, not only its socket's hangup: a process that
 * copies itself without the library's fork handler (a raw clone, as a runtime with its
 * own process creation does) leaves its socket open in the copy. With owner tracking the
 * daemon must still give back what the exited client owned while the copy lives on, and
 * say why in its log.
 */
Test(procs, a_client_whose_socket_outlives_its_process_is_noticed_by_its_exit)
{
	struct kmem_cache *c;
	uint64_t reclaimed;
	int ready[2], hold[2];
	pid_t client;
	char x;

	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
	c = kmem_cache_create("exit-owned", 100, 0, SLAB_STORE_USER, NULL);
	cr_assert_not_null(c, "%s", slabd_last_error());
	cr_assert_eq(pipe(ready), 0);
	cr_assert_eq(pipe(hold), 0);
	client = fork();
	cr_assert_geq(client, 0);
	if (client == 0) {
		long copy;

		close(ready[0]);
		close(hold[1]);
		/* a client of its own (the fork handler dropped the test's socket) that owns one
		 * object when it exits */
		if (!kmem_cache_alloc(c, GFP_KERNEL))
			_exit(2);
		copy = syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
		if (copy < 0)
			_exit(3);
		if (copy == 0) {
			/* the copy: holds the client's socket until the test closes hold[1] */
			char y;
			while (syscall(SYS_read, hold[0], &y, 1) > 0)
				;
			syscall(SYS_exit_group, 0);
		}
		_exit(write(ready[1], "r", 1) == 1 ? 0 : 4);
	}
	close(ready[1]);
	close(hold[0]);
	cr_assert_eq(read(ready[0], &x, 1), 1);
	cr_assert_eq(wait_child(client), 0);
	reclaimed = reclaimed_once_any();
	close(hold[1]); /* the copy ends */
	cr_assert_eq(reclaimed, 1,
		     "%llu objects taken back after the client exited with its socket held by a "
		     "copy, expected its one",
		     (unsigned long long)reclaimed);
	cr_assert(td_log_contains(&td, "exited (its socket is still open in another process)"),
		  "the daemon did not say why it dropped the client");
	close(ready[0]);
}
