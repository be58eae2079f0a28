/* zdu-coordinator: runs a rollout plan node by node. For each node:
 * preflight -> set the drain flag -> wait until drained on every load
 * balancer and on the node -> upgrade command -> wait until healthy (and
 * at expect_version) -> clear the flag -> wait until UP with its weight on
 * every load balancer. Any failure stops in a safe state (the node in
 * progress stays drained) and says what to do next. */
#ifndef ZDU_COORDINATOR_H
#define ZDU_COORDINATOR_H

#include "zdu/plan-t.h"

/* Exit codes, documented in zdu-coordinator(8). */
enum zdu_coord_exit {
	ZDU_COORD_OK = 0,
	ZDU_COORD_FAILED = 1,  /* a step failed; the rollout stopped safely */
	ZDU_COORD_USAGE = 2,   /* command line or plan error */
	ZDU_COORD_TIMEOUT = 3, /* a wait ran out of time */
	ZDU_COORD_REFUSED = 4, /* a preflight check refused */
	ZDU_COORD_LOCKED = 5,  /* another coordinator runs this plan */
};

struct zdu_coord_opts {
	int dry_run;
	int resume;
	int json;
	const char *plan_path;
	const char *textfile_dir; /* --textfile-dir: the progress for node_exporter (NULL: none) */
};

int zdu_coordinator_run(const struct zdu_plan *plan, const struct zdu_coord_opts *opts);
/* --status: the journal read, where the rollout stands and what to do next. */
int zdu_coordinator_status(const struct zdu_plan *plan, const struct zdu_coord_opts *opts);

#endif
