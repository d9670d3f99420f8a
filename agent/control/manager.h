/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What the manager holds of a migration. migshaper runs under a manager
 * (oVirt's engine and vdsm, OpenStack Nova, KubeVirt, Proxmox) that sets
 * migration parameters itself: Nova starts a migration at the minimum speed
 * and raises it when the destination is ready, vdsm runs its own downtime
 * schedule and abort policy. The agent remembers what it set; a value read
 * back from libvirt that differs was set by someone else and is, from then
 * on, a limit for that migration:
 *
 *   speed     the agent's speed is min(its allocation, the manager's); the
 *             class shrinks to match (the policy's manager_max_mibs) and
 *             the bandwidth freed goes to the other migrations. Put back
 *             to libvirt's default (a manager that lifted it, or libvirt at
 *             the end of the job), the speed is left alone from then on.
 *   downtime  never set below what the manager set
 *   actions   no post-copy, suspend or abort for a migration whose manager
 *             has acted on it (held its speed or downtime, or started
 *             post-copy itself); raising the downtime stays allowed
 *
 * A manager that sets the very speed the agent set cannot be told apart
 * from no change: it holds nothing until its value differs.
 *
 * Escalation modes (enum ms_escalation_mode, policy.h): off, advise, act;
 * act carries actions out within the limits above.
 *
 * Pure: decisions on struct ms_migration's manager fields (migration.h);
 * the coordinator reads and writes libvirt.
 */
#ifndef MS_MANAGER_H
#define MS_MANAGER_H

#include <stdbool.h>
#include <linux/types.h>

#include "migration.h"
#include "policy.h"

/* QEMU's downtime-limit when nobody set one. */
#define MS_QEMU_DEFAULT_DOWNTIME_MS 300

/*
 * libvirt's speed reads current_mibs (MS_VIRT_SPEED_UNLIMITED for libvirt's
 * default); the allocation asks for alloc_mibs. Notes what the manager holds
 * (*noticed: a manager value seen for the first time or changed) and returns
 * the speed to set, or 0 when the one in force is right. The caller records
 * a speed it set in m->libvirt_speed_mibs.
 */
__u32 ms_manager_speed(struct ms_migration *m, __u32 current_mibs, __u32 alloc_mibs, bool *noticed);
/* The most the agent may set: the manager's speed, 0 for no limit. */
__u32 ms_manager_speed_ceiling(const struct ms_migration *m);

/*
 * The max downtime reads current_ms; the policy asks for want_ms. Like
 * ms_manager_speed(): the downtime to set or 0, never below the manager's.
 * The caller records a downtime it set in m->max_downtime_ms.
 */
__u32 ms_manager_downtime(struct ms_migration *m, __u32 current_ms, __u32 want_ms, bool *noticed);

/* Post-copy reported for m that the agent did not start: the manager's. */
void ms_manager_postcopy_seen(struct ms_migration *m);
/* The manager has acted on m: it holds its speed or downtime, or escalated it. */
bool ms_manager_acted(const struct ms_migration *m);

/* Whether the policy's action (enum ms_policy_action) may be carried out for m. */
bool ms_manager_allows(const struct ms_migration *m, int action, enum ms_escalation_mode mode);

/*
 * What to put back when the agent lets go of m (a clean stop; a migration
 * that failed and left the domain here): the manager's speed, else what was
 * in force before the agent set one (MS_VIRT_SPEED_UNLIMITED: libvirt's
 * default). 0 when the agent set nothing, or what it set is that already.
 */
__u32 ms_manager_speed_to_restore(const struct ms_migration *m);
/* The same for the max downtime (QEMU's default when none was read). */
__u32 ms_manager_downtime_to_restore(const struct ms_migration *m);

#endif /* MS_MANAGER_H */
