// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libvirt connection management. Owns the virConnectPtr, its event
 * registrations and the reconnect timer. Connecting to a dead daemon's socket
 * fails at once, and keepalive (5 s x 3) notices a daemon that stops
 * answering once connected. The calls are synchronous, though: a daemon that
 * accepts but never answers (hung at start, workers exhausted), or a job lock
 * held by another client, stalls the agent's loop until libvirt gives up.
 * Per-call timeouts, or a connect thread, are still to come (reliability).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <libvirt/virterror.h>

#include "log.h"
#include "loop.h"
#include "virt.h"

#define MS_VIRT_BACKOFF_MIN_MS 1000
#define MS_VIRT_BACKOFF_MAX_MS 30000
#define MS_VIRT_KEEPALIVE_INTERVAL_S 5
#define MS_VIRT_KEEPALIVE_COUNT 3

enum { EV_LIFECYCLE, EV_ITERATION, EV_JOB_COMPLETED, EV_COUNT };

struct ms_virt {
	struct ms_loop *loop;
	char *uri;
	const struct ms_virt_ops *ops;
	void *ctx;
	virConnectPtr conn;
	int callback_ids[EV_COUNT];
	int timer_fd;
	int backoff_ms;
	bool close_pending;
	__u64 reconnects;
	__u64 connects;
};

static const char *last_error(void)
{
	const char *msg = virGetLastErrorMessage();

	return msg ? msg : "unknown libvirt error";
}

/* libvirt would print every error on stderr; the agent logs them itself, with context. */
static void quiet_error_handler(void *data, virErrorPtr err)
{
	(void)data;
	(void)err;
}

static void arm_timer(struct ms_virt *v, int delay_ms)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = delay_ms / 1000,
			      .tv_nsec = (long)(delay_ms % 1000) * 1000000L + 1 },
	};

	timerfd_settime(v->timer_fd, 0, &its, NULL);
}

static void domain_ids(virDomainPtr dom, const char **name, unsigned char *uuid)
{
	*name = virDomainGetName(dom);
	if (!*name)
		*name = "?";
	if (virDomainGetUUID(dom, uuid) < 0)
		memset(uuid, 0, VIR_UUID_BUFLEN);
}

static void emit(struct ms_virt *v, enum ms_virt_event_kind kind, virDomainPtr dom, int detail,
		 int sub, const struct ms_job_stats *stats)
{
	unsigned char uuid[VIR_UUID_BUFLEN];
	struct ms_virt_event ev = {
		.kind = kind, .uuid = uuid, .detail = detail, .sub = sub, .stats = stats
	};

	domain_ids(dom, &ev.name, uuid);
	v->ops->event(v->ctx, &ev);
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	(void)conn;
	emit(opaque, MS_VIRT_EV_LIFECYCLE, dom, event, detail, NULL);
	return 0;
}

static int on_iteration(virConnectPtr conn, virDomainPtr dom, int iteration, void *opaque)
{
	(void)conn;
	emit(opaque, MS_VIRT_EV_ITERATION, dom, iteration, 0, NULL);
	return 0;
}

static int on_job_completed(virConnectPtr conn, virDomainPtr dom, virTypedParameterPtr params,
			    int nparams, void *opaque)
{
	struct ms_job_stats stats;

	(void)conn;
	ms_job_stats_parse(VIR_DOMAIN_JOB_COMPLETED, params, nparams, &stats, NULL);
	emit(opaque, MS_VIRT_EV_JOB_COMPLETED, dom, 0, 0, &stats);
	return 0;
}

/*
 * libvirt calls this from inside its own event handling, where closing the
 * connection is not allowed: the timer does the tear-down on a clean stack.
 */
static void on_close(virConnectPtr conn, int reason, void *opaque)
{
	struct ms_virt *v = opaque;

	(void)conn;
	ms_warn("libvirt: connection to %s closed (reason %d)", v->uri, reason);
	v->close_pending = true;
	arm_timer(v, 0);
}

static void drop_connection(struct ms_virt *v)
{
	if (!v->conn)
		return;
	for (int i = 0; i < EV_COUNT; i++) {
		if (v->callback_ids[i] >= 0)
			virConnectDomainEventDeregisterAny(v->conn, v->callback_ids[i]);
		v->callback_ids[i] = -1;
	}
	virConnectUnregisterCloseCallback(v->conn, on_close);
	virConnectClose(v->conn);
	v->conn = NULL;
	virResetLastError();
}

