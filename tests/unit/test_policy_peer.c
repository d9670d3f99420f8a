// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The policy engine and the destination's agent (policy.h): fair's
 * max(src, dst) with the divisor reported, the destination's incoming budget
 * under every policy, halving while the destination is silent down to the
 * floor and the recovery when it answers, a refused answer holding the
 * allocation, and that destination input never makes the host send more.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "policy_fixture.h"

static const enum ms_policy_kind kinds[] = {MS_POLICY_FAIR, MS_POLICY_SERIAL, MS_POLICY_SRPT};

/* A convergeable outgoing migration (slow dirty rate), in its second iteration. */
static void mig(struct ms_policy_mig_in *m, __u32 id)
{
	mig_out(m, id, 1024 * MIB, 1 * MIB, 2);
}

static void decide(const struct ms_policy_params *p, struct ms_policy_state *s, __u64 now,
		   struct ms_policy_mig_in *in, size_t n, struct ms_policy_mig_out *out)
{
	struct ms_policy_input input = {.now_ns = now, .n = n, .migs = in};
	struct ms_policy_output o = {.migs = out};

	assert_int_equal(ms_policy_decide(p, s, &input, &o), 0);
}

static void test_dst_names(void **state)
{
	(void)state;
	assert_string_equal(ms_policy_dst_name(MS_POLICY_DST_UNKNOWN), "unknown");
	assert_string_equal(ms_policy_dst_name(MS_POLICY_DST_ANSWERED), "answered");
	assert_string_equal(ms_policy_dst_name(MS_POLICY_DST_SILENT), "silent");
	assert_string_equal(ms_policy_dst_name(MS_POLICY_DST_REFUSED), "refused");
	assert_null(ms_policy_dst_name(MS_POLICY_DST_STATES));
}

/* fair: aggregate / max(n_src, n_dst), and the divisor is reported for the metrics. */
static void test_fair_divisor(void **state)
{
	struct ms_policy_state *s = new_state();
	struct ms_policy_mig_in in[2];
	struct ms_policy_mig_out out[2];
	struct ms_policy_params p;

	(void)state;
	params_1g(&p, MS_POLICY_FAIR);
	mig(&in[0], 1);
	mig(&in[1], 2);
	decide(&p, s, SEC, in, 2, out);
	assert_int_equal(out[0].divisor, 2);
	assert_int_equal(out[0].rate_bps, p.aggregate_bps / 2);
	/* The destination of the first runs 4 migrations (ours included). */
	in[0].dst_state = MS_POLICY_DST_ANSWERED;
	in[0].dst_migrations = 4;
	decide(&p, s, 2 * SEC, in, 2, out);
	assert_int_equal(out[0].divisor, 4);
	assert_int_equal(out[0].rate_bps, p.aggregate_bps / 4);
	assert_int_equal(out[1].divisor, 2);
	assert_int_equal(out[1].rate_bps, p.aggregate_bps / 2);
	/* Every policy reports the divisor. */
	p.kind = MS_POLICY_SRPT;
	decide(&p, s, 3 * SEC, in, 2, out);
	assert_int_equal(out[0].divisor, 4);
	test_free(s);
}

/* Every policy keeps a migration within the destination's budget / its incoming count. */
static void test_budget_every_policy(void **state)
{
	struct ms_policy_mig_in in[2];
	struct ms_policy_mig_out out[2];
	struct ms_policy_params p;

	(void)state;
	for (size_t k = 0; k < 3; k++) {
		struct ms_policy_state *s = new_state();
		__u64 share = 240 * MBIT / 3;

		params_1g(&p, kinds[k]);
		mig(&in[0], 1);
		mig(&in[1], 2);
		for (size_t i = 0; i < 2; i++) {
			in[i].dst_state = MS_POLICY_DST_ANSWERED;
			in[i].dst_migrations = 3;
			in[i].dst_budget_bps = 240 * MBIT;
			in[i].dst_incoming = 3;
		}
		for (__u64 t = 1; t <= 3; t++) {
			decide(&p, s, t * SEC, in, 2, out);
			for (size_t i = 0; i < 2; i++) {
				assert_true(out[i].rate_bps <= share);
				assert_true(out[i].ceil_bps <= share);
				assert_true(out[i].speed_mibs <= ms_speed_mibs_for_rate(share));
			}
		}
		test_free(s);
	}
}

/*
 * Silent: half of what it had at every decision, down to the floor; it
 * answers again, it gets its share back at once.
 */
