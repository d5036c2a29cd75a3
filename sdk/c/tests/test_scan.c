/* The envelope recognizer (src/scan.c) against jansson, its oracle.
 *
 * The rule under test: whenever clp__scan_object() accepts a line, jansson accepts it too, as an
 * object, and reads the same envelope (id, ok, event, fds) from it. And it must not be uselessly
 * shy: the lines a ports v0 server usually sends are accepted, which is what makes it fast.
 *
 * Fixed cases first, then generated lines: random valid JSON objects (which must be accepted
 * unless they hold something the recognizer leaves to jansson on purpose) and mutations of them
 * (bytes flipped, dropped, inserted, cut). Usage: test_scan [iterations (200000)] [seed]. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "../src/internal.h"

static int failures, checks;

#define CHECK(cond, ...)                                                                            \
    do {                                                                                            \
        checks++;                                                                                   \
        if (!(cond)) {                                                                              \
            failures++;                                                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                    \
            fprintf(stderr, __VA_ARGS__);                                                           \
            fputc('\n', stderr);                                                                    \
        }                                                                                           \
    } while (0)

/* The envelope as jansson sees it (written here independently of src/io.c). */
static int jansson_envelope(const char *s, size_t n, clp__envelope *e) {
    clp__envelope_init(e);
    json_t *v = json_loadb(s, n, 0, NULL);
    if (!json_is_object(v)) {
        json_decref(v);
        return 0;
    }
    json_t *id = json_object_get(v, "id"), *ok = json_object_get(v, "ok"),
           *fds = json_object_get(v, "fds");
    if (!id) e->id.kind = CLP__ID_NONE;
    else if (json_is_integer(id)) e->id.kind = CLP__ID_INT, e->id.n = json_integer_value(id);
    else if (json_is_string(id)) e->id.kind = CLP__ID_STR, e->id.s = strdup(json_string_value(id));
    else if (json_is_null(id)) e->id.kind = CLP__ID_NULL;
    else e->id.kind = CLP__ID_OTHER;
    e->ok = json_is_true(ok) ? 1 : json_is_false(ok) ? 0 : -1;
    e->is_event = json_is_string(json_object_get(v, "event"));
    if (fds) {
        json_int_t k = json_is_integer(fds) ? json_integer_value(fds) : -1;
        e->fds = k >= 0 && k <= CLP_MAX_FDS_PER_MESSAGE ? k : -2;
    }
    json_decref(v);
    return 1;
}

static int same_id(const clp__id *a, const clp__id *b) {
    if (a->kind != b->kind) return 0;
    if (a->kind == CLP__ID_INT) return a->n == b->n;
    if (a->kind == CLP__ID_STR) return strcmp(a->s, b->s) == 0;
    return 1;
}

static int same_envelope(const clp__envelope *a, const clp__envelope *b) {
    return same_id(&a->id, &b->id) && a->ok == b->ok && a->is_event == b->is_event &&
           a->fds == b->fds;
}

static void show(const char *s, size_t n) {
    fputs("    line: ", stderr);
    for (size_t i = 0; i < n && i < 300; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f) fputc(c, stderr);
        else fprintf(stderr, "\\x%02x", c);
    }
    fputc('\n', stderr);
}

/* Check one line against the rule; returns the recognizer's verdict (1 accepted, 0 unsure). */
static int check_line(const char *s, size_t n) {
    clp__envelope fast, slow;
    int r = clp__scan_object(s, n, &fast);
    int ok = jansson_envelope(s, n, &slow);
    checks++;
    if (r < 0 || (r == 1 && (!ok || !same_envelope(&fast, &slow)))) {
        failures++;
        fprintf(stderr, "FAIL: recognizer %d, jansson %s%s\n", r, ok ? "accepts" : "refuses",
                ok && r == 1 ? " with another envelope" : "");
        show(s, n);
    }
    if (r == 1) clp__id_clear(&fast.id);
    clp__id_clear(&slow.id);
    return r;
}

