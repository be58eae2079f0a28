/* The rollout's progress in Prometheus's text format, for node_exporter's
 * textfile collector. Steps are told apart by (node, step): a new pair ends
 * the previous one, whose duration is kept; the journal's finished steps
 * count nodes done. A short synchronous atomic write at each change: the
 * coordinator changes step a few times per node, never in a hot path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "zdu/common.h"
#include "zdu/coord_progress.h"

#define MAX_STEPS 512 /* finished steps kept with their durations */

struct step_time {
	char node[64], step[32];
	double seconds;
};

struct zdu_coord_progress {
	char *path;
	char plan[128], backend[128], strategy[16];
	size_t nnodes, done;
	double started, changed;
	char node[64], step[32]; /* current */
	double step_started;
	struct step_time steps[MAX_STEPS];
	size_t nsteps;
	const char *result; /* running, done, failed */
	int warned;
};

static double now_s(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

/* Label values here are names from the plan: printable, but escaped anyway. */
static void label(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void plan_sample(FILE *f, const struct zdu_coord_progress *p, const char *name, double v)
{
	fprintf(f, "%s{plan=\"", name);
	label(f, p->plan);
	fprintf(f, "\"} %.15g\n", v);
}

char *zdu_coord_progress_render(const struct zdu_coord_progress *p)
{
	static const char *const results[] = { "running", "done", "failed" };
	char *text = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	head(f, "zdu_coordinator_rollout_info", "gauge", "The rollout's plan, backend and strategy; always 1.");
	fprintf(f, "zdu_coordinator_rollout_info{plan=\"");
	label(f, p->plan);
	fprintf(f, "\",backend=\"");
	label(f, p->backend);
	fprintf(f, "\",strategy=\"%s\"} 1\n", p->strategy);
	head(f, "zdu_coordinator_rollout_running", "gauge", "1 while the coordinator runs the rollout.");
	plan_sample(f, p, "zdu_coordinator_rollout_running", !strcmp(p->result, "running"));
	head(f, "zdu_coordinator_rollout_result", "gauge", "How the rollout stands (running, done, failed), one-hot.");
	for (i = 0; i < ZDU_ARRAY_SIZE(results); i++) {
		fprintf(f, "zdu_coordinator_rollout_result{plan=\"");
		label(f, p->plan);
		fprintf(f, "\",result=\"%s\"} %d\n", results[i], !strcmp(p->result, results[i]));
	}
	head(f, "zdu_coordinator_rollout_start_time_seconds", "gauge", "When the run started.");
	plan_sample(f, p, "zdu_coordinator_rollout_start_time_seconds", p->started);
	head(f, "zdu_coordinator_last_change_timestamp_seconds", "gauge", "When the rollout last changed step.");
	plan_sample(f, p, "zdu_coordinator_last_change_timestamp_seconds", p->changed);
	head(f, "zdu_coordinator_nodes", "gauge", "Nodes in the plan.");
	plan_sample(f, p, "zdu_coordinator_nodes", (double)p->nnodes);
	head(f, "zdu_coordinator_nodes_done", "gauge", "Nodes upgraded and back in this run.");
	plan_sample(f, p, "zdu_coordinator_nodes_done", (double)p->done);
	if (p->step[0]) {
		head(f, "zdu_coordinator_node_step", "gauge",
		     "The step in progress (or where the rollout stopped), as labels (node \"\" for the rollout's "
		     "own steps: before, switch, after); always 1.");
		fprintf(f, "zdu_coordinator_node_step{plan=\"");
		label(f, p->plan);
		fprintf(f, "\",node=\"");
		label(f, p->node);
		fprintf(f, "\",step=\"%s\"} 1\n", p->step);
		head(f, "zdu_coordinator_step_start_timestamp_seconds", "gauge", "When the step in progress began.");
		plan_sample(f, p, "zdu_coordinator_step_start_timestamp_seconds", p->step_started);
	}
	if (p->nsteps) {
		head(f, "zdu_coordinator_step_duration_seconds", "gauge",
		     "How long each finished step took (node \"\": before, switch, after).");
		for (i = 0; i < p->nsteps; i++) {
			fprintf(f, "zdu_coordinator_step_duration_seconds{plan=\"");
			label(f, p->plan);
			fprintf(f, "\",node=\"");
			label(f, p->steps[i].node);
			fprintf(f, "\",step=\"%s\"} %.3f\n", p->steps[i].step, p->steps[i].seconds);
		}
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static void store(struct zdu_coord_progress *p)
{
	char *text = zdu_coord_progress_render(p), err[256];

	if (!text)
		return;
	if (zdu_file_write_atomic(p->path, text, strlen(text), 0644, err, sizeof(err)) != 0 && !p->warned) {
		fprintf(stderr, "zdu-coordinator: progress textfile: %s\n", err);
		p->warned = 1;
	}
	free(text);
}

struct zdu_coord_progress *zdu_coord_progress_new(const char *dir, const char *plan, const char *backend,
						  const char *strategy, size_t nnodes, char *err, size_t err_size)
{
	struct zdu_coord_progress *p;
	struct stat sb;
	const char *base = strrchr(plan, '/'), *dot;

	if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		snprintf(err, err_size, "--textfile-dir %s: not a directory", dir);
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p || asprintf(&p->path, "%s/%s", dir, ZDU_COORD_TEXTFILE) < 0) {
		free(p);
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	base = base ? base + 1 : plan;
	dot = strrchr(base, '.');
	snprintf(p->plan, sizeof(p->plan), "%.*s", (int)(dot && dot != base ? dot - base : (long)strlen(base)), base);
	zdu_strlcpy(p->backend, backend, sizeof(p->backend));
	zdu_strlcpy(p->strategy, strategy, sizeof(p->strategy));
	p->nnodes = nnodes;
	p->started = p->changed = now_s();
	p->result = "running";
	store(p);
	return p;
}

static void close_step(struct zdu_coord_progress *p, double now)
{
	struct step_time *s;

	if (!p->step[0])
		return;
	if (p->nsteps == MAX_STEPS) {
		memmove(p->steps, p->steps + 1, sizeof(p->steps[0]) * (MAX_STEPS - 1));
		p->nsteps--;
	}
	s = &p->steps[p->nsteps++];
	zdu_strlcpy(s->node, p->node, sizeof(s->node));
	zdu_strlcpy(s->step, p->step, sizeof(s->step));
	s->seconds = now - p->step_started;
}

void zdu_coord_progress_event(struct zdu_coord_progress *p, const char *node, const char *step, const char *event)
{
	double now;

	(void)event;
	if (!p || !step || strcmp(p->result, "running") != 0)
		return;
	if (!node)
		node = "";
	if (!strcmp(p->node, node) && !strcmp(p->step, step))
		return;
	now = now_s();
	close_step(p, now);
	zdu_strlcpy(p->node, node, sizeof(p->node));
	zdu_strlcpy(p->step, step, sizeof(p->step));
	p->step_started = p->changed = now;
	store(p);
}

void zdu_coord_progress_step_done(struct zdu_coord_progress *p, const char *node, const char *step)
{
	if (!p || strcmp(step, "done") != 0)
		return;
	(void)node;
	p->done++;
	p->changed = now_s();
	store(p);
}

void zdu_coord_progress_end(struct zdu_coord_progress *p, int exit_code)
{
	if (!p)
		return;
	p->result = exit_code == 0 ? "done" : "failed";
	p->changed = now_s();
	/* A finished rollout's last step is over; a failed one's is where it stopped. */
	if (exit_code == 0) {
		close_step(p, p->changed);
		p->step[0] = '\0';
	}
	store(p);
}

void zdu_coord_progress_free(struct zdu_coord_progress *p)
{
	if (!p)
		return;
	free(p->path);
	free(p);
}
