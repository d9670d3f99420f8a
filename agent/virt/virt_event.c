// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libvirt event implementation over ms_loop. libvirt's callbacks have no
 * context argument, so the table of watches and timers is file-scope state,
 * set by ms_virt_event_register(), with the lock that guards it: the
 * exceptions to "no global state", forced by the shape of
 * virEventRegisterImpl().
 *
 * libvirt calls in from any thread. The table is shared under the lock; the
 * loop (which is not thread-safe) is changed only on the loop's thread: a
 * change made on another thread marks its watch dirty and kicks an eventfd,
 * and the loop's thread applies it. The lock is never held while libvirt's
 * callbacks run, since they call back in.
 *
 * libvirt also requires that free callbacks run "from a clean stack", never
 * from inside a remove call, or it may deadlock on its own locks; removals
 * are therefore finished from the same eventfd, which the loop serves next.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <libvirt/libvirt.h>

#include "log.h"
#include "loop.h"
#include "virt_event.h"

#define MS_VIRT_MAX_WATCHES 32

enum watch_kind {
	WATCH_FREE = 0,
	WATCH_HANDLE,
	WATCH_TIMER,
	WATCH_DEAD, /* removed; its free callback is still due */
};

struct virt_watch {
	enum watch_kind kind;
	int id;
	/* Our own fd: a dup of libvirt's for handles, a timerfd for timers. */
	int loop_fd;
	int libvirt_fd;
	uint32_t events; /* handles: what the loop waits for */
	bool in_loop;	 /* loop_fd is registered with the loop */
	bool dirty;	 /* changed on another thread: the loop has yet to follow */
	virEventHandleCallback handle_cb;
	virEventTimeoutCallback timer_cb;
	void *opaque;
	virFreeCallback ff;
};

struct virt_event_state {
	struct ms_loop *loop;
	pthread_t loop_thread;
	int kick_fd;
	struct virt_watch watches[MS_VIRT_MAX_WATCHES];
};

struct release {
	virFreeCallback ff;
	void *opaque;
};

/* Outlives the state: libvirt may still release handles after ms_virt_event_shutdown(). */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static struct virt_event_state *state;
static bool impl_registered;
/* Never reused, even across registrations: a late call with a stale id matches nothing. */
static int last_id;

static uint32_t to_epoll(int vir_events)
{
	uint32_t ev = 0;

	if (vir_events & VIR_EVENT_HANDLE_READABLE)
		ev |= EPOLLIN;
	if (vir_events & VIR_EVENT_HANDLE_WRITABLE)
		ev |= EPOLLOUT;
	return ev;
}

static int from_epoll(uint32_t ev)
{
	int vir = 0;

	if (ev & EPOLLIN)
		vir |= VIR_EVENT_HANDLE_READABLE;
	if (ev & EPOLLOUT)
		vir |= VIR_EVENT_HANDLE_WRITABLE;
	if (ev & EPOLLERR)
		vir |= VIR_EVENT_HANDLE_ERROR;
	if (ev & EPOLLHUP)
		vir |= VIR_EVENT_HANDLE_HANGUP;
	return vir;
}

/* With the lock held, as every function below that takes no lock itself. */
static struct virt_watch *find(int id, enum watch_kind kind)
{
	if (!state)
		return NULL;
	for (int i = 0; i < MS_VIRT_MAX_WATCHES; i++)
		if (state->watches[i].kind == kind && state->watches[i].id == id)
			return &state->watches[i];
	return NULL;
}

static struct virt_watch *alloc_watch(void)
{
	if (!state)
		return NULL;
	for (int i = 0; i < MS_VIRT_MAX_WATCHES; i++) {
		struct virt_watch *w = &state->watches[i];

		if (w->kind != WATCH_FREE)
			continue;
		memset(w, 0, sizeof(*w));
		w->id = ++last_id;
		w->loop_fd = -1;
		return w;
	}
	return NULL;
}

static void kick(void)
{
	uint64_t one = 1;

	if (write(state->kick_fd, &one, sizeof(one)) < 0)
		ms_warn("libvirt events: cannot wake the loop: %s", strerror(errno));
}

static int on_handle(void *ctx, uint32_t events);
static int on_timer(void *ctx, uint32_t events);

