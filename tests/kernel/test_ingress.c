// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * tc/ingress.c against the real kernel, in a private network namespace with
 * a veth pair: frames injected on the peer arrive on DEV's ingress, and the
 * IFB class's counters say which of them the backstop took. Needs root;
 * exits 77 (skip) without it, 1 under CI=true.
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <cmocka.h>

#include "ingress.h"
#include "log.h"

#define MBIT 1000000ULL
#define DEV  "msia"
#define PEER "msib"

static int ifindex, peer_ifindex;
static unsigned char dev_mac[ETH_ALEN];
static const __u16 mgmt_ports[] = {22, 16509, 54321};

static struct ms_ingress_params base_params(void)
{
	return (struct ms_ingress_params){
	    .ifindex = ifindex,
	    .cap_bps = 300 * MBIT,
	    .migration_port_min = 49152,
	    .migration_port_max = 49215,
	    .mgmt_ports = mgmt_ports,
	    .n_mgmt_ports = sizeof(mgmt_ports) / sizeof(mgmt_ports[0]),
	};
}

/* Output of a shell command (first 8 KiB). */
static void sh_out(const char *cmd, char *buf, size_t len)
{
	FILE *p = popen(cmd, "r");
	size_t n;

	assert_non_null(p);
	n = fread(buf, 1, len - 1, p);
	buf[n] = '\0';
	pclose(p);
}

/* How many u32 entries (not the tables) the ingress hook of DEV has at pref. */
static int entries_at(unsigned int pref)
{
	char cmd[256], out[64];

	snprintf(cmd, sizeof(cmd),
		 "tc filter show dev " DEV
		 " ingress pref %u 2>/dev/null | grep -c 'fh 8[0-9a-f]*::[0-9a-f]* order'",
		 pref);
	sh_out(cmd, out, sizeof(out));
	return atoi(out);
}

static bool ifb_exists(void)
{
	char name[IF_NAMESIZE];

	assert_int_equal(ms_ingress_ifb_name(ifindex, name, sizeof(name)), 0);
	return if_nametoindex(name) != 0;
}

static bool clsact_exists(void)
{
	char out[1024];

	sh_out("tc qdisc show dev " DEV, out, sizeof(out));
	return strstr(out, "clsact") != NULL;
}

/* Sends one Ethernet frame from PEER to DEV: TCP sport -> dport, IPv4 or IPv6. */
static void inject(bool v6, __u16 sport, __u16 dport)
{
	unsigned char f[128] = {0};
	struct sockaddr_ll to = {
	    .sll_family = AF_PACKET, .sll_ifindex = peer_ifindex, .sll_halen = ETH_ALEN};
	size_t len, l3 = ETH_HLEN, l4;
	int fd;

	memcpy(f, dev_mac, ETH_ALEN);
	f[6] = 0x02; /* a made-up, locally administered source */
	if (!v6) {
		f[12] = 0x08;
		f[l3] = 0x45;
		f[l3 + 3] = 40;	 /* total length */
		f[l3 + 8] = 64;	 /* ttl */
		f[l3 + 9] = 6;	 /* TCP */
		f[l3 + 12] = 10; /* 10.199.1.2 -> 10.199.1.1 */
		f[l3 + 13] = 199;
		f[l3 + 14] = 1;
		f[l3 + 15] = 2;
		f[l3 + 16] = 10;
		f[l3 + 17] = 199;
		f[l3 + 18] = 1;
		f[l3 + 19] = 1;
		l4 = l3 + 20;
	} else {
		f[12] = 0x86;
		f[13] = 0xdd;
		f[l3] = 0x60;
		f[l3 + 5] = 20; /* payload length */
		f[l3 + 6] = 6;	/* TCP */
		f[l3 + 7] = 64;
		f[l3 + 8] = 0xfd; /* fd00::2 -> fd00::1 */
		f[l3 + 23] = 2;
		f[l3 + 24] = 0xfd;
		f[l3 + 39] = 1;
		l4 = l3 + 40;
	}
	f[l4] = (unsigned char)(sport >> 8);
	f[l4 + 1] = (unsigned char)sport;
	f[l4 + 2] = (unsigned char)(dport >> 8);
	f[l4 + 3] = (unsigned char)dport;
	f[l4 + 12] = 0x50;
	f[l4 + 13] = 0x10; /* ACK */
	len = l4 + 20;
	memcpy(to.sll_addr, dev_mac, ETH_ALEN);
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	assert_true(fd >= 0);
	assert_int_equal(sendto(fd, f, len, 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)len);
	close(fd);
}

