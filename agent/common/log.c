#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "zdu/log.h"

static enum zdu_log_level log_level = ZDU_LOG_INFO;
static int log_syslog;

static const char *const level_names[] = {
	[ZDU_LOG_ERROR] = "error",
	[ZDU_LOG_WARNING] = "warning",
	[ZDU_LOG_NOTICE] = "notice",
	[ZDU_LOG_INFO] = "info",
	[ZDU_LOG_DEBUG] = "debug",
};

void zdu_log_set_level(enum zdu_log_level level) { log_level = level; }
enum zdu_log_level zdu_log_get_level(void) { return log_level; }

void zdu_log_use_syslog(const char *ident)
{
	openlog(ident, LOG_PID, LOG_DAEMON);
	log_syslog = 1;
}

int zdu_log_level_parse(const char *name)
{
	int i;

	for (i = ZDU_LOG_ERROR; i <= ZDU_LOG_DEBUG; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

const char *zdu_log_level_name(enum zdu_log_level level)
{
	if (level < ZDU_LOG_ERROR || level > ZDU_LOG_DEBUG)
		return "?";
	return level_names[level];
}

void zdu_log(enum zdu_log_level level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (log_syslog) {
		syslog((int)level, "%s", msg);
	} else if (getenv("JOURNAL_STREAM")) {
		/* The journal reads the "<N>" prefix as the priority. */
		fprintf(stderr, "<%d>%s\n", (int)level, msg);
	} else {
		struct timespec ts;
		struct tm tm;
		char when[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ %s: %s\n", when, ts.tv_nsec / 1000000L,
			zdu_log_level_name(level), msg);
	}
}
