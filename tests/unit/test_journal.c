/* journal.c: the coordinator's journal and its lock.
 *
 *   zdu_journal_parse   header + entries, a torn last line (a crash while
 *                       appending), garbage before the end (refused, with
 *                       its line), no plan_digest, entries without a step,
 *                       the "end" entry that marks a finished rollout;
 *   zdu_journal_open    on temporary files: a fresh file gets a header; an
 *                       unfinished rollout is refused without --resume,
 *                       loaded with it, refused for another plan; a finished
 *                       one is replaced; what zdu_journal_record appends
 *                       survives a reopen;
 *   zdu_lock_take       a second take fails (flock locks belong to an open
 *                       file description, so a second open in this very
 *                       process conflicts too) and names the holder's pid;
 *                       after the holder closes, the lock can be taken.
 *
 * Texts are copied into a malloc'd buffer of exactly their length (no NUL
 * after them), so that AddressSanitizer catches a read past the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdu/journal.h"

#define HEADER "{\"time\":\"2026-01-01T00:00:00Z\",\"plan_digest\":\"1f2e3d\"}\n"
#define E_DRAINED "{\"time\":\"2026-01-01T00:00:01Z\",\"node\":\"api1\",\"step\":\"drained\"}\n"
#define E_UPGRADED "{\"time\":\"2026-01-01T00:00:02Z\",\"node\":\"api1\",\"step\":\"upgraded\"}\n"
#define E_END "{\"time\":\"2026-01-01T00:00:03Z\",\"node\":\"\",\"step\":\"end\"}\n"

/* ------------------------------------------------------------ helpers */

static void jinit(struct zdu_journal *j)
{
	memset(j, 0, sizeof(*j));
	j->fd = -1;
}

static enum zdu_err parse(struct zdu_journal *j, const char *text, char *err, size_t err_size)
{
	size_t len = strlen(text);
	char *copy = malloc(len ? len : 1);
	enum zdu_err rc;

	assert_non_null(copy);
	memcpy(copy, text, len);
	err[0] = '\0';
	rc = zdu_journal_parse(j, copy, len, err, err_size);
	free(copy);
	return rc;
}

struct tmp {
	char dir[64];
	char path[128];
};

static int setup_tmp(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/zdu-journal-XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	snprintf(t->path, sizeof(t->path), "%s/rollout.journal", t->dir);
	*state = t;
	return 0;
}

