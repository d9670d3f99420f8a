// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * sch_htb's htb_hysteresis and its host-wide record (tc/hysteresis.h), on
 * stand-in files: the parameter is read and written as a number; agents
 * holding it on share it and only the last one to stop puts the value found
 * before the first back; an agent that died does not count as a holder and
 * --cleanup puts back what it left; an admin's 1 stays; bad records and
 * parameters, and a record held exclusively for longer than an agent's
 * write, are refused and change nothing (held for a moment, it is waited
 * for); a failed write-back keeps the
 * record for a retry. Two opens of the record stand for two agents: flock(2)
 * locks belong to the open file, so they conflict as two processes' would.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "hysteresis.h"

struct files {
	char dir[64];
	char param[128];
	char record[128];
};

static int setup(void **state)
{
	struct files *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/ms-hyst-XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	snprintf(t->param, sizeof(t->param), "%s/param", t->dir);
	if (ms_hyst_record_path(t->dir, t->record, sizeof(t->record))) {
		rmdir(t->dir);
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct files *t = *state;

	unlink(t->param);
	rmdir(t->param);
	unlink(t->record);
	rmdir(t->dir);
	free(t);
	return 0;
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) < 0, 0);
	assert_int_equal(fclose(f), 0);
}

/* The whole file at path ("" when empty); "-" when there is none. */
static const char *text_of(const char *path)
{
	static char buf[64];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return "-";
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* Nobody holds the record: an exclusive lock is free. */
static bool record_unheld(const char *record)
{
	int fd = open(record, O_RDONLY | O_CLOEXEC);
	bool free_now;

	assert_true(fd >= 0);
	free_now = flock(fd, LOCK_EX | LOCK_NB) == 0;
	close(fd);
	return free_now;
}

/* The parameter's file: a number, anything else refused; written as a number. */
static void test_param_file(void **state)
{
	struct files *t = *state;
	unsigned int v = 77;

	assert_int_equal(ms_hyst_param_read(t->param, &v), -ENOENT);
	put(t->param, "0\n");
	assert_int_equal(ms_hyst_param_read(t->param, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(ms_hyst_param_write(t->param, 1), 0);
	assert_int_equal(ms_hyst_param_read(t->param, &v), 0);
	assert_int_equal(v, 1);
	assert_string_equal(text_of(t->param), "1\n");
	for (int i = 0; i < 4; i++) {
		static const char *const bad[] = {"", "on\n", "-1\n", "1 2\n"};

		v = 77;
		put(t->param, bad[i]);
		assert_int_equal(ms_hyst_param_read(t->param, &v), -EINVAL);
		assert_int_equal(v, 77);
	}
}

/* Two agents: the first to stop leaves it on for the other; the last puts 0 back. */
static void test_last_holder(void **state)
{
	struct files *t = *state;
	enum ms_hyst_found found;
	enum ms_hyst_done done;
	unsigned int orig = 77;
	int a = -1, b = -1;

	put(t->param, "0\n");
	assert_int_equal(ms_hyst_hold(t->param, t->record, &a, &found, &orig), 0);
	assert_int_equal(found, MS_HYST_TURNED_ON);
	assert_int_equal(orig, 0);
	assert_string_equal(text_of(t->param), "1\n");
	assert_string_equal(text_of(t->record), "0\n");

	orig = 77;
	assert_int_equal(ms_hyst_hold(t->param, t->record, &b, &found, &orig), 0);
	assert_int_equal(found, MS_HYST_RECORDED);
	assert_int_equal(orig, 0);
	assert_false(record_unheld(t->record));

	assert_int_equal(ms_hyst_release(t->param, t->record, a, &done, &orig), 0);
	assert_int_equal(done, MS_HYST_SHARED);
	assert_string_equal(text_of(t->param), "1\n");
	assert_string_equal(text_of(t->record), "0\n");

	orig = 77;
	assert_int_equal(ms_hyst_release(t->param, t->record, b, &done, &orig), 0);
	assert_int_equal(done, MS_HYST_PUT_BACK);
	assert_int_equal(orig, 0);
	assert_string_equal(text_of(t->param), "0\n");
	/* Emptied, not removed. */
	assert_string_equal(text_of(t->record), "");
	assert_true(record_unheld(t->record));
}

/* A 1 nobody recorded is the admin's: held, but never put back. */
static void test_admins_one(void **state)
{
	struct files *t = *state;
	enum ms_hyst_found found;
	enum ms_hyst_done done;
	unsigned int orig;
	int a = -1;

	put(t->param, "1\n");
	assert_int_equal(ms_hyst_hold(t->param, t->record, &a, &found, &orig), 0);
	assert_int_equal(found, MS_HYST_ALREADY_ON);
	assert_string_equal(text_of(t->record), "");
	assert_int_equal(ms_hyst_release(t->param, t->record, a, &done, &orig), 0);
	assert_int_equal(done, MS_HYST_NOTHING);
	assert_string_equal(text_of(t->param), "1\n");
}

/*
 * Agents that died (their fd closed without a release) hold nothing: the
 * next one keeps their record, and --cleanup puts it back unless an agent
 * runs; turned off meanwhile, it goes on again.
 */
static void test_died(void **state)
{
	struct files *t = *state;
	enum ms_hyst_found found;
	enum ms_hyst_done done;
	unsigned int orig;
	int a = -1, b = -1;

	/* --cleanup with no record at all: nothing to do. */
	assert_int_equal(ms_hyst_release(t->param, t->record, -1, &done, &orig), 0);
	assert_int_equal(done, MS_HYST_NOTHING);

	put(t->param, "0\n");
	assert_int_equal(ms_hyst_hold(t->param, t->record, &a, &found, &orig), 0);
	close(a);
	assert_true(record_unheld(t->record));
	/* Someone turned it off after the agent died. */
	put(t->param, "0\n");
	orig = 77;
	assert_int_equal(ms_hyst_hold(t->param, t->record, &b, &found, &orig), 0);
	assert_int_equal(found, MS_HYST_RECORDED);
	assert_int_equal(orig, 0);
	assert_string_equal(text_of(t->param), "1\n");

	/* --cleanup (of another NIC's agent) while b runs: left on. */
	assert_int_equal(ms_hyst_release(t->param, t->record, -1, &done, &orig), 0);
	assert_int_equal(done, MS_HYST_SHARED);
	assert_string_equal(text_of(t->param), "1\n");
	assert_string_equal(text_of(t->record), "0\n");

	close(b);
	orig = 77;
	assert_int_equal(ms_hyst_release(t->param, t->record, -1, &done, &orig), 0);
	assert_int_equal(done, MS_HYST_PUT_BACK);
	assert_int_equal(orig, 0);
	assert_string_equal(text_of(t->param), "0\n");
	assert_string_equal(text_of(t->record), "");
}

/* A record or parameter that is not a number, or no parameter: refused, nothing changed or held. */
static void test_bad_input(void **state)
{
	struct files *t = *state;
	enum ms_hyst_found found;
	enum ms_hyst_done done;
	unsigned int orig = 77;
	int a = -1;

	put(t->param, "0\n");
	put(t->record, "zero\n");
	assert_int_equal(ms_hyst_hold(t->param, t->record, &a, &found, &orig), -EINVAL);
	assert_int_equal(a, -1);
	assert_string_equal(text_of(t->param), "0\n");
	assert_string_equal(text_of(t->record), "zero\n");
	assert_true(record_unheld(t->record));
	put(t->param, "1\n");
	assert_int_equal(ms_hyst_release(t->param, t->record, -1, &done, &orig), -EINVAL);
	assert_int_equal(done, MS_HYST_NOTHING);
	assert_string_equal(text_of(t->param), "1\n");

	put(t->record, "");
	put(t->param, "on\n");
	assert_int_equal(ms_hyst_hold(t->param, t->record, &a, &found, &orig), -EINVAL);
	assert_int_equal(a, -1);
	assert_string_equal(text_of(t->record), "");

	unlink(t->param);
	assert_int_equal(ms_hyst_hold(t->param, t->record, &a, &found, &orig), -ENOENT);
	assert_int_equal(a, -1);
	assert_string_equal(text_of(t->record), "");
	assert_true(record_unheld(t->record));
	assert_int_equal(orig, 77);
}

/* A record something else holds exclusively: the agent gives up after a second, nothing changed. */
static void test_record_held(void **state)
{
	struct files *t = *state;
	enum ms_hyst_found found;
	unsigned int orig = 77;
	int other, a = -1;

	put(t->param, "0\n");
	put(t->record, "");
	other = open(t->record, O_RDONLY | O_CLOEXEC);
	assert_true(other >= 0);
	assert_int_equal(flock(other, LOCK_EX), 0);
	assert_int_equal(ms_hyst_hold(t->param, t->record, &a, &found, &orig), -EWOULDBLOCK);
	assert_int_equal(a, -1);
	assert_int_equal(orig, 77);
	assert_string_equal(text_of(t->param), "0\n");
	assert_string_equal(text_of(t->record), "");
	close(other);
	assert_int_equal(ms_hyst_hold(t->param, t->record, &a, &found, &orig), 0);
	assert_int_equal(found, MS_HYST_TURNED_ON);
	close(a);
}

/*
 * A stopping agent (a child process here) holds the record exclusively for
 * a moment: a starting agent waits for it instead of giving up.
 */
static void test_record_busy_briefly(void **state)
{
	const struct timespec hold = {.tv_nsec = 50000000L};
	struct files *t = *state;
	enum ms_hyst_found found;
	unsigned int orig;
	int pipefd[2], a = -1, status;
	char byte;
	pid_t pid;

	put(t->param, "0\n");
	put(t->record, "");
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(t->record, O_RDONLY | O_CLOEXEC);

		if (fd < 0 || flock(fd, LOCK_EX) || write(pipefd[1], "x", 1) != 1)
			_exit(1);
		nanosleep(&hold, NULL);
		_exit(0);
	}
	close(pipefd[1]);
	assert_int_equal(read(pipefd[0], &byte, 1), 1);
	close(pipefd[0]);
	assert_int_equal(ms_hyst_hold(t->param, t->record, &a, &found, &orig), 0);
	assert_int_equal(found, MS_HYST_TURNED_ON);
	assert_string_equal(text_of(t->param), "1\n");
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(a);
}

/* A write-back that fails keeps the record, and a later --cleanup puts it back. */
static void test_put_back_fails(void **state)
{
	struct files *t = *state;
	enum ms_hyst_found found;
	enum ms_hyst_done done;
	unsigned int orig;
	int a = -1;

	put(t->param, "0\n");
	assert_int_equal(ms_hyst_hold(t->param, t->record, &a, &found, &orig), 0);
	assert_int_equal(unlink(t->param), 0);
	assert_int_equal(mkdir(t->param, 0700), 0);
	assert_int_equal(ms_hyst_release(t->param, t->record, a, &done, &orig), -EISDIR);
	assert_int_equal(done, MS_HYST_NOTHING);
	assert_string_equal(text_of(t->record), "0\n");

	assert_int_equal(rmdir(t->param), 0);
	put(t->param, "1\n");
	assert_int_equal(ms_hyst_release(t->param, t->record, -1, &done, &orig), 0);
	assert_int_equal(done, MS_HYST_PUT_BACK);
	assert_string_equal(text_of(t->param), "0\n");
	assert_string_equal(text_of(t->record), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_param_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_last_holder, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_admins_one, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_died, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_record_held, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_record_busy_briefly, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_put_back_fails, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
