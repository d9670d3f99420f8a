// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Manager values are limits (agent/control/manager.c and the policy's
 * manager ceiling): Nova's pattern (a migration started at 1 MiB/s, raised
 * to 30 by the manager), a speed lifted to libvirt's default, a previous
 * agent's speed, a downtime the manager raised (never lowered), which
 * actions a manager's migration may get in each escalation mode, what a
 * clean stop puts back, and the policy shrinking a capped migration's class
 * and giving the bandwidth freed to the others.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "manager.h"
#include "policy.h"
#include "virt.h"

#define MBIT 1000000ULL
#define MIB  1048576ULL
#define SEC  1000000000ULL

/* One cycle as the coordinator runs it: read back, decide, set. */
static __u32 cycle(struct ms_migration *m, __u32 *libvirt_mibs, __u32 alloc_mibs, bool *noticed)
{
	__u32 set = ms_manager_speed(m, *libvirt_mibs, alloc_mibs, noticed);

	if (set) {
		*libvirt_mibs = set;
		m->libvirt_speed_mibs = set;
	}
	return set;
}

static void test_nova_pattern(void **state)
{
	struct ms_migration m = {0};
	__u32 libvirt = 1; /* virsh migrate --bandwidth 1 */
	bool noticed;

	(void)state;
	/* The agent would give it 50 MiB/s; the manager's 1 is the ceiling. */
	assert_int_equal(cycle(&m, &libvirt, 50, &noticed), 0);
	assert_true(noticed);
	assert_true(m.manager_speed_held);
	assert_int_equal(ms_manager_speed_ceiling(&m), 1);
	assert_int_equal(libvirt, 1);
	assert_int_equal(cycle(&m, &libvirt, 50, &noticed), 0);
	assert_false(noticed);

	/* The destination is ready: the manager raises it to 30. */
	libvirt = 30;
	assert_int_equal(cycle(&m, &libvirt, 50, &noticed), 0);
	assert_true(noticed);
	assert_int_equal(ms_manager_speed_ceiling(&m), 30);
	/* Another migration starts: the agent lowers it, never above 30 later. */
	assert_int_equal(cycle(&m, &libvirt, 11, &noticed), 11);
	assert_false(noticed);
	assert_int_equal(cycle(&m, &libvirt, 11, &noticed), 0);
	assert_int_equal(cycle(&m, &libvirt, 40, &noticed), 30);
	assert_int_equal(libvirt, 30);
	assert_true(m.manager_speed_held);
	/* A clean stop leaves the manager's value, which is in force already. */
	assert_int_equal(ms_manager_speed_to_restore(&m), 0);
	assert_int_equal(cycle(&m, &libvirt, 11, &noticed), 11);
	assert_int_equal(ms_manager_speed_to_restore(&m), 30);
}

/* Over any sequence of allocations and manager changes, never above the manager. */
static void test_never_above_manager(void **state)
{
	static const __u32 manager[] = {0, 5, 0, 30, 0, 0, 12, 0, 100, 0};
	struct ms_migration m = {0};
	__u32 libvirt = MS_VIRT_SPEED_UNLIMITED, ceiling = 0;
	bool noticed;

	(void)state;
	for (__u32 i = 0; i < 200; i++) {
		__u32 set;

		/* A manager setting the very value in force cannot be told from none. */
		if (manager[i % 10] && manager[i % 10] + i / 10 != libvirt) {
			libvirt = manager[i % 10] + i / 10;
			ceiling = libvirt;
		}
		set = cycle(&m, &libvirt, 1 + (i * 37) % 60, &noticed);
		if (ceiling)
			assert_true(set <= ceiling && libvirt <= ceiling);
	}
}

