/* SPDX-License-Identifier: MIT */
/*
 * test_layout.c - a tripwire on the daemon/client contract.
 *
 * Pins the size and every field offset of each struct in proto/slabd_shm.h and
 * proto/slabd_wire.h, the constants both sides rely on, and SLABD_SHM_LAYOUT_VERSION.
 * A failure here is not a bug in itself: it says the layout changed. Then bump
 * SLABD_SHM_LAYOUT_VERSION (or SLABD_WIRE_VERSION for the wire messages) and update the
 * numbers below in the same commit, so old clients are refused instead of corrupting the
 * region.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "slabd_shm.h"
#include "slabd_wire.h"

struct field {
	const char *name;
	size_t got, want;
};

#define OFF(type, member, off)                                                                     \
	{                                                                                          \
#type "." #member, offsetof(struct type, member), off                              \
	}
#define SIZE(type, size)                                                                           \
	{                                                                                          \
		"sizeof(struct " #type ")", sizeof(struct type), size                              \
	}
#define MSIZE(type, member, size)                                                                  \
	{                                                                                          \
		"sizeof(" #type "." #member ")", sizeof(((struct type *)0)->member), size          \
	}

static void check_fields(const struct field *f, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		cr_expect_eq(
		    f[i].got, f[i].want,
		    "%s is %zu, pinned at %zu: bump the layout version and update this test",
		    f[i].name, f[i].got, f[i].want);
}

#define CHECK(...)                                                                                 \
	do {                                                                                       \
		static const struct field f_[] = {__VA_ARGS__};                                    \
		check_fields(f_, sizeof(f_) / sizeof(f_[0]));                                      \
	} while (0)

Test(layout, the_shared_memory_layout_version_is_8)
{
	cr_assert_eq(
	    SLABD_SHM_LAYOUT_VERSION, 8u,
	    "the layout version changed: update the numbers in this file to the new layout");
}

Test(layout, the_superblock_fields_are_where_version_3_puts_them)
{
	CHECK(SIZE(slabd_shm_super, 256), OFF(slabd_shm_super, magic, 0),
	      OFF(slabd_shm_super, layout_version, 8), OFF(slabd_shm_super, page_shift, 12),
	      OFF(slabd_shm_super, region_id, 16), OFF(slabd_shm_super, base_addr, 24),
	      OFF(slabd_shm_super, region_size, 32), OFF(slabd_shm_super, meta_size, 40),
	      OFF(slabd_shm_super, percpu_off, 48), OFF(slabd_shm_super, percpu_size, 56),
	      OFF(slabd_shm_super, zones_off, 64), OFF(slabd_shm_super, zones_size, 72),
	      OFF(slabd_shm_super, hugepage_size, 80), OFF(slabd_shm_super, backing, 88),
	      OFF(slabd_shm_super, nr_cpus, 92), OFF(slabd_shm_super, nr_nodes, 96),
	      OFF(slabd_shm_super, nr_zones, 100), OFF(slabd_shm_super, max_caches, 104),
	      OFF(slabd_shm_super, nr_pages, 108), OFF(slabd_shm_super, nr_mags, 112),
	      OFF(slabd_shm_super, max_cache_size, 116), OFF(slabd_shm_super, cpu_table_off, 120),
	      OFF(slabd_shm_super, node_table_off, 128), OFF(slabd_shm_super, zone_table_off, 136),
	      OFF(slabd_shm_super, cache_table_off, 144), OFF(slabd_shm_super, page_table_off, 152),
	      OFF(slabd_shm_super, ctl_off, 160), OFF(slabd_shm_super, depot_off, 168),
	      OFF(slabd_shm_super, pcpu_off, 176), OFF(slabd_shm_super, mag_off, 184),
	      OFF(slabd_shm_super, pcpu_slots, 192), OFF(slabd_shm_super, mag_slots, 196),
	      OFF(slabd_shm_super, daemon_pid, 200), OFF(slabd_shm_super, max_clients, 204),
	      OFF(slabd_shm_super, client_off, 208), OFF(slabd_shm_super, pcpu_stat_off, 216),
	      OFF(slabd_shm_super, remote_off, 224), OFF(slabd_shm_super, dma_zone, 232),
	      OFF(slabd_shm_super, iova_mode, 236), OFF(slabd_shm_super, iova_table_off, 240),
	      OFF(slabd_shm_super, nr_iova, 248), OFF(slabd_shm_super, iova_shift, 252));
}

Test(layout, the_cpu_node_and_zone_tables_are_where_version_3_puts_them)
{
	CHECK(SIZE(slabd_shm_cpu, 4), OFF(slabd_shm_cpu, node, 0), OFF(slabd_shm_cpu, flags, 2),
	      MSIZE(slabd_shm_cpu, node, 2));
	CHECK(SIZE(slabd_shm_node, 80), OFF(slabd_shm_node, os_index, 0),
	      OFF(slabd_shm_node, zone, 4), OFF(slabd_shm_node, flags, 8),
	      OFF(slabd_shm_node, nr_cpus, 12), OFF(slabd_shm_node, order, 16),
	      MSIZE(slabd_shm_node, order, 64));
	CHECK(SIZE(slabd_shm_zone, 32), OFF(slabd_shm_zone, off, 0), OFF(slabd_shm_zone, size, 8),
	      OFF(slabd_shm_zone, first_page, 16), OFF(slabd_shm_zone, nr_pages, 20),
	      OFF(slabd_shm_zone, kind, 24), OFF(slabd_shm_zone, node, 28));
}

Test(layout, the_cache_table_entry_is_where_version_7_puts_it)
{
	CHECK(SIZE(slabd_shm_cache, 104), OFF(slabd_shm_cache, name, 0),
	      MSIZE(slabd_shm_cache, name, 32), OFF(slabd_shm_cache, state, 32),
	      OFF(slabd_shm_cache, size, 36), OFF(slabd_shm_cache, obj_size, 40),
	      OFF(slabd_shm_cache, align, 44), OFF(slabd_shm_cache, flags, 48),
	      OFF(slabd_shm_cache, order, 52), OFF(slabd_shm_cache, objs_per_slab, 56),
	      OFF(slabd_shm_cache, mag_objs, 60), OFF(slabd_shm_cache, zone_kind, 64),
	      OFF(slabd_shm_cache, pool_n, 68), OFF(slabd_shm_cache, pool_priv, 72),
	      OFF(slabd_shm_cache, pool_headroom, 76), OFF(slabd_shm_cache, pool_data_room, 80),
	      OFF(slabd_shm_cache, debug, 84), OFF(slabd_shm_cache, trailer, 88),
	      OFF(slabd_shm_cache, debug_epoch, 92), OFF(slabd_shm_cache, gen, 96),
	      OFF(slabd_shm_cache, reserved0, 100));
}

Test(layout, the_page_descriptor_is_where_version_3_puts_it)
{
	CHECK(SIZE(slabd_shm_page, 8), OFF(slabd_shm_page, kind, 0), OFF(slabd_shm_page, zone, 1),
	      OFF(slabd_shm_page, cache, 2), OFF(slabd_shm_page, head, 4),
	      MSIZE(slabd_shm_page, kind, 1), MSIZE(slabd_shm_page, zone, 1),
	      MSIZE(slabd_shm_page, cache, 2));
}

Test(layout, the_control_block_and_depot_are_where_version_3_puts_them)
{
	CHECK(SIZE(slabd_shm_ctl, 64), OFF(slabd_shm_ctl, kick, 0),
	      OFF(slabd_shm_ctl, large_seq, 4), OFF(slabd_shm_ctl, daemon_epoch, 8),
	      OFF(slabd_shm_ctl, reserved0, 12), OFF(slabd_shm_ctl, empty_mags, 16),
	      OFF(slabd_shm_ctl, large_free, 24), OFF(slabd_shm_ctl, reserved, 32));
	CHECK(SIZE(slabd_shm_depot, 64), OFF(slabd_shm_depot, full, 0),
	      OFF(slabd_shm_depot, reserve, 8), OFF(slabd_shm_depot, freelist, 16),
	      OFF(slabd_shm_depot, seq, 24), OFF(slabd_shm_depot, waiters, 28),
	      OFF(slabd_shm_depot, want, 32), OFF(slabd_shm_depot, flags, 36),
	      OFF(slabd_shm_depot, misses, 40), OFF(slabd_shm_depot, reserved0, 44),
	      OFF(slabd_shm_depot, debug_errors, 48), OFF(slabd_shm_depot, reserved, 56));
}

Test(layout, the_per_cpu_stack_and_magazine_are_where_version_3_puts_them)
{
	/* percpu.h's assembly hard-codes these: count at 0, capacity at 4, slots at 8, one
	 * stack per 1 << 10 bytes, 127 slots. */
	CHECK(SIZE(slabd_shm_pcpu, 1024), OFF(slabd_shm_pcpu, count, 0),
	      OFF(slabd_shm_pcpu, capacity, 4), OFF(slabd_shm_pcpu, slots, 8),
	      MSIZE(slabd_shm_pcpu, slots, 127 * 8), MSIZE(slabd_shm_pcpu, count, 4));
	CHECK(SIZE(slabd_shm_mag, 1024), OFF(slabd_shm_mag, next, 0), OFF(slabd_shm_mag, count, 4),
	      OFF(slabd_shm_mag, objs, 8), MSIZE(slabd_shm_mag, objs, 127 * 8));
	CHECK(SIZE(slabd_shm_pcpu_stat, 8), OFF(slabd_shm_pcpu_stat, alloc_misses, 0),
	      OFF(slabd_shm_pcpu_stat, free_misses, 4));
	CHECK(SIZE(slabd_shm_client, 32), OFF(slabd_shm_client, pid, 0), OFF(slabd_shm_client, id, 4),
	      OFF(slabd_shm_client, alloc_failures, 8), OFF(slabd_shm_client, debug_errors, 16),
	      OFF(slabd_shm_client, reserved, 24));
	/* layout 8: the call sites and the freeing pid; 48 bytes (was 32) */
	CHECK(SIZE(slabd_shm_track, 48), OFF(slabd_shm_track, redzone, 0),
	      OFF(slabd_shm_track, state, 8), OFF(slabd_shm_track, owner, 12),
	      OFF(slabd_shm_track, pid, 16), OFF(slabd_shm_track, alloc_pid, 20),
	      OFF(slabd_shm_track, alloc_addr, 24), OFF(slabd_shm_track, free_addr, 32),
	      OFF(slabd_shm_track, free_pid, 40), OFF(slabd_shm_track, reserved, 44));
}

