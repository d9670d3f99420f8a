// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * User-space owner of the tc egress classifier: prerequisites, load, pins,
 * attach and detach, table updates, counters and flow events.
 *
 * The program and its maps are pinned so that they outlive the agent: if the
 * agent dies or exits with detach=false, shaping keeps working with the last
 * tables (fail-static), and an operator can inspect them with bpftool.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <dirent.h>
#include <unistd.h>
#include <zlib.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>

#include "classifier.skel.h"
#include "loader.h"
#include "log.h"

#define BTF_VMLINUX   "/sys/kernel/btf/vmlinux"
#define PROG_PIN_NAME "classifier"

static const __u16 default_mgmt_ports[] = {22, 16509, 16514, 54321};
#define DEFAULT_MIG_PORT_MIN 49152
#define DEFAULT_MIG_PORT_MAX 49215

struct ms_dataplane {
	struct classifier *skel;
	struct ring_buffer *rb;
	struct bpf_tc_hook hook;
	/* handle and priority of our filter, as the kernel allocated them */
	__u32 tc_handle;
	__u32 tc_priority;
	bool attached;
	bool hook_created;
	bool pin_root_created;
	bool pin_dir_created;
	bool pinned;
	/* ifname NULL: loaded for tests and benchmarks, not pinned or attached */
	bool detached_mode;
	/* Flows the LRU evicted that the owner noticed (ms_dataplane_flow_forget). */
	__u64 flows_evicted;
	/* What ms_generation holds: this process is its only writer. */
	__u64 generation;
	/* The classifier program loaded: classifier, or classifier_compat on kernels before 6.2. */
	struct bpf_program *prog;
	/* The retag iterator (socket tags, migshaper.h); NULL if the kernel lacks it. */
	struct bpf_link *retag_link;
	/* Where tagged sockets' routes may leave besides the NIC (its bridge); 0: none. */
	int tag_upper_ifindex;
	/* The last retag failed (or none ran since it was asked for): the caller runs one soon. */
	bool retag_due;
	__u64 retag_failed_logged;
	/*
	 * The port map is base_ports plus the flow hints, derived from how
	 * many flows use each port as source and as destination; the CIDR
	 * hint map mirrors cidr_hint. See the hint bits in migshaper.h.
	 */
	__u8 *base_ports;
	__u32 *sport_refs;
	__u32 *dport_refs;
	__u8 *cidr_hint;
	char ifname[IF_NAMESIZE];
	char pin_root[PATH_MAX];
	char pin_dir[PATH_MAX];
	/* set only for the duration of ms_dataplane_events_consume() */
	ms_flow_event_cb cb;
	void *cb_ctx;
};

/*
 * Looks for "CONFIG_X=" in the running kernel's config. Returns 1 if set
 * (y or m), 0 if explicitly not set, -1 if the config is not available: then
 * the caller relies on the error of the operation itself.
 */
static int kconfig_state(const char *option)
{
	char path[PATH_MAX], line[512];
	size_t optlen = strlen(option);
	struct utsname uts;
	int state = -1;
	gzFile f;

	/* gzopen reads plain files transparently, so both sources work. */
	f = gzopen("/proc/config.gz", "rb");
	if (!f && uname(&uts) == 0) {
		snprintf(path, sizeof(path), "/boot/config-%s", uts.release);
		f = gzopen(path, "rb");
	}
	if (!f)
		return -1;
	state = 0;
	while (gzgets(f, line, sizeof(line))) {
		if (strncmp(line, option, optlen) == 0 && line[optlen] == '=') {
			state = line[optlen + 1] == 'y' || line[optlen + 1] == 'm';
			break;
		}
	}
	gzclose(f);
	return state;
}

/* mkdir that reports whether it created the directory. */
static int make_dir(const char *path, bool *created)
{
	*created = false;
	if (mkdir(path, 0700) == 0) {
		*created = true;
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	return -errno;
}

static int dir_is_empty(const char *path)
{
	struct dirent *de;
	int empty = 1;
	DIR *d;

	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			empty = 0;
			break;
		}
	}
	closedir(d);
	return empty;
}

/*
 * Pins must live on a bpffs: check the file system of the deepest existing
 * directory on the way to the pin directory.
 */
static int check_bpffs(const char *pin_root)
{
	char path[PATH_MAX];
	struct statfs st;
	char *slash;

	snprintf(path, sizeof(path), "%s", pin_root);
	while (statfs(path, &st) != 0) {
		if (errno != ENOENT) {
			ms_err("dataplane: statfs %s: %s", path, strerror(errno));
			return -errno;
		}
		slash = strrchr(path, '/');
		if (!slash || slash == path) {
			snprintf(path, sizeof(path), "/");
			if (statfs(path, &st) != 0)
				return -errno;
			break;
		}
		*slash = '\0';
	}
	if (st.f_type != BPF_FS_MAGIC) {
		ms_err("dataplane: %s is not on a bpf file system: bpffs is not mounted "
		       "(mount -t bpf bpf /sys/fs/bpf)",
		       path);
		return -ENOTSUP;
	}
	return 0;
}

static int check_prereqs(const char *pin_root)
{
	if (access(BTF_VMLINUX, R_OK) != 0) {
		ms_err("dataplane: %s is missing: the kernel needs CONFIG_DEBUG_INFO_BTF=y "
		       "for the CO-RE classifier",
		       BTF_VMLINUX);
		return -ENOTSUP;
	}
	if (kconfig_state("CONFIG_NET_SCH_INGRESS") == 0) {
		ms_err("dataplane: the clsact qdisc is missing: the kernel needs "
		       "CONFIG_NET_SCH_INGRESS");
		return -ENOTSUP;
	}
	if (kconfig_state("CONFIG_NET_CLS_BPF") == 0) {
		ms_err("dataplane: the bpf tc classifier is missing: the kernel needs "
		       "CONFIG_NET_CLS_BPF");
		return -ENOTSUP;
	}
	return check_bpffs(pin_root);
}

