// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Config parsing: every bad value is refused with a message and changes nothing. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "policy.h"

static int parse_text(struct ms_config *cfg, const char *text, const char *ifname, char *err)
{
	return ms_config_parse(cfg, text, strlen(text), ifname, err, MS_CONFIG_ERR_LEN);
}

static void test_defaults(void **state)
{
	struct ms_config cfg;

	(void)state;
	ms_config_init(&cfg);
	assert_int_equal(cfg.link_mbps, 0);
	assert_int_equal(cfg.n_mgmt_ports, 4);
	assert_int_equal(cfg.mgmt_ports[0], 22);
	assert_int_equal(cfg.mgmt_ports[1], 16509);
	assert_int_equal(cfg.mgmt_ports[2], 16514);
	assert_int_equal(cfg.mgmt_ports[3], 54321);
	assert_int_equal(cfg.migration_port_min, 49152);
	assert_int_equal(cfg.migration_port_max, 49215);
	assert_false(cfg.dscp_marking);
	assert_int_equal(cfg.n_mgmt_cidrs, 0);
	assert_int_equal(cfg.cycle_ms, 1000);
	assert_true(cfg.speed_coordination);
	assert_string_equal(cfg.libvirt_uri, "qemu:///system");
	assert_string_equal(cfg.metrics_listen, "127.0.0.1");
	assert_int_equal(cfg.metrics_port, 9465);
	assert_int_equal(cfg.dataplane_backend, MS_BACKEND_AUTO);
}

static void test_good_file(void **state)
{
	const char *text = "# comment\n"
			   "link_mbps = 950\n"
			   "[global]\n"
			   "mgmt_reserve_mbps=100\n"
			   "  migration_aggregate_mbps = 600  \n"
			   "migration_max_mbps = 300\n"
			   "migration_min_mbps = 20   # inline comment\n"
			   "mgmt_cidrs = 10.1.2.0/24, fd00::/64 192.0.2.7\n"
			   "mgmt_ports = 22,16509\n"
			   "migration_ports = 50000-50010\n"
			   "dscp_marking = 1\n"
			   "libvirt_uri = qemu+unix:///system?socket=/tmp/x/libvirt-sock\n"
			   "cycle_ms = 250\n"
			   "speed_coordination = 0\n"
			   "dataplane_backend = multiqueue\n"
			   "; other comment\n"
			   "[interface eth1]\n"
			   "migration_max_mbps = 200\n"
			   "[interface eth2]\n"
			   "migration_max_mbps = 100\n";
	char err[MS_CONFIG_ERR_LEN] = "";
	char buf[64];
	struct ms_config cfg;

	(void)state;
	ms_config_init(&cfg);
	assert_int_equal(parse_text(&cfg, text, "eth1", err), 0);
	assert_int_equal(cfg.link_mbps, 950);
	assert_int_equal(cfg.mgmt_reserve_mbps, 100);
	assert_int_equal(cfg.migration_aggregate_mbps, 600);
	assert_int_equal(cfg.migration_max_mbps, 200); /* the eth1 section wins */
	assert_int_equal(cfg.migration_min_mbps, 20);
	assert_int_equal(cfg.n_mgmt_cidrs, 3);
	assert_int_equal(ms_cidr_format(&cfg.mgmt_cidrs[0], buf, sizeof(buf)), 0);
	assert_string_equal(buf, "10.1.2.0/24");
	assert_int_equal(cfg.mgmt_cidrs[0].prefixlen, 96 + 24);
	assert_int_equal(ms_cidr_format(&cfg.mgmt_cidrs[1], buf, sizeof(buf)), 0);
	assert_string_equal(buf, "fd00::/64");
	assert_int_equal(ms_cidr_format(&cfg.mgmt_cidrs[2], buf, sizeof(buf)), 0);
	assert_string_equal(buf, "192.0.2.7/32");
	assert_int_equal(cfg.n_mgmt_ports, 2);
	assert_int_equal(cfg.migration_port_min, 50000);
	assert_int_equal(cfg.migration_port_max, 50010);
	assert_true(cfg.dscp_marking);
	assert_string_equal(cfg.libvirt_uri, "qemu+unix:///system?socket=/tmp/x/libvirt-sock");
	assert_int_equal(cfg.cycle_ms, 250);
	assert_false(cfg.speed_coordination);
	assert_int_equal(cfg.dataplane_backend, MS_BACKEND_MULTIQUEUE);
	assert_int_equal(parse_text(&cfg, "dataplane_backend = htb-root\n", NULL, err), 0);
	assert_int_equal(cfg.dataplane_backend, MS_BACKEND_HTB_ROOT);
	assert_int_equal(parse_text(&cfg, "libvirt_uri = none\n", NULL, err), 0);
	assert_string_equal(cfg.libvirt_uri, "");

	ms_config_init(&cfg);
	assert_int_equal(parse_text(&cfg, text, "eth9", err), 0);
	assert_int_equal(cfg.migration_max_mbps, 300); /* no section for eth9 */
}

