// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Attribution, the coordinator's second half (attribute.h): QEMU's
 * connections, found by sock_diag and /proc, put in their migration's class
 * in the BPF flow map; a tunnelled migration's libvirtd connection; who owns
 * each outgoing migration; evicted and unattributed flows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>

#include "attribute.h"
#include "config.h"
#include "coord_state.h"
#include "loader.h"
#include "log.h"
#include "qemuconf.h"
#include "qemupid.h"
#include "sockdiag.h"
#include "virt.h"

/* Attribution dumps at least this often while migrations run (ms_attrib_all()). */
#define MS_ATTRIB_BACKSTOP_CYCLES 10
/* libvirtd's ports: a tunnelled migration's stream rides in a connection to one of them. */
#define MS_LIBVIRTD_TCP_PORT 16509
#define MS_LIBVIRTD_TLS_PORT 16514

/* The connections that may be migration streams, from one dump per cycle. */
struct conn_set {
	struct ms_tcp_conn *conns;
	size_t n;
	size_t cap;
	__u16 port_min;
	__u16 port_max;
};

static int collect_conn(void *ctx, const struct ms_tcp_conn *conn)
{
	struct conn_set *set = ctx;

	if (conn->key.dport < set->port_min || conn->key.dport > set->port_max)
		return 0;
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 64;
		struct ms_tcp_conn *grown;

		if (cap > MS_SOCKDIAG_MAX)
			return -E2BIG;
		grown = realloc(set->conns, cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		set->conns = grown;
		set->cap = cap;
	}
	set->conns[set->n++] = *conn;
	return 0;
}

static int cmp_inode(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

bool ms_attrib_flow_attributed(const struct ms_coord *c, const struct ms_flow_key *key)
{
	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++)
		if (c->table.entries[i].used && ms_mig_has_flow(&c->table.entries[i], key))
			return true;
	return false;
}

/*
 * Puts the connections of set that m's QEMU owns and that leave through the
 * shaped interface into m's class; *here and *elsewhere say whether it has
 * connections through that interface and through another.
 */
static void attribute_flows(struct ms_coord *c, struct ms_migration *m, const struct conn_set *set,
			    bool *here, bool *elsewhere)
{
	struct ms_flow_val val = {.class_minor = m->minor, .migration_id = m->id};
	char flow[MS_FLOW_KEY_STRLEN], cls[32];
	__u32 *inodes = NULL;
	size_t n_inodes = 0;
	int ret;

	/*
	 * Its QEMU exited: the migration is over (ms_coord_qemu_exited()), and another
	 * QEMU of the domain (migrated back) is another migration's.
	 */
	if (ms_coord_qemu_exited(m))
		return;
	ret = m->qemu_pid ? 0 : ms_qemu_pid_find(m->uuid, &m->qemu_pid);
	if (ret == -ESRCH) {
		m->qemu_pid = 0;
		ms_debug("%s: no QEMU process found in this network namespace", m->name);
		return;
	}
	if (!ret)
		ret = ms_proc_socket_inodes(m->qemu_pid, &inodes, &n_inodes);
	if (ret) {
		/* -ESRCH: it exited meanwhile; its pid stays, for ms_coord_qemu_exited(). */
		if (ret != -ESRCH) {
			c->errors[MS_METRICS_ERR_ATTRIBUTION]++;
			if (!m->unattributed_warned)
				ms_warn("%s: cannot see its QEMU's sockets in /proc: %s%s", m->name,
					strerror(-ret),
					ret == -EACCES || ret == -EPERM
					    ? "; QEMU runs as another user: the agent needs "
					      "CAP_SYS_PTRACE (and CAP_DAC_READ_SEARCH)"
					    : "");
			m->unattributed_warned = true;
		}
		return;
	}
	ms_coord_class_name(m, cls, sizeof(cls));
	for (size_t i = 0; i < set->n; i++) {
		const struct ms_flow_key *key = &set->conns[i].key;

		if (!bsearch(&set->conns[i].inode, inodes, n_inodes, sizeof(*inodes), cmp_inode) ||
		    ms_mig_has_flow(m, key))
			continue;
		/* Its packets never reach our classifier: nothing to attribute. */
		if (!ms_coord_leaves_here(c, key)) {
			*elsewhere = true;
			continue;
		}
		*here = true;
		/* Room first: a map entry the migration cannot record would outlive it. */
		if (m->n_flows == MS_MAX_FLOWS_PER_MIGRATION) {
			c->limit_hits[MS_METRICS_LIMIT_MIGRATION_FLOWS]++;
			if (!m->flows_full_logged)
				ms_warn(
				    "%s: more than %u connections; the others stay unattributed",
				    m->name, MS_MAX_FLOWS_PER_MIGRATION);
			m->flows_full_logged = true;
			continue;
		}
		ret = ms_dataplane_flow_add(c->deps.dp, key, &val);
		if (!ret)
			ret = ms_mig_flow_add(m, key);
		if (ms_flow_key_format(key, flow, sizeof(flow)))
			snprintf(flow, sizeof(flow), "?");
		if (ret) {
			c->errors[MS_METRICS_ERR_BPF]++;
			ms_warn("%s: attributing flow %s: %s", m->name, flow, strerror(-ret));
		} else {
			ms_info("%s: flow %s in class %s", m->name, flow, cls);
		}
	}
	free(inodes);
}

