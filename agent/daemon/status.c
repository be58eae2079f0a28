#include <stdio.h>
#include <unistd.h>

#include "zdu/config.h"
#include "zdu/daemon.h"
#include "zdu/drain.h"
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
static json_t *slow_json(const struct zdu_health_state *h, const struct zdu_service_cfg *sc)
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
			 sc->dead_after_ms);
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

static json_t *conns_json(const struct zdu_listener_stats *ls)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "current", (json_int_t)ls->current, "accepted",
			 (json_int_t)ls->accepted, "evicted", (json_int_t)ls->evicted, "timed_out",
			 (json_int_t)ls->timed_out, "oversized", (json_int_t)ls->oversized, "by_name",
			 (json_int_t)ls->by_name, "no_name", (json_int_t)ls->no_name, "unknown_name",
			 (json_int_t)ls->unknown, "invalid_name", (json_int_t)ls->invalid);
}

/* One service: its reply and everything that makes it. */
static json_t *service_json(const struct zdu_daemon *d, size_t idx)
{
	const struct zdu_service *sv = d->svcs[idx];
	const struct zdu_service_cfg *sc = zdu_service_cfg(sv);
	const struct zdu_state *st = zdu_service_state_c(sv);
	const struct zdu_health_state *h = &st->node.health;
	const struct zdu_drain_state *dr = &st->node.drain;
	const struct zdu_listener_stats *ls = zdu_service_listener_stats(sv);
	struct zdu_probe *probe = zdu_service_probe(sv);
	char reply[ZDU_REPLY_MAX];
	enum zdu_flag_src src;
	json_t *o, *flag, *health, *g;

	flag = flag_json(zdu_node_flag_src(&st->node, &src));
	json_object_set_new(flag, "source", json_string(zdu_node_flag(&st->node)->mode != ZDU_FLAG_OFF
								? zdu_flag_src_name(src) : "none"));
	json_object_set_new(flag, "file", flag_json(&st->node.flag[ZDU_SRC_FILE]));
	json_object_set_new(json_object_get(flag, "file"), "path", json_string(d->cfg.flag_file));
	if (d->flage) {
		json_t *e = flag_json(&st->node.flag[ZDU_SRC_ETCD]);

		json_object_update_new(e, zdu_flag_etcd_status_json(d->flage));
		json_object_set_new(flag, "etcd", e);
	} else {
		json_object_set_new(flag, "etcd", json_null());
	}
	if (zdu_service_flag_path(sv)[0]) {
		json_t *f = flag_json(&st->node.flag[ZDU_SRC_SVC_FILE]);

		json_object_set_new(f, "path", json_string(zdu_service_flag_path(sv)));
		json_object_set_new(flag, "service_file", f);
	} else {
		json_object_set_new(flag, "service_file", json_null());
	}
	json_object_set_new(flag, "service_etcd",
			    d->flage ? flag_json(&st->node.flag[ZDU_SRC_SVC_ETCD]) : json_null());

	health = json_pack("{s:s,s:s,s:s,s:s,s:b}", "state", zdu_health_name(h->health), "reason", h->reason,
			   "version", h->version, "min_version", h->min_version, "disabled", h->disabled);
	json_object_set_new(health, "fault", json_string(fault_name(h->fault)));
	json_object_set_new(health, "slow", slow_json(h, sc));
	json_object_set_new(health, "guard", hold_json(h));
	if (h->disabled)
		json_object_set_new(health, "disabled_reason", json_string(h->disabled_reason));

	o = json_pack("{s:s,s:s,s:s,s:I,s:s,s:I,s:s,s:I,s:o,s:o}", "name", zdu_service_name(sv), "probe_kind",
		      zdu_probe_kind_name(sc->probe_kind), "reply", zdu_state_reply_text(st, reply, sizeof(reply)),
		      "generation", (json_int_t)st->generation, "cause", st->last_cause, "reply_age_ms",
		      (json_int_t)(zdu_now_ms() - st->changed_ms), "on_failure",
		      zdu_fail_action_name(st->node.on_failure), "weight_percent", (json_int_t)st->node.weight_pct,
		      "flag", flag, "health", health);
	if (zdu_service_drain(sv)) {
		uint64_t quiet;
		int64_t age;

		zdu_drain_times(zdu_service_drain(sv), &quiet, &age);
		json_object_set_new(o, "drain",
				    json_pack("{s:b,s:I,s:I,s:b,s:s?,s:I,s:I}", "known", dr->known, "connections",
					      (json_int_t)dr->conns, "idle", (json_int_t)dr->idle, "drained", dr->drained,
					      "error", dr->error[0] ? dr->error : NULL, "quiet_ms", (json_int_t)quiet,
					      "sample_age_ms", (json_int_t)age));
	} else {
		json_object_set_new(o, "drain", json_null());
	}
	json_object_set_new(o, "drained", json_boolean(dr->drained));
	json_object_set_new(o, "serving", json_boolean(zdu_node_serving(&st->node)));
	json_object_set_new(o, "probe", probe ? zdu_probe_status_json(probe) : json_null());
	json_object_set_new(o, "listen", ls ? conns_json(ls) : json_null());
	/* The fleet guard: null without etcd; "active" false when
	 * guard.min_up_percent is 0 or nothing is probed. */
	if (d->guards && d->guards[idx]) {
		g = zdu_guard_status_json(d->guards[idx]);
		json_object_set_new(g, "active", json_boolean(probe && d->cfg.guard_min_up_percent > 0 &&
							      sc->dead_after_ms > 0));
		json_object_set_new(o, "guard", g);
	} else {
		json_object_set_new(o, "guard", json_null());
	}
	return o;
}

