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
static const char *const units[] = { "service", "node", NULL };
static const char *const ssh_default[] = { "ssh", "-o", "BatchMode=yes", NULL };

_Static_assert(sizeof(enum zdu_strategy) == sizeof(int), "strategy is read as an enum key (an int)");
_Static_assert(sizeof(enum zdu_plan_unit) == sizeof(int), "unit is read as an enum key (an int)");

#define KEY(st, g, n, t, f) .group = g, .name = n, .type = t, .offset = offsetof(st, f)
#define STR(g, n, f, fl, d, text) \
	{ KEY(struct zdu_plan, g, n, ZDU_CT_STRING, f), .flags = fl, .def_str = d, .doc = text }
#define MS(g, n, f, lo, hi, d, text) \
	{ KEY(struct zdu_plan, g, n, ZDU_CT_INT, f), .min = lo, .max = hi, .def_int = d, .doc = text }
#define REQ (ZDU_KEY_REQUIRED | ZDU_KEY_NONEMPTY)

static const struct zdu_config_key keys[] = {
	{ KEY(struct zdu_plan, "", "backend", ZDU_CT_STRING, backend), .flags = ZDU_KEY_NONEMPTY, .def_str = "",
	  .def_doc = "none (required without services)",
	  .doc = "The HAProxy backend that holds the nodes' servers; the same name on every load balancer. A "
		 "plan names either backend (one API) or services (several), not both." },
	{ KEY(struct zdu_plan, "", "unit", ZDU_CT_ENUM, unit), .choices = units, .def_int = 0,
	  .doc = "Only with services: what is upgraded as one. \"service\": the services in the plan's order, "
		 "each across all its nodes (its own strategy, min_ready and upgrade_command; a node's flag "
		 "is that service's flag, so its other services keep serving), as openstack-ansible upgrades "
		 "service by service. \"node\": node by node (or by cutover's groups), each drained on every "
		 "backend at once (the node's own flag), upgrade_command run once, and back only when every one "
		 "of its services is healthy at its expect_version; a cutover's switch of every backend goes "
		 "out in one runtime request per load balancer. For host maintenance (kernel, OS)." },
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
	    "again. Empty: any healthy node will do. With services, each service has its own."),
	{ KEY(struct zdu_plan, "", "upgrade_command", ZDU_CT_STRING, upgrade_command), .flags = ZDU_KEY_NONEMPTY,
	  .def_str = "", .def_doc = "none (required unless every service has its own)", .doc =
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
	    "cut and ends with [line cut: N bytes not shown]. With services (unit = \"service\"), {service} "
		 "becomes the service's name; with unit = \"node\", {services} becomes the node's services, "
		 "separated by spaces." },
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
	{ KEY(struct zdu_plan, "", "push_state", ZDU_CT_BOOL, push_state), .def_int = 1,
	  .doc = "After its agent confirmed a node's flag set (drain) or cleared, set the node's servers to "
		 "that state on every load balancer too, in one runtime request each (set server BACKEND/SERVER "
		 "state drain, then state ready): they take it at once instead of at their next agent check "
		 "(agent-inter). A server a load balancer shows DOWN by its agent check (the upgrade's restart) "
		 "while the agent now replies up is also told so (set server BACKEND/SERVER agent up). The "
		 "request and the agent's reply say the same, so whichever a load balancer "
		 "applies last the server ends the same. It needs a stats socket with level admin; a load "
		 "balancer that refuses it is named once in a warn line and its agent check does it instead. "
		 "false: only the agents change the load balancers in a rolling upgrade." },
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
	   "After clearing the flag, until every load balancer shows the server UP with at least the weight "
	   "it had at its preflight (the agent's slow start included)."),
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
	       "A rolling upgrade reads show stat and, with push_state, sends set server (level admin; refused, "
	       "the agents' checks do it); a cutover sends set server and shutdown sessions, which need level admin. Keep a TCP socket on a management network: it can stop any server."),
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
	{ KEY(struct zdu_plan_node, "", "serves", ZDU_CT_STRLIST, serves), .flags = ZDU_KEY_ARRAY | ZDU_KEY_NONEMPTY,
	  .example = "[ \"nova-api\", \"placement-api:api1-placement\" ]",
	  .def_doc = "every service of the plan, each with the node's server",
	  .doc = "Only with services: the services the node serves, each \"SERVICE\" (its server in that "
		 "service's backend is the node's server) or \"SERVICE:SERVER\"." },
};

