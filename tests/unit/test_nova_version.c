/* check_nova.c (was nova.c): what nova-api's answers mean.
 *
 *   zdu_nova_parse_version   the version document of GET /v2.1/, on the real
 *                            captured answers (tests/data/nova) and on broken
 *                            ones: every truncation of the real file, wrong
 *                            status, missing or bad version strings, non-objects,
 *                            huge numbers, duplicate keys, NULs, deep nesting;
 *   zdu_nova_judge           every CURLcode branch and HTTP status on synthetic
 *                            zdu_http_result values: the exact reasons;
 *   zdu_nova_healthcheck_disabled
 *   zdu_microversion_cmp     numeric, "2.100" > "2.93", and what is not MAJOR.MINOR.
 *
 * Bodies are always copied into a malloc'd buffer of exactly their length
 * (no NUL after them), so that AddressSanitizer catches a read past the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/common.h"
#include "zdu/nova.h"

#ifndef ZDU_TEST_DATA
#error "ZDU_TEST_DATA (the tests/data directory) must be defined by the build"
#endif

/* ------------------------------------------------------------ helpers */

static char *read_data(const char *name, size_t *len)
{
	char path[1024];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", ZDU_TEST_DATA, name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open test data %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Parses LEN bytes of S from an exact-size heap copy. */
static int parse_n(const char *s, size_t len, struct zdu_nova_version *v, char *reason, size_t rsize)
{
	char *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, s, len);
	rc = zdu_nova_parse_version(copy, len, v, reason, rsize);
	free(copy);
	return rc;
}

static int parse(const char *s, struct zdu_nova_version *v, char *reason)
{
	return parse_n(s, strlen(s), v, reason, ZDU_REASON_MAX);
}

/* Expects a failure with exactly REASON, and OUT left empty. */
static void expect_fail(const char *doc, const char *reason)
{
	struct zdu_nova_version v;
	char r[ZDU_REASON_MAX];

	memset(&v, 'X', sizeof(v));
	memset(r, 0, sizeof(r));
	if (parse(doc, &v, r) != -1)
		fail_msg("accepted %s (version \"%s\")", doc, v.version);
	if (strcmp(r, reason) != 0)
		fail_msg("document %s: reason \"%s\", want \"%s\"", doc, r, reason);
	assert_string_equal(v.version, "");
	assert_string_equal(v.min_version, "");
}

static void expect_ok(const char *doc, const char *version, const char *min_version)
{
	struct zdu_nova_version v;
	char r[ZDU_REASON_MAX] = "";

	if (parse(doc, &v, r) != 0)
		fail_msg("rejected %s: %s", doc, r);
	assert_string_equal(v.version, version);
	assert_string_equal(v.min_version, min_version);
}

/* A version document around a "version" object's inner members. */
static char *doc_with(const char *inner)
{
	static char buf[8192];

	snprintf(buf, sizeof(buf),
		 "{\"version\": {\"id\": \"v2.1\", %s, \"updated\": \"2013-07-23T11:33:21Z\"}}", inner);
	return buf;
}

/* ------------------------------------------------------------ real captures */

static void test_real_v21(void **state)
{
	struct zdu_nova_version v;
	char r[ZDU_REASON_MAX] = "";
	size_t len;
	char *body = read_data("nova/v2.1.json", &len);

	(void)state;
	assert_int_equal(len, 384); /* tests/data/nova/README.md: Content-Length 384 */
	if (parse_n(body, len, &v, r, sizeof(r)) != 0)
		fail_msg("real v2.1.json rejected: %s", r);
	assert_string_equal(v.version, "2.93");
	assert_string_equal(v.min_version, "2.1");
	free(body);
}

static void test_real_v21_max_290(void **state)
{
	struct zdu_nova_version v;
	char r[ZDU_REASON_MAX] = "";
	size_t len;
	char *body = read_data("nova/v2.1-max-2.90.json", &len);

	(void)state;
	if (parse_n(body, len, &v, r, sizeof(r)) != 0)
		fail_msg("real v2.1-max-2.90.json rejected: %s", r);
	assert_string_equal(v.version, "2.90");
	assert_string_equal(v.min_version, "2.1");
	free(body);
}

/* Real answers of other URLs are no version document. */
static void test_real_other_documents(void **state)
{
	static const char *const files[] = { "nova/root.json", "nova/flavors-200.json",
					     "nova/flavors-406.json" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct zdu_nova_version v;
		char r[ZDU_REASON_MAX] = "";
		size_t len;
		char *body = read_data(files[i], &len);

		if (parse_n(body, len, &v, r, sizeof(r)) != -1)
			fail_msg("%s accepted as a version document", files[i]);
		if (strcmp(r, "no version object in the answer") != 0)
			fail_msg("%s: reason \"%s\"", files[i], r);
		free(body);
	}
}

