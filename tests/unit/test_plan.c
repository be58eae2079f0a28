/* plan.c: loading a coordinator plan (rolling strategy).
 *
 *   zdu_plan_load_string  a full plan (every key) and a minimal one (every
 *                         default); each way to get it wrong gives
 *                         "NAME:LINE: key: ..." with the line of the culprit
 *                         (0 when the key is missing: there is no line);
 *   zdu_plan_load         the same from a file, and a file that is not there;
 *   zdu_plan_digest       changes with what a journal must match (backend,
 *                         node order, names, servers), not with the rest.
 *
 * Broken plans are made from the full one by replacing one of its lines, so
 * the line an error must name is the line that was replaced. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zdu/plan.h"

#define NAME "plan.cfg"

/* Line i + 1 of the full plan is full[i]. */
static const char *const full[] = {
	/*  1 */ "backend = \"nova-api\";",
	/*  2 */ "strategy = \"rolling\";",
	/*  3 */ "min_ready = 2;",
	/*  4 */ "expect_version = \"2.93\";",
	/*  5 */ "upgrade_command = \"/usr/local/sbin/upgrade-nova\";",
	/*  6 */ "journal = \"/var/lib/zdu/rollout.journal\";",
	/*  7 */ "lock = \"/run/zdu/rollout.lock\";",
	/*  8 */ "ssh_command = [ \"ssh\", \"-F\", \"/etc/zdu/ssh_config\" ];",
	/*  9 */ "remote_agent = \"sudo zdu-agent\";",
	/* 10 */ "timeouts = {",
	/* 11 */ "  drain_ms = 60000;",
	/* 12 */ "  upgrade_ms = 600000;",
	/* 13 */ "  health_ms = 120000;",
	/* 14 */ "  up_ms = 30000;",
	/* 15 */ "  poll_ms = 500;",
	/* 16 */ "  request_ms = 2000;",
	/* 17 */ "};",
	/* 18 */ "load_balancers = (",
	/* 19 */ "  { name = \"lb1\"; runtime = \"unix:/run/haproxy/admin.sock\"; },",
	/* 20 */ "  { name = \"lb2\"; runtime = \"192.0.2.10:9999\"; },",
	/* 21 */ "  { name = \"lb3\";",
	/* 22 */ "    runtime = \"[2001:db8::1]:9999\"; },",
	/* 23 */ "  { name = \"lb4\"; runtime = \"/run/haproxy/lb4.sock\"; }",
	/* 24 */ ");",
	/* 25 */ "nodes = (",
	/* 26 */ "  { name = \"api1\"; server = \"node1\"; agent = \"unix:/run/zdu-agent/control.sock\"; },",
	/* 27 */ "  { name = \"api2\"; server = \"node2\"; agent = \"ssh:api2.example\"; },",
	/* 28 */ "  {",
	/* 29 */ "    name = \"api3\";",
	/* 30 */ "    agent = \"ssh:admin@api3\";",
	/* 31 */ "  }",
	/* 32 */ ");",
};
#define NFULL (sizeof(full) / sizeof(full[0]))

static const char minimal[] = "backend = \"nova-api\";\n"
			      "upgrade_command = \"true\";\n"
			      "journal = \"/var/lib/zdu/j\";\n"
			      "load_balancers = ( { name = \"lb1\"; runtime = \"/run/haproxy.sock\"; } );\n"
			      "nodes = ( { name = \"n1\"; agent = \"unix:/run/a.sock\"; },\n"
			      "          { name = \"n2\"; agent = \"ssh:n2\"; } );\n";

/* ------------------------------------------------------------ helpers */

/* The full plan with line LINE (1-based; 0: none) replaced by REPL (which
 * may hold several lines). Static buffer. */
static const char *plan_with(size_t line, const char *repl)
{
	static char buf[8192];
	size_t o = 0, i;

	for (i = 0; i < NFULL; i++) {
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s\n", i + 1 == line ? repl : full[i]);
		assert_true(o < sizeof(buf));
	}
	return buf;
}

/* The full plan with two lines replaced. */
static const char *plan_with2(size_t l1, const char *r1, size_t l2, const char *r2)
{
	static char buf[8192];
	size_t o = 0, i;

	for (i = 0; i < NFULL; i++) {
		const char *s = i + 1 == l1 ? r1 : i + 1 == l2 ? r2 : full[i];

		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s\n", s);
		assert_true(o < sizeof(buf));
	}
	return buf;
}

/* Loading TEXT must fail with RC and an error starting "plan.cfg:LINE: KEY:"
 * and containing WHAT; the plan is left empty. */
static void expect_err_at(const char *text, enum zdu_err rc, int line, const char *key, const char *what,
			  int src_line)
{
	struct zdu_plan p;
	char err[512], want[256];
	enum zdu_err got;

	memset(err, 0, sizeof(err));
	got = zdu_plan_load_string(text, NAME, &p, err, sizeof(err));
	snprintf(want, sizeof(want), "%s:%d: %s%s", NAME, line, key, key[0] ? ": " : "");
	if (got != rc || strncmp(err, want, strlen(want)) != 0 || !strstr(err, what))
		fail_msg("test line %d: rc %d \"%s\", want rc %d \"%s...%s...\"", src_line, (int)got, err,
			 (int)rc, want, what);
	assert_null(p.backend);
	assert_null(p.nodes);
	assert_null(p.lbs);
	assert_int_equal(p.nnodes, 0);
	assert_int_equal(p.ssh_command.n, 0);
}
#define expect_err(text, rc, line, key, what) expect_err_at(text, rc, line, key, what, __LINE__)

