#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "zdu/common.h"
#include "zdu/etcd_keys.h"
#include "zdu/flag_etcd.h"
#include "zdu/guard.h"
#include "zdu/log.h"

#define CLAIM_MAX_NODES 256           /* names kept in the claim key */
#define CLAIM_MAX_BYTES (64u * 1024)  /* a larger claim value is not read */
#define CLAIM_TRIES 3                 /* claims lost in a row before giving up for now */

/* ---- what a peer's published state says ---- */

const char *zdu_guard_peer_state_name(enum zdu_peer_state s)
{
	switch (s) {
	case ZDU_PEER_UP: return "up";
	case ZDU_PEER_DOWN: return "down";
	case ZDU_PEER_OUT: return "out";
	case ZDU_PEER_STARTING: return "starting";
	case ZDU_PEER_GOING_DOWN: return "going down";
	case ZDU_PEER_UNREADABLE: return "unreadable";
	}
	return "?";
}

const char *zdu_guard_outcome_name(enum zdu_guard_outcome o)
{
	switch (o) {
	case ZDU_GUARD_DOWN: return "down";
	case ZDU_GUARD_KEEP: return "keep";
	case ZDU_GUARD_UNKNOWN: return "unknown";
	case ZDU_GUARD_RETRY: return "retry";
	}
	return "?";
}

