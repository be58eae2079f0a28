/* zdu-coordinator's run: the plan's order and links, the lock and the
 * journal, then node by node the rolling steps (preflight, capacity,
 * drain, wait-drained, upgrade, wait-healthy, undrain, wait-up) on poll
 * rounds of every load balancer and the node's agent. The cutover's switch
 * is in cutover.c; what each round means, in coord_decide.c. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "zdu/capacity.h"
#include "zdu/common.h"
#include "zdu/coord_decide.h"
#include "zdu/coord_etcd.h"
#include "zdu/coordinator-int.h"
#include "zdu/coordinator.h"
#include "zdu/coord_progress.h"
#include "zdu/haproxy.h"
#include "zdu/journal.h"
#include "zdu/link.h"
#include "zdu/plan.h"
#include "zdu/spawn.h"
#include "zdu/window.h"

static const char *const step_names[] = {
	[ZDU_STEP_PREFLIGHT] = "preflight",  [ZDU_STEP_CAPACITY] = "capacity",
	[ZDU_STEP_SET_FLAG] = "drain",	      [ZDU_STEP_WAIT_DRAINED] = "wait-drained",
	[ZDU_STEP_UPGRADE] = "upgrade",      [ZDU_STEP_WAIT_HEALTHY] = "wait-healthy",
	[ZDU_STEP_CLEAR_FLAG] = "undrain",   [ZDU_STEP_WAIT_UP] = "wait-up",
	[ZDU_STEP_SWITCH] = "switch",        [ZDU_STEP_BEFORE] = "before",
	[ZDU_STEP_AFTER] = "after",
};

const char *zdu_coord_step_name(enum zdu_coord_step s)
{
	return step_names[s];
}

static const struct zdu_plan_node *cur(const struct zdu_coord *c)
{
	return &c->plan->nodes[c->node];
}

/* What the agent replies now, as its status says ("" when it did not answer). */
static const char *agent_reply(const struct zdu_coord *c)
{
	const json_t *v = json_object_get(c->agent, "reply");

	return json_is_string(v) ? json_string_value(v) : "";
}

/* One line per event: for people, or one JSON object with --json, which
 * also gets the fields of extra (when not NULL; its reference is taken). */
static void vsay(struct zdu_coord *c, json_t *extra, const char *node, const char *step, const char *event,
		 const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));

/* Room for a whole line of the upgrade command's output as spawn hands it
 * out (at most ZDU_SPAWN_LINE_MAX and a marker), never cut again here. */
#define SAY_MAX (ZDU_SPAWN_LINE_MAX + ZDU_SPAWN_MARK_MAX + 256)

