// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * migshaperctl: the operator's view of a running agent, through the knob tree
 * the agent serves (agent/ops/knobs.h) and nothing else. A write to a knob file
 * is validated and applied by the agent exactly as `echo VALUE > FILE` would
 * be, so the CLI and the shell can never disagree.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "classes.h"
#include "config.h"
#include "knobs.h"
#include "migration.h"
#include "migshaper.h"
#include "version.h"

/* Knob values are short; a mgmt_cidrs list is the longest. */
#define VALUE_MAX (MS_KNOBS_WRITE_MAX + 1)
#define FIELD_MAX 64
#define MAX_ROWS  1024

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
};

/* The migration files status reads, in its column order (migration.h names them). */
static const enum ms_mig_field mig_fields[] = {
    MS_MIG_FIELD_DIRECTION,    MS_MIG_FIELD_CLASS,	    MS_MIG_FIELD_RATE,
    MS_MIG_FIELD_SPEED,	       MS_MIG_FIELD_REMAINING,	    MS_MIG_FIELD_DIRTY_RATE,
    MS_MIG_FIELD_ITERATION,    MS_MIG_FIELD_STATE,	    MS_MIG_FIELD_THROTTLE,
    MS_MIG_FIELD_MANAGER_HELD, MS_MIG_FIELD_ADVISED_ACTION, MS_MIG_FIELD_STALL_EVENT,
    MS_MIG_FIELD_STALL_EVENTS,
};

#define N_MIG_FIELDS (sizeof(mig_fields) / sizeof(mig_fields[0]))

static const char *const class_fields[] = {"bytes", "packets", "drops"};

#define N_CLASS_FIELDS (sizeof(class_fields) / sizeof(class_fields[0]))

/* The summary shows the rates: the Mbit/s keys of the configuration table. */
#define N_SUMMARY MS_CONFIG_N_RATE_KEYS

struct row {
	char name[NAME_MAX + 1];
	/* Class rows sort by minor; migration rows by name. */
	__u32 minor;
	char field[N_MIG_FIELDS][FIELD_MAX];
};

struct status {
	char summary[N_SUMMARY][FIELD_MAX];
	size_t n_migs, n_classes;
	struct row migs[MAX_ROWS];
	struct row classes[MAX_ROWS];
};

/* The i-th rate key of the configuration table. */
static const char *summary_key(size_t i)
{
	size_t n = 0;

	for (size_t k = 0; k < MS_CONFIG_N_KEYS; k++)
		if (ms_config_keys[k].type == MS_KEY_MBPS && n++ == i)
			return ms_config_keys[k].name;
	return NULL;
}

/* The summary's value of the rate key name. */
static const char *summary_of(const struct status *st, const char *name)
{
	for (size_t i = 0; i < N_SUMMARY; i++)
		if (strcmp(summary_key(i), name) == 0)
			return st->summary[i];
	return "?";
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: migshaperctl [--root DIR] [--iface IF] COMMAND [ARGS]\n"
		"\n"
		"Commands:\n"
		"  status [--json]       migrations (rate, libvirt speed, remaining, dirty\n"
		"                        rate, iteration, state) and class counters\n"
		"  get KNOB              print a knob, e.g. migration_max_mbps or\n"
		"                        migrations/DOMAIN/state or stats/mgmt/bytes\n"
		"  set KNOB VALUE        change a knob on the running agent\n"
		"  watch [--interval S] [--count N]\n"
		"                        status, refreshed every S seconds (default 2)\n"
		"\n"
		"Options:\n"
		"      --root DIR        where the agent mounts its knobs (default %s)\n"
		"      --iface IF        the agent's interface (default: the only one under DIR)\n"
		"  -h, --help            show this help\n"
		"  -V, --version         show the version\n"
		"\n"
		"Exit status: 0 on success, 1 when the agent refuses a value or cannot be\n"
		"reached, 2 on bad arguments.\n",
		MS_KNOBS_DEFAULT_ROOT);
}

