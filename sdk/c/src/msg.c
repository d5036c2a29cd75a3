/* Messages, error strings and version of libcopperline-ports. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, memfd_create, accept4, MSG_CMSG_CLOEXEC */
#endif
#include <string.h>

#include "internal.h"

const char *clp_version(void) {
    return CLP_VERSION_STRING;
}

const char *clp_strerror(int code) {
    switch (code) {
    case 0: return "Success";
    case CLP_EPROTO: return "Protocol error: the server sent a malformed or unexpected message";
    case CLP_ETOOBIG: return "Message too large";
    case CLP_ETIMEDOUT: return "Timed out waiting for the server";
    case CLP_ECLOSED: return "Connection closed";
    case CLP_EREMOTE: return "The server answered with an error (see clp_last_error)";
    case CLP_EARG: return "Invalid argument";
    case CLP_ENOMEM: return "Out of memory";
    case CLP_EFD: return "File descriptor error";
    default: break;
    }
    if (code < 0 && code > -4096) return strerror(-code);
    return "Unknown error code";
}

clp_msg_t clp_msg_json_n(const char *text, size_t len) {
    clp_msg_t m;
    memset(&m, 0, sizeof m);
    m.data = text;
    m.len = len;
    return m;
}

clp_msg_t clp_msg_json(const char *text) {
    return clp_msg_json_n(text, text ? strlen(text) : 0);
}

void clp__msg_from_in(clp_msg_t *msg, clp__in *in) {
    memset(msg, 0, sizeof *msg);
    in->next = NULL;
    msg->data = in->line;
    msg->len = in->len;
    msg->fds = in->nfds ? in->fds : NULL;
    msg->nfds = in->nfds;
    msg->internal_ = in;
}

void clp_msg_free(clp_msg_t *msg) {
    if (!msg) return;
    clp__in_free((clp__in *)msg->internal_); /* closes the FDs not taken (entries != -1) */
    memset(msg, 0, sizeof *msg);
}

int clp_msg_take_fd(clp_msg_t *msg, size_t index, int *ret_fd) {
    if (ret_fd) *ret_fd = -1;
    if (!msg || !ret_fd) return CLP_EARG;
    if (index >= msg->nfds || !msg->fds || msg->fds[index] < 0) return CLP_EFD;
    *ret_fd = msg->fds[index];
    msg->fds[index] = -1;
    return 0;
}

json_t *clp_msg_value(const clp_msg_t *msg) {
    if (!msg || !msg->internal_) return NULL;
    return clp__in_value((clp__in *)msg->internal_);
}
