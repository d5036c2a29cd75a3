/* Replays golden wire cases (the .cases files in tests/wire/) with the C client, the way
 * tests/wire_test.ts does with Deno: each case on a fresh connection, every ">" step sent as is
 * (one clp_send_raw for all of them: see run_case), then the expected number of messages read
 * in arrival order (clp_read_message, 5 s per case) and compared with the "<" lines by the rule
 * of mismatch() in tests/wire/cases.ts.
 * Unlike wire_test.ts, which just closes, a case ends with a barrier (half-close, read until the
 * server closes, then a ping on a probe connection: see settle()) so that no case can observe
 * the previous one's subscriptions; "--no-settle" closes plainly instead, as wire_test.ts does.
 *
 * Usage: replay SOCKET CASES_FILE [--no-settle]
 * Prints "ok <name>" or "FAIL <name>: <first difference>" per case (details of a failure on
 * stderr) and a closing "N passed, N failed". Exit status: 0 all passed, 1 a case failed,
 * 2 usage or a malformed cases file.
 *
 * Build: cc -std=c11 -D_GNU_SOURCE -Isdk/c/include $(pkg-config --cflags jansson) \
 *          tests/c_wire/replay.c -Lsdk/c/build -lcopperline-ports $(pkg-config --libs jansson)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cl_ports.h"

/* The whole case (every expected message) must arrive within this time, as in wire_test.ts. */
#define CASE_TIMEOUT_MS 5000
/* How long to wait for the server to close a finished case's connection. */
#define CLOSE_TIMEOUT_MS 2000
/* The Deno replay reads lines of any length; allow far more than any echo answer. */
#define RECEIVE_LIMIT (1024 * 1024)

typedef struct step {
    char *send;      /* bytes to send (without the newline); NULL for an expectation */
    size_t len;
    json_t *expect;  /* the expected message */
} step_t;

typedef struct wire_case {
    char *name;
    step_t *steps;
    size_t nsteps, cap;
} wire_case_t;

static wire_case_t *cases;
static size_t ncases, cases_cap;

/* ---- small helpers --------------------------------------------------------------------------- */

static void *xrealloc(void *p, size_t n) {
    p = realloc(p, n);
    if (!p) {
        fprintf(stderr, "replay: out of memory\n");
        exit(2);
    }
    return p;
}

