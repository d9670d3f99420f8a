// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target for the tc classifier (bpf/classifier.bpf.c): every input
 * is one packet, run through the real BPF program with BPF_PROG_TEST_RUN and
 * through the user-space reference classifier (include/classify.h over
 * tests/bpf/ref.h) with the same tables. The program is loaded without
 * attaching (ms_dataplane_open with ifname NULL) and its tables are filled
 * through bpf/loader.c, lookup hints included, exactly as the agent
 * does. It aborts when:
 *   - the class (skb->priority's minor) differs from the reference's, the
 *     major is not MS_HTB_MAJOR, or the program returns anything but
 *     TC_ACT_OK;
 *   - the packet came back changed other than by DSCP marking where marking
 *     is on and the class is marked: DSCP (ECN kept) in the right byte and,
 *     for IPv4, a header checksum that still sums the same;
 *   - the class counter did not grow by exactly this packet;
 *   - a flow event was emitted for a packet not classed unattributed, more
 *     than one was, or it carries another 5-tuple than the packet's.
 * Needs root (exit 77 with a "SKIP" line otherwise, or if the program does
 * not load here); tests/fuzz/run.sh builds it against $BUILD/classifier.skel.h.
 *
 * The tables: flows are built around the packet itself (random flows would
 * never match a random packet) and change with every input. Management
 * CIDRs and ports cannot: every change rewrites a 65536-entry hint or port
 * map (~30 ms each), and consecutive inputs come from different corpus
 * entries. So the program is loaded N_WORLDS times, each instance ("world")
 * with fixed ports and CIDRs from PORT_PROFILES and CIDR_POOL, whose edges
 * (prefixes 0, 1, 7-17, 32, 33, 64, 80, 81, 95-97, 104-113, 120, 128, host
 * bits set, IPv4-mapped or not, overlapping) the seeds' addresses sit on,
 * and the input picks the world.
 * Input: CTL_LEN control bytes, then the Ethernet frame.
 *   c[0] flags: FL_FLOW (a flow for the packet's 5-tuple), FL_NEAR (a flow
 *        one field away, see c[3]), FL_REVERSE (a flow for the reverse
 *        direction), FL_DSCP (DSCP marking on); bits 4-7 unused
 *   c[1] % N_WORLDS: the world (ports and management CIDRs)
 *   c[2] migration slot of the flows (class MS_MINOR_MIG_BASE + c[2]; the
 *        near and reverse flows use slots c[2] + 1 and + 2)
 *   c[3] near flow: low 3 bits the field (a source or destination address
 *        bit, the source or destination port, the protocol), high 5 bits
 *        which bit or how far
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"
#include "log.h"
#include "migshaper.h"
#include "bpf/ref.h"

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "fuzz_classifier: %s:%d: %s\n", __FILE__, __LINE__, \
				#cond);                                               \
			abort();                                                      \
		}                                                                     \
	} while (0)

#define CTL_LEN 4
/* BPF_PROG_TEST_RUN takes at most a page minus head- and tailroom. */
#define MAX_FRAME 3000

enum {
	FL_FLOW = 1 << 0,
	FL_NEAR = 1 << 1,
	FL_REVERSE = 1 << 2,
	FL_DSCP = 1 << 3,
};

#define MAX_FLOWS 3
#define MAX_MGMT  4

/* Prefix lengths are of the 16-byte key: an IPv4 /24 is 96 + 24. */
static const struct {
	const char *addr;
	__u32 prefixlen;
} CIDR_POOL[] = {
	{"198.18.0.3", 128},	 {"198.18.0.200", 120}, /* host bits set */
	{"10.0.0.0", 104},	 {"0.0.0.0", 96},	/* every IPv4 address */
	{"128.0.0.0", 97},	 {"198.16.0.0", 111},
	{"198.18.0.0", 112},	 {"198.18.0.0", 113},
	{"198.18.128.0", 113},	 {"fd00::3", 128},
	{"fd00::", 64},		 {"fc00::", 7},
	{"::", 0},		 {"::fffe:0:0", 95}, /* covers every IPv4-mapped one */
	{"::", 81},		 {"2001:db8::", 32},
	{"fe80::", 10},		 {"8000::", 1},
	{"::ffff:0:0", 80},	 {"fd00:0:8000::", 33},
	{"fd00::", 16},		 {"fd01::", 17},
	{"::1", 128},		 {"2001:db8:0:1::", 64},
};
#define N_CIDR_POOL (sizeof(CIDR_POOL) / sizeof(CIDR_POOL[0]))

