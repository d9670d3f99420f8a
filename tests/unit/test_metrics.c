// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Metrics: the exposition text (checked by promtool when it is installed),
 * label escaping, unknown values, and the HTTP server driven by a real
 * ms_loop and scraped by child processes over 127.0.0.1.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"
#include "loop.h"
#include "http.h"
#include "metrics.h"

#define PROMTOOL "/usr/bin/promtool"

/* --- fixtures --------------------------------------------------------------- */

struct fixture {
	struct ms_metrics_class classes[8];
	struct ms_metrics_migration migs[8];
	struct ms_metrics_snapshot snap;
};

static void add_class(struct fixture *f, const char *name, __u64 base)
{
	struct ms_metrics_class *c = &f->classes[f->snap.n_classes++];

	snprintf(c->name, sizeof(c->name), "%s", name);
	c->have_tc = true;
	c->bytes = base * 1500;
	c->packets = base;
	c->drops = base / 100;
	c->overlimits = base / 10;
	c->backlog_bytes = 3000;
	c->have_bpf = true;
	c->bpf_bytes = base * 1500 + 42;
	c->bpf_packets = base + 1;
}

static struct ms_metrics_migration *add_mig(struct fixture *f, const char *domain, const char *dir,
					    const char *cls)
{
	struct ms_metrics_migration *m = &f->migs[f->snap.n_migrations++];

	snprintf(m->domain, sizeof(m->domain), "%s", domain);
	m->direction = dir;
	m->state = "active";
	snprintf(m->class_name, sizeof(m->class_name), "%s", cls ? cls : "");
	m->have_job_stats = true;
	m->observed_bytes_per_s = 110000000;
	m->remaining_bytes = 4ULL << 30;
	m->dirty_bytes_per_s = 20000000;
	m->iteration = 3;
	m->expected_completion_s = 37.5;
	m->actions_total[MS_METRICS_ACTION_RAISE_DOWNTIME] = 1;
	if (cls) {
		m->allocated_bps = 1000000000;
		m->libvirt_speed_mibs = 110;
	}
	return m;
}

static void fill(struct fixture *f)
{
	struct ms_metrics_migration *m;

	memset(f, 0, sizeof(*f));
	f->snap.iface = "eth0";
	f->snap.version = "0.1.0-test";
	f->snap.classes = f->classes;
	f->snap.migrations = f->migs;
	add_class(f, "link", 1000000);
	add_class(f, "mgmt", 20000);
	add_class(f, "aggregate", 900000);
	add_class(f, "unattributed", 10);
	add_class(f, "default", 50000);
	add_class(f, "mig:0", 600000);
	add_class(f, "mig:1", 300000);
	add_mig(f, "web-01", "outgoing", "mig:0");
	m = add_mig(f, "db-02", "outgoing", "mig:1");
	m->stalled = true;
	m->auto_converge = true;
	m->throttle_pct = 40;
	m->manager_speed = true;
	m->advised_total[MS_METRICS_ACTION_POSTCOPY] = 2;
	add_mig(f, "cache-03", "incoming", NULL);
	f->snap.have_mgmt_health = true;
	f->snap.mgmt_rtt_seconds = 0.00042;
	f->snap.mgmt_retransmits_total = 7;
	f->snap.effective_aggregate_bps = 8000000000ULL;
	f->snap.link_bps = 10000000000ULL;
	f->snap.unattributed_flows_total = 2;
	f->snap.libvirt_connected = true;
	f->snap.libvirt_reconnects_total = 1;
	f->snap.libvirt_calls_deferred_total = 7;
	f->snap.last_cycle_seconds = 0.0031;
	f->snap.errors_total[MS_METRICS_ERR_NETLINK] = 4;
	f->snap.knob_writes_accepted_total = 5;
	f->snap.knob_writes_rejected_total = 1;
}

/* --- helpers ---------------------------------------------------------------- */

