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

/* The server on load balancer i in the pass's backend b, or NULL after
 * noting in state why it cannot be seen (no answer, no such backend, no
 * such server). */
static const struct zdu_lb_server *lb_server(const struct zdu_plan *plan, const struct zdu_lb_view *lbs,
					     size_t i, size_t b, const char *server, char *state, size_t size)
{
	const struct zdu_lb_view *v = &lbs[i];
	const struct zdu_lb_server *s = v->ok ? zdu_lb_find(&v->be[b], server) : NULL;

	if (!s)
		add(state, size, "%s/%s%s%s: %s%s; ", plan->lbs[i].name, plan->nbackends > 1 ? plan->backends[b].backend : "",
		    plan->nbackends > 1 ? "/" : "", server, !v->ok ? v->err : v->be[b].found ? "missing" : "no backend ",
		    v->ok && !v->be[b].found ? plan->backends[b].backend : "");
	return s;
}

static const char *agent_str(const json_t *agent, const char *obj, const char *key)
{
	const json_t *o = obj ? json_object_get(agent, obj) : agent;
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : "";
}

const json_t *zdu_agent_service(const json_t *agent, const char *service)
{
	const json_t *list = json_object_get(agent, "services"), *e;
	size_t i;

	if (!service || !service[0] || !json_is_object(agent))
		return agent;
	json_array_foreach(list, i, e) {
		const json_t *n = json_object_get(e, "name");

		if (json_is_string(n) && strcmp(json_string_value(n), service) == 0)
			return e;
	}
	return NULL;
}

/* The node's server in every backend it serves on every load balancer:
 * look() says whether it is as wanted and appends how it stands; one that
 * cannot be seen is not. */
static int every_lb(const struct zdu_plan *plan, const struct zdu_lb_view *lbs, size_t node,
		    int (*look)(const struct zdu_lb_server *s, size_t i, size_t b, const void *arg, char *state,
				size_t size),
		    const void *arg, char *state, size_t size)
{
	int all = 1;
	size_t i, b;

	for (i = 0; i < plan->nlbs; i++) {
		for (b = 0; b < plan->nbackends; b++) {
			const char *server = plan->nodes[node].servers[b];
			const struct zdu_lb_server *s = server ? lb_server(plan, lbs, i, b, server, state, size) : NULL;

			if (server && (!s || !look(s, i, b, arg, state, size)))
				all = 0;
		}
	}
	return all;
}

/* "lb1" or, with several backends, "lb1/placement-api". */
static void lb_name(const struct zdu_plan *plan, size_t i, size_t b, char *state, size_t size)
{
	add(state, size, "%s%s%s: ", plan->lbs[i].name, plan->nbackends > 1 ? "/" : "",
	    plan->nbackends > 1 ? plan->backends[b].backend : "");
}

static int look_drained(const struct zdu_lb_server *s, size_t i, size_t b, const void *arg, char *state,
			size_t size)
{
	lb_name(arg, i, b, state, size);
	add(state, size, "%s scur=%ld; ", s->status, s->scur);
	return zdu_lb_server_drained(s) && s->scur == 0;
}

/* The agent's own count of one service (svc its status object). */
static int agent_drained(const json_t *svc, const char *name, char *state, size_t size)
{
	const json_t *dr = json_object_get(svc, "drain");

	if (!svc) {
		add(state, size, "agent: no service %s", name);
		return 0;
	}
	if (!json_is_object(dr)) {
		add(state, size, "agent%s%s: no drain detection", name[0] ? " " : "", name);
		return 1;
	}
	add(state, size, "agent%s%s: %lld connection(s), %s", name[0] ? " " : "", name,
	    (long long)json_integer_value(json_object_get(dr, "connections")),
	    json_is_true(json_object_get(dr, "drained")) ? "drained" : "settling");
	return json_is_true(json_object_get(dr, "drained"));
}

