/* zdu_state_apply: every result enters here; only changes travel on to the
 * observers, and the generation counts reply changes, not events. */
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
#include "zdu/flag.h"
#include "zdu/log.h"
#include "zdu/reply.h"
#include "zdu/state.h"

struct counter {
	int calls;
	int reply_changes;
	int last_reply_changed;
	uint64_t gen_seen; /* generation when last called */
	struct zdu_state *st_seen;
};

static void count_cb(struct zdu_state *st, int reply_changed, void *data)
{
	struct counter *c = data;

	c->calls++;
	c->reply_changes += reply_changed != 0;
	c->last_reply_changed = reply_changed;
	c->gen_seen = st->generation;
	c->st_seen = st;
}

static const char *reply(const struct zdu_state *st)
{
	static char buf[ZDU_REPLY_MAX];

	return zdu_state_reply_text(st, buf, sizeof(buf));
}

static int apply_flag(struct zdu_state *st, enum zdu_flag_src src, enum zdu_flag_mode mode,
		      const char *reason)
{
	struct zdu_flag f;
	struct zdu_event ev = { .kind = ZDU_EV_FLAG, .cause = "test flag", .src = src, .flag = &f };

	memset(&f, 0, sizeof(f));
	f.mode = mode;
	zdu_strlcpy(f.reason, reason, sizeof(f.reason));
	return zdu_state_apply(st, &ev);
}

static int apply_health(struct zdu_state *st, const struct zdu_health_state *h)
{
	struct zdu_event ev = { .kind = ZDU_EV_HEALTH, .cause = "probe", .health = h };

	return zdu_state_apply(st, &ev);
}

static int apply_weight(struct zdu_state *st, unsigned w)
{
	struct zdu_event ev = { .kind = ZDU_EV_WEIGHT, .cause = "slow start", .weight_pct = w };

	return zdu_state_apply(st, &ev);
}

static int apply_fail_action(struct zdu_state *st, enum zdu_fail_action a)
{
	struct zdu_event ev = { .kind = ZDU_EV_FAIL_ACTION, .cause = "reload", .on_failure = a };

	return zdu_state_apply(st, &ev);
}

static void healthy(struct zdu_health_state *h)
{
	memset(h, 0, sizeof(*h));
	h->health = ZDU_HEALTH_UP;
}

static void test_init(void **state)
{
	struct zdu_state st;
	char want[ZDU_REPLY_MAX];

	(void)state;
	zdu_state_init(&st, 80, ZDU_FAIL_DOWN, ZDU_HEALTH_UNCHECKED);
	assert_string_equal(st.reply, "up ready 80%\n");
	assert_int_equal(st.reply_len, strlen("up ready 80%\n"));
	assert_string_equal(reply(&st), "up ready 80%");
	assert_int_equal(st.generation, 0);
	assert_string_equal(st.last_cause, "start");
	assert_int_equal(st.node.weight_pct, 80);
	assert_int_equal(st.node.on_failure, ZDU_FAIL_DOWN);

	zdu_state_init(&st, 100, ZDU_FAIL_ZERO, ZDU_HEALTH_UNKNOWN);
	zdu_reply_format(&st.node, want, sizeof(want));
	assert_string_equal(st.reply, want);
	assert_string_equal(st.reply, "ready 100% #nova-api: not probed yet\n");
}

