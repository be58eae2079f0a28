#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pwd.h>
#include <unistd.h>

#include "zdu/config.h"
#include "zdu/daemon.h"
#include "zdu/etcd_keys.h"
#include "zdu/flag.h"
#include "zdu/log.h"
#include "zdu/notify.h"

static void answer_waiters(struct zdu_daemon *d);
static void etcd_jobs_abandon(struct zdu_daemon *d);

/* (Re)starts or stops the probe to match the configuration; the verdict
 * so far carries over a reload. */
static int apply_probe(struct zdu_daemon *d)
{
	struct zdu_probe *np = NULL;

	if (d->cfg.probe_enabled) {
		/* libcurl (and the TLS library it initializes) only when
		 * probing: an agent without a probe stays small. */
		if (!d->http && !(d->http = zdu_http_new(&d->loop))) {
			zdu_log_error("probe: cannot initialize libcurl");
			return -1;
		}
		np = zdu_probe_new(&d->loop, &d->state, d->http, &d->cfg, d->probe);
		if (!np) {
			zdu_log_error("probe: out of memory");
			return -1;
		}
	}
	if (d->probe)
		zdu_probe_close(d->probe);
	if (!np || !d->probe) {
		struct zdu_health_state hs = { .health = np ? ZDU_HEALTH_UNKNOWN : ZDU_HEALTH_UNCHECKED };
		struct zdu_event ev = { .kind = ZDU_EV_HEALTH, .health = &hs,
					.cause = np ? "probe enabled" : "probe disabled" };

		if (np || d->state.node.health.health != ZDU_HEALTH_UNCHECKED)
			zdu_state_apply(&d->state, &ev);
	}
	d->probe = np;
	return 0;
}

/* Drain detection runs when drain.ports lists ports. */
static int apply_drain(struct zdu_daemon *d, char *err, size_t err_size)
{
	if (d->cfg.drain_ports.n == 0) {
		if (d->drain)
			zdu_drain_close(d->drain);
		d->drain = NULL;
		return 0;
	}
	if (d->drain) {
		zdu_drain_configure(d->drain, &d->cfg);
		return 0;
	}
	d->drain = zdu_drain_new(&d->loop, &d->state, &d->cfg, err, err_size);
	if (!d->drain) {
		zdu_log_error("drain detection: %s", err);
		return -1;
	}
	return 0;
}

/* What the agent publishes in etcd: its status without the counters that
 * move on every HAProxy check, so only a real change is written. */
static json_t *publish_make(void *data)
{
	struct zdu_daemon *d = data;
	json_t *o = zdu_status_json(d);

	json_object_del(o, "reply_age_ms");
	json_object_del(o, "uptime_s");
	json_object_del(o, "connections");
	json_object_del(o, "etcd");
	json_object_del(json_object_get(json_object_get(o, "flag"), "etcd"), "unreachable_s");
	json_object_del(json_object_get(json_object_get(o, "health"), "slow"), "for_ms");
	json_object_del(json_object_get(json_object_get(o, "health"), "guard"), "for_ms");
	/* The guard's last read of the peers: theirs to publish, not ours. */
	json_object_del(o, "guard");
	json_object_set_new(o, "node", json_string(d->cfg.etcd_node));
	json_object_set_new(o, "service", json_string(ZDU_GUARD_SERVICE));
	return o;
}

/* A signature of the settings the etcd parts are made from: a reload
 * remakes them only when it changed. */
static char *etcd_signature(const struct zdu_config *c)
{
	char *sig = NULL, *eps = NULL;
	size_t i, len = 0;

	for (i = 0; i < c->etcd_endpoints.n; i++)
		len += strlen(c->etcd_endpoints.v[i]) + 1;
	/* The services too: their keys are watched. */
	for (i = 0; i < c->nservices; i++)
		len += strlen(c->services[i].name) + 1;
	eps = calloc(1, len + 1);
	if (!eps)
		return NULL;
	for (i = 0; i < c->etcd_endpoints.n; i++) {
		strcat(eps, c->etcd_endpoints.v[i]);
		strcat(eps, ",");
	}
	for (i = 0; i < c->nservices; i++) {
		strcat(eps, c->services[i].name);
		strcat(eps, "/");
	}
	if (asprintf(&sig, "%s|%s|%s|%d|%d|%d|%d|%d|%s|%s|%s|%s|%s|%s", eps, c->etcd_prefix, c->etcd_node,
		     c->etcd_timeout_ms, c->etcd_lease_ttl_s, c->etcd_publish_interval_ms, c->etcd_backoff_max_ms,
		     c->etcd_watch_check_ms,
		     c->etcd_cache_file, c->etcd_ca_file, c->etcd_cert_file, c->etcd_key_file, c->etcd_user,
		     c->etcd_password) < 0)
		sig = NULL;
	free(eps);
	return sig;
}

