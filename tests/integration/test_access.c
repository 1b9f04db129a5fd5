/* SPDX-License-Identifier: MIT */
/*
 * test_access.c - allowed_users / allowed_groups: the daemon checks SO_PEERCRED when it
 * accepts a connection. A process of another uid (a forked child that drops to it with
 * setresuid, after the test made the socket reachable) is refused with an ERROR that says
 * why and a log line; a listed user, or a member of a listed group (primary or
 * supplementary), attaches and allocates; the lists reload with SIGHUP. Needs root.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "daemon_helper.h"

static struct test_daemon td;

static void down(void)
{
	cr_expect(td_alive(&td), "slabd died during the test");
	cr_expect_eq(td_stop(&td), 0, "slabd did not stop cleanly");
}

TestSuite(access, .fini = down, .timeout = 60);

#define NOBODY	 65534u
#define STRANGER 4242u /* a uid and gid with no entry in /etc/passwd or /etc/group */

/* Start slabd with @conf, its socket reachable by every user (0666 in a 0755 dir). */
static void up(const char *conf)
{
	int i;

	if (geteuid() != 0)
		cr_skip_test("needs root to run clients as other users");
	cr_assert_eq(td_start_conf(&td, conf, (const char *const[]){"socket_mode=0666", NULL}), 0,
		     "slabd did not start");
	cr_assert_eq(chmod(td.dir, 0755), 0);
	/* the daemon accepts connections a moment before it applies socket_mode */
	for (i = 0; i < 3000; i++) {
		struct stat st;
		if (stat(td.sock, &st) == 0 && (st.st_mode & 0777) == 0666)
			break;
		nanosleep(&(struct timespec){ 0, 10 * 1000000L }, NULL);
	}
	cr_assert_lt(i, 3000, "the socket never got socket_mode 0666");
}

#define ALLOWED 0
#define REFUSED 10

/*
 * As uid @uid, gid @gid and supplementary group @supp (-1: none) in a child: connect and
 * allocate. Exits ALLOWED when the allocation worked, REFUSED when slabd_connect said
 * -EACCES with a message naming the keys, something else otherwise.
 */
static int connect_as(uid_t uid, gid_t gid, long supp)
{
	pid_t pid = fork();
	int status;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		gid_t g = (gid_t)supp;
		int r;
		char *p;
		if (setgroups(supp >= 0 ? 1 : 0, &g) < 0 || setresgid(gid, gid, gid) < 0 ||
		    setresuid(uid, uid, uid) < 0)
			_exit(30);
		r = slabd_connect(td.sock);
		if (r == -EACCES)
			_exit(strstr(slabd_last_error(), "allowed_users") ? REFUSED : 31);
		if (r < 0)
			_exit(32);
		p = kmalloc(200, GFP_KERNEL);
		if (!p)
			_exit(33);
		memset(p, 0x5a, 200);
		kfree(p);
		_exit(ALLOWED);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "the child died of a signal");
	return WEXITSTATUS(status);
}

Test(access, a_user_not_listed_is_refused_with_a_message_and_a_log_line)
{
	up("allowed_users = root\n");
	{
		int r = connect_as(NOBODY, NOBODY, -1);
		cr_assert_eq(r, REFUSED, "nobody was not refused (child exit %d)", r);
	}
	cr_assert_eq(connect_as(STRANGER, STRANGER, -1), REFUSED, "uid 4242 was not refused");
	cr_assert(td_log_contains(&td, "(uid 65534, gid 65534) refused: not in allowed_users"),
		  "the refusal was not logged");
	/* root is listed: it still attaches, and the daemon serves on */
	cr_assert_eq(connect_as(0, 0, -1), ALLOWED);
	cr_assert(td_alive(&td));
}

Test(access, listed_users_by_name_and_by_number_are_allowed)
{
	up("allowed_users = nobody, 4242\n");
	cr_assert_eq(connect_as(NOBODY, NOBODY, -1), ALLOWED, "nobody (by name) was refused");
	cr_assert_eq(connect_as(STRANGER, STRANGER, -1), ALLOWED,
		     "uid 4242 (by number) was refused");
	cr_assert_eq(connect_as(STRANGER + 1, STRANGER + 1, -1), REFUSED, "uid 4243 was let in");
}

Test(access, members_of_a_listed_group_are_allowed_primary_or_supplementary)
{
	up("allowed_groups = nogroup\n");
	cr_assert_eq(connect_as(STRANGER, NOBODY, -1), ALLOWED,
		     "primary group nogroup was refused");
	cr_assert_eq(connect_as(STRANGER, STRANGER, NOBODY), ALLOWED,
		     "supplementary group nogroup was refused");
	cr_assert_eq(connect_as(STRANGER, STRANGER, -1), REFUSED,
		     "a process outside nogroup was let in");
}

Test(access, the_lists_reload_with_sighup)
{
	int i;

	up("allowed_users = root\n");
	cr_assert_eq(connect_as(NOBODY, NOBODY, -1), REFUSED);
	cr_assert_eq(td_set_conf(&td, "allowed_users = root, nobody\n"), 0);
	kill(td.pid, SIGHUP);
	for (i = 0; i < 500 && !td_log_contains(&td, "applied allowed_users"); i++)
		nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
	cr_assert(td_log_contains(&td, "applied allowed_users"),
		  "the reload did not apply the list");
	cr_assert_eq(connect_as(NOBODY, NOBODY, -1), ALLOWED,
		     "nobody still refused after the reload");
	/* and back: an empty list lets anyone in */
	cr_assert_eq(td_set_conf(&td, "allowed_users =\n"), 0);
	kill(td.pid, SIGHUP);
	nanosleep(&(struct timespec){0, 300 * 1000000L}, NULL);
	cr_assert_eq(connect_as(STRANGER, STRANGER, -1), ALLOWED,
		     "an empty list still refused uid 4242");
}
