/* SPDX-License-Identifier: MIT */
/*
 * coldtouch.c - evidence for the next-object prefetch of <slabd/fast.h>'s pop, not a
 * benchmark of the suite. Built twice: coldtouch (the header as it is) and
 * coldtouch-noprefetch (-DSLABD_NO_PREFETCH); run them alternately (bench/README.md).
 *
 * Each round allocates --objects objects of --size bytes with kmalloc (a constant size:
 * the inline pop), writes the first 64 bytes of each as a caller initialising it would,
 * then frees them all in a fixed random order, so that the next round's pops hand them
 * out in an order no hardware prefetcher follows. With 65536 objects of 1 KiB (64 MiB, more
 * than the caches) every first write misses; the prefetch issued by the pop before has
 * had one iteration to bring the line in. Prints the median over rounds of the cycles per
 * allocation and write (the frees untimed).
 * Usage: coldtouch [--socket PATH] [--objects N] [--rounds N] [--cpu N]
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench_util.h"
#include <slabd/slabd.h>

#define SIZE 1024

#ifdef SLABD_NO_PREFETCH
#define VARIANT "noprefetch"
#else
#define VARIANT "prefetch"
#endif

int main(int argc, char **argv)
{
	static const struct option lo[] = { { "socket", 1, NULL, 'S' }, { "objects", 1, NULL, 'n' },
					     { "rounds", 1, NULL, 'r' },  { "cpu", 1, NULL, 'c' },
					     { NULL, 0, NULL, 0 } };
	uint64_t n = 65536, rounds = 15, r, i;
	const char *sock = NULL;
	unsigned int *perm;
	void **obj;
	double *v;
	int c, cpu = 0;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'S': sock = optarg; break;
		case 'n': n = bench_parse_count("coldtouch", optarg, "--objects"); break;
		case 'r': rounds = bench_parse_count("coldtouch", optarg, "--rounds"); break;
		case 'c': cpu = atoi(optarg); break;
		default: return 2;
		}
	}
	if (!n || !rounds) {
		fprintf(stderr, "coldtouch: --objects and --rounds must be above 0\n");
		return 2;
	}
	if (slabd_connect(sock) < 0) {
		fprintf(stderr, "coldtouch: slabd_connect: %s\n", slabd_last_error());
		return 1;
	}
	pin_to("coldtouch", cpu);
	obj = calloc(n, sizeof(*obj));
	perm = calloc(n, sizeof(*perm));
	v = calloc(rounds, sizeof(*v));
	if (!obj || !perm || !v) {
		fprintf(stderr, "coldtouch: out of memory\n");
		return 1;
	}
	for (i = 0; i < n; i++)
		perm[i] = (unsigned int)i;
	srand(1); /* the same order in both builds */
	for (i = n - 1; i > 0; i--) {
		uint64_t j = (uint64_t)rand() % (i + 1);
		unsigned int t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	for (r = 0; r < rounds + 1; r++) { /* round 0 faults the objects in: untimed */
		uint64_t t0 = tsc_read();

		for (i = 0; i < n; i++) {
			char *p = kmalloc(SIZE, GFP_KERNEL);

			if (!p) {
				fprintf(stderr, "coldtouch: kmalloc failed\n");
				return 1;
			}
			memset(p, (int)i, 64);
			sink(p);
			obj[i] = p;
		}
		if (r)
			v[r - 1] = (double)(tsc_read() - t0) / (double)n;
		for (i = 0; i < n; i++)
			kfree(obj[perm[i]]);
	}
	printf("coldtouch %s kmalloc+write64 %d %.2f\n", VARIANT, SIZE, median(v, rounds));
	return 0;
}
