/* SPDX-License-Identifier: MIT */
/*
 * slabctl - inspect and control a running slabd (see slabctl(8)):
 *
 *   slabctl [--socket PATH] slabinfo          /proc/slabinfo 2.1 format, one row per cache
 *   slabctl [--socket PATH] stats [--json]    totals, per cache, CPU, node and client
 *   slabctl [--socket PATH] top [--once] [--delay S] [--count N]
 *   slabctl [--socket PATH] caches | clients | pools
 *   slabctl [--socket PATH] shrink [CACHE]
 *   slabctl [--socket PATH] verify            audit of every object, corruption counters
 *
 * It talks the wire protocol directly (STATS and the *_INFO requests, CACHE_OP shrink),
 * without attaching as a client or mapping the region. Exit codes: 0 ok, 1 error,
 * 2 usage, 3 no daemon at the socket, 4 verify found inconsistencies.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "slabd_shm.h"
#include "slabd_wire.h"

#define EXIT_ERROR     1
#define EXIT_USAGE     2
#define EXIT_NO_DAEMON 3
#define EXIT_INCONSISTENT 4

static const char usage_text[] =
    "Usage: slabctl [--socket PATH] COMMAND [ARGS]\n"
    "Inspect and control a running slabd (socket: --socket, $SLABD_SOCKET or " SLABD_DEFAULT_SOCKET
    ").\n\n"
    "Commands:\n"
    "  slabinfo                    every cache in the /proc/slabinfo 2.1 format\n"
    "  stats [--json]              totals, per cache, per CPU, per NUMA node, per client\n"
    "  top [--once] [--delay S] [--count N]\n"
    "                              a live view like slabtop (--once: one frame, no screen "
    "control)\n"
    "  caches                      the caches and their geometry\n"
    "  pools                       the packet-buffer pools: n, in use, available, sizes\n"
    "  clients                     the attached processes\n"
    "  shrink [CACHE]              give free memory of CACHE (name or id; default all) back\n"
    "  verify                      audit: every object free in exactly one place or allocated\n"
    "  debug [CACHE|all [on|off [FLAGS]]]\n"
    "                              show, or switch, debug checks (FLAGS: poison,redzone,\n"
    "                              store_user; default all the cache's geometry allows)\n\n"
    "Exit status: 0 ok, 1 error, 2 usage, 3 no daemon at the socket, 4 verify found\n"
    "inconsistencies.\n";

static int sock = -1;
static uint32_t seq;

/* ------------------------------------------------------------------ talking to slabd -- */

static void die_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "slabctl: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n(see slabctl --help)\n");
	exit(EXIT_USAGE);
}

static void connect_daemon(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int err;

	if (strlen(path) >= sizeof(sa.sun_path))
		die_usage("socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sock >= 0 && connect(sock, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		struct timeval tv = {
		    10, 0}; /* a daemon that stopped answering is an error, not a hang */
		setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		return;
	}
	err = errno;
	if (err == EACCES || err == EPERM) {
		fprintf(
		    stderr,
		    "slabctl: not allowed to connect to slabd at %s (%s): run as a member of the "
		    "socket's group (slabd by default) or as root\n",
		    path, strerror(err));
		exit(EXIT_ERROR);
	}
	fprintf(stderr,
		"slabctl: slabd is not running at %s (%s);\n"
		"start it with 'systemctl start slabd' (or 'systemctl start slabd.socket'), or run "
		"'slabd --socket %s';\nif it runs elsewhere, point --socket or SLABD_SOCKET at its "
		"socket.\n",
		path, strerror(err), path);
	exit(EXIT_NO_DAEMON);
}

/* Send @req (a request of @len bytes) and receive the reply of @reply_type into @reply. */
static int transact(void *req, size_t len, void *reply, size_t reply_len, uint16_t reply_type)
{
	struct slabd_wire_hdr *h = req;
	ssize_t n;
	int type;

	h->seq = ++seq;
	if (send(sock, req, len, MSG_NOSIGNAL) != (ssize_t)len)
		return -errno;
	n = recv(sock, reply, reply_len, 0);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ECONNRESET;
	type = slabd_wire_validate(reply, (size_t)n);
	if (type == SLABD_MSG_ERROR) {
		const struct slabd_wire_error *e = reply;
		fprintf(stderr, "slabctl: slabd: %s\n", e->msg);
		return e->err < 0 ? e->err : -EPROTO;
	}
	if (type != reply_type || ((struct slabd_wire_hdr *)reply)->seq != seq)
		return -EBADMSG;
	return 0;
}

static void fail(const char *what, int err)
{
	fprintf(stderr, "slabctl: %s: %s%s\n", what, strerror(-err),
		err == -EBADMSG ? " (is slabd older than this slabctl? restart it after an upgrade)"
				: "");
	exit(EXIT_ERROR);
}

static void get_totals(struct slabd_wire_stats *st)
{
	struct slabd_wire_stats_req req;
	int r;

	slabd_wire_init(&req.hdr, SLABD_MSG_STATS, sizeof(req), 0);
	req.cache = 0;
	r = transact(&req, sizeof(req), st, sizeof(*st), SLABD_MSG_STATS_REPLY);
	if (r == 0)
		r = st->err;
	if (r < 0)
		fail("the daemon did not answer the stats request", r);
}

/* The counters of damage found in client-writable memory: a VERIFY request without
 * SLABD_VERIFY_AUDIT (cheap: the daemon copies six counters). */
static void get_health(struct slabd_wire_verify *v)
{
	struct slabd_wire_verify_req req;
	int r;

	slabd_wire_init(&req.hdr, SLABD_MSG_VERIFY, sizeof(req), 0);
	req.flags = 0;
	r = transact(&req, sizeof(req), v, sizeof(*v), SLABD_MSG_VERIFY_REPLY);
	if (r == 0)
		r = v->err;
	if (r < 0)
		fail("the daemon did not answer the verify request", r);
}

