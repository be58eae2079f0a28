/* The node's range watch (issue 17): one stream over [NODE, NODE0) carries
 * the node's key, its services' keys NODE/SERVICE, and other nodes' keys
 * that sort between (NODE-x, NODE.x, and theirs below). Only NODE and
 * NODE/ plus one valid service name are the agent's; a service key's value
 * is read as the node key's is, fail safe, naming its key. */
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
#include "zdu/etcd_keys.h"
#include "zdu/flag.h"
#include "zdu/flag_etcd.h"

#define NODE "/zdu/maintenance/nodes/n1"

/* kind of key (from a heap copy of exactly its bytes: ASan catches a read
 * past the end), with the name it gives. */
static enum zdu_flag_etcd_key kind(const char *key, size_t len, char *name, size_t name_size)
{
	char *copy = malloc(len ? len : 1);
	const char *n;
	size_t nlen;
	enum zdu_flag_etcd_key k;

	assert_non_null(copy);
	memcpy(copy, key, len);
	k = zdu_flag_etcd_key_kind(NODE, copy, len, &n, &nlen);
	name[0] = '\0';
	if (n) {
		assert_true(n >= copy && n + nlen == copy + len);
		assert_true(nlen < name_size);
		memcpy(name, n, nlen);
		name[nlen] = '\0';
	} else {
		assert_int_equal(nlen, 0);
	}
	free(copy);
	return k;
}

static void expect(const char *key, enum zdu_flag_etcd_key want, const char *want_name)
{
	char name[256];
	enum zdu_flag_etcd_key k = kind(key, strlen(key), name, sizeof(name));

	if (k != want || strcmp(name, want_name) != 0)
		fail_msg("%s: kind %d name \"%s\", want %d \"%s\"", key, k, name, want, want_name);
}

static void test_node_and_services(void **state)
{
	(void)state;
	expect(NODE, ZDU_FLAG_ETCD_NODE, "");
	expect(NODE "/nova-api", ZDU_FLAG_ETCD_SERVICE, "nova-api");
	expect(NODE "/placement", ZDU_FLAG_ETCD_SERVICE, "placement");
	expect(NODE "/a", ZDU_FLAG_ETCD_SERVICE, "a");
	expect(NODE "/Glance_API.v2", ZDU_FLAG_ETCD_SERVICE, "Glance_API.v2");
}

/* Other nodes in the range: never ours, and not worth a word. */
static void test_other_nodes(void **state)
{
	(void)state;
	expect(NODE "-x", ZDU_FLAG_ETCD_OTHER, "");
	expect(NODE ".x", ZDU_FLAG_ETCD_OTHER, "");
	expect(NODE "-x/placement", ZDU_FLAG_ETCD_OTHER, "");
	expect(NODE ".example.org/nova-api", ZDU_FLAG_ETCD_OTHER, "");
	expect(NODE "0", ZDU_FLAG_ETCD_OTHER, "");
	expect(NODE "1/placement", ZDU_FLAG_ETCD_OTHER, "");
	expect("/zdu/maintenance/nodes/n", ZDU_FLAG_ETCD_OTHER, "");
	expect("/zdu/maintenance/nodes/n2", ZDU_FLAG_ETCD_OTHER, "");
	expect("/zdu/maintenance/all", ZDU_FLAG_ETCD_OTHER, "");
	expect("", ZDU_FLAG_ETCD_OTHER, "");
	expect("/other" NODE, ZDU_FLAG_ETCD_OTHER, "");
}

/* Under NODE/ but not one service name: the agent's own business, but no
 * service of any agent (logged and counted by the caller). */
