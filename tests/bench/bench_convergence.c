// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Convergence benchmark: every scenario given on the command line through
 * the simulator (tests/sim/model.c) under fair, serial, srpt and unshaped,
 * with escalation as the agent runs it (suspend not allowed). Prints one
 * JSON object (tests/bench/convergence.sh writes it to
 * tests/bench/out/convergence.json).
 *
 * Per policy, over every VM of every headline scenario:
 *   mean_completion_s  mean of (end - start), a failed VM counted at the
 *                      time it failed (abort, or the horizon)
 *   max_completion_s, total_s (sum of the scenarios' makespans), failed,
 *   failed_convergeable (VMs that could converge alone on the aggregate,
 *   see sim_vm_convergeable()), max_downtime_ms (over completed VMs),
 *   mean_completion_done_s (completed VMs only).
 * Scenarios whose name starts with "x-" are extras: reported under
 * "scenarios" but left out of the headline figures.
 * default_policy: among fair, serial and srpt, the one with the lowest
 * mean_completion_s and no convergeable VM failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "sim/model.h"

struct agg {
	double sum, done_sum, max, total, max_downtime;
	size_t n, done;
	unsigned int failed, failed_conv;
};

static void add(struct agg *a, const struct sim_scenario *sc, const struct sim_result *r)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct sim_vm_result *v = &r->vm[i];

		a->sum += v->completion_s;
		a->n++;
		if (v->completion_s > a->max)
			a->max = v->completion_s;
		if (v->failed) {
			a->failed++;
			a->failed_conv += sim_vm_convergeable(sc, i);
		} else {
			a->done_sum += v->completion_s;
			a->done++;
			if (v->downtime_ms > a->max_downtime)
				a->max_downtime = v->downtime_ms;
		}
	}
	a->total += r->makespan_s;
}

static void print_agg(const struct agg *a)
{
	printf("{\"mean_completion_s\": %.1f, \"max_completion_s\": %.1f, \"total_s\": %.1f, "
	       "\"failed\": %u, \"failed_convergeable\": %u, \"max_downtime_ms\": %.0f, "
	       "\"mean_completion_done_s\": %.1f}",
	       a->n ? a->sum / a->n : 0, a->max, a->total, a->failed, a->failed_conv,
	       a->max_downtime, a->done ? a->done_sum / a->done : 0);
}

int main(int argc, char **argv)
{
	struct sim_scenario *sc = calloc(argc > 1 ? argc - 1 : 1, sizeof(*sc));
	struct sim_result *res = calloc(1, sizeof(*res));
	struct agg total[SIM_N_MODES] = {0};
	int best = -1, ret = 1;
	char err[256];

	if (!sc || !res || argc < 2) {
		fprintf(stderr, "usage: bench_convergence SCENARIO.ini...\n");
		goto cleanup;
	}
	printf("{\n  \"scenarios\": {");
	for (int f = 1; f < argc; f++) {
		struct sim_scenario *s = &sc[f - 1];
		bool extra;

		if (sim_load_file(argv[f], s, err, sizeof(err))) {
			fprintf(stderr, "bench_convergence: %s\n", err);
			goto cleanup;
		}
		extra = !strncmp(s->name, "x-", 2);
		printf(
		    "%s\n    \"%s\": {\"extra\": %s, \"nic_mbps\": %.0f, \"aggregate_mbps\": %.0f, "
		    "\"vms\": %zu",
		    f > 1 ? "," : "", s->name, extra ? "true" : "false", s->nic_mbps,
		    s->aggregate_mbps, s->n);
		for (int m = 0; m < SIM_N_MODES; m++) {
			struct sim_opts o = {.mode = m, .escalation = true};
			struct agg one = {0};

			if (sim_run(s, &o, res)) {
				fprintf(stderr, "bench_convergence: %s: simulation failed\n",
					s->name);
				goto cleanup;
			}
			add(&one, s, res);
			if (!extra)
				add(&total[m], s, res);
			printf(",\n      \"%s\": ", sim_mode_name(m));
			print_agg(&one);
		}
		printf("}");
	}
	for (int m = SIM_FAIR; m <= SIM_SRPT; m++) {
		const struct agg *a = &total[m];

		if (a->failed_conv)
			continue;
		if (best < 0 || a->sum / a->n < total[best].sum / total[best].n)
			best = m;
	}
	printf("\n  },\n  \"default_policy\": \"%s\",\n  \"engine_default\": \"%s\",\n",
	       best < 0 ? "none" : sim_mode_name(best), ms_policy_kind_name(MS_POLICY_DEFAULT));
	printf("  \"policies\": {");
	for (int m = 0; m < SIM_N_MODES; m++) {
		printf("%s\n    \"%s\": ", m ? "," : "", sim_mode_name(m));
		print_agg(&total[m]);
	}
	if (best >= 0)
		printf("\n  },\n  \"default_vs_fair\": %.3f,\n",
		       (total[best].sum / total[best].n) /
			   (total[SIM_FAIR].sum / total[SIM_FAIR].n));
	else
		printf("\n  },\n  \"default_vs_fair\": null,\n");
	printf("  \"lab\": {\"note\": \"one run with real QEMU: to be filled by the lead\"}\n}\n");
	ret = 0;
cleanup:
	free(res);
	free(sc);
	return ret;
}
