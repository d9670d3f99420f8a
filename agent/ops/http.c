// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The agent's HTTP server: libmicrohttpd driven by the agent's epoll loop (its
 * epoll fd and a timerfd are loop sources), connection admission and
 * deadlines, TLS and basic auth from the web config.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>

#include "clock.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "webconfig.h"

#define MS_HTTP_REALM "migshaper"

static const char *const shed_reason_names[MS_HTTP_SHED_REASONS] = {
    [MS_HTTP_SHED_LIMIT] = "limit",
    [MS_HTTP_SHED_ADDRESS_LIMIT] = "address_limit",
    [MS_HTTP_SHED_HEADER_TIMEOUT] = "header_timeout",
};

const char *ms_http_shed_reason_name(enum ms_http_shed_reason r)
{
	return (unsigned int)r < MS_HTTP_SHED_REASONS ? shed_reason_names[r] : NULL;
}

/* One open connection, as the server tracks it for limits and deadlines. */
struct http_conn {
	bool used;
	bool in_request; /* headers arrived; the request is being answered */
	bool closing;	 /* shut down by us; MHD closes it on its next run */
	int fd;
	struct sockaddr_storage addr;
	unsigned int requests; /* answered on this connection */
	/* Since when the connection owes us a request's headers. */
	long long waiting_since_ms;
};

struct ms_http_server {
	struct ms_loop *loop;
	struct MHD_Daemon *mhd;
	int mhd_fd; /* MHD's epoll fd, owned by MHD */
	int timer_fd;
	bool mhd_fd_added, timer_fd_added;
	__u16 port;
	char name[32];
	struct ms_http_route routes[MS_HTTP_MAX_ROUTES];
	size_t n_routes;
	struct ms_web_config web;
	struct http_conn conns[MS_HTTP_MAX_CONNECTIONS];
	unsigned int n_conns;
	struct ms_http_stats stats;
	/* The rate-limited shed report. */
	__u64 shed_unreported;
	long long shed_reported_ms;
};

static void addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	const void *ip = sa->sa_family == AF_INET6
			     ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
			     : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;

	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		snprintf(buf, len, "?");
	else if (!inet_ntop(sa->sa_family, ip, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

/* Same client address (the port does not matter). */
static bool same_host(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	if (a->sa_family != b->ss_family)
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			      &((const struct sockaddr_in6 *)b)->sin6_addr,
			      sizeof(struct in6_addr)) == 0;
	return false;
}

static void note_shed(struct ms_http_server *srv, enum ms_http_shed_reason reason,
		      const struct sockaddr *from)
{
	long long now = ms_clock_ms();
	char addr[INET6_ADDRSTRLEN];

	srv->stats.shed_total[reason]++;
	srv->shed_unreported++;
	if (srv->shed_reported_ms &&
	    now - srv->shed_reported_ms < MS_HTTP_SHED_LOG_INTERVAL_S * 1000LL)
		return;
	addr_str(from, addr, sizeof(addr));
	ms_warn("%s: closed %llu connection(s) unserved since the last report (latest: %s from "
		"%s; limits: %d connections, %d per address, request headers within %d s)",
		srv->name, (unsigned long long)srv->shed_unreported, shed_reason_names[reason],
		addr, MS_HTTP_MAX_CONNECTIONS, MS_HTTP_MAX_PER_ADDRESS, MS_HTTP_HEADER_TIMEOUT_S);
	srv->shed_unreported = 0;
	srv->shed_reported_ms = now;
}

/*
 * Admission, before MHD sets a connection up. MHD's own limit is set above
 * ours and never reached: at its limit MHD stops watching the listen socket
 * and, driven from outside, only watches it again on a later MHD_run().
 */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct ms_http_server *srv = cls;
	unsigned int same = 0;

	(void)addrlen;
	if (srv->n_conns >= MS_HTTP_MAX_CONNECTIONS) {
		note_shed(srv, MS_HTTP_SHED_LIMIT, addr);
		return MHD_NO;
	}
	for (size_t i = 0; i < MS_HTTP_MAX_CONNECTIONS; i++)
		if (srv->conns[i].used && same_host(addr, &srv->conns[i].addr))
			same++;
	if (same >= MS_HTTP_MAX_PER_ADDRESS) {
		note_shed(srv, MS_HTTP_SHED_ADDRESS_LIMIT, addr);
		return MHD_NO;
	}
	return MHD_YES;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct ms_http_server *srv = cls;
	struct http_conn *c = *socket_context;
	const union MHD_ConnectionInfo *info;

	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (c) {
			c->used = false;
			srv->n_conns--;
		}
		return;
	}
	/* on_accept admitted it, so there is a free slot. */
	for (size_t i = 0; i < MS_HTTP_MAX_CONNECTIONS && !c; i++)
		if (!srv->conns[i].used)
			c = &srv->conns[i];
	if (!c)
		return;
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (info)
		c->fd = info->connect_fd;
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (info && info->client_addr) {
		size_t len = info->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
								      : sizeof(struct sockaddr_in);

		memcpy(&c->addr, info->client_addr, len);
	}
	c->used = true;
	c->waiting_since_ms = ms_clock_ms();
	srv->n_conns++;
	*socket_context = c;
}

