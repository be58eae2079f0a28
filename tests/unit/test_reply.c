/* zdu_reply_format and zdu_node_flag: the agent-check reply grammar.
 *
 * Exact strings for the cases an operator reads in `show stat`, then every
 * combination of flag mode x health x on_failure x disabled x version checked
 * against the grammar's invariants and its meaning (what HAProxy does with
 * each token, see /work/shared/reference/haproxy-agent.md). */
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
#include "zdu/reply.h"
#include "zdu/state-t.h"
#include "zdu/state.h"

/* Flag "modes" of the combination test: the four real ones plus a flag
 * file that could not be parsed. */
enum fmode { FM_OFF, FM_DRAIN, FM_MAINT, FM_LB, FM_ERROR, FM_N };

static const char *const fmode_names[] = { "off", "drain", "maint", "lb", "parse-error" };
static const char *const health_names[] = { "unknown", "up", "down", "unchecked" };
static const char *const fail_names[] = { "down", "drain", "zero" };

#define WEIGHT 73 /* unlike any other number in a reply */

static void node_init(struct zdu_node_state *n)
{
	memset(n, 0, sizeof(*n));
	n->weight_pct = 100;
	n->on_failure = ZDU_FAIL_DOWN;
	n->health.health = ZDU_HEALTH_UP;
}

static void set_flag(struct zdu_flag *f, enum zdu_flag_mode mode, const char *reason)
{
	memset(f, 0, sizeof(*f));
	f->mode = mode;
	zdu_strlcpy(f->reason, reason, sizeof(f->reason));
}

/* Formats into a heap buffer of exactly ZDU_REPLY_MAX bytes (ASan sees any
 * overrun) and checks the length returned matches the text. */
static const char *fmt(const struct zdu_node_state *n)
{
	static char out[ZDU_REPLY_MAX];
	char *buf = malloc(ZDU_REPLY_MAX);
	size_t len;

	assert_non_null(buf);
	memset(buf, 'X', ZDU_REPLY_MAX);
	len = zdu_reply_format(n, buf, ZDU_REPLY_MAX);
	assert_true(len < ZDU_REPLY_MAX);
	assert_int_equal(buf[len], '\0');
	assert_int_equal(strlen(buf), len);
	memcpy(out, buf, len + 1);
	free(buf);
	return out;
}

/* ---- documented cases, exact strings ---------------------------------- */

static void test_healthy_ready(void **state)
{
	struct zdu_node_state n;

	(void)state;
	node_init(&n);
	assert_string_equal(fmt(&n), "up ready 100%\n");
	n.weight_pct = 37;
	assert_string_equal(fmt(&n), "up ready 37%\n");
	n.health.health = ZDU_HEALTH_UNCHECKED; /* probing disabled: assumed up */
	assert_string_equal(fmt(&n), "up ready 37%\n");
}

static void test_healthy_with_version(void **state)
{
	struct zdu_node_state n;

	(void)state;
	node_init(&n);
	strcpy(n.health.version, "2.93");
	strcpy(n.health.min_version, "2.1");
	assert_string_equal(fmt(&n), "up ready 100% #nova-api 2.93\n");
}

static void test_drain_flag(void **state)
{
	struct zdu_node_state n;

	(void)state;
	node_init(&n);
	set_flag(&n.flag[ZDU_SRC_FILE], ZDU_FLAG_DRAIN, "upgrade");
	assert_string_equal(fmt(&n), "up drain #maintenance: upgrade\n");
	/* no reason: the word alone */
	n.flag[ZDU_SRC_FILE].reason[0] = '\0';
	assert_string_equal(fmt(&n), "up drain #maintenance\n");
}

static void test_maint_flag(void **state)
{
	struct zdu_node_state n;

	(void)state;
	node_init(&n);
	set_flag(&n.flag[ZDU_SRC_FILE], ZDU_FLAG_MAINT, "x");
	assert_string_equal(fmt(&n), "up maint #maintenance: x\n");
	/* before the first verdict: no operational token, say why */
	n.health.health = ZDU_HEALTH_UNKNOWN;
	assert_string_equal(fmt(&n), "maint #maintenance: x; nova-api: not probed yet\n");
}

