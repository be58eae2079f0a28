#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "zdu/common.h"
#include "zdu/config.h"
#include "zdu/keytab.h"
#include "zdu/nova.h"
#include "zdu/plan.h"

/* ---- the keys: one table for defaults, validation and zdu-coordinator.plan(5) ---- */

static const char *const strategies[] = { "rolling", "cutover", NULL };
static const char *const ssh_default[] = { "ssh", "-o", "BatchMode=yes", NULL };

_Static_assert(sizeof(enum zdu_strategy) == sizeof(int), "strategy is read as an enum key (an int)");

#define KEY(st, g, n, t, f) .group = g, .name = n, .type = t, .offset = offsetof(st, f)
#define STR(g, n, f, fl, d, text) \
	{ KEY(struct zdu_plan, g, n, ZDU_CT_STRING, f), .flags = fl, .def_str = d, .doc = text }
#define MS(g, n, f, lo, hi, d, text) \
	{ KEY(struct zdu_plan, g, n, ZDU_CT_INT, f), .min = lo, .max = hi, .def_int = d, .doc = text }
#define REQ (ZDU_KEY_REQUIRED | ZDU_KEY_NONEMPTY)

static const struct zdu_config_key keys[] = {
	STR("", "backend", backend, REQ, NULL,
	    "The HAProxy backend that holds the nodes' servers; the same name on every load balancer."),
	{ KEY(struct zdu_plan, "", "strategy", ZDU_CT_ENUM, strategy), .choices = strategies, .def_int = 0,
	  .doc = "\"rolling\": one node at a time, the others serve. \"cutover\": a first group is upgraded out "
		 "of service, then all traffic is switched to it at once (see CUTOVER in zdu-coordinator(8))." },
	MS("", "min_ready", min_ready, 0, 1000, 1,
	   "Before a node is drained, at least this many other servers of the backend must be UP (with a "
	   "weight above 0) and not drained on every load balancer. At the first node of a rollout the "
	   "preflight refuses otherwise (exit status 4); once the rollout is under way the next node waits "
	   "for them, up to timeouts.capacity_ms (see capacity in STEPS in zdu-coordinator(8)). It must be "
	   "smaller than the number of nodes; with \"cutover\" each group must hold it on its own. A plan "
	   "that breaks either is refused with the largest min_ready that would do and the other fixes (the "
	   "first groups that would hold it, or the number of nodes it needs)."),
	STR("", "expect_version", expect_version, 0, "",
	    "A nova-api microversion such as \"2.93\": after its upgrade a node must report at least this "
	    "version (the version of nova-api's version document, as its agent probes it) before it serves "
	    "again. Empty: any healthy node will do."),
	STR("", "upgrade_command", upgrade_command, REQ, NULL,
	    "Run on the coordinator's host with /bin/sh -c while the node is drained. {node} becomes the "
	    "node's name and {server} its server, inserted as they are (not quoted): keep names to letters, "
	    "digits, hyphens and dots. Exit status 0 means upgraded; anything else stops the rollout with the "
	    "node drained. It runs in a session and process group of its own, bounded by "
	    "timeouts.upgrade_ms. When it exits but processes it left in the background (cmd &, a service "
	    "started without redirecting its output, an ssh ControlPersist master) still hold its standard "
	    "output or error 2 s later, the step ends with a warn line and those processes are ended "
	    "(SIGTERM, then SIGKILL 2 s later); its exit status still decides. Processes it starts with their "
	    "output redirected (>/dev/null 2>&1 &) are left alone. Its output is printed line by line as it "
	    "comes, up to 1 MiB per stream; past that only the last 1 MiB is kept, printed when the command "
	    "ends after a warn line giving the bytes and lines not shown. A line longer than 4096 bytes is "
	    "cut and ends with [line cut: N bytes not shown]."),
	STR("", "before_command", before_command, 0, "",
	    "Run once on the coordinator's host with /bin/sh -c before any node is drained, for example "
	    "\"nova-status upgrade check\" or the expand migrations (\"nova-manage api_db sync && "
	    "nova-manage db sync\"). Empty: none. It is run, bounded and logged as upgrade_command is (its "
	    "own process group, output line by line), with timeouts.before_ms as its limit. {backend} becomes "
	    "the backend and {plan} the plan file's path as given on the command line; {node} and {server} "
	    "mean nothing here and are refused. Exit status 0 lets the first node start; anything else stops "
	    "the rollout before any node is changed (exit status 1, or 3 past its limit), naming the command, "
	    "its exit status and its last lines of output. The journal records it once it succeeded: "
	    "--resume does not run it again, but runs it again when it did not finish. It must be safe to "
	    "run twice."),
	STR("", "after_command", after_command, 0, "",
	    "Run once on the coordinator's host with /bin/sh -c after the last node is back in service, for "
	    "example \"nova-manage db online_data_migrations\" (which, without --max-count, runs its batches "
	    "until nothing is left). Empty: none. The same placeholders, bounds and output as before_command, "
	    "with timeouts.after_ms. A failure stops the rollout (exit status 1, or 3 past its limit) with "
	    "every node upgraded and back; --resume then runs only after_command. It is run once: a command "
	    "that must be repeated until it has nothing left to do loops itself, for example while :; do "
	    "nova-manage db online_data_migrations --max-count 1000; s=$?; [ $s -eq 1 ] || exit $s; done "
	    "(nova-manage exits 1 while more remains, 0 when done). It must be safe to run twice."),
	{ KEY(struct zdu_plan, "", "journal", ZDU_CT_STRING, journal), .def_str = "",
	  .def_doc = "none (required without an etcd group)",
	  .doc = "The rollout's journal on the coordinator's host, an absolute path (see JOURNAL AND RESUME "
		 "in zdu-coordinator(8)). Its directory must exist. With an etcd group the journal lives in "
		 "etcd instead and this key is not needed." },
	{ KEY(struct zdu_plan, "", "lock", ZDU_CT_STRING, lock), .def_str = "",
	  .def_doc = "the journal's path followed by .lock",
	  .doc = "The lock file, an absolute path (see LOCK in zdu-coordinator(8)); not used with an etcd "
		 "group." },
	{ KEY(struct zdu_plan, "", "ssh_command", ZDU_CT_STRLIST, ssh_command), .def_list = ssh_default,
	  .flags = ZDU_KEY_ARRAY | ZDU_KEY_NONEMPTY, .example = "[ \"ssh\" ]",
	  .doc = "How ssh:HOST agents are reached: this command, then HOST, then the remote command (see "
		 "AGENTS in zdu-coordinator(8))." },
	STR("", "remote_agent", remote_agent, 0, "zdu-agent",
	    "The remote command that runs zdu-agent on a node over ssh, for example \"sudo zdu-agent\"."),

	MS("timeouts", "drain_ms", drain_timeout_ms, 100, 86400000, 300000,
	   "From setting the flag until the node is drained everywhere. Make it longer than nova-api's "
	   "longest request and HAProxy's timeout server."),
	MS("timeouts", "upgrade_ms", upgrade_timeout_ms, 100, 86400000, 1800000,
	   "The upgrade step's time limit, from the command's start until it and everything holding its "
	   "output are gone; past it the command's whole process group gets SIGTERM, then SIGKILL 2 s later, "
	   "and the rollout stops (exit 3). A process that left the group (its own session, as setsid does) "
	   "and still holds the output is not killed: the output is closed on it."),
	MS("timeouts", "before_ms", before_timeout_ms, 100, 86400000, 3600000,
	   "before_command's time limit, enforced as timeouts.upgrade_ms is; past it the rollout stops "
	   "(exit 3) before any node is changed."),
	MS("timeouts", "after_ms", after_timeout_ms, 100, 86400000, 3600000,
	   "after_command's time limit, enforced as timeouts.upgrade_ms is; past it the rollout stops "
	   "(exit 3) with every node back; --resume runs after_command again."),
	MS("timeouts", "health_ms", health_timeout_ms, 100, 86400000, 300000,
	   "After the upgrade, until the agent reports nova-api healthy (and at expect_version)."),
	MS("timeouts", "up_ms", up_timeout_ms, 100, 86400000, 120000,
	   "After clearing the flag, until every load balancer shows the server UP with its weight again "
	   "(the agent's slow start included)."),
	MS("timeouts", "poll_ms", poll_ms, 10, 600000, 1000,
	   "Time between two looks at the load balancers and the agent while waiting."),
	MS("timeouts", "request_ms", request_timeout_ms, 10, 600000, 5000,
	   "Time limit of one request to a load balancer or an agent; ssh calls get twice this."),
	MS("timeouts", "capacity_ms", capacity_timeout_ms, 0, 86400000, 300000,
	   "Once the rollout is under way, how long the next node waits for min_ready other servers to serve "
	   "again on every load balancer before the rollout stops (exit status 4, the node not started; see "
	   "capacity in STEPS in zdu-coordinator(8)). 0: stop at once, as the first node's preflight does."),

	{ KEY(struct zdu_plan, "etcd", "endpoints", ZDU_CT_STRLIST, etcd_endpoints),
	  .flags = ZDU_KEY_REQUIRED | ZDU_KEY_ARRAY | ZDU_KEY_NONEMPTY, .example = "[ \"http://10.0.0.1:2379\" ]",
	  .doc = "etcd v3 endpoints, \"http://HOST:PORT\" or https://, tried in turn." },
	STR("etcd", "prefix", etcd_prefix, 0, "/zdu",
	    "Prefix of every key; the same as the agents' etcd.prefix. It starts with / and does not end "
	    "with /."),
	STR("etcd", "user", etcd_user, 0, "",
	    "etcd user (with password or password_file): etcd authentication is used. The role the "
	    "coordinator needs is in /usr/share/doc/zdu-coordinator/examples/etcd-rbac.sh (read-write on "
	    "PREFIX/maintenance/ and PREFIX/coordinator/, read on PREFIX/agents/)."),
	STR("etcd", "password", etcd_password, ZDU_KEY_SECRET, "",
	    "The etcd user's password; prefer password_file, which keeps it out of the plan."),
	STR("etcd", "password_file", etcd_password_file, 0, "",
	    "File whose first line is the etcd user's password, read when the plan is loaded."),
	STR("etcd", "ca_file", etcd_ca_file, 0, "", "CA bundle verifying https:// endpoints."),
	STR("etcd", "cert_file", etcd_cert_file, 0, "", "Client certificate for https:// endpoints."),
	STR("etcd", "key_file", etcd_key_file, 0, "", "Client key for https:// endpoints."),
	MS("etcd", "timeout_ms", etcd_timeout_ms, 100, 600000, 2000,
	   "One etcd request; an endpoint that does not answer in time is left for the next."),
	{ KEY(struct zdu_plan, "etcd", "lock_ttl_s", ZDU_CT_INT, etcd_lock_ttl_s), .min = 2, .max = 3600,
	  .def_int = 15,
	  .doc = "TTL of the lock's lease, in seconds. The coordinator renews it every third of this; one "
		 "killed with -9 holds the lock this long at most." },
	MS("etcd", "flag_timeout_ms", etcd_flag_timeout_ms, 100, 3600000, 10000,
	   "After writing a node's flag key, how long its agent gets to show it in the state it publishes "
	   "(at the write's revision or later)."),

	{ KEY(struct zdu_plan, "cutover", "first_group", ZDU_CT_STRLIST, cutover_first_group),
	  .flags = ZDU_KEY_ARRAY, .example = "[ \"api1\", \"api2\" ]",
	  .def_doc = "the first half of the nodes, rounded down",
	  .doc = "The names of the nodes upgraded before the switch. Each group needs at least one node." },
	MS("cutover", "tcp_grace_ms", tcp_grace_ms, -1, 86400000, -1,
	   "For HAProxy mode tcp: this long after the switch, end the sessions still open to the old group "
	   "(shutdown sessions server). -1: never; they close on their own."),
	MS("cutover", "switch_ms", switch_timeout_ms, 100, 3600000, 30000,
	   "Time limit of each wait of the switch: until every load balancer has applied the agents' lb "
	   "replies, and until it shows the switch."),
};

