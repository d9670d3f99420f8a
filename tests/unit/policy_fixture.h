/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What the policy engine's unit tests share: a 1 Gbit link's parameters, a
 * fresh state, an outgoing migration and one decision. Static inline: each
 * test program includes it once.
 */
#ifndef MS_TESTS_POLICY_FIXTURE_H
#define MS_TESTS_POLICY_FIXTURE_H

#include <string.h>

#include "policy.h"

#define MBIT 1000000ULL
#define MIB  1048576ULL
#define SEC  1000000000ULL

/* The lab's 1 Gbit link at the old defaults: link 950, reserve 95, aggregate and max 665. */
static inline void params_1g(struct ms_policy_params *p, enum ms_policy_kind kind)
{
	ms_policy_params_init(p);
	p->kind = kind;
	p->link_bps = 950 * MBIT;
	p->reserve_bps = 95 * MBIT;
	p->aggregate_bps = 665 * MBIT;
	p->max_bps = 665 * MBIT;
	p->min_bps = 19 * MBIT;
}

/* For the caller to test_free(). */
static inline struct ms_policy_state *new_state(void)
{
	struct ms_policy_state *s = test_malloc(sizeof(*s));

	ms_policy_state_init(s);
	return s;
}

/* An outgoing migration of a 4 GiB guest, started id seconds in. */
static inline void mig_out(struct ms_policy_mig_in *m, __u32 id, __u64 remaining, __u64 dirty,
			   __u64 iter)
{
	memset(m, 0, sizeof(*m));
	m->id = id;
	m->dir = MS_MIG_OUTGOING;
	m->started_ns = id * SEC;
	m->mem_total_bytes = 4096 * MIB;
	m->remaining_bytes = remaining;
	m->dirty_bytes_s = dirty;
	m->page_size_bytes = 4096;
	m->iteration = iter;
}

#endif /* MS_TESTS_POLICY_FIXTURE_H */
