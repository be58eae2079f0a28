#include "zdu/health.h"

void zdu_hysteresis_init(struct zdu_hysteresis *h, int rise, int fall)
{
	h->rise = rise;
	h->fall = fall;
	h->ok_streak = h->fail_streak = h->hard_streak = 0;
	h->dead_after_ms = 0;
	h->verdict = ZDU_HEALTH_UNKNOWN;
	h->fault = ZDU_FAULT_NONE;
	h->slow = 0;
	h->slow_since_ms = h->slow_for_ms = 0;
	h->guarded = h->dead_due = 0;
}

static void slow_end(struct zdu_hysteresis *h)
{
	h->slow = 0;
	h->slow_since_ms = h->slow_for_ms = 0;
	h->dead_due = 0;
}

void zdu_hysteresis_set_dead_after(struct zdu_hysteresis *h, uint64_t dead_after_ms)
{
	h->dead_after_ms = dead_after_ms;
	if (dead_after_ms == 0 && h->slow) {
		/* Slowness no longer counts: the spell is over. */
		slow_end(h);
		if (h->verdict == ZDU_HEALTH_UP)
			h->fault = ZDU_FAULT_NONE;
	}
}

void zdu_hysteresis_set_guarded(struct zdu_hysteresis *h, int guarded)
{
	h->guarded = guarded;
	if (!guarded)
		h->dead_due = 0;
}

enum zdu_health zdu_hysteresis_feed(struct zdu_hysteresis *h, int ok)
{
	return zdu_hysteresis_feed_class(h, ok ? ZDU_PROBE_OK : ZDU_PROBE_FAILED, 0, 0);
}

/* Slow for dead_after_ms, and at least fall probes without a good answer:
 * never quicker than a hard failure. */
static int slow_is_dead(const struct zdu_hysteresis *h)
{
	return h->slow && h->slow_for_ms >= h->dead_after_ms && h->fail_streak >= h->fall;
}

static void go_down(struct zdu_hysteresis *h, enum zdu_fault fault)
{
	h->verdict = ZDU_HEALTH_DOWN;
	h->fault = fault;
	slow_end(h);
}

int zdu_hysteresis_slow_down(struct zdu_hysteresis *h)
{
	if (!h->dead_due || h->verdict != ZDU_HEALTH_UP)
		return -1;
	go_down(h, ZDU_FAULT_SOFT);
	return 0;
}

enum zdu_health zdu_hysteresis_feed_class(struct zdu_hysteresis *h, enum zdu_probe_class cls,
					  uint64_t started_ms, uint64_t now_ms)
{
	int was_slow = cls == ZDU_PROBE_SLOW;

	h->dead_due = 0;

	/* Slowness only holds up a node that is up. */
	if (cls == ZDU_PROBE_SLOW && (h->dead_after_ms == 0 || h->verdict != ZDU_HEALTH_UP))
		cls = ZDU_PROBE_FAILED;

	if (cls == ZDU_PROBE_OK) {
		h->ok_streak++;
		h->fail_streak = h->hard_streak = 0;
		/* A slow spell ends as a down node comes up: after rise good
		 * answers in a row, so a node answering around the timeout
		 * does not flap between two weights. */
		if (h->slow && h->ok_streak >= h->rise)
			slow_end(h);
		else if (h->slow)
			h->slow_for_ms = now_ms > h->slow_since_ms ? now_ms - h->slow_since_ms : 0;
		if (h->verdict == ZDU_HEALTH_UNKNOWN ||
		    (h->verdict == ZDU_HEALTH_DOWN && h->ok_streak >= h->rise))
			h->verdict = ZDU_HEALTH_UP;
		if (h->verdict == ZDU_HEALTH_UP)
			h->fault = h->slow ? ZDU_FAULT_SOFT : ZDU_FAULT_NONE;
		return h->verdict;
	}

	h->ok_streak = 0;
	h->fail_streak++;
	if (cls == ZDU_PROBE_SLOW) {
		/* Up: the answer came, or the connection was taken, late. */
		h->hard_streak = 0;
		if (!h->slow) {
			h->slow = 1;
			h->slow_since_ms = started_ms;
		}
		h->fault = ZDU_FAULT_SOFT;
	} else {
		h->hard_streak++;
	}
	if (h->slow)
		h->slow_for_ms = now_ms > h->slow_since_ms ? now_ms - h->slow_since_ms : 0;

	switch (h->verdict) {
	case ZDU_HEALTH_UNKNOWN:
		go_down(h, ZDU_FAULT_HARD);
		break;
	case ZDU_HEALTH_UP:
		if (cls == ZDU_PROBE_FAILED && h->hard_streak >= h->fall)
			go_down(h, ZDU_FAULT_HARD);
		else if (slow_is_dead(h) && h->guarded && cls == ZDU_PROBE_SLOW)
			h->dead_due = 1; /* the guard decides; up meanwhile */
		else if (slow_is_dead(h))
			go_down(h, cls == ZDU_PROBE_SLOW ? ZDU_FAULT_SOFT : ZDU_FAULT_HARD);
		break;
	case ZDU_HEALTH_DOWN:
	default:
		/* Still slow keeps a node that went down slow soft; any
		 * failure makes it hard. */
		if (!(was_slow && h->fault == ZDU_FAULT_SOFT))
			h->fault = ZDU_FAULT_HARD;
		break;
	}
	return h->verdict;
}

unsigned zdu_slow_weight_pct(uint64_t slow_for_ms, uint64_t dead_after_ms)
{
	unsigned __int128 t3 = (unsigned __int128)slow_for_ms * 3;

	if (t3 < dead_after_ms)
		return 50;
	if (t3 < (unsigned __int128)dead_after_ms * 2)
		return 25;
	return 10;
}

unsigned zdu_ramp_percent(unsigned start_pct, unsigned target_pct, uint64_t duration_ms,
			  uint64_t elapsed_ms)
{
	if (start_pct >= target_pct || duration_ms == 0 || elapsed_ms >= duration_ms)
		return target_pct;
	/* 128-bit product: no overflow for any duration. */
	return start_pct + (unsigned)((unsigned __int128)(target_pct - start_pct) * elapsed_ms / duration_ms);
}
