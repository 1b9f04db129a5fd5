/* SPDX-License-Identifier: MIT */
/*
 * test_proto.c - proto/: the region geometry, superblock validation, wire message
 * validation and the lock-free magazine stacks and free chains of slabd_ops.h.
 *
 * Everything a client or the daemon receives goes through these functions before any
 * field is used, so each rejection path gets a test of its own.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "slabd_ops.h"
#include "slabd_shm.h"
#include "slabd_wire.h"

/* ------------------------------------------------------------------- geometry -- */

static struct slabd_shm_geometry geometry(uint32_t cpus, uint32_t nodes, uint32_t caches,
					  uint32_t pages, uint32_t mags, uint64_t align)
{
	struct slabd_shm_geometry g;

	memset(&g, 0, sizeof(g));
	g.nr_cpus = cpus;
	g.nr_nodes = nodes;
	g.nr_zones = nodes + 1;
	g.max_caches = caches;
	g.nr_pages = pages;
	g.nr_mags = mags;
	g.align = align;
	return g;
}

/* A plausible small region: 2 CPUs, 1 node (+ DMA zone), 128 caches, 64 MiB of zones. */
static struct slabd_shm_geometry small_geometry(void)
{
	return geometry(2, 1, 128, 16384, 1024, 2u << 20);
}

static void expect_rejected(struct slabd_shm_geometry g, const char *why)
{
	cr_expect_eq(slabd_shm_geometry(&g), -EINVAL, "geometry with %s was accepted", why);
}

Test(proto, geometry_accepts_a_plausible_region)
{
	struct slabd_shm_geometry g = small_geometry();

	cr_assert_eq(slabd_shm_geometry(&g), 0);
	cr_assert_gt(g.meta_size, 0);
	cr_assert_gt(g.percpu_size, 0);
}

Test(proto, geometry_rejects_counts_out_of_range)
{
	struct slabd_shm_geometry g;

	g = small_geometry(), g.nr_cpus = 0, expect_rejected(g, "0 CPUs");
	g = small_geometry(), g.nr_cpus = SLABD_MAX_CPUS + 1, expect_rejected(g, "too many CPUs");
	g = small_geometry(), g.nr_nodes = 0, expect_rejected(g, "0 nodes");
	g = small_geometry(), g.nr_nodes = SLABD_MAX_NODES + 1,
	expect_rejected(g, "too many nodes");
	g = small_geometry(), g.nr_zones = 0, expect_rejected(g, "0 zones");
	g = small_geometry(), g.nr_zones = SLABD_MAX_ZONES + 1,
	expect_rejected(g, "too many zones");
	g = small_geometry(), g.max_caches = SLABD_KMALLOC_LAST,
	expect_rejected(g, "no room for named caches");
	g = small_geometry(), g.max_caches = SLABD_MAX_CACHES + 1,
	expect_rejected(g, "too many caches");
	g = small_geometry(), g.nr_pages = 0, expect_rejected(g, "0 pages");
	g = small_geometry(), g.nr_mags = 0, expect_rejected(g, "0 magazines");
	g = small_geometry(), g.nr_mags = SLABD_MAX_MAGS + 1,
	expect_rejected(g, "more magazines than a stack counts");
}

Test(proto, geometry_rejects_a_bad_alignment)
{
	struct slabd_shm_geometry g;

	g = small_geometry(), g.align = 0, expect_rejected(g, "alignment 0");
	g = small_geometry(), g.align = 2048, expect_rejected(g, "alignment below a page");
	g = small_geometry(), g.align = 3u << 20, expect_rejected(g, "alignment 3 MiB");
	g = small_geometry(), g.align = (2u << 20) + 4096,
	expect_rejected(g, "alignment 2 MiB + 4 KiB");
	g = small_geometry(), g.align = 4096;
	cr_expect_eq(slabd_shm_geometry(&g), 0, "4 KiB alignment");
	g = small_geometry(), g.align = 1u << 30;
	cr_expect_eq(slabd_shm_geometry(&g), 0, "1 GiB alignment");
}

Test(proto, geometry_accepts_the_largest_counts)
{
	struct slabd_shm_geometry g = geometry(SLABD_MAX_CPUS, SLABD_MAX_NODES, SLABD_MAX_CACHES,
					       1u << 24, SLABD_MAX_MAGS, 1u << 30);

	cr_assert_eq(slabd_shm_geometry(&g), 0);
	cr_assert_eq(g.nr_zones, SLABD_MAX_ZONES);
	/* 1024 caches x 4096 CPUs x 1 KiB of per-CPU stacks alone is 4 GiB: no 32-bit wrap */
	cr_assert_geq(g.percpu_size,
		      (uint64_t)SLABD_MAX_CACHES * SLABD_MAX_CPUS << SLABD_PCPU_SHIFT);
}

/* Check that the segments of @g are laid out in order, without overlap and aligned. */
static void check_layout(const struct slabd_shm_geometry *g)
{
	uint64_t a = g->align;

	/* meta: super, cpus, nodes, zones, caches, pages */
	cr_assert_geq(g->cpu_table_off, sizeof(struct slabd_shm_super));
	cr_assert_geq(g->node_table_off,
		      g->cpu_table_off + (uint64_t)g->nr_cpus * sizeof(struct slabd_shm_cpu));
	cr_assert_geq(g->zone_table_off,
		      g->node_table_off + (uint64_t)g->nr_nodes * sizeof(struct slabd_shm_node));
	cr_assert_geq(g->cache_table_off,
		      g->zone_table_off + (uint64_t)g->nr_zones * sizeof(struct slabd_shm_zone));
	cr_assert_geq(g->page_table_off, g->cache_table_off + (uint64_t)g->max_caches *
								  sizeof(struct slabd_shm_cache));
	cr_assert_geq(g->meta_size,
		      g->page_table_off + (uint64_t)g->nr_pages * sizeof(struct slabd_shm_page));
	cr_assert_eq(g->cpu_table_off % 64, 0);
	cr_assert_eq(g->node_table_off % 64, 0);
	cr_assert_eq(g->zone_table_off % 64, 0);
	cr_assert_eq(g->cache_table_off % 64, 0);
	cr_assert_eq(g->page_table_off % 64, 0);
	cr_assert_eq(g->meta_size % a, 0, "meta_size %lu not aligned to %lu", g->meta_size, a);
	/* no slack larger than one alignment unit */
	cr_assert_lt(g->meta_size - (g->page_table_off +
				     (uint64_t)g->nr_pages * sizeof(struct slabd_shm_page)),
		     a);

	/* percpu: ctl, depots, per-CPU stacks, magazines */
	cr_assert_eq(g->ctl_off, 0);
	cr_assert_geq(g->depot_off, g->ctl_off + sizeof(struct slabd_shm_ctl));
	cr_assert_geq(g->pcpu_off, g->depot_off + (uint64_t)g->max_caches * g->nr_nodes *
						      sizeof(struct slabd_shm_depot));
	cr_assert_geq(g->mag_off,
		      g->pcpu_off + ((uint64_t)g->max_caches * g->nr_cpus << SLABD_PCPU_SHIFT));
	cr_assert_geq(g->client_off,
		      g->mag_off + (uint64_t)g->nr_mags * sizeof(struct slabd_shm_mag));
	cr_assert_geq(g->pcpu_stat_off,
		      g->client_off + (uint64_t)SLABD_MAX_CLIENTS * sizeof(struct slabd_shm_client));
	cr_assert_eq(g->pcpu_stat_off % 64, 0,
		     "each CPU's row of miss counters starts a cache line");
	cr_assert_geq(g->remote_off, g->pcpu_stat_off + slabd_shm_pcpu_stat_row(g->max_caches) *
							    g->nr_cpus *
							    sizeof(struct slabd_shm_pcpu_stat));
	cr_assert_eq(g->remote_off % (1u << SLABD_PCPU_SHIFT), 0, "remote-free stacks must not straddle their 1 KiB slots");
	cr_assert_geq(g->percpu_size, g->remote_off + ((uint64_t)g->nr_cpus << SLABD_PCPU_SHIFT));
	cr_assert_eq(g->client_off % 64, 0);
	cr_assert_eq(g->depot_off % 64, 0);
	cr_assert_eq(g->pcpu_off % 64, 0);
	cr_assert_eq(g->pcpu_off % (1u << SLABD_PCPU_SHIFT), 0,
		     "per-CPU stacks must not straddle their 1 KiB slots");
	cr_assert_eq(g->mag_off % 64, 0);
	cr_assert_eq(g->percpu_size % a, 0, "percpu_size %lu not aligned to %lu", g->percpu_size,
		     a);
	cr_assert_lt(g->percpu_size - (g->remote_off + ((uint64_t)g->nr_cpus << SLABD_PCPU_SHIFT)), a);
}

