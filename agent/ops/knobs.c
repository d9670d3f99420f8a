// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The knob tree over FUSE (libfuse3 low-level API), served from the agent's
 * epoll loop: the loop reports the FUSE device readable, on_fuse() reads and
 * answers the queued requests, and each handler runs to completion on the
 * loop's thread. Nothing here runs concurrently with the rest of the agent,
 * so neither the provider's state nor ours needs locking; concurrent writers
 * are serialised by the loop, one write request after another.
 *
 * Inode numbers are computed from what a node shows (a knob's index, a
 * migration's id, a class minor), never allocated, so lookups and forgets
 * need no bookkeeping and a vanished migration's inode simply stops
 * resolving (-ENOENT). Migration ids are unique for the agent's lifetime, so
 * an inode number is never reused for something else.
 */
#define FUSE_USE_VERSION 34

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <fuse_lowlevel.h>

#include "classes.h"
#include "config.h"
#include "policy.h"
#include "knobs.h"
#include "log.h"
#include "loop.h"
#include "migration.h"
#include "units.h"

/* Requests answered per wake-up, so a busy writer cannot starve the loop. */
#define MS_KNOBS_BATCH 32
/* How much of a rejected value the log shows. */
#define MS_KNOBS_LOG_VALUE 80
/* Like sysfs: the size of a generated file means nothing; readers read to EOF. */
#define MS_KNOBS_FILE_SIZE 4096

#define INO_MIGRATIONS 2ULL
#define INO_STATS      3ULL
#define INO_EFFECTIVE  4ULL
#define INO_KNOB_BASE  16ULL
/* effective/<knob>: the knob's index above this. */
#define INO_EFFECTIVE_BASE (INO_KNOB_BASE + 256ULL)
/* Dynamic nodes: kind << 40 | (migration id or class minor) << 4 | field + 1 (0: dir). */
#define INO_KIND_SHIFT 40
#define INO_KIND_MIG   1ULL
#define INO_KIND_CLASS 2ULL
#define INO_FIELD_BITS 4

/* ---- knobs: the live keys of the configuration table (config.h) ------ */

#define N_KNOBS MS_CONFIG_N_KEYS

static const struct ms_config_key *knob_key(size_t i)
{
	return ms_config_keys[i].knob ? &ms_config_keys[i] : NULL;
}

/* ---- read-only files of a migration and of a class ---------------------- */

static void show_mig_class(const struct ms_migration *m, FILE *out)
{
	char name[32];

	/* Incoming migrations are not shaped here and hold no class. */
	if (!m->minor || ms_class_name(m->minor, name, sizeof(name)))
		snprintf(name, sizeof(name), "none");
	fputs(name, out);
}

static void show_mig_rate(const struct ms_migration *m, FILE *out)
{
	fprintf(out, "%llu", (unsigned long long)ms_bps_to_mbps(m->class_rate_bps));
}

static void show_mig_speed(const struct ms_migration *m, FILE *out)
{
	fprintf(out, "%u", m->libvirt_speed_mibs);
}

/* libvirt omits what QEMU does not report; a missing field must not read as 0. */
static void show_job_u64(FILE *out, bool have, __u64 v)
{
	if (have)
		fprintf(out, "%llu", (unsigned long long)v);
	else
		fputs("unknown", out);
}

static void show_mig_remaining(const struct ms_migration *m, FILE *out)
{
	show_job_u64(out, ms_job_has(&m->stats, MS_JOB_DATA_REMAINING),
		     m->stats.data_remaining_bytes);
}

static void show_mig_dirty(const struct ms_migration *m, FILE *out)
{
	show_job_u64(out, ms_job_has(&m->stats, MS_JOB_DIRTY_RATE | MS_JOB_PAGE_SIZE),
		     ms_job_dirty_bytes_per_s(&m->stats));
}

static void show_mig_iteration(const struct ms_migration *m, FILE *out)
{
	show_job_u64(out, ms_job_has(&m->stats, MS_JOB_ITERATION), m->stats.iteration);
}

static void show_mig_state(const struct ms_migration *m, FILE *out)
{
	fputs(ms_mig_state_name(m->state), out);
}

static void show_mig_dir(const struct ms_migration *m, FILE *out)
{
	fputs(ms_mig_dir_name(m->dir), out);
}

static void show_mig_action(const struct ms_migration *m, FILE *out)
{
	fputs(ms_policy_action_name(m->last_action), out);
}

static void show_mig_stalled(const struct ms_migration *m, FILE *out)
{
	fputs(m->stalled ? "1" : "0", out);
}

static void show_mig_throttle(const struct ms_migration *m, FILE *out)
{
	if (m->auto_converge)
		fprintf(out, "%u", m->auto_converge_throttle_pct);
	else
		fputs("off", out);
}

static void show_mig_manager(const struct ms_migration *m, FILE *out)
{
	const char *held[3];
	size_t n = 0;

	if (m->manager_speed_held)
		held[n++] = "speed";
	if (m->manager_downtime_held)
		held[n++] = "downtime";
	if (m->manager_escalated)
		held[n++] = "escalation";
	if (!n)
		fputs("none", out);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%s%s", i ? " " : "", held[i]);
}

static void show_mig_advised(const struct ms_migration *m, FILE *out)
{
	fputs(ms_policy_action_name(m->advised_action), out);
}

/* The latest stall event: its wall-clock time in seconds since the epoch, or "none". */
static void show_mig_stall_event(const struct ms_migration *m, FILE *out)
{
	if (m->stall_events)
		fprintf(out, "%lld", (long long)m->stall_at_unix_s);
	else
		fputs("none", out);
}

static void show_mig_stall_events(const struct ms_migration *m, FILE *out)
{
	fprintf(out, "%u", m->stall_events);
}

/* What each file of migrations/DOMAIN/ shows; migration.h's table names them. */
static void (*const mig_show[])(const struct ms_migration *m, FILE *out) = {
    [MS_MIG_FIELD_CLASS] = show_mig_class,
    [MS_MIG_FIELD_RATE] = show_mig_rate,
    [MS_MIG_FIELD_SPEED] = show_mig_speed,
    [MS_MIG_FIELD_REMAINING] = show_mig_remaining,
    [MS_MIG_FIELD_DIRTY_RATE] = show_mig_dirty,
    [MS_MIG_FIELD_ITERATION] = show_mig_iteration,
    [MS_MIG_FIELD_STATE] = show_mig_state,
    [MS_MIG_FIELD_DIRECTION] = show_mig_dir,
    [MS_MIG_FIELD_ACTION] = show_mig_action,
    [MS_MIG_FIELD_STALLED] = show_mig_stalled,
    [MS_MIG_FIELD_THROTTLE] = show_mig_throttle,
    [MS_MIG_FIELD_MANAGER_HELD] = show_mig_manager,
    [MS_MIG_FIELD_ADVISED_ACTION] = show_mig_advised,
    [MS_MIG_FIELD_STALL_EVENT] = show_mig_stall_event,
    [MS_MIG_FIELD_STALL_EVENTS] = show_mig_stall_events,
};

#define N_MIG_FIELDS MS_MIG_N_FIELDS
_Static_assert(sizeof(mig_show) / sizeof(mig_show[0]) == N_MIG_FIELDS,
	       "every migration field has a show function");

static const char *const class_fields[] = {"bytes", "packets", "drops"};

#define N_CLASS_FIELDS (sizeof(class_fields) / sizeof(class_fields[0]))

_Static_assert(N_MIG_FIELDS < (1U << INO_FIELD_BITS), "migration fields overflow the inode");
_Static_assert(N_CLASS_FIELDS < (1U << INO_FIELD_BITS), "class fields overflow the inode");
_Static_assert(N_KNOBS <= INO_EFFECTIVE_BASE - INO_KNOB_BASE, "too many knobs");

/* ---- state -------------------------------------------------------------- */

struct ms_knobs {
	struct ms_loop *loop;
	const struct ms_knobs_ops *ops;
	void *ctx;
	char ifname[IF_NAMESIZE];
	char path[PATH_MAX];
	struct fuse_session *se;
	struct fuse_buf buf;
	int fd;
	bool have_dir;
	bool mounted;
	bool in_loop;
	uid_t uid;
	gid_t gid;
	struct timespec started;
	__u64 accepted;
	__u64 rejected;
	/*
	 * Open files, so that stop frees them: the kernel sends RELEASE
	 * asynchronously after close(), and a session that stops first never
	 * gets it.
	 */
	struct knob_file *open_files;
	size_t n_open;
	/* Opens refused because MS_KNOBS_OPEN_MAX files were open. */
	__u64 open_refused;
};

enum node_type {
	NODE_ROOT,
	NODE_MIGRATIONS,
	NODE_STATS,
	NODE_KNOB,
	NODE_EFFECTIVE,
	NODE_EFFECTIVE_FILE,
	NODE_MIG_DIR,
	NODE_MIG_FILE,
	NODE_CLASS_DIR,
	NODE_CLASS_FILE,
};

struct node {
	enum node_type type;
	/* Knob index or field index. */
	unsigned int index;
	/* Class minor for NODE_CLASS_*. */
	__u32 minor;
	const struct ms_migration *mig;
};

/* An open file: its contents are rendered once at open, like sysfs. */
struct knob_file {
	struct node node;
	char *data;
	size_t len;
	/* What earlier writes through this open file carried, all applied. */
	char *written;
	size_t written_len;
	/*
	 * The settings before this open file's first write. A value written in
	 * several writes (echo -e "a\nb" writes line by line) is applied as it
	 * grows; if a later part is refused, these are put back, so a refused
	 * write changes nothing.
	 */
	struct ms_config *before;
	struct knob_file *prev, *next;
};

struct dir_entry {
	fuse_ino_t ino;
	mode_t type;
	char name[NAME_MAX + 1];
};

/* An open directory: a snapshot, so offsets stay meaningful while it changes. */
struct dir_snapshot {
	size_t n, cap;
	struct dir_entry *ents;
};

static fuse_ino_t mig_ino(__u32 id, unsigned int field)
{
	return (INO_KIND_MIG << INO_KIND_SHIFT) | ((fuse_ino_t)id << INO_FIELD_BITS) | field;
}

static fuse_ino_t class_ino(__u32 minor, unsigned int field)
{
	return (INO_KIND_CLASS << INO_KIND_SHIFT) | ((fuse_ino_t)minor << INO_FIELD_BITS) | field;
}

static const struct ms_migration_table *mig_table(const struct ms_knobs *k)
{
	return k->ops->migrations ? k->ops->migrations(k->ctx) : NULL;
}

/* A domain name is shown as is when it is a usable file name. */
static bool name_is_plain(const char *name)
{
	size_t len = strnlen(name, MS_DOMAIN_NAME_MAX);

	return len > 0 && len < MS_DOMAIN_NAME_MAX && len <= NAME_MAX - 12 &&
	       strcmp(name, ".") != 0 && strcmp(name, "..") != 0 && !strchr(name, '/');
}

static void mig_base_name(const struct ms_migration *m, char *buf, size_t len)
{
	const unsigned char *u = m->uuid;

	if (name_is_plain(m->name)) {
		snprintf(buf, len, "%s", m->name);
		return;
	}
	snprintf(buf, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
		 u[13], u[14], u[15]);
}

/*
 * The directory name of t->entries[i]: the domain name, or its UUID when the
 * name cannot be a file name. A domain both leaving and arriving (or twice in
 * the table) would show twice; later entries get "#<id>" appended.
 */
static void mig_dir_name(const struct ms_migration_table *t, size_t i, char *buf, size_t len)
{
	char other[NAME_MAX + 1];

	mig_base_name(&t->entries[i], buf, len);
	for (size_t j = 0; j < i; j++) {
		if (!t->entries[j].used)
			continue;
		mig_base_name(&t->entries[j], other, sizeof(other));
		if (strcmp(other, buf) == 0) {
			size_t used = strlen(buf);

			snprintf(buf + used, len - used, "#%u", t->entries[i].id);
			return;
		}
	}
}

static const struct ms_migration *mig_by_id(const struct ms_knobs *k, __u32 id)
{
	const struct ms_migration_table *t = mig_table(k);

	if (!t)
		return NULL;
	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++)
		if (t->entries[i].used && t->entries[i].id == id)
			return &t->entries[i];
	return NULL;
}

