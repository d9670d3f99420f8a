// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Decoding of sock_diag answers (sockdiag.c) and /proc fd links (qemupid.c),
 * on messages built here: the shapes a kernel may send that the namespace test cannot provoke (old
 * kernels' short tcp_info, no TCP_INFO at all, garbage).
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
#include <sys/socket.h>
#include <cmocka.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>

#include "qemupid.h"
#include "sockdiag.h"

struct msgbuf {
	char b[1024] __attribute__((aligned(8)));
};

/* An answer for one socket; info_len < 0 leaves out INET_DIAG_INFO. */
static struct nlmsghdr *build(struct msgbuf *mb, int family, const char *src, __u16 sport,
			      const char *dst, __u16 dport, int info_len)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(mb->b);
	struct inet_diag_msg *m;
	struct tcp_info ti = {0};

	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	m = mnl_nlmsg_put_extra_header(nlh, sizeof(*m));
	m->idiag_family = (__u8)family;
	m->idiag_state = TCP_ESTABLISHED;
	m->idiag_inode = 4242;
	m->id.idiag_sport = htons(sport);
	m->id.idiag_dport = htons(dport);
	if (family == AF_INET || family == AF_INET6) {
		assert_int_equal(inet_pton(family, src, m->id.idiag_src), 1);
		assert_int_equal(inet_pton(family, dst, m->id.idiag_dst), 1);
	}
	/* Another attribute first: the decoder must look for its own. */
	mnl_attr_put_u8(nlh, INET_DIAG_SHUTDOWN, 0);
	if (info_len >= 0) {
		ti.tcpi_rtt = 1234;
		ti.tcpi_rttvar = 56;
		ti.tcpi_total_retrans = 7;
		ti.tcpi_unacked = 3;
		assert_true((size_t)info_len <= sizeof(ti));
		mnl_attr_put(nlh, INET_DIAG_INFO, (size_t)info_len, &ti);
	}
	return nlh;
}

static void test_ipv4(void **state)
{
	static const __u8 want_s[16] = {[10] = 0xff, [11] = 0xff, 10, 0, 0, 1};
	static const __u8 want_d[16] = {[10] = 0xff, [11] = 0xff, 10, 0, 0, 2};
	struct msgbuf mb;
	struct ms_tcp_conn c;

	(void)state;
	assert_int_equal(ms_sockdiag_parse(build(&mb, AF_INET, "10.0.0.1", 49152, "10.0.0.2", 49153,
						 sizeof(struct tcp_info)),
					   &c),
			 0);
	assert_memory_equal(c.key.saddr, want_s, 16);
	assert_memory_equal(c.key.daddr, want_d, 16);
	assert_int_equal(c.key.sport, 49152);
	assert_int_equal(c.key.dport, 49153);
	assert_int_equal(c.key.l4_proto, IPPROTO_TCP);
	assert_memory_equal(c.key.pad, "\0\0\0", 3);
	assert_int_equal(c.inode, 4242);
	assert_int_equal(c.state, TCP_ESTABLISHED);
	assert_int_equal(c.info_valid, 1);
	assert_int_equal(c.rtt_us, 1234);
	assert_int_equal(c.rttvar_us, 56);
	assert_int_equal(c.total_retrans, 7);
	assert_int_equal(c.unacked, 3);
}

/* An IPv4 flow on a dual-stack socket gives the same key as on an IPv4 one. */
static void test_mapped_equals_ipv4(void **state)
{
	struct msgbuf a, b;
	struct ms_tcp_conn c4, c6;

	(void)state;
	assert_int_equal(ms_sockdiag_parse(build(&a, AF_INET, "192.0.2.1", 22, "192.0.2.9", 50000,
						 sizeof(struct tcp_info)),
					   &c4),
			 0);
	assert_int_equal(
	    ms_sockdiag_parse(build(&b, AF_INET6, "::ffff:192.0.2.1", 22, "::ffff:192.0.2.9", 50000,
				    sizeof(struct tcp_info)),
			      &c6),
	    0);
	assert_memory_equal(&c4.key, &c6.key, sizeof(c4.key));
}

static void test_ipv6(void **state)
{
	struct msgbuf mb;
	struct ms_tcp_conn c;
	__u8 want[16];

	(void)state;
	assert_int_equal(ms_sockdiag_parse(build(&mb, AF_INET6, "2001:db8::1", 1, "2001:db8::2",
						 65535, sizeof(struct tcp_info)),
					   &c),
			 0);
	inet_pton(AF_INET6, "2001:db8::1", want);
	assert_memory_equal(c.key.saddr, want, 16);
	inet_pton(AF_INET6, "2001:db8::2", want);
	assert_memory_equal(c.key.daddr, want, 16);
	assert_int_equal(c.key.sport, 1);
	assert_int_equal(c.key.dport, 65535);
}

