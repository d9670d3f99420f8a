// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The pre-copy migration simulator; see model.h. Test code (build/libsim.a). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "rates.h"
#include "model.h"

/* Migration stream per wire byte with TCP/IPv4 timestamps on Ethernet (1448/1514). */
#define SIM_WIRE_EFF		     0.956
#define SIM_QEMU_DEFAULT_DOWNTIME_MS 300.0
/* QEMU's auto-converge defaults (cpu-throttle-initial/-increment, max-cpu-throttle). */
#define SIM_AC_INITIAL_PCT   20.0
#define SIM_AC_INCREMENT_PCT 10.0
#define SIM_AC_MAX_PCT	     99.0
#define SIM_AC_TRIGGER	     0.5 /* throttle-trigger-threshold: dirtied / sent */

const char *sim_mode_name(enum sim_mode mode)
{
	static const char *const names[] = {"fair", "serial", "srpt", "unshaped"};

	return mode < SIM_N_MODES ? names[mode] : "?";
}

void sim_scenario_init(struct sim_scenario *sc)
{
	memset(sc, 0, sizeof(*sc));
	snprintf(sc->name, sizeof(sc->name), "unnamed");
	sc->nic_mbps = 1000;
	sc->horizon_s = 3600;
	sc->dt_s = 0.05;
	sc->cycle_s = 1.0;
	sc->device_state_bytes = 2 * SIM_MIB;
}

void sim_scenario_resolve(struct sim_scenario *sc)
{
	/* The agent's "auto" values (README, Configuration). */
	if (!sc->link_mbps)
		sc->link_mbps = floor(sc->nic_mbps * 0.95);
	if (!sc->reserve_mbps)
		sc->reserve_mbps = floor(sc->link_mbps * 0.10);
	if (!sc->aggregate_mbps)
		sc->aggregate_mbps = floor(sc->link_mbps * 0.70);
	if (!sc->max_mbps)
		sc->max_mbps = sc->aggregate_mbps;
	if (!sc->min_mbps)
		sc->min_mbps = floor(sc->link_mbps * 0.02);
}

