/* Hysteresis of probe results, the slow/dead split, and the slow-start
 * ramp. Pure arithmetic: time comes in as arguments. */
#ifndef ZDU_HEALTH_H
#define ZDU_HEALTH_H

#include <stdint.h>

#include "zdu/state-t.h"

/* One probe's outcome (a kind of check_*.c, zdu/check.h). */
enum zdu_probe_class {
	ZDU_PROBE_OK = 0, /* a good answer in time */
	ZDU_PROBE_SLOW,   /* connected, but no good answer within probe.timeout_ms */
	ZDU_PROBE_FAILED, /* refused, reset, connect timeout, 5xx, wrong document */
};

struct zdu_hysteresis {
	int rise, fall;
	int ok_streak;   /* successes in a row */
	int fail_streak; /* probes not OK in a row, slow ones included */
	int hard_streak; /* failed probes in a row: a slow or good answer ends the row */
	uint64_t dead_after_ms; /* 0: a slow probe is a failure like any other */
	enum zdu_health verdict;
	enum zdu_fault fault; /* soft while up and slow; while down, what took it down */
	/* The slow spell of an up node: from the start of its first slow probe
	 * to the next good answer (or to going down). */
	int slow;
	uint64_t slow_since_ms;
	uint64_t slow_for_ms; /* at the last result */
	/* A fleet guard decides whether slowness takes the node down: a slow
	 * probe that would take it down sets dead_due instead, and the caller
	 * goes down through zdu_hysteresis_slow_down() once the guard allows. */
	int guarded;
	int dead_due; /* up, slow for dead_after_ms (and fall probes): ask the guard */
};

void zdu_hysteresis_init(struct zdu_hysteresis *h, int rise, int fall);
/* Slow probes of an up node take it down only once it has been slow for
 * dead_after_ms (and never before fall probes); 0 makes a slow probe a
 * failure, as hard as any. */
void zdu_hysteresis_set_dead_after(struct zdu_hysteresis *h, uint64_t dead_after_ms);

/* With a guard, slowness alone never takes the node down here (see
 * dead_due); failures still do. Without one, as before. */
void zdu_hysteresis_set_guarded(struct zdu_hysteresis *h, int guarded);
/* The guard allows it: a node due to go down for slowness goes down, fault
 * soft. Returns -1 (and changes nothing) when it is no longer due: a good
 * answer or a failure came meanwhile. */
int zdu_hysteresis_slow_down(struct zdu_hysteresis *h);

/* Feeds one probe result and returns the verdict. The first result decides
 * at once (the agent has nothing better to say); after that, rise successes
 * in a row make a down node up and fall failures in a row an up node down. */
enum zdu_health zdu_hysteresis_feed(struct zdu_hysteresis *h, int ok);

/* The same with the slow/dead split. started_ms: when the probe started,
 * now_ms: when its result came (monotonic). A slow probe:
 *   - of an up node: keeps it up (fault soft) until the spell, counted from
 *     the start of its first slow probe, reaches dead_after_ms; then down,
 *     fault soft. A failure during the spell counts toward fall as usual;
 *   - of a node not up (down, or no verdict yet): a failure. Slowness never
 *     brings a node up: uwsgi accepts connections before nova has loaded.
 * A failure ends nothing of the spell but its hard row; rise successes in a
 * row end it (fewer leave the weight where it is). */
enum zdu_health zdu_hysteresis_feed_class(struct zdu_hysteresis *h, enum zdu_probe_class cls,
					  uint64_t started_ms, uint64_t now_ms);

/* The weight share of a node slow for slow_for_ms: 50 % during the first
 * third of dead_after_ms, 25 % during the second, 10 % during the last. */
unsigned zdu_slow_weight_pct(uint64_t slow_for_ms, uint64_t dead_after_ms);

/* Weight percentage elapsed_ms into a ramp from start_pct to target_pct
 * lasting duration_ms (linear, never above target). */
unsigned zdu_ramp_percent(unsigned start_pct, unsigned target_pct, uint64_t duration_ms,
			  uint64_t elapsed_ms);

#endif
