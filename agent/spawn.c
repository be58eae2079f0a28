#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/spawn.h"

#define SPAWN_MAX_OUT (1u << 20)

struct capture {
	uv_pipe_t pipe;
	char *buf;
	size_t len, cap;
	size_t line_start; /* first byte not yet handed out as a line */
	int stream;
	int eof;
	struct spawn *sp;
};

struct spawn {
	uv_process_t proc;
	uv_timer_t timer;
	struct capture cap[2];
	zdu_spawn_line_cb on_line;
	zdu_spawn_done_cb done;
	void *data;
	int nopen;
	int exited;
	int64_t exit_status;
	int term_signal;
	int timed_out;
	char error[128];
};

static void sp_closed(uv_handle_t *h)
{
	struct spawn *sp = h->data;

	if (--sp->nopen > 0)
		return;
	free(sp->cap[0].buf);
	free(sp->cap[1].buf);
	free(sp);
}

static void cap_closed(uv_handle_t *h)
{
	struct capture *c = h->data;

	/* A pipe's data is its capture; hand the spawn on. */
	h->data = c->sp;
	sp_closed(h);
}

static void flush_lines(struct capture *c, int all)
{
	struct spawn *sp = c->sp;

	while (c->line_start < c->len) {
		char *nl = memchr(c->buf + c->line_start, '\n', c->len - c->line_start);
		size_t end;
		char save;

		if (!nl && !all)
			return;
		end = nl ? (size_t)(nl - c->buf) : c->len;
		save = c->buf[end];
		c->buf[end] = '\0';
		if (sp->on_line)
			sp->on_line(c->stream, c->buf + c->line_start, sp->data);
		c->buf[end] = save;
		c->line_start = nl ? end + 1 : c->len;
	}
}

static void maybe_done(struct spawn *sp)
{
	struct zdu_spawn_result res;

	/* Both pipes drained and the process gone: only then is the output
	 * complete. */
	if (!sp->exited || !sp->cap[0].eof || !sp->cap[1].eof)
		return;
	flush_lines(&sp->cap[0], 1);
	flush_lines(&sp->cap[1], 1);
	memset(&res, 0, sizeof(res));
	res.exit_status = sp->exit_status;
	res.term_signal = sp->term_signal;
	res.timed_out = sp->timed_out;
	res.out = sp->cap[0].buf ? sp->cap[0].buf : "";
	res.out_len = sp->cap[0].len;
	res.err = sp->cap[1].buf ? sp->cap[1].buf : "";
	res.err_len = sp->cap[1].len;
	res.error = sp->error[0] ? sp->error : NULL;
	sp->done(&res, sp->data);
	uv_close((uv_handle_t *)&sp->timer, sp_closed);
	uv_close((uv_handle_t *)&sp->proc, sp_closed);
	uv_close((uv_handle_t *)&sp->cap[0].pipe, cap_closed);
	uv_close((uv_handle_t *)&sp->cap[1].pipe, cap_closed);
}

static void cap_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct capture *c = h->data;

	(void)suggested;
	if (c->cap - c->len < 4096 && c->cap < SPAWN_MAX_OUT) {
		size_t cap = c->cap ? c->cap * 2 : 8192;
		char *b = realloc(c->buf, cap);

		if (b) {
			c->buf = b;
			c->cap = cap;
		}
	}
	if (c->cap - c->len <= 1) {
		/* Over the cap: keep reading (the child must not block on a full
		 * pipe) into a scratch buffer. */
		static char scratch[4096];

		*buf = uv_buf_init(scratch, sizeof(scratch));
		return;
	}
	*buf = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len - 1));
}

static void cap_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct capture *c = s->data;

	if (nread < 0) {
		c->eof = 1;
		uv_read_stop(s);
		maybe_done(c->sp);
		return;
	}
	if (c->buf && buf->base == c->buf + c->len) {
		c->len += (size_t)nread;
		c->buf[c->len] = '\0';
		flush_lines(c, 0);
	}
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
	struct spawn *sp = p->data;

	sp->exited = 1;
	sp->exit_status = sig ? -1 : status;
	sp->term_signal = sig;
	uv_timer_stop(&sp->timer);
	maybe_done(sp);
}

static void on_spawn_failed(uv_timer_t *t)
{
	maybe_done(t->data);
}

static void on_timeout(uv_timer_t *t)
{
	struct spawn *sp = t->data;

	sp->timed_out = 1;
	/* The whole group: an upgrade script's children go too. */
	uv_kill(-sp->proc.pid, SIGKILL);
}

int zdu_spawn_run(uv_loop_t *loop, char *const *argv, unsigned timeout_ms, zdu_spawn_line_cb on_line,
		  zdu_spawn_done_cb done, void *data)
{
	struct spawn *sp = calloc(1, sizeof(*sp));
	uv_process_options_t o;
	uv_stdio_container_t stdio[3];
	int i, rc;

	if (!sp)
		return -1;
	sp->on_line = on_line;
	sp->done = done;
	sp->data = data;
	for (i = 0; i < 2; i++) {
		sp->cap[i].sp = sp;
		sp->cap[i].stream = i + 1;
		uv_pipe_init(loop, &sp->cap[i].pipe, 0);
		sp->cap[i].pipe.data = &sp->cap[i];
	}
	uv_timer_init(loop, &sp->timer);
	sp->timer.data = sp;
	sp->proc.data = sp;
	memset(&o, 0, sizeof(o));
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[1].data.stream = (uv_stream_t *)&sp->cap[0].pipe;
	stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[2].data.stream = (uv_stream_t *)&sp->cap[1].pipe;
	o.file = argv[0];
	o.args = (char **)argv;
	o.exit_cb = on_exit_cb;
	o.stdio = stdio;
	o.stdio_count = 3;
	o.flags = UV_PROCESS_DETACHED; /* own process group, for the kill */
	rc = uv_spawn(loop, &sp->proc, &o);
	sp->nopen = 4;
	if (rc < 0) {
		snprintf(sp->error, sizeof(sp->error), "cannot run %s: %s", argv[0], uv_strerror(rc));
		sp->exited = 1;
		sp->exit_status = -1;
		sp->cap[0].eof = sp->cap[1].eof = 1;
		/* Answer from the loop, not from inside this call. */
		uv_timer_start(&sp->timer, on_spawn_failed, 0, 0);
		return 0;
	}
	uv_timer_start(&sp->timer, on_timeout, timeout_ms, 0);
	uv_read_start((uv_stream_t *)&sp->cap[0].pipe, cap_alloc, cap_read);
	uv_read_start((uv_stream_t *)&sp->cap[1].pipe, cap_alloc, cap_read);
	return 0;
}
