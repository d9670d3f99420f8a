// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The physical link behind an interface; see physlink.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_arp.h>
#include <linux/if_bonding.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "ethtool.h"
#include "nlreq.h"
#include "physlink.h"

/* The kernel nests at most 8 upper devices (MAX_NEST_DEV). */
#define MS_PHYSLINK_MAX_DEPTH 8

struct walk {
	const struct ms_physlink_reader *r;
	void *ctx;
	const struct ms_physlink_dev *devs;
	size_t n;
	struct ms_physlink_speed *out;
	char notes[512]; /* what was found or refused, device by device */
	size_t notes_len;
};

struct rate {
	__u32 link_mbps;
	__u32 flow_mbps;
};

static void note(struct walk *w, const char *fmt, ...)
{
	size_t room = sizeof(w->notes) - w->notes_len;
	va_list ap;
	int len;

	if (room <= 1)
		return;
	if (w->notes_len) {
		len = snprintf(w->notes + w->notes_len, room, "; ");
		w->notes_len += (size_t)len < room ? (size_t)len : room - 1;
		room = sizeof(w->notes) - w->notes_len;
	}
	va_start(ap, fmt);
	len = vsnprintf(w->notes + w->notes_len, room, fmt, ap);
	va_end(ap);
	if (len > 0)
		w->notes_len += (size_t)len < room ? (size_t)len : room - 1;
}

static void depends_on(struct walk *w, int ifindex)
{
	struct ms_physlink_speed *o = w->out;
	size_t i;

	for (i = 0; i < o->n_devs; i++)
		if (o->devs[i] == ifindex)
			return;
	if (o->n_devs < MS_PHYSLINK_MAX_DEVS)
		o->devs[o->n_devs++] = ifindex;
}

static const struct ms_physlink_dev *by_index(const struct walk *w, int ifindex)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (w->devs[i].ifindex == ifindex)
			return &w->devs[i];
	return NULL;
}

static bool kind_is(const struct ms_physlink_dev *d, const char *kind)
{
	return strcmp(d->kind, kind) == 0;
}

static bool is_stacked(const struct ms_physlink_dev *d)
{
	return kind_is(d, "vlan") || kind_is(d, "macvlan") || kind_is(d, "macvtap") ||
	       kind_is(d, "ipvlan") || kind_is(d, "ipvtap");
}

