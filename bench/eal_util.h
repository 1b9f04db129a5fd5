/* SPDX-License-Identifier: MIT */
/*
 * eal_util.h - DPDK's EAL in the benchmark programs (bulkbench-dpdk, pktbench-dpdk and
 * xproc-dpdk's primary) without leaving its runtime directory behind.
 *
 * The EAL creates /var/run/dpdk/<file-prefix>/ (as root; else under $XDG_RUNTIME_DIR or
 * /tmp) at the start of rte_eal_init, even when the init then fails, and nothing in
 * DPDK 22.11 removes it: rte_eal_cleanup() leaves the directory and whatever the EAL
 * wrote there (config, mp_socket*, fbarray files without --no-shconf; a secondary's
 * mp_socket_*). Every run has its own prefix (the program's name and pid), so each run
 * left one more directory. --in-memory, which writes nothing there, is refused with
 * --no-huge ("Option --legacy-mem is not compatible with --in-memory"), and a
 * multi-process primary/secondary pair needs the shared files anyway.
 *
 * So eal_init_owned() starts the EAL and registers an exit handler, and eal_end() (the
 * normal end, or that handler on any exit() after a failure) runs rte_eal_cleanup() and
 * removes the directory with the files in it. Only a directory whose last component is
 * the process's own --file-prefix is touched, and only by the process that started the
 * EAL: a forked child that calls exit() leaves its parent's alone. A secondary process
 * calls rte_eal_init() itself and leaves the removal to its primary, which ends after it.
 */
#ifndef SLABD_BENCH_EAL_UTIL_H
#define SLABD_BENCH_EAL_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>

static struct {
	char dir[PATH_MAX];     /* the runtime directory, "" before rte_eal_init made it */
	char prefix[64];        /* --file-prefix */
	const char *prog;       /* for messages */
	pid_t owner;            /* the process that called eal_init_owned */
	int started;            /* rte_eal_init succeeded and rte_eal_cleanup is due */
	int ended;
} eal_run;

/* Remove @dir and the files in it (the EAL makes no subdirectories) if its last
 * component is @prefix. 0 or -errno. */
static inline int eal_dir_remove(const char *dir, const char *prefix)
{
	const char *base = strrchr(dir, '/');
	struct dirent *e;
	DIR *d;
	int r = 0;

	if (!base || strcmp(base + 1, prefix))
		return -EINVAL;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT)
			r = -errno;
	closedir(d);
	if (rmdir(dir) < 0 && errno != ENOENT)
		r = -errno;
	return r;
}

/* eal_end: the EAL's end: rte_eal_cleanup() if it started, then its runtime directory
 * goes. Once; in the owning process only. */
static inline void eal_end(void)
{
	int r;

	if (eal_run.ended || getpid() != eal_run.owner)
		return;
	eal_run.ended = 1;
	if (eal_run.started)
		rte_eal_cleanup();
	if (!eal_run.dir[0])
		return;
	r = eal_dir_remove(eal_run.dir, eal_run.prefix);
	if (r < 0)
		fprintf(stderr, "%s: could not remove DPDK's runtime directory %s: %s\n", eal_run.prog,
			eal_run.dir, strerror(-r));
}

static void eal_end_at_exit(void)
{
	eal_end();
}

/* eal_init_owned: rte_eal_init(@argc, @argv), whose --file-prefix is @prefix, with the
 * runtime directory removed by eal_end() or at exit(), also when the init fails. */
static inline int eal_init_owned(const char *prog, int argc, char **argv, const char *prefix)
{
	int r;

	eal_run.prog = prog;
	eal_run.owner = getpid();
	snprintf(eal_run.prefix, sizeof(eal_run.prefix), "%s", prefix);
	atexit(eal_end_at_exit);
	r = rte_eal_init(argc, argv);
	/* set by the init's first steps, also when a later one failed */
	snprintf(eal_run.dir, sizeof(eal_run.dir), "%s", rte_eal_get_runtime_dir());
	eal_run.started = r >= 0;
	return r;
}

#endif
