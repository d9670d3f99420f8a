/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What one agent tells another about the migrations it takes part in
 * (GET /v1/peer, issue 14): the answer's fields, its JSON rendering and the
 * strict parser a source runs on what a destination sent. Pure: no I/O.
 *
 * The answer, version 1, one JSON object of non-negative integers:
 *   {"version":1,"incoming_migrations":N,"outgoing_migrations":N,
 *    "incoming_aggregate_mbps":N,"link_mbps":N}
 * A parser accepts other keys with scalar values (later versions may add
 * fields), refuses nesting, duplicates, a missing field, and numbers it
 * cannot believe: negative, not integers, counts above what an agent can
 * track (MS_MAX_MIGRATIONS), a budget of 0, above MS_PEER_MBPS_MAX or above
 * the link it reports. A peer's answer is input from another host: nothing
 * in it is trusted beyond these bounds.
 */
#ifndef MS_PEERWIRE_H
#define MS_PEERWIRE_H

#include <stddef.h>
#include <linux/types.h>

#define MS_PEER_VERSION 1U
#define MS_PEER_PATH	"/v1/peer"
/* An answer is about 120 bytes; anything above this is not one. */
#define MS_PEER_MAX_BODY 4096U
/* 1 Tbit/s, the configuration's own ceiling (config.h MS_MBPS_MAX). */
#define MS_PEER_MBPS_MAX 1000000U

struct ms_peer_answer {
	__u32 version;
	__u32 incoming_migrations;
	__u32 outgoing_migrations;
	__u32 incoming_aggregate_mbps; /* what it accepts from all sources together */
	__u32 link_mbps;	       /* its shaped link; 0: not given */
};

/* The JSON text into buf (NUL-terminated); its length, or -ENOSPC. */
int ms_peer_render(const struct ms_peer_answer *a, char *buf, size_t len);

/*
 * Parses len bytes of body (no NUL needed). 0 and *out filled, or -EINVAL
 * (malformed, wrong version) / -ERANGE (a number out of bounds) / -E2BIG
 * (longer than MS_PEER_MAX_BODY) with the reason in err; *out untouched.
 */
int ms_peer_parse(const char *body, size_t len, struct ms_peer_answer *out, char *err,
		  size_t err_len);

#endif /* MS_PEERWIRE_H */
