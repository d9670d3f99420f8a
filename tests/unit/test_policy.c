// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The policy engine: allocation invariants of every policy, fair's
 * max(src, dst), serial's hand-over, srpt's aging, the switchover boost, the
 * escalation order, the stall detector on saw-tooth and flat curves, and AIMD.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "policy_fixture.h"

static void mig(struct ms_policy_mig_in *m, __u32 id, __u64 remaining, __u64 dirty, __u64 iter)
{
	mig_out(m, id, remaining, dirty, iter);
}

static int decide(const struct ms_policy_params *p, struct ms_policy_state *s, __u64 now,
		  struct ms_policy_mig_in *in, size_t n, struct ms_policy_mig_out *out, __u64 *eff)
{
	struct ms_policy_input input = {.now_ns = now, .n = n, .migs = in};
	struct ms_policy_output o = {.migs = out};
	int ret = ms_policy_decide(p, s, &input, &o);

	if (eff)
		*eff = o.effective_aggregate_bps;
	return ret;
}

static void test_invariants(void **state)
{
	static const enum ms_policy_kind kinds[] = {MS_POLICY_FAIR, MS_POLICY_SERIAL,
						    MS_POLICY_SRPT};
	struct ms_policy_mig_in *in = test_calloc(MS_MAX_MIGRATIONS, sizeof(*in));
	struct ms_policy_mig_out *out = test_calloc(MS_MAX_MIGRATIONS, sizeof(*out));
	struct ms_policy_params p;

	(void)state;
	srand(7);
	for (size_t k = 0; k < 3; k++) {
		for (size_t n = 1; n <= 60; n += (n < 8 ? 1 : 13)) {
			for (int variant = 0; variant < 3; variant++) {
				struct ms_policy_state *s = new_state();
				__u64 eff, sum = 0, floor;

				params_1g(&p, kinds[k]);
				if (variant == 1)
					p.max_bps = 200 * MBIT; /* cap below the aggregate */
				if (variant == 2)
					p.borrow_ceil_bps = p.link_bps; /* work-conserving */
				for (size_t i = 0; i < n; i++) {
					mig(&in[i], (__u32)i + 1, (__u64)(rand() % 4096 + 1) * MIB,
					    (__u64)(rand() % 5) * 30 * MIB, (__u64)(rand() % 4));
					if (i % 5 == 4)
						in[i].dir = MS_MIG_INCOMING;
					in[i].in_switchover = i % 7 == 6;
				}
				assert_int_equal(decide(&p, s, SEC, in, n, out, &eff), 0);
				/* The reserve is never lent out. */
				assert_true(eff <= p.link_bps - p.reserve_bps);
				size_t n_out = 0;
				for (size_t i = 0; i < n; i++)
					n_out += in[i].dir == MS_MIG_OUTGOING;
				floor = n_out && p.min_bps * n_out > eff ? eff / n_out : p.min_bps;
				for (size_t i = 0; i < n; i++) {
					if (in[i].dir == MS_MIG_INCOMING) {
						assert_int_equal(out[i].rate_bps, 0);
						continue;
					}
					sum += out[i].rate_bps;
					assert_true(out[i].rate_bps >= floor);
					assert_true(out[i].rate_bps <= p.max_bps);
					assert_true(out[i].ceil_bps >= out[i].rate_bps);
					if (variant == 2) {
						/* Borrowing up to the link, paced for the ceil. */
						assert_int_equal(out[i].ceil_bps, p.link_bps);
						assert_int_equal(
						    out[i].speed_mibs,
						    ms_speed_mibs_for_rate(p.link_bps));
						continue;
					}
					assert_true(out[i].ceil_bps <= eff);
					assert_int_equal(out[i].speed_mibs,
							 ms_speed_mibs_for_rate(out[i].rate_bps));
					assert_int_equal(out[i].id, in[i].id);
				}
				assert_true(sum <= eff);
				test_free(s);
			}
		}
	}
	test_free(in);
	test_free(out);
}

/*
 * Work-conserving defaults: the rates still divide the aggregate (each
 * class's guarantee), but a migration may borrow up to the link and QEMU is
 * paced for that, so one alone is not held at its share; an AIMD cut shrinks
 * what may be borrowed in proportion. Without a borrowing ceiling (the
 * aggregate set by hand) the aggregate is a hard cap, as before.
 */
