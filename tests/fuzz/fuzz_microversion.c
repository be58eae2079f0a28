/* The microversion probe kind (agent/daemon/check_microversion.c): its path
 * parser and evaluator (zdu_check_path_valid, zdu_check_json_path), the
 * version document reader (zdu_check_version_doc) and the kind itself
 * (zdu_check_microversion) on an answer as http.c hands it over, with or
 * without the version header. Reasons go into HAProxy's agent reply: one
 * printable line, bounded, prefixed by the service's name.
 *
 * Input: 2 header bytes, then the path, the header value, the body.
 *   [0] path length (0: the seed's own default, "versions[0].max_version")
 *   [1] bits 0-6: header value length; bit 7: a header was received
 * A real answer: "\x00\x00" + placement's root document. */
#include <curl/curl.h>
#include <jansson.h>

#include "fuzz_common.h"
#include "zdu/check.h"
#include "zdu/microversion.h"

static int valid_mv(const char *s)
{
	int ok;

	zdu_microversion_cmp(s, "1.0", &ok);
	return ok && strlen(s) < ZDU_VERSION_MAX;
}

static void check_reason(const char *r, size_t size)
{
	FUZZ_CHECK(r[0] && fuzz_printable_line(r, size), "reason \"%s\"", r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t hdr[2] = { 0, 0 };
	size_t plen, hlen;
	char *path, *body, reason[ZDU_REASON_MAX], v[ZDU_VERSION_MAX], m[ZDU_VERSION_MAX];
	struct zdu_http_result res;
	struct zdu_check_ctx c;
	struct zdu_check_result out;
	json_t *root;
	int rc, valid;

	memcpy(hdr, data, size < 2 ? size : 2);
	data += size < 2 ? size : 2;
	size -= size < 2 ? size : 2;
	plen = hdr[0] < size ? hdr[0] : size;
	path = plen ? fuzz_strndup(data, plen) : fuzz_strndup((const uint8_t *)"versions[0].max_version", 23);
	data += plen;
	size -= plen;
	hlen = (hdr[1] & 0x7f) < size ? (hdr[1] & 0x7f) : size;

	memset(&res, 0, sizeof(res));
	res.curl = CURLE_OK;
	res.status = 200;
	res.connected = 1;
	res.elapsed_ms = 3;
	res.max_body = 65536;
	res.header_found = hdr[1] >> 7;
	memcpy(res.header, data, hlen < sizeof(res.header) - 1 ? hlen : sizeof(res.header) - 1);
	data += hlen;
	size -= hlen;
	body = fuzz_strndup(data, size);
	res.body = body;
	res.len = size;

	/* the path alone */
	reason[0] = '\0';
	valid = zdu_check_path_valid(path, reason, sizeof(reason)) == 0;
	if (!valid)
		check_reason(reason, sizeof(reason));

	/* the document */
	rc = zdu_check_version_doc(body, size, path, path, v, m, reason, sizeof(reason));
	if (rc == 0) {
		FUZZ_CHECK(valid, "a document read at a malformed path \"%s\"", path);
		FUZZ_CHECK(valid_mv(v), "version \"%s\"", v);
		FUZZ_CHECK(strcmp(v, m) == 0, "max \"%s\" and min \"%s\" at the same path", v, m);
	} else {
		FUZZ_CHECK(rc == -1, "version_doc returned %d", rc);
		FUZZ_CHECK(v[0] == '\0', "version \"%s\" left on a failure", v);
		check_reason(reason, sizeof(reason));
	}

	/* the evaluator on any JSON value the body is */
	root = json_loadb(body, size, JSON_DECODE_ANY, NULL);
	if (root) {
		json_t *at;

		reason[0] = '\0';
		at = zdu_check_json_path(root, path, reason, sizeof(reason));
		if (!at)
			check_reason(reason, sizeof(reason));
		else
			FUZZ_CHECK(valid, "a value at a malformed path \"%s\"", path);
		json_decref(root);
	}

	/* the kind: by path, by header, both */
	for (int k = 0; k < 3; k++) {
		memset(&c, 0, sizeof(c));
		c.name = "placement";
		c.timeout_ms = 1000;
		c.limit_ms = 1000;
		c.version_path = k != 1 ? path : "";
		c.min_version_path = path;
		c.version_header = k != 0 ? "X-OpenStack-Ironic-API-Maximum-Version" : NULL;
		zdu_check_microversion(&c, &res, &out);
		if (out.cls == ZDU_PROBE_OK) {
			FUZZ_CHECK(valid_mv(out.version), "up with version \"%s\"", out.version);
			FUZZ_CHECK(!out.min_version[0] || valid_mv(out.min_version), "min \"%s\"", out.min_version);
			FUZZ_CHECK(out.reason[0] == '\0', "up with a reason \"%s\"", out.reason);
			if (k == 0)
				FUZZ_CHECK(rc == 0 && strcmp(out.version, v) == 0, "kind and document disagree");
			if (k != 0 && res.header_found)
				FUZZ_CHECK(strcmp(out.version, res.header) == 0, "the header did not win");
		} else {
			FUZZ_CHECK(out.cls == ZDU_PROBE_FAILED, "class %d on an answer in time", (int)out.cls);
			FUZZ_CHECK(strncmp(out.reason, "placement: ", 11) == 0, "reason \"%s\"", out.reason);
			check_reason(out.reason, sizeof(out.reason));
			FUZZ_CHECK(out.version[0] == '\0', "failed with version \"%s\"", out.version);
			if (k == 0)
				FUZZ_CHECK(rc != 0, "document good, kind failed: %s", out.reason);
		}
		FUZZ_CHECK(!out.disabled && out.slow_reason[0] == '\0', "disabled or slow");
	}
	free(path);
	free(body);
	return 0;
}
