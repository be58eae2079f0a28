#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "zdu/check.h"
#include "zdu/common.h"
#include "zdu/health.h"
#include "zdu/log.h"
#include "zdu/nova.h"
#include "zdu/probe.h"
#include "zdu/state.h"

struct zdu_probe_stats {
	uint64_t probes;
	uint64_t failures; /* probes not OK, slow ones included */
	uint64_t slow;     /* probes counted as slow (of an up service) */
	int64_t last_unix_ms; /* wall clock of the last finished probe, informational */
	uint64_t last_latency_ms;
	long last_http;
	int last_ok;
	enum zdu_probe_class last_class;
	char last_reason[ZDU_REASON_MAX];
	char version[ZDU_VERSION_MAX]; /* of the last success */
	char min_version[ZDU_VERSION_MAX];
	long hc_http;    /* last healthcheck status, 0 when none */
	int hc_disabled;
	struct zdu_probe_hist hist; /* outcomes and durations, for metrics */
};

struct zdu_probe {
	uv_loop_t *loop;
	struct zdu_state *state;
	struct zdu_http *http;
	uv_timer_t timer;
	char *name; /* the service's: reasons and logs say it */
	const struct zdu_check_kind *kind;
	struct zdu_check_ctx ctx; /* points into the copies below */
	struct zdu_http_opts vopts, hopts;
	char *url, *req_url, *hc_url, *ca_file, *client_cert, *client_key;
	char *version_path, *min_version_path, *version_header;
	int *expect;
	char **headers;
	size_t nheaders;
	struct zdu_http_req *vreq, *hreq;
	int tick_pending; /* a tick came while a cycle was still in flight */
	long timeout_ms, slow_timeout_ms; /* the latter at least the former */
	uint64_t dead_after_ms;
	uint64_t interval_ms, rise_interval_ms; /* the latter: rising, 0: none */
	uint64_t maintenance_interval_ms; /* flagged out (drain, maint) and failing; 0: none */
	uint64_t last_started; /* when the last finished cycle started (zdu_now_ms); 0: none yet */
	/* results of the cycle in flight */
	int v_done, h_done, v_ok, h_disabled;
	int v_answered; /* a whole answer came (else: cut by the timeout) */
	long v_http, h_http, v_limit;
	uint64_t v_started, v_latency;
	struct zdu_check_result v; /* the kind's verdict on the main request */
	struct zdu_hysteresis hyst;
	char down_reason[ZDU_REASON_MAX]; /* last failure: said while down */
	/* The slow spell of an up service, for the reply, status and logs. */
	char slow_reason[ZDU_REASON_MAX];
	struct zdu_slow_state spell;
	struct zdu_probe_stats stats;
	/* The fleet guard (NULL: none): asked when slowness would take the
	 * service down; hold is its answer while it keeps it up. */
	struct zdu_guard *guard;
	struct zdu_guard_hold hold;
	int dead_logged; /* "dead_after reached: asking the guard" said for this spell */
};

static void probe_free(struct zdu_probe *p)
{
	size_t i;

	free(p->name);
	free(p->url);
	free(p->req_url);
	free(p->hc_url);
	free(p->version_path);
	free(p->min_version_path);
	free(p->version_header);
	free(p->expect);
	free(p->ca_file);
	free(p->client_cert);
	free(p->client_key);
	for (i = 0; i < p->nheaders; i++)
		free(p->headers[i]);
	free(p->headers);
	free(p);
}

static const char *class_name(enum zdu_probe_class c)
{
	return c == ZDU_PROBE_OK ? "ok" : c == ZDU_PROBE_SLOW ? "slow" : "failed";
}

static void on_tick(uv_timer_t *t);

/* A flag holds the service out of service (drain or maint): the one the
 * state says holds it, the service's or the node's. */
static int out_of_service(const struct zdu_probe *p)
{
	enum zdu_flag_mode m = zdu_node_flag(&p->state->node)->mode;

	return m == ZDU_FLAG_DRAIN || m == ZDU_FLAG_MAINT;
}

/* Flagged out with maintenance_interval_ms set: an upgrade may restart it. */
static int in_maintenance(const struct zdu_probe *p)
{
	return p->maintenance_interval_ms && out_of_service(p);
}

/* ... and failing: the API is being restarted for its upgrade (the regime
 * of probe.maintenance_interval_ms). */
