// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * tc/htb.c against the real kernel, in a private network namespace with a
 * veth pair. Needs root; exits 77 (skip) without it.
 *
 * Kernel warnings: HTB reports "quantum of class ... is big/small" through
 * the netlink extended ack, which the library logs as "kernel warning";
 * older kernels printed it to the log. Both are checked by the last test.
 */
#include <dlfcn.h>
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
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/pkt_sched.h>
#include <cmocka.h>

#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/route/tc.h>
#include <netlink/route/class.h>
#include <netlink/route/qdisc/htb.h>

#include "migshaper.h"
#include "log.h"
#include "htb.h"

#define MBIT 1000000ULL
#define GBIT 1000000000ULL
#define DEV  "msva"
#define PEER "msvb"
/* Not assigned anywhere: datagrams leave DEV for the peer, which drops them.
 * (An address of the peer would be local and go through lo.) */
#define PEER_IP "10.199.0.3"

static int ifindex;
/* Everything the library logs goes here; see test_no_kernel_warnings. */
static FILE *log_capture;
static FILE *real_stderr;
static int kmsg_fd = -1;
static long log_checked;

/* ---- fault injection: the library links statically against this ---- */

static int class_add_calls;
static int class_add_fail_at; /* 1-based; 0 = never */

int rtnl_class_add(struct nl_sock *sk, struct rtnl_class *cls, int flags)
{
	static int (*real)(struct nl_sock *, struct rtnl_class *, int);

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "rtnl_class_add");
	if (++class_add_calls == class_add_fail_at)
		return -NLE_NOMEM;
	return real(sk, cls, flags);
}

static void inject_class_add_failure(int nth)
{
	class_add_calls = 0;
	class_add_fail_at = nth;
}

/* ---- helpers ---- */

static void sh(const char *cmd)
{
	int rc = system(cmd);

	if (rc != 0)
		fail_msg("'%s' exited %d", cmd, rc);
}

static struct ms_htb_params base_params(void)
{
	return (struct ms_htb_params){
	    .ifindex = ifindex,
	    .link_bps = 1 * GBIT,
	    .mgmt_reserve_bps = 100 * MBIT,
	    .migration_aggregate_bps = 600 * MBIT,
	    .migration_max_bps = 500 * MBIT,
	    .migration_min_bps = 50 * MBIT,
	};
}

/* The root qdisc as the kernel dumps it. */
struct root {
	int present;
	__u32 handle;
	char kind[32];
	unsigned char opts[512];
	int opts_len;
};

static int root_cb(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct tcmsg *tcm = nlmsg_data(nlh);
	struct nlattr *tb[TCA_MAX + 1];
	struct root *r = arg;

	if (nlh->nlmsg_type != RTM_NEWQDISC || tcm->tcm_ifindex != ifindex ||
	    tcm->tcm_parent != TC_H_ROOT)
		return NL_OK;
	if (nlmsg_parse(nlh, sizeof(*tcm), tb, TCA_MAX, NULL) < 0)
		return NL_OK;
	r->present++;
	r->handle = tcm->tcm_handle;
	nla_strlcpy(r->kind, tb[TCA_KIND], sizeof(r->kind));
	if (tb[TCA_OPTIONS] && nla_len(tb[TCA_OPTIONS]) <= (int)sizeof(r->opts)) {
		r->opts_len = nla_len(tb[TCA_OPTIONS]);
		memcpy(r->opts, nla_data(tb[TCA_OPTIONS]), r->opts_len);
	}
	return NL_OK;
}

static struct root root_read(void)
{
	struct tcmsg tcm = {.tcm_family = AF_UNSPEC};
	struct root r = {0};
	struct nl_sock *sk = nl_socket_alloc();

