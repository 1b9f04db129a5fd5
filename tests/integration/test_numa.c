/* SPDX-License-Identifier: MIT */
/*
 * test_numa.c - NUMA placement with a real daemon on machines that slabd is told about:
 * a synthetic two-node topology (HWLOC_SYNTHETIC, one CPU per node here), a four-node
 * XML topology with a distance matrix (written by this test with hwloc), and the real
 * machine (node 0 bound and checked with move_pages).
 *
 * What must hold: allocation is node-local to the CPU by default; kmalloc_node honours
 * the node; __GFP_THISNODE never leaves it; an exhausted node falls back to the nearest
 * one by distance; a free on another node's CPU sends the object home, and no per-CPU
 * stack ever holds another node's object.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <hwloc.h>
#include <numaif.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "daemon_helper.h"
#include "slabd_shm.h"
#include "slabd_wire.h"

static struct test_daemon td;
static char xml_path[256];

static void stop(void)
{
	cr_expect(td_alive(&td), "slabd died during the test");
	cr_expect_eq(td_stop(&td), 0);
	unsetenv("HWLOC_SYNTHETIC");
	unsetenv("HWLOC_XMLFILE");
	if (xml_path[0])
		unlink(xml_path);
}

static void start(const char *const *sets)
{
	if (td_start(&td, sets) != 0) {
		td_dump_log(&td);
		cr_assert_fail("slabd did not start");
	}
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
}

/* Two nodes, one CPU each: CPU 0 on node 0, CPU 1 on node 1. */
static void two_nodes(void)
{
	static const char *const sets[] = { "zone_size=16M", "zone_size.1=2M", "idle_drain_ms=300", NULL };
	setenv("HWLOC_SYNTHETIC", "pack:2 numa:1 core:1 pu:1", 1);
	start(sets);
}

/*
 * Four nodes (CPU 0 on node 0, CPU 1 on node 1; nodes 2 and 3 without a real CPU here)
 * with distances chosen so that nearest-first differs from index order:
 * node 1 falls back to 3 (20), then 2 (30), then 0 (40).
 */
static const hwloc_uint64_t dist4[16] = {
	10, 40, 30, 40, /* node 0 */
	40, 10, 30, 20, /* node 1 */
	30, 30, 10, 20, /* node 2 */
	40, 20, 20, 10, /* node 3 */
};

static void write_xml4(void)
{
	hwloc_topology_t t;
	hwloc_obj_t objs[4];
	hwloc_distances_add_handle_t h;
	unsigned int i;

	snprintf(xml_path, sizeof(xml_path), "/tmp/slabd-test-numa4-%d.xml", (int)getpid());
	cr_assert_eq(hwloc_topology_init(&t), 0);
	cr_assert_eq(hwloc_topology_set_synthetic(t, "pack:4 numa:1 core:1 pu:1"), 0);
	cr_assert_eq(hwloc_topology_load(t), 0);
	cr_assert_eq(hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE), 4);
	for (i = 0; i < 4; i++)
		objs[i] = hwloc_get_obj_by_type(t, HWLOC_OBJ_NUMANODE, i);
	h = hwloc_distances_add_create(t, "test-latency",
				       HWLOC_DISTANCES_KIND_FROM_USER | HWLOC_DISTANCES_KIND_MEANS_LATENCY, 0);
	cr_assert_not_null(h);
	cr_assert_eq(hwloc_distances_add_values(t, h, 4, objs, (hwloc_uint64_t *)dist4, 0), 0);
	cr_assert_eq(hwloc_distances_add_commit(t, h, 0), 0);
	cr_assert_eq(hwloc_topology_export_xml(t, xml_path, 0), 0, "%s", strerror(errno));
	hwloc_topology_destroy(t);
}

static void four_nodes(void)
{
	static const char *const sets[] = { "zone_size=8M", "zone_size.1=2M", "zone_size.3=2M", NULL };
	write_xml4();
	setenv("HWLOC_XMLFILE", xml_path, 1);
	start(sets);
}

static void real_machine(void)
{
	static const char *const sets[] = { "zone_size=8M", NULL };
	unsetenv("HWLOC_SYNTHETIC");
	unsetenv("HWLOC_XMLFILE");
	start(sets);
}

