/* zdu-coordinator --status --plan FILE: reads the journal (the plan's file,
 * or its key in etcd) without taking the lock or changing anything, and
 * says where the rollout stands, node by node, and what to do next. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/common.h"
#include "zdu/coord_etcd.h"
#include "zdu/coordinator.h"
#include "zdu/journal.h"
#include "zdu/plan.h"

static void no_stored(const char *err, void *data)
{
	(void)err;
	(void)data;
}

static void no_lost(const char *why, void *data)
{
	(void)why;
	(void)data;
}

/* The journal's text (malloc'd; NULL and 0 when there is none). */
static int read_journal(const struct zdu_plan *plan, char **text, size_t *len, char *name, size_t name_size,
			char *err, size_t err_size)
{
	*text = NULL;
	*len = 0;
	if (plan->etcd_endpoints.n) {
		uv_loop_t loop;
		struct zdu_coord_etcd *ce;
		int rc;

		uv_loop_init(&loop);
		ce = zdu_coord_etcd_new(&loop, plan, no_stored, no_lost, NULL, err, err_size);
		if (!ce) {
			uv_loop_close(&loop);
			return -1;
		}
		snprintf(name, name_size, "etcd %s", zdu_coord_etcd_journal_key(ce));
		rc = zdu_coord_etcd_journal_read(ce, text, len, err, err_size);
		zdu_coord_etcd_free(ce);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		return rc;
	}
	snprintf(name, name_size, "%s", plan->journal);
	{
		FILE *f = fopen(plan->journal, "r");
		long n;

		if (!f)
			return errno == ENOENT ? 0 : (snprintf(err, err_size, "%s: %s", plan->journal, strerror(errno)), -1);
		if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0 ||
		    !(*text = malloc((size_t)n + 1)) || fread(*text, 1, (size_t)n, f) != (size_t)n) {
			snprintf(err, err_size, "%s: cannot read it", plan->journal);
			fclose(f);
			free(*text);
			*text = NULL;
			return -1;
		}
		fclose(f);
		(*text)[n] = '\0';
		*len = (size_t)n;
	}
	return 0;
}

/* The last step the journal recorded for node ("" when none). */
static const char *last_step(const struct zdu_journal *j, const char *node)
{
	const char *s = "";
	size_t i;

	for (i = 0; i < j->n; i++)
		if (!strcmp(j->e[i].node, node))
			s = j->e[i].step;
	return s;
}

static const char *meaning(const char *step)
{
	if (!*step || !strcmp(step, "capacity-short"))
		return "not started";
	if (!strcmp(step, "done"))
		return "done: upgraded and back in service";
	if (!strcmp(step, "cleared"))
		return "upgraded, flag cleared, not yet seen back up";
	if (!strcmp(step, "flagged"))
		return "in maintenance (flag set), not yet drained";
	if (!strcmp(step, "drained"))
		return "in maintenance, drained, not yet upgraded";
	if (!strcmp(step, "upgraded"))
		return "in maintenance, upgraded, not yet healthy";
	if (!strcmp(step, "healthy"))
		return "in maintenance, upgraded and healthy";
	return step;
}

/* A window command's state: NULL when the plan has none. */
static const char *window_state(const struct zdu_journal *j, const char *cmd, const char *step)
{
	if (!cmd || !cmd[0])
		return NULL;
	return zdu_journal_has(j, "", step) ? "done" : "not run";
}

