/* One API service of the node, as the agent answers for it: its state and
 * reply, and the parts that feed them (its probe, slow start, connection
 * count, its own flag file and its own agent port when it has them). The
 * node's flags (flag.file, the node's etcd keys) reach every service
 * through zdu_service_apply_flag(); the daemon owns the services and the
 * parts shared by all (etcd, the control socket, the shared port). */
#ifndef ZDU_SERVICE_H
#define ZDU_SERVICE_H

#include <jansson.h>
#include <uv.h>

#include "zdu/config-t.h"
#include "zdu/drain.h"
#include "zdu/guard.h"
#include "zdu/http.h"
#include "zdu/listener.h"
#include "zdu/probe.h"
#include "zdu/state.h"

struct zdu_service;

/* Service cfg->services[index]: its state (as the first reply will say),
 * slow start, and its own flag file, read once before this returns. NULL
 * with err when its flag directory is missing or memory is short. */
struct zdu_service *zdu_service_new(uv_loop_t *loop, const struct zdu_config *cfg, size_t index, char *err,
				    size_t err_size);
/* Its own agent port (service.listen), probe (http is shared, made by the
 * caller when any service probes) and connection count. -1 with err. */
int zdu_service_start(struct zdu_service *s, struct zdu_http *http, char *err, size_t err_size);
/* A reload with the same services: cfg->services[index] is this one's new
 * settings (cfg outlives the service until the next reload). Returns -1
 * with err when a part could not be remade; the rest is applied. */
int zdu_service_configure(struct zdu_service *s, const struct zdu_config *cfg, size_t index,
			  struct zdu_http *http, char *err, size_t err_size);
/* A flag for this service from a source the daemon owns (the node's file
 * and etcd keys, the service's etcd key). */
void zdu_service_apply_flag(struct zdu_service *s, enum zdu_flag_src src, const struct zdu_flag *flag,
			    const char *cause);
/* Re-reads the service's own flag file now (control sync, after a write). */
void zdu_service_check_flag(struct zdu_service *s, const char *cause);
/* The fleet guard its probe asks (NULL: none). Borrowed. */
void zdu_service_set_guard(struct zdu_service *s, struct zdu_guard *g);

const char *zdu_service_name(const struct zdu_service *s);
const struct zdu_service_cfg *zdu_service_cfg(const struct zdu_service *s);
struct zdu_state *zdu_service_state(struct zdu_service *s);
const struct zdu_state *zdu_service_state_c(const struct zdu_service *s);
/* NULL when not probed / not counted / no port of its own. */
struct zdu_probe *zdu_service_probe(const struct zdu_service *s);
struct zdu_drain *zdu_service_drain(const struct zdu_service *s);
const struct zdu_listener_stats *zdu_service_listener_stats(const struct zdu_service *s);
/* Its own flag file's path, "" when it has none (the unlisted default). */
const char *zdu_service_flag_path(const struct zdu_service *s);

/* Stops every part; frees itself once their handles are closed. */
void zdu_service_close(struct zdu_service *s);

#endif
