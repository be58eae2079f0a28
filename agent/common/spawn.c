/* Running a command on the loop: see include/zdu/spawn.h for what bounds a
 * run and how its output is kept.
 *
 * A run ends when the direct child has exited and both pipes are closed.
 * Three things can force that end: the time limit (timer), the direct
 * child gone while its pipes stay open (end timer, ZDU_SPAWN_HOLD_MS), and
 * then the group ended: SIGTERM, SIGKILL after ZDU_SPAWN_TERM_MS, the pipes
 * closed on whoever still holds them ZDU_SPAWN_CLOSE_MS later.
 *
 * The process group is the direct child's pid (UV_PROCESS_DETACHED makes
 * it a session leader). It is signalled only while the run is under way:
 * until the run ends, either a member of the group is alive (the id cannot
 * be reused) or the group has just emptied, so a signal cannot reach an
 * unrelated process group short of a full wrap of the pid space in that
 * instant. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/spawn.h"

#define READ_CHUNK 65536
/* The kept window (at most KEEP_MAX of whole lines, plus the line in
 * progress) lives in a buffer compacted when half of it is free. */
#define BUF_MAX (2 * (2 * ZDU_SPAWN_KEEP_MAX + 2 * (ZDU_SPAWN_LINE_MAX + ZDU_SPAWN_MARK_MAX) + 1))

enum line_end { END_NEWLINE, END_EOF, END_CLOSED };

struct capture {
	uv_pipe_t pipe;
	char *buf;		/* the kept output is buf[start, len); buf[len] is '\0' */
	size_t start, len, size;
	size_t line;		/* where the line in progress starts (len: none) */
	size_t line_cut;	/* bytes of that line past ZDU_SPAWN_LINE_MAX, not kept */
	size_t shown;		/* lines before this offset were handed out */
	unsigned long long hidden_bytes, hidden_lines; /* dropped, never shown */
	int live;		/* lines are handed out as they come */
	int stream;
	int eof;
	int closed;		/* closed by us, the command's end still open */
	struct spawn *sp;
};

enum phase {
	P_RUN,	/* the limit timer runs */
	P_HOLD, /* direct child gone, pipes open: end timer ZDU_SPAWN_HOLD_MS */
	P_TERM, /* group sent SIGTERM: end timer ZDU_SPAWN_TERM_MS */
	P_KILL	/* group sent SIGKILL: end timer ZDU_SPAWN_CLOSE_MS */
};

struct spawn {
	uv_process_t proc;
	uv_timer_t timer; /* the time limit */
	uv_timer_t end;	  /* the phases after it, see enum phase */
	struct capture cap[2];
	zdu_spawn_line_cb on_line;
	zdu_spawn_done_cb done;
	void *data;
	int pgid;
	unsigned timeout_ms;
	enum phase phase;
	int nopen;
	int exited;
	int finished;
	int64_t exit_status;
	int term_signal;
	int timed_out;
	char error[128];
	char rbuf[READ_CHUNK]; /* every read lands here, then is taken apart */
};

static void note(struct spawn *sp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct spawn *sp, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!sp->on_line)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sp->on_line(ZDU_SPAWN_NOTE, msg, sp->data);
}

static const char *stream_name(const struct capture *c)
{
	return c->stream == 1 ? "stdout" : "stderr";
}

/* ------------------------------------------------------------ output */

/* Room for n more bytes and the terminating NUL. */
static int reserve(struct capture *c, size_t n)
{
	size_t need = c->len + n + 1, size;
	char *b;

	if (need <= c->size)
		return 0;
	if (c->start > 0 && c->len - c->start + n + 1 <= c->size / 2) {
		memmove(c->buf, c->buf + c->start, c->len - c->start);
		c->len -= c->start;
		c->line -= c->start;
		c->shown -= c->start;
		c->start = 0;
		c->buf[c->len] = '\0';
		return 0;
	}
	size = c->size ? c->size * 2 : 16384;
	if (size > BUF_MAX)
		size = BUF_MAX;
	if (size < need)
		size = need;
	b = realloc(c->buf, size);
	if (!b)
		return -1;
	c->buf = b;
	c->size = size;
	return 0;
}

