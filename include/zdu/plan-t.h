/* A rollout plan of zdu-coordinator. */
#ifndef ZDU_PLAN_T_H
#define ZDU_PLAN_T_H

#include <stddef.h>

#include "zdu/config-t.h"

enum zdu_strategy {
	ZDU_STRATEGY_ROLLING = 0, /* one node at a time, as nova's guide */
};

struct zdu_plan_lb {
	char *name;
	char *runtime; /* "unix:/path", "/path" or "host:port" */
};

struct zdu_plan_node {
	char *name;
	char *server; /* the HAProxy server name */
	char *agent;  /* "unix:/path" (control socket) or "ssh:host" */
};

struct zdu_plan {
	char *path;
	char *backend;
	enum zdu_strategy strategy;
	int min_ready;
	char *expect_version; /* "" when not checked */
	char *upgrade_command;
	char *journal;
	char *lock;
	struct zdu_strlist ssh_command;
	char *remote_agent;
	int drain_timeout_ms;
	int upgrade_timeout_ms;
	int health_timeout_ms;
	int up_timeout_ms;
	int poll_ms;
	int request_timeout_ms;
	struct zdu_plan_lb *lbs;
	size_t nlbs;
	struct zdu_plan_node *nodes;
	size_t nnodes;
};

#endif
