/* Framing, FD queue and socket I/O of libcopperline-ports (PROTOCOL.md sections 2 and 7). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, memfd_create, accept4, MSG_CMSG_CLOEXEC */
#endif
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

int64_t clp__now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Absolute deadline in ms for a relative timeout; -1 means none. */
int64_t clp__deadline(int timeout_ms) {
    if (timeout_ms < 0) return -1;
    return clp__now_ms() + timeout_ms;
}

void clp__mark_closed(clp_client_t *c) {
    c->closed = 1;
}

/* ---- FD queue ---------------------------------------------------------------------------- */

static void fdq_push(clp_client_t *c, int fd, uint64_t recv_end) {
    if (c->fdq_len >= c->fdq_cap) {
        /* Over the per-connection quota: the FD is lost, so the next line with fds fails. */
        close(fd);
        c->fd_trunc = 1;
        if (recv_end > c->fd_trunc_end) c->fd_trunc_end = recv_end;
        return;
    }
    size_t i = (c->fdq_head + c->fdq_len) % c->fdq_cap;
    c->fdq[i].fd = fd;
    c->fdq[i].recv_end = recv_end;
    c->fdq_len++;
}

static int fdq_pop(clp_client_t *c) {
    int fd = c->fdq[c->fdq_head].fd;
    c->fdq_head = (c->fdq_head + 1) % c->fdq_cap;
    c->fdq_len--;
    return fd;
}

void clp__fdq_close_all(clp_client_t *c) {
    while (c->fdq_len > 0) close(fdq_pop(c));
}

/* A line without fds ended at stream offset `end`: FDs whose recvmsg ended at or before it cannot
 * belong to any later line, so nobody will claim them. */
static void fdq_close_stale(clp_client_t *c, uint64_t end) {
    while (c->fdq_len > 0 && c->fdq[c->fdq_head].recv_end <= end) close(fdq_pop(c));
}

/* ---- reading ----------------------------------------------------------------------------- */

static int wait_fd(clp_client_t *c, short events, int64_t deadline) {
    for (;;) {
        int t = -1;
        if (deadline >= 0) {
            int64_t rem = deadline - clp__now_ms();
            t = rem < 0 ? 0 : rem > INT_MAX ? INT_MAX : (int)rem;
        }
        struct pollfd p = {.fd = c->fd, .events = events, .revents = 0};
        int r = poll(&p, 1, t);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (r == 0) return CLP_ETIMEDOUT;
        return 0; /* readable, writable, HUP or ERR: the following call reports which */
    }
}

/* Keep SO_RCVTIMEO close to the time left: reset it only when it is more than 2 ms too long (the
 * deadline would be overshot) or much too short (spurious wake-ups), so the usual request costs
 * no setsockopt. ms == 0 means no timeout. */
static void set_rcvtimeo(clp_client_t *c, int ms) {
    int cur = c->rcvtimeo_ms;
    if (cur == ms) return;
    if (cur != 0 && ms != 0 && cur <= ms + 2 && cur + 50 >= ms) return;
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0) c->rcvtimeo_ms = ms;
}

/* Read once into the buffer (waiting until the deadline). Sets c->closed at EOF. */
static int fill(clp_client_t *c, int64_t deadline) {
    if (c->rpos == c->rlen) {
        c->rpos = c->rlen = c->scan = 0;
    } else if (c->rpos > 0 && c->rcap - c->rlen < CLP__READ_CHUNK) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->scan -= c->rpos;
        c->rpos = 0;
    }
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * CLP_MAX_FDS_PER_MESSAGE)];
    } ctl;
    for (;;) {
        /* One blocking recvmsg bounded by SO_RCVTIMEO (cheaper than poll + recvmsg); past the
         * deadline only a non-blocking attempt is made. */
        int flags = MSG_CMSG_CLOEXEC;
        int64_t rem = deadline < 0 ? 0 : deadline - clp__now_ms();
        if (deadline >= 0 && rem <= 0)
            flags |= MSG_DONTWAIT;
        else
            set_rcvtimeo(c, deadline < 0 ? 0 : rem > INT_MAX ? INT_MAX : (int)rem);
        struct iovec iov = {.iov_base = c->rbuf + c->rlen, .iov_len = c->rcap - c->rlen};
        struct msghdr mh;
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof ctl.buf;
        ssize_t n = recvmsg(c->fd, &mh, flags);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (deadline >= 0 && clp__now_ms() >= deadline) return CLP_ETIMEDOUT;
                continue;
            }
            if (errno == EINTR) continue;
            int e = errno;
            clp__mark_closed(c);
            return (e == ECONNRESET || e == EPIPE) ? 0 : -e;
        }
        uint64_t recv_end = c->total_in + (uint64_t)n;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
            size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
                fdq_push(c, fd, recv_end);
            }
        }
        if (mh.msg_flags & MSG_CTRUNC) {
            c->fd_trunc = 1;
            if (recv_end > c->fd_trunc_end) c->fd_trunc_end = recv_end;
        }
        if (n == 0) {
            clp__mark_closed(c);
            return 0;
        }
        c->total_in = recv_end;
        c->rlen += (size_t)n;
        return 0;
    }
}

