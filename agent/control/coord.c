// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Migration coordination. Ownership: the migration table, and for each
 * outgoing migration its HTB leaf class and its entries in the BPF flow map.
 * Which connections are a migration's is attribute.c's (attribute.h), on
 * the state both share (coord_state.h).
 * Every kernel or libvirt change is recorded in the entry only once it
 * succeeded, so a failed call is simply retried on the next cycle.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attribute.h"
#include "clock.h"
#include "config.h"
#include "coord.h"
#include "coord_state.h"
#include "htb.h"
#include "loader.h"
#include "log.h"
#include "manager.h"
#include "metrics.h"
#include "peerclient.h"
#include "policy.h"
#include "units.h"
#include "virt.h"

/*
 * How long an ended job is remembered: libvirt may go on listing a job the
 * agent saw end (an aborted migration while libvirt cleans up), and that is
 * not a new migration.
 */
#define MS_RETIRED_MEMORY_NS (30 * 1000000000ULL)
/* Without elapsed times to compare, a job found this soon is the ended one. */
#define MS_RETIRED_NO_ELAPSED_NS (5 * 1000000000ULL)

static void apply_allocation(struct ms_coord *c);

/*
 * A destination answered (or fell silent) between cycles: decide again now.
 * Two sources that start migrating to one destination otherwise both send
 * at their local allocation until their next cycle, up to a second of a
 * full downlink at the destination.
 */
static void on_peer_change(void *ctx)
{
	struct ms_coord *c = ctx;

	if (!c->virt || ms_virt_connected(c->virt))
		apply_allocation(c);
}

int ms_coord_new(const struct ms_coord_deps *deps, struct ms_coord **out)
{
	struct ms_coord *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->deps = *deps;
	ms_mig_table_init(&c->table);
	ms_policy_state_init(&c->policy_state);
	if (c->deps.peer)
		ms_peer_client_on_change(c->deps.peer, on_peer_change, c);
	*out = c;
	return 0;
}

void ms_coord_set_virt(struct ms_coord *c, struct ms_virt *virt)
{
	c->virt = virt;
}

/* The escalation key in force (advise without a configuration, as in tests). */
static enum ms_escalation_mode escalation_mode(const struct ms_coord *c)
{
	return c->deps.cfg ? (enum ms_escalation_mode)c->deps.cfg->escalation
			   : MS_ESCALATION_DEFAULT;
}

const struct ms_migration_table *ms_coord_table(const struct ms_coord *c)
{
	return &c->table;
}

__u64 ms_coord_unknown_flows(const struct ms_coord *c)
{
	return c->unknown_flows;
}

void ms_coord_set_health(struct ms_coord *c, bool valid, __u32 rtt_us, __u64 retrans_total)
{
	c->health_valid = valid;
	c->health_rtt_us = rtt_us;
	c->health_retrans_total = retrans_total;
}

__u64 ms_coord_effective_aggregate(const struct ms_coord *c)
{
	return c->effective_aggregate_bps;
}

__u32 ms_coord_rtt_baseline(const struct ms_coord *c)
{
	return c->policy_state.learned_rtt_us;
}

void ms_coord_set_rtt_baseline(struct ms_coord *c, __u32 rtt_us)
{
	c->policy_state.learned_rtt_us = rtt_us;
}

__u64 ms_coord_errors(const struct ms_coord *c, unsigned int kind)
{
	return kind < MS_METRICS_ERR_KINDS ? c->errors[kind] : 0;
}

/* Without a route to ask, or for an incoming migration, there is no choice to make. */
static enum mig_owner first_owner(const struct ms_coord *c, enum ms_mig_dir dir)
{
	return c->deps.route && c->deps.ifindex && dir == MS_MIG_OUTGOING ? OWNER_UNDECIDED
									  : OWNER_US;
}

static void owners_changed(struct ms_coord *c)
{
	if (c->deps.owners_changed)
		c->deps.owners_changed(c->deps.ctx);
}

void ms_coord_uninstall(struct ms_coord *c, struct ms_migration *m)
{
	char cls[32];

	if (!c->deps.htb)
		return;
	for (size_t i = 0; i < m->n_flows; i++) {
		int ret = ms_dataplane_flow_del(c->deps.dp, &m->flows[i]);

		/* ENOENT: the LRU map already evicted it. */
		if (ret && ret != -ENOENT) {
			c->errors[MS_METRICS_ERR_BPF]++;
			ms_warn("%s: removing a flow: %s", m->name, strerror(-ret));
		}
	}
	m->n_flows = 0;
	if (m->class_rate_bps) {
		int ret = ms_htb_mig_class_del(c->deps.htb, m->minor);

		ms_coord_class_name(m, cls, sizeof(cls));
		if (ret && ret != -ENOENT) {
			c->errors[MS_METRICS_ERR_NETLINK]++;
			ms_warn("%s: deleting class %s: %s", m->name, cls, strerror(-ret));
		}
		m->class_rate_bps = 0;
		owners_changed(c);
	}
}

/*
 * Puts back what the agent set through libvirt: the manager's speed, or the
 * one in force before the agent set any; with downtime, the max downtime
 * too. A migration left throttled by a gone agent, or a domain whose next
 * migration would start from the agent's values (and take them for a
 * manager's), is what this prevents.
 */
static void restore_libvirt(struct ms_coord *c, struct ms_migration *m, bool downtime)
{
	__u32 mibs = ms_manager_speed_to_restore(m);
	__u32 ms = downtime ? ms_manager_downtime_to_restore(m) : 0;

	if (m->dir != MS_MIG_OUTGOING || !ms_virt_connected(c->virt))
		return;
	/* The job is over: no later cycle puts these back. */
	ms_virt_exempt(c->virt, true);
	if (mibs && ms_virt_set_speed(c->virt, m->uuid, mibs) == 0) {
		m->libvirt_speed_mibs = mibs;
		if (mibs == MS_VIRT_SPEED_UNLIMITED)
			ms_info("%s: libvirt migration speed put back to libvirt's default",
				m->name);
		else
			ms_info("%s: libvirt migration speed put back to %u MiB/s", m->name, mibs);
	} else if (mibs) {
		c->errors[MS_METRICS_ERR_LIBVIRT]++;
	}
	if (m->postcopy_speed_mibs && !m->postcopy_manager_held) {
		__u32 found =
		    m->postcopy_found_mibs == MS_VIRT_SPEED_UNLIMITED ? 0 : m->postcopy_found_mibs;

		if (ms_virt_set_postcopy_speed(c->virt, m->uuid, found) == 0) {
			m->postcopy_speed_mibs = 0;
			ms_info("%s: post-copy bandwidth put back", m->name);
		} else {
			c->errors[MS_METRICS_ERR_LIBVIRT]++;
		}
	}
	if (ms && ms_virt_set_max_downtime(c->virt, m->uuid, ms) == 0) {
		m->max_downtime_ms = ms;
		ms_info("%s: max downtime put back to %u ms", m->name, ms);
	} else if (ms) {
		c->errors[MS_METRICS_ERR_LIBVIRT]++;
	}
	ms_virt_exempt(c->virt, false);
}

