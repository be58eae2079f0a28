/* A kept etcd lease: granted on request, kept alive every third of its TTL
 * from the loop, its loss reported. The agent's published state and the
 * coordinator's lock both live under one; what to do when it is lost (grant
 * a new one and write again, or stop touching the cluster) is theirs. */
#ifndef ZDU_ETCD_LEASE_H
#define ZDU_ETCD_LEASE_H
#include <stdint.h>
#include <uv.h>
#include "zdu/etcd.h"

struct zdu_lease;

enum zdu_lease_event {
	ZDU_LEASE_GRANTED,          /* zdu_lease_id() is the new lease, kept alive from now */
	ZDU_LEASE_GRANT_FAILED,     /* msg says why; no lease is held */
	ZDU_LEASE_KEEPALIVE_FAILED, /* etcd not reached (msg): the lease lasts its TTL, the next try may reach it */
	ZDU_LEASE_LOST,             /* etcd says the lease is gone (ran out, revoked): so are its keys */
};

/* msg: etcd's answer for the two failures; "" otherwise. */
typedef void (*zdu_lease_cb)(enum zdu_lease_event ev, const char *msg, void *data);

struct zdu_lease *zdu_lease_new(uv_loop_t *loop, struct zdu_etcd *etcd, int ttl_s, zdu_lease_cb cb, void *data);
/* Asks for a lease unless one is held or being asked for; cb says how it
 * went. -1 when the request cannot start (out of memory). */
int zdu_lease_grant(struct zdu_lease *l);
/* The lease held, 0 when none. */
int64_t zdu_lease_id(const struct zdu_lease *l);
int zdu_lease_ttl(const struct zdu_lease *l);
/* The caller learnt the lease is gone (a write said "lease not found"):
 * forget it without calling back; zdu_lease_grant() asks for a new one. */
void zdu_lease_forget(struct zdu_lease *l);
/* Lets the lease go now (its keys with it) instead of at the end of its
 * TTL, and forgets it; cb gets etcd's answer. -1 when no lease is held or
 * the request cannot start: cb never runs. */
int zdu_lease_revoke(struct zdu_lease *l, zdu_etcd_cb cb, void *data);
/* No callback after this; frees itself in its timer's close callback.
 * Call it before freeing etcd, in the same loop turn: zdu_etcd_free() ends
 * a request in flight without calling back. */
void zdu_lease_close(struct zdu_lease *l);
#endif