/*
 * Decides an undecided migration's owner: this agent if its stream (what:
 * "migration stream", "tunnel") leaves through the shaped interface, else
 * the other interface's agent, and what this agent put in place goes.
 */
static void settle_owner(struct ms_coord *c, struct ms_migration *m, bool here, const char *what)
{
	if (here) {
		*ms_coord_owner(c, m) = OWNER_US;
		ms_info("%s: its %s leaves through the shaped interface: controlled here", m->name,
			what);
		return;
	}
	*ms_coord_owner(c, m) = OWNER_OTHER;
	ms_info("%s: its %s leaves through another interface: left to that interface's agent "
		"(no class, speed or escalation here)",
		m->name, what);
	ms_coord_uninstall(c, m);
}

/*
 * Attributes m's connections, and decides whose an undecided migration is.
 * True when it was decided now: the allocation must be decided again.
 */
static bool attribute(struct ms_coord *c, struct ms_migration *m, const struct conn_set *set)
{
	bool here = false, elsewhere = false;
	enum mig_owner *o = ms_coord_owner(c, m);

	attribute_flows(c, m, set, &here, &elsewhere);
	if (*o != OWNER_UNDECIDED || (!here && !elsewhere))
		return false;
	settle_owner(c, m, here, "migration stream");
	return true;
}

/*
 * A tunnelled migration (VIR_MIGRATE_TUNNELLED, virsh migrate --p2p
 * --tunnelled) hands QEMU a pipe: the stream goes out in libvirtd's own
 * connection to the destination's libvirtd (16509, or 16514 with TLS), a
 * management port, and would ride in the management class, uncapped. The
 * job's flags (its status XML) say whether it is tunnelled. Which of
 * libvirtd's connections is the tunnel is ms_tunnel_choose()'s (tunnel.h):
 * the one the stream's bytes go through, among those no other migration
 * holds. Until the stream shows, the migration holds every such candidate:
 * libvirt may open the tunnel before the agent sees the job, so no order
 * of creation tells it from another migration's control connection (in
 * the lab a guess was wrong often enough to put megabytes of the stream in
 * management), and a control connection in a migration's class for a
 * moment costs nothing. Once the stream shows, the others are let go; a
 * non-tunnelled p2p migration's control connection stays management.
 */
static bool libvirtd_port(__u16 port)
{
	return port == MS_LIBVIRTD_TCP_PORT || port == MS_LIBVIRTD_TLS_PORT;
}

/* The index of m's flow key, or -1. */
static int flow_index(const struct ms_migration *m, const struct ms_flow_key *key)
{
	for (size_t i = 0; i < m->n_flows; i++)
		if (!memcmp(&m->flows[i], key, sizeof(*key)))
			return (int)i;
	return -1;
}

/*
 * Reads the job's flags until they are known; true if m is a tunnelled
 * migration. libvirt saves the outgoing job before its flags (flags='0x0'
 * at first, seen in the lab): no flags count as not known yet until the
 * migration moves data, which it does only after they are saved (a
 * migration with truly none, offline and not peer-to-peer, is no tunnel).
 */
static bool tunnelled(struct ms_coord *c, struct ms_migration *m)
{
	unsigned long flags = 0;
	int ret;

	if (m->tunnel_known)
		return m->tunnelled;
	ret = ms_libvirt_migration_flags(c->libvirtd_pid, m->name, &flags);
	if (ret) {
		if (ret != -ENOENT)
			ms_debug("%s: reading the job's flags: %s", m->name, strerror(-ret));
		return false;
	}
	if (!flags && !m->stats.mem_processed_bytes)
		return false;
	m->tunnel_known = true;
	m->tunnelled = flags & VIR_MIGRATE_TUNNELLED;
	if (m->tunnelled)
		ms_info("%s: tunnelled migration: its stream rides in libvirtd's connection to "
			"the destination",
			m->name);
	return m->tunnelled;
}

