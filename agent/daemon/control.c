#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "zdu/control.h"
#include "zdu/log.h"

struct zdu_control {
	uv_loop_t *loop;
	uv_pipe_t pipe;
	char *path;
	struct zdu_list clients;
	int nclients;
	int max_clients;
	int timeout_ms;
	int nopen;          /* the pipe and each client: freed when none is left */
	uint64_t refused;   /* clients turned away: max_clients were connected */
	uint64_t abandoned; /* requests answered with an error at their bound */
	struct zdu_control_handler handler;
};

struct zdu_control_client {
	uv_pipe_t pipe;
	uv_timer_t timer;
	uv_write_t wr;
	struct zdu_control *ctl;
	struct zdu_list link;
	char buf[ZDU_CTL_LINE_MAX + 2];
	size_t len;
	char *out;
	uint64_t accepted_at;
	uint64_t deadline; /* loop time by which a pending request is answered */
	int nopen;
	int pending; /* the handler holds it until it answers */
	int answered;
	int closing;
	int half_closed; /* the client shut its sending side (socat) and waits */
};

/* How often a pending client that half-closed is checked for a hang-up:
 * once it shut its side, no read event tells us it is gone. */
#define CTL_HUP_CHECK_MS 200

static void ctl_handle_closed(uv_handle_t *h);
static void client_withdraw(struct zdu_control_client *c);
static void client_arm(struct zdu_control_client *c);

static void client_handle_closed(uv_handle_t *h)
{
	struct zdu_control_client *c = h->data;
	struct zdu_control *ctl = c->ctl;

	if (--c->nopen > 0)
		return;
	free(c->out);
	free(c);
	ctl_handle_closed((uv_handle_t *)&ctl->pipe);
}

static void client_close(struct zdu_control_client *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	client_withdraw(c);
	zdu_list_remove(&c->link);
	c->ctl->nclients--;
	uv_close((uv_handle_t *)&c->pipe, client_handle_closed);
	uv_close((uv_handle_t *)&c->timer, client_handle_closed);
}

static void client_written(uv_write_t *req, int status)
{
	struct zdu_control_client *c = zdu_container_of(req, struct zdu_control_client, wr);

	(void)status;
	client_close(c);
}

void zdu_control_reply(struct zdu_control_client *c, json_t *obj)
{
	char *s;
	size_t n;
	uv_buf_t buf;

	c->pending = 0;
	if (c->answered || c->closing) {
		json_decref(obj);
		return;
	}
	c->answered = 1;
	uv_timer_stop(&c->timer);
	s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	json_decref(obj);
	if (!s) {
		client_close(c);
		return;
	}
	n = strlen(s);
	c->out = malloc(n + 2);
	if (!c->out) {
		free(s);
		client_close(c);
		return;
	}
	memcpy(c->out, s, n);
	c->out[n++] = '\n';
	free(s);
	buf = uv_buf_init(c->out, (unsigned)n);
	if (uv_write(&c->wr, (uv_stream_t *)&c->pipe, &buf, 1, client_written) < 0)
		client_close(c);
}

void zdu_control_hold(struct zdu_control_client *c, uint64_t ms)
{
	if (!c->pending)
		return;
	c->deadline = c->accepted_at + ms + (uint64_t)c->ctl->timeout_ms;
	client_arm(c);
}

json_t *zdu_control_status_json(const struct zdu_control *ctl)
{
	if (!ctl)
		return json_null();
	return json_pack("{s:i,s:i,s:I,s:I}", "clients", ctl->nclients, "max_clients", ctl->max_clients,
			 "refused", (json_int_t)ctl->refused, "abandoned", (json_int_t)ctl->abandoned);
}

long zdu_control_peer_uid(struct zdu_control_client *c)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	uv_os_fd_t fd;

	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -1;
	return (long)cred.uid;
}

static void reply_error(struct zdu_control_client *c, const char *msg)
{
	zdu_control_reply(c, json_pack("{s:b,s:s}", "ok", 0, "error", msg));
}

/* Takes a pending request back from the handler, so that nothing it holds
 * refers to the client any more. */
static void client_withdraw(struct zdu_control_client *c)
{
	if (!c->pending)
		return;
	c->pending = 0;
	if (c->ctl->handler.cancel)
		c->ctl->handler.cancel(c, c->ctl->handler.data);
}

