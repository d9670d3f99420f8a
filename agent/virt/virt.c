// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libvirt connection management. Whatever the daemon does (dead, restarting,
 * hung, SIGSTOPped), the agent's loop never waits on it for long.
 *
 * Everything that may wait for the daemon (connecting, every call below,
 * closing) runs on the libvirt thread, one request at a time. The loop hands
 * a call over and waits for its answer at most the call timeout (2 s). A
 * call that gets no answer in time returns -ETIMEDOUT and leaves the
 * connection stalled: calls fail at once (-ENOTCONN) and the coordinator
 * hears "disconnected" until the thread gets its answer, then "connected"
 * (a full scan). Connecting never holds the loop up: the attempt waits on the
 * thread for as long as the daemon takes. libvirt's events and keepalive stay
 * in the loop (virt_event.c), which keeps turning meanwhile.
 *
 * Why the calls cannot stay on the loop's thread: libvirt bounds nothing on
 * the thread that runs its event loop, as its keepalive timer is one of that
 * loop's timers. Measured (libvirt 9.0, SIGSTOPped libvirtd): a call blocked
 * for as long as the daemon stayed stopped (165 s, and the agent's /metrics
 * with it), keepalive 1 s x 2 or not; the same call failed after 3 s once
 * libvirt's loop ran on another thread.
 *
 * Why the agent never cuts a connection to bound a call (shutdown(2) of its
 * socket would): libvirtd 9.0 sometimes crashes when it resumes and finds a
 * client gone with priority calls pending (reproduced: 1 crash in 229 such
 * cuts during a migration, 0 in 220 resumes without the cut). So only
 * libvirt's keepalive (5 s x 3, about 20 s without an answer) closes the
 * connection to a daemon that stays silent, as for any other client.
 *
 * Worst case: one call timeout (2 s) of stalled loop when the daemon stops
 * answering, then none. Closing waits up to a second for the thread, then
 * leaves it to finish (and free what it shares) on its own.
 *
 * A daemon that answers every call, but slowly (a busy libvirtd: seconds
 * per call while it finishes other migrations), would hold the loop for the
 * sum of a cycle's calls, and a cycle runs again on each event. So the
 * loop's waits draw on a budget (waitbudget.h): about a second at a stretch
 * and half the loop's time at most; once spent, calls return -EBUSY at once
 * until the loop has run free for a while, and the coordinator makes them at
 * a later cycle. What cannot wait for a later cycle is made anyway
 * (ms_virt_exempt()).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <libvirt/virterror.h>

#include "clock.h"
#include "log.h"
#include "loop.h"
#include "qemuconf.h"
#include "virt.h"
#include "waitbudget.h"

#define MS_VIRT_BACKOFF_MIN_MS	     1000
#define MS_VIRT_BACKOFF_MAX_MS	     30000
#define MS_VIRT_KEEPALIVE_INTERVAL_S 5
#define MS_VIRT_KEEPALIVE_COUNT	     3
#define MS_VIRT_CALL_TIMEOUT_MS	     2000
/* How long closing waits for the libvirt thread to close the connection and exit. */
#define MS_VIRT_CLOSE_WAIT_MS 1000

enum { EV_LIFECYCLE, EV_ITERATION, EV_JOB_COMPLETED, EV_COUNT };

enum op {
	OP_CONNECT, /* open, then the close callback, keepalive and events */
	OP_DISCONNECT,
	OP_SCAN,
	OP_JOB_STATS,
	OP_DOMAIN_RUNNING,
	OP_SET_SPEED,
	OP_GET_SPEED,
	OP_MAX_DOWNTIME,
	OP_GET_DOWNTIME,
	OP_POSTCOPY,
	OP_SUSPEND,
	OP_ABORT,
};

static const char *const op_names[] = {
	[OP_CONNECT] = "connecting",
	[OP_DISCONNECT] = "closing",
	[OP_SCAN] = "listing the jobs",
	[OP_JOB_STATS] = "virDomainGetJobStats",
	[OP_DOMAIN_RUNNING] = "virDomainIsActive",
	[OP_SET_SPEED] = "virDomainMigrateSetMaxSpeed",
	[OP_GET_SPEED] = "virDomainMigrateGetMaxSpeed",
	[OP_MAX_DOWNTIME] = "virDomainMigrateSetMaxDowntime",
	[OP_GET_DOWNTIME] = "virDomainMigrateGetMaxDowntime",
	[OP_POSTCOPY] = "virDomainMigrateStartPostCopy",
	[OP_SUSPEND] = "virDomainSuspend",
	[OP_ABORT] = "virDomainAbortJob",
};

/* A migration job found by a scan, copied out of libvirt's objects for the loop. */
struct found_job {
	char *name;
	unsigned char uuid[VIR_UUID_BUFLEN];
	enum ms_mig_dir dir;
	struct ms_job_stats stats;
};

