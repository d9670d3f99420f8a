// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * mgremu: a virtualization manager's host monitor, and the host agent it
 * talks to, for the lab's outage scenario.
 *
 *   mgremu host    --listen ADDR --port P
 *   mgremu manager --connect ADDR --port P --duration-s S [--json] [--trace FILE]
 *                  [--interval-ms MS] [--reply-bytes N] [--call-timeout-ms MS]
 *                  [--fresh-every K] [--down-after N] [--down-min-s S]
 *
 * The manager calls the host the way oVirt's engine monitors vdsm: a stats
 * call (a reply of tens of kB: getAllVmStats for some 50 VMs is ~40 kB) over
 * one persistent TCP connection every interval, with fixed delay (the next
 * call starts an interval after the previous one started, or when it ended
 * if it ran longer); every K-th call goes over a fresh connection instead
 * (a new client, e.g. a migration verb or ssh soft fencing's probe). A call
 * fails when its connect, request or whole reply takes longer than the call
 * timeout, or the connection breaks; a failed call on the persistent
 * connection closes it and the next call connects again.
 *
 * The host is declared non-responsive once at least N calls in a row failed
 * *and* the calls have been failing for at least S seconds (oVirt fences
 * only when both VDSAttemptsToResetCount and TimeoutToResetVdsInSeconds are
 * exceeded); it is up again at the next successful call. Defaults, and where
 * they come from:
 *   --interval-ms 3000     oVirt engine-config VdsRefreshRate (3 s)
 *   --reply-bytes 40000    getAllVmStats of ~50 VMs
 *   --call-timeout-ms 2000 oVirt 3.3's vdsConnectionTimeout (2 s); oVirt's
 *                          vdsTimeout for a reply is far longer (180 s), so
 *                          this emulator is stricter than oVirt: a late reply
 *                          counts as a failure here
 *   --fresh-every 5        one call in five on a new connection
 *   --down-after 2         VDSAttemptsToResetCount (2)
 *   --down-min-s 60        TimeoutToResetVdsInSeconds (60 s); Nova declares
 *                          a compute service down after service_down_time
 *                          (60 s) without a report every report_interval
 *                          (10 s), the same order
 *
 * At the end the manager prints
 *   {"calls":N,"failed":N,"p50_ms":F,"p99_ms":F,"max_ms":F,
 *    "declared_down":N,"down_s":F,"longest_fail_streak":N}
 * with nearest-rank percentiles over the successful calls' latencies. --trace
 * FILE writes a line per call: <start_s> <latency_ms|nan> <ok|fail> <up|down>
 * <persistent|fresh>.
 *
 * Wire format: a request is 16 bytes (magic, reply length, sequence number,
 * big-endian); the host answers with the same 16 bytes and then that many
 * bytes of payload. Timing uses CLOCK_MONOTONIC and poll, never sleeps.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "toolnet.h"

#define MG_MAGIC       0x4d534d47U /* "MSMG" */
#define MG_HDR_LEN     16
#define MG_MAX_REPLY   (1U << 20)
#define MG_MAX_CLIENTS 64
#define MG_MAX_CALLS   1000000U
#define MG_SEND_CHUNK  65536

struct mg_hdr {
	uint32_t magic;
	uint32_t reply_len;
	uint64_t seq;
};

static void hdr_encode(uint8_t *buf, const struct mg_hdr *h)
{
	uint32_t magic = htonl(h->magic), len = htonl(h->reply_len);
	uint64_t seq = htobe64(h->seq);

	memcpy(buf, &magic, 4);
	memcpy(buf + 4, &len, 4);
	memcpy(buf + 8, &seq, 8);
}

static int hdr_decode(const uint8_t *buf, struct mg_hdr *h)
{
	uint32_t magic, len;
	uint64_t seq;

	memcpy(&magic, buf, 4);
	memcpy(&len, buf + 4, 4);
	memcpy(&seq, buf + 8, 8);
	h->magic = ntohl(magic);
	h->reply_len = ntohl(len);
	h->seq = be64toh(seq);
	if (h->magic != MG_MAGIC || h->reply_len > MG_MAX_REPLY)
		return -EPROTO;
	return 0;
}

/* -------------------------------------------------------------------- host */

struct mg_conn {
	int fd;
	size_t have; /* request bytes read */
	uint8_t req[MG_HDR_LEN];
	size_t out_left; /* reply bytes still to send */
	size_t out_off;	 /* header bytes sent */
	uint8_t out_hdr[MG_HDR_LEN];
};

static void conn_close(struct mg_conn *c)
{
	close(c->fd);
	c->fd = -1;
	c->have = 0;
	c->out_left = 0;
}

/* Sends what fits of the pending reply; 0, or -errno when the peer is gone. */
static int conn_send(struct mg_conn *c, const uint8_t *payload)
{
	while (c->out_off < MG_HDR_LEN || c->out_left) {
		const uint8_t *p;
		size_t len;
		ssize_t n;

		if (c->out_off < MG_HDR_LEN) {
			p = c->out_hdr + c->out_off;
			len = MG_HDR_LEN - c->out_off;
		} else {
			p = payload;
			len = c->out_left < MG_SEND_CHUNK ? c->out_left : MG_SEND_CHUNK;
		}
		n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		if (c->out_off < MG_HDR_LEN)
			c->out_off += (size_t)n;
		else
			c->out_left -= (size_t)n;
	}
	return 0;
}

static bool conn_busy(const struct mg_conn *c)
{
	return c->out_off < MG_HDR_LEN || c->out_left;
}

/* Reads a request once the previous reply is out; -errno on EOF or garbage. */
static int conn_read(struct mg_conn *c, const uint8_t *payload)
{
	struct mg_hdr h;
	ssize_t n;

	while (!conn_busy(c)) {
		n = read(c->fd, c->req + c->have, MG_HDR_LEN - c->have);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		c->have += (size_t)n;
		if (c->have < MG_HDR_LEN)
			continue;
		c->have = 0;
		if (hdr_decode(c->req, &h))
			return -EPROTO;
		hdr_encode(c->out_hdr, &h);
		c->out_off = 0;
		c->out_left = h.reply_len;
		if (conn_send(c, payload))
			return -EPIPE;
	}
	return 0;
}

static int run_host(const char *addr, const char *port)
{
	struct pollfd pfds[MG_MAX_CLIENTS + 2];
	struct mg_conn conns[MG_MAX_CLIENTS];
	int map[MG_MAX_CLIENTS];
	uint8_t *payload;
	int lfd, sfd, err = 0, i;

	payload = calloc(1, MG_SEND_CHUNK);
	if (!payload)
		return -ENOMEM;
	memset(payload, '{', MG_SEND_CHUNK);
	lfd = listen_on("mgremu", addr, port, 64);
	if (lfd < 0) {
		free(payload);
		return lfd;
	}
	sfd = make_signalfd();
	if (sfd < 0) {
		close(lfd);
		free(payload);
		return sfd;
	}
	for (i = 0; i < MG_MAX_CLIENTS; i++)
		conns[i] = (struct mg_conn){.fd = -1, .out_off = MG_HDR_LEN};
	fprintf(stderr, "mgremu: host listening on %s port %s\n", addr ? addr : "*", port);

	for (;;) {
		int n = 0;

		pfds[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
		pfds[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
		for (i = 0; i < MG_MAX_CLIENTS; i++) {
			if (conns[i].fd < 0)
				continue;
			map[n - 2] = i;
			pfds[n++] = (struct pollfd){
			    .fd = conns[i].fd, .events = conn_busy(&conns[i]) ? POLLOUT : POLLIN};
		}
		if (poll(pfds, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (pfds[0].revents)
			break;
		for (i = 2; i < n; i++) {
			struct mg_conn *c = &conns[map[i - 2]];

			if (!pfds[i].revents)
				continue;
			if ((pfds[i].revents & (POLLERR | POLLHUP)) ||
			    (conn_busy(c) ? conn_send(c, payload) : conn_read(c, payload)))
				conn_close(c);
		}
		if (pfds[1].revents & POLLIN) {
			int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

			if (cfd < 0)
				continue;
			for (i = 0; i < MG_MAX_CLIENTS && conns[i].fd >= 0; i++)
				;
			if (i == MG_MAX_CLIENTS) {
				close(cfd);
				continue;
			}
			set_nodelay(cfd);
			conns[i] = (struct mg_conn){.fd = cfd, .out_off = MG_HDR_LEN};
		}
	}
	for (i = 0; i < MG_MAX_CLIENTS; i++)
		if (conns[i].fd >= 0)
			conn_close(&conns[i]);
	close(lfd);
	close(sfd);
	free(payload);
	return err;
}

/* ----------------------------------------------------------------- manager */

struct mg_opts {
	struct sockaddr_storage ss;
	socklen_t sslen;
	uint64_t interval_ns;
	uint64_t timeout_ns;
	uint64_t duration_ns;
	uint64_t down_min_ns;
	uint32_t reply_bytes;
	uint32_t fresh_every;
	uint32_t down_after;
};

struct mg_result {
	uint64_t calls;
	uint64_t failed;
	uint64_t declared_down;
	uint64_t down_ns;
	uint64_t streak;
	uint64_t longest_streak;
	uint64_t fail_since_ns; /* start of the first call of the current streak */
	uint64_t down_since_ns; /* 0: the host counts as up */
	double *lat_ms;		/* successful calls' latencies */
	uint64_t n_lat;
};

/* Waits until fd has events or the deadline passes: 1, 0 at the deadline, -errno. */
static int wait_fd(int fd, short events, uint64_t deadline_ns)
{
	struct pollfd p = {.fd = fd, .events = events};
	uint64_t now = now_ns();
	int ms, n;

	if (now >= deadline_ns)
		return 0;
	ms = (int)((deadline_ns - now + 999999) / 1000000);
	n = poll(&p, 1, ms);
	if (n < 0)
		return errno == EINTR ? 1 : -errno;
	return n;
}

/* A connected socket by the deadline, or -errno (-ETIMEDOUT when late). */
static int connect_by(const struct mg_opts *o, uint64_t deadline_ns)
{
	int fd = socket(o->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int soerr = 0, r;
	socklen_t l = sizeof(soerr);

	if (fd < 0)
		return -errno;
	set_nodelay(fd);
	if (connect(fd, (struct sockaddr *)&o->ss, o->sslen) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		r = -errno;
		goto fail;
	}
	r = wait_fd(fd, POLLOUT, deadline_ns);
	if (r <= 0) {
		r = r ? r : -ETIMEDOUT;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &l))
		soerr = errno;
	if (soerr) {
		r = -soerr;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return r;
}

/* One call on fd: the request out, the whole reply in, by the deadline. */
static int call_on(int fd, const struct mg_opts *o, uint64_t seq, uint64_t deadline_ns)
{
	uint8_t req[MG_HDR_LEN], buf[MG_SEND_CHUNK];
	size_t sent = 0, want = MG_HDR_LEN + o->reply_bytes, got = 0;
	struct mg_hdr h = {.magic = MG_MAGIC, .reply_len = o->reply_bytes, .seq = seq};
	ssize_t n;
	int r;

	hdr_encode(req, &h);
	while (sent < MG_HDR_LEN) {
		n = send(fd, req + sent, MG_HDR_LEN - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (n > 0) {
			sent += (size_t)n;
			continue;
		}
		r = wait_fd(fd, POLLOUT, deadline_ns);
		if (r <= 0)
			return r ? r : -ETIMEDOUT;
	}
	while (got < want) {
		size_t room = want - got < sizeof(buf) ? want - got : sizeof(buf);

		n = recv(fd, buf, room, MSG_DONTWAIT);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (n > 0) {
			if (got < MG_HDR_LEN) {
				struct mg_hdr back;

				/* the header arrives first and whole in all but absurd cases */
				if ((size_t)n < MG_HDR_LEN || hdr_decode(buf, &back) ||
				    back.seq != seq)
					return -EPROTO;
			}
			got += (size_t)n;
			continue;
		}
		r = wait_fd(fd, POLLIN, deadline_ns);
		if (r <= 0)
			return r ? r : -ETIMEDOUT;
	}
	return 0;
}

static void account(const struct mg_opts *o, struct mg_result *res, uint64_t start_ns,
		    uint64_t end_ns, bool ok)
{
	res->calls++;
	if (ok) {
		res->lat_ms[res->n_lat++] = (double)(end_ns - start_ns) / 1e6;
		res->streak = 0;
		if (res->down_since_ns) {
			res->down_ns += end_ns - res->down_since_ns;
			res->down_since_ns = 0;
		}
		return;
	}
	res->failed++;
	if (!res->streak++)
		res->fail_since_ns = start_ns;
	if (res->streak > res->longest_streak)
		res->longest_streak = res->streak;
	if (!res->down_since_ns && res->streak >= o->down_after &&
	    end_ns - res->fail_since_ns >= o->down_min_ns) {
		res->declared_down++;
		res->down_since_ns = end_ns;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double pct(const double *v, uint64_t n, double p)
{
	uint64_t rank;

	if (!n)
		return NAN;
	rank = (uint64_t)ceil(p / 100.0 * (double)n);
	return v[rank ? rank - 1 : 0];
}

static int run_manager(const struct mg_opts *o, bool json, FILE *trace)
{
	struct mg_result res = {0};
	uint64_t start, end, next, seq = 0;
	int pfd = -1, sfd, err = 0;

	res.lat_ms = calloc(MG_MAX_CALLS, sizeof(*res.lat_ms));
	if (!res.lat_ms)
		return -ENOMEM;
	sfd = make_signalfd();
	if (sfd < 0) {
		free(res.lat_ms);
		return sfd;
	}
	start = now_ns();
	end = start + o->duration_ns;
	next = start;
	while (next < end && res.calls < MG_MAX_CALLS) {
		struct pollfd sp = {.fd = sfd, .events = POLLIN};
		uint64_t t0, t1, deadline;
		bool fresh;
		int fd, r;

		/* Fixed delay: wait for the call's start, or a signal. */
		r = wait_fd(sfd, POLLIN, next);
		if (r < 0) {
			err = r;
			break;
		}
		if (r > 0 && poll(&sp, 1, 0) == 1 && (sp.revents & POLLIN))
			break;
		t0 = now_ns();
		deadline = t0 + o->timeout_ns;
		fresh = o->fresh_every && ++seq % o->fresh_every == 0;
		if (fresh) {
			fd = connect_by(o, deadline);
			r = fd < 0 ? fd : call_on(fd, o, seq, deadline);
			if (fd >= 0)
				close(fd);
		} else {
			if (pfd < 0)
				pfd = connect_by(o, deadline);
			r = pfd < 0 ? pfd : call_on(pfd, o, seq, deadline);
			if (r && pfd >= 0) {
				/* a late reply must not answer the next call */
				close(pfd);
				pfd = -1;
			}
		}
		t1 = now_ns();
		account(o, &res, t0, t1, r == 0);
		if (trace)
			fprintf(trace, "%.3f %.3f %s %s %s\n", (double)(t0 - start) / 1e9,
				r ? NAN : (double)(t1 - t0) / 1e6, r ? "fail" : "ok",
				res.down_since_ns ? "down" : "up", fresh ? "fresh" : "persistent");
		next = t0 + o->interval_ns > t1 ? t0 + o->interval_ns : t1;
	}
	if (res.down_since_ns)
		res.down_ns += now_ns() - res.down_since_ns;
	if (pfd >= 0)
		close(pfd);
	close(sfd);
	qsort(res.lat_ms, res.n_lat, sizeof(*res.lat_ms), cmp_double);
	if (json) {
		/* JSON has no NaN: latencies are null when no call succeeded */
		char p50[32] = "null", p99[32] = "null", max[32] = "null";

		if (res.n_lat) {
			snprintf(p50, sizeof(p50), "%.3f", pct(res.lat_ms, res.n_lat, 50));
			snprintf(p99, sizeof(p99), "%.3f", pct(res.lat_ms, res.n_lat, 99));
			snprintf(max, sizeof(max), "%.3f", res.lat_ms[res.n_lat - 1]);
		}
		printf("{\"calls\":%llu,\"failed\":%llu,\"p50_ms\":%s,\"p99_ms\":%s,\"max_ms\":%s,"
		       "\"declared_down\":%llu,\"down_s\":%.3f,\"longest_fail_streak\":%llu}\n",
		       (unsigned long long)res.calls, (unsigned long long)res.failed, p50, p99, max,
		       (unsigned long long)res.declared_down, (double)res.down_ns / 1e9,
		       (unsigned long long)res.longest_streak);
	} else {
		printf("calls %llu, failed %llu, p50 %.3f ms, p99 %.3f ms, declared down %llu "
		       "times for %.1f s\n",
		       (unsigned long long)res.calls, (unsigned long long)res.failed,
		       pct(res.lat_ms, res.n_lat, 50), pct(res.lat_ms, res.n_lat, 99),
		       (unsigned long long)res.declared_down, (double)res.down_ns / 1e9);
	}
	free(res.lat_ms);
	return err;
}

/* -------------------------------------------------------------------- main */

static void usage(FILE *out)
{
	fprintf(out, "Usage: mgremu host --listen ADDR --port P\n"
		     "       mgremu manager --connect ADDR --port P --duration-s S [--json]\n"
		     "              [--trace FILE] [--interval-ms MS] [--reply-bytes N]\n"
		     "              [--call-timeout-ms MS] [--fresh-every K] [--down-after N]\n"
		     "              [--down-min-s S]\n");
}

/* Parses a whole decimal number in [min, max]. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"connect", required_argument, NULL, 'c'},
	    {"port", required_argument, NULL, 'p'},
	    {"duration-s", required_argument, NULL, 'd'},
	    {"interval-ms", required_argument, NULL, 'i'},
	    {"reply-bytes", required_argument, NULL, 'r'},
	    {"call-timeout-ms", required_argument, NULL, 't'},
	    {"fresh-every", required_argument, NULL, 'f'},
	    {"down-after", required_argument, NULL, 'n'},
	    {"down-min-s", required_argument, NULL, 'm'},
	    {"trace", required_argument, NULL, 'T'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	uint64_t duration_s = 0, interval_ms = 3000, reply = 40000, timeout_ms = 2000, fresh = 5,
		 down_after = 2, down_min_s = 60;
	const char *addr = NULL, *port = NULL, *trace_path = NULL, *mode;
	struct mg_opts o = {0};
	FILE *trace = NULL;
	bool json = false, bad = false;
	int c, err;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	mode = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
		case 'c':
			addr = optarg;
			break;
		case 'p':
			port = optarg;
			break;
		case 'd':
			bad |= parse_u64(optarg, 1, 86400, &duration_s) != 0;
			break;
		case 'i':
			bad |= parse_u64(optarg, 1, 600000, &interval_ms) != 0;
			break;
		case 'r':
			bad |= parse_u64(optarg, 0, MG_MAX_REPLY, &reply) != 0;
			break;
		case 't':
			bad |= parse_u64(optarg, 1, 600000, &timeout_ms) != 0;
			break;
		case 'f':
			bad |= parse_u64(optarg, 0, 1000000, &fresh) != 0;
			break;
		case 'n':
			bad |= parse_u64(optarg, 1, 1000000, &down_after) != 0;
			break;
		case 'm':
			bad |= parse_u64(optarg, 0, 86400, &down_min_s) != 0;
			break;
		case 'T':
			trace_path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (bad || !port || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(mode, "host"))
		return run_host(addr, port) ? 1 : 0;
	if (strcmp(mode, "manager") || !addr || !duration_s) {
		usage(stderr);
		return 2;
	}
	if (resolve("mgremu", addr, port, false, &o.ss, &o.sslen))
		return 2;
	o.interval_ns = interval_ms * 1000000ULL;
	o.timeout_ns = timeout_ms * 1000000ULL;
	o.duration_ns = duration_s * 1000000000ULL;
	o.down_min_ns = down_min_s * 1000000000ULL;
	o.reply_bytes = (uint32_t)reply;
	o.fresh_every = (uint32_t)fresh;
	o.down_after = (uint32_t)down_after;
	if (trace_path) {
		trace = fopen(trace_path, "w");
		if (!trace) {
			fprintf(stderr, "mgremu: %s: %s\n", trace_path, strerror(errno));
			return 1;
		}
		/* a line per call as it happens: scripts follow the trace */
		setvbuf(trace, NULL, _IOLBF, 0);
	}
	err = run_manager(&o, json, trace);
	if (trace)
		fclose(trace);
	if (err)
		fprintf(stderr, "mgremu: %s\n", strerror(-err));
	return err ? 1 : 0;
}