/* The switchover's burst goes to the destination too: the budget share caps its ceil. */
static void test_budget_holds_in_switchover(void **state)
{
	struct ms_policy_mig_in in[2];
	struct ms_policy_mig_out out[2];
	struct ms_policy_state *s = new_state();
	struct ms_policy_params p;
	__u64 share = 240 * MBIT / 2;

	(void)state;
	params_1g(&p, MS_POLICY_FAIR);
	mig(&in[0], 1);
	mig(&in[1], 2);
	for (size_t i = 0; i < 2; i++) {
		in[i].dst_state = MS_POLICY_DST_ANSWERED;
		in[i].dst_migrations = 2;
		in[i].dst_budget_bps = 240 * MBIT;
		in[i].dst_incoming = 2;
	}
	in[0].in_switchover = true;
	decide(&p, s, SEC, in, 2, out);
	assert_true(out[0].ceil_bps <= share);
	assert_true(out[0].rate_bps <= share);
	test_free(s);
}

static void test_silent_halves_to_floor(void **state)
{
	struct ms_policy_mig_in in[1];
	struct ms_policy_mig_out out[1];
	struct ms_policy_params p;

	(void)state;
	for (size_t k = 0; k < 3; k++) {
		struct ms_policy_state *s = new_state();
		__u64 full, had, t = 1;

		params_1g(&p, kinds[k]);
		mig(&in[0], 1);
		decide(&p, s, t++ * SEC, in, 1, out);
		full = out[0].rate_bps;
		assert_int_equal(full, p.aggregate_bps);
		had = full;
		in[0].dst_state = MS_POLICY_DST_SILENT;
		for (int cycle = 0; cycle < 8; cycle++) {
			__u64 want = had / 2 < p.min_bps ? p.min_bps : had / 2;

			in[0].dst_silent = (__u32)cycle + 1;
			decide(&p, s, t++ * SEC, in, 1, out);
			assert_int_equal(out[0].rate_bps, want);
			assert_true(out[0].ceil_bps <= want);
			assert_true(out[0].speed_mibs <= ms_speed_mibs_for_rate(want));
			/* A second decision in the same cycle (an event) halves nothing more. */
			decide(&p, s, t * SEC - SEC / 2, in, 1, out);
			assert_int_equal(out[0].rate_bps, want);
			had = out[0].rate_bps;
		}
		/* 665 -> 332 -> 166 -> 83 -> 41 -> 20 -> floor 19, and there it stays. */
		assert_int_equal(had, p.min_bps);
		in[0].dst_state = MS_POLICY_DST_ANSWERED;
		decide(&p, s, t++ * SEC, in, 1, out);
		assert_int_equal(out[0].rate_bps, full);
		test_free(s);
	}
}

/* A first decision while silent halves what the policy would give. */
static void test_silent_from_the_start(void **state)
{
	struct ms_policy_state *s = new_state();
	struct ms_policy_mig_in in[1];
	struct ms_policy_mig_out out[1];
	struct ms_policy_params p;

	(void)state;
	params_1g(&p, MS_POLICY_SRPT);
	mig(&in[0], 1);
	in[0].dst_state = MS_POLICY_DST_SILENT;
	decide(&p, s, SEC, in, 1, out);
	assert_int_equal(out[0].rate_bps, p.aggregate_bps / 2);
	test_free(s);
}

/*
 * A refused answer holds the migration at what it had, even when the policy
 * would now give it more (the other migration ended).
 */
static void test_refused_holds(void **state)
{
	struct ms_policy_mig_in in[2];
	struct ms_policy_mig_out out[2];
	struct ms_policy_params p;

	(void)state;
	for (size_t k = 0; k < 3; k++) {
		struct ms_policy_state *s = new_state();
		__u64 had;

		params_1g(&p, kinds[k]);
		mig(&in[0], 1);
		mig(&in[1], 2);
		/* Serial and srpt serve the older first: the one we watch is the younger. */
		decide(&p, s, SEC, in, 2, out);
		had = out[1].rate_bps;
		assert_true(had < p.aggregate_bps);
		in[1].dst_state = MS_POLICY_DST_REFUSED;
		decide(&p, s, 2 * SEC, &in[1], 1, &out[1]);
		assert_int_equal(out[1].rate_bps, had);
		decide(&p, s, 3 * SEC, &in[1], 1, &out[1]);
		assert_int_equal(out[1].rate_bps, had);
		/* A good answer again: the whole aggregate. */
		in[1].dst_state = MS_POLICY_DST_ANSWERED;
		decide(&p, s, 4 * SEC, &in[1], 1, &out[1]);
		assert_int_equal(out[1].rate_bps, p.aggregate_bps);
		test_free(s);
	}
}

/* What a limit frees goes to the others, never above their own limits. */
static void test_freed_goes_to_others(void **state)
{
	struct ms_policy_state *s = new_state();
	struct ms_policy_mig_in in[2];
	struct ms_policy_mig_out out[2];
	struct ms_policy_params p;

	(void)state;
	params_1g(&p, MS_POLICY_FAIR);
	mig(&in[0], 1);
	mig(&in[1], 2);
	in[0].dst_state = MS_POLICY_DST_ANSWERED;
	in[0].dst_budget_bps = 100 * MBIT;
	in[0].dst_incoming = 1;
	decide(&p, s, SEC, in, 2, out);
	assert_int_equal(out[0].rate_bps, 100 * MBIT);
	assert_int_equal(out[1].rate_bps, p.aggregate_bps - 100 * MBIT);
	test_free(s);
}