static void pin(int cpu)
{
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0, "cannot run on CPU %d: %s", cpu, strerror(errno));
	cr_assert_eq(sched_getcpu(), cpu);
}

static const struct slabd_shm_super *super(void)
{
	const struct slabd_shm_super *sb = slabd_off_to_ptr(0);
	cr_assert_not_null(sb);
	return sb;
}

/* Every object in every CPU's stack of kmalloc cache @cache lives on that CPU's node. */
static void assert_stacks_hold_only_home_objects(unsigned int cache)
{
	const struct slabd_shm_super *sb = super();
	const char *base = (const char *)sb;
	const struct slabd_shm_cpu *cpus = (const void *)(base + sb->cpu_table_off);
	const struct slabd_shm_node *nodes = (const void *)(base + sb->node_table_off);
	const char *pcpu = base + sb->percpu_off + sb->pcpu_off + (uint64_t)cache * ((uint64_t)sb->nr_cpus << SLABD_PCPU_SHIFT);
	uint32_t cpu, i, seen = 0;

	for (cpu = 0; cpu < sb->nr_cpus; cpu++) {
		const struct slabd_shm_pcpu *st = (const void *)(pcpu + ((uint64_t)cpu << SLABD_PCPU_SHIFT));
		int home = (int)nodes[cpus[cpu].node].os_index;
		uint32_t n = st->count;

		cr_assert_leq(n, SLABD_PCPU_SLOTS);
		for (i = 0; i < n; i++) {
			int node = slabd_virt_to_node(base + st->slots[i]);
			cr_assert_eq(node, home, "CPU %u (node %d) holds an object of node %d", cpu, home, node);
			seen++;
		}
	}
	cr_assert_gt(seen, 0, "no object in any per-CPU stack: the check saw nothing");
}

/* Allocate @n objects of @size on the current CPU, all on node @node. */
static void alloc_all_on(void **objs, int n, size_t size, gfp_t flags, int want_node)
{
	int i;
	for (i = 0; i < n; i++) {
		objs[i] = kmalloc(size, flags);
		cr_assert_not_null(objs[i], "allocation %d failed: %s", i, strerror(errno));
		cr_assert_eq(slabd_virt_to_node(objs[i]), want_node, "object %d of %zu B on node %d, not %d", i, size,
			     slabd_virt_to_node(objs[i]), want_node);
		memset(objs[i], i, size < 64 ? size : 64);
	}
}

/* Two nodes without a DMA zone (whose home worker flushes every CPU's remote-free stack),
 * and an idle drain too slow to interfere: only what a request does moves objects. */
static void two_nodes_no_dma(void)
{
	static const char *const sets[] = { "zone_size=8M", "dma_zone_size=0", "idle_drain_ms=600000", NULL };
	setenv("HWLOC_SYNTHETIC", "pack:2 numa:1 core:1 pu:1", 1);
	start(sets);
}

TestSuite(numa2, .init = two_nodes, .fini = stop, .timeout = 120);
TestSuite(numa2_nodma, .init = two_nodes_no_dma, .fini = stop, .timeout = 120);
TestSuite(numa4, .init = four_nodes, .fini = stop, .timeout = 120);
TestSuite(numa_real, .init = real_machine, .fini = stop, .timeout = 60);

enum { N = 600 };

Test(numa2, the_daemon_reports_two_simulated_nodes_and_clients_read_its_cpu_table)
{
	const struct slabd_shm_super *sb = super();
	const char *base = (const char *)sb;
	const struct slabd_shm_cpu *cpus = (const void *)(base + sb->cpu_table_off);
	const struct slabd_shm_node *nodes = (const void *)(base + sb->node_table_off);
	const struct slabd_shm_zone *zones = (const void *)(base + sb->zone_table_off);

	cr_assert_eq(sb->nr_nodes, 2);
	cr_assert_eq(cpus[0].node, 0);
	cr_assert_eq(cpus[1].node, 1);
	cr_assert(nodes[0].flags & SLABD_NODE_SIMULATED);
	cr_assert(nodes[1].flags & SLABD_NODE_SIMULATED);
	cr_assert_eq(nodes[0].order[0], 0);
	cr_assert_eq(nodes[0].order[1], 1);
	cr_assert_eq(nodes[1].order[1], 0);
	cr_assert_eq(zones[0].size, 16u << 20, "zone_size");
	cr_assert_eq(zones[1].size, 2u << 20, "zone_size.1");
	cr_assert_eq(zones[1].off, zones[0].off + zones[0].size, "zones are laid out back to back");
	cr_assert(td_log_contains(&td, "simulated node 1 (unbound"), "the log does not say node 1 is simulated");
}

