// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Snapshots of the agent for /metrics and the knob tree. Everything here
 * reads; the one write, a knob's new settings, goes to reconfig.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "classes.h"
#include "coord.h"
#include "htb.h"
#include "iface.h"
#include "jobstats.h"
#include "knobs.h"
#include "loader.h"
#include "log.h"
#include "metrics.h"
#include "migration.h"
#include "peerclient.h"
#include "peerserver.h"
#include "policy.h"
#include "reconfig.h"
#include "snapshot.h"
#include "units.h"
#include "virt.h"

double ms_expected_completion_s(const struct ms_job_stats *st)
{
	__u64 dirty;

	if (!ms_job_has(st, MS_JOB_MEM_REMAINING | MS_JOB_MEM_BPS))
		return -1;
	dirty = ms_job_dirty_bytes_per_s(st);
	if (st->mem_bps <= dirty)
		return -1;
	return (double)st->mem_remaining_bytes / (double)(st->mem_bps - dirty);
}

static void fill_metric_class(struct ms_agent *a, __u32 minor, struct ms_metrics_class *mc)
{
	struct ms_htb_class_stats tc;
	struct ms_class_counter bpf;

	memset(mc, 0, sizeof(*mc));
	ms_class_name(minor, mc->name, sizeof(mc->name));
	if (ms_htb_class_read(a->htb, minor, &tc) == 0) {
		mc->have_tc = true;
		mc->bytes = tc.bytes;
		mc->packets = tc.packets;
		mc->drops = tc.drops;
		mc->overlimits = tc.overlimits;
		mc->backlog_bytes = tc.backlog_bytes;
	}
	if (minor < MS_CLASS_SLOTS && ms_dataplane_counters(a->dp, minor, &bpf) == 0) {
		mc->have_bpf = true;
		mc->bpf_bytes = bpf.bytes;
		mc->bpf_packets = bpf.packets;
	}
}

static void fill_metric_migration(const struct ms_migration *m, struct ms_metrics_migration *mm)
{
	const struct ms_job_stats *st = &m->stats;

	memset(mm, 0, sizeof(*mm));
	snprintf(mm->domain, sizeof(mm->domain), "%s", m->name);
	mm->direction = ms_mig_dir_name(m->dir);
	mm->state = ms_mig_state_name(m->state);
	mm->allocated_bps = m->class_rate_bps;
	mm->libvirt_speed_mibs = m->libvirt_speed_mibs;
	mm->stalled = m->stalled;
	/* enum ms_policy_action and enum ms_metrics_action list the actions alike. */
	for (int i = 0; i < MS_METRICS_ACTIONS; i++) {
		mm->actions_total[i] = m->actions_total[i];
		mm->advised_total[i] = m->advised_total[i];
	}
	mm->auto_converge = m->auto_converge;
	mm->throttle_pct = m->auto_converge_throttle_pct;
	mm->manager_speed = m->manager_speed_held;
	mm->manager_downtime = m->manager_downtime_held;
	mm->manager_escalation = m->manager_escalated;
	if (m->dir == MS_MIG_OUTGOING && m->divisor) {
		mm->divisor = m->divisor;
		mm->peer_state = ms_policy_dst_name(m->peer_state);
	}
	if (m->minor)
		ms_class_name(m->minor, mm->class_name, sizeof(mm->class_name));
	if (ms_job_has(st, MS_JOB_MEM_REMAINING | MS_JOB_MEM_BPS)) {
		mm->have_job_stats = true;
		mm->observed_bytes_per_s = st->mem_bps;
		mm->remaining_bytes = st->mem_remaining_bytes;
		mm->dirty_bytes_per_s = ms_job_dirty_bytes_per_s(st);
		mm->iteration = st->iteration;
	}
	mm->expected_completion_s = ms_expected_completion_s(st);
}

