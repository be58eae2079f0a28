#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "zdu/flag.h"
#include "zdu/flag_file.h"
#include "zdu/log.h"

struct zdu_flag_file {
	uv_loop_t *loop;
	zdu_flag_file_cb cb;
	void *data;
	char *path;
	char *dir;
	const char *base;     /* in path */
	const char *dir_base; /* last component of dir, in dir */
	uv_fs_event_t ev;
	uv_timer_t poll;
	int watching; /* the fs event is running */
	int nopen;
	uint64_t reads;
};

const char *zdu_flag_file_path(const struct zdu_flag_file *ff)
{
	return ff->path;
}

void zdu_flag_file_check(struct zdu_flag_file *ff, const char *cause)
{
	struct zdu_flag flag;
	char why[160];

	zdu_flag_read(ff->path, &flag);
	ff->reads++;
	if (flag.mode == ZDU_FLAG_OFF)
		snprintf(why, sizeof(why), "%s: flag file %s absent", cause, ff->path);
	else
		snprintf(why, sizeof(why), "%s: flag file %s set (%s)", cause, ff->path,
			 zdu_flag_mode_name(flag.mode));
	ff->cb(&flag, why, ff->data);
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
	struct zdu_flag_file *ff = h->data;

	(void)events;
	if (status < 0) {
		zdu_log_warn("watching %s: %s; falling back to re-reading it periodically", ff->dir,
			     uv_strerror(status));
		uv_fs_event_stop(h);
		ff->watching = 0;
		return;
	}
	/* An event on the watched directory itself (libuv names it as the
	 * entry): it was removed or replaced (the watch is then dead, even if
	 * a new directory got the same inode), or only its attributes changed
	 * (chmod by tmpfiles). Watch the path again at once either way, and
	 * read the flag in case it changed meanwhile; if there is no directory
	 * now, the periodic check keeps trying. */
	if (filename && (events & UV_RENAME) && strcmp(filename, ff->dir_base) == 0 &&
	    strcmp(filename, ff->base) != 0) {
		uv_fs_event_stop(h);
		ff->watching = uv_fs_event_start(h, on_fs_event, ff->dir, 0) == 0;
		if (!ff->watching)
			zdu_log_warn("flag directory %s is gone; re-reading the flag every check until it is back",
				     ff->dir);
		zdu_flag_file_check(ff, "flag directory changed");
		return;
	}
	/* No name means the kernel could not say which entry: read anyway. */
	if (filename && strcmp(filename, ff->base) != 0)
		return;
	zdu_flag_file_check(ff, "file event");
}

static void on_poll(uv_timer_t *t)
{
	struct zdu_flag_file *ff = t->data;

	/* The directory may have been replaced (the watch then sees nothing):
	 * try to watch again. */
	if (!ff->watching && uv_fs_event_start(&ff->ev, on_fs_event, ff->dir, 0) == 0) {
		ff->watching = 1;
		zdu_log_info("watching %s for flag changes again", ff->dir);
	}
	zdu_flag_file_check(ff, "periodic check");
}

void zdu_flag_file_set_poll(struct zdu_flag_file *ff, int poll_ms)
{
	uv_timer_start(&ff->poll, on_poll, (uint64_t)poll_ms, (uint64_t)poll_ms);
}

/* A writer killed between creating its temporary file and the rename
 * leaves ".<flag>.XXXXXX" behind (the flag itself is intact). Remove those
 * older than a minute, so that killed writers cannot fill the directory;
 * a young one may belong to a writer still at work. */
static void remove_stale_temporaries(struct zdu_flag_file *ff)
{
	size_t blen = strlen(ff->base);
	time_t now = time(NULL);
	struct dirent *e;
	DIR *d;

	d = opendir(ff->dir);
	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[4096];
		struct stat st;

		if (e->d_name[0] != '.' || strncmp(e->d_name + 1, ff->base, blen) != 0 ||
		    e->d_name[1 + blen] != '.' || strlen(e->d_name + 2 + blen) != 6)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", ff->dir, e->d_name) >= (int)sizeof(path))
			continue;
		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && now - st.st_mtime > 60) {
			if (unlink(path) == 0)
				zdu_log_info("removed %s, left by a flag writer that did not finish", path);
		}
	}
	closedir(d);
}

static void ff_free(struct zdu_flag_file *ff)
{
	free(ff->path);
	free(ff->dir);
	free(ff);
}

struct zdu_flag_file *zdu_flag_file_new(uv_loop_t *loop, const char *path, int poll_ms, zdu_flag_file_cb cb,
					void *data, char *err, size_t err_size)
{
	struct zdu_flag_file *ff;
	struct stat st;
	char *slash;
	int r;

	ff = calloc(1, sizeof(*ff));
	if (!ff || !(ff->path = strdup(path)) || !(ff->dir = strdup(path))) {
		if (ff)
			ff_free(ff);
		snprintf(err, err_size, "flag.file: out of memory");
		return NULL;
	}
	ff->loop = loop;
	ff->cb = cb;
	ff->data = data;
	slash = strrchr(ff->dir, '/');
	ff->base = ff->path + (slash - ff->dir) + 1;
	slash[slash == ff->dir ? 1 : 0] = '\0';
	ff->dir_base = strrchr(ff->dir, '/') + 1;
	if (stat(ff->dir, &st) < 0) {
		snprintf(err, err_size, "flag.file: directory %s: %s", ff->dir, strerror(errno));
		ff_free(ff);
		return NULL;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, err_size, "flag.file: %s is not a directory", ff->dir);
		ff_free(ff);
		return NULL;
	}

	remove_stale_temporaries(ff);
	uv_fs_event_init(loop, &ff->ev);
	uv_timer_init(loop, &ff->poll);
	ff->ev.data = ff->poll.data = ff;
	ff->nopen = 2;
	r = uv_fs_event_start(&ff->ev, on_fs_event, ff->dir, 0);
	if (r < 0)
		zdu_log_warn("cannot watch %s (%s): re-reading the flag every %d ms instead", ff->dir,
			     uv_strerror(r), poll_ms);
	else
		ff->watching = 1;
	zdu_flag_file_set_poll(ff, poll_ms);
	zdu_flag_file_check(ff, "start");
	return ff;
}

static void ff_closed(uv_handle_t *h)
{
	struct zdu_flag_file *ff = h->data;

	if (--ff->nopen == 0)
		ff_free(ff);
}

void zdu_flag_file_close(struct zdu_flag_file *ff)
{
	uv_close((uv_handle_t *)&ff->ev, ff_closed);
	uv_close((uv_handle_t *)&ff->poll, ff_closed);
}
