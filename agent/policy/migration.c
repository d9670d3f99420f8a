// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Migration table, state machine and speed arithmetic. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "migration.h"
#include "units.h"

const struct ms_mig_field_desc ms_mig_fields[MS_MIG_N_FIELDS] = {
    [MS_MIG_FIELD_CLASS] = {"class", "", "its HTB class, none for an incoming migration"},
    [MS_MIG_FIELD_RATE] = {"rate_mbps", "Mbit/s", "the class rate in force"},
    [MS_MIG_FIELD_SPEED] = {"libvirt_speed_mibs", "MiB/s", "the libvirt migration speed set"},
    [MS_MIG_FIELD_REMAINING] = {"remaining_bytes", "bytes",
				"data left to transfer, as libvirt's job stats give it"},
    [MS_MIG_FIELD_DIRTY_RATE] = {"dirty_rate_bps", "bytes/s",
				 "guest memory dirtied per second, as libvirt's job stats give "
				 "it (under auto-converge: with the throttle in force)"},
    [MS_MIG_FIELD_ITERATION] = {"iteration", "", "QEMU's memory pass"},
    [MS_MIG_FIELD_STATE] = {"state", "", "migrating, completed, failed or cancelled"},
    [MS_MIG_FIELD_DIRECTION] = {"direction", "", "outgoing or incoming"},
    [MS_MIG_FIELD_ACTION] = {"action", "",
			     "the last escalation step the policy carried out (none, "
			     "raise_downtime, postcopy, suspend, abort)"},
    [MS_MIG_FIELD_STALLED] = {"stalled", "", "1 while the policy sees no progress"},
    [MS_MIG_FIELD_THROTTLE] = {"autoconverge_throttle_pct", "%",
			       "QEMU's auto-converge CPU throttle, off when it does not throttle"},
    [MS_MIG_FIELD_MANAGER_HELD] = {"manager_held", "",
				   "what its manager holds (speed, downtime, escalation), or none"},
    [MS_MIG_FIELD_ADVISED_ACTION] = {"advised_action", "",
				     "escalation = advise: the last action reported instead of "
				     "taken"},
    [MS_MIG_FIELD_STALL_EVENT] =
	{"stall_event", "s", "when it was last found stalled (seconds since the epoch), or none"},
    [MS_MIG_FIELD_STALL_EVENTS] = {"stall_events", "", "how many times it was found stalled"},
};

enum ms_mig_state ms_mig_next_state(enum ms_mig_state cur, enum ms_mig_event ev)
{
	switch (ev) {
	case MS_MIG_EV_ACTIVE:
		/* After an end, a new job of the same domain is a new migration. */
		return MS_MIG_ACTIVE;
	case MS_MIG_EV_COMPLETED:
		return cur == MS_MIG_ACTIVE ? MS_MIG_COMPLETED : cur;
	case MS_MIG_EV_FAILED:
		return cur == MS_MIG_ACTIVE ? MS_MIG_FAILED : cur;
	case MS_MIG_EV_CANCELLED:
		return cur == MS_MIG_ACTIVE ? MS_MIG_CANCELLED : cur;
	}
	return cur;
}

const char *ms_mig_state_name(enum ms_mig_state state)
{
	switch (state) {
	case MS_MIG_IDLE:
		return "idle";
	case MS_MIG_ACTIVE:
		return "migrating";
	case MS_MIG_COMPLETED:
		return "completed";
	case MS_MIG_FAILED:
		return "failed";
	case MS_MIG_CANCELLED:
		return "cancelled";
	}
	return "unknown";
}

const char *ms_mig_dir_name(enum ms_mig_dir dir)
{
	return dir == MS_MIG_OUTGOING ? "outgoing" : "incoming";
}

void ms_mig_table_init(struct ms_migration_table *t)
{
	memset(t, 0, sizeof(*t));
	ms_class_table_init(&t->classes);
}

