// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The shaped interface: classifier and tree on it, link speed, deletion and
 * re-creation, root qdisc.
 */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "agent.h"
#include "coord.h"
#include "ethtool.h"
#include "htb.h"
#include "hysteresis.h"
#include "iface.h"
#include "ingress.h"
#include "linkwatch.h"
#include "loader.h"
#include "log.h"
#include "loop.h"
#include "mq.h"
#include "physlink.h"
#include "reconfig.h"
#include "state.h"
#include "units.h"

/*
 * The speed of the physical link behind the interface (physlink.h: a
 * bridge's uplink, a bond's slaves, a VLAN's lower device), 0 when no
 * trustworthy speed is found: link_mbps = auto is then refused rather than
 * shaped at a tap's or veth's made-up 10000 Mb/s. Read afresh each time: a
 * bond fails over, a bridge gains or loses its uplink.
 */
__u32 ms_agent_link_speed(const struct ms_agent *a)
{
	char why[256];
	__u32 mbps;

	if (ms_physlink_speed_mbps(a->ifname, &mbps, why, sizeof(why)) == 0 && mbps <= MS_MBPS_MAX)
		return mbps;
	if (!a->set.requested.link_mbps)
		ms_warn("link_mbps = auto: %s", why);
	return 0;
}

/*
 * The bridge the interface is a port of, 0 if none: the host's addresses
 * then live on the bridge, and its connections' routes leave by it.
 */
static int bridge_of(const char *ifname)
{
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/class/net/%s/brport", ifname);
	if (access(path, F_OK))
		return 0;
	snprintf(path, sizeof(path), "/sys/class/net/%s/master", ifname);
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return 0;
	target[n] = '\0';
	return (int)if_nametoindex(strrchr(target, '/') ? strrchr(target, '/') + 1 : target);
}

/*
 * A retag walks the kernel's whole TCP hash table (about 1 ms here, most of
 * it for the empty buckets), so while no migration runs it waits
 * MS_AGENT_IDLE_CYCLES: a connection not yet tagged is classified correctly
 * meanwhile, only at a higher cost per packet. Table changes retag at once
 * (bpf/loader.c), and one that failed is tried again next cycle. While
 * migrations run, every cycle: an unattributed migration flow, once tagged,
 * is reported again only by a retag.
 */
void ms_agent_retag_sockets(struct ms_agent *a)
{
	int upper;

	if (!a->dp)
		return;
	if (!ms_agent_migrating_out(a) && !ms_dataplane_retag_due(a->dp) &&
	    ++a->cycles_since_retag < MS_AGENT_IDLE_CYCLES)
		return;
	a->cycles_since_retag = 0;
	/* Read afresh: the interface may have joined or left a bridge. */
	upper = bridge_of(a->ifname);
	if (upper != a->tag_upper_ifindex) {
		a->tag_upper_ifindex = upper;
		ms_dataplane_set_tag_upper(a->dp, upper);
		return;
	}
	ms_dataplane_retag(a->dp);
}

static void on_flow_event(void *ctx, const struct ms_flow_event *ev)
{
	struct ms_agent *a = ctx;
	char flow[MS_FLOW_KEY_STRLEN];

	if (ms_flow_key_format(&ev->key, flow, sizeof(flow)))
		snprintf(flow, sizeof(flow), "(unprintable)");
	ms_debug("new unattributed migration flow %s", flow);
	if (a->coord)
		ms_coord_on_flow_event(a->coord, ev);
}

static int on_ringbuf(void *ctx, uint32_t events)
{
	struct ms_agent *a = ctx;
	int ret;

	(void)events;
	ret = ms_dataplane_events_consume(a->dp, on_flow_event, a);
	if (ret < 0)
		ms_warn("reading flow events: %s", strerror(-ret));
	return 0;
}

/*
 * What dataplane_backend = auto picks on a fresh start: multiqueue where one
 * HTB root would add a lock the NIC does not have. A device with no queue of
 * its own (a bond, team, VLAN, macvlan or bridge: tc/mq.h) sends from every
 * CPU at once, and an HTB root would make them all take one. A NIC with
 * more than one TX queue (its driver's channels) has a lock per queue. A NIC
 * whose driver reports no channels, or whose queue cannot be read, counts
 * as one queue: htb-root, as before the backend existed.
 */
