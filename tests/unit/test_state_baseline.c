// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The baseline file (state.h): what one agent writes the next reads back;
 * a missing file is -ENOENT, and a file of another version or with garbage
 * is refused with a message naming the file, leaving the caller's value.
 * The state file's backend record: written, read back, absent from an
 * earlier agent's file, refused when it names no backend.
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

static void test_state_backend(void **state)
{
	static const char earlier[] =
	    "migshaper-state 1\nifindex 3\norig none\nfilter 0x1 49152 1\n";
	static const char *const bad[] = {
	    "migshaper-state 1\nifindex 3\nbackend fq\norig none\nfilter 0x1 49152 1\n",
	    "migshaper-state 1\nifindex 3\nbackend\norig none\nfilter 0x1 49152 1\n",
	    "migshaper-state 1\nifindex 3\nbackend htb-root\nbackend multiqueue\norig "
	    "none\nfilter 0x1 49152 1\n",
	};
	struct dir *d = *state;
	char err[MS_STATE_ERR_LEN];
	struct ms_state *st = calloc(1, sizeof(*st));

	assert_non_null(st);
	st->ifindex = 3;
	st->backend = MS_STATE_BACKEND_MULTIQUEUE;
	assert_int_equal(ms_state_write(d->file, st), 0);
	assert_int_equal(ms_state_read(d->file, st, err, sizeof(err)), 0);
	assert_int_equal(st->backend, MS_STATE_BACKEND_MULTIQUEUE);
	st->backend = MS_STATE_BACKEND_HTB_ROOT;
	assert_int_equal(ms_state_write(d->file, st), 0);
	assert_int_equal(ms_state_read(d->file, st, err, sizeof(err)), 0);
	assert_int_equal(st->backend, MS_STATE_BACKEND_HTB_ROOT);
	/* An earlier agent's record has none: the caller looks for the IFB then. */
	put(d->file, earlier);
	assert_int_equal(ms_state_read(d->file, st, err, sizeof(err)), 0);
	assert_int_equal(st->backend, MS_STATE_BACKEND_UNKNOWN);
	assert_int_equal(st->ifindex, 3);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put(d->file, bad[i]);
		assert_int_equal(ms_state_read(d->file, st, err, sizeof(err)), -EINVAL);
		assert_int_equal(st->backend, MS_STATE_BACKEND_UNKNOWN);
	}
	ms_state_clear(st);
	free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_backend, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
