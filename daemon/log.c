/* SPDX-License-Identifier: MIT */
/* log.c - see log.h. Thread-safe: each line is one write(2). */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "log.h"

int log_level = LOG_LVL_INFO;

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
