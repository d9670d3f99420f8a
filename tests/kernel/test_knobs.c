// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * agent/ops/knobs.c through a real FUSE mount in a temporary directory, with a
 * fake provider that validates with the real ms_config_resolve() and records
 * every apply. The knob tree is served by ms_loop_run() in a second thread;
 * this thread (and the writer threads) use the files as an operator would.
 * Needs root and /dev/fuse; exits 77 (skip) without them.
 *
 * Bounded: an alarm detaches the mount and exits 1 if anything hangs.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "classes.h"
#include "config.h"
#include "knobs.h"
#include "log.h"
#include "loop.h"
#include "migration.h"

#define IFNAME		  "msk0"
#define STALE_IFNAME	  "msk1"
#define LINK_SPEED	  10000U
#define TEST_TIMEOUT_S	  120
#define N_WRITERS	  4
#define WRITES_PER_WRITER 40

/* ---- the fake provider -------------------------------------------------- */

struct fake {
	/* Taken by apply (server thread) and by this file's readers. */
	pthread_mutex_t lock;
	/* As requested (auto kept) and as resolved at LINK_SPEED. */
	struct ms_config cfg;
	struct ms_config effective;
	unsigned int applies;
	int fail_next; /* -errno for the next apply, 0 for success */
	bool inconsistent_apply;
	struct ms_migration_table table;
};

static const struct ms_config *fake_config(void *ctx)
{
	struct fake *f = ctx;

	return &f->cfg;
}

static const struct ms_config *fake_effective(void *ctx)
{
	struct fake *f = ctx;

	return &f->effective;
}

static int fake_apply(void *ctx, const struct ms_config *next, char *err, size_t err_len)
{
	struct fake *f = ctx;
	struct ms_config check = *next;
	int ret;

	pthread_mutex_lock(&f->lock);
	if (f->fail_next) {
		ret = f->fail_next;
		f->fail_next = 0;
		snprintf(err, err_len, "injected failure");
		goto out;
	}
	/* The knob layer promises a config that resolves. */
	ret = ms_config_resolve(&check, LINK_SPEED, err, err_len);
	if (ret) {
		f->inconsistent_apply = true;
		ret = -EINVAL;
		goto out;
	}
	f->cfg = *next;
	f->effective = check;
	f->applies++;
out:
	pthread_mutex_unlock(&f->lock);
	return ret;
}

static const struct ms_migration_table *fake_migrations(void *ctx)
{
	struct fake *f = ctx;

	return &f->table;
}

static bool fake_has_minor(const struct fake *f, __u32 minor)
{
	for (size_t i = 0; i < MS_MAX_MIGRATIONS; i++)
		if (f->table.entries[i].used && f->table.entries[i].minor == minor)
			return true;
	return false;
}

static int fake_class_stats(void *ctx, __u32 minor, __u64 *bytes, __u64 *packets, __u64 *drops)
{
	struct fake *f = ctx;

	if (minor != MS_MINOR_MGMT && minor != MS_MINOR_AGGREGATE &&
	    minor != MS_MINOR_UNATTRIBUTED && minor != MS_MINOR_DEFAULT &&
	    !fake_has_minor(f, minor))
		return -ENOENT;
	*bytes = (__u64)minor * 1000 + 1;
	*packets = (__u64)minor * 10 + 2;
	*drops = minor + 3;
	return 0;
}

static __u32 fake_link_speed(void *ctx)
{
	(void)ctx;
	return LINK_SPEED;
}

static const struct ms_knobs_ops fake_ops = {
    .config = fake_config,
    .effective = fake_effective,
    .apply = fake_apply,
    .migrations = fake_migrations,
    .class_stats = fake_class_stats,
    .link_speed_mbps = fake_link_speed,
};

/* ---- the served mount ------------------------------------------------- */

static struct fake fake = {.lock = PTHREAD_MUTEX_INITIALIZER};
static char tmp_dir[64];
static char mount_root[128];
static char mnt[192];
static struct ms_loop *loop;
static struct ms_knobs *knobs;
static pthread_t server;
static bool server_running;
static int stop_fd = -1;

static void on_alarm(int sig)
{
	static const char msg[] = "test_knobs: timed out; detaching the mount\n";

	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	umount2(mnt, MNT_DETACH);
	_exit(1);
}

