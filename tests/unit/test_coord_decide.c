/* coord_decide.c: the coordinator's decisions on what a poll round saw.
 *
 *   zdu_node_drained         every load balancer shows the server DRAIN or
 *                            MAINT with scur 0, and the agent (when it
 *                            detects drain) says drained; an agent that does
 *                            not answer, a load balancer that does not, a
 *                            missing backend or server, and the text;
 *   zdu_node_back            UP (or "no check") at the preflight's weight on
 *                            every load balancer; a slow start's lower weight
 *                            is not back yet;
 *   zdu_agent_healthy,       the agent's health state, and every service of a
 *   zdu_node_services_ok     node healthy and at its backend's expect_version;
 *   zdu_lb_agent_up_due      push_state tells a load balancer "agent up" only
 *                            for a server its agent check has DOWN, whose
 *                            own check has risen, while the agent's reply
 *                            for that service is "up ready";
 *   zdu_agent_replies        the health and admin words of a reply;
 *   zdu_node_probed_since    a probe that started after the upgrade: by the
 *                            agent's age of its last probe, else by counting
 *                            two probes more (etcd's published state); a
 *                            failed last probe is never fresh;
 *   zdu_lbs_ready_to_switch  cutover: every server's last_agt of mode lb and
 *                            the first group DRAIN or UP (not DOWN, MAINT);
 *   zdu_lbs_switched         the first group UP, the rest DRAIN or MAINT.
 *
 * Load balancers are real `show stat` text read by zdu_stat_parse; the plan
 * is read by zdu_plan_load_string; the agent's status is JSON as the control
 * socket answers it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/coord_decide.h"
#include "zdu/haproxy.h"
#include "zdu/plan.h"

#define HEADER "# pxname,svname,scur,weight,uweight,status,agent_status,last_agt,\n"

/* Two load balancers, three nodes (api1..api3, servers node1..node3);
 * cutover: api1 is the first group. */
static void plan_load(struct zdu_plan *plan, int cut, const char *expect)
{
	char text[1024], err[512];

	snprintf(text, sizeof(text),
		 "backend = \"nova\";\nupgrade_command = \"true\";\njournal = \"/j\";\n%s%s%s%s"
		 "load_balancers = ( { name = \"lb1\"; runtime = \"/a\"; }, { name = \"lb2\"; runtime = \"/b\"; } );\n"
		 "nodes = ( { name = \"api1\"; server = \"node1\"; agent = \"ssh:a\"; },\n"
		 "          { name = \"api2\"; server = \"node2\"; agent = \"ssh:b\"; },\n"
		 "          { name = \"api3\"; server = \"node3\"; agent = \"ssh:c\"; } );\n",
		 cut ? "strategy = \"cutover\";\ncutover = { first_group = [ \"api1\" ]; };\n" : "",
		 expect ? "expect_version = \"" : "", expect ? expect : "", expect ? "\";\n" : "");
	if (zdu_plan_load_string(text, "test.plan", plan, err, sizeof(err)) != ZDU_OK)
		fail_msg("%s", err);
}

/* A view of backend nova from rows "server,scur,weight,status,last_agt". */
static void view(struct zdu_lb_view *v, const char *rows)
{
	char csv[2048], err[256];
	size_t o = (size_t)snprintf(csv, sizeof(csv), "%s", HEADER);
	const char *r = rows;

	while (*r) {
		const char *nl = strchr(r, '\n');
		size_t n = nl ? (size_t)(nl - r) : strlen(r);
		char sv[64], status[32], agt[128];
		long scur, w;

		assert_true(sscanf(r, "%63[^,],%ld,%ld,%31[^,],%127[^\n]", sv, &scur, &w, status, agt) == 5);
		o += (size_t)snprintf(csv + o, sizeof(csv) - o, "nova,%s,%ld,%ld,%ld,%s,L7OK,%s,\n", sv, scur, w,
				      w ? 100L : 0L, status, agt);
		assert_true(o < sizeof(csv));
		r += n + (nl ? 1 : 0);
	}
	snprintf(csv + o, sizeof(csv) - o, "nova,BACKEND,0,200,200,UP,,,\n");
	memset(v, 0, sizeof(*v));
	if (zdu_stat_parse(csv, strlen(csv), "nova", &v->be[0], err, sizeof(err)) != 0)
		fail_msg("%s", err);
	v->ok = 1;
}

