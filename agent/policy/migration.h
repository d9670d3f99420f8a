/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The table of migrations this host takes part in: identity, the job state
 * machine, the HTB class, the allocation, the speed arithmetic between tc
 * (Mbit/s on the wire) and libvirt (MiB/s of migration stream), and the flows.
 * Pure: no I/O, no clock; the caller passes time in.
 */
#ifndef MS_MIGRATION_H
#define MS_MIGRATION_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>

#include "classes.h"
#include "jobstats.h"
#include "migshaper.h"

#define MS_DOMAIN_NAME_MAX	   256
#define MS_UUID_LEN		   16
#define MS_MAX_FLOWS_PER_MIGRATION 32

/*
 * libvirt's speed counts migration-stream bytes; HTB counts Ethernet frames.
 * A 1448-byte TCP payload (MSS with timestamps) travels in a 1514-byte frame
 * (95.6%), QEMU adds ~0.2% of stream framing, and its rate limiter works in
 * 100 ms windows that may run ahead a little: at 93% of the class rate QEMU
 * paces itself just under the class, so the class stays a backstop and never
 * becomes the limiter that stretches the final switchover.
 */
#define MS_SPEED_MARGIN_PCT 93U

enum ms_mig_dir {
	MS_MIG_OUTGOING = 0,
	MS_MIG_INCOMING,
};

enum ms_mig_state {
	MS_MIG_IDLE = 0, /* not migrating */
	MS_MIG_ACTIVE,
	MS_MIG_COMPLETED,
	MS_MIG_FAILED,
	MS_MIG_CANCELLED,
};

enum ms_mig_event {
	MS_MIG_EV_ACTIVE,    /* a migration job is running */
	MS_MIG_EV_COMPLETED, /* the job ended and the domain left (or arrived) */
	MS_MIG_EV_FAILED,
	MS_MIG_EV_CANCELLED,
};

enum ms_mig_state ms_mig_next_state(enum ms_mig_state cur, enum ms_mig_event ev);
const char *ms_mig_state_name(enum ms_mig_state state);
const char *ms_mig_dir_name(enum ms_mig_dir dir);

struct ms_migration {
	bool used;
	__u32 id; /* unique for the agent's lifetime */
	char name[MS_DOMAIN_NAME_MAX];
	unsigned char uuid[MS_UUID_LEN];
	enum ms_mig_dir dir;
	enum ms_mig_state state;
	__u32 minor; /* per-migration HTB class; 0 for incoming migrations */
	__u64 started_ns;
	pid_t qemu_pid;
	struct ms_job_stats stats;
	/* What was last put in place; 0 means nothing yet. */
	__u64 class_rate_bps;
	__u64 class_ceil_bps;
	__u32 libvirt_speed_mibs;
	/* When scans stopped listing the job (0 while they list it). */
	__u64 missing_since_ns;
	/* What the policy and the events say about it (agent/policy/policy.h). */
	bool in_switchover;
	bool in_postcopy;
	bool suspended;
	bool postcopy_refused; /* libvirt refused: the migration was not started with it */
	bool stalled;
	__u32 max_downtime_ms; /* last set through libvirt; 0: never */
	/*
	 * QEMU's auto-converge: the guest CPU throttle now (percent, 0 when
	 * libvirt reports none), and whether the migration runs with it, which
	 * the job stats show only once QEMU throttles (ms_job_auto_converge()),
	 * and which stays set for the migration's life.
	 */
	__u32 auto_converge_throttle_pct;
	bool auto_converge;
	int last_action;	/* enum ms_policy_action */
	__u64 actions_total[5]; /* by enum ms_policy_action, those carried out */
	bool flows_full_logged;
	/*
	 * Tunnelled (VIR_MIGRATE_TUNNELLED): the stream rides in libvirtd's
	 * connection to the destination's libvirtd, attributed to this class
	 * (agent/control/coord.c). tunnel_known: the flags were read.
	 */
	bool tunnel_known;
	bool tunnelled;
	/* libvirtd's newest connection to a libvirtd port when the job was found. */
	bool tunnel_floor_set;
	__u32 tunnel_inode_floor;
	/* Data moves and no connection is attributed: warned once. */
	bool unattributed_warned;
	/*
	 * What the manager holds (oVirt's engine and vdsm, Nova, KubeVirt):
	 * values read back from libvirt that the agent did not set. They are
	 * limits from then on, never errors to undo (agent/control/manager.h).
	 */
	bool manager_speed_held;    /* the speed is at most manager_speed_mibs */
	__u32 manager_speed_mibs;   /* the manager's latest speed; 0: no limit */
	bool manager_downtime_held; /* the max downtime never goes below manager_downtime_ms */
	__u32 manager_downtime_ms;
	bool manager_escalated;	 /* post-copy the agent did not ask for */
	bool speed_inherited;	 /* adopted: the speed in force is a previous agent's */
	__u32 speed_found_mibs;	 /* libvirt's speed before the agent set any; 0: not read */
	__u32 downtime_found_ms; /* the max downtime before the agent set any; 0: not read */
	/*
	 * Post-copy bandwidth (virt.h): what the agent last set (0: none),
	 * what was in force before, and a value it did not set: the manager's
	 * ceiling from then on (0: lifted, left alone).
	 */
	__u64 speed_default_seen_ns; /* libvirt's default read where ours was: since when */
	__u32 postcopy_speed_mibs;
	__u32 postcopy_found_mibs;
	bool postcopy_manager_held;
	__u32 postcopy_manager_mibs;
	int advised_action;	 /* escalation = advise: the last action not carried out */
	__u32 stall_events;	 /* times it was found stalled (after progress) */
	__s64 stall_at_unix_s;	 /* wall-clock time of the latest; 0: never */
	__u64 advised_total[5];	 /* by enum ms_policy_action */
	size_t n_flows;
	struct ms_flow_key flows[MS_MAX_FLOWS_PER_MIGRATION];
	/* Its destination's agent as the last decision saw it (agent/peer/peerclient.h). */
	__u32 divisor;	/* fair's max(n_src, n_dst); 0: not decided yet */
	int peer_state; /* enum ms_policy_dst */
};

