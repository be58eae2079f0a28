/* nova-api's answers: zdu_nova_judge() and zdu_nova_classify() get a
 * zdu_http_result as the HTTP client hands it to the probe (agent/common/http.c
 * check_done), the latter connected or not, in time or late, and
 * zdu_nova_parse_version() the body alone. The reasons go into the reply
 * line HAProxy shows: printable, one line, prefixed "nova-api: ".
 *
 * Input: 4 header bytes, then curl's message, then the body.
 *   [0] bit 7: too_big; bits 0-6: CURLcode (0 is CURLE_OK)
 *   [1..2] HTTP status, big endian (200 is 00 c8)
 *   [3] length of the curl error message that follows (capped; 0: curl's
 *       own text for the code, as http.c falls back to)
 * A real answer is "\x00\x00\xc8\x00" + the body. */
#include <curl/curl.h>

#include "fuzz_common.h"
#include "zdu/nova.h"

#define TIMEOUT_MS 2000
#define MAX_BODY 65536

static int valid_mv(const char *s)
{
	int ok;

	zdu_microversion_cmp(s, "2.1", &ok);
	return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t hdr[4] = { 0, 0, 0, 0 };
	struct zdu_http_result res;
	struct zdu_nova_version v, v2;
	char reason[ZDU_REASON_MAX], why[ZDU_REASON_MAX];
	size_t msglen;
	char *body;
	int rc, rc2;

	memcpy(hdr, data, size < 4 ? size : 4);
	data += size < 4 ? size : 4;
	size -= size < 4 ? size : 4;
	msglen = hdr[3] < size ? hdr[3] : size;
	if (msglen > CURL_ERROR_SIZE - 1)
		msglen = CURL_ERROR_SIZE - 1;

	memset(&res, 0, sizeof(res));
	res.curl = (CURLcode)((hdr[0] & 0x7f) % CURL_LAST);
	res.too_big = hdr[0] >> 7;
	res.status = (long)hdr[1] << 8 | hdr[2];
	/* http.c: curl's error buffer, or curl_easy_strerror() when it is empty. */
	memcpy(res.curl_msg, data, msglen);
	res.curl_msg[msglen] = '\0';
	if (!msglen)
		snprintf(res.curl_msg, sizeof(res.curl_msg), "%s", curl_easy_strerror(res.curl));
	/* The body as http.c keeps it: its own buffer, NUL-terminated. */
	body = fuzz_strndup(data + msglen, size - msglen);
	res.body = body;
	res.len = size - msglen;
	res.max_body = MAX_BODY;
	res.elapsed_ms = 3;

	reason[0] = '\0';
	rc = zdu_nova_judge(&res, TIMEOUT_MS, &v, reason, sizeof(reason));
	FUZZ_CHECK(rc == 0 || rc == -1, "judge returned %d", rc);
	if (rc == 0) {
		FUZZ_CHECK(res.curl == CURLE_OK && res.status == 200 && !res.too_big,
			   "healthy with curl %d, HTTP %ld, too_big %d", (int)res.curl, res.status, res.too_big);
		FUZZ_CHECK(v.version[0] && valid_mv(v.version) && strnlen(v.version, sizeof(v.version)) < sizeof(v.version),
			   "healthy with version \"%s\"", v.version);
		FUZZ_CHECK(!v.min_version[0] || valid_mv(v.min_version), "min_version \"%s\"", v.min_version);
	} else {
		FUZZ_CHECK(strncmp(reason, "nova-api: ", 10) == 0, "reason \"%s\"", reason);
		FUZZ_CHECK(fuzz_printable_line(reason, sizeof(reason)), "reason not one printable line: \"%s\"",
			   reason);
	}
	(void)zdu_nova_healthcheck_disabled(&res);

	/* The slow/failed split agrees with the judge, for each way the
	 * request could have gone (connected or not, in time or late). */
	for (int k = 0; k < 4; k++) {
		char r2[ZDU_REASON_MAX], sr[ZDU_REASON_MAX];
		enum zdu_probe_class c;

		res.connected = k & 1;
		res.elapsed_ms = k & 2 ? 3000 : 3;
		c = zdu_nova_classify(&res, TIMEOUT_MS, 5000, &v2, r2, sizeof(r2), sr, sizeof(sr));
		if (rc == 0)
			FUZZ_CHECK(c == (k & 2 ? ZDU_PROBE_SLOW : ZDU_PROBE_OK), "good answer classed %d", (int)c);
		else
			FUZZ_CHECK(c == ZDU_PROBE_FAILED ||
				   (c == ZDU_PROBE_SLOW && res.curl == CURLE_OPERATION_TIMEDOUT && res.connected &&
				    !res.too_big), "failed answer classed %d", (int)c);
		if (c != ZDU_PROBE_OK)
			FUZZ_CHECK(strncmp(r2, "nova-api: ", 10) == 0 && fuzz_printable_line(r2, sizeof(r2)),
				   "reason \"%s\"", r2);
		if (c == ZDU_PROBE_SLOW)
			FUZZ_CHECK(strncmp(sr, "nova-api: slow: ", 16) == 0 && fuzz_printable_line(sr, sizeof(sr)),
				   "slow reason \"%s\"", sr);
		else
			FUZZ_CHECK(sr[0] == '\0', "slow reason \"%s\" for class %d", sr, (int)c);
	}
	res.connected = 0;
	res.elapsed_ms = 3;

	why[0] = '\0';
	rc2 = zdu_nova_parse_version(res.body, res.len, &v2, why, sizeof(why));
	if (rc2 < 0)
		FUZZ_CHECK(why[0] && fuzz_printable_line(why, sizeof(why)), "reason not one printable line: \"%s\"",
			   why);
	else
		FUZZ_CHECK(valid_mv(v2.version), "version \"%s\"", v2.version);
	if (res.curl == CURLE_OK && res.status == 200 && !res.too_big)
		FUZZ_CHECK(rc == rc2 && (rc < 0 || strcmp(v.version, v2.version) == 0),
			   "judge %d and parse_version %d disagree", rc, rc2);
	free(body);
	return 0;
}
