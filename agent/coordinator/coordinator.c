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
	const json_t *v = json_object_get(zdu_agent_service(c->agent, c->plan->flag_service), "reply");

	return json_is_string(v) ? json_string_value(v) : "";
}

/* One line per event: for people, or one JSON object with --json, which
 * also gets the fields of extra (when not NULL; its reference is taken). */
static void vsay(struct zdu_coord *c, json_t *extra, const char *node, const char *step, const char *event,
		 const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));

/* With several services, an event names what it is about: "service" (a
 * service's pass or window), or a node's "services" (unit = "node"). */
static void name_services(const struct zdu_coord *c, json_t *o, const char *node)
{
	const struct zdu_plan *p = c->plan;
	size_t k, b;

	if (!c->whole || !c->whole->nservices)
		return;
	if (c->say_service) {
		json_object_set_new(o, "service", json_string(c->say_service));
	} else if (p->flag_service && p->flag_service[0]) {
		json_object_set_new(o, "service", json_string(p->flag_service));
	} else if (node && p->nbackends > 1) {
		json_t *list = json_array();

		for (k = 0; k < p->nnodes && strcmp(p->nodes[k].name, node) != 0; k++)
			;
		for (b = 0; k < p->nnodes && b < p->nbackends; b++)
			if (p->nodes[k].servers[b])
				json_array_append_new(list, json_string(p->backends[b].service));
		json_object_set_new(o, "services", list);
	}
}

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
		if (o)
			name_services(c, o, node);
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

/* node in the pass's scope: "SERVICE/NODE" ("SERVICE/" for the pass as a
 * whole) in a service's pass, node itself otherwise. */
static const char *scoped(const struct zdu_coord *c, const char *node, char *buf, size_t size)
{
	if (!c->plan->scope || !c->plan->scope[0])
		return node;
	snprintf(buf, size, "%s/%s", c->plan->scope, node);
	return buf;
}

int zdu_coord_journal_has(const struct zdu_coord *c, const char *node, const char *step)
{
	char buf[256];

	return zdu_journal_has(&c->journal, scoped(c, node, buf, sizeof(buf)), step);
}

struct zdu_link *zdu_coord_link(const struct zdu_coord *c, size_t n)
{
	return c->links[c->plan->nodes[n].index];
}

