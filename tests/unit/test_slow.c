/* Slow is not down (issue 15): check_nova.c zdu_nova_classify() tells a slow probe
 * from a failed one, health.c gives a slow node its weight steps and takes
 * it down only after probe.dead_after_ms, while failures still take it down
 * after fall.
 *
 *   classification: every curl outcome, answered in time or late, with the
 *     request cut at timeout_ms or allowed to run on (slow_timeout_ms);
 *   weight steps: 50 / 25 / 10 % over the thirds of dead_after_ms, exact
 *     boundaries, no overflow;
 *   the hysteresis: a 30-second slowdown with the defaults and with the e2e's
 *     fast settings never goes down; slow for dead_after_ms goes down (soft),
 *     not one probe earlier, never before fall probes; failures go down after
 *     fall, during a slow spell too; a slow probe ends a failure row; slowness
 *     never brings a node up nor decides a first verdict up; dead_after 0 is
 *     exactly the old hysteresis (random sequences against it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "zdu/common.h"
#include "zdu/health.h"
#include "zdu/nova.h"

#define DOC "{\"version\": {\"id\": \"v2.1\", \"status\": \"CURRENT\", \"version\": \"2.93\", " \
	    "\"min_version\": \"2.1\"}}"

static struct zdu_http_result result(CURLcode code, long status, const char *body, int connected,
				     uint64_t elapsed_ms)
{
	struct zdu_http_result res;

	memset(&res, 0, sizeof(res));
	res.curl = code;
	snprintf(res.curl_msg, sizeof(res.curl_msg), "%s", curl_easy_strerror(code));
	res.status = status;
	res.body = body ? body : "";
	res.len = body ? strlen(body) : 0;
	res.max_body = 65536;
	res.connected = connected;
	res.elapsed_ms = elapsed_ms;
	return res;
}

static void expect_class(const struct zdu_http_result *res, long timeout_ms, long limit_ms,
			 enum zdu_probe_class want, const char *want_reason, const char *want_slow)
{
	struct zdu_nova_version v;
	char r[ZDU_REASON_MAX], sr[ZDU_REASON_MAX];
	enum zdu_probe_class got;

	memset(r, 'X', sizeof(r));
	memset(sr, 'X', sizeof(sr));
	got = zdu_nova_classify(res, timeout_ms, limit_ms, &v, r, sizeof(r), sr, sizeof(sr));
	if (got != want)
		fail_msg("curl %d HTTP %ld connected %d after %llu ms (timeout %ld, limit %ld): class %d, "
			 "want %d", (int)res->curl, res->status, res->connected,
			 (unsigned long long)res->elapsed_ms, timeout_ms, limit_ms, (int)got, (int)want);
	if (want != ZDU_PROBE_OK)
		assert_string_equal(r, want_reason);
	assert_string_equal(sr, want_slow);
	if (want != ZDU_PROBE_FAILED && res->curl == CURLE_OK)
		assert_string_equal(v.version, "2.93"); /* a late document still tells */
}

/* ---------------------------------------------------------- classification */

static void test_classify_in_time(void **state)
{
	struct zdu_http_result res = result(CURLE_OK, 200, DOC, 1, 12);

	(void)state;
	expect_class(&res, 450, 450, ZDU_PROBE_OK, NULL, "");
	expect_class(&res, 450, 5000, ZDU_PROBE_OK, NULL, "");
	res.elapsed_ms = 450; /* exactly the timeout is in time */
	expect_class(&res, 450, 5000, ZDU_PROBE_OK, NULL, "");
	/* cut at timeout_ms, curl's clock and ours may differ by a few ms: a
	 * good answer of a request that could not run longer is in time */
	res.elapsed_ms = 453;
	expect_class(&res, 450, 450, ZDU_PROBE_OK, NULL, "");
}

