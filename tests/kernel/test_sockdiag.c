// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * agent/attribution/sockdiag.c and the socket side of qemupid.c (a process's TCP
 * connections) against the real kernel, in a private network namespace
 * where only this test has sockets. Needs root; exits 77 (skip) without it.
 *
 * Child processes report what they opened (5-tuples from getsockname and
 * getpeername, inodes from fstat) through pipes, and wait on a pipe the
 * parent closes: no sleeps.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <libmnl/libmnl.h>

#include "migshaper.h"
#include "qemupid.h"
#include "sockdiag.h"

/* Listeners: three inside the migration port range, one outside. */
#define RANGE_MIN 40000
#define RANGE_MAX 40009
#define PORT_V4	  40000 /* 127.0.0.1 */
#define PORT_V6	  40001 /* ::1, IPv6 only */
#define PORT_DUAL 40002 /* ::, dual stack: IPv4 clients come IPv4-mapped */
#define PORT_OUT  41000 /* 127.0.0.1 */
#define PORT_INFO 42000 /* 127.0.0.1, test_tcp_info's own */

/* What a child reports about each connection it opened. */
struct rec {
	struct ms_flow_key key;
	__u32 inode;
	__u32 pad;
};

struct env {
	struct ms_sockdiag *sd;
	int listeners[4];
};

/* ---- fault injection: the library links statically against this ---- */

static int recv_calls;
static int recv_fail_from; /* 1-based; 0 = never */
static int recv_fail_count;
static int recv_fail_errno;

ssize_t mnl_socket_recvfrom(const struct mnl_socket *nl, void *buf, size_t siz)
{
	static ssize_t (*real)(const struct mnl_socket *, void *, size_t);

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "mnl_socket_recvfrom");
	if (recv_fail_from && ++recv_calls >= recv_fail_from && recv_fail_count > 0) {
		recv_fail_count--;
		errno = recv_fail_errno;
		return -1;
	}
	return real(nl, buf, siz);
}

/* Fails count receives with err, from the nth on. */
static void inject_recv_failure(int nth, int count, int err)
{
	recv_calls = 0;
	recv_fail_from = nth;
	recv_fail_count = count;
	recv_fail_errno = err;
}

/* ---- helpers ---- */

static int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Stored as the flow map stores it: IPv4 as ::ffff:a.b.c.d. */
static void addr_of(const struct sockaddr_storage *ss, __u8 addr[16], __u16 *port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

	memset(addr, 0, 16);
	if (ss->ss_family == AF_INET) {
		addr[10] = 0xff;
		addr[11] = 0xff;
		memcpy(&addr[12], &sin->sin_addr, 4);
		*port = ntohs(sin->sin_port);
	} else {
		memcpy(addr, &sin6->sin6_addr, 16);
		*port = ntohs(sin6->sin6_port);
	}
}

static int rec_of(int fd, struct rec *r)
{
	struct sockaddr_storage local, remote;
	socklen_t llen = sizeof(local), rlen = sizeof(remote);
	struct stat st;

	if (getsockname(fd, (struct sockaddr *)&local, &llen) < 0 ||
	    getpeername(fd, (struct sockaddr *)&remote, &rlen) < 0 || fstat(fd, &st) < 0)
		return -1;
	memset(r, 0, sizeof(*r));
	addr_of(&local, r->key.saddr, &r->key.sport);
	addr_of(&remote, r->key.daddr, &r->key.dport);
	r->key.l4_proto = IPPROTO_TCP;
	r->inode = (__u32)st.st_ino;
	return 0;
}

static int sockaddr_for(int family, const char *ip, __u16 port, struct sockaddr_storage *ss,
			socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
		return inet_pton(AF_INET, ip, &sin->sin_addr) == 1 ? 0 : -1;
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	*len = sizeof(*sin6);
	return inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1 ? 0 : -1;
}

