/* SPDX-License-Identifier: MIT */
/*
 * test_stats.c - what slabctl stats shows of a live daemon: live objects per cache,
 * allocation failures counted per client (except __GFP_NOWARN ones) and reported when
 * the client leaves, valid JSON, and a distinct exit code when no daemon answers.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "daemon_helper.h"

#ifndef SLABCTL_BIN
#error "SLABCTL_BIN must name the slabctl binary"
#endif

static struct test_daemon td;

static void up(void)
{
	static const char *const sets[] = { "zone_size=2M", NULL };
	cr_assert_eq(td_start(&td, sets), 0, "slabd did not start");
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
}

static void down(void)
{
	cr_expect(td_alive(&td), "slabd died during the test");
	cr_expect_eq(td_stop(&td), 0);
}

TestSuite(stats, .init = up, .fini = down, .timeout = 60);

/* Run slabctl with @args against the test daemon; its output in @out, its exit code back. */
static int slabctl(const char *args, char *out, size_t len)
{
	char cmd[512];
	size_t n = 0;
	FILE *f;
	int st;

	snprintf(cmd, sizeof(cmd), "%s --socket %s %s 2>&1", SLABCTL_BIN, td.sock, args);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	while (n + 1 < len && fgets(out + n, (int)(len - n), f))
		n += strlen(out + n);
	out[n] = 0;
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static unsigned long long json_number(const char *json, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	cr_assert_not_null(p, "no %s in %s", key, json);
	return strtoull(p + strlen(pat), NULL, 10);
}

Test(stats, live_objects_and_counted_failures_show_up)
{
	static char out[65536];
	static void *v[600];
	int n = 0, i;

	for (i = 0; i < 100; i++)
		cr_assert_not_null(v[i] = kmalloc(64, GFP_KERNEL));
	cr_assert_eq(slabctl("stats", out, sizeof(out)), 0, "%s", out);
	cr_assert(strstr(out, "kmalloc-64") != NULL, "no kmalloc-64 row:\n%s", out);
	cr_assert(strstr(out, "backing shmem-4K") != NULL, "%s", out);
	for (i = 0; i < 100; i++)
		kfree(v[i]);

	/* fill the zone, then fail three times loudly and twice quietly */
	while (n < 600 && (v[n] = kmalloc(4096, GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN)))
		n++;
	cr_assert_lt(n, 600, "a 2 MiB zone gave 600 objects of 4 KiB");
	for (i = 0; i < 3; i++)
		cr_assert_null(kmalloc(4096, GFP_NOWAIT));
	for (i = 0; i < 2; i++)
		cr_assert_null(kmalloc(4096, GFP_NOWAIT | __GFP_NOWARN));
	cr_assert_eq(slabctl("stats --json", out, sizeof(out)), 0, "%s", out);
	cr_assert_eq(json_number(out, "alloc_failures"), 3, "%s", out);
	cr_assert_eq(json_number(out, "clients"), 1, "%s", out);
	cr_assert_geq(json_number(out, "in_use_bytes"), (unsigned long long)n * 4096, "%s", out);
	cr_assert(strstr(out, "\"name\":\"kmalloc-4k\"") != NULL, "%s", out);
	cr_assert_eq(out[strlen(out) - 2], '}', "the JSON does not end where it should: %s", out);
	for (i = 0; i < n; i++)
		kfree(v[i]);
}

Test(stats, a_client_that_leaves_gets_its_failures_reported)
{
	static char out[65536];
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		/* a fresh client of its own (a fork()ed child is nobody until it registers, and
		 * a request larger than any zone now fails before it talks to the daemon),
		 * failing on purpose: larger than the zone */
		int i;
		if (slabd_connect(td.sock) < 0)
			_exit(2);
		for (i = 0; i < 4; i++)
			if (kmalloc(8 << 20, GFP_NOWAIT))
				_exit(1);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	cr_assert_eq(slabctl("stats --json", out, sizeof(out)), 0, "%s", out);
	cr_assert_geq(json_number(out, "alloc_failures"), 4, "%s", out);
}

Test(stats_nodaemon, slabctl_without_a_daemon_says_how_to_start_one)
{
	static char out[4096];
	char cmd[256];
	FILE *f;
	int st;

	snprintf(cmd, sizeof(cmd), "%s --socket /nonexistent/slabd.sock stats 2>&1", SLABCTL_BIN);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	out[fread(out, 1, sizeof(out) - 1, f)] = 0;
	st = pclose(f);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 3, "exit status %d", st);
	cr_assert(strstr(out, "start it") != NULL, "%s", out);
}
