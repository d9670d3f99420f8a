// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The simulator (tests/sim/model.c) on the real policy engine: a VM that
 * dirties faster than its bandwidth converges only with escalation, through
 * a raised downtime limit (small working set) or post-copy (large one); the
 * scenario INI parser; and the benchmark's basic ordering on idle VMs.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "sim/model.h"

/* One VM on an aggregate that gives QEMU ~100 MiB/s (902 Mbit/s at 93%). */
static void one_vm(struct sim_scenario *sc, double dirty_mibs, double wss_mib, bool postcopy)
{
	sim_scenario_init(sc);
	sc->nic_mbps = 2000;
	sc->link_mbps = 1900;
	sc->reserve_mbps = 190;
	sc->aggregate_mbps = 902;
	sc->max_mbps = 902;
	sc->min_mbps = 20;
	sc->horizon_s = 900;
	assert_int_equal(sim_vm_add(sc, "busy", 4096, dirty_mibs, 0, postcopy), 0);
	sc->vm[0].wss_bytes = wss_mib * SIM_MIB;
}

static void run(const struct sim_scenario *sc, enum sim_mode mode, bool escalation,
		struct sim_result *r)
{
	struct sim_opts o = {.mode = mode, .escalation = escalation};

	assert_int_equal(sim_run(sc, &o, r), 0);
}

static void test_downtime_escalation_converges(void **state)
{
	struct sim_scenario *sc = test_malloc(sizeof(*sc));
	struct sim_result *r = test_malloc(sizeof(*r));

	(void)state;
	/*
	 * 200 MiB/s over a 60 MiB working set at 100 MiB/s: the dirty set
	 * never fits QEMU's 300 ms default, but fits 400 ms.
	 */
	one_vm(sc, 200, 60, false);
	for (int m = SIM_FAIR; m <= SIM_SRPT; m++) {
		run(sc, m, false, r);
		assert_true(r->vm[0].failed);
		run(sc, m, true, r);
		assert_false(r->vm[0].failed);
		assert_true(r->vm[0].downtime_raises >= 1);
		assert_true(r->vm[0].downtime_ms <= 500);
		assert_false(r->vm[0].used_postcopy);
	}
	test_free(r);
	test_free(sc);
}

static void test_postcopy_escalation_converges(void **state)
{
	struct sim_scenario *sc = test_malloc(sizeof(*sc));
	struct sim_result *r = test_malloc(sizeof(*r));

	(void)state;
	/* Twice its bandwidth over all of its memory: only post-copy helps. */
	one_vm(sc, 200, 0, true);
	assert_false(sim_vm_convergeable(sc, 0));
	for (int m = SIM_FAIR; m <= SIM_SRPT; m++) {
		run(sc, m, false, r);
		assert_true(r->vm[0].failed);
		run(sc, m, true, r);
		assert_false(r->vm[0].failed);
		assert_true(r->vm[0].used_postcopy);
		assert_true(r->vm[0].downtime_ms < 100);
	}
	/* Without post-copy nor suspend, escalation ends in an abort, not at the horizon. */
	sc->vm[0].postcopy = false;
	run(sc, SIM_SRPT, true, r);
	assert_true(r->vm[0].failed);
	assert_true(r->vm[0].completion_s < sc->horizon_s);
	/* With suspend allowed it completes, with a long downtime. */
	{
		struct sim_opts o = {.mode = SIM_SRPT, .escalation = true, .suspend_allowed = true};

		assert_int_equal(sim_run(sc, &o, r), 0);
		assert_false(r->vm[0].failed);
		assert_true(r->vm[0].suspended);
		assert_true(r->vm[0].downtime_ms > 1000);
	}
	test_free(r);
	test_free(sc);
}

static void test_idle_vms(void **state)
{
	struct sim_scenario *sc = test_malloc(sizeof(*sc));
	struct sim_result *r = test_malloc(sizeof(*r));
	double mean[SIM_N_MODES];

	(void)state;
	sim_scenario_init(sc);
	for (int i = 0; i < 4; i++)
		assert_int_equal(sim_vm_add(sc, "idle", 1024, 0, 0, false), 0);
	sim_scenario_resolve(sc);
	for (int m = 0; m < SIM_N_MODES; m++) {
		double sum = 0;

		run(sc, m, true, r);
		for (size_t i = 0; i < r->n; i++) {
			assert_false(r->vm[i].failed);
			/* QEMU's 300 ms limit, plus the device state (not in its estimate). */
			assert_true(r->vm[i].downtime_ms <= 450);
			sum += r->vm[i].completion_s;
		}
		mean[m] = sum / r->n;
	}
	/* One at a time: the mean is (1+2+3+4)/4 of one, against 4 of one when shared. */
	assert_true(mean[SIM_SERIAL] < 0.7 * mean[SIM_FAIR]);
	assert_true(mean[SIM_SRPT] < 0.7 * mean[SIM_FAIR]);
	test_free(r);
	test_free(sc);
}

static void test_ini(void **state)
{
	struct sim_scenario *sc = test_malloc(sizeof(*sc));
	char err[128];
	static const char good[] = "# comment\n"
				   "[scenario]\n"
				   "name = two\n"
				   "nic_mbps = 10000\n"
				   "\n"
				   "[vm a]\n"
				   "memory_mib = 2048\n"
				   "dirty_mibs = 50\n"
				   "postcopy = 1\n"
				   "[vm b]\n"
				   "memory_mib = 1024\n"
				   "start_s = 5\n"
				   "wss_mib = 100\n";

	(void)state;
	assert_int_equal(sim_parse_ini(good, sc, err, sizeof(err)), 0);
	assert_string_equal(sc->name, "two");
	assert_int_equal(sc->n, 2);
	assert_string_equal(sc->vm[0].name, "a");
	assert_true(sc->vm[0].postcopy);
	assert_true(sc->vm[0].dirty_bytes_s == 50 * SIM_MIB);
	assert_true(sc->vm[1].start_s == 5);
	/* The agent's auto values. */
	assert_true(sc->link_mbps == 9500);
	assert_true(sc->aggregate_mbps == 6650);
	assert_true(sc->min_mbps == 190);
	assert_int_equal(sim_parse_ini("[vm x]\ndirty_mibs = 5\n", sc, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "memory_mib"));
	assert_int_equal(sim_parse_ini("[scenario]\nspeed = 1\n", sc, err, sizeof(err)), -EINVAL);
	assert_int_equal(sim_parse_ini("[vm x]\nmemory_mib = -1\n", sc, err, sizeof(err)), -EINVAL);
	assert_int_equal(sim_parse_ini("[bogus]\n", sc, err, sizeof(err)), -EINVAL);
	test_free(sc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_downtime_escalation_converges),
	    cmocka_unit_test(test_postcopy_escalation_converges),
	    cmocka_unit_test(test_idle_vms),
	    cmocka_unit_test(test_ini),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