static struct http_conn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return info ? info->socket_context : NULL;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_conn *c = conn_of(conn);

	(void)cls;
	(void)req_cls;
	(void)toe;
	if (!c)
		return;
	c->in_request = false;
	c->requests++;
	c->waiting_since_ms = ms_clock_ms();
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct ms_http_server *srv = cls;

	/* Mostly a client that went away: not worth a warning. */
	ms_log_library(MS_LOG_INFO, srv->name, fmt, ap);
}

static enum MHD_Result reply_static(struct MHD_Connection *conn, unsigned int status,
				    const char *body, bool allow)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* true when the request may go on; otherwise a 401 is queued. */
static bool authorized(struct ms_http_server *srv, struct MHD_Connection *conn,
		       enum MHD_Result *ret)
{
	static const char body[] = "unauthorized\n";
	const union MHD_ConnectionInfo *info;
	struct MHD_Response *resp;
	enum ms_web_auth res;
	char *user, *pass = NULL;
	char addr[INET6_ADDRSTRLEN] = "?";

	if (!srv->web.n_users)
		return true;
	user = MHD_basic_auth_get_username_password(conn, &pass);
	res = ms_web_config_check(&srv->web, user, pass, ms_clock_ms());
	if (pass) {
		explicit_bzero(pass, strlen(pass));
		MHD_free(pass);
	}
	if (res == MS_WEB_AUTH_OK) {
		MHD_free(user);
		return true;
	}
	srv->stats.auth_failures_total++;
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (info && info->client_addr)
		addr_str(info->client_addr, addr, sizeof(addr));
	ms_warn("%s: refused %s from %s%s", srv->name,
		user ? "the credentials of a user" : "a request without credentials", addr,
		res == MS_WEB_AUTH_THROTTLED ? " (too many failed checks: not verified)" : "");
	MHD_free(user);
	*ret = MHD_NO;
	resp =
	    MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return false;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	*ret = MHD_queue_basic_auth_fail_response(conn, MS_HTTP_REALM, resp);
	MHD_destroy_response(resp);
	return false;
}

static const struct ms_http_route *find_route(const struct ms_http_server *srv, const char *url)
{
	for (size_t i = 0; i < srv->n_routes; i++)
		if (strcmp(url, srv->routes[i].path) == 0)
			return &srv->routes[i];
	return NULL;
}

static enum MHD_Result reply_route(struct ms_http_server *srv, const struct ms_http_route *r,
				   struct MHD_Connection *conn)
{
	struct ms_http_reply reply = {.status = MHD_HTTP_OK};
	struct MHD_Response *resp;
	enum MHD_Result ret;
	int err;

