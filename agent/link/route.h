/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Route lookups: which interface traffic to an address leaves through
 * (RTM_GETROUTE, the kernel's own answer, policy routing included). The
 * agent asks it to keep to what crosses the interface it shapes: the
 * management connections whose RTT it judges (mgmthealth) and the
 * migrations it controls (coord). Owns one rtnetlink request socket and a
 * small cache of recent answers, so a cycle over many connections to the
 * same peers costs a few lookups.
 */
#ifndef MS_ROUTE_H
#define MS_ROUTE_H

#include <linux/types.h>

/* Answers are reused for this long: routes change rarely, connections often. */
#define MS_ROUTE_CACHE_NS   (5 * 1000000000ULL)
#define MS_ROUTE_CACHE_SIZE 64U

struct ms_route;

int ms_route_open(struct ms_route **out);
void ms_route_close(struct ms_route *r);

/*
 * The output interface of the route to daddr (16 bytes, IPv4-mapped for
 * IPv4) into *oif. 0, or -errno: the kernel's (-ENETUNREACH: no route) or
 * the request's.
 */
int ms_route_oif(struct ms_route *r, const __u8 *daddr, int *oif);

#endif /* MS_ROUTE_H */