/* Stream offset of buffer position pos. */
static uint64_t offset_of(const clp_client_t *c, size_t pos) {
    return c->total_in - (uint64_t)(c->rlen - pos);
}

int clp__has_line(const clp_client_t *c) {
    return !c->discarding && c->rlen > c->scan && memchr(c->rbuf + c->scan, '\n', c->rlen - c->scan);
}

/* Next non-blank line (without "\n" / "\r\n"); the pointer is valid until the next read. */
static int get_line(clp_client_t *c, int64_t deadline, char **ret_line, size_t *ret_len,
                    uint64_t *ret_start, uint64_t *ret_end) {
    for (;;) {
        char *base = c->rbuf;
        if (c->discarding) {
            char *nl = memchr(base + c->rpos, '\n', c->rlen - c->rpos);
            if (nl) {
                c->rpos = c->scan = (size_t)(nl - base) + 1;
                c->discarding = 0;
                fdq_close_stale(c, offset_of(c, c->rpos));
                clp__set_error(c, "TOO_LARGE", "Received a line longer than %zu bytes; skipped",
                               c->max_message);
                return CLP_ETOOBIG;
            }
            c->rpos = c->rlen = c->scan = 0; /* drop what we have, memory stays bounded */
        } else {
            char *nl = memchr(base + c->scan, '\n', c->rlen - c->scan);
            if (nl) {
                size_t start = c->rpos, len = (size_t)(nl - base) - start;
                c->rpos = c->scan = (size_t)(nl - base) + 1;
                uint64_t end = offset_of(c, c->rpos);
                if (len > 0 && base[start + len - 1] == '\r') len--;
                if (len > c->max_message) {
                    fdq_close_stale(c, end);
                    clp__set_error(c, "TOO_LARGE",
                                   "Received a line of %zu bytes, over the limit of %zu; skipped",
                                   len, c->max_message);
                    return CLP_ETOOBIG;
                }
                size_t i = 0;
                while (i < len && (base[start + i] == ' ' || base[start + i] == '\t')) i++;
                if (i == len) { /* blank line: ignored */
                    fdq_close_stale(c, end);
                    continue;
                }
                *ret_line = base + start;
                *ret_len = len;
                *ret_start = offset_of(c, start);
                *ret_end = end;
                return 0;
            }
            c->scan = c->rlen;
            if (c->rlen - c->rpos > c->max_message + 1) { /* +1: a possible '\r' */
                c->discarding = 1;
                c->rpos = c->rlen = c->scan = 0;
                continue;
            }
        }
        if (c->closed) {
            /* A partial line at close is discarded; nothing can claim the FDs any more. */
            c->rpos = c->rlen = c->scan = 0;
            c->discarding = 0;
            clp__fdq_close_all(c);
            clp__set_error(c, "CLOSED", "The connection is closed");
            return CLP_ECLOSED;
        }
        int r = fill(c, deadline);
        if (r < 0) return r;
    }
}

/* ---- ids ----------------------------------------------------------------------------------- */

int clp__id_equal(const clp__id *a, const clp__id *b) {
    if (a->kind != b->kind) return 0;
    if (a->kind == CLP__ID_INT) return a->n == b->n;
    if (a->kind == CLP__ID_STR) return strcmp(a->s, b->s) == 0;
    return a->kind == CLP__ID_NONE || a->kind == CLP__ID_NULL;
}

int clp__id_copy(clp__id *dst, const clp__id *src) {
    *dst = *src;
    if (src->kind == CLP__ID_STR && !(dst->s = strdup(src->s))) {
        dst->kind = CLP__ID_NONE;
        return CLP_ENOMEM;
    }
    return 0;
}

