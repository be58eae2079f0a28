/* Fault injection for the agent's connection count, loaded with LD_PRELOAD
 * into the real daemon (never linked into it). ZDU_FAULT_NETLINK says what
 * goes wrong on AF_NETLINK sockets, and only there:
 *   enobufs  every recv() fails with ENOBUFS, as when the kernel dropped
 *            part of a sock_diag dump;
 *   silent   every sendto() "succeeds" without sending, so no answer ever
 *            comes (a count that never ends).
 * Anything else, or unset: no fault. */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

ssize_t recv(int fd, void *buf, size_t len, int flags);
ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to, socklen_t tolen);

static int is_netlink(int fd)
{
	int domain = 0;
	socklen_t n = sizeof(domain);

	return getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &n) == 0 && domain == AF_NETLINK;
}

static int fault(const char *what)
{
	const char *f = getenv("ZDU_FAULT_NETLINK");

	return f && strcmp(f, what) == 0;
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	static ssize_t (*next)(int, void *, size_t, int);

	if (fault("enobufs") && is_netlink(fd)) {
		errno = ENOBUFS;
		return -1;
	}
	if (!next)
		*(void **)&next = dlsym(RTLD_NEXT, "recv");
	return next(fd, buf, len, flags);
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to, socklen_t tolen)
{
	static ssize_t (*next)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);

	if (fault("silent") && is_netlink(fd))
		return (ssize_t)len;
	if (!next)
		*(void **)&next = dlsym(RTLD_NEXT, "sendto");
	return next(fd, buf, len, flags, to, tolen);
}
