/* Minimal ports v0 test server for libcopperline-ports tests (not a reference server).
 *
 * Usage: test_server ADDRESS...   (a path, or @name for an abstract socket)
 * One forked child per connection. Commands: ping, echo, fail, subscribe, unsubscribe, emit,
 * fdsum, fdback, slow, and misbehaviours garbage, huge, close, wrongid, badfd, strayfd, crlf.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, memfd_create, accept4, MSG_CMSG_CLOEXEC */
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define MAX_LINE (1 << 20)

static int fdq[256];
static size_t nfdq;
static int next_sub = 0;
static int subs[64];
static size_t nsubs;
static int cancels;

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void send_raw(int fd, const char *buf, size_t len, const int *fds, size_t nfds) {
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * 253)];
    } ctl;
    size_t off = 0;
    while (off < len) {
        struct iovec iov = {.iov_base = (char *)buf + off, .iov_len = len - off};
        struct msghdr mh;
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        if (off == 0 && nfds) {
            mh.msg_control = ctl.buf;
            mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
            memset(ctl.buf, 0, sizeof ctl.buf);
            struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
            memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
        }
        ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            exit(0); /* client went away */
        }
        off += (size_t)n;
    }
}

/* Send obj (stolen) as one line. */
static void send_obj(int fd, json_t *obj, const int *fds, size_t nfds) {
    char *s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    size_t n = strlen(s);
    char *line = malloc(n + 1);
    memcpy(line, s, n);
    line[n] = '\n';
    send_raw(fd, line, n + 1, fds, nfds);
    free(line);
    free(s);
}

static json_t *ok(json_t *id, json_t *result) {
    return json_pack("{s:b,s:O,s:o}", "ok", 1, "id", id, "result", result ? result : json_object());
}

static json_t *err(json_t *id, const char *code, const char *msg) {
    return json_pack("{s:b,s:O,s:{s:s,s:s}}", "ok", 0, "id", id, "error", "code", code, "message", msg);
}

static int make_memfd(const char *text) {
    int m = memfd_create("testd", MFD_CLOEXEC);
    if (m < 0) die("memfd_create");
    size_t n = strlen(text);
    if (write(m, text, n) != (ssize_t)n) die("write memfd");
    return m;
}

