// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* HTB geometry (quantum, buckets) computed by ms_htb_geometry_compute(). */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "htb.h"

#define MBIT 1000000ULL
#define GBIT 1000000000ULL
/* HTB's smallest quantum without a "quantum of class ... is small" warning. */
#define HTB_QUANTUM_LO 1000U
/* The kernel keeps a class's quantum in an int. */
#define HTB_QUANTUM_HI ((__u32)INT32_MAX)
/* Kernel psched ticks are 64 ns; buffers travel as __u32 ticks. */
#define MAX_BUFFER_US (UINT32_MAX / 16ULL)

static void test_rejects_bad_input(void **state)
{
	struct ms_htb_geometry g;

	(void)state;
	assert_int_equal(ms_htb_geometry_compute(0, 0, 1500, &g), -EINVAL);
	assert_int_equal(ms_htb_geometry_compute(0, 10 * MBIT, 1500, &g), -EINVAL);
	assert_int_equal(ms_htb_geometry_compute(MS_HTB_MIN_RATE_BPS - 1, 10 * MBIT, 1500, &g),
			 -EINVAL);
	assert_int_equal(ms_htb_geometry_compute(20 * MBIT, 10 * MBIT, 1500, &g), -EINVAL);
	assert_int_equal(ms_htb_geometry_compute(10 * MBIT, 10 * MBIT, 0, &g), -EINVAL);
	assert_int_equal(ms_htb_geometry_compute(10 * MBIT, 10 * MBIT, 65537, &g), -EINVAL);
	assert_int_equal(ms_htb_geometry_compute(10 * MBIT, 10 * MBIT, 1500, NULL), -EINVAL);
	assert_int_equal(
	    ms_htb_geometry_compute(MS_HTB_MIN_RATE_BPS, MS_HTB_MIN_RATE_BPS, 1500, &g), 0);
}

static void test_known_values(void **state)
{
	struct ms_htb_geometry g;

	(void)state;
	/* 200 Mbit = 25 MB/s: quantum is 1 ms of rate, bucket 2 ms + a frame. */
	assert_int_equal(ms_htb_geometry_compute(200 * MBIT, 200 * MBIT, 1500, &g), 0);
	assert_int_equal(g.quantum_bytes, 25000);
	assert_int_equal(g.burst_bytes, 50000 + 1514);
	assert_int_equal(g.cburst_bytes, 50000 + 1514);
	assert_int_equal(g.buffer_us, (50000 + 1514) * 1000000ULL / 25000000ULL);

	/* 10 Mbit: 1 ms is 1250 B, less than a frame, so the quantum is a frame. */
	assert_int_equal(ms_htb_geometry_compute(10 * MBIT, 1 * GBIT, 1500, &g), 0);
	assert_int_equal(g.quantum_bytes, 1514);
	assert_int_equal(g.burst_bytes, 2500 + 1514);
	assert_int_equal(g.cburst_bytes, 250000 + 1514);

	/* 2 Gbit: 1 ms is 250 kB, above HTB's own 200 kB clamp, and kept. */
	assert_int_equal(ms_htb_geometry_compute(2 * GBIT, 2 * GBIT, 1500, &g), 0);
	assert_int_equal(g.quantum_bytes, 250000);
	assert_int_equal(g.burst_bytes, 500000 + 1514);

	/* Jumbo frames raise the floor. */
	assert_int_equal(ms_htb_geometry_compute(10 * MBIT, 10 * MBIT, 9000, &g), 0);
	assert_int_equal(g.quantum_bytes, 9014);
	assert_int_equal(g.burst_bytes, 2500 + 9014);
}

