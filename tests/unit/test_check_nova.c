/* check_nova.c: the nova kind as the probe runs it for any service name,
 * on the captured real answers of tests/data/nova. zdu_nova_* (built on the
 * same code) keep their own tests (test_nova_version, test_slow); this one
 * shows the kind: the service's name in every reason, the version of the
 * real document, the slow split, and that zdu_nova_classify() still says
 * "nova-api: " whatever the kind is called. */
#include "check_testlib.h"
#include "zdu/nova.h"

static void test_real_document(void **state)
{
	struct zdu_http_result r = answer_file(200, "nova/v2.1.json");
	struct zdu_check_ctx c = ctx_named("compute");
	struct zdu_check_result out;

	(void)state;
	run_check(zdu_check_nova, &c, &r, &out);
	assert_int_equal(out.cls, ZDU_PROBE_OK);
	assert_string_equal(out.version, "2.93");
	assert_string_equal(out.min_version, "2.1");
	assert_int_equal(out.disabled, 0);
	answer_free(&r);
	r = answer_file(200, "nova/v2.1-max-2.90.json");
	run_check(zdu_check_nova, &c, &r, &out);
	assert_int_equal(out.cls, ZDU_PROBE_OK);
	assert_string_equal(out.version, "2.90");
	answer_free(&r);
}

/* The root document and the others are no /v2.1/ document: named failures. */
static void test_real_other_documents(void **state)
{
	static const char *const files[] = { "nova/root.json", "nova/flavors-200.json", "nova/flavors-406.json",
					     "placement/root.json", "cinder/v3-version-show-response.json" };
	struct zdu_check_ctx c = ctx_named("compute");
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct zdu_http_result r = answer_file(200, files[i]);
		struct zdu_check_result out;

		run_check(zdu_check_nova, &c, &r, &out);
		assert_int_equal(out.cls, ZDU_PROBE_FAILED);
		if (strcmp(out.reason, "compute: no version object in the answer") != 0)
			fail_msg("%s: reason \"%s\"", files[i], out.reason);
		answer_free(&r);
	}
}

static void test_named_reasons(void **state)
{
	struct zdu_check_ctx c = ctx_named("compute");
	struct zdu_http_result r = answer_file(500, "nova/v2.1.json");
	struct zdu_check_result out;

	(void)state;
	run_check(zdu_check_nova, &c, &r, &out);
	assert_string_equal(out.reason, "compute: HTTP 500");
	answer_free(&r);
	r = transport(CURLE_COULDNT_CONNECT, 0, 1);
	run_check(zdu_check_nova, &c, &r, &out);
	assert_string_equal(out.reason, "compute: connection refused");
	r = transport(CURLE_SSL_CONNECT_ERROR, 1, 1);
	strcpy(r.curl_msg, "OpenSSL: wrong version number\n");
	run_check(zdu_check_nova, &c, &r, &out);
	assert_string_equal(out.reason, "compute: TLS: OpenSSL: wrong version number?");
}

static void test_slow(void **state)
{
	struct zdu_check_ctx c = ctx_named("compute");
	struct zdu_http_result r = answer_file(200, "nova/v2.1.json");
	struct zdu_check_result out;

	(void)state;
	c.limit_ms = T_LIMIT;
	r.elapsed_ms = 2500;
	run_check(zdu_check_nova, &c, &r, &out);
	assert_int_equal(out.cls, ZDU_PROBE_SLOW);
	assert_string_equal(out.slow_reason, "compute: slow: 2.5 s");
	assert_string_equal(out.version, "2.93");
	answer_free(&r);
	r = transport(CURLE_OPERATION_TIMEDOUT, 1, T_LIMIT);
	run_check(zdu_check_nova, &c, &r, &out);
	assert_int_equal(out.cls, ZDU_PROBE_SLOW);
	assert_string_equal(out.slow_reason, "compute: slow: no answer in 5.0 s");
	r = transport(CURLE_OPERATION_TIMEDOUT, 0, T_LIMIT);
	run_check(zdu_check_nova, &c, &r, &out);
	assert_int_equal(out.cls, ZDU_PROBE_FAILED);
	assert_string_equal(out.reason, "compute: connect timeout");
}

/* The old entry points say "nova-api: " and agree with the kind. */
static void test_nova_functions_agree(void **state)
{
	struct zdu_check_ctx c = ctx_named("nova-api");
	struct zdu_http_result r = answer(200, "{\"version\": {\"status\": \"SUPPORTED\"}}", 36);
	struct zdu_check_result out;
	struct zdu_nova_version v;
	char reason[ZDU_REASON_MAX], slow[ZDU_REASON_MAX];
	enum zdu_probe_class cls;

	(void)state;
	run_check(zdu_check_nova, &c, &r, &out);
	cls = zdu_nova_classify(&r, T_TIMEOUT, T_TIMEOUT, &v, reason, sizeof(reason), slow, sizeof(slow));
	assert_int_equal(cls, out.cls);
	assert_string_equal(reason, "nova-api: version status SUPPORTED, not CURRENT");
	assert_string_equal(reason, out.reason);
	assert_int_equal(zdu_nova_judge(&r, T_TIMEOUT, &v, reason, sizeof(reason)), -1);
	assert_string_equal(reason, out.reason);
	answer_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_document),
		cmocka_unit_test(test_real_other_documents),
		cmocka_unit_test(test_named_reasons),
		cmocka_unit_test(test_slow),
		cmocka_unit_test(test_nova_functions_agree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
