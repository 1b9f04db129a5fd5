/* SPDX-License-Identifier: MIT */
/*
 * test_dma_vm.c - slabd's own `iova_mode = vfio` against a real VFIO group (the VM's
 * e1000e bound to vfio-pci behind intel-iommu): the daemon opens the container and the
 * group, maps the DMA zone with VFIO_IOMMU_MAP_DMA at IOVAs it chooses, and every DMA
 * object's IOVA is where that mapping puts it. Without the VM (SLABD_VM_VFIO_GROUP unset)
 * every test skips. What no test here can show: a device actually doing DMA to those
 * IOVAs (the e1000e is not driven).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>

#include <slabd/slabd.h>

#include "daemon_helper.h"

static struct test_daemon td;
static char group_set[64];

static void up(void)
{
	const char *group = getenv("SLABD_VM_VFIO_GROUP");
	const char *sets[] = { "zone_size=16M", "dma_zone_size=8M", "iova_mode=vfio", group_set, NULL };

	if (!group)
		cr_skip_test("SLABD_VM_VFIO_GROUP unset: run it with tests/vm/run-in-vm.sh");
	snprintf(group_set, sizeof(group_set), "vfio_group=%s", group);
	if (td_start(&td, sets) != 0) {
		td_dump_log(&td);
		cr_assert_fail("slabd did not start in vfio mode");
	}
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
}

static void down(void)
{
	if (!td.pid)
		return;
	cr_expect(td_alive(&td), "slabd died during the test");
	cr_expect_eq(td_stop(&td), 0);
}

TestSuite(vm_dma, .init = up, .fini = down, .timeout = 120);

Test(vm_dma, the_daemon_maps_the_dma_zone_in_its_vfio_container)
{
	cr_assert(td_log_contains(&td, "IOVA mode: vfio (group"), "the daemon did not report vfio mode");
}

Test(vm_dma, dma_objects_have_iovas_in_the_containers_linear_mapping)
{
	enum { N = 512 };
	static void *p[N];
	uint64_t lo = UINT64_MAX, hi = 0;
	int i;

	for (i = 0; i < N; i++) {
		uint64_t iova;

		p[i] = kmalloc(i % 2 ? 256 : 4096, GFP_KERNEL | GFP_DMA);
		cr_assert_not_null(p[i], "GFP_DMA allocation %d: %s", i, strerror(errno));
		iova = slabd_virt_to_iova(p[i]);
		cr_assert_neq(iova, SLABD_BAD_IOVA);
		/* slabd maps the zone from 4 GiB up, one linear range */
		cr_assert_geq(iova, 1ull << 32, "IOVA %#llx below the container's base", (unsigned long long)iova);
		cr_assert_lt(iova, (1ull << 32) + (8ull << 20));
		if (i)
			cr_assert_eq(iova - slabd_virt_to_iova(p[0]), (uint64_t)((char *)p[i] - (char *)p[0]),
				     "IOVAs are not the zone's offsets: the mapping is not linear");
		lo = iova < lo ? iova : lo;
		hi = iova > hi ? iova : hi;
	}
	cr_assert_gt(hi - lo, 4096, "all objects in one page: the check saw little");
	for (i = 0; i < N; i++)
		kfree(p[i]);
	cr_assert_eq(slabd_virt_to_iova(kmalloc(64, GFP_KERNEL)), SLABD_BAD_IOVA,
		     "a node-zone object has an IOVA");
}

Test(vm_dma, a_group_in_use_is_refused_with_the_reason_and_released_on_shutdown)
{
	struct test_daemon second;
	const char *sets[] = { "zone_size=16M", "dma_zone_size=8M", "iova_mode=vfio", group_set, NULL };

	/* the group is open in the first daemon: a second one must say so and not start */
	memset(&second, 0, sizeof(second));
	cr_assert_neq(td_start(&second, sets), 0, "a second daemon got the same VFIO group");
	cr_assert(td_log_contains(&second, "open in another process"), "the refusal does not say why");
	/* shutdown unmaps the zone and lets the group go: a new daemon gets it */
	{
		int st = 0;
		/* stopped by hand: td_stop removes the log of a clean stop */
		kill(td.pid, SIGTERM);
		cr_assert_eq(waitpid(td.pid, &st, 0), td.pid);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the daemon did not stop cleanly");
		td.pid = 0;
	}
	cr_assert(td_log_contains(&td, "VFIO: the DMA zone unmapped"), "no unmap at shutdown");
	memset(&second, 0, sizeof(second));
	cr_assert_eq(td_start(&second, sets), 0, "the group was not released by the first daemon");
	cr_assert(td_log_contains(&second, "IOVA mode: vfio (group"));
	cr_assert_eq(td_stop(&second), 0);
}
