// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The state file. Format, one record per line:
 *
 *   migshaper-state 1
 *   ifindex <n>
 *   backend htb-root | multiqueue   (absent from files of earlier agents)
 *   orig none | orig <handle> <kind> <options hex or -> <stab hex or ->
 *   filter <handle> <priority> <clsact created 0|1>
 *   mig <minor> <uuid hex> <domain name hex>
 *
 * Binary and free-text fields are hex so that no value can break a line.
 *
 * The baseline file, <run-dir>/<ifname>.baseline, outlives a clean stop:
 *
 *   migshaper-baseline 1
 *   rtt_us <n>
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state.h"

#define LINE_MAX_BYTES 4096

int ms_state_path(const char *run_dir, const char *ifname, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s.state", run_dir, ifname);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

void ms_state_clear(struct ms_state *st)
{
	ms_htb_root_clear(&st->orig);
	memset(st, 0, sizeof(*st));
}

static void hex_put(FILE *f, const void *data, size_t len)
{
	const unsigned char *p = data;

	if (!len) {
		fputc('-', f);
		return;
	}
	for (size_t i = 0; i < len; i++)
		fprintf(f, "%02x", p[i]);
}

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes hex into a new buffer; "-" is empty. *out NULL when empty. */
static int hex_get(const char *text, unsigned char **out, size_t *len, size_t max_len)
{
	size_t n = strlen(text);
	unsigned char *buf;

	*out = NULL;
	*len = 0;
	if (strcmp(text, "-") == 0)
		return 0;
	if (n == 0 || n % 2 || n / 2 > max_len)
		return -EINVAL;
	buf = malloc(n / 2);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = nibble(text[2 * i]), lo = nibble(text[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			free(buf);
			return -EINVAL;
		}
		buf[i] = (unsigned char)(hi << 4 | lo);
	}
	*out = buf;
	*len = n / 2;
	return 0;
}

/* Decodes hex into a fixed buffer of exactly len bytes. */
static int hex_get_fixed(const char *text, void *dst, size_t len)
{
	unsigned char *buf;
	size_t n;
	int err;

	err = hex_get(text, &buf, &n, len);
	if (err)
		return err;
	if (n != len) {
		free(buf);
		return -EINVAL;
	}
	memcpy(dst, buf, len);
	free(buf);
	return 0;
}

static int write_records(FILE *f, const struct ms_state *st)
{
	fprintf(f, "migshaper-state %d\n", MS_STATE_VERSION);
	fprintf(f, "ifindex %d\n", st->ifindex);
	if (st->backend != MS_STATE_BACKEND_UNKNOWN)
		fprintf(f, "backend %s\n",
			st->backend == MS_STATE_BACKEND_MULTIQUEUE ? "multiqueue" : "htb-root");
	if (st->orig.present) {
		fprintf(f, "orig %#x %s ", st->orig.handle, st->orig.kind);
		hex_put(f, st->orig.opts, st->orig.opts_len > 0 ? (size_t)st->orig.opts_len : 0);
		fputc(' ', f);
		hex_put(f, st->orig.stab, st->orig.stab_len > 0 ? (size_t)st->orig.stab_len : 0);
		fputc('\n', f);
	} else {
		fprintf(f, "orig none\n");
	}
	fprintf(f, "filter %#x %u %d\n", st->attach.tc_handle, st->attach.tc_priority,
		st->attach.clsact_created ? 1 : 0);
	for (size_t i = 0; i < st->n_migs; i++) {
		fprintf(f, "mig %#x ", st->migs[i].minor);
		hex_put(f, st->migs[i].uuid, MS_UUID_LEN);
		fputc(' ', f);
		hex_put(f, st->migs[i].name, strnlen(st->migs[i].name, MS_DOMAIN_NAME_MAX - 1));
		fputc('\n', f);
	}
	return ferror(f) ? -EIO : 0;
}

/* Replaces path with what write_fn writes, atomically (write, fsync, rename). */
static int write_atomic(const char *path, int (*write_fn)(FILE *f, const void *data),
			const void *data)
{
	char tmp[4096];
	FILE *f = NULL;
	int fd, err;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		err = -errno;
		close(fd);
		goto fail;
	}
	err = write_fn(f, data);
	if (!err && fflush(f))
		err = -errno;
	if (!err && fsync(fileno(f)))
		err = -errno;
	if (fclose(f) && !err)
		err = -errno;
	if (err)
		goto fail;
	if (rename(tmp, path)) {
		err = -errno;
		goto fail;
	}
	return 0;
fail:
	unlink(tmp);
	return err;
}

