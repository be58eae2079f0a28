/* zdu_flag_etcd_value: an etcd key's value (or its absence) as a flag.
 * The value is a flag file's text; whatever cannot be understood drains
 * (fail safe, as for the flag file) and the error names the key, so the
 * reply line and --status say where to look. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/common.h"
#include "zdu/flag.h"
#include "zdu/flag_etcd.h"

#define KEY "/zdu/maintenance/nodes/n1"

/* From a heap copy of exactly len bytes (etcd values are not C strings:
 * ASan catches a read past the end), into a flag full of garbage. */
static void value(const char *key, int present, const char *text, size_t len, struct zdu_flag *f)
{
	char *copy = NULL;

	if (present) {
		copy = malloc(len ? len : 1);
		assert_non_null(copy);
		memcpy(copy, text, len);
	}
	memset(f, 0x5a, sizeof(*f));
	zdu_flag_etcd_value(key, present, copy, len, f);
	free(copy);
	/* every text terminated in its array and printable: it goes into the
	 * reply line and JSON */
	assert_true(strnlen(f->reason, sizeof(f->reason)) < sizeof(f->reason));
	assert_true(strnlen(f->since, sizeof(f->since)) < sizeof(f->since));
	assert_true(strnlen(f->by, sizeof(f->by)) < sizeof(f->by));
	assert_true(strnlen(f->error, sizeof(f->error)) < sizeof(f->error));
	for (size_t i = 0; f->error[i]; i++)
		assert_true(f->error[i] >= 0x20 && f->error[i] < 0x7f);
	if (f->error[0])
		assert_int_equal(f->mode, ZDU_FLAG_DRAIN);
}

static void expect_error(const char *text, size_t len, const char *want)
{
	struct zdu_flag f;

	value(KEY, 1, text, len, &f);
	assert_int_equal(f.mode, ZDU_FLAG_DRAIN);
	if (strncmp(f.error, "etcd " KEY ": ", strlen("etcd " KEY ": ")) != 0 || !strstr(f.error, want))
		fail_msg("error \"%s\": want \"etcd " KEY ": ...%s...\"", f.error, want);
}

/* No key: no maintenance from etcd, and nothing left over. */
static void test_absent_is_off(void **state)
{
	struct zdu_flag f;

	(void)state;
	value(KEY, 0, NULL, 0, &f);
	assert_int_equal(f.mode, ZDU_FLAG_OFF);
	assert_string_equal(f.error, "");
	assert_string_equal(f.reason, "");
	assert_string_equal(f.since, "");
	assert_string_equal(f.by, "");
}

static void test_valid_value(void **state)
{
	struct zdu_flag f;
	const char *t = "mode=drain\nreason=x\n";

	(void)state;
	value(KEY, 1, t, strlen(t), &f);
	assert_int_equal(f.mode, ZDU_FLAG_DRAIN);
	assert_string_equal(f.reason, "x");
	assert_string_equal(f.error, "");

	/* what `zdu-agent --maintenance on --mode maint` writes */
	t = "# zdu-agent maintenance flag\nmode=maint\nreason=kernel 6.1 upgrade\nsince=2026-11-25T01:57:09Z\n"
	    "by=root@api-1\n";
	value(KEY, 1, t, strlen(t), &f);
	assert_int_equal(f.mode, ZDU_FLAG_MAINT);
	assert_string_equal(f.reason, "kernel 6.1 upgrade");
	assert_string_equal(f.since, "2026-11-25T01:57:09Z");
	assert_string_equal(f.by, "root@api-1");
	assert_string_equal(f.error, "");

	t = "mode=lb";
	value(KEY, 1, t, strlen(t), &f);
	assert_int_equal(f.mode, ZDU_FLAG_LB);
	assert_string_equal(f.error, "");
}

/* An empty value (etcdctl put KEY "") is there: like `touch FILE`. */
static void test_empty_value_drains(void **state)
{
	struct zdu_flag f;

	(void)state;
	value(KEY, 1, "", 0, &f);
	assert_int_equal(f.mode, ZDU_FLAG_DRAIN);
	assert_string_equal(f.error, "");
	assert_string_equal(f.reason, "");
}

static void test_bad_mode(void **state)
{
	(void)state;
	expect_error("mode=bogus\n", 11, "bogus");
	expect_error("mode=DRAIN\nreason=x\n", 20, "DRAIN");
	expect_error("mode=drain\nfrobnicate=1\n", 24, "frobnicate");
}

static void test_too_big(void **state)
{
	struct zdu_flag f;
	char *big = malloc(5000);
	size_t n;

	(void)state;
	assert_non_null(big);
	/* a valid flag padded with comments: only the size is wrong */
	memset(big, '#', 5000);
	memcpy(big, "mode=maint\n", 11);
	for (n = 100; n < 5000; n += 100)
		big[n] = '\n';
	expect_error(big, 5000, "5000 bytes");
	expect_error(big, 5000, "over 4096");
	/* the limit is the flag file's: 4096 bytes pass, 4097 do not */
	value(KEY, 1, big, ZDU_FLAG_MAX_BYTES, &f);
	assert_string_equal(f.error, "");
	assert_int_equal(f.mode, ZDU_FLAG_MAINT);
	expect_error(big, ZDU_FLAG_MAX_BYTES + 1, "over 4096");
	/* a value as large as the client accepts */
	free(big);
	big = calloc(1, 2u * 1024 * 1024);
	assert_non_null(big);
	expect_error(big, 2u * 1024 * 1024, "over 4096");
	free(big);
}

static void test_binary_garbage(void **state)
{
	static const char bin[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\xff\xfe\x01\x02";
	static const char nul[] = "mode=drain\nreason=a\0b\n";
	static const char high[] = "\xc3\xa9\xff=\x80\x81\n";

	(void)state;
	expect_error(bin, sizeof(bin) - 1, "");
	expect_error(nul, sizeof(nul) - 1, "NUL");
	expect_error(high, sizeof(high) - 1, "");
}

/* A long key is cut in the error, which stays one terminated line. */
static void test_long_key(void **state)
{
	struct zdu_flag f;
	char key[600];

	(void)state;
	memset(key, 'k', sizeof(key) - 1);
	key[0] = '/';
	key[sizeof(key) - 1] = '\0';
	value(key, 1, "mode=bogus", 10, &f);
	assert_int_equal(f.mode, ZDU_FLAG_DRAIN);
	assert_true(strncmp(f.error, "etcd /kkk", 9) == 0);
	{
		static char big[5000];

		memset(big, '#', sizeof(big));
		value(key, 1, big, sizeof(big), &f);
	}
	assert_int_equal(f.mode, ZDU_FLAG_DRAIN);
	assert_true(strncmp(f.error, "etcd /kkk", 9) == 0);
	assert_non_null(strstr(f.error, "over 4096"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_absent_is_off),	   cmocka_unit_test(test_valid_value),
		cmocka_unit_test(test_empty_value_drains), cmocka_unit_test(test_bad_mode),
		cmocka_unit_test(test_too_big),		   cmocka_unit_test(test_binary_garbage),
		cmocka_unit_test(test_long_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