/* View v again, from other rows. */
static void reset(struct zdu_lb_view *v, const char *rows)
{
	zdu_lb_backend_free(&v->be[0]);
	view(v, rows);
}

/* A view of a load balancer that does not answer. */
static void silent(struct zdu_lb_view *v, const char *err)
{
	zdu_lb_backend_free(&v->be[0]);
	memset(v, 0, sizeof(*v));
	snprintf(v->err, sizeof(v->err), "%s", err);
}

/* What the decisions write how things stand into, emptied for each. */
static char st[512];

static char *fresh(void)
{
	st[0] = '\0';
	return st;
}

static void views_free(struct zdu_lb_view *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		zdu_lb_backend_free(&v[i].be[0]);
}

static json_t *agent(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	if (!j)
		fail_msg("%s: %s", text, e.text);
	return j;
}

#define UP_ALL "node1,3,100,UP,via agent : up\nnode2,4,100,UP,via agent : up\nnode3,5,100,UP,via agent : up"
#define DRAINED_1                                                                                       \
	"node1,0,100,DRAIN (agent),via agent : up drain\nnode2,4,100,UP,via agent : up\n"               \
	"node3,5,100,UP,via agent : up"

/* Each test's plan (rolling, or cutover with api1 first) and load balancers. */
static struct zdu_plan p;
static struct zdu_lb_view lbs[2];

static int rolling(void **state)
{
	(void)state;
	plan_load(&p, 0, NULL);
	memset(lbs, 0, sizeof(lbs));
	return 0;
}

static int cutover(void **state)
{
	(void)state;
	plan_load(&p, 1, NULL);
	memset(lbs, 0, sizeof(lbs));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	views_free(lbs, 2);
	zdu_plan_free(&p);
	return 0;
}

/* ------------------------------------------------------------ drained */

static void test_drained(void **state)
{
	json_t *a = agent("{\"reply\":\"up drain\",\"drain\":{\"connections\":0,\"drained\":true}}");

	(void)state;
	reset(&lbs[0], DRAINED_1);
	reset(&lbs[1], DRAINED_1);
	assert_int_equal(zdu_node_drained(&p, lbs, 0, a, "", fresh(), sizeof(st)), 1);
	assert_string_equal(st, "lb1: DRAIN (agent) scur=0; lb2: DRAIN (agent) scur=0; "
				"agent: 0 connection(s), drained");

	/* MAINT counts as drained too */
	reset(&lbs[0], "node1,0,100,MAINT,via agent : up maint\nnode2,4,100,UP,x\nnode3,5,100,UP,x");
	assert_int_equal(zdu_node_drained(&p, lbs, 0, a, "", fresh(), sizeof(st)), 1);

	/* a session left on one load balancer */
	reset(&lbs[0], "node1,1,100,DRAIN (agent),x\nnode2,4,100,UP,x\nnode3,5,100,UP,x");
	assert_int_equal(zdu_node_drained(&p, lbs, 0, a, "", fresh(), sizeof(st)), 0);
	assert_non_null(strstr(st, "lb1: DRAIN (agent) scur=1; "));

	/* still UP on one */
	reset(&lbs[0], UP_ALL);
	assert_int_equal(zdu_node_drained(&p, lbs, 0, a, "", fresh(), sizeof(st)), 0);
	assert_non_null(strstr(st, "lb1: UP scur=3; "));
	json_decref(a);
}

/* The agent's own count: HAProxy cannot see a load balancer outside the
 * plan, or a client going direct. */