/* A deferred call (-EBUSY: libvirt answers slowly) is no error: a later cycle makes it. */
static void libvirt_failed(struct ms_coord *c, int ret)
{
	if (ret != -EBUSY)
		c->errors[MS_METRICS_ERR_LIBVIRT]++;
}

static void remember_retired(struct ms_coord *c, const struct ms_migration *m, bool event_pending)
{
	struct retired_job *r = &c->retired[c->next_retired];

	memcpy(r->uuid, m->uuid, MS_UUID_LEN);
	r->dir = m->dir;
	r->has_elapsed = ms_job_has(&m->stats, MS_JOB_TIME_ELAPSED);
	r->event_pending = event_pending;
	r->elapsed_ms = m->stats.time_elapsed_ms;
	r->at_ns = ms_clock_ns();
	c->next_retired = (c->next_retired + 1) % MS_MAX_MIGRATIONS;
}

/*
 * The first entry of the retired table, still remembered at now, for the
 * domain uuid's job in direction dir; with pending_only, only one whose
 * job-completed event has not come yet.
 */
static struct retired_job *find_retired(struct ms_coord *c, const unsigned char *uuid,
					enum ms_mig_dir dir, bool pending_only, __u64 now)
{
	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++) {
		struct retired_job *r = &c->retired[i];

		if (r->at_ns && now - r->at_ns <= MS_RETIRED_MEMORY_NS && r->dir == dir &&
		    !memcmp(r->uuid, uuid, MS_UUID_LEN) && (!pending_only || r->event_pending))
			return r;
	}
	return NULL;
}

/*
 * A job libvirt lists for a domain whose job the agent saw end: that job, not
 * a new one? Only a job of the same direction can be: a domain that arrived
 * and leaves again seconds later (its incoming job had no elapsed time to
 * compare) is migrating out, and every byte it sends before it is found
 * leaks into the unattributed class.
 */
static bool is_retired_job(struct ms_coord *c, const struct ms_virt_job *job)
{
	const struct ms_job_stats *st = job->stats;
	__u64 now = ms_clock_ns();
	const struct retired_job *r = find_retired(c, job->uuid, job->dir, false, now);

	if (!r)
		return false;
	/*
	 * The ended job would be as old as then plus the time since; a retry
	 * started after it ended, so it is younger than that.
	 */
	if (r->has_elapsed && ms_job_has(st, MS_JOB_TIME_ELAPSED))
		return st->time_elapsed_ms + 1000 >= r->elapsed_ms + (now - r->at_ns) / 1000000ULL;
	return now - r->at_ns <= MS_RETIRED_NO_ELAPSED_NS;
}

/*
 * restore: the job is over for libvirt too, so its values may be put back.
 * by_event: libvirt's job-completed event ended it (no other will come).
 */
static void retire(struct ms_coord *c, struct ms_migration *m, enum ms_mig_event ev,
		   const struct ms_job_stats *final, bool restore, bool by_event)
{
	double secs = (double)(ms_clock_ns() - m->started_ns) / 1e9;
	char cls[32];

	m->state = ms_mig_next_state(m->state, ev);
	ms_coord_class_name(m, cls, sizeof(cls));
	if (final && ms_job_has(final, MS_JOB_DOWNTIME))
		ms_info("%s: %s migration %s after %.1f s, downtime %llu ms; class %s freed",
			m->name, ms_mig_dir_name(m->dir), ms_mig_state_name(m->state), secs,
			(unsigned long long) final->downtime_ms, cls);
	else
		ms_info("%s: %s migration %s after %.1f s; class %s freed", m->name,
			ms_mig_dir_name(m->dir), ms_mig_state_name(m->state), secs, cls);
	/* The domain stays here: its next migration must not start from our values. */
	if (restore && (m->state == MS_MIG_FAILED || m->state == MS_MIG_CANCELLED))
		restore_libvirt(c, m, true);
	remember_retired(c, m, !by_event);
	ms_coord_uninstall(c, m);
	ms_mig_remove(&c->table, m);
}

/*
 * A job of m's domain in the other direction (listed, or ended by libvirt's
 * job-completed event) is another migration, and m completed: a domain
 * leaves only once it arrived, and comes back only once it left. The domain
 * moved again before a scan or an event showed m's end (seen in the soak: a
 * guest sent back within two seconds of its arrival was taken for its
 * incoming job, and its outgoing migration went uncounted).
 */
static void retire_moved_on(struct ms_coord *c, struct ms_migration *m)
{
	retire(c, m, MS_MIG_EV_COMPLETED, NULL, false, false);
}

static int observe(struct ms_coord *c, const struct ms_virt_job *job)
{
	struct ms_migration *m = ms_mig_find(&c->table, job->uuid);
	char cls[32];

	/*
	 * A finished job is not a running one: a tracked one is retired by
	 * the scan (not seen), an untracked one is not a new migration.
	 */
	if (job->stats->type == VIR_DOMAIN_JOB_COMPLETED ||
	    job->stats->type == VIR_DOMAIN_JOB_FAILED ||
	    job->stats->type == VIR_DOMAIN_JOB_CANCELLED)
		return 0;
	if (!m && is_retired_job(c, job))
		return 0;
	if (m && m->dir != job->dir) {
		retire_moved_on(c, m);
		m = NULL;
	}
	/*
	 * A job younger than the one we track is a new migration of the same
	 * domain (a retry whose predecessor ended between two scans): start
	 * afresh rather than inherit its switchover, escalation and flows.
	 */
	if (m && ms_job_has(&m->stats, MS_JOB_TIME_ELAPSED) &&
	    ms_job_has(job->stats, MS_JOB_TIME_ELAPSED) &&
	    job->stats->time_elapsed_ms + 1000 < m->stats.time_elapsed_ms) {
		retire(c, m, MS_MIG_EV_FAILED, NULL, false, false);
		m = NULL;
	}
	if (!m) {
		m = ms_mig_add(&c->table, job->uuid, job->name, job->dir, ms_clock_ns());
		if (!m) {
			c->limit_hits[MS_METRICS_LIMIT_MIGRATIONS]++;
			if (!c->table_full_logged)
				ms_warn("%s: no room for another migration (%u tracked); it stays "
					"in the unattributed class",
					job->name, MS_MAX_MIGRATIONS);
			c->table_full_logged = true;
			return -ENOSPC;
		}
		*ms_coord_owner(c, m) = first_owner(c, m->dir);
		c->tunnel_watch[m - c->table.entries] = (struct ms_tunnel_watch){0};
		ms_coord_class_name(m, cls, sizeof(cls));
		ms_info("%s: %s migration found; class %s", m->name, ms_mig_dir_name(m->dir), cls);
	}
	m->state = ms_mig_next_state(m->state, MS_MIG_EV_ACTIVE);
	ms_mig_set_stats(m, job->stats);
	c->seen[m - c->table.entries] = true;
	return 0;
}

