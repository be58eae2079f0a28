#include <stdlib.h>
#include <string.h>

#include "zdu/common.h"
#include "zdu/http.h"
#include "zdu/log.h"

struct zdu_http {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	struct zdu_list reqs;
	int nopen; /* timer + socket contexts */
	int closing;
};

struct zdu_http_req {
	struct zdu_http *h;
	CURL *easy;
	struct curl_slist *headers;
	struct zdu_list link;
	zdu_http_cb cb;
	void *data;
	char *body;
	size_t len, cap, max;
	char *post;
	int (*on_chunk)(const char *buf, size_t len, void *data);
	char *capture_header; /* opts.capture_header, copied */
	int too_big;
	int tls;
	uint64_t started_ms;
	char errbuf[CURL_ERROR_SIZE];
};

/* One per socket curl watches. */
struct sock_ctx {
	uv_poll_t poll;
	curl_socket_t fd;
	struct zdu_http *h;
};

static void http_handle_closed(struct zdu_http *h)
{
	if (--h->nopen == 0 && h->closing) {
		curl_multi_cleanup(h->multi);
		free(h);
	}
}

static void sock_closed(uv_handle_t *handle)
{
	struct sock_ctx *s = handle->data;
	struct zdu_http *h = s->h;

	free(s);
	http_handle_closed(h);
}

static void req_free(struct zdu_http_req *r)
{
	zdu_list_remove(&r->link);
	curl_multi_remove_handle(r->h->multi, r->easy);
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	free(r->body);
	free(r->post);
	free(r->capture_header);
	free(r);
}

/* The value of the header the request asked for, bounded and trimmed; the
 * last one when the answer repeats it. */
static void capture_header(struct zdu_http_req *r, struct zdu_http_result *res)
{
	struct curl_header *hd = NULL;
	const char *v;
	size_t n;

	if (!r->capture_header ||
	    curl_easy_header(r->easy, r->capture_header, 0, CURLH_HEADER, -1, &hd) != CURLHE_OK || !hd)
		return;
	if (hd->amount > 1 &&
	    curl_easy_header(r->easy, r->capture_header, hd->amount - 1, CURLH_HEADER, -1, &hd) != CURLHE_OK)
		return;
	v = hd->value ? hd->value : "";
	while (*v == ' ' || *v == '\t')
		v++;
	n = strlen(v);
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' || v[n - 1] == '\n'))
		n--;
	res->header_found = 1;
	res->header_cut = n >= sizeof(res->header);
	if (res->header_cut)
		n = sizeof(res->header) - 1;
	memcpy(res->header, v, n);
	res->header[n] = '\0';
}

static void check_done(struct zdu_http *h)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left))) {
		struct zdu_http_req *r = NULL;
		struct zdu_http_result res;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		memset(&res, 0, sizeof(res));
		res.curl = msg->data.result;
		zdu_strlcpy(res.curl_msg, r->errbuf[0] ? r->errbuf : curl_easy_strerror(res.curl),
			    sizeof(res.curl_msg));
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res.status);
		res.body = r->body ? r->body : "";
		res.len = r->len;
		res.too_big = r->too_big;
		res.max_body = r->max;
		res.tls = r->tls;
		{
			curl_off_t us = 0;

			/* Set once the TCP connection is made, even when the
			 * transfer then times out: tells slow from unreachable. */
			if (curl_easy_getinfo(r->easy, CURLINFO_CONNECT_TIME_T, &us) == CURLE_OK)
				res.connected = us > 0;
		}
		res.elapsed_ms = zdu_now_ms() - r->started_ms;
		capture_header(r, &res);
		r->cb(&res, r->data);
		req_free(r);
	}
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct sock_ctx *s = p->data;
	struct zdu_http *h = s->h;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(h->multi, s->fd, flags, &running);
	check_done(h);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct zdu_http *h = userp;
	struct sock_ctx *s = socketp;
	int events = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			uv_poll_stop(&s->poll);
			curl_multi_assign(h->multi, fd, NULL);
			uv_close((uv_handle_t *)&s->poll, sock_closed);
		}
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -1;
		s->fd = fd;
		s->h = h;
		if (uv_poll_init_socket(h->loop, &s->poll, fd) < 0) {
			free(s);
			return -1;
		}
		s->poll.data = s;
		h->nopen++;
		curl_multi_assign(h->multi, fd, s);
	}
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	uv_poll_start(&s->poll, events, on_poll);
	return 0;
}

static void on_timeout(uv_timer_t *t)
{
	struct zdu_http *h = t->data;
	int running;

	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(h);
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct zdu_http *h = userp;

	(void)multi;
	if (timeout_ms < 0)
		uv_timer_stop(&h->timer);
	else
		/* 0 means "now": still go through the loop, never recurse into
		 * curl from inside its own callback. */
		uv_timer_start(&h->timer, on_timeout, (uint64_t)timeout_ms, 0);
	return 0;
}

