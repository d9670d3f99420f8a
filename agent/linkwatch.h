/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Watches one interface over rtnetlink (libmnl): tells the agent when it goes
 * up or down, or is deleted, so the agent never shapes a vanished device.
 */
#ifndef MS_LINKWATCH_H
#define MS_LINKWATCH_H

#include <stdbool.h>

struct ms_linkwatch;

enum ms_link_event {
	MS_LINK_CHANGED, /* flags, MTU or state changed */
	MS_LINK_DELETED,
};

typedef void (*ms_link_cb)(void *ctx, enum ms_link_event event, unsigned int ifi_flags);

int ms_linkwatch_open(int ifindex, ms_link_cb cb, void *ctx, struct ms_linkwatch **out);
int ms_linkwatch_fd(const struct ms_linkwatch *lw);
/*
 * Reads what is pending and calls cb. After a lost message (ENOBUFS) it
 * checks the interface directly, so a deletion is never missed.
 */
int ms_linkwatch_dispatch(struct ms_linkwatch *lw);
void ms_linkwatch_close(struct ms_linkwatch *lw);

#endif /* MS_LINKWATCH_H */
