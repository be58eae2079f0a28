/* What every probe kind shares: the kind table, the transport's reasons and
 * the slow/failed split (see zdu/check.h). */
#include <stdio.h>
#include <string.h>

#include "zdu/check.h"
#include "zdu/common.h"

static const struct zdu_check_kind kinds[] = {
	[ZDU_PROBE_KIND_NOVA] = { "nova", zdu_check_nova, 0, 1 },
	[ZDU_PROBE_KIND_MICROVERSION] = { "microversion", zdu_check_microversion, 0, 1 },
	[ZDU_PROBE_KIND_HEALTHCHECK] = { "healthcheck", zdu_check_healthcheck, 0, 0 },
	[ZDU_PROBE_KIND_HTTP] = { "http", zdu_check_http, 0, 0 },
	[ZDU_PROBE_KIND_TCP] = { "tcp", zdu_check_tcp, 1, 0 },
};

const struct zdu_check_kind *zdu_check_kind(int kind)
{
	if (kind < 0 || (size_t)kind >= ZDU_ARRAY_SIZE(kinds))
		return &kinds[ZDU_PROBE_KIND_NOVA];
	return &kinds[kind];
}

int zdu_check_transport(const char *name, const struct zdu_http_result *res, long timeout_ms, char *reason,
			size_t reason_size)
{
	char why[ZDU_REASON_MAX - 16];

	if (res->too_big) {
		snprintf(reason, reason_size, "%s: body over %zu bytes", name, res->max_body);
		return -1;
	}
	switch (res->curl) {
	case CURLE_OK:
		return 0;
	case CURLE_COULDNT_CONNECT:
		snprintf(reason, reason_size, "%s: connection refused", name);
		return -1;
	case CURLE_OPERATION_TIMEDOUT:
		snprintf(reason, reason_size, "%s: timeout after %ld ms", name, timeout_ms);
		return -1;
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(reason, reason_size, "%s: cannot resolve the host", name);
		return -1;
	case CURLE_GOT_NOTHING:
		snprintf(reason, reason_size, "%s: empty answer", name);
		return -1;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		/* TLS 1.3 refuses a missing or bad client certificate after
		 * the handshake, by closing: over https that is a TLS failure,
		 * not a plain reset (libcurl does not always keep the alert). */
		if (res->tls || strstr(res->curl_msg, "SSL")) {
			zdu_text_sanitize(why, sizeof(why), res->curl_msg, strlen(res->curl_msg));
			snprintf(reason, reason_size, "%s: TLS: connection closed by the server "
				 "(client certificate refused?): %s", name, why);
		} else {
			snprintf(reason, reason_size, "%s: connection reset", name);
		}
		return -1;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
		zdu_text_sanitize(why, sizeof(why), res->curl_msg, strlen(res->curl_msg));
		snprintf(reason, reason_size, "%s: TLS: %s", name, why);
		return -1;
	default:
		zdu_text_sanitize(why, sizeof(why), res->curl_msg, strlen(res->curl_msg));
		snprintf(reason, reason_size, "%s: %s", name, why);
		return -1;
	}
}

void zdu_check_finish(const struct zdu_check_ctx *c, const struct zdu_http_result *res, int good,
		      struct zdu_check_result *out)
{
	char d[32];

	out->slow_reason[0] = '\0';
	if (good) {
		/* A good answer that came after timeout_ms: only a request
		 * allowed to run longer can bring one. */
		out->reason[0] = '\0';
		if (c->limit_ms <= c->timeout_ms || res->elapsed_ms <= (uint64_t)c->timeout_ms) {
			out->cls = ZDU_PROBE_OK;
			return;
		}
		snprintf(out->reason, sizeof(out->reason), "%s: timeout after %ld ms", c->name, c->timeout_ms);
		snprintf(out->slow_reason, sizeof(out->slow_reason), "%s: slow: %s", c->name,
			 zdu_duration_text(res->elapsed_ms, d, sizeof(d)));
		out->cls = ZDU_PROBE_SLOW;
		return;
	}
	out->cls = ZDU_PROBE_FAILED;
	if (res->curl != CURLE_OPERATION_TIMEDOUT || res->too_big)
		return;
	if (!res->connected) {
		/* Nobody took the connection: a listen queue full or a
		 * firewall dropping, not an API at work. */
		snprintf(out->reason, sizeof(out->reason), "%s: connect timeout", c->name);
		return;
	}
	snprintf(out->slow_reason, sizeof(out->slow_reason), "%s: slow: no answer in %s", c->name,
		 zdu_duration_text((uint64_t)c->limit_ms, d, sizeof(d)));
	out->cls = ZDU_PROBE_SLOW;
}
