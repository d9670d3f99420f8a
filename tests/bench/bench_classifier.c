// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Cost of the tc classifier per packet, against an empty tc program measured
 * in the same run and the same way. Tables as on a busy hypervisor: 10,000
 * attributed flows, 64 management CIDRs, the default ports. The packet mix
 * is weighted by what crosses a migration NIC: mostly attributed migration
 * traffic and guest/default traffic, some management, a little unattributed
 * migration. The mix is measured three ways:
 *
 * host connections (the top-level numbers): the classifier attached at
 *   egress of a veth (msb0 in a namespace classifier.sh sets up, its peer
 *   in another), every entry of the mix sent by a real socket of the host
 *   (TCP connections; the DNS entry by an unconnected UDP socket), so the
 *   program sees each connection's socket as on a hypervisor, tagged with
 *   its class as the agent's cycle tags it (socket tags, migshaper.h: the
 *   unattributed stream and the UDP entry carry none). The cost is
 *   the kernel's own per-program statistics (BPF_ENABLE_STATS: run_time_ns
 *   over run_cnt, the time around each run on the real egress path). The
 *   empty program is swapped into the same filter slot and measured on the
 *   same traffic, so the statistics' own clock reads are in both numbers.
 *   BPF_PROG_TEST_RUN cannot measure this path: it gives every packet a
 *   dummy socket that is no TCP connection.
 * bridged: the same mix as Ethernet frames written to the same veth by an
 *   AF_PACKET socket: frames without an inet socket, like a guest's frames
 *   bridged from a tap, so each takes the full parse. Same statistics.
 * test_run: the mix through BPF_PROG_TEST_RUN with many repeats, as this
 *   benchmark measured it before classification per connection (the kernel
 *   times the repeat loop itself; the dummy socket means the full parse).
 *
 * Rounds alternate the classifier and the empty program, so frequency
 * changes and noise hit both; the median round is reported.
 *
 * Usage: bench_classifier IFNAME PEER_NETNS_PATH, run in the namespace of
 * IFNAME. Prints one JSON object:
 *   {"ns_per_pkt": F, "empty_ns_per_pkt": F, "ratio": F,
 *    "bridged": {same three}, "test_run": {same three}}
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

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
/* Sends per entry, program and round on the real path. */
#define N_SEND	 1000
#define PIN_ROOT "/sys/fs/bpf/migshaper-bench"

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

/* One measurement: the median of ROUNDS weighted averages of each program. */
struct result {
	double ours[ROUNDS], empty[ROUNDS];
	double ns, empty_ns;
};

static void result_finish(struct result *r)
{
	qsort(r->ours, ROUNDS, sizeof(double), cmp_double);
	qsort(r->empty, ROUNDS, sizeof(double), cmp_double);
	r->ns = r->ours[ROUNDS / 2];
	r->empty_ns = r->empty[ROUNDS / 2];
}

static double result_ratio(const struct result *r)
{
	return r->empty_ns > 0 ? r->ns / r->empty_ns : 0.0;
}

static int mix_weight_total(const struct mix_entry *mix, size_t n)
{
	int total = 0;

	for (size_t i = 0; i < n; i++)
		total += mix[i].weight;
	return total;
}

static int test_run_mix(int prog_fd, int empty_fd, struct mix_entry *mix, size_t n_mix,
			bool verbose, struct result *res)
{
	int total = mix_weight_total(mix, n_mix);
	__u8 buf[PKT_MAX];
	double t, e;
	size_t len;

	for (int r = 0; r < ROUNDS; r++) {
		res->ours[r] = res->empty[r] = 0;
		for (size_t i = 0; i < n_mix; i++) {
			len = pkt_build(&mix[i].spec, buf);
			if (!len || time_prog(prog_fd, buf, len, &t) ||
			    time_prog(empty_fd, buf, len, &e))
				return -EIO;
			if (verbose && r == 0)
				fprintf(stderr, "test_run mix %zu (%d%%): %.1f ns, empty %.1f ns\n",
					i, mix[i].weight, t, e);
			res->ours[r] += t * mix[i].weight / total;
			res->empty[r] += e * mix[i].weight / total;
		}
	}
	result_finish(res);
	return 0;
}

static int sockaddr_of(const char *addr, __u16 port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*len = sizeof(*s4);
		return AF_INET;
	}
	if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*len = sizeof(*s6);
		return AF_INET6;
	}
	return -EINVAL;
}