static void on_scan_job(void *ctx, const struct ms_virt_job *job)
{
	observe(ctx, job);
}

int ms_coord_observe_job(struct ms_coord *c, const char *name, const unsigned char *uuid,
			 enum ms_mig_dir dir, const struct ms_job_stats *stats)
{
	const struct ms_virt_job job = {.name = name, .uuid = uuid, .dir = dir, .stats = stats};

	return observe(c, &job);
}

/*
 * A job that vanished between scans: ask libvirt how it ended. *final gets
 * the completed job's stats when libvirt has them (a defined domain).
 * Returns OUTCOME_ANSWERED when libvirt said, OUTCOME_INFERRED when it was
 * inferred from where the domain is, OUTCOME_UNKNOWN when libvirt did not
 * answer at all (a timed-out call): then nothing may be concluded.
 */
enum outcome { OUTCOME_UNKNOWN, OUTCOME_INFERRED, OUTCOME_ANSWERED };

static enum outcome outcome_of(struct ms_coord *c, const struct ms_migration *m,
			       enum ms_mig_event *ev, struct ms_job_stats *final)
{
	int running;

	if (ms_virt_job_stats(c->virt, m->uuid, true, final) == 0) {
		*ev = final->type == VIR_DOMAIN_JOB_COMPLETED	? MS_MIG_EV_COMPLETED
		      : final->type == VIR_DOMAIN_JOB_FAILED	? MS_MIG_EV_FAILED
		      : final->type == VIR_DOMAIN_JOB_CANCELLED ? MS_MIG_EV_CANCELLED
								: MS_MIG_EV_ACTIVE;
		if (*ev != MS_MIG_EV_ACTIVE)
			return OUTCOME_ANSWERED;
	}
	memset(final, 0, sizeof(*final));
	running = ms_virt_domain_running(c->virt, m->uuid);
	if (running != 0 && running != -ENOENT)
		return OUTCOME_UNKNOWN;
	/*
	 * A domain that left after an outgoing migration arrived; one still
	 * here did not, unless its QEMU is another: the source QEMU exits once
	 * a migration completes, so a domain migrated back while libvirtd was
	 * away (no event, no stats) runs in a new process.
	 */
	if (m->dir == MS_MIG_OUTGOING)
		*ev = running == -ENOENT || ms_coord_qemu_exited(m) ? MS_MIG_EV_COMPLETED
								    : MS_MIG_EV_FAILED;
	else
		*ev = running == 0 ? MS_MIG_EV_COMPLETED : MS_MIG_EV_FAILED;
	return OUTCOME_INFERRED;
}

/* Returns -EBUSY when the listing was deferred (libvirt answers slowly), else 0. */
static int scan(struct ms_coord *c)
{
	__u64 listing_ns;
	int found;

	if (!ms_virt_connected(c->virt))
		return 0;
	memset(c->seen, 0, sizeof(c->seen));
	listing_ns = ms_clock_ns();
	found = ms_virt_scan(c->virt, on_scan_job, c);
	/* Without a complete scan, keep every class: never drop shaping on a libvirt hiccup. */
	if (found < 0)
		return found == -EBUSY ? -EBUSY : 0;
	c->listing_ns[c->next_listing] = listing_ns;
	c->next_listing = (c->next_listing + 1) % MS_COORD_LISTINGS;
	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++) {
		struct ms_migration *m = &c->table.entries[i];
		__u64 grace_ns = (__u64)c->deps.cfg->cycle_ms * 1000000ULL;
		struct ms_job_stats final;
		enum outcome outcome;
		enum ms_mig_event ev;
		__u64 now = ms_clock_ns();

		if (!m->used || m->state != MS_MIG_ACTIVE)
			continue;
		if (c->seen[i]) {
			m->missing_since_ns = 0;
			continue;
		}
		if (!m->missing_since_ns)
			m->missing_since_ns = now;
		/*
		 * libvirt may drop the job from its listing before it stores the
		 * completed stats; without an answer, wait a cycle for the
		 * job-completed event, which carries them (the downtime).
		 */
		outcome = outcome_of(c, m, &ev, &final);
		if (outcome == OUTCOME_ANSWERED ||
		    (outcome == OUTCOME_INFERRED && now - m->missing_since_ns >= grace_ns))
			retire(c, m, ev, &final, true, false);
	}
	return 0;
}

static void apply_class(struct ms_coord *c, struct ms_migration *m, __u64 rate_bps, __u64 ceil_bps)
{
	char cls[32];
	int ret;

	if (!c->deps.htb)
		return;
	ms_coord_class_name(m, cls, sizeof(cls));
	if (!m->class_rate_bps) {
		ret = ms_htb_mig_class_add(c->deps.htb, m->minor, rate_bps, ceil_bps);
		/* Left by an earlier migration whose class could not be deleted: take it over. */
		if (ret == -EEXIST)
			ret = ms_htb_mig_class_change(c->deps.htb, m->minor, rate_bps, ceil_bps);
	} else if (m->class_rate_bps != rate_bps || m->class_ceil_bps != ceil_bps)
		ret = ms_htb_mig_class_change(c->deps.htb, m->minor, rate_bps, ceil_bps);
	else
		return;
	if (ret) {
		c->errors[MS_METRICS_ERR_NETLINK]++;
		ms_warn("%s: setting class %s: %s", m->name, cls, strerror(-ret));
		return;
	}
	if (!m->class_rate_bps) {
		m->class_rate_bps = rate_bps;
		owners_changed(c);
	}
	m->class_rate_bps = rate_bps;
	m->class_ceil_bps = ceil_bps;
	ms_info("%s: class %s rate %llu Mbit/s, ceil %llu Mbit/s", m->name, cls,
		(unsigned long long)ms_bps_to_mbps(rate_bps),
		(unsigned long long)ms_bps_to_mbps(ceil_bps));
}

/*
 * In post-copy QEMU sends at its post-copy bandwidth, and the pre-copy speed
 * reads as libvirt's saturated default: the allocation goes to the post-copy
 * bandwidth, with the same rule for what the manager holds (a value the
 * agent did not set is a ceiling; lifted to no limit, it is left alone).
 */
