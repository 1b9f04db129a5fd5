/* SPDX-License-Identifier: MIT */
/* install_example.c - a client built by test_install.sh against the installed headers
 * and library only (pkg-config --cflags --libs libslabclient), as a user would. */
#include <stdio.h>
#include <string.h>

#include <slabd/slabd.h>

int main(void)
{
	struct kmem_cache *c;
	char *s;
	void *objs[16];

	if (slabd_connect(NULL) < 0) {
		fprintf(stderr, "example: %s\n", slabd_last_error());
		return 1;
	}
	s = kmalloc(64, GFP_KERNEL);
	if (!s || ksize(s) != 64)
		return 2;
	snprintf(s, 64, "hello from slabd");
	c = kmem_cache_create("example-cache", 48, 0, SLAB_HWCACHE_ALIGN, NULL);
	if (!c || kmem_cache_alloc_bulk(c, GFP_KERNEL, 16, objs) != 16)
		return 3;
	kmem_cache_free_bulk(c, 16, objs);
	printf("%s, offset %llu\n", s, (unsigned long long)slabd_ptr_to_off(s));
	kfree(s);
	return 0;
}
