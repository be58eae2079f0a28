#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/common.h"
#include "zdu/drain.h"
#include "zdu/log.h"
#include "zdu/reply.h"
#include "zdu/state.h"

struct zdu_drain {
	uv_loop_t *loop;
	struct zdu_state *state;
	struct zdu_sockdiag *sd;
	uv_timer_t timer;
	struct zdu_sockdiag_filter filter;
	uint64_t settle_ms;
	uint64_t report_interval_ms; /* counts that only report; 0: interval_ms */
	uint64_t interval_ms;
	uint64_t zero_since; /* loop time since when the count is 0 with a flag set; 0: not */
	uint64_t sampled;    /* loop time of the last count, done or failed; 0: none yet */
	int flagged;
	int closing;
	struct zdu_drain_state last;
	struct zdu_list refresh; /* zdu_drain_refresh() callers waiting for a count */
	int counting;
};

int zdu_drain_flagged(const struct zdu_drain *d)
{
	return d->flagged;
}

/* Was the last count, done or failed, taken less than ms ago? */
static int counted_within(const struct zdu_drain *d, uint64_t ms)
{
	return d->sampled && uv_now(d->loop) - d->sampled < ms;
}

int zdu_drain_fresh(const struct zdu_drain *d)
{
	return d->last.known && counted_within(d, d->report_interval_ms ? d->report_interval_ms : d->interval_ms);
}

void zdu_drain_times(const struct zdu_drain *d, uint64_t *quiet_ms, int64_t *age_ms)
{
	uint64_t now = uv_now(d->loop);

	*quiet_ms = d->zero_since && d->last.known && d->last.conns == 0 ? now - d->zero_since : 0;
	*age_ms = d->sampled ? (int64_t)(now - d->sampled) : -1;
}


static void publish(struct zdu_drain *d, const char *cause)
{
	struct zdu_event ev = { .kind = ZDU_EV_DRAIN, .drain = &d->last, .cause = cause };
	uint64_t now = uv_now(d->loop);

	d->last.drained = d->flagged && d->last.known && !d->last.error[0] && d->last.conns == 0 &&
			  d->zero_since && now - d->zero_since >= d->settle_ms;
	zdu_state_apply(d->state, &ev);
}

struct refresh {
	struct zdu_list link;
	zdu_drain_cb cb;
	void *data;
};

/* Everyone waiting for this count hears of it, counted or failed. */
static void call_refreshers(struct zdu_drain *d, const char *err)
{
	while (!zdu_list_empty(&d->refresh)) {
		struct refresh *r = zdu_container_of(d->refresh.next, struct refresh, link);

		zdu_list_remove(&r->link);
		r->cb(err, r->data);
		free(r);
	}
}

static void on_count(int ok, const struct zdu_sockdiag_count *c, const char *err, void *data)
{
	struct zdu_drain *d = data;
	char cause[96];

	d->counting = 0;
	if (d->closing)
		return;
	d->sampled = uv_now(d->loop);
	if (ok < 0) {
		d->last.known = 0;
		zdu_strlcpy(d->last.error, err ? err : "?", sizeof(d->last.error));
		d->zero_since = 0;
		publish(d, "connection count failed");
		call_refreshers(d, d->last.error);
		return;
	}
	d->last.known = 1;
	d->last.error[0] = '\0';
	d->last.conns = c->established;
	d->last.idle = c->idle;
	if (c->established == 0 && d->flagged) {
		if (!d->zero_since)
			d->zero_since = uv_now(d->loop);
	} else {
		d->zero_since = 0;
	}
	snprintf(cause, sizeof(cause), "%u connection%s to the API", c->established,
		 c->established == 1 ? "" : "s");
	publish(d, cause);
	call_refreshers(d, NULL);
}

static int start_count(struct zdu_drain *d)
{
	if (d->counting)
		return 0; /* the count running answers everybody */
	if (zdu_sockdiag_query(d->sd, &d->filter, on_count, d) < 0)
		return -1;
	d->counting = 1;
	return 0;
}

int zdu_drain_refresh(struct zdu_drain *d, zdu_drain_cb cb, void *data)
{
	struct refresh *r;

	if (d->filter.nports == 0)
		return -1;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -1;
	r->cb = cb;
	r->data = data;
	zdu_list_insert_tail(&d->refresh, &r->link);
	if (start_count(d) < 0) {
		zdu_list_remove(&r->link);
		free(r);
		return -1;
	}
	return 0;
}

void zdu_drain_refresh_cancel(struct zdu_drain *d, void *data)
{
	struct zdu_list *q;

	for (q = d->refresh.next; q != &d->refresh; q = q->next) {
		struct refresh *r = zdu_container_of(q, struct refresh, link);

		if (r->data == data) {
			zdu_list_remove(&r->link);
			free(r);
			return;
		}
	}
}

