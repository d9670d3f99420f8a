// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * migshaperd: loads the classifier, builds the HTB tree on one interface and
 * runs the event loop. Owns the process-wide pieces: arguments, the lock that
 * keeps one agent per interface, signals and the order of set-up and
 * tear-down.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "classes.h"
#include "config.h"
#include "coord.h"
#include "loader.h"
#include "ethtool.h"
#include "htb.h"
#include "knobs.h"
#include "linkwatch.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "mgmthealth.h"
#include "sockdiag.h"
#include "state.h"
#include "virt.h"
#include "virt_event.h"

#define MS_VERSION	   "0.1.0"
#define MS_DEFAULT_RUN_DIR "/run/migshaper"

enum {
	EXIT_OK = 0,
	EXIT_RUNTIME = 1,
	EXIT_USAGE = 2,
};

struct agent {
	struct ms_config cfg;
	/* The configuration as written (0 = auto), for re-deriving on a speed change. */
	struct ms_config requested;
	/* Link speed the current cfg was derived from; 0: unknown. */
	__u32 link_speed_mbps;
	struct ms_ethtool *ethtool; /* NULL: sysfs only */
	const char *ifname;
	const char *config_path;
	const char *pin_root;
	const char *run_dir;
	int ifindex;
	int lock_fd;
	int signal_fd;
	int timer_fd;
	bool iface_gone;
	/* Set by link notes, acted on once the notes are all read. */
	bool reinstall_pending;
	bool speed_check_pending;
	bool root_check_pending;
	bool link_down;
	/* Another tool's root qdisc is in place and we leave it (reassert_root_qdisc=0). */
	bool root_yielded;
	__u64 root_reasserts;
	/* What the state file records; state_path is empty without one. */
	struct ms_state *state;
	char state_path[PATH_MAX];
	struct ms_dataplane *dp;
	struct ms_htb *htb;
	struct ms_loop *loop;
	struct ms_linkwatch *lw;
	struct ms_sockdiag *sd;
	/* Management connections' TCP_INFO, read every cycle (mgmthealth.h). */
	struct ms_mgmt_tracker *mgmt_tracker;
	struct ms_mgmt_sample mgmt;
	bool have_mgmt;
	struct ms_coord *coord;
	struct ms_virt *virt;
	bool virt_events_registered;
	struct ms_knobs *knobs;
	struct ms_metrics_server *metrics;
	/* Storage the metrics snapshot points into; valid until the next loop turn. */
	struct ms_metrics_class *metric_classes;
	struct ms_metrics_migration *metric_migrations;
	double last_cycle_s;
};

static int start_metrics_server(struct agent *a, const struct ms_config *cfg,
				struct ms_metrics_server **out);

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: migshaperd --iface IF [options]\n"
		"\n"
		"Keeps live migrations from starving management traffic on IF: a tc\n"
		"egress classifier sorts packets into management, per-migration,\n"
		"unattributed-migration and default classes of an HTB tree.\n"
		"\n"
		"Options:\n"
		"  -i, --iface IF        interface to shape (required)\n"
		"  -c, --config FILE     INI configuration (default %s if it exists)\n"
		"  -l, --log-level LVL   error, warn, info or debug (overrides the config)\n"
		"      --pin-root DIR    bpffs directory for pinned objects (default %s)\n"
		"      --run-dir DIR     directory for the lock and state files (default %s)\n"
		"      --cleanup         remove what an agent left on IF (after a crash or\n"
		"                        kill -9) and put back the root qdisc it found; then exit\n"
		"  -h, --help            show this help\n"
		"  -V, --version         show the version\n"
		"\n"
		"A restarted agent takes over what a previous one left on IF (pinned\n"
		"classifier, HTB tree, migration classes) without rebuilding it.\n"
		"\n"
		"Exit status: 0 after a clean stop (SIGTERM/SIGINT), 1 on a runtime\n"
		"error, 2 on bad arguments or configuration.\n",
		MS_CONFIG_DEFAULT_PATH, MS_PIN_ROOT, MS_DEFAULT_RUN_DIR);
}

/*
 * Link speed in Mbit/s as the driver reports it, 0 when unknown: through
 * ethtool netlink, which answers for the agent's network namespace, else
 * sysfs.
 */
static __u32 read_link_speed_mbps(struct ms_ethtool *e, int ifindex, const char *ifname)
{
	char path[PATH_MAX];
	long speed = -1;
	__u32 mbps;
	FILE *f;

	if (e && ifindex > 0 && ms_ethtool_speed_mbps(e, ifindex, &mbps) == 0)
		return mbps <= MS_MBPS_MAX ? mbps : 0;
	snprintf(path, sizeof(path), "/sys/class/net/%s/speed", ifname);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%ld", &speed) != 1)
		speed = -1;
	fclose(f);
	return speed > 0 && speed <= (long)MS_MBPS_MAX ? (__u32)speed : 0;
}

static __u32 link_speed(const struct agent *a)
{
	return read_link_speed_mbps(a->ethtool, a->ifindex, a->ifname);
}

