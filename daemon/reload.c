/* SPDX-License-Identifier: MIT */
/*
 * reload.c - SIGHUP: read the configuration again (defaults, the file, then the same
 * --set and --socket options as at start) and apply what can change while slabd runs.
 *
 * Reloadable keys (config_reloadable) are plain integers the workers read on each round
 * or look: they are stored with relaxed atomic stores and take effect on the next round.
 * Every other key that changed is named in one log line ("needs a restart") and keeps
 * its running value. A file with errors changes nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "notify.h"
#include "slabd_daemon.h"

int daemon_reload(struct slabd *d)
{
	struct config nc, cur;
	char changed[512], restart[512];
	struct timespec now;
	int i;

	/* sd_notify(3): RELOADING=1 carries the CLOCK_MONOTONIC time the reload began, so a
	 * manager (systemd 253 on, Type=notify-reload) can tell it from an earlier one */
	clock_gettime(CLOCK_MONOTONIC, &now);
	notify_send("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading %s",
		    (unsigned long long)now.tv_sec * 1000000ull + (unsigned long long)now.tv_nsec / 1000,
		    d->config_file ? d->config_file : "(no config file)");
	config_defaults(&nc);
	if (d->config_file && config_load(&nc, d->config_file) < 0) {
		log_err("reload: %s has errors (see above): nothing changed", d->config_file);
		goto out;
	}
	for (i = 0; i < d->nsets; i++) {
		/* main() split each "key=value" in place at the '=' */
		const char *key = d->sets[i], *value = key + strlen(key) + 1, *why = "";
		config_set(&nc, key, value, &why);
	}
	if (d->socket_override) {
		const char *why = "";
		config_set(&nc, "socket", d->socket_override, &why);
	}
	if (d->listen_activated) /* the socket is systemd's: not ours to change */
		memcpy(nc.socket_path, d->cfg.socket_path, sizeof(nc.socket_path));
	nc.foreground = d->cfg.foreground;

	cur = d->cfg;
	config_diff(&cur, &nc, 1, changed, sizeof(changed));
	config_diff(&cur, &nc, 0, restart, sizeof(restart));
	__atomic_store_n(&d->cfg.log_level, nc.log_level, __ATOMIC_RELAXED);
	__atomic_store_n(&log_level, nc.log_level, __ATOMIC_RELAXED);
	__atomic_store_n(&d->cfg.worker_interval_ms, nc.worker_interval_ms, __ATOMIC_RELAXED);
	__atomic_store_n(&d->cfg.release_delay_ms, nc.release_delay_ms, __ATOMIC_RELAXED);
	__atomic_store_n(&d->cfg.retain_free, nc.retain_free, __ATOMIC_RELAXED);
	__atomic_store_n(&d->cfg.idle_drain_ms, nc.idle_drain_ms, __ATOMIC_RELAXED);
	/* read at accept, by this same (control) thread: plain copies */
	d->cfg.allowed_users = nc.allowed_users;
	d->cfg.allowed_groups = nc.allowed_groups;
	/* a key config_diff does not know (added without a table entry) still shows here */
	cur = d->cfg;
	if (!restart[0] && memcmp(&cur, &nc, sizeof(cur)))
		snprintf(restart, sizeof(restart), "(a setting not in the reload table)");
	log_notice("reload of %s: %s%s%s",
		   d->config_file ? d->config_file : "(no config file, --set only)",
		   changed[0] ? "applied " : "no run-time setting changed", changed,
		   restart[0] ? "" : "; nothing needs a restart");
	if (restart[0])
		log_warn("reload: changed but needs a restart to take effect (still running with "
			 "the old "
			 "values): %s",
			 restart);
out:
	notify_send("READY=1\nSTATUS=ready: socket %s, reloaded", d->cfg.socket_path);
	return 0;
}