/*
 * Whose a tunnelled migration is follows from its tunnel's route, as
 * attribute() decides from QEMU's connections. True when decided now.
 */
static bool tunnel_owner(struct ms_coord *c, struct ms_migration *m, const struct ms_flow_key *key)
{
	if (*ms_coord_owner(c, m) != OWNER_UNDECIDED)
		return false;
	settle_owner(c, m, ms_coord_leaves_here(c, key), "tunnel");
	return true;
}

/* Puts libvirtd's connection key in m's class. */
static int tunnel_hold(struct ms_coord *c, struct ms_migration *m, const struct ms_flow_key *key)
{
	struct ms_flow_val val = {.class_minor = m->minor, .migration_id = m->id};
	int ret;

	if (m->n_flows == MS_MAX_FLOWS_PER_MIGRATION) {
		c->limit_hits[MS_METRICS_LIMIT_MIGRATION_FLOWS]++;
		return -ENOSPC;
	}
	ret = ms_dataplane_flow_add(c->deps.dp, key, &val);
	if (ret) {
		c->errors[MS_METRICS_ERR_BPF]++;
		return ret;
	}
	return ms_mig_flow_add(m, key);
}

/* Lets go of m's libvirtd connections but keep; returns how many. */
static int tunnel_let_go(struct ms_coord *c, struct ms_migration *m, const struct ms_flow_key *keep)
{
	int n = 0, ret;

	for (size_t i = 0; i < m->n_flows;) {
		if (!libvirtd_port(m->flows[i].dport) ||
		    !memcmp(&m->flows[i], keep, sizeof(*keep))) {
			i++;
			continue;
		}
		ret = ms_dataplane_flow_del(c->deps.dp, &m->flows[i]);
		if (ret && ret != -ENOENT) {
			c->errors[MS_METRICS_ERR_BPF]++;
			ms_warn("%s: letting go of a libvirtd connection: %s", m->name,
				strerror(-ret));
		}
		m->flows[i] = m->flows[--m->n_flows];
		n++;
	}
	return n;
}

/*
 * True when libvirtd runs (its pid in c->libvirtd_pid). Finding it again
 * walks /proc, so a cycle does it at most once, whatever the number of
 * migrations (with 64 migrations and no libvirtd, one walk each cost the
 * cycle 17 ms).
 */
static bool libvirtd_found(struct ms_coord *c)
{
	pid_t was = c->libvirtd_pid;

	/* Alive is not enough: pids are reused, and a forked child of libvirtd may exec QEMU. */
	if (was && ms_libvirt_daemon_is(was))
		return true;
	c->libvirtd_pid = 0;
	if (ms_libvirt_daemon_pid(&c->libvirtd_pid))
		return false;
	if (c->libvirtd_pid != was)
		ms_info("attribution: libvirt's daemon is pid %d", (int)c->libvirtd_pid);
	return true;
}

/*
 * True when m's owner was decided now: the allocation must be decided
 * again. libvirtd_found() was true this cycle.
 */
