/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The migration policy engine: from a snapshot of the migrations, the knobs
 * and management's health, the tc rate and ceil, the libvirt speed, the max
 * downtime and at most one escalation action for each migration, plus the
 * effective aggregate after AIMD.
 *
 * Pure: no system calls, no clock, no I/O, no global state. Time comes in
 * the input, and everything remembered between decisions (the effective
 * aggregate, the learned RTT baseline, stall trackers, escalation steps,
 * waiting times) lives in struct ms_policy_state, which the caller owns and
 * passes to every decision. Two states give two independent engines.
 *
 * Policies (params.kind):
 *   fair    oVirt's formula: aggregate / max(n_src, n_dst) each, within
 *           [min, max]; n_src counts this host's outgoing and incoming
 *           migrations, n_dst the destination's (its outgoing and incoming,
 *           as its agent answered: agent/control/peer.h) when the caller
 *           knows it.
 *   serial  Hyper-V's: the aggregate (up to max) to one migration at a time,
 *           oldest first; the others are held at the floor. Nothing is
 *           refused.
 *   srpt    shortest expected remaining time first, convergence-aware (the
 *           default: see tests/bench/out/convergence.json). A migration is
 *           convergeable when the bandwidth it could get alone exceeds its
 *           dirty rate by converge_margin_pct, or when its dirty set fits in
 *           max_downtime_ms at that bandwidth. A convergeable migration is
 *           served with at least dirty_rate * margin or not at all (a smaller
 *           share only re-sends pages the guest dirties again); one that
 *           cannot converge gets the floor and escalation, not bandwidth.
 *           Whoever is served keeps its turn while it can converge, unless
 *           a challenger whose dirty rate is measured needs less than half
 *           its expected time (one still in its bulk pass: less than an
 *           eighth): preempting costs a migration its progress
 *           (its dirty set regrows while it waits at the floor). Aging
 *           decides who is next: a migration's key drops by aging_pct/100
 *           s per s it has waited in total, so a stream of shorter
 *           newcomers (whose credit starts at 0) cannot keep a convergeable
 *           one waiting forever.
 *
 * Auto-converge (every policy): QEMU throttles the guest's CPUs of a
 * migration started with VIR_MIGRATE_AUTO_CONVERGE, from 20% up by 10% at a
 * time to auto_converge_max_pct (QEMU's max-cpu-throttle, 99), while the
 * guest dirties faster than the copy progresses; the dirty rate falls
 * roughly with (1 - throttle). The job stats carry the throttle but not the
 * flag, so a throttle > 0 is what says auto-converge is on. While the
 * throttle can still rise, such a migration is convergeable if its dirty
 * rate at the maximum throttle is (so at a lower bandwidth, at the cost of
 * guest CPU), and each rise counts as progress: QEMU is bringing it home,
 * it is neither starved nor escalated. Once throttled to the maximum, its
 * measured dirty rate is judged as any other: if that cannot converge,
 * it gets the floor and escalation. Before QEMU first throttles, nothing
 * tells a guest with auto-converge from one without: with
 * auto_converge_grace, a guest whose measured rate cannot converge keeps
 * its turn for that first fast iteration (at its end QEMU throttles it if
 * it can: at the floor the iteration would never end and QEMU never
 * would), and is judged unable to converge when the next one shows no
 * throttle; the grace does not move its abort deadline, which runs from
 * the first fast iteration. The cost: one iteration of bandwidth for each
 * guest without auto-converge that cannot converge.
 *
 * Invariants, every policy: outgoing rates sum to at most the effective
 * aggregate, floors included (when n * min exceeds it, the floor becomes
 * effective_aggregate / n); the effective aggregate never exceeds
 * link - reserve, so management's reserve is never promised to migrations
 * (with a borrowing ceiling HTB lends it while idle, and management takes it
 * back at once: its rate comes first). Incoming
 * migrations get no class here (the source shapes them); they count in
 * fair's n_src only.
 *
 * The destination (every policy; outgoing migrations): what its agent
 * answered is a limit, never a grant. Each migration gets at most the
 * destination's incoming budget divided among its incoming migrations
 * (dst_budget_bps / dst_incoming). A destination that was asked and did not
 * answer (dst_state SILENT) is taken as overloaded, as oVirt does: the
 * migration gets half of what it had when the silence began per question
 * left unanswered (dst_silent, one a cycle: extra decisions within a cycle
 * halve nothing more), down to the floor (never more than it had); it
 * answers again, the limit goes. An answer that was refused (dst_state REFUSED: malformed,
 * oversized, lying) holds the migration at most at what it had. No
 * destination input can raise a migration above what it gets without one,
 * and what a limit frees goes to the others as a manager's limit does.
 *
 * Ceil: max(rate, min(max, effective aggregate)); a migration in switchover
 * (domain paused for the final copy, where QEMU lifts its own rate limit)
 * gets the effective aggregate, so the pause lasts no longer than it must.
 * With borrow_ceil_bps above max (work-conserving defaults) the ceil is
 * borrow_ceil_bps instead, scaled down in proportion while AIMD has cut the
 * aggregate, and the libvirt speed is set for the ceil, not the rate: the
 * rates still sum to the aggregate and are each class's guarantee, HTB lends
 * what management and default traffic leave, and management keeps its
 * reserve and priority (it is served first while under its rate).
 *
 * Stall detection (per migration, iteration-driven). QEMU's remaining falls
 * during an iteration and jumps back up when the next iteration's dirty set
 * is synced: a saw-tooth. Comparing raw samples with a low-water mark calls
 * a converging migration stalled (why Nova dropped its progress timeout), so
 * progress is measured on the remaining at each iteration's start (the dirty
 * set): progress when it falls below (1 - stall_eps_pct%) of the lowest one
 * since the last progress (the window's minimum; each progress restarts the
 * window). During the bulk pass (iteration <= 1) or without iteration
 * counts, any such fall of the remaining counts. Stalled: stall_iterations
 * iterations without progress, or stall_window_ms without progress (after
 * the bulk pass: with at least two iterations in it, so that one long but
 * converging iteration is not a stall). A migration deliberately held at the
 * floor by serial or srpt is waiting, not stalled: its window restarts.
 *
 * Escalation (params.escalation), one action per decision, at least
 * escalate_interval_ms apart, triggered by a stall (srpt also: a measured
 * dirty rate that cannot converge), never during switchover or post-copy:
 *   1. raise_downtime by downtime_step_ms up to max_downtime_ms, skipped
 *      once the dirty set would not fit in max_downtime_ms at the current
 *      rate (raising cannot help then);
 *   2. postcopy, if the migration was started with post-copy enabled;
 *   3. suspend, if suspend_allowed (pausing stops dirtying: it converges at
 *      any rate, at the cost of downtime for the rest of the copy);
 *   4. abort, once progress_timeout_s passed without progress (for srpt
 *      also: since the migration was first found unable to converge).
 *
 * AIMD on management health, against real harm only: a sample is bad when
 * the RTT exceeds the idle baseline both by aimd_rtt_factor_pct and by
 * aimd_rtt_margin_us in absolute terms (an idle LAN's RTT is tens of
 * microseconds: doubling it harms no manager), or when management
 * retransmitted at aimd_retrans_per_s or more since the previous sample (one
 * retransmit is noise). Management counts as unhealthy after
 * aimd_sustain_samples bad samples in a row. Then the effective aggregate is
 * cut by aimd_beta_pct (at most once per aimd_holdoff_ms, so a cut is seen
 * in the RTT before the next) down to aimd_floor_pct of the configured
 * aggregate; while healthy it grows back by aimd_increase_pct_s of the
 * configured aggregate per second. The baseline is the caller's, or else
 * learned from samples taken while no outgoing migration runs (without one,
 * only retransmits count).
 */
