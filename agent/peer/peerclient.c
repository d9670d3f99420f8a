// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The peer client: one non-blocking HTTP/1.0 request per destination and
 * cycle, its sockets in an epoll set of its own (one source in the agent's
 * loop), deadlines on a timerfd, and per destination the verdict the policy
 * reads. Nothing here waits: every step is taken when epoll says it can be.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "loop.h"
#include "peerclient.h"

#define MAX_EVENTS 16

enum phase {
	PHASE_IDLE = 0,
	PHASE_CONNECTING,
	PHASE_SENDING,
	PHASE_READING,
};

/* How a request ended, before it is mapped to a state. */
enum outcome {
	OUT_ANSWER,  /* 200 and a body: parse it */
	OUT_TIMEOUT, /* no complete answer in time */
	OUT_SERVER,  /* 5xx */
	OUT_ABSENT,  /* 404 */
	OUT_GONE,    /* refused, reset, closed early, unreachable */
	OUT_REFUSED, /* malformed or oversized response, another status */
};

struct dest {
	bool used;
	bool wanted; /* asked for this cycle */
	struct ms_peer_client *client;
	struct ms_peer_addr addr;
	char name[INET6_ADDRSTRLEN + 8];
	int fd;
	enum phase phase;
	long long deadline_ms;
	char req[160];
	size_t req_len, req_sent;
	char *resp; /* MS_PEER_MAX_RESPONSE + 1 bytes, while a request is in flight */
	size_t resp_len;
	/* What is known. */
	bool answered_before;
	bool absent_logged;
	struct ms_peer_status status;
	long long refused_logged_ms;
	__u64 refused_unlogged;
};

struct ms_peer_client {
	struct ms_loop *loop;
	int epoll_fd;
	int timer_fd;
	bool epoll_added, timer_added;
	struct ms_peer_stats stats;
	struct dest dests[MS_PEER_MAX_DESTS];
	bool asking; /* between begin and end: the caller is in its cycle */
	ms_peer_change_fn on_change;
	void *change_ctx;
};

static bool is_v4_mapped(const __u8 *ip)
{
	static const __u8 prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return memcmp(ip, prefix, sizeof(prefix)) == 0;
}

static void addr_name(const struct ms_peer_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	bool v4 = is_v4_mapped(a->ip);

	inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? a->ip + 12 : a->ip, ip, sizeof(ip));
	snprintf(buf, len, v4 ? "%s:%u" : "[%s]:%u", ip, a->port);
}

static socklen_t sockaddr_of(const struct ms_peer_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (is_v4_mapped(a->ip)) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(a->port);
		memcpy(&sin->sin_addr, a->ip + 12, 4);
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(a->port);
	memcpy(&sin6->sin6_addr, a->ip, 16);
	return sizeof(*sin6);
}

static void close_request(struct dest *d)
{
	if (d->fd >= 0) {
		epoll_ctl(d->client->epoll_fd, EPOLL_CTL_DEL, d->fd, NULL);
		close(d->fd);
	}
	d->fd = -1;
	d->phase = PHASE_IDLE;
	free(d->resp);
	d->resp = NULL;
	d->resp_len = 0;
}

static void log_refused(struct dest *d, const char *why)
{
	long long now = ms_clock_ms();

	d->refused_unlogged++;
	if (d->refused_logged_ms && now - d->refused_logged_ms < MS_PEER_LOG_INTERVAL_S * 1000LL)
		return;
	ms_warn("peer %s: answer refused (%s; %llu refused since the last report); its "
		"migrations keep their allocation",
		d->name, why, (unsigned long long)d->refused_unlogged);
	d->refused_unlogged = 0;
	d->refused_logged_ms = now;
}

