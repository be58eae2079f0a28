#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdu/common.h"
#include "zdu/config.h"
#include "zdu/etcd-t.h"
#include "zdu/keytab.h"
#include "zdu/log.h"
#include "zdu/sockdiag.h"

static const char *const log_levels[] = { "error", "warning", "notice", "info", "debug", NULL };
static const char *const fail_actions[] = { "down", "drain", "zero", NULL };
static const char *const reply_details[] = { "full", "minimal", NULL };
static const char *const probe_kinds[] = { "nova", "microversion", "healthcheck", "http", "tcp", NULL };

#define OFF(field) offsetof(struct zdu_config, field)
#define KEY_INT(g, n, f, lo, hi, d, text) \
	{ .group = g, .name = n, .type = ZDU_CT_INT, .offset = OFF(f), .min = lo, .max = hi, .def_int = d, .doc = text }
#define KEY_BOOL(g, n, f, d, text) \
	{ .group = g, .name = n, .type = ZDU_CT_BOOL, .offset = OFF(f), .max = 1, .def_int = d, .doc = text }
#define KEY_STR(g, n, f, d, text) \
	{ .group = g, .name = n, .type = ZDU_CT_STRING, .offset = OFF(f), .def_str = d, .doc = text }
#define KEY_LIST(g, n, f, d, text) \
	{ .group = g, .name = n, .type = ZDU_CT_STRLIST, .offset = OFF(f), .def_str = d, .doc = text }
#define KEY_INTLIST(g, n, f, lo, hi, d, text) \
	{ .group = g, .name = n, .type = ZDU_CT_INTLIST, .offset = OFF(f), .min = lo, .max = hi, .def_int = d, .doc = text }
#define KEY_ENUM(g, n, f, ch, d, text) \
	{ .group = g, .name = n, .type = ZDU_CT_ENUM, .offset = OFF(f), .choices = ch, .def_int = d, .doc = text }