static int on_stop(void *ctx, uint32_t events)
{
	__u64 v;

	(void)events;
	if (read(stop_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	ms_loop_stop(ctx, 0);
	return 0;
}

static void *serve(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)ms_loop_run(loop);
}

static void stop_server(void)
{
	__u64 one = 1;
	void *res;

	if (!server_running)
		return;
	assert_int_equal(write(stop_fd, &one, sizeof(one)), sizeof(one));
	pthread_join(server, &res);
	server_running = false;
	assert_int_equal((intptr_t)res, 0);
}

static void fake_reset(void)
{
	static const unsigned char uuid_a[16] = {0xa};
	static const unsigned char uuid_b[16] = {0xb};
	static const unsigned char uuid_c[16] = {0xc, 0xd};
	char err[MS_CONFIG_ERR_LEN];
	struct ms_migration *m;

	pthread_mutex_lock(&fake.lock);
	ms_config_init(&fake.cfg);
	fake.cfg.link_mbps = 10000;
	fake.cfg.mgmt_reserve_mbps = 1000;
	fake.cfg.migration_aggregate_mbps = 7000;
	fake.cfg.migration_max_mbps = 5000;
	fake.cfg.migration_min_mbps = 200;
	fake.effective = fake.cfg;
	if (ms_config_resolve(&fake.effective, LINK_SPEED, err, sizeof(err)))
		fail_msg("fake config: %s", err);
	fake.applies = 0;
	fake.fail_next = 0;
	fake.inconsistent_apply = false;

	ms_mig_table_init(&fake.table);
	m = ms_mig_add(&fake.table, uuid_a, "vm-a", MS_MIG_OUTGOING, 0);
	m->class_rate_bps = 500000000;
	m->libvirt_speed_mibs = 55;
	m->stats.have =
	    MS_JOB_DATA_REMAINING | MS_JOB_ITERATION | MS_JOB_DIRTY_RATE | MS_JOB_PAGE_SIZE;
	m->stats.data_remaining_bytes = 123456789;
	m->stats.iteration = 3;
	m->stats.dirty_rate_pages_s = 100;
	m->stats.page_size_bytes = 4096;
	ms_mig_add(&fake.table, uuid_b, "vm-b", MS_MIG_INCOMING, 0);
	/* Not a usable file name: shown by UUID. */
	ms_mig_add(&fake.table, uuid_c, "bad/name", MS_MIG_OUTGOING, 0);
	pthread_mutex_unlock(&fake.lock);
}

static int group_setup(void **state)
{
	(void)state;
	fake_reset();
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/ms-knobs-XXXXXX");
	if (!mkdtemp(tmp_dir))
		return -1;
	snprintf(mount_root, sizeof(mount_root), "%s/run", tmp_dir);
	snprintf(mnt, sizeof(mnt), "%s/%s", mount_root, IFNAME);
	if (ms_loop_new(&loop))
		return -1;
	stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (stop_fd < 0 || ms_loop_add(loop, stop_fd, EPOLLIN, on_stop, loop))
		return -1;
	if (ms_knobs_start(loop, mount_root, IFNAME, &fake_ops, &fake, &knobs))
		return -1;
	if (pthread_create(&server, NULL, serve, NULL))
		return -1;
	server_running = true;
	return 0;
}

static int group_teardown(void **state)
{
	__u64 one = 1;

	(void)state;
	if (server_running) {
		if (write(stop_fd, &one, sizeof(one)) == sizeof(one))
			pthread_join(server, NULL);
		server_running = false;
	}
	ms_knobs_stop(knobs);
	knobs = NULL;
	ms_loop_free(loop);
	loop = NULL;
	if (stop_fd >= 0)
		close(stop_fd);
	rmdir(mount_root);
	rmdir(tmp_dir);
	return 0;
}

/* ---- file helpers ------------------------------------------------------- */

static void knob_path(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", mnt, name);
}

/* Reads a whole file; returns its length or -errno. */
static ssize_t read_path(const char *path, char *buf, size_t len)
{
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, buf + got, len - 1 - got);

		if (n < 0) {
			int ret = -errno;

			close(fd);
			return ret;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == len - 1)
			break;
	}
	buf[got] = '\0';
	close(fd);
	return (ssize_t)got;
}

static void read_knob(const char *name, char *buf, size_t len)
{
	char path[256];
	ssize_t n;

	knob_path(name, path, sizeof(path));
	n = read_path(path, buf, len);
	if (n < 0)
		fail_msg("reading %s: %s", path, strerror((int)-n));
}

/* One open(O_TRUNC), one write(2), close: what `echo` does. Returns 0 or errno. */
static int write_knob_raw(const char *name, const char *value, size_t len)
{
	char path[256];
	int fd, err = 0;
	ssize_t n;

	knob_path(name, path, sizeof(path));
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return errno;
	n = write(fd, value, len);
	if (n < 0)
		err = errno;
	else if ((size_t)n != len)
		err = EIO;
	if (close(fd) < 0 && !err)
		err = errno;
	return err;
}

static int write_knob(const char *name, const char *value)
{
	return write_knob_raw(name, value, strlen(value));
}

static unsigned int applies(void)
{
	unsigned int n;

	pthread_mutex_lock(&fake.lock);
	n = fake.applies;
	pthread_mutex_unlock(&fake.lock);
	return n;
}

static const char *const all_knobs[] = {
    "link_mbps",
    "mgmt_reserve_mbps",
    "migration_aggregate_mbps",
    "migration_max_mbps",
    "migration_min_mbps",
    "dscp_marking",
    "speed_coordination",
    "cycle_ms",
    "report_interval_ms",
    "log_level",
    "libvirt_uri",
    "mgmt_cidrs",
    "mgmt_ports",
    "migration_ports",
    "policy",
    "max_downtime_ms",
    "escalation",
    "suspend_allowed",
    "migration_progress_timeout_s",
    "downtime_step_ms",
    "escalation_interval_ms",
    "reassert_root_qdisc",
    "incoming_aggregate_mbps",
    "ingress_backstop",
};

