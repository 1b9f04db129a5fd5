/* SPDX-License-Identifier: MIT */
/*
 * daemon_helper.h - run a real slabd for a test: a private temp directory, its own
 * socket, its log in a file, stopped with SIGTERM and its exit status checked.
 */
#ifndef SLABD_TEST_DAEMON_HELPER_H
#define SLABD_TEST_DAEMON_HELPER_H

#include <stdint.h>
#include <sys/types.h>

struct test_daemon {
	pid_t pid;
	char dir[128];
	char sock[160];
	char log[160];
};

/* td_start: start slabd with "--set" options @sets (NULL-terminated, may be NULL) and
 * wait until its socket accepts connections. Returns 0 or -1 (the log says why). */
int td_start(struct test_daemon *td, const char *const *sets);
/* td_start_conf: the same with a config file of @conf_text (--config DIR/slabd.conf,
 * before the --set options); td_set_conf rewrites it (then SIGHUP the daemon to reload). */
int td_start_conf(struct test_daemon *td, const char *conf_text, const char *const *sets);
int td_set_conf(const struct test_daemon *td, const char *conf_text);
/* td_stop: SIGTERM, wait; returns the daemon's exit status (0 for a clean stop), or -1
 * when it had died before (signal) or did not stop within 30 s. */
int td_stop(struct test_daemon *td);
/* td_kill: SIGKILL the daemon and reap it; 0 when it died of that signal. */
int td_kill(struct test_daemon *td);
/* td_restart: start slabd again for a killed or stopped @td: same directory (made again
 * after a clean td_stop removed it), socket,
 * config file and log (appended), with --set options @sets. 0 or -1 as td_start (a
 * daemon that refuses to start is reaped: td->pid is 0 and td_log_contains tells why). */
int td_restart(struct test_daemon *td, const char *const *sets);
/* td_alive: the daemon process still runs. */
int td_alive(const struct test_daemon *td);
/* td_log_contains: the daemon's log has @needle. */
int td_log_contains(const struct test_daemon *td, const char *needle);
/* td_dump_log: copy the daemon's log to stderr (for failing tests). */
void td_dump_log(const struct test_daemon *td);

/* td_request: send @req (@len bytes) on a connection of its own, as slabctl does, and
 * receive the reply into @rep: 0 when it is a valid message of type @want, else -1 (the
 * reason on stderr). */
int td_request(const struct test_daemon *td, const void *req, size_t len, void *rep, size_t rep_len, int want);

struct slabd_wire_debug;
/* td_debug: a DEBUG request (slabctl debug): @op on @cache (SLABD_DEBUG_ALL_CACHES: all)
 * with @flags; 0 with *ret filled, or -1 as td_request. */
int td_debug(const struct test_daemon *td, uint32_t cache, uint32_t op, uint32_t flags, struct slabd_wire_debug *ret);

struct slabd_wire_verify;
/* td_verify: ask the daemon for its VERIFY reply (@flags: SLABD_VERIFY_AUDIT for the full
 * audit) over a connection of its own. 0 with *ret filled (its err is the daemon's), or
 * -1 when the request could not be made or the reply was not a valid VERIFY_REPLY (the
 * reason on stderr). */
int td_verify(const struct test_daemon *td, uint32_t flags, struct slabd_wire_verify *ret);

/* Reserve @n 2 MiB hugepages (as root); returns the previous count, or -1 when this
 * process cannot change it. td_hugepages_restore puts the previous count back. */
long td_hugepages_reserve(long n);
void td_hugepages_restore(long prev);
long td_hugepages_free(void);

#endif
