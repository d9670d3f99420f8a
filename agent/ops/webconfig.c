// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The web config file (exporter-toolkit subset) and the basic-auth check. */
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "file.h"
#include "webconfig.h"

/* Far above any config, certificate chain or key; bounds what a typo reads. */
#define MS_WEBCONFIG_MAX_FILE (1024 * 1024)
/* Failed bcrypt checks: a burst of 5, then 2 per second. */
#define MS_WEBCONFIG_CHECK_BURST  5.0
#define MS_WEBCONFIG_CHECKS_PER_S 2.0
#define MS_WEBCONFIG_MAX_PASSWORD 256

static const char *scalar(yaml_document_t *doc, yaml_node_t *node)
{
	(void)doc;
	if (!node || node->type != YAML_SCALAR_NODE)
		return NULL;
	return (const char *)node->data.scalar.value;
}

/* Reads a PEM file named in the config, relative to the config's folder. */
static int read_pem(const char *key, const char *name, const char *base_dir, char **pem, char *err,
		    size_t err_len)
{
	char path[4096];
	size_t len;
	int ret;

	if (!name || !name[0]) {
		ms_file_err(err, err_len, "tls_server_config.%s: a file name is required", key);
		return -EINVAL;
	}
	if (name[0] == '/' || !base_dir)
		ret = snprintf(path, sizeof(path), "%s", name);
	else
		ret = snprintf(path, sizeof(path), "%s/%s", base_dir, name);
	if (ret < 0 || (size_t)ret >= sizeof(path)) {
		ms_file_err(err, err_len, "tls_server_config.%s: the path is too long", key);
		return -EINVAL;
	}
	ret = ms_file_read(path, MS_WEBCONFIG_MAX_FILE, pem, &len);
	if (ret) {
		ms_file_err(err, err_len, "tls_server_config.%s: cannot read %s: %s", key, path,
			    strerror(-ret));
		return ret;
	}
	if (!strstr(*pem, "-----BEGIN ")) {
		ms_file_err(err, err_len, "tls_server_config.%s: %s is not PEM", key, path);
		free(*pem);
		*pem = NULL;
		return -EINVAL;
	}
	return 0;
}

static int parse_tls(yaml_document_t *doc, yaml_node_t *map, const char *base_dir,
		     struct ms_web_config *cfg, char *err, size_t err_len)
{
	const char *cert = NULL, *key = NULL;
	int ret;

	if (map->type != YAML_MAPPING_NODE) {
		ms_file_err(err, err_len, "tls_server_config: must be a mapping");
		return -EINVAL;
	}
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		const char *k = scalar(doc, yaml_document_get_node(doc, p->key));
		const char *v = scalar(doc, yaml_document_get_node(doc, p->value));

		if (k && strcmp(k, "cert_file") == 0 && v) {
			cert = v;
		} else if (k && strcmp(k, "key_file") == 0 && v) {
			key = v;
		} else {
			ms_file_err(
			    err, err_len,
			    "tls_server_config: '%s' is not supported (supported: cert_file, "
			    "key_file, both strings)",
			    k ? k : "?");
			return -EINVAL;
		}
	}
	ret = read_pem("cert_file", cert, base_dir, &cfg->cert_pem, err, err_len);
	if (!ret)
		ret = read_pem("key_file", key, base_dir, &cfg->key_pem, err, err_len);
	return ret;
}

/* crypt(3) answers a hash it cannot use with a string starting with '*'. */
static bool bcrypt_usable(const char *hash, struct crypt_data *cd)
{
	const char *out;

	if (strncmp(hash, "$2a$", 4) != 0 && strncmp(hash, "$2b$", 4) != 0 &&
	    strncmp(hash, "$2y$", 4) != 0)
		return false;
	out = crypt_rn("", hash, cd, sizeof(*cd));
	return out && out[0] == '$';
}

static int parse_users(yaml_document_t *doc, yaml_node_t *map, struct ms_web_config *cfg, char *err,
		       size_t err_len)
{
	if (map->type != YAML_MAPPING_NODE) {
		ms_file_err(err, err_len,
			    "basic_auth_users: must be a mapping of user: bcrypt hash");
		return -EINVAL;
	}
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		const char *user = scalar(doc, yaml_document_get_node(doc, p->key));
		const char *hash = scalar(doc, yaml_document_get_node(doc, p->value));
		struct ms_web_user *u;

		if (!user || !user[0] || strchr(user, ':')) {
			ms_file_err(err, err_len,
				    "basic_auth_users: a user name must be a non-empty "
				    "string without ':'");
			return -EINVAL;
		}
		for (size_t i = 0; i < cfg->n_users; i++) {
			if (strcmp(cfg->users[i].name, user) == 0) {
				ms_file_err(err, err_len,
					    "basic_auth_users: user '%s' is listed twice", user);
				return -EINVAL;
			}
		}
		if (!hash || !bcrypt_usable(hash, cfg->crypt_data)) {
			ms_file_err(
			    err, err_len,
			    "basic_auth_users: the password of '%s' is not a bcrypt hash "
			    "($2a$, $2b$ or $2y$; e.g. htpasswd -nBC 10 \"\" | tr -d ':\\n')",
			    user);
			return -EINVAL;
		}
		if (cfg->n_users == MS_WEBCONFIG_MAX_USERS) {
			ms_file_err(err, err_len, "basic_auth_users: more than %d users",
				    MS_WEBCONFIG_MAX_USERS);
			return -EINVAL;
		}
		u = &cfg->users[cfg->n_users];
		u->name = strdup(user);
		u->hash = strdup(hash);
		if (!u->name || !u->hash) {
			free(u->name);
			free(u->hash);
			u->name = u->hash = NULL;
			return -ENOMEM;
		}
		cfg->n_users++;
	}
	return 0;
}

