/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The coordinator's attribution (agent/control/coord.c runs it each cycle):
 * which connections carry which migration. One sock_diag dump per cycle,
 * and only when something may be left to attribute (a flow reported or
 * evicted, a running migration without a flow or an owner) or the backstop
 * is due; each migration's connections go into the BPF flow map with its
 * class, and decide whose the migration is (coord_state.h). It owns no
 * state of its own: everything lives in struct ms_coord.
 */
#ifndef MS_ATTRIBUTE_H
#define MS_ATTRIBUTE_H

#include <stdbool.h>

struct ms_coord;
struct ms_flow_key;

/* One attribution pass. True when an owner was decided: allocate again. */
bool ms_attrib_all(struct ms_coord *c);
/* True if key is a flow of some migration's. */
bool ms_attrib_flow_attributed(const struct ms_coord *c, const struct ms_flow_key *key);
/* Forgets flows the LRU flow map evicted, so that they are attributed again. */
void ms_attrib_check_evictions(struct ms_coord *c);
/* Counts and logs running outgoing migrations that have no connection attributed. */
void ms_attrib_check_unattributed(struct ms_coord *c);

#endif /* MS_ATTRIBUTE_H */
