/* health.c zdu_hysteresis_*: rise successes in a row make a down node up,
 * fall failures in a row make an up node down; the very first result decides
 * at once (the lead's design decision: the agent has nothing better to say);
 * an interrupted streak starts over.
 *
 * Exact transition points for several rise/fall values, against a reference
 * model written from the specification, on fixed and pseudo-random result
 * sequences. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "zdu/health.h"

static const char *name(enum zdu_health h)
{
	return h == ZDU_HEALTH_UP ? "up" : h == ZDU_HEALTH_DOWN ? "down" : h == ZDU_HEALTH_UNKNOWN ? "unknown"
										    : "?";
}

static void expect_feed(struct zdu_hysteresis *h, int ok, enum zdu_health want, const char *what, int step)
{
	enum zdu_health got = zdu_hysteresis_feed(h, ok);

	if (got != want)
		fail_msg("%s, result %d (%s): %s, want %s", what, step, ok ? "ok" : "fail", name(got),
			 name(want));
	if (h->verdict != got)
		fail_msg("%s, result %d: returned %s but verdict is %s", what, step, name(got),
			 name(h->verdict));
}

static void test_init(void **state)
{
	struct zdu_hysteresis h;

	(void)state;
	memset(&h, 0x5a, sizeof(h));
	zdu_hysteresis_init(&h, 2, 3);
	assert_int_equal(h.rise, 2);
	assert_int_equal(h.fall, 3);
	assert_int_equal(h.ok_streak, 0);
	assert_int_equal(h.fail_streak, 0);
	assert_int_equal(h.verdict, ZDU_HEALTH_UNKNOWN);
}

/* The first result decides at once, whatever rise and fall are. */
static void test_first_result_decides(void **state)
{
	static const int values[] = { 1, 2, 3, 5, 1000 };
	size_t i, j;

	(void)state;
	for (i = 0; i < 5; i++)
		for (j = 0; j < 5; j++) {
			struct zdu_hysteresis h;

			zdu_hysteresis_init(&h, values[i], values[j]);
			assert_int_equal(zdu_hysteresis_feed(&h, 1), ZDU_HEALTH_UP);
			assert_int_equal(h.ok_streak, 1);
			assert_int_equal(h.fail_streak, 0);
			zdu_hysteresis_init(&h, values[i], values[j]);
			assert_int_equal(zdu_hysteresis_feed(&h, 0), ZDU_HEALTH_DOWN);
			assert_int_equal(h.ok_streak, 0);
			assert_int_equal(h.fail_streak, 1);
		}
}

/* From up: exactly FALL failures in a row make it down (the FALL-th one),
 * then exactly RISE successes make it up again (the RISE-th one). */
static void check_cycle(int rise, int fall)
{
	struct zdu_hysteresis h;
	char what[64];
	int i, round;

	snprintf(what, sizeof(what), "rise %d fall %d", rise, fall);
	zdu_hysteresis_init(&h, rise, fall);
	expect_feed(&h, 1, ZDU_HEALTH_UP, what, 0);
	for (round = 0; round < 3; round++) {
		for (i = 1; i < fall; i++) {
			expect_feed(&h, 0, ZDU_HEALTH_UP, what, i);
			assert_int_equal(h.fail_streak, i);
			assert_int_equal(h.ok_streak, 0);
		}
		expect_feed(&h, 0, ZDU_HEALTH_DOWN, what, fall);
		assert_int_equal(h.fail_streak, fall);
		/* more failures: stays down, the streak keeps counting */
		expect_feed(&h, 0, ZDU_HEALTH_DOWN, what, fall + 1);
		assert_int_equal(h.fail_streak, fall + 1);
		for (i = 1; i < rise; i++) {
			expect_feed(&h, 1, ZDU_HEALTH_DOWN, what, i);
			assert_int_equal(h.ok_streak, i);
			assert_int_equal(h.fail_streak, 0);
		}
		expect_feed(&h, 1, ZDU_HEALTH_UP, what, rise);
		assert_int_equal(h.ok_streak, rise);
		expect_feed(&h, 1, ZDU_HEALTH_UP, what, rise + 1);
	}
}

static void test_exact_transitions(void **state)
{
	static const int values[] = { 1, 2, 3, 4, 7, 10 };
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		for (j = 0; j < sizeof(values) / sizeof(values[0]); j++)
			check_cycle(values[i], values[j]);
	check_cycle(2, 3); /* the defaults */
	check_cycle(1000, 1);
	check_cycle(1, 1000);
}

/* rise 1 / fall 1: every result decides. */
static void test_rise_fall_one(void **state)
{
	struct zdu_hysteresis h;
	static const int seq[] = { 1, 0, 1, 1, 0, 0, 1, 0 };
	size_t i;

	(void)state;
	zdu_hysteresis_init(&h, 1, 1);
	for (i = 0; i < sizeof(seq) / sizeof(seq[0]); i++)
		expect_feed(&h, seq[i], seq[i] ? ZDU_HEALTH_UP : ZDU_HEALTH_DOWN, "rise 1 fall 1", (int)i);
}

/* A success in the middle of failures starts the failure count over, and
 * the other way round. */