static void test_work_conserving(void **state)
{
	struct ms_policy_state *s = new_state();
	struct ms_policy_mig_in in[2];
	struct ms_policy_mig_out out[2];
	struct ms_policy_input input = {.n = 1, .migs = in};
	struct ms_policy_output o = {.migs = out};
	struct ms_policy_params p;
	char err[128];

	(void)state;
	params_1g(&p, MS_POLICY_SRPT);
	p.borrow_ceil_bps = p.link_bps;
	assert_int_equal(ms_policy_params_check(&p, err, sizeof(err)), 0);
	mig(&in[0], 1, 4000 * MIB, 0, 1);
	mig(&in[1], 2, 4000 * MIB, 0, 1);

	/* Alone: guaranteed the aggregate, may use the whole link. */
	input.now_ns = 1 * SEC;
	assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
	assert_int_equal(out[0].rate_bps, 665 * MBIT);
	assert_int_equal(out[0].ceil_bps, 950 * MBIT);
	assert_int_equal(out[0].speed_mibs, ms_speed_mibs_for_rate(950 * MBIT));

	/* Two: the rates still sum to the aggregate; both may borrow. */
	input.n = 2;
	input.now_ns = 2 * SEC;
	assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
	assert_true(out[0].rate_bps + out[1].rate_bps <= 665 * MBIT);
	assert_int_equal(out[0].ceil_bps, 950 * MBIT);
	assert_int_equal(out[1].ceil_bps, 950 * MBIT);

	/* A manager's speed limit still caps ceil and speed. */
	in[1].manager_max_mibs = 10;
	input.now_ns = 3 * SEC;
	assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
	assert_true(out[1].ceil_bps < 100 * MBIT);
	assert_int_equal(out[1].speed_mibs, 10);
	in[1].manager_max_mibs = 0;

	/* Management unhealthy twice: the aggregate is halved, and the ceiling with it. */
	input.health =
	    (struct ms_policy_health){.valid = true, .rtt_us = 1000, .rtt_baseline_us = 1000};
	input.now_ns = 4 * SEC;
	assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
	input.health.rtt_us = 9000;
	input.now_ns = 5 * SEC;
	assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
	input.now_ns = 6 * SEC;
	assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
	assert_true(o.mgmt_unhealthy);
	assert_int_equal(o.effective_aggregate_bps, 665 * MBIT / 100 * 50);
	assert_in_range(out[0].ceil_bps, 474 * MBIT, 476 * MBIT);
	assert_int_equal(out[0].speed_mibs, ms_speed_mibs_for_rate(out[0].ceil_bps));

	/* The aggregate set by hand: a hard cap, QEMU paced at the rate. */
	ms_policy_state_init(s);
	p.borrow_ceil_bps = 0;
	input.n = 1;
	input.health.valid = false;
	input.now_ns = 1 * SEC;
	assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
	assert_int_equal(out[0].rate_bps, 665 * MBIT);
	assert_int_equal(out[0].ceil_bps, 665 * MBIT);
	assert_int_equal(out[0].speed_mibs, ms_speed_mibs_for_rate(665 * MBIT));
	test_free(s);
}

static void test_fair_src_dst(void **state)
{
	struct ms_policy_state *s = new_state();
	struct ms_policy_mig_in in[3];
	struct ms_policy_mig_out out[3];
	struct ms_policy_params p;

	(void)state;
	params_1g(&p, MS_POLICY_FAIR);
	/* Two outgoing, one incoming: n_src = 3. */
	mig(&in[0], 1, 1024 * MIB, 0, 1);
	mig(&in[1], 2, 1024 * MIB, 0, 1);
	mig(&in[2], 3, 1024 * MIB, 0, 1);
	in[2].dir = MS_MIG_INCOMING;
	assert_int_equal(decide(&p, s, SEC, in, 3, out, NULL), 0);
	assert_int_equal(out[0].rate_bps, p.aggregate_bps / 3);
	assert_int_equal(out[1].rate_bps, p.aggregate_bps / 3);
	/* The destination of the second runs 5: max(3, 5). Unknown (0) is ignored. */
	in[1].dst_migrations = 5;
	assert_int_equal(decide(&p, s, 2 * SEC, in, 3, out, NULL), 0);
	assert_int_equal(out[0].rate_bps, p.aggregate_bps / 3);
	assert_int_equal(out[1].rate_bps, p.aggregate_bps / 5);
	/* A destination count below ours changes nothing. */
	in[1].dst_migrations = 2;
	assert_int_equal(decide(&p, s, 3 * SEC, in, 3, out, NULL), 0);
	assert_int_equal(out[1].rate_bps, p.aggregate_bps / 3);
	/* Capped at max, floored at min. */
	p.max_bps = 100 * MBIT;
	assert_int_equal(decide(&p, s, 4 * SEC, in, 3, out, NULL), 0);
	assert_int_equal(out[0].rate_bps, 100 * MBIT);
	p.max_bps = p.aggregate_bps;
	p.min_bps = 200 * MBIT;
	in[1].dst_migrations = 50;
	assert_int_equal(decide(&p, s, 5 * SEC, in, 3, out, NULL), 0);
	assert_int_equal(out[1].rate_bps, 200 * MBIT);
	test_free(s);
}

static void test_serial_handover(void **state)
{
	struct ms_policy_state *s = new_state();
	struct ms_policy_mig_in in[3];
	struct ms_policy_mig_out out[3];
	struct ms_policy_params p;
	__u64 lead = 665 * MBIT - 2 * 19 * MBIT;

	(void)state;
	params_1g(&p, MS_POLICY_SERIAL);
	/* Listed young to old: the order of the input must not matter. */
	mig(&in[0], 3, 100 * MIB, 0, 1);
	mig(&in[1], 2, 4000 * MIB, 0, 1);
	mig(&in[2], 1, 4000 * MIB, 500 * MIB, 1);
	assert_int_equal(decide(&p, s, 10 * SEC, in, 3, out, NULL), 0);
	assert_int_equal(out[2].rate_bps, lead);
	assert_int_equal(out[1].rate_bps, 19 * MBIT);
	assert_int_equal(out[0].rate_bps, 19 * MBIT);
	/* The oldest ends: the next oldest gets it all. */
	assert_int_equal(decide(&p, s, 11 * SEC, in, 2, out, NULL), 0);
	assert_int_equal(out[1].rate_bps, 665 * MBIT - 19 * MBIT);
	assert_int_equal(out[0].rate_bps, 19 * MBIT);
	/* Then the last. */
	assert_int_equal(decide(&p, s, 12 * SEC, in, 1, out, NULL), 0);
	assert_int_equal(out[0].rate_bps, 665 * MBIT);
	test_free(s);
}

