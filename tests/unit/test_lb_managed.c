/* zdu_reply_is_lb_mode and zdu_last_agt_is_lb_mode: is a reply one of flag
 * mode "lb"? zdu-coordinator's cutover sends its runtime switch only once
 * every load balancer shows such a reply from every agent; a stale reply
 * (ready/drain/maint) applied after the switch would undo it.
 *
 * The decision reads the reply's words with HAProxy's grammar, not a
 * substring: a reason is free text any operator may set, and one that
 * contains "lb-managed" must not pass. Three parts: reply lines, what
 * HAProxy shows of them in `show stat`'s last_agt, and every reply the
 * agent itself can send (every flag mode, health, on_failure, reply
 * detail full and minimal, with hostile reasons) read back both ways. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "zdu/common.h"
#include "zdu/flag.h"
#include "zdu/reply.h"
#include "zdu/state-t.h"

struct want {
	const char *text;
	int lb;
};

/* ---- reply lines ---------------------------------------------------- */

static const struct want replies[] = {
	/* what the agent sends in mode lb */
	{ "up 100% #lb-managed", 1 },
	{ "up 100% #lb-managed\n", 1 },
	{ "up 50% #lb-managed: switching by runtime API", 1 },
	{ "up 100% #lb-managed: zdu-coordinator: cutover; nova-api 2.93\n", 1 },
	{ "down 100% #lb-managed: zdu-coordinator: cutover; nova-api: connection refused\n", 1 },
	{ "up 0% #lb-managed; nova-api: healthcheck disabled by file", 1 },
	{ "100% #lb-managed; nova-api: not probed yet", 1 },
	/* HAProxy's separators, blanks after '#', case, maxconn */
	{ "UP,100%\t#  lb-managed", 1 },
	{ "up 0% maxconn:10 #lb-managed", 1 },

	/* an administrative word: never mode lb, whatever the text says */
	{ "up ready 100% #lb-managed", 0 },
	{ "up ready 100% #lb-managed: cutover", 0 },
	{ "up Ready 100% #lb-managed", 0 },
	{ "drain #lb-managed", 0 },
	{ "up MAINT #lb-managed", 0 },
	{ "ready,up,100%,#lb-managed", 0 },
	/* a reason that contains the word */
	{ "up drain #maintenance: lb-managed", 0 },
	{ "up drain #maintenance: lb-managed: cutover", 0 },
	{ "up drain #maintenance: upgrade; lb-managed", 0 },
	{ "down drain #nova-api: HTTP 500; maintenance: lb-managed", 0 },
	{ "up ready 100% #nova-api 2.93 lb-managed", 0 },
	{ "up 100% #nova-api: lb-managed", 0 },
	{ "up 100% # ; lb-managed", 0 },
	/* the word elsewhere than opening the text */
	{ "up 100% lb-managed", 0 },           /* a word HAProxy does not know */
	{ "up 100% lb-managed #lb-managed", 0 },
	{ "up#lb-managed", 0 },                /* '#' inside a word is not the text */
	{ "up 100% #lb-managedX", 0 },
	{ "up 100% #lb-managed-not", 0 },
	{ "up 100% #maintenance\n#lb-managed", 0 }, /* the line ends at the newline */
	{ "\n#lb-managed", 0 },
	/* no text at all */
	{ "up 100%", 0 },
	{ "up 100% #", 0 },
	{ "", 0 },
};

static void test_reply_lines(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ZDU_ARRAY_SIZE(replies); i++)
		if (zdu_reply_is_lb_mode(replies[i].text) != replies[i].lb)
			fail_msg("reply \"%s\": lb mode %d, want %d", replies[i].text, !replies[i].lb,
				 replies[i].lb);
}

/* ---- what a load balancer shows: last_agt ----------------------------- */