/* Maps how a request ended to the destination's state. */
static void settle(struct dest *d, enum outcome out, const char *why)
{
	struct ms_peer_stats *st = &d->client->stats;
	enum ms_policy_dst before = d->status.state;

	close_request(d);
	if (out != OUT_TIMEOUT && out != OUT_SERVER && !(out == OUT_GONE && d->answered_before))
		d->status.silent = 0;
	switch (out) {
	case OUT_ANSWER:
		/* Parsed by the caller, which set the answer. */
		st->answered_total++;
		d->answered_before = true;
		d->status.state = MS_POLICY_DST_ANSWERED;
		if (before == MS_POLICY_DST_SILENT)
			ms_info("peer %s: answers again", d->name);
		return;
	case OUT_ABSENT:
	case OUT_GONE:
		if (d->answered_before && out == OUT_GONE)
			break;
		st->absent_total++;
		d->status.state = MS_POLICY_DST_UNKNOWN;
		if (!d->absent_logged)
			ms_info("peer %s: no migshaper agent there (%s); its migrations are shaped "
				"on local counts",
				d->name, why);
		d->absent_logged = true;
		return;
	case OUT_TIMEOUT:
	case OUT_SERVER:
		break;
	case OUT_REFUSED:
		st->refused_total++;
		d->status.state = MS_POLICY_DST_REFUSED;
		log_refused(d, why);
		return;
	}
	st->silent_total++;
	d->status.state = MS_POLICY_DST_SILENT;
	d->status.silent++;
	if (before != MS_POLICY_DST_SILENT)
		ms_warn("peer %s: no answer (%s); halving its migrations each cycle down to the "
			"floor until it answers",
			d->name, why);
}

static void notify(const struct dest *d, bool changed)
{
	const struct ms_peer_client *c = d->client;

	if (changed && c->on_change && !c->asking)
		c->on_change(c->change_ctx);
}

static void conclude(struct dest *d, enum outcome out, const char *why)
{
	enum ms_policy_dst before = d->status.state;

	settle(d, out, why);
	notify(d, d->status.state != before);
}

/* A good answer: kept as the last good one; a change if it differs from that. */
static void conclude_answer(struct dest *d, const struct ms_peer_answer *a)
{
	bool changed = d->status.state != MS_POLICY_DST_ANSWERED || !d->status.have_answer ||
		       memcmp(&d->status.answer, a, sizeof(*a)) != 0;

	d->status.answer = *a;
	d->status.have_answer = true;
	settle(d, OUT_ANSWER, NULL);
	notify(d, changed);
}

/* The status line and headers of resp; the body's offset, or -1 while incomplete. */
static int parse_head(struct dest *d, unsigned int *status, long long *content_length,
		      const char **why)
{
	char *end, *line, *eol;
	int major, minor;

	d->resp[d->resp_len] = '\0';
	end = strstr(d->resp, "\r\n\r\n");
	if (!end)
		return -1;
	*content_length = -1;
	if (sscanf(d->resp, "HTTP/%d.%d %3u", &major, &minor, status) != 3 || major != 1) {
		*why = "not an HTTP/1 response";
		return -2;
	}
	for (line = strstr(d->resp, "\r\n") + 2; line < end; line = eol + 2) {
		eol = strstr(line, "\r\n");
		if (!strncasecmp(line, "Content-Length:", 15)) {
			char *num = line + 15, *stop;
			unsigned long long v;

			while (*num == ' ' || *num == '\t')
				num++;
			if (*num < '0' || *num > '9') {
				*why = "a malformed Content-Length";
				return -2;
			}
			v = strtoull(num, &stop, 10);
			while (*stop == ' ' || *stop == '\t')
				stop++;
			if (stop != eol) {
				*why = "a malformed Content-Length";
				return -2;
			}
			*content_length =
			    v > MS_PEER_MAX_BODY ? MS_PEER_MAX_BODY + 1LL : (long long)v;
		} else if (!strncasecmp(line, "Transfer-Encoding:", 18)) {
			*why = "a transfer encoding (an HTTP/1.0 request gets none)";
			return -2;
		}
	}
	return (int)(end + 4 - d->resp);
}