/* The probe asks the guard when there is one and guard.min_up_percent is
 * above 0; after a reload, with the new share. */
static void attach_guard(struct zdu_daemon *d)
{
	unsigned pct = (unsigned)d->cfg.guard_min_up_percent;

	if (d->guard)
		zdu_guard_set_min_up(d->guard, pct);
	if (d->probe)
		zdu_probe_set_guard(d->probe, d->guard && pct > 0 ? d->guard : NULL);
}

static void close_etcd(struct zdu_daemon *d)
{
	/* The parts first: the client's end cancels their requests without
	 * calling back. */
	if (d->probe)
		zdu_probe_set_guard(d->probe, NULL);
	zdu_guard_close(d->guard);
	d->guard = NULL;
	if (d->publish)
		zdu_publish_close(d->publish);
	if (d->flage)
		zdu_flag_etcd_close(d->flage);
	zdu_etcd_free(d->etcd);
	etcd_jobs_abandon(d);
	d->publish = NULL;
	d->flage = NULL;
	d->etcd = NULL;
	free(d->etcd_sig);
	d->etcd_sig = NULL;
}

/* etcd's verdict for the node (its key over the cluster key) is the
 * state's ZDU_SRC_ETCD flag; a service's own key (NODE/SERVICE) is only
 * logged until the state has flags per service. */
static void on_etcd_flag(const char *service, const struct zdu_flag *flag, const char *cause, void *data)
{
	struct zdu_daemon *d = data;
	struct zdu_event ev = { .kind = ZDU_EV_FLAG, .src = ZDU_SRC_ETCD, .flag = flag, .cause = cause };

	if (!service) {
		zdu_state_apply(&d->state, &ev);
		return;
	}
	zdu_log_debug("etcd: service %s: flag %s%s%s (%s)", service, zdu_flag_mode_name(flag->mode),
		      flag->error[0] ? ": " : "", flag->error, cause);
}

/* The etcd flag source for the node and every configured service. */
static struct zdu_flag_etcd *etcd_flags_new(struct zdu_daemon *d, char *err, size_t err_size)
{
	const struct zdu_config *c = &d->cfg;
	struct zdu_flag_etcd_conf fc = { .prefix = c->etcd_prefix, .node = c->etcd_node,
					 .nservices = c->nservices, .cache_path = c->etcd_cache_file,
					 .backoff_max_ms = c->etcd_backoff_max_ms, .check_ms = c->etcd_watch_check_ms,
					 .timeout_ms = c->etcd_timeout_ms, .cb = on_etcd_flag, .data = d };
	const char **names = calloc(c->nservices ? c->nservices : 1, sizeof(*names));
	struct zdu_flag_etcd *fe;
	size_t i;

	if (!names) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	for (i = 0; i < c->nservices; i++)
		names[i] = c->services[i].name;
	fc.services = names;
	fe = zdu_flag_etcd_new(&d->loop, d->etcd, &fc, err, err_size);
	free(names);
	return fe;
}

/* Starts, restarts or stops etcd to match the configuration. With etcd
 * gone from it, its flag is dropped: the operator took etcd out. */
static int apply_etcd(struct zdu_daemon *d, char *err, size_t err_size)
{
	const struct zdu_config *c = &d->cfg;
	char *sig = etcd_signature(c), key[512];
	struct zdu_etcd_conf ec;

	if (!sig) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	if (d->etcd_sig && strcmp(sig, d->etcd_sig) == 0) {
		free(sig);
		return 0;
	}
	close_etcd(d);
	if (c->etcd_endpoints.n == 0) {
		struct zdu_flag off = { .mode = ZDU_FLAG_OFF };
		struct zdu_event ev = { .kind = ZDU_EV_FLAG, .src = ZDU_SRC_ETCD, .flag = &off,
					.cause = "etcd no longer configured" };

		zdu_state_apply(&d->state, &ev);
		free(sig);
		return 0;
	}
	if (!d->http && !(d->http = zdu_http_new(&d->loop))) {
		free(sig);
		snprintf(err, err_size, "etcd: cannot initialize libcurl");
		return -1;
	}
	zdu_config_etcd_conf(c, &ec);
	d->etcd = zdu_etcd_new(&d->loop, d->http, &ec, err, err_size);
	if (!d->etcd) {
		free(sig);
		return -1;
	}
	d->etcd_sig = sig;
	d->flage = etcd_flags_new(d, err, err_size);
	snprintf(key, sizeof(key), ZDU_ETCD_KEY_AGENT, c->etcd_prefix, c->etcd_node);
	d->publish = d->flage ? zdu_publish_new(&d->loop, d->etcd, key, c->etcd_lease_ttl_s,
						c->etcd_publish_interval_ms, publish_make, d)
			      : NULL;
	d->guard = d->publish ? zdu_guard_new(d->etcd, c->etcd_prefix, c->etcd_node, ZDU_GUARD_SERVICE,
					      (unsigned)c->guard_min_up_percent, c->etcd_lease_ttl_s)
			      : NULL;
	if (!d->flage || !d->publish || !d->guard) {
		if (d->flage && (!d->publish || !d->guard))
			snprintf(err, err_size, "etcd: out of memory");
		close_etcd(d);
		return -1;
	}
	return 0;
}

