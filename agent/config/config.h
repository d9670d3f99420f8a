/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The agent's settings: defaults, validation of one key at a time, the INI
 * file, and the cross-key checks that need the link speed. Every setter is
 * all-or-nothing: on error the struct is left exactly as it was.
 */
#ifndef MS_CONFIG_H
#define MS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>

#include "migshaper.h"
#include "log.h"

#define MS_CONFIG_DEFAULT_PATH "/etc/migshaper/migshaper.conf"
#define MS_MAX_MGMT_PORTS      64U
#define MS_MBPS_MAX	       1000000U /* 1 Tbit/s */
#define MS_CONFIG_ERR_LEN      256
#define MS_URI_MAX	       256
#define MS_DEFAULT_LIBVIRT_URI "qemu:///system"
/* The peer endpoint (agent/peer/): addresses it listens on, its default port. */
#define MS_PEER_LISTEN_MAX   4U
#define MS_PEER_DEFAULT_PORT 9466

struct ms_config {
	/* Mbit/s (10^6 bit/s). 0 means "auto": derived in ms_config_resolve(). */
	__u32 link_mbps;
	__u32 mgmt_reserve_mbps;
	__u32 migration_aggregate_mbps;
	__u32 migration_max_mbps;
	__u32 migration_min_mbps;
	/*
	 * What this host accepts from all incoming migrations together (its
	 * downlink's share for migrations); auto (0) is migration_aggregate_mbps.
	 */
	__u32 incoming_aggregate_mbps;
	bool dscp_marking;
	/* Also pace QEMU through virDomainMigrateSetMaxSpeed, not only tc. */
	bool speed_coordination;
	__u32 report_interval_ms;
	/* How often job stats are read and allocations applied. */
	__u32 cycle_ms;
	/* Empty: no libvirt, static shaping only. */
	char libvirt_uri[MS_URI_MAX];
	/* Allocation and convergence (agent/policy/policy.h): enum ms_policy_kind. */
	int policy;
	__u32 max_downtime_ms;
	int escalation; /* enum ms_escalation_mode */
	bool suspend_allowed;
	__u32 migration_progress_timeout_s;
	__u32 downtime_step_ms;
	__u32 escalation_interval_ms;
	/*
	 * Another tool replaced or deleted our root qdisc: put our tree back
	 * (true), or leave theirs in place and stop shaping until it is gone.
	 */
	bool reassert_root_qdisc;
	/* Cap incoming migration traffic at the NIC's ingress (tc/ingress.h). */
	bool ingress_backstop;
	/* Where the HTB tree goes: enum ms_dataplane_backend. Read at start only. */
	int dataplane_backend;
	/*
	 * With the multiqueue backend, turn on sch_htb's host-wide
	 * htb_hysteresis while the agent runs (tc/hysteresis.h says why). Read at
	 * start only.
	 */
	bool htb_hysteresis;
	/* Prometheus endpoint; an empty address turns it off. */
	char metrics_listen[64];
	__u16 metrics_port;
	/* Exporter-toolkit web config (TLS, basic auth) of /metrics; "": none. */
	char metrics_web_config[256];
	enum ms_log_level log_level;
	size_t n_mgmt_cidrs;
	struct ms_cidr_key mgmt_cidrs[MS_CIDR_MAX];
	size_t n_mgmt_ports;
	__u16 mgmt_ports[MS_MAX_MGMT_PORTS];
	__u16 migration_port_min;
	__u16 migration_port_max;
	/*
	 * The peer endpoint (issue 14, agent/peer/): GET /v1/peer on each
	 * address of peer_listen (none: off) at peer_port, which is also the
	 * port this host asks its migrations' destinations on. The budget it
	 * announces there is incoming_aggregate_mbps.
	 */
	size_t n_peer_listen;
	char peer_listen[MS_PEER_LISTEN_MAX][64];
	__u16 peer_port;
	/*
	 * migration_ports = auto: the range is libvirt's (qemu.conf,
	 * qemuconf.h), read when the configuration is resolved (start-up,
	 * SIGHUP, knob writes). Cleared in the resolved configuration, which
	 * holds the range read.
	 */
	bool migration_ports_auto;
};

void ms_config_init(struct ms_config *cfg);

/*
 * The one table of configuration keys. The INI parser, the knob tree, the
 * CLI and the man page's key list (checked by tests/unit/test_keys.c) all
 * read it; a key is added here and nowhere else.
 */
enum ms_config_key_type {
	MS_KEY_MBPS,	   /* __u32 Mbit/s, min-max, or auto (0) */
	MS_KEY_U32,	   /* __u32, min-max */
	MS_KEY_U16,	   /* __u16, min-max */
	MS_KEY_BOOL,	   /* bool, 0 or 1 */
	MS_KEY_POLICY,	   /* int, enum ms_policy_kind by name */
	MS_KEY_ESCALATION, /* int, enum ms_escalation_mode by name (0 = off, 1 = act) */
	MS_KEY_LOG_LEVEL,  /* enum ms_log_level by name */
	MS_KEY_URI,	   /* char[MS_URI_MAX], or none */
	MS_KEY_LISTEN,	   /* char[64] IP address, or none */
	MS_KEY_PATH,	   /* char[max] absolute path, or none */
	MS_KEY_CIDRS,	   /* mgmt_cidrs and n_mgmt_cidrs */
	MS_KEY_PORTS,	   /* mgmt_ports and n_mgmt_ports */
	MS_KEY_PORT_RANGE, /* migration_port_min and migration_port_max */
	MS_KEY_LISTENS,	   /* peer_listen and n_peer_listen: IP addresses, or none */
	MS_KEY_BACKEND,	   /* int, enum ms_dataplane_backend by name */
};

