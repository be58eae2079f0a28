/* OpenStack microversions ("2.93"), compared as numbers: shared by the
 * agent's probe and the coordinator's plan and checks. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include "zdu/microversion.h"

static int parse_mv(const char *s, long *maj, long *min)
{
	char *end;

	errno = 0;
	*maj = strtol(s, &end, 10);
	if (errno || end == s || *end != '.' || *maj < 0)
		return -1;
	s = end + 1;
	if (!isdigit((unsigned char)s[0]))
		return -1;
	*min = strtol(s, &end, 10);
	if (errno || end == s || *end || *min < 0)
		return -1;
	return 0;
}

int zdu_microversion_cmp(const char *a, const char *b, int *ok)
{
	long am, an, bm, bn;

	*ok = parse_mv(a, &am, &an) == 0 && parse_mv(b, &bm, &bn) == 0 && a[0] >= '0' &&
	      a[0] <= '9' && b[0] >= '0' && b[0] <= '9';
	if (!*ok)
		return 0;
	if (am != bm)
		return am < bm ? -1 : 1;
	if (an != bn)
		return an < bn ? -1 : 1;
	return 0;
}