static void on_tick(uv_timer_t *t)
{
	struct zdu_drain *d = t->data;

	/* Counting periodically matters only in maintenance; out of it the
	 * agent does not wake up for it (a dump walks every TCP socket of the
	 * host) and counts when asked (zdu_drain_refresh). */
	if (d->filter.nports == 0 || !d->flagged)
		return;
	/* Drained, the count only reports (and may see a connection come
	 * back, which brings the ticks back): every report_interval_ms. */
	if (d->last.drained && d->report_interval_ms && counted_within(d, d->report_interval_ms))
		return;
	/* A count still running (a huge dump) covers this tick too. */
	start_count(d);
}

static void on_state(struct zdu_state *st, int reply_changed, void *data)
{
	struct zdu_drain *d = data;
	int flagged = zdu_node_flag(&st->node)->mode != ZDU_FLAG_OFF;

	(void)reply_changed;
	if (flagged == d->flagged)
		return;
	d->flagged = flagged;
	/* The settle time runs from the flag, not from an older quiet spell. */
	d->zero_since = 0;
	if (!flagged)
		uv_timer_stop(&d->timer);
	publish(d, flagged ? "maintenance flag set" : "maintenance flag cleared");
	if (flagged) {
		uv_timer_again(&d->timer);
		on_tick(&d->timer);
	}
}

void zdu_drain_configure(struct zdu_drain *d, const struct zdu_config *cfg, const struct zdu_service_cfg *svc)
{
	size_t i;

	memset(&d->filter, 0, sizeof(d->filter));
	for (i = 0; i < svc->drain_ports.n && i < ZDU_SOCKDIAG_MAX_PORTS; i++)
		d->filter.ports[d->filter.nports++] = (uint16_t)svc->drain_ports.v[i];
	for (i = 0; i < cfg->drain_from.n && i < ZDU_SOCKDIAG_MAX_FROM; i++)
		if (zdu_sockdiag_addr(cfg->drain_from.v[i], &d->filter.from[d->filter.nfrom]) == 0)
			d->filter.nfrom++;
	for (i = 0; i < cfg->drain_local.n && i < ZDU_SOCKDIAG_MAX_FROM; i++)
		if (zdu_sockdiag_addr(cfg->drain_local.v[i], &d->filter.local[d->filter.nlocal]) == 0)
			d->filter.nlocal++;
	d->filter.idle_ms = (uint32_t)cfg->drain_idle_ms;
	d->settle_ms = (uint64_t)cfg->drain_settle_ms;
	d->interval_ms = (uint64_t)cfg->drain_interval_ms;
	d->report_interval_ms = cfg->drain_report_interval_ms > cfg->drain_interval_ms
					 ? (uint64_t)cfg->drain_report_interval_ms
					 : 0;
	uv_timer_start(&d->timer, on_tick, 0, (uint64_t)cfg->drain_interval_ms);
	if (!d->flagged)
		uv_timer_stop(&d->timer); /* on_state() restarts it with the repeat */
}

static void timer_closed(uv_handle_t *h)
{
	free(h->data);
}

struct zdu_drain *zdu_drain_new(uv_loop_t *loop, struct zdu_state *state, const struct zdu_config *cfg,
				const struct zdu_service_cfg *svc,
				char *err, size_t err_size)
{
	struct zdu_drain *d = calloc(1, sizeof(*d));

	if (!d) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	d->loop = loop;
	d->state = state;
	zdu_list_init(&d->refresh);
	d->sd = zdu_sockdiag_new(loop, err, err_size);
	if (!d->sd) {
		free(d);
		return NULL;
	}
	uv_timer_init(loop, &d->timer);
	d->timer.data = d;
	d->flagged = zdu_node_flag(&state->node)->mode != ZDU_FLAG_OFF;
	if (zdu_state_observe(state, on_state, d) < 0) {
		snprintf(err, err_size, "too many state observers");
		zdu_sockdiag_close(d->sd);
		uv_close((uv_handle_t *)&d->timer, timer_closed);
		return NULL;
	}
	zdu_drain_configure(d, cfg, svc);
	return d;
}

void zdu_drain_close(struct zdu_drain *d)
{
	while (!zdu_list_empty(&d->refresh)) {
		struct refresh *r = zdu_container_of(d->refresh.next, struct refresh, link);

		zdu_list_remove(&r->link);
		free(r);
	}
	d->closing = 1;
	zdu_state_unobserve(d->state, on_state, d);
	zdu_sockdiag_close(d->sd);
	uv_close((uv_handle_t *)&d->timer, timer_closed);
}
