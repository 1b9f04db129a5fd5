/* SPDX-License-Identifier: MIT */
/*
 * iova.c - the DMA zone's IO virtual addresses: one table entry per 4 KiB page, filled
 * once at start (the zone is locked, so they never change), read by clients in
 * slabd_virt_to_iova().
 *
 * Modes (config iova_mode; auto tries them in this order and logs the one it took):
 *   vfio  a VFIO type1 container: open the container, check the API version and the
 *         type1 extension, open the configured group, check it is viable, attach it,
 *         set the IOMMU type and map the whole zone at IOVAs slabd chooses (one
 *         contiguous range from SLABD_VFIO_IOVA_BASE). The container and group stay open
 *         for the daemon's life: closing them would unmap the zone. auto tries vfio only
 *         when vfio_group is set.
 *   pa    physical addresses from /proc/self/pagemap. The kernel shows PFNs only to
 *         CAP_SYS_ADMIN; zeros mean we lack it, which is an error, never a table of 0s.
 *   va    the daemon's virtual addresses (what a device behind an IOMMU in pass-through
 *         with a VA-mapped container would see; otherwise only good for testing).
 * An explicitly requested mode that cannot work fails the start with the reason.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "log.h"
#include "slabd_daemon.h"

#define SLABD_VFIO_IOVA_BASE (1ull << 32) /* above the 32-bit MSI window and legacy holes */

const char *iova_mode_name(uint32_t mode)
{
	switch (mode) {
	case SLABD_IOVA_VFIO:
		return "vfio";
	case SLABD_IOVA_PA:
		return "pa";
	case SLABD_IOVA_VA:
		return "va";
	default:
		return "none";
	}
}

static void iova_fill_va(struct slabd *d, const struct slabd_shm_zone *zt)
{
	uint32_t i;

	for (i = 0; i < zt->nr_pages; i++)
		d->iova[i] = (uint64_t)(uintptr_t)(d->base + zt->off) + ((uint64_t)i << SLABD_PAGE_SHIFT);
}

/* Physical addresses from pagemap. 0 or -errno; *ret_why says what went wrong. */
static int iova_fill_pa(struct slabd *d, const struct slabd_shm_zone *zt, char *why, size_t whylen)
{
	uint64_t va = (uint64_t)(uintptr_t)(d->base + zt->off), *ent;
	uint32_t i, n = zt->nr_pages;
	ssize_t got;
	int fd, err = 0;

	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		snprintf(why, whylen, "/proc/self/pagemap: %s", strerror(err));
		return -err;
	}
	ent = malloc((size_t)n * sizeof(*ent));
	if (!ent) {
		close(fd);
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	got = pread(fd, ent, (size_t)n * sizeof(*ent), (off_t)((va >> SLABD_PAGE_SHIFT) * sizeof(*ent)));
	if (got != (ssize_t)((size_t)n * sizeof(*ent))) {
		err = got < 0 ? errno : EIO;
		snprintf(why, whylen, "reading /proc/self/pagemap: %s", got < 0 ? strerror(err) : "short read");
		goto out;
	}
	for (i = 0; i < n; i++) {
		uint64_t pfn = ent[i] & ((1ull << 55) - 1);
		if (!(ent[i] & (1ull << 63))) {
			err = EFAULT;
			snprintf(why, whylen, "page %u of the zone is not present although locked", i);
			goto out;
		}
		if (!pfn) {
			err = EPERM;
			snprintf(why, whylen, "/proc/self/pagemap shows no page frame numbers: reading physical "
				 "addresses needs CAP_SYS_ADMIN (run slabd as root, or use iova_mode = vfio or va)");
			goto out;
		}
		d->iova[i] = pfn << SLABD_PAGE_SHIFT;
	}
out:
	free(ent);
	close(fd);
	return -err;
}