/* Packets the IFB's class has sent so far (it sees them synchronously: veth
 * rx runs in the sender's softirq, but allow the backlog a moment). */
static __u64 ifb_packets(struct ms_ingress *in)
{
	struct ms_ingress_stats st;

	usleep(20000);
	assert_int_equal(ms_ingress_read(in, &st), 0);
	return st.packets;
}

static void test_port_blocks(void **state)
{
	__u16 v[MS_INGRESS_PORT_BLOCKS_MAX], m[MS_INGRESS_PORT_BLOCKS_MAX];

	(void)state;
	assert_int_equal(ms_ingress_port_blocks(49152, 49215, v, m, 32), 1);
	assert_int_equal(v[0], 49152);
	assert_int_equal(m[0], 0xffc0);
	assert_int_equal(ms_ingress_port_blocks(5, 5, v, m, 32), 1);
	assert_int_equal(m[0], 0xffff);
	/* 5-12: 5, 6-7, 8-11, 12 */
	assert_int_equal(ms_ingress_port_blocks(5, 12, v, m, 32), 4);
	assert_int_equal(v[1], 6);
	assert_int_equal(m[1], 0xfffe);
	assert_int_equal(v[2], 8);
	assert_int_equal(m[2], 0xfffc);
	assert_int_equal(ms_ingress_port_blocks(1, 65535, v, m, 32), 16);
	assert_int_equal(ms_ingress_port_blocks(1, 65535, v, m, 4), -E2BIG);
	assert_int_equal(ms_ingress_port_blocks(10, 9, v, m, 32), -EINVAL);
	assert_int_equal(ms_ingress_port_blocks(0, 9, v, m, 32), -EINVAL);
}

/* Migration traffic goes through the IFB, management and other traffic does not. */
static void test_install_redirects_migration_only(void **state)
{
	struct ms_ingress_params p = base_params();
	struct ms_ingress *in = NULL;
	__u64 n0;

	(void)state;
	assert_false(clsact_exists());
	assert_int_equal(ms_ingress_install(&p, &in), 0);
	assert_true(ifb_exists());
	assert_true(clsact_exists());
	assert_int_equal(entries_at(MS_INGRESS_PRIO_MGMT4), 3);
	assert_int_equal(entries_at(MS_INGRESS_PRIO_MGMT6), 3);
	assert_int_equal(entries_at(MS_INGRESS_PRIO_MIG4), 1);
	assert_int_equal(entries_at(MS_INGRESS_PRIO_MIG6), 1);

	n0 = ifb_packets(in);
	inject(false, 40000, 49160);
	assert_int_equal(ifb_packets(in), n0 + 1);
	inject(true, 40000, 49215);
	assert_int_equal(ifb_packets(in), n0 + 2);
	/* Management, and other ports, never reach the IFB. */
	inject(false, 40000, 54321);
	inject(true, 40000, 22);
	inject(false, 40000, 49216);
	inject(false, 40000, 49151);
	/* A reply on this host's own management connection from an ephemeral port in the range. */
	inject(false, 16509, 49170);
	inject(true, 22, 49170);
	assert_int_equal(ifb_packets(in), n0 + 2);

	/* Removed with the clsact it created. */
	assert_int_equal(ms_ingress_remove(in), 0);
	assert_false(ifb_exists());
	assert_false(clsact_exists());
}

