/* haproxy_stat.c: the `show stat` CSV parser and the server states the
 * coordinator decides on.
 *
 *   zdu_stat_parse          on a real HAProxy 2.6 capture (tests/data/haproxy),
 *                           on older column sets and reordered columns built
 *                           from it, on missing columns, no header, empty
 *                           input, NUL bytes, short rows, other proxies, and
 *                           every truncation of the capture;
 *   zdu_lb_server_up / zdu_lb_server_drained  on every status HAProxy shows.
 *
 * Inputs are always copied into a malloc'd buffer of exactly their length
 * (no NUL after them), so that AddressSanitizer catches a read past the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/haproxy.h"

#ifndef ZDU_TEST_DATA
#error "ZDU_TEST_DATA (the tests/data directory) must be defined by the build"
#endif

#define CAPTURE "haproxy/show-stat-2.6.csv"
#define BACKEND "nova-api"

/* ------------------------------------------------------------ helpers */

static char *read_data(const char *name, size_t *len)
{
	char path[1024];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", ZDU_TEST_DATA, name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open test data %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Parses LEN bytes of S from an exact-size heap copy. */
static int parse_n(const char *s, size_t len, const char *backend, struct zdu_lb_backend *b, char *err,
		   size_t err_size)
{
	char *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, s, len);
	err[0] = '\0';
	rc = zdu_stat_parse(copy, len, backend, b, err, err_size);
	free(copy);
	return rc;
}

static int parse(const char *s, struct zdu_lb_backend *b, char *err, size_t err_size)
{
	return parse_n(s, strlen(s), BACKEND, b, err, err_size);
}

/* The capture as a table: names[c] and rows[r][c] (all in one strdup'd
 * buffer), so other column sets can be built from real rows. */
#define MAXC 160
#define MAXR 16
struct table {
	char *buf;
	char *names[MAXC];
	size_t nc;
	char *rows[MAXR][MAXC];
	size_t rlen[MAXR];
	size_t nr;
};

static size_t split_commas(char *line, char **out, size_t max)
{
	size_t n = 0;

	for (;;) {
		char *c = strchr(line, ',');

		assert_true(n < max);
		out[n++] = line;
		if (!c)
			return n;
		*c = '\0';
		line = c + 1;
	}
}

static void table_load(struct table *t)
{
	size_t len;
	char *save = NULL, *line;

	memset(t, 0, sizeof(*t));
	t->buf = read_data(CAPTURE, &len);
	line = strtok_r(t->buf, "\n", &save);
	assert_non_null(line);
	assert_memory_equal(line, "# ", 2);
	t->nc = split_commas(line + 2, t->names, MAXC);
	while ((line = strtok_r(NULL, "\n", &save))) {
		assert_true(t->nr < MAXR);
		t->rlen[t->nr] = split_commas(line, t->rows[t->nr], MAXC);
		t->nr++;
	}
}

static int table_col(const struct table *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->nc; i++)
		if (strcmp(t->names[i], name) == 0)
			return (int)i;
	fail_msg("no column %s in the capture", name);
	return -1;
}

/* A CSV with only the columns COLS (in that order), from the capture's
 * header and rows: what another HAProxy version would answer. */
static char *table_project(const struct table *t, const char *const *cols, size_t ncols)
{
	size_t cap = 65536, len = 0, r, i;
	char *out = malloc(cap);

	assert_non_null(out);
	len += (size_t)snprintf(out + len, cap - len, "# ");
	for (i = 0; i < ncols; i++)
		len += (size_t)snprintf(out + len, cap - len, "%s%s", cols[i], i + 1 < ncols ? "," : ",\n");
	for (r = 0; r < t->nr; r++) {
		for (i = 0; i < ncols; i++) {
			int c = table_col(t, cols[i]);
			const char *v = (size_t)c < t->rlen[r] ? t->rows[r][c] : "";

			len += (size_t)snprintf(out + len, cap - len, "%s,", v);
		}
		len += (size_t)snprintf(out + len, cap - len, "\n");
		assert_true(len < cap);
	}
	len += (size_t)snprintf(out + len, cap - len, "\n");
	assert_true(len < cap);
	return out;
}

