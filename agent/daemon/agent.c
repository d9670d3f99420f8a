// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The agent object's glue: state file, coordination start-up, the loop's
 * signal and cycle handlers, tear-down and --cleanup.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "classes.h"
#include "clock.h"
#include "coord.h"
#include "htb.h"
#include "iface.h"
#include "ingress.h"
#include "knobs.h"
#include "linkwatch.h"
#include "loader.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "peerclient.h"
#include "peerserver.h"
#include "mq.h"
#include "reconfig.h"
#include "snapshot.h"
#include "route.h"
#include "sockdiag.h"
#include "state.h"
#include "virt.h"
#include "virt_event.h"

/*
 * Records what a restarted agent needs to adopt the interface. A failure
 * costs only that: a restart would then rebuild instead of adopting.
 */
void ms_agent_state_save(struct ms_agent *a)
{
	const struct ms_migration_table *t = a->coord ? ms_coord_table(a->coord) : NULL;
	int ret;

	if (!a->state)
		return;
	a->state->n_migs = 0;
	for (size_t i = 0; t && i < MS_MAX_MIGRATIONS; i++) {
		const struct ms_migration *m = &t->entries[i];
		struct ms_state_mig *sm = &a->state->migs[a->state->n_migs];

		if (!m->used || !m->minor || !m->class_rate_bps)
			continue;
		memcpy(sm->uuid, m->uuid, MS_UUID_LEN);
		sm->minor = m->minor;
		snprintf(sm->name, sizeof(sm->name), "%s", m->name);
		a->state->n_migs++;
	}
	ret = ms_state_write(a->state_path, a->state);
	if (ret)
		ms_warn("cannot write %s: %s; a restart would rebuild the tree instead of "
			"adopting it",
			a->state_path, strerror(-ret));
}

int ms_agent_record_state(struct ms_agent *a)
{
	int ret;

	ms_htb_root_clear(&a->state->orig);
	a->state->ifindex = a->ifindex;
	a->state->backend =
	    a->mq_ifb_ifindex ? MS_STATE_BACKEND_MULTIQUEUE : MS_STATE_BACKEND_HTB_ROOT;
	ret = ms_htb_orig_get(a->htb, &a->state->orig);
	return ret ?: ms_dataplane_attach_info(a->dp, &a->state->attach);
}

static void on_owners_changed(void *ctx)
{
	ms_agent_state_save(ctx);
}

/* The aggregate class at what the AIMD feedback leaves in force. */
static int on_apply_aggregate(void *ctx, __u64 aggregate_bps)
{
	struct ms_agent *a = ctx;
	struct ms_htb_params p;

	if (a->iface_gone || !a->htb)
		return 0;
	ms_agent_htb_params(a, &a->set, &p);
	if (aggregate_bps < p.migration_aggregate_bps) {
		/* What migrations may borrow shrinks in proportion, as the policy's ceilings do. */
		p.migration_ceil_bps = (__u64)((unsigned __int128)p.migration_ceil_bps *
					       aggregate_bps / p.migration_aggregate_bps);
		if (p.migration_max_bps > p.migration_ceil_bps)
			p.migration_max_bps = p.migration_ceil_bps;
		p.migration_aggregate_bps = aggregate_bps;
	}
	return ms_htb_apply(a->htb, &p);
}

/* Often enough that a crash loses little, rarely enough to cost nothing. */
#define BASELINE_SAVE_INTERVAL_NS (30 * 1000000000ULL)

/* A previous agent's idle management RTT, so AIMD does not learn it afresh. */
static void baseline_load(struct ms_agent *a)
{
	char err[MS_STATE_ERR_LEN];
	__u32 rtt_us;
	int ret;

	if (ms_state_baseline_path(a->run_dir, a->ifname, a->baseline_path,
				   sizeof(a->baseline_path))) {
		a->baseline_path[0] = '\0';
		return;
	}
	ret = ms_state_baseline_read(a->baseline_path, &rtt_us, err, sizeof(err));
	if (ret == -ENOENT)
		return;
	if (ret) {
		ms_warn("%s; learning the idle management RTT afresh", err);
		return;
	}
	ms_coord_set_rtt_baseline(a->coord, rtt_us);
	a->baseline_saved_us = rtt_us;
	ms_info("idle management RTT baseline %u us, kept from the previous agent", rtt_us);
}

