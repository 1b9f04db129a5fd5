/* SPDX-License-Identifier: MIT */
/* daemon_helper.c - see daemon_helper.h. SLABD_BIN is the path of the built daemon. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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

#include "daemon_helper.h"
#include "slabd_wire.h"

#ifndef SLABD_BIN
#error "SLABD_BIN must name the slabd binary"
#endif

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static int can_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return 0;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return r == 0;
}

/* The daemon to run is a ThreadSanitizer build: this helper's own build is one, or
 * SLABD_TEST_DAEMON names another daemon (only the TSan step of .ci/run does). */
static int tsan_daemon(void)
{
#if defined(__SANITIZE_THREAD__)
	return 1;
#else
	return getenv("SLABD_TEST_DAEMON") && *getenv("SLABD_TEST_DAEMON");
#endif
}

static int launch(struct test_daemon *td, const char *conf_text, const char *const *sets,
		  int again);

static int start(struct test_daemon *td, const char *conf_text, const char *const *sets)
{
	memset(td, 0, sizeof(*td));
	snprintf(td->dir, sizeof(td->dir), "/tmp/slabd-test-XXXXXX");
	if (!mkdtemp(td->dir))
		return -1;
	snprintf(td->sock, sizeof(td->sock), "%s/slabd.sock", td->dir);
	snprintf(td->log, sizeof(td->log), "%s/slabd.log", td->dir);
	return launch(td, conf_text, sets, 0);
}

int td_restart(struct test_daemon *td, const char *const *sets)
{
	char conf[200];

	if (td->pid > 0)
		return -1;
	mkdir(td->dir, 0700); /* a clean td_stop removed it */
	snprintf(conf, sizeof(conf), "%s/slabd.conf", td->dir);
	return launch(td, access(conf, F_OK) == 0 ? "" : NULL, sets, 1);
}

int td_kill(struct test_daemon *td)
{
	int status;

	if (td->pid <= 0 || kill(td->pid, SIGKILL) < 0 || waitpid(td->pid, &status, 0) != td->pid)
		return -1;
	td->pid = 0;
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? 0 : -1;
}

/* Start slabd for @td; @again: a restart in the same directory (log appended, the
 * config file, if any, as it is: @conf_text non-NULL only says there is one). */
