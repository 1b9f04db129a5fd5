/* SPDX-License-Identifier: MIT */
/*
 * test_wire.c - bad messages to a live daemon: truncated, oversized, of an unknown type or
 * wire version, replies sent as requests, requests out of order (before HELLO, a second
 * HELLO), floods of them, descriptors nobody asked for. Each gets an ERROR reply with the
 * right errno and the request's seq; the connection stays usable; the daemon keeps serving
 * other clients throughout (test_protocol.c covers the layout-version refusal). And what
 * a client holds besides messages: the memfds cannot be resized, the metadata mapping
 * faults on a write.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
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
	cr_expect_eq(td_stop(&td), 0, "slabd did not stop cleanly");
}

TestSuite(wire, .init = up, .fini = down, .timeout = 120);

union reply {
	struct slabd_wire_hdr h;
	struct slabd_wire_error e;
	struct slabd_wire_attach a;
	struct slabd_wire_stats st;
	struct slabd_wire_cache_reply cr;
	char raw[SLABD_WIRE_MAX];
};

static int raw_connect(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, td.sock);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Receive one reply, close any descriptors, return its validated type. */
static int recv_reply(int fd, union reply *rep)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = {rep, sizeof(*rep)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *cm;
	ssize_t n = recvmsg(fd, &mh, 0);

	cr_assert_gt(n, 0, "no reply (daemon gone?)");
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int)), i, f;
		for (i = 0; i < k; i++) {
			memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			close(f);
		}
	}
	return slabd_wire_validate(rep, (size_t)n);
}

static int roundtrip(int fd, const void *msg, size_t len, union reply *rep)
{
	cr_assert_eq(send(fd, msg, len, 0), (ssize_t)len);
	return recv_reply(fd, rep);
}

/* Expect an ERROR with @err (and @seq when >= 0) in answer to @len bytes at @msg. */
static void expect_error(int fd, const void *msg, size_t len, int err, long seq, const char *what)
{
	union reply rep;
	int type = roundtrip(fd, msg, len, &rep);

	cr_assert_eq(type, SLABD_MSG_ERROR, "%s: reply type %d", what, type);
	cr_assert_eq(rep.e.err, err, "%s: err %d, expected %d (%s)", what, rep.e.err, err,
		     rep.e.msg);
	cr_assert_gt(strlen(rep.e.msg), 10, "%s: the error says nothing", what);
	if (seq >= 0)
		cr_assert_eq(rep.e.hdr.seq, (uint32_t)seq, "%s: seq not echoed", what);
}

static void hello(int fd, uint32_t seq)
{
	struct slabd_wire_hello h;
	union reply rep;

	slabd_wire_init(&h.hdr, SLABD_MSG_HELLO, sizeof(h), seq);
	h.layout_version = SLABD_SHM_LAYOUT_VERSION;
	h.pid = (uint32_t)getpid();
	cr_assert_eq(roundtrip(fd, &h, sizeof(h), &rep), SLABD_MSG_ATTACH);
	cr_assert_eq(rep.a.hdr.seq, seq);
}

/* A stats request answered correctly: the connection is still in business. */
static void expect_serving(int fd)
{
	struct slabd_wire_stats_req q;
	union reply rep;

	slabd_wire_init(&q.hdr, SLABD_MSG_STATS, sizeof(q), 4242);
	q.cache = 0;
	cr_assert_eq(roundtrip(fd, &q, sizeof(q), &rep), SLABD_MSG_STATS_REPLY);
	cr_assert_eq(rep.st.err, 0);
	cr_assert_eq(rep.st.hdr.seq, 4242);
}

/* A client in another process allocating and freeing until told to stop; it exits 0
 * when every allocation succeeded and every pattern it wrote read back intact. */
static pid_t busy_client(void)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		unsigned long *v[64];
		long i;
		if (slabd_connect(td.sock) < 0)
			_exit(3);
		for (i = 0;; i++) {
			int k = (int)(i % 64);
			if (i >= 64) {
				if (*v[k] != (unsigned long)(i - 64))
					_exit(2);
				kfree(v[k]);
			}
			v[k] = kmalloc(8 + (size_t)(i % 500), GFP_KERNEL);
			if (!v[k])
				_exit(1);
			*v[k] = (unsigned long)i;
			if (i % 4096 == 0 && getppid() == 1)
				_exit(4);
		}
	}
	return pid;
}

static int stop_client(pid_t pid)
{
	int status;

	/* the child loops forever: SIGTERM is its only way out; it must still be running */
	if (waitpid(pid, &status, WNOHANG) != 0)
		return WIFEXITED(status) ? 100 + WEXITSTATUS(status) : -1;
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM ? 0 : -1;
}

