/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A pre-copy live-migration simulator that steps the real policy engine
 * (agent/policy/policy.c). Test code: built into build/libsim.a.
 *
 * The model, per VM:
 *   - memory M, dirty rate r (bytes/s) over a working set W (default M): the
 *     pages dirtied during t seconds are W * (1 - exp(-r t / W)), so a dirty
 *     set saturates at W as re-dirtied pages stop counting twice;
 *   - iteration 1 sends all of M; each later iteration sends what was
 *     dirtied during the previous one (QEMU's dirty-bitmap sync). As in
 *     QEMU, a sync happens when the unsent part falls to the threshold
 *     (pages dirtied again while still unsent count once)
 *     bandwidth * downtime limit; if the synced set is still within it, the
 *     guest pauses and the rest is copied: downtime = (set + device state) /
 *     switchover bandwidth;
 *   - QEMU's send rate is its libvirt speed (the policy's speed_mibs, MiB/s);
 *     during switchover it is unthrottled and HTB lets it borrow up to its
 *     ceil from what the other classes leave of the effective aggregate;
 *   - post-copy: the guest moves at once (downtime = device state at the
 *     switchover bandwidth),
 *     the rest is pulled at the allocated rate, nothing is dirtied any more;
 *     suspend: dirtying stops, the downtime runs from the suspend to the end;
 *     abort: the migration fails there; a migration still running at the
 *     horizon fails too;
 *   - "unshaped" is no agent: every migration at once, each unthrottled,
 *     sharing the NIC's line rate equally (TCP), QEMU's default 300 ms limit,
 *     no escalation.
 *   - auto-converge (QEMU's, for a VM started with it): at a dirty-bitmap
 *     sync that ends a period of at least 1 s, if the pages newly dirtied in
 *     the period exceed 50% of the bytes sent in it (throttle-trigger-
 *     threshold) for the second period running, the guest's CPUs are
 *     throttled: 20% first, then 10% more each time, up to 99%; the guest
 *     dirties at dirty_mibs * (1 - throttle);
 * The policy decides every cycle_s, and at once when a migration ends (the
 * agent's job-completed event), with the migrations' job stats as QEMU
 * reports them: remaining is the unsent part of the current set, the dirty
 * rate is what the last sync measured (0 before the first), iteration counts
 * syncs from 1, the auto-converge throttle is shown once > 0 (libvirt omits
 * 0). Management health is not modelled (no AIMD cut).
 *
 * The clairvoyant baseline (sim_optimum()): the best mean completion any
 * schedule reaches knowing every VM in advance, within the agent's
 * configuration (effective aggregate, per-migration max, every running
 * migration at least the floor, downtime at most max_downtime_ms, no
 * post-copy nor suspend). A VM that cannot converge alone on the aggregate
 * (sim_vm_convergeable()) is aborted at once by such a schedule and left out
 * of its mean; ratios to it compare the other VMs' completions only.
 *   - exact: every fixed-priority order of the convergeable VMs is simulated
 *     (identical VMs are interchangeable, so only distinct orders): at each
 *     instant the first running VM of the order gets everything above the
 *     others' floors, re-decided at every step, with max_downtime_ms from
 *     the start. Why this class: without dirtying, mean completion on one
 *     shared link is minimised by SRPT (optimal for 1|r_j,pmtn|sum C_j),
 *     which is itself the fixed-priority schedule of its completion order;
 *     dirtying only adds bytes in proportion to how long a VM's copy is
 *     spread out, which favours serving one at a time even more. That is an
 *     argument, not a proof for this model: the unit tests check the result
 *     against every policy and against brute force.
 *   - lower bound (when the distinct orders exceed SIM_OPT_MAX_ORDERS),
 *     proven for this model: a VM completes after its bulk pass, which
 *     sends all of its memory at QEMU's paced speed but for what its final
 *     copy carries (at most max_downtime_ms at the unpaced aggregate; not
 *     counted). The paced speeds of all migrations sum to at most
 *     MS_SPEED_MARGIN_PCT of the effective aggregate at every instant (class
 *     rates sum to at most the aggregate and the libvirt speed rounds down;
 *     the exception is libvirt's 1 MiB/s minimum, for class rates under
 *     9 Mbit/s). So the bulk passes are jobs of that many bytes on one link
 *     of that capacity, released at the VMs' start times, and preemptive
 *     SRPT, optimal there (1|r_j,pmtn|sum C_j), bounds the mean from below.
 */
#ifndef MS_SIM_MODEL_H
#define MS_SIM_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#define SIM_MIB	     1048576.0
#define SIM_MAX_VMS  64
#define SIM_NAME_LEN 48

struct sim_vm_cfg {
	char name[SIM_NAME_LEN];
	double mem_bytes;
	double dirty_bytes_s;
	double wss_bytes; /* 0: the whole memory */
	double start_s;
	bool postcopy;	    /* started with post-copy enabled */
	bool auto_converge; /* started with auto-converge (VIR_MIGRATE_AUTO_CONVERGE) */
};

struct sim_scenario {
	char name[SIM_NAME_LEN];
	/* Mbit/s. 0 for link and the knobs: derived as the agent's "auto". */
	double nic_mbps;
	double link_mbps;
	double reserve_mbps;
	double aggregate_mbps;
	double max_mbps;
	double min_mbps;
	double horizon_s;
	double dt_s;
	double cycle_s;
	double device_state_bytes;
	size_t n;
	struct sim_vm_cfg vm[SIM_MAX_VMS];
};

enum sim_mode {
	SIM_FAIR = 0,
	SIM_SERIAL,
	SIM_SRPT,
	SIM_UNSHAPED,
	SIM_N_MODES,
};

struct sim_opts {
	enum sim_mode mode;
	bool escalation;
	bool suspend_allowed;
	/*
	 * Not NULL: no policy, the clairvoyant fixed-priority schedule over
	 * these VM indices (every convergeable VM once); mode is ignored.
	 */
	const size_t *order;
};

/* Distinct orders searched at most; above it, the lower bound. */
#define SIM_OPT_MAX_ORDERS 5040

struct sim_optimum {
	double mean_completion_s; /* over the convergeable VMs; 0 when there is none */
	bool exact;		  /* false: the lower bound */
	size_t n;		  /* convergeable VMs */
	size_t orders;		  /* distinct orders simulated (0: not searched) */
	double lower_bound_s;	  /* the proven lower bound on the same mean */
	size_t best_order[SIM_MAX_VMS];
};

struct sim_vm_result {
	double completion_s; /* from the VM's start to its end (or failure) */
	double downtime_ms;
	bool failed;
	bool used_postcopy;
	bool suspended;
	unsigned int downtime_raises;
	char why[SIM_NAME_LEN];
};

struct sim_result {
	double makespan_s; /* first start to last end */
	size_t n;
	struct sim_vm_result vm[SIM_MAX_VMS];
};

const char *sim_mode_name(enum sim_mode mode);
/* Empty scenario with the defaults (1 Gbit NIC, dt 0.05 s, cycle 1 s, 1 h horizon). */
void sim_scenario_init(struct sim_scenario *sc);
/* Fills the "auto" link and knobs as ms_config_resolve() would. */
void sim_scenario_resolve(struct sim_scenario *sc);
int sim_vm_add(struct sim_scenario *sc, const char *name, double mem_mib, double dirty_mibs,
	       double start_s, bool postcopy);
/*
 * INI: [scenario] name, nic_mbps, link_mbps, reserve_mbps, aggregate_mbps,
 * max_mbps, min_mbps, horizon_s, dt_s, cycle_s, device_state_mib; then one
 * [vm NAME] per VM: memory_mib, dirty_mibs, wss_mib, start_s, postcopy,
 * auto_converge.
 * 0 or -EINVAL with err set.
 */
int sim_parse_ini(const char *text, struct sim_scenario *sc, char *err, size_t err_len);
int sim_load_file(const char *path, struct sim_scenario *sc, char *err, size_t err_len);
/* Whether the VM could converge alone on the aggregate (the benchmark's yardstick). */
bool sim_vm_convergeable(const struct sim_scenario *sc, size_t i);
int sim_run(const struct sim_scenario *sc, const struct sim_opts *o, struct sim_result *res);
/* Mean completion over the convergeable VMs of a run (0 when there is none). */
double sim_mean_convergeable(const struct sim_scenario *sc, const struct sim_result *res);
/* The proven lower bound on that mean (see above). */
double sim_lower_bound_s(const struct sim_scenario *sc);
/* The clairvoyant baseline (see above). 0, -ENOMEM, or sim_run's error. */
int sim_optimum(const struct sim_scenario *sc, struct sim_optimum *opt);

#endif /* MS_SIM_MODEL_H */
