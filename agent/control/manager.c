// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* What the manager holds of a migration; see manager.h. Pure. */
#include <errno.h>
#include <string.h>

#include "manager.h"
#include "policy.h"
#include "virt.h"

__u32 ms_manager_speed(struct ms_migration *m, __u32 current_mibs, __u32 alloc_mibs, bool *noticed)
{
	__u32 want = alloc_mibs, manager;
	bool held;

	*noticed = false;
	/* A previous agent's speed is ours, not the manager's; what it found is lost. */
	if (m->speed_inherited) {
		m->speed_inherited = false;
		if (!m->libvirt_speed_mibs)
			m->libvirt_speed_mibs = current_mibs;
		if (!m->speed_found_mibs)
			m->speed_found_mibs = MS_VIRT_SPEED_UNLIMITED;
	}
	if (!m->speed_found_mibs)
		m->speed_found_mibs = current_mibs;
	/* Before the agent set any, anything but libvirt's default is the manager's. */
	held = m->libvirt_speed_mibs ? current_mibs != m->libvirt_speed_mibs
				     : current_mibs != MS_VIRT_SPEED_UNLIMITED;
	if (held) {
		manager = current_mibs == MS_VIRT_SPEED_UNLIMITED ? 0 : current_mibs;
		*noticed = !m->manager_speed_held || m->manager_speed_mibs != manager;
		m->manager_speed_held = true;
		m->manager_speed_mibs = manager;
	}
	/*
	 * Back at libvirt's default: the manager lifted the limit, or the job
	 * ended and libvirt reset it. Either way the speed is not the agent's
	 * to set again (the class still shapes); one set after the job would
	 * stay with the domain for its next migration.
	 */
	if (m->manager_speed_held && !m->manager_speed_mibs) {
		m->libvirt_speed_mibs = current_mibs;
		return 0;
	}
	if (m->manager_speed_held && want > m->manager_speed_mibs)
		want = m->manager_speed_mibs;
	if (want == current_mibs) {
		m->libvirt_speed_mibs = current_mibs;
		return 0;
	}
	return want;
}

__u32 ms_manager_speed_ceiling(const struct ms_migration *m)
{
	return m->manager_speed_held ? m->manager_speed_mibs : 0;
}

__u32 ms_manager_downtime(struct ms_migration *m, __u32 current_ms, __u32 want_ms, bool *noticed)
{
	bool held;

	*noticed = false;
	if (!m->downtime_found_ms)
		m->downtime_found_ms = current_ms;
	held = m->max_downtime_ms ? current_ms != m->max_downtime_ms
				  : current_ms != MS_QEMU_DEFAULT_DOWNTIME_MS;
	if (held) {
		*noticed = !m->manager_downtime_held || m->manager_downtime_ms != current_ms;
		m->manager_downtime_held = true;
		m->manager_downtime_ms = current_ms;
	}
	if (m->manager_downtime_held && want_ms < m->manager_downtime_ms)
		want_ms = m->manager_downtime_ms;
	if (want_ms == current_ms) {
		m->max_downtime_ms = current_ms;
		return 0;
	}
	return want_ms;
}

void ms_manager_postcopy_seen(struct ms_migration *m)
{
	if (!m->actions_total[MS_POLICY_ACT_POSTCOPY])
		m->manager_escalated = true;
}

bool ms_manager_acted(const struct ms_migration *m)
{
	return m->manager_speed_held || m->manager_downtime_held || m->manager_escalated;
}

bool ms_manager_allows(const struct ms_migration *m, int action, enum ms_escalation_mode mode)
{
	if (mode != MS_ESCALATION_ACT)
		return false;
	switch (action) {
	case MS_POLICY_ACT_RAISE_DOWNTIME:
		return true;
	case MS_POLICY_ACT_POSTCOPY:
	case MS_POLICY_ACT_SUSPEND:
	case MS_POLICY_ACT_ABORT:
		return !ms_manager_acted(m);
	}
	return false;
}

__u32 ms_manager_speed_to_restore(const struct ms_migration *m)
{
	__u32 target;

	if (!m->libvirt_speed_mibs)
		return 0;
	if (m->manager_speed_held)
		target = m->manager_speed_mibs ? m->manager_speed_mibs : MS_VIRT_SPEED_UNLIMITED;
	else
		target = m->speed_found_mibs ? m->speed_found_mibs : MS_VIRT_SPEED_UNLIMITED;
	return target == m->libvirt_speed_mibs ? 0 : target;
}

__u32 ms_manager_downtime_to_restore(const struct ms_migration *m)
{
	__u32 target;

	if (!m->max_downtime_ms)
		return 0;
	if (m->manager_downtime_held)
		target = m->manager_downtime_ms;
	else
		target = m->downtime_found_ms ? m->downtime_found_ms : MS_QEMU_DEFAULT_DOWNTIME_MS;
	return target == m->max_downtime_ms ? 0 : target;
}