Test(proto, geometry_lays_out_tables_in_order_without_overlap_and_aligned)
{
	static const uint32_t params[][6] = {
	    /* cpus, nodes, caches, pages, mags, align shift */
	    {1, 1, 26, 1, 1, 12},
	    {2, 1, 128, 16384, 1024, 21},
	    {3, 2, 100, 999, 77, 12},
	    {17, 3, 129, 12345, 4097, 21},
	    {64, 4, 1024, 262144, 65536, 21},
	    {4096, 64, 1024, 1u << 20, (1u << 20) - 1, 30},
	    {5, 5, 333, 3, 3, 16},
	};
	size_t i;

	for (i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		struct slabd_shm_geometry g =
		    geometry(params[i][0], params[i][1], params[i][2], params[i][3], params[i][4],
			     1ull << params[i][5]);

		cr_assert_eq(slabd_shm_geometry(&g), 0, "parameter set %zu", i);
		check_layout(&g);
	}
}

Test(proto, geometry_is_deterministic)
{
	struct slabd_shm_geometry a = small_geometry(), b = small_geometry();

	cr_assert_eq(slabd_shm_geometry(&a), 0);
	cr_assert_eq(slabd_shm_geometry(&b), 0);
	cr_assert_arr_eq(&a, &b, sizeof(a));
}

/* ---------------------------------------------------------- superblock validate -- */

/* A superblock as the daemon writes it for @g (@g computed, zones sized from nr_pages). */
static struct slabd_shm_super super_from(const struct slabd_shm_geometry *g)
{
	struct slabd_shm_super sb;

	memset(&sb, 0, sizeof(sb));
	sb.magic = SLABD_SHM_MAGIC;
	sb.layout_version = SLABD_SHM_LAYOUT_VERSION;
	sb.page_shift = SLABD_PAGE_SHIFT;
	sb.region_id = 0x1234567890abcdefull;
	sb.base_addr = 0x5a0000000000ull;
	sb.meta_size = g->meta_size;
	sb.percpu_off = g->meta_size;
	sb.percpu_size = g->percpu_size;
	sb.zones_off = sb.percpu_off + sb.percpu_size;
	sb.zones_size = (uint64_t)g->nr_pages << SLABD_PAGE_SHIFT;
	sb.region_size = sb.zones_off + sb.zones_size;
	sb.hugepage_size = g->align;
	sb.backing = g->align == 4096 ? SLABD_BACKING_SHMEM_4K : SLABD_BACKING_HUGETLB_2M;
	sb.nr_cpus = g->nr_cpus;
	sb.nr_nodes = g->nr_nodes;
	sb.nr_zones = g->nr_zones;
	sb.max_caches = g->max_caches;
	sb.nr_pages = g->nr_pages;
	sb.nr_mags = g->nr_mags;
	sb.max_cache_size = 32768;
	sb.cpu_table_off = g->cpu_table_off;
	sb.node_table_off = g->node_table_off;
	sb.zone_table_off = g->zone_table_off;
	sb.cache_table_off = g->cache_table_off;
	sb.page_table_off = g->page_table_off;
	sb.ctl_off = g->ctl_off;
	sb.depot_off = g->depot_off;
	sb.pcpu_off = g->pcpu_off;
	sb.mag_off = g->mag_off;
	sb.client_off = g->client_off;
	sb.pcpu_stat_off = g->pcpu_stat_off;
	sb.remote_off = g->remote_off;
	sb.iova_table_off = g->iova_table_off;
	sb.dma_zone = SLABD_NO_ZONE;
	sb.max_clients = SLABD_MAX_CLIENTS;
	sb.pcpu_slots = SLABD_PCPU_SLOTS;
	sb.mag_slots = SLABD_MAG_SLOTS;
	sb.daemon_pid = 1;
	return sb;
}

static struct slabd_shm_geometry valid_geo;
static struct slabd_shm_super valid_sb;

static void make_valid_super(void)
{
	valid_geo = small_geometry();
	cr_assert_eq(slabd_shm_geometry(&valid_geo), 0);
	valid_sb = super_from(&valid_geo);
}

TestSuite(super, .init = make_valid_super);

Test(super, a_superblock_built_from_the_geometry_is_valid)
{
	cr_assert_eq(slabd_shm_super_validate(&valid_sb, valid_sb.meta_size), 0);
	/* a longer mapping is fine too */
	cr_assert_eq(slabd_shm_super_validate(&valid_sb, valid_sb.meta_size * 2), 0);
}

Test(super, a_4k_backed_superblock_is_valid)
{
	struct slabd_shm_geometry g = geometry(3, 2, 64, 1000, 200, 4096);
	struct slabd_shm_super sb;

	cr_assert_eq(slabd_shm_geometry(&g), 0);
	sb = super_from(&g);
	cr_assert_eq(slabd_shm_super_validate(&sb, sb.meta_size), 0);
}

Test(super, a_wrong_magic_is_not_slabd)
{
	valid_sb.magic ^= 1;
	cr_assert_eq(slabd_shm_super_validate(&valid_sb, valid_sb.meta_size), -EBADF);
	valid_sb.magic = 0;
	cr_assert_eq(slabd_shm_super_validate(&valid_sb, valid_sb.meta_size), -EBADF);
}

Test(super, another_layout_version_is_a_protocol_error)
{
	valid_sb.layout_version = SLABD_SHM_LAYOUT_VERSION + 1;
	cr_assert_eq(slabd_shm_super_validate(&valid_sb, valid_sb.meta_size), -EPROTO);
	valid_sb.layout_version = 0;
	cr_assert_eq(slabd_shm_super_validate(&valid_sb, valid_sb.meta_size), -EPROTO);
}

Test(super, a_mapping_shorter_than_the_superblock_is_rejected)
{
	cr_assert_eq(slabd_shm_super_validate(&valid_sb, 0), -EINVAL);
	cr_assert_eq(slabd_shm_super_validate(&valid_sb, sizeof(valid_sb) - 1), -EINVAL);
}

Test(super, a_mapping_shorter_than_the_meta_segment_is_rejected)
{
	cr_assert_eq(slabd_shm_super_validate(&valid_sb, valid_sb.meta_size - 1), -EOVERFLOW);
	cr_assert_eq(slabd_shm_super_validate(&valid_sb, valid_sb.page_table_off), -EOVERFLOW);
	cr_assert_eq(slabd_shm_super_validate(&valid_sb, sizeof(valid_sb)), -EOVERFLOW);
}

Test(super, tables_outside_their_computed_place_are_rejected)
{
	struct slabd_shm_super sb;

	sb = valid_sb, sb.page_table_off = sb.meta_size;
	cr_expect_lt(slabd_shm_super_validate(&sb, sb.meta_size), 0,
		     "page table at the end of meta");
	sb = valid_sb, sb.page_table_off = ~0ull - 7;
	cr_expect_lt(slabd_shm_super_validate(&sb, sb.meta_size), 0, "page table at 2^64 - 8");
	sb = valid_sb, sb.cpu_table_off = 0;
	cr_expect_lt(slabd_shm_super_validate(&sb, sb.meta_size), 0, "CPU table on the superblock");
	sb = valid_sb, sb.node_table_off += 64;
	cr_expect_lt(slabd_shm_super_validate(&sb, sb.meta_size), 0, "node table moved");
	sb = valid_sb, sb.zone_table_off -= 64;
	cr_expect_lt(slabd_shm_super_validate(&sb, sb.meta_size), 0, "zone table moved");
	sb = valid_sb, sb.cache_table_off += 8;
	cr_expect_lt(slabd_shm_super_validate(&sb, sb.meta_size), 0, "cache table moved");
	sb = valid_sb, sb.ctl_off = sb.percpu_size;
	cr_expect_lt(slabd_shm_super_validate(&sb, sb.meta_size), 0, "ctl outside percpu");
	sb = valid_sb, sb.depot_off = 0;
	cr_expect_lt(slabd_shm_super_validate(&sb, sb.meta_size), 0, "depots on ctl");
	sb = valid_sb, sb.pcpu_off += 1024;
	cr_expect_lt(slabd_shm_super_validate(&sb, sb.meta_size), 0, "per-CPU stacks moved");
	sb = valid_sb, sb.mag_off = sb.percpu_size;
	cr_expect_lt(slabd_shm_super_validate(&sb, sb.meta_size), 0, "magazines outside percpu");
}

Test(super, segment_sizes_that_disagree_with_the_geometry_are_rejected)
{
	struct slabd_shm_super sb;

	sb = valid_sb, sb.meta_size += sb.hugepage_size;
	cr_expect_lt(slabd_shm_super_validate(&sb, sb.meta_size), 0, "meta_size too large");
	sb = valid_sb, sb.meta_size -= sb.hugepage_size;
	cr_expect_lt(slabd_shm_super_validate(&sb, valid_sb.meta_size), 0, "meta_size too small");
	sb = valid_sb, sb.percpu_size += sb.hugepage_size;
	cr_expect_lt(slabd_shm_super_validate(&sb, sb.meta_size), 0, "percpu_size too large");
	sb = valid_sb, sb.percpu_size = 0;
	cr_expect_lt(slabd_shm_super_validate(&sb, sb.meta_size), 0, "percpu_size 0");
}