static int launch(struct test_daemon *td, const char *conf_text, const char *const *sets, int again)
{
	const char *argv[64];
	char conf[200];
	int argc = 0, i, fd;

	/* SLABD_TEST_VALGRIND=1: the daemon runs under memcheck; any error it finds makes
	 * slabd exit 99, which td_stop reports as an unclean stop. */
	if (getenv("SLABD_TEST_VALGRIND") && *getenv("SLABD_TEST_VALGRIND") == '1') {
		argv[argc++] = "valgrind";
		argv[argc++] = "--error-exitcode=99";
		argv[argc++] = "--leak-check=no";
		argv[argc++] = "--quiet";
	}
	/* SLABD_TEST_DAEMON=PATH: run that slabd instead (the ThreadSanitizer build's, from
	 * .ci/run). A TSan daemon maps its region where the kernel likes (base_address=0):
	 * TSan's shadow layout has no room for application mappings at the default base. */
	if (getenv("SLABD_TEST_DAEMON") && *getenv("SLABD_TEST_DAEMON"))
		argv[argc++] = getenv("SLABD_TEST_DAEMON");
	else
		argv[argc++] = SLABD_BIN;
	if (tsan_daemon()) {
		argv[argc++] = "--set";
		argv[argc++] = "base_address=0";
	}
	argv[argc++] = "--foreground";
	argv[argc++] = "--socket";
	argv[argc++] = td->sock;
	argv[argc++] = "--set";
	argv[argc++] = "zone_size=64M";
	argv[argc++] = "--set";
	argv[argc++] = "log_level=debug";
	/* Hugepages only where a test asks: parallel tests must not take each other's. */
	argv[argc++] = "--set";
	argv[argc++] = "hugepages=off";
	if (conf_text) {
		FILE *f;
		snprintf(conf, sizeof(conf), "%s/slabd.conf", td->dir);
		f = again ? NULL : fopen(conf, "we");
		if (!again && (!f || fputs(conf_text, f) < 0 || fclose(f) != 0))
			return -1;
		argv[argc++] = "--config";
		argv[argc++] = conf;
	}
	for (i = 0; sets && sets[i] && argc < 60; i++) {
		argv[argc++] = "--set";
		argv[argc++] = sets[i];
	}
	argv[argc] = NULL;

	td->pid = fork();
	if (td->pid < 0)
		return -1;
	if (td->pid == 0) {
		/* the daemon must not outlive a test process that crashed or was killed */
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* even if the test had stopped it */
		if (getppid() == 1)
			_exit(127);
		fd = open(td->log, O_WRONLY | O_CREAT | (again ? O_APPEND : O_TRUNC) | O_CLOEXEC,
			  0644);
		if (fd >= 0) {
			dup2(fd, 2);
			dup2(fd, 1);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (i = 0; i < 3000; i++) { /* up to 30 s (valgrind starts slowly) */
		if (can_connect(td->sock))
			return 0;
		if (!td_alive(td))
			break;
		sleep_ms(10);
	}
	td_dump_log(td);
	if (td_alive(td))
		td_stop(td);
	else
		td->pid = 0; /* reaped by td_alive: a restart may be tried again */
	return -1;
}

int td_start(struct test_daemon *td, const char *const *sets)
{
	return start(td, NULL, sets);
}

int td_start_conf(struct test_daemon *td, const char *conf_text, const char *const *sets)
{
	return start(td, conf_text, sets);
}

int td_set_conf(const struct test_daemon *td, const char *conf_text)
{
	char conf[200];
	FILE *f;

	snprintf(conf, sizeof(conf), "%s/slabd.conf", td->dir);
	f = fopen(conf, "we");
	if (!f)
		return -1;
	if (fputs(conf_text, f) < 0) {
		fclose(f);
		return -1;
	}
	return fclose(f) == 0 ? 0 : -1;
}

int td_alive(const struct test_daemon *td)
{
	int status;
	return td->pid > 0 && waitpid(td->pid, &status, WNOHANG) == 0;
}

int td_stop(struct test_daemon *td)
{
	int status = 0, i;
	pid_t r = 0;

	if (td->pid <= 0)
		return -1;
	kill(td->pid, SIGTERM);
	for (i = 0; i < 3000; i++) { /* up to 30 s (valgrind) */
		r = waitpid(td->pid, &status, WNOHANG);
		if (r != 0)
			break;
		sleep_ms(10);
	}
	if (r == 0) {
		kill(td->pid, SIGKILL);
		waitpid(td->pid, &status, 0);
		td->pid = 0;
		return -1;
	}
	td->pid = 0;
	if (r < 0 || !WIFEXITED(status)) {
		fprintf(stderr, "slabd %s\n", WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "vanished");
		td_dump_log(td);
		return -1;
	}
	if (WEXITSTATUS(status) == 0) {
		/* clean stop: nothing worth keeping */
		char conf[200];
		snprintf(conf, sizeof(conf), "%s/slabd.conf", td->dir);
		unlink(conf);
		unlink(td->log);
		rmdir(td->dir);
	}
	return WEXITSTATUS(status);
}

int td_log_contains(const struct test_daemon *td, const char *needle)
{
	char buf[1 << 16];
	FILE *f = fopen(td->log, "re");
	size_t n;
	int found;

	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	found = strstr(buf, needle) != NULL;
	return found;
}

void td_dump_log(const struct test_daemon *td)
{
	char buf[4096];
	FILE *f = fopen(td->log, "re");
	size_t n;

	if (!f)
		return;
	fprintf(stderr, "---- slabd log (%s) ----\n", td->log);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fprintf(stderr, "---- end of log ----\n");
	fclose(f);
}

static const char *hp_path = "/proc/sys/vm/nr_hugepages";

static long read_long(const char *path)
{
	FILE *f = fopen(path, "re");
	long v = -1;
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "we");
	int r;
	if (!f)
		return -1;
	r = fprintf(f, "%ld\n", v) > 0 ? 0 : -1;
	if (fclose(f) != 0)
		r = -1;
	return r;
}

long td_hugepages_free(void)
{
	return read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
}

long td_hugepages_reserve(long n)
{
	long prev = read_long(hp_path);

	if (prev < 0 || geteuid() != 0)
		return -1;
	if (write_long(hp_path, prev + n) < 0)
		return -1;
	return prev;
}

void td_hugepages_restore(long prev)
{
	if (prev >= 0)
		write_long(hp_path, prev);
}

int td_request(const struct test_daemon *td, const void *req, size_t len, void *rep, size_t rep_len, int want)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), type;
	ssize_t n;

	if (strlen(td->sock) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "td_request: socket path too long: %s\n", td->sock);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	memcpy(sa.sun_path, td->sock, strlen(td->sock) + 1);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "td_request: connect %s: %s\n", td->sock, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (send(fd, req, len, 0) != (ssize_t)len) {
		fprintf(stderr, "td_request: send: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	n = recv(fd, rep, rep_len, 0);
	close(fd);
	type = n > 0 ? slabd_wire_validate(rep, (size_t)n) : -EBADMSG;
	if (type != want) {
		fprintf(stderr, "td_request: reply of %zd bytes is not of type %d (%d)\n", n, want, type);
		return -1;
	}
	return 0;
}

int td_verify(const struct test_daemon *td, uint32_t flags, struct slabd_wire_verify *ret)
{
	struct slabd_wire_verify_req q;

	memset(&q, 0, sizeof(q));
	slabd_wire_init(&q.hdr, SLABD_MSG_VERIFY, sizeof(q), 1);
	q.flags = flags;
	return td_request(td, &q, sizeof(q), ret, sizeof(*ret), SLABD_MSG_VERIFY_REPLY);
}

int td_debug(const struct test_daemon *td, uint32_t cache, uint32_t op, uint32_t flags, struct slabd_wire_debug *ret)
{
	struct slabd_wire_debug_req q;

	memset(&q, 0, sizeof(q));
	memset(ret, 0, sizeof(*ret));
	slabd_wire_init(&q.hdr, SLABD_MSG_DEBUG, sizeof(q), 1);
	q.op = op;
	q.cache = cache;
	q.flags = flags;
	return td_request(td, &q, sizeof(q), ret, sizeof(*ret), SLABD_MSG_DEBUG_REPLY);
}