static int register_events(struct ms_virt *v)
{
	static const int ids[EV_COUNT] = {
		[EV_LIFECYCLE] = VIR_DOMAIN_EVENT_ID_LIFECYCLE,
		[EV_ITERATION] = VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION,
		[EV_JOB_COMPLETED] = VIR_DOMAIN_EVENT_ID_JOB_COMPLETED,
	};
	const virConnectDomainEventGenericCallback cbs[EV_COUNT] = {
		[EV_LIFECYCLE] = VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle),
		[EV_ITERATION] = VIR_DOMAIN_EVENT_CALLBACK(on_iteration),
		[EV_JOB_COMPLETED] = VIR_DOMAIN_EVENT_CALLBACK(on_job_completed),
	};

	for (int i = 0; i < EV_COUNT; i++) {
		v->callback_ids[i] =
			virConnectDomainEventRegisterAny(v->conn, NULL, ids[i], cbs[i], v, NULL);
		if (v->callback_ids[i] < 0) {
			ms_err("libvirt: virConnectDomainEventRegisterAny(%d): %s", ids[i],
			       last_error());
			return -EIO;
		}
	}
	return 0;
}

static void try_connect(struct ms_virt *v)
{
	v->conn = virConnectOpen(v->uri);
	if (!v->conn) {
		ms_warn("libvirt: cannot connect to %s: %s; shaping with static rules, retrying in "
			"%d s",
			v->uri, last_error(), v->backoff_ms / 1000);
		arm_timer(v, v->backoff_ms);
		v->backoff_ms = v->backoff_ms * 2 > MS_VIRT_BACKOFF_MAX_MS ? MS_VIRT_BACKOFF_MAX_MS
									  : v->backoff_ms * 2;
		return;
	}
	if (virConnectRegisterCloseCallback(v->conn, on_close, v, NULL) < 0 ||
	    virConnectSetKeepAlive(v->conn, MS_VIRT_KEEPALIVE_INTERVAL_S,
				   MS_VIRT_KEEPALIVE_COUNT) < 0 ||
	    register_events(v)) {
		ms_err("libvirt: setting up %s: %s; retrying", v->uri, last_error());
		drop_connection(v);
		arm_timer(v, v->backoff_ms);
		return;
	}
	v->backoff_ms = MS_VIRT_BACKOFF_MIN_MS;
	if (v->connects++)
		v->reconnects++;
	ms_info("libvirt: connected to %s", v->uri);
	v->ops->connected(v->ctx);
}

static int on_timer(void *ctx, uint32_t events)
{
	struct ms_virt *v = ctx;
	__u64 expirations;

	(void)events;
	if (read(v->timer_fd, &expirations, sizeof(expirations)) < 0)
		return 0;
	if (v->close_pending) {
		v->close_pending = false;
		drop_connection(v);
		v->ops->disconnected(v->ctx);
		v->backoff_ms = MS_VIRT_BACKOFF_MIN_MS;
	}
	if (!v->conn)
		try_connect(v);
	return 0;
}

int ms_virt_open(struct ms_loop *loop, const char *uri, const struct ms_virt_ops *ops, void *ctx,
		 struct ms_virt **out)
{
	struct ms_virt *v = calloc(1, sizeof(*v));
	int ret;

	if (!v)
		return -ENOMEM;
	v->loop = loop;
	v->ops = ops;
	v->ctx = ctx;
	v->backoff_ms = MS_VIRT_BACKOFF_MIN_MS;
	for (int i = 0; i < EV_COUNT; i++)
		v->callback_ids[i] = -1;
	v->uri = strdup(uri ? uri : "qemu:///system");
	v->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (!v->uri || v->timer_fd < 0) {
		ret = v->uri ? -errno : -ENOMEM;
		goto err;
	}
	ret = ms_loop_add(loop, v->timer_fd, EPOLLIN, on_timer, v);
	if (ret)
		goto err;
	virSetErrorFunc(NULL, quiet_error_handler);
	/* The first attempt runs from the loop, like every retry. */
	arm_timer(v, 0);
	*out = v;
	return 0;
err:
	if (v->timer_fd >= 0)
		close(v->timer_fd);
	free(v->uri);
	free(v);
	return ret;
}

