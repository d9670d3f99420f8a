/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The source's side of issue 14: asks each migration's destination for its
 * agent's answer (GET /v1/peer, peerwire.h) once per cycle, without ever
 * blocking the loop, and keeps per destination what the policy needs: its
 * state (enum ms_policy_dst) and its last good answer. It owns its sockets,
 * an epoll set of them (one source in the agent's loop, however many
 * destinations) and a timerfd for the deadlines.
 *
 * The client is a plain HTTP/1.0 GET to an address literal: no name
 * resolution, no TLS, no redirects, no keep-alive; the response may be at
 * most MS_PEER_MAX_RESPONSE bytes (headers and body), the body at most
 * MS_PEER_MAX_BODY, and the whole exchange must end within the timeout the
 * caller gives (well under a cycle). How each outcome counts:
 *   200 and an answer ms_peer_parse() accepts     answered
 *   no complete answer in time, a 5xx             silent (overloaded, oVirt)
 *   connection refused or reset, or closed early:
 *     after it answered before                    silent (its agent is gone)
 *     never answered                              unknown (no agent there)
 *   404                                           unknown (a server, not ours)
 *   anything else: malformed, oversized, lying,
 *   another status                                refused (last good answer kept)
 * "No agent there" is logged once per destination; refused answers at most
 * once per MS_PEER_LOG_INTERVAL_S per destination, with how many since.
 */
#ifndef MS_PEERCLIENT_H
#define MS_PEERCLIENT_H

#include <stdbool.h>
#include <linux/types.h>

#include "peerwire.h"
#include "policy.h"

struct ms_loop;

/* Destinations followed at once; more are left unknown (local counts only). */
#define MS_PEER_MAX_DESTS      16
#define MS_PEER_MAX_RESPONSE   (MS_PEER_MAX_BODY + 2048U)
#define MS_PEER_LOG_INTERVAL_S 60
/* The longest a request may take, whatever the cycle (a LAN answers in ms). */
#define MS_PEER_TIMEOUT_MAX_MS 500

/* A destination: an IPv4-mapped or IPv6 address (as in struct ms_flow_key) and a port. */
struct ms_peer_addr {
	__u8 ip[16];
	__u16 port;
};

struct ms_peer_status {
	enum ms_policy_dst state;
	__u32 silent;	  /* silent: questions in a row left unanswered (the policy's dst_silent) */
	bool have_answer; /* answer is the last good one (still used when refused) */
	struct ms_peer_answer answer;
};

struct ms_peer_stats {
	__u64 requests_total;
	__u64 answered_total;
	__u64 silent_total;
	__u64 refused_total;
	__u64 absent_total;
};

struct ms_peer_client;

int ms_peer_client_new(struct ms_loop *loop, struct ms_peer_client **out);
/* Closes every request and removes the client from the loop; NULL-safe. */
void ms_peer_client_free(struct ms_peer_client *c);

/*
 * One cycle's questions: begin, then ask each destination once (a
 * destination asked twice in a cycle gets one request), then end, which
 * forgets the destinations no migration goes to any more. A request still
 * in flight from the previous cycle is not doubled. timeout_ms bounds each
 * request from its start.
 */
void ms_peer_begin(struct ms_peer_client *c);
void ms_peer_ask(struct ms_peer_client *c, const struct ms_peer_addr *dst, __u32 timeout_ms);
void ms_peer_end(struct ms_peer_client *c);

/*
 * Called on the loop's thread when a destination's state or answer changed
 * (a first answer, other counts or budget, silence, a refusal), never from
 * within begin/ask/end: the caller may decide again at once, so that a
 * migration started before its destination answered is held to the
 * destination's share within the answer's round trip instead of at the next
 * cycle. fn NULL: no calls.
 */
typedef void (*ms_peer_change_fn)(void *ctx);
void ms_peer_client_on_change(struct ms_peer_client *c, ms_peer_change_fn fn, void *ctx);

/* What is known of dst: unknown for a destination never asked. */
void ms_peer_status(const struct ms_peer_client *c, const struct ms_peer_addr *dst,
		    struct ms_peer_status *out);
void ms_peer_client_stats(const struct ms_peer_client *c, struct ms_peer_stats *out);

#endif /* MS_PEERCLIENT_H */