Test(numa2, allocation_is_local_to_the_cpus_node_by_default)
{
	static void *objs[N];
	int cpu, i;

	for (cpu = 0; cpu < 2; cpu++) {
		pin(cpu);
		alloc_all_on(objs, N, 64, GFP_KERNEL, cpu);
		for (i = 0; i < N; i++)
			kfree(objs[i]);
		/* large: pages from the daemon (node 1's 2 MiB zone holds a dozen) */
		alloc_all_on(objs, 8, 100000, GFP_KERNEL, cpu);
		for (i = 0; i < 8; i++)
			kfree(objs[i]);
	}
	assert_stacks_hold_only_home_objects(6);
}

Test(numa2, kmalloc_node_honours_the_node_with_and_without_thisnode)
{
	static void *a[N], *b[N];
	struct kmem_cache *s;
	int i;

	pin(0);
	for (i = 0; i < N; i++) {
		a[i] = kmalloc_node(128, GFP_KERNEL, 1);
		b[i] = kmalloc_node(128, GFP_KERNEL | __GFP_THISNODE, 1);
		cr_assert_not_null(a[i]);
		cr_assert_not_null(b[i]);
		cr_assert_eq(slabd_virt_to_node(a[i]), 1);
		cr_assert_eq(slabd_virt_to_node(b[i]), 1);
	}
	s = kmem_cache_create("numa-node-test", 200, 0, 0, NULL);
	cr_assert_not_null(s, "%s", slabd_last_error());
	for (i = 0; i < 100; i++) {
		void *p = kmem_cache_alloc_node(s, GFP_KERNEL, 1), *q = kmem_cache_alloc_node(s, GFP_KERNEL, 0);
		cr_assert_eq(slabd_virt_to_node(p), 1);
		cr_assert_eq(slabd_virt_to_node(q), 0);
		kmem_cache_free(s, p);
		kmem_cache_free(s, q);
	}
	a[0] = kmalloc_node(300000, GFP_KERNEL | __GFP_THISNODE, 1);
	cr_assert_eq(slabd_virt_to_node(a[0]), 1, "a large allocation on node 1");
	kfree(a[0]);
	for (i = 1; i < N; i++)
		kfree(a[i]);
	for (i = 0; i < N; i++)
		kfree(b[i]);
	errno = 0;
	cr_assert_null(kmalloc_node(64, GFP_KERNEL, 7), "node 7 does not exist");
	cr_assert_eq(errno, EINVAL);
	alloc_all_on(a, N, 128, GFP_KERNEL, 0); /* local ones, so the stacks hold something */
	for (i = 0; i < N; i++)
		kfree(a[i]);
	assert_stacks_hold_only_home_objects(7);
}

Test(numa2, objects_freed_on_the_other_nodes_cpu_go_home)
{
	static void *objs[N], *later[4 * N];
	int i, j, back = 0;

	pin(0);
	alloc_all_on(objs, N, 64, GFP_KERNEL, 0);
	pin(1);
	for (i = 0; i < N; i++)
		kfree(objs[i]); /* node 0's objects, freed on node 1's CPU */
	assert_stacks_hold_only_home_objects(6);
	/* Node 1's CPU never gets them back... */
	alloc_all_on(later, 4 * N, 64, GFP_KERNEL, 1);
	for (i = 0; i < 4 * N; i++)
		kfree(later[i]);
	/* ...node 0's does. */
	pin(0);
	alloc_all_on(later, 4 * N, 64, GFP_KERNEL, 0);
	for (i = 0; i < 4 * N; i++)
		for (j = 0; j < N; j++)
			back += later[i] == objs[j];
	cr_assert_gt(back, 0, "none of the objects freed on CPU 1 came back to node 0's CPU");
	for (i = 0; i < 4 * N; i++)
		kfree(later[i]);
	assert_stacks_hold_only_home_objects(6);
}

