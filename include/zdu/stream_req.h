/* One request over a stream socket, on the loop: connect (a Unix socket or
 * a TCP address), write the request, read the answer until the peer closes,
 * or with one_line until the answer's first newline; bounded by a time
 * limit and a size. HAProxy's runtime API (haproxy_rt.c) and the agent's
 * control socket (link_unix.c) are both spoken this way. */
#ifndef ZDU_STREAM_REQ_H
#define ZDU_STREAM_REQ_H

#include <stddef.h>
#include <uv.h>
#include "zdu/stream_req-t.h"

/* Runs once, from the loop (never from inside zdu_stream_request()); res
 * and its answer are valid during the call only. */
typedef void (*zdu_sreq_cb)(const struct zdu_sreq_result *res, void *data);

/* Starts the request; -1 when it cannot (out of memory), and cb never runs. */
int zdu_stream_request(uv_loop_t *loop, const struct zdu_sreq *rq, zdu_sreq_cb cb, void *data);

#endif
