/* The healthcheck kind: oslo.middleware's /healthcheck.
 *   200 (body "OK")                      up;
 *   503 with "DISABLED BY FILE"          disabled: its disable_by_file file is there, the
 *                                        operator's maintenance of this service, not a
 *                                        failure: the service drains, reason from the body;
 *   any other 503                        failed, with the body's reasons (bounded, sanitized);
 *   anything else                        failed ("HTTP 500").
 * oslo answers text/plain unless asked otherwise (the probe sends curl's
 * Accept of any type, the first of oslo's offers wins): one reason a line. With
 * Accept: application/json {"reasons": [...]} (strings, or objects with
 * "reason" when detailed = true); with text/html, a table whose <TD> cells
 * hold them. All three are read. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "zdu/check.h"
#include "zdu/common.h"

#define DISABLED_TEXT "DISABLED BY FILE"

/* Appends one reason (trimmed, sanitized) to the list, ", " between. */
static int add_reason(char *dst, size_t size, size_t *n, const char *s, size_t len)
{
	char one[ZDU_REASON_MAX];
	size_t l;

	while (len && isspace((unsigned char)*s)) {
		s++;
		len--;
	}
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	if (!len || *n + 3 >= size)
		return 0;
	l = zdu_text_sanitize(one, sizeof(one), s, len);
	if (!l)
		return 0;
	*n += (size_t)snprintf(dst + *n, size - *n, "%s%s", *n ? ", " : "", one);
	if (*n >= size)
		*n = size - 1;
	return 1;
}

static int json_reasons(const char *body, size_t len, char *dst, size_t size, size_t *n)
{
	json_t *root = json_loadb(body, len, 0, NULL), *list, *e;
	size_t i;
	int found = 0;

	if (!root)
		return -1;
	list = json_object_get(root, "reasons");
	if (!json_is_array(list)) {
		json_decref(root);
		return -1;
	}
	json_array_foreach(list, i, e) {
		json_t *r = json_is_object(e) ? json_object_get(e, "reason") : e;

		if (json_is_string(r))
			found += add_reason(dst, size, n, json_string_value(r), json_string_length(r));
	}
	json_decref(root);
	return found;
}

/* oslo's HTML: each reason in a <TD> cell (detailed: kind, reason, details). */
static int html_reasons(const char *body, size_t len, char *dst, size_t size, size_t *n)
{
	const char *p = body, *end = body + len;
	int found = 0;

	while (p < end) {
		const char *td = memmem(p, (size_t)(end - p), "<TD>", 4), *close;

		if (!td)
			break;
		td += 4;
		close = memmem(td, (size_t)(end - td), "</TD>", 5);
		if (!close)
			close = end;
		/* a stack trace cell (<PRE>) is no reason */
		if (!(close - td >= 5 && memmem(td, (size_t)(close - td), "<PRE>", 5)))
			found += add_reason(dst, size, n, td, (size_t)(close - td));
		p = close;
	}
	return found;
}

static int text_reasons(const char *body, size_t len, char *dst, size_t size, size_t *n)
{
	const char *p = body, *end = body + len;
	int found = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;

		found += add_reason(dst, size, n, p, (size_t)(e - p));
		p = nl ? nl + 1 : end;
	}
	return found;
}

int zdu_check_healthcheck_reasons(const char *body, size_t len, char *reason, size_t reason_size)
{
	size_t n = 0, i = 0;
	int found;

	if (!reason_size)
		return 0;
	reason[0] = '\0';
	while (i < len && isspace((unsigned char)body[i]))
		i++;
	if (i < len && body[i] == '{' && (found = json_reasons(body, len, reason, reason_size, &n)) >= 0)
		return found;
	n = 0;
	reason[0] = '\0';
	if (i < len && body[i] == '<')
		return html_reasons(body + i, len - i, reason, reason_size, &n);
	return text_reasons(body + i, len - i, reason, reason_size, &n);
}

int zdu_check_healthcheck_disabled(long status, const char *body, size_t len)
{
	return status == 503 && len && memmem(body, len, DISABLED_TEXT, sizeof(DISABLED_TEXT) - 1) != NULL;
}

void zdu_check_healthcheck(const struct zdu_check_ctx *c, const struct zdu_http_result *res,
			   struct zdu_check_result *out)
{
	char why[ZDU_REASON_MAX - 40];
	int good = 0;

	memset(out, 0, sizeof(*out));
	if (zdu_check_transport(c->name, res, c->timeout_ms, out->reason, sizeof(out->reason)) < 0)
		goto done;
	if (res->status == 200) {
		good = 1;
	} else if (zdu_check_healthcheck_disabled(res->status, res->body, res->len)) {
		/* The service's own maintenance: it answers, drained. */
		good = 1;
		out->disabled = 1;
		zdu_check_healthcheck_reasons(res->body, res->len, why, sizeof(why));
		snprintf(out->disabled_reason, sizeof(out->disabled_reason), "%s: healthcheck: %s", c->name, why);
	} else if (res->status == 503) {
		if (zdu_check_healthcheck_reasons(res->body, res->len, why, sizeof(why)) > 0)
			snprintf(out->reason, sizeof(out->reason), "%s: healthcheck 503: %s", c->name, why);
		else
			snprintf(out->reason, sizeof(out->reason), "%s: healthcheck 503", c->name);
	} else {
		snprintf(out->reason, sizeof(out->reason), "%s: HTTP %ld", c->name, res->status);
	}
done:
	zdu_check_finish(c, res, good, out);
}
