/* zdu_flag_parse / zdu_flag_format: the maintenance flag file format.
 * Anything not understood must drain (fail safe) and say what and where. */
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

/* Parses from a heap copy of exactly len bytes, so ASan catches any read
 * past the end (the parser gets no terminating NUL). */
static enum zdu_err parse_n(const char *text, size_t len, struct zdu_flag *f)
{
	char *copy = malloc(len ? len : 1);
	enum zdu_err rc;

	assert_non_null(copy);
	memcpy(copy, text, len);
	rc = zdu_flag_parse(copy, len, f);
	free(copy);
	return rc;
}

static enum zdu_err parse(const char *text, struct zdu_flag *f)
{
	return parse_n(text, strlen(text), f);
}

/* Every string field terminated inside its array; printable free text. */
static void check_flag_sane(const struct zdu_flag *f, enum zdu_err rc)
{
	size_t i;

	assert_true(f->mode == ZDU_FLAG_DRAIN || f->mode == ZDU_FLAG_MAINT || f->mode == ZDU_FLAG_LB);
	assert_true(strnlen(f->reason, sizeof(f->reason)) < sizeof(f->reason));
	assert_true(strnlen(f->since, sizeof(f->since)) < sizeof(f->since));
	assert_true(strnlen(f->by, sizeof(f->by)) < sizeof(f->by));
	assert_true(strnlen(f->error, sizeof(f->error)) < sizeof(f->error));
	for (i = 0; f->reason[i]; i++)
		assert_true(f->reason[i] >= 0x20 && f->reason[i] < 0x7f);
	for (i = 0; f->by[i]; i++)
		assert_true(f->by[i] >= 0x20 && f->by[i] < 0x7f);
	/* an error iff the result says so, and an error always drains */
	if (rc == ZDU_OK) {
		assert_string_equal(f->error, "");
	} else {
		assert_true(f->error[0] != '\0');
		assert_int_equal(f->mode, ZDU_FLAG_DRAIN);
	}
}

static void expect_error(const char *text, enum zdu_err want, const char *msg)
{
	struct zdu_flag f;
	enum zdu_err rc;

	memset(&f, 0x5a, sizeof(f));
	rc = parse(text, &f);
	if (rc != want || strcmp(f.error, msg) != 0)
		fail_msg("parse(\"%s\"): rc %d error \"%s\", want rc %d error \"%s\"", text, rc, f.error,
			 want, msg);
	check_flag_sane(&f, rc);
	assert_int_equal(f.mode, ZDU_FLAG_DRAIN);
}

static void test_mode_names(void **state)
{
	(void)state;
	assert_string_equal(zdu_flag_mode_name(ZDU_FLAG_OFF), "off");
	assert_string_equal(zdu_flag_mode_name(ZDU_FLAG_DRAIN), "drain");
	assert_string_equal(zdu_flag_mode_name(ZDU_FLAG_MAINT), "maint");
	assert_string_equal(zdu_flag_mode_name(ZDU_FLAG_LB), "lb");
	assert_string_equal(zdu_flag_mode_name((enum zdu_flag_mode)42), "?");
	assert_int_equal(zdu_flag_mode_parse("off"), ZDU_FLAG_OFF);
	assert_int_equal(zdu_flag_mode_parse("drain"), ZDU_FLAG_DRAIN);
	assert_int_equal(zdu_flag_mode_parse("maint"), ZDU_FLAG_MAINT);
	assert_int_equal(zdu_flag_mode_parse("lb"), ZDU_FLAG_LB);
	assert_int_equal(zdu_flag_mode_parse("DRAIN"), -1);
	assert_int_equal(zdu_flag_mode_parse(""), -1);
	assert_int_equal(zdu_flag_mode_parse("maintenance"), -1);
}

