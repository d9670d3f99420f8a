/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The host's TCP connections, from sock_diag (inet_diag) dumps over the
 * netlink request layer (nlreq.h): 5-tuple, socket inode, state and the
 * kernel's TCP_INFO. Which of them a process owns is qemupid.h's business
 * (its open files name the socket inodes).
 *
 * A dump is not a snapshot. The kernel walks its socket tables in pieces,
 * unlocking in between, so a socket may be missed or reported twice when
 * others come and go meanwhile, and a dump that lost messages (ENOBUFS) is
 * restarted once. Callers key what they keep by inode, as
 * ms_qemu_tcp_conns() does.
 */
#ifndef MS_SOCKDIAG_H
#define MS_SOCKDIAG_H

#include <linux/types.h>

#include "migshaper.h"

/* A TCP state mask bit: MS_TCPF(TCP_ESTABLISHED), states from <netinet/tcp.h>. */
#define MS_TCPF(state) (1U << (state))
#define MS_TCPF_ALL    0xfffU

/* At most this many connections a caller collects at once (qemupid.h: sockets per process). */
#define MS_SOCKDIAG_MAX 4096U

struct ms_sockdiag; /* owns one NETLINK_SOCK_DIAG request socket */

struct ms_tcp_conn {
	/* Egress orientation: saddr/sport the local end, daddr/dport the remote. */
	struct ms_flow_key key;
	__u32 inode;
	__u8 state; /* TCP_ESTABLISHED, ... */
	/* 1 if the kernel sent TCP_INFO; without it the four fields below are 0. */
	__u8 info_valid;
	__u32 rtt_us;	 /* smoothed RTT */
	__u32 rttvar_us; /* its mean deviation */
	__u32 total_retrans;
	__u32 unacked;		/* segments in flight, not yet acknowledged */
	__u32 last_ack_recv_ms; /* since the last acknowledgement came in */
	/* Payload bytes the peer acknowledged (0 from a kernel without the field). */
	__u64 bytes_acked;
};

/* Returns 0 to go on; anything else stops the dump and is returned by it. */
typedef int (*ms_tcp_conn_cb)(void *ctx, const struct ms_tcp_conn *conn);

int ms_sockdiag_open(struct ms_sockdiag **out);
void ms_sockdiag_close(struct ms_sockdiag *sd);

/*
 * Dumps the TCP sockets (IPv4 and IPv6) in the states of state_mask
 * (MS_TCPF bits; the kernel filters, so ask only for what is needed) and
 * calls cb for each. Returns 0, cb's nonzero value if it stopped the dump, or
 * -errno: -ETIMEDOUT if the kernel stalls, -ENOBUFS if messages were lost
 * twice. See the top of this file for duplicates.
 */
int ms_sockdiag_dump_tcp(struct ms_sockdiag *sd, __u32 state_mask, ms_tcp_conn_cb cb, void *ctx);

/*
 * As ms_sockdiag_dump_tcp(), only the connections whose remote port lies in
 * [dport_min, dport_max] (the kernel filters: a hypervisor may hold many
 * more connections than one migration's). -EINVAL for an empty range.
 */
int ms_sockdiag_dump_tcp_dports(struct ms_sockdiag *sd, __u32 state_mask, __u16 dport_min,
				__u16 dport_max, ms_tcp_conn_cb cb, void *ctx);

/* Exposed for tests. */

/*
 * Decodes one SOCK_DIAG_BY_FAMILY answer (inet_diag_msg plus attributes).
 * Returns 0, or -EINVAL for a message too short or of a family other than
 * AF_INET/AF_INET6.
 */
struct nlmsghdr;
int ms_sockdiag_parse(const struct nlmsghdr *nlh, struct ms_tcp_conn *conn);

#endif /* MS_SOCKDIAG_H */
