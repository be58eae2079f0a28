/* The fleet guard's parsers (agent/daemon/guard.c): what other agents published
 * in etcd is read by every agent whose node is slow too long, so any bytes
 * there must give a clear verdict, never a crash.
 *
 * Input: byte 0 picks the entry point, byte 1 is guard.min_up_percent
 * (0-255: over 100 must act as 100), the rest is
 *   byte 0 even: a gateway answer to a check's read (the txn of the range
 *     /zdu/agents/ and the claim key /zdu/guard/nova-api), as the client
 *     passes it: zdu_etcd_parse_answer(), then zdu_guard_view_parse() as
 *     node n1, zdu_guard_decide(), zdu_guard_claim_value();
 *   byte 0 odd: one peer's published value: zdu_guard_peer_parse().
 * Checked: every name and reason is one printable line (they go into the
 * reply, the log and --status); the counts add up and the verdict follows
 * the rule; the claim value written next is JSON listing n1 last. */
#include <jansson.h>

#include "fuzz_common.h"
#include "zdu/guard.h"

static void check_peer(const struct zdu_guard_peer *p)
{
	FUZZ_CHECK(fuzz_printable_line(p->node, sizeof(p->node)), "node \"%s\"", p->node);
	FUZZ_CHECK(fuzz_printable_line(p->why, sizeof(p->why)), "why \"%s\"", p->why);
	FUZZ_CHECK(p->state >= ZDU_PEER_UP && p->state <= ZDU_PEER_UNREADABLE, "state %d", (int)p->state);
	FUZZ_CHECK(p->state != ZDU_PEER_UNREADABLE || p->why[0], "unreadable without saying why");
}

static void one_value(const char *value, size_t len)
{
	struct zdu_guard_peer p;
	int rc = zdu_guard_peer_parse("n2", value, len, ZDU_GUARD_SERVICE, &p);

	FUZZ_CHECK(rc == 0 || rc == 1, "returned %d", rc);
	check_peer(&p);
}

static void check_claim(const struct zdu_guard_view *v)
{
	json_t *o, *down, *last;
	char *claim = zdu_guard_claim_value(v, "n1");
	size_t i, n1 = 0;

	FUZZ_CHECK(claim, "no claim value");
	o = json_loads(claim, 0, NULL);
	down = json_object_get(o, "down");
	FUZZ_CHECK(json_is_array(down) && json_array_size(down) >= 1 && json_array_size(down) <= 256,
		   "claim \"%s\"", claim);
	last = json_array_get(down, json_array_size(down) - 1);
	FUZZ_CHECK(json_is_string(last) && strcmp(json_string_value(last), "n1") == 0, "claim \"%s\"", claim);
	for (i = 0; i < json_array_size(down); i++)
		if (strcmp(json_string_value(json_array_get(down, i)), "n1") == 0)
			n1++;
	FUZZ_CHECK(n1 == 1, "n1 %zu times in \"%s\"", n1, claim);
	json_decref(o);
	free(claim);
}

static void one_answer(const char *body, size_t len, unsigned pct)
{
	struct zdu_etcd_result res;
	struct zdu_guard_view v;
	struct zdu_guard_verdict d;
	unsigned up = 0, share = pct > 100 ? 100 : pct;
	size_t i;

	memset(&res, 0, sizeof(res));
	if (zdu_etcd_parse_answer(body, len, &res) == 0) {
		FUZZ_CHECK(zdu_guard_view_parse(&res, "/zdu", "n1", ZDU_GUARD_SERVICE, &v) == 0, "view failed");
		FUZZ_CHECK(v.npeers + v.other_services + (size_t)v.self_seen <= res.nkvs, "%zu peers of %zu kvs",
			   v.npeers, res.nkvs);
		FUZZ_CHECK(v.npeers == 0 || v.peers, "peers without an array");
		FUZZ_CHECK(fuzz_printable_line(v.claim_error, sizeof(v.claim_error)), "claim error \"%s\"",
			   v.claim_error);
		for (i = 0; i < v.npeers; i++) {
			check_peer(&v.peers[i]);
			FUZZ_CHECK(strcmp(v.peers[i].node, "n1") != 0, "self counted as a peer");
			up += v.peers[i].state == ZDU_PEER_UP;
		}
		for (i = 0; i < v.nclaimed; i++)
			FUZZ_CHECK(fuzz_printable_line(v.claimed[i], 64), "claimed \"%s\"", v.claimed[i]);
		zdu_guard_decide(v.peers, v.npeers, pct, &d);
		FUZZ_CHECK(d.nodes == v.npeers + 1 && d.up == up && d.up + d.down + 1 == d.nodes,
			   "nodes %u up %u down %u of %zu peers", d.nodes, d.up, d.down, v.npeers);
		FUZZ_CHECK((d.outcome == ZDU_GUARD_KEEP) == ((uint64_t)up * 100 < (uint64_t)share * d.nodes),
			   "%s with %u of %u up at %u%%", zdu_guard_outcome_name(d.outcome), up, d.nodes, pct);
		FUZZ_CHECK(d.outcome == ZDU_GUARD_KEEP || d.outcome == ZDU_GUARD_DOWN, "outcome %d", (int)d.outcome);
		FUZZ_CHECK(fuzz_printable_line(d.reason, sizeof(d.reason)) && d.reason[0], "reason \"%s\"", d.reason);
		check_claim(&v);
		zdu_guard_view_free(&v);
		FUZZ_CHECK(!v.peers && !v.claimed && !v.npeers && !v.nclaimed, "free left state behind");
	}
	zdu_etcd_result_clear(&res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body;
	size_t len;

	if (size < 2)
		return 0;
	len = size - 2;
	/* Exactly len bytes, as the client passes them: ASan sees a read past. */
	body = malloc(len ? len : 1);
	if (!body)
		abort();
	if (len)
		memcpy(body, data + 2, len);
	if (data[0] & 1)
		one_value(body, len);
	else
		one_answer(body, len, data[1]);
	free(body);
	return 0;
}
