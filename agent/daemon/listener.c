#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "zdu/config.h"
#include "zdu/listener.h"
#include "zdu/log.h"

struct zdu_listener {
	uv_loop_t *loop;
	const struct zdu_state *state;
	uv_tcp_t *socks;
	size_t nsocks;
	size_t nopen; /* handles not yet closed, for zdu_listener_close */
	struct zdu_list conns; /* accept order: oldest first */
	uv_timer_t sweep;
	int max_connections;
	int timeout_ms;
	int max_request_bytes;
	uint64_t last_evict_log_ms;
	uint64_t evicted_since_log;
	struct zdu_listener_stats stats;
};

const struct zdu_listener_stats *zdu_listener_stats(const struct zdu_listener *l)
{
	return &l->stats;
}


struct conn {
	uv_tcp_t tcp;
	uv_shutdown_t shut;
	uv_write_t wr;
	struct zdu_listener *l;
	struct zdu_list link; /* in l->conns while held */
	uint64_t accepted_ms;
	size_t nread;
	char *wbuf; /* only when the reply could not be written at once */
	int closing;
};

/* The bytes a peer sends are never looked at: one buffer serves all. */
static char discard_buf[4096];

static void listener_handle_closed(uv_handle_t *h);

static void conn_closed(uv_handle_t *h)
{
	struct conn *c = zdu_container_of((uv_tcp_t *)h, struct conn, tcp);
	struct zdu_listener *l = c->l;

	free(c->wbuf);
	free(c);
	listener_handle_closed((uv_handle_t *)&l->sweep);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	zdu_list_remove(&c->link);
	c->l->stats.current--;
	uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	*buf = uv_buf_init(discard_buf, sizeof(discard_buf));
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = zdu_container_of((uv_tcp_t *)s, struct conn, tcp);

	(void)buf;
	if (nread == 0)
		return;
	if (nread < 0) {
		/* EOF, or a reset: either way this probe is over. */
		conn_close(c);
		return;
	}
	c->nread += (size_t)nread;
	if (c->nread > (size_t)c->l->max_request_bytes) {
		c->l->stats.oversized++;
		zdu_log_debug("agent peer sent over %d bytes: disconnected", c->l->max_request_bytes);
		conn_close(c);
	}
}

static void conn_shut(uv_shutdown_t *req, int status)
{
	struct conn *c = zdu_container_of(req, struct conn, shut);

	if (status < 0 && status != UV_ECANCELED)
		conn_close(c);
}

static void conn_written(uv_write_t *req, int status)
{
	struct conn *c = zdu_container_of(req, struct conn, wr);

	free(c->wbuf);
	c->wbuf = NULL;
	if (status < 0)
		conn_close(c);
}

static void evict_oldest(struct zdu_listener *l)
{
	struct conn *old = zdu_container_of(l->conns.next, struct conn, link);
	uint64_t now = zdu_now_ms();

	l->stats.evicted++;
	l->evicted_since_log++;
	/* One line per burst, not per connection: a flood must not flood the log. */
	if (now - l->last_evict_log_ms >= 10000) {
		zdu_log_warn("agent listener at max_connections (%d): closing the oldest held "
			     "connections (%llu since last said)",
			     l->max_connections, (unsigned long long)l->evicted_since_log);
		l->last_evict_log_ms = now;
		l->evicted_since_log = 0;
	}
	conn_close(old);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct zdu_listener *l = server->data;
	const struct zdu_state *st = l->state;
	struct conn *c;
	uv_buf_t buf;
	int r;

	if (status < 0) {
		zdu_log_warn("agent listener: accept: %s", uv_strerror(status));
		return;
	}
	/* Every held connection has its reply already: closing the oldest one
	 * costs nobody an answer, and keeps the newest probe served. */
	while (l->stats.current >= (uint64_t)l->max_connections && !zdu_list_empty(&l->conns))
		evict_oldest(l);

	c = calloc(1, sizeof(*c));
	if (!c) {
		zdu_log_error("agent listener: out of memory");
		return;
	}
	c->l = l;
	zdu_list_init(&c->link);
	uv_tcp_init(l->loop, &c->tcp);
	l->nopen++;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
		c->closing = 1;
		uv_close((uv_handle_t *)&c->tcp, conn_closed);
		return;
	}
	c->accepted_ms = uv_now(l->loop);
	/* The sweep runs only while connections are held: an idle agent
	 * sleeps. */
	if (zdu_list_empty(&l->conns))
		uv_timer_again(&l->sweep);
	zdu_list_insert_tail(&l->conns, &c->link);
	l->stats.current++;
	l->stats.accepted++;

	/* The reply first, before reading anything. */
	r = uv_try_write((uv_stream_t *)&c->tcp, &(uv_buf_t){ .base = (char *)st->reply,
							      .len = st->reply_len }, 1);
	if (r < 0 && r != UV_EAGAIN) {
		conn_close(c);
		return;
	}
	if (r < (int)st->reply_len) {
		size_t off = r < 0 ? 0 : (size_t)r;

		/* A fresh socket's buffer always takes a line, but be correct. */
		c->wbuf = malloc(st->reply_len - off);
		if (!c->wbuf) {
			conn_close(c);
			return;
		}
		memcpy(c->wbuf, st->reply + off, st->reply_len - off);
		buf = uv_buf_init(c->wbuf, (unsigned)(st->reply_len - off));
		if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &buf, 1, conn_written) < 0) {
			conn_close(c);
			return;
		}
	}
	if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, conn_shut) < 0 ||
	    uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read) < 0)
		conn_close(c);
}

