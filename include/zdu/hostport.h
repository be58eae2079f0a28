/* Addresses as the configuration and the plan write them. */
#ifndef ZDU_HOSTPORT_H
#define ZDU_HOSTPORT_H

#include <netinet/in.h>
#include <sys/socket.h>

/* "192.0.2.1:9777", "[2001:db8::1]:9777" or "*:9777" into ss; -1 if not. */
int zdu_parse_hostport(const char *s, struct sockaddr_storage *ss);
/* Parses "192.0.2.1" or "2001:db8::1" into a (v4-mapped) in6_addr. */
int zdu_sockdiag_addr(const char *s, struct in6_addr *out);

#endif
