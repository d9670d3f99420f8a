/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The physical link behind the shaped interface, for link_mbps = auto. The
 * interface an admin names is often not a NIC: a bridge whose ports are VM
 * taps (10000 Mb/s each, a driver default) next to the uplink, a VLAN or
 * macvlan over a bond, a veth. Their own ethtool speed says nothing about
 * the wire. This module follows the stack down to the physical ports and
 * derives what the interface can really send, or says it cannot:
 *
 *   bridge        its ports that lead to a physical link (never a guest's
 *                 tap or veth); with several, the slowest, since any one of
 *                 them may carry the migration
 *   bond          by mode: active-backup the active slave; 802.3ad,
 *                 balance-xor/tlb/alb the sum of the active slaves (one flow
 *                 cannot exceed one slave: flow_max_mbps); balance-rr the
 *                 sum; broadcast the slowest active slave
 *   vlan, macvlan, macvtap, ipvlan, ipvtap
 *                 their lower device (IFLA_LINK)
 *   NIC           (no IFLA_INFO_KIND, ARPHRD_ETHER) its speed, if it has
 *                 carrier and knows one
 *   tun/tap, veth only when an admin set a speed (ethtool -s) other than the
 *                 drivers' default of 10000 Mb/s; a guest's port never is
 *
 * Anything else (dummy, vxlan, team, a lower device in another namespace)
 * ends the derivation with an error whose message tells to set link_mbps.
 *
 * The topology comes from one RTM_GETLINK dump of the namespace and the
 * speeds from ethtool netlink, both through a reader the caller can replace:
 * the derivation itself is pure, and tested over recorded data.
 */
#ifndef MS_PHYSLINK_H
#define MS_PHYSLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

/* What tun and veth report when nobody set a speed: not a link's rate. */
#define MS_PHYSLINK_VIRTUAL_DEFAULT_MBPS 10000
/* Devices the derivation names in its answer (the path down, the ports). */
#define MS_PHYSLINK_MAX_DEVS 16

/* One interface as RTM_GETLINK reports it (only what the derivation reads). */
struct ms_physlink_dev {
	int ifindex;
	char name[16];	   /* IFNAMSIZ */
	char kind[16];	   /* IFLA_INFO_KIND; "" for a driver without one (a NIC) */
	__u16 type;	   /* ARPHRD_* */
	int master;	   /* IFLA_MASTER: the bridge or bond it is a port of; 0 none */
	int link;	   /* IFLA_LINK: a vlan's or macvlan's lower device; 0 none,
			      -1 in another network namespace (IFLA_LINK_NETNSID) */
	bool carrier;	   /* IFF_UP and IFF_LOWER_UP */
	__u8 bond_mode;	   /* kind "bond": IFLA_BOND_MODE (BOND_MODE_*) */
	int bond_active;   /* kind "bond": IFLA_BOND_ACTIVE_SLAVE; 0 none */
	bool slave_active; /* a bond's slave: IFLA_BOND_SLAVE_STATE is active */
};

/*
 * Where the derivation reads from. snapshot: every interface of the
 * namespace, in an array the caller free()s. speed_mbps: a device's speed
 * in Mbit/s, -ENODATA if it knows none, other -errno on failure.
 */
struct ms_physlink_reader {
	int (*snapshot)(void *ctx, struct ms_physlink_dev **devs, size_t *n);
	int (*speed_mbps)(void *ctx, int ifindex, __u32 *mbps);
};

struct ms_physlink_speed {
	__u32 link_mbps;     /* what the interface can send in all */
	__u32 flow_max_mbps; /* what one flow can reach (one slave of a hashing bond) */
	/*
	 * Every device the answer depends on (the interface, the stack below
	 * it, the ports and slaves looked at): a change of any of them (a new
	 * port, an active-slave failover, carrier, an ethtool speed) calls for
	 * a new derivation. n_devs may be less than the devices looked at when
	 * more than MS_PHYSLINK_MAX_DEVS were.
	 */
	int devs[MS_PHYSLINK_MAX_DEVS];
	size_t n_devs;
};

/*
 * Derives the physical link of ifname over r. On success fills *out and
 * writes to why how it was found ("br0: port eth0 1000 Mb/s"). Returns
 * -ENODEV if there is no such interface, -ENODATA if no trustworthy speed
 * was found (why says why, and to set link_mbps), -ELOOP for a stack deeper
 * than the kernel allows, or the reader's -errno.
 */
int ms_physlink_derive(const struct ms_physlink_reader *r, void *ctx, const char *ifname,
		       struct ms_physlink_speed *out, char *why, size_t why_len);

/* The same over the kernel: rtnetlink and ethtool netlink of the caller's namespace. */
int ms_physlink_derive_system(const char *ifname, struct ms_physlink_speed *out, char *why,
			      size_t why_len);

/* ms_physlink_derive_system() for link_mbps = auto: the link's Mbit/s only. */
int ms_physlink_speed_mbps(const char *ifname, __u32 *mbps, char *why, size_t why_len);

#endif /* MS_PHYSLINK_H */