Test(super, inconsistent_zones_are_rejected)
{
	struct slabd_shm_super sb;

	sb = valid_sb, sb.zones_size += SLABD_PAGE_SIZE;
	cr_expect_eq(slabd_shm_super_validate(&sb, sb.meta_size), -EOVERFLOW,
		     "zones_size one page more");
	sb = valid_sb, sb.zones_size -= sb.hugepage_size, sb.region_size -= sb.hugepage_size;
	cr_expect_eq(slabd_shm_super_validate(&sb, sb.meta_size), -EOVERFLOW,
		     "zones_size smaller than the pages");
	sb = valid_sb, sb.zones_size = ~0ull;
	cr_expect_eq(slabd_shm_super_validate(&sb, sb.meta_size), -EOVERFLOW,
		     "zones_size 2^64 - 1");
	sb = valid_sb, sb.zones_off += sb.hugepage_size;
	cr_expect_eq(slabd_shm_super_validate(&sb, sb.meta_size), -EOVERFLOW,
		     "a gap before the zones");
	sb = valid_sb, sb.percpu_off = 0;
	cr_expect_eq(slabd_shm_super_validate(&sb, sb.meta_size), -EOVERFLOW,
		     "percpu on top of meta");
	sb = valid_sb, sb.region_size += 4096;
	cr_expect_eq(slabd_shm_super_validate(&sb, sb.meta_size), -EOVERFLOW,
		     "region larger than its segments");
	sb = valid_sb, sb.region_size = sb.zones_off;
	cr_expect_eq(slabd_shm_super_validate(&sb, sb.meta_size), -EOVERFLOW,
		     "region without its zones");
}

Test(super, zones_not_made_of_whole_hugepages_are_rejected)
{
	struct slabd_shm_geometry g = geometry(2, 1, 128, 16384 + 1, 1024, 2u << 20);
	struct slabd_shm_super sb;

	cr_assert_eq(slabd_shm_geometry(&g), 0);
	sb = super_from(&g);
	cr_assert_lt(slabd_shm_super_validate(&sb, sb.meta_size), 0);
}

Test(super, counts_the_geometry_rejects_are_rejected)
{
	struct slabd_shm_super sb;

	sb = valid_sb, sb.nr_cpus = 0;
	cr_expect_eq(slabd_shm_super_validate(&sb, sb.meta_size), -EINVAL, "0 CPUs");
	sb = valid_sb, sb.nr_nodes = SLABD_MAX_NODES + 1;
	cr_expect_eq(slabd_shm_super_validate(&sb, sb.meta_size), -EINVAL, "65 nodes");
	sb = valid_sb, sb.max_caches = SLABD_MAX_CACHES * 2;
	cr_expect_eq(slabd_shm_super_validate(&sb, sb.meta_size), -EINVAL, "2048 caches");
	sb = valid_sb, sb.hugepage_size = 0;
	cr_expect_eq(slabd_shm_super_validate(&sb, sb.meta_size), -EINVAL, "hugepage size 0");
	sb = valid_sb, sb.hugepage_size = 3u << 20;
	cr_expect_eq(slabd_shm_super_validate(&sb, sb.meta_size), -EINVAL, "hugepage size 3 MiB");
}

Test(super, a_build_with_other_slot_counts_is_rejected)
{
	struct slabd_shm_super sb;

	sb = valid_sb, sb.page_shift = 13;
	cr_expect_eq(slabd_shm_super_validate(&sb, sb.meta_size), -EINVAL, "8 KiB pages");
	sb = valid_sb, sb.pcpu_slots = SLABD_PCPU_SLOTS + 1;
	cr_expect_eq(slabd_shm_super_validate(&sb, sb.meta_size), -EINVAL, "128 per-CPU slots");
	sb = valid_sb, sb.mag_slots = 0;
	cr_expect_eq(slabd_shm_super_validate(&sb, sb.meta_size), -EINVAL, "0 magazine slots");
}

Test(super, a_bad_max_cache_size_is_rejected)
{
	struct slabd_shm_super sb;

	sb = valid_sb, sb.max_cache_size = 0;
	cr_expect_eq(slabd_shm_super_validate(&sb, sb.meta_size), -EINVAL, "0");
	sb = valid_sb, sb.max_cache_size = 4;
	cr_expect_eq(slabd_shm_super_validate(&sb, sb.meta_size), -EINVAL, "4");
	sb = valid_sb, sb.max_cache_size = 40000;
	cr_expect_eq(slabd_shm_super_validate(&sb, sb.meta_size), -EINVAL, "not a power of two");
	sb = valid_sb, sb.max_cache_size = 64u << 20;
	cr_expect_eq(slabd_shm_super_validate(&sb, sb.meta_size), -EINVAL, "64 MiB");
	sb = valid_sb, sb.max_cache_size = 32u << 20;
	cr_expect_eq(slabd_shm_super_validate(&sb, sb.meta_size), 0,
		     "32 MiB is the largest allowed");
}

/* ------------------------------------------------------------------------ wire -- */

static union {
	struct slabd_wire_hdr hdr;
	struct slabd_wire_hello hello;
	struct slabd_wire_attach attach;
	struct slabd_wire_error error;
	struct slabd_wire_large_alloc large_alloc;
	struct slabd_wire_large_reply large_reply;
	unsigned char raw[SLABD_WIRE_MAX + 64];
} msg;

static void make_hello(void)
{
	memset(&msg, 0xa5, sizeof(msg));
	slabd_wire_init(&msg.hdr, SLABD_MSG_HELLO, sizeof(msg.hello), 7);
	msg.hello.layout_version = SLABD_SHM_LAYOUT_VERSION;
	msg.hello.pid = 1234;
}

TestSuite(wire, .init = make_hello);

Test(wire, a_valid_hello_returns_its_type)
{
	cr_assert_eq(slabd_wire_validate(&msg, sizeof(msg.hello)), SLABD_MSG_HELLO);
}

Test(wire, every_message_type_of_the_right_size_is_valid)
{
	static const struct {
		uint16_t type;
		size_t size;
	} types[] = {
	    {SLABD_MSG_HELLO, sizeof(struct slabd_wire_hello)},
	    {SLABD_MSG_ATTACH, sizeof(struct slabd_wire_attach)},
	    {SLABD_MSG_ERROR, sizeof(struct slabd_wire_error)},
	    {SLABD_MSG_LARGE_ALLOC, sizeof(struct slabd_wire_large_alloc)},
	    {SLABD_MSG_LARGE_REPLY, sizeof(struct slabd_wire_large_reply)},
	    {SLABD_MSG_CACHE_INFO, sizeof(struct slabd_wire_info_req)},
	    {SLABD_MSG_CACHE_INFO_REPLY, sizeof(struct slabd_wire_cache_info)},
	    {SLABD_MSG_CPU_INFO, sizeof(struct slabd_wire_info_req)},
	    {SLABD_MSG_CPU_INFO_REPLY, sizeof(struct slabd_wire_cpu_info)},
	    {SLABD_MSG_NODE_INFO, sizeof(struct slabd_wire_info_req)},
	    {SLABD_MSG_NODE_INFO_REPLY, sizeof(struct slabd_wire_node_info)},
	    {SLABD_MSG_CLIENT_INFO, sizeof(struct slabd_wire_info_req)},
	    {SLABD_MSG_CLIENT_INFO_REPLY, sizeof(struct slabd_wire_client_info)},
	};
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		slabd_wire_init(&msg.hdr, types[i].type, (uint32_t)types[i].size, (uint32_t)i);
		cr_expect_eq(slabd_wire_size(types[i].type), types[i].size, "type %u",
			     types[i].type);
		cr_expect_eq(slabd_wire_validate(&msg, types[i].size), types[i].type, "type %u",
			     types[i].type);
	}
}

Test(wire, init_fills_the_header_and_zeroes_the_payload)
{
	size_t i;

	cr_assert_eq(msg.hdr.magic, SLABD_WIRE_MAGIC);
	cr_assert_eq(msg.hdr.version, SLABD_WIRE_VERSION);
	cr_assert_eq(msg.hdr.type, SLABD_MSG_HELLO);
	cr_assert_eq(msg.hdr.len, sizeof(msg.hello));
	cr_assert_eq(msg.hdr.seq, 7);
	cr_assert_eq(msg.hello.flags, 0);
	cr_assert_eq(msg.hello.reserved, 0);
	/* and nothing past the message */
	for (i = sizeof(msg.hello); i < sizeof(msg.raw); i++)
		cr_assert_eq(msg.raw[i], 0xa5, "byte %zu past the message was written", i);
}

Test(wire, a_truncated_message_is_bad)
{
	msg.hdr.len = sizeof(msg.hello) - 1;
	cr_expect_eq(slabd_wire_validate(&msg, sizeof(msg.hello) - 1), -EBADMSG,
		     "hello minus one byte");
	cr_expect_eq(slabd_wire_validate(&msg, sizeof(struct slabd_wire_hdr)), -EBADMSG,
		     "header only");
	cr_expect_eq(slabd_wire_validate(&msg, sizeof(struct slabd_wire_hdr) - 1), -EBADMSG,
		     "partial header");
	cr_expect_eq(slabd_wire_validate(&msg, 0), -EBADMSG, "empty");
}

