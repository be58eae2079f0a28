/* Reading a libconfig file through a table of keys (keytab-t.h): defaults,
 * types, ranges, unknown keys, and errors that say "FILE:LINE: KEY: what",
 * as HAProxy's do. The file's own checks (values that depend on each other)
 * come after, with zdu_keytab_fail() for the same form of message. */
#ifndef ZDU_KEYTAB_H
#define ZDU_KEYTAB_H

#include <libconfig.h>
#include <stddef.h>

#include "zdu/error.h"
#include "zdu/keytab-t.h"

/* Reads file path, or text (path NULL; name stands for it in messages),
 * with libconfig into lc: ZDU_OK, then the caller destroys lc; or an error
 * with err "FILE:LINE: what libconfig says", "PATH: cannot open: why"
 * (ZDU_ERR_IO, errno kept) or, for text, "NAME:0: @include is not allowed
 * here". */
enum zdu_err zdu_keytab_read(config_t *lc, const char *path, const char *text, const char *name, char *err,
			     size_t err_size);

enum zdu_err zdu_keytab_fail(const struct zdu_keyload *ld, enum zdu_err code, const config_setting_t *s,
			     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Every key's default into base (which starts zeroed); ZDU_ERR_NOMEM. */
enum zdu_err zdu_keytab_defaults(const struct zdu_keytab *tab, void *base);
/* Frees what the table's keys and lists hold in base and zeroes them. */
void zdu_keytab_free(const struct zdu_keytab *tab, void *base);

/* Reads the file's root into base, over its defaults, in the file's order:
 * a top-level key, a group of keys or a list of groups, or an error (an
 * unknown name is an unknown section when the table has no top-level
 * keys); then the required keys and lists. */
enum zdu_err zdu_keytab_load(const struct zdu_keyload *ld, const struct zdu_keytab *tab,
			     const config_setting_t *root, void *base);

const struct zdu_config_key *zdu_keytab_find(const struct zdu_config_key *keys, size_t n, const char *group,
					      const char *name);
/* "an integer", "a group", ...: what a setting holds, for messages. */
const char *zdu_keytab_type_name(int config_type);

#endif