/* Every column of the capture but those in DROP, in the capture's order. */
static char *table_without(const struct table *t, const char *const *drop, size_t ndrop)
{
	const char *cols[MAXC];
	size_t n = 0, i, k;

	for (i = 0; i < t->nc; i++) {
		if (!t->names[i][0])
			continue; /* the empty name after the trailing comma */
		for (k = 0; k < ndrop; k++)
			if (strcmp(t->names[i], drop[k]) == 0)
				break;
		if (k == ndrop)
			cols[n++] = t->names[i];
	}
	return table_project(t, cols, n);
}

static void table_free(struct table *t)
{
	free(t->buf);
}

/* The two servers of nova-api in the capture, as every column set that
 * has uweight/agent columns must show them. */
static void check_capture_servers(const struct zdu_lb_backend *b, int have_uweight, int have_agent)
{
	const struct zdu_lb_server *s1, *s2;

	assert_int_equal(b->n, 2);
	assert_string_equal(b->servers[0].name, "node1");
	assert_string_equal(b->servers[1].name, "node2");
	s1 = zdu_lb_find(b, "node1");
	s2 = zdu_lb_find(b, "node2");
	assert_ptr_equal(s1, &b->servers[0]);
	assert_ptr_equal(s2, &b->servers[1]);
	assert_null(zdu_lb_find(b, "BACKEND"));
	assert_null(zdu_lb_find(b, "FRONTEND"));
	assert_null(zdu_lb_find(b, "node3"));

	assert_string_equal(s1->status, "DRAIN (agent)");
	assert_int_equal(s1->scur, 0);
	assert_int_equal(s1->weight, 100);
	assert_int_equal(s1->uweight, have_uweight ? 100 : -1);
	assert_string_equal(s1->agent_status, have_agent ? "L7OK" : "");
	assert_string_equal(s1->last_agt, have_agent ? "via agent : up (maintenance: upgrade)" : "");
	assert_false(zdu_lb_server_up(s1));
	assert_true(zdu_lb_server_drained(s1));

	assert_string_equal(s2->status, "UP");
	assert_int_equal(s2->scur, 0);
	assert_int_equal(s2->weight, 100);
	assert_int_equal(s2->uweight, have_uweight ? 100 : -1);
	assert_string_equal(s2->agent_status, have_agent ? "L7OK" : "");
	assert_string_equal(s2->last_agt, have_agent ? "via agent : up" : "");
	assert_true(zdu_lb_server_up(s2));
	assert_false(zdu_lb_server_drained(s2));
}

/* ------------------------------------------------------------ real capture */

/* HAProxy quotes a field holding a comma or a quote (RFC 4180), as it does
 * with an agent's free text in last_agt. Was a bug: a naive split shifted
 * every later column, and the coordinator read uweight 1 (the act column). */
static void test_quoted_fields(void **state)
{
	static const char csv[] =
		"# pxname,svname,scur,status,weight,last_agt,act,uweight,\n"
		"be,s1,0,DRAIN (agent),100,\"via agent : up (old release, after \"\"cutover\"\")\",1,100,\n"
		"be,s2,3,UP,50,\"a,b\",1,50,\n"
		"be,s3,0,UP,100,\"\",1,100,\n";
	struct zdu_lb_backend b;
	char err[256];

	(void)state;
	assert_int_equal(zdu_stat_parse(csv, sizeof(csv) - 1, "be", &b, err, sizeof(err)), 0);
	assert_int_equal(b.n, 3);
	assert_string_equal(b.servers[0].last_agt, "via agent : up (old release, after \"cutover\")");
	assert_int_equal(b.servers[0].uweight, 100);
	assert_int_equal(b.servers[0].weight, 100);
	assert_string_equal(b.servers[1].last_agt, "a,b");
	assert_int_equal(b.servers[1].scur, 3);
	assert_int_equal(b.servers[1].uweight, 50);
	assert_string_equal(b.servers[2].last_agt, "");
	assert_int_equal(b.servers[2].uweight, 100);
	zdu_lb_backend_free(&b);
}