static int pin_path(const struct ms_dataplane *dp, const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", dp->pin_dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Removes every pin of ours; a missing one is not an error. */
static void unpin_all(struct ms_dataplane *dp)
{
	char path[PATH_MAX];
	struct bpf_map *map;

	bpf_object__for_each_map(map, dp->skel->obj)
	{
		if (strncmp(bpf_map__name(map), "ms_", 3))
			continue;
		if (!pin_path(dp, bpf_map__name(map), path, sizeof(path)) && unlink(path) &&
		    errno != ENOENT)
			ms_warn("dataplane: unlink %s: %s", path, strerror(errno));
	}
	if (!pin_path(dp, PROG_PIN_NAME, path, sizeof(path)) && unlink(path) && errno != ENOENT)
		ms_warn("dataplane: unlink %s: %s", path, strerror(errno));
}

static int pin_maps(struct ms_dataplane *dp)
{
	char path[PATH_MAX];
	struct bpf_map *map;
	int err;

	/* Only our maps: libbpf's internal ones (.rodata, ...) are no API. */
	bpf_object__for_each_map(map, dp->skel->obj)
	{
		if (strncmp(bpf_map__name(map), "ms_", 3))
			continue;
		err = pin_path(dp, bpf_map__name(map), path, sizeof(path));
		if (!err)
			err = bpf_obj_pin(bpf_map__fd(map), path);
		if (err) {
			ms_err("dataplane: pin map %s: %s", path, strerror(-err));
			return err;
		}
	}
	return 0;
}

/* The program pin names the program that runs: a taken-over one is replaced. */
static int pin_prog(struct ms_dataplane *dp)
{
	char path[PATH_MAX];
	int err;

	err = pin_path(dp, PROG_PIN_NAME, path, sizeof(path));
	if (err)
		return err;
	if (unlink(path) && errno != ENOENT)
		return -errno;
	err = bpf_obj_pin(bpf_program__fd(dp->prog), path);
	if (err)
		ms_err("dataplane: pin program %s: %s", path, strerror(-err));
	return err;
}

/* Removes every file under the pin directory (pins a previous agent left). */
static int pins_clear(struct ms_dataplane *dp)
{
	struct dirent *de;
	int err = 0;
	DIR *dir;

	dir = opendir(dp->pin_dir);
	if (!dir)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		if (unlinkat(dirfd(dir), de->d_name, 0) < 0 && errno != ENOENT) {
			err = -errno;
			ms_err("dataplane: remove %s/%s: %s", dp->pin_dir, de->d_name,
			       strerror(errno));
		}
	}
	closedir(dir);
	return err;
}

static int attach(struct ms_dataplane *dp)
{
	LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = bpf_program__fd(dp->prog));
	int err;

	err = bpf_tc_hook_create(&dp->hook);
	if (err == 0) {
		dp->hook_created = true;
	} else if (err != -EEXIST) {
		if (err == -ENOENT || err == -EOPNOTSUPP)
			ms_err("dataplane: cannot create the clsact qdisc on %s (%s): the kernel "
			       "needs CONFIG_NET_SCH_INGRESS",
			       dp->ifname, strerror(-err));
		else
			ms_err("dataplane: cannot create the clsact qdisc on %s: %s", dp->ifname,
			       strerror(-err));
		return err;
	}

	/*
	 * Handle and priority 0: the kernel picks them, with a priority ahead
	 * of any filter already there, so we classify first.
	 */
	err = bpf_tc_attach(&dp->hook, &opts);
	if (err) {
		if (err == -ENOENT || err == -EOPNOTSUPP)
			ms_err("dataplane: cannot attach a bpf filter on %s egress (%s): the "
			       "kernel needs CONFIG_NET_CLS_BPF",
			       dp->ifname, strerror(-err));
		else
			ms_err("dataplane: attach to %s egress: %s", dp->ifname, strerror(-err));
		return err;
	}
	dp->tc_handle = opts.handle;
	dp->tc_priority = opts.priority;
	dp->attached = true;
	return 0;
}

/*
 * Takes the filter slot a previous agent recorded: one replace swaps its
 * program for ours, so no packet passes unclassified. If the filter is gone
 * the replace creates it in the same slot.
 */
static int attach_in_place(struct ms_dataplane *dp, const struct ms_dp_attach *prev)
{
	LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = bpf_program__fd(dp->prog),
		    .handle = prev->tc_handle, .priority = prev->tc_priority,
		    .flags = BPF_TC_F_REPLACE);
	int err;

	err = bpf_tc_hook_create(&dp->hook);
	if (err && err != -EEXIST) {
		ms_err("dataplane: cannot create the clsact qdisc on %s: %s", dp->ifname,
		       strerror(-err));
		return err;
	}
	dp->hook_created = err == 0 || prev->clsact_created;
	err = bpf_tc_attach(&dp->hook, &opts);
	if (err) {
		ms_err("dataplane: replace the classifier on %s egress (handle %#x, priority %u): "
		       "%s",
		       dp->ifname, prev->tc_handle, prev->tc_priority, strerror(-err));
		return err;
	}
	dp->tc_handle = opts.handle;
	dp->tc_priority = opts.priority;
	dp->attached = true;
	return 0;
}

static void detach(struct ms_dataplane *dp)
{
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = dp->tc_handle, .priority = dp->tc_priority);
	struct bpf_tc_hook qdisc = dp->hook;
	int err;

	if (dp->attached) {
		err = bpf_tc_detach(&dp->hook, &opts);
		/* ENODEV: the interface went away, and the filter with it. */
		if (err && err != -ENOENT && err != -ENODEV)
			ms_warn("dataplane: detach from %s egress: %s", dp->ifname, strerror(-err));
		dp->attached = false;
	}
	if (dp->hook_created) {
		/* Both directions: that is what deletes the qdisc itself. */
		qdisc.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		err = bpf_tc_hook_destroy(&qdisc);
		if (err && err != -ENOENT && err != -EINVAL && err != -ENODEV)
			ms_warn("dataplane: remove clsact from %s: %s", dp->ifname, strerror(-err));
		dp->hook_created = false;
	}
}

/* Writes a whole 65536-entry __u8 array map in one batch. */
static int write_u8_array(int fd, const __u8 *vals)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 count = 65536;
	__u32 *keys;
	__u32 i;
	int err;

	keys = malloc(sizeof(*keys) * count);
	if (!keys)
		return -ENOMEM;
	for (i = 0; i < count; i++)
		keys[i] = i;
	err = bpf_map_update_batch(fd, keys, vals, &count, &opts);
	free(keys);
	return err;
}