#define LB_STR(n, f, text) { KEY(struct zdu_plan_lb, "", n, ZDU_CT_STRING, f), .flags = REQ, .doc = text }

static const struct zdu_config_key lb_keys[] = {
	LB_STR("name", name, "Used in messages; unique."),
	LB_STR("runtime", runtime,
	       "HAProxy's runtime API: \"unix:/path\" or \"/path\" for a stats socket on this host, or "
	       "\"ADDR:PORT\" (an IPv4 address, or [IPv6]:PORT; no host names) for stats socket ipv4@ADDR:PORT. "
	       "A rolling upgrade only reads show stat; a cutover sends set server and shutdown sessions, "
	       "which need level admin. Keep a TCP socket on a management network: it can stop any server."),
};

static const struct zdu_config_key node_keys[] = {
	{ KEY(struct zdu_plan_node, "", "name", ZDU_CT_STRING, name), .flags = REQ,
	  .doc = "Used in messages, in the journal and for {node}; unique." },
	{ KEY(struct zdu_plan_node, "", "server", ZDU_CT_STRING, server), .flags = ZDU_KEY_NONEMPTY,
	  .def_str = "", .def_doc = "the node's name",
	  .doc = "The node's server name in the HAProxy backend; unique." },
	{ KEY(struct zdu_plan_node, "", "agent", ZDU_CT_STRING, agent), .flags = REQ,
	  .doc = "How to reach the node's zdu-agent: \"ssh:HOST\" (HOST neither starting with - nor holding "
		 "spaces, quotes or shell characters), or \"unix:/path\", the agent's control socket, when the "
		 "coordinator runs on that node, or \"etcd\" (or \"etcd:NAME\" when the node's etcd.node "
		 "differs from name): through etcd alone, which needs the plan's etcd group (see AGENTS in "
		 "zdu-coordinator(8))." },
};

