/* zdu-agent: the command line. Runs the daemon, or one CLI action. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/cli.h"
#include "zdu/config.h"
#include "zdu/daemon.h"
#include "zdu/flag.h"
#include "zdu/log.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: zdu-agent [--config FILE] [--foreground]\n"
		"       zdu-agent [--config FILE] --maintenance on [--mode drain|maint|lb] [--reason TEXT]\n"
		"                 [--wait [SECONDS]] [--local] [--service NAME] [--json]\n"
		"       zdu-agent [--config FILE] --maintenance off [--local] [--service NAME]\n"
		"       zdu-agent [--config FILE] --maintenance on|off --all --yes [--reason TEXT]\n"
		"       zdu-agent [--config FILE] --status [--service NAME] [--json]\n"
		"       zdu-agent [--config FILE] --check-config\n"
		"       zdu-agent --version | --help\n"
		"\n"
		"Answers HAProxy agent-check probes with the state of this API node:\n"
		"its maintenance flag and the health of the local nova-api.\n"
		"\n"
		"  -c, --config FILE     configuration (default %s)\n"
		"  -f, --foreground      do not daemonize; log to stderr\n"
		"  -m, --maintenance on|off  set or clear this node's maintenance flag\n"
		"      --mode MODE       drain (default): finish sessions, take no new ones;\n"
		"                        maint: no traffic; lb: leave the state to the load balancer\n"
		"      --reason TEXT     why, shown in HAProxy and in the logs\n"
		"      --wait [SECONDS]  with --maintenance on: wait until drained (default 300 s)\n"
		"      --local           the local flag file, even when etcd is configured\n"
		"                        (with etcd, the node's etcd key is the default)\n"
		"      --all             the cluster-wide etcd key: every node; needs --yes\n"
		"      --service NAME    with --maintenance: that service's flag only (its own\n"
		"                        flag file, or its etcd key), --wait for it alone;\n"
		"                        with --status: that service alone\n"
		"  -s, --status          show the daemon's state\n"
		"      --json            machine-readable output\n"
		"      --check-config    validate the configuration and exit\n"
		"  -V, --version         print the version\n"
		"  -h, --help            this help\n"
		"\n"
		"Exit codes: 0 ok, 1 error, 2 usage, 3 timed out.\n",
		ZDU_DEFAULT_CONFIG);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "zdu-agent: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'zdu-agent --help'.\n");
	return ZDU_EXIT_USAGE;
}

enum { OPT_MODE = 256, OPT_REASON, OPT_WAIT, OPT_JSON, OPT_CHECK, OPT_LOCAL, OPT_ALL, OPT_YES, OPT_SERVICE };

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "maintenance", required_argument, NULL, 'm' },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "reason", required_argument, NULL, OPT_REASON },
		{ "wait", optional_argument, NULL, OPT_WAIT },
		{ "local", no_argument, NULL, OPT_LOCAL },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "yes", no_argument, NULL, OPT_YES },
		{ "service", required_argument, NULL, OPT_SERVICE },
		{ "status", no_argument, NULL, 's' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "check-config", no_argument, NULL, OPT_CHECK },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = ZDU_DEFAULT_CONFIG, *maint = NULL, *mode = NULL;
	struct zdu_cli_maint m = { .mode = ZDU_FLAG_DRAIN, .wait_s = 300 };
	int config_given = 0, foreground = 0, status = 0, check = 0, json = 0;
	int c, actions, rc;
	struct zdu_config cfg;
	char err[512] = "";
	enum zdu_err e;

	while ((c = getopt_long(argc, argv, "c:fm:sVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			config_given = 1;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'm':
			maint = optarg;
			break;
		case OPT_MODE:
			mode = optarg;
			break;
		case OPT_REASON:
			m.reason = optarg;
			break;
		case OPT_WAIT:
			m.wait = 1;
			/* An optional argument may also come as the next word. */
			if (!optarg && optind < argc && argv[optind][0] >= '0' && argv[optind][0] <= '9')
				optarg = argv[optind++];
			if (optarg) {
				char *end;
				long v = strtol(optarg, &end, 10);

				if (*end || v < 1 || v > 86400)
					return usage_error("--wait: \"%s\" is not 1 to 86400 seconds", optarg);
				m.wait_s = (int)v;
			}
			break;
		case OPT_LOCAL:
			m.local = 1;
			break;
		case OPT_ALL:
			m.all = 1;
			break;
		case OPT_YES:
			m.yes = 1;
			break;
		case OPT_SERVICE:
			if (!zdu_service_name_valid(optarg, strlen(optarg)))
				return usage_error("--service: \"%s\" is not a service name (1 to 63 of A-Z a-z 0-9 . _ -)",
						   optarg);
			m.service = optarg;
			break;
		case 's':
			status = 1;
			break;
		case OPT_JSON:
			json = 1;
			break;
		case OPT_CHECK:
			check = 1;
			break;
		case 'V':
			printf("zdu-agent %s\n", ZDU_VERSION);
			return ZDU_EXIT_OK;
		case 'h':
			usage(stdout);
			return ZDU_EXIT_OK;
		default:
			fprintf(stderr, "Try 'zdu-agent --help'.\n");
			return ZDU_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument \"%s\"", argv[optind]);
	actions = (maint != NULL) + status + check;
	if (actions > 1)
		return usage_error("%s", "--maintenance, --status and --check-config exclude each other");
	if (maint && strcmp(maint, "on") != 0 && strcmp(maint, "off") != 0)
		return usage_error("--maintenance takes on or off, not \"%s\"", maint);
	if ((mode || m.reason || m.wait) && !(maint && strcmp(maint, "on") == 0))
		return usage_error("%s", "--mode, --reason and --wait go with --maintenance on");
	if (mode) {
		int v = zdu_flag_mode_parse(mode);

		if (v <= 0)
			return usage_error("--mode takes drain, maint or lb, not \"%s\"", mode);
		m.mode = (enum zdu_flag_mode)v;
	}
	if ((m.local || m.all || m.yes) && !maint)
		return usage_error("%s", "--local, --all and --yes go with --maintenance");
	if (m.local && m.all)
		return usage_error("%s", "--local and --all exclude each other");
	if (m.all && !m.yes)
		return usage_error("%s", "--all puts every node of the cluster in maintenance (or takes them "
					 "all out): add --yes to mean it");
	if (m.all && m.wait)
		return usage_error("%s", "--wait waits for this node; it does not go with --all");
	if (m.service && !status && !maint)
		return usage_error("%s", "--service goes with --maintenance or --status");
	if (m.service && m.all)
		return usage_error("%s", "--service is one service of this node; --all is every node");
	if (json && !status && !maint)
		return usage_error("%s", "--json goes with --status or --maintenance");
	if (foreground && actions)
		return usage_error("%s", "--foreground is for running the daemon");

	if (actions == 0)
		return zdu_daemon_run(config, config_given, foreground);

	/* The etcd secret (etcd.password_file) is the daemon's: operators in
	 * the control socket's group run every action without it, and it is
	 * read only where the CLI itself talks to etcd. */
	e = zdu_config_load_flags(config, !config_given, ZDU_CONFIG_SECRET_LATER, &cfg, err, sizeof(err));
	if (e != ZDU_OK) {
		fprintf(stderr, "zdu-agent: %s\n", zdu_err_text(e, err));
		return ZDU_EXIT_ERROR;
	}
	if (check) {
		rc = zdu_cli_check_config(&cfg);
	} else if (status) {
		rc = m.service && !zdu_cli_service(&cfg, m.service, 0) ? ZDU_EXIT_USAGE
								   : zdu_cli_status(&cfg, json, m.service);
	} else {
		m.on = strcmp(maint, "on") == 0;
		m.json = json;
		if (m.all && cfg.etcd_endpoints.n == 0) {
			fprintf(stderr, "zdu-agent: --all needs etcd (etcd.endpoints in %s)\n", cfg.path);
			rc = ZDU_EXIT_USAGE;
		} else if (cfg.etcd_endpoints.n && !m.local) {
			rc = zdu_cli_maintenance_etcd(&cfg, &m, m.service);
		} else {
			rc = zdu_cli_maintenance(&cfg, &m);
		}
	}
	zdu_config_free(&cfg);
	return rc;
}