struct zdu_http *zdu_http_new(uv_loop_t *loop)
{
	struct zdu_http *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->loop = loop;
	h->multi = curl_multi_init();
	if (!h->multi) {
		free(h);
		return NULL;
	}
	zdu_list_init(&h->reqs);
	uv_timer_init(loop, &h->timer);
	h->timer.data = h;
	h->nopen = 1;
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	return h;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userp)
{
	struct zdu_http_req *r = userp;
	size_t n = size * nmemb;

	if (r->on_chunk)
		return r->on_chunk(ptr, n, r->data) ? 0 : n;
	if (r->len + n > r->max) {
		r->too_big = 1;
		return 0; /* ends the transfer: a huge body is not read */
	}
	if (r->len + n + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		char *b;

		while (cap < r->len + n + 1)
			cap *= 2;
		if (cap > r->max + 1)
			cap = r->max + 1;
		b = realloc(r->body, cap);
		if (!b)
			return 0;
		r->body = b;
		r->cap = cap;
	}
	memcpy(r->body + r->len, ptr, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

struct zdu_http_req *zdu_http_request(struct zdu_http *h, const struct zdu_http_opts *o, zdu_http_cb cb,
				  void *data)
{
	struct zdu_http_req *r = calloc(1, sizeof(*r));
	size_t i;

	if (!r)
		return NULL;
	r->easy = curl_easy_init();
	if (!r->easy) {
		free(r);
		return NULL;
	}
	r->h = h;
	r->cb = cb;
	r->data = data;
	r->max = o->max_body;
	r->on_chunk = o->on_chunk;
	r->tls = strncmp(o->url, "https://", 8) == 0;
	r->started_ms = zdu_now_ms();
	zdu_list_init(&r->link);
	for (i = 0; i < o->nheaders; i++) {
		struct curl_slist *n = curl_slist_append(r->headers, o->headers[i]);

		if (!n)
			goto fail;
		r->headers = n;
	}
	curl_easy_setopt(r->easy, CURLOPT_URL, o->url);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, o->timeout_ms);
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	/* A redirect means the URL is wrong: say so rather than follow. */
	curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "zdu-agent/" ZDU_VERSION);
	/* An http_proxy in the daemon's environment must not carry a probe of
	 * the node's own nova-api somewhere else. */
	curl_easy_setopt(r->easy, CURLOPT_PROXY, "");
	if (!o->reuse) {
		/* A fresh connection each probe: a reused one could hide a
		 * listener that no longer accepts. */
		curl_easy_setopt(r->easy, CURLOPT_FORBID_REUSE, 1L);
		curl_easy_setopt(r->easy, CURLOPT_FRESH_CONNECT, 1L);
	}
	if (o->capture_header && !(r->capture_header = strdup(o->capture_header)))
		goto fail;
	if (o->connect_only)
		/* The TCP probe: done once connected (curl's multi interface
		 * reports CURLE_OK then), nothing is sent. */
		curl_easy_setopt(r->easy, CURLOPT_CONNECT_ONLY, 1L);
	if (o->post) {
		r->post = malloc(o->post_len + 1);
		if (!r->post)
			goto fail;
		memcpy(r->post, o->post, o->post_len);
		r->post[o->post_len] = '\0';
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->post_len);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->post);
	}
	if (o->on_chunk) {
		/* A stream lives as long as the peer: only a dead peer ends it. */
		curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPIDLE, 5L);
		curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPINTVL, 2L);
	}
	if (r->headers)
		curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER, o->verify ? 1L : 0L);
	curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST, o->verify ? 2L : 0L);
	if (o->ca_file && *o->ca_file)
		curl_easy_setopt(r->easy, CURLOPT_CAINFO, o->ca_file);
	if (o->client_cert && *o->client_cert)
		curl_easy_setopt(r->easy, CURLOPT_SSLCERT, o->client_cert);
	if (o->client_key && *o->client_key)
		curl_easy_setopt(r->easy, CURLOPT_SSLKEY, o->client_key);
	if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK)
		goto fail;
	zdu_list_insert_tail(&h->reqs, &r->link);
	return r;
fail:
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	free(r->post);
	free(r->capture_header);
	free(r);
	return NULL;
}

void zdu_http_cancel(struct zdu_http_req *r)
{
	req_free(r);
}

static void timer_closed(uv_handle_t *handle)
{
	http_handle_closed(handle->data);
}

void zdu_http_close(struct zdu_http *h)
{
	h->closing = 1;
	while (!zdu_list_empty(&h->reqs))
		req_free(zdu_container_of(h->reqs.next, struct zdu_http_req, link));
	uv_close((uv_handle_t *)&h->timer, timer_closed);
}
