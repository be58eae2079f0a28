/* The rollout's progress as a node_exporter textfile (zdu_coordinator.prom):
 * an observer of the coordinator's events, fed where it says each event and
 * records each finished step, never reading the run's internals. Written
 * atomically at each change of step and at the end. */
#ifndef ZDU_COORD_PROGRESS_H
#define ZDU_COORD_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

#define ZDU_COORD_TEXTFILE "zdu_coordinator.prom"

struct zdu_coord_progress;

/* NULL with err when dir is not a directory. plan: its label (the plan
 * file's name without directory and extension). */
struct zdu_coord_progress *zdu_coord_progress_new(const char *dir, const char *plan, const char *backend,
						  const char *strategy, size_t nnodes, char *err, size_t err_size);
/* Every event the coordinator says (node and step may be NULL). */
void zdu_coord_progress_event(struct zdu_coord_progress *p, const char *node, const char *step, const char *event);
/* A step the journal records as finished ("done": the whole node). */
void zdu_coord_progress_step_done(struct zdu_coord_progress *p, const char *node, const char *step);
/* The run's end with its exit code (0: done). */
void zdu_coord_progress_end(struct zdu_coord_progress *p, int exit_code);
void zdu_coord_progress_free(struct zdu_coord_progress *p);

/* The exposition as it stands (malloc'd), for tests. now_unix: the clock. */
char *zdu_coord_progress_render(const struct zdu_coord_progress *p);

#endif
