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
	char buf[1024];
	va_list ap;
	int n;

	if (level > log_level)
		return;
	n = snprintf(buf, sizeof(buf), "<%d>slabd: %s: ", level, names[level & 7]);
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(STDERR_FILENO, buf, (size_t)n) < 0)
		return;
}
