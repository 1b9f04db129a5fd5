/* SPDX-License-Identifier: MIT */
/*
 * audit_helper.h - the daemon's full audit as a Criterion check, for integration tests
 * that end by proving nothing was lost or handed out twice.
 */
#ifndef SLABD_TEST_AUDIT_HELPER_H
#define SLABD_TEST_AUDIT_HELPER_H

#include <criterion/criterion.h>

#include "daemon_helper.h"
#include "slabd_wire.h"

/* td_audit_clean: every object of @t's daemon is free in exactly one place or allocated,
 * and nothing was given back that the daemon did not hand out. */
static inline void td_audit_clean(const struct test_daemon *t)
{
	struct slabd_wire_verify r;

	cr_assert_eq(td_verify(t, SLABD_VERIFY_AUDIT, &r), 0, "no VERIFY reply");
	cr_assert_eq(r.err, 0);
	cr_expect_eq(r.problems, 0, "the audit found problems: %s", r.first);
	cr_expect_eq(r.objects, r.free_slabs + r.free_mags + r.allocated, "objects unaccounted for");
	cr_expect_eq(r.bad_objects + r.double_frees, 0,
		     "the daemon was given back what it did not hand out");
}

#endif
