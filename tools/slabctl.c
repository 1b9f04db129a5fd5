/* SPDX-License-Identifier: MIT */
/*
 * slabctl - inspect a running slabd. This version has one command:
 *
 *   slabctl [--socket PATH] stats [--json]
 *
 * the totals of the daemon (zones, free, released, clients, allocation failures) and,
 * per active cache, where its memory is: in use, in per-CPU caches, in depots, free in
 * slabs. It talks the wire protocol directly (STATS requests), without mapping the
 * region. Exit codes: 0 ok, 1 error, 2 usage, 3 no daemon at the socket.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "slabd_shm.h"
#include "slabd_wire.h"

#define EXIT_NO_DAEMON 3

static int request(int fd, uint32_t cache, uint32_t seq, struct slabd_wire_stats *st)
{
	struct slabd_wire_stats_req req;
	ssize_t n;

	slabd_wire_init(&req.hdr, SLABD_MSG_STATS, sizeof(req), seq);
	req.cache = cache;
	if (send(fd, &req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req))
		return -errno;
	n = recv(fd, st, sizeof(*st), 0);
	if (n < 0)
		return -errno;
	if (slabd_wire_validate(st, (size_t)n) != SLABD_MSG_STATS_REPLY || st->hdr.seq != seq)
		return -EBADMSG;
	return st->err;
}

static const char *backing(uint32_t b)
{
	return b == SLABD_BACKING_HUGETLB_2M ? "hugetlb-2M" : b == SLABD_BACKING_HUGETLB_1G ? "hugetlb-1G" : "shmem-4K";
}

static double kib(uint64_t b)
{
	return (double)b / 1024.0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
	};
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = getenv("SLABD_SOCKET");
	struct slabd_wire_stats tot, st;
	int json = 0, opt, fd, r, first = 1;
	uint32_t id, seq = 1;

	while ((opt = getopt_long(argc, argv, "s:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			path = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			printf("Usage: slabctl [--socket PATH] stats [--json]\n");
			return 0;
		default:
			fprintf(stderr, "Usage: slabctl [--socket PATH] stats [--json]\n");
			return 2;
		}
	}
	if (optind >= argc || strcmp(argv[optind], "stats")) {
		fprintf(stderr, "slabctl: unknown or missing command (this version knows: stats)\n");
		return 2;
	}
	if (!path || !*path)
		path = SLABD_DEFAULT_SOCKET;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "slabctl: socket path too long: %s\n", path);
		return 2;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "slabctl: no slabd at %s (%s); start it with 'slabd' (or systemctl start slabd), "
				"or point --socket / SLABD_SOCKET at the one you run\n",
			path, strerror(errno));
		return EXIT_NO_DAEMON;
	}
	r = request(fd, 0, seq++, &tot);
	if (r < 0) {
		fprintf(stderr, "slabctl: the daemon did not answer the stats request: %s\n", strerror(-r));
		return 1;
	}
	if (json)
		printf("{\"backing\":\"%s\",\"zone_bytes\":%llu,\"free_bytes\":%llu,\"released_bytes\":%llu,"
		       "\"in_use_bytes\":%llu,\"pcpu_bytes\":%llu,\"depot_bytes\":%llu,\"slab_free_bytes\":%llu,"
		       "\"clients\":%u,\"alloc_failures\":%llu,\"caches\":[",
		       backing(tot.backing), (unsigned long long)tot.zone_size, (unsigned long long)tot.zone_free,
		       (unsigned long long)tot.released, (unsigned long long)tot.in_use,
		       (unsigned long long)tot.in_pcpu, (unsigned long long)tot.in_depot,
		       (unsigned long long)tot.in_slabs, tot.clients, (unsigned long long)tot.alloc_failures);
	else
		printf("backing %s; zones %.0f KiB: resident free %.0f KiB, released to the kernel %.0f KiB\n"
		       "objects: in use %.0f KiB, in per-CPU caches %.0f KiB, in depots %.0f KiB, free in slabs "
		       "%.0f KiB\nclients %u, allocation failures %llu\n\n"
		       "%-24s %8s %8s %12s %12s %12s %12s\n",
		       backing(tot.backing), kib(tot.zone_size), kib(tot.zone_free), kib(tot.released),
		       kib(tot.in_use), kib(tot.in_pcpu), kib(tot.in_depot), kib(tot.in_slabs), tot.clients,
		       (unsigned long long)tot.alloc_failures, "cache", "objsize", "slabs", "in use KiB", "per-CPU KiB",
		       "depot KiB", "free KiB");
	for (id = 1; id < SLABD_MAX_CACHES; id++) {
		r = request(fd, id, seq++, &st);
		if (r == -EINVAL)
			continue;
		if (r < 0) {
			fprintf(stderr, "slabctl: stats of cache %u: %s\n", id, strerror(-r));
			return 1;
		}
		if (!st.slabs && !json)
			continue; /* never used: one line per cache that holds memory */
		if (json)
			printf("%s{\"name\":\"%s\",\"id\":%u,\"object_size\":%llu,\"slabs\":%llu,\"in_use_bytes\":%llu,"
			       "\"pcpu_bytes\":%llu,\"depot_bytes\":%llu,\"slab_free_bytes\":%llu}",
			       first ? "" : ",", st.name, id, (unsigned long long)st.object_size,
			       (unsigned long long)st.slabs, (unsigned long long)st.in_use,
			       (unsigned long long)st.in_pcpu, (unsigned long long)st.in_depot,
			       (unsigned long long)st.in_slabs);
		else
			printf("%-24s %8llu %8llu %12.1f %12.1f %12.1f %12.1f\n", st.name,
			       (unsigned long long)st.object_size, (unsigned long long)st.slabs, kib(st.in_use),
			       kib(st.in_pcpu), kib(st.in_depot), kib(st.in_slabs));
		first = 0;
	}
	if (json)
		printf("]}\n");
	close(fd);
	return 0;
}