static void handle(int fd, json_t *req, int *rfds, size_t nrfds) {
    json_t *nullid = json_null();
    json_t *id = json_object_get(req, "id");
    if (!id) id = nullid;
    const char *cmd = json_string_value(json_object_get(req, "cmd"));
    json_t *args = json_object_get(req, "args");
    if (!cmd) {
        send_obj(fd, err(id, "BAD_ARG", "Missing cmd"), NULL, 0);
    } else if (!strcmp(cmd, "ping")) {
        send_obj(fd,
                 json_pack("{s:b,s:O,s:{s:s,s:s,s:i},s:s,s:s,s:i}", "ok", 1, "id", id, "result",
                           "name", "testd", "version", "0.1.0", "protocol", 0, "name", "testd",
                           "version", "0.1.0", "protocol", 0),
                 NULL, 0);
    } else if (!strcmp(cmd, "echo")) {
        send_obj(fd, ok(id, args ? json_incref(args) : NULL), NULL, 0);
    } else if (!strcmp(cmd, "fail")) {
        const char *what = json_string_value(json_object_get(args, "what"));
        char msg[256];
        snprintf(msg, sizeof msg, "No such thing: %s", what ? what : "?");
        send_obj(fd, err(id, "NOT_FOUND", msg), NULL, 0);
    } else if (!strcmp(cmd, "subscribe")) {
        json_t *events = json_object_get(args, "events");
        if (!json_is_array(events) || json_array_size(events) == 0) {
            send_obj(fd, err(id, "BAD_ARG", "args/events: must be a non-empty array"), NULL, 0);
        } else {
            int sub = ++next_sub;
            if (nsubs < 64) subs[nsubs++] = sub;
            send_obj(fd, ok(id, json_pack("{s:i,s:O}", "sub", sub, "events", events)), NULL, 0);
            json_int_t count = json_integer_value(json_object_get(args, "count"));
            const char *name = json_string_value(json_array_get(events, 0));
            for (json_int_t i = 0; i < count; i++)
                send_obj(fd, json_pack("{s:s,s:i,s:I}", "event", name, "sub", sub, "n", i), NULL, 0);
        }
    } else if (!strcmp(cmd, "unsubscribe")) {
        json_int_t sub = json_integer_value(json_object_get(args, "sub"));
        size_t i;
        for (i = 0; i < nsubs && subs[i] != sub; i++) {}
        if (i < nsubs) {
            subs[i] = subs[--nsubs];
            send_obj(fd, ok(id, NULL), NULL, 0);
        } else {
            send_obj(fd, err(id, "NOT_FOUND", "No subscription with this id"), NULL, 0);
        }
    } else if (!strcmp(cmd, "emit")) {
        /* events before the response, all in one write */
        json_int_t count = json_integer_value(json_object_get(args, "count"));
        size_t cap = 256 * (size_t)(count + 1), len = 0;
        char *buf = malloc(cap);
        for (json_int_t i = 0; i < count; i++)
            len += (size_t)snprintf(buf + len, cap - len, "{\"event\":\"tick\",\"sub\":0,\"n\":%lld}\n",
                                    (long long)i);
        json_t *r = ok(id, json_pack("{s:I}", "emitted", count));
        char *resp = json_dumps(r, JSON_COMPACT);
        json_decref(r);
        len += (size_t)snprintf(buf + len, cap - len, "%s\n", resp);
        send_raw(fd, buf, len, NULL, 0);
        free(resp);
        free(buf);
    } else if (!strcmp(cmd, "fdsum")) {
        json_t *fi = json_object_get(json_object_get(args, "fd"), "fd_index");
        json_int_t idx = json_is_integer(fi) ? json_integer_value(fi) : -1;
        if (idx < 0 || (size_t)idx >= nrfds) {
            send_obj(fd, err(id, "BAD_FD", "args/fd: no such fd_index"), NULL, 0);
        } else {
            unsigned char b[4096];
            long long sum = 0, bytes = 0;
            off_t off = 0;
            ssize_t n;
            while ((n = pread(rfds[idx], b, sizeof b, off)) > 0) {
                for (ssize_t i = 0; i < n; i++) sum += b[i];
                bytes += n;
                off += n;
            }
            send_obj(fd, ok(id, json_pack("{s:I,s:I}", "sum", sum, "bytes", bytes)), NULL, 0);
        }
    } else if (!strcmp(cmd, "fdback")) {
        const char *text = json_string_value(json_object_get(args, "text"));
        if (!text) text = "hello from testd";
        int m = make_memfd(text);
        json_t *r = ok(id, json_pack("{s:{s:i},s:i}", "fd", "fd_index", 0, "len", (int)strlen(text)));
        json_object_set_new(r, "fds", json_integer(1));
        send_obj(fd, r, &m, 1);
        close(m);
    } else if (!strcmp(cmd, "slow")) {
        json_int_t ms = json_integer_value(json_object_get(args, "ms"));
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
        send_obj(fd, ok(id, NULL), NULL, 0);
    } else if (!strcmp(cmd, "cancel")) {
        /* one request at a time: whatever it names has finished already */
        send_obj(fd, ok(id, json_pack("{s:b}", "cancelled", 0)), NULL, 0);
        cancels++;
    } else if (!strcmp(cmd, "stats")) {
        send_obj(fd, ok(id, json_pack("{s:i}", "cancels", cancels)), NULL, 0);
    } else if (!strcmp(cmd, "garbage")) {
        const char *g = "{this is not json\n";
        send_raw(fd, g, strlen(g), NULL, 0);
        send_obj(fd, ok(id, NULL), NULL, 0); /* the real answer, late: the client must drop it */
    } else if (!strcmp(cmd, "huge")) {
        size_t n = 100 * 1024;
        char *s = malloc(n + 64);
        int k = snprintf(s, 64, "{\"ok\":true,\"id\":null,\"result\":{\"pad\":\"");
        memset(s + k, 'x', n);
        memcpy(s + k + n, "\"}}\n", 4);
        send_raw(fd, s, (size_t)k + n + 4, NULL, 0);
        free(s);
    } else if (!strcmp(cmd, "close")) {
        const char *bye = "{\"event\":\"bye\",\"sub\":0}\n{\"ok\":true,\"id\":";
        send_raw(fd, bye, strlen(bye), NULL, 0);
        exit(0);
    } else if (!strcmp(cmd, "wrongid")) {
        json_t *other = json_string("not-yours");
        send_obj(fd, ok(other, NULL), NULL, 0);
        json_decref(other);
    } else if (!strcmp(cmd, "badfd")) {
        json_t *r = ok(id, NULL);
        json_object_set_new(r, "fds", json_integer(1));
        send_obj(fd, r, NULL, 0);
    } else if (!strcmp(cmd, "manyfds")) {
        /* args.count memfds holding "0", "1", ...; args.announce overrides the fds count */
        json_int_t count = json_integer_value(json_object_get(args, "count"));
        json_t *ann = json_object_get(args, "announce");
        if (count < 0 || count > 253) count = 0;
        int m[253];
        json_t *list = json_array();
        for (json_int_t i = 0; i < count; i++) {
            char t[16];
            snprintf(t, sizeof t, "%lld", (long long)i);
            m[i] = make_memfd(t);
            json_array_append_new(list, json_pack("{s:I}", "fd_index", i));
        }
        json_t *r = ok(id, json_pack("{s:o}", "fds", list));
        json_object_set_new(r, "fds", ann ? json_incref(ann) : json_integer(count));
        send_obj(fd, r, m, (size_t)count);
        for (json_int_t i = 0; i < count; i++) close(m[i]);
    } else if (!strcmp(cmd, "badfdevent")) {
        const char *ev = "{\"event\":\"tick\",\"sub\":0,\"fds\":1}\n";
        send_raw(fd, ev, strlen(ev), NULL, 0); /* announces an FD that never comes */
        send_obj(fd, ok(id, NULL), NULL, 0);
    } else if (!strcmp(cmd, "strayfd")) {
        int m = make_memfd("stray");
        const char *ev = "{\"event\":\"stray\",\"sub\":0}\n";
        send_raw(fd, ev, strlen(ev), &m, 1); /* an FD no line claims */
        close(m);
        send_obj(fd, ok(id, NULL), NULL, 0);
    } else if (!strcmp(cmd, "crlf")) {
        json_t *r = ok(id, json_pack("{s:b}", "crlf", 1));
        char *s = json_dumps(r, JSON_COMPACT);
        json_decref(r);
        char buf[512];
        int n = snprintf(buf, sizeof buf, "\n  \t\n%s\r\n", s);
        send_raw(fd, buf, (size_t)n, NULL, 0);
        free(s);
    } else {
        send_obj(fd, err(id, "BAD_CMD", "Unknown command"), NULL, 0);
    }
    json_decref(nullid);
}

