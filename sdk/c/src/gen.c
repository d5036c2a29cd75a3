/* Support for generated service bindings (cl_ports_gen.h): the helpers every generated .c used to
 * carry as its own copy. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "cl_ports_gen.h"

int clp_gen_put_fd(clp_gen_fds_t *fds, int fd, json_t **ret) {
    if (ret) *ret = NULL;
    if (!ret || fd < 0) return CLP_EARG;
    if (!fds || fds->n >= CLP_MAX_FDS_PER_MESSAGE) return CLP_EFD;
    *ret = json_pack("{s:I}", "fd_index", (json_int_t)fds->n);
    if (!*ret) return CLP_ENOMEM;
    fds->v[fds->n++] = fd;
    return 0;
}

int clp_gen_set(json_t *obj, const char *key, json_t *value, int rc_if_null) {
    if (!value) return rc_if_null < 0 ? rc_if_null : CLP_ENOMEM;
    /* json_object_set_new takes the value in every case: stored, or released on failure. */
    return json_object_set_new(obj, key, value) < 0 ? CLP_ENOMEM : 0;
}

int clp_gen_fds_append(clp_gen_fds_t *fds, const int *v, size_t n) {
    if (!fds || (n > 0 && !v) || fds->n > CLP_MAX_FDS_PER_MESSAGE ||
        n > CLP_MAX_FDS_PER_MESSAGE - fds->n)
        return CLP_EARG;
    for (size_t i = 0; i < n; i++) fds->v[fds->n++] = v[i];
    return 0;
}

int clp_gen_get_fd(json_t *j, clp_gen_rfds_t *fds, int *ret) {
    json_t *idx = json_object_get(j, "fd_index");
    json_int_t i;
    if (!ret) return CLP_EARG;
    if (!json_is_object(j) || !json_is_integer(idx)) return CLP_EPROTO;
    i = json_integer_value(idx);
    if (!fds || !fds->fds || i < 0 || (size_t)i >= fds->n || fds->fds[i] < 0) return CLP_EFD;
    if (fds->dup) {
        int fd = fcntl(fds->fds[i], F_DUPFD_CLOEXEC, 0);
        if (fd < 0) return -errno;
        *ret = fd;
    } else {
        *ret = fds->fds[i];
        fds->fds[i] = -1;
    }
    return 0;
}

int clp_gen_get_string(json_t *j, char **ret) {
    size_t n;
    if (!ret) return CLP_EARG;
    if (!json_is_string(j)) return CLP_EPROTO;
    n = json_string_length(j);
    *ret = malloc(n + 1);
    if (!*ret) return CLP_ENOMEM;
    memcpy(*ret, json_string_value(j), n + 1);
    return 0;
}

int clp_gen_call(clp_client_t *client, const char *cmd, json_t *args, const clp_gen_fds_t *fds,
                 json_t **ret_result, clp_gen_rfds_t *ret_rfds) {
    int *rfd = NULL;
    size_t nrfd = 0;
    int rc;
    if (ret_rfds) {
        ret_rfds->fds = NULL;
        ret_rfds->n = 0;
        ret_rfds->dup = false;
    }
    rc = clp_call_fds(client, cmd, args, fds ? fds->v : NULL, fds ? fds->n : 0, ret_result,
                      ret_rfds ? &rfd : NULL, ret_rfds ? &nrfd : NULL);
    json_decref(args);
    if (ret_rfds) {
        ret_rfds->fds = rfd;
        ret_rfds->n = nrfd;
    }
    return rc;
}

void clp_gen_rfds_release(clp_gen_rfds_t *rfds) {
    if (!rfds || rfds->dup) return;
    for (size_t i = 0; rfds->fds && i < rfds->n; i++)
        if (rfds->fds[i] >= 0) close(rfds->fds[i]);
    free(rfds->fds);
    rfds->fds = NULL;
    rfds->n = 0;
}

int clp_gen_event_open(const clp_msg_t *msg, json_t **ret_root, const char **ret_name,
                       int64_t *ret_sub, clp_gen_rfds_t *ret_rfds) {
    json_t *root, *jname, *jsub;
    if (!msg || !ret_root || !ret_name || !ret_sub || !ret_rfds) return CLP_EARG;
    root = clp_msg_value(msg);
    if (root) {
        json_incref(root);
    } else {
        if (!msg->data) return CLP_EARG;
        root = json_loadb(msg->data, msg->len, 0, NULL);
        if (!root) return CLP_EPROTO;
    }
    jname = json_object_get(root, "event");
    jsub = json_object_get(root, "sub");
    if (!json_is_object(root) || !json_is_string(jname) || (jsub && !json_is_integer(jsub))) {
        json_decref(root);
        return CLP_EPROTO;
    }
    *ret_root = root;
    *ret_name = json_string_value(jname);
    *ret_sub = jsub ? (int64_t)json_integer_value(jsub) : 0;
    ret_rfds->fds = msg->fds;
    ret_rfds->n = msg->nfds;
    ret_rfds->dup = true;
    return 0;
}

int clp_gen_event_dropped(json_t *root, int64_t *ret_count, const char **ret_reason) {
    json_t *jc, *jr;
    if (!root || !ret_count || !ret_reason) return CLP_EARG;
    jc = json_object_get(root, "count");
    jr = json_object_get(root, "reason");
    *ret_count = json_is_integer(jc) ? (int64_t)json_integer_value(jc) : 0;
    *ret_reason = json_is_string(jr) ? json_string_value(jr) : NULL;
    return (jc && !json_is_integer(jc)) || (jr && !json_is_string(jr)) ? CLP_EPROTO : 0;
}
