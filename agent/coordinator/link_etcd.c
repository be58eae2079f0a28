/* etcd:NAME: the node reached through etcd alone. A flag is a write of the
 * node's key, confirmed once the agent's published state shows it at the
 * write's revision or later; status is the published state itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/common.h"
#include "zdu/etcd_keys.h"
#include "zdu/flag.h"
#include "zdu/flag_etcd.h"
#include "zdu/link-int.h"

#define CONFIRM_POLL_MS 100

struct ecall {
	struct zdu_link *l;
	enum zdu_link_op op;
	zdu_link_cb cb;
	void *data;
	char key[512];   /* the node's flag key, or its service's */
	char service[64]; /* "" : the node's */
	char agent[512]; /* where the agent publishes */
	int64_t revision; /* of our write: the agent must have seen it */
	uint64_t deadline;
	uv_timer_t timer;
	char last[256];  /* why it is not confirmed yet */
};

static void ecall_closed(uv_handle_t *h)
{
	free(h->data);
}

static void finish(struct ecall *c, json_t *status, const char *err)
{
	c->cb(status, err, c->data);
	uv_close((uv_handle_t *)&c->timer, ecall_closed);
}

static void read_agent(struct ecall *c);

static void on_timer(uv_timer_t *t)
{
	read_agent(t->data);
}

static void on_agent(const struct zdu_etcd_result *res, void *data)
{
	struct ecall *c = data;
	char msg[768];
	json_t *st = NULL;

	if (res->err != ZDU_OK) {
		snprintf(msg, sizeof(msg), "%s", res->msg);
	} else if (res->nkvs == 0) {
		snprintf(msg, sizeof(msg),
			 "etcd %s: no state published (the agent is not running, does not use etcd, or its "
			 "etcd.node is not \"%s\")",
			 c->agent, c->l->target);
	} else {
		json_error_t jerr;

		st = json_loadb(res->kvs[0].value, res->kvs[0].len, 0, &jerr);
		if (!json_is_object(st)) {
			snprintf(msg, sizeof(msg), "etcd %s: the published state is not JSON: %s", c->agent, jerr.text);
			json_decref(st);
			st = NULL;
		}
	}
	if (st && (c->op == ZDU_LINK_STATUS ||
		   zdu_flag_etcd_shows_key(st, c->service[0] ? c->service : NULL, c->revision,
							c->op == ZDU_LINK_SET_FLAG, c->last, sizeof(c->last)))) {
		finish(c, st, NULL);
		json_decref(st);
		return;
	}
	json_decref(st);
	if (c->op == ZDU_LINK_STATUS) {
		finish(c, NULL, msg);
		return;
	}
	if (!st)
		zdu_strlcpy(c->last, msg, sizeof(c->last));
	if (uv_now(c->l->loop) >= c->deadline) {
		snprintf(msg, sizeof(msg), "etcd %s written (revision %lld), but the agent did not show it within %.1f s: %s",
			 c->key, (long long)c->revision, c->l->plan->etcd_flag_timeout_ms / 1000.0, c->last);
		finish(c, NULL, msg);
		return;
	}
	uv_timer_start(&c->timer, on_timer, CONFIRM_POLL_MS, 0);
}

static void read_agent(struct ecall *c)
{
	if (zdu_etcd_get(c->l->etcd, c->agent, on_agent, c) < 0)
		finish(c, NULL, "out of memory");
}

static void on_written(const struct zdu_etcd_result *res, void *data)
{
	struct ecall *c = data;
	char msg[768];

	if (res->err != ZDU_OK) {
		snprintf(msg, sizeof(msg), "flag not changed: %s", res->msg);
		finish(c, NULL, msg);
		return;
	}
	/* A delete of a key that was not there makes no event: the agent
	 * only has to show it absent. */
	c->revision = c->op == ZDU_LINK_CLEAR_FLAG && res->deleted == 0 ? 0 : res->revision;
	c->deadline = uv_now(c->l->loop) + (uint64_t)c->l->plan->etcd_flag_timeout_ms;
	read_agent(c);
}

static int etcd_call(struct zdu_link *l, enum zdu_link_op op, const char *service, enum zdu_flag_mode mode,
		     const char *reason, zdu_link_cb cb, void *data)
{
	struct ecall *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return -1;
	c->l = l;
	c->op = op;
	c->cb = cb;
	c->data = data;
	if (service) {
		snprintf(c->key, sizeof(c->key), ZDU_ETCD_KEY_SERVICE, l->plan->etcd_prefix, l->target, service);
		snprintf(c->service, sizeof(c->service), "%s", service);
	} else {
		snprintf(c->key, sizeof(c->key), ZDU_ETCD_KEY_NODE, l->plan->etcd_prefix, l->target);
	}
	snprintf(c->agent, sizeof(c->agent), ZDU_ETCD_KEY_AGENT, l->plan->etcd_prefix, l->target);
	uv_timer_init(l->loop, &c->timer);
	c->timer.data = c;
	if (op == ZDU_LINK_SET_FLAG) {
		struct zdu_flag f = { .mode = mode };
		char text[ZDU_FLAG_MAX_BYTES];
		size_t len;

		zdu_text_sanitize(f.reason, sizeof(f.reason), reason ? reason : "", reason ? strlen(reason) : 0);
		zdu_flag_stamp(&f);
		len = zdu_flag_format(&f, text, sizeof(text));
		rc = len ? zdu_etcd_put(l->etcd, c->key, text, len, 0, on_written, c) : -1;
	} else if (op == ZDU_LINK_CLEAR_FLAG) {
		rc = zdu_etcd_delete(l->etcd, c->key, on_written, c);
	} else {
		rc = zdu_etcd_get(l->etcd, c->agent, on_agent, c);
	}
	if (rc < 0) {
		/* Nothing started: no callback, freed through the timer. */
		uv_close((uv_handle_t *)&c->timer, ecall_closed);
		return -1;
	}
	return 0;
}

const struct zdu_link_ops zdu_link_etcd_ops = { "etcd", etcd_call, NULL };
