/* sockdiag.c: counting the TCP connections of local ports from the
 * kernel's inet_diag dump.
 *
 *   zdu_sockdiag_parse  on synthetic datagrams (nlmsghdr + inet_diag_msg +
 *                       optional INET_DIAG_INFO attribute carrying a struct
 *                       tcp_info): states and ports, the `from` filter with
 *                       IPv4 (kept v4-mapped) and IPv6, NLMSG_DONE,
 *                       NLMSG_ERROR, sequence numbers, idle connections,
 *                       and truncated or lying lengths (every datagram is
 *                       parsed from an exact-size heap copy, so ASan sees
 *                       any read past its end);
 *   zdu_sockdiag_addr   what it accepts;
 *   zdu_sockdiag_query  LIVE, against the running kernel: a listener on
 *                       loopback and three connections to it, so the parser
 *                       is checked against the kernel's real format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/tcp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "zdu/sockdiag.h"

#define ESTABLISHED 1
#define TIME_WAIT 6
#define CLOSE_WAIT 8
#define PORT 8774
#define SEQ 77

/* ------------------------------------------------------------ datagrams */

struct dgram {
	_Alignas(8) unsigned char b[16384];
	size_t len;
};

struct conn {
	int family;
	int state;
	uint16_t sport;
	const char *dst; /* remote address, text */
	uint32_t rq, wq;
	uint32_t seq;
	const struct tcp_info *ti; /* INET_DIAG_INFO, or none */
	size_t ti_len;             /* bytes of it sent (older kernels send fewer) */
	int lead_attr;             /* an INET_DIAG_MEMINFO of odd length first */
};

static void *put(struct dgram *d, size_t n)
{
	void *p = d->b + d->len;

	assert_true(d->len + NLMSG_ALIGN(n) <= sizeof(d->b));
	memset(p, 0, NLMSG_ALIGN(n));
	d->len += NLMSG_ALIGN(n);
	return p;
}

static void add_conn(struct dgram *d, const struct conn *c)
{
	size_t start = d->len, attrs = 0;
	struct nlmsghdr *h;
	struct inet_diag_msg *m;

	if (c->lead_attr)
		attrs += NLA_ALIGN(NLA_HDRLEN + 5);
	if (c->ti)
		attrs += NLA_ALIGN(NLA_HDRLEN + c->ti_len);
	h = put(d, NLMSG_HDRLEN);
	m = put(d, sizeof(*m));
	h->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	h->nlmsg_flags = NLM_F_MULTI;
	h->nlmsg_seq = c->seq ? c->seq : SEQ;
	m->idiag_family = (uint8_t)c->family;
	m->idiag_state = (uint8_t)c->state;
	m->id.idiag_sport = htons(c->sport);
	m->id.idiag_dport = htons(40000);
	if (c->family == AF_INET) {
		assert_int_equal(inet_pton(AF_INET, c->dst, &m->id.idiag_dst[0]), 1);
		assert_int_equal(inet_pton(AF_INET, "10.0.0.5", &m->id.idiag_src[0]), 1);
	} else {
		assert_int_equal(inet_pton(AF_INET6, c->dst, m->id.idiag_dst), 1);
		assert_int_equal(inet_pton(AF_INET6, "2001:db8::5", m->id.idiag_src), 1);
	}
	m->idiag_rqueue = c->rq;
	m->idiag_wqueue = c->wq;
	m->idiag_inode = 1234;
	if (c->lead_attr) {
		struct nlattr *a = put(d, NLA_HDRLEN + 5);

		a->nla_type = INET_DIAG_MEMINFO;
		a->nla_len = NLA_HDRLEN + 5;
	}
	if (c->ti) {
		struct nlattr *a = put(d, NLA_HDRLEN + c->ti_len);

		a->nla_type = INET_DIAG_INFO;
		a->nla_len = (uint16_t)(NLA_HDRLEN + c->ti_len);
		memcpy((char *)a + NLA_HDRLEN, c->ti, c->ti_len);
	}
	h->nlmsg_len = (uint32_t)(d->len - start);
	assert_int_equal(h->nlmsg_len, NLMSG_LENGTH(sizeof(*m)) + attrs);
}