int sim_vm_add(struct sim_scenario *sc, const char *name, double mem_mib, double dirty_mibs,
	       double start_s, bool postcopy)
{
	struct sim_vm_cfg *v;

	if (sc->n >= SIM_MAX_VMS)
		return -ENOSPC;
	v = &sc->vm[sc->n++];
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->mem_bytes = mem_mib * SIM_MIB;
	v->dirty_bytes_s = dirty_mibs * SIM_MIB;
	v->start_s = start_s;
	v->postcopy = postcopy;
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int set_key(struct sim_scenario *sc, struct sim_vm_cfg *vm, const char *key, const char *val)
{
	char *end;
	double d;

	if (!vm && !strcmp(key, "name")) {
		snprintf(sc->name, sizeof(sc->name), "%s", val);
		return 0;
	}
	errno = 0;
	d = strtod(val, &end);
	if (errno || end == val || *end || d < 0)
		return -EINVAL;
	if (vm) {
		if (!strcmp(key, "memory_mib"))
			vm->mem_bytes = d * SIM_MIB;
		else if (!strcmp(key, "dirty_mibs"))
			vm->dirty_bytes_s = d * SIM_MIB;
		else if (!strcmp(key, "wss_mib"))
			vm->wss_bytes = d * SIM_MIB;
		else if (!strcmp(key, "start_s"))
			vm->start_s = d;
		else if (!strcmp(key, "postcopy"))
			vm->postcopy = d != 0;
		else if (!strcmp(key, "auto_converge"))
			vm->auto_converge = d != 0;
		else
			return -ENOENT;
		return 0;
	}
	if (!strcmp(key, "nic_mbps"))
		sc->nic_mbps = d;
	else if (!strcmp(key, "link_mbps"))
		sc->link_mbps = d;
	else if (!strcmp(key, "reserve_mbps"))
		sc->reserve_mbps = d;
	else if (!strcmp(key, "aggregate_mbps"))
		sc->aggregate_mbps = d;
	else if (!strcmp(key, "max_mbps"))
		sc->max_mbps = d;
	else if (!strcmp(key, "min_mbps"))
		sc->min_mbps = d;
	else if (!strcmp(key, "horizon_s"))
		sc->horizon_s = d;
	else if (!strcmp(key, "dt_s") && d > 0)
		sc->dt_s = d;
	else if (!strcmp(key, "cycle_s") && d > 0)
		sc->cycle_s = d;
	else if (!strcmp(key, "device_state_mib"))
		sc->device_state_bytes = d * SIM_MIB;
	else
		return -ENOENT;
	return 0;
}

int sim_parse_ini(const char *text, struct sim_scenario *sc, char *err, size_t err_len)
{
	char *copy = strdup(text), *line, *save = NULL;
	struct sim_vm_cfg *vm = NULL;
	int lineno = 0, ret = 0;

	if (!copy)
		return -ENOMEM;
	sim_scenario_init(sc);
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *s = trim(line), *eq;

		lineno++;
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');

			if (!close) {
				ret = -EINVAL;
				snprintf(err, err_len, "line %d: unterminated section", lineno);
				goto cleanup;
			}
			*close = '\0';
			s = trim(s + 1);
			if (!strcmp(s, "scenario")) {
				vm = NULL;
			} else if (!strncmp(s, "vm", 2) &&
				   (isspace((unsigned char)s[2]) || !s[2])) {
				if (sim_vm_add(sc, trim(s + 2), 0, 0, 0, false)) {
					ret = -EINVAL;
					snprintf(err, err_len, "line %d: more than %d VMs", lineno,
						 SIM_MAX_VMS);
					goto cleanup;
				}
				vm = &sc->vm[sc->n - 1];
			} else {
				ret = -EINVAL;
				snprintf(err, err_len, "line %d: unknown section [%s]", lineno, s);
				goto cleanup;
			}
			continue;
		}
		eq = strchr(s, '=');
		if (!eq) {
			ret = -EINVAL;
			snprintf(err, err_len, "line %d: expected key = value", lineno);
			goto cleanup;
		}
		*eq = '\0';
		if (set_key(sc, vm, trim(s), trim(eq + 1))) {
			ret = -EINVAL;
			snprintf(err, err_len, "line %d: bad key or value '%s'", lineno, trim(s));
			goto cleanup;
		}
	}
	for (size_t i = 0; i < sc->n; i++) {
		if (sc->vm[i].mem_bytes <= 0) {
			ret = -EINVAL;
			snprintf(err, err_len, "vm %s: memory_mib is required", sc->vm[i].name);
			goto cleanup;
		}
	}
	sim_scenario_resolve(sc);
cleanup:
	free(copy);
	return ret;
}

int sim_load_file(const char *path, struct sim_scenario *sc, char *err, size_t err_len)
{
	char *buf = NULL;
	FILE *f = fopen(path, "r");
	long len;
	int ret = 0;

	if (!f) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		ret = -EIO;
		snprintf(err, err_len, "%s: cannot read", path);
		goto cleanup;
	}
	buf = calloc(1, (size_t)len + 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		ret = -EIO;
		snprintf(err, err_len, "%s: cannot read", path);
		goto cleanup;
	}
	ret = sim_parse_ini(buf, sc, err, err_len);
cleanup:
	free(buf);
	fclose(f);
	return ret;
}

static double wss_of(const struct sim_vm_cfg *v)
{
	return v->wss_bytes > 0 ? v->wss_bytes : v->mem_bytes;
}

/* Stream bytes/s QEMU gets alone on the aggregate, paced by libvirt at 93%. */
static double alone_bytes_s(const struct sim_scenario *sc)
{
	double agg = fmin(sc->aggregate_mbps, sc->link_mbps - sc->reserve_mbps);

	return fmin(sc->max_mbps, agg) * 1e6 / 8 * MS_SPEED_MARGIN_PCT / 100;
}

