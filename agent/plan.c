#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "zdu/common.h"
#include "zdu/config.h"
#include "zdu/nova.h"
#include "zdu/plan.h"

struct ploader {
	struct zdu_plan *p;
	const char *name;
	char *err;
	size_t err_size;
};

static enum zdu_err pfail(struct ploader *ld, enum zdu_err code, const config_setting_t *s,
			  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum zdu_err pfail(struct ploader *ld, enum zdu_err code, const config_setting_t *s,
			  const char *fmt, ...)
{
	const char *file = s ? config_setting_source_file(s) : NULL;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(ld->err, ld->err_size, "%s:%d: %s", file ? file : ld->name,
		 s ? (int)config_setting_source_line(s) : 0, msg);
	return code;
}

static void free_lists(struct zdu_plan *p)
{
	size_t i;

	for (i = 0; i < p->nlbs; i++) {
		free(p->lbs[i].name);
		free(p->lbs[i].runtime);
	}
	for (i = 0; i < p->nnodes; i++) {
		free(p->nodes[i].name);
		free(p->nodes[i].server);
		free(p->nodes[i].agent);
	}
	free(p->lbs);
	free(p->nodes);
}

void zdu_plan_free(struct zdu_plan *p)
{
	size_t i;

	free_lists(p);
	free(p->path);
	free(p->backend);
	free(p->expect_version);
	free(p->upgrade_command);
	free(p->journal);
	free(p->lock);
	free(p->remote_agent);
	for (i = 0; i < p->ssh_command.n; i++)
		free(p->ssh_command.v[i]);
	free(p->ssh_command.v);
	for (i = 0; i < p->etcd_endpoints.n; i++)
		free(p->etcd_endpoints.v[i]);
	free(p->etcd_endpoints.v);
	free(p->etcd_prefix);
	free(p->etcd_ca_file);
	free(p->etcd_cert_file);
	free(p->etcd_key_file);
	free(p->etcd_user);
	if (p->etcd_password)
		memset(p->etcd_password, 0, strlen(p->etcd_password));
	free(p->etcd_password);
	memset(p, 0, sizeof(*p));
}

/* A string setting, or NULL (with err) when it has another type. */
static enum zdu_err get_str(struct ploader *ld, const config_setting_t *parent, const char *key,
			    const char *prefix, int required, char **out, const char *def)
{
	const config_setting_t *s = config_setting_get_member(parent, key);

	if (!s) {
		if (required)
			return pfail(ld, ZDU_ERR_PARSE, parent, "%s%s: missing", prefix, key);
		*out = strdup(def ? def : "");
		return *out ? ZDU_OK : ZDU_ERR_NOMEM;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return pfail(ld, ZDU_ERR_TYPE, s, "%s%s: expected a string", prefix, key);
	if (required && !*config_setting_get_string(s))
		return pfail(ld, ZDU_ERR_RANGE, s, "%s%s: must not be empty", prefix, key);
	*out = strdup(config_setting_get_string(s));
	return *out ? ZDU_OK : ZDU_ERR_NOMEM;
}

static enum zdu_err get_int(struct ploader *ld, const config_setting_t *parent, const char *key,
			    const char *prefix, long lo, long hi, int *out, int def)
{
	const config_setting_t *s = config_setting_get_member(parent, key);
	long long v;

	if (!s) {
		*out = def;
		return ZDU_OK;
	}
	if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64)
		return pfail(ld, ZDU_ERR_TYPE, s, "%s%s: expected an integer", prefix, key);
	v = config_setting_get_int64(s);
	if (v < lo || v > hi)
		return pfail(ld, ZDU_ERR_RANGE, s, "%s%s: %lld is out of range (%ld to %ld)", prefix, key, v, lo, hi);
	*out = (int)v;
	return ZDU_OK;
}

static enum zdu_err check_keys(struct ploader *ld, const config_setting_t *g, const char *prefix,
			       const char *const *known)
{
	int i, n = config_setting_length(g);

	for (i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		size_t k;

		for (k = 0; known[k]; k++)
			if (name && strcmp(name, known[k]) == 0)
				break;
		if (!known[k])
			return pfail(ld, ZDU_ERR_UNKNOWN_KEY, s, "%s%s: unknown key", prefix, name ? name : "?");
	}
	return ZDU_OK;
}

static int valid_runtime(const char *a)
{
	struct sockaddr_storage ss;

	if (strncmp(a, "unix:", 5) == 0)
		return a[5] == '/';
	if (a[0] == '/')
		return 1;
	return zdu_parse_hostport(a, &ss) == 0;
}

static int valid_agent(const char *a)
{
	if (strncmp(a, "unix:", 5) == 0)
		return a[5] == '/';
	if (strncmp(a, "ssh:", 4) == 0)
		return a[4] && a[4] != '-' && !strpbrk(a + 4, " \t'\"\\;&|`$");
	if (strcmp(a, "etcd") == 0)
		return 1;
	if (strncmp(a, "etcd:", 5) == 0)
		return a[5] && !strpbrk(a + 5, " \t/");
	return 0;
}

static enum zdu_err load_list(struct ploader *ld, config_t *lc, const char *key, int is_nodes)
{
	static const char *const lb_keys[] = { "name", "runtime", NULL };
	static const char *const node_keys[] = { "name", "server", "agent", NULL };
	const config_setting_t *l = config_lookup(lc, key);
	struct zdu_plan *p = ld->p;
	enum zdu_err rc;
	int i, n;

	if (!l)
		return pfail(ld, ZDU_ERR_PARSE, NULL, "%s: missing", key);
	if (config_setting_type(l) != CONFIG_TYPE_LIST)
		return pfail(ld, ZDU_ERR_TYPE, l, "%s: expected a list like ( { name = \"...\"; ... } )", key);
	n = config_setting_length(l);
	if (n == 0)
		return pfail(ld, ZDU_ERR_RANGE, l, "%s: empty", key);
	if (is_nodes)
		p->nodes = calloc((size_t)n, sizeof(*p->nodes));
	else
		p->lbs = calloc((size_t)n, sizeof(*p->lbs));
	if (!(is_nodes ? (void *)p->nodes : (void *)p->lbs))
		return ZDU_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
		char prefix[64];
		int j;

		snprintf(prefix, sizeof(prefix), "%s[%d].", key, i);
		if (!config_setting_is_group(e))
			return pfail(ld, ZDU_ERR_TYPE, e, "%s[%d]: expected a group { ... }", key, i);
		if ((rc = check_keys(ld, e, prefix, is_nodes ? node_keys : lb_keys)) != ZDU_OK)
			return rc;
		if (is_nodes) {
			struct zdu_plan_node *nd = &p->nodes[p->nnodes++];

			if ((rc = get_str(ld, e, "name", prefix, 1, &nd->name, NULL)) != ZDU_OK ||
			    (rc = get_str(ld, e, "server", prefix, 0, &nd->server, nd->name)) != ZDU_OK ||
			    (rc = get_str(ld, e, "agent", prefix, 1, &nd->agent, NULL)) != ZDU_OK)
				return rc;
			if (!*nd->server)
				return pfail(ld, ZDU_ERR_RANGE, e, "%sserver: must not be empty", prefix);
			if (!valid_agent(nd->agent))
				return pfail(ld, ZDU_ERR_PARSE, config_setting_get_member(e, "agent"),
					     "%sagent: \"%.80s\" is not unix:/path, ssh:host, etcd or etcd:name", prefix,
					     nd->agent);
			if (strncmp(nd->agent, "etcd", 4) == 0 && p->etcd_endpoints.n == 0)
				return pfail(ld, ZDU_ERR_RANGE, config_setting_get_member(e, "agent"),
					     "%sagent: \"%.80s\" needs the plan's etcd group (etcd = { endpoints = "
					     "[ ... ]; };)",
					     prefix, nd->agent);
			for (j = 0; j < i; j++)
				if (strcmp(p->nodes[j].name, nd->name) == 0 ||
				    strcmp(p->nodes[j].server, nd->server) == 0)
					return pfail(ld, ZDU_ERR_PARSE, e, "%sname: node \"%s\" (server \"%s\") given twice",
						     prefix, nd->name, nd->server);
		} else {
			struct zdu_plan_lb *lb = &p->lbs[p->nlbs++];

			if ((rc = get_str(ld, e, "name", prefix, 1, &lb->name, NULL)) != ZDU_OK ||
			    (rc = get_str(ld, e, "runtime", prefix, 1, &lb->runtime, NULL)) != ZDU_OK)
				return rc;
			if (!valid_runtime(lb->runtime))
				return pfail(ld, ZDU_ERR_PARSE, config_setting_get_member(e, "runtime"),
					     "%sruntime: \"%.80s\" is not unix:/path, /path or host:port", prefix,
					     lb->runtime);
			for (j = 0; j < i; j++)
				if (strcmp(p->lbs[j].name, lb->name) == 0)
					return pfail(ld, ZDU_ERR_PARSE, e, "%sname: \"%s\" given twice", prefix, lb->name);
		}
	}
	return ZDU_OK;
}