static int write_state(FILE *f, const void *data)
{
	return write_records(f, data);
}

int ms_state_write(const char *path, const struct ms_state *st)
{
	return write_atomic(path, write_state, st);
}

static int parse_u32(const char *text, __u32 *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(text, &end, 0);
	if (errno || end == text || *end || v > 0xffffffffUL || text[0] == '-')
		return -EINVAL;
	*out = (__u32)v;
	return 0;
}

static int parse_orig(char **f, int n, struct ms_htb_root *r)
{
	unsigned char *opts = NULL, *stab = NULL;
	size_t opts_len, stab_len;
	int err;

	if (n == 2 && strcmp(f[1], "none") == 0)
		return 0;
	if (n != 5 || strlen(f[2]) >= sizeof(r->kind) || parse_u32(f[1], &r->handle))
		return -EINVAL;
	err = hex_get(f[3], &opts, &opts_len, 65535);
	err = err ?: hex_get(f[4], &stab, &stab_len, 65535);
	if (err) {
		free(opts);
		return err;
	}
	r->present = true;
	snprintf(r->kind, sizeof(r->kind), "%s", f[2]);
	r->opts = opts;
	r->opts_len = (int)opts_len;
	r->stab = stab;
	r->stab_len = (int)stab_len;
	return 0;
}

static int parse_mig(char **f, int n, struct ms_state *st)
{
	struct ms_state_mig *m;
	unsigned char *name;
	size_t name_len;
	int err;

	if (n != 4)
		return -EINVAL;
	if (st->n_migs == MS_MAX_MIGRATIONS)
		return -E2BIG;
	m = &st->migs[st->n_migs];
	memset(m, 0, sizeof(*m));
	if (parse_u32(f[1], &m->minor) || !ms_minor_is_migration(m->minor) ||
	    hex_get_fixed(f[2], m->uuid, MS_UUID_LEN))
		return -EINVAL;
	err = hex_get(f[3], &name, &name_len, MS_DOMAIN_NAME_MAX - 1);
	if (err)
		return err;
	if (name_len)
		memcpy(m->name, name, name_len);
	free(name);
	if (memchr(m->name, '\0', name_len))
		return -EINVAL;
	for (size_t i = 0; i < st->n_migs; i++)
		if (st->migs[i].minor == m->minor)
			return -EINVAL;
	st->n_migs++;
	return 0;
}

/* Splits line at spaces in place; returns the number of fields. */
static int split(char *line, char **f, int max)
{
	int n = 0;
	char *save = NULL;

	for (char *tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		if (n == max)
			return max + 1;
		f[n++] = tok;
	}
	return n;
}

