#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/common.h"
#include "zdu/etcd.h"

/* The gateway's watch lines carry base64 values (4/3 larger) and JSON
 * around them: room for the largest value the client accepts. */
#define LINE_MAX_BYTES (ZDU_ETCD_MAX_VALUE / 3 * 4 + 65536)
#define BODY_MAX_BYTES (4u * 1024 * 1024)

struct zdu_etcd {
	uv_loop_t *loop;
	struct zdu_http *http;
	struct zdu_etcd_conf conf;
	size_t cur;  /* endpoint requests go to */
	char *auth;  /* "Authorization: TOKEN", once authenticated */
	struct zdu_list reqs;
	struct zdu_list watches;
	/* Inside curl's write callback no transfer may be freed: a watch
	 * cancelled then is freed by this timer, from the loop. */
	int in_chunk;
	uv_timer_t reaper;
};

enum req_kind { R_CALL, R_AUTH };

struct ereq {
	struct zdu_etcd *e;
	struct zdu_list link;
	enum req_kind kind;
	const char *path; /* "/v3/kv/range" */
	char *body;
	size_t len;
	size_t ep;        /* endpoint of the attempt in flight */
	size_t tries;     /* endpoints that failed this request */
	int auth_retried; /* a rejected token was renewed once already */
	int pinned;       /* to ep only: a check of a watch's endpoint */
	struct zdu_http_req *hr;
	zdu_etcd_cb cb;
	void *data;
	/* R_AUTH: what to start once a token is there */
	struct ereq *then_req;
	struct zdu_etcd_watch *then_watch;
	char errs[384]; /* one line per failed endpoint */
};

struct zdu_etcd_watch {
	struct zdu_etcd *e;
	struct zdu_list link;
	char *body;
	size_t body_len;
	size_t ep;
	struct zdu_http_req *hr;
	zdu_etcd_watch_cb cb;
	void *data;
	char *buf;
	size_t len, cap;
	int cancelled; /* the caller is gone: no callback */
	int over;      /* a terminal event was delivered */
	int busy;      /* inside curl's write callback or the last event:
	                * freeing waits for the transfer's end */
};

/* ---- base64 ---- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *zdu_b64_encode(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		*o++ = b64chars[p[i] >> 2];
		*o++ = b64chars[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*o++ = b64chars[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		*o++ = b64chars[p[i + 2] & 63];
	}
	if (i < len) {
		*o++ = b64chars[p[i] >> 2];
		if (i + 1 < len) {
			*o++ = b64chars[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
			*o++ = b64chars[(p[i + 1] & 15) << 2];
		} else {
			*o++ = b64chars[(p[i] & 3) << 4];
			*o++ = '=';
		}
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static int b64val(char c)
{
	const char *p = c ? strchr(b64chars, c) : NULL;

	return p ? (int)(p - b64chars) : -1;
}

long zdu_b64_decode(const char *s, size_t slen, char *out, size_t out_size)
{
	size_t i, n = 0;
	unsigned acc = 0;
	int bits = 0, pad = 0;

	for (i = 0; i < slen; i++) {
		int v;

		if (s[i] == '=') {
			pad++;
			continue;
		}
		if (pad)
			return -1; /* data after padding */
		v = b64val(s[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= out_size)
				return -1;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	if (pad > 2 || (slen % 4) != 0)
		return -1;
	return (long)n;
}

/* ---- answers ---- */

static int64_t json_i64(json_t *v)
{
	if (json_is_integer(v))
		return (int64_t)json_integer_value(v);
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		long long n = strtoll(s, &end, 10);

		return end != s && *end == '\0' ? (int64_t)n : 0;
	}
	return 0;
}

/* A base64 field into a malloc'd NUL-terminated buffer. */
static int b64_field(json_t *v, char **out, size_t *len, size_t max)
{
	const char *s = json_is_string(v) ? json_string_value(v) : "";
	size_t slen = strlen(s);
	long n;

	if (slen / 4 * 3 > max + 3)
		return -1;
	*out = malloc(slen / 4 * 3 + 1);
	if (!*out)
		return -1;
	n = zdu_b64_decode(s, slen, *out, slen / 4 * 3);
	if (n < 0 || (size_t)n > max) {
		free(*out);
		*out = NULL;
		return -1;
	}
	(*out)[n] = '\0';
	*len = (size_t)n;
	return 0;
}

static int kv_parse(json_t *o, struct zdu_etcd_kv *kv, char *err, size_t err_size)
{
	size_t klen;

	memset(kv, 0, sizeof(*kv));
	if (!json_is_object(o)) {
		snprintf(err, err_size, "a kv is not an object");
		return -1;
	}
	if (b64_field(json_object_get(o, "key"), &kv->key, &klen, 65536) < 0) {
		snprintf(err, err_size, "a key is not valid base64");
		return -1;
	}
	if (b64_field(json_object_get(o, "value"), &kv->value, &kv->len, ZDU_ETCD_MAX_VALUE) < 0) {
		snprintf(err, err_size, "the value of %.100s is not valid base64 or is over %u bytes", kv->key,
			 ZDU_ETCD_MAX_VALUE);
		free(kv->key);
		kv->key = NULL;
		return -1;
	}
	kv->create_revision = json_i64(json_object_get(o, "create_revision"));
	kv->mod_revision = json_i64(json_object_get(o, "mod_revision"));
	kv->lease = json_i64(json_object_get(o, "lease"));
	return 0;
}

static void kv_free(struct zdu_etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
}

static int kvs_append(struct zdu_etcd_kv **kvs, size_t *n, json_t *arr, char *err, size_t err_size)
{
	size_t i;

	if (!arr)
		return 0;
	if (!json_is_array(arr)) {
		snprintf(err, err_size, "kvs is not an array");
		return -1;
	}
	for (i = 0; i < json_array_size(arr); i++) {
		struct zdu_etcd_kv *k = realloc(*kvs, (*n + 1) * sizeof(**kvs));

		if (!k) {
			snprintf(err, err_size, "out of memory");
			return -1;
		}
		*kvs = k;
		if (kv_parse(json_array_get(arr, i), &k[*n], err, err_size) < 0)
			return -1;
		(*n)++;
	}
	return 0;
}

