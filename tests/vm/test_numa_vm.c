/* SPDX-License-Identifier: MIT */
/*
 * test_numa_vm.c - NUMA placement on a machine with two real nodes (CPU 0 on node 0, CPU 1
 * on node 1): the guest of tests/vm/run-in-vm.sh. Where tests/integration/test_numa.c can
 * only simulate a second node, here the kernel places the pages, and every claim is checked
 * against it with move_pages(2): slabd binds each node's zone to its node, allocations from
 * CPU 1 come from node 1's memory, __GFP_THISNODE never leaves a node, an exhausted node
 * falls back to the other real node, and per-node hugepages back the zones.
 *
 * Outside such a machine every test skips, saying why; inside the VM (SLABD_VM=1) a machine
 * without two nodes, or without the hugepages the harness reserved, is a failure.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <numa.h>
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

static struct test_daemon td;
static long hp_free_before[2];

static int in_vm(void)
{
	return getenv("SLABD_VM") != NULL;
}

/* Two real nodes with CPU 0 on node 0 and CPU 1 on node 1, or skip (fail in the VM). */
static void need_two_real_nodes(void)
{
	int ok = numa_available() >= 0 && numa_max_node() == 1 && numa_node_of_cpu(0) == 0 &&
		 numa_node_of_cpu(1) == 1;

	if (ok)
		return;
	if (in_vm())
		cr_assert_fail("the VM should have two NUMA nodes with one CPU each (max node %d)",
			       numa_available() < 0 ? -1 : numa_max_node());
	cr_skip_test("not a two-node machine with CPU n on node n: run it with tests/vm/run-in-vm.sh");
}

/* Free 2 MiB hugepages on @node, from sysfs; -1 if unknown. */
static long node_free_hugepages(int node)
{
	char path[128];
	long n = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/hugepages/hugepages-2048kB/free_hugepages",
		 node);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &n) != 1)
		n = -1;
	fclose(f);
	return n;
}

static void start(const char *const *sets)
{
	if (td_start(&td, sets) != 0) {
		td_dump_log(&td);
		cr_assert_fail("slabd did not start");
	}
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
}

static void stop(void)
{
	if (!td.pid)
		return;
	cr_expect(td_alive(&td), "slabd died during the test");
	cr_expect_eq(td_stop(&td), 0);
}

/* Node 0: 16 MiB, node 1: 4 MiB (small, so a test can exhaust it). */
static void shmem_zones(void)
{
	static const char *const sets[] = { "zone_size=16M", "zone_size.1=4M", "idle_drain_ms=300", NULL };
	need_two_real_nodes();
	start(sets);
}

static void hugetlb_zones(void)
{
	static const char *const sets[] = { "hugepages=on", "zone_size=16M", "zone_size.1=4M", "dma_zone_size=0", NULL };
	int n;

	need_two_real_nodes();
	for (n = 0; n < 2; n++) {
		hp_free_before[n] = node_free_hugepages(n);
		if (hp_free_before[n] < 16) {
			if (in_vm())
				cr_assert_fail("node %d has %ld free hugepages: run-in-vm.sh --hugepages 16 or more",
					       n, hp_free_before[n]);
			cr_skip_test("node %d has %ld free 2 MiB hugepages, 16 needed", n, hp_free_before[n]);
		}
	}
	start(sets);
}

TestSuite(vm_numa, .init = shmem_zones, .fini = stop, .timeout = 240);
TestSuite(vm_numa_hugetlb, .init = hugetlb_zones, .fini = stop, .timeout = 240);

static const struct slabd_shm_super *super(void)
{
	const struct slabd_shm_super *sb = slabd_off_to_ptr(0);
	cr_assert_not_null(sb);
	return sb;
}

static void pin(int cpu)
{
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0, "cannot run on CPU %d: %s", cpu, strerror(errno));
	cr_assert_eq(sched_getcpu(), cpu);
}

/*
 * The kernel's node of every page under @ptrs[0..n) must be @node. Each page is read
 * first: move_pages(2) sees only pages mapped in this process, and a read maps the page
 * the daemon faulted in without allocating a new one.
 */
static void assert_on_node(void **ptrs, unsigned long n, int node, const char *what)
{
	int *status = calloc(n, sizeof(*status));
	unsigned long i;

	cr_assert_not_null(status);
	for (i = 0; i < n; i++)
		(void)*(volatile const char *)ptrs[i];
	cr_assert_eq(move_pages(0, n, ptrs, NULL, status, 0), 0, "move_pages: %s", strerror(errno));
	for (i = 0; i < n; i++)
		cr_assert_eq(status[i], node, "%s: page %lu of %lu (%p) is on node %d, not %d", what, i, n, ptrs[i],
			     status[i], node);
	free(status);
}

