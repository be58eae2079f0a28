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
#include "zdu/sockdiag-t.h"

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
