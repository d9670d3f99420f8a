/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The libvirt connection: opened and re-opened with back-off, domain events
 * (lifecycle, migration iteration, job completed) delivered through the
 * agent's loop, and the few per-domain calls the agent needs. It keeps no
 * view of migrations; the coordinator does.
 */
#ifndef MS_VIRT_H
#define MS_VIRT_H

#include <stdbool.h>
#include <linux/types.h>
#include <libvirt/libvirt.h>

#include "jobstats.h"
#include "migration.h"

struct ms_loop;
struct ms_virt;

enum ms_virt_event_kind {
	MS_VIRT_EV_LIFECYCLE,     /* detail: the lifecycle event, sub: its detail */
	MS_VIRT_EV_ITERATION,     /* detail: the iteration number */
	MS_VIRT_EV_JOB_COMPLETED, /* stats: the completed job */
	/*
	 * The local daemon saved some domain's status (no name, no uuid): a
	 * migration job started or changed phase, e.g. before a tunnelled
	 * migration's stream starts in libvirtd's own connection.
	 */
	MS_VIRT_EV_STATUS_SAVED,
};

struct ms_virt_event {
	enum ms_virt_event_kind kind;
	const char *name;
	const unsigned char *uuid;
	int detail;
	int sub;
	const struct ms_job_stats *stats;
};

/* One migration job found by a scan. */
struct ms_virt_job {
	const char *name;
	const unsigned char *uuid;
	enum ms_mig_dir dir;
	const struct ms_job_stats *stats;
};

struct ms_virt_ops {
	/* The connection is up (again): a full scan is due. */
	void (*connected)(void *ctx);
	void (*disconnected)(void *ctx);
	void (*event)(void *ctx, const struct ms_virt_event *ev);
};

/*
 * Starts connecting to uri (NULL: qemu:///system). Every libvirt call runs on
 * a thread of the watcher's, so the loop never waits for a daemon that does
 * not answer. A failure to connect is not an error: the watcher retries with
 * back-off (1 s doubling to 30 s) and logs once per step. The loop must
 * already carry libvirt's event implementation (ms_virt_event_register).
 */
int ms_virt_open(struct ms_loop *loop, const char *uri, const struct ms_virt_ops *ops, void *ctx,
		 struct ms_virt **out);
/* Returns within about a second, even while the daemon does not answer. */
void ms_virt_close(struct ms_virt *v);
/* False also while a call that timed out still waits for its answer. */
bool ms_virt_connected(const struct ms_virt *v);
__u64 ms_virt_reconnects(const struct ms_virt *v);
/* Calls that got no answer within the call timeout (2 s). */
__u64 ms_virt_timeouts(const struct ms_virt *v);
/*
 * Calls refused with -EBUSY: the loop had spent its budget for waiting on
 * libvirt (about a second at a stretch, half its time at most; virt.c).
 */
__u64 ms_virt_deferred(const struct ms_virt *v);
/*
 * While exempt, calls wait whatever the budget: for what no later cycle
 * makes again (an escalation action the policy decided once, putting back a
 * manager's speed when a job ends). Each call is still bounded by the call
 * timeout.
 */
void ms_virt_exempt(struct ms_virt *v, bool exempt);

typedef void (*ms_virt_job_cb)(void *ctx, const struct ms_virt_job *job);
/*
 * Lists active domains and calls cb for each that runs a migration job.
 * Returns the number found or -errno: -ENOTCONN while disconnected, -EAGAIN
 * when some domain's job could not be read (cb was still called for the
 * others; a job missing from such a scan may still be running).
 *
 * This and the calls below wait for the daemon at most 2 s, then return
 * -ETIMEDOUT; until the answer comes, the connection is not usable
 * (ms_virt_connected() is false and calls return -ENOTCONN). Once calls
 * have kept the loop waiting too long, they return -EBUSY at once for a
 * while (ms_virt_deferred()): a slow daemon's calls are made at a later
 * cycle.
 */
int ms_virt_scan(struct ms_virt *v, ms_virt_job_cb cb, void *ctx);

/* Stats of the domain's current job, or with completed=true of its last finished one. */
int ms_virt_job_stats(struct ms_virt *v, const unsigned char *uuid, bool completed,
		      struct ms_job_stats *out);
/* -ENOENT when the domain is gone from this host (or inactive). */
int ms_virt_domain_running(struct ms_virt *v, const unsigned char *uuid);
/*
 * The direction of the migration a job is, from its operation (a listing's
 * or a job-completed event's stats); -ENOENT if it is no migration or does
 * not say.
 */
int ms_virt_job_direction(const struct ms_job_stats *st, enum ms_mig_dir *dir);
/*
 * What ms_virt_get_speed() reads when nobody set a speed (libvirt's default,
 * 8796093022207 MiB/s for QEMU, saturated); ms_virt_set_speed() with it puts
 * that default back.
 */
#define MS_VIRT_SPEED_UNLIMITED 0xffffffffU
/* libvirt's default and largest speed for QEMU: INT64_MAX bytes/s in MiB/s. */
#define MS_VIRT_LIBVIRT_SPEED_MAX_MIBS (0x7fffffffffffffffULL >> 20)
int ms_virt_set_speed(struct ms_virt *v, const unsigned char *uuid, __u32 mibs);
/*
 * The escalation steps: virDomainMigrateSetMaxDowntime, ...StartPostCopy,
 * Suspend, AbortJob. Like every call on a domain here, each returns -EPERM
 * when libvirt refuses it as invalid in the domain's state
 * (VIR_ERR_OPERATION_INVALID, e.g. post-copy on a migration not started with
 * VIR_MIGRATE_POSTCOPY), -EIO for libvirt's other errors.
 */
int ms_virt_set_max_downtime(struct ms_virt *v, const unsigned char *uuid, __u32 ms);
int ms_virt_start_postcopy(struct ms_virt *v, const unsigned char *uuid);
int ms_virt_suspend(struct ms_virt *v, const unsigned char *uuid);
int ms_virt_abort(struct ms_virt *v, const unsigned char *uuid);
int ms_virt_get_speed(struct ms_virt *v, const unsigned char *uuid, __u32 *mibs);
/*
 * Once a migration is in post-copy, QEMU limits it by its post-copy
 * bandwidth, a parameter of its own (VIR_DOMAIN_MIGRATE_MAX_SPEED_POSTCOPY,
 * libvirt 5.1): the pre-copy speed then reads as libvirt's saturated
 * default and setting it changes nothing. MiB/s; 0 reads as no limit.
 */
int ms_virt_set_postcopy_speed(struct ms_virt *v, const unsigned char *uuid, __u32 mibs);
int ms_virt_get_postcopy_speed(struct ms_virt *v, const unsigned char *uuid, __u32 *mibs);
/* virDomainMigrateGetMaxDowntime (libvirt 3.7): QEMU's downtime limit now. */
int ms_virt_get_max_downtime(struct ms_virt *v, const unsigned char *uuid, __u32 *ms);

#endif /* MS_VIRT_H */
