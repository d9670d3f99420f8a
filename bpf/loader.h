/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The user-space owner of the tc egress classifier (bpf/classifier.bpf.c):
 * loads it, pins its maps and program under <pin_root>/<ifname>/, attaches
 * it at clsact egress, fills its tables and reads its counters and events.
 *
 * Pinned names: maps ms_flows, ms_mgmt_cidrs, ms_ports, ms_config,
 * ms_counters, ms_events, ms_reported, ms_stats, ms_cidr_hint,
 * ms_generation, ms_sk_class; the program "classifier".
 *
 * Every change of the flows, ports or CIDRs through this API bumps the table
 * generation, so classes the classifier kept on sockets are derived again,
 * and tags the sockets again (see migshaper.h). Taking over pins does both
 * too; closing with detach takes every socket tag off.
 *
 * The port map and ms_cidr_hint also carry lookup hints derived from the
 * flows and CIDRs (see migshaper.h), so flows and CIDRs must be changed
 * through this API, not by writing the pinned maps directly.
 *
 * Every function returns 0 (or a count where noted) or -errno, and logs the
 * reason of a failure.
 */
#ifndef MS_BPF_LOADER_H
#define MS_BPF_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "migshaper.h"

struct ms_dataplane;

/* Where and how the classifier is attached, as a restarted agent needs to know it. */
struct ms_dp_attach {
	__u32 tc_handle;
	__u32 tc_priority;
	bool clsact_created; /* the clsact qdisc is ours to remove */
};

struct ms_dataplane_opts {
	/* NULL: load only, for tests and benchmarks: no pins, no attach */
	const char *ifname;
	const char *pin_root; /* NULL: MS_PIN_ROOT */
	/*
	 * Non-NULL: pins under <pin_root>/<ifname>/ are a previous agent's
	 * (recorded with ms_dataplane_attach_info()) and are taken over: the
	 * pinned maps are reused with their contents, a fresh program replaces
	 * the running one in the same filter slot in one step, and the tables
	 * are not reset to defaults. Packets never see a missing classifier.
	 */
	const struct ms_dp_attach *adopt;
};

/*
 * Checks the kernel prerequisites (BTF, clsact, cls_bpf, bpffs), loads the
 * classifier, pins it, creates the clsact qdisc if missing and attaches at
 * egress. The port map starts with the default management ports (22, 16509,
 * 16514, 54321) and migration range (49152-49215), the config with no flags
 * and the default report interval. -EEXIST if pins already exist under
 * <pin_root>/<ifname>/ and opts->adopt is NULL. With opts->adopt, -ESTALE
 * when the pins cannot be taken over (missing, or maps of another layout):
 * then the caller removes them and opens afresh. On failure nothing is
 * left behind, and an adopted classifier keeps running.
 */
int ms_dataplane_open(const struct ms_dataplane_opts *opts, struct ms_dataplane **out);

/* The port map becomes exactly these management ports and migration range. */
int ms_dataplane_set_ports(struct ms_dataplane *dp, const __u16 *mgmt_ports, size_t n_mgmt,
			   __u16 migration_port_min, __u16 migration_port_max);

/*
 * The management CIDR trie becomes exactly this set (IPv4-mapped keys; host
 * bits beyond prefixlen are ignored). At most MS_CIDR_MAX entries.
 */
int ms_dataplane_set_mgmt_cidrs(struct ms_dataplane *dp, const struct ms_cidr_key *cidrs, size_t n);

/* report_interval_ms == 0 means MS_REPORT_INTERVAL_DEFAULT_MS. */
int ms_dataplane_set_config(struct ms_dataplane *dp, const struct ms_dp_config *cfg);

/*
 * Attributes a TCP/UDP 5-tuple to a per-migration class (val->class_minor
 * must satisfy ms_minor_is_migration; -EINVAL otherwise). The key's pad is
 * ignored. Adding an existing key replaces its value.
 */
int ms_dataplane_flow_add(struct ms_dataplane *dp, const struct ms_flow_key *key,
			  const struct ms_flow_val *val);
