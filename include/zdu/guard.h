/* The fleet guard (issue 15, part 2): a node about to go down for a soft
 * reason (slow for probe.dead_after_ms) first asks its peers. Peers are the
 * agents publishing their state under the same etcd prefix
 * (PREFIX/agents/NODE, under leases: a dead agent's key goes) for the same
 * service. If going down would leave fewer than guard.min_up_percent of the
 * service's nodes (the peers and this one) up, the node stays up. Hard
 * failures never ask: the probe takes the node down as always.
 *
 * A check is one read of every peer's state and of the service's claim key
 * (PREFIX/guard/SERVICE) at one revision, then a decision. Going down is
 * claimed first: the claim key, under a lease of etcd.lease_ttl_s, lists the
 * nodes that went down lately, and is written only if nobody wrote it since
 * the read (a txn on its mod_revision). Two nodes deciding at the same
 * moment thus never both go down on the strength of each other's stale
 * "up": the second one's write fails, it reads again, and counts the first
 * as gone even before that one's own state says so.
 *
 * Everything here runs on the loop through the etcd client; nothing blocks.
 * The parsers and the decision are pure and exposed for tests and fuzzing. */
#ifndef ZDU_GUARD_H
#define ZDU_GUARD_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "zdu/etcd.h"
#include "zdu/state-t.h"
#include "zdu/guard-t.h"

/* The one service an agent serves today; published as "service", so that
 * agents of several services may later share a prefix. */
#define ZDU_GUARD_SERVICE "nova-api"
#define ZDU_GUARD_MAX_PEERS 1024         /* agents read in one check */

/* A peer's published value (the JSON of PREFIX/agents/NODE) into p. Returns
 * 1 when it belongs to another service (p is then not to be counted), else
 * 0: anything unreadable is ZDU_PEER_UNREADABLE, saying why in p->why. */
int zdu_guard_peer_parse(const char *node, const char *value, size_t len, const char *service,
			 struct zdu_guard_peer *p);
/* Turns the answer of a check's read (zdu_etcd_read of PREFIX/agents/ and
 * the claim key) into v. Never fails but for memory (-1). */
int zdu_guard_view_parse(const struct zdu_etcd_result *res, const char *prefix, const char *self,
			 const char *service, struct zdu_guard_view *v);
void zdu_guard_view_free(struct zdu_guard_view *v);
/* The decision: keep up when going down would leave fewer than
 * min_up_percent of the nodes (the peers and self) up. */
void zdu_guard_decide(const struct zdu_guard_peer *peers, size_t npeers, unsigned min_up_percent,
		      struct zdu_guard_verdict *v);
/* The claim key's value with self added: {"down":["a","b"]}. malloc'd. */
char *zdu_guard_claim_value(const struct zdu_guard_view *v, const char *self);
const char *zdu_guard_peer_state_name(enum zdu_peer_state s);
const char *zdu_guard_outcome_name(enum zdu_guard_outcome o);

struct zdu_guard;
typedef void (*zdu_guard_cb)(const struct zdu_guard_verdict *v, void *data);

/* etcd is borrowed; claim_ttl_s: how long a claim counts its nodes as gone
 * (etcd.lease_ttl_s: by then their own states say down). */
struct zdu_guard *zdu_guard_new(struct zdu_etcd *etcd, const char *prefix, const char *node,
				const char *service, unsigned min_up_percent, int claim_ttl_s);
void zdu_guard_set_min_up(struct zdu_guard *g, unsigned min_up_percent);
/* Starts a check, or joins the one in flight: cb runs once, from the loop,
 * with its verdict (one waiter: a second call replaces the first). Returns
 * -1 when out of memory (cb then never runs). */
int zdu_guard_check(struct zdu_guard *g, zdu_guard_cb cb, void *data);
/* The waiter with this data goes away: no callback. */
void zdu_guard_forget(struct zdu_guard *g, void *data);
/* The last check: when, its verdict, every peer; min_up_percent, keys. */
json_t *zdu_guard_status_json(const struct zdu_guard *g);
/* Call before freeing etcd: the client's end cancels the requests in
 * flight without calling back. */
void zdu_guard_close(struct zdu_guard *g);

#endif
