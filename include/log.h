/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The logging seam: every layer (bpf/ loader, tc/, agent/) logs through these
 * declarations and nothing else. The sink, agent/lib/log.c, decides where a
 * line goes and which lines pass; the lower layers never include an agent/
 * header, they only need this interface at link time.
 */
#ifndef MS_LOG_H
#define MS_LOG_H

enum ms_log_level {
	MS_LOG_ERROR = 0,
	MS_LOG_WARN,
	MS_LOG_INFO,
	MS_LOG_DEBUG,
};

void ms_log_set_level(enum ms_log_level level);
enum ms_log_level ms_log_get_level(void);
/* Parses "error", "warn", "info" or "debug"; returns 0 or -EINVAL. */
int ms_log_level_parse(const char *name, enum ms_log_level *level);
void ms_log(enum ms_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ms_err(...)   ms_log(MS_LOG_ERROR, __VA_ARGS__)
#define ms_warn(...)  ms_log(MS_LOG_WARN, __VA_ARGS__)
#define ms_info(...)  ms_log(MS_LOG_INFO, __VA_ARGS__)
#define ms_debug(...) ms_log(MS_LOG_DEBUG, __VA_ARGS__)

#endif /* MS_LOG_H */