static void test_classify_slow(void **state)
{
	struct zdu_http_result res = result(CURLE_OK, 200, DOC, 1, 1234);

	(void)state;
	/* a good document after the timeout, the request allowed to run on */
	expect_class(&res, 450, 5000, ZDU_PROBE_SLOW, "nova-api: timeout after 450 ms", "nova-api: slow: 1.2 s");
	res.elapsed_ms = 451;
	expect_class(&res, 450, 5000, ZDU_PROBE_SLOW, "nova-api: timeout after 450 ms", "nova-api: slow: 451 ms");
	res.elapsed_ms = 4999;
	expect_class(&res, 1000, 5000, ZDU_PROBE_SLOW, "nova-api: timeout after 1000 ms", "nova-api: slow: 5.0 s");
	/* connected, no answer before the limit: slow, no answer */
	res = result(CURLE_OPERATION_TIMEDOUT, 0, NULL, 1, 5003);
	expect_class(&res, 450, 5000, ZDU_PROBE_SLOW, "nova-api: timeout after 450 ms",
		     "nova-api: slow: no answer in 5.0 s");
	/* the same with the request cut at timeout_ms (a node not up): the
	 * failure reason is the one a timeout always had */
	res.elapsed_ms = 451;
	expect_class(&res, 450, 450, ZDU_PROBE_SLOW, "nova-api: timeout after 450 ms",
		     "nova-api: slow: no answer in 450 ms");
	/* headers came, the body trickles: still connected and at work */
	res = result(CURLE_OPERATION_TIMEDOUT, 200, "{\"vers", 1, 5001);
	expect_class(&res, 450, 5000, ZDU_PROBE_SLOW, "nova-api: timeout after 450 ms",
		     "nova-api: slow: no answer in 5.0 s");
}

static void test_classify_failed(void **state)
{
	struct zdu_http_result res;

	(void)state;
	/* nobody took the connection in time: not an API at work */
	res = result(CURLE_OPERATION_TIMEDOUT, 0, NULL, 0, 400);
	expect_class(&res, 450, 5000, ZDU_PROBE_FAILED, "nova-api: connect timeout", "");
	expect_class(&res, 450, 450, ZDU_PROBE_FAILED, "nova-api: connect timeout", "");
	res = result(CURLE_COULDNT_CONNECT, 0, NULL, 0, 1);
	expect_class(&res, 450, 5000, ZDU_PROBE_FAILED, "nova-api: connection refused", "");
	res = result(CURLE_RECV_ERROR, 0, NULL, 1, 2);
	expect_class(&res, 450, 5000, ZDU_PROBE_FAILED, "nova-api: connection reset", "");
	res = result(CURLE_GOT_NOTHING, 0, NULL, 1, 2);
	expect_class(&res, 450, 5000, ZDU_PROBE_FAILED, "nova-api: empty answer", "");
	/* a wrong answer is wrong however late it comes */
	res = result(CURLE_OK, 500, "{}", 1, 2000);
	expect_class(&res, 450, 5000, ZDU_PROBE_FAILED, "nova-api: HTTP 500", "");
	res = result(CURLE_OK, 503, "{}", 1, 20);
	expect_class(&res, 450, 5000, ZDU_PROBE_FAILED, "nova-api: HTTP 503", "");
	res = result(CURLE_OK, 200, "{\"version\": {\"status\": \"SUPPORTED\"}}", 1, 3000);
	expect_class(&res, 450, 5000, ZDU_PROBE_FAILED, "nova-api: version status SUPPORTED, not CURRENT", "");
	res = result(CURLE_OK, 200, "<html>", 1, 3000);
	expect_class(&res, 450, 5000, ZDU_PROBE_FAILED, "nova-api: invalid JSON at byte 1", "");
	/* a body over the limit, even if the transfer then timed out */
	res = result(CURLE_OPERATION_TIMEDOUT, 200, NULL, 1, 5000);
	res.too_big = 1;
	expect_class(&res, 450, 5000, ZDU_PROBE_FAILED, "nova-api: body over 65536 bytes", "");
}

static void test_duration_text(void **state)
{
	char b[32];

	(void)state;
	assert_string_equal(zdu_duration_text(0, b, sizeof(b)), "0 ms");
	assert_string_equal(zdu_duration_text(999, b, sizeof(b)), "999 ms");
	assert_string_equal(zdu_duration_text(1000, b, sizeof(b)), "1.0 s");
	assert_string_equal(zdu_duration_text(1249, b, sizeof(b)), "1.2 s");
	assert_string_equal(zdu_duration_text(60000, b, sizeof(b)), "60.0 s");
	assert_string_equal(zdu_duration_text(UINT64_MAX, b, 8), "1844674"); /* cut, terminated */
}

