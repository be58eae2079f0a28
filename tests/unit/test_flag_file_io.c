/* zdu_flag_read / zdu_flag_write on a real directory: a missing flag is
 * off, anything unreadable drains, writes are atomic and leave nothing
 * behind, and a failed write keeps the old flag. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdu/flag.h"

struct fixture {
	char dir[64];
	char path[PATH_MAX]; /* dir/flag */
};

static int rm_entry(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	strcpy(fx->dir, "/tmp/zdu-unit-flag-XXXXXX");
	if (!mkdtemp(fx->dir)) {
		free(fx);
		return -1;
	}
	snprintf(fx->path, sizeof(fx->path), "%s/flag", fx->dir);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	chmod(fx->path, 0644);
	nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static void write_bytes(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* Reads the whole file into a malloc'd string (NULL when missing). */
static char *slurp(const char *path, size_t *lenp)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = calloc(1, 65536);
	assert_non_null(buf);
	n = fread(buf, 1, 65535, f);
	fclose(f);
	if (lenp)
		*lenp = n;
	return buf;
}

/* The names in dir, but for "." and ".."; returns how many. */
static int list_dir(const char *dir, char *names, size_t size)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	names[0] = '\0';
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		n++;
		strncat(names, e->d_name, size - strlen(names) - 1);
		strncat(names, " ", size - strlen(names) - 1);
	}
	closedir(d);
	return n;
}

static void make_flag(struct zdu_flag *f, enum zdu_flag_mode mode, const char *reason)
{
	memset(f, 0, sizeof(*f));
	f->mode = mode;
	snprintf(f->reason, sizeof(f->reason), "%s", reason);
	strcpy(f->since, "2024-05-01T12:34:56Z");
	strcpy(f->by, "ops@nova-api-1");
}

static void test_missing_is_off(void **state)
{
	struct fixture *fx = *state;
	struct zdu_flag f;

	memset(&f, 0x5a, sizeof(f));
	assert_int_equal(zdu_flag_read(fx->path, &f), ZDU_OK);
	assert_int_equal(f.mode, ZDU_FLAG_OFF);
	assert_string_equal(f.error, "");
	assert_string_equal(f.reason, "");
	assert_string_equal(f.since, "");
	assert_string_equal(f.by, "");
}

static void test_write_read_round_trip(void **state)
{
	struct fixture *fx = *state;
	enum zdu_flag_mode modes[] = { ZDU_FLAG_DRAIN, ZDU_FLAG_MAINT, ZDU_FLAG_LB };
	struct zdu_flag in, out;
	char err[256], names[512], want[ZDU_FLAG_MAX_BYTES];
	struct stat st;
	size_t i, len;
	char *content;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		make_flag(&in, modes[i], "upgrade to 2024.1");
		err[0] = '\0';
		assert_int_equal(zdu_flag_write(fx->path, &in, err, sizeof(err)), ZDU_OK);
		assert_int_equal(zdu_flag_read(fx->path, &out), ZDU_OK);
		assert_true(zdu_flag_equal(&in, &out));
		/* the file holds exactly the documented format */
		content = slurp(fx->path, &len);
		assert_non_null(content);
		assert_int_equal(len, zdu_flag_format(&in, want, sizeof(want)));
		assert_string_equal(content, want);
		free(content);
		assert_int_equal(stat(fx->path, &st), 0);
		assert_true(S_ISREG(st.st_mode));
		assert_int_equal(st.st_mode & 07777, 0644);
		/* written over the previous flag, nothing else in the directory */
		assert_int_equal(list_dir(fx->dir, names, sizeof(names)), 1);
		assert_string_equal(names, "flag ");
	}
}

