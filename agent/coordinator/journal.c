#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "zdu/common.h"
#include "zdu/journal.h"

#define JOURNAL_MAX (4u << 20)

static void entries_free(struct zdu_journal *j)
{
	size_t i;

	for (i = 0; i < j->n; i++) {
		free(j->e[i].node);
		free(j->e[i].step);
	}
	free(j->e);
	j->e = NULL;
	j->n = 0;
}

enum zdu_err zdu_journal_parse(struct zdu_journal *j, const char *text, size_t len, char *err,
			       size_t err_size)
{
	const char *p = text, *end = text + len;
	int lineno = 0, have_header = 0;

	entries_free(j);
	j->finished = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		json_error_t jerr;
		json_t *o;

		lineno++;
		if (n == 0) {
			p = nl ? nl + 1 : end;
			continue;
		}
		o = json_loadb(p, n, 0, &jerr);
		p = nl ? nl + 1 : end;
		if (!json_is_object(o)) {
			json_decref(o);
			/* A crash while appending leaves at most a torn last line. */
			if (p >= end)
				break;
			snprintf(err, err_size, "line %d: not a journal entry", lineno);
			return ZDU_ERR_PARSE;
		}
		if (!have_header) {
			json_t *d = json_object_get(o, "plan_digest");

			if (!json_is_string(d)) {
				json_decref(o);
				snprintf(err, err_size, "line 1: no plan_digest");
				return ZDU_ERR_PARSE;
			}
			j->digest = strtoul(json_string_value(d), NULL, 16);
			have_header = 1;
		} else {
			json_t *node = json_object_get(o, "node"), *step = json_object_get(o, "step");
			struct zdu_journal_entry *e;

			if (!json_is_string(step)) {
				json_decref(o);
				snprintf(err, err_size, "line %d: no step", lineno);
				return ZDU_ERR_PARSE;
			}
			if (strcmp(json_string_value(step), "end") == 0)
				j->finished = 1;
			e = realloc(j->e, (j->n + 1) * sizeof(*e));
			if (!e) {
				json_decref(o);
				return ZDU_ERR_NOMEM;
			}
			j->e = e;
			e[j->n].node = strdup(json_is_string(node) ? json_string_value(node) : "");
			e[j->n].step = strdup(json_string_value(step));
			j->n++;
			if (!e[j->n - 1].node || !e[j->n - 1].step) {
				json_decref(o);
				return ZDU_ERR_NOMEM;
			}
		}
		json_decref(o);
	}
	return ZDU_OK;
}

static enum zdu_err text_add(struct zdu_journal *j, const char *line, size_t n)
{
	char *t = realloc(j->text, j->text_len + n + 1);

	if (!t)
		return ZDU_ERR_NOMEM;
	memcpy(t + j->text_len, line, n);
	j->text = t;
	j->text_len += n;
	t[j->text_len] = '\0';
	return ZDU_OK;
}

static enum zdu_err append(struct zdu_journal *j, json_t *o, char *err, size_t err_size)
{
	char *s = json_dumps(o, JSON_COMPACT);
	size_t n, off = 0;
	char *line;

	json_decref(o);
	if (!s)
		return ZDU_ERR_NOMEM;
	n = strlen(s);
	line = malloc(n + 2);
	if (!line) {
		free(s);
		return ZDU_ERR_NOMEM;
	}
	memcpy(line, s, n);
	line[n++] = '\n';
	free(s);
	if (text_add(j, line, n) != ZDU_OK) {
		free(line);
		return ZDU_ERR_NOMEM;
	}
	if (j->fd < 0) {
		free(line);
		return ZDU_OK;
	}
	/* One write per entry (O_APPEND), then fsync: an entry is on disk
	 * before the next step starts, and a crash tears at most the last. */
	while (off < n) {
		ssize_t w = write(j->fd, line + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			snprintf(err, err_size, "journal %s: write: %s", j->path, strerror(errno));
			free(line);
			return ZDU_ERR_IO;
		}
		off += (size_t)w;
	}
	free(line);
	if (fsync(j->fd) < 0) {
		snprintf(err, err_size, "journal %s: fsync: %s", j->path, strerror(errno));
		return ZDU_ERR_IO;
	}
	return ZDU_OK;
}

static void utc_now(char *buf, size_t size)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

enum zdu_err zdu_journal_record(struct zdu_journal *j, const char *node, const char *step, char *err,
				size_t err_size)
{
	struct zdu_journal_entry *e;
	char when[32];

	utc_now(when, sizeof(when));
	if (append(j, json_pack("{s:s,s:s,s:s}", "time", when, "node", node, "step", step), err,
		   err_size) != ZDU_OK)
		return ZDU_ERR_IO;
	e = realloc(j->e, (j->n + 1) * sizeof(*e));
	if (!e)
		return ZDU_ERR_NOMEM;
	j->e = e;
	e[j->n].node = strdup(node);
	e[j->n].step = strdup(step);
	j->n++;
	if (!e[j->n - 1].node || !e[j->n - 1].step)
		return ZDU_ERR_NOMEM;
	return ZDU_OK;
}

int zdu_journal_has(const struct zdu_journal *j, const char *node, const char *step)
{
	size_t i;

	for (i = 0; i < j->n; i++)
		if (strcmp(j->e[i].node, node) == 0 && strcmp(j->e[i].step, step) == 0)
			return 1;
	return 0;
}

