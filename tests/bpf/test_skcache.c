// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Classification once per connection, on real sockets: the classifier is
 * attached at egress of the loopback device of a private network namespace,
 * and TCP connections over it keep their class on their socket (see
 * migshaper.h). These tests check that the kept class is used, and that it
 * is derived again whenever it may be wrong: a flow attributed after its
 * first packets, a migration's class slot given to another migration, a port
 * or CIDR change, a socket that connects again after a failed connect. UDP
 * sockets are never classified once: sendto names any peer. The same
 * changes tag sockets again (their priority carries the class, migshaper.h):
 * the tag tests check the priority itself, that an application's own
 * priority is left alone, and that the tags go when the classifier does.
 *
 * An HTB tree on the loopback counts where the data landed, whichever way
 * the classifier found its class (the classifier's own counters leave out
 * tagged packets HTB counts: test_tag_is_read); each test sends more than
 * the loopback's acknowledgements could add, and checks that the data
 * landed in the expected class and not in the one it left.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "htb.h"
#include "loader.h"
#include "log.h"
#include "migshaper.h"
#include "units.h"

#define MIG_A (MS_MINOR_MIG_BASE + 0)
#define MIG_B (MS_MINOR_MIG_BASE + 7)
/* The tags of the agent on lo, which a fresh network namespace numbers 1. */
#define LO_TAG_MAJOR ms_sk_tag_major(1)

/* Bytes each push sends: far more than the acknowledgements of it. */
#define PUSH_BYTES (256 * 1024)

/* Ports on 127.0.0.1, none of them a default management port. */
#define PORT_MIG    49160 /* in the default migration range */
#define PORT_MIG2   49161
#define PORT_PLAIN  2222
#define PORT_CLOSED 2223
#define PORT_MIG3   49162
/* Client ports, bound so flows can be named; each used by one test only. */
#define PORT_MIG_CLIENT	 41000
#define PORT_MIG_CLIENT2 41001
#define PORT_MIG_CLIENT3 41002
#define PORT_MIG_CLIENT4 41003
#define PORT_MIG_CLIENT5 41004
#define PORT_MIG4	 49163
#define PORT_MIG5	 49164

static char pin_root[64];

struct fx {
	struct ms_dataplane *dp;
	struct ms_htb *htb;
};

struct conn {
	int lsn, cli, srv;
	__u16 cport, sport;
};

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN)
		return vfprintf(stderr, fmt, ap);
	return 0;
}

static void lo_up(void)
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		goto fail;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		goto fail;
	close(fd);
	return;
fail:
	fprintf(stderr, "FAIL: bring lo up: %s\n", strerror(errno));
	exit(1);
}

/* Classes far above what the loopback carries here: they count, never delay. */
static int setup(void **state)
{
	struct ms_dataplane_opts opts = {.ifname = "lo", .pin_root = pin_root};
	struct ms_htb_params p = {
	    .ifindex = (int)if_nametoindex("lo"),
	    .link_bps = ms_mbps_to_bps(400000),
	    .mgmt_reserve_bps = ms_mbps_to_bps(10000),
	    .migration_aggregate_bps = ms_mbps_to_bps(300000),
	    .migration_ceil_bps = ms_mbps_to_bps(400000),
	    .migration_max_bps = ms_mbps_to_bps(300000),
	    .migration_min_bps = ms_mbps_to_bps(10000),
	};
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	if (ms_htb_install(&p, &fx->htb))
		goto fail;
	if (ms_htb_mig_class_add(fx->htb, MIG_A, ms_mbps_to_bps(100000), ms_mbps_to_bps(300000)) ||
	    ms_htb_mig_class_add(fx->htb, MIG_B, ms_mbps_to_bps(100000), ms_mbps_to_bps(300000)) ||
	    ms_dataplane_open(&opts, &fx->dp))
		goto fail;
	*state = fx;
	return 0;
fail:
	if (fx->htb)
		ms_htb_restore(fx->htb);
	ms_htb_free(fx->htb);
	free(fx);
	return -1;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	ms_dataplane_close(fx->dp, true);
	ms_htb_restore(fx->htb);
	ms_htb_free(fx->htb);
	free(fx);
	return 0;
}

static struct sockaddr_in lo_addr(__u16 port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sa;
}