static void fail_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "migshaperctl: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'migshaperctl --help'.\n");
}

static int join_path(char *buf, size_t len, const char *dir, const char *rel)
{
	int n = snprintf(buf, len, "%s/%s", dir, rel);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Reads a whole knob file; returns its length or -errno. */
static ssize_t read_file(const char *path, char *buf, size_t len)
{
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (got < len - 1) {
		ssize_t n = read(fd, buf + got, len - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int ret = -errno;

			close(fd);
			return ret;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(fd);
	return (ssize_t)got;
}

/* One line of a knob, without its newline; -errno on failure. */
static int read_field(const char *dir, const char *rel, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, rel) >= sizeof(path))
		return -ENAMETOOLONG;
	n = read_file(path, buf, len);
	if (n < 0)
		return (int)n;
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/*
 * 0 if root/name is an agent's knob directory, else -errno of looking. Only
 * root may look inside one (0500 directories on a FUSE mount of root's).
 */
static int agent_dir(const char *root, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	if (name[0] == '.')
		return -ENOENT;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s/link_mbps", root, name) >= sizeof(path))
		return -ENAMETOOLONG;
	if (stat(path, &st) < 0)
		return -errno;
	return S_ISREG(st.st_mode) ? 0 : -ENOENT;
}

/* A user who may not look into the knob tree is told so, not that no agent runs. */
static bool denied(int err)
{
	return (err == EACCES || err == EPERM) && geteuid() != 0;
}

static int say_denied(const char *path, const char *name)
{
	fprintf(stderr, "migshaperctl: permission denied: %s%s%s (run as root)\n", path,
		name ? "/" : "", name ? name : "");
	return EXIT_FAIL;
}

/* The knob directory: <root>/<iface>, or the only agent's under root. */
static int find_dir(const char *root, const char *iface, char *dir, size_t len)
{
	char found[NAME_MAX + 1] = "", denied_name[NAME_MAX + 1] = "";
	char others[256] = "";
	int ret;
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if (iface) {
		if (!*iface || strchr(iface, '/')) {
			fail_usage("bad interface name '%s'", iface);
			return EXIT_USAGE;
		}
		ret = agent_dir(root, iface);
		if (denied(-ret))
			return say_denied(root, iface);
		if (ret) {
			fprintf(stderr,
				"migshaperctl: no knobs at %s/%s (is migshaperd running on %s?)\n",
				root, iface, iface);
			return EXIT_FAIL;
		}
		return join_path(dir, len, root, iface) ? EXIT_FAIL : EXIT_OK;
	}
	d = opendir(root);
	if (!d && denied(errno))
		return say_denied(root, NULL);
	if (!d) {
		fprintf(stderr, "migshaperctl: cannot open %s: %s (is migshaperd running?)\n", root,
			strerror(errno));
		return EXIT_FAIL;
	}
	while ((de = readdir(d))) {
		ret = agent_dir(root, de->d_name);
		if (denied(-ret) && !denied_name[0])
			snprintf(denied_name, sizeof(denied_name), "%s", de->d_name);
		if (ret)
			continue;
		if (n++ == 0)
			snprintf(found, sizeof(found), "%s", de->d_name);
		else if (strlen(others) + strlen(de->d_name) + 2 < sizeof(others))
			strcat(strcat(others, " "), de->d_name);
	}
	closedir(d);
	if (n == 0 && denied_name[0])
		return say_denied(root, denied_name);
	if (n == 0) {
		fprintf(stderr,
			"migshaperctl: no agent serves knobs under %s (is migshaperd "
			"running?)\n",
			root);
		return EXIT_FAIL;
	}
	if (n > 1) {
		fprintf(stderr,
			"migshaperctl: agents for several interfaces under %s (%s%s); pick one "
			"with --iface\n",
			root, found, others);
		return EXIT_USAGE;
	}
	return join_path(dir, len, root, found) ? EXIT_FAIL : EXIT_OK;
}

/* A knob path relative to the interface directory, without a way out of it. */
static bool knob_path_ok(const char *knob)
{
	const char *p = knob;

	if (!*knob || *knob == '/')
		return false;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n;
		if (*p == '/')
			p++;
	}
	return true;
}

/*
 * Domain names come from libvirt and knob contents from the agent: control
 * characters (a newline, an escape sequence) are shown escaped (\n, \x1b),
 * never sent to the terminal. Backslashes are doubled so the escape is
 * unambiguous.
 */
static void escape(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (; *in && o + 5 <= len; in++) {
		unsigned char c = (unsigned char)*in;

		if (c == '\n')
			o += (size_t)snprintf(out + o, len - o, "\\n");
		else if (c == '\\')
			o += (size_t)snprintf(out + o, len - o, "\\\\");
		else if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

/* A knob's text (a list has one item per line), each line escaped. */
static void print_lines_escaped(const char *text)
{
	size_t len = strlen(text);
	/* At most four characters for one (\xHH). */
	char *out = malloc(4 * len + 1);
	char *copy = strdup(text);
	char *line = copy;

	if (!out || !copy)
		goto out;
	for (;;) {
		char *end = strchr(line, '\n');

		/* After the last newline: a final line without one, or nothing. */
		if (!end && !*line)
			break;
		if (end)
			*end = '\0';
		escape(line, out, 4 * len + 1);
		printf("%s\n", out);
		if (!end)
			break;
		line = end + 1;
	}
out:
	free(out);
	free(copy);
}

static int cmd_get(const char *dir, const char *knob)
{
	char path[PATH_MAX];
	char *buf;
	ssize_t n;

	if (join_path(path, sizeof(path), dir, knob)) {
		fprintf(stderr, "migshaperctl: get %s: %s\n", knob, strerror(ENAMETOOLONG));
		return EXIT_FAIL;
	}
	buf = malloc(VALUE_MAX);
	if (!buf)
		return EXIT_FAIL;
	n = read_file(path, buf, VALUE_MAX);
	if (n < 0 && denied((int)-n)) {
		free(buf);
		return say_denied(dir, knob);
	}
	if (n < 0) {
		fprintf(stderr, "migshaperctl: get %s: %s\n", knob, strerror((int)-n));
		free(buf);
		return EXIT_FAIL;
	}
	print_lines_escaped(buf);
	free(buf);
	return EXIT_OK;
}

/* One write of the whole value, as `echo VALUE > FILE` does. */
static int cmd_set(const char *dir, const char *knob, const char *value)
{
	char path[PATH_MAX];
	size_t len = strlen(value);
	char *buf = NULL;
	int fd, err = 0;
	ssize_t n;

	if (len + 1 >= MS_KNOBS_WRITE_MAX) {
		fprintf(stderr, "migshaperctl: set %s: the value is too long\n", knob);
		return EXIT_USAGE;
	}
	if (join_path(path, sizeof(path), dir, knob)) {
		fprintf(stderr, "migshaperctl: set %s: %s\n", knob, strerror(ENAMETOOLONG));
		return EXIT_FAIL;
	}
	buf = malloc(len + 2);
	if (!buf)
		return EXIT_FAIL;
	memcpy(buf, value, len);
	buf[len] = '\n';
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		goto out;
	}
	n = write(fd, buf, len + 1);
	if (n < 0)
		err = errno;
	else if ((size_t)n != len + 1)
		err = EIO;
	if (close(fd) < 0 && !err)
		err = errno;
out:
	free(buf);
	if (!err)
		return EXIT_OK;
	if (denied(err))
		return say_denied(dir, knob);
	if (err == ENOENT)
		fprintf(stderr, "migshaperctl: set %s: no such knob\n", knob);
	else if (err == EINVAL || err == ERANGE || err == EFBIG)
		fprintf(stderr,
			"migshaperctl: set %s '%s': %s (migshaperd's log says what is allowed)\n",
			knob, value, strerror(err));
	else
		fprintf(stderr, "migshaperctl: set %s '%s': %s\n", knob, value, strerror(err));
	return EXIT_FAIL;
}

/* ---- status ------------------------------------------------------------ */

static int cmp_mig(const void *a, const void *b)
{
	return strcmp(((const struct row *)a)->name, ((const struct row *)b)->name);
}

static int cmp_class(const void *a, const void *b)
{
	__u32 x = ((const struct row *)a)->minor, y = ((const struct row *)b)->minor;

	return x < y ? -1 : x > y;
}

/*
 * Reads the rows under dir/sub. A row that vanishes while it is read (a
 * migration ending) is left out; any other error fails.
 */
static int read_rows(const char *dir, const char *sub, const char *const *fields, size_t n_fields,
		     struct row *rows, size_t *n_rows)
{
	char path[PATH_MAX], rel[PATH_MAX];
	struct dirent *de;
	int ret = 0;
	DIR *d;

	*n_rows = 0;
	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d)) && *n_rows < MAX_ROWS) {
		struct row *r = &rows[*n_rows];
		bool gone = false;

		if (de->d_name[0] == '.')
			continue;
		memset(r, 0, sizeof(*r));
		snprintf(r->name, sizeof(r->name), "%s", de->d_name);
		if (ms_class_parse(r->name, &r->minor))
			r->minor = UINT32_MAX;
		for (size_t i = 0; i < n_fields && !gone; i++) {
			snprintf(rel, sizeof(rel), "%s/%s/%s", sub, de->d_name, fields[i]);
			ret = read_field(dir, rel, r->field[i], sizeof(r->field[i]));
			if (ret == -ENOENT) {
				gone = true;
				ret = 0;
			} else if (ret) {
				goto out;
			}
		}
		if (!gone)
			(*n_rows)++;
	}
