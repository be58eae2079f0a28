/* HAProxy's runtime API, for the coordinator: the `show stat` CSV parser
 * (pure; columns found by header name, so several HAProxy versions' column
 * sets parse alike) and an asynchronous client on libuv. */
#ifndef ZDU_HAPROXY_H
#define ZDU_HAPROXY_H

#include <stddef.h>
#include <uv.h>

#include "zdu/haproxy-t.h"

/* Parses `show stat` output and keeps the server rows of backend. Returns
 * 0, or -1 with err (a missing column is named). out->servers is malloc'd:
 * zdu_lb_backend_free(). out->found says whether the backend is there at
 * all, and out->backends names every backend there (for a message when it
 * is not). */
int zdu_stat_parse(const char *csv, size_t len, const char *backend, struct zdu_lb_backend *out,
		   char *err, size_t err_size);
void zdu_lb_backend_free(struct zdu_lb_backend *b);
const struct zdu_lb_server *zdu_lb_find(const struct zdu_lb_backend *b, const char *server);

/* Server states as the coordinator needs them. */
int zdu_lb_server_up(const struct zdu_lb_server *s);      /* UP, not drained, weight > 0 */
int zdu_lb_server_drained(const struct zdu_lb_server *s); /* DRAIN or MAINT */

/* One runtime API request: connects to addr ("unix:/path", "/path" or
 * "host:port"), sends cmd and a newline, and reads the answer until HAProxy
 * closes. cb runs once, from the loop: ok 0 with the answer, or -1 with err. */
typedef void (*zdu_rt_cb)(int ok, const char *answer, size_t len, const char *err, void *data);
int zdu_rt_request(uv_loop_t *loop, const char *addr, const char *cmd, unsigned timeout_ms, zdu_rt_cb cb,
		   void *data);

#endif
