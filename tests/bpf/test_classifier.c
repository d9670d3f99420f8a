// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The tc classifier under BPF_PROG_TEST_RUN, without attaching it anywhere:
 * loaded through bpf/loader.c in its load-only mode, so its tables are
 * filled by the real user-space code, lookup hints included. Every packet also goes through the
 * user-space reference classifier (include/classify.h over tests/bpf/ref.h) with the same tables,
 * and the two must agree; the property test does that for a million random packets.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"
#include "log.h"
#include "migshaper.h"
#include "bpf/pkt.h"
#include "bpf/ref.h"

#define MIG_A (MS_MINOR_MIG_BASE + 0)
#define MIG_B (MS_MINOR_MIG_BASE + 5)
#define MIG_C (MS_MINOR_MIG_BASE + 255)

struct fx {
	struct ms_dataplane *dp;
	int prog_fd;
	struct ref_tables *ref;
	struct ring_buffer *rb;
	struct ms_flow_event events[64];
	int n_events;
};

static void on_event(void *ctx, const struct ms_flow_event *ev)
{
	struct fx *fx = ctx;

	if (fx->n_events < 64)
		fx->events[fx->n_events] = *ev;
	fx->n_events++;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN)
		return vfprintf(stderr, fmt, ap);
	return 0;
}

/* Skips the whole program (exit 77) when BPF cannot be used here. */
static void require_bpf(void)
{
	struct ms_dataplane_opts opts = {0};
	struct ms_dataplane *dp;
	int err;

	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: BPF_PROG_TEST_RUN of a tc program needs root\n");
		exit(77);
	}
	err = ms_dataplane_open(&opts, &dp);
	if (err) {
		fprintf(stderr, "SKIP: cannot load the classifier: %s\n", strerror(-err));
		exit(77);
	}
	ms_dataplane_close(dp, true);
}

static void ports_set(struct fx *fx, const __u16 *mgmt, size_t n, __u16 min, __u16 max)
{
	size_t i;

	memset(fx->ref->ports, 0, sizeof(fx->ref->ports));
	for (i = 0; i < n; i++)
		fx->ref->ports[mgmt[i]] |= MS_PORT_MGMT;
	for (i = min; i <= max; i++)
		fx->ref->ports[i] |= MS_PORT_MIGRATION;
	assert_int_equal(ms_dataplane_set_ports(fx->dp, mgmt, n, min, max), 0);
}

/* What ms_dataplane_open sets up. */
static void default_ports(struct fx *fx)
{
	static const __u16 mgmt[] = {22, 16509, 16514, 54321};

	ports_set(fx, mgmt, 4, 49152, 49215);
}

static void config_set(struct fx *fx, __u32 flags, __u32 interval_ms)
{
	struct ms_dp_config cfg = {.flags = flags, .report_interval_ms = interval_ms};

	assert_int_equal(ms_dataplane_set_config(fx->dp, &cfg), 0);
}

static void flow_add(struct fx *fx, const struct pkt_spec *s, __u32 minor)
{
	struct ms_flow_val val = {.class_minor = minor, .migration_id = minor};
	struct ms_flow_key key;

	assert_int_equal(pkt_flow_key(s, &key), 0);
	assert_true(fx->ref->n_flows < REF_MAX_FLOWS);
	fx->ref->flow_keys[fx->ref->n_flows] = key;
	fx->ref->flow_minors[fx->ref->n_flows++] = minor;
	assert_int_equal(ms_dataplane_flow_add(fx->dp, &key, &val), 0);
}

static void flow_del(struct fx *fx, const struct pkt_spec *s)
{
	struct ms_flow_key key;
	size_t i;

	assert_int_equal(pkt_flow_key(s, &key), 0);
	for (i = 0; i < fx->ref->n_flows; i++) {
		if (memcmp(&fx->ref->flow_keys[i], &key, sizeof(key)))
			continue;
		fx->ref->n_flows--;
		fx->ref->flow_keys[i] = fx->ref->flow_keys[fx->ref->n_flows];
		fx->ref->flow_minors[i] = fx->ref->flow_minors[fx->ref->n_flows];
		break;
	}
	assert_int_equal(ms_dataplane_flow_del(fx->dp, &key), 0);
}

/* "10.1.0.0", 16 or "2001:db8:1::", 48: IPv4 lengths are shifted by 96. */
static void cidr_add(struct fx *fx, const char *addr, __u32 len)
{
	struct ms_cidr_key key = {0};

	assert_int_equal(pkt_addr16(addr, key.addr), 0);
	key.prefixlen = strchr(addr, ':') ? len : 96 + len;
	assert_true(fx->ref->n_cidrs < REF_MAX_CIDRS);
	fx->ref->cidrs[fx->ref->n_cidrs++] = key;
	/* the whole set every time: that is how the agent uses it */
	assert_int_equal(ms_dataplane_set_mgmt_cidrs(fx->dp, fx->ref->cidrs, fx->ref->n_cidrs), 0);
}

/*
 * BPF_PROG_TEST_RUN refuses (-EINVAL) frames shorter than an Ethernet header
 * and, for an untagged IPv4 or IPv6 ethertype, shorter than the bare IP
 * header: those packets cannot reach the program this way.
 */
static bool kernel_refuses(const __u8 *pkt, size_t len)
{
	__u16 et;

	if (len < 14)
		return true;
	et = (__u16)((pkt[12] << 8) | pkt[13]);
	return (et == 0x0800 && len < 14 + 20) || (et == 0x86dd && len < 14 + 40);
}

/*
 * Runs one packet; returns the class minor from skb->priority, or -errno if
 * the kernel refused the run. Checks the reference agrees.
 */
static int run_raw(struct fx *fx, const void *pkt, size_t len, void *out, __u32 out_cap)
{
	struct __sk_buff skb = {0};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = (__u32)len,
		    .data_out = out, .data_size_out = out_cap, .ctx_in = &skb,
		    .ctx_size_in = sizeof(skb), .ctx_out = &skb, .ctx_size_out = sizeof(skb),
		    .repeat = 1);
	__u32 minor;
	int err;

	err = bpf_prog_test_run_opts(fx->prog_fd, &opts);
	if (err) {
		assert_int_equal(err, -EINVAL);
		assert_true(kernel_refuses(pkt, len));
		return err;
	}
	assert_int_equal(opts.retval, 0); /* TC_ACT_OK: never a drop */
	assert_int_equal(skb.priority >> 16, MS_HTB_MAJOR);
	minor = skb.priority & 0xffff;
	if (minor != ref_classify(fx->ref, pkt, len)) {
		fprintf(stderr, "BPF says %#x, reference says %#x for this %zu-byte packet\n",
			minor, ref_classify(fx->ref, pkt, len), len);
		fail();
	}
	return (int)minor;
}

