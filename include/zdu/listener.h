/* The agent-check listener: every accepted connection gets the current
 * reply at once (the agent never waits for HAProxy's agent-send string),
 * then a half-close; input is read and discarded until the peer closes, so
 * the kernel never turns the close into an RST that could eat the reply. */
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
};

struct zdu_listener;

/* Its counters, for the status. */
const struct zdu_listener_stats *zdu_listener_stats(const struct zdu_listener *l);

/* Binds every address of cfg->listen and returns the listener, or NULL
 * with err naming the address that failed (what was bound is closed). */
struct zdu_listener *zdu_listener_new(uv_loop_t *loop, const struct zdu_config *cfg,
				      const struct zdu_state *state, char *err, size_t err_size);
/* Applies new limits (a reload that keeps the addresses). */
void zdu_listener_set_limits(struct zdu_listener *l, const struct zdu_config *cfg);
/* Closes the listening sockets and every held connection; the listener
 * frees itself once all its handles are closed. */
void zdu_listener_close(struct zdu_listener *l);

#endif
