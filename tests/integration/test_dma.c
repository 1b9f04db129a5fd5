/* SPDX-License-Identifier: MIT */
/*
 * test_dma.c - the DMA zone: IOVAs (pa, va, vfio's failures), locking, GFP_DMA classes,
 * SLAB_CACHE_DMA caches, with and without hugepages.
 *
 * As root every test reads physical addresses from /proc/self/pagemap itself and compares
 * them with slabd_virt_to_iova() in pa mode. VFIO cannot be exercised here (no IOMMU, no
 * /dev/vfio): the tests prove each configuration mistake is refused with its reason.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "daemon_helper.h"

/* Physical address of @p from our own pagemap, 0 when unreadable (not root). */
static uint64_t phys_of(const void *p)
{
	uint64_t e = 0, va = (uint64_t)(uintptr_t)p;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	/* make sure the page is mapped in this process */
	(void)*(volatile const char *)p;
	if (pread(fd, &e, sizeof(e), (off_t)(va / 4096 * 8)) != sizeof(e))
		e = 0;
	close(fd);
	if (!(e & (1ull << 63)) || !(e & ((1ull << 55) - 1)))
		return 0;
	return ((e & ((1ull << 55) - 1)) << 12) | (va & 4095);
}

static long status_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			v = strtol(line + strlen(key) + 1, NULL, 10);
	fclose(f);
	return v;
}

static struct test_daemon td;

static void start(const char *const *sets)
{
	int r = td_start(&td, sets);
	if (r)
		td_dump_log(&td);
	cr_assert_eq(r, 0, "slabd did not start");
	cr_assert_eq(slabd_connect(td.sock), 0, "%s", slabd_last_error());
}

static void stop(void)
{
	cr_expect(td_alive(&td), "slabd died during the test");
	cr_expect_eq(td_stop(&td), 0);
}

/* Every sampled byte of @p .. + @len has IOVA == physical address. */
static void expect_iova_is_phys(const void *p, size_t len)
{
	size_t o;

	for (o = 0; o < len; o += len > 4096 ? 4096 : (len > 1 ? len - 1 : 1)) {
		uint64_t pa = phys_of((const char *)p + o);
		cr_assert_neq(pa, 0, "pagemap gave no PFN (not root?)");
		cr_assert_eq(slabd_virt_to_iova((const char *)p + o), pa, "%p+%zu: iova %#llx, physical %#llx", p, o,
			     (unsigned long long)slabd_virt_to_iova((const char *)p + o), (unsigned long long)pa);
	}
}

Test(dma, in_pa_mode_every_dma_object_iova_is_its_physical_address, .timeout = 60)
{
	static const char *const sets[] = { "zone_size=16M", "dma_zone_size=16M", "iova_mode=pa", NULL };
	static const size_t sizes[] = { 8, 96, 192, 512, 2048, 4096, 32768 };
	struct kmem_cache *s;
	void *v[64];
	size_t i, k;

	if (geteuid() != 0)
		cr_skip_test("not root: physical addresses are not readable");
	start(sets);
	cr_assert(td_log_contains(&td, "IOVA mode: pa"));
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		for (i = 0; i < 64; i++) {
			v[i] = kmalloc(sizes[k], GFP_KERNEL | GFP_DMA);
			cr_assert_not_null(v[i], "kmalloc(%zu, GFP_DMA): %s", sizes[k], strerror(errno));
			cr_assert_neq(slabd_virt_to_iova(v[i]), SLABD_BAD_IOVA);
			expect_iova_is_phys(v[i], sizes[k]);
		}
		for (i = 0; i < 64; i++)
			kfree(v[i]);
	}
	/* a page-level GFP_DMA allocation, byte by page */
	v[0] = kmalloc(256 << 10, GFP_KERNEL | GFP_DMA);
	cr_assert_not_null(v[0], "kmalloc(256k, GFP_DMA): %s", strerror(errno));
	expect_iova_is_phys(v[0], 256 << 10);
	kfree(v[0]);
	/* a SLAB_CACHE_DMA cache */
	s = kmem_cache_create("dma-test", 1500, 64, SLAB_CACHE_DMA, NULL);
	cr_assert_not_null(s, "%s", slabd_last_error());
	for (i = 0; i < 64; i++) {
		v[i] = kmem_cache_alloc(s, GFP_KERNEL);
		cr_assert_not_null(v[i]);
		expect_iova_is_phys(v[i], 1500);
	}
	for (i = 0; i < 64; i++)
		kmem_cache_free(s, v[i]);
	stop();
}