static int metrics_snapshot(void *ctx, struct ms_metrics_snapshot *snap)
{
	struct ms_agent *a = ctx;
	const struct ms_migration_table *t = ms_coord_table(a->coord);
	size_t n_classes = 0, n_migs = 0;

	for (size_t i = 0; i < MS_N_FIXED_CLASSES; i++)
		fill_metric_class(a, ms_fixed_classes()[i].minor, &a->metric_classes[n_classes++]);
	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++) {
		const struct ms_migration *m = &t->entries[i];

		if (!m->used)
			continue;
		if (m->minor && m->class_rate_bps)
			fill_metric_class(a, m->minor, &a->metric_classes[n_classes++]);
		fill_metric_migration(m, &a->metric_migrations[n_migs++]);
	}
	snap->iface = a->ifname;
	snap->version = MS_VERSION;
	snap->classes = a->metric_classes;
	snap->n_classes = n_classes;
	snap->migrations = a->metric_migrations;
	snap->n_migrations = n_migs;
	snap->link_bps = ms_mbps_to_bps(a->set.effective.link_mbps);
	snap->effective_aggregate_bps = ms_coord_effective_aggregate(a->coord);
	snap->unattributed_flows_total = ms_coord_unknown_flows(a->coord);
	snap->flows_evicted_total = ms_coord_flows_evicted(a->coord);
	snap->migrations_unseen_total = ms_coord_unseen_migrations(a->coord);
	snap->unattributed_migrations = ms_coord_unattributed_migrations(a->coord);
	for (unsigned int l = 0; l < MS_METRICS_LIMITS; l++)
		snap->limit_hits_total[l] = ms_coord_limit_hits(a->coord, l);
	snap->limit_hits_total[MS_METRICS_LIMIT_KNOB_FILES] = ms_knobs_open_refused(a->knobs);
	snap->tree_in_place = !a->root_yielded && !a->iface_gone;
	snap->root_reasserts_total = a->root_reasserts;
	/* No management connection: RTT unknown, left out rather than 0. */
	snap->have_mgmt_health = a->have_mgmt && a->mgmt.n_conns > 0;
	snap->mgmt_rtt_seconds = (double)a->mgmt.rtt_us_median / 1e6;
	snap->mgmt_retransmits_total = a->mgmt.retrans_total;
	snap->libvirt_connected = ms_virt_connected(a->virt);
	snap->libvirt_reconnects_total = a->virt ? ms_virt_reconnects(a->virt) : 0;
	snap->libvirt_call_timeouts_total = a->virt ? ms_virt_timeouts(a->virt) : 0;
	snap->libvirt_calls_deferred_total = a->virt ? ms_virt_deferred(a->virt) : 0;
	snap->last_cycle_seconds = a->last_cycle_s;
	for (unsigned int k = 0; k < MS_METRICS_ERR_KINDS; k++)
		snap->errors_total[k] = ms_coord_errors(a->coord, k);
	if (a->peer_client) {
		struct ms_peer_stats ps;

		ms_peer_client_stats(a->peer_client, &ps);
		snap->peer_requests_total[0] = ps.answered_total;
		snap->peer_requests_total[1] = ps.silent_total;
		snap->peer_requests_total[2] = ps.refused_total;
		snap->peer_requests_total[3] = ps.absent_total;
	}
	ms_peer_server_counts(a->peer_server, &snap->peer_answers_total,
			      &snap->peer_answers_limited_total);
	if (a->knobs) {
		snap->knob_writes_accepted_total = ms_knobs_writes(a->knobs, true);
		snap->knob_writes_rejected_total = ms_knobs_writes(a->knobs, false);
	}
	return 0;
}

/* Opens the metrics endpoint cfg names (the snapshot storage is the agent's). */
/* Ports from the default on, for agents of several interfaces. */
#define METRICS_PORTS_TRIED 16

int ms_agent_start_metrics_server(struct ms_agent *a, const struct ms_config *cfg,
				  struct ms_metrics_server **out)
{
	unsigned int port;
	int ret;