static void fixed_cases(void) {
    /* Lines the recognizer must accept (and agree on). */
    static const char *const accept[] = {
        "{\"ok\":true,\"id\":1,\"result\":{\"name\":\"copperd\",\"version\":\"0.1.0\",\"protocol\":0}}",
        "{\"ok\":false,\"id\":\"req-7\",\"error\":{\"code\":\"NOT_FOUND\",\"message\":\"no such program\"}}",
        "{\"event\":\"vsync\",\"sub\":3,\"data\":{\"frame\":1024,\"usec\":16666.67}}",
        "{\"ok\":true,\"id\":2,\"fds\":1,\"result\":{\"buffer\":{\"fd_index\":0},\"w\":640}}",
        "{\"ok\":true,\"id\":null,\"error\":{\"code\":\"BAD_FRAME\",\"message\":\"x\"}}",
        "{}", " { } ", "{\"a\":[]}", "{\"a\":{}}", "{\"a\":[[],{},[[{}]]]}",
        "{ \"ok\" : true , \"id\" : -42 }\r",
        "{\"ok\":true,\"id\":999999999999999999}",
        "{\"ok\":true,\"id\":-999999999999999999}",
        "{\"id\":1,\"id\":2,\"ok\":false,\"ok\":true}",
        "{\"id\":\"a\",\"id\":3}",
        "{\"id\":3,\"id\":\"b\"}",
        "{\"n\":[0,-0,1.5,-1.5e10,2E-3,1e+99,0.000001,123456789012345678]}",
        "{\"s\":\"tab\\tquote\\\"slash\\/back\\\\nl\\nret\\rbs\\bff\\f\"}",
        "{\"nested\":{\"e\\\"sc\\naped\":true}}",
        "{\"u\":\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf\"}",
        "{\"\xc3\xa9\":\"key\"}",
        "{\"event\":\"x\",\"ok\":\"not a bool\"}",
        "{\"ok\":true,\"id\":1.5}",
        "{\"ok\":true,\"id\":true}",
        "{\"ok\":true,\"id\":[1]}",
        "{\"ok\":true,\"id\":{}}",
        "{\"ok\":true,\"id\":1,\"fds\":16}",
        "{\"ok\":true,\"id\":1,\"fds\":17}",
        "{\"ok\":true,\"id\":1,\"fds\":-1}",
        "{\"ok\":true,\"id\":1,\"fds\":1.0}",
        "{\"ok\":true,\"id\":1,\"fds\":\"1\"}",
        "{\"event\":null}",
        "{\"\":\"\",\"ok\":true}",
        "{\"x\":\"\x7f\"}",
    };
    for (size_t i = 0; i < sizeof accept / sizeof *accept; i++) {
        int r = check_line(accept[i], strlen(accept[i]));
        CHECK(r == 1, "not accepted: %s", accept[i]);
    }

    /* Lines jansson refuses: the recognizer must leave them to jansson (0). */
    static const char *const refuse[] = {
        "", " ", "[]", "1", "\"s\"", "null", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\" 1}",
        "{\"a\":1,}", "{,}", "{\"a\":1 \"b\":2}", "{\"a\":[1,]}", "{\"a\":[,1]}", "{\"a\":[1 2]}",
        "{a:1}", "{'a':1}", "{\"a\":'b'}", "{\"a\":01}", "{\"a\":-}", "{\"a\":1.}", "{\"a\":.5}",
        "{\"a\":1e}", "{\"a\":1e+}", "{\"a\":+1}", "{\"a\":NaN}", "{\"a\":Infinity}",
        "{\"a\":tru}", "{\"a\":truex}", "{\"a\":nul}", "{\"a\":True}", "{\"a\":1}x",
        "{\"a\":1}{\"b\":2}", "{\"a\":1}}", "{\"a\":[}", "{\"a\":{]}", "{\"a\":\"unterminated}",
        "{\"a\":\"ctl\x01\"}", "{\"a\":\"tab\t\"}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u00\"}",
        "{\"a\":\"\\u0000\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}",
        "{\"a\":\"\xc0\x80\"}", "{\"a\":\"\xc1\xbf\"}", "{\"a\":\"\xe0\x80\x80\"}",
        "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xf0\x80\x80\x80\"}", "{\"a\":\"\xf4\x90\x80\x80\"}",
        "{\"a\":\"\xf5\x80\x80\x80\"}", "{\"a\":\"\x80\"}", "{\"a\":\"\xc3\"}", "{\"a\":\"\xe2\x82\"}",
        "{\"a\":\"\xff\"}", "\xef\xbb\xbf{}", "{\"a\":99999999999999999999}",
        "{\"a\":-99999999999999999999}", "{\"a\":9999999999999999999}", "{\"a\":1e400}", "{\"a\":-1e400}",
        "{\"a\":1}\x01", "{/*c*/}", "{\"a\":1 // c\n}",
    };
    for (size_t i = 0; i < sizeof refuse / sizeof *refuse; i++) {
        int r = check_line(refuse[i], strlen(refuse[i]));
        CHECK(r == 0, "accepted a line jansson refuses: %s", refuse[i]);
    }
    /* NUL bytes inside the line, which strlen() would hide. */
    static const char nul_in_string[] = "{\"a\":\"x\0y\"}", nul_after[] = "{\"a\":1}\0";
    CHECK(check_line(nul_in_string, sizeof nul_in_string - 1) == 0, "NUL in a string accepted");
    CHECK(check_line(nul_after, sizeof nul_after - 1) == 0, "NUL after the object accepted");

    /* Valid, but left to jansson on purpose (jansson decides; the client still works). */
    static const char *const deferred[] = {
        "{\"a\":\"\\u00e9\"}",                  /* \u escapes */
        "{\"i\\u0064\":1}", "{\"i\\/d\":1}", "{\"k\\n\":1}", /* escaped top-level keys */
        "{\"id\":\"a\\\"b\",\"ok\":true}",       /* a string id with an escape */
        "{\"a\":1234567890123456789}",          /* 19 digits: might not fit json_int_t */
        "{\"a\":1e100}",                        /* 3 exponent digits */
    };
    for (size_t i = 0; i < sizeof deferred / sizeof *deferred; i++)
        CHECK(check_line(deferred[i], strlen(deferred[i])) == 0, "expected deferral: %s", deferred[i]);

    /* Depth: 32 levels are scanned, deeper is left to jansson (which allows 2048). */
    char deep[200];
    for (int levels = 31; levels <= 33; levels++) {
        size_t k = 0;
        deep[k++] = '{';
        deep[k++] = '"', deep[k++] = 'a', deep[k++] = '"', deep[k++] = ':';
        for (int i = 1; i < levels; i++) deep[k++] = '[';
        for (int i = 1; i < levels; i++) deep[k++] = ']';
        deep[k++] = '}';
        int r = check_line(deep, k);
        CHECK(r == (levels <= 32), "depth %d: %d", levels, r);
    }
}

