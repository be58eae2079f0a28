/* link_ssh.c: ssh joins the arguments after the host into ONE command line
 * that the node's shell parses again, so every argument that carries free
 * text (the operator's reason) must be shell-quoted. shell_quote is static:
 * this checks it through behaviour. The plan's ssh_command is a stand-in
 * for ssh that does exactly what ssh does with its arguments (drop the
 * host, join the rest with spaces, hand the line to sh -c), and the remote
 * agent is a script that writes the argv it received, NUL-separated. Every
 * reason must arrive as one argument, byte for byte, and nothing in it may
 * run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdu/flag.h"
#include "zdu/link-int.h" /* reads the link it made: l->target */
#include "zdu/plan-t.h"

struct fixture {
	char dir[64];
	char agent[128];
	char args[128];
	char pwned[128];
	char remote_agent[200];
	char *ssh_argv[4];
	struct zdu_plan plan;
	uv_loop_t loop;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	FILE *f;

	if (!fx)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/zdu-ssh-XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	snprintf(fx->agent, sizeof(fx->agent), "%s/fake-agent", fx->dir);
	snprintf(fx->args, sizeof(fx->args), "%s/args", fx->dir);
	snprintf(fx->pwned, sizeof(fx->pwned), "%s/pwned", fx->dir);
	f = fopen(fx->agent, "w");
	if (!f)
		return -1;
	fprintf(f, "printf '%%s\\0' \"$@\" > '%s'\nprintf '{\"ok\":true,\"flag\":{}}\\n'\n", fx->args);
	fclose(f);
	snprintf(fx->remote_agent, sizeof(fx->remote_agent), "/bin/sh %s", fx->agent);

	/* ssh HOST ARGS...: the host dropped, the rest joined by spaces and
	 * parsed by the remote shell. */
	fx->ssh_argv[0] = "/bin/sh";
	fx->ssh_argv[1] = "-c";
	fx->ssh_argv[2] = "shift; exec /bin/sh -c \"$*\"";
	fx->ssh_argv[3] = "fake-ssh";
	fx->plan.ssh_command.v = fx->ssh_argv;
	fx->plan.ssh_command.n = 4;
	fx->plan.remote_agent = fx->remote_agent;
	fx->plan.request_timeout_ms = 10000;
	if (uv_loop_init(&fx->loop) != 0)
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	uv_run(&fx->loop, UV_RUN_DEFAULT);
	uv_loop_close(&fx->loop);
	unlink(fx->args);
	unlink(fx->agent);
	unlink(fx->pwned);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

struct result {
	int done;
	int ok;
	char err[512];
};

static void on_status(json_t *status, const char *err, void *data)
{
	struct result *r = data;

	r->done = 1;
	r->ok = json_is_object(status) && json_is_true(json_object_get(status, "ok"));
	snprintf(r->err, sizeof(r->err), "%s", err ? err : "");
}

/* Runs one call and returns the argv the remote agent received (after
 * the agent's own name), NUL-separated, in buf; the count in *n. */
static size_t call(struct fixture *fx, enum zdu_link_op op, enum zdu_flag_mode mode, const char *reason,
		   char *buf, size_t size)
{
	struct zdu_link *l;
	struct result r;
	char err[256];
	FILE *f;
	size_t len;

	memset(&r, 0, sizeof(r));
	unlink(fx->args);
	l = zdu_link_new(&fx->loop, "ssh:node1", &fx->plan, NULL, err, sizeof(err));
	assert_non_null(l);
	assert_string_equal(l->target, "node1");
	assert_int_equal(zdu_link_call(l, op, NULL, mode, reason, on_status, &r), 0);
	while (!r.done)
		uv_run(&fx->loop, UV_RUN_ONCE);
	zdu_link_free(l);
	if (!r.ok)
		fail_msg("call failed: %s", r.err);
	f = fopen(fx->args, "rb");
	assert_non_null(f);
	len = fread(buf, 1, size, f);
	fclose(f);
	assert_true(len < size);
	return len;
}

/* The NUL-separated argv in buf matches want[0..n). */
static void expect_argv(const char *buf, size_t len, const char *const *want, size_t n)
{
	size_t off = 0, i;

	for (i = 0; i < n; i++) {
		size_t l;

		if (off >= len)
			fail_msg("argument %zu missing: wanted \"%s\"", i, want[i]);
		l = strlen(buf + off);
		if (strcmp(buf + off, want[i]) != 0)
			fail_msg("argument %zu is \"%s\", want \"%s\"", i, buf + off, want[i]);
		off += l + 1;
	}
	if (off != len)
		fail_msg("%zu bytes of extra arguments after the %zu wanted: \"%s\"", len - off, n, buf + off);
}

static void test_reason_quoted(void **state)
{
	struct fixture *fx = *state;
	const char *reasons[] = {
		"upgrade to 2024.1",
		"it's",
		"'",
		"''",
		"a'b'c",
		"'\\''",
		"$(touch PWNED)",
		"`touch PWNED`",
		"; touch PWNED",
		"| touch PWNED",
		"&& touch PWNED",
		"'; touch PWNED; echo '",
		"x' && touch PWNED && echo 'y",
		"\\",
		"\"quoted\"",
		"*",
		"  two  spaces  ",
		"tab\there",
		"line1\nline2; touch PWNED",
		"",
		"$HOME ${PATH} $0 $1 $@",
		"~ ! # %",
		"-x",
		"--json",
	};
	char buf[4096], reason[256];
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		const char *p = strstr(reasons[i], "PWNED");
		const char *want[7];
		size_t len;

		/* PWNED stands for the path of a file that must never appear */
		if (p)
			snprintf(reason, sizeof(reason), "%.*s%s%s", (int)(p - reasons[i]), reasons[i], fx->pwned,
				 p + 5);
		else
			snprintf(reason, sizeof(reason), "%s", reasons[i]);
		len = call(fx, ZDU_LINK_SET_FLAG, ZDU_FLAG_DRAIN, reason, buf, sizeof(buf));
		want[0] = "--maintenance";
		want[1] = "on";
		want[2] = "--mode";
		want[3] = zdu_flag_mode_name(ZDU_FLAG_DRAIN);
		want[4] = "--reason";
		want[5] = reason;
		want[6] = "--json";
		expect_argv(buf, len, want, 7);
		if (access(fx->pwned, F_OK) == 0)
			fail_msg("reason \"%s\" ran a command on the node", reason);
	}
}

static void test_other_ops(void **state)
{
	struct fixture *fx = *state;
	char buf[4096];
	size_t len;

	{
		static const char *const want[] = { "--status", "--json" };

		len = call(fx, ZDU_LINK_STATUS, ZDU_FLAG_OFF, NULL, buf, sizeof(buf));
		expect_argv(buf, len, want, 2);
	}
	{
		static const char *const want[] = { "--maintenance", "off", "--json" };

		len = call(fx, ZDU_LINK_CLEAR_FLAG, ZDU_FLAG_OFF, "ignored; touch x", buf, sizeof(buf));
		expect_argv(buf, len, want, 3);
	}
	{
		/* no reason: an empty argument, not a missing one */
		const char *want[] = { "--maintenance", "on", "--mode", zdu_flag_mode_name(ZDU_FLAG_MAINT),
				       "--reason", "", "--json" };

		len = call(fx, ZDU_LINK_SET_FLAG, ZDU_FLAG_MAINT, NULL, buf, sizeof(buf));
		expect_argv(buf, len, want, 7);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reason_quoted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_ops, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
