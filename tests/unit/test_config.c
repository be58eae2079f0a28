/* Loading and validating the configuration: every error says
 * "FILE:LINE: group.key: what is wrong", and a failed load leaves cfg empty. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdu/common.h"
#include "zdu/config.h"

#define NAME "test.conf"

static const struct zdu_config zero_cfg;

static void assert_cfg_empty(const struct zdu_config *cfg)
{
	assert_memory_equal(cfg, &zero_cfg, sizeof(*cfg));
}

/* Loads text that must fail with rc and an error equal to want. */
static void expect_fail(const char *text, enum zdu_err rc, const char *want)
{
	struct zdu_config cfg;
	char err[1024] = "";
	enum zdu_err got;

	memset(&cfg, 0x5a, sizeof(cfg));
	got = zdu_config_load_string(text, NAME, &cfg, err, sizeof(err));
	if (got != rc || strcmp(err, want) != 0)
		fail_msg("config:\n%s\ngot rc %d \"%s\"\nwant rc %d \"%s\"", text, got, err, rc, want);
	assert_cfg_empty(&cfg);
}

/* Loads text that must fail with an error starting with prefix. */
static void expect_fail_prefix(const char *text, enum zdu_err rc, const char *prefix)
{
	struct zdu_config cfg;
	char err[1024] = "";
	enum zdu_err got;

	got = zdu_config_load_string(text, NAME, &cfg, err, sizeof(err));
	if (got != rc || strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("config:\n%s\ngot rc %d \"%s\"\nwant rc %d \"%s...\"", text, got, err, rc, prefix);
	assert_cfg_empty(&cfg);
}

static void load_ok(const char *text, struct zdu_config *cfg)
{
	char err[1024] = "";
	enum zdu_err rc = zdu_config_load_string(text, NAME, cfg, err, sizeof(err));

	if (rc != ZDU_OK)
		fail_msg("config:\n%s\nrefused: %s", text, err);
}

static void test_defaults(void **state)
{
	struct zdu_config cfg;

	(void)state;
	assert_int_equal(zdu_config_defaults(&cfg), ZDU_OK);
	assert_int_equal(cfg.listen.n, 1);
	assert_string_equal(cfg.listen.v[0], "0.0.0.0:9777");
	assert_int_equal(cfg.weight, 100);
	assert_int_equal(cfg.max_connections, 4096);
	assert_int_equal(cfg.connection_timeout_ms, 2000);
	assert_int_equal(cfg.max_request_bytes, 1024);
	assert_string_equal(cfg.flag_file, "/var/lib/zdu-agent/maintenance");
	assert_int_equal(cfg.flag_poll_ms, 1000);
	assert_string_equal(cfg.control_socket, "/run/zdu-agent/control.sock");
	assert_string_equal(cfg.control_mode, "0660");
	assert_string_equal(cfg.control_group, "");
	assert_int_equal(cfg.control_max_clients, 16);
	assert_int_equal(cfg.control_timeout_ms, 5000);
	assert_int_equal(cfg.log_level, 3); /* index of "info" */
	assert_int_equal(cfg.probe_enabled, 1);
	assert_string_equal(cfg.probe_url, "http://127.0.0.1:8774/v2.1/");
	assert_int_equal(cfg.probe_interval_ms, 2000);
	assert_int_equal(cfg.probe_timeout_ms, 1000);
	assert_int_equal(cfg.probe_connect_timeout_ms, 500);
	assert_int_equal(cfg.probe_rise, 2);
	assert_int_equal(cfg.probe_fall, 3);
	assert_int_equal(cfg.probe_max_body_bytes, 65536);
	assert_int_equal(cfg.probe_on_failure, 0);
	assert_string_equal(zdu_fail_action_name(cfg.probe_on_failure), "down");
	assert_string_equal(cfg.probe_healthcheck_url, "");
	assert_int_equal(cfg.probe_verify, 1);
	assert_int_equal(cfg.probe_headers.n, 0);
	assert_int_equal(cfg.drain_ports.n, 1);
	assert_int_equal(cfg.drain_ports.v[0], 8774);
	assert_int_equal(cfg.drain_from.n, 0);
	assert_int_equal(cfg.drain_settle_ms, 5000);
	assert_int_equal(cfg.drain_interval_ms, 1000);
	assert_int_equal(cfg.drain_idle_ms, 0);
	assert_int_equal(cfg.slowstart_ms, 0);
	assert_int_equal(cfg.slowstart_start_pct, 10);
	assert_null(cfg.path);
	zdu_config_free(&cfg);
	assert_cfg_empty(&cfg);

	/* an empty file is the defaults, named after the file */
	load_ok("", &cfg);
	assert_string_equal(cfg.path, NAME);
	assert_int_equal(cfg.weight, 100);
	assert_string_equal(cfg.listen.v[0], "0.0.0.0:9777");
	zdu_config_free(&cfg);
}

static void test_fail_action_names(void **state)
{
	(void)state;
	assert_string_equal(zdu_fail_action_name(0), "down");
	assert_string_equal(zdu_fail_action_name(1), "drain");
	assert_string_equal(zdu_fail_action_name(2), "zero");
	assert_string_equal(zdu_fail_action_name(3), "?");
	assert_string_equal(zdu_fail_action_name(-1), "?");
}

static void test_full_valid_file(void **state)
{
	struct zdu_config cfg;

	(void)state;
	load_ok("agent: {\n"
		"  listen = [ \"127.0.0.1:9777\", \"[::1]:9777\", \"*:9778\" ];\n"
		"  weight = 50;\n"
		"  max_connections = 10L;\n"
		"};\n"
		"flag: { file = \"/tmp/flag\"; poll_interval_ms = 50; };\n"
		"control: { socket = \"/tmp/c.sock\"; mode = \"0600\"; group = \"adm\"; };\n"
		"log: { level = \"debug\"; };\n"
		"probe: {\n"
		"  enabled = false;\n"
		"  url = \"https://nova.example:8774/\";\n"
		"  interval_ms = 5000; timeout_ms = 5000;\n"
		"  on_failure = \"zero\";\n"
		"  healthcheck_url = \"http://127.0.0.1:8774/healthcheck\";\n"
		"  client_cert = \"/c.pem\"; client_key = \"/k.pem\";\n"
		"  verify = false;\n"
		"  headers = ( \"X-A: 1\", \"X-B:2\" );\n"
		"};\n"
		"slowstart: { duration_ms = 60000; start_percent = 0; };\n",
		&cfg);
	assert_int_equal(cfg.listen.n, 3);
	assert_string_equal(cfg.listen.v[1], "[::1]:9777");
	assert_int_equal(cfg.weight, 50);
	assert_int_equal(cfg.max_connections, 10);
	assert_string_equal(cfg.flag_file, "/tmp/flag");
	assert_int_equal(cfg.flag_poll_ms, 50);
	assert_string_equal(cfg.control_mode, "0600");
	assert_string_equal(cfg.control_group, "adm");
	assert_int_equal(cfg.log_level, 4);
	assert_int_equal(cfg.probe_enabled, 0);
	assert_int_equal(cfg.probe_timeout_ms, 5000);
	assert_int_equal(cfg.probe_on_failure, 2);
	assert_int_equal(cfg.probe_verify, 0);
	assert_int_equal(cfg.probe_headers.n, 2);
	assert_string_equal(cfg.probe_headers.v[1], "X-B:2");
	assert_int_equal(cfg.slowstart_ms, 60000);
	assert_int_equal(cfg.slowstart_start_pct, 0);
	/* untouched keys keep their defaults */
	assert_int_equal(cfg.probe_rise, 2);
	zdu_config_free(&cfg);
}

/* The value of key k as config text: its default, or ask for another. */
static void value_text(const struct zdu_config_key *k, char *buf, size_t size)
{
	switch (k->type) {
	case ZDU_CT_INT:
		snprintf(buf, size, "%lld", k->def_int);
		break;
	case ZDU_CT_BOOL:
		snprintf(buf, size, "%s", k->def_int ? "true" : "false");
		break;
	case ZDU_CT_STRING:
		snprintf(buf, size, "\"%s\"", k->def_str);
		break;
	case ZDU_CT_ENUM:
		snprintf(buf, size, "\"%s\"", k->choices[k->def_int]);
		break;
	case ZDU_CT_STRLIST:
		if (k->def_str)
			snprintf(buf, size, "[ \"%s\" ]", k->def_str);
		else
			snprintf(buf, size, "[ ]");
		break;
	case ZDU_CT_INTLIST:
		if (k->def_int)
			snprintf(buf, size, "[ %lld ]", k->def_int);
		else
			snprintf(buf, size, "[ ]");
		break;
	}
}

static int field_equal(const struct zdu_config_key *k, const struct zdu_config *a,
		       const struct zdu_config *b)
{
	const char *pa = (const char *)a + k->offset, *pb = (const char *)b + k->offset;
	size_t i;

	switch (k->type) {
	case ZDU_CT_INT:
	case ZDU_CT_BOOL:
	case ZDU_CT_ENUM:
		return *(const int *)(const void *)pa == *(const int *)(const void *)pb;
	case ZDU_CT_STRING:
		return strcmp(*(char *const *)(const void *)pa, *(char *const *)(const void *)pb) == 0;
	case ZDU_CT_STRLIST: {
		const struct zdu_strlist *la = (const void *)pa, *lb = (const void *)pb;

		if (la->n != lb->n)
			return 0;
		for (i = 0; i < la->n; i++)
			if (strcmp(la->v[i], lb->v[i]) != 0)
				return 0;
		return 1;
	}
	case ZDU_CT_INTLIST: {
		const struct zdu_intlist *la = (const void *)pa, *lb = (const void *)pb;

		return la->n == lb->n && (la->n == 0 || memcmp(la->v, lb->v, la->n * sizeof(int)) == 0);
	}
	}
	return 0;
}

/* The key table is the one source of defaults: every key, written back with
 * its own default, is accepted and yields the same value. */
static void test_every_default_written_back(void **state)
{
	const struct zdu_config_key *keys;
	struct zdu_config def, cfg;
	char text[512], val[128];
	size_t n, i;

	(void)state;
	keys = zdu_config_keys(&n);
	assert_true(n >= 29);
	assert_int_equal(zdu_config_defaults(&def), ZDU_OK);
	for (i = 0; i < n; i++) {
		const struct zdu_config_key *k = &keys[i];

		assert_non_null(k->doc);
		assert_true(k->doc[0] != '\0');
		value_text(k, val, sizeof(val));
		snprintf(text, sizeof(text), "%s: {\n  %s = %s;\n};\n", k->group, k->name, val);
		load_ok(text, &cfg);
		if (!field_equal(k, &def, &cfg))
			fail_msg("%s.%s: default %s read back differently", k->group, k->name, val);
		zdu_config_free(&cfg);
		if (k->type == ZDU_CT_INT)
			assert_true(k->def_int >= k->min && k->def_int <= k->max);
	}
	zdu_config_free(&def);
}

/* Every key: a value of the wrong type is refused with file:line: key. */
static void test_every_type_error(void **state)
{
	const struct zdu_config_key *keys;
	char text[512], want[512];
	size_t n, i;

	(void)state;
	keys = zdu_config_keys(&n);
	for (i = 0; i < n; i++) {
		const struct zdu_config_key *k = &keys[i];
		const char *bad, *expect;

		switch (k->type) {
		case ZDU_CT_INT:
			bad = "\"12\"";
			expect = "expected an integer, got a string";
			break;
		case ZDU_CT_BOOL:
			bad = "1";
			expect = "expected true or false, got an integer";
			break;
		case ZDU_CT_STRING:
		case ZDU_CT_ENUM:
			bad = "true";
			expect = "expected a string, got a boolean";
			break;
		case ZDU_CT_INTLIST:
			bad = "8774";
			expect = "expected a list of integers like [ 8774 ], got an integer";
			break;
		default:
			bad = "\"127.0.0.1:1\"";
			expect = "expected a list of strings like [ \"a\", \"b\" ], got a string";
			break;
		}
		/* the key on line 4 */
		snprintf(text, sizeof(text), "# zdu-agent\n%s:\n{\n  %s = %s;\n};\n", k->group, k->name, bad);
		snprintf(want, sizeof(want), NAME ":4: %s.%s: %s", k->group, k->name, expect);
		expect_fail(text, ZDU_ERR_TYPE, want);
	}
}

/* Every integer key: one below its minimum and one above its maximum. */
static void test_every_range_error(void **state)
{
	const struct zdu_config_key *keys;
	char text[512], want[512];
	size_t n, i;
	int side, count = 0;

	(void)state;
	keys = zdu_config_keys(&n);
	for (i = 0; i < n; i++) {
		const struct zdu_config_key *k = &keys[i];

		if (k->type != ZDU_CT_INT)
			continue;
		for (side = 0; side < 2; side++) {
			long long v = side ? k->max + 1 : k->min - 1;

			snprintf(text, sizeof(text), "\n%s: {\n\n  %s = %lldL;\n};\n", k->group, k->name, v);
			snprintf(want, sizeof(want), NAME ":4: %s.%s: %lld is out of range (%lld to %lld)",
				 k->group, k->name, v, k->min, k->max);
			expect_fail(text, ZDU_ERR_RANGE, want);
			/* the bounds themselves are fine (but probe.timeout_ms above
			 * the default interval: checked by test_timeout_vs_interval) */
			v = side ? k->max : k->min;
			if (strcmp(k->name, "timeout_ms") == 0 && strcmp(k->group, "probe") == 0)
				continue;
			if (strcmp(k->name, "interval_ms") == 0 && strcmp(k->group, "probe") == 0)
				snprintf(text, sizeof(text), "probe: { interval_ms = %lld; timeout_ms = 10; };", v);
			else
				snprintf(text, sizeof(text), "%s: { %s = %lld; };", k->group, k->name, v);
			{
				struct zdu_config cfg;

				load_ok(text, &cfg);
				assert_int_equal(*(int *)(void *)((char *)&cfg + k->offset), (int)v);
				zdu_config_free(&cfg);
			}
		}
		count++;
	}
	assert_true(count >= 15);
	/* list items are range checked one by one, on their own line */
	for (i = 0; i < n; i++) {
		const struct zdu_config_key *k = &keys[i];

		if (k->type != ZDU_CT_INTLIST)
			continue;
		for (side = 0; side < 2; side++) {
			long long v = side ? k->max + 1 : k->min - 1;

			snprintf(text, sizeof(text), "%s: {\n  %s = (\n    %lld,\n    %lld\n  );\n};\n",
				 k->group, k->name, k->min, v);
			snprintf(want, sizeof(want),
				 NAME ":4: %s.%s: item 2: %lld is out of range (%lld to %lld)", k->group,
				 k->name, v, k->min, k->max);
			expect_fail(text, ZDU_ERR_RANGE, want);
		}
	}
	/* an int64 far out of range is not wrapped into range */
	expect_fail("agent: { weight = 4294967346L; };", ZDU_ERR_RANGE,
		    NAME ":1: agent.weight: 4294967346 is out of range (1 to 100)");
}

static void test_enum_values(void **state)
{
	struct zdu_config cfg;

	(void)state;
	expect_fail("log:\n{\n  level = \"verbose\";\n};\n", ZDU_ERR_RANGE,
		    NAME ":3: log.level: unknown value \"verbose\" (one of: error, warning, notice, info, debug)");
	expect_fail("probe: { on_failure = \"Down\"; };", ZDU_ERR_RANGE,
		    NAME ":1: probe.on_failure: unknown value \"Down\" (one of: down, drain, zero)");
	load_ok("probe: { on_failure = \"drain\"; }; log: { level = \"error\"; };", &cfg);
	assert_int_equal(cfg.probe_on_failure, 1);
	assert_int_equal(cfg.log_level, 0);
	zdu_config_free(&cfg);
}

static void test_other_type_errors(void **state)
{
	(void)state;
	expect_fail("agent: { weight = 50.0; };", ZDU_ERR_TYPE,
		    NAME ":1: agent.weight: expected an integer, got a float");
	expect_fail("agent: { weight = { x = 1; }; };", ZDU_ERR_TYPE,
		    NAME ":1: agent.weight: expected an integer, got a group");
	expect_fail("probe: { enabled = \"yes\"; };", ZDU_ERR_TYPE,
		    NAME ":1: probe.enabled: expected true or false, got a string");
	expect_fail("probe: { url = [ \"http://x/\" ]; };", ZDU_ERR_TYPE,
		    NAME ":1: probe.url: expected a string, got an array");
	/* a list item that is not a string: the item's own line */
	expect_fail("agent: {\n  listen = (\n    \"127.0.0.1:1\",\n    7\n  );\n};\n", ZDU_ERR_TYPE,
		    NAME ":4: agent.listen: item 2: expected a string, got an integer");
}

static void test_unknown_section(void **state)
{
	(void)state;
	expect_fail("agent: { weight = 5; };\n\nagnet: { weight = 5; };\n", ZDU_ERR_UNKNOWN_KEY,
		    NAME ":3: agnet: unknown section");
	expect_fail("weight = 5;\n", ZDU_ERR_UNKNOWN_KEY, NAME ":1: weight: unknown section");
}

static void test_unknown_key(void **state)
{
	(void)state;
	expect_fail("agent:\n{\n  weight = 5;\n  wieght = 5;\n};\n", ZDU_ERR_UNKNOWN_KEY,
		    NAME ":4: agent.wieght: unknown key");
	/* a key of another section is unknown here */
	expect_fail("agent: { url = \"http://x/\"; };", ZDU_ERR_UNKNOWN_KEY,
		    NAME ":1: agent.url: unknown key");
}

static void test_wrong_group_type(void **state)
{
	(void)state;
	expect_fail("\nagent = 5;\n", ZDU_ERR_TYPE, NAME ":2: agent: expected a group like agent: { ... };");
	expect_fail("probe = [ \"a\" ];", ZDU_ERR_TYPE,
		    NAME ":1: probe: expected a group like probe: { ... };");
	expect_fail("probe = ( { enabled = true; } );", ZDU_ERR_TYPE,
		    NAME ":1: probe: expected a group like probe: { ... };");
}

static void test_bad_listen(void **state)
{
	static const char *const bad[] = {
		"127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:80x",
		":9777", "localhost:9777", "[::1]", "[::1]9777", "::1:9777", "[]:9777", "*",
		"[127.0.0.1]:9777", "",
	};
	char text[256], want[256];
	size_t i;

	(void)state;
	for (i = 0; i < ZDU_ARRAY_SIZE(bad); i++) {
		snprintf(text, sizeof(text), "agent: {\n  listen = [ \"*:1\", \"%s\" ];\n};\n", bad[i]);
		snprintf(want, sizeof(want),
			 NAME ":2: agent.listen: \"%s\" is not host:port, [ipv6]:port or *:port", bad[i]);
		expect_fail(text, ZDU_ERR_PARSE, want);
	}
	expect_fail("agent: {\n  listen = [ ];\n};\n", ZDU_ERR_RANGE,
		    NAME ":2: agent.listen: at least one address is needed");
}

static void test_bad_control(void **state)
{
	static const char *const bad_modes[] = { "rw", "0999", "1777", "", "-1", "0660 ", "0x1b6" };
	char text[256], want[256], longp[200];
	struct zdu_config cfg;
	size_t i;

	(void)state;
	for (i = 0; i < ZDU_ARRAY_SIZE(bad_modes); i++) {
		snprintf(text, sizeof(text), "control: { mode = \"%s\"; };", bad_modes[i]);
		snprintf(want, sizeof(want), NAME ":1: control.mode: \"%s\" is not an octal mode like \"0660\"",
			 bad_modes[i]);
		expect_fail(text, ZDU_ERR_RANGE, want);
	}
	load_ok("control: { mode = \"600\"; };", &cfg);
	assert_string_equal(cfg.control_mode, "600");
	zdu_config_free(&cfg);

	expect_fail("control: { socket = \"run/c.sock\"; };", ZDU_ERR_RANGE,
		    NAME ":1: control.socket: \"run/c.sock\" must be an absolute path under 108 bytes");
	memset(longp, 'a', 108);
	longp[0] = '/';
	longp[108] = '\0';
	snprintf(text, sizeof(text), "control: { socket = \"%s\"; };", longp);
	expect_fail_prefix(text, ZDU_ERR_RANGE, NAME ":1: control.socket: ");
	longp[107] = '\0'; /* 107 bytes fit sun_path with its NUL */
	snprintf(text, sizeof(text), "control: { socket = \"%s\"; };", longp);
	load_ok(text, &cfg);
	zdu_config_free(&cfg);
}

static void test_bad_flag_file(void **state)
{
	(void)state;
	expect_fail("flag: { file = \"maintenance\"; };", ZDU_ERR_RANGE,
		    NAME ":1: flag.file: \"maintenance\" must be an absolute file path");
	expect_fail("flag: { file = \"/var/lib/zdu-agent/\"; };", ZDU_ERR_RANGE,
		    NAME ":1: flag.file: \"/var/lib/zdu-agent/\" must be an absolute file path");
	expect_fail("flag: { file = \"\"; };", ZDU_ERR_RANGE,
		    NAME ":1: flag.file: \"\" must be an absolute file path");
}

static void test_bad_urls(void **state)
{
	struct zdu_config cfg;

	(void)state;
	expect_fail("probe: { url = \"ftp://127.0.0.1/\"; };", ZDU_ERR_RANGE,
		    NAME ":1: probe.url: \"ftp://127.0.0.1/\" must start with http:// or https://");
	expect_fail("probe: { url = \"127.0.0.1:8774\"; };", ZDU_ERR_RANGE,
		    NAME ":1: probe.url: \"127.0.0.1:8774\" must start with http:// or https://");
	expect_fail("probe: { url = \"\"; };", ZDU_ERR_RANGE,
		    NAME ":1: probe.url: \"\" must start with http:// or https://");
	expect_fail("probe: {\n healthcheck_url = \"localhost/healthcheck\"; };", ZDU_ERR_RANGE,
		    NAME ":2: probe.healthcheck_url: \"localhost/healthcheck\" must start with http:// or https://");
	load_ok("probe: { url = \"https://[::1]:8774/v2.1/\"; healthcheck_url = \"https://x/hc\"; };", &cfg);
	assert_string_equal(cfg.probe_url, "https://[::1]:8774/v2.1/");
	zdu_config_free(&cfg);
}

static void test_bad_headers(void **state)
{
	(void)state;
	expect_fail("probe: {\n  headers = [ \"X-Ok: 1\", \"NoColon\" ];\n};", ZDU_ERR_PARSE,
		    NAME ":2: probe.headers: \"NoColon\" is not \"Name: value\"");
	expect_fail("probe: { headers = [ \": value\" ]; };", ZDU_ERR_PARSE,
		    NAME ":1: probe.headers: \": value\" is not \"Name: value\"");
	/* header injection */
	expect_fail_prefix("probe: { headers = [ \"X-A: 1\\r\\nX-B: 2\" ]; };", ZDU_ERR_PARSE,
			   NAME ":1: probe.headers: ");
	expect_fail_prefix("probe: { headers = [ \"X-A: 1\\nX-B: 2\" ]; };", ZDU_ERR_PARSE,
			   NAME ":1: probe.headers: ");
}

static void test_drain_section(void **state)
{
	struct zdu_config cfg;
	char text[1024];
	size_t i, len;

	(void)state;
	load_ok("drain: { ports = [ 8774, 8775 ]; from = [ \"192.0.2.1\", \"2001:db8::1\" ]; };", &cfg);
	assert_int_equal(cfg.drain_ports.n, 2);
	assert_int_equal(cfg.drain_ports.v[1], 8775);
	assert_int_equal(cfg.drain_from.n, 2);
	zdu_config_free(&cfg);
	/* empty: drain detection off */
	load_ok("drain: { ports = [ ]; };", &cfg);
	assert_int_equal(cfg.drain_ports.n, 0);
	zdu_config_free(&cfg);
	expect_fail("drain: {\n  from = [ \"192.0.2.1\", \"lb1.example\" ];\n};\n", ZDU_ERR_PARSE,
		    NAME ":2: drain.from: \"lb1.example\" is not an IPv4 or IPv6 address");
	expect_fail("drain: { ports = [ \"8774\" ]; };", ZDU_ERR_TYPE,
		    NAME ":1: drain.ports: item 1: expected an integer, got a string");
	/* one port over the cap */
	len = (size_t)snprintf(text, sizeof(text), "drain: {\n  ports = [ 1");
	for (i = 1; i <= 16; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, ", %zu", i + 1);
	snprintf(text + len, sizeof(text) - len, " ];\n};\n");
	expect_fail(text, ZDU_ERR_RANGE, NAME ":2: drain.ports: at most 16 ports");
}

static void test_timeout_vs_interval(void **state)
{
	struct zdu_config cfg;

	(void)state;
	expect_fail("probe: {\n  interval_ms = 2000;\n  timeout_ms = 3000;\n};\n", ZDU_ERR_RANGE,
		    NAME ":3: probe.timeout_ms: 3000 is longer than probe.interval_ms (2000)");
	expect_fail("probe: {\n  timeout_ms = 2001;\n};\n", ZDU_ERR_RANGE,
		    NAME ":2: probe.timeout_ms: 2001 is longer than probe.interval_ms (2000)");
	load_ok("probe: { interval_ms = 3000; timeout_ms = 3000; };", &cfg);
	assert_int_equal(cfg.probe_timeout_ms, 3000);
	zdu_config_free(&cfg);
}

static void test_client_key_needs_cert(void **state)
{
	struct zdu_config cfg;

	(void)state;
	expect_fail("probe: {\n\n  client_key = \"/etc/k.pem\";\n};\n", ZDU_ERR_RANGE,
		    NAME ":3: probe.client_key: given without probe.client_cert");
	load_ok("probe: { client_cert = \"/etc/c.pem\"; };", &cfg); /* cert alone: key in it */
	zdu_config_free(&cfg);
}

static void test_syntax_error_line(void **state)
{
	(void)state;
	expect_fail("# comment\n\nagent: {\n  weight = ;\n};\n", ZDU_ERR_PARSE, NAME ":4: syntax error");
	/* a duplicate setting is libconfig's error too, with its line */
	expect_fail_prefix("agent: {\n  weight = 5;\n  weight = 6;\n};\n", ZDU_ERR_PARSE, NAME ":3: ");
	/* never line 0 for a syntax error inside the text */
	expect_fail_prefix("\n\n\n\nagent: { weight = 5 5; };\n", ZDU_ERR_PARSE, NAME ":5: ");
}

static void test_include_refused(void **state)
{
	(void)state;
	expect_fail("@include \"/etc/passwd\"\n", ZDU_ERR_PARSE, NAME ":0: @include is not allowed here");
	expect_fail("agent: { weight = 5; };\n  @include \"x.conf\"\n", ZDU_ERR_PARSE,
		    NAME ":0: @include is not allowed here");
}

static char tmpdir[64];

static int make_tmpdir(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/zdu-unit-config-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

/* Every file the tests wrote there (zdu-agent.conf, etcd.conf, etcd-password, ...),
 * then the directory: a teardown that fails leaves /tmp/zdu-unit-config-* behind. */
static int remove_tmpdir(void **state)
{
	char p[sizeof(tmpdir) + 256 + 2];
	DIR *dir = opendir(tmpdir);
	struct dirent *e;

	(void)state;
	if (!dir)
		return -1;
	while ((e = readdir(dir)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", tmpdir, e->d_name);
		unlink(p);
	}
	closedir(dir);
	return rmdir(tmpdir);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void test_load_missing_file(void **state)
{
	struct zdu_config cfg;
	char path[128], err[512], want[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/absent.conf", tmpdir);
	/* the default path may be missing: every key has a default */
	assert_int_equal(zdu_config_load(path, 1, &cfg, err, sizeof(err)), ZDU_OK);
	assert_string_equal(cfg.path, path);
	assert_int_equal(cfg.weight, 100);
	assert_string_equal(cfg.listen.v[0], "0.0.0.0:9777");
	zdu_config_free(&cfg);
	/* a path given on purpose must exist */
	memset(&cfg, 0x5a, sizeof(cfg));
	assert_int_equal(zdu_config_load(path, 0, &cfg, err, sizeof(err)), ZDU_ERR_IO);
	snprintf(want, sizeof(want), "%s: cannot open: %s", path, strerror(ENOENT));
	assert_string_equal(err, want);
	assert_cfg_empty(&cfg);
}

static void test_load_real_file(void **state)
{
	struct zdu_config cfg;
	char path[128], err[512], want[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/zdu-agent.conf", tmpdir);
	write_file(path, "agent: {\n  weight = 42;\n};\nprobe: { on_failure = \"drain\"; };\n");
	assert_int_equal(zdu_config_load(path, 0, &cfg, err, sizeof(err)), ZDU_OK);
	assert_string_equal(cfg.path, path);
	assert_int_equal(cfg.weight, 42);
	assert_int_equal(cfg.probe_on_failure, 1);
	zdu_config_free(&cfg);

	/* messages name the file and the line */
	write_file(path, "# test\nagent: {\n  weight = 420;\n};\n");
	assert_int_equal(zdu_config_load(path, 1, &cfg, err, sizeof(err)), ZDU_ERR_RANGE);
	snprintf(want, sizeof(want), "%s:3: agent.weight: 420 is out of range (1 to 100)", path);
	assert_string_equal(err, want);
	assert_cfg_empty(&cfg);

	write_file(path, "agent: {\n\n  weight = = 4;\n};\n");
	assert_int_equal(zdu_config_load(path, 1, &cfg, err, sizeof(err)), ZDU_ERR_PARSE);
	snprintf(want, sizeof(want), "%s:3: syntax error", path);
	assert_string_equal(err, want);
	assert_cfg_empty(&cfg);

	/* a directory where the file should be: an error naming it */
	assert_int_not_equal(zdu_config_load(tmpdir, 1, &cfg, err, sizeof(err)), ZDU_OK);
	assert_non_null(strstr(err, tmpdir));
	assert_cfg_empty(&cfg);
}

/* etcd.password_file: the daemon reads it with the rest (a missing or
 * unreadable file fails the load, naming FILE:LINE); the command line
 * loads with ZDU_CONFIG_SECRET_LATER and reads it only when it talks to
 * etcd itself, with the very same error. */
static void test_etcd_password_file(void **state)
{
	struct zdu_config cfg;
	char path[128], pwpath[128], text[512], err[512], want[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/etcd.conf", tmpdir);
	snprintf(pwpath, sizeof(pwpath), "%s/etcd-password", tmpdir);
	snprintf(text, sizeof(text),
		 "etcd: {\n  endpoints = [ \"http://127.0.0.1:2379\" ];\n  user = \"zdu-agent-n1\";\n"
		 "  password_file = \"%s\";\n};\n",
		 pwpath);
	write_file(path, text);
	write_file(pwpath, "s3cret\nnot this line\n");

	assert_int_equal(zdu_config_load(path, 0, &cfg, err, sizeof(err)), ZDU_OK);
	assert_string_equal(cfg.etcd_password, "s3cret");
	assert_int_equal(cfg.etcd_password_unread, 0);
	assert_int_equal(zdu_config_read_secret(&cfg, err, sizeof(err)), ZDU_OK);
	zdu_config_free(&cfg);

	assert_int_equal(zdu_config_load_flags(path, 0, ZDU_CONFIG_SECRET_LATER, &cfg, err, sizeof(err)), ZDU_OK);
	assert_string_equal(cfg.etcd_password, "");
	assert_int_equal(cfg.etcd_password_unread, 1);
	assert_int_equal(zdu_config_read_secret(&cfg, err, sizeof(err)), ZDU_OK);
	assert_string_equal(cfg.etcd_password, "s3cret");
	assert_int_equal(cfg.etcd_password_unread, 0);
	/* read once */
	assert_int_equal(unlink(pwpath), 0);
	assert_int_equal(zdu_config_read_secret(&cfg, err, sizeof(err)), ZDU_OK);
	assert_string_equal(cfg.etcd_password, "s3cret");
	zdu_config_free(&cfg);

	/* a missing file: the daemon's load fails; the CLI's only when it reads */
	snprintf(want, sizeof(want), "%s:4: etcd.password_file: %s: %s", path, pwpath, strerror(ENOENT));
	memset(&cfg, 0x5a, sizeof(cfg));
	assert_int_equal(zdu_config_load(path, 0, &cfg, err, sizeof(err)), ZDU_ERR_IO);
	assert_string_equal(err, want);
	assert_cfg_empty(&cfg);
	assert_int_equal(zdu_config_load_flags(path, 0, ZDU_CONFIG_SECRET_LATER, &cfg, err, sizeof(err)), ZDU_OK);
	err[0] = '\0';
	errno = 0;
	assert_int_equal(zdu_config_read_secret(&cfg, err, sizeof(err)), ZDU_ERR_IO);
	assert_int_equal(errno, ENOENT);
	assert_string_equal(err, want);
	assert_string_equal(cfg.etcd_password, "");
	assert_int_equal(cfg.etcd_password_unread, 1);
	zdu_config_free(&cfg);

	/* checked without reading it: with a password, or without a user */
	expect_fail("etcd: {\n  user = \"u\";\n  password = \"p\";\n  password_file = \"/nonexistent\";\n};\n",
		    ZDU_ERR_RANGE, NAME ":4: etcd.password_file: given with etcd.password; keep one");
	expect_fail("etcd: {\n  endpoints = [ \"http://127.0.0.1:2379\" ];\n  password_file = \"/nonexistent\";\n};\n",
		    ZDU_ERR_RANGE, NAME ":3: etcd.password_file: given without etcd.user");
}

static void test_parse_hostport(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	static const char *const bad[] = {
		"127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:-1",
		"127.0.0.1:80x", "127.0.0.1:99999999999999999999", ":80", "localhost:80",
		"256.0.0.1:80", "[::1]", "[::1]:", "[::1]80", "::1:80", "[]:80", "[::1:80",
		"[127.0.0.1]:80", "[*]:80", "*", "*:", "", "[fe80::1%eth0]:80",
	};
	size_t i;
	char a[INET6_ADDRSTRLEN];

	(void)state;
	assert_int_equal(zdu_parse_hostport("127.0.0.1:9777", &ss), 0);
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 9777);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x7f000001);

	assert_int_equal(zdu_parse_hostport("*:1", &ss), 0);
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 1);
	assert_int_equal(sin->sin_addr.s_addr, htonl(INADDR_ANY));

	assert_int_equal(zdu_parse_hostport("10.1.2.3:65535", &ss), 0);
	assert_int_equal(ntohs(sin->sin_port), 65535);

	assert_int_equal(zdu_parse_hostport("[::1]:9777", &ss), 0);
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 9777);
	assert_true(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));

	assert_int_equal(zdu_parse_hostport("[2001:db8::42]:80", &ss), 0);
	assert_non_null(inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a)));
	assert_string_equal(a, "2001:db8::42");

	assert_int_equal(zdu_parse_hostport("[::]:80", &ss), 0);
	assert_true(IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr));

	for (i = 0; i < ZDU_ARRAY_SIZE(bad); i++)
		if (zdu_parse_hostport(bad[i], &ss) != -1)
			fail_msg("\"%s\" accepted", bad[i]);
}