/* One *_INFO request: 0, or -ENOENT at the end of the table. */
static int get_info(uint16_t type, uint32_t index, void *reply, size_t len)
{
	struct slabd_wire_info_req req;
	int r;

	slabd_wire_init(&req.hdr, type, sizeof(req), 0);
	req.index = index;
	r = transact(&req, sizeof(req), reply, len, (uint16_t)(type + 1));
	if (r == 0)
		r = *(const int32_t *)((const char *)reply + sizeof(struct slabd_wire_hdr));
	if (r < 0 && r != -ENOENT)
		fail("the daemon did not answer an info request", r);
	return r;
}

struct snapshot {
	struct slabd_wire_stats tot;
	struct slabd_wire_verify health; /* the VERIFY counters (no audit), for stats */
	struct slabd_wire_cache_info *caches;
	struct slabd_wire_cpu_info *cpus;
	struct slabd_wire_node_info *nodes;
	struct slabd_wire_client_info *clients;
	size_t nr_caches, nr_cpus, nr_nodes, nr_clients;
};

static void *grow(void *p, size_t n, size_t size)
{
	void *q = realloc(p, (n + 1) * size);
	if (!q) {
		fprintf(stderr, "slabctl: out of memory\n");
		exit(EXIT_ERROR);
	}
	return q;
}

static void snapshot_free(struct snapshot *s)
{
	free(s->caches);
	free(s->cpus);
	free(s->nodes);
	free(s->clients);
	memset(s, 0, sizeof(*s));
}

static void snapshot_take(struct snapshot *s, int what_cpus, int what_nodes, int what_clients)
{
	uint32_t i;

	snapshot_free(s);
	get_totals(&s->tot);
	for (i = 1; i < SLABD_MAX_CACHES; i++) {
		s->caches = grow(s->caches, s->nr_caches, sizeof(*s->caches));
		if (get_info(SLABD_MSG_CACHE_INFO, i, &s->caches[s->nr_caches],
			     sizeof(*s->caches)) < 0)
			break;
		i = s->caches[s->nr_caches++].cache;
	}
	for (i = 0; what_cpus && i < SLABD_MAX_CPUS; i++) {
		s->cpus = grow(s->cpus, s->nr_cpus, sizeof(*s->cpus));
		if (get_info(SLABD_MSG_CPU_INFO, i, &s->cpus[s->nr_cpus], sizeof(*s->cpus)) < 0)
			break;
		s->nr_cpus++;
	}
	for (i = 0; what_nodes && i < SLABD_MAX_NODES; i++) {
		s->nodes = grow(s->nodes, s->nr_nodes, sizeof(*s->nodes));
		if (get_info(SLABD_MSG_NODE_INFO, i, &s->nodes[s->nr_nodes], sizeof(*s->nodes)) < 0)
			break;
		s->nr_nodes++;
	}
	for (i = 0; what_clients && i < SLABD_MAX_CLIENTS; i++) {
		s->clients = grow(s->clients, s->nr_clients, sizeof(*s->clients));
		if (get_info(SLABD_MSG_CLIENT_INFO, i, &s->clients[s->nr_clients],
			     sizeof(*s->clients)) < 0)
			break;
		i = s->clients[s->nr_clients++].slot;
	}
}

/* ------------------------------------------------------------- packet-buffer pools -- */

/* A pool is a cache whose CACHE_INFO reply has pool_n (wire 4): its counts are those of
 * every cache, its geometry is in the pool_* fields. */
static int is_pool(const struct slabd_wire_cache_info *c)
{
	return c->pool_n != 0;
}

/* Free in per-CPU caches, depots and the daemon's slabs: in_use + available = n. */
static uint64_t pool_available(const struct slabd_wire_cache_info *c)
{
	return c->in_pcpu + c->in_depot + c->in_slabs;
}

/* The kernel's number of the node of index @node (from the NODE_INFO replies of @s). */
static uint32_t node_os_index(const struct snapshot *s, uint32_t node)
{
	size_t i;

	for (i = 0; i < s->nr_nodes; i++)
		if (s->nodes[i].node == node)
			return s->nodes[i].os_index;
	return node;
}

static const char *iova_mode_name(uint32_t m)
{
	return m == SLABD_IOVA_VFIO ? "vfio"
	       : m == SLABD_IOVA_PA ? "pa"
	       : m == SLABD_IOVA_VA ? "va"
				    : "none";
}

/* ----------------------------------------------------------------------- formatting -- */

static const char *backing(uint32_t b)
{
	return b == SLABD_BACKING_HUGETLB_2M   ? "hugetlb-2M"
	       : b == SLABD_BACKING_HUGETLB_1G ? "hugetlb-1G"
					       : "shmem-4K";
}

static double kib(uint64_t b)
{
	return (double)b / 1024.0;
}

/* The share of per-CPU allocation misses the depot served at once, or -1 without misses.
 * The fast path counts nothing (that would cost every allocation); see slabctl(8). */
static double depot_hit_rate(const struct slabd_wire_cache_info *c)
{
	uint64_t dm = c->depot_misses < c->alloc_misses ? c->depot_misses : c->alloc_misses;
	return c->alloc_misses ? 1.0 - (double)dm / (double)c->alloc_misses : -1.0;
}

/* A string as a JSON string: cache names are bytes clients chose. Valid UTF-8 goes out as
 * it is (JSON is UTF-8); a byte that is not part of valid UTF-8 is written as the four
 * characters \xNN (an escaped backslash, as the metrics do), control characters as
 * \u00NN. (Escaping every byte above 0x7f as \u00NN, as this did, turned "café" into
 * "cafÃ©".) */
