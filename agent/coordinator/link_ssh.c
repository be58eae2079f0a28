/* ssh:HOST: runs `zdu-agent --status --json` (or --maintenance) on the
 * node with the system's ssh client: no home-made remote protocol, and
 * the site's ssh keys, known_hosts and jump hosts apply as they are. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/flag.h"
#include "zdu/link-int.h"
#include "zdu/spawn.h"

struct scall {
	zdu_link_cb cb;
	void *data;
	char host[256];
};

/* ssh joins its arguments into one remote shell command: quote each. */
static char *shell_quote(const char *s)
{
	size_t n = 2, i;
	char *q, *p;

	for (i = 0; s[i]; i++)
		n += s[i] == '\'' ? 4 : 1;
	q = malloc(n + 1);
	if (!q)
		return NULL;
	p = q;
	*p++ = '\'';
	for (i = 0; s[i]; i++) {
		if (s[i] == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
		} else {
			*p++ = s[i];
		}
	}
	*p++ = '\'';
	*p = '\0';
	return q;
}

static void on_done(const struct zdu_spawn_result *res, void *data)
{
	struct scall *c = data;
	json_t *st = NULL;
	json_error_t jerr;
	char msg[512];
	const char *err = NULL;

	if (res->error) {
		snprintf(msg, sizeof(msg), "ssh %s: %s", c->host, res->error);
		err = msg;
	} else if (res->timed_out) {
		snprintf(msg, sizeof(msg), "ssh %s: no answer in time", c->host);
		err = msg;
	} else {
		st = json_loadb(res->out, res->out_len, JSON_DISABLE_EOF_CHECK, &jerr);
		if (!json_is_object(st) || !json_is_true(json_object_get(st, "ok"))) {
			const char *e = res->err_len ? res->err : res->out;
			size_t n = strlen(e);

			/* The last line of what it said is the useful one. */
			while (n > 0 && (e[n - 1] == '\n' || e[n - 1] == '\r'))
				n--;
			{
				const char *nl = n ? memrchr(e, '\n', n) : NULL;
				size_t off = nl ? (size_t)(nl - e) + 1 : 0;

				snprintf(msg, sizeof(msg), "ssh %s: exit %lld: %.*s", c->host,
					 (long long)res->exit_status, (int)(n - off > 300 ? 300 : n - off), e + off);
			}
			err = msg;
		}
	}
	c->cb(err ? NULL : st, err, c->data);
	json_decref(st);
	free(c);
}

static int ssh_call(struct zdu_link *l, enum zdu_link_op op, const char *service, enum zdu_flag_mode mode,
		    const char *reason, zdu_link_cb cb, void *data)
{
	const struct zdu_plan *p = l->plan;
	char *argv[64], *quoted[8];
	size_t n = 0, nq = 0, i;
	struct scall *c;
	int rc = -1;

	if (p->ssh_command.n + 10 > sizeof(argv) / sizeof(argv[0]))
		return -1;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	c->cb = cb;
	c->data = data;
	snprintf(c->host, sizeof(c->host), "%s", l->target);
	for (i = 0; i < p->ssh_command.n; i++)
		argv[n++] = p->ssh_command.v[i];
	argv[n++] = l->target;
	argv[n++] = p->remote_agent;
	switch (op) {
	case ZDU_LINK_STATUS:
		argv[n++] = "--status";
		break;
	case ZDU_LINK_SET_FLAG:
		argv[n++] = "--maintenance";
		argv[n++] = "on";
		argv[n++] = "--mode";
		argv[n++] = (char *)zdu_flag_mode_name(mode);
		argv[n++] = "--reason";
		if (!(quoted[nq++] = shell_quote(reason ? reason : "")))
			goto out;
		argv[n++] = quoted[nq - 1];
		break;
	case ZDU_LINK_CLEAR_FLAG:
		argv[n++] = "--maintenance";
		argv[n++] = "off";
		break;
	}
	if (service) {
		/* a service name is A-Z a-z 0-9 . _ - only (the plan's check) */
		argv[n++] = "--service";
		argv[n++] = (char *)service;
	}
	argv[n++] = "--json";
	argv[n] = NULL;
	rc = zdu_spawn_run(l->loop, argv, (unsigned)p->request_timeout_ms * 2, NULL, on_done, c);
out:
	for (i = 0; i < nq; i++)
		free(quoted[i]);
	if (rc < 0)
		free(c);
	return rc;
}

const struct zdu_link_ops zdu_link_ssh_ops = { "ssh", ssh_call, NULL };