static void test_only_changes_pass(void **state)
{
	struct zdu_state st;
	struct counter c = { 0 };

	(void)state;
	zdu_state_init(&st, 100, ZDU_FAIL_DOWN, ZDU_HEALTH_UP);
	assert_int_equal(zdu_state_observe(&st, count_cb, &c), 0);

	assert_int_equal(apply_flag(&st, ZDU_SRC_FILE, ZDU_FLAG_DRAIN, "upgrade"), 1);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.last_reply_changed, 1);
	assert_ptr_equal(c.st_seen, &st);
	assert_int_equal(st.generation, 1);
	assert_int_equal(c.gen_seen, 1); /* observers see the new state */
	assert_string_equal(reply(&st), "up drain #maintenance: upgrade");
	assert_string_equal(st.last_cause, "test flag");

	/* the same flag again: nothing happens */
	assert_int_equal(apply_flag(&st, ZDU_SRC_FILE, ZDU_FLAG_DRAIN, "upgrade"), 0);
	assert_int_equal(c.calls, 1);
	assert_int_equal(st.generation, 1);

	/* the reason alone changed: a change, and a new reply */
	assert_int_equal(apply_flag(&st, ZDU_SRC_FILE, ZDU_FLAG_DRAIN, "upgrade, step 2"), 1);
	assert_int_equal(c.calls, 2);
	assert_int_equal(st.generation, 2);

	/* a flag equal but for "by": the node changed, the reply did not */
	{
		struct zdu_flag f = st.node.flag[ZDU_SRC_FILE];
		struct zdu_event ev = { .kind = ZDU_EV_FLAG, .cause = "x", .src = ZDU_SRC_FILE, .flag = &f };

		strcpy(f.by, "someone@else");
		assert_int_equal(zdu_state_apply(&st, &ev), 1);
		assert_int_equal(c.calls, 3);
		assert_int_equal(c.last_reply_changed, 0);
		assert_int_equal(st.generation, 2);
		assert_string_equal(st.last_cause, "test flag"); /* cause of the last reply change */
		assert_string_equal(st.node.flag[ZDU_SRC_FILE].by, "someone@else");
		assert_int_equal(zdu_state_apply(&st, &ev), 0);
		assert_int_equal(c.calls, 3);
	}
}

/* The local file wins: an etcd flag under a local one changes the node
 * but not the reply; once the local flag goes, etcd's shows. */
static void test_local_vs_etcd(void **state)
{
	struct zdu_state st;
	struct counter c = { 0 };

	(void)state;
	zdu_state_init(&st, 100, ZDU_FAIL_DOWN, ZDU_HEALTH_UP);
	zdu_state_observe(&st, count_cb, &c);

	assert_int_equal(apply_flag(&st, ZDU_SRC_FILE, ZDU_FLAG_MAINT, "local"), 1);
	assert_int_equal(st.generation, 1);
	assert_int_equal(apply_flag(&st, ZDU_SRC_ETCD, ZDU_FLAG_DRAIN, "etcd"), 1);
	assert_int_equal(c.calls, 2);
	assert_int_equal(c.last_reply_changed, 0);
	assert_int_equal(st.generation, 1);
	assert_string_equal(reply(&st), "up maint #maintenance: local");
	assert_int_equal(st.node.flag[ZDU_SRC_ETCD].mode, ZDU_FLAG_DRAIN);

	assert_int_equal(apply_flag(&st, ZDU_SRC_FILE, ZDU_FLAG_OFF, ""), 1);
	assert_int_equal(c.last_reply_changed, 1);
	assert_int_equal(st.generation, 2);
	assert_string_equal(reply(&st), "up drain #maintenance: etcd");

	assert_int_equal(apply_flag(&st, ZDU_SRC_ETCD, ZDU_FLAG_OFF, ""), 1);
	assert_int_equal(st.generation, 3);
	assert_string_equal(reply(&st), "up ready 100%");

	/* a source that does not exist is ignored */
	assert_int_equal(apply_flag(&st, ZDU_SRC_MAX, ZDU_FLAG_MAINT, "nowhere"), 0);
	assert_int_equal(apply_flag(&st, (enum zdu_flag_src)1000, ZDU_FLAG_MAINT, "nowhere"), 0);
	assert_int_equal(c.calls, 4);
	assert_string_equal(reply(&st), "up ready 100%");
}

