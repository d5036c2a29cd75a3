/*
 * The generated copperd binding (sdk/c/services/copperd.{h,c}) against a live simulated copperd:
 * load a program built from typed op structs, subscribe to irq, start it, read 3 irq events with
 * copperd_event_decode(), check status/list, stop and unload it; then the error paths (service
 * error, NULL arguments, events that do not match the schema). Run by scripts/test.d/45-c-generated.sh
 * (under valgrind when available).
 *
 * Usage: copperd_typed SOCKET
 */
#include "copperd.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
            failures++;                                                                \
        }                                                                              \
    } while (0)

#define CHECK_RC(expr, want)                                                                   \
    do {                                                                                       \
        int rc_ = (expr);                                                                      \
        if (rc_ != (want)) {                                                                   \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d\n", __FILE__, __LINE__,    \
                    #expr, rc_, clp_strerror(rc_), (want));                                    \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)

/* Builds the program [label loop, WAIT vsync, IRQ tick, JUMP loop] with the typed op structs. */
static int build_ops(json_t *ops[4]) {
    copperd_label_marker_t label = { .label = "loop" };
    copperd_wait_vsync_op_t wait = { .has_count = false };
    copperd_irq_op_t irq = { .tag = "tick" };
    copperd_jump_op_t jump = { .label = "loop" };
    int rc;
    if ((rc = copperd_label_marker_to_json(&label, &ops[0])) < 0) return rc;
    if ((rc = copperd_wait_vsync_op_to_json(&wait, &ops[1])) < 0) return rc;
    if ((rc = copperd_irq_op_to_json(&irq, &ops[2])) < 0) return rc;
    return copperd_jump_op_to_json(&jump, &ops[3]);
}

static void offline_checks(void) {
    copperd_event_t ev;
    clp_msg_t msg;
    json_t *j = NULL;
    copperd_irq_op_t bad = { .tag = NULL };

    /* A well-formed irq event built by hand. */
    msg = clp_msg_json("{\"event\":\"irq\",\"sub\":4,\"tag\":\"x\",\"prog\":2,\"usec\":10}");
    CHECK_RC(copperd_event_decode(&msg, &ev), 0);
    CHECK(ev.kind == COPPERD_EVENT_IRQ && ev.sub == 4 && ev.u.irq.prog == 2 && strcmp(ev.u.irq.tag, "x") == 0);
    copperd_event_free(&ev);
    CHECK(ev.kind == COPPERD_EVENT_UNKNOWN && ev.raw == NULL);

    /* Wrong-typed field, missing required field: CLP_EPROTO, nothing left allocated. */
    msg = clp_msg_json("{\"event\":\"irq\",\"sub\":4,\"tag\":\"x\",\"prog\":\"2\",\"usec\":10}");
    CHECK_RC(copperd_event_decode(&msg, &ev), CLP_EPROTO);
    CHECK(ev.raw == NULL && ev.kind == COPPERD_EVENT_UNKNOWN);
    msg = clp_msg_json("{\"event\":\"state\",\"sub\":1,\"state\":\"running\"}");
    CHECK_RC(copperd_event_decode(&msg, &ev), CLP_EPROTO);
    msg = clp_msg_json("{\"event\":\"state\",\"sub\":1,\"prog\":1,\"state\":\"exploded\"}");
    CHECK_RC(copperd_event_decode(&msg, &ev), CLP_EPROTO);
    msg = clp_msg_json("{\"event\":\"irq\",\"sub\":1,\"tag\":\"x\",\"prog\":1,\"usec\":1.5}");
    CHECK_RC(copperd_event_decode(&msg, &ev), CLP_EPROTO);

    /* Optional field present; enum decoded. */
    msg = clp_msg_json("{\"event\":\"state\",\"sub\":1,\"prog\":3,\"state\":\"error\",\"code\":\"WATCHDOG\"}");
    CHECK_RC(copperd_event_decode(&msg, &ev), 0);
    CHECK(ev.kind == COPPERD_EVENT_STATE && ev.u.state.state == COPPERD_PROGRAM_STATE_ERROR);
    CHECK(ev.u.state.has_code && strcmp(ev.u.state.code, "WATCHDOG") == 0);
    copperd_event_free(&ev);

    /* Unknown events are delivered untyped; dropped is decoded. */
    msg = clp_msg_json("{\"event\":\"future\",\"sub\":1,\"x\":1}");
    CHECK_RC(copperd_event_decode(&msg, &ev), 0);
    CHECK(ev.kind == COPPERD_EVENT_UNKNOWN && strcmp(ev.name, "future") == 0 && ev.raw != NULL);
    copperd_event_free(&ev);
    msg = clp_msg_json("{\"event\":\"dropped\",\"sub\":1,\"reason\":\"backpressure\",\"count\":7}");
    CHECK_RC(copperd_event_decode(&msg, &ev), 0);
    CHECK(ev.kind == COPPERD_EVENT_DROPPED && ev.u.dropped.count == 7);
    copperd_event_free(&ev);
    msg = clp_msg_json("[1,2]");
    CHECK_RC(copperd_event_decode(&msg, &ev), CLP_EPROTO);

    /* Enum helpers and argument checks. */
    copperd_program_state_t st;
    CHECK_RC(copperd_program_state_from_string("stopped", &st), 0);
    CHECK(st == COPPERD_PROGRAM_STATE_STOPPED);
    CHECK_RC(copperd_program_state_from_string("nope", &st), CLP_EARG);
    CHECK(strcmp(copperd_program_state_to_string(COPPERD_PROGRAM_STATE_RUNNING), "running") == 0);
    CHECK(copperd_program_state_to_string((copperd_program_state_t)42) == NULL);
    CHECK_RC(copperd_irq_op_to_json(&bad, &j), CLP_EARG);
    CHECK(j == NULL);
}

int main(int argc, char **argv) {
    clp_client_t *client = NULL;
    json_t *ops[4] = { NULL, NULL, NULL, NULL };
    copperd_load_result_t loaded;
    copperd_status_result_t status;
    copperd_list_result_t list;
    int64_t sub = 0;
    const char *code = NULL;
    int rc;

    offline_checks();
    if (argc < 2) {
        fprintf(stderr, "usage: %s SOCKET\n", argv[0]);
        return 2;
    }
    rc = clp_connect2(argv[1], NULL, &client);
    if (rc < 0) {
        fprintf(stderr, "connect %s: %s\n", argv[1], clp_strerror(rc));
        return 1;
    }

    CHECK_RC(build_ops(ops), 0);
    copperd_load_args_t load = { .program = { .version = 1, .program = ops, .program_len = 4 } };
    CHECK_RC(copperd_load(client, &load, &loaded), 0);
    CHECK(loaded.id >= 1);

    char filter[64];
    snprintf(filter, sizeof filter, "{\"prog\":%lld}", (long long)loaded.id);
    CHECK_RC(copperd_subscribe(client, COPPERD_EVENT_MASK_IRQ, filter, &sub), 0);
    CHECK(sub > 0);
    CHECK_RC(copperd_subscribe(client, 0, NULL, NULL), CLP_EARG);

    copperd_start_args_t start = { .id = loaded.id };
    CHECK_RC(copperd_start(client, &start), 0);

    for (int n = 0; n < 3; n++) {
        clp_msg_t msg;
        copperd_event_t ev;
        rc = clp_read_event(client, 5000, &msg);
        CHECK_RC(rc, 0);
        if (rc < 0) break;
        CHECK_RC(copperd_event_decode(&msg, &ev), 0);
        clp_msg_free(&msg);
        CHECK(ev.kind == COPPERD_EVENT_IRQ);
        if (ev.kind == COPPERD_EVENT_IRQ) {
            CHECK(ev.sub == sub);
            CHECK(strcmp(ev.u.irq.tag, "tick") == 0);
            CHECK(ev.u.irq.prog == loaded.id);
            printf("irq %d: tag=%s prog=%lld usec=%lld\n", n, ev.u.irq.tag, (long long)ev.u.irq.prog,
                   (long long)ev.u.irq.usec);
        }
        copperd_event_free(&ev);
    }

    copperd_status_args_t sargs = { .id = loaded.id };
    CHECK_RC(copperd_status(client, &sargs, &status), 0);
    CHECK(status.id == loaded.id && status.state == COPPERD_PROGRAM_STATE_RUNNING);
    copperd_status_result_free(&status);

    CHECK_RC(copperd_list(client, &list), 0);
    CHECK(list.programs_len >= 1);
    bool found = false;
    for (size_t i = 0; i < list.programs_len; i++) found = found || list.programs[i].id == loaded.id;
    CHECK(found);
    copperd_list_result_free(&list);
    CHECK(list.programs == NULL && list.programs_len == 0);

    copperd_stop_args_t stop = { .id = loaded.id };
    CHECK_RC(copperd_stop(client, &stop), 0);
    CHECK_RC(clp_unsubscribe(client, sub), 0);
    copperd_unload_args_t unload = { .id = loaded.id };
    CHECK_RC(copperd_unload(client, &unload), 0);

    /* Service errors come back as CLP_EREMOTE with the code from clp_last_error(). */
    copperd_status_args_t gone = { .id = loaded.id };
    CHECK_RC(copperd_status(client, &gone, &status), CLP_EREMOTE);
    CHECK(clp_last_error(client, &code, NULL) == 0 && code && strcmp(code, "NOT_FOUND") == 0);
    CHECK(status.code == NULL);

    /* A program the service rejects, and NULL arguments. */
    copperd_load_args_t empty = { .program = { .version = 1, .program = NULL, .program_len = 0 } };
    CHECK_RC(copperd_load(client, &empty, &loaded), CLP_EREMOTE);
    CHECK_RC(copperd_start(client, NULL), CLP_EARG);
    CHECK_RC(copperd_list(NULL, &list), CLP_EARG);

    for (int i = 0; i < 4; i++) json_decref(ops[i]);
    clp_close(client);
    if (failures > 0) {
        fprintf(stderr, "copperd_typed: %d check(s) failed\n", failures);
        return 1;
    }
    printf("copperd_typed: ok\n");
    return 0;
}