static void load_ok_at(const char *text, struct zdu_plan *p, int src_line)
{
	char err[512] = "";
	enum zdu_err rc = zdu_plan_load_string(text, NAME, p, err, sizeof(err));

	if (rc != ZDU_OK)
		fail_msg("test line %d: rc %d: %s", src_line, (int)rc, err);
}
#define load_ok(text, p) load_ok_at(text, p, __LINE__)

static unsigned long digest_of(const char *text)
{
	struct zdu_plan p;
	unsigned long d;

	load_ok(text, &p);
	d = zdu_plan_digest(&p);
	zdu_plan_free(&p);
	return d;
}

/* ------------------------------------------------------------ valid plans */

static void test_full(void **state)
{
	struct zdu_plan p;

	(void)state;
	load_ok(plan_with(0, ""), &p);
	assert_string_equal(p.path, NAME);
	assert_string_equal(p.backend, "nova-api");
	assert_int_equal(p.strategy, ZDU_STRATEGY_ROLLING);
	assert_int_equal(p.min_ready, 2);
	assert_string_equal(p.expect_version, "2.93");
	assert_string_equal(p.upgrade_command, "/usr/local/sbin/upgrade-nova");
	assert_string_equal(p.journal, "/var/lib/zdu/rollout.journal");
	assert_string_equal(p.lock, "/run/zdu/rollout.lock");
	assert_int_equal(p.ssh_command.n, 3);
	assert_string_equal(p.ssh_command.v[0], "ssh");
	assert_string_equal(p.ssh_command.v[1], "-F");
	assert_string_equal(p.ssh_command.v[2], "/etc/zdu/ssh_config");
	assert_string_equal(p.remote_agent, "sudo zdu-agent");
	assert_int_equal(p.drain_timeout_ms, 60000);
	assert_int_equal(p.upgrade_timeout_ms, 600000);
	assert_int_equal(p.health_timeout_ms, 120000);
	assert_int_equal(p.up_timeout_ms, 30000);
	assert_int_equal(p.poll_ms, 500);
	assert_int_equal(p.request_timeout_ms, 2000);

	assert_int_equal(p.nlbs, 4);
	assert_string_equal(p.lbs[0].name, "lb1");
	assert_string_equal(p.lbs[0].runtime, "unix:/run/haproxy/admin.sock");
	assert_string_equal(p.lbs[1].name, "lb2");
	assert_string_equal(p.lbs[1].runtime, "192.0.2.10:9999");
	assert_string_equal(p.lbs[2].name, "lb3");
	assert_string_equal(p.lbs[2].runtime, "[2001:db8::1]:9999");
	assert_string_equal(p.lbs[3].name, "lb4");
	assert_string_equal(p.lbs[3].runtime, "/run/haproxy/lb4.sock");

	assert_int_equal(p.nnodes, 3);
	assert_string_equal(p.nodes[0].name, "api1");
	assert_string_equal(p.nodes[0].server, "node1");
	assert_string_equal(p.nodes[0].agent, "unix:/run/zdu-agent/control.sock");
	assert_string_equal(p.nodes[1].name, "api2");
	assert_string_equal(p.nodes[1].server, "node2");
	assert_string_equal(p.nodes[1].agent, "ssh:api2.example");
	assert_string_equal(p.nodes[2].name, "api3");
	assert_string_equal(p.nodes[2].server, "api3"); /* defaults to the name */
	assert_string_equal(p.nodes[2].agent, "ssh:admin@api3");
	zdu_plan_free(&p);
	assert_null(p.backend);
	assert_null(p.nodes);
	assert_int_equal(p.nnodes, 0);
	zdu_plan_free(&p); /* twice is harmless */
}

static void test_minimal_defaults(void **state)
{
	struct zdu_plan p;

	(void)state;
	load_ok(minimal, &p);
	assert_string_equal(p.backend, "nova-api");
	assert_int_equal(p.strategy, ZDU_STRATEGY_ROLLING);
	assert_int_equal(p.min_ready, 1);
	assert_string_equal(p.expect_version, "");
	assert_string_equal(p.upgrade_command, "true");
	assert_string_equal(p.journal, "/var/lib/zdu/j");
	assert_string_equal(p.lock, "/var/lib/zdu/j.lock");
	assert_int_equal(p.ssh_command.n, 3);
	assert_string_equal(p.ssh_command.v[0], "ssh");
	assert_string_equal(p.ssh_command.v[1], "-o");
	assert_string_equal(p.ssh_command.v[2], "BatchMode=yes");
	assert_string_equal(p.remote_agent, "zdu-agent");
	assert_int_equal(p.drain_timeout_ms, 300000);
	assert_int_equal(p.upgrade_timeout_ms, 1800000);
	assert_int_equal(p.health_timeout_ms, 300000);
	assert_int_equal(p.up_timeout_ms, 120000);
	assert_int_equal(p.poll_ms, 1000);
	assert_int_equal(p.request_timeout_ms, 5000);
	assert_int_equal(p.capacity_timeout_ms, 300000);
	assert_int_equal(p.nlbs, 1);
	assert_int_equal(p.nnodes, 2);
	assert_string_equal(p.nodes[0].server, "n1");
	assert_string_equal(p.nodes[1].server, "n2");
	zdu_plan_free(&p);

	/* An empty timeouts group and an empty lock: every default too. */
	{
		char text[1024];

		snprintf(text, sizeof(text), "%stimeouts = { };\nlock = \"\";\n", minimal);
		load_ok(text, &p);
		assert_string_equal(p.lock, "/var/lib/zdu/j.lock");
		assert_int_equal(p.drain_timeout_ms, 300000);
		assert_int_equal(p.request_timeout_ms, 5000);
		zdu_plan_free(&p);
		/* Only some timeouts: the others keep their defaults. */
		snprintf(text, sizeof(text), "%stimeouts = { up_ms = 100; poll_ms = 10; };\n", minimal);
		load_ok(text, &p);
		assert_int_equal(p.up_timeout_ms, 100);
		assert_int_equal(p.poll_ms, 10);
		assert_int_equal(p.drain_timeout_ms, 300000);
		assert_int_equal(p.upgrade_timeout_ms, 1800000);
		assert_int_equal(p.capacity_timeout_ms, 300000);
		zdu_plan_free(&p);
		snprintf(text, sizeof(text), "%stimeouts = { capacity_ms = 0; };\n", minimal);
		load_ok(text, &p);
		assert_int_equal(p.capacity_timeout_ms, 0); /* 0: stop at once */
		assert_int_equal(p.poll_ms, 1000);
		zdu_plan_free(&p);
	}
}