void zdu_etcd_result_clear(struct zdu_etcd_result *res)
{
	size_t i;

	for (i = 0; i < res->nkvs; i++)
		kv_free(&res->kvs[i]);
	free(res->kvs);
	res->kvs = NULL;
	res->nkvs = 0;
}

/* An error answer: etcd 3.4's {"error": "...", "message": "...", "code": N},
 * etcd 3.5's {"code": N, "message": "..."} (no "error"; never with a
 * "header" or "result", which every answer that is not an error has), or
 * in a stream {"error": {"grpc_code": N, "message": "..."}}. */
static int answer_error(json_t *o, char *msg, size_t size, int *code)
{
	json_t *er = json_object_get(o, "error");
	json_t *m = json_object_get(o, "message");

	if (!er) {
		if (!json_is_integer(json_object_get(o, "code")) || !json_is_string(m) ||
		    json_object_get(o, "header") || json_object_get(o, "result"))
			return 0;
		*code = (int)json_integer_value(json_object_get(o, "code"));
		snprintf(msg, size, "%s (code %d)", json_string_value(m), *code);
		return 1;
	}
	if (json_is_object(er)) {
		m = json_object_get(er, "message");
		*code = (int)json_i64(json_object_get(er, "grpc_code"));
	} else {
		*code = (int)json_i64(json_object_get(o, "code"));
	}
	snprintf(msg, size, "%s (code %d)",
		 json_is_string(m) ? json_string_value(m) : (json_is_string(er) ? json_string_value(er) : "?"), *code);
	return 1;
}

/* Messages go to the log and the status as one printable line, whatever
 * bytes the peer sent (jansson quotes them; a key may be binary). */
static void msg_clean(char *msg, size_t size)
{
	char tmp[512];

	zdu_text_sanitize(tmp, sizeof(tmp) < size ? sizeof(tmp) : size, msg, strlen(msg));
	memcpy(msg, tmp, strlen(tmp) + 1);
}

static int parse_answer(const char *body, size_t len, struct zdu_etcd_result *res);

int zdu_etcd_parse_answer(const char *body, size_t len, struct zdu_etcd_result *res)
{
	int rc = parse_answer(body, len, res);

	msg_clean(res->msg, sizeof(res->msg));
	return rc;
}

static int parse_answer(const char *body, size_t len, struct zdu_etcd_result *res)
{
	json_error_t jerr;
	json_t *o = json_loadb(body, len, 0, &jerr), *r, *resp;
	int code = 0;
	size_t i;

	if (!json_is_object(o)) {
		snprintf(res->msg, sizeof(res->msg), "not a JSON object: %s", o ? "other JSON" : jerr.text);
		json_decref(o);
		res->err = ZDU_ERR_PROTO;
		return -1;
	}
	if (answer_error(o, res->msg, sizeof(res->msg), &code)) {
		json_decref(o);
		res->err = ZDU_ERR_EXISTS;
		return -1;
	}
	/* Streaming answers (lease keepalive) wrap the message in "result". */
	r = json_object_get(o, "result");
	if (!json_is_object(r))
		r = o;
	res->revision = json_i64(json_object_get(json_object_get(r, "header"), "revision"));
	res->succeeded = json_is_true(json_object_get(r, "succeeded"));
	res->deleted = json_i64(json_object_get(r, "deleted"));
	res->lease_id = json_i64(json_object_get(r, "ID"));
	res->ttl = json_i64(json_object_get(r, "TTL"));
	res->more = json_is_true(json_object_get(r, "more"));
	if (kvs_append(&res->kvs, &res->nkvs, json_object_get(r, "kvs"), res->msg, sizeof(res->msg)) < 0)
		goto bad;
	resp = json_object_get(r, "responses");
	for (i = 0; json_is_array(resp) && i < json_array_size(resp); i++) {
		json_t *rr = json_object_get(json_array_get(resp, i), "response_range");

		if (rr && kvs_append(&res->kvs, &res->nkvs, json_object_get(rr, "kvs"), res->msg,
				     sizeof(res->msg)) < 0)
			goto bad;
		if (json_is_true(json_object_get(rr, "more")))
			res->more = 1;
	}
	json_decref(o);
	return 0;
bad:
	json_decref(o);
	zdu_etcd_result_clear(res);
	res->err = ZDU_ERR_PROTO;
	return -1;
}

void zdu_etcd_watch_msg_free(struct zdu_etcd_watch_msg *m)
{
	size_t i;

	for (i = 0; i < m->nkvs; i++)
		kv_free(&m->kvs[i]);
	free(m->kvs);
	free(m->deleted);
	m->kvs = NULL;
	m->deleted = NULL;
	m->nkvs = 0;
}

static int watch_parse(const char *line, size_t len, struct zdu_etcd_watch_msg *m);

int zdu_etcd_watch_parse(const char *line, size_t len, struct zdu_etcd_watch_msg *m)
{
	int rc = watch_parse(line, len, m);

	msg_clean(m->error, sizeof(m->error));
	return rc;
}

