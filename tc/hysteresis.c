// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * sch_htb's htb_hysteresis and its host-wide record (tc/hysteresis.h): a
 * sysfs parameter and a small file under flock(2).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "hysteresis.h"
#include "log.h"

/* How long ms_hyst_hold() waits for the record: 100 x 10 ms. */
#define HYST_LOCK_TRIES	   100
#define HYST_LOCK_RETRY_NS 10000000L

int ms_hyst_record_path(const char *run_dir, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", run_dir, MS_HYST_RECORD_NAME);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* A number and an optional newline, as the kernel prints a parameter; -EINVAL otherwise. */
static int parse_value(const char *what, const char *buf, unsigned int *value)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(buf, &end, 10);
	if (end == buf || buf[0] == '-' || (*end && strcmp(end, "\n")) || errno || v > INT_MAX) {
		ms_err("hysteresis: %s holds '%.*s', not a number", what, (int)strcspn(buf, "\n"),
		       buf);
		return -EINVAL;
	}
	*value = (unsigned int)v;
	return 0;
}

int ms_hyst_param_read(const char *param_path, unsigned int *value)
{
	char buf[32];
	ssize_t n;
	int fd;

	fd = open(param_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		n = -errno;
	close(fd);
	if (n < 0)
		return (int)n;
	buf[n] = '\0';
	return parse_value(param_path, buf, value);
}

int ms_hyst_param_write(const char *param_path, unsigned int value)
{
	char buf[16];
	int fd, len, ret = 0;

	len = snprintf(buf, sizeof(buf), "%u\n", value);
	fd = open(param_path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	errno = 0;
	if (write(fd, buf, (size_t)len) != len)
		ret = errno ? -errno : -EIO;
	if (close(fd) && !ret)
		ret = -errno;
	return ret;
}

/* The record of fd: *have false when it is empty. */
static int record_read(int fd, const char *path, bool *have, unsigned int *value)
{
	char buf[32];
	ssize_t n;

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n < 0)
		return -errno;
	*have = n > 0;
	if (!n)
		return 0;
	buf[n] = '\0';
	return parse_value(path, buf, value);
}

/* Writes value as the record (have) or empties it (!have). */
static int record_write(int fd, bool have, unsigned int value)
{
	char buf[16];
	int len = 0;

	if (have) {
		len = snprintf(buf, sizeof(buf), "%u\n", value);
		errno = 0;
		if (pwrite(fd, buf, (size_t)len, 0) != len)
			return errno ? -errno : -EIO;
	}
	if (ftruncate(fd, len) || fdatasync(fd))
		return -errno;
	return 0;
}

/*
 * An agent that stops holds the record exclusively for one write; anything
 * holding it longer is not an agent, and the agent starts without the
 * parameter rather than wait for it (-EWOULDBLOCK).
 */
static int lock_shared(int fd)
{
	const struct timespec pause = {.tv_nsec = HYST_LOCK_RETRY_NS};

	for (int i = 0;; i++) {
		if (!flock(fd, LOCK_SH | LOCK_NB))
			return 0;
		if (errno != EWOULDBLOCK)
			return -errno;
		if (i + 1 == HYST_LOCK_TRIES)
			return -EWOULDBLOCK;
		nanosleep(&pause, NULL);
	}
}

int ms_hyst_hold(const char *param_path, const char *record_path, int *hold_fd,
		 enum ms_hyst_found *found, unsigned int *orig)
{
	unsigned int recorded = 0, now;
	bool have;
	int fd, ret;

	fd = open(record_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	ret = lock_shared(fd);
	if (ret)
		goto fail;
	ret = record_read(fd, record_path, &have, &recorded);
	if (!ret)
		ret = ms_hyst_param_read(param_path, &now);
	if (ret)
		goto fail;
	if (have) {
		*found = MS_HYST_RECORDED;
		*orig = recorded;
		if (!now)
			ret = ms_hyst_param_write(param_path, 1);
	} else if (now) {
		*found = MS_HYST_ALREADY_ON;
		*orig = now;
	} else {
		/*
		 * The record first, and kept if the parameter cannot be
		 * written: a record of the value the parameter still has is
		 * harmless, and another agent may already rely on it.
		 */
		*found = MS_HYST_TURNED_ON;
		*orig = now;
		ret = record_write(fd, true, now);
		if (!ret)
			ret = ms_hyst_param_write(param_path, 1);
	}
	if (ret)
		goto fail;
	*hold_fd = fd;
	return 0;
fail:
	close(fd);
	return ret;
}

int ms_hyst_release(const char *param_path, const char *record_path, int hold_fd,
		    enum ms_hyst_done *done, unsigned int *orig)
{
	unsigned int recorded = 0;
	int fd = hold_fd, ret;
	bool have;

	*done = MS_HYST_NOTHING;
	if (fd < 0) {
		fd = open(record_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return errno == ENOENT ? 0 : -errno;
	}
	/*
	 * Exclusive only when no other agent holds it shared. Converting our
	 * own shared lock may drop it first (flock(2)); we give it up anyway,
	 * and of two agents stopping at once one of them gets it.
	 */
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		ret = errno == EWOULDBLOCK ? 0 : -errno;
		if (!ret)
			*done = MS_HYST_SHARED;
		goto out;
	}
	ret = record_read(fd, record_path, &have, &recorded);
	if (ret || !have)
		goto out;
	ret = ms_hyst_param_write(param_path, recorded);
	if (ret)
		goto out;
	*done = MS_HYST_PUT_BACK;
	*orig = recorded;
	/* The value is back; a record left over only puts the same value back again later. */
	ret = record_write(fd, false, 0);
	if (ret)
		ms_warn("hysteresis: cannot empty %s: %s", record_path, strerror(-ret));
	ret = 0;
out:
	close(fd);
	return ret;
}