/* The edges of every range are accepted. */
static void test_range_edges(void **state)
{
	static const struct {
		size_t line;
		const char *text;
	} ok[] = {
		{ 11, "drain_ms = 100;" },       { 11, "drain_ms = 86400000;" },
		{ 12, "upgrade_ms = 100;" },     { 12, "upgrade_ms = 86400000;" },
		{ 13, "health_ms = 100;" },      { 13, "health_ms = 86400000;" },
		{ 14, "up_ms = 100;" },          { 14, "up_ms = 86400000;" },
		{ 15, "poll_ms = 10;" },         { 15, "poll_ms = 600000;" },
		{ 16, "request_ms = 10;" },      { 16, "request_ms = 600000;" },
		{ 16, "capacity_ms = 0;" },      { 16, "capacity_ms = 86400000;" },
		{ 11, "drain_ms = 60000L;" }, /* a 64-bit integer is an integer */
		{ 3, "min_ready = 0;" },
		{ 3, "" }, /* default 1 */
		{ 4, "" }, /* no version check */
		{ 4, "expect_version = \"2.100\";" },
		{ 4, "expect_version = \"3.0\";" },
		{ 7, "" },
		{ 8, "ssh_command = [ \"/usr/bin/ssh\" ];" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct zdu_plan p;
		char err[512];
		enum zdu_err rc;

		rc = zdu_plan_load_string(plan_with(ok[i].line, ok[i].text), NAME, &p, err, sizeof(err));
		if (rc != ZDU_OK)
			fail_msg("line %zu \"%s\": %s", ok[i].line, ok[i].text, err);
		zdu_plan_free(&p);
	}
}

/* One node: min_ready must be 0 (no other server can stay ready). */
static void test_single_node(void **state)
{
	static const char one[] = "backend = \"b\";\nupgrade_command = \"true\";\njournal = \"/j\";\n"
				  "load_balancers = ( { name = \"lb\"; runtime = \"/s\"; } );\n"
				  "nodes = ( { name = \"n1\"; agent = \"ssh:n1\"; } );\n";
	char text[1024];
	struct zdu_plan p;

	(void)state;
	expect_err(one, ZDU_ERR_RANGE, 0, "min_ready", "with 1 nodes");
	snprintf(text, sizeof(text), "%smin_ready = 0;\n", one);
	load_ok(text, &p);
	assert_int_equal(p.min_ready, 0);
	assert_int_equal(p.nnodes, 1);
	zdu_plan_free(&p);
	snprintf(text, sizeof(text), "%smin_ready = 1;\n", one);
	expect_err(text, ZDU_ERR_RANGE, 6, "min_ready", "can never stay ready");
}

/* ------------------------------------------------------------ errors */

static void test_unknown_keys(void **state)
{
	(void)state;
	expect_err(plan_with(1, "backend = \"nova-api\"; bogus = 1;"), ZDU_ERR_UNKNOWN_KEY, 1, "bogus",
		   "unknown key");
	expect_err(plan_with(9, "Backend = \"x\";"), ZDU_ERR_UNKNOWN_KEY, 9, "Backend", "unknown key");
	expect_err(plan_with(13, "  health = 100;"), ZDU_ERR_UNKNOWN_KEY, 13, "timeouts.health",
		   "unknown key");
	expect_err(plan_with(16, "  request_ms = 2000; nested = { a = 1; };"), ZDU_ERR_UNKNOWN_KEY, 16,
		   "timeouts.nested", "unknown key");
	expect_err(plan_with(20, "  { name = \"lb2\"; runtime = \"192.0.2.10:9999\"; weight = 1; },"),
		   ZDU_ERR_UNKNOWN_KEY, 20, "load_balancers[1].weight", "unknown key");
	expect_err(plan_with(30, "    agent = \"ssh:admin@api3\"; port = 22;"), ZDU_ERR_UNKNOWN_KEY, 30,
		   "nodes[2].port", "unknown key");
}

static void test_wrong_types(void **state)
{
	(void)state;
	expect_err(plan_with(1, "backend = 5;"), ZDU_ERR_TYPE, 1, "backend", "expected a string");
	expect_err(plan_with(2, "strategy = [ \"rolling\" ];"), ZDU_ERR_TYPE, 2, "strategy", "expected a string");
	expect_err(plan_with(3, "min_ready = \"2\";"), ZDU_ERR_TYPE, 3, "min_ready", "expected an integer");
	expect_err(plan_with(3, "min_ready = 2.0;"), ZDU_ERR_TYPE, 3, "min_ready", "expected an integer");
	expect_err(plan_with(3, "min_ready = true;"), ZDU_ERR_TYPE, 3, "min_ready", "expected an integer");
	expect_err(plan_with(4, "expect_version = 2.93;"), ZDU_ERR_TYPE, 4, "expect_version",
		   "expected a string");
	expect_err(plan_with(5, "upgrade_command = [ \"a\" ];"), ZDU_ERR_TYPE, 5, "upgrade_command",
		   "expected a string");
	expect_err(plan_with(6, "journal = 1;"), ZDU_ERR_TYPE, 6, "journal", "expected a string");
	expect_err(plan_with(7, "lock = { };"), ZDU_ERR_TYPE, 7, "lock", "expected a string");
	expect_err(plan_with(8, "ssh_command = \"ssh\";"), ZDU_ERR_TYPE, 8, "ssh_command", "list of strings");
	expect_err(plan_with(8, "ssh_command = ( \"ssh\" );"), ZDU_ERR_TYPE, 8, "ssh_command",
		   "list of strings");
	expect_err(plan_with(8, "ssh_command = [ ];"), ZDU_ERR_TYPE, 8, "ssh_command", "list of strings");
	expect_err(plan_with(8, "ssh_command = [ 1, 2 ];"), ZDU_ERR_TYPE, 8, "ssh_command",
		   "item 1: expected a string");
	expect_err(plan_with(9, "remote_agent = false;"), ZDU_ERR_TYPE, 9, "remote_agent",
		   "expected a string");
	expect_err(plan_with2(10, "timeouts = 5; /*", 17, "*/"), ZDU_ERR_TYPE, 10, "timeouts",
		   "expected a group");
	expect_err(plan_with(12, "  upgrade_ms = \"600000\";"), ZDU_ERR_TYPE, 12, "timeouts.upgrade_ms",
		   "expected an integer");
	expect_err(plan_with(14, "  up_ms = 1e4;"), ZDU_ERR_TYPE, 14, "timeouts.up_ms", "expected an integer");
	expect_err(plan_with2(18, "load_balancers = \"lb1\"; /*", 24, "*/"), ZDU_ERR_TYPE, 18,
		   "load_balancers", "expected a list");
	expect_err(plan_with2(18, "load_balancers = { /*", 24, "*/ };"), ZDU_ERR_TYPE, 18, "load_balancers",
		   "expected a list");
	expect_err(plan_with(20, "  \"lb2\","), ZDU_ERR_TYPE, 20, "load_balancers[1]", "expected a group");
	expect_err(plan_with(20, "  { name = 2; runtime = \"192.0.2.10:9999\"; },"), ZDU_ERR_TYPE, 20,
		   "load_balancers[1].name", "expected a string");
	expect_err(plan_with(22, "    runtime = 9999; },"), ZDU_ERR_TYPE, 22, "load_balancers[2].runtime",
		   "expected a string");
	expect_err(plan_with2(25, "nodes = [ /*", 32, "*/ ];"), ZDU_ERR_TYPE, 25, "nodes", "expected a list");
	expect_err(plan_with(27, "  ( \"api2\" ),"), ZDU_ERR_TYPE, 27, "nodes[1]", "expected a group");
	expect_err(plan_with(29, "    name = [ \"api3\" ];"), ZDU_ERR_TYPE, 29, "nodes[2].name",
		   "expected a string");
	expect_err(plan_with(27, "  { name = \"api2\"; server = 2; agent = \"ssh:api2.example\"; },"),
		   ZDU_ERR_TYPE, 27, "nodes[1].server", "expected a string");
	expect_err(plan_with(30, "    agent = 1;"), ZDU_ERR_TYPE, 30, "nodes[2].agent", "expected a string");
}

static void test_ranges(void **state)
{
	static const struct {
		size_t line;
		const char *text, *key;
	} bad[] = {
		{ 11, "drain_ms = 99;", "timeouts.drain_ms" },
		{ 11, "drain_ms = 86400001;", "timeouts.drain_ms" },
		{ 11, "drain_ms = -1;", "timeouts.drain_ms" },
		{ 11, "drain_ms = 0;", "timeouts.drain_ms" },
		{ 12, "upgrade_ms = 99;", "timeouts.upgrade_ms" },
		{ 12, "upgrade_ms = 86400001;", "timeouts.upgrade_ms" },
		{ 13, "health_ms = 99;", "timeouts.health_ms" },
		{ 13, "health_ms = 86400001;", "timeouts.health_ms" },
		{ 14, "up_ms = 99;", "timeouts.up_ms" },
		{ 14, "up_ms = 86400001;", "timeouts.up_ms" },
		{ 15, "poll_ms = 9;", "timeouts.poll_ms" },
		{ 15, "poll_ms = 600001;", "timeouts.poll_ms" },
		{ 16, "request_ms = 9;", "timeouts.request_ms" },
		{ 16, "request_ms = 600001;", "timeouts.request_ms" },
		{ 16, "capacity_ms = -1;", "timeouts.capacity_ms" },
		{ 16, "capacity_ms = 86400001;", "timeouts.capacity_ms" },
		/* would wrap to a small int if narrowed before the check */
		{ 11, "drain_ms = 4294967396L;", "timeouts.drain_ms" },
		{ 16, "request_ms = -4294967286L;", "timeouts.request_ms" },
		{ 3, "min_ready = -1;", "min_ready" },
		{ 3, "min_ready = 1001;", "min_ready" },
		{ 3, "min_ready = 4294967297L;", "min_ready" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct zdu_plan p;
		char err[512], want[128];
		enum zdu_err rc = zdu_plan_load_string(plan_with(bad[i].line, bad[i].text), NAME, &p, err,
						       sizeof(err));

		snprintf(want, sizeof(want), "%s:%zu: %s: ", NAME, bad[i].line, bad[i].key);
		if (rc != ZDU_ERR_RANGE || strncmp(err, want, strlen(want)) != 0 || !strstr(err, "out of range"))
			fail_msg("\"%s\": rc %d \"%s\"", bad[i].text, (int)rc, err);
	}
}

static void test_missing(void **state)
{
	(void)state;
	expect_err(plan_with(1, ""), ZDU_ERR_PARSE, 0, "backend", "missing");
	expect_err(plan_with(5, ""), ZDU_ERR_PARSE, 0, "upgrade_command", "missing");
	expect_err(plan_with(6, ""), ZDU_ERR_PARSE, 0, "journal", "missing");
	expect_err(plan_with2(18, "/*", 24, "*/"), ZDU_ERR_PARSE, 0, "load_balancers", "missing");
	expect_err(plan_with2(25, "/*", 32, "*/"), ZDU_ERR_PARSE, 0, "nodes", "missing");
	expect_err("", ZDU_ERR_PARSE, 0, "backend", "missing");
	/* required strings must not be empty */
	expect_err(plan_with(1, "backend = \"\";"), ZDU_ERR_RANGE, 1, "backend", "must not be empty");
	expect_err(plan_with(5, "upgrade_command = \"\";"), ZDU_ERR_RANGE, 5, "upgrade_command",
		   "must not be empty");
	expect_err(plan_with(6, "journal = \"\";"), ZDU_ERR_RANGE, 6, "journal", "must not be empty");
	/* members of a list entry: the line of the entry */
	expect_err(plan_with(20, "  { runtime = \"192.0.2.10:9999\"; },"), ZDU_ERR_PARSE, 20,
		   "load_balancers[1].name", "missing");
	expect_err(plan_with(20, "  { name = \"lb2\"; },"), ZDU_ERR_PARSE, 20, "load_balancers[1].runtime",
		   "missing");
	expect_err(plan_with(22, "  },"), ZDU_ERR_PARSE, 21, "load_balancers[2].runtime", "missing");
	expect_err(plan_with(29, ""), ZDU_ERR_PARSE, 28, "nodes[2].name", "missing");
	expect_err(plan_with(30, ""), ZDU_ERR_PARSE, 28, "nodes[2].agent", "missing");
	expect_err(plan_with(20, "  { name = \"\"; runtime = \"192.0.2.10:9999\"; },"), ZDU_ERR_RANGE, 20,
		   "load_balancers[1].name", "must not be empty");
	expect_err(plan_with(29, "    name = \"\";"), ZDU_ERR_RANGE, 29, "nodes[2].name", "must not be empty");
	expect_err(plan_with(30, "    agent = \"\";"), ZDU_ERR_RANGE, 30, "nodes[2].agent", "must not be empty");
	expect_err(plan_with(27, "  { name = \"api2\"; server = \"\"; agent = \"ssh:api2.example\"; },"),
		   ZDU_ERR_RANGE, 27, "nodes[1].server", "must not be empty");
}

static void test_empty_lists(void **state)
{
	char text[1024];

	(void)state;
	expect_err(plan_with2(18, "load_balancers = ( ); /*", 24, "*/"), ZDU_ERR_RANGE, 18, "load_balancers",
		   "empty");
	expect_err(plan_with2(25, "nodes = ( ); /*", 32, "*/"), ZDU_ERR_RANGE, 25, "nodes", "empty");
	snprintf(text, sizeof(text), "%sssh_command = [ ];\n", minimal);
	expect_err(text, ZDU_ERR_TYPE, 7, "ssh_command", "list of strings");
}

static void test_journal_absolute(void **state)
{
	(void)state;
	expect_err(plan_with(6, "journal = \"var/lib/zdu/j\";"), ZDU_ERR_RANGE, 6, "journal", "absolute");
	expect_err(plan_with(6, "journal = \"./j\";"), ZDU_ERR_RANGE, 6, "journal", "absolute");
	expect_err(plan_with(6, "journal = \"~/j\";"), ZDU_ERR_RANGE, 6, "journal", "absolute");
}

static void test_bad_runtime(void **state)
{
	static const char *const bad[] = {
		"admin.sock",      "unix:admin.sock", "unix:",          "localhost:9999",
		"192.0.2.1",       "192.0.2.1:0",     "192.0.2.1:65536", "192.0.2.1:99x",
		"192.0.2.1:",      ":9999",           "2001:db8::1:9999x", "[2001:db8::1]9999",
		"[2001:db8::1]:",  "[nothost]:9999",  "tcp://192.0.2.1:9999",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char line[256];

		snprintf(line, sizeof(line), "  { name = \"lb2\"; runtime = \"%s\"; },", bad[i]);
		expect_err(plan_with(20, line), ZDU_ERR_PARSE, 20, "load_balancers[1].runtime", bad[i]);
	}
	/* The multi-line entry: the line of the runtime member itself. */
	expect_err(plan_with(22, "    runtime = \"lb3.sock\"; },"), ZDU_ERR_PARSE, 22,
		   "load_balancers[2].runtime", "is not unix:/path, /path or host:port");
}

static void test_bad_agent(void **state)
{
	static const char *const bad[] = {
		"unix:run/zdu.sock", "unix:", "ssh:", "ssh:-oProxyCommand=touch /tmp/x", "ssh:-lroot",
		"ssh:h;reboot", "ssh:h|x", "ssh:h&x", "ssh:h`id`", "ssh:h$(id)", "ssh:h x", "ssh:h\tx",
		"ssh:h'x", "ssh:h\\\"x", "ssh:h\\\\x", "tcp:192.0.2.1:22", "api1", "/run/zdu.sock",
		"SSH:api1",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char line[256];

		snprintf(line, sizeof(line), "    agent = \"%s\";", bad[i]);
		expect_err(plan_with(30, line), ZDU_ERR_PARSE, 30, "nodes[2].agent", "is not unix:/path, ssh:host, etcd or etcd:name");
	}
	{
		/* what is accepted: user@host, a dashed host name, an IPv6 literal */
		static const char *const good[] = { "ssh:root@api3", "ssh:api-3.example", "ssh:2001:db8::3",
						    "unix:/run/x.sock" };
		for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
			char line[256];
			struct zdu_plan p;

			snprintf(line, sizeof(line), "    agent = \"%s\";", good[i]);
			load_ok(plan_with(30, line), &p);
			assert_string_equal(p.nodes[2].agent, good[i]);
			zdu_plan_free(&p);
		}
	}
	/* etcd agents need the plan's etcd group */
	expect_err(plan_with(30, "    agent = \"etcd\";"), ZDU_ERR_RANGE, 30, "nodes[2].agent",
		   "needs the plan's etcd group");
	expect_err(plan_with(30, "    agent = \"etcd:api3\";"), ZDU_ERR_RANGE, 30, "nodes[2].agent",
		   "needs the plan's etcd group");
}

static void test_duplicates(void **state)
{
	(void)state;
	/* same name, other server: the second entry's line */
	expect_err(plan_with(27, "  { name = \"api1\"; server = \"node2\"; agent = \"ssh:api2.example\"; },"),
		   ZDU_ERR_PARSE, 27, "nodes[1].name", "\"api1\"");
	/* other name, same server */
	expect_err(plan_with(27, "  { name = \"api2\"; server = \"node1\"; agent = \"ssh:api2.example\"; },"),
		   ZDU_ERR_PARSE, 27, "nodes[1].name", "\"node1\"");
	/* api3's default server is api3, already node api2's server: the third entry */
	expect_err(plan_with(27, "  { name = \"api2\"; server = \"api3\"; agent = \"ssh:api2.example\"; },"),
		   ZDU_ERR_PARSE, 28, "nodes[2].name", "given twice");
	/* two load balancers with one name */
	expect_err(plan_with(23, "  { name = \"lb1\"; runtime = \"/run/haproxy/lb4.sock\"; }"), ZDU_ERR_PARSE, 23,
		   "load_balancers[3].name", "\"lb1\" given twice");
	/* the same runtime twice under two names is two load balancers */
	{
		struct zdu_plan p;

		load_ok(plan_with(23, "  { name = \"lb4\"; runtime = \"unix:/run/haproxy/admin.sock\"; }"), &p);
		assert_int_equal(p.nlbs, 4);
		zdu_plan_free(&p);
	}
}

static void test_min_ready(void **state)
{
	struct zdu_plan p;

	(void)state;
	/* 3 nodes: while one is out, at most 2 others are ready */
	load_ok(plan_with(3, "min_ready = 2;"), &p);
	zdu_plan_free(&p);
	expect_err(plan_with(3, "min_ready = 3;"), ZDU_ERR_RANGE, 3, "min_ready", "with 3 nodes");
	expect_err(plan_with(3, "min_ready = 1000;"), ZDU_ERR_RANGE, 3, "min_ready", "with 3 nodes");
	/* the message names the fix */
	expect_err(plan_with(3, "min_ready = 3;"), ZDU_ERR_RANGE, 3, "min_ready",
		   "with 3 nodes: set min_ready = 2 (every other node) or less, or add nodes");
}

/* A cutover plan of N nodes (n1..nN), min_ready M, first group FIRST (a
 * libconfig list, or NULL for the default). Static buffer; min_ready on
 * line 3. */
static const char *cutover_plan(int n, int m, const char *first)
{
	static char buf[2048];
	size_t o;
	int i;

	o = (size_t)snprintf(buf, sizeof(buf),
			     "backend = \"nova_api\";\nstrategy = \"cutover\";\nmin_ready = %d;\n"
			     "upgrade_command = \"true\";\njournal = \"/var/lib/zdu/j\";\n"
			     "load_balancers = ( { name = \"lb1\"; runtime = \"/run/haproxy.sock\"; } );\nnodes = (\n",
			     m);
	for (i = 1; i <= n; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "  { name = \"n%d\"; agent = \"ssh:n%d\"; }%s\n", i,
				      i, i < n ? "," : "");
	o += (size_t)snprintf(buf + o, sizeof(buf) - o, ");\n");
	if (first)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "cutover: { first_group = %s; };\n", first);
	assert_true(o < sizeof(buf));
	return buf;
}

