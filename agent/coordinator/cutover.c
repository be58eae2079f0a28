/* The cutover's switch, between its two phases (the first group upgraded
 * out of service, then the old group):
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/coord_decide.h"
#include "zdu/coordinator-int.h"
#include "zdu/coordinator.h"
#include "zdu/haproxy.h"
#include "zdu/link.h"
#include "zdu/plan-t.h"
#include "zdu/reply.h"

#define SWITCH (zdu_coord_step_name(ZDU_STEP_SWITCH))

static void switch_step(struct zdu_coord *c);

static int in_first(const struct zdu_coord *c, size_t node)
{
	return c->plan->nodes[node].first_group;
}

const char *zdu_cutover_next_after_fail(const struct zdu_coord *c)
{
	if (c->switched || c->sw_step >= ZDU_SW_FINAL_FLAGS)
		return "the first group serves; continue with --resume";
	if (c->sw_failed_confirm)
		return "the runtime switch was sent but not confirmed everywhere; the old group was made ready "
		       "again where the load balancer answered: check show stat, fix the cause, then continue "
		       "with --resume, which redoes the switch";
	return "the runtime switch was not sent: the old group still serves; agents may be in flag mode lb "
	       "(they then leave ready/drain to the load balancers): continue with --resume, which redoes "
	       "the switch";
}

const char *zdu_cutover_next_after_signal(const struct zdu_coord *c)
{
	return c->sw_step >= ZDU_SW_CONFIRM ? "the runtime switch was sent: check show stat on every load "
					      "balancer, then continue with --resume, which redoes the switch"
					    : "the runtime switch was not sent: the old group still serves; continue "
					      "with --resume";
}

/* One runtime request for a group of servers: "PREFIX backend/server
 * SUFFIX" per server of the group, joined with "; " (HAProxy applies them
 * in order). Appends to *cmd (malloc'd, grown as needed); -1 when out of
 * memory. */
static int group_cmd(struct zdu_coord *c, char **cmd, int first_group, const char *prefix, const char *suffix)
{
	size_t len = *cmd ? strlen(*cmd) : 0, i, k;

	/* every backend of the pass: with unit = "node" the switch of every
	 * service goes out in this one request */
	for (k = 0; k < c->plan->nbackends; k++) {
		const char *backend = c->plan->backends[k].backend;

		for (i = 0; i < c->plan->nnodes; i++) {
			const char *server = c->plan->nodes[i].servers[k];
			size_t need;
			char *b;

			if (!server || in_first(c, i) != first_group)
				continue;
			need = len + strlen(prefix) + strlen(backend) + strlen(server) + strlen(suffix) + 4;
			b = realloc(*cmd, need);
			if (!b)
				return -1;
			*cmd = b;
			len += (size_t)snprintf(b + len, need - len, "%s%s%s/%s%s", len ? "; " : "", prefix, backend,
						server, suffix);
		}
	}
	if (!*cmd && !(*cmd = calloc(1, 1)))
		return -1;
	return 0;
}

/* The same request to every load balancer; done runs once per answer, with
 * c->pending counting those still to come. Returns how many were sent. */
static int send_all(struct zdu_coord *c, const char *cmd, zdu_coord_lb_cb done)
{
	size_t i;

	c->pending = (int)c->plan->nlbs;
	for (i = 0; i < c->plan->nlbs; i++)
		if (zdu_coord_lb_request(c, i, cmd, done) < 0)
			c->pending--;
	return c->pending;
}

static void sw_status_done(json_t *status, const char *err, void *data)
{
	struct zdu_coord *c = data;
	const struct zdu_plan_node *n = &c->plan->nodes[c->order[c->sw_i]];
	char why[256] = "";

	if (c->finished)
		return;
	json_decref(c->agent);
	c->agent = status ? json_incref(status) : NULL;
	if (!status) {
		zdu_coord_fail(c, ZDU_COORD_REFUSED, "switch: agent of %s does not answer: %s", n->name, err);
		return;
	}
	if (!zdu_node_services_ok(c->plan, c->order[c->sw_i], c->agent, 1, why, sizeof(why))) {
		zdu_coord_fail(c, ZDU_COORD_REFUSED, "switch: %s is not ready to serve: %s", n->name, why);
		return;
	}
	c->sw_i++;
	switch_step(c);
}

