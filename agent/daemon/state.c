#include <string.h>

#include "zdu/common.h"
#include "zdu/flag.h"
#include "zdu/log.h"
#include "zdu/reply.h"
#include "zdu/state.h"

/* ---- what the node state says (pure) ------------------------------------ */

static int flag_rank(enum zdu_flag_mode m)
{
	switch (m) {
	case ZDU_FLAG_MAINT: return 3;
	case ZDU_FLAG_DRAIN: return 2;
	case ZDU_FLAG_LB: return 1;
	case ZDU_FLAG_OFF: return 0;
	}
	return 2;
}

const struct zdu_flag *zdu_node_flag_src(const struct zdu_node_state *node, enum zdu_flag_src *src)
{
	enum zdu_flag_src n = node->flag[ZDU_SRC_FILE].mode != ZDU_FLAG_OFF ? ZDU_SRC_FILE : ZDU_SRC_ETCD;
	enum zdu_flag_src s = node->flag[ZDU_SRC_SVC_FILE].mode != ZDU_FLAG_OFF ? ZDU_SRC_SVC_FILE : ZDU_SRC_SVC_ETCD;
	enum zdu_flag_src w = flag_rank(node->flag[s].mode) > flag_rank(node->flag[n].mode) ? s : n;

	if (src)
		*src = w;
	return &node->flag[w];
}

const struct zdu_flag *zdu_node_flag(const struct zdu_node_state *node)
{
	return zdu_node_flag_src(node, NULL);
}

const char *zdu_flag_src_name(enum zdu_flag_src src)
{
	switch (src) {
	case ZDU_SRC_FILE: return "file";
	case ZDU_SRC_ETCD: return "etcd";
	case ZDU_SRC_SVC_FILE: return "service file";
	case ZDU_SRC_SVC_ETCD: return "service etcd";
	case ZDU_SRC_MAX: break;
	}
	return "?";
}

void zdu_state_set_service(struct zdu_state *st, const char *name)
{
	zdu_strlcpy(st->node.service, name, sizeof(st->node.service));
	st->named = 1;
	st->reply_len = zdu_reply_format(&st->node, st->reply, sizeof(st->reply));
}


int zdu_node_serving(const struct zdu_node_state *n)
{
	return (n->health.health == ZDU_HEALTH_UP || n->health.health == ZDU_HEALTH_UNCHECKED) &&
	       !n->health.disabled && zdu_node_flag(n)->mode == ZDU_FLAG_OFF;
}


const char *zdu_health_name(enum zdu_health h)
{
	switch (h) {
	case ZDU_HEALTH_UNKNOWN: return "unknown";
	case ZDU_HEALTH_UP: return "up";
	case ZDU_HEALTH_DOWN: return "down";
	case ZDU_HEALTH_UNCHECKED: return "unchecked";
	}
	return "?";
}

void zdu_state_init(struct zdu_state *st, unsigned weight_pct, enum zdu_fail_action on_failure,
		    enum zdu_health initial)
{
	memset(st, 0, sizeof(*st));
	zdu_strlcpy(st->node.service, "nova-api", sizeof(st->node.service));
	st->node.weight_pct = weight_pct;
	st->node.on_failure = on_failure;
	st->node.health.health = initial;
	st->reply_len = zdu_reply_format(&st->node, st->reply, sizeof(st->reply));
	st->changed_ms = zdu_now_ms();
	zdu_strlcpy(st->last_cause, "start", sizeof(st->last_cause));
}

const char *zdu_state_reply_text(const struct zdu_state *st, char *buf, size_t size)
{
	size_t n = st->reply_len ? st->reply_len - 1 : 0;

	if (n >= size)
		n = size - 1;
	memcpy(buf, st->reply, n);
	buf[n] = '\0';
	return buf;
}

static int slow_equal(const struct zdu_slow_state *a, const struct zdu_slow_state *b)
{
	return a->active == b->active && a->weight_pct == b->weight_pct && a->since_ms == b->since_ms &&
	       a->since_unix_ms == b->since_unix_ms && a->last_ms == b->last_ms && a->max_ms == b->max_ms &&
	       a->for_ms == b->for_ms && a->probes == b->probes && a->answered == b->answered;
}