void zdu_coord_journal(struct zdu_coord *c, const char *node, const char *step)
{
	char err[512] = "", buf[256];
	enum zdu_err e;

	if (c->opts->dry_run || !c->journal_open)
		return;
	node = scoped(c, node, buf, sizeof(buf));
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
	size_t b;

	for (b = 0; b < ZDU_LB_BACKENDS_MAX; b++)
		zdu_lb_backend_free(&v->be[b]);
	v->ok = 0;
	if (ok < 0) {
		snprintf(v->err, sizeof(v->err), "%s", err);
		round_piece_done(c);
		return;
	}
	for (b = 0; b < c->plan->nbackends; b++)
		if (zdu_stat_parse(answer, len, c->plan->backends[b].backend, &v->be[b], v->err, sizeof(v->err)) != 0)
			break;
	if (b == c->plan->nbackends) {
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

	c->round_started = uv_now(&c->loop);
	c->pending = (int)c->plan->nlbs + (c->round_agent ? 1 : 0);
	for (i = 0; i < c->plan->nlbs; i++) {
		if (zdu_coord_lb_request(c, i, "show stat", on_lb) < 0) {
			c->lbs[i].ok = 0;
			snprintf(c->lbs[i].err, sizeof(c->lbs[i].err), "cannot start a request");
			c->pending--;
		}
	}
	if (c->round_agent &&
	    zdu_link_call(zdu_coord_link(c, c->node), ZDU_LINK_STATUS, NULL, ZDU_FLAG_OFF, NULL, on_agent, c) < 0) {
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

/* A verdict from before the upgrade says nothing about the new release
 * (zdu_node_probed_since). */
static int probe_fresh(struct zdu_coord *c)
{
	return zdu_node_probed_since(c->plan, c->node, c->agent, (long long)c->round_started,
				     (long long)c->healthy_from, c->probes_base);
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

	if (zdu_coord_journal_has(c, name, "done"))
		return 1;
	return cutover(c) && c->pos < c->nfirst && zdu_coord_journal_has(c, name, "healthy");
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
		zdu_coord_say(c, NULL, NULL, "done", "rollout complete: %zu node%s upgraded%s", c->whole->nnodes,
			      c->whole->nnodes == 1 ? "" : "s",
			      c->whole->nservices ? (c->whole->unit == ZDU_UNIT_NODE ? ", every service of each"
										  : ", service by service")
						  : "");
	}
	stop_all(c, ZDU_COORD_OK);
}

/* The window command w (the plan's before_command or after_command) at
 * step s, then `then`: run when the journal does not show it succeeded,
 * said in a dry run. */
static void window(struct zdu_coord *c, enum zdu_coord_step s, const struct zdu_plan_service *sv,
		   void (*then)(struct zdu_coord *c))
{
	struct zdu_window_cmd *w = &c->win;
	const char *svname = sv ? sv->name : c->plan->service ? c->plan->service->name : NULL;

	(s == ZDU_STEP_BEFORE ? zdu_window_plan_before : zdu_window_plan_after)(c->plan, w);
	if (sv || c->plan->service)
		zdu_window_service(sv ? sv : c->plan->service, s == ZDU_STEP_BEFORE, sv != NULL, w);
	c->win_service = sv;
	if (!w->command[0]) {
		then(c);
	} else if (c->opts->dry_run) {
		char *cmd = zdu_window_expand(w->command, sv ? sv->backend : c->plan->backend, c->opts->plan_path,
					      svname);

		zdu_coord_say(c, NULL, w->step, "info", "would run %s once, %s (up to %d s): %s", w->key,
			      s == ZDU_STEP_BEFORE ? (svname ? "before its first node is drained"
							     : "before any node is drained")
						   : (svname ? "after its last node is back" : "after the last node is back"),
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

static void next_stage(struct zdu_coord *c);

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
		next_stage(c);
		return;
	}
	c->node = c->order[c->pos];
	if (!c->opts->dry_run && node_finished(c)) {
		zdu_coord_say(c, cur(c)->name, "skip", "info", "already %s (journal)",
			      zdu_coord_journal_has(c, cur(c)->name, "done") ? "upgraded"
									      : "upgraded, waiting for the switch");
		advance(c);
		return;
	}
	c->round_agent = 1;
	enter(c, ZDU_STEP_PREFLIGHT);
}

static char *expand(const struct zdu_coord *c, const char *tmpl, const struct zdu_plan_node *n);

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
	size_t i, b, lb_said = 0;

	msg[0] = '\0';
	for (i = 0; i < c->plan->nlbs; i++) {
		for (b = 0; b < c->plan->nbackends; b++) {
			const struct zdu_lb_view *v = &c->lbs[i];
			const struct zdu_plan_backend *be = &c->plan->backends[b];
			const char *lbname = c->plan->lbs[i].name;
			struct zdu_capacity cap;
			char why[256], where[160];
			size_t len = strlen(msg);

			if (!n->servers[b])
				continue;
			if (c->plan->nbackends > 1)
				snprintf(where, sizeof(where), "%s backend %s", lbname, be->backend);
			else
				snprintf(where, sizeof(where), "%s", lbname);
			if (!v->ok) {
				char err[sizeof(v->err)];

				if (lb_said == i + 1)
					continue; /* said once per load balancer */
				lb_said = i + 1;

				snprintf(msg + len, size - len, "%sload balancer %s does not answer: %s", nshort ? "; " : "",
					 c->plan->lbs[i].name, v->err);
				zdu_utf8_sanitize(err, sizeof(err), v->err);
				if (list)
					json_array_append_new(list, json_pack("{s:s,s:s}", "lb", c->plan->lbs[i].name,
									      "error", err));
				nshort++;
				continue;
			}
			if (zdu_capacity_may_leave(&v->be[b], n->servers[b], be->min_ready, &cap, why, sizeof(why)))
				continue;
			if (!why[0])
				snprintf(why, sizeof(why), "none; the backend has only %d other server%s", cap.others,
					 cap.others == 1 ? "" : "s");
			snprintf(msg + len, size - len,
				 "%sload balancer %s: only %d other server%s UP and not drained, min_ready is %d "
				 "(not serving: %s)",
				 nshort ? "; " : "", where, cap.serving, cap.serving == 1 ? "" : "s", be->min_ready, why);
			if (list)
				json_array_append_new(list, json_pack("{s:s,s:s,s:i,s:i,s:s}", "lb", lbname, "backend",
								      be->backend, "serving", cap.serving, "others",
								      cap.others, "not_serving", why));
			nshort++;
		}
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
	int started = !c->opts->dry_run && (zdu_coord_journal_has(c, n->name, "flagged") ||
					    zdu_coord_journal_has(c, n->name, "upgraded"));
	char why[256];
	size_t i, b;

	for (i = 0; i < c->plan->nlbs; i++) {
		const struct zdu_lb_view *v = &c->lbs[i];

		if (!v->ok) {
			zdu_coord_fail(c, ZDU_COORD_REFUSED, "load balancer %s (%s) does not answer: %s",
				       c->plan->lbs[i].name, c->plan->lbs[i].runtime, v->err);
			return;
		}
		for (b = 0; b < c->plan->nbackends; b++) {
			const char *backend = c->plan->backends[b].backend;
			const struct zdu_lb_server *s;

			if (!n->servers[b])
				continue;
			if (!v->be[b].found) {
				zdu_coord_fail(c, ZDU_COORD_REFUSED,
					       "no backend %s on load balancer %s (%s); backends there: %s", backend,
					       c->plan->lbs[i].name, c->plan->lbs[i].runtime,
					       v->be[b].backends[0] ? v->be[b].backends : "none");
				return;
			}
			s = zdu_lb_find(&v->be[b], n->servers[b]);
			if (!s) {
				zdu_coord_fail(c, ZDU_COORD_REFUSED, "load balancer %s has no server %s in backend %s",
					       c->plan->lbs[i].name, n->servers[b], backend);
				return;
			}
			/* The weight to come back to: the configured one when
			 * HAProxy says it, else what it shows now. */
			c->weights[i * ZDU_LB_BACKENDS_MAX + b] = s->uweight >= 0 ? s->uweight : s->weight;
		}
	}
	if (!capacity_gate(c))
		return;
	if (!c->agent) {
		zdu_coord_fail(c, ZDU_COORD_REFUSED, "agent of %s (%s) does not answer: %s", n->name, n->agent,
			       c->agent_err);
		return;
	}
	if (!started && !zdu_node_services_ok(c->plan, c->node, c->agent, 0, why, sizeof(why))) {
		zdu_coord_fail(c, ZDU_COORD_REFUSED, "%s is not healthy before its upgrade (%s)", n->name, why);
		return;
	}
	{
		char w[512] = "";

		for (i = 0; i < c->plan->nlbs; i++)
			for (b = 0; b < c->plan->nbackends; b++) {
				size_t l = strlen(w);

				if (n->servers[b])
					snprintf(w + l, sizeof(w) - l, "%s%s%s%s %ld", l ? ", " : "", c->plan->lbs[i].name,
						 c->plan->nbackends > 1 ? "/" : "",
						 c->plan->nbackends > 1 ? c->plan->backends[b].backend : "",
						 c->weights[i * ZDU_LB_BACKENDS_MAX + b]);
			}
		zdu_coord_say(c, n->name, step_names[ZDU_STEP_PREFLIGHT], "ok",
			      "%zu load balancer%s answer, server %s present (weight %s), at least %d other%s ready; "
			      "agent replies \"%s\"",
			      c->plan->nlbs, c->plan->nlbs == 1 ? "" : "s", n->servers[0] ? n->servers[0] : n->server, w, c->plan->min_ready,
			      c->plan->min_ready == 1 ? "" : "s", agent_reply(c));
	}
	if (c->opts->dry_run) {
		char *cmd = expand(c, c->plan->upgrade_command, n);
		char at[512] = "", flag[128];

		for (b = 0; b < c->plan->nbackends; b++) {
			const struct zdu_plan_backend *be = &c->plan->backends[b];
			size_t l = strlen(at);

			if (!n->servers[b] || !be->expect_version[0])
				continue;
			if (c->plan->nbackends > 1)
				snprintf(at + l, sizeof(at) - l, "%s %s at %s", l ? "," : " with", be->service,
					 be->expect_version);
			else
				snprintf(at + l, sizeof(at) - l, " at %s", be->expect_version);
		}
		if (c->plan->flag_service[0])
			snprintf(flag, sizeof(flag), "service %s's flag", c->plan->flag_service);
		else
			snprintf(flag, sizeof(flag), "the node's flag%s", c->plan->nbackends > 1 ? " (every service)" : "");
		zdu_coord_say(c, n->name, "plan", "info",
			      "would: drain (%s), wait until drained (%d s), run: %s, wait until healthy%s (%d s), "
			      "undrain, wait until UP (%d s)",
			      flag, c->plan->drain_timeout_ms / 1000, cmd ? cmd : c->plan->upgrade_command, at,
			      c->plan->health_timeout_ms / 1000, c->plan->up_timeout_ms / 1000);
		free(cmd);
		advance(c);
		return;
	}
	if (zdu_coord_journal_has(c, n->name, "upgraded")) {
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
	uint64_t now = uv_now(&c->loop);
	int early = 0;

	if (!zdu_node_lbs_drained(c->plan, c->lbs, c->node))
		c->lbs_drained_at = 0;
	else if (!c->lbs_drained_at)
		c->lbs_drained_at = now;
	/* the settle time's job seen directly: from the round after the load
	 * balancers first showed it drained, an agent count 0 since before then */
	if (!done && c->lbs_drained_at && c->round_started > c->lbs_drained_at) {
		long long lbs_ms = (long long)(now - c->lbs_drained_at);

		early = zdu_node_drained_early(c->plan, c->lbs, c->node, c->agent,
					       lbs_ms < c->plan->poll_ms ? lbs_ms : c->plan->poll_ms,
					       (long long)(c->round_started - c->lbs_drained_at));
	}
	if (!zdu_coord_waited(c, done || early, state, "not drained", c->plan->drain_timeout_ms))
		return;
	if (early)
		zdu_coord_say(c, n->name, step_names[c->step], "ok",
			      "drained: %s (every load balancer has shown no session for %.2f s, and the agent's "
			      "count since then has stayed 0: the rest of its settle time is not needed)",
			      state, (double)(now - c->lbs_drained_at) / 1000.0);
	else
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
		snprintf(why, sizeof(why), "waiting for a probe of %s newer than the upgrade",
			 c->plan->nbackends > 1 ? "every service" : c->plan->flag_service[0] ? c->plan->flag_service : "nova-api");
	else if (c->agent)
		done = zdu_node_services_ok(c->plan, c->node, c->agent, 1, why, sizeof(why));
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

static void push_state(struct zdu_coord *c, const char *state);

static void wait_up(struct zdu_coord *c)
{
	const struct zdu_plan_node *n = cur(c);
	char state[512] = "";
	int done = zdu_node_back(c->plan, c->lbs, c->node, c->weights, state, sizeof(state));

	/* HAProxy's own check may have risen since the flag was cleared */
	if (!done)
		push_state(c, NULL);
	if (!zdu_coord_waited(c, done, state, "not UP with at least its weight from before", c->plan->up_timeout_ms))
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

/* push_state: what a load balancer answered to the set server request.
 * HAProxy answers nothing when it applied it; anything else (a stats socket
 * without level admin: "Permission denied") is said once per load balancer,
 * and its agent check then does it, as without push_state. */
static void push_refusal(struct zdu_coord *c, size_t i, int ok, const char *answer, size_t len, const char *err)
{
	char text[256];
	size_t k = 0;

	while (len > 0 && (answer[len - 1] == '\n' || answer[len - 1] == ' '))
		len--;
	if (ok == 0 && len == 0)
		return;
	if (c->finished || !c->push_refused || c->push_refused[i])
		return;
	c->push_refused[i] = 1;
	if (ok < 0)
		snprintf(text, sizeof(text), "%s", err ? err : "no answer");
	else
		for (k = 0; k < len && k < sizeof(text) - 1; k++)
			text[k] = answer[k] == '\n' ? ' ' : answer[k];
	if (ok == 0)
		text[k] = '\0';
	zdu_coord_say(c, NULL, NULL, "warn",
		      "load balancer %s did not take set server (push_state): %.200s; its agent check applies the "
		      "agent's reply instead (the stats socket needs level admin for push_state)",
		      c->plan->lbs[i].name, text);
}

/* push_state: a load balancer answered. Once every one has, a wait that
 * was entered meanwhile starts its first poll round: it sees what they set
 * instead of a state from before, and ends a poll interval sooner. */
static void on_pushed(struct zdu_coord *c, size_t i, int ok, const char *answer, size_t len, const char *err)
{
	push_refusal(c, i, ok, answer, len, err);
	if (c->push_pending > 0)
		c->push_pending--;
	if (c->push_pending == 0 && c->round_after_push && !c->finished) {
		c->round_after_push = 0;
		zdu_coord_round(c);
	}
}

/* The rounds of a wait that follows push_state (wait-drained, wait-up): as
 * zdu_coord_wait_rounds, the first round once the pushes are answered (each
 * within timeouts.request_ms). */
static void wait_rounds_after_push(struct zdu_coord *c, int limit_ms)
{
	if (c->push_pending == 0) {
		zdu_coord_wait_rounds(c, limit_ms);
		return;
	}
	c->deadline = uv_now(&c->loop) + (uint64_t)limit_ms;
	c->round_after_push = 1;
}

/* push_state: the node's servers on every load balancer set to the state
 * its agent now replies (drain, ready), in one runtime request each, so
 * they take it at once instead of at their next agent check. The agent's
 * reply and the request say the same: whichever a load balancer applies
 * last, the server ends the same; a state the agent does not reply (another
 * flag holds the service) is not sent. Made ready, a server its agent check
 * took DOWN during the upgrade is also told the agent's up, once HAProxy's
 * own check has risen (zdu_lb_agent_up_due); state NULL, in wait-up rounds:
 * only that. */
static void push_state(struct zdu_coord *c, const char *state)
{
	const struct zdu_plan_node *n = cur(c);
	char cmd[4096];
	size_t b, i, len;

	if (!c->plan->push_state || c->opts->dry_run)
		return;
	for (i = 0; i < c->plan->nlbs; i++) {
		if (c->push_refused && c->push_refused[i])
			continue;
		cmd[0] = '\0';
		len = 0;
		for (b = 0; b < c->plan->nbackends && len < sizeof(cmd); b++) {
			const char *be = c->plan->backends[b].backend;

			/* only what the agent itself now replies (another flag may
			 * still hold the service drained) */
			if (!n->servers[b] ||
			    (state && !zdu_agent_replies(c->agent, c->plan->backends[b].service, NULL, state)))
				continue;
			if (state)
				len += (size_t)snprintf(cmd + len, sizeof(cmd) - len, "%sset server %s/%s state %s",
							len ? "; " : "", be, n->servers[b], state);
			if ((!state || strcmp(state, "ready") == 0) && len < sizeof(cmd) &&
			    zdu_lb_agent_up_due(c->plan, c->lbs, i, c->node, b, c->agent))
				len += (size_t)snprintf(cmd + len, sizeof(cmd) - len, "%sset server %s/%s agent up",
							len ? "; " : "", be, n->servers[b]);
		}
		if (len >= sizeof(cmd))
			zdu_coord_say(c, n->name, NULL, "warn",
				      "push_state: the request to %s would be over %zu bytes (%zu backends): not sent; "
				      "its agent checks apply the state instead",
				      c->plan->lbs[i].name, sizeof(cmd) - 1, c->plan->nbackends);
		else if (len && zdu_coord_lb_request(c, i, cmd, on_pushed) == 0)
			c->push_pending++;
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
	push_state(c, setting ? "drain" : "ready");
	enter(c, setting ? ZDU_STEP_WAIT_DRAINED : ZDU_STEP_WAIT_UP);
}

/* Sets (with its mode and reason) or clears the node's flag through its
 * agent; on_flag_set() goes on. */
static void flag_call(struct zdu_coord *c, enum zdu_link_op op, enum zdu_flag_mode mode, const char *reason)
{
	if (zdu_link_call(zdu_coord_link(c, c->node), op, c->plan->flag_service, mode, reason, on_flag_set, c) < 0)
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

/* {node} and {server} in the template become the node's names; {service}
 * the pass's service, {services} the node's services in the pass. */
static char *expand(const struct zdu_coord *c, const char *tmpl, const struct zdu_plan_node *n)
{
	size_t cap = strlen(tmpl) + 1, len = 0, b;
	char *out = malloc(cap);
	const char *p = tmpl;
	char services[1100] = "";

	if (!out)
		return NULL;
	for (b = 0; b < c->plan->nbackends; b++) {
		size_t l = strlen(services);

		if (n->servers[b])
			snprintf(services + l, sizeof(services) - l, "%s%s", l ? " " : "", c->plan->backends[b].service);
	}
	while (*p) {
		const char *val = NULL;
		size_t skip = 0, vlen;

		if (strncmp(p, "{node}", 6) == 0) {
			val = n->name;
			skip = 6;
		} else if (strncmp(p, "{server}", 8) == 0) {
			val = n->servers[0] ? n->servers[0] : n->server;
			skip = 8;
		} else if (strncmp(p, "{services}", 10) == 0) {
			val = services;
			skip = 10;
		} else if (strncmp(p, "{service}", 9) == 0) {
			val = c->plan->flag_service;
			skip = 9;
		}
		vlen = val ? strlen(val) : 1;
		if (len + vlen + 1 > cap) {
			char *grown;

			cap = (len + vlen + 1) * 2;
			grown = realloc(out, cap);
			if (!grown) {
				free(out);
				return NULL;
			}
			out = grown;
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
			      c->plan->nnodes, n->servers[0] ? n->servers[0] : n->server, n->agent);
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
		c->lbs_drained_at = 0;
		wait_rounds_after_push(c, c->plan->drain_timeout_ms);
		break;
	case ZDU_STEP_UPGRADE: {
		char *cmd = expand(c, c->plan->upgrade_command, n);
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
		for (size_t b = 0; b < ZDU_LB_BACKENDS_MAX; b++)
			c->probes_base[b] = -1;
		uv_update_time(&c->loop); /* not before the command's end */
		c->healthy_from = uv_now(&c->loop);
		zdu_coord_wait_rounds(c, c->plan->health_timeout_ms);
		break;
	case ZDU_STEP_CLEAR_FLAG:
		flag_call(c, ZDU_LINK_CLEAR_FLAG, ZDU_FLAG_OFF, NULL);
		break;
	case ZDU_STEP_WAIT_UP:
		wait_rounds_after_push(c, c->plan->up_timeout_ms);
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
	c->plan = c->whole = plan;
	c->opts = opts;
	c->lock_fd = -1;
	uv_loop_init(&c->loop);
	c->lbs = calloc(plan->nlbs, sizeof(*c->lbs));
	c->weights = calloc(plan->nlbs * ZDU_LB_BACKENDS_MAX, sizeof(*c->weights));
	c->links = calloc(plan->nnodes, sizeof(*c->links));
	c->order = calloc(plan->nnodes, sizeof(*c->order));
	c->sw_rtt_ms = calloc(plan->nlbs, sizeof(*c->sw_rtt_ms));
	c->stages = calloc(4 + 3 * (plan->nservices + 1), sizeof(*c->stages));
	c->push_refused = calloc(plan->nlbs, sizeof(*c->push_refused));
	return c;
}

static void add_stage(struct zdu_coord *c, const struct zdu_plan *p, enum zdu_coord_step s,
		      const struct zdu_plan_service *sv)
{
	c->stages[c->nstages++] = (struct zdu_coord_stage){ p, s, sv };
}

/* The plan's before_command; each pass between its service's window
 * commands (unit = "service"), or every service's before them all and
 * after (unit = "node"); the plan's after_command. */
static void plan_stages(struct zdu_coord *c)
{
	const struct zdu_plan *p = c->whole;
	size_t i;

	add_stage(c, p, ZDU_STEP_BEFORE, NULL);
	if (!p->npasses) {
		add_stage(c, p, ZDU_STEP_PREFLIGHT, NULL);
	} else if (p->unit == ZDU_UNIT_SERVICE) {
		for (i = 0; i < p->npasses; i++) {
			add_stage(c, &p->passes[i], ZDU_STEP_BEFORE, NULL);
			add_stage(c, &p->passes[i], ZDU_STEP_PREFLIGHT, NULL);
			add_stage(c, &p->passes[i], ZDU_STEP_AFTER, NULL);
		}
	} else {
		for (i = 0; i < p->nservices; i++)
			add_stage(c, p, ZDU_STEP_BEFORE, &p->services[i]);
		add_stage(c, &p->passes[0], ZDU_STEP_PREFLIGHT, NULL);
		for (i = 0; i < p->nservices; i++)
			add_stage(c, p, ZDU_STEP_AFTER, &p->services[i]);
	}
	add_stage(c, p, ZDU_STEP_AFTER, NULL);
}

static void plan_order(struct zdu_coord *c);

/* A pass begins: its order, where a resumed rollout left it, a line
 * saying what it rolls when the plan has several services. */
static void pass_begin(struct zdu_coord *c)
{
	const struct zdu_plan *p = c->plan;

	plan_order(c);
	c->pos = 0;
	c->node = 0;
	c->switched = c->opts->dry_run ? 0 : zdu_coord_journal_has(c, "", "switched");
	if (c->whole->nservices) {
		char names[512] = "";
		size_t b;

		for (b = 0; b < p->nbackends; b++) {
			size_t l = strlen(names);

			snprintf(names + l, sizeof(names) - l, "%s%s (backend %s%s%s)", b ? ", " : "",
				 p->backends[b].service, p->backends[b].backend,
				 p->backends[b].expect_version[0] ? ", expecting " : "", p->backends[b].expect_version);
		}
		zdu_coord_say(c, NULL, NULL, "info", "%s %s: %s, %zu node%s%s", p->service ? "service" : "every node's services:",
			      p->service ? p->service->name : "", cutover(c) ? "cutover" : "rolling", p->nnodes,
			      p->nnodes == 1 ? "" : "s", p->service ? "" : names);
		if (p->service)
			zdu_coord_say(c, NULL, NULL, "info", "service %s: %s", p->service->name, names);
	}
	zdu_coord_begin_node(c);
}

/* The stage in progress, or the end. */
static void run_stage(struct zdu_coord *c)
{
	const struct zdu_coord_stage *st;

	if (c->stage >= c->nstages) {
		rollout_done(c);
		return;
	}
	st = &c->stages[c->stage];
	c->plan = st->plan;
	c->say_service = st->service ? st->service->name : NULL;
	if (st->step == ZDU_STEP_BEFORE || st->step == ZDU_STEP_AFTER) {
		if (!st->service && c->plan->service)
			c->say_service = c->plan->service->name;
		window(c, st->step, st->service, next_stage);
	} else {
		pass_begin(c);
	}
}

static void next_stage(struct zdu_coord *c)
{
	c->stage++;
	c->say_service = NULL;
	run_stage(c);
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
	const struct zdu_plan *plan = c->whole;
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

	if (plan->nservices)
		zdu_coord_say(c, NULL, NULL, "start", "%s %s (unit %s): %zu service%s, %zu node%s, %zu load balancer%s",
			      opts->dry_run ? "dry run of" : (opts->resume ? "resuming" : "rollout of"), opts->plan_path,
			      plan->unit == ZDU_UNIT_NODE ? "node" : "service", plan->nservices,
			      plan->nservices == 1 ? "" : "s", plan->nnodes, plan->nnodes == 1 ? "" : "s", plan->nlbs,
			      plan->nlbs == 1 ? "" : "s");
	else
		zdu_coord_say(c, NULL, NULL, "start", "%s %s (%s): backend %s, %zu node%s, %zu load balancer%s%s%s",
			      opts->dry_run ? "dry run of" : (opts->resume ? "resuming" : "rollout of"), opts->plan_path,
			      cutover(c) ? "cutover" : "rolling", plan->backend, plan->nnodes,
			      plan->nnodes == 1 ? "" : "s", plan->nlbs, plan->nlbs == 1 ? "" : "s",
			      plan->expect_version[0] ? ", expecting nova-api at least " : "", plan->expect_version);
	plan_stages(c);
	run_stage(c);
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

	c->plan = c->whole;
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
		for (size_t b = 0; b < ZDU_LB_BACKENDS_MAX; b++)
			zdu_lb_backend_free(&c->lbs[i].be[b]);
	json_decref(c->agent);
	free(c->links);
	free(c->order);
	free(c->sw_rtt_ms);
	free(c->lbs);
	free(c->weights);
	free(c->stages);
	free(c->push_refused);
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
	if (c->lbs && c->weights && c->links && c->order && c->sw_rtt_ms && c->stages && c->push_refused) {
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
