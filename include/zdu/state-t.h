/* What the agent knows about its node. Everything a reply says comes from
 * here, and everything enters here through zdu_state_apply(). */
#ifndef ZDU_STATE_T_H
#define ZDU_STATE_T_H

#include <stddef.h>
#include <stdint.h>

#include "zdu/flag-t.h"

#define ZDU_REPLY_MAX 256 /* one agent reply line, newline included */
#define ZDU_VERSION_MAX 16

/* Where a maintenance flag comes from. The node's flags hold every
 * service, a service's flags that service only. Of each pair the local
 * file always wins, so an operator on the node is never overruled from
 * afar; between the node's and the service's, the stricter wins (maint
 * over drain over lb over none; the node's on a tie). */
enum zdu_flag_src {
	ZDU_SRC_FILE = 0, /* the node's flag file (flag.file) */
	ZDU_SRC_ETCD,     /* the node's etcd keys (its own, and the cluster's) */
	ZDU_SRC_SVC_FILE, /* the service's flag file */
	ZDU_SRC_SVC_ETCD, /* the service's etcd key */
	ZDU_SRC_MAX
};

#define ZDU_SERVICE_MAX 64 /* a service name and its NUL */

enum zdu_health {
	ZDU_HEALTH_UNKNOWN = 0, /* probing, no verdict yet: let HAProxy's check decide */
	ZDU_HEALTH_UP,
	ZDU_HEALTH_DOWN,
	ZDU_HEALTH_UNCHECKED,   /* probing disabled in the configuration: assumed up */
};

/* What kind of trouble the probe sees. Soft: the API accepts connections
 * but answers late (slow); it lowers the weight of an up node and takes it
 * down only after probe.dead_after_ms. Hard: refused or reset connection,
 * connect timeout, 5xx, wrong document; it takes the node down after fall
 * probes. While down: what took the node down. */
enum zdu_fault {
	ZDU_FAULT_NONE = 0,
	ZDU_FAULT_SOFT,
	ZDU_FAULT_HARD,
};

/* An up node that answers late: how long, since when, at what weight. */
struct zdu_slow_state {
	int active;
	unsigned weight_pct;        /* share of the weight left while slow */
	uint64_t since_ms;          /* monotonic start of the first slow probe */
	int64_t since_unix_ms;      /* the same instant on the wall clock, for people */
	uint64_t last_ms;           /* how long the last slow probe took */
	uint64_t max_ms;            /* the slowest probe of this spell */
	uint64_t for_ms;            /* how long the spell had lasted at the last probe */
	unsigned probes;            /* slow probes in this spell */
	int answered;               /* the last slow probe got its answer (else: cut) */
};

/* An up node slow for probe.dead_after_ms that the fleet guard keeps up,
 * because going down would leave too few of its service's nodes up (or
 * because etcd could not say): since when, and what the last check found. */
struct zdu_guard_hold {
	int active;
	int peers_unknown;     /* the peers could not be read: kept up without knowing */
	uint64_t since_ms;     /* monotonic: the first check that kept it up */
	int64_t since_unix_ms; /* the same on the wall clock, for people */
	unsigned nodes;        /* the service's nodes at the last check, this one included */
	unsigned up;           /* of them, peers up */
	unsigned down;         /* peers not up (down, drained, unreadable...) */
	unsigned checks;       /* checks that kept it up in this spell */
	unsigned min_up_percent;
	char reason[ZDU_REASON_MAX]; /* "kept up: 2 of 3 nodes already down" */
};

/* What an unhealthy node replies. */
enum zdu_fail_action {
	ZDU_FAIL_DOWN = 0, /* "down": HAProxy marks the server DOWN (agent) */
	ZDU_FAIL_DRAIN,    /* "drain": no new sessions, existing ones finish */
	ZDU_FAIL_ZERO,     /* weight "0%": stays UP and ready but gets nothing new */
};

/* How much a reply says after its tokens (agent.reply_detail). */
enum zdu_reply_detail {
	ZDU_DETAIL_FULL = 0, /* why: reasons, errors, the nova-api version */
	ZDU_DETAIL_MINIMAL,  /* tokens and weight only ("lb-managed" alone in mode lb) */
};