static void test_capture_2_6(void **state)
{
	struct zdu_lb_backend b;
	char err[256];
	size_t len;
	char *csv = read_data(CAPTURE, &len);

	(void)state;
	assert_int_equal(parse_n(csv, len, BACKEND, &b, err, sizeof(err)), 0);
	check_capture_servers(&b, 1, 1);
	zdu_lb_backend_free(&b);
	assert_null(b.servers);
	assert_int_equal(b.n, 0);

	/* The frontend is another proxy: no server rows at all. */
	assert_int_equal(parse_n(csv, len, "fe_nova-api", &b, err, sizeof(err)), 0);
	assert_int_equal(b.n, 0);
	zdu_lb_backend_free(&b);
	/* A backend HAProxy does not have: empty, not an error. */
	assert_int_equal(parse_n(csv, len, "glance-api", &b, err, sizeof(err)), 0);
	assert_int_equal(b.n, 0);
	zdu_lb_backend_free(&b);
	/* pxname is compared whole, not as a prefix. */
	assert_int_equal(parse_n(csv, len, "nova", &b, err, sizeof(err)), 0);
	assert_int_equal(b.n, 0);
	zdu_lb_backend_free(&b);
	free(csv);
}

/* Whether the backend is there at all, and which are: a plan naming a
 * backend a load balancer does not have is told so, with the names there
 * (not "has no server node1"). */
static void test_backend_found(void **state)
{
	struct zdu_lb_backend b;
	char err[256];
	size_t len;
	char *csv = read_data(CAPTURE, &len);

	(void)state;
	assert_int_equal(parse_n(csv, len, BACKEND, &b, err, sizeof(err)), 0);
	assert_true(b.found);
	assert_string_equal(b.backends, "nova-api");
	zdu_lb_backend_free(&b);
	/* the sample's spelling, on a load balancer with the README's */
	assert_int_equal(parse_n(csv, len, "nova_api", &b, err, sizeof(err)), 0);
	assert_false(b.found);
	assert_int_equal(b.n, 0);
	assert_string_equal(b.backends, "nova-api");
	zdu_lb_backend_free(&b);
	/* a frontend is not a backend */
	assert_int_equal(parse_n(csv, len, "fe_nova-api", &b, err, sizeof(err)), 0);
	assert_false(b.found);
	zdu_lb_backend_free(&b);
	free(csv);

	{
		static const char csv2[] =
			"# pxname,svname,status,scur,weight,\n"
			"stats,FRONTEND,OPEN,0,,\n"
			"stats,BACKEND,UP,0,0,\n"
			"nova-api,BACKEND,DOWN,0,0,\n"      /* a backend without servers is there */
			"glance\x01" "api,g1,UP,0,1,\n"
			"glance\x01" "api,BACKEND,UP,0,1,\n";
		char big[4096];
		size_t o = 0;
		int i;

		assert_int_equal(parse_n(csv2, sizeof(csv2) - 1, "nova-api", &b, err, sizeof(err)), 0);
		assert_true(b.found);
		assert_int_equal(b.n, 0);
		zdu_lb_backend_free(&b);
		assert_int_equal(parse_n(csv2, sizeof(csv2) - 1, "nova_api", &b, err, sizeof(err)), 0);
		assert_false(b.found);
		assert_string_equal(b.backends, "stats, nova-api, glance?api");
		zdu_lb_backend_free(&b);

		/* many backends: the list is cut, and says so */
		o = (size_t)snprintf(big, sizeof(big), "# pxname,svname,status,scur,weight,\n");
		for (i = 0; i < 60; i++)
			o += (size_t)snprintf(big + o, sizeof(big) - o, "backend-number-%02d,BACKEND,UP,0,1,\n", i);
		assert_true(o < sizeof(big));
		assert_int_equal(parse_n(big, o, "nova_api", &b, err, sizeof(err)), 0);
		assert_false(b.found);
		assert_true(strncmp(b.backends, "backend-number-00, backend-number-01, ", 38) == 0);
		assert_true(strlen(b.backends) < sizeof(b.backends));
		assert_string_equal(b.backends + strlen(b.backends) - 5, ", ...");
		zdu_lb_backend_free(&b);
	}
}