/* Has the other end closed for good? A half-close (shutdown(SHUT_WR))
 * only sets POLLRDHUP on our side; a closed or dead peer sets POLLHUP. */
static int client_hung_up(struct zdu_control_client *c)
{
	struct pollfd p = { .events = POLLIN | POLLRDHUP };
	uv_os_fd_t fd;

	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) < 0)
		return 1;
	p.fd = fd;
	if (poll(&p, 1, 0) < 0)
		return 0;
	return (p.revents & (POLLHUP | POLLERR)) != 0;
}

static void client_tick(uv_timer_t *t);

static void client_arm(struct zdu_control_client *c)
{
	uint64_t now = uv_now(c->ctl->loop), next;

	next = c->deadline > now ? c->deadline - now : 0;
	if (c->half_closed && next > CTL_HUP_CHECK_MS)
		next = CTL_HUP_CHECK_MS;
	uv_timer_start(&c->timer, client_tick, next, 0);
}

/* A pending request: the client may be gone (checked while it is
 * half-closed), or the handler may have held it past its bound. */
static void client_tick(uv_timer_t *t)
{
	struct zdu_control_client *c = t->data;
	char msg[96];

	if (!c->pending)
		return;
	if (c->half_closed && client_hung_up(c)) {
		client_close(c);
		return;
	}
	if (uv_now(c->ctl->loop) >= c->deadline) {
		client_withdraw(c);
		snprintf(msg, sizeof(msg), "no answer within %llu ms",
			 (unsigned long long)(c->deadline - c->accepted_at));
		c->ctl->abandoned++;
		zdu_log_warn("control: a request got %s; answered with an error", msg);
		reply_error(c, msg);
		return;
	}
	client_arm(c);
}

static void client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct zdu_control_client *c = h->data;

	(void)suggested;
	if (c->answered || c->pending) {
		/* Only an error or EOF matters now; the bytes do not. */
		static char discard[256];

		*buf = uv_buf_init(discard, sizeof(discard));
		return;
	}
	*buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - c->len));
}

static void client_request(struct zdu_control_client *c, size_t line_len)
{
	struct zdu_ctl_req req;
	char err[128];

	if (zdu_ctl_parse(c->buf, line_len, &req, err, sizeof(err)) != ZDU_OK) {
		reply_error(c, err);
		return;
	}
	/* Every request is answered within its bound: the handler's own time
	 * (wait-drained's) plus timeout_ms; past it the client gets an error
	 * and its slot back. */
	c->accepted_at = uv_now(c->ctl->loop);
	c->deadline = c->accepted_at + (uint64_t)req.arg_ms + (uint64_t)c->ctl->timeout_ms;
	c->pending = 1;
	client_arm(c);
	c->ctl->handler.request(c, &req, c->ctl->handler.data);
}

static void client_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct zdu_control_client *c = s->data;
	char *nl;

	(void)buf;
	if (nread == 0)
		return;
	if (nread < 0) {
		if (nread != UV_EOF) {
			client_close(c);
			return;
		}
		uv_read_stop(s);
		if (!c->pending && !c->answered) {
			if (c->len == 0) {
				client_close(c);
				return;
			}
			/* A last line without a newline still counts. */
			c->half_closed = 1;
			client_request(c, c->len);
			return;
		}
		if (client_hung_up(c)) {
			/* Gone (a hang-up, a Ctrl-C): its slot and its request
			 * go now, not when the request would have ended. */
			client_close(c);
			return;
		}
		/* A half-closing client (socat) still waits for its answer:
		 * from now on only the timer can see it go. */
		c->half_closed = 1;
		if (c->pending)
			client_arm(c);
		return;
	}
	if (c->pending || c->answered)
		return;
	c->len += (size_t)nread;
	nl = memchr(c->buf, '\n', c->len);
	if (nl) {
		client_request(c, (size_t)(nl - c->buf));
		return;
	}
	if (c->len >= sizeof(c->buf)) {
		char msg[64];

		snprintf(msg, sizeof(msg), "request line over %d bytes", ZDU_CTL_LINE_MAX);
		reply_error(c, msg);
	}
}

static void client_timeout(uv_timer_t *t)
{
	struct zdu_control_client *c = t->data;

	reply_error(c, "no request line in time");
}