#define SVC_STR(n, f, fl, d, text) \
	{ KEY(struct zdu_plan_service, "", n, ZDU_CT_STRING, f), .flags = fl, .def_str = d, .doc = text }

static const struct zdu_config_key service_keys[] = {
	SVC_STR("name", name, REQ, NULL,
		"The service's name in its agents' services list, which HAProxy's agent-send sends (1 to 63 of "
		"A-Z a-z 0-9 . _ -); unique. Its flag drains it alone (unit = \"service\")."),
	SVC_STR("backend", backend, REQ, NULL,
		"The service's HAProxy backend, the same name on every load balancer; unique."),
	SVC_STR("expect_version", expect_version, 0, "",
		"The service's microversion after its upgrade, such as \"2.93\" for nova-api or \"1.39\" for "
		"placement-api: the version its agent probes must be at least this before the node serves it "
		"again. Empty: any healthy service will do."),
	SVC_STR("strategy", strategy, 0, "",
		"unit = \"service\" only: \"rolling\" or \"cutover\" for this service; empty: the plan's."),
	{ KEY(struct zdu_plan_service, "", "min_ready", ZDU_CT_INT, min_ready), .min = -1, .max = 1000,
	  .def_int = -1, .def_doc = "the plan's",
	  .doc = "The plan's min_ready for this service's backend (with unit = \"node\" too: each backend "
		 "of a node must keep it)." },
	SVC_STR("upgrade_command", upgrade_command, 0, "",
		"unit = \"service\" only: the command upgrading this service on one node; empty: the plan's. "
		"Placeholders as the plan's, {service} included."),
	SVC_STR("before_command", before_command, 0, "",
		"Run once before this service's first node is drained (unit = \"node\": before any node, after "
		"the plan's before_command), as the plan's before_command is: bounded by timeouts.before_ms, "
		"journaled, resumable. {backend} is the service's backend; {service} its name."),
	SVC_STR("after_command", after_command, 0, "",
		"Run once after this service's last node is back (unit = \"node\": after every node, before "
		"the plan's after_command), as the plan's after_command is."),
	{ KEY(struct zdu_plan_service, "", "first_group", ZDU_CT_STRLIST, first_group), .flags = ZDU_KEY_ARRAY,
	  .example = "[ \"api1\" ]", .def_doc = "the first half of the service's nodes, rounded down",
	  .doc = "unit = \"service\" with strategy cutover: the nodes upgraded before this service's switch." },
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
	{ .name = "services", .example = "( { name = \"nova-api\"; backend = \"nova-api\"; } )",
	  .doc = "A list of groups, optional, instead of backend: the API services of a control plane, "
		 "upgraded in this order (see unit, and SERVICES in zdu-coordinator(8)).",
	  .keys = service_keys, .nkeys = ZDU_ARRAY_SIZE(service_keys), .elem_size = sizeof(struct zdu_plan_service),
	  .offset = offsetof(struct zdu_plan, services), .count_offset = offsetof(struct zdu_plan, nservices) },
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

static void pass_free(struct zdu_plan *q);

void zdu_plan_free(struct zdu_plan *p)
{
	size_t i;

	for (i = 0; p->passes && i < p->npasses; i++) {
		pass_free(&p->passes[i]);
		free(p->passes[i].nodes);
	}
	free(p->passes);
	if (!p->npasses) {
		/* its own pass: the servers arrays are its nodes' */
		for (i = 0; p->nodes && i < p->nnodes; i++)
			free((void *)p->nodes[i].servers);
		free(p->backends);
	}
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

/* The cutover groups of pass q: the nodes named (fg, the setting; names,
 * its value), or without fg the first half (rounded down) of q's nodes.
 * Each group serves alone for a while, so each must hold min_ready. what
 * names the key in messages; at is where min_ready's error points. */
static enum zdu_err cutover_groups(struct ploader *ld, struct zdu_plan *q, const config_setting_t *fg,
				   const struct zdu_strlist *names, const char *what, const config_setting_t *at)
{
	size_t i, k, n1 = 0, m = (size_t)q->min_ready, small;
	char other[160];

	for (k = 0; fg && k < names->n; k++) {
		const char *name = names->v[k];

		for (i = 0; i < q->nnodes && strcmp(q->nodes[i].name, name) != 0; i++)
			;
		if (i == q->nnodes)
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, config_setting_get_elem(fg, (unsigned)k),
					       "%s: no node named \"%.64s\"%s", what, name,
					       q->service ? " serves this service" : "");
		if (q->nodes[i].first_group)
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, config_setting_get_elem(fg, (unsigned)k),
					       "%s: \"%.64s\" given twice", what, name);
		q->nodes[i].first_group = 1;
		n1++;
	}
	for (i = 0; !fg && i < q->nnodes / 2; i++, n1++)
		q->nodes[i].first_group = 1;
	if (n1 == 0 || n1 == q->nnodes)
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, fg ? fg : at,
				       "%s: the first group has %zu of %zu nodes; each group needs at least one",
				       strcmp(what, "cutover.first_group") == 0 ? "cutover" : what, n1, q->nnodes);
	if (m <= n1 && m <= q->nnodes - n1)
		return ZDU_OK;
	/* The fixes: a smaller min_ready, other groups, or more nodes. */
	small = n1 < q->nnodes - n1 ? n1 : q->nnodes - n1;
	if (q->nnodes < 2 * m)
		snprintf(other, sizeof(other), "add nodes (min_ready %zu needs at least %zu, two groups of %zu)", m,
			 2 * m, m);
	else if (q->nnodes - m == m)
		snprintf(other, sizeof(other), "name %zu nodes in %s", m, what);
	else
		snprintf(other, sizeof(other), "name %zu to %zu nodes in %s", m, q->nnodes - m, what);
	return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, at,
			       "min_ready: %d%s%s, but with cutover each group serves alone (groups of %zu and %zu): "
			       "set min_ready = %zu (the smaller group) or less, or %s",
			       q->min_ready, q->service ? " for service " : "", q->service ? q->service->name : "", n1,
			       q->nnodes - n1, small, other);
}

