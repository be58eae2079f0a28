#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zdu/cli.h"
#include "zdu/common.h"
#include "zdu/config.h"
#include "zdu/control_proto.h"
#include "zdu/etcd.h"
#include "zdu/etcd_keys.h"
#include "zdu/flag.h"
#include "zdu/flag_etcd.h"

/* How long the local daemon gets to show the change it watches. */
#define CONFIRM_MS 5000

struct one_call {
	int done;
	enum zdu_err err;
	char msg[512];
	int64_t revision;
	int64_t deleted;
};

static void on_done(const struct zdu_etcd_result *res, void *data)
{
	struct one_call *c = data;

	c->done = 1;
	c->err = res->err;
	zdu_strlcpy(c->msg, res->msg, sizeof(c->msg));
	c->revision = res->revision;
	c->deleted = res->deleted;
}

/* One put or delete, the loop run until it answered: a command-line tool
 * may wait, and the client already moves across the endpoints. */
static int etcd_write(const struct zdu_config *cfg, const char *key, const char *value, size_t len,
		      struct one_call *call)
{
	struct zdu_etcd_conf ec;
	uv_loop_t loop;
	struct zdu_http *http;
	struct zdu_etcd *e;
	int rc;

	memset(call, 0, sizeof(*call));
	zdu_config_etcd_conf(cfg, &ec);
	uv_loop_init(&loop);
	http = zdu_http_new(&loop);
	e = http ? zdu_etcd_new(&loop, http, &ec, call->msg, sizeof(call->msg)) : NULL;
	if (!e) {
		if (!http)
			snprintf(call->msg, sizeof(call->msg), "cannot initialize libcurl");
		rc = -1;
	} else {
		rc = value ? zdu_etcd_put(e, key, value, len, 0, on_done, call) : zdu_etcd_delete(e, key, on_done, call);
		if (rc < 0)
			snprintf(call->msg, sizeof(call->msg), "out of memory");
		while (rc == 0 && !call->done && uv_run(&loop, UV_RUN_ONCE))
			;
		if (rc == 0 && !call->done) {
			snprintf(call->msg, sizeof(call->msg), "no answer");
			rc = -1;
		}
		if (rc == 0 && call->err != ZDU_OK)
			rc = -1;
	}
	zdu_etcd_free(e);
	if (http)
		zdu_http_close(http);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	return rc;
}

static const char *jget(json_t *o, const char *a, const char *b, const char *c)
{
	json_t *v = json_object_get(json_object_get(json_object_get(o, a), b), c);

	return json_is_string(v) ? json_string_value(v) : "";
}

/* The local daemon confirms when its etcd source has caught up with the
 * revision of our write and shows the key as we left it. */
static json_t *confirm(const struct zdu_config *cfg, const char *service, int64_t revision, int on, char *err,
		       size_t err_size, int *not_running)
{
	uint64_t deadline = zdu_now_ms() + CONFIRM_MS;
	enum zdu_err e;
	json_t *st = NULL;

	*not_running = 0;
	for (;;) {
		json_t *fe;
		char why[256];

		json_decref(st);
		st = zdu_ctl_call(cfg->control_socket, "status", 2000, &e, err, err_size);
		if (!st) {
			*not_running = e == ZDU_ERR_NOT_RUNNING;
			return NULL;
		}
		if (zdu_flag_etcd_shows_key(st, service, revision, on, why, sizeof(why)))
			return st;
		fe = json_object_get(json_object_get(st, "flag"), "etcd");
		if (zdu_now_ms() > deadline) {
			if (!json_is_object(fe))
				snprintf(err, err_size, "the running agent does not use etcd (restart or reload it)");
			else if (!json_is_true(json_object_get(fe, "reachable")))
				snprintf(err, err_size, "the agent cannot reach etcd: %s", jget(st, "flag", "etcd", "last_error"));
			else if (service && !json_is_object(json_object_get(json_object_get(fe, "services"), service)))
				snprintf(err, err_size, "%s", why);
			else
				snprintf(err, err_size, "the agent has not seen revision %lld within %d s",
					 (long long)revision, CONFIRM_MS / 1000);
			json_decref(st);
			return NULL;
		}
		usleep(50 * 1000);
	}
}

/* Says what the write did, once the local daemon shows it (--wait then
 * waits for the drain). */
