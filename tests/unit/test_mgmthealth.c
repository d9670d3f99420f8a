// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Management health on fake connections: which connections are management,
 * the RTT summary, and the retransmit counter across connections that come,
 * go, repeat within a dump, vanish from one dump, or reuse an inode.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <cmocka.h>

#include "config.h"
#include "mgmthealth.h"

#define HV1  "198.18.0.1"
#define MGR  "198.18.0.3"
#define PEER "198.18.0.2"

static void set(struct ms_config *cfg, const char *key, const char *value)
{
	char err[MS_CONFIG_ERR_LEN];

	assert_int_equal(ms_config_set(cfg, key, value, err, sizeof(err)), 0);
}

static void config(struct ms_config *cfg)
{
	ms_config_init(cfg);
	set(cfg, "mgmt_ports", "22,54321");
	set(cfg, "mgmt_cidrs", "198.18.0.3/32,fd00::3/128,10.1.0.0/17");
	set(cfg, "migration_ports", "49152-49215");
}

/* addr: IPv4 (stored IPv4-mapped) or IPv6 text. */
static void put_addr(__u8 *dst, const char *addr)
{
	struct in_addr v4;

	memset(dst, 0, 16);
	if (inet_pton(AF_INET, addr, &v4) == 1) {
		dst[10] = 0xff;
		dst[11] = 0xff;
		memcpy(dst + 12, &v4, 4);
		return;
	}
	assert_int_equal(inet_pton(AF_INET6, addr, dst), 1);
}

static struct ms_flow_key key(const char *local, __u16 lport, const char *remote, __u16 rport)
{
	struct ms_flow_key k = {.sport = lport, .dport = rport, .l4_proto = IPPROTO_TCP};

	put_addr(k.saddr, local);
	put_addr(k.daddr, remote);
	return k;
}

static struct ms_tcp_conn conn(__u32 inode, __u16 lport, __u32 rtt_us, __u32 retrans)
{
	struct ms_tcp_conn c = {
	    .key = key(HV1, lport, MGR, 40000 + (__u16)(inode % 1000)),
	    .inode = inode,
	    .state = TCP_ESTABLISHED,
	    .info_valid = 1,
	    .rtt_us = rtt_us,
	    .total_retrans = retrans,
	};
	return c;
}

/* One cycle over n connections. */
static struct ms_mgmt_sample cycle(struct ms_mgmt_tracker *t, const struct ms_tcp_conn *c, size_t n)
{
	struct ms_mgmt_sample s;

	ms_mgmt_tracker_begin(t);
	for (size_t i = 0; i < n; i++)
		ms_mgmt_tracker_add(t, &c[i]);
	ms_mgmt_tracker_end(t, &s);
	return s;
}

static void test_is_mgmt(void **state)
{
	struct ms_config cfg;
	struct ms_flow_key k;

	(void)state;
	config(&cfg);
	/* Server side of a management port (the manager polls us). */
	k = key(HV1, 54321, PEER, 40000);
	assert_true(ms_mgmt_is_mgmt(&cfg, &k));
	/* Client side: remote port. */
	k = key(HV1, 40000, PEER, 22);
	assert_true(ms_mgmt_is_mgmt(&cfg, &k));
	/* Remote address in a CIDR, any port; IPv6 too; /17 boundary. */
	k = key(HV1, 40000, MGR, 8443);
	assert_true(ms_mgmt_is_mgmt(&cfg, &k));
	k = key("fd00::1", 40000, "fd00::3", 8443);
	assert_true(ms_mgmt_is_mgmt(&cfg, &k));
	k = key(HV1, 40000, "10.1.127.255", 80);
	assert_true(ms_mgmt_is_mgmt(&cfg, &k));
	k = key(HV1, 40000, "10.1.128.0", 80);
	assert_false(ms_mgmt_is_mgmt(&cfg, &k));
	/* Only the remote address: the host's own may be in a CIDR. */
	k = key(MGR, 40000, PEER, 80);
	assert_false(ms_mgmt_is_mgmt(&cfg, &k));
	/* Neither port nor address. */
	k = key(HV1, 40000, PEER, 80);
	assert_false(ms_mgmt_is_mgmt(&cfg, &k));
	/* A migration stream to the manager's network is not management... */
	k = key(HV1, 40000, MGR, 49152);
	assert_false(ms_mgmt_is_mgmt(&cfg, &k));
	/* ...but a management port wins over a migration port. */
	k = key(HV1, 22, MGR, 49152);
	assert_true(ms_mgmt_is_mgmt(&cfg, &k));
	/* Loopback and self never cross the NIC. */
	k = key("127.0.0.1", 40000, "127.0.0.1", 22);
	assert_false(ms_mgmt_is_mgmt(&cfg, &k));
	k = key("::1", 40000, "::1", 22);
	assert_false(ms_mgmt_is_mgmt(&cfg, &k));
	k = key(HV1, 40000, HV1, 22);
	assert_false(ms_mgmt_is_mgmt(&cfg, &k));
}