/* CRLF line ends (a proxy in between, a capture saved on Windows). */
static void test_capture_crlf(void **state)
{
	struct zdu_lb_backend b;
	char err[256], *crlf;
	size_t len, i, o = 0;
	char *csv = read_data(CAPTURE, &len);

	(void)state;
	crlf = malloc(2 * len);
	assert_non_null(crlf);
	for (i = 0; i < len; i++) {
		if (csv[i] == '\n')
			crlf[o++] = '\r';
		crlf[o++] = csv[i];
	}
	assert_int_equal(parse_n(crlf, o, BACKEND, &b, err, sizeof(err)), 0);
	check_capture_servers(&b, 1, 1);
	zdu_lb_backend_free(&b);
	free(crlf);
	free(csv);
}

/* ------------------------------------------------------------ other column sets */

/* HAProxy 2.0..2.3: the columns up to need_conn_est, no uweight (nor the
 * stats modules' columns 2.6 adds after it). */
static void test_header_2_0(void **state)
{
	struct zdu_lb_backend b;
	struct table t;
	char err[256], *csv;
	const char *cols[MAXC];
	size_t n = 0;

	(void)state;
	table_load(&t);
	while (strcmp(t.names[n], "uweight") != 0) {
		cols[n] = t.names[n];
		n++;
	}
	assert_string_equal(cols[n - 1], "need_conn_est");
	csv = table_project(&t, cols, n);
	assert_null(strstr(csv, "uweight"));
	assert_non_null(strstr(csv, ",agent_status,"));
	assert_non_null(strstr(csv, ",last_agt,"));
	assert_int_equal(parse(csv, &b, err, sizeof(err)), 0);
	check_capture_servers(&b, 0, 1);
	zdu_lb_backend_free(&b);
	free(csv);
	table_free(&t);
}

/* An old HAProxy (1.4/1.5 style): no uweight, no agent columns at all. */
static void test_header_old(void **state)
{
	static const char *const cols[] = {
		"pxname", "svname",  "qcur",    "qmax",    "scur",     "smax",     "slim",     "stot",
		"bin",    "bout",    "dreq",    "dresp",   "ereq",     "econ",     "eresp",    "wretr",
		"wredis", "status",  "weight",  "act",     "bck",      "chkfail",  "chkdown",  "lastchg",
		"downtime", "qlimit", "pid",    "iid",     "sid",      "throttle", "lbtot",    "tracked",
		"type",   "rate",    "rate_lim", "rate_max", "check_status", "check_code", "check_duration",
	};
	struct zdu_lb_backend b;
	struct table t;
	char err[256], *csv;

	(void)state;
	table_load(&t);
	csv = table_project(&t, cols, sizeof(cols) / sizeof(cols[0]));
	assert_null(strstr(csv, "agent_status"));
	assert_null(strstr(csv, "last_agt"));
	assert_null(strstr(csv, "uweight"));
	assert_int_equal(parse(csv, &b, err, sizeof(err)), 0);
	check_capture_servers(&b, 0, 0);
	zdu_lb_backend_free(&b);
	free(csv);
	table_free(&t);
}