static int run_spec(struct fx *fx, const struct pkt_spec *s)
{
	__u8 buf[PKT_MAX];
	size_t len = pkt_build(s, buf);

	assert_true(len > 0);
	return run_raw(fx, buf, len, NULL, 0);
}

static int setup(void **state)
{
	struct ms_dataplane_opts opts = {0};
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->ref = calloc(1, sizeof(*fx->ref));
	assert_non_null(fx->ref);
	assert_int_equal(ms_dataplane_open(&opts, &fx->dp), 0);
	fx->prog_fd = ms_dataplane_prog_fd(fx->dp);
	assert_true(fx->prog_fd >= 0);
	default_ports(fx);
	config_set(fx, 0, 60000);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	ms_dataplane_close(fx->dp, true);
	free(fx->ref);
	free(fx);
	return 0;
}

static struct ms_class_counter counter(struct fx *fx, __u32 minor)
{
	struct ms_class_counter sum;

	assert_int_equal(ms_dataplane_counters(fx->dp, minor, &sum), 0);
	return sum;
}

static __u64 events_lost(struct fx *fx)
{
	__u64 lost;

	assert_int_equal(ms_dataplane_events_lost(fx->dp, &lost), 0);
	return lost;
}

static int consume(struct fx *fx)
{
	int n;

	fx->n_events = 0;
	n = ms_dataplane_events_consume(fx->dp, on_event, fx);
	assert_int_equal(n, fx->n_events);
	return n;
}

/* --- every class, both families -------------------------------------- */

static void check_classes(struct fx *fx, const char *a, const char *b, const char *mgmt_net,
			  __u32 mgmt_len, const char *in_mgmt)
{
	struct pkt_spec s = {.src = a, .dst = b, .proto = IPPROTO_TCP, .sport = 40000, .dport = 80};

	assert_int_equal(run_spec(fx, &s), MS_MINOR_DEFAULT);
	s.proto = IPPROTO_UDP;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_DEFAULT);

	/* management ports, either side, TCP and UDP */
	s.proto = IPPROTO_TCP, s.dport = 22;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_MGMT);
	s.sport = 16509, s.dport = 40000;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_MGMT);
	s.proto = IPPROTO_UDP, s.sport = 54321;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_MGMT);

	/* the migration port range, edges included */
	s.proto = IPPROTO_TCP, s.sport = 40000, s.dport = 49152;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_UNATTRIBUTED);
	s.dport = 49215;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_UNATTRIBUTED);
	s.dport = 49216;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_DEFAULT);
	/* only towards the range: a local port in it is an ephemeral port */
	s.sport = 49152, s.dport = 40000;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_DEFAULT);

	/* management beats migration: sshd answering a client whose port is in the range */
	s.sport = 49152, s.dport = 22;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_MGMT);
	s.sport = 22, s.dport = 49160;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_MGMT);

	/* an attributed flow beats everything, but only its exact 5-tuple */
	s.sport = 34567, s.dport = 49152;
	flow_add(fx, &s, MIG_B);
	assert_int_equal(run_spec(fx, &s), MIG_B);
	s.proto = IPPROTO_UDP;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_UNATTRIBUTED);
	s.proto = IPPROTO_TCP, s.sport = 34568;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_UNATTRIBUTED);
	s.src = b, s.dst = a, s.sport = 34567; /* the reverse direction is its own flow */
	assert_int_equal(run_spec(fx, &s), MS_MINOR_UNATTRIBUTED);

	/* a flow on management ports and addresses still wins */
	cidr_add(fx, mgmt_net, mgmt_len);
	s.src = in_mgmt, s.dst = b, s.sport = 22, s.dport = 16514;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_MGMT);
	flow_add(fx, &s, MIG_C);
	assert_int_equal(run_spec(fx, &s), MIG_C);
	s.sport = 1000, s.dport = 80;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_MGMT);
}

static void test_classes_ipv4(void **state)
{
	check_classes(*state, "198.18.0.1", "198.18.0.2", "10.1.0.0", 16, "10.1.200.3");
}

static void test_classes_ipv6(void **state)
{
	check_classes(*state, "2001:db8::1", "2001:db8::2", "2001:db8:1::", 48, "2001:db8:1::9");
}