static enum zdu_err check_cutover(struct ploader *ld)
{
	struct zdu_plan *p = ld->p;
	const config_setting_t *g = config_lookup(ld->lc, "cutover");

	if (g && p->strategy != ZDU_STRATEGY_CUTOVER)
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, g, "cutover: given, but strategy is not \"cutover\"");
	return ZDU_OK;
}

/* ---- services: the passes a rollout runs ---- */

static int valid_service_name(const char *n)
{
	size_t len = strlen(n);

	return len >= 1 && len <= 63 && strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == len;
}

static const struct zdu_plan_service *find_service(const struct zdu_plan *p, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < p->nservices; i++)
		if (strlen(p->services[i].name) == len && strncmp(p->services[i].name, name, len) == 0)
			return &p->services[i];
	return NULL;
}

/* The node's server in service sv's backend, or NULL when it does not
 * serve it (its serves list, when given, says). */
static const char *node_server(const struct zdu_plan_node *nd, const struct zdu_plan_service *sv)
{
	size_t i, len = strlen(sv->name);

	if (!nd->serves.n)
		return nd->server;
	for (i = 0; i < nd->serves.n; i++) {
		const char *e = nd->serves.v[i];

		if (strncmp(e, sv->name, len) == 0 && (e[len] == '\0' || e[len] == ':'))
			return e[len] ? e + len + 1 : nd->server;
	}
	return NULL;
}

/* What the table cannot check of services and nodes' serves. */
static enum zdu_err check_services(struct ploader *ld)
{
	struct zdu_plan *p = ld->p;
	size_t i, j, k;

