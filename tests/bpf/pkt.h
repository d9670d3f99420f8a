/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Packet crafting for the classifier tests and benchmark: Ethernet, up to two
 * VLAN tags, IPv4 (options, fragments) or IPv6 (extension headers), and a
 * TCP, UDP or other L4 header. Header-only: each test is one program.
 */
#ifndef MS_TEST_PKT_H
#define MS_TEST_PKT_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <linux/types.h>

#include "migshaper.h"

#define PKT_MAX 2048

struct pkt_spec {
	const char *src; /* "198.18.0.1" or "2001:db8::1": the family follows */
	const char *dst;
	__u8 proto; /* IPPROTO_TCP, IPPROTO_UDP, or anything else */
	__u16 sport, dport;
	int n_vlan;	    /* 0..2 (more are allowed to test the bound) */
	__u16 vlan_tpid[4]; /* 0: 0x8100 */
	__u8 tos;	    /* IPv4 TOS or IPv6 traffic class */
	int ip_opt_len;	    /* IPv4 options, multiple of 4, <= 40 */
	__u16 frag_off;	    /* fragment offset in 8-byte units */
	bool more_frags;
	bool v6_frag; /* add an IPv6 fragment header with frag_off/more_frags */
	int n_ext;    /* IPv6 extension headers before the fragment header */
	__u8 ext[8];  /* their types: 0, 43, 60 or 51 */
	int payload;  /* bytes after the L4 header */
};

