/* SPDX-License-Identifier: MIT */
/*
 * test_metrics.c - the optional Prometheus endpoint: off by default, GET /metrics on
 * 127.0.0.1:metrics_port with the caches' figures (a named cache with quotes in its
 * name escaped), the corruption counters going up after a scribble, 404/405/400 for
 * anything else, a busy port refusing the start.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "daemon_helper.h"
#include "shm_view.h"

static struct test_daemon td;
static char resp[1 << 18];
static int port;

/* A port nobody listens on now (the kernel's choice for an ephemeral bind). */
static int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t l = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), p;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &l), 0);
	p = ntohs(sa.sin_port);
	close(fd);
	return p;
}

static void up(void)
{
	char set[64];
	const char *sets[] = {"zone_size=4M", set, NULL};
	int tries;

	for (tries = 0; tries < 5; tries++) { /* another process may take the port meanwhile */
		port = free_port();
		snprintf(set, sizeof(set), "metrics_port=%d", port);
		if (td_start(&td, sets) == 0)
			break;
	}
	cr_assert_lt(tries, 5, "slabd did not start with a metrics port");
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
}

static void down(void)
{
	cr_expect(td_alive(&td), "slabd died during the test");
	cr_expect_eq(td_stop(&td), 0);
}

/* Send @req to the endpoint and read the whole response into resp[]. */
static size_t http(const char *req)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	size_t n = 0;
	ssize_t k;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = {10, 0};

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect: %s",
		     strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cr_assert_eq(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
	while (n + 1 < sizeof(resp) && (k = recv(fd, resp + n, sizeof(resp) - 1 - n, 0)) > 0)
		n += (size_t)k;
	resp[n] = 0;
	close(fd);
	return n;
}

/* The value of the series line starting with @series, or -1. */
static long long series(const char *s)
{
	const char *p = resp;
	size_t l = strlen(s);

	while ((p = strstr(p, s))) {
		if ((p == resp || p[-1] == '\n') && p[l] == ' ')
			return atoll(p + l + 1);
		p += l;
	}
	return -1;
}

TestSuite(metrics, .init = up, .fini = down, .timeout = 60);

Test(metrics, get_metrics_serves_the_prometheus_text_format)
{
	struct kmem_cache *c = kmem_cache_create("we\"ird\\name", 300, 0, 0, NULL);
	void *objs[25];
	char *body;
	int i;

	cr_assert_not_null(c, "%s", slabd_last_error());
	for (i = 0; i < 25; i++)
		cr_assert_not_null(objs[i] = kmem_cache_alloc(c, GFP_KERNEL));
	http("GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n");
	cr_assert_eq(strncmp(resp, "HTTP/1.0 200 OK\r\n", 17), 0, "%.200s", resp);
	cr_assert(strstr(resp, "Content-Type: text/plain; version=0.0.4") != NULL);
	body = strstr(resp, "\r\n\r\n");
	cr_assert_not_null(body);
	body += 4;
	cr_assert_eq((size_t)atoll(strstr(resp, "Content-Length: ") + 16), strlen(body),
		     "Content-Length is wrong");
	cr_assert_eq(series("slabd_cache_active_objects{cache=\"we\\\"ird\\\\name\"}"), 25, "%s",
		     body);
	cr_assert_eq(series("slabd_clients"), 1);
	cr_assert_eq(series("slabd_zone_bytes{node=\"0\",state=\"total\"}"), 4 << 20, "%.2000s",
		     body);
	cr_assert_geq(series("slabd_cache_slabs{cache=\"kmalloc-64\"}"), 0);
	cr_assert(strstr(body, "# TYPE slabd_cache_alloc_misses_total counter\n") != NULL);
	/* every line is a comment or "name{labels} value" */
	for (char *line = body, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		cr_assert_not_null(nl, "the body does not end with a newline");
		*nl = 0;
		if (line[0] != '#') {
			char *sp = strrchr(line, ' ');
			char *end;
			cr_assert_not_null(sp, "no value: %s", line);
			strtod(sp + 1, &end);
			cr_assert(sp > line && *end == 0, "bad sample line: %s", line);
			cr_assert(strncmp(line, "slabd_", 6) == 0, "unprefixed metric: %s", line);
		}
	}
	for (i = 0; i < 25; i++)
		kmem_cache_free(c, objs[i]);
}