static __u8 port_value(const struct ms_dataplane *dp, __u16 port)
{
	return dp->base_ports[port] | (dp->sport_refs[port] ? MS_PORT_FLOW_SPORT : 0) |
	       (dp->dport_refs[port] ? MS_PORT_FLOW_DPORT : 0);
}

static int write_port(struct ms_dataplane *dp, __u16 port)
{
	__u8 val = port_value(dp, port);
	__u32 key = port;
	int err;

	err = bpf_map_update_elem(bpf_map__fd(dp->skel->maps.ms_ports), &key, &val, BPF_ANY);
	if (err)
		ms_err("dataplane: write port %u: %s", port, strerror(-err));
	return err;
}

/*
 * Runs the retag iterator once over every TCP socket of this network
 * namespace: tags from the tables as they are, or (clear) every tag off.
 */
static int retag_run(struct ms_dataplane *dp, bool clear)
{
	char buf[64];
	ssize_t n;
	int fd;

	/* Loaded for tests, benchmarks or tags_clear(): it tags nothing. */
	if (!dp->retag_link || (dp->detached_mode && !clear))
		return 0;
	/* Until a run succeeds, the tags may follow older tables. */
	dp->retag_due = true;
	/*
	 * Not before our filter is in place: the tags would be read by the
	 * program there now, a previous agent's kept running (fail-static),
	 * with tables this one has not filled yet.
	 */
	if (!dp->attached && !clear)
		return 0;
	dp->skel->bss->retag_ifindex[0] = (__u32)dp->hook.ifindex;
	dp->skel->bss->retag_ifindex[1] = (__u32)dp->tag_upper_ifindex;
	dp->skel->bss->retag_clear = clear;
	fd = bpf_iter_create(bpf_link__fd(dp->retag_link));
	if (fd < 0) {
		n = -errno;
		ms_err("dataplane: socket tags: start the iterator: %s", strerror(errno));
		return (int)n;
	}
	/* The program writes nothing: reading runs it over every socket. */
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	if (n < 0) {
		n = -errno;
		ms_err("dataplane: socket tags: %s", strerror(errno));
	}
	close(fd);
	dp->retag_due = n < 0;
	if (dp->skel->bss->retag_failed != dp->retag_failed_logged) {
		ms_warn("dataplane: socket tags: %llu sockets could not be tagged so far; their "
			"packets are classified from their headers",
			(unsigned long long)dp->skel->bss->retag_failed);
		dp->retag_failed_logged = dp->skel->bss->retag_failed;
	}
	return (int)n;
}

int ms_dataplane_retag(struct ms_dataplane *dp)
{
	return dp ? retag_run(dp, false) : -EINVAL;
}

bool ms_dataplane_retag_due(const struct ms_dataplane *dp)
{
	return dp && dp->retag_due;
}

int ms_dataplane_set_tag_upper(struct ms_dataplane *dp, int upper_ifindex)
{
	if (!dp || upper_ifindex < 0)
		return -EINVAL;
	if (dp->tag_upper_ifindex == upper_ifindex)
		return 0;
	dp->tag_upper_ifindex = upper_ifindex;
	return retag_run(dp, false);
}

/*
 * Tells the classifier the tables changed: classes kept on sockets under an
 * older generation are derived again (see migshaper.h), and sockets are
 * tagged again. Called after the change, so a packet that read the old
 * tables kept the old generation. A failed retag is logged, not returned:
 * the tables did change, and the next cycle's retag tries again.
 */
static int generation_bump(struct ms_dataplane *dp)
{
	__u64 next = dp->generation + 1;
	__u32 zero = 0;
	int err;

	err = bpf_map_update_elem(bpf_map__fd(dp->skel->maps.ms_generation), &zero, &next, BPF_ANY);
	if (err) {
		ms_err("dataplane: write table generation: %s", strerror(-err));
		return err;
	}
	dp->generation = next;
	retag_run(dp, false);
	return 0;
}

int ms_dataplane_set_ports(struct ms_dataplane *dp, const __u16 *mgmt_ports, size_t n_mgmt,
			   __u16 migration_port_min, __u16 migration_port_max)
{
	__u8 *vals;
	size_t i;
	int err;

	if (!dp || (n_mgmt && !mgmt_ports) || migration_port_min > migration_port_max)
		return -EINVAL;
	vals = calloc(MS_PORT_MAP_SIZE, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	memset(dp->base_ports, 0, MS_PORT_MAP_SIZE);
	for (i = 0; i < n_mgmt; i++)
		dp->base_ports[mgmt_ports[i]] |= MS_PORT_MGMT;
	for (i = migration_port_min; i <= migration_port_max; i++)
		dp->base_ports[i] |= MS_PORT_MIGRATION;
	for (i = 0; i < MS_PORT_MAP_SIZE; i++)
		vals[i] = port_value(dp, (__u16)i);

	/* One batch for the whole map: every entry is (re)written. */
	err = write_u8_array(bpf_map__fd(dp->skel->maps.ms_ports), vals);
	if (err)
		ms_err("dataplane: write port map: %s", strerror(-err));
	free(vals);
	/* Even after a failure: part of the map may be new. */
	return generation_bump(dp) ?: err;
}

/* Clears the address bits beyond prefixlen, so equal prefixes compare equal. */
static void cidr_normalize(struct ms_cidr_key *k)
{
	__u32 i, bits;

	for (i = 0; i < sizeof(k->addr); i++) {
		bits = k->prefixlen > i * 8 ? k->prefixlen - i * 8 : 0;
		if (bits < 8)
			k->addr[i] &= (__u8)(0xff00 >> bits);
	}
}

static void hint_mark_range(__u8 *hint, __u32 base16, __u32 bits, __u8 bit)
{
	/* every 16-bit index whose top `bits` bits are those of base16 */
	__u32 span = 1U << (16 - bits), start = base16 & ~(span - 1), i;

	for (i = 0; i < span; i++)
		hint[start + i] |= bit;
}

/*
 * Marks the 16-bit prefixes a CIDR may cover (see MS_CIDR_HINT_* in
 * migshaper.h). A superset is fine, a miss is a misclassification.
 */
static void cidr_hint_add(__u8 *hint, const struct ms_cidr_key *k)
{
	static const __u8 mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	__u32 p = k->prefixlen, b;

	hint_mark_range(hint, (__u32)(k->addr[0] << 8 | k->addr[1]), p < 16 ? p : 16,
			MS_CIDR_HINT_V6);
	/* IPv4-mapped addresses: only if the prefix agrees with ::ffff:0:0/96 */
	for (b = 0; b < p && b < 96; b++)
		if (((k->addr[b / 8] ^ mapped[b / 8]) >> (7 - b % 8)) & 1)
			return;
	hint_mark_range(hint, (__u32)(k->addr[12] << 8 | k->addr[13]),
			p <= 96	      ? 0
			: p - 96 < 16 ? p - 96
				      : 16,
			MS_CIDR_HINT_V4);
}

static bool cidr_in(const struct ms_cidr_key *set, size_t n, const struct ms_cidr_key *k)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!memcmp(&set[i], k, sizeof(*k)))
			return true;
	return false;
}

