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

/* A window command's state: NULL when the plan has none. scope: the
 * journal's node ("" for the plan's, "SERVICE/" for a service's). */
static const char *window_state(const struct zdu_journal *j, const char *cmd, const char *scope, const char *step)
{
	if (!cmd || !cmd[0])
		return NULL;
	return zdu_journal_has(j, scope, step) ? "done" : "not run";
}

static void window_line(const struct zdu_coord_opts *opts, const char *label, const char *state, int before)
{
	if (state && !opts->json)
		printf("  %-16s %s\n", label,
		       !strcmp(state, "done") ? "done" : before ? "not run yet" : "not run yet (runs once every node is back)");
}

/* Where the rollout stands, node by node (and with services, pass by pass). */
struct tally {
	size_t done, total;
	char stopped[160];
	const char *stopped_step;
	json_t *steps;
};

/* One pass's nodes: their last step (journal key "SCOPE/NODE" in a
 * service's pass). */
static void pass_report(const struct zdu_plan *q, const struct zdu_coord_opts *opts, const struct zdu_journal *j,
			struct tally *t)
{
	char key[160];
	size_t i;

	for (i = 0; i < q->nnodes; i++) {
		const char *n = q->nodes[i].name, *s;

		if (q->scope && q->scope[0])
			snprintf(key, sizeof(key), "%s/%s", q->scope, n);
		else
			snprintf(key, sizeof(key), "%s", n);
		s = last_step(j, key);
		t->total++;
		if (!strcmp(s, "done")) {
			t->done++;
		} else if (*s && strcmp(s, "capacity-short") != 0 && !t->stopped[0]) {
			if (q->service)
				snprintf(t->stopped, sizeof(t->stopped), "%s (service %s)", n, q->service->name);
			else
				snprintf(t->stopped, sizeof(t->stopped), "%s", n);
			t->stopped_step = s;
		}
		json_array_append_new(t->steps, json_pack("{s:s,s:s?,s:s,s:s}", "node", n, "service",
							  q->service ? q->service->name : NULL, "last_step", s, "state",
							  meaning(s)));
		if (!opts->json)
			printf("  %-16s %s\n", q->service ? key : n, meaning(s));
	}
}

static void service_windows(const struct zdu_plan *plan, const struct zdu_plan_service *sv,
			    const struct zdu_coord_opts *opts, const struct zdu_journal *j, int before)
{
	char scope[80], label[120];

	snprintf(scope, sizeof(scope), "%s/", sv->name);
	snprintf(label, sizeof(label), "%s %s", sv->name, before ? "before_command" : "after_command");
	(void)plan;
	window_line(opts, label, window_state(j, before ? sv->before_command : sv->after_command, scope,
					      before ? "before" : "after"),
		    before);
}

static int report(const struct zdu_plan *plan, const struct zdu_coord_opts *opts, const struct zdu_journal *j,
		  const char *name)
{
	const char *before = window_state(j, plan->before_command, "", "before");
	const char *after = window_state(j, plan->after_command, "", "after");
	struct tally t = { 0, 0, "", "", json_array() };
	const char *stopped;
	size_t k;
	char next[1024];

	window_line(opts, "before_command", before, 1);
	if (!plan->npasses) {
		pass_report(plan, opts, j, &t);
	} else if (plan->unit == ZDU_UNIT_SERVICE) {
		for (k = 0; k < plan->npasses; k++) {
			if (!opts->json)
				printf(" service %s (backend %s, %s):\n", plan->passes[k].service->name,
				       plan->passes[k].backend,
				       plan->passes[k].strategy == ZDU_STRATEGY_CUTOVER ? "cutover" : "rolling");
			service_windows(plan, plan->passes[k].service, opts, j, 1);
			pass_report(&plan->passes[k], opts, j, &t);
			service_windows(plan, plan->passes[k].service, opts, j, 0);
		}
	} else {
		for (k = 0; k < plan->nservices; k++)
			service_windows(plan, &plan->services[k], opts, j, 1);
		pass_report(&plan->passes[0], opts, j, &t);
		for (k = 0; k < plan->nservices; k++)
			service_windows(plan, &plan->services[k], opts, j, 0);
	}
	window_line(opts, "after_command", after, 0);
	stopped = t.stopped[0] ? t.stopped : NULL;
	if (j->finished)
		snprintf(next, sizeof(next), "nothing: the rollout is complete");
	else if (t.done == t.total && after && strcmp(after, "done") != 0)
		snprintf(next, sizeof(next),
			 "every node is upgraded and back; after_command has not succeeded yet: continue with: "
			 "zdu-coordinator --plan %s --resume (it runs only after_command)",
			 opts->plan_path);
	else if (stopped && strcmp(t.stopped_step, "cleared") != 0)
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
				      j->finished, "nodes_done", (json_int_t)t.done, "nodes", (json_int_t)t.total,
				      "node", stopped, "last_step", stopped ? t.stopped_step : NULL, "steps", t.steps,
				      "next", next, "before", before, "after", after);

		json_dumpf(o, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(o);
	} else {
		json_decref(t.steps);
		printf("%s: %s, %zu of %zu %s done\nnext: %s\n", name,
		       j->finished ? "complete" : j->n ? "stopped (not running, or running now)" : "not started",
		       t.done, t.total, plan->npasses && plan->unit == ZDU_UNIT_SERVICE ? "service nodes" : t.total == 1 ? "node" : "nodes", next);
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
	if (!opts->json && plan->nservices)
		printf("plan %s (unit %s, %zu service%s, %zu node%s)\n", opts->plan_path,
		       plan->unit == ZDU_UNIT_NODE ? "node" : "service", plan->nservices, plan->nservices == 1 ? "" : "s",
		       plan->nnodes, plan->nnodes == 1 ? "" : "s");
	else if (!opts->json)
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
