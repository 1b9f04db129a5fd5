/* SPDX-License-Identifier: MIT */
/*
 * notify.h - what slabd says to (and takes from) a service manager, without libsystemd:
 * the sd_notify datagrams on $NOTIFY_SOCKET, the watchdog interval from $WATCHDOG_USEC,
 * and socket activation from $LISTEN_FDS/$LISTEN_PID. Without those variables every
 * call here is a no-op, so slabd runs the same with or without systemd.
 */
#ifndef SLABD_DAEMON_NOTIFY_H
#define SLABD_DAEMON_NOTIFY_H

#include <stdint.h>

/* notify_init: read (and unset) NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID. Call once,
 * in the process that will send (before fork: WATCHDOG_PID names the main process).
 * 0, or -errno when NOTIFY_SOCKET is set but unusable (logged; the daemon runs on). */
int notify_init(void);
/* notify_send: one datagram of "KEY=VALUE\n..." lines (printf format); 0, or -errno;
 * 0 without a notify socket. Thread-safe (one sendto). */
int notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* notify_active: there is a notify socket to talk to. */
int notify_active(void);
/* notify_watchdog_usec: the interval at which WATCHDOG=1 must arrive, 0: no watchdog. */
uint64_t notify_watchdog_usec(void);
/* notify_listen_fd: socket activation. Returns the passed listening socket (fd 3, made
 * non-blocking and close-on-exec) when LISTEN_PID is this process and LISTEN_FDS >= 1;
 * -ENOENT when nothing was passed; -EINVAL (logged) when fd 3 is not a listening
 * AF_UNIX SOCK_SEQPACKET socket. Unsets LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES. */
int notify_listen_fd(void);

/* The service manager's file descriptor store (FileDescriptorStoreMax=): the region's
 * segments are handed to it with FDSTORE=1 and FDNAME=slabd-<segment>, and come back
 * after a restart in LISTEN_FDS with those names in LISTEN_FDNAMES (notify_listen_fd
 * sorts them out: a socket-activated socket may come with them, or not). */
#define NOTIFY_STORED 4 /* meta, percpu, zones, slabs */
const char *notify_stored_name(int i);
/* notify_stored_fds: the passed-back descriptors in that order (-1: not passed); how
 * many were passed. */
int notify_stored_fds(int ret_fds[NOTIFY_STORED]);
/* notify_fdstore: hand segment @i's descriptor @fd to the fd store; 0 (also without a
 * notify socket) or -errno (logged). */
int notify_fdstore(int i, int fd);

#endif