/* ---- fixed bugs: regression tests -------------- */

/* BUG (agent/common/config.c:492-495, check_values): when probe.timeout_ms is not
 * in the file (its default 1000 is used) and probe.interval_ms is set below
 * it, the error names line 0 and a key the file does not contain:
 * "test.conf:0: probe.timeout_ms: 1000 is longer than probe.interval_ms (500)".
 * config.h promises FILE:LINE: KEY. Proposed fix: pass
 * config_lookup(lc, "probe.timeout_ms") ?: config_lookup(lc, "probe.interval_ms")
 * so the line points at the setting that is in the file. */
static void test_fixed_timeout_error_line_zero(void **state)
{
	struct zdu_config cfg;
	char err[512] = "";

	(void)state;
	assert_int_equal(zdu_config_load_string("probe: {\n  interval_ms = 500;\n};\n", NAME, &cfg, err,
						sizeof(err)),
			 ZDU_ERR_RANGE);
	if (strncmp(err, NAME ":2: ", strlen(NAME ":2: ")) != 0)
		fail_msg("BUG: error does not point at the line of probe.interval_ms: \"%s\"", err);
}

/* BUG (agent/common/config.c:243-245, zdu_parse_hostport): strtol skips leading
 * blanks and takes a sign, so "127.0.0.1: 80" and "127.0.0.1:+80" are
 * accepted as port 80. Proposed fix: require isdigit((unsigned char)colon[1])
 * before the strtol. */
