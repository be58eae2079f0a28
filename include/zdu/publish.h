/* The agent's state published in etcd (PREFIX/agents/NAME) under a lease
 * the agent keeps alive: a coordinator reads nodes there without ssh, and
 * a dead agent's state disappears when its lease runs out. Only a changed
 * state is written (the state text carries the probe count, so at most one
 * write per probe); a state change is written at once. */
#ifndef ZDU_PUBLISH_H
#define ZDU_PUBLISH_H
#include <jansson.h>
#include <uv.h>
#include "zdu/etcd.h"

struct zdu_publish;
/* Returns a new reference to the state to publish. */
typedef json_t *(*zdu_publish_make_cb)(void *data);

struct zdu_publish *zdu_publish_new(uv_loop_t *loop, struct zdu_etcd *etcd, const char *key, int ttl_s,
				    int interval_ms, zdu_publish_make_cb make, void *data);
/* The state changed: write it now (coalesced with a write in flight). */
void zdu_publish_kick(struct zdu_publish *p);
json_t *zdu_publish_status_json(const struct zdu_publish *p);
/* Stops; frees itself once its timers are closed. Call before freeing etcd. */
void zdu_publish_close(struct zdu_publish *p);
#endif
