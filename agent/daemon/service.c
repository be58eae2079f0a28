#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/common.h"
#include "zdu/flag_file.h"
#include "zdu/listener.h"
#include "zdu/log.h"
#include "zdu/service.h"
#include "zdu/slowstart.h"

struct zdu_service {
	uv_loop_t *loop;
	const struct zdu_config *cfg; /* the daemon's, replaced at each reload */
	size_t index;                 /* in cfg->services */
	char name[ZDU_SERVICE_MAX];
	struct zdu_state state;
	struct zdu_slowstart *slowstart;
	struct zdu_probe *probe;          /* NULL: not probed */
	struct zdu_drain *drain;          /* NULL: no drain ports */
	struct zdu_flag_file *flagf;      /* NULL: no flag file of its own */
	struct zdu_listener *listener;    /* NULL: no port of its own */
	struct zdu_guard *guard;          /* borrowed */
};

static const struct zdu_service_cfg *svc_cfg(const struct zdu_service *s)
{
	return &s->cfg->services[s->index];
}

static void on_flag_file(const struct zdu_flag *flag, const char *cause, void *data)
{
	zdu_service_apply_flag(data, ZDU_SRC_SVC_FILE, flag, cause);
}

void zdu_service_apply_flag(struct zdu_service *s, enum zdu_flag_src src, const struct zdu_flag *flag,
			    const char *cause)
{
	struct zdu_event ev = { .kind = ZDU_EV_FLAG, .src = src, .flag = flag, .cause = cause };

	zdu_state_apply(&s->state, &ev);
}

void zdu_service_check_flag(struct zdu_service *s, const char *cause)
{
	if (s->flagf)
		zdu_flag_file_check(s->flagf, cause);
}

/* The settings a reply depends on that are not events of their own. */
static void apply_settings(struct zdu_service *s, const char *why)
{
	const struct zdu_service_cfg *sc = svc_cfg(s);
	char cause[96];
	struct zdu_event fa = { .kind = ZDU_EV_FAIL_ACTION, .cause = why,
				.on_failure = (enum zdu_fail_action)sc->on_failure };
	struct zdu_event de = { .kind = ZDU_EV_DETAIL, .cause = cause,
				.detail = (enum zdu_reply_detail)s->cfg->reply_detail };

	zdu_state_apply(&s->state, &fa);
	snprintf(cause, sizeof(cause), "%s: agent.reply_detail %s", why,
		 de.detail == ZDU_DETAIL_MINIMAL ? "minimal" : "full");
	zdu_state_apply(&s->state, &de);
	zdu_slowstart_configure(s->slowstart, sc);
}

static int open_flag_file(struct zdu_service *s, char *err, size_t err_size)
{
	const struct zdu_service_cfg *sc = svc_cfg(s);
	struct zdu_flag_file *nf;

	if (!sc->flag_file[0]) {
		if (s->flagf) {
			struct zdu_flag off = { .mode = ZDU_FLAG_OFF };

			zdu_flag_file_close(s->flagf);
			s->flagf = NULL;
			zdu_service_apply_flag(s, ZDU_SRC_SVC_FILE, &off, "service flag file no longer configured");
		}
		return 0;
	}
	if (s->flagf && strcmp(zdu_flag_file_path(s->flagf), sc->flag_file) == 0) {
		zdu_flag_file_set_poll(s->flagf, s->cfg->flag_poll_ms);
		return 0;
	}
	nf = zdu_flag_file_new(s->loop, sc->flag_file, s->cfg->flag_poll_ms, on_flag_file, s, err, err_size);
	if (!nf)
		return -1;
	if (s->flagf)
		zdu_flag_file_close(s->flagf);
	s->flagf = nf;
	return 0;
}

struct zdu_service *zdu_service_new(uv_loop_t *loop, const struct zdu_config *cfg, size_t index, char *err,
				    size_t err_size)
{
	const struct zdu_service_cfg *sc = &cfg->services[index];
	struct zdu_service *s = calloc(1, sizeof(*s));

	if (!s) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	s->loop = loop;
	s->cfg = cfg;
	s->index = index;
	zdu_strlcpy(s->name, sc->name, sizeof(s->name));
	zdu_state_init(&s->state, (unsigned)sc->weight, (enum zdu_fail_action)sc->on_failure,
		       sc->probe_enabled ? ZDU_HEALTH_UNKNOWN : ZDU_HEALTH_UNCHECKED);
	if (cfg->services_listed)
		zdu_state_set_service(&s->state, sc->name);
	if (!(s->slowstart = zdu_slowstart_new(loop, &s->state))) {
		snprintf(err, err_size, "out of memory");
		free(s);
		return NULL;
	}
	apply_settings(s, "configuration");
	if (open_flag_file(s, err, err_size) < 0) {
		char msg[512];

		snprintf(msg, sizeof(msg), "services[%zu] (%s): %s", index, sc->name, err);
		zdu_strlcpy(err, msg, err_size);
		zdu_slowstart_close(s->slowstart);
		free(s);
		return NULL;
	}
	return s;
}

/* (Re)starts or stops the probe to match the configuration; the verdict
 * so far carries over a reload. */