/* Only the columns the parser needs, in another order: found by name. */
static void test_header_reordered(void **state)
{
	static const char *const cols[] = { "last_agt", "uweight", "weight", "qcur",   "agent_status",
					    "status",   "scur",    "svname", "pxname", "check_status" };
	static const char *const cols2[] = { "svname", "weight", "pxname", "scur", "status" };
	struct zdu_lb_backend b;
	struct table t;
	char err[256], *csv;
	const char *all[MAXC];
	size_t i, n = 0;

	(void)state;
	table_load(&t);
	csv = table_project(&t, cols, sizeof(cols) / sizeof(cols[0]));
	assert_int_equal(parse(csv, &b, err, sizeof(err)), 0);
	check_capture_servers(&b, 1, 1);
	zdu_lb_backend_free(&b);
	free(csv);

	csv = table_project(&t, cols2, sizeof(cols2) / sizeof(cols2[0]));
	assert_int_equal(parse(csv, &b, err, sizeof(err)), 0);
	check_capture_servers(&b, 0, 0);
	zdu_lb_backend_free(&b);
	free(csv);

	/* The capture's first 100 columns (pxname to uweight), reversed. */
	for (i = 100; i-- > 0;)
		all[n++] = t.names[i];
	assert_string_equal(all[0], "uweight");
	assert_string_equal(all[n - 1], "pxname");
	csv = table_project(&t, all, n);
	assert_int_equal(parse(csv, &b, err, sizeof(err)), 0);
	check_capture_servers(&b, 1, 1);
	zdu_lb_backend_free(&b);
	free(csv);
	table_free(&t);
}

/* Each required column missing: an error that names it. */
static void test_missing_column(void **state)
{
	static const char *const req[] = { "pxname", "svname", "status", "scur", "weight" };
	struct table t;
	size_t i;

	(void)state;
	table_load(&t);
	for (i = 0; i < sizeof(req) / sizeof(req[0]); i++) {
		struct zdu_lb_backend b;
		char err[256], want[64], *csv = table_without(&t, &req[i], 1);

		assert_int_equal(parse(csv, &b, err, sizeof(err)), -1);
		snprintf(want, sizeof(want), "no column \"%s\"", req[i]);
		if (!strstr(err, want))
			fail_msg("without %s: \"%s\" does not say %s", req[i], err, want);
		assert_null(b.servers);
		assert_int_equal(b.n, 0);
		free(csv);
	}
	table_free(&t);
	{
		/* A column name is matched whole: "scur2" is not "scur". */
		struct zdu_lb_backend b;
		char err[256];

		assert_int_equal(parse("# pxname,svname,status,scur2,weight\nnova-api,n1,UP,0,1\n", &b, err,
				       sizeof(err)),
				 -1);
		assert_non_null(strstr(err, "no column \"scur\""));
		assert_int_equal(parse("# pxname,svname,status,weight\n", &b, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "no column \"scur\""));
	}
}

/* ------------------------------------------------------------ broken input */

static void test_no_header(void **state)
{
	static const char *const bad[] = {
		"nova-api,node1,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,100\n",
		"pxname,svname,status,scur,weight\nnova-api,node1,UP,0,100\n", /* no "# " */
		"#pxname,svname,status,scur,weight\nnova-api,node1,UP,0,100\n",
		"Unknown command. Please enter one of the following commands only :\n  help\n",
		"Permission denied\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct zdu_lb_backend b;
		char err[256];

		assert_int_equal(parse(bad[i], &b, err, sizeof(err)), -1);
		if (!strstr(err, "expected a header line"))
			fail_msg("input %zu: \"%s\"", i, err);
		assert_null(b.servers);
		assert_int_equal(b.n, 0);
	}
	{
		/* What HAProxy said is shown, sanitized and cut. */
		struct zdu_lb_backend b;
		char err[256], line[300];

		memset(line, 'x', sizeof(line) - 2);
		line[0] = '\x1b';
		line[sizeof(line) - 2] = '\n';
		line[sizeof(line) - 1] = '\0';
		assert_int_equal(parse(line, &b, err, sizeof(err)), -1);
		assert_null(strchr(err, '\x1b'));
		assert_true(strlen(err) < 150);
		assert_non_null(strstr(err, "\"?xxx"));
	}
}