/* With cutover each group serves alone: a min_ready no group can hold is
 * refused with the cause (the groups' sizes) and the fix: the largest
 * min_ready that works, and the first groups that would hold the given one
 * or the number of nodes it needs. Each fix named is then accepted. */
static void test_min_ready_cutover_fix(void **state)
{
	struct zdu_plan p;

	(void)state;
	/* the sample plan's three nodes with its rolling min_ready 2 */
	expect_err(cutover_plan(3, 2, NULL), ZDU_ERR_RANGE, 3, "min_ready",
		   "min_ready: 2, but with cutover each group serves alone (groups of 1 and 2): set min_ready = 1 "
		   "(the smaller group) or less, or add nodes (min_ready 2 needs at least 4, two groups of 2)");
	load_ok(cutover_plan(3, 1, NULL), &p);
	zdu_plan_free(&p);
	expect_err(cutover_plan(3, 1, "[ \"n1\", \"n2\", \"n3\" ]"), ZDU_ERR_RANGE, 12, "cutover",
		   "each group needs at least one");

	/* four nodes: the other first group that works */
	expect_err(cutover_plan(4, 2, "[ \"n1\" ]"), ZDU_ERR_RANGE, 3, "min_ready",
		   "(groups of 1 and 3): set min_ready = 1 (the smaller group) or less, or name 2 nodes in "
		   "cutover.first_group");
	load_ok(cutover_plan(4, 1, "[ \"n1\" ]"), &p);
	zdu_plan_free(&p);
	load_ok(cutover_plan(4, 2, "[ \"n1\", \"n2\" ]"), &p);
	zdu_plan_free(&p);
	load_ok(cutover_plan(4, 2, NULL), &p);
	zdu_plan_free(&p);

	/* five nodes: a range of first groups */
	expect_err(cutover_plan(5, 2, "[ \"n1\", \"n2\", \"n3\", \"n4\" ]"), ZDU_ERR_RANGE, 3, "min_ready",
		   "(groups of 4 and 1): set min_ready = 1 (the smaller group) or less, or name 2 to 3 nodes in "
		   "cutover.first_group");
	load_ok(cutover_plan(5, 2, "[ \"n1\", \"n2\", \"n3\" ]"), &p);
	zdu_plan_free(&p);
}

