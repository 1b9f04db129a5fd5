/* SPDX-License-Identifier: MIT */
/* log.h - the daemon's log: one line per event on stderr (the journal under systemd),
 * prefixed with the syslog level so journald files it correctly. */
#ifndef SLABD_DAEMON_LOG_H
#define SLABD_DAEMON_LOG_H

#include <pthread.h>
#include <stdint.h>

#define LOG_LVL_ERR 3
#define LOG_LVL_WARN 4
#define LOG_LVL_NOTICE 5
#define LOG_LVL_INFO 6
#define LOG_LVL_DEBUG 7

extern int log_level;

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/*
 * log_warn_limited: a warning a client can provoke at will (bad offsets, double frees).
 * Each call site has a budget per window of log_limit_window_ms (5 minutes) that starts
 * with the site's first warning after the previous window ended: the first 20 lines,
 * then one in 10000. So a flood costs a few lines, and a problem that comes back hours
 * later is logged again as loudly as the first time. Each line carries the site's
 * running count since the start ("[N so far]"). What a window did not log is told once:
 * by log_limited_flush, which the daemon calls every second, as soon as the window has
 * ended (so a problem that simply stops still has its count printed), or, if no flush
 * came first, on the first line of the site's next window; a window still open when the
 * daemon stops is told then (log_limited_flush_all).
 */
#define LOG_LIMIT_BURST 20
#define LOG_LIMIT_EVERY 10000

struct log_limit {
	pthread_mutex_t lock;     /* workers and the control thread share the sites */
	uint64_t start;           /* ms (log_clock_ms) at which the current window began */
	unsigned long in_window;  /* warnings in it, 0 before the first */
	unsigned long total;      /* since the daemon started: the "[N so far]" */
	const char *format;       /* the site's format: the flush's text */
	struct log_limit *next;   /* on the list of sites, set once before it is published */
	int listed;               /* on that list (under lock) */
};

/* The window, and the clock it is measured with (CLOCK_MONOTONIC_COARSE in ms):
 * variables so that a test can make a window pass without waiting. */
extern unsigned int log_limit_window_ms;
extern uint64_t (*log_clock_ms)(void);

/* log_limit_pass: count one warning at @l. 1 when it is to be logged, with *ret_total
 * the site's count so far and *ret_missed the warnings of the site's previous window
 * that were not logged (nonzero only on a window's first line); else 0. */
int log_limit_pass(struct log_limit *l, unsigned long *ret_total, unsigned long *ret_missed);

/*
 * log_limited_flush: for every site whose window has ended with warnings it did not log,
 * log one line, the site's format with each conversion as "...", "N more like this were
 * not logged in the last 5 minutes [M so far]", and close the window. Cheap (one
 * uncontended lock per site that ever fired); any thread, any time. Sites join the list
 * on their first warning, with one compare-and-swap, and never leave it.
 */
void log_limited_flush(void);

/*
 * log_limited_flush_all: the same for every window, ended or not: the daemon calls it
 * when it stops (after the workers, the last to warn), so that a window still open then
 * tells its count too, as "N more like this were not logged in the last 42 s [M so
 * far]" (the time since the window began; an ended window says its length as above).
 * Every window is closed afterwards.
 */
void log_limited_flush_all(void);

#define log_warn_limited(fmt, ...)                                                                 \
	do {                                                                                       \
		static struct log_limit _l = { .lock = PTHREAD_MUTEX_INITIALIZER, .format = fmt }; \
		unsigned long _k, _m;                                                              \
		if (!log_limit_pass(&_l, &_k, &_m))                                                \
			break;                                                                     \
		if (_m)                                                                            \
			log_msg(LOG_LVL_WARN, fmt " [%lu so far; %lu not logged in the window before]", \
				__VA_ARGS__, _k, _m);                                              \
		else                                                                               \
			log_msg(LOG_LVL_WARN, fmt " [%lu so far]", __VA_ARGS__, _k);               \
	} while (0)

#endif