/*
 * srpt: a long migration and a stream of short ones, one arriving every
 * second, each done after 3 s of service. With aging the long one is served
 * and completes; without it, it is starved.
 */
static int run_stream(unsigned int aging_pct, __u64 *served_at)
{
	struct ms_policy_state *s = new_state();
	struct ms_policy_mig_in in[64];
	struct ms_policy_mig_out out[64];
	unsigned int served_for[64] = {0};
	struct ms_policy_params p;
	__u32 next_id = 2;
	size_t n = 1;
	int done_at = -1;

	params_1g(&p, MS_POLICY_SRPT);
	p.aging_pct = aging_pct;
	p.escalation = false;
	mig(&in[0], 1, 4000 * MIB, 10 * MIB, 3);
	*served_at = 0;
	for (int t = 1; t <= 3000 && done_at < 0; t++) {
		/* At most 16: 16 floors leave most of the aggregate to share. */
		if (n < 16) {
			/* Known dirty rate (past its bulk pass) and a short remainder. */
			mig(&in[n], next_id++, 20 * MIB, 1 * MIB, 2);
			in[n].started_ns = (__u64)t * SEC;
			served_for[n] = 0;
			n++;
		}
		assert_int_equal(decide(&p, s, (__u64)t * SEC, in, n, out, NULL), 0);
		for (size_t i = 0; i < n; i++) {
			__u64 sent = out[i].rate_bps > p.min_bps ? out[i].rate_bps / 8 : 0;

			if (!sent)
				continue;
			if (in[i].id == 1) {
				if (!*served_at)
					*served_at = (__u64)t;
				in[i].remaining_bytes =
				    in[i].remaining_bytes > sent ? in[i].remaining_bytes - sent : 0;
				in[i].iteration++;
				if (!in[i].remaining_bytes)
					done_at = t;
			} else {
				served_for[i]++;
			}
		}
		/* Retire the short ones that are done. */
		for (size_t i = 0; i < n;) {
			if (in[i].id != 1 && served_for[i] >= 3) {
				in[i] = in[n - 1];
				served_for[i] = served_for[n - 1];
				n--;
			} else {
				i++;
			}
		}
	}
	test_free(s);
	return done_at;
}

static void test_srpt_no_starvation(void **state)
{
	__u64 served_at;
	int done;

	(void)state;
	done = run_stream(50, &served_at);
	assert_true(served_at > 0);
	assert_true(done > 0);
	/* The control: without aging the newcomers win every time. */
	done = run_stream(0, &served_at);
	assert_int_equal(done, -1);
	assert_int_equal(served_at, 0);
}

static void test_srpt_convergence_aware(void **state)
{
	struct ms_policy_state *s = new_state();
	struct ms_policy_mig_in in[3];
	struct ms_policy_mig_out out[3];
	struct ms_policy_params p;
	__u64 alone = 665 * MBIT / 8 / 100 * MS_SPEED_MARGIN_PCT; /* stream bytes/s */

	(void)state;
	params_1g(&p, MS_POLICY_SRPT);
	/* Dirties faster than the whole aggregate: floor only, even if shortest. */
	mig(&in[0], 1, 500 * MIB, alone, 3);
	/* Convergeable, long and short. */
	mig(&in[1], 2, 3000 * MIB, 20 * MIB, 3);
	mig(&in[2], 3, 1000 * MIB, 20 * MIB, 3);
	/* Its first fast iteration: it may have auto-converge (grace). */
	assert_int_equal(decide(&p, s, SEC, in, 3, out, NULL), 0);
	assert_true(out[0].convergeable);
	/* The next one shows no throttle: it has not. */
	in[0].iteration = 4;
	assert_int_equal(decide(&p, s, 2 * SEC, in, 3, out, NULL), 0);
	assert_false(out[0].convergeable);
	assert_int_equal(out[0].rate_bps, 19 * MBIT);
	assert_true(out[1].convergeable && out[2].convergeable);
	assert_int_equal(out[2].rate_bps, 665 * MBIT - 2 * 19 * MBIT);
	assert_int_equal(out[1].rate_bps, 19 * MBIT);
	/* Served at least dirty rate * margin. */
	assert_true(out[2].rate_bps / 8 / 100 * MS_SPEED_MARGIN_PCT >=
		    20 * MIB / 100 * p.converge_margin_pct);
	test_free(s);
}

/*
 * Auto-converge: a guest dirtying twice the aggregate is convergeable once
 * QEMU throttles it (it will at 99%), is served and not escalated while the
 * throttle rises with flat iterations; one still too fast at the maximum
 * throttle gets the floor and is escalated to an abort.
 */