#define N_ALL_KNOBS (sizeof(all_knobs) / sizeof(all_knobs[0]))

/* Every knob's text, concatenated: what an operator could observe. */
static void snapshot(char *buf, size_t len)
{
	size_t used = 0;

	for (size_t i = 0; i < N_ALL_KNOBS; i++) {
		char value[4096];

		read_knob(all_knobs[i], value, sizeof(value));
		used += (size_t)snprintf(buf + used, len - used, "%s=%s", all_knobs[i], value);
		assert_true(used < len);
	}
}

/* ---- tests -------------------------------------------------------------- */

static void test_layout_and_modes(void **state)
{
	static const char *const ro_files[] = {
	    "migrations/vm-a/class",
	    "migrations/vm-a/rate_mbps",
	    "migrations/vm-a/libvirt_speed_mibs",
	    "migrations/vm-a/remaining_bytes",
	    "migrations/vm-a/dirty_rate_bps",
	    "migrations/vm-a/iteration",
	    "migrations/vm-a/state",
	    "migrations/vm-a/direction",
	    "stats/mgmt/bytes",
	    "stats/mig:0/drops",
	};
	char path[256];
	struct stat st;
	struct dirent *de;
	size_t n_files = 0;
	bool saw_migrations = false, saw_stats = false, saw_effective = false;
	DIR *dir;

	(void)state;
	assert_int_equal(stat(mnt, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0500);
	for (size_t i = 0; i < N_ALL_KNOBS; i++) {
		knob_path(all_knobs[i], path, sizeof(path));
		if (stat(path, &st) != 0)
			fail_msg("stat %s: %s", path, strerror(errno));
		assert_true(S_ISREG(st.st_mode));
		assert_int_equal(st.st_mode & 07777, 0600);
		assert_int_equal(st.st_uid, 0);
	}
	for (size_t i = 0; i < sizeof(ro_files) / sizeof(ro_files[0]); i++) {
		knob_path(ro_files[i], path, sizeof(path));
		if (stat(path, &st) != 0)
			fail_msg("stat %s: %s", path, strerror(errno));
		assert_int_equal(st.st_mode & 07777, 0400);
		/* Root passes permission checks; the tree itself refuses. */
		assert_int_equal(open(path, O_WRONLY | O_CLOEXEC), -1);
		assert_int_equal(errno, EACCES);
		assert_int_equal(truncate(path, 0), -1);
	}

	dir = opendir(mnt);
	assert_non_null(dir);
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		if (strcmp(de->d_name, "migrations") == 0)
			saw_migrations = de->d_type == DT_DIR;
		else if (strcmp(de->d_name, "stats") == 0)
			saw_stats = de->d_type == DT_DIR;
		else if (strcmp(de->d_name, "effective") == 0)
			saw_effective = de->d_type == DT_DIR;
		else
			n_files++;
	}
	closedir(dir);
	assert_true(saw_migrations);
	assert_true(saw_stats);
	assert_true(saw_effective);
	assert_int_equal(n_files, N_ALL_KNOBS);

	/* The tree is fixed: nothing is created, removed or re-moded. */
	knob_path("no_such_knob", path, sizeof(path));
	assert_int_equal(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600), -1);
	assert_int_equal(errno, EACCES);
	knob_path("link_mbps", path, sizeof(path));
	assert_int_equal(unlink(path), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(chmod(path, 0666), -1);
	assert_int_equal(errno, EPERM);
	knob_path("newdir", path, sizeof(path));
	assert_int_equal(mkdir(path, 0700), -1);
	assert_int_equal(errno, EPERM);
}

static void test_read_every_knob(void **state)
{
	static const struct {
		const char *knob, *text;
	} want[] = {
	    {"link_mbps", "10000\n"},
	    {"mgmt_reserve_mbps", "1000\n"},
	    {"migration_aggregate_mbps", "7000\n"},
	    {"migration_max_mbps", "5000\n"},
	    {"migration_min_mbps", "200\n"},
	    {"dscp_marking", "0\n"},
	    {"speed_coordination", "1\n"},
	    {"cycle_ms", "1000\n"},
	    {"report_interval_ms", "1000\n"},
	    {"log_level", "info\n"},
	    {"libvirt_uri", "qemu:///system\n"},
	    {"mgmt_cidrs", "\n"},
	    {"mgmt_ports", "22,16509,16514,54321\n"},
	    {"migration_ports", "auto\n"},
	    {"policy", "[srpt] fair serial\n"},
	    {"max_downtime_ms", "500\n"},
	    {"escalation", "advise\n"},
	    {"suspend_allowed", "0\n"},
	    {"migration_progress_timeout_s", "150\n"},
	    {"downtime_step_ms", "100\n"},
	    {"escalation_interval_ms", "10000\n"},
	    {"reassert_root_qdisc", "1\n"},
	    {"incoming_aggregate_mbps", "auto\n"},
	    {"ingress_backstop", "0\n"},
	};
	char buf[4096];

	(void)state;
	assert_int_equal(sizeof(want) / sizeof(want[0]), N_ALL_KNOBS);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		read_knob(want[i].knob, buf, sizeof(buf));
		if (strcmp(buf, want[i].text) != 0)
			fail_msg("%s reads '%s', want '%s'", want[i].knob, buf, want[i].text);
	}
	assert_int_equal(applies(), 0);
}

