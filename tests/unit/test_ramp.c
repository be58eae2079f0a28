/* health.c zdu_ramp_percent: the slow-start weight, linear from start_pct
 * to target_pct over duration_ms, never above the target, never below the
 * start; start >= target and duration 0 mean "no ramp" (the target at once). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "zdu/health.h"

static void test_endpoints(void **state)
{
	(void)state;
	assert_int_equal(zdu_ramp_percent(10, 100, 2000, 0), 10);
	assert_int_equal(zdu_ramp_percent(10, 100, 2000, 2000), 100);
	assert_int_equal(zdu_ramp_percent(10, 100, 2000, 2001), 100);
	assert_int_equal(zdu_ramp_percent(10, 100, 2000, UINT64_MAX), 100);
	assert_int_equal(zdu_ramp_percent(0, 100, 60000, 0), 0);
	assert_int_equal(zdu_ramp_percent(0, 100, 60000, 60000), 100);
	assert_int_equal(zdu_ramp_percent(1, 50, 1000, 0), 1);
	assert_int_equal(zdu_ramp_percent(1, 50, 1000, 1000), 50);
	/* one millisecond before the end: not the target yet */
	assert_int_equal(zdu_ramp_percent(10, 100, 2000, 1999), 99);
	assert_int_equal(zdu_ramp_percent(0, 100, 3600000, 3599999), 99);
}

static void test_linear(void **state)
{
	(void)state;
	/* 10 -> 100 over 2 s: 4.5 % per 100 ms, rounded down */
	assert_int_equal(zdu_ramp_percent(10, 100, 2000, 100), 14);
	assert_int_equal(zdu_ramp_percent(10, 100, 2000, 500), 32);
	assert_int_equal(zdu_ramp_percent(10, 100, 2000, 1000), 55);
	assert_int_equal(zdu_ramp_percent(10, 100, 2000, 1500), 77);
	assert_int_equal(zdu_ramp_percent(0, 100, 1000, 1), 0);
	assert_int_equal(zdu_ramp_percent(0, 100, 1000, 10), 1);
	assert_int_equal(zdu_ramp_percent(0, 100, 1000, 505), 50);
	assert_int_equal(zdu_ramp_percent(0, 80, 4000, 1000), 20);
	assert_int_equal(zdu_ramp_percent(20, 60, 4000, 2000), 40);
}

/* Every millisecond of several ramps: equal to floor(start + (target -
 * start) * t / d), non-decreasing, within [start, target], every value
 * between start and target reached when the ramp is slower than 1 %/ms. */
static void test_exhaustive(void **state)
{
	static const struct {
		unsigned s, t;
		uint64_t d;
	} ramps[] = { { 10, 100, 2000 }, { 0, 100, 100 }, { 0, 100, 1000 }, { 50, 100, 30000 },
		      { 99, 100, 1000 }, { 0, 1, 500 },     { 10, 73, 7919 },  { 0, 100, 99 },
		      { 0, 100, 3600000 } };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ramps) / sizeof(ramps[0]); i++) {
		unsigned s = ramps[i].s, t = ramps[i].t, prev = s, seen[101];
		uint64_t d = ramps[i].d, e;

		memset(seen, 0, sizeof(seen));
		for (e = 0; e <= d + 5; e++) {
			unsigned p = zdu_ramp_percent(s, t, d, e);
			unsigned want = e >= d ? t : s + (unsigned)((uint64_t)(t - s) * e / d);

			if (p != want)
				fail_msg("ramp %u->%u over %llu ms at %llu ms: %u, want %u", s, t,
					 (unsigned long long)d, (unsigned long long)e, p, want);
			if (p < prev || p < s || p > t)
				fail_msg("ramp %u->%u over %llu ms at %llu ms: %u after %u", s, t,
					 (unsigned long long)d, (unsigned long long)e, p, prev);
			prev = p;
			seen[p] = 1;
		}
		if (d >= (uint64_t)(t - s))
			for (e = s; e <= t; e++)
				if (!seen[e])
					fail_msg("ramp %u->%u over %llu ms never says %llu %%", s, t,
						 (unsigned long long)d, (unsigned long long)e);
	}
}

/* start >= target: no ramp, the target at once, whatever the time. */
static void test_start_not_below_target(void **state)
{
	static const uint64_t times[] = { 0, 1, 999, 1000, 1001, UINT64_MAX };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		assert_int_equal(zdu_ramp_percent(100, 100, 1000, times[i]), 100);
		assert_int_equal(zdu_ramp_percent(50, 50, 1000, times[i]), 50);
		assert_int_equal(zdu_ramp_percent(90, 50, 1000, times[i]), 50);
		assert_int_equal(zdu_ramp_percent(100, 1, 1000, times[i]), 1);
		assert_int_equal(zdu_ramp_percent(0, 0, 1000, times[i]), 0);
	}
}

/* duration 0: slow start off, the target at once. */
static void test_duration_zero(void **state)
{
	(void)state;
	assert_int_equal(zdu_ramp_percent(10, 100, 0, 0), 100);
	assert_int_equal(zdu_ramp_percent(10, 100, 0, 1), 100);
	assert_int_equal(zdu_ramp_percent(0, 100, 0, UINT64_MAX), 100);
	assert_int_equal(zdu_ramp_percent(0, 37, 0, 0), 37);
}

/* The longest configurable ramp (slowstart.duration_ms <= 3600000), at
 * large elapsed values: no overflow in (target - start) * elapsed. */
static void test_long_ramp(void **state)
{
	(void)state;
	assert_int_equal(zdu_ramp_percent(0, 100, 3600000, 1800000), 50);
	assert_int_equal(zdu_ramp_percent(0, 100, 3600000, 3600000), 100);
	/* a day-long ramp, if the limit ever grows */
	assert_int_equal(zdu_ramp_percent(0, 100, 86400000ull, 43200000ull), 50);
	assert_int_equal(zdu_ramp_percent(0, 100, 1ull << 40, 1ull << 39), 50);
}

/* ---- fixed bugs: regression tests --------------
 * (target - start) * elapsed overflows uint64_t once elapsed > 2^64 / 100:
 * the ramp falls back to the start near its end. Unreachable through the
 * configuration (duration_ms <= 3600000), reachable through the API. */
static void test_fixed_ramp_overflow_huge_duration(void **state)
{
	uint64_t d = UINT64_MAX / 4 * 2; /* even: d / 2 is exactly half */

	(void)state;
	assert_int_equal(zdu_ramp_percent(0, 100, d, d / 2), 50);
	assert_int_equal(zdu_ramp_percent(0, 100, d, d - 1), 99);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoints),
		cmocka_unit_test(test_linear),
		cmocka_unit_test(test_exhaustive),
		cmocka_unit_test(test_start_not_below_target),
		cmocka_unit_test(test_duration_zero),
		cmocka_unit_test(test_long_ramp),
		cmocka_unit_test(test_fixed_ramp_overflow_huge_duration),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
