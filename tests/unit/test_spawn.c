/* spawn.c: a command run on a real libuv loop, with real /bin/sh, sleep,
 * setsid and seq, and what bounds it.
 *
 *   hold          `sleep 300 & exit 0`: the sleep keeps stdout. The run
 *                 ends ZDU_SPAWN_HOLD_MS after the shell exits, says so,
 *                 keeps the shell's status 0, and its process group is gone
 *                 afterwards.
 *   hold_escaped  the same with the holder in a session of its own (setsid),
 *                 which the group's end cannot reach: the pipes are closed on
 *                 it, the run ends, the unfinished line is marked as cut.
 *   timeout_running  past the time limit with the shell still running and a
 *                 child that ignores SIGTERM: SIGTERM, then SIGKILL, the
 *                 whole group gone.
 *   timeout_exited   the shell exits before the limit, a child that ignores
 *                 SIGTERM holds the pipes, the limit is shorter than the
 *                 hold grace: ended at the limit, whole group gone.
 *   many_lines    `seq 1 1000000` (6.9 MB): the first lines are shown as they
 *                 come, then one note with the exact count of bytes and lines
 *                 not shown, then the last lines up to 1000000; every line
 *                 shown is a whole number; the result keeps the last lines.
 *   long_line     a 3 MB line: shown cut to ZDU_SPAWN_LINE_MAX and marked with
 *                 the exact count of bytes not shown; the next line intact.
 *
 * The test process is a child subreaper, so the background processes the
 * shell leaves come back to it: "the group is gone" means no process of the
 * group is left, not even a zombie (each is reaped here, its end checked).
 * Every wait has a deadline; a run that does not end by it fails the test,
 * after its processes are killed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "zdu/spawn.h"

#define MAX_LINES 400000

struct run {
	uv_loop_t loop;
	uv_timer_t watchdog;
	int done, hung;
	uint64_t t0, t_end; /* uv_hrtime() in ms */
	int64_t exit_status;
	int term_signal, timed_out;
	char *out, *err;
	size_t out_len, err_len;
	char **lines[3]; /* [ZDU_SPAWN_NOTE], [1] stdout, [2] stderr */
	size_t n[3];
	int *order;	 /* stream of each line handed out, in order */
	size_t norder;
	pid_t pgid;	 /* the shell's $$, from a line "pg PID" */
	pid_t bg;	 /* a background process, from a line "bg PID" */
};

static uint64_t now_ms(void)
{
	return uv_hrtime() / 1000000u;
}

static void on_line(int stream, const char *line, void *data)
{
	struct run *r = data;

	assert_true(stream >= 0 && stream <= 2);
	if (stream == 1 && strncmp(line, "pg ", 3) == 0)
		r->pgid = (pid_t)atoi(line + 3);
	if (stream == 1 && strncmp(line, "bg ", 3) == 0)
		r->bg = (pid_t)atoi(line + 3);
	if (r->n[stream] >= MAX_LINES)
		return;
	r->lines[stream][r->n[stream]++] = strdup(line);
	r->order[r->norder++] = stream;
}

static void on_done(const struct zdu_spawn_result *res, void *data)
{
	struct run *r = data;

	assert_false(r->done);
	r->done = 1;
	r->t_end = now_ms();
	r->exit_status = res->exit_status;
	r->term_signal = res->term_signal;
	r->timed_out = res->timed_out;
	assert_null(res->error);
	assert_int_equal(res->out[res->out_len], '\0');
	r->out = malloc(res->out_len + 1);
	memcpy(r->out, res->out, res->out_len + 1);
	r->out_len = res->out_len;
	r->err = malloc(res->err_len + 1);
	memcpy(r->err, res->err, res->err_len + 1);
	r->err_len = res->err_len;
	uv_timer_stop(&r->watchdog);
}

static void on_watchdog(uv_timer_t *t)
{
	struct run *r = t->data;

	r->hung = 1;
}

static struct run *run_new(void)
{
	struct run *r = calloc(1, sizeof(*r));
	int i;

	assert_non_null(r);
	for (i = 0; i < 3; i++)
		r->lines[i] = calloc(MAX_LINES, sizeof(char *));
	r->order = calloc(3 * MAX_LINES, sizeof(int));
	assert_int_equal(uv_loop_init(&r->loop), 0);
	uv_timer_init(&r->loop, &r->watchdog);
	r->watchdog.data = r;
	return r;
}

static void run_free(struct run *r)
{
	size_t i, j;

	for (i = 0; i < 3; i++) {
		for (j = 0; j < r->n[i]; j++)
			free(r->lines[i][j]);
		free(r->lines[i]);
	}
	free(r->order);
	free(r->out);
	free(r->err);
	free(r);
}