Test(metrics, the_corruption_counters_rise_after_a_scribble)
{
	static const char *const found[] = {"bad_objects", "double_frees", "bad_mags",
					    "bad_stacks",  "bad_pcpu",	   "quarantined"};
	struct shm_view g;
	uint32_t cpu, victim = 8; /* kmalloc-256: this test allocates no more of it below */
	long long pcpu = 0, stacks = 0;
	char name[96];
	void *p;
	size_t i;
	int tries;

	cr_assert_eq(shm_view_get(&g), 0);
	cr_assert_not_null(p = kmalloc(256, GFP_KERNEL)); /* the cache is active: looked at */
	kfree(p);
	http("GET /metrics HTTP/1.0\r\n\r\n");
	cr_assert(strstr(resp, "# TYPE slabd_corruption_total counter\n"), "%s", resp);
	for (i = 0; i < sizeof(found) / sizeof(found[0]); i++) {
		snprintf(name, sizeof(name), "slabd_corruption_total{found=\"%s\"}", found[i]);
		cr_assert_eq(series(name), 0, "%s: %s", name, resp);
	}

	/* a per-CPU count no stack can have, and a depot head past the magazine array */
	for (cpu = 0; cpu < g.sb->nr_cpus; cpu++)
		__atomic_store_n(&shm_pcpu(&g, victim, cpu)->count, 100000, __ATOMIC_RELAXED);
	__atomic_store_n(&shm_depot(&g, victim, 0)->reserve,
			 slabd_stack_make(0, g.sb->nr_mags + 1, 3), __ATOMIC_RELEASE);
	shm_kick(&g);
	for (tries = 0; tries < 300 && (pcpu <= 0 || stacks <= 0); tries++) {
		usleep(100 * 1000); /* the worker looks each round and at the per-CPU period */
		http("GET /metrics HTTP/1.0\r\n\r\n");
		pcpu = series("slabd_corruption_total{found=\"bad_pcpu\"}");
		stacks = series("slabd_corruption_total{found=\"bad_stacks\"}");
	}
	cr_assert_gt(pcpu, 0, "%s", resp);
	cr_assert_gt(stacks, 0, "%s", resp);
	cr_assert(td_log_contains(&td, "per-CPU stack count 100000 is corrupt"));
	cr_assert(td_log_contains(&td, "depot reserve stack corrupt"));
}

/* The sum of every series line starting with @prefix (labels after it may differ). */
static long long series_sum(const char *prefix)
{
	const char *p = resp;
	size_t l = strlen(prefix);
	long long sum = 0;

	while ((p = strstr(p, prefix))) {
		const char *sp = strchr(p, ' ');
		if ((p == resp || p[-1] == '\n') && sp)
			sum += atoll(sp + 1);
		p += l;
	}
	return sum;
}

/* A counter never goes down while the daemon runs (Prometheus takes a drop for a reset
 * and counts the whole value again): the per-CPU miss counters sum over the caches, and a
 * destroyed cache's misses stay in them. */
Test(metrics, the_per_cpu_miss_counters_do_not_drop_when_a_cache_is_destroyed)
{
	struct kmem_cache *c = kmem_cache_create("short-lived", 128, 0, 0, NULL);
	void *objs[200];
	long long misses, before;
	int i;

	cr_assert_not_null(c, "%s", slabd_last_error());
	for (i = 0; i < 200; i++)
		cr_assert_not_null(objs[i] = kmem_cache_alloc(c, GFP_KERNEL));
	for (i = 0; i < 200; i++)
		kmem_cache_free(c, objs[i]);
	http("GET /metrics HTTP/1.0\r\n\r\n");
	misses = series("slabd_cache_alloc_misses_total{cache=\"short-lived\"}");
	cr_assert_gt(misses, 0, "the cache had no miss to lose");
	before = series_sum("slabd_cpu_misses_total{cpu=");
	cr_assert_geq(before, misses);
	kmem_cache_destroy(c);
	http("GET /metrics HTTP/1.0\r\n\r\n");
	cr_assert_lt(series("slabd_cache_alloc_misses_total{cache=\"short-lived\"}"), 0,
		     "the destroyed cache is still listed");
	cr_expect_geq(series_sum("slabd_cpu_misses_total{cpu="), before,
		      "slabd_cpu_misses_total went down from %lld to %lld", before,
		      series_sum("slabd_cpu_misses_total{cpu="));
}