static void test_drained_agent(void **state)
{
	json_t *settling = agent("{\"drain\":{\"connections\":2,\"drained\":false}}");
	json_t *no_detection = agent("{\"reply\":\"up drain\"}");

	(void)state;
	reset(&lbs[0], DRAINED_1);
	reset(&lbs[1], DRAINED_1);
	assert_int_equal(zdu_node_drained(&p, lbs, 0, settling, "", fresh(), sizeof(st)), 0);
	assert_non_null(strstr(st, "agent: 2 connection(s), settling"));
	/* no drain detection: the load balancers decide alone */
	assert_int_equal(zdu_node_drained(&p, lbs, 0, no_detection, "", fresh(), sizeof(st)), 1);
	assert_non_null(strstr(st, "agent: no drain detection"));
	/* an agent that does not answer is not a drained node */
	assert_int_equal(zdu_node_drained(&p, lbs, 0, NULL, "control socket /x: connect: refused", fresh(), sizeof(st)), 0);
	assert_non_null(strstr(st, "agent: control socket /x: connect: refused"));
	json_decref(settling);
	json_decref(no_detection);
}

/* The settle time's job seen directly (zdu_node_drained_early): the load
 * balancers drained, and an agent count taken after that (sample_age_ms
 * within the bound) that has stayed 0 long enough (quiet_ms). */
static void test_drained_early(void **state)
{
	json_t *quiet = agent("{\"drain\":{\"known\":true,\"connections\":0,\"drained\":false,"
			      "\"quiet_ms\":300,\"sample_age_ms\":50}}");
	json_t *young = agent("{\"drain\":{\"known\":true,\"connections\":0,\"drained\":false,"
			      "\"quiet_ms\":100,\"sample_age_ms\":50}}");
	json_t *stale = agent("{\"drain\":{\"known\":true,\"connections\":0,\"drained\":false,"
			      "\"quiet_ms\":300,\"sample_age_ms\":150}}");
	json_t *busy = agent("{\"drain\":{\"known\":true,\"connections\":1,\"drained\":false,"
			     "\"quiet_ms\":0,\"sample_age_ms\":10}}");
	json_t *unknown = agent("{\"drain\":{\"known\":false,\"connections\":0,\"drained\":false,"
				"\"quiet_ms\":0,\"sample_age_ms\":-1,\"error\":\"sock_diag: EPERM\"}}");
	json_t *older = agent("{\"drain\":{\"connections\":0,\"drained\":false}}"); /* no times */
	json_t *no_detection = agent("{\"reply\":\"up drain\"}");

	(void)state;
	reset(&lbs[0], DRAINED_1);
	reset(&lbs[1], DRAINED_1);
	assert_int_equal(zdu_node_drained_early(&p, lbs, 0, quiet, 200, 100), 1);
	assert_int_equal(zdu_node_drained_early(&p, lbs, 0, young, 200, 100), 0);
	assert_int_equal(zdu_node_drained_early(&p, lbs, 0, stale, 200, 100), 0);
	assert_int_equal(zdu_node_drained_early(&p, lbs, 0, busy, 200, 100), 0);
	assert_int_equal(zdu_node_drained_early(&p, lbs, 0, unknown, 200, 100), 0);
	assert_int_equal(zdu_node_drained_early(&p, lbs, 0, older, 200, 100), 0);
	assert_int_equal(zdu_node_drained_early(&p, lbs, 0, no_detection, 200, 100), 1);
	assert_int_equal(zdu_node_drained_early(&p, lbs, 0, NULL, 200, 100), 0);
	/* not before the round after the load balancers were first seen drained */
	assert_int_equal(zdu_node_drained_early(&p, lbs, 0, quiet, 200, -1), 0);
	/* a load balancer still sending to it */
	reset(&lbs[1], UP_ALL);
	assert_int_equal(zdu_node_drained_early(&p, lbs, 0, quiet, 200, 100), 0);
	assert_int_equal(zdu_node_lbs_drained(&p, lbs, 0), 0);
	json_decref(quiet);
	json_decref(young);
	json_decref(stale);
	json_decref(busy);
	json_decref(unknown);
	json_decref(older);
	json_decref(no_detection);
}

