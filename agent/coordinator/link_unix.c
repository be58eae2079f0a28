/* unix:PATH: one control-socket request per call, on the loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/control_proto.h"
#include "zdu/flag.h"
#include "zdu/link-int.h"
#include "zdu/stream_req.h"

#define ANSWER_MAX (1u << 20)

struct ucall {
	zdu_link_cb cb;
	void *data;
	char path[108];
};

/* The answer is one JSON line: {"ok": true, ...} or {"ok": false, "error"}. */
static void ucall_done(const struct zdu_sreq_result *res, void *data)
{
	struct ucall *u = data;
	json_t *st = NULL;
	const char *err = NULL;
	char msg[256];

	switch (res->status) {
	case ZDU_SREQ_OK: {
		json_error_t jerr;

		st = json_loadb(res->answer, res->len, JSON_DISABLE_EOF_CHECK, &jerr);
		if (!json_is_object(st)) {
			snprintf(msg, sizeof(msg), "control socket %s: bad answer: %s", u->path, jerr.text);
			err = msg;
		} else if (!json_is_true(json_object_get(st, "ok"))) {
			json_t *e = json_object_get(st, "error");

			snprintf(msg, sizeof(msg), "control socket %s: %s", u->path,
				 json_is_string(e) ? json_string_value(e) : "request refused");
			err = msg;
		}
		break;
	}
	case ZDU_SREQ_IO:
		snprintf(msg, sizeof(msg), "control socket %s: %s: %s", u->path, res->what,
			 uv_strerror(res->uv_err));
		err = msg;
		break;
	case ZDU_SREQ_TIMEOUT:
		snprintf(msg, sizeof(msg), "control socket %s: no answer in time", u->path);
		err = msg;
		break;
	case ZDU_SREQ_TOO_LONG:
		err = "answer too long";
		break;
	}
	u->cb(err ? NULL : st, err, u->data);
	json_decref(st);
	free(u);
}

static int unix_call(struct zdu_link *l, enum zdu_link_op op, const char *service, enum zdu_flag_mode mode,
		     const char *reason, zdu_link_cb cb, void *data)
{
	char req[ZDU_CTL_LINE_MAX + 2], svc[80] = "";
	struct zdu_sreq rq = { NULL, NULL, req, (unsigned)l->plan->request_timeout_ms, ANSWER_MAX, 1 };
	struct ucall *u = calloc(1, sizeof(*u));

	if (!u)
		return -1;
	if (service)
		snprintf(svc, sizeof(svc), "service=%.63s ", service);
	switch (op) {
	case ZDU_LINK_STATUS:
		snprintf(req, sizeof(req), "status\n");
		break;
	case ZDU_LINK_SET_FLAG:
		snprintf(req, sizeof(req), "set-flag %s%s %.*s\n", svc, zdu_flag_mode_name(mode), ZDU_REASON_MAX - 1,
			 reason ? reason : "");
		break;
	case ZDU_LINK_CLEAR_FLAG:
		snprintf(req, sizeof(req), "clear-flag%s%.*s\n", service ? " " : "", (int)(service ? strlen(svc) - 1 : 0),
			 svc);
		break;
	}
	snprintf(u->path, sizeof(u->path), "%s", l->target);
	u->cb = cb;
	u->data = data;
	rq.path = u->path;
	if (zdu_stream_request(l->loop, &rq, ucall_done, u) < 0) {
		free(u);
		return -1;
	}
	return 0;
}

const struct zdu_link_ops zdu_link_unix_ops = { "unix", unix_call, NULL };
