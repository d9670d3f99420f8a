/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The coordinator's state, shared by its two halves and by nothing else:
 * coord.c (the migration table in step with libvirt, the allocation applied
 * to tc and libvirt, events, adoption) and attribute.c (which connections
 * are which migration's). The small helpers both halves use are here too.
 */
#ifndef MS_COORD_STATE_H
#define MS_COORD_STATE_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include <linux/types.h>

#include "coord.h"
#include "metrics.h"
#include "policy.h"
#include "route.h"
#include "tunnel.h"

/* Listings of libvirt's jobs remembered, to say why a migration went unseen. */
#define MS_COORD_LISTINGS 8

#define MS_LOGGED_FLOWS 256

/*
 * Whose an outgoing migration is (several agents, one per interface, see
 * every migration of the host): undecided until its connections are found,
 * then this agent's if one leaves through the shaped interface, else
 * another interface's. Undecided, it has a class (its packets, if they
 * come here, are shaped) but its libvirt speed and escalation are left
 * alone; another's, it has nothing here and nothing is done to it.
 */
enum mig_owner {
	OWNER_UNDECIDED = 0,
	OWNER_US,
	OWNER_OTHER,
};

/* A migration job that ended, by domain, direction and how long it had run. */
struct retired_job {
	unsigned char uuid[MS_UUID_LEN];
	enum ms_mig_dir dir;
	bool has_elapsed;
	/*
	 * Ended by a scan, not by libvirt's job-completed event: that event may
	 * still come, and it is this job's, not one the agent never saw.
	 */
	bool event_pending;
	__u64 elapsed_ms;
	__u64 at_ns; /* 0: free */
};

struct ms_coord {
	struct ms_coord_deps deps;
	struct ms_virt *virt;
	struct ms_migration_table table;
	bool seen[MS_MAX_MIGRATIONS];
	/* By table slot: whose each migration is (enum mig_owner). */
	enum mig_owner owner[MS_MAX_MIGRATIONS];
	bool table_full_logged;
	/* Unattributed flows already logged, so each is logged once. */
	struct ms_flow_key logged[MS_LOGGED_FLOWS];
	size_t n_logged;
	size_t next_logged;
	__u64 unknown_flows;
	__u64 errors[MS_METRICS_ERR_KINDS];
	/* The policy engine's memory between decisions, and its buffers. */
	struct ms_policy_state policy_state;
	struct ms_policy_mig_in policy_in[MS_MAX_MIGRATIONS];
	struct ms_policy_mig_out policy_out[MS_MAX_MIGRATIONS];
	struct ms_migration *policy_rows[MS_MAX_MIGRATIONS];
	bool params_bad_logged;
	__u64 effective_aggregate_bps;
	bool health_valid;
	__u32 health_rtt_us;
	__u64 health_retrans_total;
	__u64 health_retrans_used;
	__u64 flows_evicted;
	/* Migrations libvirt reported ended that no scan had found running. */
	__u64 unseen_migrations;
	/* When the last complete listings of libvirt's jobs began (now_ns()), a ring; 0: none. */
	__u64 listing_ns[MS_COORD_LISTINGS];
	size_t next_listing;
	__u64 limit_hits[MS_METRICS_LIMITS];
	/* Something may be left to attribute: the next cycle dumps (ms_attrib_all()). */
	bool attrib_due;
	unsigned int cycles_since_dump;
	struct retired_job retired[MS_MAX_MIGRATIONS];
	size_t next_retired;
	/* The libvirt daemon (tunnelled migrations ride in its connections); 0: not found. */
	pid_t libvirtd_pid;
	/* By table slot: which connection carries a tunnelled migration (tunnel.h). */
	struct ms_tunnel_watch tunnel_watch[MS_MAX_MIGRATIONS];
	/* Outgoing migrations moving data with no connection attributed, at the last cycle. */
	__u32 unattributed_migrations;
};

static inline void ms_coord_class_name(const struct ms_migration *m, char *buf, size_t len)
{
	if (ms_class_name(m->minor, buf, len))
		snprintf(buf, len, "none");
}

static inline enum mig_owner *ms_coord_owner(struct ms_coord *c, const struct ms_migration *m)
{
	return &c->owner[m - c->table.entries];
}

/* True if traffic to key's remote end leaves through the shaped interface. */
static inline bool ms_coord_leaves_here(struct ms_coord *c, const struct ms_flow_key *key)
{
	int oif = 0;

	if (!c->deps.route || !c->deps.ifindex)
		return true;
	return ms_route_oif(c->deps.route, key->daddr, &oif) == 0 && oif == *c->deps.ifindex;
}

/* The QEMU that ran the migration (found when its flows were) is gone. */
static inline bool ms_coord_qemu_exited(const struct ms_migration *m)
{
	return m->qemu_pid > 0 && kill(m->qemu_pid, 0) < 0 && errno == ESRCH;
}

/* Takes out of the kernel what this migration put there. */
void ms_coord_uninstall(struct ms_coord *c, struct ms_migration *m);

#endif /* MS_COORD_STATE_H */