static int take_lock(struct agent *a)
{
	char path[PATH_MAX];
	char pid_text[32] = "";
	ssize_t n;
	int fd;

	if (mkdir(a->run_dir, 0755) < 0 && errno != EEXIST) {
		ms_err("cannot create %s: %s", a->run_dir, strerror(errno));
		return -errno;
	}
	snprintf(path, sizeof(path), "%s/%s.lock", a->run_dir, a->ifname);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		ms_err("cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int ret = -errno;

		n = read(fd, pid_text, sizeof(pid_text) - 1);
		pid_text[n > 0 ? n : 0] = '\0';
		pid_text[strcspn(pid_text, "\n")] = '\0';
		if (ret == -EWOULDBLOCK)
			ms_err("another migshaperd (pid %s) already shapes %s; refusing to start",
			       pid_text[0] ? pid_text : "?", a->ifname);
		else
			ms_err("cannot lock %s: %s", path, strerror(-ret));
		close(fd);
		return ret == -EWOULDBLOCK ? -EBUSY : ret;
	}
	if (ftruncate(fd, 0) == 0)
		dprintf(fd, "%d\n", (int)getpid());
	a->lock_fd = fd;
	return 0;
}

static void htb_params_from_config(const struct agent *a, const struct ms_config *cfg,
				   struct ms_htb_params *p)
{
	const __u64 mbit = 1000000ULL;

	memset(p, 0, sizeof(*p));
	p->ifindex = a->ifindex;
	p->link_bps = cfg->link_mbps * mbit;
	p->mgmt_reserve_bps = cfg->mgmt_reserve_mbps * mbit;
	p->migration_aggregate_bps = cfg->migration_aggregate_mbps * mbit;
	p->migration_max_bps = cfg->migration_max_mbps * mbit;
	p->migration_min_bps = cfg->migration_min_mbps * mbit;
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
static int apply_classifier_tables(struct agent *a, const struct ms_config *cfg,
				   const struct ms_config *old)
{
	struct ms_dp_config dp_cfg = {
	    .flags = cfg->dscp_marking ? MS_CFG_DSCP_MARKING : 0,
	    .report_interval_ms = cfg->report_interval_ms,
	};
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
		return ms_dataplane_set_config(a->dp, &dp_cfg);
	return 0;
}

static void on_flow_event(void *ctx, const struct ms_flow_event *ev)
{
	struct agent *a = ctx;
	char flow[MS_FLOW_KEY_STRLEN];

	if (ms_flow_key_format(&ev->key, flow, sizeof(flow)))
		snprintf(flow, sizeof(flow), "(unprintable)");
	ms_debug("new unattributed migration flow %s", flow);
	if (a->coord)
		ms_coord_on_flow_event(a->coord, ev);
}

static int on_ringbuf(void *ctx, uint32_t events)
{
	struct agent *a = ctx;
	int ret;

	(void)events;
	ret = ms_dataplane_events_consume(a->dp, on_flow_event, a);
	if (ret < 0)
		ms_warn("reading flow events: %s", strerror(-ret));
	return 0;
}

static int set_cycle(struct agent *a, __u32 cycle_ms)
{
	struct itimerspec cycle = {
	    .it_interval = {.tv_sec = cycle_ms / 1000,
			    .tv_nsec = (long)(cycle_ms % 1000) * 1000000L},
	};

	cycle.it_value = cycle.it_interval;
	return timerfd_settime(a->timer_fd, 0, &cycle, NULL) < 0 ? -errno : 0;
}

/*
 * Records what a restarted agent needs to adopt the interface. A failure
 * costs only that: a restart would then rebuild instead of adopting.
 */
static void state_save(struct agent *a)
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

static void on_owners_changed(void *ctx)
{
	state_save(ctx);
}

/*
 * The previous agent's record, if there is one about this interface as it
 * exists now. Returns true and fills prev, or false: then the agent starts
 * afresh (replacing whatever pins are left).
 */
static bool state_load(struct agent *a, struct ms_state *prev)
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
		ms_state_clear(prev);
		return false;
	}
	ms_info("adopting what the previous agent left on %s (%zu migration classes recorded)",
		a->ifname, prev->n_migs);
	return true;
}

