// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Parsing of virDomainGetJobStats() results. */
#include <stddef.h>
#include <string.h>

#include "jobstats.h"

static const struct {
	const char *name;
	__u32 bit;
	size_t offset;
} ullong_fields[] = {
	{ VIR_DOMAIN_JOB_TIME_ELAPSED, MS_JOB_TIME_ELAPSED,
	  offsetof(struct ms_job_stats, time_elapsed_ms) },
	{ VIR_DOMAIN_JOB_DATA_TOTAL, MS_JOB_DATA_TOTAL,
	  offsetof(struct ms_job_stats, data_total_bytes) },
	{ VIR_DOMAIN_JOB_DATA_PROCESSED, MS_JOB_DATA_PROCESSED,
	  offsetof(struct ms_job_stats, data_processed_bytes) },
	{ VIR_DOMAIN_JOB_DATA_REMAINING, MS_JOB_DATA_REMAINING,
	  offsetof(struct ms_job_stats, data_remaining_bytes) },
	{ VIR_DOMAIN_JOB_MEMORY_TOTAL, MS_JOB_MEM_TOTAL,
	  offsetof(struct ms_job_stats, mem_total_bytes) },
	{ VIR_DOMAIN_JOB_MEMORY_PROCESSED, MS_JOB_MEM_PROCESSED,
	  offsetof(struct ms_job_stats, mem_processed_bytes) },
	{ VIR_DOMAIN_JOB_MEMORY_REMAINING, MS_JOB_MEM_REMAINING,
	  offsetof(struct ms_job_stats, mem_remaining_bytes) },
	{ VIR_DOMAIN_JOB_MEMORY_BPS, MS_JOB_MEM_BPS, offsetof(struct ms_job_stats, mem_bps) },
	{ VIR_DOMAIN_JOB_MEMORY_DIRTY_RATE, MS_JOB_DIRTY_RATE,
	  offsetof(struct ms_job_stats, dirty_rate_pages_s) },
	{ VIR_DOMAIN_JOB_MEMORY_PAGE_SIZE, MS_JOB_PAGE_SIZE,
	  offsetof(struct ms_job_stats, page_size_bytes) },
	{ VIR_DOMAIN_JOB_MEMORY_ITERATION, MS_JOB_ITERATION,
	  offsetof(struct ms_job_stats, iteration) },
	{ VIR_DOMAIN_JOB_DOWNTIME, MS_JOB_DOWNTIME, offsetof(struct ms_job_stats, downtime_ms) },
	{ VIR_DOMAIN_JOB_SETUP_TIME, MS_JOB_SETUP_TIME,
	  offsetof(struct ms_job_stats, setup_time_ms) },
};

void ms_job_stats_parse(int type, virTypedParameterPtr params, int n, struct ms_job_stats *out,
			unsigned int *bad_fields)
{
	unsigned int bad = 0;
	int operation, success, throttle;

	memset(out, 0, sizeof(*out));
	out->type = type;
	if (!params)
		n = 0;
	for (size_t i = 0; i < sizeof(ullong_fields) / sizeof(ullong_fields[0]); i++) {
		unsigned long long v;
		int ret = virTypedParamsGetULLong(params, n, ullong_fields[i].name, &v);

		if (ret == 1) {
			*(__u64 *)((char *)out + ullong_fields[i].offset) = v;
			out->have |= ullong_fields[i].bit;
		} else if (ret < 0) {
			bad++;
		}
	}
	switch (virTypedParamsGetInt(params, n, VIR_DOMAIN_JOB_OPERATION, &operation)) {
	case 1:
		out->operation = operation;
		out->have |= MS_JOB_OPERATION;
		break;
	case 0:
		break;
	default:
		bad++;
	}
	switch (virTypedParamsGetInt(params, n, VIR_DOMAIN_JOB_AUTO_CONVERGE_THROTTLE, &throttle)) {
	case 1:
		/* A percentage: anything outside 0..100 is not one. */
		if (throttle < 0 || throttle > 100) {
			bad++;
			break;
		}
		out->auto_converge_throttle_pct = (__u32)throttle;
		out->have |= MS_JOB_AUTO_CONVERGE_THROTTLE;
		break;
	case 0:
		break;
	default:
		bad++;
	}
	switch (virTypedParamsGetBoolean(params, n, VIR_DOMAIN_JOB_SUCCESS, &success)) {
	case 1:
		out->success = success;
		out->have |= MS_JOB_SUCCESS;
		break;
	case 0:
		break;
	default:
		bad++;
	}
	/* virTypedParamsGet* set a libvirt error for a wrong type; it is handled here. */
	if (bad)
		virResetLastError();
	if (bad_fields)
		*bad_fields = bad;
}

__u64 ms_job_dirty_bytes_per_s(const struct ms_job_stats *s)
{
	if (!ms_job_has(s, MS_JOB_DIRTY_RATE | MS_JOB_PAGE_SIZE))
		return 0;
	return s->dirty_rate_pages_s * s->page_size_bytes;
}
