// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The baseline file (state.h): what one agent writes the next reads back;
 * a missing file is -ENOENT, and a file of another version or with garbage
 * is refused with a message naming the file, leaving the caller's value.
 * The state file's record of sch_htb's htb_hysteresis, and the parameter's
 * own read and write (tc/mq.h) on a stand-in file.
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
#include <cmocka.h>

#include "mq.h"
#include "state.h"

struct dir {
	char path[64];
	char file[128];
};

static int setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));

	if (!d)
		return -1;
	snprintf(d->path, sizeof(d->path), "/tmp/ms-baseline-XXXXXX");
	if (!mkdtemp(d->path)) {
		free(d);
		return -1;
	}
	if (ms_state_baseline_path(d->path, "eth7", d->file, sizeof(d->file))) {
		rmdir(d->path);
		free(d);
		return -1;
	}
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct dir *d = *state;

	unlink(d->file);
	rmdir(d->path);
	free(d);
	return 0;
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void test_round_trip(void **state)
{
	struct dir *d = *state;
	char err[MS_STATE_ERR_LEN];
	__u32 rtt_us = 0;

	assert_non_null(strstr(d->file, "/eth7.baseline"));
	assert_int_equal(ms_state_baseline_read(d->file, &rtt_us, err, sizeof(err)), -ENOENT);
	assert_int_equal(ms_state_baseline_write(d->file, 87), 0);
	assert_int_equal(ms_state_baseline_read(d->file, &rtt_us, err, sizeof(err)), 0);
	assert_int_equal(rtt_us, 87);
	/* Replaced, not appended to. */
	assert_int_equal(ms_state_baseline_write(d->file, 4321), 0);
	assert_int_equal(ms_state_baseline_read(d->file, &rtt_us, err, sizeof(err)), 0);
	assert_int_equal(rtt_us, 4321);
}

static void test_bad_files(void **state)
{
	static const char *const bad[] = {
	    "migshaper-baseline 2\nrtt_us 80\n", /* another version */
	    "migshaper-state 1\nrtt_us 80\n",	 /* another file */
	    "migshaper-baseline 1\n",		 /* no value */
	    "migshaper-baseline 1\nrtt_us 0\n",	 /* no baseline is not a baseline */
	    "migshaper-baseline 1\nrtt_us -5\n",
	    "migshaper-baseline 1\nrtt_us 80\nrtt_us 90\n",
	    "migshaper-baseline 1\nrtt_us 80 us\n",
	    "migshaper-baseline 1\nrtt 80\n",
	    "",
	};
	struct dir *d = *state;
	char err[MS_STATE_ERR_LEN];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		__u32 rtt_us = 77;

		put(d->file, bad[i]);
		err[0] = '\0';
		assert_int_equal(ms_state_baseline_read(d->file, &rtt_us, err, sizeof(err)),
				 -EINVAL);
		assert_int_equal(rtt_us, 77);
		assert_non_null(strstr(err, d->file));
		assert_non_null(strstr(err, "not a valid migshaper baseline file"));
	}
}

/* The hysteresis line is there only when the agent changed the parameter. */
static void test_state_hysteresis(void **state)
{
	struct dir *d = *state;
	char err[MS_STATE_ERR_LEN], path[160], text[512];
	struct ms_state *st = calloc(1, sizeof(*st)), *back = calloc(1, sizeof(*back));
	FILE *f;
	size_t n;

	assert_non_null(st);
	assert_non_null(back);
	assert_int_equal(ms_state_path(d->path, "eth7", path, sizeof(path)), 0);
	st->ifindex = 7;
	st->attach.tc_handle = 1;
	st->attach.tc_priority = 49152;
	assert_int_equal(ms_state_write(path, st), 0);
	assert_int_equal(ms_state_read(path, back, err, sizeof(err)), 0);
	assert_false(back->hysteresis_set);
	ms_state_clear(back);

	st->hysteresis_set = true;
	st->hysteresis_orig = 0;
	assert_int_equal(ms_state_write(path, st), 0);
	assert_int_equal(ms_state_read(path, back, err, sizeof(err)), 0);
	assert_true(back->hysteresis_set);
	assert_int_equal(back->hysteresis_orig, 0);
	ms_state_clear(back);

	/* Twice, or without a number: not a state file. */
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	{
		char twice[600], bare[600];
		const char *line = strstr(text, "hysteresis 0\n");

		assert_non_null(line);
		snprintf(twice, sizeof(twice), "%shysteresis 0\n", text);
		snprintf(bare, sizeof(bare), "%.*shysteresis\n", (int)(line - text), text);
		put(path, twice);
		assert_int_equal(ms_state_read(path, back, err, sizeof(err)), -EINVAL);
		put(path, bare);
		assert_int_equal(ms_state_read(path, back, err, sizeof(err)), -EINVAL);
		assert_false(back->hysteresis_set);
	}
	unlink(path);
	free(st);
	free(back);
}

/* The parameter's file: a number, anything else refused; written as a number. */
static void test_hysteresis_param(void **state)
{
	struct dir *d = *state;
	char path[160], text[16] = {0};
	unsigned int v = 77;
	FILE *f;

	snprintf(path, sizeof(path), "%s/htb_hysteresis", d->path);
	assert_int_equal(ms_mq_hysteresis_read(path, &v), -ENOENT);
	put(path, "0\n");
	assert_int_equal(ms_mq_hysteresis_read(path, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(ms_mq_hysteresis_write(path, 1), 0);
	assert_int_equal(ms_mq_hysteresis_read(path, &v), 0);
	assert_int_equal(v, 1);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(text, sizeof(text), f));
	fclose(f);
	assert_string_equal(text, "1\n");
	for (int i = 0; i < 3; i++) {
		static const char *const bad[] = {"", "on\n", "-1\n"};

		v = 77;
		put(path, bad[i]);
		assert_int_equal(ms_mq_hysteresis_read(path, &v), -EINVAL);
		assert_int_equal(v, 77);
	}
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_hysteresis, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hysteresis_param, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
