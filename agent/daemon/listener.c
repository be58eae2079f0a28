#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "zdu/agent_name.h"
#include "zdu/config.h"
#include "zdu/listener.h"
#include "zdu/log.h"

/* Unknown names are logged once each, up to this many; then once more. */
#define LOGGED_NAMES 32

struct zdu_listener {
	uv_loop_t *loop;
	struct zdu_listener_target *targets;
	size_t ntargets;
	int by_name; /* several targets: read the name first */
	struct zdu_list naming; /* connections waiting for their name: oldest first */
	uv_timer_t name_timer;
	int name_timeout_ms;
	char *logged[LOGGED_NAMES];
	size_t nlogged;
	int logged_full;
	int invalid_logged;
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
	struct zdu_list name_link; /* in l->naming until the name is read */
	uint64_t accepted_ms;
	uint64_t heard_ms; /* while naming: the connection or its last byte */
	size_t nread;
	char *wbuf; /* only when the reply could not be written at once */
	int closing;
	int replied;
	struct zdu_name_reader *name; /* while naming */
};

/* The bytes a peer sends after its name are never looked at: one buffer
 * serves all. */
static char discard_buf[4096];

static void conn_reply(struct conn *c, const char *reply, size_t len);

static void listener_handle_closed(uv_handle_t *h);

static void conn_closed(uv_handle_t *h)
{
	struct conn *c = zdu_container_of((uv_tcp_t *)h, struct conn, tcp);
	struct zdu_listener *l = c->l;

	free(c->wbuf);
	free(c->name);
	free(c);
	listener_handle_closed((uv_handle_t *)&l->sweep);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	zdu_list_remove(&c->link);
	zdu_list_remove(&c->name_link);
	c->l->stats.current--;
	uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = zdu_container_of((uv_tcp_t *)h, struct conn, tcp);

	(void)suggested;
	/* While naming, read no more than a name and its line end can be:
	 * what follows is left in the kernel, then discarded. */
	*buf = uv_buf_init(discard_buf, !c->replied && c->name ? ZDU_SERVICE_MAX + 2 : sizeof(discard_buf));
}

/* A name HAProxy sent that no service here has: once per name in the
 * log (a misconfigured backend checks every few seconds). */
static void log_unknown(struct zdu_listener *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->nlogged; i++)
		if (strcmp(l->logged[i], name) == 0)
			return;
	if (l->nlogged == LOGGED_NAMES) {
		if (!l->logged_full)
			zdu_log_warn("agent-check: more unknown service names; no longer logged each (see status)");
		l->logged_full = 1;
		return;
	}
	if (!(l->logged[l->nlogged] = strdup(name)))
		return;
	l->nlogged++;
	zdu_log_warn("agent-check: a peer asked for service '%s', which this agent does not serve: "
		     "answered with a comment only (check the backend's agent-send)", name);
}

/* The name is read (or will never be): the reply it chooses. */
static void conn_named(struct conn *c, enum zdu_name_status st)
{
	struct zdu_listener *l = c->l;
	const struct zdu_state *target = NULL;
	char text[ZDU_SERVICE_MAX + 48];
	size_t i;

	zdu_list_remove(&c->name_link);
	if (st == ZDU_NAME_INVALID) {
		l->stats.invalid++;
		if (!l->invalid_logged)
			zdu_log_warn("agent-check: a peer sent bytes that are not a service name (%s): answered "
				     "with a comment only; said once (see status)", c->name->why);
		l->invalid_logged = 1;
		conn_reply(c, "#invalid service name\n", 22);
		return;
	}
	if (st == ZDU_NAME_MORE || c->name->len == 0) {
		l->stats.no_name++;
		target = l->targets[0].state;
	} else {
		for (i = 0; i < l->ntargets && !target; i++)
			if (strcmp(l->targets[i].name, c->name->buf) == 0)
				target = l->targets[i].state;
		if (!target) {
			l->stats.unknown++;
			log_unknown(l, c->name->buf);
			snprintf(text, sizeof(text), "#unknown service '%s'\n", c->name->buf);
			conn_reply(c, text, strlen(text));
			return;
		}
		l->stats.by_name++;
	}
	conn_reply(c, target->reply, target->reply_len);
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = zdu_container_of((uv_tcp_t *)s, struct conn, tcp);

	if (nread == 0)
		return;
	if (nread < 0) {
		/* EOF: a peer that half-closed after (part of) its name still
		 * gets its reply; a reset, or EOF after the reply, ends it. */
		if (nread == UV_EOF && !c->replied && c->name) {
			conn_named(c, zdu_name_eof(c->name));
			return;
		}
		conn_close(c);
		return;
	}
	if (!c->replied && c->name) {
		size_t used;
		enum zdu_name_status st = zdu_name_feed(c->name, buf->base, (size_t)nread, &used);

		if (st != ZDU_NAME_MORE) {
			conn_named(c, st);
		} else {
			/* Still coming (a byte at a time, say): the bound runs
			 * from this byte; agent.connection_timeout_ms bounds it all. */
			c->heard_ms = uv_now(c->l->loop);
			zdu_list_remove(&c->name_link);
			zdu_list_insert_tail(&c->l->naming, &c->name_link);
		}
		if (c->closing)
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

static void on_name_timer(uv_timer_t *t);

static void on_connection(uv_stream_t *server, int status)
{
	struct zdu_listener *l = server->data;
	struct conn *c;

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
	zdu_list_init(&c->name_link);
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

	if (!l->by_name) {
		/* One service: the reply first, before reading anything. */
		conn_reply(c, l->targets[0].state->reply, l->targets[0].state->reply_len);
		if (!c->closing && uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read) < 0)
			conn_close(c);
		return;
	}
	if (!(c->name = malloc(sizeof(*c->name)))) {
		conn_close(c);
		return;
	}
	zdu_name_reader_init(c->name);
	c->heard_ms = c->accepted_ms;
	if (zdu_list_empty(&l->naming))
		uv_timer_start(&l->name_timer, on_name_timer, (uint64_t)l->name_timeout_ms, 0);
	zdu_list_insert_tail(&l->naming, &c->name_link);
	if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read) < 0)
		conn_close(c);
}