static void apply_postcopy_speed(struct ms_coord *c, struct ms_migration *m, __u32 mibs)
{
	__u32 current, ceiling = ms_manager_speed_ceiling(m);
	int ret;

	ret = ms_virt_get_postcopy_speed(c->virt, m->uuid, &current);
	if (ret) {
		libvirt_failed(c, ret);
		return;
	}
	if (!m->postcopy_speed_mibs && !m->postcopy_found_mibs)
		m->postcopy_found_mibs = current ? current : MS_VIRT_SPEED_UNLIMITED;
	if ((m->postcopy_speed_mibs && current != m->postcopy_speed_mibs) ||
	    (!m->postcopy_speed_mibs && current && !m->postcopy_manager_held)) {
		if (!m->postcopy_manager_held || m->postcopy_manager_mibs != current)
			ms_info("%s: post-copy bandwidth %u MiB/s was set by its manager%s",
				m->name, current,
				current ? ": a ceiling from now on" : ": left alone");
		m->postcopy_manager_held = true;
		m->postcopy_manager_mibs = current;
		m->postcopy_speed_mibs = current;
	}
	if (m->postcopy_manager_held) {
		if (!m->postcopy_manager_mibs)
			return;
		if (!ceiling || m->postcopy_manager_mibs < ceiling)
			ceiling = m->postcopy_manager_mibs;
	}
	if (ceiling && mibs > ceiling)
		mibs = ceiling;
	if (current == mibs) {
		m->postcopy_speed_mibs = mibs;
		return;
	}
	ret = ms_virt_set_postcopy_speed(c->virt, m->uuid, mibs);
	if (ret) {
		libvirt_failed(c, ret);
		return;
	}
	m->postcopy_speed_mibs = mibs;
	ms_info("%s: libvirt post-copy bandwidth %u MiB/s", m->name, mibs);
}

static void apply_speed(struct ms_coord *c, struct ms_migration *m, __u32 mibs)
{
	__u32 current;
	bool noticed;
	int ret;

	if (!c->deps.cfg->speed_coordination || !ms_virt_connected(c->virt) || !mibs)
		return;
	if (m->in_postcopy) {
		apply_postcopy_speed(c, m, mibs);
		return;
	}
	/*
	 * libvirt applies the migration's own bandwidth (virsh migrate
	 * --bandwidth, Nova's first speed) when its perform phase starts:
	 * until data moves, the speed read back is not the manager's yet, and
	 * one set now would exceed it. The class shapes meanwhile.
	 */
	if (!m->libvirt_speed_mibs && !m->stats.mem_processed_bytes && !m->stats.iteration &&
	    !m->n_flows)
		return;
	/*
	 * What is in force? libvirt applies a migration's own bandwidth
	 * parameter when its perform phase starts, and the manager may change
	 * it at any time: a speed the agent did not set is the manager's, and
	 * from then on a ceiling (manager.h), never something to undo.
	 */
	ret = ms_virt_get_speed(c->virt, m->uuid, &current);
	/* Never set a speed over the manager's without reading it first. */
	if (ret == -EBUSY)
		return;
	if (ret == 0) {
		bool inherited = m->speed_inherited;
		__u64 now = ms_clock_ns();

		/*
		 * Post-copy starts with libvirt putting the pre-copy speed back
		 * to its default, and the event that says post-copy runs comes
		 * a moment later: libvirt's default where the agent's speed was
		 * is a manager's lift only if it is still there a cycle later
		 * and the migration is not in post-copy by then.
		 */
		if (current == MS_VIRT_SPEED_UNLIMITED && m->libvirt_speed_mibs &&
		    m->libvirt_speed_mibs != MS_VIRT_SPEED_UNLIMITED && !m->manager_speed_held) {
			if (!m->speed_default_seen_ns)
				m->speed_default_seen_ns = now;
			if (now - m->speed_default_seen_ns <
			    (__u64)c->deps.cfg->cycle_ms * 1000000ULL)
				return;
		} else {
			m->speed_default_seen_ns = 0;
		}

		mibs = ms_manager_speed(m, current, mibs, &noticed);
		if (inherited)
			ms_info("%s: libvirt migration speed %u MiB/s in force, the previous "
				"agent's",
				m->name, current);
		if (noticed && m->manager_speed_mibs)
			ms_info("%s: libvirt migration speed %u MiB/s was set by its manager: the "
				"agent sets no more from now on",
				m->name, m->manager_speed_mibs);
		else if (noticed)
			ms_info("%s: libvirt migration speed back at libvirt's default (lifted "
				"by its manager, or the job ended): left alone from now on",
				m->name);
		if (!mibs)
			return;
	} else if (mibs == m->libvirt_speed_mibs) {
		return;
	}
	ret = ms_virt_set_speed(c->virt, m->uuid, mibs);
	if (ret) {
		libvirt_failed(c, ret);
		return;
	}
	m->libvirt_speed_mibs = mibs;
	ms_info("%s: libvirt migration speed %u MiB/s", m->name, mibs);
}

/* The policy's max downtime, never below one the manager set (manager.h). */
static void apply_downtime(struct ms_coord *c, struct ms_migration *m, __u32 want_ms,
			   const char *reason)
{
	__u32 current;
	bool noticed;
	int ret;

	ret = ms_virt_get_max_downtime(c->virt, m->uuid, &current);
	/* Never lower the manager's without reading it first. */
	if (ret == -EBUSY)
		return;
	if (ret == 0) {
		want_ms = ms_manager_downtime(m, current, want_ms, &noticed);
		if (noticed)
			ms_info("%s: max downtime %u ms was set by its manager: never lowered from "
				"now on",
				m->name, m->manager_downtime_ms);
		if (!want_ms)
			return;
	}
	ret = ms_virt_set_max_downtime(c->virt, m->uuid, want_ms);
	if (ret) {
		libvirt_failed(c, ret);
		return;
	}
	if (m->max_downtime_ms)
		ms_info("%s: max downtime %u ms (%s)", m->name, want_ms, reason);
	m->max_downtime_ms = want_ms;
}

/* escalation = advise: what would have been done is reported, nothing is done. */
static void advise(struct ms_migration *m, const struct ms_policy_mig_out *o)
{
	if (o->action == MS_POLICY_ACT_NONE)
		return;
	m->advised_action = o->action;
	m->advised_total[o->action]++;
	ms_warn("%s: would %s (%s); escalation is advise: nothing done", m->name,
		ms_policy_action_name(o->action), o->reason);
}

/*
 * A migration found stalled (it was not at the previous decision): the
 * event a manager acts on (vdsm fires one for the engine), whatever the
 * escalation mode, in the knob tree (stall_event) and the log.
 */
static void stall_event(struct ms_migration *m, const struct ms_policy_mig_out *o)
{
	m->stall_events++;
	m->stall_at_unix_s = (__s64)time(NULL);
	ms_warn("%s: stall event: the migration makes no progress%s%s%s", m->name,
		o->reason[0] ? " (" : "", o->reason, o->reason[0] ? ")" : "");
}

/* Escalation: the downtime limit and at most one action, each through libvirt. */
static void escalate(struct ms_coord *c, struct ms_migration *m, const struct ms_policy_mig_out *o,
		     enum ms_escalation_mode mode)
{
	int ret = 0;

