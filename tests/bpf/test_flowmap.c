// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The flow map is an LRU hash of MS_FLOW_MAP_MAX entries: past that the
 * kernel evicts the least recently used flows without telling anyone. These
 * tests fill it through the dataplane API (load-only mode, no interface) and
 * check what the coordinator relies on to notice and undo an eviction:
 * ms_dataplane_flow_present() turns 0, ms_dataplane_flow_forget() counts it,
 * and the flow can be attributed again.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "loader.h"
#include "migshaper.h"

static struct ms_flow_key flow(__u32 n)
{
	struct ms_flow_key k = {.l4_proto = IPPROTO_TCP};

	/* 198.18.x.y -> 198.18.0.2, IPv4-mapped as the classifier keys them */
	k.saddr[10] = k.saddr[11] = 0xff;
	k.daddr[10] = k.daddr[11] = 0xff;
	k.saddr[12] = 198;
	k.saddr[13] = 18;
	k.saddr[14] = (__u8)(n >> 8);
	k.saddr[15] = (__u8)n;
	k.daddr[12] = 198;
	k.daddr[13] = 18;
	k.daddr[15] = 2;
	k.sport = (__u16)(1024 + n % 50000);
	k.dport = (__u16)(49152 + (n >> 16));
	return k;
}

static int setup(void **state)
{
	struct ms_dataplane_opts opts = {0};
	struct ms_dataplane *dp;

	if (ms_dataplane_open(&opts, &dp))
		return -1;
	*state = dp;
	return 0;
}

static int teardown(void **state)
{
	ms_dataplane_close(*state, true);
	return 0;
}

static void test_eviction_noticed_and_undone(void **state)
{
	struct ms_dataplane *dp = *state;
	struct ms_flow_val val = {.class_minor = MS_MINOR_MIG_BASE};
	struct ms_flow_key victim = flow(0);
	__u32 n, evicted_seen = 0;

	assert_int_equal(ms_dataplane_flow_add(dp, &victim, &val), 0);
	assert_int_equal(ms_dataplane_flow_present(dp, &victim), 1);
	/* Twice the capacity of newer flows: the oldest cannot survive. */
	for (n = 1; n <= 2 * MS_FLOW_MAP_MAX; n++) {
		struct ms_flow_key k = flow(n);

		assert_int_equal(ms_dataplane_flow_add(dp, &k, &val), 0);
	}
	assert_int_equal(ms_dataplane_flow_present(dp, &victim), 0);
	for (n = 1; n <= 2 * MS_FLOW_MAP_MAX; n++) {
		struct ms_flow_key k = flow(n);

		if (ms_dataplane_flow_present(dp, &k) == 0)
			evicted_seen++;
	}
	/* The map holds at most its capacity. */
	assert_true(evicted_seen >= MS_FLOW_MAP_MAX);

	assert_int_equal(ms_dataplane_flows_evicted(dp), 0);
	ms_dataplane_flow_forget(dp, &victim);
	assert_int_equal(ms_dataplane_flows_evicted(dp), 1);
	/* Attributed again: back in the map. */
	assert_int_equal(ms_dataplane_flow_add(dp, &victim, &val), 0);
	assert_int_equal(ms_dataplane_flow_present(dp, &victim), 1);
}

static void test_present_rejects_bad_keys(void **state)
{
	struct ms_dataplane *dp = *state;
	struct ms_flow_key k = flow(1);

	k.l4_proto = IPPROTO_ICMP;
	assert_int_equal(ms_dataplane_flow_present(dp, &k), -EINVAL);
	assert_int_equal(ms_dataplane_flow_present(NULL, &k), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_eviction_noticed_and_undone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_present_rejects_bad_keys, setup, teardown),
	};
	struct ms_dataplane_opts opts = {0};
	struct ms_dataplane *dp;

	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: loading the classifier needs root\n");
		return 77;
	}
	if (ms_dataplane_open(&opts, &dp)) {
		fprintf(stderr, "SKIP: cannot load the classifier\n");
		return 77;
	}
	ms_dataplane_close(dp, true);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