static __u32 add_mbps(__u32 a, __u32 b)
{
	return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

static int derive(struct walk *w, const struct ms_physlink_dev *d, int depth, struct rate *rate);

/* A device with a speed of its own: a NIC, or a tap or veth someone set a speed on. */
static int derive_leaf(struct walk *w, const struct ms_physlink_dev *d, bool virtual_dev,
		       struct rate *rate)
{
	__u32 mbps = 0;
	int ret;

	if (!d->carrier) {
		note(w, "%s has no carrier", d->name);
		return -ENODATA;
	}
	ret = w->r->speed_mbps(w->ctx, d->ifindex, &mbps);
	if (ret == -ENODATA || ret == -EOPNOTSUPP || (!ret && !mbps)) {
		note(w, "%s reports no speed", d->name);
		return -ENODATA;
	}
	if (ret)
		return ret;
	if (virtual_dev && mbps == MS_PHYSLINK_VIRTUAL_DEFAULT_MBPS) {
		note(w, "%s is a %s at the driver's default %u Mb/s, not a link", d->name, d->kind,
		     mbps);
		return -ENODATA;
	}
	note(w, virtual_dev ? "%s %u Mb/s (a %s whose speed was set)" : "%s %u Mb/s", d->name, mbps,
	     d->kind);
	rate->link_mbps = mbps;
	rate->flow_mbps = mbps;
	return 0;
}

/* A bridge: the slowest of its ports that lead to a link. */
static int derive_bridge(struct walk *w, const struct ms_physlink_dev *br, int depth,
			 struct rate *rate)
{
	struct rate port;
	bool found = false;
	size_t i;
	int ret;

	for (i = 0; i < w->n; i++) {
		if (w->devs[i].master != br->ifindex)
			continue;
		ret = derive(w, &w->devs[i], depth + 1, &port);
		if (ret == -ENODATA)
			continue;
		if (ret)
			return ret;
		if (!found || port.link_mbps < rate->link_mbps)
			*rate = port;
		found = true;
	}
	if (!found) {
		note(w, "bridge %s has no port that leads to a physical link", br->name);
		return -ENODATA;
	}
	return 0;
}

static const struct ms_physlink_dev *active_backup_slave(const struct walk *w,
							 const struct ms_physlink_dev *bond)
{
	const struct ms_physlink_dev *d;
	size_t i;

	d = bond->bond_active > 0 ? by_index(w, bond->bond_active) : NULL;
	if (d && d->master == bond->ifindex)
		return d;
	for (i = 0; i < w->n; i++)
		if (w->devs[i].master == bond->ifindex && w->devs[i].slave_active &&
		    w->devs[i].carrier)
			return &w->devs[i];
	return NULL;
}

/*
 * A bond by mode: active-backup sends on its active slave; broadcast sends
 * everything on every slave, so the slowest bounds it; the others spread
 * the traffic over the active slaves, by flow hash except balance-rr.
 */
static int derive_bond(struct walk *w, const struct ms_physlink_dev *bond, int depth,
		       struct rate *rate)
{
	const struct ms_physlink_dev *s;
	struct rate slave;
	bool found = false;
	size_t i;
	int ret;

	if (bond->bond_mode == BOND_MODE_ACTIVEBACKUP) {
		s = active_backup_slave(w, bond);
		if (!s) {
			note(w, "bond %s (active-backup) has no active slave", bond->name);
			return -ENODATA;
		}
		return derive(w, s, depth + 1, rate);
	}
	for (i = 0; i < w->n; i++) {
		s = &w->devs[i];
		if (s->master != bond->ifindex)
			continue;
		depends_on(w, s->ifindex);
		if (!s->slave_active || !s->carrier)
			continue;
		ret = derive(w, s, depth + 1, &slave);
		if (ret == -ENODATA)
			continue;
		if (ret)
			return ret;
		if (!found) {
			*rate = slave;
		} else if (bond->bond_mode == BOND_MODE_BROADCAST) {
			if (slave.link_mbps < rate->link_mbps)
				*rate = slave;
		} else {
			rate->link_mbps = add_mbps(rate->link_mbps, slave.link_mbps);
			if (slave.flow_mbps > rate->flow_mbps)
				rate->flow_mbps = slave.flow_mbps;
		}
		found = true;
	}
	if (!found) {
		note(w, "bond %s has no active slave with a known speed", bond->name);
		return -ENODATA;
	}
	if (bond->bond_mode == BOND_MODE_ROUNDROBIN)
		rate->flow_mbps = rate->link_mbps;
	return 0;
}

static int derive(struct walk *w, const struct ms_physlink_dev *d, int depth, struct rate *rate)
{
	const struct ms_physlink_dev *lower;

	if (depth > MS_PHYSLINK_MAX_DEPTH)
		return -ELOOP;
	depends_on(w, d->ifindex);
	if (kind_is(d, "bridge"))
		return derive_bridge(w, d, depth, rate);
	if (kind_is(d, "bond"))
		return derive_bond(w, d, depth, rate);
	if (kind_is(d, "tun") || kind_is(d, "veth"))
		return derive_leaf(w, d, true, rate);
	if (!d->kind[0] && d->type == ARPHRD_ETHER)
		return derive_leaf(w, d, false, rate);
	if (is_stacked(d)) {
		lower = d->link > 0 ? by_index(w, d->link) : NULL;
		if (!lower) {
			note(w, "the lower device of %s %s is %s", d->kind, d->name,
			     d->link < 0 ? "in another network namespace" : "unknown");
			return -ENODATA;
		}
		return derive(w, lower, depth + 1, rate);
	}
	note(w, "%s is a %s device, not a physical link", d->name,
	     d->kind[0] ? d->kind : "non-Ethernet");
	return -ENODATA;
}

int ms_physlink_derive(const struct ms_physlink_reader *r, void *ctx, const char *ifname,
		       struct ms_physlink_speed *out, char *why, size_t why_len)
{
	struct ms_physlink_speed found = {0};
	struct ms_physlink_dev *devs = NULL;
	const struct ms_physlink_dev *top = NULL;
	struct walk *w;
	struct rate rate = {0};
	size_t n = 0, i;
	int ret;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	ret = r->snapshot(ctx, &devs, &n);
	if (ret)
		goto out;
	for (i = 0; i < n && !top; i++)
		if (strcmp(devs[i].name, ifname) == 0)
			top = &devs[i];
	if (!top) {
		snprintf(why, why_len, "no interface %s", ifname);
		ret = -ENODEV;
		goto out;
	}
	*w = (struct walk){.r = r, .ctx = ctx, .devs = devs, .n = n, .out = &found};
	ret = derive(w, top, 0, &rate);
	if (ret == -ELOOP) {
		snprintf(why, why_len, "the devices under %s nest too deep", ifname);
	} else if (ret == -ENODATA) {
		snprintf(why, why_len,
			 "no trustworthy link speed under %s (%s): set link_mbps in the "
			 "configuration",
			 ifname, w->notes);
	} else if (ret) {
		snprintf(why, why_len, "cannot read the link speeds under %s: %s", ifname,
			 strerror(-ret));
	} else {
		found.link_mbps = rate.link_mbps;
		found.flow_max_mbps = rate.flow_mbps;
		snprintf(why, why_len, "%s: %u Mbit/s (%s)", ifname, rate.link_mbps, w->notes);
		*out = found;
	}
out:
	free(devs);
	free(w);
	return ret;
}

/* --- the kernel's answers ------------------------------------------------- */

struct dump {
	struct ms_physlink_dev *devs;
	size_t n, cap;
	int err;
};

union rt_req {
	struct nlmsghdr nlh;
	char buf[256];
};

static void parse_bond_data(const struct nlattr *data, struct ms_physlink_dev *d)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, data)
	{
		if (mnl_attr_get_type(a) == IFLA_BOND_MODE && !mnl_attr_validate(a, MNL_TYPE_U8))
			d->bond_mode = mnl_attr_get_u8(a);
		else if (mnl_attr_get_type(a) == IFLA_BOND_ACTIVE_SLAVE &&
			 !mnl_attr_validate(a, MNL_TYPE_U32))
			d->bond_active = (int)mnl_attr_get_u32(a);
	}
}

