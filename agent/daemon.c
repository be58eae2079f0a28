#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdu/config.h"
#include "zdu/daemon.h"
#include "zdu/log.h"
#include "zdu/notify.h"

/* (Re)starts or stops the probe to match the configuration; the verdict
 * so far carries over a reload. */
static int apply_probe(struct zdu_daemon *d)
{
	struct zdu_probe *np = NULL;

	if (d->cfg.probe_enabled) {
		np = zdu_probe_new(&d->loop, &d->state, d->http, &d->cfg, d->probe);
		if (!np) {
			zdu_log_error("probe: out of memory");
			return -1;
		}
	}
	if (d->probe)
		zdu_probe_close(d->probe);
	if (!np || !d->probe) {
		struct zdu_health_state hs = { .health = np ? ZDU_HEALTH_UNKNOWN : ZDU_HEALTH_UNCHECKED };
		struct zdu_event ev = { .kind = ZDU_EV_HEALTH, .health = &hs,
					.cause = np ? "probe enabled" : "probe disabled" };

		if (np || d->state.node.health.health != ZDU_HEALTH_UNCHECKED)
			zdu_state_apply(&d->state, &ev);
	}
	d->probe = np;
	return 0;
}

static void on_state_change(struct zdu_state *st, int reply_changed, void *data)
{
	char reply[ZDU_REPLY_MAX];

	(void)data;
	if (reply_changed)
		zdu_notify_status(zdu_state_reply_text(st, reply, sizeof(reply)));
}

/* Control requests. */
static void ctl_request(struct zdu_control_client *c, const struct zdu_ctl_req *req, void *data)
{
	struct zdu_daemon *d = data;

	switch (req->cmd) {
	case ZDU_CTL_PING:
		zdu_control_reply(c, json_pack("{s:b}", "ok", 1));
		break;
	case ZDU_CTL_SYNC:
		/* The CLI just wrote the flag: read it now rather than wait for
		 * the file event, so the answer shows the reply HAProxy gets. */
		zdu_flag_file_check(d->flagf, "control sync");
		zdu_control_reply(c, zdu_status_json(d));
		break;
	case ZDU_CTL_STATUS:
		zdu_control_reply(c, zdu_status_json(d));
		break;
	case ZDU_CTL_WAIT_DRAINED:
		zdu_control_reply(c, json_pack("{s:b,s:s}", "ok", 0, "error",
					       "wait-drained: drain detection is not available"));
		break;
	}
}

static void ctl_cancel(struct zdu_control_client *c, void *data)
{
	(void)c;
	(void)data;
}

static int start_control(struct zdu_daemon *d, char *err, size_t err_size)
{
	struct zdu_control_handler h = { ctl_request, ctl_cancel, d };

	return zdu_control_start(&d->control, &d->loop, &d->cfg, &h, err, err_size);
}

/* Reload: a new configuration that fails anywhere leaves the running one
 * untouched. What can fail (binding addresses, finding the flag directory)
 * is done first, on new objects; only then are the old ones swapped out. */