static int watch_parse(const char *line, size_t len, struct zdu_etcd_watch_msg *m)
{
	json_error_t jerr;
	json_t *o, *r, *evs;
	int code = 0;
	size_t i;

	memset(m, 0, sizeof(*m));
	o = json_loadb(line, len, 0, &jerr);
	if (!json_is_object(o)) {
		snprintf(m->error, sizeof(m->error), "watch: not a JSON object: %s", o ? "other JSON" : jerr.text);
		json_decref(o);
		return -1;
	}
	if (answer_error(o, m->error, sizeof(m->error), &code)) {
		json_decref(o);
		return -1;
	}
	r = json_object_get(o, "result");
	if (!json_is_object(r)) {
		snprintf(m->error, sizeof(m->error), "watch: a message without \"result\"");
		json_decref(o);
		return -1;
	}
	m->created = json_is_true(json_object_get(r, "created"));
	m->canceled = json_is_true(json_object_get(r, "canceled"));
	m->revision = json_i64(json_object_get(json_object_get(r, "header"), "revision"));
	m->compact_revision = json_i64(json_object_get(r, "compact_revision"));
	if (m->canceled && !m->compact_revision) {
		json_t *why = json_object_get(r, "cancel_reason");

		snprintf(m->error, sizeof(m->error), "watch canceled by etcd: %s",
			 json_is_string(why) ? json_string_value(why) : "no reason given");
	}
	evs = json_object_get(r, "events");
	if (evs && !json_is_array(evs)) {
		snprintf(m->error, sizeof(m->error), "watch: events is not an array");
		json_decref(o);
		return -1;
	}
	if (json_array_size(evs)) {
		m->kvs = calloc(json_array_size(evs), sizeof(*m->kvs));
		m->deleted = calloc(json_array_size(evs), sizeof(*m->deleted));
		if (!m->kvs || !m->deleted) {
			snprintf(m->error, sizeof(m->error), "out of memory");
			goto bad;
		}
	}
	for (i = 0; i < json_array_size(evs); i++) {
		json_t *ev = json_array_get(evs, i);
		json_t *type = json_object_get(ev, "type");
		char err[200];

		if (kv_parse(json_object_get(ev, "kv"), &m->kvs[i], err, sizeof(err)) < 0) {
			snprintf(m->error, sizeof(m->error), "watch: %s", err);
			goto bad;
		}
		m->deleted[i] = json_is_string(type) && strcmp(json_string_value(type), "DELETE") == 0;
		m->nkvs++;
	}
	json_decref(o);
	return 0;
bad:
	json_decref(o);
	zdu_etcd_watch_msg_free(m);
	return -1;
}

/* ---- requests ---- */

static const char *endpoint(const struct zdu_etcd *e, size_t i)
{
	return e->conf.endpoints[i % e->conf.nendpoints];
}

const char *zdu_etcd_endpoint(const struct zdu_etcd *e)
{
	return endpoint(e, e->cur);
}

/* The endpoint that failed is left, unless another failure moved on already. */
static void endpoint_failed(struct zdu_etcd *e, size_t ep)
{
	if (e->cur == ep)
		e->cur = (ep + 1) % e->conf.nendpoints;
}

static struct zdu_http_req *http_post(struct zdu_etcd *e, size_t ep, const char *path, const char *body,
				      size_t len, long timeout_ms, int (*on_chunk)(const char *, size_t, void *),
				      zdu_http_cb cb, void *data)
{
	char url[512];
	const char *headers[3];
	size_t nh = 0;
	struct zdu_http_opts o = { 0 };

	snprintf(url, sizeof(url), "%s%s", endpoint(e, ep), path);
	headers[nh++] = "Content-Type: application/json";
	/* A member cut off from its leader ends our watch instead of keeping
	 * it open and silent. */
	if (on_chunk)
		headers[nh++] = "Grpc-Metadata-Hasleader: true";
	/* The whole token, however long: curl copies the header. */
	if (e->auth && strcmp(path, "/v3/auth/authenticate") != 0)
		headers[nh++] = e->auth;
	o.url = url;
	o.timeout_ms = timeout_ms;
	o.connect_timeout_ms = e->conf.timeout_ms;
	o.max_body = BODY_MAX_BYTES;
	o.ca_file = e->conf.ca_file;
	o.client_cert = e->conf.cert_file;
	o.client_key = e->conf.key_file;
	o.verify = 1;
	o.headers = headers;
	o.nheaders = nh;
	o.post = body;
	o.post_len = len;
	o.on_chunk = on_chunk;
	o.reuse = 1;
	return zdu_http_request(e->http, &o, cb, data);
}

static void req_send(struct ereq *r);
static void watch_send(struct zdu_etcd_watch *w);
static void watch_end(struct zdu_etcd_watch *w, enum zdu_etcd_watch_kind kind, const char *msg);

static void req_free(struct ereq *r)
{
	struct zdu_list *l;

	for (l = r->e->reqs.next; l != &r->e->reqs; l = l->next) {
		struct ereq *a = zdu_container_of(l, struct ereq, link);

		if (a->then_req == r)
			a->then_req = NULL;
	}
	zdu_list_remove(&r->link);
	if (r->hr)
		zdu_http_cancel(r->hr);
	free(r->body);
	free(r);
}

static void req_finish(struct ereq *r, struct zdu_etcd_result *res)
{
	res->endpoint = endpoint(r->e, r->ep);
	msg_clean(res->msg, sizeof(res->msg));
	/* Off the list first: the callback may free the whole client. */
	r->hr = NULL;
	zdu_list_remove(&r->link);
	if (r->cb)
		r->cb(res, r->data);
	zdu_etcd_result_clear(res);
	free(r->body);
	free(r);
}

/* A token is needed first: authenticate, then go on with r or w. */
static int auth_start(struct zdu_etcd *e, struct ereq *then_req, struct zdu_etcd_watch *then_watch);

static int needs_token(const struct zdu_etcd *e)
{
	return e->conf.user && *e->conf.user && !e->auth;
}

/* The token is a credential: not left lying in freed memory. */
static void forget_token(struct zdu_etcd *e)
{
	if (e->auth)
		memset(e->auth, 0, strlen(e->auth));
	free(e->auth);
	e->auth = NULL;
}

