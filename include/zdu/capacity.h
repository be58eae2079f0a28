/* Capacity during a rollout: may a server go out of service on one load
 * balancer while enough of the others serve? Pure (no I/O, no clock), so the
 * coordinator's decision is unit-tested on its own. */
#ifndef ZDU_CAPACITY_H
#define ZDU_CAPACITY_H

#include <stddef.h>

#include "zdu/haproxy-t.h"
#include "zdu/capacity-t.h"

/* May server `leaving` of backend b go out of service on this load balancer
 * with min_ready kept? Yes (1) when at least min_ready of the other servers
 * serve (UP or "no check", not drained, weight above 0: as zdu_lb_server_up),
 * or when `leaving` does not serve itself: a server already out (drained by
 * its step, DOWN) takes nothing away by staying out. Otherwise 0. cap (may be
 * NULL) gets the counts. why (may be NULL) gets the other servers that do not
 * serve, as "node3 DOWN (agent) weight 0, node4 DRAIN weight 100", truncated
 * to why_size; "" when every other server serves. */
int zdu_capacity_may_leave(const struct zdu_lb_backend *b, const char *leaving, int min_ready,
			   struct zdu_capacity *cap, char *why, size_t why_size);

#endif