/* Every single-byte substitution, deletion and insertion (all 256 values) and every prefix of
 * some typical lines: thousands of near misses per line, each checked against jansson. */
static void exhaustive_edits(void) {
    static const char *const bases[] = {
        "{\"ok\":true,\"id\":12,\"result\":{\"name\":\"d\xc3\xa9\",\"v\":[1.5e-3,-0,null]}}",
        "{\"event\":\"vsync\",\"sub\":3,\"fds\":1,\"data\":{\"t\":\"\xe2\x82\xac\\n\xf0\x9f\x98\x80\"}}",
        "{\"ok\":false,\"id\":\"r-1\",\"error\":{\"code\":\"X\",\"message\":\"\"}}",
    };
    long accepted = 0, total = 0;
    char buf[256];
    for (size_t b = 0; b < sizeof bases / sizeof *bases; b++) {
        const char *base = bases[b];
        size_t n = strlen(base);
        for (size_t at = 0; at <= n; at++) {
            total++, accepted += check_line(base, at) == 1; /* prefix */
            if (at == n) break;
            memcpy(buf, base, n); /* deletion */
            memmove(buf + at, buf + at + 1, n - at - 1);
            total++, accepted += check_line(buf, n - 1) == 1;
            for (int v = 0; v < 256; v++) {
                memcpy(buf, base, n); /* substitution */
                buf[at] = (char)v;
                total++, accepted += check_line(buf, n) == 1;
                memcpy(buf, base, at); /* insertion */
                buf[at] = (char)v;
                memcpy(buf + at + 1, base + at, n - at);
                total++, accepted += check_line(buf, n + 1) == 1;
            }
        }
    }
    printf("test_scan: %ld single-byte edits and prefixes (%ld accepted, each agreeing with jansson)\n",
           total, accepted);
    CHECK(accepted > 0, "no edit accepted");
}