static int report(const struct zdu_config *cfg, const struct zdu_cli_maint *m, const char *service, const char *key,
		  int64_t revision, int64_t deleted, int by_agent)
{
	const char *mode = m->on ? zdu_flag_mode_name(m->mode) : "off";
	char err[512];
	int not_running;
	json_t *st;

	/* A delete of a key that was not there makes no event: the agent
	 * only has to show it absent. */
	st = confirm(cfg, service, !m->on && deleted == 0 ? 0 : revision, m->on, err, sizeof(err), &not_running);
	if (!st) {
		if (not_running) {
			printf("maintenance %s written to etcd %s (revision %lld); the agent here is not "
			       "running: it applies it once started\n",
			       mode, key, (long long)revision);
			return m->wait ? ZDU_EXIT_ERROR : ZDU_EXIT_OK;
		}
		fprintf(stderr, "zdu-agent: written to etcd %s (revision %lld), but not confirmed: %s\n", key,
			(long long)revision, err);
		return ZDU_EXIT_ERROR;
	}
	if (m->json) {
		json_dumpf(st, stdout, JSON_COMPACT);
		printf("\n");
	} else if (service) {
		/* The service's own reply is the listener's (by name); what
		 * the agent holds for the service is its etcd flag. */
		json_t *sv = json_object_get(json_object_get(json_object_get(json_object_get(st, "flag"), "etcd"),
							     "services"), service);
		json_t *sm = json_object_get(sv, "mode"), *e = json_object_get(sv, "error");

		printf("service %s: maintenance %s (etcd %s, revision %lld%s); the agent's etcd flag for it: %s%s%s\n",
		       service, mode, key, (long long)revision, by_agent ? ", written by the agent" : "",
		       json_is_string(sm) ? json_string_value(sm) : "?", json_is_string(e) ? ": " : "",
		       json_is_string(e) ? json_string_value(e) : "");
	} else {
		json_t *r = json_object_get(st, "reply");

		printf("maintenance %s (etcd %s, revision %lld%s); HAProxy now gets: %s\n", mode, key,
		       (long long)revision, by_agent ? ", written by the agent" : "",
		       json_is_string(r) ? json_string_value(r) : "?");
		if (!m->on && json_is_true(json_object_get(json_object_get(json_object_get(st, "flag"), "file"),
							   "active")))
			printf("note: the local flag file %s still says maintenance, and it wins; "
			       "clear it with --maintenance off --local\n",
			       cfg->flag_file);
	}
	json_decref(st);
	return m->wait ? zdu_cli_wait_drained(cfg, m) : ZDU_EXIT_OK;
}

/* etcd written by this process, with the configuration's credentials: the
 * cluster-wide key, or the node's key when no daemon can do it (why). */
static int write_direct(struct zdu_config *cfg, const struct zdu_cli_maint *m, const char *service, const char *why)
{
	struct zdu_flag flag = { .mode = ZDU_FLAG_OFF };
	char key[512], text[ZDU_FLAG_MAX_BYTES], err[512] = "";
	struct one_call call;
	size_t len = 0;
	enum zdu_err e = zdu_config_read_secret(cfg, err, sizeof(err));

	if (e != ZDU_OK) {
		if (m->all)
			fprintf(stderr,
				"zdu-agent: maintenance flag not changed: --all writes etcd with the etcd user of "
				"the configuration, and %s; run it as root, or give it a configuration with an "
				"etcd user of your own (--config FILE)\n",
				zdu_err_text(e, err));
		else
			fprintf(stderr,
				"zdu-agent: maintenance flag not changed: %s, and writing etcd without it needs "
				"the agent's etcd secret: %s; start the agent (it writes the key with its own "
				"credentials), or run this as root\n",
				why, zdu_err_text(e, err));
		return ZDU_EXIT_ERROR;
	}
	if (m->all)
		snprintf(key, sizeof(key), ZDU_ETCD_KEY_ALL, cfg->etcd_prefix);
	else if (service)
		snprintf(key, sizeof(key), ZDU_ETCD_KEY_SERVICE, cfg->etcd_prefix, cfg->etcd_node, service);
	else
		snprintf(key, sizeof(key), ZDU_ETCD_KEY_NODE, cfg->etcd_prefix, cfg->etcd_node);
	if (m->on) {
		flag.mode = m->mode;
		zdu_text_sanitize(flag.reason, sizeof(flag.reason), m->reason ? m->reason : "",
				  m->reason ? strlen(m->reason) : 0);
		zdu_flag_stamp(&flag);
		len = zdu_flag_format(&flag, text, sizeof(text));
		if (!len) {
			fprintf(stderr, "zdu-agent: the flag does not fit in %d bytes\n", ZDU_FLAG_MAX_BYTES);
			return ZDU_EXIT_ERROR;
		}
	}
	if (etcd_write(cfg, key, m->on ? text : NULL, len, &call) < 0) {
		fprintf(stderr, "zdu-agent: maintenance flag not changed: %s\n", zdu_err_text(call.err, call.msg));
		return ZDU_EXIT_ERROR;
	}
	if (m->all) {
		printf("cluster-wide maintenance %s (etcd %s, revision %lld): every agent watching etcd "
		       "applies it; a node's own key and local flag file still win\n",
		       m->on ? zdu_flag_mode_name(flag.mode) : "off", key, (long long)call.revision);
		return ZDU_EXIT_OK;
	}
	return report(cfg, m, service, key, call.revision, call.deleted, 0);
}

