#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "zdu/common.h"
#include "zdu/coord_etcd.h"
#include "zdu/etcd_lease.h"
#include "zdu/etcd_keys.h"
#include "zdu/flag_etcd.h"

struct zdu_coord_etcd {
	uv_loop_t *loop;
	const struct zdu_plan *plan;
	struct zdu_http *http;
	struct zdu_etcd *etcd;
	char lock_key[512];
	char journal_key[512];
	struct zdu_lease *lease;
	int granted; /* the grant answered */
	char grant_err[512];
	int lost;
	/* journal writes: one in flight, the newest text waiting */
	int storing;
	char *pending;
	size_t pending_len;
	int npending; /* stores the pending text answers for */
	int ninflight;
	zdu_coord_etcd_stored_cb stored;
	zdu_coord_etcd_lost_cb lost_cb;
	void *data;
	/* a synchronous call's answer */
	int done;
	struct zdu_etcd_result res;
	struct zdu_etcd_kv kv;
};

static void on_sync(const struct zdu_etcd_result *res, void *data)
{
	struct zdu_coord_etcd *ce = data;

	ce->done = 1;
	ce->res = *res;
	ce->res.kvs = NULL;
	ce->res.nkvs = 0;
	memset(&ce->kv, 0, sizeof(ce->kv));
	if (res->nkvs) {
		ce->kv = res->kvs[0];
		ce->kv.key = strdup(res->kvs[0].key);
		ce->kv.value = malloc(res->kvs[0].len + 1);
		if (ce->kv.value) {
			memcpy(ce->kv.value, res->kvs[0].value, res->kvs[0].len);
			ce->kv.value[res->kvs[0].len] = '\0';
		}
		ce->res.nkvs = ce->kv.key && ce->kv.value ? 1 : 0;
	}
}

static void sync_clear(struct zdu_coord_etcd *ce)
{
	free(ce->kv.key);
	free(ce->kv.value);
	memset(&ce->kv, 0, sizeof(ce->kv));
	ce->done = 0;
}

/* Runs the loop until the call answered: the coordinator does nothing
 * else before (or after) its rollout. */
static int sync_wait(struct zdu_coord_etcd *ce, int started)
{
	if (started < 0) {
		ce->res.err = ZDU_ERR_NOMEM;
		snprintf(ce->res.msg, sizeof(ce->res.msg), "out of memory");
		return -1;
	}
	while (!ce->done && uv_run(ce->loop, UV_RUN_ONCE))
		;
	return ce->done && ce->res.err == ZDU_OK ? 0 : -1;
}

static void lose(struct zdu_coord_etcd *ce, const char *why)
{
	if (ce->lost)
		return;
	ce->lost = 1;
	/* Nothing to keep alive any more, nor to revoke at the end. */
	zdu_lease_forget(ce->lease);
	if (ce->lost_cb)
		ce->lost_cb(why, ce->data);
}

static void on_lease(enum zdu_lease_event ev, const char *msg, void *data)
{
	struct zdu_coord_etcd *ce = data;
	char why[600];

	switch (ev) {
	case ZDU_LEASE_GRANTED:
	case ZDU_LEASE_GRANT_FAILED:
		ce->granted = 1;
		snprintf(ce->grant_err, sizeof(ce->grant_err), "%s", msg);
		break;
	case ZDU_LEASE_KEEPALIVE_FAILED:
		break; /* etcd away for a moment: the lease lasts its TTL; the next try may reach it */
	case ZDU_LEASE_LOST:
		snprintf(why, sizeof(why),
			 "the etcd lock %s is lost: its lease ran out (etcd was out of reach for over %d s)",
			 ce->lock_key, ce->plan->etcd_lock_ttl_s);
		lose(ce, why);
		break;
	}
}

