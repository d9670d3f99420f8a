/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Finds the QEMU process that runs a domain, by the -uuid on its command
 * line. Only processes in the agent's own network namespace count: during a
 * migration the source and destination QEMU carry the same UUID, and on a
 * lab host both are visible in /proc.
 */
#ifndef MS_QEMUPID_H
#define MS_QEMUPID_H

#include <sys/types.h>

/* 0 and *pid, -ESRCH when no such process, or -errno. */
int ms_qemu_pid_find(const unsigned char *uuid, pid_t *pid);
/* Formats a 16-byte UUID as libvirt does (36 characters plus NUL). */
void ms_uuid_format(const unsigned char *uuid, char out[37]);

#endif /* MS_QEMUPID_H */
