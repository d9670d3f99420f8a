// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * tc/mq.c (and tc/htb.c on a multi-queue NIC) against the real kernel, in a
 * private network namespace with a 4-queue veth whose root is mq with one
 * pfifo_fast per queue, as on a multi-queue NIC. Needs root; exits 77
 * (skip) without it.
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
#include <net/if.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "htb.h"
#include "log.h"
#include "migshaper.h"
#include "mq.h"

#define DEV	"msqa"
#define PEER	"msqb"
#define PEER_IP "10.198.0.3"
#define MBIT	1000000ULL

static int ifindex;

static void sh(const char *cmd)
{
	int rc = system(cmd);

	if (rc != 0)
		fail_msg("'%s' exited %d", cmd, rc);
}

/* The output of cmd, trailing newline kept; fails the test on error. */
static char *capture(const char *cmd)
{
	char *buf = NULL;
	size_t len = 0, n;
	FILE *out = open_memstream(&buf, &len);
	FILE *p = popen(cmd, "r");
	char chunk[512];

	assert_non_null(out);
	assert_non_null(p);
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		fwrite(chunk, 1, n, out);
	assert_int_equal(pclose(p), 0);
	assert_int_equal(fclose(out), 0);
	return buf;
}

/* The NIC's root tree without counters or the clsact: what must come back. */
static char *nic_tree(void)
{
	return capture("tc qdisc show dev " DEV " | grep -v '^qdisc clsact'");
}

static long number(const char *cmd)
{
	char *out = capture(cmd);
	long v = strtol(out, NULL, 10);

	free(out);
	return v;
}

static void ifb_name(char *buf, size_t len)
{
	assert_int_equal(ms_mq_ifb_name(ifindex, buf, len), 0);
}

static void send_datagrams(int n)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)};
	char payload[200] = {0};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(inet_pton(AF_INET, PEER_IP, &to.sin_addr), 1);
	for (int i = 0; i < n; i++)
		assert_int_equal(
		    sendto(fd, payload, sizeof(payload), 0, (struct sockaddr *)&to, sizeof(to)),
		    (ssize_t)sizeof(payload));
	close(fd);
}

/*
 * Puts the redirect to the NIC's IFB on, then again (adoption: changed in
 * place, still one filter), and sends 50 datagrams, which the IFB carries.
 */
static void redirect_twice_and_send(void)
{
	char name[IF_NAMESIZE], cmd[256];
	bool present = false;
	long ifb_tx0;
	int ifb = ms_mq_ifb_find(ifindex);

	assert_true(ifb > 0);
	assert_int_equal(ms_mq_redirect_set(ifindex, ifb), 0);
	assert_int_equal(ms_mq_redirect_set(ifindex, ifb), 0);
	assert_int_equal(ms_mq_redirect_present(ifindex, &present), 0);
	assert_true(present);
	assert_int_equal(number("tc filter show dev " DEV " egress | grep -c 'Egress Redirect'"),
			 1);
	ifb_name(name, sizeof(name));
	snprintf(cmd, sizeof(cmd), "ip -j -s link show dev %s | jq '.[0].stats64.tx.packets'",
		 name);
	ifb_tx0 = number(cmd);
	send_datagrams(50);
	assert_true(number(cmd) - ifb_tx0 >= 50);
}