static const struct want last_agts[] = {
	{ "via agent : up (lb-managed)", 1 },
	{ "via agent : up (lb-managed: zdu-coordinator: cutover; nova-api 2.93)", 1 },
	{ "via agent : down (lb-managed; nova-api: connection refused)", 1 },
	{ "via agent : UP (lb-managed)", 1 },
	{ "via agent : stopped (lb-managed)", 1 },
	/* cut at HAProxy's 127 bytes: no closing parenthesis */
	{ "via agent : down (lb-managed: zdu-coordinator: cutover; nova-api: TLS: connection closed "
	  "by the server (client certif", 1 },

	/* a reason that contains the word */
	{ "via agent : up (maintenance: lb-managed)", 0 },
	{ "via agent : up (maintenance: lb-managed: cutover)", 0 },
	{ "via agent : up (maintenance: upgrade; lb-managed)", 0 },
	{ "via agent : down (nova-api: HTTP 500; maintenance: lb-managed)", 0 },
	{ "via agent : up (nova-api 2.93 lb-managed)", 0 },
	{ "via agent : up ( lb-managed)", 0 },
	{ "via agent : up (lb-managedX)", 0 },
	/* not HAProxy's form for a reply with a health word */
	{ "agent reports an error : lb-managed", 0 },
	{ "agent warns : lb-managed", 0 },
	{ "via agent : ready (lb-managed)", 0 },
	{ "via agent : up  (lb-managed)", 0 },
	{ "via agent :up (lb-managed)", 0 },
	{ "lb-managed", 0 },
	{ "(lb-managed)", 0 },
	{ "via agent : up", 0 },
	{ "via agent : up ()", 0 },
	{ "", 0 },
};

static void test_last_agt(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ZDU_ARRAY_SIZE(last_agts); i++)
		if (zdu_last_agt_is_lb_mode(last_agts[i].text) != last_agts[i].lb)
			fail_msg("last_agt \"%s\": lb mode %d, want %d", last_agts[i].text, !last_agts[i].lb,
				 last_agts[i].lb);
}

/* ---- every reply the agent sends, read back -------------------------- */

/* What HAProxy 2.6 shows in last_agt once it applied REPLY, after
 * src/tcpcheck.c, tcpcheck_agent_expect_reply(): the line up to CR or LF;
 * words split on space, tab and comma; a word starting with '#' opens the
 * text (blanks after it skipped); the last health word wins; the first
 * unknown word is an "error". With a health word: "via agent : WORD"
 * followed by " (TEXT)", where an "up" reply shows the error instead of
 * the text when there is one; without: "agent reports an error : WORD",
 * or nothing. Kept to 127 bytes (HCHK_DESC_LEN). */
static void haproxy_last_agt(const char *reply, char *out, size_t size)
{
	char line[ZDU_REPLY_MAX * 2], *p, *hs = NULL, *err = NULL, *msg = "";

	snprintf(line, sizeof(line), "%.*s", (int)strcspn(reply, "\r\n"), reply);
	p = line;
	while (*p) {
		char *w;

		if (*p == ' ' || *p == '\t' || *p == ',') {
			p++;
			continue;
		}
		if (*p == '#') {
			for (p++; *p == ' ' || *p == '\t'; p++)
				;
			msg = p;
			break;
		}
		w = p;
		p += strcspn(p, " \t,");
		if (*p)
			*p++ = '\0';
		if (!strcasecmp(w, "up") || !strcasecmp(w, "down") || !strcasecmp(w, "stopped") ||
		    !strcasecmp(w, "fail"))
			hs = w;
		else if (strcasecmp(w, "ready") && strcasecmp(w, "drain") && strcasecmp(w, "maint") &&
			 !(isdigit((unsigned char)*w) && strchr(w, '%')) && strncasecmp(w, "maxconn:", 8) && !err)
			err = w;
	}
	if (size > 128)
		size = 128;
	if (hs) {
		if ((!*msg || !strcasecmp(hs, "up")) && err)
			msg = err;
		snprintf(out, size, "via agent : %s%s%s%s", hs, *msg ? " (" : "", msg, *msg ? ")" : "");
	} else if (err) {
		snprintf(out, size, "agent reports an error : %s", err);
	} else {
		out[0] = '\0';
	}
}

/* The model against HAProxy's own words, as captured from 2.6.12 in
 * tests/data and the integration tests. */
static void test_haproxy_model(void **state)
{
	char out[256];

	(void)state;
	haproxy_last_agt("up drain #maintenance: upgrade\n", out, sizeof(out));
	assert_string_equal(out, "via agent : up (maintenance: upgrade)");
	haproxy_last_agt("up ready 100%\n", out, sizeof(out));
	assert_string_equal(out, "via agent : up");
	haproxy_last_agt("ready 100% #nova-api: not probed yet\n", out, sizeof(out));
	assert_string_equal(out, "");
	haproxy_last_agt("up ready 100% #lb-managed\n", out, sizeof(out));
	assert_string_equal(out, "via agent : up (lb-managed)");
}

