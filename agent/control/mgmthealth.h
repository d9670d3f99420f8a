/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Management health: how the management connections are doing, read from
 * TCP_INFO once per cycle through a sock_diag dump.
 *
 * A management connection is an established TCP connection whose local or
 * remote port is in mgmt_ports, or whose remote address is in mgmt_cidrs and
 * neither port is a migration port (see ms_mgmt_is_mgmt()). Connections over
 * loopback never cross the shaped NIC and are left out, and so are those
 * whose route leaves through another interface (struct ms_mgmt_scope): their
 * RTT is another queue's.
 *
 * Per cycle the sample gives the connection count, the largest and the
 * median smoothed RTT, and a retransmit counter that only grows.
 *
 * Retransmits. tcpi_total_retrans is per connection and dies with it, so the
 * current sum over live connections falls whenever a connection closes: it is
 * no counter, and a gauge of it would not say whether anything is being
 * retransmitted now. The tracker keeps, per socket inode, the total_retrans
 * seen last cycle and adds the difference to a running total:
 *   - a connection first seen after the first cycle adds its whole
 *     total_retrans (it was born since the previous dump); connections that
 *     exist at the first cycle are the baseline and add nothing, so the
 *     counter starts near 0 instead of with the history of old sessions;
 *   - a dump is not a snapshot (sockdiag.h): a connection missing from one
 *     dump is kept for MS_MGMT_GRACE_CYCLES more cycles, so when it comes
 *     back its retransmits are not counted twice; duplicates within a dump
 *     are counted once;
 *   - an inode seen again with another 4-tuple or a smaller total is a new
 *     socket on a recycled inode: its whole total counts;
 *   - at most MS_MGMT_MAX_CONNS connections are tracked; beyond that a
 *     connection still counts in the RTT but not in the retransmits
 *     (sample.untracked says how many), so the counter may run low but is
 *     never inflated.
 * What a connection retransmits between its last dump and its close is lost:
 * at most one cycle's worth per closing connection.
 */
#ifndef MS_MGMTHEALTH_H
#define MS_MGMTHEALTH_H

#include <stdbool.h>
#include <linux/types.h>

#include "config.h"
#include "migshaper.h"
#include "sockdiag.h"

#define MS_MGMT_MAX_CONNS    1024U
#define MS_MGMT_GRACE_CYCLES 3U
/*
 * A connection's RTT counts only in the cycle (the default 1 s) after an
 * acknowledgement: an idle one keeps the smoothed RTT of its last
 * exchange, however old (libvirt's p2p connections, whose few RTT samples
 * include their busy peer's delayed ACKs, read 8.6 ms for minutes and cut
 * the aggregate under healthy migrations). A connection acknowledged only
 * by a keep-alive every few seconds is then in one sample of several, never
 * in the two in a row that a cut needs.
 */
#define MS_MGMT_RTT_FRESH_MS 1000U

struct ms_mgmt_sample {
	/* Management connections with TCP_INFO in this cycle's dump, fresh or not. */
	__u32 n_conns;
	/*
	 * Smoothed RTTs (tcpi_rtt) over those connections acknowledged in the
	 * last MS_MGMT_RTT_FRESH_MS; 0 when there is none.
	 * The median is what the management queue costs everyone (egress delay
	 * is shared), unmoved by one distant peer; the max is the worst one. An
	 * idle connection keeps the RTT of its last acknowledged data.
	 */
	__u32 rtt_us_max;
	__u32 rtt_us_median;
	/* Retransmitted segments since the tracker started; never decreases. */
	__u64 retrans_total;
	/* Connections of this cycle beyond the table (not in retrans_total). */
	__u32 untracked;
	/* Management connections left out: they leave through another interface. */
	__u32 elsewhere;
};

struct ms_route;

/* Which connections cross the shaped interface; route NULL: every one. */
struct ms_mgmt_scope {
	struct ms_route *route;
	int ifindex;
};

/* The caller's running state: per-connection retransmit totals. */
struct ms_mgmt_tracker;

int ms_mgmt_tracker_new(struct ms_mgmt_tracker **out);
void ms_mgmt_tracker_free(struct ms_mgmt_tracker *t);

/*
 * Connections on a management port that are a migration's (a tunnelled
 * migration's libvirtd connection carries the whole stream, and its RTT and
 * retransmits say nothing about management): exclude returns true for them
 * and ms_mgmt_health_read() leaves them out.
 */
typedef bool (*ms_mgmt_exclude_fn)(void *ctx, const struct ms_flow_key *key);
void ms_mgmt_tracker_set_exclude(struct ms_mgmt_tracker *t, ms_mgmt_exclude_fn exclude, void *ctx);

/* True if conn (egress orientation, IPv4-mapped) is a management connection. */
bool ms_mgmt_is_mgmt(const struct ms_config *cfg, const struct ms_flow_key *key);

/*
 * The pure aggregator, for ms_mgmt_health_read() and tests: begin a cycle,
 * add each management connection of the dump (duplicates allowed; ones
 * without TCP_INFO are ignored), end it into *out.
 */
void ms_mgmt_tracker_begin(struct ms_mgmt_tracker *t);
void ms_mgmt_tracker_add(struct ms_mgmt_tracker *t, const struct ms_tcp_conn *conn);
void ms_mgmt_tracker_end(struct ms_mgmt_tracker *t, struct ms_mgmt_sample *out);

/*
 * One cycle: dumps the established TCP connections, feeds the management
 * ones that leave through scope's interface to t and fills *out. 0, or the dump's -errno; *out is
 * then left as it was (the tracker stays consistent: connections not seen age as if absent).
 */
int ms_mgmt_health_read(struct ms_sockdiag *sd, const struct ms_mgmt_scope *scope,
			const struct ms_config *cfg, struct ms_mgmt_tracker *t,
			struct ms_mgmt_sample *out);

#endif /* MS_MGMTHEALTH_H */
