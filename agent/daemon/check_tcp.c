/* The tcp kind: a connect to url's HOST:PORT and nothing more (relayd's
 * check_tcp.c). The connect goes through libcurl with CURLOPT_CONNECT_ONLY
 * on the probe's multi handle, not through uv_tcp_connect: the same name
 * resolution (host names, [IPv6]), the same connect_timeout_ms and
 * timeout_ms, the same cancel on reload and the same zdu_http_result as
 * every other kind, so this file is a pure function like the others and the
 * probe has one request path, not a second state machine of a getaddrinfo,
 * a timer and a TCP handle. */
#include <stdio.h>
#include <string.h>

#include "zdu/check.h"

void zdu_check_tcp(const struct zdu_check_ctx *c, const struct zdu_http_result *res,
		   struct zdu_check_result *out)
{
	int good;

	memset(out, 0, sizeof(*out));
	/* CURLE_OK is the connection made; a refusal, an unreachable host or
	 * a connect timeout are the transport's reasons. A connect is its own
	 * answer: a late one (only when allowed past timeout_ms) is slow, one
	 * that never came is a failure ("connect timeout"), never slow. */
	good = zdu_check_transport(c->name, res, c->timeout_ms, out->reason, sizeof(out->reason)) == 0;
	zdu_check_finish(c, res, good, out);
	if (out->cls == ZDU_PROBE_SLOW && !good) {
		/* cut while connecting: curl's connected flag cannot be set here */
		out->cls = ZDU_PROBE_FAILED;
		out->slow_reason[0] = '\0';
		snprintf(out->reason, sizeof(out->reason), "%s: connect timeout", c->name);
	}
}
