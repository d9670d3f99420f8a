/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Constants and structs shared by the BPF classifier and user space: HTB
 * class ids, map keys and values, the ring-buffer event. Both sides include
 * this file, so it uses only fixed-size kernel types.
 */
#ifndef MIGSHAPER_H
#define MIGSHAPER_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/*
 * HTB layout. The root qdisc is MS_HTB_MAJOR:0 and every class id is
 * MS_HTB_MAJOR:minor. skb->priority carries the full handle, which HTB uses
 * directly to pick the class.
 */
#define MS_HTB_MAJOR 1U
#define MS_MINOR_LINK 0x1U
#define MS_MINOR_MGMT 0x10U
#define MS_MINOR_AGGREGATE 0x20U
#define MS_MINOR_UNATTRIBUTED 0x21U
#define MS_MINOR_DEFAULT 0x30U
/* Per-migration leaf classes are MS_MINOR_MIG_BASE + slot. */
#define MS_MINOR_MIG_BASE 0x100U
#define MS_MAX_MIGRATIONS 256U
/* Counters are indexed by minor; every minor above fits below this. */
#define MS_CLASS_SLOTS (MS_MINOR_MIG_BASE + MS_MAX_MIGRATIONS)

#define MS_HANDLE(minor) ((MS_HTB_MAJOR << 16) | (minor))

#ifndef __bpf__
/*
 * The fixed classes of the tree, root first, with the names the operator
 * surfaces show (metrics labels, stats/ in the knob tree). leaf: the
 * classifier puts packets there directly.
 */
struct ms_fixed_class {
	__u32 minor;
	const char *name;
	int leaf;
};

#define MS_N_FIXED_CLASSES 5U

static inline const struct ms_fixed_class *ms_fixed_classes(void)
{
	static const struct ms_fixed_class classes[MS_N_FIXED_CLASSES] = {
		{ MS_MINOR_LINK, "link", 0 },
		{ MS_MINOR_MGMT, "mgmt", 1 },
		{ MS_MINOR_AGGREGATE, "aggregate", 0 },
		{ MS_MINOR_UNATTRIBUTED, "unattributed", 1 },
		{ MS_MINOR_DEFAULT, "default", 1 },
	};

	return classes;
}
#endif

static inline int ms_minor_is_migration(__u32 minor)
{
	return minor >= MS_MINOR_MIG_BASE && minor < MS_MINOR_MIG_BASE + MS_MAX_MIGRATIONS;
}

/* Map sizes. */
#define MS_FLOW_MAP_MAX 65536U
#define MS_CIDR_MAX 256U
#define MS_PORT_MAP_SIZE 65536U
#define MS_REPORTED_MAP_MAX 4096U
#define MS_EVENTS_RINGBUF_BYTES (256U * 1024U)

/*
 * A flow's 5-tuple as seen on egress. IPv4 addresses are stored IPv4-mapped
 * (::ffff:a.b.c.d) so one key type serves both families. Addresses are in
 * network byte order, ports in host byte order.
 */
struct ms_flow_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u8 l4_proto;
	__u8 pad[3];
};

struct ms_flow_val {
	__u32 class_minor;
	__u32 migration_id;
};

/*
 * Management CIDRs live in one LPM trie keyed by the IPv4-mapped address, so
 * an IPv4 /24 is stored with prefixlen 96 + 24.
 */
struct ms_cidr_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* Value of the port map, indexed by port number in host byte order. */
#define MS_PORT_MGMT 0x1U
#define MS_PORT_MIGRATION 0x2U
/*
 * Lookup hints kept by bpf/loader.c, not policy: some entry of the flow
 * map has this port as its source (FLOW_SPORT) or destination (FLOW_DPORT)
 * port. The classifier skips the flow-map lookup unless both are set, so
 * flows must be added through ms_dataplane_flow_add(), never written to the
 * pinned map directly.
 */
#define MS_PORT_FLOW_SPORT 0x4U
#define MS_PORT_FLOW_DPORT 0x8U

/*
 * Lookup hints for the management CIDR trie (map ms_cidr_hint, ARRAY of
 * 65536 __u8), also kept by bpf/loader.c: MS_CIDR_HINT_V4 at index
 * (a << 8 | b) if some CIDR may contain an IPv4-mapped address a.b.x.x;
 * MS_CIDR_HINT_V6 at the first 16 bits of any other address some CIDR may
 * contain. The classifier consults the trie only where the hint is set.
 */
#define MS_CIDR_HINT_V4 0x1U
#define MS_CIDR_HINT_V6 0x2U
#define MS_CIDR_HINT_SIZE 65536U

/* The single element of the config array map. */
#define MS_CFG_DSCP_MARKING 0x1U
struct ms_dp_config {
	__u32 flags;
	/* A still-unattributed flow is reported again after this long. */
	__u32 report_interval_ms;
	/*
	 * Multiqueue backend (tc/mq.h): the IFB carrying the HTB tree; 0 with
	 * the HTB root. Migration classes are passed on to the redirect filter,
	 * and what comes back from this IFB is already classified.
	 */
	__u32 mq_ifb_ifindex;
};

