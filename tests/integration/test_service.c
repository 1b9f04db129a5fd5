/* SPDX-License-Identifier: MIT */
/*
 * test_service.c - slabd as a service, with this test playing the service manager:
 * the sd_notify datagrams (READY, STATUS, WATCHDOG, RELOADING, STOPPING) on a socket the
 * test owns (a path and an abstract '@' name), socket activation from a listening socket
 * passed as fd 3 with LISTEN_FDS/LISTEN_PID, SIGHUP reloads, and the socket's
 * owner/group/mode from the config.
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
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "daemon_helper.h"

#ifndef SLABD_BIN
#error "SLABD_BIN must name the slabd binary"
#endif

static struct test_daemon td;
static int notify_fd = -1;
static char notify_path[160];

static void make_dir(void)
{
	memset(&td, 0, sizeof(td));
	snprintf(td.dir, sizeof(td.dir), "/tmp/slabd-svc-XXXXXX");
	cr_assert_not_null(mkdtemp(td.dir));
	snprintf(td.sock, sizeof(td.sock), "%s/slabd.sock", td.dir);
	snprintf(td.log, sizeof(td.log), "%s/slabd.log", td.dir);
}

static char conf_path[200];

static void cleanup(void)
{
	if (td.pid > 0)
		td_stop(&td);
	if (conf_path[0])
		unlink(conf_path);
	conf_path[0] = 0;
	if (notify_fd >= 0)
		close(notify_fd);
	notify_fd = -1;
	if (notify_path[0])
		unlink(notify_path);
	notify_path[0] = 0;
	unlink(td.log);
	rmdir(td.dir); /* fails, and keeps the evidence, if anything else is left */
}

/* The service manager's end: a datagram socket at a path, or an abstract one when
 * @abstract. Returns the NOTIFY_SOCKET value. */
static const char *notify_listen(int abstract, char *env, size_t len)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t sl;

	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(notify_fd, 0);
	if (abstract) {
		int n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "slabd-test-notify-%d",
				 (int)getpid());
		sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
		snprintf(env, len, "@%s", sa.sun_path + 1);
	} else {
		snprintf(notify_path, sizeof(notify_path), "%s/notify", td.dir);
		cr_assert_lt(strlen(notify_path), sizeof(sa.sun_path));
		memcpy(sa.sun_path, notify_path, strlen(notify_path) + 1);
		sl = sizeof(sa);
		snprintf(env, len, "%s", notify_path);
	}
	cr_assert_eq(bind(notify_fd, (struct sockaddr *)&sa, sl), 0, "bind: %s", strerror(errno));
	return env;
}

/* Wait up to @ms for a datagram containing @needle; everything received goes to @all. */
static int notify_wait(const char *needle, int ms, char *all, size_t len)
{
	struct timespec t0, t;
	size_t n = strlen(all);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = {notify_fd, POLLIN, 0};
		char buf[1024];
		ssize_t k;
		long el;

		clock_gettime(CLOCK_MONOTONIC, &t);
		el = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (el >= ms)
			return 0;
		if (poll(&p, 1, (int)(ms - el)) <= 0)
			continue;
		k = recv(notify_fd, buf, sizeof(buf) - 1, 0);
		if (k <= 0)
			continue;
		buf[k] = 0;
		n += (size_t)snprintf(all + n, n < len ? len - n : 0, "%s\n--\n", buf);
		if (n >= len)
			n = len - 1;
		if (strstr(buf, needle))
			return 1;
	}
}

/* Start slabd in td.dir with @env added and, when @listen_fd >= 0, that socket as fd 3
 * (LISTEN_FDS=1, LISTEN_PID=its pid). @args are extra arguments. */
