// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The configuration model without a kernel (config.h, struct ms_settings):
 * what is in force is derived from what was requested, at the link speed;
 * a knob write changes what was requested, so it survives a re-derivation
 * (new link speed, re-created interface); a bad value changes nothing.
 * Also the snapshot's domain arithmetic (expected completion).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "agent.h"
#include "config.h"
#include "htb.h"
#include "jobstats.h"
#include "reconfig.h"
#include "snapshot.h"

static void start(struct ms_settings *s, __u32 speed)
{
	char err[MS_CONFIG_ERR_LEN];

	ms_settings_init(s);
	s->requested.migration_min_mbps = 30;
	assert_int_equal(ms_settings_derive(s, &s->requested, speed, err, sizeof(err)), 0);
}

static void test_derive_at_two_speeds(void **state)
{
	struct ms_settings s;
	char err[MS_CONFIG_ERR_LEN];

	(void)state;
	start(&s, 10000);
	/* 95% of the speed, 10% reserve, 70% aggregate, max = aggregate. */
	assert_int_equal(s.effective.link_mbps, 9500);
	assert_int_equal(s.effective.mgmt_reserve_mbps, 950);
	assert_int_equal(s.effective.migration_aggregate_mbps, 6650);
	assert_int_equal(s.effective.migration_max_mbps, 6650);
	assert_int_equal(s.effective.migration_min_mbps, 30);
	assert_int_equal(s.requested.link_mbps, 0);
	assert_int_equal(s.link_speed_mbps, 10000);

	assert_true(ms_settings_follows_speed(&s, 1000));
	assert_false(ms_settings_follows_speed(&s, 10000));
	assert_false(ms_settings_follows_speed(&s, 0));
	assert_int_equal(ms_settings_derive(&s, &s.requested, 1000, err, sizeof(err)), 0);
	assert_int_equal(s.effective.link_mbps, 950);
	assert_int_equal(s.effective.mgmt_reserve_mbps, 95);
	assert_int_equal(s.effective.migration_aggregate_mbps, 665);
	assert_int_equal(s.effective.migration_min_mbps, 30);
	assert_int_equal(s.requested.migration_aggregate_mbps, 0);
}

static void test_fixed_link_ignores_speed(void **state)
{
	struct ms_settings s;
	char err[MS_CONFIG_ERR_LEN];

	(void)state;
	ms_settings_init(&s);
	s.requested.link_mbps = 2000;
	assert_int_equal(ms_settings_derive(&s, &s.requested, 10000, err, sizeof(err)), 0);
	assert_int_equal(s.effective.link_mbps, 2000);
	assert_false(ms_settings_follows_speed(&s, 1000));
}

static void test_knob_value_kept_across_speed_change(void **state)
{
	struct ms_settings s, next;
	char err[MS_CONFIG_ERR_LEN];

	(void)state;
	start(&s, 10000);
	assert_int_equal(
	    ms_settings_set(&next, &s, "migration_max_mbps", "400", 10000, err, sizeof(err)), 0);
	s = next;
	assert_int_equal(
	    ms_settings_set(&next, &s, "migration_aggregate_mbps", "500", 10000, err, sizeof(err)),
	    0);
	s = next;
	assert_int_equal(s.effective.migration_aggregate_mbps, 500);
	assert_int_equal(ms_settings_derive(&s, &s.requested, 1000, err, sizeof(err)), 0);
	assert_int_equal(s.effective.link_mbps, 950);
	assert_int_equal(s.effective.migration_aggregate_mbps, 500);
	assert_int_equal(s.effective.migration_max_mbps, 400);

	/* auto written through a knob stays auto and follows the next speed. */
	assert_int_equal(
	    ms_settings_set(&next, &s, "migration_aggregate_mbps", "auto", 1000, err, sizeof(err)),
	    0);
	s = next;
	assert_int_equal(s.requested.migration_aggregate_mbps, 0);
	assert_int_equal(s.effective.migration_aggregate_mbps, 665);
	assert_int_equal(ms_settings_derive(&s, &s.requested, 10000, err, sizeof(err)), 0);
	assert_int_equal(s.effective.migration_aggregate_mbps, 6650);
	assert_int_equal(s.effective.migration_max_mbps, 400);
}

/* A max of auto follows an aggregate lowered through a knob (it was refused against the resolved
 * max). */
static void test_auto_max_follows_lowered_aggregate(void **state)
{
	struct ms_settings s, next;
	char err[MS_CONFIG_ERR_LEN];

	(void)state;
	start(&s, 10000);
	assert_int_equal(
	    ms_settings_set(&next, &s, "migration_aggregate_mbps", "500", 10000, err, sizeof(err)),
	    0);
	assert_int_equal(next.effective.migration_max_mbps, 500);
}

