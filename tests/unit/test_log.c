/* SPDX-License-Identifier: MIT */
/*
 * test_log.c - daemon/log.c: log_warn_limited's budget per call site renews every
 * window, says how many lines the window before did not log, and keeps its running
 * count. The clock is the test's (log_clock_ms), so a window passes without waiting.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "log.h"

static uint64_t fake_now = 1000;

static uint64_t fake_clock(void)
{
	return __atomic_load_n(&fake_now, __ATOMIC_RELAXED);
}

/* stderr (where log_msg writes) goes to a temporary file the test reads back; Criterion
 * runs each test in its own process, so nothing needs restoring. */
static FILE *captured;

static void capture(void)
{
	captured = tmpfile();
	cr_assert_not_null(captured);
	cr_assert_eq(dup2(fileno(captured), STDERR_FILENO), STDERR_FILENO);
	log_clock_ms = fake_clock;
}

/* The whole captured log, NUL-terminated (the caller frees it). */
static char *captured_text(void)
{
	long n;
	char *s;

	fflush(captured);
	n = lseek(fileno(captured), 0, SEEK_END);
	cr_assert_geq(n, 0);
	s = calloc(1, (size_t)n + 1);
	cr_assert_not_null(s);
	cr_assert_eq(pread(fileno(captured), s, (size_t)n, 0), n);
	return s;
}

static unsigned int count_lines(const char *s, const char *needle)
{
	unsigned int n = 0;

	for (; (s = strstr(s, needle)); s += strlen(needle))
		n++;
	return n;
}

/* One call site, as the daemon's warnings are: each test calls it @n times. */
static void site(unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		log_warn_limited("bad offset %#x", 0x40u);
}

Test(log_limited, a_burst_is_cut_after_20_lines_with_the_running_count)
{
	char *s;

	capture();
	site(30);
	s = captured_text();
	cr_expect_eq(count_lines(s, "bad offset 0x40"), 20, "log:\n%s", s);
	cr_expect(strstr(s, "bad offset 0x40 [1 so far]\n"), "log:\n%s", s);
	cr_expect(strstr(s, "bad offset 0x40 [20 so far]\n"), "log:\n%s", s);
	cr_expect_null(strstr(s, "[21 so far]"), "log:\n%s", s);
	free(s);
}

Test(log_limited, the_budget_comes_back_after_a_window_and_says_what_was_not_logged)
{
	char *s;

	capture();
	site(30); /* 20 logged, 10 not */
	__atomic_add_fetch(&fake_now, log_limit_window_ms - 1, __ATOMIC_RELAXED);
	site(1); /* still the same window: not logged */
	s = captured_text();
	cr_assert_eq(count_lines(s, "bad offset 0x40"), 20, "log:\n%s", s);
	free(s);

	/* hours later the problem comes back: a new budget of 20 lines, the first of
	 * which says how many the window before did not log; the count goes on */
	__atomic_add_fetch(&fake_now, 3 * 3600 * 1000ull, __ATOMIC_RELAXED);
	site(25);
	s = captured_text();
	cr_expect_eq(count_lines(s, "bad offset 0x40"), 40, "log:\n%s", s);
	cr_expect(strstr(s, "bad offset 0x40 [32 so far; 11 not logged in the window before]\n"),
		  "log:\n%s", s);
	cr_expect(strstr(s, "bad offset 0x40 [51 so far]\n"), "log:\n%s", s);
	cr_expect_null(strstr(s, "[52 so far"), "log:\n%s", s);
	free(s);
}

Test(log_limited, a_flood_within_a_window_is_logged_one_in_10000)
{
	char *s;

	capture();
	site(25000);
	s = captured_text();
	cr_expect_eq(count_lines(s, "bad offset 0x40"), 22, "log:\n%s", s);
	cr_expect(strstr(s, "[10000 so far]\n"), "log:\n%s", s);
	cr_expect(strstr(s, "[20000 so far]\n"), "log:\n%s", s);
	free(s);

	/* 25000 - 22 were not logged in that window */
	__atomic_add_fetch(&fake_now, log_limit_window_ms, __ATOMIC_RELAXED);
	site(1);
	s = captured_text();
	cr_expect(strstr(s, "[25001 so far; 24978 not logged in the window before]\n"), "log:\n%s", s);
	free(s);
}

static void *flood(void *arg)
{
	(void)arg;
	site(25000);
	return NULL;
}

/* Workers and the control thread log from the same sites: no event lost or counted
 * twice, so exactly 20 + 100000 / 10000 lines, and the count ends at 100000. */
Test(log_limited, threads_share_a_site_without_losing_counts)
{
	pthread_t t[4];
	char *s;
	int i;

	capture();
	for (i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, flood, NULL), 0);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	s = captured_text();
	cr_expect_eq(count_lines(s, "bad offset 0x40"), 30, "log:\n%s", s);
	cr_expect(strstr(s, "[100000 so far]\n"), "log:\n%s", s);
	free(s);

	__atomic_add_fetch(&fake_now, log_limit_window_ms, __ATOMIC_RELAXED);
	site(1);
	s = captured_text();
	cr_expect(strstr(s, "[100001 so far; 99970 not logged in the window before]\n"), "log:\n%s", s);
	free(s);
}

/* A problem that stops: nobody fires the site again, so the window's unlogged count can
 * only come from log_limited_flush (the worker calls it every second). It is told once,
 * when the window has ended, and not again on the site's next line. */