static void test_ifb_open_take_over_remove(void **state)
{
	char name[IF_NAMESIZE], cmd[256], *before = nic_tree(), *after;
	int ifb = 0, again = 0;
	bool had = false;

	(void)state;
	assert_int_equal(ms_mq_ifb_find(ifindex), -ENOENT);
	assert_int_equal(ms_mq_ifb_open(ifindex, &ifb), 0);
	assert_true(ifb > 0);
	assert_int_equal(ms_mq_ifb_find(ifindex), ifb);
	ifb_name(name, sizeof(name));
	/* Up, the NIC's MTU (9000 here), a queue long enough for multi-Gbit leaves. */
	snprintf(cmd, sizeof(cmd), "ip -j link show dev %s | jq -e '.[0].flags | index(\"UP\")'",
		 name);
	sh(cmd);
	snprintf(cmd, sizeof(cmd), "ip -j link show dev %s | jq '.[0].mtu'", name);
	assert_int_equal(number(cmd), 9000);
	snprintf(cmd, sizeof(cmd), "ip -j -d link show dev %s | jq '.[0].txqlen'", name);
	assert_true(number(cmd) >= (long)MS_MQ_IFB_TXQLEN_MIN);
	/* A second open (a restarted agent) takes the same device over, even if down. */
	snprintf(cmd, sizeof(cmd), "ip link set %s down", name);
	sh(cmd);
	assert_int_equal(ms_mq_ifb_open(ifindex, &again), 0);
	assert_int_equal(again, ifb);
	snprintf(cmd, sizeof(cmd), "ip -j link show dev %s | jq -e '.[0].flags | index(\"UP\")'",
		 name);
	sh(cmd);
	after = nic_tree();
	assert_string_equal(after, before);
	free(after);
	assert_int_equal(ms_mq_remove(ifindex, &had), 0);
	assert_true(had);
	assert_int_equal(ms_mq_ifb_find(ifindex), -ENOENT);
	/* Nothing there is not an error. */
	assert_int_equal(ms_mq_remove(ifindex, &had), 0);
	assert_false(had);
	free(before);
}

/* The filter redirects what reaches it to the IFB, which sends it back out of the NIC. */
static void test_redirect_through_ifb(void **state)
{
	char *before = nic_tree(), *after;
	long nic_tx0, nic_tx1;
	bool present = true;
	int ifb = 0;

	(void)state;
	sh("tc qdisc add dev " DEV " clsact");
	assert_int_equal(ms_mq_redirect_present(ifindex, &present), 0);
	assert_false(present);
	assert_int_equal(ms_mq_ifb_open(ifindex, &ifb), 0);
	nic_tx0 = number("ip -j -s link show dev " DEV " | jq '.[0].stats64.tx.packets'");
	redirect_twice_and_send();
	nic_tx1 = number("ip -j -s link show dev " DEV " | jq '.[0].stats64.tx.packets'");
	/* ... and the IFB handed them back to the NIC, which sent them. */
	assert_true(nic_tx1 - nic_tx0 >= 50);
	after = nic_tree();
	assert_string_equal(after, before);
	free(after);
	assert_int_equal(ms_mq_remove(ifindex, NULL), 0);
	assert_int_equal(ms_mq_redirect_present(ifindex, &present), 0);
	assert_false(present);
	assert_int_equal(number("tc filter show dev " DEV " egress | wc -l"), 0);
	sh("tc qdisc del dev " DEV " clsact");
	free(before);
}

/*
 * u32 numbers its hash tables per qdisc, shared by clsact's ingress and
 * egress: with an operator's u32 filters there first (800: and 801: taken),
 * ours still goes in, is changed in place, and goes alone.
 */
static void test_redirect_beside_other_u32(void **state)
{
	bool present = false;
	int ifb = 0;

	(void)state;
	sh("tc qdisc add dev " DEV " clsact");
	sh("tc filter add dev " DEV " ingress prio 10 protocol ip u32 match u32 0 0 flowid 1:1");
	sh("tc filter add dev " DEV " egress prio 10 protocol ip u32 match ip dst 192.0.2.1/32 "
	   "flowid 1:2");
	assert_int_equal(ms_mq_ifb_open(ifindex, &ifb), 0);
	redirect_twice_and_send();
	assert_int_equal(ms_mq_remove(ifindex, NULL), 0);
	assert_int_equal(ms_mq_redirect_present(ifindex, &present), 0);
	assert_false(present);
	assert_int_equal(number("tc filter show dev " DEV " egress | grep -c 'flowid 1:2'"), 1);
	assert_int_equal(number("tc filter show dev " DEV " ingress | grep -c 'flowid 1:1'"), 1);
	sh("tc qdisc del dev " DEV " clsact");
}

static struct ms_htb_params params(int on)
{
	return (struct ms_htb_params){
	    .ifindex = on,
	    .link_bps = 10000 * MBIT,
	    .mgmt_reserve_bps = 500 * MBIT,
	    .migration_aggregate_bps = 2000 * MBIT,
	    .migration_max_bps = 2000 * MBIT,
	    .migration_min_bps = 100 * MBIT,
	};
}

