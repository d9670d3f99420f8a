/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The logging seam: every layer (bpf/ loader, tc/, agent/) logs through these
 * declarations and nothing else. The sink, agent/lib/log.c, decides where a
 * line goes and which lines pass; the lower layers never include an agent/
 * header, they only need this interface at link time.
 *
 * The sink escapes control characters in every line and rate-limits each
 * message kind (format string): at most MS_LOG_BURST lines per
 * MS_LOG_WINDOW_MS, then a "suppressed K more messages like: ..." line.
 */
#ifndef MS_LOG_H
#define MS_LOG_H

#include <stdarg.h>
#include <stddef.h>

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

/*
 * A library's own message (libmicrohttpd's, libfuse's log callback): who is
 * the library, its trailing newlines are dropped. One message kind for all.
 */
void ms_log_library(enum ms_log_level level, const char *who, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Lines of one kind (format string) per window before the rest are counted. */
#define MS_LOG_BURST	 20
#define MS_LOG_WINDOW_MS 1000

/*
 * Writes in[0..in_len) into out (NUL-terminated, cut at out_size) with
 * control characters and invalid UTF-8 escaped as the sink does (\n, \r,
 * \t, \xNN); returns the length written.
 */
size_t ms_log_escape(const char *in, size_t in_len, char *out, size_t out_size);
/* Writes the summaries of suppressed messages whose window is over. */
void ms_log_flush(void);
/*
 * Writes every summary still pending, window over or not: at exit, so the
 * count of what was held back in the last second is not lost.
 */
void ms_log_flush_all(void);

#define ms_err(...)   ms_log(MS_LOG_ERROR, __VA_ARGS__)
#define ms_warn(...)  ms_log(MS_LOG_WARN, __VA_ARGS__)
#define ms_info(...)  ms_log(MS_LOG_INFO, __VA_ARGS__)
#define ms_debug(...) ms_log(MS_LOG_DEBUG, __VA_ARGS__)

#endif /* MS_LOG_H */
