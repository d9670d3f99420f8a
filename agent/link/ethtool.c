// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Link speed through ethtool generic netlink over libmnl; see ethtool.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <linux/ethtool.h>
#include <linux/ethtool_netlink.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "ethtool.h"
#include "log.h"
#include "nlreq.h"

/*
 * Announcements carry the link mode bit sets in their verbose form, with
 * names: a few KiB on a NIC with many modes. A longer one is not lost: it is
 * reported as a change (see ms_ethtool_dispatch).
 */
#define MS_ETHTOOL_NTF_BUF_SIZE 16384

struct ms_ethtool {
	struct ms_nlreq *req;
	struct mnl_socket *mon; /* joined to the "monitor" group, non-blocking */
	__u16 family_id;
	char buf[MS_ETHTOOL_NTF_BUF_SIZE] __attribute__((aligned(8)));
};

/* A request: a generic netlink header and a few attributes. */
union genl_req {
	struct nlmsghdr nlh;
	char buf[256];
};

struct family {
	__u16 id;
	__u32 monitor_grp; /* 0 until found */
};

struct linkmodes {
	bool have_speed;
	__u32 speed;
};

struct ntf_match {
	__u16 family_id;
	__u32 ifindex;
	bool hit;
};

static struct nlmsghdr *put_genl(union genl_req *r, __u16 type, __u8 cmd, __u8 version)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(r->buf);
	struct genlmsghdr *g;

	nlh->nlmsg_type = type;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = version;
	return nlh;
}

static void parse_mcast_group(const struct nlattr *grp, struct family *f)
{
	const struct nlattr *a;
	const char *name = NULL;
	__u32 id = 0;

	mnl_attr_for_each_nested(a, grp)
	{
		if (mnl_attr_get_type(a) == CTRL_ATTR_MCAST_GRP_NAME &&
		    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			name = mnl_attr_get_str(a);
		else if (mnl_attr_get_type(a) == CTRL_ATTR_MCAST_GRP_ID &&
			 mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			id = mnl_attr_get_u32(a);
	}
	if (name && strcmp(name, ETHTOOL_MCGRP_MONITOR_NAME) == 0)
		f->monitor_grp = id;
}

static int on_family(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *attr, *grp;
	struct family *f = data;

	mnl_attr_for_each(attr, nlh, GENL_HDRLEN)
	{
		switch (mnl_attr_get_type(attr)) {
		case CTRL_ATTR_FAMILY_ID:
			if (mnl_attr_validate(attr, MNL_TYPE_U16) < 0)
				return MNL_CB_ERROR;
			f->id = mnl_attr_get_u16(attr);
			break;
		case CTRL_ATTR_MCAST_GROUPS:
			mnl_attr_for_each_nested(grp, attr) parse_mcast_group(grp, f);
			break;
		default:
			break;
		}
	}
	return MNL_CB_OK;
}

static int resolve_family(struct ms_nlreq *req, struct family *f)
{
	union genl_req r;
	struct nlmsghdr *nlh = put_genl(&r, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1);
	int ret;

	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, ETHTOOL_GENL_NAME);
	ret = ms_nlreq_run(req, nlh, on_family, f);
	/* The controller says ENOENT for a family it does not know. */
	if (ret == -ENOENT)
		return -EOPNOTSUPP;
	if (ret)
		return ret;
	return f->id && f->monitor_grp ? 0 : -EOPNOTSUPP;
}

int ms_ethtool_open(struct ms_ethtool **out)
{
	struct ms_ethtool *e = calloc(1, sizeof(*e));
	struct family f = {0};
	int ret;

	if (!e)
		return -ENOMEM;
	ret = ms_nlreq_open(NETLINK_GENERIC, &e->req);
	if (ret)
		goto err;
	ret = resolve_family(e->req, &f);
	if (ret)
		goto err;
	e->family_id = f.id;
	e->mon = mnl_socket_open2(NETLINK_GENERIC, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!e->mon) {
		ret = -errno;
		goto err;
	}
	if (mnl_socket_bind(e->mon, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_setsockopt(e->mon, NETLINK_ADD_MEMBERSHIP, &f.monitor_grp,
				  sizeof(f.monitor_grp)) < 0) {
		ret = -errno;
		goto err;
	}
	*out = e;
	return 0;
err:
	ms_ethtool_close(e);
	return ret;
}

void ms_ethtool_close(struct ms_ethtool *e)
{
	if (!e)
		return;
	if (e->mon)
		mnl_socket_close(e->mon);
	ms_nlreq_close(e->req);
	free(e);
}

static int on_linkmodes(const struct nlmsghdr *nlh, void *data)
{
	struct linkmodes *lm = data;
	const struct nlattr *attr;

	mnl_attr_for_each(attr, nlh, GENL_HDRLEN)
	{
		if (mnl_attr_get_type(attr) != ETHTOOL_A_LINKMODES_SPEED)
			continue;
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		lm->speed = mnl_attr_get_u32(attr);
		lm->have_speed = true;
	}
	return MNL_CB_OK;
}

/* An ethtool GET of cmd for one device: its request header (header_attr) names it. */
static struct nlmsghdr *put_dev_get(union genl_req *r, const struct ms_ethtool *e, __u8 cmd,
				    __u16 header_attr, int ifindex, __u32 header_flags)
{
	struct nlmsghdr *nlh = put_genl(r, e->family_id, cmd, ETHTOOL_GENL_VERSION);
	struct nlattr *hdr = mnl_attr_nest_start(nlh, header_attr);

	mnl_attr_put_u32(nlh, ETHTOOL_A_HEADER_DEV_INDEX, (__u32)ifindex);
	if (header_flags)
		mnl_attr_put_u32(nlh, ETHTOOL_A_HEADER_FLAGS, header_flags);
	mnl_attr_nest_end(nlh, hdr);
	return nlh;
}

int ms_ethtool_speed_mbps(struct ms_ethtool *e, int ifindex, __u32 *mbps)
{
	struct linkmodes lm = {0};
	union genl_req r;
	struct nlmsghdr *nlh;
	int ret;

	if (ifindex <= 0)
		return -EINVAL;
	/* The answer carries the link mode bit sets too: compact, they are a few words. */
	nlh = put_dev_get(&r, e, ETHTOOL_MSG_LINKMODES_GET, ETHTOOL_A_LINKMODES_HEADER, ifindex,
			  ETHTOOL_FLAG_COMPACT_BITSETS);
	ret = ms_nlreq_run(e->req, nlh, on_linkmodes, &lm);
	if (ret)
		return ret;
	/* Drivers say SPEED_UNKNOWN without carrier; a few say 0. */
	if (!lm.have_speed || lm.speed == 0 || lm.speed == (__u32)SPEED_UNKNOWN)
		return -ENODATA;
	*mbps = lm.speed;
	return 0;
}

struct channels {
	__u32 tx, combined;
};

static int on_channels(const struct nlmsghdr *nlh, void *data)
{
	struct channels *ch = data;
	const struct nlattr *attr;

	mnl_attr_for_each(attr, nlh, GENL_HDRLEN)
	{
		__u16 type = mnl_attr_get_type(attr);

		if (type != ETHTOOL_A_CHANNELS_TX_COUNT &&
		    type != ETHTOOL_A_CHANNELS_COMBINED_COUNT)
			continue;
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		if (type == ETHTOOL_A_CHANNELS_TX_COUNT)
			ch->tx = mnl_attr_get_u32(attr);
		else
			ch->combined = mnl_attr_get_u32(attr);
	}
	return MNL_CB_OK;
}

int ms_ethtool_tx_queues(struct ms_ethtool *e, int ifindex, __u32 *queues)
{
	struct channels ch = {0};
	union genl_req r;
	struct nlmsghdr *nlh;
	int ret;

	if (ifindex <= 0)
		return -EINVAL;
	nlh = put_dev_get(&r, e, ETHTOOL_MSG_CHANNELS_GET, ETHTOOL_A_CHANNELS_HEADER, ifindex, 0);
	ret = ms_nlreq_run(e->req, nlh, on_channels, &ch);
	if (ret)
		return ret;
	*queues = ch.tx + ch.combined;
	return *queues ? 0 : -EOPNOTSUPP;
}

int ms_ethtool_fd(const struct ms_ethtool *e)
{
	return mnl_socket_get_fd(e->mon);
}

static int on_ntf_header(const struct nlattr *hdr, struct ntf_match *m)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, hdr)
	{
		if (mnl_attr_get_type(a) != ETHTOOL_A_HEADER_DEV_INDEX)
			continue;
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		if (!m->ifindex || mnl_attr_get_u32(a) == m->ifindex)
			m->hit = true;
	}
	return MNL_CB_OK;
}

