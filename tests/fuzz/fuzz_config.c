// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target for the settings parser (agent/config/config.c), which reads
 * operator input from the config file and from every knob write. Besides
 * crashes and sanitizer reports it checks the promises of config.h:
 *   - every setter is all or nothing: on error the struct is unchanged;
 *   - a resolved config satisfies the cross-key constraints, and resolving
 *     it again changes nothing (the knob tree relies on that);
 *   - every CIDR formats and parses back to itself.
 *
 * Input: the first byte picks the entry point, the rest is the text.
 *   even: ms_config_parse(text) as a whole INI file
 *   odd:  ms_config_set(key, value) with "key=value" split at the first '='
 * Two more bytes of the text's start seed the link speed for resolve.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define CHECK(cond)                                                                             \
	do {                                                                                    \
		if (!(cond)) {                                                                  \
			fprintf(stderr, "fuzz_config: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                \
		}                                                                               \
	} while (0)

static void check_resolved(const struct ms_config *c)
{
	CHECK(c->link_mbps > 0);
	CHECK(c->mgmt_reserve_mbps > 0 && c->mgmt_reserve_mbps < c->link_mbps);
	CHECK(c->migration_aggregate_mbps > 0);
	CHECK((uint64_t)c->mgmt_reserve_mbps + c->migration_aggregate_mbps <= c->link_mbps);
	CHECK(c->migration_max_mbps > 0 && c->migration_max_mbps <= c->migration_aggregate_mbps);
	CHECK(c->migration_min_mbps > 0 && c->migration_min_mbps <= c->migration_max_mbps);
	CHECK(c->migration_port_min >= 1 && c->migration_port_min <= c->migration_port_max);
	CHECK(c->n_mgmt_cidrs <= MS_CIDR_MAX);
	CHECK(c->n_mgmt_ports <= MS_MAX_MGMT_PORTS);
	for (size_t i = 0; i < c->n_mgmt_ports; i++)
		CHECK(c->mgmt_ports[i] < c->migration_port_min ||
		      c->mgmt_ports[i] > c->migration_port_max);
}

static void check_cidrs(const struct ms_config *c)
{
	for (size_t i = 0; i < c->n_mgmt_cidrs; i++) {
		char text[64];
		struct ms_cidr_key back;

		CHECK(ms_cidr_format(&c->mgmt_cidrs[i], text, sizeof(text)) == 0);
		CHECK(ms_cidr_parse(text, &back) == 0);
		CHECK(memcmp(&back, &c->mgmt_cidrs[i], sizeof(back)) == 0);
	}
}

static void resolve_and_check(struct ms_config *cfg, __u32 link_speed)
{
	char err[MS_CONFIG_ERR_LEN];
	struct ms_config before, again;
	int ret;

	memcpy(&before, cfg, sizeof(before));
	ret = ms_config_resolve(cfg, link_speed, err, sizeof(err));
	if (ret) {
		CHECK(ret == -EINVAL || ret == -ERANGE);
		CHECK(memcmp(&before, cfg, sizeof(before)) == 0);
		return;
	}
	check_resolved(cfg);
	memcpy(&again, cfg, sizeof(again));
	CHECK(ms_config_resolve(&again, link_speed, err, sizeof(err)) == 0);
	CHECK(memcmp(&again, cfg, sizeof(again)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[MS_CONFIG_ERR_LEN];
	struct ms_config *cfg, *before;
	__u32 link_speed = 0;
	const char *text;
	size_t len;
	int ret;

	if (size < 1)
		return 0;
	cfg = malloc(sizeof(*cfg));
	before = malloc(sizeof(*before));
	if (!cfg || !before)
		abort();
	memset(cfg, 0, sizeof(*cfg));
	ms_config_init(cfg);
	text = (const char *)data + 1;
	len = size - 1;
	if (len >= 2)
		link_speed = ((__u32)(uint8_t)text[0] << 8 | (uint8_t)text[1]) * 16;
	memcpy(before, cfg, sizeof(*before));

	if ((data[0] & 1) == 0) {
		ret = ms_config_parse(cfg, text, len, (data[0] & 2) ? "eth0" : NULL, err,
				      sizeof(err));
	} else {
		/* NUL-terminated copies, as the knob tree and the INI parser pass them. */
		char *copy = malloc(len + 1);
		char *eq;

		if (!copy)
			abort();
		memcpy(copy, text, len);
		copy[len] = '\0';
		eq = strchr(copy, '=');
		if (eq)
			*eq = '\0';
		ret = ms_config_set(cfg, copy, eq ? eq + 1 : "", err, sizeof(err));
		free(copy);
	}
	if (ret) {
		CHECK(ret == -EINVAL || ret == -ERANGE || ret == -ENOENT || ret == -EFBIG ||
		      ret == -ENOMEM);
		CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		CHECK(memcmp(before, cfg, sizeof(*before)) == 0);
	} else {
		check_cidrs(cfg);
		resolve_and_check(cfg, link_speed);
	}
	free(cfg);
	free(before);
	return 0;
}