/* Run `slabctl stats --json` and print @expr of it (python, the parsed JSON is d) into
 * @out. */
static void slabctl_json(const char *expr, char *out, size_t len)
{
	char cmd[1024];
	size_t n;
	FILE *f;
	int r;

	snprintf(cmd, sizeof(cmd), "%s --socket %s stats --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(%s)'",
		 SLABCTL_BIN, td.sock, expr);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	n = fread(out, 1, len - 1, f);
	out[n] = 0;
	r = pclose(f);
	cr_assert_eq(r, 0, "slabctl or the JSON check failed: %s", out);
}

/* CPU @cpu's remote-free stack: its count, and each entry must be of node @node. */
static uint32_t remote_stack(int cpu, int node)
{
	const struct slabd_shm_super *sb = super();
	const char *base = (const char *)sb;
	const struct slabd_shm_pcpu *st =
	    (const void *)(base + sb->percpu_off + sb->remote_off + ((uint64_t)cpu << SLABD_PCPU_SHIFT));
	uint32_t i, n = st->count;

	cr_assert_leq(n, SLABD_REMOTE_CAP);
	cr_assert_eq(st->capacity, SLABD_REMOTE_CAP);
	for (i = 0; i < n; i++)
		cr_assert_eq(slabd_virt_to_node(base + st->slots[i]), node, "remote entry %u", i);
	return n;
}

Test(numa2, remote_frees_wait_in_a_per_cpu_stack_until_a_miss_or_the_daemon_sends_them_home)
{
	static void *objs[N];
	void *p;
	int i;

	pin(0);
	alloc_all_on(objs, 20, 64, GFP_KERNEL, 0);
	pin(1);
	cr_assert_eq(remote_stack(1, 0), 0);
	for (i = 0; i < 20; i++)
		kfree(objs[i]);
	cr_assert_eq(remote_stack(1, 0), 20, "the 20 remote frees are not in CPU 1's remote stack");
	/* slabctl counts them with CPU 1's per-CPU bytes (on their way home) */
	{
		char out[256];
		slabctl_json("d[\"per_cpu\"][1][\"pcpu_bytes\"] >= 20 * 64", out, sizeof(out));
		/* The idle daemon may send them home while slabctl runs (seconds under the VM
		 * suite's TCG): the accounting is checked when they stayed there throughout
		 * (no free comes meanwhile, so a count of 20 afterwards means never flushed). */
		if (remote_stack(1, 0) == 20)
			cr_assert_str_eq(out, "True\n", "CPU 1's per-CPU bytes leave out its remote-free stack");
		else
			/* said on stderr: a Criterion warning would make the run exit 1 */
			fprintf(stderr, "note: CPU 1's remote stack went home while slabctl looked: "
					"its accounting not checked\n");
	}
	/* A miss on CPU 1 (its first allocation of 2 KiB objects) sends them home. */
	p = kmalloc(2048, GFP_KERNEL);
	cr_assert_eq(slabd_virt_to_node(p), 1);
	cr_assert_eq(remote_stack(1, 0), 0, "the miss did not flush the remote stack");
	kfree(p);

	/* A full stack flushes itself: N frees never hold more than its capacity. */
	pin(0);
	alloc_all_on(objs, N, 64, GFP_KERNEL, 0);
	pin(1);
	for (i = 0; i < N; i++)
		kfree(objs[i]);
	cr_assert_lt(remote_stack(1, 0), SLABD_REMOTE_CAP + 1);
	cr_assert_gt(remote_stack(1, 0), 0);
	/* Left alone, the daemon sends them home after idle_drain_ms (300 ms here). */
	for (i = 0; i < 100 && remote_stack(1, 0); i++)
		usleep(50 * 1000);
	cr_assert_eq(remote_stack(1, 0), 0, "the daemon did not flush an idle CPU's remote stack within 5 s");
}