/* Length of the valid UTF-8 sequence at @s, or 0 (RFC 3629: no overlongs, surrogates,
 * nor code points past U+10FFFF). */
static size_t utf8_seq(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[0] == 0xe0 && s[1] < 0xa0) ||
		    (s[0] == 0xed && s[1] > 0x9f))
			return 0;
		return 3;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80 ||
		    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

/* The text format is UTF-8 (a scraper rejects the whole scrape otherwise), and cache
 * names are any bytes a client chose: a name that is not UTF-8 is written escaped. */
Test(metrics, a_cache_name_that_is_not_utf8_keeps_the_exposition_utf8)
{
	struct kmem_cache *c = kmem_cache_create("latin1-caf\xe9", 64, 0, 0, NULL);
	struct kmem_cache *u = kmem_cache_create("utf8-caf\xc3\xa9", 64, 0, 0, NULL);
	const unsigned char *p;

	cr_assert_not_null(c, "%s", slabd_last_error());
	cr_assert_not_null(u, "%s", slabd_last_error());
	http("GET /metrics HTTP/1.0\r\n\r\n");
	cr_assert_eq(strncmp(resp, "HTTP/1.0 200 OK\r\n", 17), 0, "%.200s", resp);
	for (p = (const unsigned char *)resp; *p;) {
		size_t k = utf8_seq(p);
		cr_assert_gt(k, 0, "not UTF-8 at byte %zu: '%.60s'", (size_t)((const char *)p - resp),
			     (const char *)p);
		p += k;
	}
	cr_expect_geq(series("slabd_cache_slabs{cache=\"utf8-caf\xc3\xa9\"}"), 0,
		      "a UTF-8 name is not kept as it is");
	cr_expect_geq(series("slabd_cache_slabs{cache=\"latin1-caf\\\\xe9\"}"), 0,
		      "the byte that is not UTF-8 is not written as \\xe9");
	kmem_cache_destroy(c);
	kmem_cache_destroy(u);
}

Test(metrics, anything_but_get_metrics_is_refused)
{
	http("GET / HTTP/1.0\r\n\r\n");
	cr_assert_eq(strncmp(resp, "HTTP/1.0 404 ", 13), 0, "%.100s", resp);
	http("POST /metrics HTTP/1.0\r\n\r\n");
	cr_assert_eq(strncmp(resp, "HTTP/1.0 405 ", 13), 0, "%.100s", resp);
	http("\r\n\r\n");
	cr_assert_eq(strncmp(resp, "HTTP/1.0 400 ", 13), 0, "%.100s", resp);
	/* the daemon still answers clients and scrapes */
	http("GET /metrics HTTP/1.1\r\n\r\n");
	cr_assert_eq(strncmp(resp, "HTTP/1.0 200 ", 13), 0, "%.100s", resp);
	cr_assert_not_null(kmalloc(10, GFP_KERNEL));
}

Test(metrics_off, the_endpoint_is_off_by_default_and_a_busy_port_stops_the_start)
{
	struct test_daemon t2;
	char set[64];
	const char *sets[] = {set, NULL};

	cr_assert_eq(td_start(&t2, NULL), 0);
	cr_assert_not(td_log_contains(&t2, "metrics:"), "an endpoint without metrics_port");
	cr_assert_eq(td_stop(&t2), 0);

	/* a port that is taken: listen on it ourselves */
	{
		struct sockaddr_in sa = {.sin_family = AF_INET};
		socklen_t l = sizeof(sa);
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		cr_assert_eq(listen(fd, 1), 0);
		cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &l), 0);
		snprintf(set, sizeof(set), "metrics_port=%d", ntohs(sa.sin_port));
		cr_assert_neq(td_start(&t2, sets), 0, "slabd started on a busy metrics port");
		close(fd);
		cr_assert(td_log_contains(&t2, "cannot listen on 127.0.0.1"), "no clear message");
		unlink(t2.log);
		rmdir(t2.dir);
	}
}