/* A blocking connect: on loopback it returns with the handshake done. */
static int tcp_connect(int family, const char *ip, __u16 port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	if (sockaddr_for(family, ip, port, &ss, &len))
		return -1;
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int tcp_listen(int family, const char *ip, __u16 port, int v6only)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, fd;

	if (sockaddr_for(family, ip, port, &ss, &len))
		return -1;
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0) ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 256) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* In a child: drop every inherited descriptor (sockets of the parent) but two. */
static void close_all_but(int a, int b)
{
	int lo = a < b ? a : b, hi = a < b ? b : a;

	if (lo > 3)
		close_range(3, (unsigned int)lo - 1, 0);
	if (hi - lo > 1)
		close_range((unsigned int)lo + 1, (unsigned int)hi - 1, 0);
	close_range((unsigned int)hi + 1, ~0U, 0);
}

struct child {
	pid_t pid;
	int report; /* read end: what the child opened */
	int go;	    /* write end: closing it lets the child exit */
};

/*
 * Forks a child that runs body(report_fd) with only the two pipes open, then
 * waits until the parent calls child_finish(). body reports through the fd
 * and returns 0, or nonzero on failure.
 */
static struct child child_start(int (*body)(int report_fd))
{
	int rep[2], go[2];
	struct child c;
	char b;

	assert_int_equal(pipe2(rep, O_CLOEXEC), 0);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	c.pid = fork();
	assert_true(c.pid >= 0);
	if (c.pid == 0) {
		int rc;

		close(rep[0]);
		close(go[1]);
		close_all_but(rep[1], go[0]);
		rc = body(rep[1]);
		close(rep[1]);
		/* EOF once the parent is done looking at us. */
		while (read(go[0], &b, 1) > 0)
			;
		/* _exit: no cmocka or LeakSanitizer reports from the child. */
		_exit(rc ? 1 : 0);
	}
	close(rep[1]);
	close(go[0]);
	c.report = rep[0];
	c.go = go[1];
	return c;
}

static void child_finish(struct child *c)
{
	int status;

	close(c->report);
	close(c->go);
	assert_int_equal(waitpid(c->pid, &status, 0), c->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Child records: a count, then that many struct rec. */
static int report_recs(int fd, const struct rec *r, int n)
{
	if (write_full(fd, &n, sizeof(n)) || write_full(fd, r, sizeof(*r) * (size_t)n))
		return -1;
	return 0;
}

static int read_recs(int fd, struct rec *r, int max)
{
	int n;

	assert_int_equal(read_full(fd, &n, sizeof(n)), 0);
	assert_true(n >= 0 && n <= max);
	assert_int_equal(read_full(fd, r, sizeof(*r) * (size_t)n), 0);
	return n;
}

static const struct ms_tcp_conn *find_conn(const struct ms_tcp_conn *conns, size_t n,
					   const struct rec *r)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(&conns[i].key, &r->key, sizeof(r->key)) == 0)
			return &conns[i];
	return NULL;
}

/* conns holds exactly the records of want (any order), each once. */
static void expect_exactly(const struct ms_tcp_conn *conns, size_t n, const struct rec *want,
			   int n_want)
{
	assert_int_equal(n, (size_t)n_want);
	for (int i = 0; i < n_want; i++) {
		const struct ms_tcp_conn *c = find_conn(conns, n, &want[i]);
		char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];

		if (!c) {
			inet_ntop(AF_INET6, want[i].key.saddr, a, sizeof(a));
			inet_ntop(AF_INET6, want[i].key.daddr, b, sizeof(b));
			fail_msg("missing [%s]:%u -> [%s]:%u", a, want[i].key.sport, b,
				 want[i].key.dport);
		}
		assert_int_equal(c->inode, want[i].inode);
		assert_int_equal(c->state, TCP_ESTABLISHED);
		assert_int_equal(c->key.l4_proto, IPPROTO_TCP);
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			assert_int_not_equal(conns[i].inode, conns[j].inode);
}

/* ---- the child of test_conns_of_pid ---- */

#define CHILD_CONNS 5

