/* Loading and validating the configuration. Errors always say file, line
 * and key, as HAProxy's do. */
#ifndef ZDU_CONFIG_H
#define ZDU_CONFIG_H

#include <stddef.h>

#include "zdu/config-t.h"
#include "zdu/error.h"
#include "zdu/hostport.h"

/* Fills cfg with every key's default. */
enum zdu_err zdu_config_defaults(struct zdu_config *cfg);
/* Loads path over the defaults. On error cfg is left empty (freed) and err
 * says "FILE:LINE: KEY: what is wrong". A missing file at the default path
 * is not an error when missing_ok is set (every key has a default). */
enum zdu_err zdu_config_load(const char *path, int missing_ok, struct zdu_config *cfg,
			     char *err, size_t err_size);
/* zdu_config_load() with flags: */
#define ZDU_CONFIG_SECRET_LATER 1u /* etcd.password_file is validated but not
				    * read (cfg->etcd_password stays empty): the
				    * command line runs as operators who may not
				    * read the node's etcd secret, and needs it
				    * only to write etcd itself */
enum zdu_err zdu_config_load_flags(const char *path, int missing_ok, unsigned flags,
				   struct zdu_config *cfg, char *err, size_t err_size);
/* Reads what ZDU_CONFIG_SECRET_LATER left out: etcd.password_file into
 * cfg->etcd_password. ZDU_OK when there is nothing (left) to read. On
 * failure err says "FILE:LINE: etcd.password_file: PATH: why", errno is the
 * read's, and cfg is unchanged. */
enum zdu_err zdu_config_read_secret(struct zdu_config *cfg, char *err, size_t err_size);
/* Same from a string (name stands for the file in messages): for tests and
 * the fuzzer, which must exercise the daemon's own validation. */
enum zdu_err zdu_config_load_string(const char *text, const char *name, struct zdu_config *cfg,
				    char *err, size_t err_size);
void zdu_config_free(struct zdu_config *cfg);

/* The documented keys, for the man page generator. */
const struct zdu_config_key *zdu_config_keys(size_t *n);
const char *zdu_fail_action_name(int action);
/* "nova", "microversion", ... (enum zdu_probe_kind) */
const char *zdu_probe_kind_name(int kind);
/* The whole table, services included (for the man page). */
const struct zdu_keytab *zdu_config_keytab(void);
/* 1 when name[0..len) is a service name: 1 to 63 of A-Z a-z 0-9 . _ - */
int zdu_service_name_valid(const char *name, size_t len);
/* The etcd client's settings from the etcd group (strings borrowed from
 * cfg; the client copies them). */
struct zdu_etcd_conf;
void zdu_config_etcd_conf(const struct zdu_config *cfg, struct zdu_etcd_conf *ec);
/* The longest the etcd client takes to answer one write: it may
 * authenticate first and renew a token once, each attempt trying every
 * endpoint for etcd.timeout_ms. */
int64_t zdu_config_etcd_answer_ms(const struct zdu_config *cfg);
/* 1 with msg saying so when etcd.user's password (and its tokens) would
 * cross the network in clear: an http:// endpoint, a password, and
 * etcd.allow_plaintext_password not set; 0 otherwise. */
int zdu_config_etcd_plaintext(const struct zdu_config *cfg, char *msg, size_t size);

/* Parses "host:port", "[v6]:port" or "*:port" into a sockaddr; 0 on success. */
struct sockaddr_storage;

#endif