	if (!p->nservices) {
		if (!p->backend[0])
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, NULL,
					       "backend: missing (or services, for several APIs)");
		if (config_lookup(ld->lc, "unit"))
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, config_lookup(ld->lc, "unit"),
					       "unit: only with services");
		for (i = 0; i < p->nnodes; i++)
			if (p->nodes[i].serves.n)
				return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, entry(ld, "nodes", i, "serves"),
						       "nodes[%zu].serves: only with services", i);
		if (!p->upgrade_command[0])
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, NULL, "upgrade_command: missing");
		return ZDU_OK;
	}
	if (p->backend[0])
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, config_lookup(ld->lc, "backend"),
				       "backend: given with services; each service names its own backend");
	if (p->expect_version[0])
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, config_lookup(ld->lc, "expect_version"),
				       "expect_version: given with services; each service has its own");
	if (p->nservices > ZDU_PLAN_SERVICES_MAX)
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, entry(ld, "services", ZDU_PLAN_SERVICES_MAX, NULL),
				       "services: %zu given, at most %d", p->nservices, ZDU_PLAN_SERVICES_MAX);
	for (i = 0; i < p->nservices; i++) {
		const struct zdu_plan_service *sv = &p->services[i];
		int ok;

		if (!valid_service_name(sv->name))
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, entry(ld, "services", i, "name"),
					       "services[%zu].name: \"%.80s\" must be 1 to 63 of A-Z a-z 0-9 . _ -", i,
					       sv->name);
		for (j = 0; j < i; j++)
			if (strcmp(p->services[j].name, sv->name) == 0 || strcmp(p->services[j].backend, sv->backend) == 0)
				return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, entry(ld, "services", i, NULL),
						       "services[%zu]: service \"%s\" (backend \"%s\") given twice", i,
						       sv->name, sv->backend);
		if (sv->expect_version[0]) {
			zdu_microversion_cmp(sv->expect_version, "1.0", &ok);
			if (!ok)
				return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, entry(ld, "services", i, "expect_version"),
						       "services[%zu].expect_version: \"%.32s\" is not a microversion "
						       "like 2.93", i, sv->expect_version);
		}
		if (sv->strategy[0] && strcmp(sv->strategy, "rolling") != 0 && strcmp(sv->strategy, "cutover") != 0)
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, entry(ld, "services", i, "strategy"),
					       "services[%zu].strategy: \"%.32s\" is not \"rolling\" or \"cutover\"", i,
					       sv->strategy);
		if (p->unit == ZDU_UNIT_NODE) {
			const char *k1 = sv->strategy[0] ? "strategy" : sv->upgrade_command[0] ? "upgrade_command"
								    : sv->first_group.n	     ? "first_group"
												     : NULL;
			if (k1)
				return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, entry(ld, "services", i, k1),
						       "services[%zu].%s: only with unit = \"service\"; with unit = "
						       "\"node\" the plan's own %s applies to every node",
						       i, k1, strcmp(k1, "first_group") == 0 ? "cutover.first_group" : k1);
		} else if (!sv->upgrade_command[0] && !p->upgrade_command[0]) {
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, entry(ld, "services", i, NULL),
					       "services[%zu].upgrade_command: missing, and the plan has none", i);
		} else if (sv->first_group.n && strcmp(sv->strategy[0] ? sv->strategy : strategies[p->strategy],
						       "cutover") != 0) {
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, entry(ld, "services", i, "first_group"),
					       "services[%zu].first_group: given, but the service's strategy is not "
					       "\"cutover\"", i);
		}
		{
			const char *cmds[] = { sv->before_command, sv->after_command };
			const char *wkeys[] = { "before_command", "after_command" };

			for (k = 0; k < 2; k++)
				if (strstr(cmds[k], "{node}") || strstr(cmds[k], "{server}"))
					return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, entry(ld, "services", i, wkeys[k]),
							       "services[%zu].%s: {node} and {server} have no value "
							       "here (it runs once for the service); use {backend}, "
							       "{service} or {plan}", i, wkeys[k]);
		}
	}
	if (p->unit == ZDU_UNIT_NODE && !p->upgrade_command[0])
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, NULL,
				       "upgrade_command: missing (unit = \"node\" runs the plan's on each node)");
	for (i = 0; i < p->nnodes; i++) {
		const struct zdu_plan_node *nd = &p->nodes[i];

		for (k = 0; k < nd->serves.n; k++) {
			const char *e = nd->serves.v[k], *colon = strchr(e, ':');
			size_t len = colon ? (size_t)(colon - e) : strlen(e);

			if (!find_service(p, e, len))
				return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, entry(ld, "nodes", i, "serves"),
						       "nodes[%zu].serves: \"%.80s\": no service named \"%.*s\" in "
						       "services", i, e, (int)(len > 64 ? 64 : len), e);
			if (colon && (!colon[1] || strpbrk(colon + 1, " \t/,;")))
				return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, entry(ld, "nodes", i, "serves"),
						       "nodes[%zu].serves: \"%.80s\": the server after : must be a "
						       "name", i, e);
			for (j = 0; j < k; j++)
				if (strncmp(nd->serves.v[j], e, len) == 0 &&
				    (nd->serves.v[j][len] == '\0' || nd->serves.v[j][len] == ':'))
					return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, entry(ld, "nodes", i, "serves"),
							       "nodes[%zu].serves: service \"%.*s\" given twice", i,
							       (int)(len > 64 ? 64 : len), e);
		}
	}
	return ZDU_OK;
}

