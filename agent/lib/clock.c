// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The agent's monotonic clock (clock.h). */
#include <time.h>

#include "clock.h"

__u64 ms_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

long long ms_clock_ms(void)
{
	return (long long)(ms_clock_ns() / 1000000ULL);
}