/* ---------------------------------------------------------- weight steps */

static void test_weight_steps(void **state)
{
	(void)state;
	/* the default 60 s: 50 % for 20 s, 25 % for 20 s, 10 % for the last 20 s */
	assert_int_equal(zdu_slow_weight_pct(0, 60000), 50);
	assert_int_equal(zdu_slow_weight_pct(19999, 60000), 50);
	assert_int_equal(zdu_slow_weight_pct(20000, 60000), 25);
	assert_int_equal(zdu_slow_weight_pct(39999, 60000), 25);
	assert_int_equal(zdu_slow_weight_pct(40000, 60000), 10);
	assert_int_equal(zdu_slow_weight_pct(59999, 60000), 10);
	assert_int_equal(zdu_slow_weight_pct(600000, 60000), 10);
	/* thirds that do not divide evenly: 1000 -> 333.3 and 666.7 */
	assert_int_equal(zdu_slow_weight_pct(333, 1000), 50);
	assert_int_equal(zdu_slow_weight_pct(334, 1000), 25);
	assert_int_equal(zdu_slow_weight_pct(666, 1000), 25);
	assert_int_equal(zdu_slow_weight_pct(667, 1000), 10);
	/* no overflow at the extremes */
	assert_int_equal(zdu_slow_weight_pct(UINT64_MAX, UINT64_MAX), 10);
	assert_int_equal(zdu_slow_weight_pct(UINT64_MAX / 3 - 1, UINT64_MAX), 50);
	assert_int_equal(zdu_slow_weight_pct(UINT64_MAX / 3, UINT64_MAX), 25);
	assert_int_equal(zdu_slow_weight_pct(UINT64_MAX / 2, UINT64_MAX), 25);
	assert_int_equal(zdu_slow_weight_pct(1, 86400000), 50);
}

/* ---------------------------------------------------------- the hysteresis */

struct sim {
	struct zdu_hysteresis h;
	uint64_t now;      /* monotonic ms of the next probe's start */
	uint64_t interval; /* between probe starts (a late probe delays the next) */
};

static void sim_init(struct sim *s, int rise, int fall, uint64_t dead_after, uint64_t interval)
{
	zdu_hysteresis_init(&s->h, rise, fall);
	zdu_hysteresis_set_dead_after(&s->h, dead_after);
	s->now = 1000000;
	s->interval = interval;
}

/* One probe taking took_ms; the next starts an interval after this one
 * started, or when it ends if it ran longer (probe.c's tick_pending). */
static enum zdu_health sim_feed(struct sim *s, enum zdu_probe_class c, uint64_t took_ms)
{
	enum zdu_health v = zdu_hysteresis_feed_class(&s->h, c, s->now, s->now + took_ms);

	s->now += took_ms > s->interval ? took_ms : s->interval;
	return v;
}

static void up_and_running(struct sim *s)
{
	assert_int_equal(sim_feed(s, ZDU_PROBE_OK, 5), ZDU_HEALTH_UP);
	assert_int_equal(s->h.fault, ZDU_FAULT_NONE);
	assert_int_equal(s->h.slow, 0);
}

/* Every node slow for 30 s, with the defaults (2 s interval, fall 3, 60 s)
 * and the e2e's fast settings (500 ms, fall 2): never down; the weight
 * steps as the spell ages; rise good answers end it. */
