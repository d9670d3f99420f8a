// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Per-migration class slots and class names. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classes.h"

void ms_class_table_init(struct ms_class_table *t)
{
	memset(t, 0, sizeof(*t));
}

int ms_class_lookup(const struct ms_class_table *t, __u32 migration_id, __u32 *minor)
{
	for (__u32 slot = 0; slot < MS_MAX_MIGRATIONS; slot++) {
		if (t->owner[slot] == (__u64)migration_id + 1) {
			*minor = MS_MINOR_MIG_BASE + slot;
			return 0;
		}
	}
	return -ENOENT;
}

int ms_class_alloc(struct ms_class_table *t, __u32 migration_id, __u32 *minor)
{
	if (ms_class_lookup(t, migration_id, minor) == 0)
		return 0;
	for (__u32 slot = 0; slot < MS_MAX_MIGRATIONS; slot++) {
		if (t->owner[slot])
			continue;
		t->owner[slot] = (__u64)migration_id + 1;
		*minor = MS_MINOR_MIG_BASE + slot;
		return 0;
	}
	return -ENOSPC;
}

int ms_class_claim(struct ms_class_table *t, __u32 migration_id, __u32 minor)
{
	__u64 *owner;

	if (!ms_minor_is_migration(minor))
		return -EINVAL;
	owner = &t->owner[minor - MS_MINOR_MIG_BASE];
	if (*owner && *owner != (__u64)migration_id + 1)
		return -EBUSY;
	*owner = (__u64)migration_id + 1;
	return 0;
}

int ms_class_free(struct ms_class_table *t, __u32 minor)
{
	if (!ms_minor_is_migration(minor) || !t->owner[minor - MS_MINOR_MIG_BASE])
		return -ENOENT;
	t->owner[minor - MS_MINOR_MIG_BASE] = 0;
	return 0;
}

size_t ms_class_count(const struct ms_class_table *t)
{
	size_t n = 0;

	for (__u32 slot = 0; slot < MS_MAX_MIGRATIONS; slot++)
		n += t->owner[slot] != 0;
	return n;
}

int ms_class_name(__u32 minor, char *buf, size_t len)
{
	int n = -1;

	for (size_t i = 0; i < MS_N_FIXED_CLASSES; i++)
		if (ms_fixed_classes()[i].minor == minor)
			n = snprintf(buf, len, "%s", ms_fixed_classes()[i].name);
	if (n < 0 && ms_minor_is_migration(minor))
		n = snprintf(buf, len, "mig:%u", minor - MS_MINOR_MIG_BASE);
	if (n < 0)
		return -EINVAL;
	return (size_t)n >= len ? -ENOSPC : 0;
}

int ms_class_parse(const char *name, __u32 *minor)
{
	char *end;
	unsigned long slot;

	for (size_t i = 0; i < MS_N_FIXED_CLASSES; i++) {
		if (strcmp(name, ms_fixed_classes()[i].name) == 0) {
			*minor = ms_fixed_classes()[i].minor;
			return 0;
		}
	}
	if (strncmp(name, "mig:", 4) != 0 || name[4] < '0' || name[4] > '9')
		return -EINVAL;
	errno = 0;
	slot = strtoul(name + 4, &end, 10);
	if (errno || *end || slot >= MS_MAX_MIGRATIONS)
		return -EINVAL;
	*minor = MS_MINOR_MIG_BASE + (__u32)slot;
	return 0;
}