/* The longest the daemon takes to answer set-etcd-flag (its control socket
 * holds the request that long plus control.timeout_ms), plus a margin. */
static int through_daemon_ms(const struct zdu_config *cfg)
{
	int64_t ms = zdu_config_etcd_answer_ms(cfg) + cfg->control_timeout_ms + 1000;

	return ms > 3600000 ? 3600000 : (int)ms;
}

int zdu_cli_maintenance_etcd(struct zdu_config *cfg, const struct zdu_cli_maint *m, const char *service)
{
	char req[ZDU_CTL_LINE_MAX], reason[ZDU_REASON_MAX], err[512], why[600];
	enum zdu_err e;
	json_t *ans;

	/* main() already refuses --service with --all. */
	if (service && !zdu_cli_service(cfg, service, 0))
		return ZDU_EXIT_USAGE;
	if (m->all)
		return write_direct(cfg, m, NULL, NULL);
	/* The node's key (or one service's): the daemon writes it with its
	 * own etcd credentials, which an operator in the control socket's
	 * group may not read, and names the operator in the flag's by=. */
	if (m->on) {
		zdu_text_sanitize(reason, sizeof(reason), m->reason ? m->reason : "", m->reason ? strlen(m->reason) : 0);
		zdu_cli_request(req, sizeof(req), service, "set-etcd-flag %s %s", zdu_flag_mode_name(m->mode), reason);
	} else {
		zdu_cli_request(req, sizeof(req), service, "clear-etcd-flag");
	}
	ans = zdu_ctl_call(cfg->control_socket, req, through_daemon_ms(cfg), &e, err, sizeof(err));
	if (ans && json_is_true(json_object_get(ans, "ok"))) {
		json_t *k = json_object_get(ans, "key");
		char key[512];
		int rc;

		zdu_strlcpy(key, json_is_string(k) ? json_string_value(k) : "?", sizeof(key));
		rc = report(cfg, m, service, key, json_integer_value(json_object_get(ans, "revision")),
			    json_integer_value(json_object_get(ans, "deleted")), 1);
		json_decref(ans);
		return rc;
	}
	if (ans) {
		json_t *em = json_object_get(ans, "error");
		const char *msg = json_is_string(em) ? json_string_value(em) : "?";

		if (service && (strstr(msg, "mode must be") || strstr(msg, "takes no argument"))) {
			/* An agent started before service= existed: it watches
			 * no service key, so writing one directly would change
			 * nothing it sees. */
			fprintf(stderr, "zdu-agent: maintenance flag not changed: the running agent is older than "
					"--service (it says: %s); restart it\n", msg);
			json_decref(ans);
			return ZDU_EXIT_ERROR;
		}
		if (strncmp(msg, "unknown command", 15) != 0) {
			fprintf(stderr, "zdu-agent: maintenance flag not changed: the agent says: %s\n", msg);
			json_decref(ans);
			return ZDU_EXIT_ERROR;
		}
		/* An agent started before this command existed. */
		snprintf(why, sizeof(why), "the running agent is older than this command (restart it)");
		json_decref(ans);
	} else if (e == ZDU_ERR_NOT_RUNNING) {
		snprintf(why, sizeof(why), "the agent is not running (%s)", err);
	} else {
		fprintf(stderr, "zdu-agent: maintenance flag not changed: %s\n", err);
		return ZDU_EXIT_ERROR;
	}
	return write_direct(cfg, m, service, why);
}