Test(layout, the_miss_counters_are_per_cpu_rows_of_whole_cache_lines_as_version_5_puts_them)
{
	struct slabd_shm_geometry g = {.nr_cpus = 3,
				       .nr_nodes = 1,
				       .nr_zones = 1,
				       .max_caches = 1024,
				       .nr_pages = 1024,
				       .nr_mags = 64,
				       .align = 4096};
	uint32_t mc, cpu;

	/* [cpu][cache]: CPU c's counters of every cache follow each other */
	cr_expect_eq(slabd_shm_pcpu_stat_index(1024, 6, 0), 6);
	cr_expect_eq(slabd_shm_pcpu_stat_index(1024, 6, 1), 1024 + 6);
	cr_expect_eq(slabd_shm_pcpu_stat_index(1024, 0, 2), 2048);
	/* a row is padded to 8 entries (64 bytes): no line holds two CPUs' counters */
	cr_expect_eq(slabd_shm_pcpu_stat_row(1024), 1024);
	cr_expect_eq(slabd_shm_pcpu_stat_row(100), 104);
	cr_expect_eq(slabd_shm_pcpu_stat_row(1), 8);
	for (mc = 1; mc <= 70; mc++)
		for (cpu = 1; cpu < 4; cpu++) {
			uint64_t last_of_prev =
			    slabd_shm_pcpu_stat_index(mc, mc - 1, cpu - 1) * 8 / 64;
			uint64_t first = slabd_shm_pcpu_stat_index(mc, 0, cpu) * 8;
			cr_expect_eq(first % 64, 0, "max_caches %u: CPU %u's row starts mid-line",
				     mc, cpu);
			cr_expect_lt(last_of_prev, first / 64,
				     "max_caches %u: CPUs %u and %u share a line", mc, cpu - 1,
				     cpu);
		}
	/* the segment has room for every row */
	cr_assert_eq(slabd_shm_geometry(&g), 0);
	cr_expect_eq(g.pcpu_stat_off % 64, 0);
	cr_expect_geq(g.remote_off,
		      g.pcpu_stat_off + 3 * 1024 * sizeof(struct slabd_shm_pcpu_stat));
}

