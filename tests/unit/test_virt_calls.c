// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * A call libvirt refuses reports libvirt's own answer. Against libvirt's test
 * driver (test:///default, in process, no daemon), whose "test" domain has no
 * migration: its driver does not implement virDomainMigrateStartPostCopy,
 * virDomainAbortJob or virDomainMigrateSetMaxDowntime, and says so.
 *
 * Regression: the agent named the domain (virDomainGetName(), a public call
 * that resets libvirt's thread-local error) before reading the error, so every
 * refusal was logged as "no error"; on 2026-12-02 that hid why three post-copy
 * requests were refused (the migrations were not started with
 * VIR_MIGRATE_POSTCOPY).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <cmocka.h>

#include "loop.h"
#include "virt.h"
#include "virt_event.h"

#define TICK_MS 20
/* The test driver answers in microseconds; this only bounds a broken run. */
#define CONNECT_TICKS 250

/* The "test" domain of libvirt's test:///default. */
static const unsigned char test_uuid[16] = {0x66, 0x95, 0xeb, 0x01, 0xf6, 0xa4, 0x83, 0x04,
					    0x79, 0xaa, 0x97, 0xf2, 0x50, 0x2e, 0x19, 0x3f};

struct fixture {
	struct ms_loop *loop;
	struct ms_virt *virt;
	int tick_fd;
	int ticks;
	int connected;
	char log_path[64];
	int saved_stderr;
};

static void on_connected(void *ctx)
{
	struct fixture *f = ctx;

	f->connected++;
	ms_loop_stop(f->loop, 0);
}

static void on_disconnected(void *ctx)
{
	(void)ctx;
}

static void on_event(void *ctx, const struct ms_virt_event *ev)
{
	(void)ctx;
	(void)ev;
}

static const struct ms_virt_ops ops = {
    .connected = on_connected,
    .disconnected = on_disconnected,
    .event = on_event,
};

static int on_tick(void *ctx, uint32_t events)
{
	struct fixture *f = ctx;
	uint64_t n;

	(void)events;
	if (read(f->tick_fd, &n, sizeof(n)) == sizeof(n))
		f->ticks++;
	if (f->ticks >= CONNECT_TICKS)
		ms_loop_stop(f->loop, 0);
	return 0;
}

/* The agent logs to stderr: the tests read what it wrote from a file. */
static void capture_stderr(struct fixture *f)
{
	int fd;

	snprintf(f->log_path, sizeof(f->log_path), "/tmp/ms-test-virt-calls-XXXXXX");
	fd = mkstemp(f->log_path);
	assert_true(fd >= 0);
	fflush(stderr);
	f->saved_stderr = dup(STDERR_FILENO);
	assert_true(f->saved_stderr >= 0);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	close(fd);
}

static char *captured(struct fixture *f)
{
	static char buf[8192];
	FILE *in;
	size_t n;

	fflush(stderr);
	in = fopen(f->log_path, "r");
	assert_non_null(in);
	n = fread(buf, 1, sizeof(buf) - 1, in);
	buf[n] = '\0';
	fclose(in);
	return buf;
}

static int setup(void **state)
{
	static struct fixture f;
	struct itimerspec its = {
	    .it_value = {.tv_nsec = TICK_MS * 1000000L},
	    .it_interval = {.tv_nsec = TICK_MS * 1000000L},
	};

	f = (struct fixture){.tick_fd = -1, .saved_stderr = -1};
	assert_int_equal(ms_loop_new(&f.loop), 0);
	assert_int_equal(ms_virt_event_register(f.loop), 0);
	f.tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	assert_true(f.tick_fd >= 0);
	assert_int_equal(timerfd_settime(f.tick_fd, 0, &its, NULL), 0);
	assert_int_equal(ms_loop_add(f.loop, f.tick_fd, EPOLLIN, on_tick, &f), 0);
	assert_int_equal(ms_virt_open(f.loop, "test:///default", &ops, &f, &f.virt), 0);
	assert_int_equal(ms_loop_run(f.loop), 0);
	assert_int_equal(f.connected, 1);
	assert_true(ms_virt_connected(f.virt));
	capture_stderr(&f);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fflush(stderr);
	dup2(f->saved_stderr, STDERR_FILENO);
	close(f->saved_stderr);
	unlink(f->log_path);
	ms_virt_close(f->virt);
	ms_virt_event_shutdown();
	ms_loop_del(f->loop, f->tick_fd);
	close(f->tick_fd);
	ms_loop_free(f->loop);
	return 0;
}

static void expect_refusal_logged(struct fixture *f, const char *call)
{
	const char *log = captured(f);
	const char *line = strstr(log, call);

	assert_non_null(line);
	/* The line names the domain and carries libvirt's message, not a reset error. */
	assert_non_null(strstr(line, "(test): "));
	assert_non_null(strstr(line, "not supported"));
	assert_null(strstr(log, "no error"));
}

static void test_postcopy_refusal_carries_libvirts_answer(void **state)
{
	struct fixture *f = *state;

	/* Not "not in a state for it" (-EPERM): the driver has no such call. */
	assert_int_equal(ms_virt_start_postcopy(f->virt, test_uuid), -EIO);
	expect_refusal_logged(f, "virDomainMigrateStartPostCopy");
}

static void test_other_escalation_refusals_carry_libvirts_answer(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(ms_virt_set_max_downtime(f->virt, test_uuid, 500), -EIO);
	expect_refusal_logged(f, "virDomainMigrateSetMaxDowntime");
	assert_int_equal(ms_virt_abort(f->virt, test_uuid), -EIO);
	expect_refusal_logged(f, "virDomainAbortJob");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_postcopy_refusal_carries_libvirts_answer, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_other_escalation_refusals_carry_libvirts_answer,
					    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