Test(log_limited, a_window_that_ends_in_silence_says_what_it_did_not_log)
{
	char *s;

	capture();
	site(30); /* 20 logged, 10 not */
	__atomic_add_fetch(&fake_now, log_limit_window_ms - 1, __ATOMIC_RELAXED);
	log_limited_flush(); /* the window is not over yet */
	s = captured_text();
	cr_expect_eq(count_lines(s, "not logged"), 0, "log:\n%s", s);
	free(s);

	__atomic_add_fetch(&fake_now, 1, __ATOMIC_RELAXED);
	log_limited_flush();
	log_limited_flush(); /* told once */
	s = captured_text();
	cr_expect_eq(count_lines(s, "not logged"), 1, "log:\n%s", s);
	cr_expect(strstr(s, "bad offset ...: 10 more like this were not logged in the last 5 minutes "
			    "[30 so far]\n"),
		  "log:\n%s", s);
	free(s);

	/* the site's next window starts clean: nothing left to report */
	__atomic_add_fetch(&fake_now, 3600 * 1000ull, __ATOMIC_RELAXED);
	site(1);
	s = captured_text();
	cr_expect(strstr(s, "bad offset 0x40 [31 so far]\n"), "log:\n%s", s);
	cr_expect_eq(count_lines(s, "not logged"), 1, "log:\n%s", s);
	free(s);
}

/* A window whose every line was logged has nothing to add, and the flush does not
 * disturb the site's next window. */
Test(log_limited, a_flush_is_silent_when_everything_was_logged)
{
	char *s;

	capture();
	site(5);
	__atomic_add_fetch(&fake_now, log_limit_window_ms, __ATOMIC_RELAXED);
	log_limited_flush();
	site(30);
	__atomic_add_fetch(&fake_now, log_limit_window_ms, __ATOMIC_RELAXED);
	site(1);
	s = captured_text();
	cr_expect_eq(count_lines(s, "more like this"), 0, "log:\n%s", s);
	cr_expect(strstr(s, "bad offset 0x40 [36 so far; 10 not logged in the window before]\n"),
		  "log:\n%s", s);
	free(s);
}

/* The text stands for every warning of the site: each conversion is "...", a "%%" a
 * "%"; and every site that fired is visited, not only the latest. */
Test(log_limited, every_site_is_flushed_with_its_format_as_the_text)
{
	unsigned int i;
	char *s;

	capture();
	for (i = 0; i < 25; i++)
		log_warn_limited("cache %s: %5.2f%% of %lu objects at %#llx", "kmalloc-64", 1.5, 7ul,
				 0x1000ull);
	site(22);
	__atomic_add_fetch(&fake_now, log_limit_window_ms, __ATOMIC_RELAXED);
	log_limited_flush();
	s = captured_text();
	cr_expect(strstr(s, "cache ...: ...% of ... objects at ...: 5 more like this were not logged "
			    "in the last 5 minutes [25 so far]\n"),
		  "log:\n%s", s);
	cr_expect(strstr(s, "bad offset ...: 2 more like this were not logged in the last 5 minutes "
			    "[22 so far]\n"),
		  "log:\n%s", s);
	free(s);
}

/* The daemon stops in the middle of a window: the worker's flush will not come again, so
 * log_limited_flush_all tells the open window's count, with how long it ran, once. */
Test(log_limited, a_window_still_open_at_the_stop_says_what_it_did_not_log)
{
	char *s;

	capture();
	site(30); /* 20 logged, 10 not */
	__atomic_add_fetch(&fake_now, 42 * 1000 + 500, __ATOMIC_RELAXED);
	log_limited_flush(); /* the window is not over: the periodic flush says nothing */
	s = captured_text();
	cr_expect_eq(count_lines(s, "not logged"), 0, "log:\n%s", s);
	free(s);

	log_limited_flush_all();
	log_limited_flush_all(); /* told once */
	log_limited_flush();
	s = captured_text();
	cr_expect_eq(count_lines(s, "not logged"), 1, "log:\n%s", s);
	cr_expect(strstr(s, "bad offset ...: 10 more like this were not logged in the last 42 s "
			    "[30 so far]\n"),
		  "log:\n%s", s);
	free(s);

	/* the window is closed: a later line opens a new one with nothing owed */
	site(1);
	s = captured_text();
	cr_expect(strstr(s, "bad offset 0x40 [31 so far]\n"), "log:\n%s", s);
	free(s);
}

/* At the stop, a window that ended already says its length, as the periodic flush does;
 * one that ran long says minutes; a site whose window logged everything says nothing. */
Test(log_limited, the_flush_at_the_stop_words_ended_and_long_windows_as_the_periodic_one)
{
	unsigned int i;
	char *s;

	capture();
	site(25); /* 5 not logged, its window ends below */
	__atomic_add_fetch(&fake_now, log_limit_window_ms, __ATOMIC_RELAXED);
	for (i = 0; i < 23; i++) /* another site: opens its window now, 3 not logged */
		log_warn_limited("double free at %#x", 0x80u);
	for (i = 0; i < 3; i++) /* a third: everything logged */
		log_warn_limited("quarantined %u", i);
	__atomic_add_fetch(&fake_now, 150 * 1000, __ATOMIC_RELAXED);
	log_limited_flush_all();
	s = captured_text();
	cr_expect(strstr(s,
			 "bad offset ...: 5 more like this were not logged in the last 5 minutes "
			 "[25 so far]\n"),
		  "log:\n%s", s);
	cr_expect(
	    strstr(s, "double free at ...: 3 more like this were not logged in the last 2 minutes "
		      "[23 so far]\n"),
	    "log:\n%s", s);
	cr_expect_eq(count_lines(s, "more like this"), 2, "log:\n%s", s);
	free(s);
}
