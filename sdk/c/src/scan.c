/* The envelope recognizer of libcopperline-ports: the fast path for reading a received line.
 *
 * jansson parses a short response in 2-3 µs, which alone makes a round trip 1.3x a raw read/write
 * ping-pong (cJSON: 1.2x; bench/RESULTS.md). Most callers of clp_request() only want the text, so
 * the library reads each line with this recognizer instead: one pass over the bytes, no
 * allocation, no values built. It answers one of two things:
 *
 *  - "certainly a JSON object that jansson accepts", with the four top-level members the library
 *    needs (id, ok, event, fds), exactly as jansson would read them; or
 *  - "not sure", and the caller hands the line to jansson, which decides and explains.
 *
 * It never rejects a line itself, so every error message still comes from jansson, and anything
 * unusual is left to jansson: \u escapes, escapes in top-level keys or in a string id, integers
 * of 19 digits or more, exponents of 3 digits or more, nesting deeper than CLP__SCAN_MAX_DEPTH.
 * What it does accept it checks completely: the JSON grammar (RFC 8259), UTF-8 (no overlongs, no
 * surrogates, nothing above U+10FFFF), no control characters in strings, nothing after the
 * object. tests/test_scan.c checks it against jansson on fixed cases and on a few hundred thousand
 * generated and mutated lines: whenever it accepts, jansson accepts with the same envelope.
 * The json_t value is built by jansson later, and only when someone asks (clp_msg_value()). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define CLP__SCAN_MAX_DEPTH 32

static inline const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    return p;
}

/* Bytes that stand for themselves inside a string: printable ASCII except '"' and '\\'. */
static inline int plain(unsigned char c) {
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* Length of the well-formed UTF-8 sequence of 2-4 bytes at p, or 0. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end) {
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;      /* no overlongs */
        else if (c == 0xED) hi = 0x9F; /* no UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;      /* no overlongs */
        else if (c == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF) return 0;
    return n;
}

/* A string whose opening quote is at p[-1]. Returns the position after the closing quote, or NULL
 * when unsure; *escaped tells whether the string holds an escape (its bytes are then not its
 * value). */
