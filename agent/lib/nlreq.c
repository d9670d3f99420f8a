// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Netlink request and answer over libmnl; see nlreq.h.
 *
 * An exchange that does not end cleanly (timeout, a message cb cannot
 * decode, a dump stopped half way, a dump that lost messages) may leave
 * answers queued or a dump running on the socket: the kernel runs one dump
 * per socket at a time, so the next request would fail with EBUSY or meet
 * stale answers, and a dump that failed with ENOBUFS never resumes. Such a
 * socket is replaced, which costs two system calls; draining it would cost a
 * read of the rest of the table.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <linux/netlink.h>

#include "log.h"
#include "nlreq.h"

/*
 * The kernel sizes dump messages to the reader's largest buffer, up to 32 KiB:
 * a buffer that size is never truncated. libmnl 1.0.5 names it
 * MNL_SOCKET_DUMP_SIZE; Debian 12 has 1.0.4.
 */
#define MS_NLREQ_BUF_SIZE 32768

struct ms_nlreq {
	struct mnl_socket *nl; /* NULL after a failed reopen */
	int bus;
	unsigned int portid;
	__u32 seq;
	char buf[MS_NLREQ_BUF_SIZE] __attribute__((aligned(8)));
};

static int nlreq_connect(struct ms_nlreq *r)
{
	struct timeval tv = {
	    .tv_sec = MS_NLREQ_TIMEOUT_MS / 1000,
	    .tv_usec = (MS_NLREQ_TIMEOUT_MS % 1000) * 1000,
	};
	struct mnl_socket *nl;
	int ret;

	nl = mnl_socket_open2(r->bus, SOCK_CLOEXEC);
	if (!nl)
		return -errno;
	if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		mnl_socket_close(nl);
		return ret;
	}
	r->nl = nl;
	r->portid = mnl_socket_get_portid(nl);
	return 0;
}

int ms_nlreq_open(int bus, struct ms_nlreq **out)
{
	struct ms_nlreq *r = calloc(1, sizeof(*r));
	int ret;

	if (!r)
		return -ENOMEM;
	r->bus = bus;
	ret = nlreq_connect(r);
	if (ret) {
		free(r);
		return ret;
	}
	*out = r;
	return 0;
}

void ms_nlreq_close(struct ms_nlreq *r)
{
	if (!r)
		return;
	if (r->nl)
		mnl_socket_close(r->nl);
	free(r);
}

/*
 * One exchange. stop, when not NULL, is where cb records that it stopped the
 * answer early (nonzero): that value is returned, and the socket, which may
 * still hold the rest of the answer, is replaced.
 */
static int exchange(struct ms_nlreq *r, struct nlmsghdr *req, mnl_cb_t cb, void *data,
		    const int *stop)
{
	ssize_t len;
	int ret;

	if (!r->nl) {
		ret = nlreq_connect(r);
		if (ret)
			return ret;
	}
	req->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	req->nlmsg_seq = ++r->seq;
	if (mnl_socket_sendto(r->nl, req, req->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	do {
		len = mnl_socket_recvfrom(r->nl, r->buf, sizeof(r->buf));
		if (len < 0 && errno == EINTR) {
			ret = MNL_CB_OK;
			continue;
		}
		if (len < 0) {
			ret = (errno == EAGAIN || errno == EWOULDBLOCK) ? -ETIMEDOUT : -errno;
			goto out;
		}
		/* libmnl sets errno for the kernel's errors, not for cb's. */
		errno = 0;
		ret = mnl_cb_run(r->buf, (size_t)len, req->nlmsg_seq, r->portid, cb, data);
	} while (ret == MNL_CB_OK);
	if (stop && *stop)
		ret = *stop;
	else if (ret == MNL_CB_ERROR)
		ret = errno ? -errno : -EPROTO;
	else
		ret = 0;
out:
	if (ret) {
		int err;

		mnl_socket_close(r->nl);
		r->nl = NULL;
		err = nlreq_connect(r);
		/* Not fatal here: the next request tries again. */
		if (err)
			ms_warn("netlink: cannot reopen a request socket: %s", strerror(-err));
	}
	return ret;
}

int ms_nlreq_run(struct ms_nlreq *r, struct nlmsghdr *req, mnl_cb_t cb, void *data)
{
	return exchange(r, req, cb, data, NULL);
}

struct dump_call {
	ms_nlreq_msg_cb cb;
	void *data;
	int stop; /* cb's nonzero answer */
};

static int on_dump_msg(const struct nlmsghdr *nlh, void *data)
{
	struct dump_call *d = data;

	d->stop = d->cb(nlh, d->data);
	return d->stop ? MNL_CB_STOP : MNL_CB_OK;
}

int ms_nlreq_dump(struct ms_nlreq *r, struct nlmsghdr *req, ms_nlreq_msg_cb cb, void *data)
{
	struct dump_call d = {.cb = cb, .data = data};

	req->nlmsg_flags |= NLM_F_DUMP;
	return exchange(r, req, on_dump_msg, &d, &d.stop);
}
