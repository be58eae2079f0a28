/* The command-line actions of zdu-agent that talk to a running daemon or
 * change the flag: they run outside the event loop and may block. */
#ifndef ZDU_CLI_H
#define ZDU_CLI_H

#include <jansson.h>

#include "zdu/config-t.h"
#include "zdu/error.h"
#include "zdu/flag-t.h"
#include "zdu/cli-t.h"

/* Sends one request line to the control socket at path and returns the
 * parsed JSON answer, or NULL with err (ZDU_ERR_NOT_RUNNING when nothing
 * answers there). */
json_t *zdu_ctl_call(const char *path, const char *request, int timeout_ms, enum zdu_err *errp,
		     char *err, size_t err_size);

/* Returns a process exit code (enum zdu_exit). */
int zdu_cli_maintenance(const struct zdu_config *cfg, const struct zdu_cli_maint *m);
/* The same through etcd: the node's key (service NULL) or one service's
 * NODE/SERVICE key (service: a name in cfg's services), written by the
 * local daemon with its own etcd credentials (set-etcd-flag) and confirmed
 * by it; etcd written directly, with the configuration's credentials, only
 * when no daemon runs (or with all, for the cluster-wide key, which takes
 * no service). cfg's secret is read then (zdu_config_read_secret()). */
int zdu_cli_maintenance_etcd(struct zdu_config *cfg, const struct zdu_cli_maint *m, const char *service);
/* --wait: asks the local daemon to answer once drained. */
int zdu_cli_wait_drained(const struct zdu_config *cfg, const struct zdu_cli_maint *m);
/* service (may be NULL): that service alone. */
int zdu_cli_status(const struct zdu_config *cfg, int json, const char *service);
/* The configuration's service named name, or NULL after saying why on
 * stderr (no such service; a service with no flag file of its own). */
const struct zdu_service_cfg *zdu_cli_service(const struct zdu_config *cfg, const char *name, int need_file);
/* The control request for that service: "CMD service=NAME ARGS", or as is. */
void zdu_cli_request(char *buf, size_t size, const char *service, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Of a status answer, the part about service (NULL: the first, at the
 * top); NULL when the daemon has no such service. */
json_t *zdu_cli_status_service(json_t *st, const char *service);
/* --check-config on a configuration loaded with ZDU_CONFIG_SECRET_LATER:
 * reads the secret too; one the user may not read (not its owner, not
 * root) is a warning, not an error. */
int zdu_cli_check_config(struct zdu_config *cfg);

#endif
