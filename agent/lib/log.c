// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Leveled logging to stderr, one write per line. The sink owns two guards:
 *   - escaping: control characters (< 0x20, 0x7f, and the C1 range
 *     U+0080-U+009F) and bytes that are not UTF-8 are written as \n, \r, \t
 *     or \xNN, so a value echoed into a message (a knob write, a domain name,
 *     an HTTP user name) can never start a line of its own or drive a
 *     terminal;
 *   - rate limiting per message kind (the format string, i.e. the call
 *     site): at most MS_LOG_BURST lines of a kind per MS_LOG_WINDOW_MS; the
 *     rest are counted, and once the window is over the next log call (or
 *     ms_log_flush()) writes "suppressed K more messages like: <first one>";
 *     at exit ms_log_flush_all() writes those of windows still open.
 * The threshold and the kind table are the process-wide state outside main:
 * like libbpf's print callback, every module logs, and threading a logger
 * through every call would obscure the code. Only the loop's thread logs
 * (the libvirt thread hands its errors to the loop), so there is no lock.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

/* A message longer than this is cut, and says so. */
#define MS_LOG_MSG_MAX 1024
/* Escaping at most quadruples a byte (\xNN); plus the prefix and the newline. */
#define MS_LOG_LINE_MAX	  (MS_LOG_MSG_MAX * 4 + 128)
#define MS_LOG_SAMPLE_MAX 256
#define MS_LOG_KINDS	  128
#define MS_LOG_PROBES	  8

struct log_kind {
	const char *fmt; /* NULL: free */
	enum ms_log_level level;
	long long window_start_ms;
	unsigned int lines; /* written in this window */
	unsigned long long suppressed;
	char sample[MS_LOG_SAMPLE_MAX]; /* the first suppressed message, escaped */
};

static enum ms_log_level log_threshold = MS_LOG_INFO;
static struct log_kind log_kinds[MS_LOG_KINDS];

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

/* Length of the well-formed UTF-8 sequence at s (2-4), or 0 if it is not one. */
static size_t utf8_multibyte_len(const unsigned char *s, size_t left)
{
	unsigned char c = s[0];

	if (c >= 0xc2 && c <= 0xdf)
		return left >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;

		if (left < 3 || s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80)
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;

		if (left < 4 || s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		return 4;
	}
	return 0;
}

size_t ms_log_escape(const char *in, size_t in_len, char *out, size_t out_size)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0;

	if (!out_size)
		return 0;
	for (size_t i = 0; i < in_len;) {
		unsigned char c = s[i];
		char esc[16];
		size_t n = 0, take = 1;

		if (c >= 0x20 && c < 0x7f) {
			esc[n++] = (char)c;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			esc[n++] = '\\';
			esc[n++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
		} else if (c >= 0x80 && (take = utf8_multibyte_len(s + i, in_len - i)) &&
			   !(c == 0xc2 && s[i + 1] < 0xa0)) {
			/* Valid UTF-8 that is not a C1 control character: as is. */
			memcpy(esc, s + i, take);
			n = take;
		} else {
			/* Escape the sequence's bytes (a C1 control) or the one bad byte. */
			take = take ? take : 1;
			for (size_t k = 0; k < take; k++) {
				esc[n++] = '\\';
				esc[n++] = 'x';
				esc[n++] = hex[s[i + k] >> 4];
				esc[n++] = hex[s[i + k] & 0xf];
			}
		}
		if (o + n >= out_size)
			break;
		memcpy(out + o, esc, n);
		o += n;
		i += take;
	}
	out[o] = '\0';
	return o;
}