Test(wire, a_message_larger_than_the_maximum_is_too_big)
{
	msg.hdr.len = SLABD_WIRE_MAX + 1;
	cr_expect_eq(slabd_wire_validate(&msg, SLABD_WIRE_MAX + 1), -EMSGSIZE);
	cr_expect_eq(slabd_wire_validate(&msg, SLABD_WIRE_MAX + 64), -EMSGSIZE);
	cr_expect_eq(slabd_wire_validate(&msg, SIZE_MAX), -EMSGSIZE, "SIZE_MAX");
	msg.hdr.len = SLABD_WIRE_MAX;
	cr_expect_eq(slabd_wire_validate(&msg, SLABD_WIRE_MAX), -EBADMSG,
		     "maximum size but not a hello's");
}

Test(wire, a_bad_magic_is_bad)
{
	msg.hdr.magic = 0x44424c53; /* byte-swapped */
	cr_assert_eq(slabd_wire_validate(&msg, sizeof(msg.hello)), -EBADMSG);
	msg.hdr.magic = 0;
	cr_assert_eq(slabd_wire_validate(&msg, sizeof(msg.hello)), -EBADMSG);
}

Test(wire, another_wire_version_is_a_protocol_error)
{
	msg.hdr.version = SLABD_WIRE_VERSION + 1;
	cr_assert_eq(slabd_wire_validate(&msg, sizeof(msg.hello)), -EPROTO);
	msg.hdr.version = 0;
	cr_assert_eq(slabd_wire_validate(&msg, sizeof(msg.hello)), -EPROTO);
}

Test(wire, an_unknown_type_is_bad)
{
	static const uint16_t bad[] = {0, SLABD_MSG_MAX + 1, 100, 0xffff};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg.hdr.type = bad[i];
		cr_expect_eq(slabd_wire_size(bad[i]), 0, "type %u has a size", bad[i]);
		cr_expect_eq(slabd_wire_validate(&msg, sizeof(msg.hello)), -EBADMSG, "type %u",
			     bad[i]);
	}
}

Test(wire, a_length_field_that_disagrees_is_bad)
{
	msg.hdr.len = sizeof(msg.hello) + 1;
	cr_expect_eq(slabd_wire_validate(&msg, sizeof(msg.hello)), -EBADMSG,
		     "len one more than received");
	msg.hdr.len = sizeof(msg.hello) - 1;
	cr_expect_eq(slabd_wire_validate(&msg, sizeof(msg.hello)), -EBADMSG,
		     "len one less than received");
	msg.hdr.len = 0;
	cr_expect_eq(slabd_wire_validate(&msg, sizeof(msg.hello)), -EBADMSG, "len 0");
	/* consistent with what arrived, but not the size of a hello */
	msg.hdr.len = sizeof(msg.hello) + 8;
	cr_expect_eq(slabd_wire_validate(&msg, sizeof(msg.hello) + 8), -EBADMSG, "padded hello");
	/* a hello the size of an attach */
	msg.hdr.len = sizeof(msg.attach);
	cr_expect_eq(slabd_wire_validate(&msg, sizeof(msg.attach)), -EBADMSG,
		     "hello of attach size");
}

Test(wire, an_error_message_without_terminator_is_bad)
{
	slabd_wire_init(&msg.hdr, SLABD_MSG_ERROR, sizeof(msg.error), 1);
	msg.error.err = -EPROTO;
	memset(msg.error.msg, 'x', sizeof(msg.error.msg));
	cr_expect_eq(slabd_wire_validate(&msg, sizeof(msg.error)), -EBADMSG, "no NUL at all");
	msg.error.msg[sizeof(msg.error.msg) - 1] = 0;
	cr_expect_eq(slabd_wire_validate(&msg, sizeof(msg.error)), SLABD_MSG_ERROR,
		     "NUL in the last byte");
	msg.error.msg[sizeof(msg.error.msg) - 1] = 'x';
	msg.error.msg[0] = 0;
	cr_expect_eq(slabd_wire_validate(&msg, sizeof(msg.error)), SLABD_MSG_ERROR,
		     "empty message");
}

Test(wire, validation_reads_an_unaligned_buffer)
{
	unsigned char *buf = malloc(sizeof(msg.hello) + 1);

	cr_assert_not_null(buf);
	memcpy(buf + 1, &msg, sizeof(msg.hello));
	cr_expect_eq(slabd_wire_validate(buf + 1, sizeof(msg.hello)), SLABD_MSG_HELLO);
	free(buf);
}

/* Every request's reserved field, and what it is called in the daemon's refusal. */
static const struct {
	uint16_t type;
	size_t size, off;
} reserved_fields[] = {
    {SLABD_MSG_HELLO, sizeof(struct slabd_wire_hello), offsetof(struct slabd_wire_hello, reserved)},
    {SLABD_MSG_CACHE_CREATE, sizeof(struct slabd_wire_cache_create),
     offsetof(struct slabd_wire_cache_create, reserved)},
    {SLABD_MSG_CACHE_OP, sizeof(struct slabd_wire_cache_op),
     offsetof(struct slabd_wire_cache_op, reserved)},
    {SLABD_MSG_STATS, sizeof(struct slabd_wire_stats_req),
     offsetof(struct slabd_wire_stats_req, reserved)},
    {SLABD_MSG_CACHE_INFO, sizeof(struct slabd_wire_info_req),
     offsetof(struct slabd_wire_info_req, reserved)},
    {SLABD_MSG_CPU_INFO, sizeof(struct slabd_wire_info_req),
     offsetof(struct slabd_wire_info_req, reserved)},
    {SLABD_MSG_NODE_INFO, sizeof(struct slabd_wire_info_req),
     offsetof(struct slabd_wire_info_req, reserved)},
    {SLABD_MSG_CLIENT_INFO, sizeof(struct slabd_wire_info_req),
     offsetof(struct slabd_wire_info_req, reserved)},
    {SLABD_MSG_POOL_CREATE, sizeof(struct slabd_wire_pool_create),
     offsetof(struct slabd_wire_pool_create, reserved)},
    {SLABD_MSG_VERIFY, sizeof(struct slabd_wire_verify_req),
     offsetof(struct slabd_wire_verify_req, reserved)},
    {SLABD_MSG_DEBUG, sizeof(struct slabd_wire_debug_req),
     offsetof(struct slabd_wire_debug_req, reserved)},
};

/* A well-formed request of reserved_fields[@i] (names where it has one). */
static void make_request(size_t i)
{
	memset(&msg, 0, sizeof(msg));
	slabd_wire_init(&msg.hdr, reserved_fields[i].type, (uint32_t)reserved_fields[i].size, 3);
	if (reserved_fields[i].type == SLABD_MSG_CACHE_CREATE ||
	    reserved_fields[i].type == SLABD_MSG_POOL_CREATE)
		memcpy(msg.raw + sizeof(struct slabd_wire_hdr), "x", 2);
	if (reserved_fields[i].type == SLABD_MSG_CACHE_OP)
		memcpy(msg.raw + sizeof(struct slabd_wire_hdr), &(uint32_t){SLABD_CACHE_OP_SHRINK},
		       4);
}

Test(wire, a_request_whose_reserved_field_is_not_0_is_refused_in_any_state)
{
	static const uint32_t values[] = {1, 5, 0x80000000u, 0xffffffffu};
	size_t i, k;

	for (i = 0; i < sizeof(reserved_fields) / sizeof(reserved_fields[0]); i++) {
		uint16_t t = reserved_fields[i].type;
		uint32_t got = 0;

		make_request(i);
		cr_assert_eq(
		    slabd_wire_request(&msg, reserved_fields[i].size, t != SLABD_MSG_HELLO), t,
		    "well-formed %s not accepted", slabd_wire_type_name(t));
		cr_assert_null(slabd_wire_reserved(&msg, t, &got), "%s", slabd_wire_type_name(t));
		for (k = 0; k < sizeof(values) / sizeof(values[0]); k++) {
			memcpy(msg.raw + reserved_fields[i].off, &values[k], 4);
			cr_expect_eq(slabd_wire_validate(&msg, reserved_fields[i].size), t,
				     "validation (the library's too) does not look at it");
			cr_expect_eq(slabd_wire_request(&msg, reserved_fields[i].size, 0), -EINVAL,
				     "%s with reserved %#x, not attached", slabd_wire_type_name(t),
				     values[k]);
			cr_expect_eq(slabd_wire_request(&msg, reserved_fields[i].size, 1), -EINVAL,
				     "%s with reserved %#x, attached", slabd_wire_type_name(t),
				     values[k]);
			got = 0;
			cr_expect_str_eq(slabd_wire_reserved(&msg, t, &got), "reserved");
			cr_expect_eq(got, values[k], "%s: the value", slabd_wire_type_name(t));
		}
	}
}