	assert_non_null(sk);
	assert_int_equal(nl_connect(sk, NETLINK_ROUTE), 0);
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, root_cb, &r);
	assert_true(nl_send_simple(sk, RTM_GETQDISC, NLM_F_DUMP, &tcm, sizeof(tcm)) >= 0);
	assert_true(nl_recvmsgs_default(sk) >= 0);
	nl_socket_free(sk);
	assert_int_equal(r.present, 1);
	return r;
}

static void assert_root_equal(const struct root *a, const struct root *b)
{
	assert_string_equal(a->kind, b->kind);
	assert_int_equal(a->handle, b->handle);
	assert_int_equal(a->opts_len, b->opts_len);
	assert_memory_equal(a->opts, b->opts, a->opts_len);
}

static struct nl_cache *classes_dump(struct nl_sock **sk)
{
	struct nl_cache *cache = NULL;

	*sk = nl_socket_alloc();
	assert_non_null(*sk);
	assert_int_equal(nl_connect(*sk, NETLINK_ROUTE), 0);
	assert_int_equal(rtnl_class_alloc_cache(*sk, ifindex, &cache), 0);
	return cache;
}

static int htb_class_count(void)
{
	struct nl_sock *sk;
	struct nl_cache *cache = classes_dump(&sk);
	int n = 0;

	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o))
		if (TC_H_MAJ(rtnl_tc_get_handle((struct rtnl_tc *)o)) == MS_HANDLE(0))
			n++;
	nl_cache_free(cache);
	nl_socket_free(sk);
	return n;
}

/* Checks one class as the kernel reports it against what we asked for. */
static void expect_class(struct nl_cache *cache, __u32 minor, __u32 parent_minor, __u64 rate_bps,
			 __u64 ceil_bps, __u32 prio, __u32 mtu)
{
	struct rtnl_class *cls = rtnl_class_get(cache, ifindex, MS_HANDLE(minor));
	struct ms_htb_geometry g;
	uint64_t rate = 0, ceil = 0;
	__u32 rbuf;

	if (!cls)
		fail_msg("class 1:%x missing", minor);
	assert_int_equal(ms_htb_geometry_compute(rate_bps, ceil_bps, mtu, &g), 0);
	assert_string_equal(rtnl_tc_get_kind(TC_CAST(cls)), "htb");
	/* The kernel reports a class directly under the qdisc with parent "root". */
	assert_int_equal(rtnl_tc_get_parent(TC_CAST(cls)),
			 parent_minor ? MS_HANDLE(parent_minor) : TC_H_ROOT);
	assert_int_equal(rtnl_htb_get_rate64(cls, &rate), 0);
	assert_int_equal(rtnl_htb_get_ceil64(cls, &ceil), 0);
	assert_int_equal(rate, rate_bps / 8);
	assert_int_equal(ceil, ceil_bps / 8);
	assert_int_equal(rtnl_htb_get_prio(cls), prio);
	assert_int_equal(rtnl_htb_get_quantum(cls), g.quantum_bytes);
	/* The bucket travels as whole microseconds, then 64 ns ticks, and
	 * libnl converts it back: within a few microseconds of the rate. */
	rbuf = rtnl_htb_get_rbuffer(cls);
	if (rate <= UINT32_MAX)
		assert_in_range(rbuf, g.burst_bytes - 4 * rate / 1000000 - 2, g.burst_bytes + 2);
	rtnl_class_put(cls);
}