bool sim_vm_convergeable(const struct sim_scenario *sc, size_t i)
{
	const struct sim_vm_cfg *v = &sc->vm[i];
	struct ms_policy_params p;
	double b = alone_bytes_s(sc), w = wss_of(v), d = v->mem_bytes;
	/* Auto-converge ends up throttling the guest as far as it must. */
	double r = v->dirty_bytes_s * (v->auto_converge ? 1 - SIM_AC_MAX_PCT / 100 : 1);

	ms_policy_params_init(&p);
	/* Iterate the dirty set alone at b until it fits the largest downtime. */
	for (int k = 0; k < 1000; k++) {
		if (d <= b * p.max_downtime_ms / 1000.0)
			return true;
		d = w * (1 - exp(-r * (d / b) / w));
	}
	return false;
}

enum vm_phase { VM_PENDING = 0, VM_RUNNING, VM_DONE, VM_FAILED };

struct vm_state {
	enum vm_phase phase;
	double unsent;	/* the current set's part not yet sent */
	double dirtied; /* dirtied since the last sync */
	double processed;
	double last_sync_s;
	double measured_dirty;
	unsigned long long iteration;
	double downtime_limit_ms;
	double rate_bps;
	double ceil_bps;
	double speed_bytes_s;
	bool postcopy_mode;
	bool suspended;
	double suspend_s;
	/* Auto-converge: the throttle and QEMU's period counters. */
	double throttle_pct;
	double period_start_s;
	double period_sent;
	double period_dirty;
	unsigned int dirty_high_count;
};

struct sim {
	const struct sim_scenario *sc;
	const struct sim_opts *o;
	struct ms_policy_params p;
	struct ms_policy_state *state;
	struct ms_policy_mig_in in[SIM_MAX_VMS];
	struct ms_policy_mig_out out[SIM_MAX_VMS];
	size_t idx[SIM_MAX_VMS]; /* input row -> VM */
	struct vm_state vm[SIM_MAX_VMS];
	struct sim_result *res;
	double eff_agg_bps;
	bool redecide; /* a migration ended: the agent decides again at once */
	bool trace;    /* SIM_TRACE set: every decision on stderr */
};

static void finish(struct sim *s, size_t i, double end_s, double downtime_ms, bool failed,
		   const char *why)
{
	struct sim_vm_result *r = &s->res->vm[i];

	s->vm[i].phase = failed ? VM_FAILED : VM_DONE;
	s->redecide = true;
	r->completion_s = end_s - s->sc->vm[i].start_s;
	r->downtime_ms = downtime_ms;
	r->failed = failed;
	snprintf(r->why, sizeof(r->why), "%s", why);
	if (end_s > s->res->makespan_s)
		s->res->makespan_s = end_s;
}

static size_t fill_input(struct sim *s, size_t switching, struct ms_policy_input *in, double t)
{
	size_t n = 0;

	memset(in, 0, sizeof(*in));
	in->now_ns = (__u64)llround(t * 1e9);
	for (size_t i = 0; i < s->sc->n; i++) {
		const struct sim_vm_cfg *c = &s->sc->vm[i];
		struct vm_state *v = &s->vm[i];
		struct ms_policy_mig_in *m = &s->in[n];

		if (v->phase != VM_RUNNING)
			continue;
		memset(m, 0, sizeof(*m));
		m->id = (__u32)i + 1;
		m->dir = MS_MIG_OUTGOING;
		m->started_ns = (__u64)llround(c->start_s * 1e9);
		m->mem_total_bytes = (__u64)c->mem_bytes;
		m->remaining_bytes = (__u64)(v->postcopy_mode ? v->unsent + v->dirtied : v->unsent);
		m->processed_bytes = (__u64)v->processed;
		m->dirty_bytes_s = v->postcopy_mode ? 0 : (__u64)v->measured_dirty;
		m->page_size_bytes = 4096;
		m->iteration = v->iteration;
		m->postcopy_enabled = c->postcopy;
		m->in_switchover = i == switching;
		m->in_postcopy = v->postcopy_mode;
		m->suspended = v->suspended;
		/* libvirt shows the throttle once it is > 0, and nothing says more. */
		m->throttle_pct = (__u32)lround(v->throttle_pct);
		m->auto_converge = m->throttle_pct > 0;
		s->idx[n++] = i;
	}
	in->n = n;
	in->migs = s->in;
	return n;
}

