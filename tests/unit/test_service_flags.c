/* The node's flags and a service's: which one holds the service (the local
 * file over etcd within each pair, then the stricter, the node's on a
 * tie), and what the reply says about it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "zdu/common.h"
#include "zdu/reply.h"
#include "zdu/state.h"

static void set(struct zdu_node_state *n, enum zdu_flag_src src, enum zdu_flag_mode m, const char *reason)
{
	memset(&n->flag[src], 0, sizeof(n->flag[src]));
	n->flag[src].mode = m;
	zdu_strlcpy(n->flag[src].reason, reason, sizeof(n->flag[src].reason));
}

static void node(struct zdu_node_state *n)
{
	memset(n, 0, sizeof(*n));
	zdu_strlcpy(n->service, "placement", sizeof(n->service));
	n->weight_pct = 100;
	n->health.health = ZDU_HEALTH_UP;
}

static int rank(enum zdu_flag_mode m)
{
	return m == ZDU_FLAG_MAINT ? 3 : m == ZDU_FLAG_DRAIN ? 2 : m == ZDU_FLAG_LB ? 1 : 0;
}

/* Every combination of the four sources' modes. */
static void test_precedence_table(void **unused)
{
	struct zdu_node_state n;
	int a, b, c, d;

	(void)unused;
	for (a = 0; a < 4; a++)
		for (b = 0; b < 4; b++)
			for (c = 0; c < 4; c++)
				for (d = 0; d < 4; d++) {
					enum zdu_flag_src src, nsrc, ssrc, want;
					const struct zdu_flag *f;

					node(&n);
					set(&n, ZDU_SRC_FILE, (enum zdu_flag_mode)a, "node file");
					set(&n, ZDU_SRC_ETCD, (enum zdu_flag_mode)b, "node etcd");
					set(&n, ZDU_SRC_SVC_FILE, (enum zdu_flag_mode)c, "svc file");
					set(&n, ZDU_SRC_SVC_ETCD, (enum zdu_flag_mode)d, "svc etcd");
					nsrc = a ? ZDU_SRC_FILE : ZDU_SRC_ETCD;
					ssrc = c ? ZDU_SRC_SVC_FILE : ZDU_SRC_SVC_ETCD;
					want = rank(n.flag[ssrc].mode) > rank(n.flag[nsrc].mode) ? ssrc : nsrc;
					f = zdu_node_flag_src(&n, &src);
					assert_int_equal(src, want);
					assert_ptr_equal(f, &n.flag[want]);
					assert_ptr_equal(zdu_node_flag(&n), f);
					/* Serving only when nothing holds it. */
					assert_int_equal(zdu_node_serving(&n), f->mode == ZDU_FLAG_OFF);
				}
}

static void reply(const struct zdu_node_state *n, char *buf, size_t size)
{
	size_t len = zdu_reply_format(n, buf, size);

	assert_true(len > 0 && buf[len - 1] == '\n');
	buf[len - 1] = '\0';
}

static void test_reply_names_the_flag(void **unused)
{
	struct zdu_node_state n;
	char r[ZDU_REPLY_MAX];

	(void)unused;
	node(&n);
	set(&n, ZDU_SRC_SVC_FILE, ZDU_FLAG_DRAIN, "upgrade placement");
	reply(&n, r, sizeof(r));
	assert_string_equal(r, "up drain #maintenance: service placement: upgrade placement");
	/* The node's drain ties: the node's flag holds, and says so as before. */
	set(&n, ZDU_SRC_ETCD, ZDU_FLAG_DRAIN, "node upgrade");
	reply(&n, r, sizeof(r));
	assert_string_equal(r, "up drain #maintenance: node upgrade");
	/* A stricter service flag wins over the node's. */
	set(&n, ZDU_SRC_SVC_ETCD, ZDU_FLAG_MAINT, "broken schema");
	set(&n, ZDU_SRC_SVC_FILE, ZDU_FLAG_OFF, "");
	reply(&n, r, sizeof(r));
	assert_string_equal(r, "up maint #maintenance: service placement: broken schema");
	/* The local service file wins over the service's etcd key, even when
	 * less strict. */
	set(&n, ZDU_SRC_ETCD, ZDU_FLAG_OFF, "");
	set(&n, ZDU_SRC_SVC_FILE, ZDU_FLAG_LB, "cutover");
	reply(&n, r, sizeof(r));
	assert_string_equal(r, "up 100% #lb-managed: service placement: cutover");
	/* No reason: the service alone. */
	set(&n, ZDU_SRC_SVC_FILE, ZDU_FLAG_DRAIN, "");
	reply(&n, r, sizeof(r));
	assert_string_equal(r, "up drain #maintenance: service placement");
}

static void test_reasons_name_the_service(void **unused)
{
	struct zdu_node_state n;
	char r[ZDU_REPLY_MAX];

	(void)unused;
	node(&n);
	n.health.health = ZDU_HEALTH_UNKNOWN;
	reply(&n, r, sizeof(r));
	assert_string_equal(r, "ready 100% #placement: not probed yet");
	n.health.health = ZDU_HEALTH_UP;
	zdu_strlcpy(n.health.version, "1.39", sizeof(n.health.version));
	reply(&n, r, sizeof(r));
	assert_string_equal(r, "up ready 100% #placement 1.39");
	n.health.health = ZDU_HEALTH_DOWN;
	reply(&n, r, sizeof(r));
	assert_string_equal(r, "down ready 100% #placement: unhealthy");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_precedence_table),
		cmocka_unit_test(test_reply_names_the_flag),
		cmocka_unit_test(test_reasons_name_the_service),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