static void test_bad_flag_drains(void **state)
{
	struct zdu_state st;
	struct zdu_flag f;
	struct zdu_event ev = { .kind = ZDU_EV_FLAG, .cause = "flag file changed", .src = ZDU_SRC_FILE, .flag = &f };

	(void)state;
	zdu_state_init(&st, 100, ZDU_FAIL_DOWN, ZDU_HEALTH_UP);
	assert_int_not_equal(zdu_flag_parse("mode=lb\nmode=lb\n", 16, &f), ZDU_OK);
	assert_int_equal(zdu_state_apply(&st, &ev), 1);
	assert_string_equal(reply(&st), "up drain #maintenance: bad flag: line 2: 'mode' given twice");
	assert_string_equal(st.last_cause, "flag file changed");
	/* the same error again is no change */
	assert_int_equal(zdu_state_apply(&st, &ev), 0);
}

static void test_health_events(void **state)
{
	struct zdu_state st;
	struct counter c = { 0 };
	struct zdu_health_state h;

	(void)state;
	zdu_state_init(&st, 100, ZDU_FAIL_DOWN, ZDU_HEALTH_UNKNOWN);
	zdu_state_observe(&st, count_cb, &c);

	healthy(&h);
	assert_int_equal(apply_health(&st, &h), 1);
	assert_string_equal(reply(&st), "up ready 100%");
	assert_int_equal(st.generation, 1);
	assert_int_equal(apply_health(&st, &h), 0);
	assert_int_equal(c.calls, 1);

	/* the version shows in the reply */
	strcpy(h.version, "2.93");
	assert_int_equal(apply_health(&st, &h), 1);
	assert_string_equal(reply(&st), "up ready 100% #nova-api 2.93");
	assert_int_equal(st.generation, 2);
	/* the minimum version does not: state change, same reply */
	strcpy(h.min_version, "2.1");
	assert_int_equal(apply_health(&st, &h), 1);
	assert_int_equal(c.calls, 3);
	assert_int_equal(c.last_reply_changed, 0);
	assert_int_equal(st.generation, 2);
	assert_string_equal(st.node.health.min_version, "2.1");

	h.health = ZDU_HEALTH_DOWN;
	strcpy(h.reason, "nova-api: connection refused");
	assert_int_equal(apply_health(&st, &h), 1);
	assert_string_equal(reply(&st), "down ready 100% #nova-api: connection refused");
	assert_int_equal(st.generation, 3);
	assert_string_equal(st.last_cause, "probe");
	/* a new reason while down: a new reply */
	strcpy(h.reason, "nova-api: HTTP 500");
	assert_int_equal(apply_health(&st, &h), 1);
	assert_int_equal(st.generation, 4);

	/* disabled by the service */
	healthy(&h);
	h.disabled = 1;
	assert_int_equal(apply_health(&st, &h), 1);
	assert_string_equal(reply(&st), "up drain #nova-api: disabled");
	strcpy(h.disabled_reason, "nova-api: disabled by file");
	assert_int_equal(apply_health(&st, &h), 1);
	assert_string_equal(reply(&st), "up drain #nova-api: disabled by file");
	assert_int_equal(c.calls, 7);
	assert_int_equal(c.reply_changes, 6);
}

static void test_weight_events(void **state)
{
	struct zdu_state st;
	struct counter c = { 0 };
	uint64_t gen;

	(void)state;
	zdu_state_init(&st, 10, ZDU_FAIL_DOWN, ZDU_HEALTH_UP);
	zdu_state_observe(&st, count_cb, &c);
	st.changed_ms = 12345;

	assert_int_equal(apply_weight(&st, 10), 0);
	assert_int_equal(c.calls, 0);
	assert_int_equal(apply_weight(&st, 55), 1);
	assert_string_equal(reply(&st), "up ready 55%");
	assert_int_equal(st.generation, 1);
	assert_int_equal(st.node.weight_pct, 55);
	assert_string_equal(st.last_cause, "slow start");
	assert_true(st.changed_ms != 12345);

	/* drained: the weight is not in the reply */
	apply_flag(&st, ZDU_SRC_FILE, ZDU_FLAG_DRAIN, "");
	gen = st.generation;
	st.changed_ms = 12345;
	assert_int_equal(apply_weight(&st, 100), 1);
	assert_int_equal(c.last_reply_changed, 0);
	assert_int_equal(st.generation, gen);
	assert_int_equal(st.changed_ms, 12345);
	assert_int_equal(st.node.weight_pct, 100);
	/* but it is there when the drain ends */
	assert_int_equal(apply_flag(&st, ZDU_SRC_FILE, ZDU_FLAG_OFF, ""), 1);
	assert_string_equal(reply(&st), "up ready 100%");

	/* lb mode carries the weight too */
	apply_flag(&st, ZDU_SRC_FILE, ZDU_FLAG_LB, "");
	assert_int_equal(apply_weight(&st, 30), 1);
	assert_int_equal(c.last_reply_changed, 1);
	assert_string_equal(reply(&st), "up 30% #lb-managed");
}

