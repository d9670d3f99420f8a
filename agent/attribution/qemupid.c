// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* QEMU processes and what they own, through /proc; see qemupid.h. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <netinet/tcp.h>

#include "qemupid.h"

/* QEMU command lines from libvirt run to a few KiB; the -uuid comes early. */
#define MS_CMDLINE_MAX 65536

void ms_uuid_format(const unsigned char *uuid, char out[37])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[uuid[i] >> 4];
		out[o++] = hex[uuid[i] & 0xf];
	}
	out[o] = '\0';
}

/* 1 in our network namespace, 0 in another, -errno when we may not look (another user's). */
static int same_netns(int proc_fd, const char *pid_dir, const struct stat *own)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "%.10s/ns/net", pid_dir);
	if (fstatat(proc_fd, path, &st, 0) < 0)
		return errno == EACCES || errno == EPERM ? -errno : 0;
	return st.st_ino == own->st_ino && st.st_dev == own->st_dev;
}

/* True when the NUL-separated cmdline has "-uuid" followed by uuid_text. */
static bool cmdline_has_uuid(const char *buf, size_t len, const char *uuid_text)
{
	const char *end = buf + len;
	bool prev_is_flag = false;

	for (const char *arg = buf; arg < end; arg += strnlen(arg, (size_t)(end - arg)) + 1) {
		if (prev_is_flag && strncasecmp(arg, uuid_text, 36) == 0 && arg[36] == '\0')
			return true;
		prev_is_flag = strcmp(arg, "-uuid") == 0;
	}
	return false;
}

/*
 * Reads path (relative to dir_fd) into buf, len bytes at most with the NUL
 * that ends it: its length, or -errno. /proc's small files (a comm, a stat, a
 * cmdline cut at len) in one read, without an allocation: this runs for
 * every process on a scan and every cycle for libvirt's daemon.
 */
static ssize_t read_at(int dir_fd, const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		n = -errno;
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

/* What a /proc scan looks for in each process's file (cmdline or comm). */
struct proc_match {
	const char *file;
	bool (*match)(const char *text, size_t len, const void *ctx);
	const void *ctx;
};

/*
 * The first process in the agent's network namespace whose file matches:
 * 0 and *pid; -ESRCH when there is none; the namespace check's -errno when
 * only processes the agent may not look at (another user's) matched.
 * buf (len bytes) holds each file's text in turn.
 */
static int proc_find(const struct proc_match *pm, char *buf, size_t len, pid_t *pid)
{
	char path[64];
	struct stat own_ns;
	struct dirent *de;
	int proc_fd, ret = -ESRCH;
	DIR *proc;

	if (stat("/proc/self/ns/net", &own_ns) < 0)
		return -errno;
	proc = opendir("/proc");
	if (!proc)
		return -errno;
	proc_fd = dirfd(proc);
	while ((de = readdir(proc))) {
		ssize_t n;
		int same;

		/* A pid has at most 10 digits; anything longer is not a process. */
		if (!isdigit((unsigned char)de->d_name[0]) || strlen(de->d_name) > 10)
			continue;
		snprintf(path, sizeof(path), "%.10s/%s", de->d_name, pm->file);
		n = read_at(proc_fd, path, buf, len);
		if (n <= 0 || !pm->match(buf, (size_t)n, pm->ctx))
			continue;
		same = same_netns(proc_fd, de->d_name, &own_ns);
		/* Ours, but we may not see its namespace: say so, not "none". */
		if (same < 0)
			ret = same;
		if (same <= 0)
			continue;
		*pid = (pid_t)strtol(de->d_name, NULL, 10);
		ret = 0;
		break;
	}
	closedir(proc);
	return ret;
}

static bool match_uuid(const char *cmdline, size_t len, const void *uuid_text)
{
	return cmdline_has_uuid(cmdline, len, uuid_text);
}

int ms_qemu_pid_find(const unsigned char *uuid, pid_t *pid)
{
	char uuid_text[37];
	struct proc_match pm = {.file = "cmdline", .match = match_uuid, .ctx = uuid_text};
	char *buf;
	int ret;

	ms_uuid_format(uuid, uuid_text);
	buf = malloc(MS_CMDLINE_MAX);
	if (!buf)
		return -ENOMEM;
	ret = proc_find(&pm, buf, MS_CMDLINE_MAX, pid);
	free(buf);
	return ret;
}

static bool match_comm(const char *comm, size_t len, const void *ctx)
{
	const char *const *comms = ctx;
	/* comm ends in a newline. */
	size_t name_len = strcspn(comm, "\n");

	(void)len;
	for (size_t i = 0; comms[i]; i++)
		if (strlen(comms[i]) == name_len && strncmp(comm, comms[i], name_len) == 0)
			return true;
	return false;
}

/* Reads /proc/<pid>/<file> into buf (NUL-terminated); its length, or -errno. */
static ssize_t proc_read(pid_t pid, const char *file, char *buf, size_t len)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	return read_at(AT_FDCWD, path, buf, len);
}

