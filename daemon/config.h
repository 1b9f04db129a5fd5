/* SPDX-License-Identifier: MIT */
/*
 * config.h - slabd's configuration: built-in defaults, then the config file
 * (key = value, '#' comments), then the command line.
 */
#ifndef SLABD_DAEMON_CONFIG_H
#define SLABD_DAEMON_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define HUGEPAGES_AUTO 0 /* hugetlb when enough are reserved, else 4 KiB shmem (warned) */
#define HUGEPAGES_ON 1   /* hugetlb or fail */
#define HUGEPAGES_OFF 2  /* always 4 KiB shmem */

#define SLABD_CONFIG_NODES 64 /* zone_size.N takes kernel node numbers below this */
#define IOVA_MODE_AUTO 0 /* vfio (when a group is configured), else pa, else va */
#define IOVA_MODE_VFIO 1
#define IOVA_MODE_PA 2
#define IOVA_MODE_VA 3

#define SLABD_CONFIG_IDS 32 /* entries of allowed_users, of allowed_groups */

/* A list of uids or gids; n == 0: no restriction. */
struct id_list {
	uint32_t n;
	uint32_t ids[SLABD_CONFIG_IDS];
};

struct config {
	char socket_path[108];
	uint64_t zone_size;      /* bytes per NUMA node zone */
	uint64_t node_zone_size[SLABD_CONFIG_NODES]; /* zone_size.N: node N's, 0: zone_size */
	uint32_t max_cache_size; /* largest kmalloc slab class, 32 KiB .. 32 MiB, power of two */
	uint32_t max_caches;
	uint32_t nr_mags;        /* 0: computed from the zone size */
	int hugepages;           /* HUGEPAGES_* */
	uint64_t hugepage_size;  /* 2 MiB or 1 GiB */
	uint64_t base_address;   /* preferred window base, 0: let the kernel choose */
	uint32_t worker_interval_ms;
	uint32_t release_delay_ms; /* a chunk free this long goes back to the kernel */
	uint64_t retain_free;      /* free bytes per zone kept resident anyway */
	uint32_t idle_drain_ms;    /* a CPU's cache unchanged this long is drained */
	int log_level;
	int foreground;
	/* the socket when slabd binds it itself (socket activation: the unit's settings) */
	int64_t socket_uid; /* -1: unchanged */
	int64_t socket_gid; /* -1: unchanged */
	uint32_t socket_mode;
	uint32_t metrics_port; /* Prometheus text on 127.0.0.1, 0: off */
	int hugepages_reserve; /* slabd --reserve-hugepages raises the kernel's pool */
	/* DMA zone (dma.c, iova.c) */
	uint64_t dma_zone_size;    /* 0: no DMA zone */
	int dma_node;              /* the NUMA node (OS number) the DMA zone is bound to */
	int iova_mode;             /* IOVA_MODE_* */
	char vfio_group[64];       /* "" or a /dev/vfio/N path */
	char vfio_container[64];   /* /dev/vfio/vfio (settable so tests can point it elsewhere) */
	/* access control (SO_PEERCRED at accept): both empty, anyone who can open the
	 * socket; else root, slabd's own user, the users listed and members (primary or
	 * supplementary) of the groups listed */
	struct id_list allowed_users;
	struct id_list allowed_groups;
	/* region_dir (persist.c): "" keeps the region in memfds (gone with the daemon); a
	 * directory on tmpfs or hugetlbfs keeps it in files there, found again at restart */
	char region_dir[200];
	/* fd_store (persist.c, notify.c): hand the region's memfds to systemd's file
	 * descriptor store and take them back at restart */
	int fd_store;
	uint32_t debug; /* SLAB_POISON | SLAB_RED_ZONE | SLAB_STORE_USER of the kmalloc caches */
};

void config_defaults(struct config *c);
/* config_load: apply @path. 0, or -errno after logging each bad line with its number. */
int config_load(struct config *c, const char *path);
/* config_set: apply one key = value. 0, or -EINVAL (bad value) / -ENOENT (unknown key)
 * with *ret_why saying what is expected; a rejected value leaves @c unchanged. */
int config_set(struct config *c, const char *key, const char *value, const char **ret_why);
/* parse_size: decimal with an optional k/M/G suffix ("64M", "2G", "4096", "32k", "1MiB");
 * 0 or -EINVAL. */
int parse_size(const char *s, uint64_t *ret);
/* config_reloadable: the keys SIGHUP applies at run time (NULL-terminated), and
 * config_diff: the names of keys whose values differ between @a and @b, comma-separated
 * into @buf (empty when none). */
extern const char *const config_reloadable[];
void config_diff(const struct config *a, const struct config *b, int reloadable, char *buf, size_t len);

#endif
