// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * httpabuse: abusive HTTP clients and a measuring scraper, for the lab test
 * and benchmark of the agent's HTTP server (tests/lab/test_abuse.sh,
 * tests/bench/abuse.sh).
 *
 *   httpabuse idle   --connect IP --port P --conns N --hold-s S
 *       opens N connections, sends nothing, closes them after S seconds;
 *   httpabuse slow   --connect IP --port P --conns N --hold-s S [--interval-ms I]
 *       slowloris: N connections that send an unfinished request and one more
 *       header line every I ms (default 1000); one the server closes is
 *       opened again, for S seconds;
 *   httpabuse scrape --connect IP --port P [--path /metrics] [--every-ms E]
 *                    [--duration-s D] [--timeout-ms T] [--until-ok]
 *       GETs the path on a fresh connection every E ms for D seconds (or,
 *       with --until-ok, until the first complete 200); a scrape is ok when
 *       the status is 200 and the whole Content-Length arrived within T ms.
 * Each prints one JSON object on stdout when done:
 *   idle/slow: {"connected": N, "failed": N, "closed_by_server": N}
 *   scrape:    {"scrapes": N, "ok": N, "p50_ms": F, "p99_ms": F, "max_ms": F,
 *               "first_ok_ms": F}   (first_ok_ms: from start; -1 if none)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 4096

