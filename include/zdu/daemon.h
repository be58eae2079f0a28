/* The agent daemon: one libuv loop owning the listener, the flag source,
 * the control socket and the probe, all feeding one zdu_state. */
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
#include "zdu/probe.h"
#include "zdu/publish.h"
#include "zdu/slowstart.h"
#include "zdu/state.h"

struct zdu_daemon {
	uv_loop_t loop;
	struct zdu_config cfg;
	struct zdu_state state;
	struct zdu_listener *listener;
	struct zdu_flag_file *flagf;
	struct zdu_control *control; /* NULL until the socket is up */
	struct zdu_http *http;
	struct zdu_probe *probe; /* NULL when probing is disabled */
	struct zdu_slowstart *slowstart;
	struct zdu_drain *drain; /* NULL when drain.ports is empty */
	/* NULL when etcd.endpoints is empty */
	struct zdu_etcd *etcd;
	struct zdu_flag_etcd *flage;
	struct zdu_publish *publish;
	struct zdu_guard *guard; /* asked by the probe when guard.min_up_percent > 0 */
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

/* The daemon's state as the control socket's status answer. */
json_t *zdu_status_json(const struct zdu_daemon *d);

#endif
