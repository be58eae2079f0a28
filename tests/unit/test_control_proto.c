/* zdu_ctl_parse: one request line of the control protocol. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/common.h"
#include "zdu/control_proto.h"
#include "zdu/flag-t.h"

/* Parses from a heap copy of exactly len bytes (no NUL after it): ASan
 * catches a read past the line. */
static enum zdu_err parse_n(const char *line, size_t len, struct zdu_ctl_req *req, char *err,
			    size_t err_size)
{
	char *copy = malloc(len ? len : 1);
	enum zdu_err rc;

	assert_non_null(copy);
	memcpy(copy, line, len);
	rc = zdu_ctl_parse(copy, len, req, err, err_size);
	free(copy);
	return rc;
}

static void expect_ok(const char *line, enum zdu_ctl_cmd cmd, long long arg_ms)
{
	struct zdu_ctl_req req;
	char err[256] = "";
	enum zdu_err rc;

	memset(&req, 0x5a, sizeof(req));
	rc = parse_n(line, strlen(line), &req, err, sizeof(err));
	if (rc != ZDU_OK)
		fail_msg("\"%s\" refused: %s", line, err);
	assert_int_equal(req.cmd, cmd);
	assert_int_equal(req.arg_ms, arg_ms);
}

static void expect_err_n(const char *line, size_t len, enum zdu_err want, const char *msg)
{
	struct zdu_ctl_req req;
	char err[256] = "";
	enum zdu_err rc;

	rc = parse_n(line, len, &req, err, sizeof(err));
	if (rc != want || strcmp(err, msg) != 0)
		fail_msg("\"%.*s\": rc %d \"%s\", want rc %d \"%s\"", (int)len, line, rc, err, want, msg);
}

static void expect_err(const char *line, enum zdu_err want, const char *msg)
{
	expect_err_n(line, strlen(line), want, msg);
}

static void test_each_command(void **state)
{
	(void)state;
	expect_ok("status", ZDU_CTL_STATUS, 0);
	expect_ok("sync", ZDU_CTL_SYNC, 0);
	expect_ok("ping", ZDU_CTL_PING, 0);
	expect_ok("wait-drained 5000", ZDU_CTL_WAIT_DRAINED, 5000);
	expect_ok("wait-drained 0", ZDU_CTL_WAIT_DRAINED, 0);
	expect_ok("wait-drained 86400000", ZDU_CTL_WAIT_DRAINED, 86400000);
	assert_string_equal(zdu_ctl_cmd_name(ZDU_CTL_STATUS), "status");
	assert_string_equal(zdu_ctl_cmd_name(ZDU_CTL_SYNC), "sync");
	assert_string_equal(zdu_ctl_cmd_name(ZDU_CTL_WAIT_DRAINED), "wait-drained");
	assert_string_equal(zdu_ctl_cmd_name(ZDU_CTL_PING), "ping");
	assert_string_equal(zdu_ctl_cmd_name((enum zdu_ctl_cmd)99), "?");
}

static void expect_set_flag(const char *line, enum zdu_flag_mode mode, const char *reason)
{
	struct zdu_ctl_req req;
	char err[256] = "";
	enum zdu_err rc;

	memset(&req, 0x5a, sizeof(req));
	rc = parse_n(line, strlen(line), &req, err, sizeof(err));
	if (rc != ZDU_OK)
		fail_msg("\"%s\" refused: %s", line, err);
	assert_int_equal(req.cmd, ZDU_CTL_SET_FLAG);
	assert_int_equal(req.mode, mode);
	assert_string_equal(req.reason, reason);
}

static void test_set_flag(void **state)
{
	char line[ZDU_CTL_LINE_MAX + 1];
	struct zdu_ctl_req req;
	char err[256];

	(void)state;
	expect_set_flag("set-flag drain", ZDU_FLAG_DRAIN, "");
	expect_set_flag("set-flag maint kernel upgrade", ZDU_FLAG_MAINT, "kernel upgrade");
	expect_set_flag("set-flag lb", ZDU_FLAG_LB, "");
	/* the reason is the rest of the line: inner blanks kept, outer ones not */
	expect_set_flag("  set-flag \t maint \t  a  b\tc   \r", ZDU_FLAG_MAINT, "a  b?c");
	expect_set_flag("set-flag drain #42 = ticket", ZDU_FLAG_DRAIN, "#42 = ticket");
	/* a reason longer than a flag's is cut, not refused */
	memset(line, 'r', ZDU_CTL_LINE_MAX);
	memcpy(line, "set-flag maint ", 15);
	assert_int_equal(parse_n(line, ZDU_CTL_LINE_MAX, &req, err, sizeof(err)), ZDU_OK);
	assert_int_equal(strlen(req.reason), ZDU_REASON_MAX - 1);
	/* "off" is clear-flag's business; no mode, or an unknown one, is an error */
	expect_err("set-flag off", ZDU_ERR_PROTO, "set-flag: mode must be drain, maint or lb");
	expect_err("set-flag", ZDU_ERR_PROTO, "set-flag: mode must be drain, maint or lb");
	expect_err("set-flag   ", ZDU_ERR_PROTO, "set-flag: mode must be drain, maint or lb");
	expect_err("set-flag MAINT x", ZDU_ERR_PROTO, "set-flag: mode must be drain, maint or lb");
	expect_err("set-flag maintenance", ZDU_ERR_PROTO, "set-flag: mode must be drain, maint or lb");
	/* control bytes in the reason are refused with the whole line */
	expect_err("set-flag maint a\x1b[31m", ZDU_ERR_PROTO, "byte 16: not printable text");
}

