/* The coordinator's journal (--resume reads back what an interrupted run
 * wrote, torn last line included): zdu_journal_parse() as
 * zdu_journal_open() calls it, then the lookups the rollout makes. The
 * struct is the one zdu_journal_open() prepares (zeroed, fd -1, no path),
 * so zdu_journal_close() frees the entries and touches no descriptor. */
#include "fuzz_common.h"
#include "zdu/journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zdu_journal j;
	char err[256];
	enum zdu_err rc;
	size_t i;

	memset(&j, 0, sizeof(j));
	j.fd = -1;
	err[0] = '\0';
	rc = zdu_journal_parse(&j, (const char *)data, size, err, sizeof(err));
	if (rc != ZDU_OK)
		FUZZ_CHECK(rc == ZDU_ERR_NOMEM || err[0], "failed (%d) without a message", (int)rc);
	FUZZ_CHECK(j.n == 0 || j.e, "%zu entries, no array", j.n);
	for (i = 0; i < j.n; i++) {
		FUZZ_CHECK(j.e[i].node && j.e[i].step, "entry %zu incomplete", i);
		FUZZ_CHECK(zdu_journal_has(&j, j.e[i].node, j.e[i].step), "entry %zu not found", i);
	}
	(void)zdu_journal_has(&j, "n1", "upgraded");
	zdu_journal_close(&j);
	FUZZ_CHECK(j.e == NULL && j.n == 0 && j.fd == -1 && j.path == NULL, "close left state behind");
	return 0;
}