static enum zdu_err start_fresh(struct zdu_journal *j, char *err, size_t err_size)
{
	char when[32], digest[32];

	if (j->fd >= 0 && ftruncate(j->fd, 0) < 0) {
		snprintf(err, err_size, "journal %s: truncate: %s", j->path, strerror(errno));
		return ZDU_ERR_IO;
	}
	free(j->text);
	j->text = NULL;
	j->text_len = 0;
	entries_free(j);
	j->finished = 0;
	utc_now(when, sizeof(when));
	snprintf(digest, sizeof(digest), "%lx", j->digest);
	return append(j, json_pack("{s:s,s:s}", "time", when, "plan_digest", digest), err, err_size);
}

static enum zdu_err journal_load(struct zdu_journal *j, const char *text, size_t len, unsigned long digest,
				 int resume, char *err, size_t err_size);

enum zdu_err zdu_journal_open(struct zdu_journal *j, const char *path, unsigned long digest, int resume,
			      char *err, size_t err_size)
{
	struct stat st;
	char *text = NULL;
	enum zdu_err rc;
	ssize_t r;
	size_t len = 0;

	memset(j, 0, sizeof(*j));
	j->fd = -1;
	if (!(j->path = strdup(path)))
		return ZDU_ERR_NOMEM;
	j->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (j->fd < 0) {
		snprintf(err, err_size, "journal %s: %s", path, strerror(errno));
		rc = ZDU_ERR_IO;
		goto fail;
	}
	if (fstat(j->fd, &st) < 0 || st.st_size > (off_t)JOURNAL_MAX) {
		snprintf(err, err_size, "journal %s: unreadable or over %u bytes", path, JOURNAL_MAX);
		rc = ZDU_ERR_IO;
		goto fail;
	}
	if (st.st_size == 0) {
		j->digest = digest;
		rc = start_fresh(j, err, err_size);
		if (rc != ZDU_OK)
			goto fail;
		return ZDU_OK;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		rc = ZDU_ERR_NOMEM;
		goto fail;
	}
	while (len < (size_t)st.st_size) {
		r = pread(j->fd, text + len, (size_t)st.st_size - len, (off_t)len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	rc = journal_load(j, text, len, digest, resume, err, err_size);
	free(text);
	if (rc != ZDU_OK)
		goto fail;
	return ZDU_OK;
fail:
	zdu_journal_close(j);
	return rc;
}

enum zdu_err zdu_journal_open_text(struct zdu_journal *j, const char *name, const char *text, size_t len,
				   unsigned long digest, int resume, char *err, size_t err_size)
{
	enum zdu_err rc;

	memset(j, 0, sizeof(*j));
	j->fd = -1;
	if (!(j->path = strdup(name)))
		return ZDU_ERR_NOMEM;
	if (len == 0) {
		j->digest = digest;
		rc = start_fresh(j, err, err_size);
	} else {
		rc = journal_load(j, text, len, digest, resume, err, err_size);
	}
	if (rc != ZDU_OK)
		zdu_journal_close(j);
	return rc;
}

/* What a journal's text allows: a new rollout, a resume, or neither. */
static enum zdu_err journal_load(struct zdu_journal *j, const char *text, size_t len, unsigned long digest,
				 int resume, char *err, size_t err_size)
{
	const char *path = j->path;
	enum zdu_err rc = zdu_journal_parse(j, text, len, err, err_size);

	if (rc != ZDU_OK) {
		char detail[256];

		zdu_strlcpy(detail, err, sizeof(detail));
		snprintf(err, err_size, "journal %s: %s", path, detail);
		return rc;
	}
	if (text_add(j, text, len) != ZDU_OK)
		return ZDU_ERR_NOMEM;
	/* Finished, or nothing done yet (a header torn by a crash included):
	 * there is nothing to resume, so a new rollout starts. */
	if (j->n == 0 || (j->finished && !resume)) {
		/* The last rollout finished (or never started a node): a new one. */
		j->digest = digest;
		return start_fresh(j, err, err_size);
	}
	if (!resume) {
		snprintf(err, err_size,
			 "journal %s: an unfinished rollout is recorded there; continue it with --resume, "
			 "or remove it to start over",
			 path);
		return ZDU_ERR_EXISTS;
	}
	if (j->finished)
		return ZDU_OK; /* resume of a finished rollout: the caller says so */
	if (j->digest != digest) {
		snprintf(err, err_size,
			 "journal %s: recorded for another plan (backend or nodes differ); not resuming", path);
		return ZDU_ERR_PARSE;
	}
	return ZDU_OK;
}

void zdu_journal_close(struct zdu_journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	entries_free(j);
	free(j->text);
	j->text = NULL;
	j->text_len = 0;
	free(j->path);
	j->path = NULL;
}

int zdu_lock_take(const char *path, char *err, size_t err_size)
{
	char pid[32] = "";
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	ssize_t n;

	if (fd < 0) {
		snprintf(err, err_size, "lock %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK) {
			snprintf(err, err_size, "lock %s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		snprintf(err, err_size, "lock %s: another zdu-coordinator runs this plan (pid %s)", path,
			 pid[0] ? pid : "?");
		close(fd);
		return -2;
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
		/* The lock holds without the pid; it only helps the message. */
	}
	return fd;
}