static void test_empty(void **state)
{
	static const char *const empty[] = { "", "\n", "\n\n\r\n" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		struct zdu_lb_backend b;
		char err[256];

		assert_int_equal(parse(empty[i], &b, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "empty answer"));
		assert_null(b.servers);
		assert_int_equal(b.n, 0);
	}
	{
		/* A header and nothing else: a valid, empty backend. */
		struct zdu_lb_backend b;
		char err[256];

		assert_int_equal(parse("# pxname,svname,status,scur,weight,\n", &b, err, sizeof(err)), 0);
		assert_int_equal(b.n, 0);
		zdu_lb_backend_free(&b);
	}
}

static void test_nul_byte(void **state)
{
	static const char text[] = "# pxname,svname,status,scur,weight\nnova-api,node1,UP,0,100\n";
	struct zdu_lb_backend b;
	char err[256], buf[sizeof(text)];
	size_t i, len = sizeof(text) - 1;

	(void)state;
	/* A NUL anywhere (not only where it would cut a field). */
	for (i = 0; i < len; i++) {
		memcpy(buf, text, len);
		buf[i] = '\0';
		assert_int_equal(parse_n(buf, len, BACKEND, &b, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "NUL"));
		assert_null(b.servers);
		assert_int_equal(b.n, 0);
	}
	/* The same text without the NUL parses. */
	assert_int_equal(parse_n(text, len, BACKEND, &b, err, sizeof(err)), 0);
	assert_int_equal(b.n, 1);
	zdu_lb_backend_free(&b);
}

/* Rows shorter than the header: without the required columns a row is not
 * a server; without the optional ones, those read as absent. */
static void test_short_rows(void **state)
{
	static const char csv[] =
		"# pxname,svname,status,scur,weight,uweight,agent_status,last_agt,\n"
		"nova-api,a,UP,1,10,20,L7OK,via agent : up,\n" /* complete */
		"nova-api,b,UP,2,30\n"                         /* up to weight */
		"nova-api,c,UP,3,40,50\n"                      /* up to uweight */
		"nova-api,d,UP,4\n"                            /* no weight: not a row */
		"nova-api,e,UP\n"
		"nova-api,f\n"
		"nova-api\n"
		"nova-api,g,UP,5,60,,,\n"; /* empty optional fields */
	struct zdu_lb_backend b;
	const struct zdu_lb_server *s;
	char err[256];

	(void)state;
	assert_int_equal(parse(csv, &b, err, sizeof(err)), 0);
	assert_int_equal(b.n, 4);
	assert_string_equal(b.servers[0].name, "a");
	assert_string_equal(b.servers[1].name, "b");
	assert_string_equal(b.servers[2].name, "c");
	assert_string_equal(b.servers[3].name, "g");

	s = zdu_lb_find(&b, "a");
	assert_int_equal(s->scur, 1);
	assert_int_equal(s->weight, 10);
	assert_int_equal(s->uweight, 20);
	assert_string_equal(s->agent_status, "L7OK");
	assert_string_equal(s->last_agt, "via agent : up");

	s = zdu_lb_find(&b, "b");
	assert_int_equal(s->scur, 2);
	assert_int_equal(s->weight, 30);
	assert_int_equal(s->uweight, -1);
	assert_string_equal(s->agent_status, "");
	assert_string_equal(s->last_agt, "");

	s = zdu_lb_find(&b, "c");
	assert_int_equal(s->weight, 40);
	assert_int_equal(s->uweight, 50);
	assert_string_equal(s->agent_status, "");

	s = zdu_lb_find(&b, "g");
	assert_int_equal(s->scur, 5);
	assert_int_equal(s->weight, 60);
	assert_int_equal(s->uweight, 0); /* present but empty */
	assert_string_equal(s->agent_status, "");
	assert_null(zdu_lb_find(&b, "d"));
	assert_null(zdu_lb_find(&b, "e"));
	assert_null(zdu_lb_find(&b, "f"));
	zdu_lb_backend_free(&b);
}