	if (o->max_downtime_ms && o->max_downtime_ms != m->max_downtime_ms)
		apply_downtime(c, m, o->max_downtime_ms, o->reason);
	/* A raise that did not happen (refused, or below the manager's) is no action. */
	if (o->action == MS_POLICY_ACT_RAISE_DOWNTIME && m->max_downtime_ms != o->max_downtime_ms)
		return;
	if (o->action != MS_POLICY_ACT_NONE && !ms_manager_allows(m, o->action, mode)) {
		ms_info("%s: no %s (%s): its manager has acted on this migration", m->name,
			ms_policy_action_name(o->action), o->reason);
		return;
	}
	switch (o->action) {
	case MS_POLICY_ACT_NONE:
		return;
	case MS_POLICY_ACT_RAISE_DOWNTIME:
		break; /* carried by max_downtime_ms above */
	case MS_POLICY_ACT_POSTCOPY:
		ret = ms_virt_start_postcopy(c->virt, m->uuid);
		/*
		 * libvirt's answer, not a failed call: the migration was not
		 * started with VIR_MIGRATE_POSTCOPY, which no job stat shows.
		 */
		if (ret == -EPERM) {
			m->postcopy_refused = true;
			ms_info("%s: no post-copy: not started with it (%s)", m->name, o->reason);
			return;
		}
		if (!ret)
			m->in_postcopy = true;
		break;
	case MS_POLICY_ACT_SUSPEND:
		ret = ms_virt_suspend(c->virt, m->uuid);
		if (!ret)
			m->suspended = true;
		break;
	case MS_POLICY_ACT_ABORT:
		ret = ms_virt_abort(c->virt, m->uuid);
		break;
	}
	if (ret) {
		c->errors[MS_METRICS_ERR_LIBVIRT]++;
		ms_warn("%s: %s refused by libvirt (%s)", m->name, ms_policy_action_name(o->action),
			o->reason);
		return;
	}
	m->last_action = o->action;
	m->actions_total[o->action]++;
	ms_info("%s: %s (%s)", m->name, ms_policy_action_name(o->action), o->reason);
}

static void apply_escalation(struct ms_coord *c, struct ms_migration *m,
			     const struct ms_policy_mig_out *o)
{
	enum ms_escalation_mode mode = escalation_mode(c);
	/* The policy decides an action once (it counts it as sent): no later cycle asks again. */
	bool once = o->action != MS_POLICY_ACT_NONE;

	if (mode == MS_ESCALATION_OFF || !ms_virt_connected(c->virt))
		return;
	if (mode == MS_ESCALATION_ADVISE) {
		advise(m, o);
		return;
	}
	if (once)
		ms_virt_exempt(c->virt, true);
	escalate(c, m, o, mode);
	if (once)
		ms_virt_exempt(c->virt, false);
}

/*
 * requested (may be NULL: every rate counts as set by hand) tells the
 * work-conserving defaults from hard caps: with the aggregate and max both
 * on auto, a migration may borrow up to the link, as the aggregate class
 * does (agent/daemon/reconfig.c); either set by hand caps it.
 */
static void policy_params(const struct ms_config *cfg, const struct ms_config *requested,
			  enum ms_escalation_mode escalation, struct ms_policy_params *p)
{
	ms_policy_params_init(p);
	p->kind = cfg->policy;
	p->link_bps = ms_mbps_to_bps(cfg->link_mbps);
	p->reserve_bps = ms_mbps_to_bps(cfg->mgmt_reserve_mbps);
	p->aggregate_bps = ms_mbps_to_bps(cfg->migration_aggregate_mbps);
	p->max_bps = ms_mbps_to_bps(cfg->migration_max_mbps);
	p->min_bps = ms_mbps_to_bps(cfg->migration_min_mbps);
	if (requested && !requested->migration_aggregate_mbps && !requested->migration_max_mbps)
		p->borrow_ceil_bps = p->link_bps;
	p->escalation = escalation != MS_ESCALATION_OFF;
	p->max_downtime_ms = cfg->max_downtime_ms;
	p->suspend_allowed = cfg->suspend_allowed;
	p->progress_timeout_s = cfg->migration_progress_timeout_s;
	p->downtime_step_ms = cfg->downtime_step_ms;
	p->escalate_interval_ms = cfg->escalation_interval_ms;
}

static void policy_row(const struct ms_migration *m, struct ms_policy_mig_in *in)
{
	memset(in, 0, sizeof(*in));
	in->id = m->id;
	in->dir = m->dir;
	in->started_ns = m->started_ns;
	in->mem_total_bytes = m->stats.mem_total_bytes;
	in->remaining_bytes = m->stats.mem_remaining_bytes;
	in->processed_bytes = m->stats.mem_processed_bytes;
	in->dirty_bytes_s = ms_job_dirty_bytes_per_s(&m->stats);
	in->page_size_bytes = m->stats.page_size_bytes;
	in->iteration = m->stats.iteration;
	/* Job stats do not carry the migration's flags: assume post-copy until refused. */
	in->postcopy_enabled = !m->postcopy_refused;
	in->in_switchover = m->in_switchover;
	in->in_postcopy = m->in_postcopy;
	in->suspended = m->suspended;
	in->auto_converge = m->auto_converge;
	in->throttle_pct = m->auto_converge_throttle_pct;
	in->manager_max_mibs = ms_manager_speed_ceiling(m);
}

/*
 * The destination a migration's flows go to, at the peer port (the
 * destination's agent listens there): false for an incoming migration or
 * one whose flows are not attributed yet.
 */
static bool peer_of(const struct ms_coord *c, const struct ms_migration *m, struct ms_peer_addr *a)
{
	if (m->dir != MS_MIG_OUTGOING || m->state != MS_MIG_ACTIVE || !m->n_flows)
		return false;
	memcpy(a->ip, m->flows[0].daddr, sizeof(a->ip));
	a->port = c->deps.cfg->peer_port;
	return true;
}

/* What the destination's agent said, as policy input (policy.h). */
static void peer_row(const struct ms_coord *c, const struct ms_migration *m,
		     struct ms_policy_mig_in *in)
{
	struct ms_peer_status st;
	struct ms_peer_addr a, other;
	__u32 ours = 0, incoming;

	if (!c->deps.peer || !peer_of(c, m, &a))
		return;
	ms_peer_status(c->deps.peer, &a, &st);
	in->dst_state = st.state;
	in->dst_silent = st.silent;
	if (!st.have_answer ||
	    (st.state != MS_POLICY_DST_ANSWERED && st.state != MS_POLICY_DST_REFUSED))
		return;
	/* Ours to it count even if its agent has not seen them all yet. */
	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++)
		if (c->table.entries[i].used && peer_of(c, &c->table.entries[i], &other) &&
		    !memcmp(&other, &a, sizeof(a)))
			ours++;
	incoming = st.answer.incoming_migrations > ours ? st.answer.incoming_migrations : ours;
	in->dst_migrations = incoming + st.answer.outgoing_migrations;
	in->dst_incoming = incoming;
	in->dst_budget_bps = ms_mbps_to_bps(st.answer.incoming_aggregate_mbps);
}

