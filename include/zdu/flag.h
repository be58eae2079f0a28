/* The flag store: the maintenance flag's file format, and reading and
 * writing it so that a crash or power loss never leaves half a flag. */
#ifndef ZDU_FLAG_H
#define ZDU_FLAG_H

#include <stddef.h>

#include "zdu/error.h"
#include "zdu/flag-t.h"

const char *zdu_flag_mode_name(enum zdu_flag_mode mode);
/* Returns the mode for "drain", "maint", "lb" (and "off"), or -1. */
int zdu_flag_mode_parse(const char *name);

/* Parses a flag file's bytes. Always fills *flag: anything it cannot
 * understand yields mode DRAIN with flag->error saying what and where
 * (the caller prefixes the file name). Returns ZDU_OK or the error kind. */
enum zdu_err zdu_flag_parse(const char *buf, size_t len, struct zdu_flag *flag);

/* Serializes a flag into the file format; returns the length, or 0 when
 * buf is too small. */
size_t zdu_flag_format(const struct zdu_flag *flag, char *buf, size_t size);

/* Reads the flag at path. A missing file is mode OFF. A file that exists
 * but cannot be read or parsed is DRAIN with flag->error saying why.
 * Never blocks on a FIFO or device put in the flag's place. */
enum zdu_err zdu_flag_read(const char *path, struct zdu_flag *flag);

/* Writes the flag atomically: temporary file in the same directory, fsync,
 * rename over the flag, fsync of the directory. mode OFF removes the file
 * (and fsyncs the directory). On failure, the old flag stays as it was
 * and err says what failed and where. */
enum zdu_err zdu_flag_write(const char *path, const struct zdu_flag *flag,
			    char *err, size_t err_size);

/* Same content? (errors included; used to pass only changes on) */
int zdu_flag_equal(const struct zdu_flag *a, const struct zdu_flag *b);

/* Fills since with the current UTC time and by with user@host. */
void zdu_flag_stamp(struct zdu_flag *flag);

#endif
