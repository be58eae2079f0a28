#include "zdu/error.h"

const char *zdu_strerror(enum zdu_err err)
{
	switch (err) {
	case ZDU_OK: return "no error";
	case ZDU_ERR_NOMEM: return "out of memory";
	case ZDU_ERR_IO: return "input/output error";
	case ZDU_ERR_PARSE: return "parse error";
	case ZDU_ERR_RANGE: return "value out of range";
	case ZDU_ERR_TOO_BIG: return "input too big";
	case ZDU_ERR_UNKNOWN_KEY: return "unknown key";
	case ZDU_ERR_TYPE: return "wrong type";
	case ZDU_ERR_NOT_RUNNING: return "daemon not running";
	case ZDU_ERR_TIMEOUT: return "timed out";
	case ZDU_ERR_PROTO: return "protocol error";
	case ZDU_ERR_USAGE: return "usage error";
	case ZDU_ERR_EXISTS: return "already in use";
	case ZDU_ERR_LAST: break;
	}
	return "unknown error";
}

const char *zdu_err_text(enum zdu_err err, const char *msg)
{
	return msg && msg[0] ? msg : zdu_strerror(err);
}