/* A clsact that was there (the classifier's) stays, and so do other filters. */
static void test_remove_leaves_foreign_clsact(void **state)
{
	struct ms_ingress_params p = base_params();
	struct ms_ingress *in = NULL;
	char out[2048];

	(void)state;
	assert_int_equal(system("tc qdisc add dev " DEV " clsact && tc filter add dev " DEV
				" egress pref 7 protocol ip u32 match u32 0 0"),
			 0);
	assert_int_equal(ms_ingress_install(&p, &in), 0);
	assert_int_equal(ms_ingress_remove(in), 0);
	assert_true(clsact_exists());
	assert_int_equal(entries_at(MS_INGRESS_PRIO_MIG4), 0);
	sh_out("tc filter show dev " DEV " egress", out, sizeof(out));
	assert_non_null(strstr(out, "pref 7 "));
	assert_int_equal(system("tc qdisc del dev " DEV " clsact"), 0);
}

/* The cap and the ports change in place; the filters follow the ports. */
static void test_apply(void **state)
{
	struct ms_ingress_params p = base_params();
	struct ms_ingress *in = NULL;
	char out[2048], name[IF_NAMESIZE], cmd[128];
	__u64 n0;

	(void)state;
	assert_int_equal(ms_ingress_install(&p, &in), 0);
	assert_int_equal(ms_ingress_ifb_name(ifindex, name, sizeof(name)), 0);
	snprintf(cmd, sizeof(cmd), "tc class show dev %s", name);
	sh_out(cmd, out, sizeof(out));
	assert_non_null(strstr(out, "rate 300Mbit ceil 300Mbit"));
	p.cap_bps = 120 * MBIT;
	p.migration_port_min = 50000;
	p.migration_port_max = 50003;
	assert_int_equal(ms_ingress_apply(in, &p), 0);
	sh_out(cmd, out, sizeof(out));
	assert_non_null(strstr(out, "rate 120Mbit ceil 120Mbit"));
	n0 = ifb_packets(in);
	inject(false, 40000, 49160);
	assert_int_equal(ifb_packets(in), n0);
	inject(false, 40000, 50002);
	assert_int_equal(ifb_packets(in), n0 + 1);

	/* Bad input: refused, nothing changes. */
	p.migration_port_min = 60000;
	p.migration_port_max = 59999;
	assert_int_equal(ms_ingress_apply(in, &p), -EINVAL);
	p = base_params();
	p.cap_bps = 0;
	assert_int_equal(ms_ingress_apply(in, &p), -EINVAL);
	sh_out(cmd, out, sizeof(out));
	assert_non_null(strstr(out, "rate 120Mbit ceil 120Mbit"));
	inject(false, 40000, 50002);
	assert_int_equal(ifb_packets(in), n0 + 2);
	assert_int_equal(ms_ingress_remove(in), 0);
}

/* An agent that died leaves the backstop running; the next one takes it over. */
static void test_takeover_and_cleanup(void **state)
{
	struct ms_ingress_params p = base_params();
	struct ms_ingress *in = NULL;
	char name[IF_NAMESIZE];
	unsigned int ifb_index;
	__u64 n0;

	(void)state;
	assert_int_equal(ms_ingress_install(&p, &in), 0);
	assert_int_equal(ms_ingress_ifb_name(ifindex, name, sizeof(name)), 0);
	ifb_index = if_nametoindex(name);
	ms_ingress_free(in); /* fail-static: still redirecting */
	assert_true(ifb_exists());
	assert_int_equal(entries_at(MS_INGRESS_PRIO_MIG4), 1);

	p.cap_bps = 200 * MBIT;
	assert_int_equal(ms_ingress_install(&p, &in), 0);
	/* The same IFB, and one set of filters, not two. */
	assert_int_equal(if_nametoindex(name), ifb_index);
	assert_int_equal(entries_at(MS_INGRESS_PRIO_MGMT4), 3);
	assert_int_equal(entries_at(MS_INGRESS_PRIO_MIG4), 1);
	assert_int_equal(entries_at(MS_INGRESS_PRIO_MIG6), 1);
	n0 = ifb_packets(in);
	inject(false, 40000, 49152);
	assert_int_equal(ifb_packets(in), n0 + 1);
	ms_ingress_free(in);

	/* --cleanup without any record. */
	assert_int_equal(ms_ingress_cleanup(ifindex), 0);
	assert_false(ifb_exists());
	assert_int_equal(entries_at(MS_INGRESS_PRIO_MGMT4), 0);
	assert_int_equal(entries_at(MS_INGRESS_PRIO_MIG4), 0);
	assert_int_equal(entries_at(MS_INGRESS_PRIO_MIG6), 0);
	/* Nothing left: a second cleanup is fine too. */
	assert_int_equal(ms_ingress_cleanup(ifindex), 0);
	assert_int_equal(system("tc qdisc del dev " DEV " clsact 2>/dev/null; true"), 0);
}

