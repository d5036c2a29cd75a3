/* Subscribe to events and print N of them, waiting with poll() on the client's socket.
 * Build: cc subscribe.c $(pkg-config --cflags --libs copperline-ports)
 * Run:   ./a.out ADDRESS EVENT [N] [FILTER_JSON]
 *        ./a.out /run/copperline/compositord.sock vsync 10 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#include "cl_ports.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s ADDRESS EVENT [N] [FILTER_JSON]\n", argv[0]);
        return 2;
    }
    const char *events[] = {argv[2]};
    long n = argc > 3 ? strtol(argv[3], NULL, 10) : 10;
    const char *filter = argc > 4 ? argv[4] : NULL;

    clp_client_t *c;
    int r = clp_connect2(argv[1], NULL, &c);
    if (r < 0) {
        fprintf(stderr, "%s: %s\n", argv[1], clp_strerror(r));
        return 1;
    }
    int64_t sub;
    r = clp_subscribe(c, events, 1, filter, &sub);
    if (r < 0) {
        const char *code = NULL, *message = NULL;
        clp_last_error(c, &code, &message);
        fprintf(stderr, "subscribe: %s (%s: %s)\n", clp_strerror(r), code ? code : "-",
                message ? message : "-");
        clp_close(c);
        return 1;
    }
    printf("subscribed: sub %lld\n", (long long)sub);
    long got = 0;
    while (got < n) {
        /* events may already be inside the library: poll() only when nothing is pending */
        if (!clp_pending(c)) {
            struct pollfd p = {.fd = clp_fd(c), .events = POLLIN};
            if (poll(&p, 1, 10000) == 0) {
                fprintf(stderr, "no event for 10 s\n");
                break;
            }
        }
        clp_msg_t ev;
        r = clp_read_event(c, 0, &ev);
        if (r == CLP_ETIMEDOUT) continue; /* only part of a line so far */
        if (r == CLP_ECLOSED) {
            fprintf(stderr, "connection closed\n");
            break;
        }
        if (r < 0) { /* a bad line was skipped; keep going */
            fprintf(stderr, "skipped: %s\n", clp_strerror(r));
            continue;
        }
        printf("%.*s\n", (int)ev.len, ev.data);
        clp_msg_free(&ev); /* also closes any FDs the event carried */
        got++;
    }
    if (r != CLP_ECLOSED) clp_unsubscribe(c, sub);
    clp_close(c);
    return got == n ? 0 : 1;
}