/* One request to the libvirt thread: its arguments, then its results. */
struct request {
	enum op op;
	unsigned char uuid[VIR_UUID_BUFLEN];
	bool completed;
	__u32 arg;
	/* OP_SET_SPEED, OP_GET_SPEED: VIR_DOMAIN_MIGRATE_MAX_SPEED_POSTCOPY or 0. */
	unsigned int speed_flags;
	struct timespec started;
	int ret;
	struct ms_job_stats stats;
	__u32 mibs; /* OP_GET_SPEED; OP_GET_DOWNTIME: ms */
	struct found_job *jobs;
	size_t n_jobs;
	/* Why it failed, for the loop to log: the libvirt thread does not log. */
	char error[256];
};

/*
 * The libvirt thread and what it shares with the loop. One reference for the
 * loop-or-thread ownership (the loop's until it abandons the thread at
 * close, the thread's after), one per registered event callback (dropped by
 * libvirt's free callback); the last one frees it.
 */
struct worker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int refs; /* atomic */
	/* eventfd: a request finished, the connection closed, or the thread exited. */
	int done_fd;
	char *uri;
	/* Under lock. */
	bool pending;  /* req waits for the thread */
	bool finished; /* req holds results for the loop */
	bool closed;   /* the connection was closed under us */
	bool stop;     /* close the connection and exit */
	bool exited;
	bool abandoned; /* the loop let go: the thread drops the ownership reference */
	struct request req;
	/* The thread's own. */
	virConnectPtr conn;
	int callback_ids[EV_COUNT];
	/* The loop's own (events arrive on the loop's thread); NULL once it let go. */
	struct ms_virt *v;
};

enum state {
	ST_DOWN,       /* no connection; the back-off timer runs */
	ST_CONNECTING, /* OP_CONNECT is with the thread */
	ST_UP,
	ST_CLOSING, /* the connection died; OP_DISCONNECT is (or goes next) to the thread */
};

