/* SPDX-License-Identifier: MIT */
/*
 * pktpipe.c - a two-process packet pipeline over slabd's packet buffers.
 *
 * The producer (the parent) allocates buffers in bursts from the pool "pktpipe", writes a
 * packet into each (a sequence number, a pattern, a last byte derived from the number) and
 * passes them to the consumer (a fork()ed child) as region offsets through a single-
 * producer single-consumer ring in shared memory (an anonymous MAP_SHARED mapping made
 * before the fork). The consumer looks the pool up by name, checks every packet (order,
 * length, pattern, buf_iova against slabd_virt_to_iova) and frees them in bursts. Buffers
 * thus cross processes both ways: allocated in one, freed in the other, back through the
 * pool's depot.
 *
 * Usage: pktpipe [--socket PATH] [--packets N] [--burst B] [--size BYTES] [--cpus P,C]
 * Prints packets per second; exits 1 if the consumer found a bad packet.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <slabd/pktbuf.h>

#define RING_SIZE 1024u /* power of two */
#define MAX_BURST 64u
#define END_MARK UINT64_MAX

/* SPSC ring: head written by the producer only, tail by the consumer only. */
struct ring {
	_Alignas(64) uint64_t head; /* next slot to fill */
	_Alignas(64) uint64_t tail; /* next slot to read */
	_Alignas(64) uint64_t slot[RING_SIZE];
	/* results, written by the consumer before it exits */
	_Alignas(64) uint64_t received, bad;
	char first_error[160];
};

static unsigned int ring_enqueue(struct ring *r, const uint64_t *v, unsigned int n, uint64_t *cached_tail)
{
	uint64_t h = r->head, i;

	if (h + n - *cached_tail > RING_SIZE) {
		*cached_tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
		if (h + n - *cached_tail > RING_SIZE)
			n = (unsigned int)(RING_SIZE - (h - *cached_tail));
	}
	for (i = 0; i < n; i++)
		r->slot[(h + i) & (RING_SIZE - 1)] = v[i];
	__atomic_store_n(&r->head, h + n, __ATOMIC_RELEASE);
	return n;
}

static unsigned int ring_dequeue(struct ring *r, uint64_t *v, unsigned int n, uint64_t *cached_head)
{
	uint64_t t = r->tail, i;

	if (*cached_head - t < n) {
		*cached_head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
		if (*cached_head - t < n)
			n = (unsigned int)(*cached_head - t);
	}
	for (i = 0; i < n; i++)
		v[i] = r->slot[(t + i) & (RING_SIZE - 1)];
	__atomic_store_n(&r->tail, t + n, __ATOMIC_RELEASE);
	return n;
}

