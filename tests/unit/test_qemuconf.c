// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * migration_ports = auto reads libvirt's qemu.conf: the range set there,
 * libvirt's defaults where it sets none (Debian ships every key commented
 * out), and a clear error for a value libvirtd would refuse.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "qemuconf.h"

static void test_commented_out_is_libvirts_default(void **state)
{
	const char *text = "# migration_port_min = 49152\n"
			   "#migration_port_max = 49215\n"
			   "user = \"root\"\n";
	__u16 lo = 0, hi = 0;
	char err[128];

	(void)state;
	assert_int_equal(ms_qemu_conf_parse_ports(text, &lo, &hi, err, sizeof(err)), 0);
	assert_int_equal(lo, 49152);
	assert_int_equal(hi, 49215);
}

static void test_moved_range(void **state)
{
	const char *text = "stdio_handler = \"file\"\n"
			   "  migration_port_min = 50000   # the admin's\n"
			   "migration_port_max=50063\r\n"
			   "migration_port_minimum = 1\n";
	__u16 lo = 0, hi = 0;
	char err[128];

	(void)state;
	assert_int_equal(ms_qemu_conf_parse_ports(text, &lo, &hi, err, sizeof(err)), 0);
	assert_int_equal(lo, 50000);
	assert_int_equal(hi, 50063);
}

static void test_only_max_set(void **state)
{
	__u16 lo = 0, hi = 0;
	char err[128];

	(void)state;
	assert_int_equal(
	    ms_qemu_conf_parse_ports("migration_port_max = 49300", &lo, &hi, err, sizeof(err)), 0);
	assert_int_equal(lo, 49152);
	assert_int_equal(hi, 49300);
}

static void test_bad_values_are_refused(void **state)
{
	static const char *const bad[] = {
	    "migration_port_min = 0\n",
	    "migration_port_min = 70000\n",
	    "migration_port_max = \"50000\"\n",
	    "migration_port_max = 5x\n",
	    "migration_port_min = 50000\nmigration_port_max = 49999\n",
	};
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		__u16 lo = 7, hi = 7;

		err[0] = '\0';
		assert_int_equal(ms_qemu_conf_parse_ports(bad[i], &lo, &hi, err, sizeof(err)),
				 -EINVAL);
		assert_true(strstr(err, "migration_port") || strstr(err, "line"));
		assert_int_equal(lo, 7);
		assert_int_equal(hi, 7);
	}
}

/* A tunnelled migration's job, as libvirt 9.0 saves it in the domain's status XML. */
static void test_status_flags(void **state)
{
	const char *xml =
	    "<domstatus state='running' reason='migrated' pid='4242'>\n"
	    "  <monitor path='/var/lib/libvirt/qemu/mon.sock' type='unix'/>\n"
	    "  <job type='none' async='migration out' phase='perform3' flags='0x8007'>\n"
	    "    <migParams/>\n  </job>\n</domstatus>\n";
	unsigned long flags = 0;

	(void)state;
	assert_int_equal(ms_libvirt_status_migration_flags(xml, &flags), 0);
	assert_int_equal(flags, 0x8007);
	assert_true(flags & 0x4); /* VIR_MIGRATE_TUNNELLED */
	/* No migration job (another async job, or none): nothing to say. */
	assert_int_equal(
	    ms_libvirt_status_migration_flags(
		"<domstatus><job type='none' async='save' flags='0x4'/></domstatus>", &flags),
	    -ENOENT);
	assert_int_equal(ms_libvirt_status_migration_flags("<domstatus state='running'/>", &flags),
			 -ENOENT);
	/* The incoming job a domain that just arrived may still show: not its outgoing one. */
	assert_int_equal(
	    ms_libvirt_status_migration_flags(
		"<domstatus><job type='none' async='migration in' flags='0x3'/></domstatus>",
		&flags),
	    -ENOENT);
	assert_int_equal(
	    ms_libvirt_status_migration_flags(
		"<domstatus><job async='migration outgoing' flags='0x4'/></domstatus>", &flags),
	    -ENOENT);
	assert_int_equal(ms_libvirt_status_migration_flags(
			     "<job type='none' async=\"migration out\" flags=\"0x4z\">", &flags),
			 -EINVAL);
}

/* The key: auto is the default, an explicit range wins, auto comes back. */
static void test_key_auto_and_explicit(void **state)
{
	struct ms_config cfg;
	char err[MS_CONFIG_ERR_LEN], shown[64];
	FILE *f;

	(void)state;
	ms_config_init(&cfg);
	assert_true(cfg.migration_ports_auto);
	assert_int_equal(ms_config_set(&cfg, "migration_ports", "50000-50063", err, sizeof(err)),
			 0);
	assert_false(cfg.migration_ports_auto);
	assert_int_equal(cfg.migration_port_min, 50000);
	assert_int_equal(ms_config_set(&cfg, "migration_ports", "auto", err, sizeof(err)), 0);
	assert_true(cfg.migration_ports_auto);
	f = fmemopen(shown, sizeof(shown), "w");
	assert_non_null(f);
	ms_config_key_show(ms_config_key_find("migration_ports"), &cfg, f);
	fclose(f);
	assert_string_equal(shown, "auto");
	assert_int_equal(ms_config_set(&cfg, "migration_ports", "aut", err, sizeof(err)), -EINVAL);
	assert_true(cfg.migration_ports_auto);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_commented_out_is_libvirts_default),
	    cmocka_unit_test(test_moved_range),
	    cmocka_unit_test(test_only_max_set),
	    cmocka_unit_test(test_bad_values_are_refused),
	    cmocka_unit_test(test_status_flags),
	    cmocka_unit_test(test_key_auto_and_explicit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
