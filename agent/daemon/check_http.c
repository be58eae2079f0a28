/* The http kind: any HTTP answer whose status is in expect_status (200
 * when the list is empty) is up; the body is not read (relayd's
 * check_http.c with its "code" check). */
#include <stdio.h>
#include <string.h>

#include "zdu/check.h"

static int expected(const struct zdu_check_ctx *c, long status)
{
	size_t i;

	if (!c->nexpect)
		return status == 200;
	for (i = 0; i < c->nexpect; i++)
		if (c->expect_status[i] == status)
			return 1;
	return 0;
}

/* "200, 204" (bounded: a long list ends with "...") */
static void expect_text(const struct zdu_check_ctx *c, char *buf, size_t size)
{
	size_t i, n = 0;

	buf[0] = '\0';
	if (!c->nexpect) {
		snprintf(buf, size, "200");
		return;
	}
	for (i = 0; i < c->nexpect && n + 13 < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s%d", i ? ", " : "", c->expect_status[i]);
	if (i < c->nexpect)
		snprintf(buf + n, size - n, ", ...");
}

void zdu_check_http(const struct zdu_check_ctx *c, const struct zdu_http_result *res,
		    struct zdu_check_result *out)
{
	char want[48];
	int good = 0;

	memset(out, 0, sizeof(*out));
	if (zdu_check_transport(c->name, res, c->timeout_ms, out->reason, sizeof(out->reason)) == 0) {
		good = expected(c, res->status);
		if (!good) {
			expect_text(c, want, sizeof(want));
			snprintf(out->reason, sizeof(out->reason), "%s: HTTP %ld, not %s%s", c->name, res->status,
				 c->nexpect > 1 ? "one of " : "", want);
		}
	}
	zdu_check_finish(c, res, good, out);
}