/*
 * This cycle's questions to the destinations, one per destination: the
 * answers are there for the next decision. Each must end well within a
 * cycle.
 */
static void ask_peers(struct ms_coord *c)
{
	__u32 timeout_ms = c->deps.cfg->cycle_ms / 4;
	struct ms_peer_addr a;

	if (!c->deps.peer)
		return;
	if (timeout_ms > MS_PEER_TIMEOUT_MAX_MS)
		timeout_ms = MS_PEER_TIMEOUT_MAX_MS;
	ms_peer_begin(c->deps.peer);
	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++)
		if (c->table.entries[i].used && peer_of(c, &c->table.entries[i], &a))
			ms_peer_ask(c->deps.peer, &a, timeout_ms);
	ms_peer_end(c->deps.peer);
}

/*
 * The aggregate class follows the aggregate in force: a cut that reached only
 * the leaves would leave the unattributed migration flows the whole
 * configured aggregate. Never below migration_min (the tree's own bound).
 */
static void apply_aggregate(struct ms_coord *c, __u64 aggregate_bps)
{
	__u64 min_bps = ms_mbps_to_bps(c->deps.cfg->migration_min_mbps);
	int ret;

	if (!c->deps.apply_aggregate || !aggregate_bps)
		return;
	ret =
	    c->deps.apply_aggregate(c->deps.ctx, aggregate_bps < min_bps ? min_bps : aggregate_bps);
	if (ret) {
		c->errors[MS_METRICS_ERR_NETLINK]++;
		ms_warn("setting the aggregate class to %llu Mbit/s: %s",
			(unsigned long long)ms_bps_to_mbps(aggregate_bps), strerror(-ret));
	}
}

/* One policy decision for every running migration, applied to tc and libvirt. */
static void apply_allocation(struct ms_coord *c)
{
	struct ms_policy_output out = {.migs = c->policy_out};
	struct ms_policy_input in = {.now_ns = ms_clock_ns(), .migs = c->policy_in};
	struct ms_policy_params params;
	char err[128];
	int ret;

	policy_params(c->deps.cfg, c->deps.requested, escalation_mode(c), &params);
	if (ms_policy_params_check(&params, err, sizeof(err))) {
		if (!c->params_bad_logged)
			ms_err("policy: %s; keeping the current rates", err);
		c->params_bad_logged = true;
		return;
	}
	c->params_bad_logged = false;
	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++) {
		struct ms_migration *m = &c->table.entries[i];

		if (!m->used || m->state != MS_MIG_ACTIVE || *ms_coord_owner(c, m) == OWNER_OTHER)
			continue;
		c->policy_rows[in.n] = m;
		policy_row(m, &c->policy_in[in.n]);
		peer_row(c, m, &c->policy_in[in.n++]);
	}
	/*
	 * A sample is judged once: this runs again within a cycle (attribution,
	 * switchover, peers) and between cycles (events), and one bad sample
	 * seen twice would make the two in a row that cut.
	 */
	in.health.valid = c->health_valid;
	in.health.rtt_us = c->health_rtt_us;
	if (c->health_valid) {
		in.health.retrans_delta = c->health_retrans_total - c->health_retrans_used;
		c->health_retrans_used = c->health_retrans_total;
		c->health_valid = false;
	}
	ret = ms_policy_decide(&params, &c->policy_state, &in, &out);
	if (ret) {
		ms_err("policy: decision failed: %s", strerror(-ret));
		return;
	}
	if (out.mgmt_unhealthy && out.effective_aggregate_bps < c->effective_aggregate_bps)
		ms_info("policy: AIMD cut: effective migration aggregate %llu Mbit/s (management "
			"RTT %u us, idle baseline %u us, %llu retransmits)",
			(unsigned long long)ms_bps_to_mbps(out.effective_aggregate_bps),
			in.health.rtt_us, c->policy_state.learned_rtt_us,
			(unsigned long long)in.health.retrans_delta);
	else if (out.effective_aggregate_bps != c->effective_aggregate_bps &&
		 c->effective_aggregate_bps)
		ms_info("policy: effective migration aggregate %llu Mbit/s%s",
			(unsigned long long)ms_bps_to_mbps(out.effective_aggregate_bps),
			out.mgmt_unhealthy ? " (management unhealthy)" : "");
	c->effective_aggregate_bps = out.effective_aggregate_bps;
	apply_aggregate(c, out.effective_aggregate_bps);
	for (size_t i = 0; i < in.n; i++) {
		struct ms_migration *m = c->policy_rows[i];
		const struct ms_policy_mig_out *o = &c->policy_out[i];

		if (o->stalled && !m->stalled)
			stall_event(m, o);
		m->stalled = o->stalled;
		if (m->dir != MS_MIG_OUTGOING)
			continue;
		m->divisor = o->divisor;
		m->peer_state = c->policy_in[i].dst_state;
		apply_class(c, m, o->rate_bps, o->ceil_bps);
		if (*ms_coord_owner(c, m) != OWNER_US)
			continue;
		apply_speed(c, m, o->speed_mibs);
		apply_escalation(c, m, o);
	}
}

__u32 ms_coord_unattributed_migrations(const struct ms_coord *c)
{
	return c->unattributed_migrations;
}

bool ms_coord_flow_is_migration(void *coord, const struct ms_flow_key *key)
{
	return ms_attrib_flow_attributed(coord, key);
}

void ms_coord_cycle(struct ms_coord *c)
{
	/*
	 * Without libvirt, or with the listing deferred, the job stats are
	 * frozen: re-deciding on them would only shuffle rates (and run the
	 * stall clock on stale progress). Keep what is in place until libvirt
	 * answers.
	 */
	bool fresh = scan(c) != -EBUSY && (!c->virt || ms_virt_connected(c->virt));

	if (fresh)
		apply_allocation(c);
	ms_attrib_check_evictions(c);
	/* A migration found to be ours gets its speed now, not a cycle later. */
	if (ms_attrib_all(c) && fresh)
		apply_allocation(c);
	ask_peers(c);
	ms_attrib_check_unattributed(c);
}

