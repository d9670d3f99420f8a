// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Cost of a /metrics scrape on a busy host: 64 outgoing migrations, each
 * with its own class, plus the fixed classes.
 *
 * The server runs as in the agent (libmicrohttpd in an ms_loop, this
 * process); a child process scrapes it like Prometheus does: HTTP/1.1 on one
 * kept-alive connection, one scrape after the other, timing each from the
 * request to the last byte of the body. The CPU this process spends while
 * serving (user + system, getrusage) divided by the scrapes is the cost the
 * shaping loop pays per scrape. The snapshot function hands out prepared
 * arrays, so the agent's own reads of tc and BPF counters are not included.
 *
 * Prints one JSON object:
 *   {"scrape_ms": {"p50": F, "p99": F}, "series": N, "cpu_us_per_scrape": F}
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "log.h"
#include "loop.h"
#include "metrics.h"

#define N_MIGRATIONS 64
#define N_FIXED	     5
#define WARMUP	     50
#define SCRAPES	     2000

struct bench {
	struct ms_metrics_class classes[N_FIXED + N_MIGRATIONS];
	struct ms_metrics_migration migs[N_MIGRATIONS];
	struct ms_metrics_snapshot snap;
	struct ms_loop *loop;
	int result_fd;
	double lat_ms[SCRAPES];
	size_t got; /* bytes of lat_ms received */
	int status;
};

static void fill(struct bench *b)
{
	static const char *const fixed[N_FIXED] = {"link", "mgmt", "aggregate", "unattributed",
						   "default"};
	size_t n = 0;

	b->snap.iface = "eth0";
	b->snap.version = "bench";
	b->snap.classes = b->classes;
	b->snap.migrations = b->migs;
	for (int i = 0; i < N_FIXED + N_MIGRATIONS; i++) {
		struct ms_metrics_class *c = &b->classes[n++];

		if (i < N_FIXED)
			snprintf(c->name, sizeof(c->name), "%s", fixed[i]);
		else
			snprintf(c->name, sizeof(c->name), "mig:%d", i - N_FIXED);
		c->have_tc = c->have_bpf = true;
		c->bytes = 123456789012ULL + (__u64)i * 7919;
		c->packets = c->bytes / 1400;
		c->drops = (__u64)i * 3;
		c->overlimits = (__u64)i * 1013;
		c->backlog_bytes = 1514 * (__u32)i;
		c->bpf_bytes = c->bytes + 17;
		c->bpf_packets = c->packets + 1;
	}
	b->snap.n_classes = n;
	for (int i = 0; i < N_MIGRATIONS; i++) {
		struct ms_metrics_migration *m = &b->migs[i];

		snprintf(m->domain, sizeof(m->domain), "tenant-%02d-vm-%04d.example.org", i % 7,
			 i * 37);
		m->direction = "outgoing";
		m->state = "active";
		snprintf(m->class_name, sizeof(m->class_name), "mig:%d", i);
		m->allocated_bps = 156250000ULL + (__u64)i * 1000;
		m->libvirt_speed_mibs = 17;
		m->have_job_stats = true;
		m->observed_bytes_per_s = 18500000ULL + (__u64)i;
		m->remaining_bytes = (8ULL << 30) - (__u64)i * 4096;
		m->dirty_bytes_per_s = 3000000ULL + (__u64)i;
		m->iteration = 2 + (__u64)i % 5;
		m->expected_completion_s = 412.25 + i;
		m->stalled = i % 16 == 0;
		m->actions_total[0] = (__u64)i % 3;
	}
	b->snap.n_migrations = N_MIGRATIONS;
	b->snap.have_mgmt_health = true;
	b->snap.mgmt_rtt_seconds = 0.000231;
	b->snap.mgmt_retransmits_total = 12;
	b->snap.effective_aggregate_bps = 10000000000ULL;
	b->snap.link_bps = 25000000000ULL;
	b->snap.libvirt_connected = true;
	b->snap.last_cycle_seconds = 0.0042;
}

static int snapshot_fn(void *ctx, struct ms_metrics_snapshot *snap)
{
	struct bench *b = ctx;

	*snap = b->snap;
	return 0;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0)
			return -errno;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One scrape on the kept-alive connection s; 0 or -errno. */
