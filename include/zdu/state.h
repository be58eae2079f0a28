/* The node's state and its current reply. Every result (flag read, probe
 * verdict, weight step) enters through zdu_state_apply() with its cause;
 * only changes are passed on to observers, and each reply change is logged
 * once with that cause. */
#ifndef ZDU_STATE_H
#define ZDU_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "zdu/state-t.h"

enum zdu_event_kind {
	ZDU_EV_FLAG,       /* a flag source read its flag: src, flag */
	ZDU_EV_HEALTH,     /* the probe reached a verdict: health */
	ZDU_EV_WEIGHT,     /* slow start or configuration changed the weight */
	ZDU_EV_FAIL_ACTION, /* configuration changed what unhealthy replies */
	ZDU_EV_DRAIN,      /* connections were counted: drain */
	ZDU_EV_DETAIL      /* configuration changed how much replies say: detail */
};

struct zdu_event {
	enum zdu_event_kind kind;
	const char *cause; /* why, for the log: "flag file changed", "probe" */
	enum zdu_flag_src src;
	const struct zdu_flag *flag;
	const struct zdu_health_state *health;
	const struct zdu_drain_state *drain;
	unsigned weight_pct;
	enum zdu_fail_action on_failure;
	enum zdu_reply_detail detail;
};

struct zdu_state;
/* Called after every change of the node state; reply_changed says whether
 * the reply line changed too. */
typedef void (*zdu_state_cb)(struct zdu_state *st, int reply_changed, void *data);

#define ZDU_STATE_OBSERVERS 8

struct zdu_state {
	struct zdu_node_state node;
	char reply[ZDU_REPLY_MAX];
	size_t reply_len;
	uint64_t generation;     /* bumped on every reply change */
	uint64_t changed_ms;     /* monotonic time of the last reply change */
	char last_cause[128];    /* cause of the last reply change */
	struct {
		zdu_state_cb cb;
		void *data;
	} obs[ZDU_STATE_OBSERVERS];
};

void zdu_state_init(struct zdu_state *st, unsigned weight_pct, enum zdu_fail_action on_failure,
		    enum zdu_health initial);
/* Returns 1 when the node state changed. */
int zdu_state_apply(struct zdu_state *st, const struct zdu_event *ev);
int zdu_state_observe(struct zdu_state *st, zdu_state_cb cb, void *data);
void zdu_state_unobserve(struct zdu_state *st, zdu_state_cb cb, void *data);

/* The reply line without its newline, for logs and status. */
const char *zdu_state_reply_text(const struct zdu_state *st, char *buf, size_t size);

#endif