static void test_down(void **state)
{
	struct zdu_node_state n;

	(void)state;
	node_init(&n);
	n.health.health = ZDU_HEALTH_DOWN;
	strcpy(n.health.reason, "nova-api: connection refused");
	/* NOTE: the brief's example was "down ready #nova-api: connection
	 * refused"; the code keeps the weight token with "ready" (harmless,
	 * HAProxy keeps the weight of a DOWN server). */
	assert_string_equal(fmt(&n), "down ready 100% #nova-api: connection refused\n");
	/* no reason from the probe: a generic one */
	n.health.reason[0] = '\0';
	assert_string_equal(fmt(&n), "down ready 100% #nova-api: unhealthy\n");
	/* a version learned earlier is not advertised while down */
	strcpy(n.health.version, "2.93");
	assert_null(strstr(fmt(&n), "2.93"));
}

static void test_down_in_maintenance(void **state)
{
	struct zdu_node_state n;

	(void)state;
	node_init(&n);
	n.health.health = ZDU_HEALTH_DOWN;
	strcpy(n.health.reason, "nova-api: HTTP 503");
	set_flag(&n.flag[ZDU_SRC_FILE], ZDU_FLAG_DRAIN, "upgrade to 2024.1");
	assert_string_equal(fmt(&n), "down drain #nova-api: HTTP 503; maintenance: upgrade to 2024.1\n");
	n.flag[ZDU_SRC_FILE].mode = ZDU_FLAG_MAINT;
	assert_string_equal(fmt(&n), "down maint #nova-api: HTTP 503; maintenance: upgrade to 2024.1\n");
}

static void test_on_failure_drain_and_zero(void **state)
{
	struct zdu_node_state n;

	(void)state;
	node_init(&n);
	n.health.health = ZDU_HEALTH_DOWN;
	strcpy(n.health.reason, "nova-api: timeout");
	n.on_failure = ZDU_FAIL_DRAIN;
	assert_string_equal(fmt(&n), "up drain #nova-api: timeout\n");
	n.on_failure = ZDU_FAIL_ZERO;
	assert_string_equal(fmt(&n), "up ready 0% #nova-api: timeout\n");
}

static void test_lb_mode(void **state)
{
	struct zdu_node_state n;

	(void)state;
	node_init(&n);
	n.weight_pct = 50;
	set_flag(&n.flag[ZDU_SRC_FILE], ZDU_FLAG_LB, "switching by runtime API");
	/* no ready/drain/maint: the runtime API's state is not undone */
	assert_string_equal(fmt(&n), "up 50% #lb-managed: switching by runtime API\n");
	n.health.health = ZDU_HEALTH_DOWN;
	strcpy(n.health.reason, "nova-api: connection refused");
	/* "lb-managed" opens the text, before any reason of nova-api's: it
	 * is how the coordinator recognises the reply (see test_lb_managed.c) */
	assert_string_equal(fmt(&n), "down 50% #lb-managed: switching by runtime API; nova-api: connection refused\n");
	n.on_failure = ZDU_FAIL_ZERO;
	assert_string_equal(fmt(&n), "up 0% #lb-managed: switching by runtime API; nova-api: connection refused\n");
}

static void test_disabled_by_service(void **state)
{
	struct zdu_node_state n;

	(void)state;
	node_init(&n);
	n.health.disabled = 1;
	strcpy(n.health.disabled_reason, "nova-api: disabled by file");
	assert_string_equal(fmt(&n), "up drain #nova-api: disabled by file\n");
	n.health.disabled_reason[0] = '\0';
	assert_string_equal(fmt(&n), "up drain #nova-api: disabled\n");
}

/* Up but slow (issue 15): the weight is the slow share of the weight, the
 * reason says how slow, the version stays; slowness never makes a 0. */
static void slow_node(struct zdu_node_state *n, unsigned pct, const char *why)
{
	node_init(n);
	strcpy(n->health.version, "2.93");
	n->health.fault = ZDU_FAULT_SOFT;
	n->health.slow.active = 1;
	n->health.slow.weight_pct = pct;
	strcpy(n->health.reason, why);
}

