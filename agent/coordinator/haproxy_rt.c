#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "zdu/config.h"
#include "zdu/haproxy.h"
#include "zdu/stream_req.h"

#define RT_MAX_ANSWER (8u << 20) /* a show stat of thousands of servers fits */

struct rt_call {
	zdu_rt_cb cb;
	void *data;
};

static void rt_done(const struct zdu_sreq_result *res, void *data)
{
	struct rt_call *rc = data;
	char err[256];

	switch (res->status) {
	case ZDU_SREQ_OK:
		rc->cb(0, res->answer, res->len, NULL, rc->data);
		break;
	case ZDU_SREQ_IO:
		snprintf(err, sizeof(err), "%s: %s", res->what, uv_strerror(res->uv_err));
		rc->cb(-1, NULL, 0, err, rc->data);
		break;
	case ZDU_SREQ_TIMEOUT:
		rc->cb(-1, NULL, 0, "no complete answer in time", rc->data);
		break;
	case ZDU_SREQ_TOO_LONG:
		snprintf(err, sizeof(err), "answer over %u bytes", RT_MAX_ANSWER);
		rc->cb(-1, NULL, 0, err, rc->data);
		break;
	}
	free(rc);
}

int zdu_rt_request(uv_loop_t *loop, const char *addr, const char *cmd, unsigned timeout_ms, zdu_rt_cb cb,
		   void *data)
{
	struct zdu_sreq rq = { NULL, NULL, NULL, timeout_ms, RT_MAX_ANSWER, 0 };
	struct sockaddr_storage ss;
	struct rt_call *rc;
	char *line;

	if (strncmp(addr, "unix:", 5) == 0)
		rq.path = addr + 5;
	else if (addr[0] == '/')
		rq.path = addr;
	else if (zdu_parse_hostport(addr, &ss) < 0)
		return -1;
	else
		rq.addr = (const struct sockaddr *)&ss;
	if (asprintf(&line, "%s\n", cmd) < 0)
		return -1;
	rq.req = line;
	if (!(rc = malloc(sizeof(*rc)))) {
		free(line);
		return -1;
	}
	rc->cb = cb;
	rc->data = data;
	if (zdu_stream_request(loop, &rq, rt_done, rc) < 0) {
		free(rc);
		free(line);
		return -1;
	}
	free(line);
	return 0;
}
