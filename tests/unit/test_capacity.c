/* capacity.c: zdu_capacity_may_leave, the coordinator's "may this node leave
 * under min_ready" on one load balancer.
 *
 *   every status HAProxy shows for the other servers (each counted as
 *   zdu_lb_server_up says), weight 0, the boundary min_ready - 1 / min_ready,
 *   min_ready 0, the leaving server already out (DRAIN, MAINT, DOWN, weight 0,
 *   absent), an empty backend, the counts, and the list of the others that do
 *   not serve, truncated at every buffer size (an exact-size heap buffer, so
 *   AddressSanitizer sees any overrun); then the backends of a real
 *   `show stat` parsed by zdu_stat_parse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/capacity.h"
#include "zdu/haproxy.h"

#define MAXS 8

struct be {
	struct zdu_lb_server s[MAXS];
	struct zdu_lb_backend b;
};

/* A backend of "name:STATUS:weight" items. */
static void be_make(struct be *be, const char *const *items, size_t n)
{
	size_t i;

	assert_true(n <= MAXS);
	memset(be, 0, sizeof(*be));
	for (i = 0; i < n; i++) {
		char buf[128], *status, *weight;

		snprintf(buf, sizeof(buf), "%s", items[i]);
		status = strchr(buf, ':');
		assert_non_null(status);
		*status++ = '\0';
		weight = strrchr(status, ':');
		assert_non_null(weight);
		*weight++ = '\0';
		snprintf(be->s[i].name, sizeof(be->s[i].name), "%s", buf);
		snprintf(be->s[i].status, sizeof(be->s[i].status), "%s", status);
		be->s[i].weight = strtol(weight, NULL, 10);
		be->s[i].uweight = be->s[i].weight;
	}
	be->b.servers = be->s;
	be->b.n = n;
}

#define BE(be, ...)                                                                                     \
	do {                                                                                            \
		static const char *const items_[] = { __VA_ARGS__ };                                    \
		be_make((be), items_, sizeof(items_) / sizeof(items_[0]));                              \
	} while (0)

/* ------------------------------------------------------------ tests */

static void test_all_serving(void **state)
{
	struct be be;
	struct zdu_capacity cap;
	char why[256];

	(void)state;
	BE(&be, "node1:UP:100", "node2:UP:100", "node3:UP:100");
	assert_int_equal(zdu_capacity_may_leave(&be.b, "node1", 2, &cap, why, sizeof(why)), 1);
	assert_int_equal(cap.serving, 2);
	assert_int_equal(cap.others, 2);
	assert_int_equal(cap.leaving_serves, 1);
	assert_string_equal(why, "");
	/* more than there are others: no */
	assert_int_equal(zdu_capacity_may_leave(&be.b, "node1", 3, &cap, NULL, 0), 0);
	assert_int_equal(cap.serving, 2);
}

/* The case: node1 back, node3 failed, node2 next, min_ready 2. */
static void test_one_down(void **state)
{
	struct be be;
	struct zdu_capacity cap;
	char why[256];

	(void)state;
	BE(&be, "node1:UP:100", "node2:UP:100", "node3:DOWN (agent):100");
	assert_int_equal(zdu_capacity_may_leave(&be.b, "node2", 2, &cap, why, sizeof(why)), 0);
	assert_int_equal(cap.serving, 1);
	assert_int_equal(cap.others, 2);
	assert_int_equal(cap.leaving_serves, 1);
	assert_string_equal(why, "node3 DOWN (agent) weight 100");
	/* min_ready 1: one other is enough */
	assert_int_equal(zdu_capacity_may_leave(&be.b, "node2", 1, &cap, why, sizeof(why)), 1);
	/* min_ready 0: always */
	BE(&be, "node1:DOWN:100", "node2:UP:100", "node3:MAINT:100");
	assert_int_equal(zdu_capacity_may_leave(&be.b, "node2", 0, &cap, why, sizeof(why)), 1);
	assert_int_equal(cap.serving, 0);
	assert_string_equal(why, "node1 DOWN weight 100, node3 MAINT weight 100");
}

