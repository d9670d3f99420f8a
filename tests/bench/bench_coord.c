// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Cost of one coordinator cycle with 64 outgoing migrations, per migration.
 *
 * libvirt's test driver runs no migrations, so the jobs are fed with
 * ms_coord_observe_job() and the coordinator has no libvirt (virt NULL: no
 * scan, no speed calls). Everything else is real, in a network namespace of
 * its own: the HTB tree on a veth (each migration's class over
 * rtnetlink), the classifier's flow map (the program is loaded, not
 * attached), and attribution through sock_diag: each migration has a stand-in
 * QEMU, a child process whose command line carries "-uuid <uuid>" (how the
 * agent finds QEMU) and which holds one established TCP connection to a
 * migration port.
 *
 * Phases, each timed with CLOCK_PROCESS_CPUTIME_ID (user + system of this
 * process, so the kernel's netlink and sock_diag work is included):
 *   first       the cycle that creates 64 classes and attributes 64 flows
 *   steady      cycles with nothing to change, as while 64 migrations run
 *               (every flow attributed: the agent dumps sock_diag only every
 *               10th such cycle, its backstop; see attribute_all() in coord.c)
 *   rate_change cycles where the aggregate alternates, so all 64 classes change
 *   no_attrib   steady cycles of a coordinator without sock_diag
 *
 * Prints one JSON object (µs of CPU per migration per cycle, except first):
 *   {"migrations": 64, "first_cycle_us": F, "steady": F, "rate_change": F,
 *    "no_attrib": F, "flows_attributed": N}
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "config.h"
#include "coord.h"
#include "loader.h"
#include "htb.h"
#include "log.h"
#include "qemupid.h"
#include "sockdiag.h"

#define N_MIGRATIONS 64
#define CYCLES	     100
#define IFNAME	     "ms-bc0"
#define MIG_PORT     49152

struct bench {
	struct ms_config cfg;
	struct ms_htb *htb;
	struct ms_dataplane *dp;
	struct ms_sockdiag *sd;
	pid_t children[N_MIGRATIONS];
	unsigned char uuids[N_MIGRATIONS][16];
	int stdin_w; /* the children read their stdin: they end when it closes */
};

static double cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	close(fd);
	return n < 0 ? -errno : 0;
}

/*
 * A namespace of our own, so nothing here touches the host or a lab. Local
 * ports stay below the migration range: a connection whose remote port is an
 * ephemeral port in 49152-49215 would look like a migration stream.
 */
static int setup_netns(void)
{
	if (unshare(CLONE_NEWNET) < 0)
		return -errno;
	if (system("ip link set lo up && ip link add " IFNAME " type veth peer name ms-bc1 && "
		   "ip link set " IFNAME " up && ip link set ms-bc1 up") != 0)
		return -EIO;
	return write_file("/proc/sys/net/ipv4/ip_local_port_range", "32768 40000");
}

static int listen_migration_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(MIG_PORT)};
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 128) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

/* A stand-in QEMU: `sh -c 'read x' -uuid UUID` holding one connection to the migration port. */
static int spawn_qemu(struct bench *b, int i, int listen_fd, int stdin_r)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(MIG_PORT)};
	char uuid_text[37];
	int fd, peer, ret = 0;
	pid_t pid;

	for (int k = 0; k < 16; k++)
		b->uuids[i][k] = (unsigned char)(0x40 + i * 7 + k);
	ms_uuid_format(b->uuids[i], uuid_text);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* No SOCK_CLOEXEC: the child keeps it, as QEMU keeps its migration socket. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		ret = -errno;
		goto cleanup;
	}
	peer = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (peer < 0) {
		ret = -errno;
		goto cleanup;
	}
	/* The accepted end stays open in this process; it is freed with the namespace. */
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		goto cleanup;
	}
	if (pid == 0) {
		dup2(stdin_r, 0);
		execl("/bin/sh", "sh", "-c", "read x", "-uuid", uuid_text, (char *)NULL);
		_exit(127);
	}
	b->children[i] = pid;
cleanup:
	close(fd);
	return ret;
}

