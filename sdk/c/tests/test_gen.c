/*
 * Unit tests of the support API for generated bindings (cl_ports_gen.h): FD numbering and
 * decoding (take / duplicate), string copies, the event envelope and `dropped`, and the release of
 * received FDs. No server needed; run by `make test` (also under valgrind).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cl_ports.h"
#include "cl_ports_gen.h"

static int passed = 0, failed = 0;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (cond) {                                                                  \
            passed++;                                                                \
        } else {                                                                     \
            failed++;                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

static int is_open(int fd) {
    return fcntl(fd, F_GETFD) >= 0;
}

static void test_put_fd(void) {
    clp_gen_fds_t fds = { .n = 0 };
    json_t *j = NULL;
    CHECK(clp_gen_put_fd(&fds, 7, &j) == 0);
    CHECK(json_integer_value(json_object_get(j, "fd_index")) == 0);
    json_decref(j);
    CHECK(clp_gen_put_fd(&fds, 9, &j) == 0);
    CHECK(json_integer_value(json_object_get(j, "fd_index")) == 1);
    CHECK(fds.n == 2 && fds.v[0] == 7 && fds.v[1] == 9);
    json_decref(j);
    CHECK(clp_gen_put_fd(&fds, -1, &j) == CLP_EARG && j == NULL);
    CHECK(clp_gen_put_fd(NULL, 3, &j) == CLP_EFD && j == NULL);
    fds.n = CLP_MAX_FDS_PER_MESSAGE;
    CHECK(clp_gen_put_fd(&fds, 3, &j) == CLP_EFD && j == NULL);
}

static void test_set(void) {
    json_t *o = json_object();
    CHECK(clp_gen_set(o, "n", json_integer(5), CLP_ENOMEM) == 0);
    CHECK(json_integer_value(json_object_get(o, "n")) == 5);
    CHECK(clp_gen_set(o, "n", json_string("again"), CLP_ENOMEM) == 0); /* replaces, frees the old */
    CHECK(json_is_string(json_object_get(o, "n")));
    CHECK(clp_gen_set(o, "s", json_string("\xff not UTF-8"), CLP_EARG) == CLP_EARG); /* NULL value */
    CHECK(clp_gen_set(o, "r", json_real(0.0 / 0.0), CLP_EARG) == CLP_EARG);       /* NaN */
    CHECK(clp_gen_set(o, "\xff", json_integer(1), CLP_ENOMEM) == CLP_ENOMEM); /* bad key: value released */
    CHECK(json_object_size(o) == 1);
    json_decref(o);
}

static void test_fds_append(void) {
    clp_gen_fds_t fds = { .n = 0 };
    int v[3] = { 4, 5, 6 };
    json_t *j = NULL;
    CHECK(clp_gen_fds_append(&fds, v, 3) == 0 && fds.n == 3 && fds.v[2] == 6);
    CHECK(clp_gen_fds_append(&fds, NULL, 0) == 0 && fds.n == 3);
    CHECK(clp_gen_fds_append(&fds, NULL, 1) == CLP_EARG);
    CHECK(clp_gen_fds_append(NULL, v, 1) == CLP_EARG);
    /* typed FDs are numbered after the appended ones */
    CHECK(clp_gen_put_fd(&fds, 8, &j) == 0 && json_integer_value(json_object_get(j, "fd_index")) == 3);
    json_decref(j);
    fds.n = CLP_MAX_FDS_PER_MESSAGE - 2;
    CHECK(clp_gen_fds_append(&fds, v, 3) == CLP_EARG && fds.n == CLP_MAX_FDS_PER_MESSAGE - 2);
    CHECK(clp_gen_fds_append(&fds, v, 2) == 0 && fds.n == CLP_MAX_FDS_PER_MESSAGE);
}