/* systemd's STATUS: the reply, and for a slow node since when and for how
 * long (the reply changes with each slow probe, so this stays current). */
static const char *notify_text(const struct zdu_state *st, char *buf, size_t size)
{
	const struct zdu_health_state *h = &st->node.health;
	char reply[ZDU_REPLY_MAX], since[40], d[32];
	uint64_t now = zdu_now_ms();

	zdu_state_reply_text(st, reply, sizeof(reply));
	if (h->health != ZDU_HEALTH_UP || !h->slow.active) {
		zdu_strlcpy(buf, reply, size);
		return buf;
	}
	snprintf(buf, size, "%s (slow since %s, for %s)", reply,
		 zdu_utc_ms(h->slow.since_unix_ms, since, sizeof(since)),
		 zdu_duration_text(now > h->slow.since_ms ? now - h->slow.since_ms : 0, d, sizeof(d)));
	return buf;
}

static void on_state_change(struct zdu_state *st, int reply_changed, void *data)
{
	char text[ZDU_REPLY_MAX + 96];

	struct zdu_daemon *d = data;

	if (d->publish)
		zdu_publish_kick(d->publish);

	if (reply_changed)
		zdu_notify_status(notify_text(st, text, sizeof(text)));
	if (st->node.drain.drained)
		answer_waiters(d);
}

/* wait-drained: a control client parked until the node is drained or its
 * own timer runs out. */
struct waiter {
	struct zdu_list link;
	uv_timer_t timer;
	struct zdu_control_client *c;
	struct zdu_daemon *d;
};

static void waiter_closed(uv_handle_t *h)
{
	free(h->data);
}

static void waiter_answer(struct waiter *w)
{
	json_t *st = zdu_status_json(w->d);

	zdu_list_remove(&w->link);
	uv_close((uv_handle_t *)&w->timer, waiter_closed);
	zdu_control_reply(w->c, st);
}

static void waiter_timeout(uv_timer_t *t)
{
	waiter_answer(t->data);
}

static void answer_waiters(struct zdu_daemon *d)
{
	while (!zdu_list_empty(&d->waiters))
		waiter_answer(zdu_container_of(d->waiters.next, struct waiter, link));
}

/* set-flag / clear-flag: the write (with its fsyncs) runs in libuv's
 * thread pool, so a slow disk never holds a reply to HAProxy. */
struct flag_job {
	uv_work_t work;
	struct zdu_list link;
	struct zdu_daemon *d;
	struct zdu_control_client *c; /* NULL once the client went away */
	struct zdu_flag flag;
	char *path;
	enum zdu_err rc;
	char err[256];
};

static void job_work(uv_work_t *req)
{
	struct flag_job *j = req->data;

	j->rc = zdu_flag_write(j->path, &j->flag, j->err, sizeof(j->err));
}

static void job_done(uv_work_t *req, int status)
{
	struct flag_job *j = req->data;
	struct zdu_daemon *d = j->d;

	zdu_list_remove(&j->link);
	if (status == 0 && j->rc == ZDU_OK && d->flagf)
		zdu_flag_file_check(d->flagf, "control socket changed the flag");
	if (j->c) {
		if (status < 0 || j->rc != ZDU_OK)
			zdu_control_reply(j->c, json_pack("{s:b,s:s}", "ok", 0, "error",
							  status < 0 ? uv_strerror(status) : j->err));
		else
			zdu_control_reply(j->c, zdu_status_json(d));
	}
	if (j->rc != ZDU_OK)
		zdu_log_error("control: flag not changed: %s", j->err);
	free(j->path);
	free(j);
}

/* A flag set for a control client names who asked (SO_PEERCRED), not the
 * daemon's user. */
static void stamp_for_peer(struct zdu_flag *flag, long uid)
{
	struct passwd *pw;
	char host[64] = "?";

	/* Stamp first: it calls getpwuid() too, whose static answer would
	 * overwrite the peer's name read below. */
	zdu_flag_stamp(flag);
	pw = uid >= 0 ? getpwuid((uid_t)uid) : NULL;
	gethostname(host, sizeof(host) - 1);
	if (pw)
		snprintf(flag->by, sizeof(flag->by), "%s@%s", pw->pw_name, host);
	else
		snprintf(flag->by, sizeof(flag->by), "uid %ld@%s", uid, host);
}