/* stats/ lists the fixed classes and those of migrations in the table. */
static bool class_listed(const struct ms_knobs *k, __u32 minor)
{
	const struct ms_migration_table *t;

	/* Every fixed class but the root, whose counters are the link's. */
	for (size_t i = 0; i < MS_N_FIXED_CLASSES; i++)
		if (ms_fixed_classes()[i].minor == minor && minor != MS_MINOR_LINK)
			return true;
	if (!ms_minor_is_migration(minor))
		return false;
	t = mig_table(k);
	if (!t)
		return false;
	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++)
		if (t->entries[i].used && t->entries[i].minor == minor)
			return true;
	return false;
}

static int class_counters(const struct ms_knobs *k, __u32 minor, __u64 v[N_CLASS_FIELDS])
{
	if (!k->ops->class_stats || !class_listed(k, minor))
		return -ENOENT;
	return k->ops->class_stats(k->ctx, minor, &v[0], &v[1], &v[2]);
}

static bool class_exists(const struct ms_knobs *k, __u32 minor)
{
	__u64 v[N_CLASS_FIELDS];

	return class_counters(k, minor, v) == 0;
}

static int node_get(const struct ms_knobs *k, fuse_ino_t ino, struct node *n)
{
	fuse_ino_t kind = ino >> INO_KIND_SHIFT;
	unsigned int field = (unsigned int)(ino & ((1U << INO_FIELD_BITS) - 1));
	fuse_ino_t key = (ino & ((1ULL << INO_KIND_SHIFT) - 1)) >> INO_FIELD_BITS;

	memset(n, 0, sizeof(*n));
	if (ino == FUSE_ROOT_ID) {
		n->type = NODE_ROOT;
	} else if (ino == INO_MIGRATIONS) {
		n->type = NODE_MIGRATIONS;
	} else if (ino == INO_STATS) {
		n->type = NODE_STATS;
	} else if (ino == INO_EFFECTIVE) {
		n->type = NODE_EFFECTIVE;
	} else if (ino >= INO_KNOB_BASE && ino < INO_KNOB_BASE + N_KNOBS &&
		   knob_key(ino - INO_KNOB_BASE)) {
		n->type = NODE_KNOB;
		n->index = (unsigned int)(ino - INO_KNOB_BASE);
	} else if (ino >= INO_EFFECTIVE_BASE && ino < INO_EFFECTIVE_BASE + N_KNOBS &&
		   knob_key(ino - INO_EFFECTIVE_BASE)) {
		n->type = NODE_EFFECTIVE_FILE;
		n->index = (unsigned int)(ino - INO_EFFECTIVE_BASE);
	} else if (kind == INO_KIND_MIG && key <= UINT32_MAX && field <= N_MIG_FIELDS) {
		n->mig = mig_by_id(k, (__u32)key);
		if (!n->mig)
			return -ENOENT;
		n->type = field ? NODE_MIG_FILE : NODE_MIG_DIR;
		n->index = field ? field - 1 : 0;
	} else if (kind == INO_KIND_CLASS && key < MS_CLASS_SLOTS && field <= N_CLASS_FIELDS) {
		n->minor = (__u32)key;
		if (!class_exists(k, n->minor))
			return -ENOENT;
		n->type = field ? NODE_CLASS_FILE : NODE_CLASS_DIR;
		n->index = field ? field - 1 : 0;
	} else {
		return -ENOENT;
	}
	return 0;
}