static const struct zdu_config_key keys[] = {
	KEY_LIST("agent", "listen", listen, "0.0.0.0:9777",
		 "Addresses the agent-check listener binds, as \"host:port\", \"[ipv6]:port\" or "
		 "\"*:port\". 9777 is used by no OpenStack service."),
	KEY_INT("agent", "weight", weight, 1, 100, 100,
		"Percentage of the server's configured weight sent in ready replies (\"up ready 100%\"). "
		"Configure the server with weight 100 in HAProxy: percentages of weight 1 round down to 0."),
	KEY_INT("agent", "max_connections", max_connections, 1, 1000000, 4096,
		"Most agent-check connections held at once. Every connection gets its reply on accept; "
		"past this limit the oldest held connection is closed to make room."),
	KEY_INT("agent", "connection_timeout_ms", connection_timeout_ms, 10, 600000, 2000,
		"How long a connection is held after its reply, waiting for the peer to close."),
	KEY_INT("agent", "max_request_bytes", max_request_bytes, 0, 1048576, 1024,
		"Most bytes read and discarded from a peer (HAProxy's agent-send string); a peer sending "
		"more is disconnected."),
	KEY_INT("agent", "name_timeout_ms", name_timeout_ms, 1, 10000, 100,
		"With several services on one agent port: how long a connection may stay silent before "
		"its service's name is complete (HAProxy's agent-send, sent as soon as it connects), "
		"counted from the connection and again from each byte of the name; "
		"connection_timeout_ms bounds the whole. A connection that sends nothing in this time "
		"gets the first service's reply, one that sent part of a name what that part names "
		"(usually nothing: a comment only). One port answering a single service replies on "
		"accept and never waits."),
	KEY_ENUM("agent", "reply_detail", reply_detail, reply_details, 0,
		 "What a reply says after its tokens. \"full\": why, after '#' (the maintenance reason, "
		 "nova-api's error or version), which HAProxy shows in show stat and its logs. "
		 "\"minimal\": the tokens and the weight only (\"up drain\", \"down ready 100%\"; in flag "
		 "mode lb \"up 100% #lb-managed\", the word zdu-coordinator's cutover reads). Anyone who "
		 "can connect to the agent port gets the reply: use \"minimal\" when it can be reached "
		 "from networks other than the load balancers'. --status and the control socket keep "
		 "every detail."),
	KEY_STR("flag", "file", flag_file, "/var/lib/zdu-agent/maintenance",
		"The maintenance flag file. Its presence means maintenance; see zdu-agent(8) for its format."),
	KEY_INT("flag", "poll_interval_ms", flag_poll_ms, 50, 600000, 1000,
		"Fallback re-read of the flag file, in case a file-system event is missed."),
	KEY_STR("control", "socket", control_socket, "/run/zdu-agent/control.sock",
		"Unix socket on which the daemon answers the CLI (status, confirmation of a flag change)."),
	KEY_STR("control", "mode", control_mode, "0660", "Permissions of the control socket, in octal."),
	KEY_STR("control", "group", control_group, "",
		"Group owning the control socket, so members can run zdu-agent --status; empty keeps the "
		"daemon's group."),
	KEY_INT("control", "max_clients", control_max_clients, 1, 1024, 16,
		"Most control clients served at once; more are refused."),
	KEY_INT("control", "timeout_ms", control_timeout_ms, 100, 600000, 5000,
		"A control client that has not sent its request line within this time is disconnected; "
		"a request not answered this long after its line (wait-drained: after its own time) gets an "
		"error."),
	KEY_ENUM("log", "level", log_level, log_levels, 3, "Least severe message logged."),
	KEY_BOOL("probe", "enabled", probe_enabled, 1,
		 "Probe the local nova-api. Disabled, the node is assumed healthy."),
	KEY_STR("probe", "url", probe_url, "http://127.0.0.1:8774/v2.1/",
		"Version document of the local nova-api (http or https)."),
	KEY_INT("probe", "interval_ms", probe_interval_ms, 100, 3600000, 2000, "Time between two probes."),
	KEY_INT("probe", "rise_interval_ms", probe_rise_interval_ms, 0, 3600000, 0,
		"While the node is not up and its last probe succeeded (it is rising: after a restart, an "
		"upgrade), the next probe comes this soon instead of after interval_ms, as HAProxy's "
		"fastinter: a node is back after rise good probes this far apart. 0 (or not shorter than "
		"interval_ms): interval_ms."),
	KEY_INT("probe", "maintenance_interval_ms", probe_maintenance_interval_ms, 0, 3600000, 0,
		"While a maintenance flag holds the node out of service (mode drain or maint) and its probes "
		"fail or it is not up yet (it is being restarted for its upgrade), the time between its "
		"probes instead of interval_ms: the API's return is seen this soon, and so is the end of "
		"zdu-coordinator's wait-healthy. A drained API has no clients for the probes to slow down; "
		"one that answers is probed every interval_ms. Its fall failures then come this far apart, "
		"and one left broken under a flag is probed this often until the flag is cleared. Such a "
		"probe may wait up to slow_timeout_ms for its answer: an API that takes connections before "
		"it has loaded (uwsgi) answers the waiting request the moment it is ready, where a request "
		"cut at timeout_ms would only wait in its listen queue (a late answer is still a failure). "
		"Once it is back up under the flag, one more probe comes this soon (zdu-coordinator's "
		"wait-healthy wants a probe that started after the upgrade command ended). "
		"0 (or not shorter than interval_ms): interval_ms."),
	KEY_INT("probe", "timeout_ms", probe_timeout_ms, 10, 600000, 1000,
		"Total time allowed for one probe."),
	KEY_INT("probe", "connect_timeout_ms", probe_connect_timeout_ms, 10, 600000, 500,
		"Time allowed for connecting to nova-api."),
	KEY_INT("probe", "rise", probe_rise, 1, 1000, 2,
		"Successful probes in a row before the node counts as healthy."),
	KEY_INT("probe", "fall", probe_fall, 1, 1000, 3,
		"Failed probes in a row before the node counts as unhealthy."),
	KEY_INT("probe", "dead_after_ms", probe_dead_after_ms, 0, 86400000, 60000,
		"A healthy node whose nova-api still accepts connections but answers later than "
		"timeout_ms is slow, not failed: its weight drops to 50 %, then 25 %, then 10 % over "
		"the three thirds of this time, and it goes down only once it has been slow for this "
		"long (and never before fall probes). The default outlasts a 30-second slowdown of "
		"every node with room to spare: a load spike must not empty the backend. Refused or "
		"reset connections, connect timeouts, 5xx and wrong documents still count toward fall. "
		"0: a slow probe is a failure like any other."),
	KEY_INT("probe", "slow_timeout_ms", probe_slow_timeout_ms, 10, 600000, 5000,
		"How long the probe of a healthy node may wait for its answer past timeout_ms, to "
		"measure how slow the node is (\"nova-api: slow: 1.2 s\"); the next probe starts when "
		"it ends, one at a time. Values below timeout_ms mean timeout_ms."),
	KEY_INT("probe", "max_body_bytes", probe_max_body_bytes, 256, 16777216, 65536,
		"Largest version document accepted; a larger body is a failed probe."),
	KEY_ENUM("probe", "on_failure", probe_on_failure, fail_actions, 0,
		 "What an unhealthy node replies: \"down\" (HAProxy marks it DOWN), \"drain\" "
		 "(no new sessions) or \"zero\" (weight 0%)."),
	KEY_STR("probe", "healthcheck_url", probe_healthcheck_url, "",
		"Optional oslo healthcheck URL (nova's /healthcheck); when it answers that it is disabled "
		"by file the node is drained. Empty: not probed."),
	KEY_STR("probe", "ca_file", probe_ca_file, "", "CA bundle for https probes; empty: system default."),
	KEY_STR("probe", "client_cert", probe_client_cert, "", "Client certificate (PEM) for https probes."),
	KEY_STR("probe", "client_key", probe_client_key, "", "Client key (PEM) for https probes."),
	KEY_BOOL("probe", "verify", probe_verify, 1, "Verify the server certificate of https probes."),
	KEY_LIST("probe", "headers", probe_headers, NULL,
		 "Extra request headers, each \"Name: value\"."),
	KEY_INTLIST("drain", "ports", drain_ports, 1, 65535, 8774,
		    "Local TCP ports of the API whose established connections are counted (through the "
		    "kernel's sock_diag) to tell when the node is drained; empty: drain detection off."),
	KEY_LIST("drain", "from", drain_from, NULL,
		 "Count only connections from these addresses (the load balancers); empty: all."),
	KEY_LIST("drain", "local", drain_local, NULL,
		 "Count only connections to these local addresses (the API's own), for hosts where "
		 "several APIs share the port on different addresses; empty: any."),
	KEY_INT("drain", "settle_ms", drain_settle_ms, 0, 3600000, 5000,
		"The node is drained once a maintenance flag is set and no connection has been seen "
		"for this long (HAProxy may close kept-alive server connections a few seconds late)."),
	KEY_INT("drain", "interval_ms", drain_interval_ms, 100, 600000, 1000,
		"Time between two counts of connections."),
	KEY_INT("drain", "report_interval_ms", drain_report_interval_ms, 0, 600000, 1000,
		"How far apart counts come where they only report: once the node is drained (no "
		"connection for settle_ms under the flag), counts come this far apart instead of "
		"interval_ms, until one sees a connection again; out of maintenance, a status request "
		"answers with the last count if it is younger than this, else counts first. Each count "
		"walks every TCP socket hash bucket of the host in the kernel (about 4 ms with 262,144 "
		"buckets, however few connections there are). 0 (or not longer than interval_ms): "
		"interval_ms."),
	KEY_INT("drain", "idle_ms", drain_idle_ms, 0, 3600000, 0,
		"When above 0, a connection with no data either way for this long and empty queues is "
		"idle (kept by the load balancer for reuse) and does not hold the drain; 0: every "
		"connection counts."),
	KEY_INT("slowstart", "duration_ms", slowstart_ms, 0, 3600000, 0,
		"After the node becomes healthy or leaves maintenance, ramp the weight linearly from "
		"start_percent to the full weight over this time; 0 disables slow start."),
	KEY_INT("slowstart", "start_percent", slowstart_start_pct, 0, 100, 10,
		"Weight percentage at the start of the slow start ramp."),
	KEY_LIST("etcd", "endpoints", etcd_endpoints, NULL,
		 "etcd v3 endpoints (\"http://host:2379\" or https://), tried in turn. Empty: etcd is not used "
		 "and the flag file is the only flag source. With endpoints, the agent watches "
		 "PREFIX/maintenance/nodes/NODE and PREFIX/maintenance/all and publishes its state at "
		 "PREFIX/agents/NODE; the local flag file still wins over etcd."),
	KEY_STR("etcd", "prefix", etcd_prefix, "/zdu",
		"Prefix of every key zdu-agent and zdu-coordinator use in etcd."),
	KEY_STR("etcd", "node", etcd_node, "",
		"This node's name in the keys; empty: the host name. It must match the node's name in "
		"the coordinator's plan."),
	KEY_INT("etcd", "timeout_ms", etcd_timeout_ms, 100, 600000, 2000,
		"Time allowed for one etcd request, connecting included; an endpoint that does not "
		"answer in time is left for the next."),
	KEY_INT("etcd", "lease_ttl_s", etcd_lease_ttl_s, 2, 3600, 10,
		"TTL of the lease under which the agent publishes its state: a dead agent's state "
		"disappears this long after its last keepalive."),
	KEY_INT("etcd", "publish_interval_ms", etcd_publish_interval_ms, 100, 600000, 1000,
		"How often the published state is compared and written when it changed (a reply change "
		"is written at once)."),
	KEY_INT("etcd", "backoff_max_ms", etcd_backoff_max_ms, 100, 600000, 2000,
		"Longest wait between two attempts to reach etcd again (the wait starts at 100 ms and "
		"doubles)."),
	KEY_INT("etcd", "watch_check_ms", etcd_watch_check_ms, 0, 600000, 3000,
		"How often the watched keys are read from the member the watches use, to find a member "
		"that hangs or was cut off from its cluster (a watch there stays open and silent): one "
		"that does not answer in timeout_ms, or missed a change, is left for another. 0: never."),
	KEY_STR("etcd", "cache_file", etcd_cache_file, "",
		"Where the last flags read from etcd are kept, so a restart while etcd is down keeps "
		"them; empty: etcd.cache in the directory of flag.file."),
	KEY_STR("etcd", "ca_file", etcd_ca_file, "", "CA bundle verifying https:// endpoints."),
	KEY_STR("etcd", "cert_file", etcd_cert_file, "", "Client certificate for https:// endpoints."),
	KEY_STR("etcd", "key_file", etcd_key_file, "", "Client key for https:// endpoints."),
	KEY_STR("etcd", "user", etcd_user, "",
		"etcd user (with password or password_file): etcd authentication is used."),
	KEY_STR("etcd", "password", etcd_password, "",
		"The etcd user's password; prefer password_file, which keeps it out of this file."),
	KEY_STR("etcd", "password_file", etcd_password_file, "",
		"File whose first line is the etcd user's password, read by the daemon at start and reload. "
		"Keep it mode 0600 for the daemon's user: the command line reads it only to write etcd "
		"itself (daemon stopped, --all); operators in control.group go through the daemon."),
	KEY_BOOL("etcd", "allow_plaintext_password", etcd_allow_plaintext_password, 0,
		 "With etcd.user and an http:// endpoint, the password and the tokens etcd issues for it "
		 "cross the network unencrypted, and anyone who can read that traffic can rewrite the "
		 "flags the coordinator trusts: zdu-agent --check-config and the daemon's log at start "
		 "and reload warn. Set this to true to say that this is on purpose (a trusted network, "
		 "a loopback endpoint); use https:// endpoints otherwise."),
	KEY_INT("guard", "min_up_percent", guard_min_up_percent, 0, 100, 50,
		"With etcd: the fleet guard. A node slow for probe.dead_after_ms would go down; first it "
		"reads the state its peers (the agents of the same service under etcd.prefix) publish, "
		"and if going down would leave fewer than this share of the service's nodes (the peers "
		"and itself) up, it stays up at the lowest slow weight (\"kept up: 2 of 3 nodes already "
		"down\"), asks again at every probe, and goes down as soon as enough others are up. "
		"Peers down, in maintenance (drain, maint), at weight 0, not probed yet or unreadable "
		"count as not up. If etcd cannot be read, a slow node stays up (\"kept up: peers "
		"unknown (etcd unreachable)\"). Failures (refused, 5xx, wrong document) never ask: "
		"they take the node down after probe.fall as always. 50 is Envoy's panic threshold; "
		"0: the guard is off; 100: slowness alone never takes a node down."),
	KEY_STR("metrics", "textfile_dir", metrics_textfile_dir, "",
		"Directory of node_exporter's textfile collector (its --collector.textfile.directory): "
		"the agent writes its metrics there as zdu_agent.prom, atomically (a temporary dot file "
		"renamed), in the thread pool, when its state changes and every "
		"metrics.textfile_interval_ms. Empty: no textfile."),
	KEY_INT("metrics", "textfile_interval_ms", metrics_textfile_interval_ms, 1000, 3600000, 15000,
		"How often the textfile is rewritten besides on every change (counters and ages move)."),
	KEY_STR("metrics", "listen", metrics_listen, "",
		"Address of an HTTP endpoint serving GET /metrics in Prometheus's text format, as "
		"\"host:port\" or \"[ipv6]:port\", served on the agent's loop (libmicrohttpd). "
		"Empty: none. Anyone who can connect reads the node's state: bind it to the address "
		"Prometheus scrapes from."),
	KEY_INT("metrics", "max_clients", metrics_max_clients, 1, 1024, 8,
		"Most HTTP clients of metrics.listen served at once; more are refused."),
	KEY_INT("metrics", "timeout_ms", metrics_timeout_ms, 1000, 600000, 5000,
		"An HTTP client of metrics.listen idle this long (a request that never ends) is "
		"disconnected; rounded up to whole seconds."),
	KEY_INT("metrics", "max_request_bytes", metrics_max_request_bytes, 2048, 1048576, 8192,
		"Memory for one HTTP connection's request line and headers; a larger request is "
		"refused (431) or disconnected."),
};