static int report(const struct zdu_plan *plan, const struct zdu_coord_opts *opts, const struct zdu_journal *j,
		  const char *name)
{
	const char *stopped = NULL, *stopped_step = "";
	const char *before = window_state(j, plan->before_command, "before");
	const char *after = window_state(j, plan->after_command, "after");
	size_t i, done = 0;
	json_t *nodes = json_array();
	char next[1024];

	if (before && !opts->json)
		printf("  %-16s %s\n", "before_command", !strcmp(before, "done") ? "done" : "not run yet");
	for (i = 0; i < plan->nnodes; i++) {
		const char *n = plan->nodes[i].name, *s = last_step(j, n);

		if (!strcmp(s, "done"))
			done++;
		else if (*s && strcmp(s, "capacity-short") != 0 && !stopped) {
			stopped = n;
			stopped_step = s;
		}
		json_array_append_new(nodes, json_pack("{s:s,s:s,s:s}", "node", n, "last_step", s, "state", meaning(s)));
		if (!opts->json)
			printf("  %-16s %s\n", n, meaning(s));
	}
	if (after && !opts->json)
		printf("  %-16s %s\n", "after_command",
		       !strcmp(after, "done") ? "done" : "not run yet (runs once every node is back)");
	if (j->finished)
		snprintf(next, sizeof(next), "nothing: the rollout is complete");
	else if (done == plan->nnodes && after && strcmp(after, "done") != 0)
		snprintf(next, sizeof(next),
			 "every node is upgraded and back; after_command has not succeeded yet: continue with: "
			 "zdu-coordinator --plan %s --resume (it runs only after_command)",
			 opts->plan_path);
	else if (stopped && strcmp(stopped_step, "cleared") != 0)
		snprintf(next, sizeof(next),
			 "%s is left in maintenance (drained). Find why the run stopped (its output, zdu-agent "
			 "--status on %s), then continue with: zdu-coordinator --plan %s --resume",
			 stopped, stopped, opts->plan_path);
	else if (stopped)
		snprintf(next, sizeof(next), "%s's flag is cleared; continue with: zdu-coordinator --plan %s --resume",
			 stopped, opts->plan_path);
	else if (j->n)
		snprintf(next, sizeof(next), "continue with: zdu-coordinator --plan %s --resume", opts->plan_path);
	else
		snprintf(next, sizeof(next), "start it: zdu-coordinator --plan %s", opts->plan_path);
	if (opts->json) {
		json_t *o = json_pack("{s:s,s:s,s:b,s:I,s:I,s:s?,s:s?,s:o,s:s,s:s?,s:s?}", "journal", name, "state",
				      j->finished ? "complete" : j->n ? "stopped" : "not started", "finished",
				      j->finished, "nodes_done", (json_int_t)done, "nodes", (json_int_t)plan->nnodes,
				      "node", stopped, "last_step", stopped ? stopped_step : NULL, "steps", nodes,
				      "next", next, "before", before, "after", after);

		json_dumpf(o, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(o);
	} else {
		json_decref(nodes);
		printf("%s: %s, %zu of %zu node%s done\nnext: %s\n", name,
		       j->finished ? "complete" : j->n ? "stopped (not running, or running now)" : "not started",
		       done, plan->nnodes, plan->nnodes == 1 ? "" : "s", next);
	}
	return ZDU_COORD_OK;
}

int zdu_coordinator_status(const struct zdu_plan *plan, const struct zdu_coord_opts *opts)
{
	struct zdu_journal j;
	char *text, err[1024], name[600];
	size_t len;
	int rc;

	memset(&j, 0, sizeof(j));
	j.fd = -1;
	if (read_journal(plan, &text, &len, name, sizeof(name), err, sizeof(err)) < 0) {
		fprintf(stderr, "zdu-coordinator: %s\n", err);
		return ZDU_COORD_FAILED;
	}
	if (!opts->json)
		printf("plan %s (backend %s, %zu node%s)\n", opts->plan_path, plan->backend, plan->nnodes,
		       plan->nnodes == 1 ? "" : "s");
	if (text && zdu_journal_parse(&j, text, len, err, sizeof(err)) != ZDU_OK) {
		fprintf(stderr, "zdu-coordinator: %s: %s\n", name, err);
		free(text);
		zdu_journal_close(&j);
		return ZDU_COORD_FAILED;
	}
	free(text);
	if (j.n || j.digest) {
		if (j.digest && j.digest != zdu_plan_digest(plan)) {
			fprintf(stderr, "zdu-coordinator: %s records another plan (its nodes or backend differ)\n", name);
			zdu_journal_close(&j);
			return ZDU_COORD_FAILED;
		}
	}
	rc = report(plan, opts, &j, name);
	zdu_journal_close(&j);
	return rc;
}
