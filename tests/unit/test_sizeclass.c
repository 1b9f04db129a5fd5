/* SPDX-License-Identifier: MIT */
/*
 * test_sizeclass.c - kmalloc_index() and kmalloc_size() from <slabd/kmalloc.h> against
 * an independent table of the kernel's size classes.
 *
 * The table below is written out by hand from the kernel's rule (include/linux/slab.h,
 * kmalloc_index with KMALLOC_MIN_SIZE 8): 0 -> 0, 1..8 -> 3, 9..16 -> 4, 17..32 -> 5,
 * 33..64 -> 6, 65..96 -> 1, 97..128 -> 7, 129..192 -> 2, 193..256 -> 8, then
 * 2^(n-1)+1..2^n -> n up to 2^25 (32 MiB). It deliberately shares no code with the
 * header, so a change to either shows up here.
 */
#include <stddef.h>
#include <stdint.h>

#include <criterion/criterion.h>

#include <slabd/kmalloc.h>

#include "slabd_shm.h"

struct class_row {
	size_t max_size; /* the largest size of this class */
	int index;
};

/* Ordered by max_size; a size belongs to the first row whose max_size holds it. */
static const struct class_row kernel_classes[] = {
    {0, 0},	    {8, 3},	    {16, 4},	   {32, 5},	  {64, 6},	 {96, 1},
    {128, 7},	    {192, 2},	    {256, 8},	   {512, 9},	  {1024, 10},	 {2048, 11},
    {4096, 12},	    {8192, 13},	    {16384, 14},   {32768, 15},	  {65536, 16},	 {131072, 17},
    {262144, 18},   {524288, 19},   {1048576, 20}, {2097152, 21}, {4194304, 22}, {8388608, 23},
    {16777216, 24}, {33554432, 25},
};

#define NR_CLASSES (sizeof(kernel_classes) / sizeof(kernel_classes[0]))

/* The kernel's index of @size, or -1 when it is larger than every class. */
static int ref_index(size_t size)
{
	size_t i;

	for (i = 0; i < NR_CLASSES; i++)
		if (size <= kernel_classes[i].max_size)
			return kernel_classes[i].index;
	return -1;
}

/* The object size of class @index in the reference table, 0 when there is none. */
static size_t ref_size(int index)
{
	size_t i;

	for (i = 0; i < NR_CLASSES; i++)
		if (kernel_classes[i].index == index)
			return kernel_classes[i].max_size;
	return 0;
}

/* Compare one size; stops the test at the first mismatch with the size in the message. */
static void check_size(size_t size)
{
	int got = kmalloc_index(size), want = ref_index(size);

	if (got != want)
		cr_assert_fail("kmalloc_index(%zu) = %d, the kernel's table says %d", size, got,
			       want);
}

Test(sizeclass, kmalloc_index_matches_the_kernel_table_for_every_size_up_to_64k)
{
	size_t size;

	for (size = 0; size <= 65536; size++)
		check_size(size);
}

Test(sizeclass, kmalloc_index_matches_the_kernel_table_around_every_power_of_two_up_to_32m)
{
	unsigned int n;

	for (n = 16; n <= 25; n++) {
		size_t p = (size_t)1 << n;

		check_size(p - 1);
		check_size(p);
		check_size(p + 1);
		check_size(p / 2 + p / 4); /* the middle of class n */
		check_size(p / 2 + 1);	   /* the first size of class n */
	}
}

Test(sizeclass, sizes_above_32m_have_no_class)
{
	cr_assert_eq(kmalloc_index(33554432), 25);
	cr_assert_eq(kmalloc_index(33554433), -1);
	cr_assert_eq(kmalloc_index((size_t)1 << 26), -1);
	cr_assert_eq(kmalloc_index((size_t)1 << 40), -1);
	cr_assert_eq(kmalloc_index(SIZE_MAX), -1);
	cr_assert_eq(kmalloc_index(SIZE_MAX / 2 + 1), -1);
}

