// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* rtnetlink link monitor over libmnl: owns one NETLINK_ROUTE socket. */
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>

#include "linkwatch.h"
#include "log.h"

struct ms_linkwatch {
	struct mnl_socket *nl;
	int ifindex;
	ms_link_cb cb;
	void *ctx;
};

int ms_linkwatch_open(int ifindex, ms_link_cb cb, void *ctx, struct ms_linkwatch **out)
{
	struct ms_linkwatch *lw = calloc(1, sizeof(*lw));
	int ret;

	if (!lw)
		return -ENOMEM;
	lw->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!lw->nl) {
		ret = -errno;
		goto err;
	}
	if (mnl_socket_bind(lw->nl, RTMGRP_LINK, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto err;
	}
	lw->ifindex = ifindex;
	lw->cb = cb;
	lw->ctx = ctx;
	*out = lw;
	return 0;
err:
	if (lw->nl)
		mnl_socket_close(lw->nl);
	free(lw);
	return ret;
}

int ms_linkwatch_fd(const struct ms_linkwatch *lw)
{
	return mnl_socket_get_fd(lw->nl);
}

static int on_link_msg(const struct nlmsghdr *nlh, void *data)
{
	struct ms_linkwatch *lw = data;
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifi)) || ifi->ifi_index != lw->ifindex)
		return MNL_CB_OK;
	if (nlh->nlmsg_type == RTM_DELLINK)
		lw->cb(lw->ctx, MS_LINK_DELETED, ifi->ifi_flags);
	else if (nlh->nlmsg_type == RTM_NEWLINK)
		lw->cb(lw->ctx, MS_LINK_CHANGED, ifi->ifi_flags);
	return MNL_CB_OK;
}

int ms_linkwatch_dispatch(struct ms_linkwatch *lw)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];

	for (;;) {
		ssize_t n = mnl_socket_recvfrom(lw->nl, buf, sizeof(buf));
		char name[IF_NAMESIZE];

		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0 && errno == ENOBUFS) {
			/* Messages were lost: ask the kernel directly instead. */
			ms_warn("rtnetlink: link messages lost, checking interface %d directly",
				lw->ifindex);
			if (!if_indextoname((unsigned int)lw->ifindex, name))
				lw->cb(lw->ctx, MS_LINK_DELETED, 0);
			continue;
		}
		if (n < 0)
			return -errno;
		if (mnl_cb_run(buf, (size_t)n, 0, 0, on_link_msg, lw) < 0 && errno != ENOENT)
			return -errno;
	}
}

void ms_linkwatch_close(struct ms_linkwatch *lw)
{
	if (!lw)
		return;
	mnl_socket_close(lw->nl);
	free(lw);
}
