// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * tc clsact egress classifier. It steers every packet to one HTB class by
 * setting skb->priority to the class handle: attributed migration flows to
 * their own class, management traffic above everything, unattributed
 * migration traffic to a shared class, the rest to the default class. It
 * never drops: a packet it cannot parse goes to the default class.
 *
 * The parsing and the decision live in include/classify.h, which user space
 * compiles too as the reference classifier; this file supplies the map
 * lookups and does what only the kernel can: counting, reporting new
 * unattributed flows, and DSCP marking.
 *
 * A host TCP connection is classified once. Its packets carry its class in
 * skb->priority when the retag iterator below has tagged its socket (see
 * migshaper.h); until then its class is kept on its socket with the
 * generation of the tables it came from, and its later packets only read it.
 * Packets without such a socket (bridged or forwarded guest traffic, UDP, a
 * connection's SYN) take the full parse.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

#include "migshaper.h"

#define TC_ACT_OK   0
#define MS_AF_INET  2
#define MS_AF_INET6 10

/* TCP states of struct bpf_sock; uapi macros are not in vmlinux.h. */
#define MS_TCP_ESTABLISHED 1
#define MS_TCP_SYN_SENT	   2
#define MS_TCP_CLOSE	   7
#define MS_TCP_CLOSE_WAIT  8
#define MS_TCP_LISTEN	   10

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MS_FLOW_MAP_MAX);
	__type(key, struct ms_flow_key);
	__type(value, struct ms_flow_val);
} ms_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MS_CIDR_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ms_cidr_key);
	__type(value, __u8);
} ms_mgmt_cidrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MS_PORT_MAP_SIZE);
	__type(key, __u32);
	__type(value, __u8);
} ms_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ms_dp_config);
} ms_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MS_CLASS_SLOTS);
	__type(key, __u32);
	__type(value, struct ms_class_counter);
} ms_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, MS_EVENTS_RINGBUF_BYTES);
} ms_events SEC(".maps");

/* Last report time (bpf_ktime_get_ns) of each unattributed flow. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MS_REPORTED_MAP_MAX);
	__type(key, struct ms_flow_key);
	__type(value, __u64);
} ms_reported SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MS_STAT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} ms_stats SEC(".maps");

/*
 * Hints that let the common path skip the two costly lookups (a hash of a
 * 40-byte key, an LPM trie walk per address): user space marks every port
 * some flow uses and every 16-bit address prefix some CIDR may cover, so a
 * packet without those marks cannot match. See migshaper.h.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MS_CIDR_HINT_SIZE);
	__type(key, __u32);
	__type(value, __u8);
} ms_cidr_hint SEC(".maps");

/* Generation of the tables, bumped by user space after each change. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} ms_generation SEC(".maps");

/* The class of a host TCP connection, on its socket. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ms_sk_class);
} ms_sk_class SEC(".maps");

static __always_inline __u32 flow_minor(const struct ms_flow_key *key, __u8 sflags, __u8 dflags)
{
	struct ms_flow_val *val;

	if (!(sflags & MS_PORT_FLOW_SPORT) || !(dflags & MS_PORT_FLOW_DPORT))
		return 0;
	val = bpf_map_lookup_elem(&ms_flows, key);
	return val ? val->class_minor : 0;
}

static __always_inline int cidr_match(const __u8 *addr)
{
	struct ms_cidr_key key = {.prefixlen = 128};
	__u32 idx = ((__u32)addr[0] << 8) | addr[1];
	__u8 bit = MS_CIDR_HINT_V6, *hint;

	if (!idx && !addr[2] && !addr[3] && !addr[4] && !addr[5] && !addr[6] && !addr[7] &&
	    !addr[8] && !addr[9] && addr[10] == 0xff && addr[11] == 0xff) {
		idx = ((__u32)addr[12] << 8) | addr[13];
		bit = MS_CIDR_HINT_V4;
	}
	hint = bpf_map_lookup_elem(&ms_cidr_hint, &idx);
	if (!hint || !(*hint & bit))
		return 0;
	__builtin_memcpy(key.addr, addr, sizeof(key.addr));
	return bpf_map_lookup_elem(&ms_mgmt_cidrs, &key) != NULL;
}

static __always_inline __u8 port_flags(__u16 port)
{
	__u32 key = port;
	__u8 *flags = bpf_map_lookup_elem(&ms_ports, &key);

	return flags ? *flags : 0;
}

#define MS_CLS_FLOW_MINOR(ctx, key, sflags, dflags) flow_minor(key, sflags, dflags)
#define MS_CLS_CIDR_MATCH(ctx, addr)		    cidr_match(addr)
#define MS_CLS_PORT_FLAGS(ctx, port)		    port_flags(port)
#include "classify.h"

static __always_inline void count(__u32 minor, __u32 len)
{
	struct ms_class_counter *c = bpf_map_lookup_elem(&ms_counters, &minor);

	/* Per-CPU: no other writer, no atomics needed. */
	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