int ms_web_config_parse(const char *text, size_t len, const char *base_dir,
			struct ms_web_config *cfg, char *err, size_t err_len)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	bool have_doc = false;
	int ret = -EINVAL;

	memset(cfg, 0, sizeof(*cfg));
	cfg->check_tokens = MS_WEBCONFIG_CHECK_BURST;
	cfg->crypt_data = calloc(1, sizeof(struct crypt_data));
	if (!cfg->crypt_data)
		return -ENOMEM;
	if (!yaml_parser_initialize(&parser)) {
		ret = -ENOMEM;
		goto out;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		ms_file_err(err, err_len, "not YAML: %s at line %zu",
			    parser.problem ? parser.problem : "parse error",
			    parser.problem_mark.line + 1);
		yaml_parser_delete(&parser);
		goto out;
	}
	have_doc = true;
	yaml_parser_delete(&parser);
	root = yaml_document_get_root_node(&doc);
	/* An empty file is a valid config that asks for nothing. */
	if (!root) {
		ret = 0;
		goto out;
	}
	if (root->type != YAML_MAPPING_NODE) {
		ms_file_err(err, err_len, "the file must be a YAML mapping");
		goto out;
	}
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
	     p++) {
		const char *k = scalar(&doc, yaml_document_get_node(&doc, p->key));
		yaml_node_t *v = yaml_document_get_node(&doc, p->value);

		if (k && strcmp(k, "tls_server_config") == 0 && !cfg->cert_pem)
			ret = parse_tls(&doc, v, base_dir, cfg, err, err_len);
		else if (k && strcmp(k, "basic_auth_users") == 0 && !cfg->n_users)
			ret = parse_users(&doc, v, cfg, err, err_len);
		else {
			ms_file_err(err, err_len,
				    "'%s' is not supported (supported: tls_server_config, "
				    "basic_auth_users, each once)",
				    k ? k : "?");
			ret = -EINVAL;
		}
		if (ret)
			goto out;
	}
	ret = 0;
out:
	if (have_doc)
		yaml_document_delete(&doc);
	if (ret)
		ms_web_config_free(cfg);
	return ret;
}

int ms_web_config_load(const char *path, struct ms_web_config *cfg, char *err, size_t err_len)
{
	char *text = NULL, *dir = NULL, *slash;
	size_t len;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	ret = ms_file_read(path, MS_WEBCONFIG_MAX_FILE, &text, &len);
	if (ret) {
		ms_file_err(err, err_len, "cannot read %s: %s", path, strerror(-ret));
		return ret;
	}
	dir = strdup(path);
	if (!dir) {
		free(text);
		return -ENOMEM;
	}
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	ret = ms_web_config_parse(text, len, slash ? (dir[0] ? dir : "/") : ".", cfg, err, err_len);
	free(dir);
	free(text);
	return ret;
}

void ms_web_config_free(struct ms_web_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->cert_pem);
	if (cfg->key_pem) {
		explicit_bzero(cfg->key_pem, strlen(cfg->key_pem));
		free(cfg->key_pem);
	}
	for (size_t i = 0; i < cfg->n_users; i++) {
		free(cfg->users[i].name);
		free(cfg->users[i].hash);
		if (cfg->users[i].verified) {
			explicit_bzero(cfg->users[i].verified, strlen(cfg->users[i].verified));
			free(cfg->users[i].verified);
		}
	}
	free(cfg->crypt_data);
	memset(cfg, 0, sizeof(*cfg));
}

/* Equal strings, in time that does not depend on where they differ. */
static bool same_secret(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = la != lb;

	for (size_t i = 0; i < la && i < lb; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

enum ms_web_auth ms_web_config_check(struct ms_web_config *cfg, const char *user,
				     const char *password, long long now_ms)
{
	struct ms_web_user *u = NULL;
	const char *out;

	if (!user || !password || strlen(password) > MS_WEBCONFIG_MAX_PASSWORD)
		return MS_WEB_AUTH_DENIED;
	for (size_t i = 0; i < cfg->n_users; i++)
		if (strcmp(cfg->users[i].name, user) == 0)
			u = &cfg->users[i];
	if (!u)
		return MS_WEB_AUTH_DENIED;
	if (u->verified && same_secret(u->verified, password))
		return MS_WEB_AUTH_OK;

	if (cfg->check_refill_ms) {
		cfg->check_tokens +=
		    (double)(now_ms - cfg->check_refill_ms) * MS_WEBCONFIG_CHECKS_PER_S / 1000.0;
		if (cfg->check_tokens > MS_WEBCONFIG_CHECK_BURST)
			cfg->check_tokens = MS_WEBCONFIG_CHECK_BURST;
	}
	cfg->check_refill_ms = now_ms;
	if (cfg->check_tokens < 1.0)
		return MS_WEB_AUTH_THROTTLED;

	out = crypt_rn(password, u->hash, cfg->crypt_data, sizeof(struct crypt_data));
	if (!out || !same_secret(out, u->hash)) {
		cfg->check_tokens -= 1.0;
		return MS_WEB_AUTH_DENIED;
	}
	if (u->verified) {
		explicit_bzero(u->verified, strlen(u->verified));
		free(u->verified);
	}
	/* Without memory the next request just pays for bcrypt again. */
	u->verified = strdup(password);
	return MS_WEB_AUTH_OK;
}
