/* The control protocol: one request line from the CLI, one JSON object
 * line back, then the daemon closes. Requests:
 *   status            the daemon's state (see zdu-agent(8))
 *   sync              re-read the flag sources now, then answer as status
 *   wait-drained MS   answer as status once the node is drained, or after MS
 *   ping              {"ok":true}
 */
#ifndef ZDU_CONTROL_PROTO_H
#define ZDU_CONTROL_PROTO_H

#include <stddef.h>

#include "zdu/error.h"

#define ZDU_CTL_LINE_MAX 1024

enum zdu_ctl_cmd {
	ZDU_CTL_STATUS,
	ZDU_CTL_SYNC,
	ZDU_CTL_WAIT_DRAINED,
	ZDU_CTL_PING,
};

struct zdu_ctl_req {
	enum zdu_ctl_cmd cmd;
	long long arg_ms; /* wait-drained */
};

/* Parses one request line (without its newline; a trailing '\r' is
 * accepted). On error err says what is wrong, for the error answer. */
enum zdu_err zdu_ctl_parse(const char *line, size_t len, struct zdu_ctl_req *req, char *err,
			   size_t err_size);
const char *zdu_ctl_cmd_name(enum zdu_ctl_cmd cmd);

#endif
