/* Window commands (window.h): run once around the rollout's window, with
 * the coordinator's command runner, never blocking the loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "zdu/coordinator-int.h"
#include "zdu/coordinator.h"
#include "zdu/journal.h"
#include "zdu/plan-t.h"
#include "zdu/spawn.h"
#include "zdu/window.h"

#define TAIL_LINES 3

void zdu_window_plan_before(const struct zdu_plan *p, struct zdu_window_cmd *w)
{
	w->step = zdu_coord_step_name(ZDU_STEP_BEFORE);
	w->scope = "";
	w->key = "before_command";
	w->timeout_key = "timeouts.before_ms";
	w->command = p->before_command ? p->before_command : "";
	w->timeout_ms = p->before_timeout_ms;
	w->after_fail = "no node was drained or changed by this run";
}

void zdu_window_plan_after(const struct zdu_plan *p, struct zdu_window_cmd *w)
{
	w->step = zdu_coord_step_name(ZDU_STEP_AFTER);
	w->scope = "";
	w->key = "after_command";
	w->timeout_key = "timeouts.after_ms";
	w->command = p->after_command ? p->after_command : "";
	w->timeout_ms = p->after_timeout_ms;
	w->after_fail = "every node is already upgraded and back in service";
}

void zdu_window_service(const struct zdu_plan_service *sv, int before, int scoped, struct zdu_window_cmd *w)
{
	snprintf(w->keybuf, sizeof(w->keybuf), "service %.64s's %s", sv->name, before ? "before_command" : "after_command");
	w->key = w->keybuf;
	w->command = before ? sv->before_command : sv->after_command;
	snprintf(w->scopebuf, sizeof(w->scopebuf), "%.64s/", sv->name);
	w->scope = scoped ? w->scopebuf : "";
	if (!before)
		w->after_fail = "every node of the service is already upgraded and back in service";
}

int zdu_window_pending(const struct zdu_coord *c, const struct zdu_window_cmd *w)
{
	return w->command[0] && !zdu_coord_journal_has(c, w->scope, w->step);
}

char *zdu_window_expand(const char *tmpl, const char *backend, const char *plan, const char *service)
{
	const char *names[] = { "{backend}", "{plan}", "{service}" }, *vals[] = { backend, plan, service ? service : "" };
	size_t cap = strlen(tmpl) + 1, len = 0, i;
	char *out = malloc(cap), *b;

	while (out && *tmpl) {
		const char *val = NULL;
		size_t skip = 1, vlen;

		for (i = 0; i < 3 && !val; i++)
			if (strncmp(tmpl, names[i], strlen(names[i])) == 0) {
				val = vals[i];
				skip = strlen(names[i]);
			}
		vlen = val ? strlen(val) : 1;
		if (len + vlen + 1 > cap) {
			cap = (len + vlen + 1) * 2;
			if (!(b = realloc(out, cap))) {
				free(out);
				return NULL;
			}
			out = b;
		}
		memcpy(out + len, val ? val : tmpl, vlen);
		len += vlen;
		tmpl += skip;
	}
	if (out)
		out[len] = '\0';
	return out;
}

void zdu_window_tail(const char *out, size_t len, unsigned nlines, char *buf, size_t size)
{
	const char *start = out + len, *end = out + len;
	unsigned n = 0;
	size_t used = 0;

	if (size)
		buf[0] = '\0';
	/* Back from the end to the start of the nlines-th non-empty line. */
	while (start > out && n < nlines) {
		const char *e = start, *s;

		while (e > out && (e[-1] == '\n' || e[-1] == '\r'))
			e--;
		if (e == out)
			break;
		s = e;
		while (s > out && s[-1] != '\n')
			s--;
		start = s;
		n++;
	}
	/* Forward again, joining the lines. */
	while (start < end && size) {
		const char *nl = memchr(start, '\n', (size_t)(end - start));
		size_t l = nl ? (size_t)(nl - start) : (size_t)(end - start);
		int w;

		if (l && start[l - 1] == '\r')
			l--;
		if (l) {
			w = snprintf(buf + used, size - used, "%s%.*s", used ? " | " : "", (int)l, start);
			if (w < 0 || (size_t)w >= size - used)
				return; /* cut */
			used += (size_t)w;
		}
		start = nl ? nl + 1 : end;
	}
}