static bool auto_multiqueue(const struct ms_agent *a)
{
	int ret = -EOPNOTSUPP, err;
	bool noqueue = false;
	__u32 txqueues = 1;

	err = ms_mq_nic_noqueue(a->ifindex, &noqueue);
	if (err)
		ms_warn("dataplane_backend = auto: cannot read the root qdisc of %s (%s)",
			a->ifname, strerror(-err));
	if (noqueue) {
		ms_info("%s has no queue of its own (a bond, VLAN or bridge, or a root qdisc "
			"noqueue), which an HTB root would put under one lock",
			a->ifname);
		return true;
	}
	if (a->ethtool)
		ret = ms_ethtool_tx_queues(a->ethtool, a->ifindex, &txqueues);
	if (ret == -EOPNOTSUPP) {
		txqueues = 1;
		ms_info("%s has 1 TX queue (its driver reports no channels)", a->ifname);
	} else if (ret) {
		ms_warn("dataplane_backend = auto: cannot count the TX queues of %s (%s); using "
			"htb-root",
			a->ifname, strerror(-ret));
		return false;
	} else {
		ms_info("%s has %u TX queue%s (its driver's channels)", a->ifname, txqueues,
			txqueues == 1 ? "" : "s");
	}
	return txqueues > 1;
}

/*
 * htb-root or multiqueue (config.h). A restarted agent keeps the backend it
 * finds, so that nothing is torn down under traffic: the previous agent's
 * record says which (an earlier agent's record does not: then the IFB of a
 * multiqueue tree tells). An interface re-created under the agent keeps the
 * backend it had: the same role, and a root that says nothing until the new
 * device is first up. A fresh start follows dataplane_backend (auto:
 * auto_multiqueue). *mq is the answer; -errno when the IFB cannot be looked
 * for.
 */
static int want_multiqueue(const struct ms_agent *a, const struct ms_state *prev, bool *mq)
{
	int asked = a->set.effective.dataplane_backend, ifb;

	if (prev) {
		if (prev->backend != MS_STATE_BACKEND_UNKNOWN) {
			*mq = prev->backend == MS_STATE_BACKEND_MULTIQUEUE;
		} else {
			ifb = ms_mq_ifb_find(a->ifindex);
			if (ifb < 0 && ifb != -ENOENT) {
				ms_err("cannot look for the IFB of %s: %s", a->ifname,
				       strerror(-ifb));
				return ifb;
			}
			*mq = ifb > 0;
		}
		if (*mq != (asked == MS_BACKEND_MULTIQUEUE) && asked != MS_BACKEND_AUTO)
			ms_warn("dataplane_backend = %s, but the previous agent's tree on %s is "
				"%s; it is kept until the agent stops",
				asked == MS_BACKEND_MULTIQUEUE ? "multiqueue" : "htb-root",
				a->ifname, *mq ? "multiqueue" : "htb-root");
		return 0;
	}
	if (a->backend != MS_BACKEND_AUTO)
		*mq = a->backend == MS_BACKEND_MULTIQUEUE;
	else if (asked == MS_BACKEND_AUTO)
		*mq = auto_multiqueue(a);
	else
		*mq = asked == MS_BACKEND_MULTIQUEUE;
	return 0;
}

/* Multiqueue backend: the IFB the tree goes on, before the classifier is told of it. */
static int open_backend(struct ms_agent *a, const struct ms_state *prev)
{
	bool mq = false;
	int ret;

	a->mq_ifb_ifindex = 0;
	ret = want_multiqueue(a, prev, &mq);
	if (ret)
		return ret;
	a->backend = mq ? MS_BACKEND_MULTIQUEUE : MS_BACKEND_HTB_ROOT;
	if (!mq) {
		/* An IFB of ours a crashed agent left without a record. */
		ret = prev ? 0 : ms_mq_remove(a->ifindex, NULL);
		if (ret)
			ms_warn("cannot remove a stale migshaper IFB of %s: %s", a->ifname,
				strerror(-ret));
		ms_info("dataplane backend on %s: htb-root (one HTB tree as the root qdisc)",
			a->ifname);
		return 0;
	}
	ret = ms_mq_ifb_open(a->ifindex, &a->mq_ifb_ifindex);
	if (ret) {
		ms_err("cannot create the IFB of the multiqueue backend on %s: %s", a->ifname,
		       strerror(-ret));
		return ret;
	}
	ms_info("dataplane backend on %s: multiqueue (its root qdisc stays; migrations go "
		"through the HTB tree on IFB ifindex %d)",
		a->ifname, a->mq_ifb_ifindex);
	return 0;
}