/*
 * Tells user space about an unattributed migration flow so it can find the
 * migration it belongs to. Each flow is reported once per interval: the first
 * packet, then again while it stays unattributed. The report time is taken
 * even when the ring buffer is full, so a full buffer costs one lost event
 * per interval instead of one per packet.
 */
static __always_inline __u64 report_interval_ns(const struct ms_dp_config *cfg)
{
	__u64 interval_ms = cfg && cfg->report_interval_ms ? cfg->report_interval_ms
							   : MS_REPORT_INTERVAL_DEFAULT_MS;

	return interval_ms * 1000000ULL;
}

/*
 * now: bpf_ktime_get_ns() of this packet, also what the socket keeps (see
 * classifier()); ifindex: the NIC the flow leaves by.
 */
static __always_inline void report_flow(__u32 ifindex, const struct ms_flow_key *key,
					const struct ms_dp_config *cfg, __u64 now)
{
	struct ms_flow_event *ev;
	__u32 stat = MS_STAT_EVENTS_LOST;
	__u64 *last, *lost;

	last = bpf_map_lookup_elem(&ms_reported, key);
	if (last && now - *last < report_interval_ns(cfg))
		return;
	bpf_map_update_elem(&ms_reported, key, &now, BPF_ANY);

	ev = bpf_ringbuf_reserve(&ms_events, sizeof(*ev), 0);
	if (!ev) {
		lost = bpf_map_lookup_elem(&ms_stats, &stat);
		if (lost)
			(*lost)++;
		return;
	}
	ev->ts_ns = now;
	__builtin_memcpy(&ev->key, key, sizeof(ev->key));
	ev->ifindex = ifindex;
	ev->pad = 0;
	bpf_ringbuf_submit(ev, 0);
}

/*
 * Rewrites the DSCP, keeping the ECN bits. The IPv4 header checksum is fixed
 * incrementally over the 16-bit word holding the TOS byte; IPv6 has no header
 * checksum and the traffic class is not in the L4 pseudo-header.
 */
static __always_inline void mark_dscp(struct __sk_buff *skb, const struct ms_pkt *pkt, __u8 dscp)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u32 off = pkt->l3_off;
	const __u8 *ip = ms_hdr(data, data_end, off, 2);
	__u16 old_w, new_w;
	__u8 tos;

	if (!ip)
		return;
	old_w = ms_get_be16(ip);
	if (pkt->family == 4) {
		tos = (__u8)((dscp << 2) | (ip[1] & 0x3));
		new_w = (old_w & 0xff00) | tos;
		if (new_w == old_w)
			return;
		if (bpf_skb_store_bytes(skb, off + 1, &tos, 1, 0))
			return;
		bpf_l3_csum_replace(skb, off + 10, bpf_htons(old_w), bpf_htons(new_w), 2);
	} else {
		/* version:4 dscp:6 ecn:2 flow label:4 of the first 16 bits */
		new_w = (old_w & ~0x0fc0) | ((__u16)dscp << 6);
		if (new_w == old_w)
			return;
		new_w = bpf_htons(new_w);
		bpf_skb_store_bytes(skb, off, &new_w, 2, 0);
	}
}