static void vsay(struct zdu_coord *c, json_t *extra, const char *node, const char *step, const char *event,
		 const char *fmt, va_list ap)
{
	char when[40], msg[SAY_MAX];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	zdu_utc_now_ms(when, sizeof(when));
	zdu_coord_progress_event(c->progress, node, step, event);
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

void zdu_coord_say(struct zdu_coord *c, const char *node, const char *step, const char *event, const char *fmt,
		   ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(c, NULL, node, step, event, fmt, ap);
	va_end(ap);
}

static void say_x(struct zdu_coord *c, json_t *extra, const char *node, const char *step, const char *event,
		  const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void say_x(struct zdu_coord *c, json_t *extra, const char *node, const char *step, const char *event,
		  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(c, extra, node, step, event, fmt, ap);
	va_end(ap);
}

static void stop_all(struct zdu_coord *c, int code)
{
	c->exit_code = code;
	c->finished = 1;
	uv_timer_stop(&c->timer);
}

static void next_step_msg(struct zdu_coord *c, const char *what)
{
	zdu_coord_say(c, cur(c)->name, step_names[c->step], "next", "%s", what);
}

/* What to do after a failure of the node in progress, which is left as
 * its last finished step left it. */
static void next_after_fail(struct zdu_coord *c, char *next, size_t size)
{
	const char *name = cur(c)->name, *plan = c->opts->plan_path;

	if (c->opts->dry_run)
		snprintf(next, size, "dry run: nothing was changed");
	else if (c->step == ZDU_STEP_CAPACITY)
		snprintf(next, size,
			 "%s was not started and every node stays as it is. Once enough servers serve again, "
			 "continue with: zdu-coordinator --plan %s --resume",
			 name, plan);
	else if (c->step >= ZDU_STEP_SET_FLAG && c->step <= ZDU_STEP_WAIT_HEALTHY)
		snprintf(next, size,
			 "%s stays in maintenance (drained); the other nodes serve. Fix the cause, then "
			 "continue with: zdu-coordinator --plan %s --resume",
			 name, plan);
	else
		snprintf(next, size,
			 "nothing of %s was changed by this step. Fix the cause, then continue with: "
			 "zdu-coordinator --plan %s --resume",
			 name, plan);
}

void zdu_coord_fail(struct zdu_coord *c, int code, const char *fmt, ...)
{
	char msg[2048], next[1024];
	int sw = c->step == ZDU_STEP_SWITCH, win = c->step == ZDU_STEP_BEFORE || c->step == ZDU_STEP_AFTER;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	zdu_coord_say(c, sw || win ? NULL : cur(c)->name, step_names[c->step], "fail", "%s", msg);
	if (win) {
		zdu_coord_say(c, NULL, step_names[c->step], "next", "%s", zdu_window_next_after_fail(c));
	} else if (sw) {
		zdu_coord_say(c, NULL, step_names[c->step], "next", "%s", zdu_cutover_next_after_fail(c));
	} else {
		next_after_fail(c, next, sizeof(next));
		next_step_msg(c, next);
	}
	stop_all(c, code);
}

void zdu_coord_journal(struct zdu_coord *c, const char *node, const char *step)
{
	char err[512] = "";
	enum zdu_err e;

	if (c->opts->dry_run || !c->journal_open)
		return;
	zdu_coord_progress_step_done(c->progress, node, step);
	if ((e = zdu_journal_record(&c->journal, node, step, err, sizeof(err))) != ZDU_OK)
		zdu_coord_say(c, node, step, "warn", "%s", zdu_err_text(e, err));
	else if (c->etcd && zdu_coord_etcd_journal_store(c->etcd, c->journal.text, c->journal.text_len) < 0)
		zdu_coord_say(c, node, step, "warn", "journal not stored in etcd: out of memory");
}

/* In etcd, a journal entry is stored before the next step starts (enter()
 * waits for it), as the file's fsync does. */
static void enter(struct zdu_coord *c, enum zdu_coord_step s);

static void on_journal_stored(const char *err, void *data)
{
	struct zdu_coord *c = data;

	if (c->finished)
		return;
	if (err) {
		zdu_coord_fail(c, ZDU_COORD_FAILED, "%s", err);
		return;
	}
	if (c->deferred && !zdu_coord_etcd_busy(c->etcd)) {
		c->deferred = 0;
		enter(c, c->deferred_step);
	}
}

static void on_lock_lost(const char *why, void *data)
{
	struct zdu_coord *c = data;

	if (!c->finished)
		zdu_coord_fail(c, ZDU_COORD_FAILED, "%s", why);
}

/* ---- poll rounds: every load balancer's show stat and the agent ---- */

static void evaluate(struct zdu_coord *c);

static void round_piece_done(struct zdu_coord *c)
{
	if (--c->pending == 0 && !c->finished)
		evaluate(c);
}

struct lb_req {
	struct zdu_coord *c;
	size_t i;
	zdu_coord_lb_cb done;
};

static void on_lb_answer(int ok, const char *answer, size_t len, const char *err, void *data)
{
	struct lb_req r = *(struct lb_req *)data;

	free(data);
	r.done(r.c, r.i, ok, answer, len, err);
}

int zdu_coord_lb_request(struct zdu_coord *c, size_t i, const char *cmd, zdu_coord_lb_cb done)
{
	struct lb_req *r = malloc(sizeof(*r));

	if (!r || zdu_rt_request(&c->loop, c->plan->lbs[i].runtime, cmd, (unsigned)c->plan->request_timeout_ms,
				 on_lb_answer, r) < 0) {
		free(r);
		return -1;
	}
	r->c = c;
	r->i = i;
	r->done = done;
	return 0;
}

/* A poll round's show stat of load balancer i. */
static void on_lb(struct zdu_coord *c, size_t i, int ok, const char *answer, size_t len, const char *err)
{
	struct zdu_lb_view *v = &c->lbs[i];

	zdu_lb_backend_free(&v->be);
	v->ok = 0;
	if (ok < 0) {
		snprintf(v->err, sizeof(v->err), "%s", err);
	} else if (zdu_stat_parse(answer, len, c->plan->backend, &v->be, v->err, sizeof(v->err)) == 0) {
		v->ok = 1;
		v->err[0] = '\0';
	}
	round_piece_done(c);
}

static void on_agent(json_t *status, const char *err, void *data)
{
	struct zdu_coord *c = data;

	json_decref(c->agent);
	c->agent = status ? json_incref(status) : NULL;
	snprintf(c->agent_err, sizeof(c->agent_err), "%s", err ? err : "");
	round_piece_done(c);
}

void zdu_coord_round(struct zdu_coord *c)
{
	size_t i;

	c->pending = (int)c->plan->nlbs + (c->round_agent ? 1 : 0);
	for (i = 0; i < c->plan->nlbs; i++) {
		if (zdu_coord_lb_request(c, i, "show stat", on_lb) < 0) {
			c->lbs[i].ok = 0;
			snprintf(c->lbs[i].err, sizeof(c->lbs[i].err), "cannot start a request");
			c->pending--;
		}
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
	zdu_coord_round(t->data);
}

void zdu_coord_poll_again(struct zdu_coord *c)
{
	uv_timer_start(&c->timer, on_timer, (uint64_t)c->plan->poll_ms, 0);
}

void zdu_coord_wait_rounds(struct zdu_coord *c, int limit_ms)
{
	c->deadline = uv_now(&c->loop) + (uint64_t)limit_ms;
	zdu_coord_round(c);
}

int zdu_coord_timed_out(const struct zdu_coord *c)
{
	return uv_now((uv_loop_t *)&c->loop) >= c->deadline;
}

/* Waiting: say how things stand, but only when that changes. */
static void progress(struct zdu_coord *c, const char *state)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "%s", state);
	if (strcmp(msg, c->last_progress) == 0)
		return;
	snprintf(c->last_progress, sizeof(c->last_progress), "%s", msg);
	zdu_coord_say(c, c->step == ZDU_STEP_SWITCH ? NULL : cur(c)->name, step_names[c->step], "wait", "%s", msg);
}

int zdu_coord_waited(struct zdu_coord *c, int done, const char *state, const char *what, int limit_ms)
{
	if (done)
		return 1;
	if (zdu_coord_timed_out(c)) {
		zdu_coord_fail(c, ZDU_COORD_TIMEOUT, "%s after %.1f s: %s", what, limit_ms / 1000.0, state);
		return 0;
	}
	progress(c, state);
	zdu_coord_poll_again(c);
	return 0;
}

/* A verdict from before the upgrade says nothing about the new release:
 * wait for two probes more than the count first seen after it, so at least
 * one probe started after the upgrade ended. Counts, not clocks: the agent's
 * clock may differ from ours. */
static int probe_fresh(struct zdu_coord *c)
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

/* ---- the steps ---- */

static int cutover(const struct zdu_coord *c)
{
	return c->plan->strategy == ZDU_STRATEGY_CUTOVER;
}

/* Cutover's first group is done for now once upgraded and healthy: it
 * stays out of service until the switch. */
static int node_finished(struct zdu_coord *c)
{
	const char *name = cur(c)->name;

	if (zdu_journal_has(&c->journal, name, "done"))
		return 1;
	return cutover(c) && c->pos < c->nfirst && zdu_journal_has(&c->journal, name, "healthy");
}

static void advance(struct zdu_coord *c)
{
	c->pos++;
	zdu_coord_begin_node(c);
}

/* The end: the journal's "end" and the last line. */
static void rollout_done(struct zdu_coord *c)
{
	if (c->opts->dry_run) {
		zdu_coord_say(c, NULL, NULL, "done", "dry run: every preflight passed; nothing was changed");
	} else {
		zdu_coord_journal(c, "", "end");
		zdu_coord_say(c, NULL, NULL, "done", "rollout complete: %zu node%s upgraded", c->plan->nnodes,
			      c->plan->nnodes == 1 ? "" : "s");
	}
	stop_all(c, ZDU_COORD_OK);
}

/* The window command w (the plan's before_command or after_command) at
 * step s, then `then`: run when the journal does not show it succeeded,
 * said in a dry run. */
static void window(struct zdu_coord *c, enum zdu_coord_step s, void (*then)(struct zdu_coord *c))
{
	struct zdu_window_cmd *w = &c->win;

	(s == ZDU_STEP_BEFORE ? zdu_window_plan_before : zdu_window_plan_after)(c->plan, w);
	if (!w->command[0]) {
		then(c);
	} else if (c->opts->dry_run) {
		char *cmd = zdu_window_expand(w->command, c->plan->backend, c->opts->plan_path);

		zdu_coord_say(c, NULL, w->step, "info", "would run %s once, %s (up to %d s): %s", w->key,
			      s == ZDU_STEP_BEFORE ? "before any node is drained" : "after the last node is back",
			      w->timeout_ms / 1000, cmd ? cmd : w->command);
		free(cmd);
		then(c);
	} else if (!zdu_window_pending(c, w)) {
		zdu_coord_say(c, NULL, w->step, "info", "%s already succeeded (journal): not run again", w->key);
		then(c);
	} else {
		c->win_then = then;
		enter(c, s);
	}
}

void zdu_coord_begin_node(struct zdu_coord *c)
{
	if (cutover(c) && c->pos == c->nfirst && !c->switched) {
		if (c->opts->dry_run) {
			zdu_coord_say(c, NULL, step_names[ZDU_STEP_SWITCH], "info",
				      "would switch every load balancer to the first group in one runtime request, "
				      "then drain the rest");
			c->switched = 1;
		} else {
			zdu_cutover_start(c);
			return;
		}
	}
	if (c->pos >= c->plan->nnodes) {
		window(c, ZDU_STEP_AFTER, rollout_done);
		return;
	}
	c->node = c->order[c->pos];
	if (!c->opts->dry_run && node_finished(c)) {
		zdu_coord_say(c, cur(c)->name, "skip", "info", "already %s (journal)",
			      zdu_journal_has(&c->journal, cur(c)->name, "done") ? "upgraded"
										  : "upgraded, waiting for the switch");
		advance(c);
		return;
	}
	c->round_agent = 1;
	enter(c, ZDU_STEP_PREFLIGHT);
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

static int under_way(const struct zdu_coord *c)
{
	/* before_command changed no node */
	size_t before = zdu_journal_has(&c->journal, "", zdu_coord_step_name(ZDU_STEP_BEFORE));

	return !c->opts->dry_run && c->journal_open && c->journal.n > before;
}

/* The load balancers where the node may not leave: appends a description
 * of each to msg ("; "-separated) and, when list is not NULL, an object
 * {lb, serving, others, not_serving} or {lb, error} to it. A load balancer
 * that does not answer counts (the preflight refuses it before asking).
 * Returns how many. */
static int capacity_short(struct zdu_coord *c, char *msg, size_t size, json_t *list)
{
	const struct zdu_plan_node *n = cur(c);
	int nshort = 0;
	size_t i;

	msg[0] = '\0';
	for (i = 0; i < c->plan->nlbs; i++) {
		const struct zdu_lb_view *v = &c->lbs[i];
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
static void capacity_report(struct zdu_coord *c)
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
	      step_names[ZDU_STEP_CAPACITY], "wait",
	      "%s: %s is not started until capacity is back (looking every %.1f s, for up to %.1f s: "
	      "timeouts.capacity_ms)",
	      msg, n->name, c->plan->poll_ms / 1000.0, c->plan->capacity_timeout_ms / 1000.0);
}

static void preflight(struct zdu_coord *c);

static void capacity_wait(struct zdu_coord *c)
{
	const struct zdu_plan_node *n = cur(c);
	char msg[1024];
	uint64_t waited = uv_now(&c->loop) - c->cap_since;

	if (capacity_short(c, msg, sizeof(msg), NULL) == 0) {
		say_x(c, json_pack("{s:I}", "waited_ms", (json_int_t)waited), n->name,
		      step_names[ZDU_STEP_CAPACITY], "ok",
		      "capacity back after %.1f s: at least %d other server%s serve on every load balancer; "
		      "%s goes on",
		      (double)waited / 1000.0, c->plan->min_ready, c->plan->min_ready == 1 ? "" : "s", n->name);
		c->step = ZDU_STEP_PREFLIGHT;
		c->last_progress[0] = '\0';
		preflight(c);
		return;
	}
	if (zdu_coord_timed_out(c)) {
		zdu_coord_journal(c, n->name, "capacity-short");
		zdu_coord_fail(c, ZDU_COORD_REFUSED, "capacity still short after %.1f s (timeouts.capacity_ms): %s",
			       c->plan->capacity_timeout_ms / 1000.0, msg);
		return;
	}
	capacity_report(c);
	zdu_coord_poll_again(c);
}

/* The preflight's capacity check: 1 when the node may leave; else 0 after
 * refusing or starting to wait. */
static int capacity_gate(struct zdu_coord *c)
{
	char msg[1024];

	if (capacity_short(c, msg, sizeof(msg), NULL) == 0)
		return 1;
	if (!under_way(c) || c->plan->capacity_timeout_ms == 0) {
		if (under_way(c))
			zdu_coord_journal(c, cur(c)->name, "capacity-short");
		zdu_coord_fail(c, ZDU_COORD_REFUSED, "%s", msg);
		return 0;
	}
	enter(c, ZDU_STEP_CAPACITY);
	return 0;
}

static void preflight(struct zdu_coord *c)
{
	const struct zdu_plan_node *n = cur(c);
	int started = !c->opts->dry_run && (zdu_journal_has(&c->journal, n->name, "flagged") ||
					    zdu_journal_has(&c->journal, n->name, "upgraded"));
	size_t i;

	for (i = 0; i < c->plan->nlbs; i++) {
		const struct zdu_lb_view *v = &c->lbs[i];
		const struct zdu_lb_server *s;

		if (!v->ok) {
			zdu_coord_fail(c, ZDU_COORD_REFUSED, "load balancer %s (%s) does not answer: %s",
				       c->plan->lbs[i].name, c->plan->lbs[i].runtime, v->err);
			return;
		}
		if (!v->be.found) {
			zdu_coord_fail(c, ZDU_COORD_REFUSED,
				       "no backend %s on load balancer %s (%s); backends there: %s", c->plan->backend,
				       c->plan->lbs[i].name, c->plan->lbs[i].runtime,
				       v->be.backends[0] ? v->be.backends : "none");
			return;
		}
		s = zdu_lb_find(&v->be, n->server);
		if (!s) {
			zdu_coord_fail(c, ZDU_COORD_REFUSED, "load balancer %s has no server %s in backend %s",
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
		zdu_coord_fail(c, ZDU_COORD_REFUSED, "agent of %s (%s) does not answer: %s", n->name, n->agent,
			       c->agent_err);
		return;
	}
	if (!started && !zdu_agent_healthy(c->agent)) {
		zdu_coord_fail(c, ZDU_COORD_REFUSED, "%s is not healthy before its upgrade (agent replies \"%s\")",
			       n->name, agent_reply(c));
		return;
	}
	{
		char w[256] = "";

		for (i = 0; i < c->plan->nlbs; i++) {
			size_t l = strlen(w);

			snprintf(w + l, sizeof(w) - l, "%s%s %ld", i ? ", " : "", c->plan->lbs[i].name, c->weights[i]);
		}
		zdu_coord_say(c, n->name, step_names[ZDU_STEP_PREFLIGHT], "ok",
			      "%zu load balancer%s answer, server %s present (weight %s), at least %d other%s ready; "
			      "agent replies \"%s\"",
			      c->plan->nlbs, c->plan->nlbs == 1 ? "" : "s", n->server, w, c->plan->min_ready,
			      c->plan->min_ready == 1 ? "" : "s", agent_reply(c));
	}
	if (c->opts->dry_run) {
		char *cmd = expand(c->plan->upgrade_command, n);

		zdu_coord_say(c, n->name, "plan", "info",
			      "would: drain, wait until drained (%d s), run: %s, wait until healthy%s%s (%d s), "
			      "undrain, wait until UP (%d s)",
			      c->plan->drain_timeout_ms / 1000, cmd ? cmd : c->plan->upgrade_command,
			      c->plan->expect_version[0] ? " at " : "", c->plan->expect_version,
			      c->plan->health_timeout_ms / 1000, c->plan->up_timeout_ms / 1000);
		free(cmd);
		advance(c);
		return;
	}
	if (zdu_journal_has(&c->journal, n->name, "upgraded")) {
		zdu_coord_say(c, n->name, step_names[ZDU_STEP_UPGRADE], "info", "already ran (journal): not repeated");
		enter(c, ZDU_STEP_WAIT_HEALTHY);
		return;
	}
	enter(c, ZDU_STEP_SET_FLAG);
}

static void wait_drained(struct zdu_coord *c)
{
	const struct zdu_plan_node *n = cur(c);
	char state[512] = "";
	int done = zdu_node_drained(c->plan, c->lbs, c->node, c->agent, c->agent_err, state, sizeof(state));

	if (!zdu_coord_waited(c, done, state, "not drained", c->plan->drain_timeout_ms))
		return;
	zdu_coord_say(c, n->name, step_names[c->step], "ok", "drained: %s", state);
	zdu_coord_journal(c, n->name, "drained");
	enter(c, ZDU_STEP_UPGRADE);
}

static void wait_healthy(struct zdu_coord *c)
{
	const struct zdu_plan_node *n = cur(c);
	char why[256] = "";
	int done = 0;

	if (c->agent && !probe_fresh(c))
		snprintf(why, sizeof(why), "waiting for a probe of nova-api newer than the upgrade");
	else if (c->agent && zdu_agent_healthy(c->agent) && zdu_agent_version_ok(c->plan, c->agent, why, sizeof(why)))
		done = 1;
	if (!done && !why[0])
		snprintf(why, sizeof(why), "%s", c->agent ? agent_reply(c) : c->agent_err);
	if (!zdu_coord_waited(c, done, why, "not healthy", c->plan->health_timeout_ms))
		return;
	zdu_coord_say(c, n->name, step_names[c->step], "ok", "healthy: agent replies \"%s\"", agent_reply(c));
	zdu_coord_journal(c, n->name, "healthy");
	if (cutover(c) && !c->switched) {
		zdu_coord_say(c, n->name, step_names[c->step], "info",
			      "stays out of service until the switch (first group)");
		advance(c);
		return;
	}
	enter(c, ZDU_STEP_CLEAR_FLAG);
}

static void wait_up(struct zdu_coord *c)
{
	const struct zdu_plan_node *n = cur(c);
	char state[512] = "";
	int done = zdu_node_back(c->plan, c->lbs, c->node, c->weights, state, sizeof(state));

	if (!zdu_coord_waited(c, done, state, "not UP with its weight", c->plan->up_timeout_ms))
		return;
	zdu_coord_say(c, n->name, step_names[c->step], "ok", "back in service: %s", state);
	zdu_coord_journal(c, n->name, "done");
	advance(c);
}

static void evaluate(struct zdu_coord *c)
{
	switch (c->step) {
	case ZDU_STEP_SWITCH:
		zdu_cutover_evaluate(c);
		break;
	case ZDU_STEP_PREFLIGHT:
		preflight(c);
		break;
	case ZDU_STEP_CAPACITY:
		capacity_wait(c);
		break;
	case ZDU_STEP_WAIT_DRAINED:
		wait_drained(c);
		break;
	case ZDU_STEP_WAIT_HEALTHY:
		wait_healthy(c);
		break;
	case ZDU_STEP_WAIT_UP:
		wait_up(c);
		break;
	default:
		break;
	}
}

static void on_flag_set(json_t *status, const char *err, void *data)
{
	struct zdu_coord *c = data;
	const struct zdu_plan_node *n = cur(c);
	int setting = c->step == ZDU_STEP_SET_FLAG;

	if (!status) {
		zdu_coord_fail(c, ZDU_COORD_FAILED, "cannot %s the maintenance flag: %s", setting ? "set" : "clear",
			       err);
		return;
	}
	json_decref(c->agent);
	c->agent = json_incref(status);
	zdu_coord_say(c, n->name, step_names[c->step], "ok", "flag %s; agent replies \"%s\"",
		      setting ? "set" : "cleared", agent_reply(c));
	zdu_coord_journal(c, n->name, setting ? "flagged" : "cleared");
	enter(c, setting ? ZDU_STEP_WAIT_DRAINED : ZDU_STEP_WAIT_UP);
}

/* Sets (with its mode and reason) or clears the node's flag through its
 * agent; on_flag_set() goes on. */
static void flag_call(struct zdu_coord *c, enum zdu_link_op op, enum zdu_flag_mode mode, const char *reason)
{
	if (zdu_link_call(c->links[c->node], op, mode, reason, on_flag_set, c) < 0)
		zdu_coord_fail(c, ZDU_COORD_FAILED, "cannot reach the agent to %s the flag",
			       op == ZDU_LINK_SET_FLAG ? "set" : "clear");
}

static void on_upgrade_line(int stream, const char *line, void *data)
{
	struct zdu_coord *c = data;

	if (stream == ZDU_SPAWN_NOTE)
		zdu_coord_say(c, cur(c)->name, step_names[ZDU_STEP_UPGRADE], "warn", "upgrade command: %s", line);
	else
		zdu_coord_say(c, cur(c)->name, step_names[ZDU_STEP_UPGRADE], stream == 1 ? "stdout" : "stderr",
			      "| %s", line);
}

static void on_upgrade_done(const struct zdu_spawn_result *res, void *data)
{
	struct zdu_coord *c = data;
	const struct zdu_plan_node *n = cur(c);
	double secs = (double)(uv_now(&c->loop) - c->step_started) / 1000.0;

	if (res->error) {
		zdu_coord_fail(c, ZDU_COORD_FAILED, "upgrade command: %s", res->error);
	} else if (res->timed_out) {
		zdu_coord_fail(c, ZDU_COORD_TIMEOUT, "upgrade command killed after %.1f s (timeouts.upgrade_ms)",
			       c->plan->upgrade_timeout_ms / 1000.0);
	} else if (res->term_signal) {
		zdu_coord_fail(c, ZDU_COORD_FAILED, "upgrade command killed by signal %d", res->term_signal);
	} else if (res->exit_status != 0) {
		zdu_coord_fail(c, ZDU_COORD_FAILED, "upgrade command exited with status %lld after %.1f s",
			       (long long)res->exit_status, secs);
	} else {
		zdu_coord_say(c, n->name, step_names[ZDU_STEP_UPGRADE], "ok", "upgrade command succeeded in %.1f s",
			      secs);
		zdu_coord_journal(c, n->name, "upgraded");
		enter(c, ZDU_STEP_WAIT_HEALTHY);
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

static void enter(struct zdu_coord *c, enum zdu_coord_step s)
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
	case ZDU_STEP_PREFLIGHT:
		zdu_coord_say(c, n->name, step_names[s], "start", "node %zu of %zu (server %s, agent %s)", c->node + 1,
			      c->plan->nnodes, n->server, n->agent);
		zdu_coord_round(c);
		break;
	case ZDU_STEP_CAPACITY:
		/* from capacity_gate(), on the preflight's poll round */
		c->cap_since = c->step_started;
		c->deadline = c->cap_since + (uint64_t)c->plan->capacity_timeout_ms;
		capacity_report(c);
		zdu_coord_poll_again(c);
		break;
	case ZDU_STEP_SET_FLAG:
		snprintf(reason, sizeof(reason), "zdu-coordinator: upgrading %s", n->name);
		flag_call(c, ZDU_LINK_SET_FLAG, ZDU_FLAG_DRAIN, reason);
		break;
	case ZDU_STEP_WAIT_DRAINED:
		zdu_coord_wait_rounds(c, c->plan->drain_timeout_ms);
		break;
	case ZDU_STEP_UPGRADE: {
		char *cmd = expand(c->plan->upgrade_command, n);
		char *argv[] = { "/bin/sh", "-c", cmd, NULL };

		if (!cmd) {
			zdu_coord_fail(c, ZDU_COORD_FAILED, "out of memory");
			break;
		}
		zdu_coord_say(c, n->name, step_names[s], "start", "running: %s", cmd);
		if (zdu_spawn_run(&c->loop, argv, (unsigned)c->plan->upgrade_timeout_ms, on_upgrade_line,
				  on_upgrade_done, c) < 0)
			zdu_coord_fail(c, ZDU_COORD_FAILED, "cannot run the upgrade command");
		free(cmd);
		break;
	}
	case ZDU_STEP_WAIT_HEALTHY:
		c->probes_base = -1;
		zdu_coord_wait_rounds(c, c->plan->health_timeout_ms);
		break;
	case ZDU_STEP_CLEAR_FLAG:
		flag_call(c, ZDU_LINK_CLEAR_FLAG, ZDU_FLAG_OFF, NULL);
		break;
	case ZDU_STEP_WAIT_UP:
		zdu_coord_wait_rounds(c, c->plan->up_timeout_ms);
		break;
	case ZDU_STEP_SWITCH:
		zdu_cutover_start(c);
		break;
	case ZDU_STEP_BEFORE:
	case ZDU_STEP_AFTER:
		zdu_window_start(c);
		break;
	}
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct zdu_coord *c = s->data;

	if (c->finished)
		return;
	if (c->step == ZDU_STEP_SWITCH) {
		zdu_coord_say(c, NULL, step_names[ZDU_STEP_SWITCH], "fail",
			      "interrupted by signal %d during the switch", signum);
		zdu_coord_say(c, NULL, step_names[ZDU_STEP_SWITCH], "next", "%s", zdu_cutover_next_after_signal(c));
		stop_all(c, ZDU_COORD_FAILED);
		return;
	}
	if (c->step == ZDU_STEP_BEFORE || c->step == ZDU_STEP_AFTER) {
		zdu_coord_say(c, NULL, step_names[c->step], "fail", "interrupted by signal %d during %s", signum,
			      c->win.key);
		zdu_coord_say(c, NULL, step_names[c->step], "next",
			      "waiting for %s to end (it is not killed half-way); %s; continue with --resume, which "
			      "runs it again unless it succeeded",
			      c->win.key, c->win.after_fail);
		stop_all(c, ZDU_COORD_FAILED);
		return;
	}
	zdu_coord_say(c, c->node < c->plan->nnodes ? cur(c)->name : NULL, NULL, "fail",
		      "interrupted by signal %d during %s", signum, step_names[c->step]);
	if (c->node < c->plan->nnodes)
		next_step_msg(c, c->step == ZDU_STEP_UPGRADE
					 ? "waiting for the upgrade command to end (it is not killed half-way); the "
					   "node stays drained; continue with --resume"
					 : "the node in progress keeps its flag as it is now; continue with --resume");
	stop_all(c, ZDU_COORD_FAILED);
}

/* ---- the run ---- */

/* Keeps going; anything else is the run's exit code. */
#define GO_ON (-1)

static struct zdu_coord *coord_new(const struct zdu_plan *plan, const struct zdu_coord_opts *opts)
{
	struct zdu_coord *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->plan = plan;
	c->opts = opts;
	c->lock_fd = -1;
	uv_loop_init(&c->loop);
	c->lbs = calloc(plan->nlbs, sizeof(*c->lbs));
	c->weights = calloc(plan->nlbs, sizeof(*c->weights));
	c->links = calloc(plan->nnodes, sizeof(*c->links));
	c->order = calloc(plan->nnodes, sizeof(*c->order));
	c->sw_rtt_ms = calloc(plan->nlbs, sizeof(*c->sw_rtt_ms));
	return c;
}

/* Cutover upgrades its first group first; rolling goes in plan order. */
static void plan_order(struct zdu_coord *c)
{
	const struct zdu_plan *plan = c->plan;
	size_t i, k = 0, pass;

	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < plan->nnodes; i++)
			if (!cutover(c) ? pass == 0 : plan->nodes[i].first_group == (pass == 0))
				c->order[k++] = i;
	c->nfirst = 0;
	for (i = 0; i < plan->nnodes; i++)
		c->nfirst += cutover(c) && plan->nodes[i].first_group;
}

/* etcd's client when the plan has it, and a link to every node's agent. */
static int open_links(struct zdu_coord *c)
{
	const struct zdu_plan *plan = c->plan;
	char err[512], spec[300];
	size_t i;

	if (plan->etcd_endpoints.n) {
		c->etcd = zdu_coord_etcd_new(&c->loop, plan, on_journal_stored, on_lock_lost, c, err, sizeof(err));
		if (!c->etcd) {
			fprintf(stderr, "zdu-coordinator: %s\n", err);
			return ZDU_COORD_FAILED;
		}
	}
	for (i = 0; i < plan->nnodes; i++) {
		/* "etcd" alone: the node's plan name is its name in etcd. */
		snprintf(spec, sizeof(spec), "%s%s%s", plan->nodes[i].agent,
			 strcmp(plan->nodes[i].agent, "etcd") == 0 ? ":" : "",
			 strcmp(plan->nodes[i].agent, "etcd") == 0 ? plan->nodes[i].name : "");
		c->links[i] = zdu_link_new(&c->loop, spec, plan, c->etcd ? zdu_coord_etcd_client(c->etcd) : NULL, err,
					   sizeof(err));
		if (!c->links[i]) {
			fprintf(stderr, "zdu-coordinator: %s\n", err);
			return ZDU_COORD_USAGE;
		}
	}
	return GO_ON;
}

/* The lock: a key under a lease in etcd, or flock(2) on the lock file.
 * 0, -2 when another coordinator holds it, -1 (err says why). */
static int take_lock(struct zdu_coord *c, char *err, size_t size)
{
	if (c->etcd)
		return zdu_coord_etcd_lock(c->etcd, c->opts->plan_path, err, size);
	c->lock_fd = zdu_lock_take(c->plan->lock, err, size);
	if (c->lock_fd >= 0)
		return 0;
	return c->lock_fd == -2 ? -2 : -1;
}

/* The journal: a key in etcd (read whole here, stored whole after each
 * step), or the file, appended and fsynced. name is for messages. */
static enum zdu_err open_journal(struct zdu_coord *c, char *name, size_t name_size, char *err, size_t size)
{
	unsigned long digest = zdu_plan_digest(c->plan);
	char *text = NULL;
	size_t len = 0;
	enum zdu_err rc;

	if (!c->etcd) {
		snprintf(name, name_size, "%s", c->plan->journal);
		return zdu_journal_open(&c->journal, c->plan->journal, digest, c->opts->resume, err, size);
	}
	if (zdu_coord_etcd_journal_read(c->etcd, &text, &len, err, size) < 0)
		return ZDU_ERR_IO;
	snprintf(name, name_size, "etcd %s", zdu_coord_etcd_journal_key(c->etcd));
	rc = zdu_journal_open_text(&c->journal, name, text, len, digest, c->opts->resume, err, size);
	/* A new rollout's header is stored before anything changes. */
	if (rc == ZDU_OK && !(len == c->journal.text_len && memcmp(text, c->journal.text, len) == 0)) {
		zdu_coord_etcd_journal_store(c->etcd, c->journal.text, c->journal.text_len);
		while (zdu_coord_etcd_busy(c->etcd) && uv_run(&c->loop, UV_RUN_ONCE))
			;
	}
	free(text);
	return rc;
}

/* A real run holds the lock and its journal; a dry run touches neither. */
static int lock_and_journal(struct zdu_coord *c)
{
	char err[512], name[600];
	enum zdu_err e;
	int lr;

	if (c->opts->dry_run)
		return GO_ON;
	if ((lr = take_lock(c, err, sizeof(err))) < 0) {
		fprintf(stderr, "zdu-coordinator: %s\n", err);
		return lr == -2 ? ZDU_COORD_LOCKED : ZDU_COORD_FAILED;
	}
	err[0] = '\0';
	if ((e = open_journal(c, name, sizeof(name), err, sizeof(err))) != ZDU_OK) {
		fprintf(stderr, "zdu-coordinator: %s\n", zdu_err_text(e, err));
		return ZDU_COORD_FAILED;
	}
	c->journal_open = 1;
	c->switched = zdu_journal_has(&c->journal, "", "switched");
	if (c->opts->resume && c->journal.finished) {
		/* A retried --resume (a script, Ansible) must not redo a
		 * rollout that already finished. */
		printf("zdu-coordinator: the rollout recorded in %s is complete: nothing to resume\n", name);
		return ZDU_COORD_OK;
	}
	return GO_ON;
}

/* Node by node until the rollout is done, fails or is interrupted. */
static int roll(struct zdu_coord *c)
{
	const struct zdu_plan *plan = c->plan;
	const struct zdu_coord_opts *opts = c->opts;
	uv_signal_t sint, sterm;

	uv_timer_init(&c->loop, &c->timer);
	c->timer.data = c;
	uv_signal_init(&c->loop, &sint);
	uv_signal_init(&c->loop, &sterm);
	sint.data = sterm.data = c;
	uv_signal_start(&sint, on_signal, SIGINT);
	uv_signal_start(&sterm, on_signal, SIGTERM);
	uv_unref((uv_handle_t *)&sint);
	uv_unref((uv_handle_t *)&sterm);

	zdu_coord_say(c, NULL, NULL, "start", "%s %s (%s): backend %s, %zu node%s, %zu load balancer%s%s%s",
		      opts->dry_run ? "dry run of" : (opts->resume ? "resuming" : "rollout of"), opts->plan_path,
		      cutover(c) ? "cutover" : "rolling", plan->backend, plan->nnodes, plan->nnodes == 1 ? "" : "s",
		      plan->nlbs, plan->nlbs == 1 ? "" : "s",
		      plan->expect_version[0] ? ", expecting nova-api at least " : "", plan->expect_version);
	window(c, ZDU_STEP_BEFORE, zdu_coord_begin_node);
	while (!c->finished && uv_run(&c->loop, UV_RUN_ONCE))
		;
	if (!c->finished)
		zdu_coord_say(c, NULL, NULL, "fail", "internal error: nothing left to wait for");
	/* Requests still in flight end on their own (each has a timeout; an
	 * upgrade command is never killed half-way by an interruption) and
	 * their callbacks see finished. */
	uv_close((uv_handle_t *)&c->timer, NULL);
	uv_close((uv_handle_t *)&sint, NULL);
	uv_close((uv_handle_t *)&sterm, NULL);
	uv_run(&c->loop, UV_RUN_DEFAULT);
	return c->finished ? c->exit_code : ZDU_COORD_FAILED;
}

static void finish(struct zdu_coord *c)
{
	size_t i;

	for (i = 0; c->links && i < c->plan->nnodes; i++)
		zdu_link_free(c->links[i]);
	/* After the links, whose calls used its client; it stores what is
	 * left of the journal, then releases the lock. */
	if (c->etcd)
		zdu_coord_etcd_free(c->etcd);
	if (c->journal_open)
		zdu_journal_close(&c->journal);
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	for (i = 0; c->lbs && i < c->plan->nlbs; i++)
		zdu_lb_backend_free(&c->lbs[i].be);
	json_decref(c->agent);
	free(c->links);
	free(c->order);
	free(c->sw_rtt_ms);
	free(c->lbs);
	free(c->weights);
	uv_loop_close(&c->loop);
	free(c);
}

/* --textfile-dir: the observer writing the rollout's progress. */
static int start_progress(struct zdu_coord *c)
{
	char err[512];

	if (!c->opts->textfile_dir)
		return GO_ON;
	c->progress = zdu_coord_progress_new(c->opts->textfile_dir, c->opts->plan_path, c->plan->backend,
					     cutover(c) ? "cutover" : "rolling", c->plan->nnodes, err, sizeof(err));
	if (c->progress)
		return GO_ON;
	zdu_coord_say(c, NULL, NULL, "fail", "%s", err);
	return ZDU_COORD_USAGE;
}

int zdu_coordinator_run(const struct zdu_plan *plan, const struct zdu_coord_opts *opts)
{
	struct zdu_coord *c = coord_new(plan, opts);
	int rc = ZDU_COORD_FAILED;

	if (!c)
		return ZDU_COORD_FAILED;
	if (c->lbs && c->weights && c->links && c->order && c->sw_rtt_ms) {
		plan_order(c);
		if ((rc = open_links(c)) == GO_ON && (rc = lock_and_journal(c)) == GO_ON &&
		    (rc = start_progress(c)) == GO_ON) {
			rc = roll(c);
			zdu_coord_progress_end(c->progress, rc);
		}
	}
	zdu_coord_progress_free(c->progress);
	finish(c);
	return rc;
}
