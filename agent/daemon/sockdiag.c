#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/tcp.h> /* struct tcp_info (glibc's; libuv includes it too) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdu/common.h"
#include "zdu/sockdiag.h"

#define TCP_STATE_ESTABLISHED 1

/* Is the address (IPv4 as v4-mapped) in the list? An empty list takes all. */
static int addr_in(const uint32_t *raw, int family, const struct in6_addr *list, size_t n)
{
	struct in6_addr a;
	size_t i;

	if (n == 0)
		return 1;
	memset(&a, 0, sizeof(a));
	if (family == AF_INET) {
		a.s6_addr[10] = a.s6_addr[11] = 0xff;
		memcpy(&a.s6_addr[12], &raw[0], 4);
	} else {
		memcpy(&a, raw, 16);
	}
	for (i = 0; i < n; i++)
		if (memcmp(&a, &list[i], sizeof(a)) == 0)
			return 1;
	return 0;
}

static int from_matches(const struct zdu_sockdiag_filter *f, const struct inet_diag_msg *m)
{
	return addr_in(m->id.idiag_dst, m->idiag_family, f->from, f->nfrom) &&
	       addr_in(m->id.idiag_src, m->idiag_family, f->local, f->nlocal);
}

static int port_matches(const struct zdu_sockdiag_filter *f, uint16_t port)
{
	size_t i;

	for (i = 0; i < f->nports; i++)
		if (f->ports[i] == port)
			return 1;
	return 0;
}

/* Quiet long enough, nothing queued either way: a connection kept for
 * reuse (HAProxy's idle server connections), not a request in progress. */
static int is_idle(const struct zdu_sockdiag_filter *f, const struct inet_diag_msg *m, size_t payload)
{
	const struct nlattr *a;
	size_t off = NLMSG_ALIGN(sizeof(*m));

	if (f->idle_ms == 0 || m->idiag_rqueue || m->idiag_wqueue)
		return 0;
	while (off + sizeof(*a) <= payload) {
		size_t alen;

		a = (const struct nlattr *)((const char *)m + off);
		alen = a->nla_len;
		if (alen < sizeof(*a) || off + alen > payload)
			return 0;
		if ((a->nla_type & NLA_TYPE_MASK) == INET_DIAG_INFO) {
			struct tcp_info ti;
			size_t n = alen - NLA_HDRLEN;

			memset(&ti, 0, sizeof(ti));
			memcpy(&ti, (const char *)a + NLA_HDRLEN, n < sizeof(ti) ? n : sizeof(ti));
			/* Older kernels send a shorter tcp_info: without the two
			 * fields, the connection does not count as idle. */
			if (n < offsetof(struct tcp_info, tcpi_last_ack_recv))
				return 0;
			return ti.tcpi_last_data_recv >= f->idle_ms && ti.tcpi_last_data_sent >= f->idle_ms;
		}
		off += NLA_ALIGN(alen);
	}
	return 0;
}

enum zdu_sockdiag_rc zdu_sockdiag_parse(const void *buf, size_t len, uint32_t seq,
					 const struct zdu_sockdiag_filter *f,
					 struct zdu_sockdiag_count *acc, char *err, size_t err_size)
{
	const char *p = buf;
	size_t off = 0;

	while (off + sizeof(struct nlmsghdr) <= len) {
		const struct nlmsghdr *h = (const struct nlmsghdr *)(const void *)(p + off);
		size_t mlen = h->nlmsg_len;

		if (mlen < sizeof(*h) || off + mlen > len) {
			snprintf(err, err_size, "netlink: message of %zu bytes at offset %zu overruns the %zu received",
				 mlen, off, len);
			return ZDU_SD_ERROR;
		}
		if (seq && h->nlmsg_seq != seq) {
			off += NLMSG_ALIGN(mlen);
			continue;
		}
		if (h->nlmsg_type == NLMSG_DONE)
			return ZDU_SD_DONE;
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);

			if (mlen < NLMSG_LENGTH(sizeof(*e))) {
				snprintf(err, err_size, "netlink: truncated error message");
				return ZDU_SD_ERROR;
			}
			/* -INT_MIN does not exist: a kernel never sends it, a
			 * corrupted message might. */
			snprintf(err, err_size, "netlink: sock_diag refused: %s",
				 strerror(e->error < 0 && e->error != INT_MIN ? -e->error : EPROTO));
			return ZDU_SD_ERROR;
		}
		if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
			const struct inet_diag_msg *m = NLMSG_DATA(h);
			size_t payload = mlen - NLMSG_HDRLEN;

			if (payload < sizeof(*m)) {
				snprintf(err, err_size, "netlink: truncated inet_diag message");
				return ZDU_SD_ERROR;
			}
			acc->seen++;
			if (m->idiag_state == TCP_STATE_ESTABLISHED && port_matches(f, ntohs(m->id.idiag_sport)) &&
			    from_matches(f, m)) {
				if (is_idle(f, m, payload))
					acc->idle++;
				else
					acc->established++;
			}
		}
		off += NLMSG_ALIGN(mlen);
	}
	return ZDU_SD_MORE;
}

