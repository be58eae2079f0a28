/* The key layout under etcd.prefix, one place for every program: the
 * daemon, its command line, and the coordinator. Each is a printf format. */
#ifndef ZDU_ETCD_KEYS_H
#define ZDU_ETCD_KEYS_H

#define ZDU_ETCD_KEY_NODE "%s/maintenance/nodes/%s" /* prefix, node: the node's flag */
/* prefix, node, service: one service's flag on that node, beside the node's
 * key; the agent watches both with one range, [NODE, NODE0) */
#define ZDU_ETCD_KEY_SERVICE "%s/maintenance/nodes/%s/%s"
#define ZDU_ETCD_KEY_ALL "%s/maintenance/all"       /* prefix: the cluster-wide flag */
#define ZDU_ETCD_KEY_AGENT "%s/agents/%s"           /* prefix, node: the agent's published state */
#define ZDU_ETCD_KEY_GUARD "%s/guard/%s"            /* prefix, service: the fleet guard's claim */
#define ZDU_ETCD_KEY_LOCK "%s/coordinator/lock"     /* prefix: the coordinator's lock */
#define ZDU_ETCD_KEY_JOURNAL "%s/coordinator/journal" /* prefix: the coordinator's journal */

#endif