/* The real document cut after every byte: never accepted, always "invalid
 * JSON at byte N" with N the length (the end of the input is where the
 * parser stops), never a read past the end (ASan). */
static void test_real_truncated_everywhere(void **state)
{
	size_t len, n;
	char *body = read_data("nova/v2.1.json", &len);

	(void)state;
	for (n = 0; n < len; n++) {
		struct zdu_nova_version v;
		char r[ZDU_REASON_MAX] = "", want[64];

		if (parse_n(body, n, &v, r, sizeof(r)) != -1)
			fail_msg("truncated at %zu bytes: accepted", n);
		snprintf(want, sizeof(want), "invalid JSON at byte %zu", n);
		if (strcmp(r, want) != 0)
			fail_msg("truncated at %zu bytes: reason \"%s\", want \"%s\"", n, r, want);
		assert_string_equal(v.version, "");
	}
	free(body);
}

/* Whitespace around the document is JSON; anything else after it is not. */
static void test_real_with_surroundings(void **state)
{
	size_t len;
	char *body = read_data("nova/v2.1.json", &len);
	char *buf = malloc(len + 16);
	struct zdu_nova_version v;
	char r[ZDU_REASON_MAX] = "";

	(void)state;
	assert_non_null(buf);
	memcpy(buf, " \r\n\t", 4);
	memcpy(buf + 4, body, len);
	memcpy(buf + 4 + len, "\n", 1);
	assert_int_equal(parse_n(buf, len + 5, &v, r, sizeof(r)), 0);
	assert_string_equal(v.version, "2.93");

	memcpy(buf, body, len);
	memcpy(buf + len, "}", 1);
	assert_int_equal(parse_n(buf, len + 1, &v, r, sizeof(r)), -1);
	assert_string_equal(r, "invalid JSON at byte 385");

	/* a NUL right after the document: the length counts, not the NUL */
	memcpy(buf, body, len);
	buf[len] = '\0';
	buf[len + 1] = 'x';
	assert_int_equal(parse_n(buf, len + 2, &v, r, sizeof(r)), -1);
	assert_true(strncmp(r, "invalid JSON at byte ", 21) == 0);
	free(buf);
	free(body);
}

/* ------------------------------------------------------------ synthetic documents */

static void test_minimal_documents(void **state)
{
	(void)state;
	expect_ok("{\"version\": {\"status\": \"CURRENT\", \"version\": \"2.93\"}}", "2.93", "");
	expect_ok(doc_with("\"status\": \"CURRENT\", \"version\": \"2.100\", \"min_version\": \"2.1\""),
		  "2.100", "2.1");
	/* members in any order, extra members ignored */
	expect_ok("{\"x\": [1, 2, {\"y\": null}], \"version\": {\"min_version\": \"2.1\", \"links\": [], "
		  "\"version\": \"2.1\", \"status\": \"CURRENT\"}, \"z\": true}",
		  "2.1", "2.1");
}

static void test_wrong_status(void **state)
{
	(void)state;
	expect_fail(doc_with("\"status\": \"SUPPORTED\", \"version\": \"2.93\", \"min_version\": \"2.1\""),
		    "version status SUPPORTED, not CURRENT");
	expect_fail(doc_with("\"status\": \"DEPRECATED\", \"version\": \"2.93\""),
		    "version status DEPRECATED, not CURRENT");
	expect_fail(doc_with("\"status\": \"current\", \"version\": \"2.93\""),
		    "version status current, not CURRENT");
	expect_fail(doc_with("\"status\": \"CURRENT \", \"version\": \"2.93\""),
		    "version status CURRENT, not CURRENT"); /* trailing blank dropped in the text */
	expect_fail(doc_with("\"status\": \"\", \"version\": \"2.93\""), "version status , not CURRENT");
	/* control characters and long values are cleaned and cut */
	expect_fail(doc_with("\"status\": \"A\\nB\\u0007C\", \"version\": \"2.93\""),
		    "version status A?B?C, not CURRENT");
	expect_fail(doc_with("\"status\": \"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\", \"version\": \"2.93\""),
		    "version status ABCDEFGHIJKLMNOPQRSTUVWXYZ01234, not CURRENT");
	/* not a string, or absent */
	expect_fail(doc_with("\"status\": 1, \"version\": \"2.93\""), "no version status in the answer");
	expect_fail(doc_with("\"status\": null, \"version\": \"2.93\""), "no version status in the answer");
	expect_fail(doc_with("\"status\": [\"CURRENT\"], \"version\": \"2.93\""),
		    "no version status in the answer");
	expect_fail(doc_with("\"version\": \"2.93\""), "no version status in the answer");
}

