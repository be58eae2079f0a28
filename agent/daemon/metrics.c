/* Prometheus's text exposition format from a status snapshot. Each metric
 * family is one group (HELP, TYPE, its samples): the samples of every
 * service are gathered per family first, then written family by family. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zdu/common.h"
#include "zdu/metrics.h"

struct mbuf {
	char *p;
	size_t len, size;
	int failed;
};

static void mb_vprintf(struct mbuf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void mb_vprintf(struct mbuf *b, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	if (b->failed)
		return;
	va_copy(aq, ap);
	n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->size - b->len : 0, fmt, aq);
	va_end(aq);
	if (n < 0) {
		b->failed = 1;
		return;
	}
	if (!b->p || b->len + (size_t)n + 1 > b->size) {
		size_t want = b->size ? b->size : 1024;
		char *np;

		while (want < b->len + (size_t)n + 1)
			want *= 2;
		np = realloc(b->p, want);
		if (!np) {
			b->failed = 1;
			return;
		}
		b->p = np;
		b->size = want;
		vsnprintf(b->p + b->len, b->size - b->len, fmt, ap);
	}
	b->len += (size_t)n;
}

static void mb_printf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mb_printf(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mb_vprintf(b, fmt, ap);
	va_end(ap);
}

/* A label value: backslash, double quote and line feed escaped. */
static void mb_label(struct mbuf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			mb_printf(b, "\\\\");
		else if (*v == '"')
			mb_printf(b, "\\\"");
		else if (*v == '\n')
			mb_printf(b, "\\n");
		else
			mb_printf(b, "%c", *v);
	}
}

enum fam {
	F_BUILD, F_START, F_REPLIES, F_CONNS, F_EVICTED, F_TIMED_OUT, F_OVERSIZED,
	F_ETCD_REACHABLE, F_ETCD_REVISION, F_ETCD_UNREACHABLE,
	F_OPER, F_ADMIN, F_WEIGHT, F_REPLY_CHANGES, F_REPLY_AGE,
	F_MAINT, F_MAINT_MODE, F_MAINT_FLAG, F_MAINT_SINCE, F_FLAG_BAD,
	F_HEALTH, F_SLOW, F_DISABLED,
	F_PROBES, F_PROBE_DURATION, F_PROBE_LAST,
	F_API_INFO, F_API_MAJOR, F_API_MINOR,
	F_DRAIN_KNOWN, F_DRAIN_CONNS, F_DRAINED,
	F_MAX
};