int ms_dataplane_set_mgmt_cidrs(struct ms_dataplane *dp, const struct ms_cidr_key *cidrs, size_t n)
{
	/* room for a full trie plus one, to notice a trie that is not ours */
	struct ms_cidr_key *want = NULL, *have = NULL, key, *prev;
	int fd, hint_fd, err = 0;
	__u8 *hint = NULL;
	bool trie_touched = false;
	size_t i, n_have = 0;
	__u8 one = 1;

	if (!dp || (n && !cidrs))
		return -EINVAL;
	if (n > MS_CIDR_MAX) {
		ms_err("dataplane: %zu management CIDRs, at most %u", n, MS_CIDR_MAX);
		return -E2BIG;
	}
	fd = bpf_map__fd(dp->skel->maps.ms_mgmt_cidrs);
	hint_fd = bpf_map__fd(dp->skel->maps.ms_cidr_hint);
	want = calloc(n ? n : 1, sizeof(*want));
	have = calloc(MS_CIDR_MAX + 1, sizeof(*have));
	hint = calloc(MS_CIDR_HINT_SIZE, 1);
	if (!want || !have || !hint) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		if (cidrs[i].prefixlen > 128) {
			ms_err("dataplane: CIDR prefix length %u > 128", cidrs[i].prefixlen);
			err = -EINVAL;
			goto cleanup;
		}
		want[i] = cidrs[i];
		cidr_normalize(&want[i]);
	}

	/*
	 * The hint must cover the trie at every moment: first the union of
	 * old and new, then the trie, then exactly the new set.
	 */
	for (i = 0; i < n; i++)
		cidr_hint_add(hint, &want[i]);
	for (i = 0; i < MS_CIDR_HINT_SIZE; i++)
		dp->cidr_hint[i] |= hint[i];
	err = write_u8_array(hint_fd, dp->cidr_hint);
	if (err) {
		ms_err("dataplane: write CIDR hints: %s", strerror(-err));
		goto cleanup;
	}

	/* Collect first: deleting while walking the trie would skip keys. */
	prev = NULL;
	while (n_have <= MS_CIDR_MAX && !bpf_map_get_next_key(fd, prev, &key)) {
		have[n_have] = key;
		prev = &have[n_have++];
	}

	/* Delete stale entries before adding, so the trie never overflows. */
	trie_touched = true;
	for (i = 0; i < n_have; i++) {
		if (cidr_in(want, n, &have[i]))
			continue;
		err = bpf_map_delete_elem(fd, &have[i]);
		if (err && err != -ENOENT) {
			ms_err("dataplane: delete management CIDR: %s", strerror(-err));
			goto cleanup;
		}
	}
	err = 0;
	for (i = 0; i < n; i++) {
		err = bpf_map_update_elem(fd, &want[i], &one, BPF_ANY);
		if (err) {
			ms_err("dataplane: add management CIDR: %s", strerror(-err));
			goto cleanup;
		}
	}
	memcpy(dp->cidr_hint, hint, MS_CIDR_HINT_SIZE);
	err = write_u8_array(hint_fd, dp->cidr_hint);
	if (err)
		ms_err("dataplane: write CIDR hints: %s", strerror(-err));
cleanup:
	free(want);
	free(have);
	free(hint);
	/* The trie may have changed, even on a failure after the hints. */
	if (trie_touched)
		return generation_bump(dp) ?: err;
	return err;
}

int ms_dataplane_set_config(struct ms_dataplane *dp, const struct ms_dp_config *cfg)
{
	__u32 zero = 0;
	int err;

	if (!dp || !cfg || (cfg->flags & ~MS_CFG_DSCP_MARKING))
		return -EINVAL;
	err = bpf_map_update_elem(bpf_map__fd(dp->skel->maps.ms_config), &zero, cfg, BPF_ANY);
	if (err) {
		ms_err("dataplane: write config: %s", strerror(-err));
		return err;
	}
	/* The backend and DSCP marking are in the tags too. */
	retag_run(dp, false);
	return 0;
}

/* The map key: pad must be zero or lookups from the program never match. */
static int flow_key_prepare(const struct ms_flow_key *in, struct ms_flow_key *out)
{
	if (in->l4_proto != IPPROTO_TCP && in->l4_proto != IPPROTO_UDP)
		return -EINVAL;
	*out = *in;
	memset(out->pad, 0, sizeof(out->pad));
	return 0;
}

int ms_dataplane_flow_add(struct ms_dataplane *dp, const struct ms_flow_key *key,
			  const struct ms_flow_val *val)
{
	char buf[MS_FLOW_KEY_STRLEN];
	struct ms_flow_val old;
	struct ms_flow_key k;
	bool is_new;
	int fd, err;

	if (!dp || !key || !val || !ms_minor_is_migration(val->class_minor) ||
	    flow_key_prepare(key, &k))
		return -EINVAL;
	fd = bpf_map__fd(dp->skel->maps.ms_flows);
	is_new = bpf_map_lookup_elem(fd, &k, &old) != 0;
	if (is_new) {
		/* hints before the flow: the program must never miss it */
		dp->sport_refs[k.sport]++;
		dp->dport_refs[k.dport]++;
		err = write_port(dp, k.sport);
		if (!err)
			err = write_port(dp, k.dport);
		if (err)
			goto undo;
	}
	err = bpf_map_update_elem(fd, &k, val, BPF_ANY);
	/* The same class again changes no packet's class: no new generation. */
	if (!err)
		return !is_new && old.class_minor == val->class_minor ? 0 : generation_bump(dp);
	ms_flow_key_format(&k, buf, sizeof(buf));
	ms_err("dataplane: add flow %s: %s", buf, strerror(-err));
	if (!is_new)
		return err;
undo:
	/* a stale hint only costs a lookup; the counts just must not drift */
	dp->sport_refs[k.sport]--;
	dp->dport_refs[k.dport]--;
	return err;
}

