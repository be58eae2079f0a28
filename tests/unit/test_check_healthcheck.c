/* check_healthcheck.c: oslo.middleware's /healthcheck, on the captured real
 * answers of tests/data/healthcheck (a real placement-api and a real
 * nova-api behind oslo.middleware 5.0.0's disable_by_file; see its
 * README.md): 200 up; 503 "DISABLED BY FILE" the service's own maintenance
 * (disabled, class ok, the reason from the body) in text, JSON, detailed
 * JSON and HTML; any other 503 a failure with its reasons, bounded and
 * sanitized (made up here: oslo 5.0.0 has no backend that says anything
 * else); the reasons parser on odd bodies. */
#include "check_testlib.h"

static void expect_up(const char *file, long status)
{
	struct zdu_http_result r = answer_file(status, file);
	struct zdu_check_ctx c = ctx_named("placement");
	struct zdu_check_result out;

	run_check(zdu_check_healthcheck, &c, &r, &out);
	if (out.cls != ZDU_PROBE_OK || out.disabled)
		fail_msg("%s: class %d disabled %d reason \"%s\"", file, (int)out.cls, out.disabled, out.reason);
	answer_free(&r);
}

static void expect_disabled(const char *file)
{
	struct zdu_http_result r = answer_file(503, file);
	struct zdu_check_ctx c = ctx_named("placement");
	struct zdu_check_result out;

	run_check(zdu_check_healthcheck, &c, &r, &out);
	if (out.cls != ZDU_PROBE_OK || !out.disabled)
		fail_msg("%s: class %d disabled %d reason \"%s\"", file, (int)out.cls, out.disabled, out.reason);
	if (strcmp(out.disabled_reason, "placement: healthcheck: DISABLED BY FILE") != 0)
		fail_msg("%s: disabled_reason \"%s\"", file, out.disabled_reason);
	assert_true(zdu_check_healthcheck_disabled(503, r.body, r.len));
	answer_free(&r);
}

static void test_real_200(void **state)
{
	(void)state;
	expect_up("healthcheck/placement-200.txt", 200);
	expect_up("healthcheck/nova-200.txt", 200);
}

static void test_real_503_disabled(void **state)
{
	(void)state;
	expect_disabled("healthcheck/placement-503.txt");
	expect_disabled("healthcheck/placement-503.json");
	expect_disabled("healthcheck/placement-503.html");
	expect_disabled("healthcheck/placement-503-detailed.json");
	expect_disabled("healthcheck/nova-503.txt");
	expect_disabled("healthcheck/nova-503.json");
}

/* What each format's reasons read as. */
static void test_reasons_of_real_bodies(void **state)
{
	static const char *const files[] = { "healthcheck/placement-503.txt", "healthcheck/placement-503.json",
					     "healthcheck/placement-503.html", "healthcheck/placement-503-detailed.json" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		size_t len;
		char *b = read_data(files[i], &len);
		char r[ZDU_REASON_MAX];

		/* the detailed JSON's stacks and gc are no reasons */
		if (zdu_check_healthcheck_reasons(b, len, r, sizeof(r)) != 1 || strcmp(r, "DISABLED BY FILE") != 0)
			fail_msg("%s: reasons \"%s\"", files[i], r);
		free(b);
	}
}

static void expect_failed(long status, const char *body, const char *reason)
{
	struct zdu_http_result r = answer(status, body, strlen(body));
	struct zdu_check_ctx c = ctx_named("keystone");
	struct zdu_check_result out;

	run_check(zdu_check_healthcheck, &c, &r, &out);
	if (out.cls != ZDU_PROBE_FAILED || strcmp(out.reason, reason) != 0)
		fail_msg("HTTP %ld \"%s\": class %d reason \"%s\", want \"%s\"", status, body, (int)out.cls, out.reason,
			 reason);
	answer_free(&r);
}

static void test_other_503(void **state)
{
	(void)state;
	/* made up: a backend of an operator's (oslo 5.0.0 has none) */
	expect_failed(503, "database unreachable", "keystone: healthcheck 503: database unreachable");
	expect_failed(503, "db down\nmemcached down\n", "keystone: healthcheck 503: db down, memcached down");
	expect_failed(503, "{\n \"detailed\": false,\n \"reasons\": [\"db down\", \"\", \"OK\"]\n}",
		      "keystone: healthcheck 503: db down, OK");
	expect_failed(503, "{\"reasons\": [{\"reason\": \"db down\", \"class\": \"X\"}, 7]}",
		      "keystone: healthcheck 503: db down");
	/* JSON without reasons is read as text */
	expect_failed(503, "{\"error\": 1}", "keystone: healthcheck 503: {\"error\": 1}");
	expect_failed(503, "", "keystone: healthcheck 503");
	expect_failed(503, "\n\n  \n", "keystone: healthcheck 503");
	/* control bytes and high bytes become '?': one printable line */
	expect_failed(503, "bad\x1b[31m red\x7f\xff", "keystone: healthcheck 503: bad?[31m red??");
	/* "DISABLED" alone is not oslo's disable_by_file */
	expect_failed(503, "DISABLED", "keystone: healthcheck 503: DISABLED");
	/* other statuses */
	expect_failed(500, "DISABLED BY FILE", "keystone: HTTP 500");
	expect_failed(404, "", "keystone: HTTP 404");
	expect_failed(204, "", "keystone: HTTP 204");
	expect_failed(401, "Authentication required", "keystone: HTTP 401");
}

