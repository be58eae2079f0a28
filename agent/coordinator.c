#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "zdu/capacity.h"
#include "zdu/common.h"
#include "zdu/coord_etcd.h"
#include "zdu/coordinator.h"
#include "zdu/haproxy.h"
#include "zdu/journal.h"
#include "zdu/link.h"
#include "zdu/nova.h"
#include "zdu/plan.h"
#include "zdu/reply.h"
#include "zdu/spawn.h"

enum step {
	S_PREFLIGHT,
	S_CAPACITY, /* before a node leaves: the others short of min_ready, waiting */
	S_SET_FLAG,
	S_WAIT_DRAINED,
	S_UPGRADE,
	S_WAIT_HEALTHY,
	S_CLEAR_FLAG,
	S_WAIT_UP,
	S_SWITCH,
};

/* Sub-steps of S_SWITCH (see "cutover: the switch" below). */
enum { SW_CHECK, SW_LB_FLAGS, SW_WAIT_LB_MANAGED, SW_RUNTIME, SW_CONFIRM, SW_FINAL_FLAGS, SW_SHUTDOWN };

static const char *const step_names[] = {
	[S_PREFLIGHT] = "preflight",  [S_CAPACITY] = "capacity",
	[S_SET_FLAG] = "drain",	      [S_WAIT_DRAINED] = "wait-drained",
	[S_UPGRADE] = "upgrade",      [S_WAIT_HEALTHY] = "wait-healthy", [S_CLEAR_FLAG] = "undrain",
	[S_WAIT_UP] = "wait-up",	      [S_SWITCH] = "switch",
};

struct lb_view {
	int ok;
	char err[256];
	struct zdu_lb_backend be;
};

struct coord {
	uv_loop_t loop;
	const struct zdu_plan *plan;
	const struct zdu_coord_opts *opts;
	struct zdu_link **links;
	struct zdu_journal journal;
	int journal_open;
	struct zdu_coord_etcd *etcd; /* plan with etcd: lock, journal, etcd links */
	int deferred;                /* a step waits for the journal's store */
	enum step deferred_step;
	uv_timer_t timer;

	size_t node;     /* index in plan->nodes of the node in progress */
	size_t *order;   /* nodes in the order they are upgraded */
	size_t pos;      /* in order */
	size_t nfirst;   /* cutover: nodes of the first group (first in order) */
	int switched;    /* cutover: traffic is on the first group */
	int round_agent; /* the poll round asks the node's agent too */
	int sw_step;     /* cutover switch sub-step */
	size_t sw_i;     /* cutover switch: next node to flag */
	uint64_t sw_sent_ms;
	double *sw_rtt_ms;
	int sw_failed_confirm;     /* the runtime switch was sent and not confirmed */
	char sw_fail_msg[1024];
	char sw_restore_err[256];
	enum step step;
	uint64_t deadline;
	uint64_t step_started;
	uint64_t cap_since; /* the capacity wait began (loop time) */
	long *weights; /* the node's weight on each LB, from its preflight */
	long long probes_base; /* agent's probe count first seen after the upgrade; -1: not yet */

	/* the poll round in flight */
	int pending;
	struct lb_view *lbs;
	json_t *agent;
	char agent_err[512];
	char last_progress[1024];

	int exit_code;
	int finished;
};

static const struct zdu_plan_node *cur(struct coord *c)
{
	return &c->plan->nodes[c->node];
}

/* One line per event: for people, or one JSON object with --json, which
 * also gets the fields of extra (when not NULL; its reference is taken). */
static void vsay(struct coord *c, json_t *extra, const char *node, const char *step, const char *event,
		 const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));

/* Room for a whole line of the upgrade command's output as spawn hands it
 * out (at most ZDU_SPAWN_LINE_MAX and a marker), never cut again here. */
#define SAY_MAX (ZDU_SPAWN_LINE_MAX + ZDU_SPAWN_MARK_MAX + 256)

static void vsay(struct coord *c, json_t *extra, const char *node, const char *step, const char *event,
		 const char *fmt, va_list ap)
{
	char when[40], msg[SAY_MAX];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	zdu_utc_now_ms(when, sizeof(when));
	if (c->opts->json) {
		char clean[sizeof(msg)];
		json_t *o;

		/* JSON takes only UTF-8; an upgrade command may print anything. */
		zdu_utf8_sanitize(clean, sizeof(clean), msg);
		o = json_pack("{s:s,s:s?,s:s?,s:s,s:s}", "time", when, "node", node, "step", step, "event",
			      event, "message", clean);
		if (o && extra)
			json_object_update_missing(o, extra);
		if (o) {
			json_dumpf(o, stdout, JSON_COMPACT);
			fputc('\n', stdout);
			json_decref(o);
		}
	} else if (node) {
		printf("%s %-8s %-13s %s\n", when, node, step ? step : "", msg);
	} else {
		printf("%s %s\n", when, msg);
	}
	fflush(stdout);
	json_decref(extra);
}