#define LIST(n, k, st, f, cnt, text)                                                                    \
	{ .name = n, .flags = REQ, .example = "( { name = \"...\"; ... } )", .doc = text, .keys = k,    \
	  .nkeys = ZDU_ARRAY_SIZE(k), .elem_size = sizeof(st), .offset = offsetof(struct zdu_plan, f),     \
	  .count_offset = offsetof(struct zdu_plan, cnt) }

static const struct zdu_keytab_group groups[] = {
	{ .name = "timeouts", .example = "{ drain_ms = ...; }",
	  .doc = "A group of time limits, in milliseconds; every key is optional." },
	LIST("load_balancers", lb_keys, struct zdu_plan_lb, lbs, nlbs,
	     "A list of groups, required, not empty: every load balancer in front of the backend. The rollout "
	     "waits for each one to agree."),
	LIST("nodes", node_keys, struct zdu_plan_node, nodes, nnodes,
	     "A list of groups, required, not empty: the nodes, upgraded in this order."),
	{ .name = "etcd", .example = "{ endpoints = [ ... ]; }",
	  .doc = "A group, optional. With it the lock and the journal live in etcd, and nodes may be reached "
		 "as \"etcd\"." },
	{ .name = "cutover", .example = "{ first_group = [...]; }",
	  .doc = "A group, only with strategy = \"cutover\" (an error otherwise); every key is optional." },
};