static const char *scan_string(const char *p, const char *end, int *escaped) {
    *escaped = 0;
    while (p < end) {
        while (p < end && plain((unsigned char)*p)) p++;
        if (p == end) break;
        unsigned char c = (unsigned char)*p;
        if (c == '"') return p + 1;
        if (c == '\\') {
            if (p + 1 >= end) return NULL;
            switch (p[1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                *escaped = 1;
                p += 2;
                continue;
            default: /* \u (left to jansson: NUL and surrogate rules) or an invalid escape */
                return NULL;
            }
        }
        if (c < 0x20) return NULL; /* control characters must be escaped */
        size_t n = utf8_seq((const unsigned char *)p, (const unsigned char *)end);
        if (n == 0) return NULL;
        p += n;
    }
    return NULL; /* unterminated */
}

/* A number starting at p (a '-' or a digit). Returns the position after it, or NULL when unsure.
 * *is_int: no fraction or exponent; then *value holds it (at most 18 digits: fits int64_t). */
static const char *scan_number(const char *p, const char *end, int *is_int, int64_t *value) {
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (p >= end || *p < '0' || *p > '9') return NULL;
    const char *digits = p;
    if (*p == '0') {
        p++;
    } else {
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    size_t nint = (size_t)(p - digits);
    *is_int = 1;
    if (p < end && *p == '.') {
        *is_int = 0;
        p++;
        const char *f = p;
        while (p < end && *p >= '0' && *p <= '9') p++;
        if (p == f) return NULL;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        *is_int = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        const char *x = p;
        while (p < end && *p >= '0' && *p <= '9') p++;
        /* Up to 2 exponent digits and 200 integer digits stay far below DBL_MAX (jansson refuses
         * reals that overflow); anything bigger is left to jansson. */
        if (p == x || p - x > 2) return NULL;
    }
    if (*is_int) {
        if (nint > 18) return NULL; /* might overflow json_int_t: jansson decides */
        int64_t v = 0;
        for (const char *d = digits; d < digits + nint; d++) v = v * 10 + (*d - '0');
        *value = neg ? -v : v;
    } else if (nint > 200) {
        return NULL;
    }
    return p;
}

/* The envelope member a top-level key names. */
enum { M_NONE, M_ID, M_OK, M_EVENT, M_FDS };

static int member_of(const char *k, size_t n) {
    if (n == 2 && k[0] == 'i' && k[1] == 'd') return M_ID;
    if (n == 2 && k[0] == 'o' && k[1] == 'k') return M_OK;
    if (n == 5 && memcmp(k, "event", 5) == 0) return M_EVENT;
    if (n == 3 && memcmp(k, "fds", 3) == 0) return M_FDS;
    return M_NONE;
}

/* Kinds of value, as far as the envelope cares. */
enum { V_STRING, V_INT, V_OTHER_NUMBER, V_TRUE, V_FALSE, V_NULL, V_CONTAINER };

/* Record the value of a top-level member (later duplicates win, as in jansson). */
static int set_member(clp__envelope *e, int m, int kind, const char *s, size_t n, int escaped,
                      int64_t v) {
    switch (m) {
    case M_ID:
        clp__id_clear(&e->id);
        if (kind == V_INT) {
            e->id.kind = CLP__ID_INT;
            e->id.n = v;
        } else if (kind == V_STRING) {
            if (escaped) return 0; /* its value is not its bytes: jansson decodes it */
            if (!(e->id.s = malloc(n + 1))) return CLP_ENOMEM;
            memcpy(e->id.s, s, n);
            e->id.s[n] = '\0';
            e->id.kind = CLP__ID_STR;
        } else {
            e->id.kind = kind == V_NULL ? CLP__ID_NULL : CLP__ID_OTHER;
        }
        break;
    case M_OK: e->ok = kind == V_TRUE ? 1 : kind == V_FALSE ? 0 : -1; break;
    case M_EVENT: e->is_event = kind == V_STRING; break;
    case M_FDS: e->fds = kind == V_INT && v >= 0 && v <= CLP_MAX_FDS_PER_MESSAGE ? v : -2; break;
    default: break;
    }
    return 1;
}

void clp__envelope_init(clp__envelope *e) {
    memset(e, 0, sizeof *e);
    e->id.kind = CLP__ID_NONE;
    e->ok = -1;
    e->fds = -1;
}

int clp__scan_object(const char *line, size_t len, clp__envelope *e) {
    const char *p = line, *end = line + len;
    char stack[CLP__SCAN_MAX_DEPTH]; /* '{' or '[' per open container */
    int depth = 0, member = M_NONE, r;
    clp__envelope_init(e);
    p = skip_ws(p, end);
    if (p == end || *p != '{') goto unsure;
    for (;;) {
        /* p is at a value; `member` says which envelope member it is (top-level keys only). */
        p = skip_ws(p, end);
        if (p == end) goto unsure;
        int m = depth == 1 ? member : M_NONE;
        char c = *p;
        if (c == '{' || c == '[') {
            if (depth == CLP__SCAN_MAX_DEPTH) goto unsure;
            if (m != M_NONE) set_member(e, m, V_CONTAINER, NULL, 0, 0, 0);
            stack[depth++] = c;
            p = skip_ws(p + 1, end);
            if (p < end && *p == (c == '{' ? '}' : ']')) {
                depth--;
                p++;
            } else if (c == '[') {
                continue; /* the first element */
            } else {
                goto key;
            }
        } else if (c == '"') {
            int escaped;
            const char *s = p + 1;
            if (!(p = scan_string(s, end, &escaped))) goto unsure;
            if (m != M_NONE && (r = set_member(e, m, V_STRING, s, (size_t)(p - 1 - s), escaped, 0)) <= 0)
                goto fail;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            int is_int;
            int64_t v = 0;
            if (!(p = scan_number(p, end, &is_int, &v))) goto unsure;
            if (m != M_NONE) set_member(e, m, is_int ? V_INT : V_OTHER_NUMBER, NULL, 0, 0, v);
        } else if (c == 't' && end - p >= 4 && memcmp(p, "true", 4) == 0) {
            p += 4;
            if (m != M_NONE) set_member(e, m, V_TRUE, NULL, 0, 0, 0);
        } else if (c == 'f' && end - p >= 5 && memcmp(p, "false", 5) == 0) {
            p += 5;
            if (m != M_NONE) set_member(e, m, V_FALSE, NULL, 0, 0, 0);
        } else if (c == 'n' && end - p >= 4 && memcmp(p, "null", 4) == 0) {
            p += 4;
            if (m != M_NONE) set_member(e, m, V_NULL, NULL, 0, 0, 0);
        } else {
            goto unsure;
        }
        /* After a value: close containers, or go on to the next element or member. */
        for (;;) {
            if (depth == 0) {
                p = skip_ws(p, end);
                if (p != end) goto unsure; /* something after the object */
                return 1;
            }
            p = skip_ws(p, end);
            if (p == end) goto unsure;
            char top = stack[depth - 1];
            if ((*p == '}' && top == '{') || (*p == ']' && top == '[')) {
                depth--;
                p++;
                continue;
            }
            if (*p != ',') goto unsure;
            p++;
            if (top == '[') break; /* the next element */
            goto key;
        }
        continue;
    key:
        /* p is just past '{' or ',' in an object: a key, a colon, then its value. */
        p = skip_ws(p, end);
        if (p == end || *p != '"') goto unsure;
        {
            int escaped;
            const char *k = p + 1;
            if (!(p = scan_string(k, end, &escaped))) goto unsure;
            if (depth == 1) {
                if (escaped) goto unsure; /* it might spell an envelope key */
                member = member_of(k, (size_t)(p - 1 - k));
            }
        }
        p = skip_ws(p, end);
        if (p == end || *p != ':') goto unsure;
        p++;
    }
unsure:
    r = 0;
fail:
    clp__id_clear(&e->id);
    return r;
}