int zdu_etcd_auth_header(const char *body, size_t len, char **header, char *err, size_t err_size)
{
	static const char name[] = "Authorization: ";
	json_error_t je;
	json_t *o = json_loadb(body, len, 0, &je);
	json_t *t = json_object_get(o, "token");
	const char *v = json_string_value(t);
	size_t n = json_string_length(t), i;

	*header = NULL;
	if (!o) {
		snprintf(err, err_size, "authentication answer is not JSON: %s", je.text);
		msg_clean(err, err_size);
		goto bad;
	}
	if (!json_is_string(t)) {
		snprintf(err, err_size, "authentication answered without a token");
		goto bad;
	}
	if (n == 0) {
		snprintf(err, err_size, "authentication answered with an empty token");
		goto bad;
	}
	if (n > ZDU_ETCD_MAX_TOKEN) {
		snprintf(err, err_size, "authentication token of %zu bytes is over the client's limit of %u bytes",
			 n, ZDU_ETCD_MAX_TOKEN);
		goto bad;
	}
	/* A header ends at a line break: nothing the token holds may add a
	 * header or end it early (etcd's tokens are base64url and dots). */
	for (i = 0; i < n; i++)
		if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f) {
			snprintf(err, err_size,
				 "authentication token has byte 0x%02x at offset %zu, which a header cannot carry",
				 (unsigned char)v[i], i);
			goto bad;
		}
	*header = malloc(sizeof(name) + n);
	if (!*header) {
		snprintf(err, err_size, "out of memory");
		goto bad;
	}
	memcpy(*header, name, sizeof(name) - 1);
	memcpy(*header + sizeof(name) - 1, v, n + 1);
	json_decref(o);
	return 0;
bad:
	json_decref(o);
	return -1;
}

/* curl's words for a server refusing a client without a certificate vary
 * (a reset, a bad certificate alert, an unconnected socket): say the
 * likely cause. */
static const char *tls_hint(const struct zdu_etcd *e, size_t ep, const struct zdu_http_result *hres)
{
	if (hres->curl == CURLE_OK || strncmp(endpoint(e, ep), "https://", 8) != 0 ||
	    (e->conf.cert_file && *e->conf.cert_file))
		return "";
	if (hres->curl == CURLE_COULDNT_CONNECT || hres->curl == CURLE_OPERATION_TIMEDOUT ||
	    hres->curl == CURLE_PEER_FAILED_VERIFICATION)
		return "";
	return " (no etcd.cert_file: does etcd require client certificates?)";
}

static void on_req_done(const struct zdu_http_result *hres, void *data)
{
	struct ereq *r = data;
	struct zdu_etcd *e = r->e;
	struct zdu_etcd_result res;
	int code = 0, transport;

	memset(&res, 0, sizeof(res));
	r->hr = NULL;
	/* No answer, a proxy's 5xx, or a member without a leader: another
	 * endpoint may do better. */
	transport = hres->curl != CURLE_OK || hres->status == 502 || hres->status == 503 || hres->status == 504;
	if (!transport && hres->status != 200) {
		json_t *o = json_loadb(hres->body, hres->len, 0, NULL);

		if (o && answer_error(o, res.msg, sizeof(res.msg), &code) && code == 14)
			transport = 1; /* Unavailable */
		json_decref(o);
	}
	if (transport) {
		size_t l = strlen(r->errs);

		snprintf(r->errs + l, sizeof(r->errs) - l, "%s%s: %s%s", l ? "; " : "", endpoint(e, r->ep),
			 hres->curl != CURLE_OK ? hres->curl_msg
			 : res.msg[0]		? res.msg
						: (hres->status == 503 ? "HTTP 503" : "HTTP 5xx"),
			 tls_hint(e, r->ep, hres));
		endpoint_failed(e, r->ep);
		if (!r->pinned && ++r->tries < e->conf.nendpoints) {
			req_send(r);
			return;
		}
		res.err = ZDU_ERR_IO;
		snprintf(res.msg, sizeof(res.msg), "etcd unreachable: %s", r->errs);
		if (r->kind == R_AUTH)
			goto auth_failed;
		req_finish(r, &res);
		return;
	}
	if ((hres->status == 401 || code == 16) && e->conf.user && *e->conf.user && !r->auth_retried &&
	    r->kind == R_CALL) {
		/* The token expired (etcd drops simple tokens after a while). */
		forget_token(e);
		r->auth_retried = 1;
		req_send(r);
		return;
	}
	if (hres->status != 200 && !res.msg[0])
		snprintf(res.msg, sizeof(res.msg), "HTTP %ld", hres->status);
	if (hres->status != 200 || zdu_etcd_parse_answer(hres->body, hres->len, &res) < 0) {
		char m[sizeof(res.msg)];

		if (!res.err)
			res.err = hres->status == 200 ? ZDU_ERR_PROTO : ZDU_ERR_EXISTS;
		snprintf(m, sizeof(m), "etcd %s%s: %s", endpoint(e, r->ep), r->path, res.msg);
		memcpy(res.msg, m, sizeof(m));
		if (r->kind == R_AUTH)
			goto auth_failed;
		req_finish(r, &res);
		return;
	}
	if (r->kind == R_AUTH) {
		char *auth, why[200];

		if (zdu_etcd_auth_header(hres->body, hres->len, &auth, why, sizeof(why)) < 0) {
			res.err = ZDU_ERR_PROTO;
			snprintf(res.msg, sizeof(res.msg), "etcd %s: %s", endpoint(e, r->ep), why);
			goto auth_failed;
		}
		forget_token(e);
		e->auth = auth;
		if (r->then_req)
			req_send(r->then_req);
		if (r->then_watch)
			watch_send(r->then_watch);
		r->then_req = NULL;
		r->then_watch = NULL;
		req_finish(r, &res);
		return;
	}
	req_finish(r, &res);
	return;
auth_failed:
	if (r->then_req) {
		struct zdu_etcd_result fres;

		memset(&fres, 0, sizeof(fres));
		fres.err = res.err;
		snprintf(fres.msg, sizeof(fres.msg), "authentication: %s", res.msg);
		req_finish(r->then_req, &fres);
	}
	if (r->then_watch)
		watch_end(r->then_watch, ZDU_ETCD_WATCH_ENDED, res.msg);
	r->then_req = NULL;
	r->then_watch = NULL;
	req_finish(r, &res);
}