static void parse_bond_slave_data(const struct nlattr *data, struct ms_physlink_dev *d)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, data)
	{
		if (mnl_attr_get_type(a) == IFLA_BOND_SLAVE_STATE &&
		    !mnl_attr_validate(a, MNL_TYPE_U8))
			d->slave_active = mnl_attr_get_u8(a) == BOND_STATE_ACTIVE;
	}
}

static void parse_linkinfo(const struct nlattr *info, struct ms_physlink_dev *d)
{
	const struct nlattr *a, *data = NULL, *slave_data = NULL;
	bool bond_slave = false;

	mnl_attr_for_each_nested(a, info)
	{
		switch (mnl_attr_get_type(a)) {
		case IFLA_INFO_KIND:
			if (!mnl_attr_validate(a, MNL_TYPE_NUL_STRING))
				snprintf(d->kind, sizeof(d->kind), "%s", mnl_attr_get_str(a));
			break;
		case IFLA_INFO_SLAVE_KIND:
			bond_slave = !mnl_attr_validate(a, MNL_TYPE_NUL_STRING) &&
				     strcmp(mnl_attr_get_str(a), "bond") == 0;
			break;
		case IFLA_INFO_DATA:
			data = a;
			break;
		case IFLA_INFO_SLAVE_DATA:
			slave_data = a;
			break;
		}
	}
	if (data && strcmp(d->kind, "bond") == 0)
		parse_bond_data(data, d);
	if (slave_data && bond_slave)
		parse_bond_slave_data(slave_data, d);
}

