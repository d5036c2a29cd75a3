#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
/* Pass a file descriptor: write content into a memfd and send it with a request.
 * Build: cc fd_pass.c $(pkg-config --cflags --libs copperline-ports)
 * Run:   ./a.out ADDRESS [CMD] [TEXT]
 * The request is {"cmd":CMD,"args":{"fd":{"fd_index":0}}} with "fds":1 set by the library;
 * CMD defaults to "fdsum" (the test server's: it answers the byte sum of the file). */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cl_ports.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s ADDRESS [CMD] [TEXT]\n", argv[0]);
        return 2;
    }
    const char *cmd = argc > 2 ? argv[2] : "fdsum";
    const char *text = argc > 3 ? argv[3] : "hello over SCM_RIGHTS";

    int fd = memfd_create("fd_pass", MFD_CLOEXEC);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        perror("memfd");
        return 1;
    }
    clp_client_t *c;
    int r = clp_connect2(argv[1], NULL, &c);
    if (r < 0) {
        fprintf(stderr, "%s: %s\n", argv[1], clp_strerror(r));
        close(fd);
        return 1;
    }
    char json[256];
    snprintf(json, sizeof json, "{\"cmd\":\"%s\",\"args\":{\"fd\":{\"fd_index\":0}}}", cmd);
    clp_msg_t req = clp_msg_json(json);
    clp_msg_t resp;
    r = clp_request_fds(c, &req, &fd, 1, &resp); /* fd is borrowed: still ours afterwards */
    close(fd);
    if (r == 0 || r == CLP_EREMOTE) printf("resp: %.*s\n", (int)resp.len, resp.data);
    if (r < 0) fprintf(stderr, "%s: %s\n", cmd, clp_strerror(r));
    if (resp.nfds > 0) printf("(the response carried %zu fds; freed with it)\n", resp.nfds);
    clp_msg_free(&resp);
    clp_close(c);
    return r == 0 ? 0 : 1;
}
