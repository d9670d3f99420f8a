/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Which of libvirtd's connections to a destination libvirtd carries a
 * tunnelled migration's stream: a pure choice over a list of connections
 * (no kernel, no libvirt), made by agent/control/attribute.c every cycle until
 * the stream confirms it.
 *
 * The firm evidence is the bytes: the tunnel carries the whole stream
 * (hundreds of MB), a control connection kilobytes. Between two looks at
 * the same connections, the one whose acknowledged bytes grew by at least
 * MS_TUNNEL_BULK_BYTES, the most, is the tunnel; when several grew that
 * much (another tunnelled migration's stream among them), the one whose
 * bytes come closest to what this job moved (below). Within one look, the
 * connection whose acknowledged bytes come closest to what the job stats say
 * the migration moved (at least MS_TUNNEL_BULK_BYTES, and a quarter of it:
 * the rest may sit in socket buffers) is too. Before any stream moves
 * there is only the order of creation (socket inodes, which the kernel
 * hands out in per-CPU batches, so not reliable): it gives an early choice,
 * which the bytes correct later. The coordinator uses that choice only for
 * the tunnel's route (whose migration it is); it holds every candidate in
 * the migration's class until the bytes decide.
 */
#ifndef MS_TUNNEL_H
#define MS_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "sockdiag.h"

/* How many connections of the previous look are remembered. */
#define MS_TUNNEL_SAMPLES 16U
/* Growth between two looks that only a migration stream reaches. */
#define MS_TUNNEL_BULK_BYTES (256ULL * 1024)

struct ms_tunnel_sample {
	__u32 inode;
	__u64 bytes_acked;
};

/* One migration's watch over its candidate connections. */
struct ms_tunnel_watch {
	struct ms_tunnel_sample prev[MS_TUNNEL_SAMPLES];
	size_t n_prev;
	bool have_prev;
	/* The stream was seen in the chosen connection: the choice is firm. */
	bool confirmed;
};

/* What a choice is made from, besides the connections. */
struct ms_tunnel_hint {
	/* The connection the migration holds now (0: none). */
	__u32 current_inode;
	/* The highest inode when the migration was first seen. */
	__u32 inode_floor;
	/* The bytes of memory it moved so far (its job stats). */
	__u64 processed_bytes;
};

/*
 * cands: the candidates (libvirtd's established connections to a libvirtd
 * port that no other migration holds, the migration's own among them).
 * Returns the index of the connection that carries (or, without evidence
 * yet, most likely will carry) the stream, or -1 for none. *bulk says the
 * choice is the bytes' (firm). Records cands' bytes in w for the next look.
 */
int ms_tunnel_choose(struct ms_tunnel_watch *w, const struct ms_tcp_conn *cands, size_t n,
		     const struct ms_tunnel_hint *hint, bool *bulk);

#endif /* MS_TUNNEL_H */