/* Every 4 KiB page of zone @z, checked with move_pages. Returns the number of pages. */
static unsigned long assert_zone_on_node(uint32_t z, int node)
{
	const struct slabd_shm_super *sb = super();
	const struct slabd_shm_zone *zones = (const void *)((const char *)sb + sb->zone_table_off);
	char *start = (char *)sb + zones[z].off;
	unsigned long n = zones[z].size / 4096, i;
	void **pages = calloc(n, sizeof(*pages));
	char what[64];

	cr_assert_not_null(pages);
	for (i = 0; i < n; i++)
		pages[i] = start + i * 4096;
	snprintf(what, sizeof(what), "zone %u", z);
	assert_on_node(pages, n, node, what);
	free(pages);
	return n;
}

static void assert_both_zones_bound(void)
{
	const struct slabd_shm_super *sb = super();
	const char *base = (const char *)sb;
	const struct slabd_shm_cpu *cpus = (const void *)(base + sb->cpu_table_off);
	const struct slabd_shm_node *nodes = (const void *)(base + sb->node_table_off);
	int n;

	cr_assert_eq(sb->nr_nodes, 2, "slabd sees %u nodes", sb->nr_nodes);
	cr_assert_eq(sb->nr_cpus >= 2, 1);
	cr_assert_eq(cpus[0].node, 0);
	cr_assert_eq(cpus[1].node, 1);
	for (n = 0; n < 2; n++) {
		char line[96];

		cr_assert_eq(nodes[n].os_index, (uint32_t)n);
		cr_assert_eq(nodes[n].flags & SLABD_NODE_SIMULATED, 0, "node %d is simulated on a real machine", n);
		cr_assert(nodes[n].flags & SLABD_NODE_BOUND, "node %d's zone is not bound (flags %#x)", n,
			  nodes[n].flags);
		snprintf(line, sizeof(line), "MiB bound to node %d (verified with move_pages)", n);
		cr_assert(td_log_contains(&td, line), "the log lacks '%s'", line);
		assert_zone_on_node(nodes[n].zone, n);
	}
}

Test(vm_numa, the_daemon_sees_two_real_nodes_and_every_page_of_each_zone_is_on_its_node)
{
	assert_both_zones_bound();
	cr_assert(!td_log_contains(&td, "simulated node"), "a node was simulated on a real machine");
}

enum { N = 1000, LARGE = 12 };

Test(vm_numa, allocations_on_each_cpu_come_from_its_own_nodes_memory)
{
	static void *objs[N], *large[LARGE];
	int cpu, i;

	for (cpu = 0; cpu < 2; cpu++) {
		pin(cpu);
		for (i = 0; i < N; i++) {
			objs[i] = kmalloc(256, GFP_KERNEL);
			cr_assert_not_null(objs[i]);
			cr_assert_eq(slabd_virt_to_node(objs[i]), cpu);
			memset(objs[i], i, 256);
		}
		for (i = 0; i < LARGE; i++) {
			large[i] = kmalloc(100000, GFP_KERNEL);
			cr_assert_not_null(large[i]);
			cr_assert_eq(slabd_virt_to_node(large[i]), cpu);
		}
		assert_on_node(objs, N, cpu, "kmalloc(256)");
		assert_on_node(large, LARGE, cpu, "kmalloc(100000)");
		for (i = 0; i < N; i++)
			kfree(objs[i]);
		for (i = 0; i < LARGE; i++)
			kfree(large[i]);
	}
}

Test(vm_numa, kmalloc_node_from_cpu_0_gets_node_1s_memory_with_and_without_thisnode)
{
	static void *a[N], *b[N], *c[200];
	struct kmem_cache *s;
	int i;

	pin(0);
	s = kmem_cache_create("vm-node-test", 200, 0, 0, NULL);
	cr_assert_not_null(s, "%s", slabd_last_error());
	for (i = 0; i < N; i++) {
		a[i] = kmalloc_node(128, GFP_KERNEL, 1);
		b[i] = kmalloc_node(128, GFP_KERNEL | __GFP_THISNODE, 1);
		cr_assert_not_null(a[i]);
		cr_assert_not_null(b[i]);
	}
	for (i = 0; i < 200; i++) {
		c[i] = kmem_cache_alloc_node(s, GFP_KERNEL, 1);
		cr_assert_not_null(c[i]);
	}
	assert_on_node(a, N, 1, "kmalloc_node(1)");
	assert_on_node(b, N, 1, "kmalloc_node(1, __GFP_THISNODE)");
	assert_on_node(c, 200, 1, "kmem_cache_alloc_node(1)");
	for (i = 0; i < N; i++) {
		kfree(a[i]);
		kfree(b[i]);
	}
	for (i = 0; i < 200; i++)
		kmem_cache_free(s, c[i]);
	kmem_cache_destroy(s);
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
		objs[n++] = p;
	}
	return n;
}

