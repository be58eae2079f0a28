#include <stdio.h>
#include <unistd.h>

#include "zdu/config.h"
#include "zdu/daemon.h"
#include "zdu/flag.h"
#include "zdu/reply.h"
#include "zdu/state.h"

static const char *fault_name(enum zdu_fault f)
{
	return f == ZDU_FAULT_SOFT ? "soft" : f == ZDU_FAULT_HARD ? "hard" : "none";
}

/* An up node that answers late: since when (wall clock, fixed for the
 * spell, so the published state does not move) and for how long (now:
 * "for_ms", left out of the published state). */
static json_t *slow_json(const struct zdu_health_state *h, const struct zdu_daemon *d)
{
	const struct zdu_slow_state *s = &h->slow;
	char since[40];
	uint64_t now = zdu_now_ms();

	if (h->health != ZDU_HEALTH_UP || !s->active)
		return json_null();
	return json_pack("{s:s,s:I,s:I,s:i,s:I,s:I,s:i,s:b,s:i}", "since",
			 zdu_utc_ms(s->since_unix_ms, since, sizeof(since)), "since_unix_ms",
			 (json_int_t)s->since_unix_ms, "for_ms",
			 (json_int_t)(now > s->since_ms ? now - s->since_ms : 0), "weight_percent",
			 (int)s->weight_pct, "last_ms", (json_int_t)s->last_ms, "max_ms", (json_int_t)s->max_ms,
			 "probes", (int)s->probes, "answered", s->answered, "dead_after_ms",
			 d->cfg.probe_dead_after_ms);
}

/* The fleet guard holding a slow node up: since when, for how long
 * ("for_ms", left out of the published state), what it counted. */
static json_t *hold_json(const struct zdu_health_state *h)
{
	const struct zdu_guard_hold *g = &h->guard;
	char since[40];
	uint64_t now = zdu_now_ms();

	if (h->health != ZDU_HEALTH_UP || !g->active)
		return json_null();
	return json_pack("{s:s,s:I,s:I,s:i,s:i,s:i,s:i,s:i,s:b,s:s}", "since",
			 zdu_utc_ms(g->since_unix_ms, since, sizeof(since)), "since_unix_ms",
			 (json_int_t)g->since_unix_ms, "for_ms",
			 (json_int_t)(now > g->since_ms ? now - g->since_ms : 0), "nodes", (int)g->nodes, "up",
			 (int)g->up, "down", (int)g->down, "checks", (int)g->checks, "min_up_percent",
			 (int)g->min_up_percent, "peers_unknown", g->peers_unknown, "reason", g->reason);
}

static json_t *flag_json(const struct zdu_flag *f)
{
	json_t *o = json_pack("{s:b,s:s}", "active", f->mode != ZDU_FLAG_OFF, "mode",
			      zdu_flag_mode_name(f->mode));

	if (f->mode != ZDU_FLAG_OFF) {
		json_object_set_new(o, "reason", json_string(f->reason));
		json_object_set_new(o, "since", json_string(f->since));
		json_object_set_new(o, "by", json_string(f->by));
	}
	json_object_set_new(o, "error", f->error[0] ? json_string(f->error) : json_null());
	return o;
}

json_t *zdu_status_json(const struct zdu_daemon *d)
{
	const struct zdu_state *st = &d->state;
	const struct zdu_health_state *h = &st->node.health;
	char reply[ZDU_REPLY_MAX];
	json_t *o, *flag, *health, *conns;
	const struct zdu_listener_stats *ls;

	flag = flag_json(zdu_node_flag(&st->node));
	json_object_set_new(flag, "file", flag_json(&st->node.flag[ZDU_SRC_FILE]));
	json_object_set_new(json_object_get(flag, "file"), "path", json_string(d->cfg.flag_file));
	if (d->flage) {
		json_t *e = flag_json(&st->node.flag[ZDU_SRC_ETCD]);

		json_object_update_new(e, zdu_flag_etcd_status_json(d->flage));
		json_object_set_new(flag, "etcd", e);
	} else {
		json_object_set_new(flag, "etcd", json_null());
	}

	health = json_pack("{s:s,s:s,s:s,s:s,s:b}", "state", zdu_health_name(h->health), "reason", h->reason,
			   "version", h->version, "min_version", h->min_version, "disabled", h->disabled);
	json_object_set_new(health, "fault", json_string(fault_name(h->fault)));
	json_object_set_new(health, "slow", slow_json(h, d));
	json_object_set_new(health, "guard", hold_json(h));

	ls = zdu_listener_stats(d->listener);
	conns = json_pack("{s:I,s:I,s:I,s:I,s:I}", "current", (json_int_t)ls->current, "accepted",
			  (json_int_t)ls->accepted, "evicted", (json_int_t)ls->evicted, "timed_out",
			  (json_int_t)ls->timed_out, "oversized", (json_int_t)ls->oversized);

	o = json_pack("{s:b,s:s,s:i,s:s,s:I,s:s,s:I,s:s,s:I,s:o,s:o,s:o,s:I,s:s}", "ok", 1, "version",
		      ZDU_VERSION, "pid", (int)getpid(), "reply",
		      zdu_state_reply_text(st, reply, sizeof(reply)), "generation",
		      (json_int_t)st->generation, "cause", st->last_cause, "reply_age_ms",
		      (json_int_t)(zdu_now_ms() - st->changed_ms), "on_failure",
		      zdu_fail_action_name(st->node.on_failure), "weight_percent",
		      (json_int_t)st->node.weight_pct, "flag", flag, "health", health, "connections", conns,
		      "uptime_s", (json_int_t)((zdu_now_ms() - d->started_ms) / 1000), "config",
		      d->cfg.path ? d->cfg.path : "");
	{
		const struct zdu_drain_state *dr = &st->node.drain;

		json_object_set_new(o, "drain",
				    d->drain ? json_pack("{s:b,s:I,s:I,s:b,s:s?}", "known", dr->known,
							 "connections", (json_int_t)dr->conns, "idle",
							 (json_int_t)dr->idle, "drained", dr->drained, "error",
							 dr->error[0] ? dr->error : NULL)
					 : json_null());
		json_object_set_new(o, "drained", json_boolean(dr->drained));
	}
	json_object_set_new(o, "control", zdu_control_status_json(d->control));
	/* "reply" is what the agent port sends; with "minimal" the reasons are
	 * still here, under flag and health. */
	json_object_set_new(o, "reply_detail",
			    json_string(st->node.detail == ZDU_DETAIL_MINIMAL ? "minimal" : "full"));
	json_object_set_new(o, "probe", d->probe ? zdu_probe_status_json(d->probe) : json_null());
	/* The fleet guard: null without etcd; "active" false when
	 * guard.min_up_percent is 0 or nothing is probed. */
	if (d->guard) {
		json_t *g = zdu_guard_status_json(d->guard);

		json_object_set_new(g, "active", json_boolean(d->probe && d->cfg.guard_min_up_percent > 0 &&
							      d->cfg.probe_dead_after_ms > 0));
		json_object_set_new(o, "guard", g);
	} else {
		json_object_set_new(o, "guard", json_null());
	}
	json_object_set_new(o, "etcd",
			    d->publish ? json_pack("{s:s,s:o}", "node", d->cfg.etcd_node, "publish",
						   zdu_publish_status_json(d->publish))
				       : json_null());
	return o;
}