struct zdu_sockdiag {
	uv_loop_t *loop;
	uv_poll_t poll;
	int fd;
	int busy;
	int family; /* being dumped */
	uint32_t seq;
	struct zdu_sockdiag_filter filter;
	struct zdu_sockdiag_count count;
	zdu_sockdiag_cb cb;
	void *data;
	int closing;
};

struct zdu_sockdiag *zdu_sockdiag_new(uv_loop_t *loop, char *err, size_t err_size)
{
	struct zdu_sockdiag *sd = calloc(1, sizeof(*sd));

	if (!sd) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	sd->loop = loop;
	sd->fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (sd->fd < 0) {
		snprintf(err, err_size, "netlink sock_diag socket: %s", strerror(errno));
		free(sd);
		return NULL;
	}
	if (uv_poll_init(loop, &sd->poll, sd->fd) < 0) {
		snprintf(err, err_size, "netlink sock_diag: cannot poll");
		close(sd->fd);
		free(sd);
		return NULL;
	}
	sd->poll.data = sd;
	return sd;
}

static int send_request(struct zdu_sockdiag *sd)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req;
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	ssize_t n;

	memset(&req, 0, sizeof(req));
	req.nlh.nlmsg_len = sizeof(req);
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nlh.nlmsg_seq = ++sd->seq;
	req.r.sdiag_family = (uint8_t)sd->family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = 1u << TCP_STATE_ESTABLISHED;
	if (sd->filter.idle_ms)
		req.r.idiag_ext = 1u << (INET_DIAG_INFO - 1);
	do
		n = sendto(sd->fd, &req, sizeof(req), 0, (struct sockaddr *)&nl, sizeof(nl));
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(req) ? 0 : -1;
}

static void finish(struct zdu_sockdiag *sd, int ok, const char *err)
{
	sd->busy = 0;
	uv_poll_stop(&sd->poll);
	sd->cb(ok, &sd->count, err, sd->data);
}

static void on_readable(uv_poll_t *p, int status, int events)
{
	struct zdu_sockdiag *sd = p->data;
	static char buf[32768] __attribute__((aligned(8)));
	char err[160];

	(void)events;
	if (status < 0) {
		finish(sd, -1, uv_strerror(status));
		return;
	}
	for (;;) {
		ssize_t n = recv(sd->fd, buf, sizeof(buf), 0);
		enum zdu_sockdiag_rc rc;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return; /* the rest comes with the next readable event */
		if (n <= 0) {
			snprintf(err, sizeof(err), "netlink recv: %s", n < 0 ? strerror(errno) : "closed");
			finish(sd, -1, err);
			return;
		}
		rc = zdu_sockdiag_parse(buf, (size_t)n, sd->seq, &sd->filter, &sd->count, err, sizeof(err));
		if (rc == ZDU_SD_ERROR) {
			finish(sd, -1, err);
			return;
		}
		if (rc == ZDU_SD_DONE) {
			if (sd->family == AF_INET) {
				sd->family = AF_INET6;
				if (send_request(sd) < 0) {
					snprintf(err, sizeof(err), "netlink send: %s", strerror(errno));
					finish(sd, -1, err);
				}
				return;
			}
			finish(sd, 0, NULL);
			return;
		}
	}
}

int zdu_sockdiag_query(struct zdu_sockdiag *sd, const struct zdu_sockdiag_filter *f,
		       zdu_sockdiag_cb cb, void *data)
{
	if (sd->busy || sd->closing)
		return -1;
	sd->filter = *f;
	memset(&sd->count, 0, sizeof(sd->count));
	sd->cb = cb;
	sd->data = data;
	sd->family = AF_INET;
	if (send_request(sd) < 0)
		return -1;
	sd->busy = 1;
	uv_poll_start(&sd->poll, UV_READABLE, on_readable);
	return 0;
}

static void sd_closed(uv_handle_t *h)
{
	struct zdu_sockdiag *sd = h->data;

	close(sd->fd);
	free(sd);
}

void zdu_sockdiag_close(struct zdu_sockdiag *sd)
{
	sd->closing = 1;
	uv_close((uv_handle_t *)&sd->poll, sd_closed);
}
