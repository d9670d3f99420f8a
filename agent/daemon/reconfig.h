/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Changing the running agent's settings, all or nothing. Every change (knob
 * write, SIGHUP, a new link speed, a re-created interface) is a new
 * requested configuration: it is derived (config.h, struct ms_settings),
 * then put in place — the /metrics endpoint, tc, the classifier tables, the
 * cycle, libvirt, the log level — and only then does the agent adopt it.
 * On error what runs is unchanged.
 */
#ifndef MS_RECONFIG_H
#define MS_RECONFIG_H

#include <stddef.h>

struct ms_agent;
struct ms_config;
struct ms_htb_params;

/* Makes requested the agent's requested settings and puts what it resolves to in place. */
int ms_agent_apply(struct ms_agent *a, const struct ms_config *requested, char *err,
		   size_t err_len);
/*
 * The knob tree's side of the settings (struct ms_knobs_ops, knobs.h): a
 * knob shows what was requested, effective/ what is in force, and a write
 * is a new requested configuration, put in place by ms_agent_apply().
 */
const struct ms_config *ms_agent_knob_requested(void *agent);
const struct ms_config *ms_agent_knob_effective(void *agent);
int ms_agent_knob_apply(void *agent, const struct ms_config *requested, char *err, size_t err_len);
/* SIGHUP: the file is read afresh from the defaults, so removed keys revert. */
void ms_agent_reload(struct ms_agent *a);
/*
 * The HTB tree's rates for set (its effective configuration, and from its
 * requested one which rates are auto) on the agent's interface.
 */
void ms_agent_htb_params(const struct ms_agent *a, const struct ms_settings *set,
			 struct ms_htb_params *p);
/*
 * Fills the classifier's tables from cfg. With old, only the tables whose
 * settings differ are written.
 */
int ms_agent_classifier_tables(struct ms_agent *a, const struct ms_config *cfg,
			       const struct ms_config *old);
/* Only the classifier's config (ms_dp_config): flags, report interval, the multiqueue IFB. */
int ms_agent_classifier_config(struct ms_agent *a, const struct ms_config *cfg);

#endif /* MS_RECONFIG_H */