static const struct zdu_keytab tab = { keys, ZDU_ARRAY_SIZE(keys), groups, ZDU_ARRAY_SIZE(groups) };

const struct zdu_keytab *zdu_plan_keytab(void)
{
	return &tab;
}

void zdu_plan_free(struct zdu_plan *p)
{
	zdu_keytab_free(&tab, p);
	free(p->path);
	memset(p, 0, sizeof(*p));
}

/* ---- what the table cannot say: values that depend on each other ---- */

struct ploader {
	struct zdu_keyload kl;
	struct zdu_plan *p;
	config_t *lc;
};

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

/* Entry i of list `list`, and its member `key` (the entry when absent). */
static const config_setting_t *entry(struct ploader *ld, const char *list, size_t i, const char *key)
{
	const config_setting_t *e = config_setting_get_elem(config_lookup(ld->lc, list), (unsigned)i);
	const config_setting_t *m = e && key ? config_setting_get_member(e, key) : NULL;

	return m ? m : e;
}

/* With an etcd group: the lock and the journal live there. */
static enum zdu_err check_etcd(struct ploader *ld)
{
	struct zdu_plan *p = ld->p;
	const char *prefix = p->etcd_prefix;
	size_t i, n = strlen(prefix);
	char buf[256];

	if (!config_lookup(ld->lc, "etcd"))
		return ZDU_OK;
	for (i = 0; i < p->etcd_endpoints.n; i++) {
		const char *v = p->etcd_endpoints.v[i];

		if ((strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) || v[strlen(v) - 1] == '/')
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, entry(ld, "etcd.endpoints", i, NULL),
					       "etcd.endpoints: item %zu is not http://host:port or https://host:port",
					       i + 1);
	}
	if (prefix[0] != '/' || (n > 1 && prefix[n - 1] == '/'))
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, config_lookup(ld->lc, "etcd.prefix"),
				       "etcd.prefix: \"%.120s\" must start with / and not end with /", prefix);
	if (p->etcd_password_file[0]) {
		const config_setting_t *s = config_lookup(ld->lc, "etcd.password_file");

		if (p->etcd_password[0])
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, s,
					       "etcd.password_file: given with etcd.password; keep one");
		if (zdu_read_first_line(p->etcd_password_file, buf, sizeof(buf)) < 0)
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_IO, s, "etcd.password_file: %.200s: %s",
					       p->etcd_password_file, strerror(errno));
		free(p->etcd_password);
		p->etcd_password = strdup(buf);
		explicit_bzero(buf, sizeof(buf));
		if (!p->etcd_password)
			return ZDU_ERR_NOMEM;
	}
	if (p->etcd_password[0] && !p->etcd_user[0])
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, config_lookup(ld->lc, "etcd.password"),
				       "etcd.password: given without etcd.user");
	return ZDU_OK;
}