Test(layout, the_geometry_struct_is_where_version_3_puts_it)
{
	CHECK(SIZE(slabd_shm_geometry, 160), OFF(slabd_shm_geometry, nr_cpus, 0),
	      OFF(slabd_shm_geometry, nr_nodes, 4), OFF(slabd_shm_geometry, nr_zones, 8),
	      OFF(slabd_shm_geometry, max_caches, 12), OFF(slabd_shm_geometry, nr_pages, 16),
	      OFF(slabd_shm_geometry, nr_mags, 20), OFF(slabd_shm_geometry, nr_iova, 24),
	      OFF(slabd_shm_geometry, align, 32), OFF(slabd_shm_geometry, cpu_table_off, 40),
	      OFF(slabd_shm_geometry, node_table_off, 48),
	      OFF(slabd_shm_geometry, zone_table_off, 56),
	      OFF(slabd_shm_geometry, cache_table_off, 64),
	      OFF(slabd_shm_geometry, page_table_off, 72),
	      OFF(slabd_shm_geometry, iova_table_off, 80), OFF(slabd_shm_geometry, meta_size, 88),
	      OFF(slabd_shm_geometry, ctl_off, 96), OFF(slabd_shm_geometry, depot_off, 104),
	      OFF(slabd_shm_geometry, pcpu_off, 112), OFF(slabd_shm_geometry, mag_off, 120),
	      OFF(slabd_shm_geometry, client_off, 128), OFF(slabd_shm_geometry, pcpu_stat_off, 136),
	      OFF(slabd_shm_geometry, remote_off, 144),
	      OFF(slabd_shm_geometry, percpu_size, 152));
}