#define SOFF(field) offsetof(struct zdu_service_cfg, field)
#define SKEY(n, t, f) .group = "", .name = n, .type = t, .offset = SOFF(f)
#define SKEY_INT(n, f, lo, hi, d, text) { SKEY(n, ZDU_CT_INT, f), .min = lo, .max = hi, .def_int = d, .doc = text }
#define SKEY_STR(n, f, d, text) { SKEY(n, ZDU_CT_STRING, f), .def_str = d, .doc = text }

static const struct zdu_config_key service_keys[] = {
	{ SKEY("name", ZDU_CT_STRING, name), .flags = ZDU_KEY_REQUIRED | ZDU_KEY_NONEMPTY,
	  .doc = "The service's name: what HAProxy sends with agent-send \"NAME\\n\", and what "
		 "--service, the flag keys in etcd and the status call it. 1 to 63 of A-Z a-z 0-9 . _ -; "
		 "unique." },
	{ SKEY("listen", ZDU_CT_STRLIST, listen), .example = "[ \"127.0.0.1:9778\" ]",
	  .doc = "Agent-check addresses of this service's own, answered on accept with its reply, for "
		 "sites that give each backend its own agent port; empty: only agent.listen, by name." },
	SKEY_STR("flag_file", flag_file, "",
		 "This service's maintenance flag file (same format as flag.file); it drains this service "
		 "only. Empty: flag.file with \".NAME\" appended, in the same directory."),
	{ SKEY("probe_enabled", ZDU_CT_BOOL, probe_enabled), .max = 1, .def_int = 1,
	  .doc = "Probe this service's API; disabled, it is assumed healthy." },
	{ SKEY("probe", ZDU_CT_ENUM, probe_kind), .choices = probe_kinds, .def_int = 0,
	  .doc = "How the API is probed. \"nova\": nova's version document (url GET /v2.1/). "
		 "\"microversion\": any OpenStack version document, its maximum at version_path and/or in "
		 "the header version_header (placement /, cinder /v3/, manila /v2/, ironic /v1/). "
		 "\"healthcheck\": oslo.middleware's /healthcheck: 200 is up, 503 down with its reason, a "
		 "503 saying DISABLED BY FILE drains this service as its own maintenance. \"http\": a status "
		 "in expect_status is up. \"tcp\": a connect to url \"tcp://HOST:PORT\" is up." },
	SKEY_STR("url", url, "",
		 "What is probed: an http:// or https:// URL, or tcp://HOST:PORT for probe \"tcp\". Required."),
	SKEY_STR("version_path", version_path, "",
		 "probe \"microversion\": where the maximum version is in the document, as keys and [index] "
		 "separated by dots: \"versions[0].max_version\" (placement), \"versions[0].version\" "
		 "(cinder, manila), \"version.version\" (nova), \"default_version.version\" (ironic's /; its "
		 "/v1/ has its maximum in a header only). Where \"versions\" lists several, "
		 "the one with status CURRENT is read whatever its index."),
	SKEY_STR("min_version_path", min_version_path, "",
		 "probe \"microversion\": where the minimum version is, in the same form; empty: not read."),
	SKEY_STR("version_header", version_header, "",
		 "probe \"microversion\": a response header giving the maximum version "
		 "(\"X-OpenStack-Ironic-API-Maximum-Version\"); it wins over version_path."),
	SKEY_STR("healthcheck_url", healthcheck_url, "",
		 "probe \"nova\" or \"microversion\": oslo's healthcheck beside the document; when it "
		 "answers DISABLED BY FILE the service is drained. Empty: not probed."),
	{ SKEY("expect_status", ZDU_CT_INTLIST, expect_status), .min = 100, .max = 599, .def_int = 200,
	  .example = "[ 200, 300 ]", .doc = "probe \"http\": the HTTP statuses that mean up." },
	SKEY_INT("interval_ms", interval_ms, 100, 3600000, 2000, "As probe.interval_ms, for this service."),
	SKEY_INT("rise_interval_ms", rise_interval_ms, 0, 3600000, 0, "As probe.rise_interval_ms, for this service."),
	SKEY_INT("maintenance_interval_ms", maintenance_interval_ms, 0, 3600000, 0,
		 "As probe.maintenance_interval_ms, for this service (its own flag or the node's)."),
	SKEY_INT("timeout_ms", timeout_ms, 10, 600000, 1000, "As probe.timeout_ms, for this service."),
	SKEY_INT("connect_timeout_ms", connect_timeout_ms, 10, 600000, 500,
		 "As probe.connect_timeout_ms, for this service."),
	SKEY_INT("rise", rise, 1, 1000, 2, "As probe.rise, for this service."),
	SKEY_INT("fall", fall, 1, 1000, 3, "As probe.fall, for this service."),
	SKEY_INT("dead_after_ms", dead_after_ms, 0, 86400000, 60000, "As probe.dead_after_ms, for this service."),
	SKEY_INT("slow_timeout_ms", slow_timeout_ms, 10, 600000, 5000,
		 "As probe.slow_timeout_ms, for this service."),
	{ SKEY("on_failure", ZDU_CT_ENUM, on_failure), .choices = fail_actions, .def_int = 0,
	  .doc = "As probe.on_failure, for this service." },
	{ SKEY("headers", ZDU_CT_STRLIST, headers), .doc = "As probe.headers, for this service." },
	{ SKEY("drain_ports", ZDU_CT_INTLIST, drain_ports), .min = 1, .max = 65535, .def_int = 0,
	  .example = "[ 8778 ]",
	  .doc = "The API's local TCP ports whose connections are counted to tell when this service is "
		 "drained (drain.from, drain.local, settle_ms and idle_ms apply); empty: not counted." },
	SKEY_INT("slowstart_ms", slowstart_ms, 0, 3600000, 0, "As slowstart.duration_ms, for this service."),
	SKEY_INT("slowstart_start_percent", slowstart_start_pct, 0, 100, 10,
		 "As slowstart.start_percent, for this service."),
	SKEY_INT("weight", weight, 1, 100, 100, "As agent.weight, for this service."),
};

