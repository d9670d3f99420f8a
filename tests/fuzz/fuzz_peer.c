// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target for the peer answer's parser (agent/peer/peerwire.c),
 * which reads what another host sent. Besides crashes and sanitizer
 * reports it checks peerwire.h's promises:
 *   - refused: a negative errno and out untouched;
 *   - accepted: version 1, counts at most MS_MAX_MIGRATIONS, a budget of
 *     1..MS_PEER_MBPS_MAX and within the link when one is given, and the
 *     answer renders into text that parses back to the same answer;
 *   - anything over MS_PEER_MAX_BODY is refused with -E2BIG.
 * Input: the body, as received.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migshaper.h"
#include "peerwire.h"

#define CHECK(cond)                                                                           \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, "fuzz_peer: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                              \
		}                                                                             \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct ms_peer_answer poison = {.version = 0xdead, .incoming_migrations = 0xbeef};
	struct ms_peer_answer a = poison, b;
	char err[128], text[256];
	int ret, len;

	ret = ms_peer_parse((const char *)data, size, &a, err, sizeof(err));
	if (size > MS_PEER_MAX_BODY)
		CHECK(ret == -E2BIG);
	if (ret) {
		CHECK(ret == -EINVAL || ret == -ERANGE || ret == -E2BIG);
		CHECK(memcmp(&a, &poison, sizeof(a)) == 0);
		CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		return 0;
	}
	CHECK(a.version == MS_PEER_VERSION);
	CHECK(a.incoming_migrations <= MS_MAX_MIGRATIONS);
	CHECK(a.outgoing_migrations <= MS_MAX_MIGRATIONS);
	CHECK(a.incoming_aggregate_mbps >= 1 && a.incoming_aggregate_mbps <= MS_PEER_MBPS_MAX);
	CHECK(!a.link_mbps || a.incoming_aggregate_mbps <= a.link_mbps);
	len = ms_peer_render(&a, text, sizeof(text));
	CHECK(len > 0);
	CHECK(ms_peer_parse(text, (size_t)len, &b, err, sizeof(err)) == 0);
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	return 0;
}
