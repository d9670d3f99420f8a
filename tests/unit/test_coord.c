// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The coordinator's table as jobs are observed (ms_coord_observe_job, the
 * path a libvirt scan takes) and as libvirt's events report them. No cycle
 * runs: that needs tc and the classifier (tests/bench/bench_coord.c drives
 * it in a namespace); without tc or libvirt, the allocation an event asks
 * for touches neither.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "coord.h"
#include "log.h"
#include "virt.h"

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

/* A coordinator with a configuration, for the events that re-decide. */
static struct ms_coord *new_coord_cfg(struct ms_config *cfg)
{
	struct ms_coord_deps deps = {.cfg = cfg};
	struct ms_coord *c = NULL;
	char err[MS_CONFIG_ERR_LEN];

	ms_config_init(cfg);
	assert_int_equal(ms_config_resolve(cfg, 1000, err, sizeof(err)), 0);
	assert_int_equal(ms_coord_new(&deps, &c), 0);
	return c;
}

static void event(struct ms_coord *c, enum ms_virt_event_kind kind, const unsigned char *uuid,
		  int detail, int sub, const struct ms_job_stats *stats)
{
	const struct ms_virt_event ev = {
		.kind = kind, .name = "vm", .uuid = uuid, .detail = detail, .sub = sub, .stats = stats};

	ms_coord_virt_ops()->event(c, &ev);
}

/* The switchover ends when the domain stops here, or runs again after a failure. */
static void test_switchover_ends(void **state)
{
	struct ms_job_stats st = {.type = VIR_DOMAIN_JOB_UNBOUNDED, .iteration = 2};
	struct ms_config cfg;
	struct ms_coord *c = new_coord_cfg(&cfg);
	struct ms_migration *m;
	unsigned char uuid[MS_UUID_LEN];

	(void)state;
	uuid_of(uuid, 1);
	assert_int_equal(ms_coord_observe_job(c, "vm", uuid, MS_MIG_OUTGOING, &st), 0);
	m = ms_mig_find((struct ms_migration_table *)ms_coord_table(c), uuid);
	event(c, MS_VIRT_EV_LIFECYCLE, uuid, VIR_DOMAIN_EVENT_SUSPENDED,
	      VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED, NULL);
	assert_true(m->in_switchover);
	/* The migration failed in its switchover: the source runs the guest again. */
	event(c, MS_VIRT_EV_LIFECYCLE, uuid, VIR_DOMAIN_EVENT_RESUMED,
	      VIR_DOMAIN_EVENT_RESUMED_MIGRATED, NULL);
	assert_false(m->in_switchover);

	event(c, MS_VIRT_EV_LIFECYCLE, uuid, VIR_DOMAIN_EVENT_SUSPENDED,
	      VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED, NULL);
	assert_true(m->in_switchover);
	/* Post-copy the agent did not start: the manager's, and no switchover. */
	event(c, MS_VIRT_EV_LIFECYCLE, uuid, VIR_DOMAIN_EVENT_SUSPENDED,
	      VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY, NULL);
	assert_false(m->in_switchover);
	assert_true(m->in_postcopy);
	assert_true(m->manager_escalated);

	event(c, MS_VIRT_EV_LIFECYCLE, uuid, VIR_DOMAIN_EVENT_SUSPENDED,
	      VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED, NULL);
	event(c, MS_VIRT_EV_LIFECYCLE, uuid, VIR_DOMAIN_EVENT_STOPPED,
	      VIR_DOMAIN_EVENT_STOPPED_MIGRATED, NULL);
	assert_false(m->in_switchover);
	ms_coord_release(c);
	ms_coord_free(c);
}

/*
 * After the job ended (here: libvirt's job-completed event, failed, as
 * after an abort), libvirt may still list it for a while: that is not a new
 * migration. A retry, younger than the ended job, is.
 */