Test(numa2, slabctl_stats_report_each_node_and_where_its_memory_went)
{
	static void *objs[300];
	char out[8192];
	int i;

	pin(1);
	for (i = 0; i < 300; i++)
		objs[i] = kmalloc_node(4096, GFP_KERNEL | __GFP_THISNODE, 1);
	/* node 1 holds ~1.2 MB of 4 KiB objects, node 0 nothing */
	slabctl_json("len(d[\"per_node\"]), *[(n[\"simulated\"], n[\"zone_bytes\"]) for n in d[\"per_node\"]], "
		     "d[\"per_node\"][0][\"in_use_bytes\"] < d[\"per_node\"][1][\"in_use_bytes\"], "
		     "d[\"per_node\"][1][\"in_use_bytes\"] >= 300 * 4096, d[\"per_node\"][1][\"cpu_list\"]",
		     out, sizeof(out));
	cr_assert_str_eq(out, "2 (True, 16777216) (True, 2097152) True True 1\n");
	for (i = 0; i < 300; i++)
		kfree(objs[i]);
}

/* Fill node @node with 4 KiB objects under __GFP_THISNODE; returns how many. */
static int exhaust_node(void **objs, int max, int node)
{
	int n = 0;
	for (;;) {
		void *p = kmalloc_node(4096, GFP_KERNEL | __GFP_THISNODE | __GFP_NORETRY, node);
		if (!p) {
			cr_assert_eq(errno, ENOMEM, "errno %d", errno);
			break;
		}
		cr_assert_lt(n, max, "node %d never ran out", node);
		cr_assert_eq(slabd_virt_to_node(p), node, "__GFP_THISNODE left node %d", node);
		objs[n++] = p;
	}
	return n;
}

Test(numa2, thisnode_fails_on_an_exhausted_node_and_without_it_the_other_node_serves)
{
	static void *objs[1024];
	void *p;
	int n, i;

	pin(1);
	n = exhaust_node(objs, 1024, 1);
	cr_assert_gt(n, 100, "node 1's 2 MiB zone held only %d pages of objects", n);
	cr_assert_null(kmalloc(4096, GFP_NOWAIT | __GFP_THISNODE));
	cr_assert_null(kmalloc_node(4096, GFP_KERNEL | __GFP_THISNODE | __GFP_NORETRY, 1));
	cr_assert_null(kmalloc_node(200000, GFP_KERNEL | __GFP_THISNODE | __GFP_NORETRY, 1), "large, THISNODE");
	/* That large request made the daemon reclaim (empty slabs, reserves): take what it
	 * found, so node 1 is dry again. */
	n += exhaust_node(objs + n, 1024 - n, 1);

	p = kmalloc(4096, GFP_KERNEL | __GFP_NORETRY);
	cr_assert_not_null(p, "no fallback for GFP_KERNEL|__GFP_NORETRY");
	cr_assert_eq(slabd_virt_to_node(p), 0);
	kfree(p);
	p = kmalloc(4096, GFP_NOWAIT);
	cr_assert_not_null(p, "no fallback for GFP_NOWAIT");
	cr_assert_eq(slabd_virt_to_node(p), 0);
	kfree(p);
	p = kmalloc(4096, GFP_KERNEL);
	cr_assert_not_null(p, "no fallback for GFP_KERNEL");
	cr_assert_eq(slabd_virt_to_node(p), 0);
	kfree(p);
	p = kmalloc_node(200000, GFP_KERNEL, 1);
	cr_assert_not_null(p, "no fallback for a large allocation");
	cr_assert_eq(slabd_virt_to_node(p), 0);
	kfree(p);

	for (i = 0; i < n; i++)
		kfree(objs[i]);
	assert_stacks_hold_only_home_objects(12);
	/* Memory back on node 1: it serves its own CPU again. */
	p = kmalloc_node(4096, GFP_KERNEL | __GFP_THISNODE, 1);
	cr_assert_eq(slabd_virt_to_node(p), 1);
	kfree(p);
}