static double switchover_bytes_s(struct sim *s, size_t i, double t, double share);

static int decide(struct sim *s, double t)
{
	struct ms_policy_output out = {.migs = s->out};
	struct ms_policy_input in;
	size_t n = fill_input(s, (size_t)-1, &in, t);
	int ret = ms_policy_decide(&s->p, s->state, &in, &out);

	if (ret)
		return ret;
	s->eff_agg_bps = (double)out.effective_aggregate_bps;
	for (size_t k = 0; k < n; k++) {
		size_t i = s->idx[k];
		struct vm_state *v = &s->vm[i];
		const struct ms_policy_mig_out *o = &s->out[k];

		v->rate_bps = (double)o->rate_bps;
		v->ceil_bps = (double)o->ceil_bps;
		v->speed_bytes_s = o->speed_mibs * SIM_MIB;
		v->downtime_limit_ms = o->max_downtime_ms;
		if (s->trace)
			fprintf(stderr,
				"t=%.0f vm%zu rate=%.0f Mbit/s rem=%.0f MiB it=%llu dirty=%.1f "
				"MiB/s conv=%d stall=%d %s %s\n",
				t, i + 1, o->rate_bps / 1e6, s->in[k].remaining_bytes / SIM_MIB,
				(unsigned long long)s->in[k].iteration,
				s->in[k].dirty_bytes_s / SIM_MIB, o->convergeable, o->stalled,
				ms_policy_action_name(o->action), o->reason);
		switch (o->action) {
		case MS_POLICY_ACT_NONE:
			break;
		case MS_POLICY_ACT_RAISE_DOWNTIME:
			s->res->vm[i].downtime_raises++;
			break;
		case MS_POLICY_ACT_POSTCOPY:
			if (s->sc->vm[i].postcopy && !v->postcopy_mode) {
				v->postcopy_mode = true;
				v->unsent += v->dirtied;
				v->dirtied = 0;
				s->res->vm[i].used_postcopy = true;
				/* The guest moves with its device state, unthrottled. */
				s->res->vm[i].downtime_ms =
				    s->sc->device_state_bytes /
				    fmax(switchover_bytes_s(s, i, t, 0), 1) * 1000;
			}
			break;
		case MS_POLICY_ACT_SUSPEND:
			if (!v->suspended) {
				v->suspended = true;
				v->suspend_s = t;
				s->res->vm[i].suspended = true;
			}
			break;
		case MS_POLICY_ACT_ABORT:
			finish(s, i, t, 0, true, o->reason);
			break;
		}
	}
	return 0;
}

/* Stream bytes/s during VM i's switchover: unthrottled QEMU, limited by HTB. */
static double switchover_bytes_s(struct sim *s, size_t i, double t, double share)
{
	struct ms_policy_output out = {.migs = s->out};
	struct ms_policy_state *copy;
	struct ms_policy_input in;
	double others = 0, ceil_bps = s->vm[i].ceil_bps;
	size_t n;

	if (s->o->mode == SIM_UNSHAPED && !s->o->order)
		return share;
	/* Ask the engine on a copy of its state: a question, not a decision. */
	copy = s->o->order ? NULL : malloc(sizeof(*copy));
	if (s->o->order)
		ceil_bps = s->eff_agg_bps;
	if (copy) {
		memcpy(copy, s->state, sizeof(*copy));
		n = fill_input(s, i, &in, t);
		if (!ms_policy_decide(&s->p, copy, &in, &out)) {
			for (size_t k = 0; k < n; k++)
				if (s->idx[k] == i)
					ceil_bps = (double)out.migs[k].ceil_bps;
		}
		free(copy);
	}
	for (size_t j = 0; j < s->sc->n; j++)
		if (j != i && s->vm[j].phase == VM_RUNNING)
			others += s->vm[j].rate_bps;
	return fmin(ceil_bps, fmax(s->vm[i].rate_bps, s->eff_agg_bps - others)) / 8 * SIM_WIRE_EFF;
}

