/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The HTB tree on the shared NIC, built and changed over rtnetlink with
 * libnl-route-3. Layout (minors from include/migshaper.h):
 *
 *   htb MS_HTB_MAJOR:0, default MS_MINOR_DEFAULT
 *   `- LINK        rate = ceil = link
 *      |- MGMT        rate = mgmt_reserve, ceil = link, prio 0
 *      |- AGGREGATE   rate = migration_aggregate, ceil = migration_ceil, prio 3
 *      |  |- MIG_BASE + slot   rate = share, ceil = given, prio 3
 *      |  `- UNATTRIBUTED      rate = migration_min, ceil = migration_max, prio 3
 *      `- DEFAULT     rate = max(link - reserve - aggregate, 1% of link), ceil = link, prio 2
 *
 * Every function returns 0 or -errno. Rates are in bits per second.
 */
#ifndef MS_TC_HTB_H
#define MS_TC_HTB_H

#include <stdbool.h>
#include <linux/types.h>

struct ms_htb_params {
	int ifindex;
	__u32 mtu; /* bytes; 0 = read from the link */
	__u64 link_bps;
	__u64 mgmt_reserve_bps;
	__u64 migration_aggregate_bps;
	/*
	 * Ceil of the aggregate: up to the link when migrations may borrow
	 * what management and default traffic leave (work-conserving
	 * defaults); 0 = the aggregate itself, a hard cap.
	 */
	__u64 migration_ceil_bps;
	__u64 migration_max_bps; /* ceil of the unattributed leaf */
	__u64 migration_min_bps; /* rate of the unattributed leaf */
};

/*
 * Per-class HTB geometry. The burst fields are the token-bucket depths in
 * bytes (libnl's rbuffer/cbuffer); the *_us fields are the same depths as
 * the time libnl hands the kernel, truncated to whole microseconds.
 */
struct ms_htb_geometry {
	__u32 quantum_bytes;
	__u32 burst_bytes;
	__u32 cburst_bytes;
	__u32 buffer_us;
	__u32 cbuffer_us;
};

/* Rates below this (1000 bytes/s) are rejected: their buckets would not fit
 * the kernel's 32-bit tick counters. */
#define MS_HTB_MIN_RATE_BPS 8000ULL

/* Pure; -EINVAL on a rate below MS_HTB_MIN_RATE_BPS, rate > ceil, mtu 0 or
 * mtu above 65536. */
int ms_htb_geometry_compute(__u64 rate_bps, __u64 ceil_bps, __u32 mtu, struct ms_htb_geometry *out);

struct ms_htb;

/*
 * A root qdisc as the kernel dumped it: kind, handle and the raw TCA_OPTIONS
 * and TCA_STAB payloads. present=false stands for the kernel's default root,
 * which deleting ours brings back.
 */
struct ms_htb_root {
	bool present;
	__u32 handle;
	char kind[32];
	void *opts;
	int opts_len;
	void *stab;
	int stab_len;
};

/* Frees the payloads and zeroes *r. */
void ms_htb_root_clear(struct ms_htb_root *r);
/*
 * What ms_htb_restore() will put back becomes a copy of orig: the root a
 * previous agent recorded before its tree went missing.
 */
int ms_htb_orig_set(struct ms_htb *h, const struct ms_htb_root *orig);
/* A copy of what ms_htb_restore() will put back; the caller clears it. */
int ms_htb_orig_get(const struct ms_htb *h, struct ms_htb_root *out);

/* Saves the original root qdisc and builds the tree all-or-nothing: on
 * failure the original root is put back. -ENODEV for a bad ifindex. */
int ms_htb_install(const struct ms_htb_params *p, struct ms_htb **out);
/*
 * Takes over the tree a previous agent left on p->ifindex (fail-static after
 * a crash): nothing is deleted or re-created. Fixed classes whose rate, ceil,
 * prio or quantum differ from p are changed in place, missing ones added;
 * per-migration classes are recorded as present with whatever rates they
 * have. orig is what ms_htb_restore() will put back (copied). -ENOENT if the
 * root qdisc is not our tree, -ENODEV for a bad ifindex.
 */
int ms_htb_adopt(const struct ms_htb_params *p, const struct ms_htb_root *orig,
		 struct ms_htb **out);
/* Whether a per-migration class exists in the tree (as installed or adopted). */
bool ms_htb_mig_class_present(const struct ms_htb *h, __u32 minor);
/*
 * Without an agent: if the root qdisc of ifindex is our tree, puts orig back
 * in its place (--cleanup). 0 if there was nothing of ours, -ESTALE if the
 * root is someone else's (left alone).
 */
int ms_htb_cleanup(int ifindex, const struct ms_htb_root *orig);
enum ms_htb_root_kind {
	MS_HTB_ROOT_OURS,    /* our tree */
	MS_HTB_ROOT_DEFAULT, /* none, or the kernel's default */
	MS_HTB_ROOT_FOREIGN, /* another tool's root qdisc */
};
/* What the root qdisc of the tree's link is now (one dump), or -errno. */
int ms_htb_root_kind(struct ms_htb *h);
/*
 * Yields to another tool's root qdisc: from now on class changes are only
 * recorded (and succeed), until ms_htb_reassert().
 */
void ms_htb_suspend(struct ms_htb *h);
/*
 * Puts our tree back after another tool replaced or deleted the root:
 * installs the root and every class (fixed and per-migration, at their last
 * rates) again. The original root saved at install is kept.
 */
int ms_htb_reassert(struct ms_htb *h);
/*
 * Moves the tree to another link (the multiqueue backend's IFB, made again
 * after it was deleted) and builds it there as ms_htb_reassert() does, every
 * class at its last rates. What ms_htb_restore() puts back becomes the new
 * link's root as found. On a failure no tree is left half made there.
 */
int ms_htb_move(struct ms_htb *h, int ifindex);

/* Changes the fixed classes whose rate, ceil or geometry differ, one netlink
 * change each; on a failure the classes already changed are reverted. */
int ms_htb_apply(struct ms_htb *h, const struct ms_htb_params *p);
/* minor must satisfy ms_minor_is_migration(). add: -EEXIST if present;
 * change/del: -ENOENT if absent. */
int ms_htb_mig_class_add(struct ms_htb *h, __u32 minor, __u64 rate_bps, __u64 ceil_bps);
int ms_htb_mig_class_change(struct ms_htb *h, __u32 minor, __u64 rate_bps, __u64 ceil_bps);
int ms_htb_mig_class_del(struct ms_htb *h, __u32 minor);

struct ms_htb_class_stats {
	__u64 bytes, packets, drops, overlimits;
	__u32 backlog_bytes, qlen;
	__u64 rate_bps, ceil_bps; /* configured, not measured */
};
/* -ENOENT if the class does not exist in the kernel. */
int ms_htb_class_read(struct ms_htb *h, __u32 minor, struct ms_htb_class_stats *st);
/* Restores the original root qdisc. Afterwards every call but ms_htb_free
 * returns -ENOENT. */
int ms_htb_restore(struct ms_htb *h);
/* Frees memory only and leaves the kernel state (fail-static); NULL-safe. */
void ms_htb_free(struct ms_htb *h);

#endif /* MS_TC_HTB_H */