void iova_teardown(struct slabd *d)
{
	/* Unmap the DMA zone before letting the container go (closing it would too, but an
	 * explicit unmap says so in the log when the IOMMU refuses). */
	if (d->vfio_container_fd >= 0 && d->dma_zone != SLABD_NO_ZONE && d->iova &&
	    d->iova[0] == SLABD_VFIO_IOVA_BASE) {
		struct vfio_iommu_type1_dma_unmap unmap = { .argsz = sizeof(unmap) };
		unmap.iova = SLABD_VFIO_IOVA_BASE;
		unmap.size = d->zone_tab[d->dma_zone].size;
		if (ioctl(d->vfio_container_fd, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0)
			log_warn("VFIO_IOMMU_UNMAP_DMA of the DMA zone: %s", strerror(errno));
		else
			log_info("VFIO: the DMA zone unmapped from IOVA %#llx", (unsigned long long)SLABD_VFIO_IOVA_BASE);
	}
	if (d->vfio_group_fd >= 0)
		close(d->vfio_group_fd);
	if (d->vfio_container_fd >= 0)
		close(d->vfio_container_fd);
	d->vfio_group_fd = d->vfio_container_fd = -1;
}

/* VFIO type1: container, group, IOMMU, one mapping of the zone. 0 or -errno, with *why. */
static int iova_fill_vfio(struct slabd *d, const struct slabd_shm_zone *zt, char *why, size_t whylen)
{
	const char *gpath = d->cfg.vfio_group, *cpath = d->cfg.vfio_container;
	struct vfio_group_status st = { .argsz = sizeof(st) };
	struct vfio_iommu_type1_dma_map map = { .argsz = sizeof(map) };
	int type, v, err;
	uint32_t i;

	if (!*gpath) {
		snprintf(why, whylen, "no vfio_group configured (set vfio_group = N for /dev/vfio/N, the IOMMU "
			 "group of the device bound to vfio-pci)");
		return -EINVAL;
	}
	/* The group first: a missing group is the commonest mistake and names the fix. */
	d->vfio_group_fd = open(gpath, O_RDWR | O_CLOEXEC);
	if (d->vfio_group_fd < 0) {
		err = errno;
		snprintf(why, whylen, "%s: %s (%s)", gpath, strerror(err),
			 err == EBUSY ? "the group is open in another process: another slabd, or a DPDK or VFIO application"
				      : "bind the device to vfio-pci; its group is /sys/bus/pci/devices/<addr>/iommu_group");
		return -err;
	}
	d->vfio_container_fd = open(cpath, O_RDWR | O_CLOEXEC);
	if (d->vfio_container_fd < 0) {
		err = errno;
		snprintf(why, whylen, "%s: %s (load the vfio and vfio_iommu_type1 modules)", cpath, strerror(err));
		goto fail;
	}
	v = ioctl(d->vfio_container_fd, VFIO_GET_API_VERSION);
	if (v != VFIO_API_VERSION) {
		err = v < 0 ? errno : EPROTO;
		snprintf(why, whylen, "%s is not a VFIO container (VFIO_GET_API_VERSION: %s)", cpath,
			 v < 0 ? strerror(err) : "unknown version");
		goto fail;
	}
	type = VFIO_TYPE1v2_IOMMU;
	if (ioctl(d->vfio_container_fd, VFIO_CHECK_EXTENSION, type) <= 0) {
		type = VFIO_TYPE1_IOMMU;
		if (ioctl(d->vfio_container_fd, VFIO_CHECK_EXTENSION, type) <= 0) {
			err = ENOTSUP;
			snprintf(why, whylen, "%s: no type1 IOMMU support (load vfio_iommu_type1; is the IOMMU "
				 "enabled, intel_iommu=on / amd_iommu=on?)", cpath);
			goto fail;
		}
	}
	if (ioctl(d->vfio_group_fd, VFIO_GROUP_GET_STATUS, &st) < 0) {
		err = errno;
		snprintf(why, whylen, "%s is not a VFIO group (VFIO_GROUP_GET_STATUS: %s)", gpath, strerror(err));
		goto fail;
	}
	if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		err = EBUSY;
		snprintf(why, whylen, "%s is not viable: bind every device of the group to vfio-pci (or unbind it)",
			 gpath);
		goto fail;
	}
	if (!(st.flags & VFIO_GROUP_FLAGS_CONTAINER_SET) &&
	    ioctl(d->vfio_group_fd, VFIO_GROUP_SET_CONTAINER, &d->vfio_container_fd) < 0) {
		err = errno;
		snprintf(why, whylen, "%s: VFIO_GROUP_SET_CONTAINER: %s (is the group in use by another process?)",
			 gpath, strerror(err));
		goto fail;
	}
	if (ioctl(d->vfio_container_fd, VFIO_SET_IOMMU, type) < 0) {
		err = errno;
		snprintf(why, whylen, "%s: VFIO_SET_IOMMU: %s", cpath, strerror(err));
		goto fail;
	}
	map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
	map.vaddr = (uint64_t)(uintptr_t)(d->base + zt->off);
	map.iova = SLABD_VFIO_IOVA_BASE;
	map.size = zt->size;
	if (ioctl(d->vfio_container_fd, VFIO_IOMMU_MAP_DMA, &map) < 0) {
		err = errno;
		snprintf(why, whylen, "VFIO_IOMMU_MAP_DMA of %llu MiB at IOVA %#llx: %s%s",
			 (unsigned long long)(zt->size >> 20), (unsigned long long)map.iova, strerror(err),
			 err == ENOMEM ? " (raise the locked-memory limit)" : "");
		goto fail;
	}
	for (i = 0; i < zt->nr_pages; i++)
		d->iova[i] = SLABD_VFIO_IOVA_BASE + ((uint64_t)i << SLABD_PAGE_SHIFT);
	return 0;
fail:
	iova_teardown(d);
	return -err;
}

