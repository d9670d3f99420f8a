// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target for the job-stats parser (agent/virt/jobstats.c), which reads
 * whatever virDomainGetJobStats() hands back: names, types and values that a
 * libvirt or QEMU upgrade may change. Besides crashes, sanitizer reports and
 * leaks it checks the promises of jobstats.h against a naive model of
 * libvirt's lookup (virTypedParamsGet* use the FIRST param of a name):
 *   - a field is marked present iff the first param of its name has the
 *     right type, and then its value is that param's value;
 *   - a field whose first param has another type is missing and counted in
 *     bad_fields, and nothing else is counted; so is an auto-converge
 *     throttle outside 0..100 (a percentage);
 *   - no bit outside enum ms_job_field, out->type is the type passed, a
 *     missing field reads 0, and no libvirt error is left set;
 *   - ms_job_dirty_bytes_per_s is the product, or 0 if a factor is missing.
 *
 * Input:
 *   byte 0: bit 7 set: the job type is the next 4 bytes (raw int), else
 *           byte 0 % 8; bit 6: pass params as NULL (n stays as decoded)
 *   then records until the input ends (at most MAX_PARAMS):
 *     name byte: < 0xc0: one of the VIR_DOMAIN_JOB_* names (index % N);
 *                0xc0-0xdf: a known name with one character changed or cut
 *                (near misses); >= 0xe0: a free name, next byte is its
 *                length (% 80), then its bytes (a NUL inside shortens it)
 *     type byte: % 8 for VIR_TYPED_PARAM_INT..STRING plus 0 and 7, which
 *                are no type at all; >= 0xf0: the raw byte
 *     value: 8 bytes into the union (a string param points at a fixed
 *            string instead)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "jobstats.h"

