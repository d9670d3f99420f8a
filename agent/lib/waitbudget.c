// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The loop's budget for waiting on a slow peer: a token bucket (waitbudget.h). */
#include "waitbudget.h"

/* Wall time earns tokens at 1/MS_WAIT_EARN_DIVISOR of its rate. */
#define MS_WAIT_EARN_DIVISOR 2

static __s64 earned_us(const struct ms_wait_budget *b, __u64 now_ns)
{
	__s64 tokens_us;

	if (now_ns <= b->updated_ns)
		return b->tokens_us;
	tokens_us = b->tokens_us + (__s64)((now_ns - b->updated_ns) / 1000 / MS_WAIT_EARN_DIVISOR);
	return tokens_us > MS_WAIT_BUDGET_US ? MS_WAIT_BUDGET_US : tokens_us;
}

static void earn(struct ms_wait_budget *b, __u64 now_ns)
{
	b->tokens_us = earned_us(b, now_ns);
	if (now_ns > b->updated_ns)
		b->updated_ns = now_ns;
}

void ms_wait_budget_init(struct ms_wait_budget *b, __u64 now_ns)
{
	b->tokens_us = MS_WAIT_BUDGET_US;
	b->updated_ns = now_ns;
	b->holding = false;
}

bool ms_wait_budget_allows(struct ms_wait_budget *b, __u64 now_ns)
{
	earn(b, now_ns);
	if (b->holding && b->tokens_us >= MS_WAIT_BUDGET_US / 2)
		b->holding = false;
	return !b->holding;
}

bool ms_wait_budget_spend(struct ms_wait_budget *b, __u64 waited_ns, __u64 now_ns)
{
	/* Earned before the wait (up to the cap), then spent and earned during it. */
	earn(b, now_ns > waited_ns ? now_ns - waited_ns : 0);
	b->tokens_us -= (__s64)(waited_ns / 1000);
	earn(b, now_ns);
	if (b->holding || b->tokens_us > 0)
		return false;
	b->holding = true;
	return true;
}

__u64 ms_wait_budget_hold_us(const struct ms_wait_budget *b, __u64 now_ns)
{
	__s64 missing_us = MS_WAIT_BUDGET_US / 2 - earned_us(b, now_ns);

	if (!b->holding || missing_us <= 0)
		return 0;
	return (__u64)missing_us * MS_WAIT_EARN_DIVISOR;
}
