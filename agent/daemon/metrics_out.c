/* The metrics' two ways out, both on the agent's loop and neither blocking
 * it:
 *   - the textfile: rendered on the loop, written in libuv's thread pool
 *     (temporary dot file, fsync, rename: node_exporter reads only *.prom,
 *     and never half a file), on a change and every textfile_interval_ms;
 *   - GET /metrics: libmicrohttpd without a thread of its own (MHD_USE_EPOLL):
 *     its epoll descriptor is watched by a uv_poll, its timeouts by a
 *     uv_timer, and MHD_run() answers on the loop. Bounded by connection
 *     count, per-connection memory (request line and headers) and time:
 *     MHD's own timeout is an idle one, which a client sending a byte now
 *     and then never reaches (slow loris), so each connection's request is
 *     also given metrics.timeout_ms in all, counted from its start or its
 *     last answered request, and shut down past it. A request is answered
 *     at once, from one snapshot. */
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "zdu/common.h"
#include "zdu/hostport.h"
#include "zdu/log.h"
#include "zdu/metrics.h"

struct zdu_metrics {
	uv_loop_t *loop;
	zdu_metrics_snapshot_fn snapshot;
	void *data;
	int handles; /* open handles and a write in flight: freed at 0 */
	int closing;

	/* textfile */
	char *path;
	int timer_up;
	uint64_t interval_ms;
	uv_timer_t timer;
	uv_work_t work;
	int busy, again; /* a write in the pool; another asked meanwhile */
	char *text;
	size_t len;
	int rc;
	char err[256];
	uint64_t writes, write_errors;
	char last_error[256];

	char *sig; /* the settings it was made with */

	/* GET /metrics */
	char *listen;
	struct MHD_Daemon *mhd;
	uv_poll_t poll;
	uv_timer_t mhd_timer;
	uv_timer_t sweep; /* runs while connections are open */
	struct zdu_list conns;
	uint64_t timeout_ms;
	uint64_t requests, cut;
};

static void release(struct zdu_metrics *m)
{
	if (--m->handles > 0)
		return;
	free(m->path);
	free(m->sig);
	free(m->listen);
	free(m->text);
	free(m);
}

static void handle_closed(uv_handle_t *h)
{
	release(h->data);
}

static char *render(struct zdu_metrics *m, size_t *len)
{
	json_t *st = m->snapshot(m->data);
	char *text;

	if (!st)
		return NULL;
	text = zdu_metrics_render(st, (int64_t)time(NULL), len);
	json_decref(st);
	return text;
}

/* ------------------------------------------------------------ textfile */

static void write_work(uv_work_t *w)
{
	struct zdu_metrics *m = w->data;

	m->rc = zdu_file_write_atomic(m->path, m->text, m->len, 0644, m->err, sizeof(m->err));
}

static void start_write(struct zdu_metrics *m);

static void write_done(uv_work_t *w, int status)
{
	struct zdu_metrics *m = w->data;

	m->busy = 0;
	free(m->text);
	m->text = NULL;
	if (status == 0 && m->rc == 0) {
		m->writes++;
		if (m->last_error[0])
			zdu_log_notice("metrics: %s written again", m->path);
		m->last_error[0] = '\0';
	} else if (status != UV_ECANCELED) {
		const char *why = status ? uv_strerror(status) : m->err;

		m->write_errors++;
		/* Said once per spell of failures, not at every interval. */
		if (!m->last_error[0])
			zdu_log_error("metrics: cannot write %s: %s", m->path, why);
		zdu_strlcpy(m->last_error, why, sizeof(m->last_error));
	}
	if (!m->closing && m->again) {
		m->again = 0;
		start_write(m);
	}
	release(m); /* the hold of this write */
}

static void start_write(struct zdu_metrics *m)
{
	if (m->busy) {
		m->again = 1;
		return;
	}
	m->text = render(m, &m->len);
	if (!m->text) {
		zdu_log_error("metrics: cannot render (out of memory?)");
		return;
	}
	m->work.data = m;
	if (uv_queue_work(m->loop, &m->work, write_work, write_done) != 0) {
		free(m->text);
		m->text = NULL;
		return;
	}
	m->busy = 1;
	m->handles++;
}

