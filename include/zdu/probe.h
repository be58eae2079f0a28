/* The nova-api probe: timer -> HTTP GET (libcurl on the loop) -> class of
 * nova.c (ok, slow, failed) -> hysteresis with the slow/dead split -> one
 * ZDU_EV_HEALTH into the state. With a fleet guard, slowness past
 * dead_after asks it first; its answer enters the state the same way. Optionally oslo's healthcheck in the same
 * cycle: disabled by file means drained. The probe of an up node may run
 * until probe.slow_timeout_ms, to measure how slow it is; one probe at a
 * time, the next starting as soon as a late one ends. */
#ifndef ZDU_PROBE_H
#define ZDU_PROBE_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "zdu/config-t.h"
#include "zdu/guard.h"
#include "zdu/health.h"
#include "zdu/http.h"
#include "zdu/nova.h"
#include "zdu/probe_stats.h"
#include "zdu/state.h"

struct zdu_probe_stats {
	uint64_t probes;
	uint64_t failures; /* probes not OK, slow ones included */
	uint64_t slow;     /* probes counted as slow (of an up node) */
	int64_t last_unix_ms; /* wall clock of the last finished probe, informational */
	uint64_t last_latency_ms;
	long last_http;
	int last_ok;
	enum zdu_probe_class last_class;
	char last_reason[ZDU_REASON_MAX];
	struct zdu_nova_version last_version; /* of the last success */
	long hc_http;    /* last healthcheck status, 0 when none */
	int hc_disabled;
	struct zdu_probe_hist hist; /* outcomes and durations, for metrics */
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
	long timeout_ms, slow_timeout_ms; /* the latter at least the former */
	uint64_t dead_after_ms;
	/* results of the cycle in flight */
	int v_done, h_done, v_ok, h_disabled;
	int v_answered; /* a whole answer came (else: cut by the timeout) */
	enum zdu_probe_class v_class;
	long v_http, h_http, v_limit;
	uint64_t v_started, v_latency;
	char v_reason[ZDU_REASON_MAX], v_slow_reason[ZDU_REASON_MAX];
	struct zdu_nova_version v_version;
	struct zdu_hysteresis hyst;
	char down_reason[ZDU_REASON_MAX]; /* last failure: said while down */
	/* The slow spell of an up node, for the reply, status and logs. */
	char slow_reason[ZDU_REASON_MAX];
	struct zdu_slow_state spell;
	struct zdu_probe_stats stats;
	/* The fleet guard (NULL: none): asked when slowness would take the
	 * node down; hold is its answer while it keeps the node up. */
	struct zdu_guard *guard;
	struct zdu_guard_hold hold;
	int dead_logged; /* "dead_after reached: asking the guard" said for this spell */
};

/* Starts probing at once, then every probe.interval_ms. inherit (may be
 * NULL) carries the verdict and streaks across a reload. */
struct zdu_probe *zdu_probe_new(uv_loop_t *loop, struct zdu_state *state, struct zdu_http *http,
				const struct zdu_config *cfg, const struct zdu_service_cfg *svc,
				const struct zdu_probe *inherit);
void zdu_probe_close(struct zdu_probe *p);
/* The fleet guard to ask before slowness takes the node down (NULL: none,
 * slowness takes it down at dead_after as without etcd). Borrowed. */
void zdu_probe_set_guard(struct zdu_probe *p, struct zdu_guard *g);
json_t *zdu_probe_status_json(const struct zdu_probe *p);

#endif