static void start_flag_job(struct zdu_daemon *d, struct zdu_control_client *c,
			   const struct zdu_ctl_req *req)
{
	struct flag_job *j = calloc(1, sizeof(*j));
	long uid = zdu_control_peer_uid(c);

	if (!j || !(j->path = strdup(d->cfg.flag_file))) {
		free(j);
		zdu_control_reply(c, json_pack("{s:b,s:s}", "ok", 0, "error", "out of memory"));
		return;
	}
	j->d = d;
	j->c = c;
	j->work.data = j;
	if (req->cmd == ZDU_CTL_SET_FLAG) {
		j->flag.mode = req->mode;
		zdu_strlcpy(j->flag.reason, req->reason, sizeof(j->flag.reason));
		stamp_for_peer(&j->flag, uid);
	}
	zdu_log_info("control: %s requested by uid %ld", zdu_ctl_cmd_name(req->cmd), uid);
	zdu_list_insert_tail(&d->jobs, &j->link);
	if (uv_queue_work(&d->loop, &j->work, job_work, job_done) < 0) {
		zdu_list_remove(&j->link);
		free(j->path);
		free(j);
		zdu_control_reply(c, json_pack("{s:b,s:s}", "ok", 0, "error", "cannot queue the write"));
	}
}

/* set-etcd-flag / clear-etcd-flag: the node's etcd key, written with the
 * daemon's own etcd client for operators who may not read its secret. The
 * client answers within its own bound (each endpoint tried once per
 * attempt, etcd.timeout_ms each, one attempt more to renew a token); the
 * job lives until it does, or until the client is freed (a reload that
 * changes etcd, the stop), after which it calls back no more. */
struct etcd_job {
	struct zdu_list link;
	struct zdu_control_client *c; /* NULL once the client went away */
	enum zdu_ctl_cmd cmd;
	long uid;
	char key[512];
	char by[64];
	char service[64]; /* "": the node's key */
};

static void etcd_job_done(const struct zdu_etcd_result *res, void *data)
{
	struct etcd_job *j = data;
	int set = j->cmd == ZDU_CTL_SET_ETCD_FLAG;

	zdu_list_remove(&j->link);
	if (res->err != ZDU_OK) {
		zdu_log_error("control: %s for uid %ld: %s not changed: %s", zdu_ctl_cmd_name(j->cmd), j->uid,
			      j->key, res->msg);
		if (j->c)
			zdu_control_reply(j->c, json_pack("{s:b,s:s,s:s}", "ok", 0, "error", res->msg, "key", j->key));
	} else {
		zdu_log_notice("control: %s for uid %ld: %s %s at revision %lld", zdu_ctl_cmd_name(j->cmd), j->uid,
			       set ? "wrote" : (res->deleted ? "deleted" : "found no"), j->key,
			       (long long)res->revision);
		if (j->c) {
			json_t *o = json_pack("{s:b,s:s,s:I,s:s}", "ok", 1, "key", j->key, "revision",
					      (json_int_t)res->revision, "endpoint", res->endpoint ? res->endpoint : "");

			if (j->service[0])
				json_object_set_new(o, "service", json_string(j->service));

			if (set)
				json_object_set_new(o, "by", json_string(j->by));
			else
				json_object_set_new(o, "deleted", json_integer((json_int_t)res->deleted));
			zdu_control_reply(j->c, o);
		}
	}
	free(j);
}

static int has_service(const struct zdu_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nservices; i++)
		if (strcmp(cfg->services[i].name, name) == 0)
			return 1;
	return 0;
}

