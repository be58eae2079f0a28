/* Shared by the probe-kind tests (test_check_*.c): captured answers from
 * tests/data as exact-size heap copies (ASan sees a read past the end), and
 * zdu_http_result values as http.c hands them to a kind. Header-only: each
 * test is its own executable. */
#ifndef ZDU_CHECK_TESTLIB_H
#define ZDU_CHECK_TESTLIB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/check.h"
#include "zdu/common.h"

#ifndef ZDU_TEST_DATA
#error "ZDU_TEST_DATA (the tests/data directory) must be defined by the build"
#endif

#define T_TIMEOUT 1000 /* the service's timeout_ms in these tests */
#define T_LIMIT 5000   /* what an up service's request may run (slow_timeout_ms) */

/* tests/data/NAME, exactly its bytes (no NUL after them). */
static inline char *read_data(const char *name, size_t *len)
{
	char path[1024];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", ZDU_TEST_DATA, name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open test data %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* A whole HTTP answer, in time, as http.c hands it over: its body a
 * NUL-terminated heap copy (http.c keeps one NUL after the body). */
static inline struct zdu_http_result answer(long status, const char *body, size_t len)
{
	struct zdu_http_result r;
	char *b = malloc(len + 1);

	assert_non_null(b);
	memcpy(b, body, len);
	b[len] = '\0';
	memset(&r, 0, sizeof(r));
	r.curl = CURLE_OK;
	r.status = status;
	r.body = b;
	r.len = len;
	r.max_body = 65536;
	r.connected = 1;
	r.elapsed_ms = 12;
	return r;
}

static inline struct zdu_http_result answer_file(long status, const char *name)
{
	size_t len;
	char *b = read_data(name, &len);
	struct zdu_http_result r = answer(status, b, len);

	free(b);
	return r;
}

static inline void answer_free(struct zdu_http_result *r)
{
	free((char *)r->body);
	r->body = NULL;
}

/* No answer: curl's code, connected or not, after ELAPSED ms. */
static inline struct zdu_http_result transport(CURLcode code, int connected, uint64_t elapsed)
{
	struct zdu_http_result r;

	memset(&r, 0, sizeof(r));
	r.curl = code;
	snprintf(r.curl_msg, sizeof(r.curl_msg), "%s", curl_easy_strerror(code));
	r.body = "";
	r.max_body = 65536;
	r.connected = connected;
	r.elapsed_ms = elapsed;
	return r;
}

static inline struct zdu_check_ctx ctx_named(const char *name)
{
	struct zdu_check_ctx c;

	memset(&c, 0, sizeof(c));
	c.name = name;
	c.timeout_ms = T_TIMEOUT;
	c.limit_ms = T_TIMEOUT;
	return c;
}

/* Every reason is one printable line (it ends up in HAProxy's agent reply). */
static inline void assert_one_line(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			fail_msg("byte 0x%02x in a reason", (unsigned char)*s);
}

/* Runs kind FN and checks what every verdict must hold. */
static inline void run_check(zdu_check_fn fn, const struct zdu_check_ctx *c, const struct zdu_http_result *res,
			     struct zdu_check_result *out)
{
	memset(out, 'X', sizeof(*out));
	fn(c, res, out);
	assert_true(out->cls == ZDU_PROBE_OK || out->cls == ZDU_PROBE_SLOW || out->cls == ZDU_PROBE_FAILED);
	assert_true(memchr(out->reason, '\0', sizeof(out->reason)) != NULL);
	assert_true(memchr(out->slow_reason, '\0', sizeof(out->slow_reason)) != NULL);
	assert_true(memchr(out->version, '\0', sizeof(out->version)) != NULL);
	assert_true(memchr(out->min_version, '\0', sizeof(out->min_version)) != NULL);
	assert_true(memchr(out->disabled_reason, '\0', sizeof(out->disabled_reason)) != NULL);
	assert_one_line(out->reason);
	assert_one_line(out->slow_reason);
	assert_one_line(out->disabled_reason);
	if (out->cls == ZDU_PROBE_OK)
		assert_string_equal(out->reason, "");
	else
		assert_true(strncmp(out->reason, c->name, strlen(c->name)) == 0);
	if (out->cls != ZDU_PROBE_SLOW)
		assert_string_equal(out->slow_reason, "");
	if (out->cls == ZDU_PROBE_FAILED) {
		assert_string_equal(out->version, "");
		assert_int_equal(out->disabled, 0);
	}
	if (!out->disabled)
		assert_string_equal(out->disabled_reason, "");
}

#endif
