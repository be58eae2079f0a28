#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/common.h"
#include "zdu/etcd_lease.h"
#include "zdu/log.h"
#include "zdu/publish.h"

struct zdu_publish {
	struct zdu_etcd *etcd;
	char *key;
	zdu_publish_make_cb make;
	void *data;
	uv_timer_t tick;      /* look for a changed state */
	struct zdu_lease *lease;
	int putting;
	int dirty;            /* kicked while a write was in flight */
	char *last;           /* text last written under the current lease */
	char *writing;        /* text of the write in flight */
	uint64_t puts;
	char error[512];
	int closing;
};

static void publish(struct zdu_publish *p);

static void fail(struct zdu_publish *p, const char *what, const char *msg)
{
	char e[sizeof(p->error)];

	snprintf(e, sizeof(e), "%s: %s", what, msg);
	/* One line per kind of failure, not one per attempt. */
	if (strcmp(e, p->error) != 0)
		zdu_log_warn("etcd: cannot publish the agent's state: %s", e);
	memcpy(p->error, e, sizeof(e));
}

/* What was written went with the lease: write it again under the next.
 * Said the same whichever saw it first, the keep-alive or a put. */
static void lease_lost(struct zdu_publish *p)
{
	zdu_log_notice("etcd: the lease of %s ran out or was revoked (etcd away longer than its %d s, or an "
		       "operator): publishing anew under a new one",
		       p->key, zdu_lease_ttl(p->lease));
	zdu_lease_forget(p->lease);
	free(p->last);
	p->last = NULL;
}

static void on_put(const struct zdu_etcd_result *res, void *data)
{
	struct zdu_publish *p = data;

	p->putting = 0;
	if (res->err != ZDU_OK) {
		/* "requested lease not found": the lease ran out while etcd
		 * was away; the next tick grants a new one. */
		if (strstr(res->msg, "lease not found"))
			lease_lost(p);
		fail(p, "put", res->msg);
		free(p->writing);
	} else {
		free(p->last);
		p->last = p->writing;
		p->puts++;
		p->error[0] = '\0';
	}
	p->writing = NULL;
	if (p->dirty) {
		p->dirty = 0;
		publish(p);
	}
}

static void on_lease(enum zdu_lease_event ev, const char *msg, void *data)
{
	struct zdu_publish *p = data;

	switch (ev) {
	case ZDU_LEASE_GRANTED:
		publish(p);
		break;
	case ZDU_LEASE_GRANT_FAILED:
		fail(p, "lease grant", msg);
		break;
	case ZDU_LEASE_KEEPALIVE_FAILED:
		fail(p, "lease keepalive", msg);
		break;
	case ZDU_LEASE_LOST:
		lease_lost(p);
		publish(p);
		break;
	}
}

static void publish(struct zdu_publish *p)
{
	json_t *o;
	char *text, *out, when[40];

	if (p->closing)
		return;
	if (p->putting) {
		p->dirty = 1;
		return;
	}
	if (!zdu_lease_id(p->lease)) {
		/* The grant's answer publishes. */
		zdu_lease_grant(p->lease);
		return;
	}
	o = p->make(p->data);
	text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (!text || (p->last && strcmp(p->last, text) == 0)) {
		json_decref(o);
		free(text);
		return;
	}
	/* When it was written, outside the comparison: the time alone never
	 * makes a write. */
	json_object_set_new(o, "time", json_string(zdu_utc_now_ms(when, sizeof(when))));
	out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (!out || zdu_etcd_put(p->etcd, p->key, out, strlen(out), zdu_lease_id(p->lease), on_put, p) < 0) {
		free(out);
		free(text);
		return;
	}
	free(out);
	p->writing = text;
	p->putting = 1;
}

static void on_tick(uv_timer_t *t)
{
	publish(t->data);
}

struct zdu_publish *zdu_publish_new(uv_loop_t *loop, struct zdu_etcd *etcd, const char *key, int ttl_s,
				    int interval_ms, zdu_publish_make_cb make, void *data)
{
	struct zdu_publish *p = calloc(1, sizeof(*p));

	if (!p || !(p->key = strdup(key)) || !(p->lease = zdu_lease_new(loop, etcd, ttl_s, on_lease, p))) {
		if (p)
			free(p->key);
		free(p);
		return NULL;
	}
	p->etcd = etcd;
	p->make = make;
	p->data = data;
	uv_timer_init(loop, &p->tick);
	p->tick.data = p;
	uv_timer_start(&p->tick, on_tick, 0, (uint64_t)interval_ms);
	return p;
}

void zdu_publish_kick(struct zdu_publish *p)
{
	publish(p);
}

json_t *zdu_publish_status_json(const struct zdu_publish *p)
{
	return json_pack("{s:s,s:I,s:i,s:I,s:s?}", "key", p->key, "lease", (json_int_t)zdu_lease_id(p->lease),
			 "ttl_s", zdu_lease_ttl(p->lease),
			 "writes", (json_int_t)p->puts, "error", p->error[0] ? p->error : NULL);
}

static void closed(uv_handle_t *h)
{
	struct zdu_publish *p = h->data;

	free(p->key);
	free(p->last);
	free(p->writing);
	free(p);
}

void zdu_publish_close(struct zdu_publish *p)
{
	p->closing = 1;
	zdu_lease_close(p->lease);
	uv_close((uv_handle_t *)&p->tick, closed);
}