static const struct {
	__u16 mgmt[MAX_MGMT];
	size_t n_mgmt;
	__u16 min, max;
} PORT_PROFILES[] = {
	{{22, 16509, 16514, 54321}, 4, 49152, 49215}, /* what ms_dataplane_open sets */
	{{22, 5201, 49200}, 3, 49152, 49215},	      /* management inside the range */
	{{0}, 0, 0, 65535},
	{{0, 65535}, 2, 1, 1},
	{{22}, 1, 65535, 65535},
	{{16509}, 1, 34567, 34567}, /* the seeds' source port */
	{{34567}, 1, 49152, 49215},
	{{80, 443}, 2, 1024, 65535},
};
#define N_PORT_PROFILES (sizeof(PORT_PROFILES) / sizeof(PORT_PROFILES[0]))

/* Ports and CIDRs of each instance of the program (indices into the pools). */
static const struct {
	unsigned int ports;
	__u32 cidrs; /* bit i: CIDR_POOL[i] */
} WORLDS[] = {
	{0, 0},				       /* the agent's defaults */
	{0, 1U << 0 | 1U << 9},		       /* the lab's: the manager's /32 and /128 */
	{1, 1U << 1 | 1U << 2 | 1U << 5 | 1U << 10 | 1U << 15},
	{2, 1U << 13 | 1U << 16},
	{3, 1U << 4 | 1U << 21 | 1U << 22},
	{5, 1U << 7 | 1U << 8 | 1U << 19 | 1U << 23},
	{6, 1U << 14 | 1U << 17 | 1U << 18},
	{7, 1U << 3 | 1U << 11 | 1U << 20},
	{4, 1U << 12},			       /* everything is management */
	{0, 1U << 6 | 1U << 9 | 1U << 10},     /* overlapping prefixes */
};
#define N_WORLDS (sizeof(WORLDS) / sizeof(WORLDS[0]))

static struct world {
	struct ms_dataplane *dp;
	int prog_fd;
	struct ref_tables ref;
	/* what is in its flow table now */
	struct ms_flow_key flows[MAX_FLOWS];
	size_t n_flows;
	int dscp; /* -1: config not written yet */
} worlds[N_WORLDS];

static int n_events;
static struct ms_flow_event last_event;
/* FUZZ_CLASSIFIER_VERBOSE=1: one line per input (to check a seed corpus). */
static bool verbose;

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN)
		return vfprintf(stderr, fmt, ap);
	return 0;
}

static void on_event(void *ctx, const struct ms_flow_event *ev)
{
	(void)ctx;
	last_event = *ev;
	n_events++;
}

static void cidr_from_pool(size_t i, struct ms_cidr_key *k)
{
	const char *a = CIDR_POOL[i].addr;

	memset(k, 0, sizeof(*k));
	k->prefixlen = CIDR_POOL[i].prefixlen;
	if (strchr(a, ':')) {
		CHECK(inet_pton(AF_INET6, a, k->addr) == 1);
	} else {
		k->addr[10] = k->addr[11] = 0xff;
		CHECK(inet_pton(AF_INET, a, k->addr + 12) == 1);
	}
}

static void world_open(struct world *w, unsigned int ports, __u32 cidrs)
{
	struct ms_dataplane_opts opts = {0};
	const __u16 *mgmt = PORT_PROFILES[ports].mgmt;
	size_t n = PORT_PROFILES[ports].n_mgmt, i;
	__u16 min = PORT_PROFILES[ports].min, max = PORT_PROFILES[ports].max;
	int err;

	err = ms_dataplane_open(&opts, &w->dp);
	if (err) {
		fprintf(stderr, "SKIP: cannot load the classifier: %s\n", strerror(-err));
		exit(77);
	}
	w->prog_fd = ms_dataplane_prog_fd(w->dp);
	CHECK(w->prog_fd >= 0);
	w->dscp = -1;

	CHECK(ms_dataplane_set_ports(w->dp, mgmt, n, min, max) == 0);
	for (i = 0; i < n; i++)
		w->ref.ports[mgmt[i]] |= MS_PORT_MGMT;
	for (i = min; i <= max; i++)
		w->ref.ports[i] |= MS_PORT_MIGRATION;

	/* the reference matches bit by bit up to prefixlen: host bits do not matter */
	for (i = 0; i < N_CIDR_POOL; i++)
		if (cidrs & (1U << i))
			cidr_from_pool(i, &w->ref.cidrs[w->ref.n_cidrs++]);
	CHECK(ms_dataplane_set_mgmt_cidrs(w->dp, w->ref.cidrs, w->ref.n_cidrs) == 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	size_t i;

	(void)argc;
	(void)argv;
	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: BPF_PROG_TEST_RUN of a tc program needs root\n");
		exit(77);
	}
	libbpf_set_print(libbpf_quiet);
	ms_log_set_level(MS_LOG_WARN);
	for (i = 0; i < N_WORLDS; i++)
		world_open(&worlds[i], WORLDS[i].ports, WORLDS[i].cidrs);
	verbose = getenv("FUZZ_CLASSIFIER_VERBOSE") != NULL;
	return 0;
}

