/* Between the coordinator's own files: coordinator.c (the run, the rolling
 * steps, the output, the poll rounds) and cutover.c (the switch): a rollout
 * in progress and the functions they share. Other modules use
 * coordinator.h. */
#ifndef ZDU_COORDINATOR_INT_H
#define ZDU_COORDINATOR_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "zdu/haproxy-t.h"
#include "zdu/journal.h"
#include "zdu/window-t.h"

struct zdu_coord_opts;
struct zdu_coord_etcd;
struct zdu_link;
struct zdu_plan;

/* The steps of a node, in order; the output names them (step_names). */
enum zdu_coord_step {
	ZDU_STEP_PREFLIGHT,
	ZDU_STEP_CAPACITY, /* before a node leaves: the others short of min_ready, waiting */
	ZDU_STEP_SET_FLAG,
	ZDU_STEP_WAIT_DRAINED,
	ZDU_STEP_UPGRADE,
	ZDU_STEP_WAIT_HEALTHY,
	ZDU_STEP_CLEAR_FLAG,
	ZDU_STEP_WAIT_UP,
	ZDU_STEP_SWITCH, /* cutover: the switch, between the two groups */
	ZDU_STEP_BEFORE, /* before_command, once before any node is drained (window.c) */
	ZDU_STEP_AFTER,  /* after_command, once after the last node is back (window.c) */
};

/* The switch's own steps (cutover.c). */
enum zdu_switch_step {
	ZDU_SW_CHECK,           /* every first-group agent healthy at the version */
	ZDU_SW_LB_FLAGS,        /* every agent's flag in mode lb */
	ZDU_SW_WAIT_LB_MANAGED, /* every load balancer applied an lb-mode reply from each */
	ZDU_SW_RUNTIME,         /* one runtime request per load balancer */
	ZDU_SW_CONFIRM,         /* every load balancer shows it */
	ZDU_SW_FINAL_FLAGS,     /* flags agreeing with the load balancers */
	ZDU_SW_SHUTDOWN,        /* mode tcp: the old group's sessions ended after the grace */
};

/* What a rollout runs, in order: window commands and passes (a plan
 * without services: before_command, its one pass, after_command). */
struct zdu_coord_stage {
	const struct zdu_plan *plan;            /* the pass; a window's plan */
	enum zdu_coord_step step;               /* ZDU_STEP_BEFORE, _AFTER: a window; else a pass */
	const struct zdu_plan_service *service; /* a window of this service (unit = "node"); NULL */
};

struct zdu_coord {
	uv_loop_t loop;
	const struct zdu_plan *whole; /* the plan as loaded; plan is the pass or window in progress */
	struct zdu_coord_stage *stages;
	size_t nstages, stage;
	const char *say_service; /* a service's window in progress: its events name it */
	struct zdu_coord_progress *progress; /* --textfile-dir; NULL: none */
	const struct zdu_plan *plan;
	const struct zdu_coord_opts *opts;
	struct zdu_link **links;
	struct zdu_journal journal;
	int journal_open;
	int lock_fd;                 /* the lock file without etcd; -1 */
	struct zdu_coord_etcd *etcd; /* plan with etcd: lock, journal, etcd links */
	int deferred;                /* a step waits for the journal's store */
	enum zdu_coord_step deferred_step;
	uv_timer_t timer;

	size_t node;     /* index in plan->nodes of the node in progress */
	size_t *order;   /* nodes in the order they are upgraded */
	size_t pos;      /* in order */
	size_t nfirst;   /* cutover: nodes of the first group (first in order) */
	int switched;    /* cutover: traffic is on the first group */
	int round_agent; /* the poll round asks the node's agent too */
	enum zdu_coord_step step;
	uint64_t deadline;
	uint64_t step_started;
	uint64_t cap_since;    /* the capacity wait began (loop time) */
	long *weights; /* the node's weight on each LB in each backend [lb * ZDU_LB_BACKENDS_MAX + b] */
	/* each backend's probe count first seen after the upgrade; -1: not yet */
	long long probes_base[ZDU_LB_BACKENDS_MAX];
	uint64_t healthy_from; /* wait-healthy began (the upgrade had ended): a fresh probe started after */