static bool pid_has_comm(pid_t pid, const char *const *comms)
{
	char comm[32];
	ssize_t n = proc_read(pid, "comm", comm, sizeof(comm));

	return n > 0 && match_comm(comm, (size_t)n, comms);
}

/* The parent of pid (from "pid (comm) state ppid ..."; comm may hold spaces), or 0. */
static pid_t parent_of(pid_t pid)
{
	char stat[512];
	const char *p;
	long ppid;

	if (proc_read(pid, "stat", stat, sizeof(stat)) <= 0)
		return 0;
	p = strrchr(stat, ')');
	if (!p || sscanf(p + 1, " %*c %ld", &ppid) != 1 || ppid <= 0)
		return 0;
	return (pid_t)ppid;
}

/* How many forks deep a daemon's own children may go, still under its name. */
#define MS_DAEMON_FORK_DEPTH 8

int ms_proc_pid_by_comm(const char *const *comms, pid_t *pid)
{
	struct proc_match pm = {.file = "comm", .match = match_comm, .ctx = comms};
	char comm[32];
	pid_t parent;
	int ret;

	ret = proc_find(&pm, comm, sizeof(comm), pid);
	if (ret)
		return ret;
	/*
	 * A daemon's forked children carry its name until they exec (libvirtd
	 * forks one for each QEMU it starts, and for work in a guest's
	 * namespaces), and once pids wrap one may come first in /proc: the
	 * daemon is the oldest ancestor of that name.
	 */
	for (int i = 0; i < MS_DAEMON_FORK_DEPTH && !ms_proc_is_daemon(*pid, comms); i++) {
		parent = parent_of(*pid);
		if (parent <= 1)
			break;
		*pid = parent;
	}
	return 0;
}

bool ms_proc_is_daemon(pid_t pid, const char *const *comms)
{
	pid_t parent;

	if (pid <= 0 || !pid_has_comm(pid, comms))
		return false;
	parent = parent_of(pid);
	return parent > 0 && !pid_has_comm(parent, comms);
}

int ms_proc_parse_socket_link(const char *target, __u32 *inode)
{
	unsigned long long v = 0;
	const char *p;

	if (strncmp(target, "socket:[", 8) != 0)
		return -EINVAL;
	p = target + 8;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned long long)(*p - '0');
		/* inet_diag reports 32-bit inodes; a larger one cannot match. */
		if (v > UINT32_MAX)
			return -EINVAL;
	}
	if (p[0] != ']' || p[1] != '\0')
		return -EINVAL;
	*inode = (__u32)v;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

