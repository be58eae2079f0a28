/* Running a command on the loop (uv_spawn): its output is collected, and
 * each line can be handed to the caller as it comes (for the log).
 *
 * The command runs in its own session and process group, and the time
 * limit bounds the whole run, not only the direct child's life:
 *
 *  - past the limit the group gets SIGTERM, then SIGKILL ZDU_SPAWN_TERM_MS
 *    later if any of it is left;
 *  - when the direct child has exited but processes it left in the
 *    background (`cmd & exit 0`, a daemon that kept stdout, an ssh
 *    ControlPersist master) still hold its stdout or stderr after
 *    ZDU_SPAWN_HOLD_MS, the group is ended the same way; the run's result
 *    is still the direct child's exit status;
 *  - a holder outside the group (it called setsid) cannot be ended: its
 *    pipes are closed ZDU_SPAWN_CLOSE_MS after the SIGKILL (or after the
 *    SIGTERM when it found nothing of the group left) and the run ends.
 *
 * Background processes that do not hold the output (`cmd >/dev/null 2>&1 &`)
 * and are still there when the run ends normally are left alone.
 *
 * Output, per stream: whole lines, each handed out as it comes until
 * ZDU_SPAWN_KEEP_MAX bytes have been shown; past that only the last
 * ZDU_SPAWN_KEEP_MAX bytes (whole lines) are kept, and the ones not shown
 * yet are handed out when the run ends, after a note with the bytes and
 * lines dropped in between when there are any. A line longer than
 * ZDU_SPAWN_LINE_MAX (ZDU_SPAWN_KEEP_MAX without on_line: the caller reads
 * the output whole, as the ssh link reads a status JSON of one line) is
 * cut and marked "[line cut: N bytes not shown]"; a
 * line the command had not finished when its pipe was closed on it is marked
 * "[cut: ...]". Nothing else is ever handed out as a line. */
#ifndef ZDU_SPAWN_H
#define ZDU_SPAWN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "zdu/spawn-t.h"

#define ZDU_SPAWN_HOLD_MS 2000u      /* direct child gone, output still held */
#define ZDU_SPAWN_TERM_MS 2000u      /* SIGTERM to SIGKILL */
#define ZDU_SPAWN_CLOSE_MS 200u      /* group gone to closing pipes still held */
#define ZDU_SPAWN_KEEP_MAX (1u << 20) /* bytes kept and shown per stream */
#define ZDU_SPAWN_LINE_MAX 4096u     /* a line handed out: at most this, */
#define ZDU_SPAWN_MARK_MAX 96u       /* plus a marker of at most this */

/* stream: 1 stdout, 2 stderr, or ZDU_SPAWN_NOTE: a line of spawn's own about
 * the run (the time limit reached, a group ended, output not shown), for
 * the log as a warning. */
#define ZDU_SPAWN_NOTE 0
typedef void (*zdu_spawn_line_cb)(int stream, const char *line, void *data);
typedef void (*zdu_spawn_done_cb)(const struct zdu_spawn_result *res, void *data);

/* Starts argv (argv[0] looked up in PATH). done runs once, from the loop. */
int zdu_spawn_run(uv_loop_t *loop, char *const *argv, unsigned timeout_ms, zdu_spawn_line_cb on_line,
		  zdu_spawn_done_cb done, void *data);

#endif
