/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The QEMU process of a domain and what it owns, through /proc: the process
 * is found by the -uuid on its command line, its sockets by the inodes its
 * open files name (/proc/<pid>/fd), and its TCP connections by matching
 * those inodes against a sock_diag dump (sockdiag.h). Only processes in the
 * agent's own network namespace count: during a migration the source and
 * destination QEMU carry the same UUID, and on a lab host both are visible
 * in /proc.
 */
#ifndef MS_QEMUPID_H
#define MS_QEMUPID_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>

#include "sockdiag.h"

/*
 * 0 and *pid, -ESRCH when no such process, -EACCES when the domain's QEMU
 * runs as another user and the agent may not see its network namespace
 * (no CAP_SYS_PTRACE), or -errno.
 */
int ms_qemu_pid_find(const unsigned char *uuid, pid_t *pid);
/* Formats a 16-byte UUID as libvirt does (36 characters plus NUL). */
void ms_uuid_format(const unsigned char *uuid, char out[37]);

/*
 * A daemon in the agent's network namespace whose name (comm) is one of
 * comms (NULL-terminated), e.g. the libvirt daemon of this host: the first
 * such process in /proc, or its oldest ancestor of such a name when it is
 * one of the daemon's forked children (they keep its name until they
 * exec). 0 and *pid, -ESRCH when there is none, or -errno.
 */
int ms_proc_pid_by_comm(const char *const *comms, pid_t *pid);

/*
 * True while pid still is such a daemon: its name is one of comms and its
 * parent's is not. False once it exited, exec'd something else, or its pid
 * went to another process (a forked child of the daemon included).
 */
bool ms_proc_is_daemon(pid_t pid, const char *const *comms);

/*
 * The socket inodes among the open files of process pid (all its threads
 * share them), sorted ascending, without duplicates; *inodes is NULL when *n
 * is 0, else the caller frees it. Files closed during the scan are skipped.
 * -ESRCH if there is no such process (or it exits during the scan), -E2BIG
 * beyond MS_SOCKDIAG_MAX socket descriptors (dup()s count), -EACCES
 * without the right to look.
 */
int ms_proc_socket_inodes(pid_t pid, __u32 **inodes, size_t *n);

/*
 * The established TCP connections of process pid (through any of its files,
 * including sockets it shares with other processes), at most one per socket,
 * in no particular order. With port_max != 0 only those whose remote port
 * lies in [port_min, port_max]; port_min = port_max = 0 means all. *conns is
 * NULL when *n is 0, else the caller frees it. Errors as
 * ms_proc_socket_inodes() and ms_sockdiag_dump_tcp(); -EINVAL for a bad range.
 *
 * A pid names a process only while it lives: the caller must know the pid is
 * still the QEMU it means (e.g. from libvirt's events) to trust the answer.
 */
int ms_qemu_tcp_conns(struct ms_sockdiag *sd, pid_t pid, __u16 port_min, __u16 port_max,
		      struct ms_tcp_conn **conns, size_t *n);

/* Exposed for tests: parses a /proc/<pid>/fd link target "socket:[N]"; -EINVAL otherwise. */
int ms_proc_parse_socket_link(const char *target, __u32 *inode);

#endif /* MS_QEMUPID_H */
