/* SPDX-License-Identifier: MIT */
/*
 * release.c - giving free memory back to the kernel, and taking it again.
 *
 * Each zone is cut into chunks of the backing page size (2 MiB or 1 GiB; 64 KiB with 4 KiB
 * shmem). A chunk whose pages have all been free in the zone's buddy allocator for
 * release_delay_ms is punched out of the zones memfd (FALLOC_FL_PUNCH_HOLE): its memory
 * goes back to the kernel (hugepages to the pool), except retain_free bytes per zone that
 * stay resident for quick reuse.
 *
 * Before the buddy allocator's pages reach a slab or a large allocation, zone_claim()
 * takes back the chunks they touch. With hugetlb that is fallocate(): it reserves the
 * hugepage again and fails (ENOSPC) rather than let a later fault kill a client with
 * SIGBUS; with shmem the pages simply fault in again, zero-filled, under the zone's NUMA
 * policy.
 *
 * State per chunk (daemon-private, under the zone lock): resident | released | unknown,
 * and for a chunk not known to be released the time it was first seen entirely free (0:
 * not free). Unknown is what a restart finds free: the daemon before may or may not have
 * punched it out. It is treated as resident by the scan (punched after the delay: a hole
 * punched twice costs nothing) and as released by a claim (fallocate of resident pages is
 * a no-op), and is not counted in released_bytes until the scan has released it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "slabd_daemon.h"

#define SHMEM_CHUNK (64u << 10)
enum { CHUNK_RESIDENT, CHUNK_RELEASED, CHUNK_UNKNOWN }; /* zone.chunk_released[] */
#define CHUNK_BYTES(z) ((uint64_t)(z)->chunk_pages << SLABD_PAGE_SHIFT)

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int zone_release_init(struct slabd *d, struct zone *z)
{
	/* A hugepage is the unit the kernel takes back; 4 KiB shmem gives back any page, so
	 * there a chunk is 64 KiB: small enough that a few live slabs pin little. */
	z->chunk_pages = (uint32_t)((d->backing == SLABD_BACKING_SHMEM_4K ? SHMEM_CHUNK : d->sb->hugepage_size) >>
				    SLABD_PAGE_SHIFT);
	z->chunk_order = buddy_order_for(z->chunk_pages);
	z->nr_chunks = z->nr_pages / z->chunk_pages;
	z->chunk_free_since = calloc(z->nr_chunks ? z->nr_chunks : 1, sizeof(*z->chunk_free_since));
	z->chunk_released = calloc(z->nr_chunks ? z->nr_chunks : 1, 1);
	return z->chunk_free_since && z->chunk_released ? 0 : -ENOMEM;
}

void zone_release_free(struct zone *z)
{
	free(z->chunk_free_since);
	free(z->chunk_released);
	z->chunk_free_since = NULL;
	z->chunk_released = NULL;
}

static uint64_t chunk_file_off(struct slabd *d, struct zone *z, uint32_t chunk)
{
	return ((uint64_t)z->first_page + (uint64_t)chunk * z->chunk_pages) << SLABD_PAGE_SHIFT;
}

int zone_claim_locked(struct slabd *d, struct zone *z, uint32_t page, uint32_t n)
{
	uint32_t first = page / z->chunk_pages, last = (page + n - 1) / z->chunk_pages, ch;

	for (ch = first; ch <= last && ch < z->nr_chunks; ch++) {
		z->chunk_free_since[ch] = 0;
		if (z->chunk_released[ch] == CHUNK_RESIDENT)
			continue;
		if (d->backing != SLABD_BACKING_SHMEM_4K &&
		    fallocate(d->zones_fd, 0, (off_t)chunk_file_off(d, z, ch), (off_t)CHUNK_BYTES(z)) < 0) {
			log_warn_limited("zone %u: no hugepage to take back chunk %u (%s): allocation fails",
					 z->index, ch, strerror(errno));
			return -ENOMEM;
		}
		if (z->chunk_released[ch] == CHUNK_RELEASED)
			z->released_bytes -= CHUNK_BYTES(z);
		z->chunk_released[ch] = CHUNK_RESIDENT;
	}
	return 0;
}

void zone_release_restored(struct zone *z)
{
	uint32_t ch;

	pthread_mutex_lock(&z->lock);
	z->released_bytes = 0;
	for (ch = 0; ch < z->nr_chunks; ch++) {
		int o = buddy_free_order_at(&z->buddy, ch * z->chunk_pages);

		z->chunk_released[ch] = o >= (int)z->chunk_order ? CHUNK_UNKNOWN : CHUNK_RESIDENT;
		z->chunk_free_since[ch] = 0;
	}
	pthread_mutex_unlock(&z->lock);
}

/* Punch chunks [first, first + n) out of the memfd in one call and mark them released. */
static void release_run(struct slabd *d, struct zone *z, uint32_t first, uint32_t n)
{
	uint32_t ch;

	if (!n)
		return;
	if (fallocate(d->zones_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)chunk_file_off(d, z, first),
		      (off_t)(CHUNK_BYTES(z) * n)) < 0) {
		log_warn_limited("zone %u: cannot release chunks %u-%u: %s", z->index, first, first + n - 1,
				 strerror(errno));
		return;
	}
	for (ch = first; ch < first + n; ch++)
		z->chunk_released[ch] = CHUNK_RELEASED;
	z->released_bytes += CHUNK_BYTES(z) * n;
}

void zone_release_scan(struct slabd *d, struct zone *z)
{
	uint64_t now = now_ms(), resident_free = 0,
		 retain = __atomic_load_n(&d->cfg.retain_free, __ATOMIC_RELAXED);
	uint32_t ch, pending = 0, run = 0, run_len = 0;

	pthread_mutex_lock(&z->lock);
	for (ch = 0; ch < z->nr_chunks; ch++) {
		uint32_t page = ch * z->chunk_pages;
		int o = buddy_free_order_at(&z->buddy, page), due = 0;

		if (z->chunk_released[ch] != CHUNK_RELEASED) {
			if (o < (int)z->chunk_order) {
				z->chunk_free_since[ch] = 0;
			} else {
				if (!z->chunk_free_since[ch])
					z->chunk_free_since[ch] = now;
				resident_free += CHUNK_BYTES(z);
				if (resident_free > retain) {
					if (now - z->chunk_free_since[ch] >=
					    __atomic_load_n(&d->cfg.release_delay_ms,
							    __ATOMIC_RELAXED)) {
						due = 1;
						resident_free -= CHUNK_BYTES(z);
					} else {
						pending++;
					}
				}
			}
		}
		/* neighbouring chunks that are due go back in one fallocate (a burst freed
		 * on 4 KiB shmem frees thousands of 64 KiB chunks at once) */
		if (due && run_len && run + run_len == ch) {
			run_len++;
		} else {
			release_run(d, z, run, run_len);
			run = ch;
			run_len = (uint32_t)due;
		}
	}
	release_run(d, z, run, run_len);
	z->release_pending = pending;
	pthread_mutex_unlock(&z->lock);
}

int zone_release_idle(struct zone *z)
{
	return !__atomic_load_n(&z->release_pending, __ATOMIC_RELAXED);
}
