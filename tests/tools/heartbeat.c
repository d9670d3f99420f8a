// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * heartbeat: emulates a hypervisor's management traffic in the lab.
 *
 *   heartbeat server --listen ADDR --port P
 *   heartbeat client --connect ADDR --port P --rate HZ --timeout-ms MS
 *                    --duration-s S [--json] [--trace FILE]
 *
 * The client keeps one TCP connection to the server and sends a 16-byte
 * request (magic, sequence number) every 1/HZ seconds; the server echoes it.
 * A request is missed when its echo has not arrived within the timeout; the
 * client keeps going after a miss, and an echo that arrives late is not
 * counted as a hit. If the connection breaks, the client reconnects and the
 * requests due meanwhile are missed. At the end it prints
 *   {"sent":N,"missed":N,"p50_ms":F,"p90_ms":F,"p99_ms":F,"max_ms":F}
 * where the percentiles (nearest rank) are over the answered requests' RTTs.
 * --trace FILE also writes one line per request, for plots:
 *   <seq> <sent_s> <rtt_ms> <hit|miss>
 * sent_s is the send time in seconds after the first request, rtt_ms the
 * round trip of an answered request ("nan" for a missed one).
 *
 * SIGINT or SIGTERM ends a client's run early: it sends no more requests,
 * waits for those in flight (each up to its timeout) and reports; a second
 * signal stops it at once, the pending requests counted as missed.
 *
 * Timing uses timerfd and poll on CLOCK_MONOTONIC only, never sleeps.
 *
 * Both ends run at real-time priority (SCHED_FIFO, when allowed): the lab's
 * two cores also run QEMU guests, libvirt daemons and agents, and an
 * instrument waiting for a CPU would report that wait as network delay (an
 * idle wire with three busy loops: p99 4.0 ms at normal priority, 0.23 ms
 * real-time). The packets themselves get no privilege: softirq and the
 * qdiscs handle them as any other.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "toolnet.h"

#define HB_MAGIC	0x4d534842U /* "MSHB" */
#define HB_MSG_LEN	16
#define HB_MAX_CLIENTS	64
#define HB_MAX_REQUESTS 10000000ULL

struct hb_msg {
	uint32_t magic;
	uint32_t reserved;
	uint64_t seq;
};

static void encode(uint8_t *buf, uint64_t seq)
{
	uint32_t magic = htonl(HB_MAGIC), zero = 0;
	uint64_t be = htobe64(seq);

	memcpy(buf, &magic, 4);
	memcpy(buf + 4, &zero, 4);
	memcpy(buf + 8, &be, 8);
}

static int decode(const uint8_t *buf, uint64_t *seq)
{
	uint32_t magic;
	uint64_t be;

	memcpy(&magic, buf, 4);
	if (ntohl(magic) != HB_MAGIC)
		return -EPROTO;
	memcpy(&be, buf + 8, 8);
	*seq = be64toh(be);
	return 0;
}

/* ------------------------------------------------------------------ server */

struct hb_conn {
	int fd;
	size_t have;
	uint8_t buf[HB_MSG_LEN];
};

static void conn_close(struct hb_conn *c)
{
	close(c->fd);
	c->fd = -1;
	c->have = 0;
}

