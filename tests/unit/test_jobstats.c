// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Job-stat parsing: full, partial, empty and mistyped parameter sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "jobstats.h"

static void test_full_source_stats(void **state)
{
	virTypedParameterPtr params = NULL;
	int n = 0, max = 0;
	struct ms_job_stats s;
	unsigned int bad = 99;

	(void)state;
	assert_int_equal(virTypedParamsAddInt(&params, &n, &max, VIR_DOMAIN_JOB_OPERATION,
					      VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT),
			 0);
	assert_int_equal(virTypedParamsAddULLong(&params, &n, &max, VIR_DOMAIN_JOB_TIME_ELAPSED,
						 13500),
			 0);
	assert_int_equal(virTypedParamsAddULLong(&params, &n, &max, VIR_DOMAIN_JOB_MEMORY_TOTAL,
						 268435456),
			 0);
	assert_int_equal(virTypedParamsAddULLong(&params, &n, &max,
						 VIR_DOMAIN_JOB_MEMORY_REMAINING, 1048576),
			 0);
	assert_int_equal(virTypedParamsAddULLong(&params, &n, &max,
						 VIR_DOMAIN_JOB_MEMORY_PROCESSED, 300000000),
			 0);
	assert_int_equal(virTypedParamsAddULLong(&params, &n, &max, VIR_DOMAIN_JOB_MEMORY_BPS,
						 25165824),
			 0);
	assert_int_equal(virTypedParamsAddULLong(&params, &n, &max,
						 VIR_DOMAIN_JOB_MEMORY_DIRTY_RATE, 1280),
			 0);
	assert_int_equal(virTypedParamsAddULLong(&params, &n, &max,
						 VIR_DOMAIN_JOB_MEMORY_PAGE_SIZE, 4096),
			 0);
	assert_int_equal(virTypedParamsAddULLong(&params, &n, &max,
						 VIR_DOMAIN_JOB_MEMORY_ITERATION, 6),
			 0);
	assert_int_equal(virTypedParamsAddULLong(&params, &n, &max, VIR_DOMAIN_JOB_DOWNTIME, 30),
			 0);

	ms_job_stats_parse(VIR_DOMAIN_JOB_UNBOUNDED, params, n, &s, &bad);
	assert_int_equal(bad, 0);
	assert_int_equal(s.type, VIR_DOMAIN_JOB_UNBOUNDED);
	assert_true(ms_job_has(&s, MS_JOB_OPERATION | MS_JOB_MEM_REMAINING | MS_JOB_ITERATION));
	assert_false(ms_job_has(&s, MS_JOB_DATA_TOTAL));
	assert_false(ms_job_has(&s, MS_JOB_SUCCESS));
	assert_int_equal(s.operation, VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT);
	assert_int_equal(s.time_elapsed_ms, 13500);
	assert_int_equal(s.mem_total_bytes, 268435456);
	assert_int_equal(s.mem_remaining_bytes, 1048576);
	assert_int_equal(s.mem_processed_bytes, 300000000);
	assert_int_equal(s.mem_bps, 25165824);
	assert_int_equal(s.iteration, 6);
	assert_int_equal(s.downtime_ms, 30);
	/* 1280 pages/s of 4 KiB = 5 MiB/s */
	assert_int_equal(ms_job_dirty_bytes_per_s(&s), 5242880);
	virTypedParamsFree(params, n);
}

static void test_completed(void **state)
{
	virTypedParameterPtr params = NULL;
	int n = 0, max = 0;
	struct ms_job_stats s;

	(void)state;
	assert_int_equal(virTypedParamsAddBoolean(&params, &n, &max, VIR_DOMAIN_JOB_SUCCESS, 1), 0);
	assert_int_equal(virTypedParamsAddULLong(&params, &n, &max, VIR_DOMAIN_JOB_DOWNTIME, 142),
			 0);
	ms_job_stats_parse(VIR_DOMAIN_JOB_COMPLETED, params, n, &s, NULL);
	assert_true(ms_job_has(&s, MS_JOB_SUCCESS | MS_JOB_DOWNTIME));
	assert_true(s.success);
	assert_int_equal(s.downtime_ms, 142);
	virTypedParamsFree(params, n);
}

/* A destination has no live stats: nothing is present, nothing reads as a number. */
static void test_empty_and_null(void **state)
{
	struct ms_job_stats s;
	unsigned int bad = 7;

	(void)state;
	ms_job_stats_parse(VIR_DOMAIN_JOB_NONE, NULL, 5, &s, &bad);
	assert_int_equal(s.have, 0);
	assert_int_equal(bad, 0);
	assert_int_equal(ms_job_dirty_bytes_per_s(&s), 0);
}

