// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Leveled logging to stderr. The threshold is the one piece of process-wide
 * state outside main: like libbpf's print callback, every module logs, and
 * threading a logger through every call would obscure the code.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static enum ms_log_level log_threshold = MS_LOG_INFO;

static const char *const level_names[] = {
	[MS_LOG_ERROR] = "error",
	[MS_LOG_WARN] = "warn",
	[MS_LOG_INFO] = "info",
	[MS_LOG_DEBUG] = "debug",
};

void ms_log_set_level(enum ms_log_level level)
{
	log_threshold = level;
}

enum ms_log_level ms_log_get_level(void)
{
	return log_threshold;
}

int ms_log_level_parse(const char *name, enum ms_log_level *level)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*level = (enum ms_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void ms_log(enum ms_log_level level, const char *fmt, ...)
{
	struct timespec now;
	va_list ap;

	if (level > log_threshold)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	fprintf(stderr, "%lld.%03ld %s: ", (long long)now.tv_sec, now.tv_nsec / 1000000,
		level_names[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
