#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "zdu/common.h"
#include "zdu/etcd_keys.h"
#include "zdu/flag.h"
#include "zdu/flag_etcd.h"
#include "zdu/log.h"

#define BACKOFF_MIN_MS 100
#define CACHE_MAX_BYTES 65536

enum { K_NODE = 0, K_ALL, K_MAX };
static const char *const key_names[K_MAX] = { "node", "all" };

struct value {
	int present;
	char *buf;
	size_t len;
};

struct cache_job {
	uv_work_t work;
	struct zdu_flag_etcd *fe;
	char *content;
	size_t len;
	char *path;
	int rc;
	char err[256];
};

struct zdu_flag_etcd;

/* What a watch's callback needs to know: whose and which key. */
struct wctx {
	struct zdu_flag_etcd *fe;
	int k;
};

struct zdu_flag_etcd {
	uv_loop_t *loop;
	struct zdu_state *state;
	struct zdu_etcd *etcd;
	char *key[K_MAX];
	char *cache_path;
	struct value val[K_MAX];
	struct zdu_etcd_watch *watch[K_MAX];
	struct wctx wctx[K_MAX];
	int created[K_MAX];
	/* Everything up to rev is known for both keys; a watch resumes after
	 * it. 0: nothing read yet (or compacted): read the keys first. */
	int64_t rev;
	int64_t wrev[K_MAX]; /* per watch: events seen up to here */
	int reading;        /* the keys' read is in flight */
	uv_timer_t retry;     /* also: the deadline for the watches to start */
	int backoff_ms, backoff_max_ms;
	int timeout_ms;       /* a watch not started within this is abandoned */
	/* A member that hangs (stopped, cut off) keeps a watch open and
	 * silent: now and then the watched keys are read from the watch's own
	 * member and compared. */
	uv_timer_t check;
	int checking;
	uint64_t watch_gen;   /* bumped whenever the watches are restarted */
	uint64_t check_gen;   /* watch_gen when the check in flight started */
	int64_t suspect[K_MAX]; /* a newer revision than the watch gave, seen once */
	int reachable;       /* both watches run */
	int ever_reached;
	int cached;          /* values from the cache, etcd not read yet */
	char endpoint[256];
	char last_error[512];
	time_t unreachable_since;
	uint64_t changes;    /* values changed by etcd */
	struct zdu_flag flag; /* what the etcd source says now */
	int source;          /* K_NODE, K_ALL, or -1 */
	struct cache_job *job; /* cache write in flight */
	int cache_dirty;
	char cache_error[256];
	int closing;
	int nopen;
};

static void start(struct zdu_flag_etcd *fe);

/* ---- values to the flag ---- */

void zdu_flag_etcd_value(const char *key, int present, const char *value, size_t len, struct zdu_flag *flag)
{
	memset(flag, 0, sizeof(*flag));
	if (!present)
		return;
	if (len > ZDU_FLAG_MAX_BYTES) {
		flag->mode = ZDU_FLAG_DRAIN;
		snprintf(flag->error, sizeof(flag->error), "etcd %.100s: value of %zu bytes, over %d", key, len,
			 ZDU_FLAG_MAX_BYTES);
		return;
	}
	if (zdu_flag_parse(value, len, flag) != ZDU_OK) {
		char why[sizeof(flag->error)];

		zdu_strlcpy(why, flag->error, sizeof(why));
		snprintf(flag->error, sizeof(flag->error), "etcd %.80s: %s", key, why);
	}
}

/* The node's own key says more than the cluster-wide one. */
static void recompute(struct zdu_flag_etcd *fe, const char *cause)
{
	struct zdu_flag f[K_MAX];
	struct zdu_event ev = { .kind = ZDU_EV_FLAG, .src = ZDU_SRC_ETCD, .cause = cause };
	int k;

	fe->source = -1;
	memset(&fe->flag, 0, sizeof(fe->flag));
	for (k = 0; k < K_MAX; k++)
		zdu_flag_etcd_value(fe->key[k], fe->val[k].present, fe->val[k].buf, fe->val[k].len, &f[k]);
	for (k = 0; k < K_MAX; k++) {
		if (f[k].mode != ZDU_FLAG_OFF) {
			fe->flag = f[k];
			fe->source = k;
			break;
		}
	}
	ev.flag = &fe->flag;
	zdu_state_apply(fe->state, &ev);
}

