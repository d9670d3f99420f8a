/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Rate units, converted in one place. Settings are in Mbit/s (10^6 bit/s),
 * tc and the policy work in bit/s, libvirt's migration speed is in MiB/s
 * (2^20 bytes per second; its conversions, with the pacing margin, are
 * ms_mibs_to_bps()/ms_speed_mibs_for_rate() in agent/policy/migration.h).
 */
#ifndef MS_UNITS_H
#define MS_UNITS_H

#include <linux/types.h>

#define MS_BPS_PER_MBPS 1000000ULL
#define MS_BYTES_PER_MIB 1048576ULL

static inline __u64 ms_mbps_to_bps(__u64 mbps)
{
	return mbps * MS_BPS_PER_MBPS;
}

/* To the nearest Mbit/s. */
static inline __u64 ms_bps_to_mbps(__u64 bps)
{
	return (bps + MS_BPS_PER_MBPS / 2) / MS_BPS_PER_MBPS;
}

#endif /* MS_UNITS_H */
