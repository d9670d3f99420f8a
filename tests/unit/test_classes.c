// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Class id mapping: slots, reuse, names and the skb->priority handle. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "classes.h"

static void test_handles(void **state)
{
	(void)state;
	assert_int_equal(MS_HANDLE(MS_MINOR_MGMT), 0x10010);
	assert_int_equal(MS_HANDLE(MS_MINOR_DEFAULT), 0x10030);
	assert_int_equal(MS_HANDLE(MS_MINOR_MIG_BASE + 5), 0x10105);
	assert_true(ms_minor_is_migration(MS_MINOR_MIG_BASE));
	assert_true(ms_minor_is_migration(MS_MINOR_MIG_BASE + MS_MAX_MIGRATIONS - 1));
	assert_false(ms_minor_is_migration(MS_MINOR_MIG_BASE + MS_MAX_MIGRATIONS));
	assert_false(ms_minor_is_migration(MS_MINOR_UNATTRIBUTED));
	assert_true(MS_MINOR_MIG_BASE + MS_MAX_MIGRATIONS <= MS_CLASS_SLOTS);
}

static void test_alloc_reuse(void **state)
{
	struct ms_class_table t;
	__u32 a, b, again, c;

	(void)state;
	ms_class_table_init(&t);
	assert_int_equal(ms_class_alloc(&t, 7, &a), 0);
	assert_int_equal(a, MS_MINOR_MIG_BASE);
	assert_int_equal(ms_class_alloc(&t, 0, &b), 0); /* id 0 is a valid migration id */
	assert_int_equal(b, MS_MINOR_MIG_BASE + 1);
	assert_int_equal(ms_class_alloc(&t, 7, &again), 0);
	assert_int_equal(again, a);
	assert_int_equal(ms_class_count(&t), 2);

	assert_int_equal(ms_class_free(&t, a), 0);
	assert_int_equal(ms_class_free(&t, a), -ENOENT);
	assert_int_equal(ms_class_lookup(&t, 7, &again), -ENOENT);
	assert_int_equal(ms_class_alloc(&t, 9, &c), 0);
	assert_int_equal(c, a); /* the lowest free slot is reused */
	assert_int_equal(ms_class_free(&t, MS_MINOR_MGMT), -ENOENT);
}

static void test_alloc_full(void **state)
{
	struct ms_class_table t;
	__u32 minor;

	(void)state;
	ms_class_table_init(&t);
	for (__u32 i = 0; i < MS_MAX_MIGRATIONS; i++) {
		assert_int_equal(ms_class_alloc(&t, 1000 + i, &minor), 0);
		assert_int_equal(minor, MS_MINOR_MIG_BASE + i);
	}
	assert_int_equal(ms_class_alloc(&t, 5, &minor), -ENOSPC);
	assert_int_equal(ms_class_free(&t, MS_MINOR_MIG_BASE + 17), 0);
	assert_int_equal(ms_class_alloc(&t, 5, &minor), 0);
	assert_int_equal(minor, MS_MINOR_MIG_BASE + 17);
}

static void test_names(void **state)
{
	static const __u32 minors[] = { MS_MINOR_LINK, MS_MINOR_MGMT, MS_MINOR_AGGREGATE,
					MS_MINOR_UNATTRIBUTED, MS_MINOR_DEFAULT,
					MS_MINOR_MIG_BASE, MS_MINOR_MIG_BASE + 255 };
	char buf[32];
	__u32 back;

	(void)state;
	for (size_t i = 0; i < sizeof(minors) / sizeof(minors[0]); i++) {
		assert_int_equal(ms_class_name(minors[i], buf, sizeof(buf)), 0);
		assert_int_equal(ms_class_parse(buf, &back), 0);
		assert_int_equal(back, minors[i]);
	}
	assert_int_equal(ms_class_name(MS_MINOR_MGMT, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "mgmt");
	assert_int_equal(ms_class_name(MS_MINOR_MIG_BASE + 3, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "mig:3");
	assert_int_equal(ms_class_name(0x99, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(ms_class_name(MS_MINOR_MGMT, buf, 3), -ENOSPC);
	assert_int_equal(ms_class_parse("mig:256", &back), -EINVAL);
	assert_int_equal(ms_class_parse("mig:", &back), -EINVAL);
	assert_int_equal(ms_class_parse("mig:-1", &back), -EINVAL);
	assert_int_equal(ms_class_parse("mig:1x", &back), -EINVAL);
	assert_int_equal(ms_class_parse("MGMT", &back), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handles),
		cmocka_unit_test(test_alloc_reuse),
		cmocka_unit_test(test_alloc_full),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