/* The API refuses what the classifier could never use. */
static void test_api_validation(void **state)
{
	struct fx *fx = *state;
	struct pkt_spec s = {.src = "198.18.0.1",
			     .dst = "198.18.0.2",
			     .proto = IPPROTO_TCP,
			     .sport = 1234,
			     .dport = 49153};
	struct ms_flow_val val = {.class_minor = MS_MINOR_LINK};
	struct ms_cidr_key bad = {.prefixlen = 129};
	struct ms_dp_config cfg = {.flags = 0x80};
	struct ms_class_counter c;
	struct ms_flow_key key;
	char buf[MS_FLOW_KEY_STRLEN];

	pkt_flow_key(&s, &key);
	assert_int_equal(ms_dataplane_flow_add(fx->dp, &key, &val), -EINVAL);
	val.class_minor = MS_MINOR_MIG_BASE + MS_MAX_MIGRATIONS;
	assert_int_equal(ms_dataplane_flow_add(fx->dp, &key, &val), -EINVAL);
	val.class_minor = MS_MINOR_MIG_BASE;
	key.l4_proto = IPPROTO_ICMP;
	assert_int_equal(ms_dataplane_flow_add(fx->dp, &key, &val), -EINVAL);
	key.l4_proto = IPPROTO_TCP;
	assert_int_equal(ms_dataplane_flow_del(fx->dp, &key), -ENOENT);
	/* garbage in the key's padding does not matter */
	key.pad[1] = 0x55;
	assert_int_equal(ms_dataplane_flow_add(fx->dp, &key, &val), 0);
	fx->ref->flow_keys[fx->ref->n_flows] = key;
	memset(fx->ref->flow_keys[fx->ref->n_flows].pad, 0, 3);
	fx->ref->flow_minors[fx->ref->n_flows++] = MS_MINOR_MIG_BASE;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_MIG_BASE);

	assert_int_equal(ms_dataplane_set_mgmt_cidrs(fx->dp, &bad, 1), -EINVAL);
	assert_int_equal(ms_dataplane_set_config(fx->dp, &cfg), -EINVAL);
	assert_int_equal(ms_dataplane_set_ports(fx->dp, NULL, 0, 2, 1), -EINVAL);
	assert_int_equal(ms_dataplane_counters(fx->dp, MS_CLASS_SLOTS, &c), -EINVAL);

	assert_int_equal(ms_flow_key_format(&key, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "198.18.0.1:1234 -> 198.18.0.2:49153 tcp");
	s.src = "2001:db8::1", s.dst = "fd00::2", s.proto = IPPROTO_UDP;
	pkt_flow_key(&s, &key);
	assert_int_equal(ms_flow_key_format(&key, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "[2001:db8::1]:1234 -> [fd00::2]:49153 udp");
	assert_int_equal(ms_flow_key_format(&key, buf, 10), -ENOSPC);
	assert_int_equal(strlen(buf), 9);
}

/* Flows sharing ports: the lookup hints are reference counted. */
static void test_flow_shared_ports(void **state)
{
	struct fx *fx = *state;
	struct pkt_spec a = {.src = "198.18.0.1",
			     .dst = "198.18.0.2",
			     .proto = IPPROTO_TCP,
			     .sport = 40000,
			     .dport = 49152};
	struct pkt_spec b = a, c = a;

	b.src = "198.18.0.3";		  /* same ports as a */
	c.sport = 49152, c.dport = 40000; /* a's ports, swapped */
	flow_add(fx, &a, MIG_A);
	flow_add(fx, &b, MIG_B);
	flow_add(fx, &c, MIG_C);
	flow_add(fx, &a, MIG_A); /* again: no double count */
	fx->ref->n_flows--;
	flow_del(fx, &a);
	assert_int_equal(run_spec(fx, &b), MIG_B);
	assert_int_equal(run_spec(fx, &c), MIG_C);
	assert_int_equal(run_spec(fx, &a), MS_MINOR_UNATTRIBUTED);
	flow_del(fx, &c);
	assert_int_equal(run_spec(fx, &b), MIG_B);
	flow_del(fx, &b);
	assert_int_equal(run_spec(fx, &b), MS_MINOR_UNATTRIBUTED);
	/* a new port set keeps the hints of existing flows */
	flow_add(fx, &b, MIG_B);
	ports_set(fx, (const __u16[]){22}, 1, 50000, 50010);
	assert_int_equal(run_spec(fx, &b), MIG_B);
	assert_int_equal(run_spec(fx, &a), MS_MINOR_DEFAULT);
}

/* The CIDR set is replaced, not merged, and the hints follow. */
static void test_cidr_replace(void **state)
{
	struct fx *fx = *state;
	struct pkt_spec s = {.src = "198.18.0.1",
			     .dst = "10.1.2.3",
			     .proto = IPPROTO_TCP,
			     .sport = 40000,
			     .dport = 80};
	struct pkt_spec v6 = s;

	v6.src = "2001:db8::1", v6.dst = "2001:db8:77::1";
	cidr_add(fx, "10.1.0.0", 16);
	cidr_add(fx, "2001:db8:77::", 48);
	assert_int_equal(run_spec(fx, &s), MS_MINOR_MGMT);
	assert_int_equal(run_spec(fx, &v6), MS_MINOR_MGMT);
	/* now only a /8 elsewhere and a short IPv6 prefix */
	fx->ref->n_cidrs = 0;
	cidr_add(fx, "11.0.0.0", 8);
	cidr_add(fx, "2000::", 3);
	assert_int_equal(run_spec(fx, &s), MS_MINOR_DEFAULT);
	assert_int_equal(run_spec(fx, &v6), MS_MINOR_MGMT);
	s.dst = "11.200.1.1";
	assert_int_equal(run_spec(fx, &s), MS_MINOR_MGMT);
	v6.dst = "4000::1", v6.src = "fd00::1";
	assert_int_equal(run_spec(fx, &v6), MS_MINOR_DEFAULT);
	/* and empty */
	fx->ref->n_cidrs = 0;
	assert_int_equal(ms_dataplane_set_mgmt_cidrs(fx->dp, NULL, 0), 0);
	assert_int_equal(run_spec(fx, &s), MS_MINOR_DEFAULT);
	/* ::/0 and an IPv4 prefix shorter than 16 bits */
	cidr_add(fx, "12.0.0.0", 6);
	s.dst = "15.255.0.1";
	assert_int_equal(run_spec(fx, &s), MS_MINOR_MGMT);
	s.dst = "16.0.0.1";
	assert_int_equal(run_spec(fx, &s), MS_MINOR_DEFAULT);
	cidr_add(fx, "::", 0);
	assert_int_equal(run_spec(fx, &s), MS_MINOR_MGMT);
	assert_int_equal(run_spec(fx, &v6), MS_MINOR_MGMT);
}

static void test_flow_add_del(void **state)
{
	struct fx *fx = *state;
	struct pkt_spec s = {.src = "198.18.0.1",
			     .dst = "198.18.0.2",
			     .proto = IPPROTO_TCP,
			     .sport = 34567,
			     .dport = 49152};
	struct pkt_spec t = s;

	t.src = "2001:db8::1", t.dst = "2001:db8::2", t.proto = IPPROTO_UDP;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_UNATTRIBUTED);
	flow_add(fx, &s, MIG_A);
	flow_add(fx, &t, MIG_B);
	assert_int_equal(run_spec(fx, &s), MIG_A);
	assert_int_equal(run_spec(fx, &t), MIG_B);
	flow_del(fx, &s);
	assert_int_equal(run_spec(fx, &s), MS_MINOR_UNATTRIBUTED);
	assert_int_equal(run_spec(fx, &t), MIG_B);
	flow_del(fx, &t);
	assert_int_equal(run_spec(fx, &t), MS_MINOR_UNATTRIBUTED);
	/* a flow outside the migration port range is attributed all the same */
	s.dport = 8000;
	flow_add(fx, &s, MIG_C);
	assert_int_equal(run_spec(fx, &s), MIG_C);
}

