#!/usr/bin/env bash
# Install test: `make install` with DESTDIR and with PREFIX, then build the examples with nothing
# but `cc x.c $(pkg-config --cflags --libs copperline-ports)` and run them against the test server;
# likewise a program using the bundled typed bindings through <copperline/copperd.h>.
set -euo pipefail
cd "$(dirname "$0")/.."
CC=${CC:-cc}
tmp=$(mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "install test: FAIL: $*" >&2; exit 1; }

# 1. DESTDIR staging with the default PREFIX (/usr/local)
make -s install DESTDIR="$tmp/stage" >/dev/null
root="$tmp/stage/usr/local"
for f in lib/libcopperline-ports.so lib/libcopperline-ports.so.0 lib/libcopperline-ports.so.0.1.0 \
         lib/libcopperline-ports.a include/cl_ports.h include/cl_ports_version.h \
         include/cl_ports_gen.h lib/pkgconfig/copperline-ports.pc; do
  [ -e "$root/$f" ] || fail "missing $root/$f"
done
for h in services/*.h; do
  [ -e "$root/include/copperline/$(basename "$h")" ] || fail "missing $root/include/copperline/$(basename "$h")"
done
# the bundled bindings are in the library itself, exported; their helpers are not
syms=$(nm -D --defined-only "$root/lib/libcopperline-ports.so.0.1.0") # no `nm | grep -q`: SIGPIPE + pipefail
grep -q ' T copperd_load$' <<<"$syms" || fail "copperd_load not exported"
grep -q ' T clp_gen_get_fd$' <<<"$syms" || fail "clp_gen_get_fd not exported"
grep -qE ' (enc|dec|init)_' <<<"$syms" && fail "generated static helpers exported"
[ "$(readlink "$root/lib/libcopperline-ports.so.0")" = libcopperline-ports.so.0.1.0 ] || fail "so.0 link"
readelf -d "$root/lib/libcopperline-ports.so.0.1.0" | grep -q 'SONAME.*libcopperline-ports.so.0\]' \
  || fail "soname"
grep -q '^prefix=/usr/local$' "$root/lib/pkgconfig/copperline-ports.pc" || fail "pc prefix"
grep -q '^Requires.private: jansson$' "$root/lib/pkgconfig/copperline-ports.pc" || fail "pc Requires.private"
flags=$(PKG_CONFIG_PATH="$root/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$tmp/stage" \
        pkg-config --cflags --libs copperline-ports)
echo "install test: DESTDIR flags: $flags"
$CC ../../examples/c/ping.c $flags -o "$tmp/ping-destdir" || fail "build ping against DESTDIR"

# 2. PREFIX install, examples built the documented way, run against the test server
make -s install PREFIX="$tmp/prefix" >/dev/null
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
[ "$(pkg-config --modversion copperline-ports)" = 0.1.0 ] || fail "modversion"
for ex in ping subscribe fd_pass; do
  # shellcheck disable=SC2046
  $CC ../../examples/c/$ex.c $(pkg-config --cflags --libs copperline-ports) -o "$tmp/$ex" \
    || fail "build $ex"
done
export LD_LIBRARY_PATH="$tmp/prefix/lib"

sock="$tmp/testd.sock"
build/test_server "$sock" & server_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done

out=$("$tmp/ping" "$sock") || fail "ping exited non-zero"
echo "install test: $out"
grep -q '"name":"testd"' <<<"$out" || fail "ping output"
grep -q '"id":"ping1"' <<<"$out" || fail "ping id"
LD_LIBRARY_PATH= "$tmp/ping-destdir" "$sock" >/dev/null 2>&1 && fail "DESTDIR binary must not find the lib by itself"
LD_LIBRARY_PATH="$root/lib" "$tmp/ping-destdir" "$sock" | grep -q testd || fail "ping (DESTDIR build)"

out=$("$tmp/subscribe" "$sock" tick 3 '{"count":3}') || fail "subscribe exited non-zero"
[ "$(grep -c '"event":"tick"' <<<"$out")" = 3 ] || fail "subscribe output: $out"

out=$("$tmp/fd_pass" "$sock" fdsum "abc") || fail "fd_pass exited non-zero"
grep -q '"sum":294' <<<"$out" || fail "fd_pass output: $out"   # 97+98+99
# a program using the jansson-typed calls links jansson itself, as cl_ports.h documents
cat > "$tmp/call.c" <<'C'
#include <cl_ports.h>
#include <jansson.h>
#include <stdio.h>
int main(int argc, char **argv) {
    clp_client_t *c = clp_connect(argv[argc - 1]);
    json_t *args = json_pack("{s:s}", "k", "v"), *res = NULL;
    int r = c ? clp_call(c, "echo", args, &res) : -1;
    if (r == 0) printf("%s\n", json_string_value(json_object_get(res, "k")));
    json_decref(res);
    json_decref(args);
    clp_close(c);
    return r == 0 ? 0 : 1;
}
C
# shellcheck disable=SC2046
$CC "$tmp/call.c" $(pkg-config --cflags --libs copperline-ports jansson) -o "$tmp/call" || fail "build call.c"
[ "$("$tmp/call" "$sock")" = v ] || fail "call.c output"

# the bundled typed bindings: <copperline/copperd.h> and nothing but the copperline-ports flags
# (no jansson: the program only touches the typed API). The test server is not copperd: `load` is
# answered BAD_CMD, which shows the typed call went over the wire and came back as CLP_EREMOTE.
cat > "$tmp/typed.c" <<'C'
#include <copperline/copperd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    clp_client_t *c = clp_connect(argv[argc - 1]);
    char *name = NULL;
    int protocol = -1, r;
    const char *code = NULL;
    copperd_load_args_t args = { .program = { .version = 1, .program = NULL, .program_len = 0 } };
    copperd_load_result_t res;
    copperd_blend_mode_t mode;
    if (!c) return 1;
    r = clp_ping(c, &name, NULL, &protocol);
    if (r != 0 || protocol != COPPERD_PROTOCOL) return 2;
    printf("ping %s\n", name);
    free(name);
    if (copperd_blend_mode_from_string("add", &mode) != 0 || strcmp(copperd_blend_mode_to_string(mode), "add") != 0) return 3;
    r = copperd_load(c, &args, &res);
    clp_last_error(c, &code, NULL);
    printf("load %s %s\n", clp_strerror(r), code ? code : "-");
    copperd_load_result_free(&res);
    clp_close(c);
    return r == CLP_EREMOTE ? 0 : 4;
}
C
# shellcheck disable=SC2046
$CC -std=c11 -Wall -Wextra -Werror "$tmp/typed.c" $(pkg-config --cflags --libs copperline-ports) -o "$tmp/typed" \
  || fail "build typed.c (<copperline/copperd.h>) with pkg-config copperline-ports"
out=$("$tmp/typed" "$sock") || fail "typed.c exited non-zero: $out"
grep -q '^ping testd$' <<<"$out" || fail "typed.c ping: $out"
grep -q '^load .* BAD_CMD$' <<<"$out" || fail "typed.c load: $out"
echo "install test: ok (DESTDIR + PREFIX installs, 3 examples, a jansson program and a typed <copperline/copperd.h> program built with pkg-config and run)"
