/* SPDX-License-Identifier: MIT */
/* log.c - see log.h. Thread-safe: each line is one write(2). */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

int log_level = LOG_LVL_INFO;

static uint64_t monotonic_ms(void)
{
	struct timespec ts;

	/* coarse: a window is minutes long, and this clock costs no more than a load */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

unsigned int log_limit_window_ms = 5 * 60 * 1000;
uint64_t (*log_clock_ms)(void) = monotonic_ms;

/* How many of a window's first @n warnings were logged. */
static unsigned long limit_logged(unsigned long n)
{
	return (n < LOG_LIMIT_BURST ? n : LOG_LIMIT_BURST) + n / LOG_LIMIT_EVERY;
}

int log_limit_pass(struct log_limit *l, unsigned long *ret_total, unsigned long *ret_missed)
{
	uint64_t now = log_clock_ms();
	unsigned long k;

	/* A mutex rather than one atomic add: the window's start and count change together,
	 * and the count of unlogged warnings must be exact when threads race at a window's
	 * end. Uncontended it costs about what the atomic did, and nobody spins. */
	pthread_mutex_lock(&l->lock);
	*ret_missed = 0;
	if (!l->in_window || now - l->start >= log_limit_window_ms) {
		*ret_missed = l->in_window - limit_logged(l->in_window);
		l->start = now;
		l->in_window = 0;
	}
	k = ++l->in_window;
	*ret_total = ++l->total;
	pthread_mutex_unlock(&l->lock);
	return k <= LOG_LIMIT_BURST || !(k % LOG_LIMIT_EVERY);
}

void log_msg(int level, const char *fmt, ...)
{
	static const char *const names[] = { "", "", "", "error", "warning", "notice", "info", "debug" };
	static const char hex[] = "0123456789abcdef";
	char msg[1024], buf[1024];
	const char *p;
	va_list ap;
	int n;

	if (level > log_level)
		return;
	n = snprintf(buf, sizeof(buf), "<%d>slabd: %s: ", level, names[level & 7]);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* One event, one line: the journal takes each line as an entry with the priority
	 * of its "<N>" prefix, and messages carry strings clients chose (cache names), so
	 * control characters are written escaped, never raw. */
	for (p = msg; *p && n < (int)sizeof(buf) - 5; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch == '\n') {
			buf[n++] = '\\';
			buf[n++] = 'n';
		} else if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
			buf[n++] = '\\';
			buf[n++] = 'x';
			buf[n++] = hex[ch >> 4];
			buf[n++] = hex[ch & 15];
		} else {
			buf[n++] = (char)ch;
		}
	}
	buf[n++] = '\n';
	if (write(STDERR_FILENO, buf, (size_t)n) < 0)
		return;
}
