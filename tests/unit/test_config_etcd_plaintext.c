/* zdu_config_etcd_plaintext(): etcd.user's password (and the tokens etcd
 * issues for it) would cross the network in clear. It warns for a user
 * with a password (or a password file) and at least one http:// endpoint,
 * naming the user and the first such endpoint, unless
 * etcd.allow_plaintext_password = true says it is on purpose; never for
 * https:// only, without a user, or without etcd. The configuration stays
 * valid either way. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zdu/common.h"
#include "zdu/config.h"

#define NAME "test.conf"
#define EP1 "\"http://192.0.2.21:2379\""
#define EP2 "\"http://192.0.2.22:2379\""
#define EP3 "\"http://192.0.2.23:2379\""
#define TLS1 "\"https://192.0.2.21:2379\""
#define TLS2 "\"https://192.0.2.22:2379\""
#define AUTH "user = \"zdu-agent-api1\"; password = \"s3cret\"; node = \"api1\";"
#define ADVICE "use https:// endpoints, or set etcd.allow_plaintext_password = true if that network is trusted"

/* The warning for the configuration text, "" for none. */
static const char *warning(const char *text)
{
	static char msg[512];
	struct zdu_config cfg;
	char err[1024] = "";
	int w;

	if (zdu_config_load_string(text, NAME, &cfg, err, sizeof(err)) != ZDU_OK)
		fail_msg("config:\n%s\nrefused: %s", text, err);
	memset(msg, 'x', sizeof(msg));
	w = zdu_config_etcd_plaintext(&cfg, msg, sizeof(msg));
	zdu_config_free(&cfg);
	assert_true(w == 0 || w == 1);
	if (!w)
		return "";
	assert_true(strnlen(msg, sizeof(msg)) < sizeof(msg));
	return msg;
}

static void test_http_with_password(void **state)
{
	(void)state;
	assert_string_equal(warning("etcd: { endpoints = [ " EP1 " ]; " AUTH " };"),
			    "etcd.user \"zdu-agent-api1\": its password and tokens go unencrypted to "
			    "http://192.0.2.21:2379: " ADVICE);
}

static void test_several_http(void **state)
{
	(void)state;
	/* the first http:// one is named, and how many more there are */
	assert_string_equal(warning("etcd: { endpoints = [ " TLS1 ", " EP2 ", " EP3 " ]; " AUTH " };"),
			    "etcd.user \"zdu-agent-api1\": its password and tokens go unencrypted to "
			    "http://192.0.2.22:2379 and 1 more http:// endpoint: " ADVICE);
	assert_string_equal(warning("etcd: { endpoints = [ " EP1 ", " EP2 ", " EP3 " ]; " AUTH " };"),
			    "etcd.user \"zdu-agent-api1\": its password and tokens go unencrypted to "
			    "http://192.0.2.21:2379 and 2 more http:// endpoints: " ADVICE);
}

static void test_password_file(void **state)
{
	char dir[] = "/tmp/zdu-unit-plaintext-XXXXXX", path[64], text[512];
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/etcd-password", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("s3cret\n", f);
	assert_int_equal(fclose(f), 0);
	snprintf(text, sizeof(text),
		 "etcd: { endpoints = [ " EP1 " ]; user = \"zdu-agent-api1\"; password_file = \"%s\"; node = \"n\"; };",
		 path);
	assert_non_null(strstr(warning(text), "unencrypted to http://192.0.2.21:2379"));
	unlink(path);
	rmdir(dir);
}

static void test_no_warning(void **state)
{
	(void)state;
	/* on purpose */
	assert_string_equal(warning("etcd: { endpoints = [ " EP1 " ]; " AUTH " allow_plaintext_password = true; };"),
			    "");
	/* https:// only */
	assert_string_equal(warning("etcd: { endpoints = [ " TLS1 ", " TLS2 " ]; " AUTH " };"), "");
	/* no authentication: nothing secret sent */
	assert_string_equal(warning("etcd: { endpoints = [ " EP1 " ]; node = \"api1\"; };"), "");
	assert_string_equal(warning("etcd: { endpoints = [ " EP1 " ]; user = \"u\"; node = \"api1\"; };"), "");
	/* no etcd */
	assert_string_equal(warning(""), "");
	assert_string_equal(warning("etcd: { " AUTH " };"), "");
}

static void test_the_key(void **state)
{
	struct zdu_config cfg;
	char err[1024];

	(void)state;
	/* off by default */
	assert_int_equal(zdu_config_defaults(&cfg), ZDU_OK);
	assert_int_equal(cfg.etcd_allow_plaintext_password, 0);
	zdu_config_free(&cfg);
	/* a boolean, refused otherwise with file:line:key */
	assert_int_equal(zdu_config_load_string("etcd:\n{\n  allow_plaintext_password = 1;\n};\n", NAME, &cfg, err,
						sizeof(err)),
			 ZDU_ERR_TYPE);
	assert_string_equal(err, NAME ":3: etcd.allow_plaintext_password: expected true or false, got an integer");
}

static void test_small_buffer(void **state)
{
	struct zdu_config cfg;
	char err[1024], msg[16];

	(void)state;
	assert_int_equal(zdu_config_load_string("etcd: { endpoints = [ " EP1 " ]; " AUTH " };", NAME, &cfg, err,
						sizeof(err)),
			 ZDU_OK);
	assert_int_equal(zdu_config_etcd_plaintext(&cfg, msg, sizeof(msg)), 1);
	assert_int_equal(strlen(msg), sizeof(msg) - 1);
	zdu_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_with_password),
		cmocka_unit_test(test_several_http),
		cmocka_unit_test(test_password_file),
		cmocka_unit_test(test_no_warning),
		cmocka_unit_test(test_the_key),
		cmocka_unit_test(test_small_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
