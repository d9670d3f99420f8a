// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* libvirt's qemu.conf: the migration port range; see qemuconf.h. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file.h"
#include "migration.h"
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

static const char *const libvirt_daemons[] = {"libvirtd", "virtqemud", NULL};

int ms_libvirt_daemon_pid(pid_t *pid)
{
	return ms_proc_pid_by_comm(libvirt_daemons, pid);
}

bool ms_libvirt_daemon_is(pid_t pid)
{
	return ms_proc_is_daemon(pid, libvirt_daemons);
}

int ms_qemu_conf_migration_ports(__u16 *port_min, __u16 *port_max, char *path, size_t path_len,
				 char *err, size_t err_len)
{
	char parse_err[160];
	size_t len = 0;
	char *text = NULL;
	pid_t pid;
	int ret;

	if (ms_libvirt_daemon_pid(&pid) == 0)
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

/* The value of attribute attr (" attr='...'" or with double quotes) within [tag, end). */
static const char *attr_value(const char *tag, const char *end, const char *attr, size_t *len)
{
	size_t n = strlen(attr);

	for (const char *p = tag; p + n + 3 < end; p++) {
		const char *q;

		if (p[-1] != ' ' || strncmp(p, attr, n) || p[n] != '=' ||
		    (p[n + 1] != '\'' && p[n + 1] != '"'))
			continue;
		q = memchr(p + n + 2, p[n + 1], (size_t)(end - (p + n + 2)));
		if (!q)
			return NULL;
		*len = (size_t)(q - (p + n + 2));
		return p + n + 2;
	}
	return NULL;
}

/* libvirt's name of the outgoing migration job (virDomainAsyncJob). */
#define MS_ASYNC_MIGRATION_OUT "migration out"

int ms_libvirt_status_migration_flags(const char *xml, unsigned long *flags)
{
	const char *tag = strstr(xml, "<job "), *end, *v;
	char buf[24], *stop;
	size_t len;

	if (!tag)
		return -ENOENT;
	end = strchr(tag, '>');
	if (!end)
		return -EINVAL;
	/*
	 * Only the outgoing job's flags: a domain that just came in may still
	 * show its incoming job ("migration in") when its next outgoing job is
	 * seen, and that one's flags are the other host's choice.
	 */
	v = attr_value(tag + 1, end, "async", &len);
	if (!v || len != strlen(MS_ASYNC_MIGRATION_OUT) || strncmp(v, MS_ASYNC_MIGRATION_OUT, len))
		return -ENOENT;
	v = attr_value(tag + 1, end, "flags", &len);
	if (!v || len == 0 || len >= sizeof(buf))
		return -ENOENT;
	memcpy(buf, v, len);
	buf[len] = '\0';
	errno = 0;
	*flags = strtoul(buf, &stop, 0);
	return errno || *stop ? -EINVAL : 0;
}

int ms_libvirt_migration_flags(pid_t daemon_pid, const char *name, unsigned long *flags)
{
	char path[MS_DOMAIN_NAME_MAX + 64];
	size_t len = 0;
	char *xml = NULL;
	int ret;

	/* A domain name is no path: libvirt refuses '/' in names. */
	if (strchr(name, '/'))
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/root/run/libvirt/qemu/%s.xml", (int)daemon_pid,
		 name);
	ret = ms_file_read(path, MS_QEMU_CONF_BYTES, &xml, &len);
	if (ret)
		return ret;
	ret = ms_libvirt_status_migration_flags(xml, flags);
	free(xml);
	return ret;
}