Test(sizeclass, the_documented_examples_land_in_their_classes)
{
	cr_assert_eq(kmalloc_size(kmalloc_index(1)), 8);
	cr_assert_eq(kmalloc_size(kmalloc_index(8)), 8);
	cr_assert_eq(kmalloc_size(kmalloc_index(9)), 16);
	cr_assert_eq(kmalloc_size(kmalloc_index(64)), 64);
	cr_assert_eq(kmalloc_size(kmalloc_index(65)), 96);
	cr_assert_eq(kmalloc_size(kmalloc_index(96)), 96);
	cr_assert_eq(kmalloc_size(kmalloc_index(97)), 128);
	cr_assert_eq(kmalloc_size(kmalloc_index(129)), 192);
	cr_assert_eq(kmalloc_size(kmalloc_index(192)), 192);
	cr_assert_eq(kmalloc_size(kmalloc_index(193)), 256);
	cr_assert_eq(kmalloc_size(kmalloc_index(257)), 512);
	cr_assert_eq(kmalloc_size(kmalloc_index(32768)), 32768);
	cr_assert_eq(kmalloc_size(kmalloc_index(32769)), 65536);
}

Test(sizeclass, kmalloc_size_is_the_inverse_of_kmalloc_index_for_every_class)
{
	size_t i;

	for (i = 1; i < NR_CLASSES; i++) {
		int idx = kernel_classes[i].index;
		size_t size = kernel_classes[i].max_size;

		cr_assert_eq(kmalloc_size(idx), size, "kmalloc_size(%d) = %zu, expected %zu", idx,
			     kmalloc_size(idx), size);
		cr_assert_eq(kmalloc_index(kmalloc_size(idx)), idx,
			     "kmalloc_index(kmalloc_size(%d)) = %d", idx,
			     kmalloc_index(kmalloc_size(idx)));
	}
}

Test(sizeclass, kmalloc_size_is_zero_for_indexes_that_are_no_class)
{
	cr_assert_eq(kmalloc_size(0), 0);
	cr_assert_eq(kmalloc_size(-1), 0);
	cr_assert_eq(kmalloc_size(26), 0);
	cr_assert_eq(kmalloc_size(64), 0);
	cr_assert_eq(kmalloc_size(1000), 0);
}

Test(sizeclass, every_class_index_has_a_size_in_the_reference_table)
{
	int i;

	for (i = 1; i <= KMALLOC_SHIFT_MAX; i++)
		cr_assert_eq(kmalloc_size(i), ref_size(i), "class %d: header %zu, kernel %zu", i,
			     kmalloc_size(i), ref_size(i));
}

Test(sizeclass, every_size_gets_the_smallest_class_that_holds_it)
{
	size_t size;

	for (size = 1; size <= 65536; size++) {
		int idx = kmalloc_index(size), j;
		size_t got = kmalloc_size(idx);

		if (got < size)
			cr_assert_fail("size %zu is in class %d of only %zu bytes", size, idx, got);
		for (j = 1; j <= KMALLOC_SHIFT_MAX; j++) {
			size_t other = kmalloc_size(j);

			if (other >= size && other < got)
				cr_assert_fail(
				    "size %zu is in class %d (%zu bytes) but class %d (%zu bytes) "
				    "also holds it",
				    size, idx, got, j, other);
		}
	}
}

Test(sizeclass, every_class_size_is_a_multiple_of_8_and_powers_of_two_are_exact)
{
	int i;

	for (i = 1; i <= KMALLOC_SHIFT_MAX; i++) {
		size_t s = kmalloc_size(i);

		cr_assert(s % 8 == 0, "class %d has size %zu, not 8-byte aligned", i, s);
		if (i >= KMALLOC_SHIFT_LOW)
			cr_assert_eq(s, (size_t)1 << i, "class %d is not 2^%d bytes", i, i);
	}
}

Test(sizeclass, the_class_limits_agree_with_the_shared_layout)
{
	/* A kmalloc-<size> cache id is kmalloc_index(size): every class must be a valid
	 * kmalloc cache id in the shared cache table and never a named cache's id. */
	cr_assert_eq(KMALLOC_MIN_SIZE, 8);
	cr_assert_eq(KMALLOC_MAX_SIZE, 33554432ul);
	cr_assert_eq(KMALLOC_SHIFT_MAX, SLABD_KMALLOC_LAST);
	cr_assert_geq(kmalloc_index(1), (int)SLABD_KMALLOC_FIRST);
	cr_assert_geq(kmalloc_index(65), (int)SLABD_KMALLOC_FIRST);
	cr_assert_leq(kmalloc_index(KMALLOC_MAX_SIZE), (int)SLABD_KMALLOC_LAST);
	cr_assert_lt(kmalloc_index(KMALLOC_MAX_SIZE), (int)SLABD_FIRST_NAMED_CACHE);
}
