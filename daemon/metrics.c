/* SPDX-License-Identifier: MIT */
/*
 * metrics.c - an optional Prometheus text endpoint: HTTP/1.0, GET /metrics only, on
 * 127.0.0.1:metrics_port, served by the control thread's epoll loop (server.c).
 *
 * Connections are few and short: a fixed pool of METRICS_CONNS slots, each reading one
 * request (at most METRICS_REQ_MAX bytes), answering and closing. A connection that has
 * not finished within METRICS_TIMEOUT_MS is closed the next time anything happens on the
 * endpoint, so a stalled scraper cannot hold slots for ever; a full pool closes new
 * connections at once. The figures are the ones slabctl shows (stats.c), read the same
 * way and as approximate.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "log.h"
#include "metrics.h"
#include "slabd_daemon.h"
#include "slabd_wire.h"

#define METRICS_CONNS	   8
#define METRICS_REQ_MAX	   4096
#define METRICS_TIMEOUT_MS 5000

struct metrics_conn {
	int fd; /* -1: free slot */
	uint64_t since_ms;
	size_t in_len;
	char in[METRICS_REQ_MAX];
	char *out; /* the whole response, malloc'd */
	size_t out_len, out_done;
};

static struct metrics_conn pool[METRICS_CONNS] = {[0 ... METRICS_CONNS - 1] = {.fd = -1}};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int metrics_listen(uint32_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd, one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		int err = errno;
		log_err("metrics_port %u: cannot listen on 127.0.0.1:%u: %s (choose another port, "
			"or 0 to turn "
			"the endpoint off)",
			port, port, strerror(err));
		if (fd >= 0)
			close(fd);
		return -err;
	}
	log_info("metrics: Prometheus text at http://127.0.0.1:%u/metrics", port);
	return fd;
}

int metrics_owns(const void *tag)
{
	return (const char *)tag >= (const char *)pool &&
	       (const char *)tag < (const char *)(pool + METRICS_CONNS);
}

static void conn_close(struct metrics_conn *m, int epfd)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, m->fd, NULL);
	close(m->fd);
	free(m->out);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}

void metrics_close_all(int epfd)
{
	int i;
	for (i = 0; i < METRICS_CONNS; i++)
		if (pool[i].fd >= 0)
			conn_close(&pool[i], epfd);
}

/* A Prometheus label value: backslash, double quote and newline escaped. The format is
 * UTF-8 and a cache name is any bytes a client chose: a byte that is not part of valid
 * UTF-8 is written as the four characters \xNN (an escaped backslash), so a scraper
 * does not throw the whole scrape away. */
static void label(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	while (*s) {
		size_t k = slabd_utf8_len(s);

		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else if (!k)
			fprintf(f, "\\\\x%02x", *s);
		else
			fwrite(s, 1, k, f);
		s += k ? k : 1;
	}
}

static void help(FILE *f, const char *name, const char *type, const char *text)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

/* The per-cache series: name, type, help, and which field of the cache info. */
enum cache_field {
	F_OBJS,
	F_ACTIVE,
	F_SIZE,
	F_SLABS,
	F_PCPU,
	F_DEPOT,
	F_SLABFREE,
	F_AMISS,
	F_FMISS,
	F_DMISS
};
static const struct {
	const char *name, *type, *help;
	enum cache_field field;
} cache_series[] = {
    {"slabd_cache_objects", "gauge", "Objects in the cache's slabs.", F_OBJS},
    {"slabd_cache_active_objects", "gauge", "Objects of the cache allocated to clients.", F_ACTIVE},
    {"slabd_cache_object_size_bytes", "gauge", "Object stride in the slab.", F_SIZE},
    {"slabd_cache_slabs", "gauge", "Slabs of the cache.", F_SLABS},
    {"slabd_cache_pcpu_objects", "gauge", "Free objects in per-CPU caches (approximate).", F_PCPU},
    {"slabd_cache_depot_objects", "gauge", "Free objects in depots and reserves (approximate).",
     F_DEPOT},
    {"slabd_cache_slab_free_objects", "gauge", "Free objects held in the daemon's slabs.",
     F_SLABFREE},
    {"slabd_cache_alloc_misses_total", "counter", "Per-CPU cache empty on allocation.", F_AMISS},
    {"slabd_cache_free_misses_total", "counter", "Per-CPU cache full on free.", F_FMISS},
    {"slabd_cache_depot_misses_total", "counter", "Depot empty when a client came for a magazine.",
     F_DMISS},
};