static void spawn(const char *const *env, int listen_fd, const char *const *args)
{
	const char *argv[64];
	int argc = 0, i;

	argv[argc++] = SLABD_BIN;
	argv[argc++] = "--foreground";
	argv[argc++] = "--set";
	argv[argc++] = "zone_size=2M";
	argv[argc++] = "--set";
	argv[argc++] = "hugepages=off";
	argv[argc++] = "--set";
	argv[argc++] = "log_level=debug";
	for (i = 0; args && args[i]; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;

	td.pid = fork();
	cr_assert_geq(td.pid, 0);
	if (td.pid == 0) {
		char pid[32];
		int fd;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = open(td.log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 2);
			dup2(fd, 1);
		}
		for (i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		if (listen_fd >= 0) {
			if (listen_fd != 3) {
				dup2(listen_fd, 3); /* dup2 clears close-on-exec on the copy */
				close(listen_fd);
			} else {
				fcntl(3, F_SETFD, 0);
			}
			snprintf(pid, sizeof(pid), "%d", (int)getpid());
			setenv("LISTEN_PID", pid, 1);
			setenv("LISTEN_FDS", "1", 1);
		}
		execv(SLABD_BIN, (char *const *)argv);
		_exit(127);
	}
}

static int wait_log(const char *needle, int ms)
{
	int i;
	for (i = 0; i < ms / 10; i++) {
		if (td_log_contains(&td, needle))
			return 1;
		usleep(10000);
	}
	td_dump_log(&td);
	return 0;
}

TestSuite(notify, .fini = cleanup, .timeout = 60);

Test(notify, ready_status_watchdog_and_stopping_arrive_on_the_notify_socket)
{
	static char all[16384];
	char env_sock[200], env[4][256];
	const char *envp[4];
	int watchdogs = 0;
	char *p;

	make_dir();
	snprintf(env[0], sizeof(env[0]), "NOTIFY_SOCKET=%s",
		 notify_listen(0, env_sock, sizeof(env_sock)));
	snprintf(env[1], sizeof(env[1]), "WATCHDOG_USEC=200000"); /* pings every 100 ms */
	envp[0] = env[0];
	envp[1] = env[1];
	envp[2] = NULL;
	spawn(envp, -1, (const char *const[]){"--socket", td.sock, NULL});
	all[0] = 0;
	cr_assert(notify_wait("READY=1", 10000, all, sizeof(all)), "no READY=1; got:\n%s", all);
	cr_assert(strstr(all, "STATUS=ready: socket ") != NULL, "READY without STATUS:\n%s", all);
	cr_assert(strstr(all, "STATUS=starting") != NULL, "no starting status:\n%s", all);
	cr_assert_eq(slabd_connect(td.sock), 0, "READY=1 came before the socket served: %s",
		     slabd_last_error());
	cr_assert(notify_wait("1 client attached", 5000, all, sizeof(all)),
		  "no STATUS with the client count:\n%s", all);
	for (p = all; (p = strstr(p, "WATCHDOG=1")); p++)
		watchdogs++;
	while (watchdogs < 3 && notify_wait("WATCHDOG=1", 5000, all, sizeof(all)))
		watchdogs++;
	cr_assert_geq(watchdogs, 3, "WATCHDOG=1 did not keep coming:\n%s", all);
	slabd_disconnect();
	kill(td.pid, SIGTERM);
	cr_assert(notify_wait("STOPPING=1", 10000, all, sizeof(all)), "no STOPPING=1:\n%s", all);
	cr_assert_eq(td_stop(&td), 0);
}

Test(notify, an_abstract_notify_socket_works_too)
{
	static char all[8192];
	char env_sock[200], env[256];

	make_dir();
	snprintf(env, sizeof(env), "NOTIFY_SOCKET=%s",
		 notify_listen(1, env_sock, sizeof(env_sock)));
	cr_assert_eq(env_sock[0], '@');
	spawn((const char *const[]){env, NULL}, -1,
	      (const char *const[]){"--socket", td.sock, NULL});
	all[0] = 0;
	cr_assert(notify_wait("READY=1", 10000, all, sizeof(all)), "no READY=1 on %s; got:\n%s",
		  env_sock, all);
	cr_assert(strstr(all, "WATCHDOG=1") == NULL, "watchdog pings without WATCHDOG_USEC:\n%s",
		  all);
	cr_assert_eq(td_stop(&td), 0);
}

Test(notify, a_watchdog_for_another_pid_is_ignored)
{
	static char all[8192];
	char env_sock[200], env[256];

	make_dir();
	snprintf(env, sizeof(env), "NOTIFY_SOCKET=%s",
		 notify_listen(0, env_sock, sizeof(env_sock)));
	spawn((const char *const[]){env, "WATCHDOG_USEC=100000", "WATCHDOG_PID=1", NULL}, -1,
	      (const char *const[]){"--socket", td.sock, NULL});
	all[0] = 0;
	cr_assert(notify_wait("READY=1", 10000, all, sizeof(all)), "no READY=1:\n%s", all);
	cr_assert_not(notify_wait("WATCHDOG=1", 500, all, sizeof(all)), "pinged for pid 1:\n%s",
		      all);
	cr_assert_eq(td_stop(&td), 0);
}

/* ------------------------------------------------------------ socket activation -- */

static int listening_socket(const char *path, int type)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind %s: %s", path,
		     strerror(errno));
	cr_assert_eq(listen(fd, 16), 0);
	return fd;
}