/* Bad input leaves nothing behind; a name taken by a non-IFB is not touched, by
 * install or by cleanup. */
static void test_bad_input(void **state)
{
	struct ms_ingress_params p = base_params();
	struct ms_ingress *in = NULL;
	char name[IF_NAMESIZE], cmd[128];

	(void)state;
	p.cap_bps = 0;
	assert_int_equal(ms_ingress_install(&p, &in), -EINVAL);
	p = base_params();
	p.ifindex = 0;
	assert_int_equal(ms_ingress_install(&p, &in), -ENODEV);
	p = base_params();
	p.ifindex = 99999;
	assert_int_equal(ms_ingress_install(&p, &in), -ENODEV);
	assert_false(ifb_exists());
	assert_false(clsact_exists());

	assert_int_equal(ms_ingress_ifb_name(ifindex, name, sizeof(name)), 0);
	snprintf(cmd, sizeof(cmd), "ip link add %s type veth peer name msiz", name);
	assert_int_equal(system(cmd), 0);
	p = base_params();
	assert_int_equal(ms_ingress_install(&p, &in), -EEXIST);
	assert_false(clsact_exists());
	assert_int_equal(entries_at(MS_INGRESS_PRIO_MIG4), 0);
	assert_int_equal(ms_ingress_cleanup(ifindex), 0);
	assert_true(ifb_exists()); /* the veth is still there, cleanup too left it */
	snprintf(cmd, sizeof(cmd), "ip link del %s", name);
	assert_int_equal(system(cmd), 0);
}

static int skip_run(const char *why)
{
	const char *ci = getenv("CI");

	printf("test_ingress: %s: %s\n", ci && !strcmp(ci, "true") ? "FAILED" : "skipped", why);
	return ci && !strcmp(ci, "true") ? 1 : 77;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_port_blocks),
	    cmocka_unit_test(test_install_redirects_migration_only),
	    cmocka_unit_test(test_remove_leaves_foreign_clsact),
	    cmocka_unit_test(test_apply),
	    cmocka_unit_test(test_takeover_and_cleanup),
	    cmocka_unit_test(test_bad_input),
	};
	struct ifreq ifr = {0};
	int fd;

	if (geteuid() != 0)
		return skip_run("needs root");
	if (unshare(CLONE_NEWNET) != 0)
		return skip_run("cannot create a network namespace");
	if (system("ip link set lo up && ip link add " DEV " type veth peer name " PEER
		   " && ip link set " DEV " up && ip link set " PEER " up") != 0)
		return skip_run("cannot create a veth pair");
	if (system("ip link add msiprobe type ifb && ip link del msiprobe") != 0)
		return skip_run("no IFB in this kernel");
	ifindex = (int)if_nametoindex(DEV);
	peer_ifindex = (int)if_nametoindex(PEER);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), DEV);
	if (fd < 0 || ioctl(fd, SIOCGIFHWADDR, &ifr) != 0)
		return skip_run("cannot read the veth's address");
	close(fd);
	memcpy(dev_mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	ms_log_set_level(MS_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
