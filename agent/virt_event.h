/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * libvirt's event loop, run inside the agent's own epoll loop: libvirt's
 * handles become loop fds and its timeouts become timerfds, so the agent
 * keeps a single thread and a single place where it waits.
 */
#ifndef MS_VIRT_EVENT_H
#define MS_VIRT_EVENT_H

struct ms_loop;

/*
 * Registers the implementation with virEventRegisterImpl(). libvirt allows
 * one implementation per process and its callbacks carry no context, so this
 * may be called once, before the first virConnectOpen().
 */
int ms_virt_event_register(struct ms_loop *loop);

/*
 * Stops watching every fd and timer. libvirt cannot unregister an event
 * implementation: call this only at exit, after the last connection closed.
 */
void ms_virt_event_shutdown(void);

#endif /* MS_VIRT_EVENT_H */