/*
 * What has arrived, at EOF (eof) or after each read: concludes the request
 * when the response is complete, or refused. Returns true when it did.
 */
static bool judge(struct dest *d, bool eof)
{
	const char *why = "an incomplete response";
	long long content_length;
	unsigned int status = 0;
	char err[160];
	size_t body_len;
	int body;

	body = parse_head(d, &status, &content_length, &why);
	if (body == -2) {
		conclude(d, OUT_REFUSED, why);
		return true;
	}
	if (body < 0) {
		if (d->resp_len >= MS_PEER_MAX_RESPONSE) {
			conclude(d, OUT_REFUSED, "headers larger than the whole answer may be");
			return true;
		}
		if (eof)
			conclude(d, OUT_GONE, "closed before the headers");
		return eof;
	}
	if (status == 404) {
		conclude(d, OUT_ABSENT, "404 on " MS_PEER_PATH);
		return true;
	}
	if (status >= 500 && status <= 599) {
		snprintf(err, sizeof(err), "status %u", status);
		conclude(d, OUT_SERVER, err);
		return true;
	}
	if (status != 200) {
		snprintf(err, sizeof(err), "status %u", status);
		conclude(d, OUT_REFUSED, err);
		return true;
	}
	body_len = d->resp_len - (size_t)body;
	if (content_length > MS_PEER_MAX_BODY || body_len > MS_PEER_MAX_BODY) {
		snprintf(err, sizeof(err), "a body larger than %u bytes", MS_PEER_MAX_BODY);
		conclude(d, OUT_REFUSED, err);
		return true;
	}
	if (content_length >= 0 && body_len > (size_t)content_length) {
		conclude(d, OUT_REFUSED, "more bytes than its Content-Length");
		return true;
	}
	if (!eof && (content_length < 0 || body_len < (size_t)content_length))
		return false;
	if (content_length >= 0 && body_len < (size_t)content_length) {
		conclude(d, d->answered_before ? OUT_GONE : OUT_REFUSED,
			 "closed before the whole body");
		return true;
	}
	{
		struct ms_peer_answer a;
		char perr[128];

		if (ms_peer_parse(d->resp + body, body_len, &a, perr, sizeof(perr))) {
			snprintf(err, sizeof(err), "%s", perr);
			conclude(d, OUT_REFUSED, err);
			return true;
		}
		conclude_answer(d, &a);
	}
	return true;
}

static void on_readable(struct dest *d)
{
	for (;;) {
		ssize_t n;

		if (d->resp_len >= MS_PEER_MAX_RESPONSE) {
			/* Full: what is there decides, more would only be more of too much. */
			if (!judge(d, false))
				conclude(d, OUT_REFUSED, "a response larger than an answer may be");
			return;
		}
		n = recv(d->fd, d->resp + d->resp_len, MS_PEER_MAX_RESPONSE - d->resp_len, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0) {
			conclude(d, OUT_GONE, strerror(errno));
			return;
		}
		d->resp_len += (size_t)n;
		if (judge(d, n == 0))
			return;
	}
}

static void on_writable(struct dest *d)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = d};

	if (d->phase == PHASE_CONNECTING) {
		int soerr = 0;
		socklen_t len = sizeof(soerr);

		if (getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			soerr = errno;
		if (soerr) {
			conclude(d, OUT_GONE, strerror(soerr));
			return;
		}
		d->phase = PHASE_SENDING;
	}
	while (d->req_sent < d->req_len) {
		ssize_t n =
		    send(d->fd, d->req + d->req_sent, d->req_len - d->req_sent, MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0) {
			conclude(d, OUT_GONE, strerror(errno));
			return;
		}
		d->req_sent += (size_t)n;
	}
	d->phase = PHASE_READING;
	if (epoll_ctl(d->client->epoll_fd, EPOLL_CTL_MOD, d->fd, &ev) < 0)
		conclude(d, OUT_GONE, strerror(errno));
}