/* The node: every service at a glance. */
static json_t *node_json(const struct zdu_daemon *d)
{
	unsigned serving = 0, flagged = 0, down = 0;
	size_t i;
	const struct zdu_flag *nf;

	for (i = 0; i < d->nsvcs; i++) {
		const struct zdu_node_state *n = &zdu_service_state_c(d->svcs[i])->node;

		serving += zdu_node_serving(n) ? 1u : 0u;
		flagged += zdu_node_flag(n)->mode != ZDU_FLAG_OFF ? 1u : 0u;
		down += n->health.health == ZDU_HEALTH_DOWN ? 1u : 0u;
	}
	nf = zdu_service_state_c(d->svcs[0])->node.flag;
	/* The node's own flag: the file's when set, else etcd's. */
	nf = nf[ZDU_SRC_FILE].mode != ZDU_FLAG_OFF ? &nf[ZDU_SRC_FILE] : &nf[ZDU_SRC_ETCD];
	return json_pack("{s:i,s:i,s:i,s:i,s:b,s:o}", "services", (int)d->nsvcs, "serving", (int)serving,
			 "flagged", (int)flagged, "down", (int)down, "drained", zdu_daemon_drained(d), "flag",
			 flag_json(nf));
}

json_t *zdu_status_json(const struct zdu_daemon *d)
{
	json_t *o, *svcs, *first;
	size_t i;

	if (!d->nsvcs)
		return json_pack("{s:b,s:s}", "ok", 0, "error", "starting");
	/* The first service's fields at the top: what a one-service agent
	 * always said, and what older readers (the coordinator, peers'
	 * guards) read. */
	first = service_json(d, 0);
	o = json_pack("{s:b,s:s,s:i}", "ok", 1, "version", ZDU_VERSION, "pid", (int)getpid());
	json_object_update(o, first);
	json_object_del(o, "name");
	json_object_del(o, "listen");
	json_object_del(o, "serving");
	json_object_set_new(o, "service", json_string(zdu_service_name(d->svcs[0])));
	json_object_set_new(o, "connections", conns_json(zdu_listener_stats(d->listener)));
	json_object_set_new(o, "uptime_s", json_integer((json_int_t)((zdu_now_ms() - d->started_ms) / 1000)));
	json_object_set_new(o, "config", json_string(d->cfg.path ? d->cfg.path : ""));
	/* The node: drained when every counted service is. */
	json_object_set_new(o, "drained", json_boolean(d->nsvcs == 1 ? zdu_service_state_c(d->svcs[0])->node.drain.drained
								       : zdu_daemon_drained(d)));
	json_object_set_new(o, "control", zdu_control_status_json(d->control));
	/* "reply" is what the agent port sends; with "minimal" the reasons are
	 * still here, under flag and health. */
	json_object_set_new(o, "reply_detail", json_string(d->cfg.reply_detail == ZDU_DETAIL_MINIMAL ? "minimal" : "full"));
	json_object_set_new(o, "metrics", zdu_metrics_status_json(d->metrics));
	json_object_set_new(o, "etcd",
			    d->publish ? json_pack("{s:s,s:o}", "node", d->cfg.etcd_node, "publish",
						   zdu_publish_status_json(d->publish))
				       : json_null());
	svcs = json_array();
	json_array_append_new(svcs, first);
	for (i = 1; i < d->nsvcs; i++)
		json_array_append_new(svcs, service_json(d, i));
	json_object_set_new(o, "services", svcs);
	json_object_set_new(o, "node_state", node_json(d));
	return o;
}