static bool attribute_tunnel(struct ms_coord *c, struct ms_migration *m)
{
	struct ms_tunnel_watch *w = &c->tunnel_watch[m - c->table.entries];
	struct ms_tunnel_hint hint = {.inode_floor = m->tunnel_inode_floor,
				      .processed_bytes = m->stats.mem_processed_bytes};
	char flow[MS_FLOW_KEY_STRLEN], cls[32];
	struct ms_tcp_conn *conns = NULL;
	bool decided = false, bulk;
	size_t n = 0, n_cands = 0;
	int ret, pick, let_go;

	if (!m->tunnel_floor_set) {
		ret = ms_qemu_tcp_conns(c->deps.sd, c->libvirtd_pid, MS_LIBVIRTD_TCP_PORT,
					MS_LIBVIRTD_TLS_PORT, &conns, &n);
		if (ret)
			return false;
		for (size_t i = 0; i < n; i++)
			if (conns[i].inode > m->tunnel_inode_floor)
				m->tunnel_inode_floor = conns[i].inode;
		m->tunnel_floor_set = true;
		free(conns);
		conns = NULL;
		n = 0;
	}
	if (!tunnelled(c, m) || w->confirmed)
		return false;
	ret = ms_qemu_tcp_conns(c->deps.sd, c->libvirtd_pid, MS_LIBVIRTD_TCP_PORT,
				MS_LIBVIRTD_TLS_PORT, &conns, &n);
	if (ret) {
		c->errors[MS_METRICS_ERR_ATTRIBUTION]++;
		ms_warn("%s: listing libvirtd's connections: %s", m->name, strerror(-ret));
		return false;
	}
	/* The candidates: what no other migration holds, m's own among them. */
	for (size_t i = 0; i < n; i++) {
		const struct ms_tcp_conn *k = &conns[i];
		bool own = flow_index(m, &k->key) >= 0;

		if (k->state != TCP_ESTABLISHED || !libvirtd_port(k->key.dport) ||
		    (!own && ms_attrib_flow_attributed(c, &k->key)))
			continue;
		if (own && !hint.current_inode)
			hint.current_inode = k->inode;
		conns[n_cands++] = *k;
	}
	pick = ms_tunnel_choose(w, conns, n_cands, &hint, &bulk);
	if (pick < 0)
		goto out;
	/* The likeliest candidate's route decides; its packets would never reach our classifier. */
	decided = tunnel_owner(c, m, &conns[pick].key);
	if (*ms_coord_owner(c, m) == OWNER_OTHER)
		goto out;
	ms_coord_class_name(m, cls, sizeof(cls));
	for (size_t i = 0; i < n_cands; i++) {
		if ((bulk && (int)i != pick) || flow_index(m, &conns[i].key) >= 0)
			continue;
		if (ms_flow_key_format(&conns[i].key, flow, sizeof(flow)))
			snprintf(flow, sizeof(flow), "?");
		ret = tunnel_hold(c, m, &conns[i].key);
		if (ret) {
			ms_warn("%s: attributing tunnel %s: %s", m->name, flow, strerror(-ret));
			goto out;
		}
		ms_info("%s: tunnel %s (libvirtd) in class %s%s", m->name, flow, cls,
			bulk ? "" : " (a candidate until its stream shows)");
	}
	if (!bulk)
		goto out;
	w->confirmed = true;
	let_go = tunnel_let_go(c, m, &conns[pick].key);
	if (ms_flow_key_format(&conns[pick].key, flow, sizeof(flow)))
		snprintf(flow, sizeof(flow), "?");
	ms_info("%s: its stream rides in tunnel %s (%d other candidate%s let go)", m->name, flow,
		let_go, let_go == 1 ? "" : "s");
out:
	free(conns);
	return decided;
}

/*
 * A migration that moves data with none of its connections attributed runs
 * in the unattributed class, capped by no allocation of its own: counted,
 * and warned about once with what is known of the cause.
 */
void ms_attrib_check_unattributed(struct ms_coord *c)
{
	__u32 n = 0;

	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++) {
		struct ms_migration *m = &c->table.entries[i];

		if (!m->used || m->dir != MS_MIG_OUTGOING || m->state != MS_MIG_ACTIVE ||
		    m->n_flows || (!m->stats.mem_processed_bytes && !m->stats.iteration) ||
		    m->in_switchover)
			continue;
		n++;
		if (m->unattributed_warned)
			continue;
		m->unattributed_warned = true;
		ms_warn("%s: migration moving data but none of its connections is attributed: it "
			"is not shaped as a migration (QEMU pid %d; see migshaper_errors_total"
			"{kind=\"attribution\"} and the log above)",
			m->name, (int)m->qemu_pid);
	}
	c->unattributed_migrations = n;
}

/*
 * Whether this cycle's attribution needs a dump: a flow was reported or
 * evicted, a running migration with its class has no flow yet (its
 * connection is coming) or no owner yet, or the backstop is due.
 */
static bool attribution_due(const struct ms_coord *c)
{
	if (c->attrib_due || c->cycles_since_dump + 1 >= MS_ATTRIB_BACKSTOP_CYCLES)
		return true;
	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++) {
		const struct ms_migration *m = &c->table.entries[i];

		if (m->used && m->dir == MS_MIG_OUTGOING && m->state == MS_MIG_ACTIVE &&
		    m->class_rate_bps && (!m->n_flows || c->owner[i] == OWNER_UNDECIDED))
			return true;
	}
	return false;
}

