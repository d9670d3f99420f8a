// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* QEMU process lookup through /proc. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static bool same_netns(int proc_fd, const char *pid_dir, const struct stat *own)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "%.10s/ns/net", pid_dir);
	return fstatat(proc_fd, path, &st, 0) == 0 && st.st_ino == own->st_ino &&
	       st.st_dev == own->st_dev;
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

int ms_qemu_pid_find(const unsigned char *uuid, pid_t *pid)
{
	char uuid_text[37], path[64];
	struct stat own_ns;
	struct dirent *de;
	char *buf = NULL;
	int proc_fd = -1, ret = -ESRCH;
	DIR *proc;

	ms_uuid_format(uuid, uuid_text);
	if (stat("/proc/self/ns/net", &own_ns) < 0)
		return -errno;
	proc = opendir("/proc");
	if (!proc)
		return -errno;
	proc_fd = dirfd(proc);
	buf = malloc(MS_CMDLINE_MAX);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	while ((de = readdir(proc))) {
		ssize_t n;
		int fd;

		/* A pid has at most 10 digits; anything longer is not a process. */
		if (!isdigit((unsigned char)de->d_name[0]) || strlen(de->d_name) > 10)
			continue;
		snprintf(path, sizeof(path), "%.10s/cmdline", de->d_name);
		fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, MS_CMDLINE_MAX - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (!cmdline_has_uuid(buf, (size_t)n, uuid_text) ||
		    !same_netns(proc_fd, de->d_name, &own_ns))
			continue;
		*pid = (pid_t)strtol(de->d_name, NULL, 10);
		ret = 0;
		break;
	}
out:
	free(buf);
	closedir(proc);
	return ret;
}