static int tcp_socket(__u16 bind_port)
{
	struct timeval tv = {.tv_sec = 5};
	struct sockaddr_in sa = lo_addr(bind_port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* a lost packet fails the test instead of hanging it */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (bind_port)
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void conn_accept(struct conn *c)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	c->srv = accept4(c->lsn, NULL, NULL, SOCK_CLOEXEC);
	assert_true(c->srv >= 0);
	assert_int_equal(getsockname(c->cli, (struct sockaddr *)&sa, &len), 0);
	c->cport = ntohs(sa.sin_port);
}

static void listen_on(struct conn *c, __u16 port)
{
	c->lsn = tcp_socket(port);
	c->sport = port;
	assert_int_equal(listen(c->lsn, 4), 0);
}

/* A connection from 127.0.0.1:cport (0: any) to 127.0.0.1:port. */
static void conn_open(struct conn *c, __u16 cport, __u16 port)
{
	struct sockaddr_in sa = lo_addr(port);

	listen_on(c, port);
	c->cli = tcp_socket(cport);
	assert_int_equal(connect(c->cli, (struct sockaddr *)&sa, sizeof(sa)), 0);
	conn_accept(c);
}

static void conn_close(struct conn *c)
{
	close(c->cli);
	close(c->srv);
	close(c->lsn);
}

/* Client to server; returns once the server has read it all (it has passed egress). */
static void push(struct conn *c)
{
	static char buf[PUSH_BYTES];
	size_t got = 0;
	ssize_t n;

	assert_int_equal(send(c->cli, buf, sizeof(buf), 0), sizeof(buf));
	while (got < sizeof(buf)) {
		n = recv(c->srv, buf, sizeof(buf) - got, 0);
		assert_true(n > 0);
		got += (size_t)n;
	}
}

/* What the HTB class sent: every packet the classifier put in it. */
static __u64 class_bytes(struct fx *fx, __u32 minor)
{
	struct ms_htb_class_stats st;

	assert_int_equal(ms_htb_class_read(fx->htb, minor, &st), 0);
	return st.bytes;
}

/* What the classifier itself counted in the class. */
static __u64 classifier_bytes(struct fx *fx, __u32 minor)
{
	struct ms_class_counter sum;

	assert_int_equal(ms_dataplane_counters(fx->dp, minor, &sum), 0);
	return sum.bytes;
}

/* Pushes once and asserts the data went to minor `to`, not to `not`. */
static void push_lands(struct fx *fx, struct conn *c, __u32 to, __u32 not )
{
	__u64 to0 = class_bytes(fx, to), not0 = class_bytes(fx, not );

	push(c);
	assert_true(class_bytes(fx, to) - to0 >= PUSH_BYTES);
	assert_true(class_bytes(fx, not ) - not0 < PUSH_BYTES / 4);
}

static struct ms_flow_key lo_flow(__u16 sport, __u16 dport)
{
	struct ms_flow_key k = {.sport = sport, .dport = dport, .l4_proto = IPPROTO_TCP};

	k.saddr[10] = k.saddr[11] = k.daddr[10] = k.daddr[11] = 0xff;
	k.saddr[12] = k.daddr[12] = 127;
	k.saddr[15] = k.daddr[15] = 1;
	return k;
}

static void flow_add(struct fx *fx, const struct conn *c, __u32 minor)
{
	struct ms_flow_key k = lo_flow(c->cport, c->sport);
	struct ms_flow_val v = {.class_minor = minor, .migration_id = minor};

	assert_int_equal(ms_dataplane_flow_add(fx->dp, &k, &v), 0);
}

static void flow_del(struct fx *fx, const struct conn *c)
{
	struct ms_flow_key k = lo_flow(c->cport, c->sport);

	assert_int_equal(ms_dataplane_flow_del(fx->dp, &k), 0);
}

static const __u16 default_mgmt[] = {22, 16509, 16514, 54321};

static __u32 priority_of(int fd)
{
	int priority = -1;
	socklen_t len = sizeof(priority);

	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_PRIORITY, &priority, &len), 0);
	return (__u32)priority;
}

/*
 * The tag follows the tables: unattributed, then its migration's class once
 * attributed, the backend's bit when the backend changes, unattributed again
 * when the flow goes, none while DSCP marking is on; and the data lands where
 * it should.
 */