/* The cutover group: named, or the first half (rounded down) of the nodes.
 * Each group serves alone for a while, so each must hold min_ready. */
static enum zdu_err load_cutover(struct ploader *ld, config_t *lc, const char *const *ckeys)
{
	struct zdu_plan *p = ld->p;
	const config_setting_t *g = config_lookup(lc, "cutover"), *fg = NULL;
	size_t i, n1 = 0;
	enum zdu_err rc;

	p->tcp_grace_ms = -1;
	p->switch_timeout_ms = 30000;
	if (g) {
		if (!config_setting_is_group(g))
			return pfail(ld, ZDU_ERR_TYPE, g, "cutover: expected a group { first_group = [...]; }");
		if (p->strategy != ZDU_STRATEGY_CUTOVER)
			return pfail(ld, ZDU_ERR_PARSE, g, "cutover: given, but strategy is not \"cutover\"");
		if ((rc = check_keys(ld, g, "cutover.", ckeys)) != ZDU_OK ||
		    (rc = get_int(ld, g, "tcp_grace_ms", "cutover.", -1, 86400000, &p->tcp_grace_ms, -1)) != ZDU_OK ||
		    (rc = get_int(ld, g, "switch_ms", "cutover.", 100, 3600000, &p->switch_timeout_ms, 30000)) != ZDU_OK)
			return rc;
		fg = config_setting_get_member(g, "first_group");
	}
	if (p->strategy != ZDU_STRATEGY_CUTOVER)
		return ZDU_OK;
	if (fg) {
		int k, n = config_setting_length(fg);

		if (config_setting_type(fg) != CONFIG_TYPE_ARRAY)
			return pfail(ld, ZDU_ERR_TYPE, fg, "cutover.first_group: expected a list of node names");
		for (k = 0; k < n; k++) {
			const config_setting_t *e = config_setting_get_elem(fg, (unsigned)k);
			const char *name = config_setting_get_string(e);

			if (!name)
				return pfail(ld, ZDU_ERR_TYPE, e, "cutover.first_group: item %d: expected a string", k + 1);
			for (i = 0; i < p->nnodes; i++)
				if (strcmp(p->nodes[i].name, name) == 0)
					break;
			if (i == p->nnodes)
				return pfail(ld, ZDU_ERR_PARSE, e, "cutover.first_group: no node named \"%.64s\"", name);
			if (p->nodes[i].first_group)
				return pfail(ld, ZDU_ERR_PARSE, e, "cutover.first_group: \"%.64s\" given twice", name);
			p->nodes[i].first_group = 1;
			n1++;
		}
	} else {
		for (i = 0; i < p->nnodes / 2; i++)
			p->nodes[i].first_group = 1;
		n1 = p->nnodes / 2;
	}
	if (n1 == 0 || n1 == p->nnodes)
		return pfail(ld, ZDU_ERR_RANGE, fg ? fg : config_lookup(lc, "strategy"),
			     "cutover: the first group has %zu of %zu nodes; each group needs at least one", n1,
			     p->nnodes);
	if ((size_t)p->min_ready > n1 || (size_t)p->min_ready > p->nnodes - n1) {
		size_t m = (size_t)p->min_ready, small = n1 < p->nnodes - n1 ? n1 : p->nnodes - n1;
		char other[128];

		/* The fixes: a smaller min_ready, other groups, or more nodes. */
		if (p->nnodes < 2 * m)
			snprintf(other, sizeof(other), "add nodes (min_ready %zu needs at least %zu, two groups of %zu)",
				 m, 2 * m, m);
		else if (p->nnodes - m == m)
			snprintf(other, sizeof(other), "name %zu nodes in cutover.first_group", m);
		else
			snprintf(other, sizeof(other), "name %zu to %zu nodes in cutover.first_group", m,
				 p->nnodes - m);
		return pfail(ld, ZDU_ERR_RANGE, config_lookup(lc, "min_ready"),
			     "min_ready: %d, but with cutover each group serves alone (groups of %zu and %zu): "
			     "set min_ready = %zu (the smaller group) or less, or %s",
			     p->min_ready, n1, p->nnodes - n1, small, other);
	}
	return ZDU_OK;
}