/* Runs the loop until the run is done or deadline_ms has passed. */
static void run_until(struct run *r, unsigned deadline_ms)
{
	r->hung = 0;
	uv_timer_start(&r->watchdog, on_watchdog, deadline_ms, 0);
	while (!r->done && !r->hung)
		uv_run(&r->loop, UV_RUN_ONCE);
	uv_timer_stop(&r->watchdog);
}

/* Waits until no process of group pgid is left (each child of ours in it
 * reaped); 1 when none is left by the deadline. */
static int group_gone(pid_t pgid, unsigned deadline_ms)
{
	uint64_t end = now_ms() + deadline_ms;

	for (;;) {
		while (waitpid(-pgid, NULL, WNOHANG) > 0)
			;
		if (kill(-pgid, 0) < 0 && errno == ESRCH)
			return 1;
		if (now_ms() > end)
			return 0;
		usleep(10000);
	}
}

static int alive(pid_t pid)
{
	while (waitpid(pid, NULL, WNOHANG) > 0)
		;
	return kill(pid, 0) == 0;
}

/* Starts /bin/sh -c script, waits for it to end (deadline_ms). When it
 * does not end in time, its group is killed, the loop let finish, and the
 * test fails. Then the loop is closed: nothing of the run may be left on it. */
static void run_sh(struct run *r, const char *script, unsigned timeout_ms, unsigned deadline_ms)
{
	char *argv[] = { "/bin/sh", "-c", (char *)script, NULL };

	r->t0 = now_ms();
	assert_int_equal(zdu_spawn_run(&r->loop, argv, timeout_ms, on_line, on_done, r), 0);
	run_until(r, deadline_ms);
	if (!r->done) {
		if (r->pgid > 1)
			kill(-r->pgid, SIGKILL);
		if (r->bg > 1) {
			kill(-r->bg, SIGKILL); /* its own group, when it made one */
			kill(r->bg, SIGKILL);
		}
		run_until(r, 10000);
		fail_msg("the run did not end within %u ms (time limit %u ms): `%s`", deadline_ms, timeout_ms, script);
	}
}

static void run_close(struct run *r)
{
	uv_close((uv_handle_t *)&r->watchdog, NULL);
	uv_run(&r->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&r->loop), 0);
}

static int has_note(const struct run *r, const char *what)
{
	size_t i;

	for (i = 0; i < r->n[ZDU_SPAWN_NOTE]; i++)
		if (strstr(r->lines[ZDU_SPAWN_NOTE][i], what))
			return 1;
	return 0;
}

static void print_notes(const struct run *r)
{
	size_t i;

	for (i = 0; i < r->n[ZDU_SPAWN_NOTE]; i++)
		printf("  note: %s\n", r->lines[ZDU_SPAWN_NOTE][i]);
}

static unsigned elapsed(const struct run *r)
{
	return (unsigned)(r->t_end - r->t0);
}

/* ------------------------------------------------------------ bounded */

static void test_hold(void **state)
{
	struct run *r = run_new();
	char want[64];

	(void)state;
	run_sh(r, "echo pg $$; sleep 300 & echo bg $!; echo shell-done; exit 0", 60000, 15000);
	print_notes(r);
	printf("  ended after %u ms\n", elapsed(r));
	assert_true(r->n[1] >= 3);
	assert_true(r->pgid > 1 && r->bg > 1);
	assert_string_equal(r->lines[1][2], "shell-done");
	/* Ended after the hold grace (the sleep dies of SIGTERM at once). */
	assert_true(elapsed(r) >= ZDU_SPAWN_HOLD_MS - 100);
	assert_true(elapsed(r) < ZDU_SPAWN_HOLD_MS + 1500);
	assert_int_equal(r->exit_status, 0);
	assert_int_equal(r->term_signal, 0);
	assert_false(r->timed_out);
	snprintf(want, sizeof(want), "process group %d", (int)r->pgid);
	assert_true(has_note(r, "left in the background still hold its output"));
	assert_true(has_note(r, want));
	assert_true(group_gone(r->pgid, 3000));
	assert_false(alive(r->bg));
	run_close(r);
	run_free(r);
}

