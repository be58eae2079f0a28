/* The nova-api probe: timer -> HTTP GET (libcurl on the loop) -> verdict
 * of nova.c -> hysteresis -> one ZDU_EV_HEALTH into the state. Optionally
 * oslo's healthcheck in the same cycle: disabled by file means drained. */
#ifndef ZDU_PROBE_H
#define ZDU_PROBE_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "zdu/config-t.h"
#include "zdu/health.h"
#include "zdu/http.h"
#include "zdu/nova.h"
#include "zdu/state.h"

struct zdu_probe_stats {
	uint64_t probes;
	uint64_t failures;
	int64_t last_unix_ms; /* wall clock of the last finished probe, informational */
	uint64_t last_latency_ms;
	long last_http;
	int last_ok;
	char last_reason[ZDU_REASON_MAX];
	struct zdu_nova_version last_version; /* of the last success */
	long hc_http;    /* last healthcheck status, 0 when none */
	int hc_disabled;
};

struct zdu_probe {
	uv_loop_t *loop;
	struct zdu_state *state;
	struct zdu_http *http;
	uv_timer_t timer;
	struct zdu_http_opts vopts, hopts;
	char *url, *hc_url, *ca_file, *client_cert, *client_key;
	char **headers;
	size_t nheaders;
	struct zdu_http_req *vreq, *hreq;
	int tick_pending; /* a tick came while a cycle was still in flight */
	/* results of the cycle in flight */
	int v_done, h_done, v_ok, h_disabled;
	long v_http, h_http;
	uint64_t v_latency;
	char v_reason[ZDU_REASON_MAX];
	struct zdu_nova_version v_version;
	struct zdu_hysteresis hyst;
	char down_reason[ZDU_REASON_MAX]; /* last failure: said while down */
	struct zdu_probe_stats stats;
};

/* Starts probing at once, then every probe.interval_ms. inherit (may be
 * NULL) carries the verdict and streaks across a reload. */
struct zdu_probe *zdu_probe_new(uv_loop_t *loop, struct zdu_state *state, struct zdu_http *http,
				const struct zdu_config *cfg, const struct zdu_probe *inherit);
void zdu_probe_close(struct zdu_probe *p);
json_t *zdu_probe_status_json(const struct zdu_probe *p);

#endif