static void json_str(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	putchar('"');
	while (*s) {
		size_t k = slabd_utf8_len(s);

		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if (*s < 0x20 || *s == 0x7f)
			printf("\\u%04x", *s);
		else if (!k)
			printf("\\\\x%02x", *s);
		else {
			fwrite(s, 1, k, stdout);
			s += k;
			continue;
		}
		s++;
	}
	putchar('"');
}

static void comm_of(uint32_t pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(buf, len, "?");
	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

/* The CPUs of @node as a list like "0-3,8". */
static void node_cpus(const struct snapshot *s, uint32_t node, char *buf, size_t len)
{
	size_t i, n = 0;

	buf[0] = 0;
	for (i = 0; i < s->nr_cpus && n < len; i++) {
		size_t j = i;
		if (s->cpus[i].node != node || !(s->cpus[i].flags & SLABD_CPU_ONLINE))
			continue;
		while (j + 1 < s->nr_cpus && s->cpus[j + 1].node == node &&
		       (s->cpus[j + 1].flags & SLABD_CPU_ONLINE) &&
		       s->cpus[j + 1].cpu == s->cpus[j].cpu + 1)
			j++;
		if (j == i)
			n += (size_t)snprintf(buf + n, len - n, "%s%u", n ? "," : "",
					      s->cpus[i].cpu);
		else
			n += (size_t)snprintf(buf + n, len - n, "%s%u-%u", n ? "," : "",
					      s->cpus[i].cpu, s->cpus[j].cpu);
		i = j;
	}
}

/* -------------------------------------------------------------------------- commands -- */

static int cmd_slabinfo(void)
{
	struct snapshot s = {0};
	size_t i;

	snapshot_take(&s, 0, 0, 0);
	/* exactly the kernel's header and row format (mm/slab_common.c) */
	printf("slabinfo - version: 2.1\n");
	printf("# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>"
	       " : tunables <limit> <batchcount> <sharedfactor>"
	       " : slabdata <active_slabs> <num_slabs> <sharedavail>\n");
	for (i = 0; i < s.nr_caches; i++) {
		const struct slabd_wire_cache_info *c = &s.caches[i];
		printf("%-17s %6llu %6llu %6u %4u %4d", c->name, (unsigned long long)c->in_use,
		       (unsigned long long)c->objs, c->size, c->objs_per_slab, 1 << c->order);
		printf(" : tunables %4u %4u %4u", c->pcpu_capacity, c->mag_objs, c->nr_nodes);
		printf(" : slabdata %6llu %6llu %6llu\n", (unsigned long long)c->active_slabs,
		       (unsigned long long)c->slabs, (unsigned long long)c->in_depot);
	}
	snapshot_free(&s);
	return 0;
}

/* "pools": an array of the pools, with the keys of slabctl(8). */
static void pools_json(const struct snapshot *s)
{
	const char *sep = "";
	size_t i;

	printf(",\n\"pools\":[");
	for (i = 0; i < s->nr_caches; i++) {
		const struct slabd_wire_cache_info *c = &s->caches[i];

		if (!is_pool(c))
			continue;
		printf("%s\n{\"name\":", sep);
		json_str(c->name);
		printf(",\"id\":%u,\"n\":%u,\"in_use\":%llu,\"available\":%llu,"
		       "\"available_pcpu\":%llu,\"available_depot\":%llu,\"available_slabs\":%llu,"
		       "\"element_size\":%u,\"stride\":%u,\"data_room\":%u,\"headroom\":%u,"
		       "\"priv_size\":%u,\"node\":%u,\"iova_mode\":\"%s\"}",
		       c->cache, c->pool_n, (unsigned long long)c->in_use,
		       (unsigned long long)pool_available(c), (unsigned long long)c->in_pcpu,
		       (unsigned long long)c->in_depot, (unsigned long long)c->in_slabs,
		       c->obj_size, c->size, c->pool_data_room, c->pool_headroom, c->pool_priv,
		       node_os_index(s, c->pool_node), iova_mode_name(c->pool_iova_mode));
		sep = ",";
	}
	printf("]");
}

static void stats_json(const struct snapshot *s)
{
	const struct slabd_wire_stats *t = &s->tot;
	const struct slabd_wire_verify *h = &s->health;
	size_t i;

	printf(
	    "{\"backing\":\"%s\",\"zone_bytes\":%llu,\"free_bytes\":%llu,\"released_bytes\":%llu,"
	    "\"in_use_bytes\":%llu,\"pcpu_bytes\":%llu,\"depot_bytes\":%llu,\"slab_free_bytes\":%"
	    "llu,"
	    "\"clients\":%u,\"alloc_failures\":%llu,\n",
	    backing(t->backing), (unsigned long long)t->zone_size, (unsigned long long)t->zone_free,
	    (unsigned long long)t->released, (unsigned long long)t->in_use,
	    (unsigned long long)t->in_pcpu, (unsigned long long)t->in_depot,
	    (unsigned long long)t->in_slabs, t->clients, (unsigned long long)t->alloc_failures);
	printf("\"corruption\":{\"bad_objects\":%llu,\"double_frees\":%llu,\"bad_mags\":%llu,"
	       "\"bad_stacks\":%llu,\"bad_pcpu\":%llu,\"quarantined\":%llu},\n\"caches\":[",
	       (unsigned long long)h->bad_objects, (unsigned long long)h->double_frees,
	       (unsigned long long)h->bad_mags, (unsigned long long)h->bad_stacks,
	       (unsigned long long)h->bad_pcpu, (unsigned long long)h->quarantined);
	for (i = 0; i < s->nr_caches; i++) {
		const struct slabd_wire_cache_info *c = &s->caches[i];
		double hr = depot_hit_rate(c);
		printf("%s\n{\"name\":", i ? "," : "");
		json_str(c->name);
		printf(
		    ",\"id\":%u,\"object_size\":%u,\"stride\":%u,\"align\":%u,\"objects_per_slab\":"
		    "%u,"
		    "\"pages_per_slab\":%u,\"slabs\":%llu,\"active_slabs\":%llu,\"objects\":%llu,"
		    "\"active_objects\":%llu,\"in_use_bytes\":%llu,\"pcpu_bytes\":%llu,\"depot_"
		    "bytes\":%llu,"
		    "\"slab_free_bytes\":%llu,\"pcpu_capacity\":%u,\"magazine_objects\":%u,"
		    "\"alloc_misses\":%llu,\"free_misses\":%llu,\"depot_misses\":%llu,\"depot_hit_"
		    "rate\":",
		    c->cache, c->obj_size, c->size, c->align, c->objs_per_slab, 1u << c->order,
		    (unsigned long long)c->slabs, (unsigned long long)c->active_slabs,
		    (unsigned long long)c->objs, (unsigned long long)c->in_use,
		    (unsigned long long)(c->in_use * c->size),
		    (unsigned long long)(c->in_pcpu * c->size),
		    (unsigned long long)(c->in_depot * c->size),
		    (unsigned long long)(c->in_slabs * c->size), c->pcpu_capacity, c->mag_objs,
		    (unsigned long long)c->alloc_misses, (unsigned long long)c->free_misses,
		    (unsigned long long)c->depot_misses);
		if (hr < 0)
			printf("null}");
		else
			printf("%.4f}", hr);
	}
	printf("]");
	pools_json(s);
	printf(",\n\"per_cpu\":[");
	for (i = 0; i < s->nr_cpus; i++) {
		const struct slabd_wire_cpu_info *p = &s->cpus[i];
		printf("%s\n{\"cpu\":%u,\"node\":%u,\"online\":%s,\"pcpu_bytes\":%llu,\"pcpu_"
		       "objects\":%llu,"
		       "\"alloc_misses\":%llu,\"free_misses\":%llu}",
		       i ? "," : "", p->cpu, p->node,
		       p->flags & SLABD_CPU_ONLINE ? "true" : "false",
		       (unsigned long long)p->pcpu_bytes, (unsigned long long)p->pcpu_objs,
		       (unsigned long long)p->alloc_misses, (unsigned long long)p->free_misses);
	}
	printf("],\n\"per_node\":[");
	for (i = 0; i < s->nr_nodes; i++) {
		const struct slabd_wire_node_info *n = &s->nodes[i];
		char cpus[1024];
		size_t k, first = 1;
		printf("%s\n{\"node\":%u,\"os_index\":%u,\"bound\":%s,\"simulated\":%s,\"zone_"
		       "bytes\":%llu,"
		       "\"free_bytes\":%llu,\"in_use_bytes\":%llu,\"released_bytes\":%llu,\"large_"
		       "bytes\":%llu,"
		       "\"cpus\":[",
		       i ? "," : "", n->node, n->os_index,
		       n->flags & SLABD_NODE_BOUND ? "true" : "false",
		       n->flags & SLABD_NODE_SIMULATED ? "true" : "false",
		       (unsigned long long)n->zone_size, (unsigned long long)n->zone_free,
		       (unsigned long long)n->zone_in_use, (unsigned long long)n->zone_released,
		       (unsigned long long)n->large_bytes);
		for (k = 0; k < s->nr_cpus; k++)
			if (s->cpus[k].node == n->node && (s->cpus[k].flags & SLABD_CPU_ONLINE)) {
				printf("%s%u", first ? "" : ",", s->cpus[k].cpu);
				first = 0;
			}
		node_cpus(s, n->node, cpus, sizeof(cpus));
		printf("],\"cpu_list\":\"%s\"}", cpus);
	}
	printf("],\n\"per_client\":[");
	for (i = 0; i < s->nr_clients; i++) {
		const struct slabd_wire_client_info *c = &s->clients[i];
		char comm[64];
		comm_of(c->pid, comm, sizeof(comm));
		printf("%s\n{\"id\":%u,\"pid\":%u,\"slot\":%u,\"comm\":", i ? "," : "", c->id,
		       c->pid, c->slot);
		json_str(comm);
		printf(",\"alloc_failures\":%llu}", (unsigned long long)c->alloc_failures);
	}
	printf("]}\n");
}

static void stats_text(const struct snapshot *s)
{
	const struct slabd_wire_stats *t = &s->tot;
	const struct slabd_wire_verify *h = &s->health;
	size_t i;

	printf(
	    "backing %s; zones %.0f KiB: resident free %.0f KiB, released to the kernel %.0f KiB\n"
	    "objects: in use %.0f KiB, in per-CPU caches %.0f KiB, in depots %.0f KiB, free in "
	    "slabs "
	    "%.0f KiB\nclients %u, allocation failures %llu\n\n",
	    backing(t->backing), kib(t->zone_size), kib(t->zone_free), kib(t->released),
	    kib(t->in_use), kib(t->in_pcpu), kib(t->in_depot), kib(t->in_slabs), t->clients,
	    (unsigned long long)t->alloc_failures);
	/* what the daemon found wrong in client-writable memory since it started (each also
	 * in its log): the names are those of the JSON and of the metrics */
	printf("corruption found: bad_objects %llu, double_frees %llu, bad_mags %llu, "
	       "bad_stacks %llu, bad_pcpu %llu, quarantined %llu\n\n",
	       (unsigned long long)h->bad_objects, (unsigned long long)h->double_frees,
	       (unsigned long long)h->bad_mags, (unsigned long long)h->bad_stacks,
	       (unsigned long long)h->bad_pcpu, (unsigned long long)h->quarantined);
	printf("%-24s %8s %8s %12s %12s %12s %12s %10s %10s %9s\n", "cache", "objsize", "slabs",
	       "in use KiB", "per-CPU KiB", "depot KiB", "free KiB", "alloc-miss", "free-miss",
	       "depot-hit");
	for (i = 0; i < s->nr_caches; i++) {
		const struct slabd_wire_cache_info *c = &s->caches[i];
		double hr = depot_hit_rate(c);
		char hit[16];

		if (!c->slabs && !c->alloc_misses)
			continue; /* never used: one line per cache that holds memory */
		if (hr < 0)
			snprintf(hit, sizeof(hit), "-");
		else
			snprintf(hit, sizeof(hit), "%.1f%%", hr * 100.0);
		printf("%-24s %8u %8llu %12.1f %12.1f %12.1f %12.1f %10llu %10llu %9s\n", c->name,
		       c->size, (unsigned long long)c->slabs, kib(c->in_use * c->size),
		       kib(c->in_pcpu * c->size), kib(c->in_depot * c->size),
		       kib(c->in_slabs * c->size), (unsigned long long)c->alloc_misses,
		       (unsigned long long)c->free_misses, hit);
	}
	printf("\n%-6s %-5s %12s %10s %10s\n", "cpu", "node", "per-CPU KiB", "alloc-miss",
	       "free-miss");
	for (i = 0; i < s->nr_cpus; i++) {
		const struct slabd_wire_cpu_info *p = &s->cpus[i];
		if (!(p->flags & SLABD_CPU_ONLINE) && !p->pcpu_objs)
			continue;
		printf("%-6u %-5u %12.1f %10llu %10llu\n", p->cpu, p->node, kib(p->pcpu_bytes),
		       (unsigned long long)p->alloc_misses, (unsigned long long)p->free_misses);
	}
	printf("\n%-5s %-7s %-10s %12s %12s %12s %12s  %s\n", "node", "kernel", "zone", "size KiB",
	       "free KiB", "in use KiB", "released KiB", "cpus");
	for (i = 0; i < s->nr_nodes; i++) {
		const struct slabd_wire_node_info *n = &s->nodes[i];
		char cpus[1024];
		node_cpus(s, n->node, cpus, sizeof(cpus));
		printf("%-5u %-7u %-10s %12.0f %12.0f %12.0f %12.0f  %s\n", n->node, n->os_index,
		       n->flags & SLABD_NODE_SIMULATED ? "simulated"
		       : n->flags & SLABD_NODE_BOUND   ? "bound"
						       : "unbound",
		       kib(n->zone_size), kib(n->zone_free), kib(n->zone_in_use),
		       kib(n->zone_released), cpus);
	}
	printf("\n%-8s %-8s %-16s %s\n", "client", "pid", "command", "alloc failures");
	for (i = 0; i < s->nr_clients; i++) {
		char comm[64];
		comm_of(s->clients[i].pid, comm, sizeof(comm));
		printf("%-8u %-8u %-16s %llu\n", s->clients[i].id, s->clients[i].pid, comm,
		       (unsigned long long)s->clients[i].alloc_failures);
	}
}

static int cmd_stats(int json)
{
	struct snapshot s = {0};

	snapshot_take(&s, 1, 1, 1);
	get_health(&s.health);
	if (json)
		stats_json(&s);
	else
		stats_text(&s);
	snapshot_free(&s);
	return 0;
}

static int cmd_caches(void)
{
	struct snapshot s = {0};
	size_t i;

	snapshot_take(&s, 0, 0, 0);
	printf("%-5s %-24s %8s %8s %6s %9s %10s %8s %10s\n", "id", "name", "objsize", "stride",
	       "align", "objs/slab", "pages/slab", "slabs", "in use");
	for (i = 0; i < s.nr_caches; i++) {
		const struct slabd_wire_cache_info *c = &s.caches[i];
		printf("%-5u %-24s %8u %8u %6u %9u %10u %8llu %10llu\n", c->cache, c->name,
		       c->obj_size, c->size, c->align, c->objs_per_slab, 1u << c->order,
		       (unsigned long long)c->slabs, (unsigned long long)c->in_use);
	}
	snapshot_free(&s);
	return 0;
}

static int cmd_pools(void)
{
	struct snapshot s = {0};
	size_t i, pools = 0, dma = 0;

	snapshot_take(&s, 0, 1, 0);
	for (i = 0; i < s.nr_caches; i++) {
		pools += is_pool(&s.caches[i]);
		dma += s.caches[i].zone_kind == SLABD_ZONE_DMA;
	}
	if (!pools)
		printf("no packet-buffer pools%s\n",
		       dma ? "" : " (this slabd has no DMA zone: dma_zone_size = 0)");
	else
		printf("%-5s %-24s %8s %8s %9s %8s %8s %9s %8s %6s %4s %4s\n", "id", "name", "n",
		       "in use", "available", "elt size", "stride", "data room", "headroom", "priv",
		       "node", "iova");
	for (i = 0; i < s.nr_caches; i++) {
		const struct slabd_wire_cache_info *c = &s.caches[i];

		if (!is_pool(c))
			continue;
		printf("%-5u %-24s %8u %8llu %9llu %8u %8u %9u %8u %6u %4u %4s\n", c->cache,
		       c->name, c->pool_n, (unsigned long long)c->in_use,
		       (unsigned long long)pool_available(c), c->obj_size, c->size,
		       c->pool_data_room, c->pool_headroom, c->pool_priv,
		       node_os_index(&s, c->pool_node), iova_mode_name(c->pool_iova_mode));
	}
	snapshot_free(&s);
	return 0;
}

static int cmd_clients(void)
{
	struct snapshot s = {0};
	size_t i;

	snapshot_take(&s, 0, 0, 1);
	printf("%-8s %-8s %-16s %s\n", "client", "pid", "command", "alloc failures");
	for (i = 0; i < s.nr_clients; i++) {
		char comm[64];
		comm_of(s.clients[i].pid, comm, sizeof(comm));
		printf("%-8u %-8u %-16s %llu\n", s.clients[i].id, s.clients[i].pid, comm,
		       (unsigned long long)s.clients[i].alloc_failures);
	}
	snapshot_free(&s);
	return 0;
}

/* CACHE on the command line is a name, or an id (digits only) when no cache has that
 * name: a cache may be named "1". True when @name is to be taken as the id *ret_id. */
static int cache_arg_is_id(const struct snapshot *s, const char *name, unsigned long *ret_id)
{
	size_t i;

	if (!*name || strspn(name, "0123456789") != strlen(name) || strlen(name) > 9)
		return 0;
	for (i = 0; i < s->nr_caches; i++)
		if (!strcmp(s->caches[i].name, name))
			return 0;
	*ret_id = strtoul(name, NULL, 10);
	return 1;
}

static int shrink_one(const struct slabd_wire_cache_info *c, uint64_t *total)
{
	struct slabd_wire_cache_op op;
	struct slabd_wire_cache_reply r;
	int err;

	slabd_wire_init(&op.hdr, SLABD_MSG_CACHE_OP, sizeof(op), 0);
	op.op = SLABD_CACHE_OP_SHRINK;
	op.cache = c->cache;
	op.gen = c->gen; /* the cache of the snapshot, not one created with its id since */
	err = transact(&op, sizeof(op), &r, sizeof(r), SLABD_MSG_CACHE_REPLY);
	if (err == 0)
		err = r.err;
	if (err == -EINVAL || err == -ESTALE)
		return 0; /* destroyed meanwhile */
	if (err < 0)
		fail("shrink", err);
	*total += r.count;
	if (r.count)
		printf("%-24s %10.1f KiB given back\n", c->name, kib(r.count));
	return 0;
}

static int cmd_shrink(const char *name)
{
	struct snapshot s = {0};
	uint64_t total = 0;
	size_t i, found = 0;
	unsigned long id = 0;
	int by_id;

	snapshot_take(&s, 0, 0, 0);
	by_id = name && cache_arg_is_id(&s, name, &id);
	for (i = 0; i < s.nr_caches; i++) {
		if (name && (by_id ? s.caches[i].cache != id : strcmp(s.caches[i].name, name)))
			continue;
		found++;
		shrink_one(&s.caches[i], &total);
	}
	snapshot_free(&s);
	if (name && !found) {
		fprintf(stderr, "slabctl: no cache %s (see slabctl caches)\n", name);
		return EXIT_USAGE;
	}
	printf("shrink: %.1f KiB given back to the zones in total\n", kib(total));
	return 0;
}

static const char *debug_flag_names(uint32_t f, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s", f & SLABD_DEBUG_POISON ? "poison," : "", f & SLABD_DEBUG_RED_ZONE ? "redzone," : "",
		 f & SLABD_DEBUG_STORE_USER ? "store_user," : "", f ? "" : "off");
	if (f)
		buf[strlen(buf) - 1] = 0;
	return buf;
}