static const struct family {
	const char *name, *type, *help;
} families[F_MAX] = {
	[F_BUILD] = { "zdu_agent_build_info", "gauge", "zdu-agent's version, as a label; always 1." },
	[F_START] = { "zdu_agent_start_time_seconds", "gauge", "When the daemon started, in seconds since the epoch." },
	[F_REPLIES] = { "zdu_agent_replies_total", "counter",
			"Agent-check connections accepted, each answered with the current reply." },
	[F_CONNS] = { "zdu_agent_check_connections", "gauge", "Agent-check connections held now." },
	[F_EVICTED] = { "zdu_agent_check_evicted_total", "counter",
			"Held agent-check connections closed to make room (agent.max_connections)." },
	[F_TIMED_OUT] = { "zdu_agent_check_timed_out_total", "counter",
			  "Agent-check connections closed after agent.connection_timeout_ms." },
	[F_OVERSIZED] = { "zdu_agent_check_oversized_total", "counter",
			  "Agent-check peers that sent more than agent.max_request_bytes." },
	[F_ETCD_REACHABLE] = { "zdu_agent_etcd_reachable", "gauge",
			       "1 when the last etcd read or watch succeeded (only with etcd.endpoints)." },
	[F_ETCD_REVISION] = { "zdu_agent_etcd_revision", "gauge",
			      "The etcd revision up to which the flag keys are applied." },
	[F_ETCD_UNREACHABLE] = { "zdu_agent_etcd_unreachable_seconds", "gauge",
				 "How long etcd has been unreachable; 0 while it is reachable." },
	[F_OPER] = { "zdu_agent_reply_operational", "gauge",
		     "The operational token of the current reply (up, down; none: HAProxy's own check decides), one-hot." },
	[F_ADMIN] = { "zdu_agent_reply_administrative", "gauge",
		      "The administrative token of the current reply (ready, drain, maint; none: flag mode lb), one-hot." },
	[F_WEIGHT] = { "zdu_agent_reply_weight_ratio", "gauge",
		       "The weight in the current reply, as a ratio of the configured weight (absent when the reply has none)." },
	[F_REPLY_CHANGES] = { "zdu_agent_reply_changes_total", "counter", "Changes of the reply." },
	[F_REPLY_AGE] = { "zdu_agent_reply_age_seconds", "gauge", "Time since the reply last changed." },
	[F_MAINT] = { "zdu_agent_maintenance", "gauge", "1 when a maintenance flag holds the service (any mode)." },
	[F_MAINT_MODE] = { "zdu_agent_maintenance_mode", "gauge", "The holding flag's mode (drain, maint, lb), one-hot." },
	[F_MAINT_FLAG] = { "zdu_agent_maintenance_flag", "gauge",
			   "1 for each source whose flag is set: file, etcd_node, etcd_cluster, service_file, service_etcd." },
	[F_MAINT_SINCE] = { "zdu_agent_maintenance_since_timestamp_seconds", "gauge",
			    "When the holding flag was set (its 'since'), in seconds since the epoch." },
	[F_FLAG_BAD] = { "zdu_agent_flag_bad", "gauge", "1 when a flag cannot be understood (it then means drain)." },
	[F_HEALTH] = { "zdu_agent_health", "gauge", "The probe's verdict (unknown, up, down, unchecked), one-hot." },
	[F_SLOW] = { "zdu_agent_health_slow", "gauge", "1 while an up service answers late (reduced weight)." },
	[F_DISABLED] = { "zdu_agent_health_disabled", "gauge", "1 when oslo's healthcheck says disabled by file." },
	[F_PROBES] = { "zdu_agent_probes_total", "counter", "Probes of the service's API by outcome (ok, slow, failed)." },
	[F_PROBE_DURATION] = { "zdu_agent_probe_duration_seconds", "histogram", "How long probes took." },
	[F_PROBE_LAST] = { "zdu_agent_probe_last_timestamp_seconds", "gauge", "When the last probe ended." },
	[F_API_INFO] = { "zdu_agent_api_version_info", "gauge",
			 "The API's maximum and minimum microversion from its last good answer, as labels; always 1." },
	[F_API_MAJOR] = { "zdu_agent_api_version_major", "gauge", "The API's maximum microversion, major part." },
	[F_API_MINOR] = { "zdu_agent_api_version_minor", "gauge", "The API's maximum microversion, minor part." },
	[F_DRAIN_KNOWN] = { "zdu_agent_drain_known", "gauge", "1 when the connection count is known (drain.ports set)." },
	[F_DRAIN_CONNS] = { "zdu_agent_drain_connections", "gauge",
			    "Client connections to the service's ports at the last count." },
	[F_DRAINED] = { "zdu_agent_drained", "gauge", "1 when flagged and no connection for drain.settle_ms." },
};

struct render {
	struct mbuf fam[F_MAX];
};

/* One sample: NAME{service="S"[,extra]} VALUE. suffix follows the family's
 * name (a histogram's _bucket, _sum, _count). */
static void sample(struct render *r, enum fam f, const char *suffix, const char *service, const char *lname,
		   const char *lvalue, double v)
{
	struct mbuf *b = &r->fam[f];
	int labels = service || lname;

	mb_printf(b, "%s%s", families[f].name, suffix ? suffix : "");
	if (labels)
		mb_printf(b, "{");
	if (service) {
		mb_printf(b, "service=\"");
		mb_label(b, service);
		mb_printf(b, "\"%s", lname ? "," : "");
	}
	if (lname) {
		mb_printf(b, "%s=\"", lname);
		mb_label(b, lvalue);
		mb_printf(b, "\"");
	}
	mb_printf(b, "%s %.15g\n", labels ? "}" : "", v);
}