static void reload(struct zdu_daemon *d)
{
	struct zdu_config next;
	struct zdu_flag_file *nf = NULL;
	char err[512], reply[ZDU_REPLY_MAX];
	int listen_changed, ctl_changed;
	size_t i;

	zdu_notify_reloading();
	if (zdu_config_load(d->cfg.path, 1, &next, err, sizeof(err)) != ZDU_OK) {
		zdu_log_error("reload: keeping the running configuration: %s", err);
		goto out;
	}
	listen_changed = next.listen.n != d->cfg.listen.n;
	for (i = 0; !listen_changed && i < next.listen.n; i++)
		listen_changed = strcmp(next.listen.v[i], d->cfg.listen.v[i]) != 0;
	if (strcmp(next.flag_file, d->cfg.flag_file) != 0 &&
	    !(nf = zdu_flag_file_new(&d->loop, &d->state, next.flag_file, next.flag_poll_ms, err,
				     sizeof(err)))) {
		zdu_log_error("reload: keeping the running configuration: %s", err);
		zdu_config_free(&next);
		goto out;
	}
	if (nf) {
		zdu_flag_file_close(d->flagf);
		d->flagf = nf;
	}
	zdu_listener_set_limits(d->listener, &next);
	zdu_flag_file_set_poll(d->flagf, next.flag_poll_ms);
	zdu_log_set_level((enum zdu_log_level)(next.log_level + ZDU_LOG_ERROR));

	ctl_changed = strcmp(next.control_socket, d->cfg.control_socket) != 0 ||
		      strcmp(next.control_mode, d->cfg.control_mode) != 0 ||
		      strcmp(next.control_group, d->cfg.control_group) != 0;
	if (listen_changed) {
		/* Old and new sets usually share a port, which cannot be bound
		 * twice. A restart is safe instead: HAProxy keeps the state the
		 * agent last set while the port is closed. */
		struct zdu_strlist t = next.listen;

		zdu_log_warn("reload: agent.listen changes take effect at the next restart");
		next.listen = d->cfg.listen;
		d->cfg.listen = t;
	}
	if (ctl_changed) {
		/* The socket may live in a directory only root can write: it
		 * moves at the next restart, and status keeps showing the old. */
		char *t;

		zdu_log_warn("reload: control socket settings take effect at the next restart");
		t = next.control_socket; next.control_socket = d->cfg.control_socket; d->cfg.control_socket = t;
		t = next.control_mode; next.control_mode = d->cfg.control_mode; d->cfg.control_mode = t;
		t = next.control_group; next.control_group = d->cfg.control_group; d->cfg.control_group = t;
	}
	zdu_config_free(&d->cfg);
	d->cfg = next;
	{
		struct zdu_event fa = { .kind = ZDU_EV_FAIL_ACTION, .cause = "configuration reloaded",
					.on_failure = (enum zdu_fail_action)d->cfg.probe_on_failure };

		zdu_state_apply(&d->state, &fa);
	}
	zdu_slowstart_configure(d->slowstart, &d->cfg);
	apply_probe(d);
	d->reloads++;
	zdu_log_notice("configuration reloaded from %s", d->cfg.path);
out:
	zdu_notify_ready(zdu_state_reply_text(&d->state, reply, sizeof(reply)));
}