static void req_send(struct ereq *r)
{
	struct zdu_etcd *e = r->e;

	if (r->kind == R_CALL && needs_token(e)) {
		if (auth_start(e, r, NULL) == 0)
			return;
	}
	if (!r->pinned)
		r->ep = e->cur;
	r->hr = http_post(e, r->ep, r->path, r->body, r->len, e->conf.timeout_ms, NULL, on_req_done, r);
	if (!r->hr) {
		struct zdu_etcd_result res;

		memset(&res, 0, sizeof(res));
		res.err = ZDU_ERR_NOMEM;
		snprintf(res.msg, sizeof(res.msg), "cannot start a request: out of memory");
		/* Never call back from inside the caller's own call: this can
		 * only happen on a retry, which already runs from the loop. */
		req_finish(r, &res);
	}
}

static struct ereq *req_new(struct zdu_etcd *e, enum req_kind kind, const char *path, json_t *body,
			    zdu_etcd_cb cb, void *data)
{
	struct ereq *r;

	if (!body)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r) {
		json_decref(body);
		return NULL;
	}
	r->e = e;
	r->kind = kind;
	r->path = path;
	r->cb = cb;
	r->data = data;
	r->body = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!r->body) {
		free(r);
		return NULL;
	}
	r->len = strlen(r->body);
	zdu_list_insert_tail(&e->reqs, &r->link);
	return r;
}

static int auth_start(struct zdu_etcd *e, struct ereq *then_req, struct zdu_etcd_watch *then_watch)
{
	struct ereq *a = req_new(e, R_AUTH, "/v3/auth/authenticate",
				 json_pack("{s:s,s:s}", "name", e->conf.user, "password",
					   e->conf.password ? e->conf.password : ""),
				 NULL, NULL);

	if (!a)
		return -1;
	a->then_req = then_req;
	a->then_watch = then_watch;
	req_send(a);
	return 0;
}

/* Starts a request from the caller's own call: the first send cannot
 * call back synchronously (zdu_http_request never does). */
static int call_on(struct zdu_etcd *e, const char *path, json_t *body, zdu_etcd_cb cb, void *data, long pin)
{
	struct ereq *r = req_new(e, R_CALL, path, body, cb, data);

	if (!r)
		return -1;
	if (pin >= 0) {
		r->pinned = 1;
		r->ep = (size_t)pin;
	}
	if (needs_token(e)) {
		if (auth_start(e, r, NULL) < 0) {
			req_free(r);
			return -1;
		}
		return 0;
	}
	if (!r->pinned)
		r->ep = e->cur;
	r->hr = http_post(e, r->ep, r->path, r->body, r->len, e->conf.timeout_ms, NULL, on_req_done, r);
	if (!r->hr) {
		req_free(r);
		return -1;
	}
	return 0;
}

static int call(struct zdu_etcd *e, const char *path, json_t *body, zdu_etcd_cb cb, void *data)
{
	return call_on(e, path, body, cb, data, -1);
}

/* json strings of base64 text, owned by the packed object. */
static json_t *b64_json(const void *buf, size_t len)
{
	char *s = zdu_b64_encode(buf, len);
	json_t *j = s ? json_string(s) : NULL;

	free(s);
	return j;
}

static json_t *key_json(const char *key)
{
	return b64_json(key, strlen(key));
}

int zdu_etcd_get(struct zdu_etcd *e, const char *key, zdu_etcd_cb cb, void *data)
{
	return call(e, "/v3/kv/range", json_pack("{s:o}", "key", key_json(key)), cb, data);
}

size_t zdu_etcd_prefix_end(const char *prefix, char *out, size_t size)
{
	size_t n = strlen(prefix);

	if (n > size)
		n = size;
	while (n > 0 && (unsigned char)prefix[n - 1] == 0xff)
		n--;
	if (n == 0) {
		if (size)
			out[0] = '\0';
		return size ? 1 : 0;
	}
	memcpy(out, prefix, n);
	out[n - 1] = (char)((unsigned char)out[n - 1] + 1);
	return n;
}

/* A range request's body: the key, and for a prefix its range_end. */
static json_t *range_json(const struct zdu_etcd_range *r)
{
	json_t *o = json_pack("{s:o}", "key", key_json(r->key));
	size_t len = strlen(r->key) + 1;
	char *end = malloc(len);

	if (!o || !end) {
		free(end);
		json_decref(o);
		return NULL;
	}
	if (r->range_end_len)
		json_object_set_new(o, "range_end", b64_json(r->range_end, r->range_end_len));
	else if (r->prefix)
		json_object_set_new(o, "range_end", b64_json(end, zdu_etcd_prefix_end(r->key, end, len)));
	if (r->limit > 0)
		json_object_set_new(o, "limit", json_sprintf("%ld", r->limit));
	free(end);
	return o;
}

int zdu_etcd_get_prefix(struct zdu_etcd *e, const char *prefix, long limit, zdu_etcd_cb cb, void *data)
{
	struct zdu_etcd_range r = { .key = prefix, .prefix = 1, .limit = limit };

	return call(e, "/v3/kv/range", range_json(&r), cb, data);
}

/* Several ranges as one txn's body (NULL when out of memory). */
static json_t *read_json(const struct zdu_etcd_range *ranges, size_t n)
{
	json_t *ops = json_array();
	size_t i;

	for (i = 0; ops && i < n; i++) {
		json_t *r = range_json(&ranges[i]);

		if (!r || json_array_append_new(ops, json_pack("{s:o}", "request_range", r)) < 0) {
			json_decref(ops);
			return NULL;
		}
	}
	return ops ? json_pack("{s:o}", "success", ops) : NULL;
}

int zdu_etcd_read(struct zdu_etcd *e, const struct zdu_etcd_range *ranges, size_t n, zdu_etcd_cb cb,
		  void *data)
{
	json_t *body = read_json(ranges, n);

	if (!body)
		return -1;
	return call(e, "/v3/kv/txn", body, cb, data);
}