static int restarting(const struct zdu_probe *p)
{
	return in_maintenance(p) && (!p->v_ok || p->hyst.verdict != ZDU_HEALTH_UP);
}

static int64_t wall_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* The spell is over: how long it lasted, counted to this result, and how
 * it ended. */
static void spell_over(struct zdu_probe *p, uint64_t now)
{
	struct zdu_slow_state *sp = &p->spell;
	char a[32], b[32], c[32];

	sp->for_ms = now > sp->since_ms ? now - sp->since_ms : 0;
	zdu_duration_text(sp->for_ms, a, sizeof(a));
	zdu_duration_text(sp->max_ms, b, sizeof(b));
	if (p->hyst.verdict == ZDU_HEALTH_UP)
		zdu_log_notice("probe: %s answers in time again (%s) after %s slow "
			       "(%u slow probes, slowest %s)", p->name,
			       zdu_duration_text(p->v_latency, c, sizeof(c)), a, sp->probes, b);
	else if (p->hyst.fault == ZDU_FAULT_SOFT)
		zdu_log_notice("probe: %s slow for %s, probe.dead_after_ms (%s) reached: down "
			       "(%u slow probes, slowest %s)", p->name, a,
			       zdu_duration_text(p->dead_after_ms, c, sizeof(c)), sp->probes, b);
	else
		zdu_log_notice("probe: %s failing after %s slow: %s: down", p->name, a, p->v.reason);
	sp->active = 0;
}

/* The slow spell's bookkeeping and its log lines: when it began, each step
 * of the weight, and how it ended, with durations. prev is the hysteresis
 * before this probe's result. */
static void track_spell(struct zdu_probe *p, const struct zdu_hysteresis *prev, int counted_slow,
			uint64_t now)
{
	struct zdu_slow_state *sp = &p->spell;
	char a[32], b[32];

	if (counted_slow) {
		if (!prev->slow) {
			memset(sp, 0, sizeof(*sp));
			sp->since_ms = p->v_started;
			sp->since_unix_ms = wall_ms() - (int64_t)(now - p->v_started);
		}
		sp->probes++;
		sp->last_ms = p->v_latency;
		if (p->v_latency > sp->max_ms)
			sp->max_ms = p->v_latency;
		sp->answered = p->v_answered;
		zdu_strlcpy(p->slow_reason, p->v.slow_reason, sizeof(p->slow_reason));
		p->stats.slow++;
	}
	if (p->hyst.slow) {
		unsigned pct = zdu_slow_weight_pct(p->hyst.slow_for_ms, p->dead_after_ms);

		sp->active = 1;
		sp->for_ms = p->hyst.slow_for_ms;
		if (!prev->slow) {
			char what[48];

			if (p->v_answered)
				zdu_duration_text(p->v_latency, what, sizeof(what));
			else
				snprintf(what, sizeof(what), "no answer in %s",
					 zdu_duration_text((uint64_t)p->v_limit, a, sizeof(a)));
			zdu_log_notice("probe: %s slow: %s, over probe.timeout_ms (%ld ms): weight %u%%, "
				       "down if still slow after %s (probe.dead_after_ms)", p->name, what, p->timeout_ms, pct,
				       zdu_duration_text(p->dead_after_ms, b, sizeof(b)));
		} else if (pct != sp->weight_pct) {
			zdu_log_notice("probe: %s slow for %s: weight %u%%", p->name,
				       zdu_duration_text(sp->for_ms, a, sizeof(a)), pct);
		}
		sp->weight_pct = pct;
		return;
	}
	if (prev->slow)
		spell_over(p, now);
}

