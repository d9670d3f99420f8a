// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Prometheus exposition of the agent's state and the /metrics HTTP server
 * (libmicrohttpd driven by the agent's epoll loop, no threads).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <microhttpd.h>

#include "log.h"
#include "loop.h"
#include "metrics.h"

#define MS_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
/* Prometheus scrapes one at a time; a few more cover curl and a second server. */
#define MS_METRICS_MAX_CONNECTIONS 16
/* Seconds an idle connection is kept; also bounds a client that stops mid-request. */
#define MS_METRICS_CONN_TIMEOUT_S 10
#define MS_METRICS_INITIAL_BUF	  16384

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
	     "Bytes the eBPF classifier put into the class.", CF_BPF_BYTES},
	    {"migshaper_classifier_packets_total", "counter",
	     "Packets the eBPF classifier put into the class.", CF_BPF_PACKETS},
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
};

/* false when the value is unknown and the sample must be left out. */
static bool mig_value(const struct ms_metrics_migration *m, enum mig_field field, double *v)
{
	switch (field) {
	case MF_ALLOCATED:
		*v = (double)m->allocated_bps / 8.0;
		return m->allocated_bps != 0;
	case MF_SPEED:
		*v = (double)m->libvirt_speed_mibs * 1048576.0;
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
	};
	struct family info = {"migshaper_migration_info", "gauge",
			      "A migration this host takes part in, with its class and state.",
			      false};
	struct family actions = {"migshaper_migration_actions_total", "counter",
				 "Convergence actions taken on the migration.", false};

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
	struct family evicted = {"migshaper_flows_evicted_total", "counter",
				 "Migration flows the full flow map evicted; each is attributed again.",
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
	sample_u64(b, &evicted, NULL, 0, nic, NLABELS(nic), s->flows_evicted_total);
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
	struct ms_loop *loop;
	struct MHD_Daemon *mhd;
	int mhd_fd; /* MHD's epoll fd, owned by MHD */
	int timer_fd;
	bool mhd_fd_added, timer_fd_added;
	__u16 port;
	ms_metrics_snapshot_fn fn;
	void *ctx;
};

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	/* Mostly a client that went away: not worth a warning. */
	ms_info("metrics: %s", msg);
}

static enum MHD_Result reply_static(struct MHD_Connection *conn, unsigned int status,
				    const char *body, bool allow)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply_metrics(struct ms_metrics_server *srv, struct MHD_Connection *conn)
{
	struct ms_metrics_snapshot snap = {};
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *text = NULL;
	size_t len = 0;
	int err;

	err = srv->fn(srv->ctx, &snap);
	if (!err)
		err = ms_metrics_render(&snap, &text, &len);
	if (err) {
		ms_warn("metrics: cannot render a scrape: %s", strerror(-err));
		return reply_static(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot render metrics\n",
				    false);
	}
	resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, MS_METRICS_CONTENT_TYPE);
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	/* Any non-NULL pointer: marks a request whose headers were seen. */
	static const char headers_seen;
	struct ms_metrics_server *srv = cls;

	(void)version;
	(void)upload_data;
	/*
	 * Refusals go out on the first call, with the headers only: MHD then
	 * closes the connection instead of reading a body nobody needs.
	 */
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		if (strcmp(url, "/metrics") != 0)
			return reply_static(conn, MHD_HTTP_NOT_FOUND, "not found; try /metrics\n",
					    false);
		return reply_static(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
				    true);
	}
	/*
	 * A reply to a GET is queued only once the request is complete (the
	 * call with no upload data): one queued earlier makes MHD close the
	 * connection, and Prometheus keeps its scrape connection alive.
	 */
	if (!*req_cls) {
		*req_cls = (void *)&headers_seen;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0; /* a GET with a body: ignore the body */
		return MHD_YES;
	}
	if (strcmp(url, "/metrics") != 0)
		return reply_static(conn, MHD_HTTP_NOT_FOUND, "not found; try /metrics\n", false);
	return reply_metrics(srv, conn);
}

/*
 * MHD keeps connection timeouts and, with epoll, work it could not finish in
 * one MHD_run() (its epoll fd is then not readable again): it says when it
 * wants to run next, and the timerfd calls it then.
 */
static int arm_timer(struct ms_metrics_server *srv)
{
	struct itimerspec its = {};
	MHD_UNSIGNED_LONG_LONG ms;

	if (MHD_get_timeout(srv->mhd, &ms) == MHD_YES) {
		its.it_value.tv_sec = (time_t)(ms / 1000);
		its.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
		/* A zero it_value disarms; "now" is the smallest non-zero one. */
		if (!ms)
			its.it_value.tv_nsec = 1;
	}
	if (timerfd_settime(srv->timer_fd, 0, &its, NULL) < 0)
		return -errno;
	return 0;
}