static void test_write_every_knob(void **state)
{
	static const struct {
		const char *knob, *write, *read;
	} cases[] = {
	    {"link_mbps", "9500\n", "9500\n"},
	    {"mgmt_reserve_mbps", "1500\n", "1500\n"},
	    {"migration_aggregate_mbps", "6000\n", "6000\n"},
	    {"migration_max_mbps", "4000\n", "4000\n"},
	    /* Without the newline too (printf, not echo). */
	    {"migration_min_mbps", "100", "100\n"},
	    {"dscp_marking", "1\n", "1\n"},
	    {"speed_coordination", "0\n", "0\n"},
	    {"cycle_ms", "500\n", "500\n"},
	    {"report_interval_ms", "2000\n", "2000\n"},
	    {"log_level", "debug\n", "debug\n"},
	    {"libvirt_uri", "qemu+ssh://h/system\n", "qemu+ssh://h/system\n"},
	    {"libvirt_uri", "none\n", "none\n"},
	    {"mgmt_cidrs", "10.0.0.0/8\n192.168.1.7/24\nfd00::/8\n",
	     "10.0.0.0/8\n192.168.1.0/24\nfd00::/8\n"},
	    {"mgmt_cidrs", "10.1.0.0/16,10.2.0.0/16\n", "10.1.0.0/16\n10.2.0.0/16\n"},
	    /* A lone newline clears a list. */
	    {"mgmt_cidrs", "\n", "\n"},
	    {"mgmt_ports", "22,16509 8080\n", "22,16509,8080\n"},
	    {"mgmt_ports", "22\n16514\n", "22,16514\n"},
	    {"migration_ports", "49152-49300\n", "49152-49300\n"},
	    /* auto stays auto: the knob shows what was requested. */
	    {"link_mbps", "auto\n", "auto\n"},
	    {"migration_max_mbps", "auto\n", "auto\n"},
	    /* The choices, the current one bracketed, as sysfs shows them. */
	    {"policy", "fair\n", "srpt [fair] serial\n"},
	    {"policy", "srpt\n", "[srpt] fair serial\n"},
	    {"max_downtime_ms", "2000\n", "2000\n"},
	    {"escalation", "act\n", "act\n"},
	    {"escalation", "0\n", "off\n"},
	    {"suspend_allowed", "1\n", "1\n"},
	    {"migration_progress_timeout_s", "600\n", "600\n"},
	    {"downtime_step_ms", "1000\n", "1000\n"},
	    {"escalation_interval_ms", "2000\n", "2000\n"},
	    {"reassert_root_qdisc", "0\n", "0\n"},
	};
	char buf[4096];

	(void)state;
	fake_reset();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned int before = applies();
		__u64 accepted = ms_knobs_writes(knobs, true);
		int err = write_knob(cases[i].knob, cases[i].write);

		if (err)
			fail_msg("writing '%s' to %s: %s", cases[i].write, cases[i].knob,
				 strerror(err));
		assert_int_equal(applies(), before + 1);
		assert_int_equal(ms_knobs_writes(knobs, true), accepted + 1);
		read_knob(cases[i].knob, buf, sizeof(buf));
		if (strcmp(buf, cases[i].read) != 0)
			fail_msg("%s reads '%s' after writing '%s', want '%s'", cases[i].knob, buf,
				 cases[i].write, cases[i].read);
	}
	/* What is in force: auto resolved against the link speed, 5% below it. */
	read_knob("effective/link_mbps", buf, sizeof(buf));
	assert_string_equal(buf, "9500\n");
	read_knob("effective/migration_max_mbps", buf, sizeof(buf));
	assert_string_equal(buf, "6000\n");
	read_knob("effective/migration_min_mbps", buf, sizeof(buf));
	assert_string_equal(buf, "100\n");
	pthread_mutex_lock(&fake.lock);
	assert_false(fake.inconsistent_apply);
	assert_int_equal(fake.cfg.link_mbps, 0);
	assert_int_equal(fake.cfg.migration_min_mbps, 100);
	assert_int_equal(fake.cfg.migration_port_max, 49300);
	assert_true(fake.cfg.dscp_marking);
	pthread_mutex_unlock(&fake.lock);
}