/* Physical addresses of locked 4 KiB pages are stable only if compaction leaves them
 * alone (hugetlb pages it does not move). Say so when it may not. */
static void warn_compaction(struct slabd *d)
{
	FILE *f;
	int v = 1;

	if (d->backing != SLABD_BACKING_SHMEM_4K)
		return;
	f = fopen("/proc/sys/vm/compact_unevictable_allowed", "re");
	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = 1;
		fclose(f);
	}
	if (v)
		log_warn("iova_mode=pa on 4 KiB pages: memory compaction may move locked pages and make their "
			 "physical addresses stale; reserve hugepages, or set vm.compact_unevictable_allowed = 0");
}

int iova_setup(struct slabd *d, uint32_t z)
{
	const struct slabd_shm_zone *zt = &d->zone_tab[z];
	int mode = d->cfg.iova_mode, r;
	char why[320] = "";

	if (mode == IOVA_MODE_VFIO || (mode == IOVA_MODE_AUTO && d->cfg.vfio_group[0])) {
		r = iova_fill_vfio(d, zt, why, sizeof(why));
		if (r == 0) {
			d->sb->iova_mode = SLABD_IOVA_VFIO;
			log_notice("IOVA mode: vfio (group %s, the DMA zone at IOVA %#llx)", d->cfg.vfio_group,
				   (unsigned long long)SLABD_VFIO_IOVA_BASE);
			return 0;
		}
		if (mode == IOVA_MODE_VFIO) {
			log_err("iova_mode=vfio: %s", why);
			return r;
		}
		log_warn("iova_mode=auto: vfio not usable (%s); trying pa", why);
	}
	if (mode == IOVA_MODE_PA || mode == IOVA_MODE_AUTO) {
		r = iova_fill_pa(d, zt, why, sizeof(why));
		if (r == 0) {
			warn_compaction(d);
			d->sb->iova_mode = SLABD_IOVA_PA;
			log_notice("IOVA mode: pa (physical addresses from /proc/self/pagemap%s)",
				   mode == IOVA_MODE_AUTO ? ", chosen by iova_mode=auto" : "");
			return 0;
		}
		if (mode == IOVA_MODE_PA) {
			log_err("iova_mode=pa: %s", why);
			return r;
		}
		log_warn("iova_mode=auto: pa not usable (%s); using va", why);
	}
	iova_fill_va(d, zt);
	d->sb->iova_mode = SLABD_IOVA_VA;
	log_notice("IOVA mode: va (IOVA = the daemon's virtual address%s)",
		   mode == IOVA_MODE_AUTO ? ", chosen by iova_mode=auto" : "");
	return 0;
}
