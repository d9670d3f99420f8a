/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The shaped interface: the classifier, the HTB tree and the ingress
 * backstop on it, its link
 * speed (rates re-derived when link_mbps is auto), its deletion and
 * re-creation (shaped again from the requested settings), and the root
 * qdisc another tool may replace. Link notes only set flags;
 * ms_agent_act_on_link_notes() acts once all of them are read.
 */
#ifndef MS_IFACE_H
#define MS_IFACE_H

#include <stdbool.h>
#include <linux/types.h>

struct ms_agent;
struct ms_config;
struct ms_state;

/* Link speed in Mbit/s as the driver reports it (ethtool netlink, else sysfs); 0 unknown. */
__u32 ms_agent_link_speed(const struct ms_agent *a);
/* Loads the classifier (adopting prev's), fills its tables, watches its flow events. */
int ms_agent_open_dataplane(struct ms_agent *a, const struct ms_state *prev);
/*
 * Tags the host's connections with their classes (socket tags, migshaper.h),
 * those made since the last retag too; also those whose route leaves by the
 * bridge the interface is a port of. Called every cycle; retags every cycle
 * while an outgoing migration runs, every MS_AGENT_IDLE_CYCLES otherwise.
 */
void ms_agent_retag_sockets(struct ms_agent *a);
/*
 * Takes over the previous agent's tree, or builds one. With the multiqueue
 * backend and htb_hysteresis = 1 it also holds sch_htb's host-wide
 * htb_hysteresis on (tc/hysteresis.h), best effort: the tree shapes without
 * it. Otherwise it puts back what an agent that died left on, unless
 * another agent holds it.
 */
int ms_agent_open_htb(struct ms_agent *a, const struct ms_state *prev);
/*
 * Gives up *hyst_fd (-1 afterwards; -1 before: as for an agent that died,
 * what --cleanup does) and, as the last agent holding it, puts
 * htb_hysteresis back to the value recorded under run_dir; logs what it did.
 */
int ms_agent_hysteresis_release(const char *run_dir, int *hyst_fd);
/*
 * The receive-side backstop (tc/ingress.h) as cfg asks: installed or taken
 * over when ingress_backstop is 1, changed in place, removed when it turns
 * 0. adopting: a previous agent may have left one; with the key 0 it goes.
 */
int ms_agent_ingress_apply(struct ms_agent *a, const struct ms_config *cfg, bool adopting);
/* rtnetlink and ethtool notes into the agent's loop. */
int ms_agent_watch_link(struct ms_agent *a);
/* Is our tree still the root? Puts it back, or yields (reassert_root_qdisc=0). */
void ms_agent_check_root(struct ms_agent *a);
/* With link_mbps = auto: derives the settings again when the speed changed. */
void ms_agent_rederive_link_speed(struct ms_agent *a);
/* Reads the interface's state afresh (what happened since it was looked up) and acts on it. */
void ms_agent_resync_link(struct ms_agent *a);
/* What the link notes asked for, once all of them are read. */
void ms_agent_act_on_link_notes(struct ms_agent *a);

#endif /* MS_IFACE_H */