struct opts {
	const char *mode, *addr, *path;
	int port, conns, interval_ms, every_ms, timeout_ms;
	double hold_s, duration_s;
	bool until_ok;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int target(const struct opts *o, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, o->addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((unsigned short)o->port);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, o->addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((unsigned short)o->port);
		*len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

/* A connected socket (blocking connect bounded by timeout_ms), or -1. */
static int dial(const struct sockaddr_storage *ss, socklen_t len, int timeout_ms)
{
	struct pollfd p;
	int s, err = 0;
	socklen_t el = sizeof(err);

	s = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	if (connect(s, (const struct sockaddr *)ss, len) == 0)
		return s;
	if (errno != EINPROGRESS)
		goto fail;
	p = (struct pollfd){.fd = s, .events = POLLOUT};
	if (poll(&p, 1, timeout_ms) != 1)
		goto fail;
	if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err)
		goto fail;
	return s;
fail:
	close(s);
	return -1;
}

/* true if the server closed s (EOF or reset); drains what it sent. */
static bool server_closed(int s)
{
	char buf[4096];

	for (;;) {
		ssize_t n = recv(s, buf, sizeof(buf), MSG_DONTWAIT);

		if (n > 0)
			continue;
		if (n == 0)
			return true;
		return errno != EAGAIN && errno != EWOULDBLOCK;
	}
}

static int run_attack(const struct opts *o, bool slow)
{
	static int socks[MAX_CONNS];
	static const char head[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
	struct sockaddr_storage ss;
	socklen_t len;
	long connected = 0, failed = 0, closed = 0;
	double end, next_tick;
	int n = o->conns;

	if (n < 1 || n > MAX_CONNS || target(o, &ss, &len)) {
		fprintf(stderr, "httpabuse: bad --conns or --connect\n");
		return 2;
	}
	end = now_s() + o->hold_s;
	for (int i = 0; i < n; i++) {
		/* A server that stopped accepting must not stretch the attack. */
		socks[i] = now_s() < end ? dial(&ss, len, 200) : -1;
		if (socks[i] < 0) {
			failed++;
			continue;
		}
		connected++;
		if (slow)
			send(socks[i], head, sizeof(head) - 1, MSG_NOSIGNAL);
	}
	next_tick = now_s() + o->interval_ms / 1000.0;
	while (now_s() < end) {
		double wait = (slow ? next_tick : end) - now_s();
		struct timespec ts;

		if (wait > 0.1)
			wait = 0.1;
		if (wait > 0) {
			ts.tv_sec = 0;
			ts.tv_nsec = (long)(wait * 1e9);
			nanosleep(&ts, NULL);
		}
		for (int i = 0; i < n; i++) {
			if (socks[i] >= 0 && server_closed(socks[i])) {
				close(socks[i]);
				socks[i] = -1;
				closed++;
			}
			/* A slowloris attacker comes straight back. */
			if (slow && socks[i] < 0 && now_s() < end) {
				socks[i] = dial(&ss, len, 200);
				if (socks[i] < 0) {
					failed++;
					continue;
				}
				connected++;
				send(socks[i], head, sizeof(head) - 1, MSG_NOSIGNAL);
			}
		}
		if (slow && now_s() >= next_tick) {
			for (int i = 0; i < n; i++)
				if (socks[i] >= 0)
					send(socks[i], "X-Slow: 1\r\n", 11, MSG_NOSIGNAL);
			next_tick += o->interval_ms / 1000.0;
		}
	}
	for (int i = 0; i < n; i++)
		if (socks[i] >= 0)
			close(socks[i]);
	printf("{\"connected\": %ld, \"failed\": %ld, \"closed_by_server\": %ld}\n", connected,
	       failed, closed);
	return 0;
}

/* One GET on a fresh connection: 1 ok, 0 not; *ms its duration. */
static int scrape_once(const struct opts *o, const struct sockaddr_storage *ss, socklen_t len,
		       double *ms)
{
	static char buf[1 << 22];
	double t0 = now_s(), deadline = t0 + o->timeout_ms / 1000.0;
	size_t got = 0, req_len;
	char req[512];
	int s, ok = 0;

	req_len = (size_t)snprintf(req, sizeof(req),
				   "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
				   o->path, o->addr);
	s = dial(ss, len, o->timeout_ms);
	if (s < 0)
		goto out;
	if (send(s, req, req_len, MSG_NOSIGNAL) != (ssize_t)req_len)
		goto out;
	for (;;) {
		struct pollfd p = {.fd = s, .events = POLLIN};
		int left = (int)((deadline - now_s()) * 1000);
		const char *end;
		ssize_t n;

		if (left <= 0 || poll(&p, 1, left) != 1)
			break;
		n = recv(s, buf + got, sizeof(buf) - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end) {
			const char *cl = strcasestr(buf, "\r\nContent-Length:");
			size_t body = got - (size_t)(end + 4 - buf);

			if (strncmp(buf, "HTTP/1.", 7) != 0 || strncmp(buf + 8, " 200", 4) != 0)
				break;
			if (cl && cl < end && body >= strtoul(cl + 17, NULL, 10)) {
				ok = 1;
				break;
			}
		}
		if (got >= sizeof(buf) - 1)
			break;
	}
out:
	if (s >= 0)
		close(s);
	*ms = (now_s() - t0) * 1000.0;
	return ok;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int run_scrape(const struct opts *o)
{
	struct sockaddr_storage ss;
	socklen_t len;
	double start = now_s(), end = start + o->duration_s, first_ok = -1, next = start;
	double *lat;
	long n = 0, ok = 0, cap = 1024;

	if (target(o, &ss, &len)) {
		fprintf(stderr, "httpabuse: bad --connect\n");
		return 2;
	}
	lat = malloc((size_t)cap * sizeof(*lat));
	if (!lat)
		return 1;
	while (now_s() < end) {
		double ms;
		int good;

		if (n == cap) {
			double *more = realloc(lat, (size_t)(cap *= 2) * sizeof(*lat));

			if (!more)
				break;
			lat = more;
		}
		good = scrape_once(o, &ss, len, &ms);
		lat[n++] = ms;
		ok += good;
		if (good && first_ok < 0)
			first_ok = (now_s() - start) * 1000.0;
		if (good && o->until_ok)
			break;
		next += o->every_ms / 1000.0;
		while (now_s() < next && now_s() < end) {
			struct timespec ts = {0, 10000000L};

			nanosleep(&ts, NULL);
		}
	}
	qsort(lat, (size_t)n, sizeof(*lat), cmp_double);
	printf("{\"scrapes\": %ld, \"ok\": %ld, \"p50_ms\": %.2f, \"p99_ms\": %.2f, "
	       "\"max_ms\": %.2f, \"first_ok_ms\": %.1f}\n",
	       n, ok, n ? lat[(n - 1) / 2] : 0.0, n ? lat[(size_t)((n - 1) * 0.99 + 0.5)] : 0.0,
	       n ? lat[n - 1] : 0.0, first_ok);
	free(lat);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option long_opts[] = {
	    {"connect", required_argument, NULL, 'c'},
	    {"port", required_argument, NULL, 'p'},
	    {"conns", required_argument, NULL, 'n'},
	    {"hold-s", required_argument, NULL, 'H'},
	    {"interval-ms", required_argument, NULL, 'i'},
	    {"path", required_argument, NULL, 'P'},
	    {"every-ms", required_argument, NULL, 'e'},
	    {"duration-s", required_argument, NULL, 'd'},
	    {"timeout-ms", required_argument, NULL, 't'},
	    {"until-ok", no_argument, NULL, 'u'},
	    {NULL, 0, NULL, 0},
	};
	struct opts o = {.addr = "127.0.0.1",
			 .path = "/metrics",
			 .port = 9465,
			 .conns = 1,
			 .interval_ms = 1000,
			 .every_ms = 1000,
			 .timeout_ms = 2000,
			 .hold_s = 1,
			 .duration_s = 1};
	int c;

	if (argc < 2) {
		fprintf(stderr, "usage: httpabuse idle|slow|scrape [options]\n");
		return 2;
	}
	o.mode = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o.addr = optarg;
			break;
		case 'p':
			o.port = atoi(optarg);
			break;
		case 'n':
			o.conns = atoi(optarg);
			break;
		case 'H':
			o.hold_s = atof(optarg);
			break;
		case 'i':
			o.interval_ms = atoi(optarg);
			break;
		case 'P':
			o.path = optarg;
			break;
		case 'e':
			o.every_ms = atoi(optarg);
			break;
		case 'd':
			o.duration_s = atof(optarg);
			break;
		case 't':
			o.timeout_ms = atoi(optarg);
			break;
		case 'u':
			o.until_ok = true;
			break;
		default:
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (o.interval_ms < 1 || o.every_ms < 1 || o.timeout_ms < 1) {
		fprintf(stderr, "httpabuse: intervals and timeouts must be >= 1 ms\n");
		return 2;
	}
	if (strcmp(o.mode, "idle") == 0)
		return run_attack(&o, false);
	if (strcmp(o.mode, "slow") == 0)
		return run_attack(&o, true);
	if (strcmp(o.mode, "scrape") == 0)
		return run_scrape(&o);
	fprintf(stderr, "httpabuse: unknown mode '%s' (idle, slow, scrape)\n", o.mode);
	return 2;
}
