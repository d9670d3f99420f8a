/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The agent object: everything one migshaperd owns for its interface (the
 * settings, the classifier, the HTB tree, the loop and its sources, the
 * coordinator, libvirt, the operator surfaces) and the pieces that tie them
 * together: the state file a restarted agent adopts from, coordination
 * start-up, the loop's signal and cycle handlers, tear-down and --cleanup.
 *
 * The other daemon modules work on the same object: reconfig.h (settings
 * changes, all or nothing), iface.h (the interface: link speed, deletion and
 * re-creation, root qdisc), snapshot.h (metrics and knob adapters). main.c
 * keeps the arguments, the lock, the signal mask and the order of set-up.
 */
#ifndef MS_AGENT_H
#define MS_AGENT_H

#include <limits.h>
#include <stdbool.h>
#include <linux/types.h>

#include "config.h"
#include "mgmthealth.h"
#include "version.h"

struct ms_coord;
struct ms_dataplane;
struct ms_ethtool;
struct ms_htb;
struct ms_ingress;
struct ms_knobs;
struct ms_linkwatch;
struct ms_loop;
struct ms_metrics_class;
struct ms_metrics_migration;
struct ms_metrics_server;
struct ms_peer_client;
struct ms_peer_server;
struct ms_route;
struct ms_sockdiag;
struct ms_state;
struct ms_virt;

struct ms_agent {
	/* What the operator asked for and what is in force (config.h). */
	struct ms_settings set;
	struct ms_ethtool *ethtool; /* NULL: sysfs only */
	const char *ifname;
	const char *config_path;
	const char *pin_root;
	const char *run_dir;
	int ifindex;
	int lock_fd;
	int signal_fd;
	int timer_fd;
	bool iface_gone;
	/* Set by link notes, acted on once the notes are all read. */
	bool reinstall_pending;
	bool speed_check_pending;
	bool root_check_pending;
	bool link_down;
	/* Another tool's root qdisc is in place and we leave it (reassert_root_qdisc=0). */
	bool root_yielded;
	__u64 root_reasserts;
	/* What the state file records; state_path is empty without one. */
	struct ms_state *state;
	/*
	 * Taking over what a previous agent left, not done yet: a start that
	 * fails now leaves all of it (classifier, tree, IFB, ingress, state
	 * file) as it was, shaping as before (fail-static), for the next
	 * start or --cleanup.
	 */
	bool adoption_pending;
	char state_path[PATH_MAX];
	struct ms_dataplane *dp;
	/* The bridge the interface was a port of at the last retag (0: none). */
	int tag_upper_ifindex;
	/* Cycles since the last retag (ms_agent_retag_sockets()). */
	unsigned int cycles_since_retag;
	struct ms_htb *htb;
	/* The receive-side backstop; NULL while ingress_backstop is 0. */
	struct ms_ingress *ingress;
	/* Multiqueue backend: the IFB carrying the HTB tree (tc/mq.h); 0 with the HTB root. */
	int mq_ifb_ifindex;
	/*
	 * The backend in use: auto until one is chosen at start; kept for an
	 * interface re-created under the agent.
	 */
	enum ms_dataplane_backend backend;
	/* The shared lock on sch_htb's hysteresis record while we hold it on (tc/hysteresis.h); -1
	 * not. */
	int hyst_fd;
	struct ms_loop *loop;
	struct ms_linkwatch *lw;
	struct ms_sockdiag *sd;
	/*
	 * Management connections' TCP_INFO (mgmthealth.h): read every cycle
	 * while outgoing migrations run, every MS_AGENT_IDLE_CYCLES
	 * otherwise (cycles_since_health counts).
	 */
	struct ms_mgmt_tracker *mgmt_tracker;
	struct ms_mgmt_sample mgmt;
	bool have_mgmt;
	unsigned int cycles_since_health;
	/* Route lookups: what leaves through ifname (mgmthealth, coord); NULL: all does. */
	struct ms_route *route;
	/* The learned idle management RTT kept across restarts (state.h), when last saved. */
	char baseline_path[PATH_MAX];
	__u32 baseline_saved_us;
	__u64 baseline_saved_ns;
	struct ms_coord *coord;
	struct ms_virt *virt;
	bool virt_events_registered;
	struct ms_knobs *knobs;
	struct ms_metrics_server *metrics;
	/* Issue 14: asking destinations, and answering sources (agent/peer/). */
	struct ms_peer_client *peer_client;
	struct ms_peer_server *peer_server;
	/* Storage the metrics snapshot points into; valid until the next loop turn. */
	struct ms_metrics_class *metric_classes;
	struct ms_metrics_migration *metric_migrations;
	double last_cycle_s;
};

/*
 * Records what a restarted agent needs to adopt the interface. A failure
 * costs only that (logged): a restart then rebuilds instead of adopting.
 */
void ms_agent_state_save(struct ms_agent *a);
/* Fills the record with the interface as it is now: ifindex, original root, filter. */
int ms_agent_record_state(struct ms_agent *a);
/*
 * The previous agent's record, if there is one about this interface as it
 * exists now: true and prev filled, or false (start afresh).
 */
bool ms_agent_state_load(struct ms_agent *a, struct ms_state *prev);
/* Coordination (sock_diag, the coordinator, libvirt); prev: migrations to adopt or NULL. */
int ms_agent_start_coordination(struct ms_agent *a, const struct ms_state *prev);
/* (Re)starts the libvirt watcher on uri; an empty uri means static shaping only. */
int ms_agent_restart_libvirt(struct ms_agent *a, const char *uri);
/* The loop and its sources: signals, rtnetlink, ethtool, the cycle timer. */
int ms_agent_setup_loop(struct ms_agent *a);
/* Undoes the set-up in reverse; leaves the interface as it was found. */
void ms_agent_teardown(struct ms_agent *a);
/* --cleanup: undoes what an agent that did not stop cleanly left. 0 or -errno. */
int ms_agent_cleanup(struct ms_agent *a);
/*
 * Whether an outgoing migration runs. While none does, the agent's periodic
 * kernel walks (management health, socket tags) run every
 * MS_AGENT_IDLE_CYCLES only.
 */
bool ms_agent_migrating_out(const struct ms_agent *a);
#define MS_AGENT_IDLE_CYCLES 10

#endif /* MS_AGENT_H */