static int child_connects(int fd)
{
	static const struct {
		int family;
		const char *ip;
		__u16 port;
	} to[CHILD_CONNS] = {
	    {AF_INET, "127.0.0.1", PORT_V4},
	    {AF_INET, "127.0.0.1", PORT_V4},
	    {AF_INET6, "::1", PORT_V6},
	    {AF_INET6, "::ffff:127.0.0.1", PORT_DUAL}, /* AF_INET6 socket, IPv4 flow */
	    {AF_INET, "127.0.0.1", PORT_OUT},
	};
	struct rec r[CHILD_CONNS];

	for (int i = 0; i < CHILD_CONNS; i++) {
		int s = tcp_connect(to[i].family, to[i].ip, to[i].port);

		if (s < 0 || rec_of(s, &r[i])) {
			int bad = -1;

			/* The parent's read_recs() fails on this. */
			write_full(fd, &bad, sizeof(bad));
			return -1;
		}
		/* A second descriptor of one socket must not give two flows. */
		if (i == 0 && dup(s) < 0)
			return -1;
	}
	return report_recs(fd, r, CHILD_CONNS);
}

static int child_nothing(int fd)
{
	struct rec r;

	return report_recs(fd, &r, 0);
}

/* ---- tests ---- */

static void test_conns_of_pid(void **state)
{
	struct env *env = *state;
	struct child c = child_start(child_connects);
	struct rec child[CHILD_CONNS], mine[2];
	static const __u8 lo4[16] = {[10] = 0xff, [11] = 0xff, 127, 0, 0, 1};
	struct ms_tcp_conn *conns = NULL;
	int fds[2], n_child;
	size_t n = 0;

	n_child = read_recs(c.report, child, CHILD_CONNS);
	assert_int_equal(n_child, CHILD_CONNS);
	/* The parent's own, to the same listeners, opened after the fork. */
	fds[0] = tcp_connect(AF_INET, "127.0.0.1", PORT_V4);
	fds[1] = tcp_connect(AF_INET6, "::1", PORT_V6);
	assert_true(fds[0] >= 0 && fds[1] >= 0);
	assert_int_equal(rec_of(fds[0], &mine[0]), 0);
	assert_int_equal(rec_of(fds[1], &mine[1]), 0);

	/* All of the child's, none of ours. */
	assert_int_equal(ms_qemu_tcp_conns(env->sd, c.pid, 0, 0, &conns, &n), 0);
	expect_exactly(conns, n, child, CHILD_CONNS);
	assert_null(find_conn(conns, n, &mine[0]));
	assert_null(find_conn(conns, n, &mine[1]));

	/* Egress orientation, spelled out for the first (IPv4) flow. */
	{
		const struct ms_tcp_conn *c0 = find_conn(conns, n, &child[0]);

		assert_memory_equal(c0->key.saddr, lo4, 16);
		assert_memory_equal(c0->key.daddr, lo4, 16);
		assert_int_equal(c0->key.dport, PORT_V4);
		assert_int_not_equal(c0->key.sport, PORT_V4);
		/* The dual-stack flow is stored like a plain IPv4 one. */
		c0 = find_conn(conns, n, &child[3]);
		assert_memory_equal(c0->key.daddr, lo4, 16);
		assert_int_equal(c0->key.dport, PORT_DUAL);
	}
	free(conns);

	/* Remote port inside the range: all but the last. */
	assert_int_equal(ms_qemu_tcp_conns(env->sd, c.pid, RANGE_MIN, RANGE_MAX, &conns, &n), 0);
	expect_exactly(conns, n, child, CHILD_CONNS - 1);
	free(conns);

	assert_int_equal(ms_qemu_tcp_conns(env->sd, c.pid, PORT_OUT, PORT_OUT, &conns, &n), 0);
	expect_exactly(conns, n, &child[CHILD_CONNS - 1], 1);
	free(conns);

	assert_int_equal(ms_qemu_tcp_conns(env->sd, c.pid, 50000, 65535, &conns, &n), 0);
	assert_int_equal(n, 0);
	assert_null(conns);

	/* From our side: ours and none of the child's. */
	assert_int_equal(ms_qemu_tcp_conns(env->sd, getpid(), 0, 0, &conns, &n), 0);
	expect_exactly(conns, n, mine, 2);
	free(conns);

	close(fds[0]);
	close(fds[1]);
	child_finish(&c);
}

