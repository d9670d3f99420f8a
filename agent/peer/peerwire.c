// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The peer answer's JSON: rendering, and a strict parser of the one flat
 * object it is. Hand-written because the object is fixed and small: a
 * general JSON library would accept depth, sizes and number forms we must
 * refuse anyway.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "migshaper.h"
#include "peerwire.h"

/* Far above any real answer's; a peer that sends more is refused, not parsed. */
#define MAX_KEY_LEN 64
#define MAX_FIELDS  32

struct field {
	const char *name;
	size_t offset;
	__u32 max;
	bool required;
};

static const struct field fields[] = {
    {"version", offsetof(struct ms_peer_answer, version), 0xffffffffU, true},
    {"incoming_migrations", offsetof(struct ms_peer_answer, incoming_migrations), MS_MAX_MIGRATIONS,
     true},
    {"outgoing_migrations", offsetof(struct ms_peer_answer, outgoing_migrations), MS_MAX_MIGRATIONS,
     true},
    {"incoming_aggregate_mbps", offsetof(struct ms_peer_answer, incoming_aggregate_mbps),
     MS_PEER_MBPS_MAX, true},
    {"link_mbps", offsetof(struct ms_peer_answer, link_mbps), MS_PEER_MBPS_MAX, false},
};

#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

int ms_peer_render(const struct ms_peer_answer *a, char *buf, size_t len)
{
	int n = snprintf(buf, len,
			 "{\"version\":%u,\"incoming_migrations\":%u,\"outgoing_migrations\":%u,"
			 "\"incoming_aggregate_mbps\":%u,\"link_mbps\":%u}\n",
			 a->version, a->incoming_migrations, a->outgoing_migrations,
			 a->incoming_aggregate_mbps, a->link_mbps);

	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

struct scan {
	const char *p, *end;
	char *err;
	size_t err_len;
};

static int fail(struct scan *s, int ret, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct scan *s, int ret, const char *fmt, ...)
{
	va_list ap;

	if (s->err && s->err_len) {
		va_start(ap, fmt);
		vsnprintf(s->err, s->err_len, fmt, ap);
		va_end(ap);
	}
	return ret;
}

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static bool eat(struct scan *s, char c)
{
	skip_ws(s);
	if (s->p < s->end && *s->p == c) {
		s->p++;
		return true;
	}
	return false;
}

/* A string of printable ASCII without escapes (every name we know is one). */
static int scan_string(struct scan *s, char *out, size_t out_len)
{
	size_t n = 0;

	if (!eat(s, '"'))
		return fail(s, -EINVAL, "expected a string");
	while (s->p < s->end && *s->p != '"') {
		unsigned char c = (unsigned char)*s->p++;

		if (c < 0x20 || c >= 0x7f || c == '\\')
			return fail(s, -EINVAL,
				    "a string with a control, escape or non-ASCII byte");
		if (out && n + 1 >= out_len)
			return fail(s, -EINVAL, "a key longer than %d bytes", MAX_KEY_LEN - 1);
		if (out)
			out[n++] = (char)c;
	}
	if (s->p >= s->end)
		return fail(s, -EINVAL, "an unterminated string");
	s->p++;
	if (out)
		out[n] = '\0';
	return 0;
}

/* A JSON number; only a non-negative integer that fits 64 bits is a value. */
static int scan_number(struct scan *s, const char *key, __u64 *out)
{
	bool neg = false, digits = false;
	__u64 v = 0;

	skip_ws(s);
	if (s->p < s->end && *s->p == '-') {
		neg = true;
		s->p++;
	}
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
		unsigned int d = (unsigned int)(*s->p++ - '0');

		digits = true;
		if (v > (~0ULL - d) / 10)
			return fail(s, -ERANGE, "%s: a number beyond 64 bits", key);
		v = v * 10 + d;
	}
	if (!digits)
		return fail(s, -EINVAL, "%s: not a number", key);
	if (s->p < s->end && (*s->p == '.' || *s->p == 'e' || *s->p == 'E'))
		return fail(s, -EINVAL, "%s: not an integer", key);
	if (neg && v)
		return fail(s, -ERANGE, "%s: negative (-%llu)", key, (unsigned long long)v);
	*out = v;
	return 0;
}