static const struct zdu_keytab_group groups[] = {
	{ .name = "services", .example = "( { name = \"placement\"; probe = \"microversion\"; ... } )",
	  .flags = ZDU_KEY_NONEMPTY,
	  .doc = "A list of groups, optional: the API services this agent answers for, by the name "
		 "HAProxy sends (agent-send). The first is the default, answered to a connection that "
		 "names none. Without it the agent serves one service, \"nova-api\", from the probe, "
		 "drain and slowstart groups. probe.ca_file, client_cert, client_key, verify, "
		 "max_body_bytes and drain.from, local, settle_ms, interval_ms, idle_ms apply to every "
		 "service.",
	  .keys = service_keys, .nkeys = ZDU_ARRAY_SIZE(service_keys), .elem_size = sizeof(struct zdu_service_cfg),
	  .offset = OFF(services), .count_offset = OFF(nservices) },
};

static const struct zdu_keytab tab = { keys, ZDU_ARRAY_SIZE(keys), groups, ZDU_ARRAY_SIZE(groups) };

const struct zdu_config_key *zdu_config_keys(size_t *n)
{
	*n = ZDU_ARRAY_SIZE(keys);
	return keys;
}

int64_t zdu_config_etcd_answer_ms(const struct zdu_config *cfg)
{
	int64_t n = cfg->etcd_endpoints.n ? (int64_t)cfg->etcd_endpoints.n : 1;

	return 4 * n * cfg->etcd_timeout_ms;
}