static double num(const json_t *o, const char *key, double dflt)
{
	const json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : dflt;
}

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static int truthy(const json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

static void one_hot(struct render *r, enum fam f, const char *service, const char *lname,
		    const char *const *choices, const char *value)
{
	for (; *choices; choices++)
		sample(r, f, NULL, service, lname, *choices, strcmp(*choices, value) == 0);
}

/* The tokens of a reply before its '#': its operational and administrative
 * words, its weight ("100%"). */
static void reply_tokens(const char *reply, const char **oper, const char **admin, int *weight)
{
	char buf[256], *tok, *save = NULL, *hash;

	*oper = "none";
	*admin = "none";
	*weight = -1;
	zdu_strlcpy(buf, reply, sizeof(buf));
	if ((hash = strchr(buf, '#')))
		*hash = '\0';
	for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		size_t n = strlen(tok);

		if (!strcmp(tok, "up"))
			*oper = "up";
		else if (!strcmp(tok, "down") || !strcmp(tok, "fail") || !strcmp(tok, "stopped"))
			*oper = "down";
		else if (!strcmp(tok, "ready"))
			*admin = "ready";
		else if (!strcmp(tok, "drain"))
			*admin = "drain";
		else if (!strcmp(tok, "maint"))
			*admin = "maint";
		else if (n > 1 && tok[n - 1] == '%')
			*weight = atoi(tok);
	}
}

/* "2026-12-06T22:53:04Z" (optionally with milliseconds): seconds since the
 * epoch, or -1. */
static double utc_seconds(const char *s)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return -1;
	return (double)timegm(&tm);
}

/* "2.95" -> 2 and 95; 0 when it is not a microversion. */
static int split_version(const char *v, long *major, long *minor)
{
	char *end;

	*major = strtol(v, &end, 10);
	if (end == v || *end != '.')
		return 0;
	v = end + 1;
	*minor = strtol(v, &end, 10);
	return end != v && *end == '\0';
}

static void render_flag(struct render *r, const char *svc, const json_t *flag)
{
	static const char *const modes[] = { "drain", "maint", "lb", NULL };
	const json_t *file = json_object_get(flag, "file"), *etcd = json_object_get(flag, "etcd");
	const json_t *sfile = json_object_get(flag, "service_file"), *setcd = json_object_get(flag, "service_etcd");
	const char *esrc = str(etcd, "source");
	int bad = json_is_string(json_object_get(flag, "error")) ||
		  json_is_string(json_object_get(file, "error")) || json_is_string(json_object_get(etcd, "error")) ||
		  json_is_string(json_object_get(sfile, "error")) || json_is_string(json_object_get(setcd, "error"));
	double since;

	sample(r, F_MAINT, NULL, svc, NULL, NULL, truthy(flag, "active"));
	one_hot(r, F_MAINT_MODE, svc, "mode", modes, truthy(flag, "active") ? str(flag, "mode") : "");
	sample(r, F_MAINT_FLAG, NULL, svc, "source", "file", truthy(file, "active"));
	if (json_is_object(etcd)) {
		int on = truthy(etcd, "active");

		sample(r, F_MAINT_FLAG, NULL, svc, "source", "etcd_node", on && !strcmp(esrc, "node"));
		sample(r, F_MAINT_FLAG, NULL, svc, "source", "etcd_cluster", on && !strcmp(esrc, "all"));
	}
	/* A service's own flags (issue 17): its file and its etcd key. */
	if (json_is_object(sfile))
		sample(r, F_MAINT_FLAG, NULL, svc, "source", "service_file", truthy(sfile, "active"));
	if (json_is_object(setcd))
		sample(r, F_MAINT_FLAG, NULL, svc, "source", "service_etcd", truthy(setcd, "active"));
	if (truthy(flag, "active") && (since = utc_seconds(str(flag, "since"))) >= 0)
		sample(r, F_MAINT_SINCE, NULL, svc, NULL, NULL, since);
	sample(r, F_FLAG_BAD, NULL, svc, NULL, NULL, bad);
}

