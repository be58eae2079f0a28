/* HAProxy's `show stat` CSV as the coordinator reads it from the runtime
 * API: zdu_stat_parse() with the backend the plans name, then the lookups
 * the coordinator makes on the result. */
#include "fuzz_common.h"
#include "zdu/haproxy.h"

#define BACKEND "nova-api"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zdu_lb_backend b;
	char err[256];
	size_t i;
	int rc;

	err[0] = '\0';
	rc = zdu_stat_parse((const char *)data, size, BACKEND, &b, err, sizeof(err));
	if (rc != 0) {
		FUZZ_CHECK(rc == -1, "returned %d", rc);
		FUZZ_CHECK(err[0] && fuzz_printable_line(err, sizeof(err)), "error \"%s\"", err);
		FUZZ_CHECK(b.servers == NULL && b.n == 0, "servers left after an error");
		return 0;
	}
	FUZZ_CHECK(b.n == 0 || b.servers, "%zu servers, no array", b.n);
	for (i = 0; i < b.n; i++) {
		const struct zdu_lb_server *s = &b.servers[i];

		/* Shown in the coordinator's messages and JSON. */
		FUZZ_CHECK(fuzz_printable_line(s->name, sizeof(s->name)), "name");
		FUZZ_CHECK(fuzz_printable_line(s->status, sizeof(s->status)), "status");
		FUZZ_CHECK(fuzz_printable_line(s->agent_status, sizeof(s->agent_status)), "agent_status");
		FUZZ_CHECK(fuzz_printable_line(s->last_agt, sizeof(s->last_agt)), "last_agt");
		FUZZ_CHECK(zdu_lb_find(&b, s->name) != NULL, "server \"%s\" not found", s->name);
		(void)zdu_lb_server_up(s);
		(void)zdu_lb_server_drained(s);
	}
	(void)zdu_lb_find(&b, "n1");
	zdu_lb_backend_free(&b);
	return 0;
}
