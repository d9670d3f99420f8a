/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A migration job's statistics, parsed from virDomainGetJobStats() typed
 * parameters. Each field has a bit in `have`: libvirt omits what QEMU does not
 * report (a destination has no live stats, old QEMUs lack the dirty rate),
 * and a missing field must not read as zero.
 */
#ifndef MS_JOBSTATS_H
#define MS_JOBSTATS_H

#include <stdbool.h>
#include <linux/types.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

enum ms_job_field {
	MS_JOB_OPERATION = 1U << 0,
	MS_JOB_TIME_ELAPSED = 1U << 1,
	MS_JOB_DATA_TOTAL = 1U << 2,
	MS_JOB_DATA_PROCESSED = 1U << 3,
	MS_JOB_DATA_REMAINING = 1U << 4,
	MS_JOB_MEM_TOTAL = 1U << 5,
	MS_JOB_MEM_PROCESSED = 1U << 6,
	MS_JOB_MEM_REMAINING = 1U << 7,
	MS_JOB_MEM_BPS = 1U << 8,
	MS_JOB_DIRTY_RATE = 1U << 9,
	MS_JOB_PAGE_SIZE = 1U << 10,
	MS_JOB_ITERATION = 1U << 11,
	MS_JOB_DOWNTIME = 1U << 12,
	MS_JOB_SUCCESS = 1U << 13,
	MS_JOB_SETUP_TIME = 1U << 14,
	MS_JOB_AUTO_CONVERGE_THROTTLE = 1U << 15,
};

struct ms_job_stats {
	__u32 have;      /* enum ms_job_field bits */
	int type;        /* VIR_DOMAIN_JOB_NONE, _UNBOUNDED, _COMPLETED, ... */
	int operation;   /* VIR_DOMAIN_JOB_OPERATION_* */
	__u64 time_elapsed_ms;
	__u64 data_total_bytes;
	__u64 data_processed_bytes;
	__u64 data_remaining_bytes;
	__u64 mem_total_bytes;
	__u64 mem_processed_bytes;
	__u64 mem_remaining_bytes;
	__u64 mem_bps;              /* bytes per second, as QEMU measures it */
	__u64 dirty_rate_pages_s;
	__u64 page_size_bytes;
	__u64 iteration;
	/* Expected downtime for a running job, the real one for a completed job. */
	__u64 downtime_ms;
	__u64 setup_time_ms;
	/*
	 * Percent of guest CPU time QEMU's auto-converge takes away. libvirt
	 * adds the field only while it is > 0, and QEMU reports it only when
	 * the migration runs with auto-converge: its presence says both.
	 */
	__u32 auto_converge_throttle_pct;
	bool success;
};

/*
 * Parses params (which may be NULL when n is 0). A field of the wrong type
 * is treated as missing and counted in *bad_fields (may be NULL), so a
 * libvirt that changes a type degrades instead of failing.
 */
void ms_job_stats_parse(int type, virTypedParameterPtr params, int n, struct ms_job_stats *out,
			unsigned int *bad_fields);

static inline bool ms_job_has(const struct ms_job_stats *s, __u32 fields)
{
	return (s->have & fields) == fields;
}

/*
 * Whether the migration runs with auto-converge (VIR_MIGRATE_AUTO_CONVERGE).
 * Job stats do not carry the migration's flags, so this is inferred from a
 * throttle > 0: false until QEMU first throttles the guest.
 */
static inline bool ms_job_auto_converge(const struct ms_job_stats *s)
{
	return ms_job_has(s, MS_JOB_AUTO_CONVERGE_THROTTLE) && s->auto_converge_throttle_pct > 0;
}

/* Dirty rate in bytes per second, or 0 when either factor is missing. */
__u64 ms_job_dirty_bytes_per_s(const struct ms_job_stats *s);

#endif /* MS_JOBSTATS_H */
