/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * How long the agent's loop may wait on a slow peer (libvirtd) before it
 * stops asking for a while. Pure: times come in, a yes or no goes out.
 *
 * Why: every libvirt call is bounded (2 s), but a daemon that answers each
 * call slowly, within that bound, would otherwise hold the loop for the sum
 * of a cycle's calls (a listing, then a read and a set per migration, and a
 * cycle again for each event), and /metrics, the knobs and the ring buffer
 * wait behind it. A token bucket in microseconds of waiting: every
 * microsecond waited costs one token, every microsecond of wall time (waits
 * included) earns half of one, up to MS_WAIT_BUDGET_US. The loop therefore
 * waits at most half its time on average and at most about 1 s at a stretch
 * (two budgets, plus the wait then in progress, which is never cut). Once the
 * bucket is empty no wait may start until it is half full again: at least
 * MS_WAIT_BUDGET_US of free running, so what queued behind the waits gets the
 * loop for a while, and a sequence of calls is not cut call by call.
 */
#ifndef MS_WAITBUDGET_H
#define MS_WAITBUDGET_H

#include <stdbool.h>
#include <linux/types.h>

/* 0.5 s of tokens: about 1 s of waiting in a row empties it. */
#define MS_WAIT_BUDGET_US 500000LL

struct ms_wait_budget {
	__s64 tokens_us; /* negative after a wait that overran what was left */
	__u64 updated_ns;
	bool holding; /* emptied: no wait starts until it is half full */
};

void ms_wait_budget_init(struct ms_wait_budget *b, __u64 now_ns);
/* Whether a wait may start at now_ns. */
bool ms_wait_budget_allows(struct ms_wait_budget *b, __u64 now_ns);
/*
 * Accounts for a wait of waited_ns that ended at now_ns. Returns true when it
 * emptied the bucket: no wait may start until it is half full again.
 */
bool ms_wait_budget_spend(struct ms_wait_budget *b, __u64 waited_ns, __u64 now_ns);
/* Microseconds until a wait may start again (0: now). */
__u64 ms_wait_budget_hold_us(const struct ms_wait_budget *b, __u64 now_ns);

#endif /* MS_WAITBUDGET_H */