static json_t *many_json(const char *const *keys, size_t n)
{
	json_t *ops = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(ops, json_pack("{s:{s:o}}", "request_range", "key", key_json(keys[i])));
	return json_pack("{s:o}", "success", ops);
}

int zdu_etcd_get_many(struct zdu_etcd *e, const char *const *keys, size_t n, zdu_etcd_cb cb, void *data)
{
	return call(e, "/v3/kv/txn", many_json(keys, n), cb, data);
}

int zdu_etcd_watch_check(struct zdu_etcd_watch *w, const char *const *keys, size_t n, zdu_etcd_cb cb,
			 void *data)
{
	return call_on(w->e, "/v3/kv/txn", many_json(keys, n), cb, data, (long)w->ep);
}

int zdu_etcd_watch_check_ranges(struct zdu_etcd_watch *w, const struct zdu_etcd_range *ranges, size_t n,
				zdu_etcd_cb cb, void *data)
{
	json_t *body = read_json(ranges, n);

	if (!body)
		return -1;
	return call_on(w->e, "/v3/kv/txn", body, cb, data, (long)w->ep);
}

static json_t *put_json(const char *key, const char *value, size_t len, int64_t lease)
{
	json_t *o = json_pack("{s:o,s:o}", "key", key_json(key), "value", b64_json(value, len));

	if (o && lease)
		json_object_set_new(o, "lease", json_sprintf("%lld", (long long)lease));
	return o;
}

int zdu_etcd_put(struct zdu_etcd *e, const char *key, const char *value, size_t len, int64_t lease,
		 zdu_etcd_cb cb, void *data)
{
	if (len > ZDU_ETCD_MAX_VALUE)
		return -1;
	return call(e, "/v3/kv/put", put_json(key, value, len, lease), cb, data);
}

int zdu_etcd_delete(struct zdu_etcd *e, const char *key, zdu_etcd_cb cb, void *data)
{
	return call(e, "/v3/kv/deleterange", json_pack("{s:o}", "key", key_json(key)), cb, data);
}

int zdu_etcd_create(struct zdu_etcd *e, const char *key, const char *value, size_t len, int64_t lease,
		    zdu_etcd_cb cb, void *data)
{
	return call(e, "/v3/kv/txn",
		    json_pack("{s:[{s:o,s:s,s:s,s:s}],s:[{s:o}],s:[{s:{s:o}}]}", "compare", "key", key_json(key),
			      "target", "CREATE", "result", "EQUAL", "create_revision", "0", "success",
			      "request_put", put_json(key, value, len, lease), "failure", "request_range", "key",
			      key_json(key)),
		    cb, data);
}

int zdu_etcd_put_guarded(struct zdu_etcd *e, const char *key, const char *value, size_t len,
			 const char *guard, int64_t lease, zdu_etcd_cb cb, void *data)
{
	return call(e, "/v3/kv/txn",
		    json_pack("{s:[{s:o,s:s,s:s,s:o}],s:[{s:o}]}", "compare", "key", key_json(guard), "target",
			      "LEASE", "result", "EQUAL", "lease", json_sprintf("%lld", (long long)lease),
			      "success", "request_put", put_json(key, value, len, 0)),
		    cb, data);
}

int zdu_etcd_put_if_unchanged(struct zdu_etcd *e, const char *key, const char *value, size_t len,
			      int64_t mod_revision, int64_t lease, zdu_etcd_cb cb, void *data)
{
	if (len > ZDU_ETCD_MAX_VALUE)
		return -1;
	return call(e, "/v3/kv/txn",
		    json_pack("{s:[{s:o,s:s,s:s,s:o}],s:[{s:o}]}", "compare", "key", key_json(key), "target",
			      "MOD", "result", "EQUAL", "mod_revision",
			      json_sprintf("%lld", (long long)mod_revision), "success", "request_put",
			      put_json(key, value, len, lease)),
		    cb, data);
}

int zdu_etcd_lease_grant(struct zdu_etcd *e, int ttl_s, zdu_etcd_cb cb, void *data)
{
	return call(e, "/v3/lease/grant", json_pack("{s:i}", "TTL", ttl_s), cb, data);
}

int zdu_etcd_lease_keepalive(struct zdu_etcd *e, int64_t lease, zdu_etcd_cb cb, void *data)
{
	return call(e, "/v3/lease/keepalive", json_pack("{s:o}", "ID", json_sprintf("%lld", (long long)lease)), cb,
		    data);
}

int zdu_etcd_lease_revoke(struct zdu_etcd *e, int64_t lease, zdu_etcd_cb cb, void *data)
{
	return call(e, "/v3/lease/revoke", json_pack("{s:o}", "ID", json_sprintf("%lld", (long long)lease)), cb,
		    data);
}

/* ---- watches ---- */

static void watch_free(struct zdu_etcd_watch *w)
{
	struct zdu_list *l;

	/* An authentication in flight must not start it later. */
	for (l = w->e->reqs.next; l != &w->e->reqs; l = l->next) {
		struct ereq *a = zdu_container_of(l, struct ereq, link);

		if (a->then_watch == w)
			a->then_watch = NULL;
	}
	zdu_list_remove(&w->link);
	if (w->hr)
		zdu_http_cancel(w->hr);
	free(w->body);
	free(w->buf);
	free(w);
}

static void watch_emit(struct zdu_etcd_watch *w, struct zdu_etcd_watch_event *ev)
{
	if (w->cancelled || w->over)
		return;
	ev->endpoint = endpoint(w->e, w->ep);
	if (ev->kind == ZDU_ETCD_WATCH_ENDED || ev->kind == ZDU_ETCD_WATCH_COMPACTED)
		w->over = 1;
	w->cb(ev, w->data);
}

