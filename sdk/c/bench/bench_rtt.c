/* Round-trip benchmark: clp_request("ping") vs raw C write/read NDJSON ping-pong, same run, same
 * C echo server (one forked process per connection, Unix stream socket).
 *
 * Usage: bench_rtt [iterations-per-round] [rounds]
 * Prints median µs per round trip for raw, raw + json_loadb of the response, clp_request and
 * clp_call, unpinned and with client and server pinned to one core, and the ratios (target:
 * clp_request <= 1.1x raw). Not a test. */
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

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void bench(const char *label, int pin, int iters, int rounds) {
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
    run_raw(fd, iters / 4 + 1, 1); /* warm up */
    run_clp_request(c, iters / 4 + 1);
    run_clp_call(c, iters / 4 + 1);
    double raw[64], rawp[64], req[64], call[64];
    for (int r = 0; r < rounds; r++) { /* interleaved, so drift hits all alike */
        raw[r] = run_raw(fd, iters, 0);
        rawp[r] = run_raw(fd, iters, 1);
        req[r] = run_clp_request(c, iters);
        call[r] = run_clp_call(c, iters);
    }
    double mr = median(raw, rounds), mp = median(rawp, rounds), mq = median(req, rounds),
           mc = median(call, rounds);
    printf("%-9s raw %6.2f us | raw+json_loadb %6.2f us (%.2fx) | clp_request %6.2f us (%.2fx raw, "
           "%.2fx raw+parse) | clp_call %6.2f us (%.2fx raw)\n",
           label, mr, mp, mp / mr, mq, mq / mr, mq / mp, mc, mc / mr);
    clp_close(c);
    close(fd);
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    if (pin) sched_setaffinity(0, sizeof all, &all);
}

int main(int argc, char **argv) {
    int iters = argc > 1 ? atoi(argv[1]) : 20000;
    int rounds = argc > 2 ? atoi(argv[2]) : 7;
    if (iters < 1) iters = 1;
    if (rounds < 1 || rounds > 64) rounds = 7;
    signal(SIGPIPE, SIG_IGN);
    snprintf(address, sizeof address, "@clp-bench/%d", (int)getpid());
    printf("bench_rtt: %d round trips x %d rounds (median of rounds), libcopperline-ports %s\n", iters,
           rounds, clp_version());
    bench("unpinned", 0, iters, rounds);
    snprintf(address, sizeof address, "@clp-bench/%d-pinned", (int)getpid());
    bench("same core", 1, iters, rounds);
    return 0;
}
