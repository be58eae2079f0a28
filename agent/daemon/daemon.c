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

struct zdu_service *zdu_daemon_service(const struct zdu_daemon *d, const char *name)
{
	size_t i;

	for (i = 0; i < d->nsvcs; i++)
		if (strcmp(zdu_service_name(d->svcs[i]), name) == 0)
			return d->svcs[i];
	return NULL;
}

int zdu_daemon_drained(const struct zdu_daemon *d)
{
	size_t i, counted = 0;

	for (i = 0; i < d->nsvcs; i++) {
		if (!zdu_service_drain(d->svcs[i]))
			continue;
		counted++;
		if (!zdu_service_state_c(d->svcs[i])->node.drain.drained)
			return 0;
	}
	return counted > 0;
}

/* The node's flag file and etcd keys hold every service. */
static void node_flag(struct zdu_daemon *d, enum zdu_flag_src src, const struct zdu_flag *flag, const char *cause)
{
	size_t i;

	for (i = 0; i < d->nsvcs; i++)
		zdu_service_apply_flag(d->svcs[i], src, flag, cause);
}

static void on_node_flag_file(const struct zdu_flag *flag, const char *cause, void *data)
{
	node_flag(data, ZDU_SRC_FILE, flag, cause);
}

/* What the published state keeps of a service's: nothing that moves with
 * every probe or HAProxy check. */
static void publish_trim(json_t *o)
{
	json_object_del(o, "reply_age_ms");
	json_object_del(json_object_get(json_object_get(o, "flag"), "etcd"), "unreachable_s");
	json_object_del(json_object_get(json_object_get(o, "health"), "slow"), "for_ms");
	json_object_del(json_object_get(json_object_get(o, "health"), "guard"), "for_ms");
	/* The guard's last read of the peers: theirs to publish, not ours. */
	json_object_del(o, "guard");
	/* the drain count's clocks (the coordinator reads them through the
	 * control socket or ssh; through etcd it waits the settle time) */
	json_object_del(json_object_get(o, "drain"), "quiet_ms");
	json_object_del(json_object_get(o, "drain"), "sample_age_ms");
	/* and the probe's (through etcd, wait-healthy counts probes instead) */
	json_object_del(json_object_get(o, "probe"), "last_started_age_ms");
}

/* What the agent publishes in etcd: its status without the counters that
 * move on every HAProxy check, so only a real change is written. */
static json_t *publish_make(void *data)
{
	struct zdu_daemon *d = data;
	json_t *o = zdu_status_json(d), *v;
	size_t i;

	publish_trim(o);
	json_object_del(o, "uptime_s");
	json_object_del(o, "connections");
	json_object_del(o, "metrics");
	json_object_del(o, "etcd");
	json_object_del(o, "control");
	json_array_foreach(json_object_get(o, "services"), i, v) {
		publish_trim(v);
		json_object_del(v, "connections");
	}
	/* "service": the first's, read by older peers' guards; newer ones
	 * find every service under "services". */
	json_object_set_new(o, "node", json_string(d->cfg.etcd_node));
	json_object_set_new(o, "service", json_string(zdu_service_name(d->svcs[0])));
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
	size_t i;

	for (i = 0; i < d->nsvcs; i++) {
		struct zdu_guard *g = d->guards ? d->guards[i] : NULL;

		if (g)
			zdu_guard_set_min_up(g, pct);
		zdu_service_set_guard(d->svcs[i], g && pct > 0 ? g : NULL);
	}
}