static void pass_free(struct zdu_plan *q)
{
	size_t i;

	for (i = 0; q->nodes && i < q->nnodes; i++)
		free((void *)q->nodes[i].servers);
	free(q->backends);
}

/* A pass: a copy of p's settings touching backends [b0, b0 + nb) of its
 * services (nb 0: p has none, its backend alone), with the nodes that serve
 * any of them. */
static enum zdu_err pass_make(struct zdu_plan *p, struct zdu_plan *q, size_t b0, size_t nb)
{
	size_t i, k, nn = 0;

	*q = *p;
	q->passes = NULL;
	q->npasses = 0;
	q->whole = p;
	q->nbackends = nb ? nb : 1;
	q->nodes = NULL;
	q->nnodes = 0;
	if (!(q->backends = calloc(q->nbackends, sizeof(*q->backends))))
		return ZDU_ERR_NOMEM;
	if (!(q->nodes = calloc(p->nnodes, sizeof(*q->nodes))))
		return ZDU_ERR_NOMEM;
	for (k = 0; k < q->nbackends; k++) {
		const struct zdu_plan_service *sv = nb ? &p->services[b0 + k] : NULL;

		q->backends[k].service = sv ? sv->name : "";
		q->backends[k].backend = sv ? sv->backend : p->backend;
		q->backends[k].expect_version = sv ? sv->expect_version : p->expect_version;
		q->backends[k].min_ready = sv && sv->min_ready >= 0 ? sv->min_ready : p->min_ready;
	}
	for (i = 0; i < p->nnodes; i++) {
		const char **servers = calloc(q->nbackends, sizeof(*servers));
		int any = 0;

		if (!servers)
			return ZDU_ERR_NOMEM;
		for (k = 0; k < q->nbackends; k++) {
			servers[k] = nb ? node_server(&p->nodes[i], &p->services[b0 + k]) : p->nodes[i].server;
			any |= servers[k] != NULL;
		}
		if (!any) {
			free(servers);
			continue;
		}
		q->nodes[nn] = p->nodes[i];
		q->nodes[nn].servers = servers;
		q->nodes[nn].index = i;
		q->nodes[nn].first_group = 0;
		q->nnodes = ++nn;
	}
	q->flag_service = "";
	q->scope = "";
	q->service = NULL;
	return ZDU_OK;
}

/* One service's pass (unit = "service"): its settings over the plan's. */
static enum zdu_err pass_service(struct ploader *ld, size_t si)
{
	struct zdu_plan *p = ld->p, *q = &p->passes[si];
	const struct zdu_plan_service *sv = &p->services[si];
	const config_setting_t *at = entry(ld, "services", si, NULL);
	enum zdu_err rc;

