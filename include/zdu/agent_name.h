/* Reading the service name HAProxy sends on an agent-check connection
 * (agent-send "placement\n"): one line, bounded, fed in pieces as they
 * come (a peer may send a byte at a time). Pure: no I/O, no time. */
#ifndef ZDU_AGENT_NAME_H
#define ZDU_AGENT_NAME_H

#include <stddef.h>

#include "zdu/state-t.h"

enum zdu_name_status {
	ZDU_NAME_MORE = 0, /* no end of line yet */
	ZDU_NAME_DONE,     /* a line: the name (possibly empty) is in buf */
	ZDU_NAME_INVALID,  /* a byte that no name has, or a name too long */
};

struct zdu_name_reader {
	char buf[ZDU_SERVICE_MAX]; /* the name so far, NUL-terminated */
	size_t len;
	int cr;                    /* the last byte was '\r' */
	enum zdu_name_status status;
	char why[64];              /* ZDU_NAME_INVALID: what was wrong */
};

void zdu_name_reader_init(struct zdu_name_reader *r);
/* Feeds n bytes; returns the status, and in *used how many bytes were
 * taken (the rest follows the line and is not the name's). Once DONE or
 * INVALID, further calls change nothing. A '\r' right before the '\n' is
 * dropped; an empty line is DONE with an empty name. */
enum zdu_name_status zdu_name_feed(struct zdu_name_reader *r, const char *p, size_t n, size_t *used);
/* The peer closed (or half-closed) without a newline: what was read is
 * the whole name (DONE), unless it was already INVALID. */
enum zdu_name_status zdu_name_eof(struct zdu_name_reader *r);

#endif
