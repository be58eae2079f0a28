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

/* What a multi-service plan upgrades as one unit (unit = "..."). */
enum zdu_plan_unit {
	ZDU_UNIT_SERVICE = 0, /* each service across all its nodes, in the plan's order */
	ZDU_UNIT_NODE,        /* each node on every backend at once, its command once */
};

/* The most services (backends) one plan may name. */
#define ZDU_PLAN_SERVICES_MAX 16

/* One entry of a plan's services list: an API, its backend on every load
 * balancer, and (unit = "service") how it is rolled. */
struct zdu_plan_service {
	char *name;            /* the agents' service name (what agent-send sends) */
	char *backend;
	char *expect_version;  /* "" : not checked */
	char *strategy;        /* "" : the plan's */
	int min_ready;         /* -1: the plan's */
	char *upgrade_command; /* "" : the plan's */
	char *before_command;  /* "" : none; once before its nodes (unit = "node": before any) */
	char *after_command;   /* "" : none; once after its nodes (unit = "node": after all) */
	struct zdu_strlist first_group; /* cutover: empty, the plan's rule */
};

/* A backend a rollout pass touches: a plan without services has one. */
struct zdu_plan_backend {
	const char *service;        /* the agents' service name; "" : the agent's first */
	const char *backend;
	const char *expect_version; /* "" : not checked */
	int min_ready;
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
	struct zdu_strlist serves; /* as given: "SERVICE" or "SERVICE:SERVER"; empty: every service */
	/* In a pass: the node's server in each of plan->backends (NULL: it
	 * serves none there), and its index in the whole plan's nodes. */
	const char **servers;
	size_t index;
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
	/* after a node's flag is set or cleared, set its servers' state on every
	 * load balancer too (set server ... state drain|ready) */
	int push_state;
	struct zdu_plan_lb *lbs;
	size_t nlbs;
	/* Several services (services = ( ... )): the unit, the list, and the
	 * passes the rollout runs in order, each a plan of its own sharing this
	 * one's strings (unit = "service": one per service; unit = "node": one). A
	 * plan without services is its own one pass (npasses 0). */
	enum zdu_plan_unit unit;
	struct zdu_plan_service *services;
	size_t nservices;
	struct zdu_plan *passes;
	size_t npasses;
	/* What a pass touches: its backends; the service whose flag drains a
	 * node ("" : the node's flag, every service); the journal's scope of its
	 * entries ("" : none, "SERVICE"); the service it rolls (NULL: none, or
	 * every service of a node). */
	struct zdu_plan_backend *backends;
	size_t nbackends;
	const char *flag_service;
	const char *scope;
	const struct zdu_plan_service *service;
	const struct zdu_plan *whole; /* the plan a pass belongs to (itself without services) */
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