/* What the probe knows, as the node's health. */
static void make_health(const struct zdu_probe *p, struct zdu_health_state *hs)
{
	memset(hs, 0, sizeof(*hs));
	hs->health = p->hyst.verdict;
	hs->fault = p->hyst.fault;
	/* The version of the last success stays known while the node is down,
	 * for the status; the reply shows it only while up. */
	zdu_strlcpy(hs->version, p->stats.version, sizeof(hs->version));
	zdu_strlcpy(hs->min_version, p->stats.min_version, sizeof(hs->min_version));
	if (hs->health == ZDU_HEALTH_DOWN)
		zdu_strlcpy(hs->reason, p->down_reason, sizeof(hs->reason));
	if (hs->health == ZDU_HEALTH_UP && p->hyst.slow) {
		hs->slow = p->spell;
		zdu_strlcpy(hs->reason, p->slow_reason, sizeof(hs->reason));
		if (p->hold.active) {
			hs->guard = p->hold;
			snprintf(hs->reason, sizeof(hs->reason), "%s; %s", p->hold.reason, p->slow_reason);
		}
	}
	if (p->v.disabled) {
		/* the healthcheck kind: the reason is the body's */
		hs->disabled = 1;
		zdu_strlcpy(hs->disabled_reason, p->v.disabled_reason, sizeof(hs->disabled_reason));
	} else if (p->h_disabled) {
		hs->disabled = 1;
		snprintf(hs->disabled_reason, sizeof(hs->disabled_reason), "%s: healthcheck disabled by file",
			 p->name);
	}
}

static void apply(struct zdu_probe *p, const char *cause)
{
	struct zdu_health_state hs;
	struct zdu_event ev = { .kind = ZDU_EV_HEALTH, .health = &hs, .cause = cause };

	make_health(p, &hs);
	zdu_state_apply(p->state, &ev);
}

/* The guard lets go of the node (it answers in time again, a failure took
 * it down, or the guard is gone): for how long it held it, and why no more. */
static void hold_over(struct zdu_probe *p)
{
	char a[32], again[ZDU_SERVICE_NAME_MAX + 32];
	const char *why;

	if (!p->hold.active)
		return;
	if (p->hyst.verdict != ZDU_HEALTH_UP)
		why = "a failure takes the node down";
	else if (!p->guard)
		why = "the guard is off";
	else
		/* The first good answer: the weight stays low until rise. */
		why = again;
	snprintf(again, sizeof(again), "%s answers in time again", p->name);
	zdu_log_notice("guard: held the node up for %s (%u checks): %s",
		       zdu_duration_text(zdu_now_ms() - p->hold.since_ms, a, sizeof(a)), p->hold.checks, why);
	memset(&p->hold, 0, sizeof(p->hold));
}

/* The guard's answer: down (it claimed it), or kept up. Only if the node
 * is still due to go down: a good answer or a failure may have come since
 * the question. */
static void guard_answer(const struct zdu_guard_verdict *v, void *data)
{
	struct zdu_probe *p = data;
	struct zdu_guard_hold *h = &p->hold;
	char cause[ZDU_REASON_MAX + 64], a[32], b[32];
	uint64_t now = zdu_now_ms();

	if (!p->hyst.dead_due)
		return;
	if (v->outcome == ZDU_GUARD_RETRY) {
		zdu_log_info("guard: %s; asking again at the next probe", v->reason);
		return;
	}
	if (v->outcome == ZDU_GUARD_DOWN) {
		if (h->active)
			zdu_log_notice("guard: %s without this node (guard.min_up_percent %u%%): down, after "
				       "holding it up for %s (%u checks)", v->reason, v->min_up_percent,
				       zdu_duration_text(now - h->since_ms, a, sizeof(a)), h->checks);
		else
			zdu_log_notice("guard: %s without this node (guard.min_up_percent %u%%): down", v->reason,
				       v->min_up_percent);
		zdu_hysteresis_slow_down(&p->hyst);
		spell_over(p, now);
		snprintf(p->down_reason, sizeof(p->down_reason), "%s: slow for %s", p->name,
			 zdu_duration_text(p->spell.for_ms, b, sizeof(b)));
		memset(h, 0, sizeof(*h));
		p->dead_logged = 0;
		snprintf(cause, sizeof(cause), "guard: %s: down", v->reason);
		apply(p, cause);
		return;
	}
	/* Kept up: too few would stay up, or the peers are unknown. */
	if (!h->active) {
		h->active = 1;
		h->since_ms = now;
		h->since_unix_ms = wall_ms();
		if (v->outcome == ZDU_GUARD_KEEP)
			zdu_log_notice("guard: %s: going down would leave %u of %u nodes up, under "
				       "guard.min_up_percent (%u%%): kept up at the lowest slow weight",
				       v->reason, v->up, v->nodes, v->min_up_percent);
		else
			zdu_log_notice("guard: %s: kept up at the lowest slow weight", v->reason);
	} else if (strcmp(h->reason, v->reason) != 0) {
		zdu_log_notice("guard: still kept up after %s: %s",
			       zdu_duration_text(now - h->since_ms, a, sizeof(a)), v->reason);
	}
	h->checks++;
	h->peers_unknown = v->outcome == ZDU_GUARD_UNKNOWN;
	h->nodes = v->nodes;
	h->up = v->up;
	h->down = v->down;
	h->min_up_percent = v->min_up_percent;
	zdu_strlcpy(h->reason, v->reason, sizeof(h->reason));
	snprintf(cause, sizeof(cause), "guard: %s", v->reason);
	apply(p, cause);
}

