/* SPDX-License-Identifier: MIT */
/*
 * test_nic_vm.c - a device really does DMA to slabd's packet buffers, by their IOVAs.
 *
 * The VM of tests/vm/run-in-vm.sh has two e1000e NICs joined by a qemu network hub, both
 * bound to vfio-pci behind intel-iommu. This test is a minimal user-space driver for
 * them (one legacy TX ring on the first, one legacy RX ring on the second, polled, no
 * interrupts): it takes packet buffers from a slabd pool in the DMA zone, writes frames
 * into them, hands the first NIC their IOVAs (slabd_pktbuf_data_iova) to send, lets the
 * second NIC receive into other buffers of the pool by their IOVAs, and checks every
 * byte that arrived. The descriptor rings themselves are GFP_DMA kmalloc objects.
 *
 * The container is the test's own: slabd holds its own VFIO group only in iova_mode =
 * vfio, and a group can be open in one process only, so here the daemon runs in va and
 * in pa mode and the driver maps every page it gives the NICs at the IOVA slabd's table
 * says (the virtual address, or the physical address from pagemap). With the IOMMU on,
 * a wrong IOVA in slabd's table is a DMA fault and no frame arrives.
 *
 * Outside the VM (SLABD_VM_NIC2 unset) every test skips.
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
#include <time.h>
#include <unistd.h>

#include <slabd/kmalloc.h>
#include <slabd/pktbuf.h>
#include <slabd/slabd.h>

#include "daemon_helper.h"

/* e1000e (82574) registers and bits used here. */
#define E1K_CTRL 0x0000
#define E1K_CTRL_SLU (1u << 6)
#define E1K_CTRL_RST (1u << 26)
#define E1K_STATUS 0x0008
#define E1K_STATUS_LU (1u << 1)
#define E1K_IMC 0x00d8
#define E1K_RCTL 0x0100
#define E1K_RCTL_EN (1u << 1)
#define E1K_RCTL_UPE (1u << 3)
#define E1K_RCTL_MPE (1u << 4)
#define E1K_RCTL_BAM (1u << 15)
#define E1K_RCTL_SECRC (1u << 26) /* strip the CRC: the length is the frame's */
#define E1K_TCTL 0x0400
#define E1K_TCTL_EN (1u << 1)
#define E1K_TCTL_PSP (1u << 3)
#define E1K_RDBAL 0x2800
#define E1K_RDBAH 0x2804
#define E1K_RDLEN 0x2808
#define E1K_RDH 0x2810
#define E1K_RDT 0x2818
#define E1K_TDBAL 0x3800
#define E1K_TDBAH 0x3804
#define E1K_TDLEN 0x3808
#define E1K_TDH 0x3810
#define E1K_TDT 0x3818

struct e1k_tx_desc { /* legacy */
	uint64_t addr;
	uint16_t length;
	uint8_t cso, cmd, status, css;
	uint16_t special;
};
#define E1K_TXD_EOP 0x01
#define E1K_TXD_IFCS 0x02
#define E1K_TXD_RS 0x08
#define E1K_DD 0x01

struct e1k_rx_desc { /* legacy */
	uint64_t addr;
	uint16_t length, csum;
	uint8_t status, errors;
	uint16_t special;
};
#define E1K_RXD_EOP 0x02

enum { RING = 32, FRAMES = 64, ROOM = 2048 };

struct nic {
	int group, dev;
	uint64_t bar0, cfg; /* region offsets in the device fd */
};

static struct test_daemon td;
static int container = -1;
static uint64_t mapped[512];
static unsigned int nr_mapped;

static void reg_write(struct nic *n, uint32_t reg, uint32_t v)
{
	cr_assert_eq(pwrite(n->dev, &v, 4, (off_t)(n->bar0 + reg)), 4, "BAR0 write %#x: %s", reg, strerror(errno));
}

static uint32_t reg_read(struct nic *n, uint32_t reg)
{
	uint32_t v = 0;

	cr_assert_eq(pread(n->dev, &v, 4, (off_t)(n->bar0 + reg)), 4, "BAR0 read %#x: %s", reg, strerror(errno));
	return v;
}

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* The NIC's group into the container (before the container's IOMMU type is set). */
static void nic_group(struct nic *n, const char *group_num)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	char path[64];

	snprintf(path, sizeof(path), "/dev/vfio/%s", group_num);
	n->group = open(path, O_RDWR);
	cr_assert_geq(n->group, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(ioctl(n->group, VFIO_GROUP_GET_STATUS, &st), 0);
	cr_assert(st.flags & VFIO_GROUP_FLAGS_VIABLE, "group %s is not viable", group_num);
	cr_assert_eq(ioctl(n->group, VFIO_GROUP_SET_CONTAINER, &container), 0, "%s", strerror(errno));
}

