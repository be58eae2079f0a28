/* Types of one request over a stream socket (stream_req.h). */
#ifndef ZDU_STREAM_REQ_T_H
#define ZDU_STREAM_REQ_T_H

#include <stddef.h>

enum zdu_sreq_status {
	ZDU_SREQ_OK,       /* answer and len: what was read (NUL-terminated) */
	ZDU_SREQ_IO,       /* what ("connect", "write", "read") failed with uv_err */
	ZDU_SREQ_TIMEOUT,  /* no complete answer within the time limit */
	ZDU_SREQ_TOO_LONG, /* the answer reached max_answer bytes */
};

struct zdu_sreq_result {
	enum zdu_sreq_status status;
	const char *answer;
	size_t len;
	const char *what;
	int uv_err;
};

struct zdu_sreq {
	const char *path;          /* a Unix socket; NULL: addr */
	const struct sockaddr *addr;
	const char *req;           /* sent as it is (copied) */
	unsigned timeout_ms;
	size_t max_answer;
	int one_line;              /* the answer ends at its first newline */
};

#endif