/* force: at a clean stop, whatever the interval. */
static void baseline_save(struct ms_agent *a, bool force)
{
	__u32 rtt_us = a->coord ? ms_coord_rtt_baseline(a->coord) : 0;
	__u64 now = ms_clock_ns();
	int ret;

	if (!a->baseline_path[0] || !rtt_us || rtt_us == a->baseline_saved_us ||
	    (!force && now - a->baseline_saved_ns < BASELINE_SAVE_INTERVAL_NS))
		return;
	ret = ms_state_baseline_write(a->baseline_path, rtt_us);
	a->baseline_saved_ns = now;
	if (ret) {
		ms_warn("cannot write %s: %s", a->baseline_path, strerror(-ret));
		return;
	}
	a->baseline_saved_us = rtt_us;
}

/*
 * A record about an earlier interface of the name: its filter and tree went
 * with it, but the IFB of a multiqueue tree is a device of its own.
 */
static void remove_orphan_ifb(const struct ms_state *st)
{
	int ret;

	if (st->backend == MS_STATE_BACKEND_HTB_ROOT)
		return;
	ret = ms_mq_ifb_remove_orphan(st->ifindex, NULL);
	if (ret)
		ms_warn("cannot remove the IFB of the earlier interface (ifindex %d): %s",
			st->ifindex, strerror(-ret));
}

/*
 * The previous agent's record, if there is one about this interface as it
 * exists now. Returns true and fills prev, or false: then the agent starts
 * afresh (replacing whatever pins are left).
 */
bool ms_agent_state_load(struct ms_agent *a, struct ms_state *prev)
{
	char err[MS_STATE_ERR_LEN];
	int ret;

	ret = ms_state_read(a->state_path, prev, err, sizeof(err));
	if (ret == -ENOENT)
		return false;
	if (ret) {
		ms_warn("%s; starting afresh", err);
		return false;
	}
	if (prev->ifindex != a->ifindex) {
		ms_info("%s is about an earlier %s (ifindex %d, now %d); starting afresh",
			a->state_path, a->ifname, prev->ifindex, a->ifindex);
		remove_orphan_ifb(prev);
		ms_state_clear(prev);
		return false;
	}
	ms_info("adopting what the previous agent left on %s (%zu migration classes recorded)",
		a->ifname, prev->n_migs);
	return true;
}

/* (Re)starts the libvirt watcher on uri; an empty uri means static shaping only. */
int ms_agent_restart_libvirt(struct ms_agent *a, const char *uri)
{
	int ret;

	ms_virt_close(a->virt);
	a->virt = NULL;
	ms_coord_set_virt(a->coord, NULL);
	if (!uri[0]) {
		ms_info("libvirt_uri is none: static shaping only");
		return 0;
	}
	if (!a->virt_events_registered) {
		ret = ms_virt_event_register(a->loop);
		if (ret)
			return ret;
		a->virt_events_registered = true;
	}
	ret = ms_virt_open(a->loop, uri, ms_coord_virt_ops(), a->coord, &a->virt);
	if (ret)
		return ret;
	ms_coord_set_virt(a->coord, a->virt);
	return 0;
}

/*
 * Migration coordination: libvirt in the agent's loop, and sock_diag for
 * attribution. Neither is required: without them the agent shapes with the
 * static rules (management, unattributed migration ports, default).
 */