/* etcd = { endpoints = [...]; prefix; user; password; ... }: with it, the
 * lock and the journal live in etcd, and nodes may be reached as "etcd". */
static enum zdu_err load_etcd(struct ploader *ld, config_t *lc)
{
	static const char *const ekeys[] = { "endpoints", "prefix", "ca_file", "cert_file", "key_file", "user",
					     "password", "password_file", "timeout_ms", "lock_ttl_s",
					     "flag_timeout_ms", NULL };
	const config_setting_t *g = config_lookup(lc, "etcd"), *l;
	struct zdu_plan *p = ld->p;
	char *pwfile = NULL;
	enum zdu_err rc;
	int i, n;

	if (!g) {
		p->etcd_timeout_ms = 2000;
		p->etcd_lock_ttl_s = 15;
		p->etcd_flag_timeout_ms = 10000;
		return ZDU_OK;
	}
	if (!config_setting_is_group(g))
		return pfail(ld, ZDU_ERR_TYPE, g, "etcd: expected a group { endpoints = [ ... ]; }");
	if ((rc = check_keys(ld, g, "etcd.", ekeys)) != ZDU_OK)
		return rc;
	l = config_setting_get_member(g, "endpoints");
	if (!l || config_setting_type(l) != CONFIG_TYPE_ARRAY || config_setting_length(l) == 0)
		return pfail(ld, ZDU_ERR_TYPE, l ? l : g,
			     "etcd.endpoints: expected a list like [ \"http://10.0.0.1:2379\" ]");
	n = config_setting_length(l);
	p->etcd_endpoints.v = calloc((size_t)n, sizeof(char *));
	if (!p->etcd_endpoints.v)
		return ZDU_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
		const char *v = config_setting_type(e) == CONFIG_TYPE_STRING ? config_setting_get_string(e) : NULL;