#ifndef MS_POLICY_H
#define MS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "migration.h"

#define MS_POLICY_REASON_LEN 96

enum ms_policy_kind {
	MS_POLICY_FAIR = 0,
	MS_POLICY_SERIAL,
	MS_POLICY_SRPT,
};

#define MS_POLICY_DEFAULT MS_POLICY_SRPT

/*
 * What becomes of the engine's escalation decisions (the escalation key):
 * off (none is taken: no downtime raise, no action), advise (each is
 * reported, none is carried out: for hosts whose manager escalates itself,
 * vdsm's downtime schedule, Nova's completion timeout), act (carried out,
 * within what the manager holds: agent/control/manager.h).
 */
enum ms_escalation_mode {
	MS_ESCALATION_OFF = 0,
	MS_ESCALATION_ADVISE,
	MS_ESCALATION_ACT,
};

#define MS_ESCALATION_DEFAULT MS_ESCALATION_ADVISE

const char *ms_escalation_mode_name(enum ms_escalation_mode mode);
/* "off", "advise", "act" (and 0 = off, 1 = act, as the key was a flag): 0, or -EINVAL. */
int ms_escalation_mode_parse(const char *name, enum ms_escalation_mode *out);

enum ms_policy_action {
	MS_POLICY_ACT_NONE = 0,
	MS_POLICY_ACT_RAISE_DOWNTIME, /* virDomainMigrateSetMaxDowntime(max_downtime_ms) */
	MS_POLICY_ACT_POSTCOPY,	      /* virDomainMigrateStartPostCopy() */
	MS_POLICY_ACT_SUSPEND,	      /* virDomainSuspend() */
	MS_POLICY_ACT_ABORT,	      /* virDomainAbortJob() */
};

