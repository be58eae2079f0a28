/* The probe kinds, one file each as OpenBSD relayd's check_*.c:
 * check_nova.c, check_microversion.c, check_healthcheck.c, check_http.c,
 * check_tcp.c. Each turns one zdu_http_result (a whole HTTP answer, or a
 * connect for tcp) into ok / slow / failed with a reason prefixed by the
 * service's name ("placement: connection refused"), the version when the
 * kind knows one, and "disabled" for oslo's healthcheck. Pure functions: the
 * probe (probe.c) runs the requests, the kinds only judge them. check.c
 * holds what every kind shares: the transport's reasons and the slow split. */
#ifndef ZDU_CHECK_H
#define ZDU_CHECK_H

#include <jansson.h>
#include <stddef.h>

#include "zdu/config-t.h"
#include "zdu/health.h"
#include "zdu/http.h"
#include "zdu/state-t.h"

/* What a kind knows of its service: borrowed from zdu_service_cfg. */
struct zdu_check_ctx {
	const char *name;             /* the reason prefix: the service's name */
	long timeout_ms;              /* the service's timeout_ms */
	long limit_ms;                /* what this request was allowed (slow_timeout_ms for an up service) */
	const char *version_path;     /* microversion */
	const char *min_version_path; /* microversion, "" or NULL: not read */
	const char *version_header;   /* microversion, "" or NULL: none */
	const int *expect_status;     /* http; none: 200 */
	size_t nexpect;
};

struct zdu_check_result {
	enum zdu_probe_class cls;
	char reason[ZDU_REASON_MAX];      /* not OK: what a failure says ("" when OK) */
	char slow_reason[ZDU_REASON_MAX]; /* SLOW: how slow ("placement: slow: 1.2 s"), else "" */
	char version[ZDU_VERSION_MAX];    /* the maximum microversion, when the kind has one */
	char min_version[ZDU_VERSION_MAX];
	int disabled;                     /* healthcheck: disabled by file, the service's own maintenance */
	char disabled_reason[ZDU_REASON_MAX];
};

typedef void (*zdu_check_fn)(const struct zdu_check_ctx *c, const struct zdu_http_result *res,
			     struct zdu_check_result *out);

struct zdu_check_kind {
	const char *name;    /* as in the configuration: "nova", "microversion", ... */
	zdu_check_fn check;
	int connect_only;    /* a connect, no request (tcp) */
	int side_healthcheck; /* healthcheck_url may sit beside it (nova, microversion) */
};

/* The kind of enum zdu_probe_kind; the nova kind for a value out of range. */
const struct zdu_check_kind *zdu_check_kind(int kind);

/* The kinds (each in its check_KIND.c). */
void zdu_check_nova(const struct zdu_check_ctx *c, const struct zdu_http_result *res,
		    struct zdu_check_result *out);
void zdu_check_microversion(const struct zdu_check_ctx *c, const struct zdu_http_result *res,
			    struct zdu_check_result *out);
void zdu_check_healthcheck(const struct zdu_check_ctx *c, const struct zdu_http_result *res,
			   struct zdu_check_result *out);
void zdu_check_http(const struct zdu_check_ctx *c, const struct zdu_http_result *res,
		    struct zdu_check_result *out);
void zdu_check_tcp(const struct zdu_check_ctx *c, const struct zdu_http_result *res,
		   struct zdu_check_result *out);

/* ---- shared by the kinds (check.c) */

/* Did an HTTP answer (or, for tcp, a connection) come? 0 yes; else -1 and
 * reason "NAME: connection refused", "NAME: timeout after 450 ms",
 * "NAME: body over 65536 bytes", "NAME: TLS: ...". */
int zdu_check_transport(const char *name, const struct zdu_http_result *res, long timeout_ms, char *reason,
			size_t reason_size);

/* The slow/failed split every kind shares, once the kind has judged the
 * answer: good (nonzero) with reason unset, or bad with out->reason set.
 *   good within timeout_ms (or a request never allowed longer): OK;
 *   good but later: SLOW, "NAME: timeout after T ms" / "NAME: slow: 1.2 s";
 *   bad, cut by the time limit after connecting: SLOW, "NAME: slow: no answer in 5.0 s";
 *   bad, cut before connecting: FAILED "NAME: connect timeout";
 *   any other bad answer: FAILED with the kind's reason. */
void zdu_check_finish(const struct zdu_check_ctx *c, const struct zdu_http_result *res, int good,
		      struct zdu_check_result *out);

/* ---- the document parsers, pure, for the kinds, the tests and fuzzers */

/* Reads the value at PATH in a JSON document: keys and [index] joined by
 * dots ("versions[0].max_version", "version.version", "a.b[2][0].c"). Where
 * an index selects in an array named "versions" of several objects, the one
 * whose "status" is "CURRENT" is taken whatever the index. Returns the value
 * (borrowed from root), or NULL with reason ("no key 'max_version' at
 * versions[0]", "versions is an object, not a list"). A malformed PATH is
 * refused the same way ("path: ... at byte 9"). */
json_t *zdu_check_json_path(json_t *root, const char *path, char *reason, size_t reason_size);

/* Is PATH well formed? 0 yes, else -1 with a reason naming the byte. */
int zdu_check_path_valid(const char *path, char *reason, size_t reason_size);

/* A version document: the maximum at path (required) and the minimum at
 * min_path (NULL or "": not read; odd: left empty). 0 when a maximum
 * "MAJOR.MINOR" was found, else -1 with a reason. */
int zdu_check_version_doc(const char *body, size_t len, const char *path, const char *min_path,
			  char *version, char *min_version, char *reason, size_t reason_size);

/* oslo.middleware's healthcheck body (text/plain, application/json plain or
 * detailed, text/html): its reasons, sanitized, joined by ", ", bounded by
 * reason_size. Returns the number of reasons found (0: reason empty). */
int zdu_check_healthcheck_reasons(const char *body, size_t len, char *reason, size_t reason_size);

/* Does oslo's answer say its disable_by_file file is there? A 503 whose
 * reasons hold "DISABLED BY FILE". */
int zdu_check_healthcheck_disabled(long status, const char *body, size_t len);

#endif
