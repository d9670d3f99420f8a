/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The knob tree: a sysfs-style FUSE file system through which operators read
 * and change the settings of a running agent and read its migrations and
 * class counters. Served from the agent's own event loop (libfuse low-level
 * API), so every request runs on the loop's thread between other events.
 *
 * Layout, mounted at <mount_root>/<ifname> (the tree's root is the interface
 * directory, so agents for several interfaces share one mount_root):
 *
 *   link_mbps mgmt_reserve_mbps ... libvirt_uri    0600, one knob per config key,
 *                                                  the value as requested ("auto" kept)
 *   effective/<knob>                               0400, the value in force (auto resolved)
 *   mgmt_cidrs                                     0600, one CIDR per line
 *   mgmt_ports                                     0600, one comma-separated line
 *   migration_ports                                0600, MIN-MAX
 *   migrations/<domain>/{class,rate_mbps,...}      0400
 *   stats/<class>/{bytes,packets,drops}            0400
 *
 * Reading gives the value and a newline. A write carries the whole value (as
 * `echo` sends it: at offset 0, one trailing newline allowed, shorter than
 * MS_KNOBS_WRITE_MAX bytes); it is checked with ms_config_set() and
 * ms_config_resolve() on a copy of the running settings and then handed to
 * ops->apply(), and returns only after apply did, with its error if it
 * failed. A rejected write changes nothing and is logged with the reason.
 * Writes that continue where the previous write through the same open file
 * ended extend the value and apply all of it again (bash's echo writes a
 * value with embedded newlines line by line). A lone newline clears a list
 * knob and is refused elsewhere; an open without a write changes nothing.
 *
 * The agent must never touch its own mount: the loop that would answer is the
 * one blocked in the system call.
 */
#ifndef MS_KNOBS_H
#define MS_KNOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

struct ms_config;
struct ms_loop;
struct ms_migration_table;

#define MS_KNOBS_DEFAULT_ROOT "/run/migshaper"
/* The largest value a single write may carry (mgmt_cidrs at MS_CIDR_MAX fits). */
#define MS_KNOBS_WRITE_MAX (64U * 1024U)

struct ms_knobs_ops {
	/*
	 * The settings as requested (file, SIGHUP and knob writes; "auto" kept
	 * as 0). A write starts from these. Required.
	 */
	const struct ms_config *(*config)(void *ctx);
	/* The settings in force (auto resolved); shown under effective/. Required. */
	const struct ms_config *(*effective)(void *ctx);
	/*
	 * Makes next the requested settings and puts what it resolves to in
	 * place: tc, BPF maps, libvirt. next has passed ms_config_resolve() on a
	 * copy. All or nothing: on error the running state is unchanged.
	 * Returns 0 or -errno, with a message in err. Required.
	 */
	int (*apply)(void *ctx, const struct ms_config *next, char *err, size_t err_len);
	/* The migration table; the op may be NULL or return NULL (none). */
	const struct ms_migration_table *(*migrations)(void *ctx);
	/* Counters of one HTB class; -ENOENT if absent. May be NULL (no stats/). */
	int (*class_stats)(void *ctx, __u32 minor, __u64 *bytes, __u64 *packets, __u64 *drops);
	/*
	 * Link speed the driver reports in Mbit/s, 0 if unknown; used to check
	 * a write of "auto" to link_mbps. May be NULL (unknown).
	 */
	__u32 (*link_speed_mbps)(void *ctx);
};

struct ms_knobs;

/*
 * Creates <mount_root>/<ifname> if needed (clearing a stale mount of a dead
 * agent there), mounts the tree and adds the FUSE device to loop. Returns 0
 * or -errno; -ENODEV/-ENOENT/-EACCES etc. when FUSE is unavailable, in which
 * case the caller may run on without knobs. ops and ctx must outlive k.
 */
int ms_knobs_start(struct ms_loop *loop, const char *mount_root, const char *ifname,
		   const struct ms_knobs_ops *ops, void *ctx, struct ms_knobs **out);
/* Unmounts, removes the directory it created and frees k. NULL is a no-op. */
void ms_knobs_stop(struct ms_knobs *k);
/*
 * Without an agent (--cleanup): detaches the knob mount a dead agent left at
 * <mount_root>/<ifname> and removes the directory. -EBUSY if a live mount
 * is there (rmdir refuses).
 */
int ms_knobs_cleanup(const char *mount_root, const char *ifname);
/* Writes accepted (applied) or rejected so far, for metrics. */
__u64 ms_knobs_writes(const struct ms_knobs *k, bool accepted);
/* At most this many knob files are open at once; more opens get ENFILE. */
#define MS_KNOBS_OPEN_MAX 1024U
/* Opens refused by that limit. */
__u64 ms_knobs_open_refused(const struct ms_knobs *k);

#endif /* MS_KNOBS_H */