static void say(struct coord *c, const char *node, const char *step, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void say(struct coord *c, const char *node, const char *step, const char *event, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(c, NULL, node, step, event, fmt, ap);
	va_end(ap);
}

static void say_x(struct coord *c, json_t *extra, const char *node, const char *step, const char *event,
		  const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void say_x(struct coord *c, json_t *extra, const char *node, const char *step, const char *event,
		  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(c, extra, node, step, event, fmt, ap);
	va_end(ap);
}

static void stop_all(struct coord *c, int code)
{
	c->exit_code = code;
	c->finished = 1;
	uv_timer_stop(&c->timer);
}

static void next_step_msg(struct coord *c, const char *what)
{
	say(c, cur(c)->name, step_names[c->step], "next", "%s", what);
}

static void fail(struct coord *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void fail(struct coord *c, int code, const char *fmt, ...)
{
	char msg[2048], next[1024];
	va_list ap;
	int drained = c->step >= S_SET_FLAG && c->step <= S_WAIT_HEALTHY;

	if (c->step == S_SWITCH) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		say(c, NULL, step_names[c->step], "fail", "%s", msg);
		say(c, NULL, step_names[S_SWITCH], "next", "%s",
		    c->switched || c->sw_step >= SW_FINAL_FLAGS
			    ? "the first group serves; continue with --resume"
			    : c->sw_failed_confirm
				      ? "the runtime switch was sent but not confirmed everywhere; the old group was "
					"made ready again where the load balancer answered: check show stat, fix the "
					"cause, then continue with --resume, which redoes the switch"
				      : "the runtime switch was not sent: the old group still serves; agents may be in "
					"flag mode lb (they then leave ready/drain to the load balancers): continue "
					"with --resume, which redoes the switch");
		stop_all(c, code);
		return;
	}

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	say(c, cur(c)->name, step_names[c->step], "fail", "%s", msg);
	if (c->opts->dry_run) {
		snprintf(next, sizeof(next), "dry run: nothing was changed");
	} else if (c->step == S_CAPACITY) {
		snprintf(next, sizeof(next),
			 "%s was not started and every node stays as it is. Once enough servers serve again, "
			 "continue with: zdu-coordinator --plan %s --resume",
			 cur(c)->name, c->opts->plan_path);
	} else if (drained) {
		snprintf(next, sizeof(next),
			 "%s stays in maintenance (drained); the other nodes serve. Fix the cause, then "
			 "continue with: zdu-coordinator --plan %s --resume",
			 cur(c)->name, c->opts->plan_path);
	} else {
		snprintf(next, sizeof(next),
			 "nothing of %s was changed by this step. Fix the cause, then continue with: "
			 "zdu-coordinator --plan %s --resume",
			 cur(c)->name, c->opts->plan_path);
	}
	next_step_msg(c, next);
	stop_all(c, code);
}

static void journal(struct coord *c, const char *node, const char *step)
{
	char err[512];

	if (c->opts->dry_run || !c->journal_open)
		return;
	if (zdu_journal_record(&c->journal, node, step, err, sizeof(err)) != ZDU_OK)
		say(c, node, step, "warn", "%s", err);
	else if (c->etcd && zdu_coord_etcd_journal_store(c->etcd, c->journal.text, c->journal.text_len) < 0)
		say(c, node, step, "warn", "journal not stored in etcd: out of memory");
}

/* In etcd, a journal entry is stored before the next step starts (enter()
 * waits for it), as the file's fsync does. */
static void enter(struct coord *c, enum step s);

static void on_journal_stored(const char *err, void *data)
{
	struct coord *c = data;

	if (c->finished)
		return;
	if (err) {
		fail(c, ZDU_COORD_FAILED, "%s", err);
		return;
	}
	if (c->deferred && !zdu_coord_etcd_busy(c->etcd)) {
		c->deferred = 0;
		enter(c, c->deferred_step);
	}
}

static void on_lock_lost(const char *why, void *data)
{
	struct coord *c = data;

	if (!c->finished)
		fail(c, ZDU_COORD_FAILED, "%s", why);
}

/* ---- poll rounds: every load balancer's show stat and the agent ---- */

static void evaluate(struct coord *c);

static void round_piece_done(struct coord *c)
{
	if (--c->pending == 0 && !c->finished)
		evaluate(c);
}

struct lb_req {
	struct coord *c;
	size_t i;
};

static void on_lb(int ok, const char *answer, size_t len, const char *err, void *data)
{
	struct lb_req *r = data;
	struct coord *c = r->c;
	struct lb_view *v = &c->lbs[r->i];

	zdu_lb_backend_free(&v->be);
	v->ok = 0;
	if (ok < 0) {
		snprintf(v->err, sizeof(v->err), "%s", err);
	} else if (zdu_stat_parse(answer, len, c->plan->backend, &v->be, v->err, sizeof(v->err)) == 0) {
		v->ok = 1;
		v->err[0] = '\0';
	}
	free(r);
	round_piece_done(c);
}

static void on_agent(json_t *status, const char *err, void *data)
{
	struct coord *c = data;

	json_decref(c->agent);
	c->agent = status ? json_incref(status) : NULL;
	snprintf(c->agent_err, sizeof(c->agent_err), "%s", err ? err : "");
	round_piece_done(c);
}

static void round_start(struct coord *c)
{
	size_t i;

	c->pending = (int)c->plan->nlbs + (c->round_agent ? 1 : 0);
	for (i = 0; i < c->plan->nlbs; i++) {
		struct lb_req *r = malloc(sizeof(*r));

		if (!r || zdu_rt_request(&c->loop, c->plan->lbs[i].runtime, "show stat",
					 (unsigned)c->plan->request_timeout_ms, on_lb, r) < 0) {
			free(r);
			c->lbs[i].ok = 0;
			snprintf(c->lbs[i].err, sizeof(c->lbs[i].err), "cannot start a request");
			c->pending--;
			continue;
		}
		r->c = c;
		r->i = i;
	}
	if (c->round_agent &&
	    zdu_link_call(c->links[c->node], ZDU_LINK_STATUS, ZDU_FLAG_OFF, NULL, on_agent, c) < 0) {
		snprintf(c->agent_err, sizeof(c->agent_err), "cannot reach the agent");
		json_decref(c->agent);
		c->agent = NULL;
		c->pending--;
	}
	if (c->pending == 0)
		evaluate(c);
}

static void on_timer(uv_timer_t *t)
{
	round_start(t->data);
}

static void poll_again(struct coord *c)
{
	uv_timer_start(&c->timer, on_timer, (uint64_t)c->plan->poll_ms, 0);
}

/* ---- reading the agent's status ---- */

static const char *agent_str(struct coord *c, const char *obj, const char *key)
{
	json_t *o = obj ? json_object_get(c->agent, obj) : c->agent;
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : "";
}

static int agent_healthy(struct coord *c)
{
	const char *h = agent_str(c, "health", "state");

	return strcmp(h, "up") == 0 || strcmp(h, "unchecked") == 0;
}

/* A verdict from before the upgrade says nothing about the new release:
 * wait for two probes more than the count first seen after it, so at least
 * one probe started after the upgrade ended. Counts, not clocks: the agent's
 * clock may differ from ours. */
static int probe_fresh(struct coord *c)
{
	json_t *p = json_object_get(c->agent, "probe");
	long long n;

	if (!json_is_object(p))
		return 1; /* probing off: nothing fresher to wait for */
	n = (long long)json_integer_value(json_object_get(p, "probes"));
	if (c->probes_base < 0)
		c->probes_base = n;
	return n >= c->probes_base + 2;
}

static int version_ok(struct coord *c, char *why, size_t size)
{
	const char *v = agent_str(c, "health", "version");
	int ok, cmp;

	if (!c->plan->expect_version[0])
		return 1;
	cmp = zdu_microversion_cmp(v, c->plan->expect_version, &ok);
	if (!ok || cmp < 0) {
		snprintf(why, size, "nova-api reports version %s, want at least %s", v[0] ? v : "(none)",
			 c->plan->expect_version);
		return 0;
	}
	return 1;
}

/* ---- the steps ---- */

static void enter(struct coord *c, enum step s);
static void begin_node(struct coord *c);

static void start_switch(struct coord *c);

static int cutover(const struct coord *c)
{
	return c->plan->strategy == ZDU_STRATEGY_CUTOVER;
}

/* Cutover's first group is done for now once upgraded and healthy: it
 * stays out of service until the switch. */
static int node_finished(struct coord *c)
{
	const char *name = cur(c)->name;

	if (zdu_journal_has(&c->journal, name, "done"))
		return 1;
	return cutover(c) && c->pos < c->nfirst && zdu_journal_has(&c->journal, name, "healthy");
}

static void advance(struct coord *c)
{
	c->pos++;
	begin_node(c);
}

static void begin_node(struct coord *c)
{
	if (cutover(c) && c->pos == c->nfirst && !c->switched) {
		if (c->opts->dry_run) {
			say(c, NULL, step_names[S_SWITCH], "info",
			    "would switch every load balancer to the first group in one runtime request, "
			    "then drain the rest");
			c->switched = 1;
		} else {
			start_switch(c);
			return;
		}
	}
	if (c->pos >= c->plan->nnodes) {
		if (c->opts->dry_run) {
			say(c, NULL, NULL, "done", "dry run: every preflight passed; nothing was changed");
		} else {
			journal(c, "", "end");
			say(c, NULL, NULL, "done", "rollout complete: %zu node%s upgraded", c->plan->nnodes,
			    c->plan->nnodes == 1 ? "" : "s");
		}
		stop_all(c, ZDU_COORD_OK);
		return;
	}
	c->node = c->order[c->pos];
	if (!c->opts->dry_run && node_finished(c)) {
		say(c, cur(c)->name, "skip", "info", "already %s (journal)",
		    zdu_journal_has(&c->journal, cur(c)->name, "done") ? "upgraded" : "upgraded, waiting for the switch");
		advance(c);
		return;
	}
	c->round_agent = 1;
	enter(c, S_PREFLIGHT);
}

static char *expand(const char *tmpl, const struct zdu_plan_node *n);

/* ---- capacity: may the node in progress leave? ----
 * Before a node leaves (its preflight), every load balancer must keep
 * min_ready other servers serving (zdu_capacity_may_leave: a node already
 * out, as the old group after a cutover's switch, takes nothing away). At the
 * first node of a rollout a shortfall refuses at once, as any preflight check
 * does: nothing is under way. Once a node has been changed (this run, or one
 * before it that --resume continues), the rollout waits instead, polling
 * every timeouts.poll_ms, until the others serve again (then the node's
 * preflight goes on) or timeouts.capacity_ms ends it: journal
 * "capacity-short", exit 4. The node in progress is never forced back or
 * out; a node already out finishes its steps. */

static int under_way(const struct coord *c)
{
	return !c->opts->dry_run && c->journal_open && c->journal.n > 0;
}

/* The load balancers where the node may not leave: appends a description
 * of each to msg ("; "-separated) and, when list is not NULL, an object
 * {lb, serving, others, not_serving} or {lb, error} to it. A load balancer
 * that does not answer counts (the preflight refuses it before asking).
 * Returns how many. */
static int capacity_short(struct coord *c, char *msg, size_t size, json_t *list)
{
	const struct zdu_plan_node *n = cur(c);
	int nshort = 0;
	size_t i;

	msg[0] = '\0';
	for (i = 0; i < c->plan->nlbs; i++) {
		const struct lb_view *v = &c->lbs[i];
		struct zdu_capacity cap;
		char why[256];
		size_t len = strlen(msg);

		if (!v->ok) {
			char err[sizeof(v->err)];

			snprintf(msg + len, size - len, "%sload balancer %s does not answer: %s", nshort ? "; " : "",
				 c->plan->lbs[i].name, v->err);
			zdu_utf8_sanitize(err, sizeof(err), v->err);
			if (list)
				json_array_append_new(list, json_pack("{s:s,s:s}", "lb", c->plan->lbs[i].name,
								      "error", err));
			nshort++;
			continue;
		}
		if (zdu_capacity_may_leave(&v->be, n->server, c->plan->min_ready, &cap, why, sizeof(why)))
			continue;
		if (!why[0])
			snprintf(why, sizeof(why), "none; the backend has only %d other server%s", cap.others,
				 cap.others == 1 ? "" : "s");
		snprintf(msg + len, size - len,
			 "%sload balancer %s: only %d other server%s UP and not drained, min_ready is %d "
			 "(not serving: %s)",
			 nshort ? "; " : "", c->plan->lbs[i].name, cap.serving, cap.serving == 1 ? "" : "s",
			 c->plan->min_ready, why);
		if (list)
			json_array_append_new(list, json_pack("{s:s,s:i,s:i,s:s}", "lb", c->plan->lbs[i].name,
							      "serving", cap.serving, "others", cap.others,
							      "not_serving", why));
		nshort++;
	}
	return nshort;
}

/* Says how capacity stands while waiting, when that changed: text, and
 * with --json the fields min_ready and short (a list, see capacity_short). */
static void capacity_report(struct coord *c)
{
	const struct zdu_plan_node *n = cur(c);
	json_t *list = json_array();
	char msg[1024];

	capacity_short(c, msg, sizeof(msg), list);
	if (strcmp(msg, c->last_progress) == 0) {
		json_decref(list);
		return;
	}
	snprintf(c->last_progress, sizeof(c->last_progress), "%s", msg);
	say_x(c, json_pack("{s:i,s:o?}", "min_ready", c->plan->min_ready, "short", list), n->name,
	      step_names[S_CAPACITY], "wait",
	      "%s: %s is not started until capacity is back (looking every %.1f s, for up to %.1f s: "
	      "timeouts.capacity_ms)",
	      msg, n->name, c->plan->poll_ms / 1000.0, c->plan->capacity_timeout_ms / 1000.0);
}

static void preflight(struct coord *c);

static void capacity_wait(struct coord *c)
{
	const struct zdu_plan_node *n = cur(c);
	char msg[1024];
	uint64_t waited = uv_now(&c->loop) - c->cap_since;

	if (capacity_short(c, msg, sizeof(msg), NULL) == 0) {
		say_x(c, json_pack("{s:I}", "waited_ms", (json_int_t)waited), n->name, step_names[S_CAPACITY], "ok",
		      "capacity back after %.1f s: at least %d other server%s serve on every load balancer; "
		      "%s goes on",
		      (double)waited / 1000.0, c->plan->min_ready, c->plan->min_ready == 1 ? "" : "s", n->name);
		c->step = S_PREFLIGHT;
		c->last_progress[0] = '\0';
		preflight(c);
		return;
	}
	if (uv_now(&c->loop) >= c->deadline) {
		journal(c, n->name, "capacity-short");
		fail(c, ZDU_COORD_REFUSED, "capacity still short after %.1f s (timeouts.capacity_ms): %s",
		     c->plan->capacity_timeout_ms / 1000.0, msg);
		return;
	}
	capacity_report(c);
	poll_again(c);
}

/* The preflight's capacity check: 1 when the node may leave; else 0 after
 * refusing or starting to wait. */
static int capacity_gate(struct coord *c)
{
	char msg[1024];

	if (capacity_short(c, msg, sizeof(msg), NULL) == 0)
		return 1;
	if (!under_way(c) || c->plan->capacity_timeout_ms == 0) {
		if (under_way(c))
			journal(c, cur(c)->name, "capacity-short");
		fail(c, ZDU_COORD_REFUSED, "%s", msg);
		return 0;
	}
	enter(c, S_CAPACITY);
	return 0;
}

static void preflight(struct coord *c)
{
	const struct zdu_plan_node *n = cur(c);
	int started = !c->opts->dry_run && (zdu_journal_has(&c->journal, n->name, "flagged") ||
					    zdu_journal_has(&c->journal, n->name, "upgraded"));
	size_t i;

	for (i = 0; i < c->plan->nlbs; i++) {
		const struct lb_view *v = &c->lbs[i];
		const struct zdu_lb_server *s;

		if (!v->ok) {
			fail(c, ZDU_COORD_REFUSED, "load balancer %s (%s) does not answer: %s", c->plan->lbs[i].name,
			     c->plan->lbs[i].runtime, v->err);
			return;
		}
		if (!v->be.found) {
			fail(c, ZDU_COORD_REFUSED, "no backend %s on load balancer %s (%s); backends there: %s",
			     c->plan->backend, c->plan->lbs[i].name, c->plan->lbs[i].runtime,
			     v->be.backends[0] ? v->be.backends : "none");
			return;
		}
		s = zdu_lb_find(&v->be, n->server);
		if (!s) {
			fail(c, ZDU_COORD_REFUSED, "load balancer %s has no server %s in backend %s",
			     c->plan->lbs[i].name, n->server, c->plan->backend);
			return;
		}
		/* The weight to come back to: the configured one when HAProxy
		 * says it, else what it shows now. */
		c->weights[i] = s->uweight >= 0 ? s->uweight : s->weight;
	}
	if (!capacity_gate(c))
		return;
	if (!c->agent) {
		fail(c, ZDU_COORD_REFUSED, "agent of %s (%s) does not answer: %s", n->name, n->agent, c->agent_err);
		return;
	}
	if (!started && !agent_healthy(c)) {
		fail(c, ZDU_COORD_REFUSED, "%s is not healthy before its upgrade (agent replies \"%s\")", n->name,
		     agent_str(c, NULL, "reply"));
		return;
	}
	{
		char w[256] = "";

		for (i = 0; i < c->plan->nlbs; i++) {
			size_t l = strlen(w);

			snprintf(w + l, sizeof(w) - l, "%s%s %ld", i ? ", " : "", c->plan->lbs[i].name, c->weights[i]);
		}
		say(c, n->name, step_names[S_PREFLIGHT], "ok",
		    "%zu load balancer%s answer, server %s present (weight %s), at least %d other%s ready; "
		    "agent replies \"%s\"",
		    c->plan->nlbs, c->plan->nlbs == 1 ? "" : "s", n->server, w, c->plan->min_ready,
		    c->plan->min_ready == 1 ? "" : "s", agent_str(c, NULL, "reply"));
	}
	if (c->opts->dry_run) {
		char *cmd = expand(c->plan->upgrade_command, n);

		say(c, n->name, "plan", "info", "would: drain, wait until drained (%d s), run: %s, wait until healthy%s%s "
		    "(%d s), undrain, wait until UP (%d s)", c->plan->drain_timeout_ms / 1000,
		    cmd ? cmd : c->plan->upgrade_command, c->plan->expect_version[0] ? " at " : "",
		    c->plan->expect_version, c->plan->health_timeout_ms / 1000, c->plan->up_timeout_ms / 1000);
		free(cmd);
		advance(c);
		return;
	}
	if (zdu_journal_has(&c->journal, n->name, "upgraded")) {
		say(c, n->name, step_names[S_UPGRADE], "info", "already ran (journal): not repeated");
		enter(c, S_WAIT_HEALTHY);
		return;
	}
	enter(c, S_SET_FLAG);
}

static void progress(struct coord *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Waiting: say how things stand, but only when that changes. */
static void progress(struct coord *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (strcmp(msg, c->last_progress) == 0)
		return;
	snprintf(c->last_progress, sizeof(c->last_progress), "%s", msg);
	say(c, c->step == S_SWITCH ? NULL : cur(c)->name, step_names[c->step], "wait", "%s", msg);
}

static int timed_out(struct coord *c)
{
	return uv_now(&c->loop) >= c->deadline;
}

/* The node's server on load balancer i, or NULL after noting in state
 * why it cannot be seen (no answer, or no such server). */
static const struct zdu_lb_server *lb_server(struct coord *c, size_t i, const char *server, char *state,
					     size_t size)
{
	const struct lb_view *v = &c->lbs[i];
	const struct zdu_lb_server *s = v->ok ? zdu_lb_find(&v->be, server) : NULL;
	size_t len = strlen(state);

	if (!s)
		snprintf(state + len, size - len, "%s/%s: %s%s; ", c->plan->lbs[i].name, server,
			 !v->ok ? v->err : v->be.found ? "missing" : "no backend ",
			 v->ok && !v->be.found ? c->plan->backend : "");
	return s;
}

static void wait_drained(struct coord *c)
{
	const struct zdu_plan_node *n = cur(c);
	char state[512] = "";
	int all = 1;
	size_t i;

	for (i = 0; i < c->plan->nlbs; i++) {
		const struct zdu_lb_server *s = lb_server(c, i, n->server, state, sizeof(state));
		size_t len = strlen(state);

		if (!s) {
			all = 0;
			continue;
		}
		if (!zdu_lb_server_drained(s) || s->scur != 0)
			all = 0;
		snprintf(state + len, sizeof(state) - len, "%s: %s scur=%ld; ", c->plan->lbs[i].name, s->status,
			 s->scur);
	}
	{
		size_t len = strlen(state);
		json_t *dr = json_object_get(c->agent, "drain");

		if (!c->agent) {
			all = 0;
			snprintf(state + len, sizeof(state) - len, "agent: %s", c->agent_err);
		} else if (json_is_object(dr)) {
			/* The node's own count: what HAProxy cannot see (another
			 * load balancer not in the plan, a client going direct). */
			if (!json_is_true(json_object_get(dr, "drained")))
				all = 0;
			snprintf(state + len, sizeof(state) - len, "agent: %lld connection(s), %s",
				 (long long)json_integer_value(json_object_get(dr, "connections")),
				 json_is_true(json_object_get(dr, "drained")) ? "drained" : "settling");
		} else {
			snprintf(state + len, sizeof(state) - len, "agent: no drain detection");
		}
	}
	if (all) {
		say(c, n->name, step_names[c->step], "ok", "drained: %s", state);
		journal(c, n->name, "drained");
		enter(c, S_UPGRADE);
		return;
	}
	if (timed_out(c)) {
		fail(c, ZDU_COORD_TIMEOUT, "not drained after %.1f s: %s", c->plan->drain_timeout_ms / 1000.0, state);
		return;
	}
	progress(c, "%s", state);
	poll_again(c);
}

static void wait_healthy(struct coord *c)
{
	const struct zdu_plan_node *n = cur(c);
	char why[256] = "";

	if (c->agent && !probe_fresh(c))
		snprintf(why, sizeof(why), "waiting for a probe of nova-api newer than the upgrade");
	else if (c->agent && agent_healthy(c) && version_ok(c, why, sizeof(why))) {
		say(c, n->name, step_names[c->step], "ok", "healthy: agent replies \"%s\"",
		    agent_str(c, NULL, "reply"));
		journal(c, n->name, "healthy");
		if (cutover(c) && !c->switched) {
			say(c, n->name, step_names[c->step], "info",
			    "stays out of service until the switch (first group)");
			advance(c);
			return;
		}
		enter(c, S_CLEAR_FLAG);
		return;
	}
	if (!why[0])
		snprintf(why, sizeof(why), "%s", c->agent ? agent_str(c, NULL, "reply") : c->agent_err);
	if (timed_out(c)) {
		fail(c, ZDU_COORD_TIMEOUT, "not healthy after %.1f s: %s", c->plan->health_timeout_ms / 1000.0, why);
		return;
	}
	progress(c, "%s", why);
	poll_again(c);
}

static void wait_up(struct coord *c)
{
	const struct zdu_plan_node *n = cur(c);
	char state[512] = "";
	int all = 1;
	size_t i;

	for (i = 0; i < c->plan->nlbs; i++) {
		const struct zdu_lb_server *s = lb_server(c, i, n->server, state, sizeof(state));
		size_t len = strlen(state);

		if (!s) {
			all = 0;
			continue;
		}
		if (!zdu_lb_server_up(s) || s->weight != c->weights[i])
			all = 0;
		snprintf(state + len, sizeof(state) - len, "%s: %s weight %ld/%ld; ", c->plan->lbs[i].name,
			 s->status, s->weight, c->weights[i]);
	}
	if (all) {
		say(c, n->name, step_names[c->step], "ok", "back in service: %s", state);
		journal(c, n->name, "done");
		advance(c);
		return;
	}
	if (timed_out(c)) {
		fail(c, ZDU_COORD_TIMEOUT, "not UP with its weight after %.1f s: %s",
		     c->plan->up_timeout_ms / 1000.0, state);
		return;
	}
	progress(c, "%s", state);
	poll_again(c);
}


/* ---- cutover: the switch ----
 * 0  every first-group agent healthy at the expected version
 * 1  every agent in flag mode lb: replies keep only up/down and weight, so
 *    no agent undoes what the runtime API sets next
 * 2  every load balancer has applied an lb-mode reply from every agent
 *    (last_agt's text opens with lb-managed, zdu_last_agt_is_lb_mode; a
 *    reason that only contains the word does not count): no reply read
 *    before the change is left
 * 3  one runtime request per load balancer: first group ready, then the
 *    old group drain, applied in order
 * 4  confirm on every load balancer
 * 5  final flags agreeing with the load balancers: first group off, the
 *    old group drain
 * 6  (mode tcp) after the grace period, end the old group's sessions */


static void switch_step(struct coord *c);

static int in_first(const struct coord *c, size_t node)
{
	return c->plan->nodes[node].first_group;
}

/* One runtime request for a group of servers: "PREFIX backend/server
 * SUFFIX" per server of the group, joined with "; " (HAProxy applies them
 * in order). Appends to *cmd (malloc'd, grown as needed); -1 when out of
 * memory. */
static int group_cmd(struct coord *c, char **cmd, int first_group, const char *prefix, const char *suffix)
{
	size_t len = *cmd ? strlen(*cmd) : 0, i;

	for (i = 0; i < c->plan->nnodes; i++) {
		const char *server = c->plan->nodes[i].server;
		size_t need = len + strlen(prefix) + strlen(c->plan->backend) + strlen(server) + strlen(suffix) + 4;
		char *b;

		if (in_first(c, i) != first_group)
			continue;
		b = realloc(*cmd, need);
		if (!b)
			return -1;
		*cmd = b;
		len += (size_t)snprintf(b + len, need - len, "%s%s%s/%s%s", len ? "; " : "", prefix,
					c->plan->backend, server, suffix);
	}
	if (!*cmd && !(*cmd = calloc(1, 1)))
		return -1;
	return 0;
}

static void sw_status_done(json_t *status, const char *err, void *data)
{
	struct coord *c = data;
	const struct zdu_plan_node *n = &c->plan->nodes[c->order[c->sw_i]];
	char why[256] = "";

	if (c->finished)
		return;
	json_decref(c->agent);
	c->agent = status ? json_incref(status) : NULL;
	if (!status) {
		fail(c, ZDU_COORD_REFUSED, "switch: agent of %s does not answer: %s", n->name, err);
		return;
	}
	if (!agent_healthy(c) || !version_ok(c, why, sizeof(why))) {
		fail(c, ZDU_COORD_REFUSED, "switch: %s is not ready to serve: %s", n->name,
		     why[0] ? why : agent_str(c, NULL, "reply"));
		return;
	}
	c->sw_i++;
	switch_step(c);
}

static void sw_flag_done(json_t *status, const char *err, void *data)
{
	struct coord *c = data;
	const struct zdu_plan_node *n = &c->plan->nodes[c->order[c->sw_i]];
	const char *reply;

	if (c->finished)
		return;
	if (!status) {
		fail(c, ZDU_COORD_FAILED, "switch: cannot set the flag of %s: %s", n->name, err);
		return;
	}
	reply = json_string_value(json_object_get(status, "reply"));
	/* Mode lb asked for, but the agent still asserts ready/drain/maint
	 * (a local flag file wins over etcd): it would undo the switch. */
	if (c->sw_step == SW_LB_FLAGS && reply && !zdu_reply_is_lb_mode(reply)) {
		fail(c, ZDU_COORD_FAILED,
		     "switch: the flag of %s is set to mode lb, but its agent replies \"%s\", not a reply of "
		     "mode lb (no ready/drain/maint, text opening with \"" ZDU_REPLY_LB_WORD "\"): is a "
		     "local flag file set on the node (it wins over etcd), or is the agent older than the "
		     "coordinator?", n->name, reply);
		return;
	}
	say(c, n->name, step_names[S_SWITCH], "ok", "agent replies \"%s\"", reply ? reply : "");
	c->sw_i++;
	switch_step(c);
}

struct sw_rt {
	struct coord *c;
	size_t i;
};

static void sw_runtime_done(int ok, const char *answer, size_t len, const char *err, void *data)
{
	struct sw_rt *r = data;
	struct coord *c = r->c;
	size_t i = r->i, k;

	free(r);
	c->sw_rtt_ms[i] = (double)(uv_hrtime() - c->sw_sent_ms) / 1e6;
	if (ok < 0) {
		snprintf(c->lbs[i].err, sizeof(c->lbs[i].err), "%s", err);
		c->lbs[i].ok = 0;
	} else {
		/* Every command that worked answers nothing. */
		for (k = 0; k < len && (answer[k] == '\n' || answer[k] == ' '); k++)
			;
		c->lbs[i].ok = k == len;
		if (!c->lbs[i].ok)
			snprintf(c->lbs[i].err, sizeof(c->lbs[i].err), "%.*s", (int)(len > 200 ? 200 : len), answer);
	}
	if (--c->pending > 0 || c->finished)
		return;
	for (i = 0; i < c->plan->nlbs; i++) {
		if (!c->lbs[i].ok) {
			fail(c, ZDU_COORD_FAILED, "switch: load balancer %s refused: %s", c->plan->lbs[i].name,
			     c->lbs[i].err);
			return;
		}
	}
	{
		char times[256] = "";

		for (i = 0; i < c->plan->nlbs; i++) {
			size_t l = strlen(times);

			snprintf(times + l, sizeof(times) - l, "%s%s %.2f ms", i ? ", " : "", c->plan->lbs[i].name,
				 c->sw_rtt_ms[i]);
		}
		say(c, NULL, step_names[S_SWITCH], "ok",
		    "runtime switch applied (request round trip: %s); on each load balancer both groups "
		    "were ready at most that long",
		    times);
	}
	c->sw_step = SW_CONFIRM;
	c->deadline = uv_now(&c->loop) + (uint64_t)c->plan->switch_timeout_ms;
	c->round_agent = 0;
	round_start(c);
}

static void sw_send_runtime(struct coord *c)
{
	char *cmd = NULL;
	size_t i;

	/* Ready before drain: never a moment with nobody serving. */
	if (group_cmd(c, &cmd, 1, "set server ", " state ready") < 0 ||
	    group_cmd(c, &cmd, 0, "set server ", " state drain") < 0) {
		free(cmd);
		fail(c, ZDU_COORD_FAILED, "out of memory");
		return;
	}
	say(c, NULL, step_names[S_SWITCH], "start", "on every load balancer: %s", cmd);
	c->pending = (int)c->plan->nlbs;
	c->sw_sent_ms = uv_hrtime();
	for (i = 0; i < c->plan->nlbs; i++) {
		struct sw_rt *r = malloc(sizeof(*r));

		if (!r || zdu_rt_request(&c->loop, c->plan->lbs[i].runtime, cmd, (unsigned)c->plan->request_timeout_ms,
					 sw_runtime_done, r) < 0) {
			free(r);
			free(cmd);
			fail(c, ZDU_COORD_FAILED, "switch: cannot send to %s", c->plan->lbs[i].name);
			return;
		}
		r->c = c;
		r->i = i;
	}
	free(cmd);
}

struct sw_sd {
	struct coord *c;
};

static void sw_shutdown_done(int ok, const char *answer, size_t len, const char *err, void *data)
{
	struct coord *c = data;

	(void)answer;
	(void)len;
	if (ok < 0)
		say(c, NULL, step_names[S_SWITCH], "warn", "shutdown sessions: %s", err);
	if (--c->pending > 0 || c->finished)
		return;
	c->switched = 1;
	begin_node(c);
}

static void sw_shutdown(uv_timer_t *t)
{
	struct coord *c = t->data;
	char *cmd = NULL;
	size_t i;

	if (group_cmd(c, &cmd, 0, "shutdown sessions server ", "") < 0) {
		free(cmd);
		fail(c, ZDU_COORD_FAILED, "out of memory");
		return;
	}
	say(c, NULL, step_names[S_SWITCH], "start", "grace period over: %s", cmd);
	c->pending = (int)c->plan->nlbs;
	for (i = 0; i < c->plan->nlbs; i++)
		if (zdu_rt_request(&c->loop, c->plan->lbs[i].runtime, cmd, (unsigned)c->plan->request_timeout_ms,
				   sw_shutdown_done, c) < 0)
			c->pending--;
	free(cmd);
	if (c->pending == 0) {
		c->switched = 1;
		begin_node(c);
	}
}

static void switch_step(struct coord *c)
{
	size_t i;

	switch (c->sw_step) {
	case SW_CHECK:
		if (c->sw_i < c->nfirst) {
			c->node = c->order[c->sw_i];
			if (zdu_link_call(c->links[c->node], ZDU_LINK_STATUS, ZDU_FLAG_OFF, NULL, sw_status_done, c) < 0)
				fail(c, ZDU_COORD_FAILED, "switch: cannot reach an agent");
			return;
		}
		c->sw_step = SW_LB_FLAGS;
		c->sw_i = 0;
		/* fall through */
	case SW_LB_FLAGS:
		if (c->sw_i < c->plan->nnodes) {
			c->node = c->order[c->sw_i];
			if (zdu_link_call(c->links[c->node], ZDU_LINK_SET_FLAG, ZDU_FLAG_LB,
					  "zdu-coordinator: cutover", sw_flag_done, c) < 0)
				fail(c, ZDU_COORD_FAILED, "switch: cannot reach an agent");
			return;
		}
		c->sw_step = SW_WAIT_LB_MANAGED;
		c->deadline = uv_now(&c->loop) + (uint64_t)c->plan->switch_timeout_ms;
		c->round_agent = 0;
		round_start(c);
		return;
	case SW_RUNTIME:
		sw_send_runtime(c);
		return;
	case SW_FINAL_FLAGS:
		if (c->sw_i < c->plan->nnodes) {
			size_t n = c->order[c->sw_i];

			c->node = n;
			if (zdu_link_call(c->links[n], in_first(c, n) ? ZDU_LINK_CLEAR_FLAG : ZDU_LINK_SET_FLAG,
					  ZDU_FLAG_DRAIN, "zdu-coordinator: old release, after cutover", sw_flag_done,
					  c) < 0)
				fail(c, ZDU_COORD_FAILED, "switch: cannot reach an agent");
			return;
		}
		journal(c, "", "switched");
		say(c, NULL, step_names[S_SWITCH], "ok", "switch done: the first group serves, the rest drains");
		if (c->plan->tcp_grace_ms >= 0) {
			c->sw_step = SW_SHUTDOWN;
			say(c, NULL, step_names[S_SWITCH], "wait",
			    "ending the old group's sessions in %d ms (cutover.tcp_grace_ms)", c->plan->tcp_grace_ms);
			uv_timer_start(&c->timer, sw_shutdown, (uint64_t)c->plan->tcp_grace_ms, 0);
			return;
		}
		c->switched = 1;
		begin_node(c);
		return;
	default:
		(void)i;
		return;
	}
}

/* The switch was sent but not confirmed: put the old group back in
 * service on every load balancer (ready), so that whatever the first group
 * does, somebody serves. Best effort; the failure says what happened. */
static void sw_restore_done(int ok, const char *answer, size_t len, const char *err, void *data)
{
	struct coord *c = data;

	(void)answer;
	(void)len;
	if (ok < 0)
		snprintf(c->sw_restore_err, sizeof(c->sw_restore_err), "%s", err);
	if (--c->pending > 0)
		return;
	if (c->sw_restore_err[0])
		fail(c, ZDU_COORD_TIMEOUT, "%s; putting the old group back failed too: %s", c->sw_fail_msg,
		     c->sw_restore_err);
	else
		fail(c, ZDU_COORD_TIMEOUT, "%s; the old group was put back in service (ready)", c->sw_fail_msg);
}

static void sw_restore_old(struct coord *c)
{
	char *cmd = NULL;
	size_t i;

	if (group_cmd(c, &cmd, 0, "set server ", " state ready") < 0) {
		free(cmd);
		fail(c, ZDU_COORD_TIMEOUT, "%s", c->sw_fail_msg);
		return;
	}
	say(c, NULL, step_names[S_SWITCH], "start", "switch not confirmed: on every load balancer: %s", cmd);
	c->sw_restore_err[0] = '\0';
	c->pending = (int)c->plan->nlbs;
	for (i = 0; i < c->plan->nlbs; i++)
		if (zdu_rt_request(&c->loop, c->plan->lbs[i].runtime, cmd, (unsigned)c->plan->request_timeout_ms,
				   sw_restore_done, c) < 0)
			c->pending--;
	free(cmd);
	if (c->pending == 0)
		fail(c, ZDU_COORD_TIMEOUT, "%s; putting the old group back could not be sent", c->sw_fail_msg);
}

/* Poll rounds of the switch: load balancers only. */
static void switch_evaluate(struct coord *c)
{
	char state[512] = "";
	int all = 1;
	size_t i, k;

	for (i = 0; i < c->plan->nlbs; i++) {
		for (k = 0; k < c->plan->nnodes; k++) {
			const struct zdu_lb_server *s = lb_server(c, i, c->plan->nodes[k].server, state,
								  sizeof(state));
			size_t len = strlen(state);
			int good;

			if (!s) {
				all = 0;
				continue;
			}
			if (c->sw_step == SW_WAIT_LB_MANAGED)
				/* Before the switch the first group must pass HAProxy's
				 * own check (DRAIN before a switch, UP when a resumed
				 * switch was applied already; not DOWN or MAINT): made
				 * ready while DOWN, it would leave nobody serving. */
				good = zdu_last_agt_is_lb_mode(s->last_agt) &&
				       (!in_first(c, k) || strstr(s->status, "DRAIN") != NULL ||
					zdu_lb_server_up(s));
			else
				good = in_first(c, k) ? zdu_lb_server_up(s) : zdu_lb_server_drained(s);
			if (!good) {
				all = 0;
				snprintf(state + len, sizeof(state) - len, "%s/%s: %s (%s); ", c->plan->lbs[i].name,
					 c->plan->nodes[k].server, s->status, s->last_agt);
			}
		}
	}
	if (all) {
		if (c->sw_step == SW_WAIT_LB_MANAGED) {
			say(c, NULL, step_names[S_SWITCH], "ok",
			    "every load balancer has an lb-mode reply from every agent, and the first "
			    "group passes its checks");
			c->sw_step = SW_RUNTIME;
		} else {
			say(c, NULL, step_names[S_SWITCH], "ok",
			    "confirmed on every load balancer: first group UP, the rest DRAIN");
			c->sw_step = SW_FINAL_FLAGS;
			c->sw_i = 0;
		}
		switch_step(c);
		return;
	}
	if (timed_out(c)) {
		if (c->sw_step == SW_CONFIRM) {
			c->sw_failed_confirm = 1;
			snprintf(c->sw_fail_msg, sizeof(c->sw_fail_msg),
				 "switch: not confirmed after %.1f s: %s", c->plan->switch_timeout_ms / 1000.0,
				 state);
			sw_restore_old(c);
			return;
		}
		fail(c, ZDU_COORD_TIMEOUT, "switch: not every agent in lb mode with the first group passing "
		     "its checks after %.1f s: %s", c->plan->switch_timeout_ms / 1000.0, state);
		return;
	}
	progress(c, "%s", state);
	poll_again(c);
}

static void start_switch(struct coord *c)
{
	c->step = S_SWITCH;
	c->sw_step = SW_CHECK;
	c->sw_i = 0;
	c->last_progress[0] = '\0';
	say(c, NULL, step_names[S_SWITCH], "start",
	    "first group upgraded and healthy; switching traffic to it on every load balancer");
	switch_step(c);
}

static void evaluate(struct coord *c)
{
	switch (c->step) {
	case S_SWITCH:
		switch_evaluate(c);
		break;
	case S_PREFLIGHT:
		preflight(c);
		break;
	case S_CAPACITY:
		capacity_wait(c);
		break;
	case S_WAIT_DRAINED:
		wait_drained(c);
		break;
	case S_WAIT_HEALTHY:
		wait_healthy(c);
		break;
	case S_WAIT_UP:
		wait_up(c);
		break;
	default:
		break;
	}
}

static void on_flag_set(json_t *status, const char *err, void *data)
{
	struct coord *c = data;
	const struct zdu_plan_node *n = cur(c);
	int setting = c->step == S_SET_FLAG;

	if (!status) {
		fail(c, ZDU_COORD_FAILED, "cannot %s the maintenance flag: %s", setting ? "set" : "clear", err);
		return;
	}
	json_decref(c->agent);
	c->agent = json_incref(status);
	say(c, n->name, step_names[c->step], "ok", "flag %s; agent replies \"%s\"", setting ? "set" : "cleared",
	    agent_str(c, NULL, "reply"));
	journal(c, n->name, setting ? "flagged" : "cleared");
	enter(c, setting ? S_WAIT_DRAINED : S_WAIT_UP);
}

static void on_upgrade_line(int stream, const char *line, void *data)
{
	struct coord *c = data;

	if (stream == ZDU_SPAWN_NOTE)
		say(c, cur(c)->name, step_names[S_UPGRADE], "warn", "upgrade command: %s", line);
	else
		say(c, cur(c)->name, step_names[S_UPGRADE], stream == 1 ? "stdout" : "stderr", "| %s", line);
}

static void on_upgrade_done(const struct zdu_spawn_result *res, void *data)
{
	struct coord *c = data;
	const struct zdu_plan_node *n = cur(c);
	double secs = (double)(uv_now(&c->loop) - c->step_started) / 1000.0;

	if (res->error) {
		fail(c, ZDU_COORD_FAILED, "upgrade command: %s", res->error);
	} else if (res->timed_out) {
		fail(c, ZDU_COORD_TIMEOUT, "upgrade command killed after %.1f s (timeouts.upgrade_ms)",
		     c->plan->upgrade_timeout_ms / 1000.0);
	} else if (res->term_signal) {
		fail(c, ZDU_COORD_FAILED, "upgrade command killed by signal %d", res->term_signal);
	} else if (res->exit_status != 0) {
		fail(c, ZDU_COORD_FAILED, "upgrade command exited with status %lld after %.1f s",
		     (long long)res->exit_status, secs);
	} else {
		say(c, n->name, step_names[S_UPGRADE], "ok", "upgrade command succeeded in %.1f s", secs);
		journal(c, n->name, "upgraded");
		enter(c, S_WAIT_HEALTHY);
	}
}

/* {node} and {server} in the template become the node's names. */
static char *expand(const char *tmpl, const struct zdu_plan_node *n)
{
	size_t cap = strlen(tmpl) + 1, len = 0;
	char *out = malloc(cap);
	const char *p = tmpl;

	if (!out)
		return NULL;
	while (*p) {
		const char *val = NULL;
		size_t skip = 0, vlen;

		if (strncmp(p, "{node}", 6) == 0) {
			val = n->name;
			skip = 6;
		} else if (strncmp(p, "{server}", 8) == 0) {
			val = n->server;
			skip = 8;
		}
		vlen = val ? strlen(val) : 1;
		if (len + vlen + 1 > cap) {
			char *b;

			cap = (len + vlen + 1) * 2;
			b = realloc(out, cap);
			if (!b) {
				free(out);
				return NULL;
			}
			out = b;
		}
		if (val) {
			memcpy(out + len, val, vlen);
			p += skip;
		} else {
			out[len] = *p++;
		}
		len += vlen;
	}
	out[len] = '\0';
	return out;
}

static void enter(struct coord *c, enum step s)
{
	const struct zdu_plan_node *n = cur(c);
	char reason[128];

	if (c->etcd && zdu_coord_etcd_busy(c->etcd)) {
		c->deferred = 1;
		c->deferred_step = s;
		return;
	}

	c->step = s;
	c->step_started = uv_now(&c->loop);
	c->last_progress[0] = '\0';
	switch (s) {
	case S_PREFLIGHT:
		say(c, n->name, step_names[s], "start", "node %zu of %zu (server %s, agent %s)", c->node + 1,
		    c->plan->nnodes, n->server, n->agent);
		round_start(c);
		break;
	case S_CAPACITY:
		/* from capacity_gate(), on the preflight's poll round */
		c->cap_since = c->step_started;
		c->deadline = c->cap_since + (uint64_t)c->plan->capacity_timeout_ms;
		capacity_report(c);
		poll_again(c);
		break;
	case S_SET_FLAG:
		snprintf(reason, sizeof(reason), "zdu-coordinator: upgrading %s", n->name);
		if (zdu_link_call(c->links[c->node], ZDU_LINK_SET_FLAG, ZDU_FLAG_DRAIN, reason, on_flag_set, c) < 0)
			fail(c, ZDU_COORD_FAILED, "cannot reach the agent to set the flag");
		break;
	case S_WAIT_DRAINED:
		c->deadline = uv_now(&c->loop) + (uint64_t)c->plan->drain_timeout_ms;
		round_start(c);
		break;
	case S_UPGRADE: {
		char *cmd = expand(c->plan->upgrade_command, n);
		char *argv[] = { "/bin/sh", "-c", cmd, NULL };

		if (!cmd) {
			fail(c, ZDU_COORD_FAILED, "out of memory");
			break;
		}
		say(c, n->name, step_names[s], "start", "running: %s", cmd);
		if (zdu_spawn_run(&c->loop, argv, (unsigned)c->plan->upgrade_timeout_ms, on_upgrade_line,
				  on_upgrade_done, c) < 0)
			fail(c, ZDU_COORD_FAILED, "cannot run the upgrade command");
		free(cmd);
		break;
	}
	case S_WAIT_HEALTHY:
		c->deadline = uv_now(&c->loop) + (uint64_t)c->plan->health_timeout_ms;
		c->probes_base = -1;
		round_start(c);
		break;
	case S_CLEAR_FLAG:
		if (zdu_link_call(c->links[c->node], ZDU_LINK_CLEAR_FLAG, ZDU_FLAG_OFF, NULL, on_flag_set, c) < 0)
			fail(c, ZDU_COORD_FAILED, "cannot reach the agent to clear the flag");
		break;
	case S_WAIT_UP:
		c->deadline = uv_now(&c->loop) + (uint64_t)c->plan->up_timeout_ms;
		round_start(c);
		break;
	case S_SWITCH:
		start_switch(c);
		break;
	}
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct coord *c = s->data;

	if (c->finished)
		return;
	if (c->step == S_SWITCH) {
		say(c, NULL, step_names[S_SWITCH], "fail", "interrupted by signal %d during the switch", signum);
		say(c, NULL, step_names[S_SWITCH], "next", "%s",
		    c->sw_step >= SW_CONFIRM
			    ? "the runtime switch was sent: check show stat on every load balancer, then "
			      "continue with --resume, which redoes the switch"
			    : "the runtime switch was not sent: the old group still serves; continue with "
			      "--resume");
		stop_all(c, ZDU_COORD_FAILED);
		return;
	}
	say(c, c->node < c->plan->nnodes ? cur(c)->name : NULL, NULL, "fail",
	    "interrupted by signal %d during %s", signum, step_names[c->step]);
	if (c->node < c->plan->nnodes)
		next_step_msg(c, c->step == S_UPGRADE
					 ? "waiting for the upgrade command to end (it is not killed half-way); the "
					   "node stays drained; continue with --resume"
					 : "the node in progress keeps its flag as it is now; continue with --resume");
	stop_all(c, ZDU_COORD_FAILED);
}

int zdu_coordinator_run(const struct zdu_plan *plan, const struct zdu_coord_opts *opts)
{
	struct coord *c = calloc(1, sizeof(*c));
	uv_signal_t sint, sterm;
	char err[512];
	int lock_fd = -1, rc;
	size_t i;

	if (!c)
		return ZDU_COORD_FAILED;
	c->plan = plan;
	c->opts = opts;
	uv_loop_init(&c->loop);
	c->lbs = calloc(plan->nlbs, sizeof(*c->lbs));
	c->weights = calloc(plan->nlbs, sizeof(*c->weights));
	c->links = calloc(plan->nnodes, sizeof(*c->links));
	c->order = calloc(plan->nnodes, sizeof(*c->order));
	c->sw_rtt_ms = calloc(plan->nlbs, sizeof(*c->sw_rtt_ms));
	if (!c->lbs || !c->weights || !c->links || !c->order || !c->sw_rtt_ms) {
		rc = ZDU_COORD_FAILED;
		goto out;
	}
	/* Cutover upgrades its first group first; rolling goes in plan order. */
	{
		size_t k = 0, pass;

		for (pass = 0; pass < 2; pass++)
			for (i = 0; i < plan->nnodes; i++)
				if (plan->strategy != ZDU_STRATEGY_CUTOVER ? pass == 0
									   : (plan->nodes[i].first_group == (pass == 0)))
					c->order[k++] = i;
		c->nfirst = 0;
		for (i = 0; i < plan->nnodes; i++)
			c->nfirst += plan->strategy == ZDU_STRATEGY_CUTOVER && plan->nodes[i].first_group;
	}
	if (plan->etcd_endpoints.n) {
		c->etcd = zdu_coord_etcd_new(&c->loop, plan, on_journal_stored, on_lock_lost, c, err, sizeof(err));
		if (!c->etcd) {
			fprintf(stderr, "zdu-coordinator: %s\n", err);
			rc = ZDU_COORD_FAILED;
			goto out;
		}
	}
	for (i = 0; i < plan->nnodes; i++) {
		char spec[300];

		/* "etcd" alone: the node's plan name is its name in etcd. */
		snprintf(spec, sizeof(spec), "%s%s%s", plan->nodes[i].agent,
			 strcmp(plan->nodes[i].agent, "etcd") == 0 ? ":" : "",
			 strcmp(plan->nodes[i].agent, "etcd") == 0 ? plan->nodes[i].name : "");
		c->links[i] = zdu_link_new(&c->loop, spec, plan, c->etcd ? zdu_coord_etcd_client(c->etcd) : NULL, err,
					   sizeof(err));
		if (!c->links[i]) {
			fprintf(stderr, "zdu-coordinator: %s\n", err);
			rc = ZDU_COORD_USAGE;
			goto out;
		}
	}
	if (!opts->dry_run && c->etcd) {
		char *text = NULL, name[600];
		size_t len = 0;
		int lr = zdu_coord_etcd_lock(c->etcd, opts->plan_path, err, sizeof(err));

		if (lr < 0) {
			fprintf(stderr, "zdu-coordinator: %s\n", err);
			rc = lr == -2 ? ZDU_COORD_LOCKED : ZDU_COORD_FAILED;
			goto out;
		}
		if (zdu_coord_etcd_journal_read(c->etcd, &text, &len, err, sizeof(err)) < 0) {
			fprintf(stderr, "zdu-coordinator: %s\n", err);
			rc = ZDU_COORD_FAILED;
			goto out;
		}
		snprintf(name, sizeof(name), "etcd %s", zdu_coord_etcd_journal_key(c->etcd));
		if (zdu_journal_open_text(&c->journal, name, text, len, zdu_plan_digest(plan), opts->resume, err,
					  sizeof(err)) != ZDU_OK) {
			free(text);
			fprintf(stderr, "zdu-coordinator: %s\n", err);
			rc = ZDU_COORD_FAILED;
			goto out;
		}
		c->journal_open = 1;
		/* A new rollout's header is stored before anything changes. */
		if (!(len == c->journal.text_len && memcmp(text, c->journal.text, len) == 0)) {
			zdu_coord_etcd_journal_store(c->etcd, c->journal.text, c->journal.text_len);
			while (zdu_coord_etcd_busy(c->etcd) && uv_run(&c->loop, UV_RUN_ONCE))
				;
		}
		free(text);
		c->switched = zdu_journal_has(&c->journal, "", "switched");
		if (opts->resume && c->journal.finished) {
			printf("zdu-coordinator: the rollout recorded in %s is complete: nothing to resume\n", name);
			rc = ZDU_COORD_OK;
			goto out;
		}
	} else if (!opts->dry_run) {
		lock_fd = zdu_lock_take(plan->lock, err, sizeof(err));
		if (lock_fd < 0) {
			fprintf(stderr, "zdu-coordinator: %s\n", err);
			rc = lock_fd == -2 ? ZDU_COORD_LOCKED : ZDU_COORD_FAILED;
			lock_fd = -1;
			goto out;
		}
		if (zdu_journal_open(&c->journal, plan->journal, zdu_plan_digest(plan), opts->resume, err,
				     sizeof(err)) != ZDU_OK) {
			fprintf(stderr, "zdu-coordinator: %s\n", err);
			rc = ZDU_COORD_FAILED;
			goto out;
		}
		c->journal_open = 1;
		c->switched = zdu_journal_has(&c->journal, "", "switched");
		if (opts->resume && c->journal.finished) {
			/* A retried --resume (a script, Ansible) must not redo a
			 * rollout that already finished. */
			printf("zdu-coordinator: the rollout recorded in %s is complete: nothing to resume\n",
			       plan->journal);
			rc = ZDU_COORD_OK;
			goto out;
		}
	}
	uv_timer_init(&c->loop, &c->timer);
	c->timer.data = c;
	uv_signal_init(&c->loop, &sint);
	uv_signal_init(&c->loop, &sterm);
	sint.data = sterm.data = c;
	uv_signal_start(&sint, on_signal, SIGINT);
	uv_signal_start(&sterm, on_signal, SIGTERM);
	uv_unref((uv_handle_t *)&sint);
	uv_unref((uv_handle_t *)&sterm);

	say(c, NULL, NULL, "start", "%s %s (%s): backend %s, %zu node%s, %zu load balancer%s%s%s",
	    opts->dry_run ? "dry run of" : (opts->resume ? "resuming" : "rollout of"), opts->plan_path,
	    plan->strategy == ZDU_STRATEGY_CUTOVER ? "cutover" : "rolling",
	    plan->backend, plan->nnodes, plan->nnodes == 1 ? "" : "s", plan->nlbs, plan->nlbs == 1 ? "" : "s",
	    plan->expect_version[0] ? ", expecting nova-api at least " : "", plan->expect_version);
	begin_node(c);
	while (!c->finished && uv_run(&c->loop, UV_RUN_ONCE))
		;
	if (!c->finished)
		say(c, NULL, NULL, "fail", "internal error: nothing left to wait for");
	rc = c->finished ? c->exit_code : ZDU_COORD_FAILED;
	/* Requests still in flight end on their own (each has a timeout; an
	 * upgrade command is never killed half-way by an interruption) and
	 * their callbacks see finished. */
	uv_close((uv_handle_t *)&c->timer, NULL);
	uv_close((uv_handle_t *)&sint, NULL);
	uv_close((uv_handle_t *)&sterm, NULL);
	uv_run(&c->loop, UV_RUN_DEFAULT);
out:
	for (i = 0; c->links && i < plan->nnodes; i++)
		zdu_link_free(c->links[i]);
	/* After the links, whose calls used its client; it stores what is
	 * left of the journal, then releases the lock. */
	if (c->etcd)
		zdu_coord_etcd_free(c->etcd);
	if (c->journal_open)
		zdu_journal_close(&c->journal);
	if (lock_fd >= 0)
		close(lock_fd);
	for (i = 0; c->lbs && i < plan->nlbs; i++)
		zdu_lb_backend_free(&c->lbs[i].be);
	json_decref(c->agent);
	free(c->links);
	free(c->order);
	free(c->sw_rtt_ms);
	free(c->lbs);
	free(c->weights);
	uv_loop_close(&c->loop);
	free(c);
	return rc;
}