#define CHECK(cond)                                                                               \
	do {                                                                                      \
		if (!(cond)) {                                                                    \
			fprintf(stderr, "fuzz_jobstats: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                  \
		}                                                                                 \
	} while (0)

#define MAX_PARAMS 256

static const char *const known_names[] = {
	VIR_DOMAIN_JOB_OPERATION,
	VIR_DOMAIN_JOB_TIME_ELAPSED,
	VIR_DOMAIN_JOB_TIME_ELAPSED_NET,
	VIR_DOMAIN_JOB_TIME_REMAINING,
	VIR_DOMAIN_JOB_DOWNTIME,
	VIR_DOMAIN_JOB_DOWNTIME_NET,
	VIR_DOMAIN_JOB_SETUP_TIME,
	VIR_DOMAIN_JOB_DATA_TOTAL,
	VIR_DOMAIN_JOB_DATA_PROCESSED,
	VIR_DOMAIN_JOB_DATA_REMAINING,
	VIR_DOMAIN_JOB_MEMORY_TOTAL,
	VIR_DOMAIN_JOB_MEMORY_PROCESSED,
	VIR_DOMAIN_JOB_MEMORY_REMAINING,
	VIR_DOMAIN_JOB_MEMORY_CONSTANT,
	VIR_DOMAIN_JOB_MEMORY_NORMAL,
	VIR_DOMAIN_JOB_MEMORY_NORMAL_BYTES,
	VIR_DOMAIN_JOB_MEMORY_BPS,
	VIR_DOMAIN_JOB_MEMORY_DIRTY_RATE,
	VIR_DOMAIN_JOB_MEMORY_PAGE_SIZE,
	VIR_DOMAIN_JOB_MEMORY_ITERATION,
	VIR_DOMAIN_JOB_MEMORY_POSTCOPY_REQS,
	VIR_DOMAIN_JOB_DISK_TOTAL,
	VIR_DOMAIN_JOB_DISK_PROCESSED,
	VIR_DOMAIN_JOB_DISK_REMAINING,
	VIR_DOMAIN_JOB_DISK_BPS,
	VIR_DOMAIN_JOB_COMPRESSION_CACHE,
	VIR_DOMAIN_JOB_COMPRESSION_BYTES,
	VIR_DOMAIN_JOB_COMPRESSION_PAGES,
	VIR_DOMAIN_JOB_COMPRESSION_CACHE_MISSES,
	VIR_DOMAIN_JOB_COMPRESSION_OVERFLOW,
	VIR_DOMAIN_JOB_AUTO_CONVERGE_THROTTLE,
	VIR_DOMAIN_JOB_SUCCESS,
	VIR_DOMAIN_JOB_ERRMSG,
	VIR_DOMAIN_JOB_DISK_TEMP_USED,
	VIR_DOMAIN_JOB_DISK_TEMP_TOTAL,
};
#define N_KNOWN (sizeof(known_names) / sizeof(known_names[0]))

/* What the parser reads, independently written down from jobstats.h. */
static const struct {
	const char *name;
	__u32 bit;
	int type;
} model[] = {
	{VIR_DOMAIN_JOB_OPERATION, MS_JOB_OPERATION, VIR_TYPED_PARAM_INT},
	{VIR_DOMAIN_JOB_TIME_ELAPSED, MS_JOB_TIME_ELAPSED, VIR_TYPED_PARAM_ULLONG},
	{VIR_DOMAIN_JOB_DATA_TOTAL, MS_JOB_DATA_TOTAL, VIR_TYPED_PARAM_ULLONG},
	{VIR_DOMAIN_JOB_DATA_PROCESSED, MS_JOB_DATA_PROCESSED, VIR_TYPED_PARAM_ULLONG},
	{VIR_DOMAIN_JOB_DATA_REMAINING, MS_JOB_DATA_REMAINING, VIR_TYPED_PARAM_ULLONG},
	{VIR_DOMAIN_JOB_MEMORY_TOTAL, MS_JOB_MEM_TOTAL, VIR_TYPED_PARAM_ULLONG},
	{VIR_DOMAIN_JOB_MEMORY_PROCESSED, MS_JOB_MEM_PROCESSED, VIR_TYPED_PARAM_ULLONG},
	{VIR_DOMAIN_JOB_MEMORY_REMAINING, MS_JOB_MEM_REMAINING, VIR_TYPED_PARAM_ULLONG},
	{VIR_DOMAIN_JOB_MEMORY_BPS, MS_JOB_MEM_BPS, VIR_TYPED_PARAM_ULLONG},
	{VIR_DOMAIN_JOB_MEMORY_DIRTY_RATE, MS_JOB_DIRTY_RATE, VIR_TYPED_PARAM_ULLONG},
	{VIR_DOMAIN_JOB_MEMORY_PAGE_SIZE, MS_JOB_PAGE_SIZE, VIR_TYPED_PARAM_ULLONG},
	{VIR_DOMAIN_JOB_MEMORY_ITERATION, MS_JOB_ITERATION, VIR_TYPED_PARAM_ULLONG},
	{VIR_DOMAIN_JOB_DOWNTIME, MS_JOB_DOWNTIME, VIR_TYPED_PARAM_ULLONG},
	{VIR_DOMAIN_JOB_SUCCESS, MS_JOB_SUCCESS, VIR_TYPED_PARAM_BOOLEAN},
	{VIR_DOMAIN_JOB_SETUP_TIME, MS_JOB_SETUP_TIME, VIR_TYPED_PARAM_ULLONG},
	{VIR_DOMAIN_JOB_AUTO_CONVERGE_THROTTLE, MS_JOB_AUTO_CONVERGE_THROTTLE, VIR_TYPED_PARAM_INT},
};
#define N_MODEL	   (sizeof(model) / sizeof(model[0]))
#define ALL_FIELDS ((MS_JOB_AUTO_CONVERGE_THROTTLE << 1) - 1)

static const char fixed_string[] = "migration job string";

struct reader {
	const uint8_t *p;
	size_t left;
};

static int get(struct reader *r, uint8_t *b)
{
	if (!r->left)
		return -1;
	*b = *r->p++;
	r->left--;
	return 0;
}

/* Up to n bytes; missing ones read as zero. */
static void get_bytes(struct reader *r, void *dst, size_t n)
{
	size_t k = n < r->left ? n : r->left;

	memset(dst, 0, n);
	memcpy(dst, r->p, k);
	r->p += k;
	r->left -= k;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (virInitialize() < 0) {
		fprintf(stderr, "fuzz_jobstats: virInitialize failed\n");
		abort();
	}
	return 0;
}

/* The field of the struct that the model entry m fills. */
static __u64 field_u64(const struct ms_job_stats *s, __u32 bit)
{
	switch (bit) {
	case MS_JOB_TIME_ELAPSED: return s->time_elapsed_ms;
	case MS_JOB_DATA_TOTAL: return s->data_total_bytes;
	case MS_JOB_DATA_PROCESSED: return s->data_processed_bytes;
	case MS_JOB_DATA_REMAINING: return s->data_remaining_bytes;
	case MS_JOB_MEM_TOTAL: return s->mem_total_bytes;
	case MS_JOB_MEM_PROCESSED: return s->mem_processed_bytes;
	case MS_JOB_MEM_REMAINING: return s->mem_remaining_bytes;
	case MS_JOB_MEM_BPS: return s->mem_bps;
	case MS_JOB_DIRTY_RATE: return s->dirty_rate_pages_s;
	case MS_JOB_PAGE_SIZE: return s->page_size_bytes;
	case MS_JOB_ITERATION: return s->iteration;
	case MS_JOB_DOWNTIME: return s->downtime_ms;
	case MS_JOB_SETUP_TIME: return s->setup_time_ms;
	case MS_JOB_OPERATION: return (__u64)(__s64)s->operation;
	case MS_JOB_SUCCESS: return s->success;
	case MS_JOB_AUTO_CONVERGE_THROTTLE: return s->auto_converge_throttle_pct;
	}
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = {data, size};
	virTypedParameterPtr params;
	struct ms_job_stats st;
	unsigned int bad = 0xdeadbeef, want_bad = 0;
	__u32 want_have = 0;
	uint8_t head, b;
	int type, n = 0;
	bool null_params;

	if (get(&r, &head))
		return 0;
	if (head & 0x80) {
		__s32 raw;

		get_bytes(&r, &raw, sizeof(raw));
		type = raw;
	} else {
		type = head % 8;
	}
	null_params = head & 0x40;

	/* Exactly as many elements as decoded: ASan sees any read past n. */
	params = calloc(MAX_PARAMS, sizeof(*params));
	CHECK(params);
	while (n < MAX_PARAMS && !get(&r, &b)) {
		virTypedParameterPtr p = &params[n];
		uint8_t t;

		if (b < 0xc0) {
			snprintf(p->field, sizeof(p->field), "%s", known_names[b % N_KNOWN]);
		} else if (b < 0xe0) {
			uint8_t pos = 0, c = 0;
			size_t len;

			snprintf(p->field, sizeof(p->field), "%s", known_names[b % N_KNOWN]);
			get(&r, &pos);
			get(&r, &c);
			len = strlen(p->field);
			p->field[pos % (len + 1)] = (char)c; /* c == 0 cuts it short */
		} else {
			uint8_t len = 0;

			get(&r, &len);
			len %= VIR_TYPED_PARAM_FIELD_LENGTH;
			get_bytes(&r, p->field, len);
			p->field[len] = '\0';
		}
		t = 0;
		get(&r, &t);
		p->type = t >= 0xf0 ? t : t % 8;
		get_bytes(&r, &p->value, sizeof(p->value.ul));
		if (p->type == VIR_TYPED_PARAM_STRING)
			p->value.s = (char *)fixed_string;
		n++;
	}
	if (n < MAX_PARAMS && n > 0) {
		/* shrink so that the allocation ends right after the last param */
		virTypedParameterPtr exact = malloc((size_t)n * sizeof(*exact));

		CHECK(exact);
		memcpy(exact, params, (size_t)n * sizeof(*exact));
		free(params);
		params = exact;
	}

	/* The model: the first param of each name decides. */
	if (!null_params) {
		for (size_t m = 0; m < N_MODEL; m++) {
			for (int i = 0; i < n; i++) {
				if (strcmp(params[i].field, model[m].name))
					continue;
				/* The throttle is a percentage: out of 0..100 it is bad. */
				if (params[i].type == model[m].type &&
				    (model[m].bit != MS_JOB_AUTO_CONVERGE_THROTTLE ||
				     (params[i].value.i >= 0 && params[i].value.i <= 100)))
					want_have |= model[m].bit;
				else
					want_bad++;
				break;
			}
		}
	}

	memset(&st, 0xa5, sizeof(st));
	ms_job_stats_parse(type, null_params ? NULL : params, n, &st, &bad);

	CHECK(st.type == type);
	CHECK((st.have & ~(__u32)ALL_FIELDS) == 0);
	CHECK(st.have == want_have);
	CHECK(bad == want_bad);
	CHECK(virGetLastError() == NULL);
	for (size_t m = 0; m < N_MODEL; m++) {
		__u64 got = field_u64(&st, model[m].bit), want = 0;

		if (st.have & model[m].bit) {
			for (int i = 0; i < n; i++) {
				if (strcmp(params[i].field, model[m].name))
					continue;
				if (model[m].type == VIR_TYPED_PARAM_ULLONG)
					want = params[i].value.ul;
				else if (model[m].type == VIR_TYPED_PARAM_INT)
					want = (__u64)(__s64)params[i].value.i;
				else
					want = params[i].value.b != 0;
				break;
			}
		}
		CHECK(got == want);
	}
	if (ms_job_has(&st, MS_JOB_DIRTY_RATE | MS_JOB_PAGE_SIZE))
		CHECK(ms_job_dirty_bytes_per_s(&st) == st.dirty_rate_pages_s * st.page_size_bytes);
	else
		CHECK(ms_job_dirty_bytes_per_s(&st) == 0);

	/* bad_fields may be NULL, and the result is the same. */
	{
		struct ms_job_stats again;

		ms_job_stats_parse(type, null_params ? NULL : params, n, &again, NULL);
		CHECK(memcmp(&again, &st, sizeof(st)) == 0);
	}
	free(params);
	return 0;
}