/* Above 2^32 bytes/s (34.4 Gbit) nothing may wrap. */
static void test_64bit_rates(void **state)
{
	struct ms_htb_geometry g;

	(void)state;
	assert_int_equal(ms_htb_geometry_compute(100 * GBIT, 400 * GBIT, 1500, &g), 0);
	assert_int_equal(g.burst_bytes, 25000000 + 1514);
	assert_int_equal(g.cburst_bytes, 100000000 + 1514);
	assert_in_range(g.buffer_us, 2000, 2001);
	assert_in_range(g.cbuffer_us, 2000, 2001);
	/* 1 ms of 100 Gbit. */
	assert_int_equal(g.quantum_bytes, 12500000);

	/* Absurd rates clamp the bucket to what libnl can carry (an int). */
	assert_int_equal(ms_htb_geometry_compute(UINT64_MAX / 2, UINT64_MAX, 1500, &g), 0);
	assert_int_equal(g.burst_bytes, INT32_MAX);
	assert_int_equal(g.cburst_bytes, INT32_MAX);
}

/*
 * Siblings borrow in proportion to their quanta: from the rate where 1 ms
 * exceeds a frame up to 100 Gbit, the quanta of any two classes are in the
 * ratio of their rates (within rounding), so a 10 Gbit class borrows five
 * times what a 2 Gbit sibling does.
 */
static void test_quantum_proportional(void **state)
{
	static const __u64 rates[] = {20 * MBIT, 100 * MBIT, 800 * MBIT, 1600 * MBIT, 2 * GBIT,
				      5 * GBIT,	 10 * GBIT,  25 * GBIT,	 40 * GBIT,   100 * GBIT};
	const size_t n = sizeof(rates) / sizeof(rates[0]);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			struct ms_htb_geometry a, b;
			double want, got;

			assert_int_equal(ms_htb_geometry_compute(rates[i], rates[i], 1500, &a), 0);
			assert_int_equal(ms_htb_geometry_compute(rates[j], rates[j], 1500, &b), 0);
			want = (double)rates[i] / (double)rates[j];
			got = (double)a.quantum_bytes / (double)b.quantum_bytes;
			assert_true(got > want * 0.999 && got < want * 1.001);
		}
	}
}

/* Invariants over the whole range of rates and MTUs. */
static void test_invariants(void **state)
{
	static const __u32 mtus[] = {576, 1500, 9000, 65536};
	struct ms_htb_geometry g, prev;

	(void)state;
	for (size_t m = 0; m < sizeof(mtus) / sizeof(mtus[0]); m++) {
		__u32 frame = mtus[m] + 14;

		prev = (struct ms_htb_geometry){0};
		for (__u64 rate = MS_HTB_MIN_RATE_BPS; rate <= 400 * GBIT; rate = rate * 5 / 4) {
			__u64 Bps = rate / 8;

			assert_int_equal(ms_htb_geometry_compute(rate, rate * 2, mtus[m], &g), 0);
			/* At least one full frame, within HTB's range. */
			assert_true(g.quantum_bytes >= frame);
			assert_true(g.quantum_bytes >= mtus[m]);
			assert_true(g.quantum_bytes >= HTB_QUANTUM_LO);
			assert_true(g.quantum_bytes <= HTB_QUANTUM_HI);
			/* A full frame always fits the buckets. */
			assert_true(g.burst_bytes >= frame);
			assert_true(g.cburst_bytes >= g.burst_bytes);
			/* At least 2 ms of the rate: absorbs wake-up latency. */
			assert_true(g.buffer_us >= 2000);
			assert_true(g.cbuffer_us >= 2000);
			/* ...but never more than 2 ms plus one frame's time. */
			assert_true(g.burst_bytes <= Bps * 2 / 1000 + frame + 1);
			assert_true(g.buffer_us <= MAX_BUFFER_US);
			/* Monotonic in rate. */
			assert_true(g.quantum_bytes >= prev.quantum_bytes);
			assert_true(g.burst_bytes >= prev.burst_bytes);
			prev = g;
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rejects_bad_input), cmocka_unit_test(test_known_values),
	    cmocka_unit_test(test_64bit_rates),	      cmocka_unit_test(test_quantum_proportional),
	    cmocka_unit_test(test_invariants),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