/* A CACHE_CREATE's or POOL_CREATE's name is 0 after its NUL, as slabd_wire_init and a
 * strcpy leave it: a byte there that is not 0, wherever it is, is refused as a reserved
 * field is; the same name with the padding 0 goes through, and so does a name that fills
 * all 31 bytes (no padding at all). */
Test(wire, a_name_with_bytes_after_its_nul_is_refused)
{
	static const struct {
		uint16_t type;
		size_t size;
	} named[] = {
	    {SLABD_MSG_CACHE_CREATE, sizeof(struct slabd_wire_cache_create)},
	    {SLABD_MSG_POOL_CREATE, sizeof(struct slabd_wire_pool_create)},
	};
	const size_t name_off = sizeof(struct slabd_wire_hdr);
	size_t i, at;

	cr_assert_eq(offsetof(struct slabd_wire_cache_create, name), name_off);
	cr_assert_eq(offsetof(struct slabd_wire_pool_create, name), name_off);
	for (i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		uint16_t t = named[i].type;
		uint32_t got;

		for (at = 4; at < 32; at++) {
			memset(&msg, 0, sizeof(msg));
			slabd_wire_init(&msg.hdr, t, (uint32_t)named[i].size, 3);
			memcpy(msg.raw + name_off, "abc", 4);
			cr_assert_eq(slabd_wire_request(&msg, named[i].size, 1), t, "%s as it should be",
				     slabd_wire_type_name(t));
			msg.raw[name_off + at] = (char)(0x41 + at);
			cr_expect_eq(slabd_wire_validate(&msg, named[i].size), t,
				     "validation (the library's too) does not look at it");
			cr_expect_eq(slabd_wire_request(&msg, named[i].size, 1), -EINVAL,
				     "%s with name byte %zu set", slabd_wire_type_name(t), at);
			got = 0;
			cr_expect_str_eq(slabd_wire_reserved(&msg, t, &got), "name padding");
			cr_expect_eq(got, 0x41 + at);
		}
		/* 31 bytes and the NUL: nothing after it to check */
		memset(&msg, 0, sizeof(msg));
		slabd_wire_init(&msg.hdr, t, (uint32_t)named[i].size, 3);
		memset(msg.raw + name_off, 'n', 31);
		cr_expect_eq(slabd_wire_request(&msg, named[i].size, 1), t, "a 31-byte %s name",
			     slabd_wire_type_name(t));
		cr_expect_null(slabd_wire_reserved(&msg, t, &got));
	}
}

Test(wire, every_request_but_large_alloc_has_a_checked_reserved_field)
{
	uint16_t t;
	size_t i, n = 0;

	for (t = 1; t <= SLABD_MSG_MAX; t++) {
		int listed = 0;
		for (i = 0; i < sizeof(reserved_fields) / sizeof(reserved_fields[0]); i++)
			listed |= reserved_fields[i].type == t;
		/* a request type: accepted by slabd_wire_request in some state */
		memset(&msg, 0, sizeof(msg));
		slabd_wire_init(&msg.hdr, t, (uint32_t)slabd_wire_size(t), 1);
		memcpy(msg.raw + sizeof(struct slabd_wire_hdr), "x", 2);
		if (t == SLABD_MSG_VERIFY) /* "x" there is flags, all unknown: not the point here */
			memset(msg.raw + offsetof(struct slabd_wire_verify_req, flags), 0, 4);
		if (slabd_wire_request(&msg, slabd_wire_size(t), 1) != t &&
		    slabd_wire_request(&msg, slabd_wire_size(t), 0) != t)
			continue;
		n++;
		cr_expect(listed || t == SLABD_MSG_LARGE_ALLOC,
			  "request %s has no reserved field in this test's table",
			  slabd_wire_type_name(t));
	}
	cr_expect_eq(n, sizeof(reserved_fields) / sizeof(reserved_fields[0]) + 1,
		     "requests found: %zu", n);
}

Test(wire, a_request_with_a_flag_this_version_does_not_know_is_refused)
{
	static const struct {
		uint16_t type;
		size_t size, off;
		uint32_t known;
	} flagged[] = {
	    {SLABD_MSG_HELLO, sizeof(struct slabd_wire_hello), offsetof(struct slabd_wire_hello, flags),
	     SLABD_HELLO_REATTACH},
	    {SLABD_MSG_VERIFY, sizeof(struct slabd_wire_verify_req),
	     offsetof(struct slabd_wire_verify_req, flags), SLABD_VERIFY_AUDIT},
	};
	static const uint32_t unknown[] = {0x2, 0x80000000u, 0xfffffffeu};
	size_t i, k;

	for (i = 0; i < sizeof(flagged) / sizeof(flagged[0]); i++) {
		uint16_t t = flagged[i].type;
		uint32_t known = 0, v;

		memset(&msg, 0, sizeof(msg));
		slabd_wire_init(&msg.hdr, t, (uint32_t)flagged[i].size, 3);
		/* every known bit is accepted */
		memcpy(msg.raw + flagged[i].off, &flagged[i].known, 4);
		cr_assert_eq(slabd_wire_request(&msg, flagged[i].size, 0), t, "%s with its known flags",
			     slabd_wire_type_name(t));
		cr_assert_eq(slabd_wire_unknown_flags(&msg, t, &known), 0);
		for (k = 0; k < sizeof(unknown) / sizeof(unknown[0]); k++) {
			v = unknown[k] | flagged[i].known;
			memcpy(msg.raw + flagged[i].off, &v, 4);
			cr_expect_eq(slabd_wire_validate(&msg, flagged[i].size), t,
				     "validation (the library's too) does not look at flags");
			cr_expect_eq(slabd_wire_request(&msg, flagged[i].size, 0), -EINVAL, "%s with flags %#x",
				     slabd_wire_type_name(t), v);
			cr_expect_eq(slabd_wire_request(&msg, flagged[i].size, 1), -EINVAL, "%s with flags %#x",
				     slabd_wire_type_name(t), v);
			known = 0;
			cr_expect_eq(slabd_wire_unknown_flags(&msg, t, &known), unknown[k] & ~flagged[i].known);
			cr_expect_eq(known, flagged[i].known);
		}
	}
}

Test(wire, a_reply_whose_reserved_field_is_not_0_is_still_valid)
{
	static const struct {
		uint16_t type;
		size_t size, off;
	} replies[] = {
	    {SLABD_MSG_ATTACH, sizeof(struct slabd_wire_attach),
	     offsetof(struct slabd_wire_attach, reserved)},
	    {SLABD_MSG_ERROR, sizeof(struct slabd_wire_error),
	     offsetof(struct slabd_wire_error, reserved)},
	    {SLABD_MSG_LARGE_REPLY, sizeof(struct slabd_wire_large_reply),
	     offsetof(struct slabd_wire_large_reply, reserved)},
	    {SLABD_MSG_STATS_REPLY, sizeof(struct slabd_wire_stats),
	     offsetof(struct slabd_wire_stats, reserved)},
	    {SLABD_MSG_CACHE_INFO_REPLY, sizeof(struct slabd_wire_cache_info),
	     offsetof(struct slabd_wire_cache_info, reserved)},
	    {SLABD_MSG_CPU_INFO_REPLY, sizeof(struct slabd_wire_cpu_info),
	     offsetof(struct slabd_wire_cpu_info, reserved)},
	};
	size_t i;

	/* a later daemon may give them a meaning: this library must not mind */
	for (i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		uint32_t v = 0x5;
		memset(&msg, 0, sizeof(msg));
		slabd_wire_init(&msg.hdr, replies[i].type, (uint32_t)replies[i].size, 1);
		memcpy(msg.raw + replies[i].off, &v, 4);
		cr_expect_eq(slabd_wire_validate(&msg, replies[i].size), replies[i].type,
			     "%s with reserved 5", slabd_wire_type_name(replies[i].type));
		cr_expect_null(slabd_wire_reserved(&msg, replies[i].type, &v));
	}
}

Test(wire, every_message_type_has_a_name)
{
	uint16_t t;

	for (t = 1; t <= SLABD_MSG_MAX; t++)
		cr_expect_str_neq(slabd_wire_type_name(t), "unknown message type", "type %u", t);
	cr_expect_str_eq(slabd_wire_type_name(SLABD_MSG_CACHE_OP), "CACHE_OP");
	cr_expect_str_eq(slabd_wire_type_name(0), "unknown message type");
	cr_expect_str_eq(slabd_wire_type_name(SLABD_MSG_MAX + 1), "unknown message type");
	cr_expect_str_eq(slabd_wire_type_name(0xffff), "unknown message type");
}

/* ------------------------------------------------------- stacks and chains -- */

