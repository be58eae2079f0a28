/* Leveled logging to stderr (the journal under systemd) or syslog when
 * daemonized. Levels follow syslog's numbers so the journal gets them. */
#ifndef ZDU_LOG_H
#define ZDU_LOG_H

enum zdu_log_level {
	ZDU_LOG_ERROR = 3,
	ZDU_LOG_WARNING = 4,
	ZDU_LOG_NOTICE = 5,
	ZDU_LOG_INFO = 6,
	ZDU_LOG_DEBUG = 7,
};

void zdu_log_set_level(enum zdu_log_level level);
enum zdu_log_level zdu_log_get_level(void);
/* Send log lines to syslog instead of stderr (after daemonizing). */
void zdu_log_use_syslog(const char *ident);
/* Parses "error", "warning", "notice", "info", "debug"; -1 when unknown. */
int zdu_log_level_parse(const char *name);
const char *zdu_log_level_name(enum zdu_log_level level);

void zdu_log(enum zdu_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define zdu_log_error(...) zdu_log(ZDU_LOG_ERROR, __VA_ARGS__)
#define zdu_log_warn(...) zdu_log(ZDU_LOG_WARNING, __VA_ARGS__)
#define zdu_log_notice(...) zdu_log(ZDU_LOG_NOTICE, __VA_ARGS__)
#define zdu_log_info(...) zdu_log(ZDU_LOG_INFO, __VA_ARGS__)
#define zdu_log_debug(...) zdu_log(ZDU_LOG_DEBUG, __VA_ARGS__)

#endif