out:
	closedir(d);
	return ret;
}

static int read_status(const char *dir, struct status *st)
{
	const char *mig_names[N_MIG_FIELDS];
	int ret;

	/* The rates in force: a knob may read "auto", effective/ has the number. */
	for (size_t i = 0; i < N_SUMMARY; i++) {
		char rel[NAME_MAX + 16];

		snprintf(rel, sizeof(rel), "effective/%s", summary_key(i));
		ret = read_field(dir, rel, st->summary[i], sizeof(st->summary[i]));
		if (ret)
			return ret;
	}
	for (size_t i = 0; i < N_MIG_FIELDS; i++)
		mig_names[i] = ms_mig_fields[mig_fields[i]].name;
	ret = read_rows(dir, "migrations", mig_names, N_MIG_FIELDS, st->migs, &st->n_migs);
	if (!ret)
		ret = read_rows(dir, "stats", class_fields, N_CLASS_FIELDS, st->classes,
				&st->n_classes);
	if (ret)
		return ret;
	qsort(st->migs, st->n_migs, sizeof(st->migs[0]), cmp_mig);
	qsort(st->classes, st->n_classes, sizeof(st->classes[0]), cmp_class);
	return 0;
}

static bool is_number(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* "1.5 GiB" for byte counts; "-" for what libvirt did not report. */
static void human_bytes(const char *text, const char *suffix, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v;
	size_t u = 0;

	if (!is_number(text)) {
		snprintf(buf, len, "-");
		return;
	}
	v = strtod(text, NULL);
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f %s%s", v, units[u], suffix);
	else
		snprintf(buf, len, "%.1f %s%s", v, units[u], suffix);
}

/* An escaped copy of each field of r, for printing. */
static void escape_row(const struct row *r, size_t n_fields, char name[NAME_MAX + 1],
		       char fields[][FIELD_MAX])
{
	escape(r->name, name, NAME_MAX + 1);
	for (size_t i = 0; i < n_fields; i++)
		escape(r->field[i], fields[i], FIELD_MAX);
}

/*
 * The migrations found stalled, one line each: when (local time), how
 * often, and what escalation = advise would have done. Fields 10-12 are
 * advised_action, stall_event, stall_events.
 */
static void print_stall_events(const struct status *st)
{
	char name[NAME_MAX + 1], f[N_MIG_FIELDS][FIELD_MAX];
	bool header = false;

	for (size_t i = 0; i < st->n_migs; i++) {
		char when[32] = "?";
		struct tm tm;
		time_t at;

		escape_row(&st->migs[i], N_MIG_FIELDS, name, f);
		if (!is_number(f[11]))
			continue;
		at = (time_t)strtoll(f[11], NULL, 10);
		if (localtime_r(&at, &tm))
			strftime(when, sizeof(when), "%F %T", &tm);
		if (!header)
			printf("\nSTALL EVENTS\n");
		header = true;
		printf("%s: stalled at %s (%s time%s); advised: %s\n", name, when,
		       is_number(f[12]) ? f[12] : "?", strcmp(f[12], "1") ? "s" : "", f[10]);
	}
}

static void print_table(const char *iface, const struct status *st)
{
	const char *const rates[] = {"link_mbps", "mgmt_reserve_mbps", "migration_aggregate_mbps",
				     "migration_min_mbps", "migration_max_mbps"};
	char summary[5][FIELD_MAX];
	char name[NAME_MAX + 1], f[N_MIG_FIELDS][FIELD_MAX];
	int w = 6;

	for (size_t i = 0; i < 5; i++)
		escape(summary_of(st, rates[i]), summary[i], FIELD_MAX);
	printf("%s: link %s Mbit/s, management reserve %s, migration aggregate %s, "
	       "per migration %s-%s Mbit/s\n\n",
	       iface, summary[0], summary[1], summary[2], summary[3], summary[4]);
	for (size_t i = 0; i < st->n_migs; i++) {
		escape(st->migs[i].name, name, sizeof(name));
		if ((int)strlen(name) > w)
			w = (int)strlen(name);
	}
	if (w > 40)
		w = 40;
	printf("%-*s %-9s %-6s %12s %12s %12s %14s %5s %-9s %-8s %s\n", w, "DOMAIN", "DIRECTION",
	       "CLASS", "RATE", "SPEED", "REMAINING", "DIRTY RATE", "ITER", "STATE", "THROTTLE",
	       "MANAGER HOLDS");
	if (!st->n_migs)
		printf("(no migrations)\n");
	for (size_t i = 0; i < st->n_migs; i++) {
		char rate[32], speed[32], remaining[32], dirty[32];

		escape_row(&st->migs[i], N_MIG_FIELDS, name, f);
		/* Incoming migrations hold no class here: nothing is allocated. */
		if (strcmp(f[1], "none") == 0) {
			snprintf(rate, sizeof(rate), "-");
			snprintf(speed, sizeof(speed), "-");
		} else {
			snprintf(rate, sizeof(rate), "%.20s Mbit/s", f[2]);
			snprintf(speed, sizeof(speed), "%.20s MiB/s", f[3]);
		}
		human_bytes(f[4], "", remaining, sizeof(remaining));
		human_bytes(f[5], "/s", dirty, sizeof(dirty));
		printf("%-*.*s %-9s %-6s %12s %12s %12s %14s %5s %-9s %-8s %s\n", w, w, name, f[0],
		       f[1], rate, speed, remaining, dirty, is_number(f[6]) ? f[6] : "-", f[7],
		       is_number(f[8]) ? f[8] : "-", f[9]);
	}
	print_stall_events(st);
	printf("\n%-14s %20s %16s %12s\n", "CLASS", "BYTES", "PACKETS", "DROPS");
	for (size_t i = 0; i < st->n_classes; i++) {
		escape_row(&st->classes[i], N_CLASS_FIELDS, name, f);
		printf("%-14s %20s %16s %12s\n", name, f[0], f[1], f[2]);
	}
}

/* A JSON string: quotes, backslashes and control characters escaped, bad UTF-8 replaced. */
static void json_string(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	putchar('"');
	while (*p) {
		unsigned char c = *p;
		size_t n = c < 0x80		? 1
			   : (c & 0xe0) == 0xc0 ? 2
			   : (c & 0xf0) == 0xe0 ? 3
			   : (c & 0xf8) == 0xf0 ? 4
						: 0;
		bool valid = n > 0;

		for (size_t i = 1; i < n && valid; i++)
			valid = (p[i] & 0xc0) == 0x80;
		if (!valid) {
			fputs("\\ufffd", stdout);
			p++;
			continue;
		}
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c < 0x20 || c == 0x7f)
			printf("\\u%04x", c);
		else
			fwrite(p, 1, n, stdout);
		p += n;
	}
	putchar('"');
}