/*
 * QEMU's migration_trigger_throttle() at a dirty-bitmap sync: new_dirty is
 * what the sync added to the set.
 */
static void auto_converge_sync(struct vm_state *v, double new_dirty, double now)
{
	v->period_dirty += new_dirty;
	if (now - v->period_start_s < 1.0)
		return;
	if (v->period_dirty > v->period_sent * SIM_AC_TRIGGER && ++v->dirty_high_count >= 2) {
		v->dirty_high_count = 0;
		v->throttle_pct = v->throttle_pct > 0
				      ? fmin(v->throttle_pct + SIM_AC_INCREMENT_PCT, SIM_AC_MAX_PCT)
				      : SIM_AC_INITIAL_PCT;
	}
	v->period_start_s = now;
	v->period_sent = 0;
	v->period_dirty = 0;
}

static void step_vm(struct sim *s, size_t i, double t, double dt, double share)
{
	const struct sim_vm_cfg *c = &s->sc->vm[i];
	struct vm_state *v = &s->vm[i];
	double bw = s->o->mode == SIM_UNSHAPED && !s->o->order ? share : v->speed_bytes_s;
	double send = bw * dt, w = wss_of(c), threshold, sw, added;
	double dirty_rate = c->dirty_bytes_s * (1 - v->throttle_pct / 100);

	if (v->postcopy_mode) {
		if (send >= v->unsent) {
			finish(s, i, t + (bw > 0 ? v->unsent / bw : dt), s->res->vm[i].downtime_ms,
			       false, "post-copy");
			return;
		}
		v->unsent -= send;
		v->processed += send;
		return;
	}
	if (!v->suspended && dirty_rate > 0 && w > 0)
		v->dirtied += (w - v->dirtied) * (1 - exp(-dirty_rate * dt / w));
	send = fmin(send, v->unsent);
	v->unsent -= send;
	v->processed += send;
	v->period_sent += send;
	threshold = bw * v->downtime_limit_ms / 1000.0;
	if (v->unsent > threshold)
		return;
	/* QEMU's sync: the dirtied pages become the next iteration's set. */
	v->measured_dirty = v->dirtied / fmax(t + dt - v->last_sync_s, dt);
	/*
	 * The bitmap is a set: pages dirtied again while still unsent count
	 * once. Unsent pages are spread over all memory in the bulk pass and
	 * lie in the working set after it.
	 */
	added = v->dirtied *
		(1 - fmin(1, v->iteration <= 1 ? v->unsent / c->mem_bytes : v->unsent / w));
	v->unsent += added;
	v->dirtied = 0;
	if (c->auto_converge)
		auto_converge_sync(v, added, t + dt);
	v->last_sync_s = t + dt;
	v->iteration++;
	if (v->unsent > threshold)
		return;
	sw = switchover_bytes_s(s, i, t + dt, share);
	if (sw <= 0)
		return;
	{
		double pause = (v->unsent + s->sc->device_state_bytes) / sw;
		double end = t + dt + pause;
		double downtime = v->suspended ? end - v->suspend_s : pause;

		v->processed += v->unsent;
		v->unsent = 0;
		finish(s, i, end, downtime * 1000, false, v->suspended ? "suspended" : "pre-copy");
	}
}

/*
 * The clairvoyant schedule: the first running VM of the order gets all the
 * effective aggregate above the others' floors (up to max), the others the
 * floor; as the engine computes its floor, without any AIMD cut.
 */
