/* The control protocol: one request line from the CLI, one JSON object
 * line back, then the daemon closes. Requests:
 *   status            the daemon's state (see zdu-agent(8))
 *   sync              re-read the flag sources now, then answer as status
 *   wait-drained MS   answer as status once the node is drained, or after MS
 *   set-flag MODE [REASON...]   write the flag file (drain|maint|lb), then as sync
 *   clear-flag        remove the flag file, then as sync
 *   set-etcd-flag [service=NAME] MODE [REASON...]   write the node's etcd
 *                     key (or, with service=, that service's key
 *                     NODE/NAME) with the daemon's own etcd credentials;
 *                     answered once etcd confirmed it:
 *                     {"ok":true,"key","revision","by"[,"service"]}
 *   clear-etcd-flag [service=NAME]   delete the node's (or the service's)
 *                     etcd key; {"ok":true,"key","revision","deleted"
 *                     [,"service"]} once etcd confirmed it
 *                     (service= is optional, so older clients' lines mean
 *                     what they meant; an older daemon refuses it)
 *   ping              {"ok":true}
 * Every request but ping takes "service=NAME" as its first argument
 * ("wait-drained service=placement 30000"): it is then about that service
 * alone (wait-drained: until it is drained; set-flag, clear-flag: its own
 * flag file; set-etcd-flag, clear-etcd-flag: its etcd key). Without it,
 * the node: every service.
 * set-flag and clear-flag let members of the socket's group (and the
 * coordinator) change the flag without write access to the state directory;
 * set-etcd-flag and clear-etcd-flag let them change the node's etcd flag
 * without the node's etcd secret (etcd.password_file), which they cannot
 * read.
 */
#ifndef ZDU_CONTROL_PROTO_H
#define ZDU_CONTROL_PROTO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "zdu/error.h"
#include "zdu/flag-t.h"
#include "zdu/control_proto-t.h"

/* Parses one request line (without its newline; a trailing '\r' is
 * accepted). On error err says what is wrong, for the error answer. */
enum zdu_err zdu_ctl_parse(const char *line, size_t len, struct zdu_ctl_req *req, char *err,
			   size_t err_size);
const char *zdu_ctl_cmd_name(enum zdu_ctl_cmd cmd);

/* Whether an agent's status (zdu-agent --status --json, or the state it
 * publishes) shows its node key present (or absent) with every change up
 * to revision applied: a writer's confirmation. why says what is missing. */
int zdu_flag_etcd_shows(json_t *status, int64_t revision, int present, char *why, size_t why_size);
/* The same for one service's key (service NULL: the node's key). */
int zdu_flag_etcd_shows_key(json_t *status, const char *service, int64_t revision, int present, char *why,
			    size_t why_size);

#endif
