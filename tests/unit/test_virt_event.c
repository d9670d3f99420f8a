// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libvirt's event implementation when libvirt calls it from another thread
 * (virt.c's libvirt thread): the loop's thread picks the change up and runs
 * every callback and every release.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <cmocka.h>
#include <libvirt/libvirt.h>

#include "loop.h"
#include "virt_event.h"

/* The loop stops itself after this long at most: a test that fails does not hang. */
#define SAFETY_MS 3000

struct fixture {
	struct ms_loop *loop;
	int safety_fd;
	bool safety_fired;
	pthread_t main_thread;
	int efd;
	int id;
	int calls;
	bool calls_on_main;
	int releases;
	bool release_on_main;
};

static int on_safety(void *ctx, uint32_t events)
{
	struct fixture *f = ctx;

	(void)events;
	f->safety_fired = true;
	ms_loop_stop(f->loop, 0);
	return 0;
}

static int setup(void **state)
{
	static struct fixture f;
	struct itimerspec its = {.it_value = { .tv_sec = SAFETY_MS / 1000 }};
	uint64_t one = 1;

	f = (struct fixture){ .main_thread = pthread_self(), .calls_on_main = true };
	assert_int_equal(ms_loop_new(&f.loop), 0);
	assert_int_equal(ms_virt_event_register(f.loop), 0);
	f.safety_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	assert_true(f.safety_fd >= 0);
	assert_int_equal(timerfd_settime(f.safety_fd, 0, &its, NULL), 0);
	assert_int_equal(ms_loop_add(f.loop, f.safety_fd, EPOLLIN, on_safety, &f), 0);
	/* Readable from the start, and never read: a watch on it fires every turn. */
	f.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(write(f.efd, &one, sizeof(one)), sizeof(one));
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ms_virt_event_shutdown();
	ms_loop_del(f->loop, f->safety_fd);
	close(f->safety_fd);
	ms_loop_free(f->loop);
	close(f->efd);
	return 0;
}

static void run_in_thread(void *(*fn)(void *), struct fixture *f)
{
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, fn, f), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
}

static void *remove_handle_thread(void *arg)
{
	struct fixture *f = arg;

	f->releases += virEventRemoveHandle(f->id) == 0 ? 0 : 100;
	return NULL;
}

static void on_handle(int id, int fd, int events, void *opaque)
{
	struct fixture *f = opaque;

	(void)id;
	(void)fd;
	(void)events;
	f->calls++;
	f->calls_on_main &= pthread_equal(pthread_self(), f->main_thread) != 0;
	/* Removed from another thread while its callback runs, as libvirt may. */
	if (f->calls == 1)
		run_in_thread(remove_handle_thread, f);
}

static void on_release(void *opaque)
{
	struct fixture *f = opaque;

	f->releases++;
	f->release_on_main = pthread_equal(pthread_self(), f->main_thread) != 0;
	ms_loop_stop(f->loop, 0);
}

static void *add_handle_thread(void *arg)
{
	struct fixture *f = arg;

	f->id = virEventAddHandle(f->efd, VIR_EVENT_HANDLE_READABLE, on_handle, f, on_release);
	return NULL;
}

static void test_handle_added_and_removed_elsewhere(void **state)
{
	struct fixture *f = *state;

	run_in_thread(add_handle_thread, f);
	assert_true(f->id > 0);
	assert_int_equal(ms_loop_run(f->loop), 0);
	assert_false(f->safety_fired);
	/* Removed during its first call: a level-triggered fd that is never read gets no second. */
	assert_int_equal(f->calls, 1);
	assert_true(f->calls_on_main);
	assert_int_equal(f->releases, 1);
	assert_true(f->release_on_main);
}

static void *mute_handle_thread(void *arg)
{
	struct fixture *f = arg;

	virEventUpdateHandle(f->id, 0);
	return NULL;
}

