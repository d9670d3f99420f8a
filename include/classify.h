/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Packet classification shared by the tc classifier (bpf/classifier.bpf.c)
 * and user space, where it is the reference classifier the tests compare the
 * BPF program against. The same source compiles in both places, so it uses
 * only direct accesses through a (data, data_end) pair with an explicit
 * bounds check before every read, the way the verifier wants it, and no libc.
 *
 * The includer supplies the table lookups by defining three macros before
 * including this file:
 *
 *   MS_CLS_FLOW_MINOR(ctx, key, sflags, dflags)
 *                                 class minor of the exact 5-tuple
 *                                 (const struct ms_flow_key *), 0 if none;
 *                                 sflags/dflags are the port flags of the
 *                                 source and destination port, which the BPF
 *                                 side uses as a hint to skip the lookup
 *   MS_CLS_CIDR_MATCH(ctx, addr)  non-zero if the 16-byte IPv4-mapped
 *                                 address is in a management CIDR
 *   MS_CLS_PORT_FLAGS(ctx, port)  MS_PORT_* flags of a host-order port
 *
 * ctx is passed through untouched: the BPF program ignores it (its tables are
 * global maps), the user-space reference points it at its tables.
 */
#ifndef MS_CLASSIFY_H
#define MS_CLASSIFY_H

#include "migshaper.h"

#if !defined(MS_CLS_FLOW_MINOR) || !defined(MS_CLS_CIDR_MATCH) || !defined(MS_CLS_PORT_FLAGS)
#error "define MS_CLS_FLOW_MINOR, MS_CLS_CIDR_MATCH and MS_CLS_PORT_FLAGS before classify.h"
#endif

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* Unrolled loops are cheaper to verify and to run; gcc has its own pragma. */
#ifdef __clang__
#define MS_UNROLL _Pragma("unroll")
#else
#define MS_UNROLL _Pragma("GCC unroll 8")
#endif

/* Wire constants, spelled out: uapi macros are not in vmlinux.h. */
#define MS_ETH_HLEN	    14U
#define MS_VLAN_HLEN	    4U
#define MS_ETH_P_IP	    0x0800U
#define MS_ETH_P_IPV6	    0x86DDU
#define MS_ETH_P_8021Q	    0x8100U
#define MS_ETH_P_8021AD	    0x88A8U
#define MS_IPPROTO_HOPOPTS  0U
#define MS_IPPROTO_TCP	    6U
#define MS_IPPROTO_UDP	    17U
#define MS_IPPROTO_ROUTING  43U
#define MS_IPPROTO_FRAGMENT 44U
#define MS_IPPROTO_AH	    51U
#define MS_IPPROTO_DSTOPTS  60U
#define MS_IPV4_HLEN	    20U
#define MS_IPV6_HLEN	    40U
#define MS_TCP_HLEN	    20U
#define MS_UDP_HLEN	    8U

/* Tags and IPv6 extension headers followed at most; more means default. */
#define MS_MAX_VLAN_TAGS 2
#define MS_MAX_IPV6_EXT	 6

/*
 * Largest offset any header may start at. It keeps every pointer the parser
 * forms provably inside the verifier's packet range; real headers end far
 * below it (2 tags, IPv4 options or 6 extension headers of at most 2 KiB).
 */
#define MS_MAX_HDR_OFF 0x4000U

/*
 * How much of the packet the BPF program makes linear when the headers are
 * not all in the linear area: enough for every header we read in all but
 * absurd extension-header chains, which then fall to the default class.
 */
#define MS_PULL_LEN 256U

enum ms_parse_result {
	MS_PARSE_OK = 0, /* addresses valid; ports valid if has_ports */
	MS_PARSE_NOT_IP, /* not IPv4/IPv6, or too many VLAN tags */
	MS_PARSE_TRUNC,	 /* a header runs past data_end */
	MS_PARSE_FRAG,	 /* a non-first fragment: no L4 header */
	MS_PARSE_BAD,	 /* malformed header or extension chain too long */
};

struct ms_pkt {
	/* saddr/daddr always; sport/dport/l4_proto only if has_ports. */
	struct ms_flow_key key;
	__u16 l3_off;	/* offset of the IP header from data */
	__u8 family;	/* 4 or 6 */
	__u8 has_ports; /* TCP or UDP with a complete header */
};

static __always_inline __u16 ms_get_be16(const __u8 *p)
{
	return (__u16)((p[0] << 8) | p[1]);
}

/*
 * Pointer to len bytes at off, or 0 if they are not all before data_end.
 * The offset bound comes first so the verifier knows the pointer's range.
 */
