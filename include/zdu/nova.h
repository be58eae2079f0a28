/* What nova-api's answers mean: the version document of GET /v2.1/ and the
 * probe outcome as a reason a person understands. Pure functions. */
#ifndef ZDU_NOVA_H
#define ZDU_NOVA_H

#include <stddef.h>
#include <stdint.h>

#include "zdu/health.h"
#include "zdu/http.h"
#include "zdu/microversion.h"
#include "zdu/state-t.h"
#include "zdu/nova-t.h"

/* Parses a version document: {"version": {"status": "CURRENT",
 * "version": "2.93", "min_version": "2.1", ...}}. Returns 0 when the node
 * serves, else -1 with reason ("invalid JSON at byte 17"). */
int zdu_nova_parse_version(const char *body, size_t len, struct zdu_nova_version *out, char *reason,
			   size_t reason_size);

/* Judges one version-document probe: 0 healthy (out filled), -1 with a
 * reason prefixed "nova-api: ". */
int zdu_nova_judge(const struct zdu_http_result *res, long timeout_ms, struct zdu_nova_version *out,
		   char *reason, size_t reason_size);

/* Classifies one version-document probe for the slow/dead split.
 * timeout_ms is probe.timeout_ms; limit_ms the time the request was allowed
 * (probe.slow_timeout_ms for an up node, else timeout_ms).
 *   ZDU_PROBE_OK:     a good document within timeout_ms (out filled);
 *   ZDU_PROBE_FAILED: refused, reset, connect timeout, TLS, 5xx, a wrong
 *                     document (late or not): reason as zdu_nova_judge();
 *   ZDU_PROBE_SLOW:   connected but no good document within timeout_ms: a
 *                     good one later (out filled), or none before limit_ms.
 *                     reason says what a failure would ("nova-api: timeout
 *                     after 450 ms"), slow_reason how slow ("nova-api: slow:
 *                     1.2 s", "nova-api: slow: no answer in 5.0 s"). */
enum zdu_probe_class zdu_nova_classify(const struct zdu_http_result *res, long timeout_ms, long limit_ms,
				       struct zdu_nova_version *out, char *reason, size_t reason_size,
				       char *slow_reason, size_t slow_size);

/* Judges oslo's healthcheck answer: 1 when it says disabled (HTTP 503 with
 * "DISABLED" in the body), 0 otherwise. A healthcheck that cannot be
 * reached is not a verdict on its own: the version document decides. */
int zdu_nova_healthcheck_disabled(const struct zdu_http_result *res);

#endif