struct ms_virt {
	struct ms_loop *loop;
	char *uri;
	const struct ms_virt_ops *ops;
	void *ctx;
	struct worker *w;
	enum state state;
	/* A call timed out and the thread still waits for its answer. */
	bool stalled;
	/* What the coordinator was last told: connected or not. */
	bool announced_up;
	int timer_fd; /* back-off */
	int backoff_ms;
	__u64 reconnects;
	__u64 connects;
	__u64 timeouts;
	/* How long the loop may still wait on calls; deferred counts those refused. */
	struct ms_wait_budget budget;
	__u64 deferred;
	__u64 deferred_at_hold;
	bool exempt; /* calls wait whatever the budget */
	/*
	 * inotify on the local daemon's domain status directory: libvirt saves
	 * a domain's status when a migration job starts and at each of its
	 * phases, before QEMU sends a byte; -1 without inotify.
	 */
	int status_fd;
	int status_wd;
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

static double secs_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void request_clear(struct request *r)
{
	for (size_t i = 0; i < r->n_jobs; i++)
		free(r->jobs[i].name);
	free(r->jobs);
	r->jobs = NULL;
	r->n_jobs = 0;
}

static void kick(int fd)
{
	uint64_t one = 1;
	/* Fails only when the counter would overflow: never, by adding ones. */
	ssize_t n = write(fd, &one, sizeof(one));

	(void)n;
}

static void worker_put(struct worker *w)
{
	if (__atomic_sub_fetch(&w->refs, 1, __ATOMIC_ACQ_REL))
		return;
	request_clear(&w->req);
	if (w->done_fd >= 0)
		close(w->done_fd);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	free(w->uri);
	free(w);
}

static void worker_put_cb(void *opaque)
{
	worker_put(opaque);
}

/* ---- event callbacks: on the loop's thread, through virt_event.c ---- */

static void domain_ids(virDomainPtr dom, const char **name, unsigned char *uuid)
{
	*name = virDomainGetName(dom);
	if (!*name)
		*name = "?";
	if (virDomainGetUUID(dom, uuid) < 0)
		memset(uuid, 0, VIR_UUID_BUFLEN);
}

static void emit(struct worker *w, enum ms_virt_event_kind kind, virDomainPtr dom, int detail,
		 int sub, const struct ms_job_stats *stats)
{
	unsigned char uuid[VIR_UUID_BUFLEN];
	struct ms_virt_event ev = {
		.kind = kind, .uuid = uuid, .detail = detail, .sub = sub, .stats = stats
	};
	struct ms_virt *v = w->v;

	if (!v)
		return;
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
 * The connection died (EOF, keepalive, error). libvirt calls this on whichever
 * thread noticed, from inside its own handling, where the connection must
 * not be closed: the loop takes it from here.
 */
static void on_close(virConnectPtr conn, int reason, void *opaque)
{
	struct worker *w = opaque;

	(void)conn;
	(void)reason;
	pthread_mutex_lock(&w->lock);
	w->closed = true;
	pthread_mutex_unlock(&w->lock);
	kick(w->done_fd);
}

/* ---- the libvirt thread ---- */

static void fail(struct request *r, int ret, const char *what)
{
	r->ret = ret;
	snprintf(r->error, sizeof(r->error), "%s: %s", what, last_error());
}

static void disconnect(struct worker *w)
{
	if (!w->conn)
		return;
	for (int i = 0; i < EV_COUNT; i++) {
		if (w->callback_ids[i] >= 0)
			virConnectDomainEventDeregisterAny(w->conn, w->callback_ids[i]);
		w->callback_ids[i] = -1;
	}
	virConnectUnregisterCloseCallback(w->conn, on_close);
	virConnectClose(w->conn);
	w->conn = NULL;
}

static void run_connect(struct worker *w, struct request *r)
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

	pthread_mutex_lock(&w->lock);
	w->closed = false;
	pthread_mutex_unlock(&w->lock);
	w->conn = virConnectOpen(w->uri);
	if (!w->conn) {
		fail(r, -ECONNREFUSED, "virConnectOpen");
		return;
	}
	if (virConnectRegisterCloseCallback(w->conn, on_close, w, NULL) < 0) {
		fail(r, -EIO, "virConnectRegisterCloseCallback");
		goto err;
	}
	/* A driver that runs in process (test:///, the unit tests') has no link to keep alive. */
	if (virConnectSetKeepAlive(w->conn, MS_VIRT_KEEPALIVE_INTERVAL_S,
				   MS_VIRT_KEEPALIVE_COUNT) < 0 &&
	    virGetLastErrorCode() != VIR_ERR_NO_SUPPORT) {
		fail(r, -EIO, "virConnectSetKeepAlive");
		goto err;
	}
	for (int i = 0; i < EV_COUNT; i++) {
		__atomic_add_fetch(&w->refs, 1, __ATOMIC_RELAXED);
		w->callback_ids[i] = virConnectDomainEventRegisterAny(w->conn, NULL, ids[i], cbs[i],
								      w, worker_put_cb);
		if (w->callback_ids[i] < 0) {
			__atomic_sub_fetch(&w->refs, 1, __ATOMIC_RELAXED);
			fail(r, -EIO, "virConnectDomainEventRegisterAny");
			goto err;
		}
	}
	return;
err:
	disconnect(w);
}

int ms_virt_job_direction(const struct ms_job_stats *st, enum ms_mig_dir *dir)
{
	if (!st || !ms_job_has(st, MS_JOB_OPERATION))
		return -ENOENT;
	if (st->operation == VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT)
		*dir = MS_MIG_OUTGOING;
	else if (st->operation == VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN)
		*dir = MS_MIG_INCOMING;
	else
		return -ENOENT;
	return 0;
}

/*
 * libvirt reads no stats of an incoming migration's job ("available only on
 * the source host", VIR_ERR_OPERATION_UNSUPPORTED): on the destination the
 * domain's state tells it, paused while the migration runs or running in
 * its post-copy phase. st becomes a running MIGRATION_IN job without stats.
 */
static bool incoming_by_state(virDomainPtr dom, struct ms_job_stats *st)
{
	int state, reason;

	if (virDomainGetState(dom, &state, &reason, 0) < 0)
		return false;
	if (state != VIR_DOMAIN_PAUSED &&
	    !(state == VIR_DOMAIN_RUNNING && reason == VIR_DOMAIN_RUNNING_POSTCOPY))
		return false;
	memset(st, 0, sizeof(*st));
	st->have = MS_JOB_OPERATION;
	st->type = VIR_DOMAIN_JOB_UNBOUNDED;
	st->operation = VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN;
	return true;
}

static void run_scan(struct worker *w, struct request *r)
{
	virDomainPtr *doms = NULL;
	bool incomplete = false;
	int n;

	n = virConnectListAllDomains(w->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
	if (n < 0) {
		fail(r, -EIO, "virConnectListAllDomains");
		return;
	}
	r->jobs = calloc(n ? n : 1, sizeof(*r->jobs));
	for (int i = 0; i < n; i++) {
		virTypedParameterPtr params = NULL;
		struct found_job *job = r->jobs ? &r->jobs[r->n_jobs] : NULL;
		unsigned char uuid[VIR_UUID_BUFLEN];
		struct ms_job_stats stats;
		const char *name;
		int type, nparams = 0;

		domain_ids(doms[i], &name, uuid);
		if (virDomainGetJobStats(doms[i], &type, &params, &nparams, 0) < 0) {
			virErrorPtr err = virGetLastError();
			int code = err ? err->code : VIR_ERR_INTERNAL_ERROR;

			if (code == VIR_ERR_OPERATION_UNSUPPORTED &&
			    incoming_by_state(doms[i], &stats)) {
				type = stats.type;
				goto found;
			}

			/*
			 * A domain gone since the listing has no job. Any other
			 * failure (a busy job lock, a dead connection) says
			 * nothing about its job: the scan is then incomplete, and
			 * its caller must not take a missing job for an ended one.
			 * The destination of an incoming migration has no stats to
			 * give (libvirt 9.0: "available only on the source host"):
			 * no outgoing job there either.
			 */
			if (code != VIR_ERR_NO_DOMAIN && code != VIR_ERR_OPERATION_INVALID &&
			    code != VIR_ERR_OPERATION_UNSUPPORTED && !incomplete) {
				snprintf(r->error, sizeof(r->error), "virDomainGetJobStats(%s): %s",
					 name, last_error());
				incomplete = true;
			}
			virResetLastError();
			goto next;
		}
		ms_job_stats_parse(type, params, nparams, &stats, NULL);
found:
		if (job && type != VIR_DOMAIN_JOB_NONE && ms_virt_job_direction(&stats, &job->dir) == 0) {
			job->name = strdup(name);
			memcpy(job->uuid, uuid, VIR_UUID_BUFLEN);
			job->stats = stats;
			if (job->name)
				r->n_jobs++;
			else
				incomplete = true;
		}
next:
		virTypedParamsFree(params, nparams);
		virDomainFree(doms[i]);
	}
	free(doms);
	if (!r->jobs) {
		snprintf(r->error, sizeof(r->error), "no memory for the jobs of %d domains", n);
		incomplete = true;
	}
	r->ret = incomplete ? -EAGAIN : (int)r->n_jobs;
}

/* Calls on one domain; -ENOENT when it is not (or no longer) on this host. */
static void run_domain_call(struct worker *w, struct request *r)
{
	virTypedParameterPtr params = NULL;
	virDomainPtr dom;
	unsigned long long downtime_ms;
	const char *name;
	unsigned long bw;
	int rc = -1, type, nparams = 0;

	dom = virDomainLookupByUUID(w->conn, r->uuid);
	if (!dom) {
		/* Only libvirt's word makes a domain gone: a dead connection does not. */
		if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN)
			r->ret = -ENOENT;
		else
			fail(r, -EIO, "virDomainLookupByUUID");
		return;
	}
	/*
	 * Named now: every public libvirt call, virDomainGetName() too, resets
	 * the thread's last error, so naming the domain after a failed call
	 * would report "no error" instead of libvirt's answer.
	 */
	name = virDomainGetName(dom);
	switch (r->op) {
	case OP_JOB_STATS:
		/* KEEP_COMPLETED: reading must not erase what the manager reads too. */
		rc = virDomainGetJobStats(dom, &type, &params, &nparams,
					  r->completed ? VIR_DOMAIN_JOB_STATS_COMPLETED |
							     VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED
						       : 0);
		if (rc == 0)
			ms_job_stats_parse(type, params, nparams, &r->stats, NULL);
		virTypedParamsFree(params, nparams);
		break;
	case OP_DOMAIN_RUNNING:
		rc = virDomainIsActive(dom);
		if (rc == 0)
			r->ret = -ENOENT;
		break;
	case OP_SET_SPEED:
		/* libvirt's own default: what "unlimited" reads back as (saturated). */
		rc = virDomainMigrateSetMaxSpeed(dom,
						 r->arg == MS_VIRT_SPEED_UNLIMITED
							 ? MS_VIRT_LIBVIRT_SPEED_MAX_MIBS
							 : r->arg,
						 r->speed_flags);
		break;
	case OP_GET_SPEED:
		rc = virDomainMigrateGetMaxSpeed(dom, &bw, r->speed_flags);
		if (rc == 0)
			r->mibs = bw > 0xffffffffUL ? 0xffffffffU : (__u32)bw;
		break;
	case OP_MAX_DOWNTIME:
		rc = virDomainMigrateSetMaxDowntime(dom, r->arg, 0);
		break;
	case OP_GET_DOWNTIME:
		rc = virDomainMigrateGetMaxDowntime(dom, &downtime_ms, 0);
		if (rc == 0)
			r->mibs = downtime_ms > 0xffffffffULL ? 0xffffffffU : (__u32)downtime_ms;
		break;
	case OP_POSTCOPY:
		rc = virDomainMigrateStartPostCopy(dom, 0);
		break;
	case OP_SUSPEND:
		rc = virDomainSuspend(dom);
		break;
	case OP_ABORT:
		rc = virDomainAbortJob(dom);
		break;
	default:
		break;
	}
	if (rc < 0) {
		char what[128];

		snprintf(what, sizeof(what), "%s(%s)", op_names[r->op], name ? name : "?");
		/* Not in a state for it: for post-copy, not started with VIR_MIGRATE_POSTCOPY. */
		fail(r, virGetLastErrorCode() == VIR_ERR_OPERATION_INVALID ? -EPERM : -EIO, what);
	}
	virDomainFree(dom);
}

static void run(struct worker *w, struct request *r)
{
	r->ret = 0;
	r->error[0] = '\0';
	switch (r->op) {
	case OP_CONNECT:
		run_connect(w, r);
		break;
	case OP_DISCONNECT:
		disconnect(w);
		break;
	case OP_SCAN:
		run_scan(w, r);
		break;
	default:
		run_domain_call(w, r);
		break;
	}
	virResetLastError();
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	bool abandoned;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct request r;

		while (!w->pending && !w->stop)
			pthread_cond_wait(&w->wake, &w->lock);
		/* Nobody waits for a request still pending at close. */
		if (w->stop)
			break;
		r = w->req;
		pthread_mutex_unlock(&w->lock);
		run(w, &r);
		pthread_mutex_lock(&w->lock);
		w->req = r;
		w->pending = false;
		w->finished = true;
		kick(w->done_fd);
	}
	pthread_mutex_unlock(&w->lock);
	disconnect(w);
	pthread_mutex_lock(&w->lock);
	w->exited = true;
	abandoned = w->abandoned;
	if (!abandoned)
		kick(w->done_fd);
	pthread_mutex_unlock(&w->lock);
	if (abandoned)
		worker_put(w);
	return NULL;
}

