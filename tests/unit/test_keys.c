// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The configuration-key table (config.h) is the one list of keys: it is
 * consistent in itself, every key parses and shows through it, and the man
 * page's CONFIGURATION section lists exactly its keys, in its order, each
 * with the range, unit and knob mark the table gives.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
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

#define MAN_PAGE "docs/migshaperd.8"

static void test_table_is_consistent(void **state)
{
	size_t rates = 0;

	(void)state;
	for (size_t i = 0; i < MS_CONFIG_N_KEYS; i++) {
		const struct ms_config_key *k = &ms_config_keys[i];

		assert_non_null(k->name);
		assert_non_null(k->help);
		assert_non_null(k->unit);
		assert_ptr_equal(ms_config_key_find(k->name), k);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(ms_config_keys[j].name, k->name);
		if (k->type == MS_KEY_MBPS || k->type == MS_KEY_U32 || k->type == MS_KEY_U16) {
			assert_true(k->min <= k->max);
			assert_true(k->type != MS_KEY_U16 || k->max <= 65535);
		} else {
			assert_non_null(k->allowed);
		}
		rates += k->type == MS_KEY_MBPS;
	}
	/* migshaperctl's summary shows the first MS_CONFIG_N_RATE_KEYS of them. */
	assert_true(rates >= MS_CONFIG_N_RATE_KEYS);
	assert_int_equal(ms_config_keys[MS_CONFIG_N_RATE_KEYS - 1].type, MS_KEY_MBPS);
	assert_null(ms_config_key_find("no_such_key"));
}

/* Every key takes what it shows (the policy shows its choices, so it takes its name). */
static void test_show_round_trips(void **state)
{
	struct ms_config cfg, again;
	char err[MS_CONFIG_ERR_LEN];

	(void)state;
	ms_config_init(&cfg);
	assert_int_equal(ms_config_set(&cfg, "mgmt_cidrs", "10.0.0.0/8,fd00::/8", err, sizeof(err)),
			 0);
	cfg.link_mbps = 940;
	again = cfg;
	for (size_t i = 0; i < MS_CONFIG_N_KEYS; i++) {
		const struct ms_config_key *k = &ms_config_keys[i];
		char *text = NULL;
		size_t len = 0;
		FILE *out = open_memstream(&text, &len);

		assert_non_null(out);
		if (k->type == MS_KEY_POLICY)
			fputs("srpt", out);
		else
			ms_config_key_show(k, &cfg, out);
		assert_int_equal(fclose(out), 0);
		if (ms_config_set(&again, k->name, text, err, sizeof(err)))
			fail_msg("%s: '%s' does not parse back: %s", k->name, text, err);
		free(text);
	}
	assert_memory_equal(&again, &cfg, sizeof(cfg));
}

/* The man page: from the working directory, else up from the test binary. */
static FILE *open_man_page(void)
{
	char exe[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n;
	FILE *f = fopen(MAN_PAGE, "re");

	if (f)
		return f;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	for (int up = 0; up < 6 && !f; up++) {
		/* dirname() cuts exe in place at its last slash. */
		snprintf(path, sizeof(path), "%s/%s", dirname(exe), MAN_PAGE);
		f = fopen(path, "re");
	}
	return f;
}

static void roff_escape(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (; *in && o + 3 < len; in++) {
		if (*in == '-')
			out[o++] = '\\';
		out[o++] = *in;
	}
	out[o] = '\0';
}

static void test_man_page_lists_the_table(void **state)
{
	char line[512], allowed[128], want[300], escaped[256];
	FILE *f = open_man_page();
	bool in_section = false, after_tp = false;
	size_t next = 0;

	(void)state;
	if (!f)
		fail_msg("cannot find %s", MAN_PAGE);
	while (fgets(line, sizeof(line), f)) {
		const struct ms_config_key *k;

		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, ".SH ", 4) == 0) {
			in_section = strcmp(line, ".SH CONFIGURATION") == 0;
			continue;
		}
		/* A key is the tag of a .TP paragraph. */
		if (!in_section || !after_tp || strncmp(line, ".B ", 3) != 0) {
			after_tp = strcmp(line, ".TP") == 0;
			continue;
		}
		after_tp = false;
		if (next == MS_CONFIG_N_KEYS)
			fail_msg("the man page lists %s, which is not in the table", line + 3);
		k = &ms_config_keys[next++];
		if (strcmp(line + 3, k->name) != 0)
			fail_msg("the man page lists %s where the table has %s", line + 3, k->name);
		ms_config_key_allowed(k, allowed, sizeof(allowed));
		roff_escape(allowed, escaped, sizeof(escaped));
		snprintf(want, sizeof(want), "%s%s.", escaped, k->knob ? "; knob" : "");
		if (!fgets(line, sizeof(line), f))
			fail_msg("%s: no text after it", k->name);
		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, want) != 0)
			fail_msg("%s: the man page says '%s', the table '%s'", k->name, line, want);
	}
	fclose(f);
	if (next != MS_CONFIG_N_KEYS)
		fail_msg("the man page lists %zu keys; the table has %u (next: %s)", next,
			 MS_CONFIG_N_KEYS, ms_config_keys[next].name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table_is_consistent),
	    cmocka_unit_test(test_show_round_trips),
	    cmocka_unit_test(test_man_page_lists_the_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