static void add_done(struct dgram *d, uint32_t seq)
{
	struct nlmsghdr *h = put(d, NLMSG_LENGTH(sizeof(int)));

	h->nlmsg_len = NLMSG_LENGTH(sizeof(int));
	h->nlmsg_type = NLMSG_DONE;
	h->nlmsg_flags = NLM_F_MULTI;
	h->nlmsg_seq = seq;
}

static void add_error(struct dgram *d, uint32_t seq, int error)
{
	struct nlmsghdr *h = put(d, NLMSG_LENGTH(sizeof(struct nlmsgerr)));
	struct nlmsgerr *e = NLMSG_DATA(h);

	h->nlmsg_len = NLMSG_LENGTH(sizeof(*e));
	h->nlmsg_type = NLMSG_ERROR;
	h->nlmsg_seq = seq;
	e->error = error;
}

static struct zdu_sockdiag_filter filter(void)
{
	struct zdu_sockdiag_filter f;

	memset(&f, 0, sizeof(f));
	f.ports[0] = PORT;
	f.nports = 1;
	return f;
}

static void add_from(struct zdu_sockdiag_filter *f, const char *addr)
{
	assert_int_equal(zdu_sockdiag_addr(addr, &f->from[f->nfrom]), 0);
	f->nfrom++;
}

/* Parses LEN bytes of D from an exact-size heap copy. */
static enum zdu_sockdiag_rc parse_n(const struct dgram *d, size_t len, uint32_t seq,
				    const struct zdu_sockdiag_filter *f, struct zdu_sockdiag_count *acc,
				    char *err, size_t err_size)
{
	void *copy = malloc(len ? len : 1);
	enum zdu_sockdiag_rc rc;

	assert_non_null(copy);
	memcpy(copy, d->b, len);
	err[0] = '\0';
	rc = zdu_sockdiag_parse(copy, len, seq, f, acc, err, err_size);
	free(copy);
	return rc;
}

static enum zdu_sockdiag_rc parse(const struct dgram *d, const struct zdu_sockdiag_filter *f,
				  struct zdu_sockdiag_count *acc, char *err, size_t err_size)
{
	memset(acc, 0, sizeof(*acc));
	return parse_n(d, d->len, SEQ, f, acc, err, err_size);
}

static struct tcp_info quiet_for(uint32_t recv_ms, uint32_t sent_ms)
{
	struct tcp_info ti;

	memset(&ti, 0, sizeof(ti));
	ti.tcpi_state = ESTABLISHED;
	ti.tcpi_last_data_recv = recv_ms;
	ti.tcpi_last_data_sent = sent_ms;
	ti.tcpi_last_ack_recv = 1;
	return ti;
}

/* ------------------------------------------------------------ parse */