/* multiqueue: the tree on the IFB, the NIC's mq tree untouched throughout. */
static void test_tree_on_ifb(void **state)
{
	char name[IF_NAMESIZE], cmd[256], *before = nic_tree(), *after;
	struct ms_htb_params p;
	struct ms_htb *h = NULL;
	int ifb = 0;

	(void)state;
	assert_int_equal(ms_mq_ifb_open(ifindex, &ifb), 0);
	p = params(ifb);
	assert_int_equal(ms_htb_install(&p, &h), 0);
	ifb_name(name, sizeof(name));
	snprintf(cmd, sizeof(cmd), "tc qdisc show dev %s | grep -c '^qdisc htb 1: root'", name);
	assert_int_equal(number(cmd), 1);
	after = nic_tree();
	assert_string_equal(after, before);
	free(after);
	assert_int_equal(ms_htb_restore(h), 0);
	ms_htb_free(h);
	assert_int_equal(ms_mq_remove(ifindex, NULL), 0);
	after = nic_tree();
	assert_string_equal(after, before);
	free(after);
	free(before);
}

/* htb-root on a multi-queue NIC: stop and --cleanup both put the mq tree back as it was. */
static void test_htb_root_restores_mq(void **state)
{
	char *before = nic_tree(), *after;
	struct ms_htb_params p = params(ifindex);
	struct ms_htb_root orig = {0};
	struct ms_htb *h = NULL;

	(void)state;
	assert_int_equal(ms_htb_install(&p, &h), 0);
	assert_int_equal(number("tc qdisc show dev " DEV " | grep -c '^qdisc htb 1: root'"), 1);
	assert_int_equal(ms_htb_restore(h), 0);
	ms_htb_free(h);
	after = nic_tree();
	assert_string_equal(after, before);
	free(after);

	/* A crashed agent (freed, tree left) and --cleanup with its record. */
	h = NULL;
	assert_int_equal(ms_htb_install(&p, &h), 0);
	assert_int_equal(ms_htb_orig_get(h, &orig), 0);
	ms_htb_free(h);
	assert_int_equal(ms_htb_cleanup(ifindex, &orig), 0);
	ms_htb_root_clear(&orig);
	after = nic_tree();
	assert_string_equal(after, before);
	free(after);
	free(before);
}

/*
 * A NIC deleted while no agent ran leaves its IFB behind: removed once the
 * NIC is gone, kept while it is there (its agent's).
 */
static void test_orphan_ifb(void **state)
{
	char name[IF_NAMESIZE], cmd[128];
	bool removed = true;
	int gone, ifb = 0;

	(void)state;
	sh("ip link add msqo type veth peer name msqo-p");
	gone = (int)if_nametoindex("msqo");
	assert_true(gone > 0);
	assert_int_equal(ms_mq_ifb_open(gone, &ifb), 0);
	assert_int_equal(ms_mq_ifb_remove_orphan(gone, &removed), 0);
	assert_false(removed);
	assert_int_equal(ms_mq_ifb_find(gone), ifb);
	sh("ip link del msqo");
	assert_int_equal(ms_mq_ifb_remove_orphan(gone, &removed), 0);
	assert_true(removed);
	assert_int_equal(ms_mq_ifb_find(gone), -ENOENT);
	/* Nothing left: nothing done. */
	assert_int_equal(ms_mq_ifb_remove_orphan(gone, &removed), 0);
	assert_false(removed);
	/* A device of that name that is not an IFB is not ours. */
	assert_int_equal(ms_mq_ifb_name(gone, name, sizeof(name)), 0);
	snprintf(cmd, sizeof(cmd), "ip link add %s type veth peer name %s-p", name, name);
	sh(cmd);
	assert_int_equal(ms_mq_ifb_remove_orphan(gone, &removed), 0);
	assert_false(removed);
	snprintf(cmd, sizeof(cmd), "ip link show dev %s >/dev/null", name);
	sh(cmd);
	snprintf(cmd, sizeof(cmd), "ip link del %s", name);
	sh(cmd);
}

/*
 * What dataplane_backend = auto reads beside the driver's channels: the
 * 4-queue mq NIC and a single-queue veth given a pfifo_fast root have a
 * queue of their own; a bond stand-in (a bridge with 16 TX queues), a
 * veth's noqueue, and a bridge never yet up (its root reads noop) have none;
 * a tap never up (noop, and a kind with a queue) has one.
 */