static void test_missing_version(void **state)
{
	(void)state;
	expect_fail(doc_with("\"status\": \"CURRENT\", \"min_version\": \"2.1\""),
		    "no valid maximum version in the answer");
	expect_fail(doc_with("\"status\": \"CURRENT\", \"version\": 2.93"),
		    "no valid maximum version in the answer");
	expect_fail(doc_with("\"status\": \"CURRENT\", \"version\": null"),
		    "no valid maximum version in the answer");
	expect_fail(doc_with("\"status\": \"CURRENT\", \"version\": {\"v\": \"2.93\"}"),
		    "no valid maximum version in the answer");
	/* nova's root document ({"versions": [...]}) is not the version document */
	expect_fail("{\"versions\": [{\"id\": \"v2.1\", \"status\": \"CURRENT\", \"version\": \"2.93\"}]}",
		    "no version object in the answer");
	expect_fail("{}", "no version object in the answer");
}

static void test_bad_version_strings(void **state)
{
	static const char *const bad[] = {
		"",
		"2",
		"2.",
		".93",
		"v2.93",
		"2.93a",
		"2.93.1",
		"2,93",
		" 2.93",
		"2.93 ",
		"2. 93",
		"+2.93",
		"2.+93",
		"-2.93",
		"2.-93",
		"2.0x5",
		"0x2.5",
		"2.9e2",
		"latest",
		"99999999999999999999.1",   /* over LONG_MAX */
		"2.99999999999999999999",   /* over LONG_MAX */
		"12345678.1234567",         /* 16 characters: does not fit ZDU_VERSION_MAX */
		"1.123456789012345678901234567890",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char inner[256];

		snprintf(inner, sizeof(inner), "\"status\": \"CURRENT\", \"version\": \"%s\"", bad[i]);
		expect_fail(doc_with(inner), "no valid maximum version in the answer");
	}
	/* the longest that fits: 15 characters */
	expect_ok(doc_with("\"status\": \"CURRENT\", \"version\": \"1234567.1234567\""), "1234567.1234567",
		  "");
}

/* min_version is informational: a bad one is left empty, the node serves. */
static void test_bad_min_version(void **state)
{
	(void)state;
	expect_ok(doc_with("\"status\": \"CURRENT\", \"version\": \"2.93\", \"min_version\": \"\""), "2.93",
		  "");
	expect_ok(doc_with("\"status\": \"CURRENT\", \"version\": \"2.93\", \"min_version\": 2.1"), "2.93",
		  "");
	expect_ok(doc_with("\"status\": \"CURRENT\", \"version\": \"2.93\", \"min_version\": \"two\""),
		  "2.93", "");
	expect_ok(doc_with("\"status\": \"CURRENT\", \"version\": \"2.93\", "
			   "\"min_version\": \"12345678.1234567\""),
		  "2.93", "");
}

static void test_non_objects(void **state)
{
	(void)state;
	expect_fail("[]", "no version object in the answer");
	expect_fail("[{\"version\": {\"status\": \"CURRENT\", \"version\": \"2.93\"}}]",
		    "no version object in the answer");
	expect_fail("{\"version\": \"2.93\"}", "no version object in the answer");
	expect_fail("{\"version\": [\"CURRENT\", \"2.93\"]}", "no version object in the answer");
	expect_fail("{\"version\": null}", "no version object in the answer");
	expect_fail("{\"version\": 2.93}", "no version object in the answer");
	/* jansson 2.14 decodes only objects and arrays at the top; N is where it
	 * stopped (the byte after the token it choked on, counting from 1) */
	expect_fail("\"version\"", "invalid JSON at byte 9");
	expect_fail("2.93", "invalid JSON at byte 4");
	expect_fail("null", "invalid JSON at byte 4");
}

static void test_invalid_json(void **state)
{
	(void)state;
	expect_fail("", "invalid JSON at byte 0");
	expect_fail("   ", "invalid JSON at byte 3");
	/* fake_nova badjson kind=truncated, kind=garbage */
	expect_fail("{\"version\": {\"id\": \"v2.1\", \"status\": ", "invalid JSON at byte 37");
	expect_fail("{\"version\": {\"id\": \"v2.1\", \"status\": #}}", "invalid JSON at byte 38");
	/* an HTML page where JSON was expected */
	expect_fail("<!DOCTYPE html>\n<html><body>It works!</body></html>\n", "invalid JSON at byte 1");
	expect_fail("{\"version\": {'status': 'CURRENT'}}", "invalid JSON at byte 14");
	expect_fail("{\"version\": {\"status\": \"CURRENT\",}}", "invalid JSON at byte 34");
	/* a NUL inside a string is refused, and a raw invalid UTF-8 byte too */
	expect_fail("{\"version\": {\"status\": \"CURRENT\", \"version\": \"2.93\\u0000x\"}}",
		    "invalid JSON at byte 58");
	expect_fail("{\"version\": {\"status\": \"CURRENT\", \"version\": \"2.93\xff\"}}",
		    "invalid JSON at byte 50");
}

