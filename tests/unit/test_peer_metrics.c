// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The destination's agent on /metrics (agent/ops/metrics.h): an outgoing
 * migration's divisor and its peer state (one of four, 1 for the current),
 * left out for one not decided yet; the peer request and answer counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "metrics.h"

static void test_divisor_and_state(void **state)
{
	struct ms_metrics_migration migs[2] = {0};
	struct ms_metrics_snapshot s = {.iface = "eth0", .migrations = migs, .n_migrations = 2};
	char *text = NULL;
	size_t len;

	(void)state;
	snprintf(migs[0].domain, sizeof(migs[0].domain), "vm-a");
	migs[0].direction = "outgoing";
	migs[0].divisor = 3;
	migs[0].peer_state = "silent";
	/* Not decided yet: neither series. */
	snprintf(migs[1].domain, sizeof(migs[1].domain), "vm-b");
	migs[1].direction = "outgoing";
	s.peer_requests_total[0] = 7;
	s.peer_requests_total[1] = 2;
	s.peer_answers_total = 5;
	s.peer_answers_limited_total = 1;
	assert_int_equal(ms_metrics_render(&s, &text, &len), 0);
	assert_non_null(strstr(text, "\nmigshaper_migration_divisor{iface=\"eth0\",domain=\"vm-a\","
				     "direction=\"outgoing\"} 3\n"));
	assert_non_null(strstr(text,
			       "\nmigshaper_migration_peer_state{iface=\"eth0\",domain=\"vm-a\","
			       "direction=\"outgoing\",state=\"silent\"} 1\n"));
	assert_non_null(strstr(text,
			       "\nmigshaper_migration_peer_state{iface=\"eth0\",domain=\"vm-a\","
			       "direction=\"outgoing\",state=\"answered\"} 0\n"));
	assert_null(
	    strstr(text, "domain=\"vm-b\",direction=\"outgoing\"} 0\nmigshaper_migration_div"));
	assert_null(strstr(text, "migshaper_migration_divisor{iface=\"eth0\",domain=\"vm-b\""));
	assert_null(strstr(text, "migshaper_migration_peer_state{iface=\"eth0\",domain=\"vm-b\""));
	assert_non_null(strstr(text, "\nmigshaper_peer_requests_total{outcome=\"answered\"} 7\n"));
	assert_non_null(strstr(text, "\nmigshaper_peer_requests_total{outcome=\"silent\"} 2\n"));
	assert_non_null(strstr(text, "\nmigshaper_peer_answers_total{result=\"limited\"} 1\n"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_divisor_and_state),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
