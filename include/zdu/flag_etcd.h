/* etcd as a flag source: the node's key and the cluster-wide key, read
 * once and then watched, each change ending in one zdu_state_apply() with
 * source ZDU_SRC_ETCD (the local file still wins, see zdu_node_flag()).
 *
 * etcd going away never changes the flag: the last known values stay, and
 * they are cached in a file so a restart while etcd is down keeps them.
 * Watches resume from the last revision seen, so nothing changed meanwhile
 * is missed; after a compaction the keys are read again. */
#ifndef ZDU_FLAG_ETCD_H
#define ZDU_FLAG_ETCD_H
#include <jansson.h>
#include <stdint.h>
#include <uv.h>
#include "zdu/control_proto.h"
#include "zdu/etcd.h"
#include "zdu/state.h"

struct zdu_flag_etcd;


/* Loads the cache (applying it at once, so the first reply already
 * reflects it) and starts reading etcd. etcd is borrowed. Every check_ms
 * (0: never) the watched keys are read from the watch's member: one that
 * hangs or lost its cluster is left; a watch not started within timeout_ms
 * is abandoned the same way. NULL with err when out of memory. */
struct zdu_flag_etcd *zdu_flag_etcd_new(uv_loop_t *loop, struct zdu_state *state, struct zdu_etcd *etcd,
					const char *prefix, const char *node, const char *cache_path,
					int backoff_max_ms, int check_ms, int timeout_ms, char *err, size_t err_size);
/* For --status: which key holds the flag, both keys, reachability,
 * revision, cache (the flag itself is the state's ZDU_SRC_ETCD flag). */
json_t *zdu_flag_etcd_status_json(const struct zdu_flag_etcd *fe);
/* Stops; frees itself once its timer is closed. Call before freeing etcd. */
void zdu_flag_etcd_close(struct zdu_flag_etcd *fe);

/* Turns a key's value (or its absence) into a flag, naming the key in
 * any error (exposed for tests). */
void zdu_flag_etcd_value(const char *key, int present, const char *value, size_t len, struct zdu_flag *flag);
#endif
