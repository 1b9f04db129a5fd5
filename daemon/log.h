/* SPDX-License-Identifier: MIT */
/* log.h - the daemon's log: one line per event on stderr (the journal under systemd),
 * prefixed with the syslog level so journald files it correctly. */
#ifndef SLABD_DAEMON_LOG_H
#define SLABD_DAEMON_LOG_H

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

/* log_warn_limited: a warning a client can provoke at will (bad offsets, double frees):
 * the first 20 of each call site, then one in 10000, with the running count. */
#define log_warn_limited(fmt, ...)                                                                 \
	do {                                                                                       \
		static unsigned long _n;                                                           \
		unsigned long _k = __atomic_add_fetch(&_n, 1, __ATOMIC_RELAXED);                    \
		if (_k <= 20 || !(_k % 10000))                                                     \
			log_msg(LOG_LVL_WARN, fmt " [%lu so far]", __VA_ARGS__, _k);               \
	} while (0)

#endif
