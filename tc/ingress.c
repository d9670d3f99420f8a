// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The receive-side backstop: IFB, its HTB and the NIC's ingress filters
 * (see ingress.h for the layout).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>

#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/route/link.h>
#include <netlink/route/tc.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/class.h>
#include <netlink/route/classifier.h>
#include <netlink/route/action.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/qdisc/htb.h>

#include "htb.h"
#include "ingress.h"
#include "log.h"
#include "tcnl.h"

#define IFB_MAJOR      1U
#define IFB_HANDLE(m)  ((IFB_MAJOR << 16) | (m))
#define IFB_TXQLEN     1000U
#define INGRESS_PARENT TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS)
/* Offsets from the network header. */
#define IP4_VER_IHL_OFF 0
#define IP4_FRAG_OFF	4
#define IP4_PROTO_OFF	8
#define IP4_PORTS_OFF	20
#define IP6_NEXTHDR_OFF 4
#define IP6_PORTS_OFF	40

struct ms_ingress {
	struct nl_sock *sk;
	int ifindex;
	int ifb_ifindex;
	char ifb_name[IF_NAMESIZE];
	__u32 mtu;
	bool clsact_created;
	struct ms_ingress_params p;
	__u16 mgmt_ports[MS_INGRESS_MGMT_PORTS_MAX];
};

static const __u16 prios[] = {MS_INGRESS_PRIO_MGMT4, MS_INGRESS_PRIO_MGMT6, MS_INGRESS_PRIO_MIG4,
			      MS_INGRESS_PRIO_MIG6};

static int nl_fail(const struct ms_ingress *in, int nlerr, const char *what)
{
	ms_err("ingress: ifindex %d: %s: %s", in->ifindex, what, nl_geterror(nlerr));
	return ms_tcnl_errno(nlerr);
}