/* The journal (needed without etcd), the lock beside it, the version. */
static enum zdu_err check_files(struct ploader *ld)
{
	struct zdu_plan *p = ld->p;
	const config_setting_t *j = config_lookup(ld->lc, "journal");
	int ok;

	if (!p->etcd_endpoints.n && !j)
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, NULL, "journal: missing");
	if (!p->etcd_endpoints.n && !p->journal[0])
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, j, "journal: must not be empty");
	if (p->journal[0] && p->journal[0] != '/')
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, j, "journal: must be an absolute path");
	/* A relative lock would depend on where each coordinator was started:
	 * two could then run the same plan. */
	if (p->lock[0] && p->lock[0] != '/')
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, config_lookup(ld->lc, "lock"),
				       "lock: must be an absolute path");
	if (!p->lock[0] && p->journal[0]) {
		free(p->lock);
		if (asprintf(&p->lock, "%s.lock", p->journal) < 0) {
			p->lock = NULL;
			return ZDU_ERR_NOMEM;
		}
	}
	if (p->expect_version[0]) {
		zdu_microversion_cmp(p->expect_version, "2.1", &ok);
		if (!ok)
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, config_lookup(ld->lc, "expect_version"),
					       "expect_version: \"%.32s\" is not a microversion like 2.93",
					       p->expect_version);
	}
	return ZDU_OK;
}

