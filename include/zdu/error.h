/* Error codes shared by every module, as curl's CURLcode: one enum, one
 * strerror, so any failure can be named in a log line or a CLI message. */
#ifndef ZDU_ERROR_H
#define ZDU_ERROR_H

enum zdu_err {
	ZDU_OK = 0,
	ZDU_ERR_NOMEM,       /* out of memory */
	ZDU_ERR_IO,          /* a system call failed; errno-style detail in the message */
	ZDU_ERR_PARSE,       /* input could not be parsed */
	ZDU_ERR_RANGE,       /* a value is outside its allowed range */
	ZDU_ERR_TOO_BIG,     /* input over its size cap */
	ZDU_ERR_UNKNOWN_KEY, /* configuration key not known */
	ZDU_ERR_TYPE,        /* configuration value of the wrong type */
	ZDU_ERR_NOT_RUNNING, /* the daemon's control socket does not answer */
	ZDU_ERR_TIMEOUT,     /* a wait ran out of time */
	ZDU_ERR_PROTO,       /* a peer broke the protocol */
	ZDU_ERR_USAGE,       /* wrong command line */
	ZDU_ERR_EXISTS,      /* something is in the way (address in use, lock held) */
	ZDU_ERR_LAST
};

const char *zdu_strerror(enum zdu_err err);
/* What to say of a failure: msg, the words the failing call wrote, or
 * zdu_strerror(err) when it wrote none (msg NULL or ""), so that an error
 * line never ends empty. */
const char *zdu_err_text(enum zdu_err err, const char *msg);

/* Process exit codes, documented in zdu-agent(8). */
enum zdu_exit {
	ZDU_EXIT_OK = 0,
	ZDU_EXIT_ERROR = 1,
	ZDU_EXIT_USAGE = 2,
	ZDU_EXIT_TIMEOUT = 3,
};

#endif