static void test_clear_flag(void **state)
{
	(void)state;
	expect_ok("clear-flag", ZDU_CTL_CLEAR_FLAG, 0);
	expect_ok(" clear-flag\r", ZDU_CTL_CLEAR_FLAG, 0);
	assert_string_equal(zdu_ctl_cmd_name(ZDU_CTL_CLEAR_FLAG), "clear-flag");
	assert_string_equal(zdu_ctl_cmd_name(ZDU_CTL_SET_FLAG), "set-flag");
	expect_err("clear-flag now", ZDU_ERR_PROTO, "clear-flag: takes no argument");
	expect_err("clear-flag maint x", ZDU_ERR_PROTO, "clear-flag: too many arguments");
}

/* The node's etcd key through the daemon: the same arguments as set-flag
 * and clear-flag, and the same strictness. */
static void test_etcd_flag(void **state)
{
	struct zdu_ctl_req req;
	char err[256] = "";

	(void)state;
	memset(&req, 0x5a, sizeof(req));
	assert_int_equal(parse_n("set-etcd-flag maint  kernel upgrade \r", 37, &req, err, sizeof(err)), ZDU_OK);
	assert_int_equal(req.cmd, ZDU_CTL_SET_ETCD_FLAG);
	assert_int_equal(req.mode, ZDU_FLAG_MAINT);
	assert_string_equal(req.reason, "kernel upgrade");
	assert_int_equal(parse_n("set-etcd-flag lb", 16, &req, err, sizeof(err)), ZDU_OK);
	assert_int_equal(req.cmd, ZDU_CTL_SET_ETCD_FLAG);
	assert_int_equal(req.mode, ZDU_FLAG_LB);
	assert_string_equal(req.reason, "");
	expect_ok("clear-etcd-flag", ZDU_CTL_CLEAR_ETCD_FLAG, 0);
	assert_string_equal(zdu_ctl_cmd_name(ZDU_CTL_SET_ETCD_FLAG), "set-etcd-flag");
	assert_string_equal(zdu_ctl_cmd_name(ZDU_CTL_CLEAR_ETCD_FLAG), "clear-etcd-flag");
	expect_err("set-etcd-flag", ZDU_ERR_PROTO, "set-etcd-flag: mode must be drain, maint or lb");
	expect_err("set-etcd-flag off", ZDU_ERR_PROTO, "set-etcd-flag: mode must be drain, maint or lb");
	expect_err("set-etcd-flag etcd drain", ZDU_ERR_PROTO, "set-etcd-flag: mode must be drain, maint or lb");
	expect_err("clear-etcd-flag now", ZDU_ERR_PROTO, "clear-etcd-flag: takes no argument");
	expect_err("clear-etcd-flag a b", ZDU_ERR_PROTO, "clear-etcd-flag: too many arguments");
	expect_err("set-etcd-flag drain a\x7f", ZDU_ERR_PROTO, "byte 21: not printable text");
	expect_err("set_etcd_flag drain", ZDU_ERR_PROTO, "unknown command \"set_etcd_flag\"");
	/* the node's key: no service */
	assert_int_equal(parse_n("set-etcd-flag drain x", 21, &req, err, sizeof(err)), ZDU_OK);
	assert_string_equal(req.service, "");
}

/* One service's etcd key (issue 17): an optional service=NAME before the
 * mode; without it every line means what it meant. */