static void test_states_and_ports(void **state)
{
	struct dgram d = { .len = 0 };
	struct zdu_sockdiag_filter f = filter();
	struct zdu_sockdiag_count c;
	char err[160];

	(void)state;
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.1", 0, 0, 0, NULL, 0, 0 });
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.2", 0, 0, 0, NULL, 0, 0 });
	add_conn(&d, &(struct conn){ AF_INET6, ESTABLISHED, PORT, "2001:db8::1", 0, 0, 0, NULL, 0, 0 });
	add_conn(&d, &(struct conn){ AF_INET, TIME_WAIT, PORT, "192.0.2.3", 0, 0, 0, NULL, 0, 0 });
	add_conn(&d, &(struct conn){ AF_INET, CLOSE_WAIT, PORT, "192.0.2.3", 0, 0, 0, NULL, 0, 0 });
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT + 1, "192.0.2.1", 0, 0, 0, NULL, 0, 0 });
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, 40000, "192.0.2.1", 0, 0, 0, NULL, 0, 0 });
	/* the port in network order would be 0x4622: not a match either */
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, 0x4622, "192.0.2.1", 0, 0, 0, NULL, 0, 0 });

	assert_int_equal(parse(&d, &f, &c, err, sizeof(err)), ZDU_SD_MORE);
	assert_int_equal(c.established, 3);
	assert_int_equal(c.idle, 0);
	assert_int_equal(c.seen, 8);

	/* two ports */
	f.ports[1] = PORT + 1;
	f.nports = 2;
	assert_int_equal(parse(&d, &f, &c, err, sizeof(err)), ZDU_SD_MORE);
	assert_int_equal(c.established, 4);
	/* no ports: nothing matches */
	f.nports = 0;
	assert_int_equal(parse(&d, &f, &c, err, sizeof(err)), ZDU_SD_MORE);
	assert_int_equal(c.established, 0);
	assert_int_equal(c.seen, 8);

	/* counts accumulate over datagrams */
	f = filter();
	memset(&c, 0, sizeof(c));
	assert_int_equal(parse_n(&d, d.len, SEQ, &f, &c, err, sizeof(err)), ZDU_SD_MORE);
	assert_int_equal(parse_n(&d, d.len, SEQ, &f, &c, err, sizeof(err)), ZDU_SD_MORE);
	assert_int_equal(c.established, 6);
	assert_int_equal(c.seen, 16);

	/* an empty datagram, or less than a header: nothing, more to come */
	assert_int_equal(parse_n(&d, 0, SEQ, &f, &c, err, sizeof(err)), ZDU_SD_MORE);
	assert_int_equal(parse_n(&d, NLMSG_HDRLEN - 1, SEQ, &f, &c, err, sizeof(err)), ZDU_SD_MORE);
	assert_int_equal(c.seen, 16);
}

static void test_from_filter(void **state)
{
	struct dgram d = { .len = 0 };
	struct zdu_sockdiag_filter f = filter();
	struct zdu_sockdiag_count c;
	char err[160];

	(void)state;
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.1", 0, 0, 0, NULL, 0, 0 });
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.1", 0, 0, 0, NULL, 0, 0 });
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.2", 0, 0, 0, NULL, 0, 0 });
	/* an IPv4 client on a dual-stack listener: a v4-mapped peer */
	add_conn(&d, &(struct conn){ AF_INET6, ESTABLISHED, PORT, "::ffff:192.0.2.1", 0, 0, 0, NULL, 0, 0 });
	add_conn(&d, &(struct conn){ AF_INET6, ESTABLISHED, PORT, "2001:db8::1", 0, 0, 0, NULL, 0, 0 });
	add_conn(&d, &(struct conn){ AF_INET6, ESTABLISHED, PORT, "2001:db8::2", 0, 0, 0, NULL, 0, 0 });
	/* 192.0.2.1 as the first 4 bytes of an IPv6 address is not 192.0.2.1 */
	add_conn(&d, &(struct conn){ AF_INET6, ESTABLISHED, PORT, "c000:201::", 0, 0, 0, NULL, 0, 0 });

	add_from(&f, "192.0.2.1");
	assert_int_equal(parse(&d, &f, &c, err, sizeof(err)), ZDU_SD_MORE);
	assert_int_equal(c.established, 3);
	assert_int_equal(c.seen, 7);

	f = filter();
	add_from(&f, "2001:db8::1");
	assert_int_equal(parse(&d, &f, &c, err, sizeof(err)), ZDU_SD_MORE);
	assert_int_equal(c.established, 1);

	f = filter();
	add_from(&f, "192.0.2.2");
	add_from(&f, "2001:db8::2");
	add_from(&f, "::ffff:192.0.2.1"); /* written v4-mapped: the same address */
	assert_int_equal(parse(&d, &f, &c, err, sizeof(err)), ZDU_SD_MORE);
	assert_int_equal(c.established, 5);

	f = filter();
	add_from(&f, "198.51.100.1");
	assert_int_equal(parse(&d, &f, &c, err, sizeof(err)), ZDU_SD_MORE);
	assert_int_equal(c.established, 0);
	assert_int_equal(c.seen, 7);

	/* the full table */
	f = filter();
	while (f.nfrom < ZDU_SOCKDIAG_MAX_FROM - 1)
		add_from(&f, "198.51.100.1");
	add_from(&f, "2001:db8::2");
	assert_int_equal(parse(&d, &f, &c, err, sizeof(err)), ZDU_SD_MORE);
	assert_int_equal(c.established, 1);
}

