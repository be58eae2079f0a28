#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/common.h"
#include "zdu/nova.h"

static int valid_mv(const char *s)
{
	int ok;

	zdu_microversion_cmp(s, "2.1", &ok);
	return ok && strlen(s) < ZDU_VERSION_MAX;
}

int zdu_nova_parse_version(const char *body, size_t len, struct zdu_nova_version *out, char *reason,
			   size_t reason_size)
{
	json_error_t jerr;
	json_t *root, *v, *status, *ver, *min;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(reason, reason_size, "invalid JSON at byte %d", jerr.position);
		return -1;
	}
	v = json_object_get(root, "version");
	if (!json_is_object(v)) {
		snprintf(reason, reason_size, "no version object in the answer");
		goto out;
	}
	status = json_object_get(v, "status");
	ver = json_object_get(v, "version");
	min = json_object_get(v, "min_version");
	if (!json_is_string(status)) {
		snprintf(reason, reason_size, "no version status in the answer");
		goto out;
	}
	if (strcmp(json_string_value(status), "CURRENT") != 0) {
		char s[32];

		zdu_text_sanitize(s, sizeof(s), json_string_value(status), json_string_length(status));
		snprintf(reason, reason_size, "version status %s, not CURRENT", s);
		goto out;
	}
	if (!json_is_string(ver) || !valid_mv(json_string_value(ver))) {
		snprintf(reason, reason_size, "no valid maximum version in the answer");
		goto out;
	}
	zdu_strlcpy(out->version, json_string_value(ver), sizeof(out->version));
	/* min_version is informational: an odd one is left empty, not fatal. */
	if (json_is_string(min) && valid_mv(json_string_value(min)))
		zdu_strlcpy(out->min_version, json_string_value(min), sizeof(out->min_version));
	rc = 0;
out:
	json_decref(root);
	return rc;
}

int zdu_nova_judge(const struct zdu_http_result *res, long timeout_ms, struct zdu_nova_version *out,
		   char *reason, size_t reason_size)
{
	char why[ZDU_REASON_MAX - 16];

	memset(out, 0, sizeof(*out));
	if (res->too_big) {
		snprintf(reason, reason_size, "nova-api: body over %zu bytes", res->max_body);
		return -1;
	}
	switch (res->curl) {
	case CURLE_OK:
		break;
	case CURLE_COULDNT_CONNECT:
		snprintf(reason, reason_size, "nova-api: connection refused");
		return -1;
	case CURLE_OPERATION_TIMEDOUT:
		snprintf(reason, reason_size, "nova-api: timeout after %ld ms", timeout_ms);
		return -1;
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(reason, reason_size, "nova-api: cannot resolve the host");
		return -1;
	case CURLE_GOT_NOTHING:
		snprintf(reason, reason_size, "nova-api: empty answer");
		return -1;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		/* TLS 1.3 refuses a missing or bad client certificate after
		 * the handshake, by closing: over https that is a TLS failure,
		 * not a plain reset (libcurl does not always keep the alert). */
		if (res->tls || strstr(res->curl_msg, "SSL")) {
			zdu_text_sanitize(why, sizeof(why), res->curl_msg, strlen(res->curl_msg));
			snprintf(reason, reason_size, "nova-api: TLS: connection closed by the server "
				 "(client certificate refused?): %s", why);
		} else {
			snprintf(reason, reason_size, "nova-api: connection reset");
		}
		return -1;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
		zdu_text_sanitize(why, sizeof(why), res->curl_msg, strlen(res->curl_msg));
		snprintf(reason, reason_size, "nova-api: TLS: %s", why);
		return -1;
	default:
		zdu_text_sanitize(why, sizeof(why), res->curl_msg, strlen(res->curl_msg));
		snprintf(reason, reason_size, "nova-api: %s", why);
		return -1;
	}
	if (res->status != 200) {
		snprintf(reason, reason_size, "nova-api: HTTP %ld", res->status);
		return -1;
	}
	if (zdu_nova_parse_version(res->body, res->len, out, why, sizeof(why)) < 0) {
		snprintf(reason, reason_size, "nova-api: %s", why);
		return -1;
	}
	return 0;
}

enum zdu_probe_class zdu_nova_classify(const struct zdu_http_result *res, long timeout_ms, long limit_ms,
				       struct zdu_nova_version *out, char *reason, size_t reason_size,
				       char *slow_reason, size_t slow_size)
{
	char d[32];

	slow_reason[0] = '\0';
	if (zdu_nova_judge(res, timeout_ms, out, reason, reason_size) == 0) {
		/* A good document that came after probe.timeout_ms: only a
		 * request allowed to run longer can bring one. */
		if (limit_ms <= timeout_ms || res->elapsed_ms <= (uint64_t)timeout_ms)
			return ZDU_PROBE_OK;
		snprintf(reason, reason_size, "nova-api: timeout after %ld ms", timeout_ms);
		snprintf(slow_reason, slow_size, "nova-api: slow: %s",
			 zdu_duration_text(res->elapsed_ms, d, sizeof(d)));
		return ZDU_PROBE_SLOW;
	}
	if (res->curl != CURLE_OPERATION_TIMEDOUT || res->too_big)
		return ZDU_PROBE_FAILED;
	if (!res->connected) {
		/* Nobody took the connection: a listen queue full or a
		 * firewall dropping, not an API at work. */
		snprintf(reason, reason_size, "nova-api: connect timeout");
		return ZDU_PROBE_FAILED;
	}
	snprintf(slow_reason, slow_size, "nova-api: slow: no answer in %s",
		 zdu_duration_text((uint64_t)limit_ms, d, sizeof(d)));
	return ZDU_PROBE_SLOW;
}

int zdu_nova_healthcheck_disabled(const struct zdu_http_result *res)
{
	return res->curl == CURLE_OK && res->status == 503 && res->len > 0 &&
	       memmem(res->body, res->len, "DISABLED", 8) != NULL;
}
