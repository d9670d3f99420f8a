// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* libvirt's qemu.conf: the migration port range; see qemuconf.h. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file.h"
#include "qemuconf.h"
#include "qemupid.h"

#define MS_QEMU_CONF_PATH "/etc/libvirt/qemu.conf"
/* Debian's commented qemu.conf is about 40 KiB. */
#define MS_QEMU_CONF_BYTES (1024 * 1024)

/* "key = value" at line (leading blanks skipped): value's start, or NULL. */
static const char *value_of(const char *line, const char *key)
{
	size_t n = strlen(key);

	if (strncmp(line, key, n))
		return NULL;
	line += n;
	while (*line == ' ' || *line == '\t')
		line++;
	if (*line != '=')
		return NULL;
	line++;
	while (*line == ' ' || *line == '\t')
		line++;
	return line;
}

/* A port up to the end of the line or a comment; -EINVAL otherwise. */
static int parse_port(const char *v, unsigned long *port)
{
	char *end;

	if (!isdigit((unsigned char)*v))
		return -EINVAL;
	errno = 0;
	*port = strtoul(v, &end, 10);
	while (*end == ' ' || *end == '\t' || *end == '\r')
		end++;
	if (errno || (*end && *end != '\n' && *end != '#') || *port < 1 || *port > 65535)
		return -EINVAL;
	return 0;
}

int ms_qemu_conf_parse_ports(const char *text, __u16 *port_min, __u16 *port_max, char *err,
			     size_t err_len)
{
	unsigned long lo = MS_QEMU_CONF_PORT_MIN, hi = MS_QEMU_CONF_PORT_MAX;
	unsigned int line_no = 0;

	for (const char *line = text; *line;) {
		const char *p = line, *next = strchr(line, '\n'), *v;
		unsigned long *dst = NULL;

		line_no++;
		line = next ? next + 1 : line + strlen(line);
		while (*p == ' ' || *p == '\t')
			p++;
		if ((v = value_of(p, "migration_port_min")))
			dst = &lo;
		else if ((v = value_of(p, "migration_port_max")))
			dst = &hi;
		if (dst && parse_port(v, dst)) {
			snprintf(err, err_len, "line %u: '%.*s' is not a port (1-65535)", line_no,
				 (int)strcspn(p, "\n"), p);
			return -EINVAL;
		}
	}
	if (lo > hi) {
		snprintf(err, err_len, "migration_port_min %lu is above migration_port_max %lu", lo,
			 hi);
		return -EINVAL;
	}
	*port_min = (__u16)lo;
	*port_max = (__u16)hi;
	return 0;
}

int ms_qemu_conf_migration_ports(__u16 *port_min, __u16 *port_max, char *path, size_t path_len,
				 char *err, size_t err_len)
{
	static const char *const daemons[] = {"libvirtd", "virtqemud", NULL};
	char parse_err[160];
	size_t len = 0;
	char *text = NULL;
	pid_t pid;
	int ret;

	if (ms_proc_pid_by_comm(daemons, &pid) == 0)
		snprintf(path, path_len, "/proc/%d/root%s", (int)pid, MS_QEMU_CONF_PATH);
	else
		snprintf(path, path_len, "%s", MS_QEMU_CONF_PATH);
	ret = ms_file_read(path, MS_QEMU_CONF_BYTES, &text, &len);
	if (ret == -ENOENT) {
		snprintf(path, path_len, "(none)");
		*port_min = MS_QEMU_CONF_PORT_MIN;
		*port_max = MS_QEMU_CONF_PORT_MAX;
		return 0;
	}
	if (ret) {
		snprintf(err, err_len, "%s: %s", path, strerror(-ret));
		return ret;
	}
	ret = ms_qemu_conf_parse_ports(text, port_min, port_max, parse_err, sizeof(parse_err));
	if (ret)
		snprintf(err, err_len, "%s: %s", path, parse_err);
	free(text);
	return ret;
}