static void on_client(uv_stream_t *server, int status)
{
	struct zdu_control *ctl = server->data;
	struct zdu_control_client *c;

	if (status < 0) {
		zdu_log_warn("control socket: accept: %s", uv_strerror(status));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->ctl = ctl;
	uv_pipe_init(ctl->loop, &c->pipe, 0);
	uv_timer_init(ctl->loop, &c->timer);
	c->pipe.data = c->timer.data = c;
	c->nopen = 2;
	ctl->nopen++;
	zdu_list_insert_tail(&ctl->clients, &c->link);
	ctl->nclients++;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0) {
		client_close(c);
		return;
	}
	if (ctl->nclients > ctl->max_clients) {
		ctl->refused++;
		reply_error(c, "busy: too many control clients");
		return;
	}
	uv_timer_start(&c->timer, client_timeout, (uint64_t)ctl->timeout_ms, 0);
	if (uv_read_start((uv_stream_t *)&c->pipe, client_alloc, client_read) < 0)
		client_close(c);
}

static void ctl_handle_closed(uv_handle_t *h)
{
	struct zdu_control *ctl = h->data;

	if (--ctl->nopen > 0)
		return;
	free(ctl->path);
	free(ctl);
}

/* Is someone answering at path? Decides between a stale socket (ours to
 * replace) and a running agent (not ours to steal). */
static int socket_alive(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, rc;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	zdu_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	return rc == 0;
}

/* A live socket, or anything that is not one, is not ours to replace. */
static int clear_stale(const char *path, char *err, size_t err_size)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, err_size, "control.socket: %s exists and is not a socket; not removing it", path);
		return -1;
	}
	if (socket_alive(path)) {
		snprintf(err, err_size, "control.socket: %s: another zdu-agent answers there", path);
		return -1;
	}
	zdu_log_info("control socket %s: removing a stale socket", path);
	if (unlink(path) < 0) {
		snprintf(err, err_size, "control.socket: cannot remove stale %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

struct zdu_control *zdu_control_new(uv_loop_t *loop, const struct zdu_config *cfg,
				    const struct zdu_control_handler *h, char *err, size_t err_size)
{
	const char *path = cfg->control_socket;
	mode_t mode = (mode_t)strtol(cfg->control_mode, NULL, 8);
	struct zdu_control *ctl;
	int r;

	if (clear_stale(path, err, err_size) < 0)
		return NULL;
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl || !(ctl->path = strdup(path))) {
		snprintf(err, err_size, "control.socket: out of memory");
		free(ctl);
		return NULL;
	}
	ctl->loop = loop;
	ctl->handler = *h;
	ctl->max_clients = cfg->control_max_clients;
	ctl->timeout_ms = cfg->control_timeout_ms;
	zdu_list_init(&ctl->clients);
	uv_pipe_init(loop, &ctl->pipe, 0);
	ctl->pipe.data = ctl;
	ctl->nopen = 1;
	r = uv_pipe_bind(&ctl->pipe, path);
	if (r == 0) {
		/* Permissions before listen: nobody outside the group gets in. */
		if (chmod(path, mode) < 0)
			r = uv_translate_sys_error(errno);
	}
	if (r == 0 && cfg->control_group[0]) {
		struct group *gr = getgrnam(cfg->control_group);

		if (!gr) {
			snprintf(err, err_size, "control.group: no group named \"%s\"", cfg->control_group);
			zdu_control_close(ctl);
			return NULL;
		}
		if (chown(path, (uid_t)-1, gr->gr_gid) < 0)
			r = uv_translate_sys_error(errno);
	}
	if (r == 0)
		r = uv_listen((uv_stream_t *)&ctl->pipe, 64, on_client);
	if (r < 0) {
		snprintf(err, err_size, "control.socket: cannot listen on %s: %s", path, uv_strerror(r));
		zdu_control_close(ctl);
		return NULL;
	}
	return ctl;
}

static void ctl_pipe_closed(uv_handle_t *h)
{
	ctl_handle_closed(h);
}

void zdu_control_close(struct zdu_control *ctl)
{
	while (!zdu_list_empty(&ctl->clients))
		client_close(zdu_container_of(ctl->clients.next, struct zdu_control_client, link));
	if (ctl->path) {
		/* Only our own socket: it is still bound to us here. */
		unlink(ctl->path);
	}
	if (!uv_is_closing((uv_handle_t *)&ctl->pipe))
		uv_close((uv_handle_t *)&ctl->pipe, ctl_pipe_closed);
}