		if (!v || (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) ||
		    v[strlen(v) - 1] == '/')
			return pfail(ld, ZDU_ERR_PARSE, e, "etcd.endpoints: item %d is not http://host:port or "
							  "https://host:port", i + 1);
		if (!(p->etcd_endpoints.v[i] = strdup(v)))
			return ZDU_ERR_NOMEM;
		p->etcd_endpoints.n++;
	}
	if ((rc = get_str(ld, g, "prefix", "etcd.", 0, &p->etcd_prefix, "/zdu")) != ZDU_OK ||
	    (rc = get_str(ld, g, "ca_file", "etcd.", 0, &p->etcd_ca_file, "")) != ZDU_OK ||
	    (rc = get_str(ld, g, "cert_file", "etcd.", 0, &p->etcd_cert_file, "")) != ZDU_OK ||
	    (rc = get_str(ld, g, "key_file", "etcd.", 0, &p->etcd_key_file, "")) != ZDU_OK ||
	    (rc = get_str(ld, g, "user", "etcd.", 0, &p->etcd_user, "")) != ZDU_OK ||
	    (rc = get_str(ld, g, "password", "etcd.", 0, &p->etcd_password, "")) != ZDU_OK ||
	    (rc = get_str(ld, g, "password_file", "etcd.", 0, &pwfile, "")) != ZDU_OK ||
	    (rc = get_int(ld, g, "timeout_ms", "etcd.", 100, 600000, &p->etcd_timeout_ms, 2000)) != ZDU_OK ||
	    (rc = get_int(ld, g, "lock_ttl_s", "etcd.", 2, 3600, &p->etcd_lock_ttl_s, 15)) != ZDU_OK ||
	    (rc = get_int(ld, g, "flag_timeout_ms", "etcd.", 100, 3600000, &p->etcd_flag_timeout_ms, 10000)) !=
		    ZDU_OK)
		goto out;
	if (p->etcd_prefix[0] != '/' || (strlen(p->etcd_prefix) > 1 && p->etcd_prefix[strlen(p->etcd_prefix) - 1] == '/')) {
		rc = pfail(ld, ZDU_ERR_RANGE, config_setting_get_member(g, "prefix"),
			   "etcd.prefix: \"%.120s\" must start with / and not end with /", p->etcd_prefix);
		goto out;
	}
	if (pwfile[0]) {
		char buf[256];

		if (p->etcd_password[0]) {
			rc = pfail(ld, ZDU_ERR_RANGE, config_setting_get_member(g, "password_file"),
				   "etcd.password_file: given with etcd.password; keep one");
			goto out;
		}
		if (zdu_read_first_line(pwfile, buf, sizeof(buf)) < 0) {
			rc = pfail(ld, ZDU_ERR_IO, config_setting_get_member(g, "password_file"),
				   "etcd.password_file: %.200s: %s", pwfile, strerror(errno));
			goto out;
		}
		free(p->etcd_password);
		if (!(p->etcd_password = strdup(buf))) {
			rc = ZDU_ERR_NOMEM;
			goto out;
		}
	}
	if (p->etcd_password[0] && !p->etcd_user[0]) {
		rc = pfail(ld, ZDU_ERR_RANGE, config_setting_get_member(g, "password"),
			   "etcd.password: given without etcd.user");
		goto out;
	}
	rc = ZDU_OK;