/* After the flow is gone: a failure leaves a harmless hint. */
static void hints_drop(struct ms_dataplane *dp, const struct ms_flow_key *k)
{
	if (dp->sport_refs[k->sport] && !--dp->sport_refs[k->sport])
		write_port(dp, k->sport);
	if (dp->dport_refs[k->dport] && !--dp->dport_refs[k->dport])
		write_port(dp, k->dport);
}

int ms_dataplane_flow_del(struct ms_dataplane *dp, const struct ms_flow_key *key)
{
	char buf[MS_FLOW_KEY_STRLEN];
	struct ms_flow_key k;
	int err;

	if (!dp || !key || flow_key_prepare(key, &k))
		return -EINVAL;
	err = bpf_map_delete_elem(bpf_map__fd(dp->skel->maps.ms_flows), &k);
	if (err) {
		if (err != -ENOENT) {
			ms_flow_key_format(&k, buf, sizeof(buf));
			ms_err("dataplane: delete flow %s: %s", buf, strerror(-err));
		}
		return err;
	}
	hints_drop(dp, &k);
	return generation_bump(dp);
}

int ms_dataplane_flow_present(struct ms_dataplane *dp, const struct ms_flow_key *key)
{
	struct ms_flow_val val;
	struct ms_flow_key k;
	int err;

	if (!dp || !key || flow_key_prepare(key, &k))
		return -EINVAL;
	err = bpf_map_lookup_elem(bpf_map__fd(dp->skel->maps.ms_flows), &k, &val);
	if (err == -ENOENT)
		return 0;
	return err ? err : 1;
}

void ms_dataplane_flow_forget(struct ms_dataplane *dp, const struct ms_flow_key *key)
{
	struct ms_flow_key k;

	if (!dp || !key || flow_key_prepare(key, &k))
		return;
	dp->flows_evicted++;
	hints_drop(dp, &k);
}

__u64 ms_dataplane_flows_evicted(const struct ms_dataplane *dp)
{
	return dp ? dp->flows_evicted : 0;
}

int ms_dataplane_flows_foreach(struct ms_dataplane *dp, ms_flow_cb cb, void *ctx)
{
	struct ms_flow_key key, next;
	struct ms_flow_val val;
	bool first = true;
	int fd, err;

	if (!dp || !cb)
		return -EINVAL;
	fd = bpf_map__fd(dp->skel->maps.ms_flows);
	for (;;) {
		err = bpf_map_get_next_key(fd, first ? NULL : &key, &next);
		if (err == -ENOENT)
			return 0;
		if (err)
			return err;
		first = false;
		key = next;
		/* Evicted between the two calls: skip it. */
		if (bpf_map_lookup_elem(fd, &key, &val) == 0)
			cb(ctx, &key, &val);
	}
}

/*
 * Sums, over every possible CPU, the value of key in a per-CPU map whose
 * values are n_words 64-bit counters; out gets n_words sums.
 */