static void test_huge_numbers(void **state)
{
	struct zdu_nova_version v;
	char r[ZDU_REASON_MAX];

	(void)state;
	/* numbers jansson cannot hold make the whole document invalid */
	assert_int_equal(parse(doc_with("\"status\": \"CURRENT\", \"version\": \"2.93\", "
					"\"n\": 123456789012345678901234567890"),
			       &v, r),
			 -1);
	assert_true(strncmp(r, "invalid JSON at byte ", 21) == 0);
	assert_int_equal(parse(doc_with("\"status\": \"CURRENT\", \"version\": \"2.93\", \"n\": 1e999"), &v, r),
			 -1);
	assert_true(strncmp(r, "invalid JSON at byte ", 21) == 0);
	/* big but representable ones are fine */
	expect_ok(doc_with("\"status\": \"CURRENT\", \"version\": \"2.93\", \"n\": 9223372036854775807, "
			   "\"m\": -1e300"),
		  "2.93", "");
	/* a huge microversion inside the string is no version */
	expect_fail(doc_with("\"status\": \"CURRENT\", \"version\": \"9223372036854775808.1\""),
		    "no valid maximum version in the answer");
}

/* Duplicate keys are ambiguous (which "status" counts?): refused. */
static void test_duplicate_keys(void **state)
{
	(void)state;
	expect_fail("{\"version\": {\"status\": \"CURRENT\", \"version\": \"2.93\"}, "
		    "\"version\": {\"status\": \"SUPPORTED\", \"version\": \"2.1\"}}",
		    "invalid JSON at byte 63");
	expect_fail("{\"version\": {\"status\": \"SUPPORTED\", \"status\": \"CURRENT\", \"version\": \"2.93\"}}",
		    "invalid JSON at byte 44");
	expect_fail("{\"version\": {\"status\": \"CURRENT\", \"version\": \"2.1\", \"version\": \"2.93\"}}",
		    "invalid JSON at byte 61");
	/* the same key in different objects is no duplicate */
	expect_ok("{\"status\": \"x\", \"version\": {\"status\": \"CURRENT\", \"version\": \"2.93\", "
		  "\"links\": [{\"version\": 1}, {\"version\": 2}]}}",
		  "2.93", "");
}

/* Very deep nesting is refused by the parser, not a stack overflow. */
static void test_deep_nesting(void **state)
{
	size_t depth = 100000, i;
	char *buf = malloc(2 * depth + 2);
	struct zdu_nova_version v;
	char r[ZDU_REASON_MAX];

	(void)state;
	assert_non_null(buf);
	buf[0] = '{';
	memcpy(buf + 1, "\"version\":", 10);
	for (i = 0; i < depth; i++)
		buf[11 + i] = '[';
	assert_int_equal(parse_n(buf, 11 + depth, &v, r, sizeof(r)), -1);
	assert_true(strncmp(r, "invalid JSON at byte ", 21) == 0);
	free(buf);
}

/* A small reason buffer gets a cut, terminated reason; size 0 or 1 too. */
static void test_small_reason_buffer(void **state)
{
	struct zdu_nova_version v;
	char r[16];

	(void)state;
	memset(r, 'X', sizeof(r));
	assert_int_equal(parse_n("[", 1, &v, r, 8), -1);
	assert_string_equal(r, "invalid");
	assert_int_equal(r[8], 'X');
	memset(r, 'X', sizeof(r));
	assert_int_equal(parse_n("[", 1, &v, r, 1), -1);
	assert_int_equal(r[0], '\0');
	assert_int_equal(r[1], 'X');
}

/* ------------------------------------------------------------ zdu_nova_judge */

static struct zdu_http_result result(CURLcode code, const char *msg, long status, const char *body)
{
	struct zdu_http_result res;

	memset(&res, 0, sizeof(res));
	res.curl = code;
	snprintf(res.curl_msg, sizeof(res.curl_msg), "%s", msg ? msg : curl_easy_strerror(code));
	res.status = status;
	res.body = body ? body : "";
	res.len = body ? strlen(body) : 0;
	res.max_body = 65536;
	res.elapsed_ms = 3;
	return res;
}

