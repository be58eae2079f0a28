/* check_microversion.c: any OpenStack version document, on captured real
 * answers (tests/data/placement: a real placement-api; nova: a real
 * nova-api) and the official api-ref samples of cinder and ironic
 * (tests/data/cinder, tests/data/ironic; see their README.md):
 *
 *   zdu_check_microversion   the kind: version_path, version_header (wins),
 *                            min_version_path, status 200/300, transport
 *                            reasons named after the service, the slow split;
 *   zdu_check_json_path      keys, [index], the CURRENT rule, what is missing
 *                            and where, malformed paths;
 *   zdu_check_version_doc    wrong documents, non-string and odd versions,
 *                            every truncation of a real one, huge and deep input. */
#include "check_testlib.h"

/* The kind on one answer: expects OK with VERSION and MIN. */
static void expect_version(const struct zdu_check_ctx *c, const struct zdu_http_result *res, const char *version,
			   const char *min)
{
	struct zdu_check_result out;

	run_check(zdu_check_microversion, c, res, &out);
	if (out.cls != ZDU_PROBE_OK)
		fail_msg("%s: class %d, reason \"%s\"", c->name, (int)out.cls, out.reason);
	assert_string_equal(out.version, version);
	assert_string_equal(out.min_version, min);
	assert_int_equal(out.disabled, 0);
}

static void expect_failed(const struct zdu_check_ctx *c, const struct zdu_http_result *res, const char *reason)
{
	struct zdu_check_result out;

	run_check(zdu_check_microversion, c, res, &out);
	if (out.cls != ZDU_PROBE_FAILED)
		fail_msg("%s: class %d (version \"%s\"), want failed \"%s\"", c->name, (int)out.cls, out.version,
			 reason);
	if (strcmp(out.reason, reason) != 0)
		fail_msg("reason \"%s\", want \"%s\"", out.reason, reason);
}

static struct zdu_check_ctx ctx_path(const char *name, const char *path, const char *min_path)
{
	struct zdu_check_ctx c = ctx_named(name);

	c.version_path = path;
	c.min_version_path = min_path;
	return c;
}

/* ------------------------------------------------------------ real answers */

static void test_placement_root(void **state)
{
	struct zdu_http_result r = answer_file(200, "placement/root.json");
	struct zdu_check_ctx c = ctx_path("placement", "versions[0].max_version", "versions[0].min_version");

	(void)state;
	assert_int_equal(r.len, 136); /* tests/data/placement/root.headers: Content-Length 136 */
	expect_version(&c, &r, "1.39", "1.0");
	/* without a minimum path, none is read */
	c.min_version_path = "";
	expect_version(&c, &r, "1.39", "");
	/* nova's path on placement's document: where it stops */
	c = ctx_path("placement", "version.version", NULL);
	expect_failed(&c, &r, "placement: no key 'version' in the answer");
	/* placement's path on a non-CURRENT-aware index past the end */
	c = ctx_path("placement", "versions[1].max_version", NULL);
	expect_failed(&c, &r, "placement: versions has 1 entries, no [1]");
	answer_free(&r);
}

static void test_nova_documents(void **state)
{
	struct zdu_http_result v21 = answer_file(200, "nova/v2.1.json");
	struct zdu_http_result root = answer_file(200, "nova/root.json");
	struct zdu_check_ctx c = ctx_path("nova-api", "version.version", "version.min_version");

	(void)state;
	expect_version(&c, &v21, "2.93", "2.1");
	/* The root lists v2.0 (SUPPORTED, version "") at [0] and v2.1
	 * (CURRENT) at [1]: the CURRENT one wins whatever the index. */
	c = ctx_path("nova-api", "versions[0].version", "versions[0].min_version");
	expect_version(&c, &root, "2.93", "2.1");
	c = ctx_path("nova-api", "versions[1].version", "versions[1].min_version");
	expect_version(&c, &root, "2.93", "2.1");
	/* nova's root answers 300 Multiple Choices when asked for a
	 * version it does not know; a version list is still one */
	root.status = 300;
	expect_version(&c, &root, "2.93", "2.1");
	answer_free(&v21);
	answer_free(&root);
}

