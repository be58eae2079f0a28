#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "zdu/coord_decide.h"
#include "zdu/haproxy.h"
#include "zdu/nova.h"
#include "zdu/reply.h"

/* Appends to state; keeps what fits, always terminated. */
static void add(char *state, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void add(char *state, size_t size, const char *fmt, ...)
{
	size_t len = strlen(state);
	va_list ap;

	if (len + 1 >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(state + len, size - len, fmt, ap);
	va_end(ap);
}

/* The server on load balancer i, or NULL after noting in state why it
 * cannot be seen (no answer, no such backend, no such server). */
static const struct zdu_lb_server *lb_server(const struct zdu_plan *plan, const struct zdu_lb_view *lbs,
					     size_t i, const char *server, char *state, size_t size)
{
	const struct zdu_lb_view *v = &lbs[i];
	const struct zdu_lb_server *s = v->ok ? zdu_lb_find(&v->be, server) : NULL;

	if (!s)
		add(state, size, "%s/%s: %s%s; ", plan->lbs[i].name, server,
		    !v->ok ? v->err : v->be.found ? "missing" : "no backend ",
		    v->ok && !v->be.found ? plan->backend : "");
	return s;
}

static const char *agent_str(const json_t *agent, const char *obj, const char *key)
{
	const json_t *o = obj ? json_object_get(agent, obj) : agent;
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : "";
}

/* The node's server on every load balancer: look() says whether it is as
 * wanted and appends how it stands; one that cannot be seen is not. */
static int every_lb(const struct zdu_plan *plan, const struct zdu_lb_view *lbs, size_t node,
		    int (*look)(const struct zdu_lb_server *s, size_t i, const void *arg, char *state, size_t size),
		    const void *arg, char *state, size_t size)
{
	int all = 1;
	size_t i;

	for (i = 0; i < plan->nlbs; i++) {
		const struct zdu_lb_server *s = lb_server(plan, lbs, i, plan->nodes[node].server, state, size);

		if (!s || !look(s, i, arg, state, size))
			all = 0;
	}
	return all;
}

static int look_drained(const struct zdu_lb_server *s, size_t i, const void *arg, char *state, size_t size)
{
	const struct zdu_plan *plan = arg;

	add(state, size, "%s: %s scur=%ld; ", plan->lbs[i].name, s->status, s->scur);
	return zdu_lb_server_drained(s) && s->scur == 0;
}

int zdu_node_drained(const struct zdu_plan *plan, const struct zdu_lb_view *lbs, size_t node,
		     const json_t *agent, const char *agent_err, char *state, size_t size)
{
	const json_t *dr = json_object_get(agent, "drain");
	int all = every_lb(plan, lbs, node, look_drained, plan, state, size);

	if (!agent) {
		add(state, size, "agent: %s", agent_err ? agent_err : "");
		return 0;
	}
	if (!json_is_object(dr)) {
		add(state, size, "agent: no drain detection");
		return all;
	}
	add(state, size, "agent: %lld connection(s), %s",
	    (long long)json_integer_value(json_object_get(dr, "connections")),
	    json_is_true(json_object_get(dr, "drained")) ? "drained" : "settling");
	return all && json_is_true(json_object_get(dr, "drained"));
}

struct back {
	const struct zdu_plan *plan;
	const long *weights;
};

static int look_back(const struct zdu_lb_server *s, size_t i, const void *arg, char *state, size_t size)
{
	const struct back *b = arg;

	add(state, size, "%s: %s weight %ld/%ld; ", b->plan->lbs[i].name, s->status, s->weight, b->weights[i]);
	return zdu_lb_server_up(s) && s->weight == b->weights[i];
}

int zdu_node_back(const struct zdu_plan *plan, const struct zdu_lb_view *lbs, size_t node,
		  const long *weights, char *state, size_t size)
{
	const struct back b = { plan, weights };

	return every_lb(plan, lbs, node, look_back, &b, state, size);
}

int zdu_agent_healthy(const json_t *agent)
{
	const char *h = agent_str(agent, "health", "state");

	return strcmp(h, "up") == 0 || strcmp(h, "unchecked") == 0;
}

int zdu_agent_version_ok(const struct zdu_plan *plan, const json_t *agent, char *why, size_t size)
{
	const char *v = agent_str(agent, "health", "version");
	int ok, cmp;

	if (!plan->expect_version[0])
		return 1;
	cmp = zdu_microversion_cmp(v, plan->expect_version, &ok);
	if (!ok || cmp < 0) {
		snprintf(why, size, "nova-api reports version %s, want at least %s", v[0] ? v : "(none)",
			 plan->expect_version);
		return 0;
	}
	return 1;
}

/* Ready for the runtime switch, server by server (see the header). */
static int server_ready_to_switch(const struct zdu_lb_server *s, int first)
{
	return zdu_last_agt_is_lb_mode(s->last_agt) &&
	       (!first || strstr(s->status, "DRAIN") != NULL || zdu_lb_server_up(s));
}

static int server_switched(const struct zdu_lb_server *s, int first)
{
	return first ? zdu_lb_server_up(s) : zdu_lb_server_drained(s);
}

/* Every server of the plan on every load balancer passes good; state gets
 * those that do not. */
static int every_server(const struct zdu_plan *plan, const struct zdu_lb_view *lbs,
			int (*good)(const struct zdu_lb_server *s, int first), char *state, size_t size)
{
	int all = 1;
	size_t i, k;

	for (i = 0; i < plan->nlbs; i++) {
		for (k = 0; k < plan->nnodes; k++) {
			const struct zdu_plan_node *n = &plan->nodes[k];
			const struct zdu_lb_server *s = lb_server(plan, lbs, i, n->server, state, size);

			if (!s) {
				all = 0;
			} else if (!good(s, n->first_group)) {
				all = 0;
				add(state, size, "%s/%s: %s (%s); ", plan->lbs[i].name, n->server, s->status,
				    s->last_agt);
			}
		}
	}
	return all;
}

int zdu_lbs_ready_to_switch(const struct zdu_plan *plan, const struct zdu_lb_view *lbs, char *state,
			    size_t size)
{
	return every_server(plan, lbs, server_ready_to_switch, state, size);
}

int zdu_lbs_switched(const struct zdu_plan *plan, const struct zdu_lb_view *lbs, char *state, size_t size)
{
	return every_server(plan, lbs, server_switched, state, size);
}
