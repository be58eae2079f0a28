/* A netlink sock_diag (inet_diag) datagram as recv() returns it:
 * zdu_sockdiag_parse() with a fixed filter like the drain section of a
 * node's configuration (nova-api's port, two load balancers on loopback,
 * idle detection on). Each input is parsed taking every sequence number
 * (seq 0) and as the first dump of a query (seq 1), into one accumulator
 * as the daemon does across the datagrams of a dump. */
#include <arpa/inet.h>
#include <limits.h>
#include <linux/netlink.h>

#include "fuzz_common.h"
#include "zdu/sockdiag.h"

static struct zdu_sockdiag_filter filter;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	filter.ports[0] = 8774;
	filter.ports[1] = 8775;
	filter.nports = 2;
	if (zdu_sockdiag_addr("127.0.0.1", &filter.from[0]) < 0 ||
	    zdu_sockdiag_addr("::1", &filter.from[1]) < 0 ||
	    zdu_sockdiag_addr("127.0.0.2", &filter.from[2]) < 0)
		abort();
	filter.nfrom = 3;
	filter.idle_ms = 1000;
	return 0;
}

static void parse(const uint8_t *data, size_t size, uint32_t seq, struct zdu_sockdiag_count *acc)
{
	struct zdu_sockdiag_count before = *acc;
	enum zdu_sockdiag_rc rc;
	char err[256];

	err[0] = '\0';
	rc = zdu_sockdiag_parse(data, size, seq, &filter, acc, err, sizeof(err));
	FUZZ_CHECK(rc == ZDU_SD_MORE || rc == ZDU_SD_DONE || rc == ZDU_SD_ERROR, "returned %d", (int)rc);
	if (rc == ZDU_SD_ERROR)
		FUZZ_CHECK(err[0] && fuzz_printable_line(err, sizeof(err)), "error \"%s\"", err);
	FUZZ_CHECK(acc->seen >= before.seen && acc->established >= before.established && acc->idle >= before.idle,
		   "counts went down");
	FUZZ_CHECK(acc->established - before.established + acc->idle - before.idle <= acc->seen - before.seen,
		   "counted more sockets than seen");
	/* Every message is at least a header and an inet_diag_msg. */
	FUZZ_CHECK((acc->seen - before.seen) * (16 + 72) <= size, "%u sockets in %zu bytes",
		   acc->seen - before.seen, size);
}

/* Known failure (crashes/README.md, sockdiag): an NLMSG_ERROR carrying
 * INT_MIN. Walks the messages as the parser does. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zdu_sockdiag_count acc;

	memset(&acc, 0, sizeof(acc));
	parse(data, size, 0, &acc);
	parse(data, size, 1, &acc);
	return 0;
}
