/* The fleet guard (issue 15, part 2), its pure parts (agent/daemon/guard.c) and
 * the hysteresis it plugs into (agent/daemon/health.c):
 *
 *   decision: peers + self -> keep up or go down, the reason text exactly
 *     ("kept up: 2 of 3 nodes already down"), every node count and share
 *     against the rule up * 100 < share * nodes, the share clamped, 0 off;
 *   a peer's published state: up only when its reply is up and serving
 *     (ready or lb mode, weight above 0); down, drain, maint, weight 0, no
 *     verdict yet count as not up; another service is not counted; absent,
 *     empty, garbage, wrong types, NUL bytes, control bytes: unreadable,
 *     saying why in one printable line, never a crash;
 *   a check's read: this node and keys that are not agents' left out, the
 *     claim key's nodes counted as going down, a bad claim ignored and said,
 *     the claim value written next;
 *   the hysteresis with a guard: slowness past dead_after marks the node
 *     due instead of taking it down; the guard's go takes it down soft;
 *     failures never wait for it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/common.h"
#include "zdu/guard.h"
#include "zdu/health.h"

/* What a real agent published (/zdu/agents/n3, printed by
 * tests/integration/test_etcd_guard.py: "published by n3: ..."), its reply
 * left as %s. */
#define PUBLISHED \
	"{\"cause\":\"probe: nova-api up (answered)\",\"config\":\"/tmp/zdu-it-guard-mwc0g1mj/n3/agent-n3" \
	".conf\",\"drain\":{\"connections\":0,\"drained\":false,\"error\":null,\"idle\":0,\"known\":false" \
	"},\"drained\":false,\"flag\":{\"active\":false,\"error\":null,\"etcd\":{\"active\":false,\"cache" \
	"_error\":null,\"cache_file\":\"/tmp/zdu-it-guard-mwc0g1mj/n3/flagdir/etcd.cache\",\"cached\":fal" \
	"se,\"changes\":0,\"endpoint\":\"http://127.0.0.21:2379\",\"error\":null,\"keys\":{\"all\":{\"key" \
	"\":\"/zdu/maintenance/all\",\"present\":false,\"revision\":8},\"node\":{\"key\":\"/zdu/maintenan" \
	"ce/nodes/n3\",\"present\":false,\"revision\":8}},\"last_error\":null,\"mode\":\"off\",\"reachabl" \
	"e\":true,\"revision\":8,\"source\":null},\"file\":{\"active\":false,\"error\":null,\"mode\":\"of" \
	"f\",\"path\":\"/tmp/zdu-it-guard-mwc0g1mj/n3/flagdir/maintenance\"},\"mode\":\"off\"},\"generati" \
	"on\":1,\"health\":{\"disabled\":false,\"fault\":\"none\",\"guard\":null,\"min_version\":\"2.1\"," \
	"\"reason\":\"\",\"slow\":null,\"state\":\"up\",\"version\":\"2.93\"},\"node\":\"n3\",\"ok\":true" \
	",\"on_failure\":\"down\",\"pid\":11942,\"probe\":{\"dead_after_ms\":4000,\"fail_streak\":0,\"fai" \
	"lures\":0,\"fall\":2,\"hard_streak\":0,\"healthcheck_disabled\":false,\"healthcheck_http\":0,\"h" \
	"ealthcheck_url\":null,\"last_class\":\"ok\",\"last_http\":200,\"last_latency_ms\":4,\"last_ok\":" \
	"true,\"last_reason\":\"\",\"last_unix_ms\":1796590946419,\"min_version\":\"2.1\",\"ok_streak\":2" \
	",\"probes\":2,\"rise\":2,\"slow_probes\":0,\"slow_timeout_ms\":5000,\"timeout_ms\":300,\"url\":\"" \
	"http://127.0.0.1:38777/v2.1/\",\"version\":\"2.93\"},\"reply\":\"%s\",\"service\":\"nova-api\",\"" \
	"time\":\"2026-12-06T21:02:26.616Z\",\"version\":\"0.1.0\",\"weight_percent\":100}"

