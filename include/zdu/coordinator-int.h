/* Between the coordinator's own files: coordinator.c (the run, the rolling
 * steps, the output, the poll rounds) and cutover.c (the switch). Other
 * modules use coordinator.h. */
#ifndef ZDU_COORDINATOR_INT_H
#define ZDU_COORDINATOR_INT_H

#include <stddef.h>

#include "zdu/coordinator-t.h"

/* ---- coordinator.c ---- */

/* The step's name in the output ("preflight", "wait-drained", "switch"). */
const char *zdu_coord_step_name(enum zdu_coord_step s);
/* One line of output: about node (NULL: the whole rollout) in step, of
 * kind event ("start", "ok", "wait", "info", "warn", "fail", "next"). */
void zdu_coord_say(struct zdu_coord *c, const char *node, const char *step, const char *event, const char *fmt,
		   ...) __attribute__((format(printf, 5, 6)));
/* Stops the rollout with exit code `code`, saying why and what to do next. */
void zdu_coord_fail(struct zdu_coord *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Records a finished step in the journal (node "" for the whole rollout). */
void zdu_coord_journal(struct zdu_coord *c, const char *node, const char *step);
/* A poll round: every load balancer's show stat into c->lbs, and with
 * c->round_agent the node's status into c->agent; then the step's
 * evaluation. zdu_coord_poll_again(): the next round after timeouts.poll_ms. */
void zdu_coord_round(struct zdu_coord *c);
void zdu_coord_poll_again(struct zdu_coord *c);
/* A wait: poll rounds from now until done or limit_ms have passed. */
void zdu_coord_wait_rounds(struct zdu_coord *c, int limit_ms);
/* One runtime request to load balancer i; done runs once, from the loop.
 * -1 when it cannot start. */
typedef void (*zdu_coord_lb_cb)(struct zdu_coord *c, size_t i, int ok, const char *answer, size_t len,
				const char *err);
int zdu_coord_lb_request(struct zdu_coord *c, size_t i, const char *cmd, zdu_coord_lb_cb done);
/* A wait's round is in: 1 when done; else a failure once the step's
 * deadline is past ("WHAT after N s: STATE"), or the next round, saying
 * how things stand when that changed; 0. */
int zdu_coord_waited(struct zdu_coord *c, int done, const char *state, const char *what, int limit_ms);
int zdu_coord_timed_out(const struct zdu_coord *c);
/* The next node in order (after the switch, its second group). */
void zdu_coord_begin_node(struct zdu_coord *c);

/* ---- cutover.c ---- */

/* The first group is upgraded and healthy: switch the traffic to it. */
void zdu_cutover_start(struct zdu_coord *c);
/* A poll round of the switch is in. */
void zdu_cutover_evaluate(struct zdu_coord *c);
/* What to do next after the switch failed, or was interrupted. */
const char *zdu_cutover_next_after_fail(const struct zdu_coord *c);
const char *zdu_cutover_next_after_signal(const struct zdu_coord *c);

#endif