static void test_done(void **state)
{
	struct dgram d = { .len = 0 };
	struct zdu_sockdiag_filter f = filter();
	struct zdu_sockdiag_count c;
	char err[160];

	(void)state;
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.1", 0, 0, 0, NULL, 0, 0 });
	add_done(&d, SEQ);
	/* after DONE nothing is read */
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.1", 0, 0, 0, NULL, 0, 0 });
	assert_int_equal(parse(&d, &f, &c, err, sizeof(err)), ZDU_SD_DONE);
	assert_int_equal(c.established, 1);
	assert_int_equal(c.seen, 1);

	d.len = 0;
	add_done(&d, SEQ);
	assert_int_equal(parse(&d, &f, &c, err, sizeof(err)), ZDU_SD_DONE);
	assert_int_equal(c.seen, 0);
}

/* Found by the fuzzer: strerror(-INT_MIN) was undefined behaviour (a
 * corrupted message; no kernel sends it). Run under UBSan in run-all. */
static void test_fixed_nlmsgerr_int_min(void **state)
{
	struct dgram d = { .len = 0 };
	struct zdu_sockdiag_filter f = filter();
	struct zdu_sockdiag_count c;
	char err[160];

	(void)state;
	add_error(&d, SEQ, INT_MIN);
	assert_int_equal(parse(&d, &f, &c, err, sizeof(err)), ZDU_SD_ERROR);
	assert_non_null(strstr(err, "sock_diag refused"));
	d.len = 0;
	add_error(&d, SEQ, INT_MAX);
	assert_int_equal(parse(&d, &f, &c, err, sizeof(err)), ZDU_SD_ERROR);
}

static void test_error(void **state)
{
	struct dgram d = { .len = 0 };
	struct zdu_sockdiag_filter f = filter();
	struct zdu_sockdiag_count c;
	char err[160], want[128];

	(void)state;
	add_error(&d, SEQ, -EPERM);
	assert_int_equal(parse(&d, &f, &c, err, sizeof(err)), ZDU_SD_ERROR);
	snprintf(want, sizeof(want), "%s", strerror(EPERM));
	if (!strstr(err, want))
		fail_msg("\"%s\" does not say \"%s\"", err, want);

	d.len = 0;
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.1", 0, 0, 0, NULL, 0, 0 });
	add_error(&d, SEQ, -ENOENT);
	assert_int_equal(parse(&d, &f, &c, err, sizeof(err)), ZDU_SD_ERROR);
	assert_non_null(strstr(err, strerror(ENOENT)));

	/* an error message too short to hold the error code */
	d.len = 0;
	{
		struct nlmsghdr *h = put(&d, NLMSG_HDRLEN + 4);

		h->nlmsg_len = NLMSG_HDRLEN + 4;
		h->nlmsg_type = NLMSG_ERROR;
		h->nlmsg_seq = SEQ;
	}
	assert_int_equal(parse(&d, &f, &c, err, sizeof(err)), ZDU_SD_ERROR);
	assert_non_null(strstr(err, "truncated"));
}

static void test_seq(void **state)
{
	struct dgram d = { .len = 0 };
	struct zdu_sockdiag_filter f = filter();
	struct zdu_sockdiag_count c;
	char err[160];

	(void)state;
	/* the rest of an abandoned dump (seq 76), its DONE and an error: skipped */
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.1", 0, 0, SEQ - 1, NULL, 0, 0 });
	add_done(&d, SEQ - 1);
	add_error(&d, SEQ - 1, -EBUSY);
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.2", 0, 0, SEQ, NULL, 0, 0 });
	assert_int_equal(parse(&d, &f, &c, err, sizeof(err)), ZDU_SD_MORE);
	assert_int_equal(c.established, 1);
	assert_int_equal(c.seen, 1);

	/* seq 0 takes every message: the first DONE ends it */
	memset(&c, 0, sizeof(c));
	assert_int_equal(parse_n(&d, d.len, 0, &f, &c, err, sizeof(err)), ZDU_SD_DONE);
	assert_int_equal(c.established, 1);
}