/* touch FILE: presence alone means maintenance. */
static void test_empty_file_drains(void **state)
{
	struct zdu_flag f;

	(void)state;
	memset(&f, 0x5a, sizeof(f));
	assert_int_equal(parse_n("", 0, &f), ZDU_OK);
	assert_int_equal(f.mode, ZDU_FLAG_DRAIN);
	assert_string_equal(f.error, "");
	assert_string_equal(f.reason, "");
	assert_string_equal(f.since, "");
	assert_string_equal(f.by, "");
	/* only blank lines and comments: the same */
	assert_int_equal(parse("\n\n# nothing here\n   \n\t\n", &f), ZDU_OK);
	assert_int_equal(f.mode, ZDU_FLAG_DRAIN);
	assert_string_equal(f.error, "");
}

static void test_each_mode(void **state)
{
	struct zdu_flag f;

	(void)state;
	assert_int_equal(parse("mode=drain\n", &f), ZDU_OK);
	assert_int_equal(f.mode, ZDU_FLAG_DRAIN);
	assert_int_equal(parse("mode=maint\n", &f), ZDU_OK);
	assert_int_equal(f.mode, ZDU_FLAG_MAINT);
	assert_int_equal(parse("mode=lb\n", &f), ZDU_OK);
	assert_int_equal(f.mode, ZDU_FLAG_LB);
	assert_string_equal(f.error, "");
	/* no final newline */
	assert_int_equal(parse("mode=maint", &f), ZDU_OK);
	assert_int_equal(f.mode, ZDU_FLAG_MAINT);
}

static void test_round_trip(void **state)
{
	enum zdu_flag_mode modes[] = { ZDU_FLAG_DRAIN, ZDU_FLAG_MAINT, ZDU_FLAG_LB };
	struct zdu_flag in, out;
	char buf[ZDU_FLAG_MAX_BYTES];
	size_t i, len;

	(void)state;
	for (i = 0; i < ZDU_ARRAY_SIZE(modes); i++) {
		memset(&in, 0, sizeof(in));
		in.mode = modes[i];
		strcpy(in.reason, "upgrade to 2024.1 (ticket #42; see a=b)");
		strcpy(in.since, "2024-05-01T12:34:56Z");
		strcpy(in.by, "ops@nova-api-1");
		len = zdu_flag_format(&in, buf, sizeof(buf));
		assert_true(len > 0 && len < sizeof(buf));
		assert_int_equal(strlen(buf), len);
		assert_non_null(strstr(buf, "\nmode="));
		assert_int_equal(parse_n(buf, len, &out), ZDU_OK);
		assert_true(zdu_flag_equal(&in, &out));
		assert_int_equal(out.mode, modes[i]);
	}
	/* empty reason and by survive too (an empty since: see
	 * test_fixed_empty_since_does_not_round_trip) */
	memset(&in, 0, sizeof(in));
	in.mode = ZDU_FLAG_MAINT;
	strcpy(in.since, "2024-05-01T12:34:56Z");
	len = zdu_flag_format(&in, buf, sizeof(buf));
	assert_int_equal(parse_n(buf, len, &out), ZDU_OK);
	assert_true(zdu_flag_equal(&in, &out));
	/* longest fields */
	memset(in.reason, 'r', sizeof(in.reason) - 1);
	memset(in.by, 'b', sizeof(in.by) - 1);
	strcpy(in.since, "1999-12-31T23:59:60Z");
	len = zdu_flag_format(&in, buf, sizeof(buf));
	assert_int_equal(parse_n(buf, len, &out), ZDU_OK);
	assert_true(zdu_flag_equal(&in, &out));
}