static int put(struct capture *c, const char *p, size_t n)
{
	if (reserve(c, n) < 0)
		return -1;
	memcpy(c->buf + c->len, p, n);
	c->len += n;
	c->buf[c->len] = '\0';
	return 0;
}

/* Hands out each line of buf[from, to). */
static void show_lines(struct capture *c, size_t from, size_t to)
{
	struct spawn *sp = c->sp;

	while (from < to) {
		char *nl = memchr(c->buf + from, '\n', to - from);
		size_t end = nl ? (size_t)(nl - c->buf) : to;
		char save = c->buf[end];

		c->buf[end] = '\0';
		if (sp->on_line)
			sp->on_line(c->stream, c->buf + from, sp->data);
		c->buf[end] = save;
		from = nl ? end + 1 : to;
	}
}

/* Past ZDU_SPAWN_KEEP_MAX of whole lines, the oldest go; from the first
 * one dropped, lines are no longer handed out as they come (the last ones
 * are, at the end). */
static void drop_old(struct capture *c)
{
	while (c->line - c->start > ZDU_SPAWN_KEEP_MAX) {
		char *nl = memchr(c->buf + c->start, '\n', c->line - c->start);
		size_t end = nl ? (size_t)(nl - c->buf) + 1 : c->line;

		if (end > c->shown) {
			c->hidden_bytes += end - c->start;
			c->hidden_lines++;
			c->shown = end;
		}
		c->live = 0;
		c->start = end;
	}
}

static void end_line(struct capture *c, enum line_end how)
{
	char mark[ZDU_SPAWN_MARK_MAX];
	size_t from = c->line;
	int m = 0;

	if (how != END_NEWLINE && c->len == c->line && !c->line_cut)
		return; /* no line in progress */
	if (reserve(c, sizeof(mark) + 1) < 0) {
		/* Out of memory: the line goes, counted. */
		c->hidden_bytes += c->len - c->line + c->line_cut + (how == END_NEWLINE);
		c->hidden_lines++;
		c->len = c->line;
		if (c->buf)
			c->buf[c->len] = '\0';
		c->line_cut = 0;
		return;
	}
	if (c->line_cut)
		m = snprintf(mark, sizeof(mark), " [line cut: %zu bytes not shown]", c->line_cut);
	else if (how == END_CLOSED)
		m = snprintf(mark, sizeof(mark), " [cut: the output was closed before the end of this line]");
	if (m > 0)
		put(c, mark, (size_t)m < sizeof(mark) ? (size_t)m : sizeof(mark) - 1);
	if (how == END_NEWLINE)
		put(c, "\n", 1);
	c->line = c->len;
	c->line_cut = 0;
	drop_old(c);
	if (c->live) {
		show_lines(c, from, c->len);
		c->shown = c->len;
	}
}

/* Splits what was read into lines; a line is kept up to ZDU_SPAWN_LINE_MAX
 * bytes (ZDU_SPAWN_KEEP_MAX when nothing is handed out line by line: the
 * caller reads the output whole, as a JSON document) and the rest of it
 * counted. */
static void take(struct capture *c, const char *p, size_t n)
{
	size_t max = c->sp->on_line ? ZDU_SPAWN_LINE_MAX : ZDU_SPAWN_KEEP_MAX;

	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t seg = nl ? (size_t)(nl - p) : n;
		size_t cur = c->len - c->line;
		size_t room = cur < max ? max - cur : 0;
		size_t keep = seg < room ? seg : room;

		if (keep && put(c, p, keep) < 0)
			keep = 0;
		c->line_cut += seg - keep;
		if (nl) {
			end_line(c, END_NEWLINE);
			seg++;
		}
		p += seg;
		n -= seg;
	}
}

/* At the end: what was not shown as it came, after a note when some of
 * it was dropped. */