/* The reply of the node's services the pass touches: the first that is not
 * of mode lb, else the first (NULL when none says). */
static const char *lb_reply(const struct zdu_coord *c, const json_t *status)
{
	const char *first = NULL;
	size_t b;

	for (b = 0; b < c->plan->nbackends; b++) {
		const json_t *r = json_object_get(zdu_agent_service(status, c->plan->backends[b].service), "reply");
		const char *reply = json_is_string(r) ? json_string_value(r) : NULL;

		if (!c->plan->nodes[c->order[c->sw_i]].servers[b] || !reply)
			continue;
		if (!zdu_reply_is_lb_mode(reply))
			return reply;
		if (!first)
			first = reply;
	}
	return first;
}

static void sw_flag_done(json_t *status, const char *err, void *data)
{
	struct zdu_coord *c = data;
	const struct zdu_plan_node *n = &c->plan->nodes[c->order[c->sw_i]];
	const char *reply;

	if (c->finished)
		return;
	if (!status) {
		zdu_coord_fail(c, ZDU_COORD_FAILED, "switch: cannot set the flag of %s: %s", n->name, err);
		return;
	}
	reply = lb_reply(c, status);
	/* Mode lb asked for, but the agent still asserts ready/drain/maint
	 * (a local flag file wins over etcd): it would undo the switch. */
	if (c->sw_step == ZDU_SW_LB_FLAGS && reply && !zdu_reply_is_lb_mode(reply)) {
		zdu_coord_fail(c, ZDU_COORD_FAILED,
			       "switch: the flag of %s is set to mode lb, but its agent replies \"%s\", not a reply "
			       "of mode lb (no ready/drain/maint, text opening with \"" ZDU_REPLY_LB_WORD "\"): is "
			       "a local flag file set on the node (it wins over etcd), or is the agent older than "
			       "the coordinator?", n->name, reply);
		return;
	}
	zdu_coord_say(c, n->name, SWITCH, "ok", "agent replies \"%s\"", reply ? reply : "");
	c->sw_i++;
	switch_step(c);
}

static void sw_runtime_done(struct zdu_coord *c, size_t i, int ok, const char *answer, size_t len,
			    const char *err)
{
	char times[256] = "";
	size_t k;

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
			zdu_coord_fail(c, ZDU_COORD_FAILED, "switch: load balancer %s refused: %s",
				       c->plan->lbs[i].name, c->lbs[i].err);
			return;
		}
	}
	for (i = 0; i < c->plan->nlbs; i++) {
		size_t l = strlen(times);

		snprintf(times + l, sizeof(times) - l, "%s%s %.2f ms", i ? ", " : "", c->plan->lbs[i].name,
			 c->sw_rtt_ms[i]);
	}
	zdu_coord_say(c, NULL, SWITCH, "ok",
		      "runtime switch applied (request round trip: %s); on each load balancer both groups were "
		      "ready at most that long",
		      times);
	c->sw_step = ZDU_SW_CONFIRM;
	c->round_agent = 0;
	zdu_coord_wait_rounds(c, c->plan->switch_timeout_ms);
}

static void sw_send_runtime(struct zdu_coord *c)
{
	char *cmd = NULL;
	size_t i;

	/* Ready before drain: never a moment with nobody serving. */
	if (group_cmd(c, &cmd, 1, "set server ", " state ready") < 0 ||
	    group_cmd(c, &cmd, 0, "set server ", " state drain") < 0) {
		free(cmd);
		zdu_coord_fail(c, ZDU_COORD_FAILED, "out of memory");
		return;
	}
	zdu_coord_say(c, NULL, SWITCH, "start", "on every load balancer: %s", cmd);
	c->pending = (int)c->plan->nlbs;
	c->sw_sent_ms = uv_hrtime();
	for (i = 0; i < c->plan->nlbs; i++) {
		if (zdu_coord_lb_request(c, i, cmd, sw_runtime_done) < 0) {
			free(cmd);
			zdu_coord_fail(c, ZDU_COORD_FAILED, "switch: cannot send to %s", c->plan->lbs[i].name);
			return;
		}
	}
	free(cmd);
}

