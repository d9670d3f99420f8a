/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The multiqueue backend's plumbing on the NIC, over rtnetlink with
 * libnl-route-3: whether the NIC has a queue of its own (which
 * dataplane_backend = auto asks), an IFB device that carries the HTB tree
 * (tc/htb.h, built on the IFB as on any link), and one u32 filter on the
 * NIC's clsact egress, after the classifier, that redirects to the IFB every
 * packet the classifier passes on (TC_ACT_UNSPEC: the migration classes).
 * The IFB sends each
 * packet back to the NIC once it is shaped. The NIC's root qdisc (mq and one
 * pfifo_fast per TX queue; noqueue on a bond, VLAN or bridge) is never
 * touched, so traffic that needs no shaping takes only its own queue's lock,
 * or none.
 *
 * Why not steer migration packets to one TX queue whose child is the tree:
 * the kernel picks the TX queue after clsact egress, and honours a
 * queue_mapping set there only when act_skbedit asks it to
 * (netdev_xmit_skip_txqueue); a BPF program cannot, and socket-cached
 * queues and XPS override it. And why a filter rather than bpf_redirect():
 * the IFB sends a packet back to skb->skb_iif, which mirred sets to the NIC
 * and bpf_redirect() leaves at 0 (dropped) or the bridged frame's tap.
 *
 * Every function returns 0 or -errno.
 */
#ifndef MS_TC_MQ_H
#define MS_TC_MQ_H

#include <stdbool.h>
#include <stddef.h>

/* The redirect filter's priority on clsact egress: behind the classifier's. */
#define MS_MQ_REDIRECT_PRIO 0xfff0U
/* The IFB's queue length (its HTB leaves' pfifo limit) when the NIC's is shorter. */
#define MS_MQ_IFB_TXQLEN_MIN 1000U

/* The IFB of the NIC nic_ifindex is "msq<nic_ifindex>": one per NIC, found again after a restart.
 */
int ms_mq_ifb_name(int nic_ifindex, char *buf, size_t len);
/* The ifindex of that IFB (> 0), -ENOENT if there is none. */
int ms_mq_ifb_find(int nic_ifindex);
/* The same, and *up (may be NULL): whether it is up (down, it drops what is redirected to it). */
int ms_mq_ifb_state(int nic_ifindex, bool *up);
/*
 * Whether the NIC has no queue of its own, for dataplane_backend = auto: its
 * root qdisc is noqueue (a software device that sends from every CPU at
 * once, under no lock of its own, into the queues of the devices under it:
 * a bond, team, VLAN, macvlan or bridge), or, for a device never yet up
 * (whose root reads noop until then), it is of a kind the kernel gives no
 * queue. -ENODEV for a bad nic_ifindex, -EINVAL for nic_ifindex <= 0.
 */
int ms_mq_nic_noqueue(int nic_ifindex, bool *noqueue);
/*
 * Creates the IFB with the NIC's MTU and queue length and sets it up, or
 * takes the one a previous agent left; *ifb_ifindex is its ifindex.
 * -ENODEV for a bad nic_ifindex.
 */
int ms_mq_ifb_open(int nic_ifindex, int *ifb_ifindex);
/*
 * Puts the redirect filter to ifb_ifindex on the NIC's clsact egress, or
 * changes the one there is in place (no moment without it). The clsact
 * qdisc must exist (the classifier's loader creates it).
 */
int ms_mq_redirect_set(int nic_ifindex, int ifb_ifindex);
/* Whether the redirect filter is on the NIC's clsact egress. */
int ms_mq_redirect_present(int nic_ifindex, bool *present);
/*
 * Removes the redirect filter (if the NIC is still there) and the IFB with
 * its tree. *had_ifb (may be NULL) says whether there was an IFB. Nothing
 * there is not an error.
 */
int ms_mq_remove(int nic_ifindex, bool *had_ifb);

/*
 * The IFB named after a NIC that is gone (deleted or re-created with another
 * ifindex while no agent ran; its filter went with it, its IFB did not):
 * deleted, and *removed (may be NULL) says so. Nothing is done while a link
 * with that ifindex exists.
 */
int ms_mq_ifb_remove_orphan(int old_nic_ifindex, bool *removed);

#endif /* MS_TC_MQ_H */