/* Returns 1 when the value changed. */
static int value_set(struct value *v, int present, const char *buf, size_t len)
{
	char *copy = NULL;

	if (v->present == present && (!present || (v->len == len && memcmp(v->buf, buf, len) == 0)))
		return 0;
	if (present) {
		copy = malloc(len + 1);
		if (!copy)
			return 0; /* keep the old value: never lose state to a failed copy */
		memcpy(copy, buf, len);
		copy[len] = '\0';
	}
	free(v->buf);
	v->buf = copy;
	v->len = present ? len : 0;
	v->present = present;
	return 1;
}

/* ---- the cache file ---- */

static void handle_closed(struct zdu_flag_etcd *fe)
{
	int k;

	if (--fe->nopen > 0)
		return;
	for (k = 0; k < K_MAX; k++) {
		free(fe->key[k]);
		free(fe->val[k].buf);
	}
	free(fe->cache_path);
	free(fe);
}

static void cache_work(uv_work_t *w)
{
	struct cache_job *j = w->data;

	j->rc = zdu_file_write_atomic(j->path, j->content, j->len, 0600, j->err, sizeof(j->err));
}

static void cache_save(struct zdu_flag_etcd *fe);

static void cache_done(uv_work_t *w, int status)
{
	struct cache_job *j = w->data;
	struct zdu_flag_etcd *fe = j->fe;

	fe->job = NULL;
	if (status < 0)
		snprintf(fe->cache_error, sizeof(fe->cache_error), "%s", uv_strerror(status));
	else if (j->rc != ZDU_OK)
		zdu_strlcpy(fe->cache_error, j->err, sizeof(fe->cache_error));
	else
		fe->cache_error[0] = '\0';
	if (fe->cache_error[0])
		zdu_log_error("etcd: cannot cache the flags: %s", fe->cache_error);
	free(j->content);
	free(j->path);
	free(j);
	if (fe->closing) {
		handle_closed(fe);
		return;
	}
	fe->nopen--;
	if (fe->cache_dirty)
		cache_save(fe);
}

static void cache_save(struct zdu_flag_etcd *fe)
{
	struct cache_job *j;
	char *b64[K_MAX] = { NULL, NULL };
	int k, n;

	if (fe->job) {
		fe->cache_dirty = 1;
		return;
	}
	fe->cache_dirty = 0;
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	for (k = 0; k < K_MAX; k++)
		if (fe->val[k].present)
			b64[k] = zdu_b64_encode(fe->val[k].buf, fe->val[k].len);
	n = asprintf(&j->content,
		     "# zdu-agent: the etcd flags last seen, used while etcd cannot be reached\n"
		     "revision=%lld\nnode=%s\nall=%s\n",
		     (long long)fe->rev, b64[K_NODE] ? b64[K_NODE] : "-", b64[K_ALL] ? b64[K_ALL] : "-");
	free(b64[K_NODE]);
	free(b64[K_ALL]);
	j->path = strdup(fe->cache_path);
	if (n < 0 || !j->path) {
		if (n >= 0)
			free(j->content);
		free(j->path);
		free(j);
		return;
	}
	j->len = (size_t)n;
	j->fe = fe;
	j->work.data = j;
	if (uv_queue_work(fe->loop, &j->work, cache_work, cache_done) < 0) {
		free(j->content);
		free(j->path);
		free(j);
		return;
	}
	fe->job = j;
	fe->nopen++;
}

/* Parses the cache's text; -1 with err when it is not one we wrote. */
static int cache_parse(struct zdu_flag_etcd *fe, char *text, char *err, size_t err_size)
{
	char *line, *save = NULL;
	int lineno = 0, seen = 0;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		int k = -1;

		lineno++;
		if (line[0] == '#')
			continue;
		if (!eq) {
			snprintf(err, err_size, "line %d: no '='", lineno);
			return -1;
		}
		*eq++ = '\0';
		if (strcmp(line, "revision") == 0) {
			fe->rev = strtoll(eq, NULL, 10);
			seen |= 1;
			continue;
		}
		if (strcmp(line, "node") == 0)
			k = K_NODE;
		else if (strcmp(line, "all") == 0)
			k = K_ALL;
		if (k < 0) {
			snprintf(err, err_size, "line %d: unknown key \"%.40s\"", lineno, line);
			return -1;
		}
		seen |= 2 << k;
		if (strcmp(eq, "-") != 0) {
			size_t slen = strlen(eq);
			char *buf = malloc(slen / 4 * 3 + 1);
			long n = buf ? zdu_b64_decode(eq, slen, buf, slen / 4 * 3) : -1;

			if (n < 0) {
				free(buf);
				snprintf(err, err_size, "line %d: %s is not valid base64", lineno, key_names[k]);
				return -1;
			}
			value_set(&fe->val[k], 1, buf, (size_t)n);
			free(buf);
		}
	}
	if (seen != 7) {
		snprintf(err, err_size, "incomplete (revision, node and all expected)");
		return -1;
	}
	return 0;
}

