/* etcd as a flag source: the node's key, its services' keys beside it
 * (NODE/SERVICE) and the cluster-wide key, read once and then watched with
 * two streams whatever the number of services: one range [NODE, NODE0)
 * for the node and its services, one for the cluster key. Each change ends
 * in one call of the owner's callback: the node's flag (its key over the
 * cluster key), or one service's (the local file still wins, see
 * zdu_node_flag()).
 *
 * etcd going away never changes a flag: the last known values stay, and
 * they are cached in a file so a restart while etcd is down keeps them.
 * Watches resume from the last revision seen, so nothing changed meanwhile
 * is missed; after a compaction the keys are read again. */
#ifndef ZDU_FLAG_ETCD_H
#define ZDU_FLAG_ETCD_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "zdu/control_proto.h"
#include "zdu/etcd.h"
#include "zdu/flag-t.h"

struct zdu_flag_etcd;

/* What etcd says now for service (NULL: the node, its key and the cluster
 * key combined) and why it changed ("etcd wrote KEY (revision N)"). flag
 * and cause are valid during the call only. */
typedef void (*zdu_flag_etcd_cb)(const char *service, const struct zdu_flag *flag, const char *cause,
				 void *data);

struct zdu_flag_etcd_conf {
	const char *prefix;
	const char *node;
	const char *const *services; /* the agent's service names (copied) */
	size_t nservices;
	const char *cache_path;
	int backoff_max_ms;
	int check_ms;   /* 0: never */
	int timeout_ms;
	zdu_flag_etcd_cb cb;
	void *data;
};

/* Loads the cache (calling back at once, so the first reply already
 * reflects it) and starts reading etcd. etcd is borrowed. Every check_ms
 * the watched keys are read from the watch's member: one that hangs or
 * lost its cluster is left; a watch not started within timeout_ms is
 * abandoned the same way. NULL with err when out of memory or a service
 * name is not valid. */
struct zdu_flag_etcd *zdu_flag_etcd_new(uv_loop_t *loop, struct zdu_etcd *etcd,
					const struct zdu_flag_etcd_conf *conf, char *err, size_t err_size);
/* For --status: which key holds the node's flag, the keys (node, all, and
 * per service: key, value, error, revision), reachability, revision, cache,
 * the keys under NODE/ naming services this agent does not have. */
json_t *zdu_flag_etcd_status_json(const struct zdu_flag_etcd *fe);
/* Stops; frees itself once its timer is closed. Call before freeing etcd. */
void zdu_flag_etcd_close(struct zdu_flag_etcd *fe);

/* Turns a key's value (or its absence) into a flag, naming the key in
 * any error (exposed for tests). */
void zdu_flag_etcd_value(const char *key, int present, const char *value, size_t len, struct zdu_flag *flag);

/* A key seen through the node's range watch [node_key, node_key "0"),
 * which also holds other nodes' keys (NODE-x, NODE.x and theirs below). */
enum zdu_flag_etcd_key {
	ZDU_FLAG_ETCD_OTHER = 0, /* not this node's: ignored without a word */
	ZDU_FLAG_ETCD_NODE,      /* node_key itself */
	ZDU_FLAG_ETCD_SERVICE,   /* node_key/NAME, NAME a valid service name */
	ZDU_FLAG_ETCD_BAD_NAME,  /* under node_key/ but not one valid name */
};
/* Classifies key (keylen bytes); for SERVICE and BAD_NAME *name and
 * *name_len give what follows "node_key/" (exposed for tests). */
enum zdu_flag_etcd_key zdu_flag_etcd_key_kind(const char *node_key, const char *key, size_t keylen,
					      const char **name, size_t *name_len);
#endif
