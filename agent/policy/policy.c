// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The migration policy engine; see policy.h for the model. Pure. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "rates.h"

#define NS_PER_MS 1000000ULL
#define NS_PER_S  1000000000ULL
/* QEMU's throttle-trigger-threshold default: dirtied vs sent, percent. */
#define AC_TRIGGER_PCT 50ULL
/*
 * A challenger still in its bulk pass preempts only if its bulk alone needs
 * less than 1/8 of the incumbent's expected time: its dirty rate is not
 * known yet, and a heavy writer would waste the turn it took.
 */
#define PREEMPT_BULK_DIV 8

/* What a migration does with a class rate: QEMU is paced at MS_SPEED_MARGIN_PCT of it. */
static __u64 stream_bytes_s(__u64 rate_bps)
{
	return rate_bps / 8 / 100 * MS_SPEED_MARGIN_PCT;
}

/* The class rate whose pacing lets QEMU send bytes_s of migration stream. */
static __u64 rate_for_stream(__u64 bytes_s)
{
	return bytes_s * 8 / MS_SPEED_MARGIN_PCT * 100;
}

void ms_policy_params_init(struct ms_policy_params *p)
{
	memset(p, 0, sizeof(*p));
	p->kind = MS_POLICY_DEFAULT;
	p->escalation = true;
	p->initial_downtime_ms = 300;
	p->max_downtime_ms = 500;
	p->downtime_step_ms = 100;
	p->escalate_interval_ms = 10000;
	p->stall_eps_pct = 4;
	p->stall_window_ms = 40000;
	p->stall_iterations = 5;
	p->suspend_allowed = false;
	p->progress_timeout_s = 150;
	p->converge_margin_pct = 125;
	p->aging_pct = 50;
	p->auto_converge_max_pct = 99;
	p->auto_converge_grace = true;
	p->aimd_rtt_factor_pct = 200;
	p->aimd_rtt_margin_us = 5000;
	p->aimd_retrans_per_s = 5;
	p->aimd_sustain_samples = 2;
	p->aimd_beta_pct = 50;
	p->aimd_increase_pct_s = 5;
	p->aimd_floor_pct = 25;
	p->aimd_holdoff_ms = 2000;
}

int ms_policy_params_check(const struct ms_policy_params *p, char *err, size_t err_len)
{
	const char *why = NULL;

	if (p->kind > MS_POLICY_SRPT)
		why = "policy: fair, serial or srpt";
	else if (!p->initial_downtime_ms || p->initial_downtime_ms > p->max_downtime_ms)
		why = "initial_downtime_ms must be in 1..max_downtime_ms";
	else if (!p->downtime_step_ms)
		why = "downtime_step_ms must be > 0";
	else if (p->stall_eps_pct >= 100)
		why = "stall_eps_pct must be < 100";
	else if (!p->stall_window_ms || !p->stall_iterations)
		why = "stall_window_ms and stall_iterations must be > 0";
	else if (!p->progress_timeout_s)
		why = "progress_timeout_s must be > 0";
	else if (p->converge_margin_pct < 100 || p->converge_margin_pct > 1000)
		why = "converge_margin_pct must be in 100..1000";
	else if (p->aging_pct > 1000)
		why = "aging_pct must be in 0..1000";
	else if (!p->auto_converge_max_pct || p->auto_converge_max_pct > 100)
		why = "auto_converge_max_pct must be in 1..100";
	else if (p->aimd_rtt_factor_pct <= 100)
		why = "aimd_rtt_factor_pct must be > 100";
	else if (!p->aimd_sustain_samples)
		why = "aimd_sustain_samples must be >= 1";
	else if (!p->aimd_beta_pct || p->aimd_beta_pct >= 100)
		why = "aimd_beta_pct must be in 1..99";
	else if (!p->aimd_floor_pct || p->aimd_floor_pct > 100)
		why = "aimd_floor_pct must be in 1..100";
	else if (p->aimd_increase_pct_s > 100)
		why = "aimd_increase_pct_s must be in 0..100";
	if (!why)
		return 0;
	if (err && err_len)
		snprintf(err, err_len, "%s", why);
	return -EINVAL;
}

void ms_policy_state_init(struct ms_policy_state *s)
{
	memset(s, 0, sizeof(*s));
}

static const char *const kind_names[] = {
    [MS_POLICY_FAIR] = "fair",
    [MS_POLICY_SERIAL] = "serial",
    [MS_POLICY_SRPT] = "srpt",
};