static __always_inline const __u8 *ms_hdr(const void *data, const void *data_end, __u32 off,
					  __u32 len)
{
	const __u8 *p;

	if (off > MS_MAX_HDR_OFF)
		return 0;
	p = (const __u8 *)data + off;
	if (p + len > (const __u8 *)data_end)
		return 0;
	return p;
}

static __always_inline void ms_set_v4mapped(__u8 *dst, const __u8 *v4)
{
	/* ::ffff:a.b.c.d */
	__u32 i;

	for (i = 0; i < 10; i++)
		dst[i] = 0;
	dst[10] = 0xff;
	dst[11] = 0xff;
	dst[12] = v4[0];
	dst[13] = v4[1];
	dst[14] = v4[2];
	dst[15] = v4[3];
}

static __always_inline void ms_copy16(__u8 *dst, const __u8 *src)
{
	__u32 i;

	for (i = 0; i < 16; i++)
		dst[i] = src[i];
}

/* Reads the TCP or UDP ports at off, if the header is complete. */
static __always_inline int ms_parse_l4(const void *data, const void *data_end, __u32 off,
				       __u8 proto, struct ms_pkt *pkt)
{
	const __u8 *l4;

	pkt->key.l4_proto = proto;
	if (proto == MS_IPPROTO_TCP)
		l4 = ms_hdr(data, data_end, off, MS_TCP_HLEN);
	else if (proto == MS_IPPROTO_UDP)
		l4 = ms_hdr(data, data_end, off, MS_UDP_HLEN);
	else
		return MS_PARSE_OK; /* other protocols: addresses only */
	if (!l4)
		return MS_PARSE_TRUNC;
	pkt->key.sport = ms_get_be16(l4);
	pkt->key.dport = ms_get_be16(l4 + 2);
	pkt->has_ports = 1;
	return MS_PARSE_OK;
}

static __always_inline int ms_parse_ipv4(const void *data, const void *data_end, __u32 off,
					 struct ms_pkt *pkt)
{
	const __u8 *ip = ms_hdr(data, data_end, off, MS_IPV4_HLEN);
	__u32 ihl;

	if (!ip)
		return MS_PARSE_TRUNC;
	if ((ip[0] >> 4) != 4)
		return MS_PARSE_BAD;
	ihl = (ip[0] & 0xf) * 4U;
	if (ihl < MS_IPV4_HLEN)
		return MS_PARSE_BAD;
	/* Options must be present too: the header checksum covers them. */
	if (!ms_hdr(data, data_end, off, ihl))
		return MS_PARSE_TRUNC;
	pkt->family = 4;
	pkt->l3_off = (__u16)off;
	ms_set_v4mapped(pkt->key.saddr, ip + 12);
	ms_set_v4mapped(pkt->key.daddr, ip + 16);
	/* Fragment offset != 0: no L4 header in this packet. */
	if (ms_get_be16(ip + 6) & 0x1fff)
		return MS_PARSE_FRAG;
	return ms_parse_l4(data, data_end, off + ihl, ip[9], pkt);
}

static __always_inline int ms_parse_ipv6(const void *data, const void *data_end, __u32 off,
					 struct ms_pkt *pkt)
{
	const __u8 *ip = ms_hdr(data, data_end, off, MS_IPV6_HLEN);
	const __u8 *ext;
	__u8 next;
	int i;

	if (!ip)
		return MS_PARSE_TRUNC;
	if ((ip[0] >> 4) != 6)
		return MS_PARSE_BAD;
	pkt->family = 6;
	pkt->l3_off = (__u16)off;
	ms_copy16(pkt->key.saddr, ip + 8);
	ms_copy16(pkt->key.daddr, ip + 24);
	next = ip[6];
	off += MS_IPV6_HLEN;

	MS_UNROLL
	for (i = 0; i <= MS_MAX_IPV6_EXT; i++) {
		switch (next) {
		case MS_IPPROTO_HOPOPTS:
		case MS_IPPROTO_ROUTING:
		case MS_IPPROTO_DSTOPTS:
			ext = ms_hdr(data, data_end, off, 2);
			if (!ext)
				return MS_PARSE_TRUNC;
			next = ext[0];
			off += (ext[1] + 1U) * 8U;
			break;
		case MS_IPPROTO_FRAGMENT:
			ext = ms_hdr(data, data_end, off, 8);
			if (!ext)
				return MS_PARSE_TRUNC;
			if (ms_get_be16(ext + 2) & 0xfff8)
				return MS_PARSE_FRAG;
			next = ext[0];
			off += 8;
			break;
		case MS_IPPROTO_AH:
			ext = ms_hdr(data, data_end, off, 2);
			if (!ext)
				return MS_PARSE_TRUNC;
			next = ext[0];
			off += (ext[1] + 2U) * 4U;
			break;
		default:
			return ms_parse_l4(data, data_end, off, next, pkt);
		}
	}
	/* Still an extension header after the bound: give up. */
	return MS_PARSE_BAD;
}