struct ms_policy_params {
	enum ms_policy_kind kind;
	/* Bits per second on the wire, as the config's Mbit/s knobs. */
	__u64 link_bps;
	__u64 reserve_bps;
	__u64 aggregate_bps;
	__u64 max_bps;
	__u64 min_bps;
	/*
	 * Work-conserving ceiling: what one migration's class may borrow up
	 * to while management and default traffic leave the link idle, and
	 * what its libvirt speed is set for, so that QEMU does not stop at
	 * the guaranteed share. 0 (or not above max): no borrowing, the ceil
	 * is max and the speed follows the rate, a hard cap.
	 */
	__u64 borrow_ceil_bps;

	bool escalation;	    /* 1; 0 when the manager escalates itself */
	__u32 initial_downtime_ms;  /* 300: QEMU's downtime-limit default */
	__u32 max_downtime_ms;	    /* 500: a TCP retransmit or two, no lost session */
	__u32 downtime_step_ms;	    /* 100 */
	__u32 escalate_interval_ms; /* 10000: lets a step show its effect */
	__u32 stall_eps_pct;	    /* 4 (KubeVirt) */
	__u32 stall_window_ms;	    /* 40000 (KubeVirt) */
	__u32 stall_iterations;	    /* 5 */
	bool suspend_allowed;	    /* 0: it pauses the guest for the rest of the copy */
	__u32 progress_timeout_s;   /* 150 (vdsm's migration_progress_timeout) */

	__u32 converge_margin_pct;   /* 125: served at >= dirty rate * 1.25 */
	__u32 aging_pct;	     /* 50 */
	__u32 auto_converge_max_pct; /* 99: QEMU's max-cpu-throttle default */
	bool auto_converge_grace;    /* 1: a fast guest may have it until QEMU would throttle */

	__u32 aimd_rtt_factor_pct;  /* 200: RTT above twice the idle baseline... */
	__u32 aimd_rtt_margin_us;   /* 5000: ...and 5 ms above it */
	__u32 aimd_retrans_per_s;   /* 5: management retransmits a second; 0 ignores them */
	__u32 aimd_sustain_samples; /* 2: bad samples in a row before a cut */
	__u32 aimd_beta_pct;	    /* 50 */
	__u32 aimd_increase_pct_s;  /* 5 */
	__u32 aimd_floor_pct;	    /* 25 */
	__u32 aimd_holdoff_ms;	    /* 2000 */
};

/* What the caller knows of an outgoing migration's destination (its agent). */
enum ms_policy_dst {
	MS_POLICY_DST_UNKNOWN = 0, /* not asked, or no agent there: local counts only */
	MS_POLICY_DST_ANSWERED,	   /* dst_* below are its latest answer */
	MS_POLICY_DST_SILENT,	   /* asked, no answer (timeout, 5xx, gone): halve */
	MS_POLICY_DST_REFUSED,	   /* its answer was refused: hold; dst_* are the last good */
	MS_POLICY_DST_STATES,
};

/* "unknown", "answered", "silent", "refused"; NULL if out of range. */
const char *ms_policy_dst_name(enum ms_policy_dst state);

struct ms_policy_mig_in {
	__u32 id; /* stable for the migration's life (struct ms_migration.id) */
	enum ms_mig_dir dir;
	__u64 started_ns;
	__u64 mem_total_bytes;
	__u64 remaining_bytes;
	__u64 processed_bytes;
	__u64 dirty_bytes_s; /* ms_job_dirty_bytes_per_s(); 0 when unknown */
	__u64 page_size_bytes;
	__u64 iteration;       /* QEMU's dirty-sync count; 0 when unknown */
	bool postcopy_enabled; /* started with VIR_MIGRATE_POSTCOPY */
	bool in_switchover;    /* paused for the final copy */
	bool in_postcopy;      /* switched to post-copy: runs on the destination */
	bool suspended;	       /* paused by the suspend action */
	bool auto_converge;    /* runs with auto-converge (seen throttling: ms_migration) */
	__u32 throttle_pct;    /* auto-converge's guest CPU throttle now, 0..100 */
	__u32 dst_migrations;  /* the destination's count, this one included; 0: unknown */
	enum ms_policy_dst dst_state;
	/* The destination's incoming budget and how many it divides it among; 0: none. */
	__u64 dst_budget_bps;
	__u32 dst_incoming;
	/* SILENT: questions in a row it left unanswered (one a cycle); 0 counts as 1. */
	__u32 dst_silent;
	/* The speed its manager set (agent/control/manager.h): a ceiling; 0: none. */
	__u32 manager_max_mibs;
};