static void decide_order(struct sim *s)
{
	__u64 agg = s->p.aggregate_bps, max, floor, head_rate;
	size_t running = 0;
	bool head_given = false;

	if (agg > s->p.link_bps - s->p.reserve_bps)
		agg = s->p.link_bps - s->p.reserve_bps;
	max = s->p.max_bps < agg ? s->p.max_bps : agg;
	for (size_t i = 0; i < s->sc->n; i++)
		running += s->vm[i].phase == VM_RUNNING;
	if (!running)
		return;
	floor = s->p.min_bps;
	if (floor * running > agg)
		floor = agg / running;
	if (floor > max)
		floor = max;
	head_rate = agg - floor * (running - 1);
	if (head_rate > max)
		head_rate = max;
	s->eff_agg_bps = (double)agg;
	for (size_t k = 0; k < s->sc->n; k++) {
		size_t i = s->o->order[k];
		struct vm_state *v = &s->vm[i];
		__u64 rate;

		if (v->phase != VM_RUNNING)
			continue;
		rate = head_given ? floor : head_rate;
		head_given = true;
		v->rate_bps = (double)rate;
		v->ceil_bps = (double)(rate > max ? rate : max);
		v->speed_bytes_s = ms_speed_mibs_for_rate(rate) * SIM_MIB;
	}
}

int sim_run(const struct sim_scenario *sc, const struct sim_opts *o, struct sim_result *res)
{
	struct sim *s = calloc(1, sizeof(*s));
	double t = 0, next_decision = 0, first_start = INFINITY;
	long steps;
	int ret = 0;

	if (!s)
		return -ENOMEM;
	memset(res, 0, sizeof(*res));
	res->n = sc->n;
	s->sc = sc;
	s->o = o;
	s->res = res;
	s->trace = getenv("SIM_TRACE") != NULL;
	ms_policy_params_init(&s->p);
	s->p.kind = o->mode == SIM_SERIAL ? MS_POLICY_SERIAL
		    : o->mode == SIM_SRPT ? MS_POLICY_SRPT
					  : MS_POLICY_FAIR;
	s->p.escalation = o->escalation && o->mode != SIM_UNSHAPED;
	s->p.suspend_allowed = o->suspend_allowed;
	s->p.link_bps = (__u64)(sc->link_mbps * 1e6);
	s->p.reserve_bps = (__u64)(sc->reserve_mbps * 1e6);
	s->p.aggregate_bps = (__u64)(sc->aggregate_mbps * 1e6);
	s->p.max_bps = (__u64)(sc->max_mbps * 1e6);
	s->p.min_bps = (__u64)(sc->min_mbps * 1e6);
	/* A scenario is configuration: the agent would refuse these rates. */
	if (ms_rate_plan_violation(&(struct ms_rate_plan){
		.link_bps = s->p.link_bps,
		.mgmt_reserve_bps = s->p.reserve_bps,
		.migration_aggregate_bps = s->p.aggregate_bps,
		.migration_min_bps = s->p.min_bps,
		.migration_max_bps = s->p.max_bps,
	    })) {
		ret = -EINVAL;
		goto cleanup;
	}
	s->state = calloc(1, sizeof(*s->state));
	if (!s->state) {
		ret = -ENOMEM;
		goto cleanup;
	}
	ms_policy_state_init(s->state);
	for (size_t i = 0; i < sc->n; i++)
		first_start = fmin(first_start, sc->vm[i].start_s);

	steps = lround(sc->horizon_s / sc->dt_s);
	for (long k = 0; k <= steps; k++) {
		size_t running = 0, left = 0;
		double share;

		t = k * sc->dt_s;
		for (size_t i = 0; i < sc->n; i++) {
			struct vm_state *v = &s->vm[i];

			if (v->phase == VM_PENDING && sc->vm[i].start_s <= t + 1e-9) {
				v->phase = VM_RUNNING;
				v->unsent = sc->vm[i].mem_bytes;
				v->iteration = 1;
				v->last_sync_s = t;
				v->period_start_s = t;
				v->downtime_limit_ms = o->order ? s->p.max_downtime_ms
						       : o->mode == SIM_UNSHAPED
							   ? SIM_QEMU_DEFAULT_DOWNTIME_MS
							   : s->p.initial_downtime_ms;
				/* Known in advance: what cannot converge is aborted at once. */
				if (o->order && !sim_vm_convergeable(sc, i))
					finish(s, i, t, 0, true,
					       "cannot converge: aborted at once");
			}
			running += v->phase == VM_RUNNING;
			left += v->phase <= VM_RUNNING;
		}
		if (!left)
			break;
		if (o->order) {
			decide_order(s);
		} else if (o->mode != SIM_UNSHAPED && (t + 1e-9 >= next_decision || s->redecide)) {
			s->redecide = false;
			ret = decide(s, t);
			if (ret)
				goto cleanup;
			while (t + 1e-9 >= next_decision)
				next_decision += sc->cycle_s;
		}
		share = running ? sc->nic_mbps * 1e6 / 8 * SIM_WIRE_EFF / running : 0;
		for (size_t i = 0; i < sc->n; i++)
			if (s->vm[i].phase == VM_RUNNING)
				step_vm(s, i, t, sc->dt_s, share);
	}
	for (size_t i = 0; i < sc->n; i++)
		if (s->vm[i].phase <= VM_RUNNING)
			finish(s, i, sc->horizon_s, 0, true, "still running at the horizon");
	res->makespan_s -= first_start;
cleanup:
	if (s)
		free(s->state);
	free(s);
	return ret;
}