void zdu_config_etcd_conf(const struct zdu_config *cfg, struct zdu_etcd_conf *ec)
{
	memset(ec, 0, sizeof(*ec));
	ec->endpoints = cfg->etcd_endpoints.v;
	ec->nendpoints = cfg->etcd_endpoints.n;
	ec->ca_file = cfg->etcd_ca_file;
	ec->cert_file = cfg->etcd_cert_file;
	ec->key_file = cfg->etcd_key_file;
	ec->user = cfg->etcd_user;
	ec->password = cfg->etcd_password;
	ec->timeout_ms = cfg->etcd_timeout_ms;
}

int zdu_config_etcd_plaintext(const struct zdu_config *cfg, char *msg, size_t size)
{
	const char *first = NULL;
	size_t i, nplain = 0;

	if (!cfg->etcd_user[0] || !(cfg->etcd_password[0] || cfg->etcd_password_file[0]) ||
	    cfg->etcd_allow_plaintext_password)
		return 0;
	for (i = 0; i < cfg->etcd_endpoints.n; i++)
		if (strncmp(cfg->etcd_endpoints.v[i], "http://", 7) == 0 && nplain++ == 0)
			first = cfg->etcd_endpoints.v[i];
	if (!nplain)
		return 0;
	if (nplain == 1)
		snprintf(msg, size,
			 "etcd.user \"%.64s\": its password and tokens go unencrypted to %.120s: use https:// "
			 "endpoints, or set etcd.allow_plaintext_password = true if that network is trusted",
			 cfg->etcd_user, first);
	else
		snprintf(msg, size,
			 "etcd.user \"%.64s\": its password and tokens go unencrypted to %.120s and %zu more "
			 "http:// endpoint%s: use https:// endpoints, or set etcd.allow_plaintext_password = true "
			 "if that network is trusted",
			 cfg->etcd_user, first, nplain - 1, nplain == 2 ? "" : "s");
	return 1;
}

const char *zdu_probe_kind_name(int kind)
{
	if (kind < 0 || kind >= (int)ZDU_ARRAY_SIZE(probe_kinds) - 1)
		return "?";
	return probe_kinds[kind];
}

const char *zdu_fail_action_name(int action)
{
	if (action < 0 || action > 2)
		return "?";
	return fail_actions[action];
}

void zdu_config_free(struct zdu_config *cfg)
{
	zdu_keytab_free(&tab, cfg);
	free(cfg->path);
	free(cfg->etcd_password_file_at);
	memset(cfg, 0, sizeof(*cfg));
}

const struct zdu_keytab *zdu_config_keytab(void)
{
	return &tab;
}

static int service_default(struct zdu_config *cfg);
static int str_set(char **dst, const char *src);

/* The keys' defaults, services not yet made (the file may list them). */
static enum zdu_err defaults_keys(struct zdu_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	if (zdu_keytab_defaults(&tab, cfg) == ZDU_OK)
		return ZDU_OK;
	zdu_config_free(cfg);
	return ZDU_ERR_NOMEM;
}

enum zdu_err zdu_config_defaults(struct zdu_config *cfg)
{
	if (defaults_keys(cfg) != ZDU_OK)
		return ZDU_ERR_NOMEM;
	if (service_default(cfg) == 0 && str_set(&cfg->services[0].flag_file, "") == 0)
		return ZDU_OK;
	zdu_config_free(cfg);
	return ZDU_ERR_NOMEM;
}

struct loader {
	struct zdu_keyload kl; /* name, err, err_size */
	struct zdu_config *cfg;
	unsigned flags; /* ZDU_CONFIG_* */
};

static enum zdu_err check_etcd(struct loader *ld, config_t *lc)
{
	struct zdu_config *cfg = ld->cfg;
	size_t i, n;
	const char *p;

	for (i = 0; i < cfg->etcd_endpoints.n; i++) {
		const char *ep = cfg->etcd_endpoints.v[i];

		n = strlen(ep);
		if ((strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0) || ep[n - 1] == '/')
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, config_lookup(lc, "etcd.endpoints"),
				    "etcd.endpoints: \"%.120s\" is not http://host:port or https://host:port", ep);
	}
	p = cfg->etcd_prefix;
	if (p[0] != '/' || (strlen(p) > 1 && p[strlen(p) - 1] == '/'))
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, config_lookup(lc, "etcd.prefix"),
			    "etcd.prefix: \"%.120s\" must start with / and not end with /", p);
	for (p = cfg->etcd_node; *p; p++)
		if (*p == '/' || (unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, config_lookup(lc, "etcd.node"),
				    "etcd.node: \"%.80s\" must be printable, without '/' or spaces", cfg->etcd_node);
	if (cfg->etcd_password_file[0]) {
		const config_setting_t *s = config_lookup(lc, "etcd.password_file");
		const char *file = s ? config_setting_source_file(s) : NULL;

		if (cfg->etcd_password[0])
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, s, "etcd.password_file: given with etcd.password; keep one");
		if (!cfg->etcd_user[0])
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, s, "etcd.password_file: given without etcd.user");
		if (asprintf(&cfg->etcd_password_file_at, "%s:%d", file ? file : ld->kl.name,
			     s ? (int)config_setting_source_line(s) : 0) < 0) {
			cfg->etcd_password_file_at = NULL;
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_NOMEM, NULL, "out of memory");
		}
		/* Read now unless the caller reads it when it needs it: the
		 * error is then the same, FILE:LINE included. */
		cfg->etcd_password_unread = 1;
		if (!(ld->flags & ZDU_CONFIG_SECRET_LATER) &&
		    zdu_config_read_secret(cfg, ld->kl.err, ld->kl.err_size) != ZDU_OK)
			return errno == ENOMEM ? ZDU_ERR_NOMEM : ZDU_ERR_IO;
	}
	if ((cfg->etcd_password[0]) && !cfg->etcd_user[0])
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, config_lookup(lc, "etcd.password"),
			    "etcd.password: given without etcd.user");
	if (cfg->etcd_key_file[0] && !cfg->etcd_cert_file[0])
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, config_lookup(lc, "etcd.key_file"),
			    "etcd.key_file: given without etcd.cert_file");
	/* Derived defaults only matter with etcd (and a test of the key
	 * table reads every default back unchanged). */
	if (cfg->etcd_endpoints.n == 0)
		return cfg->etcd_password ? ZDU_OK : zdu_keytab_fail(&ld->kl, ZDU_ERR_NOMEM, NULL, "out of memory");
	if (!cfg->etcd_node[0]) {
		char host[256] = "";

		if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_IO, config_lookup(lc, "etcd.node"),
				    "etcd.node: empty and the host name cannot be read");
		free(cfg->etcd_node);
		cfg->etcd_node = strdup(host);
	}
	if (!cfg->etcd_cache_file[0]) {
		const char *slash = strrchr(cfg->flag_file, '/');
		char *c = NULL;

		if (asprintf(&c, "%.*s/etcd.cache", (int)(slash - cfg->flag_file), cfg->flag_file) < 0)
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_NOMEM, NULL, "out of memory");
		free(cfg->etcd_cache_file);
		cfg->etcd_cache_file = c;
	} else if (cfg->etcd_cache_file[0] != '/') {
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, config_lookup(lc, "etcd.cache_file"),
			    "etcd.cache_file: \"%.200s\" must be an absolute path", cfg->etcd_cache_file);
	}
	if (!cfg->etcd_node || !cfg->etcd_password)
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_NOMEM, NULL, "out of memory");
	return ZDU_OK;
}