/* The NIC's device fd (the container has its IOMMU by now), BAR0 and config regions. */
static void nic_open(struct nic *n, const char *pci)
{
	struct vfio_region_info bar = { .argsz = sizeof(bar), .index = VFIO_PCI_BAR0_REGION_INDEX };
	struct vfio_region_info cfg = { .argsz = sizeof(cfg), .index = VFIO_PCI_CONFIG_REGION_INDEX };
	uint16_t cmd;

	n->dev = ioctl(n->group, VFIO_GROUP_GET_DEVICE_FD, pci);
	cr_assert_geq(n->dev, 0, "device %s: %s", pci, strerror(errno));
	cr_assert_eq(ioctl(n->dev, VFIO_DEVICE_GET_REGION_INFO, &bar), 0);
	cr_assert_eq(ioctl(n->dev, VFIO_DEVICE_GET_REGION_INFO, &cfg), 0);
	cr_assert_geq(bar.size, 0x4000u, "BAR0 of %s is too small", pci);
	n->bar0 = bar.offset;
	n->cfg = cfg.offset;
	/* memory decoding and bus mastering: without the latter the NIC does no DMA */
	cr_assert_eq(pread(n->dev, &cmd, 2, (off_t)(n->cfg + 4)), 2);
	cmd |= 0x6;
	cr_assert_eq(pwrite(n->dev, &cmd, 2, (off_t)(n->cfg + 4)), 2);
}

static void nic_reset(struct nic *n)
{
	int i;

	reg_write(n, E1K_IMC, ~0u);
	reg_write(n, E1K_CTRL, reg_read(n, E1K_CTRL) | E1K_CTRL_RST);
	for (i = 0; i < 1000 && (reg_read(n, E1K_CTRL) & E1K_CTRL_RST); i++)
		pause_ms(1);
	cr_assert_eq(reg_read(n, E1K_CTRL) & E1K_CTRL_RST, 0, "the NIC stays in reset");
	reg_write(n, E1K_IMC, ~0u);
	reg_write(n, E1K_CTRL, reg_read(n, E1K_CTRL) | E1K_CTRL_SLU);
	for (i = 0; i < 200 && !(reg_read(n, E1K_STATUS) & E1K_STATUS_LU); i++)
		pause_ms(50);
	cr_assert(reg_read(n, E1K_STATUS) & E1K_STATUS_LU, "no link after 10 s");
}

/* Map each 4 KiB page of [p, p + len) into the container at the IOVA slabd gives it. */
static void map_for_device(const void *p, size_t len)
{
	uint64_t page = (uint64_t)p & ~4095ull, end = (uint64_t)p + len;

	for (; page < end; page += 4096) {
		struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m) };
		unsigned int i;
		uint64_t iova = slabd_virt_to_iova((void *)page);

		for (i = 0; i < nr_mapped && mapped[i] != page; i++)
			;
		if (i < nr_mapped)
			continue;
		cr_assert_neq(iova, SLABD_BAD_IOVA, "page %#llx of DMA memory has no IOVA", (unsigned long long)page);
		m.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
		m.vaddr = page;
		m.iova = iova;
		m.size = 4096;
		cr_assert_eq(ioctl(container, VFIO_IOMMU_MAP_DMA, &m), 0, "MAP_DMA of %#llx at IOVA %#llx: %s",
			     (unsigned long long)page, (unsigned long long)iova, strerror(errno));
		cr_assert_lt(nr_mapped, sizeof(mapped) / sizeof(mapped[0]));
		mapped[nr_mapped++] = page;
	}
}

static void frame_fill(uint8_t *f, unsigned int len, unsigned int seq)
{
	static const uint8_t head[14] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5 };
	unsigned int i;

	memcpy(f, head, sizeof(head));
	for (i = sizeof(head); i < len; i++)
		f[i] = (uint8_t)(seq * 31 + i * 7);
}

/*
 * @control: the receive descriptors get IOVAs 1 GiB past the buffers', where nothing is
 * mapped: the frame must not reach the buffers (the IOMMU blocks the write), which shows
 * the positive runs' bytes travelled by the IOVAs and nothing else.
 */
