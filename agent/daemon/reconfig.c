// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Settings changes, all or nothing: derive, put in place, then adopt.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>

#include "agent.h"
#include "coord.h"
#include "htb.h"
#include "iface.h"
#include "loader.h"
#include "log.h"
#include "metrics.h"
#include "peerserver.h"
#include "reconfig.h"
#include "snapshot.h"
#include "units.h"

/*
 * The defaults are work-conserving: with migration_aggregate_mbps on auto
 * the aggregate is what migrations are guaranteed, and they may borrow up
 * to the link what management and default traffic leave (management keeps
 * its reserve and priority 0, default its guaranteed rate); set by hand it
 * is a hard cap. The unattributed class's ceil follows the aggregate's
 * while migration_max_mbps is on auto, as the policy's per-migration ceil
 * does (agent/control/coord.c).
 */
void ms_agent_htb_params(const struct ms_agent *a, const struct ms_settings *set,
			 struct ms_htb_params *p)
{
	const struct ms_config *cfg = &set->effective;

	memset(p, 0, sizeof(*p));
	p->ifindex = a->mq_ifb_ifindex ? a->mq_ifb_ifindex : a->ifindex;
	p->link_bps = ms_mbps_to_bps(cfg->link_mbps);
	p->mgmt_reserve_bps = ms_mbps_to_bps(cfg->mgmt_reserve_mbps);
	p->migration_aggregate_bps = ms_mbps_to_bps(cfg->migration_aggregate_mbps);
	p->migration_ceil_bps =
	    set->requested.migration_aggregate_mbps ? p->migration_aggregate_bps : p->link_bps;
	p->migration_max_bps = set->requested.migration_max_mbps
				   ? ms_mbps_to_bps(cfg->migration_max_mbps)
				   : p->migration_ceil_bps;
	p->migration_min_bps = ms_mbps_to_bps(cfg->migration_min_mbps);
}

static bool ports_differ(const struct ms_config *x, const struct ms_config *y)
{
	return x->n_mgmt_ports != y->n_mgmt_ports ||
	       memcmp(x->mgmt_ports, y->mgmt_ports, x->n_mgmt_ports * sizeof(x->mgmt_ports[0])) ||
	       x->migration_port_min != y->migration_port_min ||
	       x->migration_port_max != y->migration_port_max;
}

static bool cidrs_differ(const struct ms_config *x, const struct ms_config *y)
{
	return x->n_mgmt_cidrs != y->n_mgmt_cidrs ||
	       memcmp(x->mgmt_cidrs, y->mgmt_cidrs, x->n_mgmt_cidrs * sizeof(x->mgmt_cidrs[0]));
}

/*
 * Fills the classifier's tables from cfg. With old, only the tables whose
 * settings differ are written: the port and hint maps are 65536 entries, and
 * rewriting them for a rate change would cost ~12 ms each.
 */
int ms_agent_classifier_config(struct ms_agent *a, const struct ms_config *cfg)
{
	struct ms_dp_config dp_cfg = {
	    .flags = cfg->dscp_marking ? MS_CFG_DSCP_MARKING : 0,
	    .report_interval_ms = cfg->report_interval_ms,
	    .mq_ifb_ifindex = (__u32)a->mq_ifb_ifindex,
	};

	return ms_dataplane_set_config(a->dp, &dp_cfg);
}

int ms_agent_classifier_tables(struct ms_agent *a, const struct ms_config *cfg,
			       const struct ms_config *old)
{
	int ret;

	if (!old || ports_differ(cfg, old)) {
		ret = ms_dataplane_set_ports(a->dp, cfg->mgmt_ports, cfg->n_mgmt_ports,
					     cfg->migration_port_min, cfg->migration_port_max);
		if (ret)
			return ret;
	}
	if (!old || cidrs_differ(cfg, old)) {
		ret = ms_dataplane_set_mgmt_cidrs(a->dp, cfg->mgmt_cidrs, cfg->n_mgmt_cidrs);
		if (ret)
			return ret;
	}
	if (!old || cfg->dscp_marking != old->dscp_marking ||
	    cfg->report_interval_ms != old->report_interval_ms)
		return ms_agent_classifier_config(a, cfg);
	return 0;
}

static int set_cycle(struct ms_agent *a, __u32 cycle_ms)
{
	struct itimerspec cycle = {
	    .it_interval = {.tv_sec = cycle_ms / 1000,
			    .tv_nsec = (long)(cycle_ms % 1000) * 1000000L},
	};

	cycle.it_value = cycle.it_interval;
	return timerfd_settime(a->timer_fd, 0, &cycle, NULL) < 0 ? -errno : 0;
}

/*
 * Puts a new requested configuration in place, all or nothing: it is
 * derived and checked first, then /metrics, tc, the classifier tables; if
 * the tables fail, tc goes back to the old rates. Only then does the agent
 * adopt it, requested and effective together.
 */
