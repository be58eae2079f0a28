/* Types of zdu-agent's command-line actions (cli.h). */
#ifndef ZDU_CLI_T_H
#define ZDU_CLI_T_H

#include "zdu/flag-t.h"

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
	const char *service; /* --service: that service's flag, not the node's */
};

#endif