int ms_agent_open_dataplane(struct ms_agent *a, const struct ms_state *prev)
{
	struct ms_dataplane_opts opts = {
	    .ifname = a->ifname, .pin_root = a->pin_root, .adopt = prev ? &prev->attach : NULL};
	int ret;

	ret = open_backend(a, prev);
	if (ret)
		return ret;
	ret = ms_dataplane_open(&opts, &a->dp);
	if (ret == -EEXIST || ret == -ESTALE) {
		ms_warn("pinned state of an agent that did not stop cleanly is under %s/%s, with "
			"no record of where its classifier runs; replacing it",
			a->pin_root, a->ifname);
		opts.adopt = NULL;
		ret = ms_dataplane_cleanup(a->pin_root, a->ifname, NULL);
		if (!ret)
			ret = ms_dataplane_open(&opts, &a->dp);
	}
	if (ret) {
		ms_err("cannot load the classifier on %s: %s", a->ifname, strerror(-ret));
		return ret;
	}
	ret = ms_agent_classifier_tables(a, &a->set.effective, NULL);
	if (ret) {
		ms_err("cannot fill the classifier tables on %s: %s", a->ifname, strerror(-ret));
		return ret;
	}
	if (a->mq_ifb_ifindex) {
		ret = ms_mq_redirect_set(a->ifindex, a->mq_ifb_ifindex);
		if (ret) {
			ms_err("cannot redirect migrations from %s to its IFB: %s", a->ifname,
			       strerror(-ret));
			return ret;
		}
	}
	ret = ms_loop_add(a->loop, ms_dataplane_events_fd(a->dp), EPOLLIN, on_ringbuf, a);
	if (ret)
		ms_err("cannot watch the flow-event ring buffer: %s", strerror(-ret));
	return ret;
}

/*
 * Logs what ms_hyst_release() did; ret is what it returned. That another
 * agent holds it is news only to an agent that held it too.
 */
static int hysteresis_released(int ret, enum ms_hyst_done done, unsigned int orig, bool held)
{
	if (ret) {
		ms_warn("cannot put sch_htb's htb_hysteresis back: %s; `migshaperd --cleanup` "
			"retries",
			strerror(-ret));
		return ret;
	}
	if (done == MS_HYST_PUT_BACK)
		ms_info("sch_htb's htb_hysteresis back to %u", orig);
	else if (done == MS_HYST_SHARED && held)
		ms_info("sch_htb's htb_hysteresis left on: another agent on this host uses it");
	return 0;
}

int ms_agent_hysteresis_release(const char *run_dir, int *hyst_fd)
{
	char record[PATH_MAX];
	enum ms_hyst_done done;
	bool held = *hyst_fd >= 0;
	unsigned int orig = 0;
	int ret;

	ret = ms_hyst_record_path(run_dir, record, sizeof(record));
	if (ret) {
		if (*hyst_fd >= 0)
			close(*hyst_fd);
		*hyst_fd = -1;
		return ret;
	}
	ret = ms_hyst_release(MS_HYST_PARAM_PATH, record, *hyst_fd, &done, &orig);
	*hyst_fd = -1;
	return hysteresis_released(ret, done, orig, held);
}

/*
 * With the multiqueue backend and the setting on, holds the parameter on
 * (tc/hysteresis.h); otherwise puts back what an agent that died left on,
 * unless another agent holds it. Best effort: the tree shapes without it.
 */
static void hysteresis_apply(struct ms_agent *a)
{
	char record[PATH_MAX];
	enum ms_hyst_found found;
	unsigned int orig;
	int ret;

	/* Held already: a second lock of ours would count as another agent. */
	if (a->hyst_fd >= 0)
		return;
	if (!a->mq_ifb_ifindex || !a->set.effective.htb_hysteresis) {
		ms_agent_hysteresis_release(a->run_dir, &a->hyst_fd);
		return;
	}
	ret = ms_hyst_record_path(a->run_dir, record, sizeof(record));
	if (!ret)
		ret = ms_hyst_hold(MS_HYST_PARAM_PATH, record, &a->hyst_fd, &found, &orig);
	if (ret) {
		ms_warn("cannot turn on sch_htb's htb_hysteresis (%s, record %s): %s; shaping "
			"without it",
			MS_HYST_PARAM_PATH, record, strerror(-ret));
		return;
	}
	if (found == MS_HYST_ALREADY_ON)
		ms_info("sch_htb's htb_hysteresis is on already and not ours; left as it is");
	else
		ms_info("sch_htb's htb_hysteresis on (host-wide) while the multiqueue backend "
			"runs; back to %u after the last agent using it stops "
			"(htb_hysteresis = 0 leaves it alone)",
			orig);
}