static const char *const escalation_names[] = {
    [MS_ESCALATION_OFF] = "off",
    [MS_ESCALATION_ADVISE] = "advise",
    [MS_ESCALATION_ACT] = "act",
};

#define N_NAMES(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *name_of(const char *const *names, int n, int value)
{
	return value >= 0 && value < n ? names[value] : "?";
}

/* The value whose name is name, or -EINVAL. */
static int value_of(const char *const *names, int n, const char *name)
{
	for (int v = 0; v < n; v++)
		if (!strcmp(name, names[v]))
			return v;
	return -EINVAL;
}

const char *ms_policy_kind_name(enum ms_policy_kind kind)
{
	return name_of(kind_names, N_NAMES(kind_names), kind);
}

int ms_policy_kind_parse(const char *name, enum ms_policy_kind *out)
{
	int v = value_of(kind_names, N_NAMES(kind_names), name);

	if (v < 0)
		return v;
	*out = v;
	return 0;
}

const char *ms_escalation_mode_name(enum ms_escalation_mode mode)
{
	return name_of(escalation_names, N_NAMES(escalation_names), mode);
}

int ms_escalation_mode_parse(const char *name, enum ms_escalation_mode *out)
{
	int v = value_of(escalation_names, N_NAMES(escalation_names), name);

	/* The key was a flag: 0 and 1 still mean off and act. */
	if (!strcmp(name, "0"))
		v = MS_ESCALATION_OFF;
	else if (!strcmp(name, "1"))
		v = MS_ESCALATION_ACT;
	if (v < 0)
		return v;
	*out = v;
	return 0;
}

const char *ms_policy_action_name(enum ms_policy_action action)
{
	switch (action) {
	case MS_POLICY_ACT_NONE:
		return "none";
	case MS_POLICY_ACT_RAISE_DOWNTIME:
		return "raise_downtime";
	case MS_POLICY_ACT_POSTCOPY:
		return "postcopy";
	case MS_POLICY_ACT_SUSPEND:
		return "suspend";
	case MS_POLICY_ACT_ABORT:
		return "abort";
	}
	return "?";
}

const char *ms_policy_dst_name(enum ms_policy_dst state)
{
	static const char *const names[MS_POLICY_DST_STATES] = {
	    [MS_POLICY_DST_UNKNOWN] = "unknown",
	    [MS_POLICY_DST_ANSWERED] = "answered",
	    [MS_POLICY_DST_SILENT] = "silent",
	    [MS_POLICY_DST_REFUSED] = "refused",
	};

	return (unsigned int)state < MS_POLICY_DST_STATES ? names[state] : NULL;
}

/* Scratch for one decision, on the stack: the engine keeps nothing else. */
struct work {
	const struct ms_policy_mig_in *in;
	struct ms_policy_mig_out *out;
	struct ms_policy_track *tr;
	__u64 dirty;	 /* bytes/s the guest dirties now (0 once it cannot) */
	__u64 dirty_min; /* bytes/s once auto-converge throttled it as far as it can */
	__u64 need_bps;	 /* rate that out-paces the dirty rate by the margin */
	double ert;	 /* expected remaining time alone, s */
	double key;	 /* srpt priority: lower first */
	bool conv;
	bool ac;     /* auto-converge is on, or may be (grace) */
	bool known;  /* its dirty rate is measured (a sync happened) */
	bool sticky; /* keeps its turn */
	/* Its limits (manager, destination): rate and libvirt speed; 0: none. */
	__u64 cap_bps;
	__u32 cap_mibs;
	/* Its share of the destination's incoming budget; 0: none. */
	__u64 dst_share_bps;
};

static struct ms_policy_track *track_find(struct ms_policy_state *s, __u32 id)
{
	struct ms_policy_track *free_slot = NULL;

	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++) {
		struct ms_policy_track *t = &s->tracks[i];

		if (t->used && t->id == id)
			return t;
		if (!t->used && !free_slot)
			free_slot = t;
	}
	return free_slot;
}

