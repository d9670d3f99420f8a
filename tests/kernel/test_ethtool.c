// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * agent/link/ethtool.c against the real kernel, in a private network namespace:
 * a veth pair (10000 Mb/s), a bridge (the speed of its ports that are up), a
 * tap whose speed `ethtool -s` sets, and lo (no link settings). Every answer
 * is checked against what the ethtool CLI prints for the same interface.
 * Needs root, veth, bridge, /dev/net/tun and ethtool; exits 77 (skip)
 * without them.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "ethtool.h"

#define VETH	"msva"
#define PEER	"msvb"
#define BRIDGE	"msbr"
#define TAP	"mstap"
#define POLL_MS 5000

static void sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc != 0)
		fail_msg("'%s' exited %d", cmd, rc);
}

static int ifindex_of(const char *name)
{
	int ifindex = (int)if_nametoindex(name);

	if (!ifindex)
		fail_msg("no interface %s", name);
	return ifindex;
}

/*
 * What ms_ethtool_speed_mbps() should say, from the CLI: a speed, "Unknown!"
 * (-ENODATA), or no Speed line at all (-EOPNOTSUPP).
 */
static int cli_speed_mbps(const char *ifname, __u32 *mbps)
{
	char cmd[128], line[256];
	unsigned int speed;
	int ret = -EOPNOTSUPP;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "ethtool %s 2>/dev/null", ifname);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "Speed: Unknown"))
			ret = -ENODATA;
		else if (sscanf(line, " Speed: %uMb/s", &speed) == 1) {
			*mbps = speed;
			ret = 0;
		}
	}
	pclose(f);
	return ret;
}

/* ms_ethtool_speed_mbps() agrees with the CLI and says want (a speed or -errno). */
static void expect_speed(struct ms_ethtool *e, const char *ifname, long long want)
{
	__u32 mbps = 0, cli_mbps = 0;
	int ret = ms_ethtool_speed_mbps(e, ifindex_of(ifname), &mbps);
	int cli = cli_speed_mbps(ifname, &cli_mbps);

	if (want >= 0) {
		assert_int_equal(ret, 0);
		assert_int_equal(mbps, want);
	} else {
		assert_int_equal(ret, want);
	}
	assert_int_equal(ret, cli);
	if (!ret)
		assert_int_equal(mbps, cli_mbps);
}

static void wait_readable(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	assert_int_equal(poll(&pfd, 1, POLL_MS), 1);
}

/* Reads what the monitor has queued, so a test starts from nothing. */
static void drain(struct ms_ethtool *e)
{
	assert_true(ms_ethtool_dispatch(e, ifindex_of(TAP)) >= 0);
}

static void test_veth(void **state)
{
	expect_speed(*state, VETH, 10000);
	expect_speed(*state, PEER, 10000);
}

static void test_no_link_settings(void **state)
{
	expect_speed(*state, "lo", -EOPNOTSUPP);
}

static void test_bad_ifindex(void **state)
{
	struct ms_ethtool *e = *state;
	char name[IF_NAMESIZE];
	__u32 mbps = 12345;
	int unused = 1000;

	while (if_indextoname((unsigned int)unused, name))
		unused++;
	assert_int_equal(ms_ethtool_speed_mbps(e, unused, &mbps), -ENODEV);
	assert_int_equal(ms_ethtool_speed_mbps(e, 0, &mbps), -EINVAL);
	assert_int_equal(ms_ethtool_speed_mbps(e, -1, &mbps), -EINVAL);
	assert_int_equal(mbps, 12345);
	/* The socket is still good after errors. */
	expect_speed(e, VETH, 10000);
}

/* A bridge reports the speed of its fastest port that is up, unknown without one. */
static void test_bridge_follows_its_ports(void **state)
{
	struct ms_ethtool *e = *state;

	expect_speed(e, BRIDGE, -ENODATA);
	sh("ip link set " PEER " master " BRIDGE);
	expect_speed(e, BRIDGE, 10000);
	sh("ip link set " PEER " down");
	expect_speed(e, BRIDGE, -ENODATA);
	sh("ip link set " PEER " up && ip link set " PEER " nomaster");
	expect_speed(e, BRIDGE, -ENODATA);
}

static void test_monitor_sees_speed_set(void **state)
{
	struct ms_ethtool *e = *state;

	drain(e);
	assert_int_equal(ms_ethtool_dispatch(e, ifindex_of(TAP)), 0);

	sh("ethtool -s " TAP " speed 25000 duplex full autoneg off");
	wait_readable(ms_ethtool_fd(e));
	assert_int_equal(ms_ethtool_dispatch(e, ifindex_of(TAP)), 1);
	expect_speed(e, TAP, 25000);

	/* Another interface's announcement is not ours. */
	sh("ethtool -s " TAP " speed 1000");
	wait_readable(ms_ethtool_fd(e));
	assert_int_equal(ms_ethtool_dispatch(e, ifindex_of(VETH)), 0);
	expect_speed(e, TAP, 1000);
}

/* Announcements lost to a full socket count as a change of every interface. */
static void test_monitor_lost(void **state)
{
	struct ms_ethtool *e = *state;
	int rcvbuf = 1; /* the kernel rounds it up to its minimum */

	drain(e);
	assert_int_equal(
	    setsockopt(ms_ethtool_fd(e), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
	for (int i = 0; i < 8; i++)
		sh("ethtool -s " TAP " speed %d", i % 2 ? 1000 : 10000);
	assert_int_equal(ms_ethtool_dispatch(e, ifindex_of(VETH)), 1);
	assert_int_equal(ms_ethtool_dispatch(e, ifindex_of(VETH)), 0);
}

static int setup(void **state)
{
	struct ms_ethtool *e;

	if (ms_ethtool_open(&e))
		return -1;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	ms_ethtool_close(*state);
	return 0;
}

static int skip_run(const char *why)
{
	printf("test_ethtool: skipped: %s\n", why);
	return 77;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_veth, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_link_settings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_ifindex, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bridge_follows_its_ports, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_monitor_sees_speed_set, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_monitor_lost, setup, teardown),
	};

	if (geteuid() != 0)
		return skip_run("needs root");
	if (system("command -v ethtool >/dev/null") != 0)
		return skip_run("no ethtool (scripts/deps.sh installs it)");
	if (unshare(CLONE_NEWNET) != 0)
		return skip_run("cannot create a network namespace");
	if (system("ip link set lo up && ip link add " VETH " type veth peer name " PEER
		   " && ip link set " VETH " up && ip link set " PEER " up") != 0)
		return skip_run("cannot create a veth pair");
	if (system("ip link add " BRIDGE " type bridge && ip link set " BRIDGE " up") != 0)
		return skip_run("cannot create a bridge");
	if (system("ip tuntap add " TAP " mode tap") != 0)
		return skip_run("cannot create a tap (/dev/net/tun)");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