static int open_tree(struct ms_agent *a, const struct ms_state *prev)
{
	struct ms_htb_params params;
	int ret;

	ms_agent_htb_params(a, &a->set, &params);
	if (prev) {
		ret = ms_htb_adopt(&params, &prev->orig, &a->htb);
		if (ret != -ENOENT)
			return ret;
		ms_warn("the previous agent's HTB tree is gone from %s; building a new one",
			a->ifname);
		ret = ms_htb_install(&params, &a->htb);
		/* What was there before the first agent, not what replaced its tree. */
		return ret ?: ms_htb_orig_set(a->htb, &prev->orig);
	}
	return ms_htb_install(&params, &a->htb);
}

int ms_agent_open_htb(struct ms_agent *a, const struct ms_state *prev)
{
	int ret = open_tree(a, prev);

	if (!ret)
		hysteresis_apply(a);
	return ret;
}

int ms_agent_ingress_apply(struct ms_agent *a, const struct ms_config *cfg, bool adopting)
{
	struct ms_ingress_params p = {
	    .ifindex = a->ifindex,
	    .cap_bps = ms_mbps_to_bps(cfg->incoming_aggregate_mbps),
	    .migration_port_min = cfg->migration_port_min,
	    .migration_port_max = cfg->migration_port_max,
	    .mgmt_ports = cfg->mgmt_ports,
	    .n_mgmt_ports = cfg->n_mgmt_ports,
	};
	int ret;

	if (!cfg->ingress_backstop) {
		ret = ms_ingress_remove(a->ingress);
		a->ingress = NULL;
		if (!ret && adopting)
			ret = ms_ingress_cleanup(a->ifindex);
		return ret;
	}
	if (a->ingress)
		return ms_ingress_apply(a->ingress, &p);
	return ms_ingress_install(&p, &a->ingress);
}

/*
 * Multiqueue backend: the redirect sends every migration packet to the IFB
 * whatever becomes of it, and an IFB that was deleted or set down drops
 * them all. Set it up again, or make it again with the tree, the
 * classifier's note of it (which tells shaped packets coming back) and the
 * redirect; what fails is tried again next cycle. False while the IFB is
 * not in place: its tree cannot be checked then.
 */
static bool check_ifb(struct ms_agent *a)
{
	int ifb, old = a->mq_ifb_ifindex, ret;
	bool up = false;

	ifb = ms_mq_ifb_state(a->ifindex, &up);
	if (ifb == old && up)
		return true;
	if (ifb < 0 && ifb != -ENOENT) {
		ms_warn("cannot read the IFB of %s: %s", a->ifname, strerror(-ifb));
		return false;
	}
	if (ifb == old) {
		ms_warn("the IFB of %s (ifindex %d) was set down, which drops the migrations "
			"redirected to it; setting it up",
			a->ifname, ifb);
		ret = ms_mq_ifb_open(a->ifindex, &ifb);
		if (ret)
			ms_err("cannot set the IFB of %s up: %s; retrying next cycle", a->ifname,
			       strerror(-ret));
		return !ret;
	}
	ms_warn("the IFB of %s (ifindex %d) is gone, which drops the migrations redirected to "
		"it; making it again",
		a->ifname, old);
	ret = ms_mq_ifb_open(a->ifindex, &ifb);
	ret = ret ?: ms_htb_move(a->htb, ifb);
	if (!ret) {
		a->mq_ifb_ifindex = ifb;
		ret = ms_agent_classifier_config(a, &a->set.effective);
		ret = ret ?: ms_mq_redirect_set(a->ifindex, ifb);
	}
	if (ret) {
		a->mq_ifb_ifindex = old;
		ms_err("cannot make the IFB of %s again: %s; retrying next cycle", a->ifname,
		       strerror(-ret));
		return false;
	}
	ms_info("the IFB of %s is back (ifindex %d) with the tree and every class", a->ifname, ifb);
	return true;
}

/*
 * Is our tree still the root? Another tool (tc qdisc replace, a network
 * manager) may have replaced or deleted it: put it back, or with
 * reassert_root_qdisc=0 leave the other root and stop shaping until it is
 * gone (deleting it brings the kernel default back, which we replace).
 */
