/*
 * probe-bench: HAProxy agent-check style load client.
 *
 *   probe-bench HOST PORT [-c CONCURRENCY=32] [-d SECONDS=5] [-n MAX_PROBES]
 *               [-p PID_TO_SAMPLE_RSS] [-s SOURCE_ADDRS] [--json]
 *
 * Keeps CONCURRENCY probes in flight.  One probe = socket + connect, read
 * until EOF, close (a normal close, so the server sees a clean FIN, like
 * HAProxy closing after the agent's reply), then the next probe starts at
 * once on that slot.  Latency = from just before socket() to EOF
 * (CLOCK_MONOTONIC).  The client never writes anything.
 *
 * Errors: connection refused, reset, timeout (2 s per probe), empty reply,
 * EADDRNOTAVAIL (no free local port), other.  Every non-empty reply is
 * compared with the first one; differences are counted as mismatches.
 *
 * -d 0 means no time limit; when -n is given without -d there is no time
 * limit either (the run stops after MAX_PROBES probes).  SIGINT/SIGTERM stop
 * starting new probes, drain the ones in flight and print the results.
 *
 * Ephemeral ports: the reply server closes first, so TIME_WAIT sockets pile
 * up on the server side, keyed by the 4-tuple.  To keep 4-tuples from being
 * reused while the server still holds them in TIME_WAIT (and to keep the
 * client far away from running out of local ports at ~100k probes/s), when
 * HOST is in 127.0.0.0/8 every probe binds its socket to one of
 * SOURCE_ADDRS (default 16) source addresses 127.0.0.1 .. 127.0.0.N, round
 * robin, with IP_BIND_ADDRESS_NO_PORT so that the kernel picks the port at
 * connect() time per 4-tuple.  That gives N x ~28k distinct 4-tuples
 * without any sysctl change.  -s 0 disables the binding.
 *
 * Exit status: 0 clean run, 1 run finished with errors/mismatches or no
 * successful probe, 2 usage or setup error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define REPLY_MAX 512                 /* bytes of a reply kept for comparison */
#define PROBE_TIMEOUT_NS 2000000000ull /* 2 s */
#define SCAN_INTERVAL_NS 20000000ull   /* timeout scan every 20 ms */
#define MAX_EVENTS 256

enum err_kind { E_REFUSED, E_RESET, E_TIMEOUT, E_EMPTY, E_ADDRNOTAVAIL, E_OTHER, E_COUNT };
static const char *const err_names[E_COUNT] = {
    "refused", "reset", "timeout", "empty", "addrnotavail", "other",
};

enum slot_state { S_IDLE, S_BUSY, S_RETRY };

struct slot {
    int fd;
    enum slot_state state;
    uint64_t t0;
    size_t len;                  /* total bytes received */
    char buf[REPLY_MAX];
};

static volatile sig_atomic_t g_stop;

static struct {
    struct sockaddr_storage dst;
    socklen_t dstlen;
    int nsrc;                    /* 0: no bind */
    unsigned next_src;
    int epfd;
    uint64_t maxn;               /* 0: unlimited */
    uint64_t started, ok, mismatches, errors[E_COUNT];
    bool have_ref;
    size_t ref_len;
    char ref[REPLY_MAX];
    uint32_t *lat;               /* ns, successful probes only */
    size_t nlat, caplat;
    int inflight;
    bool may_start;
    bool want_retry;
} g;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: probe-bench HOST PORT [-c CONCURRENCY=32] [-d SECONDS=5] [-n MAX_PROBES]\n"
            "                   [-p PID_TO_SAMPLE_RSS] [-s SOURCE_ADDRS=16] [--json]\n"
            "  -d 0: no time limit (default when -n is given without -d)\n"
            "  -s N: spread probes over source addresses 127.0.0.1..127.0.0.N\n"
            "        (only when HOST is in 127.0.0.0/8; 0 = let the kernel choose)\n");
}

