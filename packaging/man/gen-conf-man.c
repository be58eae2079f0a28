/* zdu-conf-doc: zdu-agent.conf(5) and the sample configuration, both
 * checked against the one table of keys in agent/common/config.c, and
 * zdu-coordinator.plan(5) from the plan's table in agent/coordinator/plan.c.
 *
 *   zdu-conf-doc man -o FILE VERSION DATE
 *       writes the roff man page: fixed sections below, then every key of
 *       zdu_config_keys() with its type, range or choices, default and doc.
 *   zdu-conf-doc plan-man -o FILE VERSION DATE
 *       the same for the plan: zdu_plan_keytab(), its top-level keys, then
 *       each group and list of groups with what it is and its keys.
 *   zdu-conf-doc check-sample FILE
 *       fails unless FILE loads as it is, and, with its commented-out
 *       settings ("#   key = value;") uncommented, sets every key of the
 *       table, each to its default. So a key added to the table without a
 *       line in conf/zdu-agent.conf, or a default changed in one place
 *       only, breaks the build's tests.
 *
 * Built and run at build time only; never installed. */
#include <ctype.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/config.h"
#include "zdu/keytab-t.h"
#include "zdu/plan.h"

#define FIELD(cfg, k, type) ((type *)(void *)((char *)(cfg) + (k)->offset))

/* One line about each section; a section missing here still gets its keys. */
static const struct {
	const char *group, *what;
} groups[] = {
	{ "agent", "the agent-check listener HAProxy connects to" },
	{ "flag", "the maintenance flag file" },
	{ "control", "the Unix socket on which the command line talks to the daemon" },
	{ "log", "logging" },
	{ "probe", "the probe of the local nova-api" },
	{ "drain", "how the daemon tells that the node is drained (for zdu-agent --maintenance on --wait)" },
	{ "slowstart", "ramping the weight up after maintenance or a failure" },
	{ "etcd", "maintenance flags from an etcd v3 cluster, and the agent's state published there (see ETCD in zdu-agent(8))" },
	{ "guard", "the fleet guard: with etcd, a node slow too long stays up while too few of its peers are (see ETCD in zdu-agent(8))" },
};

/* Text for a roff body line: backslashes and minus signs escaped, and a
 * leading dot or quote kept from being read as a request. */
static void roff_text(FILE *f, const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", f);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", f);
		else if (*s == '-')
			fputs("\\-", f);
		else
			fputc(*s, f);
	}
}