static void show_rest(struct capture *c)
{
	if (c->hidden_bytes)
		note(c->sp,
		     "%s: %llu bytes (%llu lines) not shown, in the middle of more than %u bytes of output; "
		     "its last %zu bytes follow",
		     stream_name(c), c->hidden_bytes, c->hidden_lines, ZDU_SPAWN_KEEP_MAX, c->len - c->shown);
	if (c->shown < c->len)
		show_lines(c, c->shown, c->len);
	c->shown = c->len;
}

/* ------------------------------------------------------------ the run */

static void group_signal(struct spawn *sp, int sig)
{
	if (sp->pgid > 0)
		uv_kill(-sp->pgid, sig);
}

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

static void maybe_done(struct spawn *sp)
{
	struct zdu_spawn_result res;
	int i;

	/* The process gone and both pipes at end of file (or closed by us):
	 * only then is the output complete. */
	if (sp->finished || !sp->exited || !sp->cap[0].eof || !sp->cap[1].eof)
		return;
	sp->finished = 1;
	/* Being ended: what is left of the group (members that ignored
	 * SIGTERM and let go of the pipes) goes too. */
	if (sp->phase >= P_TERM)
		group_signal(sp, SIGKILL);
	for (i = 0; i < 2; i++)
		end_line(&sp->cap[i], sp->cap[i].closed ? END_CLOSED : END_EOF);
	for (i = 0; i < 2; i++)
		show_rest(&sp->cap[i]);
	memset(&res, 0, sizeof(res));
	res.exit_status = sp->exit_status;
	res.term_signal = sp->term_signal;
	res.timed_out = sp->timed_out;
	res.out = sp->cap[0].buf ? sp->cap[0].buf + sp->cap[0].start : "";
	res.out_len = sp->cap[0].len - sp->cap[0].start;
	res.err = sp->cap[1].buf ? sp->cap[1].buf + sp->cap[1].start : "";
	res.err_len = sp->cap[1].len - sp->cap[1].start;
	res.error = sp->error[0] ? sp->error : NULL;
	sp->done(&res, sp->data);
	uv_close((uv_handle_t *)&sp->timer, sp_closed);
	uv_close((uv_handle_t *)&sp->end, sp_closed);
	uv_close((uv_handle_t *)&sp->proc, sp_closed);
	uv_close((uv_handle_t *)&sp->cap[0].pipe, cap_closed);
	uv_close((uv_handle_t *)&sp->cap[1].pipe, cap_closed);
}

static void on_end_timer(uv_timer_t *t);

/* SIGTERM to the group; SIGKILL later if anything is left. */
static void end_group(struct spawn *sp)
{
	if (sp->pgid > 0 && uv_kill(-sp->pgid, SIGTERM) == UV_ESRCH) {
		/* Nothing of the group is left: whoever holds the pipes is
		 * outside it. */
		sp->phase = P_KILL;
		uv_timer_start(&sp->end, on_end_timer, ZDU_SPAWN_CLOSE_MS, 0);
		return;
	}
	sp->phase = P_TERM;
	uv_timer_start(&sp->end, on_end_timer, ZDU_SPAWN_TERM_MS, 0);
}

static void close_held(struct spawn *sp)
{
	int i, held = 0;

	for (i = 0; i < 2; i++) {
		struct capture *c = &sp->cap[i];

		if (c->eof)
			continue;
		held = 1;
		uv_read_stop((uv_stream_t *)&c->pipe);
		c->eof = 1;
		c->closed = 1;
	}
	if (held)
		note(sp, "its output is still held open by a process outside its process group %d (one that started "
			 "its own session): closed without waiting",
		     sp->pgid);
	maybe_done(sp);
}