TestSuite(activation, .fini = cleanup, .timeout = 60);

Test(activation, a_client_attaches_through_the_passed_socket)
{
	char path[200], unused[200];
	struct stat st;
	void *p;
	int lfd;

	make_dir();
	snprintf(path, sizeof(path), "%s/activated.sock", td.dir);
	snprintf(unused, sizeof(unused), "%s/never-bound.sock", td.dir);
	lfd = listening_socket(path, SOCK_SEQPACKET);
	/* a client may connect before the daemon even runs: the backlog holds it */
	spawn(NULL, lfd, (const char *const[]){"--socket", unused, NULL});
	close(lfd);
	cr_assert_eq(slabd_connect(path), 0, "%s", slabd_last_error());
	p = kmalloc(100, GFP_KERNEL);
	cr_assert_not_null(p);
	kfree(p);
	cr_assert(wait_log("socket activation: serving on the passed socket", 5000),
		  "the log does not say so");
	cr_assert_neq(stat(unused, &st), 0, "slabd bound --socket despite the passed socket");
	slabd_disconnect();
	cr_assert_eq(td_stop(&td), 0);
	cr_assert_eq(stat(path, &st), 0,
		     "slabd removed the socket that belongs to the service manager");
	unlink(path);
}

Test(activation, a_stream_socket_is_refused_with_a_message)
{
	char path[200];
	int lfd, status;

	make_dir();
	snprintf(path, sizeof(path), "%s/stream.sock", td.dir);
	lfd = listening_socket(path, SOCK_STREAM);
	spawn(NULL, lfd, (const char *const[]){"--socket", td.sock, NULL});
	close(lfd);
	cr_assert_eq(waitpid(td.pid, &status, 0), td.pid);
	td.pid = 0;
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %d", status);
	cr_assert(td_log_contains(&td, "not a listening AF_UNIX SOCK_SEQPACKET socket"),
		  "no clear message");
	unlink(path);
}

Test(activation, listen_fds_for_another_pid_are_not_taken)
{
	char env[2][64];

	make_dir();
	snprintf(env[0], sizeof(env[0]), "LISTEN_PID=%d", 1);
	snprintf(env[1], sizeof(env[1]), "LISTEN_FDS=1");
	spawn((const char *const[]){env[0], env[1], NULL}, -1,
	      (const char *const[]){"--socket", td.sock, NULL});
	cr_assert(wait_log("ready: socket", 10000), "slabd did not start on its own socket");
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
	slabd_disconnect();
	cr_assert_eq(td_stop(&td), 0);
}

/* ----------------------------------------------------------------------- reload -- */