void ms_agent_check_root(struct ms_agent *a)
{
	char name[IF_NAMESIZE];
	int kind, ret;

	if (a->iface_gone || (a->mq_ifb_ifindex && !check_ifb(a)))
		return;
	kind = ms_htb_root_kind(a->htb);
	/* A device being deleted loses its root first; the deletion note follows. */
	if (kind < 0 || kind == MS_HTB_ROOT_OURS || !if_indextoname((unsigned int)a->ifindex, name))
		return;
	if (!a->set.effective.reassert_root_qdisc && kind == MS_HTB_ROOT_FOREIGN) {
		if (!a->root_yielded)
			ms_err("another tool replaced the root qdisc of %s; reassert_root_qdisc is "
			       "0, so it stays and migrations are not shaped until it is removed",
			       a->ifname);
		a->root_yielded = true;
		ms_htb_suspend(a->htb);
		return;
	}
	ms_warn("the root qdisc of %s is %s; putting the migshaper tree back", a->ifname,
		a->root_yielded ? "free again"
				: "no longer ours (replaced or deleted by another tool)");
	ret = ms_htb_reassert(a->htb);
	if (ret) {
		ms_err("cannot put the migshaper tree back on %s: %s; retrying next cycle",
		       a->ifname, strerror(-ret));
		return;
	}
	a->root_yielded = false;
	a->root_reasserts++;
}

/*
 * With link_mbps = auto, the rates follow the link's speed: the keys that
 * were auto in the configuration are derived again, the others stay.
 */
void ms_agent_rederive_link_speed(struct ms_agent *a)
{
	char err[MS_CONFIG_ERR_LEN];
	__u32 speed;

	if (a->iface_gone)
		return;
	speed = ms_agent_link_speed(a);
	if (!ms_settings_follows_speed(&a->set, speed))
		return;
	if (ms_agent_apply(a, &a->set.requested, err, sizeof(err))) {
		ms_err("link speed of %s is now %u Mbit/s, but the rates cannot follow: %s",
		       a->ifname, speed, err);
		return;
	}
	ms_info("link speed of %s is now %u Mbit/s: shaping at %u Mbit/s (link_mbps auto)",
		a->ifname, speed, a->set.effective.link_mbps);
}

/*
 * The interface is gone, and with it the filter, the clsact and the tree.
 * What is left in user space and the pins is dropped; migrations stay in
 * the table and get classes again when an interface of the name comes back.
 */
static void drop_link_state(struct ms_agent *a)
{
	ms_coord_detach(a->coord);
	if (a->dp) {
		ms_loop_del(a->loop, ms_dataplane_events_fd(a->dp));
		ms_dataplane_close(a->dp, true);
		a->dp = NULL;
	}
	ms_htb_free(a->htb);
	a->htb = NULL;
	/* Its filters went with the interface; the IFB named after it is ours to delete. */
	ms_ingress_remove(a->ingress);
	a->ingress = NULL;
	/* The redirect went with the interface; its IFB did not. */
	if (a->mq_ifb_ifindex && ms_mq_remove(a->ifindex, NULL))
		ms_warn("cannot remove the IFB of the former %s", a->ifname);
	a->mq_ifb_ifindex = 0;
	ms_agent_hysteresis_release(a->run_dir, &a->hyst_fd);
	if (unlink(a->state_path) && errno != ENOENT)
		ms_warn("cannot remove %s: %s", a->state_path, strerror(errno));
	a->root_yielded = false;
	/* The next dataplane knows no bridge yet: the next retag tells it again. */
	a->tag_upper_ifindex = 0;
	a->iface_gone = true;
}