static void test_slow(void **state)
{
	struct zdu_node_state n;

	(void)state;
	slow_node(&n, 50, "nova-api: slow: 1.2 s");
	assert_string_equal(fmt(&n), "up ready 50% #nova-api: slow: 1.2 s; nova-api 2.93\n");
	n.health.slow.weight_pct = 25;
	assert_string_equal(fmt(&n), "up ready 25% #nova-api: slow: 1.2 s; nova-api 2.93\n");
	n.health.slow.weight_pct = 10;
	strcpy(n.health.reason, "nova-api: slow: no answer in 5.0 s");
	assert_string_equal(fmt(&n), "up ready 10% #nova-api: slow: no answer in 5.0 s; nova-api 2.93\n");
	/* of the weight slow start left: 37 % x 50 % rounds down */
	n.health.slow.weight_pct = 50;
	n.weight_pct = 37;
	assert_string_equal(fmt(&n), "up ready 18% #nova-api: slow: no answer in 5.0 s; nova-api 2.93\n");
	/* 1 % x 10 % is still 1 %: slowness alone never takes the node out */
	n.weight_pct = 1;
	n.health.slow.weight_pct = 10;
	assert_string_equal(fmt(&n), "up ready 1% #nova-api: slow: no answer in 5.0 s; nova-api 2.93\n");
	/* weight 0 stays 0 (slow start from 0) */
	n.weight_pct = 0;
	assert_string_equal(fmt(&n), "up ready 0% #nova-api: slow: no answer in 5.0 s; nova-api 2.93\n");
	/* no reason given: a generic one */
	slow_node(&n, 50, "");
	assert_string_equal(fmt(&n), "up ready 50% #nova-api: slow; nova-api 2.93\n");
}

static void test_slow_with_flags(void **state)
{
	struct zdu_node_state n;

	(void)state;
	slow_node(&n, 25, "nova-api: slow: 2.4 s");
	set_flag(&n.flag[ZDU_SRC_FILE], ZDU_FLAG_DRAIN, "upgrade");
	assert_string_equal(fmt(&n), "up drain #nova-api: slow: 2.4 s; maintenance: upgrade; nova-api 2.93\n");
	set_flag(&n.flag[ZDU_SRC_FILE], ZDU_FLAG_LB, "cutover");
	/* mode lb opens the text with its word, slow or not (the cutover reads it) */
	assert_string_equal(fmt(&n), "up 25% #lb-managed: cutover; nova-api: slow: 2.4 s; nova-api 2.93\n");
	/* the service disabled itself and is slow: drained, both said */
	n.flag[ZDU_SRC_FILE].mode = ZDU_FLAG_OFF;
	n.health.disabled = 1;
	strcpy(n.health.disabled_reason, "nova-api: healthcheck disabled by file");
	assert_string_equal(fmt(&n), "up drain #nova-api: slow: 2.4 s; nova-api: healthcheck disabled by file; "
				     "nova-api 2.93\n");
}

/* Slow data left in a node that is not up changes nothing: down and
 * unknown replies are as they always were. */
static void test_slow_only_when_up(void **state)
{
	struct zdu_node_state n;

	(void)state;
	slow_node(&n, 10, "nova-api: slow for 60.2 s");
	n.health.health = ZDU_HEALTH_DOWN;
	assert_string_equal(fmt(&n), "down ready 100% #nova-api: slow for 60.2 s\n");
	n.health.health = ZDU_HEALTH_UNKNOWN;
	n.health.reason[0] = '\0';
	assert_string_equal(fmt(&n), "ready 100% #nova-api: not probed yet\n");
	n.health.health = ZDU_HEALTH_UNCHECKED;
	assert_string_equal(fmt(&n), "up ready 100%\n");
}

static void test_unknown_health(void **state)
{
	struct zdu_node_state n;

	(void)state;
	node_init(&n);
	n.health.health = ZDU_HEALTH_UNKNOWN;
	/* only the administrative state: HAProxy's own check decides up/down */
	assert_string_equal(fmt(&n), "ready 100% #nova-api: not probed yet\n");
}

static void test_bad_flag(void **state)
{
	struct zdu_node_state n;
	static const char bad[] = "mode=bogus\n";

	(void)state;
	node_init(&n);
	assert_int_equal(zdu_flag_parse(bad, sizeof(bad) - 1, &n.flag[ZDU_SRC_FILE]), ZDU_ERR_PARSE);
	/* fail safe: drains, and says why */
	assert_string_equal(fmt(&n), "up drain #maintenance: bad flag: line 1: unknown mode 'bogus'\n");
}