static void aimd(const struct ms_policy_params *p, struct ms_policy_state *s,
		 const struct ms_policy_input *in, size_t n_out, __u64 cap, bool *unhealthy)
{
	const struct ms_policy_health *h = &in->health;
	__u64 floor = cap / 100 * p->aimd_floor_pct;
	bool bad = false;
	__u64 since;
	__u32 base;

	*unhealthy = false;
	/*
	 * Without a cut in force the aggregate follows what is allowed at once
	 * (an operator's raise is not a recovery to ramp up to).
	 */
	if (!s->started || s->eff_aggregate_bps > cap || s->eff_aggregate_bps == s->cap_bps)
		s->eff_aggregate_bps = cap;
	s->cap_bps = cap;
	if (!h->valid)
		return;
	/* With no migration of ours on the wire, this RTT is what idle looks like. */
	if (!n_out && h->rtt_us)
		s->learned_rtt_us =
		    s->learned_rtt_us ? (s->learned_rtt_us * 7 + h->rtt_us) / 8 : h->rtt_us;
	base = h->rtt_baseline_us ? h->rtt_baseline_us : s->learned_rtt_us;
	if (base && (__u64)h->rtt_us * 100 > (__u64)base * p->aimd_rtt_factor_pct &&
	    h->rtt_us > (__u64)base + p->aimd_rtt_margin_us)
		bad = true;
	/*
	 * Rates are over the time since the previous sample, not the previous
	 * decision: decisions also come between samples (events, attribution).
	 */
	since = s->health_last_ns;
	s->health_last_ns = in->now_ns;
	if (p->aimd_retrans_per_s && since && in->now_ns > since &&
	    h->retrans_delta * NS_PER_S >= (__u64)p->aimd_retrans_per_s * (in->now_ns - since))
		bad = true;
	s->bad_samples = bad ? s->bad_samples + 1 : 0;
	*unhealthy = s->bad_samples >= p->aimd_sustain_samples;
	if (*unhealthy) {
		if (s->last_cut_ns && in->now_ns - s->last_cut_ns < p->aimd_holdoff_ms * NS_PER_MS)
			return;
		s->eff_aggregate_bps = s->eff_aggregate_bps / 100 * p->aimd_beta_pct;
		if (s->eff_aggregate_bps < floor)
			s->eff_aggregate_bps = floor;
		s->last_cut_ns = in->now_ns;
	} else if (since && in->now_ns > since) {
		__u64 dt_ms = (in->now_ns - since) / NS_PER_MS;
		__u64 inc = cap / 100 * p->aimd_increase_pct_s / 1000 * dt_ms;

		s->eff_aggregate_bps =
		    s->eff_aggregate_bps + inc > cap ? cap : s->eff_aggregate_bps + inc;
	}
}

static bool fell(const struct ms_policy_params *p, __u64 now_bytes, __u64 ref_bytes)
{
	return now_bytes * 100 < ref_bytes * (100 - p->stall_eps_pct);
}

static void progress(struct ms_policy_track *t, __u64 now)
{
	t->anchor_ns = now;
	t->iters_since = 0;
}

/*
 * Updates the stall tracker with this sample; true when stalled. Two
 * anchors: the bulk pass (or a QEMU without iteration counts) is judged on
 * raw remaining, later iterations on their starting remaining only. A low
 * reached at the end of the bulk pass says nothing about the dirty sets
 * that follow, and comparing them with it is the saw-tooth trap.
 */
static bool stall_update(const struct ms_policy_params *p, struct ms_policy_track *t,
			 const struct ms_policy_mig_in *m, __u64 now)
{
	__u64 r = m->remaining_bytes;
	bool new_iter = m->iteration && m->iteration != t->last_iter;

	if (!t->anchor_ns) {
		t->last_iter = m->iteration;
		t->peak_bytes = m->iteration > 1 ? r : m->mem_total_bytes;
		t->peak_anchor_bytes = t->peak_bytes;
		t->anchor_bytes = r;
		progress(t, now);
		return false;
	}
	if (new_iter) {
		/*
		 * The agent samples once a cycle and QEMU may iterate faster:
		 * every iteration since the last sample is one more without
		 * progress, unless this one shows progress below. A count that
		 * went back (a new job) is one iteration.
		 */
		__u64 passes = m->iteration > t->last_iter ? m->iteration - t->last_iter : 1;

		/* Capped where it is a stall anyway: the count cannot wrap. */
		if (passes > p->stall_iterations)
			passes = p->stall_iterations;
		t->iters_since += (__u32)passes;
		t->last_iter = m->iteration;
		t->peak_bytes = r;
	}
	/* QEMU raised the auto-converge throttle: it acts on the dirty rate, that is progress. */
	if (m->throttle_pct > t->last_throttle_pct) {
		t->last_throttle_pct = m->throttle_pct;
		t->peak_anchor_bytes = 0;
		progress(t, now);
		return false;
	}
	/*
	 * Finishing, or waiting for its turn by our own choice: neither is a
	 * stall, and the window must not run while it waits. Its dirty set
	 * regrows meanwhile, so the next iteration starts a new comparison.
	 */
	if (m->in_switchover || m->in_postcopy || t->held) {
		t->anchor_bytes = r;
		t->peak_anchor_bytes = 0;
		progress(t, now);
		return false;
	}
	if (new_iter) {
		if (!t->peak_anchor_bytes || fell(p, r, t->peak_anchor_bytes)) {
			t->peak_anchor_bytes = r;
			progress(t, now);
		}
	} else if (m->iteration <= 1 && fell(p, r, t->anchor_bytes)) {
		t->anchor_bytes = r;
		progress(t, now);
	}
	if (t->iters_since >= p->stall_iterations)
		return true;
	return now - t->anchor_ns >= p->stall_window_ms * NS_PER_MS &&
	       (m->iteration <= 1 || t->iters_since >= 2);
}

