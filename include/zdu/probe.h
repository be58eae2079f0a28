/* The probe of one service's API: timer -> request (libcurl on the loop) ->
 * the service's kind (check_*.c: ok, slow, failed; version; disabled) ->
 * hysteresis with the slow/dead split -> one ZDU_EV_HEALTH into the state.
 * With a fleet guard, slowness past dead_after asks it first; its answer
 * enters the state the same way. Optionally oslo's healthcheck beside a
 * version document in the same cycle: disabled by file means drained. The
 * probe of an up service may run until slow_timeout_ms, to measure how slow
 * it is; one probe at a time, the next starting as soon as a late one ends.
 * Reasons and log lines name the service ("placement: connection refused"). */
#ifndef ZDU_PROBE_H
#define ZDU_PROBE_H

#include <jansson.h>
#include <uv.h>

#include "zdu/config-t.h"
#include "zdu/guard.h"
#include "zdu/http.h"
#include "zdu/probe_stats.h"
#include "zdu/state.h"

struct zdu_probe;

/* Starts probing svc at once, then every svc->interval_ms. cfg gives what
 * every service shares (probe.ca_file, client_cert, client_key, verify,
 * max_body_bytes); svc everything else, and is copied. inherit (may be
 * NULL; the same service's probe before a reload) carries the verdict and
 * streaks. */
struct zdu_probe *zdu_probe_new(uv_loop_t *loop, struct zdu_state *state, struct zdu_http *http,
				const struct zdu_config *cfg, const struct zdu_service_cfg *svc,
				const struct zdu_probe *inherit);
void zdu_probe_close(struct zdu_probe *p);
/* The fleet guard to ask before slowness takes the service down (NULL:
 * none, slowness takes it down at dead_after as without etcd). Borrowed. */
void zdu_probe_set_guard(struct zdu_probe *p, struct zdu_guard *g);
/* The service probed (its name, as configured). */
const char *zdu_probe_service(const struct zdu_probe *p);
/* The probe's settings, counters and last result, for --status. */
json_t *zdu_probe_status_json(const struct zdu_probe *p);

#endif
