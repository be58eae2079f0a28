/* zdu-coordinator: the command line. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "zdu/coordinator.h"
#include "zdu/plan.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: zdu-coordinator --plan FILE [--dry-run] [--resume] [--json]\n"
		"       zdu-coordinator --plan FILE --check\n"
		"       zdu-coordinator --plan FILE --status [--json]\n"
		"       zdu-coordinator --version | --help\n"
		"\n"
		"Upgrades the API nodes of a plan one at a time: drains each through its\n"
		"zdu-agent, waits until every load balancer and the node say it is drained,\n"
		"runs the upgrade command, waits until it is healthy, and puts it back.\n"
		"\n"
		"  -p, --plan FILE   the rollout plan (libconfig; see zdu-coordinator.plan(5))\n"
		"  -n, --dry-run     print the steps and run every preflight; change nothing\n"
		"  -r, --resume      continue an interrupted rollout from its journal\n"
		"      --json        one JSON object per line instead of text\n"
		"      --check       validate the plan and exit\n"
		"      --status      read the journal (file or etcd): where the rollout stands, what next\n"
		"      --textfile-dir DIR  write the progress to DIR/zdu_coordinator.prom (node_exporter)\n"
		"  -V, --version     print the version\n"
		"  -h, --help        this help\n"
		"\n"
		"Exit codes: 0 done, 1 a step failed (stopped safely), 2 usage or plan error,\n"
		"3 a wait timed out, 4 a preflight check refused, 5 another coordinator runs the plan.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "plan", required_argument, NULL, 'p' },  { "dry-run", no_argument, NULL, 'n' },
		{ "resume", no_argument, NULL, 'r' },      { "json", no_argument, NULL, 'j' },
		{ "check", no_argument, NULL, 'c' },       { "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },        { "textfile-dir", required_argument, NULL, 't' },
		{ "status", no_argument, NULL, 's' },      { NULL, 0, NULL, 0 },
	};
	struct zdu_coord_opts o = { 0 };
	struct zdu_plan plan;
	char err[1024] = "";
	enum zdu_err e;
	int c, check = 0, status = 0, rc;

	while ((c = getopt_long(argc, argv, "p:nrVh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			o.plan_path = optarg;
			break;
		case 'n':
			o.dry_run = 1;
			break;
		case 'r':
			o.resume = 1;
			break;
		case 'j':
			o.json = 1;
			break;
		case 'c':
			check = 1;
			break;
		case 't':
			o.textfile_dir = optarg;
			break;
		case 's':
			status = 1;
			break;
		case 'V':
			printf("zdu-coordinator %s\n", ZDU_VERSION);
			return ZDU_COORD_OK;
		case 'h':
			usage(stdout);
			return ZDU_COORD_OK;
		default:
			fprintf(stderr, "Try 'zdu-coordinator --help'.\n");
			return ZDU_COORD_USAGE;
		}
	}
	if (optind < argc || !o.plan_path) {
		fprintf(stderr, "zdu-coordinator: %s\nTry 'zdu-coordinator --help'.\n",
			optind < argc ? "unexpected argument" : "--plan FILE is needed");
		return ZDU_COORD_USAGE;
	}
	if (o.dry_run && o.resume) {
		fprintf(stderr, "zdu-coordinator: --dry-run and --resume exclude each other\n");
		return ZDU_COORD_USAGE;
	}
	if ((e = zdu_plan_load(o.plan_path, &plan, err, sizeof(err))) != ZDU_OK) {
		fprintf(stderr, "zdu-coordinator: %s\n", zdu_err_text(e, err));
		return ZDU_COORD_USAGE;
	}
	if (check) {
		if (plan.nservices)
			printf("%s: plan ok (%zu service%s, unit %s, %zu node%s, %zu load balancer%s)\n", o.plan_path,
			       plan.nservices, plan.nservices == 1 ? "" : "s",
			       plan.unit == ZDU_UNIT_NODE ? "node" : "service", plan.nnodes, plan.nnodes == 1 ? "" : "s",
			       plan.nlbs, plan.nlbs == 1 ? "" : "s");
		else
			printf("%s: plan ok (%zu node%s, %zu load balancer%s)\n", o.plan_path, plan.nnodes,
			       plan.nnodes == 1 ? "" : "s", plan.nlbs, plan.nlbs == 1 ? "" : "s");
		rc = ZDU_COORD_OK;
	} else if (status) {
		rc = zdu_coordinator_status(&plan, &o);
	} else {
		rc = zdu_coordinator_run(&plan, &o);
	}
	zdu_plan_free(&plan);
	return rc;
}
