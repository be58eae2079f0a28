/* Knowing when the node is drained: connections to the API ports are
 * counted every drain.interval_ms (sock_diag), and the node is drained once
 * a maintenance flag is set and the count has stayed at zero for
 * drain.settle_ms. Results enter the state as ZDU_EV_DRAIN. */
#ifndef ZDU_DRAIN_H
#define ZDU_DRAIN_H

#include <stdint.h>
#include <uv.h>

#include "zdu/common.h"
#include "zdu/config-t.h"
#include "zdu/sockdiag.h"
#include "zdu/state.h"

struct zdu_drain;

/* err: NULL when counted, else why the count failed (the state has it too). */
typedef void (*zdu_drain_cb)(const char *err, void *data);

/* NULL with err when the netlink socket cannot be opened. */
struct zdu_drain *zdu_drain_new(uv_loop_t *loop, struct zdu_state *state, const struct zdu_config *cfg,
				const struct zdu_service_cfg *svc,
				char *err, size_t err_size);
/* Node-wide settings from cfg (from, local, settle, interval, idle), ports
 * from the service. */
void zdu_drain_configure(struct zdu_drain *d, const struct zdu_config *cfg, const struct zdu_service_cfg *svc);
/* Counts now (for a status request out of maintenance, when no periodic
 * count runs) and calls cb once the state has the result, or the error
 * when the count failed. */
int zdu_drain_refresh(struct zdu_drain *d, zdu_drain_cb cb, void *data);
/* Is the last count good and younger than drain.report_interval_ms (or
 * interval_ms)? A status request out of maintenance then answers with it. */
int zdu_drain_fresh(const struct zdu_drain *d);
/* Forgets a refresh whose caller went away. */
void zdu_drain_refresh_cancel(struct zdu_drain *d, void *data);
/* Is a maintenance flag set (and connections counted periodically)? */
int zdu_drain_flagged(const struct zdu_drain *d);
/* How long the count has been 0 with a flag set, from the first count that
 * saw it (0: not quiet), and how old the last count is (-1: none yet):
 * what lets the coordinator tell a count taken after the load balancers
 * drained the node (README "Knowing when a node is drained"). */
void zdu_drain_times(const struct zdu_drain *d, uint64_t *quiet_ms, int64_t *age_ms);
void zdu_drain_close(struct zdu_drain *d);

#endif
