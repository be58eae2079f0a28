/* A rollout plan of zdu-coordinator. */
#ifndef ZDU_PLAN_T_H
#define ZDU_PLAN_T_H

#include <stddef.h>

#include "zdu/keytab-t.h"

enum zdu_strategy {
	ZDU_STRATEGY_ROLLING = 0, /* one node at a time, as nova's guide */
	ZDU_STRATEGY_CUTOVER,     /* upgrade a first group out of service, switch all
	                           * traffic to it at once, then upgrade the rest:
	                           * clients never see two releases serve */
};

struct zdu_plan_lb {
	char *name;
	char *runtime; /* "unix:/path", "/path" or "host:port" */
};

struct zdu_plan_node {
	char *name;
	char *server; /* the HAProxy server name */
	char *agent;  /* "unix:/path" (control socket), "ssh:host", "etcd" or "etcd:name" */
	int first_group; /* cutover: upgraded before the switch */
};

struct zdu_plan {
	char *path;
	char *backend;
	enum zdu_strategy strategy;
	int min_ready;
	char *expect_version; /* "" when not checked */
	char *upgrade_command;
	char *before_command; /* "" when none: once, before any node is drained */
	char *after_command;  /* "" when none: once, after the last node is back */
	char *journal;
	char *lock;
	struct zdu_strlist ssh_command;
	char *remote_agent;
	int drain_timeout_ms;
	int upgrade_timeout_ms;
	int before_timeout_ms;
	int after_timeout_ms;
	int health_timeout_ms;
	int up_timeout_ms;
	int poll_ms;
	int request_timeout_ms;
	/* once the rollout is under way, how long the next node waits for the
	 * others to serve min_ready again before the rollout stops; 0: stop at
	 * once */
	int capacity_timeout_ms;
	struct zdu_plan_lb *lbs;
	size_t nlbs;
	struct zdu_plan_node *nodes;
	size_t nnodes;
	/* cutover: after the switch, end the old group's sessions on every load
	 * balancer once this grace period is over (for mode tcp, where open
	 * client connections stay on old nodes); -1: never. */
	int tcp_grace_ms;
	int switch_timeout_ms;
	struct zdu_strlist cutover_first_group; /* as given (node names); each node's first_group says it */
	/* etcd: nodes reached as "etcd", the lock and the journal in etcd */
	struct zdu_strlist etcd_endpoints; /* empty: no etcd */
	char *etcd_prefix;
	char *etcd_ca_file;
	char *etcd_cert_file;
	char *etcd_key_file;
	char *etcd_user;
	char *etcd_password;      /* etcd.password, or the first line of etcd.password_file */
	char *etcd_password_file;
	int etcd_timeout_ms;
	int etcd_lock_ttl_s;     /* the lock's lease: a killed coordinator's lock ends after it */
	int etcd_flag_timeout_ms; /* an agent shows a flag set through etcd within this */
};

#endif
