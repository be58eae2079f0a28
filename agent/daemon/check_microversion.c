/* The microversion kind: any OpenStack version document, its maximum at
 * version_path and/or in the response header version_header (which wins).
 *   placement  GET /      {"versions": [{"max_version": "1.39", "min_version": "1.0", "status": "CURRENT"}]}
 *   cinder     GET /v3/   {"versions": [{"version": "3.70", "min_version": "3.0", "status": "CURRENT"}]}
 *   manila     GET /v2/   as cinder
 *   ironic     GET /v1/   X-OpenStack-Ironic-API-Maximum-Version: 1.87 (and no version in the body)
 *   nova       GET /v2.1/ {"version": {"version": "2.93", ...}}
 * The path is a tiny evaluator over jansson: keys and [index] joined by
 * dots; where "versions" lists several, the CURRENT one wins whatever the
 * index (a root document lists every API version: nova's, cinder's). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/check.h"
#include "zdu/common.h"
#include "zdu/microversion.h"

#define PATH_INDEX_MAX 999999 /* six digits: no document lists more */
#define WHERE_MAX 96          /* the path walked so far, as said in reasons */

/* One step of a path: a key (may be empty at the very start, before an
 * index) or an index. Returns the bytes used, 0 at the end, -1 malformed. */
struct step {
	const char *key;
	size_t keylen;
	long index; /* -1: a key */
};

static int next_step(const char *path, size_t at, struct step *st, char *reason, size_t rsize)
{
	const char *p = path + at;
	size_t n = 0;

	st->key = NULL;
	st->keylen = 0;
	st->index = -1;
	if (!*p)
		return 0;
	if (*p == '[') {
		long v = 0;

		if (!isdigit((unsigned char)p[1])) {
			snprintf(reason, rsize, "path: a digit expected after '[' at byte %zu", at + 1);
			return -1;
		}
		for (n = 1; isdigit((unsigned char)p[n]); n++) {
			v = v * 10 + (p[n] - '0');
			if (n > 6) {
				snprintf(reason, rsize, "path: index over %d at byte %zu", PATH_INDEX_MAX, at + 1);
				return -1;
			}
		}
		if (p[n] != ']') {
			snprintf(reason, rsize, "path: ']' expected at byte %zu", at + n);
			return -1;
		}
		st->index = v;
		n++;
	} else {
		if (*p == '.') {
			if (at == 0) {
				snprintf(reason, rsize, "path: starts with '.'");
				return -1;
			}
			p++;
			n++;
		}
		while (p[st->keylen] && p[st->keylen] != '.' && p[st->keylen] != '[') {
			if (p[st->keylen] == ']' || (unsigned char)p[st->keylen] < 0x20) {
				snprintf(reason, rsize, "path: unexpected byte at %zu", at + n + st->keylen);
				return -1;
			}
			st->keylen++;
		}
		if (!st->keylen) {
			snprintf(reason, rsize, "path: empty key at byte %zu", at + n);
			return -1;
		}
		st->key = p;
		n += st->keylen;
	}
	/* after a step: the end, '.', or '[' */
	if (path[at + n] && path[at + n] != '.' && path[at + n] != '[') {
		snprintf(reason, rsize, "path: unexpected byte at %zu", at + n);
		return -1;
	}
	if (path[at + n] == '.' && !path[at + n + 1]) {
		snprintf(reason, rsize, "path: ends with '.'");
		return -1;
	}
	return (int)n;
}

