/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The web config file of the HTTP server, in the format of the Prometheus
 * exporters (prometheus/exporter-toolkit), the subset:
 *
 *   tls_server_config:
 *     cert_file: server.crt     # PEM; relative paths are relative to this file
 *     key_file: server.key
 *   basic_auth_users:
 *     prometheus: $2y$10$...    # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\n')
 *
 * Either section may be left out. Any other key is refused rather than
 * ignored: a client_ca_file silently dropped would be a hole, not a default.
 * This module owns the parsed file (the PEM texts read into memory, the users
 * and their hashes) and the password check.
 */
#ifndef MS_WEBCONFIG_H
#define MS_WEBCONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define MS_WEBCONFIG_MAX_USERS 16

struct ms_web_user {
	char *name;
	char *hash;	/* bcrypt: $2a$, $2b$ or $2y$ */
	char *verified; /* the last password the hash accepted (skips bcrypt) */
};

struct ms_web_config {
	char *cert_pem, *key_pem; /* both NULL: no TLS */
	struct ms_web_user users[MS_WEBCONFIG_MAX_USERS];
	size_t n_users; /* 0: no authentication */
	/* Failed bcrypt checks are budgeted: each costs tens of ms of the loop. */
	double check_tokens;
	long long check_refill_ms;
	void *crypt_data; /* struct crypt_data, large: allocated once */
};

/*
 * Parses path into *cfg (zeroed by the caller); 0, or -EINVAL/-errno with
 * the reason in err. On error *cfg holds nothing to free.
 */
int ms_web_config_load(const char *path, struct ms_web_config *cfg, char *err, size_t err_len);
/* Parses the YAML text itself; relative file names are resolved against base_dir. */
int ms_web_config_parse(const char *text, size_t len, const char *base_dir,
			struct ms_web_config *cfg, char *err, size_t err_len);
void ms_web_config_free(struct ms_web_config *cfg);

enum ms_web_auth {
	MS_WEB_AUTH_OK = 0,
	MS_WEB_AUTH_DENIED,    /* unknown user or wrong password */
	MS_WEB_AUTH_THROTTLED, /* too many failed checks just now: refused unchecked */
};

/*
 * Checks user and password against the hashes; now_ms is a monotonic clock
 * (the check budget refills with it). A password the hash accepted is
 * remembered, so a scraper's every request does not pay for bcrypt.
 */
enum ms_web_auth ms_web_config_check(struct ms_web_config *cfg, const char *user,
				     const char *password, long long now_ms);

#endif /* MS_WEBCONFIG_H */
