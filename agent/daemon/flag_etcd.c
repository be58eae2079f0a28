#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "zdu/common.h"
#include "zdu/config.h"
#include "zdu/etcd_keys.h"
#include "zdu/flag.h"
#include "zdu/flag_etcd.h"
#include "zdu/log.h"

#define BACKOFF_MIN_MS 100
/* The cache holds every key's value, a value cut at one byte over the
 * flag's limit (it is a drain either way): a bound for the read. */
#define CACHE_MAX_BYTES (64 * 1024 + (ZDU_SERVICES_MAX + 2) * (ZDU_FLAG_MAX_BYTES * 4 / 3 + 128))
/* Names of services this agent does not have, remembered to log each once. */
#define UNKNOWN_MAX 32

/* The keys: the node's, the cluster's, then one per service. */
enum { K_NODE = 0, K_ALL, K_SERVICES };
/* The watches: the node's range (its key and its services'), the cluster key. */
enum { W_NODE = 0, W_ALL, W_MAX };
static const char *const key_names[K_SERVICES] = { "node", "all" };

struct value {
	int present;
	char *buf;
	size_t len;
};

/* One watched key. */
struct fkey {
	char *key;
	char *service;        /* its service; NULL for the node's and the cluster's */
	int watch;            /* W_NODE or W_ALL */
	struct value val;
	struct zdu_flag flag; /* a service's: what its value says */
	int dirty;            /* changed since the owner was last told */
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

/* What a watch's callback needs to know: whose and which watch. */
struct wctx {
	struct zdu_flag_etcd *fe;
	int w;
};

struct zdu_flag_etcd {
	uv_loop_t *loop;
	struct zdu_etcd *etcd;
	zdu_flag_etcd_cb cb;
	void *cb_data;
	struct fkey *keys;    /* K_NODE, K_ALL, then the services */
	size_t nkeys;
	char range_end[600];  /* the node's range: [key[K_NODE], range_end) */
	size_t range_end_len;
	char *cache_path;
	struct zdu_etcd_watch *watch[W_MAX];
	struct wctx wctx[W_MAX];
	int created[W_MAX];
	/* Everything up to rev is known for every key; a watch resumes after
	 * it. 0: nothing read yet (or compacted): read the keys first. */
	int64_t rev;
	int64_t wrev[W_MAX]; /* per watch: events seen up to here */
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
	int64_t suspect[W_MAX]; /* a newer revision than the watch gave, seen once */
	int reachable;       /* both watches run */
	int ever_reached;
	int cached;          /* values from the cache, etcd not read yet */
	char endpoint[256];
	char last_error[512];
	time_t unreachable_since;
	uint64_t changes;    /* values changed by etcd */
	struct zdu_flag flag; /* what the etcd source says now for the node */
	int source;          /* K_NODE, K_ALL, or -1 */
	/* Keys under NODE/ that name no service of this agent: counted, each
	 * name logged once. */
	char *unknown[UNKNOWN_MAX];
	size_t nunknown;
	uint64_t unknown_seen;
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

enum zdu_flag_etcd_key zdu_flag_etcd_key_kind(const char *node_key, const char *key, size_t keylen,
					      const char **name, size_t *name_len)
{
	size_t n = strlen(node_key);

	*name = NULL;
	*name_len = 0;
	if (keylen < n || memcmp(key, node_key, n) != 0)
		return ZDU_FLAG_ETCD_OTHER;
	if (keylen == n)
		return ZDU_FLAG_ETCD_NODE;
	/* NODE-x, NODE.x: another node whose name starts with ours. */
	if (key[n] != '/')
		return ZDU_FLAG_ETCD_OTHER;
	*name = key + n + 1;
	*name_len = keylen - n - 1;
	return zdu_service_name_valid(*name, *name_len) ? ZDU_FLAG_ETCD_SERVICE : ZDU_FLAG_ETCD_BAD_NAME;
}

/* Tells the owner what changed (the node: its key or the cluster key;
 * a service: its key), or everything (all). */
static void deliver(struct zdu_flag_etcd *fe, const char *cause, int all)
{
	struct zdu_flag f[K_SERVICES];
	size_t i;
	int k;

	if (all || fe->keys[K_NODE].dirty || fe->keys[K_ALL].dirty) {
		/* The node's own key says more than the cluster-wide one. */
		fe->source = -1;
		memset(&fe->flag, 0, sizeof(fe->flag));
		for (k = 0; k < K_SERVICES; k++)
			zdu_flag_etcd_value(fe->keys[k].key, fe->keys[k].val.present, fe->keys[k].val.buf,
					    fe->keys[k].val.len, &f[k]);
		for (k = 0; k < K_SERVICES; k++) {
			if (f[k].mode != ZDU_FLAG_OFF) {
				fe->flag = f[k];
				fe->source = k;
				break;
			}
		}
		fe->cb(NULL, &fe->flag, cause, fe->cb_data);
	}
	for (i = K_SERVICES; i < fe->nkeys; i++) {
		struct fkey *fk = &fe->keys[i];

		if (!all && !fk->dirty)
			continue;
		zdu_flag_etcd_value(fk->key, fk->val.present, fk->val.buf, fk->val.len, &fk->flag);
		fe->cb(fk->service, &fk->flag, cause, fe->cb_data);
	}
	for (i = 0; i < fe->nkeys; i++)
		fe->keys[i].dirty = 0;
}

/* Returns 1 when the value changed (and marks the key for deliver()). */
static int value_set(struct fkey *fk, int present, const char *buf, size_t len)
{
	struct value *v = &fk->val;
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
	fk->dirty = 1;
	return 1;
}

/* A key under NODE/ naming no service of ours: counted, logged once per
 * name (the first UNKNOWN_MAX of them). */
static void note_unknown(struct zdu_flag_etcd *fe, const char *key, const char *name, size_t len, int valid)
{
	char text[2 * ZDU_SERVICE_NAME_MAX];
	size_t i;

	fe->unknown_seen++;
	zdu_text_sanitize(text, sizeof(text), name, len > ZDU_SERVICE_NAME_MAX ? ZDU_SERVICE_NAME_MAX : len);
	for (i = 0; i < fe->nunknown; i++)
		if (strcmp(fe->unknown[i], text) == 0)
			return;
	if (fe->nunknown == UNKNOWN_MAX)
		return;
	if (!(fe->unknown[fe->nunknown] = strdup(text)))
		return;
	if (++fe->nunknown == UNKNOWN_MAX)
		zdu_log_warn("etcd: %d unknown service keys under %s: further ones are counted, not logged",
			     UNKNOWN_MAX, fe->keys[K_NODE].key);
	if (valid)
		zdu_log_warn("etcd: %.300s names service \"%s\", which this agent does not have: ignored", key, text);
	else
		zdu_log_warn("etcd: %.300s: \"%s\" is not a service name (1 to 63 of A-Z a-z 0-9 . _ -): ignored",
			     key, text);
}

/* The key's index among ours, or -1 (another node's, or an unknown
 * service's: noted when note is set). */
static int key_lookup(struct zdu_flag_etcd *fe, const char *key, int note)
{
	const char *name;
	size_t len, i;

	if (strcmp(key, fe->keys[K_ALL].key) == 0)
		return K_ALL;
	switch (zdu_flag_etcd_key_kind(fe->keys[K_NODE].key, key, strlen(key), &name, &len)) {
	case ZDU_FLAG_ETCD_NODE:
		return K_NODE;
	case ZDU_FLAG_ETCD_SERVICE:
		for (i = K_SERVICES; i < fe->nkeys; i++)
			if (strlen(fe->keys[i].service) == len && memcmp(fe->keys[i].service, name, len) == 0)
				return (int)i;
		if (note)
			note_unknown(fe, key, name, len, 1);
		return -1;
	case ZDU_FLAG_ETCD_BAD_NAME:
		if (note)
			note_unknown(fe, key, name, len, 0);
		return -1;
	case ZDU_FLAG_ETCD_OTHER:
		break;
	}
	return -1;
}

/* The two ranges read: the node's (its key and its services') and the
 * cluster key. */
static void ranges(const struct zdu_flag_etcd *fe, struct zdu_etcd_range r[W_MAX])
{
	memset(r, 0, W_MAX * sizeof(*r));
	r[W_NODE].key = fe->keys[K_NODE].key;
	r[W_NODE].range_end = fe->range_end;
	r[W_NODE].range_end_len = fe->range_end_len;
	r[W_ALL].key = fe->keys[K_ALL].key;
}

/* ---- the cache file ---- */

static void free_all(struct zdu_flag_etcd *fe)
{
	size_t i;

	for (i = 0; fe->keys && i < fe->nkeys; i++) {
		free(fe->keys[i].key);
		free(fe->keys[i].service);
		free(fe->keys[i].val.buf);
	}
	for (i = 0; i < fe->nunknown; i++)
		free(fe->unknown[i]);
	free(fe->keys);
	free(fe->cache_path);
	free(fe);
}

static void handle_closed(struct zdu_flag_etcd *fe)
{
	if (--fe->nopen > 0)
		return;
	free_all(fe);
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

/* One "name=BASE64" line ("-": absent), appended. A value over the flag's
 * limit is a drain whatever follows: its first ZDU_FLAG_MAX_BYTES + 1
 * bytes say so, and keep the cache small. */
static int cache_line(char **text, const char *name, const struct value *v)
{
	char *b64 = v->present ? zdu_b64_encode(v->buf, v->len > ZDU_FLAG_MAX_BYTES ? ZDU_FLAG_MAX_BYTES + 1 : v->len)
			       : NULL;
	char *n = NULL;
	int rc;

	if (v->present && !b64)
		return -1;
	rc = asprintf(&n, "%s%s=%s\n", *text, name, b64 ? b64 : "-");
	free(b64);
	if (rc < 0)
		return -1;
	free(*text);
	*text = n;
	return 0;
}

/* The format: "revision=N", "node=", "all=", then "service.NAME=" per
 * service (an older cache has none: its services are read from etcd). */
static char *cache_text(const struct zdu_flag_etcd *fe)
{
	char *text = NULL, name[ZDU_SERVICE_NAME_MAX + 16];
	size_t i;

	if (asprintf(&text,
		     "# zdu-agent: the etcd flags last seen, used while etcd cannot be reached\n"
		     "revision=%lld\n",
		     (long long)fe->rev) < 0)
		return NULL;
	for (i = 0; i < fe->nkeys; i++) {
		if (fe->keys[i].service)
			snprintf(name, sizeof(name), "service.%s", fe->keys[i].service);
		else
			zdu_strlcpy(name, key_names[i], sizeof(name));
		if (cache_line(&text, name, &fe->keys[i].val) < 0) {
			free(text);
			return NULL;
		}
	}
	return text;
}

static void cache_save(struct zdu_flag_etcd *fe)
{
	struct cache_job *j;

	if (fe->job) {
		fe->cache_dirty = 1;
		return;
	}
	fe->cache_dirty = 0;
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->content = cache_text(fe);
	j->path = strdup(fe->cache_path);
	if (!j->content || !j->path) {
		free(j->content);
		free(j->path);
		free(j);
		return;
	}
	j->len = strlen(j->content);
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

/* The key a cache line names: node, all, service.NAME of a service we
 * have (-2: of one we no longer have, skipped), or -1. */
static int cache_key(const struct zdu_flag_etcd *fe, const char *name)
{
	size_t i;

	if (strcmp(name, "node") == 0)
		return K_NODE;
	if (strcmp(name, "all") == 0)
		return K_ALL;
	if (strncmp(name, "service.", 8) != 0 || !zdu_service_name_valid(name + 8, strlen(name + 8)))
		return -1;
	for (i = K_SERVICES; i < fe->nkeys; i++)
		if (strcmp(fe->keys[i].service, name + 8) == 0)
			return (int)i;
	return -2;
}

/* Parses the cache's text; -1 with err when it is not one we wrote. */
static int cache_parse(struct zdu_flag_etcd *fe, char *text, char *err, size_t err_size)
{
	char *line, *save = NULL;
	int lineno = 0, seen = 0;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		int k;

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
		k = cache_key(fe, line);
		if (k == -2)
			continue; /* a service taken out of the configuration */
		if (k < 0) {
			snprintf(err, err_size, "line %d: unknown key \"%.40s\"", lineno, line);
			return -1;
		}
		if (k < K_SERVICES)
			seen |= 2 << k;
		if (strcmp(eq, "-") != 0) {
			size_t slen = strlen(eq);
			char *buf = malloc(slen / 4 * 3 + 1);
			long n = buf ? zdu_b64_decode(eq, slen, buf, slen / 4 * 3) : -1;

			if (n < 0) {
				free(buf);
				snprintf(err, err_size, "line %d: %.80s is not valid base64", lineno, line);
				return -1;
			}
			value_set(&fe->keys[k], 1, buf, (size_t)n);
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
	char *buf = NULL, err[256];
	ssize_t n = 0;
	size_t len = 0;
	int fd = open(fe->cache_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		if (errno != ENOENT)
			goto unreadable_errno;
		zdu_log_info("etcd: no cache at %s yet: no etcd flag until etcd answers", fe->cache_path);
		return;
	}
	if (!(buf = malloc(CACHE_MAX_BYTES + 1))) {
		close(fd);
		snprintf(err, sizeof(err), "out of memory");
		goto unreadable;
	}
	while (len < CACHE_MAX_BYTES && (n = read(fd, buf + len, CACHE_MAX_BYTES - len)) > 0)
		len += (size_t)n;
	if (n < 0) {
		close(fd);
		goto unreadable_errno;
	}
	close(fd);
	buf[len] = '\0';
	if (len >= CACHE_MAX_BYTES) {
		snprintf(err, sizeof(err), "over %d bytes", CACHE_MAX_BYTES - 1);
		goto unreadable;
	}
	if (cache_parse(fe, buf, err, sizeof(err)) < 0)
		goto unreadable;
	free(buf);
	fe->cached = 1;
	deliver(fe, "etcd cache (etcd not read yet)", 1);
	zdu_log_notice("etcd: flags from the cache %s (revision %lld) until etcd answers", fe->cache_path,
		       (long long)fe->rev);
	return;
unreadable_errno:
	snprintf(err, sizeof(err), "%s", strerror(errno));
unreadable:
	free(buf);
	/* As with an unreadable flag file: unknown means drain (the node, so
	 * every service), until etcd says otherwise. */
	fe->rev = 0;
	value_set(&fe->keys[K_NODE], 1, "", 0);
	fe->keys[K_NODE].dirty = 0;
	fe->cached = 1;
	memset(&fe->flag, 0, sizeof(fe->flag));
	fe->flag.mode = ZDU_FLAG_DRAIN;
	snprintf(fe->flag.error, sizeof(fe->flag.error), "etcd cache %.80s unreadable: %.80s", fe->cache_path, err);
	fe->source = K_NODE;
	fe->cb(NULL, &fe->flag, "etcd cache unreadable", fe->cb_data);
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
	int w;

	fe->watch_gen++;
	for (w = 0; w < W_MAX; w++) {
		fe->suspect[w] = 0;
		if (fe->watch[w])
			zdu_etcd_watch_cancel(fe->watch[w]);
		fe->watch[w] = NULL;
		fe->created[w] = 0;
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

static void changed(struct zdu_flag_etcd *fe, const char *cause)
{
	fe->changes++;
	deliver(fe, cause, 0);
	cache_save(fe);
}

static void on_watch(const struct zdu_etcd_watch_event *ev, void *data);

static int all_created(const struct zdu_flag_etcd *fe)
{
	int w;

	for (w = 0; w < W_MAX; w++)
		if (!fe->created[w])
			return 0;
	return 1;
}

/* A member that hangs accepts the watch's connection and never answers:
 * without this deadline the agent would wait on it for ever. */
static void on_create_timeout(uv_timer_t *t)
{
	struct zdu_flag_etcd *fe = t->data;
	char why[512];
	int w;

	if (all_created(fe))
		return;
	snprintf(why, sizeof(why), "no answer to a watch through %s within %d ms", zdu_etcd_endpoint(fe->etcd),
		 fe->timeout_ms);
	for (w = 0; w < W_MAX; w++)
		if (fe->watch[w] && !fe->created[w]) {
			zdu_etcd_watch_abandon(fe->watch[w]);
			fe->watch[w] = NULL;
		}
	retry_later(fe, why);
}

static void watch_all(struct zdu_flag_etcd *fe)
{
	int w;

	uv_timer_start(&fe->retry, on_create_timeout, (uint64_t)fe->timeout_ms, 0);
	for (w = 0; w < W_MAX; w++) {
		/* Each watch resumes after its own last event: replaying an older
		 * event would flip the reply back for a moment. */
		if (fe->wrev[w] < fe->rev)
			fe->wrev[w] = fe->rev;
		fe->created[w] = 0;
		fe->wctx[w].fe = fe;
		fe->wctx[w].w = w;
		if (w == W_NODE)
			fe->watch[w] = zdu_etcd_watch_range(fe->etcd, fe->keys[K_NODE].key, fe->range_end,
							    fe->range_end_len, fe->wrev[w] + 1, on_watch, &fe->wctx[w]);
		else
			fe->watch[w] = zdu_etcd_watch_start(fe->etcd, fe->keys[K_ALL].key, fe->wrev[w] + 1, on_watch,
							    &fe->wctx[w]);
		if (!fe->watch[w]) {
			retry_later(fe, "cannot start a watch: out of memory");
			return;
		}
	}
}

static void on_read(const struct zdu_etcd_result *res, void *data)
{
	struct zdu_flag_etcd *fe = data;
	const struct zdu_etcd_kv **kv;
	size_t i;
	int w, diff = 0;

	fe->reading = 0;
	if (res->err != ZDU_OK) {
		retry_later(fe, res->msg);
		return;
	}
	if (!(kv = calloc(fe->nkeys, sizeof(*kv)))) {
		retry_later(fe, "cannot read the flags: out of memory");
		return;
	}
	for (i = 0; i < res->nkvs; i++) {
		int k = key_lookup(fe, res->kvs[i].key, 1);

		if (k >= 0)
			kv[k] = &res->kvs[i];
	}
	for (i = 0; i < fe->nkeys; i++)
		diff |= value_set(&fe->keys[i], kv[i] != NULL, kv[i] ? kv[i]->value : NULL, kv[i] ? kv[i]->len : 0);
	free(kv);
	fe->rev = res->revision;
	for (w = 0; w < W_MAX; w++)
		fe->wrev[w] = res->revision;
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
static void watch_created(struct zdu_flag_etcd *fe, int w, const char *endpoint)
{
	fe->created[w] = 1;
	if (!all_created(fe))
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
			zdu_log_notice("etcd: watching %s (with %zu service key%s under it, one stream) and %s through %s",
				       fe->keys[K_NODE].key, fe->nkeys - K_SERVICES, fe->nkeys - K_SERVICES == 1 ? "" : "s",
				       fe->keys[K_ALL].key, endpoint);
	}
	fe->reachable = 1;
	fe->ever_reached = 1;
	fe->unreachable_since = 0;
	fe->last_error[0] = '\0';
}

/* The revision every key is known up to is the lowest of the watches'. */
static void advance(struct zdu_flag_etcd *fe, int w, int64_t rev)
{
	int64_t r;

	if (rev > fe->wrev[w])
		fe->wrev[w] = rev;
	r = fe->wrev[W_NODE] < fe->wrev[W_ALL] ? fe->wrev[W_NODE] : fe->wrev[W_ALL];
	if (r > fe->rev)
		fe->rev = r;
}

/* One event of a watch: which of our keys it is (the node's range also
 * holds other nodes' keys), then the value. */
static void on_event(struct zdu_flag_etcd *fe, int w, const struct zdu_etcd_watch_event *ev)
{
	int put = ev->kind == ZDU_ETCD_WATCH_PUT;
	char cause[192];
	int k;

	/* One txn may change several keys of the range at one revision: only
	 * an event older than what is known is a replay. */
	if (ev->kv->mod_revision < fe->wrev[w])
		return;
	k = key_lookup(fe, ev->kv->key, put);
	advance(fe, w, ev->kv->mod_revision);
	if (k < 0 || fe->keys[k].watch != w)
		return;
	if (value_set(&fe->keys[k], put, ev->kv->value, ev->kv->len)) {
		snprintf(cause, sizeof(cause), "etcd %s %.150s (revision %lld)", put ? "wrote" : "deleted",
			 fe->keys[k].key, (long long)ev->kv->mod_revision);
		changed(fe, cause);
	}
}

static void on_watch(const struct zdu_etcd_watch_event *ev, void *data)
{
	struct wctx *ctx = data;
	struct zdu_flag_etcd *fe = ctx->fe;
	int w = ctx->w;

	switch (ev->kind) {
	case ZDU_ETCD_WATCH_CREATED:
		watch_created(fe, w, ev->endpoint);
		break;
	case ZDU_ETCD_WATCH_PUT:
	case ZDU_ETCD_WATCH_DELETE:
		on_event(fe, w, ev);
		break;
	case ZDU_ETCD_WATCH_PROGRESS:
		/* Every event up to here was sent. */
		advance(fe, w, ev->revision);
		break;
	case ZDU_ETCD_WATCH_COMPACTED:
		/* History we need is gone: read the keys again. The client frees
		 * this watch after the callback. */
		zdu_log_warn("etcd: history compacted up to revision %lld: reading the flags again",
			     (long long)ev->compact_revision);
		fe->watch[w] = NULL;
		stop_watches(fe);
		fe->rev = 0;
		fe->wrev[W_NODE] = fe->wrev[W_ALL] = 0;
		uv_timer_start(&fe->retry, on_retry, 0, 0);
		break;
	case ZDU_ETCD_WATCH_ENDED:
		fe->watch[w] = NULL;
		retry_later(fe, ev->msg && *ev->msg ? ev->msg : "watch ended");
		break;
	}
}

static void on_check(const struct zdu_etcd_result *res, void *data)
{
	struct zdu_flag_etcd *fe = data;
	int64_t newer[W_MAX] = { 0, 0 };
	int w, stale = 0;
	char why[600];
	size_t i, j;

	fe->checking = 0;
	if (fe->check_gen != fe->watch_gen || fe->closing)
		return; /* the watches were restarted meanwhile */
	if (res->err != ZDU_OK) {
		snprintf(why, sizeof(why), "the watched member stopped answering: %s", res->msg);
		retry_later(fe, why);
		return;
	}
	for (i = 0; i < fe->nkeys; i++) {
		const struct fkey *fk = &fe->keys[i];
		int present = 0;

		w = fk->watch;
		for (j = 0; j < res->nkvs; j++)
			if (strcmp(res->kvs[j].key, fk->key) == 0) {
				present = 1;
				if (res->kvs[j].mod_revision > fe->wrev[w] && res->kvs[j].mod_revision > newer[w])
					newer[w] = res->kvs[j].mod_revision;
			}
		if (!present && fk->val.present && res->revision > fe->wrev[w] && res->revision > newer[w])
			newer[w] = res->revision;
	}
	for (w = 0; w < W_MAX; w++) {
		/* An event may be on its way: only the same gap seen twice
		 * means the watch misses changes. */
		if (newer[w] && fe->suspect[w] && fe->wrev[w] < fe->suspect[w])
			stale = 1;
		fe->suspect[w] = newer[w];
	}
	if (stale) {
		snprintf(why, sizeof(why), "the watch through %s missed a change: watching anew", fe->endpoint);
		retry_later(fe, why);
	}
}

static void on_check_timer(uv_timer_t *t)
{
	struct zdu_flag_etcd *fe = t->data;
	struct zdu_etcd_range r[W_MAX];

	if (fe->closing || fe->checking || !fe->reachable || !fe->watch[W_NODE])
		return;
	ranges(fe, r);
	fe->check_gen = fe->watch_gen;
	if (zdu_etcd_watch_check_ranges(fe->watch[W_NODE], r, W_MAX, on_check, fe) == 0)
		fe->checking = 1;
}

static void start(struct zdu_flag_etcd *fe)
{
	if (fe->closing || fe->reading)
		return;
	stop_watches(fe);
	if (fe->rev == 0 || fe->cached) {
		struct zdu_etcd_range r[W_MAX];

		ranges(fe, r);
		if (zdu_etcd_read(fe->etcd, r, W_MAX, on_read, fe) < 0) {
			retry_later(fe, "cannot start a read: out of memory");
			return;
		}
		fe->reading = 1;
		return;
	}
	watch_all(fe);
}

/* The keys: the node's, the cluster's, one per service; the node's range. */
static int make_keys(struct zdu_flag_etcd *fe, const struct zdu_flag_etcd_conf *conf, char *err, size_t err_size)
{
	size_t i;

	if (!(fe->keys = calloc(K_SERVICES + conf->nservices, sizeof(*fe->keys))))
		goto nomem;
	fe->nkeys = K_SERVICES + conf->nservices;
	if (asprintf(&fe->keys[K_NODE].key, ZDU_ETCD_KEY_NODE, conf->prefix, conf->node) < 0) {
		fe->keys[K_NODE].key = NULL;
		goto nomem;
	}
	if (asprintf(&fe->keys[K_ALL].key, ZDU_ETCD_KEY_ALL, conf->prefix) < 0) {
		fe->keys[K_ALL].key = NULL;
		goto nomem;
	}
	fe->keys[K_ALL].watch = W_ALL;
	for (i = 0; i < conf->nservices; i++) {
		struct fkey *fk = &fe->keys[K_SERVICES + i];
		const char *name = conf->services[i];

		if (!zdu_service_name_valid(name, strlen(name))) {
			snprintf(err, err_size, "etcd: \"%.80s\" is not a service name", name);
			return -1;
		}
		fk->watch = W_NODE;
		if (!(fk->service = strdup(name)))
			goto nomem;
		if (asprintf(&fk->key, ZDU_ETCD_KEY_SERVICE, conf->prefix, conf->node, name) < 0) {
			fk->key = NULL;
			goto nomem;
		}
	}
	/* [NODE, NODE0): the node's key and every NODE/... key (with other
	 * nodes' NODE-x and NODE.x, filtered out by key_lookup()). */
	{
		char slash[sizeof(fe->range_end)];

		if ((size_t)snprintf(slash, sizeof(slash), "%s/", fe->keys[K_NODE].key) >= sizeof(slash)) {
			snprintf(err, err_size, "etcd: the node's key %.80s... is too long", fe->keys[K_NODE].key);
			return -1;
		}
		fe->range_end_len = zdu_etcd_prefix_end(slash, fe->range_end, sizeof(fe->range_end));
	}
	return 0;
nomem:
	snprintf(err, err_size, "out of memory");
	return -1;
}

struct zdu_flag_etcd *zdu_flag_etcd_new(uv_loop_t *loop, struct zdu_etcd *etcd,
					const struct zdu_flag_etcd_conf *conf, char *err, size_t err_size)
{
	struct zdu_flag_etcd *fe = calloc(1, sizeof(*fe));

	if (!fe) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	if (make_keys(fe, conf, err, err_size) < 0) {
		free_all(fe);
		return NULL;
	}
	if (!(fe->cache_path = strdup(conf->cache_path))) {
		snprintf(err, err_size, "out of memory");
		free_all(fe);
		return NULL;
	}
	fe->loop = loop;
	fe->etcd = etcd;
	fe->cb = conf->cb;
	fe->cb_data = conf->data;
	fe->source = -1;
	fe->backoff_ms = BACKOFF_MIN_MS;
	fe->backoff_max_ms = conf->backoff_max_ms > BACKOFF_MIN_MS ? conf->backoff_max_ms : BACKOFF_MIN_MS;
	fe->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : 2000;
	uv_timer_init(loop, &fe->retry);
	fe->retry.data = fe;
	uv_timer_init(loop, &fe->check);
	fe->check.data = fe;
	fe->nopen = 2;
	if (conf->check_ms > 0)
		uv_timer_start(&fe->check, on_check_timer, (uint64_t)conf->check_ms, (uint64_t)conf->check_ms);
	zdu_strlcpy(fe->last_error, "not connected yet", sizeof(fe->last_error));
	cache_load(fe);
	start(fe);
	return fe;
}

/* One key's status: key, present, value, revision (every change of it up
 * to here is applied: a writer waits for it to confirm its write). */
static json_t *key_json(const struct zdu_flag_etcd *fe, const struct fkey *fk)
{
	json_t *o = json_pack("{s:s,s:b,s:I}", "key", fk->key, "present", fk->val.present, "revision",
			      (json_int_t)fe->wrev[fk->watch]);

	if (fk->val.present) {
		char text[ZDU_REASON_MAX];

		zdu_text_sanitize(text, sizeof(text), fk->val.buf, fk->val.len);
		json_object_set_new(o, "value", json_string(text));
	}
	return o;
}

/* A service's key, and the flag it makes (its error when unreadable). */
static json_t *service_json(const struct zdu_flag_etcd *fe, const struct fkey *fk)
{
	json_t *o = key_json(fe, fk);

	json_object_set_new(o, "active", json_boolean(fk->flag.mode != ZDU_FLAG_OFF));
	json_object_set_new(o, "mode", json_string(zdu_flag_mode_name(fk->flag.mode)));
	if (fk->flag.mode != ZDU_FLAG_OFF)
		json_object_set_new(o, "reason", json_string(fk->flag.reason));
	json_object_set_new(o, "error", fk->flag.error[0] ? json_string(fk->flag.error) : json_null());
	return o;
}

json_t *zdu_flag_etcd_status_json(const struct zdu_flag_etcd *fe)
{
	json_t *o = json_object();
	json_t *keys = json_object();
	json_t *services = json_object();
	json_t *unknown = json_array();
	size_t i;

	json_object_set_new(o, "source", fe->source >= 0 ? json_string(key_names[fe->source]) : json_null());
	for (i = 0; i < K_SERVICES; i++)
		json_object_set_new(keys, key_names[i], key_json(fe, &fe->keys[i]));
	json_object_set_new(o, "keys", keys);
	for (i = K_SERVICES; i < fe->nkeys; i++)
		json_object_set_new(services, fe->keys[i].service, service_json(fe, &fe->keys[i]));
	json_object_set_new(o, "services", services);
	for (i = 0; i < fe->nunknown; i++)
		json_array_append_new(unknown, json_string(fe->unknown[i]));
	json_object_set_new(o, "unknown_services", unknown);
	json_object_set_new(o, "unknown_keys_seen", json_integer((json_int_t)fe->unknown_seen));
	json_object_set_new(o, "watches", json_integer(W_MAX));
	json_object_set_new(o, "reachable", json_boolean(fe->reachable));
	json_object_set_new(o, "endpoint", json_string(fe->endpoint));
	json_object_set_new(o, "revision",
			    json_integer((json_int_t)(fe->wrev[W_NODE] > fe->wrev[W_ALL] ? fe->wrev[W_NODE]
											 : fe->wrev[W_ALL])));
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