/* Checks that need more than a type and a range. */
static enum zdu_err check_values(struct loader *ld, config_t *lc)
{
	struct zdu_config *cfg = ld->cfg;
	const config_setting_t *s;
	struct sockaddr_storage ss;
	size_t i;
	char *end;
	long mode;

	s = config_lookup(lc, "agent.listen");
	if (cfg->listen.n == 0)
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, s, "agent.listen: at least one address is needed");
	for (i = 0; i < cfg->listen.n; i++)
		if (zdu_parse_hostport(cfg->listen.v[i], &ss) < 0)
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, s,
				    "agent.listen: \"%.80s\" is not host:port, [ipv6]:port or *:port",
				    cfg->listen.v[i]);

	s = config_lookup(lc, "flag.file");
	if (cfg->flag_file[0] != '/' || cfg->flag_file[strlen(cfg->flag_file) - 1] == '/')
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, s, "flag.file: \"%.200s\" must be an absolute file path",
			    cfg->flag_file);

	s = config_lookup(lc, "control.socket");
	if (cfg->control_socket[0] != '/' || strlen(cfg->control_socket) >= 108)
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, s,
			    "control.socket: \"%.200s\" must be an absolute path under 108 bytes",
			    cfg->control_socket);
	s = config_lookup(lc, "control.mode");
	errno = 0;
	mode = strtol(cfg->control_mode, &end, 8);
	if (errno || *end || end == cfg->control_mode || mode < 0 || mode > 0777)
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, s, "control.mode: \"%.32s\" is not an octal mode like \"0660\"",
			    cfg->control_mode);

	s = config_lookup(lc, "probe.url");
	if (strncmp(cfg->probe_url, "http://", 7) != 0 && strncmp(cfg->probe_url, "https://", 8) != 0)
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, s, "probe.url: \"%.200s\" must start with http:// or https://",
			    cfg->probe_url);
	s = config_lookup(lc, "probe.healthcheck_url");
	if (cfg->probe_healthcheck_url[0] && strncmp(cfg->probe_healthcheck_url, "http://", 7) != 0 &&
	    strncmp(cfg->probe_healthcheck_url, "https://", 8) != 0)
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, s,
			    "probe.healthcheck_url: \"%.200s\" must start with http:// or https://",
			    cfg->probe_healthcheck_url);
	s = config_lookup(lc, "probe.headers");
	for (i = 0; i < cfg->probe_headers.n; i++) {
		const char *h = cfg->probe_headers.v[i];
		const char *c = strchr(h, ':');

		if (!c || c == h || strpbrk(h, "\r\n"))
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, s, "probe.headers: \"%.80s\" is not \"Name: value\"", h);
	}
	if (cfg->probe_timeout_ms > cfg->probe_interval_ms)
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE,
			    config_lookup(lc, "probe.timeout_ms") ? config_lookup(lc, "probe.timeout_ms")
								  : config_lookup(lc, "probe.interval_ms"),
			    "probe.timeout_ms: %d is longer than probe.interval_ms (%d)", cfg->probe_timeout_ms,
			    cfg->probe_interval_ms);
	if (cfg->drain_ports.n > ZDU_SOCKDIAG_MAX_PORTS)
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, config_lookup(lc, "drain.ports"),
			    "drain.ports: at most %d ports", ZDU_SOCKDIAG_MAX_PORTS);
	if (cfg->drain_from.n > ZDU_SOCKDIAG_MAX_FROM)
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, config_lookup(lc, "drain.from"),
			    "drain.from: at most %d addresses", ZDU_SOCKDIAG_MAX_FROM);
	for (i = 0; i < cfg->drain_from.n; i++) {
		struct in6_addr a;

		if (zdu_sockdiag_addr(cfg->drain_from.v[i], &a) < 0)
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, config_lookup(lc, "drain.from"),
				    "drain.from: \"%.80s\" is not an IPv4 or IPv6 address", cfg->drain_from.v[i]);
	}
	if (cfg->drain_local.n > ZDU_SOCKDIAG_MAX_FROM)
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, config_lookup(lc, "drain.local"),
			    "drain.local: at most %d addresses", ZDU_SOCKDIAG_MAX_FROM);
	for (i = 0; i < cfg->drain_local.n; i++) {
		struct in6_addr a;

		if (zdu_sockdiag_addr(cfg->drain_local.v[i], &a) < 0)
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, config_lookup(lc, "drain.local"),
				    "drain.local: \"%.80s\" is not an IPv4 or IPv6 address", cfg->drain_local.v[i]);
	}
	if (cfg->probe_client_key[0] && !cfg->probe_client_cert[0])
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, config_lookup(lc, "probe.client_key"),
			    "probe.client_key: given without probe.client_cert");
	return check_etcd(ld, lc);
}

static int strlist_dup(struct zdu_strlist *dst, const struct zdu_strlist *src)
{
	size_t i;

	dst->n = 0;
	if (!src->n)
		return 0;
	if (!(dst->v = calloc(src->n, sizeof(*dst->v))))
		return -1;
	for (i = 0; i < src->n; i++, dst->n++)
		if (!(dst->v[i] = strdup(src->v[i])))
			return -1;
	return 0;
}