Test(wire, truncated_oversized_unknown_and_foreign_messages_get_errors)
{
	int fd = raw_connect();
	pid_t other = busy_client();
	struct slabd_wire_hello h;
	struct slabd_wire_stats_req q;
	struct slabd_wire_attach at;
	char big[SLABD_WIRE_MAX + 200];
	size_t cut;

	slabd_wire_init(&h.hdr, SLABD_MSG_HELLO, sizeof(h), 11);
	h.layout_version = SLABD_SHM_LAYOUT_VERSION;
	/* truncated at every length: nothing, part of a header, a header, most of a HELLO */
	for (cut = 1; cut < sizeof(h); cut++)
		expect_error(fd, &h, cut, -EBADMSG, cut >= sizeof(struct slabd_wire_hdr) ? 11 : -1,
			     "truncated hello");
	/* a stats request cut short and one padded out */
	slabd_wire_init(&q.hdr, SLABD_MSG_STATS, sizeof(q), 12);
	expect_error(fd, &q, sizeof(q) - 4, -EBADMSG, 12, "short stats");
	memset(big, 0, sizeof(big));
	memcpy(big, &q, sizeof(q));
	expect_error(fd, big, sizeof(q) + 8, -EBADMSG, 12, "padded stats");
	/* oversized: larger than any message (the daemon sees the truncation) */
	memset(big, 0x5a, sizeof(big));
	memcpy(big, &q, sizeof(q));
	expect_error(fd, big, sizeof(big), -EMSGSIZE, 12, "oversized");
	/* unknown types, with a length that matches the header */
	q.hdr.type = 99;
	expect_error(fd, &q, sizeof(q), -EBADMSG, 12, "type 99");
	q.hdr.type = 0;
	expect_error(fd, &q, sizeof(q), -EBADMSG, 12, "type 0");
	/* another wire version, a bad magic */
	slabd_wire_init(&q.hdr, SLABD_MSG_STATS, sizeof(q), 13);
	q.hdr.version = SLABD_WIRE_VERSION + 1;
	expect_error(fd, &q, sizeof(q), -EPROTO, 13, "wire version");
	slabd_wire_init(&q.hdr, SLABD_MSG_STATS, sizeof(q), 14);
	q.hdr.magic = 0x12345678;
	expect_error(fd, &q, sizeof(q), -EBADMSG, 14, "magic");
	/* a reply type sent to the daemon */
	slabd_wire_init(&at.hdr, SLABD_MSG_ATTACH, sizeof(at), 15);
	expect_error(fd, &at, sizeof(at), -EOPNOTSUPP, 15, "attach sent as a request");

	/* after all that, the same connection attaches and is served */
	hello(fd, 16);
	expect_serving(fd);
	close(fd);

	cr_assert(td_alive(&td));
	cr_assert_eq(stop_client(other), 0,
		     "the other client failed while the bad messages came in");
	cr_assert(td_log_contains(&td, "malformed message"),
		  "the daemon did not log the bad messages");
}

Test(wire, requests_out_of_order_are_refused_and_the_connection_goes_on)
{
	int fd = raw_connect();
	struct slabd_wire_large_alloc la;
	struct slabd_wire_cache_create cc;
	struct slabd_wire_cache_op op;
	struct slabd_wire_hello h;
	union reply rep;

	/* before HELLO */
	slabd_wire_init(&la.hdr, SLABD_MSG_LARGE_ALLOC, sizeof(la), 21);
	la.size = 1 << 20;
	la.node = -1;
	expect_error(fd, &la, sizeof(la), -ENOTCONN, 21, "large alloc before hello");
	slabd_wire_init(&cc.hdr, SLABD_MSG_CACHE_CREATE, sizeof(cc), 22);
	strcpy(cc.name, "early-bird");
	cc.size = 100;
	expect_error(fd, &cc, sizeof(cc), -ENOTCONN, 22, "cache create before hello");
	slabd_wire_init(&op.hdr, SLABD_MSG_CACHE_OP, sizeof(op), 23);
	op.op = SLABD_CACHE_OP_DESTROY;
	op.cache = SLABD_FIRST_NAMED_CACHE;
	expect_error(fd, &op, sizeof(op), -ENOTCONN, 23, "destroy before hello");
	/* inspection needs no HELLO */
	expect_serving(fd);

	/* HELLO, then a second HELLO on the same connection */
	hello(fd, 24);
	slabd_wire_init(&h.hdr, SLABD_MSG_HELLO, sizeof(h), 25);
	h.layout_version = SLABD_SHM_LAYOUT_VERSION;
	h.pid = (uint32_t)getpid();
	expect_error(fd, &h, sizeof(h), -EISCONN, 25, "second hello");
	/* the first attachment stands: requests that need it work */
	slabd_wire_init(&cc.hdr, SLABD_MSG_CACHE_CREATE, sizeof(cc), 26);
	strcpy(cc.name, "early-bird");
	cc.size = 100;
	cr_assert_eq(roundtrip(fd, &cc, sizeof(cc), &rep), SLABD_MSG_CACHE_REPLY);
	cr_assert_eq(rep.cr.err, 0, "cache create after hello: %d", rep.cr.err);
	cr_assert_geq(rep.cr.cache, SLABD_FIRST_NAMED_CACHE);
	close(fd);
	cr_assert(td_log_contains(&td, "HELLO once per connection") ||
		  td_log_contains(&td, "refused"));
}