/* Takes over the previous agent's tree, or builds one. */
static int open_htb(struct agent *a, const struct ms_state *prev)
{
	struct ms_htb_params params;
	int ret;

	htb_params_from_config(a, &a->cfg, &params);
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

/* (Re)starts the libvirt watcher on uri; an empty uri means static shaping only. */
static int restart_libvirt(struct agent *a, const char *uri)
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
static int start_coordination(struct agent *a, const struct ms_state *prev)
{
	struct ms_coord_deps deps = {.cfg = &a->cfg,
				     .dp = a->dp,
				     .htb = a->htb,
				     .owners_changed = on_owners_changed,
				     .ctx = a};
	struct ms_coord_adopted adopted[MS_MAX_MIGRATIONS];
	int ret;

	ret = ms_sockdiag_open(&a->sd);
	if (ret)
		ms_warn("sock_diag unavailable (%s): migration flows stay unattributed",
			strerror(-ret));
	deps.sd = a->sd;
	if (a->sd) {
		ret = ms_mgmt_tracker_new(&a->mgmt_tracker);
		if (ret)
			return ret;
	}
	ret = ms_coord_new(&deps, &a->coord);
	if (ret)
		return ret;
	/* Before libvirt: its first scan must find the adopted migrations in the table. */
	for (size_t i = 0; prev && i < prev->n_migs; i++) {
		adopted[i].uuid = prev->migs[i].uuid;
		adopted[i].name = prev->migs[i].name;
		adopted[i].minor = prev->migs[i].minor;
	}
	ms_coord_adopt(a->coord, adopted, prev ? prev->n_migs : 0);
	return restart_libvirt(a, a->cfg.libvirt_uri);
}

/*
 * Puts a new configuration in place, all or nothing: it is resolved and
 * checked first, then tc, then the classifier tables; if the tables fail, tc
 * goes back to the old rates. Only then does the agent adopt it.
 */
static int apply_config(struct agent *a, const struct ms_config *requested, char *err,
			size_t err_len)
{
	struct ms_htb_params old_params, new_params;
	struct ms_metrics_server *new_metrics = NULL;
	struct ms_config next = *requested;
	bool restart_metrics;
	__u32 speed;
	int ret;

	speed = link_speed(a);
	ret = ms_config_resolve(&next, speed, err, err_len);
	if (ret)
		return ret;
	/*
	 * A new metrics endpoint is opened first, next to the old one: a port
	 * that cannot be bound refuses the whole change instead of silently
	 * leaving the agent without /metrics.
	 */
	restart_metrics = strcmp(next.metrics_listen, a->cfg.metrics_listen) != 0 ||
			  next.metrics_port != a->cfg.metrics_port;
	if (restart_metrics && next.metrics_listen[0]) {
		ret = start_metrics_server(a, &next, &new_metrics);
		if (ret) {
			snprintf(err, err_len, "metrics: cannot listen on %s port %u: %s",
				 next.metrics_listen, next.metrics_port, strerror(-ret));
			return ret;
		}
	}
	htb_params_from_config(a, &a->cfg, &old_params);
	htb_params_from_config(a, &next, &new_params);
	/* Without the interface there is no tree: it is built with next when it is back. */
	ret = a->iface_gone ? 0 : ms_htb_apply(a->htb, &new_params);
	if (ret) {
		snprintf(err, err_len, "changing the HTB tree: %s", strerror(-ret));
		goto fail;
	}
	ret = a->iface_gone ? 0 : apply_classifier_tables(a, &next, &a->cfg);
	if (ret) {
		snprintf(err, err_len, "changing the classifier tables: %s", strerror(-ret));
		if (ms_htb_apply(a->htb, &old_params) || apply_classifier_tables(a, &a->cfg, NULL))
			ms_err("could not roll back to the previous configuration of %s",
			       a->ifname);
		goto fail;
	}
	if (next.cycle_ms != a->cfg.cycle_ms && set_cycle(a, next.cycle_ms))
		ms_warn("could not change the cycle to %u ms", next.cycle_ms);
	if (strcmp(next.libvirt_uri, a->cfg.libvirt_uri) != 0 &&
	    restart_libvirt(a, next.libvirt_uri))
		ms_warn("could not switch libvirt to '%s'", next.libvirt_uri);
	ms_log_set_level(next.log_level);
	if (restart_metrics) {
		ms_metrics_server_stop(a->metrics);
		a->metrics = new_metrics;
	}
	a->requested = *requested;
	a->cfg = next;
	a->link_speed_mbps = speed;
	ms_coord_cycle(a->coord);
	return 0;
fail:
	ms_metrics_server_stop(new_metrics);
	return ret;
}

/* SIGHUP: the file is read afresh from the defaults, so removed keys revert. */
static void reload_config(struct agent *a)
{
	const char *path = a->config_path ? a->config_path : MS_CONFIG_DEFAULT_PATH;
	char err[MS_CONFIG_ERR_LEN];
	struct ms_config next;
	int ret;

	ms_config_init(&next);
	ret = ms_config_load_file(&next, path, a->ifname, err, sizeof(err));
	if (!ret)
		ret = apply_config(a, &next, err, sizeof(err));
	if (ret)
		ms_err("SIGHUP: configuration not changed: %s", err);
	else
		ms_info("SIGHUP: configuration reloaded from %s", path);
}

static int on_signal(void *ctx, uint32_t events)
{
	struct agent *a = ctx;
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
			reload_config(a);
			break;
		default:
			break;
		}
	}
	return 0;
}

/*
 * Is our tree still the root? Another tool (tc qdisc replace, a network
 * manager) may have replaced or deleted it: put it back, or with
 * reassert_root_qdisc=0 leave the other root and stop shaping until it is
 * gone (deleting it brings the kernel default back, which we replace).
 */