static __u64 outgoing_sum(const struct ms_policy_mig_in *in, const struct ms_policy_mig_out *out,
			  size_t n)
{
	__u64 sum = 0;

	for (size_t i = 0; i < n; i++)
		if (in[i].dir == MS_MIG_OUTGOING)
			sum += out[i].rate_bps;
	return sum;
}

/*
 * Whatever the destinations answer (lies included: counts of 0 or 2^32-1,
 * budgets of 1 bit/s or 2^64-1, any state), the host sends no more in total
 * than without their answers, each migration stays within its destination's
 * share, and a lone migration never gets more than it would without. Two
 * engines run side by side over the same migrations for several decisions.
 */
static void test_peer_only_lowers(void **state)
{
	static const __u64 budgets[] = {0, 1, 50 * MBIT, 100000 * MBIT, ~0ULL};
	static const __u32 counts[] = {0, 1, 3, 64, 0xffffffffU};
	struct ms_policy_mig_in *plain = test_calloc(MS_MAX_MIGRATIONS, sizeof(*plain));
	struct ms_policy_mig_in *told = test_calloc(MS_MAX_MIGRATIONS, sizeof(*told));
	struct ms_policy_mig_out *o_plain = test_calloc(MS_MAX_MIGRATIONS, sizeof(*o_plain));
	struct ms_policy_mig_out *o_told = test_calloc(MS_MAX_MIGRATIONS, sizeof(*o_told));
	struct ms_policy_params p;

	(void)state;
	srand(14);
	for (size_t k = 0; k < 3; k++) {
		for (int round = 0; round < 200; round++) {
			struct ms_policy_state *s_plain = new_state(), *s_told = new_state();
			size_t n = (size_t)(rand() % 6) + 1;

			params_1g(&p, kinds[k]);
			for (size_t i = 0; i < n; i++) {
				mig(&plain[i], (__u32)i + 1);
				plain[i].remaining_bytes = (__u64)(rand() % 4096 + 1) * MIB;
				plain[i].dirty_bytes_s = (__u64)(rand() % 4) * 20 * MIB;
				plain[i].dir = rand() % 4 ? MS_MIG_OUTGOING : MS_MIG_INCOMING;
				if (rand() % 3 == 0)
					plain[i].manager_max_mibs = (__u32)(rand() % 80) + 1;
			}
			for (__u64 t = 1; t <= 6; t++) {
				memcpy(told, plain, n * sizeof(*told));
				for (size_t i = 0; i < n; i++) {
					told[i].dst_state = (enum ms_policy_dst)(rand() % 4);
					told[i].dst_migrations = counts[rand() % 5];
					told[i].dst_budget_bps = budgets[rand() % 5];
					told[i].dst_incoming = counts[rand() % 5];
					told[i].dst_silent = counts[rand() % 5];
				}
				decide(&p, s_plain, t * SEC, plain, n, o_plain);
				decide(&p, s_told, t * SEC, told, n, o_told);
				assert_true(outgoing_sum(told, o_told, n) <=
					    outgoing_sum(plain, o_plain, n));
				for (size_t i = 0; i < n; i++) {
					__u32 inc = told[i].dst_incoming ? told[i].dst_incoming : 1;

					if (told[i].dir != MS_MIG_OUTGOING)
						continue;
					/* A share below 1 bit/s is 1 bit/s: tc has no rate 0. */
					if (told[i].dst_budget_bps)
						assert_true(o_told[i].rate_bps <=
							    (told[i].dst_budget_bps / inc ?: 1));
					if (n != 1)
						continue;
					assert_true(o_told[i].rate_bps <= o_plain[i].rate_bps);
					assert_true(o_told[i].speed_mibs <= o_plain[i].speed_mibs);
					assert_true(o_told[i].ceil_bps <= o_plain[i].ceil_bps);
				}
			}
			test_free(s_plain);
			test_free(s_told);
		}
	}
	test_free(plain);
	test_free(told);
	test_free(o_plain);
	test_free(o_told);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dst_names),
	    cmocka_unit_test(test_fair_divisor),
	    cmocka_unit_test(test_budget_every_policy),
	    cmocka_unit_test(test_budget_holds_in_switchover),
	    cmocka_unit_test(test_silent_halves_to_floor),
	    cmocka_unit_test(test_silent_from_the_start),
	    cmocka_unit_test(test_refused_holds),
	    cmocka_unit_test(test_freed_goes_to_others),
	    cmocka_unit_test(test_peer_only_lowers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
