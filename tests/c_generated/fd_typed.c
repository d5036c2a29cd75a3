/*
 * FD-carrying commands through the generated bindings, against live simulated services:
 * - compositord_bind_dmabuf(): a typed `int fd` member, sent as {"fd_index": 0} (clp_call_fds);
 * - blitterd_rect_fill(): the surface is a oneOf (json_t); blitterd_dmabuf_surface_to_json() writes
 *   its FD as {"fd_index": fd_base} and the FD travels in the args' `fds` member.
 * The FDs stay the caller's (borrowed). Run by scripts/test.d/45-c-generated.sh.
 *
 * Usage: fd_typed COMPOSITORD_SOCKET BLITTERD_SOCKET
 */
#define _GNU_SOURCE
#include "blitterd.h"
#include "compositord.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

static int zero_memfd(const char *name, size_t size) {
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
        perror("memfd");
        exit(1);
    }
    return fd;
}

static void compositord_part(const char *address) {
    clp_client_t *client = NULL;
    compositord_create_layer_result_t layer;
    compositord_bind_dmabuf_result_t bound;
    int rc = clp_connect2(address, NULL, &client);
    if (rc < 0) {
        fprintf(stderr, "connect %s: %s\n", address, clp_strerror(rc));
        failures++;
        return;
    }
    int fd = zero_memfd("dmabuf", 128 * 128 * 4);
    CHECK_RC(compositord_create_layer(client, &layer), 0);
    compositord_bind_dmabuf_args_t args = {
        .id = layer.id, .fd = fd, .w = 128, .h = 128, .format = COMPOSITORD_PIXEL_FORMAT_RGBA8, .stride = 512,
    };
    CHECK_RC(compositord_bind_dmabuf(client, &args, &bound), 0);
    CHECK(bound.id == layer.id && bound.bytes == 65536);
    CHECK(bound.checksum && strcmp(bound.checksum, "5e509dc5") == 0);
    compositord_bind_dmabuf_result_free(&bound);
    CHECK(fcntl(fd, F_GETFD) >= 0); /* still ours */

    /* A negative FD is refused before anything is sent. */
    args.fd = -1;
    CHECK_RC(compositord_bind_dmabuf(client, &args, &bound), CLP_EARG);
    /* An enum out of range too. */
    args.fd = fd;
    args.format = (compositord_pixel_format_t)99;
    CHECK_RC(compositord_bind_dmabuf(client, &args, &bound), CLP_EARG);
    close(fd);
    clp_close(client);
}

static void blitterd_part(const char *address) {
    clp_client_t *client = NULL;
    blitterd_rect_fill_result_t job;
    json_t *surface = NULL;
    int64_t sub = 0;
    int rc = clp_connect2(address, NULL, &client);
    if (rc < 0) {
        fprintf(stderr, "connect %s: %s\n", address, clp_strerror(rc));
        failures++;
        return;
    }
    int fd = zero_memfd("surface", 4 * 4 * 4);
    blitterd_dmabuf_surface_t dmabuf = { .fd = fd, .w = 4, .h = 4, .format = BLITTERD_PIXEL_FORMAT_RGBA8, .stride = 16 };
    CHECK_RC(blitterd_dmabuf_surface_to_json(&dmabuf, 0, &surface), 0);
    CHECK_RC(blitterd_subscribe(client, BLITTERD_EVENT_MASK_COMPLETE | BLITTERD_EVENT_MASK_ERROR, NULL, &sub), 0);

    int fds[1] = { fd };
    blitterd_rect_fill_args_t args = {
        .dst = surface,
        .rect = { .x = 1, .y = 1, .w = 2, .h = 2 },
        .color = { .r = 255, .g = 16, .b = 32, .a = 255 },
        .fds = fds,
        .fds_len = 1,
    };
    CHECK_RC(blitterd_rect_fill(client, &args, &job), 0);
    CHECK(job.job >= 1);

    clp_msg_t msg;
    blitterd_event_t ev;
    CHECK_RC(clp_read_event(client, 5000, &msg), 0);
    CHECK_RC(blitterd_event_decode(&msg, &ev), 0);
    CHECK(ev.kind == BLITTERD_EVENT_COMPLETE && ev.u.complete.job == job.job);
    blitterd_event_free(&ev);
    clp_msg_free(&msg);

    unsigned char px[64];
    CHECK(pread(fd, px, sizeof px, 0) == (ssize_t)sizeof px);
    CHECK(px[0] == 0 && px[3] == 0);                                 /* (0,0) untouched */
    CHECK(px[1 * 16 + 1 * 4 + 0] == 255 && px[1 * 16 + 1 * 4 + 3] == 255); /* (1,1) filled */
    CHECK(px[2 * 16 + 2 * 4 + 1] == 16 && px[2 * 16 + 2 * 4 + 2] == 32);   /* (2,2) filled */
    CHECK(px[3 * 16 + 3 * 4 + 0] == 0);                              /* (3,3) untouched */

    json_decref(surface);
    close(fd);
    clp_close(client);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s COMPOSITORD_SOCKET BLITTERD_SOCKET\n", argv[0]);
        return 2;
    }
    compositord_part(argv[1]);
    blitterd_part(argv[2]);
    if (failures > 0) {
        fprintf(stderr, "fd_typed: %d check(s) failed\n", failures);
        return 1;
    }
    printf("fd_typed: ok\n");
    return 0;
}