int zdu_node_drained(const struct zdu_plan *plan, const struct zdu_lb_view *lbs, size_t node,
		     const json_t *agent, const char *agent_err, char *state, size_t size)
{
	int all = every_lb(plan, lbs, node, look_drained, plan, state, size), said = 0;
	size_t b;

	if (!agent) {
		add(state, size, "agent: %s", agent_err ? agent_err : "");
		return 0;
	}
	for (b = 0; b < plan->nbackends; b++)
		if (plan->nodes[node].servers[b]) {
			if (said++)
				add(state, size, "; ");
			if (!agent_drained(zdu_agent_service(agent, plan->backends[b].service),
					   plan->backends[b].service, state, size))
				all = 0;
		}
	return all;
}

int zdu_node_lbs_drained(const struct zdu_plan *plan, const struct zdu_lb_view *lbs, size_t node)
{
	char scratch[512] = "";

	return every_lb(plan, lbs, node, look_drained, plan, scratch, sizeof(scratch));
}

/* One service's count: 0 for quiet_ms at least, taken after the load
 * balancers drained it (sample_age_ms <= sample_max_ms). */
static int agent_quiet(const json_t *svc, long long quiet_ms, long long sample_max_ms)
{
	const json_t *dr = json_object_get(svc, "drain");
	const json_t *q = json_object_get(dr, "quiet_ms"), *a = json_object_get(dr, "sample_age_ms");

	if (!svc)
		return 0;
	if (!json_is_object(dr))
		return 1; /* no drain detection: the load balancers alone say it */
	return json_is_true(json_object_get(dr, "known")) && !json_is_string(json_object_get(dr, "error")) &&
	       json_integer_value(json_object_get(dr, "connections")) == 0 && json_is_integer(q) &&
	       json_is_integer(a) && json_integer_value(q) >= quiet_ms && json_integer_value(a) >= 0 &&
	       json_integer_value(a) <= sample_max_ms;
}

int zdu_node_drained_early(const struct zdu_plan *plan, const struct zdu_lb_view *lbs, size_t node,
			   const json_t *agent, long long quiet_ms, long long sample_max_ms)
{
	size_t b;

	if (!agent || quiet_ms < 0 || sample_max_ms < 0 || !zdu_node_lbs_drained(plan, lbs, node))
		return 0;
	for (b = 0; b < plan->nbackends; b++)
		if (plan->nodes[node].servers[b] &&
		    !agent_quiet(zdu_agent_service(agent, plan->backends[b].service), quiet_ms, sample_max_ms))
			return 0;
	return 1;
}

struct back {
	const struct zdu_plan *plan;
	const long *weights;
};