static void slowdown_30s(uint64_t interval, int rise, int fall, uint64_t took)
{
	struct sim s;
	uint64_t start;
	int n = 0;

	sim_init(&s, rise, fall, 60000, interval);
	up_and_running(&s);
	start = s.now;
	while (s.now - start < 30000) {
		assert_int_equal(sim_feed(&s, ZDU_PROBE_SLOW, took), ZDU_HEALTH_UP);
		assert_int_equal(s.h.fault, ZDU_FAULT_SOFT);
		assert_true(s.h.slow);
		assert_int_equal(s.h.slow_since_ms, start);
		assert_int_equal(s.h.hard_streak, 0);
		assert_int_equal(s.h.fail_streak, ++n);
		assert_int_equal(zdu_slow_weight_pct(s.h.slow_for_ms, 60000), s.h.slow_for_ms < 20000 ? 50 : 25);
	}
	assert_true((uint64_t)n >= 30000 / (took > interval ? took : interval));
	/* one good answer: still slow (the weight stays), rise end the spell */
	for (n = 1; n < rise; n++) {
		assert_int_equal(sim_feed(&s, ZDU_PROBE_OK, 5), ZDU_HEALTH_UP);
		assert_true(s.h.slow);
		assert_int_equal(s.h.fault, ZDU_FAULT_SOFT);
	}
	assert_int_equal(sim_feed(&s, ZDU_PROBE_OK, 5), ZDU_HEALTH_UP);
	assert_false(s.h.slow);
	assert_int_equal(s.h.fault, ZDU_FAULT_NONE);
}

static void test_slowdown_never_down(void **state)
{
	(void)state;
	slowdown_30s(2000, 2, 3, 1200); /* defaults, answers in 1.2 s */
	slowdown_30s(2000, 2, 3, 5000); /* defaults, no answer within slow_timeout_ms */
	slowdown_30s(500, 2, 2, 1200);  /* the e2e's fast settings */
	slowdown_30s(500, 2, 2, 3000);
	slowdown_30s(500, 1, 1, 600);   /* even fall 1 */
}

/* Slow for dead_after_ms: down at the first result at or past the bound,
 * not one probe earlier; soft. Then it takes rise good answers, as always. */
static void test_dead_after(void **state)
{
	struct sim s;
	uint64_t start;
	int probes = 0;

	(void)state;
	sim_init(&s, 2, 2, 60000, 500);
	up_and_running(&s);
	start = s.now;
	for (;;) {
		uint64_t end = s.now + 1200;
		enum zdu_health v = sim_feed(&s, ZDU_PROBE_SLOW, 1200);

		probes++;
		if (end - start < 60000) {
			assert_int_equal(v, ZDU_HEALTH_UP);
			continue;
		}
		assert_int_equal(v, ZDU_HEALTH_DOWN);
		break;
	}
	assert_int_equal(probes, 50); /* the 50th ends at 60.0 s */
	assert_int_equal(s.h.fault, ZDU_FAULT_SOFT);
	assert_false(s.h.slow);
	/* still slow while down: stays down, stays soft */
	assert_int_equal(sim_feed(&s, ZDU_PROBE_SLOW, 450), ZDU_HEALTH_DOWN);
	assert_int_equal(s.h.fault, ZDU_FAULT_SOFT);
	assert_false(s.h.slow);
	/* a failure now: hard */
	assert_int_equal(sim_feed(&s, ZDU_PROBE_FAILED, 1), ZDU_HEALTH_DOWN);
	assert_int_equal(s.h.fault, ZDU_FAULT_HARD);
	/* slow again does not make it soft again, nor up */
	assert_int_equal(sim_feed(&s, ZDU_PROBE_SLOW, 450), ZDU_HEALTH_DOWN);
	assert_int_equal(s.h.fault, ZDU_FAULT_HARD);
	assert_int_equal(sim_feed(&s, ZDU_PROBE_OK, 5), ZDU_HEALTH_DOWN);
	assert_int_equal(sim_feed(&s, ZDU_PROBE_OK, 5), ZDU_HEALTH_UP);
	assert_int_equal(s.h.fault, ZDU_FAULT_NONE);
}

/* dead_after shorter than fall probes: still never before fall. */
static void test_dead_after_not_before_fall(void **state)
{
	struct sim s;
	int i;

	(void)state;
	sim_init(&s, 2, 5, 100, 500);
	up_and_running(&s);
	for (i = 1; i < 5; i++) {
		assert_int_equal(sim_feed(&s, ZDU_PROBE_SLOW, 450), ZDU_HEALTH_UP);
		assert_true(s.h.slow_for_ms >= 100 || i == 1);
	}
	assert_int_equal(sim_feed(&s, ZDU_PROBE_SLOW, 450), ZDU_HEALTH_DOWN);
	assert_int_equal(s.h.fault, ZDU_FAULT_SOFT);
}

/* Failures take the node down after fall, whether it is slow or not; the
 * slow spell's age counts only toward dead_after. */
