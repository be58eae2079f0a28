/*
 * bare-responder: the reference an agent-check daemon is compared with.
 *
 *   bare-responder HOST PORT [LINE]     (LINE defaults to "up ready 100%")
 *
 * Single-threaded epoll loop: accept every pending connection (non-blocking),
 * write the fixed line (a newline is appended when missing), close.  Nothing
 * is read from the peer.  PORT 0 picks a free port.  Once listening it prints
 * one line "pid=PID listen=HOST:PORT" on stdout; runs until SIGTERM/SIGINT.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: bare-responder HOST PORT [LINE]\n");
        return 2;
    }
    const char *arg = argc == 4 ? argv[3] : "up ready 100%";
    size_t len = strlen(arg);
    char *line = malloc(len + 2);
    if (!line)
        return 1;
    memcpy(line, arg, len);
    if (len == 0 || line[len - 1] != '\n')
        line[len++] = '\n';

    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai;
    int rc = getaddrinfo(argv[1], argv[2], &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "bare-responder: %s:%s: %s\n", argv[1], argv[2], gai_strerror(rc));
        return 1;
    }
    int lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(lfd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(lfd, SOMAXCONN) < 0) {
        fprintf(stderr, "bare-responder: %s:%s: %s\n", argv[1], argv[2], strerror(errno));
        return 1;
    }
    freeaddrinfo(ai);

    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char hbuf[NI_MAXHOST], pbuf[NI_MAXSERV];
    if (getsockname(lfd, (struct sockaddr *)&ss, &sl) < 0 ||
        getnameinfo((struct sockaddr *)&ss, sl, hbuf, sizeof hbuf, pbuf, sizeof pbuf,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        fprintf(stderr, "bare-responder: getsockname failed\n");
        return 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: epoll_wait returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
        perror("bare-responder: epoll");
        return 1;
    }
    printf("pid=%ld listen=%s:%s\n", (long)getpid(), hbuf, pbuf);
    fflush(stdout);

    unsigned long served = 0;
    while (!g_stop) {
        int n = epoll_wait(ep, &ev, 1, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("bare-responder: epoll_wait");
            return 1;
        }
        for (;;) {
            int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED)
                    continue;
                break; /* EAGAIN, or EMFILE & co: back to epoll */
            }
            ssize_t w = write(fd, line, len);
            (void)w;
            close(fd);
            served++;
        }
    }
    fprintf(stderr, "bare-responder: served %lu connections\n", served);
    close(ep);
    close(lfd);
    free(line);
    return 0;
}
