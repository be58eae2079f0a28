#include "zdu/health.h"

void zdu_hysteresis_init(struct zdu_hysteresis *h, int rise, int fall)
{
	h->rise = rise;
	h->fall = fall;
	h->ok_streak = h->fail_streak = 0;
	h->verdict = ZDU_HEALTH_UNKNOWN;
}

enum zdu_health zdu_hysteresis_feed(struct zdu_hysteresis *h, int ok)
{
	if (ok) {
		h->ok_streak++;
		h->fail_streak = 0;
	} else {
		h->fail_streak++;
		h->ok_streak = 0;
	}
	if (h->verdict == ZDU_HEALTH_UNKNOWN)
		h->verdict = ok ? ZDU_HEALTH_UP : ZDU_HEALTH_DOWN;
	else if (h->verdict == ZDU_HEALTH_DOWN && h->ok_streak >= h->rise)
		h->verdict = ZDU_HEALTH_UP;
	else if (h->verdict == ZDU_HEALTH_UP && h->fail_streak >= h->fall)
		h->verdict = ZDU_HEALTH_DOWN;
	return h->verdict;
}

unsigned zdu_ramp_percent(unsigned start_pct, unsigned target_pct, uint64_t duration_ms,
			  uint64_t elapsed_ms)
{
	if (start_pct >= target_pct || duration_ms == 0 || elapsed_ms >= duration_ms)
		return target_pct;
	/* 128-bit product: no overflow for any duration. */
	return start_pct + (unsigned)((unsigned __int128)(target_pct - start_pct) * elapsed_ms / duration_ms);
}