struct zdu_coord_etcd *zdu_coord_etcd_new(uv_loop_t *loop, const struct zdu_plan *plan,
					  zdu_coord_etcd_stored_cb stored, zdu_coord_etcd_lost_cb lost, void *data,
					  char *err, size_t err_size)
{
	struct zdu_coord_etcd *ce = calloc(1, sizeof(*ce));
	struct zdu_etcd_conf ec = { .endpoints = plan->etcd_endpoints.v,
				    .nendpoints = plan->etcd_endpoints.n,
				    .ca_file = plan->etcd_ca_file,
				    .cert_file = plan->etcd_cert_file,
				    .key_file = plan->etcd_key_file,
				    .user = plan->etcd_user,
				    .password = plan->etcd_password,
				    .timeout_ms = plan->etcd_timeout_ms };

	if (!ce) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	ce->loop = loop;
	ce->plan = plan;
	ce->stored = stored;
	ce->lost_cb = lost;
	ce->data = data;
	snprintf(ce->lock_key, sizeof(ce->lock_key), ZDU_ETCD_KEY_LOCK, plan->etcd_prefix);
	snprintf(ce->journal_key, sizeof(ce->journal_key), ZDU_ETCD_KEY_JOURNAL, plan->etcd_prefix);
	ce->http = zdu_http_new(loop);
	if (!ce->http) {
		snprintf(err, err_size, "etcd: cannot initialize libcurl");
		free(ce);
		return NULL;
	}
	ce->etcd = zdu_etcd_new(loop, ce->http, &ec, err, err_size);
	if (ce->etcd)
		ce->lease = zdu_lease_new(loop, ce->etcd, plan->etcd_lock_ttl_s, on_lease, ce);
	if (!ce->lease) {
		if (ce->etcd)
			snprintf(err, err_size, "out of memory");
		zdu_etcd_free(ce->etcd);
		zdu_http_close(ce->http);
		free(ce);
		return NULL;
	}
	return ce;
}

struct zdu_etcd *zdu_coord_etcd_client(struct zdu_coord_etcd *ce)
{
	return ce->etcd;
}

const char *zdu_coord_etcd_journal_key(const struct zdu_coord_etcd *ce)
{
	return ce->journal_key;
}

/* Runs the loop until the lease is granted, or why not in err. */
static int lease_wait(struct zdu_coord_etcd *ce)
{
	ce->granted = 0;
	if (zdu_lease_grant(ce->lease) < 0) {
		snprintf(ce->grant_err, sizeof(ce->grant_err), "out of memory");
		return -1;
	}
	while (!ce->granted && uv_run(ce->loop, UV_RUN_ONCE))
		;
	return zdu_lease_id(ce->lease) ? 0 : -1;
}

int zdu_coord_etcd_lock(struct zdu_coord_etcd *ce, const char *plan_path, char *err, size_t err_size)
{
	char host[128] = "?", when[32], *owner = NULL;
	time_t now = time(NULL);
	struct tm tm;
	json_t *o;
	int rc;

	if (lease_wait(ce) < 0) {
		snprintf(err, err_size, "etcd lock %s: lease: %s", ce->lock_key, ce->grant_err);
		return -1;
	}
	gethostname(host, sizeof(host) - 1);
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	o = json_pack("{s:s,s:i,s:s,s:s}", "host", host, "pid", (int)getpid(), "since", when, "plan", plan_path);
	owner = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!owner) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	sync_clear(ce);
	rc = sync_wait(ce, zdu_etcd_create(ce->etcd, ce->lock_key, owner, strlen(owner), zdu_lease_id(ce->lease),
					   on_sync, ce));
	free(owner);
	if (rc < 0) {
		snprintf(err, err_size, "etcd lock %s: %s", ce->lock_key, ce->res.msg);
		return -1;
	}
	if (!ce->res.succeeded) {
		json_t *h = ce->res.nkvs ? json_loadb(ce->kv.value, ce->kv.len, 0, NULL) : NULL;

		snprintf(err, err_size,
			 "etcd lock %s: another zdu-coordinator holds it (pid %lld on %s since %s, plan %s); it "
			 "ends when that coordinator stops, or %d s after it died",
			 ce->lock_key, (long long)json_integer_value(json_object_get(h, "pid")),
			 json_string_value(json_object_get(h, "host")) ? json_string_value(json_object_get(h, "host")) : "?",
			 json_string_value(json_object_get(h, "since")) ? json_string_value(json_object_get(h, "since")) : "?",
			 json_string_value(json_object_get(h, "plan")) ? json_string_value(json_object_get(h, "plan")) : "?",
			 ce->plan->etcd_lock_ttl_s);
		json_decref(h);
		/* Our lease holds nothing: let it go now. */
		sync_clear(ce);
		sync_wait(ce, zdu_lease_revoke(ce->lease, on_sync, ce));
		return -2;
	}
	return 0;
}