static void test_auto_converge(void **state)
{
	struct ms_policy_state *s = new_state();
	struct ms_policy_mig_in in[2];
	struct ms_policy_mig_out out[2];
	struct ms_policy_params p;
	__u64 alone = 665 * MBIT / 8 / 100 * MS_SPEED_MARGIN_PCT; /* stream bytes/s */
	__u64 r0 = 2 * alone, now = SEC;
	bool aborted = false;

	(void)state;
	params_1g(&p, MS_POLICY_SRPT);
	mig(&in[0], 1, 2000 * MIB, r0 / 100 * 80, 3);
	mig(&in[1], 2, 4000 * MIB, 20 * MIB, 3);
	/* Without auto-converge: past its grace iteration it cannot converge. */
	assert_int_equal(decide(&p, s, now, in, 2, out, NULL), 0);
	in[0].iteration = 4;
	assert_int_equal(decide(&p, s, now + SEC, in, 2, out, NULL), 0);
	assert_false(out[0].convergeable);
	assert_int_equal(out[0].rate_bps, 19 * MBIT);
	test_free(s);
	in[0].iteration = 3;

	/* Seen throttling at 20%: convergeable, and the shorter one goes first. */
	s = new_state();
	in[0].auto_converge = true;
	in[0].throttle_pct = 20;
	assert_int_equal(decide(&p, s, now, in, 2, out, NULL), 0);
	assert_true(out[0].convergeable);
	assert_int_equal(out[0].rate_bps, 665 * MBIT - 19 * MBIT);

	/*
	 * QEMU raises the throttle every two flat iterations (one a second):
	 * no stall, no escalation, still served, until it reaches 99%.
	 */
	for (int k = 0; k < 18; k++) {
		now += SEC;
		in[0].iteration++;
		in[0].throttle_pct = 20 + 10 * ((__u32)k / 2) > 99 ? 99 : 20 + 10 * ((__u32)k / 2);
		in[0].dirty_bytes_s = r0 / 100 * (100 - in[0].throttle_pct);
		assert_int_equal(decide(&p, s, now, in, 2, out, NULL), 0);
		assert_true(out[0].convergeable);
		assert_false(out[0].stalled);
		assert_int_equal(out[0].action, MS_POLICY_ACT_NONE);
		assert_true(out[0].rate_bps > 19 * MBIT);
	}
	assert_int_equal(in[0].throttle_pct, 99);

	/* At the maximum throttle and still dirtying faster than it can be copied. */
	in[0].dirty_bytes_s = 2 * alone;
	for (int k = 0; k < 400 && !aborted; k++) {
		now += SEC;
		in[0].iteration++;
		assert_int_equal(decide(&p, s, now, in, 2, out, NULL), 0);
		assert_false(out[0].convergeable);
		assert_int_equal(out[0].rate_bps, 19 * MBIT);
		aborted = out[0].action == MS_POLICY_ACT_ABORT;
	}
	assert_true(aborted);
	test_free(s);
}

/* Seconds until a fast guest that never shows a throttle is aborted. */
static __u64 abort_after(bool grace)
{
	struct ms_policy_state *s = new_state();
	struct ms_policy_mig_in in[1];
	struct ms_policy_mig_out out[1];
	struct ms_policy_params p;
	__u64 alone = 665 * MBIT / 8 / 100 * MS_SPEED_MARGIN_PCT, t;

	params_1g(&p, MS_POLICY_SRPT);
	p.auto_converge_grace = grace;
	mig(&in[0], 1, 3000 * MIB, 2 * alone, 2);
	for (t = 1; t < 1000; t++) {
		/* A new iteration every 20 s: the remaining never falls. */
		in[0].iteration = 2 + t / 20;
		assert_int_equal(decide(&p, s, t * SEC, in, 1, out, NULL), 0);
		if (out[0].action == MS_POLICY_ACT_ABORT)
			break;
	}
	test_free(s);
	return t;
}

/* The grace given to a possible auto-converge does not defer an abort. */
static void test_auto_converge_grace_no_later_abort(void **state)
{
	__u64 with = abort_after(true), without = abort_after(false);

	(void)state;
	assert_true(without < 1000);
	assert_true(with <= without);
}

static void test_switchover_boost(void **state)
{
	struct ms_policy_state *s = new_state();
	struct ms_policy_mig_in in[2];
	struct ms_policy_mig_out out[2];
	struct ms_policy_params p;

	(void)state;
	params_1g(&p, MS_POLICY_FAIR);
	p.max_bps = 200 * MBIT;
	mig(&in[0], 1, 100 * MIB, 0, 4);
	mig(&in[1], 2, 100 * MIB, 0, 4);
	in[1].in_switchover = true;
	assert_int_equal(decide(&p, s, SEC, in, 2, out, NULL), 0);
	assert_int_equal(out[0].ceil_bps, 200 * MBIT);
	assert_int_equal(out[1].ceil_bps, 665 * MBIT);
	assert_int_equal(out[1].rate_bps, out[0].rate_bps);
	/* For the switchover only. */
	in[1].in_switchover = false;
	assert_int_equal(decide(&p, s, 2 * SEC, in, 2, out, NULL), 0);
	assert_int_equal(out[1].ceil_bps, 200 * MBIT);
	test_free(s);
}