static int percpu_sum(int map_fd, __u32 key, size_t n_words, __u64 *out)
{
	__u64 *vals;
	int ncpus, err;

	ncpus = libbpf_num_possible_cpus();
	if (ncpus < 0)
		return ncpus;
	vals = calloc((size_t)ncpus * n_words, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	err = bpf_map_lookup_elem(map_fd, &key, vals);
	if (err)
		goto cleanup;
	memset(out, 0, n_words * sizeof(*out));
	for (int cpu = 0; cpu < ncpus; cpu++)
		for (size_t w = 0; w < n_words; w++)
			out[w] += vals[(size_t)cpu * n_words + w];
cleanup:
	free(vals);
	return err;
}

int ms_dataplane_counters(struct ms_dataplane *dp, __u32 minor, struct ms_class_counter *sum)
{
	__u64 words[2];
	int err;

	_Static_assert(sizeof(struct ms_class_counter) == sizeof(words),
		       "ms_class_counter is two 64-bit counters");
	if (!dp || !sum || minor >= MS_CLASS_SLOTS)
		return -EINVAL;
	err = percpu_sum(bpf_map__fd(dp->skel->maps.ms_counters), minor, 2, words);
	if (err) {
		ms_err("dataplane: read counters of class %#x: %s", minor, strerror(-err));
		return err;
	}
	sum->packets = words[0];
	sum->bytes = words[1];
	return 0;
}

int ms_dataplane_events_lost(struct ms_dataplane *dp, __u64 *lost)
{
	int err;

	if (!dp || !lost)
		return -EINVAL;
	err = percpu_sum(bpf_map__fd(dp->skel->maps.ms_stats), MS_STAT_EVENTS_LOST, 1, lost);
	if (err)
		ms_err("dataplane: read lost events: %s", strerror(-err));
	return err;
}

int ms_dataplane_attach_info(const struct ms_dataplane *dp, struct ms_dp_attach *out)
{
	if (!dp || !out || !dp->attached)
		return -EINVAL;
	out->tc_handle = dp->tc_handle;
	out->tc_priority = dp->tc_priority;
	out->clsact_created = dp->hook_created;
	return 0;
}

int ms_dataplane_prog_fd(struct ms_dataplane *dp)
{
	if (!dp)
		return -EINVAL;
	return bpf_program__fd(dp->prog);
}

int ms_dataplane_events_fd(struct ms_dataplane *dp)
{
	if (!dp)
		return -EINVAL;
	return ring_buffer__epoll_fd(dp->rb);
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct ms_dataplane *dp = ctx;
	struct ms_flow_event ev;

	if (size < sizeof(ev) || !dp->cb)
		return 0;
	/* A copy: ring-buffer records are only 8-byte aligned. */
	memcpy(&ev, data, sizeof(ev));
	dp->cb(dp->cb_ctx, &ev);
	return 0;
}

int ms_dataplane_events_consume(struct ms_dataplane *dp, ms_flow_event_cb cb, void *ctx)
{
	int n;

	if (!dp || !cb)
		return -EINVAL;
	dp->cb = cb;
	dp->cb_ctx = ctx;
	n = ring_buffer__consume(dp->rb);
	dp->cb = NULL;
	dp->cb_ctx = NULL;
	if (n < 0)
		ms_err("dataplane: read flow events: %s", strerror(-n));
	return n;
}

/* Undoes open: filter, qdisc, pins, directories; then frees. */
static void teardown(struct ms_dataplane *dp, bool remove_pin_dir)
{
	if (dp->detached_mode)
		return;
	detach(dp);
	if (dp->pinned && dp->skel)
		unpin_all(dp);
	if ((remove_pin_dir || dp->pin_dir_created) && dp->pin_dir[0] && rmdir(dp->pin_dir) &&
	    errno != ENOENT)
		ms_warn("dataplane: rmdir %s: %s", dp->pin_dir, strerror(errno));
	/* Another interface's agent may still use the root: that is fine. */
	if (dp->pin_root_created)
		rmdir(dp->pin_root);
}

static void free_dp(struct ms_dataplane *dp)
{
	bpf_link__destroy(dp->retag_link);
	ring_buffer__free(dp->rb);
	classifier__destroy(dp->skel);
	free(dp->base_ports);
	free(dp->sport_refs);
	free(dp->dport_refs);
	free(dp->cidr_hint);
	free(dp);
}

static struct ms_dataplane *alloc_dp(void)
{
	struct ms_dataplane *dp = calloc(1, sizeof(*dp));

	if (!dp)
		return NULL;
	dp->base_ports = calloc(MS_PORT_MAP_SIZE, sizeof(*dp->base_ports));
	dp->sport_refs = calloc(MS_PORT_MAP_SIZE, sizeof(*dp->sport_refs));
	dp->dport_refs = calloc(MS_PORT_MAP_SIZE, sizeof(*dp->dport_refs));
	dp->cidr_hint = calloc(MS_CIDR_HINT_SIZE, sizeof(*dp->cidr_hint));
	if (!dp->base_ports || !dp->sport_refs || !dp->dport_refs || !dp->cidr_hint) {
		free_dp(dp);
		return NULL;
	}
	return dp;
}

/* A pinned map fits ours if the kernel would have created the same one. */
static int map_fits(const struct bpf_map *map, int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	if (info.type != bpf_map__type(map) || info.key_size != bpf_map__key_size(map) ||
	    info.value_size != bpf_map__value_size(map) ||
	    info.max_entries != bpf_map__max_entries(map) ||
	    info.map_flags != bpf_map__map_flags(map))
		return -ESTALE;
	return 0;
}

/* Each of our maps takes the pinned one of the same name, contents and all. */
static int reuse_pinned_maps(struct ms_dataplane *dp)
{
	char path[PATH_MAX];
	struct bpf_map *map;
	int fd, err;

	bpf_object__for_each_map(map, dp->skel->obj)
	{
		if (strncmp(bpf_map__name(map), "ms_", 3))
			continue;
		err = pin_path(dp, bpf_map__name(map), path, sizeof(path));
		if (err)
			return err;
		fd = bpf_obj_get(path);
		if (fd < 0) {
			ms_warn("dataplane: cannot take over %s: %s", path, strerror(errno));
			return -ESTALE;
		}
		err = map_fits(map, fd);
		if (!err)
			err = bpf_map__reuse_fd(map, fd);
		close(fd);
		if (err) {
			ms_warn("dataplane: cannot take over %s: %s", path,
				err == -ESTALE ? "it was made by another version of the classifier"
					       : strerror(-err));
			return -ESTALE;
		}
	}
	return 0;
}

static void count_flow_hints(void *ctx, const struct ms_flow_key *key,
			     const struct ms_flow_val *val)
{
	struct ms_dataplane *dp = ctx;

	(void)val;
	dp->sport_refs[key->sport]++;
	dp->dport_refs[key->dport]++;
}

/* The user-space mirrors of taken-over maps, which the hint logic relies on. */
static int mirrors_rebuild(struct ms_dataplane *dp)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 count = MS_CIDR_HINT_SIZE, batch;
	__u32 *keys;
	int err;

	err = ms_dataplane_flows_foreach(dp, count_flow_hints, dp);
	if (err) {
		ms_err("dataplane: read the pinned flow map: %s", strerror(-err));
		return err;
	}
	keys = malloc(sizeof(*keys) * count);
	if (!keys)
		return -ENOMEM;
	err = bpf_map_lookup_batch(bpf_map__fd(dp->skel->maps.ms_cidr_hint), NULL, &batch, keys,
				   dp->cidr_hint, &count, &opts);
	/* ENOENT: the whole array fit in the one batch. */
	if (err == -ENOENT && count == MS_CIDR_HINT_SIZE)
		err = 0;
	free(keys);
	if (err)
		ms_err("dataplane: read the pinned CIDR hints: %s", strerror(-err));
	return err;
}

/* The generation a taken-over map holds, so bumps go on from there. */
static int generation_read(struct ms_dataplane *dp)
{
	__u32 zero = 0;
	int err;

	err =
	    bpf_map_lookup_elem(bpf_map__fd(dp->skel->maps.ms_generation), &zero, &dp->generation);
	if (err)
		ms_err("dataplane: read the pinned table generation: %s", strerror(-err));
	return err;
}

/* The builds of the classifier program (classifier.bpf.c), in the order they are tried. */
enum prog_build {
	PROG_FAST,   /* classifier: tags checked through bpf_rdonly_cast (6.2) */
	PROG_COMPAT, /* classifier_compat: through bpf_skc_to_tcp_sock */
	PROG_NOTAGS, /* classifier_notags: no tags, no retag iterator */
};

/*
 * Opens and loads the object with that build of the classifier (and the
 * retag iterator unless PROG_NOTAGS). *verifier: the failure (if any) was
 * the kernel's refusal to load it.
 */