static void test_bad_expect_version(void **state)
{
	static const char *const bad[] = { "2", "v2.93", "2.", ".93", "2.93.1", "2,93", "latest", " 2.93",
					   "2.x", "-2.1" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char line[128];

		snprintf(line, sizeof(line), "expect_version = \"%s\";", bad[i]);
		expect_err(plan_with(4, line), ZDU_ERR_PARSE, 4, "expect_version", "is not a microversion");
	}
}

static void test_bad_strategy(void **state)
{
	(void)state;
	expect_err(plan_with(2, "strategy = \"canary\";"), ZDU_ERR_RANGE, 2, "strategy",
		   "unknown value \"canary\"");
	expect_err(plan_with(2, "strategy = \"Rolling\";"), ZDU_ERR_RANGE, 2, "strategy", "unknown value");
	expect_err(plan_with(2, "strategy = \"\";"), ZDU_ERR_RANGE, 2, "strategy", "unknown value");
}

static void test_include_refused(void **state)
{
	struct zdu_plan p;
	char err[512];

	(void)state;
	assert_int_equal(zdu_plan_load_string(plan_with(9, "@include \"/etc/passwd\""), NAME, &p, err,
					      sizeof(err)),
			 ZDU_ERR_PARSE);
	assert_non_null(strstr(err, NAME ":"));
	assert_non_null(strstr(err, "@include"));
	assert_null(p.backend);
}