static void test_ended_job_is_not_new(void **state)
{
	struct ms_job_stats st = {.type = VIR_DOMAIN_JOB_UNBOUNDED,
				  .have = MS_JOB_TIME_ELAPSED,
				  .time_elapsed_ms = 40000};
	struct ms_job_stats done = st;
	struct ms_config cfg;
	struct ms_coord *c = new_coord_cfg(&cfg);
	const struct ms_migration_table *t = ms_coord_table(c);
	unsigned char uuid[MS_UUID_LEN], other[MS_UUID_LEN];

	(void)state;
	uuid_of(uuid, 1);
	uuid_of(other, 2);
	assert_int_equal(ms_coord_observe_job(c, "vm", uuid, MS_MIG_OUTGOING, &st), 0);
	assert_int_equal(ms_mig_count(t, MS_MIG_OUTGOING, MS_MIG_ACTIVE), 1);
	done.type = VIR_DOMAIN_JOB_CANCELLED;
	done.have |= MS_JOB_SUCCESS;
	done.success = false;
	done.time_elapsed_ms = 40100;
	event(c, MS_VIRT_EV_JOB_COMPLETED, uuid, 0, 0, &done);
	assert_int_equal(ms_mig_count(t, MS_MIG_OUTGOING, MS_MIG_ACTIVE), 0);

	/* Still listed while libvirt cleans up. */
	st.time_elapsed_ms = 40300;
	assert_int_equal(ms_coord_observe_job(c, "vm", uuid, MS_MIG_OUTGOING, &st), 0);
	assert_int_equal(ms_mig_count(t, MS_MIG_OUTGOING, MS_MIG_ACTIVE), 0);
	/* Listed as finished: neither. */
	done.time_elapsed_ms = 40400;
	assert_int_equal(ms_coord_observe_job(c, "vm", uuid, MS_MIG_OUTGOING, &done), 0);
	assert_int_equal(ms_mig_count(t, MS_MIG_OUTGOING, MS_MIG_ACTIVE), 0);
	/* Another domain is not affected. */
	assert_int_equal(ms_coord_observe_job(c, "vm2", other, MS_MIG_OUTGOING, &st), 0);
	assert_int_equal(ms_mig_count(t, MS_MIG_OUTGOING, MS_MIG_ACTIVE), 1);
	/* A retry of the same domain starts from 0: new. */
	st.time_elapsed_ms = 200;
	assert_int_equal(ms_coord_observe_job(c, "vm", uuid, MS_MIG_OUTGOING, &st), 0);
	assert_int_equal(ms_mig_count(t, MS_MIG_OUTGOING, MS_MIG_ACTIVE), 2);
	ms_coord_release(c);
	ms_coord_free(c);
}

/*
 * A domain migrated here and, seconds later, away again (the lab's
 * migrate-home then migrate): the incoming job it ended had no elapsed time
 * to compare, and the outgoing one is another job, not that one still listed.
 */
static void test_outgoing_after_incoming_is_new(void **state)
{
	struct ms_job_stats in = { .type = VIR_DOMAIN_JOB_UNBOUNDED };
	struct ms_job_stats done = { .type = VIR_DOMAIN_JOB_COMPLETED };
	struct ms_job_stats out = { .type = VIR_DOMAIN_JOB_UNBOUNDED, .time_elapsed_ms = 300 };
	struct ms_config cfg;
	struct ms_coord *c = new_coord_cfg(&cfg);
	const struct ms_migration_table *t = ms_coord_table(c);
	unsigned char uuid[MS_UUID_LEN];

	(void)state;
	uuid_of(uuid, 3);
	out.have = MS_JOB_TIME_ELAPSED;
	assert_int_equal(ms_coord_observe_job(c, "vm", uuid, MS_MIG_INCOMING, &in), 0);
	event(c, MS_VIRT_EV_JOB_COMPLETED, uuid, 0, 0, &done);
	assert_int_equal(ms_mig_count(t, MS_MIG_INCOMING, MS_MIG_ACTIVE), 0);
	/* The ended incoming job, still listed: not a new one. */
	assert_int_equal(ms_coord_observe_job(c, "vm", uuid, MS_MIG_INCOMING, &in), 0);
	assert_int_equal(ms_mig_count(t, MS_MIG_INCOMING, MS_MIG_ACTIVE), 0);
	assert_int_equal(ms_coord_observe_job(c, "vm", uuid, MS_MIG_OUTGOING, &out), 0);
	assert_int_equal(ms_mig_count(t, MS_MIG_OUTGOING, MS_MIG_ACTIVE), 1);
	ms_coord_release(c);
	ms_coord_free(c);
}

/*
 * libvirt's job-completed event of a migration no scan found running (it
 * began and ended while libvirt's listing did not answer) is counted as
 * unseen; the late event of one a scan already ended, the event that ends
 * a tracked one, and other jobs' events are not.
 */
