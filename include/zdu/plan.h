/* Loading a coordinator plan (libconfig). Errors say file, line and key. */
#ifndef ZDU_PLAN_H
#define ZDU_PLAN_H

#include "zdu/error.h"
#include "zdu/plan-t.h"

enum zdu_err zdu_plan_load(const char *path, struct zdu_plan *plan, char *err, size_t err_size);
/* From a string (name stands for the file): for tests and the fuzzer. */
enum zdu_err zdu_plan_load_string(const char *text, const char *name, struct zdu_plan *plan, char *err,
				  size_t err_size);
void zdu_plan_free(struct zdu_plan *plan);
/* The plan's keys, for zdu-coordinator.plan(5). */
struct zdu_keytab;
const struct zdu_keytab *zdu_plan_keytab(void);
/* A digest of what a journal must match to be resumed: backend and the
 * ordered nodes. */
unsigned long zdu_plan_digest(const struct zdu_plan *plan);

#endif