/*
 * The HTB tree at the defaults is work-conserving: the aggregate class is
 * guaranteed 70% of the link and may borrow up to the link, the unattributed
 * class with it; management keeps its reserve and default its share. An
 * aggregate or max set by hand is a hard cap.
 */
static void test_htb_params_work_conserving(void **state)
{
	struct ms_agent *a = test_calloc(1, sizeof(*a));
	struct ms_settings s, next;
	struct ms_htb_params p;
	char err[MS_CONFIG_ERR_LEN];

	(void)state;
	a->ifindex = 3;
	ms_settings_init(&s);
	assert_int_equal(ms_settings_derive(&s, &s.requested, 1000, err, sizeof(err)), 0);
	ms_agent_htb_params(a, &s, &p);
	assert_int_equal(p.link_bps, 950000000ULL);
	assert_int_equal(p.mgmt_reserve_bps, 95000000ULL);
	assert_int_equal(p.migration_aggregate_bps, 665000000ULL);
	assert_int_equal(p.migration_ceil_bps, p.link_bps);
	assert_int_equal(p.migration_max_bps, p.link_bps);

	/* The aggregate by hand: ceil = rate, and max follows it. */
	assert_int_equal(
	    ms_settings_set(&next, &s, "migration_aggregate_mbps", "500", 1000, err, sizeof(err)),
	    0);
	ms_agent_htb_params(a, &next, &p);
	assert_int_equal(p.migration_aggregate_bps, 500000000ULL);
	assert_int_equal(p.migration_ceil_bps, 500000000ULL);
	assert_int_equal(p.migration_max_bps, 500000000ULL);

	/* Only max by hand: the aggregate still borrows, each migration is capped. */
	assert_int_equal(
	    ms_settings_set(&next, &s, "migration_max_mbps", "300", 1000, err, sizeof(err)), 0);
	ms_agent_htb_params(a, &next, &p);
	assert_int_equal(p.migration_ceil_bps, p.link_bps);
	assert_int_equal(p.migration_max_bps, 300000000ULL);
	test_free(a);
}

static void test_bad_value_changes_nothing(void **state)
{
	static const struct {
		const char *key, *value;
		int ret;
	} cases[] = {
	    {"migration_aggregate_mbps", "abc", -EINVAL},
	    {"migration_aggregate_mbps", "9000", -ERANGE}, /* + reserve above the link */
	    {"migration_min_mbps", "7000", -ERANGE},	   /* above max */
	    {"mgmt_ports", "49152", -EINVAL},		   /* inside migration_ports */
	    {"no_such_key", "1", -ENOENT},
	};
	struct ms_settings s, next, before;
	char err[MS_CONFIG_ERR_LEN];

	(void)state;
	start(&s, 10000);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		before = s;
		next = s;
		err[0] = '\0';
		assert_int_equal(ms_settings_set(&next, &s, cases[i].key, cases[i].value, 10000,
						 err, sizeof(err)),
				 cases[i].ret);
		assert_true(err[0] != '\0');
		assert_memory_equal(&next, &s, sizeof(s));
		assert_memory_equal(&s, &before, sizeof(s));
	}
	/* A speed at which the requested values cannot hold: refused, nothing changes. */
	assert_int_equal(
	    ms_settings_set(&next, &s, "migration_aggregate_mbps", "5000", 10000, err, sizeof(err)),
	    0);
	s = next;
	before = s;
	assert_int_equal(ms_settings_derive(&next, &s.requested, 1000, err, sizeof(err)), -ERANGE);
	assert_memory_equal(&next, &before, sizeof(s));
}

static void test_expected_completion(void **state)
{
	struct ms_job_stats st;

	(void)state;
	memset(&st, 0, sizeof(st));
	assert_true(ms_expected_completion_s(&st) < 0);
	st.have = MS_JOB_MEM_REMAINING | MS_JOB_MEM_BPS;
	st.mem_remaining_bytes = 1000;
	st.mem_bps = 100;
	assert_true(ms_expected_completion_s(&st) > 9.99 && ms_expected_completion_s(&st) < 10.01);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_derive_at_two_speeds),
	    cmocka_unit_test(test_fixed_link_ignores_speed),
	    cmocka_unit_test(test_knob_value_kept_across_speed_change),
	    cmocka_unit_test(test_auto_max_follows_lowered_aggregate),
	    cmocka_unit_test(test_htb_params_work_conserving),
	    cmocka_unit_test(test_bad_value_changes_nothing),
	    cmocka_unit_test(test_expected_completion),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