int ms_agent_apply(struct ms_agent *a, const struct ms_config *requested, char *err, size_t err_len)
{
	struct ms_htb_params old_params, new_params;
	struct ms_metrics_server *new_metrics = NULL;
	struct ms_peer_server *new_peer = NULL;
	const struct ms_config *old = &a->set.effective;
	struct ms_settings settings;
	const struct ms_config *next = &settings.effective;
	bool restart_metrics, restart_peer;
	int ret;

	ret = ms_settings_derive(&settings, requested, ms_agent_link_speed(a), err, err_len);
	if (ret)
		return ret;
	/*
	 * A new metrics endpoint is opened first, next to the old one: a port
	 * that cannot be bound refuses the whole change instead of silently
	 * leaving the agent without /metrics.
	 */
	restart_metrics = strcmp(next->metrics_listen, old->metrics_listen) != 0 ||
			  next->metrics_port != old->metrics_port ||
			  strcmp(next->metrics_web_config, old->metrics_web_config) != 0;
	if (restart_metrics && next->metrics_listen[0]) {
		ret = ms_agent_start_metrics_server(a, next, &new_metrics);
		if (ret) {
			snprintf(err, err_len, "metrics: cannot listen on %s port %u: %s",
				 next->metrics_listen, next->metrics_port, strerror(-ret));
			return ret;
		}
	}
	/* The peer endpoint likewise; its old listeners close only once the change holds. */
	restart_peer = next->n_peer_listen != old->n_peer_listen ||
		       memcmp(next->peer_listen, old->peer_listen, sizeof(next->peer_listen)) ||
		       next->peer_port != old->peer_port;
	if (restart_peer) {
		/* The same address and port cannot be bound twice: free them first. */
		ms_peer_server_stop(a->peer_server);
		a->peer_server = NULL;
		ret = ms_agent_start_peer_server(a, next, &new_peer);
		if (ret) {
			snprintf(err, err_len, "peer: cannot listen on peer_listen port %u: %s",
				 next->peer_port, strerror(-ret));
			if (ms_agent_start_peer_server(a, old, &a->peer_server))
				ms_err("peer: could not reopen the previous peer endpoint");
			goto fail;
		}
	}
	ms_agent_htb_params(a, &a->set, &old_params);
	ms_agent_htb_params(a, &settings, &new_params);
	/* Without the interface there is no tree: it is built with next when it is back. */
	ret = a->iface_gone ? 0 : ms_htb_apply(a->htb, &new_params);
	if (ret) {
		snprintf(err, err_len, "changing the HTB tree: %s", strerror(-ret));
		goto fail;
	}
	ret = a->iface_gone ? 0 : ms_agent_classifier_tables(a, next, old);
	if (ret) {
		snprintf(err, err_len, "changing the classifier tables: %s", strerror(-ret));
		if (ms_htb_apply(a->htb, &old_params) || ms_agent_classifier_tables(a, old, NULL))
			ms_err("could not roll back to the previous configuration of %s",
			       a->ifname);
		goto fail;
	}
	ret = a->iface_gone ? 0 : ms_agent_ingress_apply(a, next, false);
	if (ret) {
		snprintf(err, err_len, "changing the ingress backstop: %s", strerror(-ret));
		if (ms_htb_apply(a->htb, &old_params) || ms_agent_classifier_tables(a, old, NULL))
			ms_err("could not roll back to the previous configuration of %s",
			       a->ifname);
		goto fail;
	}
	if (next->cycle_ms != old->cycle_ms && set_cycle(a, next->cycle_ms))
		ms_warn("could not change the cycle to %u ms", next->cycle_ms);
	if (strcmp(next->libvirt_uri, old->libvirt_uri) != 0 &&
	    ms_agent_restart_libvirt(a, next->libvirt_uri))
		ms_warn("could not switch libvirt to '%s'", next->libvirt_uri);
	ms_log_set_level(next->log_level);
	if (restart_metrics) {
		ms_metrics_server_stop(a->metrics);
		a->metrics = new_metrics;
	}
	if (restart_peer)
		a->peer_server = new_peer;
	a->set = settings;
	ms_coord_cycle(a->coord);
	return 0;
fail:
	ms_metrics_server_stop(new_metrics);
	if (new_peer) {
		ms_peer_server_stop(new_peer);
		if (ms_agent_start_peer_server(a, old, &a->peer_server))
			ms_err("peer: could not reopen the previous peer endpoint");
	}
	return ret;
}

const struct ms_config *ms_agent_knob_requested(void *agent)
{
	return &((struct ms_agent *)agent)->set.requested;
}

const struct ms_config *ms_agent_knob_effective(void *agent)
{
	return &((struct ms_agent *)agent)->set.effective;
}

int ms_agent_knob_apply(void *agent, const struct ms_config *requested, char *err, size_t err_len)
{
	return ms_agent_apply(agent, requested, err, err_len);
}

/* SIGHUP: the file is read afresh from the defaults, so removed keys revert. */
void ms_agent_reload(struct ms_agent *a)
{
	const char *path = a->config_path ? a->config_path : MS_CONFIG_DEFAULT_PATH;
	char err[MS_CONFIG_ERR_LEN];
	struct ms_config next;
	int ret;

	ms_config_init(&next);
	ret = ms_config_load_file(&next, path, a->ifname, err, sizeof(err));
	if (!ret)
		ret = ms_agent_apply(a, &next, err, sizeof(err));
	if (ret)
		ms_err("SIGHUP: configuration not changed: %s", err);
	else
		ms_info("SIGHUP: configuration reloaded from %s", path);
}
