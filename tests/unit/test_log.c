// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The log sink: control characters and invalid UTF-8 escaped in every line
 * (no value can forge a line), and the per-kind rate limit with its
 * "suppressed" summary. stderr is redirected into a file and read back.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"

struct capture {
	int saved_stderr;
	char path[64];
	int fd;
};

static int capture_setup(void **state)
{
	struct capture *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	snprintf(c->path, sizeof(c->path), "/tmp/ms-test-log.XXXXXX");
	c->fd = mkstemp(c->path);
	assert_true(c->fd >= 0);
	c->saved_stderr = dup(STDERR_FILENO);
	assert_true(c->saved_stderr >= 0);
	assert_int_equal(dup2(c->fd, STDERR_FILENO), STDERR_FILENO);
	ms_log_set_level(MS_LOG_DEBUG);
	*state = c;
	return 0;
}

static int capture_teardown(void **state)
{
	struct capture *c = *state;

	dup2(c->saved_stderr, STDERR_FILENO);
	close(c->saved_stderr);
	close(c->fd);
	unlink(c->path);
	free(c);
	return 0;
}

/* What was logged so far (the caller frees it). */
static char *captured(struct capture *c)
{
	off_t len = lseek(c->fd, 0, SEEK_END);
	char *buf = malloc((size_t)len + 1);

	assert_non_null(buf);
	assert_int_equal(pread(c->fd, buf, (size_t)len, 0), len);
	buf[len] = '\0';
	return buf;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Every line starts with the sink's "<seconds>.<ms> <level>: " prefix. */
static void assert_all_lines_prefixed(const char *s)
{
	while (*s) {
		long long sec;
		int ms, used = 0;
		char level[8];

		assert_int_equal(sscanf(s, "%lld.%3d %7[a-z]:%n", &sec, &ms, level, &used), 3);
		assert_true(used > 0);
		s = strchr(s, '\n');
		assert_non_null(s);
		s++;
	}
}

/* Past the end of the current rate-limit window. */
static void sleep_past_window(void)
{
	long ms = MS_LOG_WINDOW_MS + 100;
	struct timespec pause = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	assert_int_equal(nanosleep(&pause, NULL), 0);
}

static void test_escape(void **state)
{
	char out[256];

	(void)state;
	ms_log_escape("a\nb\rc\td", 7, out, sizeof(out));
	assert_string_equal(out, "a\\nb\\rc\\td");
	ms_log_escape("\x1b[31mred\x7f", 9, out, sizeof(out));
	assert_string_equal(out, "\\x1b[31mred\\x7f");
	/* UTF-8 stays; a C1 control (U+009B, CSI) and broken bytes do not. */
	ms_log_escape("caf\xc3\xa9 \xc2\x9b x\xff\xc3", 12, out, sizeof(out));
	assert_string_equal(out, "caf\xc3\xa9 \\xc2\\x9b x\\xff\\xc3");
	/* Cut at the buffer, never in the middle of an escape. */
	assert_int_equal(ms_log_escape("ab\ncd", 5, out, 4), 2);
	assert_string_equal(out, "ab");
}

static void test_no_forged_line(void **state)
{
	struct capture *c = *state;
	const char *value = "500\nFAKE info: FORGED\r\x1b[2Kx";
	char *text;

	ms_warn("knob %s: rejected '%s'", "migration_aggregate_mbps", value);
	text = captured(c);
	assert_int_equal(count_lines(text), 1);
	assert_null(strstr(text, "\nFAKE"));
	assert_non_null(strstr(text, "'500\\nFAKE info: FORGED\\r\\x1b[2Kx'"));
	assert_all_lines_prefixed(text);
	free(text);
}

static void test_rate_limit(void **state)
{
	struct capture *c = *state;
	char *text, want[128];

	for (int i = 0; i < 500; i++)
		ms_warn("bad value %d", i);
	/* Another kind is not held back by the first. */
	ms_info("another kind");
	text = captured(c);
	assert_int_equal(count_lines(text), MS_LOG_BURST + 1);
	assert_non_null(strstr(text, "another kind"));
	assert_null(strstr(text, "suppressed"));
	free(text);

	/* Once the window is over, the next line brings the summary first. */
	sleep_past_window();
	ms_warn("bad value %d", 1000);
	text = captured(c);
	snprintf(want, sizeof(want), "warn: log: suppressed %d more messages like: bad value %d\n",
		 500 - MS_LOG_BURST, MS_LOG_BURST);
	assert_non_null(strstr(text, want));
	assert_non_null(strstr(text, "bad value 1000\n"));
	assert_int_equal(count_lines(text), MS_LOG_BURST + 3);
	assert_all_lines_prefixed(text);
	free(text);
}

static void test_flush(void **state)
{
	struct capture *c = *state;
	char *text;

	for (int i = 0; i < MS_LOG_BURST + 3; i++)
		ms_err("flushed kind %d", i);
	ms_log_flush(); /* the window is not over: nothing yet */
	text = captured(c);
	assert_null(strstr(text, "suppressed"));
	free(text);
	sleep_past_window();
	ms_log_flush();
	text = captured(c);
	assert_non_null(strstr(text, "error: log: suppressed 3 more messages like: flushed kind"));
	free(text);
}

static void test_flush_all(void **state)
{
	struct capture *c = *state;
	char *text, want[128];

	for (int i = 0; i < MS_LOG_BURST + 2; i++)
		ms_info("kept for exit %d", i);
	ms_warn("one of another kind");
	/* At exit: written although the window is not over, once. */
	ms_log_flush_all();
	ms_log_flush_all();
	text = captured(c);
	snprintf(want, sizeof(want),
		 "info: log: suppressed 2 more messages like: kept for exit %d\n", MS_LOG_BURST);
	assert_non_null(strstr(text, want));
	assert_int_equal(count_lines(text), MS_LOG_BURST + 2);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape),
	    cmocka_unit_test_setup_teardown(test_no_forged_line, capture_setup, capture_teardown),
	    cmocka_unit_test_setup_teardown(test_rate_limit, capture_setup, capture_teardown),
	    cmocka_unit_test_setup_teardown(test_flush, capture_setup, capture_teardown),
	    cmocka_unit_test_setup_teardown(test_flush_all, capture_setup, capture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