static inline __u16 pkt_csum16(const __u8 *p, size_t len)
{
	__u32 sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (p[i] << 8) | p[i + 1];
	if (len & 1)
		sum += p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static inline void pkt_put16(__u8 *p, __u16 v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

/* Builds the packet into buf (PKT_MAX bytes); returns its length or 0. */
static inline size_t pkt_build(const struct pkt_spec *s, __u8 *buf)
{
	bool v6 = strchr(s->src, ':') != NULL;
	__u8 saddr[16], daddr[16];
	size_t off = 12, l3, l4len, plen;
	__u8 *ip;
	int i;

	memset(buf, 0, PKT_MAX);
	if (inet_pton(v6 ? AF_INET6 : AF_INET, s->src, saddr) != 1 ||
	    inet_pton(v6 ? AF_INET6 : AF_INET, s->dst, daddr) != 1)
		return 0;
	/* MACs: 02:00:00:00:00:02 <- 02:00:00:00:00:01 */
	buf[0] = 0x02, buf[5] = 0x02, buf[6] = 0x02, buf[11] = 0x01;
	for (i = 0; i < s->n_vlan; i++) {
		pkt_put16(buf + off, s->vlan_tpid[i] ? s->vlan_tpid[i] : 0x8100);
		pkt_put16(buf + off + 2, (__u16)(100 + i));
		off += 4;
	}
	pkt_put16(buf + off, v6 ? 0x86dd : 0x0800);
	l3 = off + 2;

	l4len = s->proto == IPPROTO_TCP ? 20 : s->proto == IPPROTO_UDP ? 8 : 8;
	plen = l4len + (size_t)s->payload;
	ip = buf + l3;
	if (!v6) {
		size_t ihl = 20 + (size_t)s->ip_opt_len;

		if (l3 + ihl + plen > PKT_MAX)
			return 0;
		ip[0] = 0x40 | (__u8)(ihl / 4);
		ip[1] = s->tos;
		pkt_put16(ip + 2, (__u16)(ihl + plen));
		pkt_put16(ip + 4, 0x1234);
		pkt_put16(ip + 6, (__u16)((s->more_frags ? 0x2000 : 0) | (s->frag_off & 0x1fff)));
		ip[8] = 64;
		ip[9] = s->proto;
		memcpy(ip + 12, saddr, 4);
		memcpy(ip + 16, daddr, 4);
		for (i = 0; i < s->ip_opt_len; i++)
			ip[20 + i] = 0x01; /* NOP options */
		pkt_put16(ip + 10, pkt_csum16(ip, ihl));
		off = l3 + ihl;
	} else {
		__u8 *nextp = ip + 6;

		ip[0] = 0x60 | (s->tos >> 4);
		ip[1] = (__u8)(s->tos << 4);
		ip[7] = 64;
		memcpy(ip + 8, saddr, 16);
		memcpy(ip + 24, daddr, 16);
		off = l3 + 40;
		for (i = 0; i < s->n_ext; i++) {
			__u8 *e = buf + off;
			size_t elen = s->ext[i] == 51 ? 16 : 8 * (size_t)(1 + (i & 1));

			if (off + elen > PKT_MAX)
				return 0;
			*nextp = s->ext[i];
			nextp = e;
			/* AH counts 4-byte words minus 2, the others 8-byte words minus 1 */
			e[1] = s->ext[i] == 51 ? (__u8)(elen / 4 - 2) : (__u8)(elen / 8 - 1);
			if (s->ext[i] != 51 && s->ext[i] != 44 && elen > 2) {
				e[2] = 1; /* PadN covering the rest */
				e[3] = (__u8)(elen - 4);
			}
			off += elen;
		}
		if (s->v6_frag) {
			__u8 *e = buf + off;

			*nextp = 44;
			nextp = e;
			pkt_put16(e + 2, (__u16)((s->frag_off << 3) | (s->more_frags ? 1 : 0)));
			e[4] = 0xab;
			off += 8;
		}
		*nextp = s->proto;
		if (off + plen > PKT_MAX)
			return 0;
		pkt_put16(ip + 4, (__u16)(off - l3 - 40 + plen));
	}
	if (s->proto == IPPROTO_TCP) {
		pkt_put16(buf + off, s->sport);
		pkt_put16(buf + off + 2, s->dport);
		buf[off + 12] = 5 << 4;
		buf[off + 13] = 0x10; /* ACK */
		pkt_put16(buf + off + 14, 65535);
	} else if (s->proto == IPPROTO_UDP) {
		pkt_put16(buf + off, s->sport);
		pkt_put16(buf + off + 2, s->dport);
		pkt_put16(buf + off + 4, (__u16)plen);
	} else {
		buf[off] = 8; /* looks like an ICMP echo request */
	}
	for (i = 0; i < s->payload; i++)
		buf[off + l4len + (size_t)i] = (__u8)i;
	return off + plen;
}

/* Offset of the IP header of a packet built from s. */
static inline size_t pkt_l3_off(const struct pkt_spec *s)
{
	return 14 + 4 * (size_t)s->n_vlan;
}

/* True if the IPv4 header at off has a valid checksum. */
static inline bool pkt_ipv4_csum_ok(const __u8 *buf, size_t off)
{
	size_t ihl = (buf[off] & 0xf) * 4U;

	return pkt_csum16(buf + off, ihl) == 0;
}

/* Fills a 16-byte IPv4-mapped or IPv6 address from text. */
static inline int pkt_addr16(const char *text, __u8 *out)
{
	memset(out, 0, 16);
	if (strchr(text, ':'))
		return inet_pton(AF_INET6, text, out) == 1 ? 0 : -1;
	out[10] = 0xff;
	out[11] = 0xff;
	return inet_pton(AF_INET, text, out + 12) == 1 ? 0 : -1;
}

/* The flow key of the 5-tuple a packet built from s carries. */
static inline int pkt_flow_key(const struct pkt_spec *s, struct ms_flow_key *k)
{
	memset(k, 0, sizeof(*k));
	if (pkt_addr16(s->src, k->saddr) || pkt_addr16(s->dst, k->daddr))
		return -1;
	k->sport = s->sport;
	k->dport = s->dport;
	k->l4_proto = s->proto;
	return 0;
}

#endif /* MS_TEST_PKT_H */
