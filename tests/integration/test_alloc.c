/* SPDX-License-Identifier: MIT */
/*
 * test_alloc.c - the kmalloc API against a real slabd: classes, alignment, ksize,
 * ZERO_SIZE_PTR, overflow checks, krealloc, large allocations, offsets, connect errors.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "daemon_helper.h"

static struct test_daemon td;

static void up(void)
{
	cr_assert_eq(td_start(&td, NULL), 0, "slabd did not start");
	cr_assert_eq(slabd_connect(td.sock), 0, "connect: %s", slabd_last_error());
}

static void down(void)
{
	cr_expect(td_alive(&td), "slabd died during the test");
	cr_expect_eq(td_stop(&td), 0, "slabd did not stop cleanly");
}

TestSuite(alloc, .init = up, .fini = down, .timeout = 60);

static const size_t classes[] = { 8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768 };

Test(alloc, every_class_gives_its_size_and_natural_alignment)
{
	size_t i;

	for (i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
		size_t sz = classes[i];
		void *p = kmalloc(sz, GFP_KERNEL);

		cr_assert_not_null(p, "kmalloc(%zu) failed: errno %d", sz, errno);
		cr_assert_eq(ksize(p), sz, "ksize of a %zu-byte class object is %zu", sz, ksize(p));
		if (!(sz & (sz - 1)))
			cr_assert_eq((uintptr_t)p % sz, 0, "%zu-byte object %p is not naturally aligned", sz, p);
		cr_assert_eq((uintptr_t)p % 8, 0);
		memset(p, 0xa5, sz);
		kfree(p);
	}
}

Test(alloc, sizes_round_up_to_the_kernel_classes)
{
	static const size_t req[][2] = { { 1, 8 },    { 9, 16 },    { 33, 64 },     { 65, 96 },    { 96, 96 },
					 { 97, 128 }, { 129, 192 }, { 193, 256 },   { 257, 512 },  { 4097, 8192 },
					 { 20000, 32768 } };
	size_t i;

	for (i = 0; i < sizeof(req) / sizeof(req[0]); i++) {
		void *p = kmalloc(req[i][0], GFP_KERNEL);
		cr_assert_not_null(p);
		cr_assert_eq(ksize(p), req[i][1], "kmalloc(%zu): ksize %zu, expected %zu", req[i][0], ksize(p),
			     req[i][1]);
		kfree(p);
	}
}

Test(alloc, every_runtime_size_up_to_64k_gets_the_kernel_class)
{
	volatile size_t launder;
	size_t sz;

	/* the library's runtime size map (a table, then clz) against kmalloc_index() */
	for (sz = 1; sz <= 65536; sz += sz < 2048 ? 1 : 61) {
		void *p;
		size_t want = sz <= 32768 ? kmalloc_size(kmalloc_index(sz)) : (sz + 4095) / 4096 * 4096;
		launder = sz;
		p = kmalloc(launder, GFP_KERNEL);
		cr_assert_not_null(p, "kmalloc(%zu)", sz);
		cr_assert_eq(ksize(p), want, "kmalloc(%zu): ksize %zu, expected %zu", sz, ksize(p), want);
		kfree(p);
	}
}

Test(alloc, zero_size_gives_zero_size_ptr_and_null_frees_are_noops)
{
	void *p = kmalloc(0, GFP_KERNEL);

	cr_assert_eq(p, ZERO_SIZE_PTR);
	kfree(p);
	kfree(NULL);
	cr_assert_eq(ksize(ZERO_SIZE_PTR), 0);
}

