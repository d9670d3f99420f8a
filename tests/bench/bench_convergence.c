// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Convergence benchmark: every scenario given on the command line through
 * the simulator (tests/sim/model.h) under fair, serial, srpt and unshaped,
 * with escalation as the agent runs it (suspend not allowed), and against
 * the clairvoyant baseline (sim_optimum()). Prints one JSON object
 * (tests/bench/convergence.sh writes it to tests/bench/out/convergence.json).
 *
 * Per policy, over every VM of every headline scenario:
 *   mean_completion_s  mean of (end - start), a failed VM counted at the
 *                      time it failed (abort, or the horizon)
 *   max_completion_s, total_s (sum of the scenarios' makespans), failed,
 *   failed_convergeable (VMs that could converge alone on the aggregate,
 *   see sim_vm_convergeable()), max_downtime_ms (over completed VMs),
 *   mean_completion_done_s (completed VMs only),
 *   ratio_to_optimum   the policy's mean completion over the convergeable
 *                      VMs divided by the optimum's (null without any).
 * optimum: {mean_completion_s: the baseline's mean over the convergeable
 * VMs, exact: whether every scenario's figure is an exhaustive search
 * rather than the lower bound}; see tests/sim/model.h for both.
 * Scenarios whose name starts with "x-" are extras and those starting with
 * "ac-" (auto-converge guests) a set of their own: both are reported under
 * "scenarios" and left out of the headline figures; the "ac-" set has its
 * own "auto_converge": {"optimum", "policies"}.
 * default_policy: among fair, serial and srpt, the one with the lowest
 * mean_completion_s and no convergeable VM failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "sim/model.h"

struct agg {
	double sum, done_sum, max, total, max_downtime, conv_sum;
	size_t n, done, conv_n;
	unsigned int failed, failed_conv;
};

/* The baseline over a set of scenarios: VM-weighted. */
struct opt_agg {
	double sum;
	size_t n;
	bool exact;
};

static void add(struct agg *a, const struct sim_scenario *sc, const struct sim_result *r)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct sim_vm_result *v = &r->vm[i];
		bool conv = sim_vm_convergeable(sc, i);

		a->sum += v->completion_s;
		a->n++;
		if (conv) {
			a->conv_sum += v->completion_s;
			a->conv_n++;
		}
		if (v->completion_s > a->max)
			a->max = v->completion_s;
		if (v->failed) {
			a->failed++;
			a->failed_conv += conv;
		} else {
			a->done_sum += v->completion_s;
			a->done++;
			if (v->downtime_ms > a->max_downtime)
				a->max_downtime = v->downtime_ms;
		}
	}
	a->total += r->makespan_s;
}

static void add_opt(struct opt_agg *o, const struct sim_optimum *opt)
{
	o->sum += opt->mean_completion_s * (double)opt->n;
	o->n += opt->n;
	o->exact = o->exact && opt->exact;
}

static void print_opt(const struct opt_agg *o)
{
	if (o->n)
		printf("{\"mean_completion_s\": %.1f, \"exact\": %s}", o->sum / (double)o->n,
		       o->exact ? "true" : "false");
	else
		printf("{\"mean_completion_s\": null, \"exact\": %s}", o->exact ? "true" : "false");
}

static void print_agg(const struct agg *a, const struct opt_agg *o)
{
	printf("{\"mean_completion_s\": %.1f, \"max_completion_s\": %.1f, \"total_s\": %.1f, "
	       "\"failed\": %u, \"failed_convergeable\": %u, \"max_downtime_ms\": %.0f, "
	       "\"mean_completion_done_s\": %.1f, ",
	       a->n ? a->sum / a->n : 0, a->max, a->total, a->failed, a->failed_conv,
	       a->max_downtime, a->done ? a->done_sum / a->done : 0);
	if (a->conv_n && o->n && o->sum > 0)
		printf("\"ratio_to_optimum\": %.3f}",
		       (a->conv_sum / (double)a->conv_n) / (o->sum / (double)o->n));
	else
		printf("\"ratio_to_optimum\": null}");
}