void clp__id_clear(clp__id *id) {
    if (id->kind == CLP__ID_STR) free(id->s);
    id->kind = CLP__ID_NONE;
    id->s = NULL;
}

/* ---- parsing ------------------------------------------------------------------------------- */

void clp__in_free(clp__in *in) {
    if (!in) return;
    json_decref(in->obj);
    clp__id_clear(&in->env.id);
    for (size_t i = 0; i < in->nfds; i++)
        if (in->fds[i] >= 0) close(in->fds[i]);
    free(in->fds);
    free(in);
}

json_t *clp__in_value(clp__in *in) {
    if (!in->obj_tried) {
        in->obj_tried = 1;
        in->obj = json_loadb(in->line, in->len, 0, NULL);
        if (in->obj && !json_is_object(in->obj)) {
            json_decref(in->obj);
            in->obj = NULL;
        }
    }
    return in->obj;
}

static int envelope_jansson(json_t *root, clp__envelope *e) {
    json_t *id = json_object_get(root, "id"), *ok = json_object_get(root, "ok"),
           *fds = json_object_get(root, "fds");
    if (json_is_integer(id)) {
        e->id.kind = CLP__ID_INT;
        e->id.n = json_integer_value(id);
    } else if (json_is_string(id)) {
        if (!(e->id.s = strdup(json_string_value(id)))) return CLP_ENOMEM;
        e->id.kind = CLP__ID_STR;
    } else if (id) {
        e->id.kind = json_is_null(id) ? CLP__ID_NULL : CLP__ID_OTHER;
    }
    e->ok = json_is_boolean(ok) ? json_is_true(ok) : -1;
    e->is_event = json_is_string(json_object_get(root, "event"));
    if (fds) {
        json_int_t v = json_is_integer(fds) ? json_integer_value(fds) : -1;
        e->fds = v >= 0 && v <= CLP_MAX_FDS_PER_MESSAGE ? (int64_t)v : -2;
    }
    return 0;
}

/* Read, frame and parse the next message, with its FDs claimed from the queue. */
int clp__next_in(clp_client_t *c, int64_t deadline, int want_value, clp__in **ret_in) {
    *ret_in = NULL;
    char *line;
    size_t len;
    uint64_t start, end;
    int r = get_line(c, deadline, &line, &len, &start, &end);
    if (r < 0) return r;
    /* FDs lost to MSG_CTRUNC / the quota came with a line starting before fd_trunc_end. */
    if (c->fd_trunc && start >= c->fd_trunc_end) c->fd_trunc = 0;

    clp__in *in = malloc(sizeof *in + len + 1);
    if (!in) {
        fdq_close_stale(c, end);
        return CLP_ENOMEM;
    }
    memset(in, 0, sizeof *in);
    in->line = in->text;
    memcpy(in->line, line, len);
    in->line[len] = '\0';
    in->len = len;

    clp__envelope e;
    clp__envelope_init(&e);
    int bad = 0; /* 1 malformed, 2 not an object */
    r = want_value ? 0 : clp__scan_object(in->line, len, &e);
    if (r == 0) {
        /* The caller needs the json_t, or the fast recognizer was not sure: jansson decides. */
        json_error_t jerr;
        in->obj_tried = 1;
        in->obj = json_loadb(in->line, len, 0, &jerr);
        if (!in->obj)
            bad = 1;
        else if (!json_is_object(in->obj))
            bad = 2;
        else
            r = envelope_jansson(in->obj, &e);
        if (bad == 1)
            clp__set_error(c, "PROTOCOL", "Server sent malformed JSON: %s", jerr.text);
    } else if (r > 0) {
        r = 0;
    }
    if (bad || r < 0 || e.fds == -2) {
        fdq_close_stale(c, end);
        clp__id_clear(&e.id);
        clp__in_free(in);
        if (r < 0) return r;
        if (bad == 2) clp__set_error(c, "PROTOCOL", "Server sent a JSON value that is not an object");
        if (!bad) clp__set_error(c, "PROTOCOL", "Server sent an invalid \"fds\" field");
        return CLP_EPROTO;
    }
    in->env = e;
    size_t nfds = e.fds > 0 ? (size_t)e.fds : 0;
    if (nfds && !(in->fds = malloc(nfds * sizeof(int)))) {
        fdq_close_stale(c, end);
        clp__in_free(in);
        return CLP_ENOMEM;
    }
    if (nfds == 0) {
        fdq_close_stale(c, end);
    } else {
        if (c->fd_trunc || c->fdq_len < nfds) in->fd_err = 1;
        c->fd_trunc = 0;
        while (in->nfds < nfds && c->fdq_len > 0) in->fds[in->nfds++] = fdq_pop(c);
    }
    if (!e.is_event && e.ok < 0) {
        clp__in_free(in);
        clp__set_error(c, "PROTOCOL", "Server sent an object that is neither a response nor an event");
        return CLP_EPROTO;
    }
    *ret_in = in;
    return 0;
}

