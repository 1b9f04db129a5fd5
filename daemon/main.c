/* SPDX-License-Identifier: MIT */
/*
 * main.c - slabd's entry point: arguments, configuration, start-up order, shutdown.
 *
 * Start: config -> topology -> region -> kmalloc caches -> metrics port -> socket -> workers
 * -> ready.
 * Without --foreground the process forks and the parent exits 0 only once the daemon
 * is ready (or 1 with the child's error), so scripts can start it and connect at once.
 * Stop (SIGTERM/SIGINT): the event loop ends, workers stop, the rate-limited warnings
 * tell what their open windows did not log, the socket is removed, the region is
 * unmapped (clients that still map it keep their objects).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "slabd_daemon.h"
#include "slabd_wire.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: slabd [OPTIONS]\n"
		"Shared-memory slab allocator daemon: serves kmalloc/kfree to client processes.\n\n"
		"  -c, --config FILE     read key = value settings from FILE\n"
		"  -s, --socket PATH     listen at PATH (default %s)\n"
		"  -f, --foreground      do not fork; log to stderr\n"
		"  -o, --set KEY=VALUE   one setting, as in the config file (after it)\n"
		"  -R, --reserve-hugepages  reserve the hugepages the zones need (with\n"
		"                        hugepages_reserve = yes; as root), then exit\n"
		"  -h, --help            this text\n"
		"  -V, --version         print the version\n\n"
		"Config keys: socket, socket_owner, socket_group, socket_mode, allowed_users,\n"
		"allowed_groups, zone_size,\n"
		"zone_size.N, max_cache_size, max_caches, magazines, hugepages (auto|on|off), "
		"hugepage_size,\n"
		"base_address, worker_interval_ms, release_delay_ms, retain_free, idle_drain_ms,\n"
		"log_level, metrics_port, hugepages_reserve, dma_zone_size (0: none), iova_mode\n"
		"(auto|vfio|pa|va), vfio_group (see slabd.conf(5) and systemd/slabd.conf).\n\n"
		"Signals: SIGTERM/SIGINT stop, SIGHUP reloads the config file. Under systemd it\n"
		"speaks the notify protocol ($NOTIFY_SOCKET, $WATCHDOG_USEC) and takes a socket\n"
		"passed by activation ($LISTEN_FDS); see slabd(8).\n",
		SLABD_DEFAULT_SOCKET);
}

/* The socket slabd bound itself gets the configured owner, group and mode. */
static int socket_set_owner(const struct config *c)
{
	if ((c->socket_uid >= 0 || c->socket_gid >= 0) &&
	    chown(c->socket_path, c->socket_uid >= 0 ? (uid_t)c->socket_uid : (uid_t)-1,
		  c->socket_gid >= 0 ? (gid_t)c->socket_gid : (gid_t)-1) < 0) {
		int err = errno;
		log_err("cannot give %s to socket_owner %lld / socket_group %lld: %s%s", c->socket_path,
			(long long)c->socket_uid, (long long)c->socket_gid, strerror(err),
			err == EPERM ? " (only root may change the owner, or a group it is not in)" : "");
		return -err;
	}
	if (chmod(c->socket_path, (mode_t)c->socket_mode) < 0) {
		int err = errno;
		log_err("cannot set socket_mode %04o on %s: %s", c->socket_mode, c->socket_path, strerror(err));
		return -err;
	}
	return 0;
}

