// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The peer client (agent/peer/peerclient.h) against fake destinations on
 * 127.0.0.1, each a forked process that answers every request the same
 * way: a good answer, garbage, 10 MB, negative and impossible counts, a
 * 404, a 500, nothing at all (slow), a close without a word, and no
 * listener. Checks the state each outcome maps to, that a refused answer
 * keeps the last good one, that "gone" means silent only after the
 * destination answered before, and that a request ends by its deadline.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "loop.h"
#include "peerclient.h"

#define GOOD                                                                  \
	"{\"version\":1,\"incoming_migrations\":2,\"outgoing_migrations\":1," \
	"\"incoming_aggregate_mbps\":300,\"link_mbps\":950}"

enum mode {
	M_GOOD,
	M_GARBAGE,
	M_HUGE,
	M_NEGATIVE,
	M_HUGE_COUNTS,
	M_404,
	M_500,
	M_SLOW,
	M_CLOSE,
};

struct fake {
	int listen_fd;
	pid_t pid;
	__u16 port;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

static void reply(int fd, const char *status, const char *body)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.0 %s\r\nContent-Type: application/json\r\nContent-Length: "
			 "%zu\r\n\r\n",
			 status, strlen(body));

	send_all(fd, head, (size_t)n);
	send_all(fd, body, strlen(body));
}

static void serve_one(int fd, enum mode mode)
{
	char req[2048];
	size_t got = 0;

	/* The request's headers (bounded): the client must have sent them. */
	while (got < sizeof(req) - 1) {
		ssize_t n = recv(fd, req + got, sizeof(req) - 1 - got, 0);

		if (n <= 0)
			break;
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	switch (mode) {
	case M_GOOD:
		reply(fd, "200 OK", GOOD);
		break;
	case M_GARBAGE:
		reply(fd, "200 OK", "\x01\x02 not json at all");
		break;
	case M_HUGE: {
		static char chunk[65536];

		memset(chunk, '9', sizeof(chunk));
		send_all(fd, "HTTP/1.0 200 OK\r\n\r\n{\"version\":", 30);
		for (int i = 0; i < 160; i++) /* 10 MB */
			send_all(fd, chunk, sizeof(chunk));
		break;
	}
	case M_NEGATIVE:
		reply(fd, "200 OK",
		      "{\"version\":1,\"incoming_migrations\":-3,\"outgoing_migrations\":0,"
		      "\"incoming_aggregate_mbps\":300}");
		break;
	case M_HUGE_COUNTS:
		reply(fd, "200 OK",
		      "{\"version\":1,\"incoming_migrations\":18446744073709551615,"
		      "\"outgoing_migrations\":0,\"incoming_aggregate_mbps\":300}");
		break;
	case M_404:
		reply(fd, "404 Not Found", "not found\n");
		break;
	case M_500:
		reply(fd, "500 Internal Server Error", "cannot answer\n");
		break;
	case M_SLOW:
		sleep(5);
		break;
	case M_CLOSE:
		break;
	}
}

static void fake_start(struct fake *f, enum mode mode)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);

	f->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->listen_fd >= 0);
	assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(f->listen_fd, 16), 0);
	assert_int_equal(getsockname(f->listen_fd, (struct sockaddr *)&sin, &len), 0);
	f->port = ntohs(sin.sin_port);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		for (;;) {
			int fd = accept(f->listen_fd, NULL, NULL);

			if (fd < 0)
				_exit(0);
			serve_one(fd, mode);
			close(fd);
		}
	}
}

static void fake_stop(struct fake *f)
{
	kill(f->pid, SIGKILL);
	waitpid(f->pid, NULL, 0);
	close(f->listen_fd);
}

/* A port nothing listens on: bound, then closed. */
static __u16 dead_port(void)
{
	struct fake f;

	f.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);

	assert_int_equal(bind(f.listen_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(f.listen_fd, (struct sockaddr *)&sin, &len), 0);
	close(f.listen_fd);
	return ntohs(sin.sin_port);
}

struct run {
	struct ms_loop *loop;
	struct ms_peer_client *client;
	int tick_fd;
	__u64 concluded_before;
	long long give_up_ms;
};

static __u64 concluded(const struct ms_peer_client *c)
{
	struct ms_peer_stats st;

	ms_peer_client_stats(c, &st);
	return st.answered_total + st.silent_total + st.refused_total + st.absent_total;
}

/* Every 5 ms: has the request concluded (or did the test wait too long)? */
static int on_tick(void *ctx, uint32_t events)
{
	struct run *r = ctx;
	__u64 exp;

	(void)events;
	if (read(r->tick_fd, &exp, sizeof(exp)) < 0)
		return 0;
	if (concluded(r->client) > r->concluded_before || now_ms() > r->give_up_ms)
		ms_loop_stop(r->loop, 0);
	return 0;
}

