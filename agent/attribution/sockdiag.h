/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Flow attribution: which TCP connections belong to a process (the QEMU of a
 * migrating domain), found by matching the socket inodes of its open files
 * against a sock_diag (inet_diag) dump, over libmnl.
 *
 * A dump is not a snapshot. The kernel walks its socket tables in pieces,
 * unlocking in between, so a socket may be missed or reported twice when
 * others come and go meanwhile, and a dump that lost messages (ENOBUFS) is
 * restarted once. Callers key what they keep by inode, as
 * ms_sockdiag_conns_of_pid() does.
 */
#ifndef MS_SOCKDIAG_H
#define MS_SOCKDIAG_H

#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>

#include "migshaper.h"

/* A TCP state mask bit: MS_TCPF(TCP_ESTABLISHED), states from <netinet/tcp.h>. */
#define MS_TCPF(state) (1U << (state))
#define MS_TCPF_ALL    0xfffU

/* At most this many socket inodes per process, and so connections per call. */
#define MS_SOCKDIAG_MAX 4096U

struct ms_sockdiag; /* owns one NETLINK_SOCK_DIAG socket */

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
	__u32 unacked; /* segments in flight, not yet acknowledged */
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
 * The socket inodes among the open files of process pid (all its threads
 * share them), sorted ascending, without duplicates; *inodes is NULL when *n
 * is 0, else the caller frees it. Files closed during the scan are skipped.
 * -ESRCH if there is no such process (or it exits during the scan), -E2BIG
 * beyond MS_SOCKDIAG_MAX socket descriptors (dup()s count), -EACCES without
 * the right to look.
 */
int ms_proc_socket_inodes(pid_t pid, __u32 **inodes, size_t *n);

/*
 * The established TCP connections of process pid (through any of its files,
 * including sockets it shares with other processes), at most one per socket,
 * in no particular order. With port_max != 0 only those whose remote port
 * lies in [port_min, port_max]; port_min = port_max = 0 means all. *conns is
 * NULL when *n is 0, else the caller frees it. Errors as
 * ms_proc_socket_inodes() and ms_sockdiag_dump_tcp(); -EINVAL for a bad range.
 *
 * A pid names a process only while it lives: the caller must know the pid is
 * still the QEMU it means (e.g. from libvirt's events) to trust the answer.
 */
int ms_sockdiag_conns_of_pid(struct ms_sockdiag *sd, pid_t pid, __u16 port_min, __u16 port_max,
			     struct ms_tcp_conn **conns, size_t *n);

/* Exposed for tests. */

/*
 * Decodes one SOCK_DIAG_BY_FAMILY answer (inet_diag_msg plus attributes).
 * Returns 0, or -EINVAL for a message too short or of a family other than
 * AF_INET/AF_INET6.
 */
struct nlmsghdr;
int ms_sockdiag_parse(const struct nlmsghdr *nlh, struct ms_tcp_conn *conn);

/* Parses a /proc/<pid>/fd link target "socket:[N]"; -EINVAL for anything else. */
int ms_sockdiag_parse_link(const char *target, __u32 *inode);

#endif /* MS_SOCKDIAG_H */
