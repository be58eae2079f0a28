#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/keytab.h"

#define FIELD(base, off, type) ((type *)(void *)((char *)(base) + (off)))

enum zdu_err zdu_keytab_fail(const struct zdu_keyload *ld, enum zdu_err code, const config_setting_t *s,
			     const char *fmt, ...)
{
	const char *file = s ? config_setting_source_file(s) : NULL;
	int line = s ? (int)config_setting_source_line(s) : 0;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(ld->err, ld->err_size, "%s:%d: %s", file ? file : ld->name, line, msg);
	return code;
}

const char *zdu_keytab_type_name(int t)
{
	switch (t) {
	case CONFIG_TYPE_GROUP: return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: return "an integer";
	case CONFIG_TYPE_FLOAT: return "a float";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL: return "a boolean";
	case CONFIG_TYPE_ARRAY: return "an array";
	case CONFIG_TYPE_LIST: return "a list";
	}
	return "something else";
}

const struct zdu_config_key *zdu_keytab_find(const struct zdu_config_key *keys, size_t n, const char *group,
					      const char *name)
{
	size_t i;

	for (i = 0; name && i < n; i++)
		if (strcmp(keys[i].group, group) == 0 && strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static int group_known(const struct zdu_config_key *keys, size_t n, const char *group)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (*keys[i].group && strcmp(keys[i].group, group) == 0)
			return 1;
	return 0;
}

static const struct zdu_keytab_group *find_group(const struct zdu_keytab *tab, const char *name)
{
	size_t i;

	for (i = 0; i < tab->ngroups; i++)
		if (strcmp(tab->groups[i].name, name) == 0)
			return &tab->groups[i];
	return NULL;
}

/* ---- values ---- */

static void string_free(char **s, int secret)
{
	if (*s && secret)
		explicit_bzero(*s, strlen(*s));
	free(*s);
	*s = NULL;
}

static void strlist_free(struct zdu_strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void intlist_free(struct zdu_intlist *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int intlist_push(struct zdu_intlist *l, int x)
{
	int *v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (!v)
		return -1;
	l->v = v;
	l->v[l->n++] = x;
	return 0;
}

static int strlist_push(struct zdu_strlist *l, const char *s)
{
	char **v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (!v)
		return -1;
	l->v = v;
	if (!(l->v[l->n] = strdup(s)))
		return -1;
	l->n++;
	return 0;
}

static void key_free(const struct zdu_config_key *k, void *base)
{
	switch (k->type) {
	case ZDU_CT_STRING:
		string_free(FIELD(base, k->offset, char *), (k->flags & ZDU_KEY_SECRET) != 0);
		break;
	case ZDU_CT_STRLIST:
		strlist_free(FIELD(base, k->offset, struct zdu_strlist));
		break;
	case ZDU_CT_INTLIST:
		intlist_free(FIELD(base, k->offset, struct zdu_intlist));
		break;
	default:
		break;
	}
}

static enum zdu_err key_default(const struct zdu_config_key *k, void *base)
{
	size_t i;

	switch (k->type) {
	case ZDU_CT_INT:
	case ZDU_CT_BOOL:
	case ZDU_CT_ENUM:
		*FIELD(base, k->offset, int) = (int)k->def_int;
		break;
	case ZDU_CT_STRING:
		if (!(*FIELD(base, k->offset, char *) = strdup(k->def_str ? k->def_str : "")))
			return ZDU_ERR_NOMEM;
		break;
	case ZDU_CT_STRLIST:
		for (i = 0; k->def_list && k->def_list[i]; i++)
			if (strlist_push(FIELD(base, k->offset, struct zdu_strlist), k->def_list[i]) < 0)
				return ZDU_ERR_NOMEM;
		if (!k->def_list && k->def_str &&
		    strlist_push(FIELD(base, k->offset, struct zdu_strlist), k->def_str) < 0)
			return ZDU_ERR_NOMEM;
		break;
	case ZDU_CT_INTLIST:
		if (k->def_int && intlist_push(FIELD(base, k->offset, struct zdu_intlist), (int)k->def_int) < 0)
			return ZDU_ERR_NOMEM;
		break;
	}
	return ZDU_OK;
}

static enum zdu_err keys_default(const struct zdu_config_key *keys, size_t n, void *base)
{
	enum zdu_err rc;
	size_t i;

	for (i = 0; i < n; i++)
		if ((rc = key_default(&keys[i], base)) != ZDU_OK)
			return rc;
	return ZDU_OK;
}

enum zdu_err zdu_keytab_defaults(const struct zdu_keytab *tab, void *base)
{
	return keys_default(tab->keys, tab->nkeys, base);
}

void zdu_keytab_free(const struct zdu_keytab *tab, void *base)
{
	size_t i, j, e;

	for (i = 0; i < tab->nkeys; i++)
		key_free(&tab->keys[i], base);
	for (i = 0; i < tab->ngroups; i++) {
		const struct zdu_keytab_group *g = &tab->groups[i];
		char **arr;
		size_t *count;

		if (!g->keys)
			continue;
		arr = FIELD(base, g->offset, char *);
		count = FIELD(base, g->count_offset, size_t);
		for (e = 0; *arr && e < *count; e++)
			for (j = 0; j < g->nkeys; j++)
				key_free(&g->keys[j], *arr + e * g->elem_size);
		free(*arr);
		*arr = NULL;
		*count = 0;
	}
}

/* ---- reading ---- */

static enum zdu_err set_strlist(const struct zdu_keyload *ld, const struct zdu_config_key *k, const char *full,
				const config_setting_t *s, void *base)
{
	struct zdu_strlist *l = FIELD(base, k->offset, struct zdu_strlist);
	int t = config_setting_type(s), i, n;
	int list_ok = t == CONFIG_TYPE_ARRAY || (t == CONFIG_TYPE_LIST && !(k->flags & ZDU_KEY_ARRAY));

	n = list_ok ? config_setting_length(s) : 0;
	if (!list_ok || (n == 0 && (k->flags & ZDU_KEY_NONEMPTY)))
		return zdu_keytab_fail(ld, ZDU_ERR_TYPE, s, "%s: expected a list of strings like %s, got %s", full,
				       k->example ? k->example : "[ \"a\", \"b\" ]",
				       list_ok ? "an empty list" : zdu_keytab_type_name(t));
	strlist_free(l);
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return zdu_keytab_fail(ld, ZDU_ERR_TYPE, e, "%s: item %d: expected a string, got %s", full,
					       i + 1, zdu_keytab_type_name(config_setting_type(e)));
		if (strlist_push(l, config_setting_get_string(e)) < 0)
			return ZDU_ERR_NOMEM;
	}
	return ZDU_OK;
}

static enum zdu_err set_intlist(const struct zdu_keyload *ld, const struct zdu_config_key *k, const char *full,
				const config_setting_t *s, void *base)
{
	struct zdu_intlist *l = FIELD(base, k->offset, struct zdu_intlist);
	int t = config_setting_type(s), i, n;

	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
		return zdu_keytab_fail(ld, ZDU_ERR_TYPE, s, "%s: expected a list of integers like [ 8774 ], got %s",
				       full, zdu_keytab_type_name(t));
	intlist_free(l);
	n = config_setting_length(s);
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		int et = config_setting_type(e);
		long long v;

		if (et != CONFIG_TYPE_INT && et != CONFIG_TYPE_INT64)
			return zdu_keytab_fail(ld, ZDU_ERR_TYPE, e, "%s: item %d: expected an integer, got %s", full,
					       i + 1, zdu_keytab_type_name(et));
		v = config_setting_get_int64(e);
		if (v < k->min || v > k->max)
			return zdu_keytab_fail(ld, ZDU_ERR_RANGE, e, "%s: item %d: %lld is out of range (%lld to %lld)",
					       full, i + 1, v, k->min, k->max);
		if (intlist_push(l, (int)v) < 0)
			return ZDU_ERR_NOMEM;
	}
	return ZDU_OK;
}

static enum zdu_err set_enum(const struct zdu_keyload *ld, const struct zdu_config_key *k, const char *full,
			     const config_setting_t *s, void *base)
{
	const char *v;
	char choices[128] = "";
	int i;

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return zdu_keytab_fail(ld, ZDU_ERR_TYPE, s, "%s: expected a string, got %s", full,
				       zdu_keytab_type_name(config_setting_type(s)));
	v = config_setting_get_string(s);
	for (i = 0; k->choices[i]; i++) {
		if (strcmp(v, k->choices[i]) == 0) {
			*FIELD(base, k->offset, int) = i;
			return ZDU_OK;
		}
	}
	for (i = 0; k->choices[i]; i++) {
		if (i)
			strncat(choices, ", ", sizeof(choices) - strlen(choices) - 1);
		strncat(choices, k->choices[i], sizeof(choices) - strlen(choices) - 1);
	}
	return zdu_keytab_fail(ld, ZDU_ERR_RANGE, s, "%s: unknown value \"%.64s\" (one of: %s)", full, v, choices);
}

/* Key k's value from setting s; full is its name in messages. */
static enum zdu_err set_key(const struct zdu_keyload *ld, const struct zdu_config_key *k, const char *full,
			    const config_setting_t *s, void *base)
{
	int t = config_setting_type(s);

	switch (k->type) {
	case ZDU_CT_INT: {
		long long v;

		if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
			return zdu_keytab_fail(ld, ZDU_ERR_TYPE, s, "%s: expected an integer, got %s", full,
					       zdu_keytab_type_name(t));
		v = config_setting_get_int64(s);
		if (v < k->min || v > k->max)
			return zdu_keytab_fail(ld, ZDU_ERR_RANGE, s, "%s: %lld is out of range (%lld to %lld)", full, v,
					       k->min, k->max);
		*FIELD(base, k->offset, int) = (int)v;
		return ZDU_OK;
	}
	case ZDU_CT_BOOL:
		if (t != CONFIG_TYPE_BOOL)
			return zdu_keytab_fail(ld, ZDU_ERR_TYPE, s, "%s: expected true or false, got %s", full,
					       zdu_keytab_type_name(t));
		*FIELD(base, k->offset, int) = config_setting_get_bool(s);
		return ZDU_OK;
	case ZDU_CT_STRING: {
		char **field = FIELD(base, k->offset, char *), *dup;

		if (t != CONFIG_TYPE_STRING)
			return zdu_keytab_fail(ld, ZDU_ERR_TYPE, s, "%s: expected a string, got %s", full,
					       zdu_keytab_type_name(t));
		if ((k->flags & ZDU_KEY_NONEMPTY) && !*config_setting_get_string(s))
			return zdu_keytab_fail(ld, ZDU_ERR_RANGE, s, "%s: must not be empty", full);
		if (!(dup = strdup(config_setting_get_string(s))))
			return ZDU_ERR_NOMEM;
		string_free(field, (k->flags & ZDU_KEY_SECRET) != 0);
		*field = dup;
		return ZDU_OK;
	}
	case ZDU_CT_ENUM:
		return set_enum(ld, k, full, s, base);
	case ZDU_CT_STRLIST:
		return set_strlist(ld, k, full, s, base);
	case ZDU_CT_INTLIST:
		return set_intlist(ld, k, full, s, base);
	}
	return ZDU_OK;
}

/* The members of group g (the root, a group, an entry of a list), each a
 * key of `group` in keys; then the required ones. prefix ("", "etcd.",
 * "nodes[2].") names them in messages. */
static enum zdu_err load_members(const struct zdu_keyload *ld, const struct zdu_config_key *keys, size_t n,
				 const char *group, const config_setting_t *g, const char *prefix, void *base)
{
	enum zdu_err rc;
	char full[160];
	int i, len = config_setting_length(g);
	size_t j;

	for (i = 0; i < len; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		const struct zdu_config_key *k = zdu_keytab_find(keys, n, group, name);

		if (!k)
			return zdu_keytab_fail(ld, ZDU_ERR_UNKNOWN_KEY, s, "%s%s: unknown key", prefix,
					       name ? name : "?");
		snprintf(full, sizeof(full), "%s%s", prefix, name);
		if ((rc = set_key(ld, k, full, s, base)) != ZDU_OK)
			return rc;
	}
	for (j = 0; j < n; j++)
		if ((keys[j].flags & ZDU_KEY_REQUIRED) && strcmp(keys[j].group, group) == 0 &&
		    !config_setting_get_member(g, keys[j].name))
			return zdu_keytab_fail(ld, ZDU_ERR_PARSE, g, "%s%s: missing", prefix, keys[j].name);
	return ZDU_OK;
}

/* A list of groups: one struct per entry, counted as it is filled (so a
 * failure frees what was read). */
static enum zdu_err load_list(const struct zdu_keyload *ld, const struct zdu_keytab_group *gr,
			      const config_setting_t *l, void *base)
{
	char **arr = FIELD(base, gr->offset, char *);
	size_t *count = FIELD(base, gr->count_offset, size_t);
	enum zdu_err rc;
	int i, n;

	if (config_setting_type(l) != CONFIG_TYPE_LIST)
		return zdu_keytab_fail(ld, ZDU_ERR_TYPE, l, "%s: expected a list like %s", gr->name,
				       gr->example ? gr->example : "( { ... } )");
	n = config_setting_length(l);
	if (n == 0 && (gr->flags & ZDU_KEY_NONEMPTY))
		return zdu_keytab_fail(ld, ZDU_ERR_RANGE, l, "%s: empty", gr->name);
	if (n > 0 && !(*arr = calloc((size_t)n, gr->elem_size)))
		return ZDU_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
		void *elem = *arr + (size_t)i * gr->elem_size;
		char prefix[96];

		if (!config_setting_is_group(e))
			return zdu_keytab_fail(ld, ZDU_ERR_TYPE, e, "%s[%d]: expected a group { ... }", gr->name, i);
		(*count)++;
		snprintf(prefix, sizeof(prefix), "%s[%d].", gr->name, i);
		if ((rc = keys_default(gr->keys, gr->nkeys, elem)) != ZDU_OK ||
		    (rc = load_members(ld, gr->keys, gr->nkeys, "", e, prefix, elem)) != ZDU_OK)
			return rc;
	}
	return ZDU_OK;
}

