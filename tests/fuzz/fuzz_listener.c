/* The bytes HAProxy (or anyone reaching the agent port) sends: a real
 * listener (zdu_listener_new, configured through zdu_config_load_string as
 * the daemon is) on a real libuv loop on 127.0.0.1. Each input is one
 * connection: connect, send the input, half-close, read to the end. The
 * answer must be exactly the state's reply line, whatever was sent (the
 * listener reads and discards it, and cuts off a peer over
 * max_request_bytes after the reply), and the listener must hold nothing
 * afterwards. One loop and one listener serve every input. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "fuzz_common.h"
#include "zdu/config.h"
#include "zdu/listener.h"
#include "zdu/log.h"
#include "zdu/state.h"

#define MAX_REQUEST_BYTES 1024

static uv_loop_t loop;
static struct zdu_state state;
static struct zdu_config cfg;
static struct zdu_listener *lis;
static struct sockaddr_in addr;

struct client {
	uv_tcp_t tcp;
	uv_connect_t conn;
	uv_write_t wr;
	uv_shutdown_t shut;
	char rbuf[ZDU_REPLY_MAX * 2];
	size_t rlen;
	int overflow;
	int read_done, shut_done, closed;
	int read_err;
};

static void c_closed(uv_handle_t *h)
{
	struct client *c = h->data;

	c->closed = 1;
}

static void c_maybe_close(struct client *c)
{
	if (c->read_done && c->shut_done && !uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, c_closed);
}

static void c_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct client *c = h->data;

	(void)suggested;
	if (c->rlen >= sizeof(c->rbuf)) {
		/* More than any reply: keep reading, remember it. */
		static char sink[4096];

		c->overflow = 1;
		*buf = uv_buf_init(sink, sizeof(sink));
		return;
	}
	*buf = uv_buf_init(c->rbuf + c->rlen, (unsigned)(sizeof(c->rbuf) - c->rlen));
}

static void c_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct client *c = s->data;

	if (nread > 0) {
		if (buf->base == c->rbuf + c->rlen)
			c->rlen += (size_t)nread;
		return;
	}
	if (nread == 0)
		return;
	if (nread != UV_EOF)
		c->read_err = (int)nread;
	uv_read_stop(s);
	c->read_done = 1;
	c_maybe_close(c);
}

static void c_shut(uv_shutdown_t *req, int status)
{
	struct client *c = req->data;

	/* A peer cut off for sending too much sees its writes fail: fine. */
	(void)status;
	c->shut_done = 1;
	c_maybe_close(c);
}

static void c_written(uv_write_t *req, int status)
{
	struct client *c = req->data;

	if (status < 0 || uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, c_shut) < 0) {
		c->shut_done = 1;
		c_maybe_close(c);
	}
}

static const uint8_t *send_data;
static size_t send_size;

static void c_connected(uv_connect_t *req, int status)
{
	struct client *c = req->data;
	uv_buf_t b = uv_buf_init((char *)(uintptr_t)send_data, (unsigned)send_size);

	FUZZ_CHECK(status == 0, "connect: %s", uv_strerror(status));
	FUZZ_CHECK(uv_read_start((uv_stream_t *)&c->tcp, c_alloc, c_read) == 0, "read_start");
	if (send_size)
		FUZZ_CHECK(uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, c_written) == 0, "write");
	else
		c_written(&c->wr, 0);
}

static uint16_t free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) < 0)
		abort();
	close(fd);
	return ntohs(a.sin_port);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct zdu_health_state h;
	struct zdu_event ev;
	char text[256], err[512];
	int tries;

	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN); /* as the daemon does */
	zdu_log_set_level(ZDU_LOG_ERROR);
	FUZZ_CHECK(uv_loop_init(&loop) == 0, "loop");

	/* A node a probe found healthy: "up ready 100% #nova-api 2.93". */
	zdu_state_init(&state, 100, ZDU_FAIL_DOWN, ZDU_HEALTH_UNKNOWN);
	memset(&h, 0, sizeof(h));
	h.health = ZDU_HEALTH_UP;
	snprintf(h.version, sizeof(h.version), "2.93");
	snprintf(h.min_version, sizeof(h.min_version), "2.1");
	memset(&ev, 0, sizeof(ev));
	ev.kind = ZDU_EV_HEALTH;
	ev.cause = "fuzz";
	ev.health = &h;
	zdu_state_apply(&state, &ev);
	FUZZ_CHECK(state.reply_len > 1 && state.reply[state.reply_len - 1] == '\n', "no reply line");

	for (tries = 0; !lis && tries < 50; tries++) {
		uint16_t port = free_port();

		snprintf(text, sizeof(text),
			 "agent: { listen = [ \"127.0.0.1:%u\" ]; max_request_bytes = %d;"
			 " connection_timeout_ms = 2000; };\n",
			 port, MAX_REQUEST_BYTES);
		FUZZ_CHECK(zdu_config_load_string(text, "fuzz-listener.conf", &cfg, err, sizeof(err)) == ZDU_OK,
			   "config: %s", err);
		{
			struct zdu_listener_target t = { "nova-api", &state };

			lis = zdu_listener_new(&loop, &cfg, &cfg.listen, "agent.listen", &t, 1, err, sizeof(err));
		}
		if (!lis) {
			zdu_config_free(&cfg);
			continue;
		}
		memset(&addr, 0, sizeof(addr));
		addr.sin_family = AF_INET;
		addr.sin_port = htons(port);
		addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
	FUZZ_CHECK(lis, "no listener: %s", err);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct client *c = calloc(1, sizeof(*c));
	uint64_t accepted = zdu_listener_stats(lis)->accepted;

	FUZZ_CHECK(c, "out of memory");
	send_data = data;
	send_size = size;
	FUZZ_CHECK(uv_tcp_init(&loop, &c->tcp) == 0, "tcp_init");
	c->tcp.data = c->conn.data = c->wr.data = c->shut.data = c;
	FUZZ_CHECK(uv_tcp_connect(&c->conn, &c->tcp, (const struct sockaddr *)&addr, c_connected) == 0,
		   "connect");
	/* Until our side is closed and the listener let go of the connection. */
	while (!c->closed || zdu_listener_stats(lis)->current > 0 || zdu_listener_stats(lis)->accepted == accepted)
		uv_run(&loop, UV_RUN_ONCE);

	FUZZ_CHECK(zdu_listener_stats(lis)->accepted == accepted + 1, "accepted %llu connections",
		   (unsigned long long)(zdu_listener_stats(lis)->accepted - accepted));
	FUZZ_CHECK(!c->overflow && c->rlen == state.reply_len && memcmp(c->rbuf, state.reply, c->rlen) == 0,
		   "after %zu bytes sent, reply \"%.*s\"%s (%zu bytes, read %s), want \"%.*s\"", size,
		   (int)c->rlen, c->rbuf, c->overflow ? "..." : "", c->rlen,
		   c->read_err ? uv_strerror(c->read_err) : "to EOF", (int)state.reply_len, state.reply);
	FUZZ_CHECK(size <= MAX_REQUEST_BYTES || zdu_listener_stats(lis)->oversized > 0, "oversized peer not counted");
	free(c);
	return 0;
}
