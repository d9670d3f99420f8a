/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * libvirt's event loop, run inside the agent's own epoll loop: libvirt's
 * handles become loop fds and its timeouts become timerfds, so the agent
 * keeps a single place where it waits. libvirt may call the implementation
 * from any thread (virt.c makes its libvirt calls on a thread of its own);
 * the loop is still touched only from the loop's thread, which applies
 * changes made elsewhere on its next turn, and runs every callback.
 */
#ifndef MS_VIRT_EVENT_H
#define MS_VIRT_EVENT_H

struct ms_loop;

/*
 * Registers the implementation with virEventRegisterImpl(), before the first
 * virConnectOpen(), from the thread that runs the loop. libvirt allows one
 * implementation per process and its callbacks carry no context, so one loop
 * at a time carries it: again only after ms_virt_event_shutdown().
 */
int ms_virt_event_register(struct ms_loop *loop);

/*
 * Stops watching every fd and timer, and runs the releases still due.
 * libvirt cannot unregister an event implementation: call this only at exit,
 * after the last connection closed. Calls libvirt makes afterwards fail.
 */
void ms_virt_event_shutdown(void);

#endif /* MS_VIRT_EVENT_H */
