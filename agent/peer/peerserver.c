// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* GET /v1/peer on the peer_listen addresses, with a token bucket on answers. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "http.h"
#include "log.h"
#include "peerserver.h"

struct ms_peer_server {
	ms_peer_snapshot_fn fn;
	void *ctx;
	struct ms_http_server *http[MS_PEER_LISTEN_MAX];
	size_t n_http;
	/* The token bucket, in answers scaled by 1000 to refill per millisecond. */
	long long tokens_milli;
	long long refilled_ms;
	__u64 answered, limited;
};

static bool take_token(struct ms_peer_server *srv)
{
	long long now = ms_clock_ms(), cap = MS_PEER_ANSWERS_BURST * 1000LL;

	srv->tokens_milli += (now - srv->refilled_ms) * MS_PEER_ANSWERS_PER_S;
	srv->refilled_ms = now;
	if (srv->tokens_milli > cap)
		srv->tokens_milli = cap;
	if (srv->tokens_milli < 1000)
		return false;
	srv->tokens_milli -= 1000;
	return true;
}

static int answer(void *ctx, struct ms_http_reply *reply)
{
	static const char too_many[] = "too many requests\n";
	struct ms_peer_server *srv = ctx;
	struct ms_peer_answer a;
	char text[256];
	int len, ret;

	if (!take_token(srv)) {
		srv->limited++;
		reply->status = 429;
		reply->content_type = "text/plain; charset=utf-8";
		reply->body = strdup(too_many);
		if (!reply->body)
			return -ENOMEM;
		reply->len = sizeof(too_many) - 1;
		return 0;
	}
	memset(&a, 0, sizeof(a));
	ret = srv->fn(srv->ctx, &a);
	if (ret)
		return ret;
	a.version = MS_PEER_VERSION;
	len = ms_peer_render(&a, text, sizeof(text));
	if (len < 0)
		return len;
	reply->body = strdup(text);
	if (!reply->body)
		return -ENOMEM;
	reply->len = (size_t)len;
	reply->content_type = "application/json";
	srv->answered++;
	return 0;
}

int ms_peer_server_start(struct ms_loop *loop, const char (*addrs)[64], size_t n, __u16 port,
			 ms_peer_snapshot_fn fn, void *ctx, struct ms_peer_server **out)
{
	struct ms_peer_server *srv;
	int ret = 0;

	if (!n || n > MS_PEER_LISTEN_MAX || !fn)
		return -EINVAL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->fn = fn;
	srv->ctx = ctx;
	srv->tokens_milli = MS_PEER_ANSWERS_BURST * 1000LL;
	srv->refilled_ms = ms_clock_ms();
	for (size_t i = 0; i < n; i++) {
		const struct ms_http_route route = {.path = MS_PEER_PATH, .fn = answer, .ctx = srv};
		const struct ms_http_config cfg = {
		    .name = "peer", .listen_addr = addrs[i], .port = port};

		ret = ms_http_server_start(loop, &cfg, &route, 1, &srv->http[i]);
		if (ret)
			goto fail;
		srv->n_http++;
	}
	*out = srv;
	return 0;
fail:
	ms_peer_server_stop(srv);
	return ret;
}

void ms_peer_server_counts(const struct ms_peer_server *srv, __u64 *answered, __u64 *limited)
{
	*answered = srv ? srv->answered : 0;
	*limited = srv ? srv->limited : 0;
}

void ms_peer_server_stop(struct ms_peer_server *srv)
{
	if (!srv)
		return;
	for (size_t i = 0; i < srv->n_http; i++)
		ms_http_server_stop(srv->http[i]);
	free(srv);
}