/* A socket of type type bound to addr:port; -errno on failure. */
static int bound_socket(const char *addr, __u16 port, int type)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, family, one = 1;

	family = sockaddr_of(addr, port, &ss, &len);
	if (family < 0)
		return family;
	fd = socket(family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

#define SINK_FDS 64

/*
 * The far end, in the peer namespace (a child process): accepts the mix's
 * connections and discards what they send, until stop_fd closes. Returns an
 * exit status.
 */
static int sink_run(const char *netns_path, const struct mix_entry *mix, size_t n_mix, int ready_fd,
		    int stop_fd)
{
	struct pollfd fds[SINK_FDS];
	bool listener[SINK_FDS] = {false};
	static char buf[65536];
	int nfds = 0, ns_fd, fd;

	alarm(600); /* never outlive a stuck parent */
	ns_fd = open(netns_path, O_RDONLY | O_CLOEXEC);
	if (ns_fd < 0 || setns(ns_fd, CLONE_NEWNET) < 0) {
		fprintf(stderr, "bench_classifier: enter %s: %s\n", netns_path, strerror(errno));
		return 1;
	}
	close(ns_fd);
	fds[nfds++] = (struct pollfd){.fd = stop_fd, .events = POLLIN};
	for (size_t i = 0; i < n_mix; i++) {
		bool tcp = mix[i].spec.proto == IPPROTO_TCP;

		fd = bound_socket(mix[i].dst, mix[i].spec.dport, tcp ? SOCK_STREAM : SOCK_DGRAM);
		if (fd < 0 || (tcp && listen(fd, 8) < 0)) {
			fprintf(stderr, "bench_classifier: sink %s:%u: %s\n", mix[i].dst,
				mix[i].spec.dport, strerror(fd < 0 ? -fd : errno));
			return 1;
		}
		listener[nfds] = tcp;
		fds[nfds++] = (struct pollfd){.fd = fd, .events = POLLIN};
	}
	if (write(ready_fd, "r", 1) != 1)
		return 1;
	for (;;) {
		if (poll(fds, (nfds_t)nfds, -1) < 0)
			return 1;
		if (fds[0].revents)
			return 0;
		for (int i = 1; i < nfds; i++) {
			if (!fds[i].revents)
				continue;
			if (listener[i]) {
				fd = accept4(fds[i].fd, NULL, NULL, SOCK_CLOEXEC);
				if (fd >= 0 && nfds < SINK_FDS)
					fds[nfds++] = (struct pollfd){.fd = fd, .events = POLLIN};
				else if (fd >= 0)
					close(fd);
			} else if (read(fds[i].fd, buf, sizeof(buf)) == 0) {
				fds[i].fd = -fds[i].fd - 1; /* closed: poll ignores it */
			}
		}
	}
}

/* The host's socket of each mix entry: connected for TCP. */
static int host_sockets(const struct mix_entry *mix, size_t n_mix, int *fds)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1;

	for (size_t i = 0; i < n_mix; i++) {
		bool tcp = mix[i].spec.proto == IPPROTO_TCP;

		fds[i] =
		    bound_socket(mix[i].src, mix[i].spec.sport, tcp ? SOCK_STREAM : SOCK_DGRAM);
		if (fds[i] < 0)
			return fds[i];
		if (!tcp)
			continue;
		setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		sockaddr_of(mix[i].dst, mix[i].spec.dport, &ss, &len);
		if (connect(fds[i], (struct sockaddr *)&ss, len) < 0)
			return -errno;
	}
	return 0;
}

/* Sends N_SEND payloads of the entry and waits until TCP has them acknowledged. */
static int send_entry(const struct mix_entry *m, int fd)
{
	static const char payload[PKT_MAX];
	struct sockaddr_storage ss;
	socklen_t len;
	int queued;

	sockaddr_of(m->dst, m->spec.dport, &ss, &len);
	for (int k = 0; k < N_SEND; k++) {
		ssize_t n = m->spec.proto == IPPROTO_TCP
				? send(fd, payload, (size_t)m->spec.payload, 0)
				: sendto(fd, payload, (size_t)m->spec.payload, 0,
					 (struct sockaddr *)&ss, len);

		if (n != m->spec.payload)
			return n < 0 ? -errno : -EIO;
	}
	if (m->spec.proto != IPPROTO_TCP)
		return 0;
	/* Bounded: 2 s at most; the peer acknowledges within microseconds. */
	for (int tries = 0; tries < 10000; tries++) {
		if (ioctl(fd, SIOCOUTQ, &queued) < 0)
			return -errno;
		if (!queued)
			return 0;
		usleep(200);
	}
	return -ETIMEDOUT;
}