static int run(struct slabd *d, int ready_fd, int activated_fd)
{
	int lfd = activated_fd, r;

	notify_send("STATUS=starting: topology, region, caches");
	r = topo_discover(&d->topo);
	if (r < 0)
		return r;
	if (d->nr_adopt && d->cfg.region_dir[0]) {
		int i;
		log_warn("the fd store passed a region back, but region_dir is set: using %s",
			 d->cfg.region_dir);
		for (i = 0; i < 4; i++)
			if (d->adopt_fds[i] >= 0)
				close(d->adopt_fds[i]);
		d->nr_adopt = 0;
	}
	r = region_create(d);
	if (r < 0)
		goto out_topo;
	if (d->fdstore && !d->restored) {
		/* hand the region to systemd: a restarted slabd gets it back in LISTEN_FDS */
		int fds[4] = {d->meta_fd, d->percpu_fd, d->zones_fd, d->slabs_fd}, i, sent = 0;
		for (i = 0; i < 4; i++)
			sent += notify_fdstore(i, fds[i]) == 0;
		if (!notify_active())
			log_warn("fd_store = yes, but no service manager ($NOTIFY_SOCKET) keeps "
				 "the region: it "
				 "goes with this daemon");
		else if (sent == 4)
			log_notice(
			    "the region's 4 descriptors are in the service manager's fd store");
	}
	d->caches = calloc(d->sb->max_caches, sizeof(*d->caches));
	if (!d->caches) {
		r = -ENOMEM;
		goto out_region;
	}
	if (d->restored) {
		/* a region found in region_dir: its caches and slabs are there already */
		r = persist_restore(d);
		if (r < 0)
			goto out_caches;
	} else if (cache_create_kmalloc(d) < 0) {
		log_err("out of memory creating the kmalloc caches");
		r = -ENOMEM;
		goto out_caches;
	}
	/* The metrics port before the clients' socket: a starter that waits for the socket
	 * (the tests, scripts) must never see one of a daemon that then fails to start (the
	 * metrics test's busy port passed its start under ASan: the socket came first). */
	if (d->cfg.metrics_port) {
		d->metrics_fd = metrics_listen(d->cfg.metrics_port);
		if (d->metrics_fd < 0) {
			r = d->metrics_fd;
			goto out_caches;
		}
	}
	if (lfd >= 0) {
		struct sockaddr_un sa;
		socklen_t l = sizeof(sa);
		memset(&sa, 0, sizeof(sa));
		d->listen_activated = 1;
		if (getsockname(lfd, (struct sockaddr *)&sa, &l) == 0 && sa.sun_path[0])
			snprintf(d->cfg.socket_path, sizeof(d->cfg.socket_path), "%s", sa.sun_path);
		log_info("socket activation: serving on the passed socket %s", d->cfg.socket_path);
	} else {
		lfd = server_listen(d->cfg.socket_path);
		if (lfd < 0) {
			r = lfd;
			goto out_metrics;
		}
		r = socket_set_owner(&d->cfg);
		if (r < 0)
			goto out_listen;
	}
	r = workers_start(d);
	if (r < 0)
		goto out_listen;
	persist_debug_config(d);
	persist_announce(d);
	log_notice("ready: socket %s, backing %s, %u node zone%s%s%s, kmalloc up to %u bytes (pid %d)",
		   d->cfg.socket_path, region_backing_name(d->backing), d->sb->nr_nodes, d->sb->nr_nodes == 1 ? "" : "s",
		   d->dma_zone != SLABD_NO_ZONE ? " + DMA zone, IOVA mode " : "",
		   d->dma_zone != SLABD_NO_ZONE ? iova_mode_name(d->sb->iova_mode) : "", d->cfg.max_cache_size,
		   (int)getpid());
	notify_send("READY=1\nSTATUS=ready: socket %s, backing %s, 0 clients\nMAINPID=%d", d->cfg.socket_path,
		    region_backing_name(d->backing), (int)getpid());
	if (ready_fd >= 0) {
		char ok = 0;
		if (write(ready_fd, &ok, 1) < 0)
			log_warn("cannot tell the parent we are ready");
		close(ready_fd);
	}
	r = server_run(d, lfd);
	workers_stop(d);
	log_limited_flush_all(); /* what the open windows did not log: nobody flushes later */
	log_notice("stopped (refills %llu, slabs created %llu, released %llu, bad objects %llu, double frees "
		   "%llu)",
		   (unsigned long long)d->stats.refills, (unsigned long long)d->stats.slabs_created,
		   (unsigned long long)d->stats.slabs_released, (unsigned long long)d->stats.bad_objects,
		   (unsigned long long)d->stats.double_frees);
out_listen:
	close(lfd);
	if (!d->listen_activated)
		unlink(d->cfg.socket_path);
out_metrics:
	if (d->cfg.metrics_port)
		close(d->metrics_fd);
out_caches:
	cache_destroy_all(d);
	free(d->caches);
out_region:
	region_destroy(d);
out_topo:
	topo_free(&d->topo);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "socket", required_argument, NULL, 's' },
		{ "foreground", no_argument, NULL, 'f' },   { "set", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },         { "version", no_argument, NULL, 'V' },
		{ "reserve-hugepages", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	static struct slabd d;
	const char *config_file = NULL, *socket_path = NULL;
	static char *sets[32];
	int nsets = 0, opt, i, pipefd[2] = { -1, -1 }, activated_fd, reserve = 0;

	config_defaults(&d.cfg);
	while ((opt = getopt_long(argc, argv, "c:s:fo:hVR", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_file = optarg;
			break;
		case 's':
			socket_path = optarg;
			break;
		case 'f':
			d.cfg.foreground = 1;
			break;
		case 'o':
			if (nsets == 32) {
				fprintf(stderr, "slabd: at most 32 --set options\n");
				return 2;
			}
			sets[nsets++] = optarg;
			break;
		case 'R':
			reserve = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("slabd %s (shared-memory layout %u, wire protocol %u)\n", SLABD_VERSION_STRING,
			       SLABD_SHM_LAYOUT_VERSION, SLABD_WIRE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "slabd: unexpected argument '%s' (see slabd --help)\n", argv[optind]);
		return 2;
	}
	if (config_file && config_load(&d.cfg, config_file) < 0) {
		log_err("%s has errors (see above): not starting", config_file);
		return 2;
	}
	for (i = 0; i < nsets; i++) {
		char *eq = strchr(sets[i], '=');
		const char *why = "key=value";
		if (!eq) {
			log_err("--set %s: expected KEY=VALUE", sets[i]);
			return 2;
		}
		*eq = 0;
		if (config_set(&d.cfg, sets[i], eq + 1, &why) < 0) {
			log_err("--set %s=%s: expected %s", sets[i], eq + 1, why);
			return 2;
		}
	}
	if (socket_path) {
		const char *why = "";
		if (config_set(&d.cfg, "socket", socket_path, &why) < 0) {
			log_err("--socket %s: expected %s", socket_path, why);
			return 2;
		}
	}
	log_level = d.cfg.log_level;
	if (reserve) {
		int r = topo_discover(&d.topo);
		if (r == 0) {
			r = hugepages_reserve(&d.cfg, &d.topo);
			topo_free(&d.topo);
		}
		/* only a daemon that will refuse to start without them is stopped here */
		return r < 0 && d.cfg.hugepages == HUGEPAGES_ON ? 1 : 0;
	}
	d.config_file = config_file;
	d.sets = sets;
	d.nsets = nsets;
	d.socket_override = socket_path;
	/* Both belong to the process systemd started: read them before any fork. */
	notify_init();
	activated_fd = notify_listen_fd();
	if (activated_fd == -EINVAL)
		return 1;
	d.nr_adopt = notify_stored_fds(d.adopt_fds);
	signal(SIGPIPE, SIG_IGN);
	/* every client holds a connection: as many as the hard limit allows */
	server_raise_nofile();
	{
		/* Blocked in every thread from the start: only the control thread's signalfd
		 * takes them, so a SIGTERM can never kill a half-started daemon uncleanly. */
		sigset_t mask;
		sigemptyset(&mask);
		sigaddset(&mask, SIGTERM);
		sigaddset(&mask, SIGINT);
		sigaddset(&mask, SIGHUP);
		pthread_sigmask(SIG_BLOCK, &mask, NULL);
	}

	if (!d.cfg.foreground) {
		pid_t pid;
		char status = 1;

		if (pipe2(pipefd, O_CLOEXEC) < 0) {
			log_err("pipe: %s", strerror(errno));
			return 1;
		}
		pid = fork();
		if (pid < 0) {
			log_err("fork: %s", strerror(errno));
			return 1;
		}
		if (pid > 0) {
			close(pipefd[1]);
			if (read(pipefd[0], &status, 1) != 1)
				status = 1;
			return status ? 1 : 0;
		}
		close(pipefd[0]);
		setsid();
	}
	return run(&d, pipefd[1], activated_fd) < 0 ? 1 : 0;
}
