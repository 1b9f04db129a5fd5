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

#endif
