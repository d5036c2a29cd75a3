/* Round-trip benchmark: clp_request("ping") vs raw C write/read NDJSON ping-pong, same run, same
 * C echo server (one forked process per connection, Unix stream socket).
 *
 * Usage: bench_rtt [iterations-per-round (2000)] [rounds (41)]
 * Prints the median µs per round trip of raw write/read, raw + json_loadb of the response,
 * clp_request and clp_call, unpinned and with client and server pinned to one core, and each
 * one's ratio to raw measured within the same round (target: clp_request <= 1.1x raw). Not a
 * test: the machines are too noisy to assert times. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, memfd_create, accept4, MSG_CMSG_CLOEXEC */
#endif
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cl_ports.h"

#define MAX_ROUNDS 1001

static char address[108];

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Echo server: for every line, answer a ping response carrying the request's id (copied as text). */
static void serve(int fd) {
    static char in[1 << 16], out[1 << 16];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, in + len, sizeof in - len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) _exit(0);
        len += (size_t)n;
        size_t olen = 0;
        char *start = in, *nl;
        while ((nl = memchr(start, '\n', (size_t)(in + len - start)))) {
            const char *id = "null";
            int idlen = 4;
            char *p = memmem(start, (size_t)(nl - start), "\"id\":", 5);
            if (p) {
                id = p + 5;
                const char *e = id;
                while (e < nl && *e != ',' && *e != '}') e++;
                idlen = (int)(e - id);
            }
            olen += (size_t)snprintf(out + olen, sizeof out - olen,
                                     "{\"ok\":true,\"id\":%.*s,\"result\":{\"name\":\"bench\","
                                     "\"version\":\"0.1.0\",\"protocol\":0}}\n",
                                     idlen, id);
            start = nl + 1;
        }
        memmove(in, start, (size_t)(in + len - start));
        len = (size_t)(in + len - start);
        for (size_t off = 0; off < olen;) {
            ssize_t w = write(fd, out + off, olen - off);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) _exit(0);
            off += (size_t)w;
        }
    }
}

static pid_t start_server(void) {
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    size_t n = strlen(address);
    memcpy(a.sun_path + 1, address + 1, n - 1);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || bind(s, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0 ||
        listen(s, 16) < 0) {
        perror("server socket");
        exit(1);
    }
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGCHLD, SIG_IGN);
        for (;;) {
            int c = accept(s, NULL, NULL);
            if (c < 0) continue;
            if (fork() == 0) {
                close(s);
                serve(c);
            }
            close(c);
        }
    }
    close(s);
    return pid;
}

