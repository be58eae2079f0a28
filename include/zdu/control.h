/* The control socket server: a unix stream socket, one request line per
 * connection, one JSON answer. The transport only: what a request means is
 * the handler's business, and the handler may answer later (wait-drained). */
#ifndef ZDU_CONTROL_H
#define ZDU_CONTROL_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "zdu/common.h"
#include "zdu/config-t.h"
#include "zdu/control_proto.h"
#include "zdu/control-t.h"

struct zdu_control;
struct zdu_control_client;

/* Binds cfg->control_socket. A stale socket left by a dead daemon is
 * replaced; a live one (another agent answers) or anything that is not a
 * socket is an error naming the path (NULL; what it opened is freed once
 * the loop has closed it). */
struct zdu_control *zdu_control_new(uv_loop_t *loop, const struct zdu_config *cfg,
				    const struct zdu_control_handler *h, char *err, size_t err_size);
/* {"clients", "max_clients", "refused", "abandoned"} for the status (null without a socket). */
json_t *zdu_control_status_json(const struct zdu_control *ctl);
/* The uid of the process at the other end (SO_PEERCRED); -1 if unknown. */
long zdu_control_peer_uid(struct zdu_control_client *c);
/* The handler needs up to ms for this request (an etcd write): its bound
 * becomes ms plus control.timeout_ms from the request line. */
void zdu_control_hold(struct zdu_control_client *c, uint64_t ms);
/* Sends obj (reference stolen) as the answer and closes the client. */
void zdu_control_reply(struct zdu_control_client *c, json_t *obj);
/* Closes every client (the handler's cancel runs for those it holds) and
 * the socket, and removes the socket file; frees itself once the loop has
 * closed its handles. */
void zdu_control_close(struct zdu_control *ctl);

#endif
