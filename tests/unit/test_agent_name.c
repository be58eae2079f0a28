/* zdu_name_feed: the service name HAProxy's agent-send gives, read as it
 * comes (whole, a byte at a time, cut anywhere), bounded, and the bytes no
 * name has refused with where. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "zdu/agent_name.h"

static enum zdu_name_status feed(struct zdu_name_reader *r, const char *s, size_t step, size_t *total)
{
	size_t n = strlen(s), off = 0, used;
	enum zdu_name_status st = ZDU_NAME_MORE;

	zdu_name_reader_init(r);
	*total = 0;
	while (off < n && st == ZDU_NAME_MORE) {
		size_t k = n - off < step ? n - off : step;

		st = zdu_name_feed(r, s + off, k, &used);
		*total += used;
		off += k;
	}
	return st;
}

static void test_haproxy_line(void **unused)
{
	struct zdu_name_reader r;
	size_t used, step;

	(void)unused;
	for (step = 1; step <= 12; step++) {
		assert_int_equal(feed(&r, "placement\n", step, &used), ZDU_NAME_DONE);
		assert_string_equal(r.buf, "placement");
		assert_int_equal(used, 10);
	}
	/* What follows the line is not the name's. */
	assert_int_equal(feed(&r, "nova-api\nGET / HTTP/1.0\r\n", 100, &used), ZDU_NAME_DONE);
	assert_string_equal(r.buf, "nova-api");
	assert_int_equal(used, 9);
	/* CRLF, as some configurations write it. */
	assert_int_equal(feed(&r, "glance\r\n", 3, &used), ZDU_NAME_DONE);
	assert_string_equal(r.buf, "glance");
	/* An empty line: no name (the default service). */
	assert_int_equal(feed(&r, "\n", 1, &used), ZDU_NAME_DONE);
	assert_int_equal(r.len, 0);
}

static void test_eof_and_more(void **unused)
{
	struct zdu_name_reader r;
	size_t used;

	(void)unused;
	assert_int_equal(feed(&r, "cinder", 2, &used), ZDU_NAME_MORE);
	assert_int_equal(used, 6);
	assert_int_equal(zdu_name_eof(&r), ZDU_NAME_DONE);
	assert_string_equal(r.buf, "cinder");
	/* Done stays done. */
	assert_int_equal(zdu_name_feed(&r, "x\n", 2, &used), ZDU_NAME_DONE);
	assert_int_equal(used, 0);
	assert_string_equal(r.buf, "cinder");
}

static void test_invalid(void **unused)
{
	static const char *const bad[] = { "a b\n", "place/ment\n", "nova\x01\n", "x\ry\n", "#comment\n",
					   "\xff\xfe\n", "up ready\n" };
	struct zdu_name_reader r;
	char longname[80];
	size_t i, used;

	(void)unused;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(feed(&r, bad[i], 1, &used), ZDU_NAME_INVALID);
		assert_true(strstr(r.why, "at byte") != NULL);
	}
	/* 63 bytes are a name, 64 are not: refused at once, not at the line's end. */
	memset(longname, 'a', 63);
	longname[63] = '\n';
	longname[64] = '\0';
	assert_int_equal(feed(&r, longname, 7, &used), ZDU_NAME_DONE);
	assert_int_equal(r.len, 63);
	memset(longname, 'a', 79);
	longname[79] = '\0';
	assert_int_equal(feed(&r, longname, 100, &used), ZDU_NAME_INVALID);
	assert_true(used <= 64);
	assert_true(strstr(r.why, "over 63") != NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_haproxy_line),
		cmocka_unit_test(test_eof_and_more),
		cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
