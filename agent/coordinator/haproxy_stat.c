#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdu/common.h"
#include "zdu/haproxy.h"

enum col { C_PX, C_SV, C_STATUS, C_SCUR, C_WEIGHT, C_UWEIGHT, C_AGENT, C_LASTAGT, C_CHKHEALTH, C_CHKRISE, C_MAX };
static const char *const col_names[C_MAX] = { "pxname", "svname", "status", "scur", "weight", "uweight",
					      "agent_status", "last_agt", "check_health", "check_rise" };
static const int col_required[C_MAX] = { 1, 1, 1, 1, 1, 0, 0, 0, 0, 0 };

/* Splits one CSV line in place. HAProxy quotes a field holding a comma or
 * a quote, RFC 4180 style (a doubled quote inside stands for one), as it
 * does with an agent's free text in last_agt; unquoting shortens the field
 * in place. */
static size_t split(char *line, char **fields, size_t max)
{
	size_t n = 0;
	char *p = line;

	while (n < max) {
		char *out = p, *in = p;

		fields[n++] = p;
		if (*in == '"') {
			in++;
			while (*in) {
				if (*in == '"') {
					if (in[1] != '"') {
						in++;
						break;
					}
					in++;
				}
				*out++ = *in++;
			}
		}
		while (*in && *in != ',')
			*out++ = *in++;
		if (*in == '\0') {
			*out = '\0';
			break;
		}
		*out = '\0';
		p = in + 1;
	}
	return n;
}

static long to_long(const char *s)
{
	char *end;
	long v;

	if (!*s)
		return 0;
	v = strtol(s, &end, 10);
	return *end ? 0 : v;
}

/* An optional number column of a row: -1 when absent or empty. */
static long opt_long(char **fields, size_t nf, int at)
{
	return at >= 0 && (int)nf > at && fields[at][0] ? to_long(fields[at]) : -1;
}

#define MAX_FIELDS 128

/* Adds a backend's name to b->backends, or ", ..." once it is full. */
static void note_backend(struct zdu_lb_backend *b, const char *name)
{
	char clean[ZDU_LB_NAME_MAX];
	size_t len = strlen(b->backends), room = sizeof(b->backends) - len;

	if (len >= 5 && strcmp(b->backends + len - 5, ", ...") == 0)
		return;
	zdu_text_sanitize(clean, sizeof(clean), name, strlen(name));
	/* Keep room for ", ..." after whatever is written now. */
	if (strlen(clean) + 2 + 5 >= room) {
		snprintf(b->backends + len, room, "%s...", len ? ", " : "");
		return;
	}
	snprintf(b->backends + len, room, "%s%s", len ? ", " : "", clean);
}