static int intlist_dup(struct zdu_intlist *dst, const struct zdu_intlist *src)
{
	dst->n = 0;
	if (!src->n)
		return 0;
	if (!(dst->v = malloc(src->n * sizeof(*dst->v))))
		return -1;
	memcpy(dst->v, src->v, src->n * sizeof(*dst->v));
	dst->n = src->n;
	return 0;
}

static int str_set(char **dst, const char *src)
{
	char *c = strdup(src);

	if (!c)
		return -1;
	free(*dst);
	*dst = c;
	return 0;
}

static const struct zdu_keytab service_tab = { service_keys, ZDU_ARRAY_SIZE(service_keys), NULL, 0 };

/* No services list: the one service every older file meant, nova-api,
 * from the probe, drain, slowstart and agent groups. */
static int service_default(struct zdu_config *cfg)
{
	struct zdu_service_cfg *sv;

	if (!(cfg->services = calloc(1, sizeof(*cfg->services))))
		return -1;
	cfg->nservices = 1;
	sv = &cfg->services[0];
	if (zdu_keytab_defaults(&service_tab, sv) != ZDU_OK)
		return -1;
	if (str_set(&sv->name, "nova-api") < 0 || str_set(&sv->url, cfg->probe_url) < 0 ||
	    str_set(&sv->healthcheck_url, cfg->probe_healthcheck_url) < 0)
		return -1;
	if (strlist_dup(&sv->headers, &cfg->probe_headers) < 0 || intlist_dup(&sv->drain_ports, &cfg->drain_ports) < 0)
		return -1;
	sv->probe_enabled = cfg->probe_enabled;
	sv->probe_kind = ZDU_PROBE_KIND_NOVA;
	sv->interval_ms = cfg->probe_interval_ms;
	sv->rise_interval_ms = cfg->probe_rise_interval_ms;
	sv->maintenance_interval_ms = cfg->probe_maintenance_interval_ms;
	sv->timeout_ms = cfg->probe_timeout_ms;
	sv->connect_timeout_ms = cfg->probe_connect_timeout_ms;
	sv->rise = cfg->probe_rise;
	sv->fall = cfg->probe_fall;
	sv->dead_after_ms = cfg->probe_dead_after_ms;
	sv->slow_timeout_ms = cfg->probe_slow_timeout_ms;
	sv->on_failure = cfg->probe_on_failure;
	sv->slowstart_ms = cfg->slowstart_ms;
	sv->slowstart_start_pct = cfg->slowstart_start_pct;
	sv->weight = cfg->weight;
	return 0;
}

int zdu_service_name_valid(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || len >= ZDU_SERVICE_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!(isalnum(c) || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

static int url_is_http(const char *u)
{
	return strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0;
}

/* One entry of services: what the table cannot check. */
static enum zdu_err check_service(struct loader *ld, config_t *lc, size_t i)
{
	struct zdu_config *cfg = ld->cfg;
	struct zdu_service_cfg *sv = &cfg->services[i];
	const config_setting_t *list = config_lookup(lc, "services");
	const config_setting_t *e = list ? config_setting_get_elem(list, (unsigned)i) : NULL;
	const config_setting_t *s;
	struct sockaddr_storage ss;
	size_t j;

#define AT(key) ((e && (s = config_setting_get_member(e, key))) ? s : e)
	if (!zdu_service_name_valid(sv->name, strlen(sv->name)))
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, AT("name"),
			    "services[%zu].name: \"%.80s\" must be 1 to 63 of A-Z a-z 0-9 . _ -", i, sv->name);
	for (j = 0; j < i; j++)
		if (strcmp(cfg->services[j].name, sv->name) == 0)
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, AT("name"),
				    "services[%zu].name: \"%s\" is already the name of services[%zu]", i, sv->name, j);
	if (!sv->url[0])
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, e, "services[%zu].url: missing (service %s)", i, sv->name);
	if (sv->probe_kind == ZDU_PROBE_KIND_TCP) {
		if (strncmp(sv->url, "tcp://", 6) != 0 || zdu_parse_hostport(sv->url + 6, &ss) < 0)
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, AT("url"),
				    "services[%zu].url: \"%.200s\" is not tcp://HOST:PORT (service %s)", i, sv->url, sv->name);
	} else if (!url_is_http(sv->url)) {
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, AT("url"),
			    "services[%zu].url: \"%.200s\" must start with http:// or https:// (service %s)", i, sv->url,
			    sv->name);
	}
	if (sv->probe_kind == ZDU_PROBE_KIND_MICROVERSION && !sv->version_path[0] && !sv->version_header[0])
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, e,
			    "services[%zu]: probe \"microversion\" needs version_path or version_header (service %s)",
			    i, sv->name);
	if (sv->probe_kind != ZDU_PROBE_KIND_MICROVERSION &&
	    (sv->version_path[0] || sv->min_version_path[0] || sv->version_header[0]))
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, AT(sv->version_path[0] ? "version_path" :
								 sv->min_version_path[0] ? "min_version_path" : "version_header"),
			    "services[%zu]: version_path, min_version_path and version_header are for probe "
			    "\"microversion\" only (service %s)", i, sv->name);
	if (sv->healthcheck_url[0] && (!url_is_http(sv->healthcheck_url) ||
				       (sv->probe_kind != ZDU_PROBE_KIND_NOVA && sv->probe_kind != ZDU_PROBE_KIND_MICROVERSION)))
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, AT("healthcheck_url"),
			    "services[%zu].healthcheck_url: \"%.200s\" must be http(s):// and goes with probe "
			    "\"nova\" or \"microversion\" (service %s)", i, sv->healthcheck_url, sv->name);
	for (j = 0; j < sv->headers.n; j++) {
		const char *h = sv->headers.v[j];
		const char *c = strchr(h, ':');

		if (!c || c == h || strpbrk(h, "\r\n"))
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, AT("headers"),
				    "services[%zu].headers: \"%.80s\" is not \"Name: value\" (service %s)", i, h, sv->name);
	}
	if (sv->version_header[0] && strpbrk(sv->version_header, ": \r\n"))
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, AT("version_header"),
			    "services[%zu].version_header: \"%.80s\" is not a header name (service %s)", i,
			    sv->version_header, sv->name);
	if (sv->timeout_ms > sv->interval_ms)
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, AT("timeout_ms"),
			    "services[%zu].timeout_ms: %d is longer than interval_ms (%d) (service %s)", i,
			    sv->timeout_ms, sv->interval_ms, sv->name);
	if (sv->drain_ports.n > ZDU_SOCKDIAG_MAX_PORTS)
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, AT("drain_ports"),
			    "services[%zu].drain_ports: at most %d ports (service %s)", i, ZDU_SOCKDIAG_MAX_PORTS, sv->name);
	for (j = 0; j < sv->listen.n; j++)
		if (zdu_parse_hostport(sv->listen.v[j], &ss) < 0)
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_PARSE, AT("listen"),
				    "services[%zu].listen: \"%.80s\" is not host:port, [ipv6]:port or *:port (service %s)",
				    i, sv->listen.v[j], sv->name);
	if (sv->flag_file[0] && (sv->flag_file[0] != '/' || sv->flag_file[strlen(sv->flag_file) - 1] == '/'))
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, AT("flag_file"),
			    "services[%zu].flag_file: \"%.200s\" must be an absolute file path (service %s)", i,
			    sv->flag_file, sv->name);