int ms_ingress_ifb_name(int ifindex, char *buf, size_t len)
{
	int n = snprintf(buf, len, "msi%d", ifindex);

	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

int ms_ingress_port_blocks(__u16 min, __u16 max, __u16 *values, __u16 *masks, size_t n)
{
	__u32 lo = min, hi = max;
	size_t count = 0;

	if (min == 0 || min > max)
		return -EINVAL;
	while (lo <= hi) {
		__u32 size = 1;

		/* The largest aligned block that starts at lo and stays within hi. */
		while (size < 65536 && !(lo & size) && lo + size * 2 - 1 <= hi)
			size *= 2;
		if (count == n)
			return -E2BIG;
		values[count] = (__u16)lo;
		masks[count] = (__u16) ~(size - 1);
		count++;
		lo += size;
	}
	return (int)count;
}

static int link_mtu(struct ms_ingress *in)
{
	struct rtnl_link *link = NULL;
	int err;

	err = ms_tcnl_link_get(in->sk, in->ifindex, NULL, &link);
	if (err) {
		ms_err("ingress: ifindex %d: %s", in->ifindex, strerror(-err));
		return err;
	}
	in->mtu = rtnl_link_get_mtu(link);
	rtnl_link_put(link);
	return 0;
}

/* The IFB's root HTB, unless one of ours is already there. */
static int ifb_root(struct ms_ingress *in)
{
	struct rtnl_qdisc *q = rtnl_qdisc_alloc();
	int err;

	if (!q)
		return -ENOMEM;
	rtnl_tc_set_ifindex(TC_CAST(q), in->ifb_ifindex);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
	rtnl_tc_set_handle(TC_CAST(q), IFB_HANDLE(0));
	err = rtnl_tc_set_kind(TC_CAST(q), "htb");
	err = err ?: rtnl_htb_set_defcls(q, MS_INGRESS_MINOR);
	err = err ?: rtnl_qdisc_add(in->sk, q, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_qdisc_put(q);
	/* Exclusive: EEXIST only when the root already has our handle. */
	if (err < 0 && err != -NLE_EXIST)
		return nl_fail(in, err, "add the IFB's root qdisc");
	return 0;
}

/* Adds or changes the one class. */
static int ifb_class(struct ms_ingress *in, __u64 cap_bps)
{
	struct ms_htb_geometry geo;
	struct rtnl_class *cls;
	int err;

	err = ms_htb_geometry_compute(cap_bps, cap_bps, in->mtu, &geo);
	if (err) {
		ms_err("ingress: ifindex %d: cap %llu bit/s cannot be shaped", in->ifindex,
		       (unsigned long long)cap_bps);
		return err;
	}
	cls = rtnl_class_alloc();
	if (!cls)
		return -ENOMEM;
	rtnl_tc_set_ifindex(TC_CAST(cls), in->ifb_ifindex);
	rtnl_tc_set_handle(TC_CAST(cls), IFB_HANDLE(MS_INGRESS_MINOR));
	rtnl_tc_set_parent(TC_CAST(cls), IFB_HANDLE(0));
	rtnl_tc_set_mtu(TC_CAST(cls), in->mtu + ETH_HLEN);
	rtnl_tc_set_linktype(TC_CAST(cls), ARPHRD_ETHER);
	err = rtnl_tc_set_kind(TC_CAST(cls), "htb");
	err = err ?: rtnl_htb_set_rate64(cls, cap_bps / 8);
	err = err ?: rtnl_htb_set_ceil64(cls, cap_bps / 8);
	err = err ?: rtnl_htb_set_quantum(cls, geo.quantum_bytes);
	err = err ?: rtnl_htb_set_rbuffer(cls, geo.burst_bytes);
	err = err ?: rtnl_htb_set_cbuffer(cls, geo.cburst_bytes);
	err = err ?: rtnl_class_add(in->sk, cls, NLM_F_CREATE);
	rtnl_class_put(cls);
	if (err < 0)
		return nl_fail(in, err, "set the IFB's class");
	return 0;
}

/* The NIC's clsact qdisc; *created tells whether this call made it. */
static int clsact_ensure(struct ms_ingress *in, bool *created)
{
	struct rtnl_qdisc *q = rtnl_qdisc_alloc();
	int err;

	*created = false;
	if (!q)
		return -ENOMEM;
	rtnl_tc_set_ifindex(TC_CAST(q), in->ifindex);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_CLSACT);
	rtnl_tc_set_handle(TC_CAST(q), TC_H_MAKE(TC_H_CLSACT, 0));
	err = rtnl_tc_set_kind(TC_CAST(q), "clsact");
	err = err ?: rtnl_qdisc_add(in->sk, q, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_qdisc_put(q);
	if (err == 0)
		*created = true;
	else if (err != -NLE_EXIST)
		return nl_fail(in, err, "add the clsact qdisc");
	return 0;
}

static int clsact_delete(struct nl_sock *sk, int ifindex)
{
	struct rtnl_qdisc *q = rtnl_qdisc_alloc();
	int err;

	if (!q)
		return -ENOMEM;
	rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_CLSACT);
	rtnl_tc_set_handle(TC_CAST(q), TC_H_MAKE(TC_H_CLSACT, 0));
	rtnl_tc_set_kind(TC_CAST(q), "clsact");
	err = rtnl_qdisc_delete(sk, q);
	rtnl_qdisc_put(q);
	return err < 0 && err != -NLE_OBJ_NOTFOUND && err != -NLE_NODEV ? ms_tcnl_errno(err) : 0;
}

/* Deletes every filter of one priority on the ingress hook (absent is fine). */
static int prio_delete(struct nl_sock *sk, int ifindex, __u16 prio)
{
	struct rtnl_cls *cls = rtnl_cls_alloc();
	int err;

	if (!cls)
		return -ENOMEM;
	rtnl_tc_set_ifindex(TC_CAST(cls), ifindex);
	rtnl_tc_set_parent(TC_CAST(cls), INGRESS_PARENT);
	rtnl_cls_set_prio(cls, prio);
	rtnl_cls_set_protocol(cls, prio == MS_INGRESS_PRIO_MGMT4 || prio == MS_INGRESS_PRIO_MIG4
				       ? ETH_P_IP
				       : ETH_P_IPV6);
	rtnl_tc_set_kind(TC_CAST(cls), "u32");
	err = rtnl_cls_delete(sk, cls, 0);
	rtnl_cls_put(cls);
	/* No filter of that priority: ENOENT; no clsact at all: EINVAL. */
	if (err == -NLE_OBJ_NOTFOUND || err == -NLE_INVAL || err == -NLE_NODEV)
		return 0;
	return err < 0 ? ms_tcnl_errno(err) : 0;
}

/*
 * One u32 entry: TCP of the family of prio whose port (source for the
 * management priorities, destination for the migration ones) matches
 * port/mask; the migration ones redirect to the IFB.
 */
static int filter_add(struct ms_ingress *in, __u16 prio, __u16 port, __u16 mask)
{
	bool v4 = prio == MS_INGRESS_PRIO_MGMT4 || prio == MS_INGRESS_PRIO_MIG4;
	bool mig = prio == MS_INGRESS_PRIO_MIG4 || prio == MS_INGRESS_PRIO_MIG6;
	__u32 port_val = mig ? port : (__u32)port << 16;
	__u32 port_mask = mig ? mask : (__u32)mask << 16;
	struct rtnl_act *act = NULL;
	struct rtnl_cls *cls;
	int err;

	cls = rtnl_cls_alloc();
	if (!cls)
		return -ENOMEM;
	rtnl_tc_set_ifindex(TC_CAST(cls), in->ifindex);
	rtnl_tc_set_parent(TC_CAST(cls), INGRESS_PARENT);
	rtnl_cls_set_prio(cls, prio);
	rtnl_cls_set_protocol(cls, v4 ? ETH_P_IP : ETH_P_IPV6);
	err = rtnl_tc_set_kind(TC_CAST(cls), "u32");
	if (v4) {
		/* No options (the ports are at a fixed offset), not a later fragment, TCP. */
		err =
		    err ?: rtnl_u32_add_key_uint32(cls, 0x05000000, 0x0f000000, IP4_VER_IHL_OFF, 0);
		err = err ?: rtnl_u32_add_key_uint32(cls, 0, 0x00001fff, IP4_FRAG_OFF, 0);
		err = err ?: rtnl_u32_add_key_uint32(cls, 0x00060000, 0x00ff0000, IP4_PROTO_OFF, 0);
		err = err ?: rtnl_u32_add_key_uint32(cls, port_val, port_mask, IP4_PORTS_OFF, 0);
	} else {
		err =
		    err ?: rtnl_u32_add_key_uint32(cls, 0x00000600, 0x0000ff00, IP6_NEXTHDR_OFF, 0);
		err = err ?: rtnl_u32_add_key_uint32(cls, port_val, port_mask, IP6_PORTS_OFF, 0);
	}
	err = err ?: rtnl_u32_set_cls_terminal(cls);
	if (!err && mig) {
		act = rtnl_act_alloc();
		if (!act)
			err = -NLE_NOMEM;
		err = err ?: rtnl_tc_set_kind(TC_CAST(act), "mirred");
		err = err ?: rtnl_mirred_set_action(act, TCA_EGRESS_REDIR);
		err = err ?: rtnl_mirred_set_policy(act, TC_ACT_STOLEN);
		err = err ?: rtnl_mirred_set_ifindex(act, (uint32_t)in->ifb_ifindex);
		err = err ?: rtnl_u32_add_action(cls, act);
	}
	err = err ?: rtnl_cls_add(in->sk, cls, NLM_F_CREATE);
	if (act)
		rtnl_act_put(act);
	rtnl_cls_put(cls);
	if (err < 0)
		return nl_fail(in, err,
			       mig ? "add a migration ingress filter"
				   : "add a management ingress filter");
	return 0;
}

static void filters_delete(struct nl_sock *sk, int ifindex)
{
	for (size_t i = 0; i < sizeof(prios) / sizeof(prios[0]); i++) {
		int err = prio_delete(sk, ifindex, prios[i]);

		if (err)
			ms_warn(
			    "ingress: ifindex %d: cannot delete the filters of priority %#x: %s",
			    ifindex, prios[i], strerror(-err));
	}
}

/* Replaces the four priorities with filters for p's ports. */
static int filters_install(struct ms_ingress *in, const struct ms_ingress_params *p)
{
	__u16 values[MS_INGRESS_PORT_BLOCKS_MAX], masks[MS_INGRESS_PORT_BLOCKS_MAX];
	int n, err = 0;

	n = ms_ingress_port_blocks(p->migration_port_min, p->migration_port_max, values, masks,
				   MS_INGRESS_PORT_BLOCKS_MAX);
	if (n < 0) {
		ms_err("ingress: migration ports %u-%u: %s", p->migration_port_min,
		       p->migration_port_max, strerror(-n));
		return n;
	}
	filters_delete(in->sk, in->ifindex);
	for (size_t i = 0; !err && i < p->n_mgmt_ports; i++) {
		err = filter_add(in, MS_INGRESS_PRIO_MGMT4, p->mgmt_ports[i], 0xffff);
		err = err ?: filter_add(in, MS_INGRESS_PRIO_MGMT6, p->mgmt_ports[i], 0xffff);
	}
	for (int i = 0; !err && i < n; i++) {
		err = filter_add(in, MS_INGRESS_PRIO_MIG4, values[i], masks[i]);
		err = err ?: filter_add(in, MS_INGRESS_PRIO_MIG6, values[i], masks[i]);
	}
	if (err)
		filters_delete(in->sk, in->ifindex);
	return err;
}

static int params_check(const struct ms_ingress_params *p)
{
	if (!p || p->ifindex <= 0)
		return -ENODEV;
	if (p->cap_bps < MS_HTB_MIN_RATE_BPS || p->n_mgmt_ports > MS_INGRESS_MGMT_PORTS_MAX ||
	    (p->n_mgmt_ports && !p->mgmt_ports) || !p->migration_port_min ||
	    p->migration_port_min > p->migration_port_max)
		return -EINVAL;
	return 0;
}

static void params_keep(struct ms_ingress *in, const struct ms_ingress_params *p)
{
	in->p = *p;
	memcpy(in->mgmt_ports, p->mgmt_ports, p->n_mgmt_ports * sizeof(p->mgmt_ports[0]));
	in->p.mgmt_ports = in->mgmt_ports;
}

int ms_ingress_install(const struct ms_ingress_params *p, struct ms_ingress **out)
{
	bool ifb_created = false;
	struct ms_ingress *in;
	int err;

	err = params_check(p);
	if (err)
		return err;
	in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	in->ifindex = p->ifindex;
	err = ms_ingress_ifb_name(p->ifindex, in->ifb_name, sizeof(in->ifb_name));
	err = err ?: ms_tcnl_connect(&in->sk);
	err = err ?: link_mtu(in);
	err = err
		  ?: ms_tcnl_ifb_open(in->sk, in->ifb_name, 0, IFB_TXQLEN, &in->ifb_ifindex,
				      &ifb_created);
	err = err ?: ifb_root(in);
	err = err ?: ifb_class(in, p->cap_bps);
	err = err ?: clsact_ensure(in, &in->clsact_created);
	err = err ?: filters_install(in, p);
	if (err) {
		if (in->clsact_created)
			clsact_delete(in->sk, in->ifindex);
		if (ifb_created)
			ms_tcnl_ifb_delete(in->sk, in->ifb_name, NULL);
		ms_ingress_free(in);
		return err;
	}
	params_keep(in, p);
	ms_info("ingress: %s: incoming migration traffic (TCP to %u-%u) capped at %llu bit/s "
		"on %s%s",
		in->ifb_name, p->migration_port_min, p->migration_port_max,
		(unsigned long long)p->cap_bps, in->ifb_name, ifb_created ? "" : " (taken over)");
	*out = in;
	return 0;
}

static bool ports_differ(const struct ms_ingress_params *a, const struct ms_ingress_params *b)
{
	return a->migration_port_min != b->migration_port_min ||
	       a->migration_port_max != b->migration_port_max ||
	       a->n_mgmt_ports != b->n_mgmt_ports ||
	       (a->n_mgmt_ports &&
		memcmp(a->mgmt_ports, b->mgmt_ports, a->n_mgmt_ports * sizeof(a->mgmt_ports[0])));
}

int ms_ingress_apply(struct ms_ingress *in, const struct ms_ingress_params *p)
{
	int err;

	err = params_check(p);
	if (err)
		return err;
	if (p->ifindex != in->ifindex)
		return -EINVAL;
	if (p->cap_bps != in->p.cap_bps) {
		err = ifb_class(in, p->cap_bps);
		if (err)
			return err;
	}
	if (ports_differ(p, &in->p)) {
		err = filters_install(in, p);
		if (err) {
			/* Back to the filters and cap in force before. */
			if (filters_install(in, &in->p))
				ms_err("ingress: ifindex %d: the previous filters could not be put "
				       "back; incoming migrations are not capped",
				       in->ifindex);
			if (p->cap_bps != in->p.cap_bps)
				ifb_class(in, in->p.cap_bps);
			return err;
		}
	}
	params_keep(in, p);
	return 0;
}

int ms_ingress_read(struct ms_ingress *in, struct ms_ingress_stats *st)
{
	struct nl_cache *cache = NULL;
	struct rtnl_class *cls;
	int err;

	err = rtnl_class_alloc_cache(in->sk, in->ifb_ifindex, &cache);
	if (err < 0)
		return nl_fail(in, err, "read the IFB's classes");
	cls = rtnl_class_get(cache, in->ifb_ifindex, IFB_HANDLE(MS_INGRESS_MINOR));
	if (!cls) {
		nl_cache_free(cache);
		return -ENOENT;
	}
	st->bytes = rtnl_tc_get_stat(TC_CAST(cls), RTNL_TC_BYTES);
	st->packets = rtnl_tc_get_stat(TC_CAST(cls), RTNL_TC_PACKETS);
	st->drops = rtnl_tc_get_stat(TC_CAST(cls), RTNL_TC_DROPS);
	st->backlog_bytes = (__u32)rtnl_tc_get_stat(TC_CAST(cls), RTNL_TC_BACKLOG);
	rtnl_class_put(cls);
	nl_cache_free(cache);
	return 0;
}

int ms_ingress_remove(struct ms_ingress *in)
{
	int err, ret = 0;

	if (!in)
		return 0;
	filters_delete(in->sk, in->ifindex);
	err = ms_tcnl_ifb_delete(in->sk, in->ifb_name, NULL);
	if (err) {
		ms_err("ingress: cannot delete %s: %s", in->ifb_name, strerror(-err));
		ret = err;
	}
	if (in->clsact_created) {
		err = clsact_delete(in->sk, in->ifindex);
		if (err)
			ret = ret ?: err;
	}
	ms_ingress_free(in);
	return ret;
}

void ms_ingress_free(struct ms_ingress *in)
{
	if (!in)
		return;
	nl_socket_free(in->sk);
	free(in);
}

int ms_ingress_cleanup(int ifindex)
{
	char name[IF_NAMESIZE];
	struct nl_sock *sk;
	int err;

	err = ms_ingress_ifb_name(ifindex, name, sizeof(name));
	if (err)
		return err;
	err = ms_tcnl_connect(&sk);
	if (err)
		return err;
	filters_delete(sk, ifindex);
	err = ms_tcnl_ifb_delete(sk, name, NULL);
	nl_socket_free(sk);
	if (err)
		ms_err("ingress: cannot delete %s: %s", name, strerror(-err));
	return err;
}