static int setup(struct bench *b)
{
	struct ms_dataplane_opts dp_opts = {.ifname = NULL};
	struct ms_htb_params p = {.mtu = 1500};
	char err[MS_CONFIG_ERR_LEN];
	int pipefd[2], listen_fd, ret;

	ret = setup_netns();
	if (ret) {
		fprintf(stderr, "bench_coord: network namespace: %s\n", strerror(-ret));
		return ret;
	}
	ms_config_init(&b->cfg);
	b->cfg.link_mbps = 10000;
	b->cfg.mgmt_reserve_mbps = 1000;
	b->cfg.migration_aggregate_mbps = 6400;
	b->cfg.migration_max_mbps = 6400;
	b->cfg.migration_min_mbps = 20;
	ret = ms_config_resolve(&b->cfg, 0, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "bench_coord: config: %s\n", err);
		return ret;
	}
	p.ifindex = (int)if_nametoindex(IFNAME);
	p.link_bps = b->cfg.link_mbps * 1000000ULL;
	p.mgmt_reserve_bps = b->cfg.mgmt_reserve_mbps * 1000000ULL;
	p.migration_aggregate_bps = b->cfg.migration_aggregate_mbps * 1000000ULL;
	p.migration_max_bps = b->cfg.migration_max_mbps * 1000000ULL;
	p.migration_min_bps = b->cfg.migration_min_mbps * 1000000ULL;
	ret = ms_htb_install(&p, &b->htb);
	if (!ret)
		ret = ms_dataplane_open(&dp_opts, &b->dp);
	if (!ret)
		ret = ms_sockdiag_open(&b->sd);
	if (ret) {
		fprintf(stderr, "bench_coord: htb, classifier or sock_diag: %s\n", strerror(-ret));
		return ret;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	b->stdin_w = pipefd[1];
	listen_fd = listen_migration_port();
	if (listen_fd < 0) {
		close(pipefd[0]);
		return listen_fd;
	}
	for (int i = 0; i < N_MIGRATIONS && !ret; i++)
		ret = spawn_qemu(b, i, listen_fd, pipefd[0]);
	close(pipefd[0]);
	close(listen_fd);
	if (ret)
		fprintf(stderr, "bench_coord: stand-in QEMU: %s\n", strerror(-ret));
	return ret;
}

static int new_coord(struct bench *b, bool with_sockdiag, struct ms_coord **out)
{
	const struct ms_coord_deps deps = {
	    .cfg = &b->cfg,
	    .dp = b->dp,
	    .htb = b->htb,
	    .sd = with_sockdiag ? b->sd : NULL,
	};
	struct ms_job_stats stats = {.type = VIR_DOMAIN_JOB_UNBOUNDED};
	char name[32];
	int ret;

	ret = ms_coord_new(&deps, out);
	for (int i = 0; i < N_MIGRATIONS && !ret; i++) {
		snprintf(name, sizeof(name), "bench-%02d", i);
		ret = ms_coord_observe_job(*out, name, b->uuids[i], MS_MIG_OUTGOING, &stats);
	}
	return ret;
}

static size_t flows_attributed(const struct ms_coord *c)
{
	const struct ms_migration_table *t = ms_coord_table(c);
	size_t n = 0;

	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++)
		if (t->entries[i].used)
			n += t->entries[i].n_flows;
	return n;
}

/* CPU µs per migration per cycle over CYCLES cycles; alternate: change every class each time. */
static double time_cycles(struct bench *b, struct ms_coord *c, bool alternate)
{
	__u32 base = b->cfg.migration_aggregate_mbps;
	double t0 = cpu_us();

	/* The configuration keeps max <= aggregate (include/rates.h): both move. */
	for (int k = 0; k < CYCLES; k++) {
		if (alternate)
			b->cfg.migration_aggregate_mbps = b->cfg.migration_max_mbps =
			    k % 2 ? base : base - N_MIGRATIONS;
		ms_coord_cycle(c);
	}
	b->cfg.migration_aggregate_mbps = b->cfg.migration_max_mbps = base;
	return (cpu_us() - t0) / CYCLES / N_MIGRATIONS;
}

int main(void)
{
	struct bench b = {.stdin_w = -1};
	struct ms_coord *c = NULL;
	double first, steady, change, no_attrib;
	size_t flows;
	int ret;

	ms_log_set_level(MS_LOG_WARN);
	ret = setup(&b);
	if (ret)
		goto cleanup;
	ret = new_coord(&b, true, &c);
	if (ret)
		goto cleanup;
	first = cpu_us();
	ms_coord_cycle(c);
	first = cpu_us() - first;
	flows = flows_attributed(c);
	steady = time_cycles(&b, c, false);
	change = time_cycles(&b, c, true);
	ms_coord_release(c);
	ms_coord_free(c);
	c = NULL;
	ret = new_coord(&b, false, &c);
	if (ret)
		goto cleanup;
	ms_coord_cycle(c);
	no_attrib = time_cycles(&b, c, false);
	printf("{\"migrations\": %d, \"first_cycle_us\": %.1f, \"steady\": %.2f, "
	       "\"rate_change\": %.2f, \"no_attrib\": %.2f, \"flows_attributed\": %zu}\n",
	       N_MIGRATIONS, first, steady, change, no_attrib, flows);
	if (flows != N_MIGRATIONS) {
		fprintf(stderr, "bench_coord: %zu of %d flows attributed\n", flows, N_MIGRATIONS);
		ret = -EIO;
	}
cleanup:
	if (c) {
		ms_coord_release(c);
		ms_coord_free(c);
	}
	if (b.stdin_w >= 0)
		close(b.stdin_w);
	for (int i = 0; i < N_MIGRATIONS; i++)
		if (b.children[i] > 0)
			waitpid(b.children[i], NULL, 0);
	ms_sockdiag_close(b.sd);
	ms_dataplane_close(b.dp, true);
	if (b.htb)
		ms_htb_restore(b.htb);
	ms_htb_free(b.htb);
	return ret ? 1 : 0;
}