static void expect_tree(const struct ms_htb_params *p, __u32 mtu)
{
	__u64 def = p->link_bps - p->mgmt_reserve_bps - p->migration_aggregate_bps;
	struct nl_sock *sk;
	struct nl_cache *cache = classes_dump(&sk);
	struct root r = root_read();

	assert_string_equal(r.kind, "htb");
	assert_int_equal(r.handle, MS_HANDLE(0));
	if (def < p->link_bps / 100)
		def = p->link_bps / 100;
	expect_class(cache, MS_MINOR_LINK, 0, p->link_bps, p->link_bps, 0, mtu);
	expect_class(cache, MS_MINOR_MGMT, MS_MINOR_LINK, p->mgmt_reserve_bps, p->link_bps, 0, mtu);
	/* Migrations borrow last (prio 3), after management and default. */
	expect_class(cache, MS_MINOR_AGGREGATE, MS_MINOR_LINK, p->migration_aggregate_bps,
		     p->migration_ceil_bps ? p->migration_ceil_bps : p->migration_aggregate_bps, 3,
		     mtu);
	expect_class(cache, MS_MINOR_UNATTRIBUTED, MS_MINOR_AGGREGATE, p->migration_min_bps,
		     p->migration_max_bps, 3, mtu);
	expect_class(cache, MS_MINOR_DEFAULT, MS_MINOR_LINK, def, p->link_bps, 2, mtu);
	nl_cache_free(cache);
	nl_socket_free(sk);
}

/* A socket that sees every tc change in the namespace. */
static int monitor_open(void)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_TC};
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

struct tc_events {
	int new_class, del_class, qdisc;
	__u32 last_class;
};

/* Notifications are queued before the request's ack, so all are here. */
static struct tc_events monitor_drain(int fd)
{
	struct tc_events ev = {0};
	char buf[65536];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		for (struct nlmsghdr *nlh = (void *)buf; NLMSG_OK(nlh, n);
		     nlh = NLMSG_NEXT(nlh, n)) {
			struct tcmsg *tcm = NLMSG_DATA(nlh);

			if (nlh->nlmsg_type == RTM_NEWTCLASS) {
				ev.new_class++;
				ev.last_class = tcm->tcm_handle;
			} else if (nlh->nlmsg_type == RTM_DELTCLASS) {
				ev.del_class++;
			} else if (nlh->nlmsg_type == RTM_NEWQDISC ||
				   nlh->nlmsg_type == RTM_DELQDISC) {
				ev.qdisc++;
			}
		}
	}
	return ev;
}

/* Sends n UDP datagrams classified into 1:minor via skb->priority. */
static void send_into(__u32 minor, int n)
{
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(9)};
	int prio = MS_HANDLE(minor), fd;
	char payload[1000] = {0};

	inet_pton(AF_INET, PEER_IP, &dst.sin_addr);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_PRIORITY, &prio, sizeof(prio)), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(sendto(fd, payload, sizeof(payload), 0, (void *)&dst, sizeof(dst)),
				 sizeof(payload));
	close(fd);
	usleep(20000);
}

static void set_root(const char *spec)
{
	char cmd[256];

	system("tc qdisc del dev " DEV " root 2>/dev/null");
	if (spec) {
		snprintf(cmd, sizeof(cmd), "tc qdisc add dev " DEV " root %s", spec);
		sh(cmd);
	}
}

/* ---- tests ---- */

static void test_install_tree_and_restore_default(void **state)
{
	struct ms_htb_params p = base_params();
	struct ms_htb_class_stats st;
	struct ms_htb *h = NULL;
	struct root before, after;

	(void)state;
	set_root(NULL);
	before = root_read();
	assert_string_equal(before.kind, "noqueue");
	assert_int_equal(before.handle, 0);

	assert_int_equal(ms_htb_install(&p, &h), 0);
	assert_non_null(h);
	expect_tree(&p, 1500);
	assert_int_equal(htb_class_count(), 5);
	assert_int_equal(ms_htb_class_read(h, MS_MINOR_MGMT, &st), 0);
	assert_int_equal(st.rate_bps, p.mgmt_reserve_bps);
	assert_int_equal(st.ceil_bps, p.link_bps);
	assert_int_equal(ms_htb_class_read(h, 0x100, &st), -ENOENT);

	assert_int_equal(ms_htb_restore(h), 0);
	after = root_read();
	assert_root_equal(&before, &after);
	assert_int_equal(htb_class_count(), 0);
	assert_int_equal(ms_htb_restore(h), -ENOENT);
	ms_htb_free(h);
}