/*
 * The fields shown for each migration: a read-only file each under
 * migrations/DOMAIN/ of the knob tree (agent/ops/knobs.c, in this order),
 * and migshaperctl status's columns and JSON keys (agent/ctl/ctl.c).
 */
enum ms_mig_field {
	MS_MIG_FIELD_CLASS = 0,
	MS_MIG_FIELD_RATE,
	MS_MIG_FIELD_SPEED,
	MS_MIG_FIELD_REMAINING,
	MS_MIG_FIELD_DIRTY_RATE,
	MS_MIG_FIELD_ITERATION,
	MS_MIG_FIELD_STATE,
	MS_MIG_FIELD_DIRECTION,
	MS_MIG_FIELD_ACTION,
	MS_MIG_FIELD_STALLED,
	MS_MIG_FIELD_THROTTLE,
	MS_MIG_FIELD_MANAGER_HELD,
	MS_MIG_FIELD_ADVISED_ACTION,
	MS_MIG_FIELD_STALL_EVENT,
	MS_MIG_FIELD_STALL_EVENTS,
	MS_MIG_N_FIELDS,
};

struct ms_mig_field_desc {
	const char *name; /* the file's name and status --json's key */
	const char *unit; /* "" when the value is a word or a count */
	const char *help;
};

/* Indexed by enum ms_mig_field. */
extern const struct ms_mig_field_desc ms_mig_fields[MS_MIG_N_FIELDS];

struct ms_migration_table {
	__u32 next_id;
	struct ms_class_table classes;
	struct ms_migration entries[MS_MAX_MIGRATIONS];
};

void ms_mig_table_init(struct ms_migration_table *t);
struct ms_migration *ms_mig_find(struct ms_migration_table *t, const unsigned char *uuid);
/*
 * Adds a migration in state ACTIVE; an outgoing one gets a class minor.
 * Returns NULL when the table or the classes are full.
 */
struct ms_migration *ms_mig_add(struct ms_migration_table *t, const unsigned char *uuid,
				const char *name, enum ms_mig_dir dir, __u64 now_ns);
/*
 * An outgoing migration a previous agent left with class minor (restart
 * adoption). NULL if the table is full, the minor is taken or invalid, or
 * the domain is already in the table.
 */
struct ms_migration *ms_mig_adopt(struct ms_migration_table *t, const unsigned char *uuid,
				  const char *name, __u32 minor, __u64 now_ns);
/* Frees the entry and its class minor. */
void ms_mig_remove(struct ms_migration_table *t, struct ms_migration *m);
size_t ms_mig_count(const struct ms_migration_table *t, enum ms_mig_dir dir,
		    enum ms_mig_state state);

/* Takes a job-stats sample, and what it says about auto-converge. */
void ms_mig_set_stats(struct ms_migration *m, const struct ms_job_stats *stats);

/* Records a flow once; -ENOSPC when the migration has too many. */
int ms_mig_flow_add(struct ms_migration *m, const struct ms_flow_key *key);
bool ms_mig_has_flow(const struct ms_migration *m, const struct ms_flow_key *key);

/* libvirt speed (MiB/s) for a class rate, with MS_SPEED_MARGIN_PCT; never 0. */
__u32 ms_speed_mibs_for_rate(__u64 rate_bps);
/* Wire bits per second that a libvirt speed in MiB/s amounts to (no margin). */
__u64 ms_mibs_to_bps(__u32 mibs);

#endif /* MS_MIGRATION_H */