Test(numa4, the_fallback_order_follows_the_distance_matrix)
{
	const struct slabd_shm_super *sb = super();
	const struct slabd_shm_node *nodes = (const void *)((const char *)sb + sb->node_table_off);
	static const uint8_t want[4][4] = { { 0, 2, 1, 3 }, { 1, 3, 2, 0 }, { 2, 3, 0, 1 }, { 3, 1, 2, 0 } };
	int i, j;

	cr_assert_eq(sb->nr_nodes, 4);
	for (i = 0; i < 4; i++)
		for (j = 0; j < 4; j++)
			cr_assert_eq(nodes[i].order[j], want[i][j], "node %d: fallback %d is %u, expected %u", i, j,
				     nodes[i].order[j], want[i][j]);
	cr_assert(td_log_contains(&td, "node 1 falls back to: 3(20) 2(30) 0(40)"));
}

Test(numa4, each_cpu_allocates_on_its_node_and_an_exhausted_node_falls_back_nearest_first)
{
	static void *objs[N], *n1[1024], *n3[1024];
	int i, c1, c3;
	void *p;

	pin(0);
	alloc_all_on(objs, N, 256, GFP_KERNEL, 0);
	for (i = 0; i < N; i++)
		kfree(objs[i]);
	pin(1);
	alloc_all_on(objs, N, 256, GFP_KERNEL, 1);
	for (i = 0; i < N; i++)
		kfree(objs[i]);

	c1 = exhaust_node(n1, 1024, 1);
	p = kmalloc(4096, GFP_KERNEL);
	cr_assert_eq(slabd_virt_to_node(p), 3, "node 1's nearest is node 3");
	kfree(p);
	c3 = exhaust_node(n3, 1024, 3);
	p = kmalloc(4096, GFP_KERNEL);
	cr_assert_eq(slabd_virt_to_node(p), 2, "with 1 and 3 full, node 1's next nearest is node 2");
	kfree(p);
	p = kmalloc(300000, GFP_KERNEL);
	cr_assert_eq(slabd_virt_to_node(p), 2, "large allocations fall back the same way");
	kfree(p);
	p = kmalloc(4096, GFP_NOWAIT | __GFP_THISNODE);
	cr_assert_null(p);
	for (i = 0; i < c1; i++)
		kfree(n1[i]);
	for (i = 0; i < c3; i++)
		kfree(n3[i]);
	assert_stacks_hold_only_home_objects(12);
}

Test(numa_real, node_zero_is_bound_and_move_pages_finds_objects_there)
{
	const struct slabd_shm_super *sb = super();
	const struct slabd_shm_node *nodes = (const void *)((const char *)sb + sb->node_table_off);
	const struct slabd_shm_cpu *cpus = (const void *)((const char *)sb + sb->cpu_table_off);
	static void *objs[256];
	int status[256], i;
	uint32_t cpu;

	if (nodes[0].flags & SLABD_NODE_SIMULATED)
		cr_skip_test("this machine has no NUMA support in the kernel: node 0 is simulated");
	/* On a machine with more nodes (the vm suite's guest) only node 0's CPUs allocate there. */
	for (cpu = 0; cpu < sb->nr_cpus && cpus[cpu].node != 0; cpu++)
		;
	cr_assert_lt(cpu, sb->nr_cpus, "no CPU on node 0");
	pin((int)cpu);
	cr_assert(nodes[0].flags & SLABD_NODE_BOUND, "node 0's zone is not bound (flags %#x)", nodes[0].flags);
	cr_assert(td_log_contains(&td, "bound to node 0 (verified with move_pages)"));
	for (i = 0; i < 256; i++) {
		objs[i] = kmalloc(i < 236 ? 512 : 70000, GFP_KERNEL); /* 20 large: 1.4 MB */
		cr_assert_not_null(objs[i]);
		memset(objs[i], 1, 512); /* map it here: move_pages sees this process's pages */
		cr_assert_eq(slabd_virt_to_node(objs[i]), 0);
	}
	cr_assert_eq(move_pages(0, 256, objs, NULL, status, 0), 0, "%s", strerror(errno));
	for (i = 0; i < 256; i++)
		cr_assert_eq(status[i], 0, "object %d is on node %d", i, status[i]);
	for (i = 0; i < 256; i++)
		kfree(objs[i]);
}

