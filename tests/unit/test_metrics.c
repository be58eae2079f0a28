/* zdu_metrics_render: Prometheus's text format from a status snapshot.
 * Today's status (one service at the top level) is service "nova-api"; a
 * "services" array gives one set of samples per entry, each family still one
 * group; the histogram's buckets are cumulative in seconds; label values are
 * escaped; an older probe object without outcomes still gives them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/metrics.h"
#include "zdu/probe_stats.h"

/* A status as zdu_status_json() gives it (trimmed to what is rendered). */
static const char today[] =
	"{\"ok\":true,\"version\":\"1.2.3\",\"reply\":\"up drain #maintenance: kernel\","
	"\"generation\":7,\"reply_age_ms\":1500,\"uptime_s\":100,"
	"\"flag\":{\"active\":true,\"mode\":\"drain\",\"since\":\"2026-12-06T10:00:00Z\",\"error\":null,"
	" \"file\":{\"active\":false,\"mode\":\"off\",\"error\":null},"
	" \"etcd\":{\"active\":true,\"mode\":\"drain\",\"source\":\"all\",\"error\":null,\"reachable\":false,"
	"  \"revision\":42,\"unreachable_s\":12}},"
	"\"health\":{\"state\":\"up\",\"version\":\"2.95\",\"min_version\":\"2.1\",\"disabled\":false,"
	" \"slow\":null},"
	"\"connections\":{\"current\":1,\"accepted\":500,\"evicted\":2,\"timed_out\":3,\"oversized\":4},"
	"\"drain\":{\"known\":true,\"connections\":9,\"idle\":0,\"drained\":false},\"drained\":false,"
	"\"probe\":{\"probes\":10,\"failures\":3,\"slow_probes\":1,\"last_unix_ms\":1796597930000,"
	" \"outcomes\":{\"ok\":7,\"slow\":1,\"failed\":2},"
	" \"duration_ms\":{\"le\":[5,10,25],\"buckets\":[1,4,9,10],\"sum\":1234,\"count\":10}}}";

static char *render(const char *json)
{
	json_error_t e;
	json_t *st = json_loads(json, 0, &e);
	char *text;
	size_t len;

	assert_non_null(st);
	text = zdu_metrics_render(st, 1000000, &len);
	json_decref(st);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	return text;
}

static void has(const char *text, const char *line)
{
	char want[512];

	snprintf(want, sizeof(want), "\n%s\n", line);
	if (!strstr(text, want))
		fail_msg("missing line: %s\n--- in ---\n%s", line, text);
}

static int count(const char *text, const char *needle)
{
	int n = 0;

	for (; (text = strstr(text, needle)); text++)
		n++;
	return n;
}

static void test_today_status(void **unused)
{
	char *t = render(today);

	(void)unused;
	has(t, "zdu_agent_build_info{version=\"1.2.3\"} 1");
	has(t, "zdu_agent_start_time_seconds 999900");
	has(t, "zdu_agent_replies_total 500");
	has(t, "zdu_agent_reply_operational{service=\"nova-api\",state=\"up\"} 1");
	has(t, "zdu_agent_reply_administrative{service=\"nova-api\",state=\"drain\"} 1");
	has(t, "zdu_agent_reply_administrative{service=\"nova-api\",state=\"ready\"} 0");
	has(t, "zdu_agent_reply_changes_total{service=\"nova-api\"} 7");
	has(t, "zdu_agent_reply_age_seconds{service=\"nova-api\"} 1.5");
	has(t, "zdu_agent_maintenance{service=\"nova-api\"} 1");
	has(t, "zdu_agent_maintenance_mode{service=\"nova-api\",mode=\"drain\"} 1");
	has(t, "zdu_agent_maintenance_flag{service=\"nova-api\",source=\"file\"} 0");
	has(t, "zdu_agent_maintenance_flag{service=\"nova-api\",source=\"etcd_cluster\"} 1");
	has(t, "zdu_agent_maintenance_flag{service=\"nova-api\",source=\"etcd_node\"} 0");
	has(t, "zdu_agent_maintenance_since_timestamp_seconds{service=\"nova-api\"} 1796551200");
	has(t, "zdu_agent_health{service=\"nova-api\",state=\"up\"} 1");
	has(t, "zdu_agent_probes_total{service=\"nova-api\",outcome=\"ok\"} 7");
	has(t, "zdu_agent_probes_total{service=\"nova-api\",outcome=\"failed\"} 2");
	has(t, "# TYPE zdu_agent_probe_duration_seconds histogram");
	has(t, "zdu_agent_probe_duration_seconds_bucket{service=\"nova-api\",le=\"0.005\"} 1");
	has(t, "zdu_agent_probe_duration_seconds_bucket{service=\"nova-api\",le=\"0.025\"} 9");
	has(t, "zdu_agent_probe_duration_seconds_bucket{service=\"nova-api\",le=\"+Inf\"} 10");
	has(t, "zdu_agent_probe_duration_seconds_sum{service=\"nova-api\"} 1.234");
	has(t, "zdu_agent_probe_duration_seconds_count{service=\"nova-api\"} 10");
	has(t, "zdu_agent_api_version_info{service=\"nova-api\",version=\"2.95\",min_version=\"2.1\"} 1");
	has(t, "zdu_agent_api_version_major{service=\"nova-api\"} 2");
	has(t, "zdu_agent_api_version_minor{service=\"nova-api\"} 95");
	has(t, "zdu_agent_drain_connections{service=\"nova-api\"} 9");
	has(t, "zdu_agent_etcd_reachable 0");
	has(t, "zdu_agent_etcd_revision 42");
	has(t, "zdu_agent_etcd_unreachable_seconds 12");
	free(t);
}