out:
	free(pwfile);
	return rc;
}

static enum zdu_err load(struct ploader *ld, config_t *lc)
{
	static const char *const top[] = { "backend", "strategy", "min_ready", "expect_version",
					   "upgrade_command", "journal", "lock", "ssh_command",
					   "remote_agent", "timeouts", "load_balancers", "nodes", "cutover",
					   "etcd", NULL };
	static const char *const ckeys[] = { "first_group", "tcp_grace_ms", "switch_ms", NULL };
	static const char *const tkeys[] = { "drain_ms", "upgrade_ms", "health_ms", "up_ms", "poll_ms",
					     "request_ms", "capacity_ms", NULL };
	const config_setting_t *root = config_root_setting(lc), *t, *s;
	struct zdu_plan *p = ld->p;
	char *strategy = NULL;
	enum zdu_err rc;

	if ((rc = check_keys(ld, root, "", top)) != ZDU_OK)
		return rc;
	if ((rc = get_str(ld, root, "backend", "", 1, &p->backend, NULL)) != ZDU_OK ||
	    (rc = get_str(ld, root, "upgrade_command", "", 1, &p->upgrade_command, NULL)) != ZDU_OK ||
	    (rc = load_etcd(ld, lc)) != ZDU_OK ||
	    (rc = get_str(ld, root, "journal", "", p->etcd_endpoints.n == 0, &p->journal, NULL)) != ZDU_OK ||
	    (rc = get_str(ld, root, "lock", "", 0, &p->lock, "")) != ZDU_OK ||
	    (rc = get_str(ld, root, "expect_version", "", 0, &p->expect_version, "")) != ZDU_OK ||
	    (rc = get_str(ld, root, "remote_agent", "", 0, &p->remote_agent, "zdu-agent")) != ZDU_OK ||
	    (rc = get_str(ld, root, "strategy", "", 0, &strategy, "rolling")) != ZDU_OK)
		goto out;
	if (strcmp(strategy, "rolling") == 0) {
		p->strategy = ZDU_STRATEGY_ROLLING;
	} else if (strcmp(strategy, "cutover") == 0) {
		p->strategy = ZDU_STRATEGY_CUTOVER;
	} else {
		rc = pfail(ld, ZDU_ERR_RANGE, config_lookup(lc, "strategy"),
			   "strategy: unknown value \"%.32s\" (one of: rolling, cutover)", strategy);
		goto out;
	}
	if (p->journal[0] != '/' && !(p->etcd_endpoints.n && !p->journal[0])) {
		rc = pfail(ld, ZDU_ERR_RANGE, config_lookup(lc, "journal"), "journal: must be an absolute path");
		goto out;
	}
	if (p->lock[0] && p->lock[0] != '/') {
		/* A relative lock would depend on where each coordinator was
		 * started: two could then run the same plan. */
		rc = pfail(ld, ZDU_ERR_RANGE, config_lookup(lc, "lock"), "lock: must be an absolute path");
		goto out;
	}
	if (!p->lock[0] && p->journal[0]) {
		free(p->lock);
		if (!(p->lock = malloc(strlen(p->journal) + 6))) {
			rc = ZDU_ERR_NOMEM;
			goto out;
		}
		sprintf(p->lock, "%s.lock", p->journal);
	}
	if (p->expect_version[0]) {
		int ok;

		zdu_microversion_cmp(p->expect_version, "2.1", &ok);
		if (!ok) {
			rc = pfail(ld, ZDU_ERR_PARSE, config_lookup(lc, "expect_version"),
				   "expect_version: \"%.32s\" is not a microversion like 2.93", p->expect_version);
			goto out;
		}
	}
	s = config_lookup(lc, "ssh_command");
	if (s) {
		int i, n = config_setting_length(s);

		if (config_setting_type(s) != CONFIG_TYPE_ARRAY || n == 0) {
			rc = pfail(ld, ZDU_ERR_TYPE, s, "ssh_command: expected a list of strings like [ \"ssh\" ]");
			goto out;
		}
		for (i = 0; i < n; i++) {
			const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
			char **v;

			if (config_setting_type(e) != CONFIG_TYPE_STRING) {
				rc = pfail(ld, ZDU_ERR_TYPE, e, "ssh_command: item %d: expected a string", i + 1);
				goto out;
			}
			v = realloc(p->ssh_command.v, (p->ssh_command.n + 1) * sizeof(*v));
			if (!v || !(v[p->ssh_command.n] = strdup(config_setting_get_string(e)))) {
				if (v)
					p->ssh_command.v = v;
				rc = ZDU_ERR_NOMEM;
				goto out;
			}
			p->ssh_command.v = v;
			p->ssh_command.n++;
		}
	} else {
		static const char *const def[] = { "ssh", "-o", "BatchMode=yes" };
		size_t i;

		p->ssh_command.v = calloc(ZDU_ARRAY_SIZE(def), sizeof(char *));
		if (!p->ssh_command.v) {
			rc = ZDU_ERR_NOMEM;
			goto out;
		}
		for (i = 0; i < ZDU_ARRAY_SIZE(def); i++) {
			if (!(p->ssh_command.v[i] = strdup(def[i]))) {
				rc = ZDU_ERR_NOMEM;
				goto out;
			}
			p->ssh_command.n++;
		}
	}

