/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The agent's one clock: CLOCK_MONOTONIC, the clock of the loop's timerfds
 * and of bpf_ktime_get_ns() in the classifier, so that times from the
 * dataplane and the control plane compare. Never steps with the wall clock.
 */
#ifndef MS_CLOCK_H
#define MS_CLOCK_H

#include <linux/types.h>

__u64 ms_clock_ns(void);
long long ms_clock_ms(void);

#endif /* MS_CLOCK_H */
