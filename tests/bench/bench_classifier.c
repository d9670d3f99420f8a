// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Cost of the tc classifier per packet, against an empty tc program measured
 * in the same run, both with BPF_PROG_TEST_RUN and many repeats (the kernel
 * times the repeat loop itself, so syscall cost is not in the numbers).
 *
 * Tables as on a busy hypervisor: 10,000 attributed flows, 64 management
 * CIDRs, the default ports. The packet mix is weighted by what crosses a
 * migration NIC: mostly attributed migration traffic and guest/default
 * traffic, some management, a little unattributed migration.
 *
 * Prints one JSON object: {"ns_per_pkt": F, "empty_ns_per_pkt": F, "ratio": F}
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "loader.h"
#include "log.h"
#include "migshaper.h"
#include "bpf/pkt.h"

#define N_FLOWS 10000
#define N_CIDRS 64
#define REPEAT	200000
#define ROUNDS	7

struct mix_entry {
	struct pkt_spec spec;
	int weight; /* percent */
	char src[48], dst[48];
};

static int load_empty_prog(void)
{
	/* r0 = 0 (TC_ACT_OK); exit */
	struct bpf_insn insns[] = {
	    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
	    {.code = BPF_JMP | BPF_EXIT},
	};

	return bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "empty", "GPL", insns, 2, NULL);
}

/* Through the agent's own code, so the lookup hints are what they would be. */
static int fill_tables(struct ms_dataplane *dp)
{
	struct ms_cidr_key cidrs[N_CIDRS];
	struct ms_flow_val val;
	struct ms_flow_key key;
	__u32 i;
	int err;

	/* flows 198.18.X.Y:ephemeral -> 198.19.X.Y:4915x, like QEMU streams */
	for (i = 0; i < N_FLOWS; i++) {
		memset(&key, 0, sizeof(key));
		key.saddr[10] = key.saddr[11] = key.daddr[10] = key.daddr[11] = 0xff;
		key.saddr[12] = 198, key.saddr[13] = 18;
		key.saddr[14] = (__u8)(i >> 8), key.saddr[15] = (__u8)i;
		key.daddr[12] = 198, key.daddr[13] = 19;
		key.daddr[14] = (__u8)(i >> 8), key.daddr[15] = (__u8)i;
		key.sport = (__u16)(32768 + i);
		key.dport = (__u16)(49152 + i % 64);
		key.l4_proto = IPPROTO_TCP;
		val.class_minor = MS_MINOR_MIG_BASE + i % MS_MAX_MIGRATIONS;
		val.migration_id = i;
		err = ms_dataplane_flow_add(dp, &key, &val);
		if (err)
			return err;
	}

	/* 48 IPv4 /24s in 10.N.M.0 and 16 IPv6 /64s in 2001:db8:N:: */
	memset(cidrs, 0, sizeof(cidrs));
	for (i = 0; i < N_CIDRS; i++) {
		if (i < 48) {
			cidrs[i].addr[10] = cidrs[i].addr[11] = 0xff;
			cidrs[i].addr[12] = 10, cidrs[i].addr[13] = (__u8)(i / 8);
			cidrs[i].addr[14] = (__u8)i;
			cidrs[i].prefixlen = 96 + 24;
		} else {
			cidrs[i].addr[0] = 0x20, cidrs[i].addr[1] = 0x01, cidrs[i].addr[2] = 0x0d;
			cidrs[i].addr[3] = 0xb8, cidrs[i].addr[5] = (__u8)i;
			cidrs[i].prefixlen = 64;
		}
	}
	return ms_dataplane_set_mgmt_cidrs(dp, cidrs, N_CIDRS);
}