/* Runs a flat, stalled migration for 400 s; records the actions in order. */
static size_t escalation_run(bool postcopy, bool suspend, enum ms_policy_action *acts, __u64 *when)
{
	struct ms_policy_state *s = new_state();
	struct ms_policy_mig_in in;
	struct ms_policy_mig_out out;
	struct ms_policy_params p;
	size_t n = 0;

	params_1g(&p, MS_POLICY_FAIR);
	p.suspend_allowed = suspend;
	/* A dirty set that fits 500 ms at the rate, so raising the limit could help. */
	mig(&in, 1, 30 * MIB, 50 * MIB, 2);
	in.postcopy_enabled = postcopy;
	for (__u64 t = 1; t <= 400; t++) {
		in.iteration++; /* a new iteration each second, same dirty set: flat */
		assert_int_equal(decide(&p, s, t * SEC, &in, 1, &out, NULL), 0);
		if (out.action == MS_POLICY_ACT_NONE)
			continue;
		assert_true(out.reason[0] != '\0');
		acts[n] = out.action;
		when[n++] = t;
		if (out.action == MS_POLICY_ACT_RAISE_DOWNTIME)
			assert_int_equal(out.max_downtime_ms, 300 + 100 * n);
	}
	assert_int_equal(out.max_downtime_ms, 500);
	test_free(s);
	return n;
}

static void test_escalation_order(void **state)
{
	enum ms_policy_action a[16];
	__u64 t[16];
	size_t n;

	(void)state;
	n = escalation_run(true, false, a, t);
	assert_int_equal(n, 4);
	assert_int_equal(a[0], MS_POLICY_ACT_RAISE_DOWNTIME);
	assert_int_equal(a[1], MS_POLICY_ACT_RAISE_DOWNTIME);
	assert_int_equal(a[2], MS_POLICY_ACT_POSTCOPY);
	assert_int_equal(a[3], MS_POLICY_ACT_ABORT);
	/* Stall after 5 flat iterations; steps at least 10 s apart. */
	assert_int_equal(t[0], 6);
	assert_true(t[1] - t[0] >= 10 && t[2] - t[1] >= 10);
	/* Abort only after progress_timeout_s without progress. */
	assert_true(t[3] >= 150);

	/* Without post-copy (and suspend not allowed): straight to abort. */
	n = escalation_run(false, false, a, t);
	assert_int_equal(n, 3);
	assert_int_equal(a[1], MS_POLICY_ACT_RAISE_DOWNTIME);
	assert_int_equal(a[2], MS_POLICY_ACT_ABORT);

	/* Without post-copy, suspend allowed. */
	n = escalation_run(false, true, a, t);
	assert_int_equal(n, 4);
	assert_int_equal(a[2], MS_POLICY_ACT_SUSPEND);
	assert_int_equal(a[3], MS_POLICY_ACT_ABORT);

	/* Both: post-copy before suspend. */
	n = escalation_run(true, true, a, t);
	assert_int_equal(n, 5);
	assert_int_equal(a[2], MS_POLICY_ACT_POSTCOPY);
	assert_int_equal(a[3], MS_POLICY_ACT_SUSPEND);
	assert_int_equal(a[4], MS_POLICY_ACT_ABORT);
}

static void test_escalation_skips_useless_downtime(void **state)
{
	struct ms_policy_state *s = new_state();
	struct ms_policy_mig_in in;
	struct ms_policy_mig_out out;
	struct ms_policy_params p;
	bool first = true;

	(void)state;
	params_1g(&p, MS_POLICY_FAIR);
	/* 2 GiB dirty set: 500 ms at 77 MB/s is 38 MB; raising cannot help. */
	mig(&in, 1, 2048 * MIB, 50 * MIB, 2);
	in.postcopy_enabled = true;
	for (__u64 t = 1; t <= 60; t++) {
		in.iteration++;
		assert_int_equal(decide(&p, s, t * SEC, &in, 1, &out, NULL), 0);
		if (out.action != MS_POLICY_ACT_NONE && first) {
			assert_int_equal(out.action, MS_POLICY_ACT_POSTCOPY);
			first = false;
		}
	}
	assert_false(first);
	assert_int_equal(out.max_downtime_ms, 300);
	test_free(s);
}

/*
 * libvirt refuses post-copy on a migration not started with
 * VIR_MIGRATE_POSTCOPY (no job stat says so beforehand); the coordinator then
 * clears postcopy_enabled. Regression (test_virt_three, 2026-12-02): the
 * escalation must go on to its next step, and never ask for post-copy again.
 */