static void test_cinder_samples(void **state)
{
	struct zdu_http_result show = answer_file(200, "cinder/v3-version-show-response.json");
	struct zdu_http_result list = answer_file(200, "cinder/versions-response.json");
	struct zdu_check_ctx c = ctx_path("cinder", "versions[0].version", "versions[0].min_version");

	(void)state;
	expect_version(&c, &show, "3.59", "3.0");
	/* v2.0 DEPRECATED with version "" at [0]: CURRENT wins */
	expect_version(&c, &list, "3.59", "3.0");
	answer_free(&show);
	answer_free(&list);
}

static void test_ironic_header(void **state)
{
	struct zdu_http_result v1 = answer_file(200, "ironic/api-v1-root-response.json");
	struct zdu_http_result root = answer_file(200, "ironic/api-root-response.json");
	struct zdu_check_ctx c = ctx_named("ironic");

	(void)state;
	c.version_header = "X-OpenStack-Ironic-API-Maximum-Version";
	/* GET /v1/: the maximum only in the header */
	v1.header_found = 1;
	strcpy(v1.header, "1.24");
	expect_version(&c, &v1, "1.24", "");
	/* the header wins over a path, even one the body does not have */
	c.version_path = "version.version";
	expect_version(&c, &v1, "1.24", "");
	/* ... and over one it has */
	root.header_found = 1;
	strcpy(root.header, "1.87");
	c.version_path = "default_version.version";
	c.min_version_path = "default_version.min_version";
	expect_version(&c, &root, "1.87", "1.1");
	/* no header: the path */
	root.header_found = 0;
	root.header[0] = '\0';
	expect_version(&c, &root, "1.24", "1.1");
	/* no header and no path: nothing to read */
	v1.header_found = 0;
	c.version_path = "";
	c.min_version_path = "";
	expect_failed(&c, &v1, "ironic: no X-OpenStack-Ironic-API-Maximum-Version header in the answer");
	/* no header, a path the body lacks */
	c.version_path = "version.version";
	expect_failed(&c, &v1, "ironic: no key 'version' in the answer");
	/* a header that is no version */
	v1.header_found = 1;
	strcpy(v1.header, "latest");
	expect_failed(&c, &v1, "ironic: header X-OpenStack-Ironic-API-Maximum-Version \"latest\" is not MAJOR.MINOR");
	strcpy(v1.header, "1.24\x01");
	expect_failed(&c, &v1, "ironic: header X-OpenStack-Ironic-API-Maximum-Version \"1.24?\" is not MAJOR.MINOR");
	/* a header cut by http.c (over ZDU_HTTP_HEADER_MAX) is never taken */
	strcpy(v1.header, "1.24");
	v1.header_cut = 1;
	expect_failed(&c, &v1, "ironic: header X-OpenStack-Ironic-API-Maximum-Version \"1.24\" is not MAJOR.MINOR");
	answer_free(&v1);
	answer_free(&root);
}

/* ------------------------------------------------------------ the kind */

static void test_status_and_transport(void **state)
{
	struct zdu_http_result r = answer_file(404, "placement/root.json");
	struct zdu_check_ctx c = ctx_path("placement", "versions[0].max_version", NULL);
	struct zdu_http_result t;

	(void)state;
	expect_failed(&c, &r, "placement: HTTP 404");
	r.status = 503;
	expect_failed(&c, &r, "placement: HTTP 503");
	r.status = 200;
	r.too_big = 1;
	expect_failed(&c, &r, "placement: body over 65536 bytes");
	answer_free(&r);
	t = transport(CURLE_COULDNT_CONNECT, 0, 1);
	expect_failed(&c, &t, "placement: connection refused");
	t = transport(CURLE_GOT_NOTHING, 1, 1);
	expect_failed(&c, &t, "placement: empty answer");
	t = transport(CURLE_RECV_ERROR, 1, 1);
	expect_failed(&c, &t, "placement: connection reset");
	t = transport(CURLE_COULDNT_RESOLVE_HOST, 0, 1);
	expect_failed(&c, &t, "placement: cannot resolve the host");
	/* cut before connecting: a failure, whatever the limit */
	c.limit_ms = T_LIMIT;
	t = transport(CURLE_OPERATION_TIMEDOUT, 0, T_TIMEOUT);
	expect_failed(&c, &t, "placement: connect timeout");
}

/* Slow is connected but no good answer within timeout_ms, for this kind
 * as for nova's. */