static const char *group_what(const char *g)
{
	size_t i;

	for (i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (strcmp(groups[i].group, g) == 0)
			return groups[i].what;
	return NULL;
}

/* "2000" -> " (2 s)": milliseconds are easier to read in seconds. */
static void ms_hint(FILE *f, const struct zdu_config_key *k, long long v)
{
	size_t n = strlen(k->name);

	if (n < 3 || strcmp(k->name + n - 3, "_ms") != 0 || v < 1000 || v % 1000)
		return;
	if (v % 3600000 == 0)
		fprintf(f, " (%lld\\~h)", v / 3600000);
	else if (v % 60000 == 0 && v >= 60000)
		fprintf(f, " (%lld\\~min)", v / 60000);
	else
		fprintf(f, " (%lld\\~s)", v / 1000);
}

static void print_default(FILE *f, const struct zdu_config_key *k)
{
	size_t i;

	if (k->def_doc) {
		roff_text(f, k->def_doc);
		return;
	}
	switch (k->type) {
	case ZDU_CT_INT:
		fprintf(f, "%lld", k->def_int);
		ms_hint(f, k, k->def_int);
		break;
	case ZDU_CT_BOOL:
		fputs(k->def_int ? "true" : "false", f);
		break;
	case ZDU_CT_ENUM:
		fprintf(f, "\"%s\"", k->choices[k->def_int]);
		break;
	case ZDU_CT_STRING:
		fputc('"', f);
		roff_text(f, k->def_str);
		fputc('"', f);
		break;
	case ZDU_CT_STRLIST:
		if (k->def_list) {
			fputs("[\\~", f);
			for (i = 0; k->def_list[i]; i++) {
				fputs(i ? ", \"" : "\"", f);
				roff_text(f, k->def_list[i]);
				fputc('"', f);
			}
			fputs("\\~]", f);
		} else if (k->def_str) {
			fputs("[\\~\"", f);
			roff_text(f, k->def_str);
			fputs("\"\\~]", f);
		} else {
			fputs("[\\~]", f);
		}
		break;
	case ZDU_CT_INTLIST:
		if (k->def_int)
			fprintf(f, "[\\~%lld\\~]", k->def_int);
		else
			fputs("[\\~]", f);
		break;
	}
}

static void print_type(FILE *f, const struct zdu_config_key *k)
{
	int i;

	switch (k->type) {
	case ZDU_CT_INT:
		fprintf(f, "Integer from %lld to %lld", k->min, k->max);
		ms_hint(f, k, k->max);
		break;
	case ZDU_CT_BOOL:
		fputs("Boolean", f);
		break;
	case ZDU_CT_STRING:
		fputs("String", f);
		break;
	case ZDU_CT_STRLIST:
		fputs("List of strings", f);
		break;
	case ZDU_CT_INTLIST:
		fprintf(f, "List of integers from %lld to %lld", k->min, k->max);
		break;
	case ZDU_CT_ENUM:
		fputs("One of", f);
		for (i = 0; k->choices[i]; i++)
			fprintf(f, "%s \\(dq%s\\(dq", i ? "," : "", k->choices[i]);
		break;
	}
}

/* One key as a tagged paragraph: its name (after prefix), type, default
 * (or "required") and doc. */
static void print_key(FILE *f, const char *prefix, const struct zdu_config_key *k)
{
	fprintf(f, ".TP\n.B %s%s\n", prefix, k->name);
	print_type(f, k);
	if ((k->flags & ZDU_KEY_NONEMPTY) && !(k->flags & ZDU_KEY_REQUIRED))
		fputs(", not empty", f);
	if (k->flags & ZDU_KEY_REQUIRED) {
		fputs(k->flags & ZDU_KEY_NONEMPTY ? "; required, not empty" : "; required", f);
	} else {
		fputs("; default ", f);
		print_default(f, k);
	}
	fputs(".\n.br\n", f);
	roff_text(f, k->doc);
	fputs("\n", f);
}

static const char *const top =
	".\\\" Generated by zdu-conf-doc from the table of keys in agent/common/config.c: edit that\n"
	".\\\" table (or packaging/man/gen-conf-man.c for the fixed text), not this file.\n";

static const char *const head =
	".SH NAME\n"
	"zdu\\-agent.conf \\- configuration of the zdu\\-agent HAProxy agent\\-check daemon\n"
	".SH SYNOPSIS\n"
	".I /etc/zdu\\-agent/zdu\\-agent.conf\n"
	".SH DESCRIPTION\n"
	".BR zdu\\-agent (8)\n"
	"reads its configuration from\n"
	".I /etc/zdu\\-agent/zdu\\-agent.conf\n"
	"or from the file given with\n"
	".BR \\-\\-config .\n"
	"Every key has a default, so the file may be empty, and a missing file at the default path\n"
	"is not an error.\n"
	"Keys are grouped in sections; a section or key that is not listed below is an error, as is a\n"
	"value of the wrong type or out of its range.\n"
	"Errors name the file, the line and the key, as in\n"
	".RS\n"
	".EX\n"
	"/etc/zdu\\-agent/zdu\\-agent.conf:12: agent.weight: 0 is out of range (1 to 100)\n"
	".EE\n"
	".RE\n"
	".PP\n"
	".B zdu\\-agent \\-\\-check\\-config\n"
	"validates the file without touching the running daemon.\n"
	"On\n"
	".B SIGHUP\n"
	".RB ( \"systemctl reload zdu\\-agent\" )\n"
	"the daemon reads the file again; a file that fails to load leaves the running configuration\n"
	"untouched.\n"
	"Changes to\n"
	".B agent.listen\n"
	"and to the\n"
	".B control\n"
	"section take effect only at the next restart: HAProxy keeps the state the agent last set while\n"
	"the agent's port is closed, so a restart does not move traffic.\n"
	".SH SYNTAX\n"
	"The file uses the syntax of\n"
	".BR libconfig :\n"
	"each section is a group of settings:\n"
	".RS\n"
	".EX\n"
	"section:\n"
	"{\n"
	"  key = value;\n"
	"};\n"
	".EE\n"
	".RE\n"
	".PP\n"
	"Strings are in double quotes, integers are decimal, booleans are\n"
	".B true\n"
	"or\n"
	".BR false ,\n"
	"and lists are written\n"
	".BR \"[ \\(dqa\\(dq, \\(dqb\\(dq ]\" .\n"
	"Comments start with\n"
	".B #\n"
	"or\n"
	".B //\n"
	"and run to the end of the line, or are enclosed in\n"
	".BR /* \" and \" */ .\n"
	".B @include \\(dqFILE\\(dq\n"
	"reads another file in place.\n"
	".PP\n"
	"An example that listens on one address only, probes nova\\-api over HTTPS, drains\n"
	"rather than fails an unhealthy node and ramps the weight up over a minute:\n"
	".RS\n"
	".EX\n"
	"agent:\n"
	"{\n"
	"  listen = [ \"192.0.2.11:9777\" ];\n"
	"};\n"
	"probe:\n"
	"{\n"
	"  url = \"https://127.0.0.1:8774/v2.1/\";\n"
	"  ca_file = \"/etc/ssl/certs/ca\\-certificates.crt\";\n"
	"  on_failure = \"drain\";\n"
	"};\n"
	"slowstart:\n"
	"{\n"
	"  duration_ms = 60000;\n"
	"};\n"
	".EE\n"
	".RE\n"
	".SH KEYS\n"
	"Each key is shown as\n"
	".IR section . key ,\n"
	"with its type, its allowed values and its default.\n"
	"Durations are in milliseconds.\n";

static const char *const tail =
	".SH FILES\n"
	".TP\n"
	".I /etc/zdu\\-agent/zdu\\-agent.conf\n"
	"The configuration. The packaged file sets nothing: every setting is commented out at its\n"
	"default, with a line saying why one would change it.\n"
	".TP\n"
	".I /usr/share/doc/zdu\\-agent/examples/\n"
	"A HAProxy backend using the agent\n"
	".RI ( haproxy\\-backend.cfg )\n"
	"and a keepalived configuration for the load balancers' virtual address\n"
	".RI ( keepalived.conf ).\n"
	".SH SEE ALSO\n"
	".BR zdu\\-agent (8),\n"
	".BR haproxy (1),\n"
	".BR systemd.exec (5)\n";

/* The lists of groups of a table (the agent's services), as the plan's
 * groups: what the list is, then each entry's keys as LIST[].KEY. */
static void write_lists(FILE *f, const struct zdu_keytab *tab)
{
	char prefix[64];
	size_t i, j;

	for (j = 0; j < tab->ngroups; j++) {
		const struct zdu_keytab_group *g = &tab->groups[j];

		if (!g->keys)
			continue;
		fprintf(f, ".SS \"%s\"\n", g->name);
		roff_text(f, g->doc);
		fputs("\n", f);
		if (g->example) {
			/* inline bold: .B would take the example's quotes
			 * for its own */
			fprintf(f, ".IP\nFor example:\n\\fB%s = ", g->name);
			roff_text(f, g->example);
			fputs(";\\fR\n.PP\n", f);
		}
		snprintf(prefix, sizeof(prefix), "%s[].", g->name);
		for (i = 0; i < g->nkeys; i++)
			print_key(f, prefix, &g->keys[i]);
	}
}

static int write_man(const char *out, const char *version, const char *date)
{
	size_t n, i;
	const struct zdu_config_key *keys = zdu_config_keys(&n);
	const char *group = NULL;
	char prefix[64];
	FILE *f = fopen(out, "we");

	if (!f) {
		perror(out);
		return 1;
	}
	fputs(top, f);
	fprintf(f, ".TH ZDU\\-AGENT.CONF 5 \"%s\" \"zdu\\-agent %s\" \"File Formats\"\n", date, version);
	fputs(head, f);
	for (i = 0; i < n; i++) {
		const struct zdu_config_key *k = &keys[i];

		if (!group || strcmp(group, k->group) != 0) {
			const char *what = group_what(k->group);

			group = k->group;
			fprintf(f, ".SS \"%s\"\n", k->group);
			if (what) {
				fprintf(f, "Section\n.B %s\n", k->group);
				fputs("configures ", f);
				roff_text(f, what);
				fputs(".\n", f);
			}
		}
		snprintf(prefix, sizeof(prefix), "%s.", k->group);
		print_key(f, prefix, k);
	}
	write_lists(f, zdu_config_keytab());
	fputs(tail, f);
	if (fclose(f) != 0) {
		perror(out);
		return 1;
	}
	return 0;
}

/* ---- zdu-coordinator.plan(5) ---- */

static const char *const plan_top =
	".\\\" Generated by zdu-conf-doc from the table of keys in agent/coordinator/plan.c: edit that\n"
	".\\\" table (or packaging/man/gen-conf-man.c for the fixed text), not this file.\n";

static const char *const plan_head =
	".SH NAME\n"
	"zdu\\-coordinator.plan \\- the rollout plan of zdu\\-coordinator\n"
	".SH SYNOPSIS\n"
	".B zdu\\-coordinator \\-\\-plan\n"
	".I FILE\n"
	".SH DESCRIPTION\n"
	"A plan describes one rollout of\n"
	".BR zdu\\-coordinator (8):\n"
	"the HAProxy backend, its load balancers, the nodes in the order they are upgraded, how each\n"
	"node's agent is reached, the upgrade command and the time limits.\n"
	"A commented sample is in\n"
	".IR /usr/share/doc/zdu\\-coordinator/examples/zdu\\-coordinator.plan .\n"
	".PP\n"
	"The plan uses the syntax of\n"
	".BR libconfig :\n"
	".B key = value;\n"
	"settings, strings in double quotes, groups in\n"
	".BR \"{ }\" ,\n"
	"lists of groups in\n"
	".BR \"( )\" ,\n"
	"lists of strings in\n"
	".BR \"[ ]\" ,\n"
	"comments after\n"
	".B #\n"
	"or\n"
	".BR // .\n"
	".B Unknown keys are errors,\n"
	"as are values of the wrong type or out of their range, so a typo is caught by\n"
	".B zdu\\-coordinator \\-\\-plan\n"
	".I FILE\n"
	".B \\-\\-check\n"
	"rather than ignored.\n"
	"Errors name the file, the line and the key, as in\n"
	".RS\n"
	".EX\n"
	"nova\\-api.plan:14: timeouts.drain_ms: 99 is out of range (100 to 86400000)\n"
	".EE\n"
	".RE\n"
	".SH KEYS\n"
	"Each key is shown with its type, its allowed values and its default; a key of a group as\n"
	".IR group . key ,\n"
	"a key of each entry of a list of groups as\n"
	".IR list []. key .\n"
	"Durations are in milliseconds.\n"
	".SS \"Top level\"\n";

static const char *const plan_tail =
	".SH RESUME\n"
	"Changing\n"
	".BR backend ,\n"
	".BR strategy ,\n"
	"the nodes (their order, names, servers) or the first group makes a journal written for the\n"
	"old plan unusable for\n"
	".BR \\-\\-resume ;\n"
	"time limits, commands,\n"
	".B min_ready\n"
	"and the load balancers may be changed between a stop and\n"
	".BR \\-\\-resume .\n"
	".SH FILES\n"
	".TP\n"
	".I /usr/share/doc/zdu\\-coordinator/examples/zdu\\-coordinator.plan\n"
	"A commented sample plan: three nodes behind two load balancers.\n"
	".SH SEE ALSO\n"
	".BR zdu\\-coordinator (8),\n"
	".BR zdu\\-agent (8),\n"
	".BR zdu\\-agent.conf (5)\n";

static int write_plan_man(const char *out, const char *version, const char *date)
{
	const struct zdu_keytab *tab = zdu_plan_keytab();
	char prefix[64];
	size_t i, j;
	FILE *f = fopen(out, "we");

	if (!f) {
		perror(out);
		return 1;
	}
	fputs(plan_top, f);
	fprintf(f, ".TH ZDU\\-COORDINATOR.PLAN 5 \"%s\" \"zdu\\-coordinator %s\" \"File Formats\"\n", date,
		version);
	fputs(plan_head, f);
	for (i = 0; i < tab->nkeys; i++)
		if (!*tab->keys[i].group)
			print_key(f, "", &tab->keys[i]);
	for (j = 0; j < tab->ngroups; j++) {
		const struct zdu_keytab_group *g = &tab->groups[j];

		fprintf(f, ".SS \"%s\"\n", g->name);
		roff_text(f, g->doc);
		fputs("\n", f);
		if (g->keys) {
			snprintf(prefix, sizeof(prefix), "%s[].", g->name);
			for (i = 0; i < g->nkeys; i++)
				print_key(f, prefix, &g->keys[i]);
			continue;
		}
		snprintf(prefix, sizeof(prefix), "%s.", g->name);
		for (i = 0; i < tab->nkeys; i++)
			if (strcmp(tab->keys[i].group, g->name) == 0)
				print_key(f, prefix, &tab->keys[i]);
	}
	fputs(plan_tail, f);
	if (fclose(f) != 0) {
		perror(out);
		return 1;
	}
	return 0;
}

/* Settings commented out as "#   key = value;" get their '#' removed. */
static char *uncomment(const char *text)
{
	char *out = malloc(strlen(text) + 1), *o = out;
	const char *p = text;

	if (!out)
		return NULL;
	while (*p) {
		const char *eol = strchr(p, '\n'), *q = p, *k, *last;
		size_t len = eol ? (size_t)(eol - p) + 1 : strlen(p);

		while (*q == ' ' || *q == '\t')
			q++;
		if (*q == '#') {
			k = q + 1;
			while (*k == ' ' || *k == '\t')
				k++;
			last = p + len - 1;
			while (last > k && isspace((unsigned char)*last))
				last--;
			if (islower((unsigned char)*k)) {
				const char *e = k;

				while (islower((unsigned char)*e) || *e == '_')
					e++;
				while (*e == ' ' || *e == '\t')
					e++;
				if (*e == '=' && *last == ';') {
					memcpy(o, p, (size_t)(q - p));
					o += q - p;
					memcpy(o, k, len - (size_t)(k - p));
					o += len - (size_t)(k - p);
					p += len;
					continue;
				}
			}
		}
		memcpy(o, p, len);
		o += len;
		p += len;
	}
	*o = '\0';
	return out;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0, r;

	if (!f) {
		perror(path);
		return NULL;
	}
	do {
		if (len + 4096 + 1 > cap) {
			char *nb = realloc(buf, cap = cap ? cap * 2 : 8192);

			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		r = fread(buf + len, 1, 4096, f);
		len += r;
	} while (r > 0);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

static int same_value(const struct zdu_config_key *k, const struct zdu_config *a,
		      const struct zdu_config *b)
{
	switch (k->type) {
	case ZDU_CT_INT:
	case ZDU_CT_BOOL:
	case ZDU_CT_ENUM:
		return *FIELD(a, k, int) == *FIELD(b, k, int);
	case ZDU_CT_STRING:
		return strcmp(*FIELD(a, k, char *), *FIELD(b, k, char *)) == 0;
	case ZDU_CT_STRLIST: {
		const struct zdu_strlist *x = FIELD(a, k, struct zdu_strlist);
		const struct zdu_strlist *y = FIELD(b, k, struct zdu_strlist);
		size_t i;

		if (x->n != y->n)
			return 0;
		for (i = 0; i < x->n; i++)
			if (strcmp(x->v[i], y->v[i]) != 0)
				return 0;
		return 1;
	}
	case ZDU_CT_INTLIST: {
		const struct zdu_intlist *x = FIELD(a, k, struct zdu_intlist);
		const struct zdu_intlist *y = FIELD(b, k, struct zdu_intlist);

		return x->n == y->n && (x->n == 0 || memcmp(x->v, y->v, x->n * sizeof(*x->v)) == 0);
	}
	}
	return 0;
}

static int check_sample(const char *path)
{
	size_t n, i;
	const struct zdu_config_key *keys = zdu_config_keys(&n);
	struct zdu_config as_is, all, def;
	char err[512], name[96];
	char *text, *open;
	config_t lc;
	int bad = 0;

	if (zdu_config_load(path, 0, &as_is, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s (as shipped): %s\n", path, err);
		return 1;
	}
	zdu_config_free(&as_is);
	if (!(text = slurp(path)) || !(open = uncomment(text))) {
		free(text);
		return 1;
	}
	free(text);
	snprintf(name, sizeof(name), "%s (uncommented)", path);

	config_init(&lc);
	if (config_read_string(&lc, open) != CONFIG_TRUE) {
		fprintf(stderr, "%s:%d: %s\n", name, config_error_line(&lc), config_error_text(&lc));
		config_destroy(&lc);
		free(open);
		return 1;
	}
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s.%s", keys[i].group, keys[i].name);
		if (!config_lookup(&lc, name)) {
			fprintf(stderr, "%s: key %s is missing: add it, commented out at its default\n", path,
				name);
			bad = 1;
		}
	}
	config_destroy(&lc);

	snprintf(name, sizeof(name), "%s (uncommented)", path);
	if (zdu_config_load_string(open, name, &all, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		free(open);
		return 1;
	}
	free(open);
	if (zdu_config_defaults(&def) != 0) {
		zdu_config_free(&all);
		return 1;
	}
	for (i = 0; i < n; i++) {
		if (!same_value(&keys[i], &all, &def)) {
			fprintf(stderr, "%s: %s.%s is not commented out at its default\n", path, keys[i].group,
				keys[i].name);
			bad = 1;
		}
	}
	zdu_config_free(&all);
	zdu_config_free(&def);
	if (!bad)
		printf("%s: all %zu keys present, each at its default\n", path, n);
	return bad;
}

static int usage(void)
{
	fprintf(stderr, "usage: zdu-conf-doc man -o FILE VERSION DATE\n"
			"       zdu-conf-doc plan-man -o FILE VERSION DATE\n"
			"       zdu-conf-doc check-sample FILE\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "man") == 0 && strcmp(argv[2], "-o") == 0)
		return write_man(argv[3], argv[4], argv[5]);
	if (argc == 6 && strcmp(argv[1], "plan-man") == 0 && strcmp(argv[2], "-o") == 0)
		return write_plan_man(argv[3], argv[4], argv[5]);
	if (argc == 3 && strcmp(argv[1], "check-sample") == 0)
		return check_sample(argv[2]);
	return usage();
}
