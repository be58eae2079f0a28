/* Types of the socket counter (sockdiag.h): what to count and the count. */
#ifndef ZDU_SOCKDIAG_T_H
#define ZDU_SOCKDIAG_T_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#define ZDU_SOCKDIAG_MAX_PORTS 16
#define ZDU_SOCKDIAG_MAX_FROM 32

struct zdu_sockdiag_filter {
	uint16_t ports[ZDU_SOCKDIAG_MAX_PORTS]; /* local ports, host order */
	size_t nports;
	/* Remote addresses to count (the load balancers); none: count all.
	 * IPv4 addresses are kept as v4-mapped IPv6. */
	struct in6_addr from[ZDU_SOCKDIAG_MAX_FROM];
	size_t nfrom;
	/* Local addresses to count on (the API's own addresses, where several
	 * APIs share a host and a port); none: any. */
	struct in6_addr local[ZDU_SOCKDIAG_MAX_FROM];
	size_t nlocal;
	uint32_t idle_ms; /* > 0: a connection quiet this long, with empty queues, is idle */
};

struct zdu_sockdiag_count {
	unsigned established; /* matching connections, idle ones excluded */
	unsigned idle;        /* matching connections quiet for idle_ms */
	unsigned seen;        /* every socket in the dump */
};

enum zdu_sockdiag_rc {
	ZDU_SD_MORE = 0, /* feed the next datagram */
	ZDU_SD_DONE = 1, /* NLMSG_DONE seen */
	ZDU_SD_ERROR = -1,
};

#endif