static void test_unseen_migration_counted(void **state)
{
	struct ms_job_stats st = {.type = VIR_DOMAIN_JOB_UNBOUNDED,
				  .have = MS_JOB_TIME_ELAPSED,
				  .time_elapsed_ms = 40000};
	struct ms_job_stats done = {.type = VIR_DOMAIN_JOB_COMPLETED,
				    .have = MS_JOB_OPERATION | MS_JOB_TIME_ELAPSED | MS_JOB_SUCCESS,
				    .operation = VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT,
				    .success = 1,
				    .time_elapsed_ms = 1500};
	struct ms_job_stats save = done;
	struct ms_config cfg;
	struct ms_coord *c = new_coord_cfg(&cfg);
	const struct ms_migration_table *t = ms_coord_table(c);
	unsigned char uuid[MS_UUID_LEN], other[MS_UUID_LEN], third[MS_UUID_LEN];

	(void)state;
	uuid_of(uuid, 1);
	uuid_of(other, 2);
	uuid_of(third, 3);
	event(c, MS_VIRT_EV_JOB_COMPLETED, other, 0, 0, &done);
	assert_int_equal(ms_coord_unseen_migrations(c), 1);
	/* Not a migration (a save): nothing. */
	save.operation = VIR_DOMAIN_JOB_OPERATION_SAVE;
	event(c, MS_VIRT_EV_JOB_COMPLETED, other, 0, 0, &save);
	assert_int_equal(ms_coord_unseen_migrations(c), 1);

	/* A tracked migration its own event ends: seen. */
	assert_int_equal(ms_coord_observe_job(c, "vm", uuid, MS_MIG_OUTGOING, &st), 0);
	event(c, MS_VIRT_EV_JOB_COMPLETED, uuid, 0, 0, &done);
	assert_int_equal(ms_mig_count(t, MS_MIG_OUTGOING, MS_MIG_ACTIVE), 0);
	assert_int_equal(ms_coord_unseen_migrations(c), 1);

	/*
	 * One the agent ended itself (a younger job of the domain showed it
	 * over): libvirt's event for it may still come, and is not an unseen
	 * migration's. (Events name a domain, not a job: while the younger
	 * job is tracked, an event is taken as the younger job's end.)
	 */
	assert_int_equal(ms_coord_observe_job(c, "vm", third, MS_MIG_OUTGOING, &st), 0);
	st.time_elapsed_ms = 200;
	assert_int_equal(ms_coord_observe_job(c, "vm", third, MS_MIG_OUTGOING, &st), 0);
	assert_int_equal(ms_mig_count(t, MS_MIG_OUTGOING, MS_MIG_ACTIVE), 1);
	event(c, MS_VIRT_EV_JOB_COMPLETED, third, 0, 0, &done);
	assert_int_equal(ms_mig_count(t, MS_MIG_OUTGOING, MS_MIG_ACTIVE), 0);
	event(c, MS_VIRT_EV_JOB_COMPLETED, third, 0, 0, &done);
	assert_int_equal(ms_coord_unseen_migrations(c), 1);
	/* A further event of that domain: a migration no scan found. */
	event(c, MS_VIRT_EV_JOB_COMPLETED, third, 0, 0, &done);
	assert_int_equal(ms_coord_unseen_migrations(c), 2);
	ms_coord_release(c);
	ms_coord_free(c);
}

/*
 * A domain that moves again before the agent saw its last job end: a job in
 * the other direction is a new migration, and the one tracked completed
 * (found by a scan, or shown by the new job's job-completed event).
 */
static void test_direction_change_is_new_migration(void **state)
{
	struct ms_job_stats in = {.type = VIR_DOMAIN_JOB_UNBOUNDED,
				  .have = MS_JOB_TIME_ELAPSED,
				  .time_elapsed_ms = 1200};
	struct ms_job_stats out = in;
	struct ms_job_stats out_done = {.type = VIR_DOMAIN_JOB_COMPLETED,
					.have = MS_JOB_OPERATION | MS_JOB_TIME_ELAPSED | MS_JOB_SUCCESS,
					.operation = VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT,
					.success = 1,
					.time_elapsed_ms = 2500};
	struct ms_config cfg;
	struct ms_coord *c = new_coord_cfg(&cfg);
	const struct ms_migration_table *t = ms_coord_table(c);
	unsigned char uuid[MS_UUID_LEN];

	(void)state;
	uuid_of(uuid, 4);
	/* The scan finds its outgoing job: elapsed alone would not tell it is another one. */
	assert_int_equal(ms_coord_observe_job(c, "vm", uuid, MS_MIG_INCOMING, &in), 0);
	out.time_elapsed_ms = 300;
	assert_int_equal(ms_coord_observe_job(c, "vm", uuid, MS_MIG_OUTGOING, &out), 0);
	assert_int_equal(ms_mig_count(t, MS_MIG_INCOMING, MS_MIG_ACTIVE), 0);
	assert_int_equal(ms_mig_count(t, MS_MIG_OUTGOING, MS_MIG_ACTIVE), 1);
	event(c, MS_VIRT_EV_JOB_COMPLETED, uuid, 0, 0, &out_done);
	assert_int_equal(ms_mig_count(t, MS_MIG_OUTGOING, MS_MIG_ACTIVE), 0);
	assert_int_equal(ms_coord_unseen_migrations(c), 0);

	/* No scan saw the outgoing job: its event ends the incoming one and counts it unseen. */
	assert_int_equal(ms_coord_observe_job(c, "vm", uuid, MS_MIG_INCOMING, &in), 0);
	event(c, MS_VIRT_EV_JOB_COMPLETED, uuid, 0, 0, &out_done);
	assert_int_equal(ms_mig_count(t, MS_MIG_INCOMING, MS_MIG_ACTIVE), 0);
	assert_int_equal(ms_coord_unseen_migrations(c), 1);
	ms_coord_release(c);
	ms_coord_free(c);
}

