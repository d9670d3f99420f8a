// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The coordinator against a libvirt whose calls are deferred (-EBUSY: the
 * loop's budget for waiting on a slow daemon is spent, virt.h). This binary
 * defines the ms_virt_* calls the coordinator makes, so the linker takes
 * these instead of virt.o: a fake daemon that lists one outgoing migration
 * and refuses every call that is not exempt while it holds.
 *   - a deferred read of the speed is never followed by a set (the manager's
 *     value could be anything), and no deferred call counts as an error;
 *   - while the listing is deferred, nothing is decided again (the aggregate
 *     is not applied on stale job stats);
 *   - what no later cycle makes again (putting back the manager's speed when
 *     the job ends, an escalation action the policy has decided) is called
 *     exempt, and happens while the budget holds.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "coord.h"
#include "log.h"
#include "metrics.h"
#include "virt.h"

struct ms_virt {
	bool holding; /* the budget is spent: calls that are not exempt get -EBUSY */
	bool exempt;
	/* Defer only the next N speed reads or sets (the budget ran out in between). */
	int defer_reads, defer_sets;
	unsigned char uuid[MS_UUID_LEN];
	struct ms_job_stats stats;
	bool listed; /* the scan lists the migration */
	/* Every listing spends the budget: the calls after it in the cycle are deferred. */
	bool hold_after_scan;
	__u32 speed_mibs; /* what libvirt's speed reads */
	__u32 postcopy_speed_mibs;
	__u32 max_downtime_ms;
	int gets, sets, exempt_sets, deferred;
	int postcopies, exempt_postcopies;
};

static int gate_n(struct ms_virt *v, int *defer_next)
{
	if (v->exempt || (!v->holding && (!defer_next || *defer_next <= 0)))
		return 0;
	if (!v->holding)
		(*defer_next)--;
	v->deferred++;
	return -EBUSY;
}

static int gate(struct ms_virt *v)
{
	return gate_n(v, NULL);
}

bool ms_virt_connected(const struct ms_virt *v)
{
	return v != NULL;
}

int ms_virt_scan(struct ms_virt *v, ms_virt_job_cb cb, void *ctx)
{
	const struct ms_virt_job job = {
	    .name = "vm", .uuid = v->uuid, .dir = MS_MIG_OUTGOING, .stats = &v->stats};
	int ret;

	if (v->hold_after_scan)
		v->holding = false;
	ret = gate(v);
	if (ret)
		return ret;
	v->holding = v->hold_after_scan;
	if (!v->listed)
		return 0;
	cb(ctx, &job);
	return 1;
}

int ms_virt_get_speed(struct ms_virt *v, const unsigned char *uuid, __u32 *mibs)
{
	int ret = gate_n(v, &v->defer_reads);

	(void)uuid;
	if (ret)
		return ret;
	v->gets++;
	*mibs = v->speed_mibs;
	return 0;
}

int ms_virt_set_speed(struct ms_virt *v, const unsigned char *uuid, __u32 mibs)
{
	int ret = gate_n(v, &v->defer_sets);

	(void)uuid;
	if (ret)
		return ret;
	v->sets++;
	v->exempt_sets += v->exempt;
	v->speed_mibs = mibs;
	return 0;
}

void ms_virt_exempt(struct ms_virt *v, bool exempt)
{
	v->exempt = exempt;
}

/* Completed: what a job that left the listing turns out to be. */
int ms_virt_job_stats(struct ms_virt *v, const unsigned char *uuid, bool completed,
		      struct ms_job_stats *out)
{
	int ret = gate(v);

	(void)uuid;
	(void)completed;
	if (ret)
		return ret;
	memset(out, 0, sizeof(*out));
	out->type = VIR_DOMAIN_JOB_COMPLETED;
	return 0;
}

int ms_virt_domain_running(struct ms_virt *v, const unsigned char *uuid)
{
	(void)uuid;
	return gate(v) ? -EBUSY : -ENOENT;
}

int ms_virt_job_direction(const struct ms_job_stats *st, enum ms_mig_dir *dir)
{
	(void)st;
	*dir = MS_MIG_OUTGOING;
	return 0;
}

int ms_virt_start_postcopy(struct ms_virt *v, const unsigned char *uuid)
{
	int ret = gate(v);

	(void)uuid;
	if (ret)
		return ret;
	v->postcopies++;
	v->exempt_postcopies += v->exempt;
	return 0;
}