static void write_conf(const char *text)
{
	FILE *f;
	snprintf(conf_path, sizeof(conf_path), "%s/slabd.conf", td.dir);
	f = fopen(conf_path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

TestSuite(reload, .fini = cleanup, .timeout = 60);

Test(reload, sighup_applies_run_time_keys_and_names_the_ones_needing_a_restart)
{
	static char all[16384];
	char env_sock[200], env[256];
	struct timespec t0, t1;
	const char *mono;
	uint64_t usec;

	make_dir();
	write_conf("log_level = info\nrelease_delay_ms = 5000\nzone_size = 2M\n");
	snprintf(env, sizeof(env), "NOTIFY_SOCKET=%s",
		 notify_listen(0, env_sock, sizeof(env_sock)));
	/* log_level=debug on the command line must win over the file on reload too */
	spawn((const char *const[]){env, NULL}, -1,
	      (const char *const[]){"--config", conf_path, "--socket", td.sock, NULL});
	all[0] = 0;
	cr_assert(notify_wait("READY=1", 10000, all, sizeof(all)), "no READY:\n%s", all);
	/* zone_size is pinned by --set zone_size=2M: not a change */
	write_conf(
	    "log_level = warning\nrelease_delay_ms = 100\nidle_drain_ms = 200\nzone_size = 4M\n"
	    "max_caches = 256\nmax_cache_size = 64k\n");
	all[0] = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	kill(td.pid, SIGHUP);
	cr_assert(notify_wait("RELOADING=1", 5000, all, sizeof(all)), "no RELOADING=1:\n%s", all);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* sd_notify(3): RELOADING=1 comes with MONOTONIC_USEC, the CLOCK_MONOTONIC time of the
	 * reload's start, so that the manager can tell this reload from an earlier one */
	mono = strstr(all, "MONOTONIC_USEC=");
	cr_assert_not_null(mono, "RELOADING=1 without MONOTONIC_USEC:\n%s", all);
	usec = strtoull(mono + strlen("MONOTONIC_USEC="), NULL, 10);
	cr_assert(usec >= (uint64_t)t0.tv_sec * 1000000 + (uint64_t)t0.tv_nsec / 1000 &&
		      usec <= (uint64_t)t1.tv_sec * 1000000 + (uint64_t)t1.tv_nsec / 1000,
		  "MONOTONIC_USEC=%llu is not the time of this reload:\n%s", (unsigned long long)usec, all);
	cr_assert(notify_wait("READY=1", 5000, all, sizeof(all)),
		  "no READY=1 after the reload:\n%s", all);
	cr_assert(wait_log("applied release_delay_ms, idle_drain_ms", 5000),
		  "reloadable keys not applied");
	cr_assert(wait_log("needs a restart to take effect (still running with the old values): "
			   "max_cache_size, max_caches\n",
			   5000),
		  "the restart-only keys are not named");
	cr_assert_not(td_log_contains(&td, "applied log_level"), "the file's log_level beat --set");
	cr_assert(td_alive(&td));
	cr_assert_eq(td_stop(&td), 0);
}

Test(reload, a_bad_file_changes_nothing_and_the_daemon_runs_on)
{
	make_dir();
	write_conf("release_delay_ms = 5000\n");
	spawn(NULL, -1, (const char *const[]){"--config", conf_path, "--socket", td.sock, NULL});
	cr_assert(wait_log("ready: socket", 10000));
	write_conf("release_delay_ms = 100\nmetrics_port = http\n");
	kill(td.pid, SIGHUP);
	cr_assert(wait_log("has errors (see above): nothing changed", 5000),
		  "no refusal in the log");
	cr_assert(td_log_contains(&td, "slabd.conf:2: bad value 'http' for 'metrics_port'"),
		  "no file:line:key");
	cr_assert_not(td_log_contains(&td, "applied release_delay_ms"));
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
	slabd_disconnect();
	cr_assert_eq(td_stop(&td), 0);
}

/* --------------------------------------------------------- config at start-up -- */

TestSuite(config_start, .fini = cleanup, .timeout = 60);

Test(config_start, a_bad_config_stops_the_start_naming_file_line_and_key)
{
	int status;

	make_dir();
	write_conf("# slabd\nzone_size = 2M\nsocket_mode = 0999\n");
	spawn(NULL, -1, (const char *const[]){"--config", conf_path, "--socket", td.sock, NULL});
	cr_assert_eq(waitpid(td.pid, &status, 0), td.pid);
	td.pid = 0;
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2, "status %d", status);
	cr_assert(td_log_contains(
		      &td, "slabd.conf:3: bad value '0999' for 'socket_mode': expected octal"),
		  "the error does not name file, line and key");
}

Test(config_start, socket_mode_and_group_apply_to_the_socket_slabd_binds)
{
	char set_group[64];
	struct stat st;

	make_dir();
	snprintf(set_group, sizeof(set_group), "socket_group=%u", (unsigned)getegid());
	spawn(NULL, -1,
	      (const char *const[]){"--socket", td.sock, "--set", "socket_mode=0600", "--set",
				    set_group, NULL});
	cr_assert(wait_log("ready: socket", 10000));
	cr_assert_eq(stat(td.sock, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600, "mode %o", st.st_mode & 0777);
	cr_assert_eq(st.st_gid, getegid());
	cr_assert_eq(td_stop(&td), 0);
}

/* ------------------------------------------------------------ hugepage reservation -- */

/* A fake pool under td.dir (SLABD_TEST_SYSFS replaces /sys for slabd). */
static void fake_pool(const char *rel, long nr, long fr)
{
	char path[512], cmd[1024];
	FILE *f;

	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/sys/%s'", td.dir, rel);
	cr_assert_eq(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/sys/%s/nr_hugepages", td.dir, rel);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "%ld\n", nr);
	fclose(f);
	snprintf(path, sizeof(path), "%s/sys/%s/free_hugepages", td.dir, rel);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "%ld\n", fr);
	fclose(f);
}

static long pool_nr(const char *rel)
{
	char path[512];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/sys/%s/nr_hugepages", td.dir, rel);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	cr_assert_eq(fscanf(f, "%ld", &v), 1);
	fclose(f);
	return v;
}

/* Run `slabd --reserve-hugepages @args` against the fake sysfs; output in @out. */
static int reserve(const char *env, const char *args, char *out, size_t len)
{
	char cmd[1024];
	size_t n = 0;
	FILE *f;
	int st;

	snprintf(cmd, sizeof(cmd), "SLABD_TEST_SYSFS='%s/sys' %s %s --reserve-hugepages %s 2>&1", td.dir, env,
		 SLABD_BIN, args);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	while (n + 1 < len && fgets(out + n, (int)(len - n), f))
		n += strlen(out + n);
	out[n] = 0;
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void rm_dir(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", td.dir);
	if (td.dir[0] && system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", td.dir);
	td.dir[0] = 0;
}

TestSuite(hugepages_reserve, .fini = rm_dir, .timeout = 60);

#define GLOBAL_POOL "kernel/mm/hugepages/hugepages-2048kB"

Test(hugepages_reserve, the_pool_grows_by_what_is_missing_from_the_free_pages)
{
	char out[4096];

	make_dir();
	fake_pool(GLOBAL_POOL, 5, 1);
	/* an 8 MiB zone needs 4 free pages of 2 MiB: 3 more */
	cr_assert_eq(reserve("", "--set hugepages_reserve=yes --set zone_size=8M --set dma_zone_size=0", out, sizeof(out)),
		     0, "%s", out);
	cr_assert_eq(pool_nr(GLOBAL_POOL), 8, "%s", out);
	cr_assert(strstr(out, "5 -> 8 hugepages") != NULL, "%s", out);
}

Test(hugepages_reserve, enough_free_pages_or_no_reserve_key_change_nothing)
{
	char out[4096];

	make_dir();
	fake_pool(GLOBAL_POOL, 10, 6);
	cr_assert_eq(reserve("", "--set hugepages_reserve=yes --set zone_size=8M --set dma_zone_size=0", out, sizeof(out)),
		     0, "%s", out);
	cr_assert_eq(pool_nr(GLOBAL_POOL), 10);
	cr_assert(strstr(out, "nothing to do") != NULL, "%s", out);
	cr_assert_eq(reserve("", "--set zone_size=64M", out, sizeof(out)), 0, "%s", out);
	cr_assert_eq(pool_nr(GLOBAL_POOL), 10, "reserved without hugepages_reserve = yes");
	cr_assert_eq(reserve("", "--set hugepages_reserve=yes --set hugepages=off --set zone_size=64M", out,
			     sizeof(out)),
		     0, "%s", out);
	cr_assert_eq(pool_nr(GLOBAL_POOL), 10, "reserved with hugepages = off");
}

Test(hugepages_reserve, each_node_pool_is_raised_on_a_multi_node_machine)
{
	char out[4096];

	make_dir();
	fake_pool("devices/system/node/node0/hugepages/hugepages-2048kB", 0, 0);
	fake_pool("devices/system/node/node1/hugepages/hugepages-2048kB", 2, 2);
	cr_assert_eq(reserve("HWLOC_SYNTHETIC='pack:2 numa:1 core:1 pu:1'",
			     "--set hugepages_reserve=yes --set zone_size=6M --set dma_zone_size=0", out, sizeof(out)),
		     0, "%s", out);
	cr_assert_eq(pool_nr("devices/system/node/node0/hugepages/hugepages-2048kB"), 3, "%s", out);
	cr_assert_eq(pool_nr("devices/system/node/node1/hugepages/hugepages-2048kB"), 3, "%s", out);
}

/* The DMA zone is part of the zones segment (dma.c) and takes hugepages as the node zones
 * do: a reservation without them leaves the daemon short (hugepages = on refuses to start,
 * auto falls back to 4 KiB pages for every zone). On several nodes they come from the pool
 * of dma_node, where the zone is bound. */
Test(hugepages_reserve, the_dma_zone_is_counted_in_the_pool_of_its_node)
{
	char out[4096];

	make_dir();
	fake_pool(GLOBAL_POOL, 0, 0);
	/* 8 MiB of node zone and 6 MiB of DMA zone: 4 + 3 pages */
	cr_assert_eq(reserve("", "--set hugepages_reserve=yes --set zone_size=8M --set dma_zone_size=5M", out,
			     sizeof(out)),
		     0, "%s", out);
	cr_assert_eq(pool_nr(GLOBAL_POOL), 7, "%s", out);
	fake_pool("devices/system/node/node0/hugepages/hugepages-2048kB", 0, 0);
	fake_pool("devices/system/node/node1/hugepages/hugepages-2048kB", 0, 0);
	cr_assert_eq(reserve("HWLOC_SYNTHETIC='pack:2 numa:1 core:1 pu:1'",
			     "--set hugepages_reserve=yes --set zone_size=6M --set dma_zone_size=4M --set dma_node=1", out,
			     sizeof(out)),
		     0, "%s", out);
	cr_assert_eq(pool_nr("devices/system/node/node0/hugepages/hugepages-2048kB"), 3, "%s", out);
	cr_assert_eq(pool_nr("devices/system/node/node1/hugepages/hugepages-2048kB"), 5, "%s", out);
}

Test(hugepages_reserve, a_missing_pool_stops_only_a_daemon_with_hugepages_on)
{
	char out[4096];

	make_dir();
	cr_assert_eq(reserve("", "--set hugepages_reserve=yes --set hugepages=on", out, sizeof(out)), 1, "%s", out);
	cr_assert(strstr(out, "cannot read") != NULL, "%s", out);
	cr_assert_eq(reserve("", "--set hugepages_reserve=yes", out, sizeof(out)), 0, "%s", out);
}

/* ------------------------------------------------------------------- the log -- */

TestSuite(journal, .fini = cleanup, .timeout = 60);

/* Every log line is one journal entry whose priority is its "<N>" prefix: a cache name
 * (chosen by any client) with a newline in it must not start a line of its own, which
 * would forge an entry of any priority. */
Test(journal, a_newline_in_a_client_string_does_not_start_a_log_line)
{
	struct kmem_cache *c;

	make_dir();
	spawn(NULL, -1, (const char *const[]){"--socket", td.sock, NULL});
	cr_assert(wait_log("ready: socket", 10000));
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
	c = kmem_cache_create("x\n<2>slabd: crit: forged", 64, 0, 0, NULL);
	cr_assert_not_null(c, "%s", slabd_last_error());
	cr_assert(wait_log("forged", 5000), "the cache's creation was not logged");
	cr_expect_not(td_log_contains(&td, "\n<2>slabd: crit: forged"),
		      "a client's cache name started a log line of its own");
	kmem_cache_destroy(c);
	slabd_disconnect();
	cr_assert_eq(td_stop(&td), 0);
}
