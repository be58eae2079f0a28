/* The reply grammar: node state -> agent-check reply line. Pure: no I/O,
 * no clock, no globals, so every combination is unit tested. */
#ifndef ZDU_REPLY_H
#define ZDU_REPLY_H

#include <stddef.h>

#include "zdu/state-t.h"


/* Writes the reply for node, newline included, into buf (size at least
 * ZDU_REPLY_MAX) and returns its length. The reply always carries the
 * administrative token (ready/drain/maint; none in flag mode "lb") and the
 * operational token (up/down) once the health is known, so one reply fully
 * states the node and a missed probe never leaves HAProxy in a stale mix.
 * Free text after '#' says why; with node->detail ZDU_DETAIL_MINIMAL there
 * is none, except the word "lb-managed" alone in flag mode lb. */
size_t zdu_reply_format(const struct zdu_node_state *node, char *buf, size_t size);

/* The word that opens the text after '#' of every reply in flag mode "lb",
 * and of no other: the text of any other reply opens with "maintenance" or
 * "nova-api", which the agent writes itself, never with operator text. */
#define ZDU_REPLY_LB_WORD "lb-managed"

/* Whether REPLY, one agent-check line, is a reply of flag mode "lb", read
 * with HAProxy's grammar: words separated by spaces, tabs or commas, up to
 * a word that starts with '#'; the rest of the line is free text. True when
 * no word is administrative (ready, drain, maint: any case), every word is
 * one HAProxy knows (up, down, stopped, fail, N%, maxconn:N), and the free
 * text opens with "lb-managed", alone or followed by ':' or ';'. A reason
 * that merely contains the word does not count. */
int zdu_reply_is_lb_mode(const char *reply);

/* The same question asked of a load balancer: LAST_AGT is `show stat`'s
 * last_agt, which HAProxy writes for a reply with a health word as
 * "via agent : WORD (TEXT)": the word as received and the reply's free
 * text, cut at 127 bytes (administrative words and weights are not shown;
 * a reply without a health word leaves no such text). True when WORD is a
 * health word and TEXT opens with "lb-managed", alone or followed by ':',
 * ';' or ')'. */
int zdu_last_agt_is_lb_mode(const char *last_agt);

#endif
