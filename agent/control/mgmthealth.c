// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Management health: which connections are management (pure), the
 * per-inode retransmit tracker (pure) and the sock_diag glue. See
 * mgmthealth.h for the counting rules.
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#include "mgmthealth.h"
#include "route.h"

struct tracked_conn {
	__u32 inode;
	__u32 total_retrans;
	/* Cycle it was last seen in; equal to the tracker's gen: seen this cycle. */
	__u64 seen_gen;
	struct ms_flow_key key;
};

struct ms_mgmt_tracker {
	/* Sorted by inode, n entries. */
	struct tracked_conn conns[MS_MGMT_MAX_CONNS];
	__u32 n;
	__u64 gen;
	/* The first cycle sets the baseline: see mgmthealth.h. */
	bool primed;
	__u64 retrans_total;
	/* This cycle's RTTs (of tracked and untracked connections alike). */
	__u32 rtts[MS_MGMT_MAX_CONNS];
	__u32 n_rtts;
	__u32 n_seen; /* this cycle's connections, fresh or not */
	__u32 untracked;
	ms_mgmt_exclude_fn exclude;
	void *exclude_ctx;
};

int ms_mgmt_tracker_new(struct ms_mgmt_tracker **out)
{
	struct ms_mgmt_tracker *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	*out = t;
	return 0;
}

void ms_mgmt_tracker_free(struct ms_mgmt_tracker *t)
{
	free(t);
}

void ms_mgmt_tracker_set_exclude(struct ms_mgmt_tracker *t, ms_mgmt_exclude_fn exclude, void *ctx)
{
	t->exclude = exclude;
	t->exclude_ctx = ctx;
}

static bool port_is_mgmt(const struct ms_config *cfg, __u16 port)
{
	for (size_t i = 0; i < cfg->n_mgmt_ports; i++)
		if (cfg->mgmt_ports[i] == port)
			return true;
	return false;
}

static bool port_is_migration(const struct ms_config *cfg, __u16 port)
{
	return cfg->migration_port_max && port >= cfg->migration_port_min &&
	       port <= cfg->migration_port_max;
}

/* prefixlen counts bits of the IPv4-mapped 128-bit address (config.h). */
static bool cidr_contains(const struct ms_cidr_key *c, const __u8 *addr)
{
	__u32 full = c->prefixlen / 8, rest = c->prefixlen % 8;

	if (c->prefixlen > 128 || memcmp(c->addr, addr, full))
		return false;
	if (!rest)
		return true;
	return ((c->addr[full] ^ addr[full]) & (__u8)(0xff << (8 - rest))) == 0;
}

static bool is_loopback(const __u8 *a)
{
	static const __u8 v6_lo[16] = {[15] = 1};
	static const __u8 v4_mapped[12] = {[10] = 0xff, [11] = 0xff};

	return !memcmp(a, v6_lo, 16) || (!memcmp(a, v4_mapped, 12) && a[12] == 127);
}

bool ms_mgmt_is_mgmt(const struct ms_config *cfg, const struct ms_flow_key *key)
{
	/*
	 * Loopback and connections to the host itself never cross the shaped
	 * NIC; their RTT says nothing about its queue.
	 */
	if (is_loopback(key->daddr) || !memcmp(key->saddr, key->daddr, 16))
		return false;
	if (port_is_mgmt(cfg, key->sport) || port_is_mgmt(cfg, key->dport))
		return true;
	/*
	 * The classifier also sends migration-port flows to a manager's
	 * network into the mgmt class, but a bulk copy stream's RTT is its own
	 * queue's: it would read as management suffering whenever a migration
	 * runs. Only the remote address counts: the local one is the host's
	 * own, in the management network on most hosts.
	 */
	if (port_is_migration(cfg, key->sport) || port_is_migration(cfg, key->dport))
		return false;
	for (size_t i = 0; i < cfg->n_mgmt_cidrs; i++)
		if (cidr_contains(&cfg->mgmt_cidrs[i], key->daddr))
			return true;
	return false;
}

void ms_mgmt_tracker_begin(struct ms_mgmt_tracker *t)
{
	t->gen++;
	t->n_rtts = 0;
	t->n_seen = 0;
	t->untracked = 0;
}

