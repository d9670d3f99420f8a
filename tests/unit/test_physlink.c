// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * agent/link/physlink.c over recorded RTM_GETLINK data and ethtool speeds:
 * bonds (active-backup and its failover, 802.3ad, balance-rr, broadcast), a
 * VLAN over a bond, a macvlan, a bridge over a NIC and guest taps, and the
 * cases with no trustworthy speed (a lone veth, a bridge of taps, a NIC
 * without carrier, a lower device in another namespace), which are refused
 * with a message that says to set link_mbps. This kernel has no bonding and
 * no 802.1Q driver, so these stacks exist here only as data.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <linux/if_arp.h>
#include <linux/if_bonding.h>

#include "physlink.h"

#define MAX_DEVS 16

/* A recorded namespace: the links, and the speed ethtool gave for each (0: none). */
struct recording {
	struct ms_physlink_dev devs[MAX_DEVS];
	__u32 speed_mbps[MAX_DEVS];
	size_t n;
	int snapshot_err;
};

static int rec_snapshot(void *ctx, struct ms_physlink_dev **devs, size_t *n)
{
	struct recording *rec = ctx;

	if (rec->snapshot_err)
		return rec->snapshot_err;
	*devs = calloc(MAX_DEVS, sizeof(**devs));
	if (!*devs)
		return -ENOMEM;
	memcpy(*devs, rec->devs, rec->n * sizeof(**devs));
	*n = rec->n;
	return 0;
}

static int rec_speed(void *ctx, int ifindex, __u32 *mbps)
{
	struct recording *rec = ctx;
	size_t i;

	for (i = 0; i < rec->n; i++) {
		if (rec->devs[i].ifindex != ifindex)
			continue;
		if (!rec->speed_mbps[i])
			return -ENODATA;
		*mbps = rec->speed_mbps[i];
		return 0;
	}
	return -ENODEV;
}

static const struct ms_physlink_reader rec_reader = {
    .snapshot = rec_snapshot,
    .speed_mbps = rec_speed,
};

/* Adds a link as RTM_GETLINK reports it; returns it for the bond fields. */
static struct ms_physlink_dev *add(struct recording *rec, const char *name, const char *kind,
				   int master, int link, __u32 speed_mbps)
{
	struct ms_physlink_dev *d = &rec->devs[rec->n];

	assert_true(rec->n < MAX_DEVS);
	*d = (struct ms_physlink_dev){
	    .ifindex = (int)rec->n + 1,
	    .type = ARPHRD_ETHER,
	    .master = master,
	    .link = link,
	    .carrier = true,
	};
	strcpy(d->name, name);
	strcpy(d->kind, kind);
	rec->speed_mbps[rec->n] = speed_mbps;
	rec->n++;
	return d;
}

static int derive(struct recording *rec, const char *ifname, struct ms_physlink_speed *s, char *why,
		  size_t why_len)
{
	memset(s, 0, sizeof(*s));
	return ms_physlink_derive(&rec_reader, rec, ifname, s, why, why_len);
}

static bool depends_on(const struct ms_physlink_speed *s, int ifindex)
{
	size_t i;

	for (i = 0; i < s->n_devs; i++)
		if (s->devs[i] == ifindex)
			return true;
	return false;
}

static void assert_refused(struct recording *rec, const char *ifname, const char *reason)
{
	struct ms_physlink_speed s;
	char why[512];

	assert_int_equal(derive(rec, ifname, &s, why, sizeof(why)), -ENODATA);
	assert_non_null(strstr(why, "set link_mbps"));
	assert_non_null(strstr(why, reason));
	assert_int_equal(s.link_mbps, 0);
}

/* bond0 (active-backup) over eth0 10G and eth1 1G; ifindex 1 lo-like is absent. */
static void active_backup(struct recording *rec)
{
	struct ms_physlink_dev *bond;

	memset(rec, 0, sizeof(*rec));
	bond = add(rec, "bond0", "bond", 0, 0, 11000);
	bond->bond_mode = BOND_MODE_ACTIVEBACKUP;
	add(rec, "eth0", "", 1, 0, 10000)->slave_active = true;
	add(rec, "eth1", "", 1, 0, 1000);
	bond->bond_active = 2;
}

