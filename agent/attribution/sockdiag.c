// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Flow attribution over sock_diag (inet_diag) with libmnl; see sockdiag.h.
 *
 * The kernel keeps the state of a dump on the netlink socket and runs one
 * dump per socket at a time: a dump we stop reading (callback stop, error,
 * timeout) would make the next request fail with EBUSY, and one that failed
 * with ENOBUFS never resumes. Draining costs a read of the rest of the table,
 * so such a socket is replaced instead, which costs two system calls.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/inet_diag.h>

#include "log.h"
#include "sockdiag.h"

/*
 * A dump of a few thousand sockets takes milliseconds; a kernel that has not
 * answered in this long has lost the dump, and the agent's loop must go on.
 */
#define MS_SOCKDIAG_TIMEOUT_MS 2000

/*
 * The kernel sizes dump messages to the reader's largest buffer, up to 32 KiB:
 * a buffer that size is never truncated and needs the fewest reads. libmnl
 * 1.0.5 names it MNL_SOCKET_DUMP_SIZE; Debian 12 has 1.0.4.
 */
#define MS_SOCKDIAG_BUF_SIZE 32768

/* struct tcp_info up to tcpi_total_retrans, the last field read here. */
#define TCP_INFO_MIN_LEN (offsetof(struct tcp_info, tcpi_total_retrans) + sizeof(__u32))

struct ms_sockdiag {
	struct mnl_socket *nl; /* NULL after a failed reopen */
	unsigned int portid;
	__u32 seq;
	/* Requests are built here too. */
	char buf[MS_SOCKDIAG_BUF_SIZE] __attribute__((aligned(8)));
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
	int err;    /* -errno: a message could not be decoded */
};

static int sd_connect(struct ms_sockdiag *sd)
{
	struct timeval tv = {
	    .tv_sec = MS_SOCKDIAG_TIMEOUT_MS / 1000,
	    .tv_usec = (MS_SOCKDIAG_TIMEOUT_MS % 1000) * 1000,
	};
	struct mnl_socket *nl;
	int ret;

	nl = mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC);
	if (!nl)
		return -errno;
	if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto err;
	}
	sd->nl = nl;
	sd->portid = mnl_socket_get_portid(nl);
	return 0;
err:
	mnl_socket_close(nl);
	return ret;
}

/* Drops a socket whose dump was left unfinished; see the top of this file. */
static int sd_reconnect(struct ms_sockdiag *sd)
{
	if (sd->nl)
		mnl_socket_close(sd->nl);
	sd->nl = NULL;
	return sd_connect(sd);
}

int ms_sockdiag_open(struct ms_sockdiag **out)
{
	struct ms_sockdiag *sd = calloc(1, sizeof(*sd));
	int ret;

	if (!sd)
		return -ENOMEM;
	ret = sd_connect(sd);
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
	if (sd->nl)
		mnl_socket_close(sd->nl);
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
	}
	return 0;
}

static int on_diag_msg(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *d = data;
	struct ms_tcp_conn conn;
	int ret;

	if (nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY)
		return MNL_CB_OK;
	ret = ms_sockdiag_parse(nlh, &conn);
	if (ret) {
		d->err = -EPROTO;
		return MNL_CB_ERROR;
	}
	ret = d->cb(d->ctx, &conn);
	if (ret) {
		d->cb_ret = ret;
		return MNL_CB_STOP;
	}
	return MNL_CB_OK;
}

/*
 * The request of one family's dump. The port range becomes inet_diag
 * bytecode so the kernel skips other sockets before copying them out: a
 * hypervisor may hold many more connections than one migration's.
 */
static void put_request(struct ms_sockdiag *sd, __u8 family, __u32 state_mask,
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
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++sd->seq;
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	req->sdiag_family = family;
	req->sdiag_protocol = IPPROTO_TCP;
	req->idiag_states = state_mask;
	req->idiag_ext = 1U << (INET_DIAG_INFO - 1);
	if (ports->max)
		mnl_attr_put(nlh, INET_DIAG_REQ_BYTECODE, sizeof(bc), bc);
}