static void on_timer(uv_timer_t *t)
{
	start_write(t->data);
}

void zdu_metrics_kick(struct zdu_metrics *m)
{
	if (!m || !m->path || m->closing)
		return;
	/* Soon, once this loop turn's changes are all in; the period restarts. */
	uv_timer_start(&m->timer, on_timer, 0, m->interval_ms);
}

static int textfile_start(struct zdu_metrics *m, const struct zdu_config *cfg, char *err, size_t err_size)
{
	struct stat sb;

	if (cfg->metrics_textfile_dir[0] != '/') {
		snprintf(err, err_size, "metrics.textfile_dir: \"%.200s\" must be an absolute path",
			 cfg->metrics_textfile_dir);
		return -1;
	}
	if (stat(cfg->metrics_textfile_dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		snprintf(err, err_size, "metrics.textfile_dir: %.200s: %s", cfg->metrics_textfile_dir,
			 errno ? strerror(errno) : "not a directory");
		return -1;
	}
	if (asprintf(&m->path, "%s/%s", cfg->metrics_textfile_dir, ZDU_METRICS_TEXTFILE) < 0) {
		m->path = NULL;
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	m->interval_ms = (uint64_t)cfg->metrics_textfile_interval_ms;
	uv_timer_init(m->loop, &m->timer);
	m->timer.data = m;
	m->timer_up = 1;
	m->handles++;
	uv_timer_start(&m->timer, on_timer, 0, m->interval_ms);
	return 0;
}

/* ------------------------------------------------------------ HTTP */

static struct MHD_Response *text_response(const char *text)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(text), (void *)(uintptr_t)text, MHD_RESPMEM_PERSISTENT);

	if (r)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	return r;
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, struct MHD_Response *r)
{
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	static int seen;
	struct zdu_metrics *m = cls;
	struct MHD_Response *r;
	char *text;
	size_t len;

	(void)version;
	(void)upload_data;
	if (*con_cls == NULL) {
		/* Headers in; answer on the next call, after any body. */
		*con_cls = &seen;
		return MHD_YES;
	}
	if (*upload_data_size) {
		/* A body is never wanted: dropped, and the answer refuses it. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	m->requests++;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		r = text_response("only GET /metrics\n");
		if (r)
			MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
		return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, r);
	}
	if (strcmp(url, "/metrics") != 0)
		return answer(c, MHD_HTTP_NOT_FOUND, text_response("not found: try /metrics\n"));
	text = render(m, &len);
	if (!text)
		return answer(c, MHD_HTTP_INTERNAL_SERVER_ERROR, text_response("out of memory\n"));
	r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ZDU_METRICS_CONTENT_TYPE);
	return answer(c, MHD_HTTP_OK, r);
}

/* libmicrohttpd's own messages: its format, its arguments. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char text[256];

	(void)cls;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	vsnprintf(text, sizeof(text), fmt, ap);
#pragma GCC diagnostic pop
	text[strcspn(text, "\n")] = '\0';
	zdu_log_info("metrics http: %s", text);
}

/* After every MHD_run(): when MHD wants to run again without an event (a
 * connection's idle timeout). */
static void mhd_schedule(struct zdu_metrics *m);

static unsigned mhd_connections(struct zdu_metrics *m)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	return i ? i->num_connections : 0;
}

static void mhd_run(struct zdu_metrics *m)
{
	unsigned before;

	if (!m->mhd || m->closing)
		return;
	before = mhd_connections(m);
	MHD_run(m->mhd);
	/* At metrics.max_clients MHD takes its listening socket out of its
	 * epoll set, and puts it back only at the start of a run: a run that
	 * closed connections is followed by another, or a client arriving
	 * after them would wait for an event that never comes. */
	if (mhd_connections(m) < before)
		MHD_run(m->mhd);
	mhd_schedule(m);
}

static void on_mhd_timer(uv_timer_t *t)
{
	mhd_run(t->data);
}

static void on_mhd_poll(uv_poll_t *p, int status, int events)
{
	(void)status;
	(void)events;
	mhd_run(p->data);
}

static void mhd_schedule(struct zdu_metrics *m)
{
	MHD_UNSIGNED_LONG_LONG to;

	if (MHD_get_timeout(m->mhd, &to) == MHD_YES)
		uv_timer_start(&m->mhd_timer, on_mhd_timer, (uint64_t)to, 0);
	else
		uv_timer_stop(&m->mhd_timer);
}

/* One open HTTP connection and since when its current request runs. */
struct conn {
	struct zdu_list link;
	struct MHD_Connection *c;
	uint64_t since;
};

static void on_sweep(uv_timer_t *t)
{
	struct zdu_metrics *m = t->data;
	struct zdu_list *l;
	uint64_t now = zdu_now_ms();
	int cut = 0;

	for (l = m->conns.next; l != &m->conns; l = l->next) {
		struct conn *k = zdu_container_of(l, struct conn, link);
		const union MHD_ConnectionInfo *ci;

		if (now - k->since < m->timeout_ms)
			continue;
		/* Shut down, not closed: the descriptor stays MHD's, which sees
		 * the end at its next run and frees the connection itself. */
		ci = MHD_get_connection_info(k->c, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci && shutdown(ci->connect_fd, SHUT_RDWR) == 0) {
			m->cut++;
			cut = 1;
		}
		k->since = UINT64_MAX / 2; /* once */
	}
	if (cut)
		mhd_run(m);
	if (zdu_list_empty(&m->conns))
		uv_timer_stop(&m->sweep);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct zdu_metrics *m = cls;
	struct conn *k = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		k = calloc(1, sizeof(*k));
		if (!k)
			return; /* MHD's own bounds still hold */
		k->c = c;
		k->since = zdu_now_ms();
		zdu_list_insert_tail(&m->conns, &k->link);
		*socket_context = k;
		if (!uv_is_active((uv_handle_t *)&m->sweep))
			uv_timer_start(&m->sweep, on_sweep, 200, 200);
	} else if (k) {
		zdu_list_remove(&k->link);
		free(k);
		*socket_context = NULL;
	}
}

