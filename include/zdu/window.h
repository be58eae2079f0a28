/* Window commands: a command run once around the rollout's window, outside
 * any node's steps (the plan's before_command and after_command; later a
 * service's own). Run on the loop with the coordinator's command runner
 * (spawn.h: its own process group, one time limit, output kept and printed
 * line by line), its exit status checked, and recorded in the journal as
 * (scope, step) once it succeeded, so --resume skips it then and runs it
 * again otherwise. Part of the coordinator (coordinator-int.h). */
#ifndef ZDU_WINDOW_H
#define ZDU_WINDOW_H

#include <stddef.h>

#include "zdu/window-t.h"

struct zdu_coord;
struct zdu_plan;
struct zdu_plan_service;

/* The plan's before_command and after_command as window commands. */
void zdu_window_plan_before(const struct zdu_plan *p, struct zdu_window_cmd *w);
void zdu_window_plan_after(const struct zdu_plan *p, struct zdu_window_cmd *w);

/* A service's before_command (before) or after_command as a window
 * command: w (filled by the two above) takes its command, a key naming
 * the service, and the journal scope "SERVICE/" when scoped (else the
 * pass's scope makes it so). */
void zdu_window_service(const struct zdu_plan_service *sv, int before, int scoped, struct zdu_window_cmd *w);
/* 1 when w has a command the journal does not record as succeeded. */
int zdu_window_pending(const struct zdu_coord *c, const struct zdu_window_cmd *w);

/* Runs w (c->win, set by the caller, step c->step): says so, prints its
 * output, and when it exits 0 records it and calls then(c); else the
 * rollout stops (zdu_coord_fail). Never blocks. */
void zdu_window_start(struct zdu_coord *c);

/* What to do after the window command in progress failed. */
const char *zdu_window_next_after_fail(const struct zdu_coord *c);

/* {backend}, {plan} and {service} in tmpl replaced (malloc'd; NULL: out of
 * memory); service NULL: "". */
char *zdu_window_expand(const char *tmpl, const char *backend, const char *plan, const char *service);

/* The last nlines non-empty lines of out[0, len), joined with " | " into
 * buf (cut to size); "" when there are none. */
void zdu_window_tail(const char *out, size_t len, unsigned nlines, char *buf, size_t size);

#endif