static void test_cidr_host_bits_cleared(void **state)
{
	struct ms_cidr_key key;
	char buf[64];

	(void)state;
	assert_int_equal(ms_cidr_parse("10.1.2.3/8", &key), 0);
	assert_int_equal(ms_cidr_format(&key, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "10.0.0.0/8");
	assert_int_equal(ms_cidr_parse("2001:db8::1/32", &key), 0);
	assert_int_equal(ms_cidr_format(&key, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2001:db8::/32");
	assert_int_equal(ms_cidr_parse("0.0.0.0/0", &key), 0);
	assert_int_equal(key.prefixlen, 96);
}

/* Each bad assignment must fail, name its key, and leave cfg byte-for-byte unchanged. */
static void test_bad_values_change_nothing(void **state)
{
	static const struct {
		const char *line;
		const char *key_in_message;
		int err;
	} cases[] = {
	    {"link_mbps = abc", "link_mbps", -EINVAL},
	    {"link_mbps = -5", "link_mbps", -EINVAL},
	    {"link_mbps = 0", "link_mbps", -ERANGE},
	    {"link_mbps = 1000001", "link_mbps", -ERANGE},
	    {"link_mbps = 99999999999999999999999", "link_mbps", -ERANGE},
	    {"link_mbps = 10 0", "link_mbps", -EINVAL},
	    {"link_mbps = 1e3", "link_mbps", -EINVAL},
	    {"link_mbps = ", "link_mbps", -EINVAL},
	    {"link_mbps = +100", "link_mbps", -EINVAL},
	    {"mgmt_reserve_mbps = 0x10", "mgmt_reserve_mbps", -EINVAL},
	    {"migration_aggregate_mbps = 12.5", "migration_aggregate_mbps", -EINVAL},
	    {"migration_max_mbps = 4294967296", "migration_max_mbps", -ERANGE},
	    {"migration_min_mbps = auto1", "migration_min_mbps", -EINVAL},
	    {"dscp_marking = 2", "dscp_marking", -ERANGE},
	    {"dscp_marking = yes", "dscp_marking", -EINVAL},
	    {"report_interval_ms = 0", "report_interval_ms", -ERANGE},
	    {"cycle_ms = 99", "cycle_ms", -ERANGE},
	    {"cycle_ms = 60001", "cycle_ms", -ERANGE},
	    {"speed_coordination = on", "speed_coordination", -EINVAL},
	    {"libvirt_uri = system", "libvirt_uri", -EINVAL},
	    {"metrics_listen = localhost", "metrics_listen", -EINVAL},
	    {"policy = fastest", "policy", -EINVAL},
	    {"max_downtime_ms = 299", "max_downtime_ms", -ERANGE},
	    {"escalation = 3", "escalation", -EINVAL},
	    {"escalation = sometimes", "escalation", -EINVAL},
	    {"suspend_allowed = on", "suspend_allowed", -EINVAL},
	    {"migration_progress_timeout_s = 9", "migration_progress_timeout_s", -ERANGE},
	    {"metrics_port = 0", "metrics_port", -ERANGE},
	    {"metrics_port = 70000", "metrics_port", -ERANGE},
	    {"log_level = loud", "log_level", -EINVAL},
	    {"dataplane_backend = mq", "dataplane_backend", -EINVAL},
	    {"dataplane_backend = ", "dataplane_backend", -EINVAL},
	    {"mgmt_cidrs = 10.0.0.0/33", "mgmt_cidrs", -ERANGE},
	    {"mgmt_cidrs = 10.0.0.0/", "mgmt_cidrs", -EINVAL},
	    {"mgmt_cidrs = 300.1.1.1/8", "mgmt_cidrs", -EINVAL},
	    {"mgmt_cidrs = fd00::/129", "mgmt_cidrs", -ERANGE},
	    {"mgmt_cidrs = 10.0.0.0/8, bogus", "mgmt_cidrs", -EINVAL},
	    {"mgmt_ports = 0", "mgmt_ports", -ERANGE},
	    {"mgmt_ports = 65536", "mgmt_ports", -ERANGE},
	    {"mgmt_ports = 22,ssh", "mgmt_ports", -EINVAL},
	    {"migration_ports = 49215-49152", "migration_ports", -ERANGE},
	    {"migration_ports = 0-10", "migration_ports", -ERANGE},
	    {"migration_ports = 1-70000", "migration_ports", -ERANGE},
	    {"migration_ports = 10-", "migration_ports", -EINVAL},
	    {"migration_ports = -10", "migration_ports", -EINVAL},
	    {"migration_ports = a-b", "migration_ports", -EINVAL},
	    {"no_such_knob = 1", "no_such_knob", -EINVAL},
	    {"just words", "key = value", -EINVAL},
	    {"[interface]", "interface", -EINVAL},
	    {"[nonsense]", "nonsense", -EINVAL},
	    {"[global", "section", -EINVAL},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[256], err[MS_CONFIG_ERR_LEN] = "";
		struct ms_config before, cfg;

		ms_config_init(&cfg);
		assert_int_equal(
		    parse_text(&cfg, "link_mbps = 900\nmgmt_cidrs = 192.0.2.0/24\n", NULL, err), 0);
		before = cfg;
		/* A good line first: it must not be applied either when a later line fails. */
		snprintf(text, sizeof(text), "migration_max_mbps = 123\n%s\n", cases[i].line);
		int ret = parse_text(&cfg, text, "eth0", err);

		if (ret != cases[i].err || !strstr(err, cases[i].key_in_message) ||
		    !strstr(err, "line 2"))
			fail_msg("'%s': ret %d (want %d), message '%s'", cases[i].line, ret,
				 cases[i].err, err);
		assert_memory_equal(&before, &cfg, sizeof(cfg));
	}
}

/*
 * A list with an empty element is refused: a writer cut off after "22,"
 * must not leave a shorter list in force. Commas may have white space around
 * them, and white space alone separates too.
 */
static void test_list_empty_elements(void **state)
{
	static const char *const bad[] = {"22,", "22,,54321", ",22", ",", "22 ,", "22, ,54321"};
	static const char *const good[] = {"22, 54321", "22 ,54321", "22 54321", "22\n54321"};
	struct ms_config cfg, before;
	char err[MS_CONFIG_ERR_LEN];

	(void)state;
	ms_config_init(&cfg);
	before = cfg;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(ms_config_set(&cfg, "mgmt_ports", bad[i], err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "empty element"));
		assert_int_equal(ms_config_set(&cfg, "mgmt_cidrs", bad[i], err, sizeof(err)),
				 -EINVAL);
		assert_memory_equal(&cfg, &before, sizeof(cfg));
	}
	assert_int_equal(
	    ms_config_set(&cfg, "mgmt_cidrs", "10.0.0.0/8,,fd00::/8", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "empty element"));
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ms_config_init(&cfg);
		assert_int_equal(ms_config_set(&cfg, "mgmt_ports", good[i], err, sizeof(err)), 0);
		assert_int_equal(cfg.n_mgmt_ports, 2);
		assert_int_equal(cfg.mgmt_ports[1], 54321);
	}
	/* An empty value still clears a list (a lone newline through a knob). */
	assert_int_equal(ms_config_set(&cfg, "mgmt_ports", "", err, sizeof(err)), 0);
	assert_int_equal(cfg.n_mgmt_ports, 0);
}

static void test_other_interface_section_is_validated(void **state)
{
	char err[MS_CONFIG_ERR_LEN] = "";
	struct ms_config cfg, before;

	(void)state;
	ms_config_init(&cfg);
	before = cfg;
	assert_int_equal(parse_text(&cfg, "[interface eth7]\nlink_mbps = lots\n", "eth0", err),
			 -EINVAL);
	assert_non_null(strstr(err, "link_mbps"));
	assert_memory_equal(&before, &cfg, sizeof(cfg));
}

static void test_resolve_auto(void **state)
{
	char err[MS_CONFIG_ERR_LEN] = "";
	struct ms_config cfg;

	(void)state;
	ms_config_init(&cfg);
	assert_int_equal(ms_config_resolve(&cfg, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "link_mbps"));
	assert_int_equal(cfg.link_mbps, 0);

	assert_int_equal(ms_config_resolve(&cfg, 10000, err, sizeof(err)), 0);
	assert_int_equal(cfg.link_mbps, 9500);
	assert_int_equal(cfg.mgmt_reserve_mbps, 950);
	assert_int_equal(cfg.migration_aggregate_mbps, 6650);
	assert_int_equal(cfg.migration_max_mbps, 6650);
	assert_int_equal(cfg.migration_min_mbps, 190);
	assert_int_equal(cfg.incoming_aggregate_mbps, 6650);
	assert_false(cfg.ingress_backstop);
	assert_true(cfg.mgmt_reserve_mbps + cfg.migration_aggregate_mbps <= cfg.link_mbps);
}

static void test_resolve_cross_key(void **state)
{
	static const struct {
		const char *text;
		const char *key;
	} cases[] = {
	    {"link_mbps=1000\nmgmt_reserve_mbps=1000\n", "mgmt_reserve_mbps"},
	    {"link_mbps=1000\nmgmt_reserve_mbps=300\nmigration_aggregate_mbps=800\n",
	     "migration_aggregate_mbps"},
	    {"link_mbps=1000\nmigration_aggregate_mbps=500\nmigration_max_mbps=600\n",
	     "migration_max_mbps"},
	    {"link_mbps=1000\nmigration_max_mbps=100\nmigration_min_mbps=200\n",
	     "migration_min_mbps"},
	    {"link_mbps=1000\nmgmt_ports=22,49160\n", "mgmt_ports"},
	    {"link_mbps=1000\nincoming_aggregate_mbps=1001\n", "incoming_aggregate_mbps"},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[MS_CONFIG_ERR_LEN] = "";
		struct ms_config cfg, before;

		ms_config_init(&cfg);
		assert_int_equal(parse_text(&cfg, cases[i].text, NULL, err), 0);
		before = cfg;
		if (ms_config_resolve(&cfg, 1000, err, sizeof(err)) == 0 ||
		    !strstr(err, cases[i].key))
			fail_msg("case %zu: accepted or wrong message '%s'", i, err);
		assert_memory_equal(&before, &cfg, sizeof(cfg));
	}
}

static void test_load_file_errors(void **state)
{
	char path[] = "/tmp/ms-test-config-XXXXXX";
	char err[MS_CONFIG_ERR_LEN] = "";
	struct ms_config cfg, before;
	int fd;

	(void)state;
	ms_config_init(&cfg);
	before = cfg;
	assert_int_equal(ms_config_load_file(&cfg, "/nonexistent/ms.conf", NULL, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/ms.conf"));

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "link_mbps = 500\nmgmt_ports = 22\0x\n", 34), 34);
	close(fd);
	assert_int_equal(ms_config_load_file(&cfg, path, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "NUL"));
	assert_memory_equal(&before, &cfg, sizeof(cfg));

	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "link_mbps = 500\n", 16), 16);
	close(fd);
	assert_int_equal(ms_config_load_file(&cfg, path, NULL, err, sizeof(err)), 0);
	assert_int_equal(cfg.link_mbps, 500);
	unlink(path);
}