Test(alloc, kzalloc_and_kcalloc_zero_and_kcalloc_detects_overflow)
{
	unsigned char *p;
	size_t i;

	/* dirty an object, free it, and get it back zeroed */
	p = kmalloc(256, GFP_KERNEL);
	memset(p, 0xff, 256);
	kfree(p);
	p = kzalloc(256, GFP_KERNEL);
	cr_assert_not_null(p);
	for (i = 0; i < 256; i++)
		cr_assert_eq(p[i], 0, "kzalloc byte %zu is %#x", i, p[i]);
	kfree(p);
	p = kcalloc(10, 100, GFP_KERNEL);
	cr_assert_not_null(p);
	for (i = 0; i < 1000; i++)
		cr_assert_eq(p[i], 0);
	kfree(p);
	errno = 0;
	cr_assert_null(kcalloc(SIZE_MAX / 2, 3, GFP_KERNEL));
	cr_assert_null(kmalloc_array(SIZE_MAX / 8 + 1, 16, GFP_KERNEL));
}

Test(alloc, krealloc_keeps_contents_and_grows_across_classes)
{
	char *p = kmalloc(20, GFP_KERNEL), *q;
	int i;

	strcpy(p, "slabd krealloc test");
	q = krealloc(p, 24, GFP_KERNEL); /* fits in 32: same object */
	cr_assert_eq(q, p);
	q = krealloc(p, 5000, GFP_KERNEL);
	cr_assert_not_null(q);
	cr_assert_str_eq(q, "slabd krealloc test");
	cr_assert_eq(ksize(q), 8192);
	for (i = 0; i < 5000; i++)
		q[i] = (char)i;
	p = krealloc(q, 200000, GFP_KERNEL); /* into a page-level allocation */
	cr_assert_not_null(p);
	for (i = 0; i < 5000; i++)
		cr_assert_eq(p[i], (char)i);
	cr_assert_eq(krealloc(p, 0, GFP_KERNEL), ZERO_SIZE_PTR);
}

Test(alloc, large_allocations_are_page_rounded_and_reusable)
{
	void *p = kmalloc(100000, GFP_KERNEL), *q;

	cr_assert_not_null(p, "large kmalloc failed: errno %d", errno);
	cr_assert_eq(ksize(p), 102400, "ksize %zu", ksize(p));
	cr_assert_eq((uintptr_t)p % 4096, 0);
	memset(p, 1, 100000);
	q = kmalloc(1 << 20, GFP_KERNEL);
	cr_assert_not_null(q);
	cr_assert(((char *)q >= (char *)p + 102400) || ((char *)q + (1 << 20) <= (char *)p), "overlap");
	kfree(p);
	kfree(q);
	/* freeing is asynchronous (the daemon collects): allocating the whole zone's worth in
	 * pieces must still succeed, waiting for the frees where needed */
	for (int i = 0; i < 200; i++) {
		void *r = kmalloc(8 << 20, GFP_KERNEL);
		cr_assert_not_null(r, "round %d", i);
		kfree(r);
	}
}

/* ksize of a pointer inside an object or a large allocation, not at its start, gives the
 * size of the whole object or allocation, on every page of a large one as inside a slab
 * object (the kernel's ksize answers so too); a pointer of no object gives 0. */
Test(alloc, ksize_inside_an_object_or_a_large_allocation_gives_its_whole_size)
{
	char *o = kmalloc(40, GFP_KERNEL), *p = kmalloc(100000, GFP_KERNEL);
	size_t off[] = { 0, 1, 4095, 4096, 4097, 8192, 99999, 102399 };
	size_t i;

	cr_assert_not_null(o);
	cr_assert_not_null(p, "large kmalloc failed: errno %d", errno);
	cr_expect_eq(ksize(o + 1), 64, "ksize inside a kmalloc-64 object: %zu", ksize(o + 1));
	cr_expect_eq(ksize(o + 63), 64, "ksize of an object's last byte: %zu", ksize(o + 63));
	for (i = 0; i < sizeof(off) / sizeof(off[0]); i++)
		cr_expect_eq(ksize(p + off[i]), 102400, "ksize(p + %zu) = %zu, expected 102400", off[i],
			     ksize(p + off[i]));
	cr_expect_eq(ksize(&i), 0, "a pointer out of the region");
	kfree(o);
	kfree(p);
}

/* A page-level request that no zone could ever hold (larger than the zone, or than the
 * largest block its buddy allocator has: a power of two of pages) fails at once with
 * ENOMEM, as the kernel fails an order above MAX_ORDER; GFP_KERNEL used to wait for
 * frees that could never make room, for ever. The test daemon's zones are 64 MiB. */