void ms_virt_close(struct ms_virt *v)
{
	if (!v)
		return;
	drop_connection(v);
	ms_loop_del(v->loop, v->timer_fd);
	close(v->timer_fd);
	free(v->uri);
	free(v);
}

bool ms_virt_connected(const struct ms_virt *v)
{
	return v && v->conn && !v->close_pending;
}

__u64 ms_virt_reconnects(const struct ms_virt *v)
{
	return v->reconnects;
}

/* After a failed call: if the connection itself died, start over. */
static void check_alive(struct ms_virt *v)
{
	if (v->conn && !v->close_pending && virConnectIsAlive(v->conn) != 1) {
		ms_warn("libvirt: connection to %s is dead", v->uri);
		v->close_pending = true;
		arm_timer(v, 0);
	}
}

static virDomainPtr lookup(struct ms_virt *v, const unsigned char *uuid)
{
	if (!ms_virt_connected(v))
		return NULL;
	return virDomainLookupByUUID(v->conn, uuid);
}

static int job_direction(const struct ms_job_stats *st, enum ms_mig_dir *dir)
{
	if (!ms_job_has(st, MS_JOB_OPERATION))
		return -ENOENT;
	if (st->operation == VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT)
		*dir = MS_MIG_OUTGOING;
	else if (st->operation == VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN)
		*dir = MS_MIG_INCOMING;
	else
		return -ENOENT;
	return 0;
}