int ms_proc_socket_inodes(pid_t pid, __u32 **inodes, size_t *n)
{
	char path[64], target[64];
	__u32 *v = NULL;
	size_t cnt = 0, uniq = 0;
	DIR *dir = NULL;
	int ret = 0, fd;

	*inodes = NULL;
	*n = 0;
	if (pid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		ret = errno == ENOENT ? -ESRCH : -errno;
		goto cleanup;
	}
	dir = fdopendir(fd);
	if (!dir) {
		ret = -errno;
		close(fd);
		goto cleanup;
	}
	/* Allocated up front: the scan is bounded and runs every second. */
	v = malloc(MS_SOCKDIAG_MAX * sizeof(*v));
	if (!v) {
		ret = -ENOMEM;
		goto cleanup;
	}
	for (;;) {
		struct dirent *de;
		ssize_t len;
		__u32 ino;

		errno = 0;
		de = readdir(dir);
		if (!de) {
			/* The task is gone: /proc refuses to list its files. */
			if (errno)
				ret = errno == ENOENT ? -ESRCH : -errno;
			break;
		}
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		len = readlinkat(fd, de->d_name, target, sizeof(target) - 1);
		if (len < 0) {
			/* Closed since the listing, or the whole task exited. */
			if (errno == ENOENT)
				continue;
			ret = -errno;
			break;
		}
		target[len] = '\0';
		if (ms_proc_parse_socket_link(target, &ino))
			continue;
		if (cnt == MS_SOCKDIAG_MAX) {
			ret = -E2BIG;
			break;
		}
		v[cnt++] = ino;
	}
	if (ret)
		goto cleanup;
	/*
	 * A task that exits between two reads of its directory just ends the
	 * listing early, which looks like a process with fewer sockets.
	 */
	if (kill(pid, 0) < 0 && errno == ESRCH) {
		ret = -ESRCH;
		goto cleanup;
	}
	if (cnt == 0)
		goto cleanup;
	/* dup() gives one socket several fds. */
	qsort(v, cnt, sizeof(*v), cmp_u32);
	for (size_t i = 0; i < cnt; i++)
		if (uniq == 0 || v[uniq - 1] != v[i])
			v[uniq++] = v[i];
	*inodes = v;
	*n = uniq;
	v = NULL;
cleanup:
	if (dir)
		closedir(dir);
	free(v);
	return ret;
}

struct pid_match {
	const __u32 *inodes; /* sorted */
	size_t n_inodes;
	bool *taken;		   /* per inode: already in conns */
	__u16 port_min, port_max;  /* port_max == 0: every port */
	struct ms_tcp_conn *conns; /* room for n_inodes */
	size_t n;
};

static int on_pid_conn(void *ctx, const struct ms_tcp_conn *conn)
{
	struct pid_match *m = ctx;
	const __u32 *hit;
	size_t i;

	/* The kernel filtered on the port too; this keeps the answer exact regardless. */
	if (m->port_max && (conn->key.dport < m->port_min || conn->key.dport > m->port_max))
		return 0;
	hit = bsearch(&conn->inode, m->inodes, m->n_inodes, sizeof(*hit), cmp_u32);
	if (!hit)
		return 0;
	i = (size_t)(hit - m->inodes);
	if (m->taken[i])
		return 0;
	m->taken[i] = true;
	m->conns[m->n++] = *conn;
	return 0;
}

int ms_qemu_tcp_conns(struct ms_sockdiag *sd, pid_t pid, __u16 port_min, __u16 port_max,
		      struct ms_tcp_conn **conns, size_t *n)
{
	struct pid_match m = {.port_min = port_min, .port_max = port_max};
	__u32 *inodes = NULL;
	size_t n_inodes = 0;
	int ret;

	*conns = NULL;
	*n = 0;
	if (!sd || port_min > port_max)
		return -EINVAL;
	ret = ms_proc_socket_inodes(pid, &inodes, &n_inodes);
	if (ret || n_inodes == 0)
		goto cleanup;
	m.inodes = inodes;
	m.n_inodes = n_inodes;
	m.taken = calloc(n_inodes, sizeof(*m.taken));
	m.conns = calloc(n_inodes, sizeof(*m.conns));
	if (!m.taken || !m.conns) {
		ret = -ENOMEM;
		goto cleanup;
	}
	if (port_max)
		ret = ms_sockdiag_dump_tcp_dports(sd, MS_TCPF(TCP_ESTABLISHED), port_min, port_max,
						  on_pid_conn, &m);
	else
		ret = ms_sockdiag_dump_tcp(sd, MS_TCPF(TCP_ESTABLISHED), on_pid_conn, &m);
	if (ret)
		goto cleanup;
	/* Gone during the dump: what was found is closing, not migrating. */
	if (kill(pid, 0) < 0 && errno == ESRCH) {
		ret = -ESRCH;
		goto cleanup;
	}
	if (m.n) {
		*conns = m.conns;
		*n = m.n;
		m.conns = NULL;
	}
cleanup:
	free(m.conns);
	free(m.taken);
	free(inodes);
	return ret;
}
