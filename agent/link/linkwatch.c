// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * rtnetlink link and root qdisc monitor over libmnl; see linkwatch.h.
 *
 * Notifications and the answers of a resync travel on different sockets: the
 * monitor socket only ever holds notifications, so a resync never has to set
 * aside the ones that arrive while it waits for its answer.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include "linkwatch.h"
#include "log.h"
#include "nlreq.h"

/*
 * One notification per datagram, a link's the largest at a few KiB. A longer
 * one is not lost: it is reported as a loss (ENOSPC), which resyncs.
 */
#define MS_LINKWATCH_BUF_SIZE 16384

struct ms_linkwatch {
	struct mnl_socket *mon; /* RTMGRP_LINK and RTMGRP_TC, non-blocking */
	struct ms_nlreq *req;	/* resync requests */
	char ifname[IF_NAMESIZE];
	int ifindex; /* 0 while the watched interface is deleted */
	ms_link_cb cb;
	void *ctx;
	char buf[MS_LINKWATCH_BUF_SIZE] __attribute__((aligned(8)));
};

/* A request: a header, a family header and one or two attributes. */
union rt_req {
	struct nlmsghdr nlh;
	char buf[128];
};

/* The root qdisc a dump found. */
struct root_dump {
	int ifindex;
	bool found;
	struct ms_link_note note;
};

static bool link_has_name(const struct nlmsghdr *nlh, const char *ifname)
{
	const struct nlattr *attr;

	mnl_attr_for_each(attr, nlh, sizeof(struct ifinfomsg))
	{
		if (mnl_attr_get_type(attr) == IFLA_IFNAME &&
		    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
			return strcmp(mnl_attr_get_str(attr), ifname) == 0;
	}
	return false;
}

static void on_link(struct ms_linkwatch *lw, const struct nlmsghdr *nlh)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	struct ms_link_note note = {0};

	/*
	 * A bridge reports its ports as AF_BRIDGE: an RTM_DELLINK of that
	 * family is a port leaving the bridge, not a deletion.
	 */
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifi)) || ifi->ifi_family != AF_UNSPEC)
		return;
	note.ifindex = ifi->ifi_index;
	note.ifi_flags = ifi->ifi_flags;
	if (lw->ifindex && ifi->ifi_index == lw->ifindex) {
		note.event = nlh->nlmsg_type == RTM_DELLINK ? MS_LINK_DELETED : MS_LINK_CHANGED;
		if (note.event == MS_LINK_DELETED)
			lw->ifindex = 0;
	} else if (!lw->ifindex && nlh->nlmsg_type == RTM_NEWLINK &&
		   link_has_name(nlh, lw->ifname)) {
		note.event = MS_LINK_CREATED;
		lw->ifindex = ifi->ifi_index;
	} else {
		return;
	}
	lw->cb(lw->ctx, &note);
}

/* Fills note if nlh is about the root qdisc of ifindex. */
static bool parse_root_qdisc(const struct nlmsghdr *nlh, int ifindex, struct ms_link_note *note)
{
	const struct tcmsg *tcm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *attr;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*tcm)) || !ifindex ||
	    tcm->tcm_ifindex != ifindex || tcm->tcm_parent != TC_H_ROOT)
		return false;
	*note = (struct ms_link_note){
	    .event = MS_LINK_ROOT_QDISC,
	    .ifindex = ifindex,
	    .qdisc_deleted = nlh->nlmsg_type == RTM_DELQDISC,
	    .qdisc_handle = tcm->tcm_handle,
	};
	mnl_attr_for_each(attr, nlh, sizeof(*tcm))
	{
		if (mnl_attr_get_type(attr) == TCA_KIND &&
		    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
			snprintf(note->qdisc_kind, sizeof(note->qdisc_kind), "%s",
				 mnl_attr_get_str(attr));
	}
	return true;
}

static int on_msg(const struct nlmsghdr *nlh, void *data)
{
	struct ms_linkwatch *lw = data;
	struct ms_link_note note;

	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK:
		on_link(lw, nlh);
		break;
	case RTM_NEWQDISC:
	case RTM_DELQDISC:
		if (parse_root_qdisc(nlh, lw->ifindex, &note))
			lw->cb(lw->ctx, &note);
		break;
	default:
		break;
	}
	return MNL_CB_OK;
}

int ms_linkwatch_open(const char *ifname, int ifindex, ms_link_cb cb, void *ctx,
		      struct ms_linkwatch **out)
{
	struct ms_linkwatch *lw;
	int ret;

