/* libcopperline-ports against the TypeScript PortServer (tests/interop/serve.ts, Deno FFI).
 * Opt-in (`make interop`): it depends on the TS SDK and Deno. Usage: interop_client ADDRESS */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "cl_ports.h"

static int passed, failed;
#define CHECK(cond)                                                          \
    do {                                                                     \
        if (cond) {                                                          \
            passed++;                                                        \
        } else {                                                             \
            failed++;                                                        \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                    \
    } while (0)

static int is_code(clp_client_t *c, const char *want) {
    const char *code = NULL;
    clp_last_error(c, &code, NULL);
    return code && !strcmp(code, want);
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    clp_client_t *c;
    CHECK(clp_connect2(argv[1], NULL, &c) == 0);
    if (failed) return 1;
    char *name = NULL, *version = NULL;
    int proto = -1;
    CHECK(clp_ping(c, &name, &version, &proto) == 0);
    CHECK(name && !strcmp(name, "interop") && version && !strcmp(version, "1.0.0") && proto == 0);
    free(name);
    free(version);

    clp_msg_t req = clp_msg_json("{\"cmd\":\"echo\",\"args\":{\"x\":[1,2]}}"), resp;
    CHECK(clp_request(c, &req, &resp) == 0);
    CHECK(json_array_size(json_object_get(json_object_get(clp_msg_value(&resp), "result"), "x")) == 2);
    clp_msg_free(&resp);
    req = clp_msg_json("{\"cmd\":\"nope\"}");
    CHECK(clp_request(c, &req, &resp) == CLP_EREMOTE && is_code(c, "BAD_CMD"));
    clp_msg_free(&resp);
    req = clp_msg_json("{\"cmd\":\"echo\",\"flat\":1}");
    CHECK(clp_request(c, &req, &resp) == CLP_EREMOTE && is_code(c, "BAD_ARG"));
    clp_msg_free(&resp);
    req = clp_msg_json("{\"cmd\": broken");
    CHECK(clp_request(c, &req, &resp) == CLP_EREMOTE && is_code(c, "BAD_FRAME"));
    clp_msg_free(&resp);

    int fd = memfd_create("interop", MFD_CLOEXEC);
    CHECK(write(fd, "abc", 3) == 3);
    json_t *args = json_pack("{s:{s:i}}", "fd", "fd_index", 0), *res = NULL;
    CHECK(clp_call_fds(c, "fdsum", args, &fd, 1, &res, NULL, NULL) == 0);
    CHECK(json_integer_value(json_object_get(res, "sum")) == 294);
    json_decref(res);
    json_decref(args);
    close(fd);

    req = clp_msg_json("{\"cmd\":\"fdmake\",\"args\":{\"text\":\"from deno\"}}");
    CHECK(clp_request(c, &req, &resp) == 0);
    CHECK(resp.nfds == 1);
    if (resp.nfds == 1) {
        char b[32] = {0};
        CHECK(pread(resp.fds[0], b, sizeof b - 1, 0) == 9 && !strcmp(b, "from deno"));
    }
    clp_msg_free(&resp);

    const char *events[] = {"tick"};
    int64_t sub = 0;
    CHECK(clp_subscribe(c, events, 1, "{\"k\":[1,3]}", &sub) == 0 && sub > 0);
    args = json_pack("{s:i}", "n", 5);
    CHECK(clp_call(c, "burst", args, NULL) == 0);
    json_decref(args);
    clp_msg_t ev;
    int ks[8], n = 0;
    while (n < 8 && clp_read_event(c, 500, &ev) == 0) {
        ks[n++] = (int)json_integer_value(json_object_get(clp_msg_value(&ev), "k"));
        CHECK(json_integer_value(json_object_get(clp_msg_value(&ev), "sub")) == sub);
        clp_msg_free(&ev);
    }
    CHECK(n == 2 && ks[0] == 1 && ks[1] == 3); /* the filter k in [1,3] */
    CHECK(clp_unsubscribe(c, sub) == 0);
    CHECK(clp_unsubscribe(c, 999) == CLP_EREMOTE && is_code(c, "NOT_FOUND"));
    clp_close(c);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