static int skel_load(struct ms_dataplane *dp, bool reuse, enum prog_build build, bool *verifier)
{
	struct bpf_program *progs[3];
	struct stat netns;
	int err;

	*verifier = false;
	/* Tags are believed only on this namespace's sockets (classifier.bpf.c). */
	if (stat("/proc/self/ns/net", &netns) < 0) {
		err = -errno;
		ms_err("dataplane: read our network namespace: %s", strerror(errno));
		return err;
	}
	dp->skel = classifier__open();
	if (!dp->skel) {
		err = -errno;
		ms_err("dataplane: open the classifier: %s", strerror(errno));
		return err;
	}
	dp->skel->bss->host_netns_ino = (__u32)netns.st_ino;
	dp->skel->bss->tag_major = ms_sk_tag_major(dp->hook.ifindex);
	progs[PROG_FAST] = dp->skel->progs.classifier;
	progs[PROG_COMPAT] = dp->skel->progs.classifier_compat;
	progs[PROG_NOTAGS] = dp->skel->progs.classifier_notags;
	for (int i = PROG_FAST; i <= PROG_NOTAGS; i++)
		bpf_program__set_autoload(progs[i], i == (int)build);
	dp->prog = progs[build];
	if (build == PROG_NOTAGS)
		bpf_program__set_autoload(dp->skel->progs.retag, false);
	if (reuse) {
		err = reuse_pinned_maps(dp);
		if (err)
			return err;
	}
	err = classifier__load(dp->skel);
	*verifier = err != 0;
	return err;
}

/*
 * Loads the program and opens the ring buffer. reuse: on the pinned maps as
 * they are (-ESTALE if they cannot be); otherwise on fresh maps with the
 * default tables.
 */
static int load(struct ms_dataplane *dp, bool reuse)
{
	struct ms_dp_config cfg = {.report_interval_ms = MS_REPORT_INTERVAL_DEFAULT_MS};
	bool verifier;
	int err;

	/* Each build where the kernel refuses the one before (enum prog_build). */
	for (int build = PROG_FAST;; build++) {
		err = skel_load(dp, reuse, build, &verifier);
		if (!verifier || build == PROG_NOTAGS)
			break;
		classifier__destroy(dp->skel);
		dp->skel = NULL;
	}
	if (!err && dp->prog == dp->skel->progs.classifier_compat)
		ms_info("dataplane: classifier_compat loaded (no bpf_rdonly_cast in this kernel: "
			"about 3 ns more on a tagged management or migration packet)");
	else if (!err && dp->prog == dp->skel->progs.classifier_notags)
		ms_warn("dataplane: this kernel cannot run the socket tag iterator (iter/tcp "
			"with bpf_setsockopt): every packet is classified from its headers");
	if (err && !verifier)
		return err;
	if (err) {
		ms_err("dataplane: load the classifier: %s", strerror(-err));
		return reuse ? -ESTALE : err;
	}
	if (bpf_program__autoload(dp->skel->progs.retag)) {
		dp->retag_link = bpf_program__attach_iter(dp->skel->progs.retag, NULL);
		if (!dp->retag_link)
			ms_warn("dataplane: socket tags: attach the iterator: %s; every packet is "
				"classified from its headers",
				strerror(errno));
	}
	if (reuse) {
		err = mirrors_rebuild(dp) ?: generation_read(dp);
		/* The new program may decide otherwise than the one it replaces. */
		if (!err)
			err = generation_bump(dp);
	} else {
		err = ms_dataplane_set_ports(dp, default_mgmt_ports,
					     sizeof(default_mgmt_ports) /
						 sizeof(default_mgmt_ports[0]),
					     DEFAULT_MIG_PORT_MIN, DEFAULT_MIG_PORT_MAX);
		if (!err)
			err = ms_dataplane_set_config(dp, &cfg);
	}
	if (err)
		return err;
	dp->rb = ring_buffer__new(bpf_map__fd(dp->skel->maps.ms_events), on_event, dp, NULL);
	if (!dp->rb) {
		err = -errno;
		ms_err("dataplane: open the flow event ring buffer: %s", strerror(errno));
		return err;
	}
	return 0;
}

static int open_detached(struct ms_dataplane **out)
{
	struct ms_dataplane *dp;
	int err;

	if (access(BTF_VMLINUX, R_OK) != 0) {
		ms_err("dataplane: %s is missing: the kernel needs CONFIG_DEBUG_INFO_BTF=y",
		       BTF_VMLINUX);
		return -ENOTSUP;
	}
	dp = alloc_dp();
	if (!dp)
		return -ENOMEM;
	dp->detached_mode = true;
	err = load(dp, false);
	if (err) {
		free_dp(dp);
		return err;
	}
	*out = dp;
	return 0;
}

