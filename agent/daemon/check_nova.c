/* The nova kind: nova-api's version document (GET /v2.1/), and the
 * zdu_nova_* functions of zdu/nova.h on which it is built. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/check.h"
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

/* The nova kind for any name: an HTTP answer, 200, a good document. */
static int judge(const char *name, const struct zdu_http_result *res, long timeout_ms, struct zdu_nova_version *out,
		 char *reason, size_t reason_size)
{
	char why[ZDU_REASON_MAX - 16];

	memset(out, 0, sizeof(*out));
	if (zdu_check_transport(name, res, timeout_ms, reason, reason_size) < 0)
		return -1;
	if (res->status != 200) {
		snprintf(reason, reason_size, "%s: HTTP %ld", name, res->status);
		return -1;
	}
	if (zdu_nova_parse_version(res->body, res->len, out, why, sizeof(why)) < 0) {
		snprintf(reason, reason_size, "%s: %s", name, why);
		return -1;
	}
	return 0;
}

int zdu_nova_judge(const struct zdu_http_result *res, long timeout_ms, struct zdu_nova_version *out,
		   char *reason, size_t reason_size)
{
	return judge("nova-api", res, timeout_ms, out, reason, reason_size);
}

void zdu_check_nova(const struct zdu_check_ctx *c, const struct zdu_http_result *res,
		    struct zdu_check_result *out)
{
	struct zdu_nova_version v;
	int good;

	memset(out, 0, sizeof(*out));
	good = judge(c->name, res, c->timeout_ms, &v, out->reason, sizeof(out->reason)) == 0;
	if (good) {
		zdu_strlcpy(out->version, v.version, sizeof(out->version));
		zdu_strlcpy(out->min_version, v.min_version, sizeof(out->min_version));
	}
	zdu_check_finish(c, res, good, out);
}

enum zdu_probe_class zdu_nova_classify(const struct zdu_http_result *res, long timeout_ms, long limit_ms,
				       struct zdu_nova_version *out, char *reason, size_t reason_size,
				       char *slow_reason, size_t slow_size)
{
	struct zdu_check_ctx c = { .name = "nova-api", .timeout_ms = timeout_ms, .limit_ms = limit_ms };
	struct zdu_check_result r;

	zdu_check_nova(&c, res, &r);
	memset(out, 0, sizeof(*out));
	zdu_strlcpy(out->version, r.version, sizeof(out->version));
	zdu_strlcpy(out->min_version, r.min_version, sizeof(out->min_version));
	zdu_strlcpy(reason, r.reason, reason_size);
	zdu_strlcpy(slow_reason, r.slow_reason, slow_size);
	return r.cls;
}

int zdu_nova_healthcheck_disabled(const struct zdu_http_result *res)
{
	return res->curl == CURLE_OK && res->status == 503 && res->len > 0 &&
	       memmem(res->body, res->len, "DISABLED", 8) != NULL;
}
