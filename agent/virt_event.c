// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libvirt event implementation over ms_loop. libvirt's callbacks have no
 * context argument, so the table of watches and timers is file-scope state,
 * set once by ms_virt_event_register(): the one exception to "no global
 * state", forced by the shape of virEventRegisterImpl().
 *
 * libvirt requires that free callbacks run "from a clean stack", never from
 * inside a remove call, or it may deadlock on its own locks; removals are
 * therefore deferred to an eventfd that the loop serves next.
 */
#include <errno.h>
#include <fcntl.h>
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
	/* The fd given to the loop: a dup of libvirt's for handles, a timerfd for timers. */
	int loop_fd;
	int libvirt_fd;
	virEventHandleCallback handle_cb;
	virEventTimeoutCallback timer_cb;
	void *opaque;
	virFreeCallback ff;
};

struct virt_event_state {
	struct ms_loop *loop;
	int reap_fd;
	int next_id;
	struct virt_watch watches[MS_VIRT_MAX_WATCHES];
};

static struct virt_event_state *state;

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

static struct virt_watch *find(int id, enum watch_kind kind)
{
	/* libvirt may still release handles after ms_virt_event_shutdown(). */
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
		w->id = ++state->next_id;
		w->loop_fd = -1;
		return w;
	}
	return NULL;
}

static int on_handle(void *ctx, uint32_t events)
{
	struct virt_watch *w = ctx;

	if (w->kind == WATCH_HANDLE)
		w->handle_cb(w->id, w->libvirt_fd, from_epoll(events), w->opaque);
	return 0;
}

static int on_timer(void *ctx, uint32_t events)
{
	struct virt_watch *w = ctx;
	uint64_t expirations;

	(void)events;
	if (read(w->loop_fd, &expirations, sizeof(expirations)) < 0 && errno == EAGAIN)
		return 0;
	if (w->kind == WATCH_TIMER)
		w->timer_cb(w->id, w->opaque);
	return 0;
}

/* Runs the free callbacks of removed watches, outside any libvirt call. */
static int on_reap(void *ctx, uint32_t events)
{
	uint64_t count;

	(void)ctx;
	(void)events;
	if (read(state->reap_fd, &count, sizeof(count)) < 0)
		return 0;
	for (int i = 0; i < MS_VIRT_MAX_WATCHES; i++) {
		struct virt_watch *w = &state->watches[i];

		if (w->kind != WATCH_DEAD)
			continue;
		w->kind = WATCH_FREE;
		if (w->ff)
			w->ff(w->opaque);
	}
	return 0;
}

static void kill_watch(struct virt_watch *w)
{
	uint64_t one = 1;

	ms_loop_del(state->loop, w->loop_fd);
	close(w->loop_fd);
	w->loop_fd = -1;
	w->kind = WATCH_DEAD;
	if (write(state->reap_fd, &one, sizeof(one)) < 0)
		ms_warn("libvirt events: cannot schedule a release: %s", strerror(errno));
}

static int add_handle(int fd, int events, virEventHandleCallback cb, void *opaque,
		      virFreeCallback ff)
{
	struct virt_watch *w = alloc_watch();

	if (!w)
		return -1;
	/* A private dup: libvirt may watch one fd twice, which epoll refuses. */
	w->loop_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (w->loop_fd < 0)
		return -1;
	if (ms_loop_add(state->loop, w->loop_fd, to_epoll(events), on_handle, w)) {
		close(w->loop_fd);
		return -1;
	}
	w->kind = WATCH_HANDLE;
	w->libvirt_fd = fd;
	w->handle_cb = cb;
	w->opaque = opaque;
	w->ff = ff;
	return w->id;
}

static void update_handle(int id, int events)
{
	struct virt_watch *w = find(id, WATCH_HANDLE);

	if (w)
		ms_loop_mod(state->loop, w->loop_fd, to_epoll(events));
}

static int remove_handle(int id)
{
	struct virt_watch *w = find(id, WATCH_HANDLE);

	if (!w)
		return -1;
	kill_watch(w);
	return 0;
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

static int add_timeout(int timeout_ms, virEventTimeoutCallback cb, void *opaque,
		       virFreeCallback ff)
{
	struct virt_watch *w = alloc_watch();

	if (!w)
		return -1;
	w->loop_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (w->loop_fd < 0)
		return -1;
	if (arm_timer(w->loop_fd, timeout_ms) < 0 ||
	    ms_loop_add(state->loop, w->loop_fd, EPOLLIN, on_timer, w)) {
		close(w->loop_fd);
		return -1;
	}
	w->kind = WATCH_TIMER;
	w->timer_cb = cb;
	w->opaque = opaque;
	w->ff = ff;
	return w->id;
}

static void update_timeout(int id, int timeout_ms)
{
	struct virt_watch *w = find(id, WATCH_TIMER);

	if (w)
		arm_timer(w->loop_fd, timeout_ms);
}

static int remove_timeout(int id)
{
	struct virt_watch *w = find(id, WATCH_TIMER);

	if (!w)
		return -1;
	kill_watch(w);
	return 0;
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
	s->reap_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->reap_fd < 0) {
		ret = -errno;
		free(s);
		return ret;
	}
	ret = ms_loop_add(loop, s->reap_fd, EPOLLIN, on_reap, NULL);
	if (ret) {
		close(s->reap_fd);
		free(s);
		return ret;
	}
	state = s;
	virEventRegisterImpl(add_handle, update_handle, remove_handle, add_timeout,
			     update_timeout, remove_timeout);
	return 0;
}

void ms_virt_event_shutdown(void)
{
	if (!state)
		return;
	for (int i = 0; i < MS_VIRT_MAX_WATCHES; i++) {
		struct virt_watch *w = &state->watches[i];

		if (w->kind == WATCH_HANDLE || w->kind == WATCH_TIMER) {
			ms_loop_del(state->loop, w->loop_fd);
			close(w->loop_fd);
		}
		w->kind = WATCH_FREE;
	}
	ms_loop_del(state->loop, state->reap_fd);
	close(state->reap_fd);
	free(state);
	state = NULL;
}