/* Brings the loop in line with w. On the loop's thread. */
static void sync_watch(struct virt_watch *w)
{
	int ret = 0;

	w->dirty = false;
	switch (w->kind) {
	case WATCH_HANDLE:
		if (w->in_loop)
			ret = ms_loop_mod(state->loop, w->loop_fd, w->events);
		else
			ret = ms_loop_add(state->loop, w->loop_fd, w->events, on_handle, w);
		break;
	case WATCH_TIMER:
		if (!w->in_loop)
			ret = ms_loop_add(state->loop, w->loop_fd, EPOLLIN, on_timer, w);
		break;
	case WATCH_DEAD:
		if (w->in_loop)
			ms_loop_del(state->loop, w->loop_fd);
		if (w->loop_fd >= 0)
			close(w->loop_fd);
		w->loop_fd = -1;
		w->in_loop = false;
		return;
	case WATCH_FREE:
		return;
	}
	if (ret)
		ms_warn("libvirt events: cannot watch fd %d: %s", w->loop_fd, strerror(-ret));
	else
		w->in_loop = true;
}

/* After any change to w: the loop's thread follows now, another one on the next turn. */
static void changed(struct virt_watch *w)
{
	if (pthread_equal(pthread_self(), state->loop_thread)) {
		sync_watch(w);
		/* A removal is finished (its free callback run) from a clean stack. */
		if (w->kind == WATCH_DEAD)
			kick();
		return;
	}
	w->dirty = true;
	kick();
}

/* Marks the dead watches free; returns their releases, which the caller runs unlocked. */
static size_t take_releases(struct release *out)
{
	size_t n = 0;

	for (int i = 0; i < MS_VIRT_MAX_WATCHES; i++) {
		struct virt_watch *w = &state->watches[i];

		if (w->kind != WATCH_DEAD || w->loop_fd >= 0)
			continue;
		w->kind = WATCH_FREE;
		if (w->ff)
			out[n++] = (struct release){.ff = w->ff, .opaque = w->opaque};
	}
	return n;
}

static void run_releases(const struct release *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		r[i].ff(r[i].opaque);
}

static int on_handle(void *ctx, uint32_t events)
{
	struct virt_watch *w = ctx;
	virEventHandleCallback cb = NULL;
	void *opaque = NULL;
	int id = 0, fd = -1;

	pthread_mutex_lock(&state_lock);
	if (w->kind == WATCH_HANDLE) {
		cb = w->handle_cb;
		opaque = w->opaque;
		id = w->id;
		fd = w->libvirt_fd;
	}
	pthread_mutex_unlock(&state_lock);
	/* The watch may be removed meanwhile: opaque stays valid until its release, run by this
	 * thread. */
	if (cb)
		cb(id, fd, from_epoll(events), opaque);
	return 0;
}

static int on_timer(void *ctx, uint32_t events)
{
	struct virt_watch *w = ctx;
	virEventTimeoutCallback cb = NULL;
	void *opaque = NULL;
	uint64_t expirations;
	int id = 0;

	(void)events;
	/* Only this thread closes loop_fd. */
	if (read(w->loop_fd, &expirations, sizeof(expirations)) < 0 && errno == EAGAIN)
		return 0;
	pthread_mutex_lock(&state_lock);
	if (w->kind == WATCH_TIMER) {
		cb = w->timer_cb;
		opaque = w->opaque;
		id = w->id;
	}
	pthread_mutex_unlock(&state_lock);
	if (cb)
		cb(id, opaque);
	return 0;
}

/* Applies what other threads changed, then runs the releases of removed watches. */
static int on_kick(void *ctx, uint32_t events)
{
	struct release releases[MS_VIRT_MAX_WATCHES];
	uint64_t count;
	size_t n;

	(void)ctx;
	(void)events;
	pthread_mutex_lock(&state_lock);
	if (read(state->kick_fd, &count, sizeof(count)) < 0 && errno == EAGAIN) {
		pthread_mutex_unlock(&state_lock);
		return 0;
	}
	for (int i = 0; i < MS_VIRT_MAX_WATCHES; i++)
		if (state->watches[i].dirty)
			sync_watch(&state->watches[i]);
	n = take_releases(releases);
	pthread_mutex_unlock(&state_lock);
	run_releases(releases, n);
	return 0;
}

/*
 * Takes a free slot for a watch whose own fd is made: the slot keeps its new
 * id and everything else comes from tmpl. Returns the id, or -1 when the
 * table is full or gone; then the caller still owns tmpl->loop_fd.
 */
static int add_watch(const struct virt_watch *tmpl)
{
	struct virt_watch *w;
	int id = -1;

	pthread_mutex_lock(&state_lock);
	w = alloc_watch();
	if (w) {
		id = w->id;
		*w = *tmpl;
		w->id = id;
		changed(w);
	}
	pthread_mutex_unlock(&state_lock);
	return id;
}