struct aggregate_seen {
	__u64 last_bps;
	size_t calls;
};

static int record_aggregate(void *ctx, __u64 aggregate_bps)
{
	struct aggregate_seen *seen = ctx;

	seen->last_bps = aggregate_bps;
	seen->calls++;
	return 0;
}

/*
 * An AIMD cut reaches the aggregate class, not only the leaves; a baseline
 * handed over (from a previous agent) is judged against from the first
 * sample; a rise of a few hundred microseconds over it is no harm.
 */
static void test_cut_reaches_aggregate(void **state)
{
	struct ms_job_stats st = {.type = VIR_DOMAIN_JOB_UNBOUNDED, .iteration = 2};
	struct aggregate_seen seen = {0};
	struct ms_coord_deps deps = {.apply_aggregate = record_aggregate, .ctx = &seen};
	struct ms_coord *c = NULL;
	char err[MS_CONFIG_ERR_LEN];
	unsigned char uuid[MS_UUID_LEN];
	struct ms_config cfg;
	__u64 configured;

	(void)state;
	ms_config_init(&cfg);
	assert_int_equal(ms_config_resolve(&cfg, 1000, err, sizeof(err)), 0);
	configured = (__u64)cfg.migration_aggregate_mbps * 1000000ULL;
	deps.cfg = &cfg;
	assert_int_equal(ms_coord_new(&deps, &c), 0);
	ms_coord_set_rtt_baseline(c, 80);
	assert_int_equal(ms_coord_rtt_baseline(c), 80);
	uuid_of(uuid, 1);
	assert_int_equal(ms_coord_observe_job(c, "vm", uuid, MS_MIG_OUTGOING, &st), 0);

	/* 4x the baseline but 240 us: an idle LAN's noise, no cut. */
	for (int i = 0; i < 3; i++) {
		ms_coord_set_health(c, true, 320, 0);
		ms_coord_cycle(c);
	}
	assert_true(seen.calls >= 3);
	assert_int_equal(seen.last_bps, configured);
	assert_int_equal(ms_coord_effective_aggregate(c), configured);

	/*
	 * 20 ms over it, twice in a row: harm; the class gets the cut aggregate.
	 * One such sample is judged once, however often the allocation is
	 * decided again before the next (here: a switchover event).
	 */
	ms_coord_set_health(c, true, 20000, 0);
	ms_coord_cycle(c);
	event(c, MS_VIRT_EV_LIFECYCLE, uuid, VIR_DOMAIN_EVENT_SUSPENDED,
	      VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED, NULL);
	event(c, MS_VIRT_EV_LIFECYCLE, uuid, VIR_DOMAIN_EVENT_RESUMED,
	      VIR_DOMAIN_EVENT_RESUMED_MIGRATED, NULL);
	assert_int_equal(seen.last_bps, configured);
	assert_int_equal(ms_coord_effective_aggregate(c), configured);
	ms_coord_set_health(c, true, 20000, 0);
	ms_coord_cycle(c);
	assert_true(ms_coord_effective_aggregate(c) < configured);
	assert_int_equal(seen.last_bps, ms_coord_effective_aggregate(c));
	/* The baseline is not relearned from samples taken while a migration runs. */
	assert_int_equal(ms_coord_rtt_baseline(c), 80);
	ms_coord_release(c);
	ms_coord_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_observe_adds_then_refreshes),
		cmocka_unit_test(test_observe_full),
		cmocka_unit_test(test_switchover_ends),
		cmocka_unit_test(test_ended_job_is_not_new),
		cmocka_unit_test(test_outgoing_after_incoming_is_new),
		cmocka_unit_test(test_unseen_migration_counted),
		cmocka_unit_test(test_direction_change_is_new_migration),
		cmocka_unit_test(test_cut_reaches_aggregate),
	};

	ms_log_set_level(MS_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