/*
 * True if the packet leaves one of the host's own inet sockets (full,
 * request or time-wait). A guest's frame bridged through the NIC has none,
 * or the tap's socket (AF_UNSPEC), so the port rules do not apply to it.
 */
static __always_inline int from_host_socket(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;

	if (!sk)
		return 0;
	return sk->family == MS_AF_INET || sk->family == MS_AF_INET6;
}

#define TC_ACT_UNSPEC (-1)
/* pfifo_fast's band 0 (linux/pkt_sched.h). */
#define MS_TC_PRIO_INTERACTIVE 6

/*
 * Multiqueue backend (tc/mq.h). The IFB sends a shaped migration packet back
 * through this hook with skb_iif set to itself: it was classified and counted
 * on its way in. It goes on to the redirect filter, whose action only clears
 * the IFB's "skip classification" mark (it would otherwise skip the ingress
 * filters of a veth peer) and lets it pass.
 */
static __always_inline int shaped_already(const struct __sk_buff *skb)
{
	const struct ms_dp_config *cfg;
	__u32 zero = 0;

	if (!skb->ingress_ifindex)
		return 0;
	cfg = bpf_map_lookup_elem(&ms_config, &zero);
	return cfg && cfg->mq_ifb_ifindex && skb->ingress_ifindex == cfg->mq_ifb_ifindex;
}

/*
 * Multiqueue backend: migration classes go on (TC_ACT_UNSPEC) to the redirect
 * filter behind this one, which sends them through the HTB tree on the IFB;
 * management leaves in band 0 of its TX queue's pfifo_fast (priority
 * TC_PRIO_INTERACTIVE), the rest in band 1 (the low bits of its handle are 0).
 */
static __always_inline int steer(struct __sk_buff *skb, __u32 minor, int mq)
{
	if (!mq)
		return TC_ACT_OK;
	if (minor == MS_MINOR_MGMT) {
		skb->priority = MS_TC_PRIO_INTERACTIVE;
		return TC_ACT_OK;
	}
	return minor == MS_MINOR_UNATTRIBUTED || ms_minor_is_migration(minor) ? TC_ACT_UNSPEC
									      : TC_ACT_OK;
}

/*
 * The socket whose class can be kept on it: a full TCP socket of the host
 * with a peer. Every packet it sends carries the same 5-tuple, so its class
 * depends only on the tables. Not: request and time-wait sockets (not
 * full), a closed socket (the kernel's TCP control sockets, which send resets
 * for anyone, are closed), a listener, UDP (sendto names any peer), a tap's
 * socket or none (bridged and forwarded guest traffic).
 */
static __always_inline struct bpf_sock *connection_socket(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;

	/* the family first: it spares a tap's frames the helper call */
	if (!sk || (sk->family != MS_AF_INET && sk->family != MS_AF_INET6))
		return NULL;
	sk = bpf_sk_fullsock(sk);
	if (!sk || sk->protocol != MS_IPPROTO_TCP)
		return NULL;
	if (sk->state == MS_TCP_CLOSE || sk->state == MS_TCP_LISTEN)
		return NULL;
	return sk;
}

static __always_inline __u64 table_generation(void)
{
	__u32 zero = 0;
	__u64 *gen = bpf_map_lookup_elem(&ms_generation, &zero);

	return gen ? *gen : 0;
}

/* Parses the packet, making its headers linear first if they are not. */
static __always_inline int parse_skb(struct __sk_buff *skb, struct ms_pkt *pkt)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	int res;

	res = ms_parse(data, data_end, pkt);
	/*
	 * Headers beyond the linear area (some drivers and tunnels leave them
	 * in fragments): make them linear once and parse again.
	 */
	if (res == MS_PARSE_TRUNC && skb->len > (__u32)(data_end - data)) {
		if (!bpf_skb_pull_data(skb, skb->len < MS_PULL_LEN ? skb->len : MS_PULL_LEN)) {
			data = (void *)(long)skb->data;
			data_end = (void *)(long)skb->data_end;
			res = ms_parse(data, data_end, pkt);
		}
	}
	return res;
}

