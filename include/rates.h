/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The rate invariants, stated once. Every layer that holds the rates of the
 * HTB tree or the policy (the configuration, the policy engine, the HTB
 * code) describes them as a struct ms_rate_plan; ms_rate_plan_violation()
 * is the one rule set. The configuration is the authority: it refuses a
 * plan that breaks a rule, with the rule's text, before anything changes
 * (ms_config_check_rates()). The layers below it are handed only plans it
 * accepted, or plans derived from them that keep the rules (the AIMD cut
 * shrinks the aggregate and its ceiling together), so they only assert.
 */
#ifndef MS_RATES_H
#define MS_RATES_H

#include <stddef.h>

#include <linux/types.h>

struct ms_rate_plan {
	__u64 link_bps;
	__u64 mgmt_reserve_bps;
	/* What migrations are guaranteed together. */
	__u64 migration_aggregate_bps;
	/* What they may borrow up to together; 0: the aggregate. */
	__u64 migration_ceil_bps;
	__u64 migration_min_bps;
	__u64 migration_max_bps;
	/* What this host accepts from incoming migrations; 0: not part of the plan. */
	__u64 incoming_aggregate_bps;
};

/*
 * NULL when @p keeps every rule, else the first rule it breaks, worded
 * with the configuration keys it concerns (the first named is the one that
 * breaks it).
 */
static inline const char *ms_rate_plan_violation(const struct ms_rate_plan *p)
{
	const __u64 ceil =
	    p->migration_ceil_bps ? p->migration_ceil_bps : p->migration_aggregate_bps;

	if (!p->link_bps)
		return "link_mbps must be above 0";
	if (p->mgmt_reserve_bps >= p->link_bps)
		return "mgmt_reserve_mbps must be below link_mbps";
	if (!p->migration_aggregate_bps ||
	    p->migration_aggregate_bps > p->link_bps - p->mgmt_reserve_bps)
		return "migration_aggregate_mbps must be above 0 and, plus mgmt_reserve_mbps, "
		       "at most link_mbps";
	if (ceil < p->migration_aggregate_bps || ceil > p->link_bps)
		return "the migrations' borrowing ceiling must be between migration_aggregate_mbps "
		       "and link_mbps";
	if (!p->migration_max_bps || p->migration_max_bps > ceil)
		return "migration_max_mbps must be above 0 and at most migration_aggregate_mbps "
		       "(or, while it is auto, the borrowing ceiling)";
	if (!p->migration_min_bps || p->migration_min_bps > p->migration_max_bps ||
	    p->migration_min_bps > p->migration_aggregate_bps)
		return "migration_min_mbps must be above 0 and at most migration_max_mbps and "
		       "migration_aggregate_mbps";
	if (p->incoming_aggregate_bps > p->link_bps)
		return "incoming_aggregate_mbps must be at most link_mbps";
	return NULL;
}

#endif /* MS_RATES_H */
