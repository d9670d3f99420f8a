/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The user-space reference classifier: include/classify.h over plain tables
 * that tests fill with the same content as the BPF maps. The lookups are
 * deliberately naive (linear scans, bit-by-bit prefix match) so that they are
 * obviously right rather than fast.
 */
#ifndef MS_TEST_REF_H
#define MS_TEST_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "migshaper.h"

#define REF_MAX_FLOWS 64
#define REF_MAX_CIDRS 64

struct ref_tables {
	struct ms_flow_key flow_keys[REF_MAX_FLOWS];
	__u32 flow_minors[REF_MAX_FLOWS];
	size_t n_flows;
	struct ms_cidr_key cidrs[REF_MAX_CIDRS];
	size_t n_cidrs;
	__u8 ports[MS_PORT_MAP_SIZE];
};

static inline __u32 ref_flow_minor(const struct ref_tables *t, const struct ms_flow_key *k)
{
	size_t i;

	for (i = 0; i < t->n_flows; i++)
		if (!memcmp(&t->flow_keys[i], k, sizeof(*k)))
			return t->flow_minors[i];
	return 0;
}

static inline bool ref_bit(const __u8 *a, __u32 bit)
{
	return (a[bit / 8] >> (7 - bit % 8)) & 1;
}

static inline bool ref_cidr_match(const struct ref_tables *t, const __u8 *addr)
{
	size_t i;
	__u32 b;

	for (i = 0; i < t->n_cidrs; i++) {
		for (b = 0; b < t->cidrs[i].prefixlen; b++)
			if (ref_bit(addr, b) != ref_bit(t->cidrs[i].addr, b))
				break;
		if (b == t->cidrs[i].prefixlen)
			return true;
	}
	return false;
}

#define MS_CLS_FLOW_MINOR(ctx, key, sflags, dflags) \
	ref_flow_minor((const struct ref_tables *)(ctx), key)
#define MS_CLS_CIDR_MATCH(ctx, addr) ref_cidr_match((const struct ref_tables *)(ctx), addr)
#define MS_CLS_PORT_FLAGS(ctx, port) (((const struct ref_tables *)(ctx))->ports[port])
#include "classify.h"

/*
 * Whether BPF_PROG_TEST_RUN gives the packet a socket of the host's: it
 * attaches a dummy socket whose family follows skb->protocol, i.e. the outer
 * EtherType, so an IPv4 or IPv6 frame counts as the host's own and a
 * VLAN-tagged one does not.
 */
static inline int ref_test_run_from_host(const void *data, size_t len)
{
	const __u8 *eth = data;
	__u16 proto;

	if (len < MS_ETH_HLEN)
		return 0;
	proto = ms_get_be16(eth + 12);
	return proto == MS_ETH_P_IP || proto == MS_ETH_P_IPV6;
}

/* The class minor the reference gives a packet run through BPF_PROG_TEST_RUN. */
static inline __u32 ref_classify(struct ref_tables *t, const void *data, size_t len)
{
	struct ms_pkt pkt;
	int res;

	res = ms_parse(data, (const __u8 *)data + len, &pkt);
	return ms_classify_parsed(t, res, &pkt, ref_test_run_from_host(data, len));
}

#endif /* MS_TEST_REF_H */