	/* cutover: the switch */
	enum zdu_switch_step sw_step;
	size_t sw_i; /* next node to check or flag */
	uint64_t sw_sent_ms;
	double *sw_rtt_ms;
	int sw_failed_confirm; /* the runtime switch was sent and not confirmed */
	char sw_fail_msg[1024];
	char sw_restore_err[256];

	/* the window command in progress (window.c), and what follows it */
	struct zdu_window_cmd win;
	const struct zdu_plan_service *win_service; /* a service's window command (unit = "node"); NULL */
	void (*win_then)(struct zdu_coord *c);

	/* wait-drained's early end: when a poll round first showed every load
	 * balancer drained (0: not yet, or not any more); the start of the round
	 * in flight */
	uint64_t lbs_drained_at;
	uint64_t round_started;
	/* push_state: a load balancer that refused a set server (said once);
	 * the requests not answered yet, and a wait whose first poll round
	 * waits for them (so it sees what they set) */
	unsigned char *push_refused;
	int push_pending;
	int round_after_push;

	/* the poll round in flight */
	int pending;
	struct zdu_lb_view *lbs;
	json_t *agent;
	char agent_err[512];
	char last_progress[1024];

	int exit_code;
	int finished;
};


/* ---- coordinator.c ---- */

/* The step's name in the output ("preflight", "wait-drained", "switch"). */
const char *zdu_coord_step_name(enum zdu_coord_step s);
/* One line of output: about node (NULL: the whole rollout) in step, of
 * kind event ("start", "ok", "wait", "info", "warn", "fail", "next"). */
void zdu_coord_say(struct zdu_coord *c, const char *node, const char *step, const char *event, const char *fmt,
		   ...) __attribute__((format(printf, 5, 6)));
/* Stops the rollout with exit code `code`, saying why and what to do next. */
void zdu_coord_fail(struct zdu_coord *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Records a finished step in the journal (node "" for the whole rollout),
 * and asks whether one is recorded: in the scope of the pass in progress
 * ("SERVICE/NODE" for a service's pass, as given otherwise). */
void zdu_coord_journal(struct zdu_coord *c, const char *node, const char *step);
int zdu_coord_journal_has(const struct zdu_coord *c, const char *node, const char *step);
/* The node's link (n: an index in the pass's nodes). */
struct zdu_link *zdu_coord_link(const struct zdu_coord *c, size_t n);
/* A poll round: every load balancer's show stat into c->lbs, and with
 * c->round_agent the node's status into c->agent; then the step's
 * evaluation. zdu_coord_poll_again(): the next round after timeouts.poll_ms. */
void zdu_coord_round(struct zdu_coord *c);
void zdu_coord_poll_again(struct zdu_coord *c);
/* A wait: poll rounds from now until done or limit_ms have passed. */
void zdu_coord_wait_rounds(struct zdu_coord *c, int limit_ms);
/* One runtime request to load balancer i; done runs once, from the loop.
 * -1 when it cannot start. */
typedef void (*zdu_coord_lb_cb)(struct zdu_coord *c, size_t i, int ok, const char *answer, size_t len,
				const char *err);
int zdu_coord_lb_request(struct zdu_coord *c, size_t i, const char *cmd, zdu_coord_lb_cb done);
/* A wait's round is in: 1 when done; else a failure once the step's
 * deadline is past ("WHAT after N s: STATE"), or the next round, saying
 * how things stand when that changed; 0. */
int zdu_coord_waited(struct zdu_coord *c, int done, const char *state, const char *what, int limit_ms);
int zdu_coord_timed_out(const struct zdu_coord *c);
/* The next node in order (after the switch, its second group). */
void zdu_coord_begin_node(struct zdu_coord *c);

/* ---- cutover.c ---- */

/* The first group is upgraded and healthy: switch the traffic to it. */
void zdu_cutover_start(struct zdu_coord *c);
/* A poll round of the switch is in. */
void zdu_cutover_evaluate(struct zdu_coord *c);
/* What to do next after the switch failed, or was interrupted. */
const char *zdu_cutover_next_after_fail(const struct zdu_coord *c);
const char *zdu_cutover_next_after_signal(const struct zdu_coord *c);

#endif
