// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The loop's budget for waiting on libvirt (waitbudget.h), driven with made-up
 * times: a daemon that answers every call slowly holds the loop about a second
 * at a stretch, then the loop runs free; a normal daemon is never held back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "waitbudget.h"

#define MS_NS 1000000ULL

/*
 * Calls of call_ms each, one after the other, starting at *now_ns while the
 * budget allows. Returns how many ran; *now_ns ends after the last one.
 */
static int calls_in_a_row(struct ms_wait_budget *b, __u64 *now_ns, __u64 call_ms, int max_calls)
{
	int n = 0;

	while (n < max_calls && ms_wait_budget_allows(b, *now_ns)) {
		*now_ns += call_ms * MS_NS;
		ms_wait_budget_spend(b, call_ms * MS_NS, *now_ns);
		n++;
	}
	return n;
}

/* 1.9 s per call, just under the call timeout: one call, then a hold. */
static void test_one_slow_call_then_free_running(void **state)
{
	struct ms_wait_budget b;
	__u64 now = 1000 * MS_NS, hold_us;

	(void)state;
	ms_wait_budget_init(&b, now);
	assert_int_equal(calls_in_a_row(&b, &now, 1900, 10), 1);
	hold_us = ms_wait_budget_hold_us(&b, now);
	/* 500 000 - 1 900 000 + 950 000 = -450 000 tokens: 700 000 to earn, at half rate. */
	assert_int_equal(hold_us, 1400000);
	assert_false(ms_wait_budget_allows(&b, now + (hold_us - 1000) * 1000));
	assert_true(ms_wait_budget_allows(&b, now + hold_us * 1000));
	assert_int_equal(ms_wait_budget_hold_us(&b, now + hold_us * 1000), 0);
}

/* 300 ms per call: the loop waits about a second (plus the call in progress). */
static void test_slow_calls_stop_after_about_a_second(void **state)
{
	struct ms_wait_budget b;
	__u64 now = 0;
	int n;

	(void)state;
	ms_wait_budget_init(&b, now);
	n = calls_in_a_row(&b, &now, 300, 100);
	/* 4 calls: 500 - 4*300 + 1200/2 = -100 ms of tokens; 3 would leave +50. */
	assert_int_equal(n, 4);
	assert_true(now <= 1000 * MS_NS + 300 * MS_NS);
	assert_false(ms_wait_budget_allows(&b, now));
	/* Then at least a budget of free running (hysteresis: half full again). */
	assert_true(ms_wait_budget_hold_us(&b, now) >= MS_WAIT_BUDGET_US);
}

/* Whatever the calls' length, the loop waits at most about half its time. */
static void test_half_the_time_at_most(void **state)
{
	static const __u64 call_ms[] = {5, 40, 300, 1900};

	(void)state;
	for (size_t i = 0; i < sizeof(call_ms) / sizeof(call_ms[0]); i++) {
		struct ms_wait_budget b;
		__u64 now = 0, waited_ms = 0;

		ms_wait_budget_init(&b, now);
		/* A cycle every 100 ms that would call all the time, for 600 s. */
		while (now < 600000 * MS_NS) {
			waited_ms += call_ms[i] * (__u64)calls_in_a_row(&b, &now, call_ms[i], 1000);
			now += 100 * MS_NS;
		}
		print_message("calls of %llu ms: waited %.1f%% of the time\n",
			      (unsigned long long)call_ms[i], 100.0 * (double)waited_ms / 600000.0);
		assert_true(waited_ms * 100 <= 51 * 600000ULL);
	}
}

/*
 * A normal daemon: 64 migrations, a listing and two calls each per 1 s
 * cycle at 2 ms a call (258 ms of waiting per second), and a burst of events
 * on top: never held back.
 */
static void test_normal_daemon_never_held(void **state)
{
	struct ms_wait_budget b;
	__u64 now = 0;

	(void)state;
	ms_wait_budget_init(&b, now);
	for (int cycle = 0; cycle < 600; cycle++) {
		__u64 start = now;

		assert_int_equal(calls_in_a_row(&b, &now, 2, 1 + 2 * 64), 1 + 2 * 64);
		if (cycle % 60 == 0)
			assert_int_equal(calls_in_a_row(&b, &now, 2, 50), 50);
		now = start + 1000 * MS_NS;
	}
}

/* A wait never counts twice, and time going backwards earns nothing. */
static void test_clock_oddities(void **state)
{
	struct ms_wait_budget b;

	(void)state;
	ms_wait_budget_init(&b, 10 * MS_NS);
	assert_false(ms_wait_budget_spend(&b, 400 * MS_NS, 5 * MS_NS));
	assert_int_equal(b.tokens_us, MS_WAIT_BUDGET_US - 400000);
	assert_true(ms_wait_budget_allows(&b, 1 * MS_NS));
	assert_int_equal(b.tokens_us, MS_WAIT_BUDGET_US - 400000);
	/* Only the spend that empties it reports it. */
	assert_true(ms_wait_budget_spend(&b, 200 * MS_NS, 10 * MS_NS));
	assert_false(ms_wait_budget_spend(&b, 200 * MS_NS, 10 * MS_NS));
	assert_false(ms_wait_budget_allows(&b, 10 * MS_NS));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_slow_call_then_free_running),
	    cmocka_unit_test(test_slow_calls_stop_after_about_a_second),
	    cmocka_unit_test(test_half_the_time_at_most),
	    cmocka_unit_test(test_normal_daemon_never_held),
	    cmocka_unit_test(test_clock_oddities),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
