#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "zdu/cli.h"
#include "zdu/common.h"
#include "zdu/config.h"
#include "zdu/control_proto.h"
#include "zdu/flag.h"

static int wait_fd(int fd, short events, int64_t deadline_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t left;
	int r;

	do {
		left = deadline_ms - (int64_t)zdu_now_ms();
		if (left <= 0)
			return 0;
		r = poll(&p, 1, (int)(left > 1000000 ? 1000000 : left));
	} while (r < 0 && errno == EINTR);
	return r;
}

json_t *zdu_ctl_call(const char *path, const char *request, int timeout_ms, enum zdu_err *errp,
		     char *err, size_t err_size)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int64_t deadline = (int64_t)zdu_now_ms() + timeout_ms;
	size_t len = 0, cap = 65536, off = 0, rlen = strlen(request);
	char *buf = NULL, line[ZDU_CTL_LINE_MAX + 2];
	json_error_t jerr;
	json_t *obj = NULL;
	int fd;

	*errp = ZDU_ERR_IO;
	if (snprintf(line, sizeof(line), "%s\n", request) >= (int)sizeof(line)) {
		snprintf(err, err_size, "request too long");
		return NULL;
	}
	rlen++;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, err_size, "socket: %s", strerror(errno));
		return NULL;
	}
	zdu_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		if (errno == ENOENT || errno == ECONNREFUSED)
			*errp = ZDU_ERR_NOT_RUNNING;
		snprintf(err, err_size, "control socket %s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	while (off < rlen) {
		ssize_t w = send(fd, line + off, rlen - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EPIPE || errno == ECONNRESET)) {
			/* The daemon answered and closed before reading it all (it
			 * is busy): its answer is waiting, read it. */
			break;
		}
		if (w < 0) {
			snprintf(err, err_size, "control socket %s: send: %s", path, strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	buf = malloc(cap);
	if (!buf) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t r;

		if (wait_fd(fd, POLLIN, deadline) <= 0) {
			*errp = ZDU_ERR_TIMEOUT;
			snprintf(err, err_size, "control socket %s: no answer within %d ms", path, timeout_ms);
			goto out;
		}
		r = recv(fd, buf + len, cap - len - 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, err_size, "control socket %s: recv: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (memchr(buf, '\n', len))
			break;
		if (len + 1 >= cap) {
			*errp = ZDU_ERR_PROTO;
			snprintf(err, err_size, "control socket %s: answer over %zu bytes", path, cap);
			goto out;
		}
	}
	buf[len] = '\0';
	obj = json_loads(buf, JSON_DISABLE_EOF_CHECK, &jerr);
	if (!obj || !json_is_object(obj)) {
		json_decref(obj);
		obj = NULL;
		*errp = ZDU_ERR_PROTO;
		snprintf(err, err_size, "control socket %s: bad answer: %s", path,
			 len ? jerr.text : "empty (is another program listening there?)");
		goto out;
	}
	*errp = ZDU_OK;
out:
	free(buf);
	close(fd);
	return obj;
}

static const char *jstr(json_t *o, const char *path)
{
	char key[64];
	const char *dot;

	while ((dot = strchr(path, '.'))) {
		size_t n = (size_t)(dot - path);

		if (n >= sizeof(key))
			return "";
		memcpy(key, path, n);
		key[n] = '\0';
		o = json_object_get(o, key);
		path = dot + 1;
	}
	o = json_object_get(o, path);
	return json_is_string(o) ? json_string_value(o) : "";
}

static const char *src_text(json_t *f, char *buf, size_t size)
{
	if (json_is_string(json_object_get(f, "error")))
		snprintf(buf, size, "drain (fail safe: %s)", jstr(f, "error"));
	else if (json_is_true(json_object_get(f, "active")))
		snprintf(buf, size, "%s, \"%s\"", jstr(f, "mode"), jstr(f, "reason"));
	else
		snprintf(buf, size, "off");
	return buf;
}

/* Both flag sources, so an operator sees which one holds the node. */
static void print_sources(json_t *flag)
{
	json_t *fe = json_object_get(flag, "etcd");
	char buf[512];

	if (!json_is_object(fe))
		return;
	printf("  file:      %s (%s; it wins)\n", src_text(json_object_get(flag, "file"), buf, sizeof(buf)),
	       jstr(flag, "file.path"));
	printf("  etcd:      %s%s%s\n", src_text(fe, buf, sizeof(buf)), json_is_string(json_object_get(fe, "source")) ? " from the key " : "",
	       json_is_string(json_object_get(fe, "source")) ? jstr(fe, "source") : "");
	if (json_is_true(json_object_get(fe, "reachable")))
		printf("             reachable through %s, revision %lld\n", jstr(fe, "endpoint"),
		       (long long)json_integer_value(json_object_get(fe, "revision")));
	else
		printf("             UNREACHABLE for %lld s: %s; the last known flags stay%s\n",
		       (long long)json_integer_value(json_object_get(fe, "unreachable_s")), jstr(fe, "last_error"),
		       json_is_true(json_object_get(fe, "cached")) ? " (from the cache)" : "");
}

static long long jint(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

/* A slow node: since when, how long, at what weight, and when it would go
 * down. */
static void print_slow(json_t *slow, json_t *held)
{
	char f[32], last[32], max[32], dead[32];

	if (!json_is_object(slow))
		return;
	zdu_duration_text((uint64_t)jint(slow, "for_ms"), f, sizeof(f));
	zdu_duration_text((uint64_t)jint(slow, "last_ms"), last, sizeof(last));
	zdu_duration_text((uint64_t)jint(slow, "max_ms"), max, sizeof(max));
	zdu_duration_text((uint64_t)jint(slow, "dead_after_ms"), dead, sizeof(dead));
	printf("  slow:      since %s (for %s), weight %lld%%; last probe %s%s, slowest %s, %lld slow "
	       "probe%s\n", jstr(slow, "since"), f, jint(slow, "weight_percent"),
	       json_is_true(json_object_get(slow, "answered")) ? "" : "no answer in ", last, max,
	       jint(slow, "probes"), jint(slow, "probes") == 1 ? "" : "s");
	if (json_is_object(held))
		printf("             slow past probe.dead_after_ms (%s): the fleet guard keeps it up\n", dead);
	else
		printf("             down if still slow after %s (probe.dead_after_ms)\n", dead);
}

/* The fleet guard: holding the node up (since when, how long, what it
 * counted), and its last read of the peers. */
static void print_guard(json_t *st)
{
	json_t *held = json_object_get(json_object_get(st, "health"), "guard");
	json_t *g = json_object_get(st, "guard"), *peers, *p;
	char f[32];
	size_t i;

	if (json_is_object(held)) {
		zdu_duration_text((uint64_t)jint(held, "for_ms"), f, sizeof(f));
		if (json_is_true(json_object_get(held, "peers_unknown")))
			printf("  guard:     kept up since %s (for %s, %lld check%s): %s\n", jstr(held, "since"), f,
			       jint(held, "checks"), jint(held, "checks") == 1 ? "" : "s", jstr(held, "reason"));
		else
			printf("  guard:     kept up since %s (for %s, %lld check%s): %lld of %lld nodes already "
			       "down; going down would leave %lld of %lld up, under guard.min_up_percent %lld%%\n",
			       jstr(held, "since"), f, jint(held, "checks"), jint(held, "checks") == 1 ? "" : "s",
			       jint(held, "down"), jint(held, "nodes"), jint(held, "up"), jint(held, "nodes"),
			       jint(held, "min_up_percent"));
	}
	if (!json_is_object(g))
		return;
	if (!json_is_true(json_object_get(g, "active")))
		printf("guard:       off (guard.min_up_percent %lld%%)\n", jint(g, "min_up_percent"));
	else if (!json_is_object(json_object_get(g, "last")))
		printf("guard:       on, guard.min_up_percent %lld%% of %s's nodes; no check yet (none needed)\n",
		       jint(g, "min_up_percent"), jstr(g, "service"));
	else
		printf("guard:       on, guard.min_up_percent %lld%% of %s's nodes; last check %s: %s (%lld "
		       "checks)\n", jint(g, "min_up_percent"), jstr(g, "service"), jstr(g, "last_check"),
		       jstr(g, "last.reason"), jint(g, "checks"));
	peers = json_object_get(g, "peers");
	/* One line per peer, as the last check saw it; a large fleet cut short. */
	for (i = 0; json_is_array(peers) && i < json_array_size(peers) && i < 32; i++) {
		p = json_array_get(peers, i);
		printf("  peer:      %s %s%s%s%s\n", jstr(p, "node"), jstr(p, "state"), *jstr(p, "why") ? " (" : "",
		       jstr(p, "why"), *jstr(p, "why") ? ")" : "");
	}
	if (json_array_size(peers) > i)
		printf("  peer:      ... and %zu more (--status --json lists them)\n", json_array_size(peers) - i);
	if (*jstr(g, "error"))
		printf("  error:     %s\n", jstr(g, "error"));
	if (*jstr(g, "claim_error"))
		printf("  claim:     %s unreadable (ignored): %s\n", jstr(g, "claim_key"), jstr(g, "claim_error"));
}

static void print_status(json_t *st)
{
	json_t *flag = json_object_get(st, "flag");
	json_t *conns = json_object_get(st, "connections");

	printf("reply:       %s\n", jstr(st, "reply"));
	printf("  because:   %s\n", jstr(st, "cause"));
	if (json_is_string(json_object_get(flag, "error")))
		printf("maintenance: %s (fail safe: the flag is not understood)\n", jstr(flag, "mode"));
	else if (json_is_true(json_object_get(flag, "active")))
		printf("maintenance: %s, \"%s\"%s%s%s%s\n", jstr(flag, "mode"), jstr(flag, "reason"),
		       *jstr(flag, "since") ? " since " : "", jstr(flag, "since"), *jstr(flag, "by") ? " by " : "",
		       jstr(flag, "by"));
	else
		printf("maintenance: off\n");
	if (json_is_string(json_object_get(flag, "error")))
		printf("  flag error: %s\n", jstr(flag, "error"));
	print_sources(flag);
	printf("health:      %s", jstr(st, "health.state"));
	if (*jstr(st, "health.version"))
		printf(", nova-api %s (min %s)", jstr(st, "health.version"), jstr(st, "health.min_version"));
	if (*jstr(st, "health.reason"))
		printf(", %s", jstr(st, "health.reason"));
	if (strcmp(jstr(st, "health.state"), "down") == 0 && *jstr(st, "health.fault"))
		printf(" (%s)", strcmp(jstr(st, "health.fault"), "soft") == 0 ? "slow too long" : "failure");
	printf("\n");
	print_slow(json_object_get(json_object_get(st, "health"), "slow"),
		   json_object_get(json_object_get(st, "health"), "guard"));
	print_guard(st);
	if (json_is_object(json_object_get(st, "drain"))) {
		json_t *dr = json_object_get(st, "drain");

		if (json_is_string(json_object_get(dr, "error")))
			printf("drain:       connection count failed: %s\n", jstr(dr, "error"));
		else if (json_is_true(json_object_get(dr, "known")))
			printf("drain:       %lld connection%s to the API (%lld idle)%s\n",
			       (long long)json_integer_value(json_object_get(dr, "connections")),
			       json_integer_value(json_object_get(dr, "connections")) == 1 ? "" : "s",
			       (long long)json_integer_value(json_object_get(dr, "idle")),
			       json_is_true(json_object_get(dr, "drained")) ? ", drained" : "");
	}
	printf("connections: %lld current, %lld answered\n",
	       (long long)json_integer_value(json_object_get(conns, "current")),
	       (long long)json_integer_value(json_object_get(conns, "accepted")));
	printf("uptime:      %llds (pid %lld, zdu-agent %s)\n",
	       (long long)json_integer_value(json_object_get(st, "uptime_s")),
	       (long long)json_integer_value(json_object_get(st, "pid")), jstr(st, "version"));
}

const struct zdu_service_cfg *zdu_cli_service(const struct zdu_config *cfg, const char *name, int need_file)
{
	size_t i;

	for (i = 0; i < cfg->nservices; i++) {
		if (strcmp(cfg->services[i].name, name) != 0)
			continue;
		if (need_file && !cfg->services_listed) {
			fprintf(stderr, "zdu-agent: --service %s: %s lists no services: the node's flag is this "
				"service's; leave out --service\n", name, cfg->path);
			return NULL;
		}
		return &cfg->services[i];
	}
	fprintf(stderr, "zdu-agent: --service %s: no such service in %s (services:", name, cfg->path);
	for (i = 0; i < cfg->nservices; i++)
		fprintf(stderr, " %s", cfg->services[i].name);
	fprintf(stderr, ")\n");
	return NULL;
}

void zdu_cli_request(char *buf, size_t size, const char *service, const char *fmt, ...)
{
	char req[ZDU_CTL_LINE_MAX];
	size_t cmd;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(req, sizeof(req), fmt, ap);
	va_end(ap);
	/* "CMD ARGS" -> "CMD service=NAME ARGS" */
	cmd = strcspn(req, " ");
	if (service)
		snprintf(buf, size, "%.*s service=%s%s", (int)cmd, req, service, req + cmd);
	else
		snprintf(buf, size, "%s", req);
}

json_t *zdu_cli_status_service(json_t *st, const char *service)
{
	json_t *v;
	size_t i;

	if (!service)
		return st;
	json_array_foreach(json_object_get(st, "services"), i, v)
		if (strcmp(jstr(v, "name"), service) == 0)
			return v;
	/* An agent from before services: its one service is at the top. */
	if (!json_object_get(st, "services") && strcmp(jstr(st, "service"), service) == 0)
		return st;
	return NULL;
}

/* Several services: one block each after the node's line. */
static void print_services(json_t *st)
{
	json_t *node = json_object_get(st, "node_state"), *v;
	size_t i;

	printf("node:        %lld services, %lld serving, %lld flagged, %lld down%s\n", jint(node, "services"),
	       jint(node, "serving"), jint(node, "flagged"), jint(node, "down"),
	       json_is_true(json_object_get(node, "drained")) ? ", drained" : "");
	json_array_foreach(json_object_get(st, "services"), i, v) {
		json_t *flag = json_object_get(v, "flag");

		printf("service %s (%s):\n", jstr(v, "name"), jstr(v, "probe_kind"));
		printf("  reply:     %s\n", jstr(v, "reply"));
		if (json_is_true(json_object_get(flag, "active")))
			printf("  flag:      %s from the %s flag, \"%s\"\n", jstr(flag, "mode"), jstr(flag, "source"),
			       jstr(flag, "reason"));
		printf("  health:    %s", jstr(v, "health.state"));
		if (*jstr(v, "health.version"))
			printf(", version %s (min %s)", jstr(v, "health.version"), jstr(v, "health.min_version"));
		if (*jstr(v, "health.reason"))
			printf(", %s", jstr(v, "health.reason"));
		printf("\n");
		if (json_is_object(json_object_get(v, "drain")))
			printf("  drain:     %lld connection%s%s\n", jint(v, "drain.connections"),
			       jint(v, "drain.connections") == 1 ? "" : "s",
			       json_is_true(json_object_get(v, "drained")) ? ", drained" : "");
	}
}

int zdu_cli_status(const struct zdu_config *cfg, int json, const char *service)
{
	char err[512];
	enum zdu_err e;
	json_t *st = zdu_ctl_call(cfg->control_socket, "status", 5000, &e, err, sizeof(err));

	if (!st) {
		struct zdu_flag flag;

		zdu_flag_read(cfg->flag_file, &flag);
		if (json) {
			json_t *o = json_pack("{s:b,s:b,s:s,s:{s:b,s:s,s:s,s:s}}", "ok", 0, "running", 0,
					      "error", err, "flag", "active", flag.mode != ZDU_FLAG_OFF,
					      "mode", zdu_flag_mode_name(flag.mode), "reason", flag.reason,
					      "error", flag.error);

			json_dumpf(o, stdout, JSON_COMPACT);
			printf("\n");
			json_decref(o);
		} else {
			fprintf(stderr, "zdu-agent: the daemon does not answer: %s\n", err);
			printf("maintenance: %s%s%s\n", zdu_flag_mode_name(flag.mode),
			       flag.reason[0] ? ", " : "", flag.reason);
			if (flag.error[0])
				printf("  flag error: %s\n", flag.error);
		}
		return ZDU_EXIT_ERROR;
	}
	if (!json_is_true(json_object_get(st, "ok"))) {
		fprintf(stderr, "zdu-agent: the daemon refused: %s\n", jstr(st, "error"));
		json_decref(st);
		return ZDU_EXIT_ERROR;
	}
	if (service) {
		json_t *sv = zdu_cli_status_service(st, service);

		if (!sv) {
			fprintf(stderr, "zdu-agent: the daemon serves no service \"%s\"\n", service);
			json_decref(st);
			return ZDU_EXIT_ERROR;
		}
		json_incref(sv);
		json_decref(st);
		st = sv;
	}
	if (json) {
		json_object_set_new(st, "running", json_true());
		json_dumpf(st, stdout, JSON_COMPACT);
		printf("\n");
	} else if (!service && json_array_size(json_object_get(st, "services")) > 1) {
		print_services(st);
		printf("uptime:      %llds (pid %lld, zdu-agent %s)\n", jint(st, "uptime_s"), jint(st, "pid"),
		       jstr(st, "version"));
	} else {
		print_status(st);
	}
	json_decref(st);
	return ZDU_EXIT_OK;
}

int zdu_cli_maintenance(const struct zdu_config *cfg, const struct zdu_cli_maint *m)
{
	struct zdu_flag flag = { .mode = ZDU_FLAG_OFF };
	const struct zdu_service_cfg *sc = NULL;
	const char *path = cfg->flag_file, *fkey = "file";
	char err[512];
	enum zdu_err e;
	json_t *st, *ff, *sv;

	if (m->service) {
		if (!(sc = zdu_cli_service(cfg, m->service, 1)))
			return ZDU_EXIT_USAGE;
		path = sc->flag_file;
		fkey = "service_file";
	}

	if (m->on) {
		flag.mode = m->mode;
		zdu_text_sanitize(flag.reason, sizeof(flag.reason), m->reason ? m->reason : "",
				  m->reason ? strlen(m->reason) : 0);
		zdu_flag_stamp(&flag);
	}
	if (zdu_flag_write(path, &flag, err, sizeof(err)) == ZDU_OK) {
		st = zdu_ctl_call(cfg->control_socket, "sync", 5000, &e, err, sizeof(err));
	} else if (errno == EACCES || errno == EPERM || errno == EROFS) {
		/* No write access to the state directory (an operator in the
		 * socket's group): the daemon writes it for us. */
		char req[ZDU_CTL_LINE_MAX];
		char werr[512];

		zdu_strlcpy(werr, err, sizeof(werr));
		if (m->on)
			zdu_cli_request(req, sizeof(req), m->service, "set-flag %s %s", zdu_flag_mode_name(flag.mode),
					flag.reason);
		else
			zdu_cli_request(req, sizeof(req), m->service, "clear-flag");
		st = zdu_ctl_call(cfg->control_socket, req, 10000, &e, err, sizeof(err));
		if (!st) {
			fprintf(stderr, "zdu-agent: maintenance flag not changed: %s; and through the daemon: %s\n",
				werr, err);
			return ZDU_EXIT_ERROR;
		}
		if (!json_is_true(json_object_get(st, "ok"))) {
			fprintf(stderr, "zdu-agent: maintenance flag not changed: the daemon says: %s\n",
				jstr(st, "error"));
			json_decref(st);
			return ZDU_EXIT_ERROR;
		}
		/* The daemon stamped it: compare what it wrote. */
		sv = zdu_cli_status_service(st, m->service);
		zdu_strlcpy(flag.since, jstr(json_object_get(json_object_get(sv, "flag"), fkey), "since"),
			    sizeof(flag.since));
	} else {
		fprintf(stderr, "zdu-agent: maintenance flag not changed: %s\n", err);
		return ZDU_EXIT_ERROR;
	}

	if (!st) {
		if (e == ZDU_ERR_NOT_RUNNING) {
			printf("maintenance %s written to %s; the agent is not running: it replies "
			       "accordingly once started\n",
			       m->on ? zdu_flag_mode_name(flag.mode) : "off", path);
			return m->wait ? ZDU_EXIT_ERROR : ZDU_EXIT_OK;
		}
		fprintf(stderr, "zdu-agent: flag written to %s, but the daemon did not confirm: %s\n", path, err);
		return ZDU_EXIT_ERROR;
	}
	if (!json_is_true(json_object_get(st, "ok"))) {
		fprintf(stderr, "zdu-agent: flag written to %s, but the daemon did not confirm: %s\n", path,
			jstr(st, "error"));
		json_decref(st);
		return ZDU_EXIT_ERROR;
	}
	/* Confirmation: the daemon's reading of the file is what we wrote. */
	if (!(sv = zdu_cli_status_service(st, m->service))) {
		fprintf(stderr, "zdu-agent: flag written to %s, but the running daemon serves no service \"%s\" "
			"(reload it after adding the service)\n", path, m->service);
		json_decref(st);
		return ZDU_EXIT_ERROR;
	}
	ff = json_object_get(json_object_get(sv, "flag"), fkey);
	if (strcmp(jstr(ff, "mode"), zdu_flag_mode_name(flag.mode)) != 0 ||
	    (m->on && strcmp(jstr(ff, "since"), flag.since) != 0)) {
		fprintf(stderr,
			"zdu-agent: the daemon reads flag mode \"%s\" from %s, not what was written "
			"(\"%s\"): was it changed meanwhile, or does the daemon use another file?\n",
			jstr(ff, "mode"), path, zdu_flag_mode_name(flag.mode));
		json_decref(st);
		return ZDU_EXIT_ERROR;
	}
	if (m->json) {
		json_dumpf(st, stdout, JSON_COMPACT);
		printf("\n");
	} else {
		printf("maintenance %s%s%s; HAProxy now gets: %s\n", m->on ? zdu_flag_mode_name(flag.mode) : "off",
		       m->service ? " for service " : "", m->service ? m->service : "", jstr(sv, "reply"));
	}
	json_decref(st);
	return m->wait ? zdu_cli_wait_drained(cfg, m) : ZDU_EXIT_OK;
}

int zdu_cli_wait_drained(const struct zdu_config *cfg, const struct zdu_cli_maint *m)
{
	char err[512];
	enum zdu_err e;

	{
		char req[128];
		json_t *w;

		zdu_cli_request(req, sizeof(req), m->service, "wait-drained %d", m->wait_s * 1000);
		w = zdu_ctl_call(cfg->control_socket, req, m->wait_s * 1000 + 5000, &e, err, sizeof(err));
		if (!w) {
			fprintf(stderr, "zdu-agent: waiting for the drain: %s\n", err);
			return e == ZDU_ERR_TIMEOUT ? ZDU_EXIT_TIMEOUT : ZDU_EXIT_ERROR;
		}
		if (!json_is_true(json_object_get(w, "ok"))) {
			fprintf(stderr, "zdu-agent: waiting for the drain: %s\n", jstr(w, "error"));
			json_decref(w);
			return ZDU_EXIT_ERROR;
		}
		if (!json_is_true(json_object_get(zdu_cli_status_service(w, m->service) ? zdu_cli_status_service(w, m->service) : w,
						   "drained"))) {
			fprintf(stderr, "zdu-agent: not drained after %d s; the %s stays in maintenance\n",
				m->wait_s, m->service ? "service" : "node");
			json_decref(w);
			return ZDU_EXIT_TIMEOUT;
		}
		printf("drained\n");
		json_decref(w);
	}
	return ZDU_EXIT_OK;
}

int zdu_cli_check_config(struct zdu_config *cfg)
{
	char err[512], owner[128], warn[512];
	struct stat st;
	int e;

	/* Valid, but worth knowing: still exit 0. */
	if (zdu_config_etcd_plaintext(cfg, warn, sizeof(warn)))
		fprintf(stderr, "zdu-agent: warning: %s: %s\n", cfg->path, warn);
	if (zdu_config_read_secret(cfg, err, sizeof(err)) == ZDU_OK) {
		printf("%s: configuration ok\n", cfg->path);
		return ZDU_EXIT_OK;
	}
	e = errno;
	/* The agent's etcd secret is its user's alone: an operator who may
	 * not read it is told, not failed. Its owner (the daemon's user) and
	 * root still get the error, as the daemon would at start. */
	if ((e == EACCES || e == EPERM) && geteuid() != 0) {
		if (stat(cfg->etcd_password_file, &st) < 0) {
			snprintf(owner, sizeof(owner), "its directory is closed to you");
		} else if (st.st_uid != geteuid()) {
			struct passwd *pw = getpwuid(st.st_uid);

			snprintf(owner, sizeof(owner), "owner %s%s%ld, mode %04o", pw ? pw->pw_name : "uid ",
				 pw ? " = uid " : "", (long)st.st_uid, (unsigned)(st.st_mode & 07777));
		} else {
			owner[0] = '\0';
		}
		if (owner[0]) {
			fprintf(stderr,
				"zdu-agent: warning: %s (%s): not checked: the agent's etcd secret is for the daemon's "
				"user; run --check-config as that user, or as root, to check it\n",
				err, owner);
			printf("%s: configuration ok, but for etcd.password_file, which you may not read\n", cfg->path);
			return ZDU_EXIT_OK;
		}
	}
	fprintf(stderr, "zdu-agent: %s\n", err);
	return ZDU_EXIT_ERROR;
}