static enum zdu_err load_group(const struct zdu_keyload *ld, const struct zdu_keytab *tab,
			       const struct zdu_keytab_group *gr, const char *name, const config_setting_t *g,
			       void *base)
{
	char prefix[96];

	if (!config_setting_is_group(g)) {
		if (gr && gr->example)
			return zdu_keytab_fail(ld, ZDU_ERR_TYPE, g, "%s: expected a group %s", name, gr->example);
		return zdu_keytab_fail(ld, ZDU_ERR_TYPE, g, "%s: expected a group like %s: { ... };", name, name);
	}
	snprintf(prefix, sizeof(prefix), "%s.", name);
	return load_members(ld, tab->keys, tab->nkeys, name, g, prefix, base);
}

enum zdu_err zdu_keytab_load(const struct zdu_keyload *ld, const struct zdu_keytab *tab,
			     const config_setting_t *root, void *base)
{
	int has_top = 0, i, n = config_setting_length(root);
	enum zdu_err rc;
	size_t j;

	for (j = 0; j < tab->nkeys && !has_top; j++)
		has_top = !*tab->keys[j].group;
	for (i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(s);
		const struct zdu_config_key *k = zdu_keytab_find(tab->keys, tab->nkeys, "", name);
		const struct zdu_keytab_group *gr = name ? find_group(tab, name) : NULL;

		if (k)
			rc = set_key(ld, k, name, s, base);
		else if (gr && gr->keys)
			rc = load_list(ld, gr, s, base);
		else if (gr || (name && group_known(tab->keys, tab->nkeys, name)))
			rc = load_group(ld, tab, gr, name, s, base);
		else
			rc = zdu_keytab_fail(ld, ZDU_ERR_UNKNOWN_KEY, s, "%s: %s", name ? name : "?",
					     has_top ? "unknown key" : "unknown section");
		if (rc != ZDU_OK)
			return rc;
	}
	for (j = 0; j < tab->nkeys; j++)
		if ((tab->keys[j].flags & ZDU_KEY_REQUIRED) && !*tab->keys[j].group &&
		    !config_setting_get_member(root, tab->keys[j].name))
			return zdu_keytab_fail(ld, ZDU_ERR_PARSE, root, "%s: missing", tab->keys[j].name);
	for (j = 0; j < tab->ngroups; j++)
		if ((tab->groups[j].flags & ZDU_KEY_REQUIRED) && !config_setting_get_member(root, tab->groups[j].name))
			return zdu_keytab_fail(ld, ZDU_ERR_PARSE, root, "%s: missing", tab->groups[j].name);
	return ZDU_OK;
}

enum zdu_err zdu_keytab_read(config_t *lc, const char *path, const char *text, const char *name, char *err,
			     size_t err_size)
{
	const char *file;
	FILE *f;
	int ok, e;

	if (path) {
		if (!(f = fopen(path, "re"))) {
			e = errno;
			snprintf(err, err_size, "%s: cannot open: %s", path, strerror(e));
			errno = e;
			return ZDU_ERR_IO;
		}
		fclose(f);
	} else if (strstr(text, "@include")) {
		/* A string has no directory to include from; refusing keeps the
		 * fuzzers from reading the machine's files. */
		snprintf(err, err_size, "%s:0: @include is not allowed here", name);
		return ZDU_ERR_PARSE;
	}
	config_init(lc);
	ok = path ? config_read_file(lc, path) : config_read_string(lc, text);
	if (ok == CONFIG_TRUE)
		return ZDU_OK;
	file = config_error_file(lc);
	snprintf(err, err_size, "%s:%d: %s", file ? file : name, config_error_line(lc), config_error_text(lc));
	config_destroy(lc);
	return ZDU_ERR_PARSE;
}