Test(vm_numa, thisnode_holds_on_a_full_node_and_without_it_the_other_real_node_serves)
{
	static void *objs[2048], *fb[8];
	int n, i;

	pin(1);
	n = exhaust_node(objs, 2048, 1);
	cr_assert_gt(n, 300, "node 1's 4 MiB zone held only %d objects of 4 KiB", n);
	cr_assert_null(kmalloc(4096, GFP_NOWAIT | __GFP_THISNODE));
	cr_assert_null(kmalloc_node(200000, GFP_KERNEL | __GFP_THISNODE | __GFP_NORETRY, 1), "large, THISNODE");
	n += exhaust_node(objs + n, 2048 - n, 1); /* what the daemon's reclaim found */
	assert_on_node(objs, (unsigned long)n, 1, "__GFP_THISNODE objects");

	fb[0] = kmalloc(4096, GFP_KERNEL | __GFP_NORETRY);
	fb[1] = kmalloc(4096, GFP_NOWAIT);
	fb[2] = kmalloc(4096, GFP_KERNEL);
	fb[3] = kmalloc_node(200000, GFP_KERNEL, 1);
	for (i = 0; i < 4; i++) {
		cr_assert_not_null(fb[i], "fallback %d returned NULL", i);
		cr_assert_eq(slabd_virt_to_node(fb[i]), 0, "fallback %d", i);
	}
	assert_on_node(fb, 4, 0, "fallback from node 1 to node 0");
	for (i = 0; i < 4; i++)
		kfree(fb[i]);
	for (i = 0; i < n; i++)
		kfree(objs[i]);
	fb[0] = kmalloc_node(4096, GFP_KERNEL | __GFP_THISNODE, 1);
	cr_assert_not_null(fb[0]);
	assert_on_node(fb, 1, 1, "node 1 again after the frees");
	kfree(fb[0]);
}

Test(vm_numa_hugetlb, per_node_hugepages_back_each_zone_on_its_own_node)
{
	struct slabd_attach_info ai;
	static void *objs[N];
	int cpu, i;

	cr_assert_eq(slabd_attach_info(&ai), 0);
	cr_assert_eq(ai.backing, SLABD_BACKING_HUGETLB_2M, "backing %u, not hugetlb-2M", ai.backing);
	cr_assert(td_log_contains(&td, "backing: hugetlb-2M"));
	/* Each zone took its pages from its own node's pool: 8 x 2 MiB on node 0, 2 on node 1. */
	cr_assert_eq(hp_free_before[0] - node_free_hugepages(0), 8, "node 0: %ld -> %ld free hugepages",
		     hp_free_before[0], node_free_hugepages(0));
	cr_assert_eq(hp_free_before[1] - node_free_hugepages(1), 2, "node 1: %ld -> %ld free hugepages",
		     hp_free_before[1], node_free_hugepages(1));
	assert_both_zones_bound();
	for (cpu = 0; cpu < 2; cpu++) {
		pin(cpu);
		for (i = 0; i < N; i++) {
			objs[i] = kmalloc(512, GFP_KERNEL);
			cr_assert_not_null(objs[i]);
		}
		assert_on_node(objs, N, cpu, "kmalloc(512) on hugepages");
		for (i = 0; i < N; i++)
			kfree(objs[i]);
	}
}

/* Set 2 MiB hugepages of @node (as root); the previous count, or -1. */
static long node_set_hugepages(int node, long n)
{
	char path[128];
	long prev = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/hugepages/hugepages-2048kB/nr_hugepages", node);
	f = fopen(path, "r+e");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &prev) != 1)
		prev = -1;
	rewind(f);
	fprintf(f, "%ld\n", n);
	fclose(f);
	return prev;
}

/*
 * Hugepages on node 0 only (enough for both zones in total): the zones are bound per
 * node, so hugetlb would fault node 1's zone with SIGBUS. With hugepages = auto slabd
 * must see the per-node shortage and fall back to 4 KiB pages; with hugepages = on it
 * must refuse to start with the reason, not crash.
 */
Test(vm_numa_hp, hugepages_on_one_node_only_mean_4k_pages_or_a_clear_refusal, .init = need_two_real_nodes,
     .fini = stop, .timeout = 240)
{
	static const char *const autos[] = { "hugepages=auto", "zone_size=8M", "dma_zone_size=0", NULL };
	static const char *const ons[] = { "hugepages=on", "zone_size=8M", "dma_zone_size=0", NULL };
	long prev0 = node_set_hugepages(0, 20), prev1 = node_set_hugepages(1, 0);
	void *p;

	cr_assert_geq(prev0, 0, "cannot set node 0's hugepages (root?)");
	cr_assert_eq(node_free_hugepages(1), 0);
	cr_assert_geq(node_free_hugepages(0), 8);
	start(autos);
	cr_assert(td_log_contains(&td, "node 1 has 0 free hugepages"), "no per-node shortage reported");
	cr_assert(td_log_contains(&td, "backing: shmem-4K"));
	pin(1);
	p = kmalloc(4096, GFP_KERNEL);
	cr_assert_not_null(p);
	cr_assert_eq(slabd_virt_to_node(p), 1);
	kfree(p);
	stop();
	td.pid = 0;

	cr_assert_neq(td_start(&td, ons), 0, "hugepages=on started without hugepages on node 1");
	cr_assert(td_log_contains(&td, "(not on every node)"), "the refusal does not say why");
	cr_assert(td_log_contains(&td, "cannot create the shared region"), "no clean failure: crashed?");
	td.pid = 0;
	node_set_hugepages(0, prev0);
	node_set_hugepages(1, prev1);
}
