/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A link's speed through ethtool netlink (the generic netlink family
 * "ethtool", over libmnl): what `ethtool IFACE` prints as Speed. Unlike
 * /sys/class/net/IFACE/speed it answers for the caller's network namespace,
 * whichever one sysfs was mounted in.
 *
 * It also listens to ethtool's "monitor" group: a speed set with `ethtool -s`
 * is announced there, and on devices that do not renegotiate (tun/tap,
 * virtio_net) nothing else tells.
 */
#ifndef MS_ETHTOOL_H
#define MS_ETHTOOL_H

#include <linux/types.h>

struct ms_ethtool; /* owns two generic netlink sockets: requests, and the monitor group */

/* -EOPNOTSUPP if the kernel has no ethtool netlink (CONFIG_ETHTOOL_NETLINK). */
int ms_ethtool_open(struct ms_ethtool **out);
void ms_ethtool_close(struct ms_ethtool *e);

/*
 * The speed of ifindex in Mbit/s as its driver reports it now: a bond the
 * sum of its active ports, a bridge its fastest port that is up, VM taps
 * (10000 by default) included. -ENODATA if the driver does not know it (a
 * NIC without carrier, a bridge with no port up), -EOPNOTSUPP if the driver
 * reports no link settings at all (lo, ifb, dummy), -ENODEV if
 * there is no such interface, -EINVAL for ifindex <= 0, -ETIMEDOUT if the
 * kernel does not answer within MS_NLREQ_TIMEOUT_MS.
 */
int ms_ethtool_speed_mbps(struct ms_ethtool *e, int ifindex, __u32 *mbps);

/*
 * The TX queues of ifindex as its driver's channels say (TX-only plus
 * combined channels; ethtool -l), which dataplane_backend = auto counts.
 * -EOPNOTSUPP if the driver reports no channels (some single-queue NICs,
 * and bonds, VLANs and bridges),
 * -ENODEV if there is no such interface, -EINVAL for ifindex <= 0.
 */
int ms_ethtool_tx_queues(struct ms_ethtool *e, int ifindex, __u32 *queues);

/* Readable when ethtool announces something (non-blocking; for epoll). */
int ms_ethtool_fd(const struct ms_ethtool *e);

/*
 * Reads what is pending on ms_ethtool_fd(). Returns 1 if the link modes
 * (speed, duplex, autonegotiation) of ifindex (0: of any interface) were set
 * meanwhile, or
 * announcements were lost, so its speed should be read again; 0 if not;
 * -errno on failure.
 */
int ms_ethtool_dispatch(struct ms_ethtool *e, int ifindex);

#endif /* MS_ETHTOOL_H */