/*
 * What follows the decision: the class, its counters, the report of an
 * unattributed flow (at time now), DSCP. parsed: pkt holds the parse; a class
 * read from the socket has none, and only DSCP marking needs one then.
 */
static __always_inline int classified(struct __sk_buff *skb, __u32 minor, struct ms_pkt *pkt,
				      int parsed, __u64 now)
{
	const struct ms_dp_config *cfg;
	__u32 zero = 0;
	int dscp;

	skb->priority = MS_HANDLE(minor);
	count(minor, skb->len);
	if (minor == MS_MINOR_DEFAULT)
		return TC_ACT_OK;

	cfg = bpf_map_lookup_elem(&ms_config, &zero);
	if (minor == MS_MINOR_UNATTRIBUTED && parsed)
		report_flow(skb->ifindex, &pkt->key, cfg, now);
	if (cfg && (cfg->flags & MS_CFG_DSCP_MARKING)) {
		dscp = ms_class_dscp(minor);
		if (dscp >= 0 && (parsed || parse_skb(skb, pkt) == MS_PARSE_OK))
			mark_dscp(skb, pkt, (__u8)dscp);
	}
	return steer(skb, minor, cfg && cfg->mq_ifb_ifindex);
}

/*
 * A packet of a tagged socket: its class is in the tag, and so is the
 * backend (the iterator tags again when it changes). It is counted only
 * where no HTB class counts it: management and default traffic of the
 * multiqueue backend, which leave by pfifo_fast bands. The counter is a
 * cache line the rest of this path does not touch: it made up most of the
 * path's cost, for numbers HTB keeps anyway.
 */
static __always_inline int tagged(struct __sk_buff *skb, __u32 tag)
{
	__u32 minor = ms_sk_tag_minor(tag);
	int mq = tag & MS_SK_TAG_MQ, verdict;

	skb->priority = MS_HANDLE(minor);
	verdict = steer(skb, minor, mq);
	if (mq && verdict == TC_ACT_OK)
		count(minor, skb->len);
	return verdict;
}

/*
 * An unattributed connection's kept class holds until its next report is due:
 * then the packet takes the parse, which reports it (report_flow() and the
 * socket keep the same time, so neither skips a report).
 */
static __always_inline int report_due(const struct ms_sk_class *kept, __u64 now)
{
	const struct ms_dp_config *cfg;
	__u32 zero = 0;

	cfg = bpf_map_lookup_elem(&ms_config, &zero);
	return now - kept->reported_ns >= report_interval_ns(cfg);
}

/*
 * The agent's network namespace (its inode number), set by bpf/loader.c:
 * only its sockets carry tags it wrote. A socket of another namespace whose
 * packets reach this NIC without crossing a veth (a container's on a
 * macvlan) keeps whatever priority it set, and one above 6 takes only
 * CAP_NET_ADMIN in its own namespace: such a "tag" is not believed, and its
 * packets take the parse like any other.
 */
volatile __u32 host_netns_ino;
/* This agent's tag major (migshaper.h), set by bpf/loader.c: other agents' tags are not ours. */
volatile __u32 tag_major;

/*
 * A typed read-only view of a kernel object: no call, the verifier inlines
 * it (6.2). Weak: on an older kernel libbpf still loads the object's other
 * programs (classifier_compat), and only this one's verification fails.
 */
extern void *bpf_rdonly_cast(const void *obj__ign, __u32 btf_id__k) __ksym __weak;

/*
 * How a build of the classifier tells the agent's sockets (bpf/loader.c
 * loads the first the kernel takes): through bpf_rdonly_cast() (6.2);
 * through bpf_skc_to_tcp_sock(), a call that costs about 3 ns more; or not
 * at all, on a kernel with neither, which also lacks the retag iterator:
 * then no tag is this agent's and every packet takes the parse.
 */
enum tag_check {
	TAG_CHECK_FAST,
	TAG_CHECK_COMPAT,
	TAG_CHECK_NONE,
};

