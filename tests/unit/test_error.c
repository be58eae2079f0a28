/* error.c: every enum zdu_err has words of its own (none falls through to
 * "unknown error", no two say the same), a value outside the enum is
 * "unknown error", and zdu_err_text says the failing call's own words when
 * it wrote some, the code's name when it wrote none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "zdu/error.h"

static void test_every_code_named(void **state)
{
	int i, k;

	(void)state;
	for (i = ZDU_OK; i < ZDU_ERR_LAST; i++) {
		const char *s = zdu_strerror((enum zdu_err)i);

		assert_non_null(s);
		assert_true(s[0] != '\0');
		assert_string_not_equal(s, "unknown error");
		for (k = ZDU_OK; k < i; k++)
			assert_string_not_equal(s, zdu_strerror((enum zdu_err)k));
	}
	assert_string_equal(zdu_strerror(ZDU_ERR_LAST), "unknown error");
	assert_string_equal(zdu_strerror((enum zdu_err)-1), "unknown error");
}

static void test_err_text(void **state)
{
	(void)state;
	assert_string_equal(zdu_err_text(ZDU_ERR_IO, "agent.conf: cannot open: Permission denied"),
			    "agent.conf: cannot open: Permission denied");
	assert_string_equal(zdu_err_text(ZDU_ERR_NOMEM, ""), "out of memory");
	assert_string_equal(zdu_err_text(ZDU_ERR_TIMEOUT, NULL), "timed out");
	assert_string_equal(zdu_err_text(ZDU_ERR_EXISTS, ""), zdu_strerror(ZDU_ERR_EXISTS));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_code_named),
		cmocka_unit_test(test_err_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