Test(alloc, a_page_level_request_no_zone_can_hold_fails_at_once, .timeout = 30)
{
	static const size_t sizes[] = { (64u << 20) + 4096, 100u << 20, 1u << 30, (size_t)1 << 40 };
	volatile size_t launder;
	void *p;
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		launder = sizes[i];
		errno = 0;
		cr_assert_null(kmalloc(launder, GFP_KERNEL), "kmalloc(%zu) of a 64 MiB zone", sizes[i]);
		cr_assert_eq(errno, ENOMEM, "kmalloc(%zu): errno %d", sizes[i], errno);
		errno = 0;
		cr_assert_null(kmalloc(launder, GFP_KERNEL | GFP_DMA), "kmalloc(%zu, GFP_DMA) of a 64 MiB zone",
			       sizes[i]);
		cr_assert_eq(errno, ENOMEM, "kmalloc(%zu, GFP_DMA): errno %d", sizes[i], errno);
		errno = 0;
		cr_assert_null(kmalloc(launder, GFP_KERNEL | __GFP_NOFAIL), "kmalloc(%zu, __GFP_NOFAIL)", sizes[i]);
		cr_assert_eq(errno, ENOMEM);
	}
	/* what fits still works */
	p = kmalloc(32u << 20, GFP_KERNEL);
	cr_assert_not_null(p, "kmalloc(32 MiB): errno %d", errno);
	kfree(p);
}

static void up_96m(void)
{
	static const char *const sets[] = { "zone_size=96M", "dma_zone_size=0", NULL };

	cr_assert_eq(td_start(&td, sets), 0, "slabd did not start");
	cr_assert_eq(slabd_connect(td.sock), 0, "connect: %s", slabd_last_error());
}

/* A 96 MiB zone's largest block is 64 MiB: 80 MiB never fits, though the zone is larger. */
Test(alloc, a_page_level_request_above_the_largest_block_fails_at_once, .init = up_96m, .timeout = 30)
{
	volatile size_t launder = 80u << 20;
	void *p;

	errno = 0;
	cr_assert_null(kmalloc(launder, GFP_KERNEL), "80 MiB of a 96 MiB zone");
	cr_assert_eq(errno, ENOMEM, "errno %d", errno);
	p = kmalloc(48u << 20, GFP_KERNEL);
	cr_assert_not_null(p, "kmalloc(48 MiB) of a 96 MiB zone: errno %d", errno);
	kfree(p);
}

Test(alloc, offsets_round_trip_and_foreign_pointers_are_rejected)
{
	void *p = kmalloc(64, GFP_KERNEL);
	uint64_t off = slabd_ptr_to_off(p);
	int stack_var;

	cr_assert_neq(off, UINT64_MAX);
	cr_assert_eq(slabd_off_to_ptr(off), p);
	cr_assert_eq(slabd_ptr_to_off(&stack_var), UINT64_MAX);
	cr_assert_null(slabd_off_to_ptr(UINT64_MAX / 2));
	cr_assert_eq(slabd_virt_to_node(p), 0);
	cr_assert_eq(slabd_virt_to_node(&stack_var), -1);
	kfree(&stack_var); /* not ours: ignored, nothing corrupted */
	kfree(p);
}

Test(alloc, attach_maps_at_the_daemon_base)
{
	struct slabd_attach_info ai;

	cr_assert_eq(slabd_attach_info(&ai), 0);
	cr_assert(ai.at_daemon_base, "client mapped at %#llx, daemon at %#llx", (unsigned long long)ai.base,
		  (unsigned long long)ai.daemon_base);
	cr_assert_geq(ai.nr_cpus, 1);
	cr_assert_eq(ai.nr_nodes, 1);
}