/* One family's dump, once. -ENOBUFS means it may be retried. */
static int dump_family(struct ms_sockdiag *sd, __u8 family, __u32 state_mask,
		       const struct port_range *ports, struct dump_ctx *d)
{
	struct nlmsghdr *nlh;
	__u32 seq;
	ssize_t len;
	int ret;

	if (!sd->nl) {
		ret = sd_connect(sd);
		if (ret)
			return ret;
	}
	put_request(sd, family, state_mask, ports);
	nlh = (struct nlmsghdr *)sd->buf;
	seq = nlh->nlmsg_seq;
	if (mnl_socket_sendto(sd->nl, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	for (;;) {
		len = mnl_socket_recvfrom(sd->nl, sd->buf, sizeof(sd->buf));
		if (len < 0 && errno == EINTR)
			continue;
		if (len < 0) {
			ret = (errno == EAGAIN || errno == EWOULDBLOCK) ? -ETIMEDOUT : -errno;
			goto out;
		}
		d->err = 0;
		ret = mnl_cb_run(sd->buf, (size_t)len, seq, sd->portid, on_diag_msg, d);
		if (ret == MNL_CB_ERROR) {
			/* From NLMSG_ERROR, a bad sequence, or a bad message. */
			ret = d->err ? d->err : -errno;
			goto out;
		}
		if (ret == MNL_CB_STOP) {
			ret = d->cb_ret;
			goto out;
		}
	}
out:
	/* Anything but NLMSG_DONE leaves the dump running on the socket. */
	if (ret) {
		int err = sd_reconnect(sd);

		/* Not fatal here: the next dump tries again. */
		if (err)
			ms_warn("sock_diag: cannot reopen the netlink socket: %s", strerror(-err));
	}
	return ret;
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

int ms_sockdiag_parse_link(const char *target, __u32 *inode)
{
	unsigned long long v = 0;
	const char *p;

	if (strncmp(target, "socket:[", 8) != 0)
		return -EINVAL;
	p = target + 8;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned long long)(*p - '0');
		/* inet_diag reports 32-bit inodes; a larger one cannot match. */
		if (v > UINT32_MAX)
			return -EINVAL;
	}
	if (p[0] != ']' || p[1] != '\0')
		return -EINVAL;
	*inode = (__u32)v;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

int ms_proc_socket_inodes(pid_t pid, __u32 **inodes, size_t *n)
{
	char path[64], target[64];
	__u32 *v = NULL;
	size_t cnt = 0, uniq = 0;
	DIR *dir = NULL;
	int ret = 0, fd;

	*inodes = NULL;
	*n = 0;
	if (pid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		ret = errno == ENOENT ? -ESRCH : -errno;
		goto cleanup;
	}
	dir = fdopendir(fd);
	if (!dir) {
		ret = -errno;
		close(fd);
		goto cleanup;
	}
	/* Allocated up front: the scan is bounded and runs every second. */
	v = malloc(MS_SOCKDIAG_MAX * sizeof(*v));
	if (!v) {
		ret = -ENOMEM;
		goto cleanup;
	}
	for (;;) {
		struct dirent *de;
		ssize_t len;
		__u32 ino;

		errno = 0;
		de = readdir(dir);
		if (!de) {
			/* The task is gone: /proc refuses to list its files. */
			if (errno)
				ret = errno == ENOENT ? -ESRCH : -errno;
			break;
		}
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		len = readlinkat(fd, de->d_name, target, sizeof(target) - 1);
		if (len < 0) {
			/* Closed since the listing, or the whole task exited. */
			if (errno == ENOENT)
				continue;
			ret = -errno;
			break;
		}
		target[len] = '\0';
		if (ms_sockdiag_parse_link(target, &ino))
			continue;
		if (cnt == MS_SOCKDIAG_MAX) {
			ret = -E2BIG;
			break;
		}
		v[cnt++] = ino;
	}
	if (ret)
		goto cleanup;
	/*
	 * A task that exits between two reads of its directory just ends the
	 * listing early, which looks like a process with fewer sockets.
	 */
	if (kill(pid, 0) < 0 && errno == ESRCH) {
		ret = -ESRCH;
		goto cleanup;
	}
	if (cnt == 0)
		goto cleanup;
	/* dup() gives one socket several fds. */
	qsort(v, cnt, sizeof(*v), cmp_u32);
	for (size_t i = 0; i < cnt; i++)
		if (uniq == 0 || v[uniq - 1] != v[i])
			v[uniq++] = v[i];
	*inodes = v;
	*n = uniq;
	v = NULL;
cleanup:
	if (dir)
		closedir(dir);
	free(v);
	return ret;
}

struct pid_match {
	const __u32 *inodes; /* sorted */
	size_t n_inodes;
	bool *taken; /* per inode: already in conns */
	struct port_range ports;
	struct ms_tcp_conn *conns; /* room for n_inodes */
	size_t n;
};

static int on_pid_conn(void *ctx, const struct ms_tcp_conn *conn)
{
	struct pid_match *m = ctx;
	const __u32 *hit;
	size_t i;

	/* The kernel filtered on the port too; this keeps the answer exact regardless. */
	if (m->ports.max && (conn->key.dport < m->ports.min || conn->key.dport > m->ports.max))
		return 0;
	hit = bsearch(&conn->inode, m->inodes, m->n_inodes, sizeof(*hit), cmp_u32);
	if (!hit)
		return 0;
	i = (size_t)(hit - m->inodes);
	if (m->taken[i])
		return 0;
	m->taken[i] = true;
	m->conns[m->n++] = *conn;
	return 0;
}

int ms_sockdiag_conns_of_pid(struct ms_sockdiag *sd, pid_t pid, __u16 port_min, __u16 port_max,
			     struct ms_tcp_conn **conns, size_t *n)
{
	struct pid_match m = {.ports = {.min = port_min, .max = port_max}};
	__u32 *inodes = NULL;
	size_t n_inodes = 0;
	int ret;

	*conns = NULL;
	*n = 0;
	if (!sd || port_min > port_max)
		return -EINVAL;
	ret = ms_proc_socket_inodes(pid, &inodes, &n_inodes);
	if (ret || n_inodes == 0)
		goto cleanup;
	m.inodes = inodes;
	m.n_inodes = n_inodes;
	m.taken = calloc(n_inodes, sizeof(*m.taken));
	m.conns = calloc(n_inodes, sizeof(*m.conns));
	if (!m.taken || !m.conns) {
		ret = -ENOMEM;
		goto cleanup;
	}
	ret = dump_tcp(sd, MS_TCPF(TCP_ESTABLISHED), &m.ports, on_pid_conn, &m);
	if (ret)
		goto cleanup;
	/* Gone during the dump: what was found is closing, not migrating. */
	if (kill(pid, 0) < 0 && errno == ESRCH) {
		ret = -ESRCH;
		goto cleanup;
	}
	if (m.n) {
		*conns = m.conns;
		*n = m.n;
		m.conns = NULL;
	}
cleanup:
	free(m.conns);
	free(m.taken);
	free(inodes);
	return ret;
}