static bool node_is_dir(const struct node *n)
{
	return n->type == NODE_ROOT || n->type == NODE_MIGRATIONS || n->type == NODE_STATS ||
	       n->type == NODE_EFFECTIVE || n->type == NODE_MIG_DIR || n->type == NODE_CLASS_DIR;
}

/* Root only: knobs 0600, everything generated 0400, directories 0500. */
static mode_t node_mode(const struct node *n)
{
	if (node_is_dir(n))
		return S_IFDIR | 0500;
	return n->type == NODE_KNOB ? S_IFREG | 0600 : S_IFREG | 0400;
}

static void node_stat(const struct ms_knobs *k, fuse_ino_t ino, const struct node *n,
		      struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = node_mode(n);
	st->st_nlink = node_is_dir(n) ? 2 : 1;
	st->st_uid = k->uid;
	st->st_gid = k->gid;
	st->st_size = node_is_dir(n) ? 0 : MS_KNOBS_FILE_SIZE;
	st->st_blksize = MS_KNOBS_FILE_SIZE;
	st->st_atim = k->started;
	st->st_mtim = k->started;
	st->st_ctim = k->started;
}

static int knob_lookup(const char *name, fuse_ino_t base, fuse_ino_t *ino)
{
	for (size_t i = 0; i < N_KNOBS; i++) {
		if (knob_key(i) && strcmp(name, knob_key(i)->name) == 0) {
			*ino = base + i;
			return 0;
		}
	}
	return -ENOENT;
}