/* The timer at the earliest deadline of a request in flight, or disarmed. */
static void arm_timer(struct ms_peer_client *c)
{
	struct itimerspec its = {0};
	long long next = -1, now = ms_clock_ms();

	for (size_t i = 0; i < MS_PEER_MAX_DESTS; i++)
		if (c->dests[i].used && c->dests[i].fd >= 0 &&
		    (next < 0 || c->dests[i].deadline_ms < next))
			next = c->dests[i].deadline_ms;
	if (next >= 0) {
		long long wait = next > now ? next - now : 0;

		its.it_value.tv_sec = (time_t)(wait / 1000);
		its.it_value.tv_nsec = (long)(wait % 1000) * 1000000L;
		if (!wait)
			its.it_value.tv_nsec = 1;
	}
	if (timerfd_settime(c->timer_fd, 0, &its, NULL) < 0)
		ms_warn("peer: cannot arm the request timer: %s", strerror(errno));
}

static void expire(struct ms_peer_client *c)
{
	long long now = ms_clock_ms();

	for (size_t i = 0; i < MS_PEER_MAX_DESTS; i++) {
		struct dest *d = &c->dests[i];

		if (d->used && d->fd >= 0 && now >= d->deadline_ms)
			conclude(d, OUT_TIMEOUT, "no complete answer in time");
	}
}

static int on_sockets(void *ctx, uint32_t events)
{
	struct ms_peer_client *c = ctx;
	struct epoll_event evs[MAX_EVENTS];
	int n;

	(void)events;
	n = epoll_wait(c->epoll_fd, evs, MAX_EVENTS, 0);
	for (int i = 0; i < n; i++) {
		struct dest *d = evs[i].data.ptr;

		/* An earlier event of this batch may have concluded it. */
		if (d->fd < 0)
			continue;
		if (d->phase == PHASE_READING)
			on_readable(d);
		else
			on_writable(d);
	}
	/* A request past its deadline ends now, even if its socket is busy. */
	expire(c);
	arm_timer(c);
	return 0;
}