int zdu_check_path_valid(const char *path, char *reason, size_t reason_size)
{
	struct step st;
	size_t at = 0;
	int n;

	if (!path || !*path) {
		snprintf(reason, reason_size, "path: empty");
		return -1;
	}
	if (strlen(path) > 256) {
		snprintf(reason, reason_size, "path: over 256 bytes");
		return -1;
	}
	while ((n = next_step(path, at, &st, reason, reason_size)) > 0)
		at += (size_t)n;
	return n < 0 ? -1 : 0;
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "a list";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/* The one entry of a "versions" list whose status is CURRENT, or NULL. */
static json_t *current_entry(json_t *list)
{
	size_t i;
	json_t *e;

	json_array_foreach(list, i, e) {
		json_t *s = json_object_get(e, "status");

		if (json_is_string(s) && strcmp(json_string_value(s), "CURRENT") == 0)
			return e;
	}
	return NULL;
}

json_t *zdu_check_json_path(json_t *root, const char *path, char *reason, size_t reason_size)
{
	char where[WHERE_MAX] = "", k[48];
	json_t *v = root;
	struct step st;
	size_t at = 0, wl = 0;
	int n, was_versions = 0;

	if (zdu_check_path_valid(path, reason, reason_size) < 0)
		return NULL;
	while ((n = next_step(path, at, &st, reason, reason_size)) > 0) {
		at += (size_t)n;
		if (st.index < 0) {
			zdu_text_sanitize(k, sizeof(k), st.key, st.keylen);
			if (!json_is_object(v)) {
				snprintf(reason, reason_size, "%s is %s, not an object", wl ? where : "the answer",
					 type_name(v));
				return NULL;
			}
			/* jansson's keys are NUL-terminated: a key of the path
			 * is looked up by its bytes. */
			v = json_object_getn(v, st.key, st.keylen);
			if (!v) {
				snprintf(reason, reason_size, "no key '%s' %s%s", k, wl ? "at " : "in the answer",
					 wl ? where : "");
				return NULL;
			}
			was_versions = st.keylen == 8 && memcmp(st.key, "versions", 8) == 0;
			wl += (size_t)snprintf(where + wl, wl < sizeof(where) ? sizeof(where) - wl : 0, "%s%s",
					       wl ? "." : "", k);
		} else {
			json_t *e;

			if (!json_is_array(v)) {
				snprintf(reason, reason_size, "%s is %s, not a list", wl ? where : "the answer",
					 type_name(v));
				return NULL;
			}
			e = was_versions && json_array_size(v) > 1 ? current_entry(v) : NULL;
			if (!e)
				e = json_array_get(v, (size_t)st.index);
			if (!e) {
				snprintf(reason, reason_size, "%s has %zu entries, no [%ld]", wl ? where : "the answer",
					 json_array_size(v), st.index);
				return NULL;
			}
			v = e;
			was_versions = 0;
			wl += (size_t)snprintf(where + wl, wl < sizeof(where) ? sizeof(where) - wl : 0, "[%ld]",
					       st.index);
		}
		if (wl >= sizeof(where))
			wl = sizeof(where) - 1;
	}
	return n < 0 ? NULL : v;
}

static int valid_mv(const char *s, size_t len)
{
	int ok;

	if (len >= ZDU_VERSION_MAX || strlen(s) != len)
		return 0;
	zdu_microversion_cmp(s, "1.0", &ok);
	return ok;
}

/* The string at path, a microversion: 0, or -1 with a reason. */
static int read_version(json_t *root, const char *path, char *out, char *reason, size_t rsize)
{
	json_t *v = zdu_check_json_path(root, path, reason, rsize);
	char p[64], s[24];

	if (!v)
		return -1;
	zdu_text_sanitize(p, sizeof(p), path, strlen(path));
	if (!json_is_string(v)) {
		snprintf(reason, rsize, "%s is %s, not a version string", p, type_name(v));
		return -1;
	}
	if (!valid_mv(json_string_value(v), json_string_length(v))) {
		zdu_text_sanitize(s, sizeof(s), json_string_value(v), json_string_length(v));
		snprintf(reason, rsize, "%s \"%s\" is not MAJOR.MINOR", p, s);
		return -1;
	}
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

int zdu_check_version_doc(const char *body, size_t len, const char *path, const char *min_path,
			  char *version, char *min_version, char *reason, size_t reason_size)
{
	json_error_t jerr;
	json_t *root;
	char why[8];
	int rc;

	version[0] = min_version[0] = '\0';
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(reason, reason_size, "invalid JSON at byte %d", jerr.position);
		return -1;
	}
	rc = read_version(root, path, version, reason, reason_size);
	/* The minimum is informational: an odd one is left empty, not fatal. */
	if (rc == 0 && min_path && *min_path && read_version(root, min_path, min_version, why, sizeof(why)) < 0)
		min_version[0] = '\0';
	json_decref(root);
	return rc;
}

/* The version header: 1 found and good (out filled), 0 absent, -1 bad. */
static int from_header(const struct zdu_check_ctx *c, const struct zdu_http_result *res, char *out,
		       char *reason, size_t rsize)
{
	char h[64], s[24];

	if (!res->header_found)
		return 0;
	if (res->header_cut || !valid_mv(res->header, strlen(res->header))) {
		zdu_text_sanitize(h, sizeof(h), c->version_header, strlen(c->version_header));
		zdu_text_sanitize(s, sizeof(s), res->header, strlen(res->header));
		snprintf(reason, rsize, "%s: header %s \"%s\" is not MAJOR.MINOR", c->name, h, s);
		return -1;
	}
	zdu_strlcpy(out, res->header, ZDU_VERSION_MAX);
	return 1;
}

void zdu_check_microversion(const struct zdu_check_ctx *c, const struct zdu_http_result *res,
			    struct zdu_check_result *out)
{
	char why[ZDU_REASON_MAX - 24], h[64], hv[ZDU_VERSION_MAX] = "", mn[ZDU_VERSION_MAX], unused[ZDU_VERSION_MAX];
	int good = 0, hr = 0;
	int has_path = c->version_path && *c->version_path;

	memset(out, 0, sizeof(*out));
	if (zdu_check_transport(c->name, res, c->timeout_ms, out->reason, sizeof(out->reason)) < 0)
		goto done;
	/* 200; 300 is how a root document listing every version answers. */
	if (res->status != 200 && res->status != 300) {
		snprintf(out->reason, sizeof(out->reason), "%s: HTTP %ld", c->name, res->status);
		goto done;
	}
	if (c->version_header && *c->version_header) {
		hr = from_header(c, res, hv, out->reason, sizeof(out->reason));
		if (hr < 0)
			goto done;
		if (hr == 0 && !has_path) {
			zdu_text_sanitize(h, sizeof(h), c->version_header, strlen(c->version_header));
			snprintf(out->reason, sizeof(out->reason), "%s: no %s header in the answer", c->name, h);
			goto done;
		}
	}
	if (hr == 1) {
		zdu_strlcpy(out->version, hv, sizeof(out->version));
		/* the body may still tell the minimum; a broken body does not
		 * matter then */
		if (c->min_version_path && *c->min_version_path &&
		    zdu_check_version_doc(res->body, res->len, c->min_version_path, NULL, mn, unused, why,
					  sizeof(why)) == 0)
			zdu_strlcpy(out->min_version, mn, sizeof(out->min_version));
		good = 1;
		goto done;
	}
	if (zdu_check_version_doc(res->body, res->len, c->version_path, c->min_version_path, out->version,
				  out->min_version, why, sizeof(why)) < 0) {
		snprintf(out->reason, sizeof(out->reason), "%s: %s", c->name, why);
		goto done;
	}
	good = 1;
done:
	if (!good)
		out->version[0] = out->min_version[0] = '\0';
	zdu_check_finish(c, res, good, out);
}