/* Child `name` of directory `parent`: its inode, or -ENOENT/-ENOTDIR. */
static int node_lookup(const struct ms_knobs *k, fuse_ino_t parent, const char *name,
		       fuse_ino_t *ino)
{
	const struct ms_migration_table *t;
	char buf[NAME_MAX + 1];
	struct node p;
	__u32 minor;
	int ret;

	ret = node_get(k, parent, &p);
	if (ret)
		return ret;
	switch (p.type) {
	case NODE_ROOT:
		if (strcmp(name, "migrations") == 0) {
			*ino = INO_MIGRATIONS;
			return 0;
		}
		if (strcmp(name, "stats") == 0) {
			*ino = INO_STATS;
			return 0;
		}
		if (strcmp(name, "effective") == 0) {
			*ino = INO_EFFECTIVE;
			return 0;
		}
		return knob_lookup(name, INO_KNOB_BASE, ino);
	case NODE_EFFECTIVE:
		return knob_lookup(name, INO_EFFECTIVE_BASE, ino);
	case NODE_MIGRATIONS:
		t = mig_table(k);
		for (size_t i = 0; t && i < MS_MAX_MIGRATIONS; i++) {
			if (!t->entries[i].used)
				continue;
			mig_dir_name(t, i, buf, sizeof(buf));
			if (strcmp(buf, name) == 0) {
				*ino = mig_ino(t->entries[i].id, 0);
				return 0;
			}
		}
		return -ENOENT;
	case NODE_MIG_DIR:
		for (size_t i = 0; i < N_MIG_FIELDS; i++) {
			if (strcmp(name, ms_mig_fields[i].name) == 0) {
				*ino = mig_ino(p.mig->id, (unsigned int)i + 1);
				return 0;
			}
		}
		return -ENOENT;
	case NODE_STATS:
		/* Only the canonical spelling: "mig:07" must not alias "mig:7". */
		if (ms_class_parse(name, &minor) || ms_class_name(minor, buf, sizeof(buf)) ||
		    strcmp(buf, name) != 0 || !class_exists(k, minor))
			return -ENOENT;
		*ino = class_ino(minor, 0);
		return 0;
	case NODE_CLASS_DIR:
		for (size_t i = 0; i < N_CLASS_FIELDS; i++) {
			if (strcmp(name, class_fields[i]) == 0) {
				*ino = class_ino(p.minor, (unsigned int)i + 1);
				return 0;
			}
		}
		return -ENOENT;
	default:
		return -ENOTDIR;
	}
}

/* ---- rendering ---------------------------------------------------------- */

static int render(const struct ms_knobs *k, const struct node *n, char **data, size_t *len)
{
	__u64 v[N_CLASS_FIELDS];
	FILE *out;
	int ret = 0;

	if (n->type == NODE_CLASS_FILE) {
		ret = class_counters(k, n->minor, v);
		if (ret)
			return ret;
	}
	out = open_memstream(data, len);
	if (!out)
		return -ENOMEM;
	switch (n->type) {
	case NODE_KNOB:
		ms_config_key_show(knob_key(n->index), k->ops->config(k->ctx), out);
		break;
	case NODE_EFFECTIVE_FILE:
		ms_config_key_show(knob_key(n->index), k->ops->effective(k->ctx), out);
		break;
	case NODE_MIG_FILE:
		mig_show[n->index](n->mig, out);
		break;
	case NODE_CLASS_FILE:
		fprintf(out, "%llu", (unsigned long long)v[n->index]);
		break;
	default:
		ret = -EISDIR;
		break;
	}
	fputc('\n', out);
	if (fclose(out) && !ret)
		ret = -ENOMEM;
	if (ret) {
		free(*data);
		*data = NULL;
	}
	return ret;
}

static int dir_add(struct dir_snapshot *d, const char *name, fuse_ino_t ino, mode_t type)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 32;
		struct dir_entry *ents = realloc(d->ents, cap * sizeof(*ents));

		if (!ents)
			return -ENOMEM;
		d->ents = ents;
		d->cap = cap;
	}
	d->ents[d->n].ino = ino;
	d->ents[d->n].type = type;
	snprintf(d->ents[d->n].name, sizeof(d->ents[d->n].name), "%s", name);
	d->n++;
	return 0;
}

static int dir_fill(const struct ms_knobs *k, fuse_ino_t ino, const struct node *n,
		    struct dir_snapshot *d)
{
	const struct ms_migration_table *t;
	char name[NAME_MAX + 1];
	int ret;

