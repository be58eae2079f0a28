/* The agent's configuration, as loaded and validated from libconfig. */
#ifndef ZDU_CONFIG_T_H
#define ZDU_CONFIG_T_H

#include <stddef.h>

#include "zdu/keytab-t.h"
#include "zdu/state-t.h"

#define ZDU_DEFAULT_PORT 9777
#define ZDU_DEFAULT_CONFIG "/etc/zdu-agent/zdu-agent.conf"

/* How a service's API is probed (one file per kind: agent/daemon/check_*.c). */
enum zdu_probe_kind {
	ZDU_PROBE_KIND_NOVA = 0,     /* nova's version document (GET /v2.1/) */
	ZDU_PROBE_KIND_MICROVERSION, /* any OpenStack version document: version_path / version_header */
	ZDU_PROBE_KIND_HEALTHCHECK,  /* oslo.middleware's /healthcheck: 200 up, 503 down or disabled */
	ZDU_PROBE_KIND_HTTP,         /* a plain HTTP status in expect_status */
	ZDU_PROBE_KIND_TCP,          /* a TCP connect to url's host:port */
};

#define ZDU_SERVICE_NAME_MAX 64 /* name bytes, NUL excluded: 1..63 of [A-Za-z0-9._-] */
#define ZDU_SERVICES_MAX 64

/* One API service on the node: one entry of services = ( { ... } );.
 * Without a services list, one service "nova-api" is made from the probe,
 * drain and slowstart groups, so every older file means what it meant. */
struct zdu_service_cfg {
	char *name;                 /* what HAProxy's agent-send names */
	struct zdu_strlist listen;  /* its own agent-check addresses; empty: agent.listen only */
	char *flag_file;            /* "": flag.file + "." + name (filled in by the loader) */
	int probe_enabled;
	int probe_kind;             /* enum zdu_probe_kind */
	char *url;                  /* tcp: "tcp://host:port" */
	char *version_path;         /* microversion: where the maximum is, "versions[0].max_version" */
	char *min_version_path;     /* microversion: where the minimum is ("": not read) */
	char *version_header;       /* microversion: a header giving the maximum ("": none) */
	char *healthcheck_url;      /* nova, microversion: oslo healthcheck beside the document */
	struct zdu_intlist expect_status; /* http: the statuses that mean up */
	int interval_ms;
	int rise_interval_ms;       /* a service not up, rising: the next probe after this; 0: interval_ms */
	int maintenance_interval_ms; /* flagged out (drain, maint) and failing: between probes; 0: interval_ms */
	int timeout_ms;
	int connect_timeout_ms;
	int rise;
	int fall;
	int dead_after_ms;
	int slow_timeout_ms;
	int on_failure;             /* enum zdu_fail_action */
	struct zdu_strlist headers;
	struct zdu_intlist drain_ports;
	int slowstart_ms;
	int slowstart_start_pct;
	int weight;
};

struct zdu_config {
	char *path; /* file it was read from, for messages */

	/* services: the APIs of this node, the first one the default. Always
	 * at least one once loaded: made from probe, drain and slowstart when
	 * the file has no services list (services_listed 0). */
	struct zdu_service_cfg *services;
	size_t nservices;
	int services_listed;

	/* agent: the agent-check listener */
	struct zdu_strlist listen;
	int weight;
	int max_connections;
	int connection_timeout_ms;
	int max_request_bytes;
	int reply_detail; /* enum zdu_reply_detail */
	int name_timeout_ms; /* several services on a port: wait this long for the name */

	/* flag: the maintenance flag file */
	char *flag_file;
	int flag_poll_ms;

	/* control: the unix control socket */
	char *control_socket;
	char *control_mode;
	char *control_group;
	int control_max_clients;
	int control_timeout_ms;

	/* log */
	int log_level;

	/* probe: the local nova-api */
	int probe_enabled;
	char *probe_url;
	int probe_interval_ms;
	int probe_rise_interval_ms;
	int probe_maintenance_interval_ms;
	int probe_timeout_ms;
	int probe_connect_timeout_ms;
	int probe_rise;
	int probe_fall;
	int probe_dead_after_ms;   /* slow this long: down; 0: slow is a failure */
	int probe_slow_timeout_ms; /* how long the probe of an up node may run */
	int probe_max_body_bytes;
	int probe_on_failure; /* enum zdu_fail_action */
	char *probe_healthcheck_url;
	char *probe_ca_file;
	char *probe_client_cert;
	char *probe_client_key;
	int probe_verify;
	struct zdu_strlist probe_headers;

	/* drain: knowing when the node is drained */
	struct zdu_intlist drain_ports;
	struct zdu_strlist drain_from;
	struct zdu_strlist drain_local;
	int drain_settle_ms;
	int drain_interval_ms;
	int drain_report_interval_ms;
	int drain_idle_ms;

	/* slowstart */
	int slowstart_ms;
	int slowstart_start_pct;
	/* metrics: Prometheus's text format, in a textfile and/or over HTTP */
	char *metrics_textfile_dir;
	int metrics_textfile_interval_ms;
	char *metrics_listen;
	int metrics_max_clients;
	int metrics_timeout_ms;
	int metrics_max_request_bytes;
	/* etcd: flags and published state in an etcd v3 cluster */
	struct zdu_strlist etcd_endpoints; /* empty: etcd off */
	char *etcd_prefix;
	char *etcd_node;          /* "": the host name (filled in by the loader) */
	int etcd_timeout_ms;
	int etcd_lease_ttl_s;
	int etcd_publish_interval_ms;
	int etcd_backoff_max_ms;
	int etcd_watch_check_ms;
	char *etcd_cache_file;    /* "": etcd.cache beside flag.file (filled in) */
	char *etcd_ca_file;
	char *etcd_cert_file;
	char *etcd_key_file;
	char *etcd_user;
	char *etcd_password;
	char *etcd_password_file;

	/* Not keys. Where etcd.password_file was set ("FILE:LINE", for
	 * messages), and whether it is still to be read: the command line
	 * loads with ZDU_CONFIG_SECRET_LATER and reads it only to talk to etcd
	 * itself (zdu_config_read_secret()). */
	char *etcd_password_file_at;
	int etcd_password_unread;
	int etcd_allow_plaintext_password; /* no warning for http:// with a password */
	/* guard: the fleet guard (with etcd) */
	int guard_min_up_percent; /* 0: off */
};

#endif