/* Above 2^32 bytes/s the rates must go as 64-bit attributes. */
static void test_64bit_rates(void **state)
{
	struct ms_htb_params p = base_params();
	struct ms_htb *h = NULL;

	(void)state;
	set_root(NULL);
	p.link_bps = 100 * GBIT;
	p.mgmt_reserve_bps = 5 * GBIT;
	p.migration_aggregate_bps = 60 * GBIT;
	p.migration_max_bps = 50 * GBIT;
	p.migration_min_bps = 1 * GBIT;
	p.mtu = 9000;
	assert_int_equal(ms_htb_install(&p, &h), 0);
	expect_tree(&p, 9000);
	assert_int_equal(ms_htb_restore(h), 0);
	ms_htb_free(h);
}

static void test_restore_tbf(void **state)
{
	struct ms_htb_params p = base_params();
	struct ms_htb *h = NULL;
	struct root before, after;

	(void)state;
	set_root("handle 42: tbf rate 300mbit burst 64kb latency 20ms");
	before = root_read();
	assert_string_equal(before.kind, "tbf");
	assert_int_equal(before.handle, 0x420000);

	assert_int_equal(ms_htb_install(&p, &h), 0);
	expect_tree(&p, 1500);
	assert_int_equal(ms_htb_restore(h), 0);
	after = root_read();
	assert_root_equal(&before, &after);
	assert_int_equal(htb_class_count(), 0);
	ms_htb_free(h);
	set_root(NULL);
}

static void test_apply_is_one_change(void **state)
{
	struct ms_htb_params p = base_params();
	struct ms_htb_class_stats st0, st1;
	struct ms_htb *h = NULL;
	struct tc_events ev;
	int mon;

	(void)state;
	set_root(NULL);
	assert_int_equal(ms_htb_install(&p, &h), 0);
	send_into(MS_MINOR_UNATTRIBUTED, 20);
	assert_int_equal(ms_htb_class_read(h, MS_MINOR_UNATTRIBUTED, &st0), 0);
	assert_true(st0.packets >= 20);

	mon = monitor_open();
	/* Nothing differs: nothing is sent. */
	assert_int_equal(ms_htb_apply(h, &p), 0);
	ev = monitor_drain(mon);
	assert_int_equal(ev.new_class + ev.del_class + ev.qdisc, 0);

	/* Only the unattributed leaf's ceil differs: one change. */
	p.migration_max_bps = 300 * MBIT;
	assert_int_equal(ms_htb_apply(h, &p), 0);
	ev = monitor_drain(mon);
	assert_int_equal(ev.new_class, 1);
	assert_int_equal(ev.last_class, MS_HANDLE(MS_MINOR_UNATTRIBUTED));
	assert_int_equal(ev.del_class, 0);
	assert_int_equal(ev.qdisc, 0);
	/* Same class, changed in place: its counters survived. */
	assert_int_equal(ms_htb_class_read(h, MS_MINOR_UNATTRIBUTED, &st1), 0);
	assert_true(st1.packets >= st0.packets);
	assert_true(st1.bytes >= st0.bytes);
	assert_int_equal(st1.ceil_bps, 300 * MBIT);
	expect_tree(&p, 1500);

	/* The reserve moves the default class too: exactly those two. */
	p.mgmt_reserve_bps = 200 * MBIT;
	assert_int_equal(ms_htb_apply(h, &p), 0);
	ev = monitor_drain(mon);
	assert_int_equal(ev.new_class, 2);
	assert_int_equal(ev.del_class + ev.qdisc, 0);
	expect_tree(&p, 1500);

	/* Work-conserving: only the aggregate's ceil, up to the link: one change. */
	p.migration_ceil_bps = p.link_bps;
	assert_int_equal(ms_htb_apply(h, &p), 0);
	ev = monitor_drain(mon);
	assert_int_equal(ev.new_class, 1);
	assert_int_equal(ev.last_class, MS_HANDLE(MS_MINOR_AGGREGATE));
	assert_int_equal(ev.del_class + ev.qdisc, 0);
	expect_tree(&p, 1500);
	/* Bad input changes nothing (rates that break include/rates.h never get here). */
	p = base_params();
	p.migration_min_bps = 1; /* below the kernel's smallest rate */
	assert_int_equal(ms_htb_apply(h, &p), -EINVAL);
	p = base_params();
	p.ifindex = ifindex + 1000;
	assert_int_equal(ms_htb_apply(h, &p), -EINVAL);
	ev = monitor_drain(mon);
	assert_int_equal(ev.new_class + ev.del_class + ev.qdisc, 0);
	close(mon);

	assert_int_equal(ms_htb_restore(h), 0);
	ms_htb_free(h);
}