static void test_default_and_lifted(void **state)
{
	struct ms_migration m = {0};
	__u32 libvirt = MS_VIRT_SPEED_UNLIMITED;
	bool noticed;

	(void)state;
	/* libvirt's default is nobody's limit. */
	assert_int_equal(cycle(&m, &libvirt, 22, &noticed), 22);
	assert_false(noticed);
	assert_false(m.manager_speed_held);
	assert_int_equal(cycle(&m, &libvirt, 22, &noticed), 0);
	/* Stopping puts libvirt's default back. */
	assert_int_equal(ms_manager_speed_to_restore(&m), MS_VIRT_SPEED_UNLIMITED);
	/*
	 * Back at libvirt's default (the manager lifted it, or libvirt reset
	 * it at the end of the job): held, no ceiling, and left alone.
	 */
	libvirt = MS_VIRT_SPEED_UNLIMITED;
	assert_int_equal(cycle(&m, &libvirt, 22, &noticed), 0);
	assert_true(noticed);
	assert_true(m.manager_speed_held);
	assert_int_equal(ms_manager_speed_ceiling(&m), 0);
	assert_int_equal(cycle(&m, &libvirt, 30, &noticed), 0);
	assert_false(noticed);
	assert_int_equal(ms_manager_speed_to_restore(&m), 0);
	/* Nothing set, nothing to restore. */
	memset(&m, 0, sizeof(m));
	assert_int_equal(ms_manager_speed_to_restore(&m), 0);
}

/* After a restart, the speed in force is the previous agent's, not a manager's. */
static void test_inherited_speed(void **state)
{
	struct ms_migration m = {.speed_inherited = true};
	__u32 libvirt = 22;
	bool noticed;

	(void)state;
	assert_int_equal(cycle(&m, &libvirt, 30, &noticed), 30);
	assert_false(noticed);
	assert_false(m.manager_speed_held);
	assert_int_equal(ms_manager_speed_to_restore(&m), MS_VIRT_SPEED_UNLIMITED);
}

static void test_downtime_never_lowered(void **state)
{
	struct ms_migration m = {0};
	bool noticed;

	(void)state;
	/* QEMU's default, the policy's first step: nothing to do. */
	assert_int_equal(ms_manager_downtime(&m, 300, 300, &noticed), 0);
	assert_false(noticed);
	assert_int_equal(ms_manager_downtime(&m, 300, 400, &noticed), 400);
	m.max_downtime_ms = 400;
	/* The manager raises it to 2 s: the agent's 500 would lower it. */
	assert_int_equal(ms_manager_downtime(&m, 2000, 500, &noticed), 0);
	assert_true(noticed);
	assert_true(m.manager_downtime_held);
	assert_int_equal(m.max_downtime_ms, 2000);
	/* Raising above it stays allowed. */
	assert_int_equal(ms_manager_downtime(&m, 2000, 3000, &noticed), 3000);
	m.max_downtime_ms = 3000;
	assert_int_equal(ms_manager_downtime_to_restore(&m), 2000);

	/* vdsm set 500 before the agent saw the migration. */
	memset(&m, 0, sizeof(m));
	assert_int_equal(ms_manager_downtime(&m, 500, 300, &noticed), 0);
	assert_true(m.manager_downtime_held);
	assert_int_equal(ms_manager_downtime_to_restore(&m), 0);
}

static void test_actions(void **state)
{
	struct ms_migration m = {0};
	enum ms_escalation_mode mode;

	(void)state;
	assert_true(ms_manager_allows(&m, MS_POLICY_ACT_ABORT, MS_ESCALATION_ACT));
	assert_true(ms_manager_allows(&m, MS_POLICY_ACT_POSTCOPY, MS_ESCALATION_ACT));
	for (int a = MS_POLICY_ACT_NONE; a <= MS_POLICY_ACT_ABORT; a++) {
		assert_false(ms_manager_allows(&m, a, MS_ESCALATION_ADVISE));
		assert_false(ms_manager_allows(&m, a, MS_ESCALATION_OFF));
	}
	m.manager_downtime_held = true;
	assert_true(ms_manager_acted(&m));
	assert_true(ms_manager_allows(&m, MS_POLICY_ACT_RAISE_DOWNTIME, MS_ESCALATION_ACT));
	assert_false(ms_manager_allows(&m, MS_POLICY_ACT_POSTCOPY, MS_ESCALATION_ACT));
	assert_false(ms_manager_allows(&m, MS_POLICY_ACT_SUSPEND, MS_ESCALATION_ACT));
	assert_false(ms_manager_allows(&m, MS_POLICY_ACT_ABORT, MS_ESCALATION_ACT));

	/* Post-copy the agent started is its own; one it did not is the manager's. */
	memset(&m, 0, sizeof(m));
	m.actions_total[MS_POLICY_ACT_POSTCOPY] = 1;
	ms_manager_postcopy_seen(&m);
	assert_false(ms_manager_acted(&m));
	m.actions_total[MS_POLICY_ACT_POSTCOPY] = 0;
	ms_manager_postcopy_seen(&m);
	assert_true(ms_manager_acted(&m));
	assert_false(ms_manager_allows(&m, MS_POLICY_ACT_ABORT, MS_ESCALATION_ACT));

	assert_int_equal(ms_escalation_mode_parse("advise", &mode), 0);
	assert_int_equal(mode, MS_ESCALATION_ADVISE);
	assert_int_equal(ms_escalation_mode_parse("sometimes", &mode), -EINVAL);
	assert_string_equal(ms_escalation_mode_name(MS_ESCALATION_ACT), "act");
}