static void audit(struct slabd_wire_verify *r)
{
	cr_assert_eq(td_verify(&td, SLABD_VERIFY_AUDIT, r), 0, "no VERIFY reply");
	cr_assert_eq(r->err, 0);
	cr_assert_eq(r->problems, 0, "problems: %s", r->first);
}

/* The audit runs node by node: objects of node 0 waiting in node 1's CPU's remote-free
 * stack must be counted free, not flushed home after node 0 was already counted. */
Test(numa2_nodma, the_audit_counts_objects_in_remote_free_stacks_as_free)
{
	struct slabd_wire_verify before, after;
	static void *objs[20];
	int i;

	pin(0);
	audit(&before);
	alloc_all_on(objs, 20, 64, GFP_KERNEL, 0);
	pin(1);
	for (i = 0; i < 20; i++)
		kfree(objs[i]); /* node 0's objects, into CPU 1's remote-free stack */
	cr_assert_eq(remote_stack(1, 0), 20);
	audit(&after);
	cr_assert_eq(after.allocated, before.allocated,
		     "%llu objects allocated after every one was freed, %llu before",
		     (unsigned long long)after.allocated, (unsigned long long)before.allocated);
	cr_assert_eq(remote_stack(1, 0), 0, "the audit left CPU 1's remote-free stack as it was");
}

/* A client's flush of its CPU's remote-free stack (on a miss) reads client-writable
 * memory: the offset just past the last object of a slab (a multiple of the object size
 * from the slab's start, yet no object: its bytes run into the next page) must not reach
 * a depot, where another CPU would take it as an object. */
Test(numa2_nodma, a_clients_remote_flush_drops_the_tail_of_a_slab)
{
	const struct slabd_shm_super *sb = super();
	const char *base = (const char *)sb;
	const struct slabd_shm_page *pages = (const void *)(base + sb->page_table_off);
	const struct slabd_shm_cache *caches = (const void *)(base + sb->cache_table_off);
	struct slabd_shm_pcpu *r = (void *)(base + sb->percpu_off + sb->remote_off + (1ull << SLABD_PCPU_SHIFT));
	struct slabd_wire_verify before, after;
	static void *v[3000];
	const struct slabd_shm_page *pg;
	uint64_t off, head, tail;
	void *p;
	int i;

	pin(0);
	p = kmalloc(192, GFP_KERNEL);
	cr_assert_eq(slabd_virt_to_node(p), 0);
	off = slabd_ptr_to_off(p);
	pg = &pages[(off - sb->zones_off) >> SLABD_PAGE_SHIFT];
	head = sb->zones_off + ((uint64_t)pg->head << SLABD_PAGE_SHIFT);
	tail = head + (uint64_t)caches[pg->cache].objs_per_slab * caches[pg->cache].size;
	cr_assert_lt(tail, head + ((uint64_t)SLABD_PAGE_SIZE << caches[pg->cache].order),
		     "kmalloc-192's slab has no tail");
	cr_assert_eq(td_verify(&td, 0, &before), 0);

	pin(1);
	cr_assert_eq(remote_stack(1, 0), 0);
	r->slots[0] = tail;
	__atomic_store_n(&r->count, 1, __ATOMIC_RELEASE);
	p = kmalloc(2048, GFP_KERNEL); /* CPU 1's first of that size: a miss, which flushes */
	cr_assert_not_null(p);
	cr_assert_eq(r->count, 0, "the miss did not flush the remote stack");
	kfree(p);

	pin(0);
	for (i = 0; i < 3000; i++) {
		v[i] = kmalloc(192, GFP_KERNEL);
		cr_assert_not_null(v[i]);
		cr_assert_neq(slabd_ptr_to_off(v[i]), tail, "the slab's tail was handed out as an object");
	}
	for (i = 0; i < 3000; i++)
		kfree(v[i]);
	cr_assert_eq(td_verify(&td, 0, &after), 0);
	cr_assert_eq(after.bad_stacks, before.bad_stacks, "a depot stack was reset: the tail reached a magazine");
	cr_assert_eq(after.quarantined, before.quarantined);
	cr_assert_eq(after.bad_objects, before.bad_objects, "the tail reached the daemon");
}