static void escalate(const struct ms_policy_params *p, struct work *w, __u64 now, bool stalled)
{
	struct ms_policy_track *t = w->tr;
	const struct ms_policy_mig_in *m = w->in;
	struct ms_policy_mig_out *o = w->out;
	__u64 bytes_s = stream_bytes_s(o->rate_bps);
	bool predicted = !w->conv && m->iteration >= 2 && p->kind == MS_POLICY_SRPT;
	/* A verdict of non-convergence is as good as no progress for that long. */
	bool timed_out =
	    now - t->anchor_ns >= p->progress_timeout_s * NS_PER_S ||
	    (t->noconv_since_ns && now - t->noconv_since_ns >= p->progress_timeout_s * NS_PER_S);

	if (!p->escalation || t->abort_sent || m->in_switchover || m->in_postcopy)
		return;
	if (!stalled && !predicted)
		return;
	if (t->last_action_ns && now - t->last_action_ns < p->escalate_interval_ms * NS_PER_MS)
		return;
	/* The dirty set must fit the limit at this rate, or raising it only adds waiting. */
	if (t->downtime_ms < p->max_downtime_ms && !m->suspended &&
	    t->peak_bytes * 1000 <= bytes_s * p->max_downtime_ms) {
		t->downtime_ms = t->downtime_ms + p->downtime_step_ms > p->max_downtime_ms
				     ? p->max_downtime_ms
				     : t->downtime_ms + p->downtime_step_ms;
		o->action = MS_POLICY_ACT_RAISE_DOWNTIME;
		snprintf(o->reason, sizeof(o->reason), "%s: max downtime %u ms",
			 stalled ? "stalled" : "cannot converge", t->downtime_ms);
	} else if (m->postcopy_enabled && !t->postcopy_sent) {
		t->postcopy_sent = true;
		o->action = MS_POLICY_ACT_POSTCOPY;
		snprintf(o->reason, sizeof(o->reason), "%s: downtime cannot help, post-copy",
			 stalled ? "stalled" : "cannot converge");
	} else if (p->suspend_allowed && !t->suspend_sent && !m->suspended) {
		t->suspend_sent = true;
		o->action = MS_POLICY_ACT_SUSPEND;
		snprintf(o->reason, sizeof(o->reason), "%s: no post-copy, suspending",
			 stalled ? "stalled" : "cannot converge");
	} else if ((stalled || predicted) && timed_out) {
		t->abort_sent = true;
		o->action = MS_POLICY_ACT_ABORT;
		snprintf(o->reason, sizeof(o->reason), "no progress for %u s",
			 p->progress_timeout_s);
	} else {
		return;
	}
	t->last_action_ns = now;
}

/*
 * Whether auto-converge may be on: seen throttling, or (grace) not yet
 * ruled out. fast says the measured dirty rate cannot converge by itself.
 * QEMU throttles at a sync after two periods in a row dirtying more than
 * half of what was sent: the sync that revealed the fast rate counts one,
 * so with auto-converge a throttle shows at the latest in the iteration
 * after the first fast one. Until then the guest gets the benefit of the doubt:
 * judged as if it had auto-converge, it keeps its turn for that iteration
 * instead of being starved at the floor, where its pass would never end
 * and QEMU would never get to throttle it.
 */
static bool may_auto_converge(const struct ms_policy_params *p, struct ms_policy_track *t,
			      const struct ms_policy_mig_in *m, bool fast)
{
	if (!fast || m->iteration < 2)
		t->fast_iter = 0;
	else if (!t->fast_iter)
		t->fast_iter = m->iteration;
	if (m->auto_converge || m->throttle_pct)
		return true;
	return p->auto_converge_grace && fast && m->iteration == t->fast_iter && !m->in_postcopy &&
	       !m->suspended;
}

