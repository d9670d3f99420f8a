/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Prometheus metrics: the text exposition (format 0.0.4) of a snapshot of the
 * agent's state, and its /metrics route on the agent's HTTP server (http.h:
 * libmicrohttpd in the agent's ms_loop, connection limits and deadlines, TLS
 * and basic auth from a web config). A scrape runs in the loop like
 * everything else and needs no locking: it calls the snapshot function
 * synchronously, renders and queues the response; it costs what one render
 * costs (see tests/bench/metrics.sh).
 *
 * Series (every one but migshaper_build_info and the libvirt/cycle/error/
 * knob series carries iface="<nic>"); values are in base units, rates in
 * bytes per second:
 *   per class (label class):
 *     migshaper_class_{bytes,packets,drops,overlimits}_total  counter (tc)
 *     migshaper_class_backlog_bytes                           gauge   (tc)
 *     migshaper_classifier_{bytes,packets}_total              counter (BPF)
 *   per migration (labels domain, direction):
 *     migshaper_migration_info{class,state}                   gauge, 1
 *     migshaper_migration_allocated_bytes_per_second          gauge
 *     migshaper_migration_libvirt_speed_bytes_per_second      gauge
 *     migshaper_migration_observed_bytes_per_second           gauge
 *     migshaper_migration_remaining_bytes                     gauge
 *     migshaper_migration_dirty_bytes_per_second              gauge
 *     migshaper_migration_iteration                           gauge
 *     migshaper_migration_expected_completion_seconds         gauge
 *     migshaper_migration_stalled                             gauge, 0/1
 *     migshaper_migration_actions_total{action}               counter
 *     migshaper_migration_divisor                             gauge (outgoing)
 *       (fair's max(n_src, n_dst): this host's migrations or the destination's count)
 *     migshaper_migration_peer_state{state}                   gauge, 0/1 (outgoing)
 *       (state: unknown, answered, silent, refused: what the destination's agent
 *        said, agent/peer/peerclient.h)
 *   management and link:
 *     migshaper_mgmt_rtt_seconds, migshaper_mgmt_retransmits_total,
 *     migshaper_effective_aggregate_bytes_per_second,
 *     migshaper_link_bytes_per_second, migshaper_unattributed_flows_total,
 *     migshaper_unattributed_migrations (gauge)
 *   agent:
 *     migshaper_libvirt_connected, migshaper_libvirt_reconnects_total,
 *     migshaper_libvirt_call_timeouts_total,
 *     migshaper_libvirt_calls_deferred_total,
 *     migshaper_cycle_duration_seconds, migshaper_errors_total{kind},
 *     migshaper_knob_writes_total{result}, migshaper_build_info{version}
 *   the peer endpoint and client (agent/peer/; no iface label):
 *     migshaper_peer_requests_total{outcome}                  counter
 *       (outcome: answered, silent, refused, absent: how this host's questions
 *        to its destinations ended)
 *     migshaper_peer_answers_total{result}                    counter
 *       (result: answered, limited: what this host's /v1/peer gave sources)
 *   the HTTP server itself (no iface label):
 *     migshaper_http_connections                              gauge
 *     migshaper_http_connections_shed_total{reason}           counter
 *       (reason: limit, address_limit, header_timeout; see http.h)
 *     migshaper_http_auth_failures_total                      counter
 *
 * A value the agent does not know is left out, never reported as 0: see the
 * have_* flags and the "unknown" conventions on each field below.
 */
#ifndef MS_METRICS_H
#define MS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "http.h"

struct ms_loop;

/* The documented default port (Prometheus exporter registry style). */
#define MS_METRICS_DEFAULT_PORT	  9465
#define MS_METRICS_DEFAULT_LISTEN "127.0.0.1"

enum ms_metrics_action {
	MS_METRICS_ACTION_NONE = 0,
	MS_METRICS_ACTION_RAISE_DOWNTIME,
	MS_METRICS_ACTION_POSTCOPY,
	MS_METRICS_ACTION_SUSPEND,
	MS_METRICS_ACTION_ABORT,
	MS_METRICS_ACTIONS,
};

enum ms_metrics_error_kind {
	MS_METRICS_ERR_LIBVIRT = 0,
	MS_METRICS_ERR_NETLINK,
	MS_METRICS_ERR_BPF,
	MS_METRICS_ERR_ATTRIBUTION,
	MS_METRICS_ERR_KINDS,
};

/* Fixed-size tables whose limit can be hit; see ms_metrics_limit_name(). */
enum ms_metrics_limit {
	MS_METRICS_LIMIT_MIGRATIONS = 0,  /* MS_MAX_MIGRATIONS tracked migrations */
	MS_METRICS_LIMIT_MIGRATION_FLOWS, /* MS_MAX_FLOWS_PER_MIGRATION per migration */
	MS_METRICS_LIMIT_KNOB_FILES,	  /* MS_KNOBS_OPEN_MAX open knob files */
	MS_METRICS_LIMITS,
};

/* "migrations", "flows_per_migration", "knob_files"; NULL if out of range. */
const char *ms_metrics_limit_name(enum ms_metrics_limit l);

/* The label values: "none", "raise_downtime", ...; NULL if out of range. */
const char *ms_metrics_action_name(enum ms_metrics_action a);
/* "libvirt", "netlink", "bpf", "attribution"; NULL if out of range. */
const char *ms_metrics_error_kind_name(enum ms_metrics_error_kind k);

struct ms_metrics_class {
	/* ms_class_name(): mgmt, aggregate, unattributed, default, link, mig:<slot> */
	char name[64];
	bool have_tc; /* the tc fields below were read */
	__u64 bytes, packets, drops, overlimits;
	__u32 backlog_bytes;
	bool have_bpf; /* the classifier fields below were read */
	__u64 bpf_bytes, bpf_packets;
};

struct ms_metrics_migration {
	char domain[256];      /* any bytes; escaped, invalid UTF-8 becomes U+FFFD */
	const char *direction; /* "outgoing" / "incoming" (ms_mig_dir_name) */
	const char *state;     /* ms_mig_state_name(); NULL: no info series */
	char class_name[16];   /* "mig:<slot>"; "" for incoming */
	/* What the agent put in place; 0 means nothing yet (series omitted). */
	__u64 allocated_bps; /* bits per second on the wire (HTB class rate) */
	__u32 libvirt_speed_mibs;
	/* From libvirt's job stats; omitted unless have_job_stats. */
	bool have_job_stats;
	__u64 observed_bytes_per_s, remaining_bytes, dirty_bytes_per_s, iteration;
	double expected_completion_s; /* < 0: unknown, omitted */
	bool stalled;
	__u64 actions_total[MS_METRICS_ACTIONS];
	/* Would-be actions escalation = advise reported instead of taking them. */
	__u64 advised_total[MS_METRICS_ACTIONS];
	/* QEMU's auto-converge throttle; omitted unless auto_converge. */
	bool auto_converge;
	__u32 throttle_pct;
	/* Parameters the manager holds (agent/control/manager.h). */
	bool manager_speed, manager_downtime, manager_escalation;
	/* The destination's agent (outgoing only): 0 / NULL: omitted. */
	__u32 divisor;
	const char *peer_state; /* "unknown", "answered", "silent", "refused" */
};

struct ms_metrics_snapshot {
	const char *iface;   /* required */
	const char *version; /* NULL: no build_info */
	const struct ms_metrics_class *classes;
	size_t n_classes;
	const struct ms_metrics_migration *migrations;
	size_t n_migrations;

	bool have_mgmt_health; /* RTT and retransmits measured */
	double mgmt_rtt_seconds;
	__u64 mgmt_retransmits_total;
	__u64 effective_aggregate_bps; /* bits per second; 0: unknown */
	__u64 link_bps;		       /* bits per second; 0: unknown */
	__u64 unattributed_flows_total;
	/* Outgoing migrations moving data with no connection attributed (coord.h). */
	__u32 unattributed_migrations;
	/* Flow-map entries of migrations the LRU evicted (then re-attributed). */
	__u64 flows_evicted_total;
	/* Migrations that ended before the agent saw them run (coord.h). */
	__u64 migrations_unseen_total;
	/* Times a table limit refused an entry, by enum ms_metrics_limit. */
	__u64 limit_hits_total[MS_METRICS_LIMITS];
	/* Our tree is the root qdisc (0 while yielding to another tool's). */
	bool tree_in_place;
	__u64 root_reasserts_total;

	bool libvirt_connected;
	__u64 libvirt_reconnects_total;
	__u64 libvirt_call_timeouts_total;  /* calls the loop stopped waiting for */
	__u64 libvirt_calls_deferred_total; /* calls refused: the loop had waited enough */
	double last_cycle_seconds;	    /* < 0: no cycle yet */
	__u64 errors_total[MS_METRICS_ERR_KINDS];
	__u64 knob_writes_accepted_total, knob_writes_rejected_total;
	/* Questions to destinations by outcome (answered, silent, refused, absent). */
	__u64 peer_requests_total[4];
	/* /v1/peer given to sources, and refused over its rate. */
	__u64 peer_answers_total, peer_answers_limited_total;
	/* Filled by the server for each scrape; the http series need it. */
	bool have_http;
	struct ms_http_stats http;
};

/*
 * Renders the exposition text of s into *text (NUL-terminated, *len bytes
 * without the NUL; the caller frees it). Pure: no I/O. -EINVAL without iface.
 */
int ms_metrics_render(const struct ms_metrics_snapshot *s, char **text, size_t *len);

/*
 * Fills *snap (zeroed by the caller) for one scrape; 0 or -errno (the scrape
 * then answers 500). Pointers in *snap may point into the agent's memory:
 * they are used only before the function's caller returns to the loop.
 */
typedef int (*ms_metrics_snapshot_fn)(void *ctx, struct ms_metrics_snapshot *snap);

struct ms_metrics_server;

/*
 * Listens on listen_addr (IPv4 or IPv6 literal; NULL: 127.0.0.1; "::" takes
 * IPv4 too, "0.0.0.0" every IPv4 address) and port
 * (0: an ephemeral port, see ms_metrics_server_port()) and serves GET and
 * HEAD /metrics from loop: 404 for other paths, 405 for other methods.
 * web_config (NULL or "": none) is an exporter-toolkit web config file
 * (webconfig.h): TLS and/or basic auth. -EINVAL for a bad address or web
 * config, -errno of the bind otherwise; logs the reason.
 */
int ms_metrics_server_start(struct ms_loop *loop, const char *listen_addr, __u16 port,
			    const char *web_config, ms_metrics_snapshot_fn fn, void *ctx,
			    struct ms_metrics_server **out);
/* The bound port. */
__u16 ms_metrics_server_port(const struct ms_metrics_server *srv);
/* Removes the server's fds from the loop, closes connections; NULL-safe. */
void ms_metrics_server_stop(struct ms_metrics_server *srv);

#endif /* MS_METRICS_H */