/* What cannot be seen is not drained, and says why. */
static void test_drained_unseen(void **state)
{
	static const char other[] = HEADER "other,s1,0,1,1,UP,,,\n";
	json_t *a = agent("{\"drain\":{\"connections\":0,\"drained\":true}}");
	char err[256];

	(void)state;
	reset(&lbs[0], DRAINED_1);
	silent(&lbs[1], "connect: connection refused");
	assert_int_equal(zdu_node_drained(&p, lbs, 0, a, "", fresh(), sizeof(st)), 0);
	assert_non_null(strstr(st, "lb2/node1: connect: connection refused; "));
	/* the server missing from the backend */
	reset(&lbs[1], "node2,0,100,UP,x\nnode3,0,100,UP,x");
	assert_int_equal(zdu_node_drained(&p, lbs, 0, a, "", fresh(), sizeof(st)), 0);
	assert_non_null(strstr(st, "lb2/node1: missing; "));
	/* the backend missing */
	silent(&lbs[1], "");
	assert_int_equal(zdu_stat_parse(other, strlen(other), "nova", &lbs[1].be[0], err, sizeof(err)), 0);
	lbs[1].ok = 1;
	assert_int_equal(zdu_node_drained(&p, lbs, 0, a, "", fresh(), sizeof(st)), 0);
	assert_non_null(strstr(st, "lb2/node1: no backend nova; "));
	/* a state buffer too small is cut, never overrun */
	{
		char *tiny = malloc(16);

		tiny[0] = '\0';
		assert_int_equal(zdu_node_drained(&p, lbs, 0, a, "", tiny, 16), 0);
		assert_true(strlen(tiny) < 16);
		free(tiny);
	}
	json_decref(a);
}

/* ------------------------------------------------------------ back */

static void test_back(void **state)
{
	long w[2 * ZDU_LB_BACKENDS_MAX] = { 0 };

	(void)state;
	w[0] = w[ZDU_LB_BACKENDS_MAX] = 100; /* lb1 and lb2, the one backend */
	reset(&lbs[0], UP_ALL);
	reset(&lbs[1], UP_ALL);
	assert_int_equal(zdu_node_back(&p, lbs, 0, w, fresh(), sizeof(st)), 1);
	assert_string_equal(st, "lb1: UP weight 100/100; lb2: UP weight 100/100; ");

	/* slow start: UP, but not at its weight yet */
	reset(&lbs[1], "node1,0,10,UP,via agent : up 10%\nnode2,4,100,UP,x\nnode3,5,100,UP,x");
	assert_int_equal(zdu_node_back(&p, lbs, 0, w, fresh(), sizeof(st)), 0);
	assert_non_null(strstr(st, "lb2: UP weight 10/100; "));
	/* still DRAIN, or DOWN */
	reset(&lbs[1], DRAINED_1);
	assert_int_equal(zdu_node_back(&p, lbs, 0, w, fresh(), sizeof(st)), 0);
	reset(&lbs[1], "node1,0,100,DOWN (agent),via agent : down\nnode2,4,100,UP,x\nnode3,5,100,UP,x");
	assert_int_equal(zdu_node_back(&p, lbs, 0, w, fresh(), sizeof(st)), 0);
	/* a server without HAProxy's own check shows "no check" */
	reset(&lbs[1], "node1,0,100,no check,x\nnode2,4,100,UP,x\nnode3,5,100,UP,x");
	assert_int_equal(zdu_node_back(&p, lbs, 0, w, fresh(), sizeof(st)), 1);
	/* noted at 50 (its agent said slow then): back at 100 is back, at 40
	 * not yet (seen on a busy Debian 13 machine: it waited for 50 exactly) */
	w[0] = w[ZDU_LB_BACKENDS_MAX] = 50;
	reset(&lbs[0], UP_ALL);
	reset(&lbs[1], UP_ALL);
	assert_int_equal(zdu_node_back(&p, lbs, 0, w, fresh(), sizeof(st)), 1);
	reset(&lbs[1], "node1,0,40,UP,via agent : up 40%\nnode2,4,100,UP,x\nnode3,5,100,UP,x");
	assert_int_equal(zdu_node_back(&p, lbs, 0, w, fresh(), sizeof(st)), 0);
}

/* ------------------------------------------------------------ health */