/* After issue 17: one object per service; each family one group. */
static void test_services_array(void **unused)
{
	char *t = render("{\"version\":\"1\",\"services\":["
			 "{\"name\":\"nova-api\",\"reply\":\"up ready 50%\",\"health\":{\"state\":\"up\"}},"
			 "{\"name\":\"pla\\\"ce\\\\ment\\n\",\"reply\":\"down ready 100%\","
			 " \"health\":{\"state\":\"down\"}}]}");
	const char *a, *b, *next;

	(void)unused;
	has(t, "zdu_agent_reply_weight_ratio{service=\"nova-api\"} 0.5");
	has(t, "zdu_agent_reply_operational{service=\"pla\\\"ce\\\\ment\\n\",state=\"down\"} 1");
	assert_int_equal(count(t, "# TYPE zdu_agent_health gauge"), 1);
	/* Both services' health samples come after its TYPE and before the next family. */
	a = strstr(t, "# TYPE zdu_agent_health gauge");
	next = strstr(a, "# HELP zdu_agent_health_slow");
	b = strstr(a, "zdu_agent_health{service=\"pla");
	assert_non_null(b);
	assert_true(!next || b < next);
	/* No top-level service is made up beside the array. */
	assert_null(strstr(t, "service=\"nova-api\",state=\"unchecked\"} 1"));
	assert_int_equal(count(t, "zdu_agent_reply_weight_ratio{"), 2);
	free(t);
}

/* A status without outcomes (an older probe): derived from the totals. */
static void test_older_probe(void **unused)
{
	char *t = render("{\"version\":\"1\",\"reply\":\"up ready 100%\","
			 "\"probe\":{\"probes\":10,\"failures\":3,\"slow_probes\":1}}");

	(void)unused;
	has(t, "zdu_agent_probes_total{service=\"nova-api\",outcome=\"ok\"} 7");
	has(t, "zdu_agent_probes_total{service=\"nova-api\",outcome=\"slow\"} 1");
	has(t, "zdu_agent_probes_total{service=\"nova-api\",outcome=\"failed\"} 2");
	assert_null(strstr(t, "zdu_agent_probe_duration_seconds"));
	free(t);
}

/* Flag mode lb: no administrative word; the reason after '#' is not read. */
static void test_reply_tokens(void **unused)
{
	char *t = render("{\"version\":\"1\",\"reply\":\"up 30% #lb-managed: ready drain maint down\"}");

	(void)unused;
	has(t, "zdu_agent_reply_administrative{service=\"nova-api\",state=\"none\"} 1");
	has(t, "zdu_agent_reply_operational{service=\"nova-api\",state=\"up\"} 1");
	has(t, "zdu_agent_reply_weight_ratio{service=\"nova-api\"} 0.3");
	free(t);
}

/* The histogram as the probe records it and the status shows it. */
static void test_probe_hist(void **unused)
{
	struct zdu_probe_hist h;
	json_t *j;
	char *text;

	(void)unused;
	memset(&h, 0, sizeof(h));
	zdu_probe_hist_record(&h, ZDU_OUTCOME_OK, 3);
	zdu_probe_hist_record(&h, ZDU_OUTCOME_OK, 5);     /* le 5 includes 5 */
	zdu_probe_hist_record(&h, ZDU_OUTCOME_SLOW, 700);
	zdu_probe_hist_record(&h, ZDU_OUTCOME_FAILED, 99999); /* +Inf */
	j = zdu_probe_hist_json(&h);
	assert_non_null(j);
	text = json_dumps(j, JSON_COMPACT);
	assert_non_null(strstr(text, "\"outcomes\":{\"ok\":2,\"slow\":1,\"failed\":1}"));
	assert_non_null(strstr(text, "\"buckets\":[2,2,2,2,2,2,2,3,3,3,3,3,4]"));
	assert_non_null(strstr(text, "\"sum\":100707,\"count\":4"));
	free(text);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_today_status),
		cmocka_unit_test(test_services_array),
		cmocka_unit_test(test_older_probe),
		cmocka_unit_test(test_reply_tokens),
		cmocka_unit_test(test_probe_hist),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
