/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The agent as the operator surfaces see it: the /metrics snapshot (class
 * counters from tc and the classifier, migrations with their expected
 * completion, health and error counters) and the knob tree's read-only
 * side (migrations, class counters; the settings are reconfig.h's).
 */
#ifndef MS_SNAPSHOT_H
#define MS_SNAPSHOT_H

struct ms_agent;
struct ms_config;
struct ms_metrics_server;
struct ms_job_stats;

/* Opens the metrics endpoint cfg names (the snapshot storage is the agent's). */
int ms_agent_start_metrics_server(struct ms_agent *a, const struct ms_config *cfg,
				  struct ms_metrics_server **out);
/* At start-up /metrics is optional: without it the agent still shapes. -ENOMEM only. */
int ms_agent_start_metrics(struct ms_agent *a);
/*
 * Opens the peer endpoint cfg names (peer_listen at peer_port; *out NULL
 * when peer_listen is none). 0 or -errno, logged.
 */
struct ms_peer_server;
int ms_agent_start_peer_server(struct ms_agent *a, const struct ms_config *cfg,
			       struct ms_peer_server **out);
/* The knob tree is optional: without FUSE the agent runs without it. */
void ms_agent_start_knobs(struct ms_agent *a);
/*
 * Seconds until a migration completes at its observed rate net of its dirty
 * rate; -1 when unknown or when it does not converge.
 */
double ms_expected_completion_s(const struct ms_job_stats *st);

#endif /* MS_SNAPSHOT_H */