/* Synchronous, once at start-up, before the loop runs: the first reply
 * must already say what the cache says. */
static void cache_load(struct zdu_flag_etcd *fe)
{
	char buf[CACHE_MAX_BYTES + 1], err[256];
	ssize_t n;
	size_t len = 0;
	int fd = open(fe->cache_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		if (errno != ENOENT)
			goto unreadable_errno;
		zdu_log_info("etcd: no cache at %s yet: no etcd flag until etcd answers", fe->cache_path);
		return;
	}
	while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	if (n < 0) {
		close(fd);
		goto unreadable_errno;
	}
	close(fd);
	buf[len] = '\0';
	if (len >= CACHE_MAX_BYTES) {
		snprintf(err, sizeof(err), "over %d bytes", CACHE_MAX_BYTES);
		goto unreadable;
	}
	if (cache_parse(fe, buf, err, sizeof(err)) < 0)
		goto unreadable;
	fe->cached = 1;
	recompute(fe, "etcd cache (etcd not read yet)");
	zdu_log_notice("etcd: flags from the cache %s (revision %lld) until etcd answers", fe->cache_path,
		       (long long)fe->rev);
	return;
unreadable_errno:
	snprintf(err, sizeof(err), "%s", strerror(errno));
unreadable:
	/* As with an unreadable flag file: unknown means drain, until etcd
	 * says otherwise. */
	fe->rev = 0;
	value_set(&fe->val[K_NODE], 1, "", 0);
	fe->cached = 1;
	{
		struct zdu_event ev = { .kind = ZDU_EV_FLAG, .src = ZDU_SRC_ETCD, .cause = "etcd cache unreadable" };

		memset(&fe->flag, 0, sizeof(fe->flag));
		fe->flag.mode = ZDU_FLAG_DRAIN;
		snprintf(fe->flag.error, sizeof(fe->flag.error), "etcd cache %.80s unreadable: %.80s", fe->cache_path,
			 err);
		fe->source = K_NODE;
		ev.flag = &fe->flag;
		zdu_state_apply(fe->state, &ev);
	}
	zdu_log_error("etcd: %s", fe->flag.error);
}

/* ---- reaching etcd ---- */

static void set_unreachable(struct zdu_flag_etcd *fe, const char *why)
{
	zdu_strlcpy(fe->last_error, why, sizeof(fe->last_error));
	if (fe->reachable || !fe->unreachable_since) {
		fe->unreachable_since = time(NULL);
		/* One line per outage, not one per retry. */
		zdu_log_error("etcd unreachable: %s; keeping the last known flags", why);
	}
	fe->reachable = 0;
}

static void stop_watches(struct zdu_flag_etcd *fe)
{
	int k;

	fe->watch_gen++;
	fe->suspect[K_NODE] = fe->suspect[K_ALL] = 0;
	for (k = 0; k < K_MAX; k++) {
		if (fe->watch[k])
			zdu_etcd_watch_cancel(fe->watch[k]);
		fe->watch[k] = NULL;
		fe->created[k] = 0;
	}
}

static void on_retry(uv_timer_t *t)
{
	start(t->data);
}

static void retry_later(struct zdu_flag_etcd *fe, const char *why)
{
	stop_watches(fe);
	set_unreachable(fe, why);
	uv_timer_start(&fe->retry, on_retry, (uint64_t)fe->backoff_ms, 0);
	fe->backoff_ms = fe->backoff_ms * 2 > fe->backoff_max_ms ? fe->backoff_max_ms : fe->backoff_ms * 2;
}

static int key_index(const struct zdu_flag_etcd *fe, const char *key)
{
	int k;

	for (k = 0; k < K_MAX; k++)
		if (strcmp(fe->key[k], key) == 0)
			return k;
	return -1;
}

static void changed(struct zdu_flag_etcd *fe, const char *cause)
{
	fe->changes++;
	recompute(fe, cause);
	cache_save(fe);
}

static void on_watch(const struct zdu_etcd_watch_event *ev, void *data);

/* A member that hangs accepts the watch's connection and never answers:
 * without this deadline the agent would wait on it for ever. */
