/* SPDX-License-Identifier: MIT */
/*
 * notify.c - see notify.h. The protocol (systemd's sd_notify(3), sd_listen_fds(3)):
 *
 *   NOTIFY_SOCKET   an AF_UNIX datagram socket: a path, or an abstract name written
 *                   with a leading '@' (sent as a leading NUL byte, no terminator).
 *                   Each datagram is newline-separated KEY=VALUE assignments.
 *   WATCHDOG_USEC   send WATCHDOG=1 more often than this (we use half of it), if
 *                   WATCHDOG_PID is unset or ours.
 *   LISTEN_PID      our pid: the LISTEN_FDS descriptors from 3 on are for us.
 *
 * The variables are unset once read, so nothing slabd might start inherits them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"

#define LISTEN_FDS_START 3

static int notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t notify_addr_len;
static uint64_t watchdog_usec;

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || s[0] == '-')
		return -EINVAL;
	*ret = v;
	return 0;
}

int notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	const char *wd = getenv("WATCHDOG_USEC"), *wd_pid = getenv("WATCHDOG_PID");
	uint64_t v, pid;
	size_t len;
	int r = 0;

	if (wd && parse_u64(wd, &v) == 0 && v > 0 &&
	    (!wd_pid || (parse_u64(wd_pid, &pid) == 0 && pid == (uint64_t)getpid())))
		watchdog_usec = v;
	else if (wd)
		log_warn("ignoring WATCHDOG_USEC=%s (WATCHDOG_PID=%s, we are %d)", wd,
			 wd_pid ? wd_pid : "unset", (int)getpid());

	if (path) {
		len = strlen(path);
		if ((path[0] != '/' && path[0] != '@') || len < 2 ||
		    len >= sizeof(notify_addr.sun_path)) {
			log_warn("NOTIFY_SOCKET=%s is not an absolute path or @abstract name: not "
				 "notifying",
				 path);
			r = -EINVAL;
		} else {
			memset(&notify_addr, 0, sizeof(notify_addr));
			notify_addr.sun_family = AF_UNIX;
			memcpy(notify_addr.sun_path, path, len);
			if (path[0] == '@')
				notify_addr.sun_path[0] =
				    0; /* abstract: no terminating NUL counted */
			notify_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
						      (path[0] == '/' ? 1 : 0));
			notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
			if (notify_fd < 0) {
				r = -errno;
				log_warn("cannot create the notify socket: %s", strerror(errno));
			}
		}
	}
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	return r;
}

int notify_send(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	if (notify_fd < 0)
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= sizeof(buf))
		n = (int)sizeof(buf) - 1;
	if (sendto(notify_fd, buf, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&notify_addr,
		   notify_addr_len) < 0) {
		int err = errno;
		static int warned;
		if (!warned++)
			log_warn("cannot notify the service manager: %s", strerror(err));
		return -err;
	}
	return 0;
}

int notify_active(void)
{
	return notify_fd >= 0;
}

uint64_t notify_watchdog_usec(void)
{
	return watchdog_usec;
}

/* The region's segments handed back by the service manager's fd store (names below). */
static const char *const stored_names[NOTIFY_STORED] = {"slabd-meta", "slabd-percpu", "slabd-zones",
							"slabd-slabs"};
static int stored_fds[NOTIFY_STORED] = {-1, -1, -1, -1};

const char *notify_stored_name(int i)
{
	return i >= 0 && i < NOTIFY_STORED ? stored_names[i] : NULL;
}

int notify_stored_fds(int ret_fds[NOTIFY_STORED])
{
	int i, n = 0;

	for (i = 0; i < NOTIFY_STORED; i++) {
		ret_fds[i] = stored_fds[i];
		n += stored_fds[i] >= 0;
	}
	return n;
}

int notify_fdstore(int i, int fd)
{
	char buf[64], cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *cm;
	int n;

	if (notify_fd < 0 || i < 0 || i >= NOTIFY_STORED)
		return 0;
	n = snprintf(buf, sizeof(buf), "FDSTORE=1\nFDNAME=%s", stored_names[i]);
	iov.iov_base = buf;
	iov.iov_len = (size_t)n;
	memset(&mh, 0, sizeof(mh));
	memset(cbuf, 0, sizeof(cbuf));
	mh.msg_name = &notify_addr;
	mh.msg_namelen = notify_addr_len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(notify_fd, &mh, MSG_NOSIGNAL) < 0) {
		int err = errno;
		log_warn("cannot hand %s to the service manager's fd store: %s", stored_names[i],
			 strerror(err));
		return -err;
	}
	return 0;
}

/* Name @i (0-based) of the colon-separated LISTEN_FDNAMES @names, into @buf. */
static void fd_name(const char *names, uint64_t i, char *buf, size_t len)
{
	const char *p = names;

	buf[0] = 0;
	while (p && i--) {
		p = strchr(p, ':');
		if (p)
			p++;
	}
	if (p) {
		size_t n = strcspn(p, ":");
		if (n >= len)
			n = len - 1;
		memcpy(buf, p, n);
		buf[n] = 0;
	}
}

int notify_listen_fd(void)
{
	const char *fds = getenv("LISTEN_FDS"), *pid = getenv("LISTEN_PID"),
		   *names = getenv("LISTEN_FDNAMES");
	uint64_t nfds, p, i;
	int fd = -1, type = 0, domain = 0, acc = 0, fl, r, k;
	socklen_t l = sizeof(int);
	struct stat st;

	if (!fds || !pid || parse_u64(pid, &p) < 0 || p != (uint64_t)getpid() ||
	    parse_u64(fds, &nfds) < 0 || !nfds) {
		r = -ENOENT;
		goto out;
	}
	/* the fd store's descriptors by name; the first other one is the socket */
	for (i = 0; i < nfds && i < 1024; i++) {
		char name[64];
		int f = LISTEN_FDS_START + (int)i;

		fd_name(names, i, name, sizeof(name));
		for (k = 0; k < NOTIFY_STORED && strcmp(name, stored_names[k]); k++)
			;
		if (k < NOTIFY_STORED && stored_fds[k] < 0) {
			stored_fds[k] = f;
			fcntl(f, F_SETFD, FD_CLOEXEC);
		} else if (fd < 0 && k == NOTIFY_STORED) {
			fd = f;
		} else {
			log_warn(
			    "socket activation passed fd %d (%s) that slabd does not use; closed",
			    f, name[0] ? name : "no name");
			close(f);
		}
	}
	if (fd < 0) {
		r = -ENOENT; /* only stored descriptors: slabd binds its socket itself */
		goto out;
	}
	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l) < 0 || domain != AF_UNIX ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0 || type != SOCK_SEQPACKET ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) < 0 || !acc) {
		log_err("socket activation: fd %d is not a listening AF_UNIX SOCK_SEQPACKET "
			"socket; use "
			"ListenSequentialPacket= in slabd.socket",
			fd);
		r = -EINVAL;
		goto out;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		r = -errno;
		log_err("socket activation: cannot set up fd %d: %s", fd, strerror(errno));
		goto out;
	}
	r = fd;
out:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return r;
}