/* before_command and after_command run once for the whole plan: a node's
 * placeholders have no value there. */
static enum zdu_err check_window(struct ploader *ld)
{
	static const char *const names[] = { "before_command", "after_command" };
	const char *cmds[] = { ld->p->before_command, ld->p->after_command };
	size_t i;

	for (i = 0; i < ZDU_ARRAY_SIZE(cmds); i++) {
		const char *ph = strstr(cmds[i], "{node}") ? "{node}" : strstr(cmds[i], "{server}") ? "{server}" : NULL;

		if (ph)
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, config_lookup(ld->lc, names[i]),
					       "%s: %s has no value here (it runs once for the whole plan, not per "
					       "node); use {backend} or {plan}, or nothing",
					       names[i], ph);
	}
	return ZDU_OK;
}

static enum zdu_err check_lbs(struct ploader *ld)
{
	struct zdu_plan *p = ld->p;
	size_t i, j;

	for (i = 0; i < p->nlbs; i++) {
		const struct zdu_plan_lb *lb = &p->lbs[i];

		if (!valid_runtime(lb->runtime))
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, entry(ld, "load_balancers", i, "runtime"),
					       "load_balancers[%zu].runtime: \"%.80s\" is not unix:/path, /path or "
					       "host:port", i, lb->runtime);
		for (j = 0; j < i; j++)
			if (strcmp(p->lbs[j].name, lb->name) == 0)
				return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, entry(ld, "load_balancers", i, NULL),
						       "load_balancers[%zu].name: \"%s\" given twice", i, lb->name);
	}
	return ZDU_OK;
}

static enum zdu_err check_nodes(struct ploader *ld)
{
	struct zdu_plan *p = ld->p;
	size_t i, j;

	for (i = 0; i < p->nnodes; i++) {
		struct zdu_plan_node *nd = &p->nodes[i];

		if (!nd->server[0]) {
			free(nd->server);
			if (!(nd->server = strdup(nd->name)))
				return ZDU_ERR_NOMEM;
		}
		if (!valid_agent(nd->agent))
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, entry(ld, "nodes", i, "agent"),
					       "nodes[%zu].agent: \"%.80s\" is not unix:/path, ssh:host, etcd or "
					       "etcd:name", i, nd->agent);
		if (strncmp(nd->agent, "etcd", 4) == 0 && p->etcd_endpoints.n == 0)
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, entry(ld, "nodes", i, "agent"),
					       "nodes[%zu].agent: \"%.80s\" needs the plan's etcd group (etcd = { "
					       "endpoints = [ ... ]; };)", i, nd->agent);
		for (j = 0; j < i; j++)
			if (strcmp(p->nodes[j].name, nd->name) == 0 || strcmp(p->nodes[j].server, nd->server) == 0)
				return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, entry(ld, "nodes", i, NULL),
						       "nodes[%zu].name: node \"%s\" (server \"%s\") given twice", i,
						       nd->name, nd->server);
	}
	return ZDU_OK;
}

/* The cutover group: named, or the first half (rounded down) of the nodes.
 * Each group serves alone for a while, so each must hold min_ready. */
static enum zdu_err check_cutover(struct ploader *ld)
{
	struct zdu_plan *p = ld->p;
	const config_setting_t *g = config_lookup(ld->lc, "cutover");
	const config_setting_t *fg = config_lookup(ld->lc, "cutover.first_group");
	size_t i, k, n1 = 0, m = (size_t)p->min_ready, small;
	char other[128];