/* Average ns per run of prog over REPEAT runs of one packet. */
static int time_prog(int prog_fd, const __u8 *pkt, size_t len, double *ns)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = (__u32)len,
		    .repeat = REPEAT);
	int err;

	err = bpf_prog_test_run_opts(prog_fd, &opts);
	if (err)
		return err;
	*ns = opts.duration;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(void)
{
	struct mix_entry mix[] = {
	    /* attributed migration stream, both directions of the hash */
	    {{.proto = IPPROTO_TCP,
	      .sport = 32768 + 1234,
	      .dport = 49152 + 1234 % 64,
	      .payload = 1400},
	     45,
	     "198.18.4.210",
	     "198.19.4.210"},
	    /* guest and other default traffic */
	    {{.proto = IPPROTO_TCP, .sport = 443, .dport = 51000, .payload = 1400},
	     25,
	     "203.0.113.5",
	     "192.0.2.77"},
	    {{.proto = IPPROTO_UDP, .sport = 5353, .dport = 53, .payload = 80},
	     5,
	     "192.0.2.77",
	     "192.0.2.1"},
	    {{.proto = IPPROTO_TCP, .sport = 443, .dport = 51000, .payload = 1200},
	     5,
	     "2001:db8:ff::5",
	     "2001:db8:fe::7"},
	    /* management by port and by CIDR */
	    {{.proto = IPPROTO_TCP, .sport = 16509, .dport = 40000, .payload = 200},
	     8,
	     "198.18.0.1",
	     "198.18.0.2"},
	    {{.proto = IPPROTO_TCP, .sport = 22, .dport = 50022, .payload = 100},
	     4,
	     "198.18.0.1",
	     "198.51.100.9"},
	    {{.proto = IPPROTO_TCP, .sport = 9000, .dport = 40000, .payload = 100},
	     3,
	     "198.18.0.1",
	     "10.3.25.40"},
	    /* a migration stream not yet attributed */
	    {{.proto = IPPROTO_TCP, .sport = 60000, .dport = 49160, .payload = 1400},
	     5,
	     "198.18.0.1",
	     "198.18.0.3"},
	};
	size_t n_mix = sizeof(mix) / sizeof(mix[0]), i;
	double ours[ROUNDS], empty[ROUNDS], t, e, ns, empty_ns;
	struct ms_dataplane_opts opts = {0};
	struct ms_dataplane *dp;
	__u8 buf[PKT_MAX];
	size_t len;
	bool verbose = getenv("MS_BENCH_VERBOSE") != NULL;
	int prog_fd, empty_fd, err, r, total = 0;

	if (geteuid() != 0) {
		fprintf(stderr, "bench_classifier: BPF_PROG_TEST_RUN needs root\n");
		return 77;
	}
	err = ms_dataplane_open(&opts, &dp);
	if (err) {
		fprintf(stderr, "bench_classifier: load classifier: %s\n", strerror(-err));
		return 1;
	}
	prog_fd = ms_dataplane_prog_fd(dp);
	empty_fd = load_empty_prog();
	if (empty_fd < 0) {
		fprintf(stderr, "bench_classifier: load empty program: %s\n", strerror(-empty_fd));
		return 1;
	}
	err = fill_tables(dp);
	if (err) {
		fprintf(stderr, "bench_classifier: fill tables: %s\n", strerror(-err));
		return 1;
	}

	/*
	 * Rounds alternate ours and empty on the same packets, so frequency
	 * changes and noise hit both; the median round is reported.
	 */
	for (r = 0; r < ROUNDS; r++) {
		ours[r] = empty[r] = 0;
		total = 0;
		for (i = 0; i < n_mix; i++) {
			mix[i].spec.src = mix[i].src;
			mix[i].spec.dst = mix[i].dst;
			len = pkt_build(&mix[i].spec, buf);
			if (!len || time_prog(prog_fd, buf, len, &t) ||
			    time_prog(empty_fd, buf, len, &e)) {
				fprintf(stderr, "bench_classifier: test run failed\n");
				return 1;
			}
			if (verbose && r == 0)
				fprintf(stderr, "mix %zu (%d%%): %.1f ns, empty %.1f ns\n", i,
					mix[i].weight, t, e);
			ours[r] += t * mix[i].weight;
			empty[r] += e * mix[i].weight;
			total += mix[i].weight;
		}
		ours[r] /= total;
		empty[r] /= total;
	}
	qsort(ours, ROUNDS, sizeof(double), cmp_double);
	qsort(empty, ROUNDS, sizeof(double), cmp_double);
	ns = ours[ROUNDS / 2];
	empty_ns = empty[ROUNDS / 2];
	printf("{\"ns_per_pkt\": %.2f, \"empty_ns_per_pkt\": %.2f, \"ratio\": %.3f}\n", ns,
	       empty_ns, empty_ns > 0 ? ns / empty_ns : 0.0);
	close(empty_fd);
	ms_dataplane_close(dp, true);
	return 0;
}
