/* The etcd client's authentication token: zdu_etcd_auth_header() reads it
 * from an answer of /v3/auth/authenticate and makes the request header,
 * keeping a token of any length etcd issues whole (a 600-byte buffer used
 * to cut etcd's JWTs short: every request then failed with "invalid auth
 * token") and refusing, with a reason, one that is too long or holds what
 * a header cannot carry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/common.h"
#include "zdu/etcd.h"

/* What etcd 3.4.23 answered (captured with curl) for user zdu-agent-n1,
 * started with --auth-token jwt,pub-key=...,priv-key=...,sign-method=RS256
 * and a 4096-bit RSA key made by `openssl genrsa 4096` (the key is gone). */
static const char jwt_answer[] =
	"{\"header\":{\"cluster_id\":\"182152767106253605\",\"member_id\":\"6289734292893502608\",\"revis"
	"ion\":\"1\",\"raft_term\":\"2\"},\"token\":\"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3OT"
	"Y1ODgxMjMsInJldmlzaW9uIjo1LCJ1c2VybmFtZSI6InpkdS1hZ2VudC1uMSJ9.cmLcCKOgl0HGM0fmXMiywD1sij6Up2YPx"
	"lLpsFY6Hqj_GVyAcSFO2jz-bsXXQjGlzd6gGan_y4p6RR6dcgS1RjEDXswbP6GtL1oW09azrl-GEQ0VAw2tNyz4D-Szlo03j"
	"ooRvI1Y8Za_iYd5wop2WYLqPSSMvfmwU-Fk7f2U2ciZY9u3nDxMUc-eW0jfR5ohjUA4Xhp09UFJeeWZTVrA6AIti-ibT9CMy"
	"jvhonyUjdsqf9pkLfbMwdjr4eHS5-mxprN-1nmDxF86ILm1fAXcECzLQS3oAPCCNbnv86njCw3xzgzJvkVSgS6fqc1wIW2Un"
	"EucIiw-TbFGhkoPztb6i2OTYB1dtsKv2EtyzEc_AKe4_iQAHZKTFk4MZQRxWX8XfC0yev_-NvW-Ow1Ya-w8tzLQrE5_JpKy4"
	"WG658SivPevLh4TsD0Rmuk6IvfyWJIg8BQ6Ba4x7jhPv8hZqZtiVuQEho9lVl8vx2ZkVnW7OL-qX36lUlDAf-K_OiM57jpHp"
	"LMko3GRBAv8b8PslDeQI-cxa6mTejBJSBjtwuhX8B1EaRUJbS2EidWM1ilvUMENZ_J-QksWl9pCeBOaiv33r5v_FO2WDPYvC"
	"Z1dlZQnyNhxyhtIWKjpzWoKzxmuGWmsgwppWRbtUMOXu7xRQziEHGuq5jn61aihHpr5QUrn78Y\"}";

#define HDR "\"header\":{\"cluster_id\":\"182152767106253605\",\"member_id\":\"6289734292893502608\"," \
	    "\"revision\":\"1\",\"raft_term\":\"2\"}"
#define NAME "Authorization: "

/* On a heap copy of exactly len bytes, without a terminating NUL, so ASan
 * catches a read past the end: the client passes bodies by length. */
static int auth_header(const char *body, size_t len, char **header, char *err, size_t err_size)
{
	char *c = malloc(len ? len : 1);
	int rc;

	assert_non_null(c);
	memcpy(c, body, len);
	err[0] = '\0';
	rc = zdu_etcd_auth_header(c, len, header, err, err_size);
	free(c);
	/* err is always a terminated string */
	assert_true(strnlen(err, err_size) < err_size);
	return rc;
}

/* An answer carrying a token of n bytes, each c. */
static char *answer_with(size_t n, char c)
{
	char *b = malloc(n + 256), *p;

	assert_non_null(b);
	p = b + sprintf(b, "{" HDR ",\"token\":\"");
	memset(p, c, n);
	strcpy(p + n, "\"}");
	return b;
}

static void accepted(const char *body, const char *token)
{
	char *h = NULL, err[200];

	assert_int_equal(auth_header(body, strlen(body), &h, err, sizeof(err)), 0);
	assert_non_null(h);
	assert_int_equal(strlen(h), strlen(NAME) + strlen(token));
	assert_memory_equal(h, NAME, strlen(NAME));
	assert_string_equal(h + strlen(NAME), token);
	free(h);
}

static void refused(const char *body, size_t len, const char *why)
{
	char *h = (char *)"not touched", err[200];

	assert_int_equal(auth_header(body, len, &h, err, sizeof(err)), -1);
	assert_null(h);
	if (!strstr(err, why))
		fail_msg("error \"%s\" does not say \"%s\"", err, why);
}