static void test_mgmt_cidr_src_dst(void **state)
{
	struct fx *fx = *state;
	struct pkt_spec s = {.src = "10.1.2.3",
			     .dst = "198.18.0.2",
			     .proto = IPPROTO_TCP,
			     .sport = 40000,
			     .dport = 80};
	struct pkt_spec icmp = {.src = "198.18.0.9", .dst = "172.16.5.5", .proto = IPPROTO_ICMP};
	struct pkt_spec v6 = {.src = "2001:db8:1:ffff::1",
			      .dst = "fd00::1",
			      .proto = IPPROTO_UDP,
			      .sport = 5000,
			      .dport = 5001};

	assert_int_equal(run_spec(fx, &s), MS_MINOR_DEFAULT);
	cidr_add(fx, "10.1.0.0", 16);
	cidr_add(fx, "172.16.5.5", 32);
	cidr_add(fx, "2001:db8:1::", 48);
	assert_int_equal(run_spec(fx, &s), MS_MINOR_MGMT); /* by source */
	s.src = "198.18.0.2", s.dst = "10.1.255.255";
	assert_int_equal(run_spec(fx, &s), MS_MINOR_MGMT); /* by destination */
	s.dst = "10.2.0.1";
	assert_int_equal(run_spec(fx, &s), MS_MINOR_DEFAULT);
	s.dst = "172.16.5.5";
	assert_int_equal(run_spec(fx, &s), MS_MINOR_MGMT);
	s.dst = "172.16.5.4";
	assert_int_equal(run_spec(fx, &s), MS_MINOR_DEFAULT);
	/*
	 * The migration range beats a CIDR: the management subnet often holds
	 * the migration destinations, whose data must stay capped.
	 */
	s.dst = "10.1.0.1", s.dport = 49160;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_UNATTRIBUTED);
	/* an ephemeral local port in the range does not make it a migration */
	s.sport = 49160, s.dport = 5001;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_MGMT);
	s.sport = 5000;

	/* non-TCP/UDP: only the CIDR rule applies */
	assert_int_equal(run_spec(fx, &icmp), MS_MINOR_MGMT);
	icmp.dst = "172.16.5.6";
	assert_int_equal(run_spec(fx, &icmp), MS_MINOR_DEFAULT);

	assert_int_equal(run_spec(fx, &v6), MS_MINOR_MGMT);
	v6.src = "fd00::2", v6.dst = "2001:db8:1::1";
	assert_int_equal(run_spec(fx, &v6), MS_MINOR_MGMT);
	v6.dst = "2001:db8:2::1";
	assert_int_equal(run_spec(fx, &v6), MS_MINOR_DEFAULT);
	/* an IPv4-mapped IPv6 address falls in the IPv4 CIDR */
	v6.dst = "::ffff:10.1.9.9";
	assert_int_equal(run_spec(fx, &v6), MS_MINOR_MGMT);
}

static void test_non_ip(void **state)
{
	struct fx *fx = *state;
	__u8 arp[42] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06};
	__u8 lldp[60] = {0x01, 0x80, 0xc2, 0, 0, 0x0e, 2, 0, 0, 0, 0, 1, 0x88, 0xcc};

	cidr_add(fx, "0.0.0.0", 0); /* even "everything is management" does not apply */
	assert_int_equal(run_raw(fx, arp, sizeof(arp), NULL, 0), MS_MINOR_DEFAULT);
	assert_int_equal(run_raw(fx, lldp, sizeof(lldp), NULL, 0), MS_MINOR_DEFAULT);
}

static void test_vlan_qinq(void **state)
{
	struct fx *fx = *state;
	struct pkt_spec s = {.src = "198.18.0.1",
			     .dst = "198.18.0.2",
			     .proto = IPPROTO_TCP,
			     .sport = 40000,
			     .dport = 22,
			     .n_vlan = 1};
	struct pkt_spec v6 = {.src = "2001:db8::1",
			      .dst = "2001:db8::2",
			      .proto = IPPROTO_UDP,
			      .sport = 40000,
			      .dport = 49200,
			      .n_vlan = 2,
			      .vlan_tpid = {0x88a8, 0x8100}};

	/*
	 * BPF_PROG_TEST_RUN gives a tagged frame no inet socket (its dummy
	 * socket's family follows the outer EtherType), so the host's port
	 * rules do not apply: the parse through the tags shows in the CIDR and
	 * flow-table matches instead.
	 */
	assert_int_equal(run_spec(fx, &s), MS_MINOR_DEFAULT);
	cidr_add(fx, "198.18.0.2", 32);
	assert_int_equal(run_spec(fx, &s), MS_MINOR_MGMT);
	s.vlan_tpid[0] = 0x88a8;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_MGMT);
	s.n_vlan = 2, s.vlan_tpid[1] = 0x8100;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_MGMT);
	s.dport = 49152;
	flow_add(fx, &s, MIG_A);
	assert_int_equal(run_spec(fx, &s), MIG_A);
	assert_int_equal(run_spec(fx, &v6), MS_MINOR_DEFAULT);
	flow_add(fx, &v6, MIG_B);
	assert_int_equal(run_spec(fx, &v6), MIG_B);
	/* a third tag is beyond the bound: default */
	s.n_vlan = 3, s.dport = 22;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_DEFAULT);
}

static void test_ipv4_options(void **state)
{
	struct fx *fx = *state;
	struct pkt_spec s = {.src = "198.18.0.1",
			     .dst = "198.18.0.2",
			     .proto = IPPROTO_TCP,
			     .sport = 40000,
			     .dport = 16514};
	int opt;

	for (opt = 0; opt <= 40; opt += 4) {
		s.ip_opt_len = opt;
		s.dport = 16514;
		assert_int_equal(run_spec(fx, &s), MS_MINOR_MGMT);
		s.dport = 49170;
		assert_int_equal(run_spec(fx, &s), MS_MINOR_UNATTRIBUTED);
	}
}

static void test_ipv4_fragments(void **state)
{
	struct fx *fx = *state;
	struct pkt_spec s = {.src = "198.18.0.1",
			     .dst = "10.1.0.1",
			     .proto = IPPROTO_UDP,
			     .sport = 40000,
			     .dport = 22,
			     .more_frags = true,
			     .payload = 100};

	/* first fragment: the ports are there */
	assert_int_equal(run_spec(fx, &s), MS_MINOR_MGMT);
	s.dport = 49152;
	flow_add(fx, &s, MIG_B);
	assert_int_equal(run_spec(fx, &s), MIG_B);
	/* later fragments: no ports, and default even for a CIDR or flow match */
	cidr_add(fx, "10.1.0.0", 16);
	s.frag_off = 185;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_DEFAULT);
	s.more_frags = false;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_DEFAULT);
	s.frag_off = 1;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_DEFAULT);
	s.frag_off = 0, s.dport = 80;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_MGMT);
}