static void test_streak_resets(void **state)
{
	struct zdu_hysteresis h;

	(void)state;
	zdu_hysteresis_init(&h, 2, 3);
	expect_feed(&h, 1, ZDU_HEALTH_UP, "reset", 0);
	/* fail fail ok fail fail: never 3 in a row */
	expect_feed(&h, 0, ZDU_HEALTH_UP, "reset", 1);
	expect_feed(&h, 0, ZDU_HEALTH_UP, "reset", 2);
	assert_int_equal(h.fail_streak, 2);
	expect_feed(&h, 1, ZDU_HEALTH_UP, "reset", 3);
	assert_int_equal(h.fail_streak, 0);
	assert_int_equal(h.ok_streak, 1);
	expect_feed(&h, 0, ZDU_HEALTH_UP, "reset", 4);
	expect_feed(&h, 0, ZDU_HEALTH_UP, "reset", 5);
	expect_feed(&h, 0, ZDU_HEALTH_DOWN, "reset", 6);
	/* ok fail ok fail ...: never 2 in a row, stays down however long */
	for (int i = 0; i < 50; i++) {
		expect_feed(&h, 1, ZDU_HEALTH_DOWN, "alternating", 2 * i);
		assert_int_equal(h.ok_streak, 1);
		expect_feed(&h, 0, ZDU_HEALTH_DOWN, "alternating", 2 * i + 1);
		assert_int_equal(h.ok_streak, 0);
		assert_int_equal(h.fail_streak, 1);
	}
	expect_feed(&h, 1, ZDU_HEALTH_DOWN, "reset", 100);
	expect_feed(&h, 1, ZDU_HEALTH_UP, "reset", 101);
	/* once up, fail ok repeated never takes it down */
	for (int i = 0; i < 50; i++) {
		expect_feed(&h, 0, ZDU_HEALTH_UP, "alternating up", 2 * i);
		expect_feed(&h, 1, ZDU_HEALTH_UP, "alternating up", 2 * i + 1);
	}
}

/* A first failure decides "down" at once; then it takes RISE successes. */
static void test_first_failure_then_rise(void **state)
{
	struct zdu_hysteresis h;

	(void)state;
	zdu_hysteresis_init(&h, 3, 2);
	expect_feed(&h, 0, ZDU_HEALTH_DOWN, "first failure", 0);
	expect_feed(&h, 1, ZDU_HEALTH_DOWN, "first failure", 1);
	expect_feed(&h, 1, ZDU_HEALTH_DOWN, "first failure", 2);
	expect_feed(&h, 1, ZDU_HEALTH_UP, "first failure", 3);
	expect_feed(&h, 0, ZDU_HEALTH_UP, "first failure", 4);
	expect_feed(&h, 0, ZDU_HEALTH_DOWN, "first failure", 5);
}

/* A reference model written from the specification. */
struct model {
	int rise, fall, ok, fail;
	enum zdu_health v;
};

static enum zdu_health model_feed(struct model *m, int ok)
{
	if (ok) {
		m->ok++;
		m->fail = 0;
	} else {
		m->fail++;
		m->ok = 0;
	}
	if (m->v == ZDU_HEALTH_UNKNOWN)
		m->v = ok ? ZDU_HEALTH_UP : ZDU_HEALTH_DOWN;
	else if (m->v == ZDU_HEALTH_UP && m->fail == m->fall)
		m->v = ZDU_HEALTH_DOWN;
	else if (m->v == ZDU_HEALTH_DOWN && m->ok == m->rise)
		m->v = ZDU_HEALTH_UP;
	return m->v;
}

static uint32_t rng = 12345;

static uint32_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

/* Random sequences, with runs long enough to cross the thresholds; the
 * number of transitions is counted too. */
static void test_random_against_model(void **state)
{
	int rise, fall, iter;
	unsigned long transitions = 0;

	(void)state;
	for (rise = 1; rise <= 5; rise++)
		for (fall = 1; fall <= 5; fall++)
			for (iter = 0; iter < 20; iter++) {
				struct zdu_hysteresis h;
				struct model m = { rise, fall, 0, 0, ZDU_HEALTH_UNKNOWN };
				enum zdu_health prev = ZDU_HEALTH_UNKNOWN;
				int i;

				zdu_hysteresis_init(&h, rise, fall);
				for (i = 0; i < 500; i++) {
					/* biased runs: mostly repeats of the last value */
					static int last;
					int ok = next_rand() % 4 == 0 ? !last : last;
					enum zdu_health got = zdu_hysteresis_feed(&h, ok), want = model_feed(&m, ok);

					last = ok;
					if (got != want)
						fail_msg("rise %d fall %d iter %d step %d: %s, model %s", rise, fall,
							 iter, i, name(got), name(want));
					assert_int_equal(h.ok_streak, m.ok);
					assert_int_equal(h.fail_streak, m.fail);
					if (i > 0 && got != prev)
						transitions++;
					prev = got;
				}
			}
	/* the sequences did cross the thresholds, many times */
	assert_true(transitions > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_first_result_decides),
		cmocka_unit_test(test_exact_transitions),
		cmocka_unit_test(test_rise_fall_one),
		cmocka_unit_test(test_streak_resets),
		cmocka_unit_test(test_first_failure_then_rise),
		cmocka_unit_test(test_random_against_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