static void test_get_fd(void) {
    int p[2];
    CHECK(pipe(p) == 0);
    int *arr = malloc(2 * sizeof *arr);
    arr[0] = p[0];
    arr[1] = p[1];
    clp_gen_rfds_t rf = { arr, 2, false };
    json_t *ref1 = json_pack("{s:i}", "fd_index", 1), *bad = json_pack("{s:i}", "fd_index", 2);
    json_t *neg = json_pack("{s:i}", "fd_index", -1), *notobj = json_integer(0);
    json_t *noidx = json_pack("{s:s}", "fd_index", "x");
    int fd = -1;
    CHECK(clp_gen_get_fd(ref1, &rf, &fd) == 0 && fd == p[1] && arr[1] == -1);
    CHECK(clp_gen_get_fd(ref1, &rf, &fd) == CLP_EFD); /* already taken */
    CHECK(clp_gen_get_fd(bad, &rf, &fd) == CLP_EFD);
    CHECK(clp_gen_get_fd(neg, &rf, &fd) == CLP_EFD);
    CHECK(clp_gen_get_fd(notobj, &rf, &fd) == CLP_EPROTO);
    CHECK(clp_gen_get_fd(noidx, &rf, &fd) == CLP_EPROTO);
    CHECK(clp_gen_get_fd(ref1, NULL, &fd) == CLP_EFD);
    close(p[1]);
    /* release closes what was not taken and frees the array */
    clp_gen_rfds_release(&rf);
    CHECK(rf.fds == NULL && rf.n == 0 && !is_open(p[0]));
    clp_gen_rfds_release(NULL);

    /* dup: the owner keeps its FD, the caller gets a CLOEXEC copy */
    CHECK(pipe(p) == 0);
    int own[2] = { p[0], p[1] };
    clp_gen_rfds_t rd = { own, 2, true };
    fd = -1;
    CHECK(clp_gen_get_fd(ref1, &rd, &fd) == 0 && fd >= 0 && fd != p[1] && own[1] == p[1]);
    CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    close(fd);
    clp_gen_rfds_release(&rd); /* borrowed: nothing closed */
    CHECK(is_open(p[0]) && is_open(p[1]));
    close(p[0]);
    close(p[1]);
    json_decref(ref1);
    json_decref(bad);
    json_decref(neg);
    json_decref(notobj);
    json_decref(noidx);
}

static void test_get_string(void) {
    json_t *s = json_stringn("a\0b", 3), *n = json_integer(1);
    char *out = NULL;
    CHECK(clp_gen_get_string(s, &out) == 0 && memcmp(out, "a\0b", 4) == 0);
    free(out);
    out = NULL;
    CHECK(clp_gen_get_string(n, &out) == CLP_EPROTO && out == NULL);
    CHECK(clp_gen_get_string(NULL, &out) == CLP_EPROTO);
    json_decref(s);
    json_decref(n);
}

static void test_event_open(void) {
    json_t *root = NULL;
    const char *name = NULL;
    int64_t sub = -1;
    clp_gen_rfds_t rf = { NULL, 0, false };
    clp_msg_t m = clp_msg_json("{\"event\":\"tick\",\"sub\":12,\"n\":3}");
    CHECK(clp_gen_event_open(&m, &root, &name, &sub, &rf) == 0);
    CHECK(strcmp(name, "tick") == 0 && sub == 12 && rf.dup && rf.n == 0);
    json_decref(root);

    m = clp_msg_json("{\"event\":\"tick\"}");
    CHECK(clp_gen_event_open(&m, &root, &name, &sub, &rf) == 0 && sub == 0);
    json_decref(root);

    root = NULL;
    const char *bad[] = { "{\"event\":1}", "{\"sub\":1}", "{\"event\":\"x\",\"sub\":\"1\"}", "[1]", "not json" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        m = clp_msg_json(bad[i]);
        CHECK(clp_gen_event_open(&m, &root, &name, &sub, &rf) == CLP_EPROTO && root == NULL);
    }
    CHECK(clp_gen_event_open(NULL, &root, &name, &sub, &rf) == CLP_EARG);
    m.data = NULL;
    CHECK(clp_gen_event_open(&m, &root, &name, &sub, &rf) == CLP_EARG);
}

static void test_event_dropped(void) {
    json_t *ok = json_pack("{s:s,s:i,s:s}", "event", "dropped", "count", 5, "reason", "backpressure");
    json_t *bare = json_pack("{s:s}", "event", "dropped");
    json_t *bad = json_pack("{s:s,s:s}", "event", "dropped", "count", "5");
    int64_t count = -1;
    const char *reason = "x";
    CHECK(clp_gen_event_dropped(ok, &count, &reason) == 0 && count == 5 && strcmp(reason, "backpressure") == 0);
    CHECK(clp_gen_event_dropped(bare, &count, &reason) == 0 && count == 0 && reason == NULL);
    CHECK(clp_gen_event_dropped(bad, &count, &reason) == CLP_EPROTO);
    CHECK(clp_gen_event_dropped(NULL, &count, &reason) == CLP_EARG);
    json_decref(ok);
    json_decref(bare);
    json_decref(bad);
}

int main(void) {
    test_set();
    test_put_fd();
    test_fds_append();
    test_get_fd();
    test_get_string();
    test_event_open();
    test_event_dropped();
    printf("test_gen: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
