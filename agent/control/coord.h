/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The coordinator: keeps the table of migrations in step with libvirt, gives
 * each outgoing migration its HTB class, attributes QEMU's connections to it
 * in the BPF flow map, and applies the allocation to tc and to libvirt. It
 * owns the migration table and whatever it put in the kernel for it.
 */
#ifndef MS_COORD_H
#define MS_COORD_H

#include <linux/types.h>

#include "manager.h"
#include "migration.h"

struct ms_config;
struct ms_dataplane;
struct ms_htb;
struct ms_route;
struct ms_sockdiag;
struct ms_virt;
struct ms_virt_ops;
struct ms_flow_event;
struct ms_peer_client;

struct ms_coord_deps {
	const struct ms_config *cfg;
	/* What the operator asked for, to tell auto rates from set ones; may be NULL. */
	const struct ms_config *requested;
	struct ms_dataplane *dp;
	struct ms_htb *htb;
	struct ms_sockdiag *sd; /* NULL: no flow attribution */
	/* NULL: destinations are not asked (agent/peer/peerclient.h). */
	struct ms_peer_client *peer;
	/*
	 * One owner per migration: with a route to ask and the shaped
	 * interface's index (the caller's, followed across re-creation), the
	 * coordinator controls only the outgoing migrations whose connections
	 * leave through that interface. route NULL: every one is its own.
	 */
	struct ms_route *route;
	const int *ifindex;
	/* Called after a migration gained or lost its class (state file); may be NULL. */
	void (*owners_changed)(void *ctx);
	/*
	 * Puts the migration aggregate in force (after an AIMD cut or its
	 * recovery) on the kernel's aggregate class; called after every
	 * decision, so it must cost nothing when the value is in place. 0 or
	 * -errno; may be NULL.
	 */
	int (*apply_aggregate)(void *ctx, __u64 aggregate_bps);
	void *ctx;
};

/* A migration a previous agent left with its class (agent/control/state.h). */
struct ms_coord_adopted {
	const unsigned char *uuid;
	const char *name;
	__u32 minor;
};

struct ms_coord;

int ms_coord_new(const struct ms_coord_deps *deps, struct ms_coord **out);
/* The coordinator's callbacks for ms_virt_open(), with the coordinator as ctx. */
const struct ms_virt_ops *ms_coord_virt_ops(void);
void ms_coord_set_virt(struct ms_coord *c, struct ms_virt *virt);

/*
 * Feeds one migration job as a libvirt scan reports it, for tests and
 * benchmarks (libvirt's test driver runs no migrations). Like a scan, it adds
 * the migration on first sight and refreshes its stats after; the kernel is
 * touched only by the next cycle. Only a scan that no longer lists the job
 * retires it, so without libvirt the entry stays until ms_coord_release().
 * 0, or -ENOSPC when the table or the class minors are full.
 */
int ms_coord_observe_job(struct ms_coord *c, const char *name, const unsigned char *uuid,
			 enum ms_mig_dir dir, const struct ms_job_stats *stats);

/*
 * Restart adoption, before the first cycle: takes over the migrations a
 * previous agent recorded whose classes are still in the tree, with their
 * classes at their current rates and their flows from the pinned flow map.
 * Nothing is re-created; the first scan reconciles them with libvirt (an
 * ended one is retired, a running one keeps its class and only rates that
 * differ are changed). Classes and flows nobody owns are removed. Returns how
 * many were adopted.
 */
int ms_coord_adopt(struct ms_coord *c, const struct ms_coord_adopted *migs, size_t n);

/* Flows the flow map's LRU evicted under migrations, noticed so far. */
__u64 ms_coord_flows_evicted(const struct ms_coord *c);
/*
 * Migrations that began and ended between two of the agent's looks at
 * libvirt (its listing did not answer in time, or the job was shorter
 * than the wait): known only from libvirt's job-completed event, so they
 * had no class of their own.
 */
__u64 ms_coord_unseen_migrations(const struct ms_coord *c);
/* Entries refused because a table was full, by enum ms_metrics_limit. */
__u64 ms_coord_limit_hits(const struct ms_coord *c, unsigned int limit);

/* One cycle: scan jobs, retire ended migrations, attribute flows, apply rates. */
void ms_coord_cycle(struct ms_coord *c);
/* A new unattributed migration flow: scan and attribute now, not at the next cycle. */
void ms_coord_on_flow_event(struct ms_coord *c, const struct ms_flow_event *ev);

const struct ms_migration_table *ms_coord_table(const struct ms_coord *c);
__u64 ms_coord_unknown_flows(const struct ms_coord *c);
/*
 * The latest management-health sample (median RTT of the management
 * connections and their retransmit counter), for the AIMD cut of the
 * aggregate; valid=false when there was none this cycle.
 */
void ms_coord_set_health(struct ms_coord *c, bool valid, __u32 rtt_us, __u64 retrans_total);
/* The migration aggregate after AIMD, bits per second. */
__u64 ms_coord_effective_aggregate(const struct ms_coord *c);
/*
 * The idle management RTT the AIMD feedback has learned (0: none yet), and
 * the one a previous agent learned, to start from (state.h).
 */
__u32 ms_coord_rtt_baseline(const struct ms_coord *c);
void ms_coord_set_rtt_baseline(struct ms_coord *c, __u32 rtt_us);
/* Failed calls so far, by enum ms_metrics_error_kind. */
__u64 ms_coord_errors(const struct ms_coord *c, unsigned int kind);

/*
 * The interface is gone and every class and flow with it: forget them, and
 * touch neither tc nor the flow map until ms_coord_attach() gives the new
 * interface's; migrations stay tracked and get classes again then.
 */
void ms_coord_detach(struct ms_coord *c);
void ms_coord_attach(struct ms_coord *c, struct ms_dataplane *dp, struct ms_htb *htb);

/*
 * Clean stop, first: puts back the libvirt speeds the agent set on running
 * migrations (the manager's, else what was in force before: libvirt's
 * default unless someone had set one), so no migration stays throttled by
 * a stopped agent. Needs libvirt: call it before ms_virt_close(), which
 * leaves the coordinator's pointer to it dangling.
 */
void ms_coord_restore_speeds(struct ms_coord *c);
/* Removes every class and flow the coordinator installed (clean stop). */
void ms_coord_release(struct ms_coord *c);
void ms_coord_free(struct ms_coord *c);

/* Outgoing migrations moving data with none of their connections attributed. */
__u32 ms_coord_unattributed_migrations(const struct ms_coord *c);
/*
 * Whether key is one of a migration's attributed connections (coord is a
 * struct ms_coord): a tunnelled migration's libvirtd connection is on a
 * management port but is no management (mgmthealth.h).
 */
bool ms_coord_flow_is_migration(void *coord, const struct ms_flow_key *key);

#endif /* MS_COORD_H */