Test(layout, the_shared_constants_are_those_of_version_3)
{
	char magic[8];

	memcpy(magic, &(uint64_t){SLABD_SHM_MAGIC}, sizeof(magic));
	cr_expect_arr_eq(magic, "SLABDREG", 8, "the superblock magic reads SLABDREG in memory");
	CHECK(
	    {"SLABD_PAGE_SHIFT", SLABD_PAGE_SHIFT, 12}, {"SLABD_PAGE_SIZE", SLABD_PAGE_SIZE, 4096},
	    {"SLABD_PCPU_SHIFT", SLABD_PCPU_SHIFT, 10}, {"SLABD_PCPU_SLOTS", SLABD_PCPU_SLOTS, 127},
	    {"SLABD_MAG_SLOTS", SLABD_MAG_SLOTS, 127}, {"SLABD_MAG_BATCH", SLABD_MAG_BATCH, 31}, {"SLABD_REMOTE_CAP", SLABD_REMOTE_CAP, 62},
	    {"SLABD_MAX_NODES", SLABD_MAX_NODES, 64},
	    {"SLABD_MAX_ZONES", SLABD_MAX_ZONES, 65}, {"SLABD_MAX_CPUS", SLABD_MAX_CPUS, 4096},
	    {"SLABD_MAX_CACHES", SLABD_MAX_CACHES, 1024},
	    {"SLABD_MAX_CLIENTS", SLABD_MAX_CLIENTS, 1024},
	    {"SLABD_CACHE_NAME_MAX", SLABD_CACHE_NAME_MAX, 32},
	    {"SLABD_KMALLOC_FIRST", SLABD_KMALLOC_FIRST, 1},
	    {"SLABD_KMALLOC_LAST", SLABD_KMALLOC_LAST, 25},
	    {"SLABD_FIRST_NAMED_CACHE", SLABD_FIRST_NAMED_CACHE, 64},
	    {"SLABD_BACKING_SHMEM_4K", SLABD_BACKING_SHMEM_4K, 1},
	    {"SLABD_BACKING_HUGETLB_2M", SLABD_BACKING_HUGETLB_2M, 2},
	    {"SLABD_BACKING_HUGETLB_1G", SLABD_BACKING_HUGETLB_1G, 3},
	    {"SLABD_NODE_BOUND", SLABD_NODE_BOUND, 1},
	    {"SLABD_NODE_SIMULATED", SLABD_NODE_SIMULATED, 2},
	    {"SLABD_ZONE_NODE", SLABD_ZONE_NODE, 1}, {"SLABD_ZONE_DMA", SLABD_ZONE_DMA, 2},
	    {"SLABD_CACHE_UNUSED", SLABD_CACHE_UNUSED, 0},
	    {"SLABD_CACHE_ACTIVE", SLABD_CACHE_ACTIVE, 1}, {"SLABD_PAGE_FREE", SLABD_PAGE_FREE, 0},
	    {"SLABD_PAGE_SLAB", SLABD_PAGE_SLAB, 1}, {"SLABD_PAGE_LARGE", SLABD_PAGE_LARGE, 2},
	    {"SLABD_PAGE_LARGE_TAIL", SLABD_PAGE_LARGE_TAIL, 3},
	    {"SLABD_DEPOT_EXHAUSTED", SLABD_DEPOT_EXHAUSTED, 1},
	    {"SLABD_STACK_IDX_BITS", SLABD_STACK_IDX_BITS, 24},
	    {"SLABD_STACK_CNT_BITS", SLABD_STACK_CNT_BITS, 20},
	    {"SLABD_DMA_KMALLOC_BASE", SLABD_DMA_KMALLOC_BASE, 32},
	    {"SLABD_IOVA_NONE", SLABD_IOVA_NONE, 0}, {"SLABD_IOVA_VFIO", SLABD_IOVA_VFIO, 1},
	    {"SLABD_IOVA_PA", SLABD_IOVA_PA, 2}, {"SLABD_IOVA_VA", SLABD_IOVA_VA, 3},
	    {"SLABD_NO_ZONE", SLABD_NO_ZONE, 0xffffffffu},
	    {"SLABD_PKTBUF_HDR", SLABD_PKTBUF_HDR, 128},
	    {"SLABD_PKTBUF_MAX_BUF", SLABD_PKTBUF_MAX_BUF, 65535},
	    {"SLABD_PKTBUF_MAX_PRIV", SLABD_PKTBUF_MAX_PRIV, 65528});
	cr_expect_eq(SLABD_SHM_MAGIC, 0x4745524442414c53ull);
}