/* Connections are held in accept order with one timeout: the oldest is
 * always at the head, so one timer serves them all. */
static void on_sweep(uv_timer_t *t)
{
	struct zdu_listener *l = t->data;
	uint64_t now = uv_now(l->loop);

	while (!zdu_list_empty(&l->conns)) {
		struct conn *c = zdu_container_of(l->conns.next, struct conn, link);

		if (now - c->accepted_ms < (uint64_t)l->timeout_ms)
			break;
		l->stats.timed_out++;
		conn_close(c);
	}
	if (zdu_list_empty(&l->conns))
		uv_timer_stop(&l->sweep);
}

static void listener_handle_closed(uv_handle_t *h)
{
	struct zdu_listener *l = h->data;

	if (--l->nopen == 0) {
		free(l->socks);
		free(l);
	}
}

void zdu_listener_set_limits(struct zdu_listener *l, const struct zdu_config *cfg)
{
	uint64_t tick;

	l->max_connections = cfg->max_connections;
	l->timeout_ms = cfg->connection_timeout_ms;
	l->max_request_bytes = cfg->max_request_bytes;
	/* Sweep at a tenth of the timeout: a held connection lives at most
	 * 110% of it, and an idle agent wakes rarely. */
	tick = (uint64_t)l->timeout_ms / 10;
	if (tick < 10)
		tick = 10;
	uv_timer_start(&l->sweep, on_sweep, tick, tick);
	if (zdu_list_empty(&l->conns))
		uv_timer_stop(&l->sweep); /* uv_timer_again() restarts it with the repeat */
}

struct zdu_listener *zdu_listener_new(uv_loop_t *loop, const struct zdu_config *cfg,
				      const struct zdu_state *state, char *err, size_t err_size)
{
	struct zdu_listener *l;
	size_t i;
	int r;

	l = calloc(1, sizeof(*l));
	if (!l || !(l->socks = calloc(cfg->listen.n, sizeof(*l->socks)))) {
		free(l);
		snprintf(err, err_size, "agent listener: out of memory");
		return NULL;
	}
	l->loop = loop;
	l->state = state;
	zdu_list_init(&l->conns);
	uv_timer_init(loop, &l->sweep);
	l->sweep.data = l;
	l->nopen = 1;
	zdu_listener_set_limits(l, cfg);

	for (i = 0; i < cfg->listen.n; i++) {
		struct sockaddr_storage ss;
		uv_tcp_t *s = &l->socks[i];
		unsigned flags = 0;

		zdu_parse_hostport(cfg->listen.v[i], &ss); /* validated with the config */
		uv_tcp_init(loop, s);
		s->data = l;
		l->nopen++;
		l->nsocks++;
		/* An explicit [::] must not also grab the IPv4 port that a
		 * separate 0.0.0.0 entry binds. */
		if (ss.ss_family == AF_INET6)
			flags |= UV_TCP_IPV6ONLY;
		r = uv_tcp_bind(s, (const struct sockaddr *)&ss, flags);
		if (r == 0)
			r = uv_listen((uv_stream_t *)s, 1024, on_connection);
		if (r < 0) {
			snprintf(err, err_size, "agent.listen: cannot listen on %s: %s", cfg->listen.v[i],
				 uv_strerror(r));
			zdu_listener_close(l);
			return NULL;
		}
		zdu_log_info("answering agent checks on %s", cfg->listen.v[i]);
	}
	return l;
}

void zdu_listener_close(struct zdu_listener *l)
{
	size_t i;

	while (!zdu_list_empty(&l->conns))
		conn_close(zdu_container_of(l->conns.next, struct conn, link));
	for (i = 0; i < l->nsocks; i++)
		if (!uv_is_closing((uv_handle_t *)&l->socks[i]))
			uv_close((uv_handle_t *)&l->socks[i], listener_handle_closed);
	if (!uv_is_closing((uv_handle_t *)&l->sweep))
		uv_close((uv_handle_t *)&l->sweep, listener_handle_closed);
}
