/* The command-line actions of zdu-agent that talk to a running daemon or
 * change the flag: they run outside the event loop and may block. */
#ifndef ZDU_CLI_H
#define ZDU_CLI_H

#include <jansson.h>

#include "zdu/config-t.h"
#include "zdu/error.h"
#include "zdu/flag-t.h"

/* Sends one request line to the control socket at path and returns the
 * parsed JSON answer, or NULL with err (ZDU_ERR_NOT_RUNNING when nothing
 * answers there). */
json_t *zdu_ctl_call(const char *path, const char *request, int timeout_ms, enum zdu_err *errp,
		     char *err, size_t err_size);

struct zdu_cli_maint {
	int on;
	enum zdu_flag_mode mode;
	const char *reason;
	int wait;      /* --wait given */
	int wait_s;    /* its timeout in seconds */
	int json;
	int local;     /* --local: the flag file even with etcd configured */
	int all;       /* --all: the cluster-wide etcd key */
	int yes;
};

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
int zdu_cli_status(const struct zdu_config *cfg, int json);
/* --check-config on a configuration loaded with ZDU_CONFIG_SECRET_LATER:
 * reads the secret too; one the user may not read (not its owner, not
 * root) is a warning, not an error. */
int zdu_cli_check_config(struct zdu_config *cfg);

#endif