Test(dma, gfp_dma_memory_is_in_the_dma_zone_and_normal_memory_has_no_iova, .timeout = 60)
{
	static const char *const sets[] = { "zone_size=16M", "dma_zone_size=8M", NULL };
	void *n, *dm;
	int status;
	pid_t pid;

	start(sets);
	n = kmalloc(64, GFP_KERNEL);
	dm = kmalloc(64, GFP_KERNEL | GFP_DMA);
	cr_assert(n && dm);
	cr_expect_eq(slabd_virt_to_iova(n), SLABD_BAD_IOVA, "kmalloc-64 memory has an IOVA");
	cr_expect_eq(slabd_virt_to_iova(&status), SLABD_BAD_IOVA, "the stack has an IOVA");
	cr_expect_eq(slabd_virt_to_iova(NULL), SLABD_BAD_IOVA);
	cr_assert_neq(slabd_virt_to_iova(dm), SLABD_BAD_IOVA);
	cr_expect_eq(ksize(dm), 64);
	cr_assert_not_null(kmem_cache_lookup("dma-kmalloc-64"), "no dma-kmalloc-64 cache");
	cr_assert_not_null(kmem_cache_lookup("dma-kmalloc-32k"), "no dma-kmalloc-32k cache");
	/* __GFP_ZERO on the DMA path */
	memset(dm, 0xab, 64);
	kfree(dm);
	dm = kzalloc(64, GFP_KERNEL | GFP_DMA);
	cr_assert_not_null(dm);
	cr_expect_eq(((unsigned char *)dm)[63], 0);
	/* another process frees it, and sees the same IOVA */
	pid = fork();
	if (pid == 0) {
		if (slabd_virt_to_iova(dm) == SLABD_BAD_IOVA)
			_exit(1);
		kfree(dm);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	kfree(n);
	stop();
}

Test(dma, without_a_dma_zone_gfp_dma_fails_with_enodev, .timeout = 60)
{
	static const char *const sets[] = { "zone_size=16M", "dma_zone_size=0", NULL };

	start(sets);
	errno = 0;
	cr_expect_null(kmalloc(64, GFP_KERNEL | GFP_DMA));
	cr_expect_eq(errno, ENODEV);
	errno = 0;
	cr_expect_null(kmem_cache_create("dma-none", 100, 0, SLAB_CACHE_DMA, NULL));
	cr_expect_eq(errno, ENODEV, "errno %d", errno);
	cr_expect_null(kmem_cache_lookup("dma-kmalloc-64"));
	stop();
}

Test(dma, the_zone_is_locked_in_the_daemon, .timeout = 60)
{
	static const char *const sets[] = { "zone_size=16M", "dma_zone_size=32M", NULL };
	long lck;

	start(sets);
	lck = status_kb(td.pid, "VmLck:");
	cr_assert_geq(lck, 32 << 10, "the daemon has %ld KiB locked, the DMA zone is 32 MiB", lck);
	stop();
	/* and nothing is locked without a zone */
	{
		static const char *const none[] = { "zone_size=16M", "dma_zone_size=0", NULL };
		start(none);
		lck = status_kb(td.pid, "VmLck:");
		cr_expect_lt(lck, 32 << 10, "VmLck %ld KiB without a DMA zone", lck);
		stop();
	}
}

Test(dma, in_va_mode_the_iova_is_the_daemons_virtual_address, .timeout = 60)
{
	static const char *const sets[] = { "zone_size=16M", "dma_zone_size=8M", "iova_mode=va", NULL };
	struct slabd_attach_info ai;
	void *p;

	start(sets);
	cr_assert(td_log_contains(&td, "IOVA mode: va"));
	cr_assert_eq(slabd_attach_info(&ai), 0);
	cr_assert(ai.at_daemon_base);
	p = kmalloc(1000, GFP_KERNEL | GFP_DMA);
	cr_assert_not_null(p);
	cr_expect_eq(slabd_virt_to_iova(p), (uint64_t)(uintptr_t)p);
	cr_expect_eq(slabd_virt_to_iova((char *)p + 999), (uint64_t)(uintptr_t)p + 999);
	kfree(p);
	stop();
}

/* The NUMA node the kernel placed the page of @p on (move_pages(2) as a query), or -errno. */
static int page_node(const void *p)
{
	void *pages[1] = { (void *)((uintptr_t)p & ~(uintptr_t)4095) };
	int status[1] = { -1 };

	if (syscall(SYS_move_pages, 0, 1, pages, NULL, status, 0) < 0)
		return -errno;
	return status[0];
}

Test(dma, the_zone_is_bound_to_dma_node_and_its_pages_are_there, .timeout = 60)
{
	static const char *const sets[] = { "zone_size=16M", "dma_zone_size=8M", "dma_node=0", NULL };
	void *p;

	start(sets);
	/* this machine has node 0: bound and verified by the daemon, unless it has no NUMA
	 * support at all (then it says so) */
	cr_assert(td_log_contains(&td, "DMA zone bound to node 0 (verified with move_pages)") ||
			  td_log_contains(&td, "DMA zone on node 0, unbound"),
		  "the log says nothing about the DMA zone's node");
	p = kmalloc(1000, GFP_KERNEL | GFP_DMA);
	cr_assert_not_null(p);
	cr_expect_eq(slabd_virt_to_node(p), 0, "the DMA zone's node index");
	memset(p, 1, 1000); /* mapped in this process: move_pages sees the page */
	if (td_log_contains(&td, "DMA zone bound to node 0"))
		cr_expect_eq(page_node(p), 0, "a DMA object's page is on node %d", page_node(p));
	kfree(p);
	stop();
}

/* A daemon that must refuse to start, with @needle in its log. */
static void expect_refused(const char *const *sets, const char *needle)
{
	struct test_daemon t;

	cr_assert_neq(td_start(&t, sets), 0, "slabd started with %s", sets[2]);
	if (!td_log_contains(&t, needle))
		td_dump_log(&t);
	cr_assert(td_log_contains(&t, needle), "the log does not say '%s'", needle);
}

Test(vfio, vfio_without_a_group_is_refused_with_the_reason, .timeout = 60)
{
	static const char *const sets[] = { "zone_size=16M", "dma_zone_size=4M", "iova_mode=vfio", NULL };
	expect_refused(sets, "iova_mode=vfio: no vfio_group configured");
}

Test(vfio, a_missing_group_is_named_in_the_error, .timeout = 60)
{
	static const char *const sets[] = { "zone_size=16M", "dma_zone_size=4M", "iova_mode=vfio", "vfio_group=42",
					    NULL };
	expect_refused(sets, "iova_mode=vfio: /dev/vfio/42: No such file or directory");
}

/* A group path that exists (a plain file stands in for it) gets past the group check; a
 * missing container, and a container that is not one, are each refused by name. */
Test(vfio, a_missing_or_wrong_container_is_named_in_the_error, .timeout = 60)
{
	char group[] = "/tmp/slabd-fake-group-XXXXXX", gset[96];
	const char *sets[] = { "zone_size=16M", "dma_zone_size=4M", "iova_mode=vfio", gset,
			       "vfio_container=/nonexistent/vfio", NULL };
	int fd = mkstemp(group);

	cr_assert_geq(fd, 0);
	close(fd);
	snprintf(gset, sizeof(gset), "vfio_group=%s", group);
	expect_refused(sets, "/nonexistent/vfio: No such file or directory");
	sets[4] = "vfio_container=/dev/null";
	expect_refused(sets, "/dev/null is not a VFIO container");
	unlink(group);
}

Test(vfio, auto_falls_back_from_a_missing_group_and_says_which_mode_it_took, .timeout = 60)
{
	static const char *const sets[] = { "zone_size=16M", "dma_zone_size=4M", "iova_mode=auto", "vfio_group=42",
					    NULL };
	void *p;

	start(sets);
	cr_expect(td_log_contains(&td, "vfio not usable (/dev/vfio/42: No such file or directory"));
	cr_expect(td_log_contains(&td, geteuid() == 0 ? "IOVA mode: pa" : "IOVA mode: va"));
	p = kmalloc(100, GFP_KERNEL | GFP_DMA);
	cr_assert_not_null(p);
	if (geteuid() == 0)
		expect_iova_is_phys(p, 100);
	kfree(p);
	stop();
}

Test(vfio, bad_iova_settings_are_rejected_as_config_errors, .timeout = 60)
{
	static const char *const mode[] = { "zone_size=16M", "dma_zone_size=4M", "iova_mode=iommu", NULL };
	static const char *const group[] = { "zone_size=16M", "dma_zone_size=4M", "vfio_group=vfio/42", NULL };
	static const char *const size[] = { "zone_size=16M", "dma_zone_size=1M", "iova_mode=va", NULL };

	expect_refused(mode, "auto, vfio, pa or va");
	expect_refused(group, "/dev/vfio/42");
	expect_refused(size, "between 2M and 64G");
}

Test(dma, a_dma_node_the_machine_does_not_have_is_refused_with_the_reason, .timeout = 60)
{
	static const char *const absent[] = { "zone_size=16M", "dma_zone_size=4M", "dma_node=63", NULL };
	static const char *const bad[] = { "zone_size=16M", "dma_zone_size=4M", "dma_node=first", NULL };
	static const char *const big[] = { "zone_size=16M", "dma_zone_size=4M", "dma_node=64", NULL };

	expect_refused(absent, "this machine has no NUMA node 63");
	expect_refused(bad, "a NUMA node number");
	expect_refused(big, "a NUMA node number");
}

static long prev_hugepages = -1;

static void restore(void)
{
	td_hugepages_restore(prev_hugepages);
	prev_hugepages = -1;
}

Test(dma_hugepages, a_hugetlb_dma_zone_has_physical_iovas_contiguous_per_hugepage, .timeout = 120,
     .fini = restore)
{
	static const char *const sets[] = { "hugepages=on", "zone_size=8M", "dma_zone_size=16M", "iova_mode=pa",
					    NULL };
	struct slabd_attach_info ai;
	char *p;
	uint64_t base;
	size_t o;

	prev_hugepages = td_hugepages_reserve(20);
	if (prev_hugepages < 0 || geteuid() != 0)
		cr_skip_test("cannot reserve hugepages (not root?): hugetlb DMA zone not tested");
	if (td_hugepages_free() < 16)
		cr_skip_test("the kernel found only %ld free hugepages: hugetlb DMA zone not tested",
			     td_hugepages_free());
	start(sets);
	cr_assert(td_log_contains(&td, "backing: hugetlb-2M"));
	cr_assert(td_log_contains(&td, "DMA zone, 16 MiB, locked"));
	cr_assert_eq(slabd_attach_info(&ai), 0);
	cr_assert_eq(ai.backing, 2);
	/* a 1 MiB allocation in a 2 MiB page is physically contiguous */
	p = kmalloc(1 << 20, GFP_KERNEL | GFP_DMA);
	cr_assert_not_null(p, "%s", strerror(errno));
	base = slabd_virt_to_iova(p);
	for (o = 0; o < (1 << 20); o += 4096) {
		uint64_t want = (((uint64_t)(uintptr_t)(p + o) & ~((2ull << 20) - 1)) ==
				 ((uint64_t)(uintptr_t)p & ~((2ull << 20) - 1)))
					? base + o
					: slabd_virt_to_iova(p + o);
		cr_assert_eq(slabd_virt_to_iova(p + o), want, "not contiguous inside a hugepage at +%zu", o);
		cr_assert_eq(slabd_virt_to_iova(p + o), phys_of(p + o), "iova != physical at +%zu", o);
	}
	kfree(p);
	/* no VmLck check here: the kernel neither marks nor counts hugetlb VMAs as locked
	 * (hugetlb pages are never swapped or migrated by reclaim anyway) */
	stop();
}

/* Run @sets in a child whose bounding set lacks CAP_SYS_ADMIN (so the daemon it starts
 * has no such capability, as a daemon not run as root): 0 when the daemon's start matched
 * @should_start and its log has @needle. */
static int without_sys_admin(const char *const *sets, int should_start, const char *needle)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		struct test_daemon t;
		int up;

		if (prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0) < 0)
			_exit(10);
		up = td_start(&t, sets) == 0;
		if (up != should_start)
			_exit(11);
		if (!td_log_contains(&t, needle)) {
			td_dump_log(&t);
			_exit(12);
		}
		if (up)
			td_stop(&t);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

Test(dma, pa_mode_without_cap_sys_admin_is_refused_and_auto_falls_back_to_va, .timeout = 60)
{
	static const char *const pa[] = { "zone_size=16M", "dma_zone_size=4M", "iova_mode=pa", NULL };
	static const char *const aut[] = { "zone_size=16M", "dma_zone_size=4M", "iova_mode=auto", NULL };
	int r;

	if (geteuid() != 0)
		cr_skip_test("not root: cannot drop CAP_SYS_ADMIN from a bounding set that has it");
	r = without_sys_admin(pa, 0, "iova_mode=pa: /proc/self/pagemap shows no page frame numbers");
	cr_expect_eq(r, 0, "iova_mode=pa without CAP_SYS_ADMIN: child status %d (10: prctl, 11: start "
		     "outcome, 12: message)", r);
	r = without_sys_admin(aut, 1, "IOVA mode: va");
	cr_expect_eq(r, 0, "iova_mode=auto without CAP_SYS_ADMIN did not fall back to va: status %d", r);
}