static void test_idle(void **state)
{
	struct tcp_info quiet = quiet_for(5000, 5000), edge = quiet_for(1000, 1000),
			recent_recv = quiet_for(999, 5000), recent_sent = quiet_for(5000, 999);
	const size_t full = sizeof(struct tcp_info);
	const size_t old = offsetof(struct tcp_info, tcpi_last_ack_recv);
	struct dgram d = { .len = 0 };
	struct zdu_sockdiag_filter f = filter();
	struct zdu_sockdiag_count c;
	char err[160];

	(void)state;
	f.idle_ms = 1000;
	/* idle: quiet both ways for at least idle_ms, queues empty */
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.1", 0, 0, 0, &quiet, full, 0 });
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.1", 0, 0, 0, &edge, full, 0 });
	add_conn(&d, &(struct conn){ AF_INET6, ESTABLISHED, PORT, "2001:db8::1", 0, 0, 0, &quiet, full, 1 });
	/* a tcp_info that ends just after tcpi_last_data_recv still has both */
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.1", 0, 0, 0, &quiet, old, 0 });
	assert_int_equal(parse(&d, &f, &c, err, sizeof(err)), ZDU_SD_MORE);
	assert_int_equal(c.idle, 4);
	assert_int_equal(c.established, 0);

	/* not idle */
	d.len = 0;
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.1", 0, 0, 0, &recent_recv, full, 0 });
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.1", 0, 0, 0, &recent_sent, full, 0 });
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.1", 1, 0, 0, &quiet, full, 0 });
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.1", 0, 1, 0, &quiet, full, 0 });
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.1", 0, 0, 0, NULL, 0, 0 });
	/* an older kernel's shorter tcp_info, without the fields */
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.1", 0, 0, 0, &quiet, old - 1, 0 });
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.1", 0, 0, 0, &quiet, 0, 0 });
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.1", 0, 0, 0, NULL, 0, 1 });
	assert_int_equal(parse(&d, &f, &c, err, sizeof(err)), ZDU_SD_MORE);
	assert_int_equal(c.idle, 0);
	assert_int_equal(c.established, 8);

	/* idle_ms 0: nobody is idle, whatever tcp_info says */
	d.len = 0;
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.1", 0, 0, 0, &quiet, full, 0 });
	f.idle_ms = 0;
	assert_int_equal(parse(&d, &f, &c, err, sizeof(err)), ZDU_SD_MORE);
	assert_int_equal(c.idle, 0);
	assert_int_equal(c.established, 1);
	/* idle connections from another address or port are not counted */
	f.idle_ms = 1000;
	add_from(&f, "192.0.2.9");
	assert_int_equal(parse(&d, &f, &c, err, sizeof(err)), ZDU_SD_MORE);
	assert_int_equal(c.idle + c.established, 0);
	/* a tcp_info longer than this build's (a newer kernel) is fine */
	{
		struct tcp_info big[2];

		memset(big, 0, sizeof(big));
		big[0] = quiet;
		d.len = 0;
		add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.1", 0, 0, 0, big, sizeof(big), 0 });
		f = filter();
		f.idle_ms = 1000;
		assert_int_equal(parse(&d, &f, &c, err, sizeof(err)), ZDU_SD_MORE);
		assert_int_equal(c.idle, 1);
	}
}

/* Attributes whose lengths lie: the connection is counted, not idle, and
 * nothing is read past the message (ASan). */
static void test_bad_attributes(void **state)
{
	struct tcp_info quiet = quiet_for(5000, 5000);
	static const uint16_t lens[] = { 0, 1, 3, 4, 5, 200, 0xffff };
	struct zdu_sockdiag_filter f = filter();
	size_t i;

	(void)state;
	f.idle_ms = 1000;
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct dgram d = { .len = 0 };
		struct zdu_sockdiag_count c;
		struct nlattr *a;
		char err[160];

		add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.1", 0, 0, 0, &quiet, 64, 0 });
		a = (struct nlattr *)(d.b + NLMSG_LENGTH(sizeof(struct inet_diag_msg)));
		a->nla_len = lens[i];
		assert_int_equal(parse(&d, &f, &c, err, sizeof(err)), ZDU_SD_MORE);
		assert_int_equal(c.seen, 1);
		assert_int_equal(c.established + c.idle, 1);
		if (lens[i] < offsetof(struct tcp_info, tcpi_last_ack_recv) + NLA_HDRLEN)
			assert_int_equal(c.idle, 0);
	}
}

