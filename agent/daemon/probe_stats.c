#include "zdu/probe_stats.h"

/* From a fast local API (a few ms) to probe.slow_timeout_ms's range. */
const unsigned zdu_probe_bucket_ms[ZDU_PROBE_BUCKETS] = { 5,   10,   25,   50,   100,  250,
							  500, 1000, 2000, 5000, 10000, 30000 };

const char *zdu_probe_outcome_name(enum zdu_probe_outcome o)
{
	switch (o) {
	case ZDU_OUTCOME_OK: return "ok";
	case ZDU_OUTCOME_SLOW: return "slow";
	case ZDU_OUTCOME_FAILED:
	case ZDU_OUTCOME_MAX: break;
	}
	return "failed";
}

void zdu_probe_hist_record(struct zdu_probe_hist *h, enum zdu_probe_outcome o, uint64_t ms)
{
	unsigned i;

	if (o >= ZDU_OUTCOME_MAX)
		o = ZDU_OUTCOME_FAILED;
	h->outcome[o]++;
	for (i = 0; i < ZDU_PROBE_BUCKETS && ms > zdu_probe_bucket_ms[i]; i++)
		;
	h->bucket[i]++;
	h->sum_ms += ms;
	h->count++;
}

json_t *zdu_probe_hist_json(const struct zdu_probe_hist *h)
{
	json_t *le = json_array(), *cum = json_array(), *out;
	uint64_t acc = 0;
	unsigned i;

	for (i = 0; i <= ZDU_PROBE_BUCKETS; i++) {
		acc += h->bucket[i];
		if (i < ZDU_PROBE_BUCKETS)
			json_array_append_new(le, json_integer(zdu_probe_bucket_ms[i]));
		json_array_append_new(cum, json_integer((json_int_t)acc));
	}
	out = json_pack("{s:{s:I,s:I,s:I},s:{s:o,s:o,s:I,s:I}}", "outcomes", "ok",
			(json_int_t)h->outcome[ZDU_OUTCOME_OK], "slow", (json_int_t)h->outcome[ZDU_OUTCOME_SLOW],
			"failed", (json_int_t)h->outcome[ZDU_OUTCOME_FAILED], "duration_ms", "le", le,
			"buckets", cum, "sum", (json_int_t)h->sum_ms, "count", (json_int_t)h->count);
	return out;
}