/* ---- the loop's side ---- */

/* -EBUSY while the thread still has a request: it takes one at a time. */
static int submit(struct ms_virt *v, const struct request *r)
{
	struct worker *w = v->w;
	int ret = 0;

	pthread_mutex_lock(&w->lock);
	if (w->pending || w->finished) {
		ret = -EBUSY;
	} else {
		w->req = *r;
		clock_gettime(CLOCK_MONOTONIC, &w->req.started);
		w->pending = true;
		pthread_cond_signal(&w->wake);
	}
	pthread_mutex_unlock(&w->lock);
	return ret;
}

/* Takes the finished request, if there is one. */
static bool take(struct ms_virt *v, struct request *out)
{
	struct worker *w = v->w;
	bool finished;

	pthread_mutex_lock(&w->lock);
	finished = w->finished;
	if (finished) {
		*out = w->req;
		w->req.jobs = NULL;
		w->req.n_jobs = 0;
		w->finished = false;
	}
	pthread_mutex_unlock(&w->lock);
	return finished;
}

static bool usable(const struct ms_virt *v)
{
	return v->state == ST_UP && !v->stalled;
}

static void retry_later(struct ms_virt *v)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = v->backoff_ms / 1000,
			      .tv_nsec = (long)(v->backoff_ms % 1000) * 1000000L + 1 },
	};

	timerfd_settime(v->timer_fd, 0, &its, NULL);
	v->backoff_ms = v->backoff_ms * 2 > MS_VIRT_BACKOFF_MAX_MS ? MS_VIRT_BACKOFF_MAX_MS
								  : v->backoff_ms * 2;
}

