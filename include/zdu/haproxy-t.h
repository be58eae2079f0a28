/* What the coordinator reads from a HAProxy load balancer. */
#ifndef ZDU_HAPROXY_T_H
#define ZDU_HAPROXY_T_H

#include <stddef.h>

#define ZDU_LB_NAME_MAX 64
/* The most backends a poll round reads (a plan's services). */
#define ZDU_LB_BACKENDS_MAX 16

/* One server row of `show stat`. */
struct zdu_lb_server {
	char name[ZDU_LB_NAME_MAX];
	char status[32];   /* "UP", "DRAIN (agent)", "MAINT", "DOWN (agent)", "UP 1/3"... */
	long scur;         /* current sessions */
	long weight;       /* effective weight */
	long uweight;      /* user-set weight, -1 when the column is absent (HAProxy < 2.4) */
	char agent_status[16];
	char last_agt[128];
	/* HAProxy's own check: its health counter and rise (up once health >=
	 * rise); -1 when the server has none or the answer does not say */
	long check_health;
	long check_rise;
};

struct zdu_lb_backend {
	struct zdu_lb_server *servers;
	size_t n;
	int found;          /* the answer has the backend (its BACKEND row or a server) */
	char backends[256]; /* every backend in the answer, ", " between, cut with ", ..." */
};

/* One load balancer as a poll round of the coordinator saw it: its
 * backend, or why not. */
struct zdu_lb_view {
	int ok;
	char err[256];
	struct zdu_lb_backend be[ZDU_LB_BACKENDS_MAX]; /* indexed as the pass's backends */
};

#endif