static void render_probe(struct render *r, const char *svc, const json_t *probe)
{
	const json_t *out = json_object_get(probe, "outcomes"), *dur = json_object_get(probe, "duration_ms");
	const json_t *le = json_object_get(dur, "le"), *buckets = json_object_get(dur, "buckets");
	static const char *const names[] = { "ok", "slow", "failed" };
	size_t i;

	if (!json_is_object(probe))
		return;
	if (json_is_object(out)) {
		for (i = 0; i < ZDU_ARRAY_SIZE(names); i++)
			sample(r, F_PROBES, NULL, svc, "outcome", names[i], num(out, names[i], 0));
	} else {
		/* An older status: failures include the slow ones. */
		double n = num(probe, "probes", 0), f = num(probe, "failures", 0), s = num(probe, "slow_probes", 0);

		sample(r, F_PROBES, NULL, svc, "outcome", "ok", n - f);
		sample(r, F_PROBES, NULL, svc, "outcome", "slow", s);
		sample(r, F_PROBES, NULL, svc, "outcome", "failed", f - s);
	}
	if (json_is_array(le) && json_is_array(buckets) && json_array_size(buckets) == json_array_size(le) + 1) {
		char bound[32];

		for (i = 0; i < json_array_size(buckets); i++) {
			if (i < json_array_size(le))
				snprintf(bound, sizeof(bound), "%.15g",
					 json_number_value(json_array_get(le, i)) / 1000.0);
			else
				zdu_strlcpy(bound, "+Inf", sizeof(bound));
			sample(r, F_PROBE_DURATION, "_bucket", svc, "le", bound,
			       json_number_value(json_array_get(buckets, i)));
		}
		sample(r, F_PROBE_DURATION, "_sum", svc, NULL, NULL, num(dur, "sum", 0) / 1000.0);
		sample(r, F_PROBE_DURATION, "_count", svc, NULL, NULL, num(dur, "count", 0));
	}
	if (num(probe, "last_unix_ms", 0) > 0)
		sample(r, F_PROBE_LAST, NULL, svc, NULL, NULL, num(probe, "last_unix_ms", 0) / 1000.0);
}

static void render_version(struct render *r, const char *svc, const json_t *health, const json_t *probe)
{
	const char *v = str(health, "version"), *mn = str(health, "min_version");
	long major, minor;
	struct mbuf *b = &r->fam[F_API_INFO];

	if (!*v) {
		v = str(probe, "version");
		mn = str(probe, "min_version");
	}
	if (!*v)
		return;
	/* Two labels besides service: written here rather than by sample(). */
	mb_printf(b, "%s{service=\"", families[F_API_INFO].name);
	mb_label(b, svc);
	mb_printf(b, "\",version=\"");
	mb_label(b, v);
	mb_printf(b, "\",min_version=\"");
	mb_label(b, mn);
	mb_printf(b, "\"} 1\n");
	if (split_version(v, &major, &minor)) {
		sample(r, F_API_MAJOR, NULL, svc, NULL, NULL, (double)major);
		sample(r, F_API_MINOR, NULL, svc, NULL, NULL, (double)minor);
	}
}

/* Everything about one service, from its object in the status: today the
 * status's top level, after issue 17 each entry of "services". */