static void print_policies(const struct agg *total, const struct opt_agg *o, const char *indent)
{
	for (int m = 0; m < SIM_N_MODES; m++) {
		printf("%s\n%s\"%s\": ", m ? "," : "", indent, sim_mode_name(m));
		print_agg(&total[m], o);
	}
}

int main(int argc, char **argv)
{
	struct sim_scenario *sc = calloc(argc > 1 ? argc - 1 : 1, sizeof(*sc));
	struct sim_result *res = calloc(1, sizeof(*res));
	struct sim_optimum *opt = calloc(1, sizeof(*opt));
	struct agg total[SIM_N_MODES] = {0}, ac_total[SIM_N_MODES] = {0};
	struct opt_agg opt_total = {.exact = true}, ac_opt = {.exact = true};
	int best = -1, ret = 1;
	char err[256];

	if (!sc || !res || !opt || argc < 2) {
		fprintf(stderr, "usage: bench_convergence SCENARIO.ini...\n");
		goto cleanup;
	}
	printf("{\n  \"scenarios\": {");
	for (int f = 1; f < argc; f++) {
		struct sim_scenario *s = &sc[f - 1];
		struct opt_agg one_opt = {.exact = true};
		bool extra, ac;

		if (sim_load_file(argv[f], s, err, sizeof(err))) {
			fprintf(stderr, "bench_convergence: %s\n", err);
			goto cleanup;
		}
		ac = !strncmp(s->name, "ac-", 3);
		extra = ac || !strncmp(s->name, "x-", 2);
		if (sim_optimum(s, opt)) {
			fprintf(stderr, "bench_convergence: %s: baseline failed\n", s->name);
			goto cleanup;
		}
		add_opt(&one_opt, opt);
		if (ac)
			add_opt(&ac_opt, opt);
		else if (!extra)
			add_opt(&opt_total, opt);
		printf(
		    "%s\n    \"%s\": {\"extra\": %s, \"nic_mbps\": %.0f, \"aggregate_mbps\": %.0f, "
		    "\"vms\": %zu,\n      \"optimum\": ",
		    f > 1 ? "," : "", s->name, extra ? "true" : "false", s->nic_mbps,
		    s->aggregate_mbps, s->n);
		print_opt(&one_opt);
		for (int m = 0; m < SIM_N_MODES; m++) {
			struct sim_opts o = {.mode = m, .escalation = true};
			struct agg one = {0};

			if (sim_run(s, &o, res)) {
				fprintf(stderr, "bench_convergence: %s: simulation failed\n",
					s->name);
				goto cleanup;
			}
			add(&one, s, res);
			if (ac)
				add(&ac_total[m], s, res);
			else if (!extra)
				add(&total[m], s, res);
			printf(",\n      \"%s\": ", sim_mode_name(m));
			print_agg(&one, &one_opt);
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
	printf("  \"optimum\": ");
	print_opt(&opt_total);
	printf(",\n  \"policies\": {");
	print_policies(total, &opt_total, "    ");
	if (best >= 0)
		printf("\n  },\n  \"default_vs_fair\": %.3f,\n",
		       (total[best].sum / total[best].n) /
			   (total[SIM_FAIR].sum / total[SIM_FAIR].n));
	else
		printf("\n  },\n  \"default_vs_fair\": null,\n");
	printf("  \"auto_converge\": {\n    \"optimum\": ");
	print_opt(&ac_opt);
	printf(",\n    \"policies\": {");
	print_policies(ac_total, &ac_opt, "      ");
	printf("\n    }\n  },\n");
	printf("  \"lab\": {\"note\": \"one run with real QEMU: to be filled by the lead\"}\n}\n");
	ret = 0;
cleanup:
	free(opt);
	free(res);
	free(sc);
	return ret;
}