static void serve(int fd) {
    char *buf = malloc(MAX_LINE);
    size_t len = 0;
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * 253)];
    } ctl;
    for (;;) {
        struct iovec iov = {.iov_base = buf + len, .iov_len = MAX_LINE - len};
        struct msghdr mh;
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof ctl.buf;
        ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) exit(0);
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
            size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k; i++) memcpy(&fdq[nfdq++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
        }
        len += (size_t)n;
        char *start = buf, *nl;
        while ((nl = memchr(start, '\n', (size_t)(buf + len - start)))) {
            json_error_t je;
            json_t *req = json_loadb(start, (size_t)(nl - start), 0, &je);
            start = nl + 1;
            if (!json_is_object(req)) {
                json_decref(req);
                json_t *nid = json_null();
                send_obj(fd, err(nid, "BAD_FRAME", "Not a JSON object"), NULL, 0);
                json_decref(nid);
                continue;
            }
            size_t want = (size_t)json_integer_value(json_object_get(req, "fds"));
            int rfds[16];
            size_t nr = 0;
            if (want > nfdq || want > 16) {
                json_t *id = json_object_get(req, "id");
                send_obj(fd, err(id ? id : json_null(), "BAD_FD", "fds does not match"), NULL, 0);
                json_decref(req);
                continue;
            }
            for (; nr < want; nr++) rfds[nr] = fdq[nr];
            memmove(fdq, fdq + want, (nfdq - want) * sizeof(int));
            nfdq -= want;
            handle(fd, req, rfds, nr);
            for (size_t i = 0; i < nr; i++) close(rfds[i]);
            json_decref(req);
        }
        memmove(buf, start, (size_t)(buf + len - start));
        len = (size_t)(buf + len - start);
        if (len == MAX_LINE) exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s ADDRESS...\n", argv[0]);
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sa.sa_flags = SA_NOCLDWAIT;
    sigaction(SIGCHLD, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct pollfd lfd[8];
    int nl = 0;
    for (int i = 1; i < argc && nl < 8; i++) {
        struct sockaddr_un a;
        memset(&a, 0, sizeof a);
        a.sun_family = AF_UNIX;
        socklen_t alen;
        size_t n = strlen(argv[i]);
        if (argv[i][0] == '@') {
            memcpy(a.sun_path + 1, argv[i] + 1, n - 1);
            alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
        } else {
            unlink(argv[i]);
            memcpy(a.sun_path, argv[i], n);
            alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        }
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0 || bind(s, (struct sockaddr *)&a, alen) < 0 || listen(s, 64) < 0) die(argv[i]);
        lfd[nl].fd = s;
        lfd[nl].events = POLLIN;
        nl++;
    }
    for (;;) {
        if (poll(lfd, (nfds_t)nl, -1) < 0) {
            if (errno == EINTR) continue;
            die("poll");
        }
        for (int i = 0; i < nl; i++) {
            if (!(lfd[i].revents & POLLIN)) continue;
            int c = accept4(lfd[i].fd, NULL, NULL, SOCK_CLOEXEC);
            if (c < 0) continue;
            pid_t p = fork();
            if (p == 0) {
                for (int j = 0; j < nl; j++) close(lfd[j].fd);
                serve(c);
            }
            close(c);
        }
    }
}