static int on_timer(void *ctx, uint32_t events)
{
	struct ms_peer_client *c = ctx;
	__u64 expirations;

	(void)events;
	if (read(c->timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		ms_debug("peer: timerfd read: %s", strerror(errno));
	expire(c);
	arm_timer(c);
	return 0;
}

int ms_peer_client_new(struct ms_loop *loop, struct ms_peer_client **out)
{
	struct ms_peer_client *c = calloc(1, sizeof(*c));
	int ret;

	if (!c)
		return -ENOMEM;
	c->loop = loop;
	c->timer_fd = -1;
	for (size_t i = 0; i < MS_PEER_MAX_DESTS; i++)
		c->dests[i].fd = -1;
	c->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (c->epoll_fd < 0) {
		ret = -errno;
		goto fail;
	}
	c->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (c->timer_fd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = ms_loop_add(loop, c->epoll_fd, EPOLLIN, on_sockets, c);
	if (ret)
		goto fail;
	c->epoll_added = true;
	ret = ms_loop_add(loop, c->timer_fd, EPOLLIN, on_timer, c);
	if (ret)
		goto fail;
	c->timer_added = true;
	*out = c;
	return 0;
fail:
	ms_peer_client_free(c);
	return ret;
}

void ms_peer_client_free(struct ms_peer_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < MS_PEER_MAX_DESTS; i++)
		if (c->dests[i].used)
			close_request(&c->dests[i]);
	if (c->epoll_added)
		ms_loop_del(c->loop, c->epoll_fd);
	if (c->timer_added)
		ms_loop_del(c->loop, c->timer_fd);
	if (c->epoll_fd >= 0)
		close(c->epoll_fd);
	if (c->timer_fd >= 0)
		close(c->timer_fd);
	free(c);
}

static bool same_addr(const struct ms_peer_addr *a, const struct ms_peer_addr *b)
{
	return a->port == b->port && memcmp(a->ip, b->ip, sizeof(a->ip)) == 0;
}

static const struct dest *find_dest(const struct ms_peer_client *c, const struct ms_peer_addr *a)
{
	for (size_t i = 0; i < MS_PEER_MAX_DESTS; i++)
		if (c->dests[i].used && same_addr(&c->dests[i].addr, a))
			return &c->dests[i];
	return NULL;
}

void ms_peer_client_on_change(struct ms_peer_client *c, ms_peer_change_fn fn, void *ctx)
{
	c->on_change = fn;
	c->change_ctx = ctx;
}

void ms_peer_begin(struct ms_peer_client *c)
{
	c->asking = true;
	for (size_t i = 0; i < MS_PEER_MAX_DESTS; i++)
		c->dests[i].wanted = false;
}

static int start_request(struct dest *d, __u32 timeout_ms)
{
	struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = d};
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_of(&d->addr, &ss);
	char host[INET6_ADDRSTRLEN + 8];

	d->resp = malloc(MS_PEER_MAX_RESPONSE + 1);
	if (!d->resp)
		return -ENOMEM;
	d->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (d->fd < 0)
		return -errno;
	addr_name(&d->addr, host, sizeof(host));
	d->req_len = (size_t)snprintf(d->req, sizeof(d->req),
				      "GET " MS_PEER_PATH " HTTP/1.0\r\nHost: %s\r\n"
				      "Accept: application/json\r\nConnection: close\r\n\r\n",
				      host);
	d->req_sent = 0;
	d->resp_len = 0;
	d->deadline_ms = ms_clock_ms() + timeout_ms;
	d->phase = PHASE_CONNECTING;
	if (connect(d->fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS)
		return -errno;
	if (epoll_ctl(d->client->epoll_fd, EPOLL_CTL_ADD, d->fd, &ev) < 0)
		return -errno;
	d->client->stats.requests_total++;
	return 0;
}

void ms_peer_ask(struct ms_peer_client *c, const struct ms_peer_addr *dst, __u32 timeout_ms)
{
	struct dest *d = (struct dest *)find_dest(c, dst);
	int ret;

	if (!d) {
		for (size_t i = 0; i < MS_PEER_MAX_DESTS && !d; i++)
			if (!c->dests[i].used)
				d = &c->dests[i];
		if (!d)
			return;
		memset(d, 0, sizeof(*d));
		d->used = true;
		d->fd = -1;
		d->client = c;
		d->addr = *dst;
		addr_name(dst, d->name, sizeof(d->name));
	}
	if (d->wanted)
		return;
	d->wanted = true;
	/* Still in flight from the previous cycle: its deadline ends it. */
	if (d->fd >= 0)
		return;
	ret = start_request(d, timeout_ms);
	if (ret == -ENOMEM || ret == -EMFILE || ret == -ENFILE) {
		/* Our own shortage says nothing about the destination. */
		ms_warn("peer %s: cannot ask: %s", d->name, strerror(-ret));
		close_request(d);
		return;
	}
	if (ret)
		conclude(d, OUT_GONE, strerror(-ret));
	arm_timer(c);
}

void ms_peer_end(struct ms_peer_client *c)
{
	for (size_t i = 0; i < MS_PEER_MAX_DESTS; i++) {
		struct dest *d = &c->dests[i];

		if (!d->used || d->wanted)
			continue;
		close_request(d);
		d->used = false;
	}
	arm_timer(c);
	c->asking = false;
}

void ms_peer_status(const struct ms_peer_client *c, const struct ms_peer_addr *dst,
		    struct ms_peer_status *out)
{
	const struct dest *d = find_dest(c, dst);

	memset(out, 0, sizeof(*out));
	if (d)
		*out = d->status;
}

void ms_peer_client_stats(const struct ms_peer_client *c, struct ms_peer_stats *out)
{
	*out = c->stats;
}
