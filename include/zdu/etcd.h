/* An etcd v3 client over the JSON gateway (/v3/kv/range, /v3/watch, ...),
 * on the caller's libuv loop through zdu_http: no thread, no blocking call,
 * no client library. Keys and values are base64 on the wire and plain here.
 *
 * Requests go to the current endpoint; one that cannot be reached (or says
 * it has no leader) moves the client to the next, and the request is tried
 * there, until every endpoint failed once. */
#ifndef ZDU_ETCD_H
#define ZDU_ETCD_H
#include <uv.h>
#include "zdu/etcd-t.h"
#include "zdu/http.h"

struct zdu_etcd;
struct zdu_etcd_watch;

/* res and everything it points to are valid during the call only. */
typedef void (*zdu_etcd_cb)(const struct zdu_etcd_result *res, void *data);
typedef void (*zdu_etcd_watch_cb)(const struct zdu_etcd_watch_event *ev, void *data);

/* NULL with err when conf is unusable (no endpoint, an endpoint that is not
 * http:// or https://). */
struct zdu_etcd *zdu_etcd_new(uv_loop_t *loop, struct zdu_http *http, const struct zdu_etcd_conf *conf,
			      char *err, size_t err_size);
/* Ends every request and watch without calling back. */
void zdu_etcd_free(struct zdu_etcd *e);
const char *zdu_etcd_endpoint(const struct zdu_etcd *e);

/* Each starts a request; cb runs exactly once, from the loop. They return
 * -1 only when out of memory or a value is over ZDU_ETCD_MAX_VALUE (cb is
 * then never called). */
int zdu_etcd_get(struct zdu_etcd *e, const char *key, zdu_etcd_cb cb, void *data);
/* Several keys read at one revision (one txn): res->kvs holds those that
 * exist, in any order. */
int zdu_etcd_get_many(struct zdu_etcd *e, const char *const *keys, size_t n, zdu_etcd_cb cb, void *data);
/* Every key starting with prefix (at most limit of them; 0: no limit),
 * in key order, in one range request: res->kvs, res->more. */
int zdu_etcd_get_prefix(struct zdu_etcd *e, const char *prefix, long limit, zdu_etcd_cb cb, void *data);
/* Several ranges read at one revision (one txn): res->kvs holds every key
 * found, range after range; res->more if any range was cut by its limit. */
int zdu_etcd_read(struct zdu_etcd *e, const struct zdu_etcd_range *ranges, size_t n, zdu_etcd_cb cb,
		  void *data);
/* lease 0: none. */
int zdu_etcd_put(struct zdu_etcd *e, const char *key, const char *value, size_t len, int64_t lease,
		 zdu_etcd_cb cb, void *data);
int zdu_etcd_delete(struct zdu_etcd *e, const char *key, zdu_etcd_cb cb, void *data);
/* Puts only if key does not exist: res->succeeded, or the kv in its way in
 * res->kvs (a lock's holder). */
int zdu_etcd_create(struct zdu_etcd *e, const char *key, const char *value, size_t len, int64_t lease,
		    zdu_etcd_cb cb, void *data);
/* Puts only while guard exists under lease (a lock still held):
 * res->succeeded says whether it did. */
int zdu_etcd_put_guarded(struct zdu_etcd *e, const char *key, const char *value, size_t len,
			 const char *guard, int64_t lease, zdu_etcd_cb cb, void *data);
/* Puts only if key's mod_revision is still mod_revision (0: the key does
 * not exist): res->succeeded says whether it did. Optimistic concurrency:
 * read, decide, write only if nobody wrote in between. */
int zdu_etcd_put_if_unchanged(struct zdu_etcd *e, const char *key, const char *value, size_t len,
			      int64_t mod_revision, int64_t lease, zdu_etcd_cb cb, void *data);