/* The switch is done: phase 2, the old group, node by node. */
static void switched(struct zdu_coord *c)
{
	c->switched = 1;
	zdu_coord_begin_node(c);
}

/* The answers of a best-effort request to every load balancer: after the
 * grace period, the old group's sessions ended (then phase 2); after a
 * switch that was not confirmed, the old group put back (then the failure
 * says how that went). */
static void sw_best_effort_done(struct zdu_coord *c, size_t i, int ok, const char *answer, size_t len,
				const char *err)
{
	int shutdown = c->sw_step == ZDU_SW_SHUTDOWN;

	(void)i;
	(void)answer;
	(void)len;
	if (ok < 0 && shutdown)
		zdu_coord_say(c, NULL, SWITCH, "warn", "shutdown sessions: %s", err);
	else if (ok < 0)
		snprintf(c->sw_restore_err, sizeof(c->sw_restore_err), "%s", err);
	if (--c->pending > 0)
		return;
	if (shutdown && !c->finished)
		switched(c);
	else if (!shutdown && c->sw_restore_err[0])
		zdu_coord_fail(c, ZDU_COORD_TIMEOUT, "%s; putting the old group back failed too: %s", c->sw_fail_msg,
			       c->sw_restore_err);
	else if (!shutdown)
		zdu_coord_fail(c, ZDU_COORD_TIMEOUT, "%s; the old group was put back in service (ready)",
			       c->sw_fail_msg);
}

static void sw_shutdown(uv_timer_t *t)
{
	struct zdu_coord *c = t->data;
	char *cmd = NULL;

	if (group_cmd(c, &cmd, 0, "shutdown sessions server ", "") < 0) {
		free(cmd);
		zdu_coord_fail(c, ZDU_COORD_FAILED, "out of memory");
		return;
	}
	zdu_coord_say(c, NULL, SWITCH, "start", "grace period over: %s", cmd);
	if (send_all(c, cmd, sw_best_effort_done) == 0)
		switched(c);
	free(cmd);
}

/* The next agent of the switch's current step, or the step after it. */
static void switch_step(struct zdu_coord *c)
{
	switch (c->sw_step) {
	case ZDU_SW_CHECK:
		if (c->sw_i < c->nfirst) {
			c->node = c->order[c->sw_i];
			if (zdu_link_call(zdu_coord_link(c, c->node), ZDU_LINK_STATUS, NULL, ZDU_FLAG_OFF, NULL,
					  sw_status_done, c) < 0)
				zdu_coord_fail(c, ZDU_COORD_FAILED, "switch: cannot reach an agent");
			return;
		}
		c->sw_step = ZDU_SW_LB_FLAGS;
		c->sw_i = 0;
		/* fall through */
	case ZDU_SW_LB_FLAGS:
		if (c->sw_i < c->plan->nnodes) {
			c->node = c->order[c->sw_i];
			if (zdu_link_call(zdu_coord_link(c, c->node), ZDU_LINK_SET_FLAG, c->plan->flag_service,
					  ZDU_FLAG_LB, "zdu-coordinator: cutover", sw_flag_done, c) < 0)
				zdu_coord_fail(c, ZDU_COORD_FAILED, "switch: cannot reach an agent");
			return;
		}
		c->sw_step = ZDU_SW_WAIT_LB_MANAGED;
		c->round_agent = 0;
		zdu_coord_wait_rounds(c, c->plan->switch_timeout_ms);
		return;
	case ZDU_SW_RUNTIME:
		sw_send_runtime(c);
		return;
	case ZDU_SW_FINAL_FLAGS:
		if (c->sw_i < c->plan->nnodes) {
			size_t n = c->order[c->sw_i];

			c->node = n;
			if (zdu_link_call(zdu_coord_link(c, n), in_first(c, n) ? ZDU_LINK_CLEAR_FLAG : ZDU_LINK_SET_FLAG,
					  c->plan->flag_service, ZDU_FLAG_DRAIN, "zdu-coordinator: old release, after cutover",
					  sw_flag_done, c) < 0)
				zdu_coord_fail(c, ZDU_COORD_FAILED, "switch: cannot reach an agent");
			return;
		}
		zdu_coord_journal(c, "", "switched");
		zdu_coord_say(c, NULL, SWITCH, "ok", "switch done: the first group serves, the rest drains");
		if (c->plan->tcp_grace_ms >= 0) {
			c->sw_step = ZDU_SW_SHUTDOWN;
			zdu_coord_say(c, NULL, SWITCH, "wait",
				      "ending the old group's sessions in %d ms (cutover.tcp_grace_ms)",
				      c->plan->tcp_grace_ms);
			uv_timer_start(&c->timer, sw_shutdown, (uint64_t)c->plan->tcp_grace_ms, 0);
			return;
		}
		switched(c);
		return;
	default:
		return;
	}
}

