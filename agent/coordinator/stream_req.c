#include <stdlib.h>
#include <string.h>

#include "zdu/stream_req.h"

struct sreq {
	union {
		uv_handle_t h;
		uv_stream_t s;
		uv_pipe_t pipe;
		uv_tcp_t tcp;
	} u;
	uv_connect_t conn;
	uv_write_t wr;
	uv_timer_t timer;
	char *req;
	size_t req_len;
	char *buf;
	size_t len, cap, max;
	int one_line;
	zdu_sreq_cb cb;
	void *data;
	int done;
	int nopen;
	struct zdu_sreq_result res; /* a failure parked until the timer fires */
};

static void sreq_closed(uv_handle_t *h)
{
	struct sreq *r = h->data;

	if (--r->nopen > 0)
		return;
	free(r->req);
	free(r->buf);
	free(r);
}

static void finish(struct sreq *r, enum zdu_sreq_status status, const char *what, int uv_err)
{
	struct zdu_sreq_result res = { status, r->buf ? r->buf : "", r->len, what, uv_err };

	if (r->done)
		return;
	r->done = 1;
	uv_timer_stop(&r->timer);
	r->cb(&res, r->data);
	uv_close(&r->u.h, sreq_closed);
	uv_close((uv_handle_t *)&r->timer, sreq_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct sreq *r = h->data;

	(void)suggested;
	if (r->cap - r->len < 4096 && r->cap <= r->max) {
		size_t cap = r->cap ? r->cap * 2 : 16384;
		char *b;

		if (cap > r->max + 1)
			cap = r->max + 1;
		b = realloc(r->buf, cap);
		if (b) {
			r->buf = b;
			r->cap = cap;
		}
	}
	*buf = uv_buf_init(r->buf + r->len, r->cap ? (unsigned)(r->cap - r->len - 1) : 0);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct sreq *r = s->data;
	size_t from = r->len;

	(void)buf;
	if (nread == UV_EOF) {
		finish(r, ZDU_SREQ_OK, NULL, 0);
		return;
	}
	if (nread < 0) {
		finish(r, ZDU_SREQ_IO, "read", (int)nread);
		return;
	}
	r->len += (size_t)nread;
	r->buf[r->len] = '\0';
	if (r->one_line && memchr(r->buf + from, '\n', r->len - from))
		finish(r, ZDU_SREQ_OK, NULL, 0);
	else if (r->len >= r->max)
		finish(r, ZDU_SREQ_TOO_LONG, NULL, 0);
}

static void on_written(uv_write_t *w, int status)
{
	struct sreq *r = w->data;

	if (status < 0)
		finish(r, ZDU_SREQ_IO, "write", status);
}

static void on_connect(uv_connect_t *c, int status)
{
	struct sreq *r = c->data;
	uv_buf_t b;
	int rc;

	if (r->done)
		return;
	if (status < 0) {
		finish(r, ZDU_SREQ_IO, "connect", status);
		return;
	}
	b = uv_buf_init(r->req, (unsigned)r->req_len);
	r->wr.data = r;
	rc = uv_write(&r->wr, &r->u.s, &b, 1, on_written);
	if (rc == 0)
		rc = uv_read_start(&r->u.s, on_alloc, on_read);
	if (rc < 0)
		finish(r, ZDU_SREQ_IO, "write", rc);
}

static void on_timeout(uv_timer_t *t)
{
	struct sreq *r = t->data;

	/* A connect that failed at once was parked here with its error, so the
	 * callback never runs from inside zdu_stream_request(). */
	if (r->res.what)
		finish(r, ZDU_SREQ_IO, r->res.what, r->res.uv_err);
	else
		finish(r, ZDU_SREQ_TIMEOUT, NULL, 0);
}

int zdu_stream_request(uv_loop_t *loop, const struct zdu_sreq *rq, zdu_sreq_cb cb, void *data)
{
	struct sreq *r = calloc(1, sizeof(*r));
	int rc = 0;

	if (!r)
		return -1;
	r->req_len = strlen(rq->req);
	if (!(r->req = malloc(r->req_len + 1))) {
		free(r);
		return -1;
	}
	memcpy(r->req, rq->req, r->req_len + 1);
	r->max = rq->max_answer;
	r->one_line = rq->one_line;
	r->cb = cb;
	r->data = data;
	r->conn.data = r;
	if (rq->path) {
		uv_pipe_init(loop, &r->u.pipe, 0);
		uv_pipe_connect(&r->conn, &r->u.pipe, rq->path, on_connect);
	} else {
		uv_tcp_init(loop, &r->u.tcp);
		rc = uv_tcp_connect(&r->conn, &r->u.tcp, rq->addr, on_connect);
	}
	r->u.h.data = r;
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	r->nopen = 2;
	if (rc < 0) {
		r->res.what = "connect";
		r->res.uv_err = rc;
	}
	uv_timer_start(&r->timer, on_timeout, rc < 0 ? 0 : rq->timeout_ms, 0);
	return 0;
}
