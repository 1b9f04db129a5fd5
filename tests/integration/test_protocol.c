/* SPDX-License-Identifier: MIT */
/*
 * test_protocol.c - what a bad client gets: a client built against another layout
 * version is refused with a message naming both versions; malformed messages get an
 * error reply; the daemon keeps serving throughout.
 *
 * This binary links the test build of libslabclient that announces layout version 999.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "daemon_helper.h"
#include "slabd_shm.h"
#include "slabd_wire.h"

static struct test_daemon td;

static void up(void)
{
	cr_assert_eq(td_start(&td, NULL), 0, "slabd did not start");
}

static void down(void)
{
	cr_expect(td_alive(&td), "slabd died during the test");
	cr_expect_eq(td_stop(&td), 0);
}

TestSuite(protocol, .init = up, .fini = down, .timeout = 60);

static int raw_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, td.sock);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Send @len bytes, return the reply's type (and copy it to @rep), closing any fds. */
static int roundtrip(int fd, const void *msg, size_t len, void *rep, size_t cap, int *ret_nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = { rep, cap };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	ssize_t n;

	*ret_nfds = 0;
	cr_assert_eq(send(fd, msg, len, 0), (ssize_t)len);
	n = recvmsg(fd, &mh, 0);
	cr_assert_gt(n, 0, "no reply (daemon gone?)");
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int)), i, f;
		for (i = 0; i < k; i++) {
			memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			close(f);
			(*ret_nfds)++;
		}
	}
	return slabd_wire_validate(rep, (size_t)n);
}

Test(protocol, a_client_of_another_layout_version_is_refused_with_a_message)
{
	int r = slabd_connect(td.sock);

	cr_assert_eq(r, -EPROTO, "connect returned %d", r);
	cr_assert(strstr(slabd_last_error(), "layout version") != NULL, "message: %s", slabd_last_error());
	cr_assert(strstr(slabd_last_error(), "999") != NULL, "message: %s", slabd_last_error());
	cr_assert(td_log_contains(&td, "layout version 999"), "the daemon did not log the refusal");
	errno = 0;
	cr_assert_null(kmalloc(64, GFP_KERNEL));
	cr_assert_eq(errno, ENOTCONN);
}

Test(protocol, malformed_messages_get_an_error_and_the_daemon_keeps_serving)
{
	int fd = raw_connect(), nfds, type;
	union {
		struct slabd_wire_error e;
		struct slabd_wire_attach a;
		char raw[SLABD_WIRE_MAX];
	} rep;
	struct slabd_wire_hello h;
	char junk[SLABD_WIRE_MAX + 100];

	memset(junk, 0x41, sizeof(junk));
	type = roundtrip(fd, junk, 7, &rep, sizeof(rep), &nfds);
	cr_assert_eq(type, SLABD_MSG_ERROR);
	cr_assert_eq(rep.e.err, -EBADMSG);
	type = roundtrip(fd, junk, sizeof(junk), &rep, sizeof(rep), &nfds);
	cr_assert_eq(type, SLABD_MSG_ERROR);
	cr_assert_eq(rep.e.err, -EMSGSIZE);
	/* a header that lies about its length */
	slabd_wire_init(&h.hdr, SLABD_MSG_HELLO, sizeof(h), 5);
	h.hdr.len = 9999;
	type = roundtrip(fd, &h, sizeof(h), &rep, sizeof(rep), &nfds);
	cr_assert_eq(type, SLABD_MSG_ERROR);
	cr_assert_eq(rep.e.hdr.seq, 5);
	/* a large allocation before HELLO */
	{
		struct slabd_wire_large_alloc la;
		slabd_wire_init(&la.hdr, SLABD_MSG_LARGE_ALLOC, sizeof(la), 6);
		la.size = 1 << 20;
		la.node = -1;
		type = roundtrip(fd, &la, sizeof(la), &rep, sizeof(rep), &nfds);
		cr_assert_eq(type, SLABD_MSG_ERROR);
		cr_assert_eq(rep.e.err, -ENOTCONN);
	}
	/* and a proper HELLO on the same connection still works */
	slabd_wire_init(&h.hdr, SLABD_MSG_HELLO, sizeof(h), 7);
	h.layout_version = SLABD_SHM_LAYOUT_VERSION;
	h.pid = (uint32_t)getpid();
	type = roundtrip(fd, &h, sizeof(h), &rep, sizeof(rep), &nfds);
	cr_assert_eq(type, SLABD_MSG_ATTACH);
	cr_assert_eq(nfds, 3, "attach carries the three memfds");
	cr_assert_eq(rep.a.layout_version, SLABD_SHM_LAYOUT_VERSION);
	close(fd);
	cr_assert(td_alive(&td));
	cr_assert(td_log_contains(&td, "malformed message"));
}

