/* check_http.c: a plain HTTP status in expect_status (200 when the list is
 * empty), the body never read; the transport's reasons and the slow split
 * as for every kind. */
#include "check_testlib.h"

static void expect(const struct zdu_check_ctx *c, long status, enum zdu_probe_class cls, const char *reason)
{
	struct zdu_http_result r = answer(status, "whatever", 8);
	struct zdu_check_result out;

	run_check(zdu_check_http, c, &r, &out);
	if (out.cls != cls || strcmp(out.reason, reason) != 0)
		fail_msg("HTTP %ld: class %d reason \"%s\", want %d \"%s\"", status, (int)out.cls, out.reason, (int)cls,
			 reason);
	assert_string_equal(out.version, "");
	answer_free(&r);
}

static void test_default_200(void **state)
{
	struct zdu_check_ctx c = ctx_named("glance");

	(void)state;
	expect(&c, 200, ZDU_PROBE_OK, "");
	expect(&c, 204, ZDU_PROBE_FAILED, "glance: HTTP 204, not 200");
	expect(&c, 300, ZDU_PROBE_FAILED, "glance: HTTP 300, not 200");
	expect(&c, 503, ZDU_PROBE_FAILED, "glance: HTTP 503, not 200");
}

static void test_list(void **state)
{
	static const int codes[] = { 200, 204, 401 };
	struct zdu_check_ctx c = ctx_named("keystone");

	(void)state;
	c.expect_status = codes;
	c.nexpect = 3;
	expect(&c, 200, ZDU_PROBE_OK, "");
	expect(&c, 204, ZDU_PROBE_OK, "");
	/* an API behind authentication: 401 is its healthy answer */
	expect(&c, 401, ZDU_PROBE_OK, "");
	expect(&c, 500, ZDU_PROBE_FAILED, "keystone: HTTP 500, not one of 200, 204, 401");
	c.nexpect = 1;
	c.expect_status = codes + 2;
	expect(&c, 200, ZDU_PROBE_FAILED, "keystone: HTTP 200, not 401");
}

/* A long list is cut, never overflowing the reason. */
static void test_long_list(void **state)
{
	int codes[400];
	struct zdu_check_ctx c = ctx_named("a-service-with-a-rather-long-name-of-sixty-three-bytes-abcdefghi");
	struct zdu_http_result r = answer(599, "", 0);
	struct zdu_check_result out;
	size_t i;

	(void)state;
	for (i = 0; i < 400; i++)
		codes[i] = 100 + (int)i;
	c.expect_status = codes;
	c.nexpect = 400;
	run_check(zdu_check_http, &c, &r, &out);
	assert_int_equal(out.cls, ZDU_PROBE_FAILED);
	assert_true(strstr(out.reason, ": HTTP 599, not one of 100, 101, ") != NULL);
	assert_true(strstr(out.reason, "...") != NULL);
	answer_free(&r);
}

static void test_transport_and_slow(void **state)
{
	struct zdu_check_ctx c = ctx_named("glance");
	struct zdu_http_result r = transport(CURLE_COULDNT_CONNECT, 0, 1);
	struct zdu_check_result out;

	(void)state;
	run_check(zdu_check_http, &c, &r, &out);
	assert_string_equal(out.reason, "glance: connection refused");
	c.limit_ms = T_LIMIT;
	r = answer(200, "", 0);
	r.elapsed_ms = 3000;
	run_check(zdu_check_http, &c, &r, &out);
	assert_int_equal(out.cls, ZDU_PROBE_SLOW);
	assert_string_equal(out.slow_reason, "glance: slow: 3.0 s");
	answer_free(&r);
	r = answer(500, "", 0);
	r.elapsed_ms = 3000;
	run_check(zdu_check_http, &c, &r, &out);
	assert_int_equal(out.cls, ZDU_PROBE_FAILED);
	answer_free(&r);
	r = transport(CURLE_OPERATION_TIMEDOUT, 1, T_LIMIT);
	run_check(zdu_check_http, &c, &r, &out);
	assert_int_equal(out.cls, ZDU_PROBE_SLOW);
	assert_string_equal(out.slow_reason, "glance: slow: no answer in 5.0 s");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_200),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_long_list),
		cmocka_unit_test(test_transport_and_slow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