static int apply_probe(struct zdu_service *s, struct zdu_http *http)
{
	const struct zdu_service_cfg *sc = svc_cfg(s);
	struct zdu_probe *np = NULL;

	if (sc->probe_enabled) {
		if (!http || !(np = zdu_probe_new(s->loop, &s->state, http, s->cfg, sc, s->probe))) {
			zdu_log_error("%s: probe: out of memory", s->name);
			return -1;
		}
	}
	if (s->probe)
		zdu_probe_close(s->probe);
	if (!np || !s->probe) {
		struct zdu_health_state hs = { .health = np ? ZDU_HEALTH_UNKNOWN : ZDU_HEALTH_UNCHECKED };
		struct zdu_event ev = { .kind = ZDU_EV_HEALTH, .health = &hs,
					.cause = np ? "probe enabled" : "probe disabled" };

		if (np || s->state.node.health.health != ZDU_HEALTH_UNCHECKED)
			zdu_state_apply(&s->state, &ev);
	}
	s->probe = np;
	if (np)
		zdu_probe_set_guard(np, s->guard);
	return 0;
}

/* Drain detection runs when the service lists ports. */
static int apply_drain(struct zdu_service *s, char *err, size_t err_size)
{
	const struct zdu_service_cfg *sc = svc_cfg(s);

	if (sc->drain_ports.n == 0) {
		if (s->drain)
			zdu_drain_close(s->drain);
		s->drain = NULL;
		return 0;
	}
	if (s->drain) {
		zdu_drain_configure(s->drain, s->cfg, sc);
		return 0;
	}
	if (!(s->drain = zdu_drain_new(s->loop, &s->state, s->cfg, sc, err, err_size)))
		return -1;
	return 0;
}

int zdu_service_start(struct zdu_service *s, struct zdu_http *http, char *err, size_t err_size)
{
	const struct zdu_service_cfg *sc = svc_cfg(s);

	if (sc->listen.n) {
		struct zdu_listener_target t = { s->name, &s->state };
		char what[ZDU_SERVICE_MAX + 32];

		snprintf(what, sizeof(what), "services[%zu].listen (%s)", s->index, s->name);
		if (!(s->listener = zdu_listener_new(s->loop, s->cfg, &sc->listen, what, &t, 1, err, err_size)))
			return -1;
	}
	if (apply_probe(s, http) < 0) {
		snprintf(err, err_size, "%s: probe: cannot start", s->name);
		return -1;
	}
	if (apply_drain(s, err, err_size) < 0) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s: drain detection: %s", s->name, err);
		zdu_strlcpy(err, msg, err_size);
		return -1;
	}
	return 0;
}

int zdu_service_configure(struct zdu_service *s, const struct zdu_config *cfg, size_t index,
			  struct zdu_http *http, char *err, size_t err_size)
{
	int rc = 0;

	s->cfg = cfg;
	s->index = index;
	if (open_flag_file(s, err, err_size) < 0) {
		zdu_log_error("reload: %s: keeping its flag file: %s", s->name, err);
		rc = -1;
	}
	if (s->listener)
		zdu_listener_set_limits(s->listener, cfg);
	apply_settings(s, "configuration reloaded");
	if (apply_probe(s, http) < 0)
		rc = -1;
	if (apply_drain(s, err, err_size) < 0) {
		zdu_log_error("reload: %s: drain detection: %s", s->name, err);
		rc = -1;
	}
	return rc;
}

void zdu_service_set_guard(struct zdu_service *s, struct zdu_guard *g)
{
	s->guard = g;
	if (s->probe)
		zdu_probe_set_guard(s->probe, g);
}

const char *zdu_service_name(const struct zdu_service *s)
{
	return s->name;
}

const struct zdu_service_cfg *zdu_service_cfg(const struct zdu_service *s)
{
	return svc_cfg(s);
}

struct zdu_state *zdu_service_state(struct zdu_service *s)
{
	return &s->state;
}

const struct zdu_state *zdu_service_state_c(const struct zdu_service *s)
{
	return &s->state;
}

struct zdu_probe *zdu_service_probe(const struct zdu_service *s)
{
	return s->probe;
}

struct zdu_drain *zdu_service_drain(const struct zdu_service *s)
{
	return s->drain;
}

const struct zdu_listener_stats *zdu_service_listener_stats(const struct zdu_service *s)
{
	return s->listener ? zdu_listener_stats(s->listener) : NULL;
}

const char *zdu_service_flag_path(const struct zdu_service *s)
{
	return s->flagf ? zdu_flag_file_path(s->flagf) : "";
}

void zdu_service_close(struct zdu_service *s)
{
	if (s->listener)
		zdu_listener_close(s->listener);
	if (s->flagf)
		zdu_flag_file_close(s->flagf);
	if (s->drain)
		zdu_drain_close(s->drain);
	if (s->probe)
		zdu_probe_close(s->probe);
	if (s->slowstart)
		zdu_slowstart_close(s->slowstart);
	/* Every part above frees itself from its close callbacks and holds no
	 * pointer into s after its close call: s can go now. */
	free(s);
}