static void on_end_timer(uv_timer_t *t)
{
	struct spawn *sp = t->data;

	switch (sp->phase) {
	case P_HOLD:
		if (sp->term_signal)
			note(sp, "the command was killed by signal %d but processes it left in the background still hold "
				 "its output %u ms later: ending its process group %d",
			     sp->term_signal, ZDU_SPAWN_HOLD_MS, sp->pgid);
		else
			note(sp, "the command exited with status %lld but processes it left in the background still "
				 "hold its output %u ms later: ending its process group %d",
			     (long long)sp->exit_status, ZDU_SPAWN_HOLD_MS, sp->pgid);
		end_group(sp);
		break;
	case P_TERM:
		if (sp->pgid > 0 && uv_kill(-sp->pgid, 0) == 0) {
			note(sp, "process group %d still there %u ms after SIGTERM: SIGKILL", sp->pgid, ZDU_SPAWN_TERM_MS);
			group_signal(sp, SIGKILL);
		}
		sp->phase = P_KILL;
		uv_timer_start(&sp->end, on_end_timer, ZDU_SPAWN_CLOSE_MS, 0);
		break;
	case P_KILL:
		close_held(sp);
		break;
	case P_RUN:
		break;
	}
}

static void cap_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct capture *c = h->data;

	(void)suggested;
	*buf = uv_buf_init(c->sp->rbuf, sizeof(c->sp->rbuf));
}

static void cap_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct capture *c = s->data;

	if (nread > 0) {
		take(c, buf->base, (size_t)nread);
		return;
	}
	if (nread < 0) {
		c->eof = 1;
		uv_read_stop(s);
		maybe_done(c->sp);
	}
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
	struct spawn *sp = p->data;

	sp->exited = 1;
	sp->exit_status = sig ? -1 : status;
	sp->term_signal = sig;
	/* The limit keeps running: it bounds the whole run, not this process. */
	if (sp->phase == P_RUN && (!sp->cap[0].eof || !sp->cap[1].eof)) {
		sp->phase = P_HOLD;
		uv_timer_start(&sp->end, on_end_timer, ZDU_SPAWN_HOLD_MS, 0);
	}
	maybe_done(sp);
}

static void on_spawn_failed(uv_timer_t *t)
{
	maybe_done(t->data);
}

static void on_timeout(uv_timer_t *t)
{
	struct spawn *sp = t->data;

	if (sp->phase >= P_TERM)
		return; /* already being ended */
	sp->timed_out = 1;
	if (sp->phase == P_HOLD)
		note(sp, "time limit (%u ms) reached: the command has exited but processes it left in the background "
			 "still hold its output: ending its process group %d",
		     sp->timeout_ms, sp->pgid);
	else
		note(sp, "time limit (%u ms) reached: ending its process group %d", sp->timeout_ms, sp->pgid);
	end_group(sp);
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
	sp->timeout_ms = timeout_ms;
	for (i = 0; i < 2; i++) {
		sp->cap[i].sp = sp;
		sp->cap[i].stream = i + 1;
		sp->cap[i].live = 1;
		uv_pipe_init(loop, &sp->cap[i].pipe, 0);
		sp->cap[i].pipe.data = &sp->cap[i];
	}
	uv_timer_init(loop, &sp->timer);
	uv_timer_init(loop, &sp->end);
	sp->timer.data = sp;
	sp->end.data = sp;
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
	o.flags = UV_PROCESS_DETACHED; /* setsid(): its own session and process group */
	rc = uv_spawn(loop, &sp->proc, &o);
	sp->nopen = 5;
	if (rc < 0) {
		snprintf(sp->error, sizeof(sp->error), "cannot run %s: %s", argv[0], uv_strerror(rc));
		sp->exited = 1;
		sp->exit_status = -1;
		sp->cap[0].eof = sp->cap[1].eof = 1;
		/* Answer from the loop, not from inside this call. */
		uv_timer_start(&sp->timer, on_spawn_failed, 0, 0);
		return 0;
	}
	sp->pgid = sp->proc.pid;
	uv_timer_start(&sp->timer, on_timeout, timeout_ms, 0);
	uv_read_start((uv_stream_t *)&sp->cap[0].pipe, cap_alloc, cap_read);
	uv_read_start((uv_stream_t *)&sp->cap[1].pipe, cap_alloc, cap_read);
	return 0;
}