/* Asks port once and runs the loop until the request concludes; returns its duration. */
static long long ask(struct run *r, __u16 port, __u32 timeout_ms, struct ms_peer_status *st)
{
	struct ms_peer_addr a = {.ip = {[10] = 0xff, [11] = 0xff, 127, 0, 0, 1}, .port = port};
	long long t0 = now_ms();

	r->concluded_before = concluded(r->client);
	r->give_up_ms = t0 + 3000;
	ms_peer_begin(r->client);
	ms_peer_ask(r->client, &a, timeout_ms);
	ms_peer_end(r->client);
	if (concluded(r->client) == r->concluded_before) {
		/* ms_loop_stop() is sticky; a fresh run needs a fresh flag. */
		assert_int_equal(ms_loop_run(r->loop), 0);
	}
	ms_peer_status(r->client, &a, st);
	return now_ms() - t0;
}

static void run_setup(struct run *r)
{
	struct itimerspec its = {.it_interval = {0, 5000000}, .it_value = {0, 5000000}};

	memset(r, 0, sizeof(*r));
	assert_int_equal(ms_loop_new(&r->loop), 0);
	assert_int_equal(ms_peer_client_new(r->loop, &r->client), 0);
	r->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	assert_true(r->tick_fd >= 0);
	assert_int_equal(timerfd_settime(r->tick_fd, 0, &its, NULL), 0);
	assert_int_equal(ms_loop_add(r->loop, r->tick_fd, EPOLLIN, on_tick, r), 0);
}

static void run_teardown(struct run *r)
{
	ms_loop_del(r->loop, r->tick_fd);
	close(r->tick_fd);
	ms_peer_client_free(r->client);
	ms_loop_free(r->loop);
}

/* One loop per ask: ms_loop_stop() ends a loop for good. */
static long long ask_fresh(__u16 port, __u32 timeout_ms, struct ms_peer_status *st)
{
	struct run r;
	long long ms;

	run_setup(&r);
	ms = ask(&r, port, timeout_ms, st);
	run_teardown(&r);
	return ms;
}

static void expect(enum mode mode, __u32 timeout_ms, enum ms_policy_dst want, bool answer,
		   long long max_ms)
{
	struct ms_peer_status st;
	struct fake f;
	long long ms;

	fake_start(&f, mode);
	ms = ask_fresh(f.port, timeout_ms, &st);
	fake_stop(&f);
	if (st.state != want || st.have_answer != answer || ms > max_ms)
		fail_msg("mode %d: state %s (want %s), answer %d, %lld ms (at most %lld)", mode,
			 ms_policy_dst_name(st.state), ms_policy_dst_name(want), st.have_answer, ms,
			 max_ms);
}

static void test_outcomes_first_contact(void **state)
{
	(void)state;
	expect(M_GOOD, 500, MS_POLICY_DST_ANSWERED, true, 1000);
	expect(M_GARBAGE, 500, MS_POLICY_DST_REFUSED, false, 1000);
	expect(M_HUGE, 500, MS_POLICY_DST_REFUSED, false, 1000);
	expect(M_NEGATIVE, 500, MS_POLICY_DST_REFUSED, false, 1000);
	expect(M_HUGE_COUNTS, 500, MS_POLICY_DST_REFUSED, false, 1000);
	expect(M_404, 500, MS_POLICY_DST_UNKNOWN, false, 1000);
	expect(M_500, 500, MS_POLICY_DST_SILENT, false, 1000);
	/* Ends by its deadline, not the fake's 5 s. */
	expect(M_SLOW, 200, MS_POLICY_DST_SILENT, false, 1000);
	/* Never answered: a close or no listener means no agent there. */
	expect(M_CLOSE, 500, MS_POLICY_DST_UNKNOWN, false, 1000);
	{
		struct ms_peer_status st;

		ask_fresh(dead_port(), 500, &st);
		assert_int_equal(st.state, MS_POLICY_DST_UNKNOWN);
	}
}

/*
 * One client, one destination over several cycles: answered; refused
 * answers keep the last good one; a close now means silent (it answered
 * before); a 404 means no agent; its agent gone (connection refused) after
 * answering means silent. The fake reads its mode from shared memory before
 * each request, and the loop's tick asks the next question once the
 * previous one concluded.
 */
#define M_DEAD 100

struct step {
	int mode;
	enum ms_policy_dst want;
};

static const struct step history[] = {
    {M_GOOD, MS_POLICY_DST_ANSWERED},	    {M_GARBAGE, MS_POLICY_DST_REFUSED},
    {M_HUGE, MS_POLICY_DST_REFUSED},	    {M_NEGATIVE, MS_POLICY_DST_REFUSED},
    {M_HUGE_COUNTS, MS_POLICY_DST_REFUSED}, {M_500, MS_POLICY_DST_SILENT},
    {M_GOOD, MS_POLICY_DST_ANSWERED},	    {M_CLOSE, MS_POLICY_DST_SILENT},
    {M_404, MS_POLICY_DST_UNKNOWN},	    {M_GOOD, MS_POLICY_DST_ANSWERED},
    {M_DEAD, MS_POLICY_DST_SILENT},
};

#define N_STEPS (sizeof(history) / sizeof(history[0]))

