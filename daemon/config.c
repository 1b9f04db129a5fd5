/* SPDX-License-Identifier: MIT */
/* config.c - see config.h. A bad line is reported with its file and line number and
 * what is expected; nothing is half-applied: the daemon refuses to start. */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "config.h"
#include "debug.h"
#include "log.h"
#include "slabd_wire.h"

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->socket_path, sizeof(c->socket_path), "%s", SLABD_DEFAULT_SOCKET);
	c->zone_size = 256ull << 20;
	c->max_cache_size = 32768;
	c->max_caches = 128;
	c->hugepages = HUGEPAGES_AUTO;
	c->hugepage_size = 2ull << 20;
	c->base_address = 0x5a0000000000ull;
	c->worker_interval_ms = 10;
	c->release_delay_ms = 5000;
	c->retain_free = 0; /* everything free for release_delay_ms goes back, as jemalloc decays to 0 */
	c->idle_drain_ms = 5000;
	c->log_level = LOG_LVL_INFO;
	c->socket_uid = -1;
	c->socket_gid = -1;
	c->socket_mode = 0660;
	c->dma_zone_size = 64ull << 20;
	c->iova_mode = IOVA_MODE_AUTO;
	c->dma_node = 0;
	snprintf(c->vfio_container, sizeof(c->vfio_container), "/dev/vfio/vfio");
}

int parse_size(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;
	unsigned int shift = 0;

	errno = 0;
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	v = strtoull(s, &end, 10); /* decimal only: "010" is ten, not eight */
	if (errno)
		return -EINVAL;
	switch (tolower((unsigned char)*end)) {
	case 'k': shift = 10; end++; break;
	case 'm': shift = 20; end++; break;
	case 'g': shift = 30; end++; break;
	case 0: break;
	default: return -EINVAL;
	}
	if (*end == 'i' || *end == 'I')
		end++;
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end || (shift && v > (~0ull >> shift)))
		return -EINVAL;
	*ret = (uint64_t)v << shift;
	return 0;
}

/* A plain decimal number up to @max: a count, a port, milliseconds or an id takes no size
 * suffix ("1k" is not uid 1024 nor 1024 ms). */
static int parse_uint(const char *s, uint64_t max, uint64_t *ret)
{
	if (!*s || strspn(s, "0123456789") != strlen(s))
		return -EINVAL;
	return parse_size(s, ret) < 0 || *ret > max ? -EINVAL : 0;
}

/* The DMA zone's keys: 0, -EINVAL, or -ENOENT (not one of them). */
static int config_set_dma(struct config *c, const char *key, const char *value, const char **ret_why)
{
	static const char *const modes[] = { "auto", "vfio", "pa", "va" };
	uint64_t v;
	unsigned int i;

	if (!strcmp(key, "dma_zone_size")) {
		if (parse_size(value, &v) < 0 || (v && v < (2u << 20)) || v > (64ull << 30)) {
			*ret_why = "0 (no DMA zone) or a size between 2M and 64G, like 64M";
			return -EINVAL;
		}
		c->dma_zone_size = v;
	} else if (!strcmp(key, "dma_node")) {
		/* a node number; whether this machine has it is checked at start (dma.c) */
		if (parse_size(value, &v) < 0 || v >= SLABD_CONFIG_NODES || strspn(value, "0123456789") != strlen(value)) {
			*ret_why = "a NUMA node number, like 0";
			return -EINVAL;
		}
		c->dma_node = (int)v;
	} else if (!strcmp(key, "iova_mode")) {
		for (i = 0; i < 4 && strcmp(value, modes[i]); i++)
			;
		if (i == 4) {
			*ret_why = "auto, vfio, pa or va";
			return -EINVAL;
		}
		c->iova_mode = (int)i;
	} else if (!strcmp(key, "vfio_group") || !strcmp(key, "vfio_container")) {
		int group = key[5] == 'g';
		char buf[64];

		/* a group may be given by its number: 42 is /dev/vfio/42 */
		if (group && *value && strspn(value, "0123456789") == strlen(value) && strlen(value) < 10)
			snprintf(buf, sizeof(buf), "/dev/vfio/%s", value);
		else if ((*value && *value != '/') || strlen(value) >= sizeof(buf)) {
			*ret_why = group ? "a group number or a path like /dev/vfio/42 (\"\": none)"
					 : "an absolute path shorter than 64 bytes";
			return -EINVAL;
		} else
			snprintf(buf, sizeof(buf), "%s", value);
		if (!group && !*buf) {
			*ret_why = "an absolute path shorter than 64 bytes";
			return -EINVAL;
		}
		snprintf(group ? c->vfio_group : c->vfio_container, sizeof(buf), "%s", buf);
	} else {
		return -ENOENT;
	}
	return 0;
}

