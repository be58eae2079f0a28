/* Running a command on the loop (uv_spawn): its output is collected, and
 * each line can be handed to the caller as it comes (for the log). The
 * process runs in its own group so a timeout kills it and its children. */
#ifndef ZDU_SPAWN_H
#define ZDU_SPAWN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct zdu_spawn_result {
	int64_t exit_status; /* -1 when killed by a signal or never started */
	int term_signal;
	int timed_out;
	const char *out;     /* stdout, NUL-terminated (capped) */
	size_t out_len;
	const char *err;     /* stderr, NUL-terminated (capped) */
	size_t err_len;
	const char *error;   /* why it could not run, or NULL */
};

/* stream: 1 stdout, 2 stderr. */
typedef void (*zdu_spawn_line_cb)(int stream, const char *line, void *data);
typedef void (*zdu_spawn_done_cb)(const struct zdu_spawn_result *res, void *data);

/* Starts argv (argv[0] looked up in PATH). done runs once, from the loop. */
int zdu_spawn_run(uv_loop_t *loop, char *const *argv, unsigned timeout_ms, zdu_spawn_line_cb on_line,
		  zdu_spawn_done_cb done, void *data);

#endif
