#include <stdlib.h>

#include "zdu/health.h"
#include "zdu/reply.h"
#include "zdu/slowstart.h"
#include "zdu/state.h"

struct zdu_slowstart {
	uv_loop_t *loop;
	struct zdu_state *state;
	uv_timer_t timer;
	unsigned target_pct, start_pct;
	uint64_t duration_ms;
	uint64_t began_ms;
	int serving;
	int ramping;
};

static void set_weight(struct zdu_slowstart *s, unsigned pct, const char *cause)
{
	struct zdu_event ev = { .kind = ZDU_EV_WEIGHT, .cause = cause, .weight_pct = pct };

	zdu_state_apply(s->state, &ev);
}

static void on_tick(uv_timer_t *t)
{
	struct zdu_slowstart *s = t->data;
	uint64_t elapsed = uv_now(s->loop) - s->began_ms;
	unsigned pct = zdu_ramp_percent(s->start_pct, s->target_pct, s->duration_ms, elapsed);

	if (pct >= s->target_pct) {
		s->ramping = 0;
		uv_timer_stop(&s->timer);
	}
	set_weight(s, pct, "slow start");
}

static void on_state(struct zdu_state *st, int reply_changed, void *data)
{
	struct zdu_slowstart *s = data;
	int serving = zdu_node_serving(&st->node);

	(void)reply_changed;
	if (serving == s->serving || s->duration_ms == 0) {
		s->serving = serving;
		return;
	}
	s->serving = serving;
	if (serving) {
		uint64_t tick = s->duration_ms / 50;

		s->began_ms = uv_now(s->loop);
		s->ramping = 1;
		uv_timer_start(&s->timer, on_tick, tick < 100 ? 100 : tick, tick < 100 ? 100 : tick);
	} else {
		s->ramping = 0;
		uv_timer_stop(&s->timer);
		set_weight(s, s->start_pct, "slow start reset: node not serving");
	}
}

static void timer_closed(uv_handle_t *h)
{
	free(h->data);
}

struct zdu_slowstart *zdu_slowstart_new(uv_loop_t *loop, struct zdu_state *state)
{
	struct zdu_slowstart *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->loop = loop;
	s->state = state;
	uv_timer_init(loop, &s->timer);
	s->timer.data = s;
	s->serving = zdu_node_serving(&state->node);
	if (zdu_state_observe(state, on_state, s) < 0) {
		uv_close((uv_handle_t *)&s->timer, timer_closed);
		return NULL;
	}
	return s;
}

void zdu_slowstart_configure(struct zdu_slowstart *s, const struct zdu_service_cfg *svc)
{
	s->target_pct = (unsigned)svc->weight;
	s->start_pct = (unsigned)svc->slowstart_start_pct;
	if (s->start_pct > s->target_pct)
		s->start_pct = s->target_pct;
	s->duration_ms = (uint64_t)svc->slowstart_ms;
	if (s->ramping)
		return; /* the running ramp heads for the new target */
	if (s->duration_ms && !s->serving)
		set_weight(s, s->start_pct, "slow start: waiting to serve");
	else
		set_weight(s, s->target_pct, "configured weight");
}

void zdu_slowstart_close(struct zdu_slowstart *s)
{
	zdu_state_unobserve(s->state, on_state, s);
	uv_close((uv_handle_t *)&s->timer, timer_closed);
}