/* -ENOENT if the flow is not in the table. */
int ms_dataplane_flow_del(struct ms_dataplane *dp, const struct ms_flow_key *key);

/* Current attachment, to record for a later adopt. */
int ms_dataplane_attach_info(const struct ms_dataplane *dp, struct ms_dp_attach *out);

typedef void (*ms_flow_cb)(void *ctx, const struct ms_flow_key *key, const struct ms_flow_val *val);
/* Calls cb for every flow in the map (a snapshot; the map may change meanwhile). */
int ms_dataplane_flows_foreach(struct ms_dataplane *dp, ms_flow_cb cb, void *ctx);
/*
 * 1 if the flow is in the map, 0 if not. The map is an LRU: a flow that was
 * added and is no longer there was evicted; ms_dataplane_flow_forget()
 * then drops its lookup hints. Evictions forgotten so far:
 * ms_dataplane_flows_evicted().
 */
int ms_dataplane_flow_present(struct ms_dataplane *dp, const struct ms_flow_key *key);
void ms_dataplane_flow_forget(struct ms_dataplane *dp, const struct ms_flow_key *key);
__u64 ms_dataplane_flows_evicted(const struct ms_dataplane *dp);

/*
 * Socket tags (migshaper.h): tags the host's TCP connections from the tables
 * as they are now. The tables' setters do it after each change; the owner
 * calls it now and then for connections made since (each run walks the
 * kernel's whole TCP hash table: about 1 ms). A kernel without the iterator
 * makes it a no-op (logged at load).
 */
int ms_dataplane_retag(struct ms_dataplane *dp);
/* Whether the last run failed (the tags may follow older tables): the owner retags soon. */
bool ms_dataplane_retag_due(const struct ms_dataplane *dp);
/*
 * Tags also sockets whose route leaves by upper_ifindex (the bridge the NIC
 * is a port of, which holds the host's addresses); 0: the NIC only. Tags
 * again at once.
 */
int ms_dataplane_set_tag_upper(struct ms_dataplane *dp, int upper_ifindex);

/*
 * Sum over CPUs of the counters of one class minor (< MS_CLASS_SLOTS); what
 * they leave out is struct ms_class_counter's comment.
 */
int ms_dataplane_counters(struct ms_dataplane *dp, __u32 minor, struct ms_class_counter *sum);

/* Flow events dropped because the ring buffer was full, since load. */
int ms_dataplane_events_lost(struct ms_dataplane *dp, __u64 *lost);

typedef void (*ms_flow_event_cb)(void *ctx, const struct ms_flow_event *ev);

/* The classifier's program fd (BPF_PROG_TEST_RUN in tests and benchmarks). */
int ms_dataplane_prog_fd(struct ms_dataplane *dp);

/* An fd that polls readable (epoll) when flow events are waiting. */
int ms_dataplane_events_fd(struct ms_dataplane *dp);

/* Hands every waiting event to cb without blocking; returns how many. */
int ms_dataplane_events_consume(struct ms_dataplane *dp, ms_flow_event_cb cb, void *ctx);

/*
 * detach=true: remove our filter, the clsact qdisc if we created it, every
 * pin and the pin directory. detach=false: free only user-space memory and
 * leave the program running with its maps pinned (fail-static). NULL-safe.
 */
void ms_dataplane_close(struct ms_dataplane *dp, bool detach);

/*
 * Without an agent (--cleanup): removes the filter prev records (and the
 * clsact qdisc if prev says it was ours) and every pin under
 * <pin_root>/<ifname>/ (prev NULL: only the pins), and takes the socket
 * tags off.
 */
int ms_dataplane_cleanup(const char *pin_root, const char *ifname, const struct ms_dp_attach *prev);

/* "198.18.0.1:34567 -> 198.18.0.2:49152 tcp", IPv6 as "[2001:db8::1]:22".
 * Returns 0, or -ENOSPC if buf is too small (buf is still terminated). */
int ms_flow_key_format(const struct ms_flow_key *k, char *buf, size_t len);

/* Room ms_flow_key_format needs at most. */
#define MS_FLOW_KEY_STRLEN 112

#endif /* MS_BPF_LOADER_H */