/* As tests/bpf/test_classifier.c: frames the kernel will not run. */
static bool kernel_refuses(const __u8 *pkt, size_t len)
{
	__u16 et;

	if (len < 14)
		return true;
	et = (__u16)((pkt[12] << 8) | pkt[13]);
	return (et == 0x0800 && len < 14 + 20) || (et == 0x86dd && len < 14 + 40);
}

static void clear_flows(struct world *w)
{
	size_t i;

	for (i = 0; i < w->n_flows; i++)
		CHECK(ms_dataplane_flow_del(w->dp, &w->flows[i]) == 0);
	w->n_flows = 0;
	w->ref.n_flows = 0;
}

static void add_flow(struct world *w, const struct ms_flow_key *k, __u32 slot)
{
	struct ms_flow_val val = {.class_minor = MS_MINOR_MIG_BASE + slot % MS_MAX_MIGRATIONS};
	size_t i;
	int err;

	val.migration_id = val.class_minor;
	err = ms_dataplane_flow_add(w->dp, k, &val);
	if (k->l4_proto != IPPROTO_TCP && k->l4_proto != IPPROTO_UDP) {
		CHECK(err == -EINVAL); /* only TCP and UDP flows exist */
		return;
	}
	CHECK(err == 0);
	/* adding an existing key replaces its value */
	for (i = 0; i < w->ref.n_flows; i++) {
		if (!memcmp(&w->ref.flow_keys[i], k, sizeof(*k))) {
			w->ref.flow_minors[i] = val.class_minor;
			return;
		}
	}
	w->ref.flow_keys[w->ref.n_flows] = *k;
	w->ref.flow_minors[w->ref.n_flows++] = val.class_minor;
	w->flows[w->n_flows++] = *k;
}

static void apply_flows(struct world *w, const __u8 *c, const struct ms_pkt *pkt)
{
	struct ms_flow_key k;
	__u8 delta = (__u8)((c[3] >> 3) + 1);

	clear_flows(w);
	if (!pkt->has_ports)
		return;
	if (c[0] & FL_FLOW)
		add_flow(w, &pkt->key, c[2]);
	if (c[0] & FL_NEAR) {
		k = pkt->key;
		switch (c[3] & 7) {
		case 0: k.saddr[15 - (c[3] >> 3) % 16] ^= (__u8)(1 << (c[3] >> 5)); break;
		case 1: k.daddr[15 - (c[3] >> 3) % 16] ^= (__u8)(1 << (c[3] >> 5)); break;
		case 2: case 5: k.sport = (__u16)(k.sport + delta); break;
		case 3: case 6: k.dport = (__u16)(k.dport - delta); break;
		default:
			k.l4_proto = k.l4_proto == IPPROTO_TCP ? IPPROTO_UDP : IPPROTO_TCP;
			break;
		}
		add_flow(w, &k, c[2] + 1U);
	}
	if (c[0] & FL_REVERSE) {
		k = pkt->key;
		memcpy(k.saddr, pkt->key.daddr, 16);
		memcpy(k.daddr, pkt->key.saddr, 16);
		k.sport = pkt->key.dport;
		k.dport = pkt->key.sport;
		add_flow(w, &k, c[2] + 2U);
	}
}

static void apply_config(struct world *w, const __u8 *c)
{
	int dscp = (c[0] & FL_DSCP) != 0;
	/* 1 ms: a repeated flow is reported again on the next input */
	struct ms_dp_config cfg = {.flags = dscp ? MS_CFG_DSCP_MARKING : 0,
				   .report_interval_ms = 1};

	if (dscp == w->dscp)
		return;
	CHECK(ms_dataplane_set_config(w->dp, &cfg) == 0);
	w->dscp = dscp;
}