static int teardown_tmp(void **state)
{
	struct tmp *t = *state;
	char p[256];

	unlink(t->path);
	snprintf(p, sizeof(p), "%s.lock", t->path);
	unlink(p);
	rmdir(t->dir);
	free(t);
	return 0;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void spew(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* What the file holds, parsed on its own. */
static void parse_file(const char *path, struct zdu_journal *out)
{
	char err[256], *text = slurp(path);

	jinit(out);
	if (parse(out, text, err, sizeof(err)) != ZDU_OK)
		fail_msg("%s does not parse: %s\n%s", path, err, text);
	free(text);
}

/* ------------------------------------------------------------ parse */

static void test_parse_entries(void **state)
{
	struct zdu_journal j;
	char err[256];

	(void)state;
	jinit(&j);
	assert_int_equal(parse(&j, HEADER E_DRAINED E_UPGRADED, err, sizeof(err)), ZDU_OK);
	assert_int_equal(j.digest, 0x1f2e3dUL);
	assert_int_equal(j.n, 2);
	assert_false(j.finished);
	assert_string_equal(j.e[0].node, "api1");
	assert_string_equal(j.e[0].step, "drained");
	assert_string_equal(j.e[1].node, "api1");
	assert_string_equal(j.e[1].step, "upgraded");
	assert_true(zdu_journal_has(&j, "api1", "drained"));
	assert_true(zdu_journal_has(&j, "api1", "upgraded"));
	assert_false(zdu_journal_has(&j, "api1", "done"));
	assert_false(zdu_journal_has(&j, "api2", "drained"));
	assert_false(zdu_journal_has(&j, "api", "drained"));

	/* Parsing again replaces what was there (no leak: ASan). */
	assert_int_equal(parse(&j, HEADER E_DRAINED, err, sizeof(err)), ZDU_OK);
	assert_int_equal(j.n, 1);
	assert_false(zdu_journal_has(&j, "api1", "upgraded"));

	/* The header alone; the entries' other members do not matter; a
	 * missing node is "" (the rollout's own steps). */
	assert_int_equal(parse(&j, HEADER, err, sizeof(err)), ZDU_OK);
	assert_int_equal(j.n, 0);
	assert_int_equal(parse(&j,
			       "{\"plan_digest\":\"ffffffff\"}\n\n"
			       "{\"step\":\"switched\",\"extra\":[1,2]}\n"
			       "\n{\"node\":\"api2\",\"step\":\"flagged\"}",
			       err, sizeof(err)),
			 ZDU_OK);
	assert_int_equal(j.digest, 0xffffffffUL);
	assert_int_equal(j.n, 2);
	assert_string_equal(j.e[0].node, "");
	assert_string_equal(j.e[0].step, "switched");
	assert_true(zdu_journal_has(&j, "", "switched"));
	assert_true(zdu_journal_has(&j, "api2", "flagged"));

	/* Nothing at all: no entries, nothing finished. */
	assert_int_equal(parse(&j, "", err, sizeof(err)), ZDU_OK);
	assert_int_equal(j.n, 0);
	assert_false(j.finished);
	zdu_journal_close(&j);
}

static void test_parse_finished(void **state)
{
	struct zdu_journal j;
	char err[256];

	(void)state;
	jinit(&j);
	assert_int_equal(parse(&j, HEADER E_DRAINED E_UPGRADED E_END, err, sizeof(err)), ZDU_OK);
	assert_true(j.finished);
	assert_int_equal(j.n, 3);
	assert_true(zdu_journal_has(&j, "", "end"));
	/* "end" as a node name is not the end */
	assert_int_equal(parse(&j, HEADER "{\"node\":\"end\",\"step\":\"done\"}\n", err, sizeof(err)), ZDU_OK);
	assert_false(j.finished);
	/* a re-parse forgets an earlier "end" */
	assert_int_equal(parse(&j, HEADER E_END, err, sizeof(err)), ZDU_OK);
	assert_true(j.finished);
	assert_int_equal(parse(&j, HEADER E_DRAINED, err, sizeof(err)), ZDU_OK);
	assert_false(j.finished);
	zdu_journal_close(&j);
}

/* A crash while appending tears at most the last line: every prefix of a
 * journal parses, with the entries whose line is complete. */
static void test_parse_torn_last_line(void **state)
{
	static const char text[] = HEADER E_DRAINED E_UPGRADED E_END;
	const size_t h = strlen(HEADER), d = h + strlen(E_DRAINED), u = d + strlen(E_UPGRADED);
	struct zdu_journal j;
	char err[256], prefix[sizeof(text)];
	size_t len;

	(void)state;
	jinit(&j);
	for (len = h; len < sizeof(text); len++) {
		size_t want = len >= u + strlen(E_END) - 1 ? 3 : len >= u - 1 ? 2 : len >= d - 1 ? 1 : 0;

		memcpy(prefix, text, len);
		prefix[len] = '\0';
		if (parse(&j, prefix, err, sizeof(err)) != ZDU_OK)
			fail_msg("prefix of %zu bytes: %s", len, err);
		assert_int_equal(j.digest, 0x1f2e3dUL);
		if (j.n != want)
			fail_msg("prefix of %zu bytes: %zu entries, want %zu", len, j.n, want);
		assert_int_equal(j.finished, want == 3);
	}
	/* a torn line that is not even JSON */
	assert_int_equal(parse(&j, HEADER E_DRAINED "{\"ti", err, sizeof(err)), ZDU_OK);
	assert_int_equal(j.n, 1);
	assert_int_equal(parse(&j, HEADER E_DRAINED "\x01\x02garbage", err, sizeof(err)), ZDU_OK);
	assert_int_equal(j.n, 1);
	zdu_journal_close(&j);
}

static void test_parse_garbage_in_middle(void **state)
{
	static const struct {
		const char *text;
		const char *want;
	} bad[] = {
		{ HEADER "garbage\n" E_DRAINED, "line 2: not a journal entry" },
		{ HEADER E_DRAINED "{\"node\":\"api1\",\"st\n" E_UPGRADED, "line 3: not a journal entry" },
		{ HEADER E_DRAINED "[1,2]\n" E_UPGRADED, "line 3: not a journal entry" },
		{ HEADER E_DRAINED "\"step\"\n" E_UPGRADED, "line 3: not a journal entry" },
		{ HEADER "\n\n" E_DRAINED "nope\n" E_END, "line 5: not a journal entry" },
		{ "xx\n" HEADER, "line 1: not a journal entry" },
		{ HEADER "{\"node\":\"api1\"}\n" E_END, "line 2: no step" },
		{ HEADER E_DRAINED "{\"node\":\"api1\",\"step\":7}\n", "line 3: no step" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct zdu_journal j;
		char err[256];

		jinit(&j);
		if (parse(&j, bad[i].text, err, sizeof(err)) != ZDU_ERR_PARSE || !strstr(err, bad[i].want))
			fail_msg("case %zu: \"%s\", want \"%s\"", i, err, bad[i].want);
		zdu_journal_close(&j);
	}
}

static void test_parse_no_digest(void **state)
{
	static const char *const bad[] = {
		E_DRAINED HEADER,
		"{\"time\":\"2026-01-01T00:00:00Z\"}\n" E_DRAINED,
		"{\"plan_digest\":123}\n" E_DRAINED,
		"{\"plan_digest\":null}\n",
		"{}\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct zdu_journal j;
		char err[256];

		jinit(&j);
		if (parse(&j, bad[i], err, sizeof(err)) != ZDU_ERR_PARSE || !strstr(err, "no plan_digest"))
			fail_msg("case %zu: \"%s\"", i, err);
		zdu_journal_close(&j);
	}
}

/* ------------------------------------------------------------ open */

static void test_open_fresh(void **state)
{
	struct tmp *t = *state;
	struct zdu_journal j, f;
	char err[256], *text;
	struct stat st;

	assert_int_equal(zdu_journal_open(&j, t->path, 0xabcdefUL, 0, err, sizeof(err)), ZDU_OK);
	assert_true(j.fd >= 0);
	assert_int_equal(j.n, 0);
	assert_false(j.finished);
	assert_int_equal(j.digest, 0xabcdefUL);
	assert_string_equal(j.path, t->path);
	zdu_journal_close(&j);
	assert_int_equal(j.fd, -1);

	text = slurp(t->path);
	assert_int_equal(count_lines(text), 1);
	assert_non_null(strstr(text, "\"plan_digest\":\"abcdef\""));
	assert_non_null(strstr(text, "\"time\":\"20"));
	free(text);
	parse_file(t->path, &f);
	assert_int_equal(f.digest, 0xabcdefUL);
	assert_int_equal(f.n, 0);
	zdu_journal_close(&f);
	assert_int_equal(stat(t->path, &st), 0);
	{
		mode_t um = umask(0);

		umask(um);
		assert_int_equal(st.st_mode & 0777, 0640 & ~um);
	}

	/* --resume on a fresh file is fine too */
	assert_int_equal(unlink(t->path), 0);
	assert_int_equal(zdu_journal_open(&j, t->path, 7, 1, err, sizeof(err)), ZDU_OK);
	assert_int_equal(j.n, 0);
	zdu_journal_close(&j);
	/* a header with no entry yet: nothing was done, a new run starts over */
	assert_int_equal(zdu_journal_open(&j, t->path, 8, 0, err, sizeof(err)), ZDU_OK);
	assert_int_equal(j.digest, 8);
	zdu_journal_close(&j);
	parse_file(t->path, &f);
	assert_int_equal(f.digest, 8);
	zdu_journal_close(&f);
}

static void test_record_survives_reopen(void **state)
{
	struct tmp *t = *state;
	struct zdu_journal j, f;
	char err[256], *text;

	assert_int_equal(zdu_journal_open(&j, t->path, 0x42, 0, err, sizeof(err)), ZDU_OK);
	assert_int_equal(zdu_journal_record(&j, "api1", "drained", err, sizeof(err)), ZDU_OK);
	assert_int_equal(zdu_journal_record(&j, "api1", "upgraded", err, sizeof(err)), ZDU_OK);
	assert_int_equal(j.n, 2);
	assert_true(zdu_journal_has(&j, "api1", "drained"));
	assert_true(zdu_journal_has(&j, "api1", "upgraded"));
	zdu_journal_close(&j);

	text = slurp(t->path);
	assert_int_equal(count_lines(text), 3);
	free(text);

	assert_int_equal(zdu_journal_open(&j, t->path, 0x42, 1, err, sizeof(err)), ZDU_OK);
	assert_int_equal(j.n, 2);
	assert_true(zdu_journal_has(&j, "api1", "drained"));
	assert_true(zdu_journal_has(&j, "api1", "upgraded"));
	assert_false(zdu_journal_has(&j, "api2", "drained"));
	/* appending after a resume keeps what was there */
	assert_int_equal(zdu_journal_record(&j, "api2", "drained", err, sizeof(err)), ZDU_OK);
	/* odd names are stored as they are (JSON-escaped) */
	assert_int_equal(zdu_journal_record(&j, "a\"b\\c\nd", "x", err, sizeof(err)), ZDU_OK);
	zdu_journal_close(&j);

	parse_file(t->path, &f);
	assert_int_equal(f.digest, 0x42);
	assert_int_equal(f.n, 4);
	assert_string_equal(f.e[2].node, "api2");
	assert_string_equal(f.e[3].node, "a\"b\\c\nd");
	zdu_journal_close(&f);
	text = slurp(t->path);
	assert_int_equal(count_lines(text), 5);
	free(text);
}

/* The window commands' records (node "" like switched and end): a rollout
 * stopped after before_command is unfinished (a plain run refuses it,
 * --resume sees before done); one stopped after its last node without
 * after_command is unfinished too, and after then end finish it. */
static void test_window_records(void **state)
{
	struct tmp *t = *state;
	struct zdu_journal j;
	char err[256];

	assert_int_equal(zdu_journal_open(&j, t->path, 0x42, 0, err, sizeof(err)), ZDU_OK);
	assert_int_equal(zdu_journal_record(&j, "", "before", err, sizeof(err)), ZDU_OK);
	zdu_journal_close(&j);
	assert_int_equal(zdu_journal_open(&j, t->path, 0x42, 0, err, sizeof(err)), ZDU_ERR_EXISTS);
	assert_int_equal(zdu_journal_open(&j, t->path, 0x42, 1, err, sizeof(err)), ZDU_OK);
	assert_true(zdu_journal_has(&j, "", "before"));
	assert_false(zdu_journal_has(&j, "", "after"));
	assert_false(j.finished);
	assert_int_equal(zdu_journal_record(&j, "api1", "done", err, sizeof(err)), ZDU_OK);
	zdu_journal_close(&j);

	/* every node done, after_command not: still to resume */
	assert_int_equal(zdu_journal_open(&j, t->path, 0x42, 1, err, sizeof(err)), ZDU_OK);
	assert_false(j.finished);
	assert_true(zdu_journal_has(&j, "api1", "done"));
	assert_false(zdu_journal_has(&j, "", "after"));
	assert_int_equal(zdu_journal_record(&j, "", "after", err, sizeof(err)), ZDU_OK);
	assert_int_equal(zdu_journal_record(&j, "", "end", err, sizeof(err)), ZDU_OK);
	zdu_journal_close(&j);

	assert_int_equal(zdu_journal_open(&j, t->path, 0x42, 1, err, sizeof(err)), ZDU_OK);
	assert_true(j.finished);
	assert_int_equal(j.n, 4);
	assert_string_equal(j.e[0].node, "");
	assert_string_equal(j.e[0].step, "before");
	assert_string_equal(j.e[2].step, "after");
	zdu_journal_close(&j);
	/* a new rollout after it starts without them: its before runs again */
	assert_int_equal(zdu_journal_open(&j, t->path, 0x42, 0, err, sizeof(err)), ZDU_OK);
	assert_int_equal(j.n, 0);
	assert_false(zdu_journal_has(&j, "", "before"));
	zdu_journal_close(&j);
}

static void test_unfinished_without_resume(void **state)
{
	struct tmp *t = *state;
	struct zdu_journal j;
	char err[256], *before, *after;

	spew(t->path, HEADER E_DRAINED);
	before = slurp(t->path);
	assert_int_equal(zdu_journal_open(&j, t->path, 0x1f2e3d, 0, err, sizeof(err)), ZDU_ERR_EXISTS);
	assert_non_null(strstr(err, t->path));
	assert_non_null(strstr(err, "--resume"));
	assert_int_equal(j.fd, -1);
	assert_null(j.e);
	/* the same with another plan's digest: still the unfinished rollout first */
	assert_int_equal(zdu_journal_open(&j, t->path, 0x99, 0, err, sizeof(err)), ZDU_ERR_EXISTS);
	after = slurp(t->path);
	assert_string_equal(before, after); /* untouched */
	free(before);
	free(after);
}

static void test_resume(void **state)
{
	struct tmp *t = *state;
	struct zdu_journal j;
	char err[256];

	spew(t->path, HEADER E_DRAINED E_UPGRADED "{\"node\":\"api1\",\"st"); /* torn */
	assert_int_equal(zdu_journal_open(&j, t->path, 0x1f2e3d, 1, err, sizeof(err)), ZDU_OK);
	assert_int_equal(j.n, 2);
	assert_false(j.finished);
	assert_true(zdu_journal_has(&j, "api1", "drained"));
	assert_true(zdu_journal_has(&j, "api1", "upgraded"));
	assert_false(zdu_journal_has(&j, "api1", "done"));
	zdu_journal_close(&j);
}

static void test_resume_other_plan(void **state)
{
	struct tmp *t = *state;
	struct zdu_journal j;
	char err[256], *after;

	spew(t->path, HEADER E_DRAINED);
	assert_int_equal(zdu_journal_open(&j, t->path, 0x1f2e3e, 1, err, sizeof(err)), ZDU_ERR_PARSE);
	assert_non_null(strstr(err, t->path));
	assert_non_null(strstr(err, "another plan"));
	assert_int_equal(j.fd, -1);
	after = slurp(t->path);
	assert_string_equal(after, HEADER E_DRAINED);
	free(after);
}

static void test_garbage_refused(void **state)
{
	struct tmp *t = *state;
	struct zdu_journal j;
	char err[256], *after;
	int resume;

	for (resume = 0; resume <= 1; resume++) {
		spew(t->path, HEADER "garbage\n" E_DRAINED);
		assert_int_equal(zdu_journal_open(&j, t->path, 0x1f2e3d, resume, err, sizeof(err)), ZDU_ERR_PARSE);
		assert_non_null(strstr(err, t->path));
		assert_non_null(strstr(err, "line 2"));
		after = slurp(t->path);
		assert_string_equal(after, HEADER "garbage\n" E_DRAINED);
		free(after);
	}
}

static void test_finished_replaced(void **state)
{
	struct tmp *t = *state;
	struct zdu_journal j, f;
	char err[256], *text;
	int resume;

	/* --resume of a finished rollout: loaded as it is, finished, not
	 * replaced (the coordinator says there is nothing to resume). Was a
	 * bug: it started a new rollout, so a retried --resume redid every
	 * node. */
	spew(t->path, HEADER E_DRAINED E_UPGRADED E_END);
	assert_int_equal(zdu_journal_open(&j, t->path, 0x777, 1, err, sizeof(err)), ZDU_OK);
	assert_true(j.finished);
	assert_true(zdu_journal_has(&j, "api1", "drained"));
	zdu_journal_close(&j);

	for (resume = 0; resume <= 0; resume++) {
		spew(t->path, HEADER E_DRAINED E_UPGRADED E_END);
		assert_int_equal(zdu_journal_open(&j, t->path, 0x777, resume, err, sizeof(err)), ZDU_OK);
		assert_int_equal(j.n, 0);
		assert_false(j.finished);
		assert_int_equal(j.digest, 0x777);
		assert_false(zdu_journal_has(&j, "api1", "drained"));
		assert_int_equal(zdu_journal_record(&j, "api9", "drained", err, sizeof(err)), ZDU_OK);
		zdu_journal_close(&j);
		text = slurp(t->path);
		assert_int_equal(count_lines(text), 2);
		assert_null(strstr(text, "api1"));
		free(text);
		parse_file(t->path, &f);
		assert_int_equal(f.digest, 0x777);
		assert_int_equal(f.n, 1);
		assert_string_equal(f.e[0].node, "api9");
		zdu_journal_close(&f);
	}
}

static void test_open_errors(void **state)
{
	struct tmp *t = *state;
	struct zdu_journal j;
	char err[256], path[256];

	snprintf(path, sizeof(path), "%s/no/such/dir/j", t->dir);
	assert_int_equal(zdu_journal_open(&j, path, 1, 0, err, sizeof(err)), ZDU_ERR_IO);
	assert_non_null(strstr(err, path));
	assert_int_equal(j.fd, -1);
	assert_null(j.path);
	/* over 4 MiB: refused, not read */
	{
		int fd = open(t->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, (4 << 20) + 1), 0);
		close(fd);
		assert_int_equal(zdu_journal_open(&j, t->path, 1, 1, err, sizeof(err)), ZDU_ERR_IO);
		assert_non_null(strstr(err, "bytes"));
	}
}

/* ------------------------------------------------------------ lock */

static void test_lock(void **state)
{
	struct tmp *t = *state;
	char lock[256], err[256], want[64], *text;
	int fd1, fd2, fd3;

	snprintf(lock, sizeof(lock), "%s.lock", t->path);
	fd1 = zdu_lock_take(lock, err, sizeof(err));
	assert_true(fd1 >= 0);
	text = slurp(lock);
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	assert_string_equal(text, want);
	free(text);

	err[0] = '\0';
	fd2 = zdu_lock_take(lock, err, sizeof(err));
	assert_int_equal(fd2, -2); /* held by another: -2 (exit 5), not a failure to use it */
	snprintf(want, sizeof(want), "(pid %ld)", (long)getpid());
	if (!strstr(err, want) || !strstr(err, lock))
		fail_msg("\"%s\" does not name %s", err, want);
	/* the failed take changed nothing */
	text = slurp(lock);
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	assert_string_equal(text, want);
	free(text);

	assert_int_equal(close(fd1), 0);
	fd3 = zdu_lock_take(lock, err, sizeof(err));
	assert_true(fd3 >= 0);
	/* a stale, longer pid from an earlier holder does not linger */
	close(fd3);
	spew(lock, "123456789012\n");
	fd3 = zdu_lock_take(lock, err, sizeof(err));
	assert_true(fd3 >= 0);
	text = slurp(lock);
	assert_string_equal(text, want);
	free(text);
	/* a holder that could not write its pid: "?" */
	{
		int w = open(lock, O_WRONLY | O_TRUNC);

		assert_true(w >= 0);
		close(w);
	}
	assert_int_equal(zdu_lock_take(lock, err, sizeof(err)), -2);
	assert_non_null(strstr(err, "(pid ?)"));
	close(fd3);

	snprintf(lock, sizeof(lock), "%s/no/such/dir/x.lock", t->dir);
	assert_int_equal(zdu_lock_take(lock, err, sizeof(err)), -1);
	assert_non_null(strstr(err, lock));
}

/* ---- fixed bugs: regression tests --------------
 * journal.c:248 zdu_journal_open: when the only line is a torn header (the
 * first write of a run interrupted), zdu_journal_parse tolerates it as a
 * torn last line but leaves j->digest at 0, and --resume then refuses the
 * journal as "recorded for another plan" although nothing was done yet:
 * the operator has to remove the file by hand. */
static void test_fixed_resume_torn_header(void **state)
{
	struct tmp *t = *state;
	struct zdu_journal j;
	char err[256];
	enum zdu_err rc;

	spew(t->path, "{\"time\":\"2026-01-01T00:00:00Z\",\"plan_dig");
	rc = zdu_journal_open(&j, t->path, 0x1f2e3d, 1, err, sizeof(err));
	if (rc != ZDU_OK)
		fail_msg("rc %d: %s", (int)rc, err);
	assert_int_equal(j.n, 0);
	zdu_journal_close(&j);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_tmp, teardown_tmp)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_entries),
		cmocka_unit_test(test_parse_finished),
		cmocka_unit_test(test_parse_torn_last_line),
		cmocka_unit_test(test_parse_garbage_in_middle),
		cmocka_unit_test(test_parse_no_digest),
		T(test_open_fresh),
		T(test_record_survives_reopen),
		T(test_window_records),
		T(test_unfinished_without_resume),
		T(test_resume),
		T(test_resume_other_plan),
		T(test_garbage_refused),
		T(test_finished_replaced),
		T(test_open_errors),
		T(test_lock),
		T(test_fixed_resume_torn_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