static int look_back(const struct zdu_lb_server *s, size_t i, size_t b, const void *arg, char *state,
		     size_t size)
{
	const struct back *bk = arg;
	long want = bk->weights[i * ZDU_LB_BACKENDS_MAX + b];

	lb_name(bk->plan, i, b, state, size);
	add(state, size, "%s weight %ld/%ld; ", s->status, s->weight, want);
	/* at least: noted while its agent said slow (a lower weight), the
	 * node may come back faster than it left */
	return zdu_lb_server_up(s) && s->weight >= want;
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

int zdu_agent_version_at_least(const json_t *svc, const char *want, const char *name, char *why, size_t size)
{
	const char *v = agent_str(svc, "health", "version");
	int ok, cmp;

	if (!want || !want[0])
		return 1;
	cmp = zdu_microversion_cmp(v, want, &ok);
	if (!ok || cmp < 0) {
		snprintf(why, size, "%s reports version %s, want at least %s", name, v[0] ? v : "(none)", want);
		return 0;
	}
	return 1;
}

int zdu_agent_replies(const json_t *agent, const char *service, const char *health, const char *admin)
{
	const json_t *v = json_object_get(zdu_agent_service(agent, service), "reply");
	const char *r = json_is_string(v) ? json_string_value(v) : NULL;
	size_t hl = health ? strlen(health) : 0, al = strlen(admin);

	if (!r || (health && (strncmp(r, health, hl) != 0 || r[hl] != ' ')))
		return 0;
	/* the words before the reason ("#..."): health, admin state, weight */
	while (*r && *r != '#') {
		size_t n = strcspn(r, " #");

		if (n == al && strncmp(r, admin, al) == 0)
			return 1;
		r += n;
		r += strspn(r, " ");
	}
	return 0;
}

int zdu_lb_agent_up_due(const struct zdu_plan *plan, const struct zdu_lb_view *lbs, size_t i, size_t node, size_t b,
			const json_t *agent)
{
	const char *server = plan->nodes[node].servers[b];
	const struct zdu_lb_server *s;

	if (!server || !lbs[i].ok || !(s = zdu_lb_find(&lbs[i].be[b], server)))
		return 0;
	if (strncmp(s->status, "DOWN", 4) != 0 || !strstr(s->status, "(agent)"))
		return 0;
	/* HAProxy's own check, when the server has one, must have risen: agent
	 * up marks the server up whatever that check says */
	if (s->check_rise > 0 && s->check_health < s->check_rise)
		return 0;
	return zdu_agent_replies(agent, plan->backends[b].service, "up", "ready");
}

int zdu_node_probed_since(const struct zdu_plan *plan, size_t node, const json_t *agent, long long asked_ms,
			  long long since_ms, long long *base)
{
	int fresh = 1;
	size_t b;

	for (b = 0; b < plan->nbackends; b++) {
		const json_t *p = json_object_get(zdu_agent_service(agent, plan->backends[b].service), "probe");
		const json_t *age = json_object_get(p, "last_started_age_ms");
		long long n;

		if (!plan->nodes[node].servers[b] || !json_is_object(p))
			continue; /* not its service, or probing off: nothing fresher to wait for */
		/* a failed probe is no news of the new release, whatever the
		 * verdict (fall > 1 keeps it up) */
		if (!json_is_true(json_object_get(p, "last_ok"))) {
			fresh = 0;
			continue;
		}
		/* 2 ms: each clock read is cut to the millisecond */
		if (json_is_integer(age) && json_integer_value(age) >= 0 &&
		    asked_ms - json_integer_value(age) > since_ms + 2)
			continue;
		n = (long long)json_integer_value(json_object_get(p, "probes"));
		if (base[b] < 0)
			base[b] = n;
		fresh &= n >= base[b] + 2;
	}
	return fresh;
}

int zdu_node_services_ok(const struct zdu_plan *plan, size_t node, const json_t *agent, int version, char *why,
			 size_t size)
{
	size_t b;

	why[0] = '\0';
	for (b = 0; b < plan->nbackends; b++) {
		const struct zdu_plan_backend *be = &plan->backends[b];
		const json_t *svc = zdu_agent_service(agent, be->service);
		const char *name = be->service[0] ? be->service : "nova-api";

		if (!plan->nodes[node].servers[b])
			continue;
		if (!svc) {
			snprintf(why, size, "the agent has no service %s", name);
			return 0;
		}
		if (!zdu_agent_healthy(svc)) {
			const json_t *r = json_object_get(svc, "reply");

			/* with one service, which one goes without saying */
			snprintf(why, size, "%s%sagent replies \"%s\"", plan->nbackends > 1 ? name : "",
				 plan->nbackends > 1 ? ": " : "", json_is_string(r) ? json_string_value(r) : "");
			return 0;
		}
		if (version && !zdu_agent_version_at_least(svc, be->expect_version, name, why, size))
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
	size_t i, k, b;

	for (i = 0; i < plan->nlbs; i++) {
		for (k = 0; k < plan->nnodes; k++) {
			const struct zdu_plan_node *n = &plan->nodes[k];

			for (b = 0; b < plan->nbackends; b++) {
				const struct zdu_lb_server *s =
					n->servers[b] ? lb_server(plan, lbs, i, b, n->servers[b], state, size) : NULL;

				if (!n->servers[b])
					continue;
				if (!s) {
					all = 0;
				} else if (!good(s, n->first_group)) {
					all = 0;
					add(state, size, "%s/%s%s%s: %s (%s); ", plan->lbs[i].name,
					    plan->nbackends > 1 ? plan->backends[b].backend : "",
					    plan->nbackends > 1 ? "/" : "", n->servers[b], s->status, s->last_agt);
				}
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
