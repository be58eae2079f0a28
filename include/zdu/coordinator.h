/* zdu-coordinator: runs a rollout plan node by node. For each node:
 * preflight -> set the drain flag -> wait until drained on every load
 * balancer and on the node -> upgrade command -> wait until healthy (and
 * at expect_version) -> clear the flag -> wait until UP with its weight on
 * every load balancer. Any failure stops in a safe state (the node in
 * progress stays drained) and says what to do next. */
#ifndef ZDU_COORDINATOR_H
#define ZDU_COORDINATOR_H

#include "zdu/coordinator-t.h"
#include "zdu/plan-t.h"

int zdu_coordinator_run(const struct zdu_plan *plan, const struct zdu_coord_opts *opts);
/* --status: the journal read, where the rollout stands and what to do next. */
int zdu_coordinator_status(const struct zdu_plan *plan, const struct zdu_coord_opts *opts);

#endif
