/* Tests of libcopperline-ports against tests/test_server.c over real sockets.
 * Usage: test_client PATH_TO_TEST_SERVER
 * Prints one line per failed check and a closing "N passed, N failed"; exits 1 on failure. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, memfd_create, accept4, MSG_CMSG_CLOEXEC */
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cl_ports.h"

static int passed, failed;
static const char *current = "";

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (cond) {                                                                        \
            passed++;                                                                      \
        } else {                                                                           \
            failed++;                                                                      \
            fprintf(stderr, "FAIL [%s] %s:%d: %s\n", current, __FILE__, __LINE__, #cond); \
        }                                                                                  \
    } while (0)
#define CHECK_EQ(got, want)                                                                      \
    do {                                                                                         \
        long long g_ = (long long)(got), w_ = (long long)(want);                                 \
        if (g_ == w_) {                                                                          \
            passed++;                                                                            \
        } else {                                                                                 \
            failed++;                                                                            \
            fprintf(stderr, "FAIL [%s] %s:%d: %s == %lld, want %s == %lld (%s)\n", current,      \
                    __FILE__, __LINE__, #got, g_, #want, w_, g_ < 0 ? clp_strerror((int)g_) : ""); \
        }                                                                                        \
    } while (0)

static char sock_path[256], abstract_name[128];
static pid_t server_pid;

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory's own fd */
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void start_server(const char *server) {
    snprintf(sock_path, sizeof sock_path, "/tmp/clp-test-%d.sock", (int)getpid());
    snprintf(abstract_name, sizeof abstract_name, "@clp-test/%d", (int)getpid());
    server_pid = fork();
    if (server_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        execl(server, server, sock_path, abstract_name, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500; i++) { /* wait until it accepts */
        clp_client_t *c = clp_connect(sock_path);
        if (c) {
            clp_close(c);
            return;
        }
        usleep(10000);
    }
    fprintf(stderr, "test server did not start\n");
    exit(1);
}

static void stop_server(void) {
    kill(server_pid, SIGTERM);
    waitpid(server_pid, NULL, 0);
    unlink(sock_path);
}

static clp_client_t *connect_ok(void) {
    clp_client_t *c = NULL;
    int r = clp_connect2(sock_path, NULL, &c);
    CHECK_EQ(r, 0);
    if (!c) {
        fprintf(stderr, "cannot connect: %s\n", clp_strerror(r));
        exit(1);
    }
    return c;
}

static json_t *value(const clp_msg_t *m) {
    return clp_msg_value(m);
}

static int ping_ok(clp_client_t *c) {
    clp_msg_t resp;
    clp_msg_t req = clp_msg_json("{\"cmd\":\"ping\"}");
    int r = clp_request(c, &req, &resp);
    const char *name =
        json_string_value(json_object_get(json_object_get(value(&resp), "result"), "name"));
    int ok = r == 0 && name && !strcmp(name, "testd");
    clp_msg_free(&resp);
    return ok;
}

static int make_memfd(const void *data, size_t n) {
    int fd = memfd_create("clp-test", MFD_CLOEXEC);
    if (fd < 0 || write(fd, data, n) != (ssize_t)n) {
        perror("memfd");
        exit(1);
    }
    return fd;
}

/* ------------------------------------------------------------------------------------------- */

static void test_misc(void) {
    current = "misc";
    CHECK(!strcmp(clp_version(), CLP_VERSION_STRING));
    int codes[] = {CLP_EPROTO, CLP_ETOOBIG, CLP_ETIMEDOUT, CLP_ECLOSED, CLP_EREMOTE,
                   CLP_EARG,   CLP_ENOMEM,  CLP_EFD};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        CHECK(codes[i] <= -10000);
        for (size_t j = 0; j < i; j++) CHECK(strcmp(clp_strerror(codes[i]), clp_strerror(codes[j])));
    }
    CHECK(!strcmp(clp_strerror(-ENOENT), strerror(ENOENT)));
    CHECK(!strcmp(clp_strerror(0), "Success"));
    clp_options_t o;
    clp_options_init(&o);
    CHECK_EQ(o.timeout_ms, 5000);
    CHECK_EQ(o.max_message, 65536);
    clp_msg_t m = clp_msg_json("{\"cmd\":\"ping\"}");
    CHECK_EQ(m.len, 14);
    CHECK(m.fds == NULL && m.nfds == 0 && clp_msg_value(&m) == NULL);
    clp_msg_free(&m); /* not owned: only resets */
    CHECK(m.data == NULL);
    clp_msg_free(NULL);
    clp_close(NULL);
}

static void test_connect_errors(void) {
    current = "connect errors";
    clp_client_t *c = (clp_client_t *)1;
    CHECK_EQ(clp_connect2("/nonexistent-dir/x.sock", NULL, &c), -ENOENT);
    CHECK(c == NULL);
    errno = 0;
    CHECK(clp_connect("/nonexistent-dir/x.sock") == NULL);
    CHECK_EQ(errno, ENOENT);
    CHECK_EQ(clp_connect2(NULL, NULL, &c), CLP_EARG);
    CHECK_EQ(clp_connect2("", NULL, &c), CLP_EARG);
    CHECK_EQ(clp_connect2("x", NULL, NULL), CLP_EARG);
    char longp[300];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = 0;
    CHECK_EQ(clp_connect2(longp, NULL, &c), -ENAMETOOLONG);
    unsetenv("NOSUCHSVC_XYZ_SOCKET");
    CHECK_EQ(clp_connect2("nosuchsvc-xyz", NULL, &c), -ENOENT); /* /run/copperline/... */
    /* a socket file nobody listens on */
    CHECK_EQ(clp_connect2("@clp-test/nobody-listens-here", NULL, &c), -ECONNREFUSED);
    clp_options_t bad = {.timeout_ms = -5};
    CHECK_EQ(clp_connect2(sock_path, &bad, &c), CLP_EARG);
}

static void test_addresses(void) {
    current = "addresses";
    clp_client_t *c = clp_connect(abstract_name);
    CHECK(c != NULL);
    if (c) {
        CHECK(ping_ok(c));
        clp_close(c);
    }
    setenv("CLPTESTD_SOCKET", sock_path, 1);
    c = clp_connect("clptestd");
    CHECK(c != NULL);
    if (c) {
        CHECK(ping_ok(c));
        clp_close(c);
    }
    setenv("CLP_TESTD_SOCKET", abstract_name, 1); /* "-" becomes "_", value may be @abstract */
    c = clp_connect("clp-testd");
    CHECK(c != NULL);
    if (c) {
        CHECK(ping_ok(c));
        clp_close(c);
    }
    unsetenv("CLPTESTD_SOCKET");
    unsetenv("CLP_TESTD_SOCKET");
    /* the abstract name is exact-length: a prefix of it is another name */
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%.*s", (int)strlen(abstract_name) - 1, abstract_name);
    clp_client_t *c2;
    CHECK_EQ(clp_connect2(prefix, NULL, &c2), -ECONNREFUSED);
}

static void test_ping(clp_client_t *c) {
    current = "ping";
    clp_msg_t req = clp_msg_json("{\"id\":\"ping1\",\"cmd\":\"ping\"}");
    clp_msg_t resp;
    CHECK_EQ(clp_request(c, &req, &resp), 0);
    CHECK(resp.data && resp.data[resp.len] == '\0' && strstr(resp.data, "\"testd\""));
    CHECK(!strcmp(json_string_value(json_object_get(value(&resp), "id")), "ping1"));
    CHECK_EQ(json_integer_value(json_object_get(json_object_get(value(&resp), "result"), "protocol")), 0);
    CHECK(resp.nfds == 0 && resp.fds == NULL);
    const char *code = "x", *msg = "x";
    clp_last_error(c, &code, &msg);
    CHECK(code == NULL && msg == NULL);
    clp_msg_free(&resp);
    CHECK(resp.data == NULL);

    char *name, *version;
    int proto;
    CHECK_EQ(clp_ping(c, &name, &version, &proto), 0);
    CHECK(name && !strcmp(name, "testd"));
    CHECK(version && !strcmp(version, "0.1.0"));
    CHECK_EQ(proto, CLP_PROTOCOL);
    free(name);
    free(version);
    CHECK_EQ(clp_ping(c, NULL, NULL, NULL), 0);
}

static void test_request_forms(clp_client_t *c) {
    current = "request forms";
    clp_msg_t resp;
    /* no id: the library assigns an integer one */
    clp_msg_t req = clp_msg_json("{\"cmd\":\"echo\",\"args\":{\"a\":1}}");
    CHECK_EQ(clp_request(c, &req, &resp), 0);
    json_t *id = json_object_get(value(&resp), "id");
    CHECK(json_is_integer(id) && json_integer_value(id) > 0);
    CHECK_EQ(json_integer_value(json_object_get(json_object_get(value(&resp), "result"), "a")), 1);
    clp_msg_free(&resp);
    /* pretty-printed text (raw newlines) is sent as one line */
    req = clp_msg_json("{\n  \"cmd\": \"echo\",\r\n  \"args\": {\"s\": \"two\\nlines\"}\n}\n");
    CHECK_EQ(clp_request(c, &req, &resp), 0);
    CHECK(!strcmp(json_string_value(json_object_get(json_object_get(value(&resp), "result"), "s")),
                  "two\nlines"));
    clp_msg_free(&resp);
    /* an empty object still gets its id; the server rejects the missing cmd */
    req = clp_msg_json("  {}");
    CHECK_EQ(clp_request(c, &req, &resp), CLP_EREMOTE);
    const char *code = NULL;
    clp_last_error(c, &code, NULL);
    CHECK(code && !strcmp(code, "BAD_ARG"));
    CHECK(json_is_integer(json_object_get(value(&resp), "id")));
    clp_msg_free(&resp);
    /* explicit length, not NUL-terminated */
    const char text[] = "{\"cmd\":\"echo\",\"args\":{\"n\":7}}TRAILING";
    req = clp_msg_json_n(text, sizeof text - 1 - 8);
    CHECK_EQ(clp_request(c, &req, &resp), 0);
    CHECK_EQ(json_integer_value(json_object_get(json_object_get(value(&resp), "result"), "n")), 7);
    clp_msg_free(&resp);
    /* malformed text without id/fds is not parsed locally: the server answers BAD_FRAME */
    req = clp_msg_json("{\"cmd\": broken");
    CHECK_EQ(clp_request(c, &req, &resp), CLP_EREMOTE);
    clp_last_error(c, &code, NULL);
    CHECK(code && !strcmp(code, "BAD_FRAME"));
    clp_msg_free(&resp);
    /* an "id" key hidden behind a \u escape is still found (the text is parsed then) */
    req = clp_msg_json("{\"\\u0069d\":\"esc\",\"cmd\":\"ping\"}");
    CHECK_EQ(clp_request(c, &req, &resp), 0);
    CHECK(!strcmp(json_string_value(json_object_get(value(&resp), "id")), "esc"));
    clp_msg_free(&resp);
    /* NULL ret_resp discards the response */
    req = clp_msg_json("{\"cmd\":\"ping\"}");
    CHECK_EQ(clp_request(c, &req, NULL), 0);
    /* invalid requests are refused locally and the client stays usable */
    req = clp_msg_json("not json");
    CHECK_EQ(clp_request(c, &req, &resp), CLP_EARG);
    CHECK(resp.data == NULL);
    req = clp_msg_json("[1,2]");
    CHECK_EQ(clp_request(c, &req, &resp), CLP_EARG);
    req = clp_msg_json("{\"id\":1.5,\"cmd\":\"ping\"}");
    CHECK_EQ(clp_request(c, &req, &resp), CLP_EARG);
    req = clp_msg_json("{\"cmd\":\"ping\",\"fds\":1}");
    CHECK_EQ(clp_request(c, &req, &resp), CLP_EARG);
    CHECK_EQ(clp_request(NULL, &req, &resp), CLP_EARG);
    CHECK_EQ(clp_request(c, NULL, &resp), CLP_EARG);
    CHECK(ping_ok(c));
}

static void test_call(clp_client_t *c) {
    current = "call";
    json_t *args = json_pack("{s:[i,i,i],s:s,s:{s:n}}", "x", 1, 2, 3, "s", "h\xc3\xa9llo", "o", "k");
    json_t *res = NULL;
    CHECK_EQ(clp_call(c, "echo", args, &res), 0);
    CHECK(json_equal(res, args));
    CHECK_EQ(args->refcount, 1); /* borrowed, not stolen */
    json_decref(res);
    json_decref(args);
    CHECK_EQ(clp_call(c, "echo", NULL, &res), 0);
    CHECK(json_is_object(res) && json_object_size(res) == 0);
    json_decref(res);
    CHECK_EQ(clp_call(c, "ping", NULL, NULL), 0);
    json_t *notobj = json_integer(3);
    CHECK_EQ(clp_call(c, "echo", notobj, &res), CLP_EARG);
    json_decref(notobj);
    CHECK_EQ(clp_call(c, NULL, NULL, &res), CLP_EARG);
    CHECK(res == NULL);
}

static void test_remote_error(clp_client_t *c) {
    current = "remote error";
    clp_msg_t req = clp_msg_json("{\"id\":\"f1\",\"cmd\":\"fail\",\"args\":{\"what\":\"widget\"}}");
    clp_msg_t resp;
    CHECK_EQ(clp_request(c, &req, &resp), CLP_EREMOTE);
    CHECK(resp.data && strstr(resp.data, "\"ok\":false"));
    clp_msg_free(&resp);
    const char *code = NULL, *msg = NULL;
    CHECK_EQ(clp_last_error(c, &code, &msg), 0);
    CHECK(code && !strcmp(code, "NOT_FOUND"));
    CHECK(msg && !strcmp(msg, "No such thing: widget"));
    json_t *res = (json_t *)1;
    CHECK_EQ(clp_call(c, "nosuchcmd", NULL, &res), CLP_EREMOTE);
    CHECK(res == NULL);
    clp_last_error(c, &code, &msg);
    CHECK(code && !strcmp(code, "BAD_CMD"));
    CHECK_EQ(clp_call(c, "ping", NULL, NULL), 0);
    clp_last_error(c, &code, &msg);
    CHECK(code == NULL && msg == NULL);
    CHECK_EQ(clp_last_error(NULL, &code, &msg), CLP_EARG);
}

static void test_subscribe(clp_client_t *c) {
    current = "subscribe";
    const char *events[] = {"tick"};
    int64_t sub = 0;
    CHECK_EQ(clp_subscribe(c, events, 1, "{\"count\":3}", &sub), 0);
    CHECK(sub > 0);
    int got = 0;
    int64_t deadline = now_ms() + 3000;
    while (got < 3 && now_ms() < deadline) {
        if (!clp_pending(c)) {
            struct pollfd p = {.fd = clp_fd(c), .events = POLLIN};
            if (poll(&p, 1, 1000) <= 0) continue;
        }
        clp_msg_t ev;
        int r = clp_read_event(c, 0, &ev);
        if (r == CLP_ETIMEDOUT) continue; /* partial line so far */
        CHECK_EQ(r, 0);
        if (r) break;
        json_t *v = value(&ev);
        CHECK(!strcmp(json_string_value(json_object_get(v, "event")), "tick"));
        CHECK_EQ(json_integer_value(json_object_get(v, "sub")), sub);
        CHECK_EQ(json_integer_value(json_object_get(v, "n")), got);
        clp_msg_free(&ev);
        got++;
    }
    CHECK_EQ(got, 3);
    clp_msg_t ev;
    CHECK_EQ(clp_read_event(c, 50, &ev), CLP_ETIMEDOUT);
    CHECK(ev.data == NULL);
    CHECK_EQ(clp_unsubscribe(c, sub), 0);
    CHECK_EQ(clp_unsubscribe(c, 9999), CLP_EREMOTE);
    const char *code = NULL;
    clp_last_error(c, &code, NULL);
    CHECK(code && !strcmp(code, "NOT_FOUND"));
    CHECK_EQ(clp_subscribe(c, events, 0, NULL, &sub), CLP_EARG);
    CHECK_EQ(clp_subscribe(c, events, 1, "{\"events\":[]}", &sub), CLP_EARG);
    CHECK_EQ(clp_subscribe(c, events, 1, "[1]", &sub), CLP_EARG);
    /* two names, no filter, no events sent */
    const char *two[] = {"tick", "tock"};
    CHECK_EQ(clp_subscribe(c, two, 2, NULL, &sub), 0);
    CHECK_EQ(clp_unsubscribe(c, sub), 0);
}

static void test_events_during_request(clp_client_t *c) {
    current = "events during request";
    json_t *args = json_pack("{s:i}", "count", 4), *res = NULL;
    CHECK_EQ(clp_call(c, "emit", args, &res), 0);
    json_decref(args);
    CHECK_EQ(json_integer_value(json_object_get(res, "emitted")), 4);
    json_decref(res);
    CHECK_EQ(clp_pending(c), 1);
    for (int i = 0; i < 4; i++) {
        clp_msg_t ev;
        CHECK_EQ(clp_read_event(c, 0, &ev), 0);
        CHECK_EQ(json_integer_value(json_object_get(value(&ev), "n")), i);
        clp_msg_free(&ev);
    }
    CHECK_EQ(clp_pending(c), 0);
    clp_msg_t ev;
    CHECK_EQ(clp_read_event(c, 0, &ev), CLP_ETIMEDOUT);
    /* a flood: 1500 events arrive while a request waits; 1024 are queued, the rest counted */
    clp_client_t *fl;
    CHECK_EQ(clp_connect2(sock_path, NULL, &fl), 0);
    const char *tick[] = {"tick"};
    int64_t fsub;
    CHECK_EQ(clp_subscribe(fl, tick, 1, "{\"count\":1500}", &fsub), 0);
    CHECK_EQ(clp_ping(fl, NULL, NULL, NULL), 0);
    CHECK_EQ(clp_events_dropped(fl), 1500 - CLP_DEFAULT_MAX_EVENTS);
    int fn = 0, in_order = 1;
    while (clp_read_event(fl, 0, &ev) == 0) {
        if (json_integer_value(json_object_get(value(&ev), "n")) != fn) in_order = 0;
        fn++;
        clp_msg_free(&ev);
    }
    CHECK_EQ(fn, CLP_DEFAULT_MAX_EVENTS);
    CHECK(in_order);
    clp_close(fl);
    /* a tiny client-side queue drops and counts */
    clp_options_t o;
    clp_options_init(&o);
    o.max_events = 2;
    clp_client_t *small;
    CHECK_EQ(clp_connect2(sock_path, &o, &small), 0);
    args = json_pack("{s:i}", "count", 5);
    CHECK_EQ(clp_call(small, "emit", args, NULL), 0);
    json_decref(args);
    CHECK_EQ(clp_events_dropped(small), 3);
    int n = 0;
    while (clp_read_event(small, 0, &ev) == 0) {
        n++;
        clp_msg_free(&ev);
    }
    CHECK_EQ(n, 2);
    clp_close(small);
}

static void test_fd_send(clp_client_t *c) {
    current = "fd send";
    unsigned char data[1000];
    long long sum = 0;
    for (int i = 0; i < 1000; i++) {
        data[i] = (unsigned char)(i * 7);
        sum += data[i];
    }
    int fd = make_memfd(data, sizeof data);
    clp_msg_t req = clp_msg_json("{\"cmd\":\"fdsum\",\"args\":{\"fd\":{\"fd_index\":0}}}");
    clp_msg_t resp;
    CHECK_EQ(clp_request_fds(c, &req, &fd, 1, &resp), 0);
    json_t *result = json_object_get(value(&resp), "result");
    CHECK_EQ(json_integer_value(json_object_get(result, "sum")), sum);
    CHECK_EQ(json_integer_value(json_object_get(result, "bytes")), 1000);
    clp_msg_free(&resp);
    CHECK(fcntl(fd, F_GETFD) >= 0); /* borrowed: still ours */
    /* an explicit matching "fds" is accepted */
    req = clp_msg_json("{\"cmd\":\"fdsum\",\"fds\":1,\"args\":{\"fd\":{\"fd_index\":0}}}");
    CHECK_EQ(clp_request_fds(c, &req, &fd, 1, &resp), 0);
    clp_msg_free(&resp);
    /* clp_call_fds */
    json_t *args = json_pack("{s:{s:i}}", "fd", "fd_index", 0), *res = NULL;
    CHECK_EQ(clp_call_fds(c, "fdsum", args, &fd, 1, &res, NULL, NULL), 0);
    CHECK_EQ(json_integer_value(json_object_get(res, "sum")), sum);
    json_decref(res);
    json_decref(args);
    /* mismatched fds field, bad FDs, too many: refused locally */
    req = clp_msg_json("{\"cmd\":\"fdsum\",\"fds\":2}");
    CHECK_EQ(clp_request_fds(c, &req, &fd, 1, &resp), CLP_EARG);
    int bad = -1;
    CHECK_EQ(clp_request_fds(c, &req, &bad, 1, &resp), CLP_EFD);
    bad = 987;
    CHECK_EQ(clp_request_fds(c, &req, &bad, 1, &resp), CLP_EFD);
    CHECK_EQ(clp_request_fds(c, &req, NULL, 1, &resp), CLP_EARG);
    int many[CLP_MAX_FDS_PER_MESSAGE + 1];
    for (size_t i = 0; i < sizeof many / sizeof *many; i++) many[i] = fd;
    CHECK_EQ(clp_request_fds(c, &req, many, sizeof many / sizeof *many, &resp), CLP_EFD);
    close(fd);
    CHECK(ping_ok(c));
}

static void test_fd_receive(clp_client_t *c) {
    current = "fd receive";
    clp_msg_t req = clp_msg_json("{\"cmd\":\"fdback\",\"args\":{\"text\":\"hello from the test\"}}");
    clp_msg_t resp;
    CHECK_EQ(clp_request(c, &req, &resp), 0);
    CHECK_EQ(resp.nfds, 1);
    if (resp.nfds == 1) {
        CHECK(fcntl(resp.fds[0], F_GETFD) & FD_CLOEXEC);
        char buf[64] = {0};
        CHECK_EQ(pread(resp.fds[0], buf, sizeof buf - 1, 0), 19);
        CHECK(!strcmp(buf, "hello from the test"));
        CHECK_EQ(json_integer_value(json_object_get(
                     json_object_get(json_object_get(value(&resp), "result"), "fd"), "fd_index")),
                 0);
        int fd = -1;
        CHECK_EQ(clp_msg_take_fd(&resp, 0, &fd), 0);
        CHECK(fd >= 0 && resp.fds[0] == -1);
        int again;
        CHECK_EQ(clp_msg_take_fd(&resp, 0, &again), CLP_EFD);
        CHECK_EQ(clp_msg_take_fd(&resp, 1, &again), CLP_EFD);
        clp_msg_free(&resp);
        CHECK(fcntl(fd, F_GETFD) >= 0); /* taken: the message did not close it */
        close(fd);
    } else {
        clp_msg_free(&resp);
    }
    /* not taken: clp_msg_free closes it; repeat to catch leaks (counted with the client open) */
    int open_fds = count_fds();
    for (int i = 0; i < 50; i++) {
        CHECK_EQ(clp_request(c, &req, &resp), 0);
        clp_msg_free(&resp);
    }
    CHECK_EQ(count_fds(), open_fds);
    /* clp_call_fds hands the FDs over */
    json_t *res = NULL;
    int *fds = NULL;
    size_t nfds = 0;
    CHECK_EQ(clp_call_fds(c, "fdback", NULL, NULL, 0, &res, &fds, &nfds), 0);
    CHECK_EQ(nfds, 1);
    if (nfds == 1) {
        char buf[64] = {0};
        CHECK_EQ(pread(fds[0], buf, sizeof buf - 1, 0), 16);
        CHECK(!strcmp(buf, "hello from testd"));
        close(fds[0]);
    }
    free(fds);
    json_decref(res);
    /* several FDs keep their order */
    clp_msg_t m3;
    clp_msg_t many = clp_msg_json("{\"cmd\":\"manyfds\",\"args\":{\"count\":3}}");
    CHECK_EQ(clp_request(c, &many, &m3), 0);
    CHECK_EQ(m3.nfds, 3);
    for (size_t i = 0; i < m3.nfds; i++) {
        char buf[8] = {0};
        CHECK_EQ(pread(m3.fds[i], buf, sizeof buf - 1, 0), 1);
        CHECK_EQ(buf[0], '0' + (int)i);
    }
    clp_msg_free(&m3);
    /* over the 64 FDs a connection may hold: BAD_FD, every FD closed, client usable */
    many = clp_msg_json("{\"cmd\":\"manyfds\",\"args\":{\"count\":70}}");
    CHECK_EQ(clp_request(c, &many, &m3), CLP_EFD);
    CHECK(m3.data == NULL);
    CHECK(ping_ok(c));
    /* a response announcing fewer FDs than came: the extra ones are closed */
    many = clp_msg_json("{\"cmd\":\"manyfds\",\"args\":{\"count\":3,\"announce\":1}}");
    CHECK_EQ(clp_request(c, &many, &m3), 0);
    CHECK_EQ(m3.nfds, 1);
    clp_msg_free(&m3);
    CHECK(ping_ok(c)); /* the next line without fds closes the two unclaimed ones */
    CHECK_EQ(count_fds(), open_fds);
    CHECK_EQ(clp_call(c, "strayfd", NULL, NULL), 0);
    clp_msg_t stray;
    CHECK_EQ(clp_read_event(c, 0, &stray), 0);
    clp_msg_free(&stray);
    CHECK_EQ(count_fds(), open_fds);
    /* clp_call closes them */
    CHECK_EQ(clp_call(c, "fdback", NULL, NULL), 0);
}

static void test_bad_server(void) {
    clp_client_t *c = connect_ok();
    const char *code = NULL;

    current = "garbage";
    CHECK_EQ(clp_call(c, "garbage", NULL, NULL), CLP_EPROTO);
    clp_last_error(c, &code, NULL);
    CHECK(code && !strcmp(code, "PROTOCOL"));
    CHECK(ping_ok(c)); /* the late real answer to "garbage" is dropped */
    clp_msg_t ev;
    CHECK_EQ(clp_read_event(c, 100, &ev), CLP_ETIMEDOUT);

    current = "huge";
    CHECK_EQ(clp_call(c, "huge", NULL, NULL), CLP_ETOOBIG);
    clp_last_error(c, &code, NULL);
    CHECK(code && !strcmp(code, "TOO_LARGE"));
    CHECK(ping_ok(c));

    current = "wrongid";
    CHECK_EQ(clp_call(c, "wrongid", NULL, NULL), CLP_EPROTO);
    CHECK(ping_ok(c));

    current = "badfd";
    CHECK_EQ(clp_call(c, "badfd", NULL, NULL), CLP_EFD);
    clp_last_error(c, &code, NULL);
    CHECK(code && !strcmp(code, "BAD_FD"));
    CHECK(ping_ok(c));

    current = "badfd event";
    CHECK_EQ(clp_call(c, "badfdevent", NULL, NULL), 0); /* the request itself is fine */
    CHECK_EQ(clp_read_event(c, 0, &ev), CLP_EFD);       /* the queued event is not */
    CHECK(ev.data == NULL);
    CHECK_EQ(clp_read_event(c, 0, &ev), CLP_ETIMEDOUT);
    CHECK(ping_ok(c));

    current = "strayfd";
    CHECK_EQ(clp_call(c, "strayfd", NULL, NULL), 0);
    CHECK_EQ(clp_read_event(c, 0, &ev), 0);
    CHECK_EQ(ev.nfds, 0);
    clp_msg_free(&ev);
    CHECK(ping_ok(c));

    current = "crlf";
    json_t *res = NULL;
    CHECK_EQ(clp_call(c, "crlf", NULL, &res), 0);
    CHECK(json_is_true(json_object_get(res, "crlf")));
    json_decref(res);

    current = "timeout";
    CHECK_EQ(clp_set_timeout(c, 0), CLP_EARG);
    CHECK_EQ(clp_set_timeout(c, 100), 0);
    json_t *args = json_pack("{s:i}", "ms", 1000);
    int64_t t0 = now_ms();
    CHECK_EQ(clp_call(c, "slow", args, NULL), CLP_ETIMEDOUT);
    int64_t dt = now_ms() - t0;
    CHECK(dt >= 90 && dt < 800);
    json_decref(args);
    clp_last_error(c, &code, NULL);
    CHECK(code && !strcmp(code, "TIMEOUT"));
    CHECK_EQ(clp_set_timeout(c, 5000), 0);
    CHECK(ping_ok(c)); /* waits past the late "slow" and "cancel" answers, which are dropped */
    CHECK_EQ(clp_read_event(c, 0, &ev), CLP_ETIMEDOUT);
    res = NULL;
    CHECK_EQ(clp_call(c, "stats", NULL, &res), 0); /* the timed-out request was cancelled */
    CHECK_EQ(json_integer_value(json_object_get(res, "cancels")), 1);
    json_decref(res);

    current = "too big to send";
    clp_options_t o;
    clp_options_init(&o);
    o.max_message = 1024;
    clp_client_t *small;
    CHECK_EQ(clp_connect2(sock_path, &o, &small), 0);
    char pad[1100];
    memset(pad, 'p', sizeof pad - 1);
    pad[sizeof pad - 1] = 0;
    args = json_pack("{s:s}", "pad", pad);
    CHECK_EQ(clp_call(small, "echo", args, NULL), CLP_ETOOBIG);
    json_decref(args);
    CHECK(ping_ok(small));
    args = json_pack("{s:s%}", "pad", pad, (size_t)900); /* fits: 900-byte echo */
    CHECK_EQ(clp_call(small, "echo", args, NULL), 0);
    json_decref(args);
    CHECK_EQ(clp_call(small, "huge", NULL, NULL), CLP_ETOOBIG);
    CHECK(ping_ok(small));
    clp_close(small);

    current = "close mid-response";
    CHECK_EQ(clp_call(c, "close", NULL, NULL), CLP_ECLOSED);
    clp_last_error(c, &code, NULL);
    CHECK(code && !strcmp(code, "CLOSED"));
    CHECK_EQ(clp_call(c, "ping", NULL, NULL), CLP_ECLOSED);
    clp_msg_t req = clp_msg_json("{\"cmd\":\"ping\"}"), resp;
    CHECK_EQ(clp_request(c, &req, &resp), CLP_ECLOSED);
    CHECK_EQ(clp_read_event(c, 0, &ev), 0); /* the event that came before the close */
    CHECK(ev.data && strstr(ev.data, "\"bye\""));
    clp_msg_free(&ev);
    CHECK_EQ(clp_read_event(c, 0, &ev), CLP_ECLOSED);
    CHECK_EQ(clp_read_event(c, 100, &ev), CLP_ECLOSED);
    CHECK(clp_fd(c) >= 0);
    clp_close(c);
}

/* clp_request() reads lines with the envelope recognizer and builds the jansson value only when
 * asked; lines it is unsure of go to jansson. Both ways must give the same answers. */
static void test_request_reading(void) {
    clp_client_t *c = connect_ok();
    clp_msg_t req, resp;
    const char *code = NULL, *msg = NULL;

    current = "reading: value built on demand";
    req = clp_msg_json("{\"cmd\":\"echo\",\"args\":{\"s\":\"h\xc3\xa9 \\\"q\\\" \\\\\",\"n\":[1,-2.5e3,null,true,{}]}}");
    CHECK_EQ(clp_request(c, &req, &resp), 0);
    json_t *want = json_pack("{s:s,s:[i,f,n,b,{}]}", "s", "h\xc3\xa9 \"q\" \\", "n", 1, -2500.0, 1);
    CHECK(json_equal(json_object_get(value(&resp), "result"), want));
    CHECK(value(&resp) == value(&resp)); /* built once, then kept */
    json_decref(want);
    clp_msg_free(&resp);

    current = "reading: lines the recognizer leaves to jansson";
    /* a control character comes back as \u0001, which the recognizer defers */
    req = clp_msg_json("{\"cmd\":\"echo\",\"args\":{\"c\":\"\\u0001\"}}");
    CHECK_EQ(clp_request(c, &req, &resp), 0);
    CHECK(resp.data && strstr(resp.data, "\\u0001"));
    CHECK(!strcmp(json_string_value(json_object_get(json_object_get(value(&resp), "result"), "c")), "\x01"));
    clp_msg_free(&resp);
    /* a string id with an escape: matched after jansson decodes it */
    req = clp_msg_json("{\"id\":\"a\\\"b\",\"cmd\":\"ping\"}");
    CHECK_EQ(clp_request(c, &req, &resp), 0);
    CHECK(!strcmp(json_string_value(json_object_get(value(&resp), "id")), "a\"b"));
    clp_msg_free(&resp);
    /* a 19-digit id */
    req = clp_msg_json("{\"id\":9000000000000000001,\"cmd\":\"ping\"}");
    CHECK_EQ(clp_request(c, &req, &resp), 0);
    CHECK(json_integer_value(json_object_get(value(&resp), "id")) == 9000000000000000001LL);
    clp_msg_free(&resp);

    current = "reading: bad responses through clp_request";
    req = clp_msg_json("{\"cmd\":\"garbage\"}");
    CHECK_EQ(clp_request(c, &req, &resp), CLP_EPROTO);
    CHECK(resp.data == NULL);
    clp_last_error(c, &code, &msg);
    CHECK(code && !strcmp(code, "PROTOCOL"));
    CHECK(msg && strstr(msg, "malformed JSON")); /* jansson's explanation */
    CHECK(ping_ok(c));                           /* the late real answer is dropped */
    req = clp_msg_json("{\"cmd\":\"wrongid\"}");
    CHECK_EQ(clp_request(c, &req, &resp), CLP_EPROTO);
    clp_last_error(c, &code, &msg);
    CHECK(msg && strstr(msg, "\"not-yours\""));
    CHECK(ping_ok(c));
    req = clp_msg_json("{\"cmd\":\"badfd\"}");
    CHECK_EQ(clp_request(c, &req, &resp), CLP_EFD);
    CHECK(ping_ok(c));
    req = clp_msg_json("{\"cmd\":\"manyfds\",\"args\":{\"count\":0,\"announce\":\"1\"}}");
    CHECK_EQ(clp_request(c, &req, &resp), CLP_EPROTO);
    clp_last_error(c, &code, &msg);
    CHECK(msg && strstr(msg, "\"fds\""));
    CHECK(ping_ok(c));

    current = "reading: a remote error, its value built for clp_last_error";
    req = clp_msg_json("{\"cmd\":\"fail\",\"args\":{\"what\":\"w\xc3\xa9\"}}");
    CHECK_EQ(clp_request(c, &req, &resp), CLP_EREMOTE);
    clp_last_error(c, &code, &msg);
    CHECK(code && !strcmp(code, "NOT_FOUND"));
    CHECK(msg && !strcmp(msg, "No such thing: w\xc3\xa9"));
    CHECK(json_is_false(json_object_get(value(&resp), "ok")));
    clp_msg_free(&resp);
    clp_close(c);
}

/* Read one message with clp_read_message; return its parsed value (borrowed from *m) or NULL. */
static json_t *read_msg(clp_client_t *c, clp_msg_t *m) {
    int r = clp_read_message(c, 3000, m);
    CHECK_EQ(r, 0);
    return r == 0 ? value(m) : NULL;
}

/* The message's "id" as text ("null", "7", "\"x\"", or "-" when absent). */
static const char *id_of(json_t *v, char *buf, size_t n) {
    json_t *id = json_object_get(v, "id");
    if (!id) return "-";
    char *s = json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(buf, n, "%s", s ? s : "?");
    free(s);
    return buf;
}

static int next_id_is(clp_client_t *c, const char *want) {
    clp_msg_t m;
    char buf[64];
    json_t *v = read_msg(c, &m);
    int ok = v && !strcmp(id_of(v, buf, sizeof buf), want);
    if (!ok)
        fprintf(stderr, "  [%s] expected id %s, got %s\n", current, want, m.data ? m.data : "nothing");
    clp_msg_free(&m);
    return ok;
}

#define SEND_RAW(c, text) clp_send_raw((c), (text), sizeof(text) - 1)

static int str_is(json_t *s, const char *want) {
    return json_is_string(s) && !strcmp(json_string_value(s), want);
}

static void test_raw(void) {
    clp_client_t *c = connect_ok();
    clp_msg_t m;
    const char *code = NULL;
    int open_fds = count_fds();

    current = "raw: arguments";
    CHECK_EQ(clp_send_raw(NULL, "x\n", 2), CLP_EARG);
    CHECK_EQ(clp_send_raw(c, NULL, 3), CLP_EARG);
    CHECK_EQ(clp_send_raw(c, NULL, 0), 0); /* nothing to send */
    CHECK_EQ(clp_read_message(NULL, 0, &m), CLP_EARG);
    CHECK_EQ(clp_read_message(c, 0, NULL), CLP_EARG);
    CHECK_EQ(clp_read_message(c, -2, &m), CLP_EARG);
    CHECK(m.data == NULL);

    current = "raw: nothing to read";
    CHECK_EQ(clp_read_message(c, 0, &m), CLP_ETIMEDOUT);
    int64_t t0 = now_ms();
    CHECK_EQ(clp_read_message(c, 60, &m), CLP_ETIMEDOUT);
    CHECK(now_ms() - t0 >= 50);
    CHECK(m.data == NULL);
    clp_last_error(c, &code, NULL);
    CHECK(code && !strcmp(code, "TIMEOUT"));

    current = "raw: no id is inserted; id null comes back";
    CHECK_EQ(SEND_RAW(c, "{\"cmd\":\"ping\"}\n"), 0);
    json_t *v = read_msg(c, &m);
    CHECK(v && json_is_null(json_object_get(v, "id")));
    CHECK(m.data && !strcmp(m.data, "{\"ok\":true,\"id\":null,\"result\":{\"name\":\"testd\","
                                     "\"version\":\"0.1.0\",\"protocol\":0},\"name\":\"testd\","
                                     "\"version\":\"0.1.0\",\"protocol\":0}"));
    CHECK(m.data && m.len == strlen(m.data) && m.nfds == 0);
    clp_last_error(c, &code, NULL);
    CHECK(code == NULL);
    clp_msg_free(&m);

    current = "raw: several lines in one send, one line in several sends, CRLF and blanks";
    /* The minimal test server does not skip blank lines: its BAD_FRAME answers (id null) show
     * that the bytes went out as they were, blank lines and the CR included. */
    CHECK_EQ(SEND_RAW(c, "{\"id\":1,\"cmd\":\"ping\"}\n\n \t\r\n"
                         "{\"id\":\"two\",\"cmd\":\"echo\"}\r\n"),
             0);
    CHECK_EQ(SEND_RAW(c, "{\"id\":3,\"cm"), 0);
    CHECK(next_id_is(c, "1"));
    CHECK(next_id_is(c, "null"));
    CHECK(next_id_is(c, "null"));
    CHECK(next_id_is(c, "\"two\""));
    CHECK_EQ(clp_read_message(c, 50, &m), CLP_ETIMEDOUT); /* line 3 is incomplete */
    CHECK_EQ(SEND_RAW(c, "d\":\"ping\"}\n"), 0);
    CHECK(next_id_is(c, "3"));

    current = "raw: ids clp_request would match, duplicates, no matching at all";
    /* the library numbers its own requests 1, 2, ...: raw lines may reuse those ids */
    CHECK_EQ(SEND_RAW(c, "{\"id\":1,\"cmd\":\"echo\",\"args\":{\"k\":1}}\n"
                         "{\"id\":1,\"cmd\":\"echo\",\"args\":{\"k\":2}}\n"
                         "{\"id\":\"x\",\"cmd\":\"fail\",\"args\":{\"what\":\"w\"}}\n"),
             0);
    for (int k = 1; k <= 2; k++) {
        v = read_msg(c, &m);
        CHECK(v && json_integer_value(json_object_get(v, "id")) == 1);
        CHECK_EQ(json_integer_value(json_object_get(json_object_get(v, "result"), "k")), k);
        clp_msg_free(&m);
    }
    v = read_msg(c, &m); /* ok:false is a message like any other, not CLP_EREMOTE */
    CHECK(v && json_is_false(json_object_get(v, "ok")));
    clp_msg_free(&m);

    current = "raw: events and responses in arrival order";
    CHECK_EQ(SEND_RAW(c, "{\"id\":\"e\",\"cmd\":\"emit\",\"args\":{\"count\":2}}\n"), 0);
    for (int i = 0; i < 2; i++) {
        v = read_msg(c, &m);
        CHECK(str_is(json_object_get(v, "event"), "tick"));
        CHECK_EQ(json_integer_value(json_object_get(v, "n")), i);
        clp_msg_free(&m);
    }
    CHECK(next_id_is(c, "\"e\""));

    current = "raw: events queued during a request come first";
    json_t *args = json_pack("{s:i}", "count", 3);
    CHECK_EQ(clp_call(c, "emit", args, NULL), 0);
    json_decref(args);
    CHECK_EQ(SEND_RAW(c, "{\"id\":\"after\",\"cmd\":\"ping\"}\n"), 0);
    CHECK_EQ(clp_pending(c), 1);
    for (int i = 0; i < 3; i++) {
        v = read_msg(c, &m);
        CHECK(v && json_is_string(json_object_get(v, "event")));
        CHECK_EQ(json_integer_value(json_object_get(v, "n")), i);
        clp_msg_free(&m);
    }
    CHECK(next_id_is(c, "\"after\""));
    CHECK(ping_ok(c)); /* clp_request works again once the raw answers are read */

    current = "raw: sends are not limited by max_message";
    size_t big = 70000;
    char *line = malloc(big + 1);
    int k = snprintf(line, 64, "{\"id\":\"big\",\"cmd\":\"ping\",\"args\":{\"pad\":\"");
    memset(line + k, 'a', big - (size_t)k - 3);
    memcpy(line + big - 3, "\"}}", 3);
    line[big] = '\n';
    CHECK_EQ(clp_send_raw(c, line, big + 1), 0);
    CHECK(next_id_is(c, "\"big\""));
    /* the limit applies to what is received: a 70 KB echo back is skipped */
    k = snprintf(line, 64, "{\"id\":\"bigecho\",\"cmd\":\"echo\",\"args\":{\"pad\":\"");
    memset(line + k, 'a', big - (size_t)k - 3);
    memcpy(line + big - 3, "\"}}", 3);
    CHECK_EQ(clp_send_raw(c, line, big + 1), 0);
    free(line);
    CHECK_EQ(clp_read_message(c, 3000, &m), CLP_ETOOBIG);
    clp_last_error(c, &code, NULL);
    CHECK(code && !strcmp(code, "TOO_LARGE"));
    CHECK_EQ(SEND_RAW(c, "{\"id\":\"next\",\"cmd\":\"ping\"}\n"), 0);
    CHECK(next_id_is(c, "\"next\""));

    current = "raw: bad lines from the server are skipped, nothing else is lost";
    CHECK_EQ(SEND_RAW(c, "{\"id\":\"g\",\"cmd\":\"garbage\"}\n"), 0);
    CHECK_EQ(clp_read_message(c, 3000, &m), CLP_EPROTO);
    clp_last_error(c, &code, NULL);
    CHECK(code && !strcmp(code, "PROTOCOL"));
    CHECK(next_id_is(c, "\"g\"")); /* the real answer: not dropped, nothing was abandoned */
    CHECK_EQ(SEND_RAW(c, "{\"id\":\"bf\",\"cmd\":\"badfd\"}\n{\"id\":\"p\",\"cmd\":\"ping\"}\n"), 0);
    CHECK_EQ(clp_read_message(c, 3000, &m), CLP_EFD);
    CHECK(next_id_is(c, "\"p\""));

    current = "raw: FDs of a message";
    CHECK_EQ(SEND_RAW(c, "{\"id\":\"fb\",\"cmd\":\"fdback\",\"args\":{\"text\":\"raw fd\"}}\n"), 0);
    v = read_msg(c, &m);
    CHECK_EQ(m.nfds, 1);
    if (m.nfds == 1) {
        char buf[16] = {0};
        CHECK_EQ(pread(m.fds[0], buf, sizeof buf - 1, 0), 6);
        CHECK(!strcmp(buf, "raw fd"));
    }
    clp_msg_free(&m); /* closes it */
    CHECK_EQ(count_fds(), open_fds);

    current = "raw: late answers to abandoned requests are dropped";
    CHECK_EQ(clp_set_timeout(c, 100), 0);
    args = json_pack("{s:i}", "ms", 300);
    CHECK_EQ(clp_call(c, "slow", args, NULL), CLP_ETIMEDOUT);
    json_decref(args);
    CHECK_EQ(clp_set_timeout(c, 5000), 0);
    CHECK_EQ(SEND_RAW(c, "{\"id\":\"late\",\"cmd\":\"ping\"}\n"), 0);
    /* "slow" and the library's "cancel" are answered first; only "late" is returned */
    CHECK(next_id_is(c, "\"late\""));
    CHECK_EQ(clp_read_message(c, 50, &m), CLP_ETIMEDOUT);

    current = "raw: close";
    CHECK_EQ(SEND_RAW(c, "{\"id\":\"bye\",\"cmd\":\"close\"}\n"), 0);
    v = read_msg(c, &m); /* the event before the close; the half response after it is lost */
    CHECK(str_is(json_object_get(v, "event"), "bye"));
    clp_msg_free(&m);
    CHECK_EQ(clp_read_message(c, 3000, &m), CLP_ECLOSED);
    clp_last_error(c, &code, NULL);
    CHECK(code && !strcmp(code, "CLOSED"));
    CHECK_EQ(clp_read_message(c, 0, &m), CLP_ECLOSED);
    CHECK_EQ(SEND_RAW(c, "{\"cmd\":\"ping\"}\n"), CLP_ECLOSED);
    clp_close(c);

    current = "raw: shut down sending, read to the end";
    c = connect_ok();
    CHECK_EQ(clp_shutdown_send(NULL), CLP_EARG);
    CHECK_EQ(SEND_RAW(c, "{\"id\":\"s1\",\"cmd\":\"ping\"}\n{\"id\":\"s2\",\"cmd\":\"emit\","
                         "\"args\":{\"count\":1}}\n"),
             0);
    CHECK_EQ(clp_shutdown_send(c), 0);
    CHECK_EQ(clp_shutdown_send(c), 0); /* again: nothing more to do */
    CHECK_EQ(SEND_RAW(c, "{\"cmd\":\"ping\"}\n"), CLP_ECLOSED);
    clp_last_error(c, &code, NULL);
    CHECK(code && !strcmp(code, "CLOSED"));
    CHECK_EQ(clp_call(c, "ping", NULL, NULL), CLP_ECLOSED);
    CHECK(next_id_is(c, "\"s1\"")); /* what was sent before is still answered and readable */
    v = read_msg(c, &m);
    CHECK(str_is(json_object_get(v, "event"), "tick"));
    clp_msg_free(&m);
    CHECK(next_id_is(c, "\"s2\""));
    CHECK_EQ(clp_read_message(c, 3000, &m), CLP_ECLOSED); /* the server saw the end and closed */
    CHECK_EQ(clp_shutdown_send(c), 0);
    clp_close(c);
    c = connect_ok();
    CHECK_EQ(SEND_RAW(c, "{\"cmd\":\"close\"}\n"), 0);
    v = read_msg(c, &m);
    clp_msg_free(&m);
    CHECK_EQ(clp_read_message(c, 3000, &m), CLP_ECLOSED);
    CHECK_EQ(clp_shutdown_send(c), CLP_ECLOSED); /* closed already */
    clp_close(c);
    CHECK_EQ(count_fds(), open_fds - 1); /* open_fds was counted with one client open */

    current = "raw: send to a peer that is gone";
    c = connect_ok();
    CHECK_EQ(SEND_RAW(c, "{\"cmd\":\"close\"}\n"), 0);
    struct pollfd p = {.fd = clp_fd(c), .events = POLLIN};
    int64_t until = now_ms() + 3000; /* POLLIN comes at once (unread data): wait for POLLHUP */
    while (!(p.revents & POLLHUP) && now_ms() < until) {
        poll(&p, 1, 10);
        if (!(p.revents & POLLHUP)) usleep(1000);
    }
    CHECK(p.revents & POLLHUP);
    CHECK_EQ(SEND_RAW(c, "{\"cmd\":\"ping\"}\n"), CLP_ECLOSED);
    clp_last_error(c, &code, NULL);
    CHECK(code && !strcmp(code, "CLOSED"));
    CHECK_EQ(clp_read_message(c, 0, &m), CLP_ECLOSED);
    clp_close(c);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH_TO_TEST_SERVER\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int fds_before = count_fds();
    test_misc();
    start_server(argv[1]);
    test_connect_errors();
    test_addresses();
    clp_client_t *c = connect_ok();
    test_ping(c);
    test_request_forms(c);
    test_call(c);
    test_remote_error(c);
    test_subscribe(c);
    test_events_during_request(c);
    test_fd_send(c);
    test_fd_receive(c);
    clp_close(c);
    test_bad_server();
    test_request_reading();
    test_raw();
    stop_server();
    current = "fd leak";
    CHECK_EQ(count_fds(), fds_before);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