/* The switch was sent but not confirmed: put the old group back in
 * service on every load balancer (ready), so that whatever the first group
 * does, somebody serves. Best effort; the failure says what happened. */
static void sw_restore_old(struct zdu_coord *c)
{
	char *cmd = NULL;

	if (group_cmd(c, &cmd, 0, "set server ", " state ready") < 0) {
		free(cmd);
		zdu_coord_fail(c, ZDU_COORD_TIMEOUT, "%s", c->sw_fail_msg);
		return;
	}
	zdu_coord_say(c, NULL, SWITCH, "start", "switch not confirmed: on every load balancer: %s", cmd);
	c->sw_restore_err[0] = '\0';
	if (send_all(c, cmd, sw_best_effort_done) == 0)
		zdu_coord_fail(c, ZDU_COORD_TIMEOUT, "%s; putting the old group back could not be sent",
			       c->sw_fail_msg);
	free(cmd);
}

/* Poll rounds of the switch: load balancers only. */
void zdu_cutover_evaluate(struct zdu_coord *c)
{
	int waiting_lb = c->sw_step == ZDU_SW_WAIT_LB_MANAGED;
	char state[512] = "";
	int done = waiting_lb ? zdu_lbs_ready_to_switch(c->plan, c->lbs, state, sizeof(state))
			      : zdu_lbs_switched(c->plan, c->lbs, state, sizeof(state));

	if (!done && !waiting_lb && zdu_coord_timed_out(c)) {
		c->sw_failed_confirm = 1;
		snprintf(c->sw_fail_msg, sizeof(c->sw_fail_msg), "switch: not confirmed after %.1f s: %s",
			 c->plan->switch_timeout_ms / 1000.0, state);
		sw_restore_old(c);
		return;
	}
	if (!zdu_coord_waited(c, done, state,
			      "switch: not every agent in lb mode with the first group passing its checks",
			      c->plan->switch_timeout_ms))
		return;
	if (waiting_lb) {
		zdu_coord_say(c, NULL, SWITCH, "ok",
			      "every load balancer has an lb-mode reply from every agent, and the first group "
			      "passes its checks");
		c->sw_step = ZDU_SW_RUNTIME;
	} else {
		zdu_coord_say(c, NULL, SWITCH, "ok",
			      "confirmed on every load balancer: first group UP, the rest DRAIN");
		c->sw_step = ZDU_SW_FINAL_FLAGS;
		c->sw_i = 0;
	}
	switch_step(c);
}

void zdu_cutover_start(struct zdu_coord *c)
{
	c->step = ZDU_STEP_SWITCH;
	c->sw_step = ZDU_SW_CHECK;
	c->sw_i = 0;
	c->last_progress[0] = '\0';
	zdu_coord_say(c, NULL, SWITCH, "start",
		      "first group upgraded and healthy; switching traffic to it on every load balancer");
	switch_step(c);
}