Test(alloc, rseq_comes_from_glibc_unless_glibc_was_told_not_to)
{
	struct slabd_attach_info ai;
	const char *tun = getenv("GLIBC_TUNABLES");
	int glibc_off = tun && strstr(tun, "glibc.pthread.rseq=0");

	cr_assert_eq(slabd_attach_info(&ai), 0);
	cr_assert_eq(ai.rseq_by_library, glibc_off, "rseq_by_library %d with GLIBC_TUNABLES=%s",
		     ai.rseq_by_library, tun ? tun : "");
	cr_assert(ai.fast_path, "the per-CPU fast path is off: %s", slabd_last_error());
	/* and allocation works from a thread that never registered anything */
	{
		void *p = kmalloc(32, GFP_KERNEL);
		cr_assert_not_null(p);
		kfree(p);
	}
}

#ifdef SLABD_HAVE_INLINE
/* The inline kmalloc of a constant size takes its stacks from slabd_fast_v2.kstacks, which
 * the attach fills: each entry is that kmalloc cache's per-CPU stacks. */
Test(alloc, the_attach_fills_the_inline_kmalloc_stacks_table)
{
	const struct slabd_fast *f = &slabd_fast_v2;
	void *p = kmalloc(64, GFP_KERNEL); /* attached from here on */
	unsigned int k;

	cr_assert_not_null(p);
	kfree(p);
	cr_assert_gt(f->ncpus, 0u);
	for (k = 0; k < SLABD_FAST_KSTACKS; k++)
		cr_assert_eq(f->kstacks[k], f->pcpu + k * f->cache_stride, "kstacks[%u]", k);
}
#endif

/* The inline kfree guesses the cache of the previous kfree on this thread (<slabd/fast.h>,
 * slabd_fast_guess_v2): frees that alternate between caches, and a large allocation in
 * between, must each land on their own cache's stack. Each free is followed by an
 * allocation of the same class, which takes the top of this CPU's stack: the object just
 * freed (retried: a migration to another CPU in between legitimately gives another). */
Test(alloc, kfree_alternating_between_caches_returns_each_object_to_its_own)
{
	struct kmem_cache *named = kmem_cache_create("alternate-48", 48, 0, 0, NULL);
	int round, tries, ok = 0;

	cr_assert_not_null(named, "%s", slabd_last_error());
	for (tries = 0; tries < 20 && ok < 300; tries++) {
		for (ok = 0, round = 0; round < 300; round++) {
			void *a = kmalloc(64, GFP_KERNEL), *b = kmalloc(128, GFP_KERNEL);
			void *c = kmem_cache_alloc(named, GFP_KERNEL), *big = kmalloc(65536, GFP_KERNEL);
			void *a2, *b2, *c2;

			cr_assert(a && b && c && big);
			kfree(a);
			kfree(b); /* another cache than the guess */
			kfree(big); /* not a slab page */
			kfree(c); /* a named cache's object through kfree */
			c2 = kmem_cache_alloc(named, GFP_KERNEL);
			b2 = kmalloc(128, GFP_KERNEL);
			a2 = kmalloc(64, GFP_KERNEL);
			cr_assert_eq(ksize(a2), 64);
			cr_assert_eq(ksize(b2), 128);
			cr_assert_eq(ksize(c2), 48);
			ok += a2 == a && b2 == b && c2 == c;
			kfree(round & 1 ? a2 : b2);
			kfree(round & 1 ? b2 : a2);
			kmem_cache_free(named, c2);
		}
	}
	cr_assert_eq(ok, 300, "the objects freed came back from their own caches in only %d of 300 rounds", ok);
}

Test(alloc, many_objects_are_distinct_and_keep_their_contents)
{
	enum { N = 20000 };
	uint32_t **v = malloc(N * sizeof(*v));
	int i;

	for (i = 0; i < N; i++) {
		v[i] = kmalloc(48, GFP_KERNEL);
		cr_assert_not_null(v[i]);
		v[i][0] = (uint32_t)i;
		v[i][11] = ~(uint32_t)i;
	}
	for (i = 0; i < N; i++) {
		cr_assert_eq(v[i][0], (uint32_t)i, "object %d was overwritten", i);
		cr_assert_eq(v[i][11], ~(uint32_t)i);
		kfree(v[i]);
	}
	free(v);
}