/* Slow for dead_after: the guard decides, the node stays as it is until
 * it answers (once per probe: a check in flight is joined). */
static void ask_guard(struct zdu_probe *p)
{
	char a[32], b[32];

	if (!p->dead_logged) {
		zdu_log_notice("probe: %s slow for %s, probe.dead_after_ms (%s) reached: asking the "
			       "fleet guard", p->name, zdu_duration_text(p->spell.for_ms, a, sizeof(a)),
			       zdu_duration_text(p->dead_after_ms, b, sizeof(b)));
		p->dead_logged = 1;
	}
	if (!p->guard || zdu_guard_check(p->guard, guard_answer, p) < 0)
		zdu_log_error("guard: cannot start a check (out of memory?)");
}

/* Both requests of the cycle are in: one verdict enters the state. */
static void cycle_done(struct zdu_probe *p)
{
	struct zdu_hysteresis prev = p->hyst;
	enum zdu_health verdict;
	uint64_t now = zdu_now_ms();
	/* Slow counts as slow only for an up node; otherwise a failure. */
	int counted_slow = p->v.cls == ZDU_PROBE_SLOW && p->dead_after_ms &&
			   prev.verdict == ZDU_HEALTH_UP;
	const char *why;
	char cause[ZDU_REASON_MAX + 64], d[32];

	p->stats.probes++;
	p->stats.last_unix_ms = wall_ms();
	p->stats.last_latency_ms = p->v_latency;
	p->stats.last_http = p->v_http;
	p->stats.last_ok = p->v_ok;
	p->stats.last_class = p->v.cls;
	p->stats.hc_http = p->hc_url ? p->h_http : p->kind->check == zdu_check_healthcheck ? p->v_http : 0;
	p->stats.hc_disabled = p->h_disabled || p->v.disabled;
	/* A late but good document still tells the version. */
	if (p->v.cls != ZDU_PROBE_FAILED && p->v.version[0]) {
		zdu_strlcpy(p->stats.version, p->v.version, sizeof(p->stats.version));
		zdu_strlcpy(p->stats.min_version, p->v.min_version, sizeof(p->stats.min_version));
	}
	zdu_probe_hist_record(&p->stats.hist, p->v_ok ? ZDU_OUTCOME_OK : counted_slow ? ZDU_OUTCOME_SLOW : ZDU_OUTCOME_FAILED,
			      p->v_latency);
	why = counted_slow ? p->v.slow_reason : p->v.reason;
	p->last_started = p->v_started;
	if (p->v_ok) {
		p->stats.last_reason[0] = '\0';
	} else {
		p->stats.failures++;
		zdu_strlcpy(p->stats.last_reason, why, sizeof(p->stats.last_reason));
		zdu_log_debug("probe %s: %s", class_name(p->v.cls), why);
	}

	verdict = zdu_hysteresis_feed_class(&p->hyst, p->v.cls, p->v_started, now);
	track_spell(p, &prev, counted_slow, now);
	if (!p->v_ok) {
		if (verdict == ZDU_HEALTH_DOWN && prev.verdict == ZDU_HEALTH_UP &&
		    p->hyst.fault == ZDU_FAULT_SOFT)
			snprintf(p->down_reason, sizeof(p->down_reason), "%s: slow for %s", p->name,
				 zdu_duration_text(p->spell.for_ms, d, sizeof(d)));
		else if (!(verdict == ZDU_HEALTH_DOWN && p->hyst.fault == ZDU_FAULT_SOFT))
			zdu_strlcpy(p->down_reason, p->v.reason, sizeof(p->down_reason));
		/* else: still slow after going down slow: the reason stays */
	}
	if (p->hyst.dead_due) {
		ask_guard(p);
	} else {
		hold_over(p);
		p->dead_logged = 0;
	}

	snprintf(cause, sizeof(cause), "probe: %s %s (%s)", p->name, zdu_health_name(verdict),
		 p->v_ok ? "answered" : why);
	apply(p, cause);
	if (p->tick_pending) {
		p->tick_pending = 0;
		on_tick(&p->timer);
	} else if (p->rise_interval_ms && p->hyst.verdict != ZDU_HEALTH_UP && p->hyst.ok_streak > 0) {
		/* rising: the next probe soon (HAProxy's fastinter), then the
		 * interval again from there */
		uv_timer_start(&p->timer, on_tick, p->rise_interval_ms, p->interval_ms);
	} else if (restarting(p)) {
		/* flagged and failing: being restarted for its upgrade. Its
		 * return is seen soon, at no client's cost; a drained API that
		 * answers is left alone. */
		uv_timer_start(&p->timer, on_tick, p->maintenance_interval_ms, p->interval_ms);
	} else if (in_maintenance(p) && prev.verdict != ZDU_HEALTH_UP && p->hyst.verdict == ZDU_HEALTH_UP) {
		/* back up under the flag: one more probe soon. The upgrade
		 * command may still be ending (its own readiness check) when
		 * the API is seen back, and zdu-coordinator's wait-healthy
		 * wants a probe that started after the command ended: without
		 * this one it came an interval later. */
		uv_timer_start(&p->timer, on_tick, p->maintenance_interval_ms, p->interval_ms);
	}
}