static void test_fixed_hostport_port_sign_and_blank(void **state)
{
	static const char *const bad[] = { "127.0.0.1: 80", "127.0.0.1:+80", "[::1]: 80", "*:\t80" };
	struct sockaddr_storage ss;
	size_t i;

	(void)state;
	for (i = 0; i < ZDU_ARRAY_SIZE(bad); i++)
		if (zdu_parse_hostport(bad[i], &ss) == 0)
			fail_msg("BUG: \"%s\" accepted as a listen address", bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_fail_action_names),
		cmocka_unit_test(test_full_valid_file),
		cmocka_unit_test(test_every_default_written_back),
		cmocka_unit_test(test_every_type_error),
		cmocka_unit_test(test_every_range_error),
		cmocka_unit_test(test_enum_values),
		cmocka_unit_test(test_other_type_errors),
		cmocka_unit_test(test_unknown_section),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_wrong_group_type),
		cmocka_unit_test(test_bad_listen),
		cmocka_unit_test(test_bad_control),
		cmocka_unit_test(test_bad_flag_file),
		cmocka_unit_test(test_bad_urls),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_drain_section),
		cmocka_unit_test(test_timeout_vs_interval),
		cmocka_unit_test(test_client_key_needs_cert),
		cmocka_unit_test(test_syntax_error_line),
		cmocka_unit_test(test_include_refused),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_load_real_file),
		cmocka_unit_test(test_etcd_password_file),
		cmocka_unit_test(test_parse_hostport),
		cmocka_unit_test(test_fixed_timeout_error_line_zero),
		cmocka_unit_test(test_fixed_hostport_port_sign_and_blank),
	};

	return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