/* Messages whose lengths lie, and every prefix of a real-looking datagram:
 * an error or "more", never a read past the end. */
static void test_truncated(void **state)
{
	struct tcp_info quiet = quiet_for(5000, 5000);
	struct dgram d = { .len = 0 };
	struct zdu_sockdiag_filter f = filter();
	struct zdu_sockdiag_count c;
	size_t bounds[8], nb = 0, len, i;
	char err[160];

	(void)state;
	f.idle_ms = 1000;
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.1", 0, 0, 0, &quiet, sizeof(quiet), 1 });
	bounds[nb++] = d.len;
	add_conn(&d, &(struct conn){ AF_INET6, ESTABLISHED, PORT, "2001:db8::1", 0, 0, 0, NULL, 0, 0 });
	bounds[nb++] = d.len;
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.1", 0, 0, 0, &quiet, 40, 0 });
	bounds[nb++] = d.len;
	add_done(&d, SEQ);

	for (len = 0; len <= d.len; len++) {
		enum zdu_sockdiag_rc rc;
		size_t done = 0;
		int at_bound = len == 0;

		memset(&c, 0, sizeof(c));
		rc = parse_n(&d, len, SEQ, &f, &c, err, sizeof(err));
		for (i = 0; i < nb; i++) {
			done += len >= bounds[i];
			at_bound |= len == bounds[i];
		}
		if (len == d.len) {
			assert_int_equal(rc, ZDU_SD_DONE);
		} else if (at_bound) {
			/* ends on a message boundary: what is complete, more to come */
			assert_int_equal(rc, ZDU_SD_MORE);
		} else {
			size_t rest = len - (done ? bounds[done - 1] : 0);

			/* a partial header is ignored, a partial message is an error */
			if (rc != (rest < NLMSG_HDRLEN ? ZDU_SD_MORE : ZDU_SD_ERROR))
				fail_msg("%zu of %zu bytes: rc %d (%s)", len, d.len, rc, err);
			if (rc == ZDU_SD_ERROR)
				assert_non_null(strstr(err, "overruns"));
		}
		if (c.seen != done)
			fail_msg("%zu of %zu bytes: %u seen, want %zu", len, d.len, c.seen, done);
		assert_int_equal(c.idle, done >= 1 ? 1 : 0);
		assert_int_equal(c.established, done >= 2 ? done - 1 : 0);
	}

	/* nlmsg_len of the first message: every value around the truth */
	for (len = 0; len <= bounds[0] + 64; len++) {
		struct nlmsghdr *h = (struct nlmsghdr *)(void *)d.b;
		uint32_t keep = h->nlmsg_len;

		h->nlmsg_len = (uint32_t)len;
		memset(&c, 0, sizeof(c));
		{
			enum zdu_sockdiag_rc rc = parse_n(&d, d.len, SEQ, &f, &c, err, sizeof(err));

			if (len < NLMSG_HDRLEN)
				assert_int_equal(rc, ZDU_SD_ERROR);
			else if (len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
				assert_int_equal(rc, ZDU_SD_ERROR);
			assert_true(rc == ZDU_SD_ERROR || rc == ZDU_SD_MORE || rc == ZDU_SD_DONE);
		}
		h->nlmsg_len = 0xffffffffu;
		assert_int_equal(parse_n(&d, d.len, SEQ, &f, &c, err, sizeof(err)), ZDU_SD_ERROR);
		h->nlmsg_len = keep;
	}

	/* a message that says it is shorter than an inet_diag_msg */
	d.len = 0;
	add_conn(&d, &(struct conn){ AF_INET, ESTABLISHED, PORT, "192.0.2.1", 0, 0, 0, NULL, 0, 0 });
	((struct nlmsghdr *)(void *)d.b)->nlmsg_len = NLMSG_HDRLEN + 40;
	d.len = NLMSG_HDRLEN + 40;
	assert_int_equal(parse(&d, &f, &c, err, sizeof(err)), ZDU_SD_ERROR);
	assert_non_null(strstr(err, "truncated inet_diag"));
	assert_int_equal(c.seen, 0);
}

static void test_addr(void **state)
{
	struct in6_addr a, b;
	static const unsigned char v4m[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1 };
	static const char *const bad[] = { "", "192.0.2", "192.0.2.256", "192.0.2.1/32", "host.example",
					   "[2001:db8::1]", "2001:db8::1::2", "192.0.2.1 ", "::g" };
	size_t i;

	(void)state;
	assert_int_equal(zdu_sockdiag_addr("192.0.2.1", &a), 0);
	assert_memory_equal(a.s6_addr, v4m, 16);
	assert_int_equal(zdu_sockdiag_addr("::ffff:192.0.2.1", &b), 0);
	assert_memory_equal(&a, &b, 16);
	assert_int_equal(zdu_sockdiag_addr("2001:db8::1", &a), 0);
	assert_int_equal(a.s6_addr[0], 0x20);
	assert_int_equal(a.s6_addr[1], 0x01);
	assert_int_equal(a.s6_addr[15], 0x01);
	assert_int_equal(zdu_sockdiag_addr("::1", &a), 0);
	assert_true(IN6_IS_ADDR_LOOPBACK(&a));
	assert_int_equal(zdu_sockdiag_addr("127.0.0.1", &a), 0);
	assert_true(IN6_IS_ADDR_V4MAPPED(&a));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (zdu_sockdiag_addr(bad[i], &a) != -1)
			fail_msg("\"%s\" accepted", bad[i]);
}

/* ------------------------------------------------------------ live */

struct live {
	int done, ok;
	struct zdu_sockdiag_count count;
	char err[256];
};

static void on_count(int ok, const struct zdu_sockdiag_count *count, const char *err, void *data)
{
	struct live *l = data;

	l->done = 1;
	l->ok = ok;
	l->count = *count;
	snprintf(l->err, sizeof(l->err), "%s", err ? err : "");
}

static struct zdu_sockdiag_count live_query(uv_loop_t *loop, struct zdu_sockdiag *sd,
					    const struct zdu_sockdiag_filter *f)
{
	struct live l;

	memset(&l, 0, sizeof(l));
	assert_int_equal(zdu_sockdiag_query(sd, f, on_count, &l), 0);
	/* one query at a time */
	assert_int_equal(zdu_sockdiag_query(sd, f, on_count, &l), -1);
	while (!l.done)
		assert_true(uv_run(loop, UV_RUN_ONCE) >= 0 || l.done);
	if (l.ok != 0)
		fail_msg("query failed: %s", l.err);
	return l.count;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* A listener on ADDR (family FAM) and N connections to it, accepted. */
static int live_setup(int fam, const char *addr, int n, int *lfd, int *cfd, int *sfd, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int i;

	memset(&ss, 0, sizeof(ss));
	if (fam == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		inet_pton(AF_INET, addr, &s4->sin_addr);
		sl = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, addr, &s6->sin6_addr);
		sl = sizeof(*s6);
	}
	*lfd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*lfd < 0)
		return -1;
	if (bind(*lfd, (struct sockaddr *)&ss, sl) < 0 || listen(*lfd, 16) < 0) {
		close(*lfd);
		return -1;
	}
	assert_int_equal(getsockname(*lfd, (struct sockaddr *)&ss, &sl), 0);
	*port = ntohs(fam == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
				     : ((struct sockaddr_in6 *)&ss)->sin6_port);
	for (i = 0; i < n; i++) {
		cfd[i] = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(cfd[i] >= 0);
		assert_int_equal(connect(cfd[i], (struct sockaddr *)&ss, sl), 0);
		sfd[i] = accept(*lfd, NULL, NULL);
		assert_true(sfd[i] >= 0);
	}
	return 0;
}