static int run_mhd(struct ms_metrics_server *srv)
{
	int err;

	/* Errors are per connection (a client went away); MHD logs them. */
	MHD_run(srv->mhd);
	err = arm_timer(srv);
	if (err)
		ms_warn("metrics: cannot arm the timeout timer: %s", strerror(-err));
	/* A scrape problem must never stop the shaping loop. */
	return 0;
}

static int on_mhd_fd(void *ctx, uint32_t events)
{
	(void)events;
	return run_mhd(ctx);
}

static int on_timer(void *ctx, uint32_t events)
{
	struct ms_metrics_server *srv = ctx;
	uint64_t expirations;

	(void)events;
	if (read(srv->timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		ms_debug("metrics: timerfd read: %s", strerror(errno));
	return run_mhd(srv);
}

static int parse_listen(const char *addr, __u16 port, struct sockaddr_storage *ss, bool *v6)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*v6 = false;
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*v6 = true;
		return 0;
	}
	return -EINVAL;
}

int ms_metrics_server_start(struct ms_loop *loop, const char *listen_addr, __u16 port,
			    ms_metrics_snapshot_fn fn, void *ctx, struct ms_metrics_server **out)
{
	struct ms_metrics_server *srv = NULL;
	const union MHD_DaemonInfo *info;
	struct sockaddr_storage ss;
	unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	bool v6;
	int err;

	if (!loop || !fn || !out)
		return -EINVAL;
	if (!listen_addr)
		listen_addr = MS_METRICS_DEFAULT_LISTEN;
	err = parse_listen(listen_addr, port, &ss, &v6);
	if (err) {
		ms_err("metrics: listen address '%s' is not an IPv4 or IPv6 address", listen_addr);
		return err;
	}
	if (v6)
		flags |= MHD_USE_IPv6;
	/* "::" means every address, as it does for most daemons: IPv4 too. */
	if (v6 && IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr))
		flags |= MHD_USE_DUAL_STACK;

	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->loop = loop;
	srv->fn = fn;
	srv->ctx = ctx;
	srv->mhd_fd = -1;
	srv->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (srv->timer_fd < 0) {
		err = -errno;
		ms_err("metrics: timerfd_create: %s", strerror(-err));
		goto cleanup;
	}

	errno = 0;
	/*
	 * The logger goes first so that start-up errors reach our log too. No
	 * MHD_OPTION_LISTENING_ADDRESS_REUSE: that is SO_REUSEPORT, which would
	 * let a second agent share the port silently (MHD sets SO_REUSEADDR,
	 * enough for a quick restart).
	 */
	srv->mhd = MHD_start_daemon(
	    flags, port, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned int)MS_METRICS_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned int)MS_METRICS_CONN_TIMEOUT_S, MHD_OPTION_END);
	if (!srv->mhd) {
		err = errno ? -errno : -EIO;
		ms_err("metrics: cannot listen on %s port %u: %s", listen_addr, port,
		       strerror(-err));
		goto cleanup;
	}
	info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info) {
		err = -EIO;
		goto cleanup;
	}
	srv->mhd_fd = info->epoll_fd;
	info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : port;

	err = ms_loop_add(loop, srv->mhd_fd, EPOLLIN, on_mhd_fd, srv);
	if (err)
		goto cleanup;
	srv->mhd_fd_added = true;
	err = ms_loop_add(loop, srv->timer_fd, EPOLLIN, on_timer, srv);
	if (err)
		goto cleanup;
	srv->timer_fd_added = true;
	err = arm_timer(srv);
	if (err)
		goto cleanup;

	ms_info("metrics: serving http://%s%s%s:%u/metrics", v6 ? "[" : "", listen_addr,
		v6 ? "]" : "", srv->port);
	*out = srv;
	return 0;
cleanup:
	if (srv->mhd)
		ms_err("metrics: cannot start the server: %s", strerror(-err));
	ms_metrics_server_stop(srv);
	return err;
}

__u16 ms_metrics_server_port(const struct ms_metrics_server *srv)
{
	return srv->port;
}

void ms_metrics_server_stop(struct ms_metrics_server *srv)
{
	if (!srv)
		return;
	if (srv->mhd_fd_added)
		ms_loop_del(srv->loop, srv->mhd_fd);
	if (srv->timer_fd_added)
		ms_loop_del(srv->loop, srv->timer_fd);
	if (srv->mhd)
		MHD_stop_daemon(srv->mhd);
	if (srv->timer_fd >= 0)
		close(srv->timer_fd);
	free(srv);
}