	ret = dir_add(d, ".", ino, S_IFDIR);
	if (!ret)
		ret = dir_add(d, "..",
			      n->type == NODE_MIG_DIR	  ? INO_MIGRATIONS
			      : n->type == NODE_CLASS_DIR ? INO_STATS
							  : FUSE_ROOT_ID,
			      S_IFDIR);
	if (ret)
		return ret;
	switch (n->type) {
	case NODE_ROOT:
		for (size_t i = 0; i < N_KNOBS && !ret; i++)
			if (knob_key(i))
				ret = dir_add(d, knob_key(i)->name, INO_KNOB_BASE + i, S_IFREG);
		if (!ret)
			ret = dir_add(d, "migrations", INO_MIGRATIONS, S_IFDIR);
		if (!ret)
			ret = dir_add(d, "stats", INO_STATS, S_IFDIR);
		if (!ret)
			ret = dir_add(d, "effective", INO_EFFECTIVE, S_IFDIR);
		break;
	case NODE_EFFECTIVE:
		for (size_t i = 0; i < N_KNOBS && !ret; i++)
			if (knob_key(i))
				ret =
				    dir_add(d, knob_key(i)->name, INO_EFFECTIVE_BASE + i, S_IFREG);
		break;
	case NODE_MIGRATIONS:
		t = mig_table(k);
		for (size_t i = 0; t && i < MS_MAX_MIGRATIONS && !ret; i++) {
			if (!t->entries[i].used)
				continue;
			mig_dir_name(t, i, name, sizeof(name));
			ret = dir_add(d, name, mig_ino(t->entries[i].id, 0), S_IFDIR);
		}
		break;
	case NODE_MIG_DIR:
		for (size_t i = 0; i < N_MIG_FIELDS && !ret; i++)
			ret = dir_add(d, ms_mig_fields[i].name,
				      mig_ino(n->mig->id, (unsigned int)i + 1), S_IFREG);
		break;
	case NODE_STATS:
		for (__u32 minor = 0; minor < MS_CLASS_SLOTS && !ret; minor++) {
			if (!class_exists(k, minor) || ms_class_name(minor, name, sizeof(name)))
				continue;
			ret = dir_add(d, name, class_ino(minor, 0), S_IFDIR);
		}
		break;
	case NODE_CLASS_DIR:
		for (size_t i = 0; i < N_CLASS_FIELDS && !ret; i++)
			ret = dir_add(d, class_fields[i], class_ino(n->minor, (unsigned int)i + 1),
				      S_IFREG);
		break;
	default:
		ret = -ENOTDIR;
		break;
	}
	return ret;
}

/* ---- writing a knob ----------------------------------------------------- */