static void test_nic_noqueue(void **state)
{
	bool noqueue = true;
	int dev;

	(void)state;
	assert_int_equal(ms_mq_nic_noqueue(ifindex, &noqueue), 0);
	assert_false(noqueue);
	sh("ip link add msqbond numtxqueues 16 type bridge && ip link set msqbond up");
	dev = (int)if_nametoindex("msqbond");
	assert_int_equal(ms_mq_nic_noqueue(dev, &noqueue), 0);
	assert_true(noqueue);
	sh("ip link del msqbond");
	sh("ip link add msqs numtxqueues 1 type veth peer name msqs-p && ip link set msqs up");
	dev = (int)if_nametoindex("msqs");
	assert_int_equal(ms_mq_nic_noqueue(dev, &noqueue), 0);
	assert_true(noqueue);
	sh("tc qdisc add dev msqs root pfifo_fast");
	assert_int_equal(ms_mq_nic_noqueue(dev, &noqueue), 0);
	assert_false(noqueue);
	sh("ip link del msqs");
	assert_int_equal(ms_mq_nic_noqueue(dev, &noqueue), -ENODEV);
	sh("ip link add msqdown type bridge && ip link show dev msqdown | grep -q 'qdisc noop'");
	assert_int_equal(ms_mq_nic_noqueue((int)if_nametoindex("msqdown"), &noqueue), 0);
	assert_true(noqueue);
	sh("ip link del msqdown");
	sh("ip tuntap add dev msqtap mode tap && ip link show dev msqtap | grep -q 'qdisc noop'");
	assert_int_equal(ms_mq_nic_noqueue((int)if_nametoindex("msqtap"), &noqueue), 0);
	assert_false(noqueue);
	sh("ip link del msqtap");
	assert_int_equal(ms_mq_nic_noqueue(0, &noqueue), -EINVAL);
}

static void test_bad_input(void **state)
{
	char name[4];
	int ifb = -1;

	(void)state;
	assert_int_equal(ms_mq_ifb_open(99999, &ifb), -ENODEV);
	assert_int_equal(ifb, -1);
	assert_int_equal(ms_mq_ifb_find(99999), -ENOENT);
	assert_int_equal(ms_mq_redirect_set(0, 5), -EINVAL);
	assert_int_equal(ms_mq_redirect_set(ifindex, 0), -EINVAL);
	assert_int_equal(ms_mq_ifb_name(ifindex, name, sizeof(name)), -ENAMETOOLONG);
	assert_int_equal(ms_mq_ifb_name(0, name, sizeof(name)), -EINVAL);
}

static int skip_run(const char *why)
{
	printf("test_mq: skipped: %s\n", why);
	return 77;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ifb_open_take_over_remove),
	    cmocka_unit_test(test_redirect_through_ifb),
	    cmocka_unit_test(test_redirect_beside_other_u32),
	    cmocka_unit_test(test_tree_on_ifb),
	    cmocka_unit_test(test_htb_root_restores_mq),
	    cmocka_unit_test(test_orphan_ifb),
	    cmocka_unit_test(test_nic_noqueue),
	    cmocka_unit_test(test_bad_input),
	};
	char cmd[256];

	if (geteuid() != 0)
		return skip_run("needs root");
	if (unshare(CLONE_NEWNET) != 0)
		return skip_run("cannot create a network namespace");
	if (system("ip link set lo up && ip link add " DEV " numtxqueues 4 numrxqueues 4 type veth "
		   "peer name " PEER " numtxqueues 4 numrxqueues 4 && ip link set " DEV
		   " mtu 9000 && ip link set " PEER
		   " mtu 9000 && ip addr add 10.198.0.1/24 dev " DEV " && ip link set " DEV
		   " up && ip link set " PEER " up && tc qdisc add dev " DEV " root mq") != 0)
		return skip_run("cannot create a 4-queue veth pair with an mq root");
	ifindex = (int)if_nametoindex(DEV);
	snprintf(cmd, sizeof(cmd),
		 "ip neigh replace " PEER_IP " dev " DEV " lladdr $(ip -br link show " PEER
		 " | awk '{print $3}') nud permanent");
	if (system(cmd) != 0)
		return skip_run("cannot add a neighbour");
	ms_log_set_level(MS_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