/* The local file wins over etcd whenever it is set, whatever etcd says. */
static void test_local_flag_wins(void **state)
{
	struct zdu_node_state n;
	int fm, em;

	(void)state;
	node_init(&n);
	for (fm = ZDU_FLAG_OFF; fm <= ZDU_FLAG_LB; fm++) {
		for (em = ZDU_FLAG_OFF; em <= ZDU_FLAG_LB; em++) {
			set_flag(&n.flag[ZDU_SRC_FILE], (enum zdu_flag_mode)fm, "local");
			set_flag(&n.flag[ZDU_SRC_ETCD], (enum zdu_flag_mode)em, "etcd");
			if (fm != ZDU_FLAG_OFF)
				assert_ptr_equal(zdu_node_flag(&n), &n.flag[ZDU_SRC_FILE]);
			else
				assert_ptr_equal(zdu_node_flag(&n), &n.flag[ZDU_SRC_ETCD]);
		}
	}
	set_flag(&n.flag[ZDU_SRC_FILE], ZDU_FLAG_DRAIN, "local");
	set_flag(&n.flag[ZDU_SRC_ETCD], ZDU_FLAG_MAINT, "etcd");
	assert_string_equal(fmt(&n), "up drain #maintenance: local\n");
	set_flag(&n.flag[ZDU_SRC_FILE], ZDU_FLAG_LB, "local");
	assert_string_equal(fmt(&n), "up 100% #lb-managed: local\n");
	/* local off: etcd's flag applies */
	set_flag(&n.flag[ZDU_SRC_FILE], ZDU_FLAG_OFF, "");
	assert_string_equal(fmt(&n), "up maint #maintenance: etcd\n");
	set_flag(&n.flag[ZDU_SRC_ETCD], ZDU_FLAG_OFF, "");
	assert_string_equal(fmt(&n), "up ready 100%\n");
}

/* Reasons at their maximum everywhere: the line is cut, never overflows,
 * and still ends in exactly one newline with the tokens intact. */
static void test_long_reasons_cut(void **state)
{
	struct zdu_node_state n;
	const char *r;
	size_t len;

	(void)state;
	node_init(&n);
	n.health.health = ZDU_HEALTH_DOWN;
	memset(n.health.reason, 'h', sizeof(n.health.reason) - 1);
	memset(n.health.disabled_reason, 'd', sizeof(n.health.disabled_reason) - 1);
	n.health.disabled = 1;
	set_flag(&n.flag[ZDU_SRC_FILE], ZDU_FLAG_MAINT, "");
	memset(n.flag[ZDU_SRC_FILE].reason, 'm', sizeof(n.flag[ZDU_SRC_FILE].reason) - 1);
	r = fmt(&n);
	len = strlen(r);
	assert_int_equal(len, ZDU_REPLY_MAX - 1); /* filled up to the last byte */
	assert_int_equal(r[len - 1], '\n');
	assert_int_equal(r[len - 2], 'm');       /* cut inside the flag reason */
	assert_ptr_equal(strchr(r, '\n'), r + len - 1); /* the only newline */
	assert_memory_equal(r, "down maint #hhhh", 16);

	/* a flag error of its maximum length, too */
	memset(n.flag[ZDU_SRC_FILE].error, 'e', sizeof(n.flag[ZDU_SRC_FILE].error) - 1);
	r = fmt(&n);
	assert_int_equal(strlen(r), ZDU_REPLY_MAX - 1);
	assert_int_equal(r[ZDU_REPLY_MAX - 2], '\n');
}

/* Any buffer size from 2 up: never writes past it, always a terminated line. */
static void test_small_buffers(void **state)
{
	struct zdu_node_state n;
	size_t size, len;

	(void)state;
	node_init(&n);
	n.health.health = ZDU_HEALTH_DOWN;
	strcpy(n.health.reason, "nova-api: connection refused");
	set_flag(&n.flag[ZDU_SRC_FILE], ZDU_FLAG_DRAIN, "upgrade");
	for (size = 2; size <= ZDU_REPLY_MAX; size++) {
		char *buf = malloc(size);

		assert_non_null(buf);
		len = zdu_reply_format(&n, buf, size);
		assert_true(len >= 1 && len < size);
		assert_int_equal(buf[len - 1], '\n');
		assert_int_equal(buf[len], '\0');
		assert_int_equal(strlen(buf), len);
		free(buf);
	}
	{
		char one[1] = { 'X' };

		assert_int_equal(zdu_reply_format(&n, one, sizeof(one)), 0);
	}
}

/* ---- every combination ------------------------------------------------ */