static uint64_t cache_value(const struct slabd_wire_cache_info *c, enum cache_field f)
{
	switch (f) {
	case F_OBJS:
		return c->objs;
	case F_ACTIVE:
		return c->in_use;
	case F_SIZE:
		return c->size;
	case F_SLABS:
		return c->slabs;
	case F_PCPU:
		return c->in_pcpu;
	case F_DEPOT:
		return c->in_depot;
	case F_SLABFREE:
		return c->in_slabs;
	case F_AMISS:
		return c->alloc_misses;
	case F_FMISS:
		return c->free_misses;
	default:
		return c->depot_misses;
	}
}

/* metrics_render: the whole exposition into a malloc'd buffer. */
static char *metrics_render(struct slabd *d, size_t *ret_len)
{
	struct slabd_wire_stats tot;
	struct slabd_wire_cache_info *caches = NULL;
	uint32_t nr_caches = 0, id, n, cpu, i;
	char *buf = NULL;
	FILE *f = open_memstream(&buf, ret_len);

	if (!f)
		return NULL;
	memset(&tot, 0, sizeof(tot));
	stats_fill(d, 0, &tot);
	caches = calloc(d->sb->max_caches, sizeof(*caches));
	for (id = 1; caches && id < d->sb->max_caches; id++) {
		memset(&caches[nr_caches], 0, sizeof(caches[0]));
		if (stats_cache_info(d, id, &caches[nr_caches]) < 0)
			break;
		id = caches[nr_caches++].cache;
	}

	help(f, "slabd_info", "gauge", "Version and backing of this slabd.");
	fprintf(f, "slabd_info{version=\"%s\",backing=\"%s\",layout=\"%u\",wire=\"%u\"} 1\n",
		SLABD_VERSION_STRING, region_backing_name(d->backing), SLABD_SHM_LAYOUT_VERSION,
		SLABD_WIRE_VERSION);
	help(f, "slabd_clients", "gauge", "Attached client processes.");
	fprintf(f, "slabd_clients %u\n", tot.clients);
	help(f, "slabd_alloc_failures_total", "counter",
	     "Failed allocations reported by clients (not __GFP_NOWARN).");
	fprintf(f, "slabd_alloc_failures_total %llu\n", (unsigned long long)tot.alloc_failures);
	help(f, "slabd_bytes", "gauge",
	     "Where the memory of every zone is (per-CPU and depot figures approximate).");
	fprintf(f,
		"slabd_bytes{state=\"in_use\"} %llu\nslabd_bytes{state=\"pcpu\"} %llu\n"
		"slabd_bytes{state=\"depot\"} %llu\nslabd_bytes{state=\"slab_free\"} %llu\n"
		"slabd_bytes{state=\"zone_free\"} %llu\nslabd_bytes{state=\"released\"} %llu\n",
		(unsigned long long)tot.in_use, (unsigned long long)tot.in_pcpu,
		(unsigned long long)tot.in_depot, (unsigned long long)tot.in_slabs,
		(unsigned long long)tot.zone_free, (unsigned long long)tot.released);
	help(f, "slabd_events_total", "counter", "Daemon events since start.");
	fprintf(f,
		"slabd_events_total{event=\"refill\"} "
		"%llu\nslabd_events_total{event=\"slab_created\"} %llu\n"
		"slabd_events_total{event=\"slab_released\"} "
		"%llu\nslabd_events_total{event=\"drain\"} %llu\n"
		"slabd_events_total{event=\"bad_object\"} "
		"%llu\nslabd_events_total{event=\"double_free\"} %llu\n",
		(unsigned long long)__atomic_load_n(&d->stats.refills, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&d->stats.slabs_created, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&d->stats.slabs_released, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&d->stats.drains, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&d->stats.bad_objects, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&d->stats.double_frees, __ATOMIC_RELAXED));

	help(f, "slabd_corruption_total", "counter",
	     "Damage found in client-writable memory since start (each also logged): offsets "
	     "that were no object, double frees, magazine counts, depot stack heads and per-CPU "
	     "counts reset, magazines quarantined.");
	{
		/* the names of the VERIFY reply and of `slabctl stats` */
		static const char *const found[] = {"bad_objects", "double_frees", "bad_mags",
						    "bad_stacks",  "bad_pcpu",	   "quarantined"};
		const uint64_t *counter[] = {&d->stats.bad_objects, &d->stats.double_frees,
					     &d->stats.bad_mags,    &d->stats.bad_stacks,
					     &d->stats.bad_pcpu,    &d->stats.quarantined};
		for (i = 0; i < sizeof(found) / sizeof(found[0]); i++)
			fprintf(f, "slabd_corruption_total{found=\"%s\"} %llu\n", found[i],
				(unsigned long long)__atomic_load_n(counter[i], __ATOMIC_RELAXED));
	}

	help(f, "slabd_zone_bytes", "gauge", "Zone of each NUMA node by state.");
	for (n = 0; n < d->sb->nr_nodes; n++) {
		struct slabd_wire_node_info ni;
		memset(&ni, 0, sizeof(ni));
		if (stats_node_info(d, n, &ni) < 0)
			continue;
		fprintf(f,
			"slabd_zone_bytes{node=\"%u\",state=\"total\"} "
			"%llu\nslabd_zone_bytes{node=\"%u\",state=\"free\"} "
			"%llu\nslabd_zone_bytes{node=\"%u\",state=\"in_use\"} %llu\n"
			"slabd_zone_bytes{node=\"%u\",state=\"released\"} %llu\n"
			"slabd_zone_bytes{node=\"%u\",state=\"large\"} %llu\n",
			ni.os_index, (unsigned long long)ni.zone_size, ni.os_index,
			(unsigned long long)ni.zone_free, ni.os_index,
			(unsigned long long)ni.zone_in_use, ni.os_index,
			(unsigned long long)ni.zone_released, ni.os_index,
			(unsigned long long)ni.large_bytes);
	}
	help(f, "slabd_node_bound", "gauge", "1 when the node's zone is bound to it and verified.");
	for (n = 0; n < d->sb->nr_nodes; n++)
		fprintf(f, "slabd_node_bound{node=\"%u\"} %d\n", d->nodes[n].os_index,
			!!(d->nodes[n].flags & SLABD_NODE_BOUND));

	for (i = 0; i < sizeof(cache_series) / sizeof(cache_series[0]); i++) {
		uint32_t k;
		help(f, cache_series[i].name, cache_series[i].type, cache_series[i].help);
		for (k = 0; k < nr_caches; k++) {
			fprintf(f, "%s{cache=\"", cache_series[i].name);
			label(f, caches[k].name);
			fprintf(f, "\"} %llu\n",
				(unsigned long long)cache_value(&caches[k], cache_series[i].field));
		}
	}

	help(f, "slabd_cpu_pcpu_bytes", "gauge",
	     "Free bytes in each CPU's per-CPU caches (approximate).");
	for (cpu = 0; cpu < d->sb->nr_cpus; cpu++) {
		struct slabd_wire_cpu_info pi;
		memset(&pi, 0, sizeof(pi));
		if (stats_cpu_info(d, cpu, &pi) == 0 && (pi.flags & SLABD_CPU_ONLINE))
			fprintf(f, "slabd_cpu_pcpu_bytes{cpu=\"%u\",node=\"%u\"} %llu\n", cpu,
				d->nodes[pi.node].os_index, (unsigned long long)pi.pcpu_bytes);
	}
	help(f, "slabd_cpu_misses_total", "counter",
	     "Per-CPU cache misses of each CPU, over every cache.");
	for (cpu = 0; cpu < d->sb->nr_cpus; cpu++) {
		struct slabd_wire_cpu_info pi;
		memset(&pi, 0, sizeof(pi));
		if (stats_cpu_info(d, cpu, &pi) == 0 && (pi.flags & SLABD_CPU_ONLINE))
			fprintf(f,
				"slabd_cpu_misses_total{cpu=\"%u\",kind=\"alloc\"} %llu\n"
				"slabd_cpu_misses_total{cpu=\"%u\",kind=\"free\"} %llu\n",
				cpu, (unsigned long long)pi.alloc_misses, cpu,
				(unsigned long long)pi.free_misses);
	}
	help(f, "slabd_client_alloc_failures_total", "counter",
	     "Failed allocations of each attached client.");
	for (i = 0; i < SLABD_MAX_CLIENTS; i++) {
		struct slabd_wire_client_info ci;
		memset(&ci, 0, sizeof(ci));
		if (stats_client_info(d, i, &ci) < 0)
			break;
		fprintf(f, "slabd_client_alloc_failures_total{id=\"%u\",pid=\"%u\"} %llu\n", ci.id,
			ci.pid, (unsigned long long)ci.alloc_failures);
		i = ci.slot;
	}
	free(caches);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static void respond(struct slabd *d, struct metrics_conn *m)
{
	char method[16] = "", path[256] = "", *body = NULL, head[256];
	const char *status = "200 OK";
	size_t body_len = 0;
	int hl;

	if (sscanf(m->in, "%15s %255s", method, path) != 2)
		status = "400 Bad Request";
	else if (strcmp(method, "GET"))
		status = "405 Method Not Allowed";
	else if (strcmp(path, "/metrics"))
		status = "404 Not Found";
	if (!strcmp(status, "200 OK")) {
		body = metrics_render(d, &body_len);
		if (!body)
			status = "500 Internal Server Error";
	}
	if (!body) {
		if (asprintf(&body, "%s\n%s", status,
			     strncmp(status, "404", 3) ? "" : "slabd serves only GET /metrics\n") <
		    0)
			body = NULL;
		body_len = body ? strlen(body) : 0;
	}
	hl = snprintf(head, sizeof(head),
		      "HTTP/1.0 %s\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
		      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		      status, body_len);
	m->out = malloc((size_t)hl + body_len);
	if (m->out) {
		memcpy(m->out, head, (size_t)hl);
		if (body_len)
			memcpy(m->out + hl, body, body_len);
		m->out_len = (size_t)hl + body_len;
	}
	free(body);
}

/* Send what is left; 1 when done (or hopeless), 0 when the socket is full. */
static int flush_out(struct metrics_conn *m)
{
	while (m->out && m->out_done < m->out_len) {
		ssize_t k = send(m->fd, m->out + m->out_done, m->out_len - m->out_done,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (k <= 0)
			return 1;
		m->out_done += (size_t)k;
	}
	return 1;
}

int metrics_accept(int lfd, int epfd)
{
	uint64_t now = now_ms();
	int i;

	for (i = 0; i < METRICS_CONNS; i++)
		if (pool[i].fd >= 0 && now - pool[i].since_ms > METRICS_TIMEOUT_MS)
			conn_close(&pool[i], epfd);
	for (;;) {
		struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP};
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (fd < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (fd < 0) {
			int err = errno;
			log_warn_limited("metrics: cannot accept connections: %s; pausing",
					 strerror(err));
			return -err;
		}
		for (i = 0; i < METRICS_CONNS && pool[i].fd >= 0; i++)
			;
		if (i == METRICS_CONNS) {
			close(fd); /* busy: the scraper retries */
			continue;
		}
		pool[i].fd = fd;
		pool[i].since_ms = now;
		ev.data.ptr = &pool[i];
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
			conn_close(&pool[i], epfd);
	}
}

void metrics_handle(struct slabd *d, void *tag, uint32_t events, int epfd)
{
	struct metrics_conn *m = tag;

	if (m->fd < 0)
		return;
	if (!m->out) {
		ssize_t k =
		    recv(m->fd, m->in + m->in_len, sizeof(m->in) - 1 - m->in_len, MSG_DONTWAIT);
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (k <= 0) {
			conn_close(m, epfd);
			return;
		}
		m->in_len += (size_t)k;
		m->in[m->in_len] = 0;
		if (!strstr(m->in, "\r\n\r\n") && !strstr(m->in, "\n\n")) {
			if (m->in_len + 1 < sizeof(m->in))
				return; /* the request goes on */
			m->in[0] = 0;	/* too long: answered 400 */
		}
		respond(d, m);
		if (!flush_out(m)) {
			struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = m};
			epoll_ctl(epfd, EPOLL_CTL_MOD, m->fd, &ev);
			return;
		}
		conn_close(m, epfd);
		return;
	}
	if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) && flush_out(m))
		conn_close(m, epfd);
}