static void test_hold_escaped(void **state)
{
	struct run *r = run_new();

	(void)state;
	run_sh(r, "echo pg $$; setsid sleep 300 & echo bg $!; printf 'no end of line'; exit 0", 60000, 15000);
	print_notes(r);
	printf("  ended after %u ms\n", elapsed(r));
	assert_true(r->n[1] >= 2);
	assert_true(r->pgid > 1 && r->bg > 1);
	/* hold grace, then nothing of the group is left to end: the pipes
	 * are closed ZDU_SPAWN_CLOSE_MS later */
	assert_true(elapsed(r) >= ZDU_SPAWN_HOLD_MS + ZDU_SPAWN_CLOSE_MS - 100);
	assert_true(elapsed(r) < ZDU_SPAWN_HOLD_MS + ZDU_SPAWN_CLOSE_MS + 1500);
	assert_int_equal(r->exit_status, 0);
	assert_false(r->timed_out);
	assert_true(has_note(r, "outside its process group"));
	assert_int_equal(r->n[1], 3);
	assert_string_equal(r->lines[1][2],
			    "no end of line [cut: the output was closed before the end of this line]");
	assert_true(group_gone(r->pgid, 3000));
	/* out of reach: its own session, as it asked */
	assert_true(alive(r->bg));
	kill(r->bg, SIGKILL);
	assert_true(group_gone(r->bg, 3000));
	run_close(r);
	run_free(r);
}

static void test_timeout_running(void **state)
{
	struct run *r = run_new();

	(void)state;
	run_sh(r, "echo pg $$; (trap '' TERM; exec sleep 300) & echo bg $!; sleep 300", 1000, 15000);
	print_notes(r);
	printf("  ended after %u ms\n", elapsed(r));
	assert_true(r->n[1] >= 2);
	assert_true(r->pgid > 1 && r->bg > 1);
	assert_true(r->timed_out);
	/* the limit, then ZDU_SPAWN_TERM_MS for the one ignoring SIGTERM */
	assert_true(elapsed(r) >= 1000 - 50);
	assert_true(elapsed(r) < 1000 + ZDU_SPAWN_TERM_MS + 1500);
	assert_true(has_note(r, "time limit (1000 ms) reached"));
	assert_true(group_gone(r->pgid, 3000));
	assert_false(alive(r->bg));
	run_close(r);
	run_free(r);
}

static void test_timeout_exited(void **state)
{
	struct run *r = run_new();

	(void)state;
	/* limit 1000 ms < ZDU_SPAWN_HOLD_MS: the limit ends it */
	run_sh(r, "echo pg $$; (trap '' TERM; exec sleep 300) & echo bg $!; sleep 0.2; exit 0", 1000, 15000);
	print_notes(r);
	printf("  ended after %u ms\n", elapsed(r));
	assert_true(r->n[1] >= 2);
	assert_true(r->pgid > 1 && r->bg > 1);
	assert_true(r->timed_out);
	assert_true(elapsed(r) >= 1000 - 50);
	assert_true(elapsed(r) < 1000 + ZDU_SPAWN_TERM_MS + 1500);
	assert_true(has_note(r, "time limit (1000 ms) reached"));
	assert_true(has_note(r, "SIGKILL"));
	assert_true(group_gone(r->pgid, 3000));
	assert_false(alive(r->bg));
	run_close(r);
	run_free(r);
}

/* ------------------------------------------------------------ output */