struct combo {
	enum fmode fm;
	enum zdu_health health;
	enum zdu_fail_action on_failure;
	int disabled;
	int version;
};

static void combo_node(const struct combo *c, struct zdu_node_state *n)
{
	struct zdu_flag *f = &n->flag[ZDU_SRC_FILE];

	memset(n, 0, sizeof(*n));
	n->weight_pct = WEIGHT;
	n->on_failure = c->on_failure;
	n->health.health = c->health;
	n->health.disabled = c->disabled;
	if (c->health == ZDU_HEALTH_DOWN)
		strcpy(n->health.reason, "nova-api: R-HEALTH");
	if (c->disabled)
		strcpy(n->health.disabled_reason, "nova-api: R-DISABLED");
	if (c->version) {
		strcpy(n->health.version, "2.93");
		strcpy(n->health.min_version, "2.1");
	}
	switch (c->fm) {
	case FM_OFF:
		break;
	case FM_DRAIN:
		set_flag(f, ZDU_FLAG_DRAIN, "R-FLAG");
		break;
	case FM_MAINT:
		set_flag(f, ZDU_FLAG_MAINT, "R-FLAG");
		break;
	case FM_LB:
		set_flag(f, ZDU_FLAG_LB, "R-FLAG");
		break;
	case FM_ERROR: {
		static const char bad[] = "reason=R-FLAG\nmode=sideways\n";

		assert_int_not_equal(zdu_flag_parse(bad, sizeof(bad) - 1, f), ZDU_OK);
		break;
	}
	case FM_N:
		break;
	}
}

/* What the reply says, split into its tokens. */
struct parsed {
	const char *op;    /* "up", "down" or NULL */
	const char *admin; /* "ready", "drain", "maint" or NULL */
	int weight;        /* -1: none */
	const char *text;  /* after '#', or NULL */
};

