/* SPDX-License-Identifier: MIT */
/*
 * test_fdstore.c - a restart that keeps the region in systemd's file descriptor store
 * (fd_store = yes), with this test playing the service manager: a datagram socket as
 * $NOTIFY_SOCKET receives the region's memfds (FDSTORE=1, FDNAME=slabd-<segment>, the
 * descriptor in SCM_RIGHTS), and after a SIGKILL the daemon is started again with them
 * as systemd passes them: from fd 3 on, $LISTEN_FDS, $LISTEN_PID (the new daemon's pid)
 * and $LISTEN_FDNAMES. The test process is the client throughout: its objects, owner
 * patterns in them, stay intact, it allocates from its caches while the daemon is away,
 * and its requests reach the restarted daemon on the same region.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "daemon_helper.h"
#include "slabd_shm.h"
#include "slabd_wire.h"

#ifndef SLABD_BIN
#error "SLABD_BIN must name the slabd binary"
#endif

static const char *const names[4] = {"slabd-meta", "slabd-percpu", "slabd-zones", "slabd-slabs"};

static char dir[64], notify_path[128], sock_path[128], log_path[128];
static int notify_fd = -1, stored[4] = {-1, -1, -1, -1};
static pid_t daemon_pid;
static int reaped_status = -1; /* wait_ready's waitpid of a daemon that ended */

static int log_has(const char *needle)
{
	char buf[1 << 16];
	FILE *f = fopen(log_path, "re");
	size_t n;

	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return strstr(buf, needle) != NULL;
}

static void dump_log(void)
{
	char buf[4096];
	FILE *f = fopen(log_path, "re");
	size_t n;

	if (!f)
		return;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(f);
}

/* Start slabd with $NOTIFY_SOCKET; @pass: with the stored descriptors as systemd passes
 * them; @extra: one more --set option or NULL. */
static pid_t launch(int pass, const char *extra)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	{
		int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
	}
	setenv("NOTIFY_SOCKET", notify_path, 1);
	if (pass) {
		int tmp[4], i;
		char pidbuf[16];
		for (i = 0; i < 4; i++)
			tmp[i] = fcntl(stored[i], F_DUPFD_CLOEXEC, 100);
		for (i = 0; i < 4; i++)
			if (tmp[i] < 0 || dup2(tmp[i], 3 + i) < 0) /* dup2: not close-on-exec */
				_exit(126);
		snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
		setenv("LISTEN_FDS", "4", 1);
		setenv("LISTEN_PID", pidbuf, 1);
		setenv("LISTEN_FDNAMES", "slabd-meta:slabd-percpu:slabd-zones:slabd-slabs", 1);
	}
	execl(SLABD_BIN, "slabd", "--foreground", "--socket", sock_path, "--set", "zone_size=64M",
	      "--set", "hugepages=off", "--set", "dma_zone_size=0", "--set", "log_level=info",
	      "--set", "fd_store=yes", "--set", extra ? extra : "log_level=info", (char *)NULL);
	_exit(127);
}

/* Read notify datagrams until READY=1 (or the daemon's end, or 30 s); keep the stored
 * descriptors by name. 1: ready, 0: not. */
static int wait_ready(pid_t pid)
{
	int i, status;

	for (i = 0; i < 300; i++) {
		struct pollfd p = {notify_fd, POLLIN, 0};
		char buf[1024], cbuf[CMSG_SPACE(sizeof(int) * 8)];
		struct iovec iov = {buf, sizeof(buf) - 1};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf)};
		struct cmsghdr *cm;
		ssize_t n;
		int fd = -1, k;

		if (waitpid(pid, &status, WNOHANG) == pid) {
			reaped_status = status;
			return 0;
		}
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recvmsg(notify_fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0)
			continue;
		buf[n] = 0;
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
				memcpy(&fd, CMSG_DATA(cm), sizeof(int));
		if (fd >= 0) {
			cr_assert(strstr(buf, "FDSTORE=1"), "descriptor sent without FDSTORE=1: %s",
				  buf);
			for (k = 0; k < 4; k++) {
				char want[32];
				snprintf(want, sizeof(want), "FDNAME=%s", names[k]);
				if (strstr(buf, want))
					break;
			}
			cr_assert_lt(k, 4, "descriptor sent with an unknown name: %s", buf);
			if (stored[k] >= 0)
				close(stored[k]);
			stored[k] = fd;
		}
		if (strstr(buf, "READY=1"))
			return 1;
	}
	return 0;
}