double sim_mean_convergeable(const struct sim_scenario *sc, const struct sim_result *res)
{
	double sum = 0;
	size_t n = 0;

	for (size_t i = 0; i < res->n; i++) {
		if (!sim_vm_convergeable(sc, i))
			continue;
		sum += res->vm[i].completion_s;
		n++;
	}
	return n ? sum / n : 0;
}

double sim_lower_bound_s(const struct sim_scenario *sc)
{
	double left[SIM_MAX_VMS], sum = 0, t = INFINITY;
	/* The paced stream of the whole aggregate: every bulk-pass byte goes at it. */
	double link = fmin(sc->aggregate_mbps, sc->link_mbps - sc->reserve_mbps) * 1e6 / 8 *
		      MS_SPEED_MARGIN_PCT / 100;
	bool conv[SIM_MAX_VMS];
	size_t n = 0, done = 0;
	struct ms_policy_params p;
	double final_bytes;

	/* The most a final copy can carry: the downtime limit at the unpaced aggregate. */
	ms_policy_params_init(&p);
	final_bytes = fmin(sc->aggregate_mbps, sc->link_mbps - sc->reserve_mbps) * 1e6 / 8 *
		      SIM_WIRE_EFF * p.max_downtime_ms / 1000;
	for (size_t i = 0; i < sc->n; i++) {
		conv[i] = sim_vm_convergeable(sc, i);
		left[i] = fmax(sc->vm[i].mem_bytes - final_bytes, 0);
		if (conv[i]) {
			n++;
			t = fmin(t, sc->vm[i].start_s);
		}
	}
	/* Preemptive SRPT on one link of that capacity, with the start times. */
	while (done < n) {
		double next_start = INFINITY, run_for;
		size_t best = SIZE_MAX;

		for (size_t i = 0; i < sc->n; i++) {
			if (!conv[i] || left[i] <= 0)
				continue;
			if (sc->vm[i].start_s > t + 1e-12)
				next_start = fmin(next_start, sc->vm[i].start_s);
			else if (best == SIZE_MAX || left[i] < left[best])
				best = i;
		}
		if (best == SIZE_MAX) {
			t = next_start;
			continue;
		}
		run_for = left[best] / link;
		if (run_for > next_start - t) {
			/* Until the next start, which may preempt it. */
			left[best] -= (next_start - t) * link;
			t = next_start;
			continue;
		}
		left[best] = 0;
		t += run_for;
		sum += t - sc->vm[best].start_s;
		done++;
	}
	return n ? sum / n : 0;
}

