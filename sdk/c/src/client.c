/* Connection, requests, calls and events of libcopperline-ports. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, memfd_create, accept4, MSG_CMSG_CLOEXEC */
#endif
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

/* ---- errors of the last call -------------------------------------------------------------- */

void clp__clear_error(clp_client_t *c) {
    free(c->err_code);
    free(c->err_message);
    c->err_code = c->err_message = NULL;
}

void clp__set_error(clp_client_t *c, const char *code, const char *fmt, ...) {
    clp__clear_error(c);
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    c->err_code = strdup(code);
    c->err_message = strdup(buf);
}

static void set_remote_error(clp_client_t *c, clp__in *in) {
    json_t *err = json_object_get(clp__in_value(in), "error");
    const char *code = NULL, *message = NULL;
    if (json_is_object(err)) {
        code = json_string_value(json_object_get(err, "code"));
        message = json_string_value(json_object_get(err, "message"));
    } else if (json_is_string(err)) { /* pre-v0 services: a bare string */
        code = message = json_string_value(err);
    }
    clp__clear_error(c);
    c->err_code = strdup(code ? code : "INTERNAL");
    c->err_message = strdup(message ? message : "The server reported an error without a message");
}

int clp_last_error(const clp_client_t *c, const char **ret_code, const char **ret_message) {
    if (!c) return CLP_EARG;
    if (ret_code) *ret_code = c->err_code;
    if (ret_message) *ret_message = c->err_message;
    return 0;
}

/* ---- connecting ---------------------------------------------------------------------------- */

void clp_options_init(clp_options_t *o) {
    if (!o) return;
    o->timeout_ms = CLP_DEFAULT_TIMEOUT_MS;
    o->max_message = CLP_DEFAULT_MAX_MESSAGE;
    o->max_events = CLP_DEFAULT_MAX_EVENTS;
}

static int is_service_name(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-')) return 0;
    return 1;
}

