/* The node's state and its current reply. Every result (flag read, probe
 * verdict, weight step) enters through zdu_state_apply() with its cause;
 * only changes are passed on to observers, and each reply change is logged
 * once with that cause. */
#ifndef ZDU_STATE_H
#define ZDU_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "zdu/state-t.h"

/* The flag that holds the service: of the node's, the local file's when
 * set, else etcd's; of the service's the same; then the stricter of the
 * two (maint, drain, lb, none), the node's on a tie. src (may be NULL) gets
 * where it comes from. */
const struct zdu_flag *zdu_node_flag(const struct zdu_node_state *node);
const struct zdu_flag *zdu_node_flag_src(const struct zdu_node_state *node, enum zdu_flag_src *src);
/* "file", "etcd", "service file", "service etcd" */
const char *zdu_flag_src_name(enum zdu_flag_src src);
/* Names the service in reasons ("placement: connection refused") and
 * logs (one of several services). */
void zdu_state_set_service(struct zdu_state *st, const char *name);
/* Healthy (or unchecked), not disabled, no flag: taking new work. */
int zdu_node_serving(const struct zdu_node_state *n);
/* One name per health, for status, logs and the published state. */
const char *zdu_health_name(enum zdu_health h);

void zdu_state_init(struct zdu_state *st, unsigned weight_pct, enum zdu_fail_action on_failure,
		    enum zdu_health initial);
/* Returns 1 when the node state changed. Called from an observer (a change
 * that follows from another: slow start resetting its weight, drain
 * publishing its count), the change is queued, copied, and applied once
 * every observer has seen the current one, in the order made; it returns 0
 * then. State is thus applied one change at a time, each logged once. */
int zdu_state_apply(struct zdu_state *st, const struct zdu_event *ev);
int zdu_state_observe(struct zdu_state *st, zdu_state_cb cb, void *data);
void zdu_state_unobserve(struct zdu_state *st, zdu_state_cb cb, void *data);

/* The reply line without its newline, for logs and status. */
const char *zdu_state_reply_text(const struct zdu_state *st, char *buf, size_t size);

#endif
