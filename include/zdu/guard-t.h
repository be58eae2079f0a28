/* Types of the fleet guard (guard.h): a peer, a read of the peers, a verdict. */
#ifndef ZDU_GUARD_T_H
#define ZDU_GUARD_T_H

#include <stddef.h>
#include <stdint.h>
#include "zdu/state-t.h"

/* What a peer's published state says about its node. */
enum zdu_peer_state {
	ZDU_PEER_UP = 0,     /* serving: "up", ready (or lb mode), weight above 0 */
	ZDU_PEER_DOWN,       /* "down" */
	ZDU_PEER_OUT,        /* up but taking no new sessions: drain, maint, weight 0 */
	ZDU_PEER_STARTING,   /* no verdict yet (just started) */
	ZDU_PEER_GOING_DOWN, /* listed in the claim key: went down moments ago */
	ZDU_PEER_UNREADABLE, /* its value is not a state we understand */
};

struct zdu_guard_peer {
	char node[64];
	enum zdu_peer_state state;
	char why[ZDU_REASON_MAX]; /* its reply's reason, or what is wrong with the value */
};

/* One read of the peers, parsed. */
struct zdu_guard_view {
	struct zdu_guard_peer *peers; /* the service's, this node left out */
	size_t npeers;
	unsigned other_services; /* agents of another service, not counted */
	int self_seen;           /* this node's own key was there */
	int more;                /* more agents than ZDU_GUARD_MAX_PEERS: not all were read */
	int64_t claim_mod_revision; /* of the claim key; 0: absent */
	char **claimed;          /* nodes the claim key lists */
	size_t nclaimed;
	char claim_error[160];   /* the claim key's value is unreadable (then ignored) */
};

enum zdu_guard_outcome {
	ZDU_GUARD_DOWN = 0, /* enough nodes stay up: go down (claimed) */
	ZDU_GUARD_KEEP,     /* too few would stay up: kept up */
	ZDU_GUARD_UNKNOWN,  /* the peers could not be read: kept up (see README) */
	ZDU_GUARD_RETRY,    /* others kept claiming: nothing decided, ask again later */
};

struct zdu_guard_verdict {
	enum zdu_guard_outcome outcome;
	unsigned nodes; /* the service's nodes, this one included */
	unsigned up;    /* peers up (serving) */
	unsigned down;  /* peers not up: nodes - 1 - up */
	unsigned min_up_percent;
	/* "kept up: 2 of 3 nodes already down", "2 of 3 nodes stay up",
	 * "kept up: peers unknown (etcd unreachable: ...)" */
	char reason[ZDU_REASON_MAX];
};

#endif