	if (g && p->strategy != ZDU_STRATEGY_CUTOVER)
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, g, "cutover: given, but strategy is not \"cutover\"");
	if (p->strategy != ZDU_STRATEGY_CUTOVER)
		return ZDU_OK;
	for (k = 0; fg && k < p->cutover_first_group.n; k++) {
		const char *name = p->cutover_first_group.v[k];

		for (i = 0; i < p->nnodes && strcmp(p->nodes[i].name, name) != 0; i++)
			;
		if (i == p->nnodes)
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, entry(ld, "cutover.first_group", k, NULL),
					       "cutover.first_group: no node named \"%.64s\"", name);
		if (p->nodes[i].first_group)
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, entry(ld, "cutover.first_group", k, NULL),
					       "cutover.first_group: \"%.64s\" given twice", name);
		p->nodes[i].first_group = 1;
		n1++;
	}
	for (i = 0; !fg && i < p->nnodes / 2; i++, n1++)
		p->nodes[i].first_group = 1;
	if (n1 == 0 || n1 == p->nnodes)
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, fg ? fg : config_lookup(ld->lc, "strategy"),
				       "cutover: the first group has %zu of %zu nodes; each group needs at least one",
				       n1, p->nnodes);
	if (m <= n1 && m <= p->nnodes - n1)
		return ZDU_OK;
	/* The fixes: a smaller min_ready, other groups, or more nodes. */
	small = n1 < p->nnodes - n1 ? n1 : p->nnodes - n1;
	if (p->nnodes < 2 * m)
		snprintf(other, sizeof(other), "add nodes (min_ready %zu needs at least %zu, two groups of %zu)", m,
			 2 * m, m);
	else if (p->nnodes - m == m)
		snprintf(other, sizeof(other), "name %zu nodes in cutover.first_group", m);
	else
		snprintf(other, sizeof(other), "name %zu to %zu nodes in cutover.first_group", m, p->nnodes - m);
	return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, config_lookup(ld->lc, "min_ready"),
			       "min_ready: %d, but with cutover each group serves alone (groups of %zu and %zu): "
			       "set min_ready = %zu (the smaller group) or less, or %s",
			       p->min_ready, n1, p->nnodes - n1, small, other);
}

static enum zdu_err load(struct ploader *ld)
{
	struct zdu_plan *p = ld->p;
	enum zdu_err rc;

	if ((rc = zdu_keytab_defaults(&tab, p)) != ZDU_OK ||
	    (rc = zdu_keytab_load(&ld->kl, &tab, config_root_setting(ld->lc), p)) != ZDU_OK ||
	    (rc = check_etcd(ld)) != ZDU_OK || (rc = check_files(ld)) != ZDU_OK ||
	    (rc = check_window(ld)) != ZDU_OK || (rc = check_lbs(ld)) != ZDU_OK ||
	    (rc = check_nodes(ld)) != ZDU_OK ||
	    (rc = check_cutover(ld)) != ZDU_OK)
		return rc;
	if ((size_t)p->min_ready > p->nnodes - 1 && p->nnodes > 0)
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, config_lookup(ld->lc, "min_ready"),
				       "min_ready: %d other servers can never stay ready with %zu nodes: set "
				       "min_ready = %zu (every other node) or less, or add nodes",
				       p->min_ready, p->nnodes, p->nnodes - 1);
	return ZDU_OK;
}

static enum zdu_err load_common(config_t *lc, const char *name, struct zdu_plan *p, char *err, size_t err_size)
{
	struct ploader ld = { { name, err, err_size }, p, lc };
	enum zdu_err rc = load(&ld);

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
	enum zdu_err rc;

	memset(p, 0, sizeof(*p));
	rc = zdu_keytab_read(&lc, path, NULL, path, err, err_size);
	return rc != ZDU_OK ? rc : load_common(&lc, path, p, err, err_size);
}

enum zdu_err zdu_plan_load_string(const char *text, const char *name, struct zdu_plan *p, char *err,
				  size_t err_size)
{
	config_t lc;
	enum zdu_err rc;

	memset(p, 0, sizeof(*p));
	rc = zdu_keytab_read(&lc, NULL, text, name, err, err_size);
	return rc != ZDU_OK ? rc : load_common(&lc, name, p, err, err_size);
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