/* libconfig's own errors: name, line of the error, its text. */
static void test_syntax_errors(void **state)
{
	(void)state;
	expect_err(plan_with(9, "remote_agent = \"a\";;"), ZDU_ERR_PARSE, 9, "", "syntax error");
	expect_err(plan_with(12, "  upgrade_ms = ;"), ZDU_ERR_PARSE, 12, "", "syntax error");
	/* an unclosed string runs on to the next quote, on line 30 */
	expect_err(plan_with(29, "    name = \"api3;"), ZDU_ERR_PARSE, 30, "", "syntax error");
	expect_err(plan_with(32, ");\n\n}"), ZDU_ERR_PARSE, 34, "", "syntax error");
	expect_err(plan_with(24, ""), ZDU_ERR_PARSE, 25, "", "syntax error");  /* the list never closed */
	expect_err("backend = \"x\"\nbackend = \"y\";\n", ZDU_ERR_PARSE, 2, "", "duplicate setting");
}

/* zdu_plan_load: the path names the plan in errors; a missing file is IO. */
static void test_load_file(void **state)
{
	char dir[] = "/tmp/zdu-plan-XXXXXX", path[256], err[512];
	struct zdu_plan p;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/plan.cfg", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(plan_with(15, "  poll_ms = 5;"), f);
	fclose(f);
	assert_int_equal(zdu_plan_load(path, &p, err, sizeof(err)), ZDU_ERR_RANGE);
	{
		char want[300];

		snprintf(want, sizeof(want), "%s:15: timeouts.poll_ms: ", path);
		if (strncmp(err, want, strlen(want)) != 0)
			fail_msg("\"%s\"", err);
	}
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(plan_with(0, ""), f);
	fclose(f);
	assert_int_equal(zdu_plan_load(path, &p, err, sizeof(err)), ZDU_OK);
	assert_string_equal(p.path, path);
	assert_int_equal(p.nnodes, 3);
	zdu_plan_free(&p);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(zdu_plan_load(path, &p, err, sizeof(err)), ZDU_ERR_IO);
	assert_non_null(strstr(err, path));
	assert_null(p.backend);
	assert_int_equal(rmdir(dir), 0);
}

