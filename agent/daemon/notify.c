#include <stdio.h>

#include "zdu/notify.h"

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>

void zdu_notify_ready(const char *status) { sd_notifyf(0, "READY=1\nSTATUS=%s", status); }
void zdu_notify_status(const char *status) { sd_notifyf(0, "STATUS=%s", status); }
void zdu_notify_reloading(void) { sd_notify(0, "RELOADING=1"); }
void zdu_notify_stopping(void) { sd_notify(0, "STOPPING=1"); }
#else
void zdu_notify_ready(const char *status) { (void)status; }
void zdu_notify_status(const char *status) { (void)status; }
void zdu_notify_reloading(void) {}
void zdu_notify_stopping(void) {}
#endif