static void test_escalation_after_postcopy_refused(void **state)
{
	struct ms_policy_state *s = new_state();
	struct ms_policy_mig_in in;
	struct ms_policy_mig_out out;
	struct ms_policy_params p;
	enum ms_policy_action acts[8];
	size_t n = 0;

	(void)state;
	params_1g(&p, MS_POLICY_FAIR);
	p.suspend_allowed = true;
	/* A dirty set no downtime limit can carry: post-copy is the first step. */
	mig(&in, 1, 2048 * MIB, 50 * MIB, 2);
	in.postcopy_enabled = true;
	for (__u64 t = 1; t <= 60 && n < 8; t++) {
		in.iteration++;
		assert_int_equal(decide(&p, s, t * SEC, &in, 1, &out, NULL), 0);
		if (out.action == MS_POLICY_ACT_NONE)
			continue;
		acts[n++] = out.action;
		if (out.action == MS_POLICY_ACT_POSTCOPY)
			in.postcopy_enabled = false; /* what coord does on libvirt's refusal */
	}
	assert_int_equal(n, 2);
	assert_int_equal(acts[0], MS_POLICY_ACT_POSTCOPY);
	assert_int_equal(acts[1], MS_POLICY_ACT_SUSPEND);
	test_free(s);
}

/* Feeds remaining samples (one a second); returns the first stalled second or 0. */
static __u64 stall_at(const __u64 *rem, const __u64 *iter, size_t n)
{
	struct ms_policy_state *s = new_state();
	struct ms_policy_mig_in in;
	struct ms_policy_mig_out out;
	struct ms_policy_params p;
	__u64 at = 0;

	params_1g(&p, MS_POLICY_FAIR);
	p.escalation = false;
	mig(&in, 1, 0, 0, 0);
	for (size_t i = 0; i < n && !at; i++) {
		in.remaining_bytes = rem[i];
		in.iteration = iter[i];
		assert_int_equal(decide(&p, s, (i + 1) * SEC, &in, 1, &out, NULL), 0);
		if (out.stalled)
			at = i + 1;
	}
	test_free(s);
	return at;
}

static void test_stall_sawtooth(void **state)
{
	__u64 rem[600], iter[600];
	size_t n = 0;

	(void)state;
	/* A 55 s bulk pass, falling steadily. */
	for (int i = 0; i < 55; i++, n++) {
		rem[n] = (4096 - 74 * i) * MIB;
		iter[n] = 1;
	}
	/*
	 * Then iterations whose dirty set shrinks 20% each, each falling to
	 * near 0 before the next sync: every low is below the last peak, no
	 * low beats an earlier low (what fooled Nova's watermark), each
	 * iteration is shorter than the last.
	 */
	__u64 peak = 3000 * MIB;
	for (__u64 it = 2; n < 400 && peak > 10 * MIB; it++) {
		size_t len = peak / (60 * MIB) + 1;

		for (size_t j = 0; j < len && n < 400; j++, n++) {
			rem[n] = peak - peak * j / len;
			iter[n] = it;
		}
		peak = peak * 8 / 10;
	}
	assert_int_equal(stall_at(rem, iter, n), 0);

	/* A long converging second iteration (80 s) is no stall either. */
	n = 0;
	for (int i = 0; i < 80; i++, n++) {
		rem[n] = (4000 - 49 * i) * MIB;
		iter[n] = 2;
	}
	for (int i = 0; i < 40; i++, n++) {
		rem[n] = (2000 - 49 * i) * MIB;
		iter[n] = 3;
	}
	assert_int_equal(stall_at(rem, iter, n), 0);

	/* Noise within epsilon around a saw-tooth whose peaks do not fall: a stall. */
	n = 0;
	for (__u64 it = 2; n < 300; it++) {
		for (int j = 0; j < 4; j++, n++) {
			rem[n] = (1000 - 200 * j + (it % 2) * 20) * MIB;
			iter[n] = it;
		}
	}
	assert_int_equal(stall_at(rem, iter, n), 4 * 5 + 1);
}

static void test_stall_flat(void **state)
{
	__u64 rem[200], iter[200];

	(void)state;
	/* Flat with no iteration counts: stalled after the 40 s window. */
	for (int i = 0; i < 200; i++) {
		rem[i] = 1000 * MIB + (i % 3) * MIB; /* wobble < 4% */
		iter[i] = 0;
	}
	assert_int_equal(stall_at(rem, iter, 200), 41);
	/* Flat peaks, one iteration a second: stalled after 5 iterations. */
	for (int i = 0; i < 200; i++)
		iter[i] = 2 + i;
	assert_int_equal(stall_at(rem, iter, 200), 6);
	/*
	 * QEMU iterating three times between two samples: the iterations in
	 * between count too, so 5 are reached at the second sample after the
	 * first, not the fifth.
	 */
	for (int i = 0; i < 200; i++)
		iter[i] = 2 + 3 * i;
	assert_int_equal(stall_at(rem, iter, 200), 3);
}

/* An operator's raise of the aggregate holds at once when no cut is in force. */
static void test_aimd_follows_a_raise(void **state)
{
	struct ms_policy_state *s = new_state();
	struct ms_policy_mig_in in[1];
	struct ms_policy_mig_out out[1];
	struct ms_policy_input input = {.n = 1, .migs = in};
	struct ms_policy_output o = {.migs = out};
	struct ms_policy_params p;

	(void)state;
	params_1g(&p, MS_POLICY_FAIR);
	/* migration_max_mbps on auto follows the aggregate. */
	p.aggregate_bps = p.max_bps = 500 * MBIT;
	mig(&in[0], 1, 4000 * MIB, 0, 1);
	input.health =
	    (struct ms_policy_health){.valid = true, .rtt_us = 1000, .rtt_baseline_us = 1000};
	input.now_ns = 1 * SEC;
	assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
	assert_int_equal(o.effective_aggregate_bps, 500 * MBIT);
	p.aggregate_bps = p.max_bps = 665 * MBIT;
	input.now_ns = 2 * SEC;
	assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
	assert_int_equal(o.effective_aggregate_bps, 665 * MBIT);
	test_free(s);
}

