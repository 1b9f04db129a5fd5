/* SPDX-License-Identifier: MIT */
/*
 * slabd-demo - a client workload that shows what slabd does: attach, allocate objects of
 * every kmalloc class, hand objects to a forked child process that checks and frees
 * them, let two threads allocate at once, make a large allocation, and print the
 * numbers. Connects to $SLABD_SOCKET (or the default socket).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include <slabd/slabd.h>

static const char *backing_name(uint32_t b)
{
	return b == 2 ? "hugetlb-2M" : b == 3 ? "hugetlb-1G" : "shmem-4K";
}

static void *thread_work(void *arg)
{
	long n = (long)arg, i;
	void *v[64];

	for (i = 0; i < n; i++) {
		int k;
		for (k = 0; k < 64; k++)
			v[k] = kmalloc(64, GFP_KERNEL);
		for (k = 0; k < 64; k++)
			kfree(v[k]);
	}
	return NULL;
}

int main(void)
{
	static const size_t sizes[] = { 8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768 };
	struct slabd_attach_info ai;
	uint64_t offs[1000];
	int pfd[2], status, r;
	unsigned long long t0;
	pthread_t th[2];
	size_t i;
	pid_t pid;
	void *big;

	r = slabd_connect(NULL);
	if (r < 0) {
		fprintf(stderr, "slabd-demo: %s\n", slabd_last_error());
		return 1;
	}
	slabd_attach_info(&ai);
	printf("attached: region of %llu MiB at %#llx (%s the daemon's address), %u CPUs, %u NUMA node(s), %s\n",
	       (unsigned long long)(ai.size >> 20), (unsigned long long)ai.base,
	       ai.at_daemon_base ? "same as" : "NOT", ai.nr_cpus, ai.nr_nodes, backing_name(ai.backing));

	printf("kmalloc classes:");
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		void *p = kmalloc(sizes[i] - 1, GFP_KERNEL);
		printf(" %zu->%zu", sizes[i] - 1, ksize(p));
		kfree(p);
	}
	printf("\n");

	/* Objects allocated here, checked and freed by another process. */
	if (pipe(pfd) < 0)
		return 1;
	for (i = 0; i < 1000; i++) {
		uint32_t *p = kmalloc(100, GFP_KERNEL);
		if (!p) {
			fprintf(stderr, "slabd-demo: kmalloc failed: %s\n", strerror(errno));
			return 1;
		}
		p[0] = (uint32_t)i * 2654435761u;
		offs[i] = slabd_ptr_to_off(p);
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		unsigned int bad = 0;
		if (read(pfd[0], offs, sizeof(offs)) != sizeof(offs))
			_exit(2);
		for (i = 0; i < 1000; i++) {
			uint32_t *p = slabd_off_to_ptr(offs[i]);
			bad += p[0] != (uint32_t)i * 2654435761u;
			kfree(p);
		}
		printf("child %d: received 1000 objects from its parent, %u corrupt, freed them all\n", getpid(),
		       bad);
		fflush(stdout);
		_exit(bad != 0);
	}
	if (write(pfd[1], offs, sizeof(offs)) != sizeof(offs))
		return 1;
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "slabd-demo: the child failed\n");
		return 1;
	}

	t0 = __rdtsc();
	pthread_create(&th[0], NULL, thread_work, (void *)200000L);
	pthread_create(&th[1], NULL, thread_work, (void *)200000L);
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);
	printf("two threads: 2 x 200000 x (64 kmalloc + 64 kfree) in %.1f Mcycles, %.1f cycles per pair\n",
	       (double)(__rdtsc() - t0) / 1e6, (double)(__rdtsc() - t0) / (2.0 * 200000 * 64));

	big = kmalloc(3 << 20, GFP_KERNEL);
	printf("large allocation: 3 MiB at offset %#llx, ksize %zu\n", (unsigned long long)slabd_ptr_to_off(big),
	       ksize(big));
	kfree(big);
	printf("slabd-demo: done\n");
	return 0;
}