static void test_agent_health(void **state)
{
	struct zdu_plan p93;
	json_t *up = agent("{\"health\":{\"state\":\"up\",\"version\":\"2.93\"}}");
	json_t *old = agent("{\"health\":{\"state\":\"up\",\"version\":\"2.90\"}}");
	json_t *newer = agent("{\"health\":{\"state\":\"up\",\"version\":\"2.100\"}}");
	json_t *unchecked = agent("{\"health\":{\"state\":\"unchecked\"}}");
	json_t *down = agent("{\"health\":{\"state\":\"down\",\"version\":\"2.93\"}}");
	json_t *none = agent("{}");
	char why[256];

	(void)state;
	plan_load(&p93, 0, "2.93");
	assert_int_equal(zdu_agent_healthy(up), 1);
	assert_int_equal(zdu_agent_healthy(unchecked), 1);
	assert_int_equal(zdu_agent_healthy(down), 0);
	assert_int_equal(zdu_agent_healthy(none), 0);
	assert_int_equal(zdu_agent_healthy(NULL), 0);
	/* no expected version: any */
	assert_int_equal(zdu_node_services_ok(&p, 0, old, 1, why, sizeof(why)), 1);
	assert_int_equal(zdu_node_services_ok(&p93, 0, up, 1, why, sizeof(why)), 1);
	assert_int_equal(zdu_node_services_ok(&p93, 0, newer, 1, why, sizeof(why)), 1);
	why[0] = '\0';
	assert_int_equal(zdu_node_services_ok(&p93, 0, old, 1, why, sizeof(why)), 0);
	assert_string_equal(why, "nova-api reports version 2.90, want at least 2.93");
	assert_int_equal(zdu_node_services_ok(&p93, 0, unchecked, 1, why, sizeof(why)), 0);
	assert_string_equal(why, "nova-api reports version (none), want at least 2.93");
	/* the version is not asked for (a preflight): healthy will do */
	assert_int_equal(zdu_node_services_ok(&p93, 0, old, 0, why, sizeof(why)), 1);
	/* not healthy: what the agent replies (one service: not named) */
	assert_int_equal(zdu_node_services_ok(&p93, 0, down, 0, why, sizeof(why)), 0);
	assert_string_equal(why, "agent replies \"\"");
	json_decref(up);
	json_decref(old);
	json_decref(newer);
	json_decref(unchecked);
	json_decref(down);
	json_decref(none);
	zdu_plan_free(&p93);
}

/* ------------------------------------------------------------ cutover */

#define LB_MODE_BEFORE                                                                                  \
	"node1,0,100,DRAIN (agent),via agent : up (lb-managed: zdu-coordinator: cutover)\n"              \
	"node2,3,100,UP,via agent : up (lb-managed: zdu-coordinator: cutover)\n"                         \
	"node3,4,100,UP,via agent : up (lb-managed)"

/* ------------------------------------------------------------ agent up */