/* Runs promtool check metrics on text; returns its exit status, output in out. */
static int promtool_check(const char *text, size_t len, char *out, size_t outlen)
{
	char path[] = "/tmp/test_metrics.XXXXXX";
	char cmd[128];
	size_t n = 0;
	FILE *p;
	int fd, st;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	snprintf(cmd, sizeof(cmd), PROMTOOL " check metrics < %s 2>&1", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (n + 1 < outlen) {
		size_t r = fread(out + n, 1, outlen - 1 - n, p);

		if (!r)
			break;
		n += r;
	}
	out[n] = '\0';
	st = pclose(p);
	unlink(path);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void assert_promtool_clean(const char *text, size_t len)
{
	char out[8192];
	int rc;

	if (access(PROMTOOL, X_OK) != 0) {
		print_message("promtool missing: exposition not validated\n");
		return;
	}
	rc = promtool_check(text, len, out, sizeof(out));
	if (rc != 0 || out[0])
		print_message("promtool exit %d:\n%s\n", rc, out);
	assert_int_equal(rc, 0);
	/* Lint findings are printed even with exit 0 in some versions. */
	assert_string_equal(out, "");
}

/* The sample line of metric whose label set starts with prefix, or NULL. */
static const char *find_sample(const char *text, const char *metric, const char *prefix)
{
	char needle[512];

	snprintf(needle, sizeof(needle), "\n%s%s", metric, prefix);
	return strstr(text, needle);
}

/* Decodes a label value that starts at p (after the opening quote). */
static void unescape_label(const char *p, char *out, size_t outlen)
{
	size_t n = 0;

	while (*p && *p != '"' && n + 1 < outlen) {
		if (*p == '\\') {
			p++;
			out[n++] = *p == 'n' ? '\n' : *p;
			p++;
			continue;
		}
		if (*p == '\n')
			fail_msg("raw newline inside a label value");
		out[n++] = *p++;
	}
	assert_int_equal(*p, '"');
	out[n] = '\0';
}

/* --- rendering -------------------------------------------------------------- */

static const char *const required[] = {
    "migshaper_class_bytes_total",
    "migshaper_class_packets_total",
    "migshaper_class_drops_total",
    "migshaper_class_overlimits_total",
    "migshaper_class_backlog_bytes",
    "migshaper_classifier_bytes_total",
    "migshaper_classifier_packets_total",
    "migshaper_migration_info",
    "migshaper_migration_allocated_bytes_per_second",
    "migshaper_migration_libvirt_speed_bytes_per_second",
    "migshaper_migration_observed_bytes_per_second",
    "migshaper_migration_remaining_bytes",
    "migshaper_migration_dirty_bytes_per_second",
    "migshaper_migration_iteration",
    "migshaper_migration_expected_completion_seconds",
    "migshaper_migration_stalled",
    "migshaper_migration_actions_total",
    "migshaper_mgmt_rtt_seconds",
    "migshaper_mgmt_retransmits_total",
    "migshaper_effective_aggregate_bytes_per_second",
    "migshaper_link_bytes_per_second",
    "migshaper_unattributed_flows_total",
    "migshaper_libvirt_connected",
    "migshaper_libvirt_reconnects_total",
    "migshaper_libvirt_calls_deferred_total",
    "migshaper_cycle_duration_seconds",
    "migshaper_errors_total",
    "migshaper_knob_writes_total",
    "migshaper_build_info",
};

static void test_render_full(void **state)
{
	struct fixture f;
	char *text = NULL;
	size_t len = 0;

	(void)state;
	fill(&f);
	assert_int_equal(ms_metrics_render(&f.snap, &text, &len), 0);
	assert_int_equal(strlen(text), len);
	assert_true(len > 0 && text[len - 1] == '\n');
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		char help[128], type[128];

		snprintf(help, sizeof(help), "# HELP %s ", required[i]);
		snprintf(type, sizeof(type), "# TYPE %s ", required[i]);
		if (!strstr(text, help) || !strstr(text, type) ||
		    !find_sample(text, required[i], ""))
			fail_msg("series %s missing", required[i]);
	}
	/* Base units: bits per second become bytes per second, MiB/s bytes/s. */
	assert_non_null(strstr(text,
			       "\nmigshaper_migration_allocated_bytes_per_second{iface=\"eth0\","
			       "domain=\"web-01\",direction=\"outgoing\"} 125000000\n"));
	assert_non_null(strstr(text,
			       "\nmigshaper_migration_libvirt_speed_bytes_per_second{iface=\""
			       "eth0\",domain=\"web-01\",direction=\"outgoing\"} 115343360\n"));
	assert_non_null(
	    strstr(text, "\nmigshaper_link_bytes_per_second{iface=\"eth0\"} 1250000000\n"));
	assert_non_null(strstr(text, "\nmigshaper_mgmt_rtt_seconds{iface=\"eth0\"} 0.00042\n"));
	assert_non_null(
	    strstr(text, "\nmigshaper_class_drops_total{iface=\"eth0\",class=\"mgmt\"} 200\n"));
	assert_non_null(strstr(text,
			       "\nmigshaper_migration_stalled{iface=\"eth0\",domain=\"db-02\","
			       "direction=\"outgoing\"} 1\n"));
	assert_non_null(strstr(text,
			       "\nmigshaper_migration_actions_total{iface=\"eth0\",domain=\""
			       "web-01\",direction=\"outgoing\",action=\"raise_downtime\"} 1\n"));
	/* Auto-converge, the manager's holds and advised actions, per migration. */
	assert_non_null(strstr(text,
			       "\nmigshaper_migration_autoconverge_throttle_ratio{iface=\"eth0\","
			       "domain=\"db-02\",direction=\"outgoing\"} 0.4\n"));
	assert_null(find_sample(text, "migshaper_migration_autoconverge_throttle_ratio",
				"{iface=\"eth0\",domain=\"web-01\""));
	assert_non_null(strstr(text,
			       "\nmigshaper_migration_manager_held{iface=\"eth0\",domain=\"db-02\","
			       "direction=\"outgoing\",param=\"speed\"} 1\n"));
	assert_non_null(
	    strstr(text, "\nmigshaper_migration_manager_held{iface=\"eth0\",domain=\"web-01\","
			 "direction=\"outgoing\",param=\"speed\"} 0\n"));
	assert_non_null(
	    strstr(text, "\nmigshaper_migration_advised_total{iface=\"eth0\",domain=\"db-02\","
			 "direction=\"outgoing\",action=\"postcopy\"} 2\n"));
	assert_non_null(strstr(text, "\nmigshaper_errors_total{kind=\"netlink\"} 4\n"));
	assert_non_null(strstr(text, "\nmigshaper_knob_writes_total{result=\"rejected\"} 1\n"));
	assert_non_null(strstr(text, "\nmigshaper_build_info{version=\"0.1.0-test\"} 1\n"));
	assert_non_null(strstr(text,
			       "\nmigshaper_migration_info{iface=\"eth0\",domain=\"web-01\","
			       "direction=\"outgoing\",class=\"mig:0\",state=\"active\"} 1\n"));
	/* The incoming migration has no class: no class label, no allocation. */
	assert_non_null(strstr(text,
			       "\nmigshaper_migration_info{iface=\"eth0\",domain=\"cache-03\","
			       "direction=\"incoming\",state=\"active\"} 1\n"));
	assert_null(find_sample(text, "migshaper_migration_allocated_bytes_per_second",
				"{iface=\"eth0\",domain=\"cache-03\""));
	assert_promtool_clean(text, len);
	free(text);
}

static void test_render_unknown_omitted(void **state)
{
	struct fixture f;
	char *text = NULL;
	size_t len = 0;

	(void)state;
	fill(&f);
	f.snap.have_mgmt_health = false;
	f.snap.effective_aggregate_bps = 0;
	f.snap.link_bps = 0;
	f.snap.last_cycle_seconds = -1;
	f.snap.version = NULL;
	f.classes[1].have_tc = false; /* mgmt: tc read failed */
	f.migs[0].have_job_stats = false;
	f.migs[1].expected_completion_s = -1;
	assert_int_equal(ms_metrics_render(&f.snap, &text, &len), 0);
	assert_null(strstr(text, "migshaper_mgmt_rtt_seconds"));
	assert_null(strstr(text, "migshaper_mgmt_retransmits_total"));
	assert_null(strstr(text, "migshaper_effective_aggregate_bytes_per_second"));
	assert_null(strstr(text, "migshaper_link_bytes_per_second"));
	assert_null(strstr(text, "migshaper_cycle_duration_seconds"));
	assert_null(strstr(text, "migshaper_build_info"));
	assert_null(
	    find_sample(text, "migshaper_class_bytes_total", "{iface=\"eth0\",class=\"mgmt\""));
	/* The classifier counters of mgmt are still known. */
	assert_non_null(find_sample(text, "migshaper_classifier_bytes_total",
				    "{iface=\"eth0\",class=\"mgmt\""));
	assert_null(find_sample(text, "migshaper_migration_remaining_bytes",
				"{iface=\"eth0\",domain=\"web-01\""));
	assert_non_null(find_sample(text, "migshaper_migration_remaining_bytes",
				    "{iface=\"eth0\",domain=\"db-02\""));
	assert_null(find_sample(text, "migshaper_migration_expected_completion_seconds",
				"{iface=\"eth0\",domain=\"db-02\""));
	/* Allocation and stalled do not come from the job stats. */
	assert_non_null(find_sample(text, "migshaper_migration_allocated_bytes_per_second",
				    "{iface=\"eth0\",domain=\"web-01\""));
	assert_non_null(
	    find_sample(text, "migshaper_migration_stalled", "{iface=\"eth0\",domain=\"web-01\""));
	assert_promtool_clean(text, len);
	free(text);
}

static void test_render_empty_and_invalid(void **state)
{
	struct ms_metrics_snapshot s = {.iface = "eth0", .last_cycle_seconds = -1};
	char *text = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(ms_metrics_render(&s, &text, &len), 0);
	/* A fresh agent: no classes or migrations, families without samples are absent. */
	assert_null(strstr(text, "migshaper_class_"));
	assert_null(strstr(text, "migshaper_migration_"));
	assert_non_null(strstr(text, "\nmigshaper_libvirt_connected 0\n"));
	assert_promtool_clean(text, len);
	free(text);

	s.iface = NULL;
	assert_int_equal(ms_metrics_render(&s, &text, &len), -EINVAL);
	s.iface = "eth0";
	s.n_classes = 1;
	assert_int_equal(ms_metrics_render(&s, &text, &len), -EINVAL);
	assert_int_equal(ms_metrics_render(NULL, &text, &len), -EINVAL);
}

static void test_render_hostile_names(void **state)
{
	static const struct {
		const char *in, *want;
	} names[] = {
	    {"a\"b", "a\"b"},
	    {"c\\d", "c\\d"},
	    {"e\nf", "e\nf"},
	    {"\\\"\n\\n", "\\\"\n\\n"},
	    {"gr\xc3\xbc\xc3\x9f-\xe6\x97\xa5\xe6\x9c\xac-\xf0\x9f\x9a\x80", /* grüß-日本-🚀 */
	     "gr\xc3\xbc\xc3\x9f-\xe6\x97\xa5\xe6\x9c\xac-\xf0\x9f\x9a\x80"},
	    /* Invalid UTF-8: stray byte, overlong '/', surrogate, truncated sequence. */
	    {"x\xffy\xc0\xafz\xed\xa0\x80w\xe6\x97",
	     "x\xef\xbf\xbdy\xef\xbf\xbd\xef\xbf\xbdz\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdw"
	     "\xef\xbf\xbd\xef\xbf\xbd"},
	    {"tab\tcr\r{}=,# HELP", "tab\tcr\r{}=,# HELP"},
	};
	const size_t n = sizeof(names) / sizeof(names[0]);
	struct fixture f;
	char *text = NULL, *line, *save;
	size_t len = 0, samples = 0;

	(void)state;
	memset(&f, 0, sizeof(f));
	f.snap.iface = "eth\"0\\";
	f.snap.version = "1.0 \"quoted\"\n";
	f.snap.migrations = f.migs;
	f.snap.last_cycle_seconds = -1;
	for (size_t i = 0; i < n; i++)
		add_mig(&f, names[i].in, "outgoing", "mig:0");
	assert_int_equal(ms_metrics_render(&f.snap, &text, &len), 0);
	assert_promtool_clean(text, len);

	for (size_t i = 0; i < n; i++) {
		char got[512];
		const char *p = NULL, *q = text;

		/* The i-th stalled sample belongs to the i-th migration. */
		for (size_t k = 0; k <= i; k++) {
			p = strstr(q, "\nmigshaper_migration_stalled{");
			assert_non_null(p);
			q = p + 1;
		}
		p = strstr(p, "domain=\"");
		assert_non_null(p);
		unescape_label(p + strlen("domain=\""), got, sizeof(got));
		assert_string_equal(got, names[i].want);
	}
	/* Every line is a comment or a sample: no newline leaked out of a label. */
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		assert_int_equal(strncmp(line, "migshaper_", 10), 0);
		samples++;
	}
	/*
	 * 9 per-migration gauges (info included), 5 actions, 4 advised actions
	 * and 3 manager holds (no auto-converge here), plus the host's
	 * (unattributed flows and migrations, evicted, unseen migrations, tree,
	 * reasserts, one per limit) and the agent's own, and the peer counters
	 * (4 outcomes, 2 results; no divisor: none decided), and the libvirt
	 * calls deferred.
	 */
	assert_int_equal(samples, n * (9 + MS_METRICS_ACTIONS + MS_METRICS_ACTIONS - 1 + 3) + 6 +
				      MS_METRICS_LIMITS + 1 + 1 + 1 + 4 + 2 + 1 + 4 + 2 + 1);
	free(text);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(ms_metrics_action_name(MS_METRICS_ACTION_POSTCOPY), "postcopy");
	assert_null(ms_metrics_action_name(MS_METRICS_ACTIONS));
	assert_string_equal(ms_metrics_error_kind_name(MS_METRICS_ERR_ATTRIBUTION), "attribution");
	assert_null(ms_metrics_error_kind_name(MS_METRICS_ERR_KINDS));
}