/* Each status of another server counts as zdu_lb_server_up says: UP (going
 * down or not) and "no check" serve; DOWN (coming up or not), NOLB, DRAIN
 * and MAINT do not; weight 0 never serves. */
static void test_other_states(void **state)
{
	static const struct {
		const char *status;
		int serves;
	} cases[] = {
		{ "UP", 1 },	       { "UP 1/3", 1 },		 { "UP (agent)", 1 },	   { "no check", 1 },
		{ "DOWN", 0 },	       { "DOWN 1/2", 0 },	 { "DOWN (agent)", 0 },	   { "NOLB", 0 },
		{ "DRAIN", 0 },	       { "DRAIN (agent)", 0 },	 { "MAINT", 0 },	   { "MAINT (via x)", 0 },
		{ "MAINT (resolution)", 0 }, { "", 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct be be;
		struct zdu_capacity cap;
		const char *items[2];
		char other[96], why[128];
		int w;

		for (w = 0; w <= 100; w += 100) {
			snprintf(other, sizeof(other), "node3:%s:%d", cases[i].status, w);
			items[0] = "node2:UP:100";
			items[1] = other;
			be_make(&be, items, 2);
			if (zdu_capacity_may_leave(&be.b, "node2", 1, &cap, why, sizeof(why)) !=
			    (cases[i].serves && w > 0))
				fail_msg("other \"%s\" weight %d: may leave %d", cases[i].status, w,
					 !(cases[i].serves && w > 0));
			assert_int_equal(cap.serving, cases[i].serves && w > 0);
			assert_int_equal(cap.others, 1);
			if (cap.serving)
				assert_string_equal(why, "");
			else
				assert_non_null(strstr(why, "node3 "));
		}
	}
}

/* A server that does not serve takes nothing away by staying out: the node
 * in progress, drained by its own step, continues whatever the others do. */
static void test_leaving_already_out(void **state)
{
	static const char *const out[] = { "DRAIN (agent)", "MAINT", "DOWN (agent)", "DOWN 1/2", "NOLB" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(out) / sizeof(out[0]); i++) {
		struct be be;
		struct zdu_capacity cap;
		const char *items[3];
		char me[96];

		snprintf(me, sizeof(me), "node2:%s:100", out[i]);
		items[0] = "node1:UP:100";
		items[1] = me;
		items[2] = "node3:DOWN (agent):100";
		be_make(&be, items, 3);
		if (!zdu_capacity_may_leave(&be.b, "node2", 2, &cap, NULL, 0))
			fail_msg("node2 \"%s\" (out already): refused", out[i]);
		assert_int_equal(cap.leaving_serves, 0);
		assert_int_equal(cap.serving, 1);
	}
	{
		struct be be;
		struct zdu_capacity cap;

		/* UP at weight 0: not serving either */
		BE(&be, "node1:UP:100", "node2:UP:0", "node3:DOWN:100");
		assert_int_equal(zdu_capacity_may_leave(&be.b, "node2", 2, &cap, NULL, 0), 1);
		assert_int_equal(cap.leaving_serves, 0);
		/* the same node serving: refused */
		BE(&be, "node1:UP:100", "node2:UP:1", "node3:DOWN:100");
		assert_int_equal(zdu_capacity_may_leave(&be.b, "node2", 2, &cap, NULL, 0), 0);
		/* absent from the backend: nothing to take away */
		BE(&be, "node1:UP:100", "node3:DOWN:100");
		assert_int_equal(zdu_capacity_may_leave(&be.b, "node2", 2, &cap, NULL, 0), 1);
		assert_int_equal(cap.others, 2);
		assert_int_equal(cap.leaving_serves, 0);
	}
}

static void test_empty_backend(void **state)
{
	struct zdu_lb_backend b = { .servers = NULL, .n = 0 };
	struct zdu_capacity cap = { 7, 7, 7 };
	char why[8] = "x";

	(void)state;
	assert_int_equal(zdu_capacity_may_leave(&b, "node1", 1, &cap, why, sizeof(why)), 1);
	assert_int_equal(cap.serving, 0);
	assert_int_equal(cap.others, 0);
	assert_int_equal(cap.leaving_serves, 0);
	assert_string_equal(why, "");
	/* cap and why are optional */
	assert_int_equal(zdu_capacity_may_leave(&b, "node1", 1, NULL, NULL, 0), 1);
}

/* The list of the others that do not serve, at every buffer size: always
 * NUL-terminated within the buffer, a prefix of the whole list. */
static void test_why_truncated(void **state)
{
	struct be be;
	char full[512];
	size_t size;

	(void)state;
	BE(&be, "node1:UP:100", "node2:DOWN (agent):100", "node3:MAINT (via other/node3):0",
	   "node4:DRAIN (agent):100", "node5:UP:0");
	assert_int_equal(zdu_capacity_may_leave(&be.b, "node1", 1, NULL, full, sizeof(full)), 0);
	assert_string_equal(full, "node2 DOWN (agent) weight 100, node3 MAINT (via other/node3) weight 0, "
				  "node4 DRAIN (agent) weight 100, node5 UP weight 0");
	for (size = 1; size <= strlen(full) + 1; size++) {
		char *why = malloc(size);

		assert_non_null(why);
		memset(why, 'X', size);
		assert_int_equal(zdu_capacity_may_leave(&be.b, "node1", 1, NULL, why, size), 0);
		assert_true(memchr(why, '\0', size) != NULL);
		assert_int_equal(strncmp(why, full, strlen(why)), 0);
		free(why);
	}
	/* size 0: not touched */
	{
		char one = 'X';

		assert_int_equal(zdu_capacity_may_leave(&be.b, "node1", 1, NULL, &one, 0), 0);
		assert_int_equal(one, 'X');
	}
}

/* Backends as zdu_stat_parse reads them from `show stat` (the columns the
 * coordinator needs, HAProxy 2.6 order, other proxies around). */
static void test_from_show_stat(void **state)
{
	static const char csv[] =
		"# pxname,svname,qcur,scur,status,weight,uweight,last_agt,agent_status\n"
		"fe,FRONTEND,,0,OPEN,,,,\n"
		"nova-api,node1,0,0,UP,100,100,up ready 100%,L7OK\n"
		"nova-api,node2,0,3,UP,100,100,up ready 100%,L7OK\n"
		"nova-api,node3,0,0,DOWN (agent),100,100,\"down #nova-api: HTTP 500\",L7STS\n"
		"nova-api,BACKEND,0,3,UP,200,200,,\n"
		"other,node3,0,0,UP,100,100,,\n";
	struct zdu_lb_backend b;
	struct zdu_capacity cap;
	char err[256], why[128];

	(void)state;
	assert_int_equal(zdu_stat_parse(csv, sizeof(csv) - 1, "nova-api", &b, err, sizeof(err)), 0);
	assert_int_equal(b.n, 3);
	assert_int_equal(zdu_capacity_may_leave(&b, "node2", 2, &cap, why, sizeof(why)), 0);
	assert_int_equal(cap.serving, 1);
	assert_int_equal(cap.others, 2);
	assert_string_equal(why, "node3 DOWN (agent) weight 100");
	assert_int_equal(zdu_capacity_may_leave(&b, "node2", 1, &cap, why, sizeof(why)), 1);
	/* node3 leaving: it is out already */
	assert_int_equal(zdu_capacity_may_leave(&b, "node3", 2, &cap, why, sizeof(why)), 1);
	assert_int_equal(cap.serving, 2);
	zdu_lb_backend_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_serving),	  cmocka_unit_test(test_one_down),
		cmocka_unit_test(test_other_states),	  cmocka_unit_test(test_leaving_already_out),
		cmocka_unit_test(test_empty_backend),	  cmocka_unit_test(test_why_truncated),
		cmocka_unit_test(test_from_show_stat),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
