/* A coordinator plan: zdu_plan_load_string() runs the loader and checks of
 * zdu_plan_load(); a plan that loads is digested (for the journal) and
 * freed as the coordinator does. Found once: this harness checked a
 * cutover's groups on the whole plan, where a plan with services keeps them
 * in its passes. */
#include "fuzz_common.h"
#include "zdu/plan.h"

/* What the coordinator relies on in every pass q (a plan without services
 * is its own pass): nodes, backends, each backend's min_ready below the
 * nodes serving it and, in a cutover, two groups that each hold min_ready. */
static void check_pass(const struct zdu_plan *p, const struct zdu_plan *q, size_t qi)
{
	size_t i, k, first = 0;

	FUZZ_CHECK(q->whole == p, "pass %zu: not of this plan", qi);
	FUZZ_CHECK(q->nnodes > 0 && q->nodes && q->nbackends > 0 && q->backends, "pass %zu: %zu nodes, %zu backends",
		   qi, q->nnodes, q->nbackends);
	FUZZ_CHECK(q->min_ready >= 0 && (size_t)q->min_ready < q->nnodes, "pass %zu: min_ready %d of %zu nodes", qi,
		   q->min_ready, q->nnodes);
	for (k = 0; k < q->nbackends; k++) {
		size_t serving = 0;

		FUZZ_CHECK(q->backends[k].backend && q->backends[k].backend[0], "pass %zu: backend %zu unnamed", qi, k);
		for (i = 0; i < q->nnodes; i++)
			serving += q->nodes[i].servers[k] != NULL;
		FUZZ_CHECK(serving > 0 && q->backends[k].min_ready >= 0 && (size_t)q->backends[k].min_ready < serving,
			   "pass %zu: %s min_ready %d with %zu serving", qi, q->backends[k].backend,
			   q->backends[k].min_ready, serving);
	}
	for (i = 0; i < q->nnodes; i++) {
		FUZZ_CHECK(q->nodes[i].name && q->nodes[i].agent && q->nodes[i].index < p->nnodes,
			   "pass %zu: node %zu incomplete", qi, i);
		first += q->nodes[i].first_group != 0;
	}
	if (q->strategy != ZDU_STRATEGY_CUTOVER)
		return;
	FUZZ_CHECK(first > 0 && first < q->nnodes, "pass %zu: cutover group of %zu/%zu", qi, first, q->nnodes);
	FUZZ_CHECK((size_t)q->min_ready <= first && (size_t)q->min_ready <= q->nnodes - first,
		   "pass %zu: min_ready %d, groups of %zu and %zu", qi, q->min_ready, first, q->nnodes - first);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zdu_plan p;
	char err[512];
	char *text = fuzz_strndup(data, size);
	enum zdu_err rc;
	size_t i;

	err[0] = '\0';
	rc = zdu_plan_load_string(text, "fuzz.plan", &p, err, sizeof(err));
	free(text);
	if (rc != ZDU_OK) {
		FUZZ_CHECK(err[0], "failed (%d) without a message", (int)rc);
		FUZZ_CHECK(strnlen(err, sizeof(err)) < sizeof(err), "message not terminated");
		return 0;
	}
	FUZZ_CHECK(p.backend && p.backend[0], "no backend");
	FUZZ_CHECK(p.journal && p.journal[0] == '/', "journal \"%s\"", p.journal ? p.journal : "(null)");
	FUZZ_CHECK(p.lock && p.lock[0], "no lock path");
	FUZZ_CHECK(p.nlbs > 0 && p.lbs && p.nnodes > 0 && p.nodes, "%zu lbs, %zu nodes", p.nlbs, p.nnodes);
	FUZZ_CHECK(p.ssh_command.n > 0, "empty ssh_command");
	for (i = 0; i < p.nnodes; i++)
		FUZZ_CHECK(p.nodes[i].name && p.nodes[i].server && p.nodes[i].server[0] && p.nodes[i].agent,
			   "node %zu incomplete", i);
	/* the passes: a plan's own (no services), or one per service or node unit */
	FUZZ_CHECK(p.nservices ? p.npasses > 0 && p.passes : p.npasses == 0, "%zu services, %zu passes",
		   p.nservices, p.npasses);
	if (!p.nservices)
		check_pass(&p, &p, 0);
	for (i = 0; i < p.npasses; i++)
		check_pass(&p, &p.passes[i], i);
	(void)zdu_plan_digest(&p);
	zdu_plan_free(&p);
	return 0;
}
