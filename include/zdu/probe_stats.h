/* What the probes of one service measured, for metrics: how many ended in
 * each outcome and how long they took (a histogram with fixed buckets).
 * Pure counting: the probe records each finished probe here and the status
 * shows the counts; nothing else reads them. */
#ifndef ZDU_PROBE_STATS_H
#define ZDU_PROBE_STATS_H

#include <jansson.h>
#include <stdint.h>

enum zdu_probe_outcome {
	ZDU_OUTCOME_OK = 0,
	ZDU_OUTCOME_SLOW,   /* late, counted as slow (an up node with probe.dead_after_ms) */
	ZDU_OUTCOME_FAILED, /* anything else that is not ok, late ones of a node not up included */
	ZDU_OUTCOME_MAX
};

/* Upper bounds of the duration buckets, in ms; one more bucket is +Inf. */
#define ZDU_PROBE_BUCKETS 12

struct zdu_probe_hist {
	uint64_t outcome[ZDU_OUTCOME_MAX];
	uint64_t bucket[ZDU_PROBE_BUCKETS + 1]; /* not cumulative; the last is +Inf */
	uint64_t sum_ms;
	uint64_t count;
};

extern const unsigned zdu_probe_bucket_ms[ZDU_PROBE_BUCKETS];

const char *zdu_probe_outcome_name(enum zdu_probe_outcome o);
void zdu_probe_hist_record(struct zdu_probe_hist *h, enum zdu_probe_outcome o, uint64_t ms);
/* {"outcomes":{"ok":N,"slow":N,"failed":N},
 *  "duration_ms":{"le":[5,...],"buckets":[cumulative..., +Inf last],"sum":N,"count":N}} */
json_t *zdu_probe_hist_json(const struct zdu_probe_hist *h);

#endif