static int send_frames(const struct mix_entry *m, int pkt_fd, int ifindex)
{
	struct sockaddr_ll ll = {.sll_family = AF_PACKET, .sll_ifindex = ifindex, .sll_halen = 6};
	__u8 buf[PKT_MAX];
	size_t len;

	len = pkt_build(&m->spec, buf);
	if (!len)
		return -EINVAL;
	memcpy(ll.sll_addr, buf, 6);
	for (int k = 0; k < N_SEND; k++)
		if (sendto(pkt_fd, buf, len, 0, (struct sockaddr *)&ll, sizeof(ll)) != (ssize_t)len)
			return -errno;
	return 0;
}

/* Runs and total run time of the program, from the kernel's statistics. */
static int prog_stats(int prog_fd, __u64 *run_ns, __u64 *runs)
{
	struct bpf_prog_info info = {0};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return -errno;
	*run_ns = info.run_time_ns;
	*runs = info.run_cnt;
	return 0;
}

/* Puts prog_fd into the classifier's filter slot. */
static int slot_set(const struct ms_dp_attach *at, int ifindex, int prog_fd)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .handle = at->tc_handle,
		    .priority = at->tc_priority, .flags = BPF_TC_F_REPLACE);

	return bpf_tc_attach(&hook, &opts);
}

struct real_path {
	const struct ms_dp_attach *at;
	int ifindex;
	int pkt_fd;	/* AF_PACKET socket: frames without an inet socket */
	const int *fds; /* the host's socket of each mix entry */
};

/*
 * ns per run of prog_fd, attached, for one entry: from its sockets
 * (bridged false) or as frames (bridged true).
 */
static int real_entry(const struct real_path *rp, const struct mix_entry *mix, size_t i,
		      int prog_fd, bool bridged, double *ns)
{
	__u64 t0, n0, t1, n1;
	int err;

	err = prog_stats(prog_fd, &t0, &n0);
	if (!err)
		err = bridged ? send_frames(&mix[i], rp->pkt_fd, rp->ifindex)
			      : send_entry(&mix[i], rp->fds[i]);
	if (!err)
		err = prog_stats(prog_fd, &t1, &n1);
	if (err)
		return err;
	if (n1 == n0)
		return -ENODATA;
	*ns = (double)(t1 - t0) / (double)(n1 - n0);
	return 0;
}

static int real_mix(const struct real_path *rp, int prog_fd, int empty_fd, struct mix_entry *mix,
		    size_t n_mix, bool bridged, bool verbose, struct result *res)
{
	int total = mix_weight_total(mix, n_mix);
	int err = 0;
	double t;

	for (int r = 0; r < ROUNDS && !err; r++) {
		res->ours[r] = res->empty[r] = 0;
		for (int empty = 0; empty < 2 && !err; empty++) {
			int fd = empty ? empty_fd : prog_fd;

			err = slot_set(rp->at, rp->ifindex, fd);
			for (size_t i = 0; i < n_mix && !err; i++) {
				err = real_entry(rp, mix, i, fd, bridged, &t);
				if (err)
					break;
				if (verbose && r == 0)
					fprintf(stderr, "%s mix %zu (%d%%): %s %.1f ns\n",
						bridged ? "bridged" : "sockets", i, mix[i].weight,
						empty ? "empty" : "ours", t);
				*(empty ? &res->empty[r] : &res->ours[r]) +=
				    t * mix[i].weight / total;
			}
		}
	}
	/* The classifier back in its slot whatever happened: detach expects it. */
	if (slot_set(rp->at, rp->ifindex, prog_fd) && !err)
		err = -EIO;
	if (!err)
		result_finish(res);
	return err;
}

static void print_result(const char *name, const struct result *r)
{
	printf("%s{\"ns_per_pkt\": %.2f, \"empty_ns_per_pkt\": %.2f, \"ratio\": %.3f}", name, r->ns,
	       r->empty_ns, result_ratio(r));
}