static int on_link(const struct nlmsghdr *nlh, void *data)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	struct dump *dump = data;
	struct ms_physlink_dev *d, *grown;
	const struct nlattr *a;
	bool other_netns = false;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	if (dump->n == dump->cap) {
		grown = reallocarray(dump->devs, dump->cap ? dump->cap * 2 : 64, sizeof(*grown));
		if (!grown) {
			dump->err = -ENOMEM;
			return MNL_CB_ERROR;
		}
		dump->devs = grown;
		dump->cap = dump->cap ? dump->cap * 2 : 64;
	}
	d = &dump->devs[dump->n];
	*d = (struct ms_physlink_dev){.ifindex = ifi->ifi_index, .type = ifi->ifi_type};
	d->carrier = (ifi->ifi_flags & IFF_UP) && (ifi->ifi_flags & IFF_LOWER_UP);
	mnl_attr_for_each(a, nlh, sizeof(*ifi))
	{
		switch (mnl_attr_get_type(a)) {
		case IFLA_IFNAME:
			if (!mnl_attr_validate(a, MNL_TYPE_NUL_STRING))
				snprintf(d->name, sizeof(d->name), "%s", mnl_attr_get_str(a));
			break;
		case IFLA_MASTER:
			if (!mnl_attr_validate(a, MNL_TYPE_U32))
				d->master = (int)mnl_attr_get_u32(a);
			break;
		case IFLA_LINK:
			if (!mnl_attr_validate(a, MNL_TYPE_U32))
				d->link = (int)mnl_attr_get_u32(a);
			break;
		case IFLA_LINK_NETNSID:
			other_netns = true;
			break;
		case IFLA_LINKINFO:
			parse_linkinfo(a, d);
			break;
		}
	}
	if (other_netns && d->link)
		d->link = -1;
	dump->n++;
	return MNL_CB_OK;
}

static int system_snapshot(void *ctx, struct ms_physlink_dev **devs, size_t *n)
{
	struct dump dump = {0};
	struct ms_nlreq *req = NULL;
	struct ifinfomsg *ifi;
	struct nlmsghdr *nlh;
	union rt_req r;
	int ret;

	(void)ctx;
	ret = ms_nlreq_open(NETLINK_ROUTE, &req);
	if (ret)
		return ret;
	nlh = mnl_nlmsg_put_header(r.buf);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_DUMP;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	ret = ms_nlreq_run(req, nlh, on_link, &dump);
	if (ret == -EPROTO && dump.err)
		ret = dump.err;
	ms_nlreq_close(req);
	if (ret) {
		free(dump.devs);
		return ret;
	}
	*devs = dump.devs;
	*n = dump.n;
	return 0;
}

static int system_speed(void *ctx, int ifindex, __u32 *mbps)
{
	return ms_ethtool_speed_mbps(ctx, ifindex, mbps);
}

int ms_physlink_derive_system(const char *ifname, struct ms_physlink_speed *out, char *why,
			      size_t why_len)
{
	static const struct ms_physlink_reader reader = {
	    .snapshot = system_snapshot,
	    .speed_mbps = system_speed,
	};
	struct ms_ethtool *e = NULL;
	int ret;

	ret = ms_ethtool_open(&e);
	if (ret) {
		snprintf(why, why_len, "cannot read link speeds through ethtool netlink: %s",
			 strerror(-ret));
		return ret;
	}
	ret = ms_physlink_derive(&reader, e, ifname, out, why, why_len);
	ms_ethtool_close(e);
	return ret;
}

int ms_physlink_speed_mbps(const char *ifname, __u32 *mbps, char *why, size_t why_len)
{
	struct ms_physlink_speed s;
	int ret;

	ret = ms_physlink_derive_system(ifname, &s, why, why_len);
	if (!ret)
		*mbps = s.link_mbps;
	return ret;
}