static int hold_equal(const struct zdu_guard_hold *a, const struct zdu_guard_hold *b)
{
	return a->active == b->active && a->peers_unknown == b->peers_unknown && a->since_ms == b->since_ms &&
	       a->since_unix_ms == b->since_unix_ms && a->nodes == b->nodes && a->up == b->up &&
	       a->down == b->down && a->checks == b->checks && a->min_up_percent == b->min_up_percent &&
	       strcmp(a->reason, b->reason) == 0;
}

static int health_equal(const struct zdu_health_state *a, const struct zdu_health_state *b)
{
	return a->health == b->health && a->disabled == b->disabled && a->fault == b->fault &&
	       strcmp(a->reason, b->reason) == 0 && strcmp(a->version, b->version) == 0 &&
	       strcmp(a->min_version, b->min_version) == 0 &&
	       strcmp(a->disabled_reason, b->disabled_reason) == 0 && slow_equal(&a->slow, &b->slow) &&
	       hold_equal(&a->guard, &b->guard);
}

/* How loud a reply change is logged. Slow-start steps are frequent and
 * expected; so is a slow node's next measure ("slow: 1.2 s" -> "1.4 s"),
 * which the probe's own lines already frame (slow since, weight steps,
 * recovery): quieter. The guard taking hold, letting go, or counting other
 * numbers is not. */
static enum zdu_log_level change_level(const struct zdu_health_state *old, const struct zdu_event *ev)
{
	if (ev->kind == ZDU_EV_WEIGHT)
		return ZDU_LOG_INFO;
	if (ev->kind == ZDU_EV_HEALTH && old->slow.active && ev->health->slow.active &&
	    old->health == ev->health->health && old->slow.weight_pct == ev->health->slow.weight_pct &&
	    old->guard.active == ev->health->guard.active && old->guard.nodes == ev->health->guard.nodes &&
	    old->guard.down == ev->health->guard.down)
		return ZDU_LOG_INFO;
	return ZDU_LOG_NOTICE;
}

static int apply_one(struct zdu_state *st, const struct zdu_event *ev)
{
	struct zdu_node_state *n = &st->node;
	char reply[ZDU_REPLY_MAX];
	struct zdu_health_state old_health = n->health;
	size_t len;
	int reply_changed;
	size_t i;

	switch (ev->kind) {
	case ZDU_EV_FLAG:
		if (ev->src >= ZDU_SRC_MAX || zdu_flag_equal(&n->flag[ev->src], ev->flag))
			return 0;
		n->flag[ev->src] = *ev->flag;
		if (ev->flag->error[0])
			zdu_log_error("%s: maintenance flag not understood, draining (fail safe): %s",
				      ev->cause ? ev->cause : "?", ev->flag->error);
		break;
	case ZDU_EV_HEALTH:
		if (health_equal(&n->health, ev->health))
			return 0;
		n->health = *ev->health;
		break;
	case ZDU_EV_WEIGHT:
		if (n->weight_pct == ev->weight_pct)
			return 0;
		n->weight_pct = ev->weight_pct;
		break;
	case ZDU_EV_DRAIN: {
		const struct zdu_drain_state *a = &n->drain, *b = ev->drain;

		if (a->known == b->known && a->conns == b->conns && a->idle == b->idle &&
		    a->drained == b->drained && strcmp(a->error, b->error) == 0)
			return 0;
		if (a->drained != b->drained)
			zdu_log_notice("%s%s %s: %s", st->named ? "service " : "node", st->named ? n->service : "",
				       b->drained ? "drained" : "no longer drained", ev->cause ? ev->cause : "?");
		if (strcmp(a->error, b->error) != 0 && b->error[0])
			zdu_log_warn("cannot count connections: %s", b->error);
		n->drain = *b;
		break;
	}
	case ZDU_EV_FAIL_ACTION:
		if (n->on_failure == ev->on_failure)
			return 0;
		n->on_failure = ev->on_failure;
		break;
	case ZDU_EV_DETAIL:
		if (n->detail == ev->detail)
			return 0;
		n->detail = ev->detail;
		break;
	default:
		return 0;
	}

	len = zdu_reply_format(n, reply, sizeof(reply));
	reply_changed = len != st->reply_len || memcmp(reply, st->reply, len) != 0;
	if (reply_changed) {
		enum zdu_log_level lvl = change_level(&old_health, ev);

		zdu_log(lvl, "reply now \"%.*s\" (was \"%.*s\"): %s%s%s%s", (int)len - 1, reply,
			(int)st->reply_len - 1, st->reply, ev->cause ? ev->cause : "?",
			st->named ? " (service " : "", st->named ? n->service : "", st->named ? ")" : "");
		memcpy(st->reply, reply, len + 1);
		st->reply_len = len;
		st->generation++;
		st->changed_ms = zdu_now_ms();
		zdu_strlcpy(st->last_cause, ev->cause ? ev->cause : "?", sizeof(st->last_cause));
	}
	for (i = 0; i < ZDU_STATE_OBSERVERS; i++)
		if (st->obs[i].cb)
			st->obs[i].cb(st, reply_changed, st->obs[i].data);
	return 1;
}

