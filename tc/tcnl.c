// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* tc's rtnetlink plumbing (see tcnl.h). */
#include <errno.h>
#include <string.h>
#include <net/if.h>

#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/route/link.h>

#include "log.h"
#include "tcnl.h"

int ms_tcnl_errno(int nlerr)
{
	switch (nlerr < 0 ? -nlerr : nlerr) {
	case NLE_SUCCESS:
		return 0;
	case NLE_INTR:
		return -EINTR;
	case NLE_BAD_SOCK:
		return -EBADF;
	case NLE_AGAIN:
		return -EAGAIN;
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_EXIST:
		return -EEXIST;
	case NLE_INVAL:
	case NLE_MISSING_ATTR:
	case NLE_NOATTR:
		return -EINVAL;
	case NLE_RANGE:
		return -ERANGE;
	case NLE_MSGSIZE:
		return -EMSGSIZE;
	case NLE_OPNOTSUPP:
		return -EOPNOTSUPP;
	case NLE_AF_NOSUPPORT:
		return -EAFNOSUPPORT;
	case NLE_OBJ_NOTFOUND:
		return -ENOENT;
	case NLE_NOACCESS:
		return -EACCES;
	case NLE_PERM:
		return -EPERM;
	case NLE_BUSY:
		return -EBUSY;
	case NLE_NODEV:
		return -ENODEV;
	case NLE_PROTO_MISMATCH:
		return -EPROTONOSUPPORT;
	default:
		return -EIO;
	}
}

int ms_tcnl_connect(struct nl_sock **out)
{
	struct nl_sock *sk = nl_socket_alloc();
	int err;

	if (!sk)
		return -ENOMEM;
	err = nl_connect(sk, NETLINK_ROUTE);
	if (err < 0) {
		ms_err("tc: netlink connect: %s", nl_geterror(err));
		nl_socket_free(sk);
		return ms_tcnl_errno(err);
	}
	*out = sk;
	return 0;
}

int ms_tcnl_link_get(struct nl_sock *sk, int ifindex, const char *name, struct rtnl_link **out)
{
	int err = rtnl_link_get_kernel(sk, name ? 0 : ifindex, name, out);

	/* A missing link comes back as "object not found" or "no such device". */
	if (err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV)
		return -ENODEV;
	return err < 0 ? ms_tcnl_errno(err) : 0;
}

int ms_tcnl_link_read(int ifindex, const char *name, struct rtnl_link **out)
{
	struct nl_sock *sk;
	int err = ms_tcnl_connect(&sk);

	if (err)
		return err;
	err = ms_tcnl_link_get(sk, ifindex, name, out);
	nl_socket_free(sk);
	return err;
}

static bool is_ifb(struct rtnl_link *link)
{
	const char *kind = rtnl_link_get_type(link);

	return kind && strcmp(kind, "ifb") == 0;
}

static int ifb_create(struct nl_sock *sk, const char *name, __u32 mtu, __u32 txqlen)
{
	struct rtnl_link *ifb = rtnl_link_alloc();
	int err;

	if (!ifb)
		return -ENOMEM;
	err = rtnl_link_set_type(ifb, "ifb");
	if (err < 0)
		goto out;
	rtnl_link_set_name(ifb, name);
	if (mtu)
		rtnl_link_set_mtu(ifb, mtu);
	rtnl_link_set_txqlen(ifb, txqlen);
	rtnl_link_set_flags(ifb, IFF_UP);
	err = rtnl_link_add(sk, ifb, NLM_F_CREATE | NLM_F_EXCL);
	if (err < 0)
		ms_err("tc: create the IFB %s: %s%s", name, nl_geterror(err),
		       err == -NLE_OPNOTSUPP ? " (the kernel needs CONFIG_IFB)" : "");
out:
	rtnl_link_put(ifb);
	return err < 0 ? ms_tcnl_errno(err) : 0;
}

static int link_up(struct nl_sock *sk, struct rtnl_link *link)
{
	struct rtnl_link *change;
	int err;

	if (rtnl_link_get_flags(link) & IFF_UP)
		return 0;
	change = rtnl_link_alloc();
	if (!change)
		return -ENOMEM;
	rtnl_link_set_flags(change, IFF_UP);
	err = rtnl_link_change(sk, link, change, 0);
	rtnl_link_put(change);
	return err < 0 ? ms_tcnl_errno(err) : 0;
}

int ms_tcnl_ifb_open(struct nl_sock *sk, const char *name, __u32 mtu, __u32 txqlen,
		     int *ifb_ifindex, bool *created)
{
	struct rtnl_link *ifb = NULL;
	int err;

	*created = false;
	err = ms_tcnl_link_get(sk, 0, name, &ifb);
	if (err == -ENODEV) {
		err = ifb_create(sk, name, mtu, txqlen);
		*created = !err;
		err = err ?: ms_tcnl_link_get(sk, 0, name, &ifb);
	}
	if (err)
		return err;
	if (!is_ifb(ifb)) {
		ms_err("tc: %s exists and is not an IFB; not touching it", name);
		err = -EEXIST;
		goto out;
	}
	err = link_up(sk, ifb);
	if (err) {
		ms_err("tc: set the IFB %s up: %s", name, strerror(-err));
		goto out;
	}
	*ifb_ifindex = rtnl_link_get_ifindex(ifb);
out:
	rtnl_link_put(ifb);
	return err;
}

int ms_tcnl_ifb_delete(struct nl_sock *sk, const char *name, bool *deleted)
{
	struct rtnl_link *ifb = NULL;
	int err;

	if (deleted)
		*deleted = false;
	err = ms_tcnl_link_get(sk, 0, name, &ifb);
	if (err == -ENODEV)
		return 0;
	if (err)
		return err;
	if (!is_ifb(ifb)) {
		ms_warn("tc: %s is not an IFB; left as it is", name);
		goto out;
	}
	err = rtnl_link_delete(sk, ifb);
	if (err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV) {
		err = 0;
	} else if (err < 0) {
		ms_err("tc: delete the IFB %s: %s", name, nl_geterror(err));
		err = ms_tcnl_errno(err);
	} else if (deleted) {
		*deleted = true;
	}
out:
	rtnl_link_put(ifb);
	return err;
}
