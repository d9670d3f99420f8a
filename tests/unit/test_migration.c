// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Migration table, state machine, class reuse, and the tc/libvirt unit arithmetic. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "migration.h"

static void uuid_of(unsigned char *uuid, int n)
{
	memset(uuid, 0, MS_UUID_LEN);
	uuid[0] = (unsigned char)n;
	uuid[15] = 0xaa;
}

static void test_state_machine(void **state)
{
	(void)state;
	/* not migrating -> migrating -> each end */
	assert_int_equal(ms_mig_next_state(MS_MIG_IDLE, MS_MIG_EV_ACTIVE), MS_MIG_ACTIVE);
	assert_int_equal(ms_mig_next_state(MS_MIG_ACTIVE, MS_MIG_EV_ACTIVE), MS_MIG_ACTIVE);
	assert_int_equal(ms_mig_next_state(MS_MIG_ACTIVE, MS_MIG_EV_COMPLETED), MS_MIG_COMPLETED);
	assert_int_equal(ms_mig_next_state(MS_MIG_ACTIVE, MS_MIG_EV_FAILED), MS_MIG_FAILED);
	assert_int_equal(ms_mig_next_state(MS_MIG_ACTIVE, MS_MIG_EV_CANCELLED), MS_MIG_CANCELLED);
	/* An end without a running job changes nothing. */
	assert_int_equal(ms_mig_next_state(MS_MIG_IDLE, MS_MIG_EV_COMPLETED), MS_MIG_IDLE);
	assert_int_equal(ms_mig_next_state(MS_MIG_IDLE, MS_MIG_EV_FAILED), MS_MIG_IDLE);
	/* Ends are final for that migration... */
	assert_int_equal(ms_mig_next_state(MS_MIG_COMPLETED, MS_MIG_EV_FAILED), MS_MIG_COMPLETED);
	assert_int_equal(ms_mig_next_state(MS_MIG_FAILED, MS_MIG_EV_COMPLETED), MS_MIG_FAILED);
	assert_int_equal(ms_mig_next_state(MS_MIG_CANCELLED, MS_MIG_EV_COMPLETED),
			 MS_MIG_CANCELLED);
	/* ...but a new job of the domain (a retry after a failure) is a new migration. */
	assert_int_equal(ms_mig_next_state(MS_MIG_FAILED, MS_MIG_EV_ACTIVE), MS_MIG_ACTIVE);
	assert_string_equal(ms_mig_state_name(MS_MIG_ACTIVE), "migrating");
	assert_string_equal(ms_mig_state_name(MS_MIG_CANCELLED), "cancelled");
}

static void test_table_classes(void **state)
{
	struct ms_migration_table *t = test_malloc(sizeof(*t));
	unsigned char u1[MS_UUID_LEN], u2[MS_UUID_LEN], u3[MS_UUID_LEN];
	struct ms_migration *a, *b, *in, *c;

	(void)state;
	ms_mig_table_init(t);
	uuid_of(u1, 1);
	uuid_of(u2, 2);
	uuid_of(u3, 3);
	a = ms_mig_add(t, u1, "vm-a", MS_MIG_OUTGOING, 100);
	b = ms_mig_add(t, u2, "vm-b", MS_MIG_OUTGOING, 200);
	in = ms_mig_add(t, u3, "vm-in", MS_MIG_INCOMING, 300);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(in);
	assert_int_equal(a->minor, MS_MINOR_MIG_BASE);
	assert_int_equal(b->minor, MS_MINOR_MIG_BASE + 1);
	assert_int_equal(in->minor, 0); /* incoming traffic is not ours to shape */
	assert_int_not_equal(a->id, b->id);
	assert_ptr_equal(ms_mig_find(t, u2), b);
	assert_int_equal(ms_mig_count(t, MS_MIG_OUTGOING, MS_MIG_ACTIVE), 2);
	assert_int_equal(ms_mig_count(t, MS_MIG_INCOMING, MS_MIG_ACTIVE), 1);

	ms_mig_remove(t, a);
	assert_null(ms_mig_find(t, u1));
	assert_int_equal(ms_mig_count(t, MS_MIG_OUTGOING, MS_MIG_ACTIVE), 1);
	c = ms_mig_add(t, u1, "vm-a", MS_MIG_OUTGOING, 400);
	assert_non_null(c);
	assert_int_equal(c->minor, MS_MINOR_MIG_BASE); /* the freed class is reused */
	assert_int_equal(c->started_ns, 400);
	test_free(t);
}