int ms_agent_start_coordination(struct ms_agent *a, const struct ms_state *prev)
{
	struct ms_coord_deps deps = {.cfg = &a->set.effective,
				     .requested = &a->set.requested,
				     .dp = a->dp,
				     .htb = a->htb,
				     .owners_changed = on_owners_changed,
				     .apply_aggregate = on_apply_aggregate,
				     .ctx = a};
	struct ms_coord_adopted adopted[MS_MAX_MIGRATIONS];
	int ret;

	ret = ms_sockdiag_open(&a->sd);
	if (ret)
		ms_warn("sock_diag unavailable (%s): migration flows stay unattributed",
			strerror(-ret));
	deps.sd = a->sd;
	/*
	 * The peer endpoint and the client that asks destinations (issue 14).
	 * Neither is required: without them migrations are shaped on local
	 * counts, as they are towards a destination without an agent.
	 */
	ret = ms_peer_client_new(a->loop, &a->peer_client);
	if (ret == -ENOMEM)
		return ret;
	if (ret)
		ms_warn("peer: cannot ask destinations (%s): shaping on local counts only",
			strerror(-ret));
	deps.peer = a->peer_client;
	ret = ms_agent_start_peer_server(a, &a->set.effective, &a->peer_server);
	if (ret == -ENOMEM)
		return ret;
	if (ret)
		ms_warn("peer: cannot serve %s on peer_listen: %s; sources will not hear "
			"from this host",
			MS_PEER_PATH, strerror(-ret));
	if (a->sd) {
		ret = ms_mgmt_tracker_new(&a->mgmt_tracker);
		if (ret)
			return ret;
	}
	ret = ms_route_open(&a->route);
	if (ret)
		ms_warn("route lookups unavailable (%s): management connections on every "
			"interface count for the AIMD feedback, and every outgoing migration is "
			"controlled here",
			strerror(-ret));
	deps.route = a->route;
	deps.ifindex = &a->ifindex;
	ret = ms_coord_new(&deps, &a->coord);
	if (ret)
		return ret;
	if (a->mgmt_tracker)
		ms_mgmt_tracker_set_exclude(a->mgmt_tracker, ms_coord_flow_is_migration, a->coord);
	baseline_load(a);
	/* Before libvirt: its first scan must find the adopted migrations in the table. */
	for (size_t i = 0; prev && i < prev->n_migs; i++) {
		adopted[i].uuid = prev->migs[i].uuid;
		adopted[i].name = prev->migs[i].name;
		adopted[i].minor = prev->migs[i].minor;
	}
	ms_coord_adopt(a->coord, adopted, prev ? prev->n_migs : 0);
	return ms_agent_restart_libvirt(a, a->set.effective.libvirt_uri);
}

