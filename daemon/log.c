/* SPDX-License-Identifier: MIT */
/*
 * log.c - see log.h. Thread-safe: each line is one write(2).
 *
 * Rate-limited sites (struct log_limit, static in each call site): each has its own
 * mutex over its window; the list of sites is push-only (one CAS on log_sites, after the
 * site's next pointer is set), so log_limited_flush walks it without a lock.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
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

/* Every site that ever warned, newest first; sites never leave it. */
static struct log_limit *log_sites;

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
	if (!l->listed) {
		struct log_limit *head = __atomic_load_n(&log_sites, __ATOMIC_RELAXED);

		do
			l->next = head;
		while (!__atomic_compare_exchange_n(&log_sites, &head, l, 1, __ATOMIC_RELEASE,
						    __ATOMIC_RELAXED));
		l->listed = 1;
	}
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

/* @fmt with each conversion as "..." and "%%" as "%": what every warning of a site has in
 * common, without arguments the flush no longer has. */
static void format_shape(const char *fmt, char *buf, size_t size)
{
	size_t n = 0;

	while (*fmt && n + 4 < size) {
		if (*fmt != '%') {
			buf[n++] = *fmt++;
			continue;
		}
		fmt++;
		if (*fmt == '%') {
			buf[n++] = *fmt++;
			continue;
		}
		fmt += strspn(fmt, "#0- +'123456789.*hlLqjzt");
		if (*fmt)
			fmt++;
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
}

/* The window as the flush's line says it: "5 minutes". */
static const char *window_text(char *buf, size_t size)
{
	unsigned int ms = log_limit_window_ms;

	if (ms == 60000)
		snprintf(buf, size, "minute");
	else if (ms && !(ms % 60000))
		snprintf(buf, size, "%u minutes", ms / 60000);
	else if (ms && !(ms % 1000))
		snprintf(buf, size, "%u s", ms / 1000);
	else
		snprintf(buf, size, "%u ms", ms);
	return buf;
}

/* @ms as the flush's line says it: "42 s", "3 minutes". */
static const char *duration_text(uint64_t ms, char *buf, size_t size)
{
	if (ms >= 120000)
		snprintf(buf, size, "%llu minutes", (unsigned long long)(ms / 60000));
	else if (ms >= 1000)
		snprintf(buf, size, "%llu s", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, size, "%llu ms", (unsigned long long)ms);
	return buf;
}

/* The flushes: every ended window that owes a line; with @open, every other window too,
 * its line saying how long it ran. */
static void limited_flush(int open)
{
	struct log_limit *l;
	uint64_t now = log_clock_ms();

	for (l = __atomic_load_n(&log_sites, __ATOMIC_ACQUIRE); l; l = l->next) {
		unsigned long missed = 0, total = 0;
		uint64_t ran = 0;
		int ended = 0;
		char shape[256], window[32];

		pthread_mutex_lock(&l->lock);
		if (l->in_window && (open || now - l->start >= log_limit_window_ms)) {
			missed = l->in_window - limit_logged(l->in_window);
			total = l->total;
			ended = now - l->start >= log_limit_window_ms;
			ran = now - l->start;
			/* closed: the site's next warning opens a window with nothing owed */
			l->in_window = 0;
		}
		pthread_mutex_unlock(&l->lock);
		if (!missed)
			continue;
		format_shape(l->format, shape, sizeof(shape));
		if (ended)
			window_text(window, sizeof(window));
		else
			duration_text(ran, window, sizeof(window));
		log_msg(LOG_LVL_WARN,
			"%s: %lu more like this were not logged in the last %s [%lu so far]", shape,
			missed, window, total);
	}
}

void log_limited_flush(void)
{
	limited_flush(0);
}

void log_limited_flush_all(void)
{
	limited_flush(1);
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