/* An interface of our name appeared: shape it as at start, with fresh state. */
static int reinstall(struct ms_agent *a, int ifindex)
{
	char err[MS_CONFIG_ERR_LEN];
	int ret;

	a->ifindex = ifindex;
	/* The new device may differ (speed): derive again from what was requested. */
	ret = ms_settings_derive(&a->set, &a->set.requested, ms_agent_link_speed(a), err,
				 sizeof(err));
	if (ret) {
		ms_err("interface %s is back but cannot be shaped: %s", a->ifname, err);
		return ret;
	}
	ret = ms_agent_open_dataplane(a, NULL);
	if (ret)
		goto fail;
	ret = ms_agent_open_htb(a, NULL);
	if (ret) {
		ms_err("cannot build the HTB tree on %s: %s", a->ifname, strerror(-ret));
		goto fail;
	}
	ret = ms_agent_ingress_apply(a, &a->set.effective, false);
	if (ret) {
		ms_err("cannot set up the ingress backstop on %s: %s", a->ifname, strerror(-ret));
		goto fail;
	}
	ret = ms_agent_record_state(a);
	if (ret)
		goto fail;
	a->iface_gone = false;
	ms_coord_attach(a->coord, a->dp, a->htb);
	ms_agent_state_save(a);
	ms_coord_cycle(a->coord);
	ms_info("interface %s is back (ifindex %d): shaping again", a->ifname, a->ifindex);
	return 0;
fail:
	ms_err("interface %s is back but shaping it failed; waiting for its next change",
	       a->ifname);
	drop_link_state(a);
	return ret;
}

static void on_link_event(void *ctx, const struct ms_link_note *note)
{
	struct ms_agent *a = ctx;
	bool down;

	switch (note->event) {
	case MS_LINK_DELETED:
		if (a->iface_gone)
			return;
		ms_warn("interface %s disappeared; its classes are gone with it, migrations stay "
			"tracked, shaping resumes when it comes back",
			a->ifname);
		drop_link_state(a);
		a->reinstall_pending = false;
		return;
	case MS_LINK_CREATED:
		a->reinstall_pending = true;
		return;
	case MS_LINK_CHANGED:
		down = !(note->ifi_flags & IFF_UP);
		if (down != a->link_down)
			ms_info("interface %s is %s%s", a->ifname, down ? "down" : "up",
				down ? "; its tree stays in place" : "");
		a->link_down = down;
		/* A failed re-install is retried on the next change of the new device. */
		if (a->iface_gone && ms_linkwatch_ifindex(a->lw) > 0)
			a->reinstall_pending = true;
		a->speed_check_pending = true;
		a->root_check_pending = true;
		return;
	case MS_LINK_ROOT_QDISC:
		a->root_check_pending = true;
		return;
	}
}

/* What the link notes asked for, once all of them are read. */
void ms_agent_act_on_link_notes(struct ms_agent *a)
{
	if (a->reinstall_pending) {
		a->reinstall_pending = false;
		if (a->iface_gone && ms_linkwatch_ifindex(a->lw) > 0)
			reinstall(a, ms_linkwatch_ifindex(a->lw));
	}
	if (a->speed_check_pending) {
		a->speed_check_pending = false;
		ms_agent_rederive_link_speed(a);
	}
	if (a->root_check_pending) {
		a->root_check_pending = false;
		ms_agent_check_root(a);
	}
}

static int on_linkwatch(void *ctx, uint32_t events)
{
	struct ms_agent *a = ctx;
	int ret;

	(void)events;
	ret = ms_linkwatch_dispatch(a->lw);
	if (ret < 0) {
		ms_warn("rtnetlink: %s; reading the interface's state again", strerror(-ret));
		ret = ms_linkwatch_resync(a->lw);
		if (ret < 0)
			ms_warn("rtnetlink resync: %s; retrying next cycle", strerror(-ret));
	}
	ms_agent_act_on_link_notes(a);
	return 0;
}

/*
 * ethtool announced new link modes (ethtool -s) somewhere: the speed may have
 * changed. Any interface's, since the physical link behind a bridge or bond
 * is another device than the one shaped.
 */
static int on_ethtool(void *ctx, uint32_t events)
{
	struct ms_agent *a = ctx;

	(void)events;
	if (ms_ethtool_dispatch(a->ethtool, 0) != 0)
		ms_agent_rederive_link_speed(a);
	return 0;
}

int ms_agent_watch_link(struct ms_agent *a)
{
	int ret;

	ret = ms_linkwatch_open(a->ifname, a->ifindex, on_link_event, a, &a->lw);
	if (ret)
		return ret;
	ret = ms_loop_add(a->loop, ms_linkwatch_fd(a->lw), EPOLLIN, on_linkwatch, a);
	if (ret || !a->ethtool)
		return ret;
	return ms_loop_add(a->loop, ms_ethtool_fd(a->ethtool), EPOLLIN, on_ethtool, a);
}

void ms_agent_resync_link(struct ms_agent *a)
{
	int ret = ms_linkwatch_resync(a->lw);

	if (ret)
		ms_warn("rtnetlink resync: %s", strerror(-ret));
	ms_agent_act_on_link_notes(a);
}