static void test_fail_action_events(void **state)
{
	struct zdu_state st;
	struct counter c = { 0 };
	struct zdu_health_state h;

	(void)state;
	zdu_state_init(&st, 100, ZDU_FAIL_DOWN, ZDU_HEALTH_UP);
	zdu_state_observe(&st, count_cb, &c);

	/* healthy: what a failure would do changes nothing visible */
	assert_int_equal(apply_fail_action(&st, ZDU_FAIL_DOWN), 0);
	assert_int_equal(apply_fail_action(&st, ZDU_FAIL_DRAIN), 1);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.last_reply_changed, 0);
	assert_int_equal(st.generation, 0);
	assert_int_equal(st.node.on_failure, ZDU_FAIL_DRAIN);

	healthy(&h);
	h.health = ZDU_HEALTH_DOWN;
	strcpy(h.reason, "nova-api: timeout");
	assert_int_equal(apply_health(&st, &h), 1);
	assert_string_equal(reply(&st), "up drain #nova-api: timeout");
	assert_int_equal(apply_fail_action(&st, ZDU_FAIL_ZERO), 1);
	assert_string_equal(reply(&st), "up ready 0% #nova-api: timeout");
	assert_string_equal(st.last_cause, "reload");
	assert_int_equal(apply_fail_action(&st, ZDU_FAIL_DOWN), 1);
	assert_string_equal(reply(&st), "down ready 100% #nova-api: timeout");
	assert_int_equal(st.generation, 3);
	assert_int_equal(c.reply_changes, 3);
}

/* Connection counts: only a change travels on; the generation moves only
 * if the reply text moves. */
static void test_drain_events(void **state)
{
	struct zdu_state st;
	struct counter c = { 0 };
	struct zdu_drain_state d;
	struct zdu_event ev = { .kind = ZDU_EV_DRAIN, .cause = "sock_diag", .drain = &d };
	char before[ZDU_REPLY_MAX];
	uint64_t gen;

	(void)state;
	zdu_state_init(&st, 100, ZDU_FAIL_DOWN, ZDU_HEALTH_UP);
	zdu_state_observe(&st, count_cb, &c);
	memset(&d, 0, sizeof(d));
	assert_int_equal(zdu_state_apply(&st, &ev), 0); /* nothing known, as at start */
	assert_int_equal(c.calls, 0);

	d.known = 1;
	d.conns = 3;
	strcpy(before, st.reply);
	gen = st.generation;
	assert_int_equal(zdu_state_apply(&st, &ev), 1);
	assert_int_equal(c.calls, 1);
	assert_int_equal(st.node.drain.conns, 3);
	assert_int_equal(c.last_reply_changed, strcmp(before, st.reply) != 0);
	assert_int_equal(st.generation, gen + (strcmp(before, st.reply) != 0));
	assert_int_equal(zdu_state_apply(&st, &ev), 0);
	assert_int_equal(c.calls, 1);

	/* every field counts as a change */
	d.idle = 1;
	assert_int_equal(zdu_state_apply(&st, &ev), 1);
	d.drained = 1;
	assert_int_equal(zdu_state_apply(&st, &ev), 1);
	strcpy(d.error, "sock_diag: Operation not permitted");
	assert_int_equal(zdu_state_apply(&st, &ev), 1);
	assert_string_equal(st.node.drain.error, "sock_diag: Operation not permitted");
	d.known = 0;
	assert_int_equal(zdu_state_apply(&st, &ev), 1);
	assert_int_equal(c.calls, 5);
}

