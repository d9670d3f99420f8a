// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The choice of a tunnelled migration's libvirtd connection (tunnel.c) over
 * lists of connections as sock_diag would give them, look after look: the
 * bytes decide over creation order, a wrong early guess is corrected, a
 * choice made by the bytes holds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tunnel.h"

#define MB (1000ULL * 1000)

static struct ms_tcp_conn conn(__u32 inode, __u64 bytes_acked)
{
	struct ms_tcp_conn k = {.inode = inode, .bytes_acked = bytes_acked};

	k.key.dport = 16509;
	return k;
}

/* Before the stream: the oldest connection opened since the migration was found. */
static void test_early_guess_by_creation(void **state)
{
	struct ms_tunnel_watch w = {0};
	struct ms_tunnel_hint h = {.inode_floor = 100};
	struct ms_tcp_conn c[] = {conn(90, 5000), conn(130, 2000), conn(120, 1000)};
	bool bulk = true;

	(void)state;
	assert_int_equal(ms_tunnel_choose(&w, c, 3, &h, &bulk), 2);
	assert_false(bulk);
	/*
	 * Only older connections (libvirt opened the tunnel before the job
	 * showed; an agent restart): the newest.
	 */
	w = (struct ms_tunnel_watch){0};
	h.inode_floor = 200;
	assert_int_equal(ms_tunnel_choose(&w, c, 3, &h, &bulk), 1);
	assert_false(bulk);
	/* No candidate at all: no choice. */
	w = (struct ms_tunnel_watch){0};
	assert_int_equal(ms_tunnel_choose(&w, c, 0, &h, &bulk), -1);
}

/*
 * The lab's failure: the inodes put the control connection (120) first; the
 * stream rides in 130. The next look moves the choice there, for good.
 */
static void test_bytes_correct_a_wrong_guess(void **state)
{
	struct ms_tunnel_watch w = {0};
	struct ms_tunnel_hint h = {.inode_floor = 100};
	struct ms_tcp_conn c[] = {conn(130, 40000), conn(120, 9000)};
	bool bulk;

	(void)state;
	assert_int_equal(ms_tunnel_choose(&w, c, 2, &h, &bulk), 1);
	assert_false(bulk);
	h.current_inode = 120;
	c[0].bytes_acked += 30 * MB;
	c[1].bytes_acked += 4000;
	assert_int_equal(ms_tunnel_choose(&w, c, 2, &h, &bulk), 0);
	assert_true(bulk);
	/* Held now; it goes on carrying the stream. */
	h.current_inode = 130;
	c[0].bytes_acked += 30 * MB;
	assert_int_equal(ms_tunnel_choose(&w, c, 2, &h, &bulk), 0);
	assert_true(bulk);
}

/* A pause of the stream (switchover, a cap at 0) does not move a held choice. */
static void test_quiet_keeps_the_held_one(void **state)
{
	struct ms_tunnel_watch w = {0};
	struct ms_tunnel_hint h = {.inode_floor = 100, .current_inode = 150};
	struct ms_tcp_conn c[] = {conn(110, 1000), conn(150, 80 * MB)};
	bool bulk;

	(void)state;
	assert_int_equal(ms_tunnel_choose(&w, c, 2, &h, &bulk), 1);
	c[0].bytes_acked += 3000;
	assert_int_equal(ms_tunnel_choose(&w, c, 2, &h, &bulk), 1);
	assert_false(bulk);
}

/*
 * Kilobytes of control messages never look like a stream, whatever their
 * order; a connection opened between two looks counts all it carried.
 */
