/* ping a ports v0 service: the README's C example, with its quoting fixed.
 * Build: cc ping.c $(pkg-config --cflags --libs copperline-ports)
 * Run:   ./a.out /run/copperline/copperd.sock   (or @abstract-name, or a service name) */
#include "cl_ports.h"
#include <stdio.h>

int main(int argc, char **argv) {
  const char *address = argc > 1 ? argv[1] : "/run/copperline/copperd.sock";
  clp_client_t* c = clp_connect(address);
  if (!c) {
    perror(address);
    return 1;
  }
  clp_msg_t req = clp_msg_json("{\"id\":\"ping1\",\"cmd\":\"ping\"}");
  clp_msg_t resp;
  int r = clp_request(c, &req, &resp);
  if (r == 0) {
    printf("resp: %.*s\n", (int)resp.len, resp.data);
  } else {
    fprintf(stderr, "ping: %s\n", clp_strerror(r));
  }
  clp_msg_free(&resp);
  clp_close(c);
  return r == 0 ? 0 : 1;
}