/* ---- generated lines ------------------------------------------------------------------------ */

static uint64_t rng_state;
static uint64_t rnd(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}
static unsigned pick(unsigned n) { return (unsigned)(rnd() % n); }

typedef struct {
    char buf[8192];
    size_t len;
    int fast;     /* nothing the recognizer defers on purpose */
    int depth;
    int overflow; /* did not fit buf: not used */
} gen_t;

static void put(gen_t *g, const char *s, size_t n) {
    if (g->len + n < sizeof g->buf) {
        memcpy(g->buf + g->len, s, n);
        g->len += n;
    } else {
        g->overflow = 1;
    }
}
static void puts_(gen_t *g, const char *s) { put(g, s, strlen(s)); }
static void ws(gen_t *g) {
    static const char *const w[] = {"", "", "", "", " ", "\t", "  ", "\r", " \n "};
    puts_(g, w[pick(9)]);
}

static void gen_string(gen_t *g, int is_top_key) {
    static const char *const pieces[] = {
        "a", "id", "ok", "fds", "event", "x y", "0", "-", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
        "\\n", "\\\"", "\\\\", "\\/", "\\t", "\\u00e9", "\\ud83d\\ude00", "\x7f", "'", "{", "]", ":",
    };
    puts_(g, "\"");
    unsigned n = pick(4);
    for (unsigned i = 0; i < n; i++) {
        unsigned k = pick(sizeof pieces / sizeof *pieces);
        if (k >= 11 && k <= 17 && is_top_key) g->fast = 0; /* escaped top-level key */
        if (k == 16 || k == 17) g->fast = 0;                /* \u */
        puts_(g, pieces[k]);
    }
    puts_(g, "\"");
}

static void gen_number(gen_t *g) {
    char tmp[64];
    switch (pick(7)) {
    case 0: snprintf(tmp, sizeof tmp, "%d", (int)pick(100) - 50); break;
    case 1: snprintf(tmp, sizeof tmp, "%" PRId64, (int64_t)(rnd() >> pick(64))); break;
    case 2: snprintf(tmp, sizeof tmp, "-%" PRIu64, rnd() >> 1); break;
    case 3: snprintf(tmp, sizeof tmp, "%u.%u", pick(1000), pick(1000)); break;
    case 4: snprintf(tmp, sizeof tmp, "%ue%s%u", pick(10), pick(2) ? "-" : "+", pick(120)); break;
    case 5: snprintf(tmp, sizeof tmp, "-0.%uE%u", pick(99), pick(300)); break;
    default: snprintf(tmp, sizeof tmp, "%u", 1 + pick(16)); break;
    }
    /* Mirror the recognizer's deferrals: 19+ digit integers, 3+ digit exponents. */
    const char *e = strpbrk(tmp, "eE");
    if (e) {
        const char *x = e + 1 + (e[1] == '+' || e[1] == '-');
        if (strlen(x) > 2) g->fast = 0;
    } else if (!strchr(tmp, '.')) {
        size_t digits = strlen(tmp) - (tmp[0] == '-');
        if (digits > 18) g->fast = 0;
    }
    puts_(g, tmp);
}

static void gen_value(gen_t *g, int top_member);

static void gen_object(gen_t *g, int top) {
    if (++g->depth > 32) g->fast = 0;
    puts_(g, "{");
    unsigned n = top ? 1 + pick(6) : pick(4);
    for (unsigned i = 0; i < n; i++) {
        if (i) puts_(g, ","), ws(g);
        ws(g);
        if (top && pick(2)) {
            static const char *const keys[] = {"\"id\"", "\"ok\"", "\"event\"", "\"fds\"", "\"result\""};
            puts_(g, keys[pick(5)]);
        } else {
            gen_string(g, top);
        }
        ws(g), puts_(g, ":"), ws(g);
        gen_value(g, top);
        ws(g);
    }
    puts_(g, "}");
    g->depth--;
}