static void parse_reply(const char *r, const char *what, struct parsed *p)
{
	char head[ZDU_REPLY_MAX];
	const char *hash = strchr(r, '#');
	size_t hlen = hash ? (size_t)(hash - r) : strlen(r) - 1;
	char *tok, *save = NULL;
	int ntok = 0;

	memset(p, 0, sizeof(*p));
	p->weight = -1;
	p->text = hash ? hash + 1 : NULL;
	memcpy(head, r, hlen);
	head[hlen] = '\0';
	/* tokens separated by exactly one space, " #" before the text */
	if (hash && hash != r) {
		if (hash[-1] != ' ')
			fail_msg("%s: no space before '#': \"%s\"", what, r);
		head[--hlen] = '\0';
	}
	if (hlen && (head[0] == ' ' || head[hlen - 1] == ' ' || strstr(head, "  ")))
		fail_msg("%s: stray blanks in \"%s\"", what, r);
	for (tok = strtok_r(head, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		size_t tl = strlen(tok);

		ntok++;
		if (strcmp(tok, "up") == 0 || strcmp(tok, "down") == 0) {
			if (p->op)
				fail_msg("%s: two operational tokens in \"%s\"", what, r);
			p->op = strcmp(tok, "up") == 0 ? "up" : "down";
		} else if (strcmp(tok, "ready") == 0 || strcmp(tok, "drain") == 0 ||
			   strcmp(tok, "maint") == 0) {
			if (p->admin)
				fail_msg("%s: two administrative tokens in \"%s\"", what, r);
			p->admin = tok[0] == 'r' ? "ready" : tok[0] == 'd' ? "drain" : "maint";
		} else if (tl >= 2 && tl <= 4 && tok[tl - 1] == '%' &&
			   strspn(tok, "0123456789") == tl - 1) {
			if (p->weight >= 0)
				fail_msg("%s: two weights in \"%s\"", what, r);
			p->weight = atoi(tok);
		} else {
			fail_msg("%s: unknown token \"%s\" in \"%s\"", what, tok, r);
		}
	}
	(void)ntok;
}

static void check_line_shape(const char *r, const char *what)
{
	size_t len = strlen(r), i;
	const char *hash;

	if (len < 2 || len >= ZDU_REPLY_MAX)
		fail_msg("%s: bad length %zu", what, len);
	if (r[len - 1] != '\n')
		fail_msg("%s: no trailing newline: \"%s\"", what, r);
	for (i = 0; i + 1 < len; i++) {
		unsigned char c = (unsigned char)r[i];

		if (c < 0x20 || c >= 0x7f)
			fail_msg("%s: control byte 0x%02x at %zu in \"%s\"", what, c, i, r);
	}
	if (r[len - 2] == ' ')
		fail_msg("%s: blank before the newline: \"%s\"", what, r);
	hash = strchr(r, '#');
	if (hash && strchr(hash + 1, '#'))
		fail_msg("%s: more than one '#': \"%s\"", what, r);
}

static void check_combo(const struct combo *c)
{
	struct zdu_node_state n;
	struct parsed p;
	char what[128];
	const char *r;
	int down = c->health == ZDU_HEALTH_DOWN;
	int lb = c->fm == FM_LB;
	const char *want_op, *want_admin;

	snprintf(what, sizeof(what), "flag=%s health=%s on_failure=%s disabled=%d version=%d",
		 fmode_names[c->fm], health_names[c->health], fail_names[c->on_failure], c->disabled,
		 c->version);
	combo_node(c, &n);
	r = fmt(&n);
	check_line_shape(r, what);
	parse_reply(r, what, &p);

	/* operational token iff the health is known; down only when asked to */
	if (c->health == ZDU_HEALTH_UNKNOWN)
		want_op = NULL;
	else if (down && c->on_failure == ZDU_FAIL_DOWN)
		want_op = "down";
	else
		want_op = "up";
	if ((want_op == NULL) != (p.op == NULL) || (want_op && strcmp(want_op, p.op) != 0))
		fail_msg("%s: operational token %s, want %s: \"%s\"", what, p.op ? p.op : "(none)",
			 want_op ? want_op : "(none)", r);

	/* administrative token iff the mode is not lb */
	switch (c->fm) {
	case FM_OFF:
		want_admin = (down && c->on_failure == ZDU_FAIL_DRAIN) || c->disabled ? "drain" : "ready";
		break;
	case FM_DRAIN:
	case FM_ERROR: /* fail safe */
		want_admin = "drain";
		break;
	case FM_MAINT:
		want_admin = "maint";
		break;
	default:
		want_admin = NULL;
		break;
	}
	if ((want_admin == NULL) != (p.admin == NULL) ||
	    (want_admin && strcmp(want_admin, p.admin) != 0))
		fail_msg("%s: administrative token %s, want %s: \"%s\"", what,
			 p.admin ? p.admin : "(none)", want_admin ? want_admin : "(none)", r);

	/* weight with ready (or lb) only, and always there */
	if ((p.weight >= 0) != (lb || (p.admin && strcmp(p.admin, "ready") == 0)))
		fail_msg("%s: weight token %d with admin %s: \"%s\"", what, p.weight,
			 p.admin ? p.admin : "(none)", r);
	if (p.weight >= 0) {
		/* lb mode has no administrative token: weight 0 is how it keeps
		 * new sessions off a node that must not take them. */
		int lb_out = lb && ((down && c->on_failure == ZDU_FAIL_DRAIN) || c->disabled);
		int want_w = (down && c->on_failure == ZDU_FAIL_ZERO) || lb_out ? 0 : WEIGHT;

		if (p.weight != want_w)
			fail_msg("%s: weight %d%%, want %d%%: \"%s\"", what, p.weight, want_w, r);
	}

	/* the text after '#' says why, and only what applies */
	if (down) {
		if (!p.text || !strstr(p.text, "nova-api: R-HEALTH"))
			fail_msg("%s: health reason missing: \"%s\"", what, r);
	} else if (p.text && strstr(p.text, "R-HEALTH")) {
		fail_msg("%s: health reason while not down: \"%s\"", what, r);
	}
	if (c->disabled && !down && (!p.text || !strstr(p.text, "nova-api: R-DISABLED")))
		fail_msg("%s: disabled reason missing: \"%s\"", what, r);
	if (c->fm != FM_OFF) {
		const char *want = lb ? "lb-managed: R-FLAG" : c->fm == FM_ERROR
			? "maintenance: bad flag: line 2: unknown mode 'sideways'" : "maintenance: R-FLAG";

		if (!p.text || !strstr(p.text, want))
			fail_msg("%s: flag text \"%s\" missing: \"%s\"", what, want, r);
	} else if (p.text && (strstr(p.text, "maintenance") || strstr(p.text, "lb-managed"))) {
		fail_msg("%s: flag text without a flag: \"%s\"", what, r);
	}
	if ((c->version && c->health == ZDU_HEALTH_UP) != (p.text && strstr(p.text, "nova-api 2.93") != NULL))
		fail_msg("%s: version shown wrongly: \"%s\"", what, r);
	if ((c->health == ZDU_HEALTH_UNKNOWN) != (p.text && strstr(p.text, "not probed yet") != NULL))
		fail_msg("%s: \"not probed yet\" wrongly: \"%s\"", what, r);
	/* nothing to say, no '#' */
	if (c->fm == FM_OFF && !down && !c->disabled && c->health != ZDU_HEALTH_UNKNOWN &&
	    !(c->version && c->health == ZDU_HEALTH_UP) && p.text)
		fail_msg("%s: text without a reason: \"%s\"", what, r);
}

static void for_each_combo(void (*fn)(const struct combo *), int *count)
{
	struct combo c;
	int fm, h, f;

	*count = 0;
	for (fm = 0; fm < FM_N; fm++)
		for (h = ZDU_HEALTH_UNKNOWN; h <= ZDU_HEALTH_UNCHECKED; h++)
			for (f = ZDU_FAIL_DOWN; f <= ZDU_FAIL_ZERO; f++)
				for (c.disabled = 0; c.disabled <= 1; c.disabled++)
					for (c.version = 0; c.version <= 1; c.version++) {
						c.fm = (enum fmode)fm;
						c.health = (enum zdu_health)h;
						c.on_failure = (enum zdu_fail_action)f;
						fn(&c);
						(*count)++;
					}
}

static void test_all_combinations(void **state)
{
	int count;

	(void)state;
	for_each_combo(check_combo, &count);
	assert_int_equal(count, FM_N * 4 * 3 * 2 * 2);
}

/* The same node state through the etcd source gives the same reply. */
static void check_combo_etcd(const struct combo *c)
{
	struct zdu_node_state n;
	char via_file[ZDU_REPLY_MAX];

	combo_node(c, &n);
	strcpy(via_file, fmt(&n));
	n.flag[ZDU_SRC_ETCD] = n.flag[ZDU_SRC_FILE];
	memset(&n.flag[ZDU_SRC_FILE], 0, sizeof(n.flag[ZDU_SRC_FILE]));
	assert_string_equal(fmt(&n), via_file);
}

static void test_all_combinations_etcd(void **state)
{
	int count;

	(void)state;
	for_each_combo(check_combo_etcd, &count);
	assert_true(count > 0);
}

/* ---- agent.reply_detail = "minimal" ------------------------------------
 *
 * For agent ports reachable from other networks than the load balancers':
 * the tokens and the weight only, never a reason, an error or a version;
 * in flag mode lb the word "lb-managed" alone (the coordinator's cutover
 * reads it on the load balancers). */

static void test_minimal_detail(void **state)
{
	struct zdu_node_state n;

	(void)state;
	node_init(&n);
	n.detail = ZDU_DETAIL_MINIMAL;
	strcpy(n.health.version, "2.93");
	assert_string_equal(fmt(&n), "up ready 100%\n");
	set_flag(&n.flag[ZDU_SRC_FILE], ZDU_FLAG_DRAIN, "secret customer migration");
	assert_string_equal(fmt(&n), "up drain\n");
	n.health.health = ZDU_HEALTH_DOWN;
	strcpy(n.health.reason, "nova-api: TLS: certificate verify failed for api1.internal");
	assert_string_equal(fmt(&n), "down drain\n");
	n.flag[ZDU_SRC_FILE].mode = ZDU_FLAG_MAINT;
	assert_string_equal(fmt(&n), "down maint\n");
	n.flag[ZDU_SRC_FILE].mode = ZDU_FLAG_LB;
	assert_string_equal(fmt(&n), "down 100% #lb-managed\n");
	n.health.health = ZDU_HEALTH_UNKNOWN;
	assert_string_equal(fmt(&n), "100% #lb-managed\n");
	set_flag(&n.flag[ZDU_SRC_FILE], ZDU_FLAG_OFF, "");
	assert_string_equal(fmt(&n), "ready 100%\n");
	/* a flag file not understood: drains, and says no more */
	{
		static const char bad[] = "mode=bogus\n";

		assert_int_equal(zdu_flag_parse(bad, sizeof(bad) - 1, &n.flag[ZDU_SRC_FILE]), ZDU_ERR_PARSE);
		assert_string_equal(fmt(&n), "drain\n");
	}
}

/* Every combination: the minimal reply is the full one's tokens, with
 * " #lb-managed" in flag mode lb and nothing else. */
static void check_combo_minimal(const struct combo *c)
{
	struct zdu_node_state n;
	char full[ZDU_REPLY_MAX], want[ZDU_REPLY_MAX];
	const char *hash;

	combo_node(c, &n);
	strcpy(full, fmt(&n));
	hash = strchr(full, '#');
	snprintf(want, sizeof(want), "%.*s%s\n", (int)(hash ? hash - full - 1 : (int)strlen(full) - 1), full,
		 c->fm == FM_LB ? " #lb-managed" : "");
	n.detail = ZDU_DETAIL_MINIMAL;
	if (strcmp(fmt(&n), want) != 0)
		fail_msg("flag=%s health=%s on_failure=%s disabled=%d version=%d: minimal \"%s\", want \"%s\" "
			 "(full \"%s\")", fmode_names[c->fm], health_names[c->health], fail_names[c->on_failure],
			 c->disabled, c->version, fmt(&n), want, full);
}

static void test_all_combinations_minimal(void **state)
{
	int count;

	(void)state;
	for_each_combo(check_combo_minimal, &count);
	assert_int_equal(count, FM_N * 4 * 3 * 2 * 2);
}

/* ---- fixed bugs: regression tests --------------
 *
 * Was a bug (zdu_reply_format, case ZDU_FLAG_LB): in flag mode
 * "lb" an unhealthy node with on_failure=drain, or a node whose nova-api
 * asks to be taken out (health.disabled), still replies "up <weight>%":
 * HAProxy keeps sending it new sessions at full weight. on_failure=drain and
 * "disabled" are silently ignored in lb mode, while on_failure=down and zero
 * still take the node out. Proposed fix: in case ZDU_FLAG_LB, send weight 0%
 * when (down && on_failure == ZDU_FAIL_DRAIN) || h->disabled (a weight never
 * undoes a runtime-API drain/maint, so lb mode's promise still holds). */
static void check_combo_safe(const struct combo *c)
{
	struct zdu_node_state n;
	struct parsed p;
	const char *r;
	char what[128];
	int unhealthy = c->health == ZDU_HEALTH_DOWN ||
			(c->disabled && c->health != ZDU_HEALTH_UNKNOWN);

	if (!unhealthy)
		return;
	snprintf(what, sizeof(what), "flag=%s health=%s on_failure=%s disabled=%d",
		 fmode_names[c->fm], health_names[c->health], fail_names[c->on_failure], c->disabled);
	combo_node(c, &n);
	r = fmt(&n);
	parse_reply(r, what, &p);
	if (!(p.op && strcmp(p.op, "down") == 0) && !(p.admin && strcmp(p.admin, "ready") != 0) &&
	    p.weight != 0)
		fail_msg("BUG: %s: unhealthy node still takes new sessions: \"%s\"", what, r);
}

static void test_fixed_lb_mode_unhealthy_node_keeps_traffic(void **state)
{
	int count;

	(void)state;
	for_each_combo(check_combo_safe, &count);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_healthy_ready),
		cmocka_unit_test(test_healthy_with_version),
		cmocka_unit_test(test_drain_flag),
		cmocka_unit_test(test_maint_flag),
		cmocka_unit_test(test_down),
		cmocka_unit_test(test_down_in_maintenance),
		cmocka_unit_test(test_on_failure_drain_and_zero),
		cmocka_unit_test(test_lb_mode),
		cmocka_unit_test(test_disabled_by_service),
		cmocka_unit_test(test_unknown_health),
		cmocka_unit_test(test_slow),
		cmocka_unit_test(test_slow_with_flags),
		cmocka_unit_test(test_slow_only_when_up),
		cmocka_unit_test(test_bad_flag),
		cmocka_unit_test(test_local_flag_wins),
		cmocka_unit_test(test_long_reasons_cut),
		cmocka_unit_test(test_small_buffers),
		cmocka_unit_test(test_all_combinations),
		cmocka_unit_test(test_all_combinations_etcd),
		cmocka_unit_test(test_minimal_detail),
		cmocka_unit_test(test_all_combinations_minimal),
		cmocka_unit_test(test_fixed_lb_mode_unhealthy_node_keeps_traffic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