/* An answered request: the next one on the connection gets its own time. */
static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn *k = ci ? ci->socket_context : NULL;

	(void)cls;
	(void)con_cls;
	if (k && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK && k->since < UINT64_MAX / 2)
		k->since = zdu_now_ms();
}

static int http_start(struct zdu_metrics *m, const struct zdu_config *cfg, char *err, size_t err_size)
{
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	unsigned timeout_s = (unsigned)((cfg->metrics_timeout_ms + 999) / 1000);
	int fd;

	if (zdu_parse_hostport(cfg->metrics_listen, &ss) < 0) {
		snprintf(err, err_size, "metrics.listen: \"%.80s\" is not host:port or [ipv6]:port",
			 cfg->metrics_listen);
		return -1;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->listen = strdup(cfg->metrics_listen);
	m->timeout_ms = (uint64_t)cfg->metrics_timeout_ms;
	zdu_list_init(&m->conns);
	m->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, m, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, m,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->metrics_max_clients,
				  MHD_OPTION_CONNECTION_TIMEOUT, timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
				  (size_t)cfg->metrics_max_request_bytes, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
				  MHD_OPTION_NOTIFY_CONNECTION, on_connection, m, MHD_OPTION_NOTIFY_COMPLETED,
				  on_completed, m, MHD_OPTION_END);
	if (!m->mhd) {
		snprintf(err, err_size, "metrics.listen: cannot serve HTTP on %.80s (address in use or not here?)",
			 cfg->metrics_listen);
		return -1;
	}
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	fd = info ? info->epoll_fd : -1;
	if (fd < 0 || uv_poll_init(m->loop, &m->poll, fd) != 0) {
		snprintf(err, err_size, "metrics.listen: libmicrohttpd gives no epoll descriptor");
		MHD_stop_daemon(m->mhd);
		m->mhd = NULL;
		return -1;
	}
	m->poll.data = m;
	m->handles++;
	uv_timer_init(m->loop, &m->mhd_timer);
	m->mhd_timer.data = m;
	m->handles++;
	uv_timer_init(m->loop, &m->sweep);
	m->sweep.data = m;
	m->handles++;
	uv_poll_start(&m->poll, UV_READABLE, on_mhd_poll);
	mhd_schedule(m);
	return 0;
}