static void test_rtt_summary(void **state)
{
	struct ms_mgmt_tracker *t;
	struct ms_tcp_conn c[4] = {
	    conn(10, 22, 900, 0),
	    conn(11, 22, 300, 0),
	    conn(12, 22, 80000, 0), /* one distant peer */
	    conn(13, 22, 500, 0),
	};
	struct ms_tcp_conn no_info = conn(14, 22, 0, 0);
	struct ms_mgmt_sample s;

	(void)state;
	assert_int_equal(ms_mgmt_tracker_new(&t), 0);
	s = cycle(t, NULL, 0);
	assert_int_equal(s.n_conns, 0);
	assert_int_equal(s.rtt_us_max, 0);
	assert_int_equal(s.rtt_us_median, 0);

	s = cycle(t, c, 4);
	assert_int_equal(s.n_conns, 4);
	assert_int_equal(s.rtt_us_max, 80000);
	/* Lower median of 300, 500, 900, 80000. */
	assert_int_equal(s.rtt_us_median, 500);

	/* A connection without TCP_INFO is not counted; duplicates count once. */
	no_info.info_valid = 0;
	ms_mgmt_tracker_begin(t);
	ms_mgmt_tracker_add(t, &no_info);
	ms_mgmt_tracker_add(t, &c[0]);
	ms_mgmt_tracker_add(t, &c[0]);
	ms_mgmt_tracker_add(t, &c[1]);
	ms_mgmt_tracker_end(t, &s);
	assert_int_equal(s.n_conns, 2);
	assert_int_equal(s.rtt_us_median, 300);
	assert_int_equal(s.rtt_us_max, 900);
	ms_mgmt_tracker_free(t);
}

static void test_retrans_counter(void **state)
{
	struct ms_mgmt_tracker *t;
	struct ms_tcp_conn c[3];
	struct ms_mgmt_sample s;

	(void)state;
	assert_int_equal(ms_mgmt_tracker_new(&t), 0);
	/* First cycle: the history of existing connections is the baseline. */
	c[0] = conn(100, 22, 500, 40);
	c[1] = conn(200, 22, 500, 7);
	s = cycle(t, c, 2);
	assert_int_equal(s.retrans_total, 0);

	/* Deltas: +3 and +2. */
	c[0].total_retrans = 43;
	c[1].total_retrans = 9;
	s = cycle(t, c, 2);
	assert_int_equal(s.retrans_total, 5);

	/* A new connection counts whole; a closed one leaves the total alone. */
	c[0].total_retrans = 44;
	c[1] = conn(150, 22, 500, 4);
	s = cycle(t, c, 2);
	assert_int_equal(s.retrans_total, 5 + 1 + 4);

	/* Duplicated within a dump: counted once. */
	c[0].total_retrans = 46;
	c[2] = c[0];
	s = cycle(t, c, 3);
	assert_int_equal(s.retrans_total, 10 + 2);
	assert_int_equal(s.n_conns, 2);
	ms_mgmt_tracker_free(t);
}

static void test_missed_by_a_dump(void **state)
{
	struct ms_mgmt_tracker *t;
	struct ms_tcp_conn c = conn(300, 54321, 700, 0), other = conn(301, 22, 700, 0);
	struct ms_mgmt_sample s;
	unsigned int i;

	(void)state;
	assert_int_equal(ms_mgmt_tracker_new(&t), 0);
	s = cycle(t, &c, 1);
	c.total_retrans = 5;
	s = cycle(t, &c, 1);
	assert_int_equal(s.retrans_total, 5);

	/* Missing from up to MS_MGMT_GRACE_CYCLES dumps: not counted again. */
	for (i = 0; i < MS_MGMT_GRACE_CYCLES; i++)
		s = cycle(t, &other, 1);
	c.total_retrans = 6;
	s = cycle(t, &c, 1);
	assert_int_equal(s.retrans_total, 6);

	/* Gone for longer: forgotten, so a return counts as a new connection. */
	for (i = 0; i <= MS_MGMT_GRACE_CYCLES; i++)
		s = cycle(t, &other, 1);
	s = cycle(t, &c, 1);
	assert_int_equal(s.retrans_total, 12);
	ms_mgmt_tracker_free(t);
}

