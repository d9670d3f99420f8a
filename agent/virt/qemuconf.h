/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What the agent reads from the files of this host's libvirt QEMU driver:
 * from qemu.conf the port range its destinations listen on for migration
 * streams (migration_port_min, migration_port_max), for migration_ports =
 * auto; from a running domain's status XML the flags its migration job was
 * started with (libvirt's job stats do not carry them).
 *
 * The file is the one the libvirt daemon of this host reads: the agent looks
 * for libvirtd (or the modular virtqemud) in its own network namespace and
 * reads /etc/libvirt/qemu.conf through /proc/<pid>/root, i.e. as that daemon
 * sees it (a daemon in a mount namespace of its own, as in the lab, has its
 * own /etc/libvirt). Without such a daemon, /etc/libvirt/qemu.conf.
 */
#ifndef MS_QEMUCONF_H
#define MS_QEMUCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>

/* libvirt's defaults when qemu.conf sets no range (or does not exist). */
#define MS_QEMU_CONF_PORT_MIN 49152
#define MS_QEMU_CONF_PORT_MAX 49215

/*
 * The range set in qemu.conf text (NUL terminated): the keys' last
 * uncommented values, libvirt's defaults for those not set. 0, or -EINVAL
 * with err saying which line is wrong (not a number, out of 1-65535, min
 * above max: libvirtd refuses such a file too).
 */
int ms_qemu_conf_parse_ports(const char *text, __u16 *port_min, __u16 *port_max, char *err,
			     size_t err_len);

/*
 * The range of this host's libvirt (see the top of this file); path gets the
 * file read, or "(none)" when there is none (the defaults). 0, or -errno
 * with err saying why (an unreadable or malformed file).
 */
int ms_qemu_conf_migration_ports(__u16 *port_min, __u16 *port_max, char *path, size_t path_len,
				 char *err, size_t err_len);

/* The libvirt daemon that runs QEMU on this host (libvirtd or virtqemud; see above). */
int ms_libvirt_daemon_pid(pid_t *pid);
/* True while pid is still that daemon (not gone, not one of its forked children). */
bool ms_libvirt_daemon_is(pid_t pid);

/*
 * The flags (VIR_MIGRATE_*) of the outgoing migration job libvirt runs for
 * domain name, from its status XML (<job ... async='migration out'
 * flags='0x..'>), which libvirt saves when the job starts. -ENOENT when no
 * outgoing migration job is recorded (yet; an incoming one does not count),
 * -errno otherwise.
 */
int ms_libvirt_migration_flags(pid_t daemon_pid, const char *name, unsigned long *flags);

/* Exposed for tests: the same on the status XML's text. */
int ms_libvirt_status_migration_flags(const char *xml, unsigned long *flags);

#endif /* MS_QEMUCONF_H */