/*
 * The dirty rate r (bytes/s, as measured: already under the current
 * throttle) once auto-converge has throttled the guest as far as it can;
 * r itself without auto-converge or once at the maximum.
 */
static __u64 throttled_dirty(const struct ms_policy_params *p, const struct ms_policy_mig_in *m,
			     __u64 r, bool ac)
{
	__u32 now_pct = m->throttle_pct;

	if (!ac || now_pct >= p->auto_converge_max_pct)
		return r;
	/* r = r0 * (100 - now) / 100; at the maximum, r0 * (100 - max) / 100. */
	return r / (100 - now_pct) * (100 - p->auto_converge_max_pct);
}

/*
 * The dirty rate the copy chases, for its expected time: r, unless
 * auto-converge will throttle it further. QEMU raises the throttle while the
 * guest dirties more than AC_TRIGGER_PCT of what is sent, so it settles
 * there or at the maximum throttle, whichever is higher.
 */
static __u64 auto_converge_chase(const struct ms_policy_params *p, const struct ms_policy_mig_in *m,
				 __u64 r, __u64 r_min, __u64 bytes_s, bool ac)
{
	__u64 settle = bytes_s / 100 * AC_TRIGGER_PCT;

	if (!ac || m->throttle_pct >= p->auto_converge_max_pct || r <= settle)
		return r;
	return r_min > settle ? r_min : settle;
}

/* Gives w the rate; returns what it took from the budget above the floor. */
static __u64 give(struct work *w, __u64 floor, __u64 max, __u64 budget)
{
	__u64 rate = floor + budget;

	if (rate > max)
		rate = max < floor ? floor : max;
	w->out->rate_bps = rate;
	return rate - floor;
}

/* oVirt's max(n_src, n_dst): n_src counts this host's migrations, both ways. */
static __u32 fair_divisor(const struct ms_policy_input *in, const struct ms_policy_mig_in *m)
{
	__u32 div = (__u32)in->n;

	return m->dst_migrations > div ? m->dst_migrations : div;
}

static void alloc_fair(struct work *w, size_t n_out, __u64 agg, __u64 floor, __u64 max)
{
	for (size_t i = 0; i < n_out; i++) {
		__u64 share;

		share = agg / w[i].out->divisor;
		if (share > max)
			share = max;
		w[i].out->rate_bps = share < floor ? floor : share;
	}
}

static int cmp_age(const struct work *a, const struct work *b)
{
	if (a->in->started_ns != b->in->started_ns)
		return a->in->started_ns < b->in->started_ns ? -1 : 1;
	return a->in->id < b->in->id ? -1 : a->in->id > b->in->id;
}

static int cmp_serial(const void *x, const void *y)
{
	return cmp_age(x, y);
}

static int cmp_srpt(const void *x, const void *y)
{
	const struct work *a = x, *b = y;

	if (a->conv != b->conv)
		return a->conv ? -1 : 1;
	if (a->sticky != b->sticky)
		return a->sticky ? -1 : 1;
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return cmp_age(a, b);
}

static void alloc_ordered(const struct ms_policy_params *p, struct work *w, size_t n_out,
			  __u64 budget, __u64 floor, __u64 max)
{
	/* Pass 1: in order, serve those whose dirty rate the share out-paces. */
	for (size_t i = 0; i < n_out; i++) {
		__u64 rate = floor + budget > max ? max : floor + budget;

		if (!budget)
			break;
		if (p->kind == MS_POLICY_SRPT && (!w[i].conv || rate < w[i].need_bps))
			continue;
		budget -= give(&w[i], floor, max, budget);
		w[i].tr->served = w[i].out->rate_bps > floor;
	}
	/* Pass 2: what is left still shortens bulk passes of convergeable ones. */
	for (size_t i = 0; i < n_out && budget; i++) {
		if (w[i].tr->served || !w[i].conv)
			continue;
		budget -= give(&w[i], floor, max, budget);
		w[i].tr->served = w[i].out->rate_bps > floor;
	}
}

/*
 * The destination's limits (policy.h): its budget share, and while it is
 * silent or its answer was refused, at most half of / all of what the
 * migration had. Returns the rate cap, 0 for none.
 */