static void test_invalid_writes_change_nothing(void **state)
{
	static const struct {
		const char *knob, *value;
		int err;
	} cases[] = {
	    {"migration_max_mbps", "abc\n", EINVAL},
	    /* A list cut off or with a hole is refused, not applied shorter. */
	    {"mgmt_ports", "22,\n", EINVAL},
	    {"mgmt_ports", "22,,54321\n", EINVAL},
	    {"mgmt_ports", ",22\n", EINVAL},
	    {"mgmt_cidrs", "10.0.0.0/8,\n", EINVAL},
	    {"migration_max_mbps", "-5\n", EINVAL},
	    {"migration_max_mbps", "+5\n", EINVAL},
	    {"migration_max_mbps", " 100\n", EINVAL},
	    {"migration_max_mbps", "100\n\n", EINVAL},
	    {"migration_max_mbps", "1e3\n", EINVAL},
	    {"migration_max_mbps", "99999999999999999999999\n", ERANGE},
	    {"migration_max_mbps", "0\n", ERANGE},
	    {"migration_max_mbps", "\n", EINVAL},
	    /* Cross-key: above the aggregate, above the link. */
	    {"migration_max_mbps", "8000\n", ERANGE},
	    {"migration_min_mbps", "6000\n", ERANGE},
	    {"migration_aggregate_mbps", "20000\n", ERANGE},
	    {"mgmt_reserve_mbps", "9000\n", ERANGE},
	    {"mgmt_reserve_mbps", "10000\n", ERANGE},
	    {"link_mbps", "5000\n", ERANGE},
	    {"link_mbps", "2000000\n", ERANGE},
	    {"dscp_marking", "2\n", ERANGE},
	    {"dscp_marking", "yes\n", EINVAL},
	    {"speed_coordination", "true\n", EINVAL},
	    {"cycle_ms", "10\n", ERANGE},
	    {"report_interval_ms", "0\n", ERANGE},
	    {"log_level", "loud\n", EINVAL},
	    {"policy", "fastest\n", EINVAL},
	    {"policy", "[srpt]\n", EINVAL},
	    {"max_downtime_ms", "100\n", ERANGE},
	    {"escalation", "2\n", EINVAL},
	    {"escalation", "always\n", EINVAL},
	    {"suspend_allowed", "maybe\n", EINVAL},
	    {"migration_progress_timeout_s", "5\n", ERANGE},
	    {"downtime_step_ms", "1\n", ERANGE},
	    {"escalation_interval_ms", "100\n", ERANGE},
	    {"reassert_root_qdisc", "2\n", ERANGE},
	    {"libvirt_uri", "not a uri\n", EINVAL},
	    {"libvirt_uri", "\n", EINVAL},
	    {"mgmt_cidrs", "10.0.0.300/8\n", EINVAL},
	    {"mgmt_cidrs", "10.0.0.0/33\n", ERANGE},
	    {"mgmt_cidrs", "10.0.0.0/8 bogus\n", EINVAL},
	    {"mgmt_ports", "0\n", ERANGE},
	    {"mgmt_ports", "http\n", EINVAL},
	    /* Inside the migration range. */
	    {"mgmt_ports", "22,49160\n", EINVAL},
	    {"migration_ports", "49215-49152\n", ERANGE},
	    {"migration_ports", "abc\n", EINVAL},
	    {"migration_ports", "1-70000\n", ERANGE},
	    {"migration_ports", "22-100\n", EINVAL},
	};
	char before[16384], after[16384];
	struct ms_config cfg_before;
	unsigned int applies_before;
	__u64 rejected;
	char *big;

	(void)state;
	fake_reset();
	snapshot(before, sizeof(before));
	pthread_mutex_lock(&fake.lock);
	cfg_before = fake.cfg;
	pthread_mutex_unlock(&fake.lock);
	applies_before = applies();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rejected = ms_knobs_writes(knobs, false);
		int err = write_knob(cases[i].knob, cases[i].value);

		if (err != cases[i].err)
			fail_msg("writing '%s' to %s: got %s, want %s", cases[i].value,
				 cases[i].knob, strerror(err), strerror(cases[i].err));
		assert_true(ms_knobs_writes(knobs, false) > rejected);
	}

	/* A NUL inside the value. */
	assert_int_equal(write_knob_raw("migration_max_mbps",
					"10\0"
					"0\n",
					5),
			 EINVAL);
	/*
	 * An empty write: the kernel passes no zero-length write on, so the
	 * open and close of `: > knob` (or write(fd, "", 0)) must change
	 * nothing; a lone newline is refused above.
	 */
	assert_int_equal(write_knob_raw("migration_max_mbps", "", 0), 0);
	{
		char path[256];
		int fd;

		knob_path("migration_max_mbps", path, sizeof(path));
		fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
		assert_true(fd >= 0);
		assert_int_equal(close(fd), 0);
		/* Not at offset 0: the value must come in one write. */
		fd = open(path, O_WRONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		assert_int_equal(pwrite(fd, "100\n", 4, 4), -1);
		assert_int_equal(errno, EINVAL);
		close(fd);
	}
	/* 1 MiB: far above the bound. */
	big = malloc(1 << 20);
	assert_non_null(big);
	memset(big, '1', 1 << 20);
	{
		int err = write_knob_raw("migration_max_mbps", big, 1 << 20);

		assert_true(err == EFBIG || err == EINVAL);
	}
	/* Just above the bound, and a valid-looking list far below it is fine. */
	memset(big, ' ', MS_KNOBS_WRITE_MAX);
	memcpy(big, "22", 2);
	assert_int_equal(write_knob_raw("mgmt_ports", big, MS_KNOBS_WRITE_MAX), EFBIG);
	free(big);

	assert_int_equal(applies(), applies_before);
	snapshot(after, sizeof(after));
	assert_string_equal(before, after);
	pthread_mutex_lock(&fake.lock);
	assert_memory_equal(&cfg_before, &fake.cfg, sizeof(cfg_before));
	pthread_mutex_unlock(&fake.lock);
}

