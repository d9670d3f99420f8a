/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The destination's side of issue 14: GET /v1/peer (peerwire.h) on one
 * HTTP server (ops/http.h: libmicrohttpd in the agent's loop, its
 * connection limits and deadlines) per address of peer_listen. It owns
 * those servers and the answer rate.
 *
 * A listener of its own rather than a route of /metrics: /metrics is bound to
 * metrics_listen (loopback by default) and may require TLS and basic auth
 * (metrics_web_config), while sources ask over the migration network
 * without credentials; a peer learns four counts, never the metrics.
 *
 * Bounded: the answer is a fixed ~120-byte object rendered from what the
 * loop already holds (the snapshot function must not block and makes no
 * libvirt call); at most MS_PEER_ANSWERS_PER_S answers a second (bursts of
 * MS_PEER_ANSWERS_BURST) over all listeners, 429 beyond, so a flood costs
 * the loop no more than that.
 */
#ifndef MS_PEERSERVER_H
#define MS_PEERSERVER_H

#include <stddef.h>
#include <linux/types.h>

#include "config.h" /* MS_PEER_LISTEN_MAX */
#include "peerwire.h"

struct ms_loop;

#define MS_PEER_ANSWERS_PER_S 100
#define MS_PEER_ANSWERS_BURST 200

/* Fills the answer (version included) from the agent's state; 0 or -errno. */
typedef int (*ms_peer_snapshot_fn)(void *ctx, struct ms_peer_answer *out);

struct ms_peer_server;

/*
 * Listens on each of the n addresses (IPv4 or IPv6 literals) at port; all
 * or nothing: -EINVAL, or the bind's -errno, with what failed logged.
 */
int ms_peer_server_start(struct ms_loop *loop, const char (*addrs)[64], size_t n, __u16 port,
			 ms_peer_snapshot_fn fn, void *ctx, struct ms_peer_server **out);
/* Answers given and refused (429) so far. */
void ms_peer_server_counts(const struct ms_peer_server *srv, __u64 *answered, __u64 *limited);
/* NULL-safe. */
void ms_peer_server_stop(struct ms_peer_server *srv);

#endif /* MS_PEERSERVER_H */