Test(stack, a_head_packs_top_count_and_an_aba_tag)
{
	uint64_t h = 0, h1, h2;

	cr_assert_eq(slabd_stack_top(h), 0);
	cr_assert_eq(slabd_stack_count(h), 0);
	h1 = slabd_stack_make(h, 5, 3);
	cr_assert_eq(slabd_stack_top(h1), 5);
	cr_assert_eq(slabd_stack_count(h1), 3);
	h2 = slabd_stack_make(h1, 5, 3);
	cr_assert_neq(h1, h2, "the same top and count must still give a new head (ABA tag)");
	cr_assert_eq(slabd_stack_top(h2), 5);
	cr_assert_eq(slabd_stack_count(h2), 3);
	/* the largest values do not bleed into each other */
	h = slabd_stack_make(h2, (uint32_t)SLABD_STACK_IDX_MASK, SLABD_MAX_MAGS);
	cr_assert_eq(slabd_stack_top(h), SLABD_STACK_IDX_MASK);
	cr_assert_eq(slabd_stack_count(h), SLABD_MAX_MAGS);
	/* the tag wraps without touching top and count */
	h = ~0ull;
	h1 = slabd_stack_make(h, 1, 1);
	cr_assert_eq(slabd_stack_top(h1), 1);
	cr_assert_eq(slabd_stack_count(h1), 1);
}

#define NMAGS 8

Test(stack, push_and_pop_are_last_in_first_out_and_count)
{
	static struct slabd_shm_mag mags[NMAGS];
	uint64_t head = 0;
	int i;

	for (i = 0; i < NMAGS; i++) {
		slabd_stack_push(&head, mags, &mags[i]);
		cr_assert_eq(slabd_stack_count(head), (uint32_t)i + 1);
	}
	for (i = NMAGS - 1; i >= 0; i--) {
		struct slabd_shm_mag *m = slabd_stack_pop(&head, mags, NMAGS);

		cr_assert_eq(m, &mags[i], "popped magazine %td, expected %d", m ? m - mags : -1, i);
		cr_assert_eq(slabd_stack_count(head), (uint32_t)i);
	}
	cr_assert_null(slabd_stack_pop(&head, mags, NMAGS));
}

Test(stack, a_corrupt_head_or_link_is_never_followed_out_of_bounds)
{
	static struct slabd_shm_mag mags[NMAGS + 1]; /* mags[NMAGS] is outside the stack's array */
	uint64_t head;
	struct slabd_shm_mag *m;

	head = slabd_stack_make(0, NMAGS + 1, 1); /* top = index NMAGS: one past the array */
	cr_assert_null(slabd_stack_pop(&head, mags, NMAGS));
	head = slabd_stack_make(0, (uint32_t)SLABD_STACK_IDX_MASK, 1);
	cr_assert_null(slabd_stack_pop(&head, mags, NMAGS));

	/* a link past the array ends the stack */
	head = 0;
	slabd_stack_push(&head, mags, &mags[2]);
	mags[2].next = NMAGS + 1;
	m = slabd_stack_pop(&head, mags, NMAGS);
	cr_assert_eq(m, &mags[2]);
	cr_assert_eq(slabd_stack_top(head), 0);
	cr_assert_null(slabd_stack_pop(&head, mags, NMAGS));

	/* a magazine linked to itself ends the stack too: popping it must not leave it on
	 * top, where the next pop would hand it to a second owner */
	head = 0;
	slabd_stack_push(&head, mags, &mags[4]);
	slabd_stack_push(&head, mags, &mags[3]);
	mags[3].next = 4; /* index + 1 of mags[3] itself */
	m = slabd_stack_pop(&head, mags, NMAGS);
	cr_assert_eq(m, &mags[3]);
	cr_assert_eq(slabd_stack_top(head), 0, "a self-link stayed on top");
	cr_assert_null(slabd_stack_pop(&head, mags, NMAGS));
}

Test(chain, a_pushed_chain_is_taken_whole_and_the_head_is_emptied)
{
	static uint64_t mem[64]; /* "region": objects are offsets into it */
	char *base = (char *)mem;
	uint64_t head = 0, off;
	int n = 0;

	/* chain A: objects at 8 and 16; chain B: object at 24 */
	mem[1] = 16;
	slabd_chain_push(&head, base, 8, 16);
	slabd_chain_push(&head, base, 24, 24);
	cr_assert_eq(head, 24);
	off = slabd_chain_take(&head);
	cr_assert_eq(head, 0);
	for (; off; off = *(uint64_t *)(base + off)) {
		cr_assert_lt(n, 3, "the chain loops");
		cr_assert_eq(off, (uint64_t)(n == 0 ? 24 : n == 1 ? 8 : 16));
		n++;
	}
	cr_assert_eq(n, 3);
}

/* Many threads moving magazines between two stacks: none lost, none duplicated. */
#define STRESS_MAGS    64
#define STRESS_THREADS 4
#define STRESS_ROUNDS  200000

static struct slabd_shm_mag stress_mags[STRESS_MAGS];
static uint64_t stress_heads[2];
static int stress_owned[STRESS_MAGS];
static int stress_errors;

/* After a stress run: the @n stacks at @heads hold every one of the STRESS_MAGS magazines
 * exactly once, and each head's count is its length. */
static void stacks_hold_each_once(uint64_t *heads, int n)
{
	static unsigned char seen[STRESS_MAGS];
	uint32_t total = 0;
	int s;

	memset(seen, 0, sizeof(seen));
	for (s = 0; s < n; s++) {
		struct slabd_shm_mag *m;
		uint32_t count = slabd_stack_count(heads[s]), k = 0;

		while ((m = slabd_stack_pop(&heads[s], stress_mags, STRESS_MAGS))) {
			cr_assert_eq(seen[m - stress_mags]++, 0,
				     "magazine %td is on the stacks twice", m - stress_mags);
			k++;
		}
		cr_assert_eq(k, count, "stack %d counts %u magazines but holds %u", s, count, k);
		total += k;
	}
	cr_assert_eq(total, STRESS_MAGS, "%u of %d magazines are left", total, STRESS_MAGS);
}

static void *stack_stress(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg, i;

	for (i = 0; i < STRESS_ROUNDS; i++) {
		unsigned int from = (seed = seed * 1103515245u + 12345u) >> 16 & 1;
		struct slabd_shm_mag *m =
		    slabd_stack_pop(&stress_heads[from], stress_mags, STRESS_MAGS);

		if (!m)
			continue;
		if (__atomic_exchange_n(&stress_owned[m - stress_mags], 1, __ATOMIC_ACQ_REL))
			__atomic_fetch_add(&stress_errors, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&stress_owned[m - stress_mags], 0, __ATOMIC_RELEASE);
		slabd_stack_push(&stress_heads[from ^ 1], stress_mags, m);
	}
	return NULL;
}

Test(stack, concurrent_pops_and_pushes_lose_and_duplicate_nothing, .timeout = 30)
{
	pthread_t t[STRESS_THREADS];
	int i;

	for (i = 0; i < STRESS_MAGS; i++)
		slabd_stack_push(&stress_heads[i & 1], stress_mags, &stress_mags[i]);
	for (i = 0; i < STRESS_THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, stack_stress, (void *)(uintptr_t)(i + 1)),
			     0);
	for (i = 0; i < STRESS_THREADS; i++)
		pthread_join(t[i], NULL);

	cr_assert_eq(stress_errors, 0, "%d magazines were popped by two threads at once",
		     stress_errors);
	stacks_hold_each_once(stress_heads, 2);
}

Test(stack, a_pushed_chain_pops_top_first_and_both_keep_the_count)
{
	static struct slabd_shm_mag mags[NMAGS];
	struct slabd_shm_mag *ch[3] = {&mags[5], &mags[1], &mags[6]}, *got[NMAGS];
	uint64_t head = 0;
	unsigned int k;

	slabd_stack_push(&head, mags, &mags[0]);
	slabd_stack_push_chain(&head, mags, ch, 3);
	cr_assert_eq(slabd_stack_count(head), 4);
	cr_assert_eq(slabd_stack_top(head), 6, "mags[5] (index + 1 = 6) is on top");
	/* single pops see the chain in order, then what was below it */
	cr_assert_eq(slabd_stack_pop(&head, mags, NMAGS), &mags[5]);
	cr_assert_eq(slabd_stack_pop(&head, mags, NMAGS), &mags[1]);
	slabd_stack_push(&head, mags, &mags[1]);
	slabd_stack_push(&head, mags, &mags[5]);
	/* a chain pop of 2 takes the top two, leaves the rest linked */
	k = slabd_stack_pop_chain(&head, mags, NMAGS, got, 2);
	cr_assert_eq(k, 2);
	cr_assert_eq(got[0], &mags[5]);
	cr_assert_eq(got[1], &mags[1]);
	cr_assert_eq(slabd_stack_count(head), 2);
	/* asking for more than there is takes everything and empties the head */
	k = slabd_stack_pop_chain(&head, mags, NMAGS, got, NMAGS);
	cr_assert_eq(k, 2);
	cr_assert_eq(got[0], &mags[6]);
	cr_assert_eq(got[1], &mags[0]);
	cr_assert_eq(slabd_stack_top(head), 0);
	cr_assert_eq(slabd_stack_count(head), 0);
	cr_assert_eq(slabd_stack_pop_chain(&head, mags, NMAGS, got, 4), 0);
}

