/* unix:PATH: one control-socket request per call, on the loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/control_proto.h"
#include "zdu/flag.h"
#include "zdu/link.h"

#define ANSWER_MAX (1u << 20)

struct ucall {
	uv_pipe_t pipe;
	uv_connect_t conn;
	uv_write_t wr;
	uv_timer_t timer;
	char req[ZDU_CTL_LINE_MAX + 2];
	char *buf;
	size_t len, cap;
	zdu_link_cb cb;
	void *data;
	int done;
	int nopen;
	char path[108];
};

static void ucall_closed(uv_handle_t *h)
{
	struct ucall *u = h->data;

	if (--u->nopen > 0)
		return;
	free(u->buf);
	free(u);
}

static void finish(struct ucall *u, const char *err)
{
	json_t *st = NULL;
	char msg[256];

	if (u->done)
		return;
	u->done = 1;
	uv_timer_stop(&u->timer);
	if (!err) {
		json_error_t jerr;

		st = json_loadb(u->buf ? u->buf : "", u->len, JSON_DISABLE_EOF_CHECK, &jerr);
		if (!json_is_object(st)) {
			snprintf(msg, sizeof(msg), "control socket %s: bad answer: %s", u->path, jerr.text);
			err = msg;
		} else if (!json_is_true(json_object_get(st, "ok"))) {
			json_t *e = json_object_get(st, "error");

			snprintf(msg, sizeof(msg), "control socket %s: %s", u->path,
				 json_is_string(e) ? json_string_value(e) : "request refused");
			err = msg;
		}
	}
	u->cb(err ? NULL : st, err, u->data);
	json_decref(st);
	uv_close((uv_handle_t *)&u->pipe, ucall_closed);
	uv_close((uv_handle_t *)&u->timer, ucall_closed);
}

static void fail(struct ucall *u, const char *what, int status)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "control socket %s: %s: %s", u->path, what, uv_strerror(status));
	finish(u, msg);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct ucall *u = h->data;

	(void)suggested;
	if (u->cap - u->len < 4096 && u->cap < ANSWER_MAX) {
		size_t cap = u->cap ? u->cap * 2 : 8192;
		char *b = realloc(u->buf, cap);

		if (b) {
			u->buf = b;
			u->cap = cap;
		}
	}
	*buf = uv_buf_init(u->buf + u->len, (unsigned)(u->cap - u->len - 1));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct ucall *u = s->data;

	(void)buf;
	if (nread == UV_EOF) {
		finish(u, NULL);
		return;
	}
	if (nread < 0) {
		fail(u, "read", (int)nread);
		return;
	}
	u->len += (size_t)nread;
	u->buf[u->len] = '\0';
	if (memchr(u->buf, '\n', u->len))
		finish(u, NULL);
	else if (u->len + 1 >= ANSWER_MAX)
		finish(u, "answer too long");
}

static void on_written(uv_write_t *w, int status)
{
	struct ucall *u = w->data;

	if (status < 0)
		fail(u, "write", status);
}

static void on_connect(uv_connect_t *c, int status)
{
	struct ucall *u = c->data;
	uv_buf_t b;
	int rc;

	if (u->done)
		return;
	if (status < 0) {
		fail(u, "connect", status);
		return;
	}
	b = uv_buf_init(u->req, (unsigned)strlen(u->req));
	u->wr.data = u;
	rc = uv_write(&u->wr, (uv_stream_t *)&u->pipe, &b, 1, on_written);
	if (rc == 0)
		rc = uv_read_start((uv_stream_t *)&u->pipe, on_alloc, on_read);
	if (rc < 0)
		fail(u, "write", rc);
}

static void on_timeout(uv_timer_t *t)
{
	struct ucall *u = t->data;
	char msg[200];

	snprintf(msg, sizeof(msg), "control socket %s: no answer in time", u->path);
	finish(u, msg);
}

static int unix_call(struct zdu_link *l, enum zdu_link_op op, enum zdu_flag_mode mode, const char *reason,
		     zdu_link_cb cb, void *data)
{
	struct ucall *u = calloc(1, sizeof(*u));

	if (!u)
		return -1;
	switch (op) {
	case ZDU_LINK_STATUS:
		snprintf(u->req, sizeof(u->req), "status\n");
		break;
	case ZDU_LINK_SET_FLAG:
		snprintf(u->req, sizeof(u->req), "set-flag %s %.*s\n", zdu_flag_mode_name(mode),
			 ZDU_REASON_MAX - 1, reason ? reason : "");
		break;
	case ZDU_LINK_CLEAR_FLAG:
		snprintf(u->req, sizeof(u->req), "clear-flag\n");
		break;
	}
	snprintf(u->path, sizeof(u->path), "%s", l->target);
	u->cb = cb;
	u->data = data;
	uv_pipe_init(l->loop, &u->pipe, 0);
	uv_timer_init(l->loop, &u->timer);
	u->pipe.data = u->timer.data = u->conn.data = u;
	u->nopen = 2;
	uv_timer_start(&u->timer, on_timeout, (uint64_t)l->plan->request_timeout_ms, 0);
	uv_pipe_connect(&u->conn, &u->pipe, u->path, on_connect);
	return 0;
}

const struct zdu_link_ops zdu_link_unix_ops = { "unix", unix_call, NULL };