static void test_bad_range(void **state)
{
	struct env *env = *state;
	struct ms_tcp_conn *conns = (void *)1;
	size_t n = 1;

	assert_int_equal(ms_qemu_tcp_conns(env->sd, getpid(), 2, 1, &conns, &n), -EINVAL);
	assert_null(conns);
	assert_int_equal(n, 0);
}

static void test_no_such_pid(void **state)
{
	struct env *env = *state;
	struct ms_tcp_conn *conns = NULL;
	__u32 *inodes = NULL;
	size_t n = 1;
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* Reaped: the pid names nothing (until reused, which takes a wrap). */
	assert_int_equal(ms_qemu_tcp_conns(env->sd, pid, 0, 0, &conns, &n), -ESRCH);
	assert_null(conns);
	assert_int_equal(n, 0);
	assert_int_equal(ms_proc_socket_inodes(pid, &inodes, &n), -ESRCH);
	assert_null(inodes);
	/* Above any pid_max. */
	assert_int_equal(ms_proc_socket_inodes(INT_MAX, &inodes, &n), -ESRCH);
	assert_int_equal(ms_proc_socket_inodes(0, &inodes, &n), -EINVAL);
	assert_int_equal(ms_proc_socket_inodes(-1, &inodes, &n), -EINVAL);
}

/*
 * A daemon and the child it forked, which keeps its name until it execs (as
 * libvirtd's do): the daemon is found, the child is never taken for it, and
 * neither is either once it takes another name (an exec) or exits.
 */
#define TEST_DAEMON_COMM "ms-tdaemon"

