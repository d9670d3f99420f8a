// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * agent/link/physlink.c against the real kernel, in a private network
 * namespace: a bridge as a hypervisor has one, with an uplink (a tap whose
 * speed `ethtool -s` sets to 1000 Mb/s, standing for the physical port) and
 * two guests' ports (a tap and a veth, 10000 Mb/s each by default). The
 * bridge's own ethtool speed is the fastest port's, 10000; the derivation
 * must say 1000, follow the uplink's speed, and refuse when only guests'
 * ports are left, and a lone veth.
 * Needs root, veth, bridge, /dev/net/tun and ethtool; exits 77 (skip)
 * without them.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <cmocka.h>
#include <linux/if_tun.h>

#include "ethtool.h"
#include "physlink.h"

#define BRIDGE	   "msplbr"
#define UPLINK	   "msplup"
#define GUEST_TAP  "msplg1"
#define GUEST_VETH "msplg2"
#define GUEST_PEER "msplg2p"
#define LONE_VETH  "msplv"
#define LONE_PEER  "msplvp"

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

/* A tap has carrier only while a process holds it open, as QEMU does. */
static int attach_tap(const char *name)
{
	struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI};
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void test_bridge_shaped_to_its_uplink(void **state)
{
	struct ms_physlink_speed s = {0};
	struct ms_ethtool *e;
	__u32 bridge_mbps = 0, mbps = 0;
	char why[512];
	size_t i;
	bool has_uplink = false;

	(void)state;
	/* What link_mbps = auto took before: the fastest port, a guest's. */
	assert_int_equal(ms_ethtool_open(&e), 0);
	assert_int_equal(ms_ethtool_speed_mbps(e, (int)if_nametoindex(BRIDGE), &bridge_mbps), 0);
	ms_ethtool_close(e);
	assert_int_equal(bridge_mbps, 10000);

	assert_int_equal(ms_physlink_derive_system(BRIDGE, &s, why, sizeof(why)), 0);
	print_message("%s\n", why);
	assert_int_equal(s.link_mbps, 1000);
	assert_int_equal(s.flow_max_mbps, 1000);
	for (i = 0; i < s.n_devs; i++)
		has_uplink |= s.devs[i] == (int)if_nametoindex(UPLINK);
	assert_true(has_uplink);
	assert_non_null(strstr(why, UPLINK " 1000"));
	assert_non_null(strstr(why, GUEST_TAP " is a tun"));

	sh("ethtool -s " UPLINK " speed 2500 duplex full autoneg off");
	assert_int_equal(ms_physlink_speed_mbps(BRIDGE, &mbps, why, sizeof(why)), 0);
	assert_int_equal(mbps, 2500);
	sh("ethtool -s " UPLINK " speed 1000 duplex full autoneg off");
}

static void test_bridge_of_guests_refused(void **state)
{
	__u32 mbps = 12345;
	char why[512];

	(void)state;
	sh("ip link set " UPLINK " nomaster");
	assert_int_equal(ms_physlink_speed_mbps(BRIDGE, &mbps, why, sizeof(why)), -ENODATA);
	print_message("%s\n", why);
	assert_non_null(strstr(why, "set link_mbps"));
	assert_int_equal(mbps, 12345);
	sh("ip link set " UPLINK " master " BRIDGE);
	assert_int_equal(ms_physlink_speed_mbps(BRIDGE, &mbps, why, sizeof(why)), 0);
	assert_int_equal(mbps, 1000);
}

static void test_lone_veth_refused(void **state)
{
	__u32 mbps = 0;
	char why[512];

	(void)state;
	assert_int_equal(ms_physlink_speed_mbps(LONE_VETH, &mbps, why, sizeof(why)), -ENODATA);
	print_message("%s\n", why);
	assert_non_null(strstr(why, LONE_VETH " is a veth"));
	assert_non_null(strstr(why, "set link_mbps"));
	assert_int_equal(ms_physlink_speed_mbps("msplnone", &mbps, why, sizeof(why)), -ENODEV);
}

static int skip_run(const char *why)
{
	printf("test_physlink: skipped: %s\n", why);
	return 77;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bridge_shaped_to_its_uplink),
	    cmocka_unit_test(test_bridge_of_guests_refused),
	    cmocka_unit_test(test_lone_veth_refused),
	};
	int uplink_fd, guest_fd, ret;

	if (geteuid() != 0)
		return skip_run("needs root");
	if (system("command -v ethtool >/dev/null") != 0)
		return skip_run("no ethtool (scripts/deps.sh installs it)");
	if (unshare(CLONE_NEWNET) != 0)
		return skip_run("cannot create a network namespace");
	if (system("ip link set lo up && ip link add " BRIDGE " type bridge && ip link set " BRIDGE
		   " up") != 0)
		return skip_run("cannot create a bridge");
	if (system("ip tuntap add " UPLINK " mode tap && ip tuntap add " GUEST_TAP " mode tap") !=
	    0)
		return skip_run("cannot create taps (/dev/net/tun)");
	if (system("ip link add " GUEST_VETH " type veth peer name " GUEST_PEER
		   " && ip link add " LONE_VETH " type veth peer name " LONE_PEER) != 0)
		return skip_run("cannot create veth pairs");
	uplink_fd = attach_tap(UPLINK);
	guest_fd = attach_tap(GUEST_TAP);
	if (uplink_fd < 0 || guest_fd < 0)
		return skip_run("cannot attach to the taps");
	if (system("ethtool -s " UPLINK " speed 1000 duplex full autoneg off") != 0)
		return skip_run("ethtool -s cannot set a tap's speed");
	if (system("for i in " UPLINK " " GUEST_TAP " " GUEST_VETH
		   "; do ip link set $i master " BRIDGE " up || exit 1; done; for i in " GUEST_PEER
		   " " LONE_VETH " " LONE_PEER "; do ip link set $i up || exit 1; done") != 0)
		return skip_run("cannot build the bridge");
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	close(uplink_fd);
	close(guest_fd);
	return ret;
}