static void connect_now(struct ms_virt *v)
{
	const struct request r = { .op = OP_CONNECT };

	if (submit(v, &r)) {
		ms_err("libvirt: the libvirt thread is busy; connecting in %d s",
		       v->backoff_ms / 1000);
		retry_later(v);
		return;
	}
	v->state = ST_CONNECTING;
}

/*
 * Follows the status directory of the libvirt daemon on this host (found in
 * the agent's network namespace, seen through its /proc/<pid>/root): a
 * remote URI's daemon, or none found, leaves only the events and scans.
 */
static void watch_status(struct ms_virt *v)
{
	char path[64];
	pid_t pid;

	if (v->status_fd < 0 || ms_libvirt_daemon_pid(&pid))
		return;
	snprintf(path, sizeof(path), "/proc/%d/root/run/libvirt/qemu", (int)pid);
	if (v->status_wd >= 0)
		inotify_rm_watch(v->status_fd, v->status_wd);
	v->status_wd = inotify_add_watch(v->status_fd, path, IN_MOVED_TO | IN_CLOSE_WRITE);
	if (v->status_wd < 0)
		ms_debug("libvirt: not following %s: %s", path, strerror(errno));
}

static int on_status(void *ctx, uint32_t events)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct ms_virt *v = ctx;
	bool saved = false;
	ssize_t n;

	(void)events;
	while ((n = read(v->status_fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ie = (const struct inotify_event *)p;
			size_t len = ie->len ? strlen(ie->name) : 0;

			if (len > 4 && strcmp(ie->name + len - 4, ".xml") == 0)
				saved = true;
			p += sizeof(*ie) + ie->len;
		}
	}
	if (saved && usable(v)) {
		const struct ms_virt_event ev = {.kind = MS_VIRT_EV_STATUS_SAVED};

		v->ops->event(v->ctx, &ev);
	}
	return 0;
}

/*
 * Brings the loop's view in line with the thread's: a finished request, a
 * connection that died. Runs on the loop's thread whenever the thread kicks,
 * outside any call.
 */
