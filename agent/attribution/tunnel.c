/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The choice of a tunnelled migration's connection: see tunnel.h. */
#include "tunnel.h"

/* Growth since the previous look; false when there is nothing to compare with. */
static bool growth(const struct ms_tunnel_watch *w, const struct ms_tcp_conn *k, __u64 *bytes)
{
	if (!w->have_prev)
		return false;
	for (size_t i = 0; i < w->n_prev; i++) {
		if (w->prev[i].inode != k->inode)
			continue;
		*bytes = k->bytes_acked >= w->prev[i].bytes_acked
			     ? k->bytes_acked - w->prev[i].bytes_acked
			     : 0;
		return true;
	}
	/* Opened since the previous look: all it carried is new. */
	*bytes = k->bytes_acked;
	return true;
}

/*
 * Socket inodes grow with creation, roughly: the oldest connection opened
 * since the migration was first seen (libvirt opens one for each
 * peer-to-peer migration after its job starts); with none, the newest
 * older one: libvirt may open the tunnel before the agent sees the job
 * (in the lab a third of the time: its first megabyte rode in management
 * while no guess was made), and an agent restarted during a migration
 * finds only older ones. A wrong guess costs what no guess costs: the
 * bytes correct it.
 */
static int by_creation(const struct ms_tcp_conn *cands, size_t n, const struct ms_tunnel_hint *h)
{
	int best = -1;

	for (size_t i = 0; i < n; i++) {
		__u32 ino = cands[i].inode;
		__u32 b = best < 0 ? 0 : cands[best].inode;

		if (ino > h->inode_floor ? best < 0 || b <= h->inode_floor || ino < b
					 : best < 0 || (b <= h->inode_floor && ino > b))
			best = (int)i;
	}
	return best;
}

/* The connection that carried about what the migration moved; -1 if none did. */
static int by_processed(const struct ms_tcp_conn *cands, size_t n, __u64 processed)
{
	__u64 best_gap = 0;
	int best = -1;

	if (processed < MS_TUNNEL_BULK_BYTES)
		return -1;
	for (size_t i = 0; i < n; i++) {
		__u64 b = cands[i].bytes_acked;
		__u64 gap = b > processed ? b - processed : processed - b;

		if (b < MS_TUNNEL_BULK_BYTES || b < processed / 4)
			continue;
		if (best < 0 || gap < best_gap) {
			best = (int)i;
			best_gap = gap;
		}
	}
	return best;
}

static void remember(struct ms_tunnel_watch *w, const struct ms_tcp_conn *cands, size_t n)
{
	w->n_prev = 0;
	for (size_t i = 0; i < n && w->n_prev < MS_TUNNEL_SAMPLES; i++)
		w->prev[w->n_prev++] = (struct ms_tunnel_sample){
		    .inode = cands[i].inode, .bytes_acked = cands[i].bytes_acked};
	w->have_prev = true;
}

int ms_tunnel_choose(struct ms_tunnel_watch *w, const struct ms_tcp_conn *cands, size_t n,
		     const struct ms_tunnel_hint *hint, bool *bulk)
{
	__u64 best_bytes = 0;
	int best = -1, current = -1, matched;
	size_t n_bulk = 0;

	*bulk = false;
	for (size_t i = 0; i < n; i++) {
		__u64 bytes;

		if (hint->current_inode && cands[i].inode == hint->current_inode)
			current = (int)i;
		if (!growth(w, &cands[i], &bytes) || bytes < MS_TUNNEL_BULK_BYTES)
			continue;
		n_bulk++;
		if (bytes > best_bytes) {
			best_bytes = bytes;
			best = (int)i;
		}
	}
	remember(w, cands, n);
	/*
	 * Several streams (another tunnelled migration's among the
	 * candidates): the one whose bytes match what this job moved.
	 */
	matched = n_bulk > 1 || best < 0 ? by_processed(cands, n, hint->processed_bytes) : -1;
	if (matched >= 0)
		best = matched;
	if (best >= 0) {
		*bulk = true;
		return best;
	}
	/* No stream seen anywhere: keep what is held, or guess early. */
	return current >= 0 ? current : by_creation(cands, n, hint);
}
