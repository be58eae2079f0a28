/* plan.c: plans with several services (a control plane).
 *
 *   unit = "service"  one pass per service, in the plan's order: its backend,
 *                     the nodes that serve it (serves), its own strategy,
 *                     min_ready, expect_version, upgrade_command, window
 *                     commands and cutover group; its flag and journal scope
 *                     are the service's name;
 *   unit = "node"     one pass over every backend: each node's server in
 *                     each (NULL where it serves none), the node's own flag,
 *                     no scope; the cutover group holds every backend's
 *                     min_ready;
 *   a plan without services is its own one pass (backend, the node's server);
 *   every way to get one wrong gives "NAME:LINE: key: ..." with its line;
 *   zdu_plan_digest   changes with the services, the unit and serves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/plan.h"

#define NAME "cp.plan"

#define HEAD                                                                                           \
	"journal = \"/var/lib/zdu/cp.journal\";\n"                                                     \
	"upgrade_command = \"upgrade {node} {service}\";\n"                                            \
	"load_balancers = ( { name = \"lb1\"; runtime = \"/run/lb1.sock\"; },\n"                      \
	"                   { name = \"lb2\"; runtime = \"/run/lb2.sock\"; } );\n"

/* Three services, three nodes; api3 serves no glance, api2's placement
 * server has its own name. Line numbers matter: errors name them. */
#define SERVICES                                                                                       \
	"services = (\n"                                                        /* line 5 */            \
	"  { name = \"nova-api\"; backend = \"nova_api\"; expect_version = \"2.93\";\n"                  \
	"    strategy = \"cutover\"; first_group = [ \"api1\" ]; },\n"                                    \
	"  { name = \"placement-api\"; backend = \"placement\"; expect_version = \"1.39\";\n"            \
	"    before_command = \"placement-status upgrade check\"; },\n"         /* line 9 */           \
	"  { name = \"glance-api\"; backend = \"glance\"; upgrade_command = \"up-glance {node}\"; }\n"    \
	");\n"
#define NODES                                                                                          \
	"nodes = (\n"                                                           /* line 12 */           \
	"  { name = \"api1\"; agent = \"unix:/run/a1.sock\"; },\n"                                      \
	"  { name = \"api2\"; agent = \"unix:/run/a2.sock\"; serves = [ \"nova-api\", \"placement-api:p2\", \"glance-api\" ]; },\n" \
	"  { name = \"api3\"; agent = \"unix:/run/a3.sock\"; serves = [ \"nova-api\", \"placement-api\" ]; }\n" \
	");\n"

static void load_ok(const char *text, struct zdu_plan *p)
{
	char err[512] = "";

	if (zdu_plan_load_string(text, NAME, p, err, sizeof(err)) != ZDU_OK)
		fail_msg("%s", err);
}

static void expect_err_at(const char *text, enum zdu_err rc, int line, const char *key, const char *what,
			  int src_line)
{
	struct zdu_plan p;
	char err[512] = "", want[128];
	enum zdu_err got = zdu_plan_load_string(text, NAME, &p, err, sizeof(err));

	snprintf(want, sizeof(want), "%s:%d: %s", NAME, line, key);
	if (got != rc || strncmp(err, want, strlen(want)) != 0 || !strstr(err, what))
		fail_msg("test line %d: rc %d \"%s\", want rc %d \"%s...%s...\"", src_line, (int)got, err, (int)rc,
			 want, what);
	assert_null(p.passes);
	assert_null(p.services);
}
#define expect_err(text, rc, line, key, what) expect_err_at(text, rc, line, key, what, __LINE__)

static void test_unit_service(void **state)
{
	struct zdu_plan p;
	const struct zdu_plan *q;

	(void)state;
	load_ok(HEAD SERVICES NODES, &p);
	assert_int_equal(p.unit, ZDU_UNIT_SERVICE);
	assert_int_equal(p.nservices, 3);
	assert_int_equal(p.npasses, 3);

	/* nova-api: cutover, its own first group, every node */
	q = &p.passes[0];
	assert_ptr_equal(q->whole, &p);
	assert_string_equal(q->backend, "nova_api");
	assert_int_equal(q->nbackends, 1);
	assert_string_equal(q->backends[0].service, "nova-api");
	assert_string_equal(q->backends[0].expect_version, "2.93");
	assert_string_equal(q->flag_service, "nova-api");
	assert_string_equal(q->scope, "nova-api");
	assert_int_equal(q->strategy, ZDU_STRATEGY_CUTOVER);
	assert_int_equal(q->nnodes, 3);
	assert_int_equal(q->nodes[0].first_group, 1);
	assert_int_equal(q->nodes[1].first_group, 0);
	assert_string_equal(q->upgrade_command, "upgrade {node} {service}");

	/* placement-api: rolling (the plan's), api2's own server name, its
	 * before_command */
	q = &p.passes[1];
	assert_int_equal(q->strategy, ZDU_STRATEGY_ROLLING);
	assert_string_equal(q->nodes[0].servers[0], "api1");
	assert_string_equal(q->nodes[1].servers[0], "p2");
	assert_string_equal(q->nodes[2].servers[0], "api3");
	assert_string_equal(q->before_command, "placement-status upgrade check");
	assert_string_equal(q->after_command, "");
	assert_int_equal(q->min_ready, 1);

	/* glance-api: not on api3; its own upgrade_command */
	q = &p.passes[2];
	assert_int_equal(q->nnodes, 2);
	assert_string_equal(q->nodes[1].name, "api2");
	assert_int_equal(q->nodes[1].index, 1);
	assert_string_equal(q->upgrade_command, "up-glance {node}");
	zdu_plan_free(&p);
}