static void test_unknown_event_kind(void **state)
{
	struct zdu_state st;
	struct counter c = { 0 };
	struct zdu_event ev = { .kind = (enum zdu_event_kind)99, .cause = "?" };

	(void)state;
	zdu_state_init(&st, 100, ZDU_FAIL_DOWN, ZDU_HEALTH_UP);
	zdu_state_observe(&st, count_cb, &c);
	assert_int_equal(zdu_state_apply(&st, &ev), 0);
	assert_int_equal(c.calls, 0);
}

static void test_null_cause(void **state)
{
	struct zdu_state st;
	struct zdu_event ev = { .kind = ZDU_EV_WEIGHT, .cause = NULL, .weight_pct = 5 };

	(void)state;
	zdu_state_init(&st, 100, ZDU_FAIL_DOWN, ZDU_HEALTH_UP);
	assert_int_equal(zdu_state_apply(&st, &ev), 1);
	assert_string_equal(st.last_cause, "?");
}

static void test_observers(void **state)
{
	struct zdu_state st;
	struct counter c[ZDU_STATE_OBSERVERS + 1];
	int i;

	(void)state;
	memset(c, 0, sizeof(c));
	zdu_state_init(&st, 100, ZDU_FAIL_DOWN, ZDU_HEALTH_UP);
	for (i = 0; i < ZDU_STATE_OBSERVERS; i++)
		assert_int_equal(zdu_state_observe(&st, count_cb, &c[i]), 0);
	assert_int_equal(zdu_state_observe(&st, count_cb, &c[ZDU_STATE_OBSERVERS]), -1);

	apply_weight(&st, 50);
	for (i = 0; i < ZDU_STATE_OBSERVERS; i++)
		assert_int_equal(c[i].calls, 1);
	assert_int_equal(c[ZDU_STATE_OBSERVERS].calls, 0);

	/* unobserve removes that one (callback and data must both match) */
	zdu_state_unobserve(&st, count_cb, &c[ZDU_STATE_OBSERVERS]);
	zdu_state_unobserve(&st, count_cb, &c[2]);
	apply_weight(&st, 60);
	assert_int_equal(c[2].calls, 1);
	assert_int_equal(c[3].calls, 2);
	/* its slot is free again */
	assert_int_equal(zdu_state_observe(&st, count_cb, &c[ZDU_STATE_OBSERVERS]), 0);
	apply_weight(&st, 70);
	assert_int_equal(c[ZDU_STATE_OBSERVERS].calls, 1);
	assert_int_equal(c[2].calls, 1);
	assert_int_equal(c[0].calls, 3);
}

/* One change at a time: an observer that reacts with a change of its own
 * (as slow start and drain do) gets it queued, and every observer sees the
 * first change before the second, each logged once, in order. */
struct seen {
	int n;
	enum zdu_flag_mode mode[8];
	unsigned weight[8];
};

static void derive_cb(struct zdu_state *st, int reply_changed, void *data)
{
	(void)reply_changed;
	(void)data;
	if (st->node.weight_pct == 80) {
		struct zdu_event ev = { .kind = ZDU_EV_WEIGHT, .cause = "derived weight", .weight_pct = 60 };
		struct zdu_flag f = { .mode = ZDU_FLAG_DRAIN };
		struct zdu_event ev2 = { .kind = ZDU_EV_FLAG, .cause = "derived flag", .src = ZDU_SRC_ETCD,
					 .flag = &f };

		assert_int_equal(zdu_state_apply(st, &ev), 0); /* queued, not applied yet */
		assert_int_equal(st->node.weight_pct, 80);
		/* the flag is copied: this stack frame is gone when it applies */
		assert_int_equal(zdu_state_apply(st, &ev2), 0);
		memset(&f, 0, sizeof(f));
	}
}

static void record_cb(struct zdu_state *st, int reply_changed, void *data)
{
	struct seen *s = data;

	(void)reply_changed;
	if (s->n < 8) {
		s->mode[s->n] = st->node.flag[ZDU_SRC_ETCD].mode;
		s->weight[s->n] = st->node.weight_pct;
	}
	s->n++;
}