static int raw_connect(void) {
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    size_t n = strlen(address);
    memcpy(a.sun_path + 1, address + 1, n - 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(fd, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0) {
        perror("connect");
        exit(1);
    }
    return fd;
}

/* Raw baseline: format the request, write it, read until the response's newline; with `parse`,
 * also json_loadb() the response (the least any client that looks at the response must do). */
static double run_raw(int fd, int iters, int parse) {
    static char buf[4096];
    char req[64];
    double t0 = now_us();
    for (int i = 0; i < iters; i++) {
        int n = snprintf(req, sizeof req, "{\"id\":%d,\"cmd\":\"ping\"}\n", i + 1);
        if (write(fd, req, (size_t)n) != n) exit(1);
        size_t len = 0;
        for (;;) {
            ssize_t r = read(fd, buf + len, sizeof buf - len);
            if (r <= 0) exit(1);
            len += (size_t)r;
            if (buf[len - 1] == '\n') break;
        }
        if (parse) {
            json_t *v = json_loadb(buf, len - 1, 0, NULL);
            if (!v) exit(1);
            json_decref(v);
        }
    }
    return (now_us() - t0) / iters;
}

static double run_clp_request(clp_client_t *c, int iters) {
    clp_msg_t req = clp_msg_json("{\"cmd\":\"ping\"}"), resp;
    double t0 = now_us();
    for (int i = 0; i < iters; i++) {
        if (clp_request(c, &req, &resp) != 0) exit(1);
        clp_msg_free(&resp);
    }
    return (now_us() - t0) / iters;
}

static double run_clp_call(clp_client_t *c, int iters) {
    double t0 = now_us();
    for (int i = 0; i < iters; i++) {
        json_t *res;
        if (clp_call(c, "ping", NULL, &res) != 0) exit(1);
        json_decref(res);
    }
    return (now_us() - t0) / iters;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of v[0..n), sorted in place. */
static double quantile(double *v, int n, double q) {
    qsort(v, (size_t)n, sizeof *v, cmp);
    double pos = q * (n - 1);
    int i = (int)pos;
    return i + 1 < n ? v[i] + (pos - i) * (v[i + 1] - v[i]) : v[i];
}

enum { RAW, RAW_PARSE, REQUEST, CALL, NMODES };
static const char *const mode_names[NMODES] = {"raw write/read", "raw + json_loadb", "clp_request",
                                               "clp_call"};

static double run_mode(int mode, int fd, clp_client_t *c, int iters) {
    switch (mode) {
    case RAW: return run_raw(fd, iters, 0);
    case RAW_PARSE: return run_raw(fd, iters, 1);
    case REQUEST: return run_clp_request(c, iters);
    default: return run_clp_call(c, iters);
    }
}

/* Paired rounds: every round times each mode once, in an order that rotates from round to round,
 * and each mode's ratio to raw is taken within the round, so drift of the machine between rounds
 * cancels out. Reports the median of the per-round times and ratios, and the middle half of the
 * ratios (25th-75th percentile). Returns the median clp_request ratio. */
static double bench(const char *label, int pin, int iters, int rounds) {
    cpu_set_t all, one;
    sched_getaffinity(0, sizeof all, &all);
    if (pin) {
        CPU_ZERO(&one);
        CPU_SET(0, &one);
        sched_setaffinity(0, sizeof one, &one); /* inherited by the forked server */
    }
    pid_t server = start_server();
    usleep(50000);
    int fd = raw_connect();
    clp_client_t *c;
    if (clp_connect2(address, NULL, &c) < 0) {
        fprintf(stderr, "clp_connect2 failed\n");
        exit(1);
    }
    for (int m = 0; m < NMODES; m++) run_mode(m, fd, c, iters); /* warm up */
    static double t[NMODES][MAX_ROUNDS], ratio[NMODES][MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < NMODES; k++) {
            int m = (r + k) % NMODES;
            t[m][r] = run_mode(m, fd, c, iters);
        }
        for (int m = 0; m < NMODES; m++) ratio[m][r] = t[m][r] / t[RAW][r];
    }
    printf("%s:\n", label);
    double result = 0;
    for (int m = 0; m < NMODES; m++) {
        double med = quantile(t[m], rounds, 0.5);
        if (m == RAW) {
            printf("  %-18s %7.2f us\n", mode_names[m], med);
            continue;
        }
        double rq = quantile(ratio[m], rounds, 0.5), lo = quantile(ratio[m], rounds, 0.25),
               hi = quantile(ratio[m], rounds, 0.75);
        printf("  %-18s %7.2f us  %.3fx raw (middle half %.3f-%.3f)\n", mode_names[m], med, rq, lo,
               hi);
        if (m == REQUEST) result = rq;
    }
    clp_close(c);
    close(fd);
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    if (pin) sched_setaffinity(0, sizeof all, &all);
    return result;
}

int main(int argc, char **argv) {
    int iters = argc > 1 ? atoi(argv[1]) : 2000;
    int rounds = argc > 2 ? atoi(argv[2]) : 41;
    if (iters < 1) iters = 1;
    if (rounds < 1 || rounds > MAX_ROUNDS) rounds = 41;
    signal(SIGPIPE, SIG_IGN);
    snprintf(address, sizeof address, "@clp-bench/%d", (int)getpid());
    printf("bench_rtt: %d rounds of %d round trips per mode, libcopperline-ports %s\n", rounds, iters,
           clp_version());
    double a = bench("unpinned", 0, iters, rounds);
    snprintf(address, sizeof address, "@clp-bench/%d-pinned", (int)getpid());
    double b = bench("same core (client and server pinned to one CPU)", 1, iters, rounds);
    printf("clp_request / raw: %.3fx unpinned, %.3fx same core (target <= 1.1x)\n", a, b);
    return 0;
}