/* Index of inode in t->conns if found, else where it would be inserted. */
static __u32 find(const struct ms_mgmt_tracker *t, __u32 inode, bool *found)
{
	__u32 lo = 0, hi = t->n;

	while (lo < hi) {
		__u32 mid = lo + (hi - lo) / 2;

		if (t->conns[mid].inode < inode)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < t->n && t->conns[lo].inode == inode;
	return lo;
}

void ms_mgmt_tracker_add(struct ms_mgmt_tracker *t, const struct ms_tcp_conn *conn)
{
	struct tracked_conn *tc;
	bool found;
	__u32 i;

	if (!conn->info_valid)
		return;
	i = find(t, conn->inode, &found);
	if (found) {
		tc = &t->conns[i];
		if (tc->seen_gen == t->gen)
			return; /* reported twice by this dump */
		if (!memcmp(&tc->key, &conn->key, sizeof(tc->key)) &&
		    conn->total_retrans >= tc->total_retrans)
			t->retrans_total += conn->total_retrans - tc->total_retrans;
		else
			t->retrans_total += conn->total_retrans; /* recycled inode */
	} else if (t->n < MS_MGMT_MAX_CONNS) {
		memmove(&t->conns[i + 1], &t->conns[i], (t->n - i) * sizeof(t->conns[0]));
		t->n++;
		tc = &t->conns[i];
		if (t->primed)
			t->retrans_total += conn->total_retrans;
	} else {
		/* Cannot tell it from last cycle's: count its RTT only. */
		t->untracked++;
		tc = NULL;
	}
	if (tc) {
		tc->inode = conn->inode;
		tc->total_retrans = conn->total_retrans;
		tc->seen_gen = t->gen;
		tc->key = conn->key;
	}
	t->n_seen++;
	if (t->n_rtts < MS_MGMT_MAX_CONNS && conn->last_ack_recv_ms <= MS_MGMT_RTT_FRESH_MS)
		t->rtts[t->n_rtts++] = conn->rtt_us;
}

static int cmp_u32(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

void ms_mgmt_tracker_end(struct ms_mgmt_tracker *t, struct ms_mgmt_sample *out)
{
	__u32 kept = 0;

	/* Forget connections absent for more than the grace; order is kept. */
	for (__u32 i = 0; i < t->n; i++) {
		if (t->gen - t->conns[i].seen_gen > MS_MGMT_GRACE_CYCLES)
			continue;
		if (kept != i)
			t->conns[kept] = t->conns[i];
		kept++;
	}
	t->n = kept;
	t->primed = true;

	memset(out, 0, sizeof(*out));
	out->n_conns = t->n_seen;
	out->retrans_total = t->retrans_total;
	out->untracked = t->untracked;
	if (!t->n_rtts)
		return;
	qsort(t->rtts, t->n_rtts, sizeof(t->rtts[0]), cmp_u32);
	out->rtt_us_max = t->rtts[t->n_rtts - 1];
	/* Lower median for an even count: a value some connection really had. */
	out->rtt_us_median = t->rtts[(t->n_rtts - 1) / 2];
}

struct read_ctx {
	const struct ms_config *cfg;
	const struct ms_mgmt_scope *scope;
	struct ms_mgmt_tracker *t;
	__u32 elsewhere;
};

/*
 * Whether the connection's packets leave through the shaped interface: a
 * connection that does not (a WAN ssh session on another NIC) queues
 * elsewhere, and its RTT says nothing about our queue. Without a route to
 * ask, every connection counts.
 */
static bool on_shaped_iface(const struct ms_mgmt_scope *scope, const struct ms_flow_key *key)
{
	int oif = 0;

	if (!scope || !scope->route || scope->ifindex <= 0)
		return true;
	if (ms_route_oif(scope->route, key->daddr, &oif))
		return false;
	return oif == scope->ifindex;
}

static int on_conn(void *ctx, const struct ms_tcp_conn *conn)
{
	struct read_ctx *rc = ctx;

	if (!ms_mgmt_is_mgmt(rc->cfg, &conn->key) ||
	    (rc->t->exclude && rc->t->exclude(rc->t->exclude_ctx, &conn->key)))
		return 0;
	if (!on_shaped_iface(rc->scope, &conn->key)) {
		rc->elsewhere++;
		return 0;
	}
	ms_mgmt_tracker_add(rc->t, conn);
	return 0;
}

int ms_mgmt_health_read(struct ms_sockdiag *sd, const struct ms_mgmt_scope *scope,
			const struct ms_config *cfg, struct ms_mgmt_tracker *t,
			struct ms_mgmt_sample *out)
{
	struct read_ctx rc = {.cfg = cfg, .scope = scope, .t = t};
	struct ms_mgmt_sample s;
	int ret;

	if (!sd || !cfg || !t || !out)
		return -EINVAL;
	ms_mgmt_tracker_begin(t);
	ret = ms_sockdiag_dump_tcp(sd, MS_TCPF(TCP_ESTABLISHED), on_conn, &rc);
	/* Ending keeps the table consistent even after a failed dump. */
	ms_mgmt_tracker_end(t, &s);
	if (ret)
		return ret < 0 ? ret : -EIO;
	s.elsewhere = rc.elsewhere;
	*out = s;
	return 0;
}