static int on_worker(void *ctx, uint32_t events)
{
	struct ms_virt *v = ctx;
	struct worker *w = v->w;
	const struct request disconnect_req = { .op = OP_DISCONNECT };
	bool closed, busy, disconnected = false;
	struct request r;
	__u64 count;

	(void)events;
	/* Only resets the kick: what happened is in the shared state. */
	if (read(w->done_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		return 0;
	if (take(v, &r)) {
		switch (r.op) {
		case OP_CONNECT:
			if (r.ret) {
				ms_warn("libvirt: cannot connect to %s: %s; shaping with static "
					"rules, retrying in %d s",
					v->uri, r.error, v->backoff_ms / 1000);
				v->state = ST_DOWN;
				retry_later(v);
				break;
			}
			v->state = ST_UP;
			v->backoff_ms = MS_VIRT_BACKOFF_MIN_MS;
			if (v->connects++)
				v->reconnects++;
			ms_info("libvirt: connected to %s", v->uri);
			break;
		case OP_DISCONNECT:
			v->state = ST_DOWN;
			v->backoff_ms = MS_VIRT_BACKOFF_MIN_MS;
			disconnected = true;
			break;
		default:
			/* The end of a call that had timed out. */
			if (r.error[0])
				ms_warn("libvirt: %s failed after %.1f s: %s", op_names[r.op],
					secs_since(&r.started), r.error);
			else
				ms_info("libvirt: %s answered after %.1f s (%s)", v->uri,
					secs_since(&r.started), op_names[r.op]);
			v->stalled = false;
			request_clear(&r);
			break;
		}
	}
	pthread_mutex_lock(&w->lock);
	closed = w->closed;
	busy = w->pending || w->finished;
	pthread_mutex_unlock(&w->lock);
	if (closed && v->state == ST_UP) {
		ms_warn("libvirt: connection to %s closed", v->uri);
		v->state = ST_CLOSING;
	}
	/* A stalled call ends first: the thread takes one request at a time. */
	if (v->state == ST_CLOSING && !busy && !v->stalled)
		submit(v, &disconnect_req);
	/* The first attempt after a loss goes at once; failures back off. */
	if (disconnected)
		connect_now(v);
	if (usable(v) != v->announced_up) {
		v->announced_up = usable(v);
		if (v->announced_up) {
			watch_status(v);
			v->ops->connected(v->ctx);
		}
		else
			v->ops->disconnected(v->ctx);
	}
	return 0;
}

static int on_timer(void *ctx, uint32_t events)
{
	struct ms_virt *v = ctx;
	__u64 expirations;

	(void)events;
	if (read(v->timer_fd, &expirations, sizeof(expirations)) < 0)
		return 0;
	if (v->state == ST_DOWN)
		connect_now(v);
	return 0;
}

/* Whether the loop may wait on a call now; says when calls resume. */
static bool budget_allows(struct ms_virt *v)
{
	bool was_holding = v->budget.holding;

	if (ms_wait_budget_allows(&v->budget, ms_clock_ns()) || v->exempt) {
		if (was_holding && !v->budget.holding && v->deferred > v->deferred_at_hold)
			ms_info("libvirt: calling %s again (%llu calls deferred)", v->uri,
				(unsigned long long)(v->deferred - v->deferred_at_hold));
		return true;
	}
	v->deferred++;
	return false;
}

/* Charges the budget for a call that kept the loop waiting since t0_ns. */
static void budget_spend(struct ms_virt *v, const struct request *r, __u64 t0_ns, bool answered)
{
	__u64 now = ms_clock_ns();

	if (!ms_wait_budget_spend(&v->budget, now - t0_ns, now))
		return;
	v->deferred_at_hold = v->deferred;
	/* A call that timed out has said so, and calls fail until it is answered. */
	if (!answered)
		return;
	ms_warn("libvirt: %s answers slowly (%s took %.1f s): the loop makes no calls for %.1f s "
		"so that it serves the rest",
		v->uri, op_names[r->op], (double)(now - t0_ns) / 1e9,
		(double)ms_wait_budget_hold_us(&v->budget, now) / 1e6);
}

/*
 * Runs r on the libvirt thread and waits for it, at most the call timeout.
 * Returns r's result, -ENOTCONN while the connection is not usable, -EBUSY
 * while the loop's budget for waiting is spent (nothing was sent), or
 * -ETIMEDOUT (the thread keeps waiting; the connection is stalled until then).
 */
static int call(struct ms_virt *v, struct request *r)
{
	struct pollfd pfd = { .fd = v->w->done_fd, .events = POLLIN };
	__u64 t0_ns;
	int ret;

	if (!ms_virt_connected(v))
		return -ENOTCONN;
	if (!budget_allows(v))
		return -EBUSY;
	ret = submit(v, r);
	if (ret)
		return ret;
	t0_ns = ms_clock_ns();
	for (;;) {
		int left_ms = MS_VIRT_CALL_TIMEOUT_MS - (int)((ms_clock_ns() - t0_ns) / 1000000);
		__u64 count;

		if (left_ms <= 0 || poll(&pfd, 1, left_ms) == 0)
			break;
		if (read(v->w->done_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
			break;
		if (take(v, r)) {
			if (r->ret && r->error[0])
				ms_warn("libvirt: %s", r->error);
			ret = r->ret;
			goto out;
		}
	}
	v->stalled = true;
	v->timeouts++;
	ms_warn("libvirt: %s: no answer from %s within %d ms; libvirt calls fail until it answers",
		op_names[r->op], v->uri, MS_VIRT_CALL_TIMEOUT_MS);
	ret = -ETIMEDOUT;
out:
	budget_spend(v, r, t0_ns, ret != -ETIMEDOUT);
	/*
	 * The kicks this wait consumed may also have said that the connection
	 * closed; on_worker sees to that (and tells the coordinator) after this call.
	 */
	kick(v->w->done_fd);
	return ret;
}

int ms_virt_open(struct ms_loop *loop, const char *uri, const struct ms_virt_ops *ops, void *ctx,
		 struct ms_virt **out)
{
	struct ms_virt *v = calloc(1, sizeof(*v));
	struct worker *w = calloc(1, sizeof(*w));
	int ret;

	if (!v || !w) {
		free(v);
		free(w);
		return -ENOMEM;
	}
	v->loop = loop;
	v->ops = ops;
	v->ctx = ctx;
	v->w = w;
	v->backoff_ms = MS_VIRT_BACKOFF_MIN_MS;
	ms_wait_budget_init(&v->budget, ms_clock_ns());
	w->v = v;
	w->refs = 1;
	for (int i = 0; i < EV_COUNT; i++)
		w->callback_ids[i] = -1;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	v->uri = strdup(uri ? uri : "qemu:///system");
	w->uri = v->uri ? strdup(v->uri) : NULL;
	w->done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	v->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (!w->uri || w->done_fd < 0 || v->timer_fd < 0) {
		ret = w->uri ? -errno : -ENOMEM;
		goto err_fds;
	}
	ret = ms_loop_add(loop, v->timer_fd, EPOLLIN, on_timer, v);
	if (ret)
		goto err_fds;
	ret = ms_loop_add(loop, w->done_fd, EPOLLIN, on_worker, v);
	if (ret)
		goto err_timer;
	/* Optional: without it, migrations are found by events and scans alone. */
	v->status_wd = -1;
	v->status_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (v->status_fd >= 0 && ms_loop_add(loop, v->status_fd, EPOLLIN, on_status, v)) {
		close(v->status_fd);
		v->status_fd = -1;
	}
	ret = -pthread_create(&w->thread, NULL, worker_main, w);
	if (ret)
		goto err_status;
	virSetErrorFunc(NULL, quiet_error_handler);
	connect_now(v);
	*out = v;
	return 0;
err_status:
	if (v->status_fd >= 0) {
		ms_loop_del(loop, v->status_fd);
		close(v->status_fd);
	}
	ms_loop_del(loop, w->done_fd);
err_timer:
	ms_loop_del(loop, v->timer_fd);
err_fds:
	if (v->timer_fd >= 0)
		close(v->timer_fd);
	free(v->uri);
	worker_put(w);
	free(v);
	return ret;
}

void ms_virt_close(struct ms_virt *v)
{
	struct worker *w;
	struct pollfd pfd;
	struct timespec t0;
	pthread_t thread;
	bool exited;

	if (!v)
		return;
	w = v->w;
	thread = w->thread;
	ms_loop_del(v->loop, w->done_fd);
	ms_loop_del(v->loop, v->timer_fd);
	close(v->timer_fd);
	if (v->status_fd >= 0) {
		ms_loop_del(v->loop, v->status_fd);
		close(v->status_fd);
	}
	/* Events still queued on the loop's side find no one to tell. */
	w->v = NULL;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pfd = (struct pollfd){ .fd = w->done_fd, .events = POLLIN };
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int left_ms = MS_VIRT_CLOSE_WAIT_MS - (int)(secs_since(&t0) * 1000);
		__u64 count;

		pthread_mutex_lock(&w->lock);
		exited = w->exited;
		/*
		 * Past the wait, under the same lock: the thread sees one or the
		 * other. Once abandoned, w is the thread's: not to be touched.
		 */
		if (!exited && left_ms <= 0)
			w->abandoned = true;
		pthread_mutex_unlock(&w->lock);
		if (exited || left_ms <= 0)
			break;
		/* Any kick: a request finished, or the thread exited. */
		if (poll(&pfd, 1, left_ms) > 0 && read(w->done_fd, &count, sizeof(count)) < 0)
			continue;
	}
	if (exited) {
		pthread_join(thread, NULL);
		request_clear(&w->req);
		worker_put(w);
	} else {
		ms_warn("libvirt: %s does not answer; leaving the connection to close on its own",
			v->uri);
		pthread_detach(thread);
	}
	free(v->uri);
	free(v);
}

bool ms_virt_connected(const struct ms_virt *v)
{
	return v && usable(v);
}

__u64 ms_virt_reconnects(const struct ms_virt *v)
{
	return v->reconnects;
}

__u64 ms_virt_timeouts(const struct ms_virt *v)
{
	return v->timeouts;
}

__u64 ms_virt_deferred(const struct ms_virt *v)
{
	return v->deferred;
}

void ms_virt_exempt(struct ms_virt *v, bool exempt)
{
	v->exempt = exempt;
}

int ms_virt_scan(struct ms_virt *v, ms_virt_job_cb cb, void *ctx)
{
	struct request r = { .op = OP_SCAN };
	int ret = call(v, &r);

	/* Even an incomplete scan reports the jobs it read. */
	for (size_t i = 0; i < r.n_jobs; i++) {
		const struct ms_virt_job job = {
			.name = r.jobs[i].name,
			.uuid = r.jobs[i].uuid,
			.dir = r.jobs[i].dir,
			.stats = &r.jobs[i].stats,
		};

		cb(ctx, &job);
	}
	request_clear(&r);
	return ret;
}

int ms_virt_job_stats(struct ms_virt *v, const unsigned char *uuid, bool completed,
		      struct ms_job_stats *out)
{
	struct request r = { .op = OP_JOB_STATS, .completed = completed };
	int ret;

	memcpy(r.uuid, uuid, VIR_UUID_BUFLEN);
	ret = call(v, &r);
	if (!ret)
		*out = r.stats;
	return ret;
}

int ms_virt_domain_running(struct ms_virt *v, const unsigned char *uuid)
{
	struct request r = { .op = OP_DOMAIN_RUNNING };

	memcpy(r.uuid, uuid, VIR_UUID_BUFLEN);
	return call(v, &r);
}

int ms_virt_set_speed(struct ms_virt *v, const unsigned char *uuid, __u32 mibs)
{
	struct request r = { .op = OP_SET_SPEED, .arg = mibs };

	memcpy(r.uuid, uuid, VIR_UUID_BUFLEN);
	return call(v, &r);
}

int ms_virt_get_speed(struct ms_virt *v, const unsigned char *uuid, __u32 *mibs)
{
	struct request r = { .op = OP_GET_SPEED };
	int ret;

	memcpy(r.uuid, uuid, VIR_UUID_BUFLEN);
	ret = call(v, &r);
	if (!ret)
		*mibs = r.mibs;
	return ret;
}

int ms_virt_set_postcopy_speed(struct ms_virt *v, const unsigned char *uuid, __u32 mibs)
{
	struct request r = { .op = OP_SET_SPEED, .arg = mibs,
			     .speed_flags = VIR_DOMAIN_MIGRATE_MAX_SPEED_POSTCOPY };

	memcpy(r.uuid, uuid, VIR_UUID_BUFLEN);
	return call(v, &r);
}

int ms_virt_get_postcopy_speed(struct ms_virt *v, const unsigned char *uuid, __u32 *mibs)
{
	struct request r = { .op = OP_GET_SPEED,
			     .speed_flags = VIR_DOMAIN_MIGRATE_MAX_SPEED_POSTCOPY };
	int ret;

	memcpy(r.uuid, uuid, VIR_UUID_BUFLEN);
	ret = call(v, &r);
	if (!ret)
		*mibs = r.mibs;
	return ret;
}

int ms_virt_set_max_downtime(struct ms_virt *v, const unsigned char *uuid, __u32 ms)
{
	struct request r = { .op = OP_MAX_DOWNTIME, .arg = ms };

	memcpy(r.uuid, uuid, VIR_UUID_BUFLEN);
	return call(v, &r);
}

int ms_virt_get_max_downtime(struct ms_virt *v, const unsigned char *uuid, __u32 *ms)
{
	struct request r = { .op = OP_GET_DOWNTIME };
	int ret;

	memcpy(r.uuid, uuid, VIR_UUID_BUFLEN);
	ret = call(v, &r);
	if (!ret)
		*ms = r.mibs;
	return ret;
}

int ms_virt_start_postcopy(struct ms_virt *v, const unsigned char *uuid)
{
	struct request r = { .op = OP_POSTCOPY };

	memcpy(r.uuid, uuid, VIR_UUID_BUFLEN);
	return call(v, &r);
}

int ms_virt_suspend(struct ms_virt *v, const unsigned char *uuid)
{
	struct request r = { .op = OP_SUSPEND };

	memcpy(r.uuid, uuid, VIR_UUID_BUFLEN);
	return call(v, &r);
}

int ms_virt_abort(struct ms_virt *v, const unsigned char *uuid)
{
	struct request r = { .op = OP_ABORT };

	memcpy(r.uuid, uuid, VIR_UUID_BUFLEN);
	return call(v, &r);
}