/* A value fit for one log line: bounded, control characters replaced. */
static void loggable(const char *value, char *buf, size_t len)
{
	size_t i, n = strlen(value);

	/* The newline echo adds is not part of the value. */
	if (n && value[n - 1] == '\n')
		n--;
	for (i = 0; i < n && i + 4 < len && i < MS_KNOBS_LOG_VALUE; i++) {
		unsigned char c = (unsigned char)value[i];

		buf[i] = c == '\n' ? ' ' : (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	if (i < n && i + 4 <= len) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
}

static int knob_check_and_apply(struct ms_knobs *k, const struct ms_config_key *kn, char *value,
				size_t size, char *err, size_t err_len)
{
	struct ms_config *next = NULL;
	__u32 link_speed;
	int ret;

	if (memchr(value, '\0', size)) {
		snprintf(err, err_len, "%s: the value contains a NUL byte", kn->name);
		return -EINVAL;
	}
	/* `echo` adds one newline; anything else is part of the value. */
	if (size && value[size - 1] == '\n')
		value[--size] = '\0';
	if (!size && !ms_config_key_is_list(kn)) {
		snprintf(err, err_len, "%s: empty value", kn->name);
		return -EINVAL;
	}
	/* next[0]: the requested settings with the new value; next[1]: what they resolve to. */
	next = malloc(2 * sizeof(*next));
	if (!next)
		return -ENOMEM;
	next[0] = *k->ops->config(k->ctx);
	ret = ms_config_set(&next[0], kn->name, value, err, err_len);
	if (ret == -ENOENT) /* a knob without a config key: a bug in the table */
		ret = -EINVAL;
	if (ret)
		goto out;
	/* Cross-key checks on a copy, before anything running is touched. */
	link_speed = k->ops->link_speed_mbps ? k->ops->link_speed_mbps(k->ctx) : 0;
	next[1] = next[0];
	ret = ms_config_resolve(&next[1], link_speed, err, err_len);
	if (ret)
		goto out;
	err[0] = '\0';
	ret = k->ops->apply(k->ctx, &next[0], err, err_len);
	/* Whatever apply returns, the writer must get a valid errno. */
	if (ret > 0 || ret < -4095)
		ret = -EIO;
out:
	free(next);
	return ret;
}

/*
 * A value normally comes in one write at offset 0, as `echo` sends it. Writes
 * that continue at the end of what this open file already carried extend the
 * value, and the whole of it is applied again: bash's echo writes a value
 * with embedded newlines line by line, and the list must end up complete.
 */
/* A continuation was refused: put back what was in force before the first part. */
static void restore_before(struct ms_knobs *k, const struct ms_config_key *kn, struct knob_file *f)
{
	char err[MS_CONFIG_ERR_LEN] = "";

	if (k->ops->apply(k->ctx, f->before, err, sizeof(err)))
		ms_err("knob %s/%s: cannot restore the value from before this write: %s", k->ifname,
		       kn->name, err);
	free(f->written);
	f->written = NULL;
	f->written_len = 0;
}

static int knob_write(struct ms_knobs *k, struct knob_file *f, const char *buf, size_t size,
		      off_t off)
{
	const struct ms_config_key *kn = knob_key(f->node.index);
	char err[MS_CONFIG_ERR_LEN] = "";
	char shown[MS_KNOBS_LOG_VALUE + 8] = "";
	size_t total = f->written_len + size;
	char *value = NULL;
	int ret;

	value = malloc(total < MS_KNOBS_WRITE_MAX ? total + 1 : 1);
	if (!value) {
		ret = -ENOMEM;
		goto out;
	}
	value[0] = '\0';
	if (total >= MS_KNOBS_WRITE_MAX) {
		snprintf(err, sizeof(err), "%s: a value must be shorter than %u bytes", kn->name,
			 MS_KNOBS_WRITE_MAX);
		ret = -EFBIG;
		goto out;
	}
	if (f->written_len)
		memcpy(value, f->written, f->written_len);
	memcpy(value + f->written_len, buf, size);
	value[total] = '\0';
	loggable(value, shown, sizeof(shown));
	if (off < 0 || (size_t)off != f->written_len) {
		snprintf(err, sizeof(err),
			 "%s: write the value in one write from the start of the file", kn->name);
		ret = -EINVAL;
		goto out;
	}
	if (!f->before) {
		f->before = malloc(sizeof(*f->before));
		if (!f->before) {
			ret = -ENOMEM;
			goto out;
		}
		*f->before = *k->ops->config(k->ctx);
	}
	ret = knob_check_and_apply(k, kn, value, total, err, sizeof(err));
	if (ret) {
		if (f->written_len)
			restore_before(k, kn, f);
		goto out;
	}
	/* value lost its final newline; keep what was written, not what was applied. */
	memcpy(value + f->written_len, buf, size);
	free(f->written);
	f->written = value;
	f->written_len = total;
	value = NULL;
out:
	if (ret) {
		k->rejected++;
		ms_warn("knob %s/%s: rejected '%s': %s", k->ifname, kn->name, shown,
			err[0] ? err : strerror(-ret));
	} else {
		k->accepted++;
		ms_info("knob %s/%s set to '%s'", k->ifname, kn->name, shown);
	}
	free(value);
	return ret;
}

/* ---- FUSE requests ------------------------------------------------------ */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* Requests are small and answered from memory: plain reads and writes. */
	conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
	/* Never cache writes: each one must reach knob_write() and its answer the writer. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

static void reply_entry(fuse_req_t req, const struct ms_knobs *k, fuse_ino_t ino)
{
	struct fuse_entry_param e = {.ino = ino};
	struct node n;
	int ret = node_get(k, ino, &n);

	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	node_stat(k, ino, &n, &e.attr);
	/* No caching: migrations come and go, and values change under readers. */
	e.attr_timeout = 0;
	e.entry_timeout = 0;
	fuse_reply_entry(req, &e);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ms_knobs *k = fuse_req_userdata(req);
	fuse_ino_t ino = 0;
	int ret = node_lookup(k, parent, name, &ino);

	if (ret)
		fuse_reply_err(req, -ret);
	else
		reply_entry(req, k, ino);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ms_knobs *k = fuse_req_userdata(req);
	struct stat st;
	struct node n;
	int ret = node_get(k, ino, &n);

	(void)fi;
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	node_stat(k, ino, &n, &st);
	fuse_reply_attr(req, &st, 0);
}

/*
 * open(O_TRUNC) arrives as a size change before the write: accept it on a
 * knob (the value comes with the write) and refuse everything else.
 */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct ms_knobs *k = fuse_req_userdata(req);
	struct stat st;
	struct node n;
	int ret = node_get(k, ino, &n);

	(void)attr;
	(void)fi;
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if ((to_set & FUSE_SET_ATTR_SIZE) && n.type != NODE_KNOB) {
		fuse_reply_err(req, node_is_dir(&n) ? EISDIR : EACCES);
		return;
	}
	node_stat(k, ino, &n, &st);
	fuse_reply_attr(req, &st, 0);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ms_knobs *k = fuse_req_userdata(req);
	int acc = fi->flags & O_ACCMODE;
	struct knob_file *f = NULL;
	int ret;

	/* Each open file holds a rendered value: bound them, whoever opens. */
	if (k->n_open >= MS_KNOBS_OPEN_MAX) {
		if (!k->open_refused++)
			ms_warn("knobs of %s: %u files open; refusing more (ENFILE)", k->ifname,
				MS_KNOBS_OPEN_MAX);
		ret = -ENFILE;
		goto fail;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = node_get(k, ino, &f->node);
	if (ret)
		goto fail;
	if (node_is_dir(&f->node)) {
		ret = -EISDIR;
		goto fail;
	}
	/* The mode says 0400, but root passes permission checks: refuse here. */
	if (f->node.type != NODE_KNOB && acc != O_RDONLY) {
		ret = -EACCES;
		goto fail;
	}
	if (acc != O_WRONLY) {
		ret = render(k, &f->node, &f->data, &f->len);
		if (ret)
			goto fail;
	}
	/* Every read and write must reach us: no page cache in between. */
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fi->fh = (uint64_t)(uintptr_t)f;
	if (fuse_reply_open(req, fi) == -ENOENT) /* the opener was interrupted */
		goto release;
	f->next = k->open_files;
	if (f->next)
		f->next->prev = f;
	k->open_files = f;
	k->n_open++;
	return;
fail:
	fuse_reply_err(req, -ret);
release:
	if (f)
		free(f->data);
	free(f);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct knob_file *f = (struct knob_file *)(uintptr_t)fi->fh;

	(void)ino;
	if (!f->data) {
		fuse_reply_err(req, EBADF);
		return;
	}
	if (off < 0 || (size_t)off >= f->len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > f->len - (size_t)off)
		size = f->len - (size_t)off;
	fuse_reply_buf(req, f->data + off, size);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct ms_knobs *k = fuse_req_userdata(req);
	struct knob_file *f = (struct knob_file *)(uintptr_t)fi->fh;
	int ret;

	(void)ino;
	if (f->node.type != NODE_KNOB) {
		fuse_reply_err(req, EBADF);
		return;
	}
	ret = knob_write(k, f, buf, size, off);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_write(req, size);
}

static void knob_file_free(struct ms_knobs *k, struct knob_file *f)
{
	if (f->prev)
		f->prev->next = f->next;
	else
		k->open_files = f->next;
	if (f->next)
		f->next->prev = f->prev;
	k->n_open--;
	free(f->data);
	free(f->written);
	free(f->before);
	free(f);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	knob_file_free(fuse_req_userdata(req), (struct knob_file *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void dir_free(struct dir_snapshot *d)
{
	if (!d)
		return;
	free(d->ents);
	free(d);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ms_knobs *k = fuse_req_userdata(req);
	struct dir_snapshot *d = NULL;
	struct node n;
	int ret;

	ret = node_get(k, ino, &n);
	if (ret)
		goto fail;
	if (!node_is_dir(&n)) {
		ret = -ENOTDIR;
		goto fail;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = dir_fill(k, ino, &n, d);
	if (ret)
		goto fail;
	fi->fh = (uint64_t)(uintptr_t)d;
	if (fuse_reply_open(req, fi) == -ENOENT)
		dir_free(d);
	return;
fail:
	dir_free(d);
	fuse_reply_err(req, -ret);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct dir_snapshot *d = (struct dir_snapshot *)(uintptr_t)fi->fh;
	char *buf = malloc(size ? size : 1);
	size_t used = 0;

	(void)ino;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* The offset of an entry is its index + 1, so 0 means "from the start". */
	for (size_t i = off > 0 ? (size_t)off : 0; i < d->n; i++) {
		struct stat st = {.st_ino = d->ents[i].ino, .st_mode = d->ents[i].type};
		size_t need = fuse_add_direntry(req, buf + used, size - used, d->ents[i].name, &st,
						(off_t)(i + 1));

		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	dir_free((struct dir_snapshot *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* The tree is fixed by the agent: no files or directories are made or removed. */
static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	(void)parent;
	(void)name;
	(void)mode;
	(void)fi;
	fuse_reply_err(req, EACCES);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	(void)parent;
	(void)name;
	(void)mode;
	(void)rdev;
	fuse_reply_err(req, EACCES);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	(void)parent;
	(void)name;
	(void)mode;
	fuse_reply_err(req, EPERM);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent;
	(void)name;
	fuse_reply_err(req, EPERM);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	(void)parent;
	(void)name;
	(void)newparent;
	(void)newname;
	(void)flags;
	fuse_reply_err(req, EPERM);
}

static const struct fuse_lowlevel_ops knob_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .release = op_release,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .releasedir = op_releasedir,
    .create = op_create,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_unlink,
    .rename = op_rename,
};

/* ---- the session in the loop ------------------------------------------- */

static void detach(struct ms_knobs *k)
{
	if (k->in_loop)
		ms_loop_del(k->loop, k->fd);
	k->in_loop = false;
}

static int on_fuse(void *ctx, uint32_t events)
{
	struct ms_knobs *k = ctx;

	(void)events;
	for (int i = 0; i < MS_KNOBS_BATCH; i++) {
		int ret = fuse_session_receive_buf(k->se, &k->buf);

		/* -ENOENT/-EINTR: the request was interrupted before we read it. */
		if (ret == -EINTR || ret == -ENOENT)
			continue;
		if (ret == -EAGAIN)
			break;
		if (ret == 0 || fuse_session_exited(k->se)) {
			/* Someone ran umount: the agent shapes on, only without knobs. */
			ms_warn("the knob tree at %s was unmounted; knobs are off until restart",
				k->path);
			k->mounted = false;
			detach(k);
			break;
		}
		if (ret < 0) {
			ms_warn("reading the FUSE device of %s: %s; knobs are off until restart",
				k->path, strerror(-ret));
			detach(k);
			break;
		}
		fuse_session_process_buf(k->se, &k->buf);
	}
	/* Never stop the agent for the knobs. */
	return 0;
}

/* libfuse logs to stderr by default; keep its messages in the agent's log. */
static void fuse_log_to_ms(enum fuse_log_level level, const char *fmt, va_list ap)
{
	ms_log_library(level <= FUSE_LOG_ERR	   ? MS_LOG_ERROR
		       : level <= FUSE_LOG_WARNING ? MS_LOG_WARN
		       : level <= FUSE_LOG_INFO	   ? MS_LOG_INFO
						   : MS_LOG_DEBUG,
		       "fuse", fmt, ap);
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * The mount point: a directory that is not mounted on. An agent that died
 * leaves its mount behind, answering ENOTCONN; the caller holds the interface
 * lock, so no live agent owns it and it is detached.
 */
static int prepare_mountpoint(const char *path)
{
	char parent[PATH_MAX];
	struct stat st, pst;
	char *slash;

	if (mkdir(path, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	if (stat(path, &st) < 0) {
		if (errno != ENOTCONN)
			return -errno;
		ms_warn("removing the stale knob mount at %s left by an agent that died", path);
		if (umount2(path, MNT_DETACH) < 0)
			return -errno;
		if (stat(path, &st) < 0)
			return -errno;
	}
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	snprintf(parent, sizeof(parent), "%s", path);
	slash = strrchr(parent, '/');
	if (slash == parent)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(parent, sizeof(parent), ".");
	if (stat(parent, &pst) < 0)
		return -errno;
	/* Something live is mounted here: not ours to replace. */
	if (st.st_dev != pst.st_dev)
		return -EBUSY;
	return 0;
}

static bool ifname_ok(const char *ifname)
{
	size_t len = ifname ? strnlen(ifname, IF_NAMESIZE) : 0;

	return len > 0 && len < IF_NAMESIZE && !strchr(ifname, '/') && strcmp(ifname, ".") != 0 &&
	       strcmp(ifname, "..") != 0;
}

static void knobs_free(struct ms_knobs *k)
{
	if (!k)
		return;
	detach(k);
	if (k->se) {
		if (k->mounted)
			fuse_session_unmount(k->se);
		fuse_session_destroy(k->se);
	}
	if (k->have_dir && rmdir(k->path) < 0 && errno != ENOENT)
		ms_debug("cannot remove %s: %s", k->path, strerror(errno));
	while (k->open_files)
		knob_file_free(k, k->open_files);
	free(k->buf.mem);
	free(k);
}

int ms_knobs_cleanup(const char *mount_root, const char *ifname)
{
	char path[PATH_MAX];
	struct stat st;

	if (!mount_root || !ifname_ok(ifname))
		return -EINVAL;
	if (snprintf(path, sizeof(path), "%s/%s", mount_root, ifname) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno != ENOTCONN)
			return -errno;
		if (umount2(path, MNT_DETACH) < 0)
			return -errno;
	}
	if (rmdir(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int ms_knobs_start(struct ms_loop *loop, const char *mount_root, const char *ifname,
		   const struct ms_knobs_ops *ops, void *ctx, struct ms_knobs **out)
{
	char *argv[] = {"migshaperd", "-o",
			"fsname=migshaper,subtype=migshaper,default_permissions,noexec", NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	struct ms_knobs *k = NULL;
	int fd, ret, n;

	*out = NULL;
	if (!loop || !mount_root || !*mount_root || !ifname_ok(ifname) || !ops || !ops->config ||
	    !ops->effective || !ops->apply)
		return -EINVAL;
	/* Checked first so that "no FUSE here" is one clear message. */
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		ms_warn("FUSE is unavailable (/dev/fuse: %s); no knob tree", strerror(errno));
		return ret;
	}
	close(fd);

	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->loop = loop;
	k->ops = ops;
	k->ctx = ctx;
	k->fd = -1;
	k->uid = geteuid();
	k->gid = getegid();
	clock_gettime(CLOCK_REALTIME, &k->started);
	snprintf(k->ifname, sizeof(k->ifname), "%s", ifname);
	n = snprintf(k->path, sizeof(k->path), "%s/%s", mount_root, ifname);
	if (n < 0 || (size_t)n >= sizeof(k->path)) {
		ret = -ENAMETOOLONG;
		goto fail;
	}
	ret = mkdir_p(mount_root, 0755);
	if (!ret)
		ret = prepare_mountpoint(k->path);
	if (ret) {
		ms_warn("cannot use %s as the knob mount point: %s", k->path, strerror(-ret));
		goto fail;
	}
	k->have_dir = true;

	fuse_set_log_func(fuse_log_to_ms);
	k->se = fuse_session_new(&args, &knob_ops, sizeof(knob_ops), k);
	fuse_opt_free_args(&args);
	if (!k->se) {
		ret = -ENOMEM;
		ms_warn("cannot create the FUSE session for the knob tree");
		goto fail;
	}
	errno = 0;
	if (fuse_session_mount(k->se, k->path)) {
		ret = errno ? -errno : -EIO;
		ms_warn("cannot mount the knob tree at %s: %s", k->path, strerror(-ret));
		goto fail;
	}
	k->mounted = true;
	k->fd = fuse_session_fd(k->se);
	/* The loop reads until EAGAIN; a blocking read would stall the agent. */
	if (fcntl(k->fd, F_SETFL, fcntl(k->fd, F_GETFL) | O_NONBLOCK) < 0) {
		ret = -errno;
		goto fail;
	}
	ret = ms_loop_add(loop, k->fd, EPOLLIN, on_fuse, k);
	if (ret)
		goto fail;
	k->in_loop = true;
	ms_info("knobs of %s at %s", ifname, k->path);
	*out = k;
	return 0;
fail:
	knobs_free(k);
	return ret;
}

void ms_knobs_stop(struct ms_knobs *k)
{
	knobs_free(k);
}

__u64 ms_knobs_open_refused(const struct ms_knobs *k)
{
	return k ? k->open_refused : 0;
}

__u64 ms_knobs_writes(const struct ms_knobs *k, bool accepted)
{
	if (!k)
		return 0;
	return accepted ? k->accepted : k->rejected;
}
