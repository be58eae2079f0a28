#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "zdu/common.h"
#include "zdu/log.h"
#include "zdu/probe.h"

static void probe_free(struct zdu_probe *p)
{
	size_t i;

	free(p->url);
	free(p->hc_url);
	free(p->ca_file);
	free(p->client_cert);
	free(p->client_key);
	for (i = 0; i < p->nheaders; i++)
		free(p->headers[i]);
	free(p->headers);
	free(p);
}

static const char *health_word(enum zdu_health h)
{
	return h == ZDU_HEALTH_UP ? "up" : h == ZDU_HEALTH_DOWN ? "down" : "unknown";
}

static void on_tick(uv_timer_t *t);

/* Both requests of the cycle are in: one verdict enters the state. */
static void cycle_done(struct zdu_probe *p)
{
	struct zdu_health_state hs;
	struct zdu_event ev = { .kind = ZDU_EV_HEALTH, .health = &hs };
	enum zdu_health verdict;
	struct timeval tv;
	char cause[ZDU_REASON_MAX + 64];

	gettimeofday(&tv, NULL);
	p->stats.probes++;
	p->stats.last_unix_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
	p->stats.last_latency_ms = p->v_latency;
	p->stats.last_http = p->v_http;
	p->stats.last_ok = p->v_ok;
	p->stats.hc_http = p->h_http;
	p->stats.hc_disabled = p->h_disabled;
	if (p->v_ok) {
		p->stats.last_reason[0] = '\0';
		p->stats.last_version = p->v_version;
	} else {
		p->stats.failures++;
		zdu_strlcpy(p->stats.last_reason, p->v_reason, sizeof(p->stats.last_reason));
		zdu_strlcpy(p->down_reason, p->v_reason, sizeof(p->down_reason));
		zdu_log_debug("probe failed: %s", p->v_reason);
	}

	verdict = zdu_hysteresis_feed(&p->hyst, p->v_ok);
	memset(&hs, 0, sizeof(hs));
	hs.health = verdict;
	/* The version of the last success stays known while the node is down,
	 * for the status; the reply shows it only while up. */
	zdu_strlcpy(hs.version, p->stats.last_version.version, sizeof(hs.version));
	zdu_strlcpy(hs.min_version, p->stats.last_version.min_version, sizeof(hs.min_version));
	if (verdict == ZDU_HEALTH_DOWN)
		zdu_strlcpy(hs.reason, p->down_reason, sizeof(hs.reason));
	if (p->h_disabled) {
		hs.disabled = 1;
		zdu_strlcpy(hs.disabled_reason, "nova-api: healthcheck disabled by file",
			    sizeof(hs.disabled_reason));
	}
	snprintf(cause, sizeof(cause), "probe: nova-api %s (%s)", health_word(verdict),
		 p->v_ok ? "answered" : p->v_reason);
	ev.cause = cause;
	zdu_state_apply(p->state, &ev);
	if (p->tick_pending) {
		p->tick_pending = 0;
		on_tick(&p->timer);
	}
}

static void on_version(const struct zdu_http_result *res, void *data)
{
	struct zdu_probe *p = data;

	p->vreq = NULL;
	p->v_done = 1;
	p->v_http = res->status;
	p->v_latency = res->elapsed_ms;
	p->v_ok = zdu_nova_judge(res, p->vopts.timeout_ms, &p->v_version, p->v_reason,
				 sizeof(p->v_reason)) == 0;
	if (!p->v_ok)
		zdu_log_debug("probe: curl code %d (%s), HTTP %ld", (int)res->curl, res->curl_msg, res->status);
	if (p->h_done)
		cycle_done(p);
}

static void on_healthcheck(const struct zdu_http_result *res, void *data)
{
	struct zdu_probe *p = data;

	p->hreq = NULL;
	p->h_done = 1;
	p->h_http = res->status;
	p->h_disabled = zdu_nova_healthcheck_disabled(res);
	if (p->v_done)
		cycle_done(p);
}

static void on_tick(uv_timer_t *t)
{
	struct zdu_probe *p = t->data;

	/* A cycle still in flight (timeout close to the interval, a hung
	 * nova-api): start the next one as soon as it ends, so a hang costs no
	 * probe and fall intervals stay fall intervals. */
	if (p->vreq || p->hreq) {
		p->tick_pending = 1;
		return;
	}
	p->v_done = p->h_done = 0;
	p->h_disabled = 0;
	p->h_http = 0;
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

struct zdu_probe *zdu_probe_new(uv_loop_t *loop, struct zdu_state *state, struct zdu_http *http,
				const struct zdu_config *cfg, const struct zdu_probe *inherit)
{
	struct zdu_probe *p = calloc(1, sizeof(*p));
	size_t i;

	if (!p)
		return NULL;
	p->loop = loop;
	p->state = state;
	p->http = http;
	p->url = strdup(cfg->probe_url);
	p->hc_url = dup_or_null(cfg->probe_healthcheck_url);
	p->ca_file = dup_or_null(cfg->probe_ca_file);
	p->client_cert = dup_or_null(cfg->probe_client_cert);
	p->client_key = dup_or_null(cfg->probe_client_key);
	p->headers = calloc(cfg->probe_headers.n + 1, sizeof(char *));
	if (!p->url || !p->headers)
		goto fail;
	for (i = 0; i < cfg->probe_headers.n; i++) {
		if (!(p->headers[i] = strdup(cfg->probe_headers.v[i])))
			goto fail;
		p->nheaders++;
	}
	p->vopts = (struct zdu_http_opts){
		.url = p->url,
		.timeout_ms = cfg->probe_timeout_ms,
		.connect_timeout_ms = cfg->probe_connect_timeout_ms,
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
	zdu_hysteresis_init(&p->hyst, cfg->probe_rise, cfg->probe_fall);
	if (inherit) {
		p->hyst.verdict = inherit->hyst.verdict;
		p->hyst.ok_streak = inherit->hyst.ok_streak;
		p->hyst.fail_streak = inherit->hyst.fail_streak;
		p->stats = inherit->stats;
		memcpy(p->down_reason, inherit->down_reason, sizeof(p->down_reason));
	}
	uv_timer_init(loop, &p->timer);
	p->timer.data = p;
	uv_timer_start(&p->timer, on_tick, 0, (uint64_t)cfg->probe_interval_ms);
	return p;
fail:
	probe_free(p);
	return NULL;
}

static void timer_closed(uv_handle_t *h)
{
	probe_free(h->data);
}

void zdu_probe_close(struct zdu_probe *p)
{
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

	return json_pack("{s:s,s:s?,s:I,s:I,s:I,s:I,s:I,s:b,s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:I,s:b}", "url",
			 p->url, "healthcheck_url", p->hc_url, "probes", (json_int_t)s->probes, "failures",
			 (json_int_t)s->failures, "last_unix_ms", (json_int_t)s->last_unix_ms,
			 "last_latency_ms", (json_int_t)s->last_latency_ms, "last_http",
			 (json_int_t)s->last_http, "last_ok", s->last_ok, "last_reason", s->last_reason,
			 "version", s->last_version.version, "min_version", s->last_version.min_version,
			 "ok_streak", p->hyst.ok_streak, "fail_streak", p->hyst.fail_streak, "rise",
			 p->hyst.rise, "fall", p->hyst.fall, "healthcheck_http", (json_int_t)s->hc_http,
			 "healthcheck_disabled", s->hc_disabled);
}