static void test_migration_classes(void **state)
{
	struct ms_htb_params p = base_params();
	struct ms_htb_class_stats st0, st1;
	struct ms_htb *h = NULL;
	struct nl_cache *cache;
	struct nl_sock *sk;
	struct tc_events ev;
	int mon;

	(void)state;
	set_root(NULL);
	assert_int_equal(ms_htb_install(&p, &h), 0);
	assert_int_equal(ms_htb_mig_class_add(h, 0x100, 100 * MBIT, 500 * MBIT), 0);
	assert_int_equal(ms_htb_mig_class_add(h, 0x1ff, 200 * MBIT, 600 * MBIT), 0);
	cache = classes_dump(&sk);
	expect_class(cache, 0x100, MS_MINOR_AGGREGATE, 100 * MBIT, 500 * MBIT, 3, 1500);
	expect_class(cache, 0x1ff, MS_MINOR_AGGREGATE, 200 * MBIT, 600 * MBIT, 3, 1500);
	nl_cache_free(cache);
	nl_socket_free(sk);
	assert_int_equal(htb_class_count(), 7);

	send_into(0x100, 10);
	assert_int_equal(ms_htb_class_read(h, 0x100, &st0), 0);
	assert_true(st0.packets >= 10);
	mon = monitor_open();
	assert_int_equal(ms_htb_mig_class_change(h, 0x100, 150 * MBIT, 450 * MBIT), 0);
	ev = monitor_drain(mon);
	assert_int_equal(ev.new_class, 1);
	assert_int_equal(ev.last_class, MS_HANDLE(0x100));
	assert_int_equal(ev.del_class + ev.qdisc, 0);
	assert_int_equal(ms_htb_class_read(h, 0x100, &st1), 0);
	assert_true(st1.packets >= st0.packets);
	assert_int_equal(st1.rate_bps, 150 * MBIT);
	assert_int_equal(st1.ceil_bps, 450 * MBIT);

	/* Bad input: nothing sent. */
	assert_int_equal(ms_htb_mig_class_add(h, MS_MINOR_DEFAULT, MBIT, MBIT), -EINVAL);
	assert_int_equal(ms_htb_mig_class_add(h, MS_MINOR_MIG_BASE - 1, MBIT, MBIT), -EINVAL);
	assert_int_equal(ms_htb_mig_class_add(h, MS_MINOR_MIG_BASE + MS_MAX_MIGRATIONS, MBIT, MBIT),
			 -EINVAL);
	assert_int_equal(ms_htb_mig_class_add(h, 0x101, 0, MBIT), -EINVAL);
	assert_int_equal(ms_htb_mig_class_add(h, 0x101, 2 * MBIT, MBIT), -EINVAL);
	assert_int_equal(ms_htb_mig_class_add(h, 0x100, MBIT, MBIT), -EEXIST);
	assert_int_equal(ms_htb_mig_class_change(h, 0x150, MBIT, MBIT), -ENOENT);
	assert_int_equal(ms_htb_mig_class_change(h, 0x100, 0, MBIT), -EINVAL);
	assert_int_equal(ms_htb_mig_class_del(h, 0x150), -ENOENT);
	assert_int_equal(ms_htb_mig_class_del(h, MS_MINOR_MGMT), -EINVAL);
	ev = monitor_drain(mon);
	assert_int_equal(ev.new_class + ev.del_class + ev.qdisc, 0);

	assert_int_equal(ms_htb_mig_class_del(h, 0x1ff), 0);
	ev = monitor_drain(mon);
	assert_int_equal(ev.del_class, 1);
	assert_int_equal(ev.new_class + ev.qdisc, 0);
	assert_int_equal(ms_htb_class_read(h, 0x1ff, &st0), -ENOENT);
	assert_int_equal(htb_class_count(), 6);
	/* The slot can be reused. */
	assert_int_equal(ms_htb_mig_class_add(h, 0x1ff, 10 * MBIT, 20 * MBIT), 0);
	close(mon);

	assert_int_equal(ms_htb_restore(h), 0);
	assert_int_equal(htb_class_count(), 0);
	ms_htb_free(h);
}

