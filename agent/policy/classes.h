/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Class ids: which HTB minor a migration gets, and the names classes carry in
 * logs, the CLI and metrics. Owns the table of per-migration slots.
 */
#ifndef MS_CLASSES_H
#define MS_CLASSES_H

#include <stddef.h>
#include <linux/types.h>

#include "migshaper.h"

struct ms_class_table {
	/* migration_id + 1 per slot; 0 marks a free slot. */
	__u64 owner[MS_MAX_MIGRATIONS];
};

void ms_class_table_init(struct ms_class_table *t);
/*
 * Gives migration_id a per-migration minor: the one it already holds, or the
 * lowest free one. Returns 0 and *minor, or -ENOSPC when all are taken.
 */
int ms_class_alloc(struct ms_class_table *t, __u32 migration_id, __u32 *minor);
/* Gives migration_id exactly this minor; -EBUSY if another holds it. */
int ms_class_claim(struct ms_class_table *t, __u32 migration_id, __u32 minor);
/* Frees minor; -ENOENT if it was not a held per-migration minor. */
int ms_class_free(struct ms_class_table *t, __u32 minor);
/* The minor migration_id holds, or -ENOENT. */
int ms_class_lookup(const struct ms_class_table *t, __u32 migration_id, __u32 *minor);
size_t ms_class_count(const struct ms_class_table *t);

/* "mgmt", "aggregate", "unattributed", "default", "link" or "mig:<slot>". */
int ms_class_name(__u32 minor, char *buf, size_t len);
/* The inverse of ms_class_name(); -EINVAL for anything else. */
int ms_class_parse(const char *name, __u32 *minor);

#endif /* MS_CLASSES_H */