	if (!a->metric_classes) {
		a->metric_classes =
		    calloc(MS_N_FIXED_CLASSES + MS_MAX_MIGRATIONS, sizeof(*a->metric_classes));
		a->metric_migrations = calloc(MS_MAX_MIGRATIONS, sizeof(*a->metric_migrations));
		if (!a->metric_classes || !a->metric_migrations)
			return -ENOMEM;
	}
	ret = ms_metrics_server_start(a->loop, cfg->metrics_listen, cfg->metrics_port,
				      cfg->metrics_web_config, metrics_snapshot, a, out);
	/*
	 * Agents of several interfaces on one host each serve /metrics: at the
	 * default port, the next free one of a few is taken (an operator's
	 * own port is never moved).
	 */
	for (port = cfg->metrics_port + 1;
	     ret == -EADDRINUSE && cfg->metrics_port == MS_METRICS_DEFAULT_PORT &&
	     port < MS_METRICS_DEFAULT_PORT + METRICS_PORTS_TRIED;
	     port++) {
		ret = ms_metrics_server_start(a->loop, cfg->metrics_listen, port,
					      cfg->metrics_web_config, metrics_snapshot, a, out);
		if (!ret)
			ms_info("metrics: port %u is taken (an agent of another interface?): "
				"/metrics of %s on %s port %u",
				cfg->metrics_port, a->ifname, cfg->metrics_listen, port);
	}
	return ret;
}

/* The peer answer, from the migration table and the settings in force: no libvirt call. */
static int peer_snapshot(void *ctx, struct ms_peer_answer *out)
{
	struct ms_agent *a = ctx;
	const struct ms_migration_table *t = a->coord ? ms_coord_table(a->coord) : NULL;

	if (t) {
		out->incoming_migrations = (__u32)ms_mig_count(t, MS_MIG_INCOMING, MS_MIG_ACTIVE);
		out->outgoing_migrations = (__u32)ms_mig_count(t, MS_MIG_OUTGOING, MS_MIG_ACTIVE);
	}
	out->incoming_aggregate_mbps = a->set.effective.incoming_aggregate_mbps;
	out->link_mbps = a->set.effective.link_mbps;
	return 0;
}

int ms_agent_start_peer_server(struct ms_agent *a, const struct ms_config *cfg,
			       struct ms_peer_server **out)
{
	*out = NULL;
	if (!cfg->n_peer_listen)
		return 0;
	return ms_peer_server_start(a->loop, cfg->peer_listen, cfg->n_peer_listen, cfg->peer_port,
				    peer_snapshot, a, out);
}

/* At start-up /metrics is optional: without it the agent still shapes. */
int ms_agent_start_metrics(struct ms_agent *a)
{
	int ret;

	if (!a->set.effective.metrics_listen[0])
		return 0;
	ret = ms_agent_start_metrics_server(a, &a->set.effective, &a->metrics);
	if (ret == -ENOMEM)
		return ret;
	if (ret)
		ms_warn("metrics: cannot listen on %s port %u: %s; running without /metrics",
			a->set.effective.metrics_listen, a->set.effective.metrics_port,
			strerror(-ret));
	return 0;
}

static const struct ms_migration_table *knob_migrations(void *ctx)
{
	struct ms_agent *a = ctx;

	return a->coord ? ms_coord_table(a->coord) : NULL;
}

static int knob_class_stats(void *ctx, __u32 minor, __u64 *bytes, __u64 *packets, __u64 *drops)
{
	struct ms_agent *a = ctx;
	struct ms_htb_class_stats st;
	int ret = ms_htb_class_read(a->htb, minor, &st);

	if (ret)
		return ret;
	*bytes = st.bytes;
	*packets = st.packets;
	*drops = st.drops;
	return 0;
}

static __u32 knob_link_speed(void *ctx)
{
	return ms_agent_link_speed(ctx);
}

/* The knob tree is optional: without FUSE the agent runs without it. */
void ms_agent_start_knobs(struct ms_agent *a)
{
	static const struct ms_knobs_ops ops = {
	    .config = ms_agent_knob_requested,
	    .effective = ms_agent_knob_effective,
	    .apply = ms_agent_knob_apply,
	    .migrations = knob_migrations,
	    .class_stats = knob_class_stats,
	    .link_speed_mbps = knob_link_speed,
	};
	int ret = ms_knobs_start(a->loop, a->run_dir, a->ifname, &ops, a, &a->knobs);

	if (ret)
		ms_warn("knobs: not available (%s); running without %s/%s", strerror(-ret),
			a->run_dir, a->ifname);
}