/* The example shipped as /etc/migshaper/migshaper.conf.example must stay valid. */
static void test_example_config_parses(void **state)
{
	char err[MS_CONFIG_ERR_LEN] = "";
	struct ms_config cfg;

	(void)state;
	ms_config_init(&cfg);
	/* make check runs the tests from the top of the tree. */
	if (ms_config_load_file(&cfg, "scripts/migshaper.conf", "eth0", err, sizeof(err)))
		fail_msg("scripts/migshaper.conf: %s", err);
	assert_int_equal(cfg.link_mbps, 0); /* auto */
	assert_int_equal(cfg.policy, MS_POLICY_SRPT);
	assert_int_equal(ms_config_resolve(&cfg, 10000, err, sizeof(err)), 0);
}

static void test_limits(void **state)
{
	char err[MS_CONFIG_ERR_LEN] = "";
	struct ms_config cfg;
	char *text = malloc(65536);
	size_t n = 0;

	(void)state;
	assert_non_null(text);
	n += (size_t)sprintf(text + n, "mgmt_cidrs =");
	for (unsigned int i = 0; i <= MS_CIDR_MAX; i++)
		n += (size_t)sprintf(text + n, " 10.%u.%u.0/24", i / 256, i % 256);
	text[n++] = '\n';
	text[n] = '\0';
	ms_config_init(&cfg);
	assert_int_equal(parse_text(&cfg, text, NULL, err), -ERANGE);
	assert_non_null(strstr(err, "mgmt_cidrs"));
	assert_int_equal(cfg.n_mgmt_cidrs, 0);

	memset(text, 'x', 8000);
	text[8000] = '\0';
	assert_int_equal(parse_text(&cfg, text, NULL, err), -EINVAL);
	assert_non_null(strstr(err, "longer"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_good_file),
	    cmocka_unit_test(test_cidr_host_bits_cleared),
	    cmocka_unit_test(test_bad_values_change_nothing),
	    cmocka_unit_test(test_list_empty_elements),
	    cmocka_unit_test(test_other_interface_section_is_validated),
	    cmocka_unit_test(test_resolve_auto),
	    cmocka_unit_test(test_resolve_cross_key),
	    cmocka_unit_test(test_load_file_errors),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_example_config_parses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
