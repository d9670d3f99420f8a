// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The coordinator's table as jobs are observed (ms_coord_observe_job, the
 * path a libvirt scan takes). No cycle runs: that needs tc and the classifier
 * (tests/bench/bench_coord.c drives it in a namespace).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "coord.h"
#include "log.h"

static void uuid_of(unsigned char *uuid, int n)
{
	memset(uuid, 0, MS_UUID_LEN);
	uuid[0] = (unsigned char)n;
	uuid[1] = (unsigned char)(n >> 8);
	uuid[15] = 0x5c;
}

static struct ms_coord *new_coord(void)
{
	/* Nothing is dereferenced until a cycle runs. */
	const struct ms_coord_deps deps = { 0 };
	struct ms_coord *c = NULL;

	assert_int_equal(ms_coord_new(&deps, &c), 0);
	return c;
}

static void test_observe_adds_then_refreshes(void **state)
{
	struct ms_job_stats st = { .type = VIR_DOMAIN_JOB_UNBOUNDED, .iteration = 1 };
	struct ms_coord *c = new_coord();
	const struct ms_migration_table *t = ms_coord_table(c);
	const struct ms_migration *m;
	unsigned char out[MS_UUID_LEN], in[MS_UUID_LEN];

	(void)state;
	uuid_of(out, 1);
	uuid_of(in, 2);
	assert_int_equal(ms_coord_observe_job(c, "vm-out", out, MS_MIG_OUTGOING, &st), 0);
	assert_int_equal(ms_coord_observe_job(c, "vm-in", in, MS_MIG_INCOMING, &st), 0);
	st.iteration = 3;
	assert_int_equal(ms_coord_observe_job(c, "vm-out", out, MS_MIG_OUTGOING, &st), 0);

	assert_int_equal(ms_mig_count(t, MS_MIG_OUTGOING, MS_MIG_ACTIVE), 1);
	assert_int_equal(ms_mig_count(t, MS_MIG_INCOMING, MS_MIG_ACTIVE), 1);
	m = ms_mig_find((struct ms_migration_table *)t, out);
	assert_non_null(m);
	assert_string_equal(m->name, "vm-out");
	assert_true(ms_minor_is_migration(m->minor));
	assert_int_equal(m->stats.iteration, 3);
	/* Nothing reaches the kernel before a cycle. */
	assert_int_equal(m->class_rate_bps, 0);
	m = ms_mig_find((struct ms_migration_table *)t, in);
	assert_non_null(m);
	assert_int_equal(m->minor, 0);

	ms_coord_release(c);
	assert_int_equal(ms_mig_count(t, MS_MIG_OUTGOING, MS_MIG_ACTIVE), 0);
	ms_coord_free(c);
}

static void test_observe_full(void **state)
{
	struct ms_job_stats st = { .type = VIR_DOMAIN_JOB_UNBOUNDED };
	struct ms_coord *c = new_coord();
	unsigned char uuid[MS_UUID_LEN];

	(void)state;
	for (int i = 0; i < (int)MS_MAX_MIGRATIONS; i++) {
		uuid_of(uuid, i);
		assert_int_equal(ms_coord_observe_job(c, "vm", uuid, MS_MIG_OUTGOING, &st), 0);
	}
	uuid_of(uuid, MS_MAX_MIGRATIONS);
	assert_int_equal(ms_coord_observe_job(c, "vm", uuid, MS_MIG_OUTGOING, &st), -ENOSPC);
	/* One already known is still refreshed. */
	uuid_of(uuid, 7);
	assert_int_equal(ms_coord_observe_job(c, "vm", uuid, MS_MIG_OUTGOING, &st), 0);
	ms_coord_release(c);
	ms_coord_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_observe_adds_then_refreshes),
		cmocka_unit_test(test_observe_full),
	};

	ms_log_set_level(MS_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