/*
 * Parses Ethernet, up to two 802.1Q/802.1ad tags, IPv4 or IPv6 and TCP/UDP
 * ports into pkt. Returns an ms_parse_result; only MS_PARSE_OK leaves a
 * packet that can match anything but the default class.
 */
static __always_inline int ms_parse(const void *data, const void *data_end, struct ms_pkt *pkt)
{
	const __u8 *eth = ms_hdr(data, data_end, 0, MS_ETH_HLEN);
	const __u8 *tag;
	__u32 off = MS_ETH_HLEN;
	__u16 proto;
	int i;

	__builtin_memset(pkt, 0, sizeof(*pkt));
	if (!eth)
		return MS_PARSE_TRUNC;
	proto = ms_get_be16(eth + 12);

	MS_UNROLL
	for (i = 0; i < MS_MAX_VLAN_TAGS; i++) {
		if (proto != MS_ETH_P_8021Q && proto != MS_ETH_P_8021AD)
			break;
		tag = ms_hdr(data, data_end, off, MS_VLAN_HLEN);
		if (!tag)
			return MS_PARSE_TRUNC;
		proto = ms_get_be16(tag + 2);
		off += MS_VLAN_HLEN;
	}

	if (proto == MS_ETH_P_IP)
		return ms_parse_ipv4(data, data_end, off, pkt);
	if (proto == MS_ETH_P_IPV6)
		return ms_parse_ipv6(data, data_end, off, pkt);
	return MS_PARSE_NOT_IP;
}

/*
 * Picks the class minor of a parsed packet. from_host says whether the
 * packet leaves a socket of the host's own (the BPF side checks the packet's
 * socket: an inet socket; a guest's frame bridged through a tap carries the
 * tap's socket or none). In order:
 *   1. an attributed flow (the flow table), whatever else matches;
 *   2. the host's own traffic on a management port, either direction: the
 *      manager's calls and their answers, whatever ephemeral port the other
 *      side uses (the kernel's ephemeral range holds the migration range);
 *   3. the host's own traffic *to* a migration port: a migration not
 *      attributed yet. Only the destination port counts: the source port of
 *      an ordinary connection may fall in the range by chance;
 *   4. a management CIDR, either address: after the migration rule, because
 *      the management subnet often holds the migration destinations too;
 *   5. default. A guest's bridged traffic matches only 4 and 5: its ssh is
 *      not the host's management.
 * The flow table is consulted only for TCP/UDP: without ports there is no
 * 5-tuple. A flow entry naming anything but a per-migration class is ignored,
 * so a bad entry cannot steer traffic into the root or a parent class.
 */
static __always_inline __u32 ms_classify_parsed(void *ctx, int parse_res, const struct ms_pkt *pkt,
						int from_host)
{
	__u8 sflags = 0, dflags = 0;
	__u32 minor;

	(void)ctx;
	if (parse_res != MS_PARSE_OK)
		return MS_MINOR_DEFAULT;
	if (pkt->has_ports) {
		/* read once: the flow lookup may use them as a hint */
		sflags = MS_CLS_PORT_FLAGS(ctx, pkt->key.sport);
		dflags = MS_CLS_PORT_FLAGS(ctx, pkt->key.dport);
		minor = MS_CLS_FLOW_MINOR(ctx, &pkt->key, sflags, dflags);
		if (ms_minor_is_migration(minor))
			return minor;
		if (from_host && ((sflags | dflags) & MS_PORT_MGMT))
			return MS_MINOR_MGMT;
		if (from_host && (dflags & MS_PORT_MIGRATION))
			return MS_MINOR_UNATTRIBUTED;
	}
	if (MS_CLS_CIDR_MATCH(ctx, pkt->key.saddr) || MS_CLS_CIDR_MATCH(ctx, pkt->key.daddr))
		return MS_MINOR_MGMT;
	return MS_MINOR_DEFAULT;
}

/* The DSCP a class is marked with, or -1 for classes left alone. */
static __always_inline int ms_class_dscp(__u32 minor)
{
	if (minor == MS_MINOR_MGMT)
		return MS_DSCP_MGMT;
	if (minor == MS_MINOR_UNATTRIBUTED || ms_minor_is_migration(minor))
		return MS_DSCP_MIGRATION;
	return -1;
}

#endif /* MS_CLASSIFY_H */
