/* SPDX-License-Identifier: MIT */
/*
 * topology.c - CPUs and NUMA nodes from hwloc.
 *
 * hwloc reads the machine, or the topology named by HWLOC_SYNTHETIC / HWLOC_XMLFILE, so
 * tests can describe machines with several nodes. The CPU table covers every CPU number
 * the kernel can report in rseq (the possible CPUs) and every PU of the topology; a real
 * CPU that a synthetic topology does not mention belongs to node 0.
 *
 * Node distances come from hwloc's distance matrices (the ACPI SLIT on a real machine, a
 * <distances2> element in an XML topology); without one, every other node counts as
 * equally far. Each node's fallback order (itself, then the others nearest first, ties
 * to the lower index) goes into the shared node table: clients follow it when a node
 * runs out of memory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <hwloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "slabd_daemon.h"

/* Fill t->dist from hwloc's first NUMA-node matrix, then each node's fallback order. */
static void topo_distances(struct topo *t, hwloc_topology_t topo)
{
	struct hwloc_distances_s *dm = NULL;
	unsigned int nr = 1, i, j, k;

	for (i = 0; i < t->nr_nodes; i++)
		for (j = 0; j < t->nr_nodes; j++)
			t->dist[i][j] = i == j ? 10 : 20;
	if (hwloc_distances_get_by_type(topo, HWLOC_OBJ_NUMANODE, &nr, &dm, 0, 0) == 0 && nr >= 1) {
		for (i = 0; i < dm->nbobjs; i++)
			for (j = 0; j < dm->nbobjs; j++) {
				unsigned int a = dm->objs[i]->logical_index, b = dm->objs[j]->logical_index;
				if (a < t->nr_nodes && b < t->nr_nodes)
					t->dist[a][b] = (uint32_t)dm->values[i * dm->nbobjs + j];
			}
		t->have_distances = 1;
		hwloc_distances_release(topo, dm);
	}
	for (i = 0; i < t->nr_nodes; i++) {
		uint8_t *o = t->order[i];
		for (j = 0; j < t->nr_nodes; j++)
			o[j] = (uint8_t)j;
		/* insertion sort: self first, then by distance, then by index */
		for (j = 1; j < t->nr_nodes; j++) {
			uint8_t v = o[j];
			for (k = j; k > 0; k--) {
				uint8_t u = o[k - 1];
				uint64_t ku = u == i ? 0 : ((uint64_t)t->dist[i][u] + 1) << 8 | u;
				uint64_t kv = v == i ? 0 : ((uint64_t)t->dist[i][v] + 1) << 8 | v;
				if (ku <= kv)
					break;
				o[k] = u;
			}
			o[k] = v;
		}
	}
	if (t->nr_nodes > 1) {
		for (i = 0; i < t->nr_nodes; i++) {
			char line[512];
			int len = 0;
			for (j = 1; j < t->nr_nodes && len < (int)sizeof(line) - 16; j++)
				len += snprintf(line + len, sizeof(line) - (size_t)len, " %d(%u)",
						t->node_os[t->order[i][j]], t->dist[i][t->order[i][j]]);
			log_info("node %d falls back to:%s%s", t->node_os[i], line,
				 t->have_distances ? "" : " (no distance matrix: all equally far)");
		}
	}
}

int topo_discover(struct topo *t)
{
	hwloc_topology_t topo;
	hwloc_obj_t obj = NULL;
	long nconf = sysconf(_SC_NPROCESSORS_CONF);
	uint32_t max_pu = 0, i;
	int n;

	memset(t, 0, sizeof(*t));
	if (hwloc_topology_init(&topo) < 0 || hwloc_topology_load(topo) < 0) {
		log_err("hwloc cannot read the topology (HWLOC_SYNTHETIC / HWLOC_XMLFILE valid?)");
		return -EINVAL;
	}
	t->simulated = !hwloc_topology_is_thissystem(topo);

	while ((obj = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_PU, obj)))
		if (obj->os_index + 1 > max_pu)
			max_pu = obj->os_index + 1;
	t->nr_cpus = nconf > 0 && (uint32_t)nconf > max_pu ? (uint32_t)nconf : max_pu;
	if (!t->nr_cpus)
		t->nr_cpus = 1;
	if (t->nr_cpus > SLABD_MAX_CPUS) {
		log_err("%u CPUs: more than slabd's limit of %u", t->nr_cpus, SLABD_MAX_CPUS);
		hwloc_topology_destroy(topo);
		return -E2BIG;
	}
	t->cpu_node = calloc(t->nr_cpus, sizeof(*t->cpu_node));
	t->cpu_real = calloc(t->nr_cpus, 1);
	if (!t->cpu_node || !t->cpu_real) {
		hwloc_topology_destroy(topo);
		topo_free(t);
		return -ENOMEM;
	}
	for (i = 0; i < t->nr_cpus && i < (uint32_t)(nconf > 0 ? nconf : 1); i++)
		t->cpu_real[i] = 1;

	n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
	if (n <= 0)
		n = 1;
	if (n > (int)SLABD_MAX_NODES) {
		log_err("%d NUMA nodes: more than slabd's limit of %u", n, SLABD_MAX_NODES);
		hwloc_topology_destroy(topo);
		topo_free(t);
		return -E2BIG;
	}
	t->nr_nodes = (uint32_t)n;
	for (i = 0; i < t->nr_nodes; i++) {
		hwloc_obj_t node = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, i);
		unsigned int cpu;

		t->node_os[i] = node ? (int)node->os_index : 0;
		if (!node || !node->cpuset)
			continue;
		hwloc_bitmap_foreach_begin(cpu, node->cpuset)
		{
			if (cpu < t->nr_cpus) {
				t->cpu_node[cpu] = (uint16_t)i;
				t->node_nr_cpus[i]++;
			}
		}
		hwloc_bitmap_foreach_end();
	}
	if (t->nr_nodes == 1)
		t->node_nr_cpus[0] = t->nr_cpus;
	topo_distances(t, topo);
	hwloc_topology_destroy(topo);
	log_info("topology: %u CPUs, %u NUMA node%s%s", t->nr_cpus, t->nr_nodes, t->nr_nodes == 1 ? "" : "s",
		 t->simulated ? " (simulated: not this machine's topology)" : "");
	return 0;
}

void topo_free(struct topo *t)
{
	free(t->cpu_node);
	free(t->cpu_real);
	t->cpu_node = NULL;
	t->cpu_real = NULL;
}