/* ------------------------------------------------------------ digest */

/* ------------------------------------------------------------ before and after the window */

/* before_command and after_command: optional, with their own time limits;
 * {node} and {server} refused (they run once for the whole plan); neither
 * part of what a journal must match. */
static void test_window_commands(void **state)
{
	struct zdu_plan p;
	unsigned long d0;

	(void)state;
	load_ok(minimal, &p);
	assert_string_equal(p.before_command, "");
	assert_string_equal(p.after_command, "");
	assert_int_equal(p.before_timeout_ms, 3600000);
	assert_int_equal(p.after_timeout_ms, 3600000);
	zdu_plan_free(&p);

	load_ok(plan_with2(9,
			   "before_command = \"nova-status upgrade check && nova-manage db sync # {backend} {plan}\";\n"
			   "after_command = \"nova-manage db online_data_migrations\";",
			   16, "  request_ms = 2000; before_ms = 120000; after_ms = 86400000;"),
		&p);
	assert_string_equal(p.before_command, "nova-status upgrade check && nova-manage db sync # {backend} {plan}");
	assert_string_equal(p.after_command, "nova-manage db online_data_migrations");
	assert_int_equal(p.before_timeout_ms, 120000);
	assert_int_equal(p.after_timeout_ms, 86400000);
	zdu_plan_free(&p);

	expect_err(plan_with(9, "before_command = \"check {node}\";"), ZDU_ERR_PARSE, 9, "before_command",
		   "{node} has no value here");
	expect_err(plan_with(9, "after_command = \"migrate --host {server}\";"), ZDU_ERR_PARSE, 9, "after_command",
		   "{server} has no value here");
	expect_err(plan_with(9, "after_command = 5;"), ZDU_ERR_TYPE, 9, "after_command", "");
	expect_err(plan_with(16, "  request_ms = 2000; before_ms = 99;"), ZDU_ERR_RANGE, 16, "timeouts.before_ms", "");
	expect_err(plan_with(16, "  request_ms = 2000; after_ms = 86400001;"), ZDU_ERR_RANGE, 16, "timeouts.after_ms",
		   "");

	/* a command fixed between a stop and --resume resumes the same rollout */
	d0 = digest_of(plan_with(0, ""));
	assert_true(d0 == digest_of(plan_with(9, "before_command = \"true\"; after_command = \"false\";")));
}