/* Counters and rates as numbers; "unknown" (not reported by libvirt) as null. */
static void json_value(const char *s)
{
	if (is_number(s) && strlen(s) <= 20)
		fputs(s, stdout);
	else if (strcmp(s, "unknown") == 0)
		fputs("null", stdout);
	else
		json_string(s);
}

static void print_json(const char *iface, const struct status *st)
{
	fputs("{\"iface\":", stdout);
	json_string(iface);
	fputs(",\"settings\":{", stdout);
	for (size_t i = 0; i < N_SUMMARY; i++) {
		printf("%s\"%s\":", i ? "," : "", summary_key(i));
		json_value(st->summary[i]);
	}
	fputs("},\"migrations\":[", stdout);
	for (size_t i = 0; i < st->n_migs; i++) {
		printf("%s{\"domain\":", i ? "," : "");
		json_string(st->migs[i].name);
		for (size_t f = 0; f < N_MIG_FIELDS; f++) {
			printf(",\"%s\":", ms_mig_fields[mig_fields[f]].name);
			json_value(st->migs[i].field[f]);
		}
		putchar('}');
	}
	fputs("],\"classes\":[", stdout);
	for (size_t i = 0; i < st->n_classes; i++) {
		printf("%s{\"class\":", i ? "," : "");
		json_string(st->classes[i].name);
		for (size_t f = 0; f < N_CLASS_FIELDS; f++) {
			printf(",\"%s\":", class_fields[f]);
			json_value(st->classes[i].field[f]);
		}
		putchar('}');
	}
	fputs("]}\n", stdout);
}