static void test_live_query(void **state)
{
	int lfd, cfd[3], sfd[3], i;
	uint16_t port;
	uv_loop_t loop;
	struct zdu_sockdiag *sd;
	struct zdu_sockdiag_filter f;
	struct zdu_sockdiag_count c;
	char err[256];

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	sd = zdu_sockdiag_new(&loop, err, sizeof(err));
	if (!sd) {
		uv_loop_close(&loop);
		skip(); /* no NETLINK_SOCK_DIAG here (a restricted sandbox) */
	}
	assert_int_equal(live_setup(AF_INET, "127.0.0.1", 3, &lfd, cfd, sfd, &port), 0);

	memset(&f, 0, sizeof(f));
	f.ports[0] = port;
	f.nports = 1;
	c = live_query(&loop, sd, &f);
	assert_int_equal(c.established, 3); /* the accepted ends, not the clients' */
	assert_int_equal(c.idle, 0);
	assert_true(c.seen >= 6);

	add_from(&f, "127.0.0.1");
	c = live_query(&loop, sd, &f);
	assert_int_equal(c.established, 3);
	f.nfrom = 0;
	add_from(&f, "192.0.2.1");
	add_from(&f, "::1");
	c = live_query(&loop, sd, &f);
	assert_int_equal(c.established, 0);

	/* INET_DIAG_INFO as the kernel sends it: after 150 ms of silence all
	 * three are idle for 20 ms; one byte left unread in a receive queue
	 * makes that connection busy again. */
	f.nfrom = 0;
	f.idle_ms = 20;
	sleep_ms(150);
	c = live_query(&loop, sd, &f);
	assert_int_equal(c.idle, 3);
	assert_int_equal(c.established, 0);
	assert_int_equal(write(cfd[1], "x", 1), 1);
	sleep_ms(20);
	c = live_query(&loop, sd, &f);
	assert_int_equal(c.idle, 2);
	assert_int_equal(c.established, 1);
	f.idle_ms = 0;
	c = live_query(&loop, sd, &f);
	assert_int_equal(c.established, 3);

	/* closed by the client: CLOSE_WAIT on our side, no longer counted */
	close(cfd[0]);
	sleep_ms(20);
	c = live_query(&loop, sd, &f);
	assert_int_equal(c.established, 2);

	zdu_sockdiag_close(sd);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	for (i = 0; i < 3; i++) {
		if (i)
			close(cfd[i]);
		close(sfd[i]);
	}
	close(lfd);
}

