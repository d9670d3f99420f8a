// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Knob write to kernel latency: writes a rate knob of a running agent through
 * its FUSE tree, alternating two values, and times each from the write() to
 * the moment the new rate of an HTB class is read back over netlink (libnl
 * class cache refill, no tc process in between). Run it in the agent's
 * network namespace (tests/bench/knobs.sh does).
 *
 *   bench_knobs KNOB_FILE IFNAME CLASS_MINOR_HEX MBPS_A MBPS_B COUNT
 *
 * stdout: {"write_to_kernel_ms": {"p50": F, "p99": F}, "writes": N}
 * stderr: the same percentiles of write() alone, and how many netlink reads
 * it took to see each new rate (1 = already there when write() returned,
 * as the knob contract promises).
 *
 * The clock starts just before write() (the file is opened first, as `echo`
 * opens it) and stops at the first netlink read showing the new rate: the
 * latency a script doing `echo N > knob; tc class show` sees.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netlink/netlink.h>
#include <netlink/route/class.h>
#include <netlink/route/qdisc/htb.h>
#include <netlink/route/tc.h>

/* A new rate must show within this many netlink reads after write() returned. */
#define MAX_POLLS 100000

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least pct% of the samples at or below it. */
static double percentile(const double *sorted, size_t n, double pct)
{
	size_t rank = (size_t)((pct / 100.0) * (double)n + 0.999999);

	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

/* The class's rate in bytes/s as the kernel has it now, or -errno. */
static int64_t class_rate(struct nl_sock *sk, struct nl_cache *cache, int ifindex, uint32_t handle)
{
	struct rtnl_class *cls;
	int64_t rate;
	int err;

	err = nl_cache_refill(sk, cache);
	if (err < 0)
		return -EIO;
	cls = rtnl_class_get(cache, ifindex, handle);
	if (!cls)
		return -ENOENT;
	rate = rtnl_htb_get_rate(cls);
	rtnl_class_put(cls);
	return rate;
}

static int parse_u32(const char *s, int base, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, base);
	if (errno || *end || end == s || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	uint32_t minor, mbps[2], count;
	struct nl_cache *cache = NULL;
	struct nl_sock *sk = NULL;
	double *lat = NULL, *wlat = NULL;
	unsigned long polls_total = 0, polls_max = 0;
	int ifindex, ret = 1;
	uint32_t handle;

	if (argc != 7 || parse_u32(argv[3], 16, &minor) || parse_u32(argv[4], 10, &mbps[0]) ||
	    parse_u32(argv[5], 10, &mbps[1]) || parse_u32(argv[6], 10, &count) || !count ||
	    mbps[0] == mbps[1]) {
		fprintf(stderr, "usage: %s KNOB_FILE IFNAME CLASS_MINOR_HEX MBPS_A MBPS_B COUNT\n",
			argv[0]);
		return 2;
	}
	ifindex = (int)if_nametoindex(argv[2]);
	if (!ifindex) {
		fprintf(stderr, "bench_knobs: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	handle = TC_HANDLE(1, minor);
	lat = calloc(count, sizeof(*lat));
	wlat = calloc(count, sizeof(*wlat));
	sk = nl_socket_alloc();
	if (!lat || !wlat || !sk || nl_connect(sk, NETLINK_ROUTE) < 0 ||
	    rtnl_class_alloc_cache(sk, ifindex, &cache) < 0) {
		fprintf(stderr, "bench_knobs: netlink setup failed\n");
		goto out;
	}

	for (uint32_t i = 0; i < count; i++) {
		uint32_t v = mbps[i & 1];
		int64_t want = (int64_t)v * 1000000 / 8, got;
		char text[16];
		int len = snprintf(text, sizeof(text), "%u\n", v);
		unsigned long polls = 0;
		double t0, tw, t1;
		ssize_t n;
		int fd;

		fd = open(argv[1], O_WRONLY | O_TRUNC | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "bench_knobs: open %s: %s\n", argv[1], strerror(errno));
			goto out;
		}
		t0 = now_ms();
		n = write(fd, text, (size_t)len);
		tw = now_ms();
		if (n != len) {
			fprintf(stderr, "bench_knobs: write %u to %s: %s\n", v, argv[1],
				n < 0 ? strerror(errno) : "short write");
			close(fd);
			goto out;
		}
		do {
			got = class_rate(sk, cache, ifindex, handle);
			polls++;
		} while (got != want && got >= 0 && polls < MAX_POLLS);
		t1 = now_ms();
		close(fd);
		if (got != want) {
			fprintf(stderr, "bench_knobs: class 1:%x never showed %u Mbit/s (last %lld B/s)\n",
				minor, v, (long long)got);
			goto out;
		}
		lat[i] = t1 - t0;
		wlat[i] = tw - t0;
		polls_total += polls;
		if (polls > polls_max)
			polls_max = polls;
	}
	qsort(lat, count, sizeof(*lat), cmp_double);
	qsort(wlat, count, sizeof(*wlat), cmp_double);
	fprintf(stderr,
		"bench_knobs: %u writes; write() alone p50 %.3f p99 %.3f max %.3f ms; netlink "
		"reads to see the rate: mean %.2f, max %lu\n",
		count, percentile(wlat, count, 50), percentile(wlat, count, 99), wlat[count - 1],
		(double)polls_total / count, polls_max);
	printf("{\"write_to_kernel_ms\": {\"p50\": %.3f, \"p99\": %.3f}, \"writes\": %u}\n",
	       percentile(lat, count, 50), percentile(lat, count, 99), count);
	ret = 0;
out:
	if (cache)
		nl_cache_free(cache);
	nl_socket_free(sk);
	free(lat);
	free(wlat);
	return ret;
}