static void pin(int cpu)
{
	cpu_set_t s;

	if (cpu < 0)
		return;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	if (sched_setaffinity(0, sizeof(s), &s) < 0)
		fprintf(stderr, "pktpipe: cannot pin to CPU %d: %s (running unpinned)\n", cpu, strerror(errno));
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bad_packet(struct ring *r, const char *what, uint64_t seq)
{
	if (!r->bad++)
		snprintf(r->first_error, sizeof(r->first_error), "packet %llu: %s", (unsigned long long)seq, what);
}

static int consumer(struct ring *r, unsigned int size, int cpu)
{
	struct slabd_pktpool *pool;
	struct slabd_pktbuf *bufs[MAX_BURST];
	uint64_t offs[MAX_BURST], cached_head = 0, expect = 0;
	int done = 0;

	pin(cpu);
	pool = slabd_pktpool_lookup("pktpipe");
	if (!pool) {
		snprintf(r->first_error, sizeof(r->first_error), "consumer: pool lookup: %s", strerror(errno));
		r->bad = 1;
		return 1;
	}
	while (!done) {
		unsigned int n = ring_dequeue(r, offs, MAX_BURST, &cached_head), i, k = 0;

		if (!n) {
			__builtin_ia32_pause();
			continue;
		}
		for (i = 0; i < n; i++) {
			struct slabd_pktbuf *m;
			const unsigned char *d;
			uint64_t seq;

			if (offs[i] == END_MARK) {
				done = 1;
				break;
			}
			m = slabd_off_to_ptr(offs[i]);
			if (!m) {
				bad_packet(r, "offset outside the region", expect++);
				continue;
			}
			d = slabd_pktbuf_mtod(m, const unsigned char *);
			memcpy(&seq, d, sizeof(seq));
			if (seq != expect)
				bad_packet(r, "out of order", expect);
			else if (m->data_len != size || m->pkt_len != size || m->nb_segs != 1)
				bad_packet(r, "wrong length", seq);
			else if (d[size - 1] != (unsigned char)(seq * 7) || d[8] != 0x5a)
				bad_packet(r, "payload corrupted", seq);
			else if (m->buf_iova != slabd_virt_to_iova(m->buf_addr) || m->buf_iova == SLABD_BAD_IOVA)
				bad_packet(r, "buf_iova does not match the region's IOVA table", seq);
			expect++;
			bufs[k++] = m;
		}
		slabd_pktbuf_free_bulk(bufs, k);
		r->received = expect;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = { { "socket", 1, 0, 's' }, { "packets", 1, 0, 'n' },
					    { "burst", 1, 0, 'b' },  { "size", 1, 0, 'z' },
					    { "cpus", 1, 0, 'c' },   { "help", 0, 0, 'h' },
					    { 0, 0, 0, 0 } };
	const char *sock = NULL;
	unsigned long long packets = 10000000;
	unsigned int burst = 32, size = 64;
	int pcpu = 0, ccpu = 1, o, status, r;
	struct slabd_pktpool *pool;
	struct ring *ring;
	uint64_t seq = 0, cached_tail = 0, offs[MAX_BURST], stalls = 0;
	double t0, t1;
	pid_t pid;

	while ((o = getopt_long(argc, argv, "s:n:b:z:c:h", lo, NULL)) != -1) {
		switch (o) {
		case 's': sock = optarg; break;
		case 'n': packets = strtoull(optarg, NULL, 10); break;
		case 'b': burst = (unsigned int)strtoul(optarg, NULL, 10); break;
		case 'z': size = (unsigned int)strtoul(optarg, NULL, 10); break;
		case 'c':
			if (sscanf(optarg, "%d,%d", &pcpu, &ccpu) != 2) {
				fprintf(stderr, "pktpipe: --cpus wants PRODUCER,CONSUMER (-1: unpinned)\n");
				return 2;
			}
			break;
		default:
			printf("Usage: %s [--socket PATH] [--packets N] [--burst 1..%u] [--size 16..2048] "
			       "[--cpus P,C]\n", argv[0], MAX_BURST);
			return o == 'h' ? 0 : 2;
		}
	}
	if (!burst || burst > MAX_BURST || size < 16 || size > 2048 || !packets) {
		fprintf(stderr, "pktpipe: burst must be 1..%u, size 16..2048, packets > 0\n", MAX_BURST);
		return 2;
	}
	r = slabd_connect(sock);
	if (r < 0) {
		fprintf(stderr, "pktpipe: slabd_connect: %s: %s\n", strerror(-r), slabd_last_error());
		return 1;
	}
	pool = slabd_pktpool_create("pktpipe", 4096, 2048, 0, -1);
	if (!pool) {
		fprintf(stderr, "pktpipe: slabd_pktpool_create: %s: %s\n", strerror(errno), slabd_last_error());
		return 1;
	}
	ring = mmap(NULL, sizeof(*ring), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ring == MAP_FAILED) {
		perror("pktpipe: mmap");
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("pktpipe: fork");
		return 1;
	}
	if (pid == 0)
		_exit(consumer(ring, size, ccpu));

	pin(pcpu);
	t0 = now();
	while (seq < packets) {
		struct slabd_pktbuf *bufs[MAX_BURST];
		unsigned int n = packets - seq < burst ? (unsigned int)(packets - seq) : burst, i, sent = 0;

		if (slabd_pktbuf_alloc_bulk(pool, bufs, n) < 0) {
			stalls++; /* every buffer is in flight: wait for the consumer */
			sched_yield();
			continue;
		}
		for (i = 0; i < n; i++) {
			unsigned char *d = (unsigned char *)slabd_pktbuf_append(bufs[i], (uint16_t)size);
			uint64_t s = seq + i;

			memcpy(d, &s, sizeof(s));
			d[8] = 0x5a;
			d[size - 1] = (unsigned char)(s * 7);
			offs[i] = slabd_ptr_to_off(bufs[i]);
		}
		while (sent < n) {
			sent += ring_enqueue(ring, offs + sent, n - sent, &cached_tail);
			if (sent < n)
				__builtin_ia32_pause();
		}
		seq += n;
	}
	offs[0] = END_MARK;
	while (!ring_enqueue(ring, offs, 1, &cached_tail))
		__builtin_ia32_pause();
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
		fprintf(stderr, "pktpipe: the consumer died\n");
		return 1;
	}
	t1 = now();
	printf("pktpipe: %llu packets of %u bytes, bursts of %u, in %.3f s: %.2f Mpps (%.1f ns per packet), "
	       "%llu received, %llu bad, %llu producer stalls\n",
	       packets, size, burst, t1 - t0, (double)packets / (t1 - t0) / 1e6, (t1 - t0) * 1e9 / (double)packets,
	       (unsigned long long)ring->received, (unsigned long long)ring->bad, (unsigned long long)stalls);
	if (ring->bad || ring->received != packets || WEXITSTATUS(status)) {
		fprintf(stderr, "pktpipe: FAILED: %s\n", ring->first_error[0] ? ring->first_error : "packets lost");
		return 1;
	}
	return 0;
}