/*
 * One sock_diag dump serves every migration: a dump walks the kernel's
 * whole TCP hash table, so one per migration would cost O(migrations x
 * sockets). Even one is the cycle's main cost (~3 ms of kernel time on the
 * lab's 2-core machine however few sockets there are: the walk visits every
 * bucket), so it is made only when attribution_due(): a new connection of a
 * running migration announces itself, since the classifier reports an
 * unknown migration flow at its first packet and again every
 * report_interval_ms while it stays unattributed (ms_coord_on_flow_event()
 * marks the dump due). The backstop every MS_ATTRIB_BACKSTOP_CYCLES covers
 * a report lost to a full ring buffer. SYN_SENT counts: the 5-tuple is fixed
 * at the first packet. QEMU's sockets are only listed (from /proc) when some
 * candidate connection is not attributed yet.
 */
bool ms_attrib_all(struct ms_coord *c)
{
	const struct ms_config *cfg = c->deps.cfg;
	struct conn_set set = {.port_min = cfg->migration_port_min,
			       .port_max = cfg->migration_port_max};
	bool pending = false, decided = false;
	int ret, libvirtd = -1; /* -1: not looked for yet this cycle */

	if (!c->deps.sd || !c->deps.dp || !ms_mig_count(&c->table, MS_MIG_OUTGOING, MS_MIG_ACTIVE))
		return false;
	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++) {
		struct ms_migration *m = &c->table.entries[i];

		if (!m->used || m->dir != MS_MIG_OUTGOING || m->state != MS_MIG_ACTIVE ||
		    !m->class_rate_bps || c->owner[i] == OWNER_OTHER ||
		    (m->tunnel_known && !m->tunnelled))
			continue;
		if (libvirtd < 0)
			libvirtd = libvirtd_found(c);
		if (libvirtd)
			decided |= attribute_tunnel(c, m);
	}
	if (!attribution_due(c)) {
		c->cycles_since_dump++;
		return decided;
	}
	c->attrib_due = false;
	c->cycles_since_dump = 0;
	ret = ms_sockdiag_dump_tcp_dports(
	    c->deps.sd, MS_TCPF(TCP_ESTABLISHED) | MS_TCPF(TCP_SYN_SENT), cfg->migration_port_min,
	    cfg->migration_port_max, collect_conn, &set);
	if (ret) {
		c->errors[MS_METRICS_ERR_ATTRIBUTION]++;
		c->attrib_due = true;
		ms_warn("listing migration connections: %s", strerror(ret < 0 ? -ret : EIO));
		goto out;
	}
	/* Another interface's connections are never ours to attribute. */
	for (size_t i = 0; i < set.n && !pending; i++)
		pending = !ms_attrib_flow_attributed(c, &set.conns[i].key) &&
			  ms_coord_leaves_here(c, &set.conns[i].key);
	for (size_t i = 0; i < MS_MAX_MIGRATIONS && !pending; i++)
		pending = c->table.entries[i].used && c->owner[i] == OWNER_UNDECIDED && set.n;
	if (!pending)
		goto out;
	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++) {
		struct ms_migration *m = &c->table.entries[i];

		if (m->used && m->dir == MS_MIG_OUTGOING && m->state == MS_MIG_ACTIVE &&
		    m->class_rate_bps && c->owner[i] != OWNER_OTHER)
			decided |= attribute(c, m, &set);
	}
out:
	free(set.conns);
	return decided;
}

/*
 * The flow map is an LRU: under pressure the kernel evicts entries, and a
 * migration's flow falls back to the unattributed class. Noticed here, the
 * flow is forgotten so that the next attribution puts it back.
 */
void ms_attrib_check_evictions(struct ms_coord *c)
{
	if (!c->deps.dp)
		return;
	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++) {
		struct ms_migration *m = &c->table.entries[i];

		for (size_t f = 0; m->used && f < m->n_flows;) {
			char flow[MS_FLOW_KEY_STRLEN];

			if (ms_dataplane_flow_present(c->deps.dp, &m->flows[f]) != 0) {
				f++;
				continue;
			}
			ms_dataplane_flow_forget(c->deps.dp, &m->flows[f]);
			c->flows_evicted++;
			c->attrib_due = true;
			if (ms_flow_key_format(&m->flows[f], flow, sizeof(flow)))
				snprintf(flow, sizeof(flow), "?");
			ms_warn("%s: flow %s was evicted from the full flow map; attributing it "
				"again",
				m->name, flow);
			m->flows[f] = m->flows[--m->n_flows];
		}
	}
}