static void stop(struct zdu_daemon *d, const char *why)
{
	if (d->stopping)
		return;
	d->stopping = 1;
	zdu_log_notice("stopping: %s", why);
	zdu_notify_stopping();
	/* Each part frees itself from its close callbacks, which the loop runs
	 * before zdu_daemon_run() returns. Parts a failed start never made are
	 * NULL. */
	if (d->listener)
		zdu_listener_close(d->listener);
	if (d->flagf)
		zdu_flag_file_close(d->flagf);
	if (d->control_up)
		zdu_control_close(&d->control, NULL);
	if (d->probe)
		zdu_probe_close(d->probe);
	if (d->slowstart)
		zdu_slowstart_close(d->slowstart);
	if (d->http)
		zdu_http_close(d->http);
	d->listener = NULL;
	d->flagf = NULL;
	d->probe = NULL;
	d->slowstart = NULL;
	d->http = NULL;
	uv_close((uv_handle_t *)&d->sig_hup, NULL);
	uv_close((uv_handle_t *)&d->sig_term, NULL);
	uv_close((uv_handle_t *)&d->sig_int, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct zdu_daemon *d = s->data;

	if (signum == SIGHUP)
		reload(d);
	else
		stop(d, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* Classic double duty: the parent stays until the child says it is up, so
 * "zdu-agent" without --foreground still fails loudly on a bad start. */
static int daemonize(int *ready_fd)
{
	int p[2];
	pid_t pid;
	char c = 1;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			_exit(ZDU_EXIT_ERROR); /* the child failed and said why */
		_exit(ZDU_EXIT_OK);
	}
	close(p[0]);
	if (setsid() < 0)
		return -1;
	if (chdir("/") < 0)
		return -1;
	*ready_fd = p[1];
	return 0;
}

static void daemon_ready(struct zdu_daemon *d)
{
	char reply[ZDU_REPLY_MAX];
	int fd;

	zdu_notify_ready(zdu_state_reply_text(&d->state, reply, sizeof(reply)));
	if (d->ready_fd >= 0) {
		char c = 1;

		/* From here on, messages go to syslog. */
		zdu_log_use_syslog("zdu-agent");
		fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
		if (write(d->ready_fd, &c, 1) != 1)
			zdu_log_warn("cannot tell the parent process we are ready");
		close(d->ready_fd);
		d->ready_fd = -1;
	}
}

int zdu_daemon_run(const char *config_path, int config_given, int foreground)
{
	struct zdu_daemon *d;
	char err[512], reply[ZDU_REPLY_MAX];
	int rc = ZDU_EXIT_ERROR;

	d = calloc(1, sizeof(*d));
	if (!d)
		return ZDU_EXIT_ERROR;
	d->ready_fd = -1;
	if (zdu_config_load(config_path, !config_given, &d->cfg, err, sizeof(err)) != ZDU_OK) {
		zdu_log_error("%s", err);
		free(d);
		return ZDU_EXIT_ERROR;
	}
	zdu_log_set_level((enum zdu_log_level)(d->cfg.log_level + ZDU_LOG_ERROR));
	if (!foreground && daemonize(&d->ready_fd) < 0) {
		zdu_log_error("cannot daemonize: %s", strerror(errno));
		goto out_cfg;
	}
	/* A probe peer that resets must not kill us. */
	signal(SIGPIPE, SIG_IGN);

	uv_loop_init(&d->loop);
	uv_signal_init(&d->loop, &d->sig_hup);
	uv_signal_init(&d->loop, &d->sig_term);
	uv_signal_init(&d->loop, &d->sig_int);
	d->sig_hup.data = d->sig_term.data = d->sig_int.data = d;
	d->started_ms = zdu_now_ms();
	d->started_wall = time(NULL);
	zdu_state_init(&d->state, (unsigned)d->cfg.weight, (enum zdu_fail_action)d->cfg.probe_on_failure,
		       d->cfg.probe_enabled ? ZDU_HEALTH_UNKNOWN : ZDU_HEALTH_UNCHECKED);
	zdu_state_observe(&d->state, on_state_change, d);
	d->http = zdu_http_new(&d->loop);
	d->slowstart = zdu_slowstart_new(&d->loop, &d->state);
	if (!d->http || !d->slowstart) {
		zdu_log_error("out of memory");
		goto fail;
	}
	zdu_slowstart_configure(d->slowstart, &d->cfg);

	/* The flag first: the first probe answered must already reflect it. */
	d->flagf = zdu_flag_file_new(&d->loop, &d->state, d->cfg.flag_file, d->cfg.flag_poll_ms, err,
				     sizeof(err));
	if (!d->flagf) {
		zdu_log_error("%s", err);
		goto fail;
	}
	if (start_control(d, err, sizeof(err)) < 0) {
		zdu_log_error("%s", err);
		goto fail;
	}
	d->control_up = 1;
	d->listener = zdu_listener_new(&d->loop, &d->cfg, &d->state, err, sizeof(err));
	if (!d->listener) {
		zdu_log_error("%s", err);
		goto fail;
	}
	if (apply_probe(d) < 0)
		goto fail;
	uv_signal_start(&d->sig_hup, on_signal, SIGHUP);
	uv_signal_start(&d->sig_term, on_signal, SIGTERM);
	uv_signal_start(&d->sig_int, on_signal, SIGINT);

	zdu_log_notice("zdu-agent %s started (config %s), replying \"%s\"", ZDU_VERSION, d->cfg.path,
		       zdu_state_reply_text(&d->state, reply, sizeof(reply)));
	daemon_ready(d);
	uv_run(&d->loop, UV_RUN_DEFAULT);
	rc = ZDU_EXIT_OK;
	goto out_loop;
fail:
	d->stopping = 0;
	stop(d, "start failed");
	uv_run(&d->loop, UV_RUN_DEFAULT);
out_loop:
	if (uv_loop_close(&d->loop) != 0)
		zdu_log_error("event loop closed with handles still open");
out_cfg:
	zdu_config_free(&d->cfg);
	free(d);
	return rc;
}