static void close_etcd(struct zdu_daemon *d)
{
	size_t i;

	/* The parts first: the client's end cancels their requests without
	 * calling back. */
	for (i = 0; i < d->nsvcs; i++)
		zdu_service_set_guard(d->svcs[i], NULL);
	for (i = 0; d->guards && i < d->nsvcs; i++)
		zdu_guard_close(d->guards[i]);
	free(d->guards);
	d->guards = NULL;
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
	struct zdu_service *svc;

	/* The node's keys (its own and the cluster's) hold every service;
	 * a service's key its own. flag_etcd passes only configured names. */
	if (!service)
		node_flag(d, ZDU_SRC_ETCD, flag, cause);
	else if ((svc = zdu_daemon_service(d, service)))
		zdu_service_apply_flag(svc, ZDU_SRC_SVC_ETCD, flag, cause);
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
	size_t i = 0;

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

		node_flag(d, ZDU_SRC_ETCD, &off, "etcd no longer configured");
		for (i = 0; i < d->nsvcs; i++)
			zdu_service_apply_flag(d->svcs[i], ZDU_SRC_SVC_ETCD, &off, "etcd no longer configured");
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
	d->guards = d->publish ? calloc(d->nsvcs, sizeof(*d->guards)) : NULL;
	for (i = 0; d->guards && i < d->nsvcs; i++)
		if (!(d->guards[i] = zdu_guard_new(d->etcd, c->etcd_prefix, c->etcd_node, zdu_service_name(d->svcs[i]),
						   (unsigned)c->guard_min_up_percent, c->etcd_lease_ttl_s)))
			break;
	if (!d->flage || !d->publish || !d->guards || i < d->nsvcs) {
		if (d->flage && (!d->publish || !d->guards || i < d->nsvcs))
			snprintf(err, err_size, "etcd: out of memory");
		close_etcd(d);
		return -1;
	}
	return 0;
}

/* systemd's STATUS: the reply, and for a slow node since when and for how
 * long (the reply changes with each slow probe, so this stays current).
 * With several services, each one's reply after its name. */
static const char *notify_one(const struct zdu_state *st, char *buf, size_t size);

static const char *notify_text(const struct zdu_daemon *d, char *buf, size_t size)
{
	char one[ZDU_REPLY_MAX + 96];
	size_t i, len = 0;

	if (d->nsvcs == 1)
		return notify_one(zdu_service_state_c(d->svcs[0]), buf, size);
	buf[0] = '\0';
	for (i = 0; i < d->nsvcs && len + 1 < size; i++) {
		int n = snprintf(buf + len, size - len, "%s%s: %s", i ? " | " : "", zdu_service_name(d->svcs[i]),
				 notify_one(zdu_service_state_c(d->svcs[i]), one, sizeof(one)));

		if (n < 0)
			break;
		len += (size_t)n;
	}
	return buf;
}

static const char *notify_one(const struct zdu_state *st, char *buf, size_t size)
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

/* What the metrics render: the status answer, nothing else. */
static json_t *metrics_snapshot(void *data)
{
	return zdu_status_json(data);
}

static void on_state_change(struct zdu_state *st, int reply_changed, void *data)
{
	char text[ZDU_SERVICES_MAX * 48 + ZDU_REPLY_MAX + 96];
	struct zdu_daemon *d = data;

	if (d->publish)
		zdu_publish_kick(d->publish);
	zdu_metrics_kick(d->metrics);
	if (reply_changed)
		zdu_notify_status(notify_text(d, text, sizeof(text)));
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
	struct zdu_service *svc; /* NULL: the node (every service) */
};

static int waiter_done(const struct waiter *w)
{
	return w->svc ? zdu_service_state_c(w->svc)->node.drain.drained : zdu_daemon_drained(w->d);
}

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
	struct zdu_list *q, *next;

	for (q = d->waiters.next; q != &d->waiters; q = next) {
		struct waiter *w = zdu_container_of(q, struct waiter, link);

		next = q->next;
		if (waiter_done(w))
			waiter_answer(w);
	}
}

/* set-flag / clear-flag: the write (with its fsyncs) runs in libuv's
 * thread pool, so a slow disk never holds a reply to HAProxy. */