static int scrape(int s, char *buf, size_t cap)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: bench\r\n"
				  "Accept: text/plain;version=0.0.4\r\n\r\n";
	size_t have = 0, want = 0;
	char *end;
	int err;

	err = write_all(s, req, sizeof(req) - 1);
	if (err)
		return err;
	for (;;) {
		ssize_t n = read(s, buf + have, cap - 1 - have);

		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		have += (size_t)n;
		buf[have] = '\0';
		if (!want) {
			const char *cl;

			end = strstr(buf, "\r\n\r\n");
			if (!end)
				continue;
			if (strncmp(buf, "HTTP/1.1 200", 12) != 0)
				return -EPROTO;
			cl = strcasestr(buf, "\r\nContent-Length:");
			if (!cl || cl > end)
				return -EPROTO;
			want = (size_t)(end + 4 - buf) + strtoul(cl + 17, NULL, 10);
			if (want >= cap)
				return -EMSGSIZE;
		}
		if (have >= want)
			return 0;
	}
}

static void __attribute__((noreturn)) client_main(__u16 port, int out_fd)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	const size_t cap = 1 << 20;
	double *lat = calloc(SCRAPES, sizeof(*lat));
	char *buf = malloc(cap);
	int one = 1, s;

	if (!lat || !buf)
		_exit(1);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		_exit(2);
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (int i = 0; i < WARMUP; i++)
		if (scrape(s, buf, cap))
			_exit(3);
	for (int i = 0; i < SCRAPES; i++) {
		double t0 = now_ms();

		if (scrape(s, buf, cap))
			_exit(4);
		lat[i] = now_ms() - t0;
	}
	if (write_all(out_fd, lat, SCRAPES * sizeof(*lat)))
		_exit(5);
	_exit(0);
}

static int on_result(void *ctx, uint32_t events)
{
	struct bench *b = ctx;
	ssize_t n;

	(void)events;
	n = read(b->result_fd, (char *)b->lat_ms + b->got, sizeof(b->lat_ms) - b->got);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	b->got += (size_t)n;
	if (n == 0)
		ms_loop_stop(b->loop, b->got == sizeof(b->lat_ms) ? 0 : -EPIPE);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double percentile(const double *sorted, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	return sorted[i < n ? i : n - 1];
}

static double cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

int main(void)
{
	struct ms_metrics_server *srv = NULL;
	struct bench *b = calloc(1, sizeof(*b));
	size_t series = 0, len = 0;
	char *text = NULL, *p;
	double cpu0, cpu1;
	int fds[2], st, err;
	pid_t pid;

	if (!b)
		return 1;
	ms_log_set_level(MS_LOG_WARN);
	fill(b);
	err = ms_metrics_render(&b->snap, &text, &len);
	if (err) {
		fprintf(stderr, "bench_metrics: render: %s\n", strerror(-err));
		return 1;
	}
	for (p = text; p < text + len; p = strchr(p, '\n') + 1)
		series += *p != '#';
	free(text);

	if (ms_loop_new(&b->loop) ||
	    ms_metrics_server_start(b->loop, "127.0.0.1", 0, NULL, snapshot_fn, b, &srv)) {
		fprintf(stderr, "bench_metrics: cannot start the server\n");
		return 1;
	}
	if (pipe2(fds, O_CLOEXEC) < 0)
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		close(fds[0]);
		client_main(ms_metrics_server_port(srv), fds[1]);
	}
	close(fds[1]);
	b->result_fd = fds[0];
	if (ms_loop_add(b->loop, b->result_fd, EPOLLIN, on_result, b))
		return 1;

	/* The warm-up scrapes are in the CPU figure too; they are 2.5% of it. */
	cpu0 = cpu_us();
	err = ms_loop_run(b->loop);
	cpu1 = cpu_us();
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || err) {
		fprintf(stderr, "bench_metrics: the scraping client failed (status %d, err %d)\n",
			st, err);
		return 1;
	}
	qsort(b->lat_ms, SCRAPES, sizeof(b->lat_ms[0]), cmp_double);
	printf("{\"scrape_ms\": {\"p50\": %.3f, \"p99\": %.3f}, \"series\": %zu, "
	       "\"cpu_us_per_scrape\": %.1f}\n",
	       percentile(b->lat_ms, SCRAPES, 0.50), percentile(b->lat_ms, SCRAPES, 0.99), series,
	       (cpu1 - cpu0) / (WARMUP + SCRAPES));

	ms_metrics_server_stop(srv);
	close(b->result_fd);
	ms_loop_free(b->loop);
	free(b);
	return 0;
}