/* --- HTTP ------------------------------------------------------------------- */

#define MAX_CLIENTS 4

struct http;

struct client {
	struct http *h;
	pid_t pid;
	int fd; /* read end of the pipe the child writes the response to */
	char *resp;
	size_t len, cap;
};

struct http {
	struct fixture f;
	int snapshot_err;
	unsigned int snapshots;
	struct ms_loop *loop;
	struct ms_metrics_server *srv;
	int deadline_fd;
	struct client clients[MAX_CLIENTS];
	size_t n_clients, pending;
};

static int snapshot_fn(void *ctx, struct ms_metrics_snapshot *snap)
{
	struct http *h = ctx;

	h->snapshots++;
	if (h->snapshot_err)
		return h->snapshot_err;
	*snap = h->f.snap;
	return 0;
}

static int on_deadline(void *ctx, uint32_t events)
{
	(void)events;
	ms_loop_stop(ctx, -ETIMEDOUT);
	return 0;
}

static int http_setup(void **state)
{
	struct itimerspec its = {.it_value.tv_sec = 15};
	struct http *h = calloc(1, sizeof(*h));

	assert_non_null(h);
	fill(&h->f);
	assert_int_equal(ms_loop_new(&h->loop), 0);
	assert_int_equal(
	    ms_metrics_server_start(h->loop, "127.0.0.1", 0, NULL, snapshot_fn, h, &h->srv), 0);
	assert_true(ms_metrics_server_port(h->srv) != 0);
	/* Bounds every test: a server that never answers fails instead of hanging. */
	h->deadline_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	assert_true(h->deadline_fd >= 0);
	assert_int_equal(timerfd_settime(h->deadline_fd, 0, &its, NULL), 0);
	assert_int_equal(ms_loop_add(h->loop, h->deadline_fd, EPOLLIN, on_deadline, h->loop), 0);
	*state = h;
	return 0;
}

