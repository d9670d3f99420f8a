/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * tc's rtnetlink plumbing over libnl-route-3, written once for the modules
 * of tc/ (the HTB tree, the ingress backstop, the multiqueue backend):
 * libnl's error codes as -errno, a connected route socket, a link looked up
 * by index or name, and the IFB devices the ingress backstop and the
 * multiqueue backend own, which are found again by name after a restart.
 * Logs only through include/log.h.
 *
 * Every function returns 0 or -errno.
 */
#ifndef MS_TC_TCNL_H
#define MS_TC_TCNL_H

#include <stdbool.h>
#include <linux/types.h>

struct nl_sock;
struct rtnl_link;

/* libnl folds kernel errnos into NLE_* codes; this unfolds them (-EIO for the rest). */
int ms_tcnl_errno(int nlerr);

/* A route socket, allocated and connected; the caller frees it with nl_socket_free(). */
int ms_tcnl_connect(struct nl_sock **out);

/*
 * The link with that ifindex (name NULL) or that name, for the caller to
 * rtnl_link_put(); -ENODEV when there is none.
 */
int ms_tcnl_link_get(struct nl_sock *sk, int ifindex, const char *name, struct rtnl_link **out);
/* The same over a socket of its own, for one look at a link. */
int ms_tcnl_link_read(int ifindex, const char *name, struct rtnl_link **out);

/*
 * The IFB named name, up: created with mtu (0: the kernel's default) and
 * txqlen, or the IFB of that name a previous agent left, set up if it was
 * down. *ifb_ifindex is its ifindex and *created says which. -EEXIST when a
 * device of that name is not an IFB (it is left alone).
 */
int ms_tcnl_ifb_open(struct nl_sock *sk, const char *name, __u32 mtu, __u32 txqlen,
		     int *ifb_ifindex, bool *created);

/*
 * Deletes the IFB named name. 0 as well when there is none, or when the
 * device of that name is not an IFB (left alone, with a warning);
 * *deleted (may be NULL) says whether one was deleted.
 */
int ms_tcnl_ifb_delete(struct nl_sock *sk, const char *name, bool *deleted);

#endif /* MS_TC_TCNL_H */