static void mig(struct ms_policy_mig_in *m, __u32 id)
{
	memset(m, 0, sizeof(*m));
	m->id = id;
	m->dir = MS_MIG_OUTGOING;
	m->started_ns = id * SEC;
	m->mem_total_bytes = 4096 * MIB;
	m->remaining_bytes = 1024 * MIB;
	m->page_size_bytes = 4096;
	m->iteration = 1;
}

/* The class rate that lets QEMU send lim MiB/s (MS_SPEED_MARGIN_PCT). */
static __u64 rate_for_mibs(__u32 lim)
{
	return (__u64)lim * MIB * 8 / MS_SPEED_MARGIN_PCT * 100;
}

static void test_policy_caps_and_gives_back(void **state)
{
	struct ms_policy_mig_out out[3];
	struct ms_policy_mig_in in[3];
	struct ms_policy_params p;
	struct ms_policy_state *s = test_malloc(sizeof(*s));
	struct ms_policy_input input = {.n = 3, .migs = in};
	struct ms_policy_output o = {.migs = out};
	__u64 uncapped;

	(void)state;
	ms_policy_params_init(&p);
	p.kind = MS_POLICY_FAIR;
	p.link_bps = 950 * MBIT;
	p.reserve_bps = 95 * MBIT;
	p.aggregate_bps = 600 * MBIT;
	p.max_bps = 300 * MBIT;
	p.min_bps = 20 * MBIT;
	ms_policy_state_init(s);
	for (int i = 0; i < 3; i++)
		mig(&in[i], (__u32)i + 1);
	input.now_ns = SEC;
	assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
	uncapped = out[1].rate_bps;
	assert_int_equal(uncapped, 200 * MBIT);

	/* Nova started the first at 1 MiB/s: its class shrinks to that. */
	in[0].manager_max_mibs = 1;
	input.now_ns = 2 * SEC;
	assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
	assert_int_equal(out[0].rate_bps, rate_for_mibs(1));
	assert_int_equal(out[0].ceil_bps, rate_for_mibs(1));
	assert_int_equal(out[0].speed_mibs, 1);
	/* What it freed goes to the others, up to max, and never over the aggregate. */
	assert_true(out[1].rate_bps > uncapped && out[1].rate_bps <= p.max_bps);
	assert_true(out[2].rate_bps > uncapped && out[2].rate_bps <= p.max_bps);
	assert_true(out[0].rate_bps + out[1].rate_bps + out[2].rate_bps <= p.aggregate_bps);
	assert_int_equal(out[1].speed_mibs, ms_speed_mibs_for_rate(out[1].rate_bps));

	/* Raised to 30 MiB/s, still under its share of 200 Mbit/s. */
	in[0].manager_max_mibs = 30;
	input.now_ns = 3 * SEC;
	assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
	assert_int_equal(out[0].rate_bps,
			 rate_for_mibs(30) < uncapped ? rate_for_mibs(30) : uncapped);
	assert_true(out[0].speed_mibs <= 30);
	assert_true(out[0].rate_bps + out[1].rate_bps + out[2].rate_bps <= p.aggregate_bps);

	/* A ceiling above the allocation changes nothing. */
	in[0].manager_max_mibs = 1000;
	input.now_ns = 4 * SEC;
	assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
	assert_int_equal(out[0].rate_bps, uncapped);
	assert_int_equal(out[1].rate_bps, uncapped);
	test_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nova_pattern),
	    cmocka_unit_test(test_never_above_manager),
	    cmocka_unit_test(test_default_and_lifted),
	    cmocka_unit_test(test_inherited_speed),
	    cmocka_unit_test(test_downtime_never_lowered),
	    cmocka_unit_test(test_actions),
	    cmocka_unit_test(test_policy_caps_and_gives_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
