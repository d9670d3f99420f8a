// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * TCP connections from sock_diag (inet_diag); see sockdiag.h. The netlink
 * exchange, its timeout and the replacement of a socket left with an
 * unfinished dump are nlreq.c's.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/inet_diag.h>

#include "log.h"
#include "nlreq.h"
#include "sockdiag.h"

/* struct tcp_info up to tcpi_total_retrans, the last field read here. */
#define TCP_INFO_MIN_LEN (offsetof(struct tcp_info, tcpi_total_retrans) + sizeof(__u32))
/*
 * The kernel's tcpi_bytes_acked (Linux 4.1), which glibc's struct tcp_info
 * lacks: after tcpi_total_retrans come tcpi_pacing_rate and
 * tcpi_max_pacing_rate (8 bytes each), then it.
 */
#define TCP_INFO_BYTES_ACKED_OFF (TCP_INFO_MIN_LEN + 2 * sizeof(__u64))

/* A request: the header, inet_diag_req_v2 and the port bytecode attribute. */
#define MS_SOCKDIAG_REQ_SIZE 256

struct ms_sockdiag {
	struct ms_nlreq *req;
	char buf[MS_SOCKDIAG_REQ_SIZE] __attribute__((aligned(8)));
};

/* Remote-port filter of one dump; max == 0 means none. */
struct port_range {
	__u16 min;
	__u16 max;
};

struct dump_ctx {
	ms_tcp_conn_cb cb;
	void *ctx;
	int cb_ret; /* nonzero: the callback stopped the dump */
};

int ms_sockdiag_open(struct ms_sockdiag **out)
{
	struct ms_sockdiag *sd = calloc(1, sizeof(*sd));
	int ret;

	if (!sd)
		return -ENOMEM;
	ret = ms_nlreq_open(NETLINK_SOCK_DIAG, &sd->req);
	if (ret) {
		free(sd);
		return ret;
	}
	*out = sd;
	return 0;
}

void ms_sockdiag_close(struct ms_sockdiag *sd)
{
	if (!sd)
		return;
	ms_nlreq_close(sd->req);
	free(sd);
}

int ms_sockdiag_parse(const struct nlmsghdr *nlh, struct ms_tcp_conn *conn)
{
	const struct inet_diag_msg *m = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *attr;
	struct tcp_info ti;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*m)))
		return -EINVAL;
	memset(conn, 0, sizeof(*conn));
	switch (m->idiag_family) {
	case AF_INET:
		conn->key.saddr[10] = 0xff;
		conn->key.saddr[11] = 0xff;
		memcpy(&conn->key.saddr[12], &m->id.idiag_src[0], 4);
		conn->key.daddr[10] = 0xff;
		conn->key.daddr[11] = 0xff;
		memcpy(&conn->key.daddr[12], &m->id.idiag_dst[0], 4);
		break;
	case AF_INET6:
		/* IPv4 peers of a dual-stack socket come IPv4-mapped already. */
		memcpy(conn->key.saddr, m->id.idiag_src, 16);
		memcpy(conn->key.daddr, m->id.idiag_dst, 16);
		break;
	default:
		return -EINVAL;
	}
	/* A dumped socket is always seen from its own end: src is local. */
	conn->key.sport = ntohs(m->id.idiag_sport);
	conn->key.dport = ntohs(m->id.idiag_dport);
	conn->key.l4_proto = IPPROTO_TCP;
	conn->inode = m->idiag_inode;
	conn->state = m->idiag_state;

	mnl_attr_for_each(attr, nlh, sizeof(*m))
	{
		__u16 len = mnl_attr_get_payload_len(attr);

		if (mnl_attr_get_type(attr) != INET_DIAG_INFO)
			continue;
		/*
		 * struct tcp_info grows with kernels: take what both sides
		 * know, and trust the fields only if the kernel sent them all.
		 */
		if (len < TCP_INFO_MIN_LEN)
			continue;
		memset(&ti, 0, sizeof(ti));
		memcpy(&ti, mnl_attr_get_payload(attr), len < sizeof(ti) ? len : sizeof(ti));
		conn->info_valid = 1;
		conn->rtt_us = ti.tcpi_rtt;
		conn->rttvar_us = ti.tcpi_rttvar;
		conn->total_retrans = ti.tcpi_total_retrans;
		conn->unacked = ti.tcpi_unacked;
		conn->last_ack_recv_ms = ti.tcpi_last_ack_recv;
		if (len >= TCP_INFO_BYTES_ACKED_OFF + sizeof(conn->bytes_acked))
			memcpy(&conn->bytes_acked,
			       (const char *)mnl_attr_get_payload(attr) + TCP_INFO_BYTES_ACKED_OFF,
			       sizeof(conn->bytes_acked));
	}
	return 0;
}