static void expect_judge(const struct zdu_http_result *res, long timeout_ms, const char *want)
{
	struct zdu_nova_version v;
	char r[ZDU_REASON_MAX];

	memset(&v, 'X', sizeof(v));
	memset(r, 0, sizeof(r));
	if (zdu_nova_judge(res, timeout_ms, &v, r, sizeof(r)) != -1)
		fail_msg("curl %d HTTP %ld judged healthy, want \"%s\"", (int)res->curl, res->status, want);
	if (strcmp(r, want) != 0)
		fail_msg("curl %d HTTP %ld: reason \"%s\", want \"%s\"", (int)res->curl, res->status, r, want);
	assert_string_equal(v.version, "");
	assert_string_equal(v.min_version, "");
}

static void test_judge_healthy_real(void **state)
{
	size_t len;
	char *body = read_data("nova/v2.1.json", &len);
	struct zdu_http_result res = result(CURLE_OK, "", 200, NULL);
	struct zdu_nova_version v;
	char r[ZDU_REASON_MAX] = "";

	(void)state;
	res.body = body;
	res.len = len;
	if (zdu_nova_judge(&res, 1000, &v, r, sizeof(r)) != 0)
		fail_msg("real answer judged unhealthy: %s", r);
	assert_string_equal(v.version, "2.93");
	assert_string_equal(v.min_version, "2.1");
	free(body);
}

static void test_judge_curl_codes(void **state)
{
	struct zdu_http_result res;

	(void)state;
	res = result(CURLE_COULDNT_CONNECT, "Failed to connect to 127.0.0.1 port 8774: Connection refused", 0,
		     NULL);
	expect_judge(&res, 1000, "nova-api: connection refused");
	res = result(CURLE_OPERATION_TIMEDOUT, "Operation timed out after 1000 milliseconds", 0, NULL);
	expect_judge(&res, 1000, "nova-api: timeout after 1000 ms");
	expect_judge(&res, 250, "nova-api: timeout after 250 ms");
	/* a timeout in the middle of an answer is still a timeout */
	res = result(CURLE_OPERATION_TIMEDOUT, NULL, 200, "{\"version\": {");
	expect_judge(&res, 1000, "nova-api: timeout after 1000 ms");
	res = result(CURLE_COULDNT_RESOLVE_HOST, "Could not resolve host: nova.invalid", 0, NULL);
	expect_judge(&res, 1000, "nova-api: cannot resolve the host");
	res = result(CURLE_GOT_NOTHING, "Empty reply from server", 0, NULL);
	expect_judge(&res, 1000, "nova-api: empty answer");
	res = result(CURLE_RECV_ERROR, "Recv failure: Connection reset by peer", 0, NULL);
	expect_judge(&res, 1000, "nova-api: connection reset");
	res = result(CURLE_SEND_ERROR, "Send failure: Broken pipe", 0, NULL);
	expect_judge(&res, 1000, "nova-api: connection reset");
	res = result(CURLE_PEER_FAILED_VERIFICATION,
		     "SSL: no alternative certificate subject name matches target host name 'x'", 0, NULL);
	expect_judge(&res, 1000,
		     "nova-api: TLS: SSL: no alternative certificate subject name matches target host name 'x'");
	res = result(CURLE_SSL_CONNECT_ERROR, "OpenSSL SSL_connect: SSL_ERROR_SYSCALL\r\n", 0, NULL);
	expect_judge(&res, 1000, "nova-api: TLS: OpenSSL SSL_connect: SSL_ERROR_SYSCALL??");
	res = result(CURLE_SSL_CERTPROBLEM, "could not load PEM client certificate", 0, NULL);
	expect_judge(&res, 1000, "nova-api: TLS: could not load PEM client certificate");
	res = result(CURLE_SSL_CACERT_BADFILE, "error setting certificate file: /nope", 0, NULL);
	expect_judge(&res, 1000, "nova-api: TLS: error setting certificate file: /nope");
	/* everything else: curl's own message, cleaned */
	res = result(CURLE_WEIRD_SERVER_REPLY, "Unsupported HTTP version in response", 0, NULL);
	expect_judge(&res, 1000, "nova-api: Unsupported HTTP version in response");
	res = result(CURLE_UNSUPPORTED_PROTOCOL, "Protocol \"gopher\" not supported", 0, NULL);
	expect_judge(&res, 1000, "nova-api: Protocol \"gopher\" not supported");
	res = result(CURLE_PARTIAL_FILE, "end of response with 10 bytes missing\n", 200, "{");
	expect_judge(&res, 1000, "nova-api: end of response with 10 bytes missing?");
	res = result(CURLE_OUT_OF_MEMORY, NULL, 0, NULL);
	expect_judge(&res, 1000, "nova-api: Out of memory");
}

