// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * migshaperd: loads the classifier, builds the HTB tree on one interface and
 * runs the event loop. Owns the process-wide pieces: arguments, the lock that
 * keeps one agent per interface, signals and the order of set-up and
 * tear-down.
 */
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
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "config.h"
#include "ethtool.h"
#include "iface.h"
#include "loader.h"
#include "log.h"
#include "loop.h"
#include "snapshot.h"
#include "state.h"

#define MS_DEFAULT_RUN_DIR "/run/migshaper"

enum {
	EXIT_OK = 0,
	EXIT_RUNTIME = 1,
	EXIT_USAGE = 2,
};

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

static int take_lock(struct ms_agent *a)
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

/* Returns an exit status; the config is already valid. */
static int run_agent(struct ms_agent *a)
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
	adopting = ms_agent_state_load(a, prev);
	a->adoption_pending = adopting;
	ret = ms_agent_setup_loop(a);
	if (ret) {
		ms_err("cannot set up the event loop: %s", strerror(-ret));
		goto out;
	}
	ret = ms_agent_open_dataplane(a, adopting ? prev : NULL);
	if (ret)
		goto out;
	ret = ms_agent_open_htb(a, adopting ? prev : NULL);
	if (ret) {
		ms_err("cannot build the HTB tree on %s: %s", a->ifname, strerror(-ret));
		goto out;
	}
	ret = ms_agent_ingress_apply(a, &a->set.effective, adopting);
	if (ret) {
		ms_err("cannot set up the ingress backstop on %s: %s", a->ifname, strerror(-ret));
		goto out;
	}
	ret = ms_agent_record_state(a);
	if (ret) {
		ms_err("cannot record the state of %s: %s", a->ifname, strerror(-ret));
		goto out;
	}
	ret = ms_agent_start_coordination(a, adopting ? prev : NULL);
	if (ret) {
		ms_err("cannot start migration coordination: %s", strerror(-ret));
		goto out;
	}
	ms_agent_state_save(a);
	a->adoption_pending = false;
	ms_state_clear(prev);
	free(prev);
	prev = NULL;
	ret = ms_agent_start_metrics(a);
	if (ret)
		goto out;
	ms_agent_start_knobs(a);
	ms_agent_resync_link(a);
	ms_info("ready: shaping %s at %u Mbit/s (management reserve %u, migration aggregate %u, "
		"per-migration %u-%u Mbit/s)",
		a->ifname, a->set.effective.link_mbps, a->set.effective.mgmt_reserve_mbps,
		a->set.effective.migration_aggregate_mbps, a->set.effective.migration_min_mbps,
		a->set.effective.migration_max_mbps);

	ret = ms_loop_run(a->loop);
	if (ret == 0)
		status = EXIT_OK;
	else if (ret != -ENODEV)
		ms_err("event loop: %s", strerror(-ret));
out:
	if (prev)
		ms_state_clear(prev);
	free(prev);
	ms_agent_teardown(a);
	close(a->lock_fd);
	return status;
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
	struct ms_agent a = {
	    .pin_root = MS_PIN_ROOT,
	    .run_dir = MS_DEFAULT_RUN_DIR,
	    .lock_fd = -1,
	    .signal_fd = -1,
	    .timer_fd = -1,
	    .hyst_fd = -1,
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
	ms_settings_init(&a.set);
	if (ms_config_load_default(&a.set.requested, a.config_path, a.ifname, err, sizeof(err))) {
		fprintf(stderr, "migshaperd: bad configuration: %s\n", err);
		return EXIT_USAGE;
	}
	ms_log_set_level(log_level_arg ? level : a.set.requested.log_level);

	a.ifindex = (int)if_nametoindex(a.ifname);
	if (cleanup) {
		if (take_lock(&a))
			return EXIT_RUNTIME;
		status = ms_agent_cleanup(&a) ? EXIT_RUNTIME : EXIT_OK;
		close(a.lock_fd);
		ms_log_flush_all();
		return status;
	}
	if (!a.ifindex) {
		ms_err("interface %s does not exist", a.ifname);
		return EXIT_RUNTIME;
	}
	if (ms_ethtool_open(&a.ethtool))
		a.ethtool = NULL;
	if (ms_settings_derive(&a.set, &a.set.requested, ms_agent_link_speed(&a), err,
			       sizeof(err))) {
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
	ms_log_flush_all();
	return status;
}