enum fmode { FM_OFF, FM_DRAIN, FM_MAINT, FM_LB, FM_ERROR, FM_N };

/* Reasons an operator could set, each trying to pass for mode lb. */
static const char *const hostile[] = {
	"", "lb-managed", "lb-managed: cutover", "x; lb-managed", ") (lb-managed", "#lb-managed",
	"up 100% #lb-managed",
};

static void set_flag(struct zdu_flag *f, enum fmode fm, const char *reason)
{
	static const char bad[] = "reason=lb-managed\nmode=lb-managed\n";

	memset(f, 0, sizeof(*f));
	switch (fm) {
	case FM_OFF:
		return;
	case FM_DRAIN:
		f->mode = ZDU_FLAG_DRAIN;
		break;
	case FM_MAINT:
		f->mode = ZDU_FLAG_MAINT;
		break;
	case FM_LB:
		f->mode = ZDU_FLAG_LB;
		break;
	case FM_ERROR: /* a flag file not understood: drains, fail safe */
		assert_int_not_equal(zdu_flag_parse(bad, sizeof(bad) - 1, f), ZDU_OK);
		return;
	case FM_N:
		return;
	}
	zdu_strlcpy(f->reason, reason, sizeof(f->reason));
}

struct combo {
	int fm, health, on_failure, disabled, version, src, detail;
	const char *reason;
};

static void check_combo(const struct combo *c)
{
	struct zdu_node_state n;
	char reply[ZDU_REPLY_MAX], agt[256], what[160];
	int lb = c->fm == FM_LB, known = c->health != ZDU_HEALTH_UNKNOWN;

	memset(&n, 0, sizeof(n));
	n.weight_pct = 100;
	n.on_failure = (enum zdu_fail_action)c->on_failure;
	n.health.health = (enum zdu_health)c->health;
	n.health.disabled = c->disabled;
	n.detail = (enum zdu_reply_detail)c->detail;
	if (c->health == ZDU_HEALTH_DOWN)
		strcpy(n.health.reason, "nova-api: HTTP 500");
	if (c->disabled)
		strcpy(n.health.disabled_reason, "nova-api: healthcheck disabled by file");
	if (c->version)
		strcpy(n.health.version, "2.93");
	set_flag(&n.flag[c->src], (enum fmode)c->fm, c->reason);
	zdu_reply_format(&n, reply, sizeof(reply));
	haproxy_last_agt(reply, agt, sizeof(agt));
	snprintf(what, sizeof(what), "flag %d (source %d) health %d on_failure %d disabled %d detail %d "
		 "reason \"%s\"", c->fm, c->src, c->health, c->on_failure, c->disabled, c->detail, c->reason);
	if (zdu_reply_is_lb_mode(reply) != lb)
		fail_msg("%s: reply \"%s\" read as lb mode %d", what, reply, !lb);
	/* A reply without a health word leaves no text on the load balancer:
	 * nothing to read there yet. */
	if (zdu_last_agt_is_lb_mode(agt) != (lb && known))
		fail_msg("%s: reply \"%s\", last_agt \"%s\" read as lb mode %d", what, reply, agt,
			 !(lb && known));
}

static void test_agent_replies(void **state)
{
	struct combo c;
	size_t r;
	int count = 0;

	(void)state;
	for (c.fm = 0; c.fm < FM_N; c.fm++)
	for (c.health = ZDU_HEALTH_UNKNOWN; c.health <= ZDU_HEALTH_UNCHECKED; c.health++)
	for (c.on_failure = ZDU_FAIL_DOWN; c.on_failure <= ZDU_FAIL_ZERO; c.on_failure++)
	for (c.disabled = 0; c.disabled <= 1; c.disabled++)
	for (c.version = 0; c.version <= 1; c.version++)
	for (c.src = 0; c.src < ZDU_SRC_MAX; c.src++)
	for (c.detail = ZDU_DETAIL_FULL; c.detail <= ZDU_DETAIL_MINIMAL; c.detail++)
	for (r = 0; r < ZDU_ARRAY_SIZE(hostile); r++) {
		c.reason = hostile[r];
		check_combo(&c);
		count++;
	}
	assert_int_equal(count, FM_N * 4 * 3 * 2 * 2 * ZDU_SRC_MAX * 2 * (int)ZDU_ARRAY_SIZE(hostile));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_lines),
		cmocka_unit_test(test_last_agt),
		cmocka_unit_test(test_haproxy_model),
		cmocka_unit_test(test_agent_replies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