static void start_etcd_job(struct zdu_daemon *d, struct zdu_control_client *c, const struct zdu_ctl_req *req)
{
	char text[ZDU_FLAG_MAX_BYTES];
	struct etcd_job *j;
	size_t len = 0;
	int rc;

	if (!d->etcd) {
		zdu_control_reply(c, json_pack("{s:b,s:s}", "ok", 0, "error",
					       "the running agent does not use etcd (etcd.endpoints is empty in "
					       "the configuration it loaded; reload it after configuring etcd)"));
		return;
	}
	if (!(j = calloc(1, sizeof(*j)))) {
		zdu_control_reply(c, json_pack("{s:b,s:s}", "ok", 0, "error", "out of memory"));
		return;
	}
	j->c = c;
	j->cmd = req->cmd;
	j->uid = zdu_control_peer_uid(c);
	if (req->service[0] && !has_service(&d->cfg, req->service)) {
		char msg[256];

		free(j);
		snprintf(msg, sizeof(msg), "this agent has no service \"%s\" (see services in %s)", req->service,
			 d->cfg.path ? d->cfg.path : "its configuration");
		zdu_control_reply(c, json_pack("{s:b,s:s}", "ok", 0, "error", msg));
		return;
	}
	zdu_strlcpy(j->service, req->service, sizeof(j->service));
	if (req->service[0])
		snprintf(j->key, sizeof(j->key), ZDU_ETCD_KEY_SERVICE, d->cfg.etcd_prefix, d->cfg.etcd_node,
			 req->service);
	else
		snprintf(j->key, sizeof(j->key), ZDU_ETCD_KEY_NODE, d->cfg.etcd_prefix, d->cfg.etcd_node);
	if (req->cmd == ZDU_CTL_SET_ETCD_FLAG) {
		struct zdu_flag flag = { .mode = req->mode };

		zdu_strlcpy(flag.reason, req->reason, sizeof(flag.reason));
		stamp_for_peer(&flag, j->uid);
		zdu_strlcpy(j->by, flag.by, sizeof(j->by));
		len = zdu_flag_format(&flag, text, sizeof(text));
	}
	zdu_log_info("control: %s%s%s requested by uid %ld", zdu_ctl_cmd_name(req->cmd), j->service[0] ? " service=" : "",
		     j->service, j->uid);
	zdu_list_insert_tail(&d->etcd_jobs, &j->link);
	zdu_control_hold(c, (uint64_t)zdu_config_etcd_answer_ms(&d->cfg));
	if (req->cmd == ZDU_CTL_SET_ETCD_FLAG)
		rc = len ? zdu_etcd_put(d->etcd, j->key, text, len, 0, etcd_job_done, j) : -1;
	else
		rc = zdu_etcd_delete(d->etcd, j->key, etcd_job_done, j);
	if (rc < 0) {
		zdu_list_remove(&j->link);
		free(j);
		zdu_control_reply(c, json_pack("{s:b,s:s}", "ok", 0, "error", "out of memory"));
	}
}

/* The etcd client was freed with writes in flight: they call back no more,
 * so their clients are answered here. */
static void etcd_jobs_abandon(struct zdu_daemon *d)
{
	while (!zdu_list_empty(&d->etcd_jobs)) {
		struct etcd_job *j = zdu_container_of(d->etcd_jobs.next, struct etcd_job, link);

		zdu_list_remove(&j->link);
		if (j->c) {
			char msg[768];

			snprintf(msg, sizeof(msg),
				 "etcd client restarted (a reload changed etcd, or the agent stops) before etcd "
				 "answered: %s may or may not have been %s",
				 j->key, j->cmd == ZDU_CTL_SET_ETCD_FLAG ? "written" : "deleted");
			zdu_control_reply(j->c, json_pack("{s:b,s:s,s:s}", "ok", 0, "error", msg, "key", j->key));
		}
		free(j);
	}
}

static struct zdu_daemon *the_daemon; /* for status_counted: one daemon per process */

/* The status carries the count's error (drain.error) when it failed. */
static void status_counted(const char *err, void *data)
{
	(void)err;
	zdu_control_reply(data, zdu_status_json(the_daemon));
}

/* Control requests. */
static void ctl_request(struct zdu_control_client *c, const struct zdu_ctl_req *req, void *data)
{
	struct zdu_daemon *d = data;

	switch (req->cmd) {
	case ZDU_CTL_PING:
		zdu_control_reply(c, json_pack("{s:b}", "ok", 1));
		break;
	case ZDU_CTL_SYNC:
		/* The CLI just wrote the flag: read it now rather than wait for
		 * the file event, so the answer shows the reply HAProxy gets. */
		zdu_flag_file_check(d->flagf, "control sync");
		zdu_control_reply(c, zdu_status_json(d));
		break;
	case ZDU_CTL_STATUS:
		/* Out of maintenance nothing counts connections periodically:
		 * count now, so the answer is exact. */
		if (d->drain && !zdu_drain_flagged(d->drain) && zdu_drain_refresh(d->drain, status_counted, c) == 0)
			break;
		zdu_control_reply(c, zdu_status_json(d));
		break;
	case ZDU_CTL_SET_FLAG:
	case ZDU_CTL_CLEAR_FLAG:
		start_flag_job(d, c, req);
		break;
	case ZDU_CTL_SET_ETCD_FLAG:
	case ZDU_CTL_CLEAR_ETCD_FLAG:
		start_etcd_job(d, c, req);
		break;
	case ZDU_CTL_WAIT_DRAINED: {
		struct waiter *w;

		if (!d->drain) {
			zdu_control_reply(c, json_pack("{s:b,s:s}", "ok", 0, "error",
						       "drain detection is off (drain.ports is empty)"));
			break;
		}
		if (d->state.node.drain.drained || req->arg_ms == 0) {
			zdu_control_reply(c, zdu_status_json(d));
			break;
		}
		w = calloc(1, sizeof(*w));
		if (!w) {
			zdu_control_reply(c, json_pack("{s:b,s:s}", "ok", 0, "error", "out of memory"));
			break;
		}
		w->c = c;
		w->d = d;
		uv_timer_init(&d->loop, &w->timer);
		w->timer.data = w;
		uv_timer_start(&w->timer, waiter_timeout, (uint64_t)req->arg_ms, 0);
		zdu_list_insert_tail(&d->waiters, &w->link);
		break;
	}
	}
}

