// The public header must compile as C++ (extern "C", no C-only constructs), before and after
// <jansson.h> (its `struct json_t` forward declaration must agree with jansson's typedef).
#include "cl_ports.h"
#include <jansson.h>
#include "cl_ports.h"

static_assert(CLP_VERSION_MAJOR == 0, "version header");

int use_api(const char *address) {
    clp_client_t *c = nullptr;
    clp_options_t o;
    clp_options_init(&o);
    int r = clp_connect2(address, &o, &c);
    if (r < 0) return r;
    clp_msg_t req = clp_msg_json("{\"cmd\":\"ping\"}");
    clp_msg_t resp;
    r = clp_request(c, &req, &resp);
    json_t *v = clp_msg_value(&resp);
    json_t *res = nullptr;
    r = clp_call(c, "echo", v, &res);
    json_decref(res);
    clp_msg_free(&resp);
    static const char line[] = "{\"cmd\":\"ping\"}\n";
    if (clp_send_raw(c, line, sizeof line - 1) == 0 && clp_shutdown_send(c) == 0 &&
        clp_read_message(c, CLP_TIMEOUT_INFINITE, &resp) == 0)
        clp_msg_free(&resp);
    clp_close(c);
    return r;
}