	if ((rc = pass_make(p, q, si, 1)) != ZDU_OK)
		return rc;
	q->backend = sv->backend;
	q->expect_version = sv->expect_version;
	q->strategy = sv->strategy[0] ? (strcmp(sv->strategy, "cutover") == 0 ? ZDU_STRATEGY_CUTOVER
									      : ZDU_STRATEGY_ROLLING)
				      : p->strategy;
	q->min_ready = q->backends[0].min_ready;
	q->upgrade_command = sv->upgrade_command[0] ? sv->upgrade_command : p->upgrade_command;
	q->before_command = sv->before_command;
	q->after_command = sv->after_command;
	q->cutover_first_group = sv->first_group.n ? sv->first_group : p->cutover_first_group;
	q->flag_service = sv->name;
	q->scope = sv->name;
	q->service = sv;
	if (q->nnodes == 0)
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, at, "services[%zu]: no node serves \"%s\" (nodes' serves)",
				       si, sv->name);
	if ((size_t)q->min_ready > q->nnodes - 1)
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, at,
				       "services[%zu]: min_ready %d other servers can never stay ready with the %zu "
				       "node%s serving %s: set min_ready = %zu or less, or add nodes",
				       si, q->min_ready, q->nnodes, q->nnodes == 1 ? "" : "s", sv->name, q->nnodes - 1);
	if (q->strategy != ZDU_STRATEGY_CUTOVER)
		return ZDU_OK;
	if (sv->first_group.n)
		return cutover_groups(ld, q, entry(ld, "services", si, "first_group"), &sv->first_group,
				      "first_group", at);
	return cutover_groups(ld, q, config_lookup(ld->lc, "cutover.first_group"), &p->cutover_first_group,
			      "cutover.first_group", at);
}

/* The passes: unit = "service", one per service; unit = "node", one over
 * every backend. A plan without services is its own pass. */
static enum zdu_err make_passes(struct ploader *ld)
{
	struct zdu_plan *p = ld->p;
	const config_setting_t *mr = config_lookup(ld->lc, "min_ready");
	struct zdu_plan self;
	enum zdu_err rc;
	size_t i, k, n = 0;

	p->whole = p;
	if (!p->nservices) {
		if ((rc = pass_make(p, &self, 0, 0)) != ZDU_OK) {
			pass_free(&self);
			free(self.nodes);
			return rc;
		}
		/* p is its own pass: its nodes get their servers */
		for (i = 0; i < p->nnodes; i++) {
			p->nodes[i].servers = self.nodes[i].servers;
			p->nodes[i].index = i;
		}
		free(self.nodes);
		p->backends = self.backends;
		p->nbackends = 1;
		p->flag_service = p->scope = "";
		if (p->strategy != ZDU_STRATEGY_CUTOVER)
			return ZDU_OK;
		return cutover_groups(ld, p, config_lookup(ld->lc, "cutover.first_group"), &p->cutover_first_group,
				      "cutover.first_group", mr ? mr : config_lookup(ld->lc, "strategy"));
	}
	p->npasses = p->unit == ZDU_UNIT_NODE ? 1 : p->nservices;
	if (!(p->passes = calloc(p->npasses, sizeof(*p->passes))))
		return ZDU_ERR_NOMEM;
	/* the whole plan's backends named together ("nova_api, placement"), for
	 * messages and metrics; a service's pass has its own */
	for (i = 0; i < p->nservices; i++)
		n += strlen(p->services[i].backend) + 2;
	free(p->backend);
	if (!(p->backend = calloc(1, n + 1)))
		return ZDU_ERR_NOMEM;
	for (i = 0; i < p->nservices; i++)
		strcat(strcat(p->backend, i ? ", " : ""), p->services[i].backend);
	if (p->unit == ZDU_UNIT_SERVICE) {
		for (i = 0; i < p->nservices; i++)
			if ((rc = pass_service(ld, i)) != ZDU_OK)
				return rc;
		return ZDU_OK;
	}
	if ((rc = pass_make(p, &p->passes[0], 0, p->nservices)) != ZDU_OK)
		return rc;
	for (k = 0; k < p->nservices; k++) {
		size_t serving = 0;

		for (i = 0; i < p->passes[0].nnodes; i++)
			serving += p->passes[0].nodes[i].servers[k] != NULL;
		if ((size_t)p->passes[0].backends[k].min_ready > (serving ? serving - 1 : 0))
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, entry(ld, "services", k, NULL),
					       "services[%zu]: min_ready %d other servers can never stay ready with the "
					       "%zu node%s serving %s: set min_ready = %zu or less, or add nodes",
					       k, p->passes[0].backends[k].min_ready, serving, serving == 1 ? "" : "s",
					       p->services[k].name, serving ? serving - 1 : 0);
	}
	if (p->strategy != ZDU_STRATEGY_CUTOVER)
		return ZDU_OK;
	/* each group must hold the strictest min_ready */
	for (k = 0; k < p->nservices; k++)
		if (p->passes[0].backends[k].min_ready > p->passes[0].min_ready)
			p->passes[0].min_ready = p->passes[0].backends[k].min_ready;
	if ((rc = cutover_groups(ld, &p->passes[0], config_lookup(ld->lc, "cutover.first_group"),
				 &p->cutover_first_group, "cutover.first_group",
				 mr ? mr : config_lookup(ld->lc, "strategy"))) != ZDU_OK)
		return rc;
	/* the nodes' own first_group, as the pass decided it, for --status */
	for (i = 0; i < p->passes[0].nnodes; i++)
		p->nodes[p->passes[0].nodes[i].index].first_group = p->passes[0].nodes[i].first_group;
	return ZDU_OK;
}