/* A field with an unexpected type is missing, counted, and leaves no libvirt error behind. */
static void test_wrong_types(void **state)
{
	virTypedParameterPtr params = NULL;
	int n = 0, max = 0;
	struct ms_job_stats s;
	unsigned int bad = 0;

	(void)state;
	assert_int_equal(virTypedParamsAddString(&params, &n, &max,
						 VIR_DOMAIN_JOB_MEMORY_REMAINING, "lots"),
			 0);
	assert_int_equal(virTypedParamsAddULLong(&params, &n, &max, VIR_DOMAIN_JOB_OPERATION, 3),
			 0);
	assert_int_equal(virTypedParamsAddULLong(&params, &n, &max,
						 VIR_DOMAIN_JOB_MEMORY_ITERATION, 4),
			 0);
	ms_job_stats_parse(VIR_DOMAIN_JOB_UNBOUNDED, params, n, &s, &bad);
	assert_int_equal(bad, 2);
	assert_false(ms_job_has(&s, MS_JOB_MEM_REMAINING));
	assert_false(ms_job_has(&s, MS_JOB_OPERATION));
	assert_true(ms_job_has(&s, MS_JOB_ITERATION));
	assert_int_equal(s.iteration, 4);
	assert_null(virGetLastError());
	/* The dirty rate needs both the rate and the page size. */
	s.have |= MS_JOB_DIRTY_RATE;
	s.dirty_rate_pages_s = 100;
	assert_int_equal(ms_job_dirty_bytes_per_s(&s), 0);
	virTypedParamsFree(params, n);
}

/*
 * Auto-converge: libvirt reports the throttle only while it is > 0, as an
 * int percentage; that is also the only sign the migration runs with it.
 */
static void test_auto_converge_throttle(void **state)
{
	virTypedParameterPtr params = NULL;
	int n = 0, max = 0;
	struct ms_job_stats s;
	unsigned int bad = 99;

	(void)state;
	ms_job_stats_parse(VIR_DOMAIN_JOB_UNBOUNDED, params, n, &s, &bad);
	assert_false(ms_job_has(&s, MS_JOB_AUTO_CONVERGE_THROTTLE));
	assert_false(ms_job_auto_converge(&s));
	assert_int_equal(virTypedParamsAddInt(&params, &n, &max,
					      VIR_DOMAIN_JOB_AUTO_CONVERGE_THROTTLE, 30),
			 0);
	ms_job_stats_parse(VIR_DOMAIN_JOB_UNBOUNDED, params, n, &s, &bad);
	assert_int_equal(bad, 0);
	assert_true(ms_job_has(&s, MS_JOB_AUTO_CONVERGE_THROTTLE));
	assert_int_equal(s.auto_converge_throttle_pct, 30);
	assert_true(ms_job_auto_converge(&s));
	virTypedParamsFree(params, n);

	/* Not a percentage, or the wrong type: missing and counted. */
	params = NULL;
	n = max = 0;
	assert_int_equal(virTypedParamsAddInt(&params, &n, &max,
					      VIR_DOMAIN_JOB_AUTO_CONVERGE_THROTTLE, 150),
			 0);
	ms_job_stats_parse(VIR_DOMAIN_JOB_UNBOUNDED, params, n, &s, &bad);
	assert_int_equal(bad, 1);
	assert_false(ms_job_has(&s, MS_JOB_AUTO_CONVERGE_THROTTLE));
	assert_int_equal(s.auto_converge_throttle_pct, 0);
	virTypedParamsFree(params, n);
	params = NULL;
	n = max = 0;
	assert_int_equal(virTypedParamsAddULLong(&params, &n, &max,
						 VIR_DOMAIN_JOB_AUTO_CONVERGE_THROTTLE, 20),
			 0);
	ms_job_stats_parse(VIR_DOMAIN_JOB_UNBOUNDED, params, n, &s, &bad);
	assert_int_equal(bad, 1);
	assert_false(ms_job_auto_converge(&s));
	assert_null(virGetLastError());
	virTypedParamsFree(params, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_source_stats),
		cmocka_unit_test(test_completed),
		cmocka_unit_test(test_empty_and_null),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_auto_converge_throttle),
	};

	/* The typed-parameter helpers use libvirt's error state, set up here. */
	if (virInitialize() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