static void test_derived_changes_queued(void **state)
{
	struct zdu_state st;
	struct seen seen = { 0 };
	struct zdu_event ev = { .kind = ZDU_EV_WEIGHT, .cause = "slow start", .weight_pct = 80 };
	char line[512];
	int saved, lines = 0;
	FILE *f = tmpfile();
	const char *order[] = { "slow start", "derived weight", "derived flag" };

	(void)state;
	assert_non_null(f);
	zdu_state_init(&st, 100, ZDU_FAIL_DOWN, ZDU_HEALTH_UP);
	assert_int_equal(zdu_state_observe(&st, derive_cb, NULL), 0);
	assert_int_equal(zdu_state_observe(&st, record_cb, &seen), 0);

	fflush(stderr);
	saved = dup(2);
	dup2(fileno(f), 2);
	zdu_log_set_level(ZDU_LOG_INFO);
	assert_int_equal(zdu_state_apply(&st, &ev), 1);
	zdu_log_set_level(ZDU_LOG_ERROR);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);

	/* the observer after the deriving one saw the first change alone first */
	assert_int_equal(seen.n, 3);
	assert_int_equal(seen.weight[0], 80);
	assert_int_equal(seen.mode[0], ZDU_FLAG_OFF);
	assert_int_equal(seen.weight[1], 60);
	assert_int_equal(seen.mode[1], ZDU_FLAG_OFF);
	assert_int_equal(seen.weight[2], 60);
	assert_int_equal(seen.mode[2], ZDU_FLAG_DRAIN);
	assert_string_equal(reply(&st), "up drain #maintenance");
	assert_int_equal(st.qlen, 0);
	assert_int_equal(st.applying, 0);

	/* each reply change logged once, in the order made */
	rewind(f);
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, "reply now"))
			continue;
		assert_true(lines < 3);
		assert_non_null(strstr(line, order[lines]));
		lines++;
	}
	assert_int_equal(lines, 3);
	fclose(f);
}

/* Observers that answer each other's changes for ever (a bug) are cut
 * after ZDU_STATE_DERIVED_MAX changes, and the loop ends; one that makes
 * more changes at once than the queue holds loses the rest, counted. */
static void flip_cb(struct zdu_state *st, int reply_changed, void *data)
{
	struct zdu_event ev = { .kind = ZDU_EV_WEIGHT, .cause = "flip" };
	int i, *burst = data;

	(void)reply_changed;
	ev.weight_pct = st->node.weight_pct == 10 ? 20 : 10;
	for (i = 0; i < *burst; i++)
		zdu_state_apply(st, &ev);
}

static void test_derived_loop_bounded(void **state)
{
	struct zdu_state st;
	struct zdu_event ev = { .kind = ZDU_EV_WEIGHT, .cause = "start", .weight_pct = 10 };

	int burst = 1;

	(void)state;
	zdu_state_init(&st, 100, ZDU_FAIL_DOWN, ZDU_HEALTH_UP);
	assert_int_equal(zdu_state_observe(&st, flip_cb, &burst), 0);
	assert_int_equal(zdu_state_apply(&st, &ev), 1);
	assert_int_equal(st.dropped, 1);
	assert_int_equal(st.qlen, 0);
	assert_int_equal(st.applying, 0);
	/* the state still works: a next change applies and ends */
	burst = ZDU_STATE_QUEUE + 3;
	ev.weight_pct = 70;
	assert_int_equal(zdu_state_apply(&st, &ev), 1);
	assert_true(st.dropped >= 1 + 3);
	assert_int_equal(st.qlen, 0);
}

static void test_reply_text(void **state)
{
	struct zdu_state st;
	char small[6];

	(void)state;
	zdu_state_init(&st, 100, ZDU_FAIL_DOWN, ZDU_HEALTH_UP);
	assert_string_equal(reply(&st), "up ready 100%");
	assert_ptr_equal(zdu_state_reply_text(&st, small, sizeof(small)), small);
	assert_string_equal(small, "up re");
}