static void test_tag_follows_tables(void **state)
{
	struct ms_dp_config cfg = {.report_interval_ms = MS_REPORT_INTERVAL_DEFAULT_MS};
	struct fx *fx = *state;
	struct conn c;

	conn_open(&c, PORT_MIG_CLIENT4, PORT_MIG4);
	assert_int_equal(ms_dataplane_retag(fx->dp), 0);
	assert_int_equal(priority_of(c.cli), ms_sk_tag(LO_TAG_MAJOR, MS_MINOR_UNATTRIBUTED, 0));
	push_lands(fx, &c, MS_MINOR_UNATTRIBUTED, MIG_A);

	flow_add(fx, &c, MIG_A);
	assert_int_equal(priority_of(c.cli), ms_sk_tag(LO_TAG_MAJOR, MIG_A, 0));
	push_lands(fx, &c, MIG_A, MS_MINOR_UNATTRIBUTED);

	/* the multiqueue backend: the tag says so (lo stands in for its IFB) */
	cfg.mq_ifb_ifindex = 1;
	assert_int_equal(ms_dataplane_set_config(fx->dp, &cfg), 0);
	assert_int_equal(priority_of(c.cli), ms_sk_tag(LO_TAG_MAJOR, MIG_A, 1));
	cfg.mq_ifb_ifindex = 0;
	assert_int_equal(ms_dataplane_set_config(fx->dp, &cfg), 0);

	flow_del(fx, &c);
	assert_int_equal(priority_of(c.cli), ms_sk_tag(LO_TAG_MAJOR, MS_MINOR_UNATTRIBUTED, 0));
	push_lands(fx, &c, MS_MINOR_UNATTRIBUTED, MIG_A);

	/* DSCP marking parses every packet: no tags while it is on */
	flow_add(fx, &c, MIG_A);
	cfg.flags = MS_CFG_DSCP_MARKING;
	assert_int_equal(ms_dataplane_set_config(fx->dp, &cfg), 0);
	assert_int_equal(priority_of(c.cli), 0);
	push_lands(fx, &c, MIG_A, MS_MINOR_UNATTRIBUTED);
	conn_close(&c);
}

/*
 * The classifier takes a tagged packet's class from the tag, not the tables.
 * It counts the packets itself only where no HTB class does: a default
 * packet of the multiqueue backend (its pfifo_fast band has no counter of
 * its own), not one for an HTB class (here every class is one).
 */
static void test_tag_is_read(void **state)
{
	struct fx *fx = *state;
	__u32 tag = ms_sk_tag(LO_TAG_MAJOR, MIG_B, 0);
	__u64 counted;
	struct conn c;

	conn_open(&c, 0, PORT_PLAIN);
	push_lands(fx, &c, MS_MINOR_DEFAULT, MIG_B);
	assert_int_equal(setsockopt(c.cli, SOL_SOCKET, SO_PRIORITY, &tag, sizeof(tag)), 0);
	counted = classifier_bytes(fx, MIG_B);
	push_lands(fx, &c, MIG_B, MS_MINOR_DEFAULT);
	assert_true(classifier_bytes(fx, MIG_B) - counted < PUSH_BYTES / 4);

	tag = ms_sk_tag(LO_TAG_MAJOR, MS_MINOR_DEFAULT, 1);
	assert_int_equal(setsockopt(c.cli, SOL_SOCKET, SO_PRIORITY, &tag, sizeof(tag)), 0);
	counted = classifier_bytes(fx, MS_MINOR_DEFAULT);
	push(&c);
	assert_true(classifier_bytes(fx, MS_MINOR_DEFAULT) - counted >= PUSH_BYTES);
	conn_close(&c);
}

/* A priority the application chose is never replaced; its packets are parsed. */
static void test_app_priority_kept(void **state)
{
	struct fx *fx = *state;
	int priority = 3;
	struct conn c;

	conn_open(&c, PORT_MIG_CLIENT5, PORT_MIG5);
	assert_int_equal(setsockopt(c.cli, SOL_SOCKET, SO_PRIORITY, &priority, sizeof(priority)),
			 0);
	flow_add(fx, &c, MIG_B);
	assert_int_equal(priority_of(c.cli), 3);
	push_lands(fx, &c, MIG_B, MS_MINOR_UNATTRIBUTED);
	conn_close(&c);
}

/*
 * Another agent's tag (that of a second NIC's agent, on a connection it
 * tagged) is left alone, and not read: the connection is classified from the
 * tables. The one major all agents used before is this agent's to replace.
 */