static char *xstrndup(const char *s, size_t n) {
    char *d = xrealloc(NULL, n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* printf into a new string (caller frees). */
static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    if (vasprintf(&s, f, ap) < 0) s = NULL;
    va_end(ap);
    if (!s) {
        fprintf(stderr, "replay: out of memory\n");
        exit(2);
    }
    return s;
}

/* JSON.stringify-like text of a value, "undefined" for a missing one (caller frees). */
static char *show(const json_t *v) {
    if (!v) return fmt("undefined");
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    return s ? s : fmt("?");
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int is_js_space(char ch) { /* the ASCII part of String.prototype.trim() */
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* ---- reading a .cases file (parseCases() in tests/wire/cases.ts) ----------------------------- */

static void parse_error(const char *file, size_t lineno, const char *what, const char *line,
                        size_t len) {
    fprintf(stderr, "%s:%zu: %s: \"%.*s\"\n", file, lineno, what, (int)(len > 40 ? 40 : len), line);
    exit(2);
}

static void add_step(wire_case_t *c, step_t s) {
    if (c->nsteps == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->steps = xrealloc(c->steps, c->cap * sizeof *c->steps);
    }
    c->steps[c->nsteps++] = s;
}

/* bigLine(n): an echo request of exactly n bytes. */
static char *big_line(long n, size_t *ret_len) {
    static const char head[] = "{\"id\":99,\"cmd\":\"echo\",\"args\":{\"text\":\"";
    static const char tail[] = "\"}}";
    size_t h = sizeof head - 1, t = sizeof tail - 1;
    if (n < (long)(h + t)) return NULL;
    char *s = xrealloc(NULL, (size_t)n);
    memcpy(s, head, h);
    memset(s + h, 'a', (size_t)n - h - t);
    memcpy(s + (size_t)n - t, tail, t);
    *ret_len = (size_t)n;
    return s;
}

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static void parse_line(const char *file, size_t lineno, const char *line, size_t len) {
    wire_case_t *cur = ncases ? &cases[ncases - 1] : NULL;
    if (len >= 3 && !memcmp(line, "## ", 3)) {
        size_t a = 3, b = len;
        while (a < b && is_js_space(line[a])) a++;
        while (b > a && is_js_space(line[b - 1])) b--;
        if (ncases == cases_cap) {
            cases_cap = cases_cap ? cases_cap * 2 : 32;
            cases = xrealloc(cases, cases_cap * sizeof *cases);
        }
        memset(&cases[ncases], 0, sizeof cases[ncases]);
        cases[ncases++].name = xstrndup(line + a, b - a);
        return;
    }
    size_t k = 0;
    while (k < len && is_js_space(line[k])) k++;
    if ((len > 0 && line[0] == '#') || k == len) return; /* comment or blank */
    if (!cur) parse_error(file, lineno, "step outside a case", line, len);
    step_t s = {NULL, 0, NULL};
    if (len >= 5 && !memcmp(line, ">hex ", 5)) {
        size_t a = 5, b = len;
        while (a < b && is_js_space(line[a])) a++;
        while (b > a && is_js_space(line[b - 1])) b--;
        if ((b - a) % 2) parse_error(file, lineno, "odd number of hex digits", line, len);
        s.len = (b - a) / 2;
        s.send = xrealloc(NULL, s.len + 1);
        for (size_t i = 0; i < s.len; i++) {
            int hi = hexval(line[a + 2 * i]), lo = hexval(line[a + 2 * i + 1]);
            if (hi < 0 || lo < 0) parse_error(file, lineno, "bad hex digit", line, len);
            s.send[i] = (char)(hi * 16 + lo);
        }
    } else if (len >= 5 && !memcmp(line, ">big ", 5)) {
        char *num = xstrndup(line + 5, len - 5), *end;
        long n = strtol(num, &end, 10);
        while (*end && is_js_space(*end)) end++;
        int bad = end == num + strspn(num, " \t\r") || *end;
        free(num);
        if (bad || !(s.send = big_line(n, &s.len)))
            parse_error(file, lineno, "cannot build a line of that size", line, len);
    } else if ((len >= 2 && !memcmp(line, "> ", 2)) || (len == 1 && line[0] == '>')) {
        s.len = len > 2 ? len - 2 : 0;
        s.send = xstrndup(line + (len > 2 ? 2 : len), s.len); /* a trailing "\r" is kept */
    } else if (len >= 2 && !memcmp(line, "< ", 2)) {
        json_error_t err;
        s.expect = json_loadb(line + 2, len - 2, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        if (!s.expect) parse_error(file, lineno, err.text, line, len);
    } else {
        parse_error(file, lineno, "cannot read", line, len);
    }
    add_step(cur, s);
}

static void load_cases(const char *file) {
    FILE *f = fopen(file, "rb");
    if (!f) {
        perror(file);
        exit(2);
    }
    char *text = NULL;
    size_t len = 0, cap = 0, n;
    do {
        if (cap - len < 65536) text = xrealloc(text, cap = cap * 2 + 65536);
        n = fread(text + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    int err = ferror(f);
    fclose(f);
    if (err) {
        fprintf(stderr, "%s: read error\n", file);
        exit(2);
    }
    size_t start = 0, lineno = 1;
    for (size_t i = 0; i <= len; i++) { /* text.split("\n"): "\r" stays part of the line */
        if (i == len || text[i] == '\n') {
            parse_line(file, lineno++, text + start, i - start);
            start = i + 1;
        }
    }
    free(text);
}

static void free_cases(void) {
    for (size_t i = 0; i < ncases; i++) {
        for (size_t j = 0; j < cases[i].nsteps; j++) {
            free(cases[i].steps[j].send);
            json_decref(cases[i].steps[j].expect);
        }
        free(cases[i].steps);
        free(cases[i].name);
    }
    free(cases);
}

/* ---- comparing (mismatch() in tests/wire/cases.ts) ------------------------------------------- */

static int is_container(const json_t *v) {
    return json_is_object(v) || json_is_array(v);
}

/* JavaScript ===: numbers by value (1 === 1.0), everything else by type and content. */
static int js_equal(const json_t *e, const json_t *a) {
    if (!a) return 0;
    if (json_is_number(e) && json_is_number(a)) {
        if (json_is_integer(e) && json_is_integer(a))
            return json_integer_value(e) == json_integer_value(a);
        return json_number_value(e) == json_number_value(a);
    }
    return json_equal((json_t *)e, (json_t *)a); /* scalars here: same type and value */
}

static char *differs(const char *path, const json_t *e, const json_t *a) {
    char *se = show(e), *sa = show(a);
    char *m = fmt("%s: expected %s, got %s", *path ? path : "/", se, sa);
    free(se);
    free(sa);
    return m;
}

/* NULL when actual matches expected ("*" matches any present value), else the first difference
 * (caller frees). actual == NULL means the value is missing (JavaScript undefined). */
static char *mismatch(const json_t *e, const json_t *a, const char *path) {
    if (json_is_string(e) && !strcmp(json_string_value(e), "*") && json_string_length(e) == 1)
        return a ? NULL : fmt("%s: missing", *path ? path : "/");
    if (!is_container(e)) return js_equal(e, a) ? NULL : differs(path, e, a);
    if (!a || !is_container(a) || json_is_array(e) != json_is_array(a)) return differs(path, e, a);
    if (json_is_array(e)) {
        size_t ne = json_array_size(e), na = json_array_size(a);
        for (size_t i = 0; i < ne || i < na; i++) {
            char *sub = fmt("%s/%zu", path, i);
            char *m;
            if (i >= ne) {
                char *sa = show(json_array_get(a, i));
                m = fmt("%s: unexpected %s", sub, sa);
                free(sa);
            } else {
                m = mismatch(json_array_get(e, i), json_array_get(a, i), sub);
            }
            free(sub);
            if (m) return m;
        }
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)e, k, v) { /* expected keys first, as new Set([...e, ...a]) */
        char *sub = fmt("%s/%s", path, k);
        char *m = mismatch(v, json_object_get(a, k), sub);
        free(sub);
        if (m) return m;
    }
    json_object_foreach((json_t *)a, k, v) {
        if (json_object_get(e, k)) continue;
        char *sv = show(v);
        char *m = fmt("%s/%s: unexpected %s", path, k, sv);
        free(sv);
        return m;
    }
    return NULL;
}

/* ---- running a case -------------------------------------------------------------------------- */

/* Whether to end each case with the barrier below (argv[3] "--no-settle" turns it off). */
static int settle_after = 1;

/* The second half of the barrier between cases. The case's connection has been half-closed and
 * read until the server closed it; but the Deno FFI transport closes the socket before it ends the
 * session (sdk/ts/deno/ffi/connection.ts #teardown notifies in a microtask, and the reactor's
 * #drainSync may accept and serve a new connection in between), so the next case could still
 * count the old session's subscriptions. A ping round trip on a probe connection (which has no
 * subscriptions of its own) orders after that microtask: the reply is flushed in a later one. */
static void settle(const char *address) {
    clp_client_t *p;
    if (clp_connect2(address, NULL, &p) < 0) return;
    clp_ping(p, NULL, NULL, NULL);
    clp_close(p);
}

/* Runs one case; NULL when it passed, else the first difference (caller frees). */
static char *run_case(const char *address, const wire_case_t *wc) {
    size_t nexpect = 0;
    for (size_t i = 0; i < wc->nsteps; i++) nexpect += wc->steps[i].expect != NULL;
    if (nexpect == 0) return fmt("the case expects nothing");

    clp_options_t opts;
    clp_options_init(&opts);
    opts.timeout_ms = CASE_TIMEOUT_MS; /* bounds each send */
    opts.max_message = RECEIVE_LIMIT;
    clp_client_t *c;
    int r = clp_connect2(address, &opts, &c);
    if (r < 0) return fmt("connect %s: %s", address, clp_strerror(r));

    char *fail = NULL;
    json_t **got = calloc(nexpect, sizeof *got);
    size_t ngot = 0;
    if (!got) {
        clp_close(c);
        return fmt("out of memory");
    }
    /* Every ">" step first, each with its newline, in ONE clp_send_raw: the same bytes as
     * wire_test.ts writes step by step, but the server gets them together however slow this
     * client is (valgrind), which the timing-based cases need ("slow" 1 ms must not finish
     * before the next line of the case has arrived). */
    size_t total = 0;
    for (size_t i = 0; i < wc->nsteps; i++)
        if (wc->steps[i].send) total += wc->steps[i].len + 1;
    char *bytes = xrealloc(NULL, total + 1), *p = bytes;
    for (size_t i = 0; i < wc->nsteps; i++) {
        const step_t *s = &wc->steps[i];
        if (!s->send) continue;
        memcpy(p, s->send, s->len);
        p += s->len;
        *p++ = '\n';
    }
    r = clp_send_raw(c, bytes, total);
    free(bytes);
    if (r < 0) fail = fmt("sending: %s", clp_strerror(r));
    /* then the expected number of messages, within CASE_TIMEOUT_MS in all */
    int64_t deadline = now_ms() + CASE_TIMEOUT_MS;
    while (!fail && ngot < nexpect) {
        int64_t left = deadline - now_ms();
        clp_msg_t m;
        r = clp_read_message(c, left > 0 ? (int)left : 0, &m);
        if (r == CLP_ETIMEDOUT || r == CLP_ECLOSED) {
            json_t *arr = json_array();
            for (size_t i = 0; i < ngot; i++) json_array_append(arr, got[i]);
            char *sa = show(arr);
            json_decref(arr);
            fail = fmt("expected %zu messages, got %zu (%s): %s", nexpect, ngot,
                       r == CLP_ETIMEDOUT ? "timed out" : "connection closed", sa);
            free(sa);
            break;
        }
        if (r < 0) {
            const char *msg = NULL;
            clp_last_error(c, NULL, &msg);
            fail = fmt("message %zu: %s (%s)", ngot + 1, clp_strerror(r), msg ? msg : "");
            break;
        }
        json_error_t err; /* parse the text as received, independently of the library */
        json_t *v = json_loadb(m.data, m.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        if (!v) fail = fmt("message %zu: not JSON (%s): %.200s", ngot + 1, err.text, m.data);
        else got[ngot++] = v;
        clp_msg_free(&m);
    }
    /* Cases must not see each other (the echo's emit counts deliveries on every connection):
     * see settle(). Messages after the expected ones are not checked, as in wire_test.ts. */
    if (settle_after && clp_shutdown_send(c) == 0) {
        int64_t until = now_ms() + CLOSE_TIMEOUT_MS;
        clp_msg_t m;
        for (;;) {
            int64_t left = until - now_ms();
            r = clp_read_message(c, left > 0 ? (int)left : 0, &m);
            if (r == CLP_ECLOSED || r == CLP_ETIMEDOUT) break;
            clp_msg_free(&m);
        }
        if (r == CLP_ETIMEDOUT)
            fprintf(stderr, "  %s: the server did not close within %d ms\n", wc->name,
                    CLOSE_TIMEOUT_MS);
        else
            settle(address);
    }
    clp_close(c);
    size_t k = 0;
    for (size_t i = 0; i < wc->nsteps && !fail; i++) {
        if (!wc->steps[i].expect) continue;
        char *m = mismatch(wc->steps[i].expect, got[k], "");
        if (m) {
            char *sg = show(got[k]);
            fprintf(stderr, "  %s\n  message %zu was %s\n", wc->name, k + 1, sg);
            free(sg);
            fail = fmt("message %zu: %s", k + 1, m);
            free(m);
        }
        k++;
    }
    for (size_t i = 0; i < ngot; i++) json_decref(got[i]);
    free(got);
    return fail;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[3], "--no-settle")) {
        settle_after = 0;
        argc--;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: %s SOCKET CASES_FILE [--no-settle]\n", argv[0]);
        return 2;
    }
    load_cases(argv[2]);
    if (ncases == 0) {
        fprintf(stderr, "%s: no cases\n", argv[2]);
        free_cases();
        return 2;
    }
    int passed = 0, failed = 0;
    for (size_t i = 0; i < ncases; i++) {
        char *fail = run_case(argv[1], &cases[i]);
        if (fail) {
            printf("FAIL %s: %s\n", cases[i].name, fail);
            failed++;
            free(fail);
        } else {
            printf("ok %s\n", cases[i].name);
            passed++;
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    free_cases();
    return failed ? 1 : 0;
}