static void test_write_off_removes(void **state)
{
	struct fixture *fx = *state;
	struct zdu_flag in, out;
	char err[256], names[512];

	make_flag(&in, ZDU_FLAG_MAINT, "x");
	assert_int_equal(zdu_flag_write(fx->path, &in, err, sizeof(err)), ZDU_OK);
	assert_int_equal(access(fx->path, F_OK), 0);
	in.mode = ZDU_FLAG_OFF;
	assert_int_equal(zdu_flag_write(fx->path, &in, err, sizeof(err)), ZDU_OK);
	assert_int_equal(access(fx->path, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(zdu_flag_read(fx->path, &out), ZDU_OK);
	assert_int_equal(out.mode, ZDU_FLAG_OFF);
	/* already off: still fine */
	assert_int_equal(zdu_flag_write(fx->path, &in, err, sizeof(err)), ZDU_OK);
	assert_int_equal(list_dir(fx->dir, names, sizeof(names)), 0);
}

static void test_directory_in_place(void **state)
{
	struct fixture *fx = *state;
	struct zdu_flag f;

	assert_int_equal(mkdir(fx->path, 0755), 0);
	assert_int_equal(zdu_flag_read(fx->path, &f), ZDU_ERR_IO);
	assert_int_equal(f.mode, ZDU_FLAG_DRAIN);
	assert_string_equal(f.error, "not a regular file");
}

static void on_alarm(int sig)
{
	static const char msg[] = "zdu_flag_read blocked on a FIFO\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(2);
}

static void test_fifo_does_not_block(void **state)
{
	struct fixture *fx = *state;
	struct zdu_flag f;

	assert_int_equal(mkfifo(fx->path, 0644), 0);
	/* a blocking open waits for a writer forever: the watchdog fails the test */
	signal(SIGALRM, on_alarm);
	alarm(5);
	assert_int_equal(zdu_flag_read(fx->path, &f), ZDU_ERR_IO);
	alarm(0);
	signal(SIGALRM, SIG_DFL);
	assert_int_equal(f.mode, ZDU_FLAG_DRAIN);
	assert_string_equal(f.error, "not a regular file");
}

static void test_unreadable_file(void **state)
{
	struct fixture *fx = *state;
	struct zdu_flag f;

	if (geteuid() == 0) {
		skip(); /* root reads through mode 000 */
		return;
	}
	write_bytes(fx->path, "mode=lb\n", 8);
	assert_int_equal(chmod(fx->path, 0), 0);
	assert_int_equal(zdu_flag_read(fx->path, &f), ZDU_ERR_IO);
	assert_int_equal(f.mode, ZDU_FLAG_DRAIN);
	assert_non_null(strstr(f.error, "cannot open: "));
	assert_non_null(strstr(f.error, strerror(EACCES)));
}

static void test_huge_file_drains(void **state)
{
	struct fixture *fx = *state;
	char *big = malloc(100000);
	struct zdu_flag f;

	assert_non_null(big);
	/* exactly the cap: read in full */
	memset(big, '#', ZDU_FLAG_MAX_BYTES);
	memcpy(big + ZDU_FLAG_MAX_BYTES - 9, "\nmode=lb\n", 9);
	write_bytes(fx->path, big, ZDU_FLAG_MAX_BYTES);
	assert_int_equal(zdu_flag_read(fx->path, &f), ZDU_OK);
	assert_int_equal(f.mode, ZDU_FLAG_LB);
	/* over it: refused, drains */
	memset(big, '#', 100000);
	memcpy(big + 100000 - 9, "\nmode=lb\n", 9);
	write_bytes(fx->path, big, 100000);
	assert_int_equal(zdu_flag_read(fx->path, &f), ZDU_ERR_TOO_BIG);
	assert_int_equal(f.mode, ZDU_FLAG_DRAIN);
	assert_string_equal(f.error, "over 4096 bytes");
	write_bytes(fx->path, big, ZDU_FLAG_MAX_BYTES + 1);
	assert_int_equal(zdu_flag_read(fx->path, &f), ZDU_ERR_TOO_BIG);
	free(big);
}

static void test_parse_error_through_read(void **state)
{
	struct fixture *fx = *state;
	struct zdu_flag f;

	write_bytes(fx->path, "mode=maint\nmode=lb\n", 19);
	assert_int_equal(zdu_flag_read(fx->path, &f), ZDU_ERR_PARSE);
	assert_int_equal(f.mode, ZDU_FLAG_DRAIN);
	assert_string_equal(f.error, "line 2: 'mode' given twice");
	/* an empty file (touch) drains without error */
	write_bytes(fx->path, "", 0);
	assert_int_equal(zdu_flag_read(fx->path, &f), ZDU_OK);
	assert_int_equal(f.mode, ZDU_FLAG_DRAIN);
	assert_string_equal(f.error, "");
}

static void test_write_missing_directory(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX], err[512], names[512];
	struct zdu_flag in, out;

	snprintf(path, sizeof(path), "%s/missing/flag", fx->dir);
	make_flag(&in, ZDU_FLAG_MAINT, "x");
	strcpy(err, "untouched");
	assert_int_equal(zdu_flag_write(path, &in, err, sizeof(err)), ZDU_ERR_IO);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, strerror(ENOENT)));
	assert_int_equal(zdu_flag_read(path, &out), ZDU_OK);
	assert_int_equal(out.mode, ZDU_FLAG_OFF);
	assert_int_equal(list_dir(fx->dir, names, sizeof(names)), 0);
}

