/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * One netlink socket for request and answer (libmnl), shared by the modules
 * that ask the kernel something (ethtool, linkwatch). Each answer is awaited
 * at most MS_NLREQ_TIMEOUT_MS: the agent's loop must go on if the kernel
 * stalls.
 */
#ifndef MS_NLREQ_H
#define MS_NLREQ_H

#include <libmnl/libmnl.h>

#define MS_NLREQ_TIMEOUT_MS 1000

struct ms_nlreq; /* owns one netlink socket of a given bus */

int ms_nlreq_open(int bus, struct ms_nlreq **out);
void ms_nlreq_close(struct ms_nlreq *r);

/*
 * Sends req (NLM_F_REQUEST, NLM_F_ACK and the sequence number are set here)
 * and calls cb for each message of the answer until the kernel's
 * acknowledgement or the end of a dump. Returns 0; the kernel's -errno;
 * -ETIMEDOUT; -EPROTO if cb returned MNL_CB_ERROR; or another -errno.
 */
int ms_nlreq_run(struct ms_nlreq *r, struct nlmsghdr *req, mnl_cb_t cb, void *data);

#endif /* MS_NLREQ_H */
