/* The local flag file as a flag source: a uv_fs_event on its directory
 * (a change is seen at once) and a periodic re-read as a fallback for
 * missed events, both ending in one read and one zdu_state_apply(). */
#ifndef ZDU_FLAG_FILE_H
#define ZDU_FLAG_FILE_H

#include <stdint.h>
#include <uv.h>

#include "zdu/flag-t.h"

struct zdu_flag_file;

/* Where each read goes: the flag as read, and why it was read ("file
 * event: flag file /var/lib/zdu-agent/maintenance set (drain)"). Called
 * on every read; the state passes on only changes. */
typedef void (*zdu_flag_file_cb)(const struct zdu_flag *flag, const char *cause, void *data);

/* Starts watching; the flag is read once before this returns, so the
 * first reply already reflects it. NULL with err when the directory is
 * missing. */
struct zdu_flag_file *zdu_flag_file_new(uv_loop_t *loop, const char *path, int poll_ms, zdu_flag_file_cb cb,
					void *data, char *err, size_t err_size);
const char *zdu_flag_file_path(const struct zdu_flag_file *ff);
void zdu_flag_file_set_poll(struct zdu_flag_file *ff, int poll_ms);
/* Reads the file now and passes the result to the state (only a change
 * travels on). */
void zdu_flag_file_check(struct zdu_flag_file *ff, const char *cause);
/* Stops watching; frees itself once its handles are closed. */
void zdu_flag_file_close(struct zdu_flag_file *ff);

#endif