static void on_create_timeout(uv_timer_t *t)
{
	struct zdu_flag_etcd *fe = t->data;
	char why[512];
	int k;

	if (fe->created[K_NODE] && fe->created[K_ALL])
		return;
	snprintf(why, sizeof(why), "no answer to a watch through %s within %d ms", zdu_etcd_endpoint(fe->etcd),
		 fe->timeout_ms);
	for (k = 0; k < K_MAX; k++)
		if (fe->watch[k] && !fe->created[k]) {
			zdu_etcd_watch_abandon(fe->watch[k]);
			fe->watch[k] = NULL;
		}
	retry_later(fe, why);
}

static void watch_all(struct zdu_flag_etcd *fe)
{
	int k;

	uv_timer_start(&fe->retry, on_create_timeout, (uint64_t)fe->timeout_ms, 0);
	for (k = 0; k < K_MAX; k++) {
		/* Each key resumes after its own last event: replaying an older
		 * event would flip the reply back for a moment. */
		if (fe->wrev[k] < fe->rev)
			fe->wrev[k] = fe->rev;
		fe->created[k] = 0;
		fe->wctx[k].fe = fe;
		fe->wctx[k].k = k;
		fe->watch[k] = zdu_etcd_watch_start(fe->etcd, fe->key[k], fe->wrev[k] + 1, on_watch, &fe->wctx[k]);
		if (!fe->watch[k]) {
			retry_later(fe, "cannot start a watch: out of memory");
			return;
		}
	}
}

static void on_read(const struct zdu_etcd_result *res, void *data)
{
	struct zdu_flag_etcd *fe = data;
	int present[K_MAX] = { 0, 0 }, k, diff = 0;
	const struct zdu_etcd_kv *kv[K_MAX] = { NULL, NULL };
	size_t i;

	fe->reading = 0;
	if (res->err != ZDU_OK) {
		retry_later(fe, res->msg);
		return;
	}
	for (i = 0; i < res->nkvs; i++) {
		k = key_index(fe, res->kvs[i].key);
		if (k >= 0) {
			present[k] = 1;
			kv[k] = &res->kvs[i];
		}
	}
	for (k = 0; k < K_MAX; k++)
		diff |= value_set(&fe->val[k], present[k], kv[k] ? kv[k]->value : NULL, kv[k] ? kv[k]->len : 0);
	fe->rev = res->revision;
	for (k = 0; k < K_MAX; k++)
		fe->wrev[k] = res->revision;
	zdu_strlcpy(fe->endpoint, res->endpoint, sizeof(fe->endpoint));
	if (fe->cached) {
		fe->cached = 0;
		zdu_log_notice("etcd: read the flags at revision %lld from %s", (long long)fe->rev, fe->endpoint);
	}
	if (diff) {
		char cause[128];

		snprintf(cause, sizeof(cause), "etcd read (revision %lld)", (long long)fe->rev);
		changed(fe, cause);
	} else {
		/* Same values, newer revision: the next restart reads from here. */
		cache_save(fe);
	}
	watch_all(fe);
}

/* Both watches run: etcd is reached again. */
static void watch_created(struct zdu_flag_etcd *fe, int k, const char *endpoint)
{
	fe->created[k] = 1;
	if (!fe->created[K_NODE] || !fe->created[K_ALL])
		return;
	uv_timer_stop(&fe->retry);
	zdu_strlcpy(fe->endpoint, endpoint, sizeof(fe->endpoint));
	fe->backoff_ms = BACKOFF_MIN_MS;
	if (!fe->reachable) {
		if (fe->ever_reached && fe->unreachable_since)
			zdu_log_notice("etcd reachable again through %s after %lld s; watching from revision %lld",
				       endpoint, (long long)(time(NULL) - fe->unreachable_since),
				       (long long)fe->rev + 1);
		else
			zdu_log_notice("etcd: watching %s and %s through %s", fe->key[K_NODE], fe->key[K_ALL],
				       endpoint);
	}
	fe->reachable = 1;
	fe->ever_reached = 1;
	fe->unreachable_since = 0;
	fe->last_error[0] = '\0';
}

/* The revision both keys are known up to is the lower of the two. */
static void advance(struct zdu_flag_etcd *fe, int k, int64_t rev)
{
	int64_t r;

	if (rev > fe->wrev[k])
		fe->wrev[k] = rev;
	r = fe->wrev[K_NODE] < fe->wrev[K_ALL] ? fe->wrev[K_NODE] : fe->wrev[K_ALL];
	if (r > fe->rev)
		fe->rev = r;
}