/* Terminal, outside of curl's callbacks: the watch is freed here. */
static void watch_end(struct zdu_etcd_watch *w, enum zdu_etcd_watch_kind kind, const char *msg)
{
	struct zdu_etcd_watch_event ev = { .kind = kind, .msg = msg };

	w->hr = NULL;
	zdu_list_remove(&w->link);
	w->busy = 1;
	watch_emit(w, &ev);
	free(w->body);
	free(w->buf);
	free(w);
}

/* Returns nonzero to end the stream. */
static int watch_line(struct zdu_etcd_watch *w, const char *line, size_t len)
{
	struct zdu_etcd_watch_msg m;
	struct zdu_etcd_watch_event ev;
	size_t i;

	if (zdu_etcd_watch_parse(line, len, &m) < 0) {
		ev = (struct zdu_etcd_watch_event){ .kind = ZDU_ETCD_WATCH_ENDED, .msg = m.error };
		watch_emit(w, &ev);
		return 1;
	}
	if (m.created) {
		ev = (struct zdu_etcd_watch_event){ .kind = ZDU_ETCD_WATCH_CREATED, .revision = m.revision };
		watch_emit(w, &ev);
	}
	for (i = 0; i < m.nkvs; i++) {
		ev = (struct zdu_etcd_watch_event){ .kind = m.deleted[i] ? ZDU_ETCD_WATCH_DELETE
									  : ZDU_ETCD_WATCH_PUT,
						    .revision = m.revision,
						    .kv = &m.kvs[i] };
		watch_emit(w, &ev);
	}
	if (m.canceled) {
		ev = (struct zdu_etcd_watch_event){ .kind = m.compact_revision ? ZDU_ETCD_WATCH_COMPACTED
									       : ZDU_ETCD_WATCH_ENDED,
						    .revision = m.revision,
						    .compact_revision = m.compact_revision,
						    .msg = m.error };
		watch_emit(w, &ev);
	} else if (!m.created && !m.nkvs) {
		ev = (struct zdu_etcd_watch_event){ .kind = ZDU_ETCD_WATCH_PROGRESS, .revision = m.revision };
		watch_emit(w, &ev);
	}
	zdu_etcd_watch_msg_free(&m);
	return w->cancelled || w->over;
}

static int watch_chunk(struct zdu_etcd_watch *w, const char *buf, size_t len);

static int on_watch_chunk(const char *buf, size_t len, void *data)
{
	struct zdu_etcd_watch *w = data;
	int stop;

	w->busy = 1;
	w->e->in_chunk++;
	stop = watch_chunk(w, buf, len);
	w->e->in_chunk--;
	w->busy = 0;
	return stop;
}

static int watch_chunk(struct zdu_etcd_watch *w, const char *buf, size_t len)
{
	size_t start = 0, i;

	if (w->cancelled || w->over)
		return 1;
	if (w->len + len > LINE_MAX_BYTES) {
		struct zdu_etcd_watch_event ev = { .kind = ZDU_ETCD_WATCH_ENDED,
						   .msg = "watch: a message over the size limit" };

		watch_emit(w, &ev);
		return 1;
	}
	if (w->len + len + 1 > w->cap) {
		size_t cap = w->cap ? w->cap : 4096;
		char *b;

		while (cap < w->len + len + 1)
			cap *= 2;
		b = realloc(w->buf, cap);
		if (!b)
			return 1;
		w->buf = b;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, buf, len);
	w->len += len;
	for (i = 0; i < w->len; i++) {
		if (w->buf[i] != '\n')
			continue;
		if (i > start && watch_line(w, w->buf + start, i - start))
			return 1;
		start = i + 1;
	}
	memmove(w->buf, w->buf + start, w->len - start);
	w->len -= start;
	return 0;
}

static void on_watch_done(const struct zdu_http_result *hres, void *data)
{
	struct zdu_etcd_watch *w = data;
	char msg[512];

	w->hr = NULL;
	if (w->cancelled || w->over) {
		watch_end(w, ZDU_ETCD_WATCH_ENDED, "");
		return;
	}
	if (hres->curl != CURLE_OK && hres->curl != CURLE_WRITE_ERROR) {
		endpoint_failed(w->e, w->ep);
		snprintf(msg, sizeof(msg), "watch on %s: %s", endpoint(w->e, w->ep), hres->curl_msg);
	} else if (hres->status == 401) {
		forget_token(w->e);
		snprintf(msg, sizeof(msg), "watch on %s: authentication token refused", endpoint(w->e, w->ep));
	} else if (hres->status != 200) {
		struct zdu_etcd_watch_msg m;

		/* The error body came through the chunk callback, unterminated. */
		if (w->len && zdu_etcd_watch_parse(w->buf, w->len, &m) < 0)
			snprintf(msg, sizeof(msg), "watch on %s: HTTP %ld: %s", endpoint(w->e, w->ep), hres->status,
				 m.error);
		else
			snprintf(msg, sizeof(msg), "watch on %s: HTTP %ld", endpoint(w->e, w->ep), hres->status);
		if (w->len)
			zdu_etcd_watch_msg_free(&m);
		if (hres->status >= 500)
			endpoint_failed(w->e, w->ep);
	} else {
		endpoint_failed(w->e, w->ep);
		snprintf(msg, sizeof(msg), "watch on %s: the stream ended", endpoint(w->e, w->ep));
	}
	watch_end(w, ZDU_ETCD_WATCH_ENDED, msg);
}

static void watch_send(struct zdu_etcd_watch *w)
{
	w->ep = w->e->cur;
	w->hr = http_post(w->e, w->ep, "/v3/watch", w->body, w->body_len, 0, on_watch_chunk, on_watch_done, w);
	if (!w->hr)
		/* Out of memory: ends at once. */
		watch_end(w, ZDU_ETCD_WATCH_ENDED, "cannot start the watch: out of memory");
}

struct zdu_etcd_watch *zdu_etcd_watch_start(struct zdu_etcd *e, const char *key, int64_t start_rev,
					    zdu_etcd_watch_cb cb, void *data)
{
	return zdu_etcd_watch_range(e, key, NULL, 0, start_rev, cb, data);
}