static void test_threshold_and_new_connections(void **state)
{
	struct ms_tunnel_watch w = {0};
	struct ms_tunnel_hint h = {.inode_floor = 100, .current_inode = 110};
	struct ms_tcp_conn c[] = {conn(110, 1000), conn(140, 0)};
	bool bulk;

	(void)state;
	assert_int_equal(ms_tunnel_choose(&w, c, 1, &h, &bulk), 0);
	c[0].bytes_acked += MS_TUNNEL_BULK_BYTES - 1;
	assert_int_equal(ms_tunnel_choose(&w, c, 1, &h, &bulk), 0);
	assert_false(bulk);
	c[1].bytes_acked = 5 * MB;
	assert_int_equal(ms_tunnel_choose(&w, c, 2, &h, &bulk), 1);
	assert_true(bulk);
}

/* The first look has nothing to compare with: bytes so far prove nothing yet. */
static void test_first_look_is_no_evidence(void **state)
{
	struct ms_tunnel_watch w = {0};
	struct ms_tunnel_hint h = {.inode_floor = 100};
	struct ms_tcp_conn c[] = {conn(110, 1000), conn(90, 500 * MB)};
	bool bulk;

	(void)state;
	assert_int_equal(ms_tunnel_choose(&w, c, 2, &h, &bulk), 0);
	assert_false(bulk);
	assert_int_equal(ms_tunnel_choose(&w, NULL, 0, &h, &bulk), -1);
}

/*
 * Within one look, no earlier one needed: the connection that carried about
 * what the job stats say the migration moved, not another p2p migration's
 * control connection opened later, nor an old idle one with more bytes.
 */
static void test_matches_what_the_job_moved(void **state)
{
	struct ms_tunnel_watch w = {0};
	struct ms_tunnel_hint h = {.inode_floor = 100, .processed_bytes = 40 * MB};
	struct ms_tcp_conn c[] = {conn(90, 36 * MB), conn(130, 30000), conn(80, 900 * MB)};
	bool bulk;

	(void)state;
	assert_int_equal(ms_tunnel_choose(&w, c, 3, &h, &bulk), 0);
	assert_true(bulk);
	/* Far less than it moved: not this one. */
	w = (struct ms_tunnel_watch){0};
	c[0].bytes_acked = 5 * MB;
	c[2].bytes_acked = 1000 * MB;
	assert_int_equal(ms_tunnel_choose(&w, c, 2, &h, &bulk), 1);
	assert_false(bulk);
}

/*
 * Two tunnelled migrations' streams among the candidates (both grew): the
 * one that carried about what this job moved, not the one that grew most.
 */
static void test_two_streams(void **state)
{
	struct ms_tunnel_watch w = {0};
	struct ms_tunnel_hint h = {.inode_floor = 100, .processed_bytes = 20 * MB};
	struct ms_tcp_conn c[] = {conn(110, 30000), conn(120, 30000)};
	bool bulk;

	(void)state;
	assert_int_equal(ms_tunnel_choose(&w, c, 2, &h, &bulk), 0);
	assert_false(bulk);
	c[0].bytes_acked += 60 * MB;
	c[1].bytes_acked += 19 * MB;
	assert_int_equal(ms_tunnel_choose(&w, c, 2, &h, &bulk), 1);
	assert_true(bulk);
	/* The other job, with what it moved: the other stream. */
	w = (struct ms_tunnel_watch){0};
	h.processed_bytes = 61 * MB;
	assert_int_equal(ms_tunnel_choose(&w, c, 2, &h, &bulk), 0);
	c[0].bytes_acked += 1 * MB;
	c[1].bytes_acked += 2 * MB;
	assert_int_equal(ms_tunnel_choose(&w, c, 2, &h, &bulk), 0);
	assert_true(bulk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_early_guess_by_creation),
	    cmocka_unit_test(test_bytes_correct_a_wrong_guess),
	    cmocka_unit_test(test_quiet_keeps_the_held_one),
	    cmocka_unit_test(test_threshold_and_new_connections),
	    cmocka_unit_test(test_first_look_is_no_evidence),
	    cmocka_unit_test(test_matches_what_the_job_moved),
	    cmocka_unit_test(test_two_streams),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