static void test_table_full(void **state)
{
	struct ms_migration_table *t = test_malloc(sizeof(*t));
	unsigned char uuid[MS_UUID_LEN] = {};

	(void)state;
	ms_mig_table_init(t);
	for (unsigned int i = 0; i < MS_MAX_MIGRATIONS; i++) {
		memcpy(uuid, &i, sizeof(i));
		assert_non_null(ms_mig_add(t, uuid, "vm", MS_MIG_OUTGOING, i));
	}
	uuid[15] = 1;
	assert_null(ms_mig_add(t, uuid, "one-too-many", MS_MIG_OUTGOING, 0));
	test_free(t);
}

/* The throttle follows each sample; auto-converge, once seen, stays. */
static void test_auto_converge_stats(void **state)
{
	struct ms_migration m = {};
	struct ms_job_stats st = {};

	(void)state;
	ms_mig_set_stats(&m, &st);
	assert_false(m.auto_converge);
	assert_int_equal(m.auto_converge_throttle_pct, 0);
	st.have = MS_JOB_AUTO_CONVERGE_THROTTLE | MS_JOB_ITERATION;
	st.auto_converge_throttle_pct = 40;
	st.iteration = 7;
	ms_mig_set_stats(&m, &st);
	assert_true(m.auto_converge);
	assert_int_equal(m.auto_converge_throttle_pct, 40);
	assert_int_equal(m.stats.iteration, 7);
	st.have = MS_JOB_ITERATION;
	ms_mig_set_stats(&m, &st);
	assert_true(m.auto_converge);
	assert_int_equal(m.auto_converge_throttle_pct, 0);
}

static void test_flows(void **state)
{
	struct ms_migration m = {};
	struct ms_flow_key k = {.sport = 40000, .dport = 49152, .l4_proto = 6};

	(void)state;
	assert_int_equal(ms_mig_flow_add(&m, &k), 0);
	assert_int_equal(ms_mig_flow_add(&m, &k), 0);
	assert_int_equal(m.n_flows, 1);
	assert_true(ms_mig_has_flow(&m, &k));
	for (unsigned int i = 1; i < MS_MAX_FLOWS_PER_MIGRATION; i++) {
		k.sport = (__u16)(40000 + i);
		assert_int_equal(ms_mig_flow_add(&m, &k), 0);
	}
	k.sport = 1;
	assert_int_equal(ms_mig_flow_add(&m, &k), -ENOSPC);
	assert_false(ms_mig_has_flow(&m, &k));
}

static void test_speed_units(void **state)
{
	const __u64 M = 1000000ULL;

	(void)state;
	/* 200 Mbit/s on the wire: 200e6 * 0.93 / 8 / 2^20 = 22.17 -> 22 MiB/s */
	assert_int_equal(ms_speed_mibs_for_rate(200 * M), 22);
	/* 1 Gbit/s: 110.8 -> 110 */
	assert_int_equal(ms_speed_mibs_for_rate(1000 * M), 110);
	/* Never 0: libvirt reads 0 as unlimited, QEMU as 128 MiB/s. */
	assert_int_equal(ms_speed_mibs_for_rate(1), 1);
	assert_int_equal(ms_speed_mibs_for_rate(0), 1);
	/* The speed always paces below the class. */
	for (__u64 rate = 10 * M; rate <= 100000 * M; rate += 7 * M)
		assert_true(ms_mibs_to_bps(ms_speed_mibs_for_rate(rate)) < rate);
	/* vdsm's 32 MiB/s default is 268 Mbit/s of stream. */
	assert_int_equal(ms_mibs_to_bps(32), 268435456ULL);
	assert_int_equal(ms_speed_mibs_for_rate(UINT64_MAX), 0xffffffffU);
}

/* Every field has a name (a file name: no '/'), unique, a unit and help. */
static void test_field_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < MS_MIG_N_FIELDS; i++) {
		const struct ms_mig_field_desc *f = &ms_mig_fields[i];

		assert_non_null(f->name);
		assert_non_null(f->unit);
		assert_non_null(f->help);
		assert_true(f->name[0] && f->help[0]);
		assert_null(strchr(f->name, '/'));
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(f->name, ms_mig_fields[j].name);
	}
	assert_string_equal(ms_mig_fields[MS_MIG_FIELD_THROTTLE].name, "autoconverge_throttle_pct");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_state_machine), cmocka_unit_test(test_table_classes),
	    cmocka_unit_test(test_table_full),	  cmocka_unit_test(test_auto_converge_stats),
	    cmocka_unit_test(test_flows),	  cmocka_unit_test(test_speed_units),
	    cmocka_unit_test(test_field_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