static int http_teardown(void **state)
{
	struct http *h = *state;

	for (size_t i = 0; i < h->n_clients; i++) {
		if (h->clients[i].fd >= 0)
			close(h->clients[i].fd);
		if (h->clients[i].pid > 0)
			waitpid(h->clients[i].pid, NULL, 0);
		free(h->clients[i].resp);
	}
	ms_metrics_server_stop(h->srv);
	close(h->deadline_fd);
	ms_loop_free(h->loop);
	free(h);
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * The child side: sends part1, waits for a byte on wait_fd (if >= 0), sends
 * part2, reads the response to EOF and copies it into out_fd, then writes a
 * byte to done_fd (if >= 0). Plain blocking sockets, as a scraper would use.
 */
static void __attribute__((noreturn))
client_main(__u16 port, const char *part1, const char *part2, int wait_fd, int done_fd, int out_fd)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	char buf[65536];
	ssize_t n;
	int s;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		_exit(2);
	if (write_all(s, part1, strlen(part1)))
		_exit(3);
	if (wait_fd >= 0 && read(wait_fd, buf, 1) != 1)
		_exit(4);
	if (part2 && write_all(s, part2, strlen(part2)))
		_exit(5);
	while ((n = read(s, buf, sizeof(buf))) > 0)
		if (write_all(out_fd, buf, (size_t)n))
			_exit(6);
	if (n < 0)
		_exit(7);
	if (done_fd >= 0 && write(done_fd, "x", 1) != 1)
		_exit(8);
	_exit(0);
}

