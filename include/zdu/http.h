/* HTTP requests on the agent's own loop: libcurl's multi interface driven
 * by libuv (a uv_poll per socket, one uv_timer), as in curl's multi-uv
 * example. No thread, no blocking call: a request in flight never delays a
 * reply to HAProxy. Shared by the nova-api probe and the etcd client. */
#ifndef ZDU_HTTP_H
#define ZDU_HTTP_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "zdu/http-t.h"

struct zdu_http;
struct zdu_http_req;

typedef void (*zdu_http_cb)(const struct zdu_http_result *res, void *data);

struct zdu_http *zdu_http_new(uv_loop_t *loop);
/* Starts a GET (or a POST when o->post is set); cb runs exactly once from the loop (never from inside this
 * call), unless the request is cancelled first. NULL when out of memory. */
struct zdu_http_req *zdu_http_request(struct zdu_http *h, const struct zdu_http_opts *o, zdu_http_cb cb,
				  void *data);
void zdu_http_cancel(struct zdu_http_req *r);
/* Cancels what is in flight and frees everything once its handles closed. */
void zdu_http_close(struct zdu_http *h);

#endif
