// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Prometheus exposition of the agent's state, and /metrics on the agent's
 * HTTP server (http.c).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "metrics.h"
#include "units.h"

#define MS_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define MS_METRICS_INITIAL_BUF	16384

static const char *const action_names[MS_METRICS_ACTIONS] = {
    [MS_METRICS_ACTION_NONE] = "none",
    [MS_METRICS_ACTION_RAISE_DOWNTIME] = "raise_downtime",
    [MS_METRICS_ACTION_POSTCOPY] = "postcopy",
    [MS_METRICS_ACTION_SUSPEND] = "suspend",
    [MS_METRICS_ACTION_ABORT] = "abort",
};

static const char *const error_kind_names[MS_METRICS_ERR_KINDS] = {
    [MS_METRICS_ERR_LIBVIRT] = "libvirt",
    [MS_METRICS_ERR_NETLINK] = "netlink",
    [MS_METRICS_ERR_BPF] = "bpf",
    [MS_METRICS_ERR_ATTRIBUTION] = "attribution",
};

static const char *const limit_names[MS_METRICS_LIMITS] = {
    [MS_METRICS_LIMIT_MIGRATIONS] = "migrations",
    [MS_METRICS_LIMIT_MIGRATION_FLOWS] = "flows_per_migration",
    [MS_METRICS_LIMIT_KNOB_FILES] = "knob_files",
};

const char *ms_metrics_limit_name(enum ms_metrics_limit l)
{
	return (unsigned int)l < MS_METRICS_LIMITS ? limit_names[l] : NULL;
}

const char *ms_metrics_action_name(enum ms_metrics_action a)
{
	return (unsigned int)a < MS_METRICS_ACTIONS ? action_names[a] : NULL;
}

const char *ms_metrics_error_kind_name(enum ms_metrics_error_kind k)
{
	return (unsigned int)k < MS_METRICS_ERR_KINDS ? error_kind_names[k] : NULL;
}

/* --- rendering ------------------------------------------------------------ */

/* A growable output buffer; the first failure sticks, so callers check once. */
struct mbuf {
	char *p;
	size_t len, cap;
	int err;
};