Test(protocol, the_metadata_segment_cannot_be_written_by_clients)
{
	int fd = raw_connect(), nfds = 0, i, fds[3];
	struct slabd_wire_hello h;
	union {
		struct slabd_wire_attach a;
		char raw[SLABD_WIRE_MAX];
	} rep;
	char cbuf[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = { &rep, sizeof(rep) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;

	slabd_wire_init(&h.hdr, SLABD_MSG_HELLO, sizeof(h), 1);
	h.layout_version = SLABD_SHM_LAYOUT_VERSION;
	cr_assert_eq(send(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	cr_assert_gt(recvmsg(fd, &mh, 0), 0);
	cm = CMSG_FIRSTHDR(&mh);
	cr_assert_not_null(cm);
	nfds = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
	cr_assert_eq(nfds, 3);
	memcpy(fds, CMSG_DATA(cm), sizeof(fds));
	/* meta: a read-only descriptor of a sealed memfd: no writable shared mapping */
	cr_assert_eq(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0), MAP_FAILED);
	cr_assert_neq(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fds[0], 0), MAP_FAILED);
	for (i = 0; i < 3; i++)
		close(fds[i]);
	close(fd);
}

/* A socket that is not slabd's (or a slabd that dies at the HELLO): the peer hangs up
 * without answering. The failure must say so, not leave slabd_last_error() empty. */
/* A listening socket @name in the daemon's directory that is not slabd's, its address in
 * *@sa: the tests below play the peer in a forked child. */
static int fake_peer_listen(const char *name, struct sockaddr_un *sa)
{
	char path[sizeof(td.dir) + 16];
	int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	cr_assert_geq(lfd, 0);
	snprintf(path, sizeof(path), "%s/%s", td.dir, name);
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	cr_assert_lt(strlen(path), sizeof(sa->sun_path));
	memcpy(sa->sun_path, path, strlen(path) + 1);
	cr_assert_eq(bind(lfd, (struct sockaddr *)sa, sizeof(*sa)), 0);
	cr_assert_eq(listen(lfd, 4), 0);
	return lfd;
}

Test(protocol, a_peer_that_hangs_up_at_hello_gets_a_message)
{
	struct sockaddr_un sa;
	char buf[SLABD_WIRE_MAX];
	int lfd = fake_peer_listen("hangup.sock", &sa), st, r;
	pid_t pid;

	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int afd = accept(lfd, NULL, NULL);
		_exit(afd >= 0 && recv(afd, buf, sizeof(buf), 0) > 0 ? 0 : 1);
	}
	close(lfd);
	r = slabd_connect(sa.sun_path);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the peer did not get the HELLO");
	cr_assert_lt(r, 0, "attached to a peer that hung up");
	cr_assert(strstr(slabd_last_error(), sa.sun_path) != NULL, "r %d, message: '%s'", r, slabd_last_error());
	cr_assert(strstr(slabd_last_error(), "closed the connection") != NULL, "r %d, message: '%s'", r,
		  slabd_last_error());
}

/* A slabd of another wire protocol version answers the HELLO with an ERROR in its own
 * version's header (as this slabd does, test_wire.c). The library cannot read that reply,
 * but it must still say what is wrong and what to do: the versions differ, and which. */
Test(protocol, a_daemon_of_another_wire_version_is_named_as_such)
{
	struct sockaddr_un sa;
	char buf[SLABD_WIRE_MAX], want[64];
	int lfd = fake_peer_listen("newer.sock", &sa), st, r;
	pid_t pid;

	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct slabd_wire_error e;
		struct slabd_wire_hdr h;
		int afd = accept(lfd, NULL, NULL);

		if (afd < 0 || recv(afd, buf, sizeof(buf), 0) < (ssize_t)sizeof(h))
			_exit(1);
		memcpy(&h, buf, sizeof(h));
		slabd_wire_init(&e.hdr, SLABD_MSG_ERROR, sizeof(e), h.seq);
		e.hdr.version = SLABD_WIRE_VERSION + 1;
		e.err = -EPROTO;
		snprintf(e.msg, sizeof(e.msg), "slabd refused the message: wire protocol version mismatch");
		_exit(send(afd, &e, sizeof(e), 0) == (ssize_t)sizeof(e) ? 0 : 1);
	}
	close(lfd);
	r = slabd_connect(sa.sun_path);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the peer did not answer the HELLO");
	cr_assert_eq(r, -EPROTO, "r %d, message: '%s'", r, slabd_last_error());
	snprintf(want, sizeof(want), "wire protocol version %u", SLABD_WIRE_VERSION + 1);
	cr_assert(strstr(slabd_last_error(), want) != NULL, "no \"%s\" in '%s'", want, slabd_last_error());
	snprintf(want, sizeof(want), "version %u", SLABD_WIRE_VERSION);
	cr_assert(strstr(slabd_last_error(), want) != NULL, "no \"%s\" in '%s'", want, slabd_last_error());
}
