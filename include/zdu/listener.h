/* The agent-check listener. Answering one service, every accepted
 * connection gets its current reply at once (the agent never waits for
 * HAProxy's agent-send string). Answering several, it reads the name
 * HAProxy sends (agent-send "placement\n": one line, at most 63 bytes,
 * within agent.name_timeout_ms) and replies with that service's reply; a
 * connection that names none in time gets the first service's; an unknown
 * name or bytes no name has get a reply of only a comment, which changes
 * nothing on the load balancer. Then a half-close; input is read and
 * discarded until the peer closes, so the kernel never turns the close
 * into an RST that could eat the reply. */
#ifndef ZDU_LISTENER_H
#define ZDU_LISTENER_H

#include <stdint.h>
#include <uv.h>

#include "zdu/common.h"
#include "zdu/config-t.h"
#include "zdu/state.h"

struct zdu_listener_stats {
	uint64_t accepted;
	uint64_t evicted;   /* held connections closed early to make room */
	uint64_t timed_out; /* peers that did not close in time */
	uint64_t oversized; /* peers that sent more than max_request_bytes */
	uint64_t current;
	uint64_t by_name;   /* replies chosen by a name */
	uint64_t no_name;   /* connections that named none in time: the default's reply */
	uint64_t unknown;   /* names of no service here */
	uint64_t invalid;   /* bytes that are not a name */
};

/* A service the listener answers for; the state outlives the listener. */
struct zdu_listener_target {
	const char *name;
	const struct zdu_state *state;
};

struct zdu_listener;

/* Its counters, for the status. */
const struct zdu_listener_stats *zdu_listener_stats(const struct zdu_listener *l);

/* Binds every address of addrs (what names them in messages: "agent.listen")
 * and returns the listener answering for targets[0..n) (copied; the first
 * is the default), or NULL with err naming the address that failed (what
 * was bound is closed). Limits come from cfg. */
struct zdu_listener *zdu_listener_new(uv_loop_t *loop, const struct zdu_config *cfg,
				      const struct zdu_strlist *addrs, const char *what,
				      const struct zdu_listener_target *targets, size_t n, char *err,
				      size_t err_size);
/* Applies new limits (a reload that keeps the addresses). */
void zdu_listener_set_limits(struct zdu_listener *l, const struct zdu_config *cfg);
/* Closes the listening sockets and every held connection; the listener
 * frees itself once all its handles are closed. */
void zdu_listener_close(struct zdu_listener *l);

#endif
