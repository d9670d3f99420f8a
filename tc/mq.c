// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The multiqueue backend's look at the NIC's queue, IFB device and redirect
 * filter (tc/mq.h), over rtnetlink with libnl-route-3. Each call opens its
 * own socket: these are set-up and tear-down steps, not a per-cycle path.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <net/if.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>

#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/cache.h>
#include <netlink/route/link.h>
#include <netlink/route/tc.h>
#include <netlink/route/classifier.h>
#include <netlink/route/action.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/act/mirred.h>

#include "log.h"
#include "mq.h"
#include "tcnl.h"

#define MQ_IFB_PREFIX "msq"
/*
 * The node id of our u32 entry, without a hash table: the kernel puts it in
 * the root table of our priority, whichever that is. u32 numbers its tables
 * per qdisc (800:, 801:, ...), shared by clsact's ingress and egress and by
 * every u32 priority on them, so another u32 filter on the NIC (an
 * operator's, the ingress backstop's) may hold 800: already.
 */
#define MQ_U32_NODE 0x800U

int ms_mq_ifb_name(int nic_ifindex, char *buf, size_t len)
{
	int n;

	if (nic_ifindex <= 0 || !buf)
		return -EINVAL;
	n = snprintf(buf, len, MQ_IFB_PREFIX "%d", nic_ifindex);
	return n < 0 || (size_t)n >= len || n >= IF_NAMESIZE ? -ENAMETOOLONG : 0;
}

int ms_mq_ifb_state(int nic_ifindex, bool *up)
{
	struct rtnl_link *link = NULL;
	char name[IF_NAMESIZE];
	int err;

	if (up)
		*up = false;
	err = ms_mq_ifb_name(nic_ifindex, name, sizeof(name));
	err = err ?: ms_tcnl_link_read(0, name, &link);
	if (err == -ENODEV)
		return -ENOENT;
	if (err)
		return err;
	err = rtnl_link_get_ifindex(link);
	if (up)
		*up = rtnl_link_get_flags(link) & IFF_UP;
	rtnl_link_put(link);
	return err;
}

int ms_mq_ifb_find(int nic_ifindex)
{
	return ms_mq_ifb_state(nic_ifindex, NULL);
}

/*
 * Kinds of device the kernel gives no queue (IFF_NO_QUEUE): what their root
 * reads once they are up. Before, every device's reads noop.
 */
static bool kind_has_no_queue(const char *kind)
{
	static const char *const kinds[] = {"bond",	   "team",   "vlan",   "macvlan",
					    "macvtap",	   "ipvlan", "bridge", "veth",
					    "openvswitch", "vxlan",  "geneve"};

	for (size_t i = 0; kind && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kind, kinds[i]) == 0)
			return true;
	return false;
}

int ms_mq_nic_noqueue(int nic_ifindex, bool *noqueue)
{
	struct rtnl_link *nic = NULL;
	const char *root;
	int err;

	if (nic_ifindex <= 0 || !noqueue)
		return -EINVAL;
	err = ms_tcnl_link_read(nic_ifindex, NULL, &nic);
	if (err)
		return err;
	root = rtnl_link_get_qdisc(nic);
	if (root && strcmp(root, "noop") == 0)
		*noqueue = kind_has_no_queue(rtnl_link_get_type(nic));
	else
		*noqueue = root && strcmp(root, "noqueue") == 0;
	rtnl_link_put(nic);
	return 0;
}