void ms_coord_on_flow_event(struct ms_coord *c, const struct ms_flow_event *ev)
{
	char flow[MS_FLOW_KEY_STRLEN];

	if (ms_flow_key_format(&ev->key, flow, sizeof(flow)))
		snprintf(flow, sizeof(flow), "?");
	/*
	 * A migration port on our side: this host is the receiver (an incoming
	 * migration or NBD export), and this is its return traffic (ACKs), which
	 * is not ours to attribute: no rescan for it.
	 */
	if (ev->key.sport >= c->deps.cfg->migration_port_min &&
	    ev->key.sport <= c->deps.cfg->migration_port_max) {
		ms_debug("flow %s: return traffic of an incoming migration", flow);
		return;
	}
	/* Re-reported and already known to be nobody's: no rescan either. */
	for (size_t i = 0; i < c->n_logged; i++)
		if (memcmp(&c->logged[i], &ev->key, sizeof(ev->key)) == 0)
			return;
	c->attrib_due = true;
	ms_coord_cycle(c);
	if (ms_attrib_flow_attributed(c, &ev->key)) {
		/* The stream is connected: a speed held back until then is set now. */
		for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++) {
			const struct ms_migration *m = &c->table.entries[i];

			if (m->used && !m->libvirt_speed_mibs && ms_mig_has_flow(m, &ev->key)) {
				apply_allocation(c);
				break;
			}
		}
		/*
		 * ts_ns is bpf_ktime_get_ns() (CLOCK_MONOTONIC) of the packet that
		 * reported the flow: its first, unless the flow was re-reported.
		 */
		ms_info("flow %s: class and speed in place %.2f ms after its first packet", flow,
			(double)(ms_clock_ns() - ev->ts_ns) / 1e6);
		return;
	}
	c->logged[c->next_logged] = ev->key;
	c->next_logged = (c->next_logged + 1) % MS_LOGGED_FLOWS;
	if (c->n_logged < MS_LOGGED_FLOWS)
		c->n_logged++;
	c->unknown_flows++;
	ms_info("unattributed migration flow %s belongs to no known migration; it stays in the "
		"unattributed class",
		flow);
}

static void on_connected(void *ctx)
{
	ms_coord_cycle(ctx);
}

static void on_disconnected(void *ctx)
{
	struct ms_coord *c = ctx;

	ms_warn("libvirt: disconnected; keeping the classes of %zu outgoing migrations until "
		"libvirt answers again",
		ms_mig_count(&c->table, MS_MIG_OUTGOING, MS_MIG_ACTIVE));
}

/*
 * libvirt's job-completed event for a domain with no migration tracked: the
 * late event of one a scan already ended, or a migration no scan ever found
 * (it began and ended while libvirt's listing did not answer, or between
 * two scans). The second ran without a class of its own: an admin should
 * know, and a count of the host's migrations should hold it.
 */
static void unseen_job_ended(struct ms_coord *c, const struct ms_virt_event *ev)
{
	const struct ms_job_stats *st = ev->stats;
	enum ms_mig_dir dir;
	__u64 now, elapsed_ns, last_ns = 0;
	unsigned int listings = 0;
	struct retired_job *r;
	char why[128];

	if (ms_virt_job_direction(st, &dir))
		return;
	now = ms_clock_ns();
	r = find_retired(c, ev->uuid, dir, true, now);
	if (r) {
		r->event_pending = false;
		return;
	}
	c->unseen_migrations++;
	/*
	 * Why: no listing of the jobs began while it ran (the loop waited on a
	 * slow libvirt, or it was shorter than a cycle and its events came
	 * late), or those that did came too late to show it running.
	 */
	elapsed_ns = ms_job_has(st, MS_JOB_TIME_ELAPSED) ? st->time_elapsed_ms * 1000000ULL : 0;
	for (size_t i = 0; i < MS_COORD_LISTINGS; i++) {
		__u64 t = c->listing_ns[i];

		if (t && t + elapsed_ns >= now) {
			listings++;
			if (t > last_ns)
				last_ns = t;
		}
	}
	if (!listings)
		snprintf(why, sizeof(why), "no listing of libvirt's jobs began while it ran");
	else
		snprintf(
		    why, sizeof(why),
		    "%u listing%s of libvirt's jobs began while it ran, the last %.1f s before "
		    "its end was reported",
		    listings, listings > 1 ? "s" : "", (double)(now - last_ns) / 1e9);
	ms_warn("%s: %s migration %s after %.1f s without the agent seeing it run (%s): it had "
		"no class of its own",
		ev->name, ms_mig_dir_name(dir),
		ms_job_has(st, MS_JOB_SUCCESS) && !st->success ? "failed" : "completed",
		(double)elapsed_ns / 1e9, why);
}

static void on_event(void *ctx, const struct ms_virt_event *ev)
{
	struct ms_coord *c = ctx;
	struct ms_migration *m = ev->uuid ? ms_mig_find(&c->table, ev->uuid) : NULL;
	enum ms_mig_dir dir;

	switch (ev->kind) {
	case MS_VIRT_EV_STATUS_SAVED:
		/* A job found before its stream starts is attributed before a byte leaks. */
		ms_coord_cycle(c);
		return;
	case MS_VIRT_EV_LIFECYCLE:
		if (ev->detail == VIR_DOMAIN_EVENT_SUSPENDED &&
		    ev->sub == VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED) {
			ms_info("%s: switchover started", ev->name);
			/* Now, not at the next cycle: a switchover lasts milliseconds. */
			if (m) {
				m->in_switchover = true;
				apply_allocation(c);
			}
			return;
		}
		if (m && ev->detail == VIR_DOMAIN_EVENT_SUSPENDED &&
		    ev->sub == VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY) {
			if (!m->in_postcopy)
				ms_manager_postcopy_seen(m);
			m->in_postcopy = true;
			m->in_switchover = false;
			return;
		}
		/*
		 * The switchover ended: the domain stopped here (it arrived),
		 * or runs again (the migration failed, or post-copy resumed it
		 * on the destination). Its ceil goes back from the aggregate.
		 */
		if (m && m->in_switchover &&
		    (ev->detail == VIR_DOMAIN_EVENT_RESUMED ||
		     ev->detail == VIR_DOMAIN_EVENT_STOPPED)) {
			m->in_switchover = false;
			if (ev->detail == VIR_DOMAIN_EVENT_RESUMED)
				apply_allocation(c);
		}
		if ((ev->detail == VIR_DOMAIN_EVENT_STOPPED &&
		     ev->sub == VIR_DOMAIN_EVENT_STOPPED_MIGRATED) ||
		    (ev->detail == VIR_DOMAIN_EVENT_STARTED &&
		     ev->sub == VIR_DOMAIN_EVENT_STARTED_MIGRATED) ||
		    (ev->detail == VIR_DOMAIN_EVENT_RESUMED &&
		     ev->sub == VIR_DOMAIN_EVENT_RESUMED_MIGRATED))
			ms_coord_cycle(c);
		return;
	case MS_VIRT_EV_ITERATION:
		/*
		 * The source's first sign of a new migration is its first
		 * iteration; one found before it moved data gets its speed now.
		 */
		if (!m || !m->libvirt_speed_mibs) {
			__u64 t0 = ms_clock_ns();

			ms_coord_cycle(c);
			m = ms_mig_find(&c->table, ev->uuid);
			if (m && m->libvirt_speed_mibs)
				ms_info("%s: speed set %.2f ms after the migration-iteration event",
					m->name, (double)(ms_clock_ns() - t0) / 1e6);
			return;
		}
		ms_debug("%s: iteration %d", ev->name, ev->detail);
		return;
	case MS_VIRT_EV_JOB_COMPLETED:
		if (m && m->state == MS_MIG_ACTIVE && !ms_virt_job_direction(ev->stats, &dir) &&
		    dir != m->dir) {
			retire_moved_on(c, m);
			m = NULL;
		}
		if (!m) {
			unseen_job_ended(c, ev);
			return;
		}
		if (m->state != MS_MIG_ACTIVE)
			return;
		m->stats = *ev->stats;
		retire(c, m,
		       ms_job_has(ev->stats, MS_JOB_SUCCESS) && !ev->stats->success
			   ? MS_MIG_EV_FAILED
			   : MS_MIG_EV_COMPLETED,
		       ev->stats, true, true);
		apply_allocation(c);
		return;
	}
}