static void test_agent_up_due(void **state)
{
	json_t *up = agent("{\"reply\":\"up ready 100%\"}");
	json_t *down = agent("{\"reply\":\"down ready 100% #nova-api: connection refused\"}");
	json_t *held = agent("{\"reply\":\"up drain #maintenance: node: kernel\"}");
	json_t *mute = agent("{}");
#define CHECKED(health)                                                                          \
	"# pxname,svname,scur,weight,status,check_health,check_rise,last_agt\n"                    \
	"nova,node1,0,100,DOWN (agent)," health ",2,via agent : down\n"                          \
	"nova,node2,4,100,UP,4,2,x\nnova,node3,5,100,UP,4,2,x\n"
	const char *csv;
	char err[256];

	(void)state;
	/* lb1: node1 DOWN by its agent check; lb2: UP, nothing to tell */
	reset(&lbs[0], "node1,0,100,DOWN (agent),via agent : down\nnode2,4,100,UP,x\nnode3,5,100,UP,x");
	reset(&lbs[1], UP_ALL);
	assert_int_equal(zdu_lb_agent_up_due(&p, lbs, 0, 0, 0, up), 1);
	assert_int_equal(zdu_lb_agent_up_due(&p, lbs, 1, 0, 0, up), 0);
	/* the agent does not say up (any more), or not ready (another flag
	 * holds it): its next check decides */
	assert_int_equal(zdu_lb_agent_up_due(&p, lbs, 0, 0, 0, down), 0);
	assert_int_equal(zdu_lb_agent_up_due(&p, lbs, 0, 0, 0, held), 0);
	assert_int_equal(zdu_lb_agent_up_due(&p, lbs, 0, 0, 0, mute), 0);
	assert_int_equal(zdu_lb_agent_up_due(&p, lbs, 0, 0, 0, NULL), 0);
	/* DOWN by HAProxy's own check: not the agent's to lift */
	reset(&lbs[0], "node1,0,100,DOWN,L4CON\nnode2,4,100,UP,x\nnode3,5,100,UP,x");
	assert_int_equal(zdu_lb_agent_up_due(&p, lbs, 0, 0, 0, up), 0);
	/* a load balancer that did not answer, or without the server */
	reset(&lbs[0], "node1,0,100,DOWN (agent),x\nnode2,4,100,UP,x\nnode3,5,100,UP,x");
	lbs[0].ok = 0;
	assert_int_equal(zdu_lb_agent_up_due(&p, lbs, 0, 0, 0, up), 0);
	reset(&lbs[0], "node2,4,100,UP,x\nnode3,5,100,UP,x");
	assert_int_equal(zdu_lb_agent_up_due(&p, lbs, 0, 0, 0, up), 0);
	/* HAProxy's own check not risen yet (health 1 of rise 2): agent up
	 * would mark the server up whatever it says; risen (2): due */
	zdu_lb_backend_free(&lbs[0].be[0]);
	csv = CHECKED("1");
	assert_int_equal(zdu_stat_parse(csv, strlen(csv), "nova", &lbs[0].be[0], err, sizeof(err)), 0);
	lbs[0].ok = 1;
	assert_int_equal(lbs[0].be[0].servers[0].check_health, 1);
	assert_int_equal(lbs[0].be[0].servers[0].check_rise, 2);
	assert_int_equal(zdu_lb_agent_up_due(&p, lbs, 0, 0, 0, up), 0);
	zdu_lb_backend_free(&lbs[0].be[0]);
	csv = CHECKED("2");
	assert_int_equal(zdu_stat_parse(csv, strlen(csv), "nova", &lbs[0].be[0], err, sizeof(err)), 0);
	assert_int_equal(zdu_lb_agent_up_due(&p, lbs, 0, 0, 0, up), 1);
	json_decref(held);
	json_decref(up);
	json_decref(down);
	json_decref(mute);
}

static void test_agent_replies(void **state)
{
	json_t *ready = agent("{\"reply\":\"up ready 100%\"}");
	json_t *drain = agent("{\"reply\":\"down drain #nova-api: connection refused; maintenance: upgrade\"}");
	json_t *lb = agent("{\"reply\":\"up 100% #lb-managed: ready for the switch\"}");
	json_t *multi = agent("{\"services\":[{\"name\":\"glance\",\"reply\":\"up drain\"},"
			      "{\"name\":\"nova-api\",\"reply\":\"up ready 50% #slow\"}]}");

	(void)state;
	assert_int_equal(zdu_agent_replies(ready, "", "up", "ready"), 1);
	assert_int_equal(zdu_agent_replies(ready, "", NULL, "ready"), 1);
	assert_int_equal(zdu_agent_replies(ready, "", NULL, "drain"), 0);
	assert_int_equal(zdu_agent_replies(ready, "", "down", "ready"), 0);
	assert_int_equal(zdu_agent_replies(drain, NULL, NULL, "drain"), 1);
	assert_int_equal(zdu_agent_replies(drain, NULL, "up", "drain"), 0);
	/* words of the reason do not count */
	assert_int_equal(zdu_agent_replies(lb, "", NULL, "ready"), 0);
	/* a service's own reply */
	assert_int_equal(zdu_agent_replies(multi, "glance", NULL, "drain"), 1);
	assert_int_equal(zdu_agent_replies(multi, "nova-api", "up", "ready"), 1);
	assert_int_equal(zdu_agent_replies(multi, "placement", NULL, "ready"), 0);
	assert_int_equal(zdu_agent_replies(NULL, "", NULL, "ready"), 0);
	json_decref(ready);
	json_decref(drain);
	json_decref(lb);
	json_decref(multi);
}