static void test_other_agents_tag(void **state)
{
	struct fx *fx = *state;
	__u32 theirs = ms_sk_tag(ms_sk_tag_major(2), MIG_B, 0);
	struct conn c;

	assert_int_not_equal(ms_sk_tag_major(2), LO_TAG_MAJOR);
	conn_open(&c, PORT_MIG_CLIENT5, PORT_MIG5);
	assert_int_equal(setsockopt(c.cli, SOL_SOCKET, SO_PRIORITY, &theirs, sizeof(theirs)), 0);
	flow_add(fx, &c, MIG_A);
	assert_int_equal(ms_dataplane_retag(fx->dp), 0);
	assert_int_equal(priority_of(c.cli), theirs);
	push_lands(fx, &c, MIG_A, MIG_B);
	/* A tag of an agent from before per-agent majors is taken over. */
	theirs = ms_sk_tag(MS_SK_TAG_MAJOR_LEGACY, MIG_B, 0);
	assert_int_equal(setsockopt(c.cli, SOL_SOCKET, SO_PRIORITY, &theirs, sizeof(theirs)), 0);
	assert_int_equal(ms_dataplane_retag(fx->dp), 0);
	assert_int_equal(priority_of(c.cli), ms_sk_tag(LO_TAG_MAJOR, MIG_A, 0));
	conn_close(&c);
}

/*
 * A fail-static close leaves the tags for the classifier that stays, and a
 * new agent takes them on; closing with detach, or --cleanup, takes every
 * tag off.
 */
static void test_tags_leave_with_classifier(void **state)
{
	struct ms_dataplane_opts opts = {.ifname = "lo", .pin_root = pin_root};
	struct ms_dp_attach prev;
	struct fx *fx = *state;
	struct conn c;

	conn_open(&c, 0, PORT_PLAIN);
	assert_int_equal(ms_dataplane_retag(fx->dp), 0);
	assert_int_equal(priority_of(c.cli), ms_sk_tag(LO_TAG_MAJOR, MS_MINOR_DEFAULT, 0));
	assert_int_equal(ms_dataplane_attach_info(fx->dp, &prev), 0);
	ms_dataplane_close(fx->dp, false);
	fx->dp = NULL;
	assert_int_equal(priority_of(c.cli), ms_sk_tag(LO_TAG_MAJOR, MS_MINOR_DEFAULT, 0));
	opts.adopt = &prev;
	assert_int_equal(ms_dataplane_open(&opts, &fx->dp), 0);
	assert_int_equal(priority_of(c.cli), ms_sk_tag(LO_TAG_MAJOR, MS_MINOR_DEFAULT, 0));
	push_lands(fx, &c, MS_MINOR_DEFAULT, MS_MINOR_MGMT);
	ms_dataplane_close(fx->dp, true);
	fx->dp = NULL;
	assert_int_equal(priority_of(c.cli), 0);

	/* --cleanup after an agent that left its dataplane running */
	opts.adopt = NULL;
	assert_int_equal(ms_dataplane_open(&opts, &fx->dp), 0);
	assert_int_equal(ms_dataplane_retag(fx->dp), 0);
	assert_int_equal(priority_of(c.cli), ms_sk_tag(LO_TAG_MAJOR, MS_MINOR_DEFAULT, 0));
	assert_int_equal(ms_dataplane_attach_info(fx->dp, &prev), 0);
	ms_dataplane_close(fx->dp, false);
	fx->dp = NULL;
	assert_int_equal(ms_dataplane_cleanup(pin_root, "lo", &prev), 0);
	assert_int_equal(priority_of(c.cli), 0);
	conn_close(&c);
}

/*
 * The kept class is what later packets use: a table written behind the
 * loader's back (no new generation) does not change an established
 * connection's class, while the same change through the loader does. Without
 * classification per connection the first write would move it already.
 */
static void test_kept_class_is_used(void **state)
{
	static const __u16 mgmt[] = {22, PORT_PLAIN};
	struct fx *fx = *state;
	char path[128];
	__u32 key = PORT_PLAIN;
	__u8 none = 0;
	struct conn c;
	int fd;

	assert_int_equal(ms_dataplane_set_ports(fx->dp, mgmt, 2, 49152, 49215), 0);
	conn_open(&c, 0, PORT_PLAIN);
	push_lands(fx, &c, MS_MINOR_MGMT, MS_MINOR_DEFAULT);

	snprintf(path, sizeof(path), "%s/lo/ms_ports", pin_root);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	assert_int_equal(bpf_map_update_elem(fd, &key, &none, BPF_ANY), 0);
	close(fd);
	push_lands(fx, &c, MS_MINOR_MGMT, MS_MINOR_DEFAULT);

	assert_int_equal(ms_dataplane_set_ports(fx->dp, default_mgmt, 4, 49152, 49215), 0);
	push_lands(fx, &c, MS_MINOR_DEFAULT, MS_MINOR_MGMT);
	conn_close(&c);
}