/* A long random walk (fixed seed): after every event the reply is the one
 * the grammar gives for the node, observers hear exactly of the changes,
 * and the generation counts exactly the reply changes. */
static void test_random_walk(void **state)
{
	static const char *const reasons[] = { "", "a", "b" };
	struct zdu_state st;
	struct counter c = { 0 };
	int i, changes = 0, reply_changes = 0;

	(void)state;
	srand(7);
	zdu_state_init(&st, 100, ZDU_FAIL_DOWN, ZDU_HEALTH_UNKNOWN);
	zdu_state_observe(&st, count_cb, &c);
	for (i = 0; i < 20000; i++) {
		struct zdu_node_state before = st.node;
		char before_reply[ZDU_REPLY_MAX], want[ZDU_REPLY_MAX];
		struct zdu_health_state h;
		int rc, calls = c.calls;
		uint64_t gen = st.generation;

		memcpy(before_reply, st.reply, sizeof(before_reply));
		switch (rand() % 5) {
		case 4: {
			struct zdu_drain_state d;
			struct zdu_event ev = { .kind = ZDU_EV_DRAIN, .cause = "count", .drain = &d };

			memset(&d, 0, sizeof(d));
			d.known = rand() % 2;
			d.conns = (unsigned)(rand() % 2);
			d.drained = rand() % 2;
			rc = zdu_state_apply(&st, &ev);
			break;
		}
		case 0:
			rc = apply_flag(&st, (enum zdu_flag_src)(rand() % 2), (enum zdu_flag_mode)(rand() % 4),
					reasons[rand() % 3]);
			break;
		case 1:
			memset(&h, 0, sizeof(h));
			h.health = (enum zdu_health)(rand() % 4);
			h.disabled = rand() % 5 == 0;
			strcpy(h.reason, reasons[rand() % 3]);
			strcpy(h.version, rand() % 2 ? "2.93" : "");
			strcpy(h.min_version, rand() % 2 ? "2.1" : "");
			rc = apply_health(&st, &h);
			break;
		case 2:
			rc = apply_weight(&st, (unsigned)(rand() % 3) * 50);
			break;
		default:
			rc = apply_fail_action(&st, (enum zdu_fail_action)(rand() % 3));
			break;
		}
		assert_int_equal(rc, memcmp(&before, &st.node, sizeof(before)) != 0);
		assert_int_equal(c.calls, calls + rc);
		zdu_reply_format(&st.node, want, sizeof(want));
		assert_string_equal(st.reply, want);
		assert_int_equal(st.reply_len, strlen(want));
		if (rc) {
			int rchg = strcmp(before_reply, st.reply) != 0;

			assert_int_equal(c.last_reply_changed, rchg);
			assert_int_equal(st.generation, gen + (uint64_t)rchg);
			changes++;
			reply_changes += rchg;
		} else {
			assert_string_equal(st.reply, before_reply);
			assert_int_equal(st.generation, gen);
		}
	}
	assert_int_equal(c.calls, changes);
	assert_int_equal(c.reply_changes, reply_changes);
	assert_int_equal(st.generation, (uint64_t)reply_changes);
	assert_true(reply_changes > 100 && changes > reply_changes);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_only_changes_pass),
		cmocka_unit_test(test_local_vs_etcd),
		cmocka_unit_test(test_bad_flag_drains),
		cmocka_unit_test(test_health_events),
		cmocka_unit_test(test_weight_events),
		cmocka_unit_test(test_fail_action_events),
		cmocka_unit_test(test_drain_events),
		cmocka_unit_test(test_unknown_event_kind),
		cmocka_unit_test(test_null_cause),
		cmocka_unit_test(test_observers),
		cmocka_unit_test(test_derived_changes_queued),
		cmocka_unit_test(test_derived_loop_bounded),
		cmocka_unit_test(test_reply_text),
		cmocka_unit_test(test_random_walk),
	};

	/* state changes are logged; the tests check them, not the log */
	zdu_log_set_level(ZDU_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