	p->drain_timeout_ms = 300000;
	p->upgrade_timeout_ms = 1800000;
	p->health_timeout_ms = 300000;
	p->up_timeout_ms = 120000;
	p->poll_ms = 1000;
	p->request_timeout_ms = 5000;
	p->capacity_timeout_ms = 300000;
	t = config_lookup(lc, "timeouts");
	if (t) {
		if (!config_setting_is_group(t)) {
			rc = pfail(ld, ZDU_ERR_TYPE, t, "timeouts: expected a group { drain_ms = ...; }");
			goto out;
		}
		if ((rc = check_keys(ld, t, "timeouts.", tkeys)) != ZDU_OK ||
		    (rc = get_int(ld, t, "drain_ms", "timeouts.", 100, 86400000, &p->drain_timeout_ms, p->drain_timeout_ms)) != ZDU_OK ||
		    (rc = get_int(ld, t, "upgrade_ms", "timeouts.", 100, 86400000, &p->upgrade_timeout_ms, p->upgrade_timeout_ms)) != ZDU_OK ||
		    (rc = get_int(ld, t, "health_ms", "timeouts.", 100, 86400000, &p->health_timeout_ms, p->health_timeout_ms)) != ZDU_OK ||
		    (rc = get_int(ld, t, "up_ms", "timeouts.", 100, 86400000, &p->up_timeout_ms, p->up_timeout_ms)) != ZDU_OK ||
		    (rc = get_int(ld, t, "poll_ms", "timeouts.", 10, 600000, &p->poll_ms, p->poll_ms)) != ZDU_OK ||
		    (rc = get_int(ld, t, "request_ms", "timeouts.", 10, 600000, &p->request_timeout_ms, p->request_timeout_ms)) != ZDU_OK ||
		    (rc = get_int(ld, t, "capacity_ms", "timeouts.", 0, 86400000, &p->capacity_timeout_ms, p->capacity_timeout_ms)) != ZDU_OK)
			goto out;
	}
	if ((rc = load_list(ld, lc, "load_balancers", 0)) != ZDU_OK ||
	    (rc = load_list(ld, lc, "nodes", 1)) != ZDU_OK)
		goto out;
	if ((rc = get_int(ld, root, "min_ready", "", 0, 1000, &p->min_ready, 1)) != ZDU_OK)
		goto out;
	if ((rc = load_cutover(ld, lc, ckeys)) != ZDU_OK)
		goto out;
	if ((size_t)p->min_ready > p->nnodes - 1 && p->nnodes > 0) {
		rc = pfail(ld, ZDU_ERR_RANGE, config_lookup(lc, "min_ready"),
			   "min_ready: %d other servers can never stay ready with %zu nodes: set min_ready = %zu "
			   "(every other node) or less, or add nodes", p->min_ready, p->nnodes, p->nnodes - 1);
		goto out;
	}
	rc = ZDU_OK;
out:
	free(strategy);
	return rc;
}