static __u64 dst_cap(const struct ms_policy_mig_in *m, struct ms_policy_track *t, __u64 rate,
		     __u64 floor)
{
	__u64 cap = 0, had = t->last_rate_bps ? t->last_rate_bps : rate;

	/* tc takes no class rate of 0: a budget share rounds up to 1 bit/s. */
	if (m->dst_budget_bps)
		cap = m->dst_budget_bps / (m->dst_incoming ? m->dst_incoming : 1) ?: 1;
	if (m->dst_state != MS_POLICY_DST_SILENT)
		t->silent_base_bps = 0;
	if (m->dst_state == MS_POLICY_DST_SILENT) {
		/*
		 * Half per unanswered question (the caller asks once a cycle),
		 * from what it had when the silence began: a decision more in
		 * the same cycle (an event) halves nothing more.
		 */
		__u32 k = m->dst_silent ? m->dst_silent : 1;
		__u64 half;

		if (!t->silent_base_bps)
			t->silent_base_bps = had;
		half = k >= 64 ? 0 : t->silent_base_bps >> k;
		/* Down to the floor; below it already (a budget share), no lower. */
		if (half < floor)
			half = t->silent_base_bps < floor ? t->silent_base_bps : floor;
		if (!cap || half < cap)
			cap = half;
	} else if (m->dst_state == MS_POLICY_DST_REFUSED && t->last_rate_bps) {
		if (!cap || t->last_rate_bps < cap)
			cap = t->last_rate_bps;
	}
	return cap;
}

/* Each migration's limits: what its manager set, what its destination allows. */
static void find_limits(struct work *w, size_t n_out, __u64 floor)
{
	for (size_t i = 0; i < n_out; i++) {
		__u32 lim = w[i].in->manager_max_mibs;
		__u64 cap = dst_cap(w[i].in, w[i].tr, w[i].out->rate_bps, floor);

		w[i].cap_bps = 0;
		w[i].cap_mibs = 0;
		w[i].dst_share_bps =
		    w[i].in->dst_budget_bps
			? w[i].in->dst_budget_bps /
				  (w[i].in->dst_incoming ? w[i].in->dst_incoming : 1)
			      ?: 1
			: 0;
		if (lim) {
			w[i].cap_bps = rate_for_stream((__u64)lim * 1024 * 1024);
			w[i].cap_mibs = lim;
		}
		if (cap && (!w[i].cap_bps || cap < w[i].cap_bps)) {
			w[i].cap_bps = cap;
			w[i].cap_mibs = ms_speed_mibs_for_rate(cap);
		}
	}
}

/*
 * The limits, after the allocation: a migration whose manager set its speed,
 * or whose destination allows less, gets no more than that (rate, ceil and
 * speed); what it frees goes to the others, in the order the policy served
 * them, each up to its own limit (srpt: only to those that can converge).
 */
static void cap_to_limits(const struct ms_policy_params *p, struct work *w, size_t n_out, __u64 max,
			  bool borrow)
{
	__u64 freed = 0;

	for (size_t i = 0; i < n_out; i++) {
		struct ms_policy_mig_out *o = w[i].out;
		__u64 cap = w[i].cap_bps;

		if (!cap)
			continue;
		if (o->rate_bps > cap) {
			freed += o->rate_bps - cap;
			o->rate_bps = cap;
		}
		if (!w[i].in->in_switchover && o->ceil_bps > cap)
			o->ceil_bps = cap > o->rate_bps ? cap : o->rate_bps;
		/*
		 * A switchover's burst goes to the destination's downlink like
		 * any other: its budget share holds then too.
		 */
		if (w[i].in->in_switchover && w[i].dst_share_bps &&
		    o->ceil_bps > w[i].dst_share_bps)
			o->ceil_bps =
			    w[i].dst_share_bps > o->rate_bps ? w[i].dst_share_bps : o->rate_bps;
		if (o->speed_mibs > w[i].cap_mibs)
			o->speed_mibs = w[i].cap_mibs;
	}
	for (size_t i = 0; i < n_out && freed; i++) {
		struct ms_policy_mig_out *o = w[i].out;
		__u64 top = max, add;

		if (p->kind == MS_POLICY_SRPT && !w[i].conv)
			continue;
		if (w[i].cap_bps && w[i].cap_bps < top)
			top = w[i].cap_bps;
		if (o->rate_bps >= top)
			continue;
		add = top - o->rate_bps < freed ? top - o->rate_bps : freed;
		o->rate_bps += add;
		freed -= add;
		if (o->ceil_bps < o->rate_bps)
			o->ceil_bps = o->rate_bps;
		o->speed_mibs = ms_speed_mibs_for_rate(borrow ? o->ceil_bps : o->rate_bps);
		if (w[i].cap_mibs && o->speed_mibs > w[i].cap_mibs)
			o->speed_mibs = w[i].cap_mibs;
	}
}

