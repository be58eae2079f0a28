/* systemd readiness and status (sd_notify). A no-op when built without
 * libsystemd or when not started by systemd. */
#ifndef ZDU_NOTIFY_H
#define ZDU_NOTIFY_H

void zdu_notify_ready(const char *status);
void zdu_notify_status(const char *status);
void zdu_notify_reloading(void);
void zdu_notify_stopping(void);

#endif