static __always_inline int tag_trusted(struct __sk_buff *skb, enum tag_check check)
{
	struct bpf_sock *sk = skb->sk;
	struct sock_common *skc;
	struct tcp_sock *tp;

	if (!sk)
		return 0;
	if (check == TAG_CHECK_FAST) {
		skc = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct sock_common));
		return skc->skc_net.net->ns.inum == host_netns_ino;
	}
	tp = bpf_skc_to_tcp_sock(sk);
	return tp && tp->inet_conn.icsk_inet.sk.__sk_common.skc_net.net->ns.inum == host_netns_ino;
}

static __always_inline int classify_skb(struct __sk_buff *skb, enum tag_check check)
{
	struct bpf_sock *sk = skb->sk;
	struct ms_sk_class *kept;
	struct ms_pkt pkt;
	__u64 gen, now = 0;
	__u32 minor, priority = skb->priority;
	int res;

	/* One read of the field: clang would otherwise address it off a moved ctx pointer. */
	asm volatile("" : "+r"(priority));
	if (shaped_already(skb)) {
		/* Its class handle is spent: band 1 of the queue, never management's band 0. */
		skb->priority = 0;
		return TC_ACT_UNSPEC;
	}
	/*
	 * A tag for the default class is believed as it is: it gives nothing a
	 * socket of any namespace could not have by its choice of ports, so
	 * the bulk of host traffic skips the check (about 5 ns a packet).
	 */
	if (check != TAG_CHECK_NONE && ms_sk_tag_is(tag_major, priority) &&
	    (ms_sk_tag_minor(priority) == MS_MINOR_DEFAULT || tag_trusted(skb, check)))
		return tagged(skb, priority);
	/*
	 * Only sockets connection_socket() accepted carry a class, so the
	 * common case needs no more checks (the helper returns nothing for
	 * sockets that are not full). A connection's SYN derives its class
	 * afresh: a socket that connects again after a failed or undone
	 * connect has a new 5-tuple.
	 */
	if (sk && sk->state != MS_TCP_SYN_SENT) {
		kept = bpf_sk_storage_get(&ms_sk_class, sk, NULL, 0);
		if (kept && kept->generation == table_generation()) {
			if (kept->minor != MS_MINOR_UNATTRIBUTED)
				return classified(skb, kept->minor, &pkt, 0, 0);
			now = bpf_ktime_get_ns();
			if (!report_due(kept, now))
				return classified(skb, MS_MINOR_UNATTRIBUTED, &pkt, 0, 0);
		}
	}

	/* Before the tables: a change after this read bumps past it. */
	gen = table_generation();
	res = parse_skb(skb, &pkt);
	minor = ms_classify_parsed(NULL, res, &pkt, from_host_socket(skb));
	if (minor == MS_MINOR_UNATTRIBUTED && !now)
		now = bpf_ktime_get_ns();
	/* Unattributed too: it replaces what a previous connect left. */
	sk = connection_socket(skb);
	if (sk) {
		kept = bpf_sk_storage_get(&ms_sk_class, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
		if (kept) {
			kept->generation = gen;
			kept->minor = minor;
			kept->reported_ns = now;
		}
	}
	return classified(skb, minor, &pkt, 1, now);
}

SEC("tc")
int classifier(struct __sk_buff *skb)
{
	return classify_skb(skb, TAG_CHECK_FAST);
}

SEC("tc")
int classifier_compat(struct __sk_buff *skb)
{
	return classify_skb(skb, TAG_CHECK_COMPAT);
}

SEC("tc")
int classifier_notags(struct __sk_buff *skb)
{
	return classify_skb(skb, TAG_CHECK_NONE);
}

/*
 * The retag iterator (iter/tcp: every TCP socket of the agent's network
 * namespace, each under its socket lock), run by bpf/loader.c. Set before
 * each run: the shaped NIC (and its bridge, when its addresses live on one),
 * and whether to take every tag off instead. It also reports the
 * unattributed migration flows it tags, as their packets would have.
 */
volatile __u32 retag_ifindex[2];
volatile __u8 retag_clear;
/* Sockets whose priority the last runs could not write (bpf_setsockopt failed). */
volatile __u64 retag_failed;

#define MS_SOL_SOCKET  1
#define MS_SO_PRIORITY 12

/* The tag the socket's packets should carry, 0 for none. */
static __always_inline __u32 sk_tag(struct sock *sk)
{
	const struct ms_dp_config *cfg;
	struct ms_pkt pkt = {};
	struct dst_entry *dst;
	__u32 zero = 0, minor;
	int ifindex;

	if (retag_clear)
		return 0;
	/* States that send data: a socket may connect again only from others. */
	if (sk->__sk_common.skc_state != MS_TCP_ESTABLISHED &&
	    sk->__sk_common.skc_state != MS_TCP_CLOSE_WAIT)
		return 0;
	/* Its cached route: a socket that leaves by another NIC is another classifier's. */
	dst = sk->sk_dst_cache;
	if (!dst)
		return 0;
	ifindex = BPF_CORE_READ(dst, dev, ifindex);
	if (!ifindex || (ifindex != (int)retag_ifindex[0] && ifindex != (int)retag_ifindex[1]))
		return 0;
	cfg = bpf_map_lookup_elem(&ms_config, &zero);
	/* DSCP marking needs the parse on every packet. */
	if (!cfg || (cfg->flags & MS_CFG_DSCP_MARKING))
		return 0;
	if (sk->__sk_common.skc_family == MS_AF_INET) {
		pkt.key.saddr[10] = pkt.key.saddr[11] = 0xff;
		pkt.key.daddr[10] = pkt.key.daddr[11] = 0xff;
		__builtin_memcpy(&pkt.key.saddr[12], &sk->__sk_common.skc_rcv_saddr, 4);
		__builtin_memcpy(&pkt.key.daddr[12], &sk->__sk_common.skc_daddr, 4);
		pkt.family = 4;
	} else if (sk->__sk_common.skc_family == MS_AF_INET6) {
		/* an IPv4 peer of an IPv6 socket is IPv4-mapped already, as the key wants */
		BPF_CORE_READ_INTO(&pkt.key.saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&pkt.key.daddr, sk, __sk_common.skc_v6_daddr);
		pkt.family = 6;
	} else {
		return 0;
	}
	pkt.key.sport = sk->__sk_common.skc_num;
	pkt.key.dport = bpf_ntohs(sk->__sk_common.skc_dport);
	pkt.key.l4_proto = MS_IPPROTO_TCP;
	pkt.has_ports = 1;
	minor = ms_classify_parsed(NULL, MS_PARSE_OK, &pkt, 1);
	/* Its packets no longer report it: each run does, once per interval. */
	if (minor == MS_MINOR_UNATTRIBUTED)
		report_flow(retag_ifindex[0], &pkt.key, cfg, bpf_ktime_get_ns());
	return ms_sk_tag(tag_major, minor, cfg->mq_ifb_ifindex != 0);
}

SEC("iter/tcp")
int retag(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_sock *tp;
	int priority = 0;
	__u32 tag;

	if (!skc)
		return 0;
	/* full sockets only: request and time-wait sockets have no priority of their own */
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0;
	/*
	 * The tag first, then the priority read and written back to back: an
	 * application sets its priority without the socket lock this runs
	 * under, and one set in between would be taken for a tag.
	 */
	tag = sk_tag((struct sock *)tp);
	if (bpf_getsockopt(tp, MS_SOL_SOCKET, MS_SO_PRIORITY, &priority, sizeof(priority)))
		return 0;
	/*
	 * The application's own priority stays, as another agent's tag: its
	 * packets take the parse. A tag of an agent from before per-agent
	 * majors is taken over (or off): nothing else would ever remove it.
	 */
	if (priority && !ms_sk_tag_is(tag_major, (__u32)priority) &&
	    !ms_sk_tag_is(MS_SK_TAG_MAJOR_LEGACY, (__u32)priority))
		return 0;
	if (tag != (__u32)priority &&
	    bpf_setsockopt(tp, MS_SOL_SOCKET, MS_SO_PRIORITY, &tag, sizeof(tag)))
		retag_failed++;
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