/* A body over the limit wins over whatever curl said (the write callback
 * ended the transfer: CURLE_WRITE_ERROR) and over the status. */
static void test_judge_too_big(void **state)
{
	struct zdu_http_result res = result(CURLE_WRITE_ERROR, "Failure writing output to destination", 200,
					    "{\"version\": {\"status\": \"CURRENT\", \"version\": \"2.93\"");

	(void)state;
	res.too_big = 1;
	expect_judge(&res, 1000, "nova-api: body over 65536 bytes");
	res.max_body = 256;
	res.curl = CURLE_OK;
	expect_judge(&res, 1000, "nova-api: body over 256 bytes");
	res.curl = CURLE_OPERATION_TIMEDOUT;
	res.status = 500;
	expect_judge(&res, 1000, "nova-api: body over 256 bytes");
}

static void test_judge_http_status(void **state)
{
	static const long codes[] = { 0, 100, 201, 204, 300, 301, 302, 304, 400, 401, 403, 404, 405, 406,
				      429, 500, 501, 502, 503, 504, 599, 999 };
	size_t len, i;
	char *body = read_data("nova/v2.1.json", &len);

	(void)state;
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		struct zdu_http_result res = result(CURLE_OK, "", codes[i], NULL);
		char want[64];

		/* even with a perfect version document in the body */
		res.body = body;
		res.len = len;
		snprintf(want, sizeof(want), "nova-api: HTTP %ld", codes[i]);
		expect_judge(&res, 1000, want);
	}
	free(body);
}

static void test_judge_bad_bodies(void **state)
{
	struct zdu_http_result res;

	(void)state;
	res = result(CURLE_OK, "", 200, NULL);
	expect_judge(&res, 1000, "nova-api: invalid JSON at byte 0");
	res = result(CURLE_OK, "", 200, "{\"version\": {\"id\": \"v2.1\", \"status\": ");
	expect_judge(&res, 1000, "nova-api: invalid JSON at byte 37");
	res = result(CURLE_OK, "", 200, "<!DOCTYPE html>\n<html><head><title>Welcome</title></head></html>\n");
	expect_judge(&res, 1000, "nova-api: invalid JSON at byte 1");
	res = result(CURLE_OK, "", 200,
		     "{\"version\": {\"id\": \"v2.1\", \"status\": \"SUPPORTED\", \"version\": \"2.93\"}}");
	expect_judge(&res, 1000, "nova-api: version status SUPPORTED, not CURRENT");
	res = result(CURLE_OK, "", 200, "{\"versions\": [{\"status\": \"CURRENT\", \"version\": \"2.93\"}]}");
	expect_judge(&res, 1000, "nova-api: no version object in the answer");
	res = result(CURLE_OK, "", 200, "{\"version\": {\"status\": \"CURRENT\", \"version\": \"2.x\"}}");
	expect_judge(&res, 1000, "nova-api: no valid maximum version in the answer");
	/* res.len counts, not the NUL: a body with a NUL in it */
	res = result(CURLE_OK, "", 200, "{\"version\": {\"status\": \"CURRENT\", \"version\": \"2.93\"}}");
	res.len += 1; /* includes the terminating NUL */
	expect_judge(&res, 1000, "nova-api: invalid JSON at byte 54");
}

/* Long curl messages and small reason buffers: cut, terminated. */
static void test_judge_long_messages(void **state)
{
	struct zdu_http_result res = result(CURLE_WEIRD_SERVER_REPLY, NULL, 0, NULL);
	struct zdu_nova_version v;
	char r[ZDU_REASON_MAX + 8];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(res.curl_msg) - 1; i++)
		res.curl_msg[i] = (char)('a' + i % 26);
	res.curl_msg[sizeof(res.curl_msg) - 1] = '\0';
	memset(r, 'X', sizeof(r));
	assert_int_equal(zdu_nova_judge(&res, 1000, &v, r, ZDU_REASON_MAX), -1);
	assert_true(strlen(r) < ZDU_REASON_MAX);
	assert_true(strncmp(r, "nova-api: abcdef", 16) == 0);
	for (i = 0; r[i]; i++)
		assert_true(r[i] >= 0x20 && r[i] < 0x7f);

	memset(r, 'X', sizeof(r));
	res = result(CURLE_COULDNT_CONNECT, NULL, 0, NULL);
	assert_int_equal(zdu_nova_judge(&res, 1000, &v, r, 10), -1);
	assert_string_equal(r, "nova-api:");
	assert_int_equal(r[10], 'X');
}