static void ctl_cancel(struct zdu_control_client *c, void *data)
{
	struct zdu_daemon *d = data;
	struct zdu_list *q;

	if (d->drain)
		zdu_drain_refresh_cancel(d->drain, c);

	for (q = d->waiters.next; q != &d->waiters; q = q->next) {
		struct waiter *w = zdu_container_of(q, struct waiter, link);

		if (w->c == c) {
			zdu_list_remove(&w->link);
			uv_close((uv_handle_t *)&w->timer, waiter_closed);
			break;
		}
	}
	for (q = d->jobs.next; q != &d->jobs; q = q->next) {
		struct flag_job *j = zdu_container_of(q, struct flag_job, link);

		if (j->c == c)
			j->c = NULL;
	}
	for (q = d->etcd_jobs.next; q != &d->etcd_jobs; q = q->next) {
		struct etcd_job *j = zdu_container_of(q, struct etcd_job, link);

		if (j->c == c)
			j->c = NULL;
	}
}

/* What a valid configuration still does wrong, logged at start and at
 * each reload while it lasts. */
static void config_warnings(const struct zdu_config *cfg)
{
	char msg[512];

	if (zdu_config_etcd_plaintext(cfg, msg, sizeof(msg)))
		zdu_log_warn("%s", msg);
}

static int start_control(struct zdu_daemon *d, char *err, size_t err_size)
{
	struct zdu_control_handler h = { ctl_request, ctl_cancel, d };

	return zdu_control_start(&d->control, &d->loop, &d->cfg, &h, err, err_size);
}

/* agent.reply_detail: how much the agent port's replies say. */
static void apply_detail(struct zdu_daemon *d, const char *why)
{
	char cause[96];
	struct zdu_event ev = { .kind = ZDU_EV_DETAIL, .cause = cause,
				.detail = (enum zdu_reply_detail)d->cfg.reply_detail };

	snprintf(cause, sizeof(cause), "%s: agent.reply_detail %s", why,
		 ev.detail == ZDU_DETAIL_MINIMAL ? "minimal" : "full");
	zdu_state_apply(&d->state, &ev);
}

/* Reload: a new configuration that fails anywhere leaves the running one
 * untouched. What can fail (binding addresses, finding the flag directory)
 * is done first, on new objects; only then are the old ones swapped out. */
