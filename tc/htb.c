// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The HTB tree on the shared NIC, over rtnetlink with libnl-route-3.
 *
 * Every class is written with all of its parameters (rate, ceil, prio,
 * quantum and both buckets) because an HTB change message replaces them
 * all; nothing is left to the kernel's or libnl's defaults, which are wrong
 * at the rates we use (see ms_htb_geometry_compute()).
 */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/pkt_sched.h>

#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/route/link.h>
#include <netlink/route/tc.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/class.h>
#include <netlink/route/qdisc/htb.h>

#include "migshaper.h"
#include "log.h"
#include "htb.h"
#include "tcnl.h"
#include "rates.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define NSEC_PER_SEC 1000000000ULL
#define USEC_PER_SEC 1000000ULL

/*
 * Token-bucket depth, as time at the class's rate.
 *
 * HTB refills a class's bucket continuously but only looks at it when it
 * dequeues: on a packet event or when its watchdog hrtimer fires. Tokens that
 * would overflow the bucket while the class waits are lost, so a bucket
 * shallower than the wake-up latency caps the class below its rate. That is
 * the -3.5% the lab measured at 200 Mbit with iproute2's default burst, which
 * is about one MTU (~60 us at 200 Mbit) regardless of rate. Softirq and timer
 * latency on a loaded hypervisor is in the tens to hundreds of microseconds,
 * so a depth of a few milliseconds of the class's rate absorbs it at every
 * rate; one extra full frame keeps a full-size packet admissible even at low
 * rates where those milliseconds are less than a frame.
 *
 * The depth is also how far a class may run ahead of its rate after being
 * idle, and what it could dump ahead of others then. Management traffic
 * within its reserve does not wait for that: it is prio 0 at level 0 and is
 * dequeued before any other leaf that has tokens, so it only ever waits for
 * what is already in the NIC (bounded by BQL). Management above its reserve,
 * and the default class, borrow at a higher level and can wait behind a
 * migration leaf's burst: at most MS_HTB_BURST_NS of the leaf's own rate per
 * leaf. Keeping the depth to a few milliseconds keeps that wait the same
 * order as a single RTT on a LAN, which the management protocols tolerate.
 *
 * Measured in the lab (1 Gbit wire, agent at 950 Mbit, 4 bulk flows): with
 * 4 ms, HTB's catch-up bursts queued up to ~270 KB in the NIC's FIFO and
 * management p50 reached 7.5 ms in some runs; with 1 ms, p50 stayed at
 * 0.2 ms but an 800 Mbit cap lost 3.9% under load; 2 ms kept p99 within the
 * idle p99 and the caps within ~1-3%.
 */
#ifndef MS_HTB_BURST_NS
#define MS_HTB_BURST_NS 2000000ULL
#endif

/*
 * DRR quantum: what a leaf may send per round when siblings of the same prio
 * borrow from their parent, so the surplus splits in proportion to quanta.
 * Each class gets one millisecond of its own rate (r2q per class instead of
 * HTB's one r2q for the whole qdisc), which keeps the split proportional to
 * the rates from ~12 Mbit up to 1 Tbit. It is clamped to at least one full
 * frame (a smaller quantum only costs extra rounds) and 1000 bytes. HTB's own
 * 200000-byte clamp applies only to quanta it derives from r2q, never to one
 * we give: with it, every class above 1.6 Gbit had the same quantum and a
 * 10 Gbit class borrowed no more than a 2 Gbit sibling. A round is still one
 * millisecond of the leaf's rate, so siblings wait no longer at 100 Gbit
 * than at 100 Mbit; management never waits for it (prio 0, level 0).
 */
#define MS_HTB_QUANTUM_NS  1000000ULL
#define MS_HTB_QUANTUM_MIN 1000U
/* 1 ms at 1 Tbit/s; the kernel keeps the quantum in an int. */
#define MS_HTB_QUANTUM_MAX 125000000U

/*
 * Leaf priorities, which decide who borrows first what others leave:
 * management (0), then default traffic (2), then migrations (3). Every leaf
 * gets its own rate first whatever its prio, so this only orders the
 * surplus: with the work-conserving defaults the aggregate borrows from the
 * link, and migrations take only what management and default traffic leave
 * (default keeps its rate and, ahead of migrations, the idle reserve). With
 * the aggregate set by hand (ceil = rate) migrations borrow only inside the
 * aggregate, among themselves, and the order changes nothing.
 */
#define MS_HTB_PRIO_MGMT      0U
#define MS_HTB_PRIO_DEFAULT   2U
#define MS_HTB_PRIO_MIGRATION 3U

#define MS_HTB_MTU_MAX 65536U
/* The default class keeps at least this fraction (1/N) of the link. */
#define MS_HTB_DEFAULT_FLOOR_DIV 100ULL

/* Indexes into ms_fixed_classes() (include/migshaper.h), in its order. */
enum fixed_class {
	FIX_LINK,
	FIX_MGMT,
	FIX_AGGREGATE,
	FIX_UNATTRIBUTED,
	FIX_DEFAULT,
	FIX_COUNT,
};

_Static_assert(FIX_COUNT == MS_N_FIXED_CLASSES, "the fixed classes are those of migshaper.h");

/* The desired configuration of one class. */
struct class_spec {
	__u32 minor;
	__u32 parent; /* full handle */
	__u32 prio;
	__u64 rate_bps;
	__u64 ceil_bps;
	struct ms_htb_geometry geo;
};

struct ms_htb {
	struct nl_sock *sk;
	int ifindex;
	__u32 mtu;
	bool installed;
	/*
	 * Another tool's root is in place and we yield to it: changes are only
	 * recorded, and ms_htb_reassert() puts them all in place later.
	 */
	bool suspended;
	struct ms_htb_params params;
	struct class_spec fixed[FIX_COUNT];
	/* The root qdisc found at install; not present when it was the
	 * kernel's default (handle 0), which deleting ours brings back. */
	struct ms_htb_root orig;
	__u64 mig_present[MS_MAX_MIGRATIONS / 64];
	/* What each present per-migration class was last set to, for reassert. */
	struct class_spec mig[MS_MAX_MIGRATIONS];
	/* Extended-ack text of the last request, for error messages. */
	char extack[256];
};

/* ------------------------------------------------------------------ */
/* Geometry                                                           */