/* Unattributed first, its migration's class once the agent attributes it. */
static void test_attributed_later(void **state)
{
	struct fx *fx = *state;
	struct conn c;

	conn_open(&c, PORT_MIG_CLIENT, PORT_MIG);
	push_lands(fx, &c, MS_MINOR_UNATTRIBUTED, MIG_A);
	flow_add(fx, &c, MIG_A);
	push_lands(fx, &c, MIG_A, MS_MINOR_UNATTRIBUTED);
	conn_close(&c);
}

/*
 * A migration ends and its class slot goes to the next one: the old
 * connection, still open, must not ride in the new migration's class.
 */
static void test_slot_reused(void **state)
{
	struct fx *fx = *state;
	struct conn old, next;

	conn_open(&old, PORT_MIG_CLIENT2, PORT_MIG2);
	flow_add(fx, &old, MIG_B);
	push_lands(fx, &old, MIG_B, MS_MINOR_UNATTRIBUTED);

	flow_del(fx, &old);
	conn_open(&next, PORT_MIG_CLIENT3, PORT_MIG3);
	flow_add(fx, &next, MIG_B);
	push_lands(fx, &old, MS_MINOR_UNATTRIBUTED, MIG_B);
	push_lands(fx, &next, MIG_B, MS_MINOR_UNATTRIBUTED);
	conn_close(&old);
	conn_close(&next);
}

/* Reconfiguration: a new management port, a management CIDR and its removal. */
static void test_config_change(void **state)
{
	static const __u16 mgmt[] = {22, PORT_PLAIN};
	struct ms_cidr_key lo_net = {.prefixlen = 96 + 8};
	struct fx *fx = *state;
	struct conn c;

	conn_open(&c, 0, PORT_PLAIN);
	push_lands(fx, &c, MS_MINOR_DEFAULT, MS_MINOR_MGMT);
	assert_int_equal(ms_dataplane_set_ports(fx->dp, mgmt, 2, 49152, 49215), 0);
	push_lands(fx, &c, MS_MINOR_MGMT, MS_MINOR_DEFAULT);
	assert_int_equal(ms_dataplane_set_ports(fx->dp, default_mgmt, 4, 49152, 49215), 0);
	push_lands(fx, &c, MS_MINOR_DEFAULT, MS_MINOR_MGMT);

	lo_net.addr[10] = lo_net.addr[11] = 0xff;
	lo_net.addr[12] = 127;
	assert_int_equal(ms_dataplane_set_mgmt_cidrs(fx->dp, &lo_net, 1), 0);
	push_lands(fx, &c, MS_MINOR_MGMT, MS_MINOR_DEFAULT);
	assert_int_equal(ms_dataplane_set_mgmt_cidrs(fx->dp, NULL, 0), 0);
	push_lands(fx, &c, MS_MINOR_DEFAULT, MS_MINOR_MGMT);

	/* the migration range moved away from the connection's port */
	conn_close(&c);
	conn_open(&c, 0, PORT_MIG);
	push_lands(fx, &c, MS_MINOR_UNATTRIBUTED, MS_MINOR_DEFAULT);
	assert_int_equal(ms_dataplane_set_ports(fx->dp, default_mgmt, 4, 50000, 50063), 0);
	push_lands(fx, &c, MS_MINOR_DEFAULT, MS_MINOR_UNATTRIBUTED);
	conn_close(&c);
}

/*
 * A socket whose connect failed connects again elsewhere: a new 5-tuple on
 * the same socket, and a class kept from the first attempt would be wrong.
 */
static void test_reconnect(void **state)
{
	struct sockaddr_in closed = lo_addr(PORT_CLOSED), mig = lo_addr(PORT_MIG);
	struct fx *fx = *state;
	struct conn c;

	listen_on(&c, PORT_MIG);
	c.cli = tcp_socket(0);
	/* the SYN is classified (default) and kept; the answer is a reset */
	assert_int_equal(connect(c.cli, (struct sockaddr *)&closed, sizeof(closed)), -1);
	assert_int_equal(errno, ECONNREFUSED);
	assert_int_equal(connect(c.cli, (struct sockaddr *)&mig, sizeof(mig)), 0);
	conn_accept(&c);
	push_lands(fx, &c, MS_MINOR_UNATTRIBUTED, MS_MINOR_DEFAULT);
	conn_close(&c);
}

struct flow_events {
	struct ms_flow_key key;
	int n;
};