struct ms_migration *ms_mig_find(struct ms_migration_table *t, const unsigned char *uuid)
{
	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++)
		if (t->entries[i].used && memcmp(t->entries[i].uuid, uuid, MS_UUID_LEN) == 0)
			return &t->entries[i];
	return NULL;
}

/* minor 0: allocate one (outgoing), otherwise claim that one. */
static struct ms_migration *mig_insert(struct ms_migration_table *t, const unsigned char *uuid,
				       const char *name, enum ms_mig_dir dir, __u32 minor,
				       __u64 now_ns)
{
	struct ms_migration *m = NULL;

	for (size_t i = 0; i < MS_MAX_MIGRATIONS && !m; i++)
		if (!t->entries[i].used)
			m = &t->entries[i];
	if (!m)
		return NULL;
	if (minor && ms_class_claim(&t->classes, t->next_id, minor))
		return NULL;
	if (!minor && dir == MS_MIG_OUTGOING && ms_class_alloc(&t->classes, t->next_id, &minor))
		return NULL;
	memset(m, 0, sizeof(*m));
	m->used = true;
	m->id = t->next_id++;
	snprintf(m->name, sizeof(m->name), "%s", name);
	memcpy(m->uuid, uuid, MS_UUID_LEN);
	m->dir = dir;
	m->state = MS_MIG_ACTIVE;
	m->minor = minor;
	m->started_ns = now_ns;
	return m;
}

struct ms_migration *ms_mig_add(struct ms_migration_table *t, const unsigned char *uuid,
				const char *name, enum ms_mig_dir dir, __u64 now_ns)
{
	return mig_insert(t, uuid, name, dir, 0, now_ns);
}

struct ms_migration *ms_mig_adopt(struct ms_migration_table *t, const unsigned char *uuid,
				  const char *name, __u32 minor, __u64 now_ns)
{
	if (!ms_minor_is_migration(minor) || ms_mig_find(t, uuid))
		return NULL;
	return mig_insert(t, uuid, name, MS_MIG_OUTGOING, minor, now_ns);
}

void ms_mig_remove(struct ms_migration_table *t, struct ms_migration *m)
{
	if (m->minor)
		ms_class_free(&t->classes, m->minor);
	memset(m, 0, sizeof(*m));
}

size_t ms_mig_count(const struct ms_migration_table *t, enum ms_mig_dir dir,
		    enum ms_mig_state state)
{
	size_t n = 0;

	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++)
		n += t->entries[i].used && t->entries[i].dir == dir && t->entries[i].state == state;
	return n;
}

bool ms_mig_has_flow(const struct ms_migration *m, const struct ms_flow_key *key)
{
	for (size_t i = 0; i < m->n_flows; i++)
		if (memcmp(&m->flows[i], key, sizeof(*key)) == 0)
			return true;
	return false;
}

void ms_mig_set_stats(struct ms_migration *m, const struct ms_job_stats *stats)
{
	m->stats = *stats;
	m->auto_converge_throttle_pct = ms_job_has(stats, MS_JOB_AUTO_CONVERGE_THROTTLE)
					    ? stats->auto_converge_throttle_pct
					    : 0;
	m->auto_converge = m->auto_converge || ms_job_auto_converge(stats);
}

int ms_mig_flow_add(struct ms_migration *m, const struct ms_flow_key *key)
{
	if (ms_mig_has_flow(m, key))
		return 0;
	if (m->n_flows == MS_MAX_FLOWS_PER_MIGRATION)
		return -ENOSPC;
	m->flows[m->n_flows++] = *key;
	return 0;
}

__u32 ms_speed_mibs_for_rate(__u64 rate_bps)
{
	/* Dividing first keeps every 64-bit rate from overflowing. */
	__u64 mibs = rate_bps / 100 * MS_SPEED_MARGIN_PCT / 8 / MS_BYTES_PER_MIB;

	if (mibs == 0)
		return 1;
	return mibs > 0xffffffffULL ? 0xffffffffU : (__u32)mibs;
}

__u64 ms_mibs_to_bps(__u32 mibs)
{
	return (__u64)mibs * MS_BYTES_PER_MIB * 8;
}
