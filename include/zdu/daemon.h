/* The agent daemon: one libuv loop owning the services (each with its
 * state, probe, slow start and connection count), the node's flag sources
 * that reach every service, the shared agent port, the control socket and
 * etcd. */
#ifndef ZDU_DAEMON_H
#define ZDU_DAEMON_H

#include <jansson.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "zdu/config-t.h"
#include "zdu/control.h"
#include "zdu/drain.h"
#include "zdu/etcd.h"
#include "zdu/flag_etcd.h"
#include "zdu/flag_file.h"
#include "zdu/guard.h"
#include "zdu/http.h"
#include "zdu/listener.h"
#include "zdu/metrics.h"
#include "zdu/probe.h"
#include "zdu/publish.h"
#include "zdu/service.h"
#include "zdu/state.h"

struct zdu_daemon {
	uv_loop_t loop;
	struct zdu_config cfg;
	/* The services, cfg.services' order: the first is the default. */
	struct zdu_service **svcs;
	size_t nsvcs;
	struct zdu_listener *listener; /* agent.listen: every service, by name */
	struct zdu_flag_file *flagf;   /* the node's flag: every service */
	struct zdu_control *control; /* NULL until the socket is up */
	struct zdu_http *http;
	/* NULL when etcd.endpoints is empty */
	struct zdu_etcd *etcd;
	struct zdu_flag_etcd *flage;
	struct zdu_publish *publish;
	struct zdu_guard **guards; /* one per service, asked by its probe when guard.min_up_percent > 0 */
	struct zdu_metrics *metrics; /* NULL without metrics.textfile_dir and metrics.listen */
	char *etcd_sig; /* the etcd settings they were made with */
	struct zdu_list waiters; /* control clients in wait-drained */
	struct zdu_list jobs;    /* flag writes in the thread pool */
	struct zdu_list etcd_jobs; /* node key writes for control clients */
	uv_signal_t sig_hup, sig_term, sig_int;
	uint64_t started_ms;
	time_t started_wall;
	uint64_t reloads;
	int stopping;
	int control_up;
	int config_given; /* --config named the file: it must exist on reload */
	int ready_fd; /* daemonized: tells the parent we are up */
};

/* Runs the daemon until SIGTERM/SIGINT. Returns a process exit code. */
int zdu_daemon_run(const char *config_path, int config_given, int foreground);

/* The daemon's state as the control socket's status answer: the first
 * service's at the top (what one-service agents always said), every
 * service under "services", the node under "node". */
json_t *zdu_status_json(const struct zdu_daemon *d);
/* The service named name, or NULL. */
struct zdu_service *zdu_daemon_service(const struct zdu_daemon *d, const char *name);
/* Every service with drain detection is drained (and at least one has it). */
int zdu_daemon_drained(const struct zdu_daemon *d);

#endif
