// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Settings: parsing and validation. Values are parsed strictly (no trailing
 * garbage, no sign, no overflow) because a shaping agent that silently reads
 * "1O00" as 1 would cut a host off its manager.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "qemuconf.h"
#include "file.h"
#include "policy.h"
#include "rates.h"
#include "units.h"

/* A config file larger than this is certainly not a config file. */
#define MS_CONFIG_MAX_BYTES (1U << 20)
#define MS_LINE_MAX	    4096U

static const __u16 default_mgmt_ports[] = {22, 16509, 16514, 54321};

void ms_config_init(struct ms_config *cfg)
{
	struct ms_policy_params pp;

	ms_policy_params_init(&pp);
	memset(cfg, 0, sizeof(*cfg));
	cfg->report_interval_ms = 1000;
	cfg->cycle_ms = 1000;
	cfg->speed_coordination = true;
	snprintf(cfg->libvirt_uri, sizeof(cfg->libvirt_uri), "%s", MS_DEFAULT_LIBVIRT_URI);
	snprintf(cfg->metrics_listen, sizeof(cfg->metrics_listen), "127.0.0.1");
	/* The policy keys' defaults are the engine's own (policy.h says why). */
	cfg->policy = pp.kind;
	cfg->max_downtime_ms = pp.max_downtime_ms;
	cfg->escalation = MS_ESCALATION_DEFAULT;
	cfg->suspend_allowed = pp.suspend_allowed;
	cfg->migration_progress_timeout_s = pp.progress_timeout_s;
	cfg->downtime_step_ms = pp.downtime_step_ms;
	cfg->escalation_interval_ms = pp.escalate_interval_ms;
	cfg->reassert_root_qdisc = true;
	cfg->htb_hysteresis = true;
	cfg->metrics_port = 9465;
	cfg->log_level = MS_LOG_INFO;
	cfg->n_mgmt_ports = sizeof(default_mgmt_ports) / sizeof(default_mgmt_ports[0]);
	memcpy(cfg->mgmt_ports, default_mgmt_ports, sizeof(default_mgmt_ports));
	/* libvirt's own range, from its qemu.conf; its defaults until resolved. */
	cfg->migration_ports_auto = true;
	cfg->migration_port_min = MS_QEMU_CONF_PORT_MIN;
	cfg->migration_port_max = MS_QEMU_CONF_PORT_MAX;
	cfg->peer_port = MS_PEER_DEFAULT_PORT;
}

/* Strict unsigned decimal: digits only, no sign, no spaces, no overflow. */
static int parse_u64(const char *s, __u64 *out)
{
	__u64 v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (ULLONG_MAX - (__u64)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (__u64)(*s - '0');
	}
	*out = v;
	return 0;
}

/* hint completes the "allowed" text, e.g. " Mbit/s, or auto". */
static int parse_ranged(const char *key, const char *value, __u64 min, __u64 max, const char *hint,
			__u64 *out, char *err, size_t err_len)
{
	__u64 v = 0;
	int ret = parse_u64(value, &v);

	if (ret == -EINVAL) {
		ms_file_err(err, err_len, "%s: '%s' is not a whole number (allowed: %llu-%llu%s)",
			    key, value, (unsigned long long)min, (unsigned long long)max, hint);
		return -EINVAL;
	}
	if (ret == -ERANGE || v < min || v > max) {
		ms_file_err(err, err_len, "%s: '%s' is out of range (allowed: %llu-%llu%s)", key,
			    value, (unsigned long long)min, (unsigned long long)max, hint);
		return -ERANGE;
	}
	*out = v;
	return 0;
}

int ms_cidr_parse(const char *text, struct ms_cidr_key *out)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(text, '/');
	size_t addr_len = slash ? (size_t)(slash - text) : strlen(text);
	struct ms_cidr_key key = {};
	__u64 prefix;
	unsigned int max_prefix, base;
	struct in_addr a4;

	if (addr_len == 0 || addr_len >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, text, addr_len);
	addr[addr_len] = '\0';

	if (inet_pton(AF_INET, addr, &a4) == 1) {
		key.addr[10] = 0xff;
		key.addr[11] = 0xff;
		memcpy(&key.addr[12], &a4, 4);
		max_prefix = 32;
		base = 96;
	} else if (inet_pton(AF_INET6, addr, key.addr) == 1) {
		max_prefix = 128;
		base = 0;
	} else {
		return -EINVAL;
	}

	prefix = max_prefix;
	if (slash) {
		int ret = parse_u64(slash + 1, &prefix);

		if (ret)
			return -EINVAL;
		if (prefix > max_prefix)
			return -ERANGE;
	}
	key.prefixlen = base + (__u32)prefix;
	/* Clear host bits so equal networks give equal trie keys. */
	for (unsigned int bit = key.prefixlen; bit < 128; bit++)
		key.addr[bit / 8] &= (__u8) ~(0x80U >> (bit % 8));
	*out = key;
	return 0;
}

