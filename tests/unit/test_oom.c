// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Allocation failures: the config parser, the state file and the metrics
 * renderer run with the k-th allocation failing, for every k until a run
 * needs no more than k. Each run must either succeed with the right result
 * or fail with an error and leave nothing allocated (live allocations are
 * counted), and never abort.
 *
 * The allocator is interposed here (malloc, calloc, realloc, free over
 * glibc's __libc_* entry points), which ASan's own interposition forbids:
 * under ASan the scenarios run once each without injected failures.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "metrics.h"
#include "state.h"

#if defined(__SANITIZE_ADDRESS__)
#define OOM_INJECTION 0
#else
#define OOM_INJECTION 1
#endif

#if OOM_INJECTION
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);

/* The injection's state: which allocation fails, and how many are live. */
static long fail_at = -1;
static long n_allocs;
static long live;

static bool should_fail(void)
{
	return fail_at >= 0 && n_allocs++ == fail_at;
}

void *malloc(size_t size)
{
	void *p;

	if (should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	p = __libc_malloc(size);
	if (p)
		live++;
	return p;
}

void *calloc(size_t n, size_t size)
{
	void *p;

	if (should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	p = __libc_calloc(n, size);
	if (p)
		live++;
	return p;
}

void *realloc(void *old, size_t size)
{
	void *p;

	if (!old)
		return malloc(size);
	if (should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	p = __libc_realloc(old, size);
	if (!p && size == 0)
		live--;
	return p;
}

void free(void *p)
{
	if (p)
		live--;
	__libc_free(p);
}
#endif

typedef int (*scenario_fn)(void *ctx);

/*
 * Runs fn with allocation k failing for k = 0, 1, ... until a run succeeds
 * without reaching k. Returns how many failing runs there were.
 */
static long run_with_failures(scenario_fn fn, void *ctx)
{
#if OOM_INJECTION
	long k, failing_runs = 0;

	for (k = 0;; k++) {
		long live_before = live;
		int ret;

		n_allocs = 0;
		fail_at = k;
		ret = fn(ctx);
		fail_at = -1;
		if (n_allocs <= k) {
			/* No allocation failed: the run must have succeeded. */
			assert_int_equal(ret, 0);
			assert_int_equal(live, live_before);
			/* A scenario that allocates nothing would test nothing. */
			assert_true(failing_runs > 0);
			return failing_runs;
		}
		/*
		 * A failure may be absorbed (stdio falls back to no buffer), and
		 * then the scenario checked its result; otherwise an error.
		 */
		assert_true(ret <= 0);
		/* Whatever failed, nothing is left allocated. */
		assert_int_equal(live, live_before);
		failing_runs++;
	}
#else
	assert_int_equal(fn(ctx), 0);
	return 0;
#endif
}

static const char config_text[] = "[global]\n"
				  "link_mbps = 950\n"
				  "mgmt_cidrs = 198.18.0.0/24, 2001:db8::/64\n"
				  "mgmt_ports = 22, 16509\n"
				  "policy = fair\n"
				  "[interface eth0]\n"
				  "migration_aggregate_mbps = 600\n";

static int parse_config(void *ctx)
{
	struct ms_config *cfg = ctx;
	char err[MS_CONFIG_ERR_LEN];
	int ret;

	ms_config_init(cfg);
	ret = ms_config_parse(cfg, config_text, sizeof(config_text) - 1, "eth0", err, sizeof(err));
	if (ret == 0 && (cfg->migration_aggregate_mbps != 600 || cfg->n_mgmt_cidrs != 2))
		return -EINVAL;
	return ret;
}

static void test_config_parse(void **state)
{
	struct ms_config *cfg = malloc(sizeof(*cfg));

	(void)state;
	assert_non_null(cfg);
	print_message("config parse: %ld runs with a failed allocation\n",
		      run_with_failures(parse_config, cfg));
	free(cfg);
}

struct state_ctx {
	char path[64];
	struct ms_state *st;
	struct ms_state *back;
};

static int state_round_trip(void *ctx)
{
	struct state_ctx *s = ctx;
	char err[MS_STATE_ERR_LEN];
	int ret;

	ret = ms_state_write(s->path, s->st);
	if (ret)
		return ret;
	ret = ms_state_read(s->path, s->back, err, sizeof(err));
	if (ret)
		return ret;
	ret = s->back->n_migs == 1 && s->back->orig.opts_len == 4 &&
		      s->back->backend == MS_STATE_BACKEND_MULTIQUEUE
		  ? 0
		  : -EINVAL;
	ms_state_clear(s->back);
	return ret;
}

static void test_state_file(void **state)
{
	static const unsigned char opts[4] = {1, 2, 3, 4};
	struct state_ctx s;
	int fd;

	(void)state;
	snprintf(s.path, sizeof(s.path), "/tmp/ms-oom-state.XXXXXX");
	fd = mkstemp(s.path);
	assert_true(fd >= 0);
	close(fd);
	s.st = calloc(1, sizeof(*s.st));
	s.back = calloc(1, sizeof(*s.back));
	assert_non_null(s.st);
	assert_non_null(s.back);
	s.st->ifindex = 3;
	s.st->backend = MS_STATE_BACKEND_MULTIQUEUE;
	s.st->orig.present = true;
	s.st->orig.handle = 0x80000;
	snprintf(s.st->orig.kind, sizeof(s.st->orig.kind), "tbf");
	s.st->orig.opts = (void *)opts;
	s.st->orig.opts_len = sizeof(opts);
	s.st->attach.tc_handle = 1;
	s.st->attach.tc_priority = 49152;
	s.st->n_migs = 1;
	s.st->migs[0].minor = MS_MINOR_MIG_BASE;
	snprintf(s.st->migs[0].name, sizeof(s.st->migs[0].name), "vm one");
	print_message("state file: %ld runs with a failed allocation\n",
		      run_with_failures(state_round_trip, &s));
	unlink(s.path);
	free(s.st);
	free(s.back);
}

static int render_metrics(void *ctx)
{
	struct ms_metrics_snapshot *snap = ctx;
	char *text = NULL;
	size_t len;
	int ret;

	ret = ms_metrics_render(snap, &text, &len);
	if (ret == 0 && !strstr(text, "migshaper_migration_allocated"))
		ret = -EINVAL;
	free(text);
	return ret;
}

static void test_metrics_render(void **state)
{
	struct ms_metrics_migration migs[2] = {};
	struct ms_metrics_class classes[3] = {};
	struct ms_metrics_snapshot snap = {
	    .iface = "eth0",
	    .version = "test",
	    .classes = classes,
	    .n_classes = 3,
	    .migrations = migs,
	    .n_migrations = 2,
	};

	(void)state;
	for (int i = 0; i < 3; i++) {
		snprintf(classes[i].name, sizeof(classes[i].name), "mig:%d", i);
		classes[i].have_tc = true;
		classes[i].bytes = 1000 * (__u64)i;
	}
	for (int i = 0; i < 2; i++) {
		snprintf(migs[i].domain, sizeof(migs[i].domain), "vm-%d", i);
		migs[i].direction = "outgoing";
		migs[i].state = "migrating";
		migs[i].allocated_bps = 100000000;
		migs[i].expected_completion_s = -1;
	}
	print_message("metrics render: %ld runs with a failed allocation\n",
		      run_with_failures(render_metrics, &snap));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_parse),
	    cmocka_unit_test(test_state_file),
	    cmocka_unit_test(test_metrics_render),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
