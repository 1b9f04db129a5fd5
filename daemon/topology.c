/* SPDX-License-Identifier: MIT */
/*
 * topology.c - CPUs and NUMA nodes from hwloc.
 *
 * hwloc reads the machine, or the topology named by HWLOC_SYNTHETIC / HWLOC_XMLFILE, so
 * tests can describe machines with several nodes. The CPU table covers every CPU number
 * the kernel can report in rseq (the possible CPUs) and every PU of the topology; a real
 * CPU that a synthetic topology does not mention belongs to node 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <hwloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "slabd_daemon.h"

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
