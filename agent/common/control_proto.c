#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/common.h"
#include "zdu/config.h"
#include "zdu/control_proto.h"
#include "zdu/flag.h"

static const char *const cmd_names[] = {
	[ZDU_CTL_STATUS] = "status",
	[ZDU_CTL_SYNC] = "sync",
	[ZDU_CTL_WAIT_DRAINED] = "wait-drained",
	[ZDU_CTL_PING] = "ping",
	[ZDU_CTL_SET_FLAG] = "set-flag",
	[ZDU_CTL_CLEAR_FLAG] = "clear-flag",
	[ZDU_CTL_SET_ETCD_FLAG] = "set-etcd-flag",
	[ZDU_CTL_CLEAR_ETCD_FLAG] = "clear-etcd-flag",
};

const char *zdu_ctl_cmd_name(enum zdu_ctl_cmd cmd)
{
	if ((size_t)cmd >= ZDU_ARRAY_SIZE(cmd_names))
		return "?";
	return cmd_names[cmd];
}

enum zdu_err zdu_ctl_parse(const char *line, size_t len, struct zdu_ctl_req *req, char *err,
			   size_t err_size)
{
	char buf[ZDU_CTL_LINE_MAX + 1];
	char *word, *arg, *end, *save = NULL;
	size_t i;

	memset(req, 0, sizeof(*req));
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len > ZDU_CTL_LINE_MAX) {
		snprintf(err, err_size, "request line over %d bytes", ZDU_CTL_LINE_MAX);
		return ZDU_ERR_TOO_BIG;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if ((c < 0x20 && c != '\t') || c >= 0x7f) {
			snprintf(err, err_size, "byte %zu: not printable text", i);
			return ZDU_ERR_PROTO;
		}
	}
	memcpy(buf, line, len);
	buf[len] = '\0';

	word = strtok_r(buf, " \t", &save);
	if (!word) {
		snprintf(err, err_size, "empty request");
		return ZDU_ERR_PROTO;
	}
	for (i = 0; i < ZDU_ARRAY_SIZE(cmd_names); i++)
		if (strcmp(word, cmd_names[i]) == 0)
			break;
	if (i == ZDU_ARRAY_SIZE(cmd_names)) {
		snprintf(err, err_size, "unknown command \"%.32s\"", word);
		return ZDU_ERR_PROTO;
	}
	req->cmd = (enum zdu_ctl_cmd)i;
	arg = strtok_r(NULL, " \t", &save);
	if (arg && strncmp(arg, "service=", 8) == 0) {
		if (req->cmd == ZDU_CTL_PING) {
			snprintf(err, err_size, "%s: takes no service=", cmd_names[req->cmd]);
			return ZDU_ERR_PROTO;
		}
		if (!zdu_service_name_valid(arg + 8, strlen(arg + 8))) {
			snprintf(err, err_size, "%s: service=\"%.64s\": a service name is 1 to 63 of A-Z a-z 0-9 . _ -",
				 cmd_names[req->cmd], arg + 8);
			return ZDU_ERR_PROTO;
		}
		zdu_strlcpy(req->service, arg + 8, sizeof(req->service));
		arg = strtok_r(NULL, " \t", &save);
	}
	if (req->cmd == ZDU_CTL_SET_FLAG || req->cmd == ZDU_CTL_SET_ETCD_FLAG) {
		int m = arg ? zdu_flag_mode_parse(arg) : -1;
		const char *rest = save;

		if (m <= 0) {
			snprintf(err, err_size, "%s: mode must be drain, maint or lb", cmd_names[req->cmd]);
			return ZDU_ERR_PROTO;
		}
		req->mode = (enum zdu_flag_mode)m;
		/* The reason is the rest of the line, spaces included. */
		while (rest && (*rest == ' ' || *rest == '\t'))
			rest++;
		if (rest)
			zdu_text_sanitize(req->reason, sizeof(req->reason), rest, strlen(rest));
		return ZDU_OK;
	}
	if (arg && strtok_r(NULL, " \t", &save)) {
		snprintf(err, err_size, "%.32s: too many arguments", word);
		return ZDU_ERR_PROTO;
	}
	if (req->cmd == ZDU_CTL_WAIT_DRAINED) {
		if (!arg) {
			snprintf(err, err_size, "wait-drained: needs a timeout in milliseconds");
			return ZDU_ERR_PROTO;
		}
		errno = 0;
		req->arg_ms = strtoll(arg, &end, 10);
		if (errno || *end || req->arg_ms < 0 || req->arg_ms > 86400000LL) {
			snprintf(err, err_size, "wait-drained: \"%.32s\" is not 0 to 86400000 ms", arg);
			return ZDU_ERR_PROTO;
		}
	} else if (arg) {
		snprintf(err, err_size, "%s: takes no argument", word);
		return ZDU_ERR_PROTO;
	}
	return ZDU_OK;
}

int zdu_flag_etcd_shows(json_t *status, int64_t revision, int present, char *why, size_t why_size)
{
	return zdu_flag_etcd_shows_key(status, NULL, revision, present, why, why_size);
}

int zdu_flag_etcd_shows_key(json_t *status, const char *service, int64_t revision, int present, char *why,
			    size_t why_size)
{
	json_t *fe = json_object_get(json_object_get(status, "flag"), "etcd");
	json_t *node = service ? json_object_get(json_object_get(fe, "services"), service)
			       : json_object_get(json_object_get(fe, "keys"), "node");
	json_int_t rev = json_integer_value(json_object_get(node, "revision"));
	char what[96];

	if (!json_is_object(fe)) {
		snprintf(why, why_size, "the agent does not use etcd");
		return 0;
	}
	if (service)
		snprintf(what, sizeof(what), "service %.64s's key", service);
	else
		snprintf(what, sizeof(what), "node key");
	if (!json_is_object(node)) {
		snprintf(why, why_size, "the agent watches no %s (no such service there, or an older agent)", what);
		return 0;
	}
	if (rev < revision) {
		snprintf(why, why_size, "the agent has the %s at revision %lld, the write is at %lld", what,
			 (long long)rev, (long long)revision);
		return 0;
	}
	if (json_is_true(json_object_get(node, "present")) != present) {
		snprintf(why, why_size, "the agent's %s is %s", what, present ? "absent" : "set");
		return 0;
	}
	return 1;
}
