/* SPDX-License-Identifier: MIT */
/*
 * test_fast_abi.c - a tripwire on the inline fast path's ABI (<slabd/fast.h>).
 *
 * Code compiled against <slabd/fast.h> reads struct slabd_fast (exported by
 * libslabclient as slabd_fast_v2) at fixed offsets, and a handle's stacks pointer at
 * offset 8. A change to any of them breaks every binary built against the old header, so
 * it must come with a new symbol name (slabd_fast_v3, slabd_fast_guess_v3), and this test
 * with the new numbers.
 */
#include <stddef.h>
#include <stdint.h>

#include <criterion/criterion.h>

#include <slabd/slabd.h>

#define PIN(member, off)                                                                           \
	cr_expect_eq(offsetof(struct slabd_fast, member), (size_t)(off),                           \
		     "slabd_fast." #member " moved to %zu: rename the exported symbols (v3) and "  \
		     "update this test",                                                           \
		     offsetof(struct slabd_fast, member))

Test(fast_abi, struct_slabd_fast_v2_is_where_the_inline_code_reads_it)
{
	PIN(ncpus, 0);
	PIN(rseq_off, 8);
	PIN(base, 16);
	PIN(pcpu, 24);
	PIN(cache_stride, 32);
	PIN(zones, 40);
	PIN(zones_size, 48);
	PIN(pages, 56);
	PIN(handles, 64);
	PIN(size_index, 72);
	PIN(kstacks, 80);
	cr_expect_eq(SLABD_FAST_KSTACKS, 32);
	cr_expect_eq(SLABD_FAST_HANDLES_SIZE, 16384);
	cr_expect_eq(sizeof(struct slabd_fast), 80 + 32 * sizeof(char *));
	cr_expect_eq(offsetof(struct slabd_fast_handle, stacks), 8);
	cr_expect_eq(SLABD_FAST_PAGE_SHIFT, 12);
	cr_expect_eq(SLABD_FAST_PAGE_SLAB, 1u);
	cr_expect_eq(SLABD_RSEQ_SIGNATURE, 0x53053053);
}

/* Every kmalloc cache a constant size can name has a kstacks entry. */
Test(fast_abi, every_kmalloc_index_has_a_kstacks_entry)
{
	cr_expect_lt(kmalloc_index(KMALLOC_MAX_SIZE), SLABD_FAST_KSTACKS);
	cr_expect_lt(kmalloc_index(32768), SLABD_FAST_KSTACKS);
}

/* The library fills kstacks at attach: not attached here, so every entry is still NULL and
 * ncpus 0 (every inline sequence fails its CPU check and calls the library). */
Test(fast_abi, before_attach_the_inline_path_is_off)
{
	unsigned int k;

	cr_expect_eq(slabd_fast_v2.ncpus, 0u);
	for (k = 0; k < SLABD_FAST_KSTACKS; k++)
		cr_expect_null(slabd_fast_v2.kstacks[k]);
}

/* GCC bug 113921 (asm goto with outputs) is fixed in GCC 11.5, 12.4, 13.3 and 14; on an
 * earlier GCC the sequences with an output must be the plain-asm form (<slabd/fast.h>,
 * SLABD_ASM_GOTO_OUTPUTS), and on a fixed one asm goto. Debian 12's GCC 12.2 is broken. */
Test(fast_abi, only_a_gcc_without_the_asm_goto_output_bug_gets_asm_goto_with_outputs)
{
#if defined(__GNUC__) && !defined(__clang__)
	int broken = __GNUC__ < 11 || (__GNUC__ == 11 && __GNUC_MINOR__ < 5) ||
		     (__GNUC__ == 12 && __GNUC_MINOR__ < 4) || (__GNUC__ == 13 && __GNUC_MINOR__ < 3);

	cr_assert_eq(SLABD_ASM_GOTO_OUTPUTS, !broken, "GCC %d.%d: SLABD_ASM_GOTO_OUTPUTS is %d", __GNUC__,
		     __GNUC_MINOR__, SLABD_ASM_GOTO_OUTPUTS);
#else
	cr_skip_test("not GCC");
#endif
}