/* A value libvirt keeps for the migration, read and set through the budget. */
static int fake_read(struct ms_virt *v, __u32 value, __u32 *out)
{
	int ret = gate(v);

	if (!ret)
		*out = value;
	return ret;
}

static int fake_write(struct ms_virt *v, __u32 *field, __u32 value)
{
	int ret = gate(v);

	if (!ret)
		*field = value;
	return ret;
}

/* In post-copy the allocation goes to the post-copy bandwidth. */
int ms_virt_get_postcopy_speed(struct ms_virt *v, const unsigned char *uuid, __u32 *mibs)
{
	(void)uuid;
	return fake_read(v, v->postcopy_speed_mibs, mibs);
}

int ms_virt_set_postcopy_speed(struct ms_virt *v, const unsigned char *uuid, __u32 mibs)
{
	(void)uuid;
	return fake_write(v, &v->postcopy_speed_mibs, mibs);
}

int ms_virt_get_max_downtime(struct ms_virt *v, const unsigned char *uuid, __u32 *ms)
{
	(void)uuid;
	return fake_read(v, v->max_downtime_ms, ms);
}

int ms_virt_set_max_downtime(struct ms_virt *v, const unsigned char *uuid, __u32 ms)
{
	(void)uuid;
	return fake_write(v, &v->max_downtime_ms, ms);
}

/*
 * Nothing below is expected: the fixture's max downtime is the initial one
 * (no raise), and the migration takes post-copy, the escalation's next step.
 */
static int unexpected(const char *call)
{
	fail_msg("an unexpected libvirt call: %s", call);
	return -EIO;
}

int ms_virt_suspend(struct ms_virt *v, const unsigned char *uuid)
{
	(void)v, (void)uuid;
	return unexpected(__func__);
}

int ms_virt_abort(struct ms_virt *v, const unsigned char *uuid)
{
	(void)v, (void)uuid;
	return unexpected(__func__);
}

struct fixture {
	struct ms_config cfg;
	struct ms_virt virt;
	struct ms_coord *c;
	int aggregate_calls;
};

static int count_aggregate(void *ctx, __u64 aggregate_bps)
{
	struct fixture *f = ctx;

	(void)aggregate_bps;
	f->aggregate_calls++;
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));
	struct ms_coord_deps deps = {.apply_aggregate = count_aggregate};
	char err[MS_CONFIG_ERR_LEN];

	assert_non_null(f);
	ms_config_init(&f->cfg);
	f->cfg.escalation = MS_ESCALATION_OFF;
	f->cfg.max_downtime_ms = 300; /* the initial limit: post-copy is the first step */
	assert_int_equal(ms_config_resolve(&f->cfg, 1000, err, sizeof(err)), 0);
	deps.cfg = &f->cfg;
	deps.ctx = f;
	assert_int_equal(ms_coord_new(&deps, &f->c), 0);
	f->virt.uuid[0] = 1;
	f->virt.stats.type = VIR_DOMAIN_JOB_UNBOUNDED;
	f->virt.stats.iteration = 2;
	f->virt.stats.mem_processed_bytes = 64 << 20;
	f->virt.stats.mem_total_bytes = 1ULL << 30;
	f->virt.stats.mem_remaining_bytes = 512ULL << 20;
	f->virt.listed = true;
	f->virt.speed_mibs = MS_VIRT_SPEED_UNLIMITED;
	f->virt.max_downtime_ms = 300; /* QEMU's default */
	ms_coord_set_virt(f->c, &f->virt);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ms_coord_set_virt(f->c, NULL);
	ms_coord_release(f->c);
	ms_coord_free(f->c);
	test_free(f);
	return 0;
}

/*
 * The listing answers and a new speed is due, but the speed read is
 * deferred: no set (the manager may have set one meanwhile, and it is a
 * ceiling), though the set itself would go through. A deferred set is no
 * error.
 */
static void test_deferred_read_sets_nothing(void **state)
{
	struct fixture *f = *state;
	__u32 first;

	ms_coord_cycle(f->c);
	assert_int_equal(f->virt.sets, 1);
	first = f->virt.speed_mibs;
	f->virt.speed_mibs = first / 4; /* the manager's, meanwhile */
	f->cfg.migration_max_mbps /= 2;
	f->virt.defer_reads = 1;
	ms_coord_cycle(f->c);
	assert_int_equal(f->virt.deferred, 1);
	assert_int_equal(f->virt.sets, 1);
	assert_int_equal(f->virt.speed_mibs, first / 4);
	/* Read again: the manager's speed is a ceiling, the agent's goes no higher. */
	ms_coord_cycle(f->c);
	assert_true(f->virt.speed_mibs <= first / 4);
	/* A deferred set (a speed below the manager's ceiling) counts as no error. */
	f->cfg.migration_max_mbps /= 8;
	f->virt.defer_sets = 1;
	ms_coord_cycle(f->c);
	assert_int_equal(f->virt.deferred, 2);
	assert_int_equal(ms_coord_errors(f->c, MS_METRICS_ERR_LIBVIRT), 0);
	/* and is made at the next cycle. */
	ms_coord_cycle(f->c);
	assert_true(f->virt.speed_mibs < first / 4);
}