/* The plan's strategy = "cutover" with unit = "service": each service's pass
 * is a cutover with its own first group (the first half of the nodes serving
 * it); the whole plan's nodes have none, there is no whole-plan switch. (The
 * plan fuzzer's harness once expected a group on the whole plan.) */
static void test_unit_service_cutover(void **state)
{
	const char *text = HEAD "strategy = \"cutover\";\nmin_ready = 0;\n"
				"services = ( { name = \"nova-api\"; backend = \"nova_api\"; },\n"
				"  { name = \"placement-api\"; backend = \"placement\"; },\n"
				"  { name = \"glance-api\"; backend = \"glance\"; } );\n" NODES;
	struct zdu_plan p;
	size_t i, k;

	(void)state;
	load_ok(text, &p);
	assert_int_equal(p.npasses, 3);
	for (k = 0; k < p.npasses; k++) {
		const struct zdu_plan *q = &p.passes[k];

		assert_int_equal(q->strategy, ZDU_STRATEGY_CUTOVER);
		assert_int_equal(q->nodes[0].first_group, 1);
		for (i = 1; i < q->nnodes; i++)
			assert_int_equal(q->nodes[i].first_group, 0);
	}
	assert_int_equal(p.passes[0].nnodes, 3);
	assert_int_equal(p.passes[2].nnodes, 2);
	for (i = 0; i < p.nnodes; i++)
		assert_int_equal(p.nodes[i].first_group, 0);
	zdu_plan_free(&p);
}

static void test_unit_node(void **state)
{
	const char *text = HEAD "unit = \"node\";\nstrategy = \"cutover\";\n"
				"services = ( { name = \"nova-api\"; backend = \"nova_api\"; expect_version = \"2.93\"; },\n"
				"  { name = \"placement-api\"; backend = \"placement\"; min_ready = 0; },\n"
				"  { name = \"glance-api\"; backend = \"glance\"; } );\n" NODES;
	struct zdu_plan p;
	const struct zdu_plan *q;

	(void)state;
	load_ok(text, &p);
	assert_int_equal(p.npasses, 1);
	q = &p.passes[0];
	assert_int_equal(q->nbackends, 3);
	assert_string_equal(q->backend, "nova_api, placement, glance");
	assert_string_equal(q->flag_service, "");
	assert_string_equal(q->scope, "");
	assert_null(q->service);
	assert_int_equal(q->nnodes, 3);
	assert_string_equal(q->nodes[1].servers[1], "p2");
	assert_string_equal(q->nodes[2].servers[0], "api3");
	assert_null(q->nodes[2].servers[2]); /* api3 serves no glance */
	assert_int_equal(q->backends[1].min_ready, 0);
	assert_int_equal(q->backends[0].min_ready, 1);
	/* the first half, rounded down: api1 */
	assert_int_equal(q->nodes[0].first_group, 1);
	assert_int_equal(q->nodes[1].first_group + q->nodes[2].first_group, 0);
	zdu_plan_free(&p);
}

/* A plan without services is its own one pass. */
static void test_single(void **state)
{
	struct zdu_plan p;

	(void)state;
	load_ok("backend = \"nova\";\n" HEAD "nodes = ( { name = \"a\"; server = \"s1\"; agent = \"ssh:a\"; },\n"
		"          { name = \"b\"; agent = \"ssh:b\"; } );\n",
		&p);
	assert_int_equal(p.npasses, 0);
	assert_ptr_equal(p.whole, &p);
	assert_int_equal(p.nbackends, 1);
	assert_string_equal(p.backends[0].backend, "nova");
	assert_string_equal(p.backends[0].service, "");
	assert_string_equal(p.nodes[0].servers[0], "s1");
	assert_string_equal(p.nodes[1].servers[0], "b");
	assert_string_equal(p.flag_service, "");
	zdu_plan_free(&p);
}

