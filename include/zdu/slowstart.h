/* Slow start: when the node starts serving (healthy, no flag), its weight
 * ramps linearly from start_percent to the configured weight. While it is
 * not serving the weight rests at start_percent, so the very reply that
 * puts it back says the low weight, with no 100% in between. */
#ifndef ZDU_SLOWSTART_H
#define ZDU_SLOWSTART_H

#include <stdint.h>
#include <uv.h>

#include "zdu/config-t.h"
#include "zdu/state.h"

struct zdu_slowstart;

/* Observes state; call zdu_slowstart_configure() at start and on reload. */
struct zdu_slowstart *zdu_slowstart_new(uv_loop_t *loop, struct zdu_state *state);
void zdu_slowstart_configure(struct zdu_slowstart *s, const struct zdu_service_cfg *svc);
void zdu_slowstart_close(struct zdu_slowstart *s);

#endif