static void on_watch(const struct zdu_etcd_watch_event *ev, void *data)
{
	struct wctx *ctx = data;
	struct zdu_flag_etcd *fe = ctx->fe;
	int k = ctx->k;
	char cause[192];

	switch (ev->kind) {
	case ZDU_ETCD_WATCH_CREATED:
		watch_created(fe, k, ev->endpoint);
		break;
	case ZDU_ETCD_WATCH_PUT:
	case ZDU_ETCD_WATCH_DELETE:
		if (strcmp(ev->kv->key, fe->key[k]) != 0 || ev->kv->mod_revision <= fe->wrev[k])
			break;
		advance(fe, k, ev->kv->mod_revision);
		if (value_set(&fe->val[k], ev->kind == ZDU_ETCD_WATCH_PUT, ev->kv->value, ev->kv->len)) {
			snprintf(cause, sizeof(cause), "etcd %s %s (revision %lld)",
				 ev->kind == ZDU_ETCD_WATCH_PUT ? "wrote" : "deleted", fe->key[k],
				 (long long)ev->kv->mod_revision);
			changed(fe, cause);
		}
		break;
	case ZDU_ETCD_WATCH_PROGRESS:
		/* Every event up to here was sent. */
		advance(fe, k, ev->revision);
		break;
	case ZDU_ETCD_WATCH_COMPACTED:
		/* History we need is gone: read the keys again. The client frees
		 * this watch after the callback. */
		zdu_log_warn("etcd: history compacted up to revision %lld: reading the flags again",
			     (long long)ev->compact_revision);
		fe->watch[k] = NULL;
		stop_watches(fe);
		fe->rev = 0;
		fe->wrev[K_NODE] = fe->wrev[K_ALL] = 0;
		uv_timer_start(&fe->retry, on_retry, 0, 0);
		break;
	case ZDU_ETCD_WATCH_ENDED:
		fe->watch[k] = NULL;
		retry_later(fe, ev->msg && *ev->msg ? ev->msg : "watch ended");
		break;
	}
}

static void on_check(const struct zdu_etcd_result *res, void *data)
{
	struct zdu_flag_etcd *fe = data;
	int k, stale = 0;
	char why[600];
	size_t i;

	fe->checking = 0;
	if (fe->check_gen != fe->watch_gen || fe->closing)
		return; /* the watches were restarted meanwhile */
	if (res->err != ZDU_OK) {
		snprintf(why, sizeof(why), "the watched member stopped answering: %s", res->msg);
		retry_later(fe, why);
		return;
	}
	for (k = 0; k < K_MAX; k++) {
		int64_t newer = 0;
		int present = 0;

		for (i = 0; i < res->nkvs; i++)
			if (strcmp(res->kvs[i].key, fe->key[k]) == 0) {
				present = 1;
				if (res->kvs[i].mod_revision > fe->wrev[k])
					newer = res->kvs[i].mod_revision;
			}
		if (!present && fe->val[k].present && res->revision > fe->wrev[k])
			newer = res->revision;
		/* An event may be on its way: only the same gap seen twice
		 * means the watch misses changes. */
		if (newer && fe->suspect[k] && fe->wrev[k] < fe->suspect[k])
			stale = 1;
		fe->suspect[k] = newer;
	}
	if (stale) {
		snprintf(why, sizeof(why), "the watch through %s missed a change: watching anew", fe->endpoint);
		retry_later(fe, why);
	}
}

static void on_check_timer(uv_timer_t *t)
{
	struct zdu_flag_etcd *fe = t->data;
	const char *keys[K_MAX] = { fe->key[K_NODE], fe->key[K_ALL] };

	if (fe->closing || fe->checking || !fe->reachable || !fe->watch[K_NODE])
		return;
	fe->check_gen = fe->watch_gen;
	if (zdu_etcd_watch_check(fe->watch[K_NODE], keys, K_MAX, on_check, fe) == 0)
		fe->checking = 1;
}

static void start(struct zdu_flag_etcd *fe)
{
	if (fe->closing || fe->reading)
		return;
	stop_watches(fe);
	if (fe->rev == 0 || fe->cached) {
		const char *keys[K_MAX] = { fe->key[K_NODE], fe->key[K_ALL] };

		if (zdu_etcd_get_many(fe->etcd, keys, K_MAX, on_read, fe) < 0) {
			retry_later(fe, "cannot start a read: out of memory");
			return;
		}
		fe->reading = 1;
		return;
	}
	watch_all(fe);
}