static int printable_line(const char *s, size_t size)
{
	size_t i;

	for (i = 0; i < size && s[i]; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return i < size;
}

/* ---- the decision ---- */

static void expect_decision(const enum zdu_peer_state *states, size_t n, unsigned pct,
			    enum zdu_guard_outcome want, const char *want_reason)
{
	struct zdu_guard_peer peers[16];
	struct zdu_guard_verdict v;
	size_t i;

	memset(peers, 0, sizeof(peers));
	for (i = 0; i < n; i++) {
		snprintf(peers[i].node, sizeof(peers[i].node), "n%zu", i + 2);
		peers[i].state = states[i];
	}
	zdu_guard_decide(peers, n, pct, &v);
	if (v.outcome != want || strcmp(v.reason, want_reason) != 0)
		fail_msg("%zu peers, share %u%%: outcome %s \"%s\", want %s \"%s\"", n, pct,
			 zdu_guard_outcome_name(v.outcome), v.reason, zdu_guard_outcome_name(want), want_reason);
	assert_int_equal(v.nodes, n + 1);
	assert_int_equal(v.up + v.down + 1, v.nodes);
}

#define DECIDE(pct, want, reason, ...)                                                                   \
	do {                                                                                             \
		const enum zdu_peer_state s_[] = { __VA_ARGS__ };                                        \
		expect_decision(s_, ZDU_ARRAY_SIZE(s_), pct, want, reason);                               \
	} while (0)

static void test_decide_three_nodes(void **state)
{
	(void)state;
	/* The case: the first of two slow nodes may go (2 of 3 stay,
	 * 67 % >= 50 %), the second may not (1 of 3, 33 %). */
	DECIDE(50, ZDU_GUARD_DOWN, "2 of 3 nodes stay up", ZDU_PEER_UP, ZDU_PEER_UP);
	DECIDE(50, ZDU_GUARD_KEEP, "kept up: 1 of 3 nodes already down", ZDU_PEER_DOWN, ZDU_PEER_UP);
	DECIDE(50, ZDU_GUARD_KEEP, "kept up: 2 of 3 nodes already down", ZDU_PEER_DOWN, ZDU_PEER_DOWN);
	/* 34 %: 1 of 3 is 33.3 %, not enough; 33 % lets the second go. */
	DECIDE(34, ZDU_GUARD_KEEP, "kept up: 1 of 3 nodes already down", ZDU_PEER_UP, ZDU_PEER_DOWN);
	DECIDE(33, ZDU_GUARD_DOWN, "1 of 3 nodes stay up", ZDU_PEER_UP, ZDU_PEER_DOWN);
}

static void test_decide_not_up(void **state)
{
	(void)state;
	/* Every peer that is not serving counts as down, whatever the cause. */
	DECIDE(50, ZDU_GUARD_KEEP, "kept up: 1 of 3 nodes already down", ZDU_PEER_OUT, ZDU_PEER_UP);
	DECIDE(50, ZDU_GUARD_KEEP, "kept up: 1 of 3 nodes already down", ZDU_PEER_STARTING, ZDU_PEER_UP);
	DECIDE(50, ZDU_GUARD_KEEP, "kept up: 1 of 3 nodes already down", ZDU_PEER_GOING_DOWN, ZDU_PEER_UP);
	DECIDE(50, ZDU_GUARD_KEEP, "kept up: 1 of 3 nodes already down", ZDU_PEER_UNREADABLE, ZDU_PEER_UP);
	DECIDE(50, ZDU_GUARD_KEEP, "kept up: 4 of 5 nodes already down", ZDU_PEER_DOWN, ZDU_PEER_OUT,
	       ZDU_PEER_STARTING, ZDU_PEER_UNREADABLE);
}

static void test_decide_edges(void **state)
{
	const enum zdu_peer_state none[1] = { ZDU_PEER_UP };

	(void)state;
	/* Alone (no peer published): the last node of its service. */
	expect_decision(none, 0, 50, ZDU_GUARD_KEEP, "kept up: 0 of 1 nodes already down");
	expect_decision(none, 0, 1, ZDU_GUARD_KEEP, "kept up: 0 of 1 nodes already down");
	/* 0: the guard lets everything go, even the last node. */
	expect_decision(none, 0, 0, ZDU_GUARD_DOWN, "0 of 1 nodes stay up");
	DECIDE(0, ZDU_GUARD_DOWN, "0 of 3 nodes stay up", ZDU_PEER_DOWN, ZDU_PEER_DOWN);
	/* Two nodes: 1 of 2 is 50 %, enough. */
	DECIDE(50, ZDU_GUARD_DOWN, "1 of 2 nodes stay up", ZDU_PEER_UP);
	DECIDE(51, ZDU_GUARD_KEEP, "kept up: 0 of 2 nodes already down", ZDU_PEER_UP);
	/* 100: slowness alone never takes a node down; over 100 is 100. */
	DECIDE(100, ZDU_GUARD_KEEP, "kept up: 0 of 4 nodes already down", ZDU_PEER_UP, ZDU_PEER_UP, ZDU_PEER_UP);
	DECIDE(250, ZDU_GUARD_KEEP, "kept up: 0 of 4 nodes already down", ZDU_PEER_UP, ZDU_PEER_UP, ZDU_PEER_UP);
	/* Four nodes, half may be out. */
	DECIDE(50, ZDU_GUARD_DOWN, "2 of 4 nodes stay up", ZDU_PEER_UP, ZDU_PEER_UP, ZDU_PEER_DOWN);
	DECIDE(50, ZDU_GUARD_KEEP, "kept up: 2 of 4 nodes already down", ZDU_PEER_UP, ZDU_PEER_DOWN,
	       ZDU_PEER_DOWN);
}

/* Every fleet up to 40 nodes, every count of peers up, every share: the
 * rule, in integers (no rounding: 1 of 3 is under 34 %, not under 33 %). */
static void test_decide_exhaustive(void **state)
{
	struct zdu_guard_peer *peers = calloc(40, sizeof(*peers));
	struct zdu_guard_verdict v;
	size_t n, up, i;
	unsigned pct;

	(void)state;
	assert_non_null(peers);
	for (n = 0; n < 40; n++) {
		for (up = 0; up <= n; up++) {
			for (i = 0; i < n; i++)
				peers[i].state = i < up ? ZDU_PEER_UP : ZDU_PEER_DOWN;
			for (pct = 0; pct <= 101; pct++) {
				int keep = up * 100 < (pct > 100 ? 100 : pct) * (n + 1);
				char want[ZDU_REASON_MAX];

				zdu_guard_decide(peers, n, pct, &v);
				assert_int_equal(v.outcome, keep ? ZDU_GUARD_KEEP : ZDU_GUARD_DOWN);
				assert_int_equal(v.nodes, n + 1);
				assert_int_equal(v.up, up);
				assert_int_equal(v.down, n - up);
				if (keep)
					snprintf(want, sizeof(want), "kept up: %zu of %zu nodes already down", n - up, n + 1);
				else
					snprintf(want, sizeof(want), "%zu of %zu nodes stay up", up, n + 1);
				assert_string_equal(v.reason, want);
			}
		}
	}
	free(peers);
}

/* ---- a peer's published state ---- */

static struct zdu_guard_peer peer_of(const char *value, size_t len, int want_rc)
{
	struct zdu_guard_peer p;
	char *copy = malloc(len ? len : 1); /* exactly len bytes: ASan sees a read past them */

	assert_non_null(copy);
	memcpy(copy, value, len);
	memset(&p, 'X', sizeof(p));
	assert_int_equal(zdu_guard_peer_parse("n3", copy, len, "nova-api", &p), want_rc);
	free(copy);
	assert_true(printable_line(p.node, sizeof(p.node)));
	assert_true(printable_line(p.why, sizeof(p.why)));
	return p;
}

static void expect_reply(const char *reply, enum zdu_peer_state want, const char *want_why)
{
	char value[4096];
	struct zdu_guard_peer p;

	snprintf(value, sizeof(value), PUBLISHED, reply);
	p = peer_of(value, strlen(value), 0);
	if (p.state != want || strcmp(p.why, want_why) != 0)
		fail_msg("reply \"%s\": %s \"%s\", want %s \"%s\"", reply, zdu_guard_peer_state_name(p.state), p.why,
			 zdu_guard_peer_state_name(want), want_why);
	assert_string_equal(p.node, "n3");
}

static void test_peer_replies(void **state)
{
	(void)state;
	expect_reply("up ready 100% #nova-api 2.93", ZDU_PEER_UP, "nova-api 2.93");
	expect_reply("up ready 100%", ZDU_PEER_UP, "");
	expect_reply("up ready 50% #nova-api: slow: 1.2 s; nova-api 2.93", ZDU_PEER_UP,
		     "nova-api: slow: 1.2 s; nova-api 2.93");
	/* Held up by its own guard: it serves, so it counts as up. */
	expect_reply("up ready 10% #kept up: 1 of 3 nodes already down; nova-api: slow: 2.1 s; nova-api 2.93",
		     ZDU_PEER_UP, "kept up: 1 of 3 nodes already down; nova-api: slow: 2.1 s; nova-api 2.93");
	/* lb mode: the load balancer owns the administrative state. */
	expect_reply("up 100% #lb-managed: cutover; nova-api 2.93", ZDU_PEER_UP, "lb-managed: cutover; nova-api 2.93");
	expect_reply("down ready 100% #nova-api: slow for 60.1 s", ZDU_PEER_DOWN, "nova-api: slow for 60.1 s");
	expect_reply("down drain #nova-api: HTTP 500; maintenance: upgrade", ZDU_PEER_DOWN,
		     "nova-api: HTTP 500; maintenance: upgrade");
	expect_reply("down", ZDU_PEER_DOWN, "down");
	/* Maintenance and on_failure drain/zero: up, but nobody's traffic. */
	expect_reply("up drain #maintenance: kernel upgrade; nova-api 2.93", ZDU_PEER_OUT,
		     "drain: maintenance: kernel upgrade; nova-api 2.93");
	expect_reply("up maint #maintenance: disk swap; nova-api 2.93", ZDU_PEER_OUT,
		     "maint: maintenance: disk swap; nova-api 2.93");
	expect_reply("up drain #nova-api: connection refused", ZDU_PEER_OUT, "drain: nova-api: connection refused");
	expect_reply("up ready 0% #nova-api: connection refused", ZDU_PEER_OUT,
		     "weight 0%: nova-api: connection refused");
	expect_reply("up 0% #lb-managed: x; nova-api: connection refused", ZDU_PEER_OUT,
		     "weight 0%: lb-managed: x; nova-api: connection refused");
	/* Just started: no verdict, HAProxy's own check decides. */
	expect_reply("ready 100% #nova-api: not probed yet", ZDU_PEER_STARTING, "no verdict yet: nova-api: not probed yet");
}

static void test_peer_bad_replies(void **state)
{
	static const char *const bad[] = {
		"",
		"#only a reason",
		"bogus",
		"up bogus 100%",
		"up up",
		"up ready 100% 50%",
		"up ready 1x%",
		"up ready -5%",
		"up ready %",
		"up ready 12345%",
		"UP READY 100%",
		"up\\tready 100%",
		"up ready 100% ready",
		"up ready 100% and then a very long tail without a hash that goes on and on and on past sixty-four bytes",
	};
	size_t i;

	(void)state;
	for (i = 0; i < ZDU_ARRAY_SIZE(bad); i++) {
		char value[4096];
		struct zdu_guard_peer p;

		snprintf(value, sizeof(value), PUBLISHED, bad[i]);
		p = peer_of(value, strlen(value), 0);
		if (p.state != ZDU_PEER_UNREADABLE || strncmp(p.why, "reply \"", 7) != 0 ||
		    !strstr(p.why, "not understood"))
			fail_msg("reply \"%s\": %s \"%s\", want unreadable, naming the reply", bad[i],
				 zdu_guard_peer_state_name(p.state), p.why);
	}
}

static void expect_unreadable(const char *value, size_t len, const char *want_why_start)
{
	struct zdu_guard_peer p = peer_of(value, len, 0);

	if (p.state != ZDU_PEER_UNREADABLE || strncmp(p.why, want_why_start, strlen(want_why_start)) != 0)
		fail_msg("value \"%.*s\": %s \"%s\", want unreadable \"%s...\"", (int)len, value,
			 zdu_guard_peer_state_name(p.state), p.why, want_why_start);
}

static void test_peer_garbage(void **state)
{
	static const char nul_reply[] = "{\"reply\":\"up ready 100%\\u0000 down\"}";
	static const char binary[] = "\x01\xff{\"reply\":\"up\"}\x80";
	static const char cut[] = "{\"reply\":\"up ready 100%\"";

	(void)state;
	expect_unreadable("", 0, "empty value");
	expect_unreadable("not json", 8, "not JSON: ");
	expect_unreadable(cut, sizeof(cut) - 1, "not JSON: ");
	expect_unreadable(binary, sizeof(binary) - 1, "not JSON: ");
	expect_unreadable("[1,2]", 5, "not a JSON object");
	expect_unreadable("\"up ready 100%\"", 15, "not a JSON object");
	expect_unreadable("null", 4, "not a JSON object");
	expect_unreadable("{}", 2, "no \"reply\" string");
	expect_unreadable("{\"reply\":5}", 11, "no \"reply\" string");
	expect_unreadable("{\"reply\":null}", 14, "no \"reply\" string");
	expect_unreadable("{\"service\":7,\"reply\":\"up ready 100%\"}", 37, "\"service\" is not a string");
	expect_unreadable(nul_reply, sizeof(nul_reply) - 1, "not JSON: ");
}

static void test_peer_service(void **state)
{
	static const char other[] = "{\"service\":\"glance-api\",\"reply\":\"down\"}";
	static const char same[] = "{\"service\":\"nova-api\",\"reply\":\"down\"}";
	static const char older[] = "{\"reply\":\"up ready 100%\"}";
	struct zdu_guard_peer p;

	(void)state;
	/* Another service's agent shares the prefix: not one of ours. */
	p = peer_of(other, sizeof(other) - 1, 1);
	assert_string_equal(p.why, "another service: glance-api");
	p = peer_of(same, sizeof(same) - 1, 0);
	assert_int_equal(p.state, ZDU_PEER_DOWN);
	/* An agent from before "service" was published: one of ours. */
	p = peer_of(older, sizeof(older) - 1, 0);
	assert_int_equal(p.state, ZDU_PEER_UP);
}

static void test_peer_unprintable(void **state)
{
	static const char ctl[] = "{\"reply\":\"down ready 100% #evil\\nsecond line\\u001b[31m\"}";
	struct zdu_guard_peer p;
	char value[1024];

	(void)state;
	p = peer_of(ctl, sizeof(ctl) - 1, 0);
	assert_int_equal(p.state, ZDU_PEER_DOWN);
	assert_non_null(strstr(p.why, "evil?second line?[31m"));
	/* A reason of 600 bytes: cut to fit. */
	memset(value, 0, sizeof(value));
	snprintf(value, sizeof(value), "{\"reply\":\"down #%0600d\"}", 7);
	p = peer_of(value, strlen(value), 0);
	assert_int_equal(p.state, ZDU_PEER_DOWN);
	assert_int_equal(strlen(p.why), sizeof(p.why) - 1);
	/* A node name with bytes no log should get. */
	memset(&p, 0, sizeof(p));
	assert_int_equal(zdu_guard_peer_parse("n\x01\xff", "{\"reply\":\"down\"}", 16, "nova-api", &p), 0);
	assert_string_equal(p.node, "n??");
}

/* ---- a check's read ---- */

struct kvs {
	struct zdu_etcd_kv kv[16];
	size_t n;
};

static void add(struct kvs *k, const char *key, const char *value, int64_t mod)
{
	struct zdu_etcd_kv *kv = &k->kv[k->n++];

	kv->key = strdup(key);
	kv->len = strlen(value);
	kv->value = malloc(kv->len + 1);
	assert_non_null(kv->key);
	assert_non_null(kv->value);
	memcpy(kv->value, value, kv->len + 1);
	kv->mod_revision = mod;
}

static void add_reply(struct kvs *k, const char *node, const char *reply)
{
	char key[64], value[4096];

	snprintf(key, sizeof(key), "/zdu/agents/%s", node);
	snprintf(value, sizeof(value), PUBLISHED, reply);
	add(k, key, value, 10);
}

static void kvs_free(struct kvs *k)
{
	size_t i;

	for (i = 0; i < k->n; i++) {
		free(k->kv[i].key);
		free(k->kv[i].value);
	}
}

static const struct zdu_guard_peer *find(const struct zdu_guard_view *v, const char *node)
{
	size_t i;

	for (i = 0; i < v->npeers; i++)
		if (strcmp(v->peers[i].node, node) == 0)
			return &v->peers[i];
	fail_msg("no peer %s", node);
	return NULL;
}

static void test_view(void **state)
{
	struct kvs k = { .n = 0 };
	struct zdu_etcd_result res;
	struct zdu_guard_view v;
	struct zdu_guard_verdict d;

	(void)state;
	add_reply(&k, "n1", "up ready 10% #nova-api: slow: 2.0 s; nova-api 2.93"); /* self */
	add_reply(&k, "n2", "up ready 100% #nova-api 2.93");   /* claimed: going down */
	add_reply(&k, "n3", "up ready 100% #nova-api 2.93");
	add_reply(&k, "n4", "down ready 100% #nova-api: slow for 60.0 s"); /* claimed, and down */
	add(&k, "/zdu/agents/n5", "{\"service\":\"glance-api\",\"reply\":\"up ready 100%\"}", 11);
	add(&k, "/zdu/agents/n6", "garbage", 12);
	add(&k, "/zdu/agents/", "{\"reply\":\"down\"}", 13);          /* not an agent's key */
	add(&k, "/zdu/agents/n7/extra", "{\"reply\":\"down\"}", 14);  /* nor this */
	add(&k, "/zdu/maintenance/all", "mode=drain\n", 15);           /* nor this */
	add(&k, "/zdu/guard/nova-api", "{\"down\":[\"n4\",\"n2\",\"n1\",17]}", 42);
	memset(&res, 0, sizeof(res));
	res.kvs = k.kv;
	res.nkvs = k.n;
	assert_int_equal(zdu_guard_view_parse(&res, "/zdu", "n1", "nova-api", &v), 0);
	assert_int_equal(v.npeers, 4);
	assert_true(v.self_seen);
	assert_int_equal(v.other_services, 1);
	assert_int_equal(v.claim_mod_revision, 42);
	assert_int_equal(v.nclaimed, 3);
	assert_string_equal(v.claim_error, "");
	assert_false(v.more);
	assert_int_equal(find(&v, "n2")->state, ZDU_PEER_GOING_DOWN);
	assert_non_null(strstr(find(&v, "n2")->why, "/zdu/guard/nova-api"));
	assert_int_equal(find(&v, "n3")->state, ZDU_PEER_UP);
	assert_int_equal(find(&v, "n4")->state, ZDU_PEER_DOWN);
	assert_int_equal(find(&v, "n6")->state, ZDU_PEER_UNREADABLE);
	assert_string_equal(find(&v, "n6")->why, "not JSON: invalid token near 'garbage'");
	zdu_guard_decide(v.peers, v.npeers, 50, &d);
	assert_int_equal(d.outcome, ZDU_GUARD_KEEP);
	assert_string_equal(d.reason, "kept up: 3 of 5 nodes already down");
	zdu_guard_view_free(&v);
	kvs_free(&k);
}

static void test_view_bad_claim(void **state)
{
	static const char *const bad[] = { "", "zzz", "[]", "{\"down\":5}", "{\"down\":null}", "{}" };
	size_t i;

	(void)state;
	for (i = 0; i < ZDU_ARRAY_SIZE(bad); i++) {
		struct kvs k = { .n = 0 };
		struct zdu_etcd_result res;
		struct zdu_guard_view v;

		add_reply(&k, "n2", "up ready 100%");
		add(&k, "/zdu/guard/nova-api", bad[i], 7);
		memset(&res, 0, sizeof(res));
		res.kvs = k.kv;
		res.nkvs = k.n;
		res.more = 1;
		assert_int_equal(zdu_guard_view_parse(&res, "/zdu", "n1", "nova-api", &v), 0);
		/* Ignored (the claim's revision still orders the writers), and said. */
		assert_int_equal(v.nclaimed, 0);
		assert_int_equal(v.claim_mod_revision, 7);
		if (!v.claim_error[0] || !printable_line(v.claim_error, sizeof(v.claim_error)))
			fail_msg("claim \"%s\": error \"%s\"", bad[i], v.claim_error);
		assert_int_equal(find(&v, "n2")->state, ZDU_PEER_UP);
		assert_true(v.more);
		assert_false(v.self_seen);
		zdu_guard_view_free(&v);
		kvs_free(&k);
	}
}

/* Found by fuzz_guard: an answer holding the claim key twice (etcd never
 * sends one; a broken proxy or a fuzzer may) overflowed the claimed list. */
static void test_view_claim_twice(void **state)
{
	struct kvs k = { .n = 0 };
	struct zdu_etcd_result res;
	struct zdu_guard_view v;

	(void)state;
	add(&k, "/zdu/guard/nova-api", "{\"down\":[\"n2\"]}", 7);
	add(&k, "/zdu/guard/nova-api", "{\"down\":[\"n3\",\"n4\",\"n5\"]}", 9);
	add(&k, "/zdu/guard/nova-api", "bad", 11);
	add(&k, "/zdu/guard/nova-api", "{\"down\":[\"n6\"]}", 12);
	memset(&res, 0, sizeof(res));
	res.kvs = k.kv;
	res.nkvs = k.n;
	assert_int_equal(zdu_guard_view_parse(&res, "/zdu", "n1", "nova-api", &v), 0);
	assert_int_equal(v.nclaimed, 1);
	assert_string_equal(v.claimed[0], "n6");
	assert_int_equal(v.claim_mod_revision, 12);
	assert_string_equal(v.claim_error, "");
	zdu_guard_view_free(&v);
	kvs_free(&k);
}

static void test_view_empty(void **state)
{
	struct zdu_etcd_result res;
	struct zdu_guard_view v;
	char *claim;

	(void)state;
	memset(&res, 0, sizeof(res));
	assert_int_equal(zdu_guard_view_parse(&res, "/zdu", "n1", "nova-api", &v), 0);
	assert_int_equal(v.npeers, 0);
	assert_int_equal(v.claim_mod_revision, 0);
	claim = zdu_guard_claim_value(&v, "n1");
	assert_string_equal(claim, "{\"down\":[\"n1\"]}");
	free(claim);
	zdu_guard_view_free(&v);
}

static void test_claim_value(void **state)
{
	struct zdu_guard_view v;
	char *names[300], *claim;
	size_t i;

	(void)state;
	memset(&v, 0, sizeof(v));
	for (i = 0; i < 3; i++)
		assert_non_null(names[i] = strdup(i == 1 ? "n1" : i == 0 ? "n4" : "n2"));
	v.claimed = names;
	v.nclaimed = 3;
	/* Self once, at the end: the newest last. */
	claim = zdu_guard_claim_value(&v, "n1");
	assert_string_equal(claim, "{\"down\":[\"n4\",\"n2\",\"n1\"]}");
	free(claim);
	for (i = 0; i < 3; i++)
		free(names[i]);
	/* Full: the oldest go. */
	for (i = 0; i < 300; i++) {
		char n[16];

		snprintf(n, sizeof(n), "x%zu", i);
		assert_non_null(names[i] = strdup(n));
	}
	v.nclaimed = 300;
	claim = zdu_guard_claim_value(&v, "me");
	assert_non_null(strstr(claim, "{\"down\":[\"x45\",\"x46\","));
	assert_non_null(strstr(claim, ",\"x299\",\"me\"]}"));
	assert_null(strstr(claim, "\"x44\""));
	free(claim);
	for (i = 0; i < 300; i++)
		free(names[i]);
}

/* ---- the hysteresis with a guard ---- */

/* rise 2, fall 3, dead_after 3000: an up node, then slow probes of 1 s. */
static void slow_until_due(struct zdu_hysteresis *h, uint64_t *t)
{
	int i;

	zdu_hysteresis_init(h, 2, 3);
	zdu_hysteresis_set_dead_after(h, 3000);
	zdu_hysteresis_set_guarded(h, 1);
	assert_int_equal(zdu_hysteresis_feed_class(h, ZDU_PROBE_OK, *t, *t + 5), ZDU_HEALTH_UP);
	*t += 1000;
	for (i = 0; i < 2; i++) {
		assert_int_equal(zdu_hysteresis_feed_class(h, ZDU_PROBE_SLOW, *t, *t + 1000), ZDU_HEALTH_UP);
		assert_false(h->dead_due);
		*t += 1000;
	}
	/* Slow for 3 s (and fall probes) at the end of this one: due, but
	 * still up; without a guard it would be down now. */
	assert_int_equal(zdu_hysteresis_feed_class(h, ZDU_PROBE_SLOW, *t, *t + 1000), ZDU_HEALTH_UP);
	*t += 1000;
	assert_true(h->dead_due);
	assert_int_equal(h->fault, ZDU_FAULT_SOFT);
}

static void test_hysteresis_guarded(void **state)
{
	struct zdu_hysteresis h;
	uint64_t t = 1000;
	int i;

	(void)state;
	slow_until_due(&h, &t);
	/* The guard keeps it: up, due again at every slow probe, for minutes. */
	for (i = 0; i < 300; i++) {
		assert_int_equal(zdu_hysteresis_feed_class(&h, ZDU_PROBE_SLOW, t, t + 1000), ZDU_HEALTH_UP);
		t += 1000;
		assert_true(h.dead_due);
	}
	assert_true(h.slow_for_ms >= 300000);
	/* The guard lets it go: down, soft. */
	assert_int_equal(zdu_hysteresis_slow_down(&h), 0);
	assert_int_equal(h.verdict, ZDU_HEALTH_DOWN);
	assert_int_equal(h.fault, ZDU_FAULT_SOFT);
	assert_false(h.dead_due);
	assert_false(h.slow);
	assert_int_equal(zdu_hysteresis_slow_down(&h), -1);
	/* Back after rise good answers. */
	assert_int_equal(zdu_hysteresis_feed_class(&h, ZDU_PROBE_OK, t, t + 5), ZDU_HEALTH_DOWN);
	assert_int_equal(zdu_hysteresis_feed_class(&h, ZDU_PROBE_OK, t, t + 5), ZDU_HEALTH_UP);
	assert_int_equal(h.fault, ZDU_FAULT_NONE);
}

static void test_hysteresis_guarded_failure(void **state)
{
	struct zdu_hysteresis h;
	uint64_t t = 1000;

	(void)state;
	/* Held, then refused: down at once, hard; the guard is not asked. */
	slow_until_due(&h, &t);
	assert_int_equal(zdu_hysteresis_feed_class(&h, ZDU_PROBE_FAILED, t, t + 2), ZDU_HEALTH_DOWN);
	assert_int_equal(h.fault, ZDU_FAULT_HARD);
	assert_false(h.dead_due);
	assert_int_equal(zdu_hysteresis_slow_down(&h), -1);

	/* Slow but not yet due, then fall failures: down hard after fall, as
	 * without a guard. */
	zdu_hysteresis_init(&h, 2, 3);
	zdu_hysteresis_set_dead_after(&h, 60000);
	zdu_hysteresis_set_guarded(&h, 1);
	zdu_hysteresis_feed_class(&h, ZDU_PROBE_OK, t, t);
	zdu_hysteresis_feed_class(&h, ZDU_PROBE_SLOW, t, t + 1000);
	assert_int_equal(zdu_hysteresis_feed_class(&h, ZDU_PROBE_FAILED, t, t), ZDU_HEALTH_UP);
	assert_int_equal(zdu_hysteresis_feed_class(&h, ZDU_PROBE_FAILED, t, t), ZDU_HEALTH_UP);
	assert_int_equal(zdu_hysteresis_feed_class(&h, ZDU_PROBE_FAILED, t, t), ZDU_HEALTH_DOWN);
	assert_int_equal(h.fault, ZDU_FAULT_HARD);
}

static void test_hysteresis_guarded_recovers(void **state)
{
	struct zdu_hysteresis h;
	uint64_t t = 1000;

	(void)state;
	/* A good answer while the guard is being asked: no longer due, and
	 * the guard's late "down" changes nothing. */
	slow_until_due(&h, &t);
	assert_int_equal(zdu_hysteresis_feed_class(&h, ZDU_PROBE_OK, t, t + 5), ZDU_HEALTH_UP);
	assert_false(h.dead_due);
	assert_int_equal(zdu_hysteresis_slow_down(&h), -1);
	assert_int_equal(h.verdict, ZDU_HEALTH_UP);

	/* The guard goes away (etcd or the share configured off): the next
	 * slow probe takes the node down, soft, as without etcd. */
	slow_until_due(&h, &t);
	zdu_hysteresis_set_guarded(&h, 0);
	assert_false(h.dead_due);
	assert_int_equal(zdu_hysteresis_feed_class(&h, ZDU_PROBE_SLOW, t, t + 1000), ZDU_HEALTH_DOWN);
	assert_int_equal(h.fault, ZDU_FAULT_SOFT);

	/* dead_after 0 (slowness is failure): the spell ends, nothing due. */
	slow_until_due(&h, &t);
	zdu_hysteresis_set_dead_after(&h, 0);
	assert_false(h.dead_due);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decide_three_nodes),
		cmocka_unit_test(test_decide_not_up),
		cmocka_unit_test(test_decide_edges),
		cmocka_unit_test(test_decide_exhaustive),
		cmocka_unit_test(test_peer_replies),
		cmocka_unit_test(test_peer_bad_replies),
		cmocka_unit_test(test_peer_garbage),
		cmocka_unit_test(test_peer_service),
		cmocka_unit_test(test_peer_unprintable),
		cmocka_unit_test(test_view),
		cmocka_unit_test(test_view_bad_claim),
		cmocka_unit_test(test_view_claim_twice),
		cmocka_unit_test(test_view_empty),
		cmocka_unit_test(test_claim_value),
		cmocka_unit_test(test_hysteresis_guarded),
		cmocka_unit_test(test_hysteresis_guarded_failure),
		cmocka_unit_test(test_hysteresis_guarded_recovers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