/* Keeps a change made during another for later, with copies of what it
 * points to. */
static void enqueue(struct zdu_state *st, const struct zdu_event *ev)
{
	struct zdu_queued_event *q;

	if (st->qlen == ZDU_STATE_QUEUE) {
		st->dropped++;
		zdu_log_error("state: %u changes already wait; dropped \"%s\" (a loop between observers?)",
			      st->qlen, ev->cause ? ev->cause : "?");
		return;
	}
	q = &st->queue[(st->qhead + st->qlen++) % ZDU_STATE_QUEUE];
	q->ev = *ev;
	zdu_strlcpy(q->cause, ev->cause ? ev->cause : "?", sizeof(q->cause));
	q->ev.cause = q->cause;
	q->ev.flag = NULL;
	q->ev.health = NULL;
	q->ev.drain = NULL;
	if (ev->kind == ZDU_EV_FLAG && ev->flag) {
		q->u.flag = *ev->flag;
		q->ev.flag = &q->u.flag;
	} else if (ev->kind == ZDU_EV_HEALTH && ev->health) {
		q->u.health = *ev->health;
		q->ev.health = &q->u.health;
	} else if (ev->kind == ZDU_EV_DRAIN && ev->drain) {
		q->u.drain = *ev->drain;
		q->ev.drain = &q->u.drain;
	}
}

int zdu_state_apply(struct zdu_state *st, const struct zdu_event *ev)
{
	int changed, n;

	if (st->applying) {
		enqueue(st, ev);
		return 0;
	}
	st->applying = 1;
	changed = apply_one(st, ev);
	for (n = 0; st->qlen; n++) {
		struct zdu_queued_event next = st->queue[st->qhead];

		if (n == ZDU_STATE_DERIVED_MAX) {
			/* Observers that keep answering each other's changes
			 * would never end: cut, and say so. */
			st->dropped += st->qlen;
			zdu_log_error("state: %d changes followed \"%s\"; %u more dropped (a loop between "
				      "observers?)", n, ev->cause ? ev->cause : "?", st->qlen);
			st->qlen = 0;
			break;
		}

		/* The copy's pointers lead into the queue slot: aim them at
		 * the copy before the slot can be reused. */
		if (next.ev.flag)
			next.ev.flag = &next.u.flag;
		if (next.ev.health)
			next.ev.health = &next.u.health;
		if (next.ev.drain)
			next.ev.drain = &next.u.drain;
		next.ev.cause = next.cause;
		st->qhead = (st->qhead + 1) % ZDU_STATE_QUEUE;
		st->qlen--;
		apply_one(st, &next.ev);
	}
	st->applying = 0;
	return changed;
}

int zdu_state_observe(struct zdu_state *st, zdu_state_cb cb, void *data)
{
	size_t i;

	for (i = 0; i < ZDU_STATE_OBSERVERS; i++) {
		if (!st->obs[i].cb) {
			st->obs[i].cb = cb;
			st->obs[i].data = data;
			return 0;
		}
	}
	return -1;
}

void zdu_state_unobserve(struct zdu_state *st, zdu_state_cb cb, void *data)
{
	size_t i;

	for (i = 0; i < ZDU_STATE_OBSERVERS; i++)
		if (st->obs[i].cb == cb && st->obs[i].data == data)
			st->obs[i].cb = NULL;
}