static int show_status(const char *dir, bool json)
{
	struct status *st = calloc(1, sizeof(*st));
	const char *iface = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
	int ret;

	if (!st)
		return EXIT_FAIL;
	ret = read_status(dir, st);
	if (ret) {
		fprintf(stderr, "migshaperctl: cannot read the agent's state under %s: %s\n", dir,
			strerror(-ret));
		free(st);
		return EXIT_FAIL;
	}
	if (json)
		print_json(iface, st);
	else
		print_table(iface, st);
	free(st);
	return EXIT_OK;
}

struct cmd_opts {
	bool json;
	double interval;
	long count;
};

static int parse_status_opts(int argc, char **argv, struct cmd_opts *o)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {},
	};
	int opt;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+j", opts, NULL)) != -1) {
		if (opt != 'j') {
			fail_usage("status: unknown option '%s'", argv[optind - 1]);
			return EXIT_USAGE;
		}
		o->json = true;
	}
	if (optind != argc) {
		fail_usage("status: unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static int parse_count(const char *s, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	return errno || *end || end == s || *out < 1 ? -EINVAL : 0;
}

static int parse_watch_opts(int argc, char **argv, struct cmd_opts *o)
{
	static const struct option opts[] = {
	    {"interval", required_argument, NULL, 'n'},
	    {"count", required_argument, NULL, 'c'},
	    {},
	};
	char *end;
	int opt;

	o->interval = 2.0;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+n:c:", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			errno = 0;
			o->interval = strtod(optarg, &end);
			if (errno || *end || end == optarg ||
			    !(o->interval >= 0.1 && o->interval <= 3600)) {
				fail_usage("watch: --interval '%s': allowed 0.1-3600 seconds",
					   optarg);
				return EXIT_USAGE;
			}
			break;
		case 'c':
			if (parse_count(optarg, &o->count)) {
				fail_usage("watch: --count '%s': a whole number of at least 1",
					   optarg);
				return EXIT_USAGE;
			}
			break;
		default:
			fail_usage("watch: unknown option or missing value in '%s'",
				   argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fail_usage("watch: unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static int cmd_watch(const char *dir, const struct cmd_opts *o)
{
	double interval = o->interval;
	long count = o->count;
	bool tty = isatty(STDOUT_FILENO);

	/* Runs until Ctrl-C, or count refreshes. */
	for (long i = 0; !count || i < count; i++) {
		struct timespec ts = {.tv_sec = (time_t)interval,
				      .tv_nsec =
					  (long)((interval - (double)(time_t)interval) * 1e9)};
		char when[64];
		time_t now = time(NULL);
		int ret;

		strftime(when, sizeof(when), "%F %T", localtime(&now));
		if (tty)
			fputs("\033[H\033[2J", stdout);
		else if (i)
			putchar('\n');
		printf("Every %.1fs: migshaperctl status    %s\n\n", interval, when);
		ret = show_status(dir, false);
		fflush(stdout);
		if (ret)
			return ret;
		if (count && i + 1 == count)
			break;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option long_opts[] = {
	    {"root", required_argument, NULL, 'r'},
	    {"iface", required_argument, NULL, 'i'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {},
	};
	const char *root = MS_KNOBS_DEFAULT_ROOT, *iface = NULL, *cmd;
	struct cmd_opts o = {};
	char dir[PATH_MAX];
	int opt, ret, n;

	while ((opt = getopt_long(argc, argv, "+hV", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			root = optarg;
			break;
		case 'i':
			iface = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("migshaperctl %s\n", MS_VERSION);
			return EXIT_OK;
		default:
			fprintf(stderr, "Try 'migshaperctl --help'.\n");
			return EXIT_USAGE;
		}
	}
	if (optind == argc) {
		fail_usage("%s", "a command is required");
		return EXIT_USAGE;
	}
	cmd = argv[optind];
	n = argc - optind;
	if (strcmp(cmd, "status") != 0 && strcmp(cmd, "watch") != 0 && strcmp(cmd, "get") != 0 &&
	    strcmp(cmd, "set") != 0) {
		fail_usage("unknown command '%s'", cmd);
		return EXIT_USAGE;
	}
	if ((strcmp(cmd, "get") == 0 && n != 2) || (strcmp(cmd, "set") == 0 && n != 3)) {
		fail_usage("%s: wrong number of arguments", cmd);
		return EXIT_USAGE;
	}
	/* Usage errors first: they do not depend on a running agent. */
	if (strcmp(cmd, "status") == 0)
		ret = parse_status_opts(n, argv + optind, &o);
	else if (strcmp(cmd, "watch") == 0)
		ret = parse_watch_opts(n, argv + optind, &o);
	else
		ret = knob_path_ok(argv[optind + 1]) ? EXIT_OK : EXIT_USAGE;
	if (ret == EXIT_USAGE && (strcmp(cmd, "get") == 0 || strcmp(cmd, "set") == 0))
		fail_usage("bad knob name '%s'", argv[optind + 1]);
	if (ret)
		return ret;
	ret = find_dir(root, iface, dir, sizeof(dir));
	if (ret)
		return ret;
	if (strcmp(cmd, "get") == 0)
		return cmd_get(dir, argv[optind + 1]);
	if (strcmp(cmd, "set") == 0)
		return cmd_set(dir, argv[optind + 1], argv[optind + 2]);
	if (strcmp(cmd, "status") == 0)
		return show_status(dir, o.json);
	return cmd_watch(dir, &o);
}
