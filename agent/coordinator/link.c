#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/link-int.h"

struct zdu_link *zdu_link_new(uv_loop_t *loop, const char *spec, const struct zdu_plan *plan,
			      struct zdu_etcd *etcd, char *err, size_t err_size)
{
	static const struct {
		const char *prefix;
		const struct zdu_link_ops *ops;
	} kinds[] = { { "unix:", &zdu_link_unix_ops }, { "ssh:", &zdu_link_ssh_ops }, { "etcd:", &zdu_link_etcd_ops } };
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t n = strlen(kinds[i].prefix);
		struct zdu_link *l;

		if (strncmp(spec, kinds[i].prefix, n) != 0)
			continue;
		l = calloc(1, sizeof(*l));
		if (!l || !(l->target = strdup(spec + n))) {
			free(l);
			snprintf(err, err_size, "out of memory");
			return NULL;
		}
		l->ops = kinds[i].ops;
		l->loop = loop;
		l->plan = plan;
		l->etcd = etcd;
		if (l->ops == &zdu_link_etcd_ops && (!etcd || !*l->target)) {
			snprintf(err, err_size, "agent \"%s\": needs etcd and a node name", spec);
			free(l->target);
			free(l);
			return NULL;
		}
		return l;
	}
	snprintf(err, err_size, "agent \"%s\": unknown kind (unix:PATH, ssh:HOST or etcd:NAME)", spec);
	return NULL;
}

int zdu_link_call(struct zdu_link *l, enum zdu_link_op op, const char *service, enum zdu_flag_mode mode,
		  const char *reason, zdu_link_cb cb, void *data)
{
	return l->ops->call(l, op, service && service[0] && op != ZDU_LINK_STATUS ? service : NULL, mode, reason, cb,
			    data);
}

void zdu_link_free(struct zdu_link *l)
{
	if (!l)
		return;
	if (l->ops->free)
		l->ops->free(l);
	free(l->target);
	free(l);
}