static void test_bad_input_leaves_nothing(void **state)
{
	struct ms_htb_params p;
	struct ms_htb *h = (void *)1;
	struct root before, after;

	(void)state;
	set_root("handle 42: tbf rate 300mbit burst 64kb latency 20ms");
	before = root_read();

	p = base_params();
	p.ifindex = 99999;
	assert_int_equal(ms_htb_install(&p, &h), -ENODEV);
	assert_null(h);
	p.mtu = 1500; /* the link is checked even when the mtu is given */
	assert_int_equal(ms_htb_install(&p, &h), -ENODEV);

	/*
	 * What is this layer's to check; rates that break include/rates.h are
	 * the configuration's to refuse (tests/unit/test_rates.c).
	 */
	p = base_params();
	p.link_bps = 0;
	assert_int_equal(ms_htb_install(&p, &h), -EINVAL);
	p = base_params();
	p.migration_min_bps = 0;
	assert_int_equal(ms_htb_install(&p, &h), -EINVAL);
	p = base_params();
	p.mtu = 65537; /* above the largest IP packet */
	assert_int_equal(ms_htb_install(&p, &h), -EINVAL);
	assert_int_equal(ms_htb_install(NULL, &h), -EINVAL);

	after = root_read();
	assert_root_equal(&before, &after);
	assert_int_equal(htb_class_count(), 0);
	set_root(NULL);
}

/* A failure half-way through the tree puts the original root back. */
static void test_install_rolls_back(void **state)
{
	struct ms_htb_params p = base_params();
	struct ms_htb *h = (void *)1;
	struct root before, after;

	(void)state;
	for (int nth = 1; nth <= 5; nth++) {
		set_root("handle 42: tbf rate 300mbit burst 64kb latency 20ms");
		before = root_read();
		inject_class_add_failure(nth);
		assert_int_equal(ms_htb_install(&p, &h), -ENOMEM);
		inject_class_add_failure(0);
		assert_null(h);
		after = root_read();
		assert_root_equal(&before, &after);
		assert_int_equal(htb_class_count(), 0);
	}
	/* Same from the kernel default root. */
	set_root(NULL);
	before = root_read();
	inject_class_add_failure(3);
	assert_int_equal(ms_htb_install(&p, &h), -ENOMEM);
	inject_class_add_failure(0);
	after = root_read();
	assert_root_equal(&before, &after);
}

/* A failure half-way through ms_htb_apply() reverts what it changed. */
static void test_apply_rolls_back(void **state)
{
	struct ms_htb_params p = base_params(), q;
	struct ms_htb *h = NULL;

	(void)state;
	set_root(NULL);
	assert_int_equal(ms_htb_install(&p, &h), 0);
	q = p;
	q.mgmt_reserve_bps = 200 * MBIT; /* changes mgmt, then default */
	inject_class_add_failure(2);
	assert_int_equal(ms_htb_apply(h, &q), -ENOMEM);
	inject_class_add_failure(0);
	expect_tree(&p, 1500);
	/* And the handle still works afterwards. */
	assert_int_equal(ms_htb_apply(h, &q), 0);
	expect_tree(&q, 1500);
	assert_int_equal(ms_htb_restore(h), 0);
	ms_htb_free(h);
}