static void on_version(const struct zdu_http_result *res, void *data)
{
	struct zdu_probe *p = data;

	p->vreq = NULL;
	p->v_done = 1;
	p->v_http = res->status;
	p->v_latency = res->elapsed_ms;
	p->ctx.limit_ms = p->v_limit;
	p->kind->check(&p->ctx, res, &p->v);
	p->v_ok = p->v.cls == ZDU_PROBE_OK;
	p->v_answered = res->curl == CURLE_OK;
	if (!p->v_ok)
		zdu_log_debug("probe: curl code %d (%s), HTTP %ld, %s, %llu ms", (int)res->curl, res->curl_msg,
			      res->status, res->connected ? "connected" : "not connected",
			      (unsigned long long)res->elapsed_ms);
	if (p->h_done)
		cycle_done(p);
}

static void on_healthcheck(const struct zdu_http_result *res, void *data)
{
	struct zdu_probe *p = data;

	p->hreq = NULL;
	p->h_done = 1;
	p->h_http = res->status;
	/* beside a version document: as zdu_nova_healthcheck_disabled() */
	p->h_disabled = zdu_nova_healthcheck_disabled(res);
	if (p->v_done)
		cycle_done(p);
}

static void on_tick(uv_timer_t *t)
{
	struct zdu_probe *p = t->data;

	/* A cycle still in flight (timeout close to the interval, a hung
	 * API): start the next one as soon as it ends, so a hang costs no
	 * probe and fall intervals stay fall intervals. */
	if (p->vreq || p->hreq) {
		p->tick_pending = 1;
		return;
	}
	p->v_done = p->h_done = 0;
	p->h_disabled = 0;
	p->h_http = 0;
	/* An up node's probe may run on past timeout_ms, to tell how slow it
	 * is. So may a restarting API's: an API that binds its port before it
	 * has loaded (uwsgi) holds the request in its listen queue and answers
	 * it the moment it is ready, while a request cut at timeout_ms only
	 * waits there for nothing and its successor comes later (a late
	 * answer still counts as failed: slowness holds up only an up node).
	 * Any other's is cut at timeout_ms, where slowness is a failure. */
	p->v_limit = (p->dead_after_ms && p->hyst.verdict == ZDU_HEALTH_UP) || restarting(p)
			     ? p->slow_timeout_ms
			     : p->timeout_ms;
	p->vopts.timeout_ms = p->v_limit;
	p->v_started = zdu_now_ms();
	p->vreq = zdu_http_request(p->http, &p->vopts, on_version, p);
	if (!p->vreq) {
		zdu_log_error("probe: cannot start a request (out of memory?)");
		return;
	}
	if (p->hc_url) {
		p->hreq = zdu_http_request(p->http, &p->hopts, on_healthcheck, p);
		if (!p->hreq)
			p->h_done = 1;
	} else {
		p->h_done = 1;
	}
}

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