	err = r->fn(r->ctx, &reply);
	if (err) {
		free(reply.body);
		ms_warn("%s: cannot answer %s: %s", srv->name, r->path, strerror(-err));
		return reply_static(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot answer\n", false);
	}
	resp = MHD_create_response_from_buffer(reply.len, reply.body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(reply.body);
		return MHD_NO;
	}
	if (reply.content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, reply.content_type);
	ret = MHD_queue_response(conn, reply.status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	/* Any non-NULL pointer: marks a request whose headers were seen. */
	static const char headers_seen;
	struct ms_http_server *srv = cls;
	const struct ms_http_route *route = find_route(srv, url);
	enum MHD_Result ret;

	(void)version;
	(void)upload_data;
	if (!*req_cls) {
		struct http_conn *c = conn_of(conn);

		if (c)
			c->in_request = true;
		/* Credentials first: an outsider learns nothing, not even 404s. */
		if (!authorized(srv, conn, &ret))
			return ret;
	}
	/*
	 * Refusals go out on the first call, with the headers only: MHD then
	 * closes the connection instead of reading a body nobody needs.
	 */
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		if (!route)
			return reply_static(conn, MHD_HTTP_NOT_FOUND, "not found\n", false);
		return reply_static(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
				    true);
	}
	/*
	 * A reply to a GET is queued only once the request is complete (the
	 * call with no upload data): one queued earlier makes MHD close the
	 * connection, and Prometheus keeps its scrape connection alive.
	 */
	if (!*req_cls) {
		*req_cls = (void *)&headers_seen;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0; /* a GET with a body: ignore the body */
		return MHD_YES;
	}
	if (!route)
		return reply_static(conn, MHD_HTTP_NOT_FOUND, "not found\n", false);
	return reply_route(srv, route, conn);
}

/*
 * Connections that owe request headers past their deadline are shut down
 * (MHD sees the end of the stream and closes them on its next run): an idle
 * timeout alone would let a client that trickles a byte at a time keep a
 * slot for ever. Returns the next deadline, or -1 if none.
 */
static long long enforce_deadlines(struct ms_http_server *srv, long long now)
{
	long long next = -1;

	for (size_t i = 0; i < MS_HTTP_MAX_CONNECTIONS; i++) {
		struct http_conn *c = &srv->conns[i];
		long long deadline = c->waiting_since_ms + MS_HTTP_HEADER_TIMEOUT_S * 1000LL;

		if (!c->used || c->in_request || c->closing || c->fd < 0)
			continue;
		if (now < deadline) {
			if (next < 0 || deadline < next)
				next = deadline;
			continue;
		}
		/* A kept-alive connection between requests is merely idle. */
		if (!c->requests)
			note_shed(srv, MS_HTTP_SHED_HEADER_TIMEOUT, (struct sockaddr *)&c->addr);
		shutdown(c->fd, SHUT_RDWR);
		c->closing = true;
	}
	return next;
}

/*
 * The timer fires at the earlier of MHD's own timeout (connection timeouts,
 * and with epoll work it could not finish in one MHD_run(): its epoll fd is
 * then not readable again) and the next header deadline.
 */
static int arm_timer(struct ms_http_server *srv, long long now, long long next_deadline)
{
	struct itimerspec its = {};
	MHD_UNSIGNED_LONG_LONG mhd_ms;
	long long wait_ms = -1;

	if (MHD_get_timeout(srv->mhd, &mhd_ms) == MHD_YES)
		wait_ms = (long long)mhd_ms;
	if (next_deadline >= 0 && (wait_ms < 0 || next_deadline - now < wait_ms))
		wait_ms = next_deadline > now ? next_deadline - now : 0;
	if (wait_ms >= 0) {
		its.it_value.tv_sec = (time_t)(wait_ms / 1000);
		its.it_value.tv_nsec = (long)(wait_ms % 1000) * 1000000L;
		/* A zero it_value disarms; "now" is the smallest non-zero one. */
		if (!wait_ms)
			its.it_value.tv_nsec = 1;
	}
	if (timerfd_settime(srv->timer_fd, 0, &its, NULL) < 0)
		return -errno;
	return 0;
}

static int run_mhd(struct ms_http_server *srv)
{
	unsigned int before = srv->n_conns;
	long long now, next;
	int err;

	/* Errors are per connection (a client went away); MHD logs them. */
	MHD_run(srv->mhd);
	/*
	 * MHD takes the listen socket out of its epoll set while it is at its
	 * connection limit (or accept() failed for lack of fds), and puts it
	 * back only at the start of a later MHD_run(). A run that closed
	 * connections may have freed the slot it waits for, and nothing else
	 * would call it again: run it once more now, or queued clients wait
	 * for ever (the server "never recovered" after 17 idle connections).
	 */
	if (srv->n_conns < before)
		MHD_run(srv->mhd);
	now = ms_clock_ms();
	next = enforce_deadlines(srv, now);
	err = arm_timer(srv, now, next);
	if (err)
		ms_warn("%s: cannot arm the timeout timer: %s", srv->name, strerror(-err));
	/* A client's problem must never stop the shaping loop. */
	return 0;
}

static int on_mhd_fd(void *ctx, uint32_t events)
{
	(void)events;
	return run_mhd(ctx);
}

static int on_timer(void *ctx, uint32_t events)
{
	struct ms_http_server *srv = ctx;
	uint64_t expirations;

	(void)events;
	if (read(srv->timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		ms_debug("%s: timerfd read: %s", srv->name, strerror(errno));
	return run_mhd(srv);
}

static int parse_listen(const char *addr, __u16 port, struct sockaddr_storage *ss, bool *v6)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*v6 = false;
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*v6 = true;
		return 0;
	}
	return -EINVAL;
}

static int load_web_config(struct ms_http_server *srv, const char *path)
{
	char err[512] = "";
	int ret;

	ret = ms_web_config_load(path, &srv->web, err, sizeof(err));
	if (ret) {
		ms_err("%s: web config %s: %s", srv->name, path, err[0] ? err : strerror(-ret));
		return ret == -ENOMEM ? ret : -EINVAL;
	}
	if (srv->web.cert_pem && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		ms_err("%s: web config %s asks for TLS, but libmicrohttpd was built without it",
		       srv->name, path);
		return -EINVAL;
	}
	if (srv->web.n_users && MHD_is_feature_supported(MHD_FEATURE_BASIC_AUTH) != MHD_YES) {
		ms_err("%s: web config %s asks for basic auth, but libmicrohttpd was built "
		       "without it",
		       srv->name, path);
		return -EINVAL;
	}
	return 0;
}

int ms_http_server_start(struct ms_loop *loop, const struct ms_http_config *cfg,
			 const struct ms_http_route *routes, size_t n_routes,
			 struct ms_http_server **out)
{
	struct ms_http_server *srv = NULL;
	const union MHD_DaemonInfo *info;
	struct sockaddr_storage ss;
	unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	struct MHD_OptionItem opts[16];
	const char *listen_addr;
	size_t n = 0;
	bool v6;
	int err;