/* "; last output: stdout: ... ; stderr: ..." ("" when it printed nothing). */
static void last_output(const struct zdu_spawn_result *res, char *buf, size_t size)
{
	char out[700], err[700];

	zdu_window_tail(res->out, res->out_len, TAIL_LINES, out, sizeof(out));
	zdu_window_tail(res->err, res->err_len, TAIL_LINES, err, sizeof(err));
	snprintf(buf, size, "%s%s%s%s%s%s", out[0] || err[0] ? "; its last output: " : "", out[0] ? "stdout: " : "",
		 out, out[0] && err[0] ? "; " : "", err[0] ? "stderr: " : "", err);
}

static void on_line(int stream, const char *line, void *data)
{
	struct zdu_coord *c = data;

	if (stream == ZDU_SPAWN_NOTE)
		zdu_coord_say(c, NULL, c->win.step, "warn", "%s: %s", c->win.key, line);
	else
		zdu_coord_say(c, NULL, c->win.step, stream == 1 ? "stdout" : "stderr", "%s | %s", c->win.key, line);
}

static void on_done(const struct zdu_spawn_result *res, void *data)
{
	struct zdu_coord *c = data;
	const struct zdu_window_cmd *w = &c->win;
	double secs = (double)(uv_now(&c->loop) - c->step_started) / 1000.0;
	char tail[1600];

	last_output(res, tail, sizeof(tail));
	if (!res->error && !res->timed_out && !res->term_signal && res->exit_status == 0) {
		zdu_coord_say(c, NULL, w->step, "ok", "%s succeeded in %.1f s", w->key, secs);
		zdu_coord_journal(c, w->scope, w->step);
		if (!c->finished)
			c->win_then(c);
		return;
	}
	if (c->finished) { /* interrupted meanwhile: the stop was already said */
		zdu_coord_say(c, NULL, w->step, "warn", "%s did not succeed%s", w->key, tail);
		return;
	}
	if (res->error)
		zdu_coord_fail(c, ZDU_COORD_FAILED, "%s: %s", w->key, res->error);
	else if (res->timed_out)
		zdu_coord_fail(c, ZDU_COORD_TIMEOUT, "%s \"%.200s\" killed after %.1f s (%s)%s", w->key, w->command,
			       w->timeout_ms / 1000.0, w->timeout_key, tail);
	else if (res->term_signal)
		zdu_coord_fail(c, ZDU_COORD_FAILED, "%s \"%.200s\" killed by signal %d after %.1f s%s", w->key,
			       w->command, res->term_signal, secs, tail);
	else
		zdu_coord_fail(c, ZDU_COORD_FAILED, "%s \"%.200s\" exited with status %lld after %.1f s%s", w->key,
			       w->command, (long long)res->exit_status, secs, tail);
}

void zdu_window_start(struct zdu_coord *c)
{
	const struct zdu_window_cmd *w = &c->win;
	const struct zdu_plan_service *sv = c->win_service ? c->win_service : c->plan->service;
	char *cmd = zdu_window_expand(w->command, sv ? sv->backend : c->plan->backend, c->opts->plan_path,
				      sv ? sv->name : NULL);
	char *argv[] = { "/bin/sh", "-c", cmd, NULL };

	if (!cmd) {
		zdu_coord_fail(c, ZDU_COORD_FAILED, "%s: out of memory", w->key);
		return;
	}
	zdu_coord_say(c, NULL, w->step, "start", "%s: running once (up to %.1f s, %s): %s", w->key,
		      w->timeout_ms / 1000.0, w->timeout_key, cmd);
	if (zdu_spawn_run(&c->loop, argv, (unsigned)w->timeout_ms, on_line, on_done, c) < 0)
		zdu_coord_fail(c, ZDU_COORD_FAILED, "cannot run %s", w->key);
	free(cmd);
}

const char *zdu_window_next_after_fail(const struct zdu_coord *c)
{
	static char next[1024];
	const struct zdu_window_cmd *w = &c->win;
	const char *plan = c->opts->plan_path;

	if (c->step == ZDU_STEP_BEFORE && c->journal.n == 0)
		snprintf(next, sizeof(next), "%s. Fix the cause, then run again: zdu-coordinator --plan %s",
			 w->after_fail, plan);
	else
		snprintf(next, sizeof(next),
			 "%s. Fix the cause, then continue with: zdu-coordinator --plan %s --resume (it runs %s "
			 "again%s)",
			 w->after_fail, plan, w->key, c->step == ZDU_STEP_AFTER ? ", and nothing else" : "");
	return next;
}
