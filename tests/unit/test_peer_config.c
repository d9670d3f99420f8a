// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The peer endpoint's keys in the one key table (agent/config/config.c):
 * peer_listen (a list of address literals, none by default, at most
 * MS_PEER_LISTEN_MAX, all or nothing), peer_port (9466) and
 * incoming_aggregate_mbps (auto resolves to the outgoing aggregate; above
 * the link is refused).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"

static char *show(const char *key, const struct ms_config *cfg)
{
	static char buf[512];
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	assert_non_null(f);
	ms_config_key_show(ms_config_key_find(key), cfg, f);
	fclose(f);
	return buf;
}

static void test_peer_listen(void **state)
{
	struct ms_config cfg, before;
	char err[MS_CONFIG_ERR_LEN];

	(void)state;
	ms_config_init(&cfg);
	assert_int_equal(cfg.n_peer_listen, 0);
	assert_string_equal(show("peer_listen", &cfg), "none");
	assert_int_equal(cfg.peer_port, 9466);
	assert_int_equal(
	    ms_config_set(&cfg, "peer_listen", "198.18.0.1,fd00::1,198.18.0.1", err, sizeof(err)),
	    0);
	assert_int_equal(cfg.n_peer_listen, 2);
	assert_string_equal(show("peer_listen", &cfg), "198.18.0.1,fd00::1");
	before = cfg;
	/* Refused, and nothing changes. */
	assert_int_equal(
	    ms_config_set(&cfg, "peer_listen", "198.18.0.1,localhost", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "localhost"));
	assert_int_equal(ms_config_set(&cfg, "peer_listen", "198.18.0.1,", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(ms_config_set(&cfg, "peer_listen",
				       "10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4,10.0.0.5", err,
				       sizeof(err)),
			 -ERANGE);
	assert_memory_equal(&cfg, &before, sizeof(cfg));
	/* none and empty turn it off; it round-trips. */
	assert_int_equal(ms_config_set(&cfg, "peer_listen", "none", err, sizeof(err)), 0);
	assert_int_equal(cfg.n_peer_listen, 0);
	assert_int_equal(ms_config_set(&cfg, "peer_listen", "::", err, sizeof(err)), 0);
	assert_int_equal(ms_config_set(&cfg, "peer_listen", "", err, sizeof(err)), 0);
	assert_int_equal(cfg.n_peer_listen, 0);
	assert_int_equal(ms_config_set(&cfg, "peer_port", "0", err, sizeof(err)), -ERANGE);
	assert_int_equal(ms_config_set(&cfg, "peer_port", "10466", err, sizeof(err)), 0);
	assert_int_equal(cfg.peer_port, 10466);
}

static void test_incoming_aggregate(void **state)
{
	struct ms_config cfg;
	char err[MS_CONFIG_ERR_LEN];

	(void)state;
	ms_config_init(&cfg);
	assert_string_equal(show("incoming_aggregate_mbps", &cfg), "auto");
	assert_int_equal(ms_config_resolve(&cfg, 1000, err, sizeof(err)), 0);
	assert_int_equal(cfg.incoming_aggregate_mbps, cfg.migration_aggregate_mbps);
	ms_config_init(&cfg);
	assert_int_equal(ms_config_set(&cfg, "incoming_aggregate_mbps", "300", err, sizeof(err)),
			 0);
	assert_int_equal(ms_config_resolve(&cfg, 1000, err, sizeof(err)), 0);
	assert_int_equal(cfg.incoming_aggregate_mbps, 300);
	/* A budget above the shaped link (950 of a 1000 Mb/s NIC) is refused. */
	ms_config_init(&cfg);
	assert_int_equal(ms_config_set(&cfg, "incoming_aggregate_mbps", "960", err, sizeof(err)),
			 0);
	assert_int_equal(ms_config_resolve(&cfg, 1000, err, sizeof(err)), -ERANGE);
	assert_non_null(strstr(err, "incoming_aggregate_mbps"));
	assert_true(ms_config_key_find("incoming_aggregate_mbps")->knob);
	assert_false(ms_config_key_find("peer_listen")->knob);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_peer_listen),
	    cmocka_unit_test(test_incoming_aggregate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