/* FRONTEND/BACKEND rows of the backend itself and rows of other proxies
 * are not servers; numbers that are not numbers read 0; long fields are
 * cut and control bytes made printable. */
static void test_rows_filtered(void **state)
{
	static const char csv[] =
		"# pxname,svname,status,scur,weight,uweight,agent_status,last_agt,\n"
		"nova-api,FRONTEND,OPEN,9,,,,,\n"
		"glance-api,g1,UP,1,1,1,,,\n"
		"nova-api,n1,UP,7,100,100,L7OK,ok,\n"
		"nova-api-internal,n9,UP,1,1,1,,,\n"
		"NOVA-API,n8,UP,1,1,1,,,\n"
		"nova-api,n2,MAINT,x12,-5,3z,L7STS,down\x01\x7f,\n"
		"nova-api,n3,UP,99999999999999999999,1,1,,"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,\n"
		"nova-api,BACKEND,UP,7,100,100,,,\n"
		"glance-api,BACKEND,UP,1,1,1,,,\n";
	struct zdu_lb_backend b;
	const struct zdu_lb_server *s;
	char err[256];

	(void)state;
	assert_int_equal(parse(csv, &b, err, sizeof(err)), 0);
	assert_int_equal(b.n, 3);
	assert_string_equal(b.servers[0].name, "n1");
	assert_string_equal(b.servers[1].name, "n2");
	assert_string_equal(b.servers[2].name, "n3");
	s = zdu_lb_find(&b, "n2");
	assert_int_equal(s->scur, 0);
	assert_int_equal(s->weight, -5);
	assert_int_equal(s->uweight, 0);
	assert_string_equal(s->last_agt, "down??");
	assert_false(zdu_lb_server_up(s));
	assert_true(zdu_lb_server_drained(s));
	s = zdu_lb_find(&b, "n3");
	assert_int_equal(strlen(s->last_agt), sizeof(s->last_agt) - 1);
	zdu_lb_backend_free(&b);

	assert_int_equal(parse_n(csv, sizeof(csv) - 1, "glance-api", &b, err, sizeof(err)), 0);
	assert_int_equal(b.n, 1);
	assert_string_equal(b.servers[0].name, "g1");
	zdu_lb_backend_free(&b);
}

/* Every prefix of the real capture: never a crash or a read past the end
 * (ASan), an error exactly while the required header columns are not all
 * there, and only (prefixes of) the two real servers. */
static void test_truncated_capture(void **state)
{
	struct zdu_lb_backend b;
	char err[256];
	size_t len, i, need;
	char *csv = read_data(CAPTURE, &len);
	const char *w = strstr(csv, ",weight,");

	(void)state;
	assert_non_null(w);
	need = (size_t)(w - csv) + strlen(",weight");
	for (i = 0; i <= len; i++) {
		size_t k;
		int rc = parse_n(csv, i, BACKEND, &b, err, sizeof(err));

		if (rc != (i >= need ? 0 : -1))
			fail_msg("prefix of %zu bytes: rc %d (%s)", i, rc, err);
		if (rc < 0) {
			assert_true(err[0] != '\0');
			assert_null(b.servers);
			continue;
		}
		assert_true(b.n <= 2);
		for (k = 0; k < b.n; k++)
			assert_true(strncmp(b.servers[k].name, k == 0 ? "node1" : "node2",
					    strlen(b.servers[k].name)) == 0);
		if (i == len)
			check_capture_servers(&b, 1, 1);
		zdu_lb_backend_free(&b);
	}
	free(csv);
}

/* ------------------------------------------------------------ states */