	if (!loop || !cfg || !out || (n_routes && !routes) || n_routes > MS_HTTP_MAX_ROUTES)
		return -EINVAL;
	listen_addr = cfg->listen_addr ? cfg->listen_addr : "127.0.0.1";
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->loop = loop;
	srv->mhd_fd = -1;
	srv->timer_fd = -1;
	snprintf(srv->name, sizeof(srv->name), "%s", cfg->name ? cfg->name : "http");
	memcpy(srv->routes, routes, n_routes * sizeof(*routes));
	srv->n_routes = n_routes;

	err = parse_listen(listen_addr, cfg->port, &ss, &v6);
	if (err) {
		ms_err("%s: listen address '%s' is not an IPv4 or IPv6 address", srv->name,
		       listen_addr);
		goto cleanup;
	}
	if (v6)
		flags |= MHD_USE_IPv6;
	/* "::" means every address, as it does for most daemons: IPv4 too. */
	if (v6 && IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr))
		flags |= MHD_USE_DUAL_STACK;
	if (cfg->web_config && cfg->web_config[0]) {
		err = load_web_config(srv, cfg->web_config);
		if (err)
			goto cleanup;
	}
	srv->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (srv->timer_fd < 0) {
		err = -errno;
		ms_err("%s: timerfd_create: %s", srv->name, strerror(-err));
		goto cleanup;
	}