int zdu_stat_parse(const char *csv, size_t len, const char *backend, struct zdu_lb_backend *out,
		   char *err, size_t err_size)
{
	char *text, *line, *save = NULL, *fields[MAX_FIELDS];
	int idx[C_MAX];
	size_t nf, i;
	int header = 0, rc = -1;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < C_MAX; i++)
		idx[i] = -1;
	if (memchr(csv, '\0', len)) {
		snprintf(err, err_size, "show stat: NUL byte in the answer");
		return -1;
	}
	text = malloc(len + 1);
	if (!text) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	memcpy(text, csv, len);
	text[len] = '\0';

	for (line = strtok_r(text, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		if (!header) {
			if (strncmp(line, "# ", 2) != 0) {
				char shown[64];

				zdu_text_sanitize(shown, sizeof(shown), line, strlen(line));
				snprintf(err, err_size, "show stat: expected a header line \"# pxname,...\", got \"%s\"",
					 shown);
				goto out;
			}
			nf = split(line + 2, fields, MAX_FIELDS);
			for (i = 0; i < nf; i++) {
				size_t c;

				for (c = 0; c < C_MAX; c++)
					if (idx[c] < 0 && strcmp(fields[i], col_names[c]) == 0)
						idx[c] = (int)i;
			}
			for (i = 0; i < C_MAX; i++)
				if (col_required[i] && idx[i] < 0) {
					snprintf(err, err_size, "show stat: no column \"%s\" in the header",
						 col_names[i]);
					goto out;
				}
			header = 1;
			continue;
		}
		nf = split(line, fields, MAX_FIELDS);
		{
			size_t c;
			int short_row = 0;

			/* Every required column must be in this row, wherever the
			 * header put it: a short line is not a server row. */
			for (c = 0; c < C_MAX; c++)
				if (col_required[c] && (int)nf <= idx[c])
					short_row = 1;
			if (short_row)
				continue;
		}
		if (strcmp(fields[idx[C_SV]], "BACKEND") == 0)
			note_backend(out, fields[idx[C_PX]]);
		if (strcmp(fields[idx[C_PX]], backend) == 0 && strcmp(fields[idx[C_SV]], "FRONTEND") != 0)
			out->found = 1;
		if (strcmp(fields[idx[C_PX]], backend) != 0 || strcmp(fields[idx[C_SV]], "BACKEND") == 0 ||
		    strcmp(fields[idx[C_SV]], "FRONTEND") == 0)
			continue;
		{
			struct zdu_lb_server *s, *v = realloc(out->servers, (out->n + 1) * sizeof(*v));

			if (!v) {
				snprintf(err, err_size, "out of memory");
				goto out;
			}
			out->servers = v;
			s = &v[out->n++];
			memset(s, 0, sizeof(*s));
			zdu_text_sanitize(s->name, sizeof(s->name), fields[idx[C_SV]], strlen(fields[idx[C_SV]]));
			zdu_text_sanitize(s->status, sizeof(s->status), fields[idx[C_STATUS]],
					  strlen(fields[idx[C_STATUS]]));
			s->scur = to_long(fields[idx[C_SCUR]]);
			s->weight = to_long(fields[idx[C_WEIGHT]]);
			s->uweight = idx[C_UWEIGHT] >= 0 && (int)nf > idx[C_UWEIGHT]
					     ? to_long(fields[idx[C_UWEIGHT]]) : -1;
			s->check_health = opt_long(fields, nf, idx[C_CHKHEALTH]);
			s->check_rise = opt_long(fields, nf, idx[C_CHKRISE]);
			if (idx[C_AGENT] >= 0 && (int)nf > idx[C_AGENT])
				zdu_text_sanitize(s->agent_status, sizeof(s->agent_status), fields[idx[C_AGENT]],
						  strlen(fields[idx[C_AGENT]]));
			if (idx[C_LASTAGT] >= 0 && (int)nf > idx[C_LASTAGT])
				zdu_text_sanitize(s->last_agt, sizeof(s->last_agt), fields[idx[C_LASTAGT]],
						  strlen(fields[idx[C_LASTAGT]]));
		}
	}
	if (!header) {
		snprintf(err, err_size, "show stat: empty answer");
		goto out;
	}
	rc = 0;
out:
	free(text);
	if (rc < 0)
		zdu_lb_backend_free(out);
	return rc;
}

void zdu_lb_backend_free(struct zdu_lb_backend *b)
{
	free(b->servers);
	b->servers = NULL;
	b->n = 0;
}

const struct zdu_lb_server *zdu_lb_find(const struct zdu_lb_backend *b, const char *server)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		if (strcmp(b->servers[i].name, server) == 0)
			return &b->servers[i];
	return NULL;
}

int zdu_lb_server_up(const struct zdu_lb_server *s)
{
	/* "no check": a server without HAProxy's own check (agent-check alone
	 * is valid) that serves; it shows DRAIN or MAINT like any other. */
	return (strncmp(s->status, "UP", 2) == 0 || strcmp(s->status, "no check") == 0) && s->weight > 0;
}

int zdu_lb_server_drained(const struct zdu_lb_server *s)
{
	return strstr(s->status, "DRAIN") != NULL || strncmp(s->status, "MAINT", 5) == 0;
}
