// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Route lookups over rtnetlink, with a cache; see route.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/rtnetlink.h>

#include "clock.h"
#include "nlreq.h"
#include "route.h"

struct cached_route {
	__u8 daddr[16];
	int oif; /* or -errno: a failed lookup is an answer too */
	__u64 at_ns;
};

struct ms_route {
	struct ms_nlreq *req;
	struct cached_route cache[MS_ROUTE_CACHE_SIZE];
	__u32 next;
};

int ms_route_open(struct ms_route **out)
{
	struct ms_route *r = calloc(1, sizeof(*r));
	int ret;

	if (!r)
		return -ENOMEM;
	ret = ms_nlreq_open(NETLINK_ROUTE, &r->req);
	if (ret) {
		free(r);
		return ret;
	}
	*out = r;
	return 0;
}

void ms_route_close(struct ms_route *r)
{
	if (!r)
		return;
	ms_nlreq_close(r->req);
	free(r);
}

static int on_route(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *attr;
	int *oif = data;

	if (nlh->nlmsg_type != RTM_NEWROUTE)
		return MNL_CB_OK;
	mnl_attr_for_each(attr, nlh, sizeof(struct rtmsg))
	{
		if (mnl_attr_get_type(attr) == RTA_OIF &&
		    mnl_attr_validate(attr, MNL_TYPE_U32) == 0)
			*oif = (int)mnl_attr_get_u32(attr);
	}
	return MNL_CB_OK;
}

static bool is_v4_mapped(const __u8 *a)
{
	static const __u8 prefix[12] = {[10] = 0xff, [11] = 0xff};

	return !memcmp(a, prefix, sizeof(prefix));
}

static int lookup(struct ms_route *r, const __u8 *daddr, int *oif)
{
	char buf[MNL_SOCKET_BUFFER_SIZE] __attribute__((aligned(8)));
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	bool v4 = is_v4_mapped(daddr);
	int found = 0, ret;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETROUTE;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = v4 ? AF_INET : AF_INET6;
	rtm->rtm_dst_len = v4 ? 32 : 128;
	mnl_attr_put(nlh, RTA_DST, v4 ? 4 : 16, v4 ? daddr + 12 : daddr);
	ret = ms_nlreq_run(r->req, nlh, on_route, &found);
	if (ret)
		return ret;
	if (found <= 0)
		return -ENETUNREACH;
	*oif = found;
	return 0;
}

int ms_route_oif(struct ms_route *r, const __u8 *daddr, int *oif)
{
	__u64 now = ms_clock_ns();
	struct cached_route *e;
	int ret, found = 0;

	if (!r || !daddr || !oif)
		return -EINVAL;
	for (__u32 i = 0; i < MS_ROUTE_CACHE_SIZE; i++) {
		e = &r->cache[i];
		if (e->at_ns && now - e->at_ns < MS_ROUTE_CACHE_NS &&
		    !memcmp(e->daddr, daddr, sizeof(e->daddr))) {
			if (e->oif < 0)
				return e->oif;
			*oif = e->oif;
			return 0;
		}
	}
	ret = lookup(r, daddr, &found);
	/* A timed-out request says nothing about the route: not cached. */
	if (ret == -ETIMEDOUT)
		return ret;
	e = &r->cache[r->next];
	r->next = (r->next + 1) % MS_ROUTE_CACHE_SIZE;
	memcpy(e->daddr, daddr, sizeof(e->daddr));
	e->oif = ret ? ret : found;
	e->at_ns = now;
	if (ret)
		return ret;
	*oif = found;
	return 0;
}