static void test_etcd_flag_service(void **state)
{
	struct zdu_ctl_req req;
	char err[256] = "";
	static const char set[] = "set-etcd-flag service=placement maint db migration";
	static const char clear[] = "clear-etcd-flag\tservice=nova-api\r";

	(void)state;
	memset(&req, 0x5a, sizeof(req));
	assert_int_equal(parse_n(set, sizeof(set) - 1, &req, err, sizeof(err)), ZDU_OK);
	assert_int_equal(req.cmd, ZDU_CTL_SET_ETCD_FLAG);
	assert_int_equal(req.mode, ZDU_FLAG_MAINT);
	assert_string_equal(req.service, "placement");
	assert_string_equal(req.reason, "db migration");
	memset(&req, 0x5a, sizeof(req));
	assert_int_equal(parse_n(clear, sizeof(clear) - 1, &req, err, sizeof(err)), ZDU_OK);
	assert_int_equal(req.cmd, ZDU_CTL_CLEAR_ETCD_FLAG);
	assert_string_equal(req.service, "nova-api");
	/* a reason may say service=: only the first word is the option */
	assert_int_equal(parse_n("set-etcd-flag drain service=x", 29, &req, err, sizeof(err)), ZDU_OK);
	assert_string_equal(req.service, "");
	assert_string_equal(req.reason, "service=x");
	expect_err("set-etcd-flag service=placement", ZDU_ERR_PROTO, "set-etcd-flag: mode must be drain, maint or lb");
	expect_err("set-etcd-flag service= drain", ZDU_ERR_PROTO,
		   "set-etcd-flag: service=\"\": a service name is 1 to 63 of A-Z a-z 0-9 . _ -");
	expect_err("clear-etcd-flag service=a/b", ZDU_ERR_PROTO,
		   "clear-etcd-flag: service=\"a/b\": a service name is 1 to 63 of A-Z a-z 0-9 . _ -");
	expect_err("clear-etcd-flag service=a b", ZDU_ERR_PROTO, "clear-etcd-flag: takes no argument");
	expect_err("clear-etcd-flag service=a service=b", ZDU_ERR_PROTO, "clear-etcd-flag: takes no argument");
	expect_err("set-etcd-flag service=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa drain",
		   ZDU_ERR_PROTO,
		   "set-etcd-flag: service=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": a service "
		   "name is 1 to 63 of A-Z a-z 0-9 . _ -");
	/* every command but ping takes it, as its first argument */
	memset(&req, 0x5a, sizeof(req));
	assert_int_equal(parse_n("set-flag service=placement drain why", 36, &req, err, sizeof(err)), ZDU_OK);
	assert_int_equal(req.cmd, ZDU_CTL_SET_FLAG);
	assert_string_equal(req.service, "placement");
	assert_string_equal(req.reason, "why");
	assert_int_equal(parse_n("wait-drained service=glance 250", 31, &req, err, sizeof(err)), ZDU_OK);
	assert_int_equal(req.cmd, ZDU_CTL_WAIT_DRAINED);
	assert_int_equal(req.arg_ms, 250);
	assert_string_equal(req.service, "glance");
	assert_int_equal(parse_n("clear-flag service=glance", 25, &req, err, sizeof(err)), ZDU_OK);
	assert_string_equal(req.service, "glance");
	expect_err("wait-drained service=glance", ZDU_ERR_PROTO, "wait-drained: needs a timeout in milliseconds");
	expect_err("ping service=placement", ZDU_ERR_PROTO, "ping: takes no service=");
}

static void test_blanks_and_cr(void **state)
{
	(void)state;
	expect_ok("status\r", ZDU_CTL_STATUS, 0);
	expect_ok("wait-drained 250\r", ZDU_CTL_WAIT_DRAINED, 250);
	expect_ok("  ping \t ", ZDU_CTL_PING, 0);
	expect_ok("wait-drained\t\t7", ZDU_CTL_WAIT_DRAINED, 7);
	/* one CR only, and no LF inside the line */
	expect_err("ping\r\r", ZDU_ERR_PROTO, "byte 4: not printable text");
	expect_err("ping\r\n", ZDU_ERR_PROTO, "byte 4: not printable text");
	expect_err("pi\rng", ZDU_ERR_PROTO, "byte 2: not printable text");
}

static void test_unknown_command(void **state)
{
	(void)state;
	expect_err("STATUS", ZDU_ERR_PROTO, "unknown command \"STATUS\"");
	expect_err("stat", ZDU_ERR_PROTO, "unknown command \"stat\"");
	expect_err("wait_drained 5", ZDU_ERR_PROTO, "unknown command \"wait_drained\"");
	expect_err("abcdefghijklmnopqrstuvwxyz0123456789", ZDU_ERR_PROTO,
		   "unknown command \"abcdefghijklmnopqrstuvwxyz012345\"");
}

static void test_extra_args(void **state)
{
	(void)state;
	expect_err("status now", ZDU_ERR_PROTO, "status: takes no argument");
	expect_err("sync 1", ZDU_ERR_PROTO, "sync: takes no argument");
	expect_err("ping pong", ZDU_ERR_PROTO, "ping: takes no argument");
	expect_err("ping a b", ZDU_ERR_PROTO, "ping: too many arguments");
	expect_err("wait-drained 1 2", ZDU_ERR_PROTO, "wait-drained: too many arguments");
}

