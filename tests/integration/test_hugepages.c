/* SPDX-License-Identifier: MIT */
/*
 * test_hugepages.c - the same work on hugetlb-backed zones. As root the test reserves
 * the 2 MiB pages it needs and puts the previous count back afterwards; without root,
 * or when the kernel cannot find the pages, it says what it skipped.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "daemon_helper.h"

static long prev_hugepages = -1;

/* Put the machine's reservation back even when an assertion ended the test early. */
static void restore(void)
{
	td_hugepages_restore(prev_hugepages);
	prev_hugepages = -1;
}

Test(hugepages, zones_are_hugetlb_backed_and_shared_across_fork, .timeout = 120, .fini = restore)
{
	static const char *const sets[] = { "hugepages=on", "zone_size=32M", NULL };
	struct test_daemon td;
	struct slabd_attach_info ai;
	int i, status;
	pid_t pid;
	void *objs[1000];

	prev_hugepages = td_hugepages_reserve(24);
	if (prev_hugepages < 0)
		cr_skip_test("cannot reserve hugepages (not root?): hugetlb backing not tested");
	if (td_hugepages_free() < 16) {
		cr_skip_test("the kernel found only %ld free hugepages: hugetlb backing not tested",
			     td_hugepages_free());
	}
	cr_assert_eq(td_start(&td, sets), 0, "slabd with hugepages=on did not start");
	cr_assert(td_log_contains(&td, "backing: hugetlb-2M"));
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
	cr_assert_eq(slabd_attach_info(&ai), 0);
	cr_assert_eq(ai.backing, 2, "backing %u", ai.backing);
	for (i = 0; i < 1000; i++) {
		objs[i] = kmalloc(200, GFP_KERNEL);
		cr_assert_not_null(objs[i]);
		memset(objs[i], i & 0xff, 200);
	}
	pid = fork();
	if (pid == 0) {
		for (i = 0; i < 1000; i++) {
			if (((unsigned char *)objs[i])[199] != (i & 0xff))
				_exit(1);
			kfree(objs[i]);
		}
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child could not use or free the objects");
	cr_assert_eq(td_stop(&td), 0);
}

Test(hugepages, hugepages_on_without_reservation_fails_with_advice, .timeout = 60)
{
	static const char *const sets[] = { "hugepages=on", "zone_size=64G", NULL };
	struct test_daemon td;

	/* 64 GiB of hugepages are never free here: the daemon must refuse and say why */
	cr_assert_neq(td_start(&td, sets), 0, "slabd started without the hugepages it was told to use");
	cr_assert(td_log_contains(&td, "nr_hugepages"), "no advice on reserving hugepages in the log");
}
