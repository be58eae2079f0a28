/* Hysteresis of probe results, and the slow-start ramp. Pure arithmetic. */
#ifndef ZDU_HEALTH_H
#define ZDU_HEALTH_H

#include <stdint.h>

#include "zdu/state-t.h"

struct zdu_hysteresis {
	int rise, fall;
	int ok_streak;   /* successes in a row */
	int fail_streak; /* failures in a row */
	enum zdu_health verdict;
};

void zdu_hysteresis_init(struct zdu_hysteresis *h, int rise, int fall);
/* Feeds one probe result and returns the verdict. The first result decides
 * at once (the agent has nothing better to say); after that, rise successes
 * in a row make a down node up and fall failures in a row an up node down. */
enum zdu_health zdu_hysteresis_feed(struct zdu_hysteresis *h, int ok);

/* Weight percentage elapsed_ms into a ramp from start_pct to target_pct
 * lasting duration_ms (linear, never above target). */
unsigned zdu_ramp_percent(unsigned start_pct, unsigned target_pct, uint64_t duration_ms,
			  uint64_t elapsed_ms);

#endif