static void test_active_backup_follows_failover(void **state)
{
	struct ms_physlink_speed s;
	struct recording rec;
	char why[256];

	(void)state;
	active_backup(&rec);
	assert_int_equal(derive(&rec, "bond0", &s, why, sizeof(why)), 0);
	assert_int_equal(s.link_mbps, 10000);
	assert_int_equal(s.flow_max_mbps, 10000);
	assert_non_null(strstr(why, "eth0"));
	assert_true(depends_on(&s, 1) && depends_on(&s, 2));

	/* eth0 loses its carrier; the bond makes eth1 active. */
	rec.devs[1].carrier = false;
	rec.devs[1].slave_active = false;
	rec.devs[2].slave_active = true;
	rec.devs[0].bond_active = 3;
	assert_int_equal(derive(&rec, "bond0", &s, why, sizeof(why)), 0);
	assert_int_equal(s.link_mbps, 1000);
	assert_true(depends_on(&s, 3));

	/* Without IFLA_BOND_ACTIVE_SLAVE the slave's own state tells. */
	rec.devs[0].bond_active = 0;
	assert_int_equal(derive(&rec, "bond0", &s, why, sizeof(why)), 0);
	assert_int_equal(s.link_mbps, 1000);

	/* No active slave at all. */
	rec.devs[2].slave_active = false;
	assert_refused(&rec, "bond0", "no active slave");
}

static void test_8023ad_sums_active_slaves(void **state)
{
	struct ms_physlink_dev *bond;
	struct ms_physlink_speed s;
	struct recording rec = {0};
	char why[256];

	(void)state;
	bond = add(&rec, "bond0", "bond", 0, 0, 0);
	bond->bond_mode = BOND_MODE_8023AD;
	add(&rec, "eth0", "", 1, 0, 10000)->slave_active = true;
	add(&rec, "eth1", "", 1, 0, 10000)->slave_active = true;
	add(&rec, "eth2", "", 1, 0, 25000); /* in another aggregator: backup */
	assert_int_equal(derive(&rec, "bond0", &s, why, sizeof(why)), 0);
	assert_int_equal(s.link_mbps, 20000);
	/* One flow is hashed onto one slave. */
	assert_int_equal(s.flow_max_mbps, 10000);
	assert_true(depends_on(&s, 4));

	/* A slave that loses its carrier no longer counts. */
	rec.devs[2].carrier = false;
	assert_int_equal(derive(&rec, "bond0", &s, why, sizeof(why)), 0);
	assert_int_equal(s.link_mbps, 10000);

	/* balance-rr stripes one flow over every slave. */
	rec.devs[2].carrier = true;
	rec.devs[0].bond_mode = BOND_MODE_ROUNDROBIN;
	assert_int_equal(derive(&rec, "bond0", &s, why, sizeof(why)), 0);
	assert_int_equal(s.link_mbps, 20000);
	assert_int_equal(s.flow_max_mbps, 20000);

	/* broadcast sends everything on each: the slowest bounds it. */
	rec.speed_mbps[2] = 1000;
	rec.devs[0].bond_mode = BOND_MODE_BROADCAST;
	assert_int_equal(derive(&rec, "bond0", &s, why, sizeof(why)), 0);
	assert_int_equal(s.link_mbps, 1000);
}

static void test_vlan_over_bond(void **state)
{
	struct ms_physlink_speed s;
	struct recording rec;
	char why[256];

	(void)state;
	active_backup(&rec);
	add(&rec, "bond0.42", "vlan", 0, 1, 10000);
	/* A bridge on the VLAN, as oVirt builds ovirtmgmt, with a guest's tap. */
	rec.devs[3].master = 5;
	add(&rec, "ovirtmgmt", "bridge", 0, 0, 10000);
	add(&rec, "vnet0", "tun", 5, 0, 10000);
	assert_int_equal(derive(&rec, "bond0.42", &s, why, sizeof(why)), 0);
	assert_int_equal(s.link_mbps, 10000);
	assert_int_equal(derive(&rec, "ovirtmgmt", &s, why, sizeof(why)), 0);
	assert_int_equal(s.link_mbps, 10000);
	assert_true(depends_on(&s, 5) && depends_on(&s, 4) && depends_on(&s, 1));

	/* Failover to the 1G slave shows through the VLAN and the bridge. */
	rec.devs[0].bond_active = 3;
	assert_int_equal(derive(&rec, "ovirtmgmt", &s, why, sizeof(why)), 0);
	assert_int_equal(s.link_mbps, 1000);
	assert_non_null(strstr(why, "eth1 1000"));

	/* A VLAN whose lower device is in another namespace. */
	rec.devs[3].link = -1;
	assert_refused(&rec, "bond0.42", "another network namespace");
}

