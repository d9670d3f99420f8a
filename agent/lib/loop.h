/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The agent's single event loop (epoll). Every source of work (signals, the
 * BPF ring buffer, rtnetlink, timers, later libvirt, FUSE and HTTP) registers
 * an fd and a callback here; nothing else blocks.
 */
#ifndef MS_LOOP_H
#define MS_LOOP_H

#include <stdint.h>

struct ms_loop;

/* Returns 0 to continue; a negative errno stops the loop with that status. */
typedef int (*ms_loop_cb)(void *ctx, uint32_t events);

int ms_loop_new(struct ms_loop **out);
int ms_loop_add(struct ms_loop *loop, int fd, uint32_t events, ms_loop_cb cb, void *ctx);
/* Changes the epoll events an fd waits for; 0 waits for nothing. */
int ms_loop_mod(struct ms_loop *loop, int fd, uint32_t events);
int ms_loop_del(struct ms_loop *loop, int fd);
/* Runs until ms_loop_stop() or a callback fails; returns the stop status. */
int ms_loop_run(struct ms_loop *loop);
void ms_loop_stop(struct ms_loop *loop, int status);
void ms_loop_free(struct ms_loop *loop);

#endif /* MS_LOOP_H */
