// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The web config (exporter-toolkit subset): what is accepted, what is
 * refused with a reason, and the basic-auth check with its cache and budget.
 */
#include <crypt.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "webconfig.h"

/* A bcrypt hash of "secret" at the lowest cost, made with libcrypt itself. */
static const char *hash_of_secret(void)
{
	static char hash[128];
	char *setting;

	if (hash[0])
		return hash;
	setting = crypt_gensalt("$2b$", 4, NULL, 0);
	assert_non_null(setting);
	snprintf(hash, sizeof(hash), "%s", crypt(("secret"), setting));
	assert_int_equal(strncmp(hash, "$2b$04$", 7), 0);
	return hash;
}

static int parse(const char *text, struct ms_web_config *cfg, char *err, size_t err_len)
{
	return ms_web_config_parse(text, strlen(text), "/nonexistent", cfg, err, err_len);
}

static void test_users(void **state)
{
	struct ms_web_config cfg;
	char text[512], err[256] = "";

	(void)state;
	snprintf(text, sizeof(text), "basic_auth_users:\n  prometheus: '%s'\n  other: \"%s\"\n",
		 hash_of_secret(), hash_of_secret());
	assert_int_equal(parse(text, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.n_users, 2);
	assert_null(cfg.cert_pem);
	assert_int_equal(ms_web_config_check(&cfg, "prometheus", "secret", 0), MS_WEB_AUTH_OK);
	/* Remembered: a second check of the right password needs no budget. */
	assert_non_null(cfg.users[0].verified);
	assert_int_equal(ms_web_config_check(&cfg, "prometheus", "secret", 0), MS_WEB_AUTH_OK);
	assert_int_equal(ms_web_config_check(&cfg, "prometheus", "Secret", 0), MS_WEB_AUTH_DENIED);
	assert_int_equal(ms_web_config_check(&cfg, "nobody", "secret", 0), MS_WEB_AUTH_DENIED);
	assert_int_equal(ms_web_config_check(&cfg, NULL, NULL, 0), MS_WEB_AUTH_DENIED);
	ms_web_config_free(&cfg);
}

static void test_budget(void **state)
{
	struct ms_web_config cfg;
	char text[256], err[256] = "";
	int denied = 0, throttled = 0;

	(void)state;
	snprintf(text, sizeof(text), "basic_auth_users:\n  p: '%s'\n", hash_of_secret());
	assert_int_equal(parse(text, &cfg, err, sizeof(err)), 0);
	/* Wrong passwords at one instant: a burst is checked, the rest is not. */
	for (int i = 0; i < 20; i++) {
		enum ms_web_auth r = ms_web_config_check(&cfg, "p", "wrong", 1000);

		denied += r == MS_WEB_AUTH_DENIED;
		throttled += r == MS_WEB_AUTH_THROTTLED;
	}
	assert_true(denied >= 1 && denied <= 10);
	assert_int_equal(denied + throttled, 20);
	/* Even the right one waits for the budget, then passes. */
	assert_int_equal(ms_web_config_check(&cfg, "p", "secret", 1000), MS_WEB_AUTH_THROTTLED);
	assert_int_equal(ms_web_config_check(&cfg, "p", "secret", 3000), MS_WEB_AUTH_OK);
	/* Once verified it passes at any rate. */
	for (int i = 0; i < 20; i++)
		assert_int_equal(ms_web_config_check(&cfg, "p", "wrong", 3000) != MS_WEB_AUTH_OK,
				 1);
	assert_int_equal(ms_web_config_check(&cfg, "p", "secret", 3000), MS_WEB_AUTH_OK);
	ms_web_config_free(&cfg);
}

static void test_refused(void **state)
{
	static const struct {
		const char *text, *reason;
	} bad[] = {
	    {"tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  client_ca_file: ca\n",
	     "'client_ca_file' is not supported"},
	    {"http_server_config:\n  http2: false\n", "'http_server_config' is not supported"},
	    {"basic_auth_users:\n  u: plaintext\n", "not a bcrypt hash"},
	    {"basic_auth_users:\n  u: '$1$abc$def'\n", "not a bcrypt hash"},
	    {"basic_auth_users: [a, b]\n", "must be a mapping"},
	    {"tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
	     "cannot read /nonexistent/missing.crt"},
	    {"tls_server_config:\n  key_file: a.key\n", "cert_file: a file name is required"},
	    {"- just\n- a list\n", "must be a YAML mapping"},
	    {"basic_auth_users: {u: [\n", "not YAML"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ms_web_config cfg;
		char err[256] = "";

		assert_int_not_equal(parse(bad[i].text, &cfg, err, sizeof(err)), 0);
		if (!strstr(err, bad[i].reason))
			fail_msg("config %zu: '%s' does not say '%s'", i, err, bad[i].reason);
		assert_null(cfg.cert_pem);
		assert_int_equal(cfg.n_users, 0);
	}
}

static void test_tls_files(void **state)
{
	char dir[] = "/tmp/ms-webcfg.XXXXXX", path[128], err[256] = "";
	struct ms_web_config cfg;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/c.pem", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/k.pem", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/web.yml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "tls_server_config:\n  cert_file: c.pem\n  key_file: %s/k.pem\n", dir);
	fclose(f);

	/* Relative to the config's folder, absolute as is. */
	assert_int_equal(ms_web_config_load(path, &cfg, err, sizeof(err)), 0);
	assert_non_null(strstr(cfg.cert_pem, "BEGIN CERTIFICATE"));
	assert_non_null(strstr(cfg.key_pem, "BEGIN PRIVATE KEY"));
	assert_int_equal(cfg.n_users, 0);
	ms_web_config_free(&cfg);

	/* A file that is not PEM is refused at load, not at the first client. */
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "tls_server_config:\n  cert_file: web.yml\n  key_file: k.pem\n");
	fclose(f);
	assert_int_equal(ms_web_config_load(path, &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "is not PEM"));

	unlink(path);
	snprintf(path, sizeof(path), "%s/c.pem", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/k.pem", dir);
	unlink(path);
	rmdir(dir);
}

static void test_empty(void **state)
{
	struct ms_web_config cfg;
	char err[64] = "";

	(void)state;
	assert_int_equal(parse("", &cfg, err, sizeof(err)), 0);
	assert_null(cfg.cert_pem);
	assert_int_equal(cfg.n_users, 0);
	ms_web_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_users),   cmocka_unit_test(test_budget),
	    cmocka_unit_test(test_refused), cmocka_unit_test(test_tls_files),
	    cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