static void test_ipv6_ext_headers(void **state)
{
	struct fx *fx = *state;
	static const __u8 types[] = {0, 43, 60, 51};
	struct pkt_spec s = {.src = "2001:db8::1",
			     .dst = "2001:db8::2",
			     .proto = IPPROTO_TCP,
			     .sport = 40000,
			     .dport = 22};
	unsigned int i;
	int n;

	for (i = 0; i < sizeof(types); i++) {
		s.n_ext = 1, s.ext[0] = types[i];
		assert_int_equal(run_spec(fx, &s), MS_MINOR_MGMT);
	}
	/* a chain of every kind, up to the bound of 6 */
	for (n = 1; n <= 6; n++) {
		s.n_ext = n;
		for (i = 0; i < (unsigned int)n; i++)
			s.ext[i] = types[(i + (unsigned int)n) % sizeof(types)];
		assert_int_equal(run_spec(fx, &s), MS_MINOR_MGMT);
	}
	s.n_ext = 7, s.ext[6] = 60;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_DEFAULT);

	/* fragment header: first fragment classified, later ones default */
	s.n_ext = 2, s.ext[0] = 0, s.ext[1] = 60;
	s.v6_frag = true, s.more_frags = true, s.dport = 49152;
	flow_add(fx, &s, MIG_A);
	assert_int_equal(run_spec(fx, &s), MIG_A);
	s.frag_off = 100;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_DEFAULT);
	s.n_ext = 0, s.frag_off = 0, s.dport = 16509;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_MGMT);
	s.frag_off = 1;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_DEFAULT);
	/* six extension headers, the last a fragment header: still parsed */
	s.n_ext = 5, s.ext[2] = 43, s.ext[3] = 51, s.ext[4] = 0, s.frag_off = 0;
	assert_int_equal(run_spec(fx, &s), MS_MINOR_MGMT);
}

/* Every truncation of valid packets: default until the L4 header is whole. */
static void test_truncated(void **state)
{
	struct fx *fx = *state;
	struct pkt_spec specs[] = {
	    {.src = "198.18.0.1",
	     .dst = "198.18.0.2",
	     .proto = IPPROTO_TCP,
	     .sport = 22,
	     .dport = 40000,
	     .ip_opt_len = 8,
	     .n_vlan = 2,
	     .payload = 10},
	    {.src = "198.18.0.1",
	     .dst = "198.18.0.2",
	     .proto = IPPROTO_UDP,
	     .sport = 22,
	     .dport = 40000,
	     .payload = 10},
	    {.src = "2001:db8::1",
	     .dst = "2001:db8::2",
	     .proto = IPPROTO_TCP,
	     .sport = 22,
	     .dport = 40000,
	     .n_ext = 3,
	     .ext = {0, 51, 60},
	     .v6_frag = true,
	     .payload = 10},
	};
	__u8 buf[PKT_MAX];
	size_t len, l4_end, cut, i;

	/* the tagged spec has no inet socket under BPF_PROG_TEST_RUN: its CIDR */
	cidr_add(fx, "198.18.0.2", 32);
	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		len = pkt_build(&specs[i], buf);
		l4_end = len - 10;
		for (cut = 14; cut <= len; cut++) {
			if (kernel_refuses(buf, cut))
				continue;
			assert_int_equal(run_raw(fx, buf, cut, NULL, 0),
					 cut < l4_end ? MS_MINOR_DEFAULT : MS_MINOR_MGMT);
		}
	}
	/* the kernel wants at least an Ethernet header */
	for (cut = 0; cut < 14; cut++)
		assert_true(run_raw(fx, buf, cut, NULL, 0) < 0);
}

static void test_garbage(void **state)
{
	struct fx *fx = *state;
	struct pkt_spec s = {.src = "198.18.0.1",
			     .dst = "198.18.0.2",
			     .proto = IPPROTO_TCP,
			     .sport = 40000,
			     .dport = 22};
	__u8 buf[PKT_MAX];
	size_t len;
	int i;

	len = pkt_build(&s, buf);
	buf[14] = 0x45 - 0x40 + 0x60; /* IPv4 ethertype, version 6 */
	assert_int_equal(run_raw(fx, buf, len, NULL, 0), MS_MINOR_DEFAULT);
	buf[14] = 0x44; /* IHL 4 */
	assert_int_equal(run_raw(fx, buf, len, NULL, 0), MS_MINOR_DEFAULT);
	buf[14] = 0x4f; /* IHL 15: options beyond a short packet */
	assert_int_equal(run_raw(fx, buf, 14 + 40, NULL, 0), MS_MINOR_DEFAULT);
	buf[12] = 0x86, buf[13] = 0xdd; /* IPv6 ethertype, IPv4 header */
	assert_int_equal(run_raw(fx, buf, len, NULL, 0), MS_MINOR_DEFAULT);

	srandom(1);
	for (i = 0; i < 2000; i++) {
		size_t n = 14 + (size_t)(random() % 200), j;

		for (j = 0; j < n; j++)
			buf[j] = (__u8)random();
		run_raw(fx, buf, n, NULL, 0);
	}
}

/* --- DSCP marking ----------------------------------------------------- */

static void check_dscp(struct fx *fx, const struct pkt_spec *s, int want_dscp)
{
	__u8 in[PKT_MAX], out[PKT_MAX];
	size_t len = pkt_build(s, in), off = pkt_l3_off(s);
	bool v6 = strchr(s->src, ':') != NULL;
	__u8 ecn = s->tos & 3;

	assert_true(run_raw(fx, in, len, out, sizeof(out)) > 0);
	if (want_dscp < 0) {
		assert_memory_equal(in, out, len);
		return;
	}
	if (!v6) {
		assert_int_equal(out[off + 1], (want_dscp << 2) | ecn);
		assert_true(pkt_ipv4_csum_ok(out, off));
		/* only the TOS and the checksum changed */
		assert_memory_equal(in, out, off + 1);
		assert_memory_equal(in + off + 2, out + off + 2, 8);
		assert_memory_equal(in + off + 12, out + off + 12, len - off - 12);
	} else {
		__u8 tc = (__u8)(((out[off] & 0xf) << 4) | (out[off + 1] >> 4));

		assert_int_equal(out[off] >> 4, 6);
		assert_int_equal(tc, (want_dscp << 2) | ecn);
		assert_int_equal(out[off + 1] & 0xf, in[off + 1] & 0xf); /* flow label */
		assert_memory_equal(in + off + 2, out + off + 2, len - off - 2);
		assert_memory_equal(in, out, off);
	}
}