static int on_diag_msg(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *d = data;
	struct ms_tcp_conn conn;

	if (nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY)
		return 0;
	if (ms_sockdiag_parse(nlh, &conn))
		return -EPROTO;
	d->cb_ret = d->cb(d->ctx, &conn);
	return d->cb_ret;
}

/*
 * The request of one family's dump. The port range becomes inet_diag
 * bytecode so the kernel skips other sockets before copying them out: a
 * hypervisor may hold many more connections than one migration's.
 */
static struct nlmsghdr *put_request(struct ms_sockdiag *sd, __u8 family, __u32 state_mask,
				    const struct port_range *ports)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(sd->buf);
	struct inet_diag_req_v2 *req;
	/*
	 * Each comparison is two ops: the test, then the port in .no. A
	 * failed test jumps past the end (remaining length + 4), which is
	 * how inet_diag says reject; yes = 8 goes to the next comparison.
	 */
	struct inet_diag_bc_op bc[4] = {
	    {.code = INET_DIAG_BC_D_GE, .yes = 8, .no = 16 + 4},
	    {.no = ports->min},
	    {.code = INET_DIAG_BC_D_LE, .yes = 8, .no = 8 + 4},
	    {.no = ports->max},
	};

	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	req->sdiag_family = family;
	req->sdiag_protocol = IPPROTO_TCP;
	req->idiag_states = state_mask;
	req->idiag_ext = 1U << (INET_DIAG_INFO - 1);
	if (ports->max)
		mnl_attr_put(nlh, INET_DIAG_REQ_BYTECODE, sizeof(bc), bc);
	return nlh;
}

/* One family's dump, once. -ENOBUFS means it may be retried. */
static int dump_family(struct ms_sockdiag *sd, __u8 family, __u32 state_mask,
		       const struct port_range *ports, struct dump_ctx *d)
{
	d->cb_ret = 0;
	return ms_nlreq_dump(sd->req, put_request(sd, family, state_mask, ports), on_diag_msg, d);
}

static int dump_tcp(struct ms_sockdiag *sd, __u32 state_mask, const struct port_range *ports,
		    ms_tcp_conn_cb cb, void *ctx)
{
	static const __u8 families[] = {AF_INET, AF_INET6};
	struct dump_ctx d = {.cb = cb, .ctx = ctx};
	bool retried = false;
	int ret = 0;

	for (size_t i = 0; i < sizeof(families); i++) {
		ret = dump_family(sd, families[i], state_mask, ports, &d);
		/* (A callback's own -ENOBUFS is its answer, not a loss.) */
		if (ret == -ENOBUFS && !d.cb_ret && !retried) {
			/* The kernel could not queue a part: that part is lost. */
			ms_warn("sock_diag: dump lost messages, restarting it");
			retried = true;
			ret = dump_family(sd, families[i], state_mask, ports, &d);
		}
		if (ret)
			break;
	}
	return ret;
}

int ms_sockdiag_dump_tcp(struct ms_sockdiag *sd, __u32 state_mask, ms_tcp_conn_cb cb, void *ctx)
{
	const struct port_range all = {0};

	if (!sd || !cb)
		return -EINVAL;
	return dump_tcp(sd, state_mask & MS_TCPF_ALL, &all, cb, ctx);
}

int ms_sockdiag_dump_tcp_dports(struct ms_sockdiag *sd, __u32 state_mask, __u16 dport_min,
				__u16 dport_max, ms_tcp_conn_cb cb, void *ctx)
{
	const struct port_range ports = {.min = dport_min, .max = dport_max};

	if (!sd || !cb || dport_min > dport_max || !dport_max)
		return -EINVAL;
	return dump_tcp(sd, state_mask & MS_TCPF_ALL, &ports, cb, ctx);
}