static void reload(struct zdu_daemon *d)
{
	struct zdu_config next;
	struct zdu_flag_file *nf = NULL;
	char err[512], reply[ZDU_REPLY_MAX];
	int listen_changed, ctl_changed;
	size_t i;

	zdu_notify_reloading();
	/* A file named with --config must still be there; only the default
	 * path may be absent (every key has a default). */
	if (zdu_config_load(d->cfg.path, !d->config_given, &next, err, sizeof(err)) != ZDU_OK) {
		zdu_log_error("reload: keeping the running configuration: %s", err);
		goto out;
	}
	listen_changed = next.listen.n != d->cfg.listen.n;
	for (i = 0; !listen_changed && i < next.listen.n; i++)
		listen_changed = strcmp(next.listen.v[i], d->cfg.listen.v[i]) != 0;
	if (strcmp(next.flag_file, d->cfg.flag_file) != 0 &&
	    !(nf = zdu_flag_file_new(&d->loop, &d->state, next.flag_file, next.flag_poll_ms, err,
				     sizeof(err)))) {
		zdu_log_error("reload: keeping the running configuration: %s", err);
		zdu_config_free(&next);
		goto out;
	}
	if (nf) {
		zdu_flag_file_close(d->flagf);
		d->flagf = nf;
	}
	zdu_listener_set_limits(d->listener, &next);
	zdu_flag_file_set_poll(d->flagf, next.flag_poll_ms);
	zdu_log_set_level((enum zdu_log_level)(next.log_level + ZDU_LOG_ERROR));

	ctl_changed = strcmp(next.control_socket, d->cfg.control_socket) != 0 ||
		      strcmp(next.control_mode, d->cfg.control_mode) != 0 ||
		      strcmp(next.control_group, d->cfg.control_group) != 0;
	if (listen_changed) {
		/* Old and new sets usually share a port, which cannot be bound
		 * twice. A restart is safe instead: HAProxy keeps the state the
		 * agent last set while the port is closed. */
		struct zdu_strlist t = next.listen;

		zdu_log_warn("reload: agent.listen changes take effect at the next restart");
		next.listen = d->cfg.listen;
		d->cfg.listen = t;
	}
	if (ctl_changed) {
		/* The socket may live in a directory only root can write: it
		 * moves at the next restart, and status keeps showing the old. */
		char *t;

		zdu_log_warn("reload: control socket settings take effect at the next restart");
		t = next.control_socket; next.control_socket = d->cfg.control_socket; d->cfg.control_socket = t;
		t = next.control_mode; next.control_mode = d->cfg.control_mode; d->cfg.control_mode = t;
		t = next.control_group; next.control_group = d->cfg.control_group; d->cfg.control_group = t;
	}
	zdu_config_free(&d->cfg);
	d->cfg = next;
	config_warnings(&d->cfg);
	{
		struct zdu_event fa = { .kind = ZDU_EV_FAIL_ACTION, .cause = "configuration reloaded",
					.on_failure = (enum zdu_fail_action)d->cfg.probe_on_failure };

		zdu_state_apply(&d->state, &fa);
	}
	apply_detail(d, "configuration reloaded");
	zdu_slowstart_configure(d->slowstart, &d->cfg);
	apply_probe(d);
	if (apply_drain(d, err, sizeof(err)) < 0)
		zdu_log_error("reload: drain detection: %s", err);
	if (apply_etcd(d, err, sizeof(err)) < 0)
		zdu_log_error("reload: etcd: %s", err);
	attach_guard(d);
	d->reloads++;
	zdu_log_notice("configuration reloaded from %s", d->cfg.path);
out:
	zdu_notify_ready(zdu_state_reply_text(&d->state, reply, sizeof(reply)));
}