/*
 * Where shaping happens. htb-root: one HTB tree as the NIC's root qdisc, so
 * every packet takes its lock. multiqueue: the NIC keeps its per-queue root
 * (mq), and only migration traffic is redirected through an HTB tree on an
 * IFB device (tc/mq.h). auto: multiqueue on a NIC with more than one TX queue
 * or none of its own (root noqueue: a bond, VLAN or bridge).
 */
enum ms_dataplane_backend {
	MS_BACKEND_AUTO,
	MS_BACKEND_HTB_ROOT,
	MS_BACKEND_MULTIQUEUE,
};

struct ms_config_key {
	const char *name;
	enum ms_config_key_type type;
	/* Of the field in struct ms_config (the first one for the two-field types). */
	size_t offset;
	/* MS_KEY_MBPS, MS_KEY_U32, MS_KEY_U16: the allowed range. */
	__u32 min, max; /* MS_KEY_PATH: max is the field's size */
	/* "Mbit/s", "ms", "s", or "" */
	const char *unit;
	/* What a value may be, for messages and the man page (numeric types: built from the range).
	 */
	const char *allowed;
	/* Changeable on the running agent through the knob tree. */
	bool knob;
	const char *help;
};

#define MS_CONFIG_N_KEYS 31U
/* Of which the Mbit/s rates (MS_KEY_MBPS), shown by migshaperctl status. */
#define MS_CONFIG_N_RATE_KEYS 6U
extern const struct ms_config_key ms_config_keys[MS_CONFIG_N_KEYS];

/* The key named name, or NULL. */
const struct ms_config_key *ms_config_key_find(const char *name);
/* "1-1000000 Mbit/s, or auto": what key allows, as the man page lists it. */
void ms_config_key_allowed(const struct ms_config_key *key, char *buf, size_t len);
/*
 * Prints key's value in cfg as the knob tree shows it (no final newline):
 * auto for a rate of 0, none for no URI, lists as they are written.
 */
void ms_config_key_show(const struct ms_config_key *key, const struct ms_config *cfg, FILE *out);
/* Whether an empty value clears the key (the lists) instead of being refused. */
bool ms_config_key_is_list(const struct ms_config_key *key);

/*
 * Validates and sets one key. Returns 0, -ENOENT for an unknown key, -EINVAL
 * for a malformed value or -ERANGE for one out of range; err then names the
 * key and what is allowed.
 */
int ms_config_set(struct ms_config *cfg, const char *key, const char *value, char *err,
		  size_t err_len);

/*
 * Parses INI text: keys before any section and in [global] apply to every
 * interface, keys in [interface NAME] only to NAME (which may be NULL to
 * apply global keys only). Every section is validated, even those for other
 * interfaces. All or nothing.
 */
int ms_config_parse(struct ms_config *cfg, const char *text, size_t len, const char *ifname,
		    char *err, size_t err_len);
int ms_config_load_file(struct ms_config *cfg, const char *path, const char *ifname, char *err,
			size_t err_len);
/*
 * At start-up: the file at path, or with path NULL MS_CONFIG_DEFAULT_PATH if
 * it exists; without either cfg stays as it is (the defaults).
 */
int ms_config_load_default(struct ms_config *cfg, const char *path, const char *ifname, char *err,
			   size_t err_len);

/*
 * Fills "auto" values from the link speed (Mbit/s, 0 if unknown) and checks
 * the constraints between keys. All or nothing.
 */
int ms_config_resolve(struct ms_config *cfg, __u32 link_speed_mbps, char *err, size_t err_len);
/*
 * The authoritative check of the rates' invariants (include/rates.h), on
 * resolved values (no auto): -ERANGE with the broken rule and the values in
 * err. The layers below (tc/htb.c, agent/policy) get only values that
 * passed it, and assert the same rules.
 */
int ms_config_check_rates(const struct ms_config *cfg, char *err, size_t err_len);

/*
 * The one model of the configuration. requested is what the operator asked
 * for (the file, SIGHUP, knob writes; a rate of 0 means auto); effective is
 * what is in force: requested resolved against link_speed_mbps. effective is
 * only ever derived from requested, so a change that re-derives it (a new
 * link speed, a re-created interface) keeps every value the operator wrote.
 */
struct ms_settings {
	struct ms_config requested;
	struct ms_config effective;
	/* The speed effective was derived at, Mbit/s; 0: unknown. */
	__u32 link_speed_mbps;
};

/* Defaults for both, unresolved (the agent derives them once it knows the speed). */
void ms_settings_init(struct ms_settings *s);
/*
 * Fills next with requested and what it resolves to at link_speed_mbps.
 * All or nothing: on error next is untouched and err says why.
 */
int ms_settings_derive(struct ms_settings *next, const struct ms_config *requested,
		       __u32 link_speed_mbps, char *err, size_t err_len);
/*
 * A knob write: next is cur with key = value in requested, derived again
 * at link_speed_mbps. All or nothing, like ms_config_set().
 */
int ms_settings_set(struct ms_settings *next, const struct ms_settings *cur, const char *key,
		    const char *value, __u32 link_speed_mbps, char *err, size_t err_len);
/*
 * Whether what is in force depends on the link speed and the speed now
 * reported (0: unknown) differs from the one it was derived at.
 */
bool ms_settings_follows_speed(const struct ms_settings *s, __u32 link_speed_mbps);

/* How many allocation policies there are (enum ms_policy_kind). */
#define MS_POLICY_COUNT 3

/* Parses "a.b.c.d[/len]" or "x:y::z[/len]" into an IPv4-mapped trie key. */
int ms_cidr_parse(const char *text, struct ms_cidr_key *out);
int ms_cidr_format(const struct ms_cidr_key *key, char *buf, size_t len);

#endif /* MS_CONFIG_H */