	if (!ifname || strlen(ifname) >= sizeof(lw->ifname) || ifindex <= 0 || !cb)
		return -EINVAL;
	lw = calloc(1, sizeof(*lw));
	if (!lw)
		return -ENOMEM;
	lw->mon = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!lw->mon) {
		ret = -errno;
		goto err;
	}
	if (mnl_socket_bind(lw->mon, RTMGRP_LINK | RTMGRP_TC, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto err;
	}
	ret = ms_nlreq_open(NETLINK_ROUTE, &lw->req);
	if (ret)
		goto err;
	strcpy(lw->ifname, ifname);
	lw->ifindex = ifindex;
	lw->cb = cb;
	lw->ctx = ctx;
	*out = lw;
	return 0;
err:
	ms_linkwatch_close(lw);
	return ret;
}

int ms_linkwatch_fd(const struct ms_linkwatch *lw)
{
	return mnl_socket_get_fd(lw->mon);
}

int ms_linkwatch_ifindex(const struct ms_linkwatch *lw)
{
	return lw->ifindex;
}

/* RTM_GETLINK of ifindex, or of the watched name with ifindex 0; answers go to on_msg. */
static int get_link(struct ms_linkwatch *lw, int ifindex)
{
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	union rt_req r;

	nlh = mnl_nlmsg_put_header(r.buf);
	nlh->nlmsg_type = RTM_GETLINK;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	if (!ifindex)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, lw->ifname);
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	return ms_nlreq_run(lw->req, nlh, on_msg, lw);
}

static int on_qdisc_dump(const struct nlmsghdr *nlh, void *data)
{
	struct root_dump *d = data;

	if (nlh->nlmsg_type == RTM_NEWQDISC && parse_root_qdisc(nlh, d->ifindex, &d->note))
		d->found = true;
	return MNL_CB_OK;
}

/* The kernel dumps the qdiscs of every interface; the root of ours is picked here. */
static int resync_root_qdisc(struct ms_linkwatch *lw)
{
	struct root_dump d = {.ifindex = lw->ifindex};
	struct nlmsghdr *nlh;
	struct tcmsg *tcm;
	union rt_req r;
	int ret;

	nlh = mnl_nlmsg_put_header(r.buf);
	nlh->nlmsg_type = RTM_GETQDISC;
	nlh->nlmsg_flags = NLM_F_DUMP;
	tcm = mnl_nlmsg_put_extra_header(nlh, sizeof(*tcm));
	tcm->tcm_family = AF_UNSPEC;
	tcm->tcm_ifindex = lw->ifindex;
	ret = ms_nlreq_run(lw->req, nlh, on_qdisc_dump, &d);
	if (ret)
		return ret;
	if (!d.found)
		d.note = (struct ms_link_note){
		    .event = MS_LINK_ROOT_QDISC,
		    .ifindex = lw->ifindex,
		    .qdisc_deleted = true,
		};
	lw->cb(lw->ctx, &d.note);
	return 0;
}

int ms_linkwatch_resync(struct ms_linkwatch *lw)
{
	int ret;

	if (lw->ifindex) {
		ret = get_link(lw, lw->ifindex);
		if (ret == -ENODEV) {
			struct ms_link_note note = {.event = MS_LINK_DELETED,
						    .ifindex = lw->ifindex};

			lw->ifindex = 0;
			lw->cb(lw->ctx, &note);
		} else if (ret) {
			return ret;
		}
	}
	if (!lw->ifindex) {
		ret = get_link(lw, 0);
		if (ret == -ENODEV)
			return 0;
		if (ret)
			return ret;
	}
	return lw->ifindex ? resync_root_qdisc(lw) : 0;
}

int ms_linkwatch_dispatch(struct ms_linkwatch *lw)
{
	bool lost = false;

	for (;;) {
		ssize_t n = mnl_socket_recvfrom(lw->mon, lw->buf, sizeof(lw->buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		/* Lost (ENOBUFS) or cut short (ENOSPC). */
		if (n < 0 && (errno == ENOBUFS || errno == ENOSPC)) {
			lost = true;
			continue;
		}
		if (n < 0)
			return -errno;
		if (mnl_cb_run(lw->buf, (size_t)n, 0, 0, on_msg, lw) < 0)
			lost = true;
	}
	/*
	 * Last, after everything that was queued: what the resync finds is
	 * newer than all of it, so the final note about each thing is current.
	 */
	if (!lost)
		return 0;
	ms_warn("rtnetlink: notifications about %s lost; asking the kernel for its state",
		lw->ifname);
	return ms_linkwatch_resync(lw);
}

void ms_linkwatch_close(struct ms_linkwatch *lw)
{
	if (!lw)
		return;
	if (lw->mon)
		mnl_socket_close(lw->mon);
	ms_nlreq_close(lw->req);
	free(lw);
}