/* ---- writing ----------------------------------------------------------------------------- */

/* Send data (plus a '\n' if add_nl) and its FDs; the FDs go with the first sendmsg. */
static int send_bytes(clp_client_t *c, const char *line, size_t len, int add_nl, const int *fds,
                      size_t nfds, int64_t deadline) {
    if (c->closed) {
        clp__set_error(c, "CLOSED", "The connection is closed");
        return CLP_ECLOSED;
    }
    if (c->send_shut) {
        clp__set_error(c, "CLOSED", "The sending side of the connection is shut down");
        return CLP_ECLOSED;
    }
    static const char nl = '\n';
    struct iovec iov[2] = {{.iov_base = (void *)line, .iov_len = len},
                           {.iov_base = (void *)&nl, .iov_len = add_nl ? 1 : 0}};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * CLP_MAX_FDS_PER_MESSAGE)];
    } ctl;
    size_t total = len + (add_nl ? 1 : 0), sent = 0, first_iov = 0;
    if (total == 0) return 0;
    for (;;) {
        struct msghdr mh;
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = iov + first_iov;
        mh.msg_iovlen = 2 - first_iov;
        if (sent == 0 && nfds > 0) {
            mh.msg_control = ctl.buf;
            mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
            memset(ctl.buf, 0, mh.msg_controllen);
            struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
            memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
        }
        /* One buffer and no FDs: send() spares the kernel copying a msghdr in. */
        ssize_t n = mh.msg_controllen == 0 && (mh.msg_iovlen == 1 || iov[1].iov_len == 0)
                        ? send(c->fd, iov[first_iov].iov_base, iov[first_iov].iov_len,
                               MSG_NOSIGNAL | MSG_DONTWAIT)
                        : sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            int e = errno;
            if (e == EINTR) continue;
            if (e == EAGAIN || e == EWOULDBLOCK) {
                int r = wait_fd(c, POLLOUT, deadline);
                if (r == 0) continue;
                if (sent > 0) clp__mark_closed(c); /* half a line is on the wire: unusable */
                if (r == CLP_ETIMEDOUT)
                    clp__set_error(c, "TIMEOUT", "Timed out sending the request");
                return r;
            }
            if (e == EBADF && nfds > 0 && sent == 0) {
                clp__set_error(c, "BAD_FD", "A file descriptor to send is invalid");
                return CLP_EFD;
            }
            if (e == EPIPE || e == ECONNRESET) {
                clp__mark_closed(c);
                clp__set_error(c, "CLOSED", "The connection was closed by the server");
                return CLP_ECLOSED;
            }
            if (sent > 0) clp__mark_closed(c);
            return -e;
        }
        sent += (size_t)n;
        if (sent >= total) return 0;
        /* partial write: advance the iovecs */
        size_t k = (size_t)n;
        while (k > 0 && first_iov < 2) {
            size_t take = k < iov[first_iov].iov_len ? k : iov[first_iov].iov_len;
            iov[first_iov].iov_base = (char *)iov[first_iov].iov_base + take;
            iov[first_iov].iov_len -= take;
            k -= take;
            if (iov[first_iov].iov_len == 0) first_iov++;
        }
    }
}

int clp__send_line(clp_client_t *c, const char *line, size_t len, const int *fds, size_t nfds,
                   int64_t deadline) {
    return send_bytes(c, line, len, 1, fds, nfds, deadline);
}

int clp__send_raw(clp_client_t *c, const char *data, size_t len, const int *fds, size_t nfds,
                  int64_t deadline) {
    return send_bytes(c, data, len, 0, fds, nfds, deadline);
}
