// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * migshaperctl: the operator's view of a running agent. For now it reads the
 * per-class counters the classifier keeps in its pinned map, so it works even
 * while the agent is down (the dataplane stays pinned).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "classes.h"
#include "migshaper.h"

#define MS_VERSION "0.1.0"

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: migshaperctl [options] COMMAND\n"
		"\n"
		"Commands:\n"
		"  stats IFACE    per-class packet and byte counts of the classifier on IFACE\n"
		"\n"
		"Options:\n"
		"  -j, --json            print JSON instead of a table\n"
		"      --pin-root DIR    bpffs directory of the agent (default %s)\n"
		"  -h, --help            show this help\n"
		"  -V, --version         show the version\n"
		"\n"
		"Exit status: 0 on success, 1 when the agent's state cannot be read, 2 on\n"
		"bad arguments.\n",
		MS_PIN_ROOT);
}

/* Sums one per-CPU counter slot. */
static int read_counter(int map_fd, int n_cpus, __u32 minor, struct ms_class_counter *sum)
{
	struct ms_class_counter *per_cpu = calloc((size_t)n_cpus, sizeof(*per_cpu));
	int ret = 0;

	if (!per_cpu)
		return -ENOMEM;
	memset(sum, 0, sizeof(*sum));
	if (bpf_map_lookup_elem(map_fd, &minor, per_cpu)) {
		ret = -errno;
		goto out;
	}
	for (int cpu = 0; cpu < n_cpus; cpu++) {
		sum->packets += per_cpu[cpu].packets;
		sum->bytes += per_cpu[cpu].bytes;
	}
out:
	free(per_cpu);
	return ret;
}

static int cmd_stats(const char *pin_root, const char *ifname, int json)
{
	static const __u32 fixed[] = { MS_MINOR_MGMT, MS_MINOR_UNATTRIBUTED, MS_MINOR_DEFAULT };
	char path[PATH_MAX];
	int map_fd, n_cpus, ret = 0;
	int first = 1;

	snprintf(path, sizeof(path), "%s/%s/ms_counters", pin_root, ifname);
	map_fd = bpf_obj_get(path);
	if (map_fd < 0) {
		fprintf(stderr, "migshaperctl: cannot open %s: %s (is migshaperd shaping %s?)\n",
			path, strerror(errno), ifname);
		return EXIT_FAIL;
	}
	n_cpus = libbpf_num_possible_cpus();
	if (n_cpus <= 0) {
		fprintf(stderr, "migshaperctl: cannot count CPUs: %s\n", strerror(-n_cpus));
		ret = EXIT_FAIL;
		goto out;
	}
	if (json)
		printf("{\"iface\":\"%s\",\"classes\":[", ifname);
	else
		printf("%-14s %16s %20s\n", "class", "packets", "bytes");
	for (__u32 minor = 0; minor < MS_CLASS_SLOTS; minor++) {
		struct ms_class_counter c;
		char name[32];
		int is_fixed = 0;

		for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
			is_fixed |= fixed[i] == minor;
		if (!is_fixed && !ms_minor_is_migration(minor))
			continue;
		if (read_counter(map_fd, n_cpus, minor, &c)) {
			fprintf(stderr, "migshaperctl: reading counters of class %u: %s\n", minor,
				strerror(errno));
			ret = EXIT_FAIL;
			goto out;
		}
		/* Idle per-migration slots would only be noise. */
		if (!is_fixed && !c.packets)
			continue;
		ms_class_name(minor, name, sizeof(name));
		if (json)
			printf("%s{\"class\":\"%s\",\"packets\":%llu,\"bytes\":%llu}",
			       first ? "" : ",", name, (unsigned long long)c.packets,
			       (unsigned long long)c.bytes);
		else
			printf("%-14s %16llu %20llu\n", name, (unsigned long long)c.packets,
			       (unsigned long long)c.bytes);
		first = 0;
	}
	if (json)
		printf("]}\n");
out:
	close(map_fd);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pin-root", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{},
	};
	const char *pin_root = MS_PIN_ROOT;
	int json = 0, opt;

	while ((opt = getopt_long(argc, argv, "jhV", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = 1;
			break;
		case 'P':
			pin_root = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("migshaperctl %s\n", MS_VERSION);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc && strcmp(argv[optind], "stats") == 0 && optind + 2 == argc)
		return cmd_stats(pin_root, argv[optind + 1], json);
	fprintf(stderr, "migshaperctl: %s\n",
		optind == argc ? "a command is required" : "unknown command or wrong arguments");
	usage(stderr);
	return EXIT_USAGE;
}