static int on_ntf(const struct nlmsghdr *nlh, void *data)
{
	const struct genlmsghdr *g = mnl_nlmsg_get_payload(nlh);
	struct ntf_match *m = data;
	const struct nlattr *attr;

	if (nlh->nlmsg_type != m->family_id || nlh->nlmsg_len < mnl_nlmsg_size(GENL_HDRLEN) ||
	    g->cmd != ETHTOOL_MSG_LINKMODES_NTF)
		return MNL_CB_OK;
	mnl_attr_for_each(attr, nlh, GENL_HDRLEN)
	{
		if (mnl_attr_get_type(attr) == ETHTOOL_A_LINKMODES_HEADER)
			return on_ntf_header(attr, m);
	}
	return MNL_CB_OK;
}

int ms_ethtool_dispatch(struct ms_ethtool *e, int ifindex)
{
	struct ntf_match m = {.family_id = e->family_id, .ifindex = (__u32)ifindex};

	for (;;) {
		ssize_t n = mnl_socket_recvfrom(e->mon, e->buf, sizeof(e->buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return m.hit;
		/* Lost (ENOBUFS) or cut short (ENOSPC): it may have been ours. */
		if (n < 0 && (errno == ENOBUFS || errno == ENOSPC)) {
			ms_warn("ethtool netlink: announcements lost (%s)", strerror(errno));
			m.hit = true;
			continue;
		}
		if (n < 0)
			return -errno;
		if (mnl_cb_run(e->buf, (size_t)n, 0, 0, on_ntf, &m) < 0)
			m.hit = true;
	}
}