static void test_slow_split(void **state)
{
	struct zdu_http_result r = answer_file(200, "placement/root.json");
	struct zdu_check_ctx c = ctx_path("placement", "versions[0].max_version", NULL);
	struct zdu_check_result out;
	struct zdu_http_result t;

	(void)state;
	c.limit_ms = T_LIMIT;
	r.elapsed_ms = 1200;
	run_check(zdu_check_microversion, &c, &r, &out);
	assert_int_equal(out.cls, ZDU_PROBE_SLOW);
	assert_string_equal(out.reason, "placement: timeout after 1000 ms");
	assert_string_equal(out.slow_reason, "placement: slow: 1.2 s");
	assert_string_equal(out.version, "1.39"); /* a late good document still tells it */
	/* a request never allowed past timeout_ms: in time by definition */
	c.limit_ms = T_TIMEOUT;
	run_check(zdu_check_microversion, &c, &r, &out);
	assert_int_equal(out.cls, ZDU_PROBE_OK);
	answer_free(&r);
	c.limit_ms = T_LIMIT;
	t = transport(CURLE_OPERATION_TIMEDOUT, 1, T_LIMIT);
	run_check(zdu_check_microversion, &c, &t, &out);
	assert_int_equal(out.cls, ZDU_PROBE_SLOW);
	assert_string_equal(out.reason, "placement: timeout after 1000 ms");
	assert_string_equal(out.slow_reason, "placement: slow: no answer in 5.0 s");
	/* a late wrong document is a failure, not slowness */
	r = answer(200, "{}", 2);
	r.elapsed_ms = 1200;
	run_check(zdu_check_microversion, &c, &r, &out);
	assert_int_equal(out.cls, ZDU_PROBE_FAILED);
	assert_string_equal(out.reason, "placement: no key 'versions' in the answer");
	answer_free(&r);
}

/* ------------------------------------------------------------ documents */

static void expect_doc(const char *doc, const char *path, const char *version, const char *reason)
{
	char v[ZDU_VERSION_MAX], m[ZDU_VERSION_MAX], r[ZDU_REASON_MAX] = "";
	char *copy = malloc(strlen(doc) + 1);
	int rc;

	memcpy(copy, doc, strlen(doc));
	rc = zdu_check_version_doc(copy, strlen(doc), path, NULL, v, m, r, sizeof(r));
	free(copy);
	if (version) {
		if (rc != 0)
			fail_msg("%s at %s: rejected: %s", doc, path, r);
		assert_string_equal(v, version);
	} else {
		if (rc != -1)
			fail_msg("%s at %s: accepted \"%s\"", doc, path, v);
		if (strcmp(r, reason) != 0)
			fail_msg("%s at %s: reason \"%s\", want \"%s\"", doc, path, r, reason);
		assert_string_equal(v, "");
		assert_one_line(r);
	}
}