Test(wire, floods_unread_replies_and_stray_descriptors_do_not_stop_the_daemon)
{
	pid_t other = busy_client();
	char junk[64];
	int fd, i, k, pipefd[2];

	/* 1. a flood of garbage whose replies are never read, then a hangup */
	fd = raw_connect();
	memset(junk, 0xee, sizeof(junk));
	for (i = 0; i < 5000; i++)
		if (send(fd, junk, (size_t)(i % 64) + 1, MSG_DONTWAIT) < 0)
			break;
	close(fd);

	/* 2. descriptors sent along with a message: the daemon closes them */
	cr_assert_eq(pipe(pipefd), 0);
	fd = raw_connect();
	{
		char cbuf[CMSG_SPACE(sizeof(int) * 2)];
		struct iovec iov = {junk, 20};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf)};
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		union reply rep;
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * 2);
		memcpy(CMSG_DATA(cm), pipefd, sizeof(pipefd));
		cr_assert_eq(sendmsg(fd, &mh, 0), 20);
		cr_assert_eq(recv_reply(fd, &rep), SLABD_MSG_ERROR);
		close(pipefd[0]);
		/* the daemon kept no copy of the read end: the write end now sees EPIPE */
		signal(SIGPIPE, SIG_IGN);
		cr_assert_eq(write(pipefd[1], "x", 1), -1,
			     "the daemon kept the descriptor it was sent");
		cr_assert_eq(errno, EPIPE);
		close(pipefd[1]);
	}
	expect_serving(fd);
	close(fd);

	/* 3. many connections at once, each sending one bad message and leaving */
	for (k = 0; k < 200; k++) {
		fd = raw_connect();
		send(fd, junk, (size_t)(k % 40) + 1, 0);
		close(fd);
	}

	cr_assert(td_alive(&td));
	fd = raw_connect();
	hello(fd, 1);
	expect_serving(fd);
	close(fd);
	cr_assert_eq(stop_client(other), 0, "the other client failed during the floods");
}

/* HELLO on a raw connection, keeping the three descriptors. */
static void hello_fds(int fd, int fds[3])
{
	char cbuf[CMSG_SPACE(sizeof(int) * 4)];
	struct slabd_wire_hello h;
	union reply rep;
	struct iovec iov = {&rep, sizeof(rep)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *cm;

	slabd_wire_init(&h.hdr, SLABD_MSG_HELLO, sizeof(h), 1);
	h.layout_version = SLABD_SHM_LAYOUT_VERSION;
	cr_assert_eq(send(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	cr_assert_gt(recvmsg(fd, &mh, 0), 0);
	cm = CMSG_FIRSTHDR(&mh);
	cr_assert_not_null(cm);
	cr_assert_eq((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int), 3);
	memcpy(fds, CMSG_DATA(cm), 3 * sizeof(int));
}

static void on_segv(int sig)
{
	(void)sig;
	_exit(42);
}

Test(wire, clients_cannot_resize_the_memfds_nor_write_the_metadata)
{
	int fd = raw_connect(), fds[3], i, status;
	pid_t child;

	hello_fds(fd, fds);
	for (i = 1; i < 3; i++) {
		int seals = fcntl(fds[i], F_GET_SEALS);
		cr_assert_geq(seals, 0);
		cr_assert((seals & (F_SEAL_SHRINK | F_SEAL_GROW)) == (F_SEAL_SHRINK | F_SEAL_GROW),
			  "memfd %d is not sealed against resizing (seals %#x)", i, seals);
		cr_assert_eq(ftruncate(fds[i], 0), -1, "memfd %d could be truncated", i);
		cr_assert_eq(errno, EPERM);
		cr_assert_eq(ftruncate(fds[i], (off_t)1 << 40), -1, "memfd %d could be grown", i);
		cr_assert_eq(errno, EPERM);
	}
	cr_assert_eq(ftruncate(fds[0], 0), -1, "the metadata could be truncated");
	for (i = 0; i < 3; i++)
		close(fds[i]);

	/* a client that writes to the metadata it maps read-only faults (its own SIGSEGV
	 * handler says so: under ASan the default one would exit with 1) */
	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		struct slabd_attach_info ai;
		struct sigaction sa;
		if (slabd_connect(td.sock) < 0 || slabd_attach_info(&ai) < 0)
			_exit(3);
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_segv;
		sigaction(SIGSEGV, &sa, NULL);
		((volatile struct slabd_shm_super *)(uintptr_t)ai.base)->nr_cpus = 0;
		_exit(0);
	}
	cr_assert_eq(waitpid(child, &status, 0), child);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 42,
		  "the write to the metadata did not fault (%#x)", status);

	/* and nothing was harmed */
	cr_assert(td_alive(&td));
	expect_serving(fd);
	close(fd);
	child = busy_client();
	nanosleep(&(struct timespec){0, 100 * 1000000L}, NULL);
	cr_assert_eq(stop_client(child), 0, "a client failed after the attempts");
}
