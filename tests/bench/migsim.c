// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * migsim: runs one scenario (an INI file under tests/sim/scenarios) through the
 * simulator under every policy and prints, per policy and VM, the completion
 * time, the downtime and how it ended.
 *
 *   migsim [-n] [-s] SCENARIO.ini
 *     -n  no escalation (policies only shape)
 *     -s  allow the suspend action
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sim/model.h"

int main(int argc, char **argv)
{
	struct sim_opts o = {.escalation = true};
	struct sim_scenario *sc = calloc(1, sizeof(*sc));
	struct sim_result *res = calloc(1, sizeof(*res));
	char err[256];
	int opt, ret = 1;

	if (!sc || !res)
		goto cleanup;
	while ((opt = getopt(argc, argv, "ns")) != -1) {
		if (opt == 'n')
			o.escalation = false;
		else if (opt == 's')
			o.suspend_allowed = true;
		else
			goto usage;
	}
	if (optind != argc - 1)
		goto usage;
	if (sim_load_file(argv[optind], sc, err, sizeof(err))) {
		fprintf(stderr, "migsim: %s\n", err);
		goto cleanup;
	}
	printf("scenario %s: NIC %.0f Mbit/s, link %.0f, reserve %.0f, aggregate %.0f, "
	       "max %.0f, min %.0f\n",
	       sc->name, sc->nic_mbps, sc->link_mbps, sc->reserve_mbps, sc->aggregate_mbps,
	       sc->max_mbps, sc->min_mbps);
	for (int m = 0; m < SIM_N_MODES; m++) {
		double sum = 0;
		int failed = 0;

		o.mode = m;
		if (sim_run(sc, &o, res)) {
			fprintf(stderr, "migsim: %s: simulation failed\n", sim_mode_name(m));
			goto cleanup;
		}
		printf("\n%-8s %-12s %12s %12s  %s\n", sim_mode_name(m), "vm", "completion_s",
		       "downtime_ms", "end");
		for (size_t i = 0; i < res->n; i++) {
			const struct sim_vm_result *r = &res->vm[i];

			printf("%-8s %-12s %12.1f %12.0f  %s%s%s\n", "", sc->vm[i].name,
			       r->completion_s, r->downtime_ms, r->failed ? "FAILED: " : "", r->why,
			       r->used_postcopy ? " (post-copy)" : "");
			sum += r->completion_s;
			failed += r->failed;
		}
		printf("%-8s mean %.1f s, makespan %.1f s, failed %d\n", "",
		       res->n ? sum / res->n : 0, res->makespan_s, failed);
	}
	ret = 0;
	goto cleanup;
usage:
	fprintf(stderr, "usage: migsim [-n] [-s] SCENARIO.ini\n");
	ret = 2;
cleanup:
	free(res);
	free(sc);
	return ret;
}