struct zdu_flag_etcd *zdu_flag_etcd_new(uv_loop_t *loop, struct zdu_state *state, struct zdu_etcd *etcd,
					const char *prefix, const char *node, const char *cache_path,
					int backoff_max_ms, int check_ms, int timeout_ms, char *err, size_t err_size)
{
	struct zdu_flag_etcd *fe = calloc(1, sizeof(*fe));

	if (!fe || asprintf(&fe->key[K_NODE], ZDU_ETCD_KEY_NODE, prefix, node) < 0 ||
	    asprintf(&fe->key[K_ALL], ZDU_ETCD_KEY_ALL, prefix) < 0 || !(fe->cache_path = strdup(cache_path))) {
		snprintf(err, err_size, "out of memory");
		if (fe) {
			free(fe->key[K_NODE]);
			free(fe->key[K_ALL]);
			free(fe);
		}
		return NULL;
	}
	fe->loop = loop;
	fe->state = state;
	fe->etcd = etcd;
	fe->source = -1;
	fe->backoff_ms = BACKOFF_MIN_MS;
	fe->backoff_max_ms = backoff_max_ms > BACKOFF_MIN_MS ? backoff_max_ms : BACKOFF_MIN_MS;
	fe->timeout_ms = timeout_ms > 0 ? timeout_ms : 2000;
	uv_timer_init(loop, &fe->retry);
	fe->retry.data = fe;
	uv_timer_init(loop, &fe->check);
	fe->check.data = fe;
	fe->nopen = 2;
	if (check_ms > 0)
		uv_timer_start(&fe->check, on_check_timer, (uint64_t)check_ms, (uint64_t)check_ms);
	zdu_strlcpy(fe->last_error, "not connected yet", sizeof(fe->last_error));
	cache_load(fe);
	start(fe);
	return fe;
}

json_t *zdu_flag_etcd_status_json(const struct zdu_flag_etcd *fe)
{
	json_t *o = json_object();
	json_t *keys = json_object();
	int k;

	json_object_set_new(o, "source", fe->source >= 0 ? json_string(key_names[fe->source]) : json_null());
	for (k = 0; k < K_MAX; k++) {
		char text[ZDU_REASON_MAX];

		if (fe->val[k].present)
			zdu_text_sanitize(text, sizeof(text), fe->val[k].buf, fe->val[k].len);
		/* revision: every change of this key up to here is applied (a
		 * writer waits for it to confirm its write). */
		json_object_set_new(keys, key_names[k],
				    json_pack("{s:s,s:b,s:I}", "key", fe->key[k], "present", fe->val[k].present,
					      "revision", (json_int_t)fe->wrev[k]));
		if (fe->val[k].present)
			json_object_set_new(json_object_get(keys, key_names[k]), "value", json_string(text));
	}
	json_object_set_new(o, "keys", keys);
	json_object_set_new(o, "reachable", json_boolean(fe->reachable));
	json_object_set_new(o, "endpoint", json_string(fe->endpoint));
	json_object_set_new(o, "revision",
			    json_integer((json_int_t)(fe->wrev[K_NODE] > fe->wrev[K_ALL] ? fe->wrev[K_NODE]
											 : fe->wrev[K_ALL])));
	json_object_set_new(o, "cached", json_boolean(fe->cached));
	json_object_set_new(o, "cache_file", json_string(fe->cache_path));
	json_object_set_new(o, "cache_error", fe->cache_error[0] ? json_string(fe->cache_error) : json_null());
	json_object_set_new(o, "changes", json_integer((json_int_t)fe->changes));
	json_object_set_new(o, "last_error", fe->last_error[0] ? json_string(fe->last_error) : json_null());
	json_object_set_new(o, "unreachable_s",
			    fe->reachable ? json_null()
					  : json_integer((json_int_t)(fe->unreachable_since
									     ? time(NULL) - fe->unreachable_since
									     : 0)));
	return o;
}

static void retry_closed(uv_handle_t *h)
{
	handle_closed(h->data);
}

void zdu_flag_etcd_close(struct zdu_flag_etcd *fe)
{
	fe->closing = 1;
	stop_watches(fe);
	/* A read in flight ends with the etcd client (freed after this). */
	uv_close((uv_handle_t *)&fe->retry, retry_closed);
	uv_close((uv_handle_t *)&fe->check, retry_closed);
}