/* ------------------------------------------------------------ fresh probe */

static json_t *probed(long long probes, const char *age, int ok)
{
	char text[160];

	if (age)
		snprintf(text, sizeof(text), "{\"probe\":{\"probes\":%lld,\"last_ok\":%s,\"last_started_age_ms\":%s}}",
			 probes, ok ? "true" : "false", age);
	else
		snprintf(text, sizeof(text), "{\"probe\":{\"probes\":%lld,\"last_ok\":%s}}", probes,
			 ok ? "true" : "false");
	return agent(text);
}

static int fresh_ok(long long probes, const char *age, int ok, long long asked, long long since, long long *base)
{
	json_t *a = probed(probes, age, ok);
	int r = zdu_node_probed_since(&p, 0, a, asked, since, base);

	json_decref(a);
	return r;
}
#define fresh_at(probes, age, asked, since, base) fresh_ok(probes, age, 1, asked, since, base)

static void test_probed_since(void **state)
{
	long long base[ZDU_LB_BACKENDS_MAX];
	json_t *off = agent("{\"probe\":null}");

	(void)state;
	/* the upgrade ended at 9500; the round asked at 10000: a probe started
	 * 400 ms before the answer started after 9600 at the earliest: fresh,
	 * and no count is needed */
	base[0] = -1;
	assert_int_equal(fresh_at(7, "400", 10000, 9500, base), 1);
	assert_int_equal(base[0], -1);
	/* 500 ms: it may have started at 9500 itself, 600 ms before: not fresh */
	assert_int_equal(fresh_at(7, "500", 10000, 9500, base), 0);
	assert_int_equal(fresh_at(7, "600", 10000, 9500, base), 0);
	assert_int_equal(base[0], 7);
	/* the next round: its probe 100 ms old */
	assert_int_equal(fresh_at(8, "100", 10200, 9500, base), 1);
	/* without the age (etcd's published state), or none yet (-1): two
	 * probes more than the first count seen */
	base[0] = -1;
	assert_int_equal(fresh_at(7, NULL, 10000, 9500, base), 0);
	assert_int_equal(fresh_at(8, NULL, 10200, 9500, base), 0);
	assert_int_equal(fresh_at(8, "-1", 10400, 9500, base), 0);
	assert_int_equal(fresh_at(9, NULL, 10600, 9500, base), 1);
	/* a fresh probe that failed is no news of the new release (with fall
	 * > 1 the verdict would still say up), by age or by count */
	base[0] = -1;
	assert_int_equal(fresh_ok(7, "50", 0, 10000, 9500, base), 0);
	assert_int_equal(fresh_ok(7, "50", 1, 10100, 9500, base), 1);
	assert_int_equal(fresh_ok(9, NULL, 0, 10600, 9500, base), 0);
	/* the clocks' millisecond cuts: 2 ms more than the bound */
	assert_int_equal(fresh_at(7, "498", 10000, 9500, base), 0);
	assert_int_equal(fresh_at(7, "497", 10000, 9500, base), 1);
	/* probing off: nothing fresher to wait for */
	base[0] = -1;
	assert_int_equal(zdu_node_probed_since(&p, 0, off, 10000, 9500, base), 1);
	json_decref(off);
}

