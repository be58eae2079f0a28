/* zdu-coordinator's state in etcd: the lease lock (a second coordinator on
 * any host is refused; one killed with -9 releases it when its lease runs
 * out) and the journal (so --resume works from another host). Journal
 * writes are guarded by the lock: a coordinator that lost it cannot write. */
#ifndef ZDU_COORD_ETCD_H
#define ZDU_COORD_ETCD_H
#include <stddef.h>
#include <uv.h>
#include "zdu/etcd.h"
#include "zdu/plan-t.h"

struct zdu_coord_etcd;

/* stored: a journal write ended (err NULL when stored). lost: the lock's
 * lease is gone (etcd says so): stop touching the cluster. */
typedef void (*zdu_coord_etcd_stored_cb)(const char *err, void *data);
typedef void (*zdu_coord_etcd_lost_cb)(const char *why, void *data);

struct zdu_coord_etcd *zdu_coord_etcd_new(uv_loop_t *loop, const struct zdu_plan *plan,
					  zdu_coord_etcd_stored_cb stored, zdu_coord_etcd_lost_cb lost, void *data,
					  char *err, size_t err_size);
struct zdu_etcd *zdu_coord_etcd_client(struct zdu_coord_etcd *ce);
const char *zdu_coord_etcd_journal_key(const struct zdu_coord_etcd *ce);
/* These two run the loop until etcd answered: only before the rollout
 * starts. lock returns 0, -2 when another coordinator holds it (err names
 * it), -1 on error; then keeps the lease alive from the loop. */
int zdu_coord_etcd_lock(struct zdu_coord_etcd *ce, const char *plan_path, char *err, size_t err_size);
/* The journal's text (malloc'd; NULL with *len 0 when there is none). */
int zdu_coord_etcd_journal_read(struct zdu_coord_etcd *ce, char **text, size_t *len, char *err, size_t err_size);
/* Stores the whole journal (after the previous store, never before). */
int zdu_coord_etcd_journal_store(struct zdu_coord_etcd *ce, const char *text, size_t len);
int zdu_coord_etcd_busy(const struct zdu_coord_etcd *ce);
/* Releases the lock (revokes its lease, so the next coordinator need not
 * wait for the TTL) and frees; runs the loop until done. */
void zdu_coord_etcd_free(struct zdu_coord_etcd *ce);
#endif