Test(stack, a_chain_pop_stops_at_a_bad_link_or_a_loop_and_never_takes_a_magazine_twice)
{
	static struct slabd_shm_mag mags[NMAGS + 1];
	struct slabd_shm_mag *got[NMAGS];
	uint64_t head = 0;
	unsigned int k, i, j;

	/* a link past the array ends the stack after that magazine */
	slabd_stack_push(&head, mags, &mags[3]);
	slabd_stack_push(&head, mags, &mags[2]);
	mags[3].next = NMAGS + 1;
	k = slabd_stack_pop_chain(&head, mags, NMAGS, got, 4);
	cr_assert_eq(k, 2);
	cr_assert_eq(got[0], &mags[2]);
	cr_assert_eq(got[1], &mags[3]);
	cr_assert_eq(slabd_stack_top(head), 0);

	/* a loop 4 -> 5 -> 4 (a broken client's links): each magazine once, then empty */
	head = 0;
	slabd_stack_push(&head, mags, &mags[4]);
	slabd_stack_push(&head, mags, &mags[5]);
	mags[4].next = 6; /* back to mags[5] */
	k = slabd_stack_pop_chain(&head, mags, NMAGS, got, 6);
	cr_assert_eq(k, 2);
	for (i = 0; i < k; i++)
		for (j = i + 1; j < k; j++)
			cr_assert_neq(got[i], got[j], "one pop handed out a magazine twice");
	cr_assert_eq(slabd_stack_top(head), 0, "the loop must not stay on the stack");

	/* a self-loop on top */
	head = 0;
	slabd_stack_push(&head, mags, &mags[7]);
	mags[7].next = 8;
	k = slabd_stack_pop_chain(&head, mags, NMAGS, got, 3);
	cr_assert_eq(k, 1);
	cr_assert_eq(got[0], &mags[7]);
	cr_assert_eq(slabd_stack_top(head), 0);

	/* a loop closed by the link of the last magazine a full walk takes (k == max, so the
	 * walk ends before it would look at that link): the self-loop with max 1 ... */
	head = 0;
	slabd_stack_push(&head, mags, &mags[7]);
	mags[7].next = 8;
	k = slabd_stack_pop_chain(&head, mags, NMAGS, got, 1);
	cr_assert_eq(k, 1);
	cr_assert_eq(slabd_stack_top(head), 0, "a magazine taken stayed on top (max 1)");
	/* ... and four magazines whose bottom links back to the top, taken four at a time */
	head = 0;
	for (i = 0; i < 4; i++)
		slabd_stack_push(&head, mags, &mags[1 + i]);
	mags[1].next = 5; /* the bottom, mags[1], back to the top, mags[4] */
	k = slabd_stack_pop_chain(&head, mags, NMAGS, got, 4);
	cr_assert_eq(k, 4);
	cr_assert_eq(slabd_stack_top(head), 0, "a magazine taken stayed on top (max 4)");
	cr_assert_eq(slabd_stack_pop_chain(&head, mags, NMAGS, got, 4), 0);

	/* a corrupt head is never followed */
	head = slabd_stack_make(0, NMAGS + 1, 1);
	cr_assert_eq(slabd_stack_pop_chain(&head, mags, NMAGS, got, 3), 0);
}

/* A chain pop with an object budget takes magazines while their counts fit it (the first
 * always), and leaves the next one on top with the stack's count right: a walk stopped by
 * the budget must not cut the stack below it. */
Test(stack, a_chain_pop_with_a_budget_takes_what_fits_and_leaves_the_rest_on_the_stack)
{
	static struct slabd_shm_mag mags[NMAGS];
	struct slabd_shm_mag *got[NMAGS];
	uint64_t head = 0;
	unsigned int k, i;

	/* bottom to top: 31, 31, 31, 31, 31, 124 */
	for (i = 0; i < 6; i++) {
		mags[i].count = i == 5 ? 124 : 31;
		slabd_stack_push(&head, mags, &mags[i]);
	}
	/* a budget of 125 takes the 124 alone: the 31 below would not fit */
	k = slabd_stack_pop_chain_upto(&head, mags, NMAGS, got, 4, 125);
	cr_assert_eq(k, 1);
	cr_assert_eq(got[0], &mags[5]);
	cr_assert_eq(slabd_stack_top(head), 5, "mags[4] (index + 1 = 5) is the new top");
	cr_assert_eq(slabd_stack_count(head), 5);
	/* then four of 31 (124), the fifth would not fit */
	k = slabd_stack_pop_chain_upto(&head, mags, NMAGS, got, 6, 125);
	cr_assert_eq(k, 4);
	for (i = 0; i < 4; i++)
		cr_assert_eq(got[i], &mags[4 - i]);
	cr_assert_eq(slabd_stack_top(head), 1);
	cr_assert_eq(slabd_stack_count(head), 1);
	/* the first is taken whatever the budget */
	k = slabd_stack_pop_chain_upto(&head, mags, NMAGS, got, 4, 0);
	cr_assert_eq(k, 1);
	cr_assert_eq(got[0], &mags[0]);
	cr_assert_eq(slabd_stack_top(head), 0);
	cr_assert_eq(slabd_stack_count(head), 0);

	/* a scribbled count counts as a full magazine: it ends the walk after the first */
	head = 0;
	mags[1].count = 10;
	mags[2].count = 0xffffffffu;
	slabd_stack_push(&head, mags, &mags[1]);
	slabd_stack_push(&head, mags, &mags[2]);
	k = slabd_stack_pop_chain_upto(&head, mags, NMAGS, got, 4, 130);
	cr_assert_eq(k, 1);
	cr_assert_eq(slabd_stack_top(head), 2, "mags[1] stays on the stack");
	k = slabd_stack_pop_chain_upto(&head, mags, NMAGS, got, 4, 130);
	cr_assert_eq(k, 1);
	cr_assert_eq(got[0], &mags[1]);

	/* a walk stopped by the budget at a link back into what it took: not the new top */
	head = 0;
	mags[3].count = 60;
	mags[4].count = 60;
	slabd_stack_push(&head, mags, &mags[3]);
	slabd_stack_push(&head, mags, &mags[4]);
	mags[3].next = 5; /* back to mags[4], the top */
	k = slabd_stack_pop_chain_upto(&head, mags, NMAGS, got, 4, 125);
	cr_assert_eq(k, 2);
	cr_assert_eq(slabd_stack_top(head), 0, "a magazine taken stayed on top");
}

/* Threads moving chains of 1-4 magazines (and single ones) between three stacks with
 * chain and single pops and pushes: at no time does a magazine have two owners, and at the
 * end each is on a stack exactly once and every head's count is its length. */
#define CHAIN_THREADS 4
#define CHAIN_ROUNDS  200000

static uint64_t chain_heads[3];
static int chain_errors;

static void *chain_stress(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg, i, k, j;
	struct slabd_shm_mag *ms[4];

	for (i = 0; i < CHAIN_ROUNDS; i++) {
		unsigned int r = (seed = seed * 1103515245u + 12345u) >> 8;
		unsigned int from = r % 3, to = (from + 1 + (r >> 4) % 2) % 3,
			     max = 1 + (r >> 6) % 4;

		if ((r >> 9) & 1) {
			k = slabd_stack_pop_chain(&chain_heads[from], stress_mags, STRESS_MAGS, ms,
						  max);
		} else {
			k = 0;
			while (k < max && (ms[k] = slabd_stack_pop(&chain_heads[from], stress_mags,
								   STRESS_MAGS)))
				k++;
		}
		for (j = 0; j < k; j++)
			if (__atomic_exchange_n(&stress_owned[ms[j] - stress_mags], 1,
						__ATOMIC_ACQ_REL))
				__atomic_fetch_add(&chain_errors, 1, __ATOMIC_RELAXED);
		for (j = 0; j < k; j++)
			__atomic_store_n(&stress_owned[ms[j] - stress_mags], 0, __ATOMIC_RELEASE);
		if (!k)
			continue;
		if ((r >> 10) & 1) {
			slabd_stack_push_chain(&chain_heads[to], stress_mags, ms, k);
		} else {
			for (j = 0; j < k; j++)
				slabd_stack_push(&chain_heads[to], stress_mags, ms[j]);
		}
	}
	return NULL;
}

/* The same timeout as the test above: with two different ones, Criterion leaks 48 bytes
 * that LeakSanitizer reports (the ASan/UBSan build). */
Test(stack, concurrent_chain_pops_and_pushes_lose_and_duplicate_nothing, .timeout = 30)
{
	pthread_t t[CHAIN_THREADS];
	int i;

	memset(stress_mags, 0, sizeof(stress_mags));
	memset(stress_owned, 0, sizeof(stress_owned));
	for (i = 0; i < STRESS_MAGS; i++)
		slabd_stack_push(&chain_heads[i % 3], stress_mags, &stress_mags[i]);
	for (i = 0; i < CHAIN_THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, chain_stress, (void *)(uintptr_t)(i + 7)),
			     0);
	for (i = 0; i < CHAIN_THREADS; i++)
		pthread_join(t[i], NULL);

	cr_assert_eq(chain_errors, 0, "%d times a magazine had two owners", chain_errors);
	stacks_hold_each_once(chain_heads, 3);
}