static __u64 bytes_in(__u64 bytes_per_sec, __u64 ns)
{
	return (__u64)(((unsigned __int128)bytes_per_sec * ns) / NSEC_PER_SEC);
}

/* Mirrors libnl, which turns a bucket in bytes into whole microseconds. */
static __u32 bucket_us(__u64 bucket, __u64 bytes_per_sec)
{
	__u64 us = (__u64)(((unsigned __int128)bucket * USEC_PER_SEC) / bytes_per_sec);

	return us > UINT32_MAX ? UINT32_MAX : (__u32)us;
}

static __u32 bucket_bytes(__u64 bytes_per_sec, __u32 frame)
{
	__u64 b = bytes_in(bytes_per_sec, MS_HTB_BURST_NS) + frame;

	/* libnl carries the bucket in an int. */
	return b > INT32_MAX ? INT32_MAX : (__u32)b;
}

int ms_htb_geometry_compute(__u64 rate_bps, __u64 ceil_bps, __u32 mtu, struct ms_htb_geometry *out)
{
	__u64 rate_Bps, ceil_Bps, q;
	__u32 frame;

	if (!out || rate_bps < MS_HTB_MIN_RATE_BPS || ceil_bps < rate_bps || mtu == 0 ||
	    mtu > MS_HTB_MTU_MAX)
		return -EINVAL;

	rate_Bps = rate_bps / 8;
	ceil_Bps = ceil_bps / 8;
	/* HTB charges the whole frame (qdisc_pkt_len), link header included. */
	frame = mtu + ETH_HLEN;

	/* frame <= MS_HTB_MTU_MAX + ETH_HLEN < MS_HTB_QUANTUM_MAX */
	q = bytes_in(rate_Bps, MS_HTB_QUANTUM_NS);
	if (q < frame)
		q = frame;
	if (q < MS_HTB_QUANTUM_MIN)
		q = MS_HTB_QUANTUM_MIN;
	if (q > MS_HTB_QUANTUM_MAX)
		q = MS_HTB_QUANTUM_MAX;

	out->quantum_bytes = (__u32)q;
	out->burst_bytes = bucket_bytes(rate_Bps, frame);
	out->cburst_bytes = bucket_bytes(ceil_Bps, frame);
	out->buffer_us = bucket_us(out->burst_bytes, rate_Bps);
	out->cbuffer_us = bucket_us(out->cburst_bytes, ceil_Bps);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Netlink plumbing                                                   */

static int nl_fail(struct ms_htb *h, int nlerr, const char *what, __u32 minor)
{
	ms_err("htb: ifindex %d: %s %x:%x: %s%s%s", h->ifindex, what, MS_HTB_MAJOR, minor,
	       nl_geterror(nlerr), h->extack[0] ? "; kernel: " : "", h->extack);
	return ms_tcnl_errno(nlerr);
}

/*
 * Sees every message the socket receives. The kernel's extended ack carries
 * the text of an error and also of warnings on success (HTB reports "quantum
 * of class ... is big" this way, not in the kernel log), so keep the text for
 * the error path and log warnings.
 */
static int msg_in_cb(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct ms_htb *h = arg;
	struct nlmsgerr *e;
	struct nlattr *a;
	size_t off;

	if (nlh->nlmsg_type != NLMSG_ERROR || !(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NL_OK;
	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
		return NL_OK;
	e = nlmsg_data(nlh);
	off = sizeof(*e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	if (NLMSG_LENGTH(off) >= nlh->nlmsg_len)
		return NL_OK;
	a = nla_find((struct nlattr *)((char *)e + off), nlh->nlmsg_len - NLMSG_LENGTH(off),
		     NLMSGERR_ATTR_MSG);
	if (!a)
		return NL_OK;
	snprintf(h->extack, sizeof(h->extack), "%.*s", nla_len(a), (const char *)nla_data(a));
	/* nla_len counts the NUL; strip a trailing newline too. */
	h->extack[strcspn(h->extack, "\n")] = '\0';
	if (e->error == 0)
		ms_warn("htb: ifindex %d: kernel warning: %s", h->ifindex, h->extack);
	return NL_OK;
}

static int sock_open(struct ms_htb *h)
{
	int one = 1, fd, err;

	err = ms_tcnl_connect(&h->sk);
	if (err)
		return err;
	fd = nl_socket_get_fd(h->sk);
	/* Best effort: without them we only lose the kernel's texts. */
	if (setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one)) < 0)
		ms_debug("htb: netlink extended ack unavailable: %s", strerror(errno));
	err = nl_socket_modify_cb(h->sk, NL_CB_MSG_IN, NL_CB_CUSTOM, msg_in_cb, h);
	if (err < 0)
		return ms_tcnl_errno(err);
	return 0;
}

static int link_mtu(struct ms_htb *h, __u32 *mtu)
{
	struct rtnl_link *link = NULL;
	int err;

	h->extack[0] = '\0';
	err = ms_tcnl_link_get(h->sk, h->ifindex, NULL, &link);
	if (err) {
		ms_err("htb: ifindex %d: %s", h->ifindex, strerror(-err));
		return err;
	}
	*mtu = rtnl_link_get_mtu(link);
	rtnl_link_put(link);
	if (*mtu == 0 || *mtu > MS_HTB_MTU_MAX) {
		ms_err("htb: ifindex %d: unsupported mtu %u", h->ifindex, *mtu);
		return -EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Parameters                                                         */

/*
 * The rates keep the rules of include/rates.h: the configuration refused
 * any plan that breaks them, so a violation here is a defect, not input.
 * What is this layer's own to check (the interface, the MTU, the kernel's
 * smallest rate) is input.
 */
static int params_check(const struct ms_htb_params *p)
{
	const __u64 min = MS_HTB_MIN_RATE_BPS;
	struct ms_rate_plan plan;

	if (!p || p->ifindex <= 0 || p->mtu > MS_HTB_MTU_MAX || p->link_bps < min ||
	    p->mgmt_reserve_bps < min || p->migration_aggregate_bps < min ||
	    p->migration_min_bps < min) {
		ms_err(
		    "htb: invalid parameters (an interface, mtu <= %u, every rate >= %llu bit/s)",
		    MS_HTB_MTU_MAX, (unsigned long long)min);
		return -EINVAL;
	}
	plan = (struct ms_rate_plan){
	    .link_bps = p->link_bps,
	    .mgmt_reserve_bps = p->mgmt_reserve_bps,
	    .migration_aggregate_bps = p->migration_aggregate_bps,
	    .migration_ceil_bps = p->migration_ceil_bps,
	    .migration_min_bps = p->migration_min_bps,
	    .migration_max_bps = p->migration_max_bps,
	};
	assert(!ms_rate_plan_violation(&plan));
	return 0;
}

static int spec_fill(struct class_spec *s, __u32 minor, __u32 parent, __u32 prio, __u64 rate,
		     __u64 ceil, __u32 mtu)
{
	s->minor = minor;
	s->parent = parent;
	s->prio = prio;
	s->rate_bps = rate;
	s->ceil_bps = ceil;
	return ms_htb_geometry_compute(rate, ceil, mtu, &s->geo);
}

static int specs_compute(const struct ms_htb_params *p, __u32 mtu, struct class_spec *s)
{
	const __u64 link = p->link_bps;
	const __u64 mig_ceil =
	    p->migration_ceil_bps ? p->migration_ceil_bps : p->migration_aggregate_bps;
	__u64 def, floor;
	int err = 0;

	def = link - p->mgmt_reserve_bps - p->migration_aggregate_bps;
	floor = link / MS_HTB_DEFAULT_FLOOR_DIV;
	if (floor < MS_HTB_MIN_RATE_BPS)
		floor = MS_HTB_MIN_RATE_BPS;
	if (def < floor)
		def = floor;

	err = err ?: spec_fill(&s[FIX_LINK], MS_MINOR_LINK, MS_HANDLE(0), 0, link, link, mtu);
	err = err
		  ?: spec_fill(&s[FIX_MGMT], MS_MINOR_MGMT, MS_HANDLE(MS_MINOR_LINK),
			       MS_HTB_PRIO_MGMT, p->mgmt_reserve_bps, link, mtu);
	err = err
		  ?: spec_fill(&s[FIX_AGGREGATE], MS_MINOR_AGGREGATE, MS_HANDLE(MS_MINOR_LINK),
			       MS_HTB_PRIO_MIGRATION, p->migration_aggregate_bps, mig_ceil, mtu);
	err = err
		  ?: spec_fill(&s[FIX_UNATTRIBUTED], MS_MINOR_UNATTRIBUTED,
			       MS_HANDLE(MS_MINOR_AGGREGATE), MS_HTB_PRIO_MIGRATION,
			       p->migration_min_bps, p->migration_max_bps, mtu);
	err = err
		  ?: spec_fill(&s[FIX_DEFAULT], MS_MINOR_DEFAULT, MS_HANDLE(MS_MINOR_LINK),
			       MS_HTB_PRIO_DEFAULT, def, link, mtu);
	return err;
}

static bool spec_equal(const struct class_spec *a, const struct class_spec *b)
{
	return a->minor == b->minor && a->parent == b->parent && a->prio == b->prio &&
	       a->rate_bps == b->rate_bps && a->ceil_bps == b->ceil_bps &&
	       memcmp(&a->geo, &b->geo, sizeof(a->geo)) == 0;
}

/* ------------------------------------------------------------------ */
/* Classes                                                            */

static int class_build(struct ms_htb *h, const struct class_spec *s, struct rtnl_class **out)
{
	struct rtnl_class *cls;
	struct rtnl_tc *tc;
	int err;

	cls = rtnl_class_alloc();
	if (!cls)
		return -NLE_NOMEM;
	tc = TC_CAST(cls);
	rtnl_tc_set_ifindex(tc, h->ifindex);
	rtnl_tc_set_handle(tc, MS_HANDLE(s->minor));
	rtnl_tc_set_parent(tc, s->parent);
	/* Size libnl's (legacy, kernel-ignored) rate tables for full frames. */
	rtnl_tc_set_mtu(tc, h->mtu + ETH_HLEN);
	rtnl_tc_set_linktype(tc, ARPHRD_ETHER);
	err = rtnl_tc_set_kind(tc, "htb");
	/* The 64-bit setters also emit TCA_HTB_RATE64/CEIL64 above 2^32 B/s. */
	err = err ?: rtnl_htb_set_rate64(cls, s->rate_bps / 8);
	err = err ?: rtnl_htb_set_ceil64(cls, s->ceil_bps / 8);
	err = err ?: rtnl_htb_set_prio(cls, s->prio);
	err = err ?: rtnl_htb_set_quantum(cls, s->geo.quantum_bytes);
	err = err ?: rtnl_htb_set_rbuffer(cls, s->geo.burst_bytes);
	err = err ?: rtnl_htb_set_cbuffer(cls, s->geo.cburst_bytes);
	if (err < 0) {
		rtnl_class_put(cls);
		return err;
	}
	*out = cls;
	return 0;
}

/* flags: NLM_F_CREATE | NLM_F_EXCL to add, 0 to change an existing class. */
static int class_send(struct ms_htb *h, const struct class_spec *s, int flags)
{
	const char *what = flags & NLM_F_CREATE ? "add class" : "change class";
	struct rtnl_class *cls = NULL;
	int err;

	if (h->suspended)
		return 0;
	err = class_build(h, s, &cls);
	if (err < 0)
		return nl_fail(h, err, what, s->minor);
	h->extack[0] = '\0';
	err = rtnl_class_add(h->sk, cls, flags);
	rtnl_class_put(cls);
	if (err < 0)
		return nl_fail(h, err, what, s->minor);
	ms_debug("htb: ifindex %d: %s %x:%x rate %llu ceil %llu prio %u quantum %u burst %u "
		 "cburst %u",
		 h->ifindex, what, MS_HTB_MAJOR, s->minor, (unsigned long long)s->rate_bps,
		 (unsigned long long)s->ceil_bps, s->prio, s->geo.quantum_bytes, s->geo.burst_bytes,
		 s->geo.cburst_bytes);
	return 0;
}

static int class_delete(struct ms_htb *h, __u32 minor)
{
	struct rtnl_class *cls;
	int err;

	cls = rtnl_class_alloc();
	if (!cls)
		return -ENOMEM;
	rtnl_tc_set_ifindex(TC_CAST(cls), h->ifindex);
	rtnl_tc_set_handle(TC_CAST(cls), MS_HANDLE(minor));
	h->extack[0] = '\0';
	err = rtnl_class_delete(h->sk, cls);
	rtnl_class_put(cls);
	if (err < 0)
		return nl_fail(h, err, "delete class", minor);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Root qdisc                                                         */

/*
 * The root qdisc is saved as the kernel dumped it: kind, handle and the raw
 * TCA_OPTIONS (and TCA_STAB) blobs, and restored by sending those blobs back.
 * For the kinds below the kernel's dump is the same format as its
 * configuration, so this round trip is exact. Going through libnl's parsed
 * objects is not: e.g. it re-sends TBF's rate with linklayer "unspec".
 */
static const char *const exact_kinds[] = {
    "tbf",	"pfifo",  "bfifo", "pfifo_head_drop", "pfifo_fast", "red",   "sfq", "fq",
    "fq_codel", "fq_pie", "pie",   "codel",	      "cake",	    "netem", "sfb", "hhf",
    "choke",
};
/* Classful kinds: the root comes back, its classes, children and filters do not. */
static const char *const shallow_kinds[] = {
    "htb", "hfsc", "prio", "drr", "qfq", "ets", "cbq", "multiq", "mq", "mqprio",
};

static bool kind_in(const char *kind, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(kind, list[i]) == 0)
			return true;
	return false;
}

static void *memdup(const void *src, size_t len)
{
	void *p = malloc(len);

	if (p)
		memcpy(p, src, len);
	return p;
}

void ms_htb_root_clear(struct ms_htb_root *r)
{
	free(r->opts);
	free(r->stab);
	memset(r, 0, sizeof(*r));
}

struct root_dump {
	int ifindex;
	int err;
	struct ms_htb_root *out;
};

static int root_dump_cb(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct root_dump *d = arg;
	struct nlattr *tb[TCA_MAX + 1];
	struct ms_htb_root *r = d->out;
	struct tcmsg *tcm;

	if (nlh->nlmsg_type != RTM_NEWQDISC || !nlmsg_valid_hdr(nlh, sizeof(*tcm)))
		return NL_OK;
	tcm = nlmsg_data(nlh);
	if (tcm->tcm_ifindex != d->ifindex || tcm->tcm_parent != TC_H_ROOT || r->present)
		return NL_OK;
	if (nlmsg_parse(nlh, sizeof(*tcm), tb, TCA_MAX, NULL) < 0 || !tb[TCA_KIND])
		return NL_OK;
	r->present = true;
	r->handle = tcm->tcm_handle;
	nla_strlcpy(r->kind, tb[TCA_KIND], sizeof(r->kind));
	if (tb[TCA_OPTIONS]) {
		r->opts_len = nla_len(tb[TCA_OPTIONS]);
		r->opts = memdup(nla_data(tb[TCA_OPTIONS]), r->opts_len);
		if (!r->opts)
			d->err = -ENOMEM;
	}
	if (tb[TCA_STAB]) {
		r->stab_len = nla_len(tb[TCA_STAB]);
		r->stab = memdup(nla_data(tb[TCA_STAB]), r->stab_len);
		if (!r->stab)
			d->err = -ENOMEM;
	}
	return NL_OK;
}

/* The current root qdisc of the link; r->present is false if it has none. */
static int root_get(struct ms_htb *h, struct ms_htb_root *r)
{
	struct tcmsg tcm = {.tcm_family = AF_UNSPEC, .tcm_ifindex = h->ifindex};
	struct root_dump d = {.ifindex = h->ifindex, .out = r};
	struct nl_cb *cb, *sk_cb;
	int err;

	memset(r, 0, sizeof(*r));
	/* The clone keeps msg_in_cb. */
	sk_cb = nl_socket_get_cb(h->sk);
	cb = nl_cb_clone(sk_cb);
	nl_cb_put(sk_cb);
	if (!cb)
		return -ENOMEM;
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, root_dump_cb, &d);
	h->extack[0] = '\0';
	err = nl_send_simple(h->sk, RTM_GETQDISC, NLM_F_DUMP, &tcm, sizeof(tcm));
	if (err >= 0)
		err = nl_recvmsgs(h->sk, cb);
	nl_cb_put(cb);
	if (err < 0) {
		ms_htb_root_clear(r);
		return nl_fail(h, err, "dump qdiscs", 0);
	}
	if (d.err) {
		ms_htb_root_clear(r);
		return d.err;
	}
	return 0;
}

static bool root_is_ours(const struct ms_htb_root *r)
{
	struct nlattr *tb[TCA_HTB_MAX + 1];
	struct tc_htb_glob glob;

	if (!r->present || r->handle != MS_HANDLE(0) || strcmp(r->kind, "htb") != 0 || !r->opts)
		return false;
	if (nla_parse(tb, TCA_HTB_MAX, r->opts, r->opts_len, NULL) < 0 || !tb[TCA_HTB_INIT] ||
	    nla_len(tb[TCA_HTB_INIT]) < (int)sizeof(glob))
		return false;
	memcpy(&glob, nla_data(tb[TCA_HTB_INIT]), sizeof(glob));
	return glob.defcls == MS_MINOR_DEFAULT;
}

static enum ms_htb_root_kind root_classify(const struct ms_htb_root *r)
{
	if (root_is_ours(r))
		return MS_HTB_ROOT_OURS;
	return r->present && r->handle != 0 ? MS_HTB_ROOT_FOREIGN : MS_HTB_ROOT_DEFAULT;
}

/* What the interface's root is now (enum ms_htb_root_kind), or -errno. */
static int root_kind_now(struct ms_htb *h)
{
	struct ms_htb_root cur;
	int err;

	err = root_get(h, &cur);
	if (err)
		return err;
	err = root_classify(&cur);
	ms_htb_root_clear(&cur);
	return err;
}

/* Decides what ms_htb_restore() will put back and keeps it in h->orig. */
static int root_save(struct ms_htb *h)
{
	struct ms_htb_root r;
	int err;

	err = root_get(h, &r);
	if (err)
		return err;
	if (!r.present) {
		ms_info("htb: ifindex %d: no root qdisc; restore deletes ours", h->ifindex);
	} else if (r.handle == 0) {
		ms_info("htb: ifindex %d: original root is the kernel default (%s)", h->ifindex,
			r.kind);
	} else if (root_is_ours(&r)) {
		/* A previous agent left its tree in place (fail-static); what was
		 * there before it is unknown, so fall back to the default. */
		ms_warn("htb: ifindex %d: replacing a migshaper tree left by a previous run; "
			"restore will leave the kernel default root",
			h->ifindex);
	} else if (kind_in(r.kind, exact_kinds, sizeof(exact_kinds) / sizeof(exact_kinds[0]))) {
		ms_info("htb: ifindex %d: saved original root %s %x:", h->ifindex, r.kind,
			r.handle >> 16);
		h->orig = r;
		return 0;
	} else if (kind_in(r.kind, shallow_kinds,
			   sizeof(shallow_kinds) / sizeof(shallow_kinds[0]))) {
		ms_warn("htb: ifindex %d: original root %s %x: will be restored without its "
			"classes, child qdiscs or filters",
			h->ifindex, r.kind, r.handle >> 16);
		h->orig = r;
		return 0;
	} else {
		ms_warn("htb: ifindex %d: original root %s %x: unknown kind, cannot be re-created; "
			"restore will leave the kernel default root",
			h->ifindex, r.kind, r.handle >> 16);
	}
	ms_htb_root_clear(&r);
	return 0;
}

/*
 * root_save() for a tree moving to h->ifindex: what was saved for its old
 * link goes only once the new link's root is read.
 */
static int root_save_replace(struct ms_htb *h)
{
	struct ms_htb_root prev = h->orig;
	int err;

	memset(&h->orig, 0, sizeof(h->orig));
	err = root_save(h);
	if (err) {
		h->orig = prev;
		return err;
	}
	ms_htb_root_clear(&prev);
	return 0;
}

static int root_delete(struct ms_htb *h, __u32 handle, const char *what)
{
	struct rtnl_qdisc *q;
	int err;

	q = rtnl_qdisc_alloc();
	if (!q)
		return -ENOMEM;
	rtnl_tc_set_ifindex(TC_CAST(q), h->ifindex);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
	/* With the handle, the kernel refuses to delete a root it does not name. */
	rtnl_tc_set_handle(TC_CAST(q), handle);
	h->extack[0] = '\0';
	err = rtnl_qdisc_delete(h->sk, q);
	rtnl_qdisc_put(q);
	if (err < 0)
		return nl_fail(h, err, what, 0);
	return 0;
}

static int root_add_orig(struct ms_htb *h, int flags)
{
	const struct ms_htb_root *r = &h->orig;
	struct tcmsg tcm = {
	    .tcm_family = AF_UNSPEC,
	    .tcm_ifindex = h->ifindex,
	    .tcm_handle = r->handle,
	    .tcm_parent = TC_H_ROOT,
	};
	struct nl_msg *msg;
	int err;

	msg = nlmsg_alloc_simple(RTM_NEWQDISC, flags);
	if (!msg)
		return -ENOMEM;
	err = nlmsg_append(msg, &tcm, sizeof(tcm), NLMSG_ALIGNTO);
	err = err ?: nla_put_string(msg, TCA_KIND, r->kind);
	if (r->opts)
		err = err ?: nla_put(msg, TCA_OPTIONS, r->opts_len, r->opts);
	if (r->stab)
		err = err ?: nla_put(msg, TCA_STAB, r->stab_len, r->stab);
	if (err < 0) {
		nlmsg_free(msg);
		return nl_fail(h, err, "build original root qdisc", 0);
	}
	h->extack[0] = '\0';
	/* Frees msg. */
	err = nl_send_sync(h->sk, msg);
	if (err < 0)
		return nl_fail(h, err, "re-create original root qdisc", 0);
	return 0;
}

/* Puts the original root back in place of ours. */
static int root_put_back(struct ms_htb *h)
{
	int err;

	if (!h->orig.present)
		return root_delete(h, MS_HANDLE(0), "delete root qdisc");
	if (h->orig.handle != MS_HANDLE(0)) {
		/* One atomic replace: the link is never without a root qdisc
		 * that was configured on purpose. */
		err = root_add_orig(h, NLM_F_CREATE | NLM_F_REPLACE);
		if (err == 0)
			return 0;
		/* Better the kernel default than our tree without an agent. */
		root_delete(h, MS_HANDLE(0), "delete root qdisc");
		return err;
	}
	/* The original shares our handle: the kernel would treat a replace as a
	 * change of ours, so delete first. */
	err = root_delete(h, MS_HANDLE(0), "delete root qdisc");
	if (err)
		return err;
	return root_add_orig(h, NLM_F_CREATE | NLM_F_EXCL);
}

/* Our root qdisc in place of whatever is there, in one replace. */
static int root_create(struct ms_htb *h)
{
	struct rtnl_qdisc *q;
	int err;

	q = rtnl_qdisc_alloc();
	if (!q)
		return -ENOMEM;
	rtnl_tc_set_ifindex(TC_CAST(q), h->ifindex);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
	rtnl_tc_set_handle(TC_CAST(q), MS_HANDLE(0));
	err = rtnl_tc_set_kind(TC_CAST(q), "htb");
	err = err ?: rtnl_htb_set_defcls(q, MS_MINOR_DEFAULT);
	if (err == 0) {
		h->extack[0] = '\0';
		/* Replace swaps the old root for ours in one step. */
		err = rtnl_qdisc_add(h->sk, q, NLM_F_CREATE | NLM_F_REPLACE);
	}
	rtnl_qdisc_put(q);
	if (err < 0)
		return nl_fail(h, err, "add root qdisc", 0);
	return 0;
}

static int root_install(struct ms_htb *h)
{
	int err;

	if (h->orig.present && h->orig.handle == MS_HANDLE(0)) {
		/* Someone else's root uses our handle; see root_put_back(). */
		err = root_delete(h, MS_HANDLE(0), "delete original root qdisc");
		if (err)
			return err;
	}
	return root_create(h);
}

static int root_copy(const struct ms_htb_root *from, struct ms_htb_root *to)
{
	memset(to, 0, sizeof(*to));
	to->present = from->present;
	to->handle = from->handle;
	memcpy(to->kind, from->kind, sizeof(to->kind));
	to->kind[sizeof(to->kind) - 1] = '\0';
	if (from->opts_len > 0) {
		to->opts = memdup(from->opts, (size_t)from->opts_len);
		to->opts_len = from->opts_len;
	}
	if (from->stab_len > 0) {
		to->stab = memdup(from->stab, (size_t)from->stab_len);
		to->stab_len = from->stab_len;
	}
	if ((from->opts_len > 0 && !to->opts) || (from->stab_len > 0 && !to->stab)) {
		ms_htb_root_clear(to);
		return -ENOMEM;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* API                                                                */

static void htb_release(struct ms_htb *h)
{
	ms_htb_root_clear(&h->orig);
	if (h->sk)
		nl_socket_free(h->sk);
	free(h);
}

static bool mig_present(const struct ms_htb *h, __u32 minor)
{
	__u32 slot = minor - MS_MINOR_MIG_BASE;

	return h->mig_present[slot / 64] & (1ULL << (slot % 64));
}

static void mig_mark(struct ms_htb *h, __u32 minor, bool present)
{
	__u32 slot = minor - MS_MINOR_MIG_BASE;

	if (present)
		h->mig_present[slot / 64] |= 1ULL << (slot % 64);
	else
		h->mig_present[slot / 64] &= ~(1ULL << (slot % 64));
}

/* The part of install and adopt before the kernel is touched. */
static int htb_prepare(const struct ms_htb_params *p, struct ms_htb **out)
{
	struct ms_htb *h;
	__u32 ignored;
	int err;

	err = params_check(p);
	if (err)
		return err;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->ifindex = p->ifindex;
	err = sock_open(h);
	/* Also rejects a bad ifindex when the mtu was given. */
	err = err ?: link_mtu(h, p->mtu ? &ignored : &h->mtu);
	if (p->mtu)
		h->mtu = p->mtu;
	err = err ?: specs_compute(p, h->mtu, h->fixed);
	if (err) {
		htb_release(h);
		return err;
	}
	*out = h;
	return 0;
}

int ms_htb_install(const struct ms_htb_params *p, struct ms_htb **out)
{
	bool root_replaced = false;
	struct ms_htb *h = NULL;
	int err;

	if (!out)
		return -EINVAL;
	*out = NULL;
	err = htb_prepare(p, &h);
	if (err)
		return err;
	err = root_save(h);
	if (err)
		goto cleanup;

	err = root_install(h);
	if (err)
		goto cleanup;
	root_replaced = true;
	/* Parents before children. */
	for (int i = 0; i < FIX_COUNT; i++) {
		err = class_send(h, &h->fixed[i], NLM_F_CREATE | NLM_F_EXCL);
		if (err)
			goto cleanup;
	}

	h->params = *p;
	h->installed = true;
	ms_info("htb: ifindex %d: installed (link %llu bit/s, mtu %u)", h->ifindex,
		(unsigned long long)p->link_bps, h->mtu);
	*out = h;
	return 0;

cleanup:
	if (root_replaced && root_put_back(h))
		ms_err("htb: ifindex %d: rollback failed; the root qdisc may be wrong", h->ifindex);
	htb_release(h);
	return err;
}

int ms_htb_orig_set(struct ms_htb *h, const struct ms_htb_root *orig)
{
	struct ms_htb_root copy;
	int err;

	if (!h || !orig)
		return -EINVAL;
	err = root_copy(orig, &copy);
	if (err)
		return err;
	ms_htb_root_clear(&h->orig);
	h->orig = copy;
	return 0;
}

int ms_htb_orig_get(const struct ms_htb *h, struct ms_htb_root *out)
{
	if (!h || !out)
		return -EINVAL;
	return root_copy(&h->orig, out);
}

/* The kernel's view of one of our classes, as far as adoption compares it. */
struct class_seen {
	bool present;
	__u32 parent;
	__u32 prio;
	__u32 quantum_bytes;
	__u64 rate_bps;
	__u64 ceil_bps;
};

struct class_dump {
	int ifindex;
	struct class_seen fixed[FIX_COUNT];
	struct class_seen mig[MS_MAX_MIGRATIONS];
};

static void class_dump_one(struct nl_object *obj, void *arg)
{
	struct rtnl_class *cls = (struct rtnl_class *)obj;
	struct class_dump *d = arg;
	__u32 handle = rtnl_tc_get_handle(TC_CAST(cls));
	__u32 minor = TC_H_MIN(handle);
	struct class_seen *seen = NULL;
	uint64_t rate = 0, ceil = 0;

	if (rtnl_tc_get_ifindex(TC_CAST(cls)) != d->ifindex || TC_H_MAJ(handle) != MS_HANDLE(0))
		return;
	if (ms_minor_is_migration(minor)) {
		seen = &d->mig[minor - MS_MINOR_MIG_BASE];
	} else {
		for (int i = 0; i < FIX_COUNT; i++)
			if (ms_fixed_classes()[i].minor == minor)
				seen = &d->fixed[i];
	}
	if (!seen)
		return;
	seen->present = true;
	seen->parent = rtnl_tc_get_parent(TC_CAST(cls));
	seen->prio = rtnl_htb_get_prio(cls);
	seen->quantum_bytes = rtnl_htb_get_quantum(cls);
	if (rtnl_htb_get_rate64(cls, &rate) == 0)
		seen->rate_bps = rate * 8;
	if (rtnl_htb_get_ceil64(cls, &ceil) == 0)
		seen->ceil_bps = ceil * 8;
}

static int classes_dump(struct ms_htb *h, struct class_dump *d)
{
	struct nl_cache *cache = NULL;
	int err;

	memset(d, 0, sizeof(*d));
	d->ifindex = h->ifindex;
	h->extack[0] = '\0';
	err = rtnl_class_alloc_cache(h->sk, h->ifindex, &cache);
	if (err < 0)
		return nl_fail(h, err, "dump classes", 0);
	nl_cache_foreach(cache, class_dump_one, d);
	nl_cache_free(cache);
	return 0;
}

/* Rates are set in bytes per second, so compare at that precision. */
static bool seen_matches(const struct class_seen *k, const struct class_spec *s)
{
	/* The kernel reports a class right under the qdisc as a child of the root. */
	__u32 parent = k->parent == TC_H_ROOT ? MS_HANDLE(0) : k->parent;

	return parent == s->parent && k->prio == s->prio &&
	       k->quantum_bytes == s->geo.quantum_bytes && k->rate_bps == s->rate_bps / 8 * 8 &&
	       k->ceil_bps == s->ceil_bps / 8 * 8;
}

/* Takes the kernel's tree as ours and brings the fixed classes to h->fixed. */
static int adopt_classes(struct ms_htb *h)
{
	struct class_dump *d;
	int err = 0, changed = 0, kept = 0;

	d = malloc(sizeof(*d));
	if (!d)
		return -ENOMEM;
	err = classes_dump(h, d);
	if (err)
		goto cleanup;
	/* Parents before children, as at install. */
	for (int i = 0; i < FIX_COUNT; i++) {
		if (d->fixed[i].present && seen_matches(&d->fixed[i], &h->fixed[i]))
			continue;
		err = class_send(h, &h->fixed[i],
				 d->fixed[i].present ? 0 : NLM_F_CREATE | NLM_F_EXCL);
		if (err)
			goto cleanup;
		changed++;
	}
	for (__u32 slot = 0; slot < MS_MAX_MIGRATIONS; slot++) {
		const struct class_seen *k = &d->mig[slot];
		__u32 minor = MS_MINOR_MIG_BASE + slot;

		if (!k->present)
			continue;
		/* Its rates as they are: the coordinator decides what they become. */
		if (spec_fill(&h->mig[slot], minor, MS_HANDLE(MS_MINOR_AGGREGATE),
			      MS_HTB_PRIO_MIGRATION, k->rate_bps, k->ceil_bps, h->mtu)) {
			ms_warn(
			    "htb: ifindex %d: class %x:%x has rates we cannot express; left as is",
			    h->ifindex, MS_HTB_MAJOR, minor);
			continue;
		}
		mig_mark(h, minor, true);
		kept++;
	}
	ms_info("htb: ifindex %d: adopted the tree in place (%d fixed classes changed, %d "
		"migration classes kept)",
		h->ifindex, changed, kept);
cleanup:
	free(d);
	return err;
}

int ms_htb_adopt(const struct ms_htb_params *p, const struct ms_htb_root *orig, struct ms_htb **out)
{
	struct ms_htb *h = NULL;
	int err;

	if (!out || !orig)
		return -EINVAL;
	*out = NULL;
	err = htb_prepare(p, &h);
	if (err)
		return err;
	err = root_kind_now(h);
	if (err < 0)
		goto cleanup;
	if (err != MS_HTB_ROOT_OURS) {
		ms_info("htb: ifindex %d: no tree of ours to adopt", h->ifindex);
		err = -ENOENT;
		goto cleanup;
	}
	err = root_copy(orig, &h->orig);
	err = err ?: adopt_classes(h);
	if (err)
		goto cleanup;
	h->params = *p;
	h->installed = true;
	*out = h;
	h = NULL;
cleanup:
	if (h)
		htb_release(h);
	return err;
}

bool ms_htb_mig_class_present(const struct ms_htb *h, __u32 minor)
{
	return h && h->installed && ms_minor_is_migration(minor) && mig_present(h, minor);
}

int ms_htb_cleanup(int ifindex, const struct ms_htb_root *orig)
{
	struct ms_htb *h;
	int kind, err;

	if (ifindex <= 0 || !orig)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->ifindex = ifindex;
	err = sock_open(h);
	kind = err ?: root_kind_now(h);
	if (kind < 0) {
		err = kind;
		goto out;
	}
	if (kind != MS_HTB_ROOT_OURS) {
		err = kind == MS_HTB_ROOT_FOREIGN ? -ESTALE : 0;
		goto out;
	}
	err = root_copy(orig, &h->orig);
	err = err ?: root_put_back(h);
out:
	htb_release(h);
	return err;
}

int ms_htb_root_kind(struct ms_htb *h)
{
	return h ? root_kind_now(h) : -EINVAL;
}

void ms_htb_suspend(struct ms_htb *h)
{
	if (h)
		h->suspended = true;
}

int ms_htb_reassert(struct ms_htb *h)
{
	struct ms_htb_root cur;
	bool ours;
	int err;

	if (!h)
		return -EINVAL;
	if (!h->installed)
		return -ENOENT;
	err = root_get(h, &cur);
	if (err)
		return err;
	ours = root_is_ours(&cur);
	/* A foreign root on our handle: a replace would be taken as a change of it. */
	if (!ours && cur.present && cur.handle == MS_HANDLE(0))
		err = root_delete(h, MS_HANDLE(0), "delete foreign root qdisc");
	ms_htb_root_clear(&cur);
	if (ours) {
		h->suspended = false;
		return 0;
	}
	h->suspended = false;
	err = err ?: root_create(h);
	for (int i = 0; i < FIX_COUNT && !err; i++)
		err = class_send(h, &h->fixed[i], NLM_F_CREATE | NLM_F_EXCL);
	for (__u32 slot = 0; slot < MS_MAX_MIGRATIONS && !err; slot++)
		if (mig_present(h, MS_MINOR_MIG_BASE + slot))
			err = class_send(h, &h->mig[slot], NLM_F_CREATE | NLM_F_EXCL);
	if (!err)
		ms_info("htb: ifindex %d: tree re-asserted", h->ifindex);
	return err;
}

int ms_htb_move(struct ms_htb *h, int ifindex)
{
	int err;

	if (!h || ifindex <= 0)
		return -EINVAL;
	if (!h->installed)
		return -ENOENT;
	if (h->ifindex != ifindex) {
		int old = h->ifindex;

		h->ifindex = ifindex;
		err = root_save_replace(h);
		if (err) {
			h->ifindex = old;
			return err;
		}
		h->params.ifindex = ifindex;
	}
	err = ms_htb_reassert(h);
	/* A half-made tree passes for whole (the root is ours): none, a retry makes it all. */
	if (err)
		root_delete(h, MS_HANDLE(0), "delete a half-made tree");
	return err;
}

int ms_htb_apply(struct ms_htb *h, const struct ms_htb_params *p)
{
	struct class_spec next[FIX_COUNT];
	bool done[FIX_COUNT] = {false};
	__u32 mtu;
	int err;

	if (!h || !p)
		return -EINVAL;
	if (!h->installed)
		return -ENOENT;
	err = params_check(p);
	if (err)
		return err;
	if (p->ifindex != h->ifindex) {
		ms_err("htb: apply: ifindex %d does not match the tree on %d", p->ifindex,
		       h->ifindex);
		return -EINVAL;
	}
	mtu = h->mtu;
	if (p->mtu)
		mtu = p->mtu;
	else if (h->params.mtu == 0)
		err = link_mtu(h, &mtu); /* follow the link, as at install */
	if (err)
		return err;
	err = specs_compute(p, mtu, next);
	if (err)
		return err;

	for (int i = 0; i < FIX_COUNT; i++) {
		if (spec_equal(&h->fixed[i], &next[i]))
			continue;
		err = class_send(h, &next[i], 0);
		if (err)
			goto cleanup;
		done[i] = true;
	}
	memcpy(h->fixed, next, sizeof(next));
	h->params = *p;
	h->mtu = mtu;
	return 0;

cleanup:
	/* All or nothing: put back what was already changed. */
	for (int i = 0; i < FIX_COUNT; i++)
		if (done[i] && class_send(h, &h->fixed[i], 0))
			ms_err("htb: ifindex %d: could not revert class %x:%x", h->ifindex,
			       MS_HTB_MAJOR, h->fixed[i].minor);
	return err;
}

static int mig_spec(struct ms_htb *h, __u32 minor, __u64 rate, __u64 ceil, struct class_spec *s)
{
	if (!ms_minor_is_migration(minor) || spec_fill(s, minor, MS_HANDLE(MS_MINOR_AGGREGATE),
						       MS_HTB_PRIO_MIGRATION, rate, ceil, h->mtu)) {
		ms_err("htb: migration class %x:%x rate %llu ceil %llu: invalid", MS_HTB_MAJOR,
		       minor, (unsigned long long)rate, (unsigned long long)ceil);
		return -EINVAL;
	}
	return 0;
}

/* The checks add and change share: a live tree and a valid migration class. */
static int mig_prepare(struct ms_htb *h, __u32 minor, __u64 rate, __u64 ceil, struct class_spec *s)
{
	if (!h)
		return -EINVAL;
	if (!h->installed)
		return -ENOENT;
	return mig_spec(h, minor, rate, ceil, s);
}

int ms_htb_mig_class_add(struct ms_htb *h, __u32 minor, __u64 rate_bps, __u64 ceil_bps)
{
	struct class_spec s;
	int err;

	err = mig_prepare(h, minor, rate_bps, ceil_bps, &s);
	if (err)
		return err;
	if (mig_present(h, minor))
		return -EEXIST;
	err = class_send(h, &s, NLM_F_CREATE | NLM_F_EXCL);
	if (err)
		return err;
	mig_mark(h, minor, true);
	h->mig[minor - MS_MINOR_MIG_BASE] = s;
	return 0;
}

int ms_htb_mig_class_change(struct ms_htb *h, __u32 minor, __u64 rate_bps, __u64 ceil_bps)
{
	struct class_spec s;
	int err;

	err = mig_prepare(h, minor, rate_bps, ceil_bps, &s);
	if (err)
		return err;
	if (!mig_present(h, minor))
		return -ENOENT;
	/* Without NLM_F_CREATE the kernel changes the class in place (same
	 * class, counters kept) or fails; it never creates one. */
	err = class_send(h, &s, 0);
	if (err)
		return err;
	h->mig[minor - MS_MINOR_MIG_BASE] = s;
	return 0;
}

int ms_htb_mig_class_del(struct ms_htb *h, __u32 minor)
{
	int err;

	if (!h)
		return -EINVAL;
	if (!h->installed)
		return -ENOENT;
	if (!ms_minor_is_migration(minor))
		return -EINVAL;
	if (!mig_present(h, minor))
		return -ENOENT;
	err = h->suspended ? 0 : class_delete(h, minor);
	/* Gone either way. */
	if (err == 0 || err == -ENOENT)
		mig_mark(h, minor, false);
	return err;
}

int ms_htb_class_read(struct ms_htb *h, __u32 minor, struct ms_htb_class_stats *st)
{
	struct rtnl_class *cls = NULL;
	struct nl_cache *cache = NULL;
	uint64_t rate = 0, ceil = 0;
	struct rtnl_tc *tc;
	int err;

	if (!h || !st)
		return -EINVAL;
	if (!h->installed)
		return -ENOENT;
	h->extack[0] = '\0';
	err = rtnl_class_alloc_cache(h->sk, h->ifindex, &cache);
	if (err < 0)
		return nl_fail(h, err, "dump classes", minor);
	cls = rtnl_class_get(cache, h->ifindex, MS_HANDLE(minor));
	if (!cls) {
		err = -ENOENT;
		goto cleanup;
	}
	tc = TC_CAST(cls);
	memset(st, 0, sizeof(*st));
	st->bytes = rtnl_tc_get_stat(tc, RTNL_TC_BYTES);
	st->packets = rtnl_tc_get_stat(tc, RTNL_TC_PACKETS);
	st->drops = rtnl_tc_get_stat(tc, RTNL_TC_DROPS);
	st->overlimits = rtnl_tc_get_stat(tc, RTNL_TC_OVERLIMITS);
	st->backlog_bytes = (__u32)rtnl_tc_get_stat(tc, RTNL_TC_BACKLOG);
	st->qlen = (__u32)rtnl_tc_get_stat(tc, RTNL_TC_QLEN);
	if (rtnl_htb_get_rate64(cls, &rate) == 0)
		st->rate_bps = rate * 8;
	if (rtnl_htb_get_ceil64(cls, &ceil) == 0)
		st->ceil_bps = ceil * 8;
	err = 0;
cleanup:
	if (cls)
		rtnl_class_put(cls);
	nl_cache_free(cache);
	return err;
}

int ms_htb_restore(struct ms_htb *h)
{
	int err;

	if (!h)
		return -EINVAL;
	if (!h->installed)
		return -ENOENT;
	err = root_kind_now(h);
	if (err < 0)
		return err;
	if (err != MS_HTB_ROOT_OURS) {
		/* Someone replaced our tree; theirs is not ours to remove. */
		ms_warn("htb: ifindex %d: root qdisc is no longer ours; leaving it", h->ifindex);
		return -ESTALE;
	}
	err = root_put_back(h);
	if (err)
		return err;
	h->installed = false;
	ms_info("htb: ifindex %d: original root qdisc restored", h->ifindex);
	return 0;
}

void ms_htb_free(struct ms_htb *h)
{
	if (h)
		htb_release(h);
}
