#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "zdu/error.h"

#include "zdu/common.h"

size_t zdu_strlcpy(char *dst, const char *src, size_t dst_size)
{
	size_t n = strlen(src);

	if (dst_size == 0)
		return 0;
	if (n >= dst_size)
		n = dst_size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return n;
}

size_t zdu_text_sanitize(char *dst, size_t dst_size, const char *src, size_t src_len)
{
	size_t i, n = 0;

	if (dst_size == 0)
		return 0;
	for (i = 0; i < src_len && n + 1 < dst_size; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c == '\0')
			break;
		dst[n++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	/* Trailing blanks would be invisible in a reply: drop them. */
	while (n > 0 && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
	return n;
}

uint64_t zdu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static size_t utf8_seq_len(const unsigned char *p)
{
	size_t n, i;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates and beyond U+10FFFF are not UTF-8. */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

size_t zdu_utf8_sanitize(char *dst, size_t dst_size, const char *src)
{
	const unsigned char *p = (const unsigned char *)src;
	size_t len = 0;

	if (dst_size == 0)
		return 0;
	while (*p) {
		size_t n = utf8_seq_len(p);

		if (n == 0) {
			n = 1;
			if (len + 1 >= dst_size)
				break;
			dst[len++] = '?';
		} else {
			if (len + n >= dst_size)
				break;
			memcpy(dst + len, p, n);
			len += n;
		}
		p += n;
	}
	dst[len] = '\0';
	return len;
}

static int write_fail(char *err, size_t err_size, const char *what, const char *path)
{
	snprintf(err, err_size, "%s %s: %s", what, path, strerror(errno));
	return ZDU_ERR_IO;
}

static int fsync_dir(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd, rc;

	zdu_strlcpy(dir, path, sizeof(dir));
	slash = strrchr(dir, '/');
	if (!slash)
		zdu_strlcpy(dir, ".", sizeof(dir));
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int zdu_file_remove_durable(const char *path, char *err, size_t err_size)
{
	if (unlink(path) < 0 && errno != ENOENT)
		return write_fail(err, err_size, "cannot remove", path);
	if (fsync_dir(path) < 0)
		return write_fail(err, err_size, "cannot fsync the directory of", path);
	return ZDU_OK;
}

int zdu_file_write_atomic(const char *path, const char *content, size_t len, int mode, char *err,
				   size_t err_size)
{
	char tmp[PATH_MAX];
	const char *base = strrchr(path, '/');
	size_t off = 0;
	int fd, n;

	/* Same directory as the flag, so the rename is atomic; a dot name the
	 * watcher ignores. */
	n = base ? snprintf(tmp, sizeof(tmp), "%.*s.%s.XXXXXX", (int)(base - path + 1), path, base + 1)
		 : snprintf(tmp, sizeof(tmp), ".%s.XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		snprintf(err, err_size, "path too long: %s", path);
		return ZDU_ERR_RANGE;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return write_fail(err, err_size, "cannot create a temporary file for", path);
	while (off < len) {
		ssize_t w = write(fd, content + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto fail;
		off += (size_t)w;
	}
	/* Data on disk before the name points at it: a power loss after the
	 * rename must not find an empty file. */
	if (fchmod(fd, (mode_t)mode) < 0 || fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	if (fsync_dir(path) < 0)
		return write_fail(err, err_size, "cannot fsync the directory of", path);
	return ZDU_OK;
fail:
	{
		int e = errno;

		if (fd >= 0)
			close(fd);
		unlink(tmp);
		errno = e;
	}
	return write_fail(err, err_size, "cannot write", path);
}


int zdu_read_first_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	if (!fgets(buf, (int)size, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	return 0;
}

const char *zdu_duration_text(uint64_t ms, char *buf, size_t size)
{
	if (ms < 1000)
		snprintf(buf, size, "%llu ms", (unsigned long long)ms);
	else
		snprintf(buf, size, "%.1f s", (double)ms / 1000.0);
	return buf;
}

const char *zdu_utc_ms(int64_t unix_ms, char *buf, size_t size)
{
	time_t sec = (time_t)(unix_ms / 1000);
	long ms = (long)(unix_ms % 1000);
	struct tm tm;

	if (ms < 0) {
		ms += 1000;
		sec--;
	}
	gmtime_r(&sec, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
	return buf;
}

const char *zdu_utc_now_ms(char *buf, size_t size)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return zdu_utc_ms((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, buf, size);
}