static void stop(struct zdu_daemon *d, const char *why)
{
	if (d->stopping)
		return;
	d->stopping = 1;
	zdu_log_notice("stopping: %s", why);
	zdu_notify_stopping();
	/* Each part frees itself from its close callbacks, which the loop runs
	 * before zdu_daemon_run() returns. Parts a failed start never made are
	 * NULL. */
	if (d->listener)
		zdu_listener_close(d->listener);
	if (d->flagf)
		zdu_flag_file_close(d->flagf);
	/* Waiters go before the control socket that holds their clients. */
	while (!zdu_list_empty(&d->waiters)) {
		struct waiter *w = zdu_container_of(d->waiters.next, struct waiter, link);

		zdu_list_remove(&w->link);
		uv_close((uv_handle_t *)&w->timer, waiter_closed);
	}
	if (d->control_up)
		zdu_control_close(&d->control, NULL);
	if (d->drain)
		zdu_drain_close(d->drain);
	d->drain = NULL;
	if (d->probe)
		zdu_probe_close(d->probe);
	d->probe = NULL;
	if (d->slowstart)
		zdu_slowstart_close(d->slowstart);
	close_etcd(d);
	if (d->http)
		zdu_http_close(d->http);
	d->listener = NULL;
	d->flagf = NULL;
	d->probe = NULL;
	d->slowstart = NULL;
	d->http = NULL;
	uv_close((uv_handle_t *)&d->sig_hup, NULL);
	uv_close((uv_handle_t *)&d->sig_term, NULL);
	uv_close((uv_handle_t *)&d->sig_int, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct zdu_daemon *d = s->data;

	if (signum == SIGHUP)
		reload(d);
	else
		stop(d, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* Classic double duty: the parent stays until the child says it is up, so
 * "zdu-agent" without --foreground still fails loudly on a bad start. */
static int daemonize(int *ready_fd)
{
	int p[2];
	pid_t pid;
	char c = 1;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			_exit(ZDU_EXIT_ERROR); /* the child failed and said why */
		_exit(ZDU_EXIT_OK);
	}
	close(p[0]);
	if (setsid() < 0)
		return -1;
	if (chdir("/") < 0)
		return -1;
	*ready_fd = p[1];
	return 0;
}

static void daemon_ready(struct zdu_daemon *d)
{
	char reply[ZDU_REPLY_MAX];
	int fd;

	zdu_notify_ready(zdu_state_reply_text(&d->state, reply, sizeof(reply)));
	if (d->ready_fd >= 0) {
		char c = 1;

		/* From here on, messages go to syslog. */
		zdu_log_use_syslog("zdu-agent");
		fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
		if (write(d->ready_fd, &c, 1) != 1)
			zdu_log_warn("cannot tell the parent process we are ready");
		close(d->ready_fd);
		d->ready_fd = -1;
	}
}

int zdu_daemon_run(const char *config_path, int config_given, int foreground)
{
	struct zdu_daemon *d;
	char err[512], reply[ZDU_REPLY_MAX];
	int rc = ZDU_EXIT_ERROR;

	d = calloc(1, sizeof(*d));
	if (!d)
		return ZDU_EXIT_ERROR;
	d->ready_fd = -1;
	d->config_given = config_given;
	the_daemon = d;
	if (zdu_config_load(config_path, !config_given, &d->cfg, err, sizeof(err)) != ZDU_OK) {
		zdu_log_error("%s", err);
		free(d);
		return ZDU_EXIT_ERROR;
	}
	zdu_log_set_level((enum zdu_log_level)(d->cfg.log_level + ZDU_LOG_ERROR));
	/* The daemon moves to "/": a relative --config must still be found by
	 * a reload. */
	if (!foreground && d->cfg.path[0] != '/') {
		char *abs = realpath(d->cfg.path, NULL);

		if (abs) {
			free(d->cfg.path);
			d->cfg.path = abs;
		}
	}
	if (!foreground && daemonize(&d->ready_fd) < 0) {
		zdu_log_error("cannot daemonize: %s", strerror(errno));
		goto out_cfg;
	}
	/* A probe peer that resets must not kill us. */
	signal(SIGPIPE, SIG_IGN);

	uv_loop_init(&d->loop);
	zdu_list_init(&d->waiters);
	zdu_list_init(&d->jobs);
	zdu_list_init(&d->etcd_jobs);
	uv_signal_init(&d->loop, &d->sig_hup);
	uv_signal_init(&d->loop, &d->sig_term);
	uv_signal_init(&d->loop, &d->sig_int);
	d->sig_hup.data = d->sig_term.data = d->sig_int.data = d;
	d->started_ms = zdu_now_ms();
	d->started_wall = time(NULL);
	zdu_state_init(&d->state, (unsigned)d->cfg.weight, (enum zdu_fail_action)d->cfg.probe_on_failure,
		       d->cfg.probe_enabled ? ZDU_HEALTH_UNKNOWN : ZDU_HEALTH_UNCHECKED);
	zdu_state_observe(&d->state, on_state_change, d);
	apply_detail(d, "configuration");
	d->slowstart = zdu_slowstart_new(&d->loop, &d->state);
	if (!d->slowstart) {
		zdu_log_error("out of memory");
		goto fail;
	}
	zdu_slowstart_configure(d->slowstart, &d->cfg);

	/* The flags first: the first probe answered must already reflect
	 * them (etcd's as cached until etcd answers). */
	d->flagf = zdu_flag_file_new(&d->loop, &d->state, d->cfg.flag_file, d->cfg.flag_poll_ms, err,
				     sizeof(err));
	if (!d->flagf) {
		zdu_log_error("%s", err);
		goto fail;
	}
	if (apply_etcd(d, err, sizeof(err)) < 0) {
		zdu_log_error("%s", err);
		goto fail;
	}
	if (start_control(d, err, sizeof(err)) < 0) {
		zdu_log_error("%s", err);
		goto fail;
	}
	d->control_up = 1;
	d->listener = zdu_listener_new(&d->loop, &d->cfg, &d->state, err, sizeof(err));
	if (!d->listener) {
		zdu_log_error("%s", err);
		goto fail;
	}
	if (apply_probe(d) < 0 || apply_drain(d, err, sizeof(err)) < 0)
		goto fail;
	attach_guard(d);
	uv_signal_start(&d->sig_hup, on_signal, SIGHUP);
	uv_signal_start(&d->sig_term, on_signal, SIGTERM);
	uv_signal_start(&d->sig_int, on_signal, SIGINT);

	config_warnings(&d->cfg);
	zdu_log_notice("zdu-agent %s started (config %s), replying \"%s\"", ZDU_VERSION, d->cfg.path,
		       zdu_state_reply_text(&d->state, reply, sizeof(reply)));
	daemon_ready(d);
	uv_run(&d->loop, UV_RUN_DEFAULT);
	rc = ZDU_EXIT_OK;
	goto out_loop;
fail:
	d->stopping = 0;
	stop(d, "start failed");
	uv_run(&d->loop, UV_RUN_DEFAULT);
out_loop:
	if (uv_loop_close(&d->loop) != 0)
		zdu_log_error("event loop closed with handles still open");
out_cfg:
	zdu_config_free(&d->cfg);
	free(d);
	return rc;
}