static void count_flow_events(void *ctx, const struct ms_flow_event *ev)
{
	struct flow_events *fe = ctx;

	if (!memcmp(&ev->key, &fe->key, sizeof(fe->key)))
		fe->n++;
}

/*
 * An unattributed connection keeps its class on its socket too, and is still
 * reported to user space again after each report interval while it stays
 * unattributed.
 */
static void test_unattributed_reported_again(void **state)
{
	struct ms_dp_config cfg = {.report_interval_ms = 100};
	struct fx *fx = *state;
	struct flow_events fe = {0};
	struct conn c;
	int round;

	assert_int_equal(ms_dataplane_set_config(fx->dp, &cfg), 0);
	conn_open(&c, PORT_MIG_CLIENT3 + 1, PORT_MIG3 + 1);
	fe.key = lo_flow(c.cport, c.sport);
	for (round = 0; round < 3; round++) {
		push_lands(fx, &c, MS_MINOR_UNATTRIBUTED, MS_MINOR_DEFAULT);
		/* the report interval is what this test waits for: no event to wait on */
		usleep(150 * 1000);
	}
	push(&c);
	assert_true(ms_dataplane_events_consume(fx->dp, count_flow_events, &fe) >= 0);
	/* the SYN's report, then one per interval at least */
	assert_true(fe.n >= 4);

	/* Tagged, its packets report no more: each retag does, once per interval. */
	assert_int_equal(ms_dataplane_retag(fx->dp), 0);
	assert_int_equal(priority_of(c.cli), ms_sk_tag(LO_TAG_MAJOR, MS_MINOR_UNATTRIBUTED, 0));
	assert_true(ms_dataplane_events_consume(fx->dp, count_flow_events, &fe) >= 0);
	for (round = 0; round < 2; round++) {
		usleep(150 * 1000);
		fe.n = 0;
		push_lands(fx, &c, MS_MINOR_UNATTRIBUTED, MS_MINOR_DEFAULT);
		assert_true(ms_dataplane_events_consume(fx->dp, count_flow_events, &fe) >= 0);
		assert_int_equal(fe.n, 0);
		assert_int_equal(ms_dataplane_retag(fx->dp), 0);
		assert_true(ms_dataplane_events_consume(fx->dp, count_flow_events, &fe) >= 0);
		assert_int_equal(fe.n, 1);
	}
	conn_close(&c);
}

/* One UDP socket, two peers: each datagram is classified by its own ports. */
static void test_udp_per_packet(void **state)
{
	struct sockaddr_in mgmt = lo_addr(22), plain = lo_addr(PORT_PLAIN);
	struct fx *fx = *state;
	static char buf[1400];
	__u64 m0, d0;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), i;

	assert_true(fd >= 0);
	m0 = class_bytes(fx, MS_MINOR_MGMT);
	d0 = class_bytes(fx, MS_MINOR_DEFAULT);
	for (i = 0; i < 64; i++)
		assert_int_equal(
		    sendto(fd, buf, sizeof(buf), 0, (struct sockaddr *)&mgmt, sizeof(mgmt)),
		    sizeof(buf));
	for (i = 0; i < 64; i++)
		assert_int_equal(
		    sendto(fd, buf, sizeof(buf), 0, (struct sockaddr *)&plain, sizeof(plain)),
		    sizeof(buf));
	/* UDP on loopback leaves egress inside sendto */
	assert_true(class_bytes(fx, MS_MINOR_MGMT) - m0 >= 64 * sizeof(buf));
	assert_true(class_bytes(fx, MS_MINOR_DEFAULT) - d0 >= 64 * sizeof(buf));
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_kept_class_is_used, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_attributed_later, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slot_reused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_change, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unattributed_reported_again, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_udp_per_packet, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tag_follows_tables, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tag_is_read, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_agents_tag, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_app_priority_kept, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tags_leave_with_classifier, setup, teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: attaching the classifier needs root\n");
		return 77;
	}
	libbpf_set_print(libbpf_quiet);
	ms_log_set_level(MS_LOG_WARN);
	/* A private loopback: the classifier sees only this test's traffic. */
	if (unshare(CLONE_NEWNET) != 0) {
		fprintf(stderr, "SKIP: no network namespace: %s\n", strerror(errno));
		return 77;
	}
	lo_up();
	snprintf(pin_root, sizeof(pin_root), "/sys/fs/bpf/migshaper-test-skcache-%d",
		 (int)getpid());
	return cmocka_run_group_tests(tests, NULL, NULL);
}