/* A huge 503 body: the reason stays within its bound, on one line. */
static void test_huge_503(void **state)
{
	size_t n = 1 << 20, i;
	char *b = malloc(n + 1);
	struct zdu_http_result r;
	struct zdu_check_ctx c = ctx_named("keystone");
	struct zdu_check_result out;

	(void)state;
	for (i = 0; i < n; i++)
		b[i] = i % 100 == 99 ? '\n' : (char)('a' + i % 26);
	b[n] = '\0';
	r = answer(503, b, n);
	run_check(zdu_check_healthcheck, &c, &r, &out);
	assert_int_equal(out.cls, ZDU_PROBE_FAILED);
	assert_true(strncmp(out.reason, "keystone: healthcheck 503: abcdef", 33) == 0);
	assert_true(strlen(out.reason) < ZDU_REASON_MAX);
	answer_free(&r);
	/* the same with "DISABLED BY FILE" at its very end: still disabled */
	memcpy(b + n - 16, "DISABLED BY FILE", 16);
	r = answer(503, b, n);
	run_check(zdu_check_healthcheck, &c, &r, &out);
	assert_int_equal(out.disabled, 1);
	assert_true(strlen(out.disabled_reason) < ZDU_REASON_MAX);
	answer_free(&r);
	/* a NUL in the body ends nothing early and breaks nothing */
	r = answer(503, "db\0down", 7);
	run_check(zdu_check_healthcheck, &c, &r, &out);
	assert_string_equal(out.reason, "keystone: healthcheck 503: db");
	answer_free(&r);
	free(b);
}

static void test_reasons_bounds(void **state)
{
	char small[8];
	char r[ZDU_REASON_MAX];

	(void)state;
	assert_int_equal(zdu_check_healthcheck_reasons("a\nb\nc", 5, r, sizeof(r)), 3);
	assert_string_equal(r, "a, b, c");
	assert_int_equal(zdu_check_healthcheck_reasons("abcdefghijkl", 12, small, sizeof(small)), 1);
	assert_string_equal(small, "abcdefg");
	assert_int_equal(zdu_check_healthcheck_reasons("x", 1, small, 0), 0);
	assert_int_equal(zdu_check_healthcheck_reasons("", 0, r, sizeof(r)), 0);
	assert_string_equal(r, "");
	/* an HTML body with no <TD>, or one never closed */
	assert_int_equal(zdu_check_healthcheck_reasons("<HTML>down</HTML>", 17, r, sizeof(r)), 0);
	assert_int_equal(zdu_check_healthcheck_reasons("<TD>db down", 11, r, sizeof(r)), 1);
	assert_string_equal(r, "db down");
	assert_false(zdu_check_healthcheck_disabled(200, "DISABLED BY FILE", 16));
	assert_false(zdu_check_healthcheck_disabled(503, "DISABLED BY FIL", 15));
	assert_true(zdu_check_healthcheck_disabled(503, "x DISABLED BY FILE y", 20));
}

static void test_transport_and_slow(void **state)
{
	struct zdu_check_ctx c = ctx_named("placement");
	struct zdu_http_result r = transport(CURLE_COULDNT_CONNECT, 0, 1);
	struct zdu_check_result out;

	(void)state;
	run_check(zdu_check_healthcheck, &c, &r, &out);
	assert_string_equal(out.reason, "placement: connection refused");
	c.limit_ms = T_LIMIT;
	r = answer_file(200, "healthcheck/placement-200.txt");
	r.elapsed_ms = 1500;
	run_check(zdu_check_healthcheck, &c, &r, &out);
	assert_int_equal(out.cls, ZDU_PROBE_SLOW);
	assert_string_equal(out.slow_reason, "placement: slow: 1.5 s");
	answer_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_200),
		cmocka_unit_test(test_real_503_disabled),
		cmocka_unit_test(test_reasons_of_real_bodies),
		cmocka_unit_test(test_other_503),
		cmocka_unit_test(test_huge_503),
		cmocka_unit_test(test_reasons_bounds),
		cmocka_unit_test(test_transport_and_slow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