static void test_bridge_takes_the_physical_port(void **state)
{
	struct ms_physlink_speed s;
	struct recording rec = {0};
	char why[512];

	(void)state;
	add(&rec, "br0", "bridge", 0, 0, 10000);
	add(&rec, "vnet0", "tun", 1, 0, 10000);
	add(&rec, "eno1", "", 1, 0, 1000);
	add(&rec, "veth-g", "veth", 1, 0, 10000);
	add(&rec, "vnet1", "tun", 1, 0, 10000);
	assert_int_equal(derive(&rec, "br0", &s, why, sizeof(why)), 0);
	assert_int_equal(s.link_mbps, 1000);
	assert_non_null(strstr(why, "eno1 1000"));
	assert_non_null(strstr(why, "vnet0 is a tun"));

	/* Two uplinks: either may carry the migration, so the slower one. */
	add(&rec, "eno2", "", 1, 0, 10000);
	assert_int_equal(derive(&rec, "br0", &s, why, sizeof(why)), 0);
	assert_int_equal(s.link_mbps, 1000);

	/* A tap whose speed an admin set stands for a link (the lab's uplink). */
	rec.devs[5].master = 0;
	rec.devs[2].master = 0;
	rec.speed_mbps[1] = 2500;
	assert_int_equal(derive(&rec, "br0", &s, why, sizeof(why)), 0);
	assert_int_equal(s.link_mbps, 2500);

	/* The uplink loses its carrier: only guests' ports remain. */
	rec.speed_mbps[1] = 10000;
	rec.devs[2].master = 1;
	rec.devs[2].carrier = false;
	assert_refused(&rec, "br0", "eno1 has no carrier");
}

static void test_refused_without_a_physical_link(void **state)
{
	struct ms_physlink_speed s;
	struct recording rec = {0};
	char why[512];

	(void)state;
	add(&rec, "veth0", "veth", 0, 7, 10000);
	assert_refused(&rec, "veth0", "veth0 is a veth at the driver's default 10000");

	add(&rec, "br1", "bridge", 0, 0, 10000);
	add(&rec, "tap0", "tun", 2, 0, 10000);
	add(&rec, "tap1", "tun", 2, 0, 10000);
	assert_refused(&rec, "br1", "bridge br1 has no port");

	add(&rec, "br2", "bridge", 0, 0, 0);
	assert_refused(&rec, "br2", "bridge br2 has no port");

	add(&rec, "dummy0", "dummy", 0, 0, 0);
	assert_refused(&rec, "dummy0", "dummy0 is a dummy device");

	/* A NIC that knows no speed (ethtool "Unknown!"). */
	add(&rec, "eth9", "", 0, 0, 0);
	assert_refused(&rec, "eth9", "eth9 reports no speed");

	/* A macvlan follows its lower device. */
	add(&rec, "eth8", "", 0, 0, 1000);
	add(&rec, "mv0", "macvlan", 0, 8, 10000);
	assert_int_equal(derive(&rec, "mv0", &s, why, sizeof(why)), 0);
	assert_int_equal(s.link_mbps, 1000);

	assert_int_equal(derive(&rec, "nosuch", &s, why, sizeof(why)), -ENODEV);
	rec.snapshot_err = -ETIMEDOUT;
	assert_int_equal(derive(&rec, "mv0", &s, why, sizeof(why)), -ETIMEDOUT);
}

/* A loop in recorded data (a bond enslaved to itself) ends, with an error. */
static void test_loop_ends(void **state)
{
	struct ms_physlink_speed s;
	struct recording rec = {0};
	char why[256];

	(void)state;
	add(&rec, "v1", "vlan", 0, 2, 0);
	add(&rec, "v2", "vlan", 0, 1, 0);
	assert_int_equal(derive(&rec, "v1", &s, why, sizeof(why)), -ELOOP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_active_backup_follows_failover),
	    cmocka_unit_test(test_8023ad_sums_active_slaves),
	    cmocka_unit_test(test_vlan_over_bond),
	    cmocka_unit_test(test_bridge_takes_the_physical_port),
	    cmocka_unit_test(test_refused_without_a_physical_link),
	    cmocka_unit_test(test_loop_ends),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