/* Reads what is there and echoes every complete message; -errno on EOF/error. */
static int conn_serve(struct hb_conn *c)
{
	for (;;) {
		ssize_t n = read(c->fd, c->buf + c->have, HB_MSG_LEN - c->have);

		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		c->have += (size_t)n;
		if (c->have < HB_MSG_LEN)
			continue;
		c->have = 0;
		/* 16 bytes always fit in an idle socket's buffer; drop the echo if not. */
		if (send(c->fd, c->buf, HB_MSG_LEN, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
		    errno != EAGAIN)
			return -errno;
	}
}

static int run_server(const char *addr, const char *port)
{
	struct hb_conn conns[HB_MAX_CLIENTS];
	struct pollfd pfds[HB_MAX_CLIENTS + 2];
	int lfd, sfd, err, i;

	lfd = listen_on("heartbeat", addr, port, 16);
	if (lfd < 0)
		return lfd;
	sfd = make_signalfd();
	if (sfd < 0) {
		close(lfd);
		return sfd;
	}
	for (i = 0; i < HB_MAX_CLIENTS; i++)
		conns[i].fd = -1;
	fprintf(stderr, "heartbeat: listening on %s port %s\n", addr ? addr : "*", port);

	for (;;) {
		int n = 0, map[HB_MAX_CLIENTS];

		pfds[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
		pfds[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
		for (i = 0; i < HB_MAX_CLIENTS; i++) {
			if (conns[i].fd < 0)
				continue;
			map[n - 2] = i;
			pfds[n++] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
		}
		if (poll(pfds, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (pfds[0].revents) {
			err = 0;
			break;
		}
		for (i = 2; i < n; i++) {
			struct hb_conn *c = &conns[map[i - 2]];

			if (pfds[i].revents && conn_serve(c))
				conn_close(c);
		}
		if (pfds[1].revents & POLLIN) {
			int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

			if (cfd < 0)
				continue;
			for (i = 0; i < HB_MAX_CLIENTS && conns[i].fd >= 0; i++)
				;
			if (i == HB_MAX_CLIENTS) {
				close(cfd);
				continue;
			}
			set_nodelay(cfd);
			conns[i].fd = cfd;
			conns[i].have = 0;
		}
	}
	for (i = 0; i < HB_MAX_CLIENTS; i++)
		if (conns[i].fd >= 0)
			conn_close(&conns[i]);
	close(lfd);
	close(sfd);
	return err;
}

/* ------------------------------------------------------------------ client */

enum req_state { REQ_PENDING = 0, REQ_HIT, REQ_MISSED };

struct hb_client {
	struct sockaddr_storage ss;
	socklen_t sslen;
	uint64_t timeout_ns;
	uint64_t total;	   /* requests to send */
	uint64_t next_seq; /* requests sent (or due) so far */
	uint64_t oldest;   /* first request not yet resolved */
	uint64_t missed;
	uint64_t *sent_ns;
	uint8_t *state;
	double *rtt_ms;
	/* Per sequence number, only with --trace: rtt_ms is indexed by hit. */
	double *seq_rtt_ms;
	uint64_t hits;
	int fd;
	bool connecting;
	size_t have;
	uint8_t inbuf[HB_MSG_LEN];
	size_t outlen;
	uint8_t outbuf[4096];
};

static void client_drop(struct hb_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->connecting = false;
	c->have = 0;
	c->outlen = 0;
}

/* Starts a non-blocking connect. */
static int client_connect(struct hb_client *c)
{
	int fd = socket(c->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	set_nodelay(fd);
	c->fd = fd;
	c->have = 0;
	c->outlen = 0;
	if (connect(fd, (struct sockaddr *)&c->ss, c->sslen) == 0) {
		c->connecting = false;
		return 0;
	}
	if (errno != EINPROGRESS) {
		int err = -errno;

		client_drop(c);
		return err;
	}
	c->connecting = true;
	return 0;
}

/* Completes a pending connect after POLLOUT. */
static int client_connected(struct hb_client *c)
{
	int soerr = 0;
	socklen_t l = sizeof(soerr);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &l))
		soerr = errno;
	if (soerr) {
		client_drop(c);
		return -soerr;
	}
	c->connecting = false;
	return 0;
}

static int client_flush(struct hb_client *c)
{
	while (c->outlen) {
		ssize_t n = send(c->fd, c->outbuf, c->outlen, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		memmove(c->outbuf, c->outbuf + n, c->outlen - (size_t)n);
		c->outlen -= (size_t)n;
	}
	return 0;
}

static void client_send_one(struct hb_client *c, uint64_t now)
{
	uint64_t seq = c->next_seq++;

	c->sent_ns[seq] = now;
	c->state[seq] = REQ_PENDING;
	/* Not connected, or the connection is stuck: this request will be missed. */
	if (c->fd < 0 || c->connecting || c->outlen + HB_MSG_LEN > sizeof(c->outbuf))
		return;
	encode(c->outbuf + c->outlen, seq);
	c->outlen += HB_MSG_LEN;
	if (client_flush(c))
		client_drop(c);
}

static int client_read(struct hb_client *c)
{
	for (;;) {
		ssize_t n = read(c->fd, c->inbuf + c->have, HB_MSG_LEN - c->have);
		uint64_t seq, now;

		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		c->have += (size_t)n;
		if (c->have < HB_MSG_LEN)
			continue;
		c->have = 0;
		if (decode(c->inbuf, &seq))
			return -EPROTO;
		now = now_ns();
		if (seq >= c->next_seq || c->state[seq] != REQ_PENDING)
			continue;
		if (now - c->sent_ns[seq] > c->timeout_ns)
			continue; /* late: expiry below marks it missed */
		c->state[seq] = REQ_HIT;
		c->rtt_ms[c->hits++] = (double)(now - c->sent_ns[seq]) / 1e6;
		if (c->seq_rtt_ms)
			c->seq_rtt_ms[seq] = c->rtt_ms[c->hits - 1];
	}
}

/* Marks expired requests missed; returns ms until the next one expires, or -1. */
static int client_expire(struct hb_client *c, uint64_t now)
{
	while (c->oldest < c->next_seq) {
		uint64_t s = c->oldest;

		if (c->state[s] == REQ_PENDING) {
			if (now - c->sent_ns[s] <= c->timeout_ns)
				return (int)((c->sent_ns[s] + c->timeout_ns - now) / 1000000ULL) +
				       1;
			c->state[s] = REQ_MISSED;
			c->missed++;
		}
		c->oldest++;
	}
	return -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double percentile(const double *sorted, uint64_t n, double p)
{
	uint64_t rank;

	if (!n)
		return 0.0;
	rank = (uint64_t)ceil(p / 100.0 * (double)n);
	if (rank < 1)
		rank = 1;
	return sorted[rank - 1];
}

/* Writes the per-request trace (see the top of the file); -errno on failure. */
static int write_trace(const struct hb_client *c, const char *path)
{
	FILE *f = fopen(path, "we");
	int err = 0;

	if (!f)
		return -errno;
	fprintf(f, "# seq sent_s rtt_ms state\n");
	for (uint64_t s = 0; s < c->next_seq; s++) {
		double t = (double)(c->sent_ns[s] - c->sent_ns[0]) / 1e9;

		if (c->state[s] == REQ_HIT)
			fprintf(f, "%llu %.4f %.3f hit\n", (unsigned long long)s, t,
				c->seq_rtt_ms[s]);
		else
			fprintf(f, "%llu %.4f nan miss\n", (unsigned long long)s, t);
	}
	if (ferror(f))
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

static int run_client(const char *addr, const char *port, double rate, long timeout_ms,
		      long duration_s, bool json, const char *trace)
{
	struct hb_client c = {.fd = -1};
	struct itimerspec its = {0};
	uint64_t period_ns, start, deadline;
	int tfd = -1, sfd = -1, err;
	bool stop = false;

	err = resolve("heartbeat", addr, port, false, &c.ss, &c.sslen);
	if (err)
		return err;
	c.timeout_ns = (uint64_t)timeout_ms * 1000000ULL;
	c.total = (uint64_t)llround(rate * (double)duration_s);
	if (c.total < 1 || c.total > HB_MAX_REQUESTS) {
		fprintf(stderr, "heartbeat: rate x duration must give 1..%llu requests\n",
			HB_MAX_REQUESTS);
		return -EINVAL;
	}
	period_ns = (uint64_t)(1e9 / rate);
	c.sent_ns = calloc(c.total, sizeof(*c.sent_ns));
	c.state = calloc(c.total, sizeof(*c.state));
	c.rtt_ms = calloc(c.total, sizeof(*c.rtt_ms));
	if (trace)
		c.seq_rtt_ms = calloc(c.total, sizeof(*c.seq_rtt_ms));
	if (!c.sent_ns || !c.state || !c.rtt_ms || (trace && !c.seq_rtt_ms)) {
		err = -ENOMEM;
		goto out;
	}

	/* The first connect must succeed within the timeout, else nothing to test. */
	err = client_connect(&c);
	if (!err && c.connecting) {
		struct pollfd p = {.fd = c.fd, .events = POLLOUT};
		int r = poll(&p, 1, (int)timeout_ms);

		err = r < 0 ? -errno : r == 0 ? -ETIMEDOUT : client_connected(&c);
	}
	if (err) {
		fprintf(stderr, "heartbeat: cannot connect to %s port %s: %s\n", addr, port,
			strerror(-err));
		goto out;
	}

	sfd = make_signalfd();
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (sfd < 0 || tfd < 0) {
		err = sfd < 0 ? sfd : -errno;
		goto out;
	}
	start = now_ns();
	its.it_interval.tv_sec = (time_t)(period_ns / 1000000000ULL);
	its.it_interval.tv_nsec = (long)(period_ns % 1000000000ULL);
	its.it_value = its.it_interval;
	if (timerfd_settime(tfd, 0, &its, NULL)) {
		err = -errno;
		goto out;
	}
	/* The first request goes out now, the others at each tick. */
	client_send_one(&c, start);

	while (!stop && (c.next_seq < c.total || c.oldest < c.next_seq)) {
		struct pollfd p[3];
		int n = 0, wait_ms, r;
		uint64_t now = now_ns();

		wait_ms = client_expire(&c, now);
		if (c.next_seq >= c.total && c.oldest >= c.next_seq)
			break;
		p[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
		p[n++] = (struct pollfd){.fd = tfd, .events = POLLIN};
		if (c.fd >= 0)
			p[n++] = (struct pollfd){
			    .fd = c.fd,
			    .events = (short)(POLLIN | (c.connecting || c.outlen ? POLLOUT : 0)),
			};
		r = poll(p, (nfds_t)n, wait_ms);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto out;
		}
		if (p[0].revents) {
			struct signalfd_siginfo si;

			/*
			 * The first SIGINT/SIGTERM ends the run: no more requests, and
			 * those in flight get their timeout; a second one stops at once.
			 */
			if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si) ||
			    c.total == c.next_seq) {
				stop = true;
				break;
			}
			c.total = c.next_seq;
			continue;
		}
		if (n == 3 && p[2].revents) {
			int e = 0;

			if (c.connecting) {
				if (p[2].revents & (POLLOUT | POLLERR | POLLHUP))
					e = client_connected(&c);
			} else {
				if (p[2].revents & (POLLIN | POLLERR | POLLHUP))
					e = client_read(&c);
				if (!e && (p[2].revents & POLLOUT))
					e = client_flush(&c);
			}
			if (e && c.fd >= 0)
				client_drop(&c);
		}
		if (p[1].revents & POLLIN) {
			uint64_t ticks = 0;

			if (read(tfd, &ticks, sizeof(ticks)) == (ssize_t)sizeof(ticks)) {
				now = now_ns();
				if (c.fd < 0 && c.next_seq < c.total)
					client_connect(&c);
				while (ticks-- && c.next_seq < c.total)
					client_send_one(&c, now);
				if (c.next_seq >= c.total) {
					struct itimerspec off = {0};

					timerfd_settime(tfd, 0, &off, NULL);
				}
			}
		}
	}
	/* Stopped by a second signal: what is still pending counts as missed. */
	deadline = now_ns() + c.timeout_ns + 1;
	client_expire(&c, deadline);

	qsort(c.rtt_ms, c.hits, sizeof(*c.rtt_ms), cmp_double);
	if (json)
		printf("{\"sent\":%llu,\"missed\":%llu,\"p50_ms\":%.3f,\"p90_ms\":%.3f,"
		       "\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
		       (unsigned long long)c.next_seq, (unsigned long long)c.missed,
		       percentile(c.rtt_ms, c.hits, 50), percentile(c.rtt_ms, c.hits, 90),
		       percentile(c.rtt_ms, c.hits, 99), c.hits ? c.rtt_ms[c.hits - 1] : 0.0);
	else
		printf(
		    "sent %llu missed %llu rtt p50 %.3f ms p90 %.3f ms p99 %.3f ms max %.3f ms\n",
		    (unsigned long long)c.next_seq, (unsigned long long)c.missed,
		    percentile(c.rtt_ms, c.hits, 50), percentile(c.rtt_ms, c.hits, 90),
		    percentile(c.rtt_ms, c.hits, 99), c.hits ? c.rtt_ms[c.hits - 1] : 0.0);
	fflush(stdout);
	err = 0;
	if (trace) {
		err = write_trace(&c, trace);
		if (err)
			fprintf(stderr, "heartbeat: cannot write %s: %s\n", trace, strerror(-err));
	}
out:
	if (c.fd >= 0)
		close(c.fd);
	if (tfd >= 0)
		close(tfd);
	if (sfd >= 0)
		close(sfd);
	free(c.sent_ns);
	free(c.state);
	free(c.rtt_ms);
	free(c.seq_rtt_ms);
	return err;
}

/* -------------------------------------------------------------------- main */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: heartbeat server --listen ADDR --port P\n"
		"       heartbeat client --connect ADDR --port P --rate HZ --timeout-ms MS\n"
		"                        --duration-s S [--json] [--trace FILE]\n"
		"\n"
		"The client sends HZ requests/s over one TCP connection for S seconds and\n"
		"counts a request missed when its echo is not back within MS milliseconds.\n"
		"It prints sent, missed and RTT percentiles of the answered requests\n"
		"(--json: "
		"{\"sent\":N,\"missed\":N,\"p50_ms\":F,\"p90_ms\":F,\"p99_ms\":F,\"max_ms\":F}).\n"
		"--trace FILE writes one line per request: seq, send time (s after the\n"
		"first), RTT in ms (nan if missed), hit or miss.\n"
		"Addresses are numeric IPv4 or IPv6. Exit: 0 ok, 1 error, 2 usage.\n");
}

static int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"connect", required_argument, NULL, 'c'},
	    {"port", required_argument, NULL, 'p'},
	    {"rate", required_argument, NULL, 'r'},
	    {"timeout-ms", required_argument, NULL, 't'},
	    {"duration-s", required_argument, NULL, 'd'},
	    {"json", no_argument, NULL, 'j'},
	    {"trace", required_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *mode, *addr = NULL, *port = NULL, *trace = NULL;
	long timeout_ms = 1000, duration_s = 10, port_n;
	double rate = 10.0;
	bool json = false, server;
	char *end;
	int opt, err;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	mode = argv[1];
	if (!strcmp(mode, "--help") || !strcmp(mode, "-h")) {
		usage(stdout);
		return 0;
	}
	if (strcmp(mode, "server") && strcmp(mode, "client")) {
		fprintf(stderr, "heartbeat: unknown mode '%s'\n", mode);
		usage(stderr);
		return 2;
	}
	server = !strcmp(mode, "server");
	optind = 2;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
		case 'c':
			addr = optarg;
			break;
		case 'p':
			port = optarg;
			if (parse_long(optarg, 1, 65535, &port_n)) {
				fprintf(stderr, "heartbeat: bad --port '%s'\n", optarg);
				return 2;
			}
			break;
		case 'r':
			errno = 0;
			rate = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(rate > 0.0) || rate > 100000.0) {
				fprintf(stderr, "heartbeat: bad --rate '%s'\n", optarg);
				return 2;
			}
			break;
		case 't':
			if (parse_long(optarg, 1, 3600000, &timeout_ms)) {
				fprintf(stderr, "heartbeat: bad --timeout-ms '%s'\n", optarg);
				return 2;
			}
			break;
		case 'd':
			if (parse_long(optarg, 1, 86400, &duration_s)) {
				fprintf(stderr, "heartbeat: bad --duration-s '%s'\n", optarg);
				return 2;
			}
			break;
		case 'j':
			json = true;
			break;
		case 'T':
			trace = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !port || (!server && !addr)) {
		usage(stderr);
		return 2;
	}
	if (sched_setscheduler(0, SCHED_FIFO, &(struct sched_param){.sched_priority = 10}) < 0)
		fprintf(stderr, "heartbeat: at normal priority (SCHED_FIFO: %s)\n",
			strerror(errno));
	err = server ? run_server(addr, port)
		     : run_client(addr, port, rate, timeout_ms, duration_s, json, trace);
	if (err) {
		fprintf(stderr, "heartbeat: %s\n", strerror(-err));
		return 1;
	}
	return 0;
}