static void render_service(struct render *r, const char *svc, const json_t *s)
{
	static const char *const opers[] = { "up", "down", "none", NULL };
	static const char *const admins[] = { "ready", "drain", "maint", "none", NULL };
	static const char *const healths[] = { "unknown", "up", "down", "unchecked", NULL };
	const json_t *health = json_object_get(s, "health"), *drain = json_object_get(s, "drain");
	const json_t *probe = json_object_get(s, "probe");
	const char *oper, *admin;
	int weight;

	reply_tokens(str(s, "reply"), &oper, &admin, &weight);
	one_hot(r, F_OPER, svc, "state", opers, oper);
	one_hot(r, F_ADMIN, svc, "state", admins, admin);
	if (weight >= 0)
		sample(r, F_WEIGHT, NULL, svc, NULL, NULL, weight / 100.0);
	if (json_is_number(json_object_get(s, "generation")))
		sample(r, F_REPLY_CHANGES, NULL, svc, NULL, NULL, num(s, "generation", 0));
	if (json_is_number(json_object_get(s, "reply_age_ms")))
		sample(r, F_REPLY_AGE, NULL, svc, NULL, NULL, num(s, "reply_age_ms", 0) / 1000.0);
	if (json_is_object(json_object_get(s, "flag")))
		render_flag(r, svc, json_object_get(s, "flag"));
	if (json_is_object(health)) {
		one_hot(r, F_HEALTH, svc, "state", healths, str(health, "state"));
		sample(r, F_SLOW, NULL, svc, NULL, NULL, json_is_object(json_object_get(health, "slow")));
		sample(r, F_DISABLED, NULL, svc, NULL, NULL, truthy(health, "disabled"));
	}
	render_probe(r, svc, probe);
	render_version(r, svc, health, probe);
	if (json_is_object(drain)) {
		sample(r, F_DRAIN_KNOWN, NULL, svc, NULL, NULL, truthy(drain, "known"));
		if (truthy(drain, "known"))
			sample(r, F_DRAIN_CONNS, NULL, svc, NULL, NULL, num(drain, "connections", 0));
	}
	if (json_object_get(s, "drained"))
		sample(r, F_DRAINED, NULL, svc, NULL, NULL, truthy(s, "drained"));
}

static void render_node(struct render *r, const json_t *st, int64_t now_unix)
{
	const json_t *conns = json_object_get(st, "connections");
	const json_t *etcd = json_object_get(json_object_get(st, "flag"), "etcd");

	sample(r, F_BUILD, NULL, NULL, "version", str(st, "version"), 1);
	if (json_is_number(json_object_get(st, "uptime_s")))
		sample(r, F_START, NULL, NULL, NULL, NULL, (double)now_unix - num(st, "uptime_s", 0));
	if (json_is_object(conns)) {
		sample(r, F_REPLIES, NULL, NULL, NULL, NULL, num(conns, "accepted", 0));
		sample(r, F_CONNS, NULL, NULL, NULL, NULL, num(conns, "current", 0));
		sample(r, F_EVICTED, NULL, NULL, NULL, NULL, num(conns, "evicted", 0));
		sample(r, F_TIMED_OUT, NULL, NULL, NULL, NULL, num(conns, "timed_out", 0));
		sample(r, F_OVERSIZED, NULL, NULL, NULL, NULL, num(conns, "oversized", 0));
	}
	if (json_is_object(etcd)) {
		sample(r, F_ETCD_REACHABLE, NULL, NULL, NULL, NULL, truthy(etcd, "reachable"));
		sample(r, F_ETCD_REVISION, NULL, NULL, NULL, NULL, num(etcd, "revision", 0));
		sample(r, F_ETCD_UNREACHABLE, NULL, NULL, NULL, NULL, num(etcd, "unreachable_s", 0));
	}
}

char *zdu_metrics_render(const json_t *status, int64_t now_unix, size_t *len)
{
	struct render r;
	struct mbuf out = { 0 };
	const json_t *services = json_object_get(status, "services");
	int failed = 0;
	size_t i;

	memset(&r, 0, sizeof(r));
	render_node(&r, status, now_unix);
	if (json_is_array(services)) {
		const json_t *s;

		json_array_foreach(services, i, s) {
			const char *name = str(s, "name");

			render_service(&r, *name ? name : str(s, "service"), s);
		}
	} else {
		render_service(&r, ZDU_METRICS_DEFAULT_SERVICE, status);
	}
	mb_printf(&out, "%s", "");
	for (i = 0; i < F_MAX; i++) {
		failed |= r.fam[i].failed;
		if (r.fam[i].len) {
			mb_printf(&out, "# HELP %s %s\n# TYPE %s %s\n%s", families[i].name, families[i].help,
				  families[i].name, families[i].type, r.fam[i].p);
		}
		free(r.fam[i].p);
	}
	if (failed || out.failed) {
		free(out.p);
		return NULL;
	}
	if (len)
		*len = out.len;
	return out.p;
}