struct script {
	struct run r;
	struct fake f;
	volatile int *mode; /* shared with the fake */
	struct ms_peer_addr addr;
	size_t step;
	struct ms_peer_status seen[N_STEPS];
};

static void script_ask(struct script *s)
{
	if (history[s->step].mode == M_DEAD) {
		fake_stop(&s->f);
		s->f.pid = 0;
	} else {
		*s->mode = history[s->step].mode;
	}
	s->r.concluded_before = concluded(s->r.client);
	s->r.give_up_ms = now_ms() + 3000;
	ms_peer_begin(s->r.client);
	ms_peer_ask(s->r.client, &s->addr, 500);
	ms_peer_end(s->r.client);
}

static int on_script_tick(void *ctx, uint32_t events)
{
	struct script *s = ctx;
	__u64 exp;

	(void)events;
	if (read(s->r.tick_fd, &exp, sizeof(exp)) < 0)
		return 0;
	if (now_ms() > s->r.give_up_ms) {
		ms_loop_stop(s->r.loop, -ETIMEDOUT);
		return 0;
	}
	if (concluded(s->r.client) == s->r.concluded_before)
		return 0;
	ms_peer_status(s->r.client, &s->addr, &s->seen[s->step]);
	if (++s->step == N_STEPS)
		ms_loop_stop(s->r.loop, 0);
	else
		script_ask(s);
	return 0;
}

static void serve_shared(struct fake *f, volatile int *mode)
{
	for (;;) {
		int fd = accept(f->listen_fd, NULL, NULL);

		if (fd < 0)
			_exit(0);
		serve_one(fd, (enum mode) * mode);
		close(fd);
	}
}

static void test_history(void **state)
{
	struct itimerspec its = {.it_interval = {0, 5000000}, .it_value = {0, 5000000}};
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	struct script *s = test_calloc(1, sizeof(*s));

	(void)state;
	s->mode =
	    mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(s->mode != MAP_FAILED);
	*s->mode = M_GOOD;
	s->f.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(s->f.listen_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(s->f.listen_fd, 16), 0);
	assert_int_equal(getsockname(s->f.listen_fd, (struct sockaddr *)&sin, &len), 0);
	s->f.pid = fork();
	assert_true(s->f.pid >= 0);
	if (s->f.pid == 0)
		serve_shared(&s->f, s->mode);
	s->addr = (struct ms_peer_addr){.ip = {[10] = 0xff, [11] = 0xff, 127, 0, 0, 1},
					.port = ntohs(sin.sin_port)};

	assert_int_equal(ms_loop_new(&s->r.loop), 0);
	assert_int_equal(ms_peer_client_new(s->r.loop, &s->r.client), 0);
	s->r.tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	assert_int_equal(timerfd_settime(s->r.tick_fd, 0, &its, NULL), 0);
	assert_int_equal(ms_loop_add(s->r.loop, s->r.tick_fd, EPOLLIN, on_script_tick, s), 0);
	script_ask(s);
	assert_int_equal(ms_loop_run(s->r.loop), 0);
	for (size_t i = 0; i < N_STEPS; i++) {
		const struct ms_peer_status *st = &s->seen[i];

		if (st->state != history[i].want)
			fail_msg("step %zu (mode %d): %s, want %s", i, history[i].mode,
				 ms_policy_dst_name(st->state),
				 ms_policy_dst_name(history[i].want));
		/* One unanswered question each time: the count restarts after any answer. */
		assert_int_equal(st->silent, st->state == MS_POLICY_DST_SILENT ? 1 : 0);
		/* From the first good answer on, the last good one is kept, whatever came after. */
		assert_true(st->have_answer);
		assert_int_equal(st->answer.incoming_migrations, 2);
		assert_int_equal(st->answer.incoming_aggregate_mbps, 300);
	}
	if (s->f.pid)
		fake_stop(&s->f);
	run_teardown(&s->r);
	munmap((void *)s->mode, sizeof(int));
	test_free(s);
}

static void count_change(void *ctx)
{
	(*(int *)ctx)++;
}

/* How often the caller hears of a change when mode answers a first question. */
static int changes_on_first_contact(enum mode mode)
{
	struct ms_peer_status st;
	struct fake f;
	struct run r;
	int changes = 0;

	fake_start(&f, mode);
	run_setup(&r);
	ms_peer_client_on_change(r.client, count_change, &changes);
	ask(&r, f.port, 300, &st);
	run_teardown(&r);
	fake_stop(&f);
	return changes;
}

/*
 * The caller hears of a change between its cycles, once: a first answer, a
 * refused one; a 404 leaves the destination unknown, as it was: no change.
 */
static void test_change_notified(void **state)
{
	(void)state;
	assert_int_equal(changes_on_first_contact(M_GOOD), 1);
	assert_int_equal(changes_on_first_contact(M_GARBAGE), 1);
	assert_int_equal(changes_on_first_contact(M_404), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_outcomes_first_contact),
	    cmocka_unit_test(test_history),
	    cmocka_unit_test(test_change_notified),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