static void test_ready_to_switch(void **state)
{

	(void)state;
	reset(&lbs[0], LB_MODE_BEFORE);
	reset(&lbs[1], LB_MODE_BEFORE);
	assert_int_equal(zdu_lbs_ready_to_switch(&p, lbs, fresh(), sizeof(st)), 1);
	assert_string_equal(st, "");

	/* one reply read before the flags changed is left on lb2 */
	reset(&lbs[1], "node1,0,100,DRAIN (agent),via agent : up (lb-managed)\n"
		       "node2,3,100,UP,via agent : up (maintenance: lb-managed)\n"
		       "node3,4,100,UP,via agent : up (lb-managed)");
	assert_int_equal(zdu_lbs_ready_to_switch(&p, lbs, fresh(), sizeof(st)), 0);
	assert_string_equal(st, "lb2/node2: UP (via agent : up (maintenance: lb-managed)); ");

	/* the first group DOWN or MAINT: made ready, nobody would serve */
	reset(&lbs[1], "node1,0,100,DOWN (agent),via agent : down (lb-managed)\n"
		       "node2,3,100,UP,via agent : up (lb-managed)\nnode3,4,100,UP,via agent : up (lb-managed)");
	assert_int_equal(zdu_lbs_ready_to_switch(&p, lbs, fresh(), sizeof(st)), 0);
	assert_non_null(strstr(st, "lb2/node1: DOWN (agent)"));
	reset(&lbs[1], "node1,0,100,MAINT,via agent : up (lb-managed)\n"
		       "node2,3,100,UP,via agent : up (lb-managed)\nnode3,4,100,UP,via agent : up (lb-managed)");
	assert_int_equal(zdu_lbs_ready_to_switch(&p, lbs, fresh(), sizeof(st)), 0);

	/* a resumed switch already applied: the first group UP is fine */
	reset(&lbs[1], "node1,0,100,UP,via agent : up (lb-managed)\n"
		       "node2,0,100,DRAIN,via agent : up (lb-managed)\nnode3,0,100,DRAIN,via agent : up (lb-managed)");
	assert_int_equal(zdu_lbs_ready_to_switch(&p, lbs, fresh(), sizeof(st)), 1);
	/* a load balancer that does not answer */
	silent(&lbs[1], "no complete answer in time");
	assert_int_equal(zdu_lbs_ready_to_switch(&p, lbs, fresh(), sizeof(st)), 0);
	assert_non_null(strstr(st, "lb2/node1: no complete answer in time; "));
}

static void test_switched(void **state)
{

	(void)state;
	reset(&lbs[0], "node1,2,100,UP,x\nnode2,0,100,DRAIN,x\nnode3,1,100,MAINT,x");
	reset(&lbs[1], "node1,2,100,UP,x\nnode2,0,100,DRAIN,x\nnode3,0,100,DRAIN,x");
	assert_int_equal(zdu_lbs_switched(&p, lbs, fresh(), sizeof(st)), 1);
	assert_string_equal(st, "");
	/* not yet on lb2: the old group still ready there */
	reset(&lbs[1], LB_MODE_BEFORE);
	assert_int_equal(zdu_lbs_switched(&p, lbs, fresh(), sizeof(st)), 0);
	assert_non_null(strstr(st, "lb2/node1: DRAIN (agent)"));
	assert_non_null(strstr(st, "lb2/node2: UP"));
	assert_null(strstr(st, "lb1/"));
	/* the first group at weight 0 does not serve */
	reset(&lbs[1], "node1,0,0,UP,x\nnode2,0,100,DRAIN,x\nnode3,0,100,DRAIN,x");
	assert_int_equal(zdu_lbs_switched(&p, lbs, fresh(), sizeof(st)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_drained, rolling, teardown),
		cmocka_unit_test_setup_teardown(test_drained_agent, rolling, teardown),
		cmocka_unit_test_setup_teardown(test_drained_early, rolling, teardown),
		cmocka_unit_test_setup_teardown(test_drained_unseen, rolling, teardown),
		cmocka_unit_test_setup_teardown(test_back, rolling, teardown),
		cmocka_unit_test_setup_teardown(test_agent_health, rolling, teardown),
		cmocka_unit_test_setup_teardown(test_probed_since, rolling, teardown),
		cmocka_unit_test_setup_teardown(test_agent_up_due, rolling, teardown),
		cmocka_unit_test_setup_teardown(test_agent_replies, rolling, teardown),
		cmocka_unit_test_setup_teardown(test_ready_to_switch, cutover, teardown),
		cmocka_unit_test_setup_teardown(test_switched, cutover, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