int zdu_coord_etcd_journal_read(struct zdu_coord_etcd *ce, char **text, size_t *len, char *err, size_t err_size)
{
	*text = NULL;
	*len = 0;
	sync_clear(ce);
	if (sync_wait(ce, zdu_etcd_get(ce->etcd, ce->journal_key, on_sync, ce)) < 0) {
		snprintf(err, err_size, "journal etcd %s: %s", ce->journal_key, ce->res.msg);
		return -1;
	}
	if (ce->res.nkvs) {
		*text = ce->kv.value;
		*len = ce->kv.len;
		ce->kv.value = NULL;
	}
	return 0;
}

static void store_next(struct zdu_coord_etcd *ce);

static void on_stored(const struct zdu_etcd_result *res, void *data)
{
	struct zdu_coord_etcd *ce = data;
	char why[768];
	const char *err = NULL;
	int n = ce->ninflight;

	ce->storing = 0;
	ce->ninflight = 0;
	if (res->err != ZDU_OK) {
		snprintf(why, sizeof(why), "journal not stored in etcd %s: %s", ce->journal_key, res->msg);
		err = why;
	} else if (!res->succeeded) {
		snprintf(why, sizeof(why),
			 "journal not stored in etcd %s: this coordinator no longer holds the lock %s",
			 ce->journal_key, ce->lock_key);
		err = why;
		lose(ce, why);
	}
	if (ce->pending)
		store_next(ce);
	while (n-- > 0)
		if (ce->stored)
			ce->stored(err, ce->data);
}

static void store_next(struct zdu_coord_etcd *ce)
{
	char *text = ce->pending;
	size_t len = ce->pending_len;
	int n = ce->npending;

	ce->pending = NULL;
	ce->npending = 0;
	if (zdu_etcd_put_guarded(ce->etcd, ce->journal_key, text, len, ce->lock_key, zdu_lease_id(ce->lease),
				 on_stored, ce) < 0) {
		free(text);
		while (n-- > 0)
			if (ce->stored)
				ce->stored("journal not stored in etcd: out of memory", ce->data);
		return;
	}
	free(text);
	ce->storing = 1;
	ce->ninflight = n;
}

int zdu_coord_etcd_journal_store(struct zdu_coord_etcd *ce, const char *text, size_t len)
{
	char *copy = malloc(len + 1);

	if (!copy)
		return -1;
	memcpy(copy, text, len);
	copy[len] = '\0';
	free(ce->pending);
	ce->pending = copy;
	ce->pending_len = len;
	ce->npending++;
	if (!ce->storing)
		store_next(ce);
	return 0;
}

int zdu_coord_etcd_busy(const struct zdu_coord_etcd *ce)
{
	return ce->storing || ce->pending;
}

void zdu_coord_etcd_free(struct zdu_coord_etcd *ce)
{
	if (!ce)
		return;
	/* Stores still in flight end first: the journal must not lose its
	 * last entry because we exit. */
	while ((ce->storing || ce->pending) && uv_run(ce->loop, UV_RUN_ONCE))
		;
	if (zdu_lease_id(ce->lease)) {
		ce->stored = NULL;
		sync_clear(ce);
		sync_wait(ce, zdu_lease_revoke(ce->lease, on_sync, ce));
	}
	sync_clear(ce);
	zdu_lease_close(ce->lease);
	zdu_etcd_free(ce->etcd);
	zdu_http_close(ce->http);
	uv_run(ce->loop, UV_RUN_DEFAULT);
	free(ce->pending);
	free(ce);
}