static void test_dscp_marking(void **state)
{
	struct fx *fx = *state;
	/* tagged: management by its CIDR (no inet socket under BPF_PROG_TEST_RUN) */
	struct pkt_spec mgmt = {.src = "198.18.0.1",
				.dst = "198.18.0.9",
				.proto = IPPROTO_TCP,
				.sport = 40000,
				.dport = 22,
				.tos = 0x03,
				.ip_opt_len = 12,
				.n_vlan = 1,
				.payload = 33};
	struct pkt_spec mig = {.src = "198.18.0.1",
			       .dst = "198.18.0.2",
			       .proto = IPPROTO_TCP,
			       .sport = 40000,
			       .dport = 49152,
			       .tos = 0xb9};
	struct pkt_spec att = mig, def = mig;
	struct pkt_spec mgmt6 = {.src = "2001:db8::1",
				 .dst = "2001:db8::2",
				 .proto = IPPROTO_UDP,
				 .sport = 40000,
				 .dport = 16509,
				 .tos = 0x02,
				 .n_ext = 1,
				 .ext = {0}};
	struct pkt_spec mig6 = mgmt6;
	int tos;

	att.dport = 49153;
	flow_add(fx, &att, MIG_C);
	def.dport = 443;
	mig6.dport = 49200, mig6.tos = 0xff;
	cidr_add(fx, "198.18.0.9", 32);

	/* off: nothing changes */
	check_dscp(fx, &mgmt, -1);
	check_dscp(fx, &mig, -1);
	check_dscp(fx, &mgmt6, -1);

	config_set(fx, MS_CFG_DSCP_MARKING, 60000);
	check_dscp(fx, &mgmt, MS_DSCP_MGMT);
	check_dscp(fx, &mig, MS_DSCP_MIGRATION);
	check_dscp(fx, &att, MS_DSCP_MIGRATION);
	check_dscp(fx, &def, -1);
	check_dscp(fx, &mgmt6, MS_DSCP_MGMT);
	check_dscp(fx, &mig6, MS_DSCP_MIGRATION);
	/* every ECN value and prior DSCP, so every checksum carry is hit */
	for (tos = 0; tos < 256; tos++) {
		mgmt.tos = (__u8)tos, mig.tos = (__u8)tos, mig6.tos = (__u8)tos;
		check_dscp(fx, &mgmt, MS_DSCP_MGMT);
		check_dscp(fx, &mig, MS_DSCP_MIGRATION);
		check_dscp(fx, &mig6, MS_DSCP_MIGRATION);
	}
}

/* --- counters and events --------------------------------------------- */

static void test_counters(void **state)
{
	struct fx *fx = *state;
	struct pkt_spec s = {.src = "198.18.0.1",
			     .dst = "198.18.0.2",
			     .proto = IPPROTO_TCP,
			     .sport = 40000,
			     .dport = 22,
			     .payload = 100};
	struct pkt_spec d = s, m = s, a = s;
	__u8 junk[20] = {0};
	struct ms_class_counter c;
	int i;

	d.dport = 80;
	m.dport = 49152;
	a.dport = 49153;
	flow_add(fx, &a, MIG_B);
	for (i = 0; i < 3; i++)
		run_spec(fx, &s); /* 14 + 20 + 20 + 100 = 154 bytes */
	for (i = 0; i < 5; i++)
		run_spec(fx, &d);
	run_spec(fx, &m);
	run_spec(fx, &a);
	run_spec(fx, &a);
	run_raw(fx, junk, sizeof(junk), NULL, 0);

	c = counter(fx, MS_MINOR_MGMT);
	assert_int_equal(c.packets, 3);
	assert_int_equal(c.bytes, 3 * 154);
	c = counter(fx, MS_MINOR_DEFAULT);
	assert_int_equal(c.packets, 6);
	assert_int_equal(c.bytes, 5 * 154 + 20);
	c = counter(fx, MS_MINOR_UNATTRIBUTED);
	assert_int_equal(c.packets, 1);
	c = counter(fx, MIG_B);
	assert_int_equal(c.packets, 2);
	assert_int_equal(c.bytes, 2 * 154);
	c = counter(fx, MIG_A);
	assert_int_equal(c.packets, 0);
}

/* One packet with skb_iif = ingress_ifindex; returns the program's verdict, *priority what it set.
 */
static int run_steer(struct fx *fx, const struct pkt_spec *s, __u32 ingress_ifindex,
		     __u32 *priority)
{
	struct __sk_buff skb = {.ingress_ifindex = ingress_ifindex, .priority = *priority};
	__u8 buf[PKT_MAX];
	size_t len = pkt_build(s, buf);
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = buf, .data_size_in = (__u32)len,
		    .ctx_in = &skb, .ctx_size_in = sizeof(skb), .ctx_out = &skb,
		    .ctx_size_out = sizeof(skb), .repeat = 1);

	assert_true(len > 0);
	assert_int_equal(bpf_prog_test_run_opts(fx->prog_fd, &opts), 0);
	*priority = skb.priority;
	return (int)opts.retval;
}

/*
 * Multiqueue backend: migration classes go on to the redirect filter
 * (TC_ACT_UNSPEC), management leaves with priority 6 (pfifo_fast band 0),
 * the rest as with htb-root; a packet the IFB sends back goes on uncounted.
 */