/* The URL curl is given: tcp://HOST:PORT is connected to as http://HOST:PORT
 * with CURLOPT_CONNECT_ONLY (the scheme only says how to parse it). */
static char *request_url(const struct zdu_service_cfg *svc)
{
	char *u = NULL;

	if (svc->probe_kind == ZDU_PROBE_KIND_TCP && strncmp(svc->url, "tcp://", 6) == 0) {
		if (asprintf(&u, "http://%s", svc->url + 6) < 0)
			return NULL;
		return u;
	}
	return strdup(svc->url);
}

/* What the probe keeps of svc: its own copies, the kind's context pointing
 * into them. */
static int copy_service(struct zdu_probe *p, const struct zdu_service_cfg *svc)
{
	size_t i;

	p->kind = zdu_check_kind(svc->probe_kind);
	if (!(p->name = strdup(svc->name)) || !(p->url = strdup(svc->url)) || !(p->req_url = request_url(svc)))
		return -1;
	p->hc_url = p->kind->side_healthcheck ? dup_or_null(svc->healthcheck_url) : NULL;
	if ((p->kind->side_healthcheck && svc->healthcheck_url && *svc->healthcheck_url && !p->hc_url))
		return -1;
	p->version_path = dup_or_null(svc->version_path);
	p->min_version_path = dup_or_null(svc->min_version_path);
	p->version_header = dup_or_null(svc->version_header);
	p->expect = calloc(svc->expect_status.n + 1, sizeof(int));
	p->headers = calloc(svc->headers.n + 1, sizeof(char *));
	if (!p->expect || !p->headers)
		return -1;
	for (i = 0; i < svc->expect_status.n; i++)
		p->expect[i] = svc->expect_status.v[i];
	for (i = 0; i < svc->headers.n; i++) {
		if (!(p->headers[i] = strdup(svc->headers.v[i])))
			return -1;
		p->nheaders++;
	}
	p->ctx = (struct zdu_check_ctx){
		.name = p->name,
		.timeout_ms = svc->timeout_ms,
		.limit_ms = svc->timeout_ms,
		.version_path = p->version_path,
		.min_version_path = p->min_version_path,
		.version_header = p->version_header,
		.expect_status = p->expect,
		.nexpect = svc->expect_status.n,
	};
	return 0;
}

struct zdu_probe *zdu_probe_new(uv_loop_t *loop, struct zdu_state *state, struct zdu_http *http,
				const struct zdu_config *cfg, const struct zdu_service_cfg *svc,
				const struct zdu_probe *inherit)
{
	struct zdu_probe *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->loop = loop;
	p->state = state;
	p->http = http;
	p->ca_file = dup_or_null(cfg->probe_ca_file);
	p->client_cert = dup_or_null(cfg->probe_client_cert);
	p->client_key = dup_or_null(cfg->probe_client_key);
	if (copy_service(p, svc) < 0)
		goto fail;
	p->vopts = (struct zdu_http_opts){
		.url = p->req_url,
		.timeout_ms = svc->timeout_ms,
		.connect_timeout_ms = svc->connect_timeout_ms,
		.max_body = (size_t)cfg->probe_max_body_bytes,
		.ca_file = p->ca_file,
		.client_cert = p->client_cert,
		.client_key = p->client_key,
		.verify = cfg->probe_verify,
		.headers = (const char *const *)p->headers,
		.nheaders = p->nheaders,
	};
	p->hopts = p->vopts;
	p->hopts.url = p->hc_url;
	p->vopts.capture_header = p->version_header;
	p->vopts.connect_only = p->kind->connect_only;
	p->timeout_ms = svc->timeout_ms;
	p->slow_timeout_ms = svc->slow_timeout_ms > svc->timeout_ms ? svc->slow_timeout_ms : svc->timeout_ms;
	p->dead_after_ms = (uint64_t)svc->dead_after_ms;
	p->interval_ms = (uint64_t)svc->interval_ms;
	p->rise_interval_ms = svc->rise_interval_ms > 0 && svc->rise_interval_ms < svc->interval_ms
				      ? (uint64_t)svc->rise_interval_ms
				      : 0;
	p->maintenance_interval_ms = svc->maintenance_interval_ms > 0 && svc->maintenance_interval_ms < svc->interval_ms
				       ? (uint64_t)svc->maintenance_interval_ms
				       : 0;
	zdu_hysteresis_init(&p->hyst, svc->rise, svc->fall);
	if (inherit) {
		/* Verdict, streaks and a slow spell go on under the new settings. */
		p->hyst = inherit->hyst;
		p->hyst.rise = svc->rise;
		p->hyst.fall = svc->fall;
		p->stats = inherit->stats;
		p->spell = inherit->spell;
		p->hold = inherit->hold;
		p->dead_logged = inherit->dead_logged;
		memcpy(p->down_reason, inherit->down_reason, sizeof(p->down_reason));
		memcpy(p->slow_reason, inherit->slow_reason, sizeof(p->slow_reason));
	}
	zdu_hysteresis_set_dead_after(&p->hyst, p->dead_after_ms);
	/* No guard until zdu_probe_set_guard(). */
	zdu_hysteresis_set_guarded(&p->hyst, 0);
	uv_timer_init(loop, &p->timer);
	p->timer.data = p;
	uv_timer_start(&p->timer, on_tick, 0, p->interval_ms);
	return p;
fail:
	probe_free(p);
	return NULL;
}