/* Writes "<time> <level>: <text>\n" with one write(2); text is already escaped. */
static void write_line(enum ms_log_level level, const char *text)
{
	char line[MS_LOG_LINE_MAX + 64];
	struct timespec now;
	size_t off = 0, len;
	int n;

	clock_gettime(CLOCK_REALTIME, &now);
	n = snprintf(line, sizeof(line), "%lld.%03ld %s: ", (long long)now.tv_sec,
		     now.tv_nsec / 1000000, level_names[level]);
	if (n < 0)
		return;
	len = strlen(text);
	if ((size_t)n + len + 1 > sizeof(line))
		len = sizeof(line) - (size_t)n - 1;
	memcpy(line + n, text, len);
	line[(size_t)n + len] = '\n';
	len += (size_t)n + 1;
	while (off < len) {
		ssize_t w = write(STDERR_FILENO, line + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

/* The summary of a kind whose window is over; the kind starts afresh. */
static void flush_kind(struct log_kind *k)
{
	char text[MS_LOG_SAMPLE_MAX + 96];

	if (!k->suppressed)
		return;
	snprintf(text, sizeof(text), "log: suppressed %llu more message%s like: %s", k->suppressed,
		 k->suppressed == 1 ? "" : "s", k->sample);
	k->suppressed = 0;
	write_line(k->level, text);
}

/* The summaries of kinds whose window is over, or of every kind if all. */
static void flush_pending(long long now, bool all)
{
	for (size_t i = 0; i < MS_LOG_KINDS; i++) {
		struct log_kind *k = &log_kinds[i];

		if (k->fmt && k->suppressed &&
		    (all || now - k->window_start_ms >= MS_LOG_WINDOW_MS))
			flush_kind(k);
	}
}

void ms_log_flush(void)
{
	flush_pending(ms_clock_ms(), false);
}

void ms_log_flush_all(void)
{
	flush_pending(0, true);
}

/*
 * The kind of fmt. A full neighbourhood gives up its stalest entry (its
 * summary written first): kinds are call sites, far fewer than the table.
 */
static struct log_kind *kind_of(const char *fmt, long long now)
{
	size_t h = (size_t)(((uintptr_t)fmt >> 3) * 2654435761u) % MS_LOG_KINDS;
	struct log_kind *stalest = NULL;

	for (size_t p = 0; p < MS_LOG_PROBES; p++) {
		struct log_kind *k = &log_kinds[(h + p) % MS_LOG_KINDS];

		if (k->fmt == fmt)
			return k;
		if (!k->fmt) {
			stalest = k;
			break;
		}
		if (!stalest || k->window_start_ms < stalest->window_start_ms)
			stalest = k;
	}
	flush_kind(stalest);
	memset(stalest, 0, sizeof(*stalest));
	stalest->fmt = fmt;
	stalest->window_start_ms = now;
	return stalest;
}

void ms_log(enum ms_log_level level, const char *fmt, ...)
{
	char msg[MS_LOG_MSG_MAX + 8], text[MS_LOG_LINE_MAX];
	struct log_kind *k;
	long long now;
	va_list ap;
	int n;

	if (level > log_threshold)
		return;
	now = ms_clock_ms();
	flush_pending(now, false);
	k = kind_of(fmt, now);
	if (now - k->window_start_ms >= MS_LOG_WINDOW_MS) {
		k->window_start_ms = now;
		k->lines = 0;
	}
	va_start(ap, fmt);
	n = vsnprintf(msg, MS_LOG_MSG_MAX + 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > MS_LOG_MSG_MAX) {
		n = MS_LOG_MSG_MAX;
		memcpy(msg + n, "...", 4);
		n += 3;
	}
	if (k->lines >= MS_LOG_BURST) {
		if (!k->suppressed++) {
			k->level = level;
			ms_log_escape(msg, (size_t)n, k->sample, sizeof(k->sample));
		}
		return;
	}
	k->lines++;
	ms_log_escape(msg, (size_t)n, text, sizeof(text));
	write_line(level, text);
}

void ms_log_library(enum ms_log_level level, const char *who, const char *fmt, va_list ap)
{
	char msg[MS_LOG_MSG_MAX + 1];
	size_t len;

	if (level > log_threshold)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	len = strlen(msg);
	while (len && msg[len - 1] == '\n')
		msg[--len] = '\0';
	ms_log(level, "%s: %s", who, msg);
}