static void test_aimd(void **state)
{
	struct ms_policy_state *s = new_state();
	struct ms_policy_mig_in in[2];
	struct ms_policy_mig_out out[2];
	struct ms_policy_input input = {.n = 2, .migs = in};
	struct ms_policy_output o = {.migs = out};
	struct ms_policy_params p;
	__u64 cap = 665 * MBIT;

	(void)state;
	params_1g(&p, MS_POLICY_SERIAL);
	mig(&in[0], 1, 4000 * MIB, 0, 1);
	mig(&in[1], 2, 4000 * MIB, 0, 1);
	input.health =
	    (struct ms_policy_health){.valid = true, .rtt_us = 1000, .rtt_baseline_us = 1000};
	input.now_ns = 1 * SEC;
	assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
	assert_int_equal(o.effective_aggregate_bps, cap);
	assert_false(o.mgmt_unhealthy);

	/* RTT 7x the baseline, 6 ms above it: one bad sample is noise... */
	input.health.rtt_us = 7000;
	input.now_ns = 2 * SEC;
	assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
	assert_false(o.mgmt_unhealthy);
	assert_int_equal(o.effective_aggregate_bps, cap);
	/* ...the second in a row cuts by half. */
	input.now_ns = 3 * SEC;
	assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
	assert_true(o.mgmt_unhealthy);
	assert_int_equal(o.effective_aggregate_bps, cap / 100 * 50);
	assert_true(out[0].rate_bps + out[1].rate_bps <= o.effective_aggregate_bps);
	/* Within the hold-off: no second cut yet. */
	input.now_ns = 4 * SEC;
	assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
	assert_int_equal(o.effective_aggregate_bps, cap / 100 * 50);
	/* Retransmits at 10/s alone are enough; down to the floor (25%) and no lower. */
	input.health.rtt_us = 1000;
	input.health.retrans_delta = 10;
	for (__u64 t = 5; t <= 20; t++) {
		input.now_ns = t * SEC;
		assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
		assert_true(o.effective_aggregate_bps >= cap / 100 * 25);
		assert_true(out[0].rate_bps + out[1].rate_bps <= o.effective_aggregate_bps);
	}
	assert_int_equal(o.effective_aggregate_bps, cap / 100 * 25);
	/* Healthy: +5% of the aggregate a second, up to it. */
	input.health.retrans_delta = 0;
	input.now_ns = 21 * SEC;
	assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
	assert_int_equal(o.effective_aggregate_bps, cap / 100 * 25 + cap / 100 * 5);
	input.now_ns = 23 * SEC;
	assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
	assert_int_equal(o.effective_aggregate_bps, cap / 100 * 25 + cap / 100 * 15);
	for (__u64 t = 24; t <= 60; t++) {
		input.now_ns = t * SEC;
		assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
	}
	assert_int_equal(o.effective_aggregate_bps, cap);
	/* No sample: hold. */
	input.health.valid = false;
	input.now_ns = 61 * SEC;
	assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
	assert_int_equal(o.effective_aggregate_bps, cap);
	/*
	 * Noise is no harm: 3x the baseline but only 2 ms above it, and 3
	 * retransmits a second, sample after sample.
	 */
	input.health = (struct ms_policy_health){
	    .valid = true, .rtt_us = 3000, .rtt_baseline_us = 1000, .retrans_delta = 3};
	for (__u64 t = 62; t <= 70; t++) {
		input.now_ns = t * SEC;
		assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
		assert_false(o.mgmt_unhealthy);
	}
	assert_int_equal(o.effective_aggregate_bps, cap);
	/* A bad sample between good ones never adds up to a cut. */
	for (__u64 t = 71; t <= 80; t++) {
		input.health.rtt_us = t % 2 ? 9000 : 1000;
		input.now_ns = t * SEC;
		assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
		assert_false(o.mgmt_unhealthy);
	}
	assert_int_equal(o.effective_aggregate_bps, cap);
	/*
	 * Decisions come between samples too (events): the retransmits a
	 * sample brings are over the time since the previous sample, 3/s here,
	 * not over the 10 ms since that decision.
	 */
	for (__u64 t = 81; t <= 90; t++) {
		input.health = (struct ms_policy_health){.valid = false};
		input.now_ns = t * SEC - 10000000ULL; /* 10 ms before */
		assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
		input.health = (struct ms_policy_health){
		    .valid = true, .rtt_us = 1000, .rtt_baseline_us = 1000, .retrans_delta = 3};
		input.now_ns = t * SEC;
		assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
		assert_false(o.mgmt_unhealthy);
	}
	assert_int_equal(o.effective_aggregate_bps, cap);
	test_free(s);
}