const char *zdu_probe_service(const struct zdu_probe *p)
{
	return p->name;
}

static void timer_closed(uv_handle_t *h)
{
	probe_free(h->data);
}

void zdu_probe_set_guard(struct zdu_probe *p, struct zdu_guard *g)
{
	if (p->guard && p->guard != g)
		zdu_guard_forget(p->guard, p);
	p->guard = g;
	zdu_hysteresis_set_guarded(&p->hyst, g != NULL);
}

void zdu_probe_close(struct zdu_probe *p)
{
	if (p->guard)
		zdu_guard_forget(p->guard, p);
	p->guard = NULL;
	if (p->vreq)
		zdu_http_cancel(p->vreq);
	if (p->hreq)
		zdu_http_cancel(p->hreq);
	p->vreq = p->hreq = NULL;
	uv_close((uv_handle_t *)&p->timer, timer_closed);
}

json_t *zdu_probe_status_json(const struct zdu_probe *p)
{
	const struct zdu_probe_stats *s = &p->stats;
	json_t *o;

	o = json_pack("{s:s,s:s?,s:I,s:I,s:I,s:I,s:I,s:b,s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:I,s:b}", "url",
		      p->url, "healthcheck_url", p->hc_url, "probes", (json_int_t)s->probes, "failures",
		      (json_int_t)s->failures, "last_unix_ms", (json_int_t)s->last_unix_ms,
		      "last_latency_ms", (json_int_t)s->last_latency_ms, "last_http",
		      (json_int_t)s->last_http, "last_ok", s->last_ok, "last_reason", s->last_reason,
		      "version", s->version, "min_version", s->min_version,
		      "ok_streak", p->hyst.ok_streak, "fail_streak", p->hyst.fail_streak, "rise",
		      p->hyst.rise, "fall", p->hyst.fall, "healthcheck_http", (json_int_t)s->hc_http,
		      "healthcheck_disabled", s->hc_disabled);
	if (!o)
		return NULL;
	json_object_set_new(o, "last_class", json_string(s->probes ? class_name(s->last_class) : ""));
	json_object_set_new(o, "slow_probes", json_integer((json_int_t)s->slow));
	/* how long ago the last finished probe started, on the agent's own
	 * clock at this answer (-1: none yet): the coordinator tells a probe
	 * of the new release from one of the old without comparing clocks */
	json_object_set_new(o, "last_started_age_ms",
			    json_integer(p->last_started ? (json_int_t)(zdu_now_ms() - p->last_started) : -1));
	json_object_set_new(o, "hard_streak", json_integer(p->hyst.hard_streak));
	json_object_set_new(o, "timeout_ms", json_integer(p->timeout_ms));
	json_object_set_new(o, "slow_timeout_ms", json_integer(p->slow_timeout_ms));
	json_object_set_new(o, "dead_after_ms", json_integer((json_int_t)p->dead_after_ms));
	json_object_update_new(o, zdu_probe_hist_json(&s->hist));
	json_object_set_new(o, "service", json_string(p->name));
	json_object_set_new(o, "kind", json_string(p->kind->name));
	return o;
}
