/* window.c's pure parts: what a window command's failure quotes of its
 * output (zdu_window_tail: the last non-empty lines, joined, cut to the
 * buffer) and its placeholders (zdu_window_expand: {backend}, {plan}; the
 * rest as written). Running one is tested end to end by
 * tests/integration/test_coordinator_window.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "zdu/window.h"

static void tail_of(const char *out, unsigned n, const char *want)
{
	char buf[256];
	size_t len = strlen(out);
	char *copy = malloc(len ? len : 1); /* no NUL after it: ASan sees a read past the end */

	assert_non_null(copy);
	memcpy(copy, out, len);
	zdu_window_tail(copy, len, n, buf, sizeof(buf));
	free(copy);
	assert_string_equal(buf, want);
}

static void test_tail(void **state)
{
	(void)state;
	tail_of("", 3, "");
	tail_of("\n\n", 3, "");
	tail_of("one", 3, "one");
	tail_of("one\n", 3, "one");
	tail_of("one\ntwo\nthree\nfour\n", 3, "two | three | four");
	tail_of("one\ntwo\n\n\nthree\n\n", 2, "two | three");
	tail_of("a\r\nb\r\n", 3, "a | b");
	tail_of("x\nlast without newline", 1, "last without newline");
	tail_of("one\ntwo\n", 0, "");
}

static void test_tail_cut(void **state)
{
	char buf[8];

	(void)state;
	zdu_window_tail("abc\ndefghijkl\n", 14, 3, buf, sizeof(buf));
	assert_true(strlen(buf) < sizeof(buf));
	assert_string_equal(buf, "abc | d"); /* cut where the buffer ends */
	zdu_window_tail("abc\n", 4, 3, buf, 0); /* no room: nothing written */
}

static void test_expand(void **state)
{
	char *s;

	(void)state;
	s = zdu_window_expand("check {backend} --plan {plan}", "nova-api", "/etc/p.plan", NULL);
	assert_string_equal(s, "check nova-api --plan /etc/p.plan");
	free(s);
	s = zdu_window_expand("{backend}{backend}{plan", "b", "p", NULL);
	assert_string_equal(s, "bb{plan");
	free(s);
	s = zdu_window_expand("", "b", "p", NULL);
	assert_string_equal(s, "");
	free(s);
	s = zdu_window_expand("{other} {", "b", "p", NULL);
	assert_string_equal(s, "{other} {");
	free(s);
	/* a service's command: {service} is its name; none: empty */
	s = zdu_window_expand("placement-status upgrade check --service {service} {backend}", "placement", "p",
			      "placement-api");
	assert_string_equal(s, "placement-status upgrade check --service placement-api placement");
	free(s);
	s = zdu_window_expand("[{service}]", "b", "p", NULL);
	assert_string_equal(s, "[]");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tail),
		cmocka_unit_test(test_tail_cut),
		cmocka_unit_test(test_expand),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