/* Writes the reply and half-closes; reading goes on (discarding) until the
 * peer closes. */
static void conn_reply(struct conn *c, const char *reply, size_t len)
{
	uv_buf_t buf;
	int r;

	c->replied = 1;
	r = uv_try_write((uv_stream_t *)&c->tcp, &(uv_buf_t){ .base = (char *)reply, .len = len }, 1);
	if (r < 0 && r != UV_EAGAIN) {
		conn_close(c);
		return;
	}
	if (r < (int)len) {
		size_t off = r < 0 ? 0 : (size_t)r;

		/* A fresh socket's buffer always takes a line, but be correct. */
		c->wbuf = malloc(len - off);
		if (!c->wbuf) {
			conn_close(c);
			return;
		}
		memcpy(c->wbuf, reply + off, len - off);
		buf = uv_buf_init(c->wbuf, (unsigned)(len - off));
		if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &buf, 1, conn_written) < 0) {
			conn_close(c);
			return;
		}
	}
	if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, conn_shut) < 0)
		conn_close(c);
}

/* Connections waiting for their name, in the order last heard from, with
 * one bound: the oldest is at the head, so one timer serves them all.
 * Those silent past the bound get the default service's reply, or, with
 * part of a name, what that part names. */
static void on_name_timer(uv_timer_t *t)
{
	struct zdu_listener *l = t->data;
	uint64_t now = uv_now(l->loop);

	while (!zdu_list_empty(&l->naming)) {
		struct conn *c = zdu_container_of(l->naming.next, struct conn, name_link);
		uint64_t due = c->heard_ms + (uint64_t)l->name_timeout_ms;

		if (due > now) {
			uv_timer_start(&l->name_timer, on_name_timer, due - now, 0);
			return;
		}
		/* Nothing sent: the default. Part of a line: that is the name
		 * (an unknown one, most likely, answered with a comment). */
		conn_named(c, c->name->len ? zdu_name_eof(c->name) : ZDU_NAME_MORE);
	}
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

	size_t i;

	if (--l->nopen == 0) {
		for (i = 0; i < l->nlogged; i++)
			free(l->logged[i]);
		free(l->targets);
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
	l->name_timeout_ms = cfg->name_timeout_ms;
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
				      const struct zdu_strlist *addrs, const char *what,
				      const struct zdu_listener_target *targets, size_t n, char *err,
				      size_t err_size)
{
	struct zdu_listener *l;
	size_t i;
	int r;

	l = calloc(1, sizeof(*l));
	if (!l || !(l->socks = calloc(addrs->n, sizeof(*l->socks))) ||
	    !(l->targets = calloc(n, sizeof(*l->targets)))) {
		if (l)
			free(l->socks);
		free(l);
		snprintf(err, err_size, "agent listener: out of memory");
		return NULL;
	}
	memcpy(l->targets, targets, n * sizeof(*targets));
	l->ntargets = n;
	l->by_name = n > 1;
	l->loop = loop;
	zdu_list_init(&l->conns);
	zdu_list_init(&l->naming);
	uv_timer_init(loop, &l->sweep);
	uv_timer_init(loop, &l->name_timer);
	l->sweep.data = l->name_timer.data = l;
	l->nopen = 2;
	zdu_listener_set_limits(l, cfg);

	for (i = 0; i < addrs->n; i++) {
		struct sockaddr_storage ss;
		uv_tcp_t *s = &l->socks[i];
		unsigned flags = 0;

		zdu_parse_hostport(addrs->v[i], &ss); /* validated with the config */
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
			snprintf(err, err_size, "%s: cannot listen on %s: %s", what, addrs->v[i], uv_strerror(r));
			zdu_listener_close(l);
			return NULL;
		}
		if (n == 1)
			zdu_log_info("answering agent checks on %s for %s", addrs->v[i], targets[0].name);
		else
			zdu_log_info("answering agent checks on %s for %zu services by name (default %s)",
				     addrs->v[i], n, targets[0].name);
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
	if (!uv_is_closing((uv_handle_t *)&l->name_timer))
		uv_close((uv_handle_t *)&l->name_timer, listener_handle_closed);
}