struct zdu_etcd_watch *zdu_etcd_watch_range(struct zdu_etcd *e, const char *key, const char *range_end,
					    size_t end_len, int64_t start_rev, zdu_etcd_watch_cb cb, void *data)
{
	struct zdu_etcd_watch *w = calloc(1, sizeof(*w));
	json_t *o;

	if (!w)
		return NULL;
	w->e = e;
	w->cb = cb;
	w->data = data;
	o = json_pack("{s:{s:o,s:o,s:b}}", "create_request", "key", key_json(key), "start_revision",
		      json_sprintf("%lld", (long long)(start_rev > 0 ? start_rev : 0)), "progress_notify", 1);
	if (o && end_len)
		json_object_set_new(json_object_get(o, "create_request"), "range_end", b64_json(range_end, end_len));
	w->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!w->body) {
		free(w);
		return NULL;
	}
	w->body_len = strlen(w->body);
	zdu_list_insert_tail(&e->watches, &w->link);
	if (needs_token(e)) {
		if (auth_start(e, NULL, w) < 0) {
			watch_free(w);
			return NULL;
		}
		return w;
	}
	w->ep = e->cur;
	w->hr = http_post(e, w->ep, "/v3/watch", w->body, w->body_len, 0, on_watch_chunk, on_watch_done, w);
	if (!w->hr) {
		watch_free(w);
		return NULL;
	}
	return w;
}

void zdu_etcd_watch_abandon(struct zdu_etcd_watch *w)
{
	endpoint_failed(w->e, w->ep);
	zdu_etcd_watch_cancel(w);
}

static void on_reap(uv_timer_t *t)
{
	struct zdu_etcd *e = t->data;
	struct zdu_list *l = e->watches.next;

	while (l != &e->watches) {
		struct zdu_etcd_watch *w = zdu_container_of(l, struct zdu_etcd_watch, link);

		l = l->next;
		if (w->cancelled && !w->busy)
			watch_free(w);
	}
}

void zdu_etcd_watch_cancel(struct zdu_etcd_watch *w)
{
	w->cancelled = 1;
	/* Inside curl's write callback (this watch's or another's) nothing
	 * may be freed: this watch's transfer ends by our answer and its done
	 * callback frees it; another's is freed from the loop. Inside the
	 * last event, watch_end frees. */
	if (w->busy)
		return;
	if (w->e->in_chunk) {
		uv_timer_start(&w->e->reaper, on_reap, 0, 0);
		return;
	}
	watch_free(w);
}

/* ---- the client ---- */

struct zdu_etcd *zdu_etcd_new(uv_loop_t *loop, struct zdu_http *http, const struct zdu_etcd_conf *conf,
			      char *err, size_t err_size)
{
	struct zdu_etcd *e;
	size_t i;

	if (!conf->nendpoints) {
		snprintf(err, err_size, "etcd: no endpoint");
		return NULL;
	}
	for (i = 0; i < conf->nendpoints; i++) {
		const char *ep = conf->endpoints[i];

		if (strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0) {
			snprintf(err, err_size, "etcd endpoint \"%.200s\" must start with http:// or https://", ep);
			return NULL;
		}
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	zdu_list_init(&e->reqs);
	zdu_list_init(&e->watches);
	uv_timer_init(loop, &e->reaper);
	e->reaper.data = e;
	e->loop = loop;
	e->http = http;
	/* Copies: a reload frees the configuration the strings came from. */
	e->conf.endpoints = calloc(conf->nendpoints, sizeof(char *));
	e->conf.nendpoints = conf->nendpoints;
	for (i = 0; e->conf.endpoints && i < conf->nendpoints; i++)
		if (!(e->conf.endpoints[i] = strdup(conf->endpoints[i])))
			break;
	e->conf.ca_file = conf->ca_file ? strdup(conf->ca_file) : NULL;
	e->conf.cert_file = conf->cert_file ? strdup(conf->cert_file) : NULL;
	e->conf.key_file = conf->key_file ? strdup(conf->key_file) : NULL;
	e->conf.user = conf->user ? strdup(conf->user) : NULL;
	e->conf.password = conf->password ? strdup(conf->password) : NULL;
	e->conf.timeout_ms = conf->timeout_ms;
	if (!e->conf.endpoints || i < conf->nendpoints || (conf->ca_file && !e->conf.ca_file) ||
	    (conf->cert_file && !e->conf.cert_file) || (conf->key_file && !e->conf.key_file) ||
	    (conf->user && !e->conf.user) || (conf->password && !e->conf.password)) {
		snprintf(err, err_size, "out of memory");
		zdu_etcd_free(e);
		return NULL;
	}
	if (e->conf.timeout_ms <= 0)
		e->conf.timeout_ms = 2000;
	return e;
}

static void etcd_closed(uv_handle_t *h)
{
	free(h->data);
}

void zdu_etcd_free(struct zdu_etcd *e)
{
	size_t i;

	if (!e)
		return;
	while (!zdu_list_empty(&e->reqs))
		req_free(zdu_container_of(e->reqs.next, struct ereq, link));
	while (!zdu_list_empty(&e->watches))
		watch_free(zdu_container_of(e->watches.next, struct zdu_etcd_watch, link));
	for (i = 0; e->conf.endpoints && i < e->conf.nendpoints; i++)
		free(e->conf.endpoints[i]);
	free(e->conf.endpoints);
	free((char *)e->conf.ca_file);
	free((char *)e->conf.cert_file);
	free((char *)e->conf.key_file);
	free((char *)e->conf.user);
	if (e->conf.password)
		/* Not left lying in freed memory. */
		memset((char *)e->conf.password, 0, strlen(e->conf.password));
	free((char *)e->conf.password);
	forget_token(e);
	/* Freed once the reaper's handle closed. */
	uv_close((uv_handle_t *)&e->reaper, etcd_closed);
}
