/* The agent's metrics in Prometheus's text exposition format (0.0.4),
 * rendered from a status snapshot (zdu_status_json()'s answer), never from
 * other modules' internals: what --status shows is what is exported.
 *
 * Per service, with a "service" label: the status's "services" array when
 * present, else its top-level fields as the one service "nova-api". Node
 * metrics (build, listener, etcd) have no service label. */
#ifndef ZDU_METRICS_H
#define ZDU_METRICS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "zdu/config-t.h"

#define ZDU_METRICS_DEFAULT_SERVICE "nova-api"
#define ZDU_METRICS_TEXTFILE "zdu_agent.prom"
#define ZDU_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The whole exposition (malloc'd, NUL-terminated; *len its length), or
 * NULL when out of memory. now_unix: the wall clock, for
 * zdu_agent_start_time_seconds. */
char *zdu_metrics_render(const json_t *status, int64_t now_unix, size_t *len);

/* The exporter: a textfile in metrics.textfile_dir and/or GET /metrics on
 * metrics.listen, each rendering snapshot()'s answer (a new reference). */
typedef json_t *(*zdu_metrics_snapshot_fn)(void *data);
struct zdu_metrics;

/* NULL with err filled when an output cannot start (the address cannot be
 * bound, the directory is not there); NULL without error (err "") when
 * neither output is configured. */
struct zdu_metrics *zdu_metrics_new(uv_loop_t *loop, const struct zdu_config *cfg,
				    zdu_metrics_snapshot_fn snapshot, void *data, char *err, size_t err_size);
/* Start and reload: makes, keeps (same metrics settings) or replaces *m.
 * On error *m is NULL (the old outputs closed) and err says why. */
int zdu_metrics_apply(struct zdu_metrics **m, uv_loop_t *loop, const struct zdu_config *cfg,
		      zdu_metrics_snapshot_fn snapshot, void *data, char *err, size_t err_size);
/* Something changed: the textfile is rewritten soon (coalesced). */
void zdu_metrics_kick(struct zdu_metrics *m);
void zdu_metrics_close(struct zdu_metrics *m);
json_t *zdu_metrics_status_json(const struct zdu_metrics *m);

#endif