Test(layout, the_wire_header_and_hello_are_where_version_4_puts_them)
{
	cr_expect_eq(SLABD_WIRE_VERSION, 4u, "the wire version changed: update this file");
	CHECK(SIZE(slabd_wire_hdr, 16), OFF(slabd_wire_hdr, magic, 0),
	      OFF(slabd_wire_hdr, version, 4), OFF(slabd_wire_hdr, type, 6),
	      OFF(slabd_wire_hdr, len, 8), OFF(slabd_wire_hdr, seq, 12),
	      MSIZE(slabd_wire_hdr, version, 2), MSIZE(slabd_wire_hdr, type, 2));
	CHECK(SIZE(slabd_wire_hello, 32), OFF(slabd_wire_hello, hdr, 0),
	      OFF(slabd_wire_hello, layout_version, 16), OFF(slabd_wire_hello, pid, 20),
	      OFF(slabd_wire_hello, flags, 24), OFF(slabd_wire_hello, reserved, 28));
}

Test(layout, the_wire_replies_and_requests_are_where_version_4_puts_them)
{
	CHECK(SIZE(slabd_wire_attach, 88), OFF(slabd_wire_attach, hdr, 0),
	      OFF(slabd_wire_attach, layout_version, 16), OFF(slabd_wire_attach, client_id, 20),
	      OFF(slabd_wire_attach, client_slot, 24), OFF(slabd_wire_attach, reserved, 28),
	      OFF(slabd_wire_attach, region_id, 32), OFF(slabd_wire_attach, base_addr, 40),
	      OFF(slabd_wire_attach, meta_size, 48), OFF(slabd_wire_attach, percpu_off, 56),
	      OFF(slabd_wire_attach, percpu_size, 64), OFF(slabd_wire_attach, zones_off, 72),
	      OFF(slabd_wire_attach, zones_size, 80));
	CHECK(SIZE(slabd_wire_stats_req, 24), OFF(slabd_wire_stats_req, cache, 16));
	CHECK(SIZE(slabd_wire_stats, 152), OFF(slabd_wire_stats, err, 16), OFF(slabd_wire_stats, cache, 20),
	      OFF(slabd_wire_stats, name, 24), OFF(slabd_wire_stats, object_size, 56),
	      OFF(slabd_wire_stats, slabs, 64), OFF(slabd_wire_stats, in_use, 72),
	      OFF(slabd_wire_stats, in_pcpu, 80), OFF(slabd_wire_stats, in_depot, 88),
	      OFF(slabd_wire_stats, in_slabs, 96), OFF(slabd_wire_stats, zone_free, 104),
	      OFF(slabd_wire_stats, released, 112), OFF(slabd_wire_stats, zone_size, 120),
	      OFF(slabd_wire_stats, alloc_failures, 128), OFF(slabd_wire_stats, clients, 136),
	      OFF(slabd_wire_stats, caches, 140), OFF(slabd_wire_stats, backing, 144));
	CHECK(SIZE(slabd_wire_error, 224), OFF(slabd_wire_error, hdr, 0),
	      OFF(slabd_wire_error, err, 16), OFF(slabd_wire_error, reserved, 20),
	      OFF(slabd_wire_error, msg, 24), MSIZE(slabd_wire_error, msg, 200));
	CHECK(SIZE(slabd_wire_large_alloc, 32), OFF(slabd_wire_large_alloc, hdr, 0),
	      OFF(slabd_wire_large_alloc, size, 16), OFF(slabd_wire_large_alloc, gfp, 24),
	      OFF(slabd_wire_large_alloc, node, 28));
	CHECK(SIZE(slabd_wire_large_reply, 32), OFF(slabd_wire_large_reply, hdr, 0),
	      OFF(slabd_wire_large_reply, err, 16), OFF(slabd_wire_large_reply, reserved, 20),
	      OFF(slabd_wire_large_reply, off, 24));
	CHECK(SIZE(slabd_wire_cache_create, 64), OFF(slabd_wire_cache_create, hdr, 0),
	      OFF(slabd_wire_cache_create, name, 16), MSIZE(slabd_wire_cache_create, name, 32),
	      OFF(slabd_wire_cache_create, size, 48), OFF(slabd_wire_cache_create, align, 52),
	      OFF(slabd_wire_cache_create, flags, 56), OFF(slabd_wire_cache_create, reserved, 60));
	CHECK(SIZE(slabd_wire_pool_create, 72), OFF(slabd_wire_pool_create, hdr, 0),
	      OFF(slabd_wire_pool_create, name, 16), MSIZE(slabd_wire_pool_create, name, 32),
	      OFF(slabd_wire_pool_create, n, 48), OFF(slabd_wire_pool_create, data_room, 52),
	      OFF(slabd_wire_pool_create, priv_size, 56), OFF(slabd_wire_pool_create, headroom, 60),
	      OFF(slabd_wire_pool_create, node, 64), OFF(slabd_wire_pool_create, reserved, 68));
	CHECK(SIZE(slabd_wire_cache_op, 32), OFF(slabd_wire_cache_op, hdr, 0),
	      OFF(slabd_wire_cache_op, op, 16), OFF(slabd_wire_cache_op, cache, 20),
	      OFF(slabd_wire_cache_op, gen, 24), OFF(slabd_wire_cache_op, reserved, 28));
	CHECK(SIZE(slabd_wire_cache_reply, 32), OFF(slabd_wire_cache_reply, hdr, 0),
	      OFF(slabd_wire_cache_reply, err, 16), OFF(slabd_wire_cache_reply, cache, 20),
	      OFF(slabd_wire_cache_reply, count, 24));
	CHECK(SIZE(slabd_wire_info_req, 24), OFF(slabd_wire_info_req, index, 16));
	CHECK(SIZE(slabd_wire_cache_info, 208), OFF(slabd_wire_cache_info, err, 16),
	      OFF(slabd_wire_cache_info, cache, 20), OFF(slabd_wire_cache_info, name, 24),
	      OFF(slabd_wire_cache_info, obj_size, 56), OFF(slabd_wire_cache_info, nr_nodes, 92),
	      OFF(slabd_wire_cache_info, slabs, 96), OFF(slabd_wire_cache_info, depot_misses, 168),
	      OFF(slabd_wire_cache_info, gen, 176), OFF(slabd_wire_cache_info, reserved, 180),
	      OFF(slabd_wire_cache_info, pool_n, 184), OFF(slabd_wire_cache_info, pool_priv, 188),
	      OFF(slabd_wire_cache_info, pool_headroom, 192),
	      OFF(slabd_wire_cache_info, pool_data_room, 196),
	      OFF(slabd_wire_cache_info, pool_node, 200),
	      OFF(slabd_wire_cache_info, pool_iova_mode, 204));
	CHECK(SIZE(slabd_wire_cpu_info, 72), OFF(slabd_wire_cpu_info, cpu, 20),
	      OFF(slabd_wire_cpu_info, pcpu_bytes, 40), OFF(slabd_wire_cpu_info, free_misses, 64));
	CHECK(SIZE(slabd_wire_node_info, 80), OFF(slabd_wire_node_info, node, 20),
	      OFF(slabd_wire_node_info, zone_size, 40), OFF(slabd_wire_node_info, large_bytes, 72));
	CHECK(SIZE(slabd_wire_client_info, 40), OFF(slabd_wire_client_info, slot, 20),
	      OFF(slabd_wire_client_info, pid, 28), OFF(slabd_wire_client_info, alloc_failures, 32));
	CHECK(SIZE(slabd_wire_debug_req, 32), OFF(slabd_wire_debug_req, op, 16),
	      OFF(slabd_wire_debug_req, cache, 20), OFF(slabd_wire_debug_req, flags, 24));
	CHECK(SIZE(slabd_wire_debug, 48), OFF(slabd_wire_debug, err, 16), OFF(slabd_wire_debug, cache, 20),
	      OFF(slabd_wire_debug, flags, 24), OFF(slabd_wire_debug, caches, 28),
	      OFF(slabd_wire_debug, errors, 32), OFF(slabd_wire_debug, reclaimed, 40));
}

