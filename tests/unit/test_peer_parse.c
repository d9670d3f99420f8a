// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The peer answer's parser (agent/peer/peerwire.h) on what a destination,
 * or something pretending to be one, may send: a good answer and its
 * rendering round trip, then garbage, oversized bodies, negative, fractional
 * and huge numbers, counts no agent can have, budgets above the link, a
 * wrong version, duplicates and nesting. A refused answer leaves the output
 * untouched.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "migshaper.h"
#include "peerwire.h"

static int parse(const char *text, struct ms_peer_answer *out, char *err, size_t err_len)
{
	return ms_peer_parse(text, strlen(text), out, err, err_len);
}

static void test_good_and_round_trip(void **state)
{
	struct ms_peer_answer a = {.version = 1,
				   .incoming_migrations = 3,
				   .outgoing_migrations = 1,
				   .incoming_aggregate_mbps = 700,
				   .link_mbps = 950},
			      b;
	char text[256], err[128] = "";
	int len;

	(void)state;
	len = ms_peer_render(&a, text, sizeof(text));
	assert_true(len > 0);
	assert_int_equal(ms_peer_parse(text, (size_t)len, &b, err, sizeof(err)), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	/* Whitespace, other key order, unknown scalar keys, no link_mbps. */
	memset(&b, 0, sizeof(b));
	assert_int_equal(parse(" {\n \"outgoing_migrations\" : 0, \"version\":1,"
			       "\"note\":\"x y\", \"future\": 2.5e3, \"flag\": true, \"n\": null,"
			       "\"incoming_aggregate_mbps\":1,\"incoming_migrations\":"
			       "256 }\r\n",
			       &b, err, sizeof(err)),
			 0);
	assert_int_equal(b.incoming_migrations, MS_MAX_MIGRATIONS);
	assert_int_equal(b.incoming_aggregate_mbps, 1);
	assert_int_equal(b.link_mbps, 0);
	/* A buffer too small to render into. */
	assert_int_equal(ms_peer_render(&a, text, 10), -ENOSPC);
}

static void test_refused(void **state)
{
	static const struct {
		const char *text;
		int ret;
	} cases[] = {
	    {"", -EINVAL},
	    {"garbage", -EINVAL},
	    {"<html>502 Bad Gateway</html>", -EINVAL},
	    {"{", -EINVAL},
	    {"[1,2]", -EINVAL},
	    {"{}", -EINVAL},
	    {"{\"version\":1}", -EINVAL},
	    /* Missing the budget. */
	    {"{\"version\":1,\"incoming_migrations\":1,\"outgoing_migrations\":0}", -EINVAL},
	    /* Wrong version. */
	    {"{\"version\":2,\"incoming_migrations\":1,\"outgoing_migrations\":0,"
	     "\"incoming_aggregate_mbps\":100}",
	     -EINVAL},
	    /* Negative counts. */
	    {"{\"version\":1,\"incoming_migrations\":-1,\"outgoing_migrations\":0,"
	     "\"incoming_aggregate_mbps\":100}",
	     -ERANGE},
	    {"{\"version\":1,\"incoming_migrations\":1,\"outgoing_migrations\":0,"
	     "\"incoming_aggregate_mbps\":-100}",
	     -ERANGE},
	    /* Counts no agent can track, and beyond 32 and 64 bits. */
	    {"{\"version\":1,\"incoming_migrations\":257,\"outgoing_migrations\":0,"
	     "\"incoming_aggregate_mbps\":100}",
	     -ERANGE},
	    {"{\"version\":1,\"incoming_migrations\":4294967297,\"outgoing_migrations\":0,"
	     "\"incoming_aggregate_mbps\":100}",
	     -ERANGE},
	    {"{\"version\":1,\"incoming_migrations\":99999999999999999999999,"
	     "\"outgoing_migrations\":0,\"incoming_aggregate_mbps\":100}",
	     -ERANGE},
	    /* Fractions, exponents, strings and booleans where a count belongs. */
	    {"{\"version\":1,\"incoming_migrations\":1.5,\"outgoing_migrations\":0,"
	     "\"incoming_aggregate_mbps\":100}",
	     -EINVAL},
	    {"{\"version\":1,\"incoming_migrations\":1e3,\"outgoing_migrations\":0,"
	     "\"incoming_aggregate_mbps\":100}",
	     -EINVAL},
	    {"{\"version\":1,\"incoming_migrations\":\"1\",\"outgoing_migrations\":0,"
	     "\"incoming_aggregate_mbps\":100}",
	     -EINVAL},
	    {"{\"version\":1,\"incoming_migrations\":true,\"outgoing_migrations\":0,"
	     "\"incoming_aggregate_mbps\":100}",
	     -EINVAL},
	    /* A budget of 0, above 1 Tbit/s, above the link it reports. */
	    {"{\"version\":1,\"incoming_migrations\":1,\"outgoing_migrations\":0,"
	     "\"incoming_aggregate_mbps\":0}",
	     -ERANGE},
	    {"{\"version\":1,\"incoming_migrations\":1,\"outgoing_migrations\":0,"
	     "\"incoming_aggregate_mbps\":1000001}",
	     -ERANGE},
	    {"{\"version\":1,\"incoming_migrations\":1,\"outgoing_migrations\":0,"
	     "\"incoming_aggregate_mbps\":1000,\"link_mbps\":950}",
	     -ERANGE},
	    /* Duplicates, nesting, trailing bytes, escapes, control bytes. */
	    {"{\"version\":1,\"version\":1,\"incoming_migrations\":1,\"outgoing_migrations\":0,"
	     "\"incoming_aggregate_mbps\":100}",
	     -EINVAL},
	    {"{\"version\":1,\"x\":{\"a\":1},\"incoming_migrations\":1,"
	     "\"outgoing_migrations\":0,\"incoming_aggregate_mbps\":100}",
	     -EINVAL},
	    {"{\"version\":1,\"incoming_migrations\":1,\"outgoing_migrations\":0,"
	     "\"incoming_aggregate_mbps\":100} {}",
	     -EINVAL},
	    {"{\"vers\\u0069on\":1,\"incoming_migrations\":1,\"outgoing_migrations\":0,"
	     "\"incoming_aggregate_mbps\":100}",
	     -EINVAL},
	    {"{\"version\":1,\"incoming_migrations\":1,\"outgoing_migrations\":0,"
	     "\"incoming_aggregate_mbps\":100,",
	     -EINVAL},
	    {"{\"version\":1,\"incoming_migrations\":1 \"outgoing_migrations\":0}", -EINVAL},
	};
	const struct ms_peer_answer untouched = {.version = 77, .incoming_migrations = 5};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ms_peer_answer out = untouched;
		char err[128] = "";

		if (parse(cases[i].text, &out, err, sizeof(err)) != cases[i].ret)
			fail_msg("case %zu (%s): expected %d", i, cases[i].text, cases[i].ret);
		assert_true(err[0] != '\0');
		assert_memory_equal(&out, &untouched, sizeof(out));
	}
}

