/* How the coordinator reaches a node's agent. Every kind answers the same
 * three operations with the agent's status JSON (the control socket's
 * status answer), so the coordinator never knows which kind it talks to:
 *   unix:PATH  the agent's control socket (one host, tests)
 *   ssh:HOST   `zdu-agent ... --json` run on the node by the system's ssh
 *   etcd[:NAME] the node's keys in etcd: flags written to its key, state
 *              read from what the agent publishes (no ssh to any node) */
#ifndef ZDU_LINK_H
#define ZDU_LINK_H

#include <jansson.h>
#include <uv.h>

#include "zdu/etcd.h"
#include "zdu/flag-t.h"
#include "zdu/plan-t.h"

enum zdu_link_op {
	ZDU_LINK_STATUS,
	ZDU_LINK_SET_FLAG,   /* mode and reason */
	ZDU_LINK_CLEAR_FLAG,
};

/* status: the agent's status object (borrowed, valid during the call), or
 * NULL with err. */
typedef void (*zdu_link_cb)(json_t *status, const char *err, void *data);

struct zdu_link;

/* spec as in the plan ("unix:/run/zdu-agent/control.sock", "ssh:api1",
 * "etcd:api1"); etcd may be NULL when no spec needs it. */
struct zdu_link *zdu_link_new(uv_loop_t *loop, const char *spec, const struct zdu_plan *plan,
			      struct zdu_etcd *etcd, char *err, size_t err_size);
/* cb runs once, from the loop. Returns -1 when the call could not start. */
/* service: the flag of the agent's service of that name (SET_FLAG,
 * CLEAR_FLAG); NULL or "": the node's flag, every service. STATUS always
 * answers the agent's whole status (every service in its services[]). */
int zdu_link_call(struct zdu_link *l, enum zdu_link_op op, const char *service, enum zdu_flag_mode mode,
		  const char *reason, zdu_link_cb cb, void *data);
void zdu_link_free(struct zdu_link *l);

#endif
