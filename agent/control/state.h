/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The agent's state file, <run-dir>/<ifname>.state: what a restarted agent
 * (or `migshaperd --cleanup`) needs and cannot read back from the kernel.
 * That is the root qdisc found before the first install, where the
 * classifier's filter sits, and which migration owns which HTB class. The
 * class rates and the flows live in the kernel (HTB, pinned BPF maps).
 *
 * A line-oriented text file, replaced atomically (write, fsync, rename), so
 * a crash leaves either the old or the new file, never half of one.
 */
#ifndef MS_STATE_H
#define MS_STATE_H

#include <stddef.h>
#include <linux/types.h>

#include "loader.h"
#include "htb.h"
#include "migration.h"

#define MS_STATE_VERSION 1
#define MS_STATE_ERR_LEN 256

struct ms_state_mig {
	unsigned char uuid[MS_UUID_LEN];
	__u32 minor;
	char name[MS_DOMAIN_NAME_MAX];
};

struct ms_state {
	int ifindex;
	struct ms_htb_root orig; /* owns its payloads: ms_state_clear() */
	struct ms_dp_attach attach;
	size_t n_migs;
	struct ms_state_mig migs[MS_MAX_MIGRATIONS];
};

/* Path of the state file of ifname under run_dir; -ENAMETOOLONG if it does not fit. */
int ms_state_path(const char *run_dir, const char *ifname, char *buf, size_t len);
/* Replaces the file at path with st, atomically. */
int ms_state_write(const char *path, const struct ms_state *st);
/*
 * Reads path into st (cleared first). -ENOENT when there is none; -EINVAL
 * for a file that is not a valid state file (err says where), and then st
 * holds nothing.
 */
int ms_state_read(const char *path, struct ms_state *st, char *err, size_t err_len);
/* Frees what st owns and zeroes it. */
void ms_state_clear(struct ms_state *st);

#endif /* MS_STATE_H */
