// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The event loop: a source removed and replaced within one batch never gets the old event. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <cmocka.h>

#include "loop.h"

struct fixture {
	struct ms_loop *loop;
	int a, b, c, stop;
	int calls_a, calls_b, calls_c;
};

static int on_c(void *ctx, uint32_t events)
{
	struct fixture *f = ctx;

	(void)events;
	f->calls_c++;
	return 0;
}

/* A removes B and adds C, which takes B's slot, while B's event is pending. */
static int on_a(void *ctx, uint32_t events)
{
	struct fixture *f = ctx;
	uint64_t v;

	(void)events;
	f->calls_a++;
	assert_int_equal(read(f->a, &v, sizeof(v)), sizeof(v));
	assert_int_equal(ms_loop_del(f->loop, f->b), 0);
	assert_int_equal(ms_loop_add(f->loop, f->c, EPOLLIN, on_c, f), 0);
	return 0;
}

static int on_b(void *ctx, uint32_t events)
{
	struct fixture *f = ctx;

	(void)events;
	f->calls_b++;
	return 0;
}

static int on_stop(void *ctx, uint32_t events)
{
	struct fixture *f = ctx;

	(void)events;
	ms_loop_stop(f->loop, 0);
	return 0;
}

static void test_replaced_source_gets_no_stale_event(void **state)
{
	struct fixture f = {};
	uint64_t one = 1;

	(void)state;
	assert_int_equal(ms_loop_new(&f.loop), 0);
	f.a = eventfd(0, EFD_NONBLOCK);
	f.b = eventfd(0, EFD_NONBLOCK);
	f.c = eventfd(0, EFD_NONBLOCK); /* never readable */
	f.stop = eventfd(0, EFD_NONBLOCK);
	assert_int_equal(ms_loop_add(f.loop, f.a, EPOLLIN, on_a, &f), 0);
	assert_int_equal(ms_loop_add(f.loop, f.b, EPOLLIN, on_b, &f), 0);
	assert_int_equal(ms_loop_add(f.loop, f.stop, EPOLLIN, on_stop, &f), 0);
	/* Ready in this order: epoll reports them in one batch, A first. */
	assert_int_equal(write(f.a, &one, sizeof(one)), sizeof(one));
	assert_int_equal(write(f.b, &one, sizeof(one)), sizeof(one));
	assert_int_equal(write(f.stop, &one, sizeof(one)), sizeof(one));
	assert_int_equal(ms_loop_run(f.loop), 0);
	assert_int_equal(f.calls_a, 1);
	assert_int_equal(f.calls_b, 0);
	/* C took B's slot; B's pending event must not reach it. */
	assert_int_equal(f.calls_c, 0);
	ms_loop_free(f.loop);
	close(f.a);
	close(f.b);
	close(f.c);
	close(f.stop);
}

static int on_fail(void *ctx, uint32_t events)
{
	(void)ctx;
	(void)events;
	return -EPIPE;
}

static void test_failing_callback_stops_the_loop(void **state)
{
	struct ms_loop *loop;
	uint64_t one = 1;
	int fd = eventfd(0, EFD_NONBLOCK);

	(void)state;
	assert_int_equal(ms_loop_new(&loop), 0);
	assert_int_equal(ms_loop_add(loop, fd, EPOLLIN, on_fail, NULL), 0);
	assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
	assert_int_equal(ms_loop_run(loop), -EPIPE);
	assert_int_equal(ms_loop_del(loop, fd), 0);
	assert_int_equal(ms_loop_del(loop, fd), -ENOENT);
	ms_loop_free(loop);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replaced_source_gets_no_stale_event),
		cmocka_unit_test(test_failing_callback_stops_the_loop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