static int debug_one(uint32_t id, uint32_t op, uint32_t flags, struct slabd_wire_debug *r)
{
	struct slabd_wire_debug_req q;
	int err;

	slabd_wire_init(&q.hdr, SLABD_MSG_DEBUG, sizeof(q), 0);
	q.op = op;
	q.cache = id;
	q.flags = flags;
	err = transact(&q, sizeof(q), r, sizeof(*r), SLABD_MSG_DEBUG_REPLY);
	return err ? err : r->err;
}

/* slabctl debug [CACHE|all [on|off [FLAGS]]] */
static int cmd_debug(int argc, char **argv)
{
	struct snapshot s = {0};
	struct slabd_wire_debug r;
	uint32_t op = SLABD_DEBUG_OP_QUERY, flags = 0;
	const char *name = argc > 0 ? argv[0] : "all";
	char fl[64], *tok, *save = NULL;
	size_t i, found = 0;
	unsigned long id = 0;
	int by_id, all = !strcmp(name, "all"), err;

	if (argc > 1) {
		if (!strcmp(argv[1], "on"))
			op = SLABD_DEBUG_OP_ON;
		else if (!strcmp(argv[1], "off"))
			op = SLABD_DEBUG_OP_OFF;
		else
			die_usage("debug: expected on or off, not '%s'", argv[1]);
	}
	if (argc > 2) {
		if (op != SLABD_DEBUG_OP_ON)
			die_usage("%s", "debug: flags go with on");
		snprintf(fl, sizeof(fl), "%s", argv[2]);
		for (tok = strtok_r(fl, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (!strcmp(tok, "poison"))
				flags |= SLABD_DEBUG_POISON;
			else if (!strcmp(tok, "redzone") || !strcmp(tok, "red_zone"))
				flags |= SLABD_DEBUG_RED_ZONE;
			else if (!strcmp(tok, "store_user"))
				flags |= SLABD_DEBUG_STORE_USER;
			else
				die_usage("debug: unknown flag '%s' (poison, redzone, store_user)", tok);
		}
	}
	if (all && op != SLABD_DEBUG_OP_QUERY) {
		err = debug_one(SLABD_DEBUG_ALL_CACHES, op, flags, &r);
		if (err < 0)
			fail("debug", err);
	}
	snapshot_take(&s, 0, 0, 0);
	by_id = cache_arg_is_id(&s, name, &id);
	printf("%-24s %-26s %s\n", "cache", "debug", "errors");
	for (i = 0; i < s.nr_caches; i++) {
		if (!all && (by_id ? s.caches[i].cache != id : strcmp(s.caches[i].name, name)))
			continue;
		found++;
		err = debug_one(s.caches[i].cache, all ? SLABD_DEBUG_OP_QUERY : op, flags, &r);
		if (err == -ENOENT)
			continue; /* destroyed meanwhile */
		if (err < 0)
			fail("debug", err);
		if (all && !r.flags && !r.errors)
			continue;
		printf("%-24s %-26s %llu\n", s.caches[i].name, debug_flag_names(r.flags, fl, sizeof(fl)),
		       (unsigned long long)r.errors);
	}
	snapshot_free(&s);
	if (!all && !found) {
		fprintf(stderr, "slabctl: no cache %s (see slabctl caches)\n", name);
		return EXIT_USAGE;
	}
	err = debug_one(SLABD_DEBUG_ALL_CACHES, SLABD_DEBUG_OP_QUERY, 0, &r);
	if (err < 0)
		fail("debug", err);
	printf("total: %u caches in debug mode, %llu errors reported, %llu objects reclaimed from dead "
	       "clients\n",
	       r.caches, (unsigned long long)r.errors, (unsigned long long)r.reclaimed);
	return 0;
}

static volatile sig_atomic_t stop_top;

static void on_sigint(int sig)
{
	(void)sig;
	stop_top = 1;
}

static int by_memory(const void *a, const void *b)
{
	const struct slabd_wire_cache_info *x = a, *y = b;
	uint64_t mx = x->slabs * (x->objs_per_slab ? x->objs_per_slab : 1) * x->size;
	uint64_t my = y->slabs * (y->objs_per_slab ? y->objs_per_slab : 1) * y->size;
	return mx < my ? 1 : mx > my ? -1 : (x->cache > y->cache) - (x->cache < y->cache);
}

/* Misses per second of cache @id since @prev, or -1 when there is no earlier frame. */
static double rate(const struct snapshot *prev, double secs, uint32_t id, uint64_t now, int alloc)
{
	size_t i;

	if (!prev || secs <= 0)
		return -1;
	for (i = 0; i < prev->nr_caches; i++)
		if (prev->caches[i].cache == id) {
			uint64_t then =
			    alloc ? prev->caches[i].alloc_misses : prev->caches[i].free_misses;
			return now >= then ? (double)(now - then) / secs : 0;
		}
	return -1;
}

static void fmt_rate(char *buf, size_t len, double r)
{
	if (r < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.0f", r);
}

static int cmd_top(int once, double delay, long count)
{
	struct snapshot s = {0}, prev = {0};
	struct timespec t0 = {0, 0}, t1;
	long frame;

	signal(SIGINT, on_sigint);
	signal(SIGTERM, on_sigint);
	for (frame = 0; !stop_top && (count <= 0 || frame < count); frame++) {
		const struct slabd_wire_stats *t;
		uint64_t objs = 0, active = 0, slabs = 0, total = 0;
		double secs;
		size_t i;

		snapshot_take(&s, 0, 0, 0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		secs = frame ? (double)(t1.tv_sec - t0.tv_sec) +
				   (double)(t1.tv_nsec - t0.tv_nsec) / 1e9
			     : 0;
		t = &s.tot;
		qsort(s.caches, s.nr_caches, sizeof(*s.caches), by_memory);
		for (i = 0; i < s.nr_caches; i++) {
			objs += s.caches[i].objs;
			active += s.caches[i].in_use;
			slabs += s.caches[i].slabs;
			total += s.caches[i].objs * s.caches[i].size;
		}
		if (!once)
			printf("\033[H\033[2J");
		printf(" Active / Total Objects (%% used)    : %llu / %llu (%.1f%%)\n",
		       (unsigned long long)active, (unsigned long long)objs,
		       objs ? 100.0 * (double)active / (double)objs : 0.0);
		printf(" Active / Total Caches             : %zu\n", s.nr_caches);
		printf(" Slabs                             : %llu (%.1f KiB of objects)\n",
		       (unsigned long long)slabs, kib(total));
		printf(" Zones %.0f KiB: in use %.0f KiB, per-CPU %.0f KiB, depots %.0f KiB, free "
		       "%.0f KiB, released "
		       "%.0f KiB\n",
		       kib(t->zone_size), kib(t->in_use), kib(t->in_pcpu), kib(t->in_depot),
		       kib(t->zone_free), kib(t->released));
		printf(" Clients %u, allocation failures %llu, backing %s\n\n", t->clients,
		       (unsigned long long)t->alloc_failures, backing(t->backing));
		printf("%8s %8s %4s %8s %6s %4s %10s %9s %9s %s\n", "OBJS", "ACTIVE", "USE",
		       "OBJ SIZE", "SLABS", "O/S", "CACHE SIZE", "AMISS/s", "FMISS/s", "NAME");
		for (i = 0; i < s.nr_caches; i++) {
			const struct slabd_wire_cache_info *c = &s.caches[i];
			char ar[24], fr[24];
			if (!c->slabs)
				continue;
			fmt_rate(ar, sizeof(ar),
				 rate(frame ? &prev : NULL, secs, c->cache, c->alloc_misses, 1));
			fmt_rate(fr, sizeof(fr),
				 rate(frame ? &prev : NULL, secs, c->cache, c->free_misses, 0));
			printf("%8llu %8llu %3.0f%% %7.2fK %6llu %4u %9.0fK %9s %9s %s\n",
			       (unsigned long long)c->objs, (unsigned long long)c->in_use,
			       c->objs ? 100.0 * (double)c->in_use / (double)c->objs : 0.0,
			       (double)c->size / 1024.0, (unsigned long long)c->slabs,
			       c->objs_per_slab, kib(c->objs * c->size), ar, fr, c->name);
		}
		fflush(stdout);
		snapshot_free(&prev);
		prev = s;
		memset(&s, 0, sizeof(s));
		t0 = t1;
		if (once || (count > 0 && frame + 1 >= count))
			break;
		{
			struct timespec d = {(time_t)delay,
					     (long)((delay - (double)(time_t)delay) * 1e9)};
			while (nanosleep(&d, &d) < 0 && errno == EINTR && !stop_top)
				;
		}
	}
	snapshot_free(&prev);
	return 0;
}

/*
 * verify: the daemon drains every per-CPU stack and free chain through its workers, then
 * checks that each object is free in exactly one place (its slab, or one magazine on a
 * depot stack) or allocated, and reports what it found wrong in client-writable memory
 * since it started. Exact while no client is in its slow path.
 */
static int cmd_verify(void)
{
	struct slabd_wire_verify_req q;
	struct slabd_wire_verify r;
	int err;

	slabd_wire_init(&q.hdr, SLABD_MSG_VERIFY, sizeof(q), 0);
	q.flags = SLABD_VERIFY_AUDIT;
	err = transact(&q, sizeof(q), &r, sizeof(r), SLABD_MSG_VERIFY_REPLY);
	if (err == 0)
		err = r.err;
	if (err < 0)
		fail("verify", err);
	printf("objects:        %llu\n", (unsigned long long)r.objects);
	printf("  free in slabs:  %llu\n", (unsigned long long)r.free_slabs);
	printf("  free in depots: %llu\n", (unsigned long long)r.free_mags);
	printf("  allocated:      %llu\n", (unsigned long long)r.allocated);
	printf("problems:       %llu\n", (unsigned long long)r.problems);
	printf("  duplicates:     %llu (free in two places)\n", (unsigned long long)r.duplicates);
	printf("  strays:         %llu (not objects of their cache)\n",
	       (unsigned long long)r.strays);
	printf("  bad links:      %llu (magazine stacks)\n", (unsigned long long)r.bad_links);
	if (r.first[0])
		printf("  first:          %s\n", r.first);
	printf("found in client-writable memory since slabd started:\n");
	printf("  bad offsets %llu, double frees %llu, bad magazine counts %llu, corrupt depot "
	       "stacks %llu,\n"
	       "  corrupt per-CPU counts %llu, quarantined magazines %llu\n",
	       (unsigned long long)r.bad_objects, (unsigned long long)r.double_frees,
	       (unsigned long long)r.bad_mags, (unsigned long long)r.bad_stacks,
	       (unsigned long long)r.bad_pcpu, (unsigned long long)r.quarantined);
	printf("%s\n", r.problems ? "INCONSISTENT: see the daemon's log for each problem"
				  : "consistent (exact while no client is in its slow path)");
	return r.problems ? EXIT_INCONSISTENT : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},
	    {"once", no_argument, NULL, '1'},
	    {"delay", required_argument, NULL, 'd'},
	    {"count", required_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = getenv("SLABD_SOCKET"), *cmd;
	int json = 0, once = 0, opt;
	double delay = 2.0;
	long count = 0;
	char *end;

	while ((opt = getopt_long(argc, argv, "s:j1d:n:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			path = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case '1':
			once = 1;
			break;
		case 'd':
			delay = strtod(optarg, &end);
			if (*end || !(delay >= 0.1 && delay <= 3600))
				die_usage("--delay %s: expected seconds between 0.1 and 3600",
					  optarg);
			break;
		case 'n':
			count = strtol(optarg, &end, 10);
			if (*end || count < 1)
				die_usage("--count %s: expected a positive number", optarg);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs(usage_text, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		die_usage("%s", "missing command");
	cmd = argv[optind++];
	if (!path || !*path)
		path = SLABD_DEFAULT_SOCKET;
	if (!strcmp(cmd, "debug")) {
		if (argc - optind > 3)
			die_usage("unexpected argument '%s'", argv[argc - 1]);
	} else if (strcmp(cmd, "shrink") ? optind < argc : optind + 1 < argc)
		die_usage("unexpected argument '%s'", argv[argc - 1]);
	if (json && strcmp(cmd, "stats"))
		die_usage("%s", "--json goes with stats");
	if ((once || count) && strcmp(cmd, "top"))
		die_usage("%s", "--once and --count go with top");
	if (strcmp(cmd, "slabinfo") && strcmp(cmd, "stats") && strcmp(cmd, "top") &&
	    strcmp(cmd, "caches") && strcmp(cmd, "clients") && strcmp(cmd, "shrink") &&
	    strcmp(cmd, "verify") && strcmp(cmd, "debug") && strcmp(cmd, "pools"))
		die_usage("unknown command '%s'", cmd);

	connect_daemon(path);
	if (!strcmp(cmd, "slabinfo"))
		return cmd_slabinfo();
	if (!strcmp(cmd, "stats"))
		return cmd_stats(json);
	if (!strcmp(cmd, "top"))
		return cmd_top(once, delay, count);
	if (!strcmp(cmd, "caches"))
		return cmd_caches();
	if (!strcmp(cmd, "clients"))
		return cmd_clients();
	if (!strcmp(cmd, "pools"))
		return cmd_pools();
	if (!strcmp(cmd, "verify"))
		return cmd_verify();
	if (!strcmp(cmd, "debug"))
		return cmd_debug(argc - optind, argv + optind);
	return cmd_shrink(optind < argc ? argv[optind] : NULL);
}
