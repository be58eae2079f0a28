/* Types of the etcd v3 client, shared by the agent (flags, published state)
 * and the coordinator (flags, lock, journal). */
#ifndef ZDU_ETCD_T_H
#define ZDU_ETCD_T_H
#include <stddef.h>
#include <stdint.h>
#include "zdu/error.h"

/* A value larger than this is refused by the client; etcd's own default
 * request limit is 1.5 MiB. */
#define ZDU_ETCD_MAX_VALUE (2u * 1024 * 1024)

/* The longest authentication token the client accepts. etcd's simple
 * tokens are 16 letters and an index; its JWTs carry a signature as long
 * as the key (about 800 characters with RS256 and a 4096-bit key). A
 * token past this is refused with an error, never cut short. */
#define ZDU_ETCD_MAX_TOKEN 16384u

/* Where the cluster is and how to speak to it (the client keeps copies). */
struct zdu_etcd_conf {
	char **endpoints; /* "http://127.0.0.21:2379", tried in turn */
	size_t nendpoints;
	const char *ca_file;   /* https: CA bundle */
	const char *cert_file; /* https: client certificate */
	const char *key_file;  /* https: client key */
	const char *user;      /* with password: etcd authentication */
	const char *password;
	int timeout_ms;        /* one request, connect included */
};

struct zdu_etcd_kv {
	char *key;
	char *value; /* NUL-terminated for convenience; may hold NULs itself */
	size_t len;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t lease;
};

struct zdu_etcd_result {
	enum zdu_err err;     /* ZDU_OK; ZDU_ERR_IO: no endpoint answered;
	                       * ZDU_ERR_PROTO: an answer we cannot read;
	                       * ZDU_ERR_EXISTS: etcd refused (message says why) */
	char msg[512];        /* what failed, naming the endpoint */
	const char *endpoint; /* the endpoint that answered (or failed last) */
	int64_t revision;     /* the store's revision in the answer's header */
	struct zdu_etcd_kv *kvs; /* range, and a failed create: what is there */
	size_t nkvs;
	int succeeded;        /* txn: the comparison held */
	int64_t deleted;      /* delete: how many keys went (0: there was none) */
	int64_t lease_id;     /* lease grant, keepalive */
	int64_t ttl;          /* lease: seconds left; 0: the lease is gone */
	int more;             /* range: more keys matched than its limit let through */
};

/* One range of zdu_etcd_read(): the key alone, or (prefix) every key that
 * starts with it, or (range_end_len > 0) every key from key up to, not
 * including, range_end (etcd's own [key, range_end), for a range that is
 * not a prefix); limit 0: no limit, else at most that many keys (res->more
 * says whether there were more). */
struct zdu_etcd_range {
	const char *key;
	int prefix;
	long limit;
	const char *range_end; /* with range_end_len: wins over prefix */
	size_t range_end_len;
};

enum zdu_etcd_watch_kind {
	ZDU_ETCD_WATCH_CREATED,   /* the watch runs; revision: the store's */
	ZDU_ETCD_WATCH_PUT,       /* kv was written */
	ZDU_ETCD_WATCH_DELETE,    /* kv.key was deleted (or its lease expired) */
	ZDU_ETCD_WATCH_PROGRESS,  /* nothing changed up to revision */
	ZDU_ETCD_WATCH_COMPACTED, /* history up to compact_revision is gone:
	                           * read the keys again, then watch anew */
	ZDU_ETCD_WATCH_ENDED,     /* the stream broke (msg says why); the watch
	                           * is freed after this callback */
};

struct zdu_etcd_watch_event {
	enum zdu_etcd_watch_kind kind;
	int64_t revision;         /* header revision of the message */
	int64_t compact_revision; /* COMPACTED */
	const struct zdu_etcd_kv *kv; /* PUT, DELETE */
	const char *msg;          /* ENDED */
	const char *endpoint;
};

/* One line of the gateway's watch stream, parsed: events in order. */
struct zdu_etcd_watch_msg {
	int created;
	int canceled;
	int64_t revision;
	int64_t compact_revision;
	struct zdu_etcd_kv *kvs;
	int *deleted; /* per kv: 1 for a DELETE event */
	size_t nkvs;
	char error[256]; /* a message etcd sent, or why the line is unreadable */
};

#endif