Test(connect, wrong_socket_path_fails_with_a_message)
{
	int r = slabd_connect("/nonexistent/dir/slabd.sock");

	cr_assert_eq(r, -ENOENT, "got %d", r);
	cr_assert(strstr(slabd_last_error(), "/nonexistent/dir/slabd.sock") != NULL, "message: %s",
		  slabd_last_error());
	cr_assert(strstr(slabd_last_error(), "is slabd running") != NULL, "message: %s", slabd_last_error());
	errno = 0;
	cr_assert_null(kmalloc(64, GFP_KERNEL), "allocation without a daemon must fail");
}

/*
 * A kmem_cache_create that failed (no daemon) returns NULL, and a program that uses the
 * NULL anyway must get EINVAL, not a crash: the inline calls check the handle against
 * the library's table, whose address was published only at the first attach, so before
 * any attach a NULL handle passed the check and its stacks were read from address 8.
 */
Test(connect, a_null_cache_handle_before_any_attach_fails_with_einval)
{
	struct kmem_cache *c;
	void *v[2] = { NULL, NULL };

	cr_assert_eq(setenv("SLABD_SOCKET", "/nonexistent/dir/slabd.sock", 1), 0);
	c = kmem_cache_create("never-made", 64, 0, 0, NULL);
	cr_assert_null(c, "a cache without a daemon");
	errno = 0;
	cr_assert_null(kmem_cache_alloc(c, GFP_KERNEL));
	cr_assert_eq(errno, EINVAL, "kmem_cache_alloc(NULL): errno %d", errno);
	errno = 0;
	cr_assert_eq(kmem_cache_alloc_bulk(c, GFP_KERNEL, 2, v), 0);
	cr_assert_eq(errno, EINVAL, "kmem_cache_alloc_bulk(NULL): errno %d", errno);
	cr_assert_null(v[0]);
}

/*
 * A socket path longer than a sockaddr_un holds (107 bytes) is refused with ENAMETOOLONG
 * and a message, not cut to its first 107 bytes: those may name another daemon's socket
 * (here a symlink to a running one), which the process would then attach to.
 */
Test(connect, a_socket_path_too_long_for_a_unix_socket_is_refused_not_truncated, .timeout = 60)
{
	struct test_daemon t;
	char dir[] = "/tmp/slabd-longpath-XXXXXX", prefix[108], path[160];
	size_t pad;
	int r;

	cr_assert_eq(td_start(&t, NULL), 0);
	cr_assert_not_null(mkdtemp(dir));
	/* a symlink to the daemon's socket whose path is exactly 107 bytes */
	pad = sizeof(prefix) - 1 - strlen(dir) - 1;
	snprintf(prefix, sizeof(prefix), "%s/%0*d", dir, (int)pad, 0);
	cr_assert_eq(strlen(prefix), sizeof(prefix) - 1);
	cr_assert_eq(symlink(t.sock, prefix), 0, "symlink: %s", strerror(errno));
	/* the path asked for: that prefix and more; nothing exists there */
	snprintf(path, sizeof(path), "%s-another-daemon.sock", prefix);
	r = slabd_connect(path);
	unlink(prefix);
	rmdir(dir);
	cr_expect_eq(td_stop(&t), 0);
	cr_assert_eq(r, -ENAMETOOLONG, "slabd_connect of a %zu-byte path: %d (%s)", strlen(path), r,
		     slabd_last_error());
	cr_assert(strstr(slabd_last_error(), "longer than") != NULL, "message: %s", slabd_last_error());
}

Test(connect, implicit_connect_uses_SLABD_SOCKET, .timeout = 60)
{
	struct test_daemon t;
	void *p;

	cr_assert_eq(td_start(&t, NULL), 0);
	setenv("SLABD_SOCKET", t.sock, 1);
	p = kmalloc(128, GFP_KERNEL);
	cr_assert_not_null(p, "implicit connect failed: %s", slabd_last_error());
	kfree(p);
	cr_assert_eq(td_stop(&t), 0);
}
