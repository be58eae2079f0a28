/* The coordinator's journal: one JSON object per line, appended and
 * fsynced after each finished step, so --resume continues after an
 * interruption without repeating finished nodes or upgrades. The first
 * line names the plan (a digest of backend and ordered nodes): a journal
 * is never resumed against another plan. */
#ifndef ZDU_JOURNAL_H
#define ZDU_JOURNAL_H

#include <stddef.h>

#include "zdu/error.h"

struct zdu_journal_entry {
	char *node;
	char *step;
};

struct zdu_journal {
	char *path;   /* a file, or "etcd KEY" */
	int fd;       /* -1: kept in memory only; the caller stores text (etcd) */
	char *text;   /* every line so far, as stored */
	size_t text_len;
	unsigned long digest;
	struct zdu_journal_entry *e;
	size_t n;
	int finished; /* the journal ends with the rollout's "end" */
};

/* Opens (creating) the journal. Without resume, an unfinished rollout in
 * the file is an error (ZDU_ERR_EXISTS); a finished one is replaced. With
 * resume, entries are loaded (j->finished says the rollout is complete);
 * another plan's unfinished journal is ZDU_ERR_PARSE. */
enum zdu_err zdu_journal_open(struct zdu_journal *j, const char *path, unsigned long digest, int resume,
			      char *err, size_t err_size);
/* The same, from text read elsewhere (etcd): nothing is written; after each
 * record the caller stores j->text. name is for messages. */
enum zdu_err zdu_journal_open_text(struct zdu_journal *j, const char *name, const char *text, size_t len,
				   unsigned long digest, int resume, char *err, size_t err_size);
int zdu_journal_has(const struct zdu_journal *j, const char *node, const char *step);
enum zdu_err zdu_journal_record(struct zdu_journal *j, const char *node, const char *step, char *err,
				size_t err_size);
void zdu_journal_close(struct zdu_journal *j);

/* Parses journal text (for tests and the fuzzer): fills j->e, j->digest,
 * j->finished. */
enum zdu_err zdu_journal_parse(struct zdu_journal *j, const char *text, size_t len, char *err,
			       size_t err_size);

/* Takes an exclusive lock on path (flock; released when the process dies,
 * even by SIGKILL). Returns the fd; -2 when another process holds it (err
 * names its pid); -1 when the lock file cannot be used (err says why). */
int zdu_lock_take(const char *path, char *err, size_t err_size);

#endif