/* bash's echo writes "a\nb" line by line: the list must end up with both. */
static void test_continued_writes(void **state)
{
	char path[256], buf[256], before[256];
	int fd;

	(void)state;
	fake_reset();
	knob_path("mgmt_cidrs", path, sizeof(path));
	/* A value in several writes (echo -e "a\nb") is applied as it grows. */
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "10.0.0.0/8\n", 11), 11);
	assert_int_equal(write(fd, "1.2.3.4/32\n", 11), 11);
	assert_int_equal(write(fd, "fd00::/8\n", 9), 9);
	assert_int_equal(close(fd), 0);
	assert_int_equal(applies(), 3);
	read_knob("mgmt_cidrs", buf, sizeof(buf));
	assert_string_equal(buf, "10.0.0.0/8\n1.2.3.4/32\nfd00::/8\n");

	/*
	 * A refused part refuses the whole write: what was in force before the
	 * open is put back (one more apply), and the open file cannot go on.
	 */
	read_knob("mgmt_cidrs", before, sizeof(before));
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "192.0.2.0/24\n", 13), 13);
	assert_int_equal(write(fd, "bogus\n", 6), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(write(fd, "198.51.100.0/24\n", 16), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(close(fd), 0);
	assert_int_equal(applies(), 5);
	read_knob("mgmt_cidrs", buf, sizeof(buf));
	assert_string_equal(buf, before);
}

static void test_apply_failure_is_returned(void **state)
{
	char before[16384], after[16384];

	(void)state;
	fake_reset();
	snapshot(before, sizeof(before));
	pthread_mutex_lock(&fake.lock);
	fake.fail_next = -EIO;
	pthread_mutex_unlock(&fake.lock);
	assert_int_equal(write_knob("migration_max_mbps", "3000\n"), EIO);
	assert_int_equal(applies(), 0);
	snapshot(after, sizeof(after));
	assert_string_equal(before, after);
	/* The next write goes through. */
	assert_int_equal(write_knob("migration_max_mbps", "3000\n"), 0);
	read_knob("migration_max_mbps", after, sizeof(after));
	assert_string_equal(after, "3000\n");
}

struct writer {
	pthread_t thread;
	unsigned int index;
	unsigned int failures;
	int last_err;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	char value[32], buf[64];

	for (unsigned int i = 0; i < WRITES_PER_WRITER; i++) {
		int err;

		/* Writer w writes 1000+w*100+i: distinct values, all valid. */
		snprintf(value, sizeof(value), "%u\n", 1000 + w->index * 100 + i);
		err = write_knob("migration_max_mbps", value);
		if (err) {
			w->failures++;
			w->last_err = err;
		}
		/* Readers never see a torn or empty value. */
		read_knob("migration_max_mbps", buf, sizeof(buf));
		if (atoi(buf) < 1000 || atoi(buf) >= 1000 + N_WRITERS * 100 ||
		    buf[strlen(buf) - 1] != '\n')
			w->failures++;
	}
	return NULL;
}

static void test_concurrent_writers(void **state)
{
	struct writer writers[N_WRITERS] = {};
	char buf[64], err[MS_CONFIG_ERR_LEN];
	struct ms_config cfg;
	unsigned int value;
	bool one_of_them = false;

	(void)state;
	fake_reset();
	for (unsigned int i = 0; i < N_WRITERS; i++) {
		writers[i].index = i;
		assert_int_equal(pthread_create(&writers[i].thread, NULL, writer_main, &writers[i]),
				 0);
	}
	for (unsigned int i = 0; i < N_WRITERS; i++) {
		pthread_join(writers[i].thread, NULL);
		if (writers[i].failures)
			fail_msg("writer %u: %u failures (last: %s)", i, writers[i].failures,
				 strerror(writers[i].last_err));
	}
	assert_int_equal(applies(), N_WRITERS * WRITES_PER_WRITER);
	read_knob("migration_max_mbps", buf, sizeof(buf));
	value = (unsigned int)atoi(buf);
	for (unsigned int w = 0; w < N_WRITERS; w++)
		one_of_them |= value == 1000 + w * 100 + WRITES_PER_WRITER - 1;
	assert_true(one_of_them);
	pthread_mutex_lock(&fake.lock);
	cfg = fake.cfg;
	assert_false(fake.inconsistent_apply);
	pthread_mutex_unlock(&fake.lock);
	assert_int_equal(cfg.migration_max_mbps, value);
	assert_int_equal(ms_config_resolve(&cfg, LINK_SPEED, err, sizeof(err)), 0);
}

static void test_concurrent_processes(void **state)
{
	pid_t pids[N_WRITERS];
	char buf[64];
	unsigned int value;

	(void)state;
	fake_reset();
	for (unsigned int w = 0; w < N_WRITERS; w++) {
		pids[w] = fork();
		assert_true(pids[w] >= 0);
		if (pids[w] == 0) {
			int bad = 0;

			for (unsigned int i = 0; i < 10; i++) {
				char v[32];

				snprintf(v, sizeof(v), "%u\n", 300 + w * 10 + i);
				bad |= write_knob("migration_min_mbps", v) != 0;
			}
			_exit(bad);
		}
	}
	for (unsigned int w = 0; w < N_WRITERS; w++) {
		int status;

		assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(applies(), N_WRITERS * 10);
	read_knob("migration_min_mbps", buf, sizeof(buf));
	value = (unsigned int)atoi(buf);
	assert_true(value == 309 || value == 319 || value == 329 || value == 339);
}

static void test_migrations_and_stats(void **state)
{
	static const struct {
		const char *path, *text;
	} want[] = {
	    {"migrations/vm-a/class", "mig:0\n"},
	    {"migrations/vm-a/rate_mbps", "500\n"},
	    {"migrations/vm-a/libvirt_speed_mibs", "55\n"},
	    {"migrations/vm-a/remaining_bytes", "123456789\n"},
	    {"migrations/vm-a/dirty_rate_bps", "409600\n"},
	    {"migrations/vm-a/iteration", "3\n"},
	    {"migrations/vm-a/state", "migrating\n"},
	    {"migrations/vm-a/direction", "outgoing\n"},
	    {"migrations/vm-b/class", "none\n"},
	    {"migrations/vm-b/remaining_bytes", "unknown\n"},
	    {"migrations/vm-b/direction", "incoming\n"},
	    {"migrations/0c0d0000-0000-0000-0000-000000000000/class", "mig:1\n"},
	    {"stats/mgmt/bytes", "16001\n"},
	    {"stats/mgmt/packets", "162\n"},
	    {"stats/mgmt/drops", "19\n"},
	    {"stats/default/bytes", "48001\n"},
	    {"stats/mig:0/packets", "2562\n"},
	};
	static const char *const want_classes[] = {"mgmt",    "aggregate", "unattributed",
						   "default", "mig:0",	   "mig:1"};
	char path[256], buf[256];
	struct dirent *de;
	size_t n = 0;
	struct stat st;
	DIR *dir;

	(void)state;
	fake_reset();
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		ssize_t len;

		knob_path(want[i].path, path, sizeof(path));
		len = read_path(path, buf, sizeof(buf));
		if (len < 0)
			fail_msg("reading %s: %s", path, strerror((int)-len));
		if (strcmp(buf, want[i].text) != 0)
			fail_msg("%s reads '%s', want '%s'", want[i].path, buf, want[i].text);
	}

	knob_path("stats", path, sizeof(path));
	dir = opendir(path);
	assert_non_null(dir);
	while ((de = readdir(dir))) {
		bool known = false;

		if (de->d_name[0] == '.')
			continue;
		for (size_t i = 0; i < sizeof(want_classes) / sizeof(want_classes[0]); i++)
			known |= strcmp(de->d_name, want_classes[i]) == 0;
		if (!known)
			fail_msg("unexpected class %s", de->d_name);
		n++;
	}
	closedir(dir);
	assert_int_equal(n, sizeof(want_classes) / sizeof(want_classes[0]));
	/* Only the canonical spelling, only existing classes. */
	knob_path("stats/mig:00", path, sizeof(path));
	assert_int_equal(stat(path, &st), -1);
	knob_path("stats/mig:7", path, sizeof(path));
	assert_int_equal(stat(path, &st), -1);
	knob_path("stats/link", path, sizeof(path));
	assert_int_equal(stat(path, &st), -1);

	knob_path("migrations", path, sizeof(path));
	dir = opendir(path);
	assert_non_null(dir);
	n = 0;
	while ((de = readdir(dir)))
		n += de->d_name[0] != '.';
	closedir(dir);
	assert_int_equal(n, 3);

	/* A migration that ends disappears, with its class. */
	pthread_mutex_lock(&fake.lock);
	ms_mig_remove(&fake.table, &fake.table.entries[0]);
	pthread_mutex_unlock(&fake.lock);
	knob_path("migrations/vm-a", path, sizeof(path));
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
	knob_path("stats/mig:0", path, sizeof(path));
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static void test_second_mount_refused(void **state)
{
	struct ms_knobs *other = NULL;
	struct ms_loop *l2 = NULL;

	(void)state;
	assert_int_equal(ms_loop_new(&l2), 0);
	/* The live tree is not replaced. */
	assert_int_equal(ms_knobs_start(l2, mount_root, IFNAME, &fake_ops, &fake, &other), -EBUSY);
	assert_null(other);
	assert_int_equal(ms_knobs_start(l2, mount_root, "../x", &fake_ops, &fake, &other), -EINVAL);
	assert_int_equal(ms_knobs_start(l2, mount_root, "", &fake_ops, &fake, &other), -EINVAL);
	ms_loop_free(l2);
}

static bool mounted_at(const char *path)
{
	char line[1024], needle[256];
	bool found = false;
	FILE *f = fopen("/proc/self/mounts", "re");

	if (!f)
		fail_msg("cannot read /proc/self/mounts");
	snprintf(needle, sizeof(needle), " %s ", path);
	while (fgets(line, sizeof(line), f))
		found |= strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* An agent that died leaves a dead mount; the next one replaces it. */
static void test_stale_mount_replaced(void **state)
{
	char stale[256];
	struct ms_knobs *k2 = NULL;
	struct ms_loop *l2 = NULL;
	struct stat st;
	int status;
	pid_t pid;

	(void)state;
	snprintf(stale, sizeof(stale), "%s/%s", mount_root, STALE_IFNAME);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ms_loop *cl = NULL;
		struct ms_knobs *ck = NULL;

		if (ms_loop_new(&cl) ||
		    ms_knobs_start(cl, mount_root, STALE_IFNAME, &fake_ops, &fake, &ck))
			_exit(1);
		raise(SIGKILL);
		_exit(2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_true(mounted_at(stale));
	assert_int_equal(stat(stale, &st), -1);
	assert_int_equal(errno, ENOTCONN);

	assert_int_equal(ms_loop_new(&l2), 0);
	assert_int_equal(ms_knobs_start(l2, mount_root, STALE_IFNAME, &fake_ops, &fake, &k2), 0);
	assert_true(mounted_at(stale));
	ms_knobs_stop(k2);
	ms_loop_free(l2);
	assert_false(mounted_at(stale));
	assert_int_equal(stat(stale, &st), -1);
	assert_int_equal(errno, ENOENT);
}

/* Last: stopping removes the mount and the directory. */
/* Open knob files are bounded: one more gets ENFILE, counted; a close frees a place. */
static void test_open_files_bounded(void **state)
{
	struct rlimit rl;
	char path[256];
	int *fds, fd = -1;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < MS_KNOBS_OPEN_MAX + 64) {
		rl.rlim_cur = MS_KNOBS_OPEN_MAX + 64;
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	fds = calloc(MS_KNOBS_OPEN_MAX, sizeof(*fds));
	assert_non_null(fds);
	snprintf(path, sizeof(path), "%s/cycle_ms", mnt);
	for (unsigned int i = 0; i < MS_KNOBS_OPEN_MAX; i++) {
		fds[i] = open(path, O_RDONLY);
		assert_true(fds[i] >= 0);
	}
	assert_int_equal(open(path, O_RDONLY), -1);
	assert_int_equal(errno, ENFILE);
	assert_int_equal(ms_knobs_open_refused(knobs), 1);
	close(fds[0]);
	/* The kernel sends RELEASE after close() returns: wait for it, bounded. */
	for (int tries = 0; tries < 500 && fd < 0; tries++) {
		fd = open(path, O_RDONLY);
		if (fd < 0) {
			assert_int_equal(errno, ENFILE);
			usleep(10000);
		}
	}
	assert_true(fd >= 0);
	close(fd);
	for (unsigned int i = 1; i < MS_KNOBS_OPEN_MAX; i++)
		close(fds[i]);
	free(fds);
}

static void test_stop_unmounts(void **state)
{
	struct stat st;

	(void)state;
	assert_true(mounted_at(mnt));
	stop_server();
	ms_knobs_stop(knobs);
	knobs = NULL;
	assert_false(mounted_at(mnt));
	assert_int_equal(stat(mnt, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static int skip_run(const char *why)
{
	printf("test_knobs: skipped: %s\n", why);
	return 77;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_layout_and_modes),
	    cmocka_unit_test(test_read_every_knob),
	    cmocka_unit_test(test_write_every_knob),
	    cmocka_unit_test(test_invalid_writes_change_nothing),
	    cmocka_unit_test(test_continued_writes),
	    cmocka_unit_test(test_apply_failure_is_returned),
	    cmocka_unit_test(test_concurrent_writers),
	    cmocka_unit_test(test_concurrent_processes),
	    cmocka_unit_test(test_migrations_and_stats),
	    cmocka_unit_test(test_second_mount_refused),
	    cmocka_unit_test(test_stale_mount_replaced),
	    cmocka_unit_test(test_open_files_bounded),
	    cmocka_unit_test(test_stop_unmounts),
	};

	if (geteuid() != 0)
		return skip_run("needs root");
	if (access("/dev/fuse", R_OK | W_OK) != 0)
		return skip_run("no /dev/fuse");
	signal(SIGALRM, on_alarm);
	alarm(TEST_TIMEOUT_S);
	/* Rejections are logged at warn; the test checks errnos, not the log. */
	ms_log_set_level(MS_LOG_ERROR);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
