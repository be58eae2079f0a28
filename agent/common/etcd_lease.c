#include <stdlib.h>

#include "zdu/etcd_lease.h"

struct zdu_lease {
	struct zdu_etcd *etcd;
	int ttl_s;
	zdu_lease_cb cb;
	void *data;
	uv_timer_t keepalive; /* every third of the TTL while a lease is held */
	int64_t id;           /* 0: none held */
	int64_t keeping;      /* the lease a keep-alive in flight is for; 0: none */
	int granting;
	int closing;
};

static void tell(struct zdu_lease *l, enum zdu_lease_event ev, const char *msg)
{
	if (!l->closing && l->cb)
		l->cb(ev, msg ? msg : "", l->data);
}

static void drop(struct zdu_lease *l)
{
	l->id = 0;
	uv_timer_stop(&l->keepalive);
}

static void on_keepalive_done(const struct zdu_etcd_result *res, void *data)
{
	struct zdu_lease *l = data;
	int64_t id = l->keeping;

	l->keeping = 0;
	/* An answer for a lease forgotten meanwhile says nothing of this one. */
	if (id != l->id)
		return;
	if (res->err != ZDU_OK) {
		tell(l, ZDU_LEASE_KEEPALIVE_FAILED, res->msg);
		return;
	}
	if (res->ttl <= 0) {
		drop(l);
		tell(l, ZDU_LEASE_LOST, NULL);
	}
}

static void on_keepalive(uv_timer_t *t)
{
	struct zdu_lease *l = t->data;

	if (!l->id || l->keeping || l->closing)
		return;
	if (zdu_etcd_lease_keepalive(l->etcd, l->id, on_keepalive_done, l) == 0)
		l->keeping = l->id;
}

static void on_grant(const struct zdu_etcd_result *res, void *data)
{
	struct zdu_lease *l = data;
	uint64_t every = (uint64_t)l->ttl_s * 1000 / 3;

	l->granting = 0;
	if (res->err != ZDU_OK || !res->lease_id) {
		tell(l, ZDU_LEASE_GRANT_FAILED, res->err != ZDU_OK ? res->msg : "no lease ID in the answer");
		return;
	}
	l->id = res->lease_id;
	uv_timer_start(&l->keepalive, on_keepalive, every, every);
	tell(l, ZDU_LEASE_GRANTED, NULL);
}

struct zdu_lease *zdu_lease_new(uv_loop_t *loop, struct zdu_etcd *etcd, int ttl_s, zdu_lease_cb cb, void *data)
{
	struct zdu_lease *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->etcd = etcd;
	l->ttl_s = ttl_s;
	l->cb = cb;
	l->data = data;
	uv_timer_init(loop, &l->keepalive);
	l->keepalive.data = l;
	/* Keeping a lease alive is no reason for the loop to go on. */
	uv_unref((uv_handle_t *)&l->keepalive);
	return l;
}

int zdu_lease_grant(struct zdu_lease *l)
{
	if (l->id || l->granting || l->closing)
		return 0;
	if (zdu_etcd_lease_grant(l->etcd, l->ttl_s, on_grant, l) < 0)
		return -1;
	l->granting = 1;
	return 0;
}

int64_t zdu_lease_id(const struct zdu_lease *l)
{
	return l->id;
}

int zdu_lease_ttl(const struct zdu_lease *l)
{
	return l->ttl_s;
}

void zdu_lease_forget(struct zdu_lease *l)
{
	drop(l);
}

int zdu_lease_revoke(struct zdu_lease *l, zdu_etcd_cb cb, void *data)
{
	int64_t id = l->id;

	if (!id)
		return -1;
	drop(l);
	return zdu_etcd_lease_revoke(l->etcd, id, cb, data);
}

static void closed(uv_handle_t *h)
{
	free(h->data);
}

void zdu_lease_close(struct zdu_lease *l)
{
	if (!l || l->closing)
		return;
	l->closing = 1;
	uv_close((uv_handle_t *)&l->keepalive, closed);
}