struct zdu_health_state {
	enum zdu_health health;
	/* Why the node is unhealthy ("nova-api: connection refused"). */
	char reason[ZDU_REASON_MAX];
	char version[ZDU_VERSION_MAX];     /* maximum microversion, "2.93" */
	char min_version[ZDU_VERSION_MAX]; /* minimum microversion, "2.1" */
	/* The service asks to be taken out (oslo healthcheck disabled by file):
	 * treated as drained, with disabled_reason. */
	int disabled;
	char disabled_reason[ZDU_REASON_MAX];
	enum zdu_fault fault;
	/* Up but slow: the reason says "nova-api: slow: 1.2 s" and the reply
	 * weight is weight_pct x slow.weight_pct. Never set while not up. */
	struct zdu_slow_state slow;
	/* Up, slow past dead_after, kept up by the fleet guard: the reason then
	 * starts with guard.reason. Never set while not up and slow. */
	struct zdu_guard_hold guard;
};

/* Connections to the local API, counted through sock_diag: the node is
 * drained when a flag is set and none has been seen for the settle time. */
struct zdu_drain_state {
	int known;          /* a count has been taken */
	unsigned conns;     /* established connections to the API ports */
	unsigned idle;      /* of which quiet and kept only for reuse (not counted) */
	int drained;
	char error[ZDU_REASON_MAX]; /* why connections cannot be counted */
};

/* One service of the node as its agent-check reply sees it. */
struct zdu_node_state {
	char service[ZDU_SERVICE_MAX]; /* "nova-api": names it in reasons */
	struct zdu_flag flag[ZDU_SRC_MAX];
	struct zdu_health_state health;
	struct zdu_drain_state drain;
	enum zdu_fail_action on_failure;
	unsigned weight_pct; /* weight of a ready reply, slow start applied */
	enum zdu_reply_detail detail;
};

enum zdu_event_kind {
	ZDU_EV_FLAG,       /* a flag source read its flag: src, flag */
	ZDU_EV_HEALTH,     /* the probe reached a verdict: health */
	ZDU_EV_WEIGHT,     /* slow start or configuration changed the weight */
	ZDU_EV_FAIL_ACTION, /* configuration changed what unhealthy replies */
	ZDU_EV_DRAIN,      /* connections were counted: drain */
	ZDU_EV_DETAIL      /* configuration changed how much replies say: detail */
};

struct zdu_event {
	enum zdu_event_kind kind;
	const char *cause; /* why, for the log: "flag file changed", "probe" */
	enum zdu_flag_src src;
	const struct zdu_flag *flag;
	const struct zdu_health_state *health;
	const struct zdu_drain_state *drain;
	unsigned weight_pct;
	enum zdu_fail_action on_failure;
	enum zdu_reply_detail detail;
};

/* A change waiting for its turn, with copies of what it points to (the
 * caller's storage is gone by then). */
#define ZDU_STATE_QUEUE 16
#define ZDU_STATE_DERIVED_MAX 64 /* changes that may follow one change */
struct zdu_queued_event {
	struct zdu_event ev;
	char cause[128];
	union {
		struct zdu_flag flag;
		struct zdu_health_state health;
		struct zdu_drain_state drain;
	} u;
};

struct zdu_state;
/* Called after every change of the node state; reply_changed says whether
 * the reply line changed too. */
typedef void (*zdu_state_cb)(struct zdu_state *st, int reply_changed, void *data);

#define ZDU_STATE_OBSERVERS 8

struct zdu_state {
	struct zdu_node_state node;
	char reply[ZDU_REPLY_MAX];
	size_t reply_len;
	uint64_t generation;     /* bumped on every reply change */
	uint64_t changed_ms;     /* monotonic time of the last reply change */
	char last_cause[128];    /* cause of the last reply change */
	int named;               /* one of several services: logs name it */
	struct {
		zdu_state_cb cb;
		void *data;
	} obs[ZDU_STATE_OBSERVERS];
	/* Changes made by observers while a change is applied wait here and
	 * are applied after it, in the order made: never re-entered. */
	int applying;
	unsigned qhead, qlen;
	uint64_t dropped; /* derived changes lost to a full queue (a bug) */
	struct zdu_queued_event queue[ZDU_STATE_QUEUE];
};


#endif