static void setup(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	snprintf(dir, sizeof(dir), "/tmp/slabd-fdstore-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(notify_path, sizeof(notify_path), "%s/notify", dir);
	snprintf(sock_path, sizeof(sock_path), "%s/slabd.sock", dir);
	snprintf(log_path, sizeof(log_path), "%s/slabd.log", dir);
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(notify_fd, 0);
	strcpy(sa.sun_path, notify_path);
	cr_assert_eq(bind(notify_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
}

static void teardown(void)
{
	int i, status;

	if (daemon_pid > 0) {
		kill(daemon_pid, SIGKILL);
		waitpid(daemon_pid, &status, 0);
	}
	for (i = 0; i < 4; i++)
		if (stored[i] >= 0)
			close(stored[i]);
	close(notify_fd);
	unlink(notify_path);
	unlink(sock_path);
	unlink(log_path);
	rmdir(dir);
}

TestSuite(fdstore, .init = setup, .fini = teardown, .timeout = 120);

#define N 2000

/* Start slabd with fd_store = yes (daemon_pid) and wait until it is ready and has handed
 * its four segments to the fd store. */
static void launch_stored(void)
{
	int i;

	daemon_pid = launch(0, NULL);
	if (!wait_ready(daemon_pid)) {
		dump_log();
		cr_assert_fail("slabd with fd_store = yes did not get ready");
	}
	for (i = 0; i < 4; i++)
		cr_assert_geq(stored[i], 0, "%s was not handed to the fd store", names[i]);
}

Test(fdstore, the_region_survives_a_sigkill_in_the_fd_store)
{
	static uint64_t *obj[N];
	struct kmem_cache *c;
	struct slabd_wire_verify r;
	struct test_daemon td = {0};
	uint64_t *big;
	int i, status, away = 0;

	launch_stored();
	cr_assert(log_has("in the service manager's fd store"));

	cr_assert_eq(slabd_connect(sock_path), 0, "%s", slabd_last_error());
	c = kmem_cache_create("fdstore", 200, 8, 0, NULL);
	cr_assert_not_null(c);
	for (i = 0; i < N; i++) {
		obj[i] = i % 2 ? kmalloc(64 + (size_t)(i % 7) * 100, GFP_KERNEL)
			       : kmem_cache_alloc(c, GFP_KERNEL);
		cr_assert_not_null(obj[i]);
		obj[i][0] = 0xf00d0000u + (uint64_t)i;
		obj[i][7] = ~(uint64_t)i;
	}
	big = kmalloc(100000, GFP_KERNEL);
	cr_assert_not_null(big);
	big[12499] = 0xb16;

	cr_assert_eq(kill(daemon_pid, SIGKILL), 0);
	cr_assert_eq(waitpid(daemon_pid, &status, 0), daemon_pid);
	daemon_pid = 0;

	/* while it is away: frees, and allocations from the per-CPU caches */
	for (i = 0; i < N; i += 4) {
		cr_assert_eq(obj[i][0], 0xf00d0000u + (uint64_t)i);
		kmem_cache_free(c, obj[i]);
		obj[i] = kmem_cache_alloc(c, GFP_NOWAIT);
		if (obj[i]) {
			away++;
			obj[i][0] = 0xf00d0000u + (uint64_t)i;
			obj[i][7] = ~(uint64_t)i;
		}
	}
	cr_assert_gt(away, 0, "no allocation succeeded from the caches while the daemon was away");

	/* another geometry passed back: refused, with advice, and nothing touched */
	daemon_pid = launch(1, "zone_size=128M");
	cr_assert_eq(wait_ready(daemon_pid), 0, "slabd took a region of another geometry");
	daemon_pid = 0;
	cr_assert(WIFEXITED(reaped_status) && WEXITSTATUS(reaped_status) != 0,
		  "slabd did not refuse to start");
	cr_assert(log_has("was made for another geometry"), "no reason given for the refusal");
	cr_assert(log_has("systemctl stop slabd"), "no advice given with the refusal");

	/* the right one */
	daemon_pid = launch(1, NULL);
	if (!wait_ready(daemon_pid)) {
		dump_log();
		cr_assert_fail("slabd did not get ready on the region passed back");
	}
	cr_assert(log_has("passed back by the service manager's fd store"));
	cr_assert(log_has("restart: "));

	/* requests reach the new daemon (same region: no remapping), objects intact */
	cr_assert_eq(kmem_cache_create("fdstore", 200, 8, 0, NULL), c,
		     "the named cache changed across the restart");
	for (i = 0; i < N; i++) {
		if (!obj[i])
			continue;
		cr_assert_eq(obj[i][0], 0xf00d0000u + (uint64_t)i, "object %d was overwritten", i);
		cr_assert_eq(obj[i][7], ~(uint64_t)i, "object %d was overwritten", i);
		if (i % 2)
			kfree(obj[i]);
		else
			kmem_cache_free(c, obj[i]);
	}
	cr_assert_eq(big[12499], 0xb16);
	kfree(big);
	big = kmalloc(200000, GFP_KERNEL);
	cr_assert_not_null(big, "a large allocation after the restart failed: %s",
			   slabd_last_error());
	kfree(big);

	snprintf(td.sock, sizeof(td.sock), "%s", sock_path);
	cr_assert_eq(td_verify(&td, SLABD_VERIFY_AUDIT, &r), 0);
	cr_assert_eq(r.err, 0);
	cr_assert_eq(r.problems, 0, "the audit found problems: %s", r.first);
	cr_assert_eq(r.double_frees, 0);
	cr_assert_eq(r.bad_objects, 0);
	cr_assert_leq(r.allocated, 127 + 62 + 2 * SLABD_MAG_SLOTS,
		      "%llu objects allocated after everything was freed",
		      (unsigned long long)r.allocated);
	fprintf(stderr,
		"# fdstore: %d objects kept across the restart, %d allocated while away, audit: "
		"%llu objects, "
		"%llu allocated, 0 problems\n",
		N, away, (unsigned long long)r.objects, (unsigned long long)r.allocated);

	cr_assert_eq(kill(daemon_pid, SIGTERM), 0);
	cr_assert_eq(waitpid(daemon_pid, &status, 0), daemon_pid);
	daemon_pid = 0;
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "slabd did not stop cleanly");
}

/* A region passed back that passes the first geometry check but not the one after
 * mapping (here max_cache_size, which is not part of the layout) is refused with the fd
 * store's advice: there are no files to remove. */
Test(fdstore, a_refusal_after_mapping_gives_the_fd_stores_advice)
{
	int i;

	launch_stored();
	cr_assert_eq(kill(daemon_pid, SIGKILL), 0);
	cr_assert_eq(waitpid(daemon_pid, &i, 0), daemon_pid);
	daemon_pid = 0;

	daemon_pid = launch(1, "max_cache_size=64k");
	cr_assert_eq(wait_ready(daemon_pid), 0, "slabd took a region made with another max_cache_size");
	daemon_pid = 0;
	cr_assert(WIFEXITED(reaped_status) && WEXITSTATUS(reaped_status) != 0,
		  "slabd did not refuse to start");
	cr_assert(log_has("max_cache_size"), "the refusal does not name the difference");
	if (!log_has("systemctl stop slabd") || log_has("remove /meta")) {
		dump_log();
		cr_assert_fail("the refusal of a region from the fd store advises removing files "
			       "that do not exist instead of stopping the service");
	}
}