static int all_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static void test_many_lines(void **state)
{
	struct run *r = run_new();
	unsigned long long hidden_bytes = 0, hidden_lines = 0, want_bytes = 0, want_lines = 0;
	size_t i, note_at = (size_t)-1, head_bytes = 0, tail_bytes = 0;
	long first_tail, k, prev;
	const char *note = NULL, *p;

	(void)state;
	run_sh(r, "seq 1 1000000; echo stderr-last >&2", 60000, 30000);
	print_notes(r);
	assert_int_equal(r->exit_status, 0);
	assert_false(r->timed_out);
	/* the note comes between the head and the tail */
	for (i = 0; i < r->norder; i++)
		if (r->order[i] == ZDU_SPAWN_NOTE) {
			assert_int_equal(note_at, (size_t)-1);
			note_at = i;
		}
	if (note_at == (size_t)-1)
		fail_msg("no note says how much of stdout was not shown (%zu lines shown, the last \"%.20s\")",
			 r->n[1], r->n[1] ? r->lines[1][r->n[1] - 1] : "");
	note = r->lines[ZDU_SPAWN_NOTE][0];
	p = strstr(note, "stdout: ");
	assert_non_null(p);
	assert_int_equal(sscanf(p, "stdout: %llu bytes (%llu lines) not shown", &hidden_bytes, &hidden_lines), 2);
	/* every stdout line a whole number; 1..k, then first_tail..1000000 */
	prev = 0;
	first_tail = -1;
	for (i = 0; i < r->n[1]; i++) {
		const char *l = r->lines[1][i];

		if (!all_digits(l))
			fail_msg("line %zu of stdout is not a whole line of seq: \"%.40s\"", i, l);
		k = atol(l);
		if (k != prev + 1) {
			assert_int_equal(first_tail, -1);
			first_tail = k;
			want_lines = (unsigned long long)(k - prev - 1);
			for (prev = prev + 1; prev < k; prev++)
				want_bytes += (unsigned long long)snprintf(NULL, 0, "%ld", prev) + 1;
		}
		prev = k;
		if (first_tail < 0)
			head_bytes += strlen(l) + 1;
		else
			tail_bytes += strlen(l) + 1;
	}
	printf("  shown: %zu bytes as they came, %zu at the end; not shown: %llu bytes, %llu lines\n", head_bytes,
	       tail_bytes, hidden_bytes, hidden_lines);
	assert_int_equal(prev, 1000000);
	assert_true(first_tail > 0);
	assert_int_equal(hidden_bytes, want_bytes);
	assert_int_equal(hidden_lines, want_lines);
	assert_true(head_bytes <= ZDU_SPAWN_KEEP_MAX && head_bytes > ZDU_SPAWN_KEEP_MAX - 16);
	assert_true(tail_bytes <= ZDU_SPAWN_KEEP_MAX && tail_bytes > ZDU_SPAWN_KEEP_MAX - 16);
	/* the result: the last whole lines */
	assert_true(r->out_len <= ZDU_SPAWN_KEEP_MAX && r->out_len > ZDU_SPAWN_KEEP_MAX - 16);
	assert_true(r->out_len >= 15 && strcmp(r->out + r->out_len - 15, "999999\n1000000\n") == 0);
	assert_true(all_digits(strtok(r->out, "\n")));
	assert_int_equal(r->n[2], 1);
	assert_string_equal(r->lines[2][0], "stderr-last");
	assert_string_equal(r->err, "stderr-last\n");
	run_close(r);
	run_free(r);
}

static void test_long_line(void **state)
{
	struct run *r = run_new();
	char want[128];
	size_t i;

	(void)state;
	run_sh(r, "head -c 3000000 /dev/zero | tr '\\0' x; echo; echo after", 60000, 30000);
	print_notes(r);
	assert_int_equal(r->exit_status, 0);
	if (r->n[1] != 2)
		fail_msg("%zu lines on stdout, not the cut line and \"after\" (the last: \"%.20s\", %zu bytes)", r->n[1],
			 r->n[1] ? r->lines[1][r->n[1] - 1] : "", r->n[1] ? strlen(r->lines[1][r->n[1] - 1]) : 0);
	snprintf(want, sizeof(want), " [line cut: %u bytes not shown]", 3000000u - ZDU_SPAWN_LINE_MAX);
	assert_int_equal(strlen(r->lines[1][0]), ZDU_SPAWN_LINE_MAX + strlen(want));
	for (i = 0; i < ZDU_SPAWN_LINE_MAX; i++)
		assert_int_equal(r->lines[1][0][i], 'x');
	assert_string_equal(r->lines[1][0] + ZDU_SPAWN_LINE_MAX, want);
	assert_string_equal(r->lines[1][1], "after");
	run_close(r);
	run_free(r);
}

/* Without on_line the output is read whole (the ssh link's status JSON, one
 * line of several KB with several services): a long line is kept whole. */
static void test_long_line_whole(void **state)
{
	struct run *r = run_new();
	char *argv[] = { "/bin/sh", "-c", "head -c 20000 /dev/zero | tr '\\0' x; echo", NULL };
	size_t i;

	(void)state;
	assert_int_equal(zdu_spawn_run(&r->loop, argv, 30000, NULL, on_done, r), 0);
	run_until(r, 30000);
	assert_true(r->done);
	assert_int_equal(r->exit_status, 0);
	assert_int_equal(r->out_len, 20001);
	for (i = 0; i < 20000; i++)
		assert_int_equal(r->out[i], 'x');
	assert_int_equal(r->out[20000], '\n');
	run_close(r);
	run_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_long_line_whole),
		cmocka_unit_test(test_hold),
		cmocka_unit_test(test_hold_escaped),
		cmocka_unit_test(test_timeout_running),
		cmocka_unit_test(test_timeout_exited),
		cmocka_unit_test(test_many_lines),
		cmocka_unit_test(test_long_line),
	};

	/* The shell's background processes come back to us, to be counted. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		perror("prctl(PR_SET_CHILD_SUBREAPER)");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