/* A value of a key we do not know: any scalar, skipped. */
static int skip_scalar(struct scan *s, const char *key)
{
	static const char *const words[] = {"true", "false", "null"};

	skip_ws(s);
	if (s->p < s->end && *s->p == '"')
		return scan_string(s, NULL, 0);
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(words[i]);

		if ((size_t)(s->end - s->p) >= n && memcmp(s->p, words[i], n) == 0) {
			s->p += n;
			return 0;
		}
	}
	if (s->p < s->end && (*s->p == '{' || *s->p == '['))
		return fail(s, -EINVAL, "%s: nested values are not part of the answer", key);
	/* Any number, even one we would refuse for a field of ours. */
	if (s->p < s->end && *s->p == '-')
		s->p++;
	if (s->p >= s->end || *s->p < '0' || *s->p > '9')
		return fail(s, -EINVAL, "%s: not a JSON value", key);
	while (s->p < s->end && ((*s->p >= '0' && *s->p <= '9') || *s->p == '.' || *s->p == 'e' ||
				 *s->p == 'E' || *s->p == '+' || *s->p == '-'))
		s->p++;
	return 0;
}

int ms_peer_parse(const char *body, size_t len, struct ms_peer_answer *out, char *err,
		  size_t err_len)
{
	struct scan s = {.p = body, .end = body + len, .err = err, .err_len = err_len};
	struct ms_peer_answer a = {0};
	bool seen[N_FIELDS] = {false};
	char key[MAX_KEY_LEN];
	size_t n_keys = 0;
	int ret;

	if (len > MS_PEER_MAX_BODY)
		return fail(&s, -E2BIG, "%zu bytes, more than %u", len, MS_PEER_MAX_BODY);
	if (!eat(&s, '{'))
		return fail(&s, -EINVAL, "not a JSON object");
	if (!eat(&s, '}')) {
		do {
			const struct field *f = NULL;
			size_t idx = 0;
			__u64 v = 0;

			if (++n_keys > MAX_FIELDS)
				return fail(&s, -EINVAL, "more than %d keys", MAX_FIELDS);
			ret = scan_string(&s, key, sizeof(key));
			if (ret)
				return ret;
			if (!eat(&s, ':'))
				return fail(&s, -EINVAL, "%s: no ':' after the key", key);
			for (idx = 0; idx < N_FIELDS && !f; idx++)
				if (strcmp(fields[idx].name, key) == 0)
					f = &fields[idx];
			if (!f) {
				ret = skip_scalar(&s, key);
				if (ret)
					return ret;
				continue;
			}
			idx--;
			if (seen[idx])
				return fail(&s, -EINVAL, "%s: given twice", key);
			seen[idx] = true;
			ret = scan_number(&s, key, &v);
			if (ret)
				return ret;
			if (v > f->max)
				return fail(&s, -ERANGE, "%s: %llu is above %u", key,
					    (unsigned long long)v, f->max);
			*(__u32 *)((char *)&a + f->offset) = (__u32)v;
		} while (eat(&s, ','));
		if (!eat(&s, '}'))
			return fail(&s, -EINVAL, "expected ',' or '}'");
	}
	skip_ws(&s);
	if (s.p != s.end)
		return fail(&s, -EINVAL, "bytes after the object");
	for (size_t i = 0; i < N_FIELDS; i++)
		if (fields[i].required && !seen[i])
			return fail(&s, -EINVAL, "no %s", fields[i].name);
	if (a.version != MS_PEER_VERSION)
		return fail(&s, -EINVAL, "version %u, not %u", a.version, MS_PEER_VERSION);
	if (!a.incoming_aggregate_mbps)
		return fail(&s, -ERANGE, "incoming_aggregate_mbps: 0");
	if (a.link_mbps && a.incoming_aggregate_mbps > a.link_mbps)
		return fail(&s, -ERANGE, "incoming_aggregate_mbps: %u is above its link_mbps %u",
			    a.incoming_aggregate_mbps, a.link_mbps);
	*out = a;
	return 0;
}