#undef AT
	if (!sv->flag_file[0]) {
		char *f = NULL;

		if (asprintf(&f, "%s.%s", cfg->flag_file, sv->name) < 0)
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_NOMEM, NULL, "out of memory");
		free(sv->flag_file);
		sv->flag_file = f;
	} else if (strcmp(sv->flag_file, cfg->flag_file) == 0) {
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, e,
			    "services[%zu].flag_file: \"%.200s\" is flag.file, the node's flag (service %s)", i,
			    sv->flag_file, sv->name);
	}
	return ZDU_OK;
}

static enum zdu_err check_services(struct loader *ld, config_t *lc)
{
	struct zdu_config *cfg = ld->cfg;
	enum zdu_err rc;
	size_t i;

	if (cfg->nservices > ZDU_SERVICES_MAX)
		return zdu_keytab_fail(&ld->kl, ZDU_ERR_RANGE, config_lookup(lc, "services"),
			    "services: at most %d services", ZDU_SERVICES_MAX);
	cfg->services_listed = cfg->nservices > 0;
	if (!cfg->services_listed) {
		if (service_default(cfg) < 0)
			return zdu_keytab_fail(&ld->kl, ZDU_ERR_NOMEM, NULL, "out of memory");
		/* the default service's flag is the node's: no file of its own */
		return str_set(&cfg->services[0].flag_file, "") < 0
			       ? zdu_keytab_fail(&ld->kl, ZDU_ERR_NOMEM, NULL, "out of memory") : ZDU_OK;
	}
	for (i = 0; i < cfg->nservices; i++)
		if ((rc = check_service(ld, lc, i)) != ZDU_OK)
			return rc;
	return ZDU_OK;
}

static enum zdu_err load(struct loader *ld, config_t *lc)
{
	enum zdu_err err = zdu_keytab_load(&ld->kl, &tab, config_root_setting(lc), ld->cfg);

	if (err == ZDU_OK)
		err = check_values(ld, lc);
	return err != ZDU_OK ? err : check_services(ld, lc);
}

static enum zdu_err load_common(config_t *lc, const char *name, unsigned flags, struct zdu_config *cfg,
				char *err, size_t err_size)
{
	struct loader ld = { { name, err, err_size }, cfg, flags };
	enum zdu_err rc;

	if ((rc = defaults_keys(cfg)) != ZDU_OK) {
		config_destroy(lc);
		snprintf(err, err_size, "%s: out of memory", name);
		return rc;
	}
	rc = load(&ld, lc);
	config_destroy(lc);
	if (rc == ZDU_OK && !(cfg->path = strdup(name)))
		rc = ZDU_ERR_NOMEM;
	if (rc != ZDU_OK) {
		if (rc == ZDU_ERR_NOMEM)
			snprintf(err, err_size, "%s: out of memory", name);
		zdu_config_free(cfg);
	}
	return rc;
}

enum zdu_err zdu_config_read_secret(struct zdu_config *cfg, char *err, size_t err_size)
{
	char buf[256], *pw;
	int e;

	if (!cfg->etcd_password_unread)
		return ZDU_OK;
	if (zdu_read_first_line(cfg->etcd_password_file, buf, sizeof(buf)) < 0) {
		e = errno;
		snprintf(err, err_size, "%s: etcd.password_file: %.200s: %s",
			 cfg->etcd_password_file_at ? cfg->etcd_password_file_at : cfg->path,
			 cfg->etcd_password_file, strerror(e));
		errno = e;
		return ZDU_ERR_IO;
	}
	pw = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	if (!pw) {
		snprintf(err, err_size, "%s: out of memory", cfg->path ? cfg->path : "configuration");
		errno = ENOMEM;
		return ZDU_ERR_NOMEM;
	}
	free(cfg->etcd_password);
	cfg->etcd_password = pw;
	cfg->etcd_password_unread = 0;
	return ZDU_OK;
}

enum zdu_err zdu_config_load(const char *path, int missing_ok, struct zdu_config *cfg, char *err,
			     size_t err_size)
{
	return zdu_config_load_flags(path, missing_ok, 0, cfg, err, err_size);
}

enum zdu_err zdu_config_load_flags(const char *path, int missing_ok, unsigned flags, struct zdu_config *cfg,
				   char *err, size_t err_size)
{
	config_t lc;
	enum zdu_err rc;

	memset(cfg, 0, sizeof(*cfg));
	rc = zdu_keytab_read(&lc, path, NULL, path, err, err_size);
	if (rc == ZDU_ERR_IO && errno == ENOENT && missing_ok) {
		rc = zdu_config_defaults(cfg);
		if (rc == ZDU_OK && !(cfg->path = strdup(path)))
			rc = ZDU_ERR_NOMEM;
		return rc;
	}
	return rc != ZDU_OK ? rc : load_common(&lc, path, flags, cfg, err, err_size);
}

enum zdu_err zdu_config_load_string(const char *text, const char *name, struct zdu_config *cfg,
				    char *err, size_t err_size)
{
	config_t lc;
	enum zdu_err rc;

	memset(cfg, 0, sizeof(*cfg));
	rc = zdu_keytab_read(&lc, NULL, text, name, err, err_size);
	return rc != ZDU_OK ? rc : load_common(&lc, name, 0, cfg, err, err_size);
}