static enum zdu_err load_common(config_t *lc, int read_ok, const char *name, struct zdu_plan *p, char *err,
				size_t err_size)
{
	struct ploader ld = { p, name, err, err_size };
	enum zdu_err rc;

	memset(p, 0, sizeof(*p));
	if (!read_ok) {
		const char *f = config_error_file(lc);

		snprintf(err, err_size, "%s:%d: %s", f ? f : name, config_error_line(lc), config_error_text(lc));
		config_destroy(lc);
		return ZDU_ERR_PARSE;
	}
	rc = load(&ld, lc);
	config_destroy(lc);
	if (rc == ZDU_OK && !(p->path = strdup(name)))
		rc = ZDU_ERR_NOMEM;
	if (rc == ZDU_ERR_NOMEM)
		snprintf(err, err_size, "%s: out of memory", name);
	if (rc != ZDU_OK)
		zdu_plan_free(p);
	return rc;
}

enum zdu_err zdu_plan_load(const char *path, struct zdu_plan *p, char *err, size_t err_size)
{
	config_t lc;
	FILE *f = fopen(path, "re");

	if (!f) {
		memset(p, 0, sizeof(*p));
		snprintf(err, err_size, "%s: cannot open: %s", path, strerror(errno));
		return ZDU_ERR_IO;
	}
	fclose(f);
	config_init(&lc);
	return load_common(&lc, config_read_file(&lc, path) == CONFIG_TRUE, path, p, err, err_size);
}

enum zdu_err zdu_plan_load_string(const char *text, const char *name, struct zdu_plan *p, char *err,
				  size_t err_size)
{
	config_t lc;

	memset(p, 0, sizeof(*p));
	if (strstr(text, "@include")) {
		snprintf(err, err_size, "%s:0: @include is not allowed here", name);
		return ZDU_ERR_PARSE;
	}
	config_init(&lc);
	return load_common(&lc, config_read_string(&lc, text) == CONFIG_TRUE, name, p, err, err_size);
}

unsigned long zdu_plan_digest(const struct zdu_plan *p)
{
	unsigned long h = 5381;
	const char *s;
	size_t i;

	/* djb2 over what defines "the same rollout": enough to catch an
	 * edited plan, not a security property. */
	for (s = p->backend; *s; s++)
		h = h * 33 + (unsigned char)*s;
	h = h * 33 + (unsigned long)p->strategy;
	for (i = 0; i < p->nnodes; i++) {
		h = h * 33 + '/';
		for (s = p->nodes[i].name; *s; s++)
			h = h * 33 + (unsigned char)*s;
		h = h * 33 + '=';
		for (s = p->nodes[i].server; *s; s++)
			h = h * 33 + (unsigned char)*s;
		h = h * 33 + (unsigned long)p->nodes[i].first_group;
	}
	return h;
}