static void check_root(struct agent *a)
{
	char name[IF_NAMESIZE];
	int kind, ret;

	if (a->iface_gone)
		return;
	kind = ms_htb_root_kind(a->htb);
	/* A device being deleted loses its root first; the deletion note follows. */
	if (kind < 0 || kind == MS_HTB_ROOT_OURS || !if_indextoname((unsigned int)a->ifindex, name))
		return;
	if (!a->cfg.reassert_root_qdisc && kind == MS_HTB_ROOT_FOREIGN) {
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

static int open_dataplane(struct agent *a, const struct ms_state *prev)
{
	struct ms_dataplane_opts opts = {
	    .ifname = a->ifname, .pin_root = a->pin_root, .adopt = prev ? &prev->attach : NULL};
	int ret;

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
	ret = apply_classifier_tables(a, &a->cfg, NULL);
	if (ret) {
		ms_err("cannot fill the classifier tables on %s: %s", a->ifname, strerror(-ret));
		return ret;
	}
	ret = ms_loop_add(a->loop, ms_dataplane_events_fd(a->dp), EPOLLIN, on_ringbuf, a);
	if (ret)
		ms_err("cannot watch the flow-event ring buffer: %s", strerror(-ret));
	return ret;
}

/*
 * With link_mbps = auto, the rates follow the link's speed: the keys that
 * were auto in the configuration are derived again, the others stay.
 */
static void rederive_link_speed(struct agent *a)
{
	struct ms_config next = a->requested;
	char err[MS_CONFIG_ERR_LEN];
	__u32 speed;

	if (a->requested.link_mbps || a->iface_gone)
		return;
	speed = link_speed(a);
	if (!speed || speed == a->link_speed_mbps)
		return;
	if (apply_config(a, &next, err, sizeof(err))) {
		ms_err("link speed of %s is now %u Mbit/s, but the rates cannot follow: %s",
		       a->ifname, speed, err);
		return;
	}
	ms_info("link speed of %s is now %u Mbit/s: shaping at %u Mbit/s (link_mbps auto)",
		a->ifname, speed, a->cfg.link_mbps);
}

/*
 * The interface is gone, and with it the filter, the clsact and the tree.
 * What is left in user space and the pins is dropped; migrations stay in
 * the table and get classes again when an interface of the name comes back.
 */
static void drop_link_state(struct agent *a)
{
	ms_coord_detach(a->coord);
	if (a->dp) {
		ms_loop_del(a->loop, ms_dataplane_events_fd(a->dp));
		ms_dataplane_close(a->dp, true);
		a->dp = NULL;
	}
	ms_htb_free(a->htb);
	a->htb = NULL;
	if (unlink(a->state_path) && errno != ENOENT)
		ms_warn("cannot remove %s: %s", a->state_path, strerror(errno));
	a->root_yielded = false;
	a->iface_gone = true;
}

/* An interface of our name appeared: shape it as at start, with fresh state. */
static int reinstall(struct agent *a, int ifindex)
{
	char err[MS_CONFIG_ERR_LEN];
	struct ms_config next = a->requested;
	int ret;

	a->ifindex = ifindex;
	a->link_speed_mbps = link_speed(a);
	/* The new device may differ (speed): derive from the configuration as written. */
	ret = ms_config_resolve(&next, a->link_speed_mbps, err, sizeof(err));
	if (ret) {
		ms_err("interface %s is back but cannot be shaped: %s", a->ifname, err);
		return ret;
	}
	a->cfg = next;
	ret = open_dataplane(a, NULL);
	if (ret)
		goto fail;
	ret = open_htb(a, NULL);
	if (ret) {
		ms_err("cannot build the HTB tree on %s: %s", a->ifname, strerror(-ret));
		goto fail;
	}
	ms_htb_root_clear(&a->state->orig);
	a->state->ifindex = a->ifindex;
	ret = ms_htb_orig_get(a->htb, &a->state->orig);
	ret = ret ?: ms_dataplane_attach_info(a->dp, &a->state->attach);
	if (ret)
		goto fail;
	a->iface_gone = false;
	ms_coord_attach(a->coord, a->dp, a->htb);
	state_save(a);
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
	struct agent *a = ctx;
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
static void act_on_link_notes(struct agent *a)
{
	if (a->reinstall_pending) {
		a->reinstall_pending = false;
		if (a->iface_gone && ms_linkwatch_ifindex(a->lw) > 0)
			reinstall(a, ms_linkwatch_ifindex(a->lw));
	}
	if (a->speed_check_pending) {
		a->speed_check_pending = false;
		rederive_link_speed(a);
	}
	if (a->root_check_pending) {
		a->root_check_pending = false;
		check_root(a);
	}
}

static int on_linkwatch(void *ctx, uint32_t events)
{
	struct agent *a = ctx;
	int ret;

	(void)events;
	ret = ms_linkwatch_dispatch(a->lw);
	if (ret < 0) {
		ms_warn("rtnetlink: %s; reading the interface's state again", strerror(-ret));
		ret = ms_linkwatch_resync(a->lw);
		if (ret < 0)
			ms_warn("rtnetlink resync: %s; retrying next cycle", strerror(-ret));
	}
	act_on_link_notes(a);
	return 0;
}

/* ethtool announced new link modes (ethtool -s): the speed may have changed. */
static int on_ethtool(void *ctx, uint32_t events)
{
	struct agent *a = ctx;

	(void)events;
	if (ms_ethtool_dispatch(a->ethtool, a->ifindex) != 0)
		rederive_link_speed(a);
	return 0;
}

static int on_timer(void *ctx, uint32_t events)
{
	struct agent *a = ctx;
	static const __u32 minors[] = {MS_MINOR_MGMT, MS_MINOR_UNATTRIBUTED, MS_MINOR_DEFAULT};
	__u64 expirations;
	int ret;

	(void)events;
	if (read(a->timer_fd, &expirations, sizeof(expirations)) < 0)
		return 0;
	/* Every cycle, as the backstop of the qdisc notifications. */
	check_root(a);
	if (a->mgmt_tracker) {
		ret = ms_mgmt_health_read(a->sd, &a->cfg, a->mgmt_tracker, &a->mgmt);
		/* A failed dump leaves the last sample; it is not shown as current. */
		a->have_mgmt = ret == 0;
		if (ret)
			ms_debug("management health: sock_diag dump: %s", strerror(-ret));
		if (a->coord)
			ms_coord_set_health(a->coord, a->have_mgmt && a->mgmt.n_conns > 0,
					    a->mgmt.rtt_us_median, a->mgmt.retrans_total);
	}
	if (a->coord) {
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		ms_coord_cycle(a->coord);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		a->last_cycle_s =
		    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	}
	if (ms_log_get_level() < MS_LOG_DEBUG || !a->dp)
		return 0;
	for (size_t i = 0; i < sizeof(minors) / sizeof(minors[0]); i++) {
		struct ms_class_counter c;
		char name[32];

		if (ms_dataplane_counters(a->dp, minors[i], &c) ||
		    ms_class_name(minors[i], name, sizeof(name)))
			continue;
		ms_debug("class %s: %llu packets, %llu bytes", name, (unsigned long long)c.packets,
			 (unsigned long long)c.bytes);
	}
	return 0;
}

/* Signals, rtnetlink and the cycle timer: set up before anything is installed. */
static int setup_loop_sources(struct agent *a)
{
	struct itimerspec cycle = {
	    .it_interval = {.tv_sec = a->cfg.cycle_ms / 1000,
			    .tv_nsec = (long)(a->cfg.cycle_ms % 1000) * 1000000L},
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

	ret = ms_linkwatch_open(a->ifname, a->ifindex, on_link_event, a, &a->lw);
	if (ret)
		return ret;
	ret = ms_loop_add(a->loop, ms_linkwatch_fd(a->lw), EPOLLIN, on_linkwatch, a);
	if (ret)
		return ret;
	if (a->ethtool) {
		ret = ms_loop_add(a->loop, ms_ethtool_fd(a->ethtool), EPOLLIN, on_ethtool, a);
		if (ret)
			return ret;
	}

	cycle.it_value = cycle.it_interval;
	a->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (a->timer_fd < 0)
		return -errno;
	if (timerfd_settime(a->timer_fd, 0, &cycle, NULL) < 0)
		return -errno;
	return ms_loop_add(a->loop, a->timer_fd, EPOLLIN, on_timer, a);
}

static void fill_metric_class(struct agent *a, __u32 minor, struct ms_metrics_class *mc)
{
	struct ms_htb_class_stats tc;
	struct ms_class_counter bpf;

	memset(mc, 0, sizeof(*mc));
	ms_class_name(minor, mc->name, sizeof(mc->name));
	if (ms_htb_class_read(a->htb, minor, &tc) == 0) {
		mc->have_tc = true;
		mc->bytes = tc.bytes;
		mc->packets = tc.packets;
		mc->drops = tc.drops;
		mc->overlimits = tc.overlimits;
		mc->backlog_bytes = tc.backlog_bytes;
	}
	if (minor < MS_CLASS_SLOTS && ms_dataplane_counters(a->dp, minor, &bpf) == 0) {
		mc->have_bpf = true;
		mc->bpf_bytes = bpf.bytes;
		mc->bpf_packets = bpf.packets;
	}
}

static void fill_metric_migration(const struct ms_migration *m, struct ms_metrics_migration *mm)
{
	const struct ms_job_stats *st = &m->stats;

	memset(mm, 0, sizeof(*mm));
	snprintf(mm->domain, sizeof(mm->domain), "%s", m->name);
	mm->direction = ms_mig_dir_name(m->dir);
	mm->state = ms_mig_state_name(m->state);
	mm->allocated_bps = m->class_rate_bps;
	mm->libvirt_speed_mibs = m->libvirt_speed_mibs;
	mm->expected_completion_s = -1;
	mm->stalled = m->stalled;
	/* enum ms_policy_action and enum ms_metrics_action list the actions alike. */
	for (int i = 0; i < MS_METRICS_ACTIONS; i++)
		mm->actions_total[i] = m->actions_total[i];
	if (m->minor)
		ms_class_name(m->minor, mm->class_name, sizeof(mm->class_name));
	if (ms_job_has(st, MS_JOB_MEM_REMAINING | MS_JOB_MEM_BPS)) {
		mm->have_job_stats = true;
		mm->observed_bytes_per_s = st->mem_bps;
		mm->remaining_bytes = st->mem_remaining_bytes;
		mm->dirty_bytes_per_s = ms_job_dirty_bytes_per_s(st);
		mm->iteration = st->iteration;
		if (st->mem_bps > mm->dirty_bytes_per_s)
			mm->expected_completion_s = (double)st->mem_remaining_bytes /
						    (double)(st->mem_bps - mm->dirty_bytes_per_s);
	}
}

static int metrics_snapshot(void *ctx, struct ms_metrics_snapshot *snap)
{
	static const __u32 fixed[] = {MS_MINOR_LINK, MS_MINOR_MGMT, MS_MINOR_AGGREGATE,
				      MS_MINOR_UNATTRIBUTED, MS_MINOR_DEFAULT};
	struct agent *a = ctx;
	const struct ms_migration_table *t = ms_coord_table(a->coord);
	size_t n_classes = 0, n_migs = 0;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		fill_metric_class(a, fixed[i], &a->metric_classes[n_classes++]);
	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++) {
		const struct ms_migration *m = &t->entries[i];

		if (!m->used)
			continue;
		if (m->minor && m->class_rate_bps)
			fill_metric_class(a, m->minor, &a->metric_classes[n_classes++]);
		fill_metric_migration(m, &a->metric_migrations[n_migs++]);
	}
	snap->iface = a->ifname;
	snap->version = MS_VERSION;
	snap->classes = a->metric_classes;
	snap->n_classes = n_classes;
	snap->migrations = a->metric_migrations;
	snap->n_migrations = n_migs;
	snap->link_bps = (__u64)a->cfg.link_mbps * 1000000ULL;
	snap->effective_aggregate_bps = ms_coord_effective_aggregate(a->coord);
	snap->unattributed_flows_total = ms_coord_unknown_flows(a->coord);
	snap->flows_evicted_total = ms_coord_flows_evicted(a->coord);
	for (unsigned int l = 0; l < MS_METRICS_LIMITS; l++)
		snap->limit_hits_total[l] = ms_coord_limit_hits(a->coord, l);
	snap->limit_hits_total[MS_METRICS_LIMIT_KNOB_FILES] = ms_knobs_open_refused(a->knobs);
	snap->tree_in_place = !a->root_yielded && !a->iface_gone;
	snap->root_reasserts_total = a->root_reasserts;
	/* No management connection: RTT unknown, left out rather than 0. */
	snap->have_mgmt_health = a->have_mgmt && a->mgmt.n_conns > 0;
	snap->mgmt_rtt_seconds = (double)a->mgmt.rtt_us_median / 1e6;
	snap->mgmt_retransmits_total = a->mgmt.retrans_total;
	snap->libvirt_connected = ms_virt_connected(a->virt);
	snap->libvirt_reconnects_total = a->virt ? ms_virt_reconnects(a->virt) : 0;
	snap->libvirt_call_timeouts_total = a->virt ? ms_virt_timeouts(a->virt) : 0;
	snap->last_cycle_seconds = a->last_cycle_s;
	for (unsigned int k = 0; k < MS_METRICS_ERR_KINDS; k++)
		snap->errors_total[k] = ms_coord_errors(a->coord, k);
	if (a->knobs) {
		snap->knob_writes_accepted_total = ms_knobs_writes(a->knobs, true);
		snap->knob_writes_rejected_total = ms_knobs_writes(a->knobs, false);
	}
	return 0;
}

/* Opens the metrics endpoint cfg names (the snapshot storage is the agent's). */
static int start_metrics_server(struct agent *a, const struct ms_config *cfg,
				struct ms_metrics_server **out)
{
	if (!a->metric_classes) {
		a->metric_classes = calloc(5 + MS_MAX_MIGRATIONS, sizeof(*a->metric_classes));
		a->metric_migrations = calloc(MS_MAX_MIGRATIONS, sizeof(*a->metric_migrations));
		if (!a->metric_classes || !a->metric_migrations)
			return -ENOMEM;
	}
	return ms_metrics_server_start(a->loop, cfg->metrics_listen, cfg->metrics_port,
				       metrics_snapshot, a, out);
}

/* At start-up /metrics is optional: without it the agent still shapes. */
static int start_metrics(struct agent *a)
{
	int ret;

	if (!a->cfg.metrics_listen[0])
		return 0;
	ret = start_metrics_server(a, &a->cfg, &a->metrics);
	if (ret == -ENOMEM)
		return ret;
	if (ret)
		ms_warn("metrics: cannot listen on %s port %u: %s; running without /metrics",
			a->cfg.metrics_listen, a->cfg.metrics_port, strerror(-ret));
	return 0;
}

static const struct ms_config *knob_effective(void *ctx)
{
	return &((struct agent *)ctx)->cfg;
}

static const struct ms_config *knob_requested(void *ctx)
{
	return &((struct agent *)ctx)->requested;
}

static int knob_apply(void *ctx, const struct ms_config *next, char *err, size_t err_len)
{
	return apply_config(ctx, next, err, err_len);
}

static const struct ms_migration_table *knob_migrations(void *ctx)
{
	struct agent *a = ctx;

	return a->coord ? ms_coord_table(a->coord) : NULL;
}

static int knob_class_stats(void *ctx, __u32 minor, __u64 *bytes, __u64 *packets, __u64 *drops)
{
	struct agent *a = ctx;
	struct ms_htb_class_stats st;
	int ret = ms_htb_class_read(a->htb, minor, &st);

	if (ret)
		return ret;
	*bytes = st.bytes;
	*packets = st.packets;
	*drops = st.drops;
	return 0;
}

static __u32 knob_link_speed(void *ctx)
{
	return link_speed(ctx);
}

/* The knob tree is optional: without FUSE the agent runs without it. */
static void start_knobs(struct agent *a)
{
	static const struct ms_knobs_ops ops = {
	    .config = knob_requested,
	    .effective = knob_effective,
	    .apply = knob_apply,
	    .migrations = knob_migrations,
	    .class_stats = knob_class_stats,
	    .link_speed_mbps = knob_link_speed,
	};
	int ret = ms_knobs_start(a->loop, a->run_dir, a->ifname, &ops, a, &a->knobs);

	if (ret)
		ms_warn("knobs: not available (%s); running without %s/%s", strerror(-ret),
			a->run_dir, a->ifname);
}

/* Undoes run_agent() in reverse; leaves the interface as it was found. */
static void teardown(struct agent *a)
{
	bool restored = true;

	ms_knobs_stop(a->knobs);
	ms_metrics_server_stop(a->metrics);
	free(a->metric_classes);
	free(a->metric_migrations);
	ms_virt_close(a->virt);
	if (a->coord) {
		if (!a->iface_gone)
			ms_coord_release(a->coord);
		ms_coord_free(a->coord);
	}
	ms_mgmt_tracker_free(a->mgmt_tracker);
	ms_sockdiag_close(a->sd);
	if (a->virt_events_registered)
		ms_virt_event_shutdown();
	if (a->htb) {
		if (!a->iface_gone && ms_htb_restore(a->htb)) {
			ms_warn("could not restore the original root qdisc of %s; "
				"`migshaperd --cleanup --iface %s` retries",
				a->ifname, a->ifname);
			restored = false;
		}
		ms_htb_free(a->htb);
	}
	ms_dataplane_close(a->dp, true);
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
	if (a->lock_fd >= 0)
		close(a->lock_fd);
}

/* Returns an exit status; the config is already valid. */
static int run_agent(struct agent *a)
{
	struct ms_state *prev = NULL;
	bool adopting = false;
	int ret, status = EXIT_RUNTIME;

	ret = take_lock(a);
	if (ret)
		return EXIT_RUNTIME;
	ret = ms_state_path(a->run_dir, a->ifname, a->state_path, sizeof(a->state_path));
	if (ret) {
		ms_err("run directory %s: %s", a->run_dir, strerror(-ret));
		goto out;
	}
	prev = calloc(1, sizeof(*prev));
	a->state = calloc(1, sizeof(*a->state));
	if (!prev || !a->state) {
		ms_err("out of memory");
		goto out;
	}
	adopting = state_load(a, prev);
	ret = setup_loop_sources(a);
	if (ret) {
		ms_err("cannot set up the event loop: %s", strerror(-ret));
		goto out;
	}
	ret = open_dataplane(a, adopting ? prev : NULL);
	if (ret)
		goto out;
	ret = open_htb(a, adopting ? prev : NULL);
	if (ret) {
		ms_err("cannot build the HTB tree on %s: %s", a->ifname, strerror(-ret));
		goto out;
	}
	a->state->ifindex = a->ifindex;
	ret = ms_htb_orig_get(a->htb, &a->state->orig);
	ret = ret ?: ms_dataplane_attach_info(a->dp, &a->state->attach);
	if (ret) {
		ms_err("cannot record the state of %s: %s", a->ifname, strerror(-ret));
		goto out;
	}
	ret = start_coordination(a, adopting ? prev : NULL);
	if (ret) {
		ms_err("cannot start migration coordination: %s", strerror(-ret));
		goto out;
	}
	state_save(a);
	ms_state_clear(prev);
	free(prev);
	prev = NULL;
	ret = start_metrics(a);
	if (ret)
		goto out;
	start_knobs(a);
	/* What happened to the interface since it was looked up. */
	ret = ms_linkwatch_resync(a->lw);
	if (ret)
		ms_warn("rtnetlink resync: %s", strerror(-ret));
	act_on_link_notes(a);
	ms_info("ready: shaping %s at %u Mbit/s (management reserve %u, migration aggregate %u, "
		"per-migration %u-%u Mbit/s)",
		a->ifname, a->cfg.link_mbps, a->cfg.mgmt_reserve_mbps,
		a->cfg.migration_aggregate_mbps, a->cfg.migration_min_mbps,
		a->cfg.migration_max_mbps);

	ret = ms_loop_run(a->loop);
	if (ret == 0)
		status = EXIT_OK;
	else if (ret != -ENODEV)
		ms_err("event loop: %s", strerror(-ret));
out:
	if (prev)
		ms_state_clear(prev);
	free(prev);
	teardown(a);
	return status;
}

/*
 * --cleanup: undoes what an agent that did not stop cleanly left on the
 * interface, from its state file. Without one, the pins and our tree go
 * and the kernel's default root comes back.
 */
static int run_cleanup(struct agent *a)
{
	char path[PATH_MAX], err[MS_STATE_ERR_LEN];
	struct ms_state *st = NULL;
	int ret, tc_ret = 0, status = EXIT_RUNTIME;
	bool have;

	if (take_lock(a))
		return EXIT_RUNTIME;
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
		ms_state_clear(st);
		have = false;
	}
	ret = ms_dataplane_cleanup(a->pin_root, a->ifname, have ? &st->attach : NULL);
	if (ret)
		ms_err("cannot remove the classifier's pins: %s", strerror(-ret));
	if (a->ifindex)
		tc_ret = ms_htb_cleanup(a->ifindex, &st->orig);
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
	status = EXIT_OK;
out:
	if (st)
		ms_state_clear(st);
	free(st);
	close(a->lock_fd);
	return status;
}

static int load_config(struct agent *a)
{
	char err[MS_CONFIG_ERR_LEN];
	const char *path = a->config_path;
	int ret;

	ms_config_init(&a->cfg);
	if (!path && access(MS_CONFIG_DEFAULT_PATH, F_OK) == 0)
		path = MS_CONFIG_DEFAULT_PATH;
	if (!path)
		return 0;
	ret = ms_config_load_file(&a->cfg, path, a->ifname, err, sizeof(err));
	if (ret)
		fprintf(stderr, "migshaperd: bad configuration: %s\n", err);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option long_opts[] = {
	    {"iface", required_argument, NULL, 'i'},
	    {"config", required_argument, NULL, 'c'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"pin-root", required_argument, NULL, 'P'},
	    {"run-dir", required_argument, NULL, 'R'},
	    {"cleanup", no_argument, NULL, 'C'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {},
	};
	struct agent a = {
	    .pin_root = MS_PIN_ROOT,
	    .run_dir = MS_DEFAULT_RUN_DIR,
	    .lock_fd = -1,
	    .signal_fd = -1,
	    .timer_fd = -1,
	    .last_cycle_s = -1,
	};
	const char *log_level_arg = NULL;
	char err[MS_CONFIG_ERR_LEN];
	bool cleanup = false;
	int status;
	enum ms_log_level level;
	sigset_t mask;
	int opt;

	while ((opt = getopt_long(argc, argv, "i:c:l:hV", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			a.ifname = optarg;
			break;
		case 'c':
			a.config_path = optarg;
			break;
		case 'l':
			log_level_arg = optarg;
			break;
		case 'P':
			a.pin_root = optarg;
			break;
		case 'R':
			a.run_dir = optarg;
			break;
		case 'C':
			cleanup = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("migshaperd %s\n", MS_VERSION);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || !a.ifname) {
		fprintf(stderr, "migshaperd: %s\n",
			optind != argc ? "unexpected argument" : "--iface is required");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strlen(a.ifname) >= IF_NAMESIZE || strchr(a.ifname, '/')) {
		fprintf(stderr, "migshaperd: '%s' is not a valid interface name\n", a.ifname);
		return EXIT_USAGE;
	}
	if (log_level_arg && ms_log_level_parse(log_level_arg, &level)) {
		fprintf(stderr,
			"migshaperd: --log-level: '%s' is not a level "
			"(allowed: error, warn, info, debug)\n",
			log_level_arg);
		return EXIT_USAGE;
	}
	if (load_config(&a))
		return EXIT_USAGE;
	ms_log_set_level(log_level_arg ? level : a.cfg.log_level);

	a.ifindex = (int)if_nametoindex(a.ifname);
	if (cleanup)
		return run_cleanup(&a);
	if (!a.ifindex) {
		ms_err("interface %s does not exist", a.ifname);
		return EXIT_RUNTIME;
	}
	a.requested = a.cfg;
	if (ms_ethtool_open(&a.ethtool))
		a.ethtool = NULL;
	a.link_speed_mbps = link_speed(&a);
	if (ms_config_resolve(&a.cfg, a.link_speed_mbps, err, sizeof(err))) {
		ms_ethtool_close(a.ethtool);
		fprintf(stderr, "migshaperd: bad configuration: %s\n", err);
		return EXIT_USAGE;
	}

	/* Blocked from here on, so a signal during set-up is handled by the loop, not lost. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	status = run_agent(&a);
	ms_ethtool_close(a.ethtool);
	return status;
}