/* While the listing is deferred, the policy does not decide again on stale stats. */
static void test_deferred_listing_decides_nothing(void **state)
{
	struct fixture *f = *state;
	int calls;

	ms_coord_cycle(f->c);
	calls = f->aggregate_calls;
	assert_true(calls >= 1);
	f->virt.holding = true;
	for (int i = 0; i < 3; i++)
		ms_coord_cycle(f->c);
	assert_int_equal(f->aggregate_calls, calls);
	assert_int_equal(f->virt.deferred, 3);
	f->virt.holding = false;
	ms_coord_cycle(f->c);
	assert_true(f->aggregate_calls > calls);
}

/*
 * The job fails while the budget holds (the domain stays here, and its next
 * migration must not start from the agent's speed): the speed found before
 * the agent's, libvirt's default, is put back at once, exempt.
 */
static void test_end_restores_while_holding(void **state)
{
	struct fixture *f = *state;
	const struct ms_migration *m;
	const struct ms_virt_event ev = {.kind = MS_VIRT_EV_JOB_COMPLETED,
					 .name = "vm",
					 .uuid = f->virt.uuid,
					 .stats = &f->virt.stats};

	ms_coord_cycle(f->c);
	assert_int_equal(f->virt.sets, 1);
	assert_int_not_equal(f->virt.speed_mibs, MS_VIRT_SPEED_UNLIMITED);
	f->virt.holding = true;
	f->virt.stats.type = VIR_DOMAIN_JOB_FAILED;
	f->virt.stats.have |= MS_JOB_SUCCESS;
	f->virt.stats.success = false;
	ms_coord_virt_ops()->event(f->c, &ev);
	m = ms_mig_find((struct ms_migration_table *)ms_coord_table(f->c), f->virt.uuid);
	assert_true(m == NULL || m->state != MS_MIG_ACTIVE);
	assert_int_equal(f->virt.sets, 2);
	assert_int_equal(f->virt.exempt_sets, 1);
	assert_int_equal(f->virt.speed_mibs, MS_VIRT_SPEED_UNLIMITED);
	assert_false(f->virt.exempt);
}

/*
 * The migration stalls (each cycle a new iteration, nothing less remaining)
 * while every listing spends the budget. The policy decides post-copy once
 * and counts it as sent, so the call is made at once, exempt: deferred, it
 * would never be asked for again.
 */
static void test_escalation_while_holding(void **state)
{
	struct fixture *f = *state;
	const struct ms_migration *m;
	int cycles;

	f->cfg.escalation = MS_ESCALATION_ACT;
	ms_coord_cycle(f->c);
	f->virt.hold_after_scan = true;
	for (cycles = 0; cycles < 20 && !f->virt.postcopies; cycles++) {
		f->virt.stats.iteration++;
		ms_coord_cycle(f->c);
	}
	assert_int_equal(f->virt.postcopies, 1);
	assert_int_equal(f->virt.exempt_postcopies, 1);
	assert_true(f->virt.deferred > 0); /* the speed reads after each listing */
	assert_false(f->virt.exempt);
	m = ms_mig_find((struct ms_migration_table *)ms_coord_table(f->c), f->virt.uuid);
	assert_non_null(m);
	assert_true(m->in_postcopy);
	assert_int_equal(m->actions_total[MS_POLICY_ACT_POSTCOPY], 1);
	assert_int_equal(ms_coord_errors(f->c, MS_METRICS_ERR_LIBVIRT), 0);
	/* Decided once: the cycles after it do not ask again. */
	for (int i = 0; i < 3; i++) {
		f->virt.stats.iteration++;
		ms_coord_cycle(f->c);
	}
	assert_int_equal(f->virt.postcopies, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_deferred_read_sets_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deferred_listing_decides_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_end_restores_while_holding, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_escalation_while_holding, setup, teardown),
	};

	ms_log_set_level(MS_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