const struct ms_virt_ops *ms_coord_virt_ops(void)
{
	static const struct ms_virt_ops ops = {
	    .connected = on_connected,
	    .disconnected = on_disconnected,
	    .event = on_event,
	};

	return &ops;
}

__u64 ms_coord_flows_evicted(const struct ms_coord *c)
{
	return c->flows_evicted;
}

__u64 ms_coord_unseen_migrations(const struct ms_coord *c)
{
	return c->unseen_migrations;
}

__u64 ms_coord_limit_hits(const struct ms_coord *c, unsigned int limit)
{
	return limit < MS_METRICS_LIMITS ? c->limit_hits[limit] : 0;
}

static struct ms_migration *owner_of(struct ms_coord *c, __u32 minor)
{
	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++)
		if (c->table.entries[i].used && c->table.entries[i].minor == minor)
			return &c->table.entries[i];
	return NULL;
}

struct adopt_flows {
	struct ms_coord *c;
	struct ms_flow_key *orphans;
	size_t n_orphans;
	size_t cap;
	int err;
};

static void adopt_flow(void *ctx, const struct ms_flow_key *key, const struct ms_flow_val *val)
{
	struct adopt_flows *a = ctx;
	struct ms_migration *m = owner_of(a->c, val->class_minor);

	if (m && (ms_mig_has_flow(m, key) || ms_mig_flow_add(m, key) == 0))
		return;
	/* Collected, not deleted here: deleting while walking a hash map skips keys. */
	if (a->n_orphans == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		struct ms_flow_key *grown = realloc(a->orphans, cap * sizeof(*grown));

		if (!grown) {
			a->err = -ENOMEM;
			return;
		}
		a->orphans = grown;
		a->cap = cap;
	}
	a->orphans[a->n_orphans++] = *key;
}

int ms_coord_adopt(struct ms_coord *c, const struct ms_coord_adopted *migs, size_t n)
{
	struct adopt_flows flows = {.c = c};
	__u64 now = ms_clock_ns();
	int adopted = 0, ret;
	char cls[32];

	for (size_t i = 0; i < n; i++) {
		struct ms_htb_class_stats st;
		struct ms_migration *m;

		if (!ms_htb_mig_class_present(c->deps.htb, migs[i].minor)) {
			ms_info("%s: its class is gone from the tree; the migration, if it still "
				"runs, is found afresh",
				migs[i].name);
			continue;
		}
		m = ms_mig_adopt(&c->table, migs[i].uuid, migs[i].name, migs[i].minor, now);
		if (!m) {
			ms_warn("%s: cannot take over class %#x", migs[i].name, migs[i].minor);
			continue;
		}
		ret = ms_htb_class_read(c->deps.htb, m->minor, &st);
		/* Unreadable rates: the first allocation changes them, which is harmless. */
		m->class_rate_bps = ret == 0 && st.rate_bps ? st.rate_bps : 1;
		m->class_ceil_bps = ret == 0 ? st.ceil_bps : 0;
		m->speed_inherited = true;
		/* A previous agent of this interface gave it a class: it was its. */
		*ms_coord_owner(c, m) = OWNER_US;
		adopted++;
	}
	/* Classes no migration owns: left by a crash between a change and its record. */
	for (__u32 minor = MS_MINOR_MIG_BASE; minor < MS_MINOR_MIG_BASE + MS_MAX_MIGRATIONS;
	     minor++) {
		if (!ms_htb_mig_class_present(c->deps.htb, minor) || owner_of(c, minor))
			continue;
		ms_class_name(minor, cls, sizeof(cls));
		ret = ms_htb_mig_class_del(c->deps.htb, minor);
		if (ret && ret != -ENOENT)
			ms_warn("removing class %s that no migration owns: %s", cls,
				strerror(-ret));
		else
			ms_info("removed class %s that no migration owns", cls);
	}
	ret = ms_dataplane_flows_foreach(c->deps.dp, adopt_flow, &flows);
	if (!ret)
		ret = flows.err;
	for (size_t i = 0; i < flows.n_orphans; i++)
		ms_dataplane_flow_del(c->deps.dp, &flows.orphans[i]);
	free(flows.orphans);
	if (ret)
		ms_warn("taking over the flow map: %s", strerror(-ret));
	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++) {
		const struct ms_migration *m = &c->table.entries[i];

		if (!m->used)
			continue;
		ms_coord_class_name(m, cls, sizeof(cls));
		ms_info("%s: outgoing migration adopted; class %s at %llu Mbit/s, %zu flows",
			m->name, cls, (unsigned long long)ms_bps_to_mbps(m->class_rate_bps),
			m->n_flows);
	}
	if (flows.n_orphans)
		ms_info("removed %zu flows that no migration owns", flows.n_orphans);
	/* A connection opened while no agent ran is in no map yet. */
	c->attrib_due = true;
	return adopted;
}

void ms_coord_detach(struct ms_coord *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++) {
		struct ms_migration *m = &c->table.entries[i];

		m->n_flows = 0;
		m->class_rate_bps = 0;
		m->class_ceil_bps = 0;
	}
	c->deps.dp = NULL;
	c->deps.htb = NULL;
}

void ms_coord_attach(struct ms_coord *c, struct ms_dataplane *dp, struct ms_htb *htb)
{
	if (!c)
		return;
	c->deps.dp = dp;
	c->deps.htb = htb;
}

void ms_coord_restore_speeds(struct ms_coord *c)
{
	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++) {
		struct ms_migration *m = &c->table.entries[i];

		if (m->used && m->state == MS_MIG_ACTIVE)
			restore_libvirt(c, m, false);
	}
}

void ms_coord_release(struct ms_coord *c)
{
	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++) {
		struct ms_migration *m = &c->table.entries[i];

		if (m->used) {
			ms_coord_uninstall(c, m);
			ms_mig_remove(&c->table, m);
		}
	}
}

void ms_coord_free(struct ms_coord *c)
{
	if (c && c->deps.peer)
		ms_peer_client_on_change(c->deps.peer, NULL, NULL);
	free(c);
}
