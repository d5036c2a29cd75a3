/* Internal declarations of libcopperline-ports. Not installed. */
#ifndef CLP_INTERNAL_H
#define CLP_INTERNAL_H

#include <stdint.h>
#include <stddef.h>

#include <jansson.h>

#include "cl_ports.h"

#define CLP__HIDDEN __attribute__((visibility("hidden")))

/* Most FDs held per connection (queued, not yet claimed by a line): PROTOCOL.md section 7. */
#define CLP__MAX_HELD_FDS 64
/* Ids of abandoned requests (timed out, failed) whose late responses are dropped silently. */
#define CLP__MAX_ABANDONED 64
/* Bytes read at least per recvmsg beyond the largest line. */
#define CLP__READ_CHUNK 16384

/* One received FD and the stream offset just past the recvmsg that delivered it. */
typedef struct clp__qfd {
    int fd;
    uint64_t recv_end;
} clp__qfd;

/* A message id as the library compares it (PROTOCOL.md section 3). Request ids are integers or
 * strings; any other response id (a real, an object, ...) is CLP__ID_OTHER and matches nothing. */
enum { CLP__ID_NONE = 0, CLP__ID_NULL, CLP__ID_INT, CLP__ID_STR, CLP__ID_OTHER };
typedef struct clp__id {
    int kind;
    int64_t n;       /* CLP__ID_INT */
    char *s;         /* CLP__ID_STR: owned, NUL-terminated */
} clp__id;

/* The top-level members of a received line that the library itself reads. */
typedef struct clp__envelope {
    clp__id id;
    int ok;         /* "ok": 1 true, 0 false, -1 absent or not a boolean */
    int is_event;   /* "event" is a string */
    int64_t fds;    /* "fds": -1 absent, -2 not an integer in 0..CLP_MAX_FDS_PER_MESSAGE */
} clp__envelope;

/* One received message: its text, its envelope, and its jansson value once someone asks. */
typedef struct clp__in {
    json_t *obj;     /* the jansson object (owned); built on demand by clp__in_value() */
    int obj_tried;   /* clp__in_value() ran: obj is final (NULL if jansson refused the text) */
    clp__envelope env; /* id, ok, event, fds as read when the line arrived */
    char *line;      /* NUL-terminated copy of the line: points at text[] */
    size_t len;
    int *fds;        /* claimed FDs (owned) */
    size_t nfds;
    int fd_err;      /* the line announced more FDs than arrived */
    struct clp__in *next;
    char text[];     /* the line, allocated with the struct */
} clp__in;

struct clp_client {
    int fd;
    int timeout_ms;
    size_t max_message;
    size_t max_events;
    int closed;           /* EOF or fatal error seen: later calls fail with CLP_ECLOSED */
    int send_shut;        /* clp_shutdown_send(): nothing more is sent; reading goes on */
    int rcvtimeo_ms;      /* SO_RCVTIMEO currently set on the socket; 0 = none (blocks) */

    /* read buffer: unconsumed bytes are rbuf[rpos, rlen) */
    char *rbuf;
    size_t rcap, rpos, rlen;
    size_t scan;          /* rbuf[rpos, scan) is known to hold no '\n' */
    int discarding;       /* skipping the rest of an oversized line */
    uint64_t total_in;    /* stream bytes received so far */

    /* FIFO of received FDs */
    clp__qfd *fdq;
    size_t fdq_head, fdq_len, fdq_cap;
    int fd_trunc;         /* FDs were lost (MSG_CTRUNC or quota): the next line with fds that
                             starts before fd_trunc_end fails with CLP_EFD */
    uint64_t fd_trunc_end;

    /* events received while waiting for a response */
    clp__in *evq_head, *evq_tail;
    size_t evq_len;
    uint64_t events_dropped;

    int64_t next_id;
    clp__id abandoned[CLP__MAX_ABANDONED];
    size_t nabandoned;

    /* error of the last call */
    char *err_code, *err_message;
};

/* io.c */
CLP__HIDDEN int64_t clp__now_ms(void);
CLP__HIDDEN int64_t clp__deadline(int timeout_ms);
CLP__HIDDEN int clp__send_line(clp_client_t *c, const char *line, size_t len, const int *fds,
                               size_t nfds, int64_t deadline);
/* Bytes exactly as given (the caller supplies any '\n'), FDs with the first byte. */
CLP__HIDDEN int clp__send_raw(clp_client_t *c, const char *data, size_t len, const int *fds,
                              size_t nfds, int64_t deadline);
/* want_value: parse with jansson at once (the caller needs the json_t); otherwise the line is
 * checked by the recognizer (scan.c) and jansson builds the value only if clp__in_value() asks. */
CLP__HIDDEN int clp__next_in(clp_client_t *c, int64_t deadline, int want_value, clp__in **ret_in);
CLP__HIDDEN json_t *clp__in_value(clp__in *in);
CLP__HIDDEN void clp__in_free(clp__in *in);
CLP__HIDDEN int clp__id_equal(const clp__id *a, const clp__id *b);
CLP__HIDDEN int clp__id_copy(clp__id *dst, const clp__id *src);
CLP__HIDDEN void clp__id_clear(clp__id *id);
CLP__HIDDEN void clp__fdq_close_all(clp_client_t *c);
CLP__HIDDEN void clp__mark_closed(clp_client_t *c);
CLP__HIDDEN int clp__has_line(const clp_client_t *c);

/* scan.c: 1 = certainly a JSON object jansson accepts, *e filled (free e->id with
 * clp__id_clear); 0 = not sure, ask jansson; CLP_ENOMEM. */
CLP__HIDDEN int clp__scan_object(const char *line, size_t len, clp__envelope *e);
CLP__HIDDEN void clp__envelope_init(clp__envelope *e);

/* client.c */
CLP__HIDDEN void clp__set_error(clp_client_t *c, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
CLP__HIDDEN void clp__clear_error(clp_client_t *c);

/* msg.c */
CLP__HIDDEN void clp__msg_from_in(clp_msg_t *msg, clp__in *in);

#endif /* CLP_INTERNAL_H */