static void run(const char *mode, int control)
{
	const char *g1 = getenv("SLABD_VM_VFIO_GROUP"), *g2 = getenv("SLABD_VM_VFIO_GROUP2");
	const char *pci1 = getenv("SLABD_VM_NIC"), *pci2 = getenv("SLABD_VM_NIC2");
	char mode_set[32];
	/* below 2^39: the address width of qemu's intel-iommu, which va mode's IOVAs must fit */
	const char *sets[] = { "zone_size=16M", "dma_zone_size=8M", "base_address=0x4000000000", mode_set, NULL };
	static const unsigned int lens[] = { 60, 64, 128, 333, 512, 1000, 1499, 1514 };
	struct slabd_pktbuf *tx[FRAMES], *rx[RING];
	struct e1k_tx_desc *tring;
	struct e1k_rx_desc *rring;
	struct slabd_pktpool *pool;
	struct nic a, b;
	unsigned int i, got = 0, rx_next = 0;
	char name[32];

	if (!g1 || !g2 || !pci1 || !pci2)
		cr_skip_test("SLABD_VM_NIC2 unset: run it with tests/vm/run-in-vm.sh (two NICs on a hub)");
	snprintf(mode_set, sizeof(mode_set), "iova_mode=%s", mode);
	if (td_start(&td, sets) != 0) {
		td_dump_log(&td);
		cr_assert_fail("slabd did not start in %s mode", mode);
	}
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
	snprintf(name, sizeof(name), "nic-%s", mode);
	pool = slabd_pktpool_create(name, FRAMES + RING + 8, ROOM, 0, -1);
	cr_assert_not_null(pool, "pool: %s (%s)", strerror(errno), slabd_last_error());

	container = open("/dev/vfio/vfio", O_RDWR);
	cr_assert_geq(container, 0, "/dev/vfio/vfio: %s", strerror(errno));
	cr_assert_eq(ioctl(container, VFIO_GET_API_VERSION), VFIO_API_VERSION);
	nic_group(&a, g1);
	nic_group(&b, g2);
	cr_assert_eq(ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0, "type1v2: %s", strerror(errno));
	nic_open(&a, pci1);
	nic_open(&b, pci2);
	nic_reset(&a);
	nic_reset(&b);

	/* rings: GFP_DMA objects, aligned to their power-of-two size */
	tring = kmalloc(RING * sizeof(*tring), GFP_KERNEL | GFP_DMA | __GFP_ZERO);
	rring = kmalloc(RING * sizeof(*rring), GFP_KERNEL | GFP_DMA | __GFP_ZERO);
	cr_assert(tring && rring, "GFP_DMA rings: %s", strerror(errno));
	map_for_device(tring, RING * sizeof(*tring));
	map_for_device(rring, RING * sizeof(*rring));

	/* NIC b receives into RING - 1 buffers of the pool */
	for (i = 0; i < RING; i++) {
		rx[i] = slabd_pktbuf_alloc(pool);
		cr_assert_not_null(rx[i]);
		cr_assert_geq(slabd_pktbuf_tailroom(rx[i]), ROOM);
		map_for_device(rx[i]->buf_addr, rx[i]->buf_len);
		memset(slabd_pktbuf_mtod(rx[i], void *), 0xee, ROOM);
		rring[i].addr = slabd_pktbuf_data_iova(rx[i]) + (control ? 1ull << 30 : 0);
	}
	reg_write(&b, E1K_RDBAL, (uint32_t)slabd_virt_to_iova(rring));
	reg_write(&b, E1K_RDBAH, (uint32_t)(slabd_virt_to_iova(rring) >> 32));
	reg_write(&b, E1K_RDLEN, RING * sizeof(*rring));
	reg_write(&b, E1K_RDH, 0);
	reg_write(&b, E1K_RDT, RING - 1);
	reg_write(&b, E1K_RCTL, E1K_RCTL_EN | E1K_RCTL_UPE | E1K_RCTL_MPE | E1K_RCTL_BAM | E1K_RCTL_SECRC);

	reg_write(&a, E1K_TDBAL, (uint32_t)slabd_virt_to_iova(tring));
	reg_write(&a, E1K_TDBAH, (uint32_t)(slabd_virt_to_iova(tring) >> 32));
	reg_write(&a, E1K_TDLEN, RING * sizeof(*tring));
	reg_write(&a, E1K_TDH, 0);
	reg_write(&a, E1K_TDT, 0);
	reg_write(&a, E1K_TCTL, E1K_TCTL_EN | E1K_TCTL_PSP | (0x10u << 4) | (0x40u << 12));

	for (i = 0; i < FRAMES; i++) {
		unsigned int len = lens[i % (sizeof(lens) / sizeof(lens[0]))], slot = i % RING, w;
		struct e1k_tx_desc *d = &tring[slot];

		tx[i] = slabd_pktbuf_alloc(pool);
		cr_assert_not_null(tx[i]);
		cr_assert_not_null(slabd_pktbuf_append(tx[i], (uint16_t)len));
		frame_fill(slabd_pktbuf_mtod(tx[i], uint8_t *), len, i);
		map_for_device(tx[i]->buf_addr, tx[i]->buf_len);
		d->addr = slabd_pktbuf_data_iova(tx[i]);
		d->length = (uint16_t)len;
		d->cmd = E1K_TXD_EOP | E1K_TXD_IFCS | E1K_TXD_RS;
		__atomic_store_n(&d->status, 0, __ATOMIC_RELEASE);
		reg_write(&a, E1K_TDT, (slot + 1) % RING);
		for (w = 0; w < 2000 && !(__atomic_load_n(&d->status, __ATOMIC_ACQUIRE) & E1K_DD); w++)
			pause_ms(5);
		cr_assert(d->status & E1K_DD, "frame %u (%u B): the NIC never reported it sent (TDH %u)", i, len,
			  reg_read(&a, E1K_TDH));
		if (control) {
			unsigned int j, k;

			pause_ms(1000);
			for (j = 0; j < RING; j++)
				for (k = 0; k < ROOM; k++)
					cr_assert_eq(slabd_pktbuf_mtod(rx[j], uint8_t *)[k], 0xee,
						     "a frame reached buffer %u through an unmapped IOVA", j);
			slabd_pktbuf_free(tx[i]);
			break;
		}

		/* what NIC b wrote into the next receive buffer */
		for (w = 0; w < 2000 && !(__atomic_load_n(&rring[rx_next].status, __ATOMIC_ACQUIRE) & E1K_DD); w++)
			pause_ms(5);
		cr_assert(rring[rx_next].status & E1K_DD, "frame %u (%u B) sent but never received (RDH %u)", i, len,
			  reg_read(&b, E1K_RDH));
		cr_assert(rring[rx_next].status & E1K_RXD_EOP);
		cr_assert_eq(rring[rx_next].errors, 0, "receive error %#x", rring[rx_next].errors);
		cr_assert_eq(rring[rx_next].length, len, "frame %u: %u bytes arrived, %u sent", i, rring[rx_next].length,
			     len);
		cr_assert_eq(memcmp(slabd_pktbuf_mtod(rx[rx_next], uint8_t *), slabd_pktbuf_mtod(tx[i], uint8_t *), len),
			     0, "frame %u: the bytes in the receive buffer differ from those sent", i);
		got++;
		slabd_pktbuf_free(tx[i]);
		/* the buffer back on the ring, as a driver recycles it */
		memset(slabd_pktbuf_mtod(rx[rx_next], void *), 0xee, len);
		rring[rx_next].status = 0;
		reg_write(&b, E1K_RDT, rx_next);
		rx_next = (rx_next + 1) % RING;
	}
	cr_assert_eq(got, control ? 0u : FRAMES);
	if (!control)
		fprintf(stderr, "nic (%s): %u frames sent from slabd packet buffers and received into others, %u pages mapped\n",
		mode, got, nr_mapped);

	reg_write(&a, E1K_TCTL, 0);
	reg_write(&b, E1K_RCTL, 0);
	nic_reset(&a);
	nic_reset(&b);
	for (i = 0; i < RING; i++)
		slabd_pktbuf_free(rx[i]);
	close(a.dev);
	close(b.dev);
	close(a.group);
	close(b.group);
	close(container); /* unmaps everything */
	kfree(tring);
	kfree(rring);
	cr_expect(td_alive(&td), "slabd died during the test");
	cr_expect_eq(td_stop(&td), 0);
}

TestSuite(vm_nic, .timeout = 200);

Test(vm_nic, frames_travel_between_two_nics_through_slabd_buffers_va_mode)
{
	run("va", 0);
}

Test(vm_nic, frames_travel_between_two_nics_through_slabd_buffers_pa_mode)
{
	run("pa", 0);
}

Test(vm_nic, nothing_arrives_through_an_iova_the_container_does_not_map)
{
	run("va", 1);
}