static void test_wrong_documents(void **state)
{
	(void)state;
	expect_doc("", "a", NULL, "invalid JSON at byte 0");
	expect_doc("<html>502 Bad Gateway</html>", "a", NULL, "invalid JSON at byte 1");
	expect_doc("{\"a\": 1} x", "a", NULL, "invalid JSON at byte 10");
	expect_doc("{\"a\": \"1.1\", \"a\": \"1.2\"}", "a", NULL, "invalid JSON at byte 16");
	expect_doc("[1]", "a", NULL, "the answer is a list, not an object");
	/* jansson takes only an object or a list as a document */
	expect_doc("\"1.2\"", "a", NULL, "invalid JSON at byte 5");
	expect_doc("{\"a\": [\"1.2\"]}", "a.b", NULL, "a is a list, not an object");
	expect_doc("{\"versions\": {}}", "versions[0].max_version", NULL, "versions is an object, not a list");
	expect_doc("{\"versions\": []}", "versions[0].max_version", NULL, "versions has 0 entries, no [0]");
	expect_doc("{\"versions\": [3]}", "versions[0].max_version", NULL,
		   "versions[0] is an integer, not an object");
	expect_doc("{\"versions\": [{}]}", "versions[0].max_version", NULL, "no key 'max_version' at versions[0]");
	expect_doc("{\"a\": {\"b\": null}}", "a.b.c", NULL, "a.b is null, not an object");
	/* non-string versions */
	expect_doc("{\"v\": 1.39}", "v", NULL, "v is a number, not a version string");
	expect_doc("{\"v\": 2}", "v", NULL, "v is an integer, not a version string");
	expect_doc("{\"v\": true}", "v", NULL, "v is a boolean, not a version string");
	expect_doc("{\"v\": null}", "v", NULL, "v is null, not a version string");
	expect_doc("{\"v\": [\"1.2\"]}", "v", NULL, "v is a list, not a version string");
	expect_doc("{\"v\": {\"max\": \"1.2\"}}", "v", NULL, "v is an object, not a version string");
	/* odd strings */
	expect_doc("{\"v\": \"\"}", "v", NULL, "v \"\" is not MAJOR.MINOR");
	expect_doc("{\"v\": \"latest\"}", "v", NULL, "v \"latest\" is not MAJOR.MINOR");
	expect_doc("{\"v\": \"1.39.1\"}", "v", NULL, "v \"1.39.1\" is not MAJOR.MINOR");
	expect_doc("{\"v\": \"v1.39\"}", "v", NULL, "v \"v1.39\" is not MAJOR.MINOR");
	/* a NUL inside a string: jansson refuses it (no JSON_ALLOW_NUL) */
	expect_doc("{\"v\": \"1.3\\u00009\"}", "v", NULL, "invalid JSON at byte 18");
	expect_doc("{\"v\": \"1.39\\n\"}", "v", NULL, "v \"1.39?\" is not MAJOR.MINOR");
	expect_doc("{\"v\": \"1.123456789012345\"}", "v", NULL, "v \"1.123456789012345\" is not MAJOR.MINOR");
	expect_doc("{\"v\": \"99999999999999999999.1\"}", "v", NULL,
		   "v \"99999999999999999999.1\" is not MAJOR.MINOR");
	/* good ones */
	expect_doc("{\"v\": \"1.39\"}", "v", "1.39", NULL);
	expect_doc("{\"v\": \"2.100\"}", "v", "2.100", NULL);
	expect_doc("[[{\"v\": \"1.2\"}]]", "[0][0].v", "1.2", NULL);
	expect_doc("{\"a b\": {\"c-d\": \"1.2\"}}", "a b.c-d", "1.2", NULL);
	/* the CURRENT rule is for "versions" only, and only among several */
	expect_doc("{\"list\": [{\"v\": \"1.1\"}, {\"v\": \"1.2\", \"status\": \"CURRENT\"}]}", "list[0].v", "1.1",
		   NULL);
	expect_doc("{\"versions\": [{\"v\": \"1.1\"}, {\"v\": \"1.2\", \"status\": \"CURRENT\"}]}",
		   "versions[0].v", "1.2", NULL);
	/* none CURRENT: the index */
	expect_doc("{\"versions\": [{\"v\": \"1.1\"}, {\"v\": \"1.2\", \"status\": \"SUPPORTED\"}]}",
		   "versions[1].v", "1.2", NULL);
}

static void test_min_version_odd(void **state)
{
	char v[ZDU_VERSION_MAX], m[ZDU_VERSION_MAX], r[ZDU_REASON_MAX];
	const char *doc = "{\"versions\": [{\"max_version\": \"1.39\", \"min_version\": 1}]}";

	(void)state;
	/* the minimum is informational: odd or missing, it is left empty */
	assert_int_equal(zdu_check_version_doc(doc, strlen(doc), "versions[0].max_version", "versions[0].min_version",
					       v, m, r, sizeof(r)), 0);
	assert_string_equal(v, "1.39");
	assert_string_equal(m, "");
	assert_int_equal(zdu_check_version_doc(doc, strlen(doc), "versions[0].max_version", "nothing.here", v, m, r,
					       sizeof(r)), 0);
	assert_string_equal(m, "");
}

static void expect_bad_path(const char *path, const char *reason)
{
	char r[ZDU_REASON_MAX] = "";
	json_t *root = json_object();

	if (zdu_check_path_valid(path, r, sizeof(r)) != -1)
		fail_msg("path \"%s\" accepted", path);
	if (strcmp(r, reason) != 0)
		fail_msg("path \"%s\": reason \"%s\", want \"%s\"", path, r, reason);
	r[0] = '\0';
	assert_null(zdu_check_json_path(root, path, r, sizeof(r)));
	assert_string_equal(r, reason);
	json_decref(root);
}

