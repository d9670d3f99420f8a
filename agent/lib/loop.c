// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The epoll event loop: owns the epoll fd and the table of registered sources. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loop.h"

#define MS_LOOP_MAX_SOURCES 64
#define MS_LOOP_BATCH 16

struct ms_loop_source {
	int fd;
	/*
	 * Bumped when the slot is freed. epoll hands back (slot, generation),
	 * so an event still pending for a removed source is never delivered to
	 * a new source that took the slot within the same batch.
	 */
	uint32_t gen;
	ms_loop_cb cb;
	void *ctx;
};

struct ms_loop {
	int epoll_fd;
	bool stopping;
	int status;
	struct ms_loop_source sources[MS_LOOP_MAX_SOURCES];
};

int ms_loop_new(struct ms_loop **out)
{
	struct ms_loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return -ENOMEM;
	loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epoll_fd < 0) {
		int ret = -errno;

		free(loop);
		return ret;
	}
	for (int i = 0; i < MS_LOOP_MAX_SOURCES; i++)
		loop->sources[i].fd = -1;
	*out = loop;
	return 0;
}

static uint64_t event_tag(const struct ms_loop *loop, const struct ms_loop_source *src)
{
	return (uint64_t)src->gen << 32 | (uint64_t)(src - loop->sources);
}

int ms_loop_add(struct ms_loop *loop, int fd, uint32_t events, ms_loop_cb cb, void *ctx)
{
	struct epoll_event ev = { .events = events };

	for (int i = 0; i < MS_LOOP_MAX_SOURCES; i++) {
		struct ms_loop_source *src = &loop->sources[i];

		if (src->fd >= 0)
			continue;
		ev.data.u64 = event_tag(loop, src);
		if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
			return -errno;
		src->fd = fd;
		src->cb = cb;
		src->ctx = ctx;
		return 0;
	}
	return -ENOSPC;
}

int ms_loop_mod(struct ms_loop *loop, int fd, uint32_t events)
{
	for (int i = 0; i < MS_LOOP_MAX_SOURCES; i++) {
		struct ms_loop_source *src = &loop->sources[i];
		struct epoll_event ev = { .events = events, .data.u64 = event_tag(loop, src) };

		if (src->fd != fd)
			continue;
		if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_MOD, fd, &ev) < 0)
			return -errno;
		return 0;
	}
	return -ENOENT;
}

int ms_loop_del(struct ms_loop *loop, int fd)
{
	for (int i = 0; i < MS_LOOP_MAX_SOURCES; i++) {
		struct ms_loop_source *src = &loop->sources[i];

		if (src->fd != fd)
			continue;
		epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
		src->fd = -1;
		src->gen++;
		return 0;
	}
	return -ENOENT;
}

void ms_loop_stop(struct ms_loop *loop, int status)
{
	loop->stopping = true;
	loop->status = status;
}

int ms_loop_run(struct ms_loop *loop)
{
	struct epoll_event events[MS_LOOP_BATCH];

	while (!loop->stopping) {
		int n = epoll_wait(loop->epoll_fd, events, MS_LOOP_BATCH, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !loop->stopping; i++) {
			uint64_t tag = events[i].data.u64;
			struct ms_loop_source *src = &loop->sources[(uint32_t)tag % MS_LOOP_MAX_SOURCES];
			int ret;

			/* A callback earlier in this batch may have removed it, or replaced it. */
			if (src->fd < 0 || src->gen != (uint32_t)(tag >> 32))
				continue;
			ret = src->cb(src->ctx, events[i].events);
			if (ret < 0)
				ms_loop_stop(loop, ret);
		}
	}
	return loop->status;
}

void ms_loop_free(struct ms_loop *loop)
{
	if (!loop)
		return;
	close(loop->epoll_fd);
	free(loop);
}
