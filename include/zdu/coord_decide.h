/* The coordinator's decisions, pure (no I/O, no clock), so each is
 * unit-tested on its own as the reply is (reply.c). With the two that live
 * beside what they read, zdu_capacity_may_leave() (may a node leave under
 * min_ready, capacity.h) and zdu_last_agt_is_lb_mode() (has a load balancer
 * applied a reply of mode lb, reply.h), these are every question a rollout
 * asks of what it sees.
 *
 * They read the load balancers as a poll round saw them (lbs, indexed as
 * plan->lbs) and the agent's status (the control socket's status object;
 * NULL when it did not answer, agent_err saying why). Each appends to
 * state (size) how things stand, for the operator: the same text whether
 * the answer is yes or no. */
#ifndef ZDU_COORD_DECIDE_H
#define ZDU_COORD_DECIDE_H

#include <jansson.h>
#include <stddef.h>

#include "zdu/haproxy-t.h"
#include "zdu/plan-t.h"

/* Is node `node` drained? On every load balancer its server is DRAIN or
 * MAINT with no session (scur 0), and its agent answered and, when it
 * detects drain (its status has "drain"), says drained: the node's own
 * count sees what HAProxy cannot (a load balancer not in the plan, a
 * client going direct). */
int zdu_node_drained(const struct zdu_plan *plan, const struct zdu_lb_view *lbs, size_t node,
		     const json_t *agent, const char *agent_err, char *state, size_t size);

/* Do the load balancers alone show node `node` drained (its servers DRAIN
 * or MAINT with scur 0 on every load balancer)? */
int zdu_node_lbs_drained(const struct zdu_plan *plan, const struct zdu_lb_view *lbs, size_t node);
/* Drained without waiting for the agent's settle time: the load balancers
 * show it drained now (and did when the coordinator first saw them so,
 * T), and the agent's count of every service of the node is 0 in a count
 * taken after T ("sample_age_ms" <= sample_max_ms, the time from T to the
 * start of the poll round that asked) and has stayed 0 for quiet_ms (its
 * drain "quiet_ms"; the caller asks for a poll interval, or the time since
 * T when shorter). What the settle time covers, seen directly: nothing
 * comes from the load balancers any more, and nothing else came for a
 * while. A service without drain detection counts on the load balancers
 * alone. */
int zdu_node_drained_early(const struct zdu_plan *plan, const struct zdu_lb_view *lbs, size_t node,
			   const json_t *agent, long long quiet_ms, long long sample_max_ms);
/* push_state, once the flag is cleared: should load balancer i be told
 * that the agent of node `node` says its server in backend b is up ("set
 * server B/S agent up")? When that load balancer shows the server DOWN by
 * its agent check (the upgrade's restart took it down), HAProxy's own check
 * of it, if any, has risen again (agent up marks a server up whatever that
 * check says), and the agent's reply for that service, as just confirmed,
 * is "up ready": the load balancer then has now what its next agent check
 * would bring. */
int zdu_lb_agent_up_due(const struct zdu_plan *plan, const struct zdu_lb_view *lbs, size_t i, size_t node, size_t b,
			const json_t *agent);
/* Does the agent's reply for `service` ("" or NULL: the agent's own) start
 * with health (NULL: any) and carry the admin state `admin` ("ready",
 * "drain", "maint") among the words before its reason? push_state sends a
 * load balancer only the state the agent itself replies. */
int zdu_agent_replies(const json_t *agent, const char *service, const char *health, const char *admin);
/* Is node `node` back in service? On every load balancer its server in
 * each backend b of the pass is UP (zdu_lb_server_up) with at least
 * weights[i * ZDU_LB_BACKENDS_MAX + b], the weight noted at its preflight
 * (an agent's weight, a slow node's lower one included, shows there too). */
int zdu_node_back(const struct zdu_plan *plan, const struct zdu_lb_view *lbs, size_t node,
		  const long *weights, char *state, size_t size);

/* The status object of the agent's service `service` (its services[]
 * entry), or agent itself when service is "" or NULL; NULL when the agent
 * has no such service. */
const json_t *zdu_agent_service(const json_t *agent, const char *service);
/* Every service of node `node` in the pass (each backend it has a server
 * in) healthy in the agent's status and, with version, at its backend's
 * expect_version. When not, why says so for the first that is not (naming
 * it when the pass has several): "agent replies \"...\"", or "nova-api
 * reports version 2.90, want at least 2.93". */
int zdu_node_services_ok(const struct zdu_plan *plan, size_t node, const json_t *agent, int version, char *why,
			 size_t size);
/* Has every service of node `node` in the pass (that its agent probes)
 * been probed since the upgrade ended, at since_ms? The agent says how long
 * before its answer its last finished probe started ("last_started_age_ms",
 * its own clock); the answer came after asked_ms, when the poll round
 * started, so that probe started after asked_ms - age: fresh once that is
 * after since_ms (both on the coordinator's clock, no clocks compared).
 * Without the age (the state published in etcd, an older agent): two probes
 * more than the count first seen (base[b], -1 until then, kept there by this
 * call), so at least one started after the upgrade. Either way the last
 * probe must have succeeded ("last_ok"): with fall > 1 a failed one leaves
 * the verdict up. */
int zdu_node_probed_since(const struct zdu_plan *plan, size_t node, const json_t *agent, long long asked_ms,
			  long long since_ms, long long *base);
/* Does svc (a service's status object) report at least want (always when
 * want is empty)? When not, why says so, naming the service `name`. */
int zdu_agent_version_at_least(const json_t *svc, const char *want, const char *name, char *why, size_t size);
/* Does the agent report nova-api healthy ("up", or "unchecked" when it does
 * not probe)? */
int zdu_agent_healthy(const json_t *agent);
/* Cutover. May the runtime switch be sent? Every load balancer shows, for
 * every server of the plan, a reply of mode lb applied (last_agt), and each
 * first-group server passing HAProxy's own check (DRAIN before a switch, UP
 * when a resumed switch was applied already; not DOWN or MAINT): made ready
 * while DOWN, it would leave nobody serving. */
int zdu_lbs_ready_to_switch(const struct zdu_plan *plan, const struct zdu_lb_view *lbs, char *state,
			    size_t size);
/* Is every load balancer switched: the first group UP, the rest drained? */
int zdu_lbs_switched(const struct zdu_plan *plan, const struct zdu_lb_view *lbs, char *state, size_t size);

#endif