static void test_daemon_by_comm(void **state)
{
	static const char *const comms[] = {TEST_DAEMON_COMM, NULL};
	int report[2], hold[2], status;
	pid_t daemon_pid, child_pid, found = 0;
	char c;

	(void)state;
	assert_int_equal(pipe(report), 0);
	assert_int_equal(pipe(hold), 0);
	daemon_pid = fork();
	assert_true(daemon_pid >= 0);
	if (daemon_pid == 0) {
		pid_t child;

		close(report[0]);
		close(hold[1]);
		prctl(PR_SET_NAME, TEST_DAEMON_COMM);
		child = fork();
		if (child == 0) {
			close(report[1]);
			/* Held until the test lets go, then "exec": another name. */
			if (read(hold[0], &c, 1) != 1)
				_exit(1);
			prctl(PR_SET_NAME, "ms-tqemu");
			_exit(read(hold[0], &c, 1) < 0);
		}
		if (child < 0 || write(report[1], &child, sizeof(child)) != sizeof(child))
			_exit(1);
		close(report[1]);
		while (read(hold[0], &c, 1) == 1)
			;
		waitpid(child, NULL, 0);
		_exit(0);
	}
	close(report[1]);
	close(hold[0]);
	assert_int_equal(read(report[0], &child_pid, sizeof(child_pid)), sizeof(child_pid));
	close(report[0]);

	assert_int_equal(ms_proc_pid_by_comm(comms, &found), 0);
	assert_int_equal(found, daemon_pid);
	assert_true(ms_proc_is_daemon(daemon_pid, comms));
	assert_false(ms_proc_is_daemon(child_pid, comms));
	/* The child "execs": still not the daemon, and the daemon still is. */
	assert_int_equal(write(hold[1], "x", 1), 1);
	for (int i = 0; i < 1000 && ms_proc_is_daemon(daemon_pid, comms); i++) {
		char comm[32] = "";
		char path[64];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/comm", (int)child_pid);
		f = fopen(path, "r");
		if (f && fgets(comm, sizeof(comm), f) && !strncmp(comm, "ms-tqemu", 8)) {
			fclose(f);
			break;
		}
		if (f)
			fclose(f);
		usleep(1000);
	}
	assert_false(ms_proc_is_daemon(child_pid, comms));
	assert_true(ms_proc_is_daemon(daemon_pid, comms));
	/* Both gone: nothing is the daemon. */
	close(hold[1]);
	assert_int_equal(waitpid(daemon_pid, &status, 0), daemon_pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_false(ms_proc_is_daemon(daemon_pid, comms));
	assert_int_equal(ms_proc_pid_by_comm(comms, &found), -ESRCH);
	assert_false(ms_proc_is_daemon(0, comms));
}

static void test_process_without_sockets(void **state)
{
	struct env *env = *state;
	struct child c = child_start(child_nothing);
	struct ms_tcp_conn *conns = (void *)1;
	__u32 *inodes = (void *)1;
	struct rec r;
	size_t n = 1;

	assert_int_equal(read_recs(c.report, &r, 1), 0);
	assert_int_equal(ms_proc_socket_inodes(c.pid, &inodes, &n), 0);
	assert_int_equal(n, 0);
	assert_null(inodes);
	n = 1;
	assert_int_equal(ms_qemu_tcp_conns(env->sd, c.pid, 0, 0, &conns, &n), 0);
	assert_int_equal(n, 0);
	assert_null(conns);
	child_finish(&c);
}

static void test_socket_inodes_of_self(void **state)
{
	int a = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int b = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int a2 = dup(a);
	struct stat sa, sb;
	__u32 *inodes = NULL;
	size_t n = 0, hits_a = 0, hits_b = 0;

	(void)state;
	assert_true(a >= 0 && b >= 0 && a2 >= 0);
	assert_int_equal(fstat(a, &sa), 0);
	assert_int_equal(fstat(b, &sb), 0);
	assert_int_equal(ms_proc_socket_inodes(getpid(), &inodes, &n), 0);
	assert_non_null(inodes);
	for (size_t i = 0; i < n; i++) {
		if (i)
			assert_true(inodes[i - 1] < inodes[i]);
		hits_a += inodes[i] == (__u32)sa.st_ino;
		hits_b += inodes[i] == (__u32)sb.st_ino;
	}
	assert_int_equal(hits_a, 1);
	assert_int_equal(hits_b, 1);
	free(inodes);
	close(a);
	close(a2);
	close(b);
}

static int child_many_sockets(int fd)
{
	struct rlimit rl = {.rlim_cur = MS_SOCKDIAG_MAX + 64, .rlim_max = MS_SOCKDIAG_MAX + 64};
	struct rec r;

	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	for (unsigned int i = 0; i <= MS_SOCKDIAG_MAX; i++)
		if (socket(AF_INET, SOCK_DGRAM, 0) < 0)
			return -1;
	return report_recs(fd, &r, 0);
}

static void test_too_many_sockets(void **state)
{
	struct env *env = *state;
	struct child c = child_start(child_many_sockets);
	struct ms_tcp_conn *conns = NULL;
	__u32 *inodes = NULL;
	struct rec r;
	size_t n = 0;

	assert_int_equal(read_recs(c.report, &r, 1), 0);
	assert_int_equal(ms_proc_socket_inodes(c.pid, &inodes, &n), -E2BIG);
	assert_null(inodes);
	assert_int_equal(ms_qemu_tcp_conns(env->sd, c.pid, 0, 0, &conns, &n), -E2BIG);
	assert_null(conns);
	child_finish(&c);
}

struct find_ctx {
	__u32 inode;
	int seen;
	struct ms_tcp_conn conn;
};

static int find_inode(void *ctx, const struct ms_tcp_conn *conn)
{
	struct find_ctx *f = ctx;

	if (conn->inode == f->inode) {
		f->seen++;
		f->conn = *conn;
	}
	return 0;
}

static void test_tcp_info(void **state)
{
	struct env *env = *state;
	int l = tcp_listen(AF_INET, "127.0.0.1", PORT_INFO, 0);
	int cl = tcp_connect(AF_INET, "127.0.0.1", PORT_INFO);
	int sv = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	char buf[1000] = {0};
	struct tcp_info before, after;
	socklen_t len = sizeof(before);
	struct find_ctx f = {0};
	struct stat st;

	assert_true(l >= 0 && cl >= 0 && sv >= 0);
	/* Ping-pong: every ping is acknowledged before the next, so RTT samples. */
	for (int i = 0; i < 20; i++) {
		assert_int_equal(write_full(cl, buf, sizeof(buf)), 0);
		assert_int_equal(read_full(sv, buf, sizeof(buf)), 0);
		assert_int_equal(write_full(sv, buf, sizeof(buf)), 0);
		assert_int_equal(read_full(cl, buf, sizeof(buf)), 0);
	}
	assert_int_equal(fstat(cl, &st), 0);
	f.inode = (__u32)st.st_ino;

	assert_int_equal(getsockopt(cl, IPPROTO_TCP, TCP_INFO, &before, &len), 0);
	assert_int_equal(ms_sockdiag_dump_tcp(env->sd, MS_TCPF(TCP_ESTABLISHED), find_inode, &f),
			 0);
	len = sizeof(after);
	assert_int_equal(getsockopt(cl, IPPROTO_TCP, TCP_INFO, &after, &len), 0);

	assert_int_equal(f.seen, 1);
	assert_int_equal(f.conn.state, TCP_ESTABLISHED);
	assert_true(f.conn.info_valid);
	assert_true(f.conn.rtt_us > 0);
	assert_int_equal(f.conn.unacked, 0);
	assert_int_equal(f.conn.total_retrans, 0);
	/* Same numbers as the socket's own TCP_INFO, if nothing moved meanwhile. */
	if (before.tcpi_rtt == after.tcpi_rtt && before.tcpi_rttvar == after.tcpi_rttvar) {
		assert_int_equal(f.conn.rtt_us, before.tcpi_rtt);
		assert_int_equal(f.conn.rttvar_us, before.tcpi_rttvar);
	}
	close(sv);
	close(cl);
	close(l);
}

struct count_ctx {
	int calls;
	int stop_at;
	unsigned int states; /* MS_TCPF bits seen */
};

static int count_conns(void *ctx, const struct ms_tcp_conn *conn)
{
	struct count_ctx *c = ctx;

	c->calls++;
	c->states |= MS_TCPF(conn->state);
	return c->calls == c->stop_at ? 42 : 0;
}

static void test_state_filter_and_stop(void **state)
{
	struct env *env = *state;
	struct count_ctx c = {0};

	/* The four listeners of the fixture, both families, and nothing else. */
	assert_int_equal(ms_sockdiag_dump_tcp(env->sd, MS_TCPF(TCP_LISTEN), count_conns, &c), 0);
	assert_int_equal(c.calls, 4);
	assert_int_equal(c.states, MS_TCPF(TCP_LISTEN));

	/* A callback's nonzero value stops the dump and comes back. */
	c = (struct count_ctx){.stop_at = 2};
	assert_int_equal(ms_sockdiag_dump_tcp(env->sd, MS_TCPF(TCP_LISTEN), count_conns, &c), 42);
	assert_int_equal(c.calls, 2);
	/* ... and the next dump is whole, though the last one was left unread. */
	c = (struct count_ctx){0};
	assert_int_equal(ms_sockdiag_dump_tcp(env->sd, MS_TCPF(TCP_LISTEN), count_conns, &c), 0);
	assert_int_equal(c.calls, 4);

	assert_int_equal(ms_sockdiag_dump_tcp(env->sd, MS_TCPF(TCP_LISTEN), NULL, &c), -EINVAL);
	/* The port filter itself: an empty range is refused, not taken for "all". */
	assert_int_equal(ms_sockdiag_dump_tcp_dports(env->sd, MS_TCPF_ALL, 2, 1, count_conns, &c),
			 -EINVAL);
	assert_int_equal(ms_sockdiag_dump_tcp_dports(env->sd, MS_TCPF_ALL, 0, 0, count_conns, &c),
			 -EINVAL);
}

struct inode_set {
	__u32 inodes[8];
	int n; /* distinct */
	int calls;
};

static int collect_inodes(void *ctx, const struct ms_tcp_conn *conn)
{
	struct inode_set *set = ctx;

	set->calls++;
	for (int i = 0; i < set->n; i++)
		if (set->inodes[i] == conn->inode)
			return 0;
	if (set->n == 8)
		return -E2BIG;
	set->inodes[set->n++] = conn->inode;
	return 0;
}

static void test_lost_messages(void **state)
{
	struct env *env = *state;
	struct inode_set set = {0};

	/* A receive fails after the first: that family is dumped again. */
	inject_recv_failure(2, 1, ENOBUFS);
	assert_int_equal(ms_sockdiag_dump_tcp(env->sd, MS_TCPF(TCP_LISTEN), collect_inodes, &set),
			 0);
	assert_int_equal(set.n, 4);
	assert_true(recv_calls > 2);

	/* Lost twice in one dump: give up, and say why. */
	for (int nth = 1; nth <= 3; nth++) {
		inject_recv_failure(nth, 2, ENOBUFS);
		assert_int_equal(
		    ms_sockdiag_dump_tcp(env->sd, MS_TCPF(TCP_LISTEN), collect_inodes, &set),
		    -ENOBUFS);
	}

	/* SO_RCVTIMEO expired. */
	inject_recv_failure(1, 1, EAGAIN);
	assert_int_equal(ms_sockdiag_dump_tcp(env->sd, MS_TCPF(TCP_LISTEN), collect_inodes, &set),
			 -ETIMEDOUT);
	inject_recv_failure(0, 0, 0);

	/* None of it leaves the socket unusable. */
	set = (struct inode_set){0};
	assert_int_equal(ms_sockdiag_dump_tcp(env->sd, MS_TCPF(TCP_LISTEN), collect_inodes, &set),
			 0);
	assert_int_equal(set.n, 4);
	assert_int_equal(set.calls, 4);
}

/* ---- fixture ---- */

static int setup(void **state)
{
	static struct env env;

	if (ms_sockdiag_open(&env.sd))
		return -1;
	env.listeners[0] = tcp_listen(AF_INET, "127.0.0.1", PORT_V4, 0);
	env.listeners[1] = tcp_listen(AF_INET6, "::1", PORT_V6, 1);
	env.listeners[2] = tcp_listen(AF_INET6, "::", PORT_DUAL, 0);
	env.listeners[3] = tcp_listen(AF_INET, "127.0.0.1", PORT_OUT, 0);
	for (int i = 0; i < 4; i++)
		if (env.listeners[i] < 0)
			return -1;
	*state = &env;
	return 0;
}

static int teardown(void **state)
{
	struct env *env = *state;

	for (int i = 0; i < 4; i++)
		close(env->listeners[i]);
	ms_sockdiag_close(env->sd);
	return 0;
}

static int skip_run(const char *why)
{
	printf("test_sockdiag: skipped: %s\n", why);
	return 77;
}

static int lo_up(void)
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = -1;

	if (fd < 0)
		return -1;
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		ret = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	close(fd);
	return ret;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_conns_of_pid),
	    cmocka_unit_test(test_bad_range),
	    cmocka_unit_test(test_no_such_pid),
	    cmocka_unit_test(test_process_without_sockets),
	    cmocka_unit_test(test_daemon_by_comm),
	    cmocka_unit_test(test_socket_inodes_of_self),
	    cmocka_unit_test(test_too_many_sockets),
	    cmocka_unit_test(test_tcp_info),
	    cmocka_unit_test(test_state_filter_and_stop),
	    cmocka_unit_test(test_lost_messages),
	};

	if (geteuid() != 0)
		return skip_run("needs root");
	if (unshare(CLONE_NEWNET) != 0)
		return skip_run("cannot create a network namespace");
	if (lo_up() != 0)
		return skip_run("cannot bring lo up");
	return cmocka_run_group_tests(tests, setup, teardown);
}