/* The same over IPv6 loopback (the second half of every query). */
static void test_live_query_v6(void **state)
{
	int lfd, cfd[2], sfd[2], i;
	uint16_t port;
	uv_loop_t loop;
	struct zdu_sockdiag *sd;
	struct zdu_sockdiag_filter f;
	struct zdu_sockdiag_count c;
	char err[256];

	(void)state;
	if (live_setup(AF_INET6, "::1", 2, &lfd, cfd, sfd, &port) < 0)
		skip(); /* no IPv6 loopback here */
	assert_int_equal(uv_loop_init(&loop), 0);
	sd = zdu_sockdiag_new(&loop, err, sizeof(err));
	if (!sd) {
		uv_loop_close(&loop);
		skip();
	}
	memset(&f, 0, sizeof(f));
	f.ports[0] = port;
	f.nports = 1;
	c = live_query(&loop, sd, &f);
	assert_int_equal(c.established, 2);
	add_from(&f, "::1");
	c = live_query(&loop, sd, &f);
	assert_int_equal(c.established, 2);
	f.nfrom = 0;
	add_from(&f, "127.0.0.1");
	c = live_query(&loop, sd, &f);
	assert_int_equal(c.established, 0);

	zdu_sockdiag_close(sd);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	for (i = 0; i < 2; i++) {
		close(cfd[i]);
		close(sfd[i]);
	}
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_states_and_ports),
		cmocka_unit_test(test_from_filter),
		cmocka_unit_test(test_done),
		cmocka_unit_test(test_error),
		cmocka_unit_test(test_seq),
		cmocka_unit_test(test_idle),
		cmocka_unit_test(test_bad_attributes),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_live_query),
		cmocka_unit_test(test_live_query_v6),
		cmocka_unit_test(test_fixed_nlmsgerr_int_min),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