static int on_client_out(void *ctx, uint32_t events)
{
	struct client *c = ctx;
	struct http *h = c->h;
	ssize_t n;

	(void)events;
	if (c->cap - c->len < 65536) {
		c->cap = c->cap * 2 + 65536;
		c->resp = realloc(c->resp, c->cap + 1);
		assert_non_null(c->resp);
	}
	n = read(c->fd, c->resp + c->len, c->cap - c->len);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	c->len += (size_t)n;
	c->resp[c->len] = '\0';
	if (n == 0) {
		ms_loop_del(h->loop, c->fd);
		close(c->fd);
		c->fd = -1;
		if (--h->pending == 0)
			ms_loop_stop(h->loop, 0);
	}
	return 0;
}

static void start_client(struct http *h, const char *part1, const char *part2, int wait_fd,
			 int done_fd, int close_fd1, int close_fd2)
{
	struct client *c = &h->clients[h->n_clients];
	int p[2];

	assert_true(h->n_clients < MAX_CLIENTS);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (c->pid == 0) {
		close(p[0]);
		if (close_fd1 >= 0)
			close(close_fd1);
		if (close_fd2 >= 0)
			close(close_fd2);
		client_main(ms_metrics_server_port(h->srv), part1, part2, wait_fd, done_fd, p[1]);
	}
	close(p[1]);
	c->fd = p[0];
	c->h = h;
	c->resp = calloc(1, 1);
	assert_int_equal(ms_loop_add(h->loop, c->fd, EPOLLIN, on_client_out, c), 0);
	h->n_clients++;
	h->pending++;
}

