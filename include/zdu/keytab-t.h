/* A table of documented keys: the one source of a file's defaults, its
 * validation (types, ranges, choices, unknown keys, file:line: key errors)
 * and its man page. zdu-agent.conf (config.c) and zdu-coordinator's plan
 * (plan.c) are both read through one. */
#ifndef ZDU_KEYTAB_T_H
#define ZDU_KEYTAB_T_H

#include <stddef.h>

struct zdu_strlist {
	char **v;
	size_t n;
};

struct zdu_intlist {
	int *v;
	size_t n;
};

enum zdu_config_type {
	ZDU_CT_INT,
	ZDU_CT_BOOL,
	ZDU_CT_STRING,
	ZDU_CT_STRLIST,
	ZDU_CT_ENUM,
	ZDU_CT_INTLIST,
};

/* Flags of a key (and of a list of groups). */
#define ZDU_KEY_REQUIRED 1u /* its absence is an error ("KEY: missing") */
#define ZDU_KEY_NONEMPTY 2u /* a string must not be "", a list not empty */
#define ZDU_KEY_ARRAY 4u    /* a list of strings in [ ] only, not ( ) */
#define ZDU_KEY_SECRET 8u   /* a string wiped before it is freed */

/* One documented key of group `group` ("" at the top of the file), stored
 * at offset in the struct the table fills. */
struct zdu_config_key {
	const char *group;
	const char *name;
	enum zdu_config_type type;
	size_t offset;
	long long min, max;          /* ZDU_CT_INT, ZDU_CT_INTLIST (each item) */
	const char *const *choices;  /* ZDU_CT_ENUM, NULL-terminated; stored as index */
	long long def_int;           /* ZDU_CT_INT, ZDU_CT_BOOL, ZDU_CT_ENUM (index), ZDU_CT_INTLIST (one item, 0: none) */
	const char *def_str;         /* ZDU_CT_STRING; ZDU_CT_STRLIST: one item or NULL */
	const char *doc;
	unsigned flags;              /* ZDU_KEY_* */
	const char *const *def_list; /* ZDU_CT_STRLIST: several items, NULL-terminated (instead of def_str) */
	const char *example;         /* a value as it is written, for type errors: "[ \"ssh\" ]" */
	const char *def_doc;         /* the default in words when it is not a constant ("the node's name") */
};

/* A group of keys ("timeouts = { ... };"), or with keys a list of groups
 * ("nodes = ( { ... }, { ... } );"), each entry filled from those keys
 * (their group "") into an array of elem_size structs at offset, with its
 * count at count_offset. A group of keys with no entry here is known by
 * its keys alone. */
struct zdu_keytab_group {
	const char *name;
	unsigned flags;          /* lists: ZDU_KEY_REQUIRED, ZDU_KEY_NONEMPTY */
	const char *example;     /* for the type error: "{ drain_ms = ...; }" */
	const char *doc;         /* what the group is, for the man page */
	const struct zdu_config_key *keys;
	size_t nkeys;
	size_t elem_size, offset, count_offset;
};

struct zdu_keytab {
	const struct zdu_config_key *keys; /* every key of the file but lists' */
	size_t nkeys;
	const struct zdu_keytab_group *groups;
	size_t ngroups;
};

/* Where an error goes: err (err_size) gets "FILE:LINE: message", FILE
 * being name when the setting does not know its file. */
struct zdu_keyload {
	const char *name;
	char *err;
	size_t err_size;
};

#endif
