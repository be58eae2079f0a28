/* The healthcheck probe kind (agent/daemon/check_healthcheck.c): oslo's
 * body read as text, JSON (plain or detailed) or HTML
 * (zdu_check_healthcheck_reasons), "disabled by file"
 * (zdu_check_healthcheck_disabled) and the kind's verdict
 * (zdu_check_healthcheck). Reasons go into HAProxy's agent reply: one
 * printable line, bounded, prefixed by the service's name.
 *
 * Input: 2 bytes of HTTP status (big endian), then the body.
 * A real answer: "\x01\xf7" (503) + "DISABLED BY FILE". */
#include <curl/curl.h>

#include "fuzz_common.h"
#include "zdu/check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t hdr[2] = { 0, 0 };
	struct zdu_http_result res;
	struct zdu_check_ctx c;
	struct zdu_check_result out;
	char reason[ZDU_REASON_MAX], small[12], *body;
	int n, disabled;

	memcpy(hdr, data, size < 2 ? size : 2);
	data += size < 2 ? size : 2;
	size -= size < 2 ? size : 2;
	body = fuzz_strndup(data, size);

	n = zdu_check_healthcheck_reasons(body, size, reason, sizeof(reason));
	FUZZ_CHECK(n >= 0, "%d reasons", n);
	FUZZ_CHECK(fuzz_printable_line(reason, sizeof(reason)), "reasons \"%s\"", reason);
	FUZZ_CHECK((n == 0) == (reason[0] == '\0'), "%d reasons but \"%s\"", n, reason);
	n = zdu_check_healthcheck_reasons(body, size, small, sizeof(small));
	FUZZ_CHECK(fuzz_printable_line(small, sizeof(small)), "reasons \"%s\"", small);

	memset(&res, 0, sizeof(res));
	res.curl = CURLE_OK;
	res.status = (long)hdr[0] << 8 | hdr[1];
	res.body = body;
	res.len = size;
	res.connected = 1;
	res.elapsed_ms = 3;
	res.max_body = 65536;
	disabled = zdu_check_healthcheck_disabled(res.status, body, size);
	FUZZ_CHECK(!disabled || res.status == 503, "disabled with HTTP %ld", res.status);

	memset(&c, 0, sizeof(c));
	c.name = "keystone";
	c.timeout_ms = 1000;
	c.limit_ms = 1000;
	zdu_check_healthcheck(&c, &res, &out);
	FUZZ_CHECK(out.disabled == disabled, "kind disabled %d, parser %d", out.disabled, disabled);
	if (res.status == 200 || disabled) {
		FUZZ_CHECK(out.cls == ZDU_PROBE_OK && !out.reason[0], "HTTP %ld: class %d \"%s\"", res.status,
			   (int)out.cls, out.reason);
	} else {
		FUZZ_CHECK(out.cls == ZDU_PROBE_FAILED, "HTTP %ld: class %d", res.status, (int)out.cls);
		FUZZ_CHECK(strncmp(out.reason, "keystone: ", 10) == 0, "reason \"%s\"", out.reason);
	}
	FUZZ_CHECK(fuzz_printable_line(out.reason, sizeof(out.reason)), "reason \"%s\"", out.reason);
	FUZZ_CHECK(fuzz_printable_line(out.disabled_reason, sizeof(out.disabled_reason)), "disabled_reason \"%s\"",
		   out.disabled_reason);
	FUZZ_CHECK(!disabled || strncmp(out.disabled_reason, "keystone: healthcheck: ", 23) == 0,
		   "disabled_reason \"%s\"", out.disabled_reason);
	FUZZ_CHECK(out.slow_reason[0] == '\0' && out.version[0] == '\0', "slow or versioned");
	free(body);
	return 0;
}
