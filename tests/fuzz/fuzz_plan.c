/* A coordinator plan: zdu_plan_load_string() runs the loader and checks of
 * zdu_plan_load(); a plan that loads is digested (for the journal) and
 * freed as the coordinator does. */
#include "fuzz_common.h"
#include "zdu/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zdu_plan p;
	char err[512];
	char *text = fuzz_strndup(data, size);
	enum zdu_err rc;
	size_t i, first = 0;

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
	FUZZ_CHECK(p.min_ready >= 0 && (size_t)p.min_ready < p.nnodes, "min_ready %d of %zu nodes",
		   p.min_ready, p.nnodes);
	for (i = 0; i < p.nnodes; i++) {
		FUZZ_CHECK(p.nodes[i].name && p.nodes[i].server && p.nodes[i].server[0] && p.nodes[i].agent,
			   "node %zu incomplete", i);
		first += p.nodes[i].first_group != 0;
	}
	if (p.strategy == ZDU_STRATEGY_CUTOVER)
		FUZZ_CHECK(first > 0 && first < p.nnodes, "cutover group of %zu/%zu", first, p.nnodes);
	(void)zdu_plan_digest(&p);
	zdu_plan_free(&p);
	return 0;
}