static struct zdu_lb_server server(const char *status, long weight)
{
	struct zdu_lb_server s;

	memset(&s, 0, sizeof(s));
	snprintf(s.name, sizeof(s.name), "n");
	snprintf(s.status, sizeof(s.status), "%s", status);
	s.weight = weight;
	s.uweight = weight;
	return s;
}

static void test_states(void **state)
{
	static const struct {
		const char *status;
		int up, drained;
	} cases[] = {
		{ "UP", 1, 0 },
		{ "UP 1/3", 1, 0 },          /* UP, going down: still serving */
		{ "UP (agent)", 1, 0 },
		{ "DOWN", 0, 0 },
		{ "DOWN 1/2", 0, 0 },        /* DOWN, coming up */
		{ "DOWN (agent)", 0, 0 },
		{ "NOLB", 0, 0 },
		{ "DRAIN", 0, 1 },
		{ "DRAIN (agent)", 0, 1 },
		{ "MAINT", 0, 1 },
		{ "MAINT (via x)", 0, 1 },
		{ "MAINT (resolution)", 0, 1 },
		{ "no check", 1, 0 }, /* agent-check without check: serving (weight > 0) */
		{ "", 0, 0 },
		{ "up", 0, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct zdu_lb_server s = server(cases[i].status, 100);

		if (zdu_lb_server_up(&s) != cases[i].up)
			fail_msg("\"%s\" weight 100: up %d, want %d", cases[i].status, zdu_lb_server_up(&s),
				 cases[i].up);
		if (zdu_lb_server_drained(&s) != cases[i].drained)
			fail_msg("\"%s\": drained %d, want %d", cases[i].status, zdu_lb_server_drained(&s),
				 cases[i].drained);
		/* weight 0 (set weight 0, or slow start at 0): never up */
		s = server(cases[i].status, 0);
		assert_false(zdu_lb_server_up(&s));
		if (zdu_lb_server_drained(&s) != cases[i].drained)
			fail_msg("\"%s\" weight 0: drained %d", cases[i].status, zdu_lb_server_drained(&s));
	}
	{
		struct zdu_lb_server s = server("UP", 1);

		assert_true(zdu_lb_server_up(&s));
		s = server("UP", -1);
		assert_false(zdu_lb_server_up(&s));
	}
}

/* ---- fixed bugs: regression tests --------------
 * haproxy_stat.c:115: a row is kept when it has the status, scur and weight
 * columns, but pxname and svname are read without checking that the row
 * reaches them. With a header where they come after those columns, a short
 * row reads fields[] left over from the PREVIOUS row: it becomes a second,
 * bogus copy of the previous server, with the short row's status. */
static void test_fixed_short_row_reads_previous_row(void **state)
{
	static const char csv[] = "# status,scur,weight,pxname,svname\n"
				  "UP,1,100,nova-api,node1\n"
				  "DOWN,2,0\n";
	struct zdu_lb_backend b;
	char err[256];

	(void)state;
	assert_int_equal(parse(csv, &b, err, sizeof(err)), 0);
	if (b.n != 1)
		fail_msg("%zu servers; #2 is \"%s\" status \"%s\", from a row without pxname/svname", b.n,
			 b.servers[1].name, b.servers[1].status);
	zdu_lb_backend_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capture_2_6),
		cmocka_unit_test(test_backend_found),
		cmocka_unit_test(test_capture_crlf),
		cmocka_unit_test(test_header_2_0),
		cmocka_unit_test(test_header_old),
		cmocka_unit_test(test_header_reordered),
		cmocka_unit_test(test_missing_column),
		cmocka_unit_test(test_no_header),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_short_rows),
		cmocka_unit_test(test_rows_filtered),
		cmocka_unit_test(test_truncated_capture),
		cmocka_unit_test(test_states),
		cmocka_unit_test(test_fixed_short_row_reads_previous_row),
		cmocka_unit_test(test_quoted_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