struct ms_policy_health {
	bool valid;	       /* a sample not judged before: each counts once */
	__u32 rtt_us;	       /* median smoothed RTT of management connections */
	__u32 rtt_baseline_us; /* idle baseline; 0: let the engine learn it */
	__u64 retrans_delta;   /* management retransmits since the previous valid sample */
};

struct ms_policy_input {
	__u64 now_ns;
	size_t n;
	const struct ms_policy_mig_in *migs;
	struct ms_policy_health health;
};

struct ms_policy_mig_out {
	__u32 id;
	__u64 rate_bps; /* 0 for incoming migrations */
	__u64 ceil_bps;
	__u32 speed_mibs; /* ms_speed_mibs_for_rate(rate_bps); 0 for incoming */
	__u32 max_downtime_ms;
	enum ms_policy_action action;
	bool convergeable;
	bool stalled;
	/* fair's max(n_src, n_dst) for this migration (every policy reports it); 0 for incoming. */
	__u32 divisor;
	char reason[MS_POLICY_REASON_LEN];
};

struct ms_policy_output {
	__u64 effective_aggregate_bps;
	bool mgmt_unhealthy;
	/* n entries, in the input's order; the caller provides the array. */
	struct ms_policy_mig_out *migs;
};

/* Per migration; internal to the engine but sized here so the caller can own it. */
struct ms_policy_track {
	bool used;
	bool seen;
	bool held;
	bool served;
	bool postcopy_sent;
	bool suspend_sent;
	bool abort_sent;
	__u32 id;
	__u32 downtime_ms;
	__u32 iters_since;
	__u64 last_iter;
	__u32 last_throttle_pct;
	__u64 fast_iter; /* first iteration whose dirty rate could not converge; 0: none */
	__u64 peak_bytes;
	__u64 anchor_bytes;	 /* raw remaining at the last progress (bulk pass) */
	__u64 peak_anchor_bytes; /* lowest iteration start since then; 0: none yet */
	__u64 anchor_ns;
	__u64 last_action_ns;
	__u64 waited_ns;       /* total time held at the floor by the policy */
	__u64 noconv_since_ns; /* since when it cannot converge; 0 while it can */
	__u64 last_rate_bps;   /* the rate it got at the previous decision; 0: none yet */
	__u64 silent_base_bps; /* what it had when its destination fell silent; 0: not silent */
};

struct ms_policy_state {
	bool started;
	__u64 last_ns;
	__u64 eff_aggregate_bps;
	/* The aggregate allowed at the last decision: eff_aggregate_bps at it means no cut holds.
	 */
	__u64 cap_bps;
	__u64 last_cut_ns;
	/* When the previous health sample was judged (retransmit rate, recovery); 0: none yet. */
	__u64 health_last_ns;
	__u32 learned_rtt_us;
	__u32 bad_samples; /* management samples in a row that showed harm */
	struct ms_policy_track tracks[MS_MAX_MIGRATIONS];
};

void ms_policy_params_init(struct ms_policy_params *p);
/*
 * 0, or -EINVAL when a policy knob is out of range (reason in err). The
 * rates are not checked here: the configuration checked them
 * (include/rates.h), and ms_policy_decide() asserts that they keep the rules.
 */
int ms_policy_params_check(const struct ms_policy_params *p, char *err, size_t err_len);
void ms_policy_state_init(struct ms_policy_state *s);

/*
 * One decision. out->migs must hold in->n entries. 0, -EINVAL for a knob
 * out of range or a NULL array, -E2BIG for more than MS_MAX_MIGRATIONS migrations.
 * The state is left untouched on error.
 */
int ms_policy_decide(const struct ms_policy_params *p, struct ms_policy_state *s,
		     const struct ms_policy_input *in, struct ms_policy_output *out);

const char *ms_policy_kind_name(enum ms_policy_kind kind);
/* "fair", "serial", "srpt": 0, or -EINVAL. */
int ms_policy_kind_parse(const char *name, enum ms_policy_kind *out);
const char *ms_policy_action_name(enum ms_policy_action action);

#endif /* MS_POLICY_H */