static void test_errors(void **state)
{
	char t[4096];

	(void)state;
	/* neither backend nor services; both */
	expect_err(HEAD NODES, ZDU_ERR_PARSE, 0, "backend", "missing");
	expect_err("backend = \"x\";\n" HEAD SERVICES NODES, ZDU_ERR_PARSE, 1, "backend", "given with services");
	/* unit and serves only with services */
	expect_err("backend = \"x\";\nunit = \"node\";\n" HEAD "nodes = ( { name = \"a\"; agent = \"ssh:a\"; }, "
		   "{ name = \"b\"; agent = \"ssh:b\"; } );\n",
		   ZDU_ERR_PARSE, 2, "unit", "only with services");
	/* a node serving a service not in the list */
	snprintf(t, sizeof(t), "%s%s", HEAD SERVICES,
		 "nodes = ( { name = \"a\"; agent = \"ssh:a\"; serves = [ \"keystone\" ]; },\n"
		 "          { name = \"b\"; agent = \"ssh:b\"; } );\n");
	expect_err(t, ZDU_ERR_PARSE, 12, "nodes[0].serves", "no service named \"keystone\"");
	/* a service given twice; a bad name; a bad version; a bad strategy */
	expect_err(HEAD "services = ( { name = \"a\"; backend = \"x\"; },\n { name = \"a\"; backend = \"y\"; } );\n" NODES,
		   ZDU_ERR_PARSE, 6, "services[1]", "given twice");
	expect_err(HEAD "services = ( { name = \"a b\"; backend = \"x\"; } );\n" NODES, ZDU_ERR_PARSE, 5,
		   "services[0].name", "must be 1 to 63");
	expect_err(HEAD "services = ( { name = \"a\"; backend = \"x\";\n expect_version = \"new\"; } );\n" NODES,
		   ZDU_ERR_PARSE, 6, "services[0].expect_version", "not a microversion");
	expect_err(HEAD "services = ( { name = \"a\"; backend = \"x\";\n strategy = \"fast\"; } );\n" NODES,
		   ZDU_ERR_PARSE, 6, "services[0].strategy", "not \"rolling\" or \"cutover\"");
	/* per-service rolling keys with unit = "node" */
	expect_err(HEAD "unit = \"node\";\nservices = ( { name = \"a\"; backend = \"x\";\n upgrade_command = \"u\"; } );\n" NODES,
		   ZDU_ERR_PARSE, 7, "services[0].upgrade_command", "only with unit = \"service\"");
	/* a service's window command has no node */
	expect_err(HEAD "services = ( { name = \"a\"; backend = \"x\";\n after_command = \"x {node}\"; } );\n" NODES,
		   ZDU_ERR_PARSE, 6, "services[0].after_command", "no value");
	/* a cutover group naming a node that does not serve the service */
	expect_err(HEAD "services = ( { name = \"g\"; backend = \"x\"; strategy = \"cutover\";\n"
			"  first_group = [ \"api3\" ]; }, { name = \"h\"; backend = \"y\"; } );\n"
			"nodes = ( { name = \"api1\"; agent = \"ssh:a\"; }, { name = \"api2\"; agent = \"ssh:b\"; },\n"
			"  { name = \"api3\"; agent = \"ssh:c\"; serves = [ \"h\" ]; } );\n",
		   ZDU_ERR_PARSE, 6, "first_group", "no node named \"api3\"");
	/* serves = [ ] says nothing: refused */
	expect_err(HEAD "services = ( { name = \"g\"; backend = \"x\"; } );\n"
			"nodes = ( { name = \"api1\"; agent = \"ssh:a\"; },\n { name = \"api2\"; agent = \"ssh:b\"; serves = [ ]; } );\n",
		   ZDU_ERR_TYPE, 7, "nodes[1].serves", "empty list");
	/* min_ready that two nodes of a service cannot keep */
	expect_err(HEAD "min_ready = 2;\nservices = ( { name = \"g\"; backend = \"x\"; } );\n"
			"nodes = ( { name = \"a\"; agent = \"ssh:a\"; }, { name = \"b\"; agent = \"ssh:b\"; } );\n",
		   ZDU_ERR_RANGE, 6, "services[0]", "can never stay ready");
}

static void test_digest(void **state)
{
	struct zdu_plan a, b;
	char t[4096];

	(void)state;
	load_ok(HEAD SERVICES NODES, &a);
	snprintf(t, sizeof(t), "%s%s", HEAD "unit = \"node\";\n"
					    "services = ( { name = \"nova-api\"; backend = \"nova_api\"; },\n"
					    "  { name = \"placement-api\"; backend = \"placement\"; },\n"
					    "  { name = \"glance-api\"; backend = \"glance\"; } );\n",
		 NODES);
	load_ok(t, &b);
	assert_true(zdu_plan_digest(&a) != zdu_plan_digest(&b));
	zdu_plan_free(&b);
	/* the same plan again: the same digest */
	load_ok(HEAD SERVICES NODES, &b);
	assert_true(zdu_plan_digest(&a) == zdu_plan_digest(&b));
	zdu_plan_free(&b);
	zdu_plan_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unit_service), cmocka_unit_test(test_unit_service_cutover),
		cmocka_unit_test(test_unit_node), cmocka_unit_test(test_single),
		cmocka_unit_test(test_errors),	     cmocka_unit_test(test_digest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