/* ------------------------------------------------------------ healthcheck */

static void test_healthcheck_disabled(void **state)
{
	struct zdu_http_result res;
	const char json[] = "{\n    \"detailed\": false,\n    \"reasons\": [\n        \"DISABLED BY FILE\"\n"
			    "    ]\n}";
	char with_nul[] = "x\0DISABLED BY FILE";

	(void)state;
	res = result(CURLE_OK, "", 503, "DISABLED BY FILE");
	assert_int_equal(zdu_nova_healthcheck_disabled(&res), 1);
	res = result(CURLE_OK, "", 503, json); /* oslo's answer to Accept: application/json */
	assert_int_equal(zdu_nova_healthcheck_disabled(&res), 1);
	res = result(CURLE_OK, "", 503, NULL);
	res.body = with_nul;
	res.len = sizeof(with_nul) - 1;
	assert_int_equal(zdu_nova_healthcheck_disabled(&res), 1);

	res = result(CURLE_OK, "", 200, "OK");
	assert_int_equal(zdu_nova_healthcheck_disabled(&res), 0);
	res = result(CURLE_OK, "", 200, "DISABLED BY FILE"); /* only a 503 says so */
	assert_int_equal(zdu_nova_healthcheck_disabled(&res), 0);
	res = result(CURLE_OK, "", 503, "Service Unavailable");
	assert_int_equal(zdu_nova_healthcheck_disabled(&res), 0);
	res = result(CURLE_OK, "", 503, "disabled by file"); /* oslo writes it in capitals */
	assert_int_equal(zdu_nova_healthcheck_disabled(&res), 0);
	res = result(CURLE_OK, "", 503, NULL);
	assert_int_equal(zdu_nova_healthcheck_disabled(&res), 0);
	res = result(CURLE_OK, "", 503, "DISABLED BY FILE");
	res.len = 7; /* "DISABLE": the length counts */
	assert_int_equal(zdu_nova_healthcheck_disabled(&res), 0);
	res = result(CURLE_OK, "", 500, "DISABLED");
	assert_int_equal(zdu_nova_healthcheck_disabled(&res), 0);
	/* unreachable: no verdict of its own */
	res = result(CURLE_COULDNT_CONNECT, NULL, 0, NULL);
	assert_int_equal(zdu_nova_healthcheck_disabled(&res), 0);
	res = result(CURLE_OPERATION_TIMEDOUT, NULL, 503, "DISABLED BY FILE");
	assert_int_equal(zdu_nova_healthcheck_disabled(&res), 0);
}

/* The real captures of /healthcheck through nova's stock api-paste.ini are
 * 300 Multiple Choices whether or not the disable file exists: neither is
 * read as "disabled" (tests/data/nova/README.md). */
static void test_healthcheck_real_captures(void **state)
{
	static const char *const files[] = { "nova/healthcheck-ok.txt", "nova/healthcheck-disabled.txt" };
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		size_t len;
		char *raw = read_data(files[i], &len);
		const char *sep = memmem(raw, len, "\r\n\r\n", 4);
		struct zdu_http_result res = result(CURLE_OK, "", 0, NULL);

		assert_non_null(sep);
		assert_true(strncmp(raw, "HTTP/1.1 300 ", 13) == 0);
		res.status = 300;
		res.body = sep + 4;
		res.len = len - (size_t)(sep + 4 - raw);
		assert_int_equal(zdu_nova_healthcheck_disabled(&res), 0);
		free(raw);
	}
}

/* ------------------------------------------------------------ microversions */

static int sign(int x)
{
	return (x > 0) - (x < 0);
}

static void expect_cmp(const char *a, const char *b, int want)
{
	int ok = -1, got = zdu_microversion_cmp(a, b, &ok);

	if (ok != 1)
		fail_msg("cmp(\"%s\", \"%s\"): ok = %d", a, b, ok);
	if (sign(got) != want)
		fail_msg("cmp(\"%s\", \"%s\") = %d, want sign %d", a, b, got, want);
	got = zdu_microversion_cmp(b, a, &ok);
	if (ok != 1 || sign(got) != -want)
		fail_msg("cmp(\"%s\", \"%s\") = %d (ok %d), want sign %d", b, a, got, ok, -want);
}