/* Ones'-complement sum of len bytes, folded, with 0 and 0xffff the same. */
static __u16 csum_fold(const __u8 *p, size_t len)
{
	__u32 sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (__u32)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff ? 0 : (__u16)sum;
}

/* What the program may have changed: nothing, or the DSCP of a marked class. */
static void check_output(const __u8 *in, const __u8 *out, size_t len, const struct ms_pkt *pkt,
			 __u32 minor, bool dscp_on)
{
	int dscp = dscp_on ? ms_class_dscp(minor) : -1;
	size_t l3 = pkt->l3_off, i;

	if (dscp < 0) {
		CHECK(memcmp(in, out, len) == 0);
		return;
	}
	if (pkt->family == 4) {
		size_t ihl = (in[l3] & 0xfU) * 4U;

		CHECK(out[l3 + 1] == (__u8)((dscp << 2) | (in[l3 + 1] & 3)));
		for (i = 0; i < len; i++)
			if (i != l3 + 1 && i != l3 + 10 && i != l3 + 11)
				CHECK(in[i] == out[i]);
		CHECK(csum_fold(in + l3, ihl) == csum_fold(out + l3, ihl));
	} else {
		__u16 w_in = (__u16)(in[l3] << 8 | in[l3 + 1]);
		__u16 w_out = (__u16)(out[l3] << 8 | out[l3 + 1]);

		CHECK(pkt->family == 6);
		CHECK(w_out == (__u16)((w_in & ~0x0fc0) | (dscp << 6)));
		for (i = 0; i < len; i++)
			if (i != l3 && i != l3 + 1)
				CHECK(in[i] == out[i]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static __u8 out[MAX_FRAME + 64];
	struct ms_class_counter before, after;
	struct __sk_buff skb;
	const __u8 *c = data, *frame;
	struct world *w;
	struct ms_pkt pkt;
	__u32 minor, want;
	size_t len;
	int res, err;

	if (size < CTL_LEN)
		return 0;
	frame = data + CTL_LEN;
	len = size - CTL_LEN;
	if (len > MAX_FRAME || kernel_refuses(frame, len))
		return 0;

	/* The same tables on both sides. */
	w = &worlds[c[1] % N_WORLDS];
	res = ms_parse(frame, frame + len, &pkt);
	apply_config(w, c);
	apply_flows(w, c, &pkt);
	want = ref_classify(&w->ref, frame, len);

	/* Drop events earlier inputs left behind. */
	CHECK(ms_dataplane_events_consume(w->dp, on_event, NULL) >= 0);
	memset(&skb, 0, sizeof(skb));
	memset(out, 0, sizeof(out));
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (__u32)len,
		    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &skb,
		    .ctx_size_in = sizeof(skb), .ctx_out = &skb, .ctx_size_out = sizeof(skb),
		    .repeat = 1);

	CHECK(ms_dataplane_counters(w->dp, want, &before) == 0);
	n_events = 0;
	err = bpf_prog_test_run_opts(w->prog_fd, &opts);
	if (err) {
		fprintf(stderr, "BPF_PROG_TEST_RUN of a %zu-byte frame: %s\n", len, strerror(-err));
		CHECK(err == 0);
	}
	CHECK(opts.retval == 0); /* TC_ACT_OK: never a drop */
	CHECK(skb.priority >> 16 == MS_HTB_MAJOR);
	minor = skb.priority & 0xffff;
	if (verbose || minor != want)
		fprintf(stderr, "fuzz_classifier: world %zu, %zu-byte frame, parse %d, BPF class %#x, "
				"reference %#x, %zu flows, %zu CIDRs, dscp %d\n",
			(size_t)(w - worlds), len, res, minor, want, w->ref.n_flows, w->ref.n_cidrs,
			w->dscp);
	CHECK(minor == want);
	CHECK(opts.data_size_out == len);
	check_output(frame, out, len, &pkt, minor, w->dscp == 1);

	CHECK(ms_dataplane_counters(w->dp, minor, &after) == 0);
	CHECK(after.packets == before.packets + 1);
	CHECK(after.bytes == before.bytes + len);

	CHECK(ms_dataplane_events_consume(w->dp, on_event, NULL) == n_events);
	if (minor != MS_MINOR_UNATTRIBUTED) {
		CHECK(n_events == 0);
	} else {
		CHECK(n_events <= 1);
		if (n_events)
			CHECK(memcmp(&last_event.key, &pkt.key, sizeof(pkt.key)) == 0);
	}
	return 0;
}