static void test_tcp_info_lengths(void **state)
{
	const size_t need = offsetof(struct tcp_info, tcpi_total_retrans) + sizeof(__u32);
	struct msgbuf mb;
	struct ms_tcp_conn c;

	(void)state;
	/* Absent. */
	assert_int_equal(
	    ms_sockdiag_parse(build(&mb, AF_INET, "10.0.0.1", 1, "10.0.0.2", 2, -1), &c), 0);
	assert_int_equal(c.info_valid, 0);
	assert_int_equal(c.rtt_us, 0);
	/* Cut before the last field read. */
	assert_int_equal(
	    ms_sockdiag_parse(build(&mb, AF_INET, "10.0.0.1", 1, "10.0.0.2", 2, (int)need - 4), &c),
	    0);
	assert_int_equal(c.info_valid, 0);
	assert_int_equal(c.rtt_us, 0);
	/* An old kernel's: just enough. */
	assert_int_equal(
	    ms_sockdiag_parse(build(&mb, AF_INET, "10.0.0.1", 1, "10.0.0.2", 2, (int)need), &c), 0);
	assert_int_equal(c.info_valid, 1);
	assert_int_equal(c.rtt_us, 1234);
	assert_int_equal(c.total_retrans, 7);
}

/*
 * tcpi_bytes_acked, which glibc's struct tcp_info lacks, at its offset in
 * Linux's <linux/tcp.h> (120: after tcpi_total_retrans at 100 and the two
 * 8-byte pacing rates); a tcp_info that ends before it gives 0.
 */
static void test_bytes_acked(void **state)
{
	const __u64 acked = 297ULL * 1000 * 1000;
	__u8 info[128] __attribute__((aligned(8))) = {0};
	struct msgbuf mb;
	struct ms_tcp_conn c;
	struct nlmsghdr *nlh;

	(void)state;
	memcpy(&info[120], &acked, sizeof(acked));
	nlh = build(&mb, AF_INET, "10.0.0.1", 1, "10.0.0.2", 16509, -1);
	mnl_attr_put(nlh, INET_DIAG_INFO, sizeof(info), info);
	assert_int_equal(ms_sockdiag_parse(nlh, &c), 0);
	assert_int_equal(c.info_valid, 1);
	assert_true(c.bytes_acked == acked);
	nlh = build(&mb, AF_INET, "10.0.0.1", 1, "10.0.0.2", 16509, -1);
	mnl_attr_put(nlh, INET_DIAG_INFO, 120, info);
	assert_int_equal(ms_sockdiag_parse(nlh, &c), 0);
	assert_int_equal(c.info_valid, 1);
	assert_true(c.bytes_acked == 0);
}

static void test_garbage(void **state)
{
	struct msgbuf mb;
	struct ms_tcp_conn c;
	struct nlmsghdr *nlh;

	(void)state;
	nlh = build(&mb, AF_UNIX, NULL, 0, NULL, 0, -1);
	assert_int_equal(ms_sockdiag_parse(nlh, &c), -EINVAL);
	/* Shorter than an inet_diag_msg. */
	nlh = build(&mb, AF_INET, "10.0.0.1", 1, "10.0.0.2", 2, -1);
	nlh->nlmsg_len = mnl_nlmsg_size(sizeof(struct inet_diag_msg) - 1);
	assert_int_equal(ms_sockdiag_parse(nlh, &c), -EINVAL);
}

static void test_parse_link(void **state)
{
	__u32 ino = 0;

	(void)state;
	assert_int_equal(ms_proc_parse_socket_link("socket:[12345]", &ino), 0);
	assert_int_equal(ino, 12345);
	assert_int_equal(ms_proc_parse_socket_link("socket:[4294967295]", &ino), 0);
	assert_int_equal(ino, 4294967295U);
	assert_int_equal(ms_proc_parse_socket_link("socket:[4294967296]", &ino), -EINVAL);
	assert_int_equal(ms_proc_parse_socket_link("socket:[]", &ino), -EINVAL);
	assert_int_equal(ms_proc_parse_socket_link("socket:[12", &ino), -EINVAL);
	assert_int_equal(ms_proc_parse_socket_link("socket:[12]x", &ino), -EINVAL);
	assert_int_equal(ms_proc_parse_socket_link("socket:[-1]", &ino), -EINVAL);
	assert_int_equal(ms_proc_parse_socket_link("pipe:[12]", &ino), -EINVAL);
	assert_int_equal(ms_proc_parse_socket_link("/dev/null", &ino), -EINVAL);
	assert_int_equal(ms_proc_parse_socket_link("anon_inode:[eventfd]", &ino), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ipv4),	cmocka_unit_test(test_mapped_equals_ipv4),
	    cmocka_unit_test(test_ipv6),	cmocka_unit_test(test_tcp_info_lengths),
	    cmocka_unit_test(test_bytes_acked), cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_parse_link),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
