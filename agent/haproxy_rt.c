#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/common.h"
#include "zdu/config.h"
#include "zdu/haproxy.h"

#define RT_MAX_ANSWER (8u << 20) /* a show stat of thousands of servers fits */

struct rt_req {
	union {
		uv_handle_t h;
		uv_stream_t s;
		uv_pipe_t pipe;
		uv_tcp_t tcp;
	} u;
	uv_connect_t conn;
	uv_write_t wr;
	uv_timer_t timer;
	char *cmd;
	char *buf;
	size_t len, cap;
	zdu_rt_cb cb;
	void *data;
	int done;
	int nopen;
	char err[256];
};

static void rt_closed(uv_handle_t *h)
{
	struct rt_req *r = h->data;

	if (--r->nopen > 0)
		return;
	free(r->cmd);
	free(r->buf);
	free(r);
}

static void rt_finish(struct rt_req *r, int ok)
{
	if (r->done)
		return;
	r->done = 1;
	uv_timer_stop(&r->timer);
	if (ok == 0)
		r->cb(0, r->buf ? r->buf : "", r->len, NULL, r->data);
	else
		r->cb(-1, NULL, 0, r->err, r->data);
	uv_close(&r->u.h, rt_closed);
	uv_close((uv_handle_t *)&r->timer, rt_closed);
}

static void rt_fail(struct rt_req *r, const char *what, int status)
{
	snprintf(r->err, sizeof(r->err), "%s: %s", what, uv_strerror(status));
	rt_finish(r, -1);
}

static void rt_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct rt_req *r = h->data;

	(void)suggested;
	if (r->cap - r->len < 4096 && r->cap < RT_MAX_ANSWER + 1) {
		size_t cap = r->cap ? r->cap * 2 : 16384;
		char *b = realloc(r->buf, cap);

		if (b) {
			r->buf = b;
			r->cap = cap;
		}
	}
	*buf = uv_buf_init(r->buf + r->len, (unsigned)(r->cap - r->len - 1));
}

static void rt_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct rt_req *r = s->data;

	(void)buf;
	if (nread == UV_EOF) {
		rt_finish(r, 0);
		return;
	}
	if (nread < 0) {
		rt_fail(r, "read", (int)nread);
		return;
	}
	r->len += (size_t)nread;
	r->buf[r->len] = '\0';
	if (r->len >= RT_MAX_ANSWER) {
		snprintf(r->err, sizeof(r->err), "answer over %u bytes", RT_MAX_ANSWER);
		rt_finish(r, -1);
	}
}

static void rt_written(uv_write_t *w, int status)
{
	struct rt_req *r = w->data;

	if (status < 0)
		rt_fail(r, "write", status);
}

static void rt_connected(uv_connect_t *c, int status)
{
	struct rt_req *r = c->data;
	uv_buf_t b;
	int rc;

	if (r->done)
		return;
	if (status < 0) {
		rt_fail(r, "connect", status);
		return;
	}
	b = uv_buf_init(r->cmd, (unsigned)strlen(r->cmd));
	r->wr.data = r;
	rc = uv_write(&r->wr, &r->u.s, &b, 1, rt_written);
	if (rc == 0)
		rc = uv_read_start(&r->u.s, rt_alloc, rt_read);
	if (rc < 0)
		rt_fail(r, "write", rc);
}

static void rt_timeout(uv_timer_t *t)
{
	struct rt_req *r = t->data;

	/* A connect that failed at once was parked here with its error, so the
	 * callback never runs from inside zdu_rt_request(). */
	if (!r->err[0])
		snprintf(r->err, sizeof(r->err), "no complete answer in time");
	rt_finish(r, -1);
}

int zdu_rt_request(uv_loop_t *loop, const char *addr, const char *cmd, unsigned timeout_ms, zdu_rt_cb cb,
		   void *data)
{
	struct rt_req *r = calloc(1, sizeof(*r));
	size_t n = strlen(cmd);
	const char *path = NULL;
	int rc;

	if (!r)
		return -1;
	r->cmd = malloc(n + 2);
	if (!r->cmd) {
		free(r);
		return -1;
	}
	memcpy(r->cmd, cmd, n);
	r->cmd[n] = '\n';
	r->cmd[n + 1] = '\0';
	r->cb = cb;
	r->data = data;
	r->conn.data = r;
	if (strncmp(addr, "unix:", 5) == 0)
		path = addr + 5;
	else if (addr[0] == '/')
		path = addr;

	if (path) {
		uv_pipe_init(loop, &r->u.pipe, 0);
		r->u.h.data = r;
		r->nopen = 1;
		uv_pipe_connect(&r->conn, &r->u.pipe, path, rt_connected);
		rc = 0;
	} else {
		struct sockaddr_storage ss;

		if (zdu_parse_hostport(addr, &ss) < 0) {
			free(r->cmd);
			free(r);
			return -1;
		}
		uv_tcp_init(loop, &r->u.tcp);
		r->u.h.data = r;
		r->nopen = 1;
		rc = uv_tcp_connect(&r->conn, &r->u.tcp, (struct sockaddr *)&ss, rt_connected);
	}
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	r->nopen++;
	if (rc < 0)
		snprintf(r->err, sizeof(r->err), "connect: %s", uv_strerror(rc));
	uv_timer_start(&r->timer, rt_timeout, rc < 0 ? 0 : timeout_ms, 0);
	return 0;
}