int ms_dataplane_open(const struct ms_dataplane_opts *opts, struct ms_dataplane **out)
{
	const char *pin_root;
	struct ms_dataplane *dp;
	int ifindex, n, err;
	bool reused;

	if (!opts || !out)
		return -EINVAL;
	*out = NULL;
	if (!opts->ifname)
		return open_detached(out);
	pin_root = opts->pin_root ? opts->pin_root : MS_PIN_ROOT;
	if (strlen(opts->ifname) >= IF_NAMESIZE || strchr(opts->ifname, '/')) {
		ms_err("dataplane: bad interface name '%s'", opts->ifname);
		return -EINVAL;
	}
	ifindex = if_nametoindex(opts->ifname);
	if (!ifindex) {
		err = -errno;
		ms_err("dataplane: interface %s: %s", opts->ifname, strerror(errno));
		return err;
	}
	err = check_prereqs(pin_root);
	if (err)
		return err;

	dp = alloc_dp();
	if (!dp)
		return -ENOMEM;
	snprintf(dp->ifname, sizeof(dp->ifname), "%s", opts->ifname);
	dp->hook.sz = sizeof(dp->hook);
	dp->hook.ifindex = ifindex;
	dp->hook.attach_point = BPF_TC_EGRESS;
	n = snprintf(dp->pin_root, sizeof(dp->pin_root), "%s", pin_root);
	if (n < 0 || (size_t)n >= sizeof(dp->pin_root) ||
	    snprintf(dp->pin_dir, sizeof(dp->pin_dir), "%s/%s", pin_root, opts->ifname) >=
		(int)sizeof(dp->pin_dir)) {
		dp->pin_dir[0] = '\0';
		err = -ENAMETOOLONG;
		goto cleanup;
	}

	err = make_dir(dp->pin_root, &dp->pin_root_created);
	if (!err)
		err = make_dir(dp->pin_dir, &dp->pin_dir_created);
	if (err) {
		ms_err("dataplane: mkdir %s: %s", dp->pin_dir, strerror(-err));
		goto cleanup;
	}
	err = dir_is_empty(dp->pin_dir);
	if (err < 0) {
		ms_err("dataplane: read %s: %s", dp->pin_dir, strerror(-err));
		goto cleanup;
	}
	if (err == 0 && !opts->adopt) {
		ms_err("dataplane: %s already holds pins: another agent runs on %s, or a "
		       "previous one left its dataplane in place",
		       dp->pin_dir, dp->ifname);
		err = -EEXIST;
		goto cleanup;
	}
	if (opts->adopt && !opts->adopt->tc_handle) {
		err = -ESTALE;
		goto cleanup;
	}

	/* Tables before the attach: the program never sees them empty. */
	reused = err == 0;
	if (reused) {
		err = load(dp, true);
		if (err == -ESTALE) {
			ms_warn("dataplane: the pinned maps under %s cannot be taken over; the "
				"classifier starts with fresh tables",
				dp->pin_dir);
			reused = false;
			ring_buffer__free(dp->rb);
			dp->rb = NULL;
			classifier__destroy(dp->skel);
			dp->skel = NULL;
			err = pins_clear(dp) ?: load(dp, false);
		}
	} else {
		err = load(dp, false);
	}
	if (err)
		goto cleanup;
	if (!reused) {
		/* From here on the pins are ours to remove on failure. */
		dp->pinned = true;
		err = pin_maps(dp);
		if (err)
			goto cleanup;
	}
	/* The filter last: from here on packets see the new program. */
	err = opts->adopt ? attach_in_place(dp, opts->adopt) : attach(dp);
	if (err)
		goto cleanup;
	dp->pinned = true;
	if (dp->retag_due)
		retag_run(dp, false);
	/* The filter holds the program; its pin only serves bpftool. */
	if (pin_prog(dp))
		ms_warn("dataplane: the program runs but is not pinned under %s", dp->pin_dir);

	if (opts->adopt)
		ms_info(
		    "dataplane: classifier on %s egress replaced in place (handle %#x, priority "
		    "%u), %s pinned maps under %s",
		    dp->ifname, dp->tc_handle, dp->tc_priority, reused ? "reusing the" : "with new",
		    dp->pin_dir);
	else
		ms_info("dataplane: classifier attached to %s egress (handle %#x, priority %u), "
			"pinned under %s%s",
			dp->ifname, dp->tc_handle, dp->tc_priority, dp->pin_dir,
			dp->hook_created ? ", clsact created" : "");
	*out = dp;
	return 0;

cleanup:
	/* The directory only goes if we made it: an existing one may be shared. */
	teardown(dp, false);
	free_dp(dp);
	return err;
}

/*
 * Without a dataplane (--cleanup): takes the tags of the agent of the NIC
 * ifindex off with an iterator of a classifier loaded for the purpose. A
 * kernel without the iterator never had tags. A tag left behind is only
 * logged: with its low bits 0 it means priority 0 to everything but a
 * classifier (migshaper.h).
 */
static void tags_clear(int ifindex)
{
	struct ms_dataplane *dp;

	if (open_detached(&dp) == 0) {
		dp->skel->bss->tag_major = ms_sk_tag_major(ifindex);
		retag_run(dp, true);
		free_dp(dp);
		return;
	}
	ms_warn("dataplane: socket tags could not be taken off; nothing reads them now");
}

int ms_dataplane_cleanup(const char *pin_root, const char *ifname, const struct ms_dp_attach *prev)
{
	struct ms_dataplane dp = {
	    .hook = {.sz = sizeof(struct bpf_tc_hook), .attach_point = BPF_TC_EGRESS},
	};
	int ifindex, err;

	if (!ifname || strlen(ifname) >= IF_NAMESIZE || strchr(ifname, '/'))
		return -EINVAL;
	pin_root = pin_root ? pin_root : MS_PIN_ROOT;
	if (snprintf(dp.pin_dir, sizeof(dp.pin_dir), "%s/%s", pin_root, ifname) >=
	    (int)sizeof(dp.pin_dir))
		return -ENAMETOOLONG;
	snprintf(dp.ifname, sizeof(dp.ifname), "%s", ifname);
	ifindex = (int)if_nametoindex(ifname);
	if (ifindex && prev && prev->tc_handle) {
		dp.hook.ifindex = ifindex;
		dp.tc_handle = prev->tc_handle;
		dp.tc_priority = prev->tc_priority;
		dp.attached = true;
		dp.hook_created = prev->clsact_created;
		detach(&dp);
	}
	err = pins_clear(&dp);
	if (!err && rmdir(dp.pin_dir) && errno != ENOENT)
		err = -errno;
	/* Another interface's agent may still use the root: that is fine. */
	rmdir(pin_root);
	/* Without the NIC its agent's tags are not told from another's: left. */
	if (ifindex)
		tags_clear(ifindex);
	return err;
}

void ms_dataplane_close(struct ms_dataplane *dp, bool detach_dp)
{
	if (!dp)
		return;
	if (detach_dp && !dp->detached_mode) {
		/* Before the classifier goes: no socket keeps a tag nobody reads. */
		retag_run(dp, true);
		teardown(dp, true);
		ms_info("dataplane: classifier removed from %s", dp->ifname);
	}
	free_dp(dp);
}

static bool addr_is_v4mapped(const __u8 *a)
{
	static const __u8 prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return !memcmp(a, prefix, sizeof(prefix));
}

static void format_addr_port(const __u8 *addr, __u16 port, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (addr_is_v4mapped(addr)) {
		inet_ntop(AF_INET, addr + 12, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, port);
	} else {
		inet_ntop(AF_INET6, addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, port);
	}
}

int ms_flow_key_format(const struct ms_flow_key *k, char *buf, size_t len)
{
	char src[INET6_ADDRSTRLEN + 8], dst[INET6_ADDRSTRLEN + 8], proto[8];
	int n;

	if (!k || !buf || !len)
		return -EINVAL;
	format_addr_port(k->saddr, k->sport, src, sizeof(src));
	format_addr_port(k->daddr, k->dport, dst, sizeof(dst));
	if (k->l4_proto == IPPROTO_TCP)
		snprintf(proto, sizeof(proto), "tcp");
	else if (k->l4_proto == IPPROTO_UDP)
		snprintf(proto, sizeof(proto), "udp");
	else
		snprintf(proto, sizeof(proto), "%u", k->l4_proto);
	n = snprintf(buf, len, "%s -> %s %s", src, dst, proto);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}