static void test_multiqueue_steer(void **state)
{
	struct fx *fx = *state;
	struct ms_dp_config cfg = {.mq_ifb_ifindex = 7};
	struct pkt_spec s = {.src = "198.18.0.1",
			     .dst = "198.18.0.2",
			     .proto = IPPROTO_TCP,
			     .sport = 40000,
			     .dport = 22,
			     .payload = 100};
	struct pkt_spec d = s, m = s, a = s;
	__u64 before;
	__u32 prio = 0;

	d.dport = 80;
	m.dport = 49152;
	a.dport = 49153;
	flow_add(fx, &a, MIG_B);
	/* htb-root first: every verdict TC_ACT_OK. */
	assert_int_equal(run_steer(fx, &a, 0, &prio), 0);
	assert_int_equal(prio, MS_HANDLE(MIG_B));
	assert_int_equal(ms_dataplane_set_config(fx->dp, &cfg), 0);
	assert_int_equal(run_steer(fx, &s, 0, &prio), 0);
	assert_int_equal(prio, 6);
	assert_int_equal(run_steer(fx, &d, 0, &prio), 0);
	assert_int_equal(prio, MS_HANDLE(MS_MINOR_DEFAULT));
	assert_int_equal(run_steer(fx, &m, 0, &prio), -1);
	assert_int_equal(prio, MS_HANDLE(MS_MINOR_UNATTRIBUTED));
	assert_int_equal(run_steer(fx, &a, 0, &prio), -1);
	assert_int_equal(prio, MS_HANDLE(MIG_B));
	/* Bridged in from a tap: classified as usual. */
	before = counter(fx, MIG_B).packets;
	prio = 0;
	assert_int_equal(run_steer(fx, &a, 5, &prio), -1);
	assert_int_equal(prio, MS_HANDLE(MIG_B));
	assert_int_equal(counter(fx, MIG_B).packets, before + 1);
	/* Back from the IFB: on to the filter uncounted, in pfifo_fast band 1 (priority 0). */
	prio = MS_HANDLE(MS_MINOR_MIG_BASE + 6);
	assert_int_equal(run_steer(fx, &a, 7, &prio), -1);
	assert_int_equal(prio, 0);
	assert_int_equal(counter(fx, MIG_B).packets, before + 1);
}