static int parse_line(char *line, int lineno, struct ms_state *st, unsigned int *seen)
{
	__u32 v, prio, clsact;
	char *f[6];
	int n = split(line, f, 5);

	if (n == 0)
		return 0;
	if (lineno == 1) {
		if (n != 2 || strcmp(f[0], "migshaper-state") || parse_u32(f[1], &v) ||
		    v != MS_STATE_VERSION)
			return -EINVAL;
		*seen |= 8;
		return 0;
	}
	if (strcmp(f[0], "ifindex") == 0) {
		if (n != 2 || parse_u32(f[1], &v) || v == 0 || v > 0x7fffffff)
			return -EINVAL;
		st->ifindex = (int)v;
		*seen |= 1;
		return 0;
	}
	if (strcmp(f[0], "backend") == 0) {
		if (n != 2 || st->backend != MS_STATE_BACKEND_UNKNOWN)
			return -EINVAL;
		if (strcmp(f[1], "htb-root") == 0)
			st->backend = MS_STATE_BACKEND_HTB_ROOT;
		else if (strcmp(f[1], "multiqueue") == 0)
			st->backend = MS_STATE_BACKEND_MULTIQUEUE;
		else
			return -EINVAL;
		return 0;
	}
	if (strcmp(f[0], "orig") == 0) {
		if (*seen & 2)
			return -EINVAL;
		*seen |= 2;
		return parse_orig(f, n, &st->orig);
	}
	if (strcmp(f[0], "filter") == 0) {
		if (n != 4 || parse_u32(f[1], &st->attach.tc_handle) || parse_u32(f[2], &prio) ||
		    prio > 0xffff || parse_u32(f[3], &clsact) || clsact > 1)
			return -EINVAL;
		st->attach.tc_priority = prio;
		st->attach.clsact_created = clsact;
		*seen |= 4;
		return 0;
	}
	if (strcmp(f[0], "mig") == 0)
		return parse_mig(f, n, st);
	return -EINVAL;
}

int ms_state_read(const char *path, struct ms_state *st, char *err, size_t err_len)
{
	char line[LINE_MAX_BYTES];
	unsigned int seen = 0;
	int lineno = 0, ret = 0;
	FILE *f;

	memset(st, 0, sizeof(*st));
	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return ret;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			ret = -EINVAL;
			break;
		}
		ret = parse_line(line, lineno, st, &seen);
		if (ret)
			break;
	}
	if (!ret && ferror(f))
		ret = -EIO;
	if (!ret && seen != 15)
		ret = -EINVAL;
	fclose(f);
	if (ret) {
		snprintf(err, err_len, "%s: %s at line %d", path,
			 ret == -EINVAL ? "not a valid migshaper state file" : strerror(-ret),
			 lineno);
		ms_state_clear(st);
		return ret == -ENOENT ? -EINVAL : ret;
	}
	return 0;
}

int ms_state_baseline_path(const char *run_dir, const char *ifname, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s.baseline", run_dir, ifname);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int write_baseline(FILE *f, const void *data)
{
	fprintf(f, "migshaper-baseline %d\nrtt_us %u\n", MS_BASELINE_VERSION, *(const __u32 *)data);
	return ferror(f) ? -EIO : 0;
}

int ms_state_baseline_write(const char *path, __u32 rtt_us)
{
	return write_atomic(path, write_baseline, &rtt_us);
}

int ms_state_baseline_read(const char *path, __u32 *rtt_us, char *err, size_t err_len)
{
	char line[LINE_MAX_BYTES], *f[3];
	int lineno = 0, ret = 0;
	__u32 version, v = 0;
	bool have = false;
	FILE *file;

	file = fopen(path, "re");
	if (!file) {
		ret = -errno;
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return ret;
	}
	while (!ret && fgets(line, sizeof(line), file)) {
		int n;

		lineno++;
		n = split(line, f, 2);
		if (lineno == 1)
			ret = n == 2 && !strcmp(f[0], "migshaper-baseline") &&
				      !parse_u32(f[1], &version) && version == MS_BASELINE_VERSION
				  ? 0
				  : -EINVAL;
		else if (n == 2 && !strcmp(f[0], "rtt_us") && !have && !parse_u32(f[1], &v) &&
			 v > 0)
			have = true;
		else if (n != 0)
			ret = -EINVAL;
	}
	if (!ret && ferror(file))
		ret = -EIO;
	if (!ret && !have)
		ret = -EINVAL;
	fclose(file);
	if (ret) {
		snprintf(err, err_len, "%s: %s at line %d", path,
			 ret == -EINVAL ? "not a valid migshaper baseline file (version "
					  "1: 'migshaper-baseline 1' then 'rtt_us N')"
					: strerror(-ret),
			 lineno);
		return ret == -ENOENT ? -EINVAL : ret;
	}
	*rtt_us = v;
	return 0;
}
