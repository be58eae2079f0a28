#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "zdu/common.h"
#include "zdu/flag.h"

static const char *const mode_names[] = {
	[ZDU_FLAG_OFF] = "off",
	[ZDU_FLAG_DRAIN] = "drain",
	[ZDU_FLAG_MAINT] = "maint",
	[ZDU_FLAG_LB] = "lb",
};

const char *zdu_flag_mode_name(enum zdu_flag_mode mode)
{
	if ((size_t)mode >= ZDU_ARRAY_SIZE(mode_names))
		return "?";
	return mode_names[mode];
}

int zdu_flag_mode_parse(const char *name)
{
	size_t i;

	for (i = 0; i < ZDU_ARRAY_SIZE(mode_names); i++)
		if (strcmp(name, mode_names[i]) == 0)
			return (int)i;
	return -1;
}

static enum zdu_err flag_fail(struct zdu_flag *flag, enum zdu_err err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum zdu_err flag_fail(struct zdu_flag *flag, enum zdu_err err, const char *fmt, ...)
{
	va_list ap;

	/* Fail safe: whatever was parsed before, an unreadable flag drains. */
	flag->mode = ZDU_FLAG_DRAIN;
	va_start(ap, fmt);
	vsnprintf(flag->error, sizeof(flag->error), fmt, ap);
	va_end(ap);
	/* Excerpts of a corrupted file end up in the reply line and in JSON:
	 * printable ASCII only (in place: the text can only shrink). */
	zdu_text_sanitize(flag->error, sizeof(flag->error), flag->error, strlen(flag->error));
	return err;
}

static int since_valid(const char *s)
{
	static const char pattern[] = "dddd-dd-ddTdd:dd:ddZ";
	int y, mo, d, h, mi, se;
	size_t i;

	/* Exact shape first: sscanf alone would take signs and blanks. */
	if (strlen(s) != sizeof(pattern) - 1)
		return 0;
	for (i = 0; pattern[i]; i++) {
		if (pattern[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != pattern[i])
			return 0;
	}
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ", &y, &mo, &d, &h, &mi, &se) != 6)
		return 0;
	return mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && se <= 60;
}

enum zdu_err zdu_flag_parse(const char *buf, size_t len, struct zdu_flag *flag)
{
	const char *p = buf, *end = buf + len;
	unsigned seen = 0;
	int lineno = 0;

	memset(flag, 0, sizeof(*flag));
	/* Presence means maintenance: an empty file (touch) drains. */
	flag->mode = ZDU_FLAG_DRAIN;

	if (len > ZDU_FLAG_MAX_BYTES)
		return flag_fail(flag, ZDU_ERR_TOO_BIG, "over %d bytes", ZDU_FLAG_MAX_BYTES);
	if (memchr(buf, '\0', len))
		return flag_fail(flag, ZDU_ERR_PARSE, "contains a NUL byte");

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		const char *eq, *k, *v;
		size_t klen, vlen;
		char key[16];
		unsigned bit;

		lineno++;
		k = p;
		p = nl ? nl + 1 : end;
		while (k < eol && (*k == ' ' || *k == '\t'))
			k++;
		if (eol > k && eol[-1] == '\r')
			eol--;
		if (k == eol || *k == '#')
			continue;
		eq = memchr(k, '=', (size_t)(eol - k));
		if (!eq)
			return flag_fail(flag, ZDU_ERR_PARSE, "line %d: expected key=value", lineno);
		klen = (size_t)(eq - k);
		while (klen > 0 && (k[klen - 1] == ' ' || k[klen - 1] == '\t'))
			klen--;
		v = eq + 1;
		while (v < eol && (*v == ' ' || *v == '\t'))
			v++;
		vlen = (size_t)(eol - v);
		while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			vlen--;
		if (klen == 0 || klen >= sizeof(key))
			return flag_fail(flag, ZDU_ERR_PARSE, "line %d: unknown key '%.*s'", lineno,
					 (int)(klen > 32 ? 32 : klen), k);
		memcpy(key, k, klen);
		key[klen] = '\0';

		if (strcmp(key, "mode") == 0)
			bit = 1;
		else if (strcmp(key, "reason") == 0)
			bit = 2;
		else if (strcmp(key, "since") == 0)
			bit = 4;
		else if (strcmp(key, "by") == 0)
			bit = 8;
		else
			return flag_fail(flag, ZDU_ERR_UNKNOWN_KEY, "line %d: unknown key '%s'", lineno, key);
		if (seen & bit)
			return flag_fail(flag, ZDU_ERR_PARSE, "line %d: '%s' given twice", lineno, key);
		seen |= bit;

		if (bit == 1) {
			char mode[8];
			int m;

			if (vlen >= sizeof(mode))
				return flag_fail(flag, ZDU_ERR_PARSE, "line %d: unknown mode '%.*s'",
						 lineno, (int)(vlen > 32 ? 32 : vlen), v);
			memcpy(mode, v, vlen);
			mode[vlen] = '\0';
			m = zdu_flag_mode_parse(mode);
			/* "off" in a file that exists is a contradiction: fail safe. */
			if (m < 0 || m == ZDU_FLAG_OFF)
				return flag_fail(flag, ZDU_ERR_PARSE, "line %d: unknown mode '%s'", lineno, mode);
			flag->mode = (enum zdu_flag_mode)m;
		} else if (bit == 2) {
			zdu_text_sanitize(flag->reason, sizeof(flag->reason), v, vlen);
		} else if (bit == 4) {
			if (vlen >= sizeof(flag->since))
				return flag_fail(flag, ZDU_ERR_PARSE, "line %d: bad time in 'since'", lineno);
			memcpy(flag->since, v, vlen);
			flag->since[vlen] = '\0';
			/* Empty is allowed: the time is informational. */
			if (vlen && !since_valid(flag->since)) {
				flag->since[0] = '\0';
				return flag_fail(flag, ZDU_ERR_PARSE,
						 "line %d: bad time in 'since' (want YYYY-MM-DDTHH:MM:SSZ)", lineno);
			}
		} else {
			zdu_text_sanitize(flag->by, sizeof(flag->by), v, vlen);
		}
	}
	return ZDU_OK;
}

size_t zdu_flag_format(const struct zdu_flag *flag, char *buf, size_t size)
{
	int n;

	n = snprintf(buf, size,
		     "# zdu-agent maintenance flag: present means maintenance (see zdu-agent(8))\n"
		     "mode=%s\nreason=%s\nsince=%s\nby=%s\n",
		     zdu_flag_mode_name(flag->mode), flag->reason, flag->since, flag->by);
	if (n < 0 || (size_t)n >= size)
		return 0;
	return (size_t)n;
}

enum zdu_err zdu_flag_read(const char *path, struct zdu_flag *flag)
{
	char buf[ZDU_FLAG_MAX_BYTES + 1];
	size_t len = 0;
	struct stat st;
	int fd;

	memset(flag, 0, sizeof(*flag));
	/* O_NONBLOCK: a FIFO put in the flag's place must not hang the loop. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT)
			return ZDU_OK; /* no flag: not in maintenance */
		return flag_fail(flag, ZDU_ERR_IO, "cannot open: %s", strerror(errno));
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return flag_fail(flag, ZDU_ERR_IO, "not a regular file");
	}
	while (len < sizeof(buf)) {
		ssize_t r = read(fd, buf + len, sizeof(buf) - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			close(fd);
			return flag_fail(flag, ZDU_ERR_IO, "cannot read: %s", strerror(e));
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);

	/* The error names no path: it ends up in a reply line HAProxy cuts
	 * short, and every reader of it knows which file it is. */
	return zdu_flag_parse(buf, len, flag);
}

enum zdu_err zdu_flag_write(const char *path, const struct zdu_flag *flag,
			    char *err, size_t err_size)
{
	char content[ZDU_FLAG_MAX_BYTES];
	size_t len;

	if (flag->mode == ZDU_FLAG_OFF)
		return zdu_file_remove_durable(path, err, err_size);
	len = zdu_flag_format(flag, content, sizeof(content));
	if (len == 0) {
		snprintf(err, err_size, "flag for %s does not fit in %d bytes", path, ZDU_FLAG_MAX_BYTES);
		return ZDU_ERR_TOO_BIG;
	}
	return zdu_file_write_atomic(path, content, len, 0644, err, err_size);
}

int zdu_flag_equal(const struct zdu_flag *a, const struct zdu_flag *b)
{
	return a->mode == b->mode && strcmp(a->reason, b->reason) == 0 &&
	       strcmp(a->since, b->since) == 0 && strcmp(a->by, b->by) == 0 &&
	       strcmp(a->error, b->error) == 0;
}

void zdu_flag_stamp(struct zdu_flag *flag)
{
	char host[64] = "?", user[32] = "?";
	struct passwd *pw = getpwuid(geteuid());
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(flag->since, sizeof(flag->since), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (gethostname(host, sizeof(host)) < 0)
		zdu_strlcpy(host, "?", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	if (pw)
		zdu_strlcpy(user, pw->pw_name, sizeof(user));
	snprintf(flag->by, sizeof(flag->by), "%s@%s", user, host);
}