static void test_format_buffer_too_small(void **state)
{
	struct zdu_flag in;
	char buf[ZDU_FLAG_MAX_BYTES];
	size_t len;

	(void)state;
	memset(&in, 0, sizeof(in));
	in.mode = ZDU_FLAG_DRAIN;
	strcpy(in.reason, "r");
	len = zdu_flag_format(&in, buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal(zdu_flag_format(&in, buf, len), 0);     /* no room for the NUL */
	assert_int_equal(zdu_flag_format(&in, buf, len + 1), len);
	assert_int_equal(zdu_flag_format(&in, buf, 1), 0);
}

static void test_comments_blank_crlf(void **state)
{
	struct zdu_flag f;

	(void)state;
	assert_int_equal(parse("# written by hand\r\n"
			       "\r\n"
			       "   \t \r\n"
			       "  # indented comment=with equals\r\n"
			       "\t mode \t=  maint \t\r\n"
			       "reason =  kernel upgrade  \r\n"
			       "since=2024-01-02T03:04:05Z\r\n"
			       "by=root@node\r",
			       &f),
			 ZDU_OK);
	assert_int_equal(f.mode, ZDU_FLAG_MAINT);
	assert_string_equal(f.reason, "kernel upgrade");
	assert_string_equal(f.since, "2024-01-02T03:04:05Z");
	assert_string_equal(f.by, "root@node");
	assert_string_equal(f.error, "");
}

static void test_missing_mode_drains(void **state)
{
	struct zdu_flag f;

	(void)state;
	assert_int_equal(parse("reason=just a reason\nby=me@here\n", &f), ZDU_OK);
	assert_int_equal(f.mode, ZDU_FLAG_DRAIN);
	assert_string_equal(f.reason, "just a reason");
	assert_string_equal(f.by, "me@here");
	assert_string_equal(f.error, "");
}

static void test_unknown_mode(void **state)
{
	(void)state;
	expect_error("mode=fast\n", ZDU_ERR_PARSE, "line 1: unknown mode 'fast'");
	expect_error("# c\nmode=Drain\n", ZDU_ERR_PARSE, "line 2: unknown mode 'Drain'");
	expect_error("mode=\n", ZDU_ERR_PARSE, "line 1: unknown mode ''");
	expect_error("\n\nmode=maintenance-window\n", ZDU_ERR_PARSE,
		     "line 3: unknown mode 'maintenance-window'");
	/* a maint request that cannot be read must not become maint */
	expect_error("mode=maint now\n", ZDU_ERR_PARSE, "line 1: unknown mode 'maint now'");
}

/* A file that exists says maintenance: "off" in it is a contradiction. */
static void test_mode_off_in_file(void **state)
{
	(void)state;
	expect_error("reason=x\nmode=off\n", ZDU_ERR_PARSE, "line 2: unknown mode 'off'");
}

static void test_unknown_key(void **state)
{
	(void)state;
	expect_error("mode=maint\nreason=x\ncolour=red\n", ZDU_ERR_UNKNOWN_KEY,
		     "line 3: unknown key 'colour'");
	expect_error("Mode=maint\n", ZDU_ERR_UNKNOWN_KEY, "line 1: unknown key 'Mode'");
	/* longer than any key: cut in the message */
	expect_error("a_very_long_key_name_that_goes_on_and_on_and_on=1\n", ZDU_ERR_PARSE,
		     "line 1: unknown key 'a_very_long_key_name_that_goes_o'");
	expect_error("=maint\n", ZDU_ERR_PARSE, "line 1: unknown key ''");
}

static void test_duplicate_key(void **state)
{
	(void)state;
	/* two modes: which one was meant? drain */
	expect_error("mode=maint\nmode=lb\n", ZDU_ERR_PARSE, "line 2: 'mode' given twice");
	expect_error("reason=a\n\n# x\nreason=b\n", ZDU_ERR_PARSE, "line 4: 'reason' given twice");
	expect_error("by=a\nby=a\n", ZDU_ERR_PARSE, "line 2: 'by' given twice");
	expect_error("since=2024-01-01T00:00:00Z\nsince=2024-01-01T00:00:00Z\n", ZDU_ERR_PARSE,
		     "line 2: 'since' given twice");
}

static void test_line_without_equals(void **state)
{
	(void)state;
	expect_error("mode=maint\nmaint\n", ZDU_ERR_PARSE, "line 2: expected key=value");
	expect_error("mode maint\n", ZDU_ERR_PARSE, "line 1: expected key=value");
	/* CRLF lines count as one line each */
	expect_error("mode=lb\r\n\r\nbroken\r\n", ZDU_ERR_PARSE, "line 3: expected key=value");
}

static void test_nul_byte(void **state)
{
	static const char text[] = "mode=maint\nreason=a\0b\n";
	struct zdu_flag f;

	(void)state;
	assert_int_equal(parse_n(text, sizeof(text) - 1, &f), ZDU_ERR_PARSE);
	assert_int_equal(f.mode, ZDU_FLAG_DRAIN);
	assert_string_equal(f.error, "contains a NUL byte");
}

static void test_size_cap(void **state)
{
	char *buf = malloc(ZDU_FLAG_MAX_BYTES + 1);
	struct zdu_flag f;
	size_t n;

	(void)state;
	assert_non_null(buf);
	/* exactly at the cap: a valid file of comments then the mode */
	memset(buf, '#', ZDU_FLAG_MAX_BYTES + 1);
	n = ZDU_FLAG_MAX_BYTES - strlen("\nmode=lb\n");
	memcpy(buf + n, "\nmode=lb\n", strlen("\nmode=lb\n"));
	assert_int_equal(zdu_flag_parse(buf, ZDU_FLAG_MAX_BYTES, &f), ZDU_OK);
	assert_int_equal(f.mode, ZDU_FLAG_LB);
	/* one byte more: refused, drains */
	memset(buf, '#', ZDU_FLAG_MAX_BYTES + 1);
	memcpy(buf + n + 1, "\nmode=lb\n", strlen("\nmode=lb\n"));
	assert_int_equal(zdu_flag_parse(buf, ZDU_FLAG_MAX_BYTES + 1, &f), ZDU_ERR_TOO_BIG);
	assert_int_equal(f.mode, ZDU_FLAG_DRAIN);
	assert_string_equal(f.error, "over 4096 bytes");
	free(buf);
}

/* A writer caught halfway (not atomic) or a disk cut short: every prefix of
 * a valid file gives a defined, fail-safe flag. */
static void test_truncated_at_every_offset(void **state)
{
	static const char text[] =
		"# zdu-agent maintenance flag\r\n"
		"mode=maint\r\n"
		"reason=upgrade to 2024.1\r\n"
		"since=2024-05-01T12:34:56Z\r\n"
		"by=ops@nova-api-1\r\n";
	size_t len = sizeof(text) - 1, cut;
	size_t mode_start = strstr(text, "mode=") - text;
	size_t mode_end = strstr(text, "maint\r") - text + strlen("maint");
	struct zdu_flag f;
	enum zdu_err rc;

	(void)state;
	for (cut = 0; cut <= len; cut++) {
		memset(&f, 0x5a, sizeof(f));
		rc = parse_n(text, cut, &f);
		check_flag_sane(&f, rc);
		if (cut <= mode_start) {
			/* before the mode line: presence alone drains */
			assert_int_equal(rc, ZDU_OK);
			assert_int_equal(f.mode, ZDU_FLAG_DRAIN);
		} else if (cut < mode_end) {
			/* "mode=mai": never anything but drain */
			assert_int_equal(f.mode, ZDU_FLAG_DRAIN);
			if (cut > mode_start)
				assert_int_not_equal(rc, ZDU_OK);
		} else if (rc == ZDU_OK) {
			assert_int_equal(f.mode, ZDU_FLAG_MAINT);
		} else {
			/* a cut key ("reas") or time: the error is on a later line */
			if (strncmp(f.error, "line 3: ", 8) != 0 && strncmp(f.error, "line 4: ", 8) != 0 &&
			    strncmp(f.error, "line 5: ", 8) != 0)
				fail_msg("cut %zu: error \"%s\" names no line after the mode", cut, f.error);
		}
	}
	assert_int_equal(parse_n(text, len, &f), ZDU_OK);
	assert_int_equal(f.mode, ZDU_FLAG_MAINT);
}

/* Random bytes (fixed seed, reproducible), some built from the format's
 * own pieces so the parser gets past its first line. */
static void test_garbage(void **state)
{
	static const char *const pieces[] = {
		"mode", "reason", "since", "by", "=", "\n", "\r\n", "#", " ", "\t", "drain", "maint", "lb",
		"off", "2024-01-01T00:00:00Z", "\x01", "\xff", "\x7f", "==", "x",
	};
	char buf[1024];
	struct zdu_flag f;
	unsigned seed = 20240501;
	int iter, ok = 0, bad = 0;

	(void)state;
	srand(seed);
	for (iter = 0; iter < 20000; iter++) {
		size_t len = 0, want = (size_t)(rand() % (int)sizeof(buf));
		enum zdu_err rc;

		if (iter % 2) {
			while (len < want)
				buf[len++] = (char)(rand() & 0xff);
		} else {
			while (len < want) {
				const char *p = pieces[rand() % (int)ZDU_ARRAY_SIZE(pieces)];
				size_t pl = strlen(p);

				if (len + pl > want)
					break;
				memcpy(buf + len, p, pl);
				len += pl;
			}
		}
		memset(&f, 0x5a, sizeof(f));
		rc = parse_n(buf, len, &f);
		check_flag_sane(&f, rc);
		if (rc == ZDU_OK)
			ok++;
		else
			bad++;
	}
	/* both paths were exercised */
	assert_true(ok > 0 && bad > 0);
}

static void test_bad_since(void **state)
{
	static const char *const bad[] = {
		"yesterday",
		"2024-13-01T00:00:00Z",
		"2024-00-01T00:00:00Z",
		"2024-01-32T00:00:00Z",
		"2024-01-00T00:00:00Z",
		"2024-01-01T24:00:00Z",
		"2024-01-01T00:60:00Z",
		"2024-01-01T00:00:61Z",
		"2024-01-01 00:00:00Z",
		"2024-01-01T00:00:00",
		"2024-01-01T00:00:00+01:00",
		"2024-01-01T00:00:00Zjunk",
		"2024-1-1T0:0:0Z",
		"12345678901234567890123456789012345", /* longer than the field */
	};
	struct zdu_flag f;
	char text[128], msg[128];
	size_t i;

	(void)state;
	for (i = 0; i < ZDU_ARRAY_SIZE(bad); i++) {
		snprintf(text, sizeof(text), "mode=maint\nsince=%s\n", bad[i]);
		if (strlen(bad[i]) >= sizeof(f.since))
			snprintf(msg, sizeof(msg), "line 2: bad time in 'since'");
		else
			snprintf(msg, sizeof(msg),
				 "line 2: bad time in 'since' (want YYYY-MM-DDTHH:MM:SSZ)");
		expect_error(text, ZDU_ERR_PARSE, msg);
		parse(text, &f);
		assert_string_equal(f.since, ""); /* the bad value is not kept */
	}
	assert_int_equal(parse("since=2024-02-29T23:59:60Z\n", &f), ZDU_OK);
	assert_string_equal(f.since, "2024-02-29T23:59:60Z");
}

static void test_reason_sanitized(void **state)
{
	static const char text[] = "mode=drain\nreason=a\tb\x01" "c\x7f\xff" "d\x1b[31mred\x1f" "e ~\r\nby=\x08root@x  \n";
	struct zdu_flag f;
	char big[512];

	(void)state;
	assert_int_equal(parse_n(text, sizeof(text) - 1, &f), ZDU_OK);
	assert_string_equal(f.reason, "a?b?c??d?[31mred?e ~"); /* 0x20 and 0x7e kept */
	assert_string_equal(f.by, "?root@x");
	/* an overlong reason is cut to fit, not refused */
	snprintf(big, sizeof(big), "reason=%0*d\n", 300, 7);
	assert_int_equal(parse(big, &f), ZDU_OK);
	assert_int_equal(strlen(f.reason), ZDU_REASON_MAX - 1);
	assert_int_equal(f.mode, ZDU_FLAG_DRAIN);
}

/* ---- fixed bugs: regression tests --------------
 *
 * Was a bug (agent/common/flag.c:55-63, since_valid): sscanf's %d accepts a sign and
 * leading blanks, and only upper bounds are checked, so "2024-01-01T-1:00:00Z"
 * (hour -1), "2024- 1-01T00:00:00Z" and "-001-01-01T00:00:00Z" are taken as
 * valid times. Informational field, but the check promises the format.
 * Proposed fix: check every character against the pattern
 * "DDDD-DD-DDTDD:DD:DDZ" with isdigit() before the sscanf (or add
 * h >= 0 && mi >= 0 && se >= 0 and reject any ' ', '+', '-' in digit
 * positions). */
static void test_fixed_since_accepts_signs_and_blanks(void **state)
{
	static const char *const bad[] = {
		"2024-01-01T-1:00:00Z",
		"2024- 1-01T00:00:00Z",
		"-001-01-01T00:00:00Z",
		"2024-+1-01T00:00:00Z",
	};
	struct zdu_flag f;
	char text[128];
	size_t i;

	(void)state;
	for (i = 0; i < ZDU_ARRAY_SIZE(bad); i++) {
		snprintf(text, sizeof(text), "mode=maint\nsince=%s\n", bad[i]);
		if (parse(text, &f) == ZDU_OK)
			fail_msg("BUG: since=\"%s\" accepted as a valid time", bad[i]);
	}
}

/* BUG (agent/common/flag.c:145-154 with flag.c:162-170): zdu_flag_format writes
 * "since=" for a flag whose since is empty (a valid flag: since is
 * informational, zdu_flag_write takes any flag, e.g. from the coordinator),
 * and zdu_flag_parse refuses an empty since: the maint or lb flag just
 * written reads back as DRAIN with "line 4: bad time in 'since'". The CLI
 * stamps since so it does not hit this today. Proposed fix: in
 * zdu_flag_parse accept vlen == 0 for since (leave it empty), or have
 * zdu_flag_format omit empty fields. */
static void test_fixed_empty_since_does_not_round_trip(void **state)
{
	struct zdu_flag in, out;
	char buf[ZDU_FLAG_MAX_BYTES];
	size_t len;

	(void)state;
	memset(&in, 0, sizeof(in));
	in.mode = ZDU_FLAG_MAINT;
	strcpy(in.reason, "set by the coordinator");
	len = zdu_flag_format(&in, buf, sizeof(buf));
	assert_true(len > 0);
	if (parse_n(buf, len, &out) != ZDU_OK || out.mode != ZDU_FLAG_MAINT)
		fail_msg("BUG: a formatted flag without since reads back as %s: %s",
			 zdu_flag_mode_name(out.mode), out.error);
	assert_true(zdu_flag_equal(&in, &out));
}

/* Found by the fuzzer: an unknown key or mode was copied raw into the
 * error, which reaches the reply line and the status JSON (a non-UTF-8 byte
 * made the status answer fail). */
static void test_fixed_error_is_printable(void **state)
{
	static const char *const bad[] = { "reas\xefn=x\n", "\xeb=\n", "mode=dr\xffin\n",
					   "mode=\x01\x02\n", "k\x7f=1\n" };
	struct zdu_flag f;
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_not_equal(zdu_flag_parse(bad[i], strlen(bad[i]), &f), ZDU_OK);
		assert_int_equal(f.mode, ZDU_FLAG_DRAIN);
		assert_true(f.error[0] != '\0');
		for (k = 0; f.error[k]; k++)
			if ((unsigned char)f.error[k] < 0x20 || (unsigned char)f.error[k] >= 0x7f)
				fail_msg("case %zu: byte %zu of \"%s\" is not printable", i, k, f.error);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mode_names),
		cmocka_unit_test(test_empty_file_drains),
		cmocka_unit_test(test_each_mode),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_format_buffer_too_small),
		cmocka_unit_test(test_comments_blank_crlf),
		cmocka_unit_test(test_missing_mode_drains),
		cmocka_unit_test(test_unknown_mode),
		cmocka_unit_test(test_mode_off_in_file),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_line_without_equals),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_size_cap),
		cmocka_unit_test(test_truncated_at_every_offset),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_bad_since),
		cmocka_unit_test(test_reason_sanitized),
		cmocka_unit_test(test_fixed_since_accepts_signs_and_blanks),
		cmocka_unit_test(test_fixed_empty_since_does_not_round_trip),
		cmocka_unit_test(test_fixed_error_is_printable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