static void test_failures_still_fall(void **state)
{
	struct sim s;
	int i;

	(void)state;
	/* a real death out of a healthy node: exactly fall probes */
	sim_init(&s, 2, 2, 60000, 500);
	up_and_running(&s);
	assert_int_equal(sim_feed(&s, ZDU_PROBE_FAILED, 1), ZDU_HEALTH_UP);
	assert_int_equal(sim_feed(&s, ZDU_PROBE_FAILED, 1), ZDU_HEALTH_DOWN);
	assert_int_equal(s.h.fault, ZDU_FAULT_HARD);

	/* a death in the middle of a slowdown: fall failures, not dead_after */
	sim_init(&s, 2, 3, 60000, 500);
	up_and_running(&s);
	for (i = 0; i < 10; i++)
		assert_int_equal(sim_feed(&s, ZDU_PROBE_SLOW, 1500), ZDU_HEALTH_UP);
	assert_int_equal(sim_feed(&s, ZDU_PROBE_FAILED, 1), ZDU_HEALTH_UP);
	assert_true(s.h.slow); /* one failure does not end the spell */
	assert_int_equal(s.h.fault, ZDU_FAULT_SOFT);
	assert_int_equal(sim_feed(&s, ZDU_PROBE_FAILED, 1), ZDU_HEALTH_UP);
	assert_int_equal(sim_feed(&s, ZDU_PROBE_FAILED, 1), ZDU_HEALTH_DOWN);
	assert_int_equal(s.h.fault, ZDU_FAULT_HARD);
	assert_false(s.h.slow);

	/* a slow answer ends a row of failures: the API is at work */
	sim_init(&s, 2, 2, 60000, 500);
	up_and_running(&s);
	for (i = 0; i < 20; i++) {
		assert_int_equal(sim_feed(&s, ZDU_PROBE_FAILED, 1), ZDU_HEALTH_UP);
		assert_int_equal(s.h.hard_streak, 1);
		assert_int_equal(sim_feed(&s, ZDU_PROBE_SLOW, 1000), ZDU_HEALTH_UP);
		assert_int_equal(s.h.hard_streak, 0);
	}
	/* ... but dead_after still bounds such a node: it has not answered in
	 * time for that long */
	sim_init(&s, 2, 2, 10000, 500);
	up_and_running(&s);
	for (i = 0; s.h.verdict == ZDU_HEALTH_UP; i++) {
		sim_feed(&s, i % 2 ? ZDU_PROBE_SLOW : ZDU_PROBE_FAILED, i % 2 ? 1000 : 1);
		assert_true(i < 30);
	}
	assert_true(s.h.slow_since_ms == 0 && i >= 10);
}

/* Slowness never brings a node up and never decides a first verdict up:
 * uwsgi accepts connections before nova has loaded. */
static void test_slow_never_brings_up(void **state)
{
	struct sim s;
	int i;

	(void)state;
	sim_init(&s, 2, 3, 60000, 500);
	assert_int_equal(sim_feed(&s, ZDU_PROBE_SLOW, 450), ZDU_HEALTH_DOWN);
	assert_int_equal(s.h.fault, ZDU_FAULT_HARD);
	assert_false(s.h.slow);
	for (i = 0; i < 200; i++) {
		assert_int_equal(sim_feed(&s, ZDU_PROBE_SLOW, 450), ZDU_HEALTH_DOWN);
		assert_int_equal(s.h.ok_streak, 0);
		assert_false(s.h.slow);
	}
	/* slow between good answers restarts the rise count */
	assert_int_equal(sim_feed(&s, ZDU_PROBE_OK, 5), ZDU_HEALTH_DOWN);
	assert_int_equal(sim_feed(&s, ZDU_PROBE_SLOW, 450), ZDU_HEALTH_DOWN);
	assert_int_equal(sim_feed(&s, ZDU_PROBE_OK, 5), ZDU_HEALTH_DOWN);
	assert_int_equal(sim_feed(&s, ZDU_PROBE_OK, 5), ZDU_HEALTH_UP);
}

/* A good answer in the middle of a spell: the spell goes on (weight and
 * age), the failure count starts over; the spell's age keeps counting from
 * its first slow probe. */