/* More than MS_PEER_MAX_BODY, or a 10 MB body, is refused unread; so are many keys. */
static void test_oversized(void **state)
{
	size_t big = 10 * 1024 * 1024;
	char *text = malloc(big);
	struct ms_peer_answer out = {0};
	char err[128] = "";
	size_t n = 0;

	(void)state;
	assert_non_null(text);
	memset(text, ' ', big);
	text[0] = '{';
	assert_int_equal(ms_peer_parse(text, big, &out, err, sizeof(err)), -E2BIG);
	assert_int_equal(ms_peer_parse(text, MS_PEER_MAX_BODY + 1, &out, err, sizeof(err)), -E2BIG);
	/* 40 unknown keys, well under 4 KiB. */
	n += (size_t)sprintf(text, "{");
	for (int i = 0; i < 40; i++)
		n += (size_t)sprintf(text + n, "\"k%d\":1,", i);
	n += (size_t)sprintf(text + n, "\"version\":1,\"incoming_migrations\":1,"
				       "\"outgoing_migrations\":0,\"incoming_aggregate_mbps\":1}");
	assert_true(n < MS_PEER_MAX_BODY);
	assert_int_equal(ms_peer_parse(text, n, &out, err, sizeof(err)), -EINVAL);
	/* A NULL err is fine. */
	assert_int_equal(ms_peer_parse("x", 1, &out, NULL, 0), -EINVAL);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_and_round_trip),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_oversized),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