/* "alice, 1001 bob" (commas or blanks; names resolved now) into @ret; "" clears it. */
static int parse_id_list(const char *value, int groups, struct id_list *ret)
{
	struct id_list l = {0, {0}};
	char buf[512], *tok, *save = NULL;

	if (strlen(value) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", value);
	for (tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		uint64_t v;
		if (l.n == SLABD_CONFIG_IDS)
			return -E2BIG;
		if (isdigit((unsigned char)tok[0])) {
			if (parse_uint(tok, UINT32_MAX - 1, &v) < 0)
				return -EINVAL;
		} else if (groups) {
			struct group *gr = getgrnam(tok);
			if (!gr)
				return -ENOENT;
			v = gr->gr_gid;
		} else {
			struct passwd *pw = getpwnam(tok);
			if (!pw)
				return -ENOENT;
			v = pw->pw_uid;
		}
		l.ids[l.n++] = (uint32_t)v;
	}
	/* only an empty value lifts the restriction: commas without a name are a list
	 * whose names were lost, not "anyone" */
	if (!l.n && strchr(value, ','))
		return -EINVAL;
	*ret = l;
	return 0;
}

int config_set(struct config *c, const char *key, const char *value, const char **ret_why)
{
	uint64_t v;
	int r = config_set_dma(c, key, value, ret_why);

	if (r != -ENOENT)
		return r;

	if (!strcmp(key, "region_dir")) {
		if ((value[0] && value[0] != '/') || strlen(value) >= sizeof(c->region_dir)) {
			*ret_why = "an absolute directory path shorter than 200 bytes (on tmpfs or hugetlbfs), or empty";
			return -EINVAL;
		}
		snprintf(c->region_dir, sizeof(c->region_dir), "%s", value);
	} else if (!strcmp(key, "fd_store")) {
		if (!strcmp(value, "yes") || !strcmp(value, "on") || !strcmp(value, "true"))
			c->fd_store = 1;
		else if (!strcmp(value, "no") || !strcmp(value, "off") || !strcmp(value, "false"))
			c->fd_store = 0;
		else {
			*ret_why = "yes or no";
			return -EINVAL;
		}
	} else if (!strcmp(key, "socket")) {
		if (value[0] != '/' || strlen(value) >= sizeof(c->socket_path)) {
			*ret_why = "an absolute path shorter than 108 bytes";
			return -EINVAL;
		}
		snprintf(c->socket_path, sizeof(c->socket_path), "%s", value);
	} else if (!strcmp(key, "zone_size")) {
		if (parse_size(value, &v) < 0 || v < (2u << 20) || v > (1ull << 40)) {
			*ret_why = "a size between 2M and 1T, like 256M";
			return -EINVAL;
		}
		c->zone_size = v;
	} else if (!strncmp(key, "zone_size.", 10)) {
		char *end;
		unsigned long n = strtoul(key + 10, &end, 10);
		if (!isdigit((unsigned char)key[10]) || *end || n >= SLABD_CONFIG_NODES) {
			*ret_why = "zone_size.N with N a NUMA node number from 0 to 63, like zone_size.1";
			return -EINVAL;
		}
		if (parse_size(value, &v) < 0 || v < (2u << 20) || v > (1ull << 40)) {
			*ret_why = "a size between 2M and 1T, like 256M";
			return -EINVAL;
		}
		c->node_zone_size[n] = v;
	} else if (!strcmp(key, "max_cache_size")) {
		if (parse_size(value, &v) < 0 || v < 32768 || v > (32u << 20) || (v & (v - 1))) {
			*ret_why = "a power of two between 32k and 32M";
			return -EINVAL;
		}
		c->max_cache_size = (uint32_t)v;
	} else if (!strcmp(key, "max_caches")) {
		if (parse_uint(value, 1024, &v) < 0 || v < 64) {
			*ret_why = "a number between 64 and 1024";
			return -EINVAL;
		}
		c->max_caches = (uint32_t)v;
	} else if (!strcmp(key, "magazines")) {
		if (parse_uint(value, 1u << 20, &v) < 0 || (v && v < 64)) {
			*ret_why = "0 (automatic) or a number between 64 and 1048576";
			return -EINVAL;
		}
		c->nr_mags = (uint32_t)v;
	} else if (!strcmp(key, "hugepages")) {
		if (!strcmp(value, "auto"))
			c->hugepages = HUGEPAGES_AUTO;
		else if (!strcmp(value, "on") || !strcmp(value, "yes") || !strcmp(value, "true"))
			c->hugepages = HUGEPAGES_ON;
		else if (!strcmp(value, "off") || !strcmp(value, "no") || !strcmp(value, "false"))
			c->hugepages = HUGEPAGES_OFF;
		else {
			*ret_why = "auto, on or off";
			return -EINVAL;
		}
	} else if (!strcmp(key, "hugepage_size")) {
		if (parse_size(value, &v) < 0 || (v != (2u << 20) && v != (1u << 30))) {
			*ret_why = "2M or 1G";
			return -EINVAL;
		}
		c->hugepage_size = v;
	} else if (!strcmp(key, "base_address")) {
		char *end;
		errno = 0;
		v = strtoull(value, &end, 0);
		if (errno || end == value || *end || (v & ((1u << 30) - 1)) || v >= (1ull << 47)) {
			*ret_why = "0 or a 1 GiB-aligned user address such as 0x5a0000000000";
			return -EINVAL;
		}
		c->base_address = v;
	} else if (!strcmp(key, "worker_interval_ms")) {
		if (parse_uint(value, 10000, &v) < 0 || !v) {
			*ret_why = "milliseconds between 1 and 10000";
			return -EINVAL;
		}
		c->worker_interval_ms = (uint32_t)v;
	} else if (!strcmp(key, "release_delay_ms")) {
		if (parse_uint(value, 3600u * 1000, &v) < 0) {
			*ret_why = "milliseconds between 0 and 3600000";
			return -EINVAL;
		}
		c->release_delay_ms = (uint32_t)v;
	} else if (!strcmp(key, "debug")) {
		uint32_t f;
		if (debug_parse(value, &f) < 0) {
			*ret_why = "off, or checks of the kmalloc caches among poison, redzone, store_user "
				   "(comma-separated)";
			return -EINVAL;
		}
		c->debug = f;
	} else if (!strcmp(key, "idle_drain_ms")) {
		if (parse_uint(value, 3600u * 1000, &v) < 0 || v < 100) {
			*ret_why = "milliseconds between 100 and 3600000";
			return -EINVAL;
		}
		c->idle_drain_ms = (uint32_t)v;
	} else if (!strcmp(key, "retain_free")) {
		if (parse_size(value, &v) < 0) {
			*ret_why = "a size such as 32M (0: give every free chunk back)";
			return -EINVAL;
		}
		c->retain_free = v;
	} else if (!strcmp(key, "log_level")) {
		static const char *const lv[] = { "error", "warning", "notice", "info", "debug" };
		unsigned int i;
		for (i = 0; i < 5; i++)
			if (!strcmp(value, lv[i]))
				break;
		if (i == 5) {
			*ret_why = "error, warning, notice, info or debug";
			return -EINVAL;
		}
		c->log_level = LOG_LVL_ERR + (int)i;
	} else if (!strcmp(key, "socket_owner")) {
		struct passwd *pw = isdigit((unsigned char)value[0]) ? NULL : getpwnam(value);
		if (pw)
			c->socket_uid = pw->pw_uid;
		else if (parse_uint(value, UINT32_MAX - 1, &v) == 0)
			c->socket_uid = (int64_t)v;
		else {
			*ret_why = "an existing user name or a numeric uid";
			return -EINVAL;
		}
	} else if (!strcmp(key, "socket_group")) {
		struct group *gr = isdigit((unsigned char)value[0]) ? NULL : getgrnam(value);
		if (gr)
			c->socket_gid = gr->gr_gid;
		else if (parse_uint(value, UINT32_MAX - 1, &v) == 0)
			c->socket_gid = (int64_t)v;
		else {
			*ret_why = "an existing group name or a numeric gid";
			return -EINVAL;
		}
	} else if (!strcmp(key, "socket_mode")) {
		char *end;
		unsigned long m;
		errno = 0;
		m = strtoul(value, &end, 8);
		if (errno || end == value || *end || m > 0777 || value[0] == '-') {
			*ret_why = "octal permission bits such as 0660";
			return -EINVAL;
		}
		c->socket_mode = (uint32_t)m;
	} else if (!strcmp(key, "hugepages_reserve")) {
		if (!strcmp(value, "yes") || !strcmp(value, "on") || !strcmp(value, "true"))
			c->hugepages_reserve = 1;
		else if (!strcmp(value, "no") || !strcmp(value, "off") || !strcmp(value, "false"))
			c->hugepages_reserve = 0;
		else {
			*ret_why = "yes or no";
			return -EINVAL;
		}
	} else if (!strcmp(key, "metrics_port")) {
		if (parse_uint(value, 65535, &v) < 0) {
			*ret_why = "a TCP port 1..65535 on 127.0.0.1, or 0 (off)";
			return -EINVAL;
		}
		c->metrics_port = (uint32_t)v;
	} else if (!strcmp(key, "allowed_users") || !strcmp(key, "allowed_groups")) {
		int groups = key[8] == 'g';
		if (parse_id_list(value, groups, groups ? &c->allowed_groups : &c->allowed_users) <
		    0) {
			*ret_why = groups ? "existing group names or numeric gids, separated by "
					    "commas (at most 32; "
					    "empty: no restriction)"
					  : "existing user names or numeric uids, separated by "
					    "commas (at most 32; "
					    "empty: no restriction)";
			return -EINVAL;
		}
	} else {
		*ret_why = "a known key: socket, socket_owner, socket_group, socket_mode, allowed_users, allowed_groups, "
			   "zone_size, zone_size.N, max_cache_size, max_caches, magazines, hugepages, hugepage_size, "
			   "base_address, worker_interval_ms, release_delay_ms, retain_free, idle_drain_ms, log_level, "
			   "metrics_port, hugepages_reserve, dma_zone_size, dma_node, iova_mode, vfio_group, region_dir, fd_store, debug";
		return -ENOENT;
	}
	return 0;
}

static char *trim(char *s)
{
	char *e;
	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

#define CONFIG_LINE_MAX 510 /* bytes of a line without its newline */

/* The keys a file has set so far, with their lines: a known key fits in 24 bytes
 * ("zone_size.63" is the longest), and there are fewer known keys than slots. */
struct seen_keys {
	unsigned int n;
	struct {
		char key[24];
		unsigned int line;
	} k[128];
};

/* The line that already set @key in this file, else 0 after noting it at @line. A key
 * config_set rejected as unknown is not noted (it was reported as unknown). */
static unsigned int seen_before(struct seen_keys *seen, const char *key, unsigned int line)
{
	char name[24];
	unsigned int i;

	/* zone_size.N names node N however N is written: "zone_size.01" is node 1 */
	if (!strncmp(key, "zone_size.", 10) && isdigit((unsigned char)key[10]))
		snprintf(name, sizeof(name), "zone_size.%lu", strtoul(key + 10, NULL, 10));
	else if (strlen(key) < sizeof(name))
		snprintf(name, sizeof(name), "%s", key);
	else
		return 0;
	for (i = 0; i < seen->n; i++)
		if (!strcmp(seen->k[i].key, name))
			return seen->k[i].line;
	if (seen->n < sizeof(seen->k) / sizeof(seen->k[0])) {
		memcpy(seen->k[seen->n].key, name, sizeof(name));
		seen->k[seen->n++].line = line;
	}
	return 0;
}

int config_load(struct config *c, const char *path)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned int lineno = 0, first;
	int bad = 0;
	struct seen_keys seen = {0};
	FILE *f = fopen(path, "re");

	if (!f) {
		int err = errno;
		log_err("cannot open config file %s: %s", path, strerror(err));
		return -err;
	}
	/* getline, not fgets: the length read tells a NUL byte from the end of the line */
	while ((len = getline(&line, &cap, f)) > 0) {
		char *s, *eq, *key, *value, *hash;
		const char *why = "";

		lineno++;
		if (line[len - 1] == '\n')
			line[--len] = 0;
		if ((size_t)len > CONFIG_LINE_MAX) {
			log_err("%s:%u: line longer than %d bytes", path, lineno, CONFIG_LINE_MAX);
			bad = 1;
			continue;
		}
		if (memchr(line, 0, (size_t)len)) {
			log_err("%s:%u: a NUL byte in the line: is this a text file?", path, lineno);
			bad = 1;
			continue;
		}
		/* A comment starts with '#' at the start of the line or after whitespace, so
		 * "key = value  # why" has one but "region_dir = /srv/slabd#2" keeps its '#'
		 * (a value cannot hold " #": slabd.conf(5) says so). */
		for (hash = line; (hash = strchr(hash, '#')); hash++)
			if (hash == line || isspace((unsigned char)hash[-1])) {
				*hash = 0;
				break;
			}
		s = trim(line);
		if (!*s)
			continue;
		eq = strchr(s, '=');
		if (!eq) {
			log_err("%s:%u: expected 'key = value', got '%s'", path, lineno, s);
			bad = 1;
			continue;
		}
		*eq = 0;
		key = trim(s);
		value = trim(eq + 1);
		switch (config_set(c, key, value, &why)) {
		case 0:
			/* Within one file a key has one place: a second is an edit that
			 * appended instead of replacing, and which of the two the writer
			 * meant is not ours to guess. (--set options come after the file
			 * and are meant to win: they go through config_set alone.) */
			first = seen_before(&seen, key, lineno);
			if (first) {
				log_err("%s:%u: '%s' was already set on line %u: give each key once",
					path, lineno, key, first);
				bad = 1;
			}
			break;
		case -ENOENT:
			log_err("%s:%u: unknown key '%s': expected %s", path, lineno, key, why);
			bad = 1;
			break;
		default:
			log_err("%s:%u: bad value '%s' for '%s': expected %s", path, lineno, value, key, why);
			/* still a use of the key: a later good value is a duplicate too */
			seen_before(&seen, key, lineno);
			bad = 1;
		}
	}
	free(line);
	fclose(f);
	return bad ? -EINVAL : 0;
}

const char *const config_reloadable[] = {
    "log_level",     "worker_interval_ms", "release_delay_ms", "retain_free",
    "idle_drain_ms", "allowed_users",	   "allowed_groups",   NULL};

/* Every key and where its value lives; a key without its own field (none today) would
 * be caught by the final memcmp in config_diff. */
#define FIELD(k, f) { k, offsetof(struct config, f), sizeof(((struct config *)0)->f) }
static const struct {
	const char *key;
	size_t off, size;
} fields[] = {
	FIELD("socket", socket_path),
	FIELD("zone_size", zone_size),
	FIELD("zone_size.N", node_zone_size),
	FIELD("max_cache_size", max_cache_size),
	FIELD("max_caches", max_caches),
	FIELD("magazines", nr_mags),
	FIELD("hugepages", hugepages),
	FIELD("hugepage_size", hugepage_size),
	FIELD("base_address", base_address),
	FIELD("worker_interval_ms", worker_interval_ms),
	FIELD("release_delay_ms", release_delay_ms),
	FIELD("retain_free", retain_free),
	FIELD("idle_drain_ms", idle_drain_ms),
	FIELD("log_level", log_level),
	FIELD("socket_owner", socket_uid),
	FIELD("socket_group", socket_gid),
	FIELD("socket_mode", socket_mode),
	FIELD("metrics_port", metrics_port),
	FIELD("hugepages_reserve", hugepages_reserve),
	FIELD("dma_zone_size", dma_zone_size),
	FIELD("dma_node", dma_node),
	FIELD("iova_mode", iova_mode),
	FIELD("vfio_group", vfio_group),
	FIELD("vfio_container", vfio_container),
	FIELD("allowed_users", allowed_users),
	FIELD("allowed_groups", allowed_groups),
	FIELD("region_dir", region_dir),
	FIELD("fd_store", fd_store),
	FIELD("debug", debug),
};

static int is_reloadable(const char *key)
{
	unsigned int i;
	for (i = 0; config_reloadable[i]; i++)
		if (!strcmp(config_reloadable[i], key))
			return 1;
	return 0;
}

void config_diff(const struct config *a, const struct config *b, int reloadable, char *buf, size_t len)
{
	size_t n = 0, i;

	buf[0] = 0;
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (is_reloadable(fields[i].key) != reloadable ||
		    !memcmp((const char *)a + fields[i].off, (const char *)b + fields[i].off, fields[i].size))
			continue;
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s", n ? ", " : "", fields[i].key);
		if (n >= len) {
			buf[len - 1] = 0;
			return;
		}
	}
}