/* A write that fails halfway (file size limit: works as root too) keeps the
 * old flag byte for byte and removes its temporary file. */
static void test_failed_write_keeps_old_flag(void **state)
{
	struct fixture *fx = *state;
	struct zdu_flag old, in, out;
	struct rlimit saved, lim;
	char err[512], names[512];
	char *before, *after;
	size_t blen, alen;
	enum zdu_err rc;
	void (*prev)(int);

	make_flag(&old, ZDU_FLAG_MAINT, "the old flag");
	assert_int_equal(zdu_flag_write(fx->path, &old, err, sizeof(err)), ZDU_OK);
	before = slurp(fx->path, &blen);
	assert_non_null(before);

	make_flag(&in, ZDU_FLAG_LB, "a new flag that will not fit under the limit");
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
	lim = saved;
	lim.rlim_cur = 16;
	prev = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	err[0] = '\0';
	rc = zdu_flag_write(fx->path, &in, err, sizeof(err));
	setrlimit(RLIMIT_FSIZE, &saved);
	signal(SIGXFSZ, prev);

	assert_int_equal(rc, ZDU_ERR_IO);
	assert_non_null(strstr(err, "cannot write "));
	assert_non_null(strstr(err, fx->path));
	after = slurp(fx->path, &alen);
	assert_non_null(after);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, blen);
	assert_int_equal(zdu_flag_read(fx->path, &out), ZDU_OK);
	assert_true(zdu_flag_equal(&old, &out));
	assert_int_equal(list_dir(fx->dir, names, sizeof(names)), 1);
	assert_string_equal(names, "flag ");
	free(before);
	free(after);
}

/* Something that cannot be replaced sits at the path (a non-empty
 * directory): the rename fails, the temporary file goes away. */
static void test_failed_rename_cleans_up(void **state)
{
	struct fixture *fx = *state;
	char inner[PATH_MAX + 8], err[512], names[512];
	struct zdu_flag in;

	assert_int_equal(mkdir(fx->path, 0755), 0);
	snprintf(inner, sizeof(inner), "%s/x", fx->path);
	write_bytes(inner, "x", 1);
	make_flag(&in, ZDU_FLAG_DRAIN, "x");
	assert_int_equal(zdu_flag_write(fx->path, &in, err, sizeof(err)), ZDU_ERR_IO);
	assert_non_null(strstr(err, fx->path));
	assert_int_equal(list_dir(fx->dir, names, sizeof(names)), 1);
	assert_string_equal(names, "flag ");
	assert_int_equal(access(inner, F_OK), 0);
}

/* Many writes, every mode, off in between: no temporary file left. */
static void test_no_temporary_files_left(void **state)
{
	struct fixture *fx = *state;
	char err[256], names[512];
	struct zdu_flag in;
	int i;

	for (i = 0; i < 50; i++) {
		make_flag(&in, (enum zdu_flag_mode)(i % 4), "round");
		assert_int_equal(zdu_flag_write(fx->path, &in, err, sizeof(err)), ZDU_OK);
		assert_int_equal(list_dir(fx->dir, names, sizeof(names)), i % 4 == ZDU_FLAG_OFF ? 0 : 1);
	}
}

/* A path without a directory part writes in the current directory. */
static void test_relative_path(void **state)
{
	struct fixture *fx = *state;
	char cwd[PATH_MAX], err[256], names[512];
	struct zdu_flag in, out;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(fx->dir), 0);
	make_flag(&in, ZDU_FLAG_MAINT, "relative");
	assert_int_equal(zdu_flag_write("flag", &in, err, sizeof(err)), ZDU_OK);
	assert_int_equal(zdu_flag_read("flag", &out), ZDU_OK);
	assert_int_equal(chdir(cwd), 0);
	assert_true(zdu_flag_equal(&in, &out));
	assert_int_equal(list_dir(fx->dir, names, sizeof(names)), 1);
	assert_string_equal(names, "flag ");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_missing_is_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_read_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_off_removes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directory_in_place, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_does_not_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_huge_file_drains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_error_through_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_missing_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_write_keeps_old_flag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_rename_cleans_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_temporary_files_left, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relative_path, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