/*
 * Classification once per connection. The class of a host TCP connection is
 * kept on its socket (map ms_sk_class, socket-local storage) with the table
 * generation it was derived under; later packets of the connection read it
 * instead of parsing and looking up. bpf/loader.c bumps the generation (map
 * ms_generation, one __u64) after every change of the flows, ports or CIDRs,
 * so a class derived from older tables is derived again on the next packet.
 * This serves a connection until it carries a socket tag (below), and any
 * whose priority its application set.
 */
struct ms_sk_class {
	__u64 generation;
	/* unattributed: when it was last reported (bpf_ktime_get_ns) */
	__u64 reported_ns;
	__u32 minor;
	__u32 pad;
};

/*
 * Socket tags: the class of a host TCP connection written into its socket's
 * priority (SO_PRIORITY), which TCP copies into skb->priority of every packet
 * it sends. The classifier then reads the class from the packet itself, with
 * no map or socket-storage lookup. bpf/loader.c's iterator (ms_dataplane_retag)
 * writes the tags from the tables: after every change of them, and
 * periodically for new connections (agent/daemon/iface.c); it takes them off
 * when the agent leaves.
 * It tags only established connections whose route leaves through the shaped
 * NIC, never one whose priority its application set; an unattributed
 * migration flow it tags, it reports (ms_flow_event) as its packets would.
 *
 * A tag is major:(minor << 4 | MS_SK_TAG_MQ). Its low 4 bits are 0: qdiscs,
 * mq's queue mapping and VLAN egress maps read priority & 15, so on any other
 * NIC a tagged packet is treated as priority 0, what it was. Its major is
 * MS_SK_TAG_MAJOR_BASE plus the low 12 bits of the shaped NIC's ifindex: a
 * host runs one agent per NIC (migshaperd@.service), and each tags, reads
 * and takes off only its own tags. Another agent's tag is to it what an
 * application's own priority is: left alone, its packets parsed. No HTB or
 * prio qdisc takes a tag for one of its classes unless its handle's major is
 * 0x6XXX.
 */
#define MS_SK_TAG_MAJOR_BASE 0x6000U
/* The one major of the agents before 2026-12-05: taken over or off by any agent's retag. */
#define MS_SK_TAG_MAJOR_LEGACY 0x6d73U
/* Multiqueue backend: migration classes go on to the redirect filter. */
#define MS_SK_TAG_MQ 0x8000U
#define MS_SK_TAG_MINOR_SHIFT 4
_Static_assert((MS_CLASS_SLOTS << MS_SK_TAG_MINOR_SHIFT) <= MS_SK_TAG_MQ,
	       "every class minor fits in a tag below its MQ bit");

/*
 * The major of the tags of the agent shaping the NIC ifindex (never 0). Two
 * NICs whose ifindexes differ by a multiple of 4096 share one, as all
 * agents did before; the legacy major is skipped.
 */
static inline __u32 ms_sk_tag_major(int ifindex)
{
	__u32 major = MS_SK_TAG_MAJOR_BASE | ((__u32)ifindex & 0xfffU);

	return major == MS_SK_TAG_MAJOR_LEGACY ? MS_SK_TAG_MAJOR_BASE : major;
}

static inline __u32 ms_sk_tag(__u32 major, __u32 minor, int mq)
{
	return (major << 16) | (minor << MS_SK_TAG_MINOR_SHIFT) | (mq ? MS_SK_TAG_MQ : 0);
}

static inline int ms_sk_tag_is(__u32 major, __u32 priority)
{
	return (priority >> 16) == major;
}

static inline __u32 ms_sk_tag_minor(__u32 tag)
{
	return (tag & (MS_SK_TAG_MQ - 1)) >> MS_SK_TAG_MINOR_SHIFT;
}

/*
 * Per-CPU, indexed by class minor: the packets the classifier classified
 * into the class, except those of tagged sockets that an HTB class counts
 * (on htb-root every tagged packet, on multiqueue the migration classes',
 * which the IFB's HTB counts): bpf/classifier.bpf.c, tagged().
 */
struct ms_class_counter {
	__u64 packets;
	__u64 bytes;
};

/* Ring-buffer record: the first packet of an unattributed migration flow. */
struct ms_flow_event {
	__u64 ts_ns; /* bpf_ktime_get_ns() */
	struct ms_flow_key key;
	__u32 ifindex;
	__u32 pad;
};

/*
 * Per-CPU __u64 statistics kept by the classifier (map ms_stats), indexed by
 * MS_STAT_*: ring-buffer events dropped because the buffer was full.
 */
#define MS_STAT_EVENTS_LOST 0U
#define MS_STAT_SLOTS 1U

/* ms_dp_config.report_interval_ms == 0 means this interval. */
#define MS_REPORT_INTERVAL_DEFAULT_MS 1000U

/* DSCP code points written when MS_CFG_DSCP_MARKING is set. */
#define MS_DSCP_MGMT 48U      /* CS6 */
#define MS_DSCP_MIGRATION 8U  /* CS1 */

/* Pinned objects live under MS_PIN_ROOT/<ifname>/. */
#define MS_PIN_ROOT "/sys/fs/bpf/migshaper"

#endif /* MIGSHAPER_H */