	/* The logger goes first so that start-up errors reach our log too. */
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, srv};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
	/* Above ours: see on_accept(). */
	opts[n++] =
	    (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, MS_HTTP_MAX_CONNECTIONS + 1, NULL};
	opts[n++] =
	    (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, MS_HTTP_IDLE_TIMEOUT_S, NULL};
	opts[n++] =
	    (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, srv};
	opts[n++] =
	    (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, srv};
	if (srv->web.cert_pem) {
		flags |= MHD_USE_TLS;
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, srv->web.key_pem};
		opts[n++] =
		    (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, srv->web.cert_pem};
	}
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

	errno = 0;
	/*
	 * No MHD_OPTION_LISTENING_ADDRESS_REUSE: that is SO_REUSEPORT, which
	 * would let a second agent share the port silently (MHD sets
	 * SO_REUSEADDR, enough for a quick restart).
	 */
	srv->mhd = MHD_start_daemon(flags, cfg->port, on_accept, srv, on_request, srv,
				    MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (!srv->mhd) {
		err = errno ? -errno : -EIO;
		ms_err("%s: cannot listen on %s port %u%s: %s", srv->name, listen_addr, cfg->port,
		       srv->web.cert_pem ? " with TLS (is the key the certificate's?)" : "",
		       strerror(-err));
		goto cleanup;
	}
	info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info) {
		err = -EIO;
		goto cleanup;
	}
	srv->mhd_fd = info->epoll_fd;
	info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : cfg->port;

	err = ms_loop_add(loop, srv->mhd_fd, EPOLLIN, on_mhd_fd, srv);
	if (err)
		goto cleanup;
	srv->mhd_fd_added = true;
	err = ms_loop_add(loop, srv->timer_fd, EPOLLIN, on_timer, srv);
	if (err)
		goto cleanup;
	srv->timer_fd_added = true;
	err = arm_timer(srv, ms_clock_ms(), -1);
	if (err)
		goto cleanup;

	ms_info("%s: serving %s://%s%s%s:%u%s", srv->name, srv->web.cert_pem ? "https" : "http",
		v6 ? "[" : "", listen_addr, v6 ? "]" : "", srv->port,
		srv->web.n_users ? " (basic auth)" : "");
	*out = srv;
	return 0;
cleanup:
	if (srv->mhd)
		ms_err("%s: cannot start the server: %s", srv->name, strerror(-err));
	ms_http_server_stop(srv);
	return err;
}

__u16 ms_http_server_port(const struct ms_http_server *srv)
{
	return srv->port;
}

void ms_http_server_stats(const struct ms_http_server *srv, struct ms_http_stats *stats)
{
	*stats = srv->stats;
	stats->connections = srv->n_conns;
}

void ms_http_server_stop(struct ms_http_server *srv)
{
	if (!srv)
		return;
	if (srv->mhd_fd_added)
		ms_loop_del(srv->loop, srv->mhd_fd);
	if (srv->timer_fd_added)
		ms_loop_del(srv->loop, srv->timer_fd);
	if (srv->mhd)
		MHD_stop_daemon(srv->mhd);
	if (srv->timer_fd >= 0)
		close(srv->timer_fd);
	ms_web_config_free(&srv->web);
	free(srv);
}
