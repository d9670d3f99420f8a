/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Watches one interface over rtnetlink (libmnl): tells the agent when it goes
 * up or down, when it is deleted, when an interface of the same name appears
 * again, and when its root qdisc is added, replaced or deleted, so the agent
 * never shapes a vanished device and can take a new one over.
 *
 * The watch follows the ifindex while it exists (a renamed interface is still
 * the one watched) and the name once it is deleted.
 */
#ifndef MS_LINKWATCH_H
#define MS_LINKWATCH_H

#include <stdbool.h>
#include <linux/types.h>

/* TCA_KIND is at most the kernel's IFNAMSIZ with its NUL. */
#define MS_QDISC_KIND_SIZE 16

struct ms_linkwatch;

enum ms_link_event {
	MS_LINK_CHANGED,    /* flags, MTU, carrier or another attribute changed */
	MS_LINK_DELETED,    /* the watched ifindex is gone (or moved to another netns) */
	MS_LINK_CREATED,    /* an interface of the watched name appeared; it is watched now */
	MS_LINK_ROOT_QDISC, /* the root qdisc was added, replaced or deleted */
};

struct ms_link_note {
	enum ms_link_event event;
	/* The interface it is about; for MS_LINK_CREATED the new one. */
	int ifindex;
	/* MS_LINK_CHANGED, MS_LINK_CREATED: IFF_UP, IFF_RUNNING, IFF_LOWER_UP... */
	unsigned int ifi_flags;
	/*
	 * MS_LINK_ROOT_QDISC: the qdisc's handle and TCA_KIND ("htb", "tbf",
	 * "noqueue"...). With qdisc_deleted, the one that was removed, or
	 * handle 0 and kind "" when a resync found no root qdisc at all.
	 */
	bool qdisc_deleted;
	__u32 qdisc_handle;
	char qdisc_kind[MS_QDISC_KIND_SIZE];
};

/*
 * Notes come in the kernel's order. Replacing a root qdisc is a deletion of
 * the old one then an addition of the new one, and the agent's own tc changes
 * are reported too: act on the last root qdisc note once
 * ms_linkwatch_dispatch() has returned, and tell the own qdisc by handle and
 * kind. cb must not call ms_linkwatch_dispatch() or ms_linkwatch_resync().
 */
typedef void (*ms_link_cb)(void *ctx, const struct ms_link_note *note);

/*
 * Watches ifindex, which the caller found under the name ifname. Subscribes,
 * and calls nothing yet: ms_linkwatch_resync() then reports what changed
 * since the caller looked the interface up.
 */
int ms_linkwatch_open(const char *ifname, int ifindex, ms_link_cb cb, void *ctx,
		      struct ms_linkwatch **out);
int ms_linkwatch_fd(const struct ms_linkwatch *lw);
/* The watched ifindex; 0 while the interface is deleted and no other has its name. */
int ms_linkwatch_ifindex(const struct ms_linkwatch *lw);
/*
 * Reads what is pending and calls cb. After lost messages (ENOBUFS) it
 * reports what is still queued, then resyncs (below): the last note about
 * each thing is current, and a deletion or re-creation is never missed. On an
 * error the state cb saw may be stale: call ms_linkwatch_resync() until it
 * succeeds.
 */
int ms_linkwatch_dispatch(struct ms_linkwatch *lw);
/*
 * Asks the kernel for the current state and reports it through cb: if the
 * watched ifindex exists, MS_LINK_CHANGED with its flags; if not,
 * MS_LINK_DELETED (unless already reported) and, if an interface of the name
 * exists, MS_LINK_CREATED. Then, if an interface is watched,
 * MS_LINK_ROOT_QDISC with its root qdisc. Returns 0 or -errno (-ETIMEDOUT if
 * the kernel does not answer).
 */
int ms_linkwatch_resync(struct ms_linkwatch *lw);
void ms_linkwatch_close(struct ms_linkwatch *lw);

#endif /* MS_LINKWATCH_H */