static void why(struct zdu_guard_peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void why(struct zdu_guard_peer *p, const char *fmt, ...)
{
	char tmp[ZDU_REASON_MAX * 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	/* Whatever bytes a peer published: one printable line. */
	zdu_text_sanitize(p->why, sizeof(p->why), tmp, strlen(tmp));
}

/* The reply line the peer gives HAProxy: "[op] [admin] [N%] [#reasons]".
 * The reply, not the health, because it is what HAProxy acts on: a failing
 * node in on_failure drain replies "up drain", which serves nobody. */
static void reply_state(const char *reply, struct zdu_guard_peer *p)
{
	const char *hash = strchr(reply, '#');
	const char *reason = hash ? hash + 1 : "";
	size_t hlen = hash ? (size_t)(hash - reply) : strlen(reply);
	char head[64], *tok, *save = NULL;
	const char *op = NULL, *admin = NULL;
	long weight = -1;

	if (hlen >= sizeof(head)) {
		why(p, "reply \"%.60s\" not understood", reply);
		return;
	}
	memcpy(head, reply, hlen);
	head[hlen] = '\0';
	for (tok = strtok_r(head, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		size_t n = strlen(tok);
		char *end;

		if (!op && (strcmp(tok, "up") == 0 || strcmp(tok, "down") == 0)) {
			op = strcmp(tok, "up") == 0 ? "up" : "down";
		} else if (!admin && (strcmp(tok, "ready") == 0 || strcmp(tok, "drain") == 0 ||
				      strcmp(tok, "maint") == 0)) {
			admin = tok[0] == 'r' ? "ready" : tok[0] == 'd' ? "drain" : "maint";
		} else if (weight < 0 && n >= 2 && n <= 4 && tok[n - 1] == '%' && tok[0] >= '0' && tok[0] <= '9') {
			weight = strtol(tok, &end, 10);
			if (end != tok + n - 1)
				goto bad;
		} else {
			goto bad;
		}
	}
	if (!op && !admin && weight < 0)
		goto bad;
	if (!op) {
		p->state = ZDU_PEER_STARTING;
		why(p, "no verdict yet: %s", reason);
	} else if (op[0] == 'd') {
		p->state = ZDU_PEER_DOWN;
		why(p, "%s", *reason ? reason : "down");
	} else if (admin && admin[0] != 'r') {
		p->state = ZDU_PEER_OUT;
		why(p, "%s: %s", admin, reason);
	} else if (weight == 0) {
		p->state = ZDU_PEER_OUT;
		why(p, "weight 0%%: %s", reason);
	} else {
		p->state = ZDU_PEER_UP;
		why(p, "%s", reason);
	}
	return;
bad:
	p->state = ZDU_PEER_UNREADABLE;
	why(p, "reply \"%.80s\" not understood", reply);
}

int zdu_guard_peer_parse(const char *node, const char *value, size_t len, const char *service,
			 struct zdu_guard_peer *p)
{
	json_error_t jerr;
	json_t *o, *svc, *reply;

	memset(p, 0, sizeof(*p));
	zdu_text_sanitize(p->node, sizeof(p->node), node, strlen(node));
	p->state = ZDU_PEER_UNREADABLE;
	if (len == 0) {
		why(p, "empty value");
		return 0;
	}
	o = json_loadb(value, len, JSON_DECODE_ANY, &jerr);
	if (!o) {
		why(p, "not JSON: %s", jerr.text);
		return 0;
	}
	if (!json_is_object(o)) {
		why(p, "not a JSON object");
		json_decref(o);
		return 0;
	}
	/* An agent of several services publishes each under "services": its
	 * entry for ours is the peer; none means it does not serve ours. */
	if (json_is_array(json_object_get(o, "services"))) {
		json_t *e, *found = NULL;
		size_t i;

		json_array_foreach(json_object_get(o, "services"), i, e)
			if (json_is_string(json_object_get(e, "name")) &&
			    strcmp(json_string_value(json_object_get(e, "name")), service) == 0)
				found = e;
		if (!found) {
			why(p, "does not serve %.60s", service);
			json_decref(o);
			return 1;
		}
		json_incref(found);
		json_decref(o);
		o = found;
		svc = NULL;
	} else {
		svc = json_object_get(o, "service");
	}
	if (svc && !json_is_string(svc)) {
		why(p, "\"service\" is not a string");
	} else if (svc && strcmp(json_string_value(svc), service) != 0) {
		why(p, "another service: %.60s", json_string_value(svc));
		json_decref(o);
		return 1;
	} else if (!json_is_string(reply = json_object_get(o, "reply"))) {
		why(p, "no \"reply\" string");
	} else if (strlen(json_string_value(reply)) != json_string_length(reply)) {
		why(p, "a NUL byte in \"reply\"");
	} else {
		reply_state(json_string_value(reply), p);
	}
	json_decref(o);
	return 0;
}

/* ---- one read of the peers ---- */

static void claimed_free(struct zdu_guard_view *v)
{
	size_t i;

	for (i = 0; i < v->nclaimed; i++)
		free(v->claimed[i]);
	free(v->claimed);
	v->claimed = NULL;
	v->nclaimed = 0;
}

void zdu_guard_view_free(struct zdu_guard_view *v)
{
	claimed_free(v);
	free(v->peers);
	v->peers = NULL;
	v->npeers = 0;
}

/* {"down":["api1","api2"]}: who went down lately. Unreadable: ignored (the
 * claim's revision still serializes the writers), and said. */
static int claim_parse(const struct zdu_etcd_kv *kv, struct zdu_guard_view *v)
{
	json_error_t jerr;
	json_t *o, *down;
	size_t i, n;

	/* An answer holding the key twice (never etcd's): the last one counts. */
	claimed_free(v);
	v->claim_error[0] = '\0';
	v->claim_mod_revision = kv->mod_revision;
	if (kv->len > CLAIM_MAX_BYTES) {
		snprintf(v->claim_error, sizeof(v->claim_error), "over %u bytes", CLAIM_MAX_BYTES);
		return 0;
	}
	o = json_loadb(kv->value, kv->len, 0, &jerr);
	down = json_object_get(o, "down");
	if (!json_is_array(down)) {
		char tmp[sizeof(v->claim_error)];

		snprintf(tmp, sizeof(tmp), "%s", !o ? jerr.text : "no \"down\" list");
		zdu_text_sanitize(v->claim_error, sizeof(v->claim_error), tmp, strlen(tmp));
		json_decref(o);
		return 0;
	}
	n = json_array_size(down);
	if (n > CLAIM_MAX_NODES)
		n = CLAIM_MAX_NODES;
	v->claimed = calloc(n ? n : 1, sizeof(char *));
	if (!v->claimed) {
		json_decref(o);
		return -1;
	}
	for (i = 0; i < n; i++) {
		json_t *s = json_array_get(down, i);
		char name[64];

		if (!json_is_string(s))
			continue;
		zdu_text_sanitize(name, sizeof(name), json_string_value(s), json_string_length(s));
		if (!(v->claimed[v->nclaimed] = strdup(name))) {
			json_decref(o);
			return -1;
		}
		v->nclaimed++;
	}
	json_decref(o);
	return 0;
}

static int is_claimed(const struct zdu_guard_view *v, const char *node)
{
	size_t i;

	for (i = 0; i < v->nclaimed; i++)
		if (strcmp(v->claimed[i], node) == 0)
			return 1;
	return 0;
}

int zdu_guard_view_parse(const struct zdu_etcd_result *res, const char *prefix, const char *self,
			 const char *service, struct zdu_guard_view *v)
{
	char agents[512], claim[512], me[64];
	size_t alen, i;

	memset(v, 0, sizeof(*v));
	snprintf(agents, sizeof(agents), ZDU_ETCD_KEY_AGENT, prefix, "");
	snprintf(claim, sizeof(claim), ZDU_ETCD_KEY_GUARD, prefix, service);
	zdu_text_sanitize(me, sizeof(me), self, strlen(self));
	alen = strlen(agents);
	v->more = res->more;
	v->peers = calloc(res->nkvs ? res->nkvs : 1, sizeof(*v->peers));
	if (!v->peers)
		return -1;
	for (i = 0; i < res->nkvs; i++) {
		const struct zdu_etcd_kv *kv = &res->kvs[i];
		const char *node;

		if (strcmp(kv->key, claim) == 0) {
			if (claim_parse(kv, v) < 0) {
				zdu_guard_view_free(v);
				return -1;
			}
			continue;
		}
		if (strncmp(kv->key, agents, alen) != 0)
			continue;
		node = kv->key + alen;
		/* Not an agent's key (PREFIX/agents/ itself, or deeper). */
		if (!*node || strchr(node, '/'))
			continue;
		if (strcmp(node, self) == 0) {
			v->self_seen = 1;
			continue;
		}
		if (zdu_guard_peer_parse(node, kv->value, kv->len, service, &v->peers[v->npeers]) == 1) {
			v->other_services++;
			continue;
		}
		v->npeers++;
	}
	/* A node that claimed its way down moments ago is gone, whatever its
	 * own state still says (its write may be on the way). */
	for (i = 0; i < v->npeers; i++) {
		struct zdu_guard_peer *p = &v->peers[i];

		if (p->state != ZDU_PEER_DOWN && strcmp(p->node, me) != 0 && is_claimed(v, p->node)) {
			p->state = ZDU_PEER_GOING_DOWN;
			snprintf(p->why, sizeof(p->why), "went down moments ago (listed in %.120s)", claim);
		}
	}
	return 0;
}

void zdu_guard_decide(const struct zdu_guard_peer *peers, size_t npeers, unsigned min_up_percent,
		      struct zdu_guard_verdict *v)
{
	uint64_t nodes = (uint64_t)npeers + 1, up = 0;
	size_t i;

	for (i = 0; i < npeers; i++)
		if (peers[i].state == ZDU_PEER_UP)
			up++;
	memset(v, 0, sizeof(*v));
	v->nodes = (unsigned)nodes;
	v->up = (unsigned)up;
	v->down = (unsigned)(nodes - 1 - up);
	v->min_up_percent = min_up_percent > 100 ? 100 : min_up_percent;
	/* Going down leaves the up peers: at least min_up_percent of all. */
	if (up * 100 < (uint64_t)v->min_up_percent * nodes) {
		v->outcome = ZDU_GUARD_KEEP;
		snprintf(v->reason, sizeof(v->reason), "kept up: %u of %u nodes already down", v->down, v->nodes);
	} else {
		v->outcome = ZDU_GUARD_DOWN;
		snprintf(v->reason, sizeof(v->reason), "%u of %u nodes stay up", v->up, v->nodes);
	}
}

char *zdu_guard_claim_value(const struct zdu_guard_view *v, const char *self)
{
	json_t *down = json_array(), *o;
	char me[64], *text;
	size_t i, skip;

	if (!down)
		return NULL;
	zdu_text_sanitize(me, sizeof(me), self, strlen(self));
	/* The newest last; the oldest go first when the list is full. */
	skip = v->nclaimed >= CLAIM_MAX_NODES ? v->nclaimed - CLAIM_MAX_NODES + 1 : 0;
	for (i = skip; i < v->nclaimed; i++)
		if (strcmp(v->claimed[i], me) != 0)
			json_array_append_new(down, json_string(v->claimed[i]));
	json_array_append_new(down, json_string(me));
	o = json_pack("{s:o}", "down", down);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return text;
}

/* ---- a check on the loop ---- */

struct zdu_guard {
	struct zdu_etcd *etcd;
	char *prefix, *node, *service;
	char agents[512], claim_key[512];
	unsigned min_up;
	int claim_ttl_s;
	int busy;  /* a check in flight */
	int tries; /* claims lost in this check */
	zdu_guard_cb cb;
	void *data;
	char *claim_text;
	int64_t claim_rev;
	struct zdu_guard_verdict pending; /* going down, once claimed */
	/* the last check, for the status */
	uint64_t checks, claims, claims_lost;
	int64_t last_unix_ms;
	int have_last;
	struct zdu_guard_verdict last;
	json_t *peers;
	unsigned other_services;
	int self_seen, more;
	char claim_error[160];
	char error[512];
};

static int64_t wall_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void deliver(struct zdu_guard *g, const struct zdu_guard_verdict *v)
{
	zdu_guard_cb cb = g->cb;
	void *data = g->data;

	g->busy = 0;
	g->checks++;
	g->last_unix_ms = wall_ms();
	g->last = *v;
	g->have_last = 1;
	if (v->outcome != ZDU_GUARD_UNKNOWN)
		g->error[0] = '\0';
	g->cb = NULL;
	g->data = NULL;
	if (cb)
		cb(v, data);
}

/* etcd could not tell: kept up (fail towards availability; see README).
 * The reply says it short ("etcd unreachable"); the status and the log
 * say what failed where. */
static void unknown(struct zdu_guard *g, const char *what, enum zdu_err err, const char *msg)
{
	struct zdu_guard_verdict v;
	char e[sizeof(g->error)];

	memset(&v, 0, sizeof(v));
	v.outcome = ZDU_GUARD_UNKNOWN;
	v.min_up_percent = g->min_up;
	snprintf(e, sizeof(e), "%s: %s", what, msg);
	if (strcmp(e, g->error) != 0)
		zdu_log_warn("guard: cannot count the peers in etcd (%s): a node slow too long stays up", e);
	memcpy(g->error, e, sizeof(e));
	snprintf(v.reason, sizeof(v.reason), "kept up: peers unknown (%s)",
		 err == ZDU_ERR_IO	      ? "etcd unreachable"
		 : err == ZDU_ERR_RANGE ? "too many agents"
		 : err == ZDU_ERR_NOMEM ? "out of memory"
				       : "etcd error");
	json_decref(g->peers);
	g->peers = NULL;
	deliver(g, &v);
}

static json_t *peers_json(const struct zdu_guard_view *v)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < v->npeers; i++)
		json_array_append_new(a, json_pack("{s:s,s:s,s:b,s:s}", "node", v->peers[i].node, "state",
						   zdu_guard_peer_state_name(v->peers[i].state), "up",
						   v->peers[i].state == ZDU_PEER_UP, "why", v->peers[i].why));
	return a;
}

static int start_read(struct zdu_guard *g);

static void on_claim(const struct zdu_etcd_result *res, void *data)
{
	struct zdu_guard *g = data;

	free(g->claim_text);
	g->claim_text = NULL;
	if (res->err != ZDU_OK) {
		unknown(g, "claim", res->err, res->msg);
		return;
	}
	if (!res->succeeded) {
		/* Someone claimed since our read: read again, they may be gone. */
		g->claims_lost++;
		if (++g->tries < CLAIM_TRIES) {
			if (start_read(g) < 0)
				unknown(g, "read", ZDU_ERR_NOMEM, "out of memory");
			return;
		} else {
			struct zdu_guard_verdict v = g->pending;

			v.outcome = ZDU_GUARD_RETRY;
			snprintf(v.reason, sizeof(v.reason), "others claimed %d times in a row: nothing decided",
				 CLAIM_TRIES);
			deliver(g, &v);
		}
		return;
	}
	g->claims++;
	deliver(g, &g->pending);
}

static void on_grant(const struct zdu_etcd_result *res, void *data)
{
	struct zdu_guard *g = data;

	if (res->err != ZDU_OK || !res->lease_id) {
		free(g->claim_text);
		g->claim_text = NULL;
		unknown(g, "claim: lease grant", res->err != ZDU_OK ? res->err : ZDU_ERR_PROTO,
			res->err != ZDU_OK ? res->msg : "no lease ID in the answer");
		return;
	}
	if (zdu_etcd_put_if_unchanged(g->etcd, g->claim_key, g->claim_text, strlen(g->claim_text), g->claim_rev,
				      res->lease_id, on_claim, g) < 0) {
		free(g->claim_text);
		g->claim_text = NULL;
		unknown(g, "claim", ZDU_ERR_NOMEM, "out of memory");
	}
}

static void on_read(const struct zdu_etcd_result *res, void *data)
{
	struct zdu_guard *g = data;
	struct zdu_guard_view view;
	struct zdu_guard_verdict v;

	if (res->err != ZDU_OK) {
		unknown(g, "read", res->err, res->msg);
		return;
	}
	if (zdu_guard_view_parse(res, g->prefix, g->node, g->service, &view) < 0) {
		unknown(g, "read", ZDU_ERR_NOMEM, "out of memory");
		return;
	}
	json_decref(g->peers);
	g->peers = peers_json(&view);
	g->other_services = view.other_services;
	g->self_seen = view.self_seen;
	g->more = view.more;
	memcpy(g->claim_error, view.claim_error, sizeof(g->claim_error));
	if (view.more) {
		char m[96];

		/* The unread ones might be up or down: the count is not known. */
		snprintf(m, sizeof(m), "over %d agents under %s", ZDU_GUARD_MAX_PEERS, g->agents);
		zdu_guard_view_free(&view);
		unknown(g, "read", ZDU_ERR_RANGE, m);
		return;
	}
	zdu_guard_decide(view.peers, view.npeers, g->min_up, &v);
	if (v.outcome == ZDU_GUARD_KEEP) {
		zdu_guard_view_free(&view);
		deliver(g, &v);
		return;
	}
	/* Down is allowed: claim it before saying so. */
	g->pending = v;
	g->claim_rev = view.claim_mod_revision;
	g->claim_text = zdu_guard_claim_value(&view, g->node);
	zdu_guard_view_free(&view);
	if (!g->claim_text || zdu_etcd_lease_grant(g->etcd, g->claim_ttl_s, on_grant, g) < 0) {
		free(g->claim_text);
		g->claim_text = NULL;
		unknown(g, "claim", ZDU_ERR_NOMEM, "out of memory");
	}
}

static int start_read(struct zdu_guard *g)
{
	struct zdu_etcd_range r[2] = {
		{ .key = g->agents, .prefix = 1, .limit = ZDU_GUARD_MAX_PEERS },
		{ .key = g->claim_key, .prefix = 0, .limit = 0 },
	};

	if (zdu_etcd_read(g->etcd, r, 2, on_read, g) < 0)
		return -1;
	g->busy = 1;
	return 0;
}

int zdu_guard_check(struct zdu_guard *g, zdu_guard_cb cb, void *data)
{
	g->cb = cb;
	g->data = data;
	if (g->busy)
		return 0;
	g->tries = 0;
	if (start_read(g) < 0) {
		g->cb = NULL;
		g->data = NULL;
		return -1;
	}
	return 0;
}

void zdu_guard_forget(struct zdu_guard *g, void *data)
{
	if (g->data == data) {
		g->cb = NULL;
		g->data = NULL;
	}
}

struct zdu_guard *zdu_guard_new(struct zdu_etcd *etcd, const char *prefix, const char *node,
				const char *service, unsigned min_up_percent, int claim_ttl_s)
{
	struct zdu_guard *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->etcd = etcd;
	g->prefix = strdup(prefix);
	g->node = strdup(node);
	g->service = strdup(service);
	if (!g->prefix || !g->node || !g->service) {
		zdu_guard_close(g);
		return NULL;
	}
	snprintf(g->agents, sizeof(g->agents), ZDU_ETCD_KEY_AGENT, prefix, "");
	snprintf(g->claim_key, sizeof(g->claim_key), ZDU_ETCD_KEY_GUARD, prefix, service);
	g->min_up = min_up_percent;
	g->claim_ttl_s = claim_ttl_s;
	return g;
}

void zdu_guard_set_min_up(struct zdu_guard *g, unsigned min_up_percent)
{
	g->min_up = min_up_percent;
}

json_t *zdu_guard_status_json(const struct zdu_guard *g)
{
	char when[40];
	json_t *o = json_pack("{s:i,s:s,s:s,s:s,s:b,s:I,s:I,s:I,s:i,s:b,s:b}", "min_up_percent", (int)g->min_up,
			      "service", g->service, "peers_prefix", g->agents, "claim_key", g->claim_key,
			      "checking", g->busy, "checks", (json_int_t)g->checks, "claims",
			      (json_int_t)g->claims, "claims_lost", (json_int_t)g->claims_lost,
			      "other_services", (int)g->other_services, "self_seen", g->self_seen,
			      "truncated", g->more);

	if (!o)
		return NULL;
	if (g->have_last) {
		json_object_set_new(o, "last_check", json_string(zdu_utc_ms(g->last_unix_ms, when, sizeof(when))));
		json_object_set_new(o, "last_check_unix_ms", json_integer((json_int_t)g->last_unix_ms));
		json_object_set_new(o, "last", json_pack("{s:s,s:i,s:i,s:i,s:s}", "outcome",
							 zdu_guard_outcome_name(g->last.outcome), "nodes",
							 (int)g->last.nodes, "up", (int)g->last.up, "down",
							 (int)g->last.down, "reason", g->last.reason));
	} else {
		json_object_set_new(o, "last_check", json_null());
		json_object_set_new(o, "last", json_null());
	}
	json_object_set_new(o, "peers", g->peers ? json_incref(g->peers) : json_array());
	json_object_set_new(o, "claim_error", g->claim_error[0] ? json_string(g->claim_error) : json_null());
	json_object_set_new(o, "error", g->error[0] ? json_string(g->error) : json_null());
	return o;
}

void zdu_guard_close(struct zdu_guard *g)
{
	if (!g)
		return;
	free(g->prefix);
	free(g->node);
	free(g->service);
	free(g->claim_text);
	json_decref(g->peers);
	free(g);
}
