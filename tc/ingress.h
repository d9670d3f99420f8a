/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The receive-side backstop on the shared NIC: incoming migration traffic
 * (TCP to a port of the migration range) is redirected at the NIC's clsact
 * ingress hook to an IFB device, whose HTB caps it at the incoming budget.
 * Management traffic is never redirected. Built over rtnetlink with
 * libnl-route-3. Layout:
 *
 *   NIC clsact ingress, u32 filters (first match wins):
 *     prio MS_INGRESS_PRIO_MGMT4/6   TCP from a management port: no action
 *                                    (replies to this host's own management
 *                                    connections, whose ephemeral port may
 *                                    fall in the migration range)
 *     prio MS_INGRESS_PRIO_MIG4/6    TCP to the migration range: mirred
 *                                    redirect to the IFB (IPv4 without
 *                                    options and not a later fragment; IPv6
 *                                    with TCP as the first next header)
 *   IFB "msi<ifindex>": htb 1:, default 1:10
 *     `- 1:10  rate = ceil = cap
 *
 * Everything is named after the NIC's ifindex and these priorities, so a
 * restarted agent takes the backstop over by installing it again (the IFB
 * and its tree are reused, the filters replaced), and --cleanup finds it
 * without a record. Ingress shaping acts after the link's own queue: it
 * drops what exceeds the cap, and the senders' TCP slows down in reaction.
 *
 * Every function returns 0 or -errno and logs the reason of a failure.
 * Rates are in bits per second.
 */
#ifndef MS_TC_INGRESS_H
#define MS_TC_INGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#define MS_INGRESS_PRIO_MGMT4 0xC100U
#define MS_INGRESS_PRIO_MGMT6 0xC101U
#define MS_INGRESS_PRIO_MIG4  0xC102U
#define MS_INGRESS_PRIO_MIG6  0xC103U
/* The HTB class of the IFB that carries the redirected traffic. */
#define MS_INGRESS_MINOR 0x10U
/* At most this many value/mask blocks cover the migration range. */
#define MS_INGRESS_PORT_BLOCKS_MAX 32U
#define MS_INGRESS_MGMT_PORTS_MAX  32U

struct ms_ingress_params {
	int ifindex; /* the shaped NIC */
	__u64 cap_bps;
	__u16 migration_port_min, migration_port_max;
	const __u16 *mgmt_ports;
	size_t n_mgmt_ports;
};

struct ms_ingress;

/* "msi<ifindex>" into buf; -ENOSPC if it does not fit. */
int ms_ingress_ifb_name(int ifindex, char *buf, size_t len);

/*
 * Splits [min, max] into port/mask blocks (a port p is in a block when
 * (p & mask) == value), at most n of them. Pure; -EINVAL for min > max or
 * min 0, -E2BIG if more than n blocks are needed. Returns the count.
 */
int ms_ingress_port_blocks(__u16 min, __u16 max, __u16 *values, __u16 *masks, size_t n);

/*
 * Builds the backstop, or takes over the one a previous agent left on
 * p->ifindex: the IFB and its HTB are created or reused (the class gets
 * p's rate), the clsact qdisc is created if missing, and the four filter
 * priorities are replaced. All or nothing: on failure what this call
 * created is removed again. -ENODEV for a bad ifindex.
 */
int ms_ingress_install(const struct ms_ingress_params *p, struct ms_ingress **out);

/*
 * Changes the cap and, if they differ, the port filters. On failure the
 * previous settings stay in force.
 */
int ms_ingress_apply(struct ms_ingress *in, const struct ms_ingress_params *p);

struct ms_ingress_stats {
	__u64 bytes, packets, drops;
	__u32 backlog_bytes;
};
/* Counters of the IFB's class. */
int ms_ingress_read(struct ms_ingress *in, struct ms_ingress_stats *st);

/*
 * Removes the filters, the IFB (its tree goes with it) and the clsact
 * qdisc if this module created it, and frees in. NULL-safe.
 */
int ms_ingress_remove(struct ms_ingress *in);

/* Frees memory only, the backstop keeps running (fail-static). NULL-safe. */
void ms_ingress_free(struct ms_ingress *in);

/*
 * Without an agent (--cleanup): removes our filters from the clsact ingress
 * hook of ifindex and the IFB named after it. 0 also when nothing was there.
 */
int ms_ingress_cleanup(int ifindex);

#endif /* MS_TC_INGRESS_H */
