/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The agent's state file, <run-dir>/<ifname>.state: what a restarted agent
 * (or `migshaperd --cleanup`) needs and cannot read back from the kernel.
 * That is the root qdisc found before the first install, the dataplane
 * backend, where the classifier's filter sits, and which migration owns
 * which HTB class. The
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

#define MS_STATE_VERSION    1
#define MS_BASELINE_VERSION 1
#define MS_STATE_ERR_LEN    256

struct ms_state_mig {
	unsigned char uuid[MS_UUID_LEN];
	__u32 minor;
	char name[MS_DOMAIN_NAME_MAX];
};

/* The dataplane backend the tree was built for (agent/daemon/iface.c). */
enum ms_state_backend {
	MS_STATE_BACKEND_UNKNOWN = 0, /* a file of an agent before 2026-12-05 */
	MS_STATE_BACKEND_HTB_ROOT,
	MS_STATE_BACKEND_MULTIQUEUE,
};

struct ms_state {
	int ifindex;
	enum ms_state_backend backend;
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

/*
 * The baseline file, <run_dir>/<ifname>.baseline: the idle management RTT
 * the AIMD feedback learned (policy.h), so that a restarted agent judges
 * harm against it from its first sample instead of learning afresh (and
 * learning whatever a running migration costs as "idle"). Unlike the state
 * file it is kept across a clean stop.
 */
int ms_state_baseline_path(const char *run_dir, const char *ifname, char *buf, size_t len);
int ms_state_baseline_write(const char *path, __u32 rtt_us);
/*
 * 0 and *rtt_us; -ENOENT when there is none; -EINVAL for a file that is not
 * a valid baseline file of this version (err says where), *rtt_us untouched.
 */
int ms_state_baseline_read(const char *path, __u32 *rtt_us, char *err, size_t err_len);

#endif /* MS_STATE_H */