static void record_latency(uint64_t ns)
{
    if (g.nlat == g.caplat) {
        size_t ncap = g.caplat ? g.caplat * 2 : 65536;
        uint32_t *p = realloc(g.lat, ncap * sizeof *p);
        if (!p) {
            fprintf(stderr, "probe-bench: out of memory\n");
            exit(2);
        }
        g.lat = p;
        g.caplat = ncap;
    }
    g.lat[g.nlat++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

static enum err_kind classify(int e)
{
    switch (e) {
    case ECONNREFUSED: return E_REFUSED;
    case ECONNRESET:
    case EPIPE:        return E_RESET;
    case ETIMEDOUT:    return E_TIMEOUT;
    case EADDRNOTAVAIL:
    case EADDRINUSE:   return E_ADDRNOTAVAIL;
    default:           return E_OTHER;
    }
}

static void start_probe(struct slot *s);

/* Probe finished (kind < 0: success). Closes the socket, starts the next. */
static void finish(struct slot *s, int kind, uint64_t t_end)
{
    close(s->fd);
    s->fd = -1;
    s->state = S_IDLE;
    g.inflight--;
    if (kind < 0) {
        g.ok++;
        record_latency(t_end - s->t0);
        size_t keep = s->len < REPLY_MAX ? s->len : REPLY_MAX;
        if (!g.have_ref) {
            g.have_ref = true;
            g.ref_len = s->len;
            memcpy(g.ref, s->buf, keep);
        } else if (s->len != g.ref_len || memcmp(s->buf, g.ref, keep) != 0) {
            g.mismatches++;
        }
    } else {
        g.errors[kind]++;
    }
    if (g.may_start && !(g.maxn && g.started >= g.maxn))
        start_probe(s);
}

/* An immediate failure (socket/bind/connect): count it, retry after the next poll. */
static void fail_now(struct slot *s, int e)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    g.errors[classify(e)]++;
    s->state = S_RETRY;
    g.want_retry = true;
}

static void start_probe(struct slot *s)
{
    s->t0 = now_ns();
    s->len = 0;
    s->fd = -1;
    g.started++;
    int fd = socket(g.dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail_now(s, errno);
        return;
    }
    s->fd = fd;
    if (g.nsrc > 0) {
        int one = 1;
        struct sockaddr_in src;
        memset(&src, 0, sizeof src);
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(0x7f000001u + (g.next_src++ % (unsigned)g.nsrc));
        (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
            fail_now(s, errno);
            return;
        }
    }
    if (connect(fd, (struct sockaddr *)&g.dst, g.dstlen) < 0 && errno != EINPROGRESS) {
        fail_now(s, errno);
        return;
    }
    /* EPOLLIN only: data/EOF arrive as EPOLLIN, a failed connect as EPOLLERR/HUP. */
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
    if (epoll_ctl(g.epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        fail_now(s, errno);
        return;
    }
    s->state = S_BUSY;
    g.inflight++;
}

static void handle_event(struct slot *s)
{
    char tmp[4096];
    for (;;) {
        ssize_t r = read(s->fd, tmp, sizeof tmp);
        if (r > 0) {
            if (s->len < REPLY_MAX) {
                size_t n = (size_t)r;
                if (n > REPLY_MAX - s->len)
                    n = REPLY_MAX - s->len;
                memcpy(s->buf + s->len, tmp, n);
            }
            s->len += (size_t)r;
            continue;
        }
        if (r == 0) {
            finish(s, s->len == 0 ? E_EMPTY : -1, now_ns());
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        finish(s, (int)classify(errno), 0);
        return;
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static double pct_us(double p)
{
    if (g.nlat == 0)
        return 0.0;
    size_t i = (size_t)(p / 100.0 * (double)(g.nlat - 1) + 0.5);
    if (i >= g.nlat)
        i = g.nlat - 1;
    return g.lat[i] / 1000.0;
}

static void fmt_lat(char *out, size_t n, double us)
{
    if (us < 10000.0)
        snprintf(out, n, "%.1f us", us);
    else
        snprintf(out, n, "%.2f ms", us / 1000.0);
}

/* /proc/PID/status VmRSS/VmHWM in kB; -1 when unavailable. */
static void read_mem(long pid, long *rss, long *hwm)
{
    char path[64], line[256];
    *rss = *hwm = -1;
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            *rss = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            *hwm = strtol(line + 6, NULL, 10);
    }
    fclose(f);
}

/* utime+stime of PID in ms; -1 when unavailable. */
static long read_cpu_ms(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long long ut = 0, st = 0;
    /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0)
        hz = 100;
    return (long)((ut + st) * 1000ull / (unsigned long long)hz);
}

static void json_string(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\r')
            fputs("\\r", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0.0) || v > 1e7)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    long conc = 32, maxn = 0, pid = 0, nsrc = -1;
    double dur = 5.0;
    bool dur_given = false, json = false;
    static const struct option lopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "c:d:n:p:s:h", lopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            if (parse_long(optarg, 1, 100000, &conc) < 0) goto bad;
            break;
        case 'd':
            if (parse_double(optarg, &dur) < 0) goto bad;
            dur_given = true;
            break;
        case 'n':
            if (parse_long(optarg, 1, 2000000000L, &maxn) < 0) goto bad;
            break;
        case 'p':
            if (parse_long(optarg, 1, 0x7fffffffL, &pid) < 0) goto bad;
            break;
        case 's':
            if (parse_long(optarg, 0, 254, &nsrc) < 0) goto bad;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            goto bad;
        }
    }
    if (argc - optind != 2)
        goto bad;
    if (maxn > 0 && !dur_given)
        dur = 0.0;
    g.maxn = (uint64_t)maxn;
    const char *host = argv[optind], *port = argv[optind + 1];

    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "probe-bench: %s:%s: %s\n", host, port, gai_strerror(rc));
        return 2;
    }
    memcpy(&g.dst, ai->ai_addr, ai->ai_addrlen);
    g.dstlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    bool loopback4 = g.dst.ss_family == AF_INET &&
                     (ntohl(((struct sockaddr_in *)&g.dst)->sin_addr.s_addr) >> 24) == 127;
    g.nsrc = loopback4 ? (nsrc < 0 ? 16 : (int)nsrc) : 0;

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)conc + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)conc + 64 ? rl.rlim_max : (rlim_t)conc + 64;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    g.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (g.epfd < 0) {
        perror("probe-bench: epoll_create1");
        return 2;
    }
    struct slot *slots = calloc((size_t)conc, sizeof *slots);
    if (!slots) {
        fprintf(stderr, "probe-bench: out of memory\n");
        return 2;
    }

    long rss0 = -1, hwm0 = -1, cpu0 = -1;
    if (pid) {
        read_mem(pid, &rss0, &hwm0);
        cpu0 = read_cpu_ms(pid);
        if (rss0 < 0)
            fprintf(stderr, "probe-bench: warning: cannot read /proc/%ld/status\n", pid);
    }

    const uint64_t t_start = now_ns();
    const uint64_t t_stop = dur > 0 ? t_start + (uint64_t)(dur * 1e9) : UINT64_MAX;
    uint64_t last_scan = t_start;
    g.may_start = true;
    for (long i = 0; i < conc; i++) {
        slots[i].fd = -1;
        if (maxn && g.started >= (uint64_t)maxn)
            break;
        start_probe(&slots[i]);
    }

    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        uint64_t now = now_ns();
        if (g.may_start && (g_stop || now >= t_stop || (maxn && g.started >= (uint64_t)maxn)))
            g.may_start = false;
        if (g.want_retry) {
            g.want_retry = false;
            for (long i = 0; i < conc; i++) {
                if (slots[i].state != S_RETRY)
                    continue;
                slots[i].state = S_IDLE;
                if (g.may_start && !(g.maxn && g.started >= g.maxn))
                    start_probe(&slots[i]);
            }
        }
        if (!g.may_start && g.inflight == 0)
            break;
        if (now - last_scan >= SCAN_INTERVAL_NS) {
            last_scan = now;
            for (long i = 0; i < conc; i++)
                if (slots[i].state == S_BUSY && now - slots[i].t0 >= PROBE_TIMEOUT_NS)
                    finish(&slots[i], E_TIMEOUT, 0);
        }
        int timeout_ms = (int)(SCAN_INTERVAL_NS / 1000000);
        if (g.want_retry)
            timeout_ms = 1; /* immediate failures: back off a little, no busy loop */
        if (g.may_start && t_stop != UINT64_MAX) {
            uint64_t left = t_stop > now ? (t_stop - now) / 1000000 + 1 : 0;
            if (left < (uint64_t)timeout_ms)
                timeout_ms = (int)left;
        }
        int n = epoll_wait(g.epfd, evs, MAX_EVENTS, timeout_ms);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("probe-bench: epoll_wait");
            return 2;
        }
        for (int i = 0; i < n; i++)
            handle_event(evs[i].data.ptr);
    }
    const uint64_t t_end = now_ns();
    double elapsed = (double)(t_end - t_start) / 1e9;

    long rss = -1, hwm = -1, cpu1 = -1;
    if (pid) {
        read_mem(pid, &rss, &hwm);
        cpu1 = read_cpu_ms(pid);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double self_cpu_ms = (double)ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 +
                         (double)ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;

    qsort(g.lat, g.nlat, sizeof *g.lat, cmp_u32);
    double mean = 0;
    for (size_t i = 0; i < g.nlat; i++)
        mean += g.lat[i];
    mean = g.nlat ? mean / (double)g.nlat / 1000.0 : 0.0;
    double p50 = pct_us(50), p90 = pct_us(90), p99 = pct_us(99), p999 = pct_us(99.9);
    double pmax = g.nlat ? g.lat[g.nlat - 1] / 1000.0 : 0.0;
    uint64_t nerr = 0;
    for (int k = 0; k < E_COUNT; k++)
        nerr += g.errors[k];
    double rate = elapsed > 0 ? (double)g.ok / elapsed : 0.0;
    size_t reflen = g.ref_len < REPLY_MAX ? g.ref_len : REPLY_MAX;
    char hostport[INET6_ADDRSTRLEN + 16];
    snprintf(hostport, sizeof hostport, "%s:%s", host, port);

    if (json) {
        printf("{\"target\":");
        json_string(stdout, hostport, strlen(hostport));
        printf(",\"concurrency\":%ld,\"source_addrs\":%d,\"duration_s\":%.3f,"
               "\"started\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"probes_per_s\":%.1f,"
               "\"latency_us\":{\"mean\":%.1f,\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,"
               "\"p999\":%.1f,\"max\":%.1f},\"errors\":%" PRIu64 ",\"errors_by_kind\":{",
               conc, g.nsrc, elapsed, g.started, g.ok, rate, mean, p50, p90, p99, p999, pmax, nerr);
        for (int k = 0; k < E_COUNT; k++)
            printf("%s\"%s\":%" PRIu64, k ? "," : "", err_names[k], g.errors[k]);
        printf("},\"mismatches\":%" PRIu64 ",\"reply\":", g.mismatches);
        if (g.have_ref)
            json_string(stdout, g.ref, reflen);
        else
            printf("null");
        printf(",\"client_cpu_ms\":%.0f", self_cpu_ms);
        if (pid) {
            printf(",\"pid\":%ld,\"rss_kb_before\":%ld,\"rss_kb\":%ld,\"hwm_kb\":%ld,"
                   "\"pid_cpu_ms\":%ld",
                   pid, rss0, rss, hwm, (cpu0 >= 0 && cpu1 >= 0) ? cpu1 - cpu0 : -1L);
        }
        printf("}\n");
    } else {
        char a[32], b[32], c[32], d[32], e[32];
        fmt_lat(a, sizeof a, p50);
        fmt_lat(b, sizeof b, p90);
        fmt_lat(c, sizeof c, p99);
        fmt_lat(d, sizeof d, p999);
        fmt_lat(e, sizeof e, pmax);
        printf("target       %s  (concurrency %ld, source addrs %d)\n", hostport, conc, g.nsrc);
        printf("duration     %.3f s\n", elapsed);
        printf("probes       %" PRIu64 " ok / %" PRIu64 " started\n", g.ok, g.started);
        printf("rate         %.0f probes/s\n", rate);
        printf("latency      p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n", a, b, c, d, e);
        printf("errors       %" PRIu64 " (", nerr);
        for (int k = 0; k < E_COUNT; k++)
            printf("%s%s %" PRIu64, k ? ", " : "", err_names[k], g.errors[k]);
        printf(")\n");
        printf("mismatches   %" PRIu64 "\n", g.mismatches);
        printf("reply        ");
        if (g.have_ref)
            json_string(stdout, g.ref, reflen);
        else
            printf("(none)");
        printf("\nclient cpu   %.0f ms\n", self_cpu_ms);
        if (pid)
            printf("pid %-8ld VmRSS %ld kB (before %ld kB), VmHWM %ld kB, cpu %ld ms during run\n",
                   pid, rss, rss0, hwm, (cpu0 >= 0 && cpu1 >= 0) ? cpu1 - cpu0 : -1L);
    }
    free(slots);
    free(g.lat);
    close(g.epfd);
    return (nerr || g.mismatches || g.ok == 0) ? 1 : 0;

bad:
    usage(stderr);
    return 2;
}