int ms_cidr_format(const struct ms_cidr_key *key, char *buf, size_t len)
{
	static const __u8 v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	char addr[INET6_ADDRSTRLEN];
	int n;

	if (key->prefixlen >= 96 && memcmp(key->addr, v4_mapped, sizeof(v4_mapped)) == 0) {
		inet_ntop(AF_INET, &key->addr[12], addr, sizeof(addr));
		n = snprintf(buf, len, "%s/%u", addr, key->prefixlen - 96);
	} else {
		inet_ntop(AF_INET6, key->addr, addr, sizeof(addr));
		n = snprintf(buf, len, "%s/%u", addr, key->prefixlen);
	}
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

/*
 * Splits a list on commas and white space and calls fn for each item; stops
 * at the first error. A comma must stand between two items: a leading,
 * trailing or doubled comma is -ENODATA, because a list cut off while it
 * was written ("22,") must not be applied as a shorter one.
 */
static int for_each_item(const char *value, int (*fn)(void *ctx, const char *item), void *ctx)
{
	char item[128];
	const char *p = value;
	bool need_item = false;

	for (;;) {
		size_t n = 0;
		int ret;

		while (isspace((unsigned char)*p))
			p++;
		if (!*p || *p == ',') {
			if (need_item || *p == ',')
				return -ENODATA;
			return 0;
		}
		while (p[n] && p[n] != ',' && !isspace((unsigned char)p[n]))
			n++;
		if (n >= sizeof(item))
			return -EINVAL;
		memcpy(item, p, n);
		item[n] = '\0';
		p += n;
		ret = fn(ctx, item);
		if (ret)
			return ret;
		while (isspace((unsigned char)*p))
			p++;
		need_item = *p == ',';
		if (need_item)
			p++;
	}
}

#define EMPTY_ELEMENT_HINT \
	"a comma must stand between two items: no leading, trailing or doubled commas"

struct cidr_list {
	struct ms_cidr_key keys[MS_CIDR_MAX];
	size_t n;
	const char *bad;
	char bad_buf[128];
};

static int add_cidr(void *ctx, const char *item)
{
	struct cidr_list *list = ctx;
	struct ms_cidr_key key;
	int ret;

	snprintf(list->bad_buf, sizeof(list->bad_buf), "%s", item);
	ret = ms_cidr_parse(item, &key);
	if (ret)
		return ret;
	for (size_t i = 0; i < list->n; i++)
		if (memcmp(&list->keys[i], &key, sizeof(key)) == 0)
			return 0;
	if (list->n == MS_CIDR_MAX)
		return -E2BIG;
	list->keys[list->n++] = key;
	return 0;
}

struct port_list {
	__u16 ports[MS_MAX_MGMT_PORTS];
	size_t n;
	char bad_buf[128];
};

static int add_port(void *ctx, const char *item)
{
	struct port_list *list = ctx;
	__u64 port;
	int ret;

	snprintf(list->bad_buf, sizeof(list->bad_buf), "%s", item);
	ret = parse_u64(item, &port);
	if (ret)
		return -EINVAL;
	if (port < 1 || port > 65535)
		return -ERANGE;
	for (size_t i = 0; i < list->n; i++)
		if (list->ports[i] == port)
			return 0;
	if (list->n == MS_MAX_MGMT_PORTS)
		return -E2BIG;
	list->ports[list->n++] = (__u16)port;
	return 0;
}

static int set_mgmt_cidrs(struct ms_config *cfg, const char *value, char *err, size_t err_len)
{
	struct cidr_list *list = calloc(1, sizeof(*list));
	int ret;

	if (!list)
		return -ENOMEM;
	ret = for_each_item(value, add_cidr, list);
	if (ret == -ENODATA) {
		ms_file_err(err, err_len, "mgmt_cidrs: '%s' has an empty element (%s)", value,
			    EMPTY_ELEMENT_HINT);
		ret = -EINVAL;
	} else if (ret == -E2BIG) {
		ms_file_err(err, err_len, "mgmt_cidrs: more than %u CIDRs", MS_CIDR_MAX);
		ret = -ERANGE;
	} else if (ret) {
		ms_file_err(err, err_len,
			    "mgmt_cidrs: '%s' is not a CIDR (allowed: a.b.c.d/0-32 or an IPv6 "
			    "prefix /0-128, separated by commas)",
			    list->bad_buf);
	} else {
		memcpy(cfg->mgmt_cidrs, list->keys, list->n * sizeof(list->keys[0]));
		cfg->n_mgmt_cidrs = list->n;
	}
	free(list);
	return ret;
}

static int set_mgmt_ports(struct ms_config *cfg, const char *value, char *err, size_t err_len)
{
	struct port_list list = {};
	int ret = for_each_item(value, add_port, &list);

	if (ret == -ENODATA) {
		ms_file_err(err, err_len, "mgmt_ports: '%s' has an empty element (%s)", value,
			    EMPTY_ELEMENT_HINT);
		return -EINVAL;
	}
	if (ret == -E2BIG) {
		ms_file_err(err, err_len, "mgmt_ports: more than %u ports", MS_MAX_MGMT_PORTS);
		return -ERANGE;
	}
	if (ret) {
		ms_file_err(
		    err, err_len,
		    "mgmt_ports: '%s' is not a port (allowed: 1-65535, separated by commas)",
		    list.bad_buf);
		return ret;
	}
	memcpy(cfg->mgmt_ports, list.ports, list.n * sizeof(list.ports[0]));
	cfg->n_mgmt_ports = list.n;
	return 0;
}

static int set_migration_ports(struct ms_config *cfg, const char *value, char *err, size_t err_len)
{
	char lo_text[16], hi_text[16];
	const char *dash = strchr(value, '-');
	size_t lo_len = dash ? (size_t)(dash - value) : strlen(value);
	__u64 lo, hi;

	if (strcmp(value, "auto") == 0) {
		cfg->migration_ports_auto = true;
		return 0;
	}
	if (lo_len == 0 || lo_len >= sizeof(lo_text) ||
	    (dash && (strlen(dash + 1) == 0 || strlen(dash + 1) >= sizeof(hi_text))))
		goto malformed;
	memcpy(lo_text, value, lo_len);
	lo_text[lo_len] = '\0';
	snprintf(hi_text, sizeof(hi_text), "%s", dash ? dash + 1 : lo_text);
	if (parse_u64(lo_text, &lo) || parse_u64(hi_text, &hi))
		goto malformed;
	if (lo < 1 || hi > 65535 || lo > 65535 || hi < 1) {
		ms_file_err(err, err_len,
			    "migration_ports: '%s' is out of range (allowed: 1-65535)", value);
		return -ERANGE;
	}
	if (lo > hi) {
		ms_file_err(err, err_len,
			    "migration_ports: '%s' is reversed (the first port must not exceed the "
			    "second)",
			    value);
		return -ERANGE;
	}
	cfg->migration_port_min = (__u16)lo;
	cfg->migration_port_max = (__u16)hi;
	cfg->migration_ports_auto = false;
	return 0;

malformed:
	ms_file_err(
	    err, err_len,
	    "migration_ports: '%s' is not a port range (allowed: MIN-MAX, 1-65535, or auto)",
	    value);
	return -EINVAL;
}

/* "none" or an empty value turns libvirt off; anything else must look like a URI. */
static int set_uri(struct ms_config *cfg, const char *value, char *err, size_t err_len)
{
	if (strcmp(value, "none") == 0 || value[0] == '\0') {
		cfg->libvirt_uri[0] = '\0';
		return 0;
	}
	if (strlen(value) >= sizeof(cfg->libvirt_uri) || !strstr(value, ":/")) {
		ms_file_err(err, err_len,
			    "libvirt_uri: '%s' is not a libvirt URI (allowed: e.g. qemu:///system, "
			    "at most %u characters, or none)",
			    value, MS_URI_MAX - 1);
		return -EINVAL;
	}
	for (const char *p = value; *p; p++) {
		if (!isgraph((unsigned char)*p)) {
			ms_file_err(err, err_len,
				    "libvirt_uri: '%s' contains white space or control "
				    "characters",
				    value);
			return -EINVAL;
		}
	}
	snprintf(cfg->libvirt_uri, sizeof(cfg->libvirt_uri), "%s", value);
	return 0;
}

/* An IPv4 or IPv6 address literal, or "none" to serve no metrics. */
static int set_listen(struct ms_config *cfg, const char *value, char *err, size_t err_len)
{
	unsigned char addr[sizeof(struct in6_addr)];

	if (strcmp(value, "none") == 0) {
		cfg->metrics_listen[0] = '\0';
		return 0;
	}
	if (inet_pton(AF_INET, value, addr) != 1 && inet_pton(AF_INET6, value, addr) != 1) {
		ms_file_err(
		    err, err_len,
		    "metrics_listen: '%s' is not an IP address (allowed: e.g. 127.0.0.1, ::1, "
		    "0.0.0.0, or none)",
		    value);
		return -EINVAL;
	}
	snprintf(cfg->metrics_listen, sizeof(cfg->metrics_listen), "%s", value);
	return 0;
}

struct listen_list {
	char addrs[MS_PEER_LISTEN_MAX][64];
	size_t n;
	char bad_buf[128];
};

static int add_listen(void *ctx, const char *item)
{
	struct listen_list *list = ctx;
	unsigned char addr[sizeof(struct in6_addr)];

	snprintf(list->bad_buf, sizeof(list->bad_buf), "%s", item);
	if (strlen(item) >= sizeof(list->addrs[0]) ||
	    (inet_pton(AF_INET, item, addr) != 1 && inet_pton(AF_INET6, item, addr) != 1))
		return -EINVAL;
	for (size_t i = 0; i < list->n; i++)
		if (strcmp(list->addrs[i], item) == 0)
			return 0;
	if (list->n == MS_PEER_LISTEN_MAX)
		return -E2BIG;
	snprintf(list->addrs[list->n++], sizeof(list->addrs[0]), "%s", item);
	return 0;
}

/* peer_listen: IP address literals separated by commas; none (or empty) turns it off. */
static int set_peer_listen(struct ms_config *cfg, const char *value, char *err, size_t err_len)
{
	struct listen_list list = {};
	int ret = 0;

	if (strcmp(value, "none") != 0 && value[0])
		ret = for_each_item(value, add_listen, &list);
	if (ret == -ENODATA) {
		ms_file_err(err, err_len, "peer_listen: '%s' has an empty element (%s)", value,
			    EMPTY_ELEMENT_HINT);
		return -EINVAL;
	}
	if (ret == -E2BIG) {
		ms_file_err(err, err_len, "peer_listen: more than %u addresses",
			    MS_PEER_LISTEN_MAX);
		return -ERANGE;
	}
	if (ret) {
		ms_file_err(err, err_len,
			    "peer_listen: '%s' is not an IP address (allowed: e.g. 192.0.2.10, "
			    "2001:db8::10, separated by commas, or none)",
			    list.bad_buf);
		return -EINVAL;
	}
	memcpy(cfg->peer_listen, list.addrs, sizeof(list.addrs));
	cfg->n_peer_listen = list.n;
	return 0;
}

#define CFG_OFF(field) offsetof(struct ms_config, field)
#define RATE(key, help_text)                                                          \
	{                                                                             \
		.name = #key, .type = MS_KEY_MBPS, .offset = CFG_OFF(key), .min = 1,  \
		.max = MS_MBPS_MAX, .unit = "Mbit/s", .knob = true, .help = help_text \
	}
#define RANGED(key, kind, lo, hi, unit_text, help_text)                                   \
	{                                                                                 \
		.name = #key, .type = kind, .offset = CFG_OFF(key), .min = lo, .max = hi, \
		.unit = unit_text, .knob = true, .help = help_text                        \
	}
#define FLAG(key, help_text)                                                           \
	{                                                                              \
		.name = #key, .type = MS_KEY_BOOL, .offset = CFG_OFF(key), .unit = "", \
		.allowed = "0 or 1", .knob = true, .help = help_text                   \
	}

/* Sized by its initialisers: a count that differs from MS_CONFIG_N_KEYS does not compile. */
const struct ms_config_key ms_config_keys[] = {
    RATE(link_mbps, "rate the agent shapes the link to; auto is 95% of the driver's speed, "
		    "followed when it changes"),
    RATE(mgmt_reserve_mbps, "guaranteed to management, top priority; auto is 10% of the link"),
    RATE(migration_aggregate_mbps,
	 "all migrations together; auto guarantees 70% of the link "
	 "and lends them what management and default leave; set, a hard cap"),
    RATE(migration_max_mbps,
	 "ceiling of each migration's class; auto follows the aggregate's ceiling"),
    RATE(migration_min_mbps, "floor of a migration's share; auto is 2% of the link"),
    RATE(incoming_aggregate_mbps, "all incoming migrations together: what this host tells its "
				  "sources at /v1/peer and the ingress backstop's cap; auto is "
				  "migration_aggregate_mbps"),
    FLAG(dscp_marking, "mark management CS6 and migration CS1"),
    FLAG(speed_coordination, "also pace QEMU through libvirt's migration speed"),
    RANGED(cycle_ms, MS_KEY_U32, 100, 60000, "ms",
	   "how often job stats are read and rates applied"),
    RANGED(report_interval_ms, MS_KEY_U32, 1, 3600000, "ms",
	   "how often a still-unattributed flow is reported again"),
    {.name = "log_level",
     .type = MS_KEY_LOG_LEVEL,
     .offset = CFG_OFF(log_level),
     .unit = "",
     .allowed = "error, warn, info, debug",
     .knob = true,
     .help = "what is logged"},
    {.name = "libvirt_uri",
     .type = MS_KEY_URI,
     .offset = CFG_OFF(libvirt_uri),
     .unit = "",
     .allowed = "a libvirt URI such as qemu:///system, or none",
     .knob = true,
     .help = "none for static shaping only"},
    {.name = "mgmt_cidrs",
     .type = MS_KEY_CIDRS,
     .offset = CFG_OFF(mgmt_cidrs),
     .unit = "",
     .allowed = "IPv4 or IPv6 CIDRs separated by commas",
     .knob = true,
     .help = "the managers' networks"},
    {.name = "mgmt_ports",
     .type = MS_KEY_PORTS,
     .offset = CFG_OFF(mgmt_ports),
     .unit = "",
     .allowed = "ports 1-65535 separated by commas",
     .knob = true,
     .help = "management ports, either direction"},
    {.name = "migration_ports",
     .type = MS_KEY_PORT_RANGE,
     .offset = CFG_OFF(migration_port_min),
     .unit = "",
     .allowed = "MIN-MAX, 1-65535, or auto",
     .knob = true,
     .help = "auto: libvirt's migration_port_min-max from its qemu.conf"},
    {.name = "policy",
     .type = MS_KEY_POLICY,
     .offset = CFG_OFF(policy),
     .unit = "",
     .allowed = "srpt, fair, serial",
     .knob = true,
     .help = "how migrations share the aggregate"},
    RANGED(max_downtime_ms, MS_KEY_U32, 300, 60000, "ms", "ceiling of the raised downtime limit"),
    {.name = "escalation",
     .type = MS_KEY_ESCALATION,
     .offset = CFG_OFF(escalation),
     .unit = "",
     .allowed = "advise, act, off (1 = act, 0 = off)",
     .knob = true,
     .help = "what to do about migrations that stall: advise (report the would-be raise of "
	     "max downtime, post-copy, suspend or abort), act (do it, never against a "
	     "manager's own setting), off"},
    FLAG(suspend_allowed, "allow pausing the guest so the copy can catch up"),
    RANGED(migration_progress_timeout_s, MS_KEY_U32, 10, 86400, "s",
	   "abort after this long without progress"),
    RANGED(downtime_step_ms, MS_KEY_U32, 10, 60000, "ms", "size of a downtime raise"),
    RANGED(escalation_interval_ms, MS_KEY_U32, 500, 600000, "ms", "time between escalation steps"),
    FLAG(reassert_root_qdisc, "put our tree back when another tool replaces the root qdisc "
			      "(1), or leave theirs and stop shaping (0)"),
    FLAG(ingress_backstop, "cap incoming migration traffic at incoming_aggregate_mbps on the "
			   "interface's ingress (IFB), for sources without an agent"),
    {.name = "dataplane_backend",
     .type = MS_KEY_BACKEND,
     .offset = CFG_OFF(dataplane_backend),
     .unit = "",
     .allowed = "auto, htb-root, multiqueue",
     .help = "htb-root shapes everything through one HTB root; multiqueue keeps the NIC's "
	     "per-queue qdiscs and sends only migrations through HTB; auto picks multiqueue on "
	     "a NIC with more than one TX queue or none of its own (root noqueue: a bond, VLAN "
	     "or bridge). Read at start"},
    {.name = "htb_hysteresis",
     .type = MS_KEY_BOOL,
     .offset = CFG_OFF(htb_hysteresis),
     .unit = "",
     .allowed = "0 or 1",
     .help = "with the multiqueue backend, turn on sch_htb's host-wide htb_hysteresis while "
	     "the agent runs; the last agent using it puts the value found back when it stops "
	     "(0: never turn it on). Read at start"},
    {.name = "metrics_listen",
     .type = MS_KEY_LISTEN,
     .offset = CFG_OFF(metrics_listen),
     .unit = "",
     .allowed = "an IP address such as 127.0.0.1 or ::1, or none",
     .help = "address of /metrics; none turns it off"},
    {.name = "metrics_port",
     .type = MS_KEY_U16,
     .offset = CFG_OFF(metrics_port),
     .min = 1,
     .max = 65535,
     .unit = "",
     .help = "port of /metrics"},
    {.name = "metrics_web_config",
     .type = MS_KEY_PATH,
     .offset = CFG_OFF(metrics_web_config),
     .max = sizeof(((struct ms_config *)0)->metrics_web_config),
     .unit = "",
     .allowed = "an absolute path, or none",
     .help = "web config of /metrics (TLS, basic auth), as Prometheus exporters read it"},
    {.name = "peer_listen",
     .type = MS_KEY_LISTENS,
     .offset = CFG_OFF(peer_listen),
     .unit = "",
     .allowed = "IP addresses separated by commas, or none",
     .help = "addresses of the peer endpoint GET /v1/peer that migration sources ask; "
	     "none turns it off"},
    {.name = "peer_port",
     .type = MS_KEY_U16,
     .offset = CFG_OFF(peer_port),
     .min = 1,
     .max = 65535,
     .unit = "",
     .help = "port of the peer endpoint, here and on the destinations this host asks"},
};

const struct ms_config_key *ms_config_key_find(const char *name)
{
	for (size_t i = 0; i < MS_CONFIG_N_KEYS; i++)
		if (strcmp(ms_config_keys[i].name, name) == 0)
			return &ms_config_keys[i];
	return NULL;
}

bool ms_config_key_is_list(const struct ms_config_key *key)
{
	return key->type == MS_KEY_CIDRS || key->type == MS_KEY_PORTS ||
	       key->type == MS_KEY_LISTENS;
}

void ms_config_key_allowed(const struct ms_config_key *key, char *buf, size_t len)
{
	switch (key->type) {
	case MS_KEY_MBPS:
	case MS_KEY_U32:
	case MS_KEY_U16:
		snprintf(buf, len, "%u-%u%s%s%s", key->min, key->max, key->unit[0] ? " " : "",
			 key->unit, key->type == MS_KEY_MBPS ? ", or auto" : "");
		return;
	default:
		snprintf(buf, len, "%s", key->allowed);
		return;
	}
}

static void *field_of(struct ms_config *cfg, const struct ms_config_key *key)
{
	return (char *)cfg + key->offset;
}

static const void *const_field_of(const struct ms_config *cfg, const struct ms_config_key *key)
{
	return (const char *)cfg + key->offset;
}

/* An absolute path that fits the key's field, or "none". */
static int set_path(const struct ms_config_key *k, struct ms_config *cfg, const char *value,
		    char *err, size_t err_len)
{
	char *field = field_of(cfg, k);

	if (strcmp(value, "none") == 0) {
		field[0] = '\0';
		return 0;
	}
	if (value[0] != '/' || strlen(value) >= k->max) {
		ms_file_err(err, err_len,
			    "%s: '%s' is not an absolute path shorter than %u bytes (or none)",
			    k->name, value, (unsigned)k->max);
		return -EINVAL;
	}
	snprintf(field, k->max, "%s", value);
	return 0;
}

static int set_ranged(const struct ms_config_key *key, struct ms_config *cfg, const char *value,
		      char *err, size_t err_len)
{
	char hint[64];
	__u64 v;
	int ret;

	if (key->type == MS_KEY_MBPS && strcmp(value, "auto") == 0) {
		*(__u32 *)field_of(cfg, key) = 0;
		return 0;
	}
	/* " Mbit/s, or auto": completes "allowed: MIN-MAX". */
	snprintf(hint, sizeof(hint), "%s%s%s", key->unit[0] ? " " : "", key->unit,
		 key->type == MS_KEY_MBPS ? ", or auto" : "");
	ret = parse_ranged(key->name, value, key->min, key->max, hint, &v, err, err_len);
	if (ret)
		return ret;
	if (key->type == MS_KEY_U16)
		*(__u16 *)field_of(cfg, key) = (__u16)v;
	else
		*(__u32 *)field_of(cfg, key) = (__u32)v;
	return 0;
}

static int set_policy(struct ms_config *cfg, const char *value, char *err, size_t err_len)
{
	enum ms_policy_kind kind;

	if (!ms_policy_kind_parse(value, &kind)) {
		cfg->policy = kind;
		return 0;
	}
	ms_file_err(err, err_len, "policy: '%s' is not a policy (allowed: srpt, fair, serial)",
		    value);
	return -EINVAL;
}

static int set_escalation(struct ms_config *cfg, const char *value, char *err, size_t err_len)
{
	enum ms_escalation_mode mode;

	if (ms_escalation_mode_parse(value, &mode)) {
		ms_file_err(
		    err, err_len,
		    "escalation: '%s' is not a mode (allowed: advise, act, off; 1 = act, 0 = off)",
		    value);
		return -EINVAL;
	}
	cfg->escalation = mode;
	return 0;
}

static const char *const backend_names[] = {
    [MS_BACKEND_AUTO] = "auto",
    [MS_BACKEND_HTB_ROOT] = "htb-root",
    [MS_BACKEND_MULTIQUEUE] = "multiqueue",
};

static int set_backend(struct ms_config *cfg, const char *value, char *err, size_t err_len)
{
	for (size_t i = 0; i < sizeof(backend_names) / sizeof(backend_names[0]); i++) {
		if (strcmp(value, backend_names[i]) == 0) {
			cfg->dataplane_backend = (int)i;
			return 0;
		}
	}
	ms_file_err(
	    err, err_len,
	    "dataplane_backend: '%s' is not a backend (allowed: auto, htb-root, multiqueue)",
	    value);
	return -EINVAL;
}

static int set_log_level(struct ms_config *cfg, const char *value, char *err, size_t err_len)
{
	enum ms_log_level level;

	if (ms_log_level_parse(value, &level)) {
		ms_file_err(err, err_len,
			    "log_level: '%s' is not a level (allowed: error, warn, info, debug)",
			    value);
		return -EINVAL;
	}
	cfg->log_level = level;
	return 0;
}

int ms_config_set(struct ms_config *cfg, const char *key, const char *value, char *err,
		  size_t err_len)
{
	const struct ms_config_key *k = ms_config_key_find(key);
	__u64 v;
	int ret;

	if (!k) {
		ms_file_err(err, err_len, "unknown key '%s'", key);
		return -ENOENT;
	}
	switch (k->type) {
	case MS_KEY_MBPS:
	case MS_KEY_U32:
	case MS_KEY_U16:
		return set_ranged(k, cfg, value, err, err_len);
	case MS_KEY_BOOL:
		ret = parse_ranged(key, value, 0, 1, "", &v, err, err_len);
		if (!ret)
			*(bool *)field_of(cfg, k) = v;
		return ret;
	case MS_KEY_POLICY:
		return set_policy(cfg, value, err, err_len);
	case MS_KEY_ESCALATION:
		return set_escalation(cfg, value, err, err_len);
	case MS_KEY_LOG_LEVEL:
		return set_log_level(cfg, value, err, err_len);
	case MS_KEY_URI:
		return set_uri(cfg, value, err, err_len);
	case MS_KEY_LISTEN:
		return set_listen(cfg, value, err, err_len);
	case MS_KEY_PATH:
		return set_path(k, cfg, value, err, err_len);
	case MS_KEY_CIDRS:
		return set_mgmt_cidrs(cfg, value, err, err_len);
	case MS_KEY_PORTS:
		return set_mgmt_ports(cfg, value, err, err_len);
	case MS_KEY_PORT_RANGE:
		return set_migration_ports(cfg, value, err, err_len);
	case MS_KEY_LISTENS:
		return set_peer_listen(cfg, value, err, err_len);
	case MS_KEY_BACKEND:
		return set_backend(cfg, value, err, err_len);
	}
	ms_file_err(err, err_len, "%s: no parser for this key", key);
	return -EINVAL;
}

static void show_log_level(enum ms_log_level level, FILE *out)
{
	static const char *const names[] = {
	    [MS_LOG_ERROR] = "error",
	    [MS_LOG_WARN] = "warn",
	    [MS_LOG_INFO] = "info",
	    [MS_LOG_DEBUG] = "debug",
	};

	if ((unsigned int)level < sizeof(names) / sizeof(names[0]))
		fputs(names[level], out);
	else
		fprintf(out, "%d", (int)level);
}

/* "[srpt] fair serial": the choices with the current one bracketed, as sysfs does. */
static void show_policy(int policy, FILE *out)
{
	static const int order[MS_POLICY_COUNT] = {MS_POLICY_SRPT, MS_POLICY_FAIR,
						   MS_POLICY_SERIAL};

	for (int i = 0; i < MS_POLICY_COUNT; i++)
		fprintf(out, order[i] == policy ? "%s[%s]" : "%s%s", i ? " " : "",
			ms_policy_kind_name(order[i]));
}

static void show_cidrs(const struct ms_config *cfg, FILE *out)
{
	char text[INET6_ADDRSTRLEN + 8];

	for (size_t i = 0; i < cfg->n_mgmt_cidrs; i++) {
		if (ms_cidr_format(&cfg->mgmt_cidrs[i], text, sizeof(text)))
			snprintf(text, sizeof(text), "?");
		fprintf(out, "%s%s", i ? "\n" : "", text);
	}
}

void ms_config_key_show(const struct ms_config_key *key, const struct ms_config *cfg, FILE *out)
{
	const void *field = const_field_of(cfg, key);

	switch (key->type) {
	case MS_KEY_MBPS:
		if (*(const __u32 *)field)
			fprintf(out, "%u", *(const __u32 *)field);
		else
			fputs("auto", out);
		return;
	case MS_KEY_U32:
		fprintf(out, "%u", *(const __u32 *)field);
		return;
	case MS_KEY_U16:
		fprintf(out, "%u", *(const __u16 *)field);
		return;
	case MS_KEY_BOOL:
		fputs(*(const bool *)field ? "1" : "0", out);
		return;
	case MS_KEY_POLICY:
		show_policy(cfg->policy, out);
		return;
	case MS_KEY_ESCALATION:
		fputs(ms_escalation_mode_name(cfg->escalation), out);
		return;
	case MS_KEY_LOG_LEVEL:
		show_log_level(cfg->log_level, out);
		return;
	case MS_KEY_URI:
	case MS_KEY_LISTEN:
	case MS_KEY_PATH:
		/* "none" is what turns it off, so reading it back round-trips. */
		fputs(*(const char *)field ? (const char *)field : "none", out);
		return;
	case MS_KEY_CIDRS:
		show_cidrs(cfg, out);
		return;
	case MS_KEY_PORTS:
		for (size_t i = 0; i < cfg->n_mgmt_ports; i++)
			fprintf(out, "%s%u", i ? "," : "", cfg->mgmt_ports[i]);
		return;
	case MS_KEY_PORT_RANGE:
		if (cfg->migration_ports_auto)
			fputs("auto", out);
		else
			fprintf(out, "%u-%u", cfg->migration_port_min, cfg->migration_port_max);
		return;
	case MS_KEY_LISTENS:
		if (!cfg->n_peer_listen)
			fputs("none", out);
		for (size_t i = 0; i < cfg->n_peer_listen; i++)
			fprintf(out, "%s%s", i ? "," : "", cfg->peer_listen[i]);
		return;
	case MS_KEY_BACKEND:
		if ((unsigned int)cfg->dataplane_backend <
		    sizeof(backend_names) / sizeof(backend_names[0]))
			fputs(backend_names[cfg->dataplane_backend], out);
		else
			fprintf(out, "%d", cfg->dataplane_backend);
		return;
	}
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* "value   # note": a comment starts at # or ; after white space. */
static void strip_inline_comment(char *value)
{
	for (char *p = value; *p; p++) {
		if ((*p == '#' || *p == ';') && p > value && isspace((unsigned char)p[-1])) {
			*p = '\0';
			return;
		}
	}
}

/*
 * Applies one line to the working copy. *applies says whether the current
 * section is for this interface; lines of other sections are still validated
 * against a scratch copy so that a typo anywhere is reported.
 */
static int parse_line(struct ms_config *cfg, struct ms_config *scratch, char *line,
		      const char *ifname, bool *applies, char *err, size_t err_len)
{
	char *s = trim(line);
	char *eq;

	if (*s == '\0' || *s == '#' || *s == ';')
		return 0;
	if (*s == '[') {
		char *close = strchr(s, ']');
		char *name;

		if (!close || *trim(close + 1) != '\0') {
			ms_file_err(err, err_len, "malformed section header '%s'", s);
			return -EINVAL;
		}
		*close = '\0';
		name = trim(s + 1);
		if (strcmp(name, "global") == 0) {
			*applies = true;
			return 0;
		}
		if (strncmp(name, "interface", 9) == 0 && isspace((unsigned char)name[9])) {
			char *iface = trim(name + 9);

			if (*iface == '\0' || strlen(iface) >= 16 || strpbrk(iface, " \t/")) {
				ms_file_err(err, err_len, "section '[%s]': bad interface name",
					    name);
				return -EINVAL;
			}
			*applies = ifname && strcmp(iface, ifname) == 0;
			return 0;
		}
		ms_file_err(err, err_len,
			    "unknown section '[%s]' (allowed: [global], [interface NAME])", name);
		return -EINVAL;
	}
	eq = strchr(s, '=');
	if (!eq) {
		ms_file_err(err, err_len, "expected 'key = value', got '%s'", s);
		return -EINVAL;
	}
	*eq = '\0';
	strip_inline_comment(eq + 1);
	return ms_config_set(*applies ? cfg : scratch, trim(s), trim(eq + 1), err, err_len);
}

int ms_config_parse(struct ms_config *cfg, const char *text, size_t len, const char *ifname,
		    char *err, size_t err_len)
{
	struct ms_config *work = NULL, *scratch = NULL;
	char line[MS_LINE_MAX];
	bool applies = true;
	unsigned int line_no = 0;
	char line_err[MS_CONFIG_ERR_LEN] = "";
	size_t pos = 0;
	int ret = 0;

	if (len > MS_CONFIG_MAX_BYTES) {
		ms_file_err(err, err_len, "config is larger than %u bytes", MS_CONFIG_MAX_BYTES);
		return -EFBIG;
	}
	work = malloc(sizeof(*work));
	scratch = malloc(sizeof(*scratch));
	if (!work || !scratch) {
		ret = -ENOMEM;
		goto out;
	}
	*work = *cfg;
	ms_config_init(scratch);

	while (pos < len) {
		size_t n = 0;

		line_no++;
		while (pos + n < len && text[pos + n] != '\n')
			n++;
		if (n >= sizeof(line)) {
			ms_file_err(err, err_len, "line %u: longer than %u bytes", line_no,
				    MS_LINE_MAX - 1);
			ret = -EINVAL;
			goto out;
		}
		if (memchr(text + pos, '\0', n)) {
			ms_file_err(err, err_len, "line %u: contains a NUL byte", line_no);
			ret = -EINVAL;
			goto out;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + 1;
		ret = parse_line(work, scratch, line, ifname, &applies, line_err, sizeof(line_err));
		if (ret) {
			ms_file_err(err, err_len, "line %u: %s", line_no, line_err);
			if (ret == -ENOENT)
				ret = -EINVAL;
			goto out;
		}
	}
	*cfg = *work;
out:
	free(work);
	free(scratch);
	return ret;
}

int ms_config_load_file(struct ms_config *cfg, const char *path, const char *ifname, char *err,
			size_t err_len)
{
	char parse_err[MS_CONFIG_ERR_LEN];
	char *text = NULL;
	size_t len;
	int ret;

	ret = ms_file_read(path, MS_CONFIG_MAX_BYTES, &text, &len);
	if (ret == -EINVAL || ret == -EFBIG) {
		ms_file_err(err, err_len, "%s: not a regular file of at most %u bytes", path,
			    MS_CONFIG_MAX_BYTES);
		return -EINVAL;
	}
	if (ret) {
		ms_file_err(err, err_len, "%s: %s", path, strerror(-ret));
		return ret;
	}
	ret = ms_config_parse(cfg, text, len, ifname, parse_err, sizeof(parse_err));
	if (ret)
		ms_file_err(err, err_len, "%s: %s", path, parse_err);
	free(text);
	return ret;
}

int ms_config_load_default(struct ms_config *cfg, const char *path, const char *ifname, char *err,
			   size_t err_len)
{
	if (!path && access(MS_CONFIG_DEFAULT_PATH, F_OK) == 0)
		path = MS_CONFIG_DEFAULT_PATH;
	return path ? ms_config_load_file(cfg, path, ifname, err, err_len) : 0;
}

static bool port_in_migration_range(const struct ms_config *cfg, __u16 port)
{
	return port >= cfg->migration_port_min && port <= cfg->migration_port_max;
}

int ms_config_check_rates(const struct ms_config *cfg, char *err, size_t err_len)
{
	const struct ms_rate_plan plan = {
	    .link_bps = ms_mbps_to_bps(cfg->link_mbps),
	    .mgmt_reserve_bps = ms_mbps_to_bps(cfg->mgmt_reserve_mbps),
	    .migration_aggregate_bps = ms_mbps_to_bps(cfg->migration_aggregate_mbps),
	    .migration_min_bps = ms_mbps_to_bps(cfg->migration_min_mbps),
	    .migration_max_bps = ms_mbps_to_bps(cfg->migration_max_mbps),
	    .incoming_aggregate_bps = ms_mbps_to_bps(cfg->incoming_aggregate_mbps),
	};
	const char *why = ms_rate_plan_violation(&plan);

	if (!why)
		return 0;
	ms_file_err(err, err_len,
		    "%s (link_mbps %u, mgmt_reserve_mbps %u, migration_aggregate_mbps %u, "
		    "migration_max_mbps %u, migration_min_mbps %u, incoming_aggregate_mbps %u)",
		    why, cfg->link_mbps, cfg->mgmt_reserve_mbps, cfg->migration_aggregate_mbps,
		    cfg->migration_max_mbps, cfg->migration_min_mbps, cfg->incoming_aggregate_mbps);
	return -ERANGE;
}

int ms_config_resolve(struct ms_config *cfg, __u32 link_speed_mbps, char *err, size_t err_len)
{
	struct ms_config r = *cfg;
	int ret;

	if (!r.link_mbps) {
		if (!link_speed_mbps) {
			ms_file_err(err, err_len,
				    "link_mbps: auto, but the interface reports no link speed; set "
				    "link_mbps to the usable rate of the link in Mbit/s");
			return -EINVAL;
		}
		/*
		 * Shape slightly below the line rate so the queue forms here,
		 * where management has priority, and not in the NIC or switch.
		 */
		r.link_mbps = link_speed_mbps - link_speed_mbps / 20;
		if (!r.link_mbps)
			r.link_mbps = 1;
	}
	if (!r.mgmt_reserve_mbps)
		r.mgmt_reserve_mbps = r.link_mbps / 10 ? r.link_mbps / 10 : 1;
	if (!r.migration_aggregate_mbps) {
		__u32 left =
		    r.link_mbps > r.mgmt_reserve_mbps ? r.link_mbps - r.mgmt_reserve_mbps : 0;

		r.migration_aggregate_mbps = (__u32)((__u64)r.link_mbps * 7 / 10);
		if (r.migration_aggregate_mbps > left)
			r.migration_aggregate_mbps = left;
	}
	if (!r.migration_max_mbps)
		r.migration_max_mbps = r.migration_aggregate_mbps;
	if (!r.incoming_aggregate_mbps)
		r.incoming_aggregate_mbps = r.migration_aggregate_mbps;
	if (!r.migration_min_mbps) {
		r.migration_min_mbps = r.link_mbps / 50 ? r.link_mbps / 50 : 1;
		if (r.migration_min_mbps > r.migration_max_mbps)
			r.migration_min_mbps = r.migration_max_mbps;
	}

	ret = ms_config_check_rates(&r, err, err_len);
	if (ret)
		return ret;
	if (r.migration_ports_auto) {
		char path[128], why[MS_CONFIG_ERR_LEN];

		ret = ms_qemu_conf_migration_ports(&r.migration_port_min, &r.migration_port_max,
						   path, sizeof(path), why, sizeof(why));
		if (ret) {
			ms_file_err(err, err_len,
				    "migration_ports: auto, but libvirt's qemu.conf: %s", why);
			return ret;
		}
		r.migration_ports_auto = false;
		ms_debug("migration_ports: auto: %u-%u from %s", r.migration_port_min,
			 r.migration_port_max, path);
	}
	for (size_t i = 0; i < r.n_mgmt_ports; i++) {
		if (port_in_migration_range(&r, r.mgmt_ports[i])) {
			ms_file_err(err, err_len,
				    "mgmt_ports: port %u lies inside migration_ports (%u-%u)",
				    r.mgmt_ports[i], r.migration_port_min, r.migration_port_max);
			return -EINVAL;
		}
	}
	*cfg = r;
	return 0;
}

void ms_settings_init(struct ms_settings *s)
{
	memset(s, 0, sizeof(*s));
	ms_config_init(&s->requested);
	s->effective = s->requested;
}

int ms_settings_derive(struct ms_settings *next, const struct ms_config *requested,
		       __u32 link_speed_mbps, char *err, size_t err_len)
{
	struct ms_config effective = *requested;
	int ret = ms_config_resolve(&effective, link_speed_mbps, err, err_len);

	if (ret)
		return ret;
	/* next may be the settings requested belongs to (re-derived in place). */
	if (&next->requested != requested)
		next->requested = *requested;
	next->effective = effective;
	next->link_speed_mbps = link_speed_mbps;
	return 0;
}

int ms_settings_set(struct ms_settings *next, const struct ms_settings *cur, const char *key,
		    const char *value, __u32 link_speed_mbps, char *err, size_t err_len)
{
	struct ms_config *requested = malloc(sizeof(*requested));
	int ret;

	if (!requested)
		return -ENOMEM;
	*requested = cur->requested;
	ret = ms_config_set(requested, key, value, err, err_len);
	if (!ret)
		ret = ms_settings_derive(next, requested, link_speed_mbps, err, err_len);
	free(requested);
	return ret;
}

bool ms_settings_follows_speed(const struct ms_settings *s, __u32 link_speed_mbps)
{
	return !s->requested.link_mbps && link_speed_mbps && link_speed_mbps != s->link_speed_mbps;
}