static void run_clients(struct http *h)
{
	assert_int_equal(ms_loop_run(h->loop), 0);
	for (size_t i = 0; i < h->n_clients; i++) {
		int st;

		assert_int_equal(waitpid(h->clients[i].pid, &st, 0), h->clients[i].pid);
		h->clients[i].pid = 0;
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
}

struct parsed {
	int status;
	char content_type[128];
	char allow[64];
	long content_length;
	const char *body;
	size_t body_len;
};

static void header_value(const char *head, size_t head_len, const char *name, char *out,
			 size_t outlen)
{
	size_t nlen = strlen(name);

	out[0] = '\0';
	for (const char *p = head; p && p < head + head_len; p = strstr(p, "\r\n")) {
		size_t n = 0;

		p += 2;
		if (strncasecmp(p, name, nlen) != 0 || p[nlen] != ':')
			continue;
		p += nlen + 1;
		while (*p == ' ')
			p++;
		while (p[n] && p[n] != '\r' && n + 1 < outlen) {
			out[n] = p[n];
			n++;
		}
		out[n] = '\0';
		return;
	}
}

static void parse_response(const struct client *c, struct parsed *r)
{
	const char *end = strstr(c->resp, "\r\n\r\n");
	char cl[32];

	memset(r, 0, sizeof(*r));
	assert_non_null(end);
	assert_int_equal(sscanf(c->resp, "HTTP/1.%*d %d", &r->status), 1);
	header_value(c->resp, (size_t)(end - c->resp) + 2, "Content-Type", r->content_type,
		     sizeof(r->content_type));
	header_value(c->resp, (size_t)(end - c->resp) + 2, "Allow", r->allow, sizeof(r->allow));
	header_value(c->resp, (size_t)(end - c->resp) + 2, "Content-Length", cl, sizeof(cl));
	r->content_length = cl[0] ? strtol(cl, NULL, 10) : -1;
	r->body = end + 4;
	r->body_len = c->len - (size_t)(r->body - c->resp);
}

static void assert_metrics_response(struct http *h, const struct client *c)
{
	struct parsed r;
	char *want = NULL;
	size_t want_len = 0;

	parse_response(c, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
	assert_int_equal(ms_metrics_render(&h->f.snap, &want, &want_len), 0);
	/* The snapshot's series, then the server's own (rendered last). */
	assert_true(r.body_len > want_len);
	assert_int_equal(r.content_length, (long)r.body_len);
	assert_memory_equal(r.body, want, want_len);
	assert_int_equal(strncmp(r.body + want_len, "# HELP migshaper_http_connections ", 34), 0);
	assert_non_null(
	    strstr(r.body + want_len,
		   "migshaper_http_connections_shed_total{reason=\"header_timeout\"} "));
	free(want);
}

static void test_http_scrape(void **state)
{
	struct http *h = *state;
	struct parsed r;

	start_client(h, "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
		     NULL, -1, -1, -1, -1);
	run_clients(h);
	assert_metrics_response(h, &h->clients[0]);
	assert_int_equal(h->snapshots, 1);
	parse_response(&h->clients[0], &r);
	assert_promtool_clean(r.body, r.body_len);
}

static void test_http_head_404_405(void **state)
{
	struct http *h = *state;
	struct parsed r;

	start_client(h, "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", NULL, -1,
		     -1, -1, -1);
	start_client(h, "GET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", NULL, -1, -1,
		     -1, -1);
	start_client(h,
		     "POST /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
		     "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\n"
		     "a=1",
		     NULL, -1, -1, -1, -1);
	start_client(h, "GET /metrics/ HTTP/1.0\r\n\r\n", NULL, -1, -1, -1, -1);
	run_clients(h);

	parse_response(&h->clients[0], &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
	assert_int_equal(r.body_len, 0);

	parse_response(&h->clients[1], &r);
	assert_int_equal(r.status, 404);
	parse_response(&h->clients[2], &r);
	assert_int_equal(r.status, 405);
	assert_string_equal(r.allow, "GET, HEAD");
	parse_response(&h->clients[3], &r);
	assert_int_equal(r.status, 404);
	/* Only the HEAD rendered a snapshot. */
	assert_int_equal(h->snapshots, 1);
}

/*
 * Client A sends half a request and waits until client B has its whole
 * response: B must be served while A's connection is open and unfinished.
 */
static void test_http_concurrent(void **state)
{
	struct http *h = *state;
	int sig[2];

	assert_int_equal(pipe2(sig, O_CLOEXEC), 0);
	start_client(h, "GET /metrics HTTP/1.1\r\nHost: a\r\n", "Connection: close\r\n\r\n", sig[0],
		     -1, sig[1], -1);
	start_client(h, "GET /metrics HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n", NULL, -1,
		     sig[1], sig[0], -1);
	close(sig[0]);
	close(sig[1]);
	run_clients(h);
	assert_metrics_response(h, &h->clients[0]);
	assert_metrics_response(h, &h->clients[1]);
	assert_int_equal(h->snapshots, 2);
}

/* HTTP/1.1 keep-alive, as Prometheus scrapes: two requests on one connection. */
static void test_http_keepalive(void **state)
{
	struct http *h = *state;
	const char *second;
	struct parsed r;

	start_client(h,
		     "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
		     "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		     NULL, -1, -1, -1, -1);
	run_clients(h);
	parse_response(&h->clients[0], &r);
	assert_int_equal(r.status, 200);
	assert_true(r.content_length > 0);
	second = r.body + r.content_length;
	assert_int_equal(strncmp(second, "HTTP/1.1 200", 12), 0);
	assert_int_equal(h->snapshots, 2);
}

static void test_http_snapshot_error(void **state)
{
	struct http *h = *state;
	struct parsed r;

	h->snapshot_err = -EIO;
	start_client(h, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", NULL, -1,
		     -1, -1, -1);
	run_clients(h);
	parse_response(&h->clients[0], &r);
	assert_int_equal(r.status, 500);
}

/* --- HTTP under abuse ---------------------------------------------------------- */

static int connect_idle(__u16 port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(s >= 0);
	/* The kernel completes the handshake whether or not the server accepts. */
	assert_int_equal(connect(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return s;
}

/*
 * A test's steps in one run of the loop (a stopped ms_loop does not run
 * again): step() is called after ms milliseconds.
 */
struct step {
	struct http *h;
	int fd;
	void (*fn)(struct http *h);
};

static int on_step(void *ctx, uint32_t events)
{
	struct step *st = ctx;

	(void)events;
	ms_loop_del(st->h->loop, st->fd);
	close(st->fd);
	st->fn(st->h);
	free(st);
	return 0;
}

static void after(struct http *h, long ms, void (*fn)(struct http *h))
{
	struct itimerspec its = {
	    .it_value = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L}};
	struct step *st = calloc(1, sizeof(*st));

	assert_non_null(st);
	st->h = h;
	st->fn = fn;
	st->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	assert_true(st->fd >= 0);
	assert_int_equal(timerfd_settime(st->fd, 0, &its, NULL), 0);
	assert_int_equal(ms_loop_add(h->loop, st->fd, EPOLLIN, on_step, st), 0);
}

/*
 * A test whose scrape starts later holds h->pending at one meanwhile (or its
 * run would end at once); the scrape takes that place.
 */
static void start_scrape(struct http *h)
{
	start_client(h, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", NULL, -1,
		     -1, -1, -1);
	h->pending--;
}

/* The value of the sample that starts with prefix in a scrape's body. */
static long long scraped_value(const struct client *c, const char *prefix)
{
	struct parsed r;
	const char *p;

	parse_response(c, &r);
	assert_int_equal(r.status, 200);
	p = strstr(r.body, prefix);
	assert_non_null(p);
	return strtoll(p + strlen(prefix), NULL, 10);
}

/*
 * More idle connections from one address than it may hold, then gone: the
 * excess is shed at once (not left in the accept queue), and once they
 * leave, a scrape from the same address is served. The old server stopped
 * watching its listen socket here and never answered again.
 */
#define IDLE_FLOOD (MS_HTTP_MAX_PER_ADDRESS * 2 + 1)
static int idle_socks[IDLE_FLOOD];

static void close_idle(struct http *h)
{
	for (size_t i = 0; i < IDLE_FLOOD; i++)
		close(idle_socks[i]);
	after(h, 100, start_scrape);
}

static void test_http_idle_flood_recovers(void **state)
{
	struct http *h = *state;

	for (size_t i = 0; i < IDLE_FLOOD; i++)
		idle_socks[i] = connect_idle(ms_metrics_server_port(h->srv));
	after(h, 300, close_idle);
	h->pending++;
	run_clients(h);
	assert_metrics_response(h, &h->clients[0]);
	assert_int_equal(
	    scraped_value(&h->clients[0],
			  "migshaper_http_connections_shed_total{reason=\"address_limit\"} "),
	    IDLE_FLOOD - MS_HTTP_MAX_PER_ADDRESS);
}

struct trickle {
	struct http *h;
	int sock, timer;
	struct timespec start;
	double closed_after_s;
};

static double since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* One more header line every tick: the connection is never idle. */
static int on_trickle_tick(void *ctx, uint32_t events)
{
	struct trickle *t = ctx;
	uint64_t n;

	(void)events;
	if (read(t->timer, &n, sizeof(n)) < 0)
		return 0;
	send(t->sock, "X-Slow: 1\r\n", 11, MSG_NOSIGNAL);
	return 0;
}

static int on_trickle_sock(void *ctx, uint32_t events)
{
	struct trickle *t = ctx;
	char buf[256];
	ssize_t n = read(t->sock, buf, sizeof(buf));

	(void)events;
	if (n > 0)
		return 0;
	t->closed_after_s = since(&t->start);
	ms_loop_del(t->h->loop, t->timer);
	ms_loop_del(t->h->loop, t->sock);
	start_scrape(t->h);
	return 0;
}

/* A slowloris client that keeps sending header lines is cut at the header deadline. */
static void test_http_slow_headers_cut(void **state)
{
	struct http *h = *state;
	struct itimerspec tick = {.it_interval.tv_nsec = 300000000L,
				  .it_value.tv_nsec = 300000000L};
	struct trickle t = {.h = h};

	t.sock = connect_idle(ms_metrics_server_port(h->srv));
	t.timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	assert_true(t.timer >= 0);
	clock_gettime(CLOCK_MONOTONIC, &t.start);
	assert_int_equal(write(t.sock, "GET /metrics HTTP/1.1\r\n", 23), 23);
	assert_int_equal(timerfd_settime(t.timer, 0, &tick, NULL), 0);
	assert_int_equal(ms_loop_add(h->loop, t.timer, EPOLLIN, on_trickle_tick, &t), 0);
	assert_int_equal(ms_loop_add(h->loop, t.sock, EPOLLIN | EPOLLRDHUP, on_trickle_sock, &t),
			 0);
	h->pending++;
	run_clients(h);
	close(t.timer);
	close(t.sock);
	assert_true(t.closed_after_s >= MS_HTTP_HEADER_TIMEOUT_S - 0.1);
	assert_true(t.closed_after_s < MS_HTTP_HEADER_TIMEOUT_S + 1.5);
	assert_int_equal(
	    scraped_value(&h->clients[0],
			  "migshaper_http_connections_shed_total{reason=\"header_timeout\"} "),
	    1);
}

static void test_server_bad_address(void **state)
{
	struct ms_metrics_server *srv = NULL, *again = NULL;
	struct ms_loop *loop;

	(void)state;
	assert_int_equal(ms_loop_new(&loop), 0);
	assert_int_equal(
	    ms_metrics_server_start(loop, "not-an-address", 0, NULL, snapshot_fn, NULL, &srv),
	    -EINVAL);
	assert_int_equal(
	    ms_metrics_server_start(loop, "localhost", 0, NULL, snapshot_fn, NULL, &srv), -EINVAL);
	/* IPv6 works, and a taken port is refused rather than shared. */
	if (ms_metrics_server_start(loop, "::1", 0, NULL, snapshot_fn, NULL, &srv) == 0) {
		assert_int_equal(ms_metrics_server_start(loop, "::1", ms_metrics_server_port(srv),
							 NULL, snapshot_fn, NULL, &again),
				 -EADDRINUSE);
		ms_metrics_server_stop(srv);
	}
	assert_int_equal(ms_metrics_server_start(loop, NULL, 0, NULL, snapshot_fn, NULL, &srv), 0);
	assert_int_equal(ms_metrics_server_start(loop, "127.0.0.1", ms_metrics_server_port(srv),
						 NULL, snapshot_fn, NULL, &again),
			 -EADDRINUSE);
	ms_metrics_server_stop(srv);
	ms_metrics_server_stop(NULL);
	ms_loop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_render_full),
	    cmocka_unit_test(test_render_unknown_omitted),
	    cmocka_unit_test(test_render_empty_and_invalid),
	    cmocka_unit_test(test_render_hostile_names),
	    cmocka_unit_test_setup_teardown(test_http_scrape, http_setup, http_teardown),
	    cmocka_unit_test_setup_teardown(test_http_head_404_405, http_setup, http_teardown),
	    cmocka_unit_test_setup_teardown(test_http_concurrent, http_setup, http_teardown),
	    cmocka_unit_test_setup_teardown(test_http_keepalive, http_setup, http_teardown),
	    cmocka_unit_test_setup_teardown(test_http_snapshot_error, http_setup, http_teardown),
	    cmocka_unit_test_setup_teardown(test_http_idle_flood_recovers, http_setup,
					    http_teardown),
	    cmocka_unit_test_setup_teardown(test_http_slow_headers_cut, http_setup, http_teardown),
	    cmocka_unit_test(test_server_bad_address),
	};

	/* The expected errors of test_server_bad_address are not news. */
	ms_log_set_level(MS_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
