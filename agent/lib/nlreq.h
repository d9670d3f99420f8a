/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * One netlink socket for request and answer (libmnl): the only request layer
 * of the modules that ask the kernel something over libmnl (ethtool,
 * linkwatch, sock_diag). Each read of an answer waits at most
 * MS_NLREQ_TIMEOUT_MS: the agent's loop must go on if the kernel stalls. A
 * socket whose exchange did not end cleanly is replaced (see nlreq.c).
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

/* Called for each data message of a dump: 0 to go on, anything else stops it. */
typedef int (*ms_nlreq_msg_cb)(const struct nlmsghdr *nlh, void *data);

/*
 * Sends req as a dump request (NLM_F_DUMP is set here, with the flags above)
 * and calls cb for each data message until the end of the dump. Returns 0;
 * cb's nonzero value if it stopped the dump; or -errno as ms_nlreq_run()
 * (-ENOBUFS: the kernel dropped part of the answer, the caller may ask
 * again). A dump that did not reach its end leaves no trace on the socket.
 */
int ms_nlreq_dump(struct ms_nlreq *r, struct nlmsghdr *req, ms_nlreq_msg_cb cb, void *data);

#endif /* MS_NLREQ_H */