static void test_events(void **state)
{
	struct fx *fx = *state;
	struct pkt_spec u = {.src = "198.18.0.1",
			     .dst = "198.18.0.2",
			     .proto = IPPROTO_TCP,
			     .sport = 34567,
			     .dport = 49152};
	struct pkt_spec u6 = {.src = "2001:db8::1",
			      .dst = "2001:db8::2",
			      .proto = IPPROTO_UDP,
			      .sport = 1000,
			      .dport = 49215};
	struct pkt_spec mgmt = u, def = u, att = u;
	struct ms_flow_key key;
	struct timespec ts;
	__u64 before;
	int i;

	mgmt.dport = 22;
	def.dport = 80;
	att.sport = 34568;
	flow_add(fx, &att, MIG_A);

	/* management, default and attributed traffic: never reported */
	for (i = 0; i < 3; i++) {
		run_spec(fx, &mgmt);
		run_spec(fx, &def);
		run_spec(fx, &att);
	}
	assert_int_equal(consume(fx), 0);

	/* a new unattributed flow: once, however many packets */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	before = (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
	for (i = 0; i < 10; i++)
		assert_int_equal(run_spec(fx, &u), MS_MINOR_UNATTRIBUTED);
	assert_int_equal(consume(fx), 1);
	assert_int_equal(pkt_flow_key(&u, &key), 0);
	assert_memory_equal(&fx->events[0].key, &key, sizeof(key));
	assert_true(fx->events[0].ts_ns >= before);
	assert_int_not_equal(fx->events[0].ifindex, 0);

	/* another one is its own flow */
	run_spec(fx, &u6);
	run_spec(fx, &u6);
	run_spec(fx, &u);
	assert_int_equal(consume(fx), 1);
	assert_int_equal(pkt_flow_key(&u6, &key), 0);
	assert_memory_equal(&fx->events[0].key, &key, sizeof(key));

	/* once attributed it is no longer reported */
	flow_add(fx, &u, MIG_B);
	run_spec(fx, &u);
	assert_int_equal(consume(fx), 0);
	flow_del(fx, &u);

	/* after the interval, a still-unattributed flow is reported again */
	config_set(fx, 0, 1);
	usleep(3000);
	run_spec(fx, &u);
	run_spec(fx, &u);
	assert_int_equal(consume(fx), 1);
	assert_int_equal(events_lost(fx), 0);
}

/* A full ring buffer: events are counted as lost, not blocked or retried. */
static void test_events_lost(void **state)
{
	struct fx *fx = *state;
	struct pkt_spec u = {.src = "198.18.0.1",
			     .dst = "198.18.0.2",
			     .proto = IPPROTO_UDP,
			     .sport = 1,
			     .dport = 49152};
	int i, n = 0, lost;

	/* far more distinct flows than the 256 KiB buffer holds records */
	for (i = 0; i < 6000; i++) {
		u.sport = (__u16)(20000 + i); /* no management port among them */
		run_spec(fx, &u);
	}
	lost = (int)events_lost(fx);
	n = consume(fx);
	assert_true(lost > 0);
	assert_int_equal(n + lost, 6000);
	/* drained: reporting works again */
	u.sport = 7000;
	run_spec(fx, &u);
	assert_int_equal(consume(fx), 1);
}

/* --- property test ---------------------------------------------------- */

static __u64 rng_next(__u64 *s)
{
	/* xorshift64*: plenty for test input, and reproducible from the seed */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static __u32 rng_below(__u64 *s, __u32 n)
{
	return (__u32)((rng_next(s) >> 32) % n);
}

static const char *const v4_pool[] = {"198.18.0.1", "198.18.0.2",  "10.1.2.3",	 "172.16.5.5",
				      "192.0.2.9",  "203.0.113.7", "10.200.0.1", "100.64.3.4"};
static const char *const v6_pool[] = {"2001:db8::1", "2001:db8::2",	"2001:db8:1::5",  "fd00::9",
				      "fe80::1",     "::ffff:10.1.2.3", "2001:db8:42::1", "::1"};
static const __u16 port_pool[] = {22,	 16509, 16514, 54321, 49152, 49153,
				  49215, 49216, 34567, 80,    49200, 5201};

static void random_spec(__u64 *rng, struct pkt_spec *s)
{
	static const __u8 ext_types[] = {0, 43, 60, 51};
	static const __u8 protos[] = {IPPROTO_TCP,  IPPROTO_TCP,    IPPROTO_UDP, IPPROTO_UDP,
				      IPPROTO_ICMP, IPPROTO_ICMPV6, 132,	 50};
	bool v6 = rng_below(rng, 3) == 0;
	int i;

	memset(s, 0, sizeof(*s));
	if (v6) {
		s->src = v6_pool[rng_below(rng, 8)];
		s->dst = v6_pool[rng_below(rng, 8)];
	} else {
		s->src = v4_pool[rng_below(rng, 8)];
		s->dst = v4_pool[rng_below(rng, 8)];
	}
	s->proto = protos[rng_below(rng, 8)];
	s->sport = rng_below(rng, 3) ? port_pool[rng_below(rng, 12)] : (__u16)rng_next(rng);
	s->dport = rng_below(rng, 3) ? port_pool[rng_below(rng, 12)] : (__u16)rng_next(rng);
	if (rng_below(rng, 4) == 0) {
		s->n_vlan = (int)rng_below(rng, 4);
		for (i = 0; i < s->n_vlan; i++)
			s->vlan_tpid[i] = rng_below(rng, 2) ? 0x8100 : 0x88a8;
	}
	s->tos = (__u8)rng_next(rng);
	if (!v6 && rng_below(rng, 4) == 0)
		s->ip_opt_len = 4 * (int)rng_below(rng, 11);
	if (rng_below(rng, 8) == 0) {
		s->frag_off = rng_below(rng, 2) ? 0 : (__u16)(1 + rng_below(rng, 300));
		s->more_frags = rng_below(rng, 2);
		s->v6_frag = v6;
	}
	if (v6 && rng_below(rng, 3) == 0) {
		s->n_ext = (int)rng_below(rng, 8);
		for (i = 0; i < s->n_ext; i++)
			s->ext[i] = ext_types[rng_below(rng, 4)];
	}
	s->payload = (int)rng_below(rng, 48);
}

/* The same tables in both: flows, CIDRs and ports drawn from the pools. */
static void property_tables(struct fx *fx, __u64 *rng)
{
	struct ms_flow_key k;
	struct pkt_spec s;
	int i;

	for (i = 0; i < 40; i++) {
		random_spec(rng, &s);
		if (s.proto != IPPROTO_TCP && s.proto != IPPROTO_UDP)
			s.proto = IPPROTO_TCP;
		pkt_flow_key(&s, &k);
		if (ref_flow_minor(fx->ref, &k))
			continue; /* drawn twice */
		flow_add(fx, &s, MS_MINOR_MIG_BASE + rng_below(rng, MS_MAX_MIGRATIONS));
	}
	cidr_add(fx, "10.1.0.0", 16);
	cidr_add(fx, "172.16.5.5", 32);
	cidr_add(fx, "100.64.0.0", 10);
	cidr_add(fx, "2001:db8:1::", 48);
	cidr_add(fx, "fe80::", 10);
	/* 49200 is both: management wins */
	ports_set(fx, (const __u16[]){22, 16509, 16514, 54321, 5201, 49200}, 6, 49152, 49215);
}

static void test_property(void **state)
{
	struct fx *fx = *state;
	const char *env = getenv("MS_TEST_SEED");
	const char *nenv = getenv("MS_TEST_PACKETS");
	__u64 seed = env ? strtoull(env, NULL, 0) : 0x5eed2024ULL, rng;
	long n = nenv ? atol(nenv) : 1000000, i;
	long per_class[4] = {0}, refused = 0;
	__u8 buf[PKT_MAX];
	struct pkt_spec s;
	size_t len, j, flips;
	int minor;

	fprintf(stderr, "property: %ld packets, seed %#llx (MS_TEST_SEED)\n", n,
		(unsigned long long)seed);
	rng = seed ^ 0x9e3779b97f4a7c15ULL; /* xorshift must not start at 0 */
	if (!rng)
		rng = 1;
	property_tables(fx, &rng);
	config_set(fx, MS_CFG_DSCP_MARKING, 1000);

	for (i = 0; i < n; i++) {
		random_spec(&rng, &s);
		if (s.proto == IPPROTO_TCP || s.proto == IPPROTO_UDP) {
			/* aim a good share of packets at the attributed flows */
			if (rng_below(&rng, 3) == 0) {
				const struct ms_flow_key *k =
				    &fx->ref->flow_keys[rng_below(&rng, (__u32)fx->ref->n_flows)];
				char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];

				if (k->saddr[10] == 0xff && !k->saddr[0] && !k->saddr[9]) {
					inet_ntop(AF_INET, k->saddr + 12, a, sizeof(a));
					inet_ntop(AF_INET, k->daddr + 12, b, sizeof(b));
				} else {
					inet_ntop(AF_INET6, k->saddr, a, sizeof(a));
					inet_ntop(AF_INET6, k->daddr, b, sizeof(b));
				}
				s.src = a, s.dst = b, s.sport = k->sport, s.dport = k->dport;
				s.proto = k->l4_proto;
				len = pkt_build(&s, buf);
			} else {
				len = pkt_build(&s, buf);
			}
		} else {
			len = pkt_build(&s, buf);
		}
		assert_true(len >= 14);

		switch (rng_below(&rng, 8)) {
		case 0: /* truncate */
			len = 14 + rng_below(&rng, (__u32)(len - 13));
			break;
		case 1:
		case 2: /* flip bytes, mostly in the headers */
			flips = 1 + rng_below(&rng, 4);
			for (j = 0; j < flips; j++)
				buf[rng_below(&rng, (__u32)(len < 96 ? len : 96))] ^=
				    (__u8)(1 + rng_below(&rng, 255));
			break;
		case 3: /* garbage after a plausible ethertype */
			len = 14 + rng_below(&rng, 120);
			for (j = 12; j < len; j++)
				buf[j] = (__u8)rng_next(&rng);
			if (rng_below(&rng, 2)) {
				static const __u16 et[] = {0x0800, 0x86dd, 0x8100, 0x88a8};

				pkt_put16(buf + 12, et[rng_below(&rng, 4)]);
			}
			break;
		default:
			break;
		}

		minor = run_raw(fx, buf, len, NULL, 0);
		if (minor < 0) {
			refused++; /* run_raw checked it was for a known reason */
			continue;
		}
		if (minor == MS_MINOR_MGMT)
			per_class[0]++;
		else if (minor == MS_MINOR_UNATTRIBUTED)
			per_class[1]++;
		else if (minor == MS_MINOR_DEFAULT)
			per_class[2]++;
		else
			per_class[3]++;
	}
	fprintf(stderr,
		"property: mgmt %ld, unattributed %ld, default %ld, attributed %ld, "
		"refused by the kernel (short IP) %ld\n",
		per_class[0], per_class[1], per_class[2], per_class[3], refused);
	/* every class got a real share (1%+), or the test proves little */
	for (j = 0; j < 4; j++)
		assert_true(per_class[j] > n / 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_classes_ipv4, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_classes_ipv6, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_api_validation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flow_shared_ports, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cidr_replace, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flow_add_del, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mgmt_cidr_src_dst, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_non_ip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_vlan_qinq, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ipv4_options, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ipv4_fragments, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_ext_headers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dscp_marking, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_counters, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_multiqueue_steer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_events, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_events_lost, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_property, setup, teardown),
	};

	libbpf_set_print(libbpf_quiet);
	ms_log_set_level(MS_LOG_WARN);
	require_bpf();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
