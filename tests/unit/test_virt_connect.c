// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Connecting to a libvirt daemon that never answers (a listening socket
 * nobody accepts on: what a SIGSTOPped libvirtd looks like to a client) must
 * not stall the loop: the attempt waits on the libvirt thread, closing waits
 * for that thread a bounded time and then leaves it behind, and the thread
 * cleans up once the daemon is gone.
 */
#include <dirent.h>
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
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "loop.h"
#include "virt.h"
#include "virt_event.h"

#define TICK_MS 50

struct fixture {
	struct ms_loop *loop;
	struct ms_virt *virt;
	char dir[32];
	char sock_path[64]; /* fits sun_path */
	char uri[128];
	int listen_fd;
	int tick_fd;
	int ticks;
	int stop_after_ticks;
	int connected;
	int threads; /* at setup: every test ends with as many */
};

static void on_connected(void *ctx)
{
	struct fixture *f = ctx;

	f->connected++;
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

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A loop that waits on libvirt misses ticks: counting them shows it never did. */
static int on_tick(void *ctx, uint32_t events)
{
	struct fixture *f = ctx;
	uint64_t n;

	(void)events;
	if (read(f->tick_fd, &n, sizeof(n)) == sizeof(n))
		f->ticks++;
	if (f->ticks >= f->stop_after_ticks)
		ms_loop_stop(f->loop, 0);
	return 0;
}

static int thread_count(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static bool threads_back_to(int n)
{
	for (int i = 0; i < 100; i++) {
		if (thread_count() == n)
			return true;
		usleep(20000);
	}
	return false;
}

static int setup(void **state)
{
	static struct fixture f;
	struct itimerspec its = {
		.it_value = { .tv_nsec = TICK_MS * 1000000L },
		.it_interval = { .tv_nsec = TICK_MS * 1000000L },
	};
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	f = (struct fixture){ .listen_fd = -1, .threads = thread_count() };
	snprintf(f.dir, sizeof(f.dir), "/tmp/ms-test-virt-XXXXXX");
	assert_non_null(mkdtemp(f.dir));
	snprintf(f.sock_path, sizeof(f.sock_path), "%s/libvirt-sock", f.dir);
	snprintf(f.uri, sizeof(f.uri), "qemu+unix:///system?socket=%s", f.sock_path);
	assert_int_equal(ms_loop_new(&f.loop), 0);
	assert_int_equal(ms_virt_event_register(f.loop), 0);
	f.tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	assert_true(f.tick_fd >= 0);
	assert_int_equal(timerfd_settime(f.tick_fd, 0, &its, NULL), 0);
	assert_int_equal(ms_loop_add(f.loop, f.tick_fd, EPOLLIN, on_tick, &f), 0);
	memcpy(addr.sun_path, f.sock_path, sizeof(f.sock_path));
	f.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f.listen_fd >= 0);
	assert_int_equal(bind(f.listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(f.listen_fd, 16), 0);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ms_virt_close(f->virt);
	ms_virt_event_shutdown();
	ms_loop_del(f->loop, f->tick_fd);
	close(f->tick_fd);
	ms_loop_free(f->loop);
	if (f->listen_fd >= 0)
		close(f->listen_fd);
	unlink(f->sock_path);
	rmdir(f->dir);
	/* A libvirt thread left behind fails once the daemon is gone, and exits. */
	assert_true(threads_back_to(f->threads));
	return 0;
}

/* Runs the loop for n ticks; returns the wall time it took. */
static int64_t run_ticks(struct fixture *f, int n)
{
	int64_t t0 = now_ms();

	f->stop_after_ticks = f->ticks + n;
	assert_int_equal(ms_loop_run(f->loop), 0);
	return now_ms() - t0;
}

static void test_hung_daemon_does_not_hold_the_loop(void **state)
{
	struct fixture *f = *state;
	int64_t took;

	assert_int_equal(ms_virt_open(f->loop, f->uri, &ops, f, &f->virt), 0);
	/*
	 * One second of ticks while the attempt waits for an answer that never
	 * comes. A loop held up by it would never finish them; a loaded machine
	 * may slow them, though not by seconds.
	 */
	took = run_ticks(f, 1000 / TICK_MS);
	assert_true(took < 4000);
	assert_false(ms_virt_connected(f->virt));
	assert_int_equal(f->connected, 0);
	/* Nothing but calls time out; there was none, and none is let through now. */
	assert_int_equal(ms_virt_timeouts(f->virt), 0);
	assert_int_equal(ms_virt_scan(f->virt, NULL, NULL), -ENOTCONN);
}

static void test_close_leaves_a_hung_attempt_behind(void **state)
{
	struct fixture *f = *state;
	int64_t t0, took;

	assert_int_equal(ms_virt_open(f->loop, f->uri, &ops, f, &f->virt), 0);
	run_ticks(f, 300 / TICK_MS);
	assert_int_equal(thread_count(), f->threads + 1);
	t0 = now_ms();
	ms_virt_close(f->virt);
	f->virt = NULL;
	took = now_ms() - t0;
	/* It waits its second for the thread, then lets it go. */
	assert_true(took >= 900 && took < 3000);
	/* The daemon goes away: the thread left behind fails, frees what it shared, exits. */
	close(f->listen_fd);
	f->listen_fd = -1;
	assert_true(threads_back_to(f->threads));
}

static void test_missing_daemon_fails_fast(void **state)
{
	struct fixture *f = *state;
	int64_t t0;

	close(f->listen_fd);
	f->listen_fd = -1;
	unlink(f->sock_path);
	assert_int_equal(ms_virt_open(f->loop, f->uri, &ops, f, &f->virt), 0);
	run_ticks(f, 300 / TICK_MS);
	assert_false(ms_virt_connected(f->virt));
	assert_int_equal(ms_virt_timeouts(f->virt), 0);
	/* The thread is idle between attempts: closing joins it at once. */
	t0 = now_ms();
	ms_virt_close(f->virt);
	f->virt = NULL;
	assert_true(now_ms() - t0 < 500);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_hung_daemon_does_not_hold_the_loop, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_close_leaves_a_hung_attempt_behind, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_missing_daemon_fails_fast, setup, teardown),
	};

	/* An open that blocks the loop would block these tests for good: SIGALRM ends them. */
	alarm(30);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