static int add_handle(int fd, int events, virEventHandleCallback cb, void *opaque,
		      virFreeCallback ff)
{
	struct virt_watch tmpl = {
	    .kind = WATCH_HANDLE,
	    .libvirt_fd = fd,
	    .events = to_epoll(events),
	    .handle_cb = cb,
	    .opaque = opaque,
	    .ff = ff,
	};
	int id;

	/* A private dup: libvirt may watch one fd twice, which epoll refuses. */
	tmpl.loop_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (tmpl.loop_fd < 0)
		return -1;
	id = add_watch(&tmpl);
	if (id < 0)
		close(tmpl.loop_fd);
	return id;
}

static void update_handle(int id, int events)
{
	struct virt_watch *w;

	pthread_mutex_lock(&state_lock);
	w = find(id, WATCH_HANDLE);
	if (w) {
		w->events = to_epoll(events);
		changed(w);
	}
	pthread_mutex_unlock(&state_lock);
}

static int remove_watch(int id, enum watch_kind kind)
{
	struct virt_watch *w;

	pthread_mutex_lock(&state_lock);
	w = find(id, kind);
	if (w) {
		w->kind = WATCH_DEAD;
		changed(w);
	}
	pthread_mutex_unlock(&state_lock);
	return w ? 0 : -1;
}

static int remove_handle(int id)
{
	return remove_watch(id, WATCH_HANDLE);
}

/* timeout_ms: -1 disarms, 0 fires on every loop turn, N fires every N ms. */
static int arm_timer(int timer_fd, int timeout_ms)
{
	struct itimerspec its = {};

	if (timeout_ms == 0) {
		its.it_value.tv_nsec = 1;
		its.it_interval.tv_nsec = 1;
	} else if (timeout_ms > 0) {
		its.it_value.tv_sec = timeout_ms / 1000;
		its.it_value.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
		its.it_interval = its.it_value;
	}
	return timerfd_settime(timer_fd, 0, &its, NULL);
}

static int add_timeout(int timeout_ms, virEventTimeoutCallback cb, void *opaque, virFreeCallback ff)
{
	struct virt_watch tmpl = {
	    .kind = WATCH_TIMER,
	    .libvirt_fd = -1,
	    .timer_cb = cb,
	    .opaque = opaque,
	    .ff = ff,
	};
	int id;

	tmpl.loop_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (tmpl.loop_fd < 0)
		return -1;
	/* timerfds may be armed from any thread; only registering them is the loop's. */
	id = arm_timer(tmpl.loop_fd, timeout_ms) < 0 ? -1 : add_watch(&tmpl);
	if (id < 0)
		close(tmpl.loop_fd);
	return id;
}

static void update_timeout(int id, int timeout_ms)
{
	struct virt_watch *w;

	pthread_mutex_lock(&state_lock);
	w = find(id, WATCH_TIMER);
	if (w)
		arm_timer(w->loop_fd, timeout_ms);
	pthread_mutex_unlock(&state_lock);
}

static int remove_timeout(int id)
{
	return remove_watch(id, WATCH_TIMER);
}

int ms_virt_event_register(struct ms_loop *loop)
{
	struct virt_event_state *s;
	int ret;

	if (state)
		return -EALREADY;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->loop_thread = pthread_self();
	s->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->kick_fd < 0) {
		ret = -errno;
		free(s);
		return ret;
	}
	ret = ms_loop_add(loop, s->kick_fd, EPOLLIN, on_kick, NULL);
	if (ret) {
		close(s->kick_fd);
		free(s);
		return ret;
	}
	pthread_mutex_lock(&state_lock);
	state = s;
	pthread_mutex_unlock(&state_lock);
	/* libvirt keeps the first implementation for good (9.0 logs a warning on a second). */
	if (!impl_registered)
		virEventRegisterImpl(add_handle, update_handle, remove_handle, add_timeout,
				     update_timeout, remove_timeout);
	impl_registered = true;
	return 0;
}

void ms_virt_event_shutdown(void)
{
	struct release releases[MS_VIRT_MAX_WATCHES];
	size_t n;

	pthread_mutex_lock(&state_lock);
	if (!state) {
		pthread_mutex_unlock(&state_lock);
		return;
	}
	for (int i = 0; i < MS_VIRT_MAX_WATCHES; i++) {
		struct virt_watch *w = &state->watches[i];

		/* Live ones belong to a connection never closed: they are dropped, not released. */
		if (w->kind == WATCH_HANDLE || w->kind == WATCH_TIMER) {
			w->kind = WATCH_DEAD;
			w->ff = NULL;
		}
		sync_watch(w);
	}
	n = take_releases(releases);
	ms_loop_del(state->loop, state->kick_fd);
	close(state->kick_fd);
	free(state);
	state = NULL;
	pthread_mutex_unlock(&state_lock);
	run_releases(releases, n);
}