int ms_mq_ifb_open(int nic_ifindex, int *ifb_ifindex)
{
	struct rtnl_link *nic = NULL;
	char name[IF_NAMESIZE];
	struct nl_sock *sk;
	bool created = false;
	unsigned int txqlen;
	int err;

	err = ms_mq_ifb_name(nic_ifindex, name, sizeof(name));
	err = err ?: ms_tcnl_connect(&sk);
	if (err)
		return err;
	err = ms_tcnl_link_get(sk, nic_ifindex, NULL, &nic);
	if (err) {
		ms_err("mq: ifindex %d: %s", nic_ifindex, strerror(-err));
		goto out;
	}
	/*
	 * HTB sizes its buckets by the MTU: a frame above the IFB's would be a
	 * giant. The IFB's own queue length (32) is the limit of every HTB
	 * leaf's FIFO: far too short at multi-Gbit rates.
	 */
	txqlen = rtnl_link_get_txqlen(nic);
	err = ms_tcnl_ifb_open(sk, name, rtnl_link_get_mtu(nic),
			       txqlen > MS_MQ_IFB_TXQLEN_MIN ? txqlen : MS_MQ_IFB_TXQLEN_MIN,
			       ifb_ifindex, &created);
	if (!err)
		ms_info("mq: %s IFB %s (ifindex %d) carries the HTB tree of ifindex %d",
			created ? "created" : "took over", name, *ifb_ifindex, nic_ifindex);
out:
	rtnl_link_put(nic);
	nl_socket_free(sk);
	return err;
}

/* The filter's identity: NIC, clsact egress, our priority, all protocols, u32. */
static struct rtnl_cls *redirect_cls(int nic_ifindex)
{
	struct rtnl_cls *cls = rtnl_cls_alloc();

	if (!cls)
		return NULL;
	rtnl_tc_set_ifindex(TC_CAST(cls), nic_ifindex);
	rtnl_tc_set_parent(TC_CAST(cls), TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS));
	if (rtnl_tc_set_kind(TC_CAST(cls), "u32") < 0) {
		rtnl_cls_put(cls);
		return NULL;
	}
	rtnl_cls_set_prio(cls, MS_MQ_REDIRECT_PRIO);
	rtnl_cls_set_protocol(cls, ETH_P_ALL);
	return cls;
}

static void find_ours(struct nl_object *obj, void *arg)
{
	struct rtnl_cls *cls = (struct rtnl_cls *)obj;
	__u32 handle = rtnl_tc_get_handle(TC_CAST(cls)), *found = arg;

	/* The listing also shows the table itself (node 0), which is not an entry. */
	if (rtnl_cls_get_prio(cls) == MS_MQ_REDIRECT_PRIO && TC_U32_NODE(handle) &&
	    strcmp(rtnl_tc_get_kind(TC_CAST(cls)) ?: "", "u32") == 0)
		*found = handle;
}

/*
 * Our filter as the kernel lists it: *handle is its entry's full handle (in
 * whichever table u32 gave our priority), 0 if there is none.
 */
static int redirect_find(struct nl_sock *sk, int nic_ifindex, __u32 *handle)
{
	struct nl_cache *cache = NULL;
	int err;

	*handle = 0;
	err =
	    rtnl_cls_alloc_cache(sk, nic_ifindex, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS), &cache);
	if (err < 0)
		return ms_tcnl_errno(err);
	nl_cache_foreach(cache, find_ours, handle);
	nl_cache_free(cache);
	return 0;
}