static void test_microversion_order(void **state)
{
	(void)state;
	expect_cmp("2.100", "2.93", 1);
	expect_cmp("2.93", "2.93", 0);
	expect_cmp("2.90", "2.93", -1);
	expect_cmp("2.1", "2.10", -1);
	expect_cmp("2.9", "2.10", -1);
	expect_cmp("2.1", "2.93", -1);
	expect_cmp("3.0", "2.999", 1);
	expect_cmp("10.0", "9.99", 1);
	expect_cmp("1.1000", "2.1", -1);
	expect_cmp("0.0", "0.0", 0);
	expect_cmp("2.01", "2.1", 0); /* numeric: a leading zero changes nothing */
	expect_cmp("2.9223372036854775807", "2.9223372036854775806", 1);
}

/* Sorting a shuffled list with the comparison gives numeric order. */
static void test_microversion_total_order(void **state)
{
	static const char *const sorted[] = { "0.1", "1.0", "1.9", "2.0", "2.1", "2.2", "2.9", "2.10",
					      "2.11", "2.53", "2.90", "2.93", "2.99", "2.100", "2.101",
					      "2.999", "2.1000", "3.0", "3.1", "10.0", "11.5" };
	size_t n = sizeof(sorted) / sizeof(sorted[0]), i, j;

	(void)state;
	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++) {
			int ok = 0, c = zdu_microversion_cmp(sorted[i], sorted[j], &ok);

			assert_int_equal(ok, 1);
			if (sign(c) != (i < j ? -1 : i > j))
				fail_msg("cmp(\"%s\", \"%s\") = %d", sorted[i], sorted[j], c);
		}
}

static void test_microversion_invalid(void **state)
{
	static const char *const bad[] = { "", "2", "2.", ".1", "2.x", "a.b", "2.93a", "2.93.1", " 2.93",
					   "2.93 ", "+2.93", "-2.93", "2.-1", "2.+1", "2. 1", "v2.93",
					   "2,93", "99999999999999999999.1", "2.99999999999999999999",
					   "0x2.1", "2.0x1" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ok = 1;

		if (zdu_microversion_cmp(bad[i], "2.1", &ok) != 0 || ok != 0)
			fail_msg("\"%s\" taken for a microversion (ok %d)", bad[i], ok);
		ok = 1;
		if (zdu_microversion_cmp("2.1", bad[i], &ok) != 0 || ok != 0)
			fail_msg("\"%s\" taken for a microversion (second, ok %d)", bad[i], ok);
		ok = 1;
		if (zdu_microversion_cmp(bad[i], bad[i], &ok) != 0 || ok != 0)
			fail_msg("\"%s\" == itself taken for a microversion (ok %d)", bad[i], ok);
	}
}

/* ---- fixed bugs: regression tests --------------
 * nova.c parse_mv() refuses ' ', '+' and '-' right after the dot but lets
 * strtol() skip the other blanks there: "2.\t93" and "2.\n93" pass for 2.93. */
static void test_fixed_microversion_blank_after_dot(void **state)
{
	static const char *const bad[] = { "2.\t93", "2.\n93", "2.\r93", "2.\v93", "2.\f93" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ok = 1;

		zdu_microversion_cmp(bad[i], "2.1", &ok);
		if (ok)
			fail_msg("\"2.\\x%02x93\" taken for a microversion", (unsigned char)bad[i][2]);
	}
	expect_fail(doc_with("\"status\": \"CURRENT\", \"version\": \"2.\\t93\""),
		    "no valid maximum version in the answer");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_v21),
		cmocka_unit_test(test_real_v21_max_290),
		cmocka_unit_test(test_real_other_documents),
		cmocka_unit_test(test_real_truncated_everywhere),
		cmocka_unit_test(test_real_with_surroundings),
		cmocka_unit_test(test_minimal_documents),
		cmocka_unit_test(test_wrong_status),
		cmocka_unit_test(test_missing_version),
		cmocka_unit_test(test_bad_version_strings),
		cmocka_unit_test(test_bad_min_version),
		cmocka_unit_test(test_non_objects),
		cmocka_unit_test(test_invalid_json),
		cmocka_unit_test(test_huge_numbers),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_small_reason_buffer),
		cmocka_unit_test(test_judge_healthy_real),
		cmocka_unit_test(test_judge_curl_codes),
		cmocka_unit_test(test_judge_too_big),
		cmocka_unit_test(test_judge_http_status),
		cmocka_unit_test(test_judge_bad_bodies),
		cmocka_unit_test(test_judge_long_messages),
		cmocka_unit_test(test_healthcheck_disabled),
		cmocka_unit_test(test_healthcheck_real_captures),
		cmocka_unit_test(test_microversion_order),
		cmocka_unit_test(test_microversion_total_order),
		cmocka_unit_test(test_microversion_invalid),
		cmocka_unit_test(test_fixed_microversion_blank_after_dot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