int main(int argc, char **argv)
{
	struct mix_entry mix[] = {
	    /* attributed migration stream (flow 1234 of the table) */
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
	     "192.0.2.78",
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
	struct ms_dataplane_opts opts = {.pin_root = PIN_ROOT};
	struct result sockets, bridged, test_run;
	int fds[sizeof(mix) / sizeof(mix[0])];
	int ready[2] = {-1, -1}, stop[2] = {-1, -1};
	bool verbose = getenv("MS_BENCH_VERBOSE") != NULL;
	int prog_fd, empty_fd = -1, stats_fd = -1, err, status, rc = 1;
	struct ms_dataplane *dp = NULL;
	struct real_path rp = {.pkt_fd = -1, .fds = fds};
	struct ms_dp_attach at;
	pid_t sink = -1;
	char c;

	for (i = 0; i < n_mix; i++) {
		mix[i].spec.src = mix[i].src;
		mix[i].spec.dst = mix[i].dst;
		fds[i] = -1;
	}
	if (argc != 3) {
		fprintf(stderr,
			"usage: bench_classifier IFNAME PEER_NETNS_PATH (see classifier.sh)\n");
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "bench_classifier: needs root (BPF, network namespaces)\n");
		return 77;
	}
	opts.ifname = argv[1];
	rp.ifindex = (int)if_nametoindex(argv[1]);
	if (!rp.ifindex) {
		fprintf(stderr, "bench_classifier: interface %s: %s\n", argv[1], strerror(errno));
		return 1;
	}

	if (pipe2(ready, O_CLOEXEC) || pipe2(stop, O_CLOEXEC)) {
		perror("bench_classifier: pipe");
		goto cleanup;
	}
	sink = fork();
	if (sink < 0) {
		perror("bench_classifier: fork");
		goto cleanup;
	}
	if (sink == 0) {
		close(stop[1]);
		_exit(sink_run(argv[2], mix, n_mix, ready[1], stop[0]));
	}
	close(ready[1]);
	ready[1] = -1;
	close(stop[0]);
	stop[0] = -1;
	if (read(ready[0], &c, 1) != 1) {
		fprintf(stderr, "bench_classifier: the sink did not start\n");
		goto cleanup;
	}

	err = ms_dataplane_open(&opts, &dp);
	if (err) {
		fprintf(stderr, "bench_classifier: load classifier: %s\n", strerror(-err));
		goto cleanup;
	}
	prog_fd = ms_dataplane_prog_fd(dp);
	empty_fd = load_empty_prog();
	if (empty_fd < 0) {
		fprintf(stderr, "bench_classifier: load empty program: %s\n", strerror(-empty_fd));
		goto cleanup;
	}
	err = fill_tables(dp);
	if (!err)
		err = ms_dataplane_attach_info(dp, &at);
	if (err) {
		fprintf(stderr, "bench_classifier: fill tables: %s\n", strerror(-err));
		goto cleanup;
	}
	rp.at = &at;
	/*
	 * Connections after the tables, tagged as the agent's next cycle tags
	 * them: their classes are the steady state.
	 */
	err = host_sockets(mix, n_mix, fds);
	if (err) {
		fprintf(stderr, "bench_classifier: host sockets: %s\n", strerror(-err));
		goto cleanup;
	}
	err = ms_dataplane_retag(dp);
	if (err) {
		fprintf(stderr, "bench_classifier: tag the sockets: %s\n", strerror(-err));
		goto cleanup;
	}
	for (i = 0; i < n_mix && verbose; i++) {
		int priority = -1;
		socklen_t len = sizeof(priority);

		getsockopt(fds[i], SOL_SOCKET, SO_PRIORITY, &priority, &len);
		fprintf(stderr, "mix %zu: socket priority %#x\n", i, (unsigned int)priority);
	}
	rp.pkt_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (rp.pkt_fd < 0 || stats_fd < 0) {
		fprintf(stderr, "bench_classifier: %s: %s\n",
			rp.pkt_fd < 0 ? "packet socket" : "BPF_ENABLE_STATS", strerror(errno));
		goto cleanup;
	}

	err = real_mix(&rp, prog_fd, empty_fd, mix, n_mix, false, verbose, &sockets);
	if (!err)
		err = real_mix(&rp, prog_fd, empty_fd, mix, n_mix, true, verbose, &bridged);
	if (err) {
		fprintf(stderr, "bench_classifier: traffic through %s: %s\n", argv[1],
			strerror(-err));
		goto cleanup;
	}
	if (test_run_mix(prog_fd, empty_fd, mix, n_mix, verbose, &test_run)) {
		fprintf(stderr, "bench_classifier: test run failed\n");
		goto cleanup;
	}
	printf("{\"ns_per_pkt\": %.2f, \"empty_ns_per_pkt\": %.2f, \"ratio\": %.3f", sockets.ns,
	       sockets.empty_ns, result_ratio(&sockets));
	print_result(", \"bridged\": ", &bridged);
	print_result(", \"test_run\": ", &test_run);
	printf("}\n");
	rc = 0;
cleanup:
	for (i = 0; i < n_mix; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (rp.pkt_fd >= 0)
		close(rp.pkt_fd);
	if (stats_fd >= 0)
		close(stats_fd);
	if (empty_fd >= 0)
		close(empty_fd);
	ms_dataplane_close(dp, true);
	if (stop[1] >= 0)
		close(stop[1]);
	if (sink > 0)
		waitpid(sink, &status, 0);
	if (ready[0] >= 0)
		close(ready[0]);
	if (ready[1] >= 0)
		close(ready[1]);
	if (stop[0] >= 0)
		close(stop[0]);
	return rc;
}