/* Threads moving magazines between three stacks with budgeted chain pops (random
 * budgets and maxima) and single and chain pushes, each writing a random count into the
 * magazines it owns (a scribbled one now and then) before pushing them: at no time does a
 * magazine have two owners, a pop beyond the first magazine never takes more than its
 * budget (the counts it read are the ones its owner left, since nobody writes a magazine
 * on a stack), and at the end each is on a stack exactly once and every head's count is
 * its length. The counts are stored atomically: a walk reads them before its CAS says
 * whether it looked at the stack's magazines or ones since taken. */
#define BUDGET_THREADS 4
#define BUDGET_ROUNDS  200000

static uint64_t budget_heads[3];
static int budget_errors, budget_overruns;

static void *budget_stress(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg, i, k, j;
	struct slabd_shm_mag *ms[4];

	for (i = 0; i < BUDGET_ROUNDS; i++) {
		unsigned int r = (seed = seed * 1103515245u + 12345u) >> 8;
		unsigned int from = r % 3, to = (from + 1 + (r >> 4) % 2) % 3, max = 1 + (r >> 6) % 4;
		uint32_t budget = (r >> 11) % 300, sum = 0, c;

		k = slabd_stack_pop_chain_upto(&budget_heads[from], stress_mags, STRESS_MAGS, ms,
					       max, budget);
		for (j = 0; j < k; j++)
			if (__atomic_exchange_n(&stress_owned[ms[j] - stress_mags], 1, __ATOMIC_ACQ_REL))
				__atomic_fetch_add(&budget_errors, 1, __ATOMIC_RELAXED);
		for (j = 0; j < k; j++) {
			c = __atomic_load_n(&ms[j]->count, __ATOMIC_RELAXED);
			sum += c > SLABD_MAG_SLOTS ? SLABD_MAG_SLOTS : c;
			if (j && sum > budget)
				__atomic_fetch_add(&budget_overruns, 1, __ATOMIC_RELAXED);
			seed = seed * 1103515245u + 12345u;
			c = (seed >> 8) % 16 ? (seed >> 12) % (SLABD_MAG_SLOTS + 1) : 0xffffffffu;
			__atomic_store_n(&ms[j]->count, c, __ATOMIC_RELAXED);
		}
		for (j = 0; j < k; j++)
			__atomic_store_n(&stress_owned[ms[j] - stress_mags], 0, __ATOMIC_RELEASE);
		if (!k)
			continue;
		if ((r >> 10) & 1) {
			slabd_stack_push_chain(&budget_heads[to], stress_mags, ms, k);
		} else {
			for (j = 0; j < k; j++)
				slabd_stack_push(&budget_heads[to], stress_mags, ms[j]);
		}
	}
	return NULL;
}

/* The same timeout as the stress tests above (see there). */
Test(stack, concurrent_budgeted_chain_pops_lose_and_duplicate_nothing, .timeout = 30)
{
	pthread_t t[BUDGET_THREADS];
	int i;

	memset(stress_mags, 0, sizeof(stress_mags));
	memset(stress_owned, 0, sizeof(stress_owned));
	for (i = 0; i < STRESS_MAGS; i++) {
		stress_mags[i].count = (uint32_t)(i * 37) % (SLABD_MAG_SLOTS + 1);
		slabd_stack_push(&budget_heads[i % 3], stress_mags, &stress_mags[i]);
	}
	for (i = 0; i < BUDGET_THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, budget_stress, (void *)(uintptr_t)(i + 13)), 0);
	for (i = 0; i < BUDGET_THREADS; i++)
		pthread_join(t[i], NULL);

	cr_assert_eq(budget_errors, 0, "%d times a magazine had two owners", budget_errors);
	cr_assert_eq(budget_overruns, 0, "%d budgeted pops took more than their budget",
		     budget_overruns);
	stacks_hold_each_once(budget_heads, 3);
}

Test(wire, a_cache_info_reply_with_an_unterminated_name_is_rejected)
{
	static struct slabd_wire_cache_info ci;

	slabd_wire_init(&ci.hdr, SLABD_MSG_CACHE_INFO_REPLY, sizeof(ci), 1);
	memcpy(ci.name, "kmalloc-64", 11);
	cr_assert_eq(slabd_wire_validate(&ci, sizeof(ci)), SLABD_MSG_CACHE_INFO_REPLY);
	memset(ci.name, 'x', sizeof(ci.name));
	cr_assert_eq(slabd_wire_validate(&ci, sizeof(ci)), -EBADMSG);
}

/* A region with a DMA zone: the IOVA table follows the page table, one entry per page. */
static struct slabd_shm_super dma_super(struct slabd_shm_geometry *g)
{
	struct slabd_shm_super sb;

	g->nr_zones = g->nr_nodes + 1;
	g->nr_iova = 512;
	cr_assert_eq(slabd_shm_geometry(g), 0);
	cr_assert_geq(g->iova_table_off, g->page_table_off + (uint64_t)g->nr_pages * sizeof(struct slabd_shm_page));
	cr_assert_geq(g->meta_size, g->iova_table_off + g->nr_iova * sizeof(uint64_t));
	sb = super_from(g);
	sb.dma_zone = g->nr_nodes;
	sb.nr_iova = g->nr_iova;
	sb.iova_shift = SLABD_PAGE_SHIFT;
	sb.iova_mode = SLABD_IOVA_PA;
	return sb;
}

Test(super, a_superblock_with_a_dma_zone_and_its_iova_table_is_valid)
{
	struct slabd_shm_geometry g = small_geometry();
	struct slabd_shm_super sb = dma_super(&g);

	cr_assert_eq(slabd_shm_super_validate(&sb, sb.meta_size), 0);
}

Test(super, an_inconsistent_dma_zone_or_iova_table_is_rejected)
{
	struct slabd_shm_geometry g = small_geometry();
	struct slabd_shm_super sb = dma_super(&g), bad;

	bad = sb;
	bad.iova_shift = 21; /* entries are per 4 KiB page in this layout */
	cr_assert_eq(slabd_shm_super_validate(&bad, bad.meta_size), -EINVAL);
	bad = sb;
	bad.dma_zone = bad.nr_zones; /* no such zone */
	cr_assert_eq(slabd_shm_super_validate(&bad, bad.meta_size), -EINVAL);
	bad = sb;
	bad.iova_mode = 7;
	cr_assert_eq(slabd_shm_super_validate(&bad, bad.meta_size), -EINVAL);
	bad = sb;
	bad.iova_table_off += 64; /* not where this build puts it */
	cr_assert_eq(slabd_shm_super_validate(&bad, bad.meta_size), -EINVAL);
	bad = sb;
	bad.dma_zone = SLABD_NO_ZONE; /* a table without a zone */
	cr_assert_eq(slabd_shm_super_validate(&bad, bad.meta_size), -EINVAL);
}

/* ------------------------------------------------------ request rules (dispatch) -- */

Test(wire, request_rules_hello_once_and_before_the_requests_that_need_it)
{
	struct slabd_wire_cache_op op;
	struct slabd_wire_large_alloc la;
	struct slabd_wire_attach at;

	cr_assert_eq(slabd_wire_request(&msg, sizeof(msg.hello), 0), SLABD_MSG_HELLO);
	cr_assert_eq(slabd_wire_request(&msg, sizeof(msg.hello), 1), -EISCONN, "a second HELLO");
	cr_assert_eq(slabd_wire_request(&msg, sizeof(msg.hello) - 1, 0), -EBADMSG, "truncated");

	slabd_wire_init(&la.hdr, SLABD_MSG_LARGE_ALLOC, sizeof(la), 1);
	cr_assert_eq(slabd_wire_request(&la, sizeof(la), 0), -ENOTCONN);
	cr_assert_eq(slabd_wire_request(&la, sizeof(la), 1), SLABD_MSG_LARGE_ALLOC);

	slabd_wire_init(&op.hdr, SLABD_MSG_CACHE_OP, sizeof(op), 1);
	op.op = SLABD_CACHE_OP_DESTROY;
	cr_assert_eq(slabd_wire_request(&op, sizeof(op), 0), -ENOTCONN, "destroy needs HELLO");
	op.op = SLABD_CACHE_OP_SHRINK;
	cr_assert_eq(slabd_wire_request(&op, sizeof(op), 0), SLABD_MSG_CACHE_OP, "shrink does not");

	/* a reply sent as a request */
	slabd_wire_init(&at.hdr, SLABD_MSG_ATTACH, sizeof(at), 1);
	cr_assert_eq(slabd_wire_request(&at, sizeof(at), 0), -EOPNOTSUPP);
	cr_assert_eq(slabd_wire_request(&at, sizeof(at), 1), -EOPNOTSUPP);
}