/* Runs last: no HTB warning from anything above. */
static void test_no_kernel_warnings(void **state)
{
	char line[1024], rec[2048];
	int warnings = 0;
	ssize_t n;

	(void)state;
	fflush(log_capture);
	rewind(log_capture);
	while (fgets(line, sizeof(line), log_capture)) {
		fputs(line, real_stderr);
		if (strstr(line, "kernel warning") || strstr(line, "quantum"))
			warnings++;
	}
	log_checked = ftell(log_capture);
	while ((n = read(kmsg_fd, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		if (n <= 0)
			continue;
		rec[n] = '\0';
		if (strstr(rec, "quantum is big") || strstr(rec, "quantum of class")) {
			fprintf(real_stderr, "kmsg: %s", rec);
			warnings++;
		}
	}
	assert_int_equal(warnings, 0);
}

static int skip_run(const char *why)
{
	printf("test_htb: skipped: %s\n", why);
	return 77;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_install_tree_and_restore_default),
	    cmocka_unit_test(test_64bit_rates),
	    cmocka_unit_test(test_restore_tbf),
	    cmocka_unit_test(test_apply_is_one_change),
	    cmocka_unit_test(test_migration_classes),
	    cmocka_unit_test(test_bad_input_leaves_nothing),
	    cmocka_unit_test(test_install_rolls_back),
	    cmocka_unit_test(test_apply_rolls_back),
	    cmocka_unit_test(test_no_kernel_warnings),
	};
	char cmd[256], line[1024];
	int rc;

	if (geteuid() != 0)
		return skip_run("needs root");
	if (unshare(CLONE_NEWNET) != 0)
		return skip_run("cannot create a network namespace");
	if (system("ip link set lo up && ip link add " DEV " type veth peer name " PEER
		   " && ip addr add 10.199.0.1/24 dev " DEV " && ip link set " DEV
		   " up && ip link set " PEER " up") != 0)
		return skip_run("cannot create a veth pair");
	if (system("tc qdisc add dev " PEER " root handle 1: htb && tc qdisc del dev " PEER
		   " root") != 0)
		return skip_run("no HTB in this kernel");
	ifindex = (int)if_nametoindex(DEV);
	/* A permanent neighbour: no ARP round trip before the first datagram. */
	snprintf(cmd, sizeof(cmd),
		 "ip neigh replace " PEER_IP " dev " DEV " lladdr $(ip -br link show " PEER
		 " | awk '{print $3}') nud permanent");
	if (system(cmd) != 0)
		return skip_run("cannot add a neighbour");

	/* Kernel log from here on. */
	kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (kmsg_fd >= 0)
		lseek(kmsg_fd, 0, SEEK_END);
	/* The library logs to stderr; keep it for the warning check. */
	ms_log_set_level(MS_LOG_INFO);
	real_stderr = fdopen(dup(STDERR_FILENO), "w");
	log_capture = tmpfile();
	if (!real_stderr || !log_capture)
		return skip_run("cannot capture the log");
	setvbuf(real_stderr, NULL, _IONBF, 0);
	stderr = log_capture;

	rc = cmocka_run_group_tests(tests, NULL, NULL);
	/* cmocka reports to stderr too: pass on what followed the last check. */
	stderr = real_stderr;
	fflush(log_capture);
	if (fseek(log_capture, log_checked, SEEK_SET) == 0)
		while (fgets(line, sizeof(line), log_capture))
			fputs(line, real_stderr);
	return rc;
}