static int mbuf_reserve(struct mbuf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : MS_METRICS_INITIAL_BUF;
	char *p;

	if (b->err)
		return b->err;
	if (b->len + more + 1 <= b->cap)
		return 0;
	while (cap < b->len + more + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->err = -ENOMEM;
		return b->err;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

static void mbuf_put(struct mbuf *b, const char *s, size_t n)
{
	if (mbuf_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void mbuf_puts(struct mbuf *b, const char *s)
{
	mbuf_put(b, s, strlen(s));
}

/* Decimal digits by hand: vsnprintf was a third of the render time. */
static void mbuf_u64(struct mbuf *b, __u64 v)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	mbuf_put(b, tmp + i, sizeof(tmp) - i);
}

/*
 * Length of the well-formed UTF-8 sequence at s (1-4), or 0 if the bytes are
 * not one (overlong forms, surrogates and code points past U+10FFFF included:
 * Prometheus rejects those label values).
 */
static size_t utf8_seq_len(const unsigned char *s)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;

		if (s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80)
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;

		if (s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		return 4;
	}
	return 0;
}

/*
 * A label value as the exposition format wants it: backslash, double quote
 * and line feed escaped. Domain names are arbitrary bytes; a byte that is not
 * part of valid UTF-8 becomes U+FFFD, or Prometheus would drop the scrape.
 */
static void mbuf_label_value(struct mbuf *b, const char *v)
{
	const unsigned char *s = (const unsigned char *)v;

	while (*s) {
		size_t run = 0, n;

		/* Copy runs of plain bytes at once; this is the common case. */
		while (s[run] >= 0x20 && s[run] < 0x80 && s[run] != '\\' && s[run] != '"')
			run++;
		if (run) {
			mbuf_put(b, (const char *)s, run);
			s += run;
			continue;
		}
		if (!*s)
			break;
		switch (*s) {
		case '\\':
			mbuf_put(b, "\\\\", 2);
			s++;
			continue;
		case '"':
			mbuf_put(b, "\\\"", 2);
			s++;
			continue;
		case '\n':
			mbuf_put(b, "\\n", 2);
			s++;
			continue;
		}
		n = utf8_seq_len(s);
		if (n) {
			mbuf_put(b, (const char *)s, n);
			s += n;
		} else {
			mbuf_put(b, "\xef\xbf\xbd", 3);
			s++;
		}
	}
}

static void mbuf_double(struct mbuf *b, double v)
{
	char tmp[32];

	if (isnan(v)) {
		mbuf_puts(b, "NaN");
		return;
	}
	if (isinf(v)) {
		mbuf_puts(b, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	/* Most values are whole numbers of bytes; exact below 2^53. */
	if (v >= 0 && v < 9007199254740992.0 && v == (double)(__u64)v) {
		mbuf_u64(b, (__u64)v);
		return;
	}
	/* The shortest form that reads back as the same double. */
	snprintf(tmp, sizeof(tmp), "%.15g", v);
	if (strtod(tmp, NULL) != v)
		snprintf(tmp, sizeof(tmp), "%.17g", v);
	mbuf_puts(b, tmp);
}

/* One metric family: HELP and TYPE are written before its first sample only. */
struct family {
	const char *name, *type, *help;
	bool started;
};

struct label {
	const char *name, *value; /* value NULL: label left out */
};

/* name="value" pairs, comma separated, without braces. */
static void mbuf_labels(struct mbuf *b, const struct label *labels, size_t n, bool first)
{
	for (size_t i = 0; i < n; i++) {
		if (!labels[i].value)
			continue;
		if (!first)
			mbuf_put(b, ",", 1);
		mbuf_puts(b, labels[i].name);
		mbuf_put(b, "=\"", 2);
		mbuf_label_value(b, labels[i].value);
		mbuf_put(b, "\"", 1);
		first = false;
	}
}

/*
 * The escaped labels of every class or migration, rendered once and copied
 * into each family's sample: escaping byte by byte per sample was most of
 * the cost of a render.
 */
struct labelsets {
	struct mbuf text;
	size_t *off; /* n + 1 offsets into text.p (which may move while it grows) */
};

static int labelsets_init(struct labelsets *ls, size_t n)
{
	memset(ls, 0, sizeof(*ls));
	ls->off = calloc(n + 1, sizeof(*ls->off));
	return ls->off ? 0 : -ENOMEM;
}

static void labelsets_add(struct labelsets *ls, size_t i, const struct label *labels, size_t n)
{
	ls->off[i] = ls->text.len;
	mbuf_labels(&ls->text, labels, n, true);
	ls->off[i + 1] = ls->text.len;
}

/* Folds the first error of the label sets into b's, then frees them. */
static void labelsets_free(struct labelsets *ls, struct mbuf *b)
{
	if (ls->text.err && !b->err)
		b->err = ls->text.err;
	free(ls->text.p);
	free(ls->off);
}

/*
 * Writes HELP and TYPE if f has no sample yet, then the sample's name and
 * labels: set i of ls (if ls) followed by labels.
 */
static void sample_start(struct mbuf *b, struct family *f, const struct labelsets *ls, size_t i,
			 const struct label *labels, size_t n)
{
	size_t set_len = ls ? ls->off[i + 1] - ls->off[i] : 0;
	bool any = set_len > 0;

	if (!f->started) {
		mbuf_puts(b, "# HELP ");
		mbuf_puts(b, f->name);
		mbuf_put(b, " ", 1);
		mbuf_puts(b, f->help);
		mbuf_puts(b, "\n# TYPE ");
		mbuf_puts(b, f->name);
		mbuf_put(b, " ", 1);
		mbuf_puts(b, f->type);
		mbuf_put(b, "\n", 1);
		f->started = true;
	}
	mbuf_puts(b, f->name);
	for (size_t k = 0; k < n && !any; k++)
		any = labels[k].value != NULL;
	if (!any) {
		mbuf_put(b, " ", 1);
		return;
	}
	mbuf_put(b, "{", 1);
	if (set_len && !ls->text.err)
		mbuf_put(b, ls->text.p + ls->off[i], set_len);
	mbuf_labels(b, labels, n, set_len == 0);
	mbuf_put(b, "} ", 2);
}

static void sample_u64(struct mbuf *b, struct family *f, const struct labelsets *ls, size_t i,
		       const struct label *labels, size_t n, __u64 v)
{
	sample_start(b, f, ls, i, labels, n);
	mbuf_u64(b, v);
	mbuf_put(b, "\n", 1);
}

static void sample_double(struct mbuf *b, struct family *f, const struct labelsets *ls, size_t i,
			  const struct label *labels, size_t n, double v)
{
	sample_start(b, f, ls, i, labels, n);
	mbuf_double(b, v);
	mbuf_put(b, "\n", 1);
}

#define NLABELS(a) (sizeof(a) / sizeof((a)[0]))

/* Which field of a class a per-class family shows. */
enum class_field {
	CF_BYTES,
	CF_PACKETS,
	CF_DROPS,
	CF_OVERLIMITS,
	CF_BACKLOG,
	CF_BPF_BYTES,
	CF_BPF_PACKETS,
};

static void render_classes(struct mbuf *b, const struct ms_metrics_snapshot *s)
{
	static const struct {
		const char *name, *type, *help;
		enum class_field field;
	} defs[] = {
	    {"migshaper_class_bytes_total", "counter",
	     "Bytes sent by the HTB class (tc statistics).", CF_BYTES},
	    {"migshaper_class_packets_total", "counter",
	     "Packets sent by the HTB class (tc statistics).", CF_PACKETS},
	    {"migshaper_class_drops_total", "counter",
	     "Packets the HTB class dropped (tc statistics).", CF_DROPS},
	    {"migshaper_class_overlimits_total", "counter",
	     "Times the HTB class was over its limit (tc statistics).", CF_OVERLIMITS},
	    {"migshaper_class_backlog_bytes", "gauge",
	     "Bytes queued in the HTB class (tc statistics).", CF_BACKLOG},
	    {"migshaper_classifier_bytes_total", "counter",
	     "Bytes the eBPF classifier put into the class, except those of connections "
	     "tagged with a class that HTB counts (migshaper_class_bytes_total).",
	     CF_BPF_BYTES},
	    {"migshaper_classifier_packets_total", "counter",
	     "Packets the eBPF classifier put into the class, except those of connections "
	     "tagged with a class that HTB counts (migshaper_class_packets_total).",
	     CF_BPF_PACKETS},
	};

	struct labelsets ls;

	if (labelsets_init(&ls, s->n_classes)) {
		b->err = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < s->n_classes; i++) {
		struct label l[] = {{"iface", s->iface}, {"class", s->classes[i].name}};

		labelsets_add(&ls, i, l, NLABELS(l));
	}
	for (size_t d = 0; d < NLABELS(defs); d++) {
		struct family f = {defs[d].name, defs[d].type, defs[d].help, false};

		for (size_t i = 0; i < s->n_classes; i++) {
			const struct ms_metrics_class *c = &s->classes[i];
			bool bpf = defs[d].field >= CF_BPF_BYTES;
			__u64 v = 0;

			if (bpf ? !c->have_bpf : !c->have_tc)
				continue;
			switch (defs[d].field) {
			case CF_BYTES:
				v = c->bytes;
				break;
			case CF_PACKETS:
				v = c->packets;
				break;
			case CF_DROPS:
				v = c->drops;
				break;
			case CF_OVERLIMITS:
				v = c->overlimits;
				break;
			case CF_BACKLOG:
				v = c->backlog_bytes;
				break;
			case CF_BPF_BYTES:
				v = c->bpf_bytes;
				break;
			case CF_BPF_PACKETS:
				v = c->bpf_packets;
				break;
			}
			sample_u64(b, &f, &ls, i, NULL, 0, v);
		}
	}
	labelsets_free(&ls, b);
}

/* Which value of a migration a per-migration family shows. */
enum mig_field {
	MF_ALLOCATED,
	MF_SPEED,
	MF_OBSERVED,
	MF_REMAINING,
	MF_DIRTY,
	MF_ITERATION,
	MF_ETA,
	MF_STALLED,
	MF_THROTTLE,
	MF_DIVISOR,
};

/* false when the value is unknown and the sample must be left out. */
static bool mig_value(const struct ms_metrics_migration *m, enum mig_field field, double *v)
{
	switch (field) {
	case MF_ALLOCATED:
		*v = (double)m->allocated_bps / 8.0;
		return m->allocated_bps != 0;
	case MF_SPEED:
		*v = (double)m->libvirt_speed_mibs * (double)MS_BYTES_PER_MIB;
		return m->libvirt_speed_mibs != 0;
	case MF_OBSERVED:
		*v = (double)m->observed_bytes_per_s;
		return m->have_job_stats;
	case MF_REMAINING:
		*v = (double)m->remaining_bytes;
		return m->have_job_stats;
	case MF_DIRTY:
		*v = (double)m->dirty_bytes_per_s;
		return m->have_job_stats;
	case MF_ITERATION:
		*v = (double)m->iteration;
		return m->have_job_stats;
	case MF_ETA:
		*v = m->expected_completion_s;
		return m->expected_completion_s >= 0 && isfinite(m->expected_completion_s);
	case MF_STALLED:
		*v = m->stalled ? 1 : 0;
		return true;
	case MF_THROTTLE:
		*v = (double)m->throttle_pct / 100.0;
		return m->auto_converge;
	case MF_DIVISOR:
		*v = (double)m->divisor;
		return m->divisor != 0;
	}
	return false;
}

static void render_migrations(struct mbuf *b, const struct ms_metrics_snapshot *s)
{
	static const struct {
		const char *name, *help;
		enum mig_field field;
	} defs[] = {
	    {"migshaper_migration_allocated_bytes_per_second",
	     "Rate of the migration's HTB class (wire bytes per second).", MF_ALLOCATED},
	    {"migshaper_migration_libvirt_speed_bytes_per_second",
	     "Migration speed set in libvirt (stream bytes per second).", MF_SPEED},
	    {"migshaper_migration_observed_bytes_per_second",
	     "Migration throughput reported by libvirt.", MF_OBSERVED},
	    {"migshaper_migration_remaining_bytes", "Memory left to transfer reported by libvirt.",
	     MF_REMAINING},
	    {"migshaper_migration_dirty_bytes_per_second",
	     "Guest memory dirty rate reported by libvirt.", MF_DIRTY},
	    {"migshaper_migration_iteration", "Memory iteration the migration is in.",
	     MF_ITERATION},
	    {"migshaper_migration_expected_completion_seconds",
	     "Expected time until the migration completes.", MF_ETA},
	    {"migshaper_migration_stalled",
	     "1 if the migration makes no progress toward completion.", MF_STALLED},
	    {"migshaper_migration_autoconverge_throttle_ratio",
	     "Share of the guest's CPU time QEMU's auto-converge takes away.", MF_THROTTLE},
	    {"migshaper_migration_divisor",
	     "What the fair share divides by: max(this host's migrations, the destination's).",
	     MF_DIVISOR},
	};
	static const char *const peer_states[] = {"unknown", "answered", "silent", "refused"};
	struct family info = {"migshaper_migration_info", "gauge",
			      "A migration this host takes part in, with its class and state.",
			      false};
	struct family actions = {"migshaper_migration_actions_total", "counter",
				 "Convergence actions taken on the migration.", false};
	struct family advised = {"migshaper_migration_advised_total", "counter",
				 "Convergence actions escalation = advise reported, not taken.",
				 false};
	struct family held = {"migshaper_migration_manager_held", "gauge",
			      "1 if the manager holds the parameter: the agent keeps within it.",
			      false};
	struct family peer = {"migshaper_migration_peer_state", "gauge",
			      "1 for what the destination's agent last said: answered, silent "
			      "(halving), refused (answer not believed), unknown (no agent).",
			      false};

	struct labelsets ls;

	if (labelsets_init(&ls, s->n_migrations)) {
		b->err = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < s->n_migrations; i++) {
		const struct ms_metrics_migration *m = &s->migrations[i];
		struct label l[] = {
		    {"iface", s->iface}, {"domain", m->domain}, {"direction", m->direction}};

		labelsets_add(&ls, i, l, NLABELS(l));
	}
	for (size_t i = 0; i < s->n_migrations; i++) {
		const struct ms_metrics_migration *m = &s->migrations[i];
		const char *cls = m->class_name[0] ? m->class_name : NULL;
		struct label l[] = {{"class", cls}, {"state", m->state}};

		if (m->state)
			sample_u64(b, &info, &ls, i, l, NLABELS(l), 1);
	}
	for (size_t d = 0; d < NLABELS(defs); d++) {
		struct family f = {defs[d].name, "gauge", defs[d].help, false};

		for (size_t i = 0; i < s->n_migrations; i++) {
			double v;

			if (mig_value(&s->migrations[i], defs[d].field, &v))
				sample_double(b, &f, &ls, i, NULL, 0, v);
		}
	}
	for (size_t i = 0; i < s->n_migrations; i++) {
		for (int a = 0; a < MS_METRICS_ACTIONS; a++) {
			struct label l[] = {{"action", action_names[a]}};

			sample_u64(b, &actions, &ls, i, l, NLABELS(l),
				   s->migrations[i].actions_total[a]);
		}
	}
	for (size_t i = 0; i < s->n_migrations; i++) {
		for (int a = 1; a < MS_METRICS_ACTIONS; a++) {
			struct label l[] = {{"action", action_names[a]}};

			sample_u64(b, &advised, &ls, i, l, NLABELS(l),
				   s->migrations[i].advised_total[a]);
		}
	}
	for (size_t i = 0; i < s->n_migrations; i++) {
		const struct ms_metrics_migration *m = &s->migrations[i];
		const struct {
			const char *param;
			bool on;
		} params[] = {{"speed", m->manager_speed},
			      {"downtime", m->manager_downtime},
			      {"escalation", m->manager_escalation}};

		for (size_t p = 0; p < NLABELS(params); p++) {
			struct label l[] = {{"param", params[p].param}};

			sample_u64(b, &held, &ls, i, l, NLABELS(l), params[p].on);
		}
	}
	for (size_t i = 0; i < s->n_migrations; i++) {
		const char *now = s->migrations[i].peer_state;

		for (size_t k = 0; now && k < NLABELS(peer_states); k++) {
			struct label l[] = {{"state", peer_states[k]}};

			sample_u64(b, &peer, &ls, i, l, NLABELS(l),
				   strcmp(now, peer_states[k]) == 0);
		}
	}
	labelsets_free(&ls, b);
}

static void render_host(struct mbuf *b, const struct ms_metrics_snapshot *s)
{
	struct label nic[] = {{"iface", s->iface}};
	struct family rtt = {"migshaper_mgmt_rtt_seconds", "gauge",
			     "Smoothed TCP round-trip time of management connections.", false};
	struct family retrans = {"migshaper_mgmt_retransmits_total", "counter",
				 "TCP retransmissions on management connections.", false};
	struct family agg = {"migshaper_effective_aggregate_bytes_per_second", "gauge",
			     "Rate all migrations may use together right now.", false};
	struct family link = {"migshaper_link_bytes_per_second", "gauge",
			      "Speed of the shaped link.", false};
	struct family unattr = {"migshaper_unattributed_flows_total", "counter",
				"Migration-port flows seen that no migration could be found for.",
				false};
	struct family unattr_migs = {
	    "migshaper_unattributed_migrations", "gauge",
	    "Outgoing migrations moving data with none of their connections attributed: not "
	    "shaped as migrations (see migshaper_errors_total{kind=\"attribution\"}).",
	    false};
	struct family evicted = {
	    "migshaper_flows_evicted_total", "counter",
	    "Migration flows the full flow map evicted; each is attributed again.", false};
	struct family unseen = {
	    "migshaper_migrations_unseen_total", "counter",
	    "Migrations libvirt reported ended that the agent never saw running (they began and "
	    "ended while libvirt did not answer it): they had no class of their own.",
	    false};
	struct family tree = {"migshaper_tree_in_place", "gauge",
			      "1 if the migshaper HTB tree is the root qdisc, 0 while another "
			      "tool's root is left in place.",
			      false};
	struct family reasserts = {"migshaper_root_reasserts_total", "counter",
				   "Times the tree was put back after another tool replaced or "
				   "deleted it.",
				   false};
	struct family limits = {"migshaper_limit_hits_total", "counter",
				"Entries a table limit refused (counted at each attempt).", false};

	if (s->have_mgmt_health) {
		sample_double(b, &rtt, NULL, 0, nic, NLABELS(nic), s->mgmt_rtt_seconds);
		sample_u64(b, &retrans, NULL, 0, nic, NLABELS(nic), s->mgmt_retransmits_total);
	}
	if (s->effective_aggregate_bps)
		sample_double(b, &agg, NULL, 0, nic, NLABELS(nic),
			      (double)s->effective_aggregate_bps / 8.0);
	if (s->link_bps)
		sample_double(b, &link, NULL, 0, nic, NLABELS(nic), (double)s->link_bps / 8.0);
	sample_u64(b, &unattr, NULL, 0, nic, NLABELS(nic), s->unattributed_flows_total);
	sample_u64(b, &unattr_migs, NULL, 0, nic, NLABELS(nic), s->unattributed_migrations);
	sample_u64(b, &evicted, NULL, 0, nic, NLABELS(nic), s->flows_evicted_total);
	sample_u64(b, &unseen, NULL, 0, nic, NLABELS(nic), s->migrations_unseen_total);
	sample_u64(b, &tree, NULL, 0, nic, NLABELS(nic), s->tree_in_place ? 1 : 0);
	sample_u64(b, &reasserts, NULL, 0, nic, NLABELS(nic), s->root_reasserts_total);
	for (int l = 0; l < MS_METRICS_LIMITS; l++) {
		struct label lim[] = {{"iface", s->iface}, {"limit", limit_names[l]}};

		sample_u64(b, &limits, NULL, 0, lim, NLABELS(lim), s->limit_hits_total[l]);
	}
}

static void render_agent(struct mbuf *b, const struct ms_metrics_snapshot *s)
{
	struct family conn = {"migshaper_libvirt_connected", "gauge",
			      "1 if the agent is connected to libvirt.", false};
	struct family timeouts = {"migshaper_libvirt_call_timeouts_total", "counter",
				  "libvirt calls the agent stopped waiting for (a hung libvirtd).",
				  false};
	struct family deferred = {"migshaper_libvirt_calls_deferred_total", "counter",
				  "libvirt calls put off to a later cycle: libvirtd answered so "
				  "slowly that the agent had waited on it long enough for a while.",
				  false};
	struct family reconn = {"migshaper_libvirt_reconnects_total", "counter",
				"Times the agent reconnected to libvirt.", false};
	struct family cycle = {"migshaper_cycle_duration_seconds", "gauge",
			       "Duration of the last coordination cycle.", false};
	struct family errors = {"migshaper_errors_total", "counter", "Errors by kind.", false};
	struct family knobs = {"migshaper_knob_writes_total", "counter",
			       "Writes to the control files by result.", false};
	struct family build = {"migshaper_build_info", "gauge",
			       "Always 1; the labels give the agent's version.", false};
	struct label accepted[] = {{"result", "accepted"}};
	struct label rejected[] = {{"result", "rejected"}};
	struct label version[] = {{"version", s->version}};

	sample_u64(b, &conn, NULL, 0, NULL, 0, s->libvirt_connected ? 1 : 0);
	sample_u64(b, &reconn, NULL, 0, NULL, 0, s->libvirt_reconnects_total);
	sample_u64(b, &timeouts, NULL, 0, NULL, 0, s->libvirt_call_timeouts_total);
	sample_u64(b, &deferred, NULL, 0, NULL, 0, s->libvirt_calls_deferred_total);
	if (s->last_cycle_seconds >= 0 && isfinite(s->last_cycle_seconds))
		sample_double(b, &cycle, NULL, 0, NULL, 0, s->last_cycle_seconds);
	for (int k = 0; k < MS_METRICS_ERR_KINDS; k++) {
		struct label l[] = {{"kind", error_kind_names[k]}};

		sample_u64(b, &errors, NULL, 0, l, NLABELS(l), s->errors_total[k]);
	}
	sample_u64(b, &knobs, NULL, 0, accepted, NLABELS(accepted), s->knob_writes_accepted_total);
	sample_u64(b, &knobs, NULL, 0, rejected, NLABELS(rejected), s->knob_writes_rejected_total);
	if (s->version)
		sample_u64(b, &build, NULL, 0, version, NLABELS(version), 1);
}

static void render_peer(struct mbuf *b, const struct ms_metrics_snapshot *s)
{
	static const char *const outcomes[] = {"answered", "silent", "refused", "absent"};
	struct family asked = {"migshaper_peer_requests_total", "counter",
			       "Questions to migrations' destinations, by how they ended.", false};
	struct family answers = {"migshaper_peer_answers_total", "counter",
				 "Peer answers given to sources, and refused over the rate limit.",
				 false};
	struct label answered[] = {{"result", "answered"}};
	struct label limited[] = {{"result", "limited"}};

	for (size_t i = 0; i < NLABELS(outcomes); i++) {
		struct label l[] = {{"outcome", outcomes[i]}};

		sample_u64(b, &asked, NULL, 0, l, NLABELS(l), s->peer_requests_total[i]);
	}
	sample_u64(b, &answers, NULL, 0, answered, NLABELS(answered), s->peer_answers_total);
	sample_u64(b, &answers, NULL, 0, limited, NLABELS(limited), s->peer_answers_limited_total);
}

static void render_http(struct mbuf *b, const struct ms_metrics_snapshot *s)
{
	struct family conns = {"migshaper_http_connections", "gauge",
			       "Connections open to the agent's HTTP server.", false};
	struct family shed = {"migshaper_http_connections_shed_total", "counter",
			      "Connections the HTTP server closed unserved, by reason.", false};
	struct family auth = {"migshaper_http_auth_failures_total", "counter",
			      "Requests the HTTP server refused for missing or wrong credentials.",
			      false};

	if (!s->have_http)
		return;
	sample_u64(b, &conns, NULL, 0, NULL, 0, s->http.connections);
	for (int r = 0; r < MS_HTTP_SHED_REASONS; r++) {
		struct label l[] = {{"reason", ms_http_shed_reason_name(r)}};

		sample_u64(b, &shed, NULL, 0, l, NLABELS(l), s->http.shed_total[r]);
	}
	sample_u64(b, &auth, NULL, 0, NULL, 0, s->http.auth_failures_total);
}

int ms_metrics_render(const struct ms_metrics_snapshot *s, char **text, size_t *len)
{
	struct mbuf b = {};

	if (!s || !s->iface || (s->n_classes && !s->classes) || (s->n_migrations && !s->migrations))
		return -EINVAL;
	/* Sized for a busy host up front so rendering rarely reallocates. */
	mbuf_reserve(&b, 1024 + 1024 * s->n_classes + 4096 * s->n_migrations);
	render_classes(&b, s);
	render_migrations(&b, s);
	render_host(&b, s);
	render_agent(&b, s);
	render_peer(&b, s);
	render_http(&b, s);
	if (b.err) {
		free(b.p);
		return b.err;
	}
	*text = b.p;
	*len = b.len;
	return 0;
}

/* --- HTTP server ---------------------------------------------------------- */

struct ms_metrics_server {
	struct ms_http_server *http;
	ms_metrics_snapshot_fn fn;
	void *ctx;
};

static int reply_metrics(void *ctx, struct ms_http_reply *reply)
{
	struct ms_metrics_server *srv = ctx;
	struct ms_metrics_snapshot snap = {};
	int err;

	err = srv->fn(srv->ctx, &snap);
	if (err)
		return err;
	/* The server's own health is part of the agent's. */
	snap.have_http = true;
	ms_http_server_stats(srv->http, &snap.http);
	err = ms_metrics_render(&snap, &reply->body, &reply->len);
	if (err)
		return err;
	reply->status = 200;
	reply->content_type = MS_METRICS_CONTENT_TYPE;
	return 0;
}

int ms_metrics_server_start(struct ms_loop *loop, const char *listen_addr, __u16 port,
			    const char *web_config, ms_metrics_snapshot_fn fn, void *ctx,
			    struct ms_metrics_server **out)
{
	struct ms_http_config cfg = {.name = "metrics",
				     .listen_addr =
					 listen_addr ? listen_addr : MS_METRICS_DEFAULT_LISTEN,
				     .port = port,
				     .web_config = web_config};
	struct ms_metrics_server *srv;
	struct ms_http_route route;
	int err;

	if (!loop || !fn || !out)
		return -EINVAL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->fn = fn;
	srv->ctx = ctx;
	route = (struct ms_http_route){.path = "/metrics", .fn = reply_metrics, .ctx = srv};
	err = ms_http_server_start(loop, &cfg, &route, 1, &srv->http);
	if (err) {
		free(srv);
		return err;
	}
	*out = srv;
	return 0;
}

__u16 ms_metrics_server_port(const struct ms_metrics_server *srv)
{
	return ms_http_server_port(srv->http);
}

void ms_metrics_server_stop(struct ms_metrics_server *srv)
{
	if (!srv)
		return;
	ms_http_server_stop(srv->http);
	free(srv);
}