static void test_digest(void **state)
{
	unsigned long d0;

	(void)state;
	d0 = digest_of(plan_with(0, ""));
	assert_true(d0 == digest_of(plan_with(0, ""))); /* stable */

	/* what a journal must match */
	assert_true(d0 != digest_of(plan_with(1, "backend = \"nova-api2\";")));
	assert_true(d0 != digest_of(plan_with2(26, full[26], 27, full[25]))); /* api1 <-> api2 */
	assert_true(d0 != digest_of(plan_with(26, "  { name = \"apiX\"; server = \"node1\"; agent = \"ssh:x\"; },")));
	assert_true(d0 != digest_of(plan_with(26, "  { name = \"api1\"; server = \"nodeX\"; agent = \"ssh:x\"; },")));
	assert_true(d0 != digest_of(plan_with(31, "  },\n  { name = \"api4\"; agent = \"ssh:api4\"; }")));
	assert_true(d0 != digest_of(plan_with2(3, "min_ready = 1;", 27, ""))); /* one node less */
	/* a name moved to the server is another plan */
	assert_true(digest_of(plan_with(26, "  { name = \"ab\"; server = \"c\"; agent = \"ssh:x\"; },")) !=
		    digest_of(plan_with(26, "  { name = \"a\"; server = \"bc\"; agent = \"ssh:x\"; },")));

	/* what may change between an interruption and --resume */
	assert_true(d0 == digest_of(plan_with(11, "  drain_ms = 61000;")));
	assert_true(d0 == digest_of(plan_with2(10, "timeouts = { }; /*", 17, "*/")));
	assert_true(d0 == digest_of(plan_with(3, "min_ready = 1;")));
	assert_true(d0 == digest_of(plan_with(4, "")));
	assert_true(d0 == digest_of(plan_with(5, "upgrade_command = \"/bin/true\";")));
	assert_true(d0 == digest_of(plan_with(7, "")));
	assert_true(d0 == digest_of(plan_with(8, "")));
	assert_true(d0 == digest_of(plan_with(9, "")));
	assert_true(d0 == digest_of(plan_with(20, "  { name = \"lb2\"; runtime = \"192.0.2.11:9999\"; },")));
	/* an agent address is how to reach a node, not which node */
	assert_true(d0 == digest_of(plan_with(30, "    agent = \"ssh:api3.example\";")));
	/* the default server is the name: writing it out is the same plan */
	assert_true(d0 == digest_of(plan_with(29, "    name = \"api3\"; server = \"api3\";")));
}

/* ---- fixed bugs: regression tests --------------
 * plan.c:313 (after "journal: must be an absolute path"): the journal must be
 * absolute, but an explicit lock path is not checked. A relative lock is
 * taken relative to each coordinator's working directory, so two
 * coordinators started from two directories both get "their" lock and run
 * the same plan at once: the lock no longer excludes anything. */
static void test_fixed_relative_lock_accepted(void **state)
{
	(void)state;
	expect_err(plan_with(7, "lock = \"rollout.lock\";"), ZDU_ERR_RANGE, 7, "lock", "absolute");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_minimal_defaults),
		cmocka_unit_test(test_range_edges),
		cmocka_unit_test(test_single_node),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_empty_lists),
		cmocka_unit_test(test_journal_absolute),
		cmocka_unit_test(test_bad_runtime),
		cmocka_unit_test(test_bad_agent),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_min_ready),
		cmocka_unit_test(test_min_ready_cutover_fix),
		cmocka_unit_test(test_bad_expect_version),
		cmocka_unit_test(test_bad_strategy),
		cmocka_unit_test(test_include_refused),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_digest),
		cmocka_unit_test(test_window_commands),
		cmocka_unit_test(test_fixed_relative_lock_accepted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