static void test_wait_drained_arg(void **state)
{
	static const char *const bad[] = {
		"-1", "abc", "1.5", "86400001", "99999999999999999999", "0x10", "10ms", "1e3",
		"-99999999999999999999",
	};
	char line[128], msg[128];
	size_t i;

	(void)state;
	expect_err("wait-drained", ZDU_ERR_PROTO, "wait-drained: needs a timeout in milliseconds");
	expect_err("wait-drained   ", ZDU_ERR_PROTO, "wait-drained: needs a timeout in milliseconds");
	for (i = 0; i < ZDU_ARRAY_SIZE(bad); i++) {
		snprintf(line, sizeof(line), "wait-drained %s", bad[i]);
		snprintf(msg, sizeof(msg), "wait-drained: \"%s\" is not 0 to 86400000 ms", bad[i]);
		expect_err(line, ZDU_ERR_PROTO, msg);
	}
}

static void test_non_printable(void **state)
{
	static const char nul[] = "ping\0x";

	(void)state;
	expect_err("sta\x01tus", ZDU_ERR_PROTO, "byte 3: not printable text");
	expect_err("status\x7f", ZDU_ERR_PROTO, "byte 6: not printable text");
	expect_err("\x80status", ZDU_ERR_PROTO, "byte 0: not printable text");
	expect_err("wait-drained 5\xff", ZDU_ERR_PROTO, "byte 14: not printable text");
	expect_err("\x1b[2Jping", ZDU_ERR_PROTO, "byte 0: not printable text");
	expect_err("ping\x1f", ZDU_ERR_PROTO, "byte 4: not printable text");
	/* '~' (0x7e) is printable: refused as an argument, not as a byte */
	expect_err("ping ~", ZDU_ERR_PROTO, "ping: takes no argument");
	/* a NUL does not end the line early */
	expect_err_n(nul, sizeof(nul) - 1, ZDU_ERR_PROTO, "byte 4: not printable text");
}

static void test_overlong_line(void **state)
{
	char *line = malloc(ZDU_CTL_LINE_MAX + 2);

	(void)state;
	assert_non_null(line);
	/* exactly the maximum: fine, and a CR on top of it too */
	memset(line, ' ', ZDU_CTL_LINE_MAX + 2);
	memcpy(line, "ping", 4);
	{
		struct zdu_ctl_req req;
		char err[128];

		assert_int_equal(parse_n(line, ZDU_CTL_LINE_MAX, &req, err, sizeof(err)), ZDU_OK);
		assert_int_equal(req.cmd, ZDU_CTL_PING);
		line[ZDU_CTL_LINE_MAX] = '\r';
		assert_int_equal(parse_n(line, ZDU_CTL_LINE_MAX + 1, &req, err, sizeof(err)), ZDU_OK);
		line[ZDU_CTL_LINE_MAX] = ' ';
	}
	expect_err_n(line, ZDU_CTL_LINE_MAX + 1, ZDU_ERR_TOO_BIG, "request line over 1024 bytes");
	expect_err_n(line, ZDU_CTL_LINE_MAX + 2, ZDU_ERR_TOO_BIG, "request line over 1024 bytes");
	free(line);
}

static void test_empty_line(void **state)
{
	(void)state;
	expect_err_n("", 0, ZDU_ERR_PROTO, "empty request");
	expect_err("\r", ZDU_ERR_PROTO, "empty request");
	expect_err(" \t  ", ZDU_ERR_PROTO, "empty request");
}

/* A tiny error buffer: cut, terminated, nothing written past it. */
static void test_small_error_buffer(void **state)
{
	struct zdu_ctl_req req;
	char *err = malloc(8);

	(void)state;
	assert_non_null(err);
	assert_int_equal(parse_n("nonsense", 8, &req, err, 8), ZDU_ERR_PROTO);
	assert_string_equal(err, "unknown");
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_command),
		cmocka_unit_test(test_set_flag),
		cmocka_unit_test(test_clear_flag),
		cmocka_unit_test(test_etcd_flag),
		cmocka_unit_test(test_etcd_flag_service),
		cmocka_unit_test(test_blanks_and_cr),
		cmocka_unit_test(test_unknown_command),
		cmocka_unit_test(test_extra_args),
		cmocka_unit_test(test_wait_drained_arg),
		cmocka_unit_test(test_non_printable),
		cmocka_unit_test(test_overlong_line),
		cmocka_unit_test(test_empty_line),
		cmocka_unit_test(test_small_error_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