int zdu_etcd_lease_grant(struct zdu_etcd *e, int ttl_s, zdu_etcd_cb cb, void *data);
/* res->ttl 0: the lease expired or was revoked. */
int zdu_etcd_lease_keepalive(struct zdu_etcd *e, int64_t lease, zdu_etcd_cb cb, void *data);
int zdu_etcd_lease_revoke(struct zdu_etcd *e, int64_t lease, zdu_etcd_cb cb, void *data);

/* Watches one key from start_rev (0: from now). Events come in order; the
 * watch ends only by zdu_etcd_watch_cancel() or with an ENDED event, after
 * which it is freed: reconnecting (with backoff) is the caller's choice.
 * The stream uses the current endpoint; a failure moves to the next. */
struct zdu_etcd_watch *zdu_etcd_watch_start(struct zdu_etcd *e, const char *key, int64_t start_rev,
					    zdu_etcd_watch_cb cb, void *data);
/* The same for every key in [key, range_end) (etcd's range_end, end_len
 * bytes; "\0" of length 1: every key from key on): one stream for many
 * keys. Events of every key in the range come, in revision order; keeping
 * only the wanted ones is the caller's part. */
struct zdu_etcd_watch *zdu_etcd_watch_range(struct zdu_etcd *e, const char *key, const char *range_end,
					    size_t end_len, int64_t start_rev, zdu_etcd_watch_cb cb, void *data);
/* Reads keys (one txn) from the watch's own endpoint, without moving on
 * to another: is the member the watch hangs on still answering, and did
 * the watch miss nothing? A failure moves the client off that endpoint. */
int zdu_etcd_watch_check(struct zdu_etcd_watch *w, const char *const *keys, size_t n, zdu_etcd_cb cb,
			 void *data);
/* The same with ranges (as zdu_etcd_read()): a range watch's own range. */
int zdu_etcd_watch_check_ranges(struct zdu_etcd_watch *w, const struct zdu_etcd_range *ranges, size_t n,
				zdu_etcd_cb cb, void *data);
/* No callback after this; safe from inside the watch's own callback. */
void zdu_etcd_watch_cancel(struct zdu_etcd_watch *w);
/* The same, and the client leaves the watch's endpoint: it did not answer
 * (a member that hangs accepts connections and says nothing). */
void zdu_etcd_watch_abandon(struct zdu_etcd_watch *w);

/* Parses one line of the watch stream (exposed for tests and the fuzzer).
 * Returns 0, or -1 with m->error saying why; free with ..._msg_free. */
int zdu_etcd_watch_parse(const char *line, size_t len, struct zdu_etcd_watch_msg *m);
void zdu_etcd_watch_msg_free(struct zdu_etcd_watch_msg *m);
/* Parses a unary answer's body into res (exposed for tests and fuzzing);
 * res->kvs must be freed with zdu_etcd_result_clear(). */
int zdu_etcd_parse_answer(const char *body, size_t len, struct zdu_etcd_result *res);
void zdu_etcd_result_clear(struct zdu_etcd_result *res);
/* Reads the token from an answer of /v3/auth/authenticate and makes the
 * request header carrying it ("Authorization: TOKEN", malloc'd, into
 * *header). A token of any length up to ZDU_ETCD_MAX_TOKEN is kept whole;
 * returns -1 with err saying why when there is none, it is longer, or it
 * holds a byte a header cannot carry (a space, a control character). */
int zdu_etcd_auth_header(const char *body, size_t len, char **header, char *err, size_t err_size);

/* etcd's range_end for "every key starting with prefix": the prefix with
 * its last byte below 0xff incremented and what follows cut; a prefix of
 * 0xff bytes only (or empty) gives "\0", every key from it on. Writes at
 * most size bytes into out and returns the length (not NUL-terminated;
 * size must be at least strlen(prefix), and 1). */
size_t zdu_etcd_prefix_end(const char *prefix, char *out, size_t size);

/* Base64 as the gateway wants it (standard alphabet, padded). encode
 * returns a malloc'd string; decode returns the length, or -1. */
char *zdu_b64_encode(const void *buf, size_t len);
long zdu_b64_decode(const char *s, size_t slen, char *out, size_t out_size);
#endif