int ms_virt_scan(struct ms_virt *v, ms_virt_job_cb cb, void *ctx)
{
	virDomainPtr *doms = NULL;
	bool incomplete = false;
	int n, found = 0;

	if (!ms_virt_connected(v))
		return -ENOTCONN;
	n = virConnectListAllDomains(v->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
	if (n < 0) {
		ms_warn("libvirt: virConnectListAllDomains: %s", last_error());
		check_alive(v);
		return -EIO;
	}
	for (int i = 0; i < n; i++) {
		virTypedParameterPtr params = NULL;
		unsigned char uuid[VIR_UUID_BUFLEN];
		struct ms_job_stats stats;
		struct ms_virt_job job;
		int type, nparams = 0;

		domain_ids(doms[i], &job.name, uuid);
		if (virDomainGetJobStats(doms[i], &type, &params, &nparams, 0) < 0) {
			virErrorPtr err = virGetLastError();
			int code = err ? err->code : VIR_ERR_INTERNAL_ERROR;

			/*
			 * A domain gone since the listing has no job. Any other
			 * failure (a busy job lock, a timeout) says nothing about
			 * its job: the scan is then incomplete, and its caller
			 * must not take a missing job for an ended one.
			 */
			if (code != VIR_ERR_NO_DOMAIN && code != VIR_ERR_OPERATION_INVALID) {
				ms_warn("libvirt: virDomainGetJobStats(%s): %s", job.name,
					last_error());
				incomplete = true;
			}
			virResetLastError();
			goto next;
		}
		ms_job_stats_parse(type, params, nparams, &stats, NULL);
		if (type != VIR_DOMAIN_JOB_NONE && job_direction(&stats, &job.dir) == 0) {
			job.uuid = uuid;
			job.stats = &stats;
			cb(ctx, &job);
			found++;
		}
next:
		virTypedParamsFree(params, nparams);
		virDomainFree(doms[i]);
	}
	free(doms);
	return incomplete ? -EAGAIN : found;
}

int ms_virt_job_stats(struct ms_virt *v, const unsigned char *uuid, bool completed,
		      struct ms_job_stats *out)
{
	virTypedParameterPtr params = NULL;
	virDomainPtr dom = lookup(v, uuid);
	int type, nparams = 0, ret = 0;

	if (!dom) {
		virResetLastError();
		return ms_virt_connected(v) ? -ENOENT : -ENOTCONN;
	}
	/* KEEP_COMPLETED: reading must not erase what the manager reads too. */
	if (virDomainGetJobStats(dom, &type, &params, &nparams,
				 completed ? VIR_DOMAIN_JOB_STATS_COMPLETED |
						     VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED
					   : 0) < 0) {
		ms_warn("libvirt: virDomainGetJobStats(%s%s): %s", virDomainGetName(dom),
			completed ? ", completed" : "", last_error());
		check_alive(v);
		ret = -EIO;
		goto out;
	}
	ms_job_stats_parse(type, params, nparams, out, NULL);
out:
	virTypedParamsFree(params, nparams);
	virDomainFree(dom);
	return ret;
}

int ms_virt_domain_running(struct ms_virt *v, const unsigned char *uuid)
{
	virDomainPtr dom = lookup(v, uuid);
	int active;

	if (!dom) {
		virResetLastError();
		return ms_virt_connected(v) ? -ENOENT : -ENOTCONN;
	}
	active = virDomainIsActive(dom);
	virDomainFree(dom);
	if (active < 0) {
		check_alive(v);
		return -EIO;
	}
	return active ? 0 : -ENOENT;
}

int ms_virt_set_speed(struct ms_virt *v, const unsigned char *uuid, __u32 mibs)
{
	virDomainPtr dom = lookup(v, uuid);
	int ret = 0;

	if (!dom) {
		virResetLastError();
		return ms_virt_connected(v) ? -ENOENT : -ENOTCONN;
	}
	if (virDomainMigrateSetMaxSpeed(dom, mibs, 0) < 0) {
		ms_warn("libvirt: virDomainMigrateSetMaxSpeed(%s, %u MiB/s): %s",
			virDomainGetName(dom), mibs, last_error());
		check_alive(v);
		ret = -EIO;
	}
	virDomainFree(dom);
	return ret;
}

int ms_virt_get_speed(struct ms_virt *v, const unsigned char *uuid, __u32 *mibs)
{
	virDomainPtr dom = lookup(v, uuid);
	unsigned long bw;
	int ret = 0;

	if (!dom) {
		virResetLastError();
		return ms_virt_connected(v) ? -ENOENT : -ENOTCONN;
	}
	if (virDomainMigrateGetMaxSpeed(dom, &bw, 0) < 0) {
		ms_warn("libvirt: virDomainMigrateGetMaxSpeed(%s): %s", virDomainGetName(dom),
			last_error());
		check_alive(v);
		ret = -EIO;
	} else {
		*mibs = bw > 0xffffffffUL ? 0xffffffffU : (__u32)bw;
	}
	virDomainFree(dom);
	return ret;
}

enum domain_call {
	CALL_MAX_DOWNTIME,
	CALL_POSTCOPY,
	CALL_SUSPEND,
	CALL_ABORT,
};

/* One libvirt call on a domain, logged with the domain and the call on failure. */
static int domain_call(struct ms_virt *v, const unsigned char *uuid, enum domain_call call,
		       __u32 arg)
{
	static const char *const names[] = {
		[CALL_MAX_DOWNTIME] = "virDomainMigrateSetMaxDowntime",
		[CALL_POSTCOPY] = "virDomainMigrateStartPostCopy",
		[CALL_SUSPEND] = "virDomainSuspend",
		[CALL_ABORT] = "virDomainAbortJob",
	};
	virDomainPtr dom = lookup(v, uuid);
	int ret = 0, rc = -1;

	if (!dom) {
		virResetLastError();
		return ms_virt_connected(v) ? -ENOENT : -ENOTCONN;
	}
	switch (call) {
	case CALL_MAX_DOWNTIME:
		rc = virDomainMigrateSetMaxDowntime(dom, arg, 0);
		break;
	case CALL_POSTCOPY:
		rc = virDomainMigrateStartPostCopy(dom, 0);
		break;
	case CALL_SUSPEND:
		rc = virDomainSuspend(dom);
		break;
	case CALL_ABORT:
		rc = virDomainAbortJob(dom);
		break;
	}
	if (rc < 0) {
		ms_warn("libvirt: %s(%s): %s", names[call], virDomainGetName(dom), last_error());
		check_alive(v);
		ret = -EIO;
	}
	virDomainFree(dom);
	return ret;
}

int ms_virt_set_max_downtime(struct ms_virt *v, const unsigned char *uuid, __u32 ms)
{
	return domain_call(v, uuid, CALL_MAX_DOWNTIME, ms);
}

int ms_virt_start_postcopy(struct ms_virt *v, const unsigned char *uuid)
{
	return domain_call(v, uuid, CALL_POSTCOPY, 0);
}

int ms_virt_suspend(struct ms_virt *v, const unsigned char *uuid)
{
	return domain_call(v, uuid, CALL_SUSPEND, 0);
}

int ms_virt_abort(struct ms_virt *v, const unsigned char *uuid)
{
	return domain_call(v, uuid, CALL_ABORT, 0);
}
