/* Between link.c and the kinds of link (link_unix.c, link_ssh.c,
 * link_etcd.c): the link every kind fills in and the table of its
 * operations. The coordinator uses link.h only. */
#ifndef ZDU_LINK_INT_H
#define ZDU_LINK_INT_H

#include "zdu/link.h"

struct zdu_link_ops {
	const char *kind;
	int (*call)(struct zdu_link *l, enum zdu_link_op op, const char *service, enum zdu_flag_mode mode,
		    const char *reason, zdu_link_cb cb, void *data);
	void (*free)(struct zdu_link *l);
};

struct zdu_link {
	const struct zdu_link_ops *ops;
	uv_loop_t *loop;
	char *target; /* path, host or node name, without the kind */
	const struct zdu_plan *plan;
	struct zdu_etcd *etcd; /* etcd: the coordinator's client */
	void *priv;            /* the kind's own state */
};

extern const struct zdu_link_ops zdu_link_unix_ops;
extern const struct zdu_link_ops zdu_link_ssh_ops;
extern const struct zdu_link_ops zdu_link_etcd_ops;

#endif