static void gen_value(gen_t *g, int top_member) {
    unsigned k = pick(g->depth > 40 ? 6 : 8);
    switch (k) {
    case 0: puts_(g, "true"); break;
    case 1: puts_(g, "false"); break;
    case 2: puts_(g, "null"); break;
    case 3: case 4: gen_number(g); break;
    case 5: {
        size_t before = g->len;
        gen_string(g, 0);
        /* a top-level string with an escape may be the id, which is deferred then */
        if (top_member && memchr(g->buf + before, '\\', g->len - before)) g->fast = 0;
        break;
    }
    case 6: gen_object(g, 0); break;
    default: {
        if (++g->depth > 32) g->fast = 0;
        puts_(g, "[");
        unsigned n = pick(4);
        for (unsigned i = 0; i < n; i++) {
            if (i) puts_(g, ","), ws(g);
            gen_value(g, 0);
        }
        puts_(g, "]");
        g->depth--;
    }
    }
}

static void mutate(gen_t *g) {
    static const char interesting[] = "{}[]\",:\\ -0.eE+tfnu\x01\x7f\x80\xbf\xc0\xc3\xe0\xed\xf0\xf4\xff";
    unsigned times = 1 + pick(3);
    for (unsigned t = 0; t < times && g->len > 0; t++) {
        size_t at = pick((unsigned)g->len);
        char b = pick(3) ? interesting[pick(sizeof interesting - 1)] : (char)pick(256);
        switch (pick(5)) {
        case 0: g->buf[at] = b; break;                                            /* flip */
        case 1: memmove(g->buf + at, g->buf + at + 1, g->len - at - 1), g->len--; break; /* drop */
        case 2:                                                                     /* insert */
            if (g->len + 1 < sizeof g->buf) {
                memmove(g->buf + at + 1, g->buf + at, g->len - at);
                g->buf[at] = b;
                g->len++;
            }
            break;
        case 3: g->len = at; break; /* cut */
        default: {                  /* duplicate a span */
            size_t n = 1 + pick(8);
            if (at + n <= g->len && g->len + n < sizeof g->buf) {
                memmove(g->buf + at + n, g->buf + at, g->len - at);
                g->len += n;
            }
        }
        }
    }
}

static void generated(long iterations) {
    long valid = 0, fast_valid = 0, fast_accepted = 0, mutated = 0, mutated_accepted = 0;
    for (long i = 0; i < iterations; i++) {
        gen_t g;
        g.len = 0, g.fast = 1, g.depth = 0, g.overflow = 0;
        ws(&g);
        gen_object(&g, 1);
        ws(&g);
        if (g.overflow) continue;
        int r = check_line(g.buf, g.len);
        clp__envelope e;
        CHECK(jansson_envelope(g.buf, g.len, &e), "generator made invalid JSON (iteration %ld)", i);
        clp__id_clear(&e.id);
        valid++;
        if (g.fast) {
            fast_valid++;
            fast_accepted += r == 1;
            if (r != 1) {
                CHECK(0, "valid line without deferred features not accepted (iteration %ld)", i);
                show(g.buf, g.len);
            }
        }
        mutate(&g);
        mutated++;
        mutated_accepted += check_line(g.buf, g.len) == 1;
    }
    printf("test_scan: %ld valid lines (%ld without deferred features, %ld of those accepted), "
           "%ld mutated (%ld accepted, each agreeing with jansson)\n",
           valid, fast_valid, fast_accepted, mutated, mutated_accepted);
    CHECK(fast_valid > iterations / 4, "the generator rarely makes lines for the fast path");
    CHECK(mutated_accepted > 0 && mutated_accepted < mutated, "mutations all accepted or none");
}

int main(int argc, char **argv) {
    long iterations = argc > 1 ? atol(argv[1]) : 200000;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : (uint64_t)time(NULL);
    rng_state = seed ? seed : 1;
    fixed_cases();
    exhaustive_edits();
    generated(iterations);
    printf("test_scan: seed %" PRIu64 ", %d checks, %d failed\n", seed, checks, failures);
    return failures ? 1 : 0;
}
