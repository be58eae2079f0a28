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
};

static const struct zdu_keytab tab = { keys, ZDU_ARRAY_SIZE(keys), NULL, 0 };

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

enum zdu_err zdu_config_defaults(struct zdu_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	if (zdu_keytab_defaults(&tab, cfg) == ZDU_OK)
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

static enum zdu_err load(struct loader *ld, config_t *lc)
{
	enum zdu_err err = zdu_keytab_load(&ld->kl, &tab, config_root_setting(lc), ld->cfg);

	return err != ZDU_OK ? err : check_values(ld, lc);
}

static enum zdu_err load_common(config_t *lc, const char *name, unsigned flags, struct zdu_config *cfg,
				char *err, size_t err_size)
{
	struct loader ld = { { name, err, err_size }, cfg, flags };
	enum zdu_err rc;

	if ((rc = zdu_config_defaults(cfg)) != ZDU_OK) {
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