static void test_aimd_learned_baseline(void **state)
{
	struct ms_policy_state *s = new_state();
	struct ms_policy_mig_in in;
	struct ms_policy_mig_out out;
	struct ms_policy_input input = {.n = 0, .migs = &in};
	struct ms_policy_output o = {.migs = &out};
	struct ms_policy_params p;

	(void)state;
	params_1g(&p, MS_POLICY_SRPT);
	p.aimd_retrans_per_s = 0;
	/* No baseline yet: a high RTT alone is not held against anyone. */
	input.health = (struct ms_policy_health){.valid = true, .rtt_us = 5000};
	mig(&in, 1, 4000 * MIB, 0, 1);
	input.n = 1;
	input.now_ns = SEC;
	assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
	assert_false(o.mgmt_unhealthy);
	/* Idle samples teach the baseline... */
	input.n = 0;
	input.health.rtt_us = 400;
	for (__u64 t = 2; t < 40; t++) {
		input.now_ns = t * SEC;
		assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
	}
	/* ...against which a migration's RTT is judged: 1.2 ms is no harm... */
	input.n = 1;
	input.health.rtt_us = 1200;
	for (__u64 t = 40; t < 43; t++) {
		input.now_ns = t * SEC;
		assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
		assert_false(o.mgmt_unhealthy);
	}
	/* ...6 ms, sustained, is. */
	input.health.rtt_us = 6000;
	input.now_ns = 43 * SEC;
	assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
	input.now_ns = 44 * SEC;
	assert_int_equal(ms_policy_decide(&p, s, &input, &o), 0);
	assert_true(o.mgmt_unhealthy);
	assert_true(o.effective_aggregate_bps < 665 * MBIT);
	test_free(s);
}

static void test_params(void **state)
{
	struct ms_policy_state *s = new_state();
	struct ms_policy_params p;
	struct ms_policy_mig_out out[1];
	struct ms_policy_output o = {.migs = out};
	struct ms_policy_input in = {.now_ns = SEC};
	enum ms_policy_kind k;
	char err[128];

	(void)state;
	params_1g(&p, MS_POLICY_SRPT);
	assert_int_equal(ms_policy_params_check(&p, err, sizeof(err)), 0);
	assert_int_equal(p.max_downtime_ms, 500);
	assert_int_equal(p.stall_eps_pct, 4);
	assert_int_equal(p.stall_window_ms, 40000);
	assert_false(p.suspend_allowed);
	p.aimd_beta_pct = 100;
	assert_int_equal(ms_policy_params_check(&p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "aimd_beta_pct"));
	assert_int_equal(ms_policy_decide(&p, s, &in, &o), -EINVAL);
	params_1g(&p, MS_POLICY_SRPT);
	assert_int_equal(p.auto_converge_max_pct, 99);
	assert_true(p.auto_converge_grace);
	p.auto_converge_max_pct = 101;
	assert_int_equal(ms_policy_params_check(&p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "auto_converge_max_pct"));
	p.auto_converge_max_pct = 0;
	assert_int_equal(ms_policy_params_check(&p, err, sizeof(err)), -EINVAL);
	params_1g(&p, MS_POLICY_SRPT);
	in.n = MS_MAX_MIGRATIONS + 1;
	in.migs = (const struct ms_policy_mig_in *)out; /* not read */
	assert_int_equal(ms_policy_decide(&p, s, &in, &o), -E2BIG);
	assert_int_equal(ms_policy_kind_parse("serial", &k), 0);
	assert_int_equal(k, MS_POLICY_SERIAL);
	assert_int_equal(ms_policy_kind_parse("fastest", &k), -EINVAL);
	assert_string_equal(ms_policy_kind_name(MS_POLICY_DEFAULT), "srpt");
	assert_string_equal(ms_policy_action_name(MS_POLICY_ACT_POSTCOPY), "postcopy");
	/* Nothing running: nothing to do, and the state stays consistent. */
	in.n = 0;
	assert_int_equal(ms_policy_decide(&p, s, &in, &o), 0);
	assert_int_equal(o.effective_aggregate_bps, 665 * MBIT);
	test_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_invariants),
	    cmocka_unit_test(test_work_conserving),
	    cmocka_unit_test(test_fair_src_dst),
	    cmocka_unit_test(test_serial_handover),
	    cmocka_unit_test(test_srpt_no_starvation),
	    cmocka_unit_test(test_srpt_convergence_aware),
	    cmocka_unit_test(test_auto_converge),
	    cmocka_unit_test(test_auto_converge_grace_no_later_abort),
	    cmocka_unit_test(test_switchover_boost),
	    cmocka_unit_test(test_escalation_order),
	    cmocka_unit_test(test_escalation_skips_useless_downtime),
	    cmocka_unit_test(test_escalation_after_postcopy_refused),
	    cmocka_unit_test(test_stall_sawtooth),
	    cmocka_unit_test(test_stall_flat),
	    cmocka_unit_test(test_aimd),
	    cmocka_unit_test(test_aimd_follows_a_raise),
	    cmocka_unit_test(test_aimd_learned_baseline),
	    cmocka_unit_test(test_params),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