/*
 * The ceil of every migration's class: max, or with a work-conserving
 * ceiling above it, that ceiling, cut in the proportion AIMD cut the
 * aggregate (agg of cap): a congested management path is a reason to borrow
 * less too, or the cut would be undone by borrowing.
 */
static __u64 migration_ceil(const struct ms_policy_params *p, __u64 cap, __u64 agg, __u64 max)
{
	__u64 ceil;

	if (p->borrow_ceil_bps <= max || !cap)
		return max;
	ceil = (__u64)((unsigned __int128)p->borrow_ceil_bps * agg / cap);
	return ceil > max ? ceil : max;
}

/* The rates come from a configuration that passed ms_config_check_rates(). */
static void assert_rate_plan(const struct ms_policy_params *p)
{
	const struct ms_rate_plan plan = {
	    .link_bps = p->link_bps,
	    .mgmt_reserve_bps = p->reserve_bps,
	    .migration_aggregate_bps = p->aggregate_bps,
	    .migration_ceil_bps = p->borrow_ceil_bps,
	    .migration_min_bps = p->min_bps,
	    .migration_max_bps = p->max_bps,
	};

	assert(!ms_rate_plan_violation(&plan));
}

int ms_policy_decide(const struct ms_policy_params *p, struct ms_policy_state *s,
		     const struct ms_policy_input *in, struct ms_policy_output *out)
{
	struct work w[MS_MAX_MIGRATIONS];
	__u64 now = in->now_ns, cap, agg, floor, max, alone_bytes_s, budget, ceil;
	size_t n_out = 0;
	bool unhealthy, borrow;

	assert_rate_plan(p);
	if (ms_policy_params_check(p, NULL, 0) || !out || !out->migs || (in->n && !in->migs))
		return -EINVAL;
	if (in->n > MS_MAX_MIGRATIONS)
		return -E2BIG;

	for (size_t i = 0; i < in->n; i++)
		if (in->migs[i].dir == MS_MIG_OUTGOING)
			n_out++;
	cap = p->aggregate_bps;
	aimd(p, s, in, n_out, cap, &unhealthy);
	agg = s->eff_aggregate_bps;
	out->effective_aggregate_bps = agg;
	out->mgmt_unhealthy = unhealthy;
	max = p->max_bps < agg ? p->max_bps : agg;
	floor = p->min_bps;
	if (n_out && floor * n_out > agg)
		floor = agg / n_out;
	if (floor > max)
		floor = max;
	budget = agg - floor * n_out;
	ceil = migration_ceil(p, cap, agg, max);
	borrow = ceil > max;
	alone_bytes_s = stream_bytes_s(max);

	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++)
		s->tracks[i].seen = false;

	/* Outgoing first, in w[0..n_out); incoming only get an output row. */
	for (size_t i = 0, k = 0; i < in->n; i++) {
		const struct ms_policy_mig_in *m = &in->migs[i];
		struct ms_policy_mig_out *o = &out->migs[i];
		struct ms_policy_track *t;
		__u64 r;
		bool fits;

		memset(o, 0, sizeof(*o));
		o->id = m->id;
		snprintf(o->reason, sizeof(o->reason), "%s", "");
		if (m->dir != MS_MIG_OUTGOING)
			continue;
		t = track_find(s, m->id);
		if (!t->used) {
			memset(t, 0, sizeof(*t));
			t->used = true;
			t->id = m->id;
			t->downtime_ms = p->initial_downtime_ms;
		}
		t->seen = true;
		/* A paused or post-copy guest dirties nothing the copy must chase. */
		r = m->in_postcopy || m->suspended ? 0 : m->dirty_bytes_s;
		w[k].in = m;
		w[k].out = o;
		w[k].tr = t;
		w[k].dirty = r;
		fits = m->iteration >= 2 &&
		       (t->peak_bytes > m->remaining_bytes ? t->peak_bytes : m->remaining_bytes) <=
			   alone_bytes_s / 1000 * p->max_downtime_ms;
		w[k].ac = may_auto_converge(
		    p, t, m, !fits && r / 100 * p->converge_margin_pct > alone_bytes_s);
		w[k].dirty_min = throttled_dirty(p, m, r, w[k].ac);
		w[k].need_bps = rate_for_stream(w[k].dirty_min / 100 * p->converge_margin_pct);
		w[k].conv = w[k].dirty_min / 100 * p->converge_margin_pct <= alone_bytes_s || fits;
		/*
		 * The grace does not defer the verdict's clock: without a
		 * throttle, a fast guest counts as unable to converge from the
		 * first fast iteration, so if none comes it is aborted as soon
		 * as it would have been without the grace.
		 */
		if (!w[k].conv || (t->fast_iter && !m->auto_converge && !m->throttle_pct)) {
			if (!t->noconv_since_ns)
				t->noconv_since_ns = now;
		} else {
			t->noconv_since_ns = 0;
		}
		if (s->started && !t->served && now > s->last_ns)
			t->waited_ns += now - s->last_ns;
		w[k].known = m->iteration >= 2 || m->in_postcopy || m->suspended;
		if (w[k].conv && alone_bytes_s > w[k].dirty_min) {
			__u64 chase =
			    auto_converge_chase(p, m, r, w[k].dirty_min, alone_bytes_s, w[k].ac);

			w[k].ert = (double)m->remaining_bytes / (double)(alone_bytes_s - chase);
			/*
			 * Aging credits all time spent waiting, served or not
			 * since, so a migration that waited long enough outranks
			 * any newcomer (whose credit starts at 0).
			 */
			w[k].key = w[k].ert - (double)t->waited_ns / 1e9 * p->aging_pct / 100.0;
		} else {
			w[k].ert = w[k].key = 1e300;
		}
		o->rate_bps = floor;
		o->divisor = fair_divisor(in, m);
		k++;
	}

	/*
	 * Preempting costs the one preempted its progress (its dirty set
	 * regrows while it waits at the floor), so whoever is served keeps
	 * its turn while it can converge, unless a challenger whose dirty
	 * rate is known needs less than half its expected time, or one still
	 * in its bulk pass (a 4 GiB guest arriving during a 64 GiB one's turn)
	 * less than 1/PREEMPT_BULK_DIV of it. Aging only decides who is next.
	 */
	for (size_t i = 0; i < n_out; i++) {
		w[i].sticky = w[i].tr->served && w[i].conv;
		for (size_t j = 0; j < n_out && w[i].sticky; j++)
			if (!w[j].tr->served && w[j].conv &&
			    w[j].ert < w[i].ert / (w[j].known ? 2 : PREEMPT_BULK_DIV))
				w[i].sticky = false;
	}
	for (size_t i = 0; i < n_out; i++)
		w[i].tr->served = false;
	switch (p->kind) {
	case MS_POLICY_FAIR:
		alloc_fair(w, n_out, agg, floor, max);
		break;
	case MS_POLICY_SERIAL:
		qsort(w, n_out, sizeof(w[0]), cmp_serial);
		alloc_ordered(p, w, n_out, budget, floor, max);
		break;
	case MS_POLICY_SRPT:
		qsort(w, n_out, sizeof(w[0]), cmp_srpt);
		alloc_ordered(p, w, n_out, budget, floor, max);
		break;
	}

	for (size_t i = 0; i < n_out; i++) {
		struct ms_policy_mig_out *o = w[i].out;
		struct ms_policy_track *t = w[i].tr;
		bool stalled;

		if (p->kind == MS_POLICY_FAIR)
			t->served = o->rate_bps > floor || n_out == 1;
		stalled = stall_update(p, t, w[i].in, now);
		/* Held this time: the next sample is taken while it waits. */
		t->held = p->kind != MS_POLICY_FAIR && !t->served &&
			  (p->kind == MS_POLICY_SERIAL || w[i].conv);
		if (w[i].in->in_switchover)
			o->ceil_bps = ceil > agg ? ceil : agg;
		else
			o->ceil_bps = o->rate_bps > ceil ? o->rate_bps : ceil;
		o->speed_mibs = ms_speed_mibs_for_rate(borrow ? o->ceil_bps : o->rate_bps);
		o->convergeable = w[i].conv;
		o->stalled = stalled;
		escalate(p, &w[i], now, stalled);
		o->max_downtime_ms = t->downtime_ms;
	}
	find_limits(w, n_out, floor);
	cap_to_limits(p, w, n_out, max, borrow);
	for (size_t i = 0; i < n_out; i++)
		w[i].tr->last_rate_bps = w[i].out->rate_bps;

	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++)
		if (s->tracks[i].used && !s->tracks[i].seen)
			s->tracks[i].used = false;
	s->started = true;
	s->last_ns = now;
	return 0;
}
