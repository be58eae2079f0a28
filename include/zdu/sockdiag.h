/* Counting TCP connections to local ports through the kernel's
 * NETLINK_SOCK_DIAG (inet_diag), not by parsing another program's output.
 * The parser is pure (fuzzed); the query runs on the loop (uv_poll on a
 * non-blocking netlink socket). */
#ifndef ZDU_SOCKDIAG_H
#define ZDU_SOCKDIAG_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "zdu/hostport.h"

#define ZDU_SOCKDIAG_MAX_PORTS 16
#define ZDU_SOCKDIAG_MAX_FROM 32

struct zdu_sockdiag_filter {
	uint16_t ports[ZDU_SOCKDIAG_MAX_PORTS]; /* local ports, host order */
	size_t nports;
	/* Remote addresses to count (the load balancers); none: count all.
	 * IPv4 addresses are kept as v4-mapped IPv6. */
	struct in6_addr from[ZDU_SOCKDIAG_MAX_FROM];
	size_t nfrom;
	/* Local addresses to count on (the API's own addresses, where several
	 * APIs share a host and a port); none: any. */
	struct in6_addr local[ZDU_SOCKDIAG_MAX_FROM];
	size_t nlocal;
	uint32_t idle_ms; /* > 0: a connection quiet this long, with empty queues, is idle */
};

struct zdu_sockdiag_count {
	unsigned established; /* matching connections, idle ones excluded */
	unsigned idle;        /* matching connections quiet for idle_ms */
	unsigned seen;        /* every socket in the dump */
};

enum zdu_sockdiag_rc {
	ZDU_SD_MORE = 0, /* feed the next datagram */
	ZDU_SD_DONE = 1, /* NLMSG_DONE seen */
	ZDU_SD_ERROR = -1,
};

/* Parses one datagram of an inet_diag dump into acc; err says what was
 * wrong on ZDU_SD_ERROR. Messages of another sequence number than seq (a
 * dump abandoned earlier) are skipped; seq 0 takes every message. */
enum zdu_sockdiag_rc zdu_sockdiag_parse(const void *buf, size_t len, uint32_t seq,
					 const struct zdu_sockdiag_filter *f,
					 struct zdu_sockdiag_count *acc, char *err, size_t err_size);


struct zdu_sockdiag;
/* ok: 0 and count filled, or -1 with err. */
typedef void (*zdu_sockdiag_cb)(int ok, const struct zdu_sockdiag_count *count, const char *err,
				void *data);

struct zdu_sockdiag *zdu_sockdiag_new(uv_loop_t *loop, char *err, size_t err_size);
/* Dumps IPv4 then IPv6 TCP sockets in ESTABLISHED state and counts the
 * matching ones. One query at a time: returns -1 when one is running. */
int zdu_sockdiag_query(struct zdu_sockdiag *sd, const struct zdu_sockdiag_filter *f,
		       zdu_sockdiag_cb cb, void *data);
void zdu_sockdiag_close(struct zdu_sockdiag *sd);

#endif