static void test_spell_with_good_answers(void **state)
{
	struct sim s;
	uint64_t start;
	int i;

	(void)state;
	sim_init(&s, 3, 2, 30000, 500);
	up_and_running(&s);
	start = s.now;
	for (i = 0; i < 100; i++) {
		assert_int_equal(sim_feed(&s, i % 2 ? ZDU_PROBE_OK : ZDU_PROBE_SLOW, 800), ZDU_HEALTH_UP);
		assert_true(s.h.slow);
		assert_int_equal(s.h.fault, ZDU_FAULT_SOFT);
		assert_int_equal(s.h.slow_since_ms, start);
	}
	/* over 30 s old, but never fall probes in a row without a good
	 * answer: up. Two slow ones in a row now: down, soft. */
	assert_true(s.h.slow_for_ms > 30000);
	assert_int_equal(sim_feed(&s, ZDU_PROBE_SLOW, 800), ZDU_HEALTH_UP);
	assert_int_equal(sim_feed(&s, ZDU_PROBE_SLOW, 800), ZDU_HEALTH_DOWN);
	assert_int_equal(s.h.fault, ZDU_FAULT_SOFT);
}

/* dead_after 0: a slow probe is a failure, exactly the old hysteresis. */
static void test_dead_after_zero_is_the_old_hysteresis(void **state)
{
	uint32_t rng = 99;
	int fall, rise, i;

	(void)state;
	for (rise = 1; rise <= 4; rise++)
		for (fall = 1; fall <= 4; fall++) {
			struct zdu_hysteresis a, b;

			zdu_hysteresis_init(&a, rise, fall);
			zdu_hysteresis_init(&b, rise, fall);
			zdu_hysteresis_set_dead_after(&b, 0);
			for (i = 0; i < 2000; i++) {
				enum zdu_probe_class c;

				rng ^= rng << 13;
				rng ^= rng >> 17;
				rng ^= rng << 5;
				c = (enum zdu_probe_class)(rng % 3);
				assert_int_equal(zdu_hysteresis_feed(&a, c == ZDU_PROBE_OK),
						 zdu_hysteresis_feed_class(&b, c, (uint64_t)i * 500,
									   (uint64_t)i * 500 + 450));
				assert_int_equal(a.ok_streak, b.ok_streak);
				assert_int_equal(a.fail_streak, b.fail_streak);
				assert_false(b.slow);
				assert_true(b.fault != ZDU_FAULT_SOFT);
			}
		}
}

/* A reload that sets dead_after_ms to 0 ends a running spell. */
static void test_dead_after_turned_off(void **state)
{
	struct sim s;

	(void)state;
	sim_init(&s, 2, 2, 60000, 500);
	up_and_running(&s);
	assert_int_equal(sim_feed(&s, ZDU_PROBE_SLOW, 1000), ZDU_HEALTH_UP);
	assert_true(s.h.slow);
	zdu_hysteresis_set_dead_after(&s.h, 0);
	assert_false(s.h.slow);
	assert_int_equal(s.h.fault, ZDU_FAULT_NONE);
	/* from now on a slow probe is a failure: fall of them take it down,
	 * hard (the slow one before does not count as a failure) */
	assert_int_equal(sim_feed(&s, ZDU_PROBE_SLOW, 450), ZDU_HEALTH_UP);
	assert_int_equal(sim_feed(&s, ZDU_PROBE_SLOW, 450), ZDU_HEALTH_DOWN);
	assert_int_equal(s.h.fault, ZDU_FAULT_HARD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify_in_time),
		cmocka_unit_test(test_classify_slow),
		cmocka_unit_test(test_classify_failed),
		cmocka_unit_test(test_duration_text),
		cmocka_unit_test(test_weight_steps),
		cmocka_unit_test(test_slowdown_never_down),
		cmocka_unit_test(test_dead_after),
		cmocka_unit_test(test_dead_after_not_before_fall),
		cmocka_unit_test(test_failures_still_fall),
		cmocka_unit_test(test_slow_never_brings_up),
		cmocka_unit_test(test_spell_with_good_answers),
		cmocka_unit_test(test_dead_after_zero_is_the_old_hysteresis),
		cmocka_unit_test(test_dead_after_turned_off),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
