/* check_tcp.c and the connect-only request of agent/common/http.c:
 *   - the kind on zdu_http_result values: a connection made is up, a
 *     refusal or a connect timeout is a failure (never slow: a connect is
 *     its own answer), a late connect of an up service is slow;
 *   - a real connect on a libuv loop through libcurl's multi interface with
 *     CURLOPT_CONNECT_ONLY (127.0.0.1, a port of the test's own): CURLE_OK
 *     and connected while something listens, "connection refused" once it is
 *     closed, and nothing sent to the listener. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "check_testlib.h"
#include "zdu/http.h"

static void test_kind(void **state)
{
	struct zdu_check_ctx c = ctx_named("memcached");
	struct zdu_check_result out;
	struct zdu_http_result r = transport(CURLE_OK, 1, 2);

	(void)state;
	run_check(zdu_check_tcp, &c, &r, &out);
	assert_int_equal(out.cls, ZDU_PROBE_OK);
	assert_string_equal(out.version, "");
	r = transport(CURLE_COULDNT_CONNECT, 0, 1);
	run_check(zdu_check_tcp, &c, &r, &out);
	assert_int_equal(out.cls, ZDU_PROBE_FAILED);
	assert_string_equal(out.reason, "memcached: connection refused");
	r = transport(CURLE_OPERATION_TIMEDOUT, 0, T_TIMEOUT);
	run_check(zdu_check_tcp, &c, &r, &out);
	assert_int_equal(out.cls, ZDU_PROBE_FAILED);
	assert_string_equal(out.reason, "memcached: connect timeout");
	/* even allowed longer and flagged connected: a connect that never
	 * completed is no slow answer */
	c.limit_ms = T_LIMIT;
	r = transport(CURLE_OPERATION_TIMEDOUT, 1, T_LIMIT);
	run_check(zdu_check_tcp, &c, &r, &out);
	assert_int_equal(out.cls, ZDU_PROBE_FAILED);
	assert_string_equal(out.reason, "memcached: connect timeout");
	/* a connect made after timeout_ms by a request allowed longer */
	r = transport(CURLE_OK, 1, 1500);
	run_check(zdu_check_tcp, &c, &r, &out);
	assert_int_equal(out.cls, ZDU_PROBE_SLOW);
	assert_string_equal(out.slow_reason, "memcached: slow: 1.5 s");
	assert_string_equal(out.reason, "memcached: timeout after 1000 ms");
	r = transport(CURLE_COULDNT_RESOLVE_HOST, 0, 1);
	run_check(zdu_check_tcp, &c, &r, &out);
	assert_string_equal(out.reason, "memcached: cannot resolve the host");
}

/* ------------------------------------------------------------ a real connect */

struct got {
	int done;
	struct zdu_http_result res;
};

static void on_done(const struct zdu_http_result *res, void *data)
{
	struct got *g = data;

	g->done = 1;
	g->res = *res;
	g->res.body = NULL;
}

static int listener(int *port)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static struct got connect_once(uv_loop_t *loop, struct zdu_http *h, int port)
{
	char url[64];
	struct zdu_http_opts o;
	struct got g;
	uint64_t t0 = uv_now(loop);

	memset(&g, 0, sizeof(g));
	memset(&o, 0, sizeof(o));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	o.url = url;
	o.timeout_ms = 2000;
	o.connect_timeout_ms = 1000;
	o.max_body = 1024;
	o.connect_only = 1;
	assert_non_null(zdu_http_request(h, &o, on_done, &g));
	while (!g.done && uv_now(loop) - t0 < 5000) {
		uv_run(loop, UV_RUN_ONCE);
		uv_update_time(loop);
	}
	assert_true(g.done);
	return g;
}

static void test_real_connect(void **state)
{
	uv_loop_t loop;
	struct zdu_http *h;
	struct zdu_check_ctx c = ctx_named("memcached");
	struct zdu_check_result out;
	struct got g;
	int port, fd, cfd;
	char buf[16];
	ssize_t n;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	h = zdu_http_new(&loop);
	assert_non_null(h);
	fd = listener(&port);
	g = connect_once(&loop, h, port);
	if (g.res.curl != CURLE_OK)
		fail_msg("connect-only to a listener: curl %d (%s)", (int)g.res.curl, g.res.curl_msg);
	assert_int_equal(g.res.connected, 1);
	assert_int_equal(g.res.status, 0);
	run_check(zdu_check_tcp, &c, &g.res, &out);
	assert_int_equal(out.cls, ZDU_PROBE_OK);
	/* the listener got a connection and not one byte (closed since) */
	cfd = accept(fd, NULL, NULL);
	assert_true(cfd >= 0);
	n = recv(cfd, buf, sizeof(buf), 0);
	assert_int_equal(n, 0);
	close(cfd);
	close(fd);
	g = connect_once(&loop, h, port);
	assert_int_equal(g.res.curl, CURLE_COULDNT_CONNECT);
	run_check(zdu_check_tcp, &c, &g.res, &out);
	assert_string_equal(out.reason, "memcached: connection refused");
	zdu_http_close(h);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kind),
		cmocka_unit_test(test_real_connect),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