struct flag_job {
	uv_work_t work;
	struct zdu_list link;
	struct zdu_daemon *d;
	struct zdu_control_client *c; /* NULL once the client went away */
	struct zdu_flag flag;
	struct zdu_service *svc; /* NULL: the node's flag file */
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
	if (status == 0 && j->rc == ZDU_OK && j->svc)
		zdu_service_check_flag(j->svc, "control socket changed the flag");
	else if (status == 0 && j->rc == ZDU_OK && d->flagf)
		zdu_flag_file_check(d->flagf, "control socket changed the flag");
	if (j->c) {
		if (status < 0 || j->rc != ZDU_OK)
			zdu_control_reply(j->c, json_pack("{s:b,s:s}", "ok", 0, "error",
							  status < 0 ? uv_strerror(status) : zdu_err_text(j->rc, j->err)));
		else
			zdu_control_reply(j->c, zdu_status_json(d));
	}
	if (j->rc != ZDU_OK)
		zdu_log_error("control: flag not changed: %s", zdu_err_text(j->rc, j->err));
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
			   const struct zdu_ctl_req *req, struct zdu_service *svc)
{
	struct flag_job *j;
	long uid = zdu_control_peer_uid(c);

	if (svc && !zdu_service_flag_path(svc)[0]) {
		zdu_control_reply(c, json_pack("{s:b,s:s}", "ok", 0, "error",
					       "this service has no flag file of its own (no services list in "
					       "the configuration): its flag is the node's"));
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j || !(j->path = strdup(svc ? zdu_service_flag_path(svc) : d->cfg.flag_file))) {
		free(j);
		zdu_control_reply(c, json_pack("{s:b,s:s}", "ok", 0, "error", "out of memory"));
		return;
	}
	j->d = d;
	j->c = c;
	j->svc = svc;
	j->work.data = j;
	if (req->cmd == ZDU_CTL_SET_FLAG) {
		j->flag.mode = req->mode;
		zdu_strlcpy(j->flag.reason, req->reason, sizeof(j->flag.reason));
		stamp_for_peer(&j->flag, uid);
	}
	zdu_log_info("control: %s%s%s requested by uid %ld", zdu_ctl_cmd_name(req->cmd), svc ? " of service " : "",
		     svc ? zdu_service_name(svc) : "", uid);
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

static void start_etcd_job(struct zdu_daemon *d, struct zdu_control_client *c, const struct zdu_ctl_req *req,
			   struct zdu_service *svc)
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
	if (svc)
		zdu_strlcpy(j->service, zdu_service_name(svc), sizeof(j->service));
	if (svc)
		snprintf(j->key, sizeof(j->key), ZDU_ETCD_KEY_SERVICE, d->cfg.etcd_prefix, d->cfg.etcd_node,
			 zdu_service_name(svc));
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

/* Control requests. */
/* Status waits for a count of every service whose connections are not
 * counted periodically (out of maintenance): so the answer is exact. */
struct status_wait {
	struct zdu_control_client *c;
	struct zdu_daemon *d;
	unsigned pending;
};

static struct zdu_daemon *the_daemon; /* for status_counted: one daemon per process */

static void status_counted(const char *err, void *data)
{
	(void)err;
	zdu_control_reply(data, zdu_status_json(the_daemon));
}

static void status_request(struct zdu_daemon *d, struct zdu_control_client *c)
{
	struct zdu_drain *dr = d->nsvcs ? zdu_service_drain(d->svcs[0]) : NULL;

	/* Out of maintenance nothing counts connections periodically: count
	 * the default service's now, so the answer is exact (the others'
	 * counts are as recent as their last count), unless the last count is
	 * younger than drain.report_interval_ms: a coordinator polling every
	 * 100 ms made every one of its status requests walk the kernel's TCP
	 * hash for a count it does not read (its node's flagged services are
	 * counted periodically). */
	if (dr && !zdu_drain_flagged(dr) && !zdu_drain_fresh(dr) && zdu_drain_refresh(dr, status_counted, c) == 0)
		return;
	zdu_control_reply(c, zdu_status_json(d));
}

static void ctl_request(struct zdu_control_client *c, const struct zdu_ctl_req *req, void *data)
{
	struct zdu_daemon *d = data;
	struct zdu_service *svc = NULL;
	size_t i;

	if (req->service[0] && !(svc = zdu_daemon_service(d, req->service))) {
		char msg[ZDU_SERVICES_MAX * 66 + 128];
		size_t len;

		len = (size_t)snprintf(msg, sizeof(msg), "unknown service \"%s\" (this agent serves:", req->service);
		for (i = 0; i < d->nsvcs && len < sizeof(msg); i++)
			len += (size_t)snprintf(msg + len, sizeof(msg) - len, " %s", zdu_service_name(d->svcs[i]));
		if (len < sizeof(msg))
			snprintf(msg + len, sizeof(msg) - len, ")");
		zdu_control_reply(c, json_pack("{s:b,s:s}", "ok", 0, "error", msg));
		return;
	}
	switch (req->cmd) {
	case ZDU_CTL_PING:
		zdu_control_reply(c, json_pack("{s:b}", "ok", 1));
		break;
	case ZDU_CTL_SYNC:
		/* The CLI just wrote the flag: read it now rather than wait for
		 * the file event, so the answer shows the reply HAProxy gets. */
		zdu_flag_file_check(d->flagf, "control sync");
		for (i = 0; i < d->nsvcs; i++)
			zdu_service_check_flag(d->svcs[i], "control sync");
		zdu_control_reply(c, zdu_status_json(d));
		break;
	case ZDU_CTL_STATUS:
		status_request(d, c);
		break;
	case ZDU_CTL_SET_FLAG:
	case ZDU_CTL_CLEAR_FLAG:
		start_flag_job(d, c, req, svc);
		break;
	case ZDU_CTL_SET_ETCD_FLAG:
	case ZDU_CTL_CLEAR_ETCD_FLAG:
		start_etcd_job(d, c, req, svc);
		break;
	case ZDU_CTL_WAIT_DRAINED: {
		struct waiter *w;
		int counted = 0;

		for (i = 0; i < d->nsvcs; i++)
			if ((!svc || svc == d->svcs[i]) && zdu_service_drain(d->svcs[i]))
				counted = 1;
		if (!counted) {
			zdu_control_reply(c, json_pack("{s:b,s:s}", "ok", 0, "error",
						       svc || !d->cfg.services_listed
							       ? "drain detection is off (drain.ports is empty)"
							       : "drain detection is off (no service lists drain_ports)"));
			break;
		}
		if ((svc ? zdu_service_state_c(svc)->node.drain.drained : zdu_daemon_drained(d)) || req->arg_ms == 0) {
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
		w->svc = svc;
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
	size_t i;

	for (i = 0; i < d->nsvcs; i++)
		if (zdu_service_drain(d->svcs[i]))
			zdu_drain_refresh_cancel(zdu_service_drain(d->svcs[i]), c);

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

	d->control = zdu_control_new(&d->loop, &d->cfg, &h, err, err_size);
	return d->control ? 0 : -1;
}

static int strlist_equal(const struct zdu_strlist *a, const struct zdu_strlist *b)
{
	size_t i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return 0;
	return 1;
}

/* The same services, in the same order, on the same own ports. */
static int same_services(const struct zdu_config *a, const struct zdu_config *b)
{
	size_t i;

	if (a->nservices != b->nservices || a->services_listed != b->services_listed)
		return 0;
	for (i = 0; i < a->nservices; i++)
		if (strcmp(a->services[i].name, b->services[i].name) != 0 ||
		    !strlist_equal(&a->services[i].listen, &b->services[i].listen))
			return 0;
	return 1;
}

/* Reload: a new configuration that fails anywhere leaves the running one
 * untouched. What can fail (binding addresses, finding the flag directory)
 * is done first, on new objects; only then are the old ones swapped out. */
static void reload(struct zdu_daemon *d)
{
	struct zdu_config next;
	struct zdu_flag_file *nf = NULL;
	char err[512], text[ZDU_SERVICES_MAX * 48 + ZDU_REPLY_MAX + 96];
	enum zdu_err e;
	int listen_changed, ctl_changed;
	size_t i;

	zdu_notify_reloading();
	/* A file named with --config must still be there; only the default
	 * path may be absent (every key has a default). */
	err[0] = '\0';
	if ((e = zdu_config_load(d->cfg.path, !d->config_given, &next, err, sizeof(err))) != ZDU_OK) {
		zdu_log_error("reload: keeping the running configuration: %s", zdu_err_text(e, err));
		goto out;
	}
	listen_changed = next.listen.n != d->cfg.listen.n;
	for (i = 0; !listen_changed && i < next.listen.n; i++)
		listen_changed = strcmp(next.listen.v[i], d->cfg.listen.v[i]) != 0;
	if (strcmp(next.flag_file, d->cfg.flag_file) != 0 &&
	    !(nf = zdu_flag_file_new(&d->loop, next.flag_file, next.flag_poll_ms, on_node_flag_file, d, err,
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
	if (!same_services(&next, &d->cfg)) {
		/* The services' states, ports and flags are made at start:
		 * their list (names, order, own ports) changes at the next
		 * restart; the running ones keep their settings meanwhile. */
		struct zdu_service_cfg *t = next.services;
		size_t tn = next.nservices;
		int tl = next.services_listed;

		zdu_log_warn("reload: changes to the services list (names, order, listen) take effect at the "
			     "next restart");
		next.services = d->cfg.services;
		next.nservices = d->cfg.nservices;
		next.services_listed = d->cfg.services_listed;
		d->cfg.services = t;
		d->cfg.nservices = tn;
		d->cfg.services_listed = tl;
	}
	zdu_config_free(&d->cfg);
	d->cfg = next;
	config_warnings(&d->cfg);
	for (i = 0; i < d->nsvcs; i++)
		if (d->cfg.services[i].probe_enabled && !d->http && !(d->http = zdu_http_new(&d->loop)))
			zdu_log_error("reload: probe: cannot initialize libcurl");
	for (i = 0; i < d->nsvcs; i++)
		zdu_service_configure(d->svcs[i], &d->cfg, i, d->http, err, sizeof(err));
	if (apply_etcd(d, err, sizeof(err)) < 0)
		zdu_log_error("reload: etcd: %s", err);
	attach_guard(d);
	if (zdu_metrics_apply(&d->metrics, &d->loop, &d->cfg, metrics_snapshot, d, err, sizeof(err)) < 0)
		zdu_log_error("reload: metrics: %s", err);
	d->reloads++;
	zdu_log_notice("configuration reloaded from %s", d->cfg.path);
out:
	zdu_notify_ready(notify_text(d, text, sizeof(text)));
}

static void stop(struct zdu_daemon *d, const char *why)
{
	size_t i;

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
		zdu_control_close(d->control);
	d->control = NULL;
	close_etcd(d);
	for (i = 0; i < d->nsvcs; i++)
		if (d->svcs[i])
			zdu_service_close(d->svcs[i]);
	free(d->svcs);
	d->svcs = NULL;
	d->nsvcs = 0;
	zdu_metrics_close(d->metrics);
	d->metrics = NULL;
	if (d->http)
		zdu_http_close(d->http);
	d->listener = NULL;
	d->flagf = NULL;
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

/* Every service's state, slow start and own flag file, before anything
 * can ask for a reply. */
static int make_services(struct zdu_daemon *d, char *err, size_t err_size)
{
	size_t i;

	if (!(d->svcs = calloc(d->cfg.nservices, sizeof(*d->svcs)))) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	for (i = 0; i < d->cfg.nservices; i++) {
		if (!(d->svcs[i] = zdu_service_new(&d->loop, &d->cfg, i, err, err_size)))
			return -1;
		d->nsvcs++;
		zdu_state_observe(zdu_service_state(d->svcs[i]), on_state_change, d);
	}
	return 0;
}

/* agent.listen answers every service: by name when there are several. */
static int start_listener(struct zdu_daemon *d, char *err, size_t err_size)
{
	struct zdu_listener_target t[ZDU_SERVICES_MAX];
	size_t i;

	for (i = 0; i < d->nsvcs; i++) {
		t[i].name = zdu_service_name(d->svcs[i]);
		t[i].state = zdu_service_state_c(d->svcs[i]);
	}
	d->listener = zdu_listener_new(&d->loop, &d->cfg, &d->cfg.listen, "agent.listen", t, d->nsvcs, err,
				       err_size);
	return d->listener ? 0 : -1;
}

/* Their own ports, probes and counts. libcurl (and the TLS library it
 * initializes) only when something is probed: an agent without a probe
 * stays small. */
static int start_services(struct zdu_daemon *d, char *err, size_t err_size)
{
	size_t i;
	int probes = 0;

	for (i = 0; i < d->cfg.nservices; i++)
		probes |= d->cfg.services[i].probe_enabled;
	if (probes && !d->http && !(d->http = zdu_http_new(&d->loop))) {
		snprintf(err, err_size, "probe: cannot initialize libcurl");
		return -1;
	}
	for (i = 0; i < d->nsvcs; i++)
		if (zdu_service_start(d->svcs[i], d->http, err, err_size) < 0)
			return -1;
	return 0;
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
	char text[ZDU_SERVICES_MAX * 48 + ZDU_REPLY_MAX + 96];
	int fd;

	zdu_notify_ready(notify_text(d, text, sizeof(text)));
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
	char err[512], text[ZDU_SERVICES_MAX * 48 + ZDU_REPLY_MAX + 96];
	enum zdu_err e;
	int rc = ZDU_EXIT_ERROR;

	d = calloc(1, sizeof(*d));
	if (!d)
		return ZDU_EXIT_ERROR;
	d->ready_fd = -1;
	d->config_given = config_given;
	the_daemon = d;
	err[0] = '\0';
	if ((e = zdu_config_load(config_path, !config_given, &d->cfg, err, sizeof(err))) != ZDU_OK) {
		zdu_log_error("%s", zdu_err_text(e, err));
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
	if (make_services(d, err, sizeof(err)) < 0) {
		zdu_log_error("%s", err);
		goto fail;
	}

	/* The flags first: the first probe answered must already reflect
	 * them (etcd's as cached until etcd answers). */
	d->flagf = zdu_flag_file_new(&d->loop, d->cfg.flag_file, d->cfg.flag_poll_ms, on_node_flag_file, d, err,
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
	if (start_listener(d, err, sizeof(err)) < 0) {
		zdu_log_error("%s", err);
		goto fail;
	}
	if (start_services(d, err, sizeof(err)) < 0) {
		zdu_log_error("%s", err);
		goto fail;
	}
	if (zdu_metrics_apply(&d->metrics, &d->loop, &d->cfg, metrics_snapshot, d, err, sizeof(err)) < 0) {
		zdu_log_error("%s", err);
		goto fail;
	}
	attach_guard(d);
	uv_signal_start(&d->sig_hup, on_signal, SIGHUP);
	uv_signal_start(&d->sig_term, on_signal, SIGTERM);
	uv_signal_start(&d->sig_int, on_signal, SIGINT);

	config_warnings(&d->cfg);
	zdu_log_notice("zdu-agent %s started (config %s), replying \"%s\"", ZDU_VERSION, d->cfg.path,
		       notify_text(d, text, sizeof(text)));
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