/* Identical VMs are interchangeable in an order. */
static bool same_vm(const struct sim_vm_cfg *a, const struct sim_vm_cfg *b)
{
	return a->mem_bytes == b->mem_bytes && a->dirty_bytes_s == b->dirty_bytes_s &&
	       a->wss_bytes == b->wss_bytes && a->start_s == b->start_s &&
	       a->postcopy == b->postcopy && a->auto_converge == b->auto_converge;
}

/* The next multiset permutation in lexicographic order; false after the last. */
static bool next_order(size_t *cls, size_t n)
{
	size_t i, j;

	if (n < 2)
		return false;
	i = n - 1;
	while (i > 0 && cls[i - 1] >= cls[i])
		i--;
	if (!i)
		return false;
	j = n - 1;
	while (cls[j] <= cls[i - 1])
		j--;
	{
		size_t tmp = cls[i - 1];

		cls[i - 1] = cls[j];
		cls[j] = tmp;
	}
	for (size_t a = i, b = n - 1; a < b; a++, b--) {
		size_t tmp = cls[a];

		cls[a] = cls[b];
		cls[b] = tmp;
	}
	return true;
}

int sim_optimum(const struct sim_scenario *sc, struct sim_optimum *opt)
{
	size_t vm_of_class[SIM_MAX_VMS][SIM_MAX_VMS], count[SIM_MAX_VMS] = {0};
	size_t cls[SIM_MAX_VMS], order[SIM_MAX_VMS], n_cls = 0, n = 0;
	struct sim_result *res = calloc(1, sizeof(*res));
	struct sim_opts o = {.escalation = false, .order = order};
	double orders = 1;
	int ret = 0;

	if (!res)
		return -ENOMEM;
	memset(opt, 0, sizeof(*opt));
	opt->lower_bound_s = sim_lower_bound_s(sc);
	for (size_t i = 0; i < sc->n; i++) {
		size_t c;

		if (!sim_vm_convergeable(sc, i))
			continue;
		for (c = 0; c < n_cls; c++)
			if (same_vm(&sc->vm[vm_of_class[c][0]], &sc->vm[i]))
				break;
		if (c == n_cls)
			n_cls++;
		vm_of_class[c][count[c]++] = i;
		cls[n++] = c;
		/* Distinct orders: n! / prod(count!), built up one VM at a time. */
		orders = orders * (double)n / (double)count[c];
	}
	opt->n = n;
	opt->exact = orders <= SIM_OPT_MAX_ORDERS;
	if (!n || !opt->exact) {
		opt->mean_completion_s = opt->lower_bound_s;
		goto cleanup;
	}
	/* Classes in ascending order: the first multiset permutation. */
	for (size_t a = 1; a < n; a++)
		for (size_t b = a; b > 0 && cls[b - 1] > cls[b]; b--) {
			size_t tmp = cls[b];

			cls[b] = cls[b - 1];
			cls[b - 1] = tmp;
		}
	opt->mean_completion_s = INFINITY;
	do {
		size_t used[SIM_MAX_VMS] = {0}, k = 0;
		double mean;

		for (; k < n; k++)
			order[k] = vm_of_class[cls[k]][used[cls[k]]++];
		/* Then those that cannot converge: aborted at their start. */
		for (size_t i = 0; i < sc->n; i++)
			if (!sim_vm_convergeable(sc, i))
				order[k++] = i;
		ret = sim_run(sc, &o, res);
		if (ret)
			goto cleanup;
		opt->orders++;
		mean = sim_mean_convergeable(sc, res);
		if (mean < opt->mean_completion_s) {
			opt->mean_completion_s = mean;
			memcpy(opt->best_order, order, n * sizeof(order[0]));
		}
	} while (next_order(cls, n));
cleanup:
	free(res);
	return ret;
}
