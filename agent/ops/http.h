/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The agent's HTTP server: /metrics today, the peer endpoint next. It owns
 * the libmicrohttpd daemon (driven by the agent's ms_loop, no threads), who
 * may connect and for how long, and the optional TLS and basic auth of a
 * web config file (webconfig.h). What a path answers is the routes' business.
 *
 * Abuse it survives, by design:
 *   - at most MS_HTTP_MAX_CONNECTIONS connections, MS_HTTP_MAX_PER_ADDRESS
 *     of them from one client address; a connection over either limit is
 *     accepted and closed at once ("shed"), so the accept queue never backs
 *     up behind idle clients;
 *   - a connection must deliver a request's headers within
 *     MS_HTTP_HEADER_TIMEOUT_S of its accept (or of its previous response),
 *     whatever it trickles meanwhile (slowloris), and one that makes no
 *     progress for MS_HTTP_IDLE_TIMEOUT_S is closed;
 *   - the listen socket is watched again as soon as a slot frees.
 * Sheds are counted (ms_http_server_stats) and logged at most once per
 * MS_HTTP_SHED_LOG_INTERVAL_S with the count since the last such line.
 */
#ifndef MS_HTTP_H
#define MS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

struct ms_loop;

/* Prometheus keeps one connection per target; HA pairs and curl add a few. */
#define MS_HTTP_MAX_CONNECTIONS	    64
#define MS_HTTP_MAX_PER_ADDRESS	    8
#define MS_HTTP_HEADER_TIMEOUT_S    5
#define MS_HTTP_IDLE_TIMEOUT_S	    5
#define MS_HTTP_SHED_LOG_INTERVAL_S 10
#define MS_HTTP_MAX_ROUTES	    4

/* Why a connection was closed by the server before it was served. */
enum ms_http_shed_reason {
	MS_HTTP_SHED_LIMIT = 0,	     /* MS_HTTP_MAX_CONNECTIONS reached */
	MS_HTTP_SHED_ADDRESS_LIMIT,  /* MS_HTTP_MAX_PER_ADDRESS reached */
	MS_HTTP_SHED_HEADER_TIMEOUT, /* no complete request headers in time */
	MS_HTTP_SHED_REASONS,
};

/* "limit", "address_limit", "header_timeout"; NULL if out of range. */
const char *ms_http_shed_reason_name(enum ms_http_shed_reason r);

struct ms_http_stats {
	unsigned int connections; /* open now */
	__u64 shed_total[MS_HTTP_SHED_REASONS];
	__u64 auth_failures_total; /* requests answered 401 */
};

/* What a route answers: status, content type (static) and a body it malloc'd. */
struct ms_http_reply {
	unsigned int status;
	const char *content_type;
	char *body; /* taken by the server */
	size_t len;
};

/*
 * Answers a GET or HEAD of the route's path: fills *reply and returns 0, or
 * returns -errno (answered 500). Runs in the loop; must not block.
 */
typedef int (*ms_http_handler)(void *ctx, struct ms_http_reply *reply);

struct ms_http_route {
	const char *path; /* static, exact match */
	ms_http_handler fn;
	void *ctx;
};

struct ms_http_config {
	const char *name;	 /* for log lines, e.g. "metrics" */
	const char *listen_addr; /* IPv4 or IPv6 literal; "::" takes IPv4 too */
	__u16 port;		 /* 0: an ephemeral port */
	const char *web_config;	 /* exporter-toolkit style web config; NULL: plain HTTP */
};

struct ms_http_server;

/*
 * Listens and serves the routes (copied; at most MS_HTTP_MAX_ROUTES) from
 * loop: 404 for other paths, 405 for methods other than GET and HEAD, 401
 * without valid credentials when the web config names users. -EINVAL for a
 * bad address or web config, -errno of the bind otherwise; logs the reason.
 */
int ms_http_server_start(struct ms_loop *loop, const struct ms_http_config *cfg,
			 const struct ms_http_route *routes, size_t n_routes,
			 struct ms_http_server **out);
__u16 ms_http_server_port(const struct ms_http_server *srv);
void ms_http_server_stats(const struct ms_http_server *srv, struct ms_http_stats *stats);
/* Removes the server's fds from the loop, closes connections; NULL-safe. */
void ms_http_server_stop(struct ms_http_server *srv);

#endif /* MS_HTTP_H */