static void test_recycled_inode(void **state)
{
	struct ms_mgmt_tracker *t;
	struct ms_tcp_conn c = conn(400, 22, 700, 10);
	struct ms_mgmt_sample s;

	(void)state;
	assert_int_equal(ms_mgmt_tracker_new(&t), 0);
	s = cycle(t, &c, 1);
	/* Same inode, smaller total: another socket. Its total counts. */
	c.total_retrans = 3;
	s = cycle(t, &c, 1);
	assert_int_equal(s.retrans_total, 3);
	/* Same inode, another 4-tuple, larger total: also another socket. */
	c.key.dport++;
	c.total_retrans = 8;
	s = cycle(t, &c, 1);
	assert_int_equal(s.retrans_total, 11);
	ms_mgmt_tracker_free(t);
}

static void test_table_full(void **state)
{
	struct ms_mgmt_tracker *t;
	struct ms_tcp_conn *c;
	struct ms_mgmt_sample s;
	size_t n = MS_MGMT_MAX_CONNS + 10;

	(void)state;
	assert_int_equal(ms_mgmt_tracker_new(&t), 0);
	c = calloc(n, sizeof(*c));
	assert_non_null(c);
	/* Inodes in descending order: every insertion shifts the table. */
	for (size_t i = 0; i < n; i++)
		c[i] = conn((__u32)(n - i), 22, (__u32)(i + 1), 1);
	s = cycle(t, c, n);
	assert_int_equal(s.untracked, 10);
	/* All are seen; the RTTs of the first MS_MGMT_MAX_CONNS make the sample. */
	assert_int_equal(s.n_conns, n);
	assert_int_equal(s.retrans_total, 0);
	/* Each tracked connection retransmits once more; the others never count. */
	for (size_t i = 0; i < n; i++)
		c[i].total_retrans = 2;
	s = cycle(t, c, n);
	assert_int_equal(s.retrans_total, MS_MGMT_MAX_CONNS);
	assert_int_equal(s.untracked, 10);
	free(c);
	ms_mgmt_tracker_free(t);
}

/*
 * An idle connection's RTT is that of its last exchange, however old: only
 * connections acknowledged lately count in the RTT, all of them in the
 * count and the retransmits.
 */
static void test_stale_rtt(void **state)
{
	struct ms_tcp_conn c[] = {
	    conn(10, 22, 200, 0),
	    conn(11, 16509, 8600, 0),
	    conn(12, 16509, 8600, 0),
	    conn(13, 16509, 8600, 0),
	};
	struct ms_mgmt_tracker *t;
	struct ms_mgmt_sample s;

	(void)state;
	for (size_t i = 1; i < 4; i++)
		c[i].last_ack_recv_ms = MS_MGMT_RTT_FRESH_MS + 1;
	assert_int_equal(ms_mgmt_tracker_new(&t), 0);
	s = cycle(t, c, 4);
	assert_int_equal(s.n_conns, 4);
	assert_int_equal(s.rtt_us_median, 200);
	assert_int_equal(s.rtt_us_max, 200);
	/* Stale but retransmitting: no RTT, yet the retransmits count. */
	c[0].last_ack_recv_ms = MS_MGMT_RTT_FRESH_MS + 1;
	c[1].total_retrans = 3;
	s = cycle(t, c, 4);
	assert_int_equal(s.n_conns, 4);
	assert_int_equal(s.rtt_us_median, 0);
	assert_int_equal(s.retrans_total, 3);
	/* Acknowledged again: it counts again. */
	c[1].last_ack_recv_ms = 0;
	s = cycle(t, c, 4);
	assert_int_equal(s.rtt_us_median, 8600);
	ms_mgmt_tracker_free(t);
}

static void test_read_args(void **state)
{
	struct ms_config cfg;
	struct ms_mgmt_sample s;

	(void)state;
	config(&cfg);
	assert_int_equal(ms_mgmt_health_read(NULL, NULL, &cfg, NULL, &s), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_is_mgmt),	    cmocka_unit_test(test_rtt_summary),
	    cmocka_unit_test(test_retrans_counter), cmocka_unit_test(test_missed_by_a_dump),
	    cmocka_unit_test(test_recycled_inode),  cmocka_unit_test(test_table_full),
	    cmocka_unit_test(test_stale_rtt),	    cmocka_unit_test(test_read_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
