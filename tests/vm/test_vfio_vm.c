/* SPDX-License-Identifier: MIT */
/*
 * test_vfio_vm.c - the VM gives the DMA zone's VFIO mode what it needs: an IOMMU, a VFIO
 * type1 container, and an e1000e NIC bound to vfio-pci in a group of its own. This test
 * does by hand what slabd's `iova_mode = vfio` will do (open the container and the NIC's
 * group, map memory at IOVAs of its choosing, unmap), so a failure here says the harness,
 * not slabd, is at fault.
 *
 * The guest of tests/vm/run-in-vm.sh exports SLABD_VM_VFIO_GROUP and SLABD_VM_NIC; without
 * them (not in the VM) every test skips.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *group_num, *nic;
static char group_path[64];

static void need_vm(void)
{
	group_num = getenv("SLABD_VM_VFIO_GROUP");
	nic = getenv("SLABD_VM_NIC");
	if (!group_num || !nic)
		cr_skip_test("SLABD_VM_VFIO_GROUP/SLABD_VM_NIC unset: run it with tests/vm/run-in-vm.sh");
	snprintf(group_path, sizeof(group_path), "/dev/vfio/%s", group_num);
}

TestSuite(vm_vfio, .init = need_vm, .timeout = 60);

/* Read a sysfs link's last component for the NIC, e.g. "driver" -> "vfio-pci". */
static void nic_link(const char *what, char *ret, size_t len)
{
	char path[256], target[64];
	ssize_t n;
	const char *slash;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", nic, what);
	n = readlink(path, target, sizeof(target) - 1);
	cr_assert_gt(n, 0, "%s: %s", path, strerror(errno));
	target[n] = 0;
	slash = strrchr(target, '/');
	snprintf(ret, len, "%s", slash ? slash + 1 : target);
}

Test(vm_vfio, the_nic_is_bound_to_vfio_pci_and_both_device_nodes_exist)
{
	char driver[64], group[64];
	struct stat st;

	nic_link("driver", driver, sizeof(driver));
	cr_assert_str_eq(driver, "vfio-pci");
	nic_link("iommu_group", group, sizeof(group));
	cr_assert_str_eq(group, group_num);
	cr_assert_eq(stat("/dev/vfio/vfio", &st), 0, "/dev/vfio/vfio: %s", strerror(errno));
	cr_assert(S_ISCHR(st.st_mode));
	cr_assert_eq(stat(group_path, &st), 0, "%s: %s", group_path, strerror(errno));
	cr_assert(S_ISCHR(st.st_mode));
	cr_assert_eq(access("/sys/class/iommu/dmar0", F_OK), 0, "no Intel IOMMU (dmar0) in the guest");
}

struct vfio {
	int container, group, device;
};

static void vfio_open(struct vfio *v)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };

	v->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	cr_assert_geq(v->container, 0, "/dev/vfio/vfio: %s", strerror(errno));
	cr_assert_eq(ioctl(v->container, VFIO_GET_API_VERSION), VFIO_API_VERSION);
	cr_assert_gt(ioctl(v->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU), 0, "no type1v2 IOMMU");
	v->group = open(group_path, O_RDWR | O_CLOEXEC);
	cr_assert_geq(v->group, 0, "%s: %s", group_path, strerror(errno));
	cr_assert_eq(ioctl(v->group, VFIO_GROUP_GET_STATUS, &status), 0);
	cr_assert(status.flags & VFIO_GROUP_FLAGS_VIABLE, "group %s is not viable: a device in it has another driver",
		  group_num);
	cr_assert_eq(ioctl(v->group, VFIO_GROUP_SET_CONTAINER, &v->container), 0, "%s", strerror(errno));
	cr_assert_eq(ioctl(v->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0, "%s", strerror(errno));
	v->device = -1;
}

static void vfio_close(struct vfio *v)
{
	if (v->device >= 0)
		close(v->device);
	close(v->group);
	close(v->container);
}

Test(vm_vfio, the_nics_config_space_reads_through_its_vfio_device)
{
	struct vfio v;
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_region_info reg = { .argsz = sizeof(reg), .index = VFIO_PCI_CONFIG_REGION_INDEX };
	uint16_t ids[2];

	vfio_open(&v);
	v.device = ioctl(v.group, VFIO_GROUP_GET_DEVICE_FD, nic);
	cr_assert_geq(v.device, 0, "VFIO_GROUP_GET_DEVICE_FD %s: %s", nic, strerror(errno));
	cr_assert_eq(ioctl(v.device, VFIO_DEVICE_GET_INFO, &info), 0);
	cr_assert(info.flags & VFIO_DEVICE_FLAGS_PCI);
	cr_assert_gt(info.num_regions, VFIO_PCI_CONFIG_REGION_INDEX);
	cr_assert_eq(ioctl(v.device, VFIO_DEVICE_GET_REGION_INFO, &reg), 0);
	cr_assert_eq(pread(v.device, ids, sizeof(ids), (off_t)reg.offset), (ssize_t)sizeof(ids));
	cr_assert_eq(ids[0], 0x8086, "vendor %#x", ids[0]);
	cr_assert_eq(ids[1], 0x10d3, "device %#x (e1000e 82574L)", ids[1]);
	vfio_close(&v);
}

Test(vm_vfio, memory_maps_at_an_iova_of_our_choosing_and_unmaps)
{
	enum { SIZE = 2 << 20 };
	const uint64_t iova = 0x40000000ull;
	struct vfio v;
	struct vfio_iommu_type1_info info = { .argsz = sizeof(info) };
	struct vfio_iommu_type1_dma_map map = { .argsz = sizeof(map) };
	struct vfio_iommu_type1_dma_unmap unmap = { .argsz = sizeof(unmap) };
	void *buf;

	vfio_open(&v);
	cr_assert_eq(ioctl(v.container, VFIO_IOMMU_GET_INFO, &info), 0);
	cr_assert(info.iova_pgsizes & 4096, "the IOMMU does not map 4 KiB pages (%#llx)",
		  (unsigned long long)info.iova_pgsizes);
	buf = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(buf, MAP_FAILED);
	memset(buf, 0x5a, SIZE);
	map.vaddr = (uint64_t)(uintptr_t)buf;
	map.iova = iova;
	map.size = SIZE;
	map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
	cr_assert_eq(ioctl(v.container, VFIO_IOMMU_MAP_DMA, &map), 0, "VFIO_IOMMU_MAP_DMA: %s", strerror(errno));
	/* The same IOVA range again is refused: the IOMMU really holds the first mapping. */
	cr_assert_eq(ioctl(v.container, VFIO_IOMMU_MAP_DMA, &map), -1);
	cr_assert_eq(errno, EEXIST, "mapping twice: %s", strerror(errno));
	unmap.iova = iova;
	unmap.size = SIZE;
	cr_assert_eq(ioctl(v.container, VFIO_IOMMU_UNMAP_DMA, &unmap), 0, "%s", strerror(errno));
	cr_assert_eq(unmap.size, SIZE, "unmapped %llu bytes", (unsigned long long)unmap.size);
	vfio_close(&v);
	munmap(buf, SIZE);
}

Test(vm_vfio, a_group_in_use_cannot_be_opened_twice)
{
	struct vfio v;
	int again;

	vfio_open(&v);
	again = open(group_path, O_RDWR | O_CLOEXEC);
	cr_assert_eq(again, -1, "a second open of group %s succeeded", group_num);
	cr_assert_eq(errno, EBUSY, "%s", strerror(errno));
	vfio_close(&v);
}
