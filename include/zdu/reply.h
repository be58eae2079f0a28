/* The reply grammar: node state -> agent-check reply line. Pure: no I/O,
 * no clock, no globals, so every combination is unit tested. */
#ifndef ZDU_REPLY_H
#define ZDU_REPLY_H

#include <stddef.h>

#include "zdu/state-t.h"

/* The flag in force: the local file's when it is set, otherwise etcd's. */
const struct zdu_flag *zdu_node_flag(const struct zdu_node_state *node);

/* Writes the reply for node, newline included, into buf (size at least
 * ZDU_REPLY_MAX) and returns its length. The reply always carries the
 * administrative token (ready/drain/maint; none in flag mode "lb") and the
 * operational token (up/down) once the health is known, so one reply fully
 * states the node and a missed probe never leaves HAProxy in a stale mix.
 * Free text after '#' says why. */
size_t zdu_reply_format(const struct zdu_node_state *node, char *buf, size_t size);

#endif
