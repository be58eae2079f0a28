#include <stdio.h>
#include <string.h>

#include "zdu/agent_name.h"
#include "zdu/config.h"

void zdu_name_reader_init(struct zdu_name_reader *r)
{
	memset(r, 0, sizeof(*r));
}

static enum zdu_name_status invalid(struct zdu_name_reader *r, const char *why, size_t at)
{
	snprintf(r->why, sizeof(r->why), "%s at byte %zu", why, at);
	r->status = ZDU_NAME_INVALID;
	return r->status;
}

enum zdu_name_status zdu_name_feed(struct zdu_name_reader *r, const char *p, size_t n, size_t *used)
{
	size_t i;

	*used = 0;
	if (r->status != ZDU_NAME_MORE)
		return r->status;
	for (i = 0; i < n; i++) {
		char c = p[i];

		if (c == '\n') {
			*used = i + 1;
			r->status = ZDU_NAME_DONE;
			return r->status;
		}
		if (r->cr) {
			*used = i;
			return invalid(r, "'\\r' inside the name", r->len);
		}
		if (c == '\r') {
			r->cr = 1;
			continue;
		}
		if (!zdu_service_name_valid(&c, 1)) {
			*used = i;
			return invalid(r, "a byte no service name has", r->len);
		}
		if (r->len + 1 >= sizeof(r->buf)) {
			*used = i;
			return invalid(r, "a name over 63 bytes", r->len);
		}
		r->buf[r->len++] = c;
		r->buf[r->len] = '\0';
	}
	*used = n;
	return r->status;
}

enum zdu_name_status zdu_name_eof(struct zdu_name_reader *r)
{
	if (r->status == ZDU_NAME_MORE)
		r->status = ZDU_NAME_DONE;
	return r->status;
}