static void on_counted(int id, int fd, int events, void *opaque)
{
	struct fixture *f = opaque;

	(void)id;
	(void)fd;
	(void)events;
	f->calls++;
}

static void on_tick(int id, void *opaque)
{
	struct fixture *f = opaque;

	(void)id;
	/* Many loop turns after the update: the muted handle had every chance to fire. */
	if (++f->releases == 20)
		ms_loop_stop(f->loop, 0);
}

static void test_handle_muted_elsewhere(void **state)
{
	struct fixture *f = *state;
	int timer;

	f->id = virEventAddHandle(f->efd, VIR_EVENT_HANDLE_READABLE, on_counted, f, NULL);
	assert_true(f->id > 0);
	run_in_thread(mute_handle_thread, f);
	timer = virEventAddTimeout(5, on_tick, f, NULL);
	assert_true(timer > 0);
	assert_int_equal(ms_loop_run(f->loop), 0);
	assert_false(f->safety_fired);
	/* At most the one turn before the loop applied the change; without it, one call per turn.
	 */
	assert_true(f->calls <= 1);
	assert_int_equal(virEventRemoveTimeout(timer), 0);
	assert_int_equal(virEventRemoveHandle(f->id), 0);
}

static void on_timeout(int id, void *opaque)
{
	struct fixture *f = opaque;

	f->calls++;
	f->calls_on_main &= pthread_equal(pthread_self(), f->main_thread) != 0;
	virEventRemoveTimeout(id);
}

static void *add_timeout_thread(void *arg)
{
	struct fixture *f = arg;

	f->id = virEventAddTimeout(10, on_timeout, f, on_release);
	return NULL;
}

static void test_timer_added_elsewhere(void **state)
{
	struct fixture *f = *state;

	run_in_thread(add_timeout_thread, f);
	assert_true(f->id > 0);
	assert_int_equal(ms_loop_run(f->loop), 0);
	assert_false(f->safety_fired);
	assert_int_equal(f->calls, 1);
	assert_true(f->calls_on_main);
	assert_int_equal(f->releases, 1);
	assert_true(f->release_on_main);
}

static void *add_and_remove_thread(void *arg)
{
	struct fixture *f = arg;

	f->id = virEventAddHandle(f->efd, VIR_EVENT_HANDLE_READABLE, on_counted, f, on_release);
	virEventRemoveHandle(f->id);
	return NULL;
}

static void test_shutdown_runs_the_releases_still_due(void **state)
{
	struct fixture *f = *state;

	/* A connection given up while the loop no longer runs (the agent's exit). */
	run_in_thread(add_and_remove_thread, f);
	assert_int_equal(f->releases, 0);
	ms_virt_event_shutdown();
	assert_int_equal(f->releases, 1);
	assert_int_equal(f->calls, 0);
	/* After the shutdown libvirt's calls fail instead of touching freed state. */
	assert_int_equal(virEventAddHandle(f->efd, VIR_EVENT_HANDLE_READABLE, on_counted, f, NULL),
			 -1);
}

static void test_stale_id_matches_nothing(void **state)
{
	struct fixture *f = *state;
	int old, id;

	old = virEventAddHandle(f->efd, VIR_EVENT_HANDLE_READABLE, on_counted, f, NULL);
	assert_true(old > 0);
	/* A thread left behind at close may remove its watch after a new registration. */
	ms_virt_event_shutdown();
	assert_int_equal(ms_virt_event_register(f->loop), 0);
	id = virEventAddHandle(f->efd, VIR_EVENT_HANDLE_READABLE, on_counted, f, NULL);
	assert_true(id > 0 && id != old);
	assert_int_equal(virEventRemoveHandle(old), -1);
	assert_int_equal(virEventRemoveHandle(id), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_handle_added_and_removed_elsewhere, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_handle_muted_elsewhere, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timer_added_elsewhere, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shutdown_runs_the_releases_still_due, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_stale_id_matches_nothing, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
