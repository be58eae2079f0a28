#include <stdio.h>
#include <string.h>

#include "zdu/capacity.h"
#include "zdu/haproxy.h"

/* Appends "NAME STATUS weight W" to why, ", "-separated; stops (keeping
 * what fits, NUL-terminated) when why is full. */
static void note(char *why, size_t size, const struct zdu_lb_server *s)
{
	size_t len;

	if (!why || size == 0)
		return;
	len = strlen(why);
	if (len + 1 >= size)
		return;
	snprintf(why + len, size - len, "%s%s %s weight %ld", len ? ", " : "", s->name, s->status, s->weight);
}

int zdu_capacity_may_leave(const struct zdu_lb_backend *b, const char *leaving, int min_ready,
			   struct zdu_capacity *cap, char *why, size_t why_size)
{
	struct zdu_capacity c = { 0, 0, 0 };
	size_t i;

	if (why && why_size)
		why[0] = '\0';
	for (i = 0; i < b->n; i++) {
		const struct zdu_lb_server *s = &b->servers[i];

		if (strcmp(s->name, leaving) == 0) {
			c.leaving_serves = zdu_lb_server_up(s);
			continue;
		}
		c.others++;
		if (zdu_lb_server_up(s))
			c.serving++;
		else
			note(why, why_size, s);
	}
	if (cap)
		*cap = c;
	return c.serving >= min_ready || !c.leaving_serves;
}