static void test_jwt_rs256_4096_kept_whole(void **state)
{
	const char *start = strstr(jwt_answer, "\"token\":\"") + 9;
	size_t n = (size_t)(strchr(start, '"') - start);
	char *tok = strndup(start, n);

	(void)state;
	assert_non_null(tok);
	/* what the old 600-byte header buffer cut short */
	assert_true(n > 600);
	accepted(jwt_answer, tok);
	free(tok);
}

static void test_simple_token(void **state)
{
	/* etcd's default "simple" token: 16 letters, a dot, an index (the
	 * format of etcd 3.4's simple tokens; value made up). */
	(void)state;
	accepted("{" HDR ",\"token\":\"AbCdEfGhIjKlMnOp.12\"}", "AbCdEfGhIjKlMnOp.12");
}

static void test_limit(void **state)
{
	char *b = answer_with(ZDU_ETCD_MAX_TOKEN, 'a'), *tok = malloc(ZDU_ETCD_MAX_TOKEN + 1);
	char want[100];

	(void)state;
	assert_non_null(tok);
	memset(tok, 'a', ZDU_ETCD_MAX_TOKEN);
	tok[ZDU_ETCD_MAX_TOKEN] = '\0';
	accepted(b, tok);
	free(b);
	free(tok);

	b = answer_with(ZDU_ETCD_MAX_TOKEN + 1, 'a');
	snprintf(want, sizeof(want), "token of %u bytes is over the client's limit of %u bytes",
		 ZDU_ETCD_MAX_TOKEN + 1, ZDU_ETCD_MAX_TOKEN);
	refused(b, strlen(b), want);
	free(b);
	b = answer_with(1u << 20, 'a');
	refused(b, strlen(b), "is over the client's limit");
	free(b);
}

static void test_header_injection(void **state)
{
	static const char crlf[] = "{" HDR ",\"token\":\"abc\\r\\nX-Evil: 1\"}";
	static const char lf[] = "{" HDR ",\"token\":\"abc\\nX-Evil: 1\"}";
	static const char space[] = "{" HDR ",\"token\":\"abc def\"}";
	static const char nul[] = "{" HDR ",\"token\":\"abc\\u0000def\"}";
	static const char high[] = "{" HDR ",\"token\":\"abc\\u00e9\"}";
	static const char del[] = "{" HDR ",\"token\":\"abc\\u007f\"}";

	(void)state;
	refused(crlf, sizeof(crlf) - 1, "byte 0x0d at offset 3, which a header cannot carry");
	refused(lf, sizeof(lf) - 1, "byte 0x0a at offset 3");
	refused(space, sizeof(space) - 1, "byte 0x20 at offset 3");
	/* jansson refuses it: never a C string cut short */
	refused(nul, sizeof(nul) - 1, "not JSON");
	refused(high, sizeof(high) - 1, "byte 0xc3 at offset 3");
	refused(del, sizeof(del) - 1, "byte 0x7f at offset 3");
}

static void test_no_token(void **state)
{
	static const char none[] = "{" HDR "}";
	static const char empty[] = "{" HDR ",\"token\":\"\"}";
	static const char number[] = "{" HDR ",\"token\":12}";
	static const char null[] = "{" HDR ",\"token\":null}";
	static const char array[] = "[\"token\"]";
	static const char garbage[] = "<html>502 Bad Gateway</html>";
	static const char cut[] = "{" HDR ",\"token\":\"abc";

	(void)state;
	refused(none, sizeof(none) - 1, "answered without a token");
	refused(empty, sizeof(empty) - 1, "answered with an empty token");
	refused(number, sizeof(number) - 1, "answered without a token");
	refused(null, sizeof(null) - 1, "answered without a token");
	refused(array, sizeof(array) - 1, "answered without a token");
	refused(garbage, sizeof(garbage) - 1, "authentication answer is not JSON: ");
	refused(cut, sizeof(cut) - 1, "not JSON");
	refused("", 0, "not JSON");
}

static void test_small_err_buffer(void **state)
{
	char *b = answer_with(ZDU_ETCD_MAX_TOKEN + 1, 'a'), *h = NULL, err[8];

	(void)state;
	assert_int_equal(auth_header(b, strlen(b), &h, err, sizeof(err)), -1);
	assert_null(h);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jwt_rs256_4096_kept_whole),
		cmocka_unit_test(test_simple_token),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_header_injection),
		cmocka_unit_test(test_no_token),
		cmocka_unit_test(test_small_err_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
