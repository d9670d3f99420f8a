// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The simulator (tests/sim/model.c) on the real policy engine: a VM that
 * dirties faster than its bandwidth converges only with escalation, through
 * a raised downtime limit (small working set) or post-copy (large one), or
 * with QEMU's auto-converge, which the policies let finish; the scenario INI
 * parser; the benchmark's basic ordering on idle VMs; and the clairvoyant
 * baseline: its search equals brute force, it is no worse than any policy
 * and no better than its lower bound on every scenario of the benchmark.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

/* Twice its bandwidth over all of its memory: only auto-converge brings it home. */
static void test_auto_converge_converges(void **state)
{
	struct sim_scenario *sc = test_malloc(sizeof(*sc));
	struct sim_result *r = test_malloc(sizeof(*r));

	(void)state;
	one_vm(sc, 200, 0, false);
	assert_false(sim_vm_convergeable(sc, 0));
	run(sc, SIM_SRPT, true, r);
	assert_true(r->vm[0].failed);
	sc->vm[0].auto_converge = true;
	assert_true(sim_vm_convergeable(sc, 0));
	for (int m = SIM_FAIR; m <= SIM_SRPT; m++) {
		run(sc, m, true, r);
		assert_false(r->vm[0].failed);
		assert_false(r->vm[0].used_postcopy);
		assert_true(r->vm[0].downtime_ms <= 500);
	}
	test_free(r);
	test_free(sc);
}

/* Three VMs that differ, on a 1 Gbit/s NIC. */
static void three_vms(struct sim_scenario *sc, bool two_alike)
{
	sim_scenario_init(sc);
	assert_int_equal(sim_vm_add(sc, "a", 3072, 10, 0, false), 0);
	assert_int_equal(sim_vm_add(sc, "b", 1024, two_alike ? 10 : 0, 0, false), 0);
	assert_int_equal(sim_vm_add(sc, "c", two_alike ? 1024 : 2048, 10, 0, false), 0);
	sim_scenario_resolve(sc);
}

/* The search, with identical VMs merged, finds what every permutation gives. */
static void test_optimum_is_brute_force(void **state)
{
	static const size_t perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
					   {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
	struct sim_scenario *sc = test_malloc(sizeof(*sc));
	struct sim_result *r = test_malloc(sizeof(*r));
	struct sim_optimum *opt = test_malloc(sizeof(*opt));

	(void)state;
	for (int alike = 0; alike <= 1; alike++) {
		double best = 1e300, worst = 0;

		three_vms(sc, alike);
		for (size_t k = 0; k < 6; k++) {
			struct sim_opts o = {.order = perms[k]};
			double mean;

			assert_int_equal(sim_run(sc, &o, r), 0);
			for (size_t i = 0; i < 3; i++)
				assert_false(r->vm[i].failed);
			mean = sim_mean_convergeable(sc, r);
			best = mean < best ? mean : best;
			worst = mean > worst ? mean : worst;
		}
		assert_int_equal(sim_optimum(sc, opt), 0);
		assert_true(opt->exact);
		assert_int_equal(opt->n, 3);
		assert_int_equal(opt->orders, alike ? 3 : 6);
		assert_float_equal(opt->mean_completion_s, best, 1e-9);
		/* The order matters, so the search is not vacuous. */
		assert_true(worst > 1.2 * best);
		/* Shortest first: b (1 GiB) leads. */
		assert_int_equal(opt->best_order[0], 1);
		assert_true(opt->lower_bound_s <= opt->mean_completion_s);
		assert_true(opt->lower_bound_s > 0.5 * opt->mean_completion_s);
	}
	test_free(opt);
	test_free(r);
	test_free(sc);
}

/*
 * On every scenario of the benchmark: lower bound <= baseline <= each
 * policy, over the VMs that can converge. Run from the top of the tree.
 */
static void test_optimum_bounds_every_scenario(void **state)
{
	struct sim_scenario *sc = test_malloc(sizeof(*sc));
	struct sim_result *r = test_malloc(sizeof(*r));
	struct sim_optimum *opt = test_malloc(sizeof(*opt));
	DIR *dir = opendir("tests/sim/scenarios");
	struct dirent *de;
	int checked = 0;
	char path[512], err[256];

	(void)state;
	assert_non_null(dir);
	while ((de = readdir(dir))) {
		size_t len = strlen(de->d_name);

		if (len < 5 || strcmp(de->d_name + len - 4, ".ini"))
			continue;
		snprintf(path, sizeof(path), "tests/sim/scenarios/%s", de->d_name);
		assert_int_equal(sim_load_file(path, sc, err, sizeof(err)), 0);
		assert_int_equal(sim_optimum(sc, opt), 0);
		if (opt->lower_bound_s > opt->mean_completion_s + 1e-9)
			fail_msg("%s: lower bound %.2f s above the baseline %.2f s", sc->name,
				 opt->lower_bound_s, opt->mean_completion_s);
		for (int m = SIM_FAIR; m <= SIM_SRPT && opt->n; m++) {
			double mean;

			run(sc, m, true, r);
			mean = sim_mean_convergeable(sc, r);
			if (mean < opt->mean_completion_s - 1e-9)
				fail_msg("%s: %s %.1f s beats the baseline %.1f s", sc->name,
					 sim_mode_name(m), mean, opt->mean_completion_s);
		}
		checked++;
	}
	closedir(dir);
	assert_true(checked >= 10);
	test_free(opt);
	test_free(r);
	test_free(sc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_downtime_escalation_converges),
	    cmocka_unit_test(test_postcopy_escalation_converges),
	    cmocka_unit_test(test_idle_vms),
	    cmocka_unit_test(test_ini),
	    cmocka_unit_test(test_auto_converge_converges),
	    cmocka_unit_test(test_optimum_is_brute_force),
	    cmocka_unit_test(test_optimum_bounds_every_scenario),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