/* ------------------------------------------------------------ life */

struct zdu_metrics *zdu_metrics_new(uv_loop_t *loop, const struct zdu_config *cfg,
				    zdu_metrics_snapshot_fn snapshot, void *data, char *err, size_t err_size)
{
	struct zdu_metrics *m;

	err[0] = '\0';
	if (!cfg->metrics_textfile_dir[0] && !cfg->metrics_listen[0])
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	m->loop = loop;
	m->snapshot = snapshot;
	m->data = data;
	m->handles = 1; /* ours, given back by zdu_metrics_close() */
	if ((cfg->metrics_textfile_dir[0] && textfile_start(m, cfg, err, err_size) < 0) ||
	    (cfg->metrics_listen[0] && http_start(m, cfg, err, err_size) < 0)) {
		zdu_metrics_close(m);
		return NULL;
	}
	return m;
}

void zdu_metrics_close(struct zdu_metrics *m)
{
	if (!m || m->closing)
		return;
	m->closing = 1;
	if (m->timer_up)
		uv_close((uv_handle_t *)&m->timer, handle_closed);
	if (m->mhd) {
		/* The poll handle stops watching before MHD closes its descriptor. */
		uv_close((uv_handle_t *)&m->poll, handle_closed);
		uv_close((uv_handle_t *)&m->mhd_timer, handle_closed);
		uv_close((uv_handle_t *)&m->sweep, handle_closed);
		/* Its connections' records go with the CLOSED notifications. */
		MHD_stop_daemon(m->mhd);
		m->mhd = NULL;
	}
	/* A write in the pool ends in write_done(), which releases its hold;
	 * one not started yet is cancelled and ends there the same way. */
	if (m->busy)
		uv_cancel((uv_req_t *)&m->work);
	release(m);
}

json_t *zdu_metrics_status_json(const struct zdu_metrics *m)
{
	if (!m)
		return json_null();
	return json_pack("{s:s?,s:I,s:I,s:s?,s:s?,s:I,s:I}", "textfile", m->path, "writes", (json_int_t)m->writes,
			 "write_errors", (json_int_t)m->write_errors, "last_error",
			 m->last_error[0] ? m->last_error : NULL, "listen", m->listen, "requests",
			 (json_int_t)m->requests, "cut", (json_int_t)m->cut);
}

static char *signature(const struct zdu_config *c)
{
	char *s = NULL;

	if (asprintf(&s, "%s|%d|%s|%d|%d|%d", c->metrics_textfile_dir, c->metrics_textfile_interval_ms,
		     c->metrics_listen, c->metrics_max_clients, c->metrics_timeout_ms,
		     c->metrics_max_request_bytes) < 0)
		return NULL;
	return s;
}

int zdu_metrics_apply(struct zdu_metrics **m, uv_loop_t *loop, const struct zdu_config *cfg,
		      zdu_metrics_snapshot_fn snapshot, void *data, char *err, size_t err_size)
{
	char *sig = signature(cfg);

	err[0] = '\0';
	if (!sig) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	if (*m && (*m)->sig && strcmp((*m)->sig, sig) == 0) {
		free(sig);
		return 0;
	}
	/* The old ones go first: the new endpoint may bind the same address. */
	zdu_metrics_close(*m);
	*m = zdu_metrics_new(loop, cfg, snapshot, data, err, err_size);
	if (*m) {
		(*m)->sig = sig;
		return 0;
	}
	free(sig);
	return err[0] ? -1 : 0;
}