int ms_mq_redirect_set(int nic_ifindex, int ifb_ifindex)
{
	struct rtnl_cls *cls = NULL;
	struct rtnl_act *act = NULL;
	struct nl_sock *sk;
	__u32 handle;
	int err;

	if (nic_ifindex <= 0 || ifb_ifindex <= 0)
		return -EINVAL;
	err = ms_tcnl_connect(&sk);
	if (err)
		return err;
	/* Ours there already (adoption): changed in place, by its handle. */
	err = redirect_find(sk, nic_ifindex, &handle);
	if (err) {
		ms_err("mq: list the egress filters of ifindex %d: %s", nic_ifindex,
		       strerror(-err));
		goto out;
	}
	cls = redirect_cls(nic_ifindex);
	act = rtnl_act_alloc();
	if (!cls || !act || rtnl_tc_set_kind(TC_CAST(act), "mirred") < 0) {
		err = -ENOMEM;
		goto out;
	}
	rtnl_tc_set_handle(TC_CAST(cls), handle ?: MQ_U32_NODE);
	/* Every packet that reaches this filter: the classifier lets only migrations on. */
	if (rtnl_u32_add_key_uint32(cls, 0, 0, 0, 0) < 0 || rtnl_u32_set_cls_terminal(cls) < 0 ||
	    rtnl_mirred_set_action(act, TCA_EGRESS_REDIR) < 0 ||
	    rtnl_mirred_set_policy(act, TC_ACT_STOLEN) < 0 ||
	    rtnl_mirred_set_ifindex(act, (uint32_t)ifb_ifindex) < 0 ||
	    rtnl_u32_add_action(cls, act) < 0) {
		err = -ENOMEM;
		goto out;
	}
	/* No NLM_F_EXCL: a filter in our slot is changed in place. */
	err = rtnl_cls_add(sk, cls, NLM_F_CREATE);
	if (err < 0) {
		ms_err("mq: redirect filter on ifindex %d egress: %s", nic_ifindex,
		       nl_geterror(err));
		err = ms_tcnl_errno(err);
	}
out:
	rtnl_act_put(act);
	rtnl_cls_put(cls);
	nl_socket_free(sk);
	return err;
}

int ms_mq_redirect_present(int nic_ifindex, bool *present)
{
	struct nl_sock *sk;
	__u32 handle = 0;
	int err;

	*present = false;
	err = ms_tcnl_connect(&sk);
	if (err)
		return err;
	err = redirect_find(sk, nic_ifindex, &handle);
	*present = !err && handle;
	nl_socket_free(sk);
	return err;
}

int ms_mq_remove(int nic_ifindex, bool *had_ifb)
{
	struct rtnl_cls *cls = NULL;
	char name[IF_NAMESIZE];
	bool deleted = false;
	struct nl_sock *sk;
	int err;

	if (had_ifb)
		*had_ifb = false;
	err = ms_mq_ifb_name(nic_ifindex, name, sizeof(name));
	err = err ?: ms_tcnl_connect(&sk);
	if (err)
		return err;
	cls = redirect_cls(nic_ifindex);
	if (!cls) {
		err = -ENOMEM;
		goto out;
	}
	/* No handle: the whole u32 instance at our priority goes. */
	err = rtnl_cls_delete(sk, cls, 0);
	if (err < 0 && err != -NLE_OBJ_NOTFOUND && err != -NLE_NODEV && err != -NLE_INVAL) {
		ms_err("mq: remove the redirect filter of ifindex %d: %s", nic_ifindex,
		       nl_geterror(err));
		err = ms_tcnl_errno(err);
		goto out;
	}
	err = ms_tcnl_ifb_delete(sk, name, &deleted);
	if (err || !deleted)
		goto out;
	if (had_ifb)
		*had_ifb = true;
	ms_info("mq: removed the IFB %s and the redirect of ifindex %d", name, nic_ifindex);
out:
	rtnl_cls_put(cls);
	nl_socket_free(sk);
	return err;
}

int ms_mq_ifb_remove_orphan(int old_nic_ifindex, bool *removed)
{
	struct rtnl_link *nic = NULL;
	char name[IF_NAMESIZE];
	struct nl_sock *sk;
	bool deleted = false;
	int err;

	if (removed)
		*removed = false;
	err = ms_mq_ifb_name(old_nic_ifindex, name, sizeof(name));
	err = err ?: ms_tcnl_connect(&sk);
	if (err)
		return err;
	/* Still there: its IFB is its own agent's (or the next one's) to keep. */
	err = ms_tcnl_link_get(sk, old_nic_ifindex, NULL, &nic);
	if (!err) {
		rtnl_link_put(nic);
		goto out;
	}
	if (err != -ENODEV)
		goto out;
	err = ms_tcnl_ifb_delete(sk, name, &deleted);
	if (!err && deleted)
		ms_info("mq: removed the IFB %s of a NIC that is gone (ifindex %d)", name,
			old_nic_ifindex);
	if (removed)
		*removed = !err && deleted;
out:
	nl_socket_free(sk);
	return err;
}