/* Turn a path or "@abstract" into a sockaddr_un. */
static int make_addr(const char *target, struct sockaddr_un *sa, socklen_t *ret_len) {
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    size_t n = strlen(target);
    if (n == 0) return CLP_EARG;
    if (target[0] == '@') { /* abstract: exact length, no NUL padding */
        if (n - 1 + 1 > sizeof sa->sun_path) return -ENAMETOOLONG;
        sa->sun_path[0] = '\0';
        memcpy(sa->sun_path + 1, target + 1, n - 1);
        *ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
        return 0;
    }
    if (n + 1 > sizeof sa->sun_path) return -ENAMETOOLONG;
    memcpy(sa->sun_path, target, n + 1);
    *ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

static int resolve(const char *address, struct sockaddr_un *sa, socklen_t *ret_len) {
    if (address[0] != '@' && is_service_name(address)) {
        char var[256];
        size_t n = strlen(address);
        if (n + sizeof "_SOCKET" > sizeof var) return -ENAMETOOLONG;
        for (size_t i = 0; i < n; i++)
            var[i] = address[i] == '-' ? '_' : (char)toupper((unsigned char)address[i]);
        memcpy(var + n, "_SOCKET", sizeof "_SOCKET");
        const char *env = getenv(var);
        if (env && *env) return make_addr(env, sa, ret_len);
        char path[sizeof sa->sun_path + 1];
        int k = snprintf(path, sizeof path, "/run/copperline/%s.sock", address);
        if (k < 0 || (size_t)k >= sizeof path) return -ENAMETOOLONG;
        return make_addr(path, sa, ret_len);
    }
    return make_addr(address, sa, ret_len);
}

int clp_connect2(const char *address, const clp_options_t *opts, clp_client_t **ret_client) {
    if (!ret_client) return CLP_EARG;
    *ret_client = NULL;
    if (!address || !*address) return CLP_EARG;
    clp_options_t o;
    clp_options_init(&o);
    if (opts) {
        if (opts->timeout_ms < CLP_TIMEOUT_INFINITE) return CLP_EARG;
        if (opts->timeout_ms) o.timeout_ms = opts->timeout_ms;
        if (opts->max_message) o.max_message = opts->max_message;
        if (opts->max_events) o.max_events = opts->max_events;
    }
    if (o.max_message > (SIZE_MAX >> 2)) return CLP_EARG;

    struct sockaddr_un sa;
    socklen_t salen;
    int r = resolve(address, &sa, &salen);
    if (r < 0) return r;

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (o.timeout_ms > 0) { /* bounds a connect() that waits for a full backlog */
        struct timeval tv = {.tv_sec = o.timeout_ms / 1000, .tv_usec = (o.timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    for (;;) {
        if (connect(fd, (struct sockaddr *)&sa, salen) == 0) break;
        int e = errno;
        if (e == EINTR) continue; /* AF_UNIX connect restarts from scratch */
        if (e == EISCONN) break;
        close(fd);
        return (e == EAGAIN || e == EINPROGRESS) ? CLP_ETIMEDOUT : -e;
    }
    struct timeval zero = {0, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &zero, sizeof zero);
    /* The socket stays blocking: sends use MSG_DONTWAIT (+ poll), receives a blocking recvmsg
     * bounded by SO_RCVTIMEO, or MSG_DONTWAIT for a zero timeout. */

    clp_client_t *c = calloc(1, sizeof *c);
    if (c) {
        c->rcap = o.max_message + 2 + CLP__READ_CHUNK;
        c->rbuf = malloc(c->rcap);
        c->fdq_cap = CLP__MAX_HELD_FDS;
        c->fdq = calloc(c->fdq_cap, sizeof *c->fdq);
    }
    if (!c || !c->rbuf || !c->fdq) {
        if (c) {
            free(c->rbuf);
            free(c->fdq);
            free(c);
        }
        close(fd);
        return CLP_ENOMEM;
    }
    c->fd = fd;
    c->timeout_ms = o.timeout_ms;
    c->max_message = o.max_message;
    c->max_events = o.max_events;
    c->next_id = 1;
    *ret_client = c;
    return 0;
}

clp_client_t *clp_connect(const char *address) {
    clp_client_t *c;
    int r = clp_connect2(address, NULL, &c);
    if (r == 0) return c;
    errno = r > -4096 ? -r : r == CLP_ETIMEDOUT ? ETIMEDOUT : r == CLP_ENOMEM ? ENOMEM : EINVAL;
    return NULL;
}

void clp_close(clp_client_t *c) {
    if (!c) return;
    if (c->fd >= 0) close(c->fd);
    clp__fdq_close_all(c);
    while (c->evq_head) {
        clp__in *in = c->evq_head;
        c->evq_head = in->next;
        clp__in_free(in);
    }
    for (size_t i = 0; i < c->nabandoned; i++) clp__id_clear(&c->abandoned[i]);
    clp__clear_error(c);
    free(c->fdq);
    free(c->rbuf);
    free(c);
}

int clp_fd(const clp_client_t *c) {
    return c ? c->fd : CLP_EARG;
}

int clp_set_timeout(clp_client_t *c, int timeout_ms) {
    if (!c || timeout_ms == 0 || timeout_ms < CLP_TIMEOUT_INFINITE) return CLP_EARG;
    c->timeout_ms = timeout_ms;
    return 0;
}

int clp_pending(const clp_client_t *c) {
    return c && (c->evq_head != NULL || clp__has_line(c));
}

uint64_t clp_events_dropped(const clp_client_t *c) {
    return c ? c->events_dropped : 0;
}

/* ---- request/response matching ------------------------------------------------------------ */

static void abandon(clp_client_t *c, const clp__id *id) {
    if (c->nabandoned == CLP__MAX_ABANDONED) {
        clp__id_clear(&c->abandoned[0]);
        memmove(c->abandoned, c->abandoned + 1, (CLP__MAX_ABANDONED - 1) * sizeof(clp__id));
        c->nabandoned--;
    }
    if (clp__id_copy(&c->abandoned[c->nabandoned], id) == 0) c->nabandoned++;
}

/* If id belongs to an abandoned request, forget it and return 1. */
static int unabandon(clp_client_t *c, const clp__id *id) {
    if (id->kind != CLP__ID_INT && id->kind != CLP__ID_STR) return 0;
    for (size_t i = 0; i < c->nabandoned; i++) {
        if (clp__id_equal(&c->abandoned[i], id)) {
            clp__id_clear(&c->abandoned[i]);
            memmove(c->abandoned + i, c->abandoned + i + 1,
                    (c->nabandoned - i - 1) * sizeof(clp__id));
            c->nabandoned--;
            return 1;
        }
    }
    return 0;
}

static void enqueue_event(clp_client_t *c, clp__in *in) {
    if (c->evq_len >= c->max_events) {
        c->events_dropped++;
        clp__in_free(in);
        return;
    }
    in->next = NULL;
    if (c->evq_tail)
        c->evq_tail->next = in;
    else
        c->evq_head = in;
    c->evq_tail = in;
    c->evq_len++;
}

static char *id_text(const clp__id *id, char *buf, size_t n) {
    if (id->kind == CLP__ID_INT)
        snprintf(buf, n, "%lld", (long long)id->n);
    else if (id->kind == CLP__ID_STR)
        snprintf(buf, n, "\"%s\"", id->s);
    else
        snprintf(buf, n, "%s", id->kind == CLP__ID_NULL ? "null" : "(not an integer or string)");
    return buf;
}

/* id as a new jansson value. */
static json_t *id_json(const clp__id *id) {
    return id->kind == CLP__ID_STR ? json_string(id->s) : json_integer((json_int_t)id->n);
}

/* After a timeout, ask the server to cancel request `id` (PROTOCOL.md section 5), best effort and
 * without waiting. The cancel gets an id of its own, abandoned at once, so its answer and the late
 * answer of the cancelled request are both dropped when they arrive. */
static void send_cancel(clp_client_t *c, const clp__id *id) {
    clp__id cid = {CLP__ID_INT, c->next_id++, NULL};
    json_t *req = json_pack("{s:I,s:s,s:{s:o}}", "id", (json_int_t)cid.n, "cmd", "cancel", "args",
                            "id", id_json(id));
    char *line = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (line && clp__send_line(c, line, strlen(line), NULL, 0, clp__now_ms()) == 0)
        abandon(c, &cid);
    free(line);
}

/* Whether JSON text might hold an "id" or "fds" key: it has one of them in quotes, or a \u
 * escape that could spell one. One pass instead of three memmem() calls, which cost more than
 * the rest of building a short request. */
static int may_name_id_or_fds(const char *s, size_t n) {
    for (const char *p = s, *end = s + n; p < end; p++) {
        if (*p == '"') {
            if (end - p >= 4 && p[1] == 'i' && p[2] == 'd' && p[3] == '"') return 1;
            if (end - p >= 5 && p[1] == 'f' && p[2] == 'd' && p[3] == 's' && p[4] == '"') return 1;
        } else if (*p == '\\' && p + 1 < end && p[1] == 'u') {
            return 1;
        }
    }
    return 0;
}

/* Decimal digits of v at out (at most 20 bytes, no NUL); returns their count. */
static size_t fmt_i64(char *out, int64_t v) {
    char tmp[20];
    size_t n = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t k = 0;
    if (v < 0) out[k++] = '-';
    while (n) out[k++] = tmp[--n];
    return k;
}

/* Send one line and wait for the response whose id equals `id` (borrowed). On 0 and CLP_EREMOTE
 * *ret_in holds the response. */
static int roundtrip(clp_client_t *c, const char *line, size_t len, int nl, const clp__id *id,
                     const int *fds, size_t nfds, int want_value, clp__in **ret_in) {
    *ret_in = NULL;
    char idbuf[64];
    if (len > c->max_message) {
        clp__set_error(c, "TOO_LARGE", "Request of %zu bytes is over the limit of %zu", len,
                       c->max_message);
        return CLP_ETOOBIG;
    }
    int64_t deadline = clp__deadline(c->timeout_ms);
    int r = nl ? clp__send_raw(c, line, len + 1, fds, nfds, deadline)
               : clp__send_line(c, line, len, fds, nfds, deadline);
    if (r < 0) return r;
    for (;;) {
        clp__in *in;
        r = clp__next_in(c, deadline, want_value, &in);
        if (r < 0) {
            if (r == CLP_ETIMEDOUT)
                clp__set_error(c, "TIMEOUT", "No response to request %s within %d ms",
                               id_text(id, idbuf, sizeof idbuf), c->timeout_ms);
            else if (r == CLP_ECLOSED)
                clp__set_error(c, "CLOSED", "The connection closed before the response arrived");
            if (r != CLP_ECLOSED) abandon(c, id); /* its response may still come: drop it then */
            if (r == CLP_ETIMEDOUT && !c->closed) {
                char *code = c->err_code, *message = c->err_message; /* keep TIMEOUT */
                c->err_code = c->err_message = NULL;
                send_cancel(c, id);
                clp__clear_error(c);
                c->err_code = code;
                c->err_message = message;
            }
            return r;
        }
        if (in->env.is_event) {
            enqueue_event(c, in);
            continue;
        }
        const clp__id *rid = &in->env.id;
        if (rid->kind != CLP__ID_NONE && rid->kind != CLP__ID_NULL && !clp__id_equal(rid, id)) {
            if (unabandon(c, rid)) {
                clp__in_free(in);
                continue;
            }
            clp__set_error(c, "PROTOCOL", "Server answered request id %s, which is not in flight",
                           id_text(rid, idbuf, sizeof idbuf));
            clp__in_free(in);
            abandon(c, id);
            return CLP_EPROTO;
        }
        /* Ours (a null id is the server's answer to a line it could not read: ours). */
        if (in->fd_err) {
            clp__in_free(in);
            clp__set_error(c, "BAD_FD", "The response announced more file descriptors than arrived");
            return CLP_EFD;
        }
        *ret_in = in;
        if (in->env.ok == 1) {
            clp__clear_error(c);
            return 0;
        }
        set_remote_error(c, in);
        return CLP_EREMOTE;
    }
}

int clp_request_fds(clp_client_t *c, const clp_msg_t *req, const int *fds, size_t nfds,
                    clp_msg_t *ret_resp) {
    if (ret_resp) memset(ret_resp, 0, sizeof *ret_resp);
    if (!c || !req || !req->data || (nfds && !fds)) return CLP_EARG;
    clp__clear_error(c);
    if (nfds > CLP_MAX_FDS_PER_MESSAGE) {
        clp__set_error(c, "BAD_FD", "At most %d file descriptors per message",
                       CLP_MAX_FDS_PER_MESSAGE);
        return CLP_EFD;
    }
    for (size_t i = 0; i < nfds; i++) {
        if (fds[i] < 0 || fcntl(fds[i], F_GETFD) < 0) {
            clp__set_error(c, "BAD_FD", "File descriptor %zu to send is invalid", i);
            return CLP_EFD;
        }
    }
    if (c->closed) {
        clp__set_error(c, "CLOSED", "The connection is closed");
        return CLP_ECLOSED;
    }
    /* The text is sent as given; only the envelope fields the library owns are inserted right
     * after the opening brace, and raw newlines (whitespace outside strings) become spaces.
     * jansson parses the text only when it may hold an "id" or "fds" key (or a \u escape that
     * could spell one); otherwise it need not be parsed here and the server judges it
     * (malformed text is answered with BAD_FRAME). */
    const char *data = req->data;
    size_t dlen = req->len, p = 0;
    while (p < dlen && (data[p] == ' ' || data[p] == '\t' || data[p] == '\n' || data[p] == '\r')) p++;
    if (p == dlen || data[p] != '{') {
        clp__set_error(c, "BAD_ARG", "The request is not a JSON object");
        return CLP_EARG;
    }
    size_t q = p + 1;
    while (q < dlen && (data[q] == ' ' || data[q] == '\t' || data[q] == '\n' || data[q] == '\r')) q++;
    int empty = q < dlen && data[q] == '}';
    json_t *obj = NULL, *id = NULL, *jfds = NULL;
    if (may_name_id_or_fds(data, dlen)) {
        json_error_t jerr;
        obj = json_loadb(data, dlen, 0, &jerr);
        if (!obj || !json_is_object(obj)) {
            clp__set_error(c, "BAD_ARG", "The request is not a JSON object%s%s", obj ? "" : ": ",
                           obj ? "" : jerr.text);
            json_decref(obj);
            return CLP_EARG;
        }
        id = json_object_get(obj, "id");
        jfds = json_object_get(obj, "fds");
        empty = json_object_size(obj) == 0;
    }
    char ins[64];
    size_t nins = 0;
    clp__id myid = {CLP__ID_INT, 0, NULL};
    if (id) {
        if (json_is_integer(id)) {
            myid.n = json_integer_value(id);
        } else if (json_is_string(id)) {
            myid.kind = CLP__ID_STR;
            myid.s = (char *)json_string_value(id); /* borrowed from obj, released below */
        } else {
            json_decref(obj);
            clp__set_error(c, "BAD_ARG", "The request id must be a string or an integer");
            return CLP_EARG;
        }
    } else {
        myid.n = c->next_id++;
        memcpy(ins, "\"id\":", 5);
        nins = 5 + fmt_i64(ins + 5, myid.n);
        ins[nins++] = ',';
    }
    if (jfds && (!json_is_integer(jfds) || json_integer_value(jfds) != (json_int_t)nfds)) {
        json_decref(obj);
        clp__set_error(c, "BAD_ARG", "The request's \"fds\" does not match the %zu FDs sent", nfds);
        return CLP_EARG;
    }
    if (!jfds && nfds > 0) {
        memcpy(ins + nins, "\"fds\":", 6);
        nins += 6 + fmt_i64(ins + nins + 6, (int64_t)nfds);
        ins[nins++] = ',';
    }
    if (nins > 0 && empty) nins--; /* "{}" gets no trailing comma */

    /* The line goes out in one piece: brace, inserted fields, the rest, '\n'. */
    size_t len = dlen + nins;
    char small[1024], *buf = len + 1 <= sizeof small ? small : malloc(len + 1);
    if (!buf) {
        json_decref(obj);
        return CLP_ENOMEM;
    }
    memcpy(buf, data, p + 1); /* up to and including the opening brace */
    memcpy(buf + p + 1, ins, nins);
    memcpy(buf + p + 1 + nins, data + p + 1, dlen - p - 1);
    if (memchr(buf, '\n', len) || memchr(buf, '\r', len))
        for (size_t i = 0; i < len; i++)
            if (buf[i] == '\n' || buf[i] == '\r') buf[i] = ' ';
    buf[len] = '\n';
    clp__in *in;
    int r = roundtrip(c, buf, len, 1, &myid, fds, nfds, 0, &in);
    if (buf != small) free(buf);
    json_decref(obj); /* after roundtrip: a string myid points into it */
    if (in) {
        if (ret_resp)
            clp__msg_from_in(ret_resp, in);
        else
            clp__in_free(in);
    }
    return r;
}

int clp_request(clp_client_t *c, const clp_msg_t *req, clp_msg_t *ret_resp) {
    return clp_request_fds(c, req, NULL, 0, ret_resp);
}

/* Build and send {"id","cmd","fds","args"}; on 0/CLP_EREMOTE *ret_in is the response. */
static int call_in(clp_client_t *c, const char *cmd, json_t *args, const int *fds, size_t nfds,
                   clp__in **ret_in) {
    *ret_in = NULL;
    if (!c || !cmd || (args && !json_is_object(args)) || (nfds && !fds)) return CLP_EARG;
    clp__clear_error(c);
    if (nfds > CLP_MAX_FDS_PER_MESSAGE) return CLP_EFD;
    for (size_t i = 0; i < nfds; i++) {
        if (fds[i] < 0 || fcntl(fds[i], F_GETFD) < 0) {
            clp__set_error(c, "BAD_FD", "File descriptor %zu to send is invalid", i);
            return CLP_EFD;
        }
    }
    if (c->closed) {
        clp__set_error(c, "CLOSED", "The connection is closed");
        return CLP_ECLOSED;
    }
    clp__id id = {CLP__ID_INT, c->next_id++, NULL};
    json_t *req = json_object();
    if (!req) return CLP_ENOMEM;
    int bad = json_object_set_new(req, "id", json_integer((json_int_t)id.n)) |
              json_object_set_new(req, "cmd", json_string(cmd));
    if (nfds) bad |= json_object_set_new(req, "fds", json_integer((json_int_t)nfds));
    if (args) bad |= json_object_set(req, "args", args);
    char *line = bad ? NULL : json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!line) {
        clp__set_error(c, "BAD_ARG", "Could not encode the request (is cmd valid UTF-8?)");
        return CLP_EARG;
    }
    int r = roundtrip(c, line, strlen(line), 0, &id, fds, nfds, 1, ret_in);
    free(line);
    return r;
}

static json_t *take_result(clp__in *in) {
    json_t *res = json_object_get(in->obj, "result");
    return res ? json_incref(res) : json_object();
}

int clp_call_fds(clp_client_t *c, const char *cmd, json_t *args, const int *fds, size_t nfds,
                 json_t **ret_result, int **ret_fds, size_t *ret_nfds) {
    if (ret_result) *ret_result = NULL;
    if (ret_fds) *ret_fds = NULL;
    if (ret_nfds) *ret_nfds = 0;
    clp__in *in;
    int r = call_in(c, cmd, args, fds, nfds, &in);
    if (r == 0) {
        if (ret_result) *ret_result = take_result(in);
        if (ret_fds && in->nfds) {
            *ret_fds = in->fds;
            if (ret_nfds) *ret_nfds = in->nfds;
            in->fds = NULL;
            in->nfds = 0;
        }
    }
    clp__in_free(in);
    return r;
}

int clp_call(clp_client_t *c, const char *cmd, json_t *args, json_t **ret_result) {
    return clp_call_fds(c, cmd, args, NULL, 0, ret_result, NULL, NULL);
}

int clp_subscribe(clp_client_t *c, const char *const *events, size_t n, const char *filter_json,
                  int64_t *ret_sub) {
    if (ret_sub) *ret_sub = 0;
    if (!c || !events || n == 0) return CLP_EARG;
    json_t *args;
    if (filter_json) {
        json_error_t jerr;
        args = json_loads(filter_json, 0, &jerr);
        if (!json_is_object(args) || json_object_get(args, "events")) {
            json_decref(args);
            clp__set_error(c, "BAD_ARG", "The filter must be a JSON object without \"events\"");
            return CLP_EARG;
        }
    } else {
        args = json_object();
    }
    json_t *arr = json_array();
    if (!args || !arr) {
        json_decref(args);
        json_decref(arr);
        return CLP_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (!events[i] || json_array_append_new(arr, json_string(events[i])) < 0) {
            json_decref(args);
            json_decref(arr);
            return CLP_EARG;
        }
    }
    json_object_set_new(args, "events", arr);
    json_t *res;
    int r = clp_call(c, "subscribe", args, &res);
    json_decref(args);
    if (r < 0) return r;
    json_t *sub = json_object_get(res, "sub");
    if (!json_is_integer(sub)) {
        json_decref(res);
        clp__set_error(c, "PROTOCOL", "The subscribe result has no integer \"sub\"");
        return CLP_EPROTO;
    }
    if (ret_sub) *ret_sub = json_integer_value(sub);
    json_decref(res);
    return 0;
}

int clp_unsubscribe(clp_client_t *c, int64_t sub) {
    if (!c) return CLP_EARG;
    json_t *args = json_pack("{s:I}", "sub", (json_int_t)sub);
    if (!args) return CLP_ENOMEM;
    int r = clp_call(c, "unsubscribe", args, NULL);
    json_decref(args);
    return r;
}

int clp_ping(clp_client_t *c, char **ret_name, char **ret_version, int *ret_protocol) {
    if (ret_name) *ret_name = NULL;
    if (ret_version) *ret_version = NULL;
    if (ret_protocol) *ret_protocol = -1;
    clp__in *in;
    int r = call_in(c, "ping", NULL, NULL, 0, &in);
    if (r < 0) {
        clp__in_free(in);
        return r;
    }
    /* result per PROTOCOL.md section 5; the seed's flat form as a fallback */
    json_t *src = json_object_get(in->obj, "result");
    if (!json_is_string(json_object_get(src, "name"))) src = in->obj;
    const char *name = json_string_value(json_object_get(src, "name"));
    const char *version = json_string_value(json_object_get(src, "version"));
    json_t *proto = json_object_get(src, "protocol");
    if (!name || !version || !json_is_integer(proto)) {
        clp__in_free(in);
        clp__set_error(c, "PROTOCOL", "The ping answer lacks name, version or protocol");
        return CLP_EPROTO;
    }
    char *n = ret_name ? strdup(name) : NULL, *v = ret_version ? strdup(version) : NULL;
    if ((ret_name && !n) || (ret_version && !v)) {
        free(n);
        free(v);
        clp__in_free(in);
        return CLP_ENOMEM;
    }
    if (ret_name) *ret_name = n;
    if (ret_version) *ret_version = v;
    if (ret_protocol) *ret_protocol = (int)json_integer_value(proto);
    clp__in_free(in);
    return 0;
}

/* ---- events -------------------------------------------------------------------------------- */

/* Take the oldest queued event, if any. */
static clp__in *dequeue_event(clp_client_t *c) {
    clp__in *in = c->evq_head;
    if (!in) return NULL;
    c->evq_head = in->next;
    if (!c->evq_head) c->evq_tail = NULL;
    c->evq_len--;
    return in;
}

/* Hand a received message to the caller, unless it announced more FDs than arrived. */
static int deliver(clp_client_t *c, clp__in *in, clp_msg_t *ret_msg) {
    if (in->fd_err) {
        int ev = in->env.is_event;
        clp__in_free(in);
        clp__set_error(c, "BAD_FD", "%s announced more file descriptors than arrived",
                       ev ? "An event" : "A response");
        return CLP_EFD;
    }
    clp__msg_from_in(ret_msg, in);
    return 0;
}

int clp_read_event(clp_client_t *c, int timeout_ms, clp_msg_t *ret_event) {
    if (ret_event) memset(ret_event, 0, sizeof *ret_event);
    if (!c || !ret_event || timeout_ms < CLP_TIMEOUT_INFINITE) return CLP_EARG;
    clp__in *in = dequeue_event(c);
    if (in) return deliver(c, in, ret_event);
    int64_t deadline = clp__deadline(timeout_ms);
    for (;;) {
        int r = clp__next_in(c, deadline, 1, &in);
        if (r < 0) return r;
        if (in->env.is_event) return deliver(c, in, ret_event);
        /* A response while no request waits: a late answer to an abandoned request, or junk. */
        int known = (in->env.id.kind != CLP__ID_NONE && in->env.id.kind != CLP__ID_NULL)
                        ? unabandon(c, &in->env.id)
                        : c->nabandoned > 0;
        clp__in_free(in);
        if (known) continue;
        clp__set_error(c, "PROTOCOL", "Server sent a response while no request was in flight");
        return CLP_EPROTO;
    }
}

/* ---- raw messages -------------------------------------------------------------------------- */

int clp_send_raw(clp_client_t *c, const void *data, size_t len) {
    if (!c || (!data && len > 0)) return CLP_EARG;
    clp__clear_error(c);
    return clp__send_raw(c, (const char *)data, len, NULL, 0, clp__deadline(c->timeout_ms));
}

int clp_shutdown_send(clp_client_t *c) {
    if (!c) return CLP_EARG;
    clp__clear_error(c);
    if (c->send_shut) return 0;
    if (c->closed) {
        clp__set_error(c, "CLOSED", "The connection is closed");
        return CLP_ECLOSED;
    }
    if (shutdown(c->fd, SHUT_WR) < 0) {
        int e = errno;
        if (e == ENOTCONN) {
            clp__mark_closed(c);
            clp__set_error(c, "CLOSED", "The connection is closed");
            return CLP_ECLOSED;
        }
        return -e;
    }
    c->send_shut = 1;
    return 0;
}

int clp_read_message(clp_client_t *c, int timeout_ms, clp_msg_t *ret_msg) {
    if (ret_msg) memset(ret_msg, 0, sizeof *ret_msg);
    if (!c || !ret_msg || timeout_ms < CLP_TIMEOUT_INFINITE) return CLP_EARG;
    clp__clear_error(c);
    clp__in *in = dequeue_event(c); /* received before anything still in the socket */
    if (in) return deliver(c, in, ret_msg);
    int64_t deadline = clp__deadline(timeout_ms);
    for (;;) {
        int r = clp__next_in(c, deadline, 0, &in);
        if (r == CLP_ETIMEDOUT) clp__set_error(c, "TIMEOUT", "No message within %d ms", timeout_ms);
        if (r < 0) return r;
        if (!in->env.is_event) {
            /* The late answer to a request the library gave up on (or to the cancel it sent
             * then) was promised to be dropped; every other response is the caller's. */
            if (unabandon(c, &in->env.id)) {
                clp__in_free(in);
                continue;
            }
        }
        return deliver(c, in, ret_msg);
    }
}