static void test_bad_names(void **state)
{
	char name[256], long_name[80];
	enum zdu_flag_etcd_key k;

	(void)state;
	expect(NODE "/", ZDU_FLAG_ETCD_BAD_NAME, "");
	expect(NODE "//", ZDU_FLAG_ETCD_BAD_NAME, "/");
	expect(NODE "/placement/x", ZDU_FLAG_ETCD_BAD_NAME, "placement/x");
	expect(NODE "/pla cement", ZDU_FLAG_ETCD_BAD_NAME, "pla cement");
	expect(NODE "/caf\xc3\xa9", ZDU_FLAG_ETCD_BAD_NAME, "caf\xc3\xa9");
	/* 63 bytes is the longest name; 64 is one too many */
	memset(long_name, 'a', sizeof(long_name));
	{
		char key[200];

		snprintf(key, sizeof(key), NODE "/%.63s", long_name);
		assert_int_equal(kind(key, strlen(key), name, sizeof(name)), ZDU_FLAG_ETCD_SERVICE);
		snprintf(key, sizeof(key), NODE "/%.64s", long_name);
		assert_int_equal(kind(key, strlen(key), name, sizeof(name)), ZDU_FLAG_ETCD_BAD_NAME);
	}
	/* a NUL inside a key is a byte like any other */
	k = kind(NODE "/a\0b", sizeof(NODE "/a\0b") - 1, name, sizeof(name));
	assert_int_equal(k, ZDU_FLAG_ETCD_BAD_NAME);
	k = kind(NODE "\0/a", sizeof(NODE "\0/a") - 1, name, sizeof(name));
	assert_int_equal(k, ZDU_FLAG_ETCD_OTHER);
}

/* The range the agent watches and reads, [NODE, NODE0): NODE/ITS prefix
 * end. Every service key is inside it, NODEa and NODE0 are not; what is
 * inside besides NODE and NODE/... is filtered by the kind above. */
static int in_range(const char *key, const char *end, size_t end_len)
{
	size_t klen = strlen(key), n = klen < end_len ? klen : end_len;
	int c = memcmp(key, end, n);

	if (strcmp(key, NODE) < 0)
		return 0;
	return c < 0 || (c == 0 && klen < end_len);
}

static void test_range(void **state)
{
	char end[128];
	size_t len = zdu_etcd_prefix_end(NODE "/", end, sizeof(end));

	(void)state;
	assert_int_equal(len, strlen(NODE "0"));
	assert_memory_equal(end, NODE "0", len);
	assert_true(in_range(NODE, end, len));
	assert_true(in_range(NODE "/placement", end, len));
	assert_true(in_range(NODE "/zzzzzzzz", end, len));
	assert_true(in_range(NODE "-x", end, len)); /* hence the filter */
	assert_true(in_range(NODE ".x", end, len));
	assert_false(in_range(NODE "0", end, len));
	assert_false(in_range(NODE "a", end, len));
	assert_false(in_range("/zdu/maintenance/nodes/n2", end, len));
	assert_false(in_range("/zdu/maintenance/nodes/n", end, len));
}

/* A service key's value is a flag in the node key's format, read the same
 * fail-safe way: unreadable drains, the error naming that service's key. */
static void test_service_value(void **state)
{
	char key[128];
	struct zdu_flag f;
	static const char garbage[] = "mode=bogus\n";
	char big[ZDU_FLAG_MAX_BYTES + 10];

	(void)state;
	snprintf(key, sizeof(key), ZDU_ETCD_KEY_SERVICE, "/zdu", "n1", "placement");
	assert_string_equal(key, NODE "/placement");

	zdu_flag_etcd_value(key, 0, NULL, 0, &f);
	assert_int_equal(f.mode, ZDU_FLAG_OFF);
	assert_string_equal(f.error, "");

	zdu_flag_etcd_value(key, 1, "mode=maint\nreason=placement db\n", 30, &f);
	assert_int_equal(f.mode, ZDU_FLAG_MAINT);
	assert_string_equal(f.reason, "placement db");
	assert_string_equal(f.error, "");

	zdu_flag_etcd_value(key, 1, garbage, sizeof(garbage) - 1, &f);
	assert_int_equal(f.mode, ZDU_FLAG_DRAIN);
	if (!strstr(f.error, "etcd " NODE "/placement: "))
		fail_msg("error \"%s\" does not name the service's key", f.error);

	memset(big, 'x', sizeof(big));
	zdu_flag_etcd_value(key, 1, big, sizeof(big), &f);
	assert_int_equal(f.mode, ZDU_FLAG_DRAIN);
	if (!strstr(f.error, "etcd " NODE "/placement: value of"))
		fail_msg("error \"%s\" does not name the service's key", f.error);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node_and_services),
		cmocka_unit_test(test_other_nodes),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_service_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
