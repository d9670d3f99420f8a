// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The rate invariants of include/rates.h: each rule refuses what breaks it
 * and names the key that breaks it, and the plans the layers really hand
 * down (the defaults, the work-conserving ceiling, the AIMD cut) keep them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "rates.h"

#define MBIT 1000000ULL

/* The 1 Gbit lab's resolved defaults, work-conserving. */
static struct ms_rate_plan lab_plan(void)
{
	return (struct ms_rate_plan){
	    .link_bps = 950 * MBIT,
	    .mgmt_reserve_bps = 95 * MBIT,
	    .migration_aggregate_bps = 665 * MBIT,
	    .migration_ceil_bps = 950 * MBIT,
	    .migration_min_bps = 19 * MBIT,
	    .migration_max_bps = 665 * MBIT,
	    .incoming_aggregate_bps = 665 * MBIT,
	};
}

static void expect_broken(const struct ms_rate_plan *p, const char *first_key)
{
	const char *why = ms_rate_plan_violation(p);

	assert_non_null(why);
	if (strncmp(why, first_key, strlen(first_key)) != 0)
		fail_msg("'%s' does not start with %s", why, first_key);
}

static void test_kept(void **state)
{
	struct ms_rate_plan p = lab_plan();

	(void)state;
	assert_null(ms_rate_plan_violation(&p));
	/* A hard cap: no ceiling, max up to the aggregate. */
	p.migration_ceil_bps = 0;
	assert_null(ms_rate_plan_violation(&p));
	/* While max is auto it follows the ceiling, above the aggregate. */
	p = lab_plan();
	p.migration_max_bps = p.migration_ceil_bps;
	assert_null(ms_rate_plan_violation(&p));
	/* The AIMD cut: aggregate and ceiling shrink together, max with them. */
	p.migration_aggregate_bps /= 4;
	p.migration_ceil_bps /= 4;
	p.migration_max_bps = p.migration_ceil_bps;
	assert_null(ms_rate_plan_violation(&p));
	/* Everything at its edge. */
	p = (struct ms_rate_plan){.link_bps = 2,
				  .mgmt_reserve_bps = 1,
				  .migration_aggregate_bps = 1,
				  .migration_min_bps = 1,
				  .migration_max_bps = 1,
				  .incoming_aggregate_bps = 2};
	assert_null(ms_rate_plan_violation(&p));
}

/* One field of the lab plan changed; 0 for the ceiling means "none". */
struct breach {
	size_t field; /* offsetof(struct ms_rate_plan, ...) */
	__u64 value;
	const char *first_key;
};

static void test_each_rule(void **state)
{
	const struct ms_rate_plan lab = lab_plan();
	const __u64 room = lab.link_bps - lab.mgmt_reserve_bps;
#define F(name) offsetof(struct ms_rate_plan, name)
	const struct breach breaches[] = {
	    {F(link_bps), 0, "link_mbps"},
	    {F(mgmt_reserve_bps), lab.link_bps, "mgmt_reserve_mbps"},
	    {F(migration_aggregate_bps), 0, "migration_aggregate_mbps"},
	    {F(migration_aggregate_bps), room + 1, "migration_aggregate_mbps"},
	    {F(migration_ceil_bps), lab.migration_aggregate_bps - 1, "the migrations' borrowing"},
	    {F(migration_ceil_bps), lab.link_bps + 1, "the migrations' borrowing"},
	    {F(migration_max_bps), 0, "migration_max_mbps"},
	    {F(migration_max_bps), lab.migration_ceil_bps + 1, "migration_max_mbps"},
	    {F(migration_min_bps), 0, "migration_min_mbps"},
	    {F(migration_min_bps), lab.migration_max_bps + 1, "migration_min_mbps"},
	    {F(incoming_aggregate_bps), lab.link_bps + 1, "incoming_aggregate_mbps"},
	};
#undef F
	struct ms_rate_plan p;

	(void)state;
	for (size_t i = 0; i < sizeof(breaches) / sizeof(breaches[0]); i++) {
		p = lab;
		memcpy((char *)&p + breaches[i].field, &breaches[i].value, sizeof(__u64));
		expect_broken(&p, breaches[i].first_key);
	}
	/* Without a ceiling, max is bounded by the aggregate. */
	p = lab;
	p.migration_ceil_bps = 0;
	p.migration_max_bps = p.migration_aggregate_bps + 1;
	expect_broken(&p, "migration_max_mbps");
	/* While max follows the ceiling, min stays within the aggregate. */
	p = lab;
	p.migration_max_bps = p.migration_ceil_bps;
	p.migration_min_bps = p.migration_aggregate_bps + 1;
	expect_broken(&p, "migration_min_mbps");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kept),
	    cmocka_unit_test(test_each_rule),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