static enum zdu_err load(struct ploader *ld)
{
	struct zdu_plan *p = ld->p;
	enum zdu_err rc;

	if (!config_lookup(ld->lc, "backend") && !config_lookup(ld->lc, "services"))
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, NULL, "backend: missing (or services, for several APIs)");
	if ((rc = zdu_keytab_defaults(&tab, p)) != ZDU_OK ||
	    (rc = zdu_keytab_load(&ld->kl, &tab, config_root_setting(ld->lc), p)) != ZDU_OK ||
	    (rc = check_etcd(ld)) != ZDU_OK || (rc = check_files(ld)) != ZDU_OK ||
	    (rc = check_window(ld)) != ZDU_OK || (rc = check_lbs(ld)) != ZDU_OK ||
	    (rc = check_nodes(ld)) != ZDU_OK || (rc = check_services(ld)) != ZDU_OK ||
	    (rc = check_cutover(ld)) != ZDU_OK)
		return rc;
	if (!p->nservices && (size_t)p->min_ready > p->nnodes - 1 && p->nnodes > 0)
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, config_lookup(ld->lc, "min_ready"),
				       "min_ready: %d other servers can never stay ready with %zu nodes: set "
				       "min_ready = %zu (every other node) or less, or add nodes",
				       p->min_ready, p->nnodes, p->nnodes - 1);
	return make_passes(ld);
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
	/* services: their order, backends, strategies and every pass's nodes
	 * and groups (a plan without them hashes as it always did) */
	for (i = 0; i < p->nservices; i++) {
		const struct zdu_plan_service *sv = &p->services[i];
		const char *parts[] = { sv->name, sv->backend, sv->strategy };
		size_t k;

		h = h * 33 + '|' + (unsigned long)p->unit;
		for (k = 0; k < 3; k++) {
			h = h * 33 + ':';
			for (s = parts[k]; *s; s++)
				h = h * 33 + (unsigned char)*s;
		}
	}
	for (i = 0; i < p->npasses; i++) {
		size_t k, b;

		for (k = 0; k < p->passes[i].nnodes; k++) {
			const struct zdu_plan_node *nd = &p->passes[i].nodes[k];

			h = h * 33 + (unsigned long)nd->index * 7 + (unsigned long)nd->first_group;
			for (b = 0; b < p->passes[i].nbackends; b++)
				for (s = nd->servers[b] ? nd->servers[b] : "-"; *s; s++)
					h = h * 33 + (unsigned char)*s;
		}
	}
	return h;
}