static int on_signal(void *ctx, uint32_t events)
{
	struct ms_agent *a = ctx;
	struct signalfd_siginfo si;

	(void)events;
	while (read(a->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			ms_info("%s received; restoring %s and stopping",
				si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT", a->ifname);
			ms_loop_stop(a->loop, 0);
			break;
		case SIGHUP:
			ms_agent_reload(a);
			break;
		default:
			break;
		}
	}
	return 0;
}

bool ms_agent_migrating_out(const struct ms_agent *a)
{
	return a->coord &&
	       ms_mig_count(ms_coord_table(a->coord), MS_MIG_OUTGOING, MS_MIG_ACTIVE) > 0;
}

/*
 * Management health while no outgoing migration runs is only the idle RTT
 * the policy learns as its baseline and what /metrics shows: a sample every
 * MS_AGENT_IDLE_CYCLES is plenty for that. The read is a sock_diag dump,
 * which walks the kernel's whole TCP hash table (~3 ms of kernel time on the
 * lab's 2-core machine), the idle agent's largest cost if made every cycle.
 */
static void read_mgmt_health(struct ms_agent *a)
{
	struct ms_mgmt_scope scope = {.route = a->route, .ifindex = a->ifindex};
	int ret;

	if (!ms_agent_migrating_out(a) && a->have_mgmt &&
	    ++a->cycles_since_health < MS_AGENT_IDLE_CYCLES) {
		/* No fresh sample: the policy must not count the old one again. */
		if (a->coord)
			ms_coord_set_health(a->coord, false, 0, a->mgmt.retrans_total);
		return;
	}
	a->cycles_since_health = 0;
	ret = ms_mgmt_health_read(a->sd, &scope, &a->set.effective, a->mgmt_tracker, &a->mgmt);
	/* A failed dump leaves the last sample; it is not shown as current. */
	a->have_mgmt = ret == 0;
	if (ret)
		ms_debug("management health: sock_diag dump: %s", strerror(-ret));
	if (a->coord)
		ms_coord_set_health(a->coord, a->have_mgmt && a->mgmt.n_conns > 0,
				    a->mgmt.rtt_us_median, a->mgmt.retrans_total);
}

static int on_timer(void *ctx, uint32_t events)
{
	struct ms_agent *a = ctx;
	__u64 expirations;

	(void)events;
	if (read(a->timer_fd, &expirations, sizeof(expirations)) < 0)
		return 0;
	/* Suppression summaries come out within a cycle, not at the next line. */
	ms_log_flush();
	/* Every cycle, as the backstop of the qdisc notifications. */
	ms_agent_check_root(a);
	ms_agent_retag_sockets(a);
	if (a->mgmt_tracker)
		read_mgmt_health(a);
	if (a->coord) {
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		ms_coord_cycle(a->coord);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		a->last_cycle_s =
		    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		baseline_save(a, false);
	}
	if (ms_log_get_level() < MS_LOG_DEBUG || !a->dp)
		return 0;
	/* The classifier's own counters of the classes it fills directly. */
	for (size_t i = 0; i < MS_N_FIXED_CLASSES; i++) {
		const struct ms_fixed_class *fc = &ms_fixed_classes()[i];
		struct ms_class_counter c;

		if (!fc->leaf || ms_dataplane_counters(a->dp, fc->minor, &c))
			continue;
		ms_debug("class %s: %llu packets, %llu bytes", fc->name,
			 (unsigned long long)c.packets, (unsigned long long)c.bytes);
	}
	return 0;
}

/* Signals, rtnetlink and the cycle timer: set up before anything is installed. */
int ms_agent_setup_loop(struct ms_agent *a)
{
	struct itimerspec cycle = {
	    .it_interval = {.tv_sec = a->set.effective.cycle_ms / 1000,
			    .tv_nsec = (long)(a->set.effective.cycle_ms % 1000) * 1000000L},
	};
	sigset_t mask;
	int ret;

	ret = ms_loop_new(&a->loop);
	if (ret)
		return ret;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	a->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (a->signal_fd < 0)
		return -errno;
	ret = ms_loop_add(a->loop, a->signal_fd, EPOLLIN, on_signal, a);
	if (ret)
		return ret;

	ret = ms_agent_watch_link(a);
	if (ret)
		return ret;

	cycle.it_value = cycle.it_interval;
	a->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (a->timer_fd < 0)
		return -errno;
	if (timerfd_settime(a->timer_fd, 0, &cycle, NULL) < 0)
		return -errno;
	return ms_loop_add(a->loop, a->timer_fd, EPOLLIN, on_timer, a);
}

/* Undoes run_agent() in reverse; leaves the interface as it was found. */
void ms_agent_teardown(struct ms_agent *a)
{
	/* Nothing of a previous agent's is undone by a start that failed to take it over. */
	bool keep = a->adoption_pending, restored = !keep;

	ms_knobs_stop(a->knobs);
	ms_metrics_server_stop(a->metrics);
	ms_peer_server_stop(a->peer_server);
	free(a->metric_classes);
	free(a->metric_migrations);
	/* A stopped agent leaves no migration throttled by it: needs libvirt still open. */
	if (a->coord && a->virt)
		ms_coord_restore_speeds(a->coord);
	ms_virt_close(a->virt);
	if (a->coord) {
		baseline_save(a, true);
		if (!a->iface_gone && !keep)
			ms_coord_release(a->coord);
		ms_coord_free(a->coord);
	}
	/* After the coordinator, which asks through it. */
	ms_peer_client_free(a->peer_client);
	ms_mgmt_tracker_free(a->mgmt_tracker);
	ms_route_close(a->route);
	ms_sockdiag_close(a->sd);
	if (a->virt_events_registered)
		ms_virt_event_shutdown();
	if (keep)
		ms_warn("the start failed while taking over what the previous agent left on %s: "
			"all of it stays and shapes as before; `migshaperd --cleanup --iface %s` "
			"removes it",
			a->ifname, a->ifname);
	if (a->htb) {
		if (!a->iface_gone && !keep && ms_htb_restore(a->htb)) {
			ms_warn("could not restore the original root qdisc of %s; "
				"`migshaperd --cleanup --iface %s` retries",
				a->ifname, a->ifname);
			restored = false;
		}
		ms_htb_free(a->htb);
	}
	if (a->iface_gone || keep)
		ms_ingress_free(a->ingress);
	else if (ms_ingress_remove(a->ingress))
		restored = false;
	a->ingress = NULL;
	if (a->mq_ifb_ifindex && !a->iface_gone && !keep && ms_mq_remove(a->ifindex, NULL))
		restored = false;
	/*
	 * Host-wide and recorded on its own (tc/hysteresis.h): not a reason to
	 * keep the state file. Kept on, as a crash leaves it, for the tree kept.
	 */
	if (!keep)
		ms_agent_hysteresis_release(a->run_dir, &a->hyst_fd);
	else if (a->hyst_fd >= 0)
		close(a->hyst_fd);
	a->hyst_fd = -1;
	ms_dataplane_close(a->dp, !keep);
	/* The record goes with what it describes; kept while something is left to undo. */
	if (a->state && restored && unlink(a->state_path) && errno != ENOENT)
		ms_warn("cannot remove %s: %s", a->state_path, strerror(errno));
	if (a->state)
		ms_state_clear(a->state);
	free(a->state);
	ms_linkwatch_close(a->lw);
	ms_loop_free(a->loop);
	if (a->timer_fd >= 0)
		close(a->timer_fd);
	if (a->signal_fd >= 0)
		close(a->signal_fd);
}

/*
 * --cleanup: undoes what an agent that did not stop cleanly left on the
 * interface, from its state file. Without one, the pins and our tree go
 * and the kernel's default root comes back.
 */
int ms_agent_cleanup(struct ms_agent *a)
{
	char path[PATH_MAX], err[MS_STATE_ERR_LEN];
	struct ms_state *st = NULL;
	int ret, tc_ret = 0, hy_ret, hyst_fd = -1, status = -EIO;
	bool have, had_ifb = false;

	st = calloc(1, sizeof(*st));
	if (!st)
		goto out;
	ret = ms_state_path(a->run_dir, a->ifname, path, sizeof(path));
	if (ret)
		goto out;
	ret = ms_state_read(path, st, err, sizeof(err));
	have = ret == 0;
	if (ret == -ENOENT)
		ms_info("no state file %s: removing the pins and our tree only", path);
	else if (ret)
		ms_warn("%s; ignoring it", err);
	if (have && st->ifindex != a->ifindex) {
		ms_info("%s is about an earlier %s; its filter and tree went with it", path,
			a->ifname);
		remove_orphan_ifb(st);
		ms_state_clear(st);
		have = false;
	}
	/*
	 * The multiqueue backend left the root alone: its tree is on the IFB.
	 * Its redirect goes first: on a clsact that is not ours (kept when the
	 * classifier goes) it would send every packet to the IFB without it.
	 */
	if (a->ifindex)
		tc_ret = ms_mq_remove(a->ifindex, &had_ifb);
	/* A redirect left: the classifier stays with it, for a retry. */
	ret = tc_ret ?: ms_dataplane_cleanup(a->pin_root, a->ifname, have ? &st->attach : NULL);
	if (ret && !tc_ret)
		ms_err("cannot remove the classifier's pins: %s", strerror(-ret));
	if (a->ifindex && ms_ingress_cleanup(a->ifindex))
		ms_warn("cannot remove the ingress backstop of %s", a->ifname);
	if (a->ifindex && !tc_ret && !had_ifb)
		tc_ret = ms_htb_cleanup(a->ifindex, &st->orig);
	/*
	 * Host-wide, not the interface's: left on while another agent holds
	 * it. Its record is its own, so a failure here fails the command but
	 * does not keep the interface's state file.
	 */
	hy_ret = ms_agent_hysteresis_release(a->run_dir, &hyst_fd);
	if (tc_ret == -ESTALE)
		ms_warn("the root qdisc of %s is not migshaper's; left as it is", a->ifname);
	else if (tc_ret)
		ms_err("cannot put back the original root qdisc of %s: %s", a->ifname,
		       strerror(-tc_ret));
	if (ret || (tc_ret && tc_ret != -ESTALE))
		goto out;
	ret = ms_knobs_cleanup(a->run_dir, a->ifname);
	if (ret)
		ms_warn("cannot remove the knob mount %s/%s: %s", a->run_dir, a->ifname,
			strerror(-ret));
	if (unlink(path) && errno != ENOENT)
		ms_warn("cannot remove %s: %s", path, strerror(errno));
	ms_info("cleanup of %s done", a->ifname);
	status = hy_ret;
out:
	if (st)
		ms_state_clear(st);
	free(st);
	return status;
}