Test(layout, the_wire_constants_are_those_of_version_4)
{
	CHECK({"SLABD_WIRE_MAGIC", SLABD_WIRE_MAGIC, 0x534c4244u},
	      {"SLABD_WIRE_MAX", SLABD_WIRE_MAX, 512}, {"SLABD_MSG_HELLO", SLABD_MSG_HELLO, 1},
	      {"SLABD_MSG_ATTACH", SLABD_MSG_ATTACH, 2}, {"SLABD_MSG_ERROR", SLABD_MSG_ERROR, 3},
	      {"SLABD_MSG_LARGE_ALLOC", SLABD_MSG_LARGE_ALLOC, 4},
	      {"SLABD_MSG_LARGE_REPLY", SLABD_MSG_LARGE_REPLY, 5},
	      {"SLABD_MSG_CACHE_CREATE", SLABD_MSG_CACHE_CREATE, 6},
	      {"SLABD_MSG_CACHE_OP", SLABD_MSG_CACHE_OP, 7},
	      {"SLABD_MSG_CACHE_REPLY", SLABD_MSG_CACHE_REPLY, 8},
	      {"SLABD_CACHE_OP_DESTROY", SLABD_CACHE_OP_DESTROY, 1},
	      {"SLABD_CACHE_OP_SHRINK", SLABD_CACHE_OP_SHRINK, 2},
	      {"SLABD_CACHE_OP_POOL_FREE", SLABD_CACHE_OP_POOL_FREE, 3},
	      {"SLABD_MSG_STATS", SLABD_MSG_STATS, 9},
	      {"SLABD_MSG_STATS_REPLY", SLABD_MSG_STATS_REPLY, 10},
	      {"SLABD_MSG_CACHE_INFO", SLABD_MSG_CACHE_INFO, 11},
	      {"SLABD_MSG_CACHE_INFO_REPLY", SLABD_MSG_CACHE_INFO_REPLY, 12},
	      {"SLABD_MSG_CPU_INFO", SLABD_MSG_CPU_INFO, 13},
	      {"SLABD_MSG_CPU_INFO_REPLY", SLABD_MSG_CPU_INFO_REPLY, 14},
	      {"SLABD_MSG_NODE_INFO", SLABD_MSG_NODE_INFO, 15},
	      {"SLABD_MSG_NODE_INFO_REPLY", SLABD_MSG_NODE_INFO_REPLY, 16},
	      {"SLABD_MSG_CLIENT_INFO", SLABD_MSG_CLIENT_INFO, 17},
	      {"SLABD_MSG_CLIENT_INFO_REPLY", SLABD_MSG_CLIENT_INFO_REPLY, 18},
	      {"SLABD_MSG_POOL_CREATE", SLABD_MSG_POOL_CREATE, 19},
	      {"SLABD_MSG_VERIFY", SLABD_MSG_VERIFY, 20},
	      {"SLABD_MSG_VERIFY_REPLY", SLABD_MSG_VERIFY_REPLY, 21},
	      {"SLABD_MSG_DEBUG", SLABD_MSG_DEBUG, 22},
	      {"SLABD_MSG_DEBUG_REPLY", SLABD_MSG_DEBUG_REPLY, 23},
	      {"SLABD_MSG_MAX", SLABD_MSG_MAX, 23},
	      {"SLABD_HELLO_REATTACH", SLABD_HELLO_REATTACH, 1},
	      {"SLABD_WIRE_ERRMSG_MAX", SLABD_WIRE_ERRMSG_MAX, 200});
}