static void test_paths(void **state)
{
	char r[ZDU_REASON_MAX];
	char longpath[400];

	(void)state;
	expect_bad_path("", "path: empty");
	expect_bad_path(".a", "path: starts with '.'");
	expect_bad_path("a.", "path: ends with '.'");
	expect_bad_path("a..b", "path: empty key at byte 2");
	expect_bad_path("a[", "path: a digit expected after '[' at byte 2");
	expect_bad_path("a[x]", "path: a digit expected after '[' at byte 2");
	expect_bad_path("a[-1]", "path: a digit expected after '[' at byte 2");
	expect_bad_path("a[1", "path: ']' expected at byte 3");
	expect_bad_path("a[1234567]", "path: index over 999999 at byte 2");
	expect_bad_path("a]", "path: unexpected byte at 1");
	expect_bad_path("a[0]b", "path: unexpected byte at 4");
	expect_bad_path("a\tb", "path: unexpected byte at 1");
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	expect_bad_path(longpath, "path: over 256 bytes");
	assert_int_equal(zdu_check_path_valid("versions[0].max_version", r, sizeof(r)), 0);
	assert_int_equal(zdu_check_path_valid("[0][999999]", r, sizeof(r)), 0);
	assert_int_equal(zdu_check_path_valid("version.version", r, sizeof(r)), 0);
}

/* The real document cut after every byte: never accepted, never a read
 * past the end (ASan). */
static void test_truncated_everywhere(void **state)
{
	size_t len, n;
	char *body = read_data("placement/root.json", &len);

	(void)state;
	for (n = 0; n < len; n++) {
		char v[ZDU_VERSION_MAX], m[ZDU_VERSION_MAX], r[ZDU_REASON_MAX] = "", want[64];
		char *copy = malloc(n ? n : 1);

		memcpy(copy, body, n);
		if (zdu_check_version_doc(copy, n, "versions[0].max_version", "versions[0].min_version", v, m, r,
					  sizeof(r)) != -1)
			fail_msg("truncated at %zu bytes: accepted", n);
		snprintf(want, sizeof(want), "invalid JSON at byte %zu", n);
		if (strcmp(r, want) != 0)
			fail_msg("truncated at %zu: reason \"%s\", want \"%s\"", n, r, want);
		free(copy);
	}
	free(body);
}

/* Huge and deep inputs: bounded work, a clear reason. */
static void test_huge_and_deep(void **state)
{
	size_t n = 1 << 20, i;
	char *doc = malloc(n + 64);
	char v[ZDU_VERSION_MAX], m[ZDU_VERSION_MAX], r[ZDU_REASON_MAX];
	int rc;

	(void)state;
	/* 1 MiB of nested lists: jansson refuses past its depth limit */
	for (i = 0; i < n / 2; i++)
		doc[i] = '[';
	for (; i < n; i++)
		doc[i] = ']';
	rc = zdu_check_version_doc(doc, n, "[0]", NULL, v, m, r, sizeof(r));
	assert_int_equal(rc, -1);
	assert_true(strncmp(r, "invalid JSON at byte ", 21) == 0);
	/* a 1 MiB version string */
	memcpy(doc, "{\"v\": \"", 7);
	memset(doc + 7, '9', n - 10);
	memcpy(doc + n - 3, "\"}", 3);
	rc = zdu_check_version_doc(doc, n - 1, "v", NULL, v, m, r, sizeof(r));
	assert_int_equal(rc, -1);
	assert_true(strlen(r) < sizeof(r));
	assert_true(strncmp(r, "v \"9999", 7) == 0);
	assert_one_line(r);
	/* a list of 50000 versions, the CURRENT one last */
	{
		size_t at = 0;

		at += (size_t)sprintf(doc + at, "{\"versions\": [");
		for (i = 0; i < 50000; i++)
			at += (size_t)sprintf(doc + at, "{\"v\": \"1.%zu\"},", i);
		at += (size_t)sprintf(doc + at, "{\"v\": \"9.9\", \"status\": \"CURRENT\"}]}");
		assert_true(at < n);
		rc = zdu_check_version_doc(doc, at, "versions[0].v", NULL, v, m, r, sizeof(r));
		assert_int_equal(rc, 0);
		assert_string_equal(v, "9.9");
	}
	free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_placement_root),
		cmocka_unit_test(test_nova_documents),
		cmocka_unit_test(test_cinder_samples),
		cmocka_unit_test(test_ironic_header),
		cmocka_unit_test(test_status_and_transport),
		cmocka_unit_test(test_slow_split),
		cmocka_unit_test(test_wrong_documents),
		cmocka_unit_test(test_min_version_odd),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_huge_and_deep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
